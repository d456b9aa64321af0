"""``valkeyd convert SRC DST``: an RDB file to an LMDB data directory and back, offline.

Design
------
* No parser or encoder of its own. RDB -> LMDB reads the records with
  :func:`persistence.rdb_load.iter_rdb` (the loader's own opcode loop and value decoder, so
  the same files are accepted and rejected with the same reasons) and writes each one through
  ``LmdbKeyspace.set`` (which stores memory-engine hash/set/list/zset objects natively) plus
  ``set_expire``, committing every ``BATCH`` keys. Keys already expired are skipped, as a
  primary's load skips them.
* LMDB -> RDB builds a real ``valkeyd.server.Server(Config(), "lmdb")`` with ``dir`` set
  (constructing it starts no network: only the event loop of ``serve`` does) and calls
  :func:`persistence.rdb_save.write_rdb`, the writer SAVE/BGSAVE use, into ``DST.tmp``;
  the file is fsynced and renamed over ``DST``.
* Every value type is stored natively, streams with their consumer groups included;
  ``--skip-unsupported`` is still accepted (there is nothing left to skip).
* Function libraries go with the data both ways: RDB -> LMDB stores their code in the
  environment (the server compiles them at startup, as it would when loading the RDB); LMDB ->
  RDB writes them as the RDB's FUNCTION2 records.
* The direction is inferred from SRC (a file that starts with ``REDIS`` -> an LMDB directory
  DST; a directory holding ``valkeyd.lmdb`` -> an RDB file DST) unless ``--to`` is given. An
  existing target (DST/valkeyd.lmdb, or the file DST) is refused without ``--force``.
* A progress bar (tools/rdb_tool.py's) goes to standard error only when it is a terminal.
* Exit codes: 0 done; 1 the source is corrupt/truncated or holds data the target cannot take
  (a database index beyond ``--databases``); 2 usage
  errors (bad arguments, unreadable source, target exists without ``--force``).
"""
from __future__ import annotations

import os
import shutil
import sys

import click

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
BATCH = 10000
LMDB_DIRNAME = "valkeyd.lmdb"


class ConvertError(Exception):
    """A conversion failure with an exit code."""

    def __init__(self, msg: str, code: int = EXIT_FAIL):
        super().__init__(msg)
        self.code = code


def _show(b: bytes) -> str:
    from tools.rdb_tool import _show as show
    return show(b)


def detect(src: str) -> str:
    """The target kind ("lmdb" or "rdb") for a source path, or raise ConvertError."""
    if os.path.isdir(src):
        if os.path.isdir(os.path.join(src, LMDB_DIRNAME)):
            return "rdb"
        raise ConvertError(f"{src}: a directory without {LMDB_DIRNAME} (not an lmdb data "
                           f"directory)", EXIT_USAGE)
    try:
        with open(src, "rb") as f:
            head = f.read(5)
    except OSError as e:
        raise ConvertError(f"{src}: cannot read: {e.strerror or e}", EXIT_USAGE) from None
    if head == b"REDIS":
        return "lmdb"
    raise ConvertError(f"{src}: neither an RDB file (no REDIS signature) nor an lmdb data "
                       f"directory; use --to to force a direction", EXIT_USAGE)


# -- RDB -> LMDB --------------------------------------------------------------------------------
def rdb_to_lmdb(src: str, dst: str, *, force=False, skip_unsupported=False, databases=16,
                progress=None, warn=None) -> dict:
    """Convert the RDB file ``src`` into the LMDB environment ``dst``/valkeyd.lmdb. Returns
    counts (keys, expired, skipped, skipped_keys, functions)."""
    from engines.lmdb import LmdbEngine
    from persistence.rdb_load import RDBLoadError, iter_rdb
    from tools.rdb_tool import Source
    from engines.base import clock

    warn = warn or (lambda m: None)
    target = os.path.join(dst, LMDB_DIRNAME)
    if os.path.exists(target):
        if not force:
            raise ConvertError(f"{target} exists (use --force to replace it)", EXIT_USAGE)
        shutil.rmtree(target)
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise ConvertError(f"{dst}: not a directory", EXIT_USAGE)
    try:
        srcf = Source(src)
    except OSError as e:
        raise ConvertError(f"{src}: cannot read the file: {e.strerror or e}", EXIT_USAGE) \
            from None
    os.makedirs(dst, exist_ok=True)
    eng = LmdbEngine(path=target, databases=databases)
    stats = {"keys": 0, "expired": 0, "skipped": 0, "skipped_keys": [], "functions": 0}
    ok = False
    try:
        recs = iter_rdb(srcf.data, name=src, progress=progress)
        now = clock.ms()
        n = 0
        try:
            for dbid, key, value, expire_ms, _idle, _freq in recs:
                if expire_ms != -1 and expire_ms < now:
                    stats["expired"] += 1
                    continue
                if dbid >= databases:
                    raise ConvertError(f"{src}: key {_show(key)} is in database {dbid}, beyond "
                                       f"--databases {databases}")
                ks = eng.db(dbid)
                ks.set(key, value)
                if expire_ms != -1:
                    ks.set_expire(key, expire_ms)
                stats["keys"] += 1
                n += 1
                if n >= BATCH:
                    eng.commit()
                    n = 0
        except RDBLoadError as e:
            where = f" at offset {e.offset}" if e.offset >= 0 else ""
            key = f" while reading key {_show(e.key)}" if e.key is not None else ""
            raise ConvertError(f"{src}: error{where}{key}: {e.reason}") from None
        codes = recs.info.get("function_codes") or []
        if codes:
            eng.store_function_codes(codes)
        stats["functions"] = len(codes)
        eng.commit()
        ok = True
    finally:
        srcf.close()
        eng.close()
        if not ok:
            shutil.rmtree(target, ignore_errors=True)
    return stats


