"""Reply values and their RESP2 / RESP3 encodings.

Handlers return plain Python values; the client encodes them for its protocol:

=====================  ===========================  ==========================
value                  RESP2                        RESP3
=====================  ===========================  ==========================
bytes / bytearray      bulk string                  bulk string
str                    bulk string (utf-8)          bulk string
int                    integer                      integer
None                   null bulk ``$-1``            null ``_``
NULL_ARRAY             null array ``*-1``           null ``_``
list / tuple           array                        array
dict                   flat array k1 v1 k2 v2 ...   map ``%``
set / frozenset        array                        set ``~``
SetReply (ordered)     array                        set ``~``
float                  bulk string                  double ``,``
bool                   integer 1/0                  boolean ``#t``/``#f``
Simple                 status ``+``                 status ``+``
ErrorReply             error ``-``                  error ``-``
Verbatim               bulk string                  verbatim ``=`` (txt)
Push                   array                        push ``>``
=====================  ===========================  ==========================
"""
from __future__ import annotations

import math
import struct
from operator import itemgetter as _itemgetter

from .errors import ErrorReply


class Simple(bytes):
    """A status reply (``+OK``)."""

    __slots__ = ()


class Verbatim(str):
    """A verbatim text reply (INFO, CLIENT LIST ...): bulk in RESP2, ``=...txt:`` in RESP3."""

    __slots__ = ()


class Push(list):
    """An out-of-band push message (pub/sub, invalidations): array in RESP2, ``>`` in RESP3."""

    __slots__ = ()


class SetReply(list):
    """A set whose order matters (SMEMBERS of an intset is ascending, of a listpack in
    insertion order, as in Redis): array in RESP2, set ``~`` in RESP3."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self):
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()
OK = Simple(b"OK")
QUEUED = Simple(b"QUEUED")
PONG = Simple(b"PONG")


class Raw(bytes):
    """Already-encoded RESP, identical for both protocols (used for precomputed replies)."""

    __slots__ = ()


_LL_HALF = float((2**63 - 1) // 2)


def format_double(d: float) -> bytes:
    """Format a double as Redis 7.2's d2string does for replies: ``nan``, ``inf``/``-inf``,
    ``0``/``-0``, exact integers up to LLONG_MAX/2 as integers, otherwise fpconv_dtoa (the
    shortest round-trip digits, laid out by its emit_digits rules: plain up to 7 zeros
    after the digits or 6 leading zeros, else ``d.ddde+N`` with no exponent padding)."""
    if d != d:
        return b"nan"
    if d == math.inf:
        return b"inf"
    if d == -math.inf:
        return b"-inf"
    if d == 0:
        return b"-0" if math.copysign(1.0, d) < 0 else b"0"
    if -_LL_HALF <= d <= _LL_HALF:
        i = int(d)
        if i == d:
            return b"%d" % i
    return _fpconv_shortest(d)


def _cached_powers():
    """Grisu's cached powers of ten 10^k, k = -348, -340 ... 340: (64-bit fraction, binary
    exponent), rounded to nearest (fpconv_powers.h)."""
    from fractions import Fraction
    out = []
    for k in range(-348, 341, 8):
        v = Fraction(10) ** k
        e = v.numerator.bit_length() - v.denominator.bit_length() - 64
        while True:
            f = v / (Fraction(2) ** e)
            if f >= 2**64:
                e += 1
            elif f < 2**63:
                e -= 1
            else:
                break
        frac = int(f)
        if f - frac >= Fraction(1, 2):
            frac += 1
        if frac == 2**64:
            frac, e = 2**63, e + 1
        out.append((frac, e))
    return out


_POWERS = None
_M64 = (1 << 64) - 1
_TENS = [10 ** i for i in range(19, -1, -1)]


def _mul(af, ae, bf, be):
    lo = 0xFFFFFFFF
    ah_bl = (af >> 32) * (bf & lo)
    al_bh = (af & lo) * (bf >> 32)
    al_bl = (af & lo) * (bf & lo)
    ah_bh = (af >> 32) * (bf >> 32)
    tmp = (ah_bl & lo) + (al_bh & lo) + (al_bl >> 32) + (1 << 31)
    return (ah_bh + (ah_bl >> 32) + (al_bh >> 32) + (tmp >> 32)) & _M64, ae + be + 64


def _grisu2(d: float):
    """fpconv's grisu2: (digits, K) with d ~= digits * 10^K (not always the shortest)."""
    global _POWERS
    if _POWERS is None:
        _POWERS = _cached_powers()
    bits = struct.unpack("<Q", struct.pack("<d", d))[0]
    frac = bits & 0x000FFFFFFFFFFFFF
    exp = (bits & 0x7FF0000000000000) >> 52
    hidden = 0x0010000000000000
    if exp:
        frac += hidden
        exp -= 1075
    else:
        exp = -1074
    # boundaries
    uf, ue = (frac << 1) + 1, exp - 1
    while not uf & (hidden << 1):
        uf <<= 1
        ue -= 1
    uf <<= 10
    ue -= 10
    ls = 2 if frac == hidden else 1
    lf, le = (frac << ls) - 1, exp - ls
    lf <<= le - ue
    le = ue
    # normalize w
    wf, we = frac, exp
    while not wf & hidden:
        wf <<= 1
        we -= 1
    wf <<= 11
    we -= 11
    # cached power
    approx = int(-(ue + 87) * 0.30102999566398114)
    idx = int((approx + 348) / 8)
    while True:
        cur = ue + _POWERS[idx][1] + 64
        if cur < -60:
            idx += 1
        elif cur > -32:
            idx -= 1
        else:
            break
    k = -348 + idx * 8
    cf, ce = _POWERS[idx]
    wf, we = _mul(wf, we, cf, ce)
    uf, ue = _mul(uf, ue, cf, ce)
    lf, le = _mul(lf, le, cf, ce)
    lf += 1
    uf -= 1
    K = -k
    # generate digits
    wfrac = uf - wf
    delta = uf - lf
    sh = -ue
    one = 1 << sh
    part1 = uf >> sh
    part2 = uf & (one - 1)
    digits = []
    kappa = 10
    i = 10
    while kappa > 0:
        div = _TENS[i]
        i += 1
        digit = part1 // div
        if digit or digits:
            digits.append(digit)
        part1 -= digit * div
        kappa -= 1
        tmp = (part1 << sh) + part2
        if tmp <= delta:
            K += kappa
            _round_digit(digits, delta, tmp, div << sh, wfrac)
            return digits, K
    unit = 18
    while True:
        part2 = (part2 * 10) & _M64
        delta = (delta * 10) & _M64
        kappa -= 1
        digit = part2 >> sh
        if digit or digits:
            digits.append(digit)
        part2 &= one - 1
        if part2 < delta:
            K += kappa
            _round_digit(digits, delta, part2, one, (wfrac * _TENS[unit]) & _M64)
            return digits, K
        unit -= 1


