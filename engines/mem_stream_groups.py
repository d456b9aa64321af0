"""Consumer groups of the memory engine (the :class:`engines.base.ConsumerGroup` protocol).

A group (Redis's ``streamCG``) holds its last delivered ID, its entries-read counter, its
pending entries list (PEL: entry ID -> owner, last delivery time, delivery count) and its
consumers (name -> seen time, active time and the consumer's own PEL). IDs are ints
``ms << 64 | seq`` (the stream value's convention), which order as Redis's 128-bit keys do. The group PEL and each consumer's
PEL share the NACK records, as in t_stream.c, so a reassignment updates both at once.
"""
from __future__ import annotations

import sys
from itertools import islice
from typing import Iterator, Optional

from sortedcontainers import SortedDict

INVALID_ENTRIES_READ = -1   # SCG_INVALID_ENTRIES_READ


class _Nack:
    __slots__ = ("consumer", "time", "count")

    def __init__(self, consumer, time: int, count: int):
        self.consumer = consumer   # a _Consumer
        self.time = time
        self.count = count


class _Consumer:
    __slots__ = ("name", "seen", "active", "pel")

    def __init__(self, name: bytes, seen: int):
        self.name = name
        self.seen = seen
        self.active = -1
        self.pel = SortedDict()   # id -> _Nack (shared with the group PEL)


class MemoryConsumerGroup:
    """One consumer group of a memory stream."""

    __slots__ = ("last_id", "entries_read", "pel", "consumers")

    def __init__(self, last_id: int = 0, entries_read: int = INVALID_ENTRIES_READ):
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel = SortedDict()        # id -> _Nack
        self.consumers = SortedDict()  # name -> _Consumer (rax order: bytes order)

    # -- whole group ---------------------------------------------------------------------------
    def copy(self) -> "MemoryConsumerGroup":
        g = MemoryConsumerGroup(self.last_id, self.entries_read)
        for name, cons in self.consumers.items():
            nc = _Consumer(name, cons.seen)
            nc.active = cons.active
            g.consumers[name] = nc
        for id_, n in self.pel.items():
            nn = _Nack(g.consumers[n.consumer.name], n.time, n.count)
            g.pel[id_] = nn
            nn.consumer.pel[id_] = nn
        return g

    def memory_usage(self) -> int:
        size = sys.getsizeof(self) + 200
        size += len(self.pel) * 120
        for name in self.consumers:
            size += 150 + len(name)
        return size

    # -- PEL -----------------------------------------------------------------------------------
    def pel_len(self) -> int:
        return len(self.pel)

    def pel_get(self, id_: int) -> Optional[tuple]:
        n = self.pel.get(id_)
        if n is None:
            return None
        return (n.consumer.name, n.time, n.count)

    def pel_put(self, id_: int, consumer: bytes, time: int, count: int) -> None:
        cons = self.consumers[consumer]
        n = self.pel.get(id_)
        if n is None:
            n = self.pel[id_] = _Nack(cons, time, count)
            cons.pel[id_] = n
            return
        if n.consumer is not cons:
            del n.consumer.pel[id_]
            cons.pel[id_] = n
            n.consumer = cons
        n.time = time
        n.count = count

    def pel_delete(self, id_: int) -> bool:
        n = self.pel.pop(id_, None)
        if n is None:
            return False
        del n.consumer.pel[id_]
        return True

    def pel_first(self) -> Optional[int]:
        return self.pel.keys()[0] if self.pel else None

    def pel_last(self) -> Optional[int]:
        return self.pel.keys()[-1] if self.pel else None

    def pel_range(self, start: int, end: Optional[int] = None,
                  consumer: Optional[bytes] = None) -> Iterator[tuple]:
        pel = self.pel
        if consumer is not None:
            cons = self.consumers.get(consumer)
            if cons is None:
                return
            pel = cons.pel
        # In chunks, so that a caller reading a few entries of a big PEL does not pay for all
        # of them, and may modify the PEL between steps.
        lo = start
        chunk = 16
        while True:
            ids = list(islice(pel.irange(lo, end), chunk))
            if not ids:
                return
            for id_ in ids:
                n = pel.get(id_)
                if n is not None:
                    yield (id_, n.consumer.name, n.time, n.count)
            if len(ids) < chunk:
                return
            lo = ids[-1] + 1
            if chunk < 1024:
                chunk *= 4

    # -- consumers -----------------------------------------------------------------------------
    def consumer_count(self) -> int:
        return len(self.consumers)

    def consumer_names(self) -> list:
        return list(self.consumers.keys())

    def consumer_get(self, name: bytes) -> Optional[tuple]:
        cons = self.consumers.get(name)
        if cons is None:
            return None
        return (cons.seen, cons.active, len(cons.pel))

    def consumer_create(self, name: bytes, now: int) -> bool:
        if name in self.consumers:
            return False
        self.consumers[name] = _Consumer(name, now)
        return True

    def consumer_delete(self, name: bytes) -> Optional[int]:
        cons = self.consumers.pop(name, None)
        if cons is None:
            return None
        for id_ in cons.pel:
            del self.pel[id_]
        return len(cons.pel)

    def consumer_set_times(self, name: bytes, seen: Optional[int] = None,
                           active: Optional[int] = None) -> None:
        cons = self.consumers[name]
        if seen is not None:
            cons.seen = seen
        if active is not None:
            cons.active = active
