"""Hash commands (Redis 7.2.4 ``t_hash.c``), plus Valkey 9's per-field expiry.

HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL HINCRBY
HINCRBYFLOAT HRANDFIELD HSCAN follow Redis 7.2.4 (HSCAN also takes Valkey 8's NOVALUES).

HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL HEXPIRETIME HPEXPIRETIME HPERSIST HGETEX
HSETEX HGETDEL are Valkey 9 commands (not in Redis 7.2.4): their arity, flags, key specs and
ACL categories come from Valkey 9's ``src/commands/*.json``, their behaviour from Valkey 9's
documentation and ``t_hash.c`` (reply codes, error texts, propagation as HPEXPIREAT / HDEL /
HPERSIST with absolute ms times, keyspace events hexpire / hexpired / hpersist / del).

Expired fields are invisible: every command on a hash first reclaims its expired fields
(:func:`_reap`: "hexpired" event, HDEL propagated, the key deleted with a "del" event when it
is left empty), and a cron hook reclaims them in the background, visiting the keys that got
a field expiry time (bounded work per tick).
"""
from __future__ import annotations

import time

from engines.base import clock

from .. import errors, glob
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK
from .keys import parse_cursor
from .registry import command
from .util import keymiss
from .strings import _LD_INF, _LD_NINF, _ld_add, _ld_format_human, _ld_parse

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)

# Error texts of t_hash.c (Redis 7.2.4) and of Valkey 9's field-expiry commands.
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
INCR_NAN_INF = "ERR value is NaN or Infinity"
OUT_OF_RANGE = "ERR value is out of range"
HRANDFIELD_RANGE = ("ERR value is out of range, value must between -9223372036854775807 and "
                    "9223372036854775807")
NUMFIELDS = "ERR numfields should be greater than 0 and match the provided number of fields"
UNSUPPORTED_OPTION = "ERR Unsupported option %s"
NX_XX_GT_LT = "ERR NX and XX, GT or LT options at the same time are not compatible"
GT_LT = "ERR GT and LT options at the same time are not compatible"

_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)
_NOT_FLOAT = ErrorReply(errors.NOT_FLOAT)
_NUMFIELDS = ErrorReply(NUMFIELDS)

_HSET = b"HSET"
_HDEL = b"HDEL"
_HPEXPIREAT = b"HPEXPIREAT"
_HPERSIST = b"HPERSIST"
_FIELDS = b"FIELDS"
_PXAT = b"PXAT"
_EMPTY_SCAN = [b"0", []]


# -- lookups and lazy field expiry -------------------------------------------------------------

def _reap_fields(srv, db, key, h, now: int, limit: int = 0):
    """Reclaim expired fields of ``h`` (at ``key`` in ``db``): propagate HDEL, fire
    "hexpired", and delete the key ("del") when it is left empty. Returns the hash, or None
    when the key was deleted."""
    if srv.engine.replica_mode:
        return h  # a replica waits for the primary's HDEL
    gone = h.pop_expired(now, limit)
    if not gone:
        return h
    st = srv.stats
    st.expired_fields = getattr(st, "expired_fields", 0) + len(gone)
    srv.propagate(db.id, [_HDEL, key, *gone])
    if srv.keyspace_hooks:
        srv.key_modified(db, key)
    srv.notify("h", "hexpired", key, db.id)
    if not len(h):
        db.delete(key)
        srv.notify("g", "del", key, db.id)
        return None
    return h


def _reap(c, key, h):
    """Called when ``h`` has volatile fields: reclaim the expired ones, and make sure the key
    is known to the background cycle (a hash renamed, moved or copied with its field expiry
    times is found again on its first access)."""
    srv = c.server
    v = getattr(srv, "hash_volatile", None)
    if v is None or key not in v.keys[c.db.id]:
        track_volatile(srv, c.db.id, key)
    now = clock.ms()
    if not h.has_expired(now):
        return h
    return _reap_fields(srv, c.db, key, h, now)


def _read(c, key):
    """lookupKeyRead for a hash: counts keyspace hits/misses, WRONGTYPE for another type."""
    st = c.server.stats
    try:
        h = c.db.get_collection(key, "hash")
    except ErrorReply:
        st.keyspace_hits += 1
        raise
    if h is None:
        st.keyspace_misses += 1
        keymiss(c, key)
        return None
    st.keyspace_hits += 1
    if h.volatile_count():
        h = _reap(c, key, h)
    return h


