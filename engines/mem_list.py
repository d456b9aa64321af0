"""The memory engine's list value (:class:`engines.base.ListValue`).

Elements live in a ``collections.deque``: pushes and pops at both ends are O(1), index
access, ``index``/``insert``/``del`` run in C (deque walks 64-element blocks), so no command
does Python-level work proportional to the list's length unless it must look at every
element (LREM, LPOS from the tail).

OBJECT ENCODING: Redis 7.2.4 keeps a small list as one listpack and a big one as a quicklist
(a linked list of listpack nodes), and converts in both directions (t_list.c
listTypeTryConversion*). Whether a quicklist converts back depends on its node layout (only
a quicklist of a single node may) and on the exact byte size of that node, so this class
keeps an exact model of that layout beside the elements: while the encoding is listpack,
``lpb`` is the listpack's byte size; while it is quicklist, ``nodes`` is the list of
``[count, bytes]`` of its nodes, updated as quicklist.c updates them (push into the end node
when ``_quicklistNodeAllowInsert`` allows it, else a new node; pops and range deletions from
the ends; LINSERT's insert/split/merge; LSET in place; LREM by entry). The byte sizes are
those of listpack entries (integers stored compactly, string headers and back-lengths).
"""
from __future__ import annotations

import sys
from bisect import bisect_right
from collections import deque
from itertools import accumulate, islice

from valkeyd.protocol import string2ll

from .limits import limits

_OPT_LEVEL = (4096, 8192, 16384, 32768, 65536)
_SIZE_SAFETY_LIMIT = 8192
_SIZE_ESTIMATE_OVERHEAD = 8
_LP_EMPTY = 7           # listpack header (6) + end byte (1)
_HUGE = 1 << 64
_UINT_MAX = (1 << 32) - 1


def esize(v) -> int:
    """The bytes of one listpack entry holding ``v`` (encoding + data + back-length)."""
    n = len(v)
    if 0 < n <= 20 and 47 < v[-1] < 58:
        i = string2ll(v)
        if i is not None:
            if 0 <= i <= 127:
                return 2
            if -4096 <= i <= 4095:
                return 3
            if -32768 <= i <= 32767:
                return 4
            if -8388608 <= i <= 8388607:
                return 5
            if -2147483648 <= i <= 2147483647:
                return 6
            return 10
    if n < 64:
        return n + 2                     # 1 header byte, back-length 1 (n + 1 <= 127)
    ln = n + (2 if n < 4096 else 5)
    if ln <= 127:
        return ln + 1
    if ln < 16383:
        return ln + 2
    if ln < 2097151:
        return ln + 3
    if ln < 268435455:
        return ln + 4
    return ln + 5


def _is_int(v) -> bool:
    return 0 < len(v) <= 20 and string2ll(v) is not None


def node_limit(fill: int):
    """quicklistNodeLimit: (size limit, count limit)."""
    if fill >= 0:
        return _HUGE, (fill or 1)
    off = -fill - 1
    if off > 4:
        off = 4
    return _OPT_LEVEL[off], _UINT_MAX


def exceeds(fill: int, sz: int, count: int) -> bool:
    """quicklistNodeExceedsLimit."""
    if fill < 0:
        off = -fill - 1
        return sz > _OPT_LEVEL[off if off < 4 else 4]
    if sz > _SIZE_SAFETY_LIMIT:
        return True
    return count > (fill or 1)


def _allow_insert(node, fill: int, rawlen: int) -> bool:
    """_quicklistNodeAllowInsert (``rawlen``: the element's string length)."""
    if node is None:
        return False
    return not exceeds(fill, node[1] + rawlen + _SIZE_ESTIMATE_OVERHEAD, node[0] + 1)


def _allow_merge(a, b, fill: int) -> bool:
    if a is None or b is None:
        return False
    return not exceeds(fill, a[1] + b[1] - _LP_EMPTY, a[0] + b[0])



