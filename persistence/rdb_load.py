"""The RDB reader: whole files (startup, AOF preamble, DEBUG RELOAD) and single values (RESTORE).

Design
------
* Input is a byte buffer read by :class:`persistence.rdb_primitives.Reader` (the file is read
  into memory in one go: RDB files are parsed sequentially and a bytes object gives the
  fastest slicing in Python). :func:`load_rdb` accepts a path, a bytes-like object or a binary
  file object; for a file object the data after the RDB (an AOF tail after an RDB preamble) is
  left unread: the stream is positioned right after the checksum when it is seekable.
* Every failure (truncation, bad encoding, a listpack that does not parse, duplicate members,
  a wrong checksum, a module type) raises :class:`RDBLoadError`, which carries the file name
  and the byte offset where the bad item started. Nothing else escapes: the decoders are
  wrapped so that an unexpected Python exception on corrupt data becomes an RDBLoadError too.
* Values are built through the memory engine's value classes and then given the encoding
  Redis 7.2.4's rdbLoadObject would give them (rdb.c): a serialized listpack/intset/ziplist
  keeps its compact encoding unless it has more entries than the ``*-max-*-entries`` limit
  (element sizes are not checked, as in Redis); a plain (hashtable/skiplist-era) value is
  converted by the same rules as the commands apply while adding (sets and hashes element by
  element, sorted sets after the whole set is read); a quicklist keeps its node layout and
  becomes a listpack only when it is one node that fits (listTypeTryConversion AUTO); a
  version-1 ziplist list stays a quicklist.
* Formats: RDB versions 1..11 (Redis 7.2 and Valkey 8.0 both write 11), 12 (Redis 7.4, magic
  ``REDIS0012``) and 80 (Valkey 9, magic ``VALKEY080``), each with its hash-field-expiry types
  (see REDIS74_EXT below): fields with a TTL get it in the hash's per-field expiry (the server
  load registers the key for the field expiry cycle). Types 0-5, 9-21;
  module types (6, 7) are refused naming the module (the 9-character name packed in the
  module id). Opcodes SELECTDB, RESIZEDB, AUX, FUNCTION2 (FUNCTION pre-GA refused as Redis
  does), MODULE_AUX (refused), IDLE, FREQ, EXPIRETIME, EXPIRETIME_MS, EOF, then the CRC-64
  (version >= 5; a stored 0 means "saved with rdbchecksum no": not checked); in version 12 and
  80 files also SLOT_INFO (skipped; a size hint); Valkey 9's SLOT_IMPORT is refused.
* ``iter_rdb`` (the tools) can also start in the middle of a file (``start``, ``dbid``), give
  each record's byte span and skip the CRC check: ``valkeyd rdb salvage`` resumes there after
  a corrupt record. :func:`probe_record` decodes one item at an offset with the same decoders
  (the salvage's resynchronisation test).
"""
from __future__ import annotations

import io
import math
import re
import mmap
import os
import struct
import time

from engines.base import clock
from engines.limits import limits

from . import rdb_primitives as rdbp
from .crc64 import crc64, crc64_lanes
from .rdb_primitives import RDBError, Reader

# Value types (rdb.h)
T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_ZSET_2 = 0, 1, 2, 3, 4, 5
T_MODULE_PRE_GA, T_MODULE_2 = 6, 7
T_HASH_ZIPMAP, T_LIST_ZIPLIST, T_SET_INTSET, T_ZSET_ZIPLIST, T_HASH_ZIPLIST = 9, 10, 11, 12, 13
T_LIST_QUICKLIST, T_STREAM_LISTPACKS, T_HASH_LISTPACK, T_ZSET_LISTPACK = 14, 15, 16, 17
T_LIST_QUICKLIST_2, T_STREAM_LISTPACKS_2, T_SET_LISTPACK, T_STREAM_LISTPACKS_3 = 18, 19, 20, 21
VALUE_TYPES = frozenset((0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                         20, 21))
# Hash field expiry (HFE) types, whose numbers depend on the file's flavour. Redis 7.4 (RDB 12,
# "REDIS0012"): 22 HASH_METADATA_PRE_GA, 23 HASH_LISTPACK_EX_PRE_GA (7.4 release candidates:
# absolute TTLs), 24 HASH_METADATA, 25 HASH_LISTPACK_EX (a minimum expire time first, TTLs
# relative to it). Valkey 9 (RDB 80, "VALKEY080"): 22 HASH_2. Inside the decoder they are
# told apart by an offset added to the type byte: REDIS74_EXT + t, VALKEY80_EXT + t.
REDIS74_EXT, VALKEY80_EXT = 100, 200
T_R_HASH_METADATA_PRE_GA, T_R_HASH_LISTPACK_EX_PRE_GA = 122, 123
T_R_HASH_METADATA, T_R_HASH_LISTPACK_EX = 124, 125
T_V_HASH_2 = 222
VALUE_TYPES_RDB12 = VALUE_TYPES | frozenset((22, 23, 24, 25))
VALUE_TYPES_RDB80 = VALUE_TYPES | frozenset((22,))
OPCODE_SLOT_IMPORT, OPCODE_SLOT_INFO = 243, 244   # Valkey 9 / Redis 7.4 (cluster) opcodes
EB_EXPIRE_TIME_MAX = (1 << 48) - 1                   # Redis 7.4's largest field expire time
RDB_VERSION_REDIS_MAX = 12                           # REDIS0001 .. REDIS0012 are read
RDB_VERSIONS_VALKEY = (80,)                          # VALKEY080 is read

MODULE_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
LISTPACK_MAX_SAFETY_SIZE = 1 << 30
QL_PLAIN, QL_PACKED = 1, 2
SHORT_READ = "Short read or OOM loading DB. Unrecoverable error, aborting now."


class LoadReader(Reader):
    """The Reader of the loader: a corrupt LZF header cannot make it allocate more than the
    compressed data could expand to (LZF expands at most ~88x: a 3-byte back reference makes
    264 bytes)."""

    __slots__ = ()

    def string(self) -> bytes:
        p = self.pos
        data = self.data
        if p < len(data) and data[p] == 0xC3:
            self.pos = p + 1
            clen = self.length()
            ulen = self.length()
            if ulen > clen * 100 + 64:
                raise RDBError("Invalid LZF compressed string")
            self.pos = p
        return Reader.string(self)


class RDBLoadError(Exception):
    """A corrupt, truncated or unsupported RDB. ``name`` is the file (or payload) name,
    ``offset`` the byte offset of the failing item, ``reason`` what was wrong, ``key`` the key
    of the record that failed when the failing item was a key/value record (else None; it is
    not part of the message, which stays Redis's)."""

    def __init__(self, reason: str, name: str = "", offset: int = -1, key: bytes | None = None):
        self.reason = reason
        self.name = name
        self.offset = offset
        self.key = key
        where = f" in {name}" if name else ""
        at = f" at offset {offset}" if offset >= 0 else ""
        super().__init__(f"{reason}{where}{at}")


class EmptyKey(Exception):
    """rdbLoadObject's RDB_LOAD_ERR_EMPTY_KEY: the value has no elements."""


def module_name(moduleid: int) -> str:
    """moduleTypeNameByID: the 9-character type name packed in a module id."""
    moduleid >>= 10
    out = []
    for _ in range(9):
        out.append(MODULE_CHARSET[moduleid & 63])
        moduleid >>= 6
    return "".join(reversed(out))


# -- compact encodings -----------------------------------------------------------------------
def _backlen_size(n: int) -> int:
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


def listpack_entries(lp: bytes) -> list:
    """The elements of a listpack: bytes for strings, int for integers."""
    n = len(lp)
    if n < 7 or int.from_bytes(lp[0:4], "little") != n or lp[-1] != 0xFF:
        raise RDBError("Listpack integrity check failed.")
    out = []
    p = 6
    end = n - 1
    while p < end:
        b = lp[p]
        if b < 0x80:                    # 7-bit uint
            v = b
            ln = 1
        elif b < 0xC0:                  # 6-bit str
            ln = 1 + (b & 0x3F)
            v = lp[p + 1:p + ln]
        elif b < 0xE0:                  # 13-bit int
            v = ((b & 0x1F) << 8) | lp[p + 1]
            if v >= 1 << 12:
                v -= 1 << 13
            ln = 2
        elif b < 0xF0:                  # 12-bit str
            sl = ((b & 0x0F) << 8) | lp[p + 1]
            ln = 2 + sl
            v = lp[p + 2:p + ln]
        elif b == 0xF0:                 # 32-bit str
            sl = int.from_bytes(lp[p + 1:p + 5], "little")
            ln = 5 + sl
            v = lp[p + 5:p + ln]
        elif b in (0xF1, 0xF2, 0xF3, 0xF4):
            w = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
            v = int.from_bytes(lp[p + 1:p + 1 + w], "little", signed=True)
            ln = 1 + w
        else:
            raise RDBError("Listpack integrity check failed.")
        if p + ln > end:
            raise RDBError("Listpack integrity check failed.")
        out.append(v)
        p += ln + 1 if ln <= 127 else ln + _backlen_size(ln)
    if p != end:
        raise RDBError("Listpack integrity check failed.")
    count = lp[4] | (lp[5] << 8)
    if count != 65535 and count != len(out):
        raise RDBError("Listpack integrity check failed.")
    return out


