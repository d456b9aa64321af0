"""The memory engine: the reference implementation of :mod:`engines.base`.

Values live in Python's own structures: strings as ``bytes`` (or ``bytearray`` once modified
in place by APPEND/SETRANGE/SETBIT, which is also what makes OBJECT ENCODING say "raw"), and
the collection types as the classes the collection commands define. Persistence is the job of
:mod:`persistence` (RDB and AOF), not of this module.
"""
from __future__ import annotations

import random
import sys
import threading
from itertools import islice

from valkeyd import errors
from valkeyd.errors import ErrorReply
from valkeyd.protocol import string2ll

from .base import clock
from .scan import HashOrder

_STR_TYPES = (bytes, bytearray)
WRONGTYPE = ErrorReply(errors.WRONGTYPE)


def lru_clock() -> int:
    """Seconds resolution access clock (OBJECT IDLETIME)."""
    return clock.ms() // 1000


class MemoryKeyspace:
    __slots__ = ("engine", "id", "data", "expires", "atime", "version", "_scan", "_sweep",
                 "_sweep_pos")

    def __init__(self, engine: "MemoryEngine", index: int):
        self.engine = engine
        self.id = index
        self.data: dict = {}
        self.expires: dict = {}
        self.atime: dict = {}
        self.version = 0  # bumped when keys are added (SCAN index invalidation)
        self._scan = HashOrder()
        self._sweep: list = []
        self._sweep_pos = 0

    # -- internal ------------------------------------------------------------------------------
    def _expired(self, key) -> bool:
        """Lazy expiry: True (and the key removed) if ``key`` has an expiry in the past."""
        when = self.expires.get(key)
        if when is None or when > clock.ms():
            return False
        if self.engine.replica_mode:
            return True  # replicas report expired keys as missing but wait for the primary's DEL
        self._remove(key)
        hook = self.engine.on_expired
        if hook is not None:
            hook(self.id, key)
        return True

    def _remove(self, key):
        del self.data[key]
        self.expires.pop(key, None)
        self.atime.pop(key, None)

    # -- generic -------------------------------------------------------------------------------
    def get(self, key):
        v = self.data.get(key)
        if v is None:
            return None
        if key in self.expires and self._expired(key):
            return None
        self.atime[key] = lru_clock()
        return v

    def peek(self, key):
        v = self.data.get(key)
        if v is None:
            return None
        if key in self.expires and self._expired(key):
            return None
        return v

    def get_string(self, key):
        v = self.data.get(key)
        if v is None:
            return None
        if key in self.expires and self._expired(key):
            return None
        if type(v) is not bytes and type(v) is not bytearray:
            raise WRONGTYPE
        self.atime[key] = lru_clock()
        return v

    def get_typed(self, key, cls):
        """The value at ``key`` if it is a ``cls`` (None when missing); WRONGTYPE otherwise."""
        v = self.data.get(key)
        if v is None:
            return None
        if key in self.expires and self._expired(key):
            return None
        if type(v) is not cls:
            raise WRONGTYPE
        self.atime[key] = lru_clock()
        return v

    def set(self, key, value, keep_ttl=False):
        data = self.data
        if key not in data:
            self.version += 1
        data[key] = value
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)
        self.atime[key] = lru_clock()

    def delete(self, key) -> bool:
        if key not in self.data:
            return False
        if key in self.expires and self._expired(key):
            return False
        self._remove(key)
        return True

    def exists(self, key) -> bool:
        if key not in self.data:
            return False
        return not (key in self.expires and self._expired(key))

    def type_name(self, key):
        v = self.peek(key)
        return None if v is None else value_type(v)

    def encoding(self, key):
        v = self.peek(key)
        return None if v is None else value_encoding(v)

    def idle_seconds(self, key):
        if self.peek(key) is None:
            return None
        return max(0, lru_clock() - self.atime.get(key, lru_clock()))

    def touch(self, key) -> bool:
        return self.get(key) is not None

    def size(self) -> int:
        return len(self.data)

    def expires_count(self) -> int:
        return len(self.expires)

    def keys(self):
        now = clock.ms()
        exp = self.expires
        return [k for k in self.data if not (k in exp and exp[k] <= now)]

    def random_key(self):
        data = self.data
        for _ in range(100):
            n = len(data)
            if not n:
                return None
            k = next(islice(iter(data), random.randrange(n), None))
            if not (k in self.expires and self._expired(k)):
                return k
        # Everything sampled was expired: return a key anyway as Redis does after many tries.
        return next(iter(data), None)

    def scan(self, cursor: int, count: int):
        return self._scan.step(self.data, self.version, cursor, count)

    def flush(self) -> int:
        n = len(self.data)
        self.data, self.expires, self.atime = {}, {}, {}
        self.version += 1
        self._sweep, self._sweep_pos = [], 0
        return n

    # -- expiry --------------------------------------------------------------------------------
    def get_expire(self, key):
        return self.expires.get(key)

    def set_expire(self, key, when_ms: int) -> None:
        self.expires[key] = when_ms

    def persist(self, key) -> bool:
        return self.expires.pop(key, None) is not None

    def rename(self, src, dst) -> None:
        v = self.data.pop(src)
        when = self.expires.pop(src, None)
        self.atime.pop(src, None)
        self.set(dst, v)
        if when is not None:
            self.expires[dst] = when

    def active_expire(self, budget_keys: int):
        """Sweep the keys with an expiry in rounds, like Redis's expire cursor."""
        exp = self.expires
        if not exp:
            return 0, 0
        checked = expired = 0
        now = clock.ms()
        while checked < budget_keys:
            if self._sweep_pos >= len(self._sweep):
                self._sweep = list(exp)
                self._sweep_pos = 0
                if not self._sweep:
                    break
            key = self._sweep[self._sweep_pos]
            self._sweep_pos += 1
            checked += 1
            when = exp.get(key)
            if when is not None and when <= now and key in self.data:
                self._expired(key)
                expired += 1
        return checked, expired

    def swap_contents(self, other: "MemoryKeyspace") -> None:
        for attr in ("data", "expires", "atime", "_sweep", "_sweep_pos"):
            a, b = getattr(self, attr), getattr(other, attr)
            setattr(self, attr, b)
            setattr(other, attr, a)
        self.version += 1
        other.version += 1


