"""HyperLogLog (PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST), byte for byte Redis's.

An HLL is an ordinary string value (TYPE string) with Redis 7.2.4's exact layout
(``hyperloglog.c``), so values move freely between valkeyd and Redis (GET/SET, DUMP, RDB):

* a 16-byte header: ``"HYLL"``, the encoding byte (0 dense, 1 sparse), 3 unused bytes and the
  cached cardinality (8 bytes little endian; bit 7 of its last byte set = cache invalid);
* dense: 16384 registers of 6 bits, packed from the least significant bit of each byte
  (12288 bytes);
* sparse: a run-length sequence of opcodes: ZERO ``00xxxxxx`` (1..64 zero registers), XZERO
  ``01xxxxxx yyyyyyyy`` (1..16384 zero registers) and VAL ``1vvvvvxx`` (1..4 registers of value
  1..32). A sparse HLL becomes dense when a register needs a value above 32 or when the
  string would grow beyond ``hll-sparse-max-bytes``.

Elements are hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits select the register,
the position of the first 1 bit in the remaining 50 bits (plus one) is the candidate value.
The cardinality uses Otmar Ertl's improved estimator (hllSigma / hllTau), as Redis 7.2 does.

Implementation notes. A value is modified in place (a ``bytearray``, Redis's unshared raw
string). A dense PFADD updates the packed registers directly. A sparse value is decoded once
per command into a list of opcodes with the register index each one starts at, updated with
Redis's exact split/merge rules (so the result is byte-identical to Redis's in-place edits),
and encoded back once. Histograms and merges unpack the dense registers with
``bytes.translate`` over the byte columns, not register by register.

Two places where Redis cannot be followed exactly:

* A corrupt sparse value whose last opcode is an XZERO cut by the end of the string: Redis
  reads the missing byte from past the end of its buffer (the terminator, or a byte an
  earlier update wrote there, depending on the allocation). valkeyd reads 0 there, so the
  first update after the value was written agrees with Redis, later ones may not.
* PFSELFTEST runs Redis's checks on a smaller scale (see SELFTEST_CYCLES).
"""
from __future__ import annotations

import math
import random
import re
import struct
from bisect import bisect_right
from itertools import accumulate

from ..errors import ErrorReply
from ..resp import OK, Simple
from .registry import command
from .util import read_string

# -- constants (hyperloglog.c) -------------------------------------------------------------------

HDR = 16                     # header size
P = 14
Q = 64 - P                   # 50
REGS = 1 << P                # 16384 registers
P_MASK = REGS - 1
REG_BYTES = REGS * 6 // 8    # 12288
DENSE_SIZE = HDR + REG_BYTES
DENSE, SPARSE = 0, 1
VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
ALPHA_INF = 0.721347520444481703680   # 0.5 / ln(2)

# An empty HLL: sparse, one XZERO covering all 16384 registers, cached cardinality 0 (valid).
EMPTY = b"HYLL\x01\x00\x00\x00" + bytes(8) + bytes([0x40 | ((REGS - 1) >> 8), (REGS - 1) & 0xFF])

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
INVALID = "INVALIDOBJ Corrupted HLL object detected"
NO_KEY = "ERR The specified key does not exist"
NOT_SPARSE = "ERR HLL encoding is not sparse"
UNKNOWN_SUB = "ERR Unknown PFDEBUG subcommand '%s'"

_NOT_HLL = ErrorReply(NOT_HLL)
_INVALID = ErrorReply(INVALID)

# -- MurmurHash64A (Redis's endian-neutral variant) ----------------------------------------------

_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1
_SEED = 0xADC83B19
_WORDS = {}   # word count -> struct.Struct


def murmur64a(data, seed: int = _SEED) -> int:
    n = len(data)
    m = _M
    mask = _MASK
    h = (seed ^ (n * m)) & mask
    n8 = n & ~7
    if n8:
        s = _WORDS.get(n8)
        if s is None:
            s = _WORDS[n8] = struct.Struct("<%dQ" % (n8 >> 3))
        for k in s.unpack_from(data):
            k = (k * m) & mask
            k ^= k >> 47
            h ^= (k * m) & mask
            h = (h * m) & mask
    if n & 7:
        h ^= int.from_bytes(data[n8:], "little")
        h = (h * m) & mask
    h ^= h >> 47
    h = (h * m) & mask
    return h ^ (h >> 47)


