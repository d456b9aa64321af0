"""List commands (Redis 7.2.4 ``t_list.c``), blocking ones included.

LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LINDEX LSET LRANGE LTRIM LREM LINSERT LPOS LMOVE
RPOPLPUSH LMPOP BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.

Values are :class:`engines.base.ListValue` objects (``c.db.get_collection(key, "list")``).
The blocking commands use :mod:`valkeyd.blocking`: when nothing can be served they block and
are re-executed from the start when one of their keys becomes ready, as in Redis 7.2; served,
they propagate as the non-blocking command Redis rewrites them to (LPOP/RPOP [count], LMOVE,
RPOPLPUSH).
"""
from __future__ import annotations

from .. import errors
from ..blocking import deny_blocking, install, parse_timeout
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import NULL_ARRAY, OK
from .registry import command
from .util import keymiss

_WRONGTYPE = ErrorReply(errors.WRONGTYPE)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)
_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_POSITIVE = ErrorReply(errors.NOT_POSITIVE)
_NO_SUCH_KEY = ErrorReply(errors.NO_SUCH_KEY)
_OUT_OF_RANGE = ErrorReply(errors.OUT_OF_RANGE)
RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
             "second ... or use negative to start from the end of the list")
RANK_RANGE = ("ERR value is out of range, value must between -9223372036854775807 and "
              "9223372036854775807")
COUNT_NEGATIVE = "ERR COUNT can't be negative"
MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"
NUMKEYS_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_POSITIVE = "ERR count should be greater than 0"

_LIST = "list"
_LPOP, _RPOP, _LMOVE, _RPOPLPUSH = b"LPOP", b"RPOP", b"LMOVE", b"RPOPLPUSH"
_LLONG_MIN = -(2**63)


def _int(b) -> int:
    v = string2ll(b)
    if v is None:
        raise _NOT_INTEGER
    return v


def _read(c, key):
    """lookupKeyRead of a list: counts the keyspace hit/miss (a key of another type is a
    hit before its WRONGTYPE error)."""
    st = c.server.stats
    try:
        v = c.db.get_collection(key, _LIST)
    except ErrorReply:
        st.keyspace_hits += 1
        raise
    if v is None:
        st.keyspace_misses += 1
        keymiss(c, key)
    else:
        st.keyspace_hits += 1
    return v


def _removed(c, key, lst, left: bool, n: int) -> None:
    """listElementsRemoved: the pop event, the key deleted when empty, dirty += n."""
    srv = c.server
    srv.changed(c, key, "l", "lpop" if left else "rpop", n)
    if not len(lst):
        c.db.delete(key)
        srv.notify("g", "del", key, c.db.id)


def _where(b) -> bool:
    """LEFT -> True, RIGHT -> False (getListPositionFromObjectOrReply)."""
    w = b.lower()
    if w == b"left":
        return True
    if w == b"right":
        return False
    raise _SYNTAX


# -- pushes ---------------------------------------------------------------------------------

@command("lpush", -3, "write denyoom fast", "list", keys=(1, 1, 1))
def lpush(c, argv):
    key = argv[1]
    n = c.db.get_collection(key, _LIST, True).push_left(argv[2:])
    c.server.changed(c, key, "l", "lpush", len(argv) - 2)
    return n


@command("rpush", -3, "write denyoom fast", "list", keys=(1, 1, 1))
def rpush(c, argv):
    key = argv[1]
    n = c.db.get_collection(key, _LIST, True).push_right(argv[2:])
    c.server.changed(c, key, "l", "rpush", len(argv) - 2)
    return n


@command("lpushx", -3, "write denyoom fast", "list", keys=(1, 1, 1))
def lpushx(c, argv):
    lst = c.db.get_collection(argv[1], _LIST)
    if lst is None:
        return 0
    n = lst.push_left(argv[2:])
    c.server.changed(c, argv[1], "l", "lpush", len(argv) - 2)
    return n


