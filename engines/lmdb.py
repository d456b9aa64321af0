"""The LMDB engine: the keyspace on disk, in an LMDB environment (issue #7).

The dataset lives under ``dir``/valkeyd.lmdb/ and *is* the persistent state: a restart opens
the environment and serves at once (no RDB/AOF load), with DBSIZE right immediately.

Threading and transactions. Every call comes from the event-loop thread. The engine keeps one
write transaction, begun by the first access of a batch; every read and write goes through
it (reads see the batch's own writes). While it holds uncommitted writes, ``Client.flush``
(replaced by :meth:`LmdbEngine.install`) parks the client's output (:meth:`LmdbEngine.hold`);
a callback scheduled with ``call_soon`` - after the current batch - commits and then writes
every parked output (group commit: the batches of other clients that run meanwhile join the
same commit). So a batch (and therefore a MULTI/EXEC or a script, which run inside one
batch) is one atomic LMDB transaction, nothing a client is told (replies, pub/sub and
keyspace-event pushes, MONITOR) leaves before the writes it reflects are committed, and a
push to another client never cuts a transaction in two. The cron commits too (active
expiry's deletions, the sweep).
Durability follows ``appendfsync``: ``always`` syncs the environment after each commit
(before the replies are written), ``everysec`` lets a thread sync once a second, ``no``
leaves it to the OS. The environment is opened with ``sync=False`` so that the policy can be
changed at run time; LMDB's copy-on-write B-trees plus the meta-page switch make a commit
atomic, so a ``kill -9`` never corrupts the environment: it loses at most the commits not yet
synced (none under ``always``).

On-disk format (``FORMAT_VERSION`` = 1, stored in ``info`` under ``format``). Four named
sub-databases, Kvrocks-style:

* ``meta``: one record per key. Key: ``pdb`` (u32 BE) + ``crc32(key)`` (u32 BE) + name,
  where a key's *name* is the key itself if it is shorter than 467 bytes, else its first 467
  bytes + its SHA-256 (499 bytes: LMDB keys are at most 511 bytes); the full long key is
  then kept in ``lk`` (key ``pdb`` + name). ``str`` and ``exp`` use the name too.
  Value: ``>BBqQQI`` = type code, flags, expiry time (ms, signed), version, size, access word.
  - type codes (fixed, as Kvrocks numbers them): 1 string, 2 hash, 3 list, 4 set, 5 zset,
    8 stream. All six are stored by this version; other codes are reserved.
  - flags: bit 0 the key has an expiry time (the field is then valid), bit 1 the string was
    last written from a ``bytearray`` (APPEND/SETRANGE: OBJECT ENCODING says "raw"), bit 2
    the collection is "hashtable"-encoded (one-way, as in Redis) - for a list: "quicklist"
    (both ways, see :mod:`engines.lmdb_list`), for a sorted set: "skiplist" (else
    "listpack"); for sets bit 3 "intset" and bit 4 "new" (created empty: the first SADD
    picks the encoding).
  - version: a number unique in the environment per key incarnation; a collection's element
    records are keyed by ``pdb`` + version, so DEL of a collection is one metadata delete
    (element records of a big one are queued and swept; RENAME moves only the metadata);
    size: the string's length, or the element count of a collection.
  - access word: the LRU clock (seconds) or the LFU word at the last write. Reads record
    accesses in memory only (no write per read); OBJECT IDLETIME/FREQ use the newer of both.
  The crc32 in the key orders a database's keys by hash: SCAN's cursor is simply the hash
  to resume from (stateless, unaffected by inserts and deletes; keys sharing a hash are
  never split between two calls).
* ``str``: string values. Key: ``pdb`` + name.
* ``exp``: the expiry index. Key: ``pdb`` + (expiry + 2**63, u64 BE) + name, empty value.
* ``lk``: the full keys of long keys (``pdb`` + name -> key); a sub-database added in format
  1 (an older build reading such a key would see only its name). The
  active expire cycle walks it in time order from a remembered position, so it never looks
  at keys without an expiry.
* ``info``: ``format``; ``dbmap`` (logical database -> physical ``pdb``, u32 each);
  ``counts`` (per logical database: keys and keys with an expiry, u64 each, so DBSIZE and
  INFO keyspace need no scan); ``next`` (next unused ``pdb``); ``ver`` (next version);
  ``sweep`` (physical databases dropped by FLUSHDB/FLUSHALL, still to be reclaimed);
  ``garbage`` (``pdb`` + version prefixes of deleted collections, still to be reclaimed);
  ``functions`` (the function libraries' code: per library a u32 BE length and the code,
  rewritten in the batch's transaction when FUNCTION LOAD/DELETE/FLUSH/RESTORE change them;
  compiled at startup).
* ``hf``, ``hs``, ``hx``, ``hxi``: hash fields, their insertion order and their expiry times
  (see :mod:`engines.lmdb_hash`); ``sm``, ``ss``: set members and their order
  (:mod:`engines.lmdb_set`); ``zm``, ``zs``: sorted-set members -> score, and the score
  index ordered by (score, member) (:mod:`engines.lmdb_zset`); ``li``, ``lh``: list items by
  sequence number, and the per-list header (head/tail sequence numbers) with one record per
  quicklist node (the encoding's layout model; :mod:`engines.lmdb_list`); ``xs``: streams
  and their consumer groups, one record per header, entry, node, group, consumer and
  pending entry, told apart by a tag byte after the prefix (:mod:`engines.lmdb_stream`).
* ``le``: the full elements of long hash fields, set members and sorted-set members
  (``pdb`` + version + name -> element). Elements appear in record keys by *name*: the
  element itself if shorter than 459 bytes, else its first 459 bytes + its SHA-256 (491
  bytes, so the longest element-keyed record key, 12 + 8 + name, fits LMDB's 511); see
  :mod:`engines.lmdb_view`. A sub-database added in format 1 (an older build reading such
  an element would see only its name).

Format versions. Adding a sub-database and a type code is compatible, so lists, sorted
sets and streams did not bump ``FORMAT_VERSION`` (still 1): an environment written by this
version opens in a build that predates them, which answers "does not support <type> values
yet" for those keys only (and, not knowing their sub-databases, would leave the records of
such a key it deletes or flushes unreclaimed - never mixed with another key's, as versions
are unique).
The version is bumped only when an existing record's layout changes in a way its length
cannot tell: the list header gained its quicklist's fill and compress depth at its end (44
bytes; a 36-byte header is read with the current configs in their place), so it did not.

Physical databases make FLUSHDB/FLUSHALL and SWAPDB O(1): a flush gives the logical database
a fresh ``pdb`` and queues the old one; SWAPDB swaps two ``dbmap`` entries. The cron reclaims
queued ``pdb`` prefixes in steps of at most ~2 ms (``sweep_step``), each its own commit.

Collections: hashes, lists, sets, sorted sets and streams are stored natively
(:mod:`engines.lmdb_hash`, :mod:`engines.lmdb_list`, :mod:`engines.lmdb_set`,
:mod:`engines.lmdb_zset`, :mod:`engines.lmdb_stream`, one record per element - never a blob
of a whole value). DEL of a stream with more than one node or any consumer group queues its
prefix for the sweep (its size field counts live entries only, not tombstones or pending
entries).
"""
from __future__ import annotations

import os
import random
import struct
import threading
import time
import weakref
import zlib

import lmdb

from valkeyd.errors import ErrorReply, WRONGTYPE as _WRONGTYPE_TEXT
from valkeyd.protocol import string2ll

