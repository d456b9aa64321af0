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

Errors: a typed access to a key holding another type raises
``ErrorReply(errors.WRONGTYPE)``; engines never produce any other reply text.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Optional, Protocol, runtime_checkable


class Clock:
    """Milliseconds since the epoch; ``frozen`` pins the value while a command runs."""

    __slots__ = ("frozen",)

    def __init__(self):
        self.frozen: Optional[int] = None

    def ms(self) -> int:
        f = self.frozen
        return f if f is not None else time.time_ns() // 1_000_000


clock = Clock()

# Type names as TYPE reports them.
STRING, LIST, SET, ZSET, HASH, STREAM = "string", "list", "set", "zset", "hash", "stream"


@runtime_checkable
class Keyspace(Protocol):
    """One logical database (SELECT index).

    Lookups apply lazy expiry: a key whose expiry time has passed is deleted on access (the
    engine then calls ``Engine.on_expired(db_index, key)``) and behaves as missing.
    "Touching" lookups also update the key's access time (OBJECT IDLETIME); ``peek`` does not.
    """

    id: int

    # -- generic -----------------------------------------------------------------------------
    def get(self, key: bytes) -> Any:
        """The value at ``key`` (any type) or None; applies lazy expiry and touches the key."""

    def peek(self, key: bytes) -> Any:
        """Like :meth:`get` without updating the access time."""

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store ``value`` at ``key``, replacing any value of any type. The key's expiry is
        removed unless ``keep_ttl``."""

    def delete(self, key: bytes) -> bool:
        """Remove the key and its expiry. True if it existed (and was not already expired)."""

    def exists(self, key: bytes) -> bool:
        """True if the key is present and not expired (does not touch)."""

    def type_name(self, key: bytes) -> Optional[str]:
        """"string", "list", "set", "zset", "hash", "stream" or None when missing."""

    def encoding(self, key: bytes) -> Optional[str]:
        """The encoding Redis 7.2 would report in OBJECT ENCODING, or None when missing."""

    def idle_seconds(self, key: bytes) -> Optional[int]:
        """Seconds since the key was last touched, or None when missing."""

    def size(self) -> int:
        """Number of keys (may include keys that have expired but were not yet reclaimed,
        as DBSIZE does in Redis)."""

    def expires_count(self) -> int:
        """Number of keys with an expiry (INFO keyspace ``expires=``)."""

    def keys(self) -> Iterator[bytes]:
        """Every key that is not expired, in no particular order."""

    def random_key(self) -> Optional[bytes]:
        """A random key that is not expired, or None when the database is empty."""

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One step of a stateless cursor iteration. Cursor 0 starts and, when returned, ends
        the iteration. Every key present for the whole iteration is returned at least once."""

    def flush(self) -> int:
        """Remove every key; returns how many there were."""

    # -- expiry ------------------------------------------------------------------------------
    def get_expire(self, key: bytes) -> Optional[int]:
        """The absolute expiry time in ms, or None if the key has none (or is missing)."""

    def set_expire(self, key: bytes, when_ms: int) -> None:
        """Set the absolute expiry time of an existing key."""

    def persist(self, key: bytes) -> bool:
        """Remove the key's expiry; True if it had one."""

    def rename(self, src: bytes, dst: bytes) -> None:
        """Move value and expiry from ``src`` to ``dst`` (replacing ``dst``). ``src`` exists."""

    def active_expire(self, budget_keys: int) -> tuple[int, int]:
        """Check up to ``budget_keys`` keys that have an expiry, deleting the expired ones.
        Returns ``(checked, expired)`` so the caller can repeat while many keys were stale."""

    # -- strings -----------------------------------------------------------------------------
    def get_string(self, key: bytes) -> Optional[bytes]:
        """The string at ``key`` (bytes-like) or None; WRONGTYPE for another type."""


@runtime_checkable
class Engine(Protocol):
    """A storage engine: a fixed number of :class:`Keyspace` databases."""

    name: str
    on_expired: Optional[Callable[[int, bytes], None]]

    def db(self, index: int) -> Keyspace:
        """Database ``index`` (0 <= index < databases). The object stays the same for the
        life of the engine; SWAPDB exchanges contents, not objects."""

    @property
    def databases(self) -> int: ...

    def swapdb(self, a: int, b: int) -> None:
        """Exchange the contents of two databases atomically."""

    def flushall(self, lazy: bool = False) -> int:
        """Empty every database; ``lazy`` may reclaim memory in the background."""

    def commit(self) -> None:
        """Called once per event-loop batch: make the batch's writes durable as configured."""

    def snapshot(self) -> Iterator[tuple[int, bytes, Any, Optional[int]]]:
        """A consistent iteration of ``(db, key, value, expire_ms)`` over every live key."""

    def used_memory(self) -> int:
        """An estimate of the bytes the dataset uses."""

    def close(self) -> None:
        """Release every resource; the engine is unusable afterwards."""
