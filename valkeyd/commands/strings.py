"""String commands (Redis 7.2.4 ``t_string.c``).

GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN INCR DECR INCRBY
DECRBY INCRBYFLOAT GETRANGE SETRANGE SUBSTR LCS.

Values are ``bytes``; APPEND and SETRANGE turn a value into a ``bytearray`` modified in place
(OBJECT ENCODING "raw", as Redis's unshared sds). The INCR family stores canonical integer
bytes. INCRBYFLOAT reproduces Redis's ``long double`` arithmetic (x87 80-bit extended, 64-bit
significand) and its ``%.17Lf`` formatting exactly with integer arithmetic, so results are the
same on every platform.
"""
from __future__ import annotations

import re

from engines.base import clock

from .. import errors
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK
from .registry import command
from .util import count_lookup, count_lookup_n, keymiss, read_string

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
UINT32_MAX = 2**32 - 1

_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)
_NOT_FLOAT = ErrorReply(errors.NOT_FLOAT)

_SET = b"SET"
_PXAT = b"PXAT"
_KEEPTTL = b"KEEPTTL"
_PEXPIREAT = b"PEXPIREAT"
_PERSIST = b"PERSIST"
_DEL = b"DEL"
_UNLINK = b"UNLINK"


def _is_str(v) -> bool:
    t = type(v)
    return t is bytes or t is bytearray


# -- GET / SET family -----------------------------------------------------------------------------

# Option flags (parseExtendedStringArgumentsOrReply).
F_NX, F_XX, F_EX, F_PX, F_KEEPTTL, F_GET, F_EXAT, F_PXAT, F_PERSIST = (1 << i for i in range(9))
_EXPIRE_FLAGS = F_EX | F_PX | F_EXAT | F_PXAT
_OPT_WORDS = {b"NX": F_NX, b"XX": F_XX, b"GET": F_GET, b"KEEPTTL": F_KEEPTTL,
              b"PERSIST": F_PERSIST, b"EX": F_EX, b"PX": F_PX, b"EXAT": F_EXAT, b"PXAT": F_PXAT}
# For each option: the flags that must not be set already (Redis's exact exclusion rules; an
# option may repeat, the last expire value wins).
_OPT_EXCLUDES = {
    F_NX: F_XX, F_XX: F_NX, F_GET: 0,
    F_KEEPTTL: F_PERSIST | _EXPIRE_FLAGS,
    F_PERSIST: _EXPIRE_FLAGS | F_KEEPTTL,
    F_EX: F_KEEPTTL | F_PERSIST | F_EXAT | F_PX | F_PXAT,
    F_PX: F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PXAT,
    F_EXAT: F_KEEPTTL | F_PERSIST | F_EX | F_PX | F_PXAT,
    F_PXAT: F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PX,
}
_SET_ONLY = F_NX | F_XX | F_GET | F_KEEPTTL
_GET_ONLY = F_PERSIST


def _opt_flag(a: bytes) -> int:
    o = a.upper()
    if b"\0" in o:  # Redis compares C strings: an option ends at its first NUL byte
        o = o[:o.index(b"\0")]
    return _OPT_WORDS.get(o, 0)


def _parse_ext(argv, start: int, is_set: bool):
    """Parse SET/GETEX options. Returns ``(flags, expire_arg)``; syntax error otherwise."""
    flags = 0
    expire = None
    n = len(argv)
    j = start
    while j < n:
        f = _opt_flag(argv[j])
        if (not f or flags & _OPT_EXCLUDES[f]
                or (f & _SET_ONLY and not is_set) or (f & _GET_ONLY and is_set)):
            raise _SYNTAX
        if f & _EXPIRE_FLAGS:
            if j == n - 1:
                raise _SYNTAX
            j += 1
            expire = argv[j]
        flags |= f
        j += 1
    return flags, expire


