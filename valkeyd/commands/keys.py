"""Keyspace ("generic") commands: DEL UNLINK EXISTS TYPE, the EXPIRE family, TTL family,
PERSIST RENAME RENAMENX COPY MOVE TOUCH KEYS SCAN RANDOMKEY OBJECT DBSIZE SWAPDB FLUSHDB
FLUSHALL (SELECT lives in connection.py). Behaviour follows Redis 7.2.4's db.c, expire.c and
object.c."""
from __future__ import annotations

from engines.base import clock
from engines.memory import value_copy

from .. import errors, glob
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK, Simple
from .registry import command, container
from .util import count_lookup, count_lookup_n, keymiss

LLONG_MAX = (1 << 63) - 1
LLONG_MIN = -(1 << 63)
INT_MAX = (1 << 31) - 1
INT_MIN = -(1 << 31)
ULONG_MAX = (1 << 64) - 1

# Precomputed status replies for TYPE.
_TYPE_REPLY = {t: Simple(t.encode()) for t in ("string", "list", "set", "zset", "hash", "stream")}
_NONE = Simple(b"none")

INT_RANGE_ERR = "ERR value is out of range, value must between %d and %d" % (INT_MIN, INT_MAX)
UNSUPPORTED_OPTION = "ERR Unsupported option %s"
EXPIRE_NX_CONFLICT = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_LT = "ERR GT and LT options at the same time are not compatible"
INVALID_FIRST_DB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"
LFU_NOT_SELECTED = (
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
    "that when switching between policies at runtime LRU and LFU data will take some time to "
    "adjust.")
LFU_SELECTED = (
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
    "switching between policies at runtime LRU and LFU data will take some time to adjust.")

SHARED_REFCOUNT = INT_MAX   # OBJ_SHARED_REFCOUNT: the shared integers 0..9999
SHARED_INTEGERS = 10000


def _get_int32(b, msg=None) -> int:
    """getIntFromObjectOrReply."""
    v = string2ll(b)
    if v is None:
        raise ErrorReply(msg or errors.NOT_INTEGER)
    if v < INT_MIN or v > INT_MAX:
        raise ErrorReply(msg or INT_RANGE_ERR)
    return v


def _signal(srv, db, key, cls, event):
    """signalModifiedKey + notifyKeyspaceEvent for a key of any database (dirty not counted)."""
    if srv.keyspace_hooks:
        srv.key_modified(db, key)
    if srv.notify_hook is not None:
        srv.notify_hook(cls, event, key, db.id)


# -- DEL UNLINK EXISTS TYPE TOUCH ---------------------------------------------------------------
@command("del", -2, "write", "keyspace", keys=(1, -1, 1))
def del_(c, argv):
    db = c.db
    srv = c.server
    n = 0
    for key in argv[1:]:
        if db.delete(key):
            srv.changed(c, key, "g", "del")
            n += 1
    return n


@command("unlink", -2, "write fast", "keyspace", keys=(1, -1, 1))
def unlink(c, argv):
    return del_(c, argv)


@command("exists", -2, "readonly fast", "keyspace", keys=(1, -1, 1))
def exists(c, argv):
    ex = c.db.exists
    n = 0
    for key in argv[1:]:
        if ex(key):
            n += 1
        elif c.server.notify_hook is not None:
            keymiss(c, key)
    count_lookup_n(c, n, len(argv) - 1 - n)
    return n


@command("type", 2, "readonly fast", "keyspace", keys=(1, 1, 1))
def type_(c, argv):
    t = c.db.type_name(argv[1])
    count_lookup(c, t is not None, argv[1])
    return _NONE if t is None else _TYPE_REPLY.get(t) or Simple(t.encode())


@command("touch", -2, "readonly fast", "keyspace", keys=(1, -1, 1))
def touch(c, argv):
    get = c.db.get
    n = 0
    for key in argv[1:]:
        if get(key) is not None:
            n += 1
        elif c.server.notify_hook is not None:
            keymiss(c, key)
    count_lookup_n(c, n, len(argv) - 1 - n)
    return n


# -- EXPIRE family ------------------------------------------------------------------------------
_NX, _XX, _GT, _LT = 1, 2, 4, 8
_EXPIRE_OPTS = {b"NX": _NX, b"XX": _XX, b"GT": _GT, b"LT": _LT}


