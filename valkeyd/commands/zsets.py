"""Sorted-set commands (Redis 7.2.4 ``t_zset.c``).

ZADD ZINCRBY ZSCORE ZMSCORE ZRANK ZREVRANK ZCARD ZCOUNT ZLEXCOUNT ZRANGE ZRANGESTORE
ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREVRANGE ZREM ZREMRANGEBYSCORE
ZREMRANGEBYRANK ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZMPOP ZUNION ZINTER ZDIFF ZUNIONSTORE
ZINTERSTORE ZDIFFSTORE ZINTERCARD ZRANDMEMBER ZSCAN.

Values are :class:`engines.base.ZSetValue` objects; scores are Python floats. The blocking
variants (BZPOPMIN/BZPOPMAX/BZMPOP) reuse :func:`zpop_generic`.
"""
from __future__ import annotations

import re
from math import inf

from engines.base import LEX_MAX, LEX_MIN
from engines.limits import limits

from .. import errors, glob
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import NULL_ARRAY
from .registry import command
from .util import count_lookup

LONG_MAX = 2**63 - 1

_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_FLOAT = ErrorReply(errors.NOT_FLOAT)
_NAN = ErrorReply(errors.NAN_RESULT)
_WRONGTYPE = ErrorReply(errors.WRONGTYPE)
E_RANGE_FLOAT = "ERR min or max is not a float"
E_RANGE_LEX = "ERR min or max not valid string range item"
E_XX_NX = "ERR XX and NX options at the same time are not compatible"
E_GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
E_INCR_PAIR = "ERR INCR option supports a single increment-element pair"
E_WEIGHT = "ERR weight value is not a float"
E_NUMKEYS_ZERO = "ERR at least 1 input key is needed for '%s' command"
E_LIMIT_NEG = "ERR LIMIT can't be negative"
E_LIMIT_RANK = ("ERR syntax error, LIMIT is only supported in combination with either BYSCORE "
                "or BYLEX")
E_WITHSCORES_LEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
E_NUMKEYS_POS = "ERR numkeys should be greater than 0"
E_COUNT_POS = "ERR count should be greater than 0"
E_OUT_OF_RANGE = "ERR value is out of range"
E_RANGE_LONG = ("ERR value is out of range, value must between -9223372036854775807 and "
                "9223372036854775807")

ZSET = "zset"

# -- number parsing (strtod as Redis uses it) -----------------------------------------------------
_NUM = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    rb"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
    rb"|(?i:inf|infinity))").fullmatch
_NONZERO_DIGIT = re.compile(rb"[1-9a-fA-F]").search


def _strtod(s):
    """A complete strtod parse of ``s`` (no NaN), as a float, or None."""
    if _NUM(s) is None:
        return None
    if s.lstrip(b"+-")[:2] in (b"0x", b"0X"):
        return float.fromhex(s.decode())
    return float(s)


def parse_double(s):
    """getDoubleFromObject / string2d: the whole string, no leading space, no overflow to
    +-HUGE_VAL nor underflow to 0 (ERANGE), no NaN. None when invalid."""
    if s.isdigit() and len(s) < 300:
        return float(s)
    v = _strtod(s)
    if v is None:
        return None
    if v == 0.0:
        t = s.lstrip(b"+-")
        mant = re.split(rb"[eEpP]", t[2:] if t[:2] in (b"0x", b"0X") else t)[0]
        if _NONZERO_DIGIT(mant):
            return None  # underflow
    elif v == inf or v == -inf:
        if s.lstrip(b"+-")[:1] not in (b"i", b"I"):
            return None  # overflow
    return v


def _range_item(s):
    """strtod as zslParseRange uses it: C string (ends at NUL), leading space allowed, the
    empty string is 0, overflow is +-inf, NaN rejected."""
    if b"\0" in s:
        s = s[:s.index(b"\0")]
    s = s.lstrip(b" \t\n\v\f\r")
    if not s:
        return 0.0
    return _strtod(s)


