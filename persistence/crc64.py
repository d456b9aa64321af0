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
