"""Bitmap commands on strings (Redis 7.2.4 ``bitops.c``).

SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.

A bitmap is an ordinary string: bit 0 is the most significant bit of the first byte. There is
no value type of its own. A command that writes bits turns the value into a ``bytearray``
modified in place (OBJECT ENCODING "raw", as Redis's ``dbUnshareStringValue``), growing it with
zero bytes as far as the highest bit written. BITOP stores a new raw string.

Whole-string work never loops in Python per bit or per byte: population counts use
``int.from_bytes(...).bit_count()``, BITOP combines the sources as Python integers (little
endian, so that shorter sources are zero-padded on the right for free), BITPOS skips runs of
0x00/0xff bytes with ``lstrip``.
"""
from __future__ import annotations

from .. import errors
from ..errors import ErrorReply
from ..protocol import string2ll
from .registry import command
from .util import read_string

_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)
_BIT_OFFSET = ErrorReply(errors.BIT_OFFSET)
_BIT_VALUE = ErrorReply(errors.BIT_VALUE)
_BITPOS_BIT = ErrorReply(errors.BITPOS_BIT)
_BITFIELD_TYPE = ErrorReply(errors.BITFIELD_TYPE)

_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63


def _i64(x: int) -> int:
    """``x`` as a C int64_t after two's complement wrap-around."""
    x &= _MASK64
    return x - (1 << 64) if x & _SIGN64 else x


def _cstr(b: bytes) -> bytes:
    """The argument as C's strcasecmp/strlen see it: up to its first NUL byte."""
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


def _int_arg(b) -> int:
    v = string2ll(b)
    if v is None:
        raise _NOT_INTEGER
    return v


def _unit_is_bit(b) -> bool:
    """The BYTE|BIT argument of BITCOUNT and BITPOS."""
    u = _cstr(b).lower()
    if u == b"bit":
        return True
    if u == b"byte":
        return False
    raise _SYNTAX


def _bit_offset(c, arg, bits: int = 0) -> int:
    """getBitOffsetFromArgument: a bit offset; with ``bits`` > 0 (BITFIELD) the ``#N`` form
    means N * bits. Offsets at or past proto-max-bulk-len bytes are refused (except for a
    client whose commands must be obeyed: the primary or the AOF loader)."""
    hashed = bits > 0 and arg[:1] == b"#"
    v = string2ll(arg[1:] if hashed else arg)
    if v is None:
        raise _BIT_OFFSET
    if hashed:
        v = _i64(v * bits)  # Redis multiplies in a long long
    if v < 0 or ((v >> 3) >= c.server.proto_max_bulk_len and not getattr(c, "must_obey", False)):
        raise _BIT_OFFSET
    return v


def _string_for_bits(c, key, maxbit: int):
    """lookupStringForBitCommand: the value at ``key`` as a bytearray at least long enough
    to address ``maxbit``, created or zero-padded as needed. Returns ``(value, grown)``;
    ``grown`` is True when the key was created or made longer. WRONGTYPE otherwise."""
    db = c.db
    v = db.get_string(key)
    need = (maxbit >> 3) + 1
    if v is None:
        v = bytearray(need)
        db.set(key, v)
        return v, True
    if type(v) is not bytearray:
        v = bytearray(v)
        db.set(key, v, keep_ttl=True)
    if len(v) < need:
        v.extend(bytes(need - len(v)))
        return v, True
    return v, False


_CHUNK = 1 << 20  # long strings are scanned in 1 MB pieces (bounded transient memory)


def _popcount(v, start: int, end: int) -> int:
    """Set bits in bytes ``start..end`` (inclusive) of ``v``."""
    frm = int.from_bytes
    end += 1
    if end - start <= _CHUNK:
        if start == 0 and end == len(v):
            return frm(v, "little").bit_count()
        return frm(v[start:end], "little").bit_count()
    mv = memoryview(v)
    try:
        return sum(frm(mv[i:min(i + _CHUNK, end)], "little").bit_count()
                   for i in range(start, end, _CHUNK))
    finally:
        mv.release()  # a bytearray with a live view could not be resized


# -- SETBIT / GETBIT ------------------------------------------------------------------------------

