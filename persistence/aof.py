"""Redis 7 multi-part append-only file: manifest, base and incr files, loading, rewriting,
and the write path with group commit.

Layout (``appenddirname`` inside ``dir``, names from ``appendfilename``)::

    appendonlydir/appendonly.aof.manifest      one line per file, Redis's format:
                                               "file <name> seq <n> type <b|h|i>\\n"
    appendonlydir/appendonly.aof.<seq>.base.rdb | .base.aof   the dataset at the last rewrite
    appendonlydir/appendonly.aof.<seq>.incr.aof  the writes since, as RESP multibulk

Write path. The propagation stream (``server.propagate_hooks``: fn(dbid, argv), dbid -1 for
MULTI/EXEC) is encoded exactly as Redis's ``catAppendOnlyGenericCommand`` into an in-memory
buffer, with a SELECT whenever the database changes (and ``#TS:<unix>`` annotations with
``aof-timestamp-enabled``). While anything is not yet durable ``server.aof_pending`` is
true, and ``Client.flush`` hands the client to :meth:`Aof.hold` instead of writing its
replies. One ``loop.call_soon`` callback per event-loop iteration (:meth:`Aof.commit`)
writes the buffer; at ``appendfsync always`` it then fsyncs in line, as Redis's
beforeSleep does, and only then lets the iteration's held replies go: every client served in
the iteration shares the one fsync (group commit). So no reply (not even a read that could
observe an unsynced write) leaves before the writes before it are durable. With
``everysec`` the replies leave right after the write (the data then survives a kill -9: it
is in the kernel) and a background thread fsyncs once a second, like Redis's bio; with
``no`` the kernel decides. A server without AOF pays nothing: ``Client.flush`` becomes
``Client.flush_aof`` (one more attribute test) only once an AOF is switched on.

Rewrite (BGREWRITEAOF, the auto-rewrite cron, CONFIG SET appendonly yes), Redis 7.2.4's
rewriteAppendOnlyFileBackground / backgroundRewriteDoneHandler: the parent writes and fsyncs
its buffer, opens a new incr file and persists the manifest listing it (so every write from
now on lands in a file the next manifest keeps; after CONFIG SET appendonly yes, state
AOF_WAIT_REWRITE, the writes go to ``temp-<appendfilename>.incr`` instead), then forks
(``persistence/fork.py``, shared with BGSAVE). The child writes the dataset as of the fork
to ``temp-rewriteaof-bg-<pid>.aof`` in ``dir`` (an RDB with ``aof-use-rdb-preamble yes``,
else one command per key as rewriteAppendOnlyFileRio), fsyncs it and exits. The cron reaps
it; on success the parent renames the file into the directory as the next base, marks the
old base and every incr file but the current one as history, persists the manifest (temp
file, fsync, rename, fsync the directory) and deletes the history files. A failed or killed
child changes nothing but the failure counters (aof_rewrites_consecutive_failures, and the
aofRewriteLimited back-off for automatic and scheduled rewrites); its temp files are removed.
No rewrite buffer is needed: the new incr file already holds the writes made meanwhile.
One child at a time (``fork.active_child``): a rewrite asked for while BGSAVE runs is
scheduled and started by the cron afterwards. At startup an old single-file AOF (Redis < 7,
``appendfilename`` in ``dir``) is moved into the directory as the base (aofUpgradePrepare).

Loading (Redis's loadAppendOnlyFiles / loadSingleAppendOnlyFile): manifest, base (RDB via
``persistence.rdb_load.load_rdb`` when it starts with "REDIS" or "VALKEY", else commands),
incr files.
Commands run through the normal table and ``Client.call`` on a fake client with
``must_obey``; MULTI/EXEC in a file is replayed as a transaction, and an unterminated MULTI at
the end is reverted like a truncated tail. ``aof-load-truncated yes``: a truncated last file is
cut at the end of the last whole command (the file is truncated on disk, as Redis does);
``no``, or a truncated file that is not the last one, or a format error anywhere: the server
refuses to start, logging the file name and the offset. The parse itself is
:func:`iter_aof`, a generator over the file's bytes (or an mmap) that the loader iterates and
the ``valkeyd aof`` tools (tools/aof_tool.py) run too, with ``strict=True`` for
valkey-check-aof's extra checks.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import re
import signal
import threading
import time

import hiredis

from valkeyd.log import log
from valkeyd.protocol import split_args

from .fork import active_child, child_gone, exit_info, fork_child, reap
from .fork import kill as fork_kill

_pack = hiredis.pack_command

AOF_OFF, AOF_ON, AOF_WAIT_REWRITE = 0, 1, 2
_SKIP = (b"publish", b"spublish")   # sent to replicas only (forceCommandPropagation REPL)
_ITEMS_PER_CMD = 64                 # AOF_REWRITE_ITEMS_PER_CMD
REWRITE_LIMIT_THRESHOLD = 3         # AOF_REWRITE_LIMITE_THRESHOLD (consecutive failures)
REWRITE_LIMIT_MAX_MINUTES = 60      # AOF_REWRITE_LIMITE_MAX_MINUTES


# -- encoding ---------------------------------------------------------------------------------

def cat_command(out: list, argv) -> None:
    """catAppendOnlyGenericCommand: ``*<argc>\\r\\n`` then ``$<len>\\r\\n<arg>\\r\\n``
    (hiredis's C ``pack_command`` when it takes every argument, the common case)."""
    try:
        out.append(_pack(tuple(argv)))
        return
    except TypeError:   # a bytearray, or another type hiredis does not take
        pass
    out.append(b"*%d\r\n" % len(argv))
    for a in argv:
        if type(a) is not bytes:
            a = bytes(a) if not isinstance(a, (int, float)) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))


# -- manifest ---------------------------------------------------------------------------------

class ManifestError(Exception):
    pass


def _split_args(line: str):
    """sdssplitargs on a manifest line (valkeyd.protocol.split_args), as latin-1 strings;
    None on unbalanced quotes."""
    parts = split_args(line.encode("latin-1"))
    return None if parts is None else [p.decode("latin-1") for p in parts]


def _needs_repr(s: str) -> bool:
    return any(ch in '\\"\n\r\t\a\b' or not ch.isprintable() or ch.isspace() for ch in s)


def _repr(s: str) -> str:
    from valkeyd.sds import catrepr
    return catrepr(s.encode("latin-1", "surrogateescape") if all(
        ord(c) < 256 for c in s) else s)