def pat_len(ele) -> tuple[int, int]:
    """hllPatLen: (register index, length of the 000..1 pattern of the hash)."""
    h = murmur64a(ele)
    rest = (h >> P) | (1 << Q)
    return h & P_MASK, (rest & -rest).bit_length()


# -- dense registers -----------------------------------------------------------------------------

def dense_get(v, reg: int) -> int:
    bit = reg * 6
    i = HDR + (bit >> 3)
    fb = bit & 7
    if fb <= 2:
        return (v[i] >> fb) & 63
    return ((v[i] >> fb) | (v[i + 1] << (8 - fb))) & 63


def dense_set(v, reg: int, val: int) -> None:
    bit = reg * 6
    i = HDR + (bit >> 3)
    fb = bit & 7
    v[i] = (v[i] & ~(63 << fb) & 0xFF) | ((val << fb) & 0xFF)
    if fb > 2:
        fb8 = 8 - fb
        v[i + 1] = (v[i + 1] & ~(63 >> fb8) & 0xFF) | (val >> fb8)


def _table(f) -> bytes:
    return bytes(f(b) & 0xFF for b in range(256))


_AND63 = _table(lambda b: b & 63)
_SHR6 = _table(lambda b: b >> 6)
_SHR4 = _table(lambda b: b >> 4)
_SHR2 = _table(lambda b: b >> 2)
_LO4_SHL2 = _table(lambda b: (b & 15) << 2)
_LO2_SHL4 = _table(lambda b: (b & 3) << 4)
_SHL6 = _table(lambda b: b << 6)
_SHL4 = _table(lambda b: b << 4)
_SHL2 = _table(lambda b: b << 2)


