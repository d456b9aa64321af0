"""String commands (first cut: GET/SET for the skeleton)."""
from __future__ import annotations

from ..resp import OK
from .registry import command


@command("get", 2, "readonly fast", "string", keys=(1, 1, 1))
def get(c, argv):
    return c.db.get_string(argv[1])


@command("set", -3, "write denyoom", "string", keys=(1, 1, 1))
def set_(c, argv):
    key = argv[1]
    c.db.set(key, argv[2])
    c.server.changed(c, key, "$", "set")
    return OK
