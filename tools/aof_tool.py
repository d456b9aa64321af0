"""``valkeyd aof info|check|fix|dump|truncate-to-timestamp|restore``: append-only file tools
(issue #8), thin commands over the server's own AOF reader.

Design
------
* No parser of its own. Commands and annotations come from :func:`persistence.aof.iter_aof`,
  the loop the server's loader runs (``strict=True`` adds valkey-check-aof's checks: ``\\r\\n``
  after every count and bulk); the manifest from :class:`persistence.aof.Manifest` (the
  server's aofLoadManifestFromFile, same errors); an RDB base or preamble from
  :func:`persistence.rdb_load.iter_rdb` (the RDB loader, its end offset is where the AOF tail
  starts). ``restore --format rdb`` loads the cut AOF with the server's own loader
  (:func:`persistence.aof.load_dir`) into an offline ``Server`` and writes it with
  :func:`persistence.rdb_save.write_rdb`.
* Input (``DIR_OR_FILE``): an AOF directory (the one holding the manifest), a data directory
  holding ``appendonlydir/``, a manifest file, or one single AOF file (Redis < 7 style, plain
  or with an RDB preamble, or one base/incr file on its own: it is then the "last file").
* Bounded memory: every file is ``mmap``-ed and read in place; records are handed out one at a
  time. A progress bar (bytes over all the files) goes to standard error only when it is a
  terminal (tools/rdb_tool.py's ``Progress``).
* ``check`` follows valkey-check-aof 8.0.1 (= redis-check-aof 7.2.4): the manifest must parse,
  every file it lists must exist and parse; an RDB base must be a sound RDB; the files are
  checked in load order (base, then incr) and the first problem stops the check; a MULTI
  inside a MULTI, an EXEC without MULTI or a MULTI not closed at the end of a file is a
  problem; an empty file is fine; annotations are skipped. The "valid up to" offset is the end
  of the last whole command outside a transaction. Stricter than valkey-check-aof on one
  point: a command count below 1 (``*0``) is a problem (the server refuses such a file).
* ``fix`` truncates the file with the first problem at that offset, as ``valkey-check-aof
  --fix``, only when it is the last file (the last incr file of a directory; a single file);
  a problem in another file, a bad manifest or a corrupt RDB base cannot be fixed. Before
  writing anything it copies the manifest and the file to be truncated into a backup
  directory beside the AOF directory (``<aofdir>.bak-<UTC time>/``; ``<file>.bak-<UTC time>``
  for a single file) and says where. It asks for confirmation only when standard input is a
  terminal (``--yes`` skips it).
* ``truncate-to-timestamp TS`` follows ``valkey-check-aof --truncate-to-timestamp``: files are
  checked in order until the first ``#TS:`` annotation later than TS; the file holding it is
  truncated at that annotation, which must be in the last file (else nothing is changed and the
  exit code is 1), and must not be at offset 0 (nothing before TS: exit 1). Nothing later than
  TS: nothing is truncated (exit 0). A problem found before the cut: exit 1. Differences: a
  backup is made first (as ``fix``), and a cut that would fall inside a MULTI block moves to
  the MULTI (never leaving a dangling transaction).
* ``restore DIR --to TS --out NEWDIR`` (beyond Redis): see :func:`plan_restore` for what
  "as of TS" means. The source is only read.
* Exit codes: 0 success (check: the AOF is valid); 1 the AOF is invalid, corrupt or truncated,
  or the operation cannot be done on it (the same cases as valkey-check-aof's 1); 2 usage
  errors and unreadable input paths (a missing file *listed in the manifest* is 1, as
  valkey-check-aof).
"""
from __future__ import annotations

import json
import mmap
import os
import shutil
import sys
import time
from datetime import datetime, timezone

import click

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


class AofToolError(Exception):
    def __init__(self, msg: str, code: int = EXIT_BAD):
        super().__init__(msg)
        self.code = code


# -- input ---------------------------------------------------------------------------------------
class AofInput:
    """What DIR_OR_FILE names: ``kind`` "multi" (``dir``, ``manifest_name``, ``manifest``) or
    "single"; ``files`` in load order as (name, path, type) with type "b", "i" or "s"."""

    def __init__(self, kind, dir_=None, manifest_name=None, manifest=None, files=()):
        self.kind = kind
        self.dir = dir_
        self.manifest_name = manifest_name
        self.manifest = manifest
        self.files = list(files)

    @property
    def manifest_path(self):
        return os.path.join(self.dir, self.manifest_name)


