"""Generate ``valkeyd/data/command-docs.json`` from Redis 7.2.4's command table.

Input: ``../shared/reference/redis-7.2.4-commands.json`` (arity, flags, ACL categories, group,
since, doc flags, key specs, argument trees). Three machine-readable facts that file lacks are
taken from Redis 7.2.4's own command descriptions (``src/commands/*.json`` in the git mirror)
when it is available: the command tips (``nondeterministic_output`` ...), an argument's
``display`` text (``ip:port``) and an argument's ``deprecated_since``. Prose (summary,
complexity, history, key-spec notes, argument summaries) is deliberately not carried over.

Output: one entry per command, keyed by lower-case full name (``"config|get"``), already in the
shape COMMAND INFO / COMMAND DOCS reply with (key specs, argument maps) plus the raw table facts
(``arity``, ``command_flags``, ``acl_categories``) that ``tests/test_command_table.py`` checks
the registry against.

    python -m tools.gen_command_docs [--reference PATH] [--redis-git PATH] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "redis-7.2.4-commands.json"
DEFAULT_REDIS_GIT = Path("/work/.mirror/redis+redis/repo")
DEFAULT_OUT = ROOT / "valkeyd" / "data" / "command-docs.json"
REDIS_TAG = "7.2.4"

# Order in which Redis prints key-spec flags (addReplyFlagsForKeyArgs) and their reply names.
KEY_FLAG_ORDER = (
    ("RO", "RO"), ("RW", "RW"), ("OW", "OW"), ("RM", "RM"), ("ACCESS", "access"),
    ("UPDATE", "update"), ("INSERT", "insert"), ("DELETE", "delete"), ("NOT_KEY", "not_key"),
    ("INCOMPLETE", "incomplete"), ("VARIABLE_FLAGS", "variable_flags"),
)
DOC_FLAG_ORDER = (("DEPRECATED", "deprecated"), ("SYSCMD", "syscmd"))
ARG_FLAG_ORDER = ("optional", "multiple", "multiple_token")


def convert_key_spec(spec: dict) -> dict:
    """A reference key spec -> the map COMMAND INFO replies with (minus prose notes)."""
    flags = [out for name, out in KEY_FLAG_ORDER if name in spec.get("flags", ())]
    bs = spec["begin_search"]
    if "index" in bs:
        begin = {"type": "index", "spec": {"index": bs["index"]["pos"]}}
    elif "keyword" in bs:
        kw = bs["keyword"]
        begin = {"type": "keyword",
                 "spec": {"keyword": kw["keyword"], "startfrom": kw["startfrom"]}}
    else:
        begin = {"type": "unknown", "spec": {}}
    fk = spec["find_keys"]
    if "range" in fk:
        r = fk["range"]
        find = {"type": "range",
                "spec": {"lastkey": r["lastkey"], "keystep": r["step"], "limit": r["limit"]}}
    elif "keynum" in fk:
        k = fk["keynum"]
        find = {"type": "keynum", "spec": {"keynumidx": k["keynumidx"],
                                           "firstkey": k["firstkey"], "keystep": k["step"]}}
    else:
        find = {"type": "unknown", "spec": {}}
    return {"flags": flags, "begin_search": begin, "find_keys": find}


def convert_args(args: list, src: list | None) -> list:
    """Reference argument tree -> COMMAND DOCS argument maps (Redis's field order)."""
    out = []
    for i, a in enumerate(args):
        s = None
        if src is not None and i < len(src) and src[i].get("name") == a["name"]:
            s = src[i]
        m = {"name": a["name"], "type": a["type"]}
        if a["type"] not in ("oneof", "block"):
            m["display_text"] = (s or {}).get("display", a["name"])
        if "key_spec_index" in a:
            m["key_spec_index"] = a["key_spec_index"]
        if "token" in a:
            m["token"] = a["token"]
        if "since" in a:
            m["since"] = a["since"]
        if s is not None and "deprecated_since" in s:
            m["deprecated_since"] = s["deprecated_since"]
        flags = [f for f in ARG_FLAG_ORDER if a.get(f)]
        if flags:
            m["flags"] = flags
        if a["type"] in ("oneof", "block"):
            m["arguments"] = convert_args(a.get("arguments", []),
                                          (s or {}).get("arguments"))
        out.append(m)
    return out


def load_redis_sources(git_dir: Path) -> dict:
    """fullname (upper case, 'CONFIG GET') -> Redis's own command description, or {}."""
    if not (git_dir / "HEAD").exists() and not (git_dir / ".git").exists():
        return {}
    try:
        names = subprocess.run(
            ["git", "-C", str(git_dir), "ls-tree", "--name-only", REDIS_TAG, "src/commands/"],
            check=True, capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return {}
    out = {}
    for path in names:
        if not path.endswith(".json"):
            continue
        text = subprocess.run(["git", "-C", str(git_dir), "show", f"{REDIS_TAG}:{path}"],
                              check=True, capture_output=True, text=True).stdout
        for name, desc in json.loads(text).items():
            full = f"{desc['container']} {name}" if "container" in desc else name
            out[full.upper()] = desc
    return out


def generate(ref: dict, sources: dict) -> dict:
    out = {}
    for full in sorted(ref):
        d = ref[full]
        src = sources.get(full, {})
        e = {
            "arity": d["arity"],
            "command_flags": [f.lower() for f in d.get("command_flags", [])],
            "acl_categories": [a.lower() for a in d.get("acl_categories", [])],
            "since": d.get("since"),
            "group": d["group"],
        }
        doc_flags = [o for n, o in DOC_FLAG_ORDER if n in d.get("doc_flags", ())]
        if doc_flags:
            e["doc_flags"] = doc_flags
        for f in ("deprecated_since", "replaced_by"):
            if d.get(f):
                e[f] = d[f]
        e["tips"] = [t.lower() for t in src.get("command_tips", [])]
        e["key_specs"] = [convert_key_spec(s) for s in d.get("key_specs", [])]
        e["arguments"] = convert_args(d.get("arguments", []), src.get("arguments"))
        out[full.lower().replace(" ", "|")] = e
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p.add_argument("--redis-git", type=Path, default=DEFAULT_REDIS_GIT,
                   help="git directory of a Redis clone with the 7.2.4 tag (optional)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    ref = json.loads(a.reference.read_text())
    sources = load_redis_sources(a.redis_git)
    if not sources:
        print(f"warning: no Redis sources at {a.redis_git}: tips and display texts omitted",
              file=sys.stderr)
    data = generate(ref, sources)
    # One command per line: readable diffs, small file.
    lines = ["{"]
    items = list(data.items())
    for i, (k, v) in enumerate(items):
        lines.append(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":"))
                     + ("," if i < len(items) - 1 else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    os.makedirs(a.out.parent, exist_ok=True)
    a.out.write_text(text)
    print(f"wrote {len(data)} commands to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
