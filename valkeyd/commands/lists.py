"""List commands, including the blocking ones (BLPOP ... BLMPOP)."""