def _or(a: bytes, b: bytes) -> bytes:
    """Byte-wise OR of two equal-length strings (their bits never overlap here)."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def dense_to_raw(v) -> bytearray:
    """The 16384 registers of a dense HLL, one byte each."""
    regs = bytes(v[HDR:DENSE_SIZE])
    b0, b1, b2 = regs[0::3], regs[1::3], regs[2::3]
    raw = bytearray(REGS)
    raw[0::4] = b0.translate(_AND63)
    raw[1::4] = _or(b0.translate(_SHR6), b1.translate(_LO4_SHL2))
    raw[2::4] = _or(b1.translate(_SHR4), b2.translate(_LO2_SHL4))
    raw[3::4] = b2.translate(_SHR2)
    return raw


def raw_to_dense(raw) -> bytearray:
    """Pack 16384 one-byte registers (each < 64) into the 12288 bytes of the dense encoding."""
    raw = bytes(raw)
    r0, r1, r2, r3 = raw[0::4], raw[1::4], raw[2::4], raw[3::4]
    out = bytearray(REG_BYTES)
    out[0::3] = _or(r0, r1.translate(_SHL6))
    out[1::3] = _or(r1.translate(_SHR2), r2.translate(_SHL4))
    out[2::3] = _or(r2.translate(_SHR4), r3.translate(_SHL2))
    return out


# -- sparse representation -----------------------------------------------------------------------
# Opcodes are held as ints: ZERO 0x00-0x3f, VAL 0x80-0xff (one byte each) and XZERO as its two
# bytes big endian, 0x4000-0x7fff.

def _span(op: int) -> int:
    if op < 0x40:
        return op + 1
    if op < 0x100:
        return (op & 3) + 1
    return (op & 0x3FFF) + 1


def _zero_op(n: int) -> int:
    """ZERO (up to 64 registers) or XZERO (more) for a run of ``n`` zero registers."""
    return n - 1 if n <= ZERO_MAX_LEN else 0x4000 | (n - 1)


def _val_op(val: int, n: int) -> int:
    return 0x80 | ((val - 1) << 2) | (n - 1)


PROMOTE = 2
# The opcodes of a sparse body: a run of one-byte opcodes, or one XZERO (two bytes).
_TOKENS = re.compile(rb"[\x00-\x3f\x80-\xff]+|[\x40-\x7f].?", re.S).findall
# The registers covered by each one-byte opcode.
_SPANS = bytes((b + 1) if b < 0x40 else ((b & 3) + 1) if b >= 0x80 else 0 for b in range(256))


class Sparse:
    """A sparse HLL decoded for the length of one command: ``ops`` and the register index each
    opcode starts at (``starts``); ``size`` is the byte length of the whole string."""

    __slots__ = ("ops", "starts", "size", "short")

    def __init__(self, v):
        self._decode(v)

    def _decode(self, v) -> None:
        ops = []
        starts = []
        idx = 0
        short = 0
        # Runs of one-byte opcodes (ZERO, VAL) are taken whole, with their spans from a table.
        for tok in _TOKENS(v, HDR):
            b = tok[0]
            if 0x40 <= b < 0x80:   # XZERO
                starts.append(idx)
                if len(tok) == 2:
                    op = (b << 8) | tok[1]
                else:
                    # An XZERO cut by the end of the string reads the string's terminator
                    # (0); Redis goes on counting it as two bytes, one of them past the end.
                    op = b << 8
                    short = 1
                ops.append(op)
                idx += (op & 0x3FFF) + 1
            else:
                ops += tok
                starts += accumulate(tok.translate(_SPANS), initial=idx)
                idx = starts.pop()
        self.ops = ops
        self.starts = starts
        self.size = len(v)
        self.short = short

    def encode(self) -> bytes:
        """The opcodes as bytes (without the header)."""
        ops = self.ops
        if self.size - HDR == len(ops) and not self.short:   # no XZERO
            return bytes(ops)
        out = bytearray()
        j = 0
        for i in [i for i, op in enumerate(ops) if op > 0xFF]:   # the XZEROs
            out += bytes(ops[j:i])
            out += ops[i].to_bytes(2, "big")
            j = i + 1
        out += bytes(ops[j:])
        if self.short:   # the byte past the end of a corrupt value
            del out[-1]
        return bytes(out)

    def set(self, index: int, count: int, max_bytes: int) -> int:
        """hllSparseSet: 1 updated, 0 unchanged, -1 corrupt, PROMOTE (to do by the caller)."""
        if count > VAL_MAX_VALUE:
            return PROMOTE
        ops = self.ops
        starts = self.starts
        i = bisect_right(starts, index) - 1
        if i < 0:
            return -1
        op = ops[i]
        first = starts[i]
        span = _span(op)
        if index >= first + span:
            return -1   # past the last opcode
        is_val = 0x80 <= op < 0x100
        if is_val:
            if ((op >> 2) & 31) + 1 >= count:
                return 0
            if span == 1:
                ops[i] = _val_op(count, 1)
                return self._merge(i)
        elif op < 0x40 and span == 1:
            ops[i] = _val_op(count, 1)
            return self._merge(i)
        # The general case: split the opcode in up to three.
        last = first + span - 1
        seq = []
        seq_starts = []
        if is_val:
            cur = ((op >> 2) & 31) + 1
            if index != first:
                seq.append(_val_op(cur, index - first))
                seq_starts.append(first)
            seq.append(_val_op(count, 1))
            seq_starts.append(index)
            if index != last:
                seq.append(_val_op(cur, last - index))
                seq_starts.append(index + 1)
        else:
            if index != first:
                seq.append(_zero_op(index - first))
                seq_starts.append(first)
            seq.append(_val_op(count, 1))
            seq_starts.append(index)
            if index != last:
                seq.append(_zero_op(last - index))
                seq_starts.append(index + 1)
        seqlen = 0
        for o in seq:
            seqlen += 2 if o >= 0x100 else 1
        delta = seqlen - (2 if op >= 0x100 else 1)
        if delta > 0 and self.size + delta > max_bytes:
            return PROMOTE
        ops[i:i + 1] = seq
        starts[i:i + 1] = seq_starts
        self.size += delta
        return self._merge(i)

    def _merge(self, i: int) -> int:
        """Merge adjacent VAL opcodes of equal value, scanning up to 5 opcodes from the one
        before the updated one (hllSparseSet step 4)."""
        ops = self.ops
        starts = self.starts
        j = i - 1 if i > 0 else 0
        scan = 5
        end = len(ops)
        if self.short and ops[-1] < 0x100:
            end -= 1   # an opcode wholly past the end of a corrupt value
        while j < end and scan:
            scan -= 1
            o = ops[j]
            if o < 0x80 or o >= 0x100:
                j += 1
                continue
            if j + 1 < end:
                o2 = ops[j + 1]
                if 0x80 <= o2 < 0x100 and (o & 0x7C) == (o2 & 0x7C):
                    n = (o & 3) + (o2 & 3) + 2
                    if n <= VAL_MAX_LEN:
                        ops[j] = 0x80 | (o & 0x7C) | (n - 1)
                        del ops[j + 1]
                        del starts[j + 1]
                        self.size -= 1
                        end -= 1
                        continue
            j += 1
        if self.short:
            # What Redis reads back: the bytes up to the length, then the terminator.
            self._decode(bytes(HDR) + self.encode())
        return 1

    def to_raw(self):
        """hllSparseToDense's decoding: the registers one byte each, or None if corrupt."""
        raw = bytearray(REGS)
        idx = 0
        for op in self.ops:
            if 0x80 <= op < 0x100:
                n = (op & 3) + 1
                if idx + n > REGS:
                    break
                raw[idx:idx + n] = bytes((((op >> 2) & 31) + 1,)) * n
                idx += n
            else:
                idx += _span(op)
        return raw if idx == REGS else None