def _is_manifest(path: str) -> bool:
    """valkey-check-aof's fileIsManifest: a non-comment line starting with "file"."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > (1 << 20):   # a manifest is small
                head = f.read(1 << 16)
                return any(ln.startswith(b"file") for ln in head.split(b"\n")[:-1]
                           if not ln.startswith(b"#"))
            return any(ln.startswith(b"file") for ln in f.read().split(b"\n")
                       if not ln.startswith(b"#"))
    except OSError as e:
        raise AofToolError(f"{path}: cannot read: {e.strerror or e}", EXIT_USAGE) from None


def resolve(path: str) -> AofInput:
    from persistence.aof import Manifest, ManifestError
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(".manifest"))
        if not names:
            sub = os.path.join(path, "appendonlydir")
            if os.path.isdir(sub):
                return resolve(sub)
            raise AofToolError(f"{path}: no AOF manifest (*.manifest) and no appendonlydir/ "
                               f"in it", EXIT_USAGE)
        name = "appendonly.aof.manifest" if "appendonly.aof.manifest" in names else names[0]
        dir_, mpath = path, os.path.join(path, name)
    elif os.path.isfile(path):
        if not _is_manifest(path):
            return AofInput("single", files=[(path, path, "s")])
        dir_, mpath = os.path.dirname(path) or ".", path
        name = os.path.basename(path)
    else:
        raise AofToolError(f"{path}: no such file or directory", EXIT_USAGE)
    try:
        with open(mpath, "rb") as f:
            text = f.read()
    except OSError as e:
        raise AofToolError(f"{mpath}: cannot read: {e.strerror or e}", EXIT_USAGE) from None
    try:
        m = Manifest.parse(text)
    except ManifestError as e:
        msg, num, line = (list(e.args) + [None, None])[:3]
        where = f" at line {num}" if num else ""
        shown = f" ('{line}')" if line is not None else ""
        raise AofToolError(f"{mpath}: bad AOF manifest{where}{shown}: {msg}") from None
    files = ([(m.base[0], os.path.join(dir_, m.base[0]), "b")] if m.base else []) + \
        [(n, os.path.join(dir_, n), "i") for n, _s, _t in m.incr]
    if not files:
        raise AofToolError(f"{mpath}: the manifest lists no base and no incr file")
    return AofInput("multi", dir_, name, m, files)


# -- scanning one file ---------------------------------------------------------------------------
class FileScan:
    """The result of :func:`scan_file` for one file."""

    def __init__(self, name, path, typ):
        self.name, self.path, self.type = name, path, typ
        self.size = 0
        self.rdb = None            # {"version", "keys", "ctime", "end", "checksum", ...}
        self.commands = 0
        self.transactions = 0
        self.annotations = 0
        self.first_ts = self.last_ts = None
        self.ok_up_to = 0          # end of the last whole command outside a MULTI
        self.problem = None        # (offset, message, truncated)
        self.cut = None            # truncate-to-timestamp / restore: offset of the cut
        self.cut_ts = None


def _ts_str(ts) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def scan_file(name, path, typ, *, to_ts=None, visit=None, progress=None, done=0, total=0,
              cur_ts=None, rdb_commands=None):
    """valkey-check-aof's checkSingleAof over one file, also counting for ``info``.
    ``to_ts``: stop at the first ``#TS:`` annotation later than it (``cut``; a cut inside a
    MULTI moves to the MULTI). ``visit(argv, offset, db, ts, in_multi)`` sees every command
    (``dump``); ``visit(None, offset, None, ts, info)`` sees an RDB base (``info`` its
    summary). ``cur_ts``: the annotation time carried from the previous file.
    ``rdb_commands(argv)``: an RDB preamble's keys as rewrite commands (``dump --base
    commands``)."""
    from persistence.aof import AofParseError, annotation_time, iter_aof
    from tools.rdb_tool import Source
    s = FileScan(name, path, typ)
    s.end_ts = ts = cur_ts
    try:
        src = Source(path)
    except OSError as e:
        s.problem = (0, f"cannot open the file: {e.strerror or e}", False)
        return s
    try:
        data = src.data
        s.size = n = src.size
        if n == 0:
            return s
        pos = 0
        if n >= 8 and data[:5] == b"REDIS":   # valkey-check-aof's fileIsRDB
            emit_rdb = None
            if rdb_commands is not None:
                base_ts = cur_ts if cur_ts is not None else _ctime(data)
                emit_rdb = (lambda argv: rdb_commands(argv, base_ts))
            pos = _scan_rdb(s, data, name, visit, progress, done, total, emit_rdb)
            if s.problem is not None:
                return s
            if s.rdb.get("ctime") is not None and cur_ts is None:
                cur_ts = s.rdb["ctime"]
        s.ok_up_to = pos
        ts = cur_ts
        s.end_ts = ts
        db = 0
        in_multi = False
        multi_start = 0
        last_prog = dropped = pos
        try:
            for argv, start, stop in iter_aof(data, pos, strict=True):
                if stop - last_prog > (1 << 20):
                    if progress is not None:
                        progress(done + stop, total)
                    last_prog = stop
                    if stop - dropped > _DROP and src.map is not None:
                        dropped = _drop_pages(src.map, dropped, stop)
                if type(argv) is not list:
                    s.annotations += 1
                    try:
                        t = annotation_time(argv)
                    except ValueError as e:
                        if to_ts is not None:   # valkey-check-aof reads them only then
                            s.problem = (start, str(e), False)
                            return s
                        t = None
                    if t is not None:
                        if to_ts is not None and t > to_ts:
                            s.cut = multi_start if in_multi else start
                            s.cut_ts = t
                            return s
                        ts = t
                        if s.first_ts is None:
                            s.first_ts = t
                        s.last_ts = t
                    if not in_multi:
                        s.ok_up_to = stop
                    continue
                name0 = argv[0].lower()
                if name0 == b"multi":
                    if in_multi:
                        s.problem = (start, "MULTI inside a MULTI block", False)
                        return s
                    in_multi = True
                    multi_start = start
                    s.transactions += 1
                elif name0 == b"exec":
                    if not in_multi:
                        s.problem = (start, "EXEC without MULTI", False)
                        return s
                    in_multi = False
                elif name0 == b"select" and len(argv) > 1:
                    try:
                        db = int(argv[1])
                    except ValueError:
                        pass
                s.commands += 1
                if visit is not None:
                    visit(argv, start, db, ts, in_multi or name0 == b"exec")
                if not in_multi:
                    s.ok_up_to = stop
            if in_multi:
                s.problem = (n, "the file ends inside a MULTI block (no EXEC)", True)
        except AofParseError as e:
            s.problem = (e.offset, e.reason, e.truncated)
        return s
    finally:
        if s.size:
            s.end_ts = ts
        src.close()


def _rdb_as_commands(recs, emit) -> None:
    """An RDB's records as the commands the AOF rewrite writes for them (``valkeyd rdb dump
    --format resp``'s path: persistence.aof.rewrite_commands), read back with the AOF reader;
    ``emit(argv)`` per command."""
    from persistence.aof import AofParseError, iter_aof
    from tools.rdb_tool import dump_resp
    buf = bytearray()

    def drain(final: bool) -> None:
        pos = 0
        data = bytes(buf)
        try:
            for argv, _start, stop in iter_aof(data):
                emit(argv)
                pos = stop
        except AofParseError as e:
            if final or not e.truncated:
                raise
            pos = e.start
        del buf[:pos]

    class _Out:
        @staticmethod
        def write(b):
            buf.extend(b)
            if len(buf) > (1 << 16):
                drain(False)

        @staticmethod
        def flush():
            pass
    dump_resp(recs, _Out, recs.info)
    drain(True)


_DROP = 16 << 20


def _drop_pages(m, start: int, upto: int) -> int:
    """Tell the kernel the mapped pages already read are not needed any more (the resident
    set of a scan of a multi-GB file then stays flat); returns the new start."""
    a = start - start % mmap.PAGESIZE
    b = upto - upto % mmap.PAGESIZE
    if b > a and hasattr(m, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            m.madvise(mmap.MADV_DONTNEED, a, b - a)
        except (OSError, ValueError):
            pass
    return b


def _scan_rdb(s, data, name, visit, progress, done, total, rdb_commands=None):
    from persistence.rdb_load import RDBLoadError, iter_rdb

    def prog(pos, tot):
        if progress is not None:
            progress(done + pos, total)
    keys = 0
    dbs: dict = {}
    try:
        recs = iter_rdb(data, name=name, progress=prog)
        if rdb_commands is not None:
            def counted():
                nonlocal keys
                for rec in recs:
                    keys += 1
                    dbs[rec[0]] = dbs.get(rec[0], 0) + 1
                    yield rec
            counted_recs = counted()

            class _Recs:   # what dump_resp reads: iteration and ``info``
                info = recs.info

                def __iter__(self):
                    return counted_recs
            _rdb_as_commands(_Recs(), rdb_commands)
        else:
            for dbid, _k, _v, _e, _i, _f in recs:
                keys += 1
                dbs[dbid] = dbs.get(dbid, 0) + 1
    except RDBLoadError as e:
        s.problem = (max(e.offset, 0), f"the RDB preamble is not sound: {e.reason}", False)
        s.rdb = {}
        return 0
    info = recs.info
    aux = info.get("aux", {})
    ctime = aux.get(b"ctime")
    try:
        ctime = int(ctime) if ctime is not None else None
    except ValueError:
        ctime = None
    s.rdb = {"version": info["version"], "keys": keys, "databases": dbs, "end": info["end"],
             "checksum": info["checksum"], "ctime": ctime, "functions": info["functions"],
             "aof_base": bool(info.get("aof_base"))}
    if visit is not None:
        visit(None, 0, None, ctime, s.rdb)
    return info["end"]


def _scan_all(inp: AofInput, label: str, **kw):
    """scan_file over the input's files in order, stopping at the first problem (or cut);
    returns the scans."""
    from tools.rdb_tool import Progress
    total = 0
    for _n, p, _t in inp.files:
        try:
            total += os.path.getsize(p)
        except OSError:
            pass
    prog = Progress(label)
    scans = []
    done = 0
    cur_ts = None
    try:
        for name, path, typ in inp.files:
            s = scan_file(name, path, typ, progress=prog, done=done, total=total,
                          cur_ts=cur_ts, **kw)
            scans.append(s)
            cur_ts = s.end_ts
            done += s.size
            if s.problem is not None or s.cut is not None:
                break
        prog(total, total)
    finally:
        prog.done()
    return scans


def _kind(s: FileScan) -> str:
    return {"b": "base", "i": "incr", "s": "file"}[s.type]


def _problem_text(s: FileScan) -> str:
    off, msg, trunc = s.problem
    if msg.startswith("cannot open"):
        return f"{s.path}: {msg}"
    tail = s.size - s.ok_up_to
    return (f"{s.path}: {'truncated' if trunc else 'error'} at offset {off}: {msg}; valid up "
            f"to offset {s.ok_up_to} ({tail} byte{'s' if tail != 1 else ''} after it)")


# -- info ----------------------------------------------------------------------------------------
def collect_info(path: str) -> dict:
    inp = resolve(path)
    scans = _scan_all(inp, "aof info")
    files = []
    for s in scans:
        f = {"name": s.name, "kind": _kind(s), "size": s.size,
             "format": ("rdb-preamble" if s.rdb is not None else
                        ("empty" if s.size == 0 else "resp")),
             "commands": s.commands, "transactions": s.transactions,
             "annotations": s.annotations, "first_ts": s.first_ts, "last_ts": s.last_ts}
        if s.rdb:
            f["rdb"] = {k: v for k, v in s.rdb.items() if k != "databases"}
            f["rdb"]["databases"] = {str(k): v for k, v in sorted(s.rdb["databases"].items())}
        if inp.kind == "multi":
            seq = {n: q for n, q, _t in ([inp.manifest.base] if inp.manifest.base else []) +
                   inp.manifest.incr}
            f["seq"] = seq.get(s.name)
        if s.problem is not None:
            f["problem"] = {"offset": s.problem[0], "message": s.problem[1],
                            "truncated": s.problem[2], "valid_up_to": s.ok_up_to}
        files.append(f)
    r = {"input": path, "kind": inp.kind, "files": files,
         "total_size": sum(s.size for s in scans),
         "commands": sum(s.commands for s in scans),
         "first_ts": next((s.first_ts for s in scans if s.first_ts is not None), None),
         "last_ts": next((s.last_ts for s in reversed(scans) if s.last_ts is not None), None),
         "valid": all(s.problem is None for s in scans) and len(scans) == len(inp.files)}
    if inp.kind == "multi":
        m = inp.manifest
        r["dir"] = inp.dir
        r["manifest"] = {"name": inp.manifest_name,
                         "base": ({"name": m.base[0], "seq": m.base[1]} if m.base else None),
                         "incr": [{"name": n, "seq": q} for n, q, _t in m.incr],
                         "history": [{"name": n, "seq": q} for n, q, _t in m.history]}
        base = scans[0] if scans and scans[0].type == "b" else None
        r["base_format"] = (None if base is None else
                            "rdb-preamble" if base.rdb is not None else "resp")
        if len(scans) < len(inp.files):
            r["not_scanned"] = [n for n, _p, _t in inp.files[len(scans):]]
    else:
        r["base_format"] = "rdb-preamble" if scans and scans[0].rdb is not None else "resp"
    return r


def format_info(r: dict) -> str:
    out = []
    if r["kind"] == "multi":
        m = r["manifest"]
        out.append(f"AOF directory:  {r['dir']} (multi-part, manifest {m['name']})")
        out.append("Manifest:")
        if m["base"]:
            out.append(f"  base     seq {m['base']['seq']:<4} {m['base']['name']}")
        for h in m["history"]:
            out.append(f"  history  seq {h['seq']:<4} {h['name']}")
        for i in m["incr"]:
            out.append(f"  incr     seq {i['seq']:<4} {i['name']}")
        out.append(f"Base format:    {r['base_format'] or 'no base file'}")
    else:
        out.append(f"AOF file:       {r['input']} (single file, "
                   f"{'with an RDB preamble' if r['base_format'] == 'rdb-preamble' else 'plain'})")
    out.append(f"Total size:     {r['total_size']} bytes, {r['commands']} commands")
    out.append(f"Timestamps:     first {_ts_str(r['first_ts'])} ({r['first_ts']}), last "
               f"{_ts_str(r['last_ts'])} ({r['last_ts']})" if r["first_ts"] is not None
               else "Timestamps:     no #TS annotations (aof-timestamp-enabled was off)")
    out.append("Files:")
    for f in r["files"]:
        line = f"  {f['kind']:<5} {f['name']}: {f['size']} bytes, {f['format']}"
        if f.get("rdb"):
            rd = f["rdb"]
            line += (f" (RDB {rd['version']}, {rd['keys']} keys, created "
                     f"{_ts_str(rd['ctime'])})")
        line += f", {f['commands']} commands"
        if f["transactions"]:
            line += f" ({f['transactions']} MULTI blocks)"
        if f["first_ts"] is not None:
            line += f", {_ts_str(f['first_ts'])} .. {_ts_str(f['last_ts'])}"
        out.append(line)
        if "problem" in f:
            p = f["problem"]
            out.append(f"        {'TRUNCATED' if p['truncated'] else 'ERROR'} at offset "
                       f"{p['offset']}: {p['message']} (valid up to {p['valid_up_to']})")
    for n in r.get("not_scanned", ()):
        out.append(f"  (not read: {n}, after the problem above)")
    out.append("Verdict:        " + ("valid" if r["valid"] else
                                     "NOT valid (see `valkeyd aof check`)"))
    return "\n".join(out)


# -- check / fix / truncate-to-timestamp -------------------------------------------------------
def _echo(msg: str) -> None:
    click.echo(msg)


def run_check(path: str, mode: str = "check", to_ts=None, yes=False, backup_dir=None) -> int:
    """check, fix and truncate-to-timestamp (valkey-check-aof's main): prints a line per
    file and returns the exit code."""
    inp = resolve(path)
    scans = _scan_all(inp, "aof " + mode, to_ts=to_ts)
    if inp.kind == "multi":
        m = inp.manifest
        _echo(f"Checking the multi-part AOF {inp.manifest_path}: "
              f"{'1 base, ' if m.base else 'no base, '}{len(m.incr)} incr, "
              f"{len(m.history)} history file(s)")
    for i, s in enumerate(scans):
        last = i == len(inp.files) - 1
        what = f"{_kind(s)} {s.name}"
        if s.problem is not None:
            _echo(_problem_text(s))
            if s.problem[1].startswith("cannot open") or (s.rdb is not None and not s.rdb) \
                    or s.problem[1].startswith("invalid timestamp annotation"):
                if mode != "check":
                    _echo("Nothing was changed: this cannot be repaired by truncating")
                return EXIT_BAD     # nothing can be truncated
            if mode == "check":
                _echo(f"The AOF is NOT valid: the first problem is in {s.name} at offset "
                      f"{s.problem[0]}; `valkeyd aof fix` can truncate it to {s.ok_up_to} "
                      f"bytes" + ("" if last else " only if it were the last file"))
                return EXIT_BAD
            if mode == "truncate-to-timestamp":
                _echo(f"The AOF is NOT valid before timestamp {to_ts}; nothing was "
                      f"truncated (use `valkeyd aof fix` first)")
                return EXIT_BAD
            if not last:
                _echo(f"Cannot fix: {s.name} is not the last file (only the last incr file "
                      f"may be truncated)")
                return EXIT_BAD
            return _truncate(inp, s, s.ok_up_to, "fix", yes, backup_dir)
        if s.cut is not None:
            if s.cut == 0:
                _echo(f"{s.path}: nothing before timestamp {to_ts} (its first annotation "
                      f"is #TS:{s.cut_ts}); nothing was truncated")
                return EXIT_BAD
            if not last:
                _echo(f"Cannot truncate {s.name} to timestamp {to_ts} at offset {s.cut}: it "
                      f"is not the last file (the files after it would have to be removed "
                      f"from the manifest; `valkeyd aof restore` does that into a new "
                      f"directory)")
                return EXIT_BAD
            return _truncate(inp, s, s.cut, f"truncate to timestamp {to_ts}", yes, backup_dir)
        if s.size == 0:
            _echo(f"{what}: empty")
        elif s.rdb is not None:
            _echo(f"{what}: OK, {s.size} bytes: RDB preamble ({s.rdb['keys']} keys, RDB "
                  f"{s.rdb['version']}) then {s.commands} commands")
        else:
            _echo(f"{what}: OK, {s.size} bytes, {s.commands} commands")
    if mode == "truncate-to-timestamp":
        _echo(f"Nothing to truncate: no annotation is later than timestamp {to_ts}")
    elif mode == "fix":
        _echo("The AOF is valid: nothing to fix")
    else:
        _echo("The AOF is valid" + (" (manifest and every file)" if inp.kind == "multi"
                                    else ""))
    return EXIT_OK


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def make_backup(inp: AofInput, s: FileScan, backup_dir=None) -> str:
    """Copy what a truncation changes (the file, and the manifest) into a new directory;
    returns its path."""
    if inp.kind == "multi":
        dest = backup_dir or (os.path.abspath(inp.dir).rstrip("/") + ".bak-" + _stamp())
        os.makedirs(dest, exist_ok=backup_dir is not None)
        shutil.copy2(inp.manifest_path, os.path.join(dest, inp.manifest_name))
        shutil.copy2(s.path, os.path.join(dest, s.name))
    else:
        dest = backup_dir or (os.path.abspath(s.path) + ".bak-" + _stamp())
        if backup_dir:
            os.makedirs(dest, exist_ok=True)
            dest = os.path.join(dest, os.path.basename(s.path))
        if os.path.exists(dest):
            raise AofToolError(f"{dest}: exists already", EXIT_USAGE)
        shutil.copy2(s.path, dest)
    return dest


def _truncate(inp, s, at, why, yes, backup_dir) -> int:
    cut = s.size - at
    _echo(f"{why}: {s.name} shrinks from {s.size} to {at} bytes ({cut} bytes removed)")
    if not yes and _stdin_tty():
        if not click.confirm("Continue?", default=False):
            _echo("Aborted: nothing was changed")
            return EXIT_BAD
    try:
        dest = make_backup(inp, s, backup_dir)
    except OSError as e:
        _echo(f"Cannot make the backup: {e.strerror or e}; nothing was changed")
        return EXIT_BAD
    _echo(f"Backup of the original{' file and manifest' if inp.kind == 'multi' else ''}: "
          f"{dest}")
    try:
        fd = os.open(s.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, at)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        _echo(f"Cannot truncate {s.path}: {e.strerror or e}")
        return EXIT_BAD
    _echo(f"Truncated {s.path} to {at} bytes")
    return EXIT_OK


def _stdin_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


# -- dump ----------------------------------------------------------------------------------------
def _repr_arg(b: bytes, limit: int = 0) -> str:
    """An argument as redis-cli shows it: bare when printable without spaces or quotes,
    else double-quoted with escapes (sdscatrepr); longer than ``limit`` bytes (when not 0):
    its first ``limit`` bytes then ``...(<n> bytes)``."""
    if limit and len(b) > limit:
        return _repr_arg(b[:limit]) + "...(%d bytes)" % len(b)
    if b and all(33 <= c <= 126 and c not in (34, 39, 92) for c in b):
        return b.decode("ascii")
    from valkeyd.sds import catrepr
    r = catrepr(bytes(b))
    return r if isinstance(r, str) else r.decode("latin-1")


def _ctime(data):
    """An RDB's ctime AUX field, read by the loader (for dump --base commands' time column)."""
    from persistence.rdb_load import RDBLoadError, iter_rdb
    recs = iter_rdb(data)
    try:
        next(iter(recs), None)   # the AUX fields come before the first key
    except RDBLoadError:
        return None
    v = recs.info.get("aux", {}).get(b"ctime")
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def dump(path: str, out, fmt: str, dbs=(), since=None, until=None, limit=0,
         base="summary", escape="utf8") -> None:
    from tools.rdb_tool import _escape_b64, _escape_utf8
    esc = _escape_utf8 if escape == "utf8" else _escape_b64
    inp = resolve(path)
    dbset = set(dbs) if dbs else None
    cur = {"file": None}

    def visit(argv, offset, db, ts, extra):
        if since is not None and (ts is None or ts < since):
            return
        if until is not None and ts is not None and ts > until:
            return
        if argv is None:    # an RDB base: summarized
            if base == "commands":
                return
            info = extra
            if fmt == "jsonl":
                o = {"file": cur["file"], "offset": 0, "ts": ts, "rdb": {
                    "version": info["version"], "keys": info["keys"],
                    "databases": {str(k): v for k, v in sorted(info["databases"].items())},
                    "functions": info["functions"]}}
                out.write(json.dumps(o, separators=(",", ":")).encode() + b"\n")
            else:
                dbtxt = ", ".join(f"db{k} {v}" for k, v in sorted(info["databases"].items()))
                out.write((f"{cur['file']}:0 {_ts_str(ts)} -   # RDB preamble: RDB "
                           f"{info['version']}, {info['keys']} keys ({dbtxt or 'none'}); "
                           f"list them with `valkeyd rdb dump`\n").encode())
            return
        if dbset is not None and db not in dbset:
            return
        if fmt == "jsonl":
            o = {"file": cur["file"], "offset": offset, "ts": ts, "db": db,
                 "argv": [esc(bytes(a)) for a in argv]}
            if extra:
                o["multi"] = True
            out.write(json.dumps(o, separators=(",", ":")).encode("utf-8") + b"\n")
        else:
            cmd = " ".join(_repr_arg(bytes(a), limit) for a in argv)
            where = "-" if offset is None else offset
            out.write(f"{cur['file']}:{where} {_ts_str(ts)} db{db} {cmd}\n".encode(
                "utf-8", "surrogateescape"))
    rdb_db = [0]

    def rdb_cmd(argv, ts):
        if argv[0] == b"SELECT":
            rdb_db[0] = int(argv[1])
        visit(argv, None, rdb_db[0], ts, False)
    from tools.rdb_tool import Progress
    total = sum(os.path.getsize(p) for _n, p, _t in inp.files if os.path.exists(p))
    prog = Progress("aof dump")
    done = 0
    cur_ts = None
    try:
        for name, fpath, typ in inp.files:
            cur["file"] = name
            rdb_db[0] = 0
            s = scan_file(name, fpath, typ, visit=visit, progress=prog, done=done,
                          total=total, cur_ts=cur_ts,
                          rdb_commands=rdb_cmd if base == "commands" else None)
            cur_ts = s.end_ts
            done += s.size
            if s.problem is not None:
                out.flush()
                prog.done()
                raise AofToolError(_problem_text(s))
    finally:
        prog.done()
    out.flush()


# -- restore -------------------------------------------------------------------------------------
def parse_time(text: str) -> int:
    """A unix time in seconds, or an ISO 8601 date-time (UTC when it has no zone)."""
    t = text.strip()
    if t.lstrip("+-").isdigit():
        return int(t)
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a unix time nor an ISO 8601 "
                                 f"date-time") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(d.timestamp())


def plan_restore(inp: AofInput, to_ts: int):
    """What "as of TS" keeps. The writer puts ``#TS:<t>`` before a command when its (cached,
    per-second) clock has moved past the last annotation, so every command after ``#TS:t`` and
    before the next annotation was executed during second t; an annotation's time carries over
    into the next incr file; an RDB base is the dataset at its ``ctime`` aux field, an AOF base
    starts with its own ``#TS``. The state as of TS is the base plus every command whose
    annotation time is <= TS, i.e. everything before the first annotation later than TS: the
    state at the end of second TS. A MULTI block is never split: a cut that falls inside one
    moves to its MULTI (the transaction is left out whole). Raises AofToolError when TS is
    before the base (the files older than the base are gone) or when a file before the cut
    is damaged (a truncated tail of the last file is accepted, as a server with
    ``aof-load-truncated yes`` accepts it). Returns (scans, index of the cut file or None,
    cut offset)."""
    scans = _scan_all(inp, "aof restore", to_ts=to_ts)
    base = scans[0] if scans and scans[0].type in ("b", "s") else None
    if base is not None:
        t0 = base.rdb.get("ctime") if base.rdb else None
        if t0 is None and base.type == "b":   # an AOF base starts with its own #TS
            t0 = base.cut_ts if base.cut == 0 else base.first_ts
        if t0 is not None and t0 > to_ts:
            raise AofToolError(f"nothing as of {to_ts} ({_ts_str(to_ts)}): the oldest state "
                               f"in the AOF is its base {base.name}, from {t0} "
                               f"({_ts_str(t0)})")
    last = scans[-1]
    if last.cut == 0 and len(scans) == 1:
        raise AofToolError(f"nothing as of {to_ts} ({_ts_str(to_ts)}): the first annotation "
                           f"of {last.name} is #TS:{last.cut_ts}")
    if last.problem is not None:
        is_last = len(scans) == len(inp.files)
        if not (last.problem[2] and is_last):
            raise AofToolError(_problem_text(last) + " (before the restore point)")
        return scans, len(scans) - 1, last.ok_up_to, True
    if last.cut is not None:
        return scans, len(scans) - 1, last.cut, False
    return scans, None, None, False


def _write_aof_copy(inp, scans, cut_idx, cut_at, dest_dir, link=False):
    """Copy the files kept into ``dest_dir`` (the cut one truncated), with a manifest."""
    from persistence.aof import Manifest
    os.makedirs(dest_dir)
    keep = scans if cut_idx is None else scans[:cut_idx + 1]
    if cut_idx is not None and cut_at == 0 and keep[-1].type == "i":
        keep = keep[:-1]                # nothing left of it
        cut_idx = None
    for i, s in enumerate(keep):
        dst = os.path.join(dest_dir, os.path.basename(s.name))
        if link and i < len(keep) - 1 and (cut_idx is None or i != cut_idx):
            try:        # never the last file: a load may truncate that one
                os.link(s.path, dst)
                continue
            except OSError:
                pass
        # the bytes that were checked (a live server may have appended since)
        _copy_prefix(s.path, dst, cut_at if cut_idx is not None and i == cut_idx else s.size)
    if inp.kind == "multi":
        m = Manifest()
        names = {s.name for s in keep}
        if inp.manifest.base and inp.manifest.base[0] in names:
            m.base = inp.manifest.base
            m.base_seq = inp.manifest.base_seq
        m.incr = [e for e in inp.manifest.incr if e[0] in names]
        m.incr_seq = m.incr[-1][1] if m.incr else inp.manifest.incr_seq
        with open(os.path.join(dest_dir, inp.manifest_name), "wb") as f:
            f.write(m.format())
            f.flush()
            os.fsync(f.fileno())
    from persistence.snapshot import fsync_dir
    fsync_dir(dest_dir)
    return keep


def restore(path: str, to_ts: int, out: str, fmt: str) -> dict:
    inp = resolve(path)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise AofToolError(f"{out}: exists and is not an empty directory", EXIT_USAGE)
    scans, cut_idx, cut_at, truncated = plan_restore(inp, to_ts)
    os.makedirs(out, exist_ok=True)
    kept_cmds = sum(s.commands for s in scans)   # the scans stopped at the cut
    result = {"to": to_ts, "cut": None if cut_idx is None else
              {"file": scans[cut_idx].name, "offset": cut_at}, "commands": kept_cmds,
              "truncated_tail": truncated}
    last_ts = next((s.last_ts for s in reversed(scans) if s.last_ts is not None), None)
    result["last_ts_kept"] = last_ts
    if fmt == "aof":
        if inp.kind == "multi":   # the default appenddirname, whatever the source's name
            dest = os.path.join(out, "appendonlydir")
        else:
            dest = out
            os.rmdir(out)
        _write_aof_copy(inp, scans, cut_idx, cut_at, dest)
        result["output"] = dest
        return result
    # rdb: the kept files (hard links where possible) in a temp dir, loaded by the server's
    # own AOF loader into an offline server, written by the server's RDB writer
    import asyncio
    import tempfile
    tmp = tempfile.mkdtemp(prefix=".aof-restore-", dir=os.path.abspath(out))
    cwd = os.getcwd()   # the Server chdirs to its ``dir``
    try:
        work = os.path.join(tmp, "appendonlydir")
        if inp.kind == "single":
            os.makedirs(work)
            s = scans[0]
            single = os.path.join(work, "appendonly.aof.1.incr.aof")
            _copy_prefix(s.path, single, cut_at if cut_idx is not None else s.size)
            from persistence.aof import Manifest
            m = Manifest()
            m.incr = [("appendonly.aof.1.incr.aof", 1, "i")]
            m.incr_seq = 1
            manifest = m
        else:
            _write_aof_copy(inp, scans, cut_idx, cut_at, work, link=True)
            from persistence.aof import Manifest
            with open(os.path.join(work, inp.manifest_name), "rb") as f:
                manifest = Manifest.parse(f.read())
        srv = _offline_server(tmp)
        os.chdir(cwd)
        from persistence.aof import AOF_EMPTY, AOF_NOT_EXIST, AOF_OK, AOF_TRUNCATED, load_dir
        from valkeyd.log import log
        old_level = log.level
        log.level = 4   # the loader's log lines: not for a command-line tool
        try:
            ret, _tot, _b = asyncio.run(load_dir(srv, work, manifest))
        finally:
            log.level = old_level
            os.chdir(cwd)
        if ret not in (AOF_OK, AOF_TRUNCATED, AOF_EMPTY, AOF_NOT_EXIST):
            raise AofToolError(f"{path}: the server's loader refused the AOF (status {ret})")
        from persistence.rdb_save import write_rdb
        dst = os.path.join(out, "dump.rdb")
        with open(dst + ".tmp", "wb") as f:
            result["keys"] = write_rdb(srv, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(dst + ".tmp", dst)
        result["output"] = dst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _copy_prefix(src, dst, n):
    """Copy the first ``n`` bytes of ``src`` into a new file ``dst``, fsynced."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while n > 0:
            chunk = fi.read(min(n, 1 << 20))
            if not chunk:
                break
            fo.write(chunk)
            n -= len(chunk)
        fo.flush()
        os.fsync(fo.fileno())


