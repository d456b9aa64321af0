"""Lists of the LMDB engine (:class:`engines.base.ListValue`), one record per item.

Records (sub-databases opened by :mod:`engines.lmdb`), under the key's ``version``:

* ``li``: ``pdb`` + version (u64 BE) + (seq + 2**63, u64 BE)  ->  the item
* ``lh``: ``pdb`` + version  ->  the list header: ``>qqI`` head seq (the first item's),
  tail seq (one past the last item's), listpack bytes; then, while the list is a quicklist,
  its node layout: (count, bytes) per node, u32 little-endian each, head to tail.

Items occupy the contiguous sequence numbers ``head .. tail-1`` (signed: LPUSH takes
``head - 1``, RPUSH ``tail``; the order-preserving encoding adds 2**63), so pushes and pops at
either end are O(1) record operations (the item, the header, the metadata's size), LINDEX and
LSET read one record by number, and LRANGE seeks to its start and walks. LINSERT shifts the
items of the shorter side by one number, LREM renumbers the shorter side of the removed span:
O(n) as in Redis. A missing header means an empty list (a new key).

OBJECT ENCODING: the header holds the same layout model as the memory engine's list
(:mod:`engines.mem_list`: a listpack's byte size, or each quicklist node's count and bytes,
updated by Redis 7.2.4's quicklist.c rules), so the encoding and its conversions in both
directions are exactly the memory engine's; metadata flag bit 2 says "quicklist" (OBJECT
ENCODING reads only the metadata record). The node layout (8 bytes a node) is rewritten with
the header; a node holds up to 8 KB of items by default, so it stays small.
"""
from __future__ import annotations

import struct
import sys
from array import array
from collections import deque
from itertools import islice

from .limits import limits
from .mem_list import (_LP_EMPTY, _OPT_LEVEL, _SIZE_ESTIMATE_OVERHEAD, MemoryList, _is_int,
                       esize, exceeds, node_limit)

_Q = struct.Struct(">Q")
_q = _Q.pack
_HDR = struct.Struct(">qqI")
_BIAS = 1 << 63
F_QL = 4   # metadata flag: quicklist-encoded (the bit hashes and sets use for "hashtable")
_LE = sys.byteorder == "little"


def _nodes_from(raw: bytes) -> array:
    a = array("I", raw)
    if not _LE:
        a.byteswap()
    return a


def _nodes_bytes(a: array) -> bytes:
    if _LE:
        return a.tobytes()
    b = array("I", a)
    b.byteswap()
    return b.tobytes()


def _pairs(a: array) -> list:
    return [[a[i], a[i + 1]] for i in range(0, len(a), 2)]


def _flat(nodes: list) -> array:
    return array("I", [x for nd in nodes for x in nd])


class _Walk:
    """A sequence-like view iterating the items from the head (for the node-split code of
    :meth:`MemoryList._ql_insert`, which only islices it)."""

    __slots__ = ("lst", "h")

    def __init__(self, lst, h):
        self.lst, self.h = lst, h

    def __iter__(self):
        return self.lst._walk(self.h)


def read_list(txn, li_db, lh_db, pre: bytes, ql: bool) -> MemoryList:
    """A memory copy (items, layout model) of the list under ``pre`` read through ``txn``
    (COPY, BGSAVE snapshots); ``ql``: the metadata says quicklist."""
    raw = txn.get(pre, db=lh_db)
    ml = MemoryList.__new__(MemoryList)
    ml.cum = None
    if raw is None:
        ml.d, ml.lpb, ml.nodes = deque(), _LP_EMPTY, None
        return ml
    h, t, lpb = _HDR.unpack_from(raw)
    items = deque()
    if t > h:
        with txn.cursor(db=li_db) as cur:
            if cur.set_range(pre + _q(h + _BIAS)):
                items.extend(islice(cur.iternext(keys=False, values=True), t - h))
    ml.d = items
    ml.lpb = lpb
    ml.nodes = _pairs(_nodes_from(raw[_HDR.size:])) if ql else None
    return ml


