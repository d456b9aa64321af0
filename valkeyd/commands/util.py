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


def count_lookup(c, found) -> None:
    """A read lookup (Redis's lookupKeyRead): INFO keyspace_hits / keyspace_misses."""
    st = c.server.stats
    if found:
        st.keyspace_hits += 1
    else:
        st.keyspace_misses += 1


def read_string(c, key):
    """``Keyspace.get_string`` as a counted read lookup (a key of another type is a hit
    before its WRONGTYPE error, as in Redis)."""
    try:
        v = c.db.get_string(key)
    except ErrorReply:
        c.server.stats.keyspace_hits += 1
        raise
    count_lookup(c, v is not None)
    return v


def count_lookup_n(c, hits: int, misses: int) -> None:
    """Several read lookups at once (EXISTS, TOUCH, MGET)."""
    st = c.server.stats
    st.keyspace_hits += hits
    st.keyspace_misses += misses