def _offline_server(workdir):
    import valkeyd.commands  # noqa: F401  (registers the commands first, as the server does)
    from valkeyd.config import Config
    from valkeyd.server import Server
    cfg = Config()
    cfg.set("dir", os.path.abspath(workdir))
    cfg.set("save", "")
    cwd = os.getcwd()
    try:
        return Server(cfg, "memory")
    finally:
        os.chdir(cwd)


# -- click ---------------------------------------------------------------------------------------
def _guard(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except AofToolError as e:
        click.echo(str(e), err=True)
        sys.exit(e.code)


@click.group("aof", context_settings={"help_option_names": ["-h", "--help"]})
def aof():
    """AOF tools: info, check, fix, dump, truncate-to-timestamp, restore. DIR_OR_FILE: an
    AOF directory, a data directory with appendonlydir/, a manifest, or a single AOF file.
    Exit codes: 0 ok, 1 invalid/corrupt/truncated AOF or the operation cannot be done,
    2 usage error or unreadable path."""


_PATH = click.Path(exists=False)


@aof.command("info")
@click.argument("path", metavar="DIR_OR_FILE", type=_PATH)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
def info_cmd(path, as_json):
    """Manifest, files (sizes, format, command counts, timestamps), base format. Exit 1
    when the AOF is not valid (the report says where)."""
    r = _guard(collect_info, path)
    click.echo(json.dumps(r, indent=1) if as_json else format_info(r))
    sys.exit(EXIT_OK if r["valid"] else EXIT_BAD)


@aof.command("check")
@click.argument("path", metavar="DIR_OR_FILE", type=_PATH)
def check_cmd(path):
    """Validate like valkey-check-aof: exit 0 valid, 1 with the file and offset of the first
    problem."""
    sys.exit(_guard(run_check, path, "check"))


@aof.command("fix")
@click.argument("path", metavar="DIR_OR_FILE", type=_PATH)
@click.option("-y", "--yes", is_flag=True, help="Do not ask (asked only on a terminal).")
@click.option("--backup-dir", type=click.Path(file_okay=False), default=None,
              help="Where to copy the originals (default: beside the AOF, .bak-<time>).")
def fix_cmd(path, yes, backup_dir):
    """Truncate the last file to its last whole command (after a backup), like
    valkey-check-aof --fix."""
    sys.exit(_guard(run_check, path, "fix", yes=yes, backup_dir=backup_dir))


@aof.command("truncate-to-timestamp")
@click.argument("ts", metavar="TIMESTAMP")
@click.argument("path", metavar="DIR_OR_FILE", type=_PATH)
@click.option("-y", "--yes", is_flag=True, help="Do not ask (asked only on a terminal).")
@click.option("--backup-dir", type=click.Path(file_okay=False), default=None,
              help="Where to copy the originals (default: beside the AOF, .bak-<time>).")
def truncate_cmd(ts, path, yes, backup_dir):
    """Cut the last file at the first #TS annotation later than TIMESTAMP (unix seconds or
    ISO 8601), like valkey-check-aof --truncate-to-timestamp (after a backup)."""
    t = parse_time(ts)
    sys.exit(_guard(run_check, path, "truncate-to-timestamp", to_ts=t, yes=yes,
                    backup_dir=backup_dir))


@aof.command("dump")
@click.argument("path", metavar="DIR_OR_FILE", type=_PATH)
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text",
              show_default=True)