@command("setbit", 4, "write denyoom", "bitmap", keys=(1, 1, 1))
def setbit(c, argv):
    key = argv[1]
    off = _bit_offset(c, argv[2])
    on = string2ll(argv[3])
    if on is None or on & ~1:
        raise _BIT_VALUE
    v, grown = _string_for_bits(c, key, off)
    byte = off >> 3
    mask = 0x80 >> (off & 7)
    old = v[byte] & mask
    if grown or bool(old) != on:
        if on:
            v[byte] |= mask
        else:
            v[byte] &= ~mask & 0xFF
        c.server.changed(c, key, "$", "setbit")
    return 1 if old else 0


@command("getbit", 3, "readonly fast", "bitmap", keys=(1, 1, 1))
def getbit(c, argv):
    off = _bit_offset(c, argv[2])
    v = read_string(c, argv[1])
    if v is None:
        return 0
    byte = off >> 3
    if byte >= len(v):
        return 0
    return 1 if v[byte] & (0x80 >> (off & 7)) else 0


# -- BITCOUNT / BITPOS ----------------------------------------------------------------------------

@command("bitcount", -2, "readonly", "bitmap", keys=(1, 1, 1))
def bitcount(c, argv):
    v = read_string(c, argv[1])  # a missing key is 0 whatever the other arguments are
    if v is None:
        return 0
    n = len(argv)
    if n == 2:
        return _popcount(v, 0, len(v) - 1)
    if n != 4 and n != 5:
        raise _SYNTAX
    start = _int_arg(argv[2])
    end = _int_arg(argv[3])
    if start < 0 and end < 0 and start > end:
        return 0
    isbit = n == 5 and _unit_is_bit(argv[4])
    total = len(v) << 3 if isbit else len(v)
    if start < 0:
        start += total
    if end < 0:
        end += total
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= total:
        end = total - 1
    if start > end:
        return 0
    if not isbit:
        return _popcount(v, start, end)
    sb, eb = start >> 3, end >> 3
    count = _popcount(v, sb, eb)
    # Bits of the edge bytes outside the range.
    head = v[sb] & (0xFF00 >> (start & 7)) & 0xFF
    tail = v[eb] & ((1 << (7 - (end & 7))) - 1)
    return count - head.bit_count() - tail.bit_count()


def _first_bit(v, bit: int, sbit: int, ebit: int):
    """Position of the first bit equal to ``bit`` in bits ``sbit..ebit`` of ``v``, or None."""
    s, e = sbit >> 3, ebit >> 3
    flip = 0 if bit else 0xFF           # after flipping, look for the first 1 bit
    head = (0xFF00 >> (sbit & 7)) & 0xFF  # bits of the first byte before sbit
    tail = (1 << (7 - (ebit & 7))) - 1    # bits of the last byte after ebit
    if s == e:
        t = (v[s] ^ flip) & ~(head | tail) & 0xFF
        return (s << 3) + 8 - t.bit_length() if t else None
    t = (v[s] ^ flip) & ~head & 0xFF
    if t:
        return (s << 3) + 8 - t.bit_length()
    skip = bytes((flip,))
    for i in range(s + 1, e, _CHUNK):
        j = min(i + _CHUNK, e)
        chunk = v[i:j]
        rest = chunk.lstrip(skip)
        if rest:
            t = rest[0] ^ flip
            return ((i + len(chunk) - len(rest)) << 3) + 8 - t.bit_length()
    t = (v[e] ^ flip) & ~tail & 0xFF
    return (e << 3) + 8 - t.bit_length() if t else None


@command("bitpos", -3, "readonly", "bitmap", keys=(1, 1, 1))
def bitpos(c, argv):
    bit = _int_arg(argv[2])
    if bit != 0 and bit != 1:
        raise _BITPOS_BIT
    v = read_string(c, argv[1])
    if v is None:  # an endless run of zeros
        return -1 if bit else 0
    n = len(argv)
    end_given = False
    isbit = False
    if n == 3:
        start, end = 0, len(v) - 1
    elif n <= 6:
        start = _int_arg(argv[3])
        if n == 6:
            isbit = _unit_is_bit(argv[5])
        if n >= 5:
            end = _int_arg(argv[4])
            end_given = True
        else:
            end = len(v) - 1
        total = len(v) << 3 if isbit else len(v)
        if start < 0:
            start += total
        if end < 0:
            end += total
        if start < 0:
            start = 0
        if end < 0:
            end = 0
        if end >= total:
            end = total - 1
    else:
        raise _SYNTAX
    if start > end:
        return -1
    if isbit:
        sbit, ebit = start, end
    else:
        sbit, ebit = start << 3, (end << 3) + 7
    pos = _first_bit(v, bit, sbit, ebit)
    if pos is not None:
        return pos
    if bit or end_given:
        return -1
    # Looking for a clear bit without an explicit end: the string continues with zeros.
    return ebit + 1


