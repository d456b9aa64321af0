"""Hashes of the LMDB engine (:class:`engines.base.HashValue`), one record per field.

Records (sub-databases opened by :mod:`engines.lmdb`), under the key's ``version`` (unique in
the environment, so a deleted or renamed key's fields never mix with another's):

* ``hf``: ``pdb`` + version (u64 BE) + crc32(name) (u32 BE) + name  ->  seq + value
* ``hs``: ``pdb`` + version + seq (u64 BE)    ->  field (in full)
* ``le``: ``pdb`` + version + name  ->  field, for fields of 459 bytes or more only

A field's *name* is the field itself when shorter than 459 bytes, else its first 459 bytes +
its SHA-256 (see :mod:`engines.lmdb_view`): fields of any length are stored.

``seq`` numbers fields in insertion order (an overwrite keeps it, a deleted and re-added field
gets a new one), which is the order Redis replies in while the hash is a listpack; the same
order serves hashtable hashes. HSCAN walks ``hf`` in crc32 order: its cursor is the crc32 to
resume from (fields added meanwhile land anywhere, so an iteration always ends). The metadata
record holds the field count and, in flag bit 2, the one-way "hashtable" encoding
(Redis 7.2.4's conversion rules, thresholds from :data:`engines.limits.limits`).

Per-field expiry times (Valkey 9's HEXPIRE family):

* ``hx``: ``pdb`` + version + name  ->  expiry time (i64 BE)
* ``hxi``: ``pdb`` + version + (expiry + 2**63, u64 BE) + name  ->  empty (time order, so
  ``has_expired``/``pop_expired`` look at the first records only); the record whose key is
  exactly ``pdb`` + version holds the number of volatile fields (u64).

* ``hv``: ``pdb`` + version  ->  the hash's metadata key, for each hash that has volatile
  fields: at startup the engine gives these hashes to the server's background field-expiry
  cycle (valkeyd/commands/hashes.py ``track_volatile``), so a restart changes nothing about
  when expired fields go (RENAME rewrites the record; DEL/FLUSH sweep it with the fields).
"""
from __future__ import annotations

import random
import struct
import zlib

from .limits import limits
from .lmdb_view import SAMPLE_MIN, ELONG, ELONG_NAME, LmdbView, elong

_Q = struct.Struct(">Q")
_q = _Q.pack
_U32 = struct.Struct(">I")


def _fk(pre: bytes, elem: bytes) -> bytes:
    """The key of an element record: ordered by crc32 of the element's name, so that a scan
    cursor is a hash position (new elements land anywhere: an iteration always ends). A long
    element's key is ``pre`` + 4 + ELONG_NAME bytes long."""
    if len(elem) >= ELONG:
        elem = elong(elem)
    return pre + _U32.pack(zlib.crc32(elem)) + elem


def _fkn(pre: bytes, name: bytes) -> bytes:
    """The key of an element record from the element's name (read out of another key)."""
    return pre + _U32.pack(zlib.crc32(name)) + name


FK_LONG = 12 + 4 + ELONG_NAME   # the length of a long element's _fk key


def hash_order_scan(txn, dbi, pre: bytes, cursor: int, count: int, le):
    """One HSCAN/SSCAN/ZSCAN step over element records keyed by :func:`_fk`: ``(next,
    elems)`` (long names resolved through ``le``); elements sharing a crc32 are never split
    between two calls."""
    if cursor < 0 or cursor > 0xFFFFFFFF:
        return 0, []
    count = max(count, 1)
    n = len(pre)
    out = []
    last = None
    with txn.cursor(db=dbi) as cur:
        if not cur.set_range(pre + _U32.pack(cursor)):
            return 0, out
        for k in cur.iternext(keys=True, values=False):
            if k[:n] != pre:
                return 0, out
            h = k[n:n + 4]
            if len(out) >= count and h != last:
                return _U32.unpack(h)[0], out
            x = k[n + 4:]
            out.append(x if len(x) != ELONG_NAME else bytes(txn.get(pre + x, db=le)))
            last = h
    return 0, out
_I = struct.Struct(">q")
_BIAS = 1 << 63
_MASK64 = (1 << 64) - 1
F_HT = 4


def _when8(when: int) -> bytes:
    return ((when + _BIAS) & _MASK64).to_bytes(8, "big")