class Manifest:
    """aofManifest: the base, the history files and the incr files, with their sequences."""

    def __init__(self):
        self.base = None          # (name, seq, "b")
        self.history: list = []   # (name, seq, "h")
        self.incr: list = []      # (name, seq, "i")
        self.base_seq = 0
        self.incr_seq = 0

    @classmethod
    def parse(cls, text: bytes) -> "Manifest":
        """aofLoadManifestFromFile; raises ManifestError(message, linenum, line)."""
        m = cls()
        maxseq = 0
        if not text:
            raise ManifestError("Found an empty AOF manifest", 0, None)
        lines = text.split(b"\n")
        last_complete = text.endswith(b"\n")
        for num, raw in enumerate(lines, 1):
            if num == len(lines) and not raw:
                break
            if raw[:1] == b"#":
                continue
            s = raw.decode("latin-1")
            if len(raw) >= 1024 or (num == len(lines) and not last_complete):
                raise ManifestError("The AOF manifest file contains too long line", num, s)
            line = s.strip(" \t\r\n")
            if not line:
                raise ManifestError("Invalid AOF manifest file format", num, line)
            argv = _split_args(line)
            if argv is None or len(argv) < 6 or len(argv) % 2:
                raise ManifestError("Invalid AOF manifest file format", num, line)
            name = seq = typ = None
            for i in range(0, len(argv), 2):
                k = argv[i].lower()
                if k == "file":
                    name = argv[i + 1]
                    if "/" in name:
                        raise ManifestError("File can't be a path, just a filename", num, line)
                elif k == "seq":
                    seq = _atoll(argv[i + 1])
                elif k == "type":
                    typ = argv[i + 1][:1]
            if not name or not seq or not typ:
                raise ManifestError("Invalid AOF manifest file format", num, line)
            if typ == "b":
                if m.base is not None:
                    raise ManifestError("Found duplicate base file information", num, line)
                m.base = (name, seq, typ)
                m.base_seq = seq
            elif typ == "h":
                m.history.append((name, seq, typ))
            elif typ == "i":
                if seq <= maxseq:
                    raise ManifestError("Found a non-monotonic sequence number", num, line)
                m.incr.append((name, seq, typ))
                m.incr_seq = maxseq = seq
            else:
                raise ManifestError("Unknown AOF file type", num, line)
        return m

    def copy(self) -> "Manifest":
        """aofManifestDup (the entries are tuples: a shallow copy of the lists)."""
        m = Manifest()
        m.base = self.base
        m.history = list(self.history)
        m.incr = list(self.incr)
        m.base_seq = self.base_seq
        m.incr_seq = self.incr_seq
        return m

    def new_base_name(self, filename: str, rdb: bool) -> str:
        """getNewBaseFileNameAndMarkPreAsHistory: <filename>.<seq>.base.rdb|aof."""
        if self.base is not None:
            self.history.insert(0, (self.base[0], self.base[1], "h"))
        self.base_seq += 1
        name = "%s.%d.base.%s" % (filename, self.base_seq, "rdb" if rdb else "aof")
        self.base = (name, self.base_seq, "b")
        return name

    def new_incr_name(self, filename: str) -> str:
        """getNewIncrAofName: <filename>.<seq>.incr.aof, appended to the incr list."""
        self.incr_seq += 1
        name = "%s.%d.incr.aof" % (filename, self.incr_seq)
        self.incr.append((name, self.incr_seq, "i"))
        return name

    def mark_incr_history(self, keep_last: bool) -> None:
        """markRewrittenIncrAofAsHistory: every incr file but the one being written (the
        last, when the AOF is on) becomes history."""
        keep = self.incr[-1:] if keep_last else []
        done = self.incr[:-1] if keep_last else self.incr
        for name, seq, _t in reversed(done):
            self.history.insert(0, (name, seq, "h"))
        self.incr = keep

    def format(self) -> bytes:
        """getAofManifestAsString: base, history, incr; names quoted when needed."""
        out = []
        for name, seq, typ in ([self.base] if self.base else []) + self.history + self.incr:
            shown = _repr(name) if _needs_repr(name) else name
            out.append("file %s seq %d type %s\n" % (shown, seq, typ))
        return "".join(out).encode("latin-1", "surrogateescape")


def _atoll(s: str) -> int:
    s = s.strip()
    j = 0
    if j < len(s) and s[j] in "+-":
        j += 1
    while j < len(s) and s[j].isdigit():
        j += 1
    try:
        return int(s[:j])
    except ValueError:
        return 0


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- loading ----------------------------------------------------------------------------------

AOF_OK, AOF_NOT_EXIST, AOF_EMPTY, AOF_OPEN_ERR, AOF_FAILED, AOF_TRUNCATED = range(6)


class AofParseError(Exception):
    """Where :func:`iter_aof` stops in a file. ``truncated``: the data ends inside a command
    (a server with ``aof-load-truncated yes`` cuts the file at ``start``); otherwise a format
    error. ``offset``: the line or byte that is wrong; ``start``: the start of the command
    holding it (the end of the last whole command)."""

    def __init__(self, reason: str, offset: int, start: int, truncated: bool):
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.start = start
        self.truncated = truncated


_LINE_MAX = 1023   # fgets into Redis's 1024-byte buffers (AOF_ANNOTATION_LINE_MAX_LEN too)
_NUM_STRICT = re.compile(rb"[ \t\n\v\f\r]*[+-]?[0-9]*\r\n\Z")


def _strtol(b: bytes) -> int:
    s = b.strip()
    j = 0
    if s[:1] in (b"+", b"-"):
        j = 1
    while j < len(s) and 48 <= s[j] <= 57:
        j += 1
    try:
        return int(s[:j])
    except ValueError:
        return 0


_FEED = 1 << 16   # the fast path feeds hiredis this much of the file at a time


def iter_aof(data, pos: int = 0, end: int | None = None, *, strict: bool = False):
    """The AOF reader, fast: the records of :func:`_iter_aof_exact` (same arguments, same
    results, same errors at the same offsets), parsed by hiredis where the file holds the
    canonical encoding a server writes (``*<argc>\r\n`` then ``$<len>\r\n<bytes>\r\n``
    per argument). A record is taken from hiredis only when re-encoding its arguments gives
    back exactly the file's bytes at that offset, so the byte ranges are exact; anything
    else (an annotation, a non-canonical number, a damaged or cut record) is read from that
    offset by :func:`_iter_aof_exact`, and hiredis resumes after it."""
    n = len(data) if end is None else end
    reader = None
    fed = pos
    while pos < n:
        if reader is None:
            reader = hiredis.Reader()
            fed = pos
        try:
            argv = reader.gets()
        except hiredis.ProtocolError:
            argv = None
        if argv is False:
            if fed < n:
                stop = fed + _FEED if fed + _FEED < n else n
                reader.feed(data[fed:stop])
                fed = stop
                continue
        elif type(argv) is list and argv:
            try:
                canon = _pack(tuple(argv))
            except TypeError:    # an element that is not a bulk string
                canon = None
            if canon is not None:
                stop = pos + len(canon)
                if data[pos:stop] == canon:
                    yield argv, pos, stop
                    pos = stop
                    continue
        # not hiredis's to read: one record exactly, then hiredis again after it
        reader = None
        for rec in _iter_aof_exact(data, pos, n, strict=strict):
            yield rec
            pos = rec[2]
            break


def _iter_aof_exact(data, pos: int = 0, end: int | None = None, *, strict: bool = False):
    """The AOF reader: the records of ``data`` (bytes or an ``mmap``, read in place) from
    ``pos`` to ``end``, as ``(argv, start, stop)`` byte ranges. ``argv`` is a list of bytes
    for a command, or the whole line (bytes, line end included) for a ``#`` annotation
    (``#TS:<unix>``, see :func:`annotation_time`). Lines are read as Redis's fgets into a
    1024-byte buffer does. Raises :class:`AofParseError` at the first problem.

    ``strict=False`` is the server's loader (loadSingleAppendOnlyFile): numbers are read as
    strtol reads them and the two bytes after a bulk are skipped. ``strict=True`` adds the
    checks of valkey-check-aof: ``\\r\\n`` right after every count and every bulk, no
    negative bulk length. Both refuse a count below 1 (a server refuses such a file)."""
    n = len(data) if end is None else end
    find = data.find
    while pos < n:
        start = pos
        lim = pos + _LINE_MAX
        if lim > n:
            lim = n
        nl = find(b"\n", pos, lim)
        stop = nl + 1 if nl >= 0 else lim
        head = data[pos]
        if head == 35:   # '#': an annotation
            yield data[pos:stop], start, stop
            pos = stop
            continue
        if head != 42:   # not '*'
            raise AofParseError("expected '*' or '#' at the start of a command, got %r"
                                % bytes([head]), start, start, False)
        line = data[pos:stop]
        pos = stop
        body = line[1:-2]
        if body.isdigit() and line[-2:] == b"\r\n":   # the usual "*<digits>\r\n"
            argc = int(body)
        else:
            if len(line) == 1 or (strict and nl < 0):
                raise AofParseError("the file ends inside a command", start, start, True)
            if strict and not _NUM_STRICT.match(line, 1):
                raise AofParseError("expected a count and \\r\\n, got %r" % line[:40], start,
                                    start, False)
            argc = _strtol(line[1:])
        if argc < 1:
            raise AofParseError("invalid argument count %r" % line[1:].strip()[:20], start,
                                start, False)
        argv = []
        for _ in range(argc):
            lstart = pos
            if pos >= n:
                raise AofParseError("the file ends inside a command", lstart, start, True)
            lim = pos + _LINE_MAX
            if lim > n:
                lim = n
            nl = find(b"\n", pos, lim)
            stop = nl + 1 if nl >= 0 else lim
            line = data[pos:stop]
            pos = stop
            if line[0] != 36:   # not '$'
                raise AofParseError("expected '$' (a bulk length), got %r" % line[:1], lstart,
                                    start, False)
            body = line[1:-2]
            if body.isdigit() and line[-2:] == b"\r\n":
                ln = int(body)
            else:
                if strict:
                    if nl < 0:
                        raise AofParseError("the file ends inside a command", lstart, start,
                                            True)
                    if not _NUM_STRICT.match(line, 1):
                        raise AofParseError("expected a bulk length and \\r\\n, got %r"
                                            % line[:40], lstart, start, False)
                ln = _strtol(line[1:])
                if ln < 0:
                    if strict:
                        raise AofParseError("negative bulk length %d" % ln, lstart, start,
                                            False)
                    ln = 0
            e = pos + ln
            if e + 2 > n:
                raise AofParseError("the file ends inside a command", lstart, start, True)
            argv.append(data[pos:e])
            if strict and data[e:e + 2] != b"\r\n":
                raise AofParseError("expected \\r\\n after a bulk of %d bytes, got %r"
                                    % (ln, data[e:e + 2]), e, start, False)
            pos = e + 2
        yield argv, start, pos