# -- BITOP ----------------------------------------------------------------------------------------

_BITOPS = {b"and": 0, b"or": 1, b"xor": 2, b"not": 3}


@command("bitop", -4, "write denyoom", "bitmap", keys=(2, -1, 1))
def bitop(c, argv):
    op = _BITOPS.get(_cstr(argv[1]).lower())
    if op is None:
        raise _SYNTAX
    if op == 3 and len(argv) != 4:
        raise ErrorReply(errors.BITOP_NOT_ONE_KEY)
    srcs = [read_string(c, k) for k in argv[3:]]
    maxlen = 0
    for s in srcs:
        if s is not None and len(s) > maxlen:
            maxlen = len(s)
    dest = argv[2]
    db = c.db
    if not maxlen:
        if db.delete(dest):
            c.server.changed(c, dest, "g", "del")
        return 0
    # Little endian: a shorter (or missing) source is zero-padded at the high end.
    frm = int.from_bytes
    if op == 3:
        acc = frm(srcs[0], "little") ^ ((1 << (maxlen << 3)) - 1)
    else:
        it = iter(srcs)
        first = next(it)
        acc = 0 if first is None else frm(first, "little")
        for s in it:
            x = 0 if s is None else frm(s, "little")
            if op == 0:
                acc &= x
            elif op == 1:
                acc |= x
            else:
                acc ^= x
    db.set(dest, bytearray(acc.to_bytes(maxlen, "little")))
    c.server.changed(c, dest, "$", "set")
    return maxlen


# -- BITFIELD -------------------------------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2
_SUBCMDS = {b"get": (_GET, 2), b"set": (_SET, 3), b"incrby": (_INCRBY, 3)}
_OVERFLOWS = {b"wrap": _WRAP, b"sat": _SAT, b"fail": _FAIL}


def _bitfield_type(arg):
    """getBitfieldTypeFromArgument: ``(signed, bits)`` from i1..i64 / u1..u63."""
    sign = arg[:1]
    if sign == b"i":
        signed = True
    elif sign == b"u":
        signed = False
    else:
        raise _BITFIELD_TYPE
    bits = string2ll(_cstr(arg[1:]))
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise _BITFIELD_TYPE
    return signed, bits


def _field_get(v, off: int, bits: int) -> int:
    """The unsigned value of ``bits`` bits at bit ``off`` (zeros past the end of ``v``)."""
    s = off >> 3
    n = ((off + bits - 1) >> 3) - s + 1
    chunk = v[s:s + n]
    x = int.from_bytes(chunk, "big")
    if len(chunk) < n:
        x <<= (n - len(chunk)) << 3
    return (x >> ((n << 3) - (off & 7) - bits)) & ((1 << bits) - 1)


def _field_set(v: bytearray, off: int, bits: int, value: int) -> None:
    """Store the low ``bits`` bits of ``value`` at bit ``off`` (``v`` is long enough)."""
    s = off >> 3
    n = ((off + bits - 1) >> 3) - s + 1
    shift = (n << 3) - (off & 7) - bits
    mask = ((1 << bits) - 1) << shift
    x = int.from_bytes(v[s:s + n], "big")
    x = (x & ~mask) | ((value << shift) & mask)
    v[s:s + n] = x.to_bytes(n, "big")


