"""Geo commands (GEOADD ... GEOSEARCHSTORE), on sorted sets with 52-bit geohash scores."""
