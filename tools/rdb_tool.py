"""``valkeyd rdb info|check|dump|diff|memory|salvage``: RDB file tools (issue #8), thin
commands over the loader (``diff``, ``memory`` and ``salvage``: see their sections below).

Design
------
* No parser of its own: every record comes from :func:`persistence.rdb_load.iter_rdb`, the
  same opcode loop and value decoder that load an RDB into a server, run with no server (a
  visitor receives ``(dbid, key, value, expire_ms, idle, freq)``; values are the memory
  engine's value objects, built exactly as a load builds them). So the tools accept what the
  server accepts (RDB 1..11, Redis 7.2 / Valkey 8 files, valkeyd's own files, RDB 12 from
  Redis 7.4 and VALKEY080 from Valkey 9) and reject
  what it rejects, with the same reasons; :class:`RDBLoadError` gives the file name, the byte
  offset of the failing item and, for a key/value record, its key.
* Bounded memory: the file is ``mmap``-ed and the loader reads the mapping in place
  (file-backed pages the kernel can reclaim); the visitor's records are handed out every
  ``chunk`` bytes, so only one chunk's values live at a time. The CRC-64 is checked as in a
  load (by a forked child on big files).
* ``dump --format resp`` reuses the AOF rewrite's emitter (``persistence.aof.
  rewrite_commands``) by giving it a stand-in server whose ``engine.snapshot()`` streams the
  file's records and whose ``functions.libraries_code()`` gives the libraries read so far
  (an RDB stores its functions before its keys).
* ``dump --format json`` writes rdbtools's JSONCallback layout: ``[{`` one object per
  database ``},{`` ... ``}]``, each key on its own ``\\r\\n``-prefixed line; strings, list and
  set elements, hash fields/values and zset scores are JSON strings; bytes that are not
  UTF-8 are written as the text ``\\xNN`` (rdbtools's default ``utf8`` escape), or the whole
  string in base64 with ``--escape base64``. Streams are ``{}`` there, as in rdbtools;
  ``jsonl`` has everything (entries, groups, consumers, PEL).
* Exit codes: 0 success, 1 the file is corrupt, truncated or unsupported, 2 usage errors
  and unreadable files. ``check`` also fails on empty collections (which a load skips), as
  valkey-check-rdb does; ``info`` and ``dump`` skip them as a load does (``info`` counts them).
* A progress bar goes to standard error only when it is a terminal. ``FILE`` may be ``-``
  (standard input, read whole: not bounded).
"""
from __future__ import annotations

import base64
import codecs
import json
import mmap
import os
import sys
import time
import zlib

import click

EXIT_OK, EXIT_CORRUPT, EXIT_USAGE = 0, 1, 2
TYPES = ("string", "list", "set", "zset", "hash", "stream")


# -- opening ------------------------------------------------------------------------------------
class Source:
    """An RDB file mapped in memory (a regular file) or read whole (a pipe, an empty file)."""

    def __init__(self, path: str):
        self.path = path
        self.map = None
        if path == "-":                     # standard input: read whole (not mappable)
            self.fh = sys.stdin.buffer
            self.data = self.fh.read()
            self.size = len(self.data)
            return
        self.fh = open(path, "rb")
        try:
            self.size = os.fstat(self.fh.fileno()).st_size
            if self.size > 0:
                self.map = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)
                self.data = self.map
            else:
                self.data = self.fh.read()
                self.size = len(self.data)
        except (OSError, ValueError):
            self.data = self.fh.read()
            self.size = len(self.data)

    def close(self):
        try:
            if self.map is not None:
                self.map.close()
        except BufferError:   # a view still alive (an error path): the process ends anyway
            pass
        if self.path != "-":
            self.fh.close()


class Progress:
    """A one-line progress bar on a terminal's standard error; nothing when not a tty."""

    def __init__(self, label: str, enabled: bool | None = None):
        if enabled is None:
            try:
                enabled = sys.stderr.isatty()
            except (AttributeError, ValueError):
                enabled = False
        self.enabled = enabled
        self.label = label
        self.t0 = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, pos: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and pos < total:
            return
        self.last = now
        frac = pos / total if total else 1.0
        width = 30
        fill = int(frac * width)
        sys.stderr.write("\r%s [%s%s] %3d%% %s/%s %.1fs" % (
            self.label, "#" * fill, "." * (width - fill), int(frac * 100), _size(pos),
            _size(total), now - self.t0))
        sys.stderr.flush()
        self.shown = True

    def done(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.shown = False


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return str(n)


def _fail_exit(path: str, e) -> None:
    """Print the error of an RDBLoadError or OSError and exit with its code."""
    from persistence.rdb_load import RDBLoadError
    if isinstance(e, RDBLoadError):
        where = f" at offset {e.offset}" if e.offset >= 0 else ""
        key = f" while reading key {_show(e.key)}" if e.key is not None else ""
        click.echo(f"{path}: error{where}{key}: {e.reason}", err=True)
        sys.exit(EXIT_CORRUPT)
    click.echo(f"{path}: cannot read the file: {getattr(e, 'strerror', None) or e}", err=True)
    sys.exit(EXIT_USAGE)


def _show(b: bytes) -> str:
    return "'" + _escape_utf8(b) + "'"


def _run(path: str, label: str, body, quiet_progress: bool = False):
    """Open ``path``, run ``body(records)`` over its records, map errors to exit codes."""
    from persistence.rdb_load import RDBLoadError, iter_rdb
    try:
        src = Source(path)
    except OSError as e:
        _fail_exit(path, e)
    prog = Progress(label, False if quiet_progress else None)
    try:
        recs = iter_rdb(src.data, name=path, progress=prog)
        return body(recs, src)
    except RDBLoadError as e:
        prog.done()
        _fail_exit(path, e)
    finally:
        prog.done()
        src.close()


# -- string escaping (rdbtools's encodehelpers) ---------------------------------------------------
def _slash_x(err):
    return "".join("\\x%02X" % b for b in err.object[err.start:err.end]), err.end


codecs.register_error("valkeyd-rdb-slashx", _slash_x)


def _escape_utf8(b: bytes) -> str:
    return b.decode("utf-8", "valkeyd-rdb-slashx")


def _escape_b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _fmt_score(x: float) -> str:
    return repr(float(x))


# -- filters ------------------------------------------------------------------------------------
def _filtered(recs, dbs, pattern, types):
    from engines.memory import value_type
    match = None
    if pattern is not None:
        from valkeyd.glob import compile as gcompile
        match = gcompile(pattern.encode("utf-8", "surrogateescape"))
    dbset = set(dbs) if dbs else None
    tset = set(types) if types else None
    for rec in recs:
        if dbset is not None and rec[0] not in dbset:
            continue
        if match is not None and not match(rec[1]):
            continue
        if tset is not None and value_type(rec[2]) not in tset:
            continue
        yield rec


# -- info ---------------------------------------------------------------------------------------
def collect_info(path: str) -> dict:
    from engines.memory import value_type
    from engines.base import clock

    def body(recs, src):
        now = clock.ms()
        dbs: dict = {}
        for dbid, key, val, exp, _idle, _freq in recs:
            d = dbs.get(dbid)
            if d is None:
                d = dbs[dbid] = {"keys": 0, "types": {}, "expires": 0, "already_expired": 0}
            d["keys"] += 1
            t = value_type(val)
            d["types"][t] = d["types"].get(t, 0) + 1
            if exp != -1:
                d["expires"] += 1
                if exp < now:
                    d["already_expired"] += 1
        info = recs.info
        aux = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
               for k, v in info["aux"].items()}
        return {
            "file": path,
            "size": src.size,
            "rdb_version": info["version"],
            "checksum": info["checksum"],
            "aux": aux,
            "functions": info["functions"],
            "empty_keys_skipped": info["empty_keys_skipped"],
            "databases": {str(k): dbs[k] for k in sorted(dbs)},
            "keys": sum(d["keys"] for d in dbs.values()),
            "expires": sum(d["expires"] for d in dbs.values()),
            "already_expired": sum(d["already_expired"] for d in dbs.values()),
        }
    return _run(path, "rdb info", body)


