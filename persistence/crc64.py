"""CRC-64 as Redis computes it (crc64.c): the "Jones" polynomial, reflected.

Parameters (Redis's crc64.c header): width 64, poly 0xad93d23594c935a9, input and output
reflected, init 0, xorout 0; check value for b"123456789" is 0xe9c6d914c4b8d9ca.
RDB files and DUMP / FUNCTION DUMP payloads end with this checksum, stored little-endian.

No C-backed CRC-64 package is available in the environment, so this is table-driven pure
Python. Short inputs (DUMP payloads) go one byte per step through a 256-entry table. Long
inputs (whole RDB files) go four bytes per step through two 65536-entry tables, built on
first use: the cost is dominated by interpreter iterations, so fewer, wider steps win.

    crc64(crc, data) -> int      continue a checksum (start with 0)
    crc64_bytes(crc) -> bytes    the 8 little-endian bytes stored after a payload
    crc64_lanes(crc, data)       the same as crc64, much faster on big inputs
    crc64_stream(src, dst, crc)  the RDB writer's helper process: CRC of a stream
"""
from __future__ import annotations

import struct

POLY_REFLECTED = 0x95AC9329AC4BC9B5   # bit-reversed 0xad93d23594c935a9
_MASK = 0xFFFFFFFFFFFFFFFF


def _byte_table() -> list:
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY_REFLECTED if c & 1 else c >> 1
        t.append(c)
    return t


T8 = _byte_table()
_T16 = None   # (two 16-bit tables), built lazily for long inputs
_WIDE_MIN = 4096


def _build_wide():
    global _T16
    t8 = T8
    # lo[x]: the register after feeding two bytes whose xor with the register's low 16 bits
    # is x (the rest of the register shifted out); hi[x]: the same, then two zero bytes.
    lo = []
    for x in range(65536):
        a = t8[x & 0xFF]
        lo.append(t8[(a ^ (x >> 8)) & 0xFF] ^ (a >> 8))
    hi = [(lo[v & 0xFFFF] ^ (v >> 16)) for v in lo]
    _T16 = (lo, hi)
    return _T16


def crc64(crc: int, data) -> int:
    """Continue the CRC-64 ``crc`` (0 to start) over ``data`` (bytes-like)."""
    n = len(data)
    t8 = T8
    if n >= _WIDE_MIN:
        lo, hi = _T16 or _build_wide()
        words = n >> 2
        mv = memoryview(data).cast("B")
        # 4 bytes per step: the register's low 32 bits meet one little-endian word.
        for w in struct.unpack_from("<%dI" % words, mv):
            x = crc ^ w
            crc = hi[x & 0xFFFF] ^ lo[(x >> 16) & 0xFFFF] ^ (crc >> 32)
        data = bytes(mv[words * 4:])
    for b in data:
        crc = t8[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def crc64_bytes(crc: int) -> bytes:
    """The checksum as stored in RDB files and DUMP payloads (little-endian)."""
    return (crc & _MASK).to_bytes(8, "little")


# -- many lanes at once (big inputs) ---------------------------------------------------------
_LANE_PLANES = None   # byte j of T8[x], as 8 bytes.translate tables
_LANES = 16384


def _lane_planes() -> list:
    global _LANE_PLANES
    if _LANE_PLANES is None:
        _LANE_PLANES = [bytes((T8[x] >> (8 * j)) & 0xFF for x in range(256)) for j in range(8)]
    return _LANE_PLANES


_ZEROS = {}


def _zeros_operator(n: int) -> list:
    ops = _ZEROS.get(n)
    if ops is None:
        if len(_ZEROS) > 16:
            _ZEROS.clear()
        ops = _ZEROS[n] = _zeros_tables(n)
    return ops


def _zeros_tables(n: int) -> list:
    """The register after ``n`` zero bytes, as 8 tables of 256 (one per register byte): the
    CRC is linear, so crc(A || B) = zeros_n(crc(A)) ^ crc(B) with len(B) == n."""
    basis = [crc64(1 << k, bytes(n)) for k in range(64)]
    tabs = []
    for j in range(8):
        t = [0] * 256
        for x in range(1, 256):
            low = x & -x
            t[x] = t[x ^ low] ^ basis[8 * j + low.bit_length() - 1]
        tabs.append(t)
    return tabs


def crc64_lanes(crc: int, data) -> int:
    """crc64 for big inputs, about 5x faster in pure Python: the input is cut into 16384
    equal lanes whose CRCs advance together, one byte of every lane per step. The 16384
    registers are kept as 8 "byte planes" (byte j of every register, as one big int), so a
    step is one ``bytes.translate`` per plane (the table lookup of all lanes at once) and
    big-int XORs. The lane CRCs are then chained with the zero-bytes operator."""
    n = len(data)
    # about sqrt(2n) lanes balance the per-step cost against the chaining (one interpreted
    # step per lane), within [1024, _LANES]
    lanes = min(_LANES, max(1024, 1 << ((2 * n).bit_length() // 2)))
    step = n // lanes
    if step < 64:
        return crc64(crc, data)
    p0, p1, p2, p3, p4, p5, p6, p7 = _lane_planes()
    body = bytes(memoryview(data).cast("B")[:step * lanes])
    fb = int.from_bytes
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = 0
    for i in range(step):
        idx = (r0 ^ fb(body[i::step], "little")).to_bytes(lanes, "little")
        r0 = fb(idx.translate(p0), "little") ^ r1
        r1 = fb(idx.translate(p1), "little") ^ r2
        r2 = fb(idx.translate(p2), "little") ^ r3
        r3 = fb(idx.translate(p3), "little") ^ r4
        r4 = fb(idx.translate(p4), "little") ^ r5
        r5 = fb(idx.translate(p5), "little") ^ r6
        r6 = fb(idx.translate(p6), "little") ^ r7
        r7 = fb(idx.translate(p7), "little")
    inter = bytearray(8 * lanes)
    for j, r in enumerate((r0, r1, r2, r3, r4, r5, r6, r7)):
        inter[j::8] = r.to_bytes(lanes, "little")
    t0, t1, t2, t3, t4, t5, t6, t7 = _zeros_operator(step)
    acc = crc
    for c in struct.unpack("<%dQ" % lanes, inter):
        acc = (t0[acc & 255] ^ t1[(acc >> 8) & 255] ^ t2[(acc >> 16) & 255]
               ^ t3[(acc >> 24) & 255] ^ t4[(acc >> 32) & 255] ^ t5[(acc >> 40) & 255]
               ^ t6[(acc >> 48) & 255] ^ t7[acc >> 56]) ^ c
    return crc64(acc, memoryview(data).cast("B")[step * lanes:])


def crc64_stream(src, dst, crc: int = 0, block: int = 1 << 22) -> None:
    """The CRC-64 helper process of the RDB writer (persistence/rdb_save._CRCHelper): fold
    everything read from ``src`` (a binary stream, read in ``block``-byte pieces) into
    ``crc`` with :func:`crc64_lanes`, then write the result's 8 little-endian bytes to
    ``dst``."""
    while True:
        data = src.read(block)
        if not data:
            break
        crc = crc64_lanes(crc, data)
    dst.write(crc.to_bytes(8, "little"))
    dst.flush()
