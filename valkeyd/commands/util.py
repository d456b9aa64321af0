"""Helpers shared by the command families: integer arguments and read-lookup statistics."""
from __future__ import annotations

from .. import errors
from ..errors import ErrorReply
from ..protocol import string2ll


def get_int(b, msg: str = errors.NOT_INTEGER) -> int:
    """A signed 64-bit integer argument, or ``msg`` as the error."""
    v = string2ll(b)
    if v is None:
        raise ErrorReply(msg)
    return v


def count_lookup(c, found, key=None) -> None:
    """A read lookup (Redis's lookupKeyRead): INFO keyspace_hits / keyspace_misses, and on
    a miss of ``key`` the ``keymiss`` keyspace event (only while a notification hook is
    installed, see valkeyd/pubsub.py; OBJECT's lookups pass no key: LOOKUP_NONOTIFY)."""
    srv = c.server
    if found:
        srv.stats.keyspace_hits += 1
    else:
        srv.stats.keyspace_misses += 1
        if key is not None and srv.notify_hook is not None:
            srv.notify_hook("m", "keymiss", key, c.db.id)


def read_string(c, key):
    """``Keyspace.get_string`` as a counted read lookup (a key of another type is a hit
    before its WRONGTYPE error, as in Redis)."""
    try:
        v = c.db.get_string(key)
    except ErrorReply:
        c.server.stats.keyspace_hits += 1
        raise
    count_lookup(c, v is not None, key)
    return v


def count_lookup_n(c, hits: int, misses: int) -> None:
    """Several read lookups at once (EXISTS, TOUCH, MGET; they send their ``keymiss`` events
    themselves, key by key, with :func:`keymiss`)."""
    st = c.server.stats
    st.keyspace_hits += hits
    st.keyspace_misses += misses


def keymiss(c, key) -> None:
    """The ``keymiss`` keyspace event for a read lookup that missed ``key``."""
    hook = c.server.notify_hook
    if hook is not None:
        hook("m", "keymiss", key, c.db.id)
