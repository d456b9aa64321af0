"""COMMAND and its subcommands: COUNT, INFO, LIST, DOCS, GETKEYS, GETKEYSANDFLAGS, HELP.

Replies have Redis 7.2's exact shapes (server.c addReplyCommandInfo / addReplyCommandDocs /
addReplyCommandKeySpecs): flags and ACL categories as status replies in a set, key specs as
maps, subcommands nested. Only the commands valkeyd implements are listed. Key specs, argument
trees, since, group, tips and doc flags come from ``valkeyd/data/command-docs.json`` (generated
by ``tools/gen_command_docs.py`` from Redis 7.2.4's table); summary, complexity and history are
documentation prose that file does not carry, so COMMAND DOCS omits them (Redis omits each of
them too when a command lacks it, as for module commands).

The per-command replies are built once per protocol and cached as pre-encoded RESP.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import errors, glob
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import Raw, Simple
from .registry import TABLE, all_commands, command, unique_subcommands

DOCS: dict = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "command-docs.json").read_text())

# Flags Redis never shows in COMMAND INFO (addReplyFlagsForCommand hides them on purpose).
HIDDEN_FLAGS = frozenset(("may_replicate", "sentinel", "only_sentinel", "protected",
                          "touches_arbitrary_keys"))
EMPTY_DOC = {"group": "server", "tips": [], "key_specs": [], "arguments": []}

# Commands that have a getkeys procedure in Redis 7.2.4 (the fallback when key specs cannot
# answer: unknown/incomplete specs, variable flags, invalid numkeys ...).
GETKEYS_PROC = frozenset((
    "bitfield", "migrate", "sort", "sort_ro", "georadius", "georadiusbymember", "blmpop",
    "lmpop", "eval", "evalsha", "evalsha_ro", "eval_ro", "fcall", "fcall_ro", "sintercard",
    "bzmpop", "zdiff", "zdiffstore", "zinter", "zintercard", "zinterstore", "zmpop", "zunion",
    "zunionstore", "xread", "xreadgroup", "set", "command|getkeys",
    "command|getkeysandflags",
))


class OSet(tuple):
    """An ordered set reply (``~`` in RESP3, array in RESP2)."""

    __slots__ = ()


def _enc(v, p3: bool, out: list) -> None:
    t = type(v)
    if t is bytes:
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    elif t is str:
        b = v.encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif t is Simple:
        out.append(b"+%b\r\n" % v)
    elif t is OSet:
        out.append(b"%s%d\r\n" % (b"~" if p3 else b"*", len(v)))
        for x in v:
            _enc(x, p3, out)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(v))
        for x in v:
            _enc(x, p3, out)
    elif t is dict:
        out.append(b"%%%d\r\n" % len(v) if p3 else b"*%d\r\n" % (2 * len(v)))
        for k, x in v.items():
            _enc(k, p3, out)
            _enc(x, p3, out)
    elif t is Raw:
        out.append(v)
    else:
        raise TypeError(t)


def _raw(v, proto: int) -> Raw:
    out: list = []
    _enc(v, proto == 3, out)
    return Raw(b"".join(out))


def doc(cmd) -> dict:
    return DOCS.get(cmd.fullname, EMPTY_DOC)


def subcommands(cmd) -> list:
    return sorted(unique_subcommands(cmd), key=lambda s: s.name)


def commands_sorted() -> list:
    return sorted(all_commands(), key=lambda c: c.name)


# -- COMMAND INFO ---------------------------------------------------------------------------------
def _key_spec_value(ks: dict) -> dict:
    return {
        "flags": OSet(Simple(f.encode()) for f in ks["flags"]),
        "begin_search": {"type": ks["begin_search"]["type"],
                         "spec": dict(ks["begin_search"]["spec"])},
        "find_keys": {"type": ks["find_keys"]["type"], "spec": dict(ks["find_keys"]["spec"])},
    }


def info_value(cmd) -> list:
    d = doc(cmd)
    subs = subcommands(cmd) if cmd.subcommands is not None else None
    return [
        cmd.fullname,
        cmd.arity,
        OSet(Simple(f.encode()) for f in cmd.flags if f not in HIDDEN_FLAGS),
        cmd.first,
        cmd.last,
        cmd.step,
        OSet(Simple(b"@" + a.encode()) for a in cmd.acl),
        OSet(d["tips"]),
        OSet(_key_spec_value(ks) for ks in d["key_specs"]),
        [info_value(s) for s in subs] if subs is not None else OSet(),
    ]


_info_cache: dict = {}


def info_reply(cmd, proto: int) -> Raw:
    key = (id(cmd), proto)
    r = _info_cache.get(key)
    if r is None:
        r = _info_cache[key] = _raw(info_value(cmd), proto)
    return r


# -- COMMAND DOCS ---------------------------------------------------------------------------------
def _arg_value(a: dict) -> dict:
    m = {}
    for k, v in a.items():
        if k == "flags":
            m[k] = OSet(Simple(f.encode()) for f in v)
        elif k == "arguments":
            m[k] = [_arg_value(x) for x in v]
        else:
            m[k] = v
    return m


def docs_value(cmd) -> dict:
    d = doc(cmd)
    m = {}
    if d.get("since"):
        m["since"] = d["since"]
    # The command json files say "sorted_set"; the server prints "sorted-set" (commands.def).
    m["group"] = "sorted-set" if d["group"] == "sorted_set" else d["group"]
    if d.get("doc_flags"):
        m["doc_flags"] = OSet(Simple(f.encode()) for f in d["doc_flags"])
    if d.get("deprecated_since"):
        m["deprecated_since"] = d["deprecated_since"]
    if d.get("replaced_by"):
        m["replaced_by"] = d["replaced_by"]
    if d["arguments"]:
        m["arguments"] = [_arg_value(a) for a in d["arguments"]]
    if cmd.subcommands is not None:
        m["subcommands"] = {s.fullname: docs_value(s) for s in subcommands(cmd)}
    return m


_docs_cache: dict = {}


def docs_reply(cmd, proto: int) -> Raw:
    key = (id(cmd), proto)
    r = _docs_cache.get(key)
    if r is None:
        r = _docs_cache[key] = _raw(docs_value(cmd), proto)
    return r


# -- lookups --------------------------------------------------------------------------------------
def lookup_by_name(name: bytes):
    """lookupCommandBySds: ``get`` or ``config|get`` (exactly one level), any case."""
    parts = name.split(b"|")
    if len(parts) > 2:
        return None
    base = TABLE.get(parts[0]) or TABLE.get(parts[0].lower())
    if base is None:
        return None
    if len(parts) == 1:
        return base
    if base.subcommands is None:
        return None
    return base.subcommands.get(parts[1]) or base.subcommands.get(parts[1].lower())


def lookup_argv(argv):
    """lookupCommand (not strict): the command a request would run, or None."""
    base = TABLE.get(argv[0]) or TABLE.get(argv[0].lower())
    if base is None or len(argv) == 1 or base.subcommands is None:
        return base
    return base.subcommands.get(argv[1]) or base.subcommands.get(argv[1].lower())


# -- key extraction (getKeysFromCommandWithSpecs) -------------------------------------------------
def _keys_from_specs(cmd, specs, argv):
    """getKeysUsingKeySpecs: [(pos, flags)] or None when a spec cannot answer."""
    argc = len(argv)
    res = []
    for ks in specs:
        if "not_key" in ks["flags"]:
            continue
        bs = ks["begin_search"]
        if bs["type"] == "index":
            first = bs["spec"]["index"]
        elif bs["type"] == "keyword":
            kw = bs["spec"]["keyword"].encode().lower()
            sf = bs["spec"]["startfrom"]
            start = sf if sf > 0 else argc + sf
            end = argc - 1 if sf > 0 else 1
            first = 0
            i = start
            while True:
                if i >= argc or i < 1:
                    break
                if argv[i].lower() == kw:
                    first = i + 1
                    break
                if i == end:
                    break
                i = i + 1 if start <= end else i - 1
            if not first:
                continue
        else:
            return None
        fk = ks["find_keys"]
        sp = fk["spec"]
        if fk["type"] == "range":
            step = sp["keystep"]
            if sp["lastkey"] >= 0:
                last = first + sp["lastkey"]
            elif not sp["limit"]:
                last = argc + sp["lastkey"]
            else:
                last = first + ((argc - first) // sp["limit"] + sp["lastkey"])
        elif fk["type"] == "keynum":
            step = sp["keystep"]
            idx = first + sp["keynumidx"]
            if idx >= argc:
                return None
            n = string2ll(argv[idx])
            if n is None or n < 0:
                return None
            first += sp["firstkey"]
            last = first + n - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        for i in range(first, last + 1, step):
            res.append((i, ks["flags"]))
        if "incomplete" in ks["flags"]:
            return None
    return res


def _fallback_flags(cmd, specs, argv, pos):
    name = cmd.fullname
    if name == "set":
        if any(a.lower() == b"get" for a in argv[3:]):
            return ["RW", "access", "update"]
        return ["OW", "update"]
    if name == "bitfield":
        readonly = True
        i, argc = 2, len(argv)
        while i < argc:
            rem = argc - i - 1
            a = argv[i].lower()
            if a == b"get" and rem >= 2:
                i += 3
            elif a in (b"set", b"incrby") and rem >= 3:
                readonly = False
                break
            elif a == b"overflow" and rem >= 1:
                i += 2
            else:
                readonly = False
                break
        return ["RO", "access"] if readonly else ["RW", "access", "update"]
    for ks in specs:
        if ks["begin_search"]["type"] == "index" and ks["begin_search"]["spec"]["index"] == pos:
            return [f for f in ks["flags"] if f not in ("incomplete", "variable_flags")]
    for ks in reversed(specs):
        if ks["begin_search"]["type"] != "index":
            return [f for f in ks["flags"] if f not in ("incomplete", "variable_flags")]
    return [f for f in specs[-1]["flags"] if f not in ("incomplete", "variable_flags")] \
        if specs else []


def keys_and_flags(cmd, argv):
    """[(position, [flag names])] for a command line, or None for "invalid arguments"."""
    specs = doc(cmd)["key_specs"]
    has_keyspec = any("not_key" not in ks["flags"] for ks in specs)
    has_varflags = any("variable_flags" in ks["flags"] for ks in specs)
    if has_keyspec and not has_varflags:
        r = _keys_from_specs(cmd, specs, argv)
        if r is not None:
            return r
    if cmd.fullname in GETKEYS_PROC:
        return getkeys_proc(cmd, argv)
    return []


def getkeys_proc(cmd, argv):
    """The command's own key-finding procedure (Redis's ``getkeys_proc``, for the commands in
    GETKEYS_PROC): [(position, [flag names])]. Client-side caching uses it as Redis's
    getKeysFromCommand does."""
    if cmd.fullname in ("command|getkeys", "command|getkeysandflags"):
        inner = lookup_argv(argv[2:]) if len(argv) > 2 else None
        if inner is None or not _has_keys(inner) or not inner.arity_ok(len(argv) - 2):
            return []
        return [(p + 2, f) for p, f in keys_and_flags(inner, argv[2:]) or ()]
    if cmd.fullname == "sort":
        return _sort_keys(argv)
    if cmd.fullname == "migrate":
        return _migrate_keys(argv)
    specs = doc(cmd)["key_specs"]
    kn = [ks for ks in specs if ks["find_keys"]["type"] == "keynum"
          and ks["begin_search"]["type"] == "index"]
    if kn:
        return _generic_keynum(specs, kn[0], argv)
    return [(p, _fallback_flags(cmd, specs, argv, p)) for p in cmd.get_keys(argv)]


def _sort_keys(argv):
    """sortGetKeys: the sorted key, then the last STORE destination. Unknown words are
    taken as options without arguments; LIMIT takes two, GET and BY one."""
    keys = [(1, ["RO", "access"])]
    store = None
    i, argc = 2, len(argv)
    while i < argc:
        a = argv[i].lower()
        if a == b"limit":
            i += 2
        elif a in (b"get", b"by"):
            i += 1
        elif a == b"store" and i + 1 < argc:
            store = i + 1   # the word after STORE is examined as an option too
        i += 1
    if store is not None:
        keys.append((store, ["OW", "update"]))
    return keys


def _migrate_keys(argv):
    """migrateGetKeys: the key argument, or the keys after KEYS when it is empty."""
    first, num = 3, 1
    argc = len(argv)
    if argc > 6:
        i = 6
        while i < argc:
            a = argv[i].lower()
            if a == b"keys":
                if argv[3]:
                    num = 0
                else:
                    first = i + 1
                    num = argc - first
                break
            if a == b"auth":
                i += 1
            elif a == b"auth2":
                i += 2
            i += 1
    return [(first + i, ["RW", "access", "delete"]) for i in range(num)]


def _atoi(b: bytes) -> int:
    """C atoi: optional sign and leading digits, 0 when none."""
    b = b.lstrip(b" \t\n\r\v\f")
    i = 1 if b[:1] in (b"-", b"+") else 0
    j = i
    while j < len(b) and 48 <= b[j] <= 57:
        j += 1
    n = int(b[i:j]) if j > i else 0
    return -n if b[:1] == b"-" else n


def _generic_keynum(specs, ks, argv):
    """genericGetKeys, Redis's getkeys procedure for numkeys commands: the keys (with no
    flags), then the destination key of the *STORE variants."""
    pos = ks["begin_search"]["spec"]["index"]
    sp = ks["find_keys"]["spec"]
    count_ofs = pos + sp["keynumidx"]
    first = pos + sp["firstkey"]
    step = sp["keystep"]
    if count_ofs >= len(argv):
        return []
    num = _atoi(argv[count_ofs])
    if num < 1 or num > (len(argv) - first) // step:
        return []
    keys = [(first + i * step, []) for i in range(num)]
    store = [s for s in specs if s["begin_search"]["type"] == "index"
             and s["find_keys"]["type"] == "range" and s is not ks]
    if store:
        keys.append((store[0]["begin_search"]["spec"]["index"], []))
    return keys


def _has_keys(cmd) -> bool:
    """doesCommandHaveKeys."""
    if cmd.fullname in GETKEYS_PROC:
        return True
    return any("not_key" not in ks["flags"] for ks in doc(cmd)["key_specs"])


def _getkeys(c, argv, with_flags: bool):
    target = argv[2:]
    cmd = lookup_argv(target)
    if cmd is None:
        raise ErrorReply("ERR Invalid command specified")
    return getkeys_reply(cmd, target, with_flags, c.resp)


def getkeys_reply(cmd, target, with_flags: bool, proto: int):
    if not _has_keys(cmd):
        raise ErrorReply("ERR The command has no key arguments")
    n = len(target)
    if (cmd.arity > 0 and cmd.arity != n) or n < -cmd.arity:
        raise ErrorReply("ERR Invalid number of arguments specified for command")
    keys = keys_and_flags(cmd, target)
    if not keys:
        if "no_mandatory_keys" in cmd.flags:
            return []
        raise ErrorReply("ERR Invalid arguments specified for command")
    if not with_flags:
        return [target[p] for p, _ in keys]
    return [[target[p], _raw(OSet(Simple(f.encode()) for f in fl), proto)] for p, fl in keys]


# -- the commands ---------------------------------------------------------------------------------
@command("command", -1, "loading stale sentinel", "connection")
def command_(c, argv):
    p = c.resp
    return [info_reply(cmd, p) for cmd in commands_sorted()]


TABLE[b"command"].subcommands = {}


@command("command|count", 2, "loading stale sentinel", "connection")
def command_count(c, argv):
    return sum(1 for _ in all_commands())


@command("command|info", -2, "loading stale sentinel", "connection")
def command_info(c, argv):
    p = c.resp
    if len(argv) == 2:
        return [info_reply(cmd, p) for cmd in commands_sorted()]
    out = []
    for name in argv[2:]:
        cmd = lookup_by_name(name)
        out.append(None if cmd is None else info_reply(cmd, p))
    return out


@command("command|docs", -2, "loading stale sentinel", "connection")
def command_docs(c, argv):
    p = c.resp
    if len(argv) == 2:
        return {cmd.fullname: docs_reply(cmd, p) for cmd in commands_sorted()}
    out = {}
    for name in argv[2:]:
        cmd = lookup_by_name(name)
        if cmd is not None:
            out[cmd.fullname] = docs_reply(cmd, p)
    return out


def _list_names(pred) -> list:
    out = []
    for cmd in commands_sorted():
        if pred(cmd):
            out.append(cmd.fullname)
        if cmd.subcommands is not None:
            for s in subcommands(cmd):
                if pred(s):
                    out.append(s.fullname)
    return out


@command("command|list", -2, "loading stale sentinel", "connection")
def command_list(c, argv):
    pred = None
    i = 2
    while i < len(argv):
        if argv[i].lower() == b"filterby" and len(argv) - 1 - i == 2:
            kind = argv[i + 1].lower()
            arg = argv[i + 2]
            if kind == b"module":
                pred = _no_module
            elif kind == b"aclcat":
                cat = arg.decode("utf-8", "replace").lower()
                pred = (lambda cmd, cat=cat: cat in cmd.acl)
            elif kind == b"pattern":
                pred = (lambda cmd, pat=arg: glob.match(pat, cmd.fullname.encode(), True))
            else:
                raise ErrorReply(errors.SYNTAX)
            i += 3
        else:
            raise ErrorReply(errors.SYNTAX)
    return _list_names(pred or _all)


def _all(cmd):
    return True


def _no_module(cmd):
    return False  # valkeyd loads no modules


@command("command|getkeys", -3, "loading stale sentinel", "connection")
def command_getkeys(c, argv):
    return _getkeys(c, argv, False)


@command("command|getkeysandflags", -3, "loading stale sentinel", "connection")
def command_getkeysandflags(c, argv):
    return _getkeys(c, argv, True)


HELP = [Simple(s.encode()) for s in (
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Print this help.",
)]


@command("command|help", 2, "loading stale sentinel", "connection")
def command_help(c, argv):
    return HELP
