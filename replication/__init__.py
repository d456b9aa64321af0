"""PSYNC replication and Sentinel (a later issue)."""
