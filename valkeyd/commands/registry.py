"""The command table.

Every command is declared once, next to its handler::

    @command("set", -3, "write denyoom", "string", keys=(1, 1, 1))
    def set_(c, argv): ...

``arity`` follows Redis (negative means "at least"), ``flags`` and ``acl`` are the explicit
flags and ACL categories of Redis's command table (the implicit categories such as @write or
@slow are derived here exactly as Redis derives them), ``keys`` is the legacy
``(first, last, step)`` key range and ``keynum`` describes a numkeys argument
``(index of numkeys, offset of first key after it, step)``. Commands whose keys follow a
keyword give ``getkeys``. A name with a ``|`` declares a subcommand of a container command.

``tests/test_command_table.py`` checks every declaration against Redis 7.2.4's own table.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

# Order in which Redis prints flags in COMMAND INFO.
FLAG_ORDER = (
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "may_replicate", "no_mandatory_keys", "protected", "no_async_loading", "no_multi",
    "movablekeys", "allow_busy", "touches_arbitrary_keys",
)
# Order of ACL categories (Redis's ACLCommandCategories table).
ACL_ORDER = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
)


class Command:
    __slots__ = (
        "name", "fullname", "arity", "flags", "acl", "first", "last", "step", "keynum",
        "getkeys_fn", "handler", "subcommands", "parent", "group",
        "calls", "usec", "rejected_calls", "failed_calls", "hist",
        "write", "readonly", "denyoom", "admin", "noauth", "noscript", "loading", "stale",
        "fast", "nomulti", "pubsub", "blocking", "may_replicate", "skip_monitor",
        "skip_slowlog", "allow_busy", "protected", "movablekeys",
    )

    def __init__(self, name, arity, flags, acl, keys, keynum, getkeys, handler, parent=None):
        self.name = name
        self.parent = parent
        self.fullname = f"{parent.name}|{name}" if parent else name
        self.arity = arity
        fl = [f.lower() for f in flags.split()]
        self.movablekeys = bool(keynum or getkeys)
        if self.movablekeys and "movablekeys" not in fl:
            fl.append("movablekeys")
        self.flags = tuple(f for f in FLAG_ORDER if f in fl)
        unknown = set(fl) - set(FLAG_ORDER) - {"sentinel", "only_sentinel"}
        if unknown:
            raise ValueError(f"{self.fullname}: unknown flags {unknown}")
        cats = {a.lower().lstrip("@") for a in acl.split()}
        if "write" in fl:
            cats.add("write")
        if "readonly" in fl and "scripting" not in cats:
            cats.add("read")
        if "admin" in fl:
            cats |= {"admin", "dangerous"}
        if "pubsub" in fl:
            cats.add("pubsub")
        if "fast" in fl:
            cats.add("fast")
        if "blocking" in fl:
            cats.add("blocking")
        if "fast" not in cats:
            cats.add("slow")
        unknown = cats - set(ACL_ORDER)
        if unknown:
            raise ValueError(f"{self.fullname}: unknown ACL categories {unknown}")
        self.acl = tuple(a for a in ACL_ORDER if a in cats)
        self.first, self.last, self.step = keys or (0, 0, 0)
        self.keynum = keynum
        self.getkeys_fn = getkeys
        self.handler = handler
        self.subcommands: dict[bytes, Command] | None = None
        self.group = None
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0
        self.hist = defaultdict(int)   # microseconds -> calls (INFO latencystats)
        for f in ("write", "readonly", "denyoom", "admin", "noscript", "loading", "stale", "fast",
                  "pubsub", "blocking", "may_replicate", "skip_monitor", "skip_slowlog",
                  "allow_busy", "protected"):
            setattr(self, f, f in fl)
        self.noauth = "no_auth" in fl
        self.nomulti = "no_multi" in fl

    def __repr__(self):
        return f"<Command {self.fullname}>"

    def arity_ok(self, argc: int) -> bool:
        a = self.arity
        return argc == a if a > 0 else argc >= -a

    def get_keys(self, argv) -> list[int]:
        """Positions of the key arguments in ``argv`` (as COMMAND GETKEYS reports them)."""
        if self.getkeys_fn is not None:
            return list(self.getkeys_fn(argv))
        if self.keynum is not None:
            idx, off, step = self.keynum
            from ..protocol import string2ll
            n = string2ll(argv[idx]) if idx < len(argv) else None
            if n is None or n <= 0:
                return []
            start = idx + off
            return [i for i in range(start, min(len(argv), start + n * step), step)]
        if not self.first:
            return []
        last = self.last
        if last < 0:
            last = len(argv) + last
        return list(range(self.first, min(last, len(argv) - 1) + 1, self.step or 1))

    def reset_stats(self):
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0
        self.hist.clear()
        for sub in (self.subcommands or {}).values():
            sub.reset_stats()


# name (lower-case bytes) -> Command. Upper-case aliases are added for the common spelling.
TABLE: dict[bytes, Command] = {}


def command(name: str, arity: int, flags: str = "", acl: str = "", *, keys=None, keynum=None,
            getkeys=None) -> Callable:
    """Declare a command (or ``parent|sub`` subcommand) and register its handler."""

    def deco(fn):
        if "|" in name:
            pname, sub = name.split("|", 1)
            parent = TABLE.get(pname.encode())
            if parent is None:
                raise KeyError(f"declare container command {pname!r} before {name!r}")
            cmd = Command(sub, arity, flags, acl, keys, keynum, getkeys, fn, parent)
            parent.subcommands[sub.encode()] = cmd
            parent.subcommands[sub.upper().encode()] = cmd
        else:
            cmd = Command(name, arity, flags, acl, keys, keynum, getkeys, fn)
            cmd.group = getattr(fn, "__module__", "").rsplit(".", 1)[-1]
            TABLE[name.encode()] = cmd
            TABLE[name.upper().encode()] = cmd
        return fn

    return deco


def container(name: str, arity: int = -2, flags: str = "", acl: str = "") -> None:
    """Declare a command that only dispatches to its subcommands (CONFIG, CLIENT ...)."""
    cmd = Command(name, arity, flags, acl, None, None, None, None)
    cmd.subcommands = {}
    TABLE[name.encode()] = cmd
    TABLE[name.upper().encode()] = cmd


def lookup(name) -> Command | None:
    cmd = TABLE.get(name)
    if cmd is None and type(name) is bytes:
        cmd = TABLE.get(name.lower())
    return cmd


def all_commands():
    """Each top-level command once (no case aliases)."""
    seen = set()
    for cmd in TABLE.values():
        if id(cmd) not in seen:
            seen.add(id(cmd))
            yield cmd


def unique_subcommands(cmd: Command):
    seen = set()
    for sub in (cmd.subcommands or {}).values():
        if id(sub) not in seen:
            seen.add(id(sub))
            yield sub
