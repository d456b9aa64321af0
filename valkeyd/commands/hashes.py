"""Hash commands (HSET ... HSCAN) and per-field expiry (HEXPIRE ... HGETDEL)."""