def _expire_ms(name: str, arg, flags: int) -> int:
    """getExpireMillisecondsOrReply: the absolute expiry time in ms (``name``: the command,
    for the error text)."""
    v = string2ll(arg)
    if v is None:
        raise _NOT_INTEGER
    seconds = flags & (F_EX | F_EXAT)
    if v <= 0 or (seconds and v > LLONG_MAX // 1000):
        raise ErrorReply(errors.INVALID_EXPIRE % name)
    if seconds:
        v *= 1000
    if flags & (F_EX | F_PX):
        v += clock.ms()
        if v > LLONG_MAX:  # Redis detects the signed overflow as a result <= 0
            raise ErrorReply(errors.INVALID_EXPIRE % name)
    return v


def _set_generic(c, name, argv, key, val, flags, expire, ok_reply, abort_reply):
    """setGenericCommand."""
    db = c.db
    when = 0
    if expire is not None:
        when = _expire_ms(name, expire, flags)
    old = None
    if flags & F_GET:
        old = read_string(c, key)  # WRONGTYPE before anything is changed
        found = old is not None
    else:
        found = db.exists(key)
    if (flags & F_NX and found) or (flags & F_XX and not found):
        return old if flags & F_GET else abort_reply
    db.set(key, val, keep_ttl=bool(flags & F_KEEPTTL))
    srv = c.server
    srv.changed(c, key, "$", "set")
    if expire is not None:
        db.set_expire(key, when)
        if not flags & F_PXAT:
            c.prop_argv = [_SET, key, val, _PXAT, b"%d" % when]
        srv.notify("g", "expire", key, db.id)
    elif flags & F_GET:
        # Propagate without the GET tokens.
        c.prop_argv = argv[:3] + [a for a in argv[3:] if _opt_flag(a) != F_GET]
    return old if flags & F_GET else ok_reply


@command("get", 2, "readonly fast", "string", keys=(1, 1, 1))
def get(c, argv):
    v = c.db.get_string(argv[1])
    if v is None:
        c.server.stats.keyspace_misses += 1   # INFO keyspace_hits/misses (lookupKeyRead)
        if c.server.notify_hook is not None:
            keymiss(c, argv[1])
    else:
        c.server.stats.keyspace_hits += 1
    return v


@command("set", -3, "write denyoom", "string", keys=(1, 1, 1))
def set_(c, argv):
    if len(argv) == 3:  # the common case
        key = argv[1]
        c.db.set(key, argv[2])
        c.server.changed(c, key, "$", "set")
        return OK
    flags, expire = _parse_ext(argv, 3, True)
    return _set_generic(c, "set", argv, argv[1], argv[2], flags, expire, OK, None)


@command("setnx", 3, "write denyoom fast", "string", keys=(1, 1, 1))
def setnx(c, argv):
    key = argv[1]
    db = c.db
    if db.exists(key):
        return 0
    db.set(key, argv[2])
    c.server.changed(c, key, "$", "set")
    return 1


@command("setex", 4, "write denyoom", "string", keys=(1, 1, 1))
def setex(c, argv):
    return _set_generic(c, "setex", argv, argv[1], argv[3], F_EX, argv[2], OK, None)


@command("psetex", 4, "write denyoom", "string", keys=(1, 1, 1))
def psetex(c, argv):
    return _set_generic(c, "psetex", argv, argv[1], argv[3], F_PX, argv[2], OK, None)


@command("getset", 3, "write denyoom fast", "string", keys=(1, 1, 1))
def getset(c, argv):
    key = argv[1]
    db = c.db
    old = read_string(c, key)
    db.set(key, argv[2])
    c.server.changed(c, key, "$", "set")
    c.prop_argv = [_SET, key, argv[2]]
    return old


@command("getdel", 2, "write fast", "string", keys=(1, 1, 1))
def getdel(c, argv):
    key = argv[1]
    db = c.db
    v = read_string(c, key)
    if v is not None and db.delete(key):
        c.prop_argv = [_DEL, key]
        c.server.changed(c, key, "g", "del")
    return v


@command("getex", -2, "write fast", "string", keys=(1, 1, 1))
def getex(c, argv):
    key = argv[1]
    db = c.db
    if len(argv) == 2:
        return read_string(c, key)
    flags, expire = _parse_ext(argv, 2, False)
    v = read_string(c, key)
    if v is None:
        return None
    srv = c.server
    if expire is not None:
        when = _expire_ms("getex", expire, flags)
        if (flags & (F_EXAT | F_PXAT) and when <= clock.ms() and not srv.loading
                and not srv.is_replica()):
            # checkAlreadyExpired: an absolute time in the past deletes the key.
            db.delete(key)
            lazy = srv.config.get("lazyfree-lazy-expire") == "yes"
            c.prop_argv = [_UNLINK if lazy else _DEL, key]
            srv.changed(c, key, "g", "del")
        else:
            db.set_expire(key, when)
            c.prop_argv = [_PEXPIREAT, key, b"%d" % when]
            srv.changed(c, key, "g", "expire")
    elif flags & F_PERSIST:
        if db.persist(key):
            c.prop_argv = [_PERSIST, key]
            srv.changed(c, key, "g", "persist")
    return v


@command("mget", -2, "readonly fast", "string", keys=(1, -1, 1))
def mget(c, argv):
    get_ = c.db.get
    out = []
    hits = 0
    for k in argv[1:]:
        v = get_(k)
        t = type(v)
        if v is not None:
            hits += 1
        elif c.server.notify_hook is not None:
            keymiss(c, k)
        out.append(v if t is bytes or t is bytearray else None)
    count_lookup_n(c, hits, len(argv) - 1 - hits)
    return out


def _mset(c, argv, nx: bool):
    if not len(argv) & 1:
        raise ErrorReply(errors.WRONG_ARITY % ("msetnx" if nx else "mset"))
    db = c.db
    if nx:
        exists = db.exists
        for j in range(1, len(argv), 2):
            if exists(argv[j]):
                return 0
    changed = c.server.changed
    set_ = db.set
    for j in range(1, len(argv), 2):
        k = argv[j]
        set_(k, argv[j + 1])
        changed(c, k, "$", "set")
    return 1 if nx else OK


@command("mset", -3, "write denyoom", "string", keys=(1, -1, 2))
def mset(c, argv):
    return _mset(c, argv, False)


@command("msetnx", -3, "write denyoom", "string", keys=(1, -1, 2))
def msetnx(c, argv):
    return _mset(c, argv, True)


# -- APPEND / SETRANGE / GETRANGE / STRLEN --------------------------------------------------------

def _check_length(c, size: int, append: int) -> None:
    """checkStringLength: the result may not exceed proto-max-bulk-len."""
    if size + append > c.server.proto_max_bulk_len:
        raise ErrorReply(errors.STRING_TOO_LONG)


@command("append", 3, "write denyoom fast", "string", keys=(1, 1, 1))
def append(c, argv):
    key, add = argv[1], argv[2]
    db = c.db
    v = db.get_string(key)
    if v is None:
        db.set(key, add)
        n = len(add)
    else:
        _check_length(c, len(v), len(add))
        if type(v) is bytearray:
            v += add
        else:
            v = bytearray(v)
            v += add
            db.set(key, v, keep_ttl=True)
        n = len(v)
    c.server.changed(c, key, "$", "append")
    return n


@command("setrange", 4, "write denyoom", "string", keys=(1, 1, 1))
def setrange(c, argv):
    key, value = argv[1], argv[3]
    offset = string2ll(argv[2])
    if offset is None:
        raise _NOT_INTEGER
    if offset < 0:
        raise ErrorReply(errors.OFFSET_OUT_OF_RANGE)
    db = c.db
    v = db.get_string(key)
    vlen = len(value)
    if v is None:
        if not vlen:
            return 0
        _check_length(c, offset, vlen)
        v = bytearray(offset)
        v += value
        db.set(key, v)
    else:
        if not vlen:
            return len(v)
        _check_length(c, offset, vlen)
        if type(v) is not bytearray:
            v = bytearray(v)
            db.set(key, v, keep_ttl=True)
        end = offset + vlen
        if len(v) < end:
            v.extend(bytes(end - len(v)))
        v[offset:end] = value
    c.server.changed(c, key, "$", "setrange")
    return len(v)


@command("getrange", 4, "readonly", "string", keys=(1, 1, 1))
def getrange(c, argv):
    start = string2ll(argv[2])
    end = string2ll(argv[3])
    if start is None or end is None:
        raise _NOT_INTEGER
    v = read_string(c, argv[1])
    if v is None:
        return b""
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return bytes(v[start:end + 1])


@command("substr", 4, "readonly", "string", keys=(1, 1, 1))
def substr(c, argv):
    return getrange(c, argv)


@command("strlen", 2, "readonly fast", "string", keys=(1, 1, 1))
def strlen(c, argv):
    v = read_string(c, argv[1])
    return 0 if v is None else len(v)


# -- INCR family ----------------------------------------------------------------------------------

def _incr(c, key, incr: int) -> int:
    db = c.db
    v = db.get_string(key)
    if v is None:
        cur = 0
    else:
        cur = string2ll(v)
        if cur is None:
            raise _NOT_INTEGER
    new = cur + incr
    if new > LLONG_MAX or new < LLONG_MIN:
        raise ErrorReply(errors.INCR_OVERFLOW)
    db.set(key, b"%d" % new, keep_ttl=True)
    c.server.changed(c, key, "$", "incrby")
    return new


@command("incr", 2, "write denyoom fast", "string", keys=(1, 1, 1))
def incr(c, argv):
    return _incr(c, argv[1], 1)


@command("decr", 2, "write denyoom fast", "string", keys=(1, 1, 1))
def decr(c, argv):
    return _incr(c, argv[1], -1)


@command("incrby", 3, "write denyoom fast", "string", keys=(1, 1, 1))
def incrby(c, argv):
    n = string2ll(argv[2])
    if n is None:
        raise _NOT_INTEGER
    return _incr(c, argv[1], n)


@command("decrby", 3, "write denyoom fast", "string", keys=(1, 1, 1))
def decrby(c, argv):
    n = string2ll(argv[2])
    if n is None:
        raise _NOT_INTEGER
    if n == LLONG_MIN:
        raise ErrorReply(errors.DECR_OVERFLOW)
    return _incr(c, argv[1], -n)


# -- long double emulation (INCRBYFLOAT) ----------------------------------------------------------
#
# A finite long double is kept as an exact pair (n, e): value = n * 2**e with |n| < 2**64.
# Infinity is the string "inf"/"-inf". Rounding is round-to-nearest, ties-to-even, with the x87
# extended format's limits: 64-bit significand, normal exponents down to 2**-16382, subnormals
# down to 2**-16445, overflow to infinity at 2**16384.

_LD_P = 64
_LD_ETINY = -16445          # exponent of the smallest subnormal's unit
_LD_EMAX_UNIT = 16384 - 64  # largest exponent of the unit of a 64-bit significand
_LD_INF = "inf"
_LD_NINF = "-inf"
_HUGE = 1 << _LD_P


def _ld_round(p: int, q: int, scale: int):
    """Round ``p / q * 2**scale`` (q > 0) to a long double: (n, e), or an infinity."""
    if p == 0:
        return (0, 0)
    neg = p < 0
    if neg:
        p = -p
    # Choose e so that p/q * 2**(scale-e) lies in [2**63, 2**64).
    e = scale + p.bit_length() - q.bit_length() - _LD_P
    while True:
        if e < _LD_ETINY:
            e = _LD_ETINY
        sh = scale - e
        if sh >= 0:
            num, den = p << sh, q
        else:
            num, den = p, q << -sh
        n, r = divmod(num, den)
        if n >= _HUGE:
            e += 1
            continue
        if n < _HUGE >> 1 and e > _LD_ETINY:
            e -= 1
            continue
        break
    r2 = r << 1
    if r2 > den or (r2 == den and n & 1):
        n += 1
        if n == _HUGE:
            n >>= 1
            e += 1
    if e > _LD_EMAX_UNIT:
        return _LD_NINF if neg else _LD_INF
    return (-n if neg else n, e)


# strtold's grammar (C locale); string2ld refuses leading whitespace and trailing garbage.
_FLOAT_RE = re.compile(
    rb"([+-]?)(?:"
    rb"(inf(?:inity)?)|(nan(?:\([0-9a-z_]*\))?)|"
    rb"0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?[0-9]+))?|"
    rb"([0-9]*)(?:\.([0-9]*))?(?:e([+-]?[0-9]+))?"
    rb")\Z", re.I)
_MAX_LD_CHARS = 5 * 1024


def _bigint(digits: bytes, base: int = 10) -> int:
    """int() for long digit strings (Python limits decimal conversions to 4300 digits)."""
    if len(digits) <= 4000:
        return int(digits, base) if digits else 0
    v = 0
    for i in range(0, len(digits), 4000):
        part = digits[i:i + 4000]
        v = v * base ** len(part) + int(part, base)
    return v


def _exp_int(b: bytes) -> int:
    """An exponent; absurdly large ones are clamped (they overflow or underflow anyway)."""
    s = b.lstrip(b"+-").lstrip(b"0")
    if len(s) > 9:
        return -10**10 if b[:1] == b"-" else 10**10
    return int(b)


def _ld_parse(s):
    """string2ld: a long double from bytes, or None when Redis would refuse it."""
    if not s or len(s) >= _MAX_LD_CHARS:
        return None
    m = _FLOAT_RE.match(s)
    if m is None:
        return None
    sign, inf, nan, hint, hfrac, hexp, dint, dfrac, dexp = m.groups()
    neg = sign == b"-"
    if inf is not None:
        return _LD_NINF if neg else _LD_INF
    if nan is not None:
        return None
    if hint is not None:
        hfrac = hfrac or b""
        if not hint and not hfrac:
            return None  # "0x" alone: strtold stops after the "0"
        mant = _bigint(hint + hfrac, 16)
        if mant == 0:
            return (0, 0)
        e2 = (_exp_int(hexp) if hexp else 0) - 4 * len(hfrac)
        top = e2 + mant.bit_length()
        if top > 16390:
            return None  # overflow: ERANGE
        if top < -16460:
            return None  # underflow to zero: ERANGE
        v = _ld_round(-mant if neg else mant, 1, e2)
    else:
        dfrac = dfrac or b""
        if not dint and not dfrac:
            return None
        digits = (dint + dfrac).lstrip(b"0")
        if not digits:
            return (0, 0)
        e10 = (_exp_int(dexp) if dexp else 0) - len(dfrac)
        stripped = digits.rstrip(b"0")
        e10 += len(digits) - len(stripped)
        digits = stripped
        top = e10 + len(digits)  # value < 10**top
        if top > 4940:
            return None
        if top < -4960:
            return None
        mant = _bigint(digits)
        if neg:
            mant = -mant
        if e10 >= 0:
            v = _ld_round(mant * 10**e10, 1, 0)
        else:
            v = _ld_round(mant, 10**-e10, 0)
    if type(v) is str or v[0] == 0:
        return None  # ERANGE: overflow to infinity or underflow to zero
    return v


_TEN17 = 10**17


_TEN4000 = 10**4000


def _int_str(n: int) -> str:
    if n < _TEN4000:
        return str(n)
    hi, lo = divmod(n, _TEN4000)
    return _int_str(hi) + str(lo).rjust(4000, "0")


def _ld_format_human(v) -> bytes:
    """ld2string LD_STR_HUMAN: ``%.17Lf`` with trailing zeros (and '.') removed, "-0" -> "0"."""
    n, e = v
    neg = n < 0
    if neg:
        n = -n
    if e >= 0:
        s = _int_str(n << e)
    else:
        num = n * _TEN17
        q, r = divmod(num, 1 << -e)
        r2 = r << 1
        d = 1 << -e
        if r2 > d or (r2 == d and q & 1):
            q += 1
        ip, fp = divmod(q, _TEN17)
        s = _int_str(ip)
        if fp:
            s += ("." + "%017d" % fp).rstrip("0")
    if neg:
        if s == "0":
            return b"0"
        s = "-" + s
    return s.encode()


def _ld_add(a, b):
    if type(a) is str or type(b) is str:
        return None  # an infinity: the result is Inf or NaN
    (n1, e1), (n2, e2) = a, b
    if n1 == 0:
        return b
    if n2 == 0:
        return a
    e = min(e1, e2)
    return _ld_round((n1 << (e1 - e)) + (n2 << (e2 - e)), 1, e)


@command("incrbyfloat", 3, "write denyoom fast", "string", keys=(1, 1, 1))
def incrbyfloat(c, argv):
    key = argv[1]
    db = c.db
    v = db.get_string(key)
    cur = (0, 0) if v is None else _ld_parse(bytes(v))
    inc = _ld_parse(argv[2])
    if cur is None or inc is None:
        raise _NOT_FLOAT
    res = _ld_add(cur, inc)
    if res is None or type(res) is str:
        raise ErrorReply(errors.INCRFLOAT_NAN)
    new = _ld_format_human(res)
    db.set(key, new, keep_ttl=True)
    c.server.changed(c, key, "$", "incrbyfloat")
    c.prop_argv = [_SET, key, new, _KEEPTTL]
    return new


# -- LCS ------------------------------------------------------------------------------------------
#
# Redis fills the whole (alen+1) x (blen+1) table and walks it back from the end, preferring
# i-- when LCS(i-1,j) > LCS(i,j-1) and j-- otherwise. We compute the same table with the
# bit-parallel LCS recurrence (one Python big-int per row, or per column when the first string
# is the longer one) and walk it back with the same tie-breaking, jumping over runs of moves in
# one direction; the match ranges and the LCS string are identical to Redis's.

_BIT_TABLES: dict = {}


def _bit_table(ch: int) -> bytes:
    t = _BIT_TABLES.get(ch)
    if t is None:
        t = _BIT_TABLES[ch] = bytes(49 if i == ch else 48 for i in range(256))
    return t


def _masks(s: bytes, chars) -> dict:
    """For each byte value in ``chars``: an int with bit k set where s[k] is that byte."""
    rev = s[::-1]
    out = {}
    for ch in chars:
        m = int(rev.translate(_bit_table(ch)), 2)
        if m:
            out[ch] = m
    return out


def _lcs_vectors(rows: bytes, cols: bytes):
    """D[i]: bit k set iff LCS(rows[:i], cols[:k+1]) - LCS(rows[:i], cols[:k]) == 1."""
    masks = _masks(cols, set(rows))
    full = (1 << len(cols)) - 1
    V = full
    D = [0]
    append = D.append
    get = masks.get
    for ch in rows:
        M = get(ch)
        if M is not None:
            U = V & M
            V = ((V + U) | (V - U)) & full
        append(full ^ V)
    return D, masks


class _Ranges:
    __slots__ = ("out", "minlen", "withlen", "active", "a0", "a1", "b0", "b1")

    def __init__(self, out, minlen, withlen):
        self.out = out
        self.minlen = minlen
        self.withlen = withlen
        self.active = False

    def match(self, i, j):
        if self.active:
            self.a0, self.b0 = i, j
        else:
            self.active = True
            self.a0 = self.a1 = i
            self.b0 = self.b1 = j
        if i == 0 or j == 0:
            self.emit()

    def emit(self):
        self.active = False
        if self.out is None:
            return
        n = self.a1 - self.a0 + 1
        if self.minlen == 0 or n >= self.minlen:
            item = [[self.a0, self.a1], [self.b0, self.b1]]
            if self.withlen:
                item.append(n)
            self.out.append(item)


def _lcs_walk(a: bytes, b: bytes, rng: _Ranges):
    """The LCS string and its length; ranges are reported to ``rng``."""
    alen, blen = len(a), len(b)
    res = bytearray()
    i, j = alen, blen
    if alen <= blen:
        D, M = _lcs_vectors(a, b)
        total = D[alen].bit_count()
        while i > 0 and j > 0:
            ch = a[i - 1]
            if ch == b[j - 1]:
                res.append(ch)
                i -= 1
                j -= 1
                rng.match(i, j)
                continue
            mc = M.get(ch, 0)
            X = (mc | D[i]) & ((1 << j) - 1)
            if not X:
                if rng.active:
                    rng.emit()
                break
            p = X.bit_length() - 1
            if p + 1 < j:  # moves left (j--) up to column p+1
                if rng.active:
                    rng.emit()
                j = p + 1
            if (mc >> p) & 1:
                res.append(ch)
                i -= 1
                j -= 1
                rng.match(i, j)
            else:  # LCS(i-1,j) > LCS(i,j-1): up
                if rng.active:
                    rng.emit()
                i -= 1
    else:
        E, M = _lcs_vectors(b, a)
        total = E[blen].bit_count()
        while i > 0 and j > 0:
            ch = b[j - 1]
            if a[i - 1] == ch:
                res.append(ch)
                i -= 1
                j -= 1
                rng.match(i, j)
                continue
            low = (1 << i) - 1
            Ej, Ep = E[j], E[j - 1]
            if (Ej & low).bit_count() == (Ep & low).bit_count():
                # LCS(i,j-1) == LCS(i,j) >= LCS(i-1,j): left
                if rng.active:
                    rng.emit()
                j -= 1
                continue
            # up, and on up until a row that matches or where the horizontal step is 0
            if rng.active:
                rng.emit()
            Y = (M.get(ch, 0) | ((Ej & ~Ep) >> 1)) & ((1 << (i - 1)) - 1)
            if not Y:
                break
            i = Y.bit_length()
    res.reverse()
    return bytes(res), total


@command("lcs", -3, "readonly", "string", keys=(1, 2, 1))
def lcs(c, argv):
    db = c.db
    a = db.get(argv[1])
    count_lookup(c, a is not None, argv[1])
    b = db.get(argv[2])
    count_lookup(c, b is not None, argv[2])
    if (a is not None and not _is_str(a)) or (b is not None and not _is_str(b)):
        raise ErrorReply(errors.LCS_NOT_STRINGS)
    a = b"" if a is None else bytes(a)
    b = b"" if b is None else bytes(b)
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    n = len(argv)
    j = 3
    while j < n:
        opt = argv[j].upper()
        if opt == b"IDX":
            getidx = True
        elif opt == b"LEN":
            getlen = True
        elif opt == b"WITHMATCHLEN":
            withmatchlen = True
        elif opt == b"MINMATCHLEN" and j < n - 1:
            minmatchlen = string2ll(argv[j + 1])
            if minmatchlen is None:
                raise _NOT_INTEGER
            if minmatchlen < 0:
                minmatchlen = 0
            j += 1
        else:
            raise _SYNTAX
        j += 1
    if getlen and getidx:
        raise ErrorReply(errors.LCS_LEN_AND_IDX)
    alen, blen = len(a), len(b)
    if alen >= UINT32_MAX - 1 or blen >= UINT32_MAX - 1:
        raise ErrorReply(errors.LCS_TOO_LONG)
    if (alen + 1) * (blen + 1) * 4 > c.server.proto_max_bulk_len:
        raise ErrorReply(errors.LCS_MEMORY)
    matches = [] if getidx else None
    if alen == 0 or blen == 0:
        s, total = b"", 0
    elif getlen and not getidx:
        rows, cols = (a, b) if alen <= blen else (b, a)
        return _lcs_vectors(rows, cols)[0][-1].bit_count()
    else:
        s, total = _lcs_walk(a, b, _Ranges(matches, minmatchlen, withmatchlen))
    if getidx:
        return {b"matches": matches, b"len": total}
    if getlen:
        return total
    return s
