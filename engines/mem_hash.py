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
    __slots__ = ("d", "lp", "exp", "heap", "_scan", "_rand")

    TYPE_NAME = "hash"

    def __init__(self):
        self.d: dict = {}
        self.lp = True
        self.exp = None      # field -> when (ms), only fields with an expiry time
        self.heap = None     # [(when, field)], may hold stale entries
        self._scan = None    # HashOrder, created by the first HSCAN of a hashtable
        self._rand = None    # list of fields for random draws; dropped when a field is added

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
        """Estimated from up to 8 fields (as MEMORY USAGE samples), not a walk of them all."""
        d = self.d
        n = sys.getsizeof(d) + 64
        if d:
            k = 0
            size = 0
            for f, v in d.items():
                size += sys.getsizeof(f) + sys.getsizeof(v)
                k += 1
                if k == 8:
                    break
            n += size * len(d) // k
        if self.exp:
            n += sys.getsizeof(self.exp) + 40 * len(self.heap)
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
            self._rand = None
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
        if len(argv) - start == 2:   # the common one-pair HSET
            f = argv[start]
            v = argv[start + 1]
            if self.lp:
                lim = limits
                mv = lim.hash_max_listpack_value
                if len(f) > mv or len(v) > mv or lim.hash_max_listpack_entries < 1:
                    self.lp = False
            exp = self.exp
            if exp and f in exp:
                del exp[f]
            if f in d:
                d[f] = v
                return 0
            d[f] = v
            self._rand = None
            if self.lp:
                if len(d) > limits.hash_max_listpack_entries:
                    self.lp = False
            elif self._scan is not None:
                self._scan.added(f)
            return 1
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
        for i in range(start, n, 2):
            f = argv[i]
            if exp and f in exp:
                del exp[f]
            d[f] = argv[i + 1]
        created = len(d) - before
        if created:
            self._rand = None
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

    def _pool(self) -> list:
        """Every field (plus, harmlessly, some deleted since): rebuilt after additions."""
        p = self._rand
        if p is None or len(p) > 2 * len(self.d) + 16:
            p = self._rand = list(self.d)
        return p

    def _draw(self):
        d = self.d
        while True:
            p = self._pool()
            f = p[random.randrange(len(p))]
            v = d.get(f)
            if v is not None:
                return f, v
            self._rand = None  # a deleted field: draw again from a fresh pool

    def random_items(self, count: int, distinct: bool) -> list:
        d = self.d
        if not distinct:
            if count * 2 >= len(d):
                items = list(d.items())
                return random.choices(items, k=count)
            draw = self._draw
            return [draw() for _ in range(count)]
        if count >= len(d):
            return list(d.items())
        if count * 3 > len(d):
            return random.sample(list(d.items()), count)
        seen = {}
        draw = self._draw
        while len(seen) < count:
            f, v = draw()
            seen[f] = v
        return list(seen.items())

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
