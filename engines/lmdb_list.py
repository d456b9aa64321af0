"""Lists of the LMDB engine (:class:`engines.base.ListValue`), one record per item.

Records (sub-databases opened by :mod:`engines.lmdb`), under the key's ``version``
(``pre`` = ``pdb`` + version, u64 BE; sequence numbers are signed and stored order-preserving
as ``seq + 2**63``, u64 BE):

* ``li``: ``pre`` + seq  ->  the item
* ``lh``: ``pre``  ->  the list header ``>qqIqqii``: head seq (the first item's), tail seq (one
  past the last item's), listpack bytes, first node number, one past the last node number,
  and the quicklist's own fill and compress depth (the list-max-listpack-size and
  list-compress-depth in force when it became a quicklist, as Redis keeps them in the
  quicklist; a 36-byte header written before they were stored means the current configs);
  ``pre`` + node number  ->  ``>II`` item count and bytes of one quicklist node (only while
  the list is a quicklist).

Items occupy the contiguous numbers ``head .. tail-1`` (LPUSH takes ``head - 1``, RPUSH
``tail``), so pushes and pops at either end are O(1) record operations (the item, the end
node, the header, the metadata's size), LINDEX and LSET read one item by number, and LRANGE
seeks to its start and walks. LINSERT shifts the items of the shorter side by one number,
LREM renumbers the shorter side of the removed span: O(n), as in Redis. Nodes are numbered
the same way; operations in the middle (LSET's node, LINSERT's split and merges, LREM) read
the node records and LINSERT/LREM rewrite them. A missing header means an empty list.

OBJECT ENCODING: the header and the node records are the memory engine's layout model
(:mod:`engines.mem_list`: a listpack's byte size, or each quicklist node's count and bytes,
updated by Redis 7.2.4's quicklist.c rules), so the encoding, its conversions in both
directions and the RDB/DUMP node layout are exactly the memory engine's; metadata flag bit 2
says "quicklist" (OBJECT ENCODING reads only the metadata record).
"""
from __future__ import annotations

import struct
import sys
from collections import deque

from .limits import limits
from .lmdb_view import LmdbView
from .mem_list import (_LP_EMPTY, _OPT_LEVEL, _SIZE_ESTIMATE_OVERHEAD, MemoryList,
                       esize, exceeds, listpack_push_over, node_limit, nodes_without)

_Q = struct.Struct(">Q")
_q = _Q.pack
_HDR = struct.Struct(">qqIqqii")
_HDR_OLD = 36   # the header without fill and depth
_NODE = struct.Struct(">II")
_BIAS = 1 << 63
_META = struct.Struct(">BBqQQI")   # the metadata record (engines.lmdb.META)
_pack = _META.pack
_unpack = _META.unpack
F_QL = 4   # metadata flag: quicklist-encoded (the bit hashes and sets use for "hashtable")


class _State:
    """The header of one list, for the length of one operation."""

    __slots__ = ("m", "h", "t", "lpb", "nh", "nt", "ql", "fill", "depth")


class _Walk:
    """A sequence-like view iterating the items from the head (for the node-split code of
    :meth:`MemoryList._ql_insert`, which only islices it)."""

    __slots__ = ("lst", "h")

    def __init__(self, lst, h):
        self.lst, self.h = lst, h

    def __iter__(self):
        return self.lst._walk(self.h)


def _records(txn, dbi, first: bytes, pre: bytes, n: int):
    """Up to ``n`` values of records from key ``first`` on, while the key starts with ``pre``."""
    lp = len(pre)
    with txn.cursor(db=dbi) as cur:
        if not cur.set_range(first):
            return
        k = 0
        for key, v in cur:
            if k >= n or key[:lp] != pre:
                return
            k += 1
            yield v


def _unpack_hdr(raw: bytes) -> tuple:
    if len(raw) == _HDR_OLD:
        return _HDR.unpack(raw + b"\0" * 8)[:5] + (None, None)
    return _HDR.unpack(raw)


