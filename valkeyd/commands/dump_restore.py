"""DUMP and RESTORE: values as Redis's serialized payloads (persistence/rdb_save.py writes
them, persistence/rdb_load.py reads them).

A payload is the RDB type byte and value exactly as an RDB file holds them, the RDB version
(2 bytes little-endian, 11) and the CRC-64 of all that, so payloads move between valkeyd and
a real Redis 7.2 / Valkey 8 in both directions.
"""
from __future__ import annotations

from persistence.rdb_save import encode_value

from .util import count_lookup
from .registry import command


@command("dump", 2, "readonly", "keyspace", keys=(1, 1, 1))
def dump(c, argv):
    v = c.db.get(argv[1])
    count_lookup(c, v is not None, argv[1])
    if v is None:
        return None
    return encode_value(v, c.server.config.get_bool("rdbcompression"))
