"""Blocking sorted-set pops (Redis 7.2.4 ``t_zset.c`` blockingGenericZpopCommand):
BZPOPMIN BZPOPMAX BZMPOP.

The first of the keys (in argument order) that holds a sorted set is popped exactly as
ZPOPMIN/ZPOPMAX/ZMPOP do (the pop core of :mod:`valkeyd.commands.zsets`); a key of another
type stops the search with WRONGTYPE. When none has data the client blocks on every key
(:mod:`valkeyd.blocking`, type "zset") and the command runs again from the start when one
becomes ready; the timeout reply is the null array (RESP3 ``_``). Inside MULTI/EXEC or a
script the null array is returned at once.

Replies: BZPOPMIN/BZPOPMAX ``[key, member, score]`` (the score a bulk string in RESP2, a
double in RESP3); BZMPOP ``[key, [[member, score], ...]]``. Served, they propagate as
``ZPOPMIN|ZPOPMAX key`` (BZPOPMIN/BZPOPMAX) or ``ZPOPMIN|ZPOPMAX key <popped>`` (BZMPOP).

Argument checks come in Redis's order: BZMPOP parses numkeys, MIN|MAX and COUNT first,
then the timeout; BZPOPMIN/BZPOPMAX parse the timeout first.
"""
from __future__ import annotations

from ..blocking import deny_blocking, install, parse_timeout
from ..resp import NULL_ARRAY
from .registry import command
from .zsets import parse_zmpop, zpop_generic

_ZSET = "zset"


def _bzpop(c, argv, keys, maximum: bool, deadline: int, count: int, nested: bool):
    db = c.db
    for key in keys:
        z = db.get_collection(key, _ZSET)      # lookupKeyWrite; WRONGTYPE stops the search
        if z is None or not len(z):
            continue
        return zpop_generic(c, [key], maximum, count, nested, True, nested, rewrite=True)
    if deny_blocking(c):
        return NULL_ARRAY
    return install(c.server).block(c, argv, _ZSET, keys, deadline)


@command("bzpopmin", -3, "write fast blocking", "sortedset", keys=(1, -2, 1))
def bzpopmin(c, argv):
    deadline = parse_timeout(c, argv[-1])
    return _bzpop(c, argv, argv[1:-1], False, deadline, -1, False)


@command("bzpopmax", -3, "write fast blocking", "sortedset", keys=(1, -2, 1))
def bzpopmax(c, argv):
    deadline = parse_timeout(c, argv[-1])
    return _bzpop(c, argv, argv[1:-1], True, deadline, -1, False)


@command("bzmpop", -5, "write blocking", "sortedset", keynum=(2, 1, 1))
def bzmpop(c, argv):
    keys, maximum, count = parse_zmpop(argv, 2)
    deadline = parse_timeout(c, argv[1])
    return _bzpop(c, argv, keys, maximum, deadline, count, True)
