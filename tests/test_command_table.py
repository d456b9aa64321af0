"""Every command valkeyd declares must match Redis 7.2.4's command table.

For each registered command and subcommand: arity, flags, ACL categories (explicit plus the
implicit ones Redis derives, see setImplicitACLCategories) and key positions (the legacy
first/last/step Redis derives from the key specs in populateCommandLegacyRangeSpec, and the
movablekeys flag). The facts come from ``../shared/reference/redis-7.2.4-commands.json``
(or, when that checkout is absent, from the copy in ``valkeyd/data/command-docs.json``).

This is a static check of the declarations (it imports the table; nothing is faked): it is
meant to fail loudly, one test per command, with the exact ``@command(...)`` to write.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import valkeyd.commands  # noqa: E402,F401  (registers every command)
from tools.gen_command_docs import DEFAULT_REFERENCE, convert_key_spec, generate  # noqa: E402
from valkeyd.commands.registry import all_commands, unique_subcommands  # noqa: E402

DATA = ROOT / "valkeyd" / "data" / "command-docs.json"
HIDDEN = {"sentinel", "only_sentinel"}


def _load_reference():
    """Facts keyed by lower-case full name: arity, command_flags, acl_categories, key_specs
    (in COMMAND INFO's shape)."""
    if DEFAULT_REFERENCE.exists():
        raw = json.loads(DEFAULT_REFERENCE.read_text())
        return generate(raw, {}), True
    return json.loads(DATA.read_text()), False


REF, FROM_SHARED = _load_reference()


def registered():
    out = []
    for cmd in all_commands():
        out.append(cmd)
        for sub in unique_subcommands(cmd):
            out.append(sub)
    return out


COMMANDS = registered()


def implicit_acl(flags: set, explicit: set) -> set:
    cats = set(explicit)
    if "write" in flags:
        cats.add("write")
    if "readonly" in flags and "scripting" not in cats:
        cats.add("read")
    if "admin" in flags:
        cats |= {"admin", "dangerous"}
    if "pubsub" in flags:
        cats.add("pubsub")
    if "fast" in flags:
        cats.add("fast")
    if "blocking" in flags:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return cats


def legacy_range(specs: list):
    """(first, last, step, movable) as Redis 7.2.4 derives them from the key specs."""
    if not specs:
        return 0, 0, 0, False

    def is_range(s):
        return s["begin_search"]["type"] == "index" and s["find_keys"]["type"] == "range"

    if len(specs) == 1 and is_range(specs[0]):
        s = specs[0]
        first = s["begin_search"]["spec"]["index"]
        last = s["find_keys"]["spec"]["lastkey"]
        if last >= 0:
            last += first
        return first, last, s["find_keys"]["spec"]["keystep"], "incomplete" in s["flags"]
    movable = False
    first, last, prev_last = None, 0, 0
    for s in specs:
        if not is_range(s):
            movable = True
            continue
        pos = s["begin_search"]["spec"]["index"]
        fk = s["find_keys"]["spec"]
        if fk["keystep"] != 1 or (prev_last and prev_last != pos - 1):
            movable = True
            continue
        if "incomplete" in s["flags"]:
            movable = True
        first = pos if first is None else min(first, pos)
        abs_last = fk["lastkey"] + pos if fk["lastkey"] >= 0 else fk["lastkey"]
        # Redis compares as unsigned: a negative (relative to the end) last key wins.
        last = max(last % (1 << 32), abs_last % (1 << 32))
        last = last - (1 << 32) if last >= (1 << 31) else last
        prev_last = last
    if first is None:
        return 0, 0, 0, True
    return first, last, 1, movable


def expected(full: str) -> dict:
    d = REF[full]
    first, last, step, movable = legacy_range(d["key_specs"])
    flags = {f for f in d["command_flags"] if f not in HIDDEN}
    if movable:
        flags.add("movablekeys")
    return {
        "arity": d["arity"],
        "flags": flags,
        "acl": implicit_acl(flags, set(d["acl_categories"])),
        "keys": (first, last, step),
        "movable": movable,
    }


def declaration_hint(full: str) -> str:
    d = REF[full]
    e = expected(full)
    flags = " ".join(f for f in d["command_flags"] if f not in HIDDEN)
    acl = " ".join(d["acl_categories"])
    keys = ""
    if e["keys"] != (0, 0, 0):
        keys += f", keys={e['keys']}"
    if e["movable"]:
        kn = [s for s in d["key_specs"] if s["find_keys"]["type"] == "keynum"]
        if len(kn) == 1 and kn[0]["begin_search"]["type"] == "index":
            sp = kn[0]["find_keys"]["spec"]
            pos = kn[0]["begin_search"]["spec"]["index"]
            keys += (f", keynum=({pos + sp['keynumidx']}, {sp['firstkey'] - sp['keynumidx']}, "
                     f"{sp['keystep']})  (or getkeys=fn)")
        else:
            keys += ", getkeys=fn"
    return f'@command("{full}", {d["arity"]}, "{flags}", "{acl}"{keys})'


# Commands that Redis 7.2.4 does not have, implemented as Valkey 9 documents them (per-field
# hash expiry); their declarations come from Valkey 9's command json files.
VALKEY9_ONLY = {"hexpire", "hpexpire", "hexpireat", "hpexpireat", "httl", "hpttl", "hexpiretime",
                "hpexpiretime", "hpersist", "hgetex", "hsetex", "hgetdel"}


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.fullname for c in COMMANDS])
def test_declaration_matches_redis(cmd):
    full = cmd.fullname
    if full in VALKEY9_ONLY:
        pytest.skip("a Valkey 9 command, declared from Valkey 9's src/commands/*.json")
    if full not in REF:
        pytest.fail(f"'{full}' is not a Redis 7.2.4 command (names are lower case, "
                    f"subcommands 'parent|sub')", pytrace=False)
    e = expected(full)
    problems = []
    if cmd.arity != e["arity"]:
        problems.append(f"arity: declared {cmd.arity}, Redis has {e['arity']}")
    got = set(cmd.flags) - HIDDEN
    if got != e["flags"]:
        problems.append(f"flags: declared {sorted(got)}, Redis has {sorted(e['flags'])} "
                        f"(missing {sorted(e['flags'] - got)}, extra {sorted(got - e['flags'])})")
    if set(cmd.acl) != e["acl"]:
        got = set(cmd.acl)
        problems.append(f"ACL categories: declared {sorted(got)}, Redis has {sorted(e['acl'])} "
                        f"(missing {sorted(e['acl'] - got)}, extra {sorted(got - e['acl'])})")
    keys = (cmd.first, cmd.last, cmd.step)
    if keys != e["keys"]:
        problems.append(f"key range (first, last, step): declared {keys}, Redis has {e['keys']}")
    if cmd.movablekeys != e["movable"]:
        problems.append(
            f"movable keys: declared {cmd.movablekeys}, Redis has {e['movable']} "
            f"({'declare keynum= or getkeys=' if e['movable'] else 'drop keynum=/getkeys='})")
    if problems:
        pytest.fail(f"'{full}' does not match Redis 7.2.4:\n  - " + "\n  - ".join(problems)
                    + f"\n  expected declaration: {declaration_hint(full)}", pytrace=False)


