"""What every LMDB collection view shares (engines/lmdb_hash.py, lmdb_set.py, lmdb_zset.py,
lmdb_list.py): a view is bound to one key incarnation, i.e. the key's metadata record ``mk``
and its element-record prefix ``pre`` (the physical database ``p4`` + the version), and reads
and rewrites the key's metadata record (layout in the engines/lmdb.py docstring) inside the
engine's current write transaction.

Element names. Hash fields, set members and sorted-set members appear in LMDB record keys
(at most 511 bytes; the longest element-keyed record key is the 12-byte prefix + 8 bytes - a
score or an expiry time - + the element). So an element is keyed by its *name*: the element
itself if it is shorter than :data:`ELONG` (459) bytes, else its first 459 bytes + its
SHA-256 (:data:`ELONG_NAME` = 491 bytes, a length no short element's name has, so names never
collide). The full long element is kept in the ``le`` sub-database under prefix + name
(written when the element is added, deleted when it is removed, swept with the collection's
other records), and every read of an element out of a record key resolves a 491-byte name
through it (:meth:`LmdbView._full`). Elements are unlimited in length, as in Redis.

Random draws. Hashes and sets number their elements in insertion order (``hs``/``ss``:
prefix + seq -> element). :meth:`LmdbView._sample` draws a seq uniformly from the range in
use and keeps it if its record exists (rejection sampling), so every element is equally
likely and a draw costs O(log n) per try, not O(n): HRANDFIELD, SRANDMEMBER and SPOP on a
big collection. When deletions have left fewer than 1 seq in 8 live it gives up and the
caller reads the whole order instead.
"""
from __future__ import annotations

import hashlib
import random
import struct

_Q = struct.Struct(">Q")
_q = _Q.pack
# the metadata record's layout (engines/lmdb.py META; tests/test_lmdb_engine.py checks that
# they agree): a copy, as engines.lmdb imports this module
_META = struct.Struct(">BBqQQI")
_munpack = _META.unpack
_mpack = _META.pack

# Random draws from a hash or set bigger than this sample its insertion-order records
# (LmdbView._sample) instead of reading every element.
SAMPLE_MIN = 512

ELONG = 459
ELONG_NAME = ELONG + 32


def hashed_name(x, keep: int) -> bytes:
    """The record-key name of a long key or element: its first ``keep`` bytes + its SHA-256
    (``keep`` + 32 bytes, a length no short one's name has)."""
    x = bytes(x)
    return x[:keep] + hashlib.sha256(x).digest()


def elong(x) -> bytes:
    """The name of an element of ELONG bytes or more."""
    return hashed_name(x, ELONG)


def ename(x) -> bytes:
    """An element's name in record keys (the element itself when short)."""
    return x if len(x) < ELONG else elong(x)


class LmdbView:
    """A live view of the collection stored at one key (bound to its version)."""

    __slots__ = ("ks", "e", "mk", "pre")

    TYPE_NAME = ""

    def __init__(self, ks, mk: bytes, p4: bytes, ver: int):
        self.ks = ks
        self.e = ks.engine
        self.mk = mk
        self.pre = p4 + _q(ver)

    def key(self) -> bytes:
        """The key this view belongs to (a long key's record name resolved)."""
        from .lmdb import LONG_NAME
        name = self.mk[8:]
        return name if len(name) != LONG_NAME else self.e.full_key(self.mk[:4], name)

    def _meta(self):
        e = self.e
        return _munpack(e.txn().get(self.mk, db=e.meta_db))

    def _put_meta(self, m, size=None, flags=None):
        e = self.e
        e.txn().put(self.mk, _mpack(m[0], m[1] if flags is None else flags, m[2], m[3],
                                    m[4] if size is None else size, m[5]),
                    db=e.meta_db)
        e.dirty = True

    def _full(self, name) -> bytes:
        """The element named ``name`` (read out of a record key): a 491-byte name is a long
        element's, kept in full in ``le``."""
        if len(name) != ELONG_NAME:
            return name
        return bytes(self.e.txn().get(self.pre + name, db=self.e.le_db))

    def _put_long(self, name, x) -> None:
        """Remember the full element of a long name (``name`` is ELONG_NAME bytes)."""
        self.e.txn().put(self.pre + name, bytes(x), db=self.e.le_db)

    def _drop_long(self, name) -> None:
        self.e.txn().delete(self.pre + name, db=self.e.le_db)

    def _sample(self, dbi, count: int, distinct: bool):
        """``count`` elements drawn uniformly from the insertion-order records in ``dbi``
        (prefix + seq -> element), distinct ones (as seqs) if ``distinct``; None when the
        seq range is too sparse for rejection sampling (see the module docstring). With
        ``distinct``, ``count`` must be well below the element count."""
        pre = self.pre
        n = len(pre)
        t = self.e.txn()
        with t.cursor(db=dbi) as cur:
            if not cur.set_range(pre) or cur.key()[:n] != pre:
                return None
            lo = _Q.unpack(cur.key()[n:n + 8])[0]
            ok = cur.prev() if cur.set_range(pre + b"\xff" * 8) else cur.last()
            if not ok or cur.key()[:n] != pre:
                return None
            hi = _Q.unpack(cur.key()[n:n + 8])[0]
        if self._meta()[4] * 8 < hi - lo + 1:
            return None
        get = t.get
        draw = random.randrange
        out = []
        seen = set()
        misses = 0
        while len(out) < count:
            r = draw(lo, hi + 1)
            if distinct and r in seen:
                continue
            v = get(pre + _q(r), db=dbi)
            if v is None:
                misses += 1
                if misses > 64 + 16 * count:
                    return None
                continue
            if distinct:
                seen.add(r)
            out.append(v)
        return out
