"""What every LMDB collection view shares (engines/lmdb_hash.py, lmdb_set.py, lmdb_zset.py,
lmdb_list.py): a view is bound to one key incarnation, i.e. the key's metadata record ``mk``
and its element-record prefix ``pre`` (the physical database ``p4`` + the version), and reads
and rewrites the key's metadata record (layout in the engines/lmdb.py docstring) inside the
engine's current write transaction."""
from __future__ import annotations

import struct

_q = struct.Struct(">Q").pack


class LmdbView:
    """A live view of the collection stored at one key (bound to its version)."""

    __slots__ = ("ks", "e", "mk", "pre")

    TYPE_NAME = ""

    def __init__(self, ks, mk: bytes, p4: bytes, ver: int):
        self.ks = ks
        self.e = ks.engine
        self.mk = mk
        self.pre = p4 + _q(ver)

    def _meta(self):
        from .lmdb import _unpack
        return _unpack(self.e.txn().get(self.mk, db=self.e.meta_db))

    def _put_meta(self, m, size=None, flags=None):
        from .lmdb import _pack
        self.e.txn().put(self.mk, _pack(m[0], m[1] if flags is None else flags, m[2], m[3],
                                        m[4] if size is None else size, m[5]),
                         db=self.e.meta_db)
        self.e.dirty = True