_ZERO_OPS = bytes(range(0x40))
_OP_BYTES = [bytes((i,)) for i in range(256)]
_TOKEN_ITER = re.compile(rb"[\x00-\x3f\x80-\xff]+|[\x40-\x7f].?", re.S).finditer


def sparse_set_inplace(v, index: int, count: int, max_bytes: int) -> int:
    """hllSparseSet directly on the bytes of ``v`` (for a few elements, where decoding the
    whole value as :class:`Sparse` does would cost more): same results, same bytes."""
    if count > VAL_MAX_VALUE:
        return PROMOTE
    first = 0
    prev = -1   # the byte offset of the opcode before the one covering ``index``
    p = -1
    span = 0
    for mt in _TOKEN_ITER(v, HDR):
        start = mt.start()
        b = v[start]
        if 0x40 <= b < 0x80:   # XZERO (its second byte may be missing: then 0)
            span = (((b & 0x3F) << 8) | (v[start + 1] if mt.end() - start == 2 else 0)) + 1
            if index < first + span:
                p = start
                break
            first += span
            prev = start
        else:   # a run of one-byte opcodes
            spans = mt.group().translate(_SPANS)
            total = sum(spans)
            if index < first + total:
                acc = list(accumulate(spans, initial=first))
                k = bisect_right(acc, index) - 1
                first = acc[k]
                span = spans[k]
                p = start + k
                if k:
                    prev = p - 1
                break
            first += total
            prev = mt.end() - 1
    if p < 0:
        return -1
    b = v[p]
    if b >= 0x80:   # VAL
        cur = ((b >> 2) & 31) + 1
        if cur >= count:
            return 0
        if span == 1:
            v[p] = _val_op(count, 1)
            return _merge_inplace(v, prev)
    elif b < 0x40 and span == 1:
        v[p] = _val_op(count, 1)
        return _merge_inplace(v, prev)
    last = first + span - 1
    seq = []
    if b >= 0x80:
        if index != first:
            seq.append(_val_op(cur, index - first))
        seq.append(_val_op(count, 1))
        if index != last:
            seq.append(_val_op(cur, last - index))
    else:
        if index != first:
            seq.append(_zero_op(index - first))
        seq.append(_val_op(count, 1))
        if index != last:
            seq.append(_zero_op(last - index))
    out = bytearray()
    for o in seq:
        if o > 0xFF:
            out += o.to_bytes(2, "big")
        else:
            out.append(o)
    oldlen = 1 if b < 0x40 or b >= 0x80 else 2
    n = len(v)
    if len(out) > oldlen and n + len(out) - oldlen > max_bytes:
        return PROMOTE
    v[p:p + oldlen] = out
    if p + oldlen > n:
        del v[-1]   # an XZERO cut short counts as two bytes: Redis's length ends one earlier
    return _merge_inplace(v, prev)