def test_containers_are_containers():
    """A command that has subcommands in Redis must be declared as a container (and only
    those)."""
    bad = []
    for cmd in all_commands():
        has_subs = any(k.startswith(cmd.fullname + "|") for k in REF)
        if has_subs != (cmd.subcommands is not None):
            bad.append(cmd.fullname)
    assert not bad, f"container/plain mismatch with Redis 7.2.4: {bad}"


def test_subcommand_parents_match():
    for cmd in COMMANDS:
        if cmd.parent is not None:
            assert cmd.fullname == f"{cmd.parent.name}|{cmd.name}"
            assert cmd.parent.subcommands[cmd.name.encode()] is cmd
            assert cmd.parent.subcommands[cmd.name.upper().encode()] is cmd


def test_legacy_range_derivation_examples():
    """The derivation itself, on commands whose COMMAND INFO values are well known."""
    cases = {
        "get": (1, 1, 1, False), "mset": (1, -1, 2, False), "del": (1, -1, 1, False),
        "zunionstore": (1, 1, 1, True), "eval": (0, 0, 0, True), "sort": (1, 1, 1, True),
        "migrate": (3, 3, 1, True), "xread": (0, 0, 0, True), "blpop": (1, -2, 1, False),
        "georadius": (1, 1, 1, True), "lmove": (1, 2, 1, False), "rename": (1, 2, 1, False),
        "bitop": (2, -1, 1, False), "object|freq": (2, 2, 1, False), "ping": (0, 0, 0, False),
    }
    for name, want in cases.items():
        assert legacy_range(REF[name]["key_specs"]) == want, name