def annotation_time(line) -> int | None:
    """The time of a ``#TS:<unix>`` annotation line (valkey-check-aof's reading: digits then
    ``\\r``), or None for another annotation; ValueError when it is malformed."""
    if line[:4] != b"#TS:":
        return None
    m = re.match(rb"[ \t]*([+-]?[0-9]+)\r", line[4:])
    if m is None:
        raise ValueError("invalid timestamp annotation %r" % bytes(line[:40]))
    return int(m.group(1))


def _resolve(argv):
    from valkeyd.commands.registry import lookup
    cmd = lookup(argv[0])
    if cmd is not None and cmd.subcommands is not None and len(argv) > 1:
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is not None:
            cmd = sub
    return cmd


class Loader:
    """Replays AOF files into a server (loadSingleAppendOnlyFile)."""

    def __init__(self, server, dirname: str):
        from valkeyd.client import Client
        self.server = server
        self.dirname = dirname
        c = self.client = Client(server)
        c.authenticated = True
        c.must_obey = True
        c.deny_blocking = True
        c.id = -1
        self.done = 0   # bytes of the files already loaded (INFO loading_loaded_bytes)

    async def load_file(self, name: str, truncated_ok: bool) -> int:
        path = os.path.join(self.dirname, name)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError as e:
            log.warning(f"The append log file {name} doesn't exist: {e.strerror}")
            return AOF_NOT_EXIST
        except OSError as e:
            log.warning(f"Fatal error: can't open the append log file {name} for reading: "
                        f"{e.strerror}")
            return AOF_OPEN_ERR
        if not data:
            return AOF_EMPTY
        srv = self.server
        c = self.client
        c.db = srv.dbs[0]
        pos = 0
        if data[:5] == b"REDIS" or data[:6] == b"VALKEY":     # VALKEY080: a Valkey 9 base
            old_style = name == srv.config.get("appendfilename")
            log.notice("Reading RDB preamble from AOF file..." if old_style else
                       "Reading RDB base file on AOF loading...")
            try:
                from persistence.rdb_load import load_rdb_async
            except ImportError:
                load_rdb_async = None
            ok = False
            if load_rdb_async is not None:
                prog = getattr(srv, "loading_progress", None)
                try:
                    with open(path, "rb") as fh:
                        if srv.loop is not None:   # serves -LOADING between chunks
                            await load_rdb_async(srv, fh, name=name)
                        else:
                            from persistence.rdb_load import load_rdb
                            load_rdb(srv, fh, name=name)
                        pos = fh.tell()
                    ok = True
                except Exception as e:   # a bad RDB is reported, never crashes the server
                    log.warning(f"{e}")
                if prog is not None:   # the RDB loader kept its own progress meanwhile
                    prog[2] = self.done + pos
                    srv.loading_progress = prog
            if not ok:
                log.warning(f"Error reading the RDB preamble of the AOF file {name}, AOF loading "
                            f"aborted" if old_style else
                            f"Error reading the RDB base file {name}, AOF loading aborted")
                return AOF_FAILED
            if old_style:
                log.notice("Reading the remaining AOF tail...")
        valid_up_to = pos
        valid_before_multi = pos
        multi = None
        loops = 0
        try:
            for argv, _start, stop in iter_aof(data, pos):
                if type(argv) is not list:   # an annotation
                    continue
                loops += 1
                if not loops & 1023 and srv.loop is not None:
                    prog = getattr(srv, "loading_progress", None)
                    if prog is not None:   # INFO's loading_loaded_bytes
                        prog[2] = self.done + stop
                    await asyncio.sleep(0)   # serve clients (-LOADING) now and then
                cmd = _resolve(argv)
                if cmd is None:
                    log.warning(f"Unknown command '{argv[0].decode('utf-8', 'replace')}' "
                                f"reading the append only file {name}")
                    return AOF_FAILED
                lname = cmd.name
                if lname == "multi" and multi is None:
                    valid_before_multi = valid_up_to
                    multi = []
                elif lname == "exec" and multi is not None:
                    srv.propagate_begin()
                    try:
                        for qc, qa in multi:
                            c.call(qc, qa)
                    finally:
                        srv.propagate_end()
                    multi = None
                elif multi is not None:
                    multi.append((cmd, argv))
                else:
                    c.call(cmd, argv)
                    c.out.clear()
                valid_up_to = stop
            if multi is not None:
                log.warning(f"Revert incomplete MULTI/EXEC transaction in AOF file {name}")
                valid_up_to = valid_before_multi
            else:
                return AOF_OK
        except AofParseError as e:
            if not e.truncated:
                log.warning(f"Bad file format reading the append only file {name}: make a "
                            f"backup of your AOF file, then use ./redis-check-aof --fix "
                            f"<filename.manifest>")
                log.warning(f"The format error is at offset {e.offset} of {name} "
                            f"(last valid command ends at offset {valid_up_to})")
                return AOF_FAILED
            # a short read: cut after the last whole command, even inside a MULTI (as Redis)
        finally:
            c.out.clear()
        if truncated_ok and srv.config.get("aof-load-truncated") == "yes":
            log.warning(f"!!! Warning: short read while loading the AOF file {name}!!!")
            log.warning(f"!!! Truncating the AOF {name} at offset {valid_up_to} !!!")
            try:
                os.truncate(path, valid_up_to)
            except OSError as e:
                log.warning(f"Error truncating the AOF file {name}: {e.strerror}")
            else:
                log.warning(f"AOF {name} loaded anyway because aof-load-truncated is enabled")
                return AOF_TRUNCATED
        log.warning(f"Unexpected end of file reading the append only file {name}. You can: "
                    "1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
                    "<filename.manifest>. 2) Alternatively you can set the "
                    "'aof-load-truncated' configuration option to yes and restart the server.")
        return AOF_FAILED


