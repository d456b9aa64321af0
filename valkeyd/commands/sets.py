"""Set commands (Redis 7.2.4 ``t_set.c``).

SADD SREM SISMEMBER SMISMEMBER SCARD SMEMBERS SRANDMEMBER SPOP SMOVE SINTER SINTERCARD SUNION
SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN.

Values are reached through :class:`engines.base.SetValue`. The set-algebra commands build their
result the way Redis does (a new intset or listpack filled member by member, SDIFF choosing
between Redis's two algorithms), so that the replies' order and the stored result's OBJECT
ENCODING are Redis's. (Valkey 8.0 builds the reply of SUNION / SDIFF / SPOP-of-the-whole-set
in a hashtable as soon as an input is a listpack or hashtable, so its order differs there;
Redis 7.2.4 is followed.)

Propagation: SPOP is rewritten as SREM (one member) or, with a count, replaced by SREMs of at
most 1024 members each (wrapped in MULTI/EXEC when there are several, as Redis's
propagatePendingCommands does outside a transaction), or by DEL / UNLINK when the whole set
goes.
"""
from __future__ import annotations

from .. import errors, glob
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import SetReply
from .keys import parse_cursor, scan_options
from .registry import command
from .util import keymiss

LONG_MAX = 2**63 - 1
SPOP_BATCH = 1024   # SREMs propagated by SPOP with a count hold at most this many members

_WRONGTYPE = ErrorReply(errors.WRONGTYPE)
_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)
_NOT_POSITIVE = ErrorReply(errors.NOT_POSITIVE)
_SREM = b"SREM"
_EMPTY_SCAN = [b"0", []]
_WRONG = object()


def _read(c, key):
    """lookupKeyRead + checkType: the set at ``key`` or None, counting hits and misses."""
    st = c.server.stats
    try:
        s = c.db.get_collection(key, "set")
    except ErrorReply:
        st.keyspace_hits += 1
        raise
    if s is None:
        st.keyspace_misses += 1
        keymiss(c, key)
    else:
        st.keyspace_hits += 1
    return s


def _deleted(c, key) -> None:
    """The last member went: delete the key and fire "del" (the caller counted the write)."""
    c.db.delete(key)
    c.server.notify("g", "del", key, c.db.id)


def _store(c, dstkey, dst, event: str) -> int:
    """Store a computed result at ``dstkey`` (replacing any value and its TTL) or, when it is
    empty, delete ``dstkey``; returns the reply."""
    n = len(dst) if dst is not None else 0
    if n:
        c.db.set(dstkey, dst)
        c.server.changed(c, dstkey, "s", event)
        return n
    if c.db.delete(dstkey):
        c.server.changed(c, dstkey, "g", "del")
    return 0


# -- SADD SREM SMOVE ------------------------------------------------------------------------------
@command("sadd", -3, "write denyoom fast", "set", keys=(1, 1, 1))
def sadd(c, argv):
    key = argv[1]
    n = c.db.get_collection(key, "set", True).add(argv[2:])
    if n:
        c.server.changed(c, key, "s", "sadd", n)
    return n


@command("srem", -3, "write fast", "set", keys=(1, 1, 1))
def srem(c, argv):
    key = argv[1]
    s = c.db.get_collection(key, "set")
    if s is None:
        return 0
    n = s.remove(argv[2:])
    if n:
        c.server.changed(c, key, "s", "srem", n)
        if not len(s):
            _deleted(c, key)
    return n


@command("smove", 4, "write fast", "set", keys=(1, 2, 1))
def smove(c, argv):
    srckey, dstkey, ele = argv[1], argv[2], argv[3]
    db = c.db
    try:
        src = db.get_collection(srckey, "set")
    except ErrorReply:
        src = _WRONG
    try:
        dst = db.get_collection(dstkey, "set")
    except ErrorReply:
        dst = _WRONG
    if src is None:
        return 0
    if src is _WRONG or dst is _WRONG:
        raise _WRONGTYPE
    if srckey == dstkey:
        return 1 if ele in src else 0
    if not src.discard(ele):
        return 0
    srv = c.server
    srv.changed(c, srckey, "s", "srem")
    if not len(src):
        _deleted(c, srckey)
    if dst is None:
        dst = db.get_collection(dstkey, "set", True)
        added = dst.add([ele])
    else:
        added = dst.add_one(ele)
    if added:
        srv.changed(c, dstkey, "s", "sadd")
    return 1


# -- SISMEMBER SMISMEMBER SCARD --------------------------------------------------------------------
@command("sismember", 3, "readonly fast", "set", keys=(1, 1, 1))
def sismember(c, argv):
    s = _read(c, argv[1])
    return 1 if s is not None and argv[2] in s else 0