@click.option("--db", "dbs", type=int, multiple=True, help="Only this database (repeatable).")
@click.option("--since", default=None, help="Only commands annotated at or after this time.")
@click.option("--until", default=None, help="Only commands annotated at or before this time.")
@click.option("--base", "base", type=click.Choice(["summary", "commands"]), default="summary",
              show_default=True, help="An RDB base (preamble): one summary line, or its keys "
                                      "as the commands an AOF rewrite writes (offset '-'/null).")
@click.option("--escape", type=click.Choice(["utf8", "base64"]), default="utf8",
              show_default=True, help="jsonl: arguments as UTF-8 with \\xNN for other bytes, "
                                      "or base64 (binary-safe).")
@click.option("--max-arg", type=click.IntRange(0), default=200, show_default=True,
              help="text: show at most this many bytes of an argument (0: all).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
def dump_cmd(path, fmt, dbs, since, until, base, escape, max_arg, output):
    """List the commands (file:offset, time, db, command), as text or JSON lines. An RDB
    base is summarized in one line (list its keys with `valkeyd rdb dump`)."""
    s = parse_time(since) if since else None
    u = parse_time(until) if until else None
    out = open(output, "wb") if output else sys.stdout.buffer
    try:
        _guard(dump, path, out, fmt, dbs, s, u, max_arg, base, escape)
    except BrokenPipeError:
        from tools.rdb_tool import reader_gone
        reader_gone()
    finally:
        if output:
            out.close()


@aof.command("restore")
@click.argument("path", metavar="DIR_OR_FILE", type=_PATH)
@click.option("--to", "to", required=True, help="Unix time (seconds) or ISO 8601 (UTC when no "
                                                "zone is given).")
@click.option("--out", "out", required=True, type=click.Path(),
              help="A new (or empty) directory: gets dump.rdb, or an AOF directory.")
@click.option("--format", "fmt", type=click.Choice(["rdb", "aof"]), default="rdb",
              show_default=True)
def restore_cmd(path, to, out, fmt):
    """Point-in-time restore: the dataset as of the end of second TIMESTAMP (every command
    annotated at or before it; MULTI blocks whole), from the base and incr files, into
    NEWDIR. The source is only read."""
    t = parse_time(to)
    r = _guard(restore, path, t, out, fmt)
    cut = r["cut"]
    click.echo(f"Restored as of {t} ({_ts_str(t)}): "
               + (f"cut {cut['file']} at offset {cut['offset']}" if cut else
                  "nothing in the AOF is later: everything kept")
               + (" (its truncated tail left out)" if r["truncated_tail"] else ""))
    click.echo(f"Output: {r['output']}" + (f" ({r['keys']} keys)" if "keys" in r else ""))