def parse_score_range(a, b):
    """(lo, loex, hi, hiex) from ZRANGEBYSCORE-style bounds, or ErrorReply."""
    loex = a[:1] == b"("
    hiex = b[:1] == b"("
    lo = _range_item(a[1:] if loex else a)
    hi = _range_item(b[1:] if hiex else b)
    if lo is None or hi is None:
        raise ErrorReply(E_RANGE_FLOAT)
    return lo, loex, hi, hiex


def _lex_item(s):
    c = s[:1]
    if c == b"+":
        if len(s) > 1 and s[1] != 0:
            return None
        return LEX_MAX, True
    if c == b"-":
        if len(s) > 1 and s[1] != 0:
            return None
        return LEX_MIN, True
    if c == b"(":
        return s[1:], True
    if c == b"[":
        return s[1:], False
    return None


def parse_lex_range(a, b):
    x = _lex_item(a)
    y = _lex_item(b)
    if x is None or y is None:
        raise ErrorReply(E_RANGE_LEX)
    return x[0], x[1], y[0], y[1]


def _get_long(b, msg=errors.NOT_INTEGER):
    v = string2ll(b)
    if v is None:
        raise ErrorReply(msg)
    return v


def _positive_long(b, msg):
    v = string2ll(b)
    if v is None or v < 0:
        raise ErrorReply(msg)
    return v


# -- lookups ---------------------------------------------------------------------------------------
def _read(c, key):
    """lookupKeyRead + checkType: the zset, or None; counts keyspace hits/misses."""
    try:
        z = c.db.get_collection(key, ZSET)
    except ErrorReply:
        c.server.stats.keyspace_hits += 1
        raise
    count_lookup(c, z is not None, key)
    return z


def _write(c, key):
    """lookupKeyWrite + checkType."""
    return c.db.get_collection(key, ZSET)


def _emptied(c, key):
    c.db.delete(key)
    c.server.changed(c, key, "g", "del", 0)


def _pairs_reply(c, pairs, withscores):
    if not withscores:
        return [m for m, s in pairs]
    if c.resp == 2:
        out = []
        for m, s in pairs:
            out.append(m)
            out.append(s)
        return out
    return [[m, s] for m, s in pairs]


# -- ZADD / ZINCRBY --------------------------------------------------------------------------------
F_NX, F_XX, F_CH, F_INCR, F_GT, F_LT = 1, 2, 4, 8, 16, 32
_ZADD_OPTS = {b"NX": F_NX, b"XX": F_XX, b"CH": F_CH, b"INCR": F_INCR, b"GT": F_GT, b"LT": F_LT}


_SCORE_START = b"0123456789-+."


@command("zadd", -4, "write denyoom fast", "sortedset", keys=(1, 1, 1))
def zadd(c, argv):
    if len(argv) == 4:
        s = argv[2]
        if s[:1] in _SCORE_START:  # the common form ZADD key score member (no option word)
            score = float(s) if s.isdigit() and len(s) < 300 else parse_double(s)
            if score is None:
                raise _NOT_FLOAT
            key = argv[1]
            member = argv[3]
            db = c.db
            z = db.get_collection(key, ZSET)
            if z is None:
                z = db.get_collection(key, ZSET, True)
                z.init_encoding(1, len(member))
            elif limits.zset_max_listpack_entries < 1:
                z.maybe_convert(1)
            prev = z.add(member, score)
            if prev is None:
                c.server.changed(c, key, "z", "zadd", 1)
                return 1
            if prev != score:
                c.server.changed(c, key, "z", "zadd", 1)
            return 0
    return zadd_generic(c, argv, 0)


@command("zincrby", 4, "write denyoom fast", "sortedset", keys=(1, 1, 1))
def zincrby(c, argv):
    return zadd_generic(c, argv, F_INCR)


