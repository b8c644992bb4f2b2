"""Several server nodes as one: what they say to each other, and how.

PostgreSQL stays the source of truth; the nodes talk over NATS through
:mod:`server.cluster.bus`, the only module here that knows asyncio (or NATS)
exists. What travels on it, and what a node does with it, is built on the
bus's trio API.
"""
