"""Uptime monitoring: what to check and how each check is made."""