def _merge_inplace(v, prev: int) -> int:
    """Step 4 of hllSparseSet on the bytes: merge adjacent equal VALs, up to 5 opcodes from
    the one before the update; then invalidate the cached cardinality."""
    p = prev if prev >= 0 else HDR
    scan = 5
    while p < len(v) and scan:
        scan -= 1
        b = v[p]
        if b < 0x80:
            p += 1 if b < 0x40 else 2
            continue
        if p + 1 < len(v):
            b2 = v[p + 1]
            if b2 >= 0x80 and (b & 0x7C) == (b2 & 0x7C):
                n = (b & 3) + (b2 & 3) + 2
                if n <= VAL_MAX_LEN:
                    v[p + 1] = 0x80 | (b & 0x7C) | (n - 1)
                    del v[p]
                    continue
        p += 1
    v[15] |= 0x80
    return 1


def _sparse_histo(v, histo) -> bool:
    """hllSparseRegHisto; False if the registers do not add up to 16384. The one-byte opcodes
    are gathered and counted by value; only XZEROs are looked at one by one."""
    runs = []
    idx = 0
    for tok in _TOKENS(v, HDR):
        b = tok[0]
        if 0x40 <= b < 0x80:
            k = (((b & 0x3F) << 8) | (tok[1] if len(tok) == 2 else 0)) + 1
            histo[0] += k
            idx += k
        else:
            runs.append(tok)
    if runs:
        ops = b"".join(runs)
        total = sum(ops.translate(_SPANS))
        idx += total
        vals = 0
        count = ops.count
        for op in set(ops.translate(None, _ZERO_OPS)):   # the distinct VAL opcodes
            k = count(_OP_BYTES[op]) * ((op & 3) + 1)
            histo[((op >> 2) & 31) + 1] += k
            vals += k
        histo[0] += total - vals
    return idx == REGS


# The registers of each one-byte opcode.
_EXPAND = [bytes(b + 1) if b < 0x40 else bytes((((b >> 2) & 31) + 1,)) * ((b & 3) + 1)
           if b >= 0x80 else b"" for b in range(256)]


def _sparse_expand(v) -> bytes:
    """The registers of a sparse HLL, one byte each, opcode by opcode (16384 of them if the
    value is well formed)."""
    parts = []
    expand = _EXPAND.__getitem__
    for tok in _TOKENS(v, HDR):
        b = tok[0]
        if 0x40 <= b < 0x80:
            parts.append(bytes((((b & 0x3F) << 8) | (tok[1] if len(tok) == 2 else 0)) + 1))
        else:
            parts.append(b"".join(map(expand, tok)))
    return b"".join(parts)


def _sparse_merge(raw, v) -> bool:
    """hllMerge of a sparse HLL into ``raw``; False if corrupt."""
    regs = _sparse_expand(v)
    if len(regs) == REGS:   # well formed: the registers at once
        raw[:] = _bytes_max(raw, regs)
        return True
    # Redis's exact walk (a VAL past the last register ends it).
    idx = 0
    i = HDR
    n = len(v)
    while i < n:
        b = v[i]
        if b < 0x40:
            idx += b + 1
            i += 1
        elif b < 0x80:
            idx += (((b & 0x3F) << 8) | (v[i + 1] if i + 1 < n else 0)) + 1
            i += 2
        else:
            k = (b & 3) + 1
            if idx + k > REGS:
                break
            val = ((b >> 2) & 31) + 1
            for r in range(idx, idx + k):
                if raw[r] < val:
                    raw[r] = val
            idx += k
            i += 1
    return idx == REGS


_LANE_HI = int.from_bytes(b"\x80" * REGS, "little")
_LANE_LO = int.from_bytes(b"\x01" * REGS, "little")


def _bytes_max(a, b) -> bytes:
    """Byte-wise maximum of two 16384-byte strings of values below 128, on whole integers:
    each byte lane of (a | 0x80) - b keeps its borrow to itself and has bit 7 set where
    a >= b."""
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    ge = (((x | _LANE_HI) - y) >> 7) & _LANE_LO
    mask = ge * 0xFF
    return (y ^ ((x ^ y) & mask)).to_bytes(REGS, "little")


def merge_into(raw, v) -> bool:
    """hllMerge: raw[i] = max(raw[i], register i of ``v``)."""
    if v[4] == DENSE:
        raw[:] = _bytes_max(raw, dense_to_raw(v))
        return True
    return _sparse_merge(raw, v)


# -- the estimator ---------------------------------------------------------------------------------

def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        zp = z
        z += x * y
        y += y
        if zp == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        zp = z
        y *= 0.5
        d = 1 - x
        z -= d * d * y
        if zp == z:
            return z / 3