class LmdbList:
    """A live view of the list stored at one key (bound to its version)."""

    __slots__ = ("ks", "e", "mk", "pre")

    TYPE_NAME = "list"

    def __init__(self, ks, mk: bytes, p4: bytes, ver: int):
        self.ks = ks
        self.e = ks.engine
        self.mk = mk
        self.pre = p4 + _q(ver)

    # -- header and metadata -------------------------------------------------------------------
    def _ik(self, seq: int) -> bytes:
        return self.pre + _q(seq + _BIAS)

    def _hdr(self):
        """(metadata, head, tail, lpb, nodes or None)."""
        from .lmdb import _unpack
        e = self.e
        t = e.txn()
        m = _unpack(t.get(self.mk, db=e.meta_db))
        raw = t.get(self.pre, db=e.lh_db)
        if raw is None:
            return m, 0, 0, _LP_EMPTY, (array("I") if m[1] & F_QL else None)
        h, tl, lpb = _HDR.unpack_from(raw)
        return m, h, tl, lpb, (_nodes_from(raw[_HDR.size:]) if m[1] & F_QL else None)

    def _ql(self) -> bool:
        from .lmdb import _unpack
        return bool(_unpack(self.e.txn().get(self.mk, db=self.e.meta_db))[1] & F_QL)

    def _save(self, m, h, tl, lpb, nodes) -> None:
        from .lmdb import _pack
        e = self.e
        t = e.txn()
        raw = _HDR.pack(h, tl, lpb)
        if nodes is not None:
            raw += _nodes_bytes(nodes)
        t.put(self.pre, raw, db=e.lh_db)
        flags = (m[1] | F_QL) if nodes is not None else (m[1] & ~F_QL)
        if flags != m[1] or m[4] != tl - h:
            t.put(self.mk, _pack(m[0], flags, m[2], m[3], tl - h, m[5]), db=e.meta_db)
        e.dirty = True

    def _walk(self, start: int, n: int | None = None):
        """Items from sequence number ``start`` towards the tail."""
        pre = self.pre
        lp = len(pre)
        with self.e.txn().cursor(db=self.e.li_db) as cur:
            if not cur.set_range(self.pre + _q(start + _BIAS)):
                return
            k = 0
            for key, v in cur:
                if key[:lp] != pre or (n is not None and k >= n):
                    return
                k += 1
                yield v

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

    @staticmethod
    def _shrink(lpb, nodes):
        """A quicklist of one node under half the limits becomes a listpack again."""
        if nodes is not None and len(nodes) == 2:
            sz, cnt = node_limit(limits.list_max_listpack_size)
            if nodes[1] <= sz // 2 and nodes[0] <= cnt // 2:
                return nodes[1], None
        return lpb, nodes

    @staticmethod
    def _grow(n, lpb, nodes, add_bytes, add_count):
        if nodes is None and exceeds(limits.list_max_listpack_size, lpb + add_bytes,
                                     n + add_count):
            return array("I", [n, lpb]) if n else array("I")
        return nodes

    # -- ListValue -----------------------------------------------------------------------------
    def __len__(self) -> int:
        from .lmdb import _unpack
        return _unpack(self.e.txn().get(self.mk, db=self.e.meta_db))[4]

    def __iter__(self):
        _, h, tl, _, _ = self._hdr()
        return iter(list(self._walk(h, tl - h)))

    def encoding(self) -> str:
        return "quicklist" if self._ql() else "listpack"

    @property
    def d(self) -> list:   # the RDB writer's view (persistence/rdb_save.py)
        return list(self)

    @property
    def nodes(self):
        nodes = self._hdr()[4]
        return None if nodes is None else _pairs(nodes)

    @property
    def lpb(self) -> int:
        return self._hdr()[3]

    def copy(self) -> MemoryList:
        e = self.e
        return read_list(e.txn(), e.li_db, e.lh_db, self.pre, self._ql())

    def memory_usage(self) -> int:
        _, h, tl, _, _ = self._hdr()
        n = tl - h
        size = 64 + 8 * n
        if n:
            sample = list(self._walk(h, 8))
            size += sum(map(sys.getsizeof, sample)) * n // len(sample)
        return size

    # -- pushes --------------------------------------------------------------------------------
    def push_left(self, vals, count_ints: bool = True) -> int:
        return self._push(vals, count_ints, True)

    def push_right(self, vals, count_ints: bool = True) -> int:
        return self._push(vals, count_ints, False)

    def _push(self, vals, count_ints: bool, left: bool) -> int:
        m, h, tl, lpb, nodes = self._hdr()
        n = tl - h
        fill = limits.list_max_listpack_size
        if nodes is None:
            add = 0
            nlpb = lpb
            for v in vals:
                add += len(v)
                nlpb += esize(v)
            if not count_ints and _is_int(vals[0]):
                add = 0
            if fill < 0:
                over = lpb + add > _OPT_LEVEL[-fill - 1 if fill > -6 else 4]
            else:
                over = exceeds(fill, lpb + add, n + len(vals))
            if not over:
                lpb = nlpb
            else:
                nodes = array("I", [n, lpb]) if n else array("I")
        if nodes is not None:
            if fill < 0:
                szlim = _OPT_LEVEL[-fill - 1 if fill > -6 else 4] - _SIZE_ESTIMATE_OVERHEAD
            for v in vals:
                if nodes:
                    c = 0 if left else len(nodes) - 2
                    if fill < 0:
                        ok = nodes[c + 1] + len(v) <= szlim
                    else:
                        ok = not exceeds(fill, nodes[c + 1] + len(v) + _SIZE_ESTIMATE_OVERHEAD,
                                         nodes[c] + 1)
                    if ok:
                        nodes[c] += 1
                        nodes[c + 1] += esize(v)
                        continue
                new = array("I", [1, _LP_EMPTY + esize(v)])
                if left:
                    nodes[0:0] = new
                else:
                    nodes.extend(new)
        t = self.e.txn()
        li = self.e.li_db
        pre = self.pre
        if left:
            for v in vals:
                h -= 1
                t.put(pre + _q(h + _BIAS), v, db=li)
        else:
            for v in vals:
                t.put(pre + _q(tl + _BIAS), v, db=li)
                tl += 1
        self._save(m, h, tl, lpb, nodes)
        return tl - h

    # -- pops ----------------------------------------------------------------------------------
    def pop_left(self):
        return self.pop_many(1, True)[0]

    def pop_right(self):
        return self.pop_many(1, False)[0]

    def pop_many(self, count: int, left: bool) -> list:
        m, h, tl, lpb, nodes = self._hdr()
        n = tl - h
        if count > n:
            count = n
        t = self.e.txn()
        li = self.e.li_db
        pre = self.pre
        out = []
        for _ in range(count):
            if left:
                v = t.pop(pre + _q(h + _BIAS), db=li)
                h += 1
            else:
                tl -= 1
                v = t.pop(pre + _q(tl + _BIAS), db=li)
            out.append(v)
            if nodes is None:
                lpb -= esize(v)
            else:
                c = 0 if left else len(nodes) - 2
                if nodes[c] == 1:
                    del nodes[c:c + 2]
                else:
                    nodes[c] -= 1
                    nodes[c + 1] -= esize(v)
        lpb, nodes = self._shrink(lpb, nodes)
        self._save(m, h, tl, lpb, nodes)
        return out

    # -- access --------------------------------------------------------------------------------
    def index(self, i: int):
        _, h, tl, _, _ = self._hdr()
        n = tl - h
        if i < 0:
            i += n
            if i < 0:
                return None
        elif i >= n:
            return None
        return self.e.txn().get(self._ik(h + i), db=self.e.li_db)

    def range(self, start: int, stop: int) -> list:
        h = self._hdr()[1]
        return list(self._walk(h + start, stop - start + 1))

    def range_reversed(self, start: int, stop: int) -> list:
        h = self._hdr()[1]
        return list(self._walk_back(h + stop, stop - start + 1))

    def set(self, i: int, value) -> bool:
        m, h, tl, lpb, nodes = self._hdr()
        n = tl - h
        was = nodes
        nodes = self._grow(n, lpb, nodes, len(value), 1)
        if i < 0:
            i += n
        if not 0 <= i < n:
            if nodes is not was:
                self._save(m, h, tl, lpb, nodes)
            return False
        t = self.e.txn()
        k = self._ik(h + i)
        old = t.get(k, db=self.e.li_db)
        t.put(k, value, db=self.e.li_db)
        delta = esize(value) - esize(old)
        if nodes is None:
            lpb += delta
        else:
            base = 0
            for j in range(0, len(nodes), 2):
                base += nodes[j]
                if i < base:
                    nodes[j + 1] += delta
                    break
            lpb, nodes = self._shrink(lpb, nodes)
        self._save(m, h, tl, lpb, nodes)
        return True

    def insert(self, pivot, value, after: bool) -> int:
        m, h, tl, lpb, nodes = self._hdr()
        n = tl - h
        was = nodes
        nodes = self._grow(n, lpb, nodes, len(value), 1)
        i = -1
        for k, v in enumerate(self._walk(h, n)):
            if v == pivot:
                i = k
                break
        if i < 0:
            if nodes is not was:
                self._save(m, h, tl, lpb, nodes)
            return -1
        if nodes is None:
            lpb += esize(value)
        else:
            ml = MemoryList.__new__(MemoryList)
            ml.nodes = _pairs(nodes)
            ml.cum = None
            ml.d = _Walk(self, h)
            ml._ql_insert(i, value, after)
            nodes = _flat(ml.nodes)
        p = i + 1 if after else i
        t = self.e.txn()
        li = self.e.li_db
        if p <= n - p:   # the head side moves one number down
            moved = list(self._walk(h, p))
            h -= 1
            for k, v in enumerate(moved):
                t.put(self._ik(h + k), v, db=li)
        else:            # the tail side moves one number up
            moved = list(self._walk(h + p, n - p))
            for k, v in enumerate(moved):
                t.put(self._ik(h + p + 1 + k), v, db=li)
            tl += 1
        t.put(self._ik(h + p), value, db=li)
        self._save(m, h, tl, lpb, nodes)
        return tl - h

    def remove(self, count: int, value) -> int:
        m, h, tl, lpb, nodes = self._hdr()
        n = tl - h
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
            for v in self._walk_back(tl - 1, n):
                k -= 1
                if v == value:
                    idx.append(k)
                    if len(idx) == want:
                        break
            idx.reverse()
        if not idx:
            return 0
        es = esize(value)
        if nodes is None:
            lpb -= es * len(idx)
        else:
            pairs = _pairs(nodes)
            base = 0
            out = []
            it = iter(idx)
            cur = next(it, None)
            for node in pairs:
                c = node[0]
                hits = 0
                while cur is not None and cur < base + c:
                    hits += 1
                    cur = next(it, None)
                base += c
                if hits:
                    node[0] -= hits
                    node[1] -= es * hits
                if node[0]:
                    out.append(node)
            nodes = _flat(out)
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
            tl = h + first + len(kept)
        else:
            span = list(self._walk(h, last + 1))
            kept = [v for k, v in enumerate(span) if k not in drop]
            for k in range(last + 1):
                t.delete(self._ik(h + k), db=li)
            nh = h + last + 1 - len(kept)
            for k, v in enumerate(kept):
                t.put(self._ik(nh + k), v, db=li)
            h = nh
        if nodes is not None:
            lpb, nodes = self._shrink(lpb, nodes)
        self._save(m, h, tl, lpb, nodes)
        return len(idx)

    def trim(self, ltrim: int, rtrim: int) -> None:
        m, h, tl, lpb, nodes = self._hdr()
        t = self.e.txn()
        li = self.e.li_db
        for _ in range(ltrim):
            v = t.pop(self._ik(h), db=li)
            h += 1
            if nodes is None:
                lpb -= esize(v)
            elif nodes[0] == 1:
                del nodes[0:2]
            else:
                nodes[0] -= 1
                nodes[1] -= esize(v)
        for _ in range(rtrim):
            tl -= 1
            v = t.pop(self._ik(tl), db=li)
            if nodes is None:
                lpb -= esize(v)
            else:
                c = len(nodes) - 2
                if nodes[c] == 1:
                    del nodes[c:]
                else:
                    nodes[c] -= 1
                    nodes[c + 1] -= esize(v)
        if nodes is not None and tl > h:
            lpb, nodes = self._shrink(lpb, nodes)
        self._save(m, h, tl, lpb, nodes)

    def positions(self, value, rank: int, count: int, maxlen: int) -> list:
        _, h, tl, _, _ = self._hdr()
        n = tl - h
        out = []
        limit = n if maxlen == 0 or maxlen > n else maxlen
        matches = 0
        if rank > 0:
            for k, v in enumerate(self._walk(h, limit)):
                if v == value:
                    matches += 1
                    if matches >= rank:
                        out.append(k)
                        if count and len(out) >= count:
                            break
        else:
            rank = -rank
            k = n
            for v in self._walk_back(tl - 1, limit):
                k -= 1
                if v == value:
                    matches += 1
                    if matches >= rank:
                        out.append(k)
                        if count and len(out) >= count:
                            break
        return out

    def try_convert(self, growing) -> None:
        m, h, tl, lpb, nodes = self._hdr()
        was = nodes
        if nodes is None:
            if growing is not False:
                nodes = self._grow(tl - h, lpb, nodes, 0, 0)
        elif growing is not True and len(nodes) == 2:
            sz, cnt = node_limit(limits.list_max_listpack_size)
            if growing is False:
                sz //= 2
                cnt //= 2
            if nodes[1] <= sz and nodes[0] <= cnt:
                lpb, nodes = nodes[1], None
        if nodes is not was:
            self._save(m, h, tl, lpb, nodes)

    # -- bulk (Keyspace.set of a whole list) ---------------------------------------------------
    def _write_all(self, items, lpb, nodes) -> None:
        """Store ``items`` (a new, empty version) with the given layout model."""
        t = self.e.txn()
        li = self.e.li_db
        pre = self.pre
        k = -1
        for k, v in enumerate(items):
            t.put(pre + _q(k + _BIAS), v, db=li)
        from .lmdb import _unpack
        m = _unpack(t.get(self.mk, db=self.e.meta_db))
        self._save(m, 0, k + 1, lpb, None if nodes is None else _flat(nodes))
