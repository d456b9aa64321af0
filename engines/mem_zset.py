"""Sorted sets for the memory engine (:class:`engines.base.ZSetValue`).

One structure serves both of Redis's encodings: a dict member -> score and a
``sortedcontainers.SortedList`` of ``(score, member)`` tuples, ordered as Redis's skiplist is
(score, then member bytes). ``lp`` records which encoding Redis 7.2.4 would be using
(listpack or skiplist) so that OBJECT ENCODING and the encoding-dependent replies (ZSCAN's
one-shot listpack reply, ZRANDMEMBER's sampling order) follow Redis's conversion rules:
zsetTypeCreate, zsetTypeMaybeConvert, zsetAdd's conversion before an insertion, and
zsetConvertToListpackIfNeeded (the only way back to listpack, used by the STORE commands).
"""
from __future__ import annotations

import random
import sys
from math import inf, nextafter

from sortedcontainers import SortedList

from .base import LEX_MAX, LEX_MIN
from .limits import limits
from .scan import HashOrder

LISTPACK_MAX_SAFETY_SIZE = 1 << 30


def _gte_min(v, lo, loex):
    if lo is LEX_MIN:
        return True
    if lo is LEX_MAX:
        return False
    return v > lo if loex else v >= lo


def _lte_max(v, hi, hiex):
    if hi is LEX_MAX:
        return True
    if hi is LEX_MIN:
        return False
    return v < hi if hiex else v <= hi


def lex_range_empty(lo, loex, hi, hiex) -> bool:
    """zslIsInLexRange's test for ranges that are always empty."""
    if (lo is LEX_MIN and hi is LEX_MIN) or (lo is LEX_MAX and hi is LEX_MAX):
        return True  # "- -", "+ +" (both exclusive)
    if lo is LEX_MAX or hi is LEX_MIN:
        return True
    if lo is LEX_MIN or hi is LEX_MAX:
        return False
    return lo > hi or (lo == hi and (loex or hiex))