async def load_dir(server, dirname: str, manifest: Manifest) -> tuple[int, int, int]:
    """loadAppendOnlyFiles: returns (status, total size, base size)."""
    files = ([manifest.base] if manifest.base else []) + manifest.incr
    if not files:
        return AOF_NOT_EXIST, 0, 0
    total = 0
    for name, _s, _t in files:
        try:
            total += os.path.getsize(os.path.join(dirname, name))
        except OSError as e:
            log.warning(f"The append log file {name} doesn't exist: {e.strerror}")
            return AOF_FAILED, 0, 0
    if total == 0:
        return AOF_EMPTY, 0, 0
    loader = Loader(server, dirname)
    server.loading_progress = [time.time(), total, 0]   # startLoading(total_size)
    base_size = 0
    ret = AOF_OK
    for i, (name, _seq, typ) in enumerate(files):
        last = i == len(files) - 1
        t0 = time.perf_counter()
        if typ == "b":
            base_size = os.path.getsize(os.path.join(dirname, name))
        ret = await loader.load_file(name, last)
        try:
            loader.done += os.path.getsize(os.path.join(dirname, name))
        except OSError:
            pass
        if ret == AOF_OK or (ret == AOF_TRUNCATED and last):
            log.notice("DB loaded from %s file %s: %.3f seconds" % (
                "base" if typ == "b" else "incr", name, time.perf_counter() - t0))
        if ret == AOF_EMPTY:
            ret = AOF_OK
        if ret == AOF_TRUNCATED and not last:
            ret = AOF_FAILED
            log.warning("Fatal error: the truncated file is not the last file")
        if ret in (AOF_OPEN_ERR, AOF_FAILED, AOF_NOT_EXIST):
            return AOF_FAILED if ret == AOF_NOT_EXIST else ret, total, base_size
    return ret, total, base_size


# -- rewrite ----------------------------------------------------------------------------------

def _fmt_score(x: float) -> bytes:
    from valkeyd.resp import format_double
    r = format_double(x)
    return r if isinstance(r, bytes) else str(r).encode()


def rewrite_commands(server, out_write, timestamp: bool = False, progress=None) -> None:
    """rewriteAppendOnlyFileRio with the preamble off: functions, then per database a
    SELECT and one command (batched by 64 items) per key, then PEXPIREAT for volatile keys."""
    from engines.memory import value_type
    buf: list = []
    delay = server.config.get_int("rdb-key-save-delay")   # tests: a slow rewrite child

    def emit(argv):
        cat_command(buf, argv)
        if len(buf) > 4096:
            out_write(b"".join(buf))
            buf.clear()
    if timestamp:
        buf.append(b"#TS:%d\r\n" % int(time.time()))
    try:
        from valkeyd.scripting.functions import functions_of
        fns = functions_of(server)
        for code in fns.libraries_code():
            emit([b"FUNCTION", b"LOAD", code if isinstance(code, bytes) else code.encode()])
    except Exception:   # no function libraries (or no functions module): nothing to write
        pass
    cur_db = None
    nkeys = 0
    for dbid, key, v, exp in server.engine.snapshot():
        if dbid != cur_db:
            emit([b"SELECT", b"%d" % dbid])
            cur_db = dbid
        t = value_type(v)
        if t == "string":
            emit([b"SET", key, bytes(v)])
        elif t == "list":
            _batched(emit, b"RPUSH", key, list(v))
        elif t == "set":
            _batched(emit, b"SADD", key, list(v))
        elif t == "zset":
            items = []
            for m, s in v.items():
                items += [_fmt_score(s), m]
            _batched(emit, b"ZADD", key, items, 2)
        elif t == "hash":
            items = []
            for f, val in v.items():
                items += [f, val]
            _batched(emit, b"HMSET", key, items, 2)
            if v.volatile_count():   # field expiry times: one HPEXPIREAT per distinct time
                by_time: dict = {}
                for f, when in v.volatile_items():
                    by_time.setdefault(when, []).append(f)
                for when, fields in by_time.items():
                    for i in range(0, len(fields), _ITEMS_PER_CMD):
                        part = fields[i:i + _ITEMS_PER_CMD]
                        emit([b"HPEXPIREAT", key, b"%d" % when, b"FIELDS", b"%d" % len(part)]
                             + part)
        elif t == "stream":
            _rewrite_stream(emit, key, v)
        if exp is not None:
            emit([b"PEXPIREAT", key, b"%d" % exp])
        if delay:
            _debug_delay(delay)
        if progress is not None and not nkeys & 1023:
            progress(nkeys + 1)   # sendChildInfo: keys 1, 1025, ... (at most once a second)
        nkeys += 1
    if buf:
        out_write(b"".join(buf))


def _debug_delay(usec: int) -> None:
    """debugDelay: sleep ``usec``; negative: sleep 1 us with probability 1/-usec."""
    if usec < 0:
        import random
        usec = 1 if random.randrange(-usec) == 0 else 0
    if usec:
        time.sleep(usec / 1e6)


def _batched(emit, name, key, items, step=1):
    per = _ITEMS_PER_CMD * step
    for i in range(0, len(items), per):
        emit([name, key] + items[i:i + per])


def _sid(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & 0xFFFFFFFFFFFFFFFF)


def _rewrite_stream(emit, key, s) -> None:
    """rioWriteStreamEmptyConsumer/rewriteStreamObject: XADD each entry, XSETID with the
    entries-added and max-deleted-id, XGROUP CREATE per group, XCLAIM per pending entry."""
    n = 0
    for ident, fields in s.entries():
        emit([b"XADD", key, _sid(ident)] + list(fields))
        n += 1
    if n == 0:
        emit([b"XADD", key, b"MAXLEN", b"0", _sid(s.last_id), b"x", b"y"])
    emit([b"XSETID", key, _sid(s.last_id), b"ENTRIESADDED", b"%d" % s.entries_added,
          b"MAXDELETEDID", _sid(s.max_deleted_entry_id)])
    for gname, g in s.groups.items():
        emit([b"XGROUP", b"CREATE", key, gname, _sid(g.last_id), b"ENTRIESREAD",
              b"%d" % g.entries_read])
        for ident, consumer, dtime, count in g.pel_range(0):
            emit([b"XCLAIM", key, gname, consumer, b"0", _sid(ident), b"TIME", b"%d" % dtime,
                  b"RETRYCOUNT", b"%d" % count, b"JUSTID", b"FORCE"])
        for cname in g.consumer_names():
            emit([b"XGROUP", b"CREATECONSUMER", key, gname, cname])


# -- the AOF ----------------------------------------------------------------------------------

