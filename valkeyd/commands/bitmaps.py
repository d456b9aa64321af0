"""Bitmap commands on strings (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD)."""
