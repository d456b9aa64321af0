"""The memory engine's hash value (:class:`engines.base.HashValue`).

Fields live in one Python dict (insertion-ordered, which is the listpack order Redis replies
in). ``lp`` says whether Redis would still hold the hash as a listpack; the conversion to
"hashtable" is one-way, as in Redis. Per-field expiry times (Valkey 9) live in a second dict,
created on first use, with a heap of ``(when, field)`` (stale entries skipped lazily) so that
finding the expired fields costs nothing while none is due.
"""
from __future__ import annotations

import heapq
import random
import sys

from .limits import limits
from .scan import HashOrder


class MemoryHash:
    __slots__ = ("d", "lp", "exp", "heap", "_scan")

    TYPE_NAME = "hash"

    def __init__(self):
        self.d: dict = {}
        self.lp = True
        self.exp = None      # field -> when (ms), only fields with an expiry time
        self.heap = None     # [(when, field)], may hold stale entries
        self._scan = None    # HashOrder, created by the first HSCAN of a hashtable

    def __len__(self):
        return len(self.d)

    def encoding(self) -> str:
        return "listpack" if self.lp else "hashtable"

    def copy(self) -> "MemoryHash":
        h = MemoryHash()
        h.d = self.d.copy()
        h.lp = self.lp
        if self.exp:
            h.exp = self.exp.copy()
            h.heap = [(w, f) for f, w in h.exp.items()]
            heapq.heapify(h.heap)
        return h

    def memory_usage(self) -> int:
        n = sys.getsizeof(self.d) + 48
        for f, v in self.d.items():
            n += sys.getsizeof(f) + sys.getsizeof(v)
        if self.exp:
            n += sys.getsizeof(self.exp) + sys.getsizeof(self.heap) + 40 * len(self.heap)
        return n

    # -- internal ----------------------------------------------------------------------------
    def _convert(self) -> None:
        self.lp = False

    def _added(self, field) -> None:
        """A new field while hashtable-encoded: keep a live HSCAN index informed."""
        s = self._scan
        if s is not None:
            s.added(field)

    # -- fields ------------------------------------------------------------------------------
    def get(self, field):
        return self.d.get(field)

    def contains(self, field) -> bool:
        return field in self.d

    def set(self, field, value, keep_ttl: bool = False) -> bool:
        d = self.d
        if self.lp:
            mv = limits.hash_max_listpack_value
            if len(field) > mv or len(value) > mv:
                self.lp = False
        new = field not in d
        d[field] = value
        if new:
            if self.lp:
                if len(d) > limits.hash_max_listpack_entries:
                    self.lp = False
            elif self._scan is not None:
                self._scan.added(field)
        elif not keep_ttl and self.exp and field in self.exp:
            del self.exp[field]
        return new

    def set_many(self, argv, start: int) -> int:
        d = self.d
        if self.lp:
            # hashTypeTryConversion: judge the whole batch before writing anything.
            if (len(argv) - start) // 2 > limits.hash_max_listpack_entries:
                self.lp = False
            else:
                mv = limits.hash_max_listpack_value
                for i in range(start, len(argv)):
                    if len(argv[i]) > mv:
                        self.lp = False
                        break
        before = len(d)
        exp = self.exp
        n = len(argv)
        if n - start == 2:
            f = argv[start]
            if exp and f in exp:
                del exp[f]
            d[f] = argv[start + 1]
        else:
            for i in range(start, n, 2):
                f = argv[i]
                if exp and f in exp:
                    del exp[f]
                d[f] = argv[i + 1]
        created = len(d) - before
        if created:
            if self.lp:
                if len(d) > limits.hash_max_listpack_entries:
                    self.lp = False
            elif self._scan is not None:
                for i in range(start, n, 2):
                    self._scan.added(argv[i])
        return created

    def delete(self, field) -> bool:
        if self.d.pop(field, None) is None:
            return False
        exp = self.exp
        if exp and field in exp:
            del exp[field]
        return True

    def fields(self):
        return iter(self.d)

    def values(self):
        return iter(self.d.values())

    def items(self):
        return iter(self.d.items())

    def random_items(self, count: int, distinct: bool) -> list:
        items = list(self.d.items())
        if distinct:
            if count >= len(items):
                return items
            return random.sample(items, count)
        return random.choices(items, k=count)

    def scan(self, cursor: int, count: int):
        s = self._scan
        if s is None:
            s = self._scan = HashOrder()
            s.invalidate()  # index everything at the first start
        return s.step(self.d, cursor, count)

    # -- per-field expiry --------------------------------------------------------------------
    def get_expire(self, field):
        exp = self.exp
        if not exp:
            return None
        return exp.get(field)

    def set_expire(self, field, when_ms: int) -> bool:
        if field not in self.d:
            return False
        self.lp = False
        exp = self.exp
        if exp is None:
            exp = self.exp = {}
            self.heap = []
        exp[field] = when_ms
        heap = self.heap
        heapq.heappush(heap, (when_ms, field))
        if len(heap) > 2 * len(exp) + 32:
            self.heap = [(w, f) for f, w in exp.items()]
            heapq.heapify(self.heap)
        return True

    def persist(self, field) -> bool:
        exp = self.exp
        if not exp or field not in exp:
            return False
        del exp[field]
        return True

    def volatile_count(self) -> int:
        return len(self.exp) if self.exp else 0

    def volatile_items(self):
        return iter(list(self.exp.items())) if self.exp else iter(())

    def _top(self):
        """The earliest live (when, field) of the heap, dropping stale entries; or None."""
        heap = self.heap
        exp = self.exp
        while heap:
            w, f = heap[0]
            if exp.get(f) == w:
                return heap[0]
            heapq.heappop(heap)
        return None

    def has_expired(self, now_ms: int) -> bool:
        if not self.exp:
            return False
        top = self._top()
        return top is not None and top[0] < now_ms

    def pop_expired(self, now_ms: int, limit: int = 0) -> list:
        out = []
        if not self.exp:
            return out
        heap = self.heap
        exp = self.exp
        d = self.d
        while heap:
            w, f = heap[0]
            if exp.get(f) != w:
                heapq.heappop(heap)
                continue
            if w >= now_ms or (limit and len(out) >= limit):
                break
            heapq.heappop(heap)
            del exp[f]
            d.pop(f, None)
            out.append(f)
        return out