def listpack_push_over(lpb: int, count: int, vals, count_ints: bool, fill: int):
    """Whether pushing ``vals`` onto a listpack-encoded list of ``count`` items and ``lpb``
    bytes makes it a quicklist (listTypeTryConvertListpack's size test, which counts an
    integer-looking first value as 0 bytes unless ``count_ints``); returns (over, the listpack
    bytes after the push)."""
    add = 0
    nlpb = lpb
    for v in vals:
        add += len(v)
        nlpb += esize(v)
    if not count_ints and _is_int(vals[0]):
        add = 0
    if fill < 0:
        return lpb + add > _OPT_LEVEL[-fill - 1 if fill > -6 else 4], nlpb
    return exceeds(fill, lpb + add, count + len(vals)), nlpb


def nodes_without(nodes, idx, es: int) -> list:
    """The quicklist node model ([count, bytes] per node) after removing the items at the
    sorted indexes ``idx``, each ``es`` bytes: emptied nodes disappear (LREM)."""
    base = 0
    out = []
    it = iter(idx)
    cur = next(it, None)
    for node in nodes:
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
    return out

class MemoryList:
    TYPE_NAME = "list"
    __slots__ = ("d", "lpb", "nodes", "cum", "fill", "depth")

    def __init__(self, items=()):
        self.d = deque(items)
        self.nodes = None
        self.cum = None   # cumulative node counts (LSET's node lookup); None when stale
        # A quicklist's own fill and compress depth: the configs when it was created (as
        # quicklistCreate + quicklistSetOptions); CONFIG SET later changes new lists only.
        self.fill = self.depth = None
        lpb = _LP_EMPTY
        for v in self.d:
            lpb += esize(v)
        self.lpb = lpb
        if self.d:
            self.try_convert(None)

    def __len__(self):
        return len(self.d)

    def __iter__(self):
        return iter(self.d)

    def encoding(self) -> str:
        return "listpack" if self.nodes is None else "quicklist"

    def copy(self) -> "MemoryList":
        new = MemoryList.__new__(MemoryList)
        new.d = deque(self.d)
        new.lpb = self.lpb
        new.nodes = None if self.nodes is None else [list(n) for n in self.nodes]
        new.cum = None
        new.fill, new.depth = self.fill, self.depth
        return new

    def to_quicklist(self, nodes: list) -> None:
        """Become a quicklist with the node layout ``nodes``, taking the current
        list-max-listpack-size and list-compress-depth as its own."""
        self.nodes = nodes
        self.cum = None
        self.fill = limits.list_max_listpack_size
        self.depth = limits.list_compress_depth

    def memory_usage(self) -> int:
        """The Python footprint (what used_memory and maxmemory see): the deque's blocks and
        the elements, sampled from up to 8 at the head, as MEMORY USAGE samples."""
        d = self.d
        n = len(d)
        size = sys.getsizeof(d) + 64 + 8 * n
        if n:
            sample = list(islice(d, 8))
            size += sum(map(sys.getsizeof, sample)) * n // len(sample)
        return size

    # -- conversions ---------------------------------------------------------------------------
    def _grow_check(self, add_bytes: int, add_count: int) -> None:
        """listTypeTryConversionAppend on a listpack: convert before adding if too big."""
        if self.nodes is None and exceeds(limits.list_max_listpack_size, self.lpb + add_bytes,
                                          len(self.d) + add_count):
            self.to_quicklist([[len(self.d), self.lpb]] if self.d else [])

    def _shrink_check(self) -> None:
        """listTypeTryConversion(SHRINKING) on a quicklist: back to listpack when it is one
        node below half the limits."""
        nodes = self.nodes
        if nodes is not None and len(nodes) == 1:
            sz, cnt = node_limit(limits.list_max_listpack_size)
            node = nodes[0]
            if node[1] <= sz // 2 and node[0] <= cnt // 2:
                self.lpb = node[1]
                self.nodes = None
                self.cum = None

    def try_convert(self, growing) -> None:
        """listTypeTryConversion: ``growing`` True (GROWING), False (SHRINKING) or None
        (AUTO, after a list was built whole, e.g. by a load)."""
        if self.nodes is None:
            if growing is not False:
                self._grow_check(0, 0)
        elif growing is not True:
            nodes = self.nodes
            if len(nodes) == 1:
                sz, cnt = node_limit(limits.list_max_listpack_size)
                if growing is False:
                    sz //= 2
                    cnt //= 2
                if nodes[0][1] <= sz and nodes[0][0] <= cnt:
                    self.lpb = nodes[0][1]
                    self.nodes = None
                    self.cum = None
                self.cum = None

    # -- pushes --------------------------------------------------------------------------------
    def push_left(self, vals, count_ints: bool = True) -> int:
        """LPUSH semantics: each value in turn becomes the new head. Returns the length."""
        return self._push(vals, count_ints, True)

    def push_right(self, vals, count_ints: bool = True) -> int:
        """RPUSH semantics: each value in turn becomes the new tail. Returns the length."""
        return self._push(vals, count_ints, False)

    def _push(self, vals, count_ints: bool, left: bool) -> int:
        d = self.d
        nodes = self.nodes
        fill = limits.list_max_listpack_size
        if nodes is None:
            over, lpb = listpack_push_over(self.lpb, len(d), vals, count_ints, fill)
            if not over:
                self.lpb = lpb
                if left:
                    d.extendleft(vals)
                else:
                    d.extend(vals)
                return len(d)
            self.to_quicklist([[len(d), self.lpb]] if d else [])
            nodes = self.nodes
        self.cum = None
        fill = self.fill     # the quicklist's own (quicklist->fill)
        if fill < 0:
            szlim = _OPT_LEVEL[-fill - 1 if fill > -6 else 4] - _SIZE_ESTIMATE_OVERHEAD
            for v in vals:
                if nodes:
                    end = nodes[0] if left else nodes[-1]
                    if end[1] + len(v) <= szlim:   # _quicklistNodeAllowInsert
                        end[0] += 1
                        end[1] += esize(v)
                        continue
                if left:
                    nodes.insert(0, [1, _LP_EMPTY + esize(v)])
                else:
                    nodes.append([1, _LP_EMPTY + esize(v)])
        else:
            for v in vals:
                end = (nodes[0] if left else nodes[-1]) if nodes else None
                if _allow_insert(end, fill, len(v)):
                    end[0] += 1
                    end[1] += esize(v)
                elif left:
                    nodes.insert(0, [1, _LP_EMPTY + esize(v)])
                else:
                    nodes.append([1, _LP_EMPTY + esize(v)])
        if left:
            d.extendleft(vals)
        else:
            d.extend(vals)
        return len(d)

    # -- pops ----------------------------------------------------------------------------------
    def _ql_drop(self, k: int, head: bool) -> None:
        """quicklistDelRange of ``k`` elements at one end (before they leave ``d``)."""
        nodes = self.nodes
        pos = 0
        while k:
            node = nodes[0] if head else nodes[-1]
            c = node[0]
            if c <= k:
                if head:
                    del nodes[0]
                else:
                    nodes.pop()
                k -= c
                pos += c
            else:
                s = 0
                it = islice(self.d if head else reversed(self.d), pos, pos + k)
                for v in it:
                    s += esize(v)
                node[0] -= k
                node[1] -= s
                return

    def pop_left(self, shrink: bool = True):
        """Remove and return the head (the list must not be empty); ``shrink``: then
        listTypeTryConversion(SHRINKING)."""
        if self.nodes is None:
            v = self.d.popleft()
            self.lpb -= esize(v)
            return v
        node = self.nodes[0]
        self.cum = None
        v = self.d.popleft()
        if node[0] == 1:
            del self.nodes[0]
        else:
            node[0] -= 1
            node[1] -= esize(v)
        if shrink and len(self.nodes) == 1:
            self._shrink_check()
        return v

    def pop_right(self, shrink: bool = True):
        """Remove and return the tail (the list must not be empty); ``shrink``: then
        listTypeTryConversion(SHRINKING)."""
        if self.nodes is None:
            v = self.d.pop()
            self.lpb -= esize(v)
            return v
        node = self.nodes[-1]
        self.cum = None
        v = self.d.pop()
        if node[0] == 1:
            self.nodes.pop()
        else:
            node[0] -= 1
            node[1] -= esize(v)
        if shrink and len(self.nodes) == 1:
            self._shrink_check()
        return v

    def pop_many(self, count: int, left: bool) -> list:
        """Remove up to ``count`` elements from one end; returned in pop order."""
        d = self.d
        n = len(d)
        if count > n:
            count = n
        if self.nodes is not None:
            self.cum = None
            self._ql_drop(count, left)
            pop = d.popleft if left else d.pop
            out = [pop() for _ in range(count)]
            self._shrink_check()
            return out
        pop = d.popleft if left else d.pop
        out = [pop() for _ in range(count)]
        lpb = self.lpb
        for v in out:
            lpb -= esize(v)
        self.lpb = lpb
        return out

    # -- access --------------------------------------------------------------------------------
    def index(self, i: int):
        """The element at index ``i`` (negative from the tail), or None out of range."""
        d = self.d
        n = len(d)
        if i < 0:
            i += n
            if i < 0:
                return None
        elif i >= n:
            return None
        return d[i]

    def range(self, start: int, stop: int) -> list:
        """Elements ``start`` .. ``stop`` inclusive; 0 <= start <= stop < len."""
        d = self.d
        n = len(d)
        if stop - start + 1 == n:
            return list(d)
        if start > n - stop:   # nearer the tail: walk from there
            out = list(islice(reversed(d), n - 1 - stop, n - start))
            out.reverse()
            return out
        return list(islice(d, start, stop + 1))

    def range_reversed(self, start: int, stop: int) -> list:
        """Elements ``stop`` down to ``start``; 0 <= start <= stop < len."""
        d = self.d
        n = len(d)
        return list(islice(reversed(d), n - 1 - stop, n - start))

    def _node_at(self, i: int):
        """(node index, offset in the node) of element ``i`` (0 <= i < len)."""
        cum = self.cum
        if cum is None:
            cum = self.cum = list(accumulate(n[0] for n in self.nodes))
        j = bisect_right(cum, i)
        return j, (i - cum[j - 1] if j else i)

    def set(self, i: int, value) -> bool:
        """LSET: replace the element at index ``i``; False if out of range."""
        d = self.d
        n = len(d)
        self._grow_check(len(value), 1)
        if i < 0:
            i += n
        if not 0 <= i < n:
            return False
        old = d[i]
        delta = esize(value) - esize(old)
        d[i] = value
        if self.nodes is None:
            self.lpb += delta
        else:
            j, _ = self._node_at(i)
            self.nodes[j][1] += delta
            self._shrink_check()
        return True

    def insert(self, pivot, value, after: bool) -> int:
        """LINSERT: insert ``value`` before/after the first ``pivot`` from the head.
        Returns the new length, or -1 when the pivot is missing (the listpack may still
        have converted first, as in Redis)."""
        self._grow_check(len(value), 1)
        d = self.d
        try:
            i = d.index(pivot)
        except ValueError:
            return -1
        if self.nodes is None:
            self.lpb += esize(value)
        else:
            self._ql_insert(i, value, after)
            self.cum = None
        d.insert(i + 1 if after else i, value)
        return len(d)

    def _ql_insert(self, i: int, value, after: bool) -> None:
        """_quicklistInsert's node accounting for an insert next to element ``i``."""
        nodes = self.nodes
        fill = self.fill
        j, off = self._node_at(i)
        node = nodes[j]
        rawlen = len(value)
        es = esize(value)
        full = not _allow_insert(node, fill, rawlen)
        at_tail = after and off == node[0] - 1
        at_head = (not after) and off == 0
        nxt = nodes[j + 1] if j + 1 < len(nodes) else None
        prv = nodes[j - 1] if j > 0 else None
        avail_next = at_tail and _allow_insert(nxt, fill, rawlen)
        avail_prev = at_head and _allow_insert(prv, fill, rawlen)
        if not full:
            node[0] += 1
            node[1] += es
        elif at_tail and avail_next:
            nxt[0] += 1
            nxt[1] += es
        elif at_head and avail_prev:
            prv[0] += 1
            prv[1] += es
        elif at_tail or at_head:
            nodes.insert(j + 1 if after else j, [1, _LP_EMPTY + es])
        else:
            # Split the node at the pivot; the new element joins the split-off part, then
            # the neighbourhood is merged where the limits allow (_quicklistMergeNodes).
            start = i - off
            if after:
                moved = list(islice(self.d, i + 1, start + node[0]))
            else:
                moved = list(islice(self.d, start, i))
            ms = 0
            for v in moved:
                ms += esize(v)
            node[0] -= len(moved)
            node[1] -= ms
            new = [len(moved) + 1, _LP_EMPTY + ms + es]
            pos = j + 1 if after else j
            nodes.insert(pos, new)
            center = node
            self._merge_around(nodes.index(center), fill)

    def _merge_around(self, c: int, fill: int) -> None:
        nodes = self.nodes

        def merge(a: int) -> int:   # merge nodes a and a+1 into a; returns a
            x, y = nodes[a], nodes[a + 1]
            x[0] += y[0]
            x[1] += y[1] - _LP_EMPTY
            del nodes[a + 1]
            return a

        center = nodes[c]
        if c >= 2 and _allow_merge(nodes[c - 1], nodes[c - 2], fill):
            merge(c - 2)
            c -= 1
        if c + 2 < len(nodes) and _allow_merge(nodes[c + 1], nodes[c + 2], fill):
            merge(c + 1)
        c = next(k for k, nd in enumerate(nodes) if nd is center)
        if c >= 1 and _allow_merge(nodes[c], nodes[c - 1], fill):
            target = merge(c - 1)
        else:
            target = c
        if target + 1 < len(nodes) and _allow_merge(nodes[target], nodes[target + 1], fill):
            merge(target)

    def remove(self, count: int, value) -> int:
        """LREM: remove up to ``count`` occurrences (0: all; negative: from the tail).
        Returns how many were removed."""
        d = self.d
        n = len(d)
        idx = []
        if count >= 0:
            start = 0
            index = d.index
            while True:
                try:
                    i = index(value, start)
                except ValueError:
                    break
                idx.append(i)
                if count and len(idx) == count:
                    break
                start = i + 1
        else:
            want = -count
            k = n
            for v in reversed(d):
                k -= 1
                if v == value:
                    idx.append(k)
                    if len(idx) == want:
                        break
            idx.reverse()
        if not idx:
            return 0
        es = esize(value)
        if self.nodes is None:
            self.lpb -= es * len(idx)
        else:
            self.nodes = nodes_without(self.nodes, idx, es)
            self.cum = None
        if len(idx) <= 32:
            for i in reversed(idx):
                del d[i]
        else:
            drop = set(idx)
            self.d = deque(v for k, v in enumerate(d) if k not in drop)
        if self.nodes is not None:
            self._shrink_check()
        return len(idx)

    def trim(self, ltrim: int, rtrim: int) -> None:
        """LTRIM: drop ``ltrim`` elements from the head and ``rtrim`` from the tail."""
        d = self.d
        if self.nodes is None:
            lpb = self.lpb
            for _ in range(ltrim):
                lpb -= esize(d.popleft())
            for _ in range(rtrim):
                lpb -= esize(d.pop())
            self.lpb = lpb
            return
        self.cum = None
        if ltrim:
            self._ql_drop(ltrim, True)
        if rtrim:
            self._ql_drop(rtrim, False)
        n = len(d)
        if ltrim + rtrim > 64 and ltrim + rtrim > n // 2:
            self.d = deque(islice(d, ltrim, n - rtrim))
        else:
            for _ in range(ltrim):
                d.popleft()
            for _ in range(rtrim):
                d.pop()
        if self.d:
            self._shrink_check()

    def positions(self, value, rank: int, count: int, maxlen: int) -> list:
        """LPOS: indexes of the matches, from the ``rank``-th match (negative: from the
        tail), at most ``count`` of them (0: all), scanning at most ``maxlen`` elements
        (0: all)."""
        d = self.d
        n = len(d)
        out = []
        limit = n if maxlen == 0 or maxlen > n else maxlen
        if rank > 0:
            start = 0
            matches = 0
            index = d.index
            while True:
                try:
                    i = index(value, start, limit)
                except ValueError:
                    break
                matches += 1
                if matches >= rank:
                    out.append(i)
                    if count and len(out) >= count:
                        break
                start = i + 1
        else:
            rank = -rank
            matches = 0
            k = n
            for v in islice(reversed(d), limit):
                k -= 1
                if v == value:
                    matches += 1
                    if matches >= rank:
                        out.append(k)
                        if count and len(out) >= count:
                            break
        return out