def _expire_generic(c, argv, relative: bool, seconds: bool, name: str):
    flags = 0
    for opt in argv[3:]:
        f = _EXPIRE_OPTS.get(opt.upper())
        if f is None:
            raise ErrorReply(UNSUPPORTED_OPTION % opt.decode("utf-8", "replace"))
        flags |= f
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise ErrorReply(EXPIRE_NX_CONFLICT)
    if flags & _GT and flags & _LT:
        raise ErrorReply(EXPIRE_GT_LT)
    when = string2ll(argv[2])
    if when is None:
        raise ErrorReply(errors.NOT_INTEGER)
    if seconds:
        # LLONG_MAX / 1000 and LLONG_MIN / 1000 truncate towards zero in C.
        if when > 9223372036854775 or when < -9223372036854775:
            raise ErrorReply(errors.INVALID_EXPIRE % name)
        when *= 1000
    srv = c.server
    db = c.db
    if relative:
        base = clock.ms()
        if when > LLONG_MAX - base:
            raise ErrorReply(errors.INVALID_EXPIRE % name)
        when += base
    key = argv[1]
    if db.get(key) is None:
        return 0
    if flags:
        cur = db.get_expire(key)
        if flags & _NX and cur is not None:
            return 0
        if flags & _XX and cur is None:
            return 0
        if flags & _GT and (cur is None or when <= cur):
            return 0
        if flags & _LT and cur is not None and when >= cur:
            return 0
    if when <= clock.ms() and not srv.loading and not srv.is_replica():
        db.delete(key)
        lazy = srv.config.get("lazyfree-lazy-expire") == "yes"
        c.prop_argv = [b"UNLINK" if lazy else b"DEL", key]
        srv.changed(c, key, "g", "del")
        return 1
    db.set_expire(key, when)
    if name != "pexpireat":
        c.prop_argv = [b"PEXPIREAT", key, b"%d" % when] + argv[3:]
    srv.changed(c, key, "g", "expire")
    return 1


@command("expire", -3, "write fast", "keyspace", keys=(1, 1, 1))
def expire(c, argv):
    return _expire_generic(c, argv, True, True, "expire")


@command("pexpire", -3, "write fast", "keyspace", keys=(1, 1, 1))
def pexpire(c, argv):
    return _expire_generic(c, argv, True, False, "pexpire")


@command("expireat", -3, "write fast", "keyspace", keys=(1, 1, 1))
def expireat(c, argv):
    return _expire_generic(c, argv, False, True, "expireat")


@command("pexpireat", -3, "write fast", "keyspace", keys=(1, 1, 1))
def pexpireat(c, argv):
    return _expire_generic(c, argv, False, False, "pexpireat")


def _ttl_generic(c, key, ms: bool, absolute: bool):
    db = c.db
    if db.peek(key) is None:
        count_lookup(c, False, key)
        return -2
    count_lookup(c, True)
    when = db.get_expire(key)
    if when is None:
        return -1
    if absolute:
        ttl = when
    else:
        ttl = when - clock.ms()
    if ttl < 0:
        ttl = 0
    return ttl if ms else (ttl + 500) // 1000


@command("ttl", 2, "readonly fast", "keyspace", keys=(1, 1, 1))
def ttl(c, argv):
    return _ttl_generic(c, argv[1], False, False)


@command("pttl", 2, "readonly fast", "keyspace", keys=(1, 1, 1))
def pttl(c, argv):
    return _ttl_generic(c, argv[1], True, False)