def ziplist_entries(zl: bytes) -> list:
    """The elements of a (legacy) ziplist: bytes or int."""
    n = len(zl)
    if n < 11 or int.from_bytes(zl[0:4], "little") != n or zl[-1] != 0xFF:
        raise RDBError("Ziplist integrity check failed.")
    out = []
    p = 10
    end = n - 1
    while p < end:
        p += 5 if zl[p] == 0xFE else 1          # prevlen
        if p >= end:
            raise RDBError("Ziplist integrity check failed.")
        b = zl[p]
        top = b >> 6
        if top == 0:
            sl = b & 0x3F
            v = zl[p + 1:p + 1 + sl]
            p += 1 + sl
        elif top == 1:
            sl = ((b & 0x3F) << 8) | zl[p + 1]
            v = zl[p + 2:p + 2 + sl]
            p += 2 + sl
        elif top == 2:
            sl = int.from_bytes(zl[p + 1:p + 5], "big")
            v = zl[p + 5:p + 5 + sl]
            p += 5 + sl
        else:
            w = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}.get(b)
            if w is not None:
                v = int.from_bytes(zl[p + 1:p + 1 + w], "little", signed=True)
                p += 1 + w
            elif 0xF1 <= b <= 0xFD:
                v = (b & 0x0F) - 1
                p += 1
            else:
                raise RDBError("Ziplist integrity check failed.")
        if p > end:
            raise RDBError("Ziplist integrity check failed.")
        out.append(v)
    if p != end:
        raise RDBError("Ziplist integrity check failed.")
    return out


def intset_members(data: bytes) -> list:
    if len(data) < 8:
        raise RDBError("Intset integrity check failed.")
    enc = int.from_bytes(data[0:4], "little")
    cnt = int.from_bytes(data[4:8], "little")
    if enc not in (2, 4, 8) or len(data) != 8 + enc * cnt:
        raise RDBError("Intset integrity check failed.")
    fmt = {2: "h", 4: "i", 8: "q"}[enc]
    vals = struct.unpack_from("<%d%s" % (cnt, fmt), data, 8)
    for i in range(1, cnt):
        if vals[i - 1] >= vals[i]:
            raise RDBError("Intset integrity check failed.")
    return list(vals)


def zipmap_pairs(zm: bytes) -> list:
    """A Redis 2.x zipmap: [field, value, ...]."""
    out = []
    n = len(zm)
    p = 1
    try:
        while True:
            if zm[p] == 0xFF:
                p += 1
                break
            for is_val in (False, True):
                b = zm[p]
                if b < 254:
                    ln = b
                    p += 1
                elif b == 254:
                    ln = int.from_bytes(zm[p + 1:p + 5], "little")
                    p += 5
                else:
                    raise RDBError("Zipmap integrity check failed.")
                free = 0
                if is_val:
                    free = zm[p]
                    p += 1
                if p + ln > n:
                    raise RDBError("Zipmap integrity check failed.")
                out.append(zm[p:p + ln])
                p += ln + free
    except IndexError:
        raise RDBError("Zipmap integrity check failed.") from None
    if p != n:
        raise RDBError("Zipmap integrity check failed.")
    return out


def _s(v) -> bytes:
    return v if type(v) is bytes else b"%d" % v


# -- value builders (rdbLoadObject's encoding decisions) ---------------------------------------
def _new(tname: str):
    from engines.memory import new_value
    return new_value(tname)


def _build_hash(pairs: list, compact: bool, check_dups: bool = True):
    """``compact``: loaded from a listpack/ziplist/zipmap: stays listpack unless over the
    entries limit; else plain: the HSET rules, element by element."""
    h = _new("hash")
    n = len(pairs) // 2
    if n == 0:
        raise EmptyKey()
    it = iter(pairs)
    for f in it:
        v = next(it)
        if not h.set(_s(f), _s(v)):
            raise RDBError("Duplicate hash fields detected")
    if compact:
        h.lp = n <= limits.hash_max_listpack_entries
    elif n > limits.hash_max_listpack_entries:
        h.lp = False
    return h


def _build_set(members: list, enc_name: str | None):
    """``enc_name``: "intset"/"listpack" for compact payloads, None for a plain set."""
    from engines import mem_set
    n = len(members)
    if n == 0:
        raise EmptyKey()
    s = mem_set.MemorySet(mem_set.HT)
    d = s.d
    a = s.a
    for m in members:
        m = _s(m)
        if m in d:
            raise RDBError("Duplicate set members detected")
        d[m] = len(a)
        a.append(m)
    if enc_name == "intset":
        s.enc = mem_set.INTSET if n <= limits.set_max_intset_entries else mem_set.HT
    elif enc_name == "listpack":
        s.enc = mem_set.LISTPACK if n <= limits.set_max_listpack_entries else mem_set.HT
    else:
        # the plain loop: intset while every member is an integer; then listpack while small
        from valkeyd.protocol import string2ll
        max_intset = min(limits.set_max_intset_entries, 1 << 30)
        enc = mem_set.HT if n > max_intset else mem_set.INTSET
        maxlen = total = 0
        size = conv_at = 0
        for m in a:
            ln = len(m)
            total += ln
            maxlen = max(maxlen, ln)
            if enc == mem_set.INTSET and string2ll(m) is None:
                conv_at = size
                if (size < limits.set_max_listpack_entries
                        and maxlen <= limits.set_max_listpack_value
                        and total <= LISTPACK_MAX_SAFETY_SIZE):
                    enc = mem_set.LISTPACK
                else:
                    enc = mem_set.HT
            if enc == mem_set.LISTPACK and not (
                    size < limits.set_max_listpack_entries
                    and ln <= limits.set_max_listpack_value):
                enc = mem_set.HT
            size += 1
            if enc == mem_set.HT:
                break
        s.enc = enc
        if enc == mem_set.LISTPACK and conv_at:
            # the intset converted to a listpack lists its integers first, ascending
            a[:conv_at] = sorted(a[:conv_at], key=int)
            s.d = {m: i for i, m in enumerate(a)}
    return s


def _build_zset(pairs: list, compact: bool):
    z = _new("zset")
    n = len(pairs)
    if n == 0:
        raise EmptyKey()
    maxlen = total = 0
    for m, score in pairs:
        m = _s(m)
        if math.isnan(score):
            raise RDBError("Zset with NAN score detected")
        ln = len(m)
        total += ln
        if ln > maxlen:
            maxlen = ln
        if z.add(m, score) is not None:
            raise RDBError("Duplicate zset fields detected")
    if compact:
        z.lp = n <= limits.zset_max_listpack_entries
    else:
        z.lp = (n <= limits.zset_max_listpack_entries
                and maxlen <= limits.zset_max_listpack_value
                and total <= LISTPACK_MAX_SAFETY_SIZE)
    return z


def _zset_from_flat(elems: list):
    if len(elems) % 2:
        raise RDBError("Zset listpack integrity check failed.")
    pairs = []
    for i in range(0, len(elems), 2):
        sc = elems[i + 1]
        if type(sc) is int:
            score = float(sc)
        else:
            try:
                score = float(sc)
            except ValueError:
                raise RDBError("Zset listpack integrity check failed.") from None
        pairs.append((elems[i], score))
    return _build_zset(pairs, True)