def value_type(v) -> str:
    if type(v) is bytes or type(v) is bytearray:
        return "string"
    return v.TYPE_NAME


def value_encoding(v) -> str:
    t = type(v)
    if t is bytes:
        if len(v) <= 20 and string2ll(v) is not None:
            return "int"
        return "embstr" if len(v) <= 44 else "raw"
    if t is bytearray:
        return "raw"
    return v.encoding()


def value_size(v) -> int:
    """Approximate memory footprint of a value (MEMORY USAGE, used_memory)."""
    t = type(v)
    if t is bytes or t is bytearray:
        return sys.getsizeof(v)
    return v.memory_usage()


class MemoryEngine:
    """Sixteen (or ``databases``) :class:`MemoryKeyspace` objects."""

    name = "memory"

    def __init__(self, databases: int = 16):
        self._dbs = [MemoryKeyspace(self, i) for i in range(databases)]
        self.on_expired = None
        self.replica_mode = False

    @property
    def databases(self) -> int:
        return len(self._dbs)

    def db(self, index: int) -> MemoryKeyspace:
        return self._dbs[index]

    def swapdb(self, a: int, b: int) -> None:
        if a != b:
            self._dbs[a].swap_contents(self._dbs[b])

    def flushall(self, lazy: bool = False) -> int:
        old = [(d.data, d.expires, d.atime) for d in self._dbs]
        n = sum(d.flush() for d in self._dbs)
        if lazy:
            # Dropping the last reference to huge dicts takes time: do it off the event loop.
            threading.Thread(target=old.clear, daemon=True).start()
        return n

    def commit(self) -> None:
        pass

    def snapshot(self):
        now = clock.ms()
        for d in self._dbs:
            exp = d.expires
            for k, v in list(d.data.items()):
                when = exp.get(k)
                if when is not None and when <= now:
                    continue
                yield d.id, k, v, when

    def used_memory(self) -> int:
        return sum(value_size(v) + sys.getsizeof(k) for d in self._dbs for k, v in d.data.items())

    def close(self) -> None:
        for d in self._dbs:
            d.flush()