def _round_digit(digits, delta, rem, kappa, frac):
    while rem < frac and delta - rem >= kappa and (
            rem + kappa < frac or frac - rem > rem + kappa - frac):
        digits[-1] -= 1
        rem += kappa


def fpconv_dtoa(d: float) -> bytes:
    """Redis's fpconv_dtoa (grisu2 digits laid out by emit_digits): how a Lua number becomes
    a command argument in ``redis.call``, and the non-integer case of :func:`format_double`."""
    if d != d:
        return b"nan"
    if d == math.inf:
        return b"inf"
    if d == -math.inf:
        return b"-inf"
    if d == 0:
        return b"-0" if math.copysign(1.0, d) < 0 else b"0"
    neg = d < 0
    dl, K = _grisu2(-d if neg else d)
    return _emit_digits("".join(map(str, dl)), K, neg)


def _emit_digits(digits: str, k: int, neg: bool) -> bytes:
    """fpconv's emit_digits: the decimal ``digits`` times 10**k, as plain digits, a decimal
    fraction or d.ddde+x, whichever fpconv picks."""
    n = len(digits)
    exp = abs(k + n - 1)
    if k >= 0 and exp < n + 7:
        s = digits + "0" * k
    elif k < 0 and (k > -7 or exp < 4):
        off = n + k
        if off <= 0:
            s = "0." + "0" * (-off) + digits
        else:
            s = digits[:off] + "." + digits[off:]
    else:
        s = digits[0]
        if n > 1:
            s += "." + digits[1:]
        s += "e" + ("-" if k + n - 1 < 0 else "+") + str(exp)
    return (("-" + s) if neg else s).encode()


def _fpconv_shortest(d: float) -> bytes:
    """fpconv_dtoa's layout of the shortest round-trip digits (Python's repr): equal to
    grisu2's digits except in rare cases, and much faster (used by format_double)."""
    neg = d < 0
    r = repr(-d if neg else d)
    e = 0
    if "e" in r:
        r, ex = r.split("e")
        e = int(ex)
    if "." in r:
        ip, fp = r.split(".")
        digits = ip + fp
        e -= len(fp)
    else:
        digits = r
    digits = digits.lstrip("0")
    t = digits.rstrip("0")
    e += len(digits) - len(t)
    return _emit_digits(t, e, neg)


_OK2 = b"+OK\r\n"