class MemoryZSet:
    TYPE_NAME = "zset"
    __slots__ = ("d", "sl", "lp", "ver", "_scan", "__weakref__")

    def __init__(self):
        self.d: dict = {}
        self.sl = SortedList()
        self.lp = True       # Redis's encoding: listpack (True) or skiplist (False)
        self.ver = 0         # bumped when members are added (ZSCAN index refresh)
        self._scan = None

    # -- generic ---------------------------------------------------------------------------------
    def __len__(self):
        return len(self.d)

    def encoding(self) -> str:
        return "listpack" if self.lp else "skiplist"

    def copy(self) -> "MemoryZSet":
        z = MemoryZSet()
        z.d = dict(self.d)
        z.sl = SortedList(self.sl)
        z.lp = self.lp
        return z

    def memory_usage(self) -> int:
        """The Python footprint (what used_memory and maxmemory see): the member -> score dict,
        the sorted list's pointers and (score, member) tuples, and the members, sampled from up
        to 8 of them as MEMORY USAGE samples."""
        n = len(self.d)
        size = sys.getsizeof(self.d) + 64 + n * (8 + 56 + 24)   # pointer, tuple, float
        if n:
            k = 0
            sample = 0
            for m in self.d:
                sample += sys.getsizeof(m)
                k += 1
                if k == 8:
                    break
            size += sample * n // k
        return size

    # -- encoding rules --------------------------------------------------------------------------
    def init_encoding(self, size_hint: int, value_len_hint: int) -> None:
        if not (size_hint <= limits.zset_max_listpack_entries
                and value_len_hint <= limits.zset_max_listpack_value):
            self.lp = False

    def maybe_convert(self, size_hint: int) -> None:
        if self.lp and size_hint > limits.zset_max_listpack_entries:
            self.lp = False

    def shrink_if_small(self, maxelelen: int, totelelen: int) -> None:
        if (not self.lp and len(self.d) <= limits.zset_max_listpack_entries
                and maxelelen <= limits.zset_max_listpack_value
                and totelelen <= LISTPACK_MAX_SAFETY_SIZE):
            self.lp = True
            d = self.d
            for m, s in d.items():
                if s == 0.0 and str(s)[0] == "-":   # a listpack has no -0.0 (zzlInsertAt)
                    d[m] = 0.0
                    self.sl.remove((s, m))
                    self.sl.add((0.0, m))

    # -- element access --------------------------------------------------------------------------
    def score(self, member):
        return self.d.get(member)

    def add(self, member, score: float):
        d = self.d
        cur = d.get(member)
        if cur is None:
            if self.lp and (len(d) >= limits.zset_max_listpack_entries
                            or len(member) > limits.zset_max_listpack_value):
                self.lp = False
            if self.lp and score == 0.0:
                score = 0.0   # a listpack stores -0.0 as the integer 0 (zzlInsertAt)
            d[member] = score
            self.sl.add((score, member))
            self.ver += 1
            return None
        if cur != score:
            if self.lp and score == 0.0:
                score = 0.0
            sl = self.sl
            sl.remove((cur, member))
            sl.add((score, member))
            d[member] = score
        return cur

    def remove(self, member) -> bool:
        cur = self.d.pop(member, None)
        if cur is None:
            return False
        self.sl.remove((cur, member))
        return True

    def rank(self, member, reverse: bool = False):
        cur = self.d.get(member)
        if cur is None:
            return None
        r = self.sl.bisect_left((cur, member))
        return len(self.d) - 1 - r if reverse else r

    def by_rank(self, start: int, stop: int, reverse: bool = False) -> list:
        sl = self.sl
        n = len(sl)
        if reverse:
            a, b = n - 1 - stop, n - start
            out = [(m, s) for s, m in sl.islice(a, b, reverse=True)]
        else:
            out = [(m, s) for s, m in sl.islice(start, stop + 1)]
        return out

    def __iter__(self):
        for s, m in self.sl:
            yield m, s

    def items(self, reverse: bool = False):
        for s, m in (reversed(self.sl) if reverse else self.sl):
            yield m, s

    # -- score ranges ----------------------------------------------------------------------------
    def _score_bounds(self, lo, loex, hi, hiex):
        sl = self.sl
        n = len(sl)
        if loex:
            if lo == inf:
                return 0, 0
            a = sl.bisect_left((nextafter(lo, inf),))
        else:
            a = sl.bisect_left((lo,))
        if hiex:
            b = sl.bisect_left((hi,))
        elif hi == inf:
            b = n
        else:
            b = sl.bisect_left((nextafter(hi, inf),))
        if b < a:
            b = a
        return a, b

    def count_by_score(self, lo, loex, hi, hiex) -> int:
        a, b = self._score_bounds(lo, loex, hi, hiex)
        return b - a

    def by_score(self, lo, loex, hi, hiex, offset=0, limit=-1, reverse=False) -> list:
        a, b = self._score_bounds(lo, loex, hi, hiex)
        return self._slice(a, b, offset, limit, reverse)

    def _slice(self, a, b, offset, limit, reverse):
        if offset < 0 or a >= b:
            return []
        if reverse:
            stop = b - offset
            start = a if limit < 0 else max(a, stop - limit)
            if stop <= start:
                return []
            return [(m, s) for s, m in self.sl.islice(start, stop, reverse=True)]
        start = a + offset
        stop = b if limit < 0 else min(b, start + limit)
        if stop <= start:
            return []
        return [(m, s) for s, m in self.sl.islice(start, stop)]

    # -- lex ranges (meaningful when all scores are equal, as in Redis) ---------------------------
    def _lex_bounds(self, lo, loex, hi, hiex, reverse=False):
        """[a, b) of the members in a lex range. Binary search when the order is the member
        order (all scores equal, the case Redis defines); a listpack with mixed scores
        follows Redis's linear listpack walks exactly (zzlFirstInLexRange /
        zzlLastInLexRange, then on while in range)."""
        if lex_range_empty(lo, loex, hi, hiex):
            return 0, 0
        sl = self.sl
        n = len(sl)
        if not n:
            return 0, 0
        if self.lp and sl[0][0] != sl[-1][0]:
            return self._lex_bounds_linear(lo, loex, hi, hiex, reverse)
        # first index whose member is >= min
        x, y = 0, n
        while x < y:
            mid = (x + y) // 2
            if _gte_min(sl[mid][1], lo, loex):
                y = mid
            else:
                x = mid + 1
        a = x
        x, y = a, n
        while x < y:
            mid = (x + y) // 2
            if _lte_max(sl[mid][1], hi, hiex):
                x = mid + 1
            else:
                y = mid
        return a, x

    def _lex_bounds_linear(self, lo, loex, hi, hiex, reverse):
        ms = [m for s, m in self.sl]
        n = len(ms)
        # zzlIsInLexRange: the last member must reach min, the first must not pass max
        if not _gte_min(ms[-1], lo, loex) or not _lte_max(ms[0], hi, hiex):
            return 0, 0
        if not reverse:
            a = 0
            while not _gte_min(ms[a], lo, loex):
                a += 1
            b = a
            while b < n and _lte_max(ms[b], hi, hiex):
                b += 1
            return a, b
        last = n - 1
        while not _lte_max(ms[last], hi, hiex):
            last -= 1
        c = last
        while c >= 0 and _gte_min(ms[c], lo, loex):
            c -= 1
        return c + 1, last + 1

    def count_by_lex(self, lo, loex, hi, hiex) -> int:
        a, b = self._lex_bounds(lo, loex, hi, hiex)
        return b - a

    def by_lex(self, lo, loex, hi, hiex, offset=0, limit=-1, reverse=False) -> list:
        sl = self.sl
        if self.lp and len(sl) > 1 and sl[0][0] != sl[-1][0]:
            # listpack with mixed scores: Redis's walk from the first (last) element in
            # range, skipping ``offset`` unchecked, then on while within max (min)
            a, b = self._lex_bounds(lo, loex, hi, hiex, reverse)
            if a >= b or offset < 0:
                return []
            items = list(sl)
            out = []
            if reverse:
                i = b - 1 - offset
                while i >= 0 and limit != 0 and _gte_min(items[i][1], lo, loex):
                    out.append((items[i][1], items[i][0]))
                    limit -= 1
                    i -= 1
            else:
                i = a + offset
                n = len(items)
                while i < n and limit != 0 and _lte_max(items[i][1], hi, hiex):
                    out.append((items[i][1], items[i][0]))
                    limit -= 1
                    i += 1
            return out
        a, b = self._lex_bounds(lo, loex, hi, hiex, reverse)
        return self._slice(a, b, offset, limit, reverse)

    # -- removals ----------------------------------------------------------------------------------
    def _del_slice(self, a, b) -> int:
        if b <= a:
            return 0
        sl = self.sl
        d = self.d
        for s, m in sl.islice(a, b):
            del d[m]
        if a == 0 and b == len(sl):
            sl.clear()
        else:
            del sl[a:b]
        return b - a

    def remove_by_rank(self, start: int, stop: int) -> int:
        return self._del_slice(start, stop + 1)

    def remove_by_score(self, lo, loex, hi, hiex) -> int:
        return self._del_slice(*self._score_bounds(lo, loex, hi, hiex))

    def remove_by_lex(self, lo, loex, hi, hiex) -> int:
        return self._del_slice(*self._lex_bounds(lo, loex, hi, hiex))

    def pop(self, maximum: bool = False):
        s, m = self.sl.pop(-1 if maximum else 0)
        del self.d[m]
        return m, s

    # -- random / scan -----------------------------------------------------------------------------
    def at(self, index: int):
        s, m = self.sl[index]
        return m, s

    def random_items(self, count: int, unique: bool) -> list:
        n = len(self.d)
        sl = self.sl
        if not unique:
            rnd = random.randrange
            out = []
            for _ in range(count):
                s, m = sl[rnd(n)]
                out.append((m, s))
            return out
        if self.lp:
            idx = sorted(random.sample(range(n), count))  # listpack: unique, in order
        else:
            idx = random.sample(range(n), count)
        return [(sl[i][1], sl[i][0]) for i in idx]

    def scan(self, cursor: int, count: int):
        """(next_cursor, [(member, score)]); a listpack answers everything at once."""
        d = self.d
        if self.lp:
            return 0, [(m, s) for s, m in self.sl]
        h = self._scan
        if h is None:
            h = self._scan = HashOrder()
        nxt, members = h.step(d, self.ver, cursor, count)
        return nxt, [(m, d[m]) for m in members]
