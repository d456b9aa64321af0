"""The storage-engine interface.

Commands are written once against these protocols; each engine implements them. The memory
engine (:mod:`engines.memory`) is the reference implementation, and
``tests/test_engine_contract.py`` is the conformance suite every engine must pass.

Threading and atomicity: the server runs every command on one event-loop thread, so an engine
never sees concurrent calls. ``Engine.commit()`` is called once after each batch of commands
read from the network (group commit), before their replies are written.

Time: all expiry times are absolute Unix times in milliseconds. Engines read "now" from
:data:`clock`, which the server freezes for the duration of a command so that a command (or a
MULTI/EXEC, or a script) sees one consistent time, as Redis does.

Expiry: a key whose expiry time ``when`` satisfies ``when < now`` is logically expired (Redis's
``keyIsExpired``: a key expiring at exactly the current millisecond is still alive). Every
lookup below (``get``, ``peek``, ``get_string``, ``exists``, ``delete``, ``type_name`` ...)
reclaims such a key before answering, calls ``Engine.on_expired(db, key)`` once for it (the
server then counts it, propagates ``DEL`` and fires the "expired" event), and reports the key
as missing. While ``Engine.replica_mode`` is set an expired key is reported as missing but not
deleted (the primary sends the ``DEL``); the same flag serves while CLIENT PAUSE WRITE
pauses expiry. Redis never treats keys as expired while applying the primary's own stream
nor while loading: the replication and persistence layers set ``clock.frozen`` or clear
``replica_mode`` accordingly rather than the engine guessing.

Values: strings are ``bytes`` (``bytearray`` once modified in place); collections are the
objects of the collection commands (``TYPE_NAME``, ``encoding()``, ``copy()``,
``memory_usage()``). A value returned by a lookup may be the stored object itself: commands
that modify it in place must write it back with :meth:`Keyspace.set` (``keep_ttl=True``) so
that engines which serialize values see the change.

Errors: a typed access to a key holding another type raises
``ErrorReply(errors.WRONGTYPE)``; engines never produce any other reply text.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Optional, Protocol, runtime_checkable


class Clock:
    """Milliseconds since the epoch, as commands see them.

    * ``frozen`` pins the time (EXEC and scripts hold one time for all their commands; tests
      use it to move time by hand).
    * Otherwise the first ``ms()`` of a command reads the system clock and the rest of the
      command sees that same value (Redis's ``commandTimeSnapshot``): the dispatcher sets
      ``snap = None`` before each command, and the cron before its own work.
    * ``lru`` is the access clock in seconds (OBJECT IDLETIME), refreshed by the cron and
      whenever ``frozen`` is set, so a lookup records its access with one attribute read.
    """

    __slots__ = ("_frozen", "snap", "lru")

    def __init__(self):
        self._frozen: Optional[int] = None
        self.snap: Optional[int] = None
        self.lru = int(time.time())

    @property
    def frozen(self) -> Optional[int]:
        return self._frozen

    @frozen.setter
    def frozen(self, ms: Optional[int]) -> None:
        self._frozen = ms
        self.snap = None
        self.lru = (ms if ms is not None else time.time_ns() // 1_000_000) // 1000

    def ms(self) -> int:
        f = self._frozen
        if f is not None:
            return f
        s = self.snap
        if s is None:
            s = self.snap = time.time_ns() // 1_000_000
        return s

    def tick(self) -> None:
        """Called by the cron: a fresh snapshot and access clock."""
        self.snap = None
        if self._frozen is None:
            self.lru = time.time_ns() // 1_000_000_000


clock = Clock()

# Type names as TYPE reports them.
STRING, LIST, SET, ZSET, HASH, STREAM = "string", "list", "set", "zset", "hash", "stream"


@runtime_checkable
class Keyspace(Protocol):
    """One logical database (SELECT index).

    Lookups apply lazy expiry (see the module docstring). "Touching" lookups (``get``,
    ``get_string``, ``get_typed``, ``touch``) also update the key's access time (OBJECT
    IDLETIME) or, while ``Engine.lfu`` is set, its LFU counter (OBJECT FREQ); ``peek``,
    ``exists`` and ``type_name`` do not (Redis's LOOKUP_NOTOUCH).
    """

    id: int

    # -- generic -----------------------------------------------------------------------------
    def get(self, key: bytes) -> Any:
        """The value at ``key`` (any type) or None; applies lazy expiry and touches the key."""

    def peek(self, key: bytes) -> Any:
        """Like :meth:`get` without updating the access time."""

    def get_typed(self, key: bytes, cls: type) -> Any:
        """The value at ``key`` if it is exactly a ``cls`` (None when missing), WRONGTYPE for
        any other type; touches the key."""

    def touch(self, key: bytes) -> bool:
        """Touch the key (access time / LFU counter); True if it exists."""

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store ``value`` at ``key``, replacing any value of any type. The key's expiry is
        removed unless ``keep_ttl``. A new key's access time is now (LFU: counter 5); an
        overwrite keeps the LFU counter, as Redis's dbSetValue does."""

    def delete(self, key: bytes) -> bool:
        """Remove the key and its expiry. True if it existed and was not expired (an expired
        key is reclaimed through ``on_expired`` and False is returned, as DEL does)."""

    def exists(self, key: bytes) -> bool:
        """True if the key is present and not expired (does not touch)."""

    def type_name(self, key: bytes) -> Optional[str]:
        """"string", "list", "set", "zset", "hash", "stream" or None when missing."""

    def encoding(self, key: bytes) -> Optional[str]:
        """The encoding Redis 7.2 would report in OBJECT ENCODING, or None when missing."""

    def idle_seconds(self, key: bytes) -> Optional[int]:
        """Seconds since the key was last touched, or None when missing."""

    def lfu_freq(self, key: bytes) -> Optional[int]:
        """The key's LFU counter after decay (OBJECT FREQ), or None when missing."""

    def size(self) -> int:
        """Number of keys (may include keys that have expired but were not yet reclaimed,
        as DBSIZE does in Redis)."""

    def expires_count(self) -> int:
        """Number of keys with an expiry (INFO keyspace ``expires=``)."""

    def keys(self) -> Iterator[bytes]:
        """Every key that is not expired, in no particular order (KEYS: expired keys are
        skipped, not reclaimed)."""

    def random_key(self) -> Optional[bytes]:
        """A uniformly chosen key that is not expired (expired picks are reclaimed and another
        is drawn), or None when the database is empty. In ``replica_mode`` with every key
        volatile, gives up after 100 expired picks and returns the last one (dbRandomKey)."""

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One step of a stateless cursor iteration: ``(next_cursor, keys)``.

        * ``cursor`` is any unsigned 64-bit integer; 0 starts an iteration and a returned 0
          ends it. No server-side state may be needed to continue from a cursor (clients may
          abandon iterations or run many at once).
        * Every key present (and not expired) from the start to the end of an iteration is
          returned at least once, whatever keys are added or deleted in between (and
          whatever other iterations run meanwhile). A key added or deleted during the
          iteration may or may not be returned. A key may be returned more than once.
        * ``count`` is a hint of the work per call (about ``count`` keys, Redis's COUNT); a
          call may return fewer keys, even none, without the iteration being over.
        * The keys returned may include logically expired keys: the caller filters them with
          :meth:`exists` (which reclaims them, as SCAN does in Redis)."""

    def flush(self) -> int:
        """Remove every key and expiry; returns how many keys there were."""

    # -- expiry ------------------------------------------------------------------------------
    def get_expire(self, key: bytes) -> Optional[int]:
        """The absolute expiry time in ms, or None if the key has none (or is missing)."""

    def set_expire(self, key: bytes, when_ms: int) -> None:
        """Set the absolute expiry time (ms, any 64-bit value) of an existing key; a missing
        key is left alone. Whether ``when_ms`` is already past is the caller's business."""

    def persist(self, key: bytes) -> bool:
        """Remove the key's expiry; True if it had one."""

    def rename(self, src: bytes, dst: bytes) -> None:
        """Move value, expiry and access time (LRU/LFU) from ``src`` to ``dst``, replacing
        ``dst`` (its value and its expiry). The caller has checked that ``src`` exists and
        differs from ``dst``."""

    def active_expire(self, budget_keys: int) -> tuple[int, int]:
        """One sample of Redis's active expire cycle: check up to ``budget_keys`` keys that
        have an expiry, continuing where the previous call stopped (so that repeated calls
        visit every volatile key), reclaiming the expired ones through ``on_expired``.
        Returns ``(checked, expired)``; the server repeats while more than 10% of a sample had
        expired. Optionally maintains ``avg_ttl`` (ms, running average of the sampled TTLs of
        keys not yet expired) for INFO keyspace."""

    # -- strings -----------------------------------------------------------------------------
    def get_string(self, key: bytes) -> Optional[bytes]:
        """The string at ``key`` (bytes-like) or None; WRONGTYPE for another type."""

    # -- collections ---------------------------------------------------------------------------
    def get_collection(self, key: bytes, tname: str, create: bool = False) -> Any:
        """The collection of type ``tname`` ("hash", "list", "set", "zset") at ``key``.

        Touches the key. A missing key gives None, or with ``create`` a new empty collection
        now stored at the key (no expiry). Any other type at the key raises WRONGTYPE.
        The object returned is live: its methods change the stored value at once (the memory
        engine returns the stored object; a disk engine returns a view bound to the key).
        A command that leaves a collection empty deletes the key (Redis never keeps empty
        collections)."""


@runtime_checkable
class Engine(Protocol):
    """A storage engine: a fixed number of :class:`Keyspace` databases."""

    name: str
    on_expired: Optional[Callable[[int, bytes], None]]
    #: True while a CLIENT NO-TOUCH client's command runs: lookups must not update the access
    #: time (LRU) or frequency (LFU) of the keys they find.
    no_touch: bool
    #: (lfu-log-factor, lfu-decay-time) while maxmemory-policy is an LFU policy, else None.
    lfu: Optional[tuple[int, int]]
    replica_mode: bool      # expired keys read as missing but are not deleted
    lfu: Optional[tuple[int, int]]  # (lfu-log-factor, lfu-decay-time) under an LFU policy

    def db(self, index: int) -> Keyspace:
        """Database ``index`` (0 <= index < databases). The object stays the same for the
        life of the engine; SWAPDB exchanges contents, not objects."""

    @property
    def databases(self) -> int: ...

    def swapdb(self, a: int, b: int) -> None:
        """Exchange the contents (keys, expiries, access times) of two databases atomically;
        ``a == b`` is a no-op. ``db(a)`` and ``db(b)`` stay the same objects."""

    def flushall(self, lazy: bool = False) -> int:
        """Empty every database; returns the number of keys removed. ``lazy`` may reclaim
        memory in the background."""

    def flushdb(self, index: int, lazy: bool = False) -> int:
        """Empty one database; returns the number of keys removed."""

    def commit(self) -> None:
        """Called once per event-loop batch: make the batch's writes durable as configured."""

    def snapshot(self) -> Iterator[tuple[int, bytes, Any, Optional[int]]]:
        """A consistent iteration of ``(db, key, value, expire_ms)`` over every key that is
        not expired at the time of the call, database by database. The set of keys and their
        expiries are those of the moment of the call: keys written, deleted or re-expired
        while the iterator is consumed do not change it (a value mutated in place afterwards
        may be seen mutated by the memory engine; serializing engines give the old value)."""

    def used_memory(self) -> int:
        """An estimate of the bytes the dataset uses."""

    def close(self) -> None:
        """Release every resource; the engine is unusable afterwards."""


# -- value interfaces ----------------------------------------------------------------------------
# Commands reach collections only through these interfaces, so that every engine can provide
# its own representation. Every collection has ``TYPE_NAME``, ``__len__``, ``encoding()``
# (what OBJECT ENCODING reports, following Redis 7.2's conversion rules and the thresholds in
# :mod:`engines.limits`), ``copy()`` (an independent value, for COPY) and ``memory_usage()``.

# -- hash values (issue #3, hashes) --------------------------------------------------------------
@runtime_checkable
class HashValue(Protocol):
    """A hash: fields (bytes) mapped to values (bytes), each field with an optional absolute
    expiry time in ms (Valkey 9's per-field expiry; Redis 7.2.4 itself has none).

    Element-level: a disk engine keeps one record per field (and one per field expiry time),
    so nothing here hands out or takes the whole hash at once, except the iterators.

    Encoding (OBJECT ENCODING, Redis 7.2.4's t_hash.c rules, thresholds read from
    :data:`engines.limits.limits` at each decision): a new hash is "listpack"; it becomes
    "hashtable" for good (never back) when a write would hold more than
    ``hash_max_listpack_entries`` fields, when a write brings a field or value longer than
    ``hash_max_listpack_value`` bytes, or when a field gets an expiry time (Valkey keeps
    volatile fields in its hashtable only). :meth:`set_many` first applies Redis's
    hashTypeTryConversion to the whole batch: more new pairs than the entries limit, or any
    argument longer than the value limit, converts before anything is written (even when the
    fields already exist).

    Expiry: a field whose expiry time ``when`` satisfies ``when < now`` is logically expired.
    The value does not hide such fields by itself: a command on a hash with volatile fields
    calls :meth:`has_expired` first and reclaims them with :meth:`pop_expired` (that is where
    keyspace events, propagation and the deletion of an emptied key happen), so every other
    method sees only live fields. ``volatile_count()`` is the cheap test that comes first on
    every access (0 for almost every hash).
    Field order in iteration is the insertion order while the hash is a listpack (as Redis
    replies), unspecified otherwise.
    """

    TYPE_NAME: str  # "hash"

    def __len__(self) -> int:
        """Number of fields (including expired fields not yet reclaimed)."""

    def encoding(self) -> str:
        """"listpack" or "hashtable"."""

    def copy(self) -> "HashValue":
        """An independent hash with the same fields, values, expiry times and encoding."""

    def memory_usage(self) -> int:
        """Approximate bytes used."""

    # -- fields ----------------------------------------------------------------------------------
    def get(self, field: bytes) -> Optional[bytes]:
        """The value of ``field`` or None."""

    def contains(self, field: bytes) -> bool:
        """True if ``field`` is present."""

    def set(self, field: bytes, value: bytes, keep_ttl: bool = False) -> bool:
        """Set one field (hashTypeSet: converts first if ``field`` or ``value`` is longer than
        the value limit, and after if the entries limit is exceeded). The field's expiry time
        is removed unless ``keep_ttl``. True if the field is new."""

    def set_many(self, argv: list, start: int) -> int:
        """HSET's batch: ``argv[start:]`` is field, value, field, value ... (even length).
        Applies hashTypeTryConversion to the batch, then sets each pair in order (later pairs
        win), removing the expiry time of every field written. Returns the number of fields
        that were new."""

    def delete(self, field: bytes) -> bool:
        """Remove ``field`` and its expiry time; True if it was present."""

    def fields(self) -> Iterator[bytes]:
        """Every field, in the order described above."""

    def values(self) -> Iterator[bytes]:
        """Every value, in the same order as :meth:`fields`."""

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (field, value), in the same order as :meth:`fields`."""

    def random_items(self, count: int, distinct: bool) -> list:
        """(field, value) pairs drawn at random: with ``distinct``, ``min(count, len)``
        different fields (all of them, in iteration order, when ``count >= len``); otherwise
        exactly ``count`` independent uniform draws (repetitions allowed). ``count >= 1`` and
        the hash is not empty."""

    def scan(self, cursor: int, count: int) -> tuple[int, list]:
        """One HSCAN step over a "hashtable" hash, with the guarantees of
        :meth:`Keyspace.scan` (stateless 64-bit cursor, every field present for the whole
        iteration returned at least once, ``count`` a hint). Returns ``(next_cursor, fields)``.
        A "listpack" hash is returned whole by the caller instead, as Redis does."""

    # -- per-field expiry (Valkey 9) -------------------------------------------------------------
    def get_expire(self, field: bytes) -> Optional[int]:
        """The field's absolute expiry time in ms, or None (no expiry time, or no field)."""

    def set_expire(self, field: bytes, when_ms: int) -> bool:
        """Give an existing field the expiry time ``when_ms`` (converting a listpack to a
        hashtable); False, and nothing changed, if the field is missing."""

    def persist(self, field: bytes) -> bool:
        """Remove the field's expiry time; True if it had one."""

    def volatile_count(self) -> int:
        """Number of fields that have an expiry time."""

    def volatile_items(self) -> Iterator[tuple[bytes, int]]:
        """Every (field, expiry time in ms) of the fields that have one, in no order."""

    def has_expired(self, now_ms: int) -> bool:
        """True if some field's expiry time is before ``now_ms``. Commands call it on every
        access to a hash whose :meth:`volatile_count` is not 0, so it must be cheap (the
        memory engine keeps a heap of expiry times)."""

    def pop_expired(self, now_ms: int, limit: int = 0) -> list:
        """Remove the fields whose expiry time is before ``now_ms`` (at most ``limit`` of
        them when ``limit > 0``, earliest first) and return their names."""


# (list values: issue #3, lists)


# (set values: issue #3, sets)


# (sorted-set values: issue #3, sorted sets)
