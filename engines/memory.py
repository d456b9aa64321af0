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

from valkeyd import errors
from valkeyd.errors import ErrorReply
from valkeyd.protocol import string2ll

from .base import clock
from .scan import HashOrder

_STR_TYPES = (bytes, bytearray)
WRONGTYPE = ErrorReply(errors.WRONGTYPE)


# -- LFU (maxmemory-policy *-lfu): the same 24-bit word Redis keeps in robj.lru -------------------
LFU_INIT_VAL = 5


def lfu_minutes() -> int:
    return (clock.ms() // 60000) & 65535


def lfu_decr(word: int, decay_time: int) -> int:
    """LFUDecrAndReturn: the counter after decaying one step per ``decay_time`` minutes idle."""
    counter = word & 255
    if decay_time:
        ldt = word >> 8
        now = lfu_minutes()
        elapsed = now - ldt if now >= ldt else 65535 - ldt + now
        periods = elapsed // decay_time
        if periods:
            counter = 0 if periods > counter else counter - periods
    return counter


def lfu_touch(word, log_factor: int, decay_time: int) -> int:
    """updateLFU: decay, then a logarithmic (probabilistic) increment."""
    counter = LFU_INIT_VAL if word is None else lfu_decr(word, decay_time)
    if counter < 255:
        base = counter - LFU_INIT_VAL
        if base < 0:
            base = 0
        if random.random() < 1.0 / (base * log_factor + 1):
            counter += 1
    return (lfu_minutes() << 8) | counter


class MemoryKeyspace:
    __slots__ = ("engine", "id", "data", "expires", "atime", "version", "_scan", "_sweep",
                 "_sweep_pos", "_rand", "_rand_version", "avg_ttl")

    def __init__(self, engine: "MemoryEngine", index: int):
        self.engine = engine
        self.id = index
        self.data: dict = {}
        self.expires: dict = {}
        self.atime: dict = {}
        self.version = 0  # bumped when keys are added (RANDOMKEY pool invalidation)
        self._scan = HashOrder()
        self._sweep: list = []
        self._sweep_pos = 0
        self._rand: list = []
        self._rand_version = -1
        self.avg_ttl = 0  # running average of the TTLs the active expire cycle sampled (INFO)

    # -- internal ------------------------------------------------------------------------------
    def _expired(self, key) -> bool:
        """Lazy expiry (expireIfNeeded): True, and the key removed, if its expiry time is
        strictly before now (a key whose expiry equals the current ms is still alive)."""
        when = self.expires.get(key)
        if when is None or when >= clock.ms():
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

    def _touch(self, key):
        """Record an access (the lookups' slow path: LFU, or a CLIENT NO-TOUCH command)."""
        if self.engine.no_touch:
            return
        lfu = self.engine.lfu
        if lfu is None:
            self.atime[key] = clock.lru
        else:
            self.atime[key] = lfu_touch(self.atime.get(key), lfu[0], lfu[1])

    # -- generic -------------------------------------------------------------------------------
    def get(self, key):
        v = self.data.get(key)
        if v is None:
            return None
        if key in self.expires and self._expired(key):
            return None
        if self.engine.lru_touch:
            self.atime[key] = clock.lru
        else:
            self._touch(key)
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
        if self.engine.lru_touch:
            self.atime[key] = clock.lru
        else:
            self._touch(key)
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
        if self.engine.lru_touch:
            self.atime[key] = clock.lru
        else:
            self._touch(key)
        return v

    def set(self, key, value, keep_ttl=False):
        data = self.data
        if key not in data:
            self.version += 1
            self._scan.added(key)
            data[key] = value
            if self.engine.on_new is not None:   # the "new" keyspace event (n class only)
                self.engine.on_new(self.id, key)
            if self.engine.lfu is None:
                self.atime[key] = clock.lru
            else:
                self.atime[key] = (lfu_minutes() << 8) | LFU_INIT_VAL
        else:
            data[key] = value
            if self.engine.lfu is None:  # an overwrite keeps the LFU counter, as Redis does
                self.atime[key] = clock.lru
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)

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
        now = clock.lru
        return max(0, now - self.atime.get(key, now))

    def lfu_freq(self, key):
        """OBJECT FREQ: the decayed LFU counter, or None when missing (LFU policies only)."""
        if self.peek(key) is None:
            return None
        lfu = self.engine.lfu
        word = self.atime.get(key)
        if word is None:
            return LFU_INIT_VAL
        return lfu_decr(word, lfu[1] if lfu else 0)

    def get_collection(self, key, tname: str, create: bool = False):
        """The collection of type ``tname`` at ``key``; see Keyspace.get_collection."""
        v = self.get(key)
        if v is None:
            if not create:
                return None
            v = new_value(tname)
            self.set(key, v)
            return v
        if type(v) is bytes or type(v) is bytearray or v.TYPE_NAME != tname:
            raise WRONGTYPE
        return v

    def touch(self, key) -> bool:
        return self.get(key) is not None

    def size(self) -> int:
        return len(self.data)

    def expires_count(self) -> int:
        return len(self.expires)

    def keys(self):
        now = clock.ms()
        exp = self.expires
        if not exp:
            return list(self.data)
        return [k for k in self.data if not (k in exp and exp[k] < now)]

    def random_key(self):
        """dbRandomKey: pick uniformly; an expired pick is reclaimed and another is drawn.
        A replica does not delete, so after 100 expired picks in an all-volatile database it
        returns the last one (Redis's guard against looping forever)."""
        data = self.data
        exp = self.expires
        tries = 100
        allvolatile = len(data) == len(exp)
        while data:
            if self._rand_version != self.version or len(self._rand) > 2 * len(data) + 16:
                self._rand = list(data)
                self._rand_version = self.version
            pool = self._rand
            k = pool[random.randrange(len(pool))]
            if k not in data:
                self._rand_version = -1  # deleted since the pool was built: rebuild, retry
                continue
            if k in exp:
                if allvolatile and self.engine.replica_mode:
                    tries -= 1
                    if tries == 0:
                        return k
                if self._expired(k):
                    continue
            return k
        return None

    def scan(self, cursor: int, count: int):
        return self._scan.step(self.data, cursor, count)

    def flush(self) -> int:
        n = len(self.data)
        self.data, self.expires, self.atime = {}, {}, {}
        self.version += 1
        self._scan.invalidate()
        self._sweep, self._sweep_pos = [], 0
        self._rand, self._rand_version = [], -1
        self.avg_ttl = 0
        return n

    # -- expiry --------------------------------------------------------------------------------
    def get_expire(self, key):
        return self.expires.get(key)

    def set_expire(self, key, when_ms: int) -> None:
        if key in self.data:
            self.expires[key] = when_ms

    def persist(self, key) -> bool:
        return self.expires.pop(key, None) is not None

    def rename(self, src, dst) -> None:
        v = self.data.pop(src)
        when = self.expires.pop(src, None)
        at = self.atime.pop(src, None)
        self.set(dst, v)
        if at is not None:
            self.atime[dst] = at  # the object moves: it keeps its LRU/LFU word
        if when is not None:
            self.expires[dst] = when

    def active_expire(self, budget_keys: int):
        """Sample up to ``budget_keys`` keys with an expiry, continuing a cursor over them
        across calls (Redis's ``expires_cursor``), and reclaim the expired ones."""
        exp = self.expires
        if not exp:
            self.avg_ttl = 0
            return 0, 0
        checked = expired = 0
        ttl_sum = ttl_n = 0
        now = clock.ms()
        sweep = self._sweep
        pos = self._sweep_pos
        rebuilt = False
        while checked < budget_keys:
            if pos >= len(sweep):
                if rebuilt:
                    break  # every key with an expiry was sampled once in this call
                sweep = self._sweep = list(exp)
                pos = 0
                rebuilt = True
                if not sweep:
                    break
            key = sweep[pos]
            pos += 1
            when = exp.get(key)
            if when is None:
                continue  # deleted or persisted since the round started: not a sample
            checked += 1
            if when < now:
                if self.engine.replica_mode:
                    continue
                self._remove(key)
                hook = self.engine.on_expired
                if hook is not None:
                    hook(self.id, key)
                expired += 1
            else:
                ttl_sum += when - now
                ttl_n += 1
        self._sweep_pos = pos
        if ttl_n:
            avg = ttl_sum // ttl_n
            if not self.avg_ttl:
                self.avg_ttl = avg
            self.avg_ttl = (self.avg_ttl // 50) * 49 + avg // 50
        return checked, expired

    def swap_contents(self, other: "MemoryKeyspace") -> None:
        for attr in ("data", "expires", "atime", "_sweep", "_sweep_pos", "avg_ttl", "_scan"):
            a, b = getattr(self, attr), getattr(other, attr)
            setattr(self, attr, b)
            setattr(other, attr, a)
        self.version += 1
        other.version += 1
        self._rand_version = other._rand_version = -1


# The memory engine's collection classes, one module each, imported on first use.
VALUE_CLASSES = {
    "hash": ("engines.mem_hash", "MemoryHash"),
    "list": ("engines.mem_list", "MemoryList"),
    "set": ("engines.mem_set", "MemorySet"),
    "zset": ("engines.mem_zset", "MemoryZSet"),
    "stream": ("engines.mem_stream", "MemoryStream"),
}
_value_classes: dict = {}


def value_class(tname: str):
    cls = _value_classes.get(tname)
    if cls is None:
        import importlib
        mod, name = VALUE_CLASSES[tname]
        cls = _value_classes[tname] = getattr(importlib.import_module(mod), name)
    return cls


def new_value(tname: str):
    """A new, empty collection of type ``tname`` ("hash", "list", "set", "zset")."""
    return value_class(tname)()


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


def value_copy(v):
    """An independent copy of a value (COPY): strings are immutable bytes or copied
    bytearrays; the collection classes provide ``copy()``."""
    t = type(v)
    if t is bytes:
        return v
    if t is bytearray:
        return bytearray(v)
    return v.copy()


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
        self.on_new = None
        self.replica_mode = False
        self._lfu = None
        self._no_touch = False
        self.lru_touch = True  # lookups record accesses with one store (no LFU, no NO-TOUCH)

    @property
    def lfu(self):
        """(lfu-log-factor, lfu-decay-time) while maxmemory-policy is *-lfu, else None."""
        return self._lfu

    @lfu.setter
    def lfu(self, value):
        self._lfu = value
        self.lru_touch = value is None and not self._no_touch

    @property
    def no_touch(self) -> bool:
        """True while a CLIENT NO-TOUCH client's command runs: lookups leave access times."""
        return self._no_touch

    @no_touch.setter
    def no_touch(self, value: bool) -> None:
        self._no_touch = value
        self.lru_touch = self._lfu is None and not value

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
        if lazy and n:
            # Dropping the last reference to huge dicts takes time: do it off the event loop.
            threading.Thread(target=old.clear, daemon=True).start()
        return n

    def flushdb(self, index: int, lazy: bool = False) -> int:
        d = self._dbs[index]
        old = [(d.data, d.expires, d.atime)]
        n = d.flush()
        if lazy and n:
            threading.Thread(target=old.clear, daemon=True).start()
        return n

    def commit(self) -> None:
        pass

    def snapshot(self):
        """Keys, expiries and value references are captured now (not when iteration starts);
        a value mutated in place afterwards is seen mutated."""
        now = clock.ms()
        taken = [(d.id, list(d.data.items()), dict(d.expires)) for d in self._dbs]

        def gen():
            for dbid, items, exp in taken:
                for k, v in items:
                    when = exp.get(k)
                    if when is not None and when < now:
                        continue
                    yield dbid, k, v, when

        return gen()

    def used_memory(self) -> int:
        return sum(value_size(v) + sys.getsizeof(k) for d in self._dbs for k, v in d.data.items())

    def close(self) -> None:
        for d in self._dbs:
            d.flush()
