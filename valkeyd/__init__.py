"""valkeyd: a Valkey/Redis-compatible data server in Python, durability first."""

__version__ = "0.1.0"
