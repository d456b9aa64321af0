"""The RDB writer: version 11 files and DUMP payloads, byte for byte as Redis 7.2.4 writes them.

Layout of a file (rdbSaveRio): ``REDIS0011``; AUX fields ``redis-ver``, ``redis-bits``,
``ctime``, ``used-mem``, then (only when replication info is given) ``repl-stream-db``,
``repl-id``, ``repl-offset``, then ``aof-base``; one FUNCTION2 opcode per function library;
per non-empty database SELECTDB + RESIZEDB (keys, keys with an expiry) and the keys
(EXPIRETIME_MS when the key has one, then type byte, key, value); EOF and the CRC-64 of all
that (8 zero bytes when ``rdbchecksum`` is off).

Values are written in the encoding Redis would hold them in, since the loader keeps the
encoding it reads (OBJECT ENCODING, memory):

* strings: integer-encoded when canonical int32, LZF when ``rdbcompression`` and longer
  than 20 bytes (persistence/rdb_primitives.encode_string);
* lists: QUICKLIST_2, one PACKED listpack node per quicklist node of the memory engine's
  layout model (``MemoryList.nodes``), or one node for a listpack-encoded list;
* sets: INTSET blob, SET_LISTPACK, or plain SET; hashes: HASH_LISTPACK or plain HASH;
  sorted sets: ZSET_LISTPACK (scores as d2string text) or ZSET_2 (binary doubles, from the
  highest rank down, as zsetSave walks the skiplist from its tail);
* streams: STREAM_LISTPACKS_3. Each node of engines/mem_stream.py becomes Redis's node
  listpack: the master entry (live count, deleted count, master field count, master fields,
  terminator 0), then per entry its flags (DELETED 1, SAMEFIELDS 2), ms and seq deltas from
  the master ID, the field count and fields+values (or only values when the fields are the
  master's), and the entry's element count ("lp-count"). Deleted entries stay in their node,
  flagged, exactly as in Redis. Then length, last/first/max-deleted IDs, entries-added and
  the consumer groups in name order (last ID, entries-read, PEL with raw 128-bit big-endian
  IDs, delivery times and counts, consumers with seen/active times and their PEL IDs).

Listpacks are built by :func:`listpack`: the 6-byte header (total bytes, element count capped
at 65535), each element as lpAppend stores it (strings that are canonical int64 become
integers, in the smallest of the 7/13/16/24/32/64-bit forms), its back-length, and 0xFF.

Under an LRU (LFU) ``maxmemory-policy`` each key is preceded by IDLE (FREQ), as in Redis.

Under ``list-compress-depth`` the inner quicklist nodes are written as the LZF blobs the
quicklist holds. Not written: hash field TTLs (Valkey 9 only; Redis 7.2 has no format for them).
"""
from __future__ import annotations

import os
import random
import resource
import struct
import subprocess
import sys
import time
import zlib
from itertools import islice

import lzf

from engines.limits import limits
from valkeyd.protocol import string2ll
from valkeyd.resp import format_double

from . import rdb_primitives as rdbp
from .crc64 import crc64, crc64_bytes

try:   # the lane-parallel CRC-64 for big blocks, where persistence/crc64.py has it
    from .crc64 import crc64_lanes as _crc_block
except ImportError:   # pragma: no cover
    _crc_block = crc64

REDIS_VER = b"7.2.4"

# Object types (rdb.h)
RDB_TYPE_STRING = 0
RDB_TYPE_SET = 2
RDB_TYPE_HASH = 4
RDB_TYPE_ZSET_2 = 5
RDB_TYPE_SET_INTSET = 11
RDB_TYPE_HASH_LISTPACK = 16
# Redis 7.4 (RDB 12): a hashtable hash whose fields may have expiry times (HASH_METADATA). A
# file or DUMP payload holding one is written as RDB version 12 (older readers could not
# keep the times); everything else stays RDB 11, Redis 7.2.4's.
RDB_TYPE_HASH_METADATA = 24
RDB_VERSION_HFE = 12
RDB_TYPE_ZSET_LISTPACK = 17
RDB_TYPE_LIST_QUICKLIST_2 = 18
RDB_TYPE_SET_LISTPACK = 20
RDB_TYPE_STREAM_LISTPACKS_3 = 21