from .base import clock
from .lmdb_hash import F_HT, LmdbHash, _fk
from .lmdb_list import F_QL, LmdbList, read_list
from .lmdb_view import hashed_name, ELONG_NAME
from .lmdb_set import ENC_NAMES as SET_ENC_NAMES, F_NEW, LmdbSet
from .lmdb_set import enc_of as set_enc_of, flags_of as set_flags_of
from .lmdb_stream import LmdbStream, drop_size as stream_drop_size, read_stream
from .lmdb_zset import F_SKIP, LmdbZSet
from .mem_set import HT, INTSET, LISTPACK, NEW, MemorySet
from .mem_zset import MemoryZSet
from .memory import LFU_INIT_VAL, lfu_decr, lfu_minutes, lfu_touch

FORMAT_VERSION = 1
T_STRING, T_HASH, T_LIST, T_SET, T_ZSET, T_STREAM = 1, 2, 3, 4, 5, 8
TYPE_CODES = {"string": T_STRING, "hash": T_HASH, "list": T_LIST, "set": T_SET,
              "zset": T_ZSET, "stream": T_STREAM}
TYPE_NAMES = {v: k for k, v in TYPE_CODES.items()}
F_EXPIRE = 1
F_RAW = 2

META = struct.Struct(">BBqQQI")
_pack = META.pack
_unpack = META.unpack
_U32 = struct.Struct(">I")
_p32 = _U32.pack
_q = struct.Struct(">Q").pack
_BIAS = 1 << 63
_MASK64 = (1 << 64) - 1
WRONGTYPE = ErrorReply(_WRONGTYPE_TEXT)
DIRNAME = "valkeyd.lmdb"
ATIME_MAX = 1_000_000   # read-access times remembered in memory (OBJECT IDLETIME/FREQ)
DEFAULT_MAP_SIZE = 1 << 40   # address space only: the file grows as data is written


_VIEWS = {T_HASH: LmdbHash, T_SET: LmdbSet, T_ZSET: LmdbZSet, T_LIST: LmdbList,
          T_STREAM: LmdbStream}


def unsupported(tname: str) -> ErrorReply:
    return ErrorReply(f"ERR the lmdb engine does not support {tname} values yet")


def _ekey(p4: bytes, when: int, key: bytes) -> bytes:
    return p4 + ((when + _BIAS) & _MASK64).to_bytes(8, "big") + _name(key)


# A key's name in the record keys (LMDB keys are at most 511 bytes; the longest use is the
# expiry index's 4 + 8 + name): keys shorter than LONG bytes as they are, longer ones as
# their first LONG bytes + their SHA-256 (always LONG + 32 = 499 bytes, so never equal to a
# short key's name), the full key then being kept in ``lk`` under ``pdb`` + name.
LONG = 467
LONG_NAME = LONG + 32


def _long(key) -> bytes:
    return hashed_name(key, LONG)


def _name(key) -> bytes:
    return key if len(key) < LONG else _long(key)