def format_info(r: dict) -> str:
    from datetime import datetime, timezone
    out = [f"File:           {r['file']} ({r['size']} bytes)",
           f"RDB version:    {r['rdb_version']}",
           "Checksum:       " + {"ok": "ok (CRC-64 verified)",
                                 "disabled": "not stored (saved with rdbchecksum no)",
                                 "none": "none (RDB version < 5)"}.get(r["checksum"],
                                                                      r["checksum"])]
    if r["aux"]:
        out.append("AUX fields:")
        width = max(len(k) for k in r["aux"])
        for k, v in r["aux"].items():
            note = ""
            if k == "ctime" and v.lstrip("-").isdigit():
                note = " (%s)" % datetime.fromtimestamp(int(v), timezone.utc).strftime(
                    "%Y-%m-%d %H:%M:%S UTC")
            elif k == "used-mem" and v.isdigit():
                note = " (%s)" % _size(int(v))
            out.append(f"  {k.ljust(width)}  {v}{note}")
    out.append(f"Functions:      {r['functions']} librar{'y' if r['functions'] == 1 else 'ies'}")
    out.append(f"Keys:           {r['keys']} ({r['expires']} with an expiry, "
               f"{r['already_expired']} already expired)")
    if r["empty_keys_skipped"]:
        out.append(f"Empty keys:     {r['empty_keys_skipped']} skipped (as a load does)")
    for db, d in r["databases"].items():
        types = ", ".join(f"{t} {n}" for t, n in sorted(d["types"].items()))
        out.append(f"  db{db}: {d['keys']} keys ({types}); {d['expires']} with an expiry, "
                   f"{d['already_expired']} already expired")
    return "\n".join(out)


# -- dump ---------------------------------------------------------------------------------------
def _json_value(v, t: str, esc, rdbtools: bool):
    if t == "string":
        return esc(bytes(v))
    if t == "list" or t == "set":
        return [esc(x) for x in v]
    if t == "hash":
        return {esc(f): esc(x) for f, x in v.items()}
    if t == "zset":
        if rdbtools:
            return {esc(m): _fmt_score(s) for m, s in v.items()}
        return [[esc(m), _fmt_score(s)] for m, s in v.items()]
    if t == "stream":
        if rdbtools:
            return {}
        return _stream_json(v, esc)
    return None


def _sid(i: int) -> str:
    return "%d-%d" % (i >> 64, i & 0xFFFFFFFFFFFFFFFF)


def _stream_json(s, esc) -> dict:
    groups = []
    for name, g in s.groups.items():
        consumers = []
        for cname in g.consumer_names():
            seen, active, _n = g.consumer_get(cname)
            consumers.append({"name": esc(cname), "seen_time": seen, "active_time": active})
        groups.append({
            "name": esc(name),
            "last_delivered_id": _sid(g.last_id),
            "entries_read": g.entries_read,
            "consumers": consumers,
            "pending": [[_sid(i), esc(c), dt, cnt] for i, c, dt, cnt in g.pel_range(0)],
        })
    return {
        "entries": [[_sid(i), [esc(x) for x in fields]] for i, fields in s.entries()],
        "length": s.length,
        "last_id": _sid(s.last_id),
        "first_id": _sid(s.first_id),
        "max_deleted_entry_id": _sid(s.max_deleted_entry_id),
        "entries_added": s.entries_added,
        "groups": groups,
    }


def dump_json(recs, out, esc) -> None:
    """rdbtools's JSONCallback layout."""
    from engines.memory import value_type
    out.write(b"[")
    cur = None
    first_key = True
    for dbid, key, val, _exp, _i, _f in recs:
        if dbid != cur:
            out.write(b"{" if cur is None else b"},{")
            cur = dbid
            first_key = True
        t = value_type(val)
        line = (json.dumps(esc(key)) + ":" + json.dumps(_json_value(val, t, esc, True),
                                                         separators=(",", ":")))
        out.write((b"\r\n" if first_key else b",\r\n") + line.encode("utf-8"))
        first_key = False
    if cur is not None:
        out.write(b"}")
    out.write(b"]\n")


def dump_jsonl(recs, out, esc) -> None:
    from engines.memory import value_encoding, value_type
    for dbid, key, val, exp, idle, freq in recs:
        t = value_type(val)
        o = {"db": dbid, "key": esc(key), "type": t, "encoding": value_encoding(val),
             "expire_ms": exp if exp != -1 else None,
             "value": _json_value(val, t, esc, False)}
        if t == "hash" and val.volatile_count():        # RDB 12 / VALKEY080 field TTLs
            o["field_expires_ms"] = {esc(f): w for f, w in val.volatile_items()}
        if idle != -1:
            o["idle"] = idle
        if freq != -1:
            o["freq"] = freq
        out.write(json.dumps(o, separators=(",", ":")).encode("utf-8") + b"\n")


class _Functions:
    def __init__(self, info):
        self.info = info

    def libraries_code(self):
        return list(self.info.get("function_codes", ()))


class _Engine:
    def __init__(self, recs):
        self.recs = recs

    def snapshot(self):
        for dbid, key, val, exp, _i, _f in self.recs:
            yield dbid, key, val, (exp if exp != -1 else None)


class _RecordsServer:
    """What ``rewrite_commands`` reads of a server, backed by an RDB's records."""

    def __init__(self, info, recs):
        from valkeyd.config import Config
        self.config = Config()   # the defaults (rdb-key-save-delay 0)
        self.functions = _Functions(info)
        self.engine = _Engine(recs)


