"""Switchboard: a self-hosted real-time status page and incident room server."""

__version__ = "0.1.0"
