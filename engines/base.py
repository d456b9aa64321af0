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
    # Called as on_new(db, key) when a key is added (Redis's dbAdd: the "new" keyspace event);
    # None unless notify-keyspace-events has the n class.
    on_new: Optional[Callable[[int, bytes], None]]
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


@runtime_checkable
class ListValue(Protocol):
    """A list (``get_collection(key, "list")``): a sequence of byte strings, indexed from 0 at
    the head; negative indexes count from the tail where stated.

    Every method changes the stored value at once. The value keeps the encoding Redis 7.2.4
    would have (``encoding()``: "listpack" or "quicklist") following t_list.c's
    listTypeTryConversion* rules: before adding elements a listpack converts to a quicklist
    when its bytes plus the added strings' lengths, or its length plus the added count, exceed
    ``list-max-listpack-size`` (checked even when the command then adds nothing: LINSERT with a
    missing pivot, LSET out of range); after removing elements a quicklist of a single node
    converts back when it is under half the limits. Callers delete the key when a list
    becomes empty (a value must never be left empty in the keyspace)."""

    TYPE_NAME: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[bytes]:
        """Every element, head to tail."""

    def encoding(self) -> str: ...

    def copy(self) -> "ListValue": ...

    def memory_usage(self) -> int: ...

    def push_left(self, vals: list, count_ints: bool = True) -> int:
        """LPUSH: each of ``vals`` in turn becomes the head. Returns the new length.
        ``count_ints=False``: a single integer-looking value does not count its bytes in the
        conversion check (Redis passes an integer object when LMOVE pops from a quicklist)."""

    def push_right(self, vals: list, count_ints: bool = True) -> int:
        """RPUSH: each of ``vals`` in turn becomes the tail. Returns the new length."""

    def pop_left(self, shrink: bool = True) -> bytes:
        """Remove and return the head. The list must not be empty. ``shrink``: then convert
        to listpack if small enough (listTypeTryConversion SHRINKING); LMOVE within one list
        pushes first and converts after."""

    def pop_right(self, shrink: bool = True) -> bytes:
        """Remove and return the tail, as :meth:`pop_left`."""

    def pop_many(self, count: int, left: bool) -> list:
        """Remove up to ``count`` (>= 1) elements from the head (``left``) or the tail, in
        the order they are popped (one range deletion, one conversion check)."""

    def index(self, i: int) -> Optional[bytes]:
        """The element at ``i`` (negative: from the tail) or None when out of range."""

    def range(self, start: int, stop: int) -> list:
        """Elements ``start``..``stop`` inclusive, head to tail; ``0 <= start <= stop < len``."""

    def range_reversed(self, start: int, stop: int) -> list:
        """Elements ``stop`` down to ``start``; ``0 <= start <= stop < len``."""

    def set(self, i: int, value: bytes) -> bool:
        """LSET: replace the element at ``i`` (negative: from the tail); False when out of
        range (nothing changed, except a conversion to quicklist that Redis does first)."""

    def insert(self, pivot: bytes, value: bytes, after: bool) -> int:
        """LINSERT: insert next to the first element equal to ``pivot`` from the head.
        Returns the new length or -1 when there is no such element."""

    def remove(self, count: int, value: bytes) -> int:
        """LREM: remove the first ``count`` elements equal to ``value`` from the head
        (``count`` < 0: from the tail; 0: all). Returns how many were removed."""

    def trim(self, ltrim: int, rtrim: int) -> None:
        """Remove ``ltrim`` elements at the head and ``rtrim`` at the tail (LTRIM)."""

    def positions(self, value: bytes, rank: int, count: int, maxlen: int) -> list:
        """LPOS: the indexes (from the head) of the elements equal to ``value``, skipping the
        first ``|rank| - 1`` matches, searching from the tail when ``rank`` < 0, at most
        ``count`` indexes (0: all), looking at no more than ``maxlen`` elements (0: all)."""

    def try_convert(self, growing: Optional[bool]) -> None:
        """listTypeTryConversion after building a list whole (``None``), or for growing
        (True) / shrinking (False)."""