# -- LMDB -> RDB --------------------------------------------------------------------------------
def lmdb_to_rdb(src: str, dst: str, *, force=False, databases=16, progress=None) -> int:
    """Write the LMDB environment in directory ``src`` as the RDB file ``dst``. Returns the
    number of keys written."""
    from persistence.rdb_save import write_rdb
    import valkeyd.commands  # noqa: F401  (registers the commands first, as the server does)
    from valkeyd.config import Config
    from valkeyd.server import Server

    src_name, dst_name = src, dst
    src, dst = os.path.abspath(src), os.path.abspath(dst)   # the Server chdirs to ``dir``
    if not os.path.isdir(os.path.join(src, LMDB_DIRNAME)):
        raise ConvertError(f"{src_name}: no {LMDB_DIRNAME} directory in it", EXIT_USAGE)
    if os.path.isdir(dst):
        raise ConvertError(f"{dst_name}: is a directory (give the RDB file's path)", EXIT_USAGE)
    if os.path.exists(dst) and not force:
        raise ConvertError(f"{dst_name} exists (use --force to replace it)", EXIT_USAGE)
    cfg = Config()
    cfg.set("dir", os.path.abspath(src))
    cfg.set("databases", str(databases))
    cfg.set("save", "")
    cwd = os.getcwd()
    try:
        srv = Server(cfg, "lmdb")
    finally:
        os.chdir(cwd)
    total = sum(srv.engine.db(i).size() for i in range(srv.engine.databases))
    tmp = dst + ".tmp-convert"
    try:
        with open(tmp, "wb") as f:
            nkeys = write_rdb(srv, f, progress=(lambda k: progress(min(k, total), total))
                              if progress is not None else None)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConvertError(f"{dst_name}: cannot write: {e.strerror or e}", EXIT_USAGE) from None
    finally:
        srv.engine.close()
    if progress is not None:
        progress(total, total)
    return nkeys


def _key_progress(prog):
    """``prog`` (a byte-count bar) shown as keys: ``n/total keys``."""
    import time as _t

    def show(n, total):
        if not prog.enabled:
            return
        now = _t.monotonic()
        if now - prog.last < 0.2 and n < total:
            return
        prog.last = now
        frac = n / total if total else 1.0
        fill = int(frac * 30)
        sys.stderr.write("\r%s [%s%s] %3d%% %d/%d keys %.1fs" % (
            prog.label, "#" * fill, "." * (30 - fill), int(frac * 100), n, total,
            now - prog.t0))
        sys.stderr.flush()
        prog.shown = True
    return show


# -- the click command --------------------------------------------------------------------------
@click.command("convert", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("src", type=click.Path())
@click.argument("dst", type=click.Path())
@click.option("--to", "to", type=click.Choice(["lmdb", "rdb"]), default=None,
              help="Target format (default: inferred from SRC).")
@click.option("--force", is_flag=True, help="Replace an existing target.")
@click.option("--skip-unsupported", is_flag=True,
              help="Skip keys the lmdb engine cannot store (none now: every type is stored).")
@click.option("--databases", type=int, default=16, show_default=True,
              help="Number of databases of the lmdb environment.")
def convert(src, dst, to, force, skip_unsupported, databases):
    """Convert an RDB file into an lmdb data directory (DST/valkeyd.lmdb), or an lmdb data
    directory into an RDB file. Exit codes: 0 done, 1 corrupt source or data the target
    cannot hold, 2 usage error / unreadable source / target exists without --force."""
    from tools.rdb_tool import Progress

    def warn(m):
        click.echo(m, err=True)

    prog = None
    try:
        kind = to or detect(src)
        prog = Progress("converting")
        if kind == "lmdb":
            if os.path.isdir(src):
                raise ConvertError(f"{src}: is a directory, expected an RDB file", EXIT_USAGE)
            st = rdb_to_lmdb(src, dst, force=force, skip_unsupported=skip_unsupported,
                             databases=databases, progress=prog, warn=warn)
            prog.done()
            if st["skipped"]:
                shown = ", ".join(f"{_show(k)} (db {d})" for d, k in st["skipped_keys"])
                more = "" if st["skipped"] <= len(st["skipped_keys"]) else ", ..."
                warn(f"skipped {st['skipped']} stream key(s) the lmdb engine does not "
                     f"support yet: {shown}{more}")
            click.echo(f"{src} -> {os.path.join(dst, LMDB_DIRNAME)}: {st['keys']} keys "
                       f"written, {st['expired']} expired skipped, {st['skipped']} "
                       f"unsupported skipped, {st['functions']} function libraries",
                       err=True)
        else:
            n = lmdb_to_rdb(src, dst, force=force, databases=databases,
                            progress=_key_progress(prog))
            prog.done()
            click.echo(f"{src} -> {dst}: {n} keys written", err=True)
    except ConvertError as e:
        if prog is not None:
            prog.done()
        click.echo(str(e), err=True)
        sys.exit(e.code)
    sys.exit(EXIT_OK)