def estimate(histo) -> int:
    """hllCount's estimate from the register histogram, as the unsigned 64-bit value Redis
    computes (llroundl of a double)."""
    m = float(REGS)
    z = m * _tau((m - histo[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histo[j]
        z *= 0.5
    z += m * _sigma(histo[0] / m)
    if z == 0.0:
        return 1 << 63   # llroundl(inf) on x86-64: LLONG_MIN
    e = ALPHA_INF * m * m / z
    f = math.floor(e)
    return int(f) + (1 if e - f >= 0.5 else 0)   # round half away from zero (e >= 0)


_ONE_BYTE = [bytes((i,)) for i in range(64)]


def _histo_raw(raw) -> list:
    """The register histogram of 16384 one-byte registers (values below 64): counted value by
    value from 0 until every register is accounted for."""
    histo = [0] * 64
    count = raw.count
    left = REGS
    for i in range(64):
        n = count(_ONE_BYTE[i])
        histo[i] = n
        left -= n
        if not left:
            break
    return histo


def count_value(v):
    """The cardinality of the HLL string ``v`` (ignoring the cache), or None if corrupt."""
    if v[4] == DENSE:
        histo = _histo_raw(dense_to_raw(v))
    else:
        histo = [0] * 64
        if not _sparse_histo(v, histo):
            return None
    return estimate(histo)


def _signed(card: int) -> int:
    return card - (1 << 64) if card >= 1 << 63 else card


# -- helpers for the commands ----------------------------------------------------------------------

def _check(v) -> None:
    """isHLLObjectOrReply (the value is already known to be a string)."""
    if (len(v) < HDR or v[:4] != b"HYLL" or v[4] > SPARSE
            or (v[4] == DENSE and len(v) != DENSE_SIZE)):
        raise _NOT_HLL


def _unshare(db, key, v):
    """dbUnshareStringValue: a bytearray modified in place (OBJECT ENCODING raw)."""
    if type(v) is not bytearray:
        v = bytearray(v)
        db.set(key, v, keep_ttl=True)
    return v


def _max_bytes(c) -> int:
    return c.server.config.get_int("hll-sparse-max-bytes")


def _to_dense(v, sp: Sparse) -> bool:
    """hllSparseToDense: rewrite ``v`` dense (header kept, encoding byte 0); False if the
    sparse data is corrupt (``v`` unchanged)."""
    raw = sp.to_raw()
    if raw is None:
        return False
    v[4] = DENSE
    v[HDR:] = raw_to_dense(raw)
    return True


FEW = 3   # up to this many elements, a sparse PFADD edits the bytes in place


def add_elements(v, elements, max_bytes: int) -> tuple[int, bool]:
    """Add ``elements`` to the HLL string ``v`` in place (hllAdd for each). Returns the number
    of register updates and whether a corrupt HLL stopped it."""
    updated = 0
    n = len(elements)
    j = 0
    if v[4] == SPARSE and n <= FEW:
        while j < n:
            index, count = pat_len(elements[j])
            r = sparse_set_inplace(v, index, count, max_bytes)
            j += 1
            if r == 1:
                updated += 1
            elif r == PROMOTE:
                if not _to_dense(v, Sparse(v)):
                    return updated, True
                dense_set(v, index, count)
                updated += 1
                break
            elif r < 0:
                return updated, True
        else:
            return updated, False
    elif v[4] == SPARSE:
        sp = Sparse(v)
        changed = False
        while j < n:
            index, count = pat_len(elements[j])
            r = sp.set(index, count, max_bytes)
            j += 1
            if r == 1:
                updated += 1
                changed = True
            elif r == PROMOTE:
                if changed:
                    v[HDR:] = sp.encode()
                    v[15] |= 0x80
                if not _to_dense(v, sp):
                    return updated, True
                dense_set(v, index, count)
                updated += 1
                break
            elif r < 0:
                if changed:
                    v[HDR:] = sp.encode()
                    v[15] |= 0x80
                return updated, True
        else:
            if changed:
                v[HDR:] = sp.encode()
                v[15] |= 0x80
            return updated, False
    return updated + _dense_add(v, elements[j:] if j else elements), False


def _dense_add(v, elements) -> int:
    """hllDenseAdd for each element: the hot loop of a large PFADD, with the hash and the
    register read inlined (a register rarely changes once the HLL is dense)."""
    m = _M
    mask = _MASK
    seed = _SEED
    words = _WORDS
    top = 1 << Q
    updated = 0
    for ele in elements:
        n = len(ele)
        h = (seed ^ (n * m)) & mask
        if n < 8:
            if n:
                h = ((h ^ int.from_bytes(ele, "little")) * m) & mask
        else:
            n8 = n & ~7
            st = words.get(n8)
            if st is None:
                st = words[n8] = struct.Struct("<%dQ" % (n8 >> 3))
            for k in st.unpack_from(ele):
                k = (k * m) & mask
                k ^= k >> 47
                h = ((h ^ ((k * m) & mask)) * m) & mask
            if n & 7:
                h = ((h ^ int.from_bytes(ele[n8:], "little")) * m) & mask
        h ^= h >> 47
        h = (h * m) & mask
        h ^= h >> 47
        rest = (h >> P) | top
        count = (rest & -rest).bit_length()
        index = h & P_MASK
        bit = index * 6
        i = HDR + (bit >> 3)
        fb = bit & 7
        if fb <= 2:
            old = (v[i] >> fb) & 63
        else:
            old = ((v[i] >> fb) | (v[i + 1] << (8 - fb))) & 63
        if count > old:
            dense_set(v, index, count)
            updated += 1
    return updated


def _mark_written(c, key) -> None:
    """signalModifiedKey + server.dirty++ without a keyspace event (PFCOUNT's cache write)."""
    srv = c.server
    srv.dirty += 1
    if srv.keyspace_hooks:
        srv.key_modified(c.db, key)


# -- commands ------------------------------------------------------------------------------------

@command("pfadd", -2, "write denyoom fast", "hyperloglog", keys=(1, 1, 1))
def pfadd(c, argv):
    key = argv[1]
    db = c.db
    v = db.get_string(key)
    updated = 0
    if v is None:
        v = bytearray(EMPTY)
        db.set(key, v)
        updated = 1
    else:
        _check(v)
        v = _unshare(db, key, v)
    if len(argv) > 2:
        n, corrupt = add_elements(v, argv[2:], _max_bytes(c))
        if corrupt:
            raise _INVALID
        updated += n
    if updated:
        v[15] |= 0x80
        c.server.changed(c, key, "$", "pfadd", updated)
        return 1
    return 0


@command("pfcount", -2, "readonly may_replicate", "hyperloglog", keys=(1, -1, 1))
def pfcount(c, argv):
    if len(argv) > 2:
        raw = bytearray(REGS)
        for key in argv[1:]:
            v = read_string(c, key)
            if v is None:
                continue
            _check(v)
            if not merge_into(raw, v):
                raise _INVALID
        return _signed(estimate(_histo_raw(raw)))
    key = argv[1]
    v = read_string(c, key)
    if v is None:
        return 0
    _check(v)
    v = _unshare(c.db, key, v)
    if not v[15] & 0x80:
        return int.from_bytes(v[8:16], "little")
    card = count_value(v)
    if card is None:
        raise _INVALID
    v[8:16] = card.to_bytes(8, "little")
    _mark_written(c, key)
    return _signed(card)


@command("pfmerge", -2, "write denyoom", "hyperloglog", keys=(1, -1, 1))
def pfmerge(c, argv):
    raw = bytearray(REGS)
    use_dense = False
    for key in argv[1:]:
        v = read_string(c, key)
        if v is None:
            continue
        _check(v)
        if v[4] == DENSE:
            use_dense = True
        if not merge_into(raw, v):
            raise _INVALID
    dest = argv[1]
    db = c.db
    v = db.get_string(dest)
    if v is None:
        v = bytearray(EMPTY)
        db.set(dest, v)
    else:
        v = _unshare(db, dest, v)
    # The destination's own registers are part of ``raw``, so once dense its registers are
    # exactly ``raw``.
    if v[4] == SPARSE:
        sp = Sparse(v)
        if use_dense:
            if sp.to_raw() is None:
                raise _INVALID
            promote = True
        else:
            promote = False
            max_bytes = _max_bytes(c)
            for j, val in enumerate(raw):
                if val and sp.set(j, val, max_bytes) == PROMOTE:
                    if sp.to_raw() is not None:
                        promote = True
                        break
            if not promote:
                v[HDR:] = sp.encode()
        if promote:
            v[4] = DENSE
            v[HDR:] = raw_to_dense(raw)
    else:
        v[HDR:] = raw_to_dense(raw)
    v[15] |= 0x80
    c.server.changed(c, dest, "$", "pfadd")
    return OK


@command("pfdebug", 3, "write denyoom admin", "hyperloglog", keys=(2, 2, 1))
def pfdebug(c, argv):
    sub = argv[1]
    key = argv[2]
    db = c.db
    v = db.get_string(key)
    if v is None:
        raise ErrorReply(NO_KEY)
    _check(v)
    v = _unshare(db, key, v)
    name = sub.lower()
    if name == b"getreg":
        if v[4] == SPARSE:
            if not _to_dense(v, Sparse(v)):
                raise _INVALID
            c.server.dirty += 1
        return list(dense_to_raw(v))
    if name == b"decode":
        if v[4] != SPARSE:
            raise ErrorReply(NOT_SPARSE)
        out = []
        for op in Sparse(v).ops:
            if op < 0x40:
                out.append(b"z:%d" % (op + 1))
            elif op < 0x100:
                out.append(b"v:%d,%d" % (((op >> 2) & 31) + 1, (op & 3) + 1))
            else:
                out.append(b"Z:%d" % ((op & 0x3FFF) + 1))
        return b" ".join(out)
    if name == b"encoding":
        return Simple(b"dense" if v[4] == DENSE else b"sparse")
    if name == b"todense":
        if v[4] == SPARSE:
            if not _to_dense(v, Sparse(v)):
                raise _INVALID
            c.server.dirty += 1
            return 1
        return 0
    text = sub.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")   # a C string
    raise ErrorReply(UNKNOWN_SUB % text)


# -- PFSELFTEST ----------------------------------------------------------------------------------
# Redis runs 1000 cycles of the register test and adds 10 million elements; interpreted, that
# would block the server for minutes, so the same checks run on a smaller scale.
SELFTEST_CYCLES = 4
SELFTEST_ELEMENTS = 100000


@command("pfselftest", 1, "admin", "hyperloglog")
def pfselftest(c, argv):
    rnd = random.Random()
    dense = bytearray(DENSE_SIZE)
    # Test 1: registers keep their values and do not disturb their neighbours.
    for _ in range(SELFTEST_CYCLES):
        vals = bytes(rnd.getrandbits(6) for _ in range(REGS))
        for i in range(REGS):
            dense_set(dense, i, vals[i])
        for i in range(REGS):
            got = dense_get(dense, i)
            if got != vals[i]:
                raise ErrorReply("TESTFAILED Register %d should be %d but is %d"
                                 % (i, vals[i], got))
        if dense_to_raw(dense) != vals or raw_to_dense(vals) != dense[HDR:]:
            raise ErrorReply("TESTFAILED Register %d should be %d but is %d"
                             % (0, vals[0], dense_get(dense, 0)))
    # Test 2: the estimate stays within bounds, and dense and sparse agree.
    dense = bytearray(b"HYLL" + bytes(DENSE_SIZE - 4))
    sparse = bytearray(EMPTY)
    max_bytes = _max_bytes(c)
    relerr = 1.04 / math.sqrt(REGS)
    seed = rnd.getrandbits(64)
    checkpoint = 1
    j = 1
    while j <= SELFTEST_ELEMENTS:
        batch = [struct.pack("<Q", i ^ seed) for i in range(j, checkpoint + 1)]
        add_elements(dense, batch, max_bytes)
        add_elements(sparse, batch, max_bytes)
        j = checkpoint + 1
        if checkpoint < max_bytes / 2 and sparse[4] != SPARSE:
            raise ErrorReply("TESTFAILED sparse encoding not used")
        card = count_value(dense)
        if card != count_value(sparse):
            raise ErrorReply("TESTFAILED dense/sparse disagree")
        abserr = abs(checkpoint - card)
        maxerr = 1 if checkpoint == 10 else math.ceil(relerr * 6 * checkpoint)
        if abserr > maxerr:
            raise ErrorReply("TESTFAILED Too big error. card:%d abserr:%d" % (checkpoint, abserr))
        checkpoint *= 10
    return OK