QUICKLIST_NODE_CONTAINER_PACKED = 2
STREAM_ITEM_FLAG_DELETED = 1
STREAM_ITEM_FLAG_SAMEFIELDS = 2

_enc_len = rdbp.encode_len
_pack_d = struct.Struct("<d").pack
_TYPE_BYTE = [bytes((i,)) for i in range(256)]
_LEN1 = [bytes((i,)) for i in range(64)]          # 6-bit lengths
_INT_START = frozenset(b"-0123456789")
_int_enc = rdbp._int_encoding


# -- listpack ---------------------------------------------------------------------------------
def _backlen(n: int) -> bytes:
    """lpEncodeBacklen: the entry's length, 7 bits per byte, read from the right."""
    if n <= 127:
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128,
                      (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128,
                  ((n >> 7) & 127) | 128, (n & 127) | 128))


_LP_UINT7 = [bytes((v, 1)) for v in range(128)]          # 7-bit uints with back-length
_LP_STR6_HEAD = [bytes((0x80 | n,)) for n in range(64)]   # 6-bit string headers
_LP_STR6_TAIL = [bytes((n + 1,)) for n in range(64)]      # and their back-lengths


def lp_int(v: int) -> bytes:
    """One integer element with its back-length."""
    if 0 <= v <= 127:
        return _LP_UINT7[v]
    if -4096 <= v <= 4095:
        if v < 0:
            v += 8192
        return bytes((0xC0 | (v >> 8), v & 0xFF, 2))
    if -32768 <= v <= 32767:
        return b"\xf1" + (v & 0xFFFF).to_bytes(2, "little") + b"\x03"
    if -8388608 <= v <= 8388607:
        return b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -2147483648 <= v <= 2147483647:
        return b"\xf3" + (v & 0xFFFFFFFF).to_bytes(4, "little") + b"\x05"
    return b"\xf4" + (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + b"\x09"


def lp_str(s) -> bytes:
    """One element as lpAppend stores a string (integers recognized)."""
    n = len(s)
    if 0 < n <= 20 and 47 < s[-1] < 58:
        v = string2ll(s)
        if v is not None:
            return lp_int(v)
    if n < 64:
        return _LP_STR6_HEAD[n] + s + _LP_STR6_TAIL[n]
    if n < 4096:
        return bytes((0xE0 | (n >> 8), n & 0xFF)) + s + _backlen(n + 2)
    return b"\xf0" + n.to_bytes(4, "little") + s + _backlen(n + 5)


def listpack(elements, count: int) -> bytes:
    """A listpack of already-encoded ``elements`` (from lp_str / lp_int), ``count`` of them."""
    body = b"".join(elements)
    total = 7 + len(body)
    return (total.to_bytes(4, "little") + (count if count < 65535 else 65535).to_bytes(2, "little")
            + body + b"\xff")


# -- values -----------------------------------------------------------------------------------
def _intset(members) -> bytes:
    vals = sorted(int(m) for m in members)
    if not vals or (-32768 <= vals[0] and vals[-1] <= 32767):
        w, fmt = 2, "h"
    elif -2147483648 <= vals[0] and vals[-1] <= 2147483647:
        w, fmt = 4, "i"
    else:
        w, fmt = 8, "q"
    return struct.pack("<II%d%s" % (len(vals), fmt), w, len(vals), *vals)


def _stream_node(node) -> bytes:
    master = node.master
    ms0 = node.ms[0]
    seq0 = node.seq[0]
    dead = node.dead
    ndead = dead.count(1)
    els = [lp_int(len(dead) - ndead), lp_int(ndead), lp_int(len(master))]
    els.extend(lp_str(f) for f in master)
    els.append(b"\x00\x01")   # the master entry's terminator (integer 0)
    ms = node.ms
    seq = node.seq
    buf = node.buf
    eo = node.eo
    en = node.en
    nmaster = len(master)
    count = 4 + nmaster
    for i in range(len(dead)):
        a = en[i]
        b = en[i + 1]
        fv = [bytes(buf[eo[k]:eo[k + 1]]) for k in range(a, b)]
        nf = (b - a) >> 1
        same = nf == nmaster and tuple(fv[0::2]) == master
        flags = (STREAM_ITEM_FLAG_DELETED if dead[i] else 0) | (
            STREAM_ITEM_FLAG_SAMEFIELDS if same else 0)
        els.append(lp_int(flags))
        els.append(lp_int(ms[i] - ms0))
        els.append(lp_int(seq[i] - seq0))
        if same:
            els.extend(lp_str(x) for x in fv[1::2])
            els.append(lp_int(nf + 3))
            count += nf + 4
        else:
            els.append(lp_int(nf))
            els.extend(lp_str(x) for x in fv)
            els.append(lp_int(nf * 2 + 4))
            count += nf * 2 + 5
    return listpack(els, count)


def _ms_time(t: int) -> bytes:
    return (t & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def _stream(s, compress: bool) -> bytes:
    view = getattr(s, "rdb_view", None)   # a disk engine's stream: its node model in memory
    if view is not None:
        s = view()
    es = rdbp.encode_string
    out = [_enc_len(len(s.nodes))]
    for node in s.nodes:
        out.append(es(node.id_at(0).to_bytes(16, "big"), compress))
        out.append(es(_stream_node(node), compress))
    M = 0xFFFFFFFFFFFFFFFF
    for x in (s.length, s.last_id >> 64, s.last_id & M, s.first_id >> 64, s.first_id & M,
              s.max_deleted_entry_id >> 64, s.max_deleted_entry_id & M, s.entries_added):
        out.append(_enc_len(x))
    groups = s.groups
    out.append(_enc_len(len(groups)))
    for name in sorted(groups):
        g = groups[name]
        out.append(es(name, compress))
        out.append(_enc_len(g.last_id >> 64))
        out.append(_enc_len(g.last_id & M))
        out.append(_enc_len(g.entries_read & M))
        out.append(_enc_len(len(g.pel)))
        for id_, n in g.pel.items():
            out.append(id_.to_bytes(16, "big"))
            out.append(_ms_time(n.time))
            out.append(_enc_len(n.count))
        out.append(_enc_len(len(g.consumers)))
        for cname, cons in g.consumers.items():
            out.append(es(cname, compress))
            out.append(_ms_time(cons.seen))
            out.append(_ms_time(cons.active))
            out.append(_enc_len(len(cons.pel)))
            for id_ in cons.pel:
                out.append(id_.to_bytes(16, "big"))
    return b"".join(out)


def _list(v, compress: bool) -> bytes:
    d = v.d
    nodes = v.nodes
    es = rdbp.encode_string
    if nodes is None:
        return (b"\x01\x02" + es(listpack([lp_str(x) for x in d], len(d)), compress))
    out = [_enc_len(len(nodes))]
    it = iter(d)
    depth = getattr(v, "depth", None)    # the quicklist's own compress depth
    if depth is None:
        depth = limits.list_compress_depth
    nn = len(nodes)
    if depth <= 0 or nn <= depth * 2:
        depth = nn    # no node is compressed
    for i, (cnt, _) in enumerate(nodes):
        lp = listpack([lp_str(next(it)) for _ in range(cnt)], cnt)
        out.append(b"\x02")
        if depth <= i < nn - depth:
            # an inner node, LZF-compressed in the quicklist (__quicklistCompressNode: at
            # least 48 bytes, and only when that saves more than 8): written as that blob
            n = len(lp)
            c = lzf.compress(lp, n - 1) if n >= 48 else None   # (python-lzf: n bytes at most)
            if c and len(c) + 8 < n:
                out.append(b"\xc3" + _enc_len(len(c)) + _enc_len(n) + c)
                continue
        out.append(es(lp, compress))
    return b"".join(out)


def encode_object(v, compress: bool = True, hfe: bool = True) -> tuple[int, bytes]:
    """(RDB type, value bytes) of a value as rdbSaveObjectType + rdbSaveObject write it.
    ``hfe=False``: a hash's field expiry times are left out (an RDB 11 file, whose header
    was written before the values were known: salvage's RecordWriter)."""
    t = type(v)
    if t is bytes or t is bytearray:
        return RDB_TYPE_STRING, rdbp.encode_string(bytes(v), compress)
    tn = v.TYPE_NAME
    es = rdbp.encode_string
    if tn == "list":
        return RDB_TYPE_LIST_QUICKLIST_2, _list(v, compress)
    if tn == "hash":
        if hfe and v.volatile_count():   # fields with expiry times: Redis 7.4's HASH_METADATA
            return RDB_TYPE_HASH_METADATA, _hash_metadata(v, compress)
        if v.lp:
            els = []
            for f, x in v.d.items():
                els.append(lp_str(f))
                els.append(lp_str(x))
            return RDB_TYPE_HASH_LISTPACK, es(listpack(els, len(els)), compress)
        out = [_enc_len(len(v.d))]
        for f, x in v.d.items():
            out.append(es(f, compress))
            out.append(es(x, compress))
        return RDB_TYPE_HASH, b"".join(out)
    if tn == "set":
        enc = v.encoding()
        if enc == "intset":
            return RDB_TYPE_SET_INTSET, es(_intset(v.d), compress)
        if enc == "listpack":
            return RDB_TYPE_SET_LISTPACK, es(listpack([lp_str(m) for m in v.d], len(v.d)),
                                              compress)
        return RDB_TYPE_SET, _enc_len(len(v.d)) + b"".join(es(m, compress) for m in v.d)
    if tn == "zset":
        if v.lp:
            els = []
            for score, m in v.sl:
                els.append(lp_str(m))
                els.append(lp_str(format_double(score)))
            return RDB_TYPE_ZSET_LISTPACK, es(listpack(els, len(els)), compress)
        out = [_enc_len(len(v.sl))]
        for score, m in reversed(v.sl):
            out.append(es(m, compress))
            out.append(_pack_d(score))
        return RDB_TYPE_ZSET_2, b"".join(out)
    if tn == "stream":
        return RDB_TYPE_STREAM_LISTPACKS_3, _stream(v, compress)
    raise TypeError(f"cannot encode a value of type {tn}")


def _hash_metadata(v, compress: bool) -> bytes:
    """rdbSaveObject's HASH_METADATA body (Redis 7.4): the minimum expiry time (8 bytes LE),
    the field count, then per field its TTL as a length (expiry - minimum + 1; 0: none),
    the field and the value."""
    ttls = dict(v.volatile_items())
    base = min(ttls.values())
    es = rdbp.encode_string
    out = [base.to_bytes(8, "little"), _enc_len(len(v))]
    for f, x in v.items():
        w = ttls.get(f)
        out.append(_enc_len(0 if w is None else w - base + 1))
        out.append(es(f, compress))
        out.append(es(x, compress))
    return b"".join(out)


def encode_value(v, compress: bool = True) -> bytes:
    """DUMP's payload: type byte, value, RDB version (2 bytes LE), CRC-64 (version 12 for a
    hash with field expiry times, else 11)."""
    typ, body = encode_object(v, compress)
    return rdbp.payload_footer(bytes((typ,)) + body,
                               RDB_VERSION_HFE if typ == RDB_TYPE_HASH_METADATA
                               else rdbp.RDB_VERSION)


def file_version(server) -> int:
    """The RDB version a file of ``server``'s dataset is written as: 12 when some hash has
    fields with expiry times (the server's field-expiry cycle knows such keys), else 11."""
    hv = getattr(server, "hash_volatile", None)
    return RDB_VERSION_HFE if hv is not None and any(hv.keys) else rdbp.RDB_VERSION


# -- whole files ------------------------------------------------------------------------------
def _aux(key: bytes, val, compress: bool) -> bytes:
    if isinstance(val, int):
        val = b"%d" % val
    elif isinstance(val, str):
        val = val.encode()
    return b"\xfa" + rdbp.encode_string(key, compress) + rdbp.encode_string(val, compress)


def _lru_opcodes(db, key, when, lru: bool) -> bytes:
    """EXPIRETIME_MS (if any), then IDLE (seconds) under an LRU maxmemory-policy or FREQ (the
    decayed LFU counter) under an LFU one, as rdbSaveKeyValuePair writes them."""
    out = b""
    if when is not None:
        out = b"\xfc" + (when & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
    if lru:
        idle = db.idle_seconds(key)
        return out + b"\xf8" + _enc_len(idle or 0)
    freq = db.lfu_freq(key)
    return out + b"\xf9" + bytes(((freq if freq is not None else 5) & 0xFF,))


_HELPER_BLOCK = 1 << 22   # blocks this size and up go to the CRC helper process


_HELPER_CODE = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from persistence.crc64 import crc64_stream\n"
    "crc64_stream(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[2]))\n")


class _CRCHelper:
    """The CRC-64 of a big save computed by a helper process on the other CPU while this
    process goes on encoding keys: the blocks go down its stdin, it folds them into the
    running CRC (``crc64.crc64_stream``) and answers the 8 bytes of the result at EOF. The
    pure-Python CRC costs about as much as the encoding, so on two CPUs the save takes about
    the time of the encoding alone. The helper is a fresh interpreter (``-I -S``, about 20 ms
    of CPU), not a fork: after a fork every page of the dataset whose reference counts this
    process touches while encoding would be copied. ``pid`` is None when no helper could be
    started (the caller computes in-process)."""

    def __init__(self, crc: int):
        self.pid = None
        self.proc = None
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        try:
            self.proc = subprocess.Popen(
                [sys.executable or "python3", "-I", "-S", "-c", _HELPER_CODE, root, str(crc)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                close_fds=True)
        except (OSError, ValueError, subprocess.SubprocessError):
            return
        self.pid = self.proc.pid

    def feed(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def result(self) -> int:
        """The CRC (OSError when the helper failed)."""
        try:
            self.proc.stdin.close()
            out = self.proc.stdout.read(8)
            if self.proc.wait() != 0 or len(out) != 8:
                raise OSError(0, "the CRC-64 helper process failed")
            return int.from_bytes(out, "little")
        finally:
            self.close()

    def close(self) -> None:
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            p.wait()
        except (OSError, subprocess.SubprocessError):
            pass
        self.pid = None


class _CRCWriter:
    """Writes to ``f`` in 4 MB blocks, computing the CRC-64 (when ``check``) and, for the
    read-back verification, a zlib CRC-32 and the size of everything written. From the
    first full block on, the CRC-64 is computed by a :class:`_CRCHelper` process."""

    __slots__ = ("f", "buf", "crc", "check", "size", "crc32", "total", "helper")

    def __init__(self, f, check: bool):
        self.f = f
        self.buf = []
        self.size = 0
        self.crc = 0
        self.check = check
        self.crc32 = 0
        self.total = 0
        self.helper = None

    def write(self, b: bytes) -> None:
        self.buf.append(b)
        self.size += len(b)
        if self.size >= _HELPER_BLOCK:
            self.flush()

    def flush(self, tail: bool = False) -> None:
        if self.buf:
            data = b"".join(self.buf)
            self.buf = []
            self.size = 0
            if self.check and not tail:
                if self.helper is None and len(data) >= _HELPER_BLOCK:
                    self.helper = _CRCHelper(self.crc)
                    if self.helper.pid is None:
                        self.helper = False
                if self.helper:
                    self.helper.feed(data)
                else:
                    self.crc = _crc_block(self.crc, data)
            self.crc32 = zlib.crc32(data, self.crc32)
            self.total += len(data)
            self.f.write(data)

    def final_crc(self) -> int:
        """Flush the body; the CRC-64 of everything written."""
        self.flush()
        if self.helper:
            helper, self.helper = self.helper, False
            self.crc = helper.result()
        return self.crc

    def close(self) -> None:
        if self.helper:
            self.helper.close()
            self.helper = False


def write_rdb(server, fileobj, *, aux_extra=None, rsi=None, aof_base: bool = False,
              stats: dict | None = None, progress=None) -> int:
    """Write the whole dataset of ``server`` to ``fileobj`` (anything with ``write``) as an
    RDB version 11 file (12 when some hash has field expiry times: :func:`file_version`). ``rsi``: None, or a dict with ``repl_stream_db`` (the replication AUX
    fields are then written with the server's ``replid`` and ``master_repl_offset``);
    ``aux_extra``: more (key, value) AUX pairs written after ``aof-base``. Returns the number
    of keys written; ``stats``, when given, receives ``size``, ``crc32`` (zlib's, of every
    byte written) and ``crc64`` (the trailer's value) for the read-back verification;
    ``progress``, when given, is called with the number of keys processed (plus one, as
    rdbSaveDb counts) before every 1024 keys (a BGSAVE child's report to its parent)."""
    cfg = server.config
    compress = cfg.get_bool("rdbcompression")
    check = cfg.get_bool("rdbchecksum")
    w = _CRCWriter(fileobj, check)
    try:
        return _write_body(server, w, cfg, compress, check, aux_extra, rsi, aof_base, stats,
                           progress)
    finally:
        w.close()


def _debug_delay(usec: int) -> None:
    """debugDelay: sleep ``usec`` microseconds; a negative value sleeps 1 µs with
    probability 1/-usec."""
    if usec < 0:
        usec = 1 if random.randrange(-usec) == 0 else 0
    if usec:
        time.sleep(usec / 1e6)


def _write_body(server, w, cfg, compress, check, aux_extra, rsi, aof_base, stats,
                progress) -> int:
    out = w.write
    ver = file_version(server)
    hfe = ver >= RDB_VERSION_HFE   # (an RDB 11 file cannot hold field expiry times)
    out(b"REDIS%04d" % ver)
    out(_aux(b"redis-ver", REDIS_VER, compress))
    out(_aux(b"redis-bits", 64, compress))
    out(_aux(b"ctime", int(time.time()), compress))
    used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out(_aux(b"used-mem", used, compress))
    if rsi is not None:
        out(_aux(b"repl-stream-db", rsi.get("repl_stream_db", 0), compress))
        out(_aux(b"repl-id", getattr(server, "replid", "0" * 40), compress))
        out(_aux(b"repl-offset", getattr(server, "master_repl_offset", 0), compress))
    out(_aux(b"aof-base", 1 if aof_base else 0, compress))
    for k, v in aux_extra or ():
        out(_aux(k if isinstance(k, bytes) else k.encode(), v, compress))
    from valkeyd.scripting.functions import functions_of
    fbody = functions_of(server).dump_body(compress)
    if fbody:
        out(fbody)
    nkeys = 0
    es = rdbp.encode_string
    policy = cfg.get("maxmemory-policy")
    savelru = "lru" in policy
    savelfu = "lfu" in policy
    try:
        delay = cfg.get_int("rdb-key-save-delay")   # a testing aid, as in Redis
    except Exception:
        delay = 0
    for dbid in range(server.engine.databases):
        db = server.engine.db(dbid)
        data = db.data
        if not data:
            continue
        expires = db.expires
        out(b"\xfe" + _enc_len(dbid))
        out(b"\xfb" + _enc_len(len(data)) + _enc_len(len(expires)))
        special = savelru or savelfu or bool(expires) or bool(delay)
        items = iter(data.items())
        while True:
            batch = list(islice(items, 1024))
            if not batch:
                break
            if progress is not None:
                progress(nkeys + 1)
            nkeys += len(batch)
            # the pieces of each key go into one list joined per batch (no per-key
            # concatenation): [opcodes] type byte, key (length + bytes), value
            chunk = []
            add = chunk.append
            for key, v in batch:
                if special:
                    if delay:
                        _debug_delay(delay)
                    when = expires.get(key)
                    if savelru or savelfu:
                        add(_lru_opcodes(db, key, when, savelru))
                    elif when is not None:
                        add(b"\xfc" + (when & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))
                if type(v) is bytes:
                    add(b"\x00")
                    body = None
                else:
                    typ, body = encode_object(v, compress, hfe)
                    add(_TYPE_BYTE[typ])
                kb = key if type(key) is bytes else bytes(key)
                n = len(kb)
                if n <= 11:
                    if n and kb[0] in _INT_START and (enc := _int_enc(kb)) is not None:
                        add(enc)
                    else:
                        add(_LEN1[n])
                        add(kb)
                elif n > 20 and compress:
                    add(es(kb, True))
                elif n < 64:
                    add(_LEN1[n])
                    add(kb)
                else:
                    add(_enc_len(n))
                    add(kb)
                if body is not None:
                    add(body)
                    continue
                n = len(v)          # a string value (rdbSaveRawString), inline
                if n <= 11:
                    if n and v[0] in _INT_START and (enc := _int_enc(v)) is not None:
                        add(enc)
                    else:
                        add(_LEN1[n])
                        add(v)
                elif n > 20 and compress:
                    add(es(v, True))
                elif n < 64:
                    add(_LEN1[n])
                    add(v)
                else:
                    add(_enc_len(n))
                    add(v)
            out(b"".join(chunk))
    out(b"\xff")
    w.write(crc64_bytes(w.final_crc()) if check else b"\x00" * 8)
    w.flush(tail=True)
    if stats is not None:
        stats.update(size=w.total, crc32=w.crc32, crc64=w.crc if check else None)
    return nkeys


class RecordWriter:
    """An RDB version 11 file written record by record, for tools that produce a dataset
    from a stream of records rather than from a server (``valkeyd rdb salvage``): the
    header and AUX fields as :func:`write_rdb` writes them, a FUNCTION2 opcode per
    :meth:`function`, SELECTDB whenever the database changes (no RESIZEDB: it is only a
    hint), ``[EXPIRETIME_MS] [IDLE | FREQ]`` type, key and value per :meth:`add`, then EOF
    and the CRC-64 on :meth:`close`. Values are engine value objects (or bytes), encoded by
    :func:`encode_object`; hash field TTLs are not written (RDB 11 has no format for them)."""

    def __init__(self, fileobj, compress: bool = True, checksum: bool = True):
        self.w = _CRCWriter(fileobj, checksum)
        self.compress = compress
        self.checksum = checksum
        self.dbid = -1
        self.keys = 0
        out = self.w.write
        out(b"REDIS%04d" % rdbp.RDB_VERSION)
        out(_aux(b"redis-ver", REDIS_VER, compress))
        out(_aux(b"redis-bits", 64, compress))
        out(_aux(b"ctime", int(time.time()), compress))
        out(_aux(b"used-mem", 0, compress))
        out(_aux(b"aof-base", 0, compress))

    def function(self, code: bytes) -> None:
        self.w.write(bytes((rdbp.RDB_OPCODE_FUNCTION2,)) + rdbp.encode_string(code,
                                                                              self.compress))

    def add(self, dbid: int, key: bytes, val, expire_ms: int = -1, idle: int = -1,
            freq: int = -1) -> None:
        out = self.w.write
        if dbid != self.dbid:
            out(b"\xfe" + _enc_len(dbid))
            self.dbid = dbid
        if expire_ms != -1:
            out(b"\xfc" + (expire_ms & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))
        if idle != -1:
            out(b"\xf8" + _enc_len(idle))
        if freq != -1:
            out(b"\xf9" + bytes((freq & 0xFF,)))
        typ, body = encode_object(val, self.compress, hfe=False)
        out(bytes((typ,)) + rdbp.encode_string(bytes(key), self.compress) + body)
        self.keys += 1

    def close(self) -> int:
        """EOF and the checksum; returns the number of keys written."""
        w = self.w
        w.write(b"\xff")
        w.write(crc64_bytes(w.final_crc()) if self.checksum else b"\x00" * 8)
        w.flush(tail=True)
        w.close()
        return self.keys