class LmdbHash(LmdbView):
    """A live view of the hash stored at one key (bound to its version)."""

    __slots__ = ()

    TYPE_NAME = "hash"

    # -- metadata ------------------------------------------------------------------------------
    def __len__(self):
        return self._meta()[4]

    def encoding(self) -> str:
        return "hashtable" if self._meta()[1] & F_HT else "listpack"

    @property
    def lp(self) -> bool:   # the RDB writer's view (persistence/rdb_save.py)
        return not self._meta()[1] & F_HT

    @property
    def d(self) -> dict:
        return dict(self.items())

    def copy(self):
        """An independent (memory) hash with the same fields, expiry times and encoding;
        storing it with ``Keyspace.set`` writes it as records again (COPY)."""
        from .mem_hash import MemoryHash
        h = MemoryHash()
        h.d = dict(self.items())
        lp = self.lp
        for f, w in self.volatile_items():
            h.set_expire(f, w)
        h.lp = lp
        return h

    def memory_usage(self) -> int:
        n = 0
        k = 0
        for f, v in self.items():
            n += len(f) + len(v) + 32
            k += 1
            if k == 8:
                break
        return 64 + (n * len(self) // k if k else 0)

    # -- fields --------------------------------------------------------------------------------
    def get(self, field):
        r = self.e.txn().get(_fk(self.pre, field), db=self.e.hf_db)
        return None if r is None else r[8:]

    def contains(self, field) -> bool:
        return self.e.txn().get(_fk(self.pre, field), db=self.e.hf_db) is not None

    def _next_seq(self) -> int:
        with self.e.txn().cursor(db=self.e.hs_db) as cur:
            end = self.pre + b"\xff" * 8
            if cur.set_range(end):
                ok = cur.prev()
            else:
                ok = cur.last()
            if ok and cur.key()[:len(self.pre)] == self.pre:
                return _Q.unpack(cur.key()[len(self.pre):])[0] + 1
        return 1

    def _write(self, pairs, convert: bool, keep_ttl: bool = False, m=None) -> int:
        """Set each (field, value) (removing its expiry time unless ``keep_ttl``); returns
        how many fields were new. ``m``: the metadata, if the caller has just read it."""
        e = self.e
        t = e.txn()
        if m is None:
            m = self._meta()
        flags = m[1] | (F_HT if convert else 0)
        size = m[4]
        pre = self.pre
        seq = None
        vol = None
        created = 0
        lim = limits
        for f, v in pairs:
            if not flags & F_HT:
                mv = lim.hash_max_listpack_value
                if len(f) > mv or len(v) > mv:
                    flags |= F_HT
            fk = _fk(pre, f)
            old = t.get(fk, db=e.hf_db)
            if old is not None:
                t.put(fk, old[:8] + v, db=e.hf_db)
                if not keep_ttl and vol is None:
                    vol = self.volatile_count()
                if not keep_ttl and vol:
                    vol -= self._drop_expire(f)
                continue
            if seq is None:
                seq = self._next_seq()
            s8 = _q(seq)
            seq += 1
            t.put(fk, s8 + v, db=e.hf_db)
            t.put(pre + s8, f, db=e.hs_db)
            if len(fk) == FK_LONG:
                t.put(pre + fk[16:], bytes(f), db=e.le_db)
            size += 1
            created += 1
            if not flags & F_HT and size > lim.hash_max_listpack_entries:
                flags |= F_HT
        e.dirty = True
        if size != m[4] or flags != m[1]:   # (overwrites alone leave the metadata as is)
            self._put_meta(m, size, flags)
        return created

    def set(self, field, value, keep_ttl: bool = False) -> bool:
        return self._write(((field, value),), False, keep_ttl) == 1

    def set_many(self, argv, start: int) -> int:
        convert = False
        m = self._meta()
        if not m[1] & F_HT:
            if (len(argv) - start) // 2 > limits.hash_max_listpack_entries:
                convert = True
            else:
                mv = limits.hash_max_listpack_value
                convert = any(len(argv[i]) > mv for i in range(start, len(argv)))
        return self._write([(argv[i], argv[i + 1]) for i in range(start, len(argv), 2)],
                           convert, False, m)

    def delete(self, field) -> bool:
        e = self.e
        t = e.txn()
        fk = _fk(self.pre, field)
        r = t.get(fk, db=e.hf_db)
        if r is None:
            return False
        t.delete(fk, db=e.hf_db)
        t.delete(self.pre + r[:8], db=e.hs_db)
        if len(fk) == FK_LONG:
            t.delete(self.pre + fk[16:], db=e.le_db)
        self._drop_expire(field)
        m = self._meta()
        self._put_meta(m, m[4] - 1)
        return True

    def _walk(self, start_seq: int = 0):
        """(seq, field) in insertion order from ``start_seq``."""
        pre = self.pre
        n = len(pre)
        with self.e.txn().cursor(db=self.e.hs_db) as cur:
            if not cur.set_range(pre + _q(start_seq)):
                return
            for k, f in cur:
                if k[:n] != pre:
                    return
                yield _Q.unpack(k[n:])[0], f

    def fields(self):
        return iter([f for _, f in self._walk()])

    def items(self):
        t = self.e.txn()
        hf = self.e.hf_db
        pre = self.pre
        return iter([(f, t.get(_fk(pre, f), db=hf)[8:]) for _, f in self._walk()])

    def values(self):
        return iter([v for _, v in self.items()])

    def random_items(self, count: int, distinct: bool) -> list:
        m = self._meta()
        if m[4] > SAMPLE_MIN and m[1] & F_HT and not (distinct and count * 3 > m[4]):
            fields = self._sample(self.e.hs_db, count, distinct)
            if fields is not None:   # uniform draws without reading every field
                t = self.e.txn()
                hf = self.e.hf_db
                pre = self.pre
                return [(f, t.get(_fk(pre, f), db=hf)[8:]) for f in fields]
        items = list(self.items())
        if not distinct:
            return random.choices(items, k=count)
        if count >= len(items):
            return items
        return random.sample(items, count)

    def scan(self, cursor: int, count: int):
        return hash_order_scan(self.e.txn(), self.e.hf_db, self.pre, cursor, count,
                               self.e.le_db)

    # -- per-field expiry ----------------------------------------------------------------------
    def _set_vcount(self, n: int) -> None:
        e = self.e
        t = e.txn()
        if n:
            t.put(self.pre, _q(n), db=e.hxi_db)
            t.put(self.pre, self.mk, db=e.hv_db)
        else:
            t.delete(self.pre, db=e.hxi_db)
            t.delete(self.pre, db=e.hv_db)

    def _drop_expire(self, field) -> int:
        """Remove the field's expiry time (records and count); 1 if it had one."""
        e = self.e
        t = e.txn()
        if len(field) >= ELONG:
            field = elong(field)
        r = t.get(self.pre + field, db=e.hx_db)
        if r is None:
            return 0
        t.delete(self.pre + field, db=e.hx_db)
        t.delete(self.pre + _when8(_I.unpack(r)[0]) + field, db=e.hxi_db)
        self._set_vcount(self.volatile_count() - 1)
        e.dirty = True
        return 1

    def get_expire(self, field):
        if len(field) >= ELONG:
            field = elong(field)
        r = self.e.txn().get(self.pre + field, db=self.e.hx_db)
        return None if r is None else _I.unpack(r)[0]

    def set_expire(self, field, when_ms: int) -> bool:
        if not self.contains(field):
            return False
        m = self._meta()
        if not m[1] & F_HT:   # Valkey keeps volatile fields in its hashtable only
            self._put_meta(m, flags=m[1] | F_HT)
        self._drop_expire(field)
        if len(field) >= ELONG:
            field = elong(field)
        e = self.e
        t = e.txn()
        t.put(self.pre + field, _I.pack(when_ms), db=e.hx_db)
        t.put(self.pre + _when8(when_ms) + field, b"", db=e.hxi_db)
        self._set_vcount(self.volatile_count() + 1)
        e.dirty = True
        return True

    def persist(self, field) -> bool:
        return self._drop_expire(field) == 1

    def volatile_count(self) -> int:
        r = self.e.txn().get(self.pre, db=self.e.hxi_db)
        return 0 if r is None else _Q.unpack(r)[0]

    def volatile_items(self):
        pre = self.pre
        n = len(pre)
        out = []
        with self.e.txn().cursor(db=self.e.hx_db) as cur:
            if cur.set_range(pre):
                for k, w in cur:
                    if k[:n] != pre:
                        break
                    out.append((self._full(k[n:]), _I.unpack(w)[0]))
        return iter(out)

    def _due(self, now_ms: int, limit: int) -> list:
        """Fields whose expiry time is before ``now_ms``, earliest first."""
        pre = self.pre
        n = len(pre)
        out = []
        with self.e.txn().cursor(db=self.e.hxi_db) as cur:
            if cur.set_range(pre + b"\x00"):
                for k in cur.iternext(keys=True, values=False):
                    if k[:n] != pre:
                        break
                    if int.from_bytes(k[n:n + 8], "big") - _BIAS >= now_ms:
                        break
                    out.append(self._full(k[n + 8:]))
                    if limit and len(out) >= limit:
                        break
        return out

    def has_expired(self, now_ms: int) -> bool:
        return bool(self.volatile_count()) and bool(self._due(now_ms, 1))

    def pop_expired(self, now_ms: int, limit: int = 0) -> list:
        if not self.volatile_count():
            return []
        out = self._due(now_ms, limit)
        for f in out:
            self.delete(f)
        return out