def _build_list_nodes(nodes: list, auto_convert: bool):
    """A quicklist with the given nodes (lists of elements); listTypeTryConversion AUTO."""
    from collections import deque
    from engines.mem_list import MemoryList, _LP_EMPTY, esize
    nodes = [nd for nd in nodes if nd]
    if not nodes:
        raise EmptyKey()
    ml = MemoryList()
    d = deque()
    layout = []
    for nd in nodes:
        vals = [_s(v) for v in nd]
        d.extend(vals)
        sz = _LP_EMPTY
        for v in vals:
            sz += esize(v)
        layout.append([len(vals), sz])
    ml.d = d
    ml.to_quicklist(layout)
    if auto_convert:
        ml.try_convert(None)
    return ml


def _build_list_pushed(items: list, auto_convert: bool):
    """quicklistPushTail of each element into a new quicklist (RDB_TYPE_LIST, ziplist lists)."""
    from engines.mem_list import MemoryList
    if not items:
        raise EmptyKey()
    ml = MemoryList()
    ml.to_quicklist([])
    ml.push_right([_s(v) for v in items])
    if auto_convert:
        ml.try_convert(None)
    return ml


# -- the value decoder -------------------------------------------------------------------------
def _double(r: Reader) -> float:
    """rdbLoadDoubleValue (ZSET type 3): length-prefixed ASCII, 253 nan, 254 +inf, 255 -inf."""
    n = r.byte()
    if n == 255:
        return -math.inf
    if n == 254:
        return math.inf
    if n == 253:
        return math.nan
    try:
        return float(r.read(n))
    except ValueError:
        raise RDBError("bad double value") from None


def _bin_double(r: Reader) -> float:
    return struct.unpack("<d", r.read(8))[0]


def _stream_id(raw: bytes) -> int:
    if len(raw) != 16:
        raise RDBError("Stream node key entry is not the size of a stream ID")
    return int.from_bytes(raw[:8], "big") << 64 | int.from_bytes(raw[8:], "big")


def _ms_time(r: Reader) -> int:
    return int.from_bytes(r.read(8), "little", signed=True)


def _stream_listpack(s, master: int, lp: bytes) -> None:
    """Add one stream node to the memory stream ``s`` as it is in the RDB: its entries with
    their tombstones (deleted flags), its master fields and its listpack size, so that the
    node layout - and with it DUMP's bytes, XINFO's radix-tree counts and where the next XADD
    or an approximate trim cuts - is the one saved, as Redis keeps the loaded listpacks."""
    from engines.mem_stream import _Node
    el = listpack_entries(lp)
    if not el:
        raise RDBError("Empty listpack inside stream")
    try:
        count, deleted, nmaster = el[0], el[1], el[2]
        mfields = el[3:3 + nmaster]
        p = 3 + nmaster
        if el[p] != 0:
            raise RDBError("Stream listpack integrity check failed.")
        p += 1
        mms = master >> 64
        mseq = master & ((1 << 64) - 1)
        node = _Node()
        node.master = tuple(_s(f) for f in mfields)
        if s.nodes:
            last = s.nodes[-1]
            prev = last.id_at(len(last.dead) - 1)
        else:
            prev = -1
        for _ in range(count + deleted):
            flags = el[p]
            ms = mms + el[p + 1]
            seq = mseq + el[p + 2]
            p += 3
            if flags & 2:               # SAMEFIELDS
                vals = el[p:p + nmaster]
                p += nmaster
                fv = []
                for f, v in zip(mfields, vals):
                    fv.append(_s(f))
                    fv.append(_s(v))
                if len(vals) != nmaster:
                    raise RDBError("Stream listpack integrity check failed.")
            else:
                nf = el[p]
                p += 1
                fv = [_s(x) for x in el[p:p + 2 * nf]]
                if len(fv) != 2 * nf:
                    raise RDBError("Stream listpack integrity check failed.")
                p += 2 * nf
            p += 1                       # lp-count
            ident = ms << 64 | seq
            if ident <= prev:
                raise RDBError("Stream listpack integrity check failed.")
            prev = ident
            node.append(ident, fv)
            if flags & 1:
                node.dead[-1] = 1
                node.live -= 1
        if p != len(el):
            raise RDBError("Stream listpack integrity check failed.")
        if node.live != count:
            raise RDBError("Stream listpack integrity check failed.")
        node.nbytes = len(lp)
        s.nodes.append(node)
        s.keys.append(master)
        if node.live and not s.length:
            s.first_id = node.id_at(node.dead.find(0))
        s.length += node.live
    except (IndexError, TypeError):
        raise RDBError("Stream listpack integrity check failed.") from None


def _estimate_entries_read(s, ident: int) -> int:
    """streamEstimateDistanceFromFirstEverEntry (a group loaded from a version-1 stream)."""
    if not s.entries_added:
        return 0
    if not s.length and ident <= s.last_id:
        return s.entries_added
    if ident == s.last_id:
        return s.entries_added
    if ident > s.last_id:
        return -1
    if s.max_deleted_entry_id == 0 or s.max_deleted_entry_id < s.first_id:
        if ident < s.first_id:
            return s.entries_added - s.length
        if ident == s.first_id:
            return s.entries_added - s.length + 1
    return -1


def _load_stream(t: int, r: Reader):
    from engines.mem_stream_groups import MemoryConsumerGroup
    s = _new("stream")
    nlp = r.length()
    prev = -1
    for _ in range(nlp):
        master = _stream_id(r.string())
        lp = r.string()
        if master <= prev:
            raise RDBError("Listpack re-added with existing key")
        prev = master
        _stream_listpack(s, master, lp)
    length = r.length()
    last = r.length() << 64 | r.length()
    if t >= T_STREAM_LISTPACKS_2:
        first = r.length() << 64 | r.length()
        maxdel = r.length() << 64 | r.length()
        added = r.length()
    else:
        first = s.first_id if s.length else 0
        maxdel = 0
        added = length
    if length != s.length:
        raise RDBError("Stream length inconsistent with rax entries")
    s.last_id = last
    s.first_id = first if s.length else 0
    s.max_deleted_entry_id = maxdel
    s.entries_added = added
    for _ in range(r.length()):
        name = r.string()
        gid = r.length() << 64 | r.length()
        if t >= T_STREAM_LISTPACKS_2:
            er = r.length()
            if er == (1 << 64) - 1:
                er = -1
        else:
            er = _estimate_entries_read(s, gid)
        if name in s.groups:
            raise RDBError(f"Duplicated consumer group name {name.decode('latin-1')}")
        g = MemoryConsumerGroup(gid, er)
        s.groups[name] = g
        pel = {}
        for _ in range(r.length()):
            pid = _stream_id(r.read(16))
            tm = _ms_time(r)
            cnt = r.length()
            if pid in pel:
                raise RDBError("Duplicated global PEL entry loading stream consumer group")
            pel[pid] = (tm, cnt)
        owned = set()
        for _ in range(r.length()):
            cname = r.string()
            seen = _ms_time(r)
            active = _ms_time(r) if t >= T_STREAM_LISTPACKS_3 else seen
            if not g.consumer_create(cname, seen):
                raise RDBError("Duplicate stream consumer detected.")
            g.consumer_set_times(cname, seen, active)
            for _ in range(r.length()):
                pid = _stream_id(r.read(16))
                nack = pel.get(pid)
                if nack is None:
                    raise RDBError("Consumer entry not found in group global PEL")
                if pid in owned:
                    raise RDBError("Duplicated consumer PEL entry loading a stream "
                                   "consumer group")
                owned.add(pid)
                g.pel_put(pid, cname, nack[0], nack[1])
        if len(owned) != len(pel):
            raise RDBError("Stream CG PEL entry without consumer")
    return s