class Aof:
    def __init__(self, server):
        self.server = server
        cfg = server.config
        self.state = AOF_ON if cfg.get("appendonly") == "yes" else AOF_OFF
        self.manifest = Manifest()
        self.fd = -1
        self.buf: list = []
        self.held: list = []           # clients whose replies wait for the next commit
        self.commit_scheduled = False
        self.selected_db = -1
        self.cur_ts = 0
        self.current_size = 0
        self.base_size = 0
        self.last_incr_size = 0
        self.fsynced_size = 0          # bytes of the incr file known fsynced
        self.written_size = 0
        self.rewrites = 0
        self.last_rewrite_time = -1
        self.last_bgrewrite_status = "ok"
        self.last_write_status = "ok"
        self.rewrite_scheduled = False
        self.child = None              # the rewrite child's pid
        self.child_info = None         # its snapshot.ChildInfo pipe (COW, progress)
        self.child_rdb = False         # its base is an RDB
        self.rewrite_time_start = -1
        self.consecutive_failures = 0
        self.waitaof: list = []        # (client, BlockState, numreplicas): WAITAOF in WAIT_REWRITE
        self._limit_delay = 0          # aofRewriteLimited's state
        self._limit_next = 0
        self.delayed_fsync = 0
        self._lock = threading.Lock()
        self._fsync_thread = None
        self._stop = threading.Event()
        self._apply()

    # -- configuration
    def _apply(self, _v=None):
        cfg = self.server.config
        self.fsync = cfg.get("appendfsync")
        self.timestamps = cfg.get("aof-timestamp-enabled") == "yes"
        self.no_fsync_on_rewrite = cfg.get("no-appendfsync-on-rewrite") == "yes"
        self.dirname = cfg.get("appenddirname")
        self.filename = cfg.get("appendfilename")

    def _path(self, name):
        return os.path.join(self.dirname, name)

    # -- write path
    def feed(self, dbid, argv):
        """feedAppendOnlyFile (a propagate hook): while AOF_WAIT_REWRITE only once the
        rewrite child runs (the writes before are in its base)."""
        if self.state != AOF_ON and (self.state == AOF_OFF or self.child is None):
            return
        n = argv[0]
        if len(n) in (7, 8) and n.lower() in _SKIP:
            return
        buf = self.buf
        if self.timestamps:
            now = int(self.server.unixtime)
            if now > self.cur_ts:
                buf.append(b"#TS:%d\r\n" % now)
                self.cur_ts = now
        if dbid != -1 and dbid != self.selected_db:
            s = b"%d" % dbid
            buf.append(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(s), s))
            self.selected_db = dbid
        if argv is self.server.raw_argv:   # propagated as received: its bytes are the encoding
            buf.append(self.server.raw_req)
        else:
            cat_command(buf, argv)
        if not self.commit_scheduled:
            self._schedule_commit()

    def _schedule_commit(self):
        srv = self.server
        srv.aof_pending = True
        self.commit_scheduled = True
        if srv.loop is not None:
            srv.loop.call_soon(self.commit)

    def hold(self, client) -> None:
        """Client.flush while writes are not yet durable: the replies wait for commit."""
        if not client.held_aof:
            client.held_aof = True
            self.held.append(client)
            if not self.commit_scheduled:
                self._schedule_commit()

    def write_buffer(self, fsync: bool | None = None) -> bool:
        """flushAppendOnlyFile's write; with ``fsync`` (default: at ``always``) also a
        synchronous fsync (rewrites, WAITAOF, shutdown)."""
        if fsync is None:
            fsync = self.fsync == "always"
        if self.buf:
            data = b"".join(self.buf)
            self.buf.clear()
            if self.fd < 0:
                return False
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self.fd, view)
                    view = view[n:]
                self.written_size += len(data)
                self.current_size += len(data)
                self.last_write_status = "ok"
            except OSError as e:
                self._write_error(e)
                return False
        if fsync and self.fd >= 0 and self.fsynced_size < self.written_size:
            try:
                os.fsync(self.fd)
            except OSError as e:
                self._write_error(e)
                return False
            self.fsynced_size = self.written_size
        return True

    def _write_error(self, e):
        self.last_write_status = "err"
        log.warning(f"Error writing to the AOF file: {e.strerror}")
        if self.fsync == "always":
            log.warning("Can't recover from AOF write error when the AOF fsync policy is "
                        "'always'. Exiting...")
            os._exit(1)

    def commit(self) -> None:
        """Once per event-loop iteration with writes or held replies (Redis's beforeSleep
        flushAppendOnlyFile): write the buffer; at ``always`` also fsync it, in line, before
        the held replies leave. Every client served in the iteration shares that one fsync
        (group commit); requests that arrive during the fsync wait in their sockets and form
        the next batch. (An fsync in a worker thread, overlapped with the next batch, was
        measured: the thread hand-off and GIL switches cost more CPU per request than the
        overlap saves, with an ~85 µs fsync.)"""
        self.commit_scheduled = False
        held = self.held
        self.held = []
        if self.no_fsync_on_rewrite and active_child(self.server):
            self.write_buffer(False)   # no-appendfsync-on-rewrite: no fsync while a child runs
        else:
            self.write_buffer()
        self._flush_clients(held)
        self._maybe_clear()

    def _flush_clients(self, clients):
        """Send the replies of clients whose writes are durable (Client.flush must not park
        them again: aof_pending is off meanwhile)."""
        if not clients:
            return
        srv = self.server
        srv.aof_pending = False
        try:
            for c in clients:
                c.held_aof = False
                c.flush()
        finally:
            srv.aof_pending = bool(self.buf or self.held or self.commit_scheduled)

    def _maybe_clear(self):
        if not (self.buf or self.held or self.commit_scheduled):
            self.server.aof_pending = False

    def drain(self):
        """Write and fsync everything now and release every held client (before switching
        files, stopping, shutting down)."""
        self.commit_scheduled = False
        self.write_buffer(True)
        held, self.held = self.held, []
        self._flush_clients(held)
        self._maybe_clear()

    def _fsync_loop(self):
        """everysec: the background fsync (Redis's bio AOF fsync job)."""
        while not self._stop.wait(1.0):
            fd = self.fd
            if fd < 0 or self.fsync != "everysec":
                continue
            target = self.written_size
            if target == self.fsynced_size or (self.no_fsync_on_rewrite
                                               and active_child(self.server)):
                continue
            try:
                os.fsync(fd)
                self.fsynced_size = max(self.fsynced_size, target)
            except OSError:
                pass

    def _start_thread(self):
        if self._fsync_thread is None:
            self._stop.clear()
            t = self._fsync_thread = threading.Thread(target=self._fsync_loop, daemon=True,
                                                      name="aof-fsync")
            t.start()

    # -- files
    # -- files
    def persist_manifest(self, m: Manifest | None = None) -> None:
        """persistAofManifest / writeAofManifestFile: temp file, fsync, rename, fsync the
        directory. Raises OSError (logged as Redis does)."""
        m = self.manifest if m is None else m
        name = self.filename + ".manifest"
        tmpname = "temp-" + name
        tmp = self._path(tmpname)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning(f"Can't open the AOF manifest file {tmpname}: {e.strerror}")
            raise
        try:
            data = memoryview(m.format())
            while data:
                try:
                    data = data[os.write(fd, data):]
                except OSError as e:
                    log.warning(f"Error trying to write the temporary AOF manifest file "
                                f"{tmpname}: {e.strerror}")
                    raise
            try:
                os.fsync(fd)
            except OSError as e:
                log.warning(f"Fail to fsync the temp AOF file {tmpname}: {e.strerror}.")
                raise
            try:
                os.rename(tmp, self._path(name))
            except OSError as e:
                log.warning(f"Error trying to rename the temporary AOF manifest file {tmpname} "
                            f"into {name}: {e.strerror}")
                raise
            try:
                _fsync_dir(self.dirname)
            except OSError as e:
                log.warning(f"Fail to fsync AOF directory {self._path(name)}: {e.strerror}.")
                raise
        finally:
            os.close(fd)

    def read_manifest(self) -> Manifest:
        path = self._path(self.filename + ".manifest")
        try:
            with open(path, "rb") as fh:
                text = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return Manifest()
        return Manifest.parse(text)

    def _switch_fd(self, fd: int) -> None:
        """The writes go to ``fd`` from now on (the old file was drained and fsynced)."""
        old = self.fd
        self.fd = fd
        if old >= 0:
            os.close(old)
        self.written_size = self.fsynced_size = os.fstat(fd).st_size
        self.last_incr_size = self.written_size
        self.selected_db = -1

    def open_incr(self, create_new: bool) -> str:
        """aofOpenIfNeededOnServerStart's open: the last incr file (or a new one)."""
        m = self.manifest
        if create_new or not m.incr:
            name = m.new_incr_name(self.filename)
        else:
            name = m.incr[-1][0]
        self._switch_fd(os.open(self._path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                                0o644))
        return name

    def temp_incr_name(self) -> str:
        return "temp-%s.incr" % self.filename

    def open_new_incr(self) -> bool:
        """openNewIncrAofForAppend (at the start of a rewrite): the writes go to a new incr
        file, listed in the manifest (persisted) before the switch; with AOF_WAIT_REWRITE
        (CONFIG SET appendonly yes) to the temp incr file, named only when the rewrite
        succeeds. Atomic: on any failure nothing changed."""
        if self.state == AOF_OFF:
            return True
        if self.state == AOF_WAIT_REWRITE:
            temp_m = None
            name = self.temp_incr_name()
        else:
            temp_m = self.manifest.copy()
            name = temp_m.new_incr_name(self.filename)
        try:
            fd = os.open(self._path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC,
                         0o644)
        except OSError as e:
            log.warning(f"Can't open the append-only file {name}: {e.strerror}")
            return False
        if temp_m is not None:
            try:
                self.persist_manifest(temp_m)
            except OSError:
                os.close(fd)
                return False
        log.notice(f"Creating AOF incr file {name} on background rewrite")
        self._switch_fd(fd)
        if temp_m is not None:
            self.manifest = temp_m
        return True

    def delete_history(self) -> None:
        """aofDelHistoryFiles."""
        if self.server.config.get("aof-disable-auto-gc") == "yes":
            return
        m = self.manifest
        if not m.history:
            return
        for name, _s, _t in m.history:
            log.notice(f"Removing the history file {name} in the background")
            _unlink(self._path(name))
        m.history = []
        try:
            self.persist_manifest()
        except OSError:
            pass

    # -- rewrite
    def _use_rdb(self) -> bool:
        if self.server.config.get("aof-use-rdb-preamble") != "yes":
            return False
        try:
            importlib.import_module("persistence.rdb_save")
        except ImportError:
            return False
        return True

    def rewrite_file(self, filename: str, rdb: bool, progress=None) -> bool:
        """rewriteAppendOnlyFile: the dataset (an RDB with aof-base 1, or commands) into
        temp-rewriteaof-<pid>.aof, fsync, rename to ``filename``."""
        srv = self.server
        tmp = "temp-rewriteaof-%d.aof" % os.getpid()
        try:
            fh = open(tmp, "wb")
        except OSError as e:
            log.warning("Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): %s"
                        % e.strerror)
            return False
        try:
            with fh:
                out = fh
                if srv.config.get("aof-rewrite-incremental-fsync") == "yes":
                    out = _AutoSync(fh)   # rioSetAutoSync: fsync every 4 MB
                if rdb:
                    from persistence.rdb_save import write_rdb
                    write_rdb(srv, out, aof_base=True, progress=progress)
                else:
                    rewrite_commands(srv, out.write, self.timestamps, progress)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as e:
            log.warning("Write error writing append only file on disk: %s" % e.strerror)
            _unlink(tmp)
            return False
        try:
            os.rename(tmp, filename)
        except OSError as e:
            log.warning("Error moving temp append only file on the final destination: %s"
                        % e.strerror)
            _unlink(tmp)
            return False
        return True

    def _child_work(self, rdb: bool, info) -> int:
        """The rewrite child: the new base into temp-rewriteaof-bg-<pid>.aof."""
        progress = None
        if info is not None:
            info.child_side()
            progress = info.progress
        tmp = "temp-rewriteaof-bg-%d.aof" % os.getpid()
        if not self.rewrite_file(tmp, rdb, progress):
            return 1
        log.notice(f"Successfully created the temporary AOF base file {tmp}")
        if info is not None:
            from .snapshot import CHILD_INFO_AOF_COW
            info.send(CHILD_INFO_AOF_COW, pname="AOF rewrite")   # sendChildCowInfo
        return 0

    def rewrite_background(self) -> bool:
        """rewriteAppendOnlyFileBackground: flush the buffer, switch the parent to a new incr
        file, fork a child that writes the new base (see :meth:`_child_done`)."""
        srv = self.server
        if active_child(srv):
            return False
        try:
            os.makedirs(self.dirname, exist_ok=True)
        except OSError as e:
            log.warning(f"Can't open or create append-only dir {self.dirname}: {e.strerror}")
            self.last_bgrewrite_status = "err"
            return False
        if self.state == AOF_OFF:   # not appending: the manifest on disk
            try:
                self.manifest = self.read_manifest()
            except ManifestError:
                self.manifest = Manifest()
        self.drain()             # flushAppendOnlyFile(1): every write so far is in the old file
        self.selected_db = -1
        if not self.open_new_incr():
            self.last_bgrewrite_status = "err"
            return False
        self.rewrites += 1
        rdb = self._use_rdb()
        from .snapshot import ChildInfo, reset_child_stats
        try:
            info = ChildInfo(srv)
        except OSError:
            info = None
        try:
            pid = fork_child(lambda: self._child_work(rdb, info))
        except OSError as e:
            if info is not None:
                info.close()
                reset_child_stats(srv)
            self.last_bgrewrite_status = "err"
            log.warning(f"Can't rewrite append only file in background: fork: {e.strerror}")
            return False
        if info is not None:
            info.parent_side()
        self.child_info = info
        self.child = pid
        self.child_rdb = rdb
        srv.aof_child_pid = pid
        log.notice("Background append only file rewriting started by pid %d" % pid)
        self.rewrite_scheduled = False
        self.rewrite_time_start = time.time()
        return True

    def _fail(self) -> None:
        self.last_bgrewrite_status = "err"
        self.consecutive_failures += 1

    def _end_child(self, ok: bool) -> None:
        """resetChildState: the last child reports (the final COW size) and the pipe."""
        from .snapshot import reset_child_stats
        info, self.child_info = self.child_info, None
        if info is not None:
            if ok:
                info.receive()
            info.close()
        reset_child_stats(self.server)
        self.child = None
        self.server.aof_child_pid = None
        child_gone()

    def _child_done(self, status: int) -> None:
        """backgroundRewriteDoneHandler (from the cron, once the child was reaped)."""
        exitcode, bysignal = exit_info(status)
        pid = self.child
        self._end_child(not bysignal and exitcode == 0)
        if not bysignal and exitcode == 0:
            log.notice("Background AOF rewrite terminated with success")
            self._install_base("temp-rewriteaof-bg-%d.aof" % pid)
        elif not bysignal:
            self._fail()
            log.warning("Background AOF rewrite terminated with error")
        else:
            if bysignal != signal.SIGUSR1:   # SIGUSR1: killed on purpose, not an error
                self._fail()
            log.warning("Background AOF rewrite terminated by signal %d" % bysignal)
        self._remove_temp(pid)
        if self.state == AOF_WAIT_REWRITE:
            self.buf.clear()
            name = self.temp_incr_name()
            log.notice(f"Removing the temp incr aof file {name} in the background")
            _unlink(self._path(name))
        self.last_rewrite_time = int(time.time() - self.rewrite_time_start)
        self.rewrite_time_start = -1
        if self.state == AOF_WAIT_REWRITE:
            self.rewrite_scheduled = True

    def _install_base(self, tmp: str) -> None:
        """The successful end of a rewrite: rename the child's file into the directory as
        the new base, the old base and the rewritten incr files become history, persist the
        manifest, delete the history."""
        m = self.manifest.copy()
        name = m.new_base_name(self.filename, self.child_rdb)
        path = self._path(name)
        try:
            os.rename(tmp, path)
        except OSError as e:
            log.warning(f"Error trying to rename the temporary AOF base file {tmp} into "
                        f"{path}: {e.strerror}")
            self._fail()
            return
        log.notice(f"Successfully renamed the temporary AOF base file {tmp} into {name}")
        new_incr_path = None
        if self.state == AOF_WAIT_REWRITE:
            temp_incr = self.temp_incr_name()
            new_incr = m.new_incr_name(self.filename)
            new_incr_path = self._path(new_incr)
            try:
                os.rename(self._path(temp_incr), new_incr_path)
            except OSError as e:
                log.warning(f"Error trying to rename the temporary AOF incr file "
                            f"{self._path(temp_incr)} into {new_incr_path}: {e.strerror}")
                _unlink(path)
                self._fail()
                return
            log.notice(f"Successfully renamed the temporary AOF incr file {temp_incr} into "
                       f"{new_incr}")
        m.mark_incr_history(keep_last=self.fd >= 0)
        try:
            self.persist_manifest(m)
        except OSError:
            _unlink(path)
            if new_incr_path:
                _unlink(new_incr_path)
            self._fail()
            return
        self.manifest = m
        if self.state != AOF_OFF:
            try:
                base = os.path.getsize(path)
            except OSError:
                base = 0
            self.current_size = base + self.written_size
            self.base_size = self.current_size
        self.delete_history()
        self.last_bgrewrite_status = "ok"
        self.consecutive_failures = 0
        log.notice("Background AOF rewrite finished successfully")
        if self.state == AOF_WAIT_REWRITE:
            self.state = AOF_ON
            self.wake_waitaof()

    def wake_waitaof(self) -> None:
        """The AOF became durable (AOF_WAIT_REWRITE -> AOF_ON): WAITAOF numlocal 1 clients
        are acknowledged locally; those also waiting for replicas keep waiting for them."""
        waiting, self.waitaof = self.waitaof, []
        bl = getattr(self.server, "blocking", None)
        for c, b, numreplicas in waiting:
            if bl is None or c.closed or c.blocked is not b:
                continue
            if numreplicas:
                b.timeout_reply = [1, 0]
            else:
                bl._release(c)
                bl._finish(c, b, [1, 0], False)

    def _remove_temp(self, pid: int) -> None:
        """aofRemoveTempFile."""
        _unlink("temp-rewriteaof-bg-%d.aof" % pid)
        _unlink("temp-rewriteaof-%d.aof" % pid)

    def kill_child(self) -> None:
        """killAppendOnlyChild: SIGUSR1, wait, remove its temp files."""
        pid = self.child
        if pid is None:
            return
        log.notice("Killing running AOF rewrite child: %d" % pid)
        fork_kill(pid)
        self._remove_temp(pid)
        self._end_child(False)
        self.rewrite_time_start = -1

    def rewrite_limited(self) -> bool:
        """aofRewriteLimited: after AOF_REWRITE_LIMITE_THRESHOLD consecutive failures the
        automatic and scheduled rewrites wait 1, 2, 4 ... up to 60 minutes."""
        if self.consecutive_failures < REWRITE_LIMIT_THRESHOLD:
            self._limit_delay = 0
            self._limit_next = 0
            return False
        now = int(self.server.unixtime)
        if self._limit_next:
            if now < self._limit_next:
                return True
            self._limit_next = 0
            return False
        self._limit_delay = min(self._limit_delay * 2 if self._limit_delay else 1,
                                REWRITE_LIMIT_MAX_MINUTES)
        self._limit_next = now + self._limit_delay * 60
        log.warning("Background AOF rewrite has repeatedly failed and triggered the limit, "
                    "will retry in %d minutes" % self._limit_delay)
        return True

    def bgrewriteaof(self, in_exec: bool) -> bytes:
        """bgrewriteaofCommand: the status reply, or raises ErrorReply."""
        from valkeyd.errors import ErrorReply
        if self.child is not None:
            raise ErrorReply("ERR Background append only file rewriting already in progress")
        if active_child(self.server) or in_exec:
            self.rewrite_scheduled = True
            self.consecutive_failures = 0   # a manual request is not rate-limited
            return b"Background append only file rewriting scheduled"
        if self.rewrite_background():
            return b"Background append only file rewriting started"
        raise ErrorReply("ERR Can't execute an AOF background rewriting. Please check the "
                         "server logs for more information.")

    # -- start / stop
    def start_on_boot(self) -> None:
        """aofOpenIfNeededOnServerStart."""
        try:
            os.makedirs(self.dirname, exist_ok=True)
        except OSError as e:
            log.warning(f"Can't open or create append-only dir {self.dirname}: {e.strerror}")
            raise SystemExit(1)
        m = self.manifest
        if m.base is None and not m.incr:
            name = m.new_base_name(self.filename, self._use_rdb())
            if not self.rewrite_file(self._path(name), name.endswith(".rdb")):
                raise SystemExit(1)
            log.notice(f"Creating AOF base file {name} on server start")
        had_incr = bool(m.incr)
        try:
            name = self.open_incr(False)
        except OSError as e:
            log.warning(f"Can't open the append-only file {m.incr[-1][0]}: {e.strerror}")
            raise SystemExit(1)
        try:
            self.persist_manifest()
        except OSError:
            raise SystemExit(1)
        log.notice(f"{'Opening' if had_incr else 'Creating'} AOF incr file {name} on "
                   f"server start")
        self.delete_history()
        self._hook()

    def _hook(self):
        srv = self.server
        from valkeyd.client import Client
        Client.flush = Client.flush_aof   # replies may wait for the AOF (see Client.flush_aof)
        if self.feed not in srv.propagate_hooks:
            srv.propagate_hooks.append(self.feed)
        self._start_thread()

    def stop(self) -> None:
        """stopAppendOnly: flush, fsync, close, kill a rewrite child."""
        srv = self.server
        self.drain()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.selected_db = -1
        self.state = AOF_OFF
        self.rewrite_scheduled = False
        self.last_incr_size = 0
        self.kill_child()
        self.buf.clear()
        if self.feed in srv.propagate_hooks:
            srv.propagate_hooks.remove(self.feed)
        self._stop.set()
        self._fsync_thread = None

    def start_runtime(self) -> bool:
        """startAppendOnly (CONFIG SET appendonly yes): AOF_WAIT_REWRITE, and a background
        rewrite whose child writes the base while the writes accumulate in the temp incr
        file; AOF_ON once it succeeded (retried from the cron until then)."""
        srv = self.server
        try:
            self.manifest = self.read_manifest()
        except ManifestError:
            self.manifest = Manifest()
        self.state = AOF_WAIT_REWRITE
        if active_child(srv) and self.child is None:
            self.rewrite_scheduled = True
            log.notice("AOF was enabled but there is already another background operation. "
                       "An AOF background was scheduled to start when possible.")
        elif srv.prop_depth:   # inside EXEC (CONFIG is noscript)
            self.rewrite_scheduled = True
            log.notice("AOF was enabled during a transaction. An AOF background was "
                       "scheduled to start when possible.")
        else:
            if self.child is not None:
                log.notice("AOF was enabled but there is already an AOF rewriting in "
                           "background. Stopping background AOF and starting a rewrite now.")
                self.kill_child()
            if not self.rewrite_background():
                self.state = AOF_OFF
                log.warning("Redis needs to enable the AOF but can't trigger a background AOF "
                            "rewrite operation. Check the above logs for more info about the "
                            "error.")
                return False
        if self.last_write_status == "err":
            log.warning("AOF reopen, just ignore the last error.")
            self.last_write_status = "ok"
        self._hook()
        return True

    # -- events
    def on_appendonly(self, value):
        from valkeyd.config import ConfigError
        if value == "yes" and self.state == AOF_OFF:
            if not self.start_runtime():
                raise ConfigError("Unable to turn on AOF. Check server logs.") from None
        elif value == "no" and self.state != AOF_OFF:
            self.stop()

    def cron(self):
        """serverCron's AOF part: start a scheduled rewrite, reap the child, the automatic
        rewrite (auto-aof-rewrite-percentage / min-size)."""
        srv = self.server
        if self.rewrite_scheduled and not active_child(srv) and not self.rewrite_limited():
            self.rewrite_background()
        if self.child is not None:
            if self.child_info is not None:
                self.child_info.receive()   # receiveChildInfo: COW size, keys processed
            status = reap(self.child)
            if status is not None:
                self._child_done(status)
            return
        if self.state != AOF_ON or active_child(srv):
            return
        cfg = srv.config
        perc = cfg.get_int("auto-aof-rewrite-percentage")
        if perc and self.current_size > cfg.get_int("auto-aof-rewrite-min-size"):
            base = self.base_size or 1
            growth = (self.current_size * 100 // base) - 100
            if growth >= perc and not self.rewrite_limited():
                log.notice("Starting automatic rewriting of AOF on %d%% growth" % growth)
                self.rewrite_background()

    def on_shutdown(self, flags):
        """prepareForShutdown's AOF part."""
        if self.child is not None:
            if self.state == AOF_WAIT_REWRITE:
                if "force" in flags:
                    log.warning("Writing initial AOF. Exit anyway.")
                else:
                    log.warning("Writing initial AOF, can't exit.")
                    return False
            log.warning("There is a child rewriting the AOF. Killing it!")
            self.kill_child()
        if self.state != AOF_OFF:
            log.notice("Calling fsync() on the AOF file.")
            self.drain()
            return self.last_write_status == "ok"
        return True

    def upgrade_if_needed(self) -> None:
        """loadAppendOnlyFiles' upgrade check: an old single-file AOF (``appendfilename`` in
        ``dir``, Redis < 7) becomes the base of the multi-part directory (aofUpgradePrepare)
        when the directory or its manifest is missing, or when the manifest lists only that
        file as the base and the file is not in the directory yet (an interrupted upgrade)."""
        old = self.filename
        if not os.path.isfile(old):
            return
        m = self.manifest
        if (not os.path.isdir(self.dirname) or (m.base is None and not m.incr)
                or (m.base is not None and not m.incr and m.base[0] == old
                    and not os.path.exists(self._path(old)))):
            try:
                os.makedirs(self.dirname, exist_ok=True)
            except OSError as e:
                log.warning(f"Can't open or create append-only dir {self.dirname}: "
                            f"{e.strerror}")
                raise SystemExit(1)
            m.base = (old, 1, "b")
            m.base_seq = 1
            try:
                self.persist_manifest()
            except OSError:
                raise SystemExit(1)
            try:
                os.rename(old, self._path(old))
            except OSError as e:
                log.warning(f"Error trying to move the old AOF file {old} into dir "
                            f"{self.dirname}: {e.strerror}")
                raise SystemExit(1)
            log.notice(f"Successfully migrated an old-style AOF file ({old}) into the AOF "
                       f"directory ({self.dirname}).")

    def _read_manifest_or_exit(self) -> None:
        try:
            self.manifest = self.read_manifest()
        except ManifestError as e:
            msg, num, line = e.args
            log.warning("\n*** FATAL AOF MANIFEST FILE ERROR ***\n")
            if line is not None:
                log.warning(f"Reading the manifest file, at line {num}\n")
                log.warning(f">>> '{line}'\n")
            log.warning(f"{msg}\n")
            raise SystemExit(1)

    async def load(self):
        """Startup: load the AOF directory when appendonly is yes (loadDataFromDisk)."""
        if self.state != AOF_ON:
            return
        srv = self.server
        self._read_manifest_or_exit()
        self.upgrade_if_needed()
        t0 = time.perf_counter()
        srv.loading = True
        try:
            ret, total, base = await load_dir(srv, self.dirname, self.manifest)
        finally:
            srv.loading = False
        if ret in (AOF_FAILED, AOF_OPEN_ERR):
            raise SystemExit(1)
        if ret != AOF_NOT_EXIST:
            log.notice("DB loaded from append only file: %.3f seconds" % (
                time.perf_counter() - t0))
        self.current_size = total
        self.base_size = base
        self.start_on_boot()

    def debug_loadaof(self, c):
        """DEBUG LOADAOF: flush the AOF buffer, empty the dataset, read the manifest from
        disk, delete the history files and load the AOF files (nothing is propagated)."""
        from valkeyd.errors import ErrorReply
        from valkeyd.resp import OK
        from valkeyd.scripting.functions import functions_of
        srv = self.server
        if self.state != AOF_OFF:
            self.drain()
        srv.engine.flushall()
        functions_of(srv).flush()
        snap = getattr(srv, "snapshots", None)
        for hook in srv.flush_hooks:
            if snap is None or hook != snap.on_flush:   # emptyData saves nothing
                hook(-1)
        try:
            self.manifest = self.read_manifest()
        except ManifestError as e:
            log.warning(f"{e.args[0]}")
            raise ErrorReply("ERR Error trying to load the AOF files, check server logs.")
        self.delete_history()
        hooks, srv.propagate_hooks = srv.propagate_hooks, []
        was_loading = srv.loading
        srv.loading = True
        try:
            ret, _total, _base = _run_sync(load_dir(srv, self.dirname, self.manifest))
        finally:
            srv.loading = was_loading
            srv.propagate_hooks = hooks
        if ret not in (AOF_OK, AOF_EMPTY, AOF_TRUNCATED):
            raise ErrorReply("ERR Error trying to load the AOF files, check server logs.")
        srv.dirty_at_last_save = srv.dirty   # server.dirty = 0: nothing to save
        log.notice("Append Only File loaded by DEBUG LOADAOF")
        return OK

    def info(self) -> list:
        """INFO persistence's aof_* fields, in Redis 7.2.4's order."""
        srv = self.server
        lines = [
            "aof_enabled:%d" % (1 if self.state != AOF_OFF else 0),
            "aof_rewrite_in_progress:%d" % (1 if self.child is not None else 0),
            "aof_rewrite_scheduled:%d" % self.rewrite_scheduled,
            "aof_last_rewrite_time_sec:%d" % self.last_rewrite_time,
            "aof_current_rewrite_time_sec:%d" % (
                int(time.time() - self.rewrite_time_start) if self.child is not None else -1),
            "aof_last_bgrewrite_status:" + self.last_bgrewrite_status,
            "aof_rewrites:%d" % self.rewrites,
            "aof_rewrites_consecutive_failures:%d" % self.consecutive_failures,
            "aof_last_write_status:" + self.last_write_status,
            "aof_last_cow_size:%d" % getattr(srv, "stat_aof_cow_bytes", 0),
            "module_fork_in_progress:0",
            "module_fork_last_cow_size:0",
        ]
        if srv.config.get("appendonly") == "yes":
            lines += [
                "aof_current_size:%d" % self.current_size,
                "aof_base_size:%d" % self.base_size,
                "aof_pending_rewrite:%d" % self.rewrite_scheduled,
                "aof_buffer_length:%d" % sum(len(b) for b in self.buf),
                "aof_pending_bio_fsync:0",
                "aof_delayed_fsync:%d" % self.delayed_fsync,
            ]
        return lines


class _AutoSync:
    """A file writer that fsyncs every AUTOSYNC_BYTES (Redis's REDIS_AUTOSYNC_BYTES), so the
    final fsync of a big rewrite does not stall on gigabytes of dirty pages."""
    AUTOSYNC_BYTES = 4 * 1024 * 1024

    def __init__(self, fh):
        self.fh = fh
        self.pending = 0

    def write(self, data) -> None:
        self.fh.write(data)
        self.pending += len(data)
        if self.pending >= self.AUTOSYNC_BYTES:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.pending = 0


def _run_sync(coro):
    """Run a coroutine that only awaits asyncio.sleep(0) to completion, without a loop
    (DEBUG LOADAOF runs inside a command: the loader's yields are just resumed)."""
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def install(server) -> Aof:
    """Attach the AOF to a server (called from Server.__init__)."""
    aof = server.aof = Aof(server)
    cfg = server.config
    server.load_hooks.append(aof.load)
    server.shutdown_hooks.append(aof.on_shutdown)
    server.cron_hooks.append(aof.cron)
    server.debug_loadaof = aof.debug_loadaof
    server.aof_child_pid = None
    server.stat_aof_cow_bytes = 0
    cfg.on_change("appendonly", aof.on_appendonly)
    # updateAofAutoGCEnabled: turning the history cleanup back on deletes the history now
    cfg.on_change("aof-disable-auto-gc", lambda v: v == "no" and aof.delete_history())
    for name in ("appendfsync", "aof-timestamp-enabled", "no-appendfsync-on-rewrite"):
        cfg.on_change(name, aof._apply)
    return aof
