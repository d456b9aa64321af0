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

# (hash values: issue #3, hashes)


# (list values: issue #3, lists)


# (set values: issue #3, sets)


# -- sorted-set values (issue #3, sorted sets) ---------------------------------------------------


class _LexBound:
    """The ``-`` and ``+`` bounds of a lex range (smaller / greater than every member)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name


LEX_MIN = _LexBound("LEX_MIN")
LEX_MAX = _LexBound("LEX_MAX")


@runtime_checkable
class ZSetValue(Protocol):
    """A sorted set: members (bytes) with float scores (never NaN), ordered by score and then
    by member bytes (memcmp order, Python's bytes order), as Redis's skiplist.

    Ranks are 0-based positions in that order. Score ranges are ``(lo, loex, hi, hiex)``:
    floats (``-inf``/``inf`` allowed) with exclusive flags. Lex ranges are ``(lo, loex, hi,
    hiex)`` with bytes bounds or :data:`LEX_MIN` / :data:`LEX_MAX` (Redis's ``-``/``+``); they
    are meaningful when all scores are equal (Redis gives no promise otherwise). Range
    results are lists of ``(member, score)`` pairs. The caller deletes the key when a command
    leaves the set empty.

    Encoding: ``encoding()`` is what Redis 7.2.4 reports ("listpack" or "skiplist"). A new
    value is a listpack; the methods below apply Redis's conversion rules (zset-max-listpack-*
    limits from :mod:`engines.limits`, read at each decision).
    Geo stores its points here: ``add``, ``score``, ``by_score``, ``remove``.
    """

    TYPE_NAME: str

    def __len__(self) -> int: ...

    def encoding(self) -> str: ...

    def copy(self) -> "ZSetValue":
        """An independent value with the same members, scores and encoding (zsetDup)."""

    def memory_usage(self) -> int: ...

    def init_encoding(self, size_hint: int, value_len_hint: int) -> None:
        """On a new empty value: zsetTypeCreate (skiplist unless size_hint <= entries and
        value_len_hint <= value)."""

    def maybe_convert(self, size_hint: int) -> None:
        """zsetTypeMaybeConvert: a listpack becomes a skiplist if size_hint > entries."""

    def shrink_if_small(self, maxelelen: int, totelelen: int) -> None:
        """zsetConvertToListpackIfNeeded: a skiplist small enough becomes a listpack."""

    def score(self, member: bytes) -> Optional[float]:
        """The member's score, or None."""

    def add(self, member: bytes, score: float) -> Optional[float]:
        """Insert the member or set its score; returns its previous score, None if it was
        new. A new member first converts a listpack to skiplist when it would exceed the
        entries or value limit (zsetAdd)."""

    def remove(self, member: bytes) -> bool:
        """Remove the member; True if it was there."""

    def rank(self, member: bytes, reverse: bool = False) -> Optional[int]:
        """0-based rank (from the end with ``reverse``), or None."""

    def by_rank(self, start: int, stop: int, reverse: bool = False) -> list:
        """Pairs at ranks start..stop inclusive (0 <= start <= stop < len, caller-checked),
        counted from the end with ``reverse`` (and then listed from the highest)."""

    def items(self, reverse: bool = False) -> Iterator[tuple]:
        """Every (member, score) in order (or reverse order)."""

    def count_by_score(self, lo: float, loex: bool, hi: float, hiex: bool) -> int: ...

    def by_score(self, lo, loex, hi, hiex, offset: int = 0, limit: int = -1,
                 reverse: bool = False) -> list:
        """Pairs with lo <(=) score <(=) hi, in order (from the highest with ``reverse``),
        skipping ``offset`` (negative: nothing) and at most ``limit`` (negative: all)."""

    def count_by_lex(self, lo, loex, hi, hiex) -> int: ...

    def by_lex(self, lo, loex, hi, hiex, offset: int = 0, limit: int = -1,
               reverse: bool = False) -> list:
        """As :meth:`by_score` over member bounds."""

    def remove_by_rank(self, start: int, stop: int) -> int:
        """Remove ranks start..stop (caller-checked as for by_rank); returns the count."""

    def remove_by_score(self, lo, loex, hi, hiex) -> int: ...

    def remove_by_lex(self, lo, loex, hi, hiex) -> int: ...

    def pop(self, maximum: bool = False) -> tuple:
        """Remove and return the lowest (or highest) (member, score); the set is not empty."""

    def at(self, index: int) -> tuple:
        """The (member, score) at rank ``index``."""

    def random_items(self, count: int, unique: bool) -> list:
        """``count`` random pairs: with repetitions (not unique), or ``count`` < len distinct
        ones (a listpack lists them in set order, a skiplist in random order, as Redis)."""

    def scan(self, cursor: int, count: int) -> tuple:
        """One ZSCAN step: ``(next_cursor, [(member, score)])`` with the guarantees of
        :meth:`Keyspace.scan`; a listpack returns every pair and cursor 0."""