def read_list(txn, li_db, lh_db, pre: bytes, ql: bool) -> MemoryList:
    """A memory copy (items, layout model) of the list under ``pre`` read through ``txn``
    (COPY, BGSAVE snapshots); ``ql``: the metadata says quicklist."""
    raw = txn.get(pre, db=lh_db)
    ml = MemoryList.__new__(MemoryList)
    ml.cum = None
    ml.d = deque()
    ml.lpb = _LP_EMPTY
    ml.nodes = [] if ql else None
    ml.fill, ml.depth = limits.list_max_listpack_size, limits.list_compress_depth
    if raw is None:
        return ml
    h, tl, lpb, nh, nt, fill, depth = _unpack_hdr(raw)
    if fill is not None:
        ml.fill, ml.depth = fill, depth
    ml.d.extend(_records(txn, li_db, pre + _q(h + _BIAS), pre, tl - h))
    ml.lpb = lpb
    if ql:
        ml.nodes = [list(_NODE.unpack(x))
                    for x in _records(txn, lh_db, pre + _q(nh + _BIAS), pre, nt - nh)]
    return ml


class LmdbList(LmdbView):
    """A live view of the list stored at one key (bound to its version)."""

    __slots__ = ()

    TYPE_NAME = "list"

    # -- header, metadata, nodes ---------------------------------------------------------------
    def _ik(self, seq: int) -> bytes:
        return self.pre + _q(seq + _BIAS)

    def _hdr(self) -> _State:
        e = self.e
        t = e.txn()
        s = _State()
        s.m = m = _unpack(t.get(self.mk, db=e.meta_db))
        s.ql = bool(m[1] & F_QL)
        raw = t.get(self.pre, db=e.lh_db)
        s.fill, s.depth = limits.list_max_listpack_size, limits.list_compress_depth
        if raw is None:
            s.h = s.t = s.nh = s.nt = 0
            s.lpb = _LP_EMPTY
        else:
            s.h, s.t, s.lpb, s.nh, s.nt, fill, depth = _unpack_hdr(raw)
            if fill is not None:
                s.fill, s.depth = fill, depth
        return s

    def _ql(self) -> bool:
        return bool(_unpack(self.e.txn().get(self.mk, db=self.e.meta_db))[1] & F_QL)

    def _save(self, s: _State) -> None:
        e = self.e
        t = e.txn()
        t.put(self.pre, _HDR.pack(s.h, s.t, s.lpb, s.nh, s.nt, s.fill, s.depth), db=e.lh_db)
        m = s.m
        flags = (m[1] | F_QL) if s.ql else (m[1] & ~F_QL)
        if flags != m[1] or m[4] != s.t - s.h:
            t.put(self.mk, _pack(m[0], flags, m[2], m[3], s.t - s.h, m[5]), db=e.meta_db)
        e.dirty = True

    def _node_get(self, num: int) -> list:
        return list(_NODE.unpack(self.e.txn().get(self._ik(num), db=self.e.lh_db)))

    def _node_put(self, num: int, node) -> None:
        self.e.txn().put(self._ik(num), _NODE.pack(node[0], node[1]), db=self.e.lh_db)

    def _node_del(self, num: int) -> None:
        self.e.txn().delete(self._ik(num), db=self.e.lh_db)

    def _load_nodes(self, s: _State) -> list:
        return [list(_NODE.unpack(x)) for x in
                _records(self.e.txn(), self.e.lh_db, self._ik(s.nh), self.pre, s.nt - s.nh)]

    def _store_nodes(self, s: _State, nodes: list) -> None:
        """Replace every node record by ``nodes`` (numbered from 0)."""
        for num in range(s.nh, s.nt):
            self._node_del(num)
        for num, node in enumerate(nodes):
            self._node_put(num, node)
        s.nh, s.nt = 0, len(nodes)

    def _to_ql(self, s: _State) -> None:
        """listpack -> quicklist: the listpack becomes the one node."""
        s.ql = True
        s.fill, s.depth = limits.list_max_listpack_size, limits.list_compress_depth
        n = s.t - s.h
        s.nh = 0
        s.nt = 1 if n else 0
        if n:
            self._node_put(0, (n, s.lpb))

    def _shrink(self, s: _State, half: bool = True) -> None:
        """A quicklist of one node under (half) the limits becomes a listpack again."""
        if s.ql and s.nt - s.nh == 1:
            node = self._node_get(s.nh)
            sz, cnt = node_limit(limits.list_max_listpack_size)
            if half:
                sz //= 2
                cnt //= 2
            if node[1] <= sz and node[0] <= cnt:
                self._node_del(s.nh)
                s.lpb = node[1]
                s.ql = False
                s.nh = s.nt = 0

    def _grow(self, s: _State, add_bytes: int, add_count: int) -> bool:
        if not s.ql and exceeds(limits.list_max_listpack_size, s.lpb + add_bytes,
                                s.t - s.h + add_count):
            self._to_ql(s)
            return True
        return False

    def _walk(self, start: int, n: int = 1 << 62):
        """Up to ``n`` items from sequence number ``start`` towards the tail."""
        return _records(self.e.txn(), self.e.li_db, self._ik(start), self.pre, n)

    def _walk_back(self, last: int, n: int):
        """Up to ``n`` items from sequence number ``last`` towards the head."""
        pre = self.pre
        lp = len(pre)
        with self.e.txn().cursor(db=self.e.li_db) as cur:
            if not cur.set_key(self._ik(last)):
                return
            k = 0
            for key, v in cur.iterprev():
                if key[:lp] != pre or k >= n:
                    return
                k += 1
                yield v

    # -- ListValue -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return _unpack(self.e.txn().get(self.mk, db=self.e.meta_db))[4]

    def __iter__(self):
        s = self._hdr()
        return iter(list(self._walk(s.h, s.t - s.h)))

    def encoding(self) -> str:
        return "quicklist" if self._ql() else "listpack"

    @property
    def d(self) -> list:   # the RDB writer's view (persistence/rdb_save.py)
        return list(self)

    @property
    def nodes(self):
        s = self._hdr()
        return self._load_nodes(s) if s.ql else None

    @property
    def lpb(self) -> int:
        return self._hdr().lpb

    @property
    def fill(self) -> int:
        return self._hdr().fill

    @property
    def depth(self) -> int:
        return self._hdr().depth

    def copy(self) -> MemoryList:
        e = self.e
        return read_list(e.txn(), e.li_db, e.lh_db, self.pre, self._ql())

    def memory_usage(self) -> int:
        s = self._hdr()
        n = s.t - s.h
        size = 64 + 8 * n
        if n:
            sample = list(self._walk(s.h, 8))
            size += sum(map(sys.getsizeof, sample)) * n // len(sample)
        return size

    # -- pushes --------------------------------------------------------------------------------
    def push_left(self, vals, count_ints: bool = True) -> int:
        return self._push(vals, count_ints, True)

    def push_right(self, vals, count_ints: bool = True) -> int:
        return self._push(vals, count_ints, False)

    def _push(self, vals, count_ints: bool, left: bool) -> int:
        s = self._hdr()
        fill = limits.list_max_listpack_size
        if not s.ql:
            over, nlpb = listpack_push_over(s.lpb, s.t - s.h, vals, count_ints, fill)
            if not over:
                s.lpb = nlpb
            else:
                self._to_ql(s)
        if s.ql:
            fill = s.fill     # the quicklist's own (quicklist->fill)
            if fill < 0:
                szlim = _OPT_LEVEL[-fill - 1 if fill > -6 else 4] - _SIZE_ESTIMATE_OVERHEAD
            end = num = None
            for v in vals:
                if end is None and s.nt > s.nh:
                    num = s.nh if left else s.nt - 1
                    end = self._node_get(num)
                if end is not None:
                    if fill < 0:
                        ok = end[1] + len(v) <= szlim
                    else:
                        ok = not exceeds(fill, end[1] + len(v) + _SIZE_ESTIMATE_OVERHEAD,
                                         end[0] + 1)
                    if ok:
                        end[0] += 1
                        end[1] += esize(v)
                        continue
                    self._node_put(num, end)
                if left:
                    s.nh -= 1
                    num = s.nh
                else:
                    num = s.nt
                    s.nt += 1
                end = [1, _LP_EMPTY + esize(v)]
            if end is not None:
                self._node_put(num, end)
        t = self.e.txn()
        li = self.e.li_db
        pre = self.pre
        if left:
            h = s.h
            for v in vals:
                h -= 1
                t.put(pre + _q(h + _BIAS), v, db=li)
            s.h = h
        else:
            tl = s.t
            for v in vals:
                t.put(pre + _q(tl + _BIAS), v, db=li)
                tl += 1
            s.t = tl
        self._save(s)
        return s.t - s.h

    # -- pops ----------------------------------------------------------------------------------
    def _drop_ends(self, s: _State, k: int, left: bool) -> list:
        """Remove ``k`` items at one end (quicklistDelRange's node accounting); returns them
        in pop order."""
        t = self.e.txn()
        li = self.e.li_db
        pre = self.pre
        out = []
        end = num = None
        for _ in range(k):
            if left:
                v = t.pop(pre + _q(s.h + _BIAS), db=li)
                s.h += 1
            else:
                s.t -= 1
                v = t.pop(pre + _q(s.t + _BIAS), db=li)
            out.append(v)
            if not s.ql:
                s.lpb -= esize(v)
                continue
            if end is None:
                num = s.nh if left else s.nt - 1
                end = self._node_get(num)
            if end[0] == 1:
                self._node_del(num)
                if left:
                    s.nh += 1
                else:
                    s.nt -= 1
                end = None
            else:
                end[0] -= 1
                end[1] -= esize(v)
        if end is not None:
            self._node_put(num, end)
        return out

    def pop_left(self, shrink: bool = True):
        return self.pop_many(1, True, shrink)[0]

    def pop_right(self, shrink: bool = True):
        return self.pop_many(1, False, shrink)[0]

    def pop_many(self, count: int, left: bool, shrink: bool = True) -> list:
        s = self._hdr()
        out = self._drop_ends(s, min(count, s.t - s.h), left)
        if shrink:
            self._shrink(s)
        self._save(s)
        return out

    def trim(self, ltrim: int, rtrim: int) -> None:
        s = self._hdr()
        if ltrim:
            self._drop_ends(s, ltrim, True)
        if rtrim:
            self._drop_ends(s, rtrim, False)
        if s.t > s.h:
            self._shrink(s)
        self._save(s)

    # -- access --------------------------------------------------------------------------------
    def index(self, i: int):
        s = self._hdr()
        n = s.t - s.h
        if i < 0:
            i += n
            if i < 0:
                return None
        elif i >= n:
            return None
        return self.e.txn().get(self._ik(s.h + i), db=self.e.li_db)

    def range(self, start: int, stop: int) -> list:
        return list(self._walk(self._hdr().h + start, stop - start + 1))

    def range_reversed(self, start: int, stop: int) -> list:
        return list(self._walk_back(self._hdr().h + stop, stop - start + 1))

    def set(self, i: int, value) -> bool:
        s = self._hdr()
        n = s.t - s.h
        grew = self._grow(s, len(value), 1)
        if i < 0:
            i += n
        if not 0 <= i < n:
            if grew:
                self._save(s)
            return False
        t = self.e.txn()
        k = self._ik(s.h + i)
        old = t.get(k, db=self.e.li_db)
        t.put(k, value, db=self.e.li_db)
        delta = esize(value) - esize(old)
        if not s.ql:
            s.lpb += delta
        else:
            base = 0
            for j, node in enumerate(self._load_nodes(s)):
                base += node[0]
                if i < base:
                    node[1] += delta
                    self._node_put(s.nh + j, node)
                    break
            self._shrink(s)
        self._save(s)
        return True

    def insert(self, pivot, value, after: bool) -> int:
        s = self._hdr()
        n = s.t - s.h
        grew = self._grow(s, len(value), 1)
        i = -1
        for k, v in enumerate(self._walk(s.h, n)):
            if v == pivot:
                i = k
                break
        if i < 0:
            if grew:
                self._save(s)
            return -1
        if not s.ql:
            s.lpb += esize(value)
        else:
            ml = MemoryList.__new__(MemoryList)
            ml.fill = s.fill
            ml.nodes = self._load_nodes(s)
            ml.cum = None
            ml.d = _Walk(self, s.h)
            ml._ql_insert(i, value, after)
            self._store_nodes(s, ml.nodes)
        p = i + 1 if after else i
        t = self.e.txn()
        li = self.e.li_db
        if p <= n - p:   # the head side moves one number down
            moved = list(self._walk(s.h, p))
            s.h -= 1
            for k, v in enumerate(moved):
                t.put(self._ik(s.h + k), v, db=li)
        else:            # the tail side moves one number up
            moved = list(self._walk(s.h + p, n - p))
            for k, v in enumerate(moved):
                t.put(self._ik(s.h + p + 1 + k), v, db=li)
            s.t += 1
        t.put(self._ik(s.h + p), value, db=li)
        self._save(s)
        return s.t - s.h

    def remove(self, count: int, value) -> int:
        s = self._hdr()
        h = s.h
        n = s.t - h
        idx = []
        if count >= 0:
            for k, v in enumerate(self._walk(h, n)):
                if v == value:
                    idx.append(k)
                    if count and len(idx) == count:
                        break
        else:
            want = -count
            k = n
            for v in self._walk_back(s.t - 1, n):
                k -= 1
                if v == value:
                    idx.append(k)
                    if len(idx) == want:
                        break
            idx.reverse()
        if not idx:
            return 0
        es = esize(value)
        if not s.ql:
            s.lpb -= es * len(idx)
        else:
            self._store_nodes(s, nodes_without(self._load_nodes(s), idx, es))
        # renumber the shorter side of the span holding the removed items
        t = self.e.txn()
        li = self.e.li_db
        first, last = idx[0], idx[-1]
        drop = set(idx)
        if n - first <= last + 1:
            span = list(self._walk(h + first, n - first))
            kept = [v for k, v in enumerate(span, first) if k not in drop]
            for k in range(first, n):
                t.delete(self._ik(h + k), db=li)
            for k, v in enumerate(kept, first):
                t.put(self._ik(h + k), v, db=li)
            s.t = h + first + len(kept)
        else:
            span = list(self._walk(h, last + 1))
            kept = [v for k, v in enumerate(span) if k not in drop]
            for k in range(last + 1):
                t.delete(self._ik(h + k), db=li)
            s.h = h + last + 1 - len(kept)
            for k, v in enumerate(kept):
                t.put(self._ik(s.h + k), v, db=li)
        self._shrink(s)
        self._save(s)
        return len(idx)

    def positions(self, value, rank: int, count: int, maxlen: int) -> list:
        s = self._hdr()
        n = s.t - s.h
        out = []
        limit = n if maxlen == 0 or maxlen > n else maxlen
        matches = 0
        if rank > 0:
            for k, v in enumerate(self._walk(s.h, limit)):
                if v == value:
                    matches += 1
                    if matches >= rank:
                        out.append(k)
                        if count and len(out) >= count:
                            break
        else:
            rank = -rank
            k = n
            for v in self._walk_back(s.t - 1, limit):
                k -= 1
                if v == value:
                    matches += 1
                    if matches >= rank:
                        out.append(k)
                        if count and len(out) >= count:
                            break
        return out

    def try_convert(self, growing) -> None:
        s = self._hdr()
        was = s.ql
        if not s.ql:
            if growing is not False:
                self._grow(s, 0, 0)
        elif growing is not True:
            self._shrink(s, half=growing is False)
        if s.ql != was:
            self._save(s)

    # -- bulk (Keyspace.set of a whole list) ---------------------------------------------------
    def _write_all(self, items, lpb, nodes, fill=None, depth=None) -> None:
        """Store ``items`` (into a new, empty version) with the given layout model (and, for a
        quicklist, its own fill and compress depth; None: the current configs)."""
        t = self.e.txn()
        li = self.e.li_db
        pre = self.pre
        s = self._hdr()
        k = -1
        for k, v in enumerate(items):
            t.put(pre + _q(k + _BIAS), v, db=li)
        s.h, s.t, s.lpb = 0, k + 1, lpb
        if nodes is not None:
            s.ql = True
            s.nh = s.nt = 0
            self._store_nodes(s, nodes)
            if fill is not None:
                s.fill, s.depth = fill, depth
        self._save(s)