class LmdbKeyspace:
    """One logical database; its physical prefix is ``engine.map[id]``."""

    def __init__(self, engine: "LmdbEngine", index: int):
        self.engine = engine
        self.id = index
        self.avg_ttl = 0
        self._exp_pos = None   # where the next active expire sample starts (an exp key)

    # -- internal ------------------------------------------------------------------------------
    def _p4(self) -> bytes:
        return _p32(self.engine.map[self.id])

    def _find(self, key):
        """(p4, meta key, meta) of a live key, or None; reclaims an expired key (lazy
        expiry, reported through on_expired)."""
        e = self.engine
        p4 = _p32(e.map[self.id])
        mk = p4 + _p32(zlib.crc32(key)) + (key if len(key) < LONG else _long(key))
        raw = e.txn().get(mk, db=e.meta_db)
        if raw is None:
            return None
        m = _unpack(raw)
        if m[1] & F_EXPIRE and m[2] < clock.ms():
            if e.replica_mode:
                return None
            self._remove(p4, mk, key, m)
            hook = e.on_expired
            if hook is not None:
                hook(self.id, key)
            return None
        return p4, mk, m

    def _remove(self, p4, mk, key, m):
        e = self.engine
        t = e.txn()
        t.delete(mk, db=e.meta_db)
        if len(mk) == 8 + LONG_NAME:
            t.delete(mk[:4] + mk[8:], db=e.lk_db)
        if m[0] == T_STRING:
            t.delete(mk[:4] + mk[8:], db=e.str_db)
        else:   # a collection: its element records (a stream's size does not count its
            # tombstones and pending entries: see stream_drop_size)
            e.drop_records(p4 + _q(m[3]), m[4] if m[0] != T_STREAM else
                           stream_drop_size(t, e.xs_db, p4 + _q(m[3]), m[4]))
        cnt = e.counts[self.id]
        if m[1] & F_EXPIRE:
            t.delete(_ekey(p4, m[2], key), db=e.exp_db)
            cnt[1] -= 1
        cnt[0] -= 1
        e.dirty = e.struct_dirty = True
        if e.live:
            e.live.pop((p4, key), None)
        if e.atime:
            e.atime.pop((p4, key), None)

    def _touch(self, p4, key, m):
        e = self.engine
        if e.no_touch:
            return
        lfu = e.lfu
        if lfu is None:
            e.atime[(p4, key)] = clock.lru
        else:
            e.atime[(p4, key)] = lfu_touch(e.atime.get((p4, key), m[5]), lfu[0], lfu[1])

    def _value(self, p4, key, m, mk=None):
        if m[0] != T_STRING:
            cls = _VIEWS.get(m[0])
            if cls is not None:
                if mk is None:
                    mk = p4 + _p32(zlib.crc32(key)) + (key if len(key) < LONG else _long(key))
                return cls(self, mk, p4, m[3])
            raise unsupported(TYPE_NAMES.get(m[0], "unknown"))
        e = self.engine
        if e.live:
            v = e.live.get((p4, key))
            if v is not None:
                return v
        return e.txn().get(p4 + (key if len(key) < LONG else _long(key)), db=e.str_db)

    # -- generic -------------------------------------------------------------------------------
    def get(self, key):
        f = self._find(key)
        if f is None:
            return None
        v = self._value(f[0], key, f[2], f[1])
        self._touch(f[0], key, f[2])
        return v

    def peek(self, key):
        f = self._find(key)
        return None if f is None else self._value(f[0], key, f[2], f[1])

    def get_string(self, key):
        f = self._find(key)
        if f is None:
            return None
        if f[2][0] != T_STRING:
            raise WRONGTYPE
        v = self._value(f[0], key, f[2], f[1])
        self._touch(f[0], key, f[2])
        return v

    def get_typed(self, key, cls):
        f = self._find(key)
        if f is None:
            return None
        v = self._value(f[0], key, f[2], f[1])
        if type(v) is not cls:
            raise WRONGTYPE
        self._touch(f[0], key, f[2])
        return v

    def touch(self, key) -> bool:
        f = self._find(key)
        if f is None:
            return False
        self._touch(f[0], key, f[2])
        return True

    def set(self, key, value, keep_ttl=False):
        t = type(value)
        if t is not bytes and t is not bytearray:
            if t is memoryview:
                value = bytes(value)
            elif getattr(value, "TYPE_NAME", None) == "hash":
                return self._set_hash(key, value, keep_ttl)
            elif getattr(value, "TYPE_NAME", None) == "set":
                return self._set_set(key, value, keep_ttl)
            elif getattr(value, "TYPE_NAME", None) == "zset":
                return self._set_zset(key, value, keep_ttl)
            elif getattr(value, "TYPE_NAME", None) == "list":
                return self._set_list(key, value, keep_ttl)
            elif getattr(value, "TYPE_NAME", None) == "stream":
                return self._set_stream(key, value, keep_ttl)
            else:
                raise unsupported(getattr(value, "TYPE_NAME", "this type of"))
        e = self.engine
        txn = e.txn()
        p4 = _p32(e.map[self.id])
        mk = p4 + _p32(zlib.crc32(key)) + (key if len(key) < LONG else _long(key))
        raw = txn.get(mk, db=e.meta_db)
        old = None
        if raw is not None:
            old = _unpack(raw)
            if old[1] & F_EXPIRE and old[2] < clock.ms() and not e.replica_mode:
                self._find(key)   # lookupKeyWrite: the expired key is reclaimed first
                old = None
        cnt = e.counts[self.id]
        flags = F_RAW if type(value) is bytearray else 0
        when = 0
        if old is None:
            cnt[0] += 1
            e.struct_dirty = True
            ver = e.next_version()
            word = clock.lru if e.lfu is None else (lfu_minutes() << 8) | LFU_INIT_VAL
            if len(mk) == 8 + LONG_NAME:
                txn.put(mk[:4] + mk[8:], bytes(key), db=e.lk_db)
            if e.on_new is not None:
                e.on_new(self.id, key)
        else:
            ver = old[3]
            if old[0] != T_STRING:   # another type is replaced: its records go, a new version
                e.drop_records(p4 + _q(old[3]), old[4] if old[0] != T_STREAM else
                               stream_drop_size(txn, e.xs_db, p4 + _q(old[3]), old[4]))
                ver = e.next_version()
            if old[1] & F_EXPIRE:
                if keep_ttl:
                    flags |= F_EXPIRE
                    when = old[2]
                else:
                    txn.delete(_ekey(p4, old[2], key), db=e.exp_db)
                    cnt[1] -= 1
                    e.struct_dirty = True
            if e.lfu is None:
                word = clock.lru
                if e.atime:
                    e.atime.pop((p4, key), None)
            else:   # an overwrite keeps the LFU counter, as Redis's dbSetValue does
                word = e.atime.pop((p4, key), old[5]) if e.atime else old[5]
        txn.put(mk, _pack(T_STRING, flags, when, ver, len(value), word & 0xFFFFFFFF),
                db=e.meta_db)
        txn.put(mk[:4] + mk[8:], value if t is bytes else bytes(value), db=e.str_db)
        if flags & F_RAW:
            e.live[(p4, key)] = value   # may be modified in place: written again at commit
        elif e.live:
            e.live.pop((p4, key), None)
        e.dirty = True

    def delete(self, key) -> bool:
        f = self._find(key)
        if f is None:
            return False
        self._remove(f[0], f[1], key, f[2])
        return True

    def exists(self, key) -> bool:
        return self._find(key) is not None

    def type_name(self, key):
        f = self._find(key)
        return None if f is None else TYPE_NAMES.get(f[2][0], "none")

    def encoding(self, key):
        f = self._find(key)
        if f is None:
            return None
        m = f[2]
        if m[0] != T_STRING:
            if m[0] == T_HASH:
                return "hashtable" if m[1] & F_HT else "listpack"
            if m[0] == T_SET:
                return SET_ENC_NAMES[set_enc_of(m[1])]
            if m[0] == T_ZSET:
                return "skiplist" if m[1] & F_SKIP else "listpack"
            if m[0] == T_LIST:
                return "quicklist" if m[1] & F_QL else "listpack"
            if m[0] == T_STREAM:
                return "stream"
            raise unsupported(TYPE_NAMES.get(m[0], "unknown"))
        if m[1] & F_RAW:
            return "raw"
        n = m[4]
        if n <= 20 and string2ll(bytes(self._value(f[0], key, m))) is not None:
            return "int"
        return "embstr" if n <= 44 else "raw"

    def _word(self, p4, key, m):
        a = self.engine.atime
        return a.get((p4, key), m[5]) if a else m[5]

    def idle_seconds(self, key):
        f = self._find(key)
        if f is None:
            return None
        now = clock.lru
        return max(0, now - self._word(f[0], key, f[2]))

    def lfu_freq(self, key):
        f = self._find(key)
        if f is None:
            return None
        lfu = self.engine.lfu
        return lfu_decr(self._word(f[0], key, f[2]), lfu[1] if lfu else 0)

    def get_collection(self, key, tname: str, create: bool = False):
        f = self._find(key)
        if f is None:
            if not create:
                return None
            if tname == "set":
                p4, mk, ver = self._new_meta(key, T_SET, F_NEW)
                return LmdbSet(self, mk, p4, ver)
            if tname == "zset":
                p4, mk, ver = self._new_meta(key, T_ZSET)
                return LmdbZSet(self, mk, p4, ver)
            if tname == "list":
                p4, mk, ver = self._new_meta(key, T_LIST)
                return LmdbList(self, mk, p4, ver)
            if tname == "stream":
                p4, mk, ver = self._new_meta(key, T_STREAM)
                return LmdbStream(self, mk, p4, ver)
            if tname != "hash":
                raise unsupported(tname)
            return self._new_hash(key)
        m = f[2]
        if m[0] == T_STRING or TYPE_NAMES.get(m[0]) != tname:
            raise WRONGTYPE
        self._touch(f[0], key, m)
        return self._value(f[0], key, m, f[1])

    def _new_meta(self, key, tcode, flags=0):
        """Metadata of a new, empty collection at a key known to be missing."""
        e = self.engine
        p4 = _p32(e.map[self.id])
        mk = p4 + _p32(zlib.crc32(key)) + (key if len(key) < LONG else _long(key))
        ver = e.next_version()
        word = clock.lru if e.lfu is None else (lfu_minutes() << 8) | LFU_INIT_VAL
        e.txn().put(mk, _pack(tcode, flags, 0, ver, 0, word), db=e.meta_db)
        if len(mk) == 8 + LONG_NAME:
            e.txn().put(mk[:4] + mk[8:], bytes(key), db=e.lk_db)
        e.counts[self.id][0] += 1
        e.dirty = e.struct_dirty = True
        if e.on_new is not None:
            e.on_new(self.id, key)
        return p4, mk, ver

    def _new_hash(self, key, flags=0):
        p4, mk, ver = self._new_meta(key, T_HASH, flags)
        return LmdbHash(self, mk, p4, ver)

    # -- storing a collection given as a value object (COPY, MOVE, *STORE, RESTORE, RDB load):
    # its elements become records under a new version, with its encoding.
    def _is_live_view(self, key, value, cls, keep_ttl) -> bool:
        """``value`` is this engine's own live view of ``key`` (e.g. SET of a value just read):
        nothing to store (only the TTL is dropped unless kept)."""
        if isinstance(value, cls) and value.e is self.engine:
            f = self._find(key)
            if f is not None and value.mk == f[1] and value.pre == f[0] + _q(f[2][3]):
                if not keep_ttl:
                    self.persist(key)
                return True
        return False

    def _drop_for_overwrite(self, key, keep_ttl):
        """Remove the key's current incarnation (an expired key is reclaimed first); returns
        (expiry to keep or None, its LRU/LFU word or None)."""
        if self._find(key) is None:
            return None, None
        when = self.get_expire(key) if keep_ttl else None
        p4, mk, m = self._raw_meta(key)
        word = self._word(p4, key, m)
        self._remove(p4, mk, key, m)
        return when, word

    def _finish_overwrite(self, key, mk, when, word) -> None:
        if word is not None and self.engine.lfu is not None:   # an overwrite keeps the counter
            e = self.engine
            m2 = _unpack(e.txn().get(mk, db=e.meta_db))
            e.txn().put(mk, _pack(m2[0], m2[1], m2[2], m2[3], m2[4], word), db=e.meta_db)
        if when is not None:
            self.set_expire(key, when)

    def _set_set(self, key, value, keep_ttl):
        if self._is_live_view(key, value, LmdbSet, keep_ttl):
            return
        members = list(value)
        enc = {"intset": INTSET, "listpack": LISTPACK, "hashtable": HT}[value.encoding()]
        if enc == LISTPACK and not members:
            enc = NEW
        when, word = self._drop_for_overwrite(key, keep_ttl)
        p4, mk, ver = self._new_meta(key, T_SET, set_flags_of(enc))
        if members:
            LmdbSet(self, mk, p4, ver)._rewrite(members, enc)
        self._finish_overwrite(key, mk, when, word)

    def _set_list(self, key, value, keep_ttl):
        if self._is_live_view(key, value, LmdbList, keep_ttl):
            return
        items = list(value)
        nodes = value.nodes
        lpb = value.lpb
        when, word = self._drop_for_overwrite(key, keep_ttl)
        p4, mk, ver = self._new_meta(key, T_LIST)
        LmdbList(self, mk, p4, ver)._write_all(
            items, lpb, None if nodes is None else [list(nd) for nd in nodes],
            getattr(value, "fill", None), getattr(value, "depth", None))
        self._finish_overwrite(key, mk, when, word)

    def _set_stream(self, key, value, keep_ttl):
        if self._is_live_view(key, value, LmdbStream, keep_ttl):
            return
        from .mem_stream import MemoryStream
        src = value if type(value) is MemoryStream else value.copy()
        when, word = self._drop_for_overwrite(key, keep_ttl)
        p4, mk, ver = self._new_meta(key, T_STREAM)
        LmdbStream(self, mk, p4, ver)._load(src)
        self._finish_overwrite(key, mk, when, word)

    def _set_zset(self, key, value, keep_ttl):
        if self._is_live_view(key, value, LmdbZSet, keep_ttl):
            return
        pairs = list(value.items())
        skip = value.encoding() == "skiplist"
        when, word = self._drop_for_overwrite(key, keep_ttl)
        p4, mk, ver = self._new_meta(key, T_ZSET, F_SKIP if skip else 0)
        if pairs:
            LmdbZSet(self, mk, p4, ver)._load(pairs)
        self._finish_overwrite(key, mk, when, word)

    def _set_hash(self, key, value, keep_ttl):
        if self._is_live_view(key, value, LmdbHash, keep_ttl):
            return
        items = list(value.items())
        vol = list(value.volatile_items()) if value.volatile_count() else []
        ht = value.encoding() == "hashtable"
        when, word = self._drop_for_overwrite(key, keep_ttl)
        h = self._new_hash(key, F_HT if ht else 0)
        if items:
            h._write(items, ht)
        for f, w in vol:
            h.set_expire(f, w)
        self._finish_overwrite(key, h.mk, when, word)

    def size(self) -> int:
        return self.engine.counts[self.id][0]

    def expires_count(self) -> int:
        return self.engine.counts[self.id][1]

    def _iter_meta(self):
        """(key, meta) of every record of this database, expired or not."""
        e = self.engine
        p4 = self._p4()
        with e.txn().cursor(db=e.meta_db) as cur:
            if not cur.set_range(p4):
                return
            for mk, raw in cur:
                if mk[:4] != p4:
                    return
                n = mk[8:]
                yield (n if len(n) != LONG_NAME else e.full_key(p4, n)), _unpack(raw)

    def keys(self):
        now = clock.ms()
        return [k for k, m in self._iter_meta() if not (m[1] & F_EXPIRE and m[2] < now)]

    def random_key(self):
        e = self.engine
        tries = 100
        while True:
            n = self.size()
            if n <= 0:
                return None
            p4 = self._p4()
            if n <= 256:
                pool = list(self._iter_meta())
                if not pool:
                    return None
                k, m = pool[random.randrange(len(pool))]
            else:
                with e.txn().cursor(db=e.meta_db) as cur:
                    ok = cur.set_range(p4 + _p32(random.getrandbits(32)))
                    if not ok or cur.key()[:4] != p4:
                        ok = cur.set_range(p4)
                    if not ok or cur.key()[:4] != p4:
                        return None
                    k, m = cur.key()[8:], _unpack(cur.value())
                    if len(k) == LONG_NAME:
                        k = e.full_key(p4, k)
            if m[1] & F_EXPIRE and m[2] < clock.ms():
                if e.replica_mode:
                    if n == self.expires_count():
                        tries -= 1
                        if tries == 0:
                            return k
                    continue
                self._find(k)   # reclaims it
                continue
            return k

    def scan(self, cursor: int, count: int):
        if cursor < 0 or cursor > 0xFFFFFFFF:
            return 0, []
        e = self.engine
        p4 = self._p4()
        count = max(count, 1)
        out = []
        last = None
        with e.txn().cursor(db=e.meta_db) as cur:
            if not cur.set_range(p4 + _p32(cursor)):
                return 0, out
            for mk in cur.iternext(keys=True, values=False):
                if mk[:4] != p4:
                    return 0, out
                h = mk[4:8]
                if len(out) >= count and h != last:
                    return _U32.unpack(h)[0], out
                n = mk[8:]
                out.append(n if len(n) != LONG_NAME else e.full_key(p4, n))
                last = h
        return 0, out

    def flush(self) -> int:
        e = self.engine
        n = self.size()
        old = e.map[self.id]
        e.map[self.id] = e.alloc_pdb()
        e.counts[self.id] = [0, 0]
        e.sweep.append(old)
        e.forget_pdb(_p32(old))
        e.dirty = e.struct_dirty = True
        self._exp_pos = None
        self.avg_ttl = 0
        return n

    # -- expiry --------------------------------------------------------------------------------
    def _raw_meta(self, key):
        e = self.engine
        p4 = self._p4()
        mk = p4 + _p32(zlib.crc32(key)) + (key if len(key) < LONG else _long(key))
        raw = e.txn().get(mk, db=e.meta_db)
        return p4, mk, (None if raw is None else _unpack(raw))

    def get_expire(self, key):
        _, _, m = self._raw_meta(key)
        return m[2] if m is not None and m[1] & F_EXPIRE else None

    def set_expire(self, key, when_ms: int) -> None:
        p4, mk, m = self._raw_meta(key)
        if m is None:
            return
        e = self.engine
        t = e.txn()
        if m[1] & F_EXPIRE:
            t.delete(_ekey(p4, m[2], key), db=e.exp_db)
        else:
            e.counts[self.id][1] += 1
            e.struct_dirty = True
        t.put(_ekey(p4, when_ms, key), b"", db=e.exp_db)
        t.put(mk, _pack(m[0], m[1] | F_EXPIRE, when_ms, m[3], m[4], m[5]), db=e.meta_db)
        e.dirty = True

    def persist(self, key) -> bool:
        p4, mk, m = self._raw_meta(key)
        if m is None or not m[1] & F_EXPIRE:
            return False
        e = self.engine
        t = e.txn()
        t.delete(_ekey(p4, m[2], key), db=e.exp_db)
        t.put(mk, _pack(m[0], m[1] & ~F_EXPIRE, 0, m[3], m[4], m[5]), db=e.meta_db)
        e.counts[self.id][1] -= 1
        e.dirty = e.struct_dirty = True
        return True

    def rename(self, src, dst) -> None:
        p4, mk, m = self._raw_meta(src)
        if m is None:
            return
        if m[0] != T_STRING:
            return self._rename_collection(p4, mk, src, m, dst)
        v = self._value(p4, src, m)
        word = self._word(p4, src, m)
        when = m[2] if m[1] & F_EXPIRE else None
        self._remove(p4, mk, src, m)
        self.set(dst, v)
        p4, mk, m2 = self._raw_meta(dst)
        e = self.engine
        e.txn().put(mk, _pack(m2[0], m2[1], m2[2], m2[3], m2[4], word & 0xFFFFFFFF),
                    db=e.meta_db)   # the object moves: it keeps its LRU/LFU word
        if e.atime:
            e.atime.pop((p4, dst), None)
        if when is not None:
            self.set_expire(dst, when)

    def _rename_collection(self, p4, mk, src, m, dst) -> None:
        """A collection keeps its version (so its element records) under its new name."""
        e = self.engine
        t = e.txn()
        word = self._word(p4, src, m)
        when = m[2] if m[1] & F_EXPIRE else None
        t.delete(mk, db=e.meta_db)
        if len(mk) == 8 + LONG_NAME:
            t.delete(mk[:4] + mk[8:], db=e.lk_db)
        cnt = e.counts[self.id]
        if when is not None:
            t.delete(_ekey(p4, when, src), db=e.exp_db)
            cnt[1] -= 1
        cnt[0] -= 1
        if e.atime:
            e.atime.pop((p4, src), None)
        f = self._find(dst)
        if f is not None:
            self._remove(f[0], f[1], dst, f[2])
        elif e.on_new is not None:
            e.on_new(self.id, dst)
        dk = p4 + _p32(zlib.crc32(dst)) + _name(dst)
        t.put(dk, _pack(m[0], m[1] & ~F_EXPIRE, 0, m[3], m[4], word & 0xFFFFFFFF),
              db=e.meta_db)
        if len(dk) == 8 + LONG_NAME:
            t.put(dk[:4] + dk[8:], bytes(dst), db=e.lk_db)
        if m[0] == T_HASH and t.get(p4 + _q(m[3]), db=e.hv_db) is not None:
            t.put(p4 + _q(m[3]), dk, db=e.hv_db)   # (the field-expiry cycle's index)
        cnt[0] += 1
        e.dirty = e.struct_dirty = True
        if e.atime:
            e.atime.pop((p4, dst), None)
        if when is not None:
            self.set_expire(dst, when)

    def active_expire(self, budget_keys: int):
        e = self.engine
        if not self.expires_count():
            self.avg_ttl = 0
            return 0, 0
        p4 = self._p4()
        now = clock.ms()
        checked = expired = ttl_sum = ttl_n = 0
        victims = []
        pos = self._exp_pos
        wrapped = pos is None or pos[:4] != p4
        nxt = None
        with e.txn().cursor(db=e.exp_db) as cur:
            ok = cur.set_range(p4 if wrapped else pos)
            while checked < budget_keys:
                if not ok or cur.key()[:4] != p4:
                    if wrapped:
                        ok = False
                        break
                    wrapped = True
                    ok = cur.set_range(p4)
                    continue
                k = cur.key()
                when = int.from_bytes(k[4:12], "big") - _BIAS
                checked += 1
                if when < now:
                    if not e.replica_mode:
                        n = k[12:]
                        victims.append(n if len(n) != LONG_NAME else e.full_key(p4, n))
                else:
                    ttl_sum += when - now
                    ttl_n += 1
                ok = cur.next()
            if ok and cur.key()[:4] == p4:
                nxt = cur.key()
        self._exp_pos = nxt
        hook = e.on_expired
        for key in victims:
            q4, mk, m = self._raw_meta(key)
            if m is not None and m[1] & F_EXPIRE and m[2] < now:
                self._remove(q4, mk, key, m)
                expired += 1
                if hook is not None:
                    hook(self.id, key)
        if ttl_n:
            avg = ttl_sum // ttl_n
            if not self.avg_ttl:
                self.avg_ttl = avg
            self.avg_ttl = (self.avg_ttl // 50) * 49 + avg // 50
        return checked, expired

    # -- RDB writer compatibility (persistence/rdb_save.py reads ``data``/``expires``) -------
    @property
    def data(self) -> "_LiveKeys":
        """Every live key and value, streamed from the current transaction one key at a time
        (SAVE, and BGSAVE's child over its own read transaction): memory stays bounded
        whatever the dataset's size."""
        return _LiveKeys(self)

    @property
    def expires(self) -> "_Expires":
        return _Expires(self)


class _LiveKeys:
    """``data`` for the RDB writer: ``len`` is the kept key count (a RESIZEDB hint, which may
    include expired keys not reclaimed yet), ``items()`` walks the metadata records."""

    __slots__ = ("ks",)

    def __init__(self, ks):
        self.ks = ks

    def __len__(self) -> int:
        return self.ks.size()

    def __bool__(self) -> bool:
        return self.ks.size() > 0

    def get(self, key, default=None):
        """The stored value even if logically expired (dictFind: DEBUG OBJECT, MEMORY USAGE)."""
        p4, _, m = self.ks._raw_meta(key)
        return default if m is None else self.ks._value(p4, key, m)

    def items(self):
        ks = self.ks
        now = clock.ms()
        p4 = ks._p4()
        for k, m in ks._iter_meta():
            if m[1] & F_EXPIRE and m[2] < now:
                continue
            yield k, ks._value(p4, k, m)


class _Expires:
    __slots__ = ("ks",)

    def __init__(self, ks):
        self.ks = ks

    def __len__(self) -> int:
        return self.ks.expires_count()

    def __bool__(self) -> bool:
        return self.ks.expires_count() > 0

    def get(self, key, default=None):
        w = self.ks.get_expire(key)
        return default if w is None else w

    def items(self):
        return ((k, m[2]) for k, m in self.ks._iter_meta() if m[1] & F_EXPIRE)


class LmdbEngine:
    """The keyspace in an LMDB environment under ``dir``/valkeyd.lmdb."""

    name = "lmdb"

    # the sub-databases (attribute -> name; layouts in the module docstring)
    DB_NAMES = {
        "meta_db": b"meta",
        "str_db": b"str",
        "lk_db": b"lk",
        "exp_db": b"exp",
        "info_db": b"info",
        "hf_db": b"hf",
        "hs_db": b"hs",
        "hx_db": b"hx",
        "hxi_db": b"hxi",
        "hv_db": b"hv",
        "sm_db": b"sm",
        "ss_db": b"ss",
        "zm_db": b"zm",
        "zs_db": b"zs",
        "li_db": b"li",
        "lh_db": b"lh",
        "le_db": b"le",
        "xs_db": b"xs",
    }
    # the sub-databases of collection elements, keyed by ``pdb`` + version (the sweep of a
    # deleted collection visits these)
    ELEMENT_DBS = ("hf_db", "hs_db", "hx_db", "hxi_db", "hv_db", "sm_db", "ss_db", "zm_db",
                   "zs_db", "li_db", "lh_db", "le_db", "xs_db")

    def _open_dbs(self, create: bool = True) -> None:
        env = self.env
        for attr, name in self.DB_NAMES.items():
            setattr(self, attr, env.open_db(name, create=create))
        self.element_dbs = tuple(getattr(self, a) for a in self.ELEMENT_DBS)

    def __init__(self, config=None, path: str | None = None, databases: int | None = None,
                 map_size: int | None = None):
        if path is None:
            path = os.path.join((config.get("dir") if config is not None else None) or ".",
                                DIRNAME)
        if databases is None:
            databases = config.get_int("databases") if config is not None else 16
        if map_size is None:
            map_size = (config.get_int("lmdb-map-size") if config is not None
                        else DEFAULT_MAP_SIZE)
        self.map_size = map_size
        self.full = False           # denyoom commands refused (see check_full)
        self._near = False          # over half the map used: check_full after each commit
        self.failed = False         # the open transaction hit the map's end (see rollback)
        self.rollbacks = 0
        self.server = None
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.config = config
        self.env = lmdb.open(path, map_size=map_size, max_dbs=32, sync=False, metasync=True,
                             readahead=False, lock=True, max_readers=256)
        self._open_dbs()
        self._psize = self.env.stat()["psize"]
        self._txn = None
        self.dirty = False          # the open transaction wrote something
        self.struct_dirty = False   # dbmap/counts/next/ver/sweep changed
        self.live: dict = {}        # (p4, key) -> bytearray stored this batch (see set)
        self.atime: dict = {}       # (p4, key) -> access word recorded by reads
        self.on_expired = None
        self.on_new = None
        self.replica_mode = False
        self.lfu = None
        self.no_touch = False
        self.lru_touch = False
        self.fsync = config.get("appendfsync") if config is not None else "everysec"
        self.commits = 0
        self._synced = 0
        self._closed = False
        self._child = False
        self._inherited = None
        self._fork_sync = None      # BGSAVE's handshake pipe (prepare_fork)
        self._cron_ticks = 0
        self._held: dict = {}       # clients whose replies wait for the commit (hold)
        self._load(databases)
        ref = weakref.ref(self)
        os.register_at_fork(before=lambda: (e := ref()) is not None and e._before_fork(),
                            after_in_child=lambda: (e := ref()) is not None and e._in_child())
        self._dbs = [LmdbKeyspace(self, i) for i in range(databases)]
        self._stop = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="lmdb-sync", daemon=True)
        self._syncer.start()

    # -- state ---------------------------------------------------------------------------------
    def _load(self, databases: int) -> None:
        with self.env.begin(write=True) as t:
            fmt = t.get(b"format", db=self.info_db)
            if fmt is None:
                t.put(b"format", b"%d" % FORMAT_VERSION, db=self.info_db)
            elif int(fmt) != FORMAT_VERSION:
                raise ValueError(f"{self.path}: lmdb format {int(fmt)} is not supported "
                                 f"(this valkeyd reads format {FORMAT_VERSION})")
            raw = t.get(b"dbmap", db=self.info_db)
            self.map = list(struct.unpack(">%dI" % (len(raw) // 4), raw)) if raw else []
            raw = t.get(b"counts", db=self.info_db)
            c = struct.unpack(">%dQ" % (len(raw) // 8), raw) if raw else ()
            self.counts = [[c[2 * i], c[2 * i + 1]] for i in range(len(c) // 2)]
            raw = t.get(b"sweep", db=self.info_db)
            self.sweep = list(struct.unpack(">%dI" % (len(raw) // 4), raw)) if raw else []
            raw = t.get(b"garbage", db=self.info_db) or b""
            self.garbage = [raw[i:i + 12] for i in range(0, len(raw), 12)]
            self._next = int(t.get(b"next", db=self.info_db) or 0)
            self._ver = int(t.get(b"ver", db=self.info_db) or 1)
            while len(self.map) < databases:
                self.map.append(self.alloc_pdb())
                self.counts.append([0, 0])
            if len(self.map) > databases:   # fewer databases configured: drop the others
                self.sweep.extend(self.map[databases:])
                del self.map[databases:], self.counts[databases:]
            self._write_struct(t)

    def _write_struct(self, t) -> None:
        t.put(b"dbmap", struct.pack(">%dI" % len(self.map), *self.map), db=self.info_db)
        flat = [x for c in self.counts for x in c]
        t.put(b"counts", struct.pack(">%dQ" % len(flat), *flat), db=self.info_db)
        t.put(b"sweep", struct.pack(">%dI" % len(self.sweep), *self.sweep), db=self.info_db)
        t.put(b"garbage", b"".join(self.garbage), db=self.info_db)
        t.put(b"next", b"%d" % self._next, db=self.info_db)
        t.put(b"ver", b"%d" % self._ver, db=self.info_db)
        self.struct_dirty = False

    def drop_records(self, prefix: bytes, size: int) -> None:
        """Delete a collection's element records (``pdb`` + version prefix): at once when
        small, else queued for the cron sweep (DEL stays O(1))."""
        if size > 64:
            self.garbage.append(prefix)
            self.struct_dirty = True
            return
        t = self.txn()
        for dbi in self.element_dbs:
            with t.cursor(db=dbi) as cur:
                if cur.set_range(prefix):
                    while cur.key()[:12] == prefix and cur.delete():
                        pass
        self.dirty = True

    def alloc_pdb(self) -> int:
        p = self._next
        self._next += 1
        self.struct_dirty = True
        return p

    def next_version(self) -> int:
        v = self._ver
        self._ver += 1
        return v

    def forget_pdb(self, p4: bytes) -> None:
        """Drop the in-memory state of a physical database that was flushed."""
        if self.live:
            self.live = {k: v for k, v in self.live.items() if k[0] != p4}
        if self.atime:
            self.atime = {k: v for k, v in self.atime.items() if k[0] != p4}

    def full_key(self, p4: bytes, name: bytes) -> bytes:
        """The key whose (long) record name is ``name`` (see LONG)."""
        return bytes(self.txn().get(p4 + name, db=self.lk_db))

    def txn(self):
        t = self._txn
        if t is None:
            # in a forked child (BGSAVE) only a read transaction of its own is safe
            t = self._txn = self.env.begin(write=not self._child)
        return t

    def _before_fork(self) -> None:
        """The parent commits before any fork (BGSAVE), so the child's view has the batch."""
        if not self._closed and not self._child:
            self.commit()

    def _in_child(self) -> None:
        """In a forked child: never touch the parent's write transaction (not even to free
        it: aborting would release the parent's writer lock); reads use a new read txn. A
        BGSAVE child (:meth:`prepare_fork`) opens an environment of its own, as LMDB wants
        (an environment must not be used across fork), begins its read transaction and
        only then lets the parent go on."""
        self._child = True
        self._inherited = self._txn
        self._txn = None
        self.live = dict(self.live)
        sync, self._fork_sync = self._fork_sync, None
        if sync is None:
            return
        r, w = sync
        os.close(r)
        try:
            self._parent_env = self.env   # never closed here (the parent's)
            self.env = lmdb.open(self.path, map_size=self.map_size, max_dbs=32, readonly=True,
                                 lock=True, max_readers=256, readahead=False)
            self._open_dbs(create=False)
            self._txn = self.env.begin(write=False)
        finally:
            os.write(w, b"+")
            os.close(w)

    def prepare_fork(self) -> None:
        """Before a BGSAVE fork: commit, and make the pipe the child reports on once its read
        transaction has begun (:meth:`fork_parent_wait`), so the snapshot is the dataset at
        the fork exactly: no commit of the parent's can come in between."""
        self.commit()
        self._fork_sync = os.pipe()

    def fork_parent_wait(self) -> None:
        sync, self._fork_sync = self._fork_sync, None
        if sync is None:
            return
        import select
        r, w = sync
        os.close(w)
        select.select([r], [], [], 10.0)   # (EOF at once if the fork failed)
        os.close(r)

    def flush_live(self) -> None:
        """Write back the strings stored as bytearrays this batch (modified in place since)."""
        live = self.live
        if not live:
            return
        t = self.txn()
        for (p4, key), v in live.items():
            mk = p4 + _p32(zlib.crc32(key)) + (key if len(key) < LONG else _long(key))
            raw = t.get(mk, db=self.meta_db)
            if raw is None:
                continue
            m = _unpack(raw)
            if m[0] != T_STRING:
                continue
            t.put(mk[:4] + mk[8:], bytes(v), db=self.str_db)
            if m[4] != len(v):
                t.put(mk, _pack(m[0], m[1], m[2], m[3], len(v), m[5]), db=self.meta_db)
        live.clear()
        self.dirty = True

    # -- Engine --------------------------------------------------------------------------------
    @property
    def databases(self) -> int:
        return len(self._dbs)

    def db(self, index: int) -> LmdbKeyspace:
        return self._dbs[index]

    def swapdb(self, a: int, b: int) -> None:
        if a == b:
            return
        self.txn()
        m, c = self.map, self.counts
        m[a], m[b] = m[b], m[a]
        c[a], c[b] = c[b], c[a]
        da, db_ = self._dbs[a], self._dbs[b]
        da._exp_pos, db_._exp_pos = db_._exp_pos, da._exp_pos
        da.avg_ttl, db_.avg_ttl = db_.avg_ttl, da.avg_ttl
        self.dirty = self.struct_dirty = True

    def flushall(self, lazy: bool = False) -> int:
        return sum(d.flush() for d in self._dbs)

    def flushdb(self, index: int, lazy: bool = False) -> int:
        return self._dbs[index].flush()

    def commit(self) -> bool:
        """Commit the open transaction; False if it had to be rolled back instead (the map
        is full: see :meth:`rollback`)."""
        t = self._txn
        if t is None:
            return True
        if self.failed:
            self.rollback()
            return False
        try:
            if self.live:
                self.flush_live()
            if not self.dirty:
                self._txn = None
                t.abort()
                return True
            if self.struct_dirty:
                self._write_struct(t)
            self._txn = None
            self.dirty = False
            t.commit()
        except lmdb.MapFullError:
            self._txn = t
            self.rollback()
            return False
        self.commits += 1
        if self.fsync == "always":
            self.env.sync(True)
            self._synced = self.commits
        if self._near or (self.env.info()["last_pgno"] + 1) * self._psize * 2 > self.map_size:
            self.check_full()   # (the high-water mark passed half the map: watch closely)
        return True

    # -- a full map (lmdb-map-size) ------------------------------------------------------------
    def headroom(self) -> int:
        """Space kept free for the commands already admitted (copy-on-write needs new
        pages even to delete): 1/32 of the map, between 1 MiB and 256 MiB."""
        return min(max(self.map_size >> 5, 1 << 20), 256 << 20)

    def check_full(self) -> None:
        """Refuse ``denyoom`` commands (as Redis does at maxmemory: reads, DEL, EXPIRE,
        FLUSHALL ... still run, so space can be freed) while the pages in use come within
        :meth:`headroom` of ``lmdb-map-size``."""
        used = self.used_memory_committed()
        self._near = used * 2 > self.map_size   # then checked after every commit
        full = used + self.headroom() > self.map_size
        srv = self.server
        if srv is not None and (full or self.full):
            from valkeyd.errors import LMDB_FULL
            srv.oom_error = (LMDB_FULL % (used, self.map_size)) if full else None
        self.full = full

    def command_failed(self, exc):
        """Client.call's hook for an exception out of a command: LMDB's MDB_MAP_FULL (a
        write bigger than the headroom) breaks the transaction, so the whole batch is rolled
        back at its commit (:meth:`rollback`); the command gets -OOM."""
        if isinstance(exc, lmdb.MapFullError) or (self.failed and isinstance(exc, lmdb.Error)):
            from valkeyd.errors import LMDB_FULL
            if not self.dirty and not self.failed:
                # nothing else written since the last commit: undo this command alone, and
                # nobody has to be disconnected
                self.failed = True
                self.rollback()
            else:
                self.failed = True
                self.dirty = True   # the batch's clients are held until the rollback
            return ErrorReply(LMDB_FULL % (self.used_memory_committed(), self.map_size))
        return None

    def used_memory_committed(self) -> int:
        with self.env.begin() as t:
            return self._used(t)

    def rollback(self) -> None:
        """Drop the open transaction (it hit the end of the map) and reload the state kept
        in memory from the last commit. Clients whose replies waited for it are disconnected
        by the caller (:meth:`_release`): none of their writes since the last commit exists."""
        t, self._txn = self._txn, None
        if t is not None:
            t.abort()
        self.failed = False
        self.dirty = self.struct_dirty = False
        self.live.clear()
        self.rollbacks += 1
        self._load(len(self._dbs))
        for d in self._dbs:
            d._exp_pos = None
        self.check_full()

    def hold(self, client) -> None:
        """Park ``client``'s output until the open transaction is committed: the commit runs
        once the current event-loop callback (the batch) is over, so every client whose
        batch runs meanwhile joins the same commit (and fsync), and a transaction is never
        cut by a push to another client in the middle of a batch."""
        held = self._held
        if not held:
            import asyncio
            asyncio.get_running_loop().call_soon(self._release)
        held[client] = True

    def _release(self) -> None:
        held = self._held
        self._held = {}
        ok = True
        if not self._closed:
            ok = self.commit()
        if not ok:   # rolled back: these replies describe writes that do not exist
            import logging
            logging.getLogger("valkeyd").warning(
                "The lmdb environment is full ('lmdb-map-size' %d): the last batch of writes "
                "was rolled back and its %d client(s) disconnected", self.map_size, len(held))
            for c in held:
                c.out.clear()
                c.close()
            return
        from valkeyd.client import Client
        plain = Client._lmdb_plain
        for c in held:
            plain(c)

    def _sync_loop(self) -> None:
        while not self._stop.wait(1.0):
            if self.fsync == "everysec" and self._synced != self.commits:
                n = self.commits
                try:
                    self.env.sync(True)
                except lmdb.Error:
                    return
                self._synced = n

    def sweep_step(self, budget_s: float = 0.002, batch: int = 256) -> int:
        """Reclaim records of flushed physical databases for at most ``budget_s``; returns
        how many records were deleted. Commits its own work."""
        if not self.sweep and not self.garbage:
            return 0
        self.commit()
        deadline = time.monotonic() + budget_s
        t = self.txn()
        n = 0
        while (self.sweep or self.garbage) and time.monotonic() < deadline:
            if self.sweep:
                queue, pre = self.sweep, _p32(self.sweep[0])
                dbis = (self.meta_db, self.str_db, self.exp_db, self.lk_db) + self.element_dbs
            else:
                queue, pre = self.garbage, self.garbage[0]
                dbis = self.element_dbs
            lp = len(pre)
            left = False
            for dbi in dbis:
                with t.cursor(db=dbi) as cur:
                    if not cur.set_range(pre):
                        continue
                    k = 0
                    while cur.key()[:lp] == pre:
                        if k >= batch:
                            left = True
                            break
                        if not cur.delete():
                            break
                        k += 1
                    n += k
                    if cur.key()[:lp] == pre and cur.key():
                        left = True
            if not left:
                queue.pop(0)
                self.struct_dirty = True
        self.dirty = True
        self.commit()
        return n

    def cron(self) -> None:
        if self.sweep or self.garbage:
            try:
                self.sweep_step()
            except lmdb.MapFullError:
                self.failed = True
        self.commit()
        self._cron_ticks += 1
        if self._cron_ticks % 5 == 0 or self.full:
            self.check_full()
        if self._cron_ticks % 100 == 0:
            self.env.reader_check()   # reader slots left by exited BGSAVE children
            if len(self.atime) > ATIME_MAX:
                # read accesses are kept in memory only: past this size they are forgotten
                # (OBJECT IDLETIME then counts from the key's last write)
                self.atime = {}

    def snapshot(self):
        self.commit()
        now = clock.ms()
        t = self.env.begin(write=False)
        maps = list(self.map)

        def gen():
            try:
                for dbid, p in enumerate(maps):
                    p4 = _p32(p)
                    with t.cursor(db=self.meta_db) as cur:
                        if not cur.set_range(p4):
                            continue
                        for mk, raw in cur:
                            if mk[:4] != p4:
                                break
                            m = _unpack(raw)
                            when = m[2] if m[1] & F_EXPIRE else None
                            if when is not None and when < now:
                                continue
                            key = mk[8:]
                            if len(key) == LONG_NAME:
                                key = bytes(t.get(p4 + key, db=self.lk_db))
                            if m[0] == T_HASH:
                                yield dbid, key, self._snap_hash(t, p4 + _q(m[3]), m), when
                                continue
                            if m[0] == T_SET:
                                yield dbid, key, self._snap_set(t, p4 + _q(m[3]), m), when
                                continue
                            if m[0] == T_ZSET:
                                yield dbid, key, self._snap_zset(t, p4 + _q(m[3]), m), when
                                continue
                            if m[0] == T_STREAM:
                                yield dbid, key, read_stream(t, self.xs_db, p4 + _q(m[3]),
                                                             m[4]), when
                                continue
                            if m[0] == T_LIST:
                                yield dbid, key, read_list(t, self.li_db, self.lh_db,
                                                           p4 + _q(m[3]), bool(m[1] & F_QL)), when
                                continue
                            if m[0] != T_STRING:
                                continue
                            v = t.get(mk[:4] + mk[8:], db=self.str_db)
                            yield dbid, key, (bytearray(v) if m[1] & F_RAW else v), when
            finally:
                t.abort()

        return gen()

    def _snap_set(self, t, pre, m):
        s = MemorySet(set_enc_of(m[1]))
        n = len(pre)
        with t.cursor(db=self.ss_db) as cur:
            if cur.set_range(pre):
                for k, x in cur:
                    if k[:n] != pre:
                        break
                    s._insert(x)
        return s

    def _snap_zset(self, t, pre, m):
        from sortedcontainers import SortedList
        z = MemoryZSet()
        n = len(pre)
        pairs = []
        with t.cursor(db=self.zs_db) as cur:
            if cur.set_range(pre):
                for k, s8 in cur:
                    if k[:n] != pre:
                        break
                    mb = k[n + 8:]
                    if len(mb) == ELONG_NAME:   # a long member's name (engines.lmdb_view)
                        mb = bytes(t.get(pre + mb, db=self.le_db))
                    pairs.append((struct.unpack(">d", s8)[0], mb))
        z.sl = SortedList(pairs)
        z.d = {mb: sc for sc, mb in pairs}
        z.lp = not m[1] & F_SKIP
        return z

    def _snap_hash(self, t, pre, m):
        from .mem_hash import MemoryHash
        h = MemoryHash()
        n = len(pre)
        with t.cursor(db=self.hs_db) as cur:
            if cur.set_range(pre):
                for k, f in cur:
                    if k[:n] != pre:
                        break
                    h.d[f] = t.get(_fk(pre, f), db=self.hf_db)[8:]
        with t.cursor(db=self.hx_db) as cur:
            if cur.set_range(pre):
                for k, w in cur:
                    if k[:n] != pre:
                        break
                    f = k[n:]
                    if len(f) == ELONG_NAME:
                        f = bytes(t.get(pre + f, db=self.le_db))
                    h.set_expire(f, struct.unpack(">q", w)[0])
        h.lp = not m[1] & F_HT
        return h

    def used_memory(self) -> int:
        return self._used(self.txn())

    def _used(self, t) -> int:
        total = 0
        for dbi in (self.meta_db, self.str_db, self.exp_db, self.lk_db) + self.element_dbs:
            s = t.stat(dbi)
            total += s["psize"] * (s["branch_pages"] + s["leaf_pages"] + s["overflow_pages"])
        return total

    def close(self) -> None:
        if self._closed:
            return
        self.commit()
        self._closed = True
        self._stop.set()
        if self._syncer.is_alive() and self._syncer is not threading.current_thread():
            self._syncer.join(5)   # never close the environment under a running env.sync
        try:
            self.env.sync(True)
        finally:
            self.env.close()

    def _track_volatile_hashes(self, server) -> None:
        """Give the hashes with volatile fields (``hv``) to the server's background
        field-expiry cycle, as the memory engine's commands registered them before the
        restart. Costs one record per such hash, not a keyspace scan."""
        from valkeyd.commands.hashes import track_volatile
        logical = {p: i for i, p in enumerate(self.map)}
        found = []
        t = self.txn()
        with t.cursor(db=self.hv_db) as cur:
            for pre, mk in cur:
                dbid = logical.get(_U32.unpack(pre[:4])[0])
                raw = t.get(mk, db=self.meta_db)
                if dbid is None or raw is None:
                    continue
                m = _unpack(raw)
                if m[0] != T_HASH or _q(m[3]) != pre[4:12]:
                    continue
                name = mk[8:]
                found.append((dbid, name if len(name) != LONG_NAME
                              else self.full_key(mk[:4], name)))
        self.commit()
        for dbid, key in found:
            track_volatile(server, dbid, key)

    # -- function libraries --------------------------------------------------------------------
    def function_codes(self) -> list:
        """The stored function libraries' code (``info`` record ``functions``: per library a
        u32 BE length and the code, in load order)."""
        raw = bytes(self.txn().get(b"functions", b"", db=self.info_db))
        out, pos = [], 0
        while pos + 4 <= len(raw):
            n = _U32.unpack_from(raw, pos)[0]
            out.append(raw[pos + 4:pos + 4 + n])
            pos += 4 + n
        return out

    def store_function_codes(self, codes) -> None:
        """Replace the stored libraries, in the open transaction (so FUNCTION LOAD's reply
        waits for the commit like any write's)."""
        t = self.txn()
        if codes:
            t.put(b"functions", b"".join(_p32(len(c)) + bytes(c) for c in codes),
                  db=self.info_db)
        else:
            t.delete(b"functions", db=self.info_db)
        self.dirty = True

    def _install_functions(self, server) -> None:
        """Load the stored libraries into the server (as the RDB load would) and store them
        again whenever FUNCTION LOAD/DELETE/FLUSH/RESTORE changes them."""
        from valkeyd.scripting.functions import FunctionError, functions_of
        codes = self.function_codes()
        if codes:
            fns = functions_of(server)
            for code in codes:
                try:
                    fns.create(code, False, None, 0)
                except FunctionError as e:
                    raise ValueError(f"{self.path}: cannot load a stored function library: "
                                     f"{e}") from None
        self.commit()
        server.function_hooks.append(lambda fns: self.store_function_codes(fns.libraries_code()))

    # -- server integration --------------------------------------------------------------------
    def install(self, server) -> None:
        """Called by the Server once: replies wait for the commit, the cron commits and
        sweeps, appendfsync is followed, and the dataset is not loaded from RDB/AOF (the
        environment is the dataset)."""
        from valkeyd.client import Client

        # tests/test_lmdb_engine.py's negative control: replies no longer wait for the commit
        # (the cron commits), which kill -9 must expose as lost acknowledged writes
        sabotage = os.environ.get("VALKEYD_LMDB_TEST_REPLY_BEFORE_COMMIT") == "1"
        if not sabotage and not getattr(Client, "_lmdb_flush", False):
            plain = Client._lmdb_plain = Client.flush_plain

            def flush_lmdb(c):
                """Client.flush while an lmdb engine exists in the process: while the open
                transaction holds uncommitted writes, replies (and pushes: pub/sub,
                keyspace events, MONITOR) wait for its commit (group commit, see
                LmdbEngine.hold). The AOF's flush ends in Client.flush_plain: this too."""
                srv = c.server
                eng = srv.engine
                if c.out and getattr(eng, "dirty", False) and srv._script_busy is None:
                    return eng.hold(c)
                plain(c)   # (a busy script's -BUSY replies to others reveal none of its writes)

            Client.flush = Client.flush_plain = flush_lmdb
            Client._lmdb_flush = True
        server.cron_hooks.append(self.cron)
        server.load_hooks.clear()
        self.server = server
        self._track_volatile_hashes(server)

        def on_map_size(_v=None):
            size = server.config.get_int("lmdb-map-size")
            self.commit()
            self.env.set_mapsize(size)
            self.map_size = self.env.info()["map_size"]
            self.check_full()

        server.config.on_change("lmdb-map-size", on_map_size)
        self.check_full()
        self._install_functions(server)

        def on_fsync(_v=None):
            self.fsync = server.config.get("appendfsync")

        server.config.on_change("appendfsync", on_fsync)