@command("rpushx", -3, "write denyoom fast", "list", keys=(1, 1, 1))
def rpushx(c, argv):
    lst = c.db.get_collection(argv[1], _LIST)
    if lst is None:
        return 0
    n = lst.push_right(argv[2:])
    c.server.changed(c, argv[1], "l", "rpush", len(argv) - 2)
    return n


@command("linsert", 5, "write denyoom", "list", keys=(1, 1, 1))
def linsert(c, argv):
    w = argv[2].lower()
    if w == b"after":
        after = True
    elif w == b"before":
        after = False
    else:
        raise _SYNTAX
    lst = c.db.get_collection(argv[1], _LIST)
    if lst is None:
        return 0
    n = lst.insert(argv[3], argv[4], after)
    if n > 0:
        c.server.changed(c, argv[1], "l", "linsert")
    return n


# -- pops -----------------------------------------------------------------------------------

def _pop(c, argv, left: bool):
    n = len(argv)
    if n > 3:
        raise ErrorReply(errors.WRONG_ARITY % ("lpop" if left else "rpop"))
    if n == 3:
        count = string2ll(argv[2])
        if count is None or count < 0:
            raise _NOT_POSITIVE
    key = argv[1]
    lst = c.db.get_collection(key, _LIST)
    if lst is None:
        return NULL_ARRAY if n == 3 else None
    if n == 2:
        v = lst.pop_left() if left else lst.pop_right()
        _removed(c, key, lst, left, 1)
        return v
    if not count:
        return []
    out = lst.pop_many(count, left)
    _removed(c, key, lst, left, len(out))
    return out


@command("lpop", -2, "write fast", "list", keys=(1, 1, 1))
def lpop(c, argv):
    return _pop(c, argv, True)


@command("rpop", -2, "write fast", "list", keys=(1, 1, 1))
def rpop(c, argv):
    if len(argv) == 2:   # the common form, short
        key = argv[1]
        lst = c.db.get_collection(key, _LIST)
        if lst is None:
            return None
        v = lst.pop_right()
        srv = c.server
        srv.changed(c, key, "l", "rpop", 1)
        if not len(lst):
            c.db.delete(key)
            srv.notify("g", "del", key, c.db.id)
        return v
    return _pop(c, argv, False)


def _mpop_parse(argv, numkeys_idx: int):
    """lmpopGenericCommand's argument parsing: (keys, left, count)."""
    nk = string2ll(argv[numkeys_idx])
    if nk is None or nk < 1:
        raise ErrorReply(NUMKEYS_POSITIVE)
    where_idx = numkeys_idx + nk + 1
    if where_idx >= len(argv):
        raise _SYNTAX
    left = _where(argv[where_idx])
    count = -1
    j = where_idx + 1
    n = len(argv)
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            j += 1
            count = string2ll(argv[j])
            if count is None or count < 1:
                raise ErrorReply(COUNT_POSITIVE)
        else:
            raise _SYNTAX
        j += 1
    if count == -1:
        count = 1
    return argv[numkeys_idx + 1:where_idx], left, count


def _mpop_serve(c, keys, left: bool, count: int):
    """Pop from the first non-empty list of ``keys`` (nested reply, rewritten as
    [LR]POP key count); None when every list is empty or missing."""
    db = c.db
    for key in keys:
        lst = db.get_collection(key, _LIST)
        if lst is None or not len(lst):
            continue
        out = lst.pop_many(count, left)
        _removed(c, key, lst, left, len(out))
        c.prop_argv = [_LPOP if left else _RPOP, key, b"%d" % len(out)]
        return [key, out]
    return None


@command("lmpop", -4, "write", "list", keynum=(1, 1, 1))
def lmpop(c, argv):
    keys, left, count = _mpop_parse(argv, 1)
    r = _mpop_serve(c, keys, left, count)
    return NULL_ARRAY if r is None else r


# -- reads ----------------------------------------------------------------------------------