def decode_value(t: int, r: Reader):
    """rdbLoadObject: read one value of RDB type ``t`` from ``r`` and return the engine value.
    Raises RDBError (corrupt), EmptyKey (a collection without elements)."""
    if t == T_STRING:
        return r.string()
    if t == T_LIST:
        n = r.length()
        return _build_list_pushed([r.string() for _ in range(n)], True)
    if t == T_SET:
        n = r.length()
        return _build_set([r.string() for _ in range(n)], None)
    if t == T_ZSET or t == T_ZSET_2:
        n = r.length()
        rd = _bin_double if t == T_ZSET_2 else _double
        pairs = []
        for _ in range(n):
            m = r.string()
            pairs.append((m, rd(r)))
        return _build_zset(pairs, False)
    if t == T_HASH:
        n = r.length()
        pairs = []
        for _ in range(2 * n):
            pairs.append(r.string())
        return _build_hash(pairs, False)
    if t == T_LIST_QUICKLIST or t == T_LIST_QUICKLIST_2:
        n = r.length()
        nodes = []
        for _ in range(n):
            container = QL_PACKED
            if t == T_LIST_QUICKLIST_2:
                container = r.length()
                if container not in (QL_PACKED, QL_PLAIN):
                    raise RDBError("Quicklist integrity check failed.")
            data = r.string()
            if not data:
                raise RDBError("Quicklist integrity check failed.")
            if container == QL_PLAIN:
                nodes.append([data])
            elif t == T_LIST_QUICKLIST_2:
                nodes.append(listpack_entries(data))
            else:
                nodes.append(ziplist_entries(data))
        return _build_list_nodes(nodes, True)
    if t in (T_HASH_ZIPMAP, T_LIST_ZIPLIST, T_SET_INTSET, T_ZSET_ZIPLIST, T_HASH_ZIPLIST,
             T_HASH_LISTPACK, T_ZSET_LISTPACK, T_SET_LISTPACK):
        data = r.string()
        if t == T_HASH_ZIPMAP:
            pairs = zipmap_pairs(data)
            h = _build_hash(pairs, True)
            maxlen = max(len(x) for x in pairs)
            if maxlen > limits.hash_max_listpack_value:
                h.lp = False
            return h
        if t == T_LIST_ZIPLIST:
            return _build_list_pushed(ziplist_entries(data), False)
        if t == T_SET_INTSET:
            return _build_set(intset_members(data), "intset")
        if t == T_SET_LISTPACK:
            return _build_set(listpack_entries(data), "listpack")
        if t == T_ZSET_ZIPLIST:
            return _zset_from_flat(ziplist_entries(data))
        if t == T_ZSET_LISTPACK:
            return _zset_from_flat(listpack_entries(data))
        elems = ziplist_entries(data) if t == T_HASH_ZIPLIST else listpack_entries(data)
        if len(elems) % 2:
            raise RDBError("Hash listpack integrity check failed.")
        return _build_hash(elems, True)
    if t in (T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3):
        return _load_stream(t, r)
    if t >= REDIS74_EXT:
        return _decode_hfe(t, r)
    if t == T_MODULE_PRE_GA:
        raise RDBError("Pre-release module format not supported")
    if t == T_MODULE_2:
        mid = r.length()
        raise RDBError("The RDB file contains module data I can't load: no matching module "
                       f"type '{module_name(mid)}'")
    raise RDBError(f"Unknown RDB encoding type {t}")


def _with_ttls(h, ttls: list):
    for f, when in ttls:
        h.set_expire(_s(f), when)
    return h


def _decode_hfe(t: int, r: Reader):
    """The hash-field-expiry types (``t`` with its flavour offset, see REDIS74_EXT)."""
    pairs: list = []
    ttls: list = []
    if t == T_V_HASH_2:                      # Valkey 9: n x (field, value, int64 ms; -1 none)
        for _ in range(r.length()):
            f = r.string()
            v = r.string()
            when = _ms_time(r)
            if when < -1:
                raise RDBError(f"invalid hash field expire time {when}")
            pairs.append(f)
            pairs.append(v)
            if when != -1:
                ttls.append((f, when))
        return _with_ttls(_build_hash(pairs, False), ttls)
    if t == T_R_HASH_METADATA or t == T_R_HASH_METADATA_PRE_GA:
        base = None
        if t == T_R_HASH_METADATA:           # the minimum expire time; TTLs are relative
            base = int.from_bytes(r.read(8), "little")
            if base > EB_EXPIRE_TIME_MAX + 1:
                raise RDBError("Hash read invalid minExpire value")
        for _ in range(r.length()):
            ttl = r.length()                 # 0: no TTL
            when = ttl + base - 1 if (base is not None and ttl) else ttl
            if when > EB_EXPIRE_TIME_MAX:
                raise RDBError(f"invalid expireAt time: {when}")
            f = r.string()
            pairs.append(f)
            pairs.append(r.string())
            if when:
                ttls.append((f, when))
        return _with_ttls(_build_hash(pairs, False), ttls)
    if t == T_R_HASH_LISTPACK_EX or t == T_R_HASH_LISTPACK_EX_PRE_GA:
        if t == T_R_HASH_LISTPACK_EX:
            r.read(8)                        # the minimum expire time (informative)
        el = listpack_entries(r.string())
        if len(el) % 3:
            raise RDBError("Hash listpack integrity check failed.")
        for i in range(0, len(el), 3):
            when = el[i + 2]                 # an integer; 0: no TTL
            if type(when) is not int or when < 0 or when > EB_EXPIRE_TIME_MAX:
                raise RDBError("Hash listpack integrity check failed.")
            pairs.append(el[i])
            pairs.append(el[i + 1])
            if when:
                ttls.append((el[i], when))
        return _with_ttls(_build_hash(pairs, True), ttls)
    raise RDBError(f"Unknown RDB encoding type {t % 100}")


def decode_value_safe(t: int, r: Reader):
    """decode_value, with any unexpected exception on corrupt data turned into RDBError."""
    try:
        return decode_value(t, r)
    except (RDBError, EmptyKey):
        raise
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, StopIteration,
            MemoryError, struct.error) as e:
        raise RDBError(f"Bad data format ({type(e).__name__})") from None


# -- whole files -------------------------------------------------------------------------------
class LoadInfo(dict):
    """What :func:`load_rdb` returns: ``version``, ``keys_loaded``, ``keys_expired``,
    ``empty_keys_skipped``, ``aux`` (every AUX field, bytes -> bytes), ``repl_id``,
    ``repl_offset``, ``repl_stream_db``, ``aof_base``, ``functions`` (library count),
    ``end`` (offset just after the checksum), ``checksum`` ("ok", "disabled", "none")."""