def test_data_file_is_generated_from_reference():
    """valkeyd/data/command-docs.json must be regenerated when the reference changes:
    python -m tools.gen_command_docs"""
    if not FROM_SHARED:
        pytest.skip("../shared/reference is not checked out next to this repository")
    data = json.loads(DATA.read_text())
    assert sorted(data) == sorted(REF)
    for name, e in REF.items():
        d = data[name]
        for f in ("arity", "command_flags", "acl_categories", "since", "group", "key_specs"):
            assert d[f] == e[f], (name, f)
        assert d.get("doc_flags") == e.get("doc_flags"), name

        def strip(args):  # display texts / deprecated_since come from Redis's sources
            return [{k: (strip(v) if k == "arguments" else v) for k, v in a.items()
                     if k not in ("display_text", "deprecated_since")} for a in args]
        assert strip(d["arguments"]) == strip(e["arguments"]), name
    assert convert_key_spec(json.loads(DEFAULT_REFERENCE.read_text())["GET"]["key_specs"][0]) \
        == data["get"]["key_specs"][0]


# Commands whose flags Valkey 8.0 changed after Redis 7.2.4 (Redis 7.2.4 is the spec).
VALKEY8_FLAG_CHANGES = {"wait", "waitaof", "watch", "multi", "cluster|myshardid",
                        "cluster|info", "cluster|myid", "cluster|nodes"}


def test_derivations_agree_with_a_real_server(ref):
    """The derivations above (implicit ACL categories, legacy key range, movablekeys) give, for
    every command valkey-server also has, exactly what its COMMAND reply says."""
    from test_command_cmd import Resp, py

    c = Resp(ref.port)
    try:
        reply = py(c.call("COMMAND"))
    finally:
        c.close()

    def walk(items):
        for e in items:
            yield e
            if isinstance(e[9], list):
                yield from walk(e[9])

    hidden = {"may_replicate", "protected", "touches_arbitrary_keys"}
    checked = 0
    problems = []
    for e in walk(reply):
        name = e[0].decode()
        if name not in REF:
            continue
        checked += 1
        want = expected(name)
        flags = {f.decode() for f in e[2]}
        if (e[3], e[4], e[5]) != want["keys"] or ("movablekeys" in flags) != want["movable"]:
            problems.append(f"{name}: keys {(e[3], e[4], e[5])} vs derived {want['keys']}")
        if name in VALKEY8_FLAG_CHANGES:
            continue
        if {a.decode()[1:] for a in e[6]} != want["acl"]:
            problems.append(f"{name}: ACL {sorted(a.decode() for a in e[6])} vs derived "
                            f"{sorted(want['acl'])}")
        if flags != want["flags"] - hidden or e[1] != want["arity"]:
            problems.append(f"{name}: flags {sorted(flags)} vs {sorted(want['flags'])}")
    assert checked > 300
    assert not problems, "\n".join(problems)