def dump_resp(recs, out, info) -> None:
    """Commands that rebuild the dataset (the AOF rewrite's emitter): FUNCTION LOAD, SELECT,
    SET/RPUSH/SADD/ZADD/HMSET, XADD/XSETID/XGROUP/XCLAIM, PEXPIREAT."""
    from persistence.aof import rewrite_commands
    it = iter(recs)
    first = next(it, None)          # reads up to the first key: the functions come before

    def chained():
        if first is not None:
            yield first
            yield from it
    rewrite_commands(_RecordsServer(info, chained()), out.write)


# -- click --------------------------------------------------------------------------------------
@click.group("rdb", context_settings={"help_option_names": ["-h", "--help"]})
def rdb():
    """RDB file tools: info, check, dump, diff, memory, salvage. Exit codes: 0 ok, 1 corrupt/
    truncated/unsupported file, 2 usage error or unreadable file (diff: 0 same, 1 different,
    2 error; salvage: 0 nothing lost, 1 something lost, OUT written, 2 unusable input)."""


@rdb.command("info")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
def info_cmd(file, as_json):
    """Version, AUX fields, functions, keys per database and type, expiry stats."""
    r = collect_info(file)
    if as_json:
        click.echo(json.dumps(r, indent=1))
    else:
        click.echo(format_info(r))


@rdb.command("check")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def check_cmd(file):
    """Validate the whole file (structure, values, CRC-64). Exit 0 when it is sound, 1 with
    the offset (and key) of the first problem, 2 when it cannot be read."""
    def body(recs, src):
        n = 0
        for _ in recs:
            n += 1
        return n, recs.info, src.size
    n, info, size = _run(file, "rdb check", body)
    if info["empty_keys_skipped"]:
        # a collection with no elements: a load skips it (with a log line), valkey-check-rdb
        # calls the file corrupt; so does this check, naming the first one
        off, key = info["first_empty_key"]
        click.echo(f"{file}: error at offset {off} while reading key {_show(key)}: empty key "
                   f"(a collection with no elements; {info['empty_keys_skipped']} in the file, "
                   "a server skips them when loading)", err=True)
        sys.exit(EXIT_CORRUPT)
    chk = {"ok": "CRC-64 ok", "disabled": "no checksum stored",
           "none": "no checksum (RDB < 5)"}.get(info["checksum"], info["checksum"])
    click.echo(f"{file}: OK: RDB version {info['version']}, {n} keys, "
               f"{info['functions']} function libraries, {size} bytes, {chk}")


@rdb.command("dump")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "resp"]), default="json",
              show_default=True)
@click.option("--db", "dbs", type=int, multiple=True, help="Only this database (repeatable).")
@click.option("--key", "pattern", default=None, help="Only keys matching this glob pattern.")
@click.option("--type", "types", type=click.Choice(TYPES), multiple=True,
              help="Only keys of this type (repeatable).")
