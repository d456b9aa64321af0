"""Keyspace commands (first cut)."""
from __future__ import annotations

from ..resp import OK
from .registry import command


@command("flushall", -1, "write", "keyspace dangerous")
def flushall(c, argv):
    srv = c.server
    n = srv.engine.flushall()
    srv.dirty += n + 1
    return OK
