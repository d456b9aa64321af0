"""RDB encoding primitives shared by DUMP payloads, FUNCTION DUMP and the RDB file codec.

Facts from Redis 7.2.4 (rdb.c / rdb.h), written here as small functions:

* **Length encoding** (rdbSaveLen / rdbLoadLenByRef): the top two bits of the first byte say
  ``00`` 6-bit length, ``01`` 14-bit length (big-endian, 2 bytes), ``10`` then a full byte
  0x80 (32-bit big-endian length follows) or 0x81 (64-bit big-endian), ``11`` a special
  string encoding in the low 6 bits (0 int8, 1 int16, 2 int32 — little-endian signed —,
  3 LZF).
* **Strings** (rdbSaveRawString): a string of at most 11 bytes that is a canonical integer in
  the int32 range is stored integer-encoded; else, when ``rdbcompression`` is on and it is
  longer than 20 bytes, LZF-compressed if that saves at least 4 bytes
  (``0xC3 <compressed len> <original len> <data>``); else ``<len> <bytes>``. python-lzf wraps
  the same liblzf as Redis (same HLOG 16 settings), so the compressed bytes are identical.
* **Payload footer** (DUMP, RESTORE, FUNCTION DUMP/RESTORE): 2 bytes RDB version
  little-endian, then the CRC-64 of everything before (persistence/crc64.py), little-endian.

Reading works on a :class:`Reader` over a bytes object; any truncation or bad encoding
raises :class:`RDBError` (callers turn it into their own error text).
"""
from __future__ import annotations

import lzf

from .crc64 import crc64, crc64_bytes

RDB_VERSION = 11          # Redis 7.2.4 (valkey 8.0 writes 11 too)

# Opcodes (rdb.h)
RDB_OPCODE_FUNCTION2 = 245
RDB_OPCODE_FUNCTION_PRE_GA = 246
RDB_OPCODE_MODULE_AUX = 247
RDB_OPCODE_IDLE = 248
RDB_OPCODE_FREQ = 249
RDB_OPCODE_AUX = 250
RDB_OPCODE_RESIZEDB = 251
RDB_OPCODE_EXPIRETIME_MS = 252
RDB_OPCODE_EXPIRETIME = 253
RDB_OPCODE_SELECTDB = 254
RDB_OPCODE_EOF = 255

RDB_ENC_INT8, RDB_ENC_INT16, RDB_ENC_INT32, RDB_ENC_LZF = 0, 1, 2, 3


class RDBError(Exception):
    """Truncated or malformed RDB data."""


# -- writing ----------------------------------------------------------------------------------
def encode_len(n: int) -> bytes:
    if n < 0x40:
        return bytes((n,))
    if n < 0x4000:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def _int_encoding(s: bytes) -> bytes | None:
    """rdbTryIntegerEncoding: a canonical decimal integer (as string2ll accepts) in int32."""
    if not s or len(s) > 11:
        return None
    body = s[1:] if s[:1] == b"-" else s
    if not body.isdigit() or not body.isascii():
        return None
    if (body[:1] == b"0" and (len(body) > 1 or s[:1] == b"-")):
        return None   # leading zeros and "-0" are not canonical
    v = int(s)
    if -0x80 <= v <= 0x7F:
        return bytes((0xC0 | RDB_ENC_INT8, v & 0xFF))
    if -0x8000 <= v <= 0x7FFF:
        return bytes((0xC0 | RDB_ENC_INT16,)) + (v & 0xFFFF).to_bytes(2, "little")
    if -0x80000000 <= v <= 0x7FFFFFFF:
        return bytes((0xC0 | RDB_ENC_INT32,)) + (v & 0xFFFFFFFF).to_bytes(4, "little")
    return None


def encode_string(s: bytes, compress: bool = True) -> bytes:
    """rdbSaveRawString: integer encoding, LZF (``compress`` = the rdbcompression config),
    or plain."""
    n = len(s)
    if n <= 11:
        enc = _int_encoding(s)
        if enc is not None:
            return enc
    if compress and n > 20:
        # Redis gives lzf_compress an n-4 byte buffer; python-lzf's max_len allows one byte
        # more than it is given, hence n-5: compressed only when that saves more than 4 bytes.
        c = lzf.compress(bytes(s), n - 5)
        if c:
            return b"\xc3" + encode_len(len(c)) + encode_len(n) + c
    return encode_len(n) + bytes(s)


def payload_footer(body: bytes, rdbver: int = RDB_VERSION) -> bytes:
    """``body`` + RDB version + CRC-64, as DUMP and FUNCTION DUMP reply."""
    body = body + rdbver.to_bytes(2, "little")
    return body + crc64_bytes(crc64(0, body))


def verify_payload(data: bytes, skip_checksum: bool = False) -> int | None:
    """verifyDumpPayload: the payload's RDB version, or None when the footer is missing, the
    version newer than ours or the checksum wrong."""
    if len(data) < 10:
        return None
    ver = data[-10] | (data[-9] << 8)
    if ver > RDB_VERSION + 1:   # (12: a hash with field expiry times, Redis 7.4's)
        return None
    if not skip_checksum and crc64_bytes(crc64(0, memoryview(data)[:-8])) != data[-8:]:
        return None
    return ver


# -- reading ----------------------------------------------------------------------------------
class Reader:
    """Sequential reads from a bytes object (rio over a buffer)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def read(self, n: int) -> bytes:
        p = self.pos
        if p + n > len(self.data):
            raise RDBError("unexpected end of data")
        self.pos = p + n
        return self.data[p:p + n]

    def byte(self) -> int:
        p = self.pos
        if p >= len(self.data):
            raise RDBError("unexpected end of data")
        self.pos = p + 1
        return self.data[p]

    def type(self) -> int:
        """rdbLoadType."""
        return self.byte()

    def length_ex(self) -> tuple[int, bool]:
        """rdbLoadLenByRef: (length, is_encoded). When encoded, the length is the encoding."""
        b = self.byte()
        t = b >> 6
        if t == 3:
            return b & 0x3F, True
        if t == 0:
            return b & 0x3F, False
        if t == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if b == 0x80:
            return int.from_bytes(self.read(4), "big"), False
        if b == 0x81:
            return int.from_bytes(self.read(8), "big"), False
        raise RDBError(f"Unknown length encoding {t} in rdbLoadLen()")

    def length(self) -> int:
        """rdbLoadLen(rdb, NULL): as Redis, an encoding byte just gives its low 6 bits."""
        return self.length_ex()[0]

    def string(self) -> bytes:
        """rdbGenericLoadStringObject: a plain, integer-encoded or LZF string."""
        n, enc = self.length_ex()
        if not enc:
            return self.read(n)
        if n == RDB_ENC_INT8:
            return b"%d" % int.from_bytes(self.read(1), "little", signed=True)
        if n == RDB_ENC_INT16:
            return b"%d" % int.from_bytes(self.read(2), "little", signed=True)
        if n == RDB_ENC_INT32:
            return b"%d" % int.from_bytes(self.read(4), "little", signed=True)
        if n == RDB_ENC_LZF:
            clen = self.length()
            ulen = self.length()
            comp = self.read(clen)
            if ulen == 0:
                return b""   # lzf_decompress into 0 bytes returns 0 == the length: accepted
            try:
                out = lzf.decompress(comp, ulen)
            except Exception:   # python-lzf raises ValueError / SystemError on bad data
                out = None
            if out is None or len(out) != ulen:
                raise RDBError("Invalid LZF compressed string")
            return out
        raise RDBError(f"Unknown RDB string encoding type {n}")