@click.option("--escape", type=click.Choice(["utf8", "base64"]), default="utf8",
              show_default=True, help="json/jsonl: how strings are written.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
def dump_cmd(file, fmt, dbs, pattern, types, escape, output):
    """Dump the keys as rdbtools-style JSON, JSON lines or RESP commands
    (``... --format resp | valkey-cli --pipe`` restores the dataset)."""
    esc = _escape_utf8 if escape == "utf8" else _escape_b64
    out = open(output, "wb") if output else sys.stdout.buffer

    def body(recs, src):
        sel = _filtered(recs, dbs, pattern, types)
        if fmt == "json":
            dump_json(sel, out, esc)
        elif fmt == "jsonl":
            dump_jsonl(sel, out, esc)
        else:
            dump_resp(sel, out, recs.info)
        out.flush()
    try:
        _run(file, "rdb dump", body)
    except BrokenPipeError:
        reader_gone()
    finally:
        if output:
            out.close()


def reader_gone(code: int = EXIT_OK) -> None:
    """The reader of standard output went away (``| head``): stop quietly with ``code``
    (standard output is pointed at /dev/null so the interpreter's final flush is silent)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass
    sys.exit(code)


# -- diff ---------------------------------------------------------------------------------------
# ``rdb diff A B``: reads A once into an index ``{dbid: {key: entry}}``, where ``entry`` is one
# 29-byte string (expire_ms as 8 bytes, a type code, a 20-byte value digest), then streams B
# against it: each of B's keys is popped from the index and compared; what remains was removed.
# Memory is O(keys of A) (about 150 bytes a key), never the values; past ``--max-memory`` the
# keys are split by crc32 into passes (each reads both files and holds only its part of A's
# index), so any file size fits a bounded memory; the output is then sorted within each pass.
# The digest is BLAKE2b of a canonical form (``marshal`` of: the string; the list's elements in order; the set's members
# sorted; the hash's (field, value) pairs sorted; the zset's (member, score) pairs sorted;
# a stream's entries in order plus its metadata, consumer groups and PEL, not the consumers'
# seen/active times), so the encoding and the element order in the file do not matter (the
# same equivalence as DEBUG DIGEST-VALUE, whose SHA-1-per-element mixing is 5x slower).
# Exit codes follow diff(1): 0 identical, 1 different, 2 trouble (a corrupt, truncated or
# unreadable file: the message names the file and the offset).
EXIT_DIFFERENT, EXIT_TROUBLE = 1, 2
DIFF_BYTES_PER_KEY = 150   # A's index: a dict entry, the key, the 29-byte entry
_TYPE_CODES = {t: bytes([i]) for i, t in enumerate(TYPES)}
_CODE_TYPES = {i: t for i, t in enumerate(TYPES)}


def value_digest(v) -> bytes:
    import hashlib
    import marshal
    from engines.memory import value_type
    t = value_type(v)
    if t == "string":
        form = bytes(v)
    elif t == "list":
        form = marshal.dumps([bytes(x) for x in v])
    elif t == "set":
        form = marshal.dumps(sorted(bytes(x) for x in v))
    elif t == "hash":
        form = marshal.dumps(sorted((bytes(f), bytes(x)) for f, x in v.items()))
    elif t == "zset":
        form = marshal.dumps(sorted((bytes(m), float(sc)) for m, sc in v.items()))
    else:
        meta = _stream_json(v, _escape_b64)
        for g in meta["groups"]:
            for cons in g["consumers"]:     # times change on every read: not content
                cons.pop("seen_time", None)
                cons.pop("active_time", None)
        form = json.dumps(meta, sort_keys=True).encode()
    return hashlib.blake2b(form, digest_size=20, person=t.encode()).digest()


def _entry(val, exp) -> bytes:
    from engines.memory import value_type
    return (exp.to_bytes(8, "big", signed=True) + _TYPE_CODES[value_type(val)]
            + value_digest(val))


def _records_or_exit(path: str, label: str, body):
    """Run ``body(records)`` over ``path``'s records; any error exits 2 (diff's trouble)."""
    from persistence.rdb_load import RDBLoadError, iter_rdb
    try:
        src = Source(path)
    except OSError as e:
        click.echo(f"{path}: cannot read the file: {e.strerror or e}", err=True)
        sys.exit(EXIT_TROUBLE)
    prog = Progress(label)
    try:
        return body(iter_rdb(src.data, name=path, progress=prog))
    except RDBLoadError as e:
        prog.done()
        where = f" at offset {e.offset}" if e.offset >= 0 else ""
        key = f" while reading key {_show(e.key)}" if e.key is not None else ""
        click.echo(f"{path}: error{where}{key}: {e.reason}", err=True)
        sys.exit(EXIT_TROUBLE)
    finally:
        prog.done()
        src.close()


class _TooMany(Exception):
    """A's part of the index outgrew its budget; ``keys`` is A's whole key count."""

    def __init__(self, keys: int):
        self.keys = keys


def _part_of(key: bytes, parts: int) -> int:
    return zlib.crc32(key) % parts


def _index(path: str, part: int = 0, parts: int = 1, max_keys: int = 0) -> dict:
    """A's entries ``{dbid: {key: entry}}`` for the keys of pass ``part`` of ``parts``; with
    ``max_keys`` set and exceeded, the rest of A is only counted (for the number of passes)
    and :class:`_TooMany` raised."""
    label = "rdb diff A" if parts == 1 else f"rdb diff A ({part + 1}/{parts})"

    def body(recs):
        idx: dict = {}
        n = 0
        for dbid, key, val, exp, _i, _f in recs:
            key = bytes(key)
            if parts > 1 and _part_of(key, parts) != part:
                continue
            n += 1
            if max_keys and n > max_keys:
                idx = None   # over the budget: count the rest, keep nothing
                continue
            if idx is None:
                continue
            d = idx.get(dbid)
            if d is None:
                d = idx[dbid] = {}
            d[key] = _entry(val, exp)
        if idx is None:
            raise _TooMany(n)
        return idx
    return _records_or_exit(path, label, body)


def _unpack(e: bytes):
    exp = int.from_bytes(e[:8], "big", signed=True)
    return _CODE_TYPES[e[8]], (None if exp == -1 else exp)


def diff_passes(a: str, b: str, max_keys: int = 0):
    """The differences, one sorted list per pass: (dbid, key, op, what, old, new), op "+",
    "-" or "~", ``what`` a tuple of "type" (alone), "value", "ttl", old/new the (type,
    expire_ms) of each side or None. One pass unless A has more than ``max_keys`` keys (0:
    no limit): then the keys are split by hash into passes of at most about ``max_keys``
    of A's keys each, and both files are read once per pass."""
    parts = 1
    try:
        ia = _index(a, 0, 1, max_keys)
    except _TooMany as e:
        parts = max(2, -(-e.keys * 5 // (max_keys * 4)))   # each pass at ~80% of the budget
        ia = None
    for part in range(parts):
        if ia is None:
            ia = _index(a, part, parts)
        yield _diff_pass(ia, b, part, parts)
        ia = None


def _diff_pass(ia: dict, b: str, part: int, parts: int) -> list:
    label = "rdb diff B" if parts == 1 else f"rdb diff B ({part + 1}/{parts})"

    def body(recs):
        out = []
        for dbid, key, val, exp, _i, _f in recs:
            key = bytes(key)
            if parts > 1 and _part_of(key, parts) != part:
                continue
            eb = _entry(val, exp)
            ea = ia.get(dbid, {}).pop(key, None)
            if ea is None:
                out.append((dbid, key, "+", (), None, _unpack(eb)))
            elif ea != eb:
                if ea[8] != eb[8]:
                    what = ("type",)
                else:
                    what = (("value",) if ea[9:] != eb[9:] else ()) + (
                        ("ttl",) if ea[:8] != eb[:8] else ())
                out.append((dbid, key, "~", what, _unpack(ea), _unpack(eb)))
        for dbid, d in ia.items():
            for key, ea in d.items():
                out.append((dbid, key, "-", (), _unpack(ea), None))
        out.sort(key=lambda r: (r[0], r[1]))
        return out
    return _records_or_exit(b, label, body)


def diff_files(a: str, b: str, max_keys: int = 0) -> list:
    """Every difference, sorted by database and key (see :func:`diff_passes`)."""
    rows = [r for rows in diff_passes(a, b, max_keys) for r in rows]
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def _parse_size(text: str) -> int:
    """``512mb``, ``2g``, ``100000`` -> bytes."""
    t = text.strip().lower()
    for suffix, mul in (("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10),
                        ("m", 1 << 20), ("g", 1 << 30), ("b", 1)):
        if t.endswith(suffix):
            return int(float(t[:-len(suffix)]) * mul)
    return int(t)


@rdb.command("diff")
@click.argument("a", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("b", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--escape", type=click.Choice(["utf8", "base64"]), default="utf8",
              show_default=True, help="How keys are written.")
@click.option("--max-memory", "max_memory", default="1gb", show_default=True,
              help="Memory for A's index (about 150 bytes a key); past it the keys are "
                   "compared in passes by hash, each pass reading both files.")
def diff_cmd(a, b, as_json, escape, max_memory):
    """Keys added (+), removed (-) and changed (~, with what changed: value, ttl or type)
    from A to B, per database. Exit codes like diff(1): 0 identical, 1 different, 2 error
    (a corrupt file gives its name and the offset)."""
    esc = _escape_utf8 if escape == "utf8" else _escape_b64
    try:
        max_keys = max(1, _parse_size(max_memory) // DIFF_BYTES_PER_KEY)
    except ValueError:
        click.echo(f"--max-memory: not a size: {max_memory!r}", err=True)
        sys.exit(EXIT_TROUBLE)
    w = sys.stdout
    any_rows = False
    try:
        for rows in diff_passes(a, b, max_keys):
            any_rows = any_rows or bool(rows)
            _write_diff_rows(w, rows, as_json, esc)
        w.flush()
    except BrokenPipeError:
        reader_gone(EXIT_DIFFERENT if any_rows else EXIT_OK)
    sys.exit(EXIT_DIFFERENT if any_rows else EXIT_OK)


def _write_diff_rows(w, rows, as_json, esc) -> None:
    for dbid, key, op, what, old, new in rows:
        if as_json:
            o = {"db": dbid, "key": esc(key), "op": {"+": "added", "-": "removed",
                                                     "~": "changed"}[op]}
            if op == "~":
                o["changed"] = list(what)
                o["type"] = [old[0], new[0]]
                o["expire_ms"] = [old[1], new[1]]
            else:
                o["type"], o["expire_ms"] = old or new
            w.write(json.dumps(o) + "\n")
        elif op == "~":
            w.write(f"~ db{dbid} {esc(key)} ({','.join(what)})\n")
        else:
            w.write(f"{op} db{dbid} {esc(key)}\n")


# -- memory -------------------------------------------------------------------------------------
# ``rdb memory FILE``: rdbtools's memory-report CSV (memprofiler's PrintAllKeys columns:
# database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry), one row per
# key, streamed (bounded memory). Differences from rdbtools, on purpose:
# * encoding is the value's real encoding as our loader built it, i.e. what OBJECT ENCODING
#   says once the file is loaded (int/embstr/raw, listpack, quicklist, intset, hashtable,
#   skiplist, stream), not rdbtools's guess from the file's encoding;
# * size_in_bytes is valkeyd's MEMORY USAGE estimate (value estimate + key + 24 bytes of dict
#   entry, valkeyd.commands.server.memory_usage with SAMPLES 0, i.e. every element), not
#   rdbtools's jemalloc model; it is an estimate of valkeyd's memory, comparable between keys;
# * key is CSV-quoted by Python's csv module when needed (rdbtools writes it raw), non-UTF-8
#   bytes as \xNN;
# * num_elements: string length for strings (as rdbtools), elements / fields / members /
#   entries for collections; len_largest_element: the longest element (for a hash the longest
#   field or value, for a zset the longest member, for a stream the longest field or value);
# * expiry: ISO 8601 UTC like rdbtools (datetime.isoformat of the UTC time, no zone), empty
#   when the key has none.
MEMORY_HEADER = ("database", "type", "key", "size_in_bytes", "encoding", "num_elements",
                 "len_largest_element", "expiry")


def memory_row(dbid, key, v, exp):
    from datetime import datetime, timezone
    from engines.memory import value_encoding, value_type
    from valkeyd.commands.server import value_memory
    t = value_type(v)
    size = value_memory(v, sys.maxsize) + sys.getsizeof(bytes(key)) + 24
    if t == "string":
        n = largest = len(v)
    elif t == "hash":
        n = len(v)
        largest = max((max(len(f), len(x)) for f, x in v.items()), default=0)
    elif t == "zset":
        n = len(v)
        largest = max((len(m) for m in v), default=0)
    elif t == "stream":
        n = v.length
        largest = max((len(x) for _i, fields in v.entries() for x in fields), default=0)
    else:
        n = len(v)
        largest = max((len(x) for x in v), default=0)
    expiry = ""
    if exp != -1:
        expiry = datetime.fromtimestamp(exp / 1000, timezone.utc).replace(
            tzinfo=None).isoformat()
    return (dbid, t, bytes(key), size, value_encoding(v), n, largest, expiry)


def _prefixes(key: bytes, sep: bytes, depth: int):
    parts = key.split(sep)
    for d in range(1, min(depth, len(parts) - 1) + 1):
        yield sep.join(parts[:d]) + sep


def _svg_bars(rows, title: str) -> str:
    """A horizontal bar chart (label, bytes) as inline SVG."""
    from html import escape
    width, bar_x, bar_w, h = 900, 300, 480, 22
    biggest = max((b for _l, b in rows), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{h * len(rows) + 30}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    for i, (label, b) in enumerate(rows):
        y = 26 + i * h
        w = max(1, int(bar_w * b / biggest))
        short = label if len(label) <= 40 else label[:37] + "..."
        parts.append(f'<text x="{bar_x - 6}" y="{y + 14}" text-anchor="end">'
                     f'<title>{escape(label)}</title>{escape(short)}</text>'
                     f'<rect x="{bar_x}" y="{y + 2}" width="{w}" height="{h - 6}" '
                     f'fill="#4a7fb5"/><text x="{bar_x + w + 6}" y="{y + 14}">'
                     f'{_size(b)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def memory_html(file, sep, depth, total, bigp, bigk) -> str:
    """A self-contained page (no external assets): totals, two SVG bar charts, two tables."""
    from html import escape
    prefixes = [(_escape_utf8(p), s) for p, (_n, s) in bigp]
    keys = [(f"db{d} {_escape_utf8(k)}", s) for s, d, k, _t, _e in bigk]
    ptable = "".join(f"<tr><td>{escape(_escape_utf8(p))}</td><td>{n}</td><td>{s}</td></tr>"
                     for p, (n, s) in bigp)
    ktable = "".join(f"<tr><td>{d}</td><td>{escape(_escape_utf8(k))}</td><td>{t}</td>"
                     f"<td>{e}</td><td>{s}</td></tr>" for s, d, k, t, e in bigk)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>valkeyd rdb memory: {escape(file)}</title>
<style>body{{font-family:sans-serif;margin:2em}}svg text{{font-size:12px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px}}
td:last-child{{text-align:right}}</style></head><body>
<h1>Memory report: {escape(file)}</h1>
<p>{total[0]} keys, {total[1]} bytes ({_size(total[1])}; valkeyd MEMORY USAGE estimate).
Prefixes split on {escape(repr(sep))}, depth {depth}.</p>
{_svg_bars(prefixes, "Biggest prefixes")}
<table><tr><th>prefix</th><th>keys</th><th>bytes</th></tr>{ptable}</table>
{_svg_bars(keys, "Biggest keys")}
<table><tr><th>db</th><th>key</th><th>type</th><th>encoding</th><th>bytes</th></tr>{ktable}</table>
</body></html>
"""


@rdb.command("memory")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--db", "dbs", type=int, multiple=True, help="Only this database (repeatable).")
@click.option("--key", "pattern", default=None, help="Only keys matching this glob pattern.")
@click.option("--type", "types", type=click.Choice(TYPES), multiple=True,
              help="Only keys of this type (repeatable).")
@click.option("--by-prefix", "sep", default=None,
              help="Instead of the CSV: a report of the biggest key prefixes (split on SEP) "
                   "and the biggest keys.")
@click.option("--depth", type=click.IntRange(1), default=1, show_default=True,
              help="--by-prefix: prefixes of up to this many parts.")
@click.option("--top", type=click.IntRange(1), default=20, show_default=True,
              help="--by-prefix: how many prefixes and keys to list.")
@click.option("--json", "as_json", is_flag=True, help="--by-prefix: the report as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), default=None,
              help="Write the --by-prefix report (separator ':' unless given) to this file as "
                   "a self-contained HTML page with SVG bar charts.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
def memory_cmd(file, dbs, pattern, types, sep, depth, top, as_json, html_out, output):
    """rdbtools-style memory report: one CSV row per key (database,type,key,size_in_bytes,
    encoding,num_elements,len_largest_element,expiry). Sizes are valkeyd's MEMORY USAGE
    estimate and encodings the real ones (see docs); --by-prefix SEP for a summary."""
    import csv
    import heapq
    import io
    if html_out is not None:
        if sep is None:
            sep = ":"
        output = html_out
    out = open(output, "w", newline="") if output else io.TextIOWrapper(
        sys.stdout.buffer, newline="", write_through=True)

    def body(recs, src):
        sel = _filtered(recs, dbs, pattern, types)
        if sep is None:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(MEMORY_HEADER)
            for dbid, key, val, exp, _i, _f in sel:
                row = memory_row(dbid, key, val, exp)
                w.writerow(row[:2] + (_escape_utf8(row[2]),) + row[3:])
            out.flush()
            return
        bsep = sep.encode("utf-8", "surrogateescape")
        pref: dict = {}
        keys_heap: list = []
        total = [0, 0]
        for dbid, key, val, exp, _i, _f in sel:
            row = memory_row(dbid, key, val, exp)
            size = row[3]
            total[0] += 1
            total[1] += size
            for p in _prefixes(bytes(key), bsep, depth):
                e = pref.get(p)
                if e is None:
                    pref[p] = [1, size]
                else:
                    e[0] += 1
                    e[1] += size
            item = (size, dbid, bytes(key), row[1], row[4])
            if len(keys_heap) < top:
                heapq.heappush(keys_heap, item)
            elif item > keys_heap[0]:
                heapq.heapreplace(keys_heap, item)
        bigp = sorted(pref.items(), key=lambda kv: (-kv[1][1], kv[0]))[:top]
        bigk = sorted(keys_heap, key=lambda r: (-r[0], r[1], r[2]))
        if html_out is not None:
            out.write(memory_html(file, sep, depth, total, bigp, bigk))
        elif as_json:
            out.write(json.dumps({
                "keys": total[0], "size_in_bytes": total[1],
                "prefixes": [{"prefix": _escape_utf8(p), "keys": n, "size_in_bytes": s}
                             for p, (n, s) in bigp],
                "biggest_keys": [{"db": d, "key": _escape_utf8(k), "type": t, "encoding": e,
                                  "size_in_bytes": s} for s, d, k, t, e in bigk]},
                indent=1) + "\n")
        else:
            out.write(f"{total[0]} keys, {total[1]} bytes (valkeyd MEMORY USAGE estimate)\n")
            out.write(f"\nBiggest prefixes (separator {sep!r}, depth {depth}):\n")
            out.write("%14s %10s %6s  %s\n" % ("bytes", "keys", "%", "prefix"))
            for p, (n, s) in bigp:
                out.write("%14d %10d %6.2f  %s\n" % (s, n, 100.0 * s / (total[1] or 1),
                                                     _escape_utf8(p)))
            out.write("\nBiggest keys:\n")
            out.write("%14s %4s %-7s %-10s %s\n" % ("bytes", "db", "type", "encoding", "key"))
            for s, d, k, t, e in bigk:
                out.write("%14d %4d %-7s %-10s %s\n" % (s, d, t, e, _escape_utf8(k)))
        out.flush()
    try:
        _run(file, "rdb memory", body)
    except BrokenPipeError:
        reader_gone()
    finally:
        if output:
            out.close()


# -- salvage ------------------------------------------------------------------------------------
# ``rdb salvage FILE OUT``: every record the loader can read goes to OUT (an RDB 11 file written
# by persistence.rdb_save.RecordWriter); where the loader fails, the bytes up to the next
# plausible record boundary are skipped and reported. Still no parser of its own:
#
# * The records come from ``iter_rdb(start=, dbid=, spans=True, check_crc=False)``: a
#   "segment" of the opcode loop that ends at EOF or at the first error (RDBLoadError, with
#   the failing item's offset and, when readable, its key).
# * Resynchronisation is ``rdb_load.resync``: scan forward for an offset where the loader's
#   own decoders read a plausible item (a key/value record, whose value is built and checked
#   exactly as a load checks it: listpack/ziplist/intset integrity, duplicates, stream
#   consistency...) followed by another plausible item. Bytes that cannot start an item cost
#   one set lookup; candidates are decoded in a sliding window (bounded work per candidate).
# * A corrupt length can make a record swallow its successors and "succeed" with a wrong
#   value, so that the error shows up one or more records later. The last HOLD records are
#   therefore held back; after an error whose failing item is no readable record (or has a
#   key that looks like random bytes: a misaligned parse), the scan starts just after the
#   first held record's start (at most BACKSCAN bytes back), and a start found before the
#   failure must begin a run of items that goes past it (resync's ``reach``). A held
#   record that the resynchronised parse finds another record inside is dropped as
#   corrupt; held records entirely before the new start are written; those after it are
#   read again. A failure at or before an earlier one makes the scan start after it, so
#   every round moves forward.
# * Two readings of the same bytes can both be plausible (resync's ``starts``): the load
#   resumes with the one that finds the most records before they meet (the likeliest to
#   see a SELECTDB); the
#   records every reading finds before the point where they meet are pooled, and per key
#   the one with the longest span is written (a late start can miss an EXPIRETIME opcode);
#   keys only a second reading found are reported as ambiguous (they may be bogus).
# * A key seen twice in a database keeps its first record (later ones are reported); a
#   record with an empty key (what zeroed or misread bytes often give: it can swallow the
#   next SELECTDB) makes the load resynchronise after it (the record itself is kept as
#   ambiguous); a function library is kept once.
# * Memory: the records are streamed from the mmap to OUT; what grows with the file is the
#   set of keys written per database (for the duplicate check, as ``rdb diff`` keeps A's
#   keys), a few held records and the pooled records of an ambiguous region.
# * Exit codes: 0 nothing lost (the whole file read and its CRC-64 right, or not stored),
#   1 something lost or suspect (OUT was written with everything readable), 2 the input is
#   unusable (not an RDB of a version this reads, unreadable) or OUT cannot be written.
EXIT_LOST, EXIT_UNUSABLE = 1, 2
HOLD = 4
BACKSCAN = 1 << 20


def _short(b: bytes, limit: int = 60) -> str:
    return _show(b[:limit]) + (f"... ({len(b)} bytes)" if len(b) > limit else "")


def _plausible_key(k) -> bool:
    """A key that looks like one a person chose: printable UTF-8, at most 512 bytes."""
    if k is None or not k or len(k) > 512:
        return k == b""
    try:
        return k.decode("utf-8").isprintable()
    except UnicodeDecodeError:
        return False


def salvage(path: str, out_path: str, report=None, progress=None,
            databases: int = 16) -> dict:
    """Salvage ``path`` into ``out_path``; returns the summary (see ``salvage_cmd``).
    ``report``: a callable given one dict per event (a skipped range, a dropped record).
    ``databases``: a SELECTDB of a higher number counts as corrupt (the server's
    ``databases``).
    Raises RDBLoadError for an unusable header, OSError for unreadable/unwritable files."""
    from collections import deque
    from persistence import rdb_load
    from persistence.crc64 import crc64_lanes
    from persistence.rdb_save import RecordWriter
    from persistence.rdb_primitives import RDBError

    src = Source(path)
    data = src.data
    n = src.size
    try:
        ver, vtypes, ext = rdb_load.read_header(data)
    except rdb_load.RDBLoadError as e:
        src.close()
        raise rdb_load.RDBLoadError(e.reason, path, e.offset) from None
    summary = {"file": path, "out": out_path, "size": n, "rdb_version": ver,
               "keys_written": 0, "keys_per_db": {}, "resizedb_hint": {}, "lost_ranges": 0,
               "lost_bytes": 0, "records_dropped": 0, "duplicates_dropped": 0, "ambiguous_kept": 0,
               "functions": 0, "hash_field_ttls_dropped": 0, "eof_found": False,
               "empty_keys_skipped": 0,
               "checksum": None}
    events = []

    def emit(ev):
        events.append(ev)
        if report is not None:
            report(ev)

    seen: dict = {}
    codes: set = set()
    fout = open(out_path, "wb")
    try:
        w = RecordWriter(fout)

        def commit(rec):
            dbid, key, val, exp, idle, freq = rec[:6]
            keys = seen.setdefault(dbid, set())
            if key in keys:
                summary["duplicates_dropped"] += 1
                emit({"event": "duplicate", "db": dbid, "key": _short(key),
                      "offset": rec[6], "end": rec[7]})
                return
            keys.add(key)
            if getattr(val, "TYPE_NAME", None) == "hash" and val.volatile_count():
                summary["hash_field_ttls_dropped"] += val.volatile_count()
            w.add(dbid, key, val, exp, idle, freq)
            summary["keys_per_db"][dbid] = summary["keys_per_db"].get(dbid, 0) + 1

        def functions(info):
            for code in info.get("function_codes", ()):
                if code not in codes:
                    codes.add(code)
                    w.function(code)
                    summary["functions"] += 1

        pos, dbid = 9, 0
        held: deque = deque()
        pool: list = []          # the records of every reading of an ambiguous region
        region_end = -1          # where the readings of the last resynchronisation meet

        def flush_pool():
            """Per key, the record with the longest span (a reading that starts late can
            miss a record's EXPIRETIME opcode), the main reading's on a tie (its database
            is the likeliest right); keys only other readings found are reported."""
            best: dict = {}
            for rec in pool:
                b = best.get(rec[1])
                if b is None or (rec[7] - rec[6], rec[8]) > (b[7] - b[6], b[8]):
                    best[rec[1]] = rec
            main = {id(r) for r in pool if r[8]}
            for rec in sorted(best.values(), key=lambda r: r[6]):
                if id(rec) not in main and rec[1] not in seen.get(rec[0], ()):
                    summary["ambiguous_kept"] += 1
                    emit({"event": "ambiguous", "db": rec[0], "key": _short(rec[1]),
                          "offset": rec[6], "end": rec[7],
                          "reason": "read from a second plausible parse of these bytes; it "
                                    "may be bogus"})
                commit(rec[:8])
            pool.clear()
        floor = -1               # the furthest failure so far
        while True:
            recs = rdb_load.iter_rdb(data, name=path, start=pos, dbid=dbid, spans=True,
                                     check_crc=False, progress=progress, databases=databases)
            failed = None
            try:
                for rec in recs:
                    if not rec[1]:
                        # legal but rare, and what misread bytes often give (zeroed bytes
                        # read as an empty key): resynchronise after it; it is kept as
                        # ambiguous unless another reading explains those bytes
                        failed = (rec[6], "a record with an empty key (zeroed or misread "
                                          "bytes?)", None)
                        pool.append(rec + (False,))
                        region_end = max(region_end, rec[7])
                        break
                    functions(recs.info)
                    if rec[6] < region_end:
                        pool.append(rec + (True,))
                        continue
                    if pool:
                        flush_pool()
                    held.append(rec)
                    if len(held) > HOLD:
                        commit(held.popleft())
            except rdb_load.RDBLoadError as e:
                failed = (e.offset, e.reason, e.key)
            functions(recs.info)
            if pool:
                flush_pool()
            for d, hint in recs.info.get("resizedb", {}).items():
                summary["resizedb_hint"].setdefault(d, hint[0])
            summary["empty_keys_skipped"] += recs.info["empty_keys_skipped"]
            if failed is None:                    # EOF reached
                while held:
                    commit(held.popleft())
                summary["eof_found"] = True
                end = recs.info["end"]
                eof_end = recs.info["eof_end"]
                if ver >= 5 and eof_end + 8 > n:
                    summary["checksum"] = "truncated"
                elif ver >= 5 and not summary["lost_ranges"]:
                    stored = int.from_bytes(bytes(data[eof_end:eof_end + 8]), "little")
                    if stored == 0:
                        summary["checksum"] = "disabled"
                    else:
                        ok = crc64_lanes(0, memoryview(data)[:eof_end]) == stored
                        summary["checksum"] = "ok" if ok else "mismatch"
                if end < n:
                    summary["trailing_bytes"] = n - end
                break
            fail_at, reason, fkey = failed
            cur_db = recs.info.get("dbid", dbid)
            chain = {r[6] for r in held}
            chain.add(fail_at)
            if fail_at <= floor:                  # the same ground again: go past it
                origin = floor + 1
            elif held and not _plausible_key(fkey):
                # the failing item is no readable key/value record (or its key looks like
                # random bytes): the parse may have lost its alignment earlier (a corrupt
                # length), so look back into the held records
                origin = max(held[0][6] + 1, fail_at - BACKSCAN)
            else:
                origin = fail_at + 1
            floor = max(floor, fail_at)

            def accept(c, chain=chain):
                # a start the failed parse went through would only fail again (resync's
                # ``reach`` rule rejects those anyway; this is the cheap test)
                return c not in chain
            try:
                found = rdb_load.resync(data, origin, ver, vtypes, ext, accept, fail_at)
            except RDBError:
                found = None
            c = found[0][0] if found else None
            # a new start inside a held record whose first item jumps over the failure, or
            # is big (possibly a bogus item that swallowed real ones), does not show that
            # the held record was misread: it is kept (as ambiguous)
            jump = found is not None and c <= fail_at and (
                found[3] > fail_at or found[3] - c > rdb_load._SPONGE)
            resume = c if c is not None else n
            lost_from = fail_at
            next_db = None
            kept_db = None
            while held:
                r = held.popleft()
                if r[7] <= resume:
                    commit(r)
                    kept_db = r[0]
                elif jump:
                    pool.append(r + (False,))
                    region_end = max(region_end, r[7])
                    if next_db is None:
                        next_db = r[0]
                elif r[6] < resume:
                    summary["records_dropped"] += 1
                    lost_from = min(lost_from, r[6])
                    emit({"event": "dropped", "db": r[0], "key": _short(r[1]),
                          "offset": r[6], "end": r[7],
                          "reason": "a record found inside it: its length was corrupt"})
                else:
                    if next_db is None:
                        next_db = r[0]
                    lost_from = min(lost_from, r[6])
            if next_db is None:
                next_db = cur_db if resume > fail_at or kept_db is None else kept_db
            lost_from = min(lost_from, resume)
            summary["lost_ranges"] += 1
            summary["lost_bytes"] += max(0, resume - lost_from)
            emit({"event": "skipped", "db": cur_db, "offset": lost_from, "end": resume,
                  "bytes": max(0, resume - lost_from), "error_offset": fail_at,
                  "reason": reason, "key": _short(fkey) if fkey is not None else None})
            if c is None:
                break
            starts, meets, others, _first_end = found
            m = max(meets, default=-1)
            region_end = max(region_end, m)
            for a, e in others:
                # a big item a resynchronisation passed over for a run found inside it
                try:
                    for rec in rdb_load.iter_rdb(data, name=path, start=a, dbid=next_db,
                                                 spans=True, check_crc=False):
                        if rec[7] <= e:
                            pool.append(rec + (False,))
                        break
                except rdb_load.RDBLoadError:
                    pass
                region_end = max(region_end, e)
            readings = {}
            for a in starts if len(starts) > 1 else ():
                # each plausible reading of the bytes up to m, where they all meet
                keep = []
                try:
                    for rec in rdb_load.iter_rdb(data, name=path, start=a, dbid=next_db,
                                                 spans=True, check_crc=False):
                        if rec[7] > m:
                            break
                        keep.append(rec)
                except rdb_load.RDBLoadError:
                    pass
                readings[a] = keep
            # the load resumes with the reading that finds the most records there, the
            # earliest of those on a tie (the likeliest to see a SELECTDB or an EXPIRETIME
            # opcode); the others' records go to the pool
            best = max(starts, key=lambda a: len(readings.get(a, ())))   # ties: earliest
            for a, keep in readings.items():
                if a != best:
                    pool.extend(rec + (False,) for rec in keep)
            pos, dbid = best, next_db
        summary["keys_written"] = w.close()
    finally:
        fout.close()
        src.close()
    summary["keys_per_db"] = {str(k): v for k, v in sorted(summary["keys_per_db"].items())}
    summary["resizedb_hint"] = {str(k): v for k, v in sorted(summary["resizedb_hint"].items())}
    summary["events"] = events
    summary["lost"] = bool(summary["lost_ranges"] or summary["records_dropped"]
                           or summary["duplicates_dropped"] or not summary["eof_found"]
                           or summary["checksum"] in ("mismatch", "truncated"))
    return summary


def format_salvage(s: dict) -> str:
    out = [f"{s['file']}: RDB version {s['rdb_version']}, {s['size']} bytes"]
    for ev in s["events"]:
        if ev["event"] == "skipped":
            key = f" (key {ev['key']})" if ev.get("key") else ""
            out.append(f"  skipped bytes {ev['offset']}..{ev['end']} ({ev['bytes']} bytes, "
                       f"db {ev['db']}): {ev['reason']} at offset {ev['error_offset']}{key}")
        elif ev["event"] == "dropped":
            out.append(f"  dropped key {ev['key']} (db {ev['db']}, bytes {ev['offset']}.."
                       f"{ev['end']}): {ev['reason']}")
        elif ev["event"] == "ambiguous":
            out.append(f"  kept key {ev['key']} (db {ev['db']}, bytes {ev['offset']}.."
                       f"{ev['end']}) from a second plausible reading: it may be bogus")
        else:
            out.append(f"  dropped a second record of key {ev['key']} (db {ev['db']}, "
                       f"offset {ev['offset']})")
    for db, n in s["keys_per_db"].items():
        hint = s["resizedb_hint"].get(db)
        h = f" (the file announced {hint})" if hint is not None else ""
        out.append(f"  db{db}: {n} keys written{h}")
    for db, hint in s["resizedb_hint"].items():
        if db not in s["keys_per_db"]:
            out.append(f"  db{db}: 0 keys written (the file announced {hint})")
    if s["functions"]:
        out.append(f"  {s['functions']} function librar{'y' if s['functions'] == 1 else 'ies'}"
                   " written")
    if s["empty_keys_skipped"]:
        out.append(f"  {s['empty_keys_skipped']} empty collection(s) skipped, as a load "
                   "skips them")
    if s["hash_field_ttls_dropped"]:
        out.append(f"  {s['hash_field_ttls_dropped']} hash field TTLs not kept (RDB 11 has "
                   "no format for them)")
    if not s["eof_found"]:
        out.append("  no end-of-file marker found: the file is truncated or its end is lost")
    if s["checksum"] == "truncated":
        out.append("  the CRC-64 after the end-of-file marker is cut short")
    if s["checksum"] == "mismatch":
        out.append("  CRC-64 mismatch: some bytes changed where the format cannot tell "
                   "(inside string values?)")
    verdict = ("nothing lost" if not s["lost"] else
               f"{s['lost_ranges']} range(s), {s['lost_bytes']} bytes skipped, "
               f"{s['records_dropped'] + s['duplicates_dropped']} record(s) dropped")
    out.append(f"{s['out']}: {s['keys_written']} keys written; {verdict}")
    return "\n".join(out)


@rdb.command("salvage")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every skipped range and dropped record, then the summary, "
                   "as JSON lines to this file.")
@click.option("--databases", type=click.IntRange(1), default=16, show_default=True,
              help="The databases of the server OUT is for: a higher SELECTDB is corrupt.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on standard error.")
def salvage_cmd(file, out, report_path, databases, quiet):
    """Copy every record that can be read from a damaged FILE into a new, valid RDB file
    OUT (RDB 11), skipping corrupt records, and report what was lost on standard error.
    Exit codes: 0 nothing lost, 1 something lost (OUT written with all that could be read),
    2 FILE unusable (not an RDB this reads, unreadable) or OUT not writable."""
    from persistence.rdb_load import RDBLoadError
    if os.path.abspath(file) == os.path.abspath(out):
        click.echo("rdb salvage: OUT must be another file than FILE", err=True)
        sys.exit(EXIT_UNUSABLE)
    rfh = open(report_path, "w") if report_path else None

    def report(ev):
        if rfh is not None:
            rfh.write(json.dumps(ev) + "\n")
    prog = Progress("rdb salvage")
    try:
        s = salvage(file, out, report, prog, databases)
    except RDBLoadError as e:
        prog.done()
        click.echo(f"{file}: unusable: {e.reason}", err=True)
        sys.exit(EXIT_UNUSABLE)
    except OSError as e:
        prog.done()
        click.echo(f"rdb salvage: {e.filename or file}: {e.strerror or e}", err=True)
        sys.exit(EXIT_UNUSABLE)
    finally:
        prog.done()
    if rfh is not None:
        rfh.write(json.dumps({k: v for k, v in s.items() if k != "events"}
                             | {"event": "summary"}) + "\n")
        rfh.close()
    if not quiet:
        click.echo(format_salvage(s), err=True)
    sys.exit(EXIT_LOST if s["lost"] else EXIT_OK)
