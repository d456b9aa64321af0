"""Set commands (SADD ... SSCAN)."""