@command("expiretime", 2, "readonly fast", "keyspace", keys=(1, 1, 1))
def expiretime(c, argv):
    return _ttl_generic(c, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", "keyspace", keys=(1, 1, 1))
def pexpiretime(c, argv):
    return _ttl_generic(c, argv[1], True, True)


@command("persist", 2, "write fast", "keyspace", keys=(1, 1, 1))
def persist(c, argv):
    db = c.db
    key = argv[1]
    if db.get(key) is None or not db.persist(key):
        return 0
    c.server.changed(c, key, "g", "persist")
    return 1


# -- RENAME RENAMENX COPY MOVE ------------------------------------------------------------------
def _rename_generic(c, argv, nx: bool):
    db = c.db
    src, dst = argv[1], argv[2]
    if db.get(src) is None:
        raise ErrorReply(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    # lookupKeyWrite on the destination: an expired destination is reclaimed (and its DEL
    # propagated) before the rename, as in Redis.
    if db.get(dst) is not None and nx:
        return 0
    db.rename(src, dst)
    srv = c.server
    srv.changed(c, src, "g", "rename_from")
    srv.changed(c, dst, "g", "rename_to", 0)
    return 1 if nx else OK


@command("rename", 3, "write", "keyspace", keys=(1, 2, 1))
def rename(c, argv):
    return _rename_generic(c, argv, False)


@command("renamenx", 3, "write fast", "keyspace", keys=(1, 2, 1))
def renamenx(c, argv):
    return _rename_generic(c, argv, True)


@command("copy", -3, "write denyoom", "keyspace", keys=(1, 2, 1))
def copy(c, argv):
    srv = c.server
    src = dst = c.db
    replace = False
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].upper()
        if opt == b"REPLACE":
            replace = True
        elif opt == b"DB" and j + 1 < n:
            idx = _get_int32(argv[j + 1])
            if idx < 0 or idx >= len(srv.dbs):
                raise ErrorReply(errors.DB_INDEX_OUT_OF_RANGE)
            dst = srv.dbs[idx]
            j += 1
        else:
            raise ErrorReply(errors.SYNTAX)
        j += 1
    key, newkey = argv[1], argv[2]
    if src is dst and key == newkey:
        raise ErrorReply(errors.SAME_OBJECT)
    v = src.get(key)
    count_lookup(c, v is not None, key)
    if v is None:
        return 0
    when = src.get_expire(key)
    if dst.get(newkey) is not None:
        if not replace:
            return 0
        dst.delete(newkey)
    dup = getattr(src, "copy_value", None)
    dst.set(newkey, dup(v) if dup is not None else value_copy(v))
    if when is not None:
        dst.set_expire(newkey, when)
    srv.dirty += 1
    _signal(srv, dst, newkey, "g", "copy_to")
    return 1


@command("move", 3, "write fast", "keyspace", keys=(1, 1, 1))
def move(c, argv):
    srv = c.server
    src = c.db
    idx = _get_int32(argv[2])
    if idx < 0 or idx >= len(srv.dbs):
        raise ErrorReply(errors.DB_INDEX_OUT_OF_RANGE)
    dst = srv.dbs[idx]
    if dst is src:
        raise ErrorReply(errors.SAME_OBJECT)
    key = argv[1]
    v = src.get(key)
    if v is None:
        return 0
    when = src.get_expire(key)
    if dst.get(key) is not None:
        return 0
    dst.set(key, v)
    if when is not None:
        dst.set_expire(key, when)
    src.delete(key)
    srv.dirty += 1
    _signal(srv, src, key, "g", "move_from")
    _signal(srv, dst, key, "g", "move_to")
    return 1


# -- KEYS SCAN RANDOMKEY DBSIZE -------------------------------------------------------------------
@command("keys", 2, "readonly", "keyspace dangerous")
def keys(c, argv):
    pat = argv[1]
    ks = c.db.keys()
    if pat == b"*":
        return ks if type(ks) is list else list(ks)
    m = glob.compile(pat)
    return [k for k in ks if m(k)]


_SPACES = b" \t\n\v\f\r"


def parse_cursor(b) -> int:
    """parseScanCursorOrReply: ``strtoul(s, &end, 10)`` with nothing after the number, no
    leading space and no overflow (a leading '-' wraps around as strtoul does)."""
    if b[:1] and b[:1] in _SPACES:
        raise ErrorReply(errors.INVALID_CURSOR)
    if not b:
        return 0
    s = b
    neg = False
    if s[:1] in (b"+", b"-"):
        neg = s[:1] == b"-"
        s = s[1:]
    if not s or not s.isdigit():
        raise ErrorReply(errors.INVALID_CURSOR)
    v = int(s)
    if v > ULONG_MAX:
        raise ErrorReply(errors.INVALID_CURSOR)
    return (-v) & ULONG_MAX if neg else v


def scan_options(argv, start: int, allow_type: bool):
    """SCAN/HSCAN/SSCAN/ZSCAN options: returns ``(count, pattern or None, type or None)``."""
    count = 10
    pat = typ = None
    i = start
    n = len(argv)
    while i < n:
        more = n - i
        opt = argv[i].upper()
        if opt == b"COUNT" and more >= 2:
            count = string2ll(argv[i + 1])
            if count is None:
                raise ErrorReply(errors.NOT_INTEGER)
            if count < 1:
                raise ErrorReply(errors.SYNTAX)
            i += 2
        elif opt == b"MATCH" and more >= 2:
            pat = argv[i + 1]
            if pat == b"*":
                pat = None
            i += 2
        elif opt == b"TYPE" and allow_type and more >= 2:
            typ = argv[i + 1].decode("latin-1").lower()
            i += 2
        else:
            raise ErrorReply(errors.SYNTAX)
    return count, pat, typ


@command("scan", -2, "readonly touches_arbitrary_keys", "keyspace")
def scan(c, argv):
    cursor = parse_cursor(argv[1])
    count, pat, typ = scan_options(argv, 2, True)
    db = c.db
    cursor, batch = db.scan(cursor, count)
    if pat is not None and batch:
        m = glob.compile(pat)
        batch = [k for k in batch if m(k)]
    if typ is not None:
        # Redis 7.2 filters by type after the scan; an unknown type name matches nothing.
        tn = db.type_name
        batch = [k for k in batch if tn(k) == typ]
    elif batch:
        ex = db.exists
        batch = [k for k in batch if ex(k)]
    return [b"%d" % cursor, batch]


@command("randomkey", 1, "readonly touches_arbitrary_keys", "keyspace")
def randomkey(c, argv):
    return c.db.random_key()


@command("dbsize", 1, "readonly fast", "keyspace")
def dbsize(c, argv):
    return c.db.size()


# -- OBJECT ---------------------------------------------------------------------------------------
container("object")

_OBJECT_HELP = [Simple(s.encode()) for s in (
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Print this help.",
)]


def _lfu_policy(srv) -> bool:
    return "lfu" in srv.config.get("maxmemory-policy")


@command("object|help", 2, "loading stale", "keyspace")
def object_help(c, argv):
    return _OBJECT_HELP


@command("object|encoding", 3, "readonly", "keyspace", keys=(2, 2, 1))
def object_encoding(c, argv):
    e = c.db.encoding(argv[2])
    count_lookup(c, e is not None)
    return None if e is None else e.encode()


@command("object|refcount", 3, "readonly", "keyspace", keys=(2, 2, 1))
def object_refcount(c, argv):
    v = c.db.peek(argv[2])
    count_lookup(c, v is not None)
    if v is None:
        return None
    if type(v) is bytes and len(v) <= 4:
        # Integers 0..9999 stored by SET/INCR... use Redis's shared objects unless an LRU/LFU
        # maxmemory policy is active (tryObjectEncoding).
        n = string2ll(v)
        if n is not None and 0 <= n < SHARED_INTEGERS:
            srv = c.server
            pol = srv.config.get("maxmemory-policy")
            if srv.config.get_int("maxmemory") == 0 or not ("lru" in pol or "lfu" in pol):
                return SHARED_REFCOUNT
    return 1


@command("object|idletime", 3, "readonly", "keyspace", keys=(2, 2, 1))
def object_idletime(c, argv):
    db = c.db
    found = db.peek(argv[2]) is not None
    count_lookup(c, found)
    if not found:
        return None
    if _lfu_policy(c.server):
        raise ErrorReply(LFU_SELECTED)
    return db.idle_seconds(argv[2])


@command("object|freq", 3, "readonly", "keyspace", keys=(2, 2, 1))
def object_freq(c, argv):
    db = c.db
    found = db.peek(argv[2]) is not None
    count_lookup(c, found)
    if not found:
        return None
    if not _lfu_policy(c.server):
        raise ErrorReply(LFU_NOT_SELECTED)
    return db.lfu_freq(argv[2])


# -- SWAPDB FLUSHDB FLUSHALL ----------------------------------------------------------------------
@command("swapdb", 3, "write fast", "keyspace dangerous")
def swapdb(c, argv):
    a = _get_int32(argv[1], INVALID_FIRST_DB)
    b = _get_int32(argv[2], INVALID_SECOND_DB)
    srv = c.server
    n = len(srv.dbs)
    if a < 0 or a >= n or b < 0 or b >= n:
        raise ErrorReply(errors.DB_INDEX_OUT_OF_RANGE)
    srv.engine.swapdb(a, b)
    srv.dirty += 1
    for hook in getattr(srv, "swapdb_hooks", ()):
        hook(a, b)
    return OK


def _flush_lazy(c, argv) -> bool:
    """getFlushCommandFlags: SYNC, ASYNC, or the lazyfree-lazy-user-flush default."""
    if len(argv) == 1:
        return c.server.config.get("lazyfree-lazy-user-flush") == "yes"
    if len(argv) == 2:
        opt = argv[1].upper()
        if opt == b"SYNC":
            return False
        if opt == b"ASYNC":
            return True
    raise ErrorReply(errors.SYNTAX)


@command("flushdb", -1, "write", "keyspace dangerous")
def flushdb(c, argv):
    lazy = _flush_lazy(c, argv)
    srv = c.server
    db = c.db
    fdb = getattr(srv.engine, "flushdb", None)
    n = fdb(db.id, lazy) if fdb is not None else db.flush()
    srv.dirty += n
    for hook in getattr(srv, "flush_hooks", ()):
        hook(db.id)
    # forceCommandPropagation: replicated even when the database was already empty.
    srv.propagate(db.id, argv)
    c.prop_argv = []
    return OK


@command("flushall", -1, "write", "keyspace dangerous")
def flushall(c, argv):
    lazy = _flush_lazy(c, argv)
    srv = c.server
    n = srv.engine.flushall(lazy)
    srv.dirty += n
    for hook in getattr(srv, "flush_hooks", ()):
        hook(-1)
    srv.propagate(c.db.id, argv)
    c.prop_argv = []
    return OK