def zadd_generic(c, argv, flags):
    n = len(argv)
    i = 2
    ch = False
    while i < n:
        f = _ZADD_OPTS.get(argv[i].upper())
        if f is None:
            break
        if f == F_CH:
            ch = True
        else:
            flags |= f
        i += 1
    incr = flags & F_INCR
    nx = flags & F_NX
    xx = flags & F_XX
    gt = flags & F_GT
    lt = flags & F_LT
    elements = n - i
    if elements % 2 or not elements:
        raise _SYNTAX
    elements //= 2
    if nx and xx:
        raise ErrorReply(E_XX_NX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise ErrorReply(E_GT_LT_NX)
    if incr and elements > 1:
        raise ErrorReply(E_INCR_PAIR)
    scores = []
    for j in range(i, n, 2):
        v = parse_double(argv[j])
        if v is None:
            raise _NOT_FLOAT
        scores.append(v)
    key = argv[1]
    db = c.db
    z = db.get_collection(key, ZSET)
    added = updated = processed = 0
    score = None
    if z is None:
        if xx:
            return (None if incr else 0)
        z = db.get_collection(key, ZSET, True)
        z.init_encoding(elements, len(argv[i + 1]))
    else:
        z.maybe_convert(elements)
    try:
        for j in range(elements):
            score = scores[j]
            member = argv[i + 1 + 2 * j]
            cur = z.score(member)
            if cur is not None:
                if nx:
                    continue
                if incr:
                    score = score + cur
                    if score != score:
                        raise _NAN
                if (lt and score >= cur) or (gt and score <= cur):
                    continue
                processed += 1
                if score != cur:
                    z.add(member, score)
                    updated += 1
            elif not xx:
                z.add(member, score)
                added += 1
                processed += 1
    finally:
        if added or updated:
            c.server.changed(c, key, "z", "zincr" if incr else "zadd", added + updated)
    if incr:
        return score if processed else None
    return added + updated if ch else added


# -- simple reads ----------------------------------------------------------------------------------
@command("zcard", 2, "readonly fast", "sortedset", keys=(1, 1, 1))
def zcard(c, argv):
    z = _read(c, argv[1])
    return 0 if z is None else len(z)


@command("zscore", 3, "readonly fast", "sortedset", keys=(1, 1, 1))
def zscore(c, argv):
    z = _read(c, argv[1])
    if z is None:
        return None
    return z.score(argv[2])


@command("zmscore", -3, "readonly fast", "sortedset", keys=(1, 1, 1))
def zmscore(c, argv):
    z = _read(c, argv[1])
    if z is None:
        return [None] * (len(argv) - 2)
    sc = z.score
    return [sc(m) for m in argv[2:]]


def _zrank(c, argv, reverse):
    n = len(argv)
    if n > 4:
        raise ErrorReply(errors.WRONG_ARITY % argv[0].decode("utf-8", "replace").lower())
    withscore = False
    if n == 4:
        if argv[3].lower() != b"withscore":
            raise _SYNTAX
        withscore = True
    z = _read(c, argv[1])
    if z is None:
        return NULL_ARRAY if withscore else None
    r = z.rank(argv[2], reverse)
    if r is None:
        return NULL_ARRAY if withscore else None
    if withscore:
        return [r, z.score(argv[2])]
    return r


@command("zrank", -3, "readonly fast", "sortedset", keys=(1, 1, 1))
def zrank(c, argv):
    return _zrank(c, argv, False)


@command("zrevrank", -3, "readonly fast", "sortedset", keys=(1, 1, 1))
def zrevrank(c, argv):
    return _zrank(c, argv, True)


@command("zcount", 4, "readonly fast", "sortedset", keys=(1, 1, 1))
def zcount(c, argv):
    rng = parse_score_range(argv[2], argv[3])
    z = _read(c, argv[1])
    return 0 if z is None else z.count_by_score(*rng)


@command("zlexcount", 4, "readonly fast", "sortedset", keys=(1, 1, 1))
def zlexcount(c, argv):
    rng = parse_lex_range(argv[2], argv[3])
    z = _read(c, argv[1])
    return 0 if z is None else z.count_by_lex(*rng)


# -- ZRANGE family ---------------------------------------------------------------------------------
RANK, SCORE, LEX = 1, 2, 3


def _rank_bounds(start, end, llen):
    if start < 0:
        start += llen
    if end < 0:
        end += llen
    if start < 0:
        start = 0
    if start > end or start >= llen:
        return None
    if end >= llen:
        end = llen - 1
    return start, end


def zrange_generic(c, argv, argc_start, store, rangetype, reverse):
    """zrangeGenericCommand: ``argv[argc_start]`` is the source key. ``rangetype`` /
    ``reverse`` are None for ZRANGE/ZRANGESTORE (given by the options)."""
    key = argv[argc_start]
    minidx, maxidx = argc_start + 1, argc_start + 2
    withscores = False
    offset, limit = 0, -1
    n = len(argv)
    j = argc_start + 3
    while j < n:
        left = n - j - 1
        a = argv[j].lower()
        if not store and a == b"withscores":
            withscores = True
        elif a == b"limit" and left >= 2:
            offset = _get_long(argv[j + 1])
            limit = _get_long(argv[j + 2])
            j += 2
        elif reverse is None and a == b"rev":
            reverse = True
        elif rangetype is None and a == b"bylex":
            rangetype = LEX
        elif rangetype is None and a == b"byscore":
            rangetype = SCORE
        else:
            raise _SYNTAX
        j += 1
    if reverse is None:
        reverse = False
    if rangetype is None:
        rangetype = RANK
    if limit != -1 and rangetype == RANK:
        raise ErrorReply(E_LIMIT_RANK)
    if withscores and rangetype == LEX:
        raise ErrorReply(E_WITHSCORES_LEX)
    if reverse and rangetype != RANK:
        minidx, maxidx = maxidx, minidx
    if rangetype == RANK:
        start = _get_long(argv[minidx])
        end = _get_long(argv[maxidx])
    elif rangetype == SCORE:
        rng = parse_score_range(argv[minidx], argv[maxidx])
    else:
        rng = parse_lex_range(argv[minidx], argv[maxidx])
    z = _read(c, key)
    if z is None:
        if store:
            return _store_result(c, store, [], 0, "zrangestore")
        return []
    if rangetype == RANK:
        b = _rank_bounds(start, end, len(z))
        if b is None:
            pairs = []
        else:
            pairs = z.by_rank(b[0], b[1], reverse)
        hint = len(pairs)
    else:
        if offset > 0 and offset >= len(z):
            pairs = []
        elif rangetype == SCORE:
            pairs = z.by_score(*rng, offset, limit, reverse)
        else:
            pairs = z.by_lex(*rng, offset, limit, reverse)
        # Redis 7.2.4 passes length -1 to zsetTypeCreate (size_t): always a skiplist
        hint = 1 << 64
    if store:
        return _store_result(c, store, pairs, hint, "zrangestore")
    return _pairs_reply(c, pairs, withscores)


def _store_result(c, dst, pairs, size_hint, event, shrink=False):
    """Replace ``dst`` with a zset of ``pairs`` (or delete it when empty); reply the count."""
    db = c.db
    if not pairs:
        if db.delete(dst):
            c.server.changed(c, dst, "g", "del")
        return 0
    db.delete(dst)
    z = db.get_collection(dst, ZSET, True)
    z.init_encoding(size_hint, 0)
    add = z.add
    maxlen = tot = 0
    for m, s in pairs:
        add(m, s)
        lm = len(m)
        tot += lm
        if lm > maxlen:
            maxlen = lm
    if shrink:
        z.shrink_if_small(maxlen, tot)
    c.server.changed(c, dst, "z", event)
    return len(z)


@command("zrange", -4, "readonly", "sortedset", keys=(1, 1, 1))
def zrange(c, argv):
    return zrange_generic(c, argv, 1, None, None, None)


@command("zrangestore", -5, "write denyoom", "sortedset", keys=(1, 2, 1))
def zrangestore(c, argv):
    return zrange_generic(c, argv, 2, argv[1], None, None)


@command("zrevrange", -4, "readonly", "sortedset", keys=(1, 1, 1))
def zrevrange(c, argv):
    return zrange_generic(c, argv, 1, None, RANK, True)


@command("zrangebyscore", -4, "readonly", "sortedset", keys=(1, 1, 1))
def zrangebyscore(c, argv):
    return zrange_generic(c, argv, 1, None, SCORE, False)


@command("zrevrangebyscore", -4, "readonly", "sortedset", keys=(1, 1, 1))
def zrevrangebyscore(c, argv):
    return zrange_generic(c, argv, 1, None, SCORE, True)


@command("zrangebylex", -4, "readonly", "sortedset", keys=(1, 1, 1))
def zrangebylex(c, argv):
    return zrange_generic(c, argv, 1, None, LEX, False)


@command("zrevrangebylex", -4, "readonly", "sortedset", keys=(1, 1, 1))
def zrevrangebylex(c, argv):
    return zrange_generic(c, argv, 1, None, LEX, True)


# -- removals --------------------------------------------------------------------------------------
@command("zrem", -3, "write fast", "sortedset", keys=(1, 1, 1))
def zrem(c, argv):
    key = argv[1]
    z = _write(c, key)
    if z is None:
        return 0
    deleted = 0
    removed = False
    rm = z.remove
    for m in argv[2:]:
        if rm(m):
            deleted += 1
        if not len(z):
            removed = True
            break
    if deleted:
        if removed:
            c.db.delete(key)
        c.server.changed(c, key, "z", "zrem", deleted)
        if removed:
            c.server.changed(c, key, "g", "del", 0)
    return deleted


def _zremrange(c, argv, kind):
    key = argv[1]
    if kind == RANK:
        start = _get_long(argv[2])
        end = _get_long(argv[3])
        event = "zremrangebyrank"
    elif kind == SCORE:
        rng = parse_score_range(argv[2], argv[3])
        event = "zremrangebyscore"
    else:
        rng = parse_lex_range(argv[2], argv[3])
        event = "zremrangebylex"
    z = _write(c, key)
    if z is None:
        return 0
    if kind == RANK:
        b = _rank_bounds(start, end, len(z))
        if b is None:
            return 0
        deleted = z.remove_by_rank(*b)
    elif kind == SCORE:
        deleted = z.remove_by_score(*rng)
    else:
        deleted = z.remove_by_lex(*rng)
    if deleted:
        removed = not len(z)
        if removed:
            c.db.delete(key)
        c.server.changed(c, key, "z", event, deleted)
        if removed:
            c.server.changed(c, key, "g", "del", 0)
    return deleted


@command("zremrangebyrank", 4, "write", "sortedset", keys=(1, 1, 1))
def zremrangebyrank(c, argv):
    return _zremrange(c, argv, RANK)


@command("zremrangebyscore", 4, "write", "sortedset", keys=(1, 1, 1))
def zremrangebyscore(c, argv):
    return _zremrange(c, argv, SCORE)


@command("zremrangebylex", 4, "write", "sortedset", keys=(1, 1, 1))
def zremrangebylex(c, argv):
    return _zremrange(c, argv, LEX)


# -- pops ------------------------------------------------------------------------------------------
_ZPOPMIN = b"ZPOPMIN"
_ZPOPMAX = b"ZPOPMAX"


def zpop_generic(c, keys, maximum, count, nested, emitkey, nil_when_empty, rewrite=False):
    """genericZpopCommand: pop from the first existing zset among ``keys`` (WRONGTYPE stops
    the search) and return the reply.

    * ``count`` -1 is the single-pop form (one element), otherwise up to ``count``.
    * reply shapes: flat ``[m, s, ...]``; ``nested`` ``[[m, s], ...]``; ``emitkey`` prefixes
      the key: ``[key, m, s]`` (flat, BZPOPMIN) or ``[key, [[m, s], ...]]`` (nested, ZMPOP).
    * no zset found: ``NULL_ARRAY`` if ``nil_when_empty`` else ``[]``.
    * ``rewrite``: propagate as ``ZPOPMIN|ZPOPMAX key [n]`` (``n`` = elements popped; no
      ``n`` when count is -1), as ZMPOP and the blocking pops do.
    Fires "zpopmin"/"zpopmax" (and "del" when emptied); dirty += elements popped.
    """
    z = None
    key = None
    for k in keys:
        z = _write(c, k)
        if z is not None:
            key = k
            break
    if z is None:
        return NULL_ARRAY if nil_when_empty else []
    if count == 0:
        return []
    single = count == -1
    if single:
        count = 1
    llen = len(z)
    n = count if count < llen else llen
    pop = z.pop
    pairs = [pop(maximum) for _ in range(n)]
    removed = not len(z)
    if removed:
        c.db.delete(key)
    c.server.changed(c, key, "z", "zpopmax" if maximum else "zpopmin", n)
    if removed:
        c.server.changed(c, key, "g", "del", 0)
    if rewrite:
        op = _ZPOPMAX if maximum else _ZPOPMIN
        c.prop_argv = [op, key] if single else [op, key, b"%d" % n]
    if nested:
        body = [[m, s] for m, s in pairs]
        return [key, body] if emitkey else body
    flat = [key] if emitkey else []
    for m, s in pairs:
        flat.append(m)
        flat.append(s)
    return flat


def _zpop(c, argv, maximum):
    if len(argv) > 3:
        raise _SYNTAX
    count = -1
    if len(argv) == 3:
        count = _positive_long(argv[2], errors.NOT_POSITIVE)
    nested = c.resp > 2 and count != -1
    return zpop_generic(c, [argv[1]], maximum, count, nested, False, False)


@command("zpopmin", -2, "write fast", "sortedset", keys=(1, 1, 1))
def zpopmin(c, argv):
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast", "sortedset", keys=(1, 1, 1))
def zpopmax(c, argv):
    return _zpop(c, argv, True)


def parse_zmpop(argv, numkeys_idx):
    """zmpopGenericCommand's parsing: ``(keys, maximum, count)`` (BZMPOP: numkeys_idx 2)."""
    numkeys = string2ll(argv[numkeys_idx])
    if numkeys is None or numkeys < 1:
        raise ErrorReply(E_NUMKEYS_POS)
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise _SYNTAX
    w = argv[where_idx].upper()
    if w == b"MIN":
        maximum = False
    elif w == b"MAX":
        maximum = True
    else:
        raise _SYNTAX
    count = -1
    j = where_idx + 1
    n = len(argv)
    while j < n:
        more = n - 1 - j
        if count == -1 and argv[j].upper() == b"COUNT" and more:
            j += 1
            count = string2ll(argv[j])
            if count is None or count < 1:
                raise ErrorReply(E_COUNT_POS)
        else:
            raise _SYNTAX
        j += 1
    if count == -1:
        count = 1
    return argv[numkeys_idx + 1:where_idx], maximum, count


def _zmpop_keys(argv):
    n = string2ll(argv[1]) if len(argv) > 1 else None
    if n is None or n < 1:
        return []
    return list(range(2, min(len(argv), 2 + n)))


@command("zmpop", -4, "write", "sortedset", getkeys=_zmpop_keys)
def zmpop(c, argv):
    keys, maximum, count = parse_zmpop(argv, 1)
    return zpop_generic(c, keys, maximum, count, True, True, True, rewrite=True)


# -- ZUNION / ZINTER / ZDIFF -----------------------------------------------------------------------
UNION, INTER, DIFF = 1, 2, 3
AGG_SUM, AGG_MIN, AGG_MAX = 0, 1, 2


def _src_items(v):
    """(member, score) pairs of a zset or a set input (score 1)."""
    if v.TYPE_NAME == ZSET:
        return v.items()
    return ((m if type(m) is bytes else str(m).encode(), 1.0) for m in v)


def _src_score(v, m):
    if v.TYPE_NAME == ZSET:
        return v.score(m)
    return 1.0 if m in v else None


def _lookup_src(c, key):
    """lookupKeyRead of a ZUNION/ZINTER/ZDIFF input: a zset, a set, None or WRONGTYPE."""
    v = c.db.get(key)
    count_lookup(c, v is not None, key)
    if v is None:
        return None
    if type(v) is bytes or type(v) is bytearray or v.TYPE_NAME not in (ZSET, "set"):
        raise _WRONGTYPE
    return v


def zsetop_generic(c, argv, dstkey, numkeys_idx, op, cardinality_only=False):
    setnum = _get_long(argv[numkeys_idx])
    if setnum < 1:
        raise ErrorReply(E_NUMKEYS_ZERO % argv[0].decode("utf-8", "replace").lower())
    n = len(argv)
    if setnum > n - (numkeys_idx + 1):
        raise _SYNTAX
    srcs = []
    j = numkeys_idx + 1
    for _ in range(setnum):
        srcs.append(_lookup_src(c, argv[j]))
        j += 1
    weights = [1.0] * setnum
    aggregate = AGG_SUM
    withscores = False
    limit = 0
    while j < n:
        remaining = n - j
        a = argv[j].lower()
        if op != DIFF and not cardinality_only and remaining >= setnum + 1 and a == b"weights":
            j += 1
            for i in range(setnum):
                w = parse_double(argv[j])
                if w is None:
                    raise ErrorReply(E_WEIGHT)
                weights[i] = w
                j += 1
        elif op != DIFF and not cardinality_only and remaining >= 2 and a == b"aggregate":
            g = argv[j + 1].lower()
            if g == b"sum":
                aggregate = AGG_SUM
            elif g == b"min":
                aggregate = AGG_MIN
            elif g == b"max":
                aggregate = AGG_MAX
            else:
                raise _SYNTAX
            j += 2
        elif remaining >= 1 and dstkey is None and not cardinality_only and a == b"withscores":
            withscores = True
            j += 1
        elif cardinality_only and remaining >= 2 and a == b"limit":
            limit = _positive_long(argv[j + 1], E_LIMIT_NEG)
            j += 2
        else:
            raise _SYNTAX
    inputs = list(zip(srcs, weights))
    if op != DIFF:
        inputs.sort(key=lambda sw: 0 if sw[0] is None else len(sw[0]))
    result = {}
    card = 0
    if op == INTER:
        first, w0 = inputs[0]
        if first is not None and len(first):
            rest = inputs[1:]
            for m, s in list(_src_items(first)):
                score = w0 * s
                if score != score:
                    score = 0.0
                ok = True
                for v, w in rest:
                    if v is first:
                        val = s * w
                    else:
                        val = None if v is None else _src_score(v, m)
                        if val is None:
                            ok = False
                            break
                        val *= w
                    score = _aggregate(score, val, aggregate)
                if not ok:
                    continue
                if cardinality_only:
                    card += 1
                    if limit and card >= limit:
                        break
                else:
                    result[m] = score
    elif op == UNION:
        for v, w in inputs:
            if v is None or not len(v):
                continue
            for m, s in list(_src_items(v)):
                score = w * s
                if score != score:
                    score = 0.0
                cur = result.get(m)
                if cur is None:
                    result[m] = score
                else:
                    result[m] = _aggregate(cur, score, aggregate)
    else:
        first = inputs[0][0]
        if first is not None and len(first):
            others = [v for v, w in inputs[1:] if v is not None and len(v)]
            for m, s in list(_src_items(first)):
                for v in others:
                    if _src_score(v, m) is not None:
                        break
                else:
                    result[m] = s
    if cardinality_only:
        return card
    pairs = sorted(result.items(), key=_order)
    if dstkey is not None:
        event = "zunionstore" if op == UNION else ("zinterstore" if op == INTER else "zdiffstore")
        return _store_result(c, dstkey, pairs, 1 << 64, event, shrink=True)
    return _pairs_reply(c, pairs, withscores)


def _order(ms):
    return ms[1], ms[0]


def _aggregate(target, val, aggregate):
    if aggregate == AGG_SUM:
        t = target + val
        return 0.0 if t != t else t
    if aggregate == AGG_MIN:
        return val if val < target else target
    return val if val > target else target


def _keynum_keys(idx):
    def keys(argv):
        n = string2ll(argv[idx]) if len(argv) > idx else None
        if n is None or n < 1:
            return []
        return list(range(idx + 1, min(len(argv), idx + 1 + n)))
    return keys


def _store_keys(argv):
    return [1] + _keynum_keys(2)(argv)


@command("zunion", -3, "readonly", "sortedset", getkeys=_keynum_keys(1))
def zunion(c, argv):
    return zsetop_generic(c, argv, None, 1, UNION)


@command("zinter", -3, "readonly", "sortedset", getkeys=_keynum_keys(1))
def zinter(c, argv):
    return zsetop_generic(c, argv, None, 1, INTER)


@command("zdiff", -3, "readonly", "sortedset", getkeys=_keynum_keys(1))
def zdiff(c, argv):
    return zsetop_generic(c, argv, None, 1, DIFF)


@command("zintercard", -3, "readonly", "sortedset", getkeys=_keynum_keys(1))
def zintercard(c, argv):
    return zsetop_generic(c, argv, None, 1, INTER, cardinality_only=True)


@command("zunionstore", -4, "write denyoom", "sortedset", keys=(1, 1, 1), getkeys=_store_keys)
def zunionstore(c, argv):
    return zsetop_generic(c, argv, argv[1], 2, UNION)


@command("zinterstore", -4, "write denyoom", "sortedset", keys=(1, 1, 1), getkeys=_store_keys)
def zinterstore(c, argv):
    return zsetop_generic(c, argv, argv[1], 2, INTER)


@command("zdiffstore", -4, "write denyoom", "sortedset", keys=(1, 1, 1), getkeys=_store_keys)
def zdiffstore(c, argv):
    return zsetop_generic(c, argv, argv[1], 2, DIFF)


# -- ZRANDMEMBER / ZSCAN ---------------------------------------------------------------------------
@command("zrandmember", -2, "readonly", "sortedset", keys=(1, 1, 1))
def zrandmember(c, argv):
    n = len(argv)
    if n >= 3:
        cnt = _get_long(argv[2])
        if cnt < -LONG_MAX:
            raise ErrorReply(E_RANGE_LONG)
        if n > 4 or (n == 4 and argv[3].lower() != b"withscores"):
            raise _SYNTAX
        withscores = n == 4
        if withscores and (cnt < -(LONG_MAX // 2) or cnt > LONG_MAX // 2):
            raise ErrorReply(E_OUT_OF_RANGE)
        z = _read(c, argv[1])
        if z is None or cnt == 0:
            return []
        size = len(z)
        if cnt < 0:
            pairs = z.random_items(-cnt, False)
        elif cnt == 1:
            pairs = z.random_items(1, False)
        elif cnt >= size:
            pairs = list(z.items(True))  # zuiNext walks a zset from its tail
        else:
            pairs = z.random_items(cnt, True)
        return _pairs_reply(c, pairs, withscores)
    z = _read(c, argv[1])
    if z is None:
        return None
    return z.random_items(1, False)[0][0]


def _scan_score(s: float) -> bytes:
    """The score text of a skiplist ZSCAN reply: ld2string(LD_STR_AUTO), ``%.17Lg``."""
    if s == inf:
        return b"inf"
    if s == -inf:
        return b"-inf"
    return b"%.17g" % s


@command("zscan", -3, "readonly", "sortedset", keys=(1, 1, 1))
def zscan(c, argv):
    from .keys import parse_cursor, scan_options
    from ..resp import format_double
    cursor = parse_cursor(argv[2])
    z = _read(c, argv[1])
    if z is None:
        return [b"0", []]
    count, pat, _ = scan_options(argv, 3, False)
    nxt, pairs = z.scan(cursor, count)
    fmt = format_double if z.encoding() == "listpack" else _scan_score
    if pat is not None:
        match = glob.compile(pat)
        pairs = [p for p in pairs if match(p[0])]
    out = []
    for m, s in pairs:
        out.append(m)
        out.append(fmt(s))
    return [b"%d" % nxt, out]