def _read_source(source):
    """(data bytes, name, file object or None, start offset in the file)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<payload>", None, 0
    if isinstance(source, mmap.mmap):
        return source, "<mmap>", None, 0
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return fh.read(), os.fspath(source), None, 0
    start = 0
    try:
        start = source.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    name = getattr(source, "name", "<stream>")
    return source.read(), str(name), source, start


def load_rdb(server, source, *, name: str | None = None, aof_preamble: bool = False,
             allow_dup: bool = False, log=None) -> LoadInfo:
    """Load a whole RDB into ``server`` (every db, expiry, function library). ``source``: a
    path, a bytes-like object or a binary file object (left positioned after the checksum
    when seekable). Keys already expired are skipped on a primary, except in an AOF preamble
    (``aof_preamble``). Raises :class:`RDBLoadError`."""
    steps = _load_steps(server, source, name, aof_preamble, allow_dup, log, 0)
    for _ in steps:
        pass
    return steps.info


async def load_rdb_async(server, source, *, name: str | None = None,
                         aof_preamble: bool = False, allow_dup: bool = False, log=None,
                         chunk: int = 2 << 20) -> LoadInfo:
    """:func:`load_rdb` that returns to the event loop after every ``chunk`` bytes (Redis's
    loading-process-events-interval-bytes), so clients are answered (-LOADING) meanwhile.
    ``server.loading_progress`` is ``[start time, total bytes, bytes loaded]``."""
    import asyncio
    steps = _load_steps(server, source, name, aof_preamble, allow_dup, log, chunk)
    for pos in steps:
        prog = getattr(server, "loading_progress", None)
        if prog:
            prog[2] = pos
        await asyncio.sleep(0)
    return steps.info


class _load_steps:
    """The load as an iterator: yields the byte offset reached every ``chunk`` bytes (never
    when ``chunk`` is 0); ``info`` holds the result once exhausted."""

    def __init__(self, server, source, name, aof_preamble, allow_dup, log, chunk, visit=None,
                 **at):
        data, src_name, fh, start = _read_source(source)
        self.data = data
        self.name = name or src_name
        self.fh = fh
        self.start = start
        if server is not None and chunk:
            server.loading_progress = [time.time(), len(data), 0]
        self.info = LoadInfo(version=0, keys_loaded=0, keys_expired=0, empty_keys_skipped=0,
                             aux={}, repl_id=None, repl_offset=None, repl_stream_db=None,
                             aof_base=False, functions=0, end=0, checksum="none")
        self.gen = _load(server, LoadReader(data), self.info, aof_preamble, allow_dup, log,
                         chunk or (1 << 62), visit, **at)

    def __iter__(self):
        try:
            yield from self.gen
        except RDBLoadError as e:
            raise RDBLoadError(e.reason, self.name, e.offset,
                               _key_at(self.data, e.offset)) from None
        fh = self.fh
        if fh is not None:
            try:
                fh.seek(self.start + self.info["end"])
            except (OSError, AttributeError, io.UnsupportedOperation):
                pass


def _key_at(data, offset: int):
    """The key of the key/value record starting at ``offset`` (its type byte), or None (the
    error was elsewhere, or the key itself is unreadable). Only called on errors."""
    try:
        if 0 <= offset < len(data) and data[offset] < rdbp.RDB_OPCODE_FUNCTION2 \
                and data[offset] in VALUE_TYPES:
            return LoadReader(data, offset + 1).string()
    except Exception:
        pass
    return None


def iter_rdb(source, *, name: str | None = None, chunk: int = 1 << 20, progress=None,
             start: int = 0, dbid: int = 0, spans: bool = False, check_crc: bool = True,
             databases: int = 0):
    """The records of a whole RDB without a server (the ``valkeyd rdb`` tools): yields
    ``(dbid, key, value, expire_ms, idle, freq)`` per key, the value built by the same decoder
    as a load (an engine value object; -1 for an absent expire/idle/freq), expired keys
    included. ``source`` as :func:`load_rdb` (an ``mmap.mmap`` is read in place: memory stays
    bounded by the records of one ``chunk`` plus the page cache). The generator's ``info``
    (a :class:`LoadInfo`, also with ``function_codes``, ``resizedb`` and ``first_empty_key``
    = (offset, key) when a collection had no elements) is filled as the
    file is read and final when it ends; ``progress(offset, total)`` is called every
    ``chunk`` bytes. Raises :class:`RDBLoadError` (with ``key`` when known).

    For ``valkeyd rdb salvage``: ``start`` (an offset after the header) and ``dbid`` resume
    the opcode loop in the middle of a file (the header is still read for the version);
    ``spans`` adds each record's ``(start, end)`` offsets (start = its first opcode) to the
    tuples; ``check_crc=False`` skips the checksum (``info["checksum"]`` "not checked");
    ``info["dbid"]`` follows SELECTDB; ``databases`` (when not 0) refuses a SELECTDB of a
    higher number, as a server does."""
    pending: list = []
    add = pending.append
    steps = _load_steps(None, source, name, False, True, None, chunk,
                        lambda *rec: add(rec), start=start, dbid=dbid, spans=spans,
                        check_crc=check_crc, databases=databases)
    total = len(steps.data)
    return _RdbRecords(steps, pending, progress, total)


class _RdbRecords:
    """The iterator :func:`iter_rdb` returns (``info``, ``total`` bytes, ``name``)."""

    def __init__(self, steps, pending, progress, total):
        self.info = steps.info
        self.name = steps.name
        self.total = total
        self._it = self._run(steps, pending, progress, total)

    def __iter__(self):
        return self._it

    def __next__(self):
        return next(self._it)

    @staticmethod
    def _run(steps, pending, progress, total):
        try:
            for pos in steps:
                if pending:
                    yield from pending
                    pending.clear()
                if progress is not None:
                    progress(pos, total)
        except RDBLoadError:
            # the records read before the error come out first (the salvage keeps them)
            records = list(pending)
            pending.clear()
            yield from records
            raise
        yield from pending
        pending.clear()
        if progress is not None:
            progress(total, total)


def _fail(r: Reader, at: int, msg: str):
    raise RDBLoadError(msg, "", at)


def read_header(data) -> tuple:
    """(version, value types, HFE type offset) of an RDB's 9-byte header ``REDIS0001`` ..
    ``REDIS0012`` or ``VALKEY080``; RDBLoadError when it is none of them."""
    if len(data) < 9:
        raise RDBLoadError(SHORT_READ, "", 0)
    if data[:5] == b"REDIS":
        digits, vmin, vmax = data[5:9], 1, RDB_VERSION_REDIS_MAX
    elif data[:6] == b"VALKEY":
        digits, vmin, vmax = data[6:9], RDB_VERSIONS_VALKEY[0], RDB_VERSIONS_VALKEY[-1]
    else:
        raise RDBLoadError("Wrong signature trying to load DB from file", "", 0)
    try:
        ver = int(digits)
    except ValueError:
        ver = 0
    if ver < vmin or ver > vmax:
        raise RDBLoadError(f"Can't handle RDB format version {ver}", "", 5)
    if ver >= 80:
        return ver, VALUE_TYPES_RDB80, VALKEY80_EXT
    if ver == 12:
        return ver, VALUE_TYPES_RDB12, REDIS74_EXT
    return ver, VALUE_TYPES, 0


def _load(server, r: Reader, info: LoadInfo, aof_preamble: bool, allow_dup: bool, log,
          chunk: int, visit=None, start: int = 0, dbid: int = 0, spans: bool = False,
          check_crc: bool = True, databases: int = 0):
    data = r.data
    if len(data) < 9:
        _fail(r, 0, SHORT_READ)
    ver, vtypes, ext = read_header(data)
    info["version"] = ver
    info["magic"] = bytes(data[:9]).decode("latin-1")
    r.pos = start or 9
    if server is None:
        # the tools (iter_rdb): every record goes to ``visit``, nothing is built into a server
        engine = ks = lfu = None
        ndb = databases or 1 << 62
        primary = False
        info["function_codes"] = []
    else:
        engine = server.engine
        ndb = engine.databases
        ks = engine.db(0)
        primary = getattr(server, "replica_of", None) is None
        lfu = getattr(engine, "lfu", None)
    now = clock.ms()
    expire = idle = freq = -1
    rstart = -1          # ``spans``: where the current record's first opcode is
    hfe_keys = []        # keys of hashes with field TTLs (the server registers them)
    fctx = None
    funcs = None
    item = r.pos
    loaded = 0
    crc_job = None
    # startLoading: the INFO counters of this load start at 0 and follow it (every
    # ``chunk`` bytes while loading, exact at the end)
    if server is not None:
        server.rdb_last_load_keys_loaded = server.rdb_last_load_keys_expired = 0
        server.loading_rdb_used_mem = 0
    if (check_crc and len(data) >= _CRC_FORK_MIN and ver >= 5
            and (server is None or _checksum_on(server))):
        crc_job = _CrcJob(data)
    try:
        n = len(data)
        fast_put, atime0 = _fast_put_ok(engine, lfu) if engine is not None else (False, 0)
        kdata, scan_added, katime = _fast_put_db(ks, fast_put)
        next_yield = r.pos + chunk
        key_delay = 0    # key-load-delay (microseconds per key; a testing aid, as in Redis)
        if server is not None and chunk < (1 << 62):
            try:
                key_delay = max(0, server.config.get_int("key-load-delay"))
            except Exception:
                key_delay = 0
        # the tight loop below takes runs of plain string keys with short (6-bit length)
        # key and value, no opcode before them, into a database that was empty when the
        # load started; anything else, and anything odd (end of data, a duplicate), goes
        # through the general path, which does the same and reports errors
        tight = fast_put and not key_delay and not kdata
        if tight:
            ks._scan.invalidate()     # the next SCAN sorts the whole (new) key set once
        while True:
            item = p = r.pos
            if tight and expire == -1 and idle == -1 and freq == -1:
                try:
                    while p < next_yield and data[p] == 0:
                        b = data[p + 1]
                        if b >= 0x40:
                            break
                        e = p + 2 + b
                        b = data[e]
                        if b >= 0x40:
                            break
                        q = e + 1 + b
                        if q > n:
                            break
                        key = data[p + 2:e]
                        if key in kdata:
                            break
                        kdata[key] = data[e + 1:q]
                        katime[key] = atime0
                        loaded += 1
                        p = q
                except IndexError:
                    pass
                item = r.pos = p
            if p >= next_yield:
                if server is not None:
                    server.rdb_last_load_keys_loaded = loaded
                    server.rdb_last_load_keys_expired = info["keys_expired"]
                yield p
                next_yield = p + chunk
            if p >= n:
                raise RDBError("unexpected end of data")
            t = data[p]
            r.pos = p = p + 1
            if t < 0xF5:                                  # a key/value pair: the hot path
                if t not in vtypes:
                    if t == OPCODE_SLOT_INFO and ver >= 12:  # slot, keys, expires: a hint
                        r.length()
                        r.length()
                        r.length()
                        continue
                    if t == OPCODE_SLOT_IMPORT and ver >= 80:
                        _fail(r, item, "The RDB file contains Valkey slot import state "
                                       "(opcode 243), which valkeyd cannot load")
                    _fail(r, item, f"Unknown RDB encoding type {t}")
                b = data[p] if p < n else 0xFF
                if b < 0x40:                              # a short plain key
                    e = p + 1 + b
                    if e > n:
                        raise RDBError("unexpected end of data")
                    key = data[p + 1:e]
                    r.pos = p = e
                else:
                    key = r.string()
                    p = r.pos
                try:
                    if t == 0:
                        b = data[p] if p < n else 0xFF
                        if b < 0x40:
                            e = p + 1 + b
                            if e > n:
                                raise RDBError("unexpected end of data")
                            val = data[p + 1:e]
                            r.pos = e
                        else:
                            val = r.string()
                    elif t < 22:
                        val = decode_value_safe(t, r)
                    else:                                 # hash field expiry types
                        val = decode_value_safe(t + ext, r)
                        if val.volatile_count():
                            hfe_keys.append((dbid, key))
                except EmptyKey:
                    info["empty_keys_skipped"] += 1
                    if log is not None and info["empty_keys_skipped"] <= 10:
                        log.notice(f"rdbLoadObject skipping empty key: {_d(key)}")
                    if visit is not None and "first_empty_key" not in info:
                        info["first_empty_key"] = (item, key)    # for `rdb check`
                    expire = idle = freq = -1
                    rstart = -1
                    continue
                if visit is not None:                     # the tools: no server
                    if spans:
                        visit(dbid, key, val, expire, idle, freq,
                              item if rstart < 0 else rstart, r.pos)
                        rstart = -1
                    else:
                        visit(dbid, key, val, expire, idle, freq)
                    loaded += 1
                    expire = idle = freq = -1
                    continue
                if expire != -1 and primary and not aof_preamble and expire < now:
                    info["keys_expired"] += 1
                else:
                    if kdata is not None and fast_put:
                        # MemoryKeyspace.set for a key that is new, in a fresh load: the
                        # dict, the SCAN order and the access time (no "new" event hook)
                        if key in kdata:
                            if not allow_dup:
                                _fail(r, item, f"RDB has duplicated key '{_d(key)}' in DB "
                                               f"{dbid}")
                            ks.delete(key)
                        kdata[key] = val
                        scan_added(key)
                        katime[key] = atime0
                    else:
                        if ks.exists(key):
                            if not allow_dup:
                                _fail(r, item, f"RDB has duplicated key '{_d(key)}' in DB "
                                               f"{dbid}")
                            ks.delete(key)
                        ks.set(key, val)
                    loaded += 1
                    if expire != -1:
                        ks.set_expire(key, expire)
                        expire = -1
                    if idle != -1 or freq != -1:
                        set_lru_lfu(ks, key, lfu, idle, freq)
                        idle = freq = -1
                expire = -1
                if key_delay:
                    time.sleep(key_delay / 1e6)
                continue
            if rstart < 0:
                rstart = item
            if t == rdbp.RDB_OPCODE_EXPIRETIME:
                expire = int.from_bytes(r.read(4), "little", signed=True) * 1000
                continue
            if t == rdbp.RDB_OPCODE_EXPIRETIME_MS:
                expire = _ms_time(r)
                continue
            if t == rdbp.RDB_OPCODE_FREQ:
                freq = r.byte()
                continue
            if t == rdbp.RDB_OPCODE_IDLE:
                idle = r.length()
                continue
            rstart = -1
            if t == rdbp.RDB_OPCODE_EOF:
                break
            if t == rdbp.RDB_OPCODE_SELECTDB:
                dbid = r.length()
                if dbid >= ndb:
                    _fail(r, item, "FATAL: Data file was created with a Redis server "
                                   f"configured to handle more than {ndb} databases.")
                if engine is None:
                    info["dbid"] = dbid
                    continue
                ks = engine.db(dbid)
                kdata, scan_added, katime = _fast_put_db(ks, fast_put)
                tight = fast_put and not key_delay and not kdata
                if tight:
                    ks._scan.invalidate()
                continue
            if t == rdbp.RDB_OPCODE_RESIZEDB:
                a = r.length()
                b = r.length()
                if server is None:
                    info.setdefault("resizedb", {})[dbid] = (a, b)
                continue
            if t == rdbp.RDB_OPCODE_AUX:
                k = r.string()
                v = r.string()
                info["aux"][k] = v
                lk = k.lower()
                if lk == b"repl-stream-db":
                    info["repl_stream_db"] = _atoi(v)
                elif lk == b"repl-id":
                    if len(v) == 40:
                        info["repl_id"] = v
                elif lk == b"repl-offset":
                    info["repl_offset"] = _atoi(v)
                elif lk == b"aof-base":
                    info["aof_base"] = bool(_atoi(v))
                elif lk == b"used-mem" and server is not None:
                    server.loading_rdb_used_mem = _atoi(v)
                if log is not None:
                    if k[:1] == b"%":
                        log.notice(f"RDB '{_d(k)}': {_d(v)}")
                    elif lk == b"redis-ver":
                        log.notice(f"Loading RDB produced by version {_d(v)}")
                    elif lk == b"ctime":
                        age = max(0, int(time.time()) - _atoi(v))
                        log.notice(f"RDB age {age} seconds")
                    elif lk == b"used-mem":
                        log.notice("RDB memory usage when created %.2f Mb"
                                   % (_atoi(v) / (1024 * 1024)))
                    elif lk == b"aof-base" and _atoi(v):
                        log.notice("RDB is base AOF")
                continue
            if t == rdbp.RDB_OPCODE_MODULE_AUX:
                mid = r.length()
                _fail(r, item, "The RDB file contains AUX module data I can't load: no "
                               f"matching module '{module_name(mid)}'")
            if t == rdbp.RDB_OPCODE_FUNCTION_PRE_GA:
                _fail(r, item, "Pre-release function format not supported.")
            if t == rdbp.RDB_OPCODE_FUNCTION2:
                if server is None:                        # the tools: the library's code
                    info["function_codes"].append(r.string())
                    info["functions"] += 1
                    continue
                if funcs is None:
                    from valkeyd.scripting.functions import functions_of
                    funcs = functions_of(server)
                    fctx = funcs.new_ctx()
                try:
                    funcs.load_rdb_library(r, fctx, allow_dup)
                except Exception as e:   # FunctionError or a Lua error from the engine
                    _fail(r, item, f"Failed loading library, {e}")
                info["functions"] += 1
                continue
            _fail(r, item, f"Unknown RDB encoding type {t}")
        info["keys_loaded"] = loaded
        if server is not None:
            server.rdb_last_load_keys_loaded = loaded
            server.rdb_last_load_keys_expired = info["keys_expired"]
        if fast_put:
            for i in range(ndb):
                engine.db(i).version += 1     # RANDOMKEY's pool is stale
        if hfe_keys and server is not None:
            _track_hfe(server, hfe_keys)
        item = r.pos
        if not check_crc:
            info["checksum"] = "not checked"
            info["eof_end"] = r.pos
            if ver >= 5 and r.pos + 8 <= n:
                r.pos += 8
        elif ver >= 5:
            end = r.pos
            stored = int.from_bytes(r.read(8), "little")
            if stored == 0:
                info["checksum"] = "disabled"
                if log is not None:
                    log.notice("RDB file was saved with checksum disabled: no check performed.")
            elif server is None or _checksum_on(server):
                want = None
                if crc_job is not None and end == len(data) - 8:
                    want = crc_job.result()
                    crc_job = None
                if want is None:
                    want = crc64_lanes(0, memoryview(data)[:end])
                if want != stored:
                    if log is not None:
                        log.warning("Wrong RDB checksum expected: (%x) but got (%x). "
                                    "Aborting now." % (want, stored))
                    _fail(r, end, "RDB CRC error")
                info["checksum"] = "ok"
        info["end"] = r.pos
        if fctx is not None:
            funcs.ctx.join(fctx, True)
    except RDBError as e:
        msg = str(e)
        if msg == "unexpected end of data":
            msg = SHORT_READ
        raise RDBLoadError(msg, "", item) from None
    finally:
        if crc_job is not None:
            crc_job.cancel()
        if fctx is not None:
            fctx.clear()
            funcs.sync_info()


def _track_hfe(server, keys) -> None:
    """Register the loaded hashes that have field TTLs with the field expiry cycle."""
    from valkeyd.commands.hashes import track_volatile
    for dbid, key in keys:
        v = server.engine.db(dbid).peek(key)
        if v is not None and getattr(v, "TYPE_NAME", None) == "hash" and v.volatile_count():
            track_volatile(server, dbid, key)


def _fast_put_ok(engine, lfu):
    """Whether keys may go straight into the memory keyspace's structures (the memory engine,
    no "new"-event hook), and the access word a new key gets (MemoryKeyspace.set)."""
    from engines.memory import LFU_INIT_VAL, MemoryEngine, lfu_minutes
    if type(engine) is not MemoryEngine or engine.on_new is not None:
        return False, 0
    if lfu is None:
        return True, clock.lru
    return True, (lfu_minutes() << 8) | LFU_INIT_VAL


def _fast_put_db(ks, fast_put):
    if not fast_put:
        return None, None, None
    return ks.data, ks._scan.added, ks.atime


_CRC_FORK_MIN = 4 << 20


class _CrcJob:
    """The CRC-64 of a big file's body (all but the last 8 bytes) computed by a forked child
    on the other CPU while this process parses: the pure-Python CRC costs about as much as
    the parse itself. ``result()`` is None when the child could not be used."""

    def __init__(self, data: bytes):
        self.pid = None
        self.fd = None
        if not hasattr(os, "fork"):
            return
        try:
            rfd, wfd = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:                      # the child: compute, write 8 bytes, leave
            try:
                os.close(rfd)
                c = crc64_lanes(0, memoryview(data)[:len(data) - 8])
                os.write(wfd, c.to_bytes(8, "little"))
            finally:
                os._exit(0)
        os.close(wfd)
        self.pid = pid
        self.fd = rfd

    def result(self):
        if self.fd is None:
            return None
        try:
            buf = b""
            while len(buf) < 8:
                chunk = os.read(self.fd, 8 - len(buf))
                if not chunk:
                    break
                buf += chunk
        finally:
            self._reap()
        return int.from_bytes(buf, "little") if len(buf) == 8 else None

    def cancel(self):
        if self.pid is not None:
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass
        self._reap()

    def _reap(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.pid is not None:
            try:
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None


def _checksum_on(server) -> bool:
    try:
        return server.config.get("rdbchecksum") != "no"
    except Exception:
        return True


def set_lru_lfu(ks, key, lfu, idle: int, freq: int) -> None:
    """objectSetLRUOrLFU: FREQ sets the LFU counter under an LFU policy, IDLE the access time
    otherwise (the memory engine keeps both in ``atime``)."""
    atime = getattr(ks, "atime", None)
    if atime is None:
        return
    if lfu is not None:
        if freq >= 0:
            from engines.memory import lfu_minutes
            atime[key] = (lfu_minutes() << 8) | min(freq, 255)
    elif idle >= 0:
        atime[key] = clock.lru - idle


def _atoi(v: bytes) -> int:
    """strtoll-like: the leading integer, 0 when none."""
    import re
    m = re.match(rb"\s*([+-]?\d+)", v)
    return int(m.group(1)) if m else 0


def _d(b: bytes) -> str:
    return b.decode("utf-8", "replace")


# -- startup -----------------------------------------------------------------------------------
def install(server) -> None:
    """Register the startup load (``server.load_hooks``): the RDB at ``dir``/``dbfilename``
    when ``appendonly`` is no (the AOF loader handles appendonly yes)."""
    async def load_rdb_at_startup():
        cfg = server.config
        if cfg.get("appendonly") == "yes":
            return
        path = os.path.join(cfg.get("dir") or ".", cfg.get("dbfilename"))
        if not os.path.exists(path):
            return
        await startup_load(server, path)
    server.load_hooks.append(load_rdb_at_startup)


async def startup_load(server, path: str) -> LoadInfo:
    """rdbLoad at startup (loadDataFromDisk): Redis's log lines; a corrupt file stops the
    server with exit code 1 (SystemExit)."""
    from valkeyd.log import log
    t0 = time.monotonic()
    server.loading = True
    try:
        chunk = server.config.get_int("loading-process-events-interval-bytes")
        info = await load_rdb_async(server, path, name=os.path.basename(path), log=log,
                                    chunk=chunk)
    except RDBLoadError as e:
        log.warning(f"{SHORT_READ if e.reason == SHORT_READ else e.reason} "
                    f"(file {path}, offset {e.offset})")
        log.warning(f"Fatal error loading the DB: {e}. Exiting.")
        server.exit_code = 1
        raise SystemExit(1) from None
    except OSError as e:
        log.warning(f"Fatal error loading the DB, check server logs. Exiting. ({e.strerror})")
        raise SystemExit(1) from None
    finally:
        server.loading = False
    if info["empty_keys_skipped"]:
        log.notice(f"Done loading RDB, keys loaded: {info['keys_loaded']}, keys expired: "
                   f"{info['keys_expired']}, empty keys skipped: {info['empty_keys_skipped']}.")
    else:
        log.notice(f"Done loading RDB, keys loaded: {info['keys_loaded']}, keys expired: "
                   f"{info['keys_expired']}.")
    log.notice("DB loaded from disk: %.3f seconds" % (time.monotonic() - t0))
    server.rdb_last_load_keys_loaded = info["keys_loaded"]
    server.rdb_last_load_keys_expired = info["keys_expired"]
    return info


# -- resynchronisation (``valkeyd rdb salvage``) --------------------------------------------
_PROBE_OPCODES = frozenset((rdbp.RDB_OPCODE_FUNCTION2, rdbp.RDB_OPCODE_IDLE,
                            rdbp.RDB_OPCODE_FREQ, rdbp.RDB_OPCODE_AUX,
                            rdbp.RDB_OPCODE_RESIZEDB, rdbp.RDB_OPCODE_EXPIRETIME_MS,
                            rdbp.RDB_OPCODE_EXPIRETIME, rdbp.RDB_OPCODE_SELECTDB,
                            rdbp.RDB_OPCODE_EOF))
_PROBE_MAX_STRING = 1 << 16      # keys, AUX fields: longer ones are not taken as plausible
_PROBE_MAX_MS = 1 << 45          # an expire time after the year 3084 is not plausible


def written_types(ver: int, vtypes) -> frozenset:
    """The value types a server writing RDB ``ver`` produces (a loader accepts more): what a
    resynchronisation takes as a record start. Old plain and ziplist encodings are left out
    of newer versions: a plain list of strings (type 1) decodes from almost any run of
    strings, so it would make bogus records that swallow good ones."""
    if ver >= 80:
        return frozenset((0, 2, 4, 5, 7, 11, 16, 17, 18, 20, 21, 22))
    if ver == 12:
        return frozenset((0, 2, 4, 5, 7, 11, 16, 17, 18, 20, 21, 24, 25))
    if ver == 11:
        return frozenset((0, 2, 4, 5, 7, 11, 16, 17, 18, 20, 21))
    if ver == 10:
        return frozenset((0, 2, 4, 5, 7, 11, 16, 17, 18, 19))
    if ver >= 8:
        return frozenset((0, 2, 4, 5, 7, 11, 12, 13, 14, 15))
    return vtypes


def probe_item(data, pos: int, ver: int, vtypes, ext: int, end: int | None = None):
    """Decode the one item (a key/value record with its EXPIRETIME/IDLE/FREQ opcodes, or an
    opcode: SELECTDB, RESIZEDB, AUX, FUNCTION2, SLOT_INFO, EOF) at ``pos`` of ``data`` with
    the loader's own decoders, more strictly than a load (no module types, keys and AUX
    strings up to 64 KB, plausible expire times and db numbers, SELECTDB followed by RESIZEDB
    from version 7 on, EOF only where the file ends,
    no empty key: what a run of zero bytes decodes as). Returns
    ``(kind, next offset)``; raises RDBError (or EmptyKey) when the bytes there do not make
    a plausible item. ``end``: where the data really ends (``data`` may be a window)."""
    n = len(data)
    if end is None:
        end = n
    r = LoadReader(data, pos)
    t = r.byte()
    opened = False
    while t in (rdbp.RDB_OPCODE_EXPIRETIME_MS, rdbp.RDB_OPCODE_EXPIRETIME,
                rdbp.RDB_OPCODE_IDLE, rdbp.RDB_OPCODE_FREQ):
        if t == rdbp.RDB_OPCODE_EXPIRETIME_MS:
            ms = _ms_time(r)
            if not 0 <= ms < _PROBE_MAX_MS:
                raise RDBError("implausible expire time")
        elif t == rdbp.RDB_OPCODE_EXPIRETIME:
            if int.from_bytes(r.read(4), "little", signed=True) < 0:
                raise RDBError("implausible expire time")
        elif t == rdbp.RDB_OPCODE_IDLE:
            if r.length() >= 1 << 40:
                raise RDBError("implausible idle time")
        else:
            r.byte()
        opened = True
        t = r.byte()
    if t in vtypes and t not in (T_MODULE_PRE_GA, T_MODULE_2):
        klen, enc = LoadReader(data, r.pos).length_ex()
        if not enc and klen > _PROBE_MAX_STRING:
            raise RDBError("implausible key length")
        if not r.string():
            raise RDBError("an empty key (zeroed or misread bytes?)")
        decode_value_safe(t + ext if t >= 22 else t, r)   # built and checked as a load does
        return "record", r.pos
    if opened:
        raise RDBError("an expire/idle/freq opcode not followed by a key")
    if t == rdbp.RDB_OPCODE_EOF:
        tail = 8 if ver >= 5 else 0
        if r.pos + tail != end:
            raise RDBError("EOF opcode not at the end of the file")
        return "eof", r.pos
    if t == rdbp.RDB_OPCODE_SELECTDB:
        if r.length() >= 1 << 16:
            raise RDBError("implausible db number")
        if ver >= 7 and (r.pos >= n or data[r.pos] != rdbp.RDB_OPCODE_RESIZEDB):
            raise RDBError("SELECTDB not followed by RESIZEDB")   # both are written since 3.2
        return "select", r.pos
    if t == rdbp.RDB_OPCODE_RESIZEDB:
        if r.length() >= 1 << 40 or r.length() >= 1 << 40:
            raise RDBError("implausible RESIZEDB sizes")
        return "resizedb", r.pos
    if t == rdbp.RDB_OPCODE_AUX:
        for _ in range(2):
            slen, enc = LoadReader(data, r.pos).length_ex()
            if not enc and slen > _PROBE_MAX_STRING:
                raise RDBError("implausible AUX field")
            r.string()
        return "aux", r.pos
    if t == rdbp.RDB_OPCODE_FUNCTION2:
        if r.string()[:2] != b"#!":
            raise RDBError("a function library without its #! line")
        return "function", r.pos
    if t == OPCODE_SLOT_INFO and ver >= 12:
        for _ in range(3):
            if r.length() >= 1 << 40:
                raise RDBError("implausible SLOT_INFO")
        return "slotinfo", r.pos
    raise RDBError(f"Unknown RDB encoding type {t}")


def resync(data, origin: int, ver: int, vtypes, ext: int, accept=None, reach: int = -1,
           window: int = 1 << 20, refine: int = 1 << 20):
    """Where a load can plausibly resume after a corrupt record: ``(starts, meets, others,
    first_end)`` or None (``first_end``: where the first item read from ``starts[0]`` ends).

    The first offset at or after ``origin`` that starts a run of four plausible items (or a
    shorter run that ends with the EOF opcode where the file ends, or with a record that ends
    exactly where the file does). A candidate at or before ``reach`` (where the failed parse
    stopped: the salvage looks back into the records read just before it) must start a run
    that goes past ``reach`` — a parse that re-joined the failed one would fail there again —
    and then for three more items, so that one bogus item that jumps over ``reach`` is not
    enough. ``accept(offset)`` may reject offsets.

    When the chosen start's first item is big (over 256 bytes) it may be a bogus item that
    swallowed real records; a start inside it that begins a run of eight plausible items
    is then taken instead, and ``others`` lists the big item's ``(start, end)`` (a caller
    may keep it: it may be a real record after all).

    Two readings of the same bytes can both be plausible: a bogus item can swallow real
    records and end on a real boundary, and a real record can end with bytes that read as a
    shorter record (a suffix) ending at the same place. So, within the first ``refine`` bytes
    of the chosen start's run, a later start (not one of the run's item boundaries) whose
    run meets one of the run's item boundaries exactly is looked for, and again in that
    one's run.
    ``starts`` lists the chosen start then each finer one; ``meets[i]`` is where the reading
    from ``starts[i]`` joins the next one (a caller resumes at ``starts[-1]`` and may keep
    the records of the other readings up to their meeting points).

    Bounded work: a candidate is decoded inside a window of about ``window`` bytes copied
    from the file (the window slides along, so copying costs O(file)); only a candidate
    that runs past the window's end is decoded again on the whole file. Bytes that cannot
    start an item (most of them) cost one set lookup."""
    n = len(data)
    vtypes = written_types(ver, vtypes)
    starts = vtypes | _PROBE_OPCODES
    if ver >= 12:
        starts = starts | {OPCODE_SLOT_INFO}
    win = [-1, b""]

    def chain_at(c, goal, meet=None, need=_CHAIN_MIN_ITEMS):
        if win[0] < 0 or c - win[0] > window or c < win[0]:
            win[0] = c
            win[1] = bytes(data[c:c + 2 * window])
        base, buf = win
        try:
            return _chain(buf, c - base, ver, vtypes, ext, n - base,
                          goal - base if goal >= 0 else -1, base, meet, need)
        except _PastWindow:
            try:
                return _chain(data, c, ver, vtypes, ext, n, goal, 0, meet, need)
            except _PastWindow:
                return None

    c = origin
    while c < n:
        if data[c] not in starts or (accept is not None and not accept(c)):
            c += 1
            continue
        if data[c] == 0 and data[c + 1:c + 3] == b"\0\0":
            # zeroed bytes: every offset would read as a refused empty-key record; go to
            # two bytes before the next non-zero byte
            m = _NONZERO.search(data, c)
            c = max(c + 1, (m.start() if m else n) - 2)
            continue
        ends = chain_at(c, reach if c <= reach else -1)
        if ends is None:
            c += 1
            continue
        others = []
        if ends[0] - c > _SPONGE and c > reach:
            # a big first item may be a bogus one that swallowed real records (a string
            # length read from the wrong place): a strong run inside it is taken instead
            d = c + 1
            stop = min(ends[0], c + refine)
            while d < stop:
                if data[d] in starts and (accept is None or accept(d)):
                    e2 = chain_at(d, -1, None, _CHAIN_STRONG)
                    if e2 is not None:
                        others.append((c, ends[0]))
                        c, ends = d, e2
                        break
                d += 1
        found = [c]
        meets = []
        first_end = ends[0]
        while True:
            bounds = set(ends)
            d = found[-1] + 1
            stop = min(ends[-1], found[-1] + refine)
            finer = None
            while d < stop:
                if (data[d] in starts and d not in bounds
                        and (accept is None or accept(d))):
                    e2 = chain_at(d, -1, bounds)
                    if e2 is not None:
                        finer = (d, e2)
                        break
                d += 1
            if finer is None:
                return found, meets, others, first_end
            d, e2 = finer
            meets.append(next(x for x in e2 if x in bounds))
            found.append(d)
            ends = e2
    return None


_NONZERO = re.compile(rb"[^\x00]")


class _PastWindow(Exception):
    pass


_CHAIN_MAX_ITEMS = 10000
_CHAIN_MIN_ITEMS = 4
_CHAIN_STRONG = 8          # a run inside a big first item must be this long
_SPONGE = 256              # a first item bigger than this may be a bogus one


def _chain(buf, p: int, ver, vtypes, ext, end: int, reach: int, base: int = 0,
           meet=None, need: int = _CHAIN_MIN_ITEMS):
    """Whether the items from ``p`` on are plausible: four of them, or (``reach`` >= 0) as
    many as it takes to end past ``reach`` and three more (offsets relative to ``buf``;
    ``end``: the file's end); with ``meet`` (a set of absolute offsets), one of the items
    must also end exactly at one of them. Returns the absolute (``base`` added) ends of the
    items read, or None. Raises _PastWindow when ``buf`` ended before the file did."""
    ends = []
    after = 0                 # items that start past ``reach``
    met = meet is None
    while len(ends) < _CHAIN_MAX_ITEMS:
        try:
            kind, q = probe_item(buf, p, ver, vtypes, ext, end)
        except EmptyKey:
            return None
        except RDBError as e:
            if str(e) == "unexpected end of data" and len(buf) < end:
                raise _PastWindow() from None
            return None
        ends.append(q + base)
        if not met and q + base in meet:
            met = True
        if p > reach:
            after += 1
        if kind == "eof":
            return ends if met else None
        if q >= end:                       # a record that ends exactly where the file does
            return ends if kind == "record" and met and (reach < 0 or after >= 3) else None
        if len(ends) >= need and (reach < 0 or after >= 3) and met:
            return ends
        if meet is not None and not met and q + base > max(meet):
            return None
        p = q
    return None