def _write(c, key):
    """lookupKeyWrite for a hash (no statistics); None when missing."""
    h = c.db.get_collection(key, "hash")
    if h is not None and h.volatile_count():
        h = _reap(c, key, h)
    return h


def _write_create(c, key):
    """hashTypeLookupWriteOrCreate."""
    db = c.db
    h = db.get_collection(key, "hash", True)
    if h.volatile_count():
        if _reap(c, key, h) is None:
            h = db.get_collection(key, "hash", True)
    return h


def _removed_if_empty(c, key, h) -> bool:
    if len(h):
        return False
    c.db.delete(key)
    c.server.notify("g", "del", key, c.db.id)
    return True


# -- background reclaiming of expired fields ---------------------------------------------------

# Bounds of one cron tick's work (Valkey sizes its field cycle by time, like the key cycle):
ACTIVE_KEYS_PER_TICK = 200      # hashes visited, at most
ACTIVE_FIELDS_PER_TICK = 1000   # fields reclaimed, at most
ACTIVE_TIME_NS = 2_000_000      # and no more than 2 ms (checked every 16 keys)


class _Volatile:
    """Keys that got a field expiry time, per database, visited round-robin by the cron."""

    def __init__(self, srv):
        self.srv = srv
        self.keys = [dict() for _ in srv.dbs]
        srv.cron_hooks.append(self.cron)
        srv.flush_hooks.append(self.flush)
        srv.swapdb_hooks.append(self.swapdb)

    def track(self, dbid: int, key: bytes) -> None:
        self.keys[dbid][key] = None

    def flush(self, dbid: int) -> None:
        if dbid < 0:
            for k in self.keys:
                k.clear()
        else:
            self.keys[dbid].clear()

    def swapdb(self, a: int, b: int) -> None:
        ks = self.keys
        ks[a], ks[b] = ks[b], ks[a]

    def cron(self) -> None:
        srv = self.srv
        if (srv.engine.replica_mode or srv.is_replica()
                or not getattr(srv, "active_expire_enabled", True)):
            return
        budget = ACTIVE_FIELDS_PER_TICK
        visits = ACTIVE_KEYS_PER_TICK
        deadline = time.perf_counter_ns() + ACTIVE_TIME_NS
        now = clock.ms()
        for dbid, keys in enumerate(self.keys):
            if not keys:
                continue
            db = srv.dbs[dbid]
            for _ in range(len(keys)):    # each key at most once per tick
                if budget <= 0 or visits <= 0:
                    return
                visits -= 1
                if not visits & 15 and time.perf_counter_ns() > deadline:
                    return
                key = next(iter(keys))
                del keys[key]
                h = db.peek(key)
                if h is None or type(h) in (bytes, bytearray) or h.TYPE_NAME != "hash":
                    continue
                if h.has_expired(now):
                    n0 = len(h)
                    h = _reap_fields(srv, db, key, h, now, budget)
                    budget -= n0 - (len(h) if h is not None else 0)
                if h is not None and h.volatile_count():
                    keys[key] = None  # back of the round


def track_volatile(srv, dbid: int, key: bytes) -> None:
    """Register a key whose hash has fields with an expiry time, for the background cycle
    (for code that creates such hashes outside these commands, e.g. loading a dataset)."""
    v = getattr(srv, "hash_volatile", None)
    if v is None:
        v = srv.hash_volatile = _Volatile(srv)
    v.track(dbid, key)


def _track(c, key) -> None:
    track_volatile(c.server, c.db.id, key)


# -- Redis 7.2.4 commands ------------------------------------------------------------------------

@command("hset", -4, "write denyoom fast", "hash", keys=(1, 1, 1))
def hset(c, argv):
    if len(argv) & 1:
        raise ErrorReply(errors.WRONG_ARITY % "hset")
    key = argv[1]
    h = c.db.get_collection(key, "hash", True)
    if h.volatile_count():
        h = _write_create(c, key)
    created = h.set_many(argv, 2)
    c.server.changed(c, key, "h", "hset", 1 if len(argv) == 4 else (len(argv) - 2) >> 1)
    return created


@command("hmset", -4, "write denyoom fast", "hash", keys=(1, 1, 1))
def hmset(c, argv):
    if len(argv) & 1:
        raise ErrorReply(errors.WRONG_ARITY % "hmset")
    key = argv[1]
    h = _write_create(c, key)
    h.set_many(argv, 2)
    c.server.changed(c, key, "h", "hset", (len(argv) - 2) >> 1)
    return OK