def _signed_overflow(value: int, incr: int, bits: int, owtype: int):
    """checkSignedBitfieldOverflow, with its int64 wrap-arounds: ``(overflow, limit)``.
    ``overflow`` is 1 (too big), -1 (too small) or 0; ``limit`` is the value to store for
    WRAP and SAT (None for FAIL)."""
    mx = (1 << (bits - 1)) - 1
    mn = -mx - 1
    maxincr = _i64(mx - value)
    minincr = _i64(mn - value)
    if (value > mx or (bits != 64 and incr > maxincr)
            or (value >= 0 and incr > 0 and incr > maxincr)):
        ov, sat = 1, mx
    elif (value < mn or (bits != 64 and incr < minincr)
            or (value < 0 and incr < 0 and incr < minincr)):
        ov, sat = -1, mn
    else:
        return 0, None
    if owtype == _SAT:
        return ov, sat
    if owtype == _WRAP:
        low = (value + incr) & ((1 << bits) - 1)
        return ov, low - (1 << bits) if low >> (bits - 1) else low
    return ov, None


def _unsigned_overflow(value: int, incr: int, bits: int, owtype: int):
    """checkUnsignedBitfieldOverflow (``value`` is a uint64): ``(overflow, limit)``."""
    mx = (1 << bits) - 1
    if value > mx or (incr > 0 and incr > _i64(mx - value)):
        ov, sat = 1, mx
    elif incr < 0 and incr < _i64(-value):
        ov, sat = -1, 0
    else:
        return 0, None
    if owtype == _SAT:
        return ov, sat
    if owtype == _WRAP:
        return ov, (value + incr) & mx
    return ov, None


def _bitfield(c, argv, ro: bool):
    ops = []
    owtype = _WRAP
    readonly = True
    highest = 0
    n = len(argv)
    j = 2
    while j < n:
        remargs = n - j - 1
        sub = _cstr(argv[j]).lower()
        spec = _SUBCMDS.get(sub)
        if spec is None or remargs < spec[1]:
            if sub == b"overflow" and remargs >= 1:
                owtype = _OVERFLOWS.get(_cstr(argv[j + 1]).lower())
                if owtype is None:
                    raise ErrorReply(errors.BITFIELD_OVERFLOW)
                j += 2
                continue
            raise _SYNTAX
        opcode = spec[0]
        signed, bits = _bitfield_type(argv[j + 1])
        off = _bit_offset(c, argv[j + 2], bits)
        arg = 0
        if opcode != _GET:
            readonly = False
            if highest < off + bits - 1:
                highest = off + bits - 1
            arg = _int_arg(argv[j + 3])
        ops.append((opcode, signed, bits, off, arg, owtype))
        j += 1 + spec[1]

    key = argv[1]
    grown = False
    if readonly:
        v = read_string(c, key)  # WRONGTYPE even when there is nothing to do
    else:
        if ro:
            raise ErrorReply(errors.BITFIELD_RO_GET)
        v, grown = _string_for_bits(c, key, highest)

    out = []
    changes = 0
    for opcode, signed, bits, off, arg, ow in ops:
        if opcode == _GET:
            if v is None:
                out.append(0)
                continue
            x = _field_get(v, off, bits)
            if signed and x >> (bits - 1):
                x -= 1 << bits
            out.append(x)
            continue
        old = _field_get(v, off, bits)
        if signed:
            if old >> (bits - 1):
                old -= 1 << bits
            if opcode == _INCRBY:
                ov, lim = _signed_overflow(old, arg, bits, ow)
                new = lim if ov else old + arg
                ret = new
            else:
                ov, lim = _signed_overflow(arg, 0, bits, ow)
                new = lim if ov else arg
                ret = old
        else:
            if opcode == _INCRBY:
                ov, lim = _unsigned_overflow(old, arg, bits, ow)
                new = lim if ov else old + arg
                ret = new
            else:
                ov, lim = _unsigned_overflow(arg & _MASK64, 0, bits, ow)
                new = lim if ov else arg
                ret = old
        if ov and ow == _FAIL:
            out.append(None)
            continue
        out.append(ret)
        _field_set(v, off, bits, new)
        if grown or old != new:
            changes += 1
    if changes:
        c.server.changed(c, key, "$", "setbit", changes)
    return out


@command("bitfield", -2, "write denyoom", "bitmap", keys=(1, 1, 1))
def bitfield(c, argv):
    return _bitfield(c, argv, False)


@command("bitfield_ro", -2, "readonly fast", "bitmap", keys=(1, 1, 1))
def bitfield_ro(c, argv):
    return _bitfield(c, argv, True)