@command("llen", 2, "readonly fast", "list", keys=(1, 1, 1))
def llen(c, argv):
    lst = _read(c, argv[1])
    return 0 if lst is None else len(lst)


@command("lindex", 3, "readonly", "list", keys=(1, 1, 1))
def lindex(c, argv):
    lst = _read(c, argv[1])
    if lst is None:
        return None
    return lst.index(_int(argv[2]))


@command("lrange", 4, "readonly", "list", keys=(1, 1, 1))
def lrange(c, argv):
    start = string2ll(argv[2])
    end = string2ll(argv[3])
    if start is None or end is None:
        raise _NOT_INTEGER
    lst = _read(c, argv[1])
    if lst is None:
        return []
    n = len(lst)
    if start < 0:
        start += n
        if start < 0:
            start = 0
    if end < 0:
        end += n
    if start > end or start >= n:
        return []
    if end >= n:
        end = n - 1
    return lst.range(start, end)


@command("lpos", -3, "readonly", "list", keys=(1, 1, 1))
def lpos(c, argv):
    rank, count, maxlen = 1, -1, 0
    n = len(argv)
    j = 3
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"rank" and more:
            j += 1
            rank = _int(argv[j])
            if rank == _LLONG_MIN:
                raise ErrorReply(RANK_RANGE)
            if rank == 0:
                raise ErrorReply(RANK_ZERO)
        elif opt == b"count" and more:
            j += 1
            count = string2ll(argv[j])
            if count is None or count < 0:
                raise ErrorReply(COUNT_NEGATIVE)
        elif opt == b"maxlen" and more:
            j += 1
            maxlen = string2ll(argv[j])
            if maxlen is None or maxlen < 0:
                raise ErrorReply(MAXLEN_NEGATIVE)
        else:
            raise _SYNTAX
        j += 1
    lst = _read(c, argv[1])
    if lst is None:
        return [] if count != -1 else None
    if count == -1:
        found = lst.positions(argv[2], rank, 1, maxlen)
        return found[0] if found else None
    return lst.positions(argv[2], rank, count, maxlen)


# -- in-place writes ------------------------------------------------------------------------

@command("lset", 4, "write denyoom", "list", keys=(1, 1, 1))
def lset(c, argv):
    lst = c.db.get_collection(argv[1], _LIST)
    if lst is None:
        raise _NO_SUCH_KEY
    i = _int(argv[2])
    if not lst.set(i, argv[3]):
        raise _OUT_OF_RANGE
    c.server.changed(c, argv[1], "l", "lset")
    return OK


@command("ltrim", 4, "write", "list", keys=(1, 1, 1))
def ltrim(c, argv):
    start = _int(argv[2])
    end = _int(argv[3])
    key = argv[1]
    lst = c.db.get_collection(key, _LIST)
    if lst is None:
        return OK
    n = len(lst)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        lt, rt = n, 0
    else:
        if end >= n:
            end = n - 1
        lt, rt = start, n - end - 1
    if lt >= n:
        lst.pop_many(n, True)
    else:
        lst.trim(lt, rt)
    srv = c.server
    srv.changed(c, key, "l", "ltrim", lt + rt)
    if not len(lst):
        c.db.delete(key)
        srv.notify("g", "del", key, c.db.id)
    return OK


@command("lrem", 4, "write", "list", keys=(1, 1, 1))
def lrem(c, argv):
    count = _int(argv[2])
    key = argv[1]
    lst = c.db.get_collection(key, _LIST)
    if lst is None:
        return 0
    removed = lst.remove(count, argv[3])
    srv = c.server
    if removed:
        srv.changed(c, key, "l", "lrem", removed)
    if not len(lst):
        c.db.delete(key)
        srv.notify("g", "del", key, c.db.id)
    return removed


# -- moves ----------------------------------------------------------------------------------