@command("hsetnx", 4, "write denyoom fast", "hash", keys=(1, 1, 1))
def hsetnx(c, argv):
    key = argv[1]
    h = _write_create(c, key)
    if h.contains(argv[2]):
        return 0
    h.set_many(argv, 2)
    c.server.changed(c, key, "h", "hset")
    return 1


@command("hget", 3, "readonly fast", "hash", keys=(1, 1, 1))
def hget(c, argv):
    h = _read(c, argv[1])
    if h is None:
        return None
    return h.get(argv[2])


@command("hmget", -3, "readonly fast", "hash", keys=(1, 1, 1))
def hmget(c, argv):
    h = _read(c, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    get = h.get
    return [get(f) for f in argv[2:]]


@command("hdel", -3, "write fast", "hash", keys=(1, 1, 1))
def hdel(c, argv):
    key = argv[1]
    h = _write(c, key)
    if h is None:
        return 0
    deleted = 0
    removed = False
    for f in argv[2:]:
        if h.delete(f):
            deleted += 1
            if not len(h):
                c.db.delete(key)
                removed = True
                break
    if deleted:
        srv = c.server
        srv.changed(c, key, "h", "hdel", deleted)
        if removed:
            srv.notify("g", "del", key, c.db.id)
    return deleted


@command("hlen", 2, "readonly fast", "hash", keys=(1, 1, 1))
def hlen(c, argv):
    h = _read(c, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast", "hash", keys=(1, 1, 1))
def hstrlen(c, argv):
    h = _read(c, argv[1])
    if h is None:
        return 0
    v = h.get(argv[2])
    return 0 if v is None else len(v)


@command("hexists", 3, "readonly fast", "hash", keys=(1, 1, 1))
def hexists(c, argv):
    h = _read(c, argv[1])
    return 1 if h is not None and h.contains(argv[2]) else 0


@command("hkeys", 2, "readonly", "hash", keys=(1, 1, 1))
def hkeys(c, argv):
    h = _read(c, argv[1])
    return [] if h is None else list(h.fields())


@command("hvals", 2, "readonly", "hash", keys=(1, 1, 1))
def hvals(c, argv):
    h = _read(c, argv[1])
    return [] if h is None else list(h.values())


@command("hgetall", 2, "readonly", "hash", keys=(1, 1, 1))
def hgetall(c, argv):
    h = _read(c, argv[1])
    return {} if h is None else dict(h.items())   # RESP3 map, RESP2 flat array


@command("hincrby", 4, "write denyoom fast", "hash", keys=(1, 1, 1))
def hincrby(c, argv):
    incr = string2ll(argv[3])
    if incr is None:
        raise _NOT_INTEGER
    key, field = argv[1], argv[2]
    h = _write_create(c, key)
    cur = h.get(field)
    if cur is None:
        value = 0
    else:
        value = string2ll(cur)
        if value is None:
            _drop_if_empty(c, key, h)
            raise ErrorReply(HASH_NOT_INTEGER)
    value += incr
    if value > LLONG_MAX or value < LLONG_MIN:
        _drop_if_empty(c, key, h)
        raise ErrorReply(errors.INCR_OVERFLOW)
    h.set(field, b"%d" % value, keep_ttl=True)   # Valkey 9 keeps the field's expiry time
    c.server.changed(c, key, "h", "hincrby")
    return value


def _drop_if_empty(c, key, h) -> None:
    """A hash created by a write lookup that then failed is not left behind empty."""
    if not len(h):
        c.db.delete(key)


@command("hincrbyfloat", 4, "write denyoom fast", "hash", keys=(1, 1, 1))
def hincrbyfloat(c, argv):
    incr = _ld_parse(argv[3])
    if incr is None:
        raise _NOT_FLOAT
    if incr is _LD_INF or incr is _LD_NINF or type(incr) is str:
        raise ErrorReply(INCR_NAN_INF)
    key, field = argv[1], argv[2]
    h = _write_create(c, key)
    cur = h.get(field)
    if cur is None:
        value = (0, 0)
    else:
        value = _ld_parse(bytes(cur))
        if value is None:
            _drop_if_empty(c, key, h)
            raise ErrorReply(HASH_NOT_FLOAT)
    res = _ld_add(value, incr)
    if res is None or type(res) is str:
        _drop_if_empty(c, key, h)
        raise ErrorReply(errors.INCRFLOAT_NAN)
    new = _ld_format_human(res)
    h.set(field, new, keep_ttl=True)
    srv = c.server
    srv.changed(c, key, "h", "hincrbyfloat")
    # Redis propagates HSET with the final value (rewriteClientCommandArgument). A field with
    # an expiry time keeps it here, and HSET would drop it on the replica: propagate the
    # expiry time after the HSET.
    when = h.get_expire(field)
    if when is None:
        c.prop_argv = [_HSET, key, field, new]
    else:
        c.prop_argv = []
        srv.propagate(c.db.id, [_HSET, key, field, new])
        srv.propagate(c.db.id, [_HPEXPIREAT, key, b"%d" % when, _FIELDS, b"1", field])
    return new


@command("hrandfield", -2, "readonly", "hash", keys=(1, 1, 1))
def hrandfield(c, argv):
    n = len(argv)
    if n >= 3:
        count = string2ll(argv[2])
        if count is None:
            raise _NOT_INTEGER
        if count == LLONG_MIN:
            raise ErrorReply(HRANDFIELD_RANGE)
        withvalues = False
        if n > 4 or (n == 4 and argv[3].lower() != b"withvalues"):
            raise _SYNTAX
        if n == 4:
            withvalues = True
            if count < -(LLONG_MAX // 2) or count > LLONG_MAX // 2:
                raise ErrorReply(OUT_OF_RANGE)
        h = _read(c, argv[1])
        if h is None or count == 0:
            return []
        if count < 0:
            pairs = h.random_items(-count, False)
        else:
            pairs = h.random_items(count, True)
        if not withvalues:
            return [f for f, _ in pairs]
        if c.resp >= 3:
            return [[f, v] for f, v in pairs]
        out = []
        for f, v in pairs:
            out.append(f)
            out.append(v)
        return out
    h = _read(c, argv[1])
    if h is None:
        return None
    return h.random_items(1, False)[0][0]


@command("hscan", -3, "readonly", "hash", keys=(1, 1, 1))
def hscan(c, argv):
    cursor = parse_cursor(argv[2])
    h = _read(c, argv[1])
    if h is None:
        return _EMPTY_SCAN
    count = 10
    pat = None
    novalues = False
    i, n = 3, len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"count" and n - i >= 2:
            count = string2ll(argv[i + 1])
            if count is None:
                raise _NOT_INTEGER
            if count < 1:
                raise _SYNTAX
            i += 2
        elif opt == b"match" and n - i >= 2:
            pat = argv[i + 1]
            if pat == b"*":
                pat = None
            i += 2
        elif opt == b"novalues":   # Valkey 8 (Redis 7.4); Redis 7.2.4 answers a syntax error
            novalues = True
            i += 1
        else:
            raise _SYNTAX
    if h.encoding() == "listpack":
        fields = list(h.fields())
        cursor = 0
    else:
        cursor, fields = h.scan(cursor, count)
    if pat is not None:
        m = glob.compile(pat)
        fields = [f for f in fields if m(f)]
    if novalues:
        return [b"%d" % cursor, fields]
    out = []
    get = h.get
    for f in fields:
        v = get(f)
        if v is not None:
            out.append(f)
            out.append(v)
    return [b"%d" % cursor, out]


# -- Valkey 9 per-field expiry -------------------------------------------------------------------
# Not in Redis 7.2.4's command table (tests/test_command_table.py skips them): the arity,
# flags, key specs (one key at index 1) and ACL categories are those of Valkey 9's
# src/commands/{hexpire,hpexpire,hexpireat,hpexpireat,httl,hpttl,hexpiretime,hpexpiretime,
# hpersist,hgetex,hsetex,hgetdel}.json.

E_NX, E_XX, E_GT, E_LT = 1, 2, 4, 8
_EXPIRE_OPTS = {b"nx": E_NX, b"xx": E_XX, b"gt": E_GT, b"lt": E_LT}


def _already_expired(c, when: int) -> bool:
    """checkAlreadyExpired: a time at or before now deletes (not while loading, nor on a
    replica, which waits for the primary's HDEL)."""
    srv = c.server
    return when <= clock.ms() and not srv.loading and not srv.is_replica()


def _abs_time(c, name: str, arg, relative: bool, seconds: bool) -> int:
    """convertExpireArgumentToUnixTime: an absolute time in ms (negative values allowed, as
    EXPIRE allows them; overflows are an error)."""
    when = string2ll(arg)
    if when is None:
        raise _NOT_INTEGER
    if seconds:
        if when > LLONG_MAX // 1000 or when < -(LLONG_MAX // 1000):
            raise ErrorReply(errors.INVALID_EXPIRE % name)
        when *= 1000
    if relative:
        base = clock.ms()
        if when > LLONG_MAX - base:
            raise ErrorReply(errors.INVALID_EXPIRE % name)
        when += base
    return when


def _find_fields(argv, start: int) -> int:
    """Index of the first FIELDS token at or after ``start`` (not the last argument), or -1."""
    for i in range(start, len(argv) - 1):
        if argv[i].lower() == b"fields":
            return i
    return -1


def _numfields(argv, fi: int, per: int = 1) -> int:
    """numfields at ``argv[fi + 1]``; must be > 0 and match the arguments that follow."""
    nf = string2ll(argv[fi + 1])
    if nf is None:
        raise _NOT_INTEGER
    if nf <= 0 or nf * per != len(argv) - fi - 2:
        raise _NUMFIELDS
    return nf


def _fixed_fields(argv, err) -> list:
    """``key FIELDS numfields field ...`` (HTTL family, HPERSIST, HGETDEL): the fields."""
    nf = string2ll(argv[3])
    if nf is None:
        raise _NOT_INTEGER
    if nf <= 0 or nf != len(argv) - 4:
        raise err
    if argv[2].lower() != b"fields":
        raise _SYNTAX
    return argv[4:]


def _hexpire_generic(c, argv, name: str, relative: bool, seconds: bool):
    key = argv[1]
    fi = _find_fields(argv, 3)
    if fi < 0:
        raise _NUMFIELDS
    flag = 0
    for opt in argv[3:fi]:
        f = _EXPIRE_OPTS.get(opt.lower())
        if f is None:
            raise ErrorReply(UNSUPPORTED_OPTION % opt.decode("utf-8", "replace"))
        flag |= f
    if flag & E_NX and flag & (E_XX | E_GT | E_LT):
        raise ErrorReply(NX_XX_GT_LT)
    if flag & E_GT and flag & E_LT:
        raise ErrorReply(GT_LT)
    _numfields(argv, fi)
    when = _abs_time(c, name, argv[2], relative, seconds)
    expired_now = _already_expired(c, when)
    h = _write(c, key)
    fields = argv[fi + 2:]
    res = []
    gone = []
    updated = 0
    for f in fields:
        if h is None or not h.contains(f):
            res.append(-2)
            continue
        if expired_now:
            h.delete(f)
            gone.append(f)
            res.append(2)
            continue
        cur = h.get_expire(f)
        if ((flag & E_NX and cur is not None) or (flag & E_XX and cur is None)
                or (flag & E_GT and (cur is None or when <= cur))
                or (flag & E_LT and cur is not None and when >= cur)):
            res.append(0)
            continue
        h.set_expire(f, when)
        updated += 1
        res.append(1)
    if gone or updated:
        srv = c.server
        if gone:
            st = srv.stats
            st.expired_fields = getattr(st, "expired_fields", 0) + len(gone)
            c.prop_argv = [_HDEL, key, *gone]
            srv.changed(c, key, "h", "hexpired", len(gone))
        else:
            c.prop_argv = [_HPEXPIREAT, key, b"%d" % when, *argv[3:]]
            srv.changed(c, key, "h", "hexpire", updated)
            _track(c, key)
        _removed_if_empty(c, key, h)
    return res


@command("hexpire", -6, "write fast", "hash", keys=(1, 1, 1))
def hexpire(c, argv):
    return _hexpire_generic(c, argv, "hexpire", True, True)


@command("hpexpire", -6, "write fast", "hash", keys=(1, 1, 1))
def hpexpire(c, argv):
    return _hexpire_generic(c, argv, "hpexpire", True, False)


@command("hexpireat", -6, "write fast", "hash", keys=(1, 1, 1))
def hexpireat(c, argv):
    return _hexpire_generic(c, argv, "hexpireat", False, True)


@command("hpexpireat", -6, "write fast", "hash", keys=(1, 1, 1))
def hpexpireat(c, argv):
    return _hexpire_generic(c, argv, "hpexpireat", False, False)


def _httl_generic(c, argv, relative: bool, seconds: bool):
    fields = _fixed_fields(argv, _SYNTAX)
    h = _read(c, argv[1])
    now = clock.ms()
    out = []
    for f in fields:
        if h is None or not h.contains(f):
            out.append(-2)
            continue
        when = h.get_expire(f)
        if when is None:
            out.append(-1)
            continue
        if relative:
            when -= now
            if when < 0:
                when = 0
        out.append((when + 500) // 1000 if seconds else when)
    return out


@command("httl", -5, "readonly fast", "hash", keys=(1, 1, 1))
def httl(c, argv):
    return _httl_generic(c, argv, True, True)


@command("hpttl", -5, "readonly fast", "hash", keys=(1, 1, 1))
def hpttl(c, argv):
    return _httl_generic(c, argv, True, False)


@command("hexpiretime", -5, "readonly fast", "hash", keys=(1, 1, 1))
def hexpiretime(c, argv):
    return _httl_generic(c, argv, False, True)


@command("hpexpiretime", -5, "readonly fast", "hash", keys=(1, 1, 1))
def hpexpiretime(c, argv):
    return _httl_generic(c, argv, False, False)


@command("hpersist", -5, "write fast", "hash", keys=(1, 1, 1))
def hpersist(c, argv):
    fields = _fixed_fields(argv, _NUMFIELDS)
    key = argv[1]
    h = _write(c, key)
    out = []
    changes = 0
    for f in fields:
        if h is None or not h.contains(f):
            out.append(-2)
        elif h.persist(f):
            changes += 1
            out.append(1)
        else:
            out.append(-1)
    if changes:
        c.server.changed(c, key, "h", "hpersist", changes)
    return out


@command("hgetdel", -5, "write fast", "hash", keys=(1, 1, 1))
def hgetdel(c, argv):
    fields = _fixed_fields(argv, _NUMFIELDS)
    key = argv[1]
    h = _write(c, key)
    out = []
    deleted = 0
    removed = False
    for f in fields:
        if h is None:
            out.append(None)
            continue
        v = h.get(f)
        out.append(v)
        if v is not None:
            h.delete(f)
            deleted += 1
            if not len(h):
                c.db.delete(key)
                removed = True
                h = None
    if deleted:
        srv = c.server
        srv.changed(c, key, "h", "hdel", deleted)
        if removed:
            srv.notify("g", "del", key, c.db.id)
    return out


# HSETEX / HGETEX options (parseExtendedCommandArgumentsOrReply): flag -> excluded flags.
S_NX, S_XX, S_FNX, S_FXX, S_EX, S_PX, S_EXAT, S_PXAT, S_KEEPTTL, S_PERSIST = (
    1 << i for i in range(10))
_S_EXPIRE = S_EX | S_PX | S_EXAT | S_PXAT
_S_WORDS = {b"nx": S_NX, b"xx": S_XX, b"fnx": S_FNX, b"fxx": S_FXX, b"ex": S_EX, b"px": S_PX,
            b"exat": S_EXAT, b"pxat": S_PXAT, b"keepttl": S_KEEPTTL, b"persist": S_PERSIST}
_S_EXCLUDES = {
    S_NX: S_XX, S_XX: S_NX, S_FNX: S_FXX, S_FXX: S_FNX,
    S_KEEPTTL: S_PERSIST | _S_EXPIRE, S_PERSIST: S_KEEPTTL | _S_EXPIRE,
    S_EX: S_KEEPTTL | S_PERSIST | (_S_EXPIRE & ~S_EX),
    S_PX: S_KEEPTTL | S_PERSIST | (_S_EXPIRE & ~S_PX),
    S_EXAT: S_KEEPTTL | S_PERSIST | (_S_EXPIRE & ~S_EXAT),
    S_PXAT: S_KEEPTTL | S_PERSIST | (_S_EXPIRE & ~S_PXAT),
}
_HSETEX_ALLOWED = S_NX | S_XX | S_FNX | S_FXX | _S_EXPIRE | S_KEEPTTL
_HGETEX_ALLOWED = _S_EXPIRE | S_PERSIST


def _parse_ex_opts(argv, start: int, end: int, allowed: int):
    """Options in ``argv[start:end]``: ``(flags, expire_arg, expire_index)``; syntax error
    for an unknown, misplaced or conflicting option or a missing time."""
    flags = 0
    expire = None
    eidx = -1
    j = start
    while j < end:
        f = _S_WORDS.get(argv[j].lower(), 0)
        if not f or not f & allowed or flags & _S_EXCLUDES[f]:
            raise _SYNTAX
        if f & _S_EXPIRE:
            if j + 1 >= end:
                raise _SYNTAX
            j += 1
            expire = argv[j]
            eidx = j
        flags |= f
        j += 1
    return flags, expire, eidx


@command("hsetex", -6, "write denyoom fast", "hash", keys=(1, 1, 1))
def hsetex(c, argv):
    key = argv[1]
    fi = _find_fields(argv, 2)
    if fi < 0:
        raise _NUMFIELDS
    flags, expire, eidx = _parse_ex_opts(argv, 2, fi, _HSETEX_ALLOWED)
    nf = _numfields(argv, fi, 2)
    db = c.db
    h = _write(c, key)
    if (flags & S_NX and h is not None) or (flags & S_XX and h is None):
        return 0
    when = None
    expired_now = False
    if expire is not None:
        when = _abs_time(c, "hsetex", expire, not flags & (S_EXAT | S_PXAT),
                         bool(flags & (S_EX | S_EXAT)))
        expired_now = _already_expired(c, when)
    start = fi + 2
    if flags & (S_FNX | S_FXX):
        if h is None:
            if flags & S_FXX:
                return 0
        else:
            want = not flags & S_FNX
            for i in range(start, len(argv), 2):
                if h.contains(argv[i]) != want:
                    return 0
    srv = c.server
    if expired_now:
        gone = []
        if h is not None:
            for i in range(start, len(argv), 2):
                if h.delete(argv[i]):
                    gone.append(argv[i])
        if gone:
            st = srv.stats
            st.expired_fields = getattr(st, "expired_fields", 0) + len(gone)
            c.prop_argv = [_HDEL, key, *gone]
            srv.changed(c, key, "h", "hexpired", len(gone))
            _removed_if_empty(c, key, h)
        return 1 if len(gone) == nf else 0
    if h is None:
        h = db.get_collection(key, "hash", True)
    keep = bool(flags & S_KEEPTTL)
    if when is None:   # hashTypeSet per field (no batch conversion check, as in Valkey)
        for i in range(start, len(argv), 2):
            h.set(argv[i], argv[i + 1], keep)
    else:
        for i in range(start, len(argv), 2):
            h.set(argv[i], argv[i + 1])
            h.set_expire(argv[i], when)
    srv.changed(c, key, "h", "hset", nf)
    if when is not None:
        srv.notify("h", "hexpire", key, db.id)
        _track(c, key)
    if flags & (S_NX | S_XX | S_FNX | S_FXX | S_EX | S_PX | S_EXAT):
        # Propagate without the conditions and with an absolute PXAT time, as Valkey does.
        pa = [argv[0], key]
        j = 2
        while j < fi:
            f = _S_WORDS.get(argv[j].lower(), 0)
            if f & (S_NX | S_XX | S_FNX | S_FXX):
                pass
            elif j + 1 == eidx and not flags & S_PXAT:
                pa.append(_PXAT)
                pa.append(b"%d" % when)
                j += 1
            else:
                pa.append(argv[j])
            j += 1
        pa.extend(argv[fi:])
        c.prop_argv = pa
    return 1


@command("hgetex", -5, "write fast", "hash", keys=(1, 1, 1))
def hgetex(c, argv):
    key = argv[1]
    fi = _find_fields(argv, 2)
    if fi < 0:
        raise _NUMFIELDS
    flags, expire, _ = _parse_ex_opts(argv, 2, fi, _HGETEX_ALLOWED)
    _numfields(argv, fi)
    h = _read(c, key)
    when = None
    expired_now = False
    if expire is not None:
        when = _abs_time(c, "hgetex", expire, not flags & (S_EXAT | S_PXAT),
                         bool(flags & (S_EX | S_EXAT)))
        expired_now = _already_expired(c, when)
    persist = bool(flags & S_PERSIST)
    out = []
    changed = []
    for f in argv[fi + 2:]:
        if h is None:
            out.append(None)
            continue
        v = h.get(f)
        out.append(v)
        if v is None:
            continue
        if expired_now:
            h.delete(f)
            changed.append(f)
        elif when is not None:
            h.set_expire(f, when)
            changed.append(f)
        elif persist:
            if h.persist(f):
                changed.append(f)
    if changed:
        srv = c.server
        n = len(changed)
        if expired_now:
            st = srv.stats
            st.expired_fields = getattr(st, "expired_fields", 0) + n
            c.prop_argv = [_HDEL, key, *changed]
            srv.changed(c, key, "h", "hexpired", n)
        elif when is not None:
            c.prop_argv = [_HPEXPIREAT, key, b"%d" % when, _FIELDS, b"%d" % n, *changed]
            srv.changed(c, key, "h", "hexpire", n)
            _track(c, key)
        else:
            c.prop_argv = [_HPERSIST, key, _FIELDS, b"%d" % n, *changed]
            srv.changed(c, key, "h", "hpersist", n)
        _removed_if_empty(c, key, h)
    return out


# -- COMMAND INFO / COMMAND DOCS entries of the Valkey 9 commands ----------------------------------
# valkeyd/data/command-docs.json is generated from Redis 7.2.4's table, which lacks these; their
# key specs and argument trees below follow Valkey 9's src/commands/*.json.

def _valkey9_docs() -> None:
    from .command_cmd import DOCS

    def arg(name, typ, token=None, flags=None, arguments=None, **extra):
        a = {"name": name, "type": typ}
        if typ not in ("oneof", "block"):
            a["display_text"] = name
        a.update(extra)
        if token:
            a["token"] = token
        if flags:
            a["flags"] = flags
        if arguments:
            a["arguments"] = arguments
        return a

    key = arg("key", "key", key_spec_index=0)
    fields = arg("fields", "block", token="FIELDS", arguments=[
        arg("numfields", "integer"), arg("field", "string", flags=["multiple"])])
    cond = arg("condition", "oneof", flags=["optional"], arguments=[
        arg(t.lower(), "pure-token", token=t) for t in ("NX", "XX", "GT", "LT")])

    def expiration(last):
        return arg("expiration", "oneof", flags=["optional"], arguments=[
            arg("seconds", "integer", token="EX"), arg("milliseconds", "integer", token="PX"),
            arg("unix-time-seconds", "unix-time", token="EXAT"),
            arg("unix-time-milliseconds", "unix-time", token="PXAT"),
            arg(last.lower(), "pure-token", token=last)])

    def spec(*flags):
        return [{"flags": list(flags), "begin_search": {"type": "index", "spec": {"index": 1}},
                 "find_keys": {"type": "range",
                               "spec": {"lastkey": 0, "keystep": 1, "limit": 0}}}]

    def entry(since, specs, arguments):
        return {"since": since, "group": "hash", "tips": [], "key_specs": specs,
                "arguments": arguments}

    for name, unit in (("hexpire", "seconds"), ("hpexpire", "milliseconds"),
                       ("hexpireat", "unix-time-seconds"),
                       ("hpexpireat", "unix-time-milliseconds")):
        typ = "unix-time" if unit.startswith("unix") else "integer"
        DOCS.setdefault(name, entry("9.0.0", spec("RW", "update"),
                                    [key, arg(unit, typ), cond, fields]))
    for name in ("httl", "hpttl", "hexpiretime", "hpexpiretime"):
        DOCS.setdefault(name, entry("9.0.0", spec("RO", "access"), [key, fields]))
    DOCS.setdefault("hpersist", entry("9.0.0", spec("RW", "update"), [key, fields]))
    DOCS.setdefault("hgetdel", entry("9.1.0", spec("RW", "access", "delete"), [key, fields]))
    DOCS.setdefault("hgetex", entry("9.0.0", spec("RW", "access"),
                                    [key, expiration("PERSIST"), fields]))
    DOCS.setdefault("hsetex", entry("9.0.0", spec("RW", "insert"), [
        key,
        arg("key-condition", "oneof", flags=["optional"], arguments=[
            arg("nx", "pure-token", token="NX"), arg("xx", "pure-token", token="XX")]),
        arg("fields-condition", "oneof", flags=["optional"], arguments=[
            arg("fnx", "pure-token", token="FNX"), arg("fxx", "pure-token", token="FXX")]),
        expiration("KEEPTTL"),
        arg("fields", "block", token="FIELDS", arguments=[
            arg("numfields", "integer"),
            arg("data", "block", flags=["multiple"], arguments=[
                arg("field", "string"), arg("value", "string")])])]))


_valkey9_docs()
