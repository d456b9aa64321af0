"""What every LMDB collection view shares (engines/lmdb_hash.py, lmdb_set.py, lmdb_zset.py,
lmdb_list.py): a view is bound to one key incarnation, i.e. the key's metadata record ``mk``
and its element-record prefix ``pre`` (the physical database ``p4`` + the version), and reads
and rewrites the key's metadata record (layout in the engines/lmdb.py docstring) inside the
engine's current write transaction."""
from __future__ import annotations

import struct

_q = struct.Struct(">Q").pack

# LMDB keys are at most 511 bytes; the longest element-keyed record is a prefix (pdb + version,
# 12 bytes) + 8 bytes (a score, an expiry time or a crc32 + padding) + the element.
MAX_ELEMENT = 491


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

    def _refuse_long(self, elems, what: str) -> None:
        """Refuse elements LMDB cannot key (before anything is written, so a command is all or
        nothing); a key created for them is removed again (no empty key left behind)."""
        for x in elems:
            if len(x) > MAX_ELEMENT:
                if not self._meta()[4]:
                    self.ks.delete(self.mk[8:])
                from valkeyd.errors import ErrorReply
                raise ErrorReply(f"ERR the lmdb engine does not support {what} longer than "
                                 f"{MAX_ELEMENT} bytes")