def _move(c, src, dst, wfrom: bool, wto: bool):
    """lmoveGenericCommand; None when the source is missing."""
    db = c.db
    slst = db.get_collection(src, _LIST)
    if slst is None or not len(slst):
        return None
    dlst = db.get_collection(dst, _LIST)       # WRONGTYPE before anything changes
    from_ql = slst.encoding() == "quicklist"
    same = src == dst     # Redis pushes, then converts the source (listElementsRemoved)
    v = slst.pop_left(not same) if wfrom else slst.pop_right(not same)
    if dlst is None:
        dlst = db.get_collection(dst, _LIST, True)
    srv = c.server
    if wto:
        dlst.push_left([v], not from_ql)
    else:
        dlst.push_right([v], not from_ql)
    if same:
        dlst.try_convert(False)
    srv.changed(c, dst, "l", "lpush" if wto else "rpush", 0)
    _removed(c, src, slst, wfrom, 1)
    return v


@command("lmove", 5, "write denyoom", "list", keys=(1, 2, 1))
def lmove(c, argv):
    return _move(c, argv[1], argv[2], _where(argv[3]), _where(argv[4]))


@command("rpoplpush", 3, "write denyoom", "list", keys=(1, 2, 1))
def rpoplpush(c, argv):
    return _move(c, argv[1], argv[2], False, True)


# -- blocking -------------------------------------------------------------------------------

def _bpop(c, argv, keys, left: bool, deadline: int, count: int):
    """blockingPopGenericCommand (count -1: BLPOP/BRPOP's single pop)."""
    db = c.db
    for key in keys:
        lst = db.get_collection(key, _LIST)
        if lst is None or not len(lst):
            continue
        if count != -1:
            out = lst.pop_many(count, left)
            _removed(c, key, lst, left, len(out))
            c.prop_argv = [_LPOP if left else _RPOP, key, b"%d" % len(out)]
            return [key, out]
        v = lst.pop_left() if left else lst.pop_right()
        _removed(c, key, lst, left, 1)
        c.prop_argv = [_LPOP if left else _RPOP, key]
        return [key, v]
    if deny_blocking(c):
        return NULL_ARRAY
    return install(c.server).block(c, argv, _LIST, keys, deadline)


@command("blpop", -3, "write blocking", "list", keys=(1, -2, 1))
def blpop(c, argv):
    deadline = parse_timeout(c, argv[-1])
    return _bpop(c, argv, argv[1:-1], True, deadline, -1)


@command("brpop", -3, "write blocking", "list", keys=(1, -2, 1))
def brpop(c, argv):
    deadline = parse_timeout(c, argv[-1])
    return _bpop(c, argv, argv[1:-1], False, deadline, -1)


@command("blmpop", -5, "write blocking", "list", keynum=(2, 1, 1))
def blmpop(c, argv):
    keys, left, count = _mpop_parse(argv, 2)
    deadline = parse_timeout(c, argv[1])
    return _bpop(c, argv, keys, left, deadline, count)


def _bmove(c, argv, wfrom: bool, wto: bool, deadline: int, prop):
    src = argv[1]
    lst = c.db.get_collection(src, _LIST)
    if lst is None:
        if deny_blocking(c):
            return None
        return install(c.server).block(c, argv, _LIST, [src], deadline)
    v = _move(c, src, argv[2], wfrom, wto)
    c.prop_argv = prop
    return v


@command("blmove", 6, "write denyoom blocking", "list", keys=(1, 2, 1))
def blmove(c, argv):
    wfrom = _where(argv[3])
    wto = _where(argv[4])
    deadline = parse_timeout(c, argv[5])
    return _bmove(c, argv, wfrom, wto, deadline, [_LMOVE, argv[1], argv[2], argv[3], argv[4]])


@command("brpoplpush", 4, "write denyoom blocking", "list", keys=(1, 2, 1))
def brpoplpush(c, argv):
    deadline = parse_timeout(c, argv[3])
    return _bmove(c, argv, False, True, deadline, [_RPOPLPUSH, argv[1], argv[2]])