# -- arrays of plain byte strings (LRANGE, SMEMBERS, HKEYS ...), built without a Python loop ----
_HEADERS = [b"$%d" % n for n in range(4096)]   # bulk headers by length, without the CRLF
_BYTES_ONLY = {bytes}
_CRLF = b"\r\n"


def _bulks(v) -> bytes | None:
    """The bulk strings of the elements of ``v`` back to back, or None unless every element is
    exactly ``bytes`` (a subclass such as Simple or Raw encodes differently) shorter than 4 KB.
    One C-level pass: headers and elements interleaved, joined with CRLF."""
    if set(map(type, v)) != _BYTES_ONLY:
        return None
    lens = list(map(len, v))
    try:
        headers = _itemgetter(*lens)(_HEADERS)
    except IndexError:   # an element of 4 KB or more
        return None
    parts = [_CRLF] * (2 * len(lens) + 1)
    parts[:-1:2] = headers
    parts[1::2] = v
    parts[-1] = b""
    return _CRLF.join(parts)


def encode2(v, out) -> None:
    """Append the RESP2 encoding of ``v`` to the list ``out``."""
    t = type(v)
    if t is bytes or t is bytearray:
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif v is None:
        out.append(b"$-1\r\n")
    elif t is Simple:
        out.append(b"+%b\r\n" % v)
    elif t is list or t is tuple or t is Push:
        out.append(b"*%d\r\n" % len(v))
        if len(v) > 2:
            b = _bulks(v)
            if b is not None:
                out.append(b)
                return
        for x in v:
            encode2(x, out)
    elif t is Raw:
        out.append(v)
    elif t is str or t is Verbatim:
        b = v.encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    elif t is dict:
        out.append(b"*%d\r\n" % (2 * len(v)))
        for k, x in v.items():
            encode2(k, out)
            encode2(x, out)
    elif t is SetReply or t is set or t is frozenset:
        out.append(b"*%d\r\n" % len(v))
        if len(v) > 2:
            b = _bulks(v)
            if b is not None:
                out.append(b)
                return
        for x in v:
            encode2(x, out)
    elif t is float:
        b = format_double(v)
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    elif t is bool:
        out.append(b":1\r\n" if v else b":0\r\n")
    elif v is NULL_ARRAY:
        out.append(b"*-1\r\n")
    elif isinstance(v, ErrorReply):
        out.append(b"-%b\r\n" % _errbytes(v.msg))
    elif isinstance(v, int):
        out.append(b":%d\r\n" % v)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")


def encode3(v, out) -> None:
    """Append the RESP3 encoding of ``v`` to the list ``out``."""
    t = type(v)
    if t is bytes or t is bytearray:
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif v is None:
        out.append(b"_\r\n")
    elif t is Simple:
        out.append(b"+%b\r\n" % v)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(v))
        if len(v) > 2:
            b = _bulks(v)
            if b is not None:
                out.append(b)
                return
        for x in v:
            encode3(x, out)
    elif t is Raw:
        out.append(v)
    elif t is dict:
        out.append(b"%%%d\r\n" % len(v))
        for k, x in v.items():
            encode3(k, out)
            encode3(x, out)
    elif t is str:
        b = v.encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    elif t is SetReply or t is set or t is frozenset:
        out.append(b"~%d\r\n" % len(v))
        if len(v) > 2:
            b = _bulks(v)
            if b is not None:
                out.append(b)
                return
        for x in v:
            encode3(x, out)
    elif t is float:
        out.append(b",%b\r\n" % format_double(v))
    elif t is bool:
        out.append(b"#t\r\n" if v else b"#f\r\n")
    elif t is Verbatim:
        b = v.encode()
        out.append(b"=%d\r\ntxt:%b\r\n" % (len(b) + 4, b))
    elif t is Push:
        out.append(b">%d\r\n" % len(v))
        for x in v:
            encode3(x, out)
    elif v is NULL_ARRAY:
        out.append(b"_\r\n")
    elif isinstance(v, ErrorReply):
        out.append(b"-%b\r\n" % _errbytes(v.msg))
    elif isinstance(v, int):
        out.append(b":%d\r\n" % v)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")


def _errbytes(msg) -> bytes:
    b = msg.encode("utf-8", "surrogateescape") if isinstance(msg, str) else bytes(msg)
    # An error reply is a single line: Redis replaces CR/LF with spaces.
    if b"\r" in b or b"\n" in b:
        b = b.replace(b"\r", b" ").replace(b"\n", b" ")
    return b


def error_bytes(msg: str) -> bytes:
    return b"-%b\r\n" % _errbytes(msg)


def encode(v, proto: int = 2) -> bytes:
    out: list = []
    (encode3 if proto == 3 else encode2)(v, out)
    return b"".join(out)