@command("smismember", -3, "readonly fast", "set", keys=(1, 1, 1))
def smismember(c, argv):
    s = _read(c, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    return [1 if m in s else 0 for m in argv[2:]]


@command("scard", 2, "readonly fast", "set", keys=(1, 1, 1))
def scard(c, argv):
    s = _read(c, argv[1])
    return 0 if s is None else len(s)


# -- SRANDMEMBER SPOP -----------------------------------------------------------------------------
@command("srandmember", -2, "readonly", "set", keys=(1, 1, 1))
def srandmember(c, argv):
    if len(argv) == 2:
        s = _read(c, argv[1])
        return None if s is None else s.random_member()
    if len(argv) > 3:
        raise _SYNTAX
    n = string2ll(argv[2])
    if n is None:
        raise _NOT_INTEGER
    if n < -LONG_MAX:
        raise ErrorReply(errors.LONG_RANGE % (-LONG_MAX, LONG_MAX))
    s = _read(c, argv[1])
    if s is None or n == 0:
        return []
    if n < 0 or n == 1:
        return s.random_members(-n if n < 0 else 1)
    if n >= len(s):
        return list(s)
    return s.random_distinct(n)


@command("spop", -2, "write fast", "set", keys=(1, 1, 1))
def spop(c, argv):
    key = argv[1]
    if len(argv) == 3:
        return _spop_count(c, key, argv[2])
    if len(argv) > 3:
        raise _SYNTAX
    db = c.db
    s = db.get_collection(key, "set")
    if s is None:
        return None
    m = s.pop_random()
    c.server.changed(c, key, "s", "spop")
    c.prop_argv = [_SREM, key, m]
    if not len(s):
        _deleted(c, key)
    return m


def _spop_count(c, key, arg):
    """spopWithCountCommand: the reply is a set; propagated as SREMs (or DEL/UNLINK when the
    whole set goes)."""
    count = string2ll(arg)
    if count is None or count < 0:
        raise _NOT_POSITIVE
    db = c.db
    s = db.get_collection(key, "set")
    if s is None or count == 0:
        return SetReply()
    srv = c.server
    size = len(s)
    if count >= size:
        srv.changed(c, key, "s", "spop", size)
        reply = SetReply(_union_diff(c, [s], False))
        _deleted(c, key)
        lazy = srv.config.get("lazyfree-lazy-server-del") == "yes"
        c.prop_argv = [b"UNLINK" if lazy else b"DEL", key]
        return reply
    srv.changed(c, key, "s", "spop", count)
    popped = s.pop_random_n(count)
    c.prop_argv = []   # the command itself is replaced by the SREMs
    dbid = db.id
    batches = [popped[i:i + SPOP_BATCH] for i in range(0, count, SPOP_BATCH)]
    # Several propagated commands form one transaction (propagatePendingCommands), unless
    # the SPOP already runs inside one.
    wrap = len(batches) > 1 and not getattr(c, "in_exec", False)
    if wrap:
        srv.propagate(dbid, [b"MULTI"])
    for b in batches:
        srv.propagate(dbid, [_SREM, key] + b)
    if wrap:
        srv.propagate(dbid, [b"EXEC"])
    return SetReply(popped)


# -- SINTER SINTERCARD SINTERSTORE SMEMBERS -----------------------------------------------------
def _inter(c, keys, dstkey=None, card_only=False, limit=0):
    """sinterGenericCommand."""
    sets = []
    empty = False
    for k in keys:
        s = _read(c, k)
        if s is None:
            empty = True
        sets.append(s)
    if empty:
        if dstkey is not None:
            if c.db.delete(dstkey):
                c.server.changed(c, dstkey, "g", "del")
            return 0
        return 0 if card_only else SetReply()
    if len(sets) > 1:
        sets.sort(key=len)   # smallest first (a stable sort, as glibc's merge-sort qsort)
    first = sets[0]
    others = [s for s in sets[1:] if s is not first]
    if card_only:
        n = 0
        if not others:
            n = len(first)
            return min(n, limit) if limit else n
        for m in first:
            for s in others:
                if m not in s:
                    break
            else:
                n += 1
                if limit and n >= limit:
                    break
        return n
    if others:
        result = []
        for m in first:
            for s in others:
                if m not in s:
                    break
            else:
                result.append(m)
    else:
        result = list(first)
    if dstkey is None:
        return SetReply(result)
    if not result:
        return _store(c, dstkey, None, "sinterstore")
    dst = first.new_empty("intset" if first.encoding() == "intset" else "listpack")
    only_integers = True
    add = dst.add_one
    for m in result:
        if only_integers and string2ll(m) is None:
            only_integers = False
        add(m)
    if only_integers:
        dst.maybe_to_intset()
    return _store(c, dstkey, dst, "sinterstore")


@command("smembers", 2, "readonly", "set", keys=(1, 1, 1))
def smembers(c, argv):
    s = _read(c, argv[1])
    return SetReply() if s is None else SetReply(s)


@command("sinter", -2, "readonly", "set", keys=(1, -1, 1))
def sinter(c, argv):
    return _inter(c, argv[1:])


@command("sinterstore", -3, "write denyoom", "set", keys=(1, -1, 1))
def sinterstore(c, argv):
    return _inter(c, argv[2:], dstkey=argv[1])


@command("sintercard", -3, "readonly", "set", keynum=(1, 1, 1))
def sintercard(c, argv):
    numkeys = string2ll(argv[1])
    if numkeys is None or numkeys < 1:
        raise ErrorReply(errors.NUMKEYS_NOT_POSITIVE)
    if numkeys > len(argv) - 2:
        raise ErrorReply(errors.NUMKEYS_TOO_MANY)
    limit = 0
    j = 2 + numkeys
    n = len(argv)
    while j < n:
        if argv[j].upper() == b"LIMIT" and j < n - 1:
            j += 1
            limit = string2ll(argv[j])
            if limit is None or limit < 0:
                raise ErrorReply(errors.LIMIT_NEGATIVE)
        else:
            raise _SYNTAX
        j += 1
    return _inter(c, argv[2:2 + numkeys], card_only=True, limit=limit)


# -- SUNION SDIFF SUNIONSTORE SDIFFSTORE -----------------------------------------------------------
def _lookup_all(c, keys):
    sets = []
    sameset = False
    for j, k in enumerate(keys):
        s = _read(c, k)
        sets.append(s)
        if s is not None and j > 0 and s is sets[0]:
            sameset = True
    return sets, sameset


def _union_diff(c, sets, diff: bool, sameset: bool = False):
    """sunionDiffGenericCommand's computation: a new standalone set (intset to start with,
    converted as members arrive) holding the union or the difference, or None when no
    input set exists."""
    proto = next((s for s in sets if s is not None), None)
    if proto is None:
        return None
    dst = proto.new_empty("intset")
    add = dst.add_one
    if not diff:
        for s in sets:
            if s is not None:
                for m in s:
                    add(m)
        return dst
    first = sets[0]
    if first is None or sameset:
        return dst
    one = two = 0
    size0 = len(first)
    for s in sets:
        if s is not None:
            one += size0
            two += len(s)
    one //= 2
    if one <= two:
        # Algorithm 1: each member of the first set not found in any other set (the others
        # from the largest down, so that found members are found early).
        rest = sorted((s for s in sets[1:] if s is not None), key=len, reverse=True)
        for m in first:
            for s in rest:
                if m in s:
                    break
            else:
                add(m)
        return dst
    # Algorithm 2: the first set, then remove the members of the others.
    for m in first:
        add(m)
    discard = dst.discard
    for s in sets[1:]:
        if not len(dst):
            break
        if s is not None:
            for m in s:
                discard(m)
    return dst


def _union_diff_reply(c, keys, diff: bool):
    sets, sameset = _lookup_all(c, keys)
    dst = _union_diff(c, sets, diff, sameset)
    return SetReply() if dst is None else SetReply(dst)


def _union_diff_store(c, dstkey, keys, diff: bool):
    sets, sameset = _lookup_all(c, keys)
    dst = _union_diff(c, sets, diff, sameset)
    return _store(c, dstkey, dst, "sdiffstore" if diff else "sunionstore")


@command("sunion", -2, "readonly", "set", keys=(1, -1, 1))
def sunion(c, argv):
    return _union_diff_reply(c, argv[1:], False)


@command("sdiff", -2, "readonly", "set", keys=(1, -1, 1))
def sdiff(c, argv):
    return _union_diff_reply(c, argv[1:], True)


@command("sunionstore", -3, "write denyoom", "set", keys=(1, -1, 1))
def sunionstore(c, argv):
    return _union_diff_store(c, argv[1], argv[2:], False)


@command("sdiffstore", -3, "write denyoom", "set", keys=(1, -1, 1))
def sdiffstore(c, argv):
    return _union_diff_store(c, argv[1], argv[2:], True)


# -- SSCAN ---------------------------------------------------------------------------------------
@command("sscan", -3, "readonly", "set", keys=(1, 1, 1))
def sscan(c, argv):
    cursor = parse_cursor(argv[2])
    s = _read(c, argv[1])
    if s is None:
        return _EMPTY_SCAN
    count, pat, _ = scan_options(argv, 3, False)
    cursor, batch = s.scan(cursor, count)
    if pat is not None and batch:
        m = glob.compile(pat)
        batch = [x for x in batch if m(x)]
    return [b"%d" % cursor, batch]
