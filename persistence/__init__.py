"""RDB and AOF persistence (the durability issue)."""