# (set values: issue #3, sets)
@runtime_checkable
class SetValue(Protocol):
    """A set ("set" in TYPE): distinct members (``bytes``), as Redis 7.2.4's t_set.c.

    Encodings (``encoding()``): "intset" (every member a canonical 64-bit integer, Redis's
    string2ll), "listpack" or "hashtable", chosen and converted exactly as setTypeCreate,
    setTypeMaybeConvert and setTypeAddAux do, with the thresholds read from
    :data:`engines.limits.limits` at each decision: an intset becomes a listpack when a
    non-integer is added while it has fewer than set-max-listpack-entries members and both the
    new member and the longest integer fit set-max-listpack-value, otherwise a hashtable; it
    becomes a hashtable beyond set-max-intset-entries members (capped at 2**30); a listpack
    becomes a hashtable when a new member would exceed set-max-listpack-entries or
    set-max-listpack-value. Removing members never converts.

    Order: iteration (and every reply built from it) follows Redis: ascending integers for an
    intset, insertion order for a listpack (an intset converted to a listpack keeps its
    ascending order first), unspecified for a hashtable.

    A live value (from ``Keyspace.get_collection``) writes through at once. A value left empty
    must be deleted from the keyspace by the caller (the commands do). Standalone values (from
    :meth:`new_empty`) belong to no key until stored with ``Keyspace.set``.

    Randomness: every random choice is uniform (each member, or each subset of the requested
    size, equally likely), independently of the encoding.
    """

    TYPE_NAME: str  # "set"

    def __len__(self) -> int:
        """The number of members (SCARD)."""

    def encoding(self) -> str:
        """ "intset", "listpack" or "hashtable" (OBJECT ENCODING)."""

    def copy(self) -> "SetValue":
        """An independent standalone value with the same members and encoding (COPY)."""

    def memory_usage(self) -> int:
        """An estimate of the bytes used (MEMORY USAGE)."""

    def __contains__(self, member: bytes) -> bool:
        """SISMEMBER."""

    def __iter__(self) -> Iterator[bytes]:
        """Every member once, in the order described above. The set must not be modified
        while the iterator is in use."""

    def add(self, members: list[bytes], hint: bool = True) -> int:
        """SADD: add each member that is not present; returns how many were added.

        An empty (just created) set first picks its encoding from the first member and
        ``len(members)`` (setTypeCreate); with ``hint`` an existing set first converts when
        ``len(members)`` exceeds its encoding's entry limit (setTypeMaybeConvert), whether or
        not the members are new. ``hint=False`` (SMOVE into an existing set) skips that."""

    def add_one(self, member: bytes) -> bool:
        """Add one member with no size hint (setTypeAddAux); True if it was new."""

    def remove(self, members: list[bytes]) -> int:
        """SREM: remove the members present; returns how many were removed."""

    def discard(self, member: bytes) -> bool:
        """Remove one member; True if it was present."""

    def random_member(self) -> bytes:
        """One uniformly chosen member (the set is not empty)."""

    def random_members(self, count: int) -> list[bytes]:
        """``count`` independent uniform draws, with repetition (SRANDMEMBER with a
        negative count); the set is not empty."""

    def random_distinct(self, count: int) -> list[bytes]:
        """``count`` distinct members, every subset equally likely (``0 < count < len``).
        The order: listpack order for a listpack (as Redis), otherwise unspecified."""

    def pop_random(self) -> bytes:
        """Remove and return one uniformly chosen member (the set is not empty)."""

    def pop_random_n(self, count: int) -> list[bytes]:
        """Remove and return ``count`` distinct uniformly chosen members (``0 < count <
        len``), as spopWithCountCommand: when the members left are few (``remaining * 5 <=
        count``) the survivors are moved into a new representation, which may change the
        encoding exactly as Redis's rebuilt set does (a hashtable source gives a listpack
        while the survivors fit one, a listpack gives a listpack, an intset an intset)."""

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SSCAN step: ``(next_cursor, members)``. An intset or listpack returns every
        member with cursor 0 whatever the cursor; a hashtable follows the guarantees of
        ``Keyspace.scan`` (every member present for a whole iteration returned at least
        once, about ``count`` members per call, no server-side state)."""

    def new_empty(self, encoding: str) -> "SetValue":
        """A new standalone, empty set of this engine with the given encoding ("intset" or
        "listpack"; Redis's createIntsetObject / createSetListpackObject), filled with
        :meth:`add_one` / :meth:`discard` by the set-algebra commands and then stored with
        ``Keyspace.set``."""

    def maybe_to_intset(self) -> None:
        """SINTERSTORE's maybeConvertToIntset: the caller knows every member is an integer;
        becomes an intset unless it has more members than an intset may hold."""


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


# (stream values: issue #4, streams)
@runtime_checkable
class StreamValue(Protocol):
    """A stream (Redis 7.2.4 t_stream.c). IDs are ints ``ms << 64 | seq`` (0 is 0-0).

    Attributes (read and written by the commands): ``last_id`` (the last ID ever added, or
    set by XSETID), ``first_id`` (the first live entry's ID, 0 when empty),
    ``entries_added`` (count of all entries ever added), ``max_deleted_entry_id`` (the
    largest ID removed by XDEL), ``groups`` (a dict name -> consumer-group object; the group
    objects have their own ``copy()``, which :meth:`copy` uses).

    Entries are ``(id, fields)`` with ``fields`` the flat list ``[field, value, ...]`` of
    bytes, in the order given to XADD. Deleted entries are never returned. The stream is not
    deleted when it becomes empty."""

    TYPE_NAME: str
    last_id: int
    first_id: int
    entries_added: int
    max_deleted_entry_id: int
    groups: dict

    def __len__(self) -> int:
        """The number of live entries."""

    def encoding(self) -> str:
        """Always "stream"."""

    def copy(self) -> "StreamValue": ...

    def memory_usage(self) -> int: ...

    def node_count(self) -> int:
        """How many storage nodes (Redis's rax keys / listpacks) hold the entries."""

    def append(self, ident: int, fields: list) -> None:
        """Add an entry; the caller guarantees ``ident > last_id``. Sets ``last_id``,
        bumps ``entries_added`` and sets ``first_id`` if the stream was empty."""

    def get(self, ident: int):
        """The fields of the live entry ``ident``, or None."""

    def __contains__(self, ident: int) -> bool:
        """Whether ``ident`` is a live entry."""

    def delete(self, ident: int) -> bool:
        """XDEL one ID: False if not a live entry. Updates ``max_deleted_entry_id`` and
        ``first_id`` (0 when the stream becomes empty)."""

    def trim(self, maxlen: int = -1, minid: int = -1, approx: bool = False,
             limit: int = 0) -> int:
        """streamTrim by length (``maxlen`` >= 0) or by ``minid``: whole nodes first; with
        ``approx`` only whole nodes; ``limit`` (0: none) caps the entries removed. Returns the
        count removed; updates ``first_id`` (not ``max_deleted_entry_id``)."""

    def last_valid_id(self) -> int:
        """The last live entry's ID (streamLastValidID), 0 when empty."""

    def edge_id(self, first: bool = True, skip_tombstones: bool = True) -> int:
        """streamGetEdgeID: the first (or last) entry's ID, deleted entries that are still
        stored (Redis's tombstones) included unless ``skip_tombstones``; with none, the
        maximal ID for ``first``, 0 otherwise."""

    def first_entry(self):
        """The first live ``(id, fields)`` or None."""

    def last_entry(self):
        """The last live ``(id, fields)`` or None."""

    def range(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list:
        """Live entries with ``start <= id <= end`` in ID order (descending with
        ``reverse``), at most ``count`` of them (0: all)."""

    def entries(self) -> Iterator[tuple]:
        """Every live entry in ID order."""


# -- consumer-group values (issue #4, consumer groups) -------------------------------------------


@runtime_checkable
class ConsumerGroup(Protocol):
    """One consumer group of a stream (Redis's ``streamCG``), the values of the stream value's
    ``groups`` mapping (group name -> group). Element-level: a disk engine can keep one record
    per PEL entry and per consumer.

    IDs are ints ``ms << 64 | seq`` (as in the stream value). Times are
    absolute Unix milliseconds (the caller passes the command's time snapshot).

    * ``last_id``: the last delivered ID; ``entries_read``: the logical read counter of
      ``last_id`` (-1 when unknown, SCG_INVALID_ENTRIES_READ). Both are plain attributes the
      commands assign.
    * The PEL maps an entry ID to ``(consumer name, last delivery time, delivery count)``;
      every PEL entry belongs to exactly one existing consumer, and each consumer's own PEL is
      the subset of the group PEL it owns (kept in step by :meth:`pel_put` / :meth:`pel_delete`
      / :meth:`consumer_delete`).
    * Consumers are iterated in bytes order of their names (rax order).
    """

    last_id: int
    entries_read: int

    def copy(self) -> "ConsumerGroup":
        """An independent group with the same state (the stream's copy() calls it)."""

    def memory_usage(self) -> int: ...

    def pel_len(self) -> int:
        """Entries in the group PEL."""

    def pel_get(self, id_: int) -> Optional[tuple]:
        """``(consumer, delivery_time, delivery_count)`` of a pending ID, or None."""

    def pel_put(self, id_: int, consumer: bytes, time: int, count: int) -> None:
        """Create or update the PEL entry of ``id_``, owned by ``consumer`` (which exists);
        an entry owned by another consumer moves to this one's PEL."""

    def pel_delete(self, id_: int) -> bool:
        """Remove a pending ID from the group and its owner; True if it was pending."""

    def pel_first(self) -> Optional[int]:
        """The smallest pending ID, or None."""

    def pel_last(self) -> Optional[int]:
        """The greatest pending ID, or None."""

    def pel_range(self, start: int, end: Optional[int] = None,
                  consumer: Optional[bytes] = None) -> Iterator[tuple]:
        """``(id, consumer, delivery_time, delivery_count)`` for the pending IDs with
        ``start <= id <= end`` (``end`` None: no bound), ascending, from the group PEL or from
        ``consumer``'s PEL (nothing if it does not exist). The caller may modify the PEL
        between steps (entries already passed are not revisited)."""

    def consumer_count(self) -> int: ...

    def consumer_names(self) -> list:
        """Every consumer name, in bytes order."""

    def consumer_get(self, name: bytes) -> Optional[tuple]:
        """``(seen_time, active_time, pending count)`` (active_time -1: never active), or
        None if there is no such consumer."""

    def consumer_create(self, name: bytes, now: int) -> bool:
        """Add a consumer (seen now, never active, empty PEL); False if it exists."""

    def consumer_delete(self, name: bytes) -> Optional[int]:
        """Remove a consumer and its pending entries (from the group PEL too); returns how
        many it had, or None if there is no such consumer."""

    def consumer_set_times(self, name: bytes, seen: Optional[int] = None,
                           active: Optional[int] = None) -> None:
        """Update the seen and/or active time of an existing consumer."""
