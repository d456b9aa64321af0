"""The memory engine's set value (:class:`engines.base.SetValue`).

Members live in a dict ``d`` (member -> index in ``a``) and a list ``a`` of the same members.
The dict gives O(1) membership and keeps insertion order (a listpack's order); the list gives
O(1) uniform random choice; removal swaps the last list entry into the hole. The encoding
Redis 7.2.4 would have is tracked in ``enc`` and changed by the same rules (t_set.c
setTypeCreate, setTypeMaybeConvert, setTypeAddAux, maybeConvertIntset, maybeConvertToIntset,
spopWithCountCommand's rebuilt set).
"""
from __future__ import annotations

import random
import sys

from valkeyd.protocol import string2ll

from .limits import limits
from .scan import HashOrder

INTSET, LISTPACK, HT = 0, 1, 2
NEW = -1  # just created by Keyspace.get_collection(create=True): the first add decides
ENC_NAMES = {INTSET: "intset", LISTPACK: "listpack", HT: "hashtable", NEW: "listpack"}
INTSET_HARD_MAX = 1 << 30  # intsetMaxEntries caps set-max-intset-entries
SPOP_MOVE_STRATEGY_MUL = 5

_randrange = random.randrange
_intkey = int


class MemorySet:
    TYPE_NAME = "set"
    __slots__ = ("d", "a", "enc", "_scan")

    def __init__(self, enc: int = NEW):
        self.d: dict = {}
        self.a: list = []
        self.enc = enc
        self._scan = None

    # -- generic -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.a)

    def encoding(self) -> str:
        return ENC_NAMES[self.enc]

    def copy(self) -> "MemorySet":
        s = MemorySet(self.enc)
        s.d = self.d.copy()
        s.a = self.a.copy()
        return s

    def memory_usage(self) -> int:
        a = self.a
        n = len(a)
        size = sys.getsizeof(self.d) + sys.getsizeof(a) + 64
        if n:
            sample = a[:16]
            size += n * sum(map(sys.getsizeof, sample)) // len(sample)
        return size

    def __contains__(self, member) -> bool:
        return member in self.d

    def __iter__(self):
        if self.enc == INTSET:
            return iter(sorted(self.d, key=_intkey))
        return iter(self.d)

    def __repr__(self):
        return f"<MemorySet {self.encoding()} {list(self)!r}>"

    # -- conversions ---------------------------------------------------------------------------
    def _to_ht(self) -> None:
        self.enc = HT

    def _intset_to_listpack(self) -> None:
        """Ascending integer order first, as the listpack built from the intset."""
        a = sorted(self.d, key=_intkey)
        self.a = a
        self.d = {m: i for i, m in enumerate(a)}
        self.enc = LISTPACK

    def _insert(self, m) -> None:
        a = self.a
        self.d[m] = len(a)
        a.append(m)
        sc = self._scan
        if sc is not None:
            sc.added(m)

    # -- adding --------------------------------------------------------------------------------
    def add(self, members, hint: bool = True) -> int:
        d = self.d
        if self.enc == HT and self._scan is None:
            # the common case: a big set, nobody scanning it
            a = self.a
            n = 0
            for m in members:
                if m not in d:
                    d[m] = len(a)
                    a.append(m)
                    n += 1
            return n
        enc = self.enc
        lim = limits
        h = len(members)
        if enc == NEW:
            if string2ll(members[0]) is not None and h <= lim.set_max_intset_entries:
                self.enc = INTSET
            elif h <= lim.set_max_listpack_entries:
                self.enc = LISTPACK
            else:
                self.enc = HT
        elif hint:
            if ((enc == LISTPACK and h > lim.set_max_listpack_entries)
                    or (enc == INTSET and h > lim.set_max_intset_entries)):
                self.enc = HT
        add_one = self.add_one
        n = 0
        for m in members:
            if add_one(m):
                n += 1
        return n

    def add_one(self, m) -> bool:
        d = self.d
        enc = self.enc
        if enc == HT:
            if m in d:
                return False
            self._insert(m)
            return True
        if enc == LISTPACK:
            if m in d:
                return False
            lim = limits
            if len(d) >= lim.set_max_listpack_entries or len(m) > lim.set_max_listpack_value:
                self.enc = HT
            self._insert(m)
            return True
        if enc == NEW:  # a lone add into a new set (setTypeCreate with a hint of 1)
            return self.add([m]) == 1
        # intset
        if string2ll(m) is not None:
            if m in d:
                return False
            self._insert(m)
            if len(d) > min(limits.set_max_intset_entries, INTSET_HARD_MAX):
                self.enc = HT
            return True
        lim = limits
        n = len(d)
        maxlen = max(map(len, d)) if n else 0   # canonical integers: sdigits10 of min/max
        if (n < lim.set_max_listpack_entries and len(m) <= lim.set_max_listpack_value
                and maxlen <= lim.set_max_listpack_value):
            self._intset_to_listpack()
        else:
            self.enc = HT
        self._insert(m)
        return True

    # -- removing ------------------------------------------------------------------------------
    def discard(self, m) -> bool:
        d = self.d
        i = d.pop(m, None)
        if i is None:
            return False
        a = self.a
        last = a.pop()
        if i < len(a):
            a[i] = last
            d[last] = i
        return True

    def remove(self, members) -> int:
        d = self.d
        a = self.a
        n = 0
        for m in members:
            i = d.pop(m, None)
            if i is None:
                continue
            n += 1
            last = a.pop()
            if i < len(a):
                a[i] = last
                d[last] = i
        return n

    # -- random --------------------------------------------------------------------------------
    def random_member(self):
        a = self.a
        return a[_randrange(len(a))]

    def random_members(self, count: int) -> list:
        return random.choices(self.a, k=count)

    def random_distinct(self, count: int) -> list:
        if self.enc == LISTPACK:
            # Redis walks the listpack once (lpNextRandom): the picks come in listpack order
            order = list(self.d)
            return [order[i] for i in sorted(random.sample(range(len(order)), count))]
        return random.sample(self.a, count)

    def pop_random(self):
        a = self.a
        i = _randrange(len(a))
        m = a[i]
        last = a.pop()
        d = self.d
        del d[m]
        if i < len(a):
            a[i] = last
            d[last] = i
        return m

    def pop_random_n(self, count: int) -> list:
        size = len(self.a)
        remaining = size - count
        if remaining * SPOP_MOVE_STRATEGY_MUL > count:
            if self.enc == LISTPACK:
                picked = self.random_distinct(count)
                self.remove(picked)
                return picked
            pop = self.pop_random
            return [pop() for _ in range(count)]
        # Few survivors: they move into a new set (its encoding is rebuilt from scratch).
        enc = self.enc
        if enc == LISTPACK:
            order = list(self.d)
            keep_idx = sorted(random.sample(range(size), remaining))
            kept = [order[i] for i in keep_idx]
            newset = MemorySet(LISTPACK)
        else:
            kept = random.sample(self.a, remaining)
            newset = MemorySet(INTSET if enc == INTSET else LISTPACK)
        for m in kept:
            newset.add_one(m)
        d = self.d
        for m in kept:
            del d[m]
        popped = list(self) if enc == INTSET else list(d)
        self.d, self.a, self.enc = newset.d, newset.a, newset.enc
        self._scan = None
        return popped

    # -- scanning ------------------------------------------------------------------------------
    def scan(self, cursor: int, count: int):
        if self.enc != HT:
            return 0, list(self)
        sc = self._scan
        if sc is None:
            sc = self._scan = HashOrder()
            sc.invalidate()
        return sc.step(self.d, cursor, count)

    # -- set algebra -----------------------------------------------------------------------------
    def new_empty(self, encoding: str) -> "MemorySet":
        return MemorySet(LISTPACK if encoding == "listpack" else INTSET)

    def maybe_to_intset(self) -> None:
        if self.enc != INTSET and len(self.a) <= min(limits.set_max_intset_entries,
                                                     INTSET_HARD_MAX):
            self.enc = INTSET
