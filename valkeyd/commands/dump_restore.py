"""DUMP and RESTORE (Redis 7.2.4 cluster.c dumpCommand / restoreCommand).

A payload is one RDB value (type byte + body, as in an RDB file), the 2-byte RDB version and a
CRC-64 (persistence/rdb_primitives.py). DUMP (top of this file) serializes with the RDB writer;
RESTORE (bottom) decodes with the RDB reader (persistence/rdb_load.py ``decode_value``), which
gives the value the encoding Redis's rdbLoadObject would.
"""
from __future__ import annotations

from engines.base import clock
from persistence import rdb_primitives as rdbp
from persistence.rdb_save import encode_value
from persistence.rdb_load import (EmptyKey, LoadReader, RDBError, REDIS74_EXT, VALUE_TYPES,
                                  VALUE_TYPES_RDB12, decode_value_safe, set_lru_lfu)

from .. import errors
from ..errors import ErrorReply
from ..resp import OK
from .registry import command
from .util import count_lookup, get_int

# ---- DUMP ------------------------------------------------------------------------------------
@command("dump", 2, "readonly", "keyspace", keys=(1, 1, 1))
def dump(c, argv):
    v = c.db.get(argv[1])
    count_lookup(c, v is not None, argv[1])
    if v is None:
        return None
    return encode_value(v, c.server.config.get_bool("rdbcompression"))


# ---- RESTORE ---------------------------------------------------------------------------------
BUSYKEY = "BUSYKEY Target key name already exists."
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_FORMAT = "ERR Bad data format"


def restore_value(payload: bytes):
    """The value in a DUMP payload (footer already verified); ErrorReply(BAD_FORMAT) when it
    does not decode (rdbLoadObjectType + rdbLoadObject)."""
    r = LoadReader(payload)
    v12 = payload[-10] == 12   # Redis 7.4's: its hash-field-expiry types
    try:
        t = r.type()
        if t not in (VALUE_TYPES_RDB12 if v12 else VALUE_TYPES) or t == 8:
            raise ErrorReply(BAD_FORMAT)
        if v12 and t in VALUE_TYPES_RDB12 and t not in VALUE_TYPES:
            t += REDIS74_EXT
        return decode_value_safe(t, r)
    except (RDBError, EmptyKey):
        raise ErrorReply(BAD_FORMAT) from None


@command("restore", -4, "write denyoom", "keyspace dangerous", keys=(1, 1, 1))
def restore(c, argv):
    replace = absttl = False
    idle = freq = -1
    n = len(argv)
    j = 4
    while j < n:
        opt = argv[j].upper()
        more = n - j - 1
        if opt == b"REPLACE":
            replace = True
        elif opt == b"ABSTTL":
            absttl = True
        elif opt == b"IDLETIME" and more >= 1 and freq == -1:
            idle = get_int(argv[j + 1])
            if idle < 0:
                raise ErrorReply("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif opt == b"FREQ" and more >= 1 and idle == -1:
            freq = get_int(argv[j + 1])
            if freq < 0 or freq > 255:
                raise ErrorReply("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise ErrorReply(errors.SYNTAX)
        j += 1
    db = c.db
    key = argv[1]
    if not replace and db.get(key) is not None:
        raise ErrorReply(BUSYKEY)
    ttl = get_int(argv[2])
    if ttl < 0:
        raise ErrorReply("ERR Invalid TTL value, must be >= 0")
    payload = bytes(argv[3])
    if rdbp.verify_payload(payload) is None:
        raise ErrorReply(BAD_PAYLOAD)
    value = restore_value(payload)
    srv = c.server
    deleted = replace and db.delete(key)
    if ttl and not absttl:
        ttl += clock.ms()
    if ttl and ttl <= clock.ms() and not srv.loading and srv.replica_of is None:
        # checkAlreadyExpired: the key would be born dead
        if deleted:
            lazy = srv.config.get("lazyfree-lazy-server-del") == "yes"
            c.prop_argv = [b"UNLINK" if lazy else b"DEL", key]
            srv.changed(c, key, "g", "del")
        else:
            c.prop_argv = []
        return OK
    db.set(key, value)
    if getattr(value, "TYPE_NAME", None) == "hash" and value.volatile_count():
        from .hashes import track_volatile   # (a Redis 7.4 payload with field expiry times)
        track_volatile(srv, db.id, key)
    if ttl:
        db.set_expire(key, ttl)
        if not absttl:
            c.prop_argv = list(argv[:2]) + [b"%d" % ttl] + list(argv[3:]) + [b"ABSTTL"]
    set_lru_lfu(db, key, getattr(srv.engine, "lfu", None), idle, freq)
    srv.changed(c, key, "g", "restore")
    return OK
