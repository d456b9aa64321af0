"""Snapshots: SAVE, BGSAVE, save points, the MISCONF state and the final save at SHUTDOWN.

One :class:`Snapshots` per server (``server.snapshots``), installed by ``Server.__init__``. It
follows Redis 7.2.4's rdb.c / server.c:

* **Durable write** (rdbSave): the dataset goes to ``temp-<pid>.rdb`` in the working
  directory (the server chdirs to ``dir``), which is flushed and fsynced, then renamed over
  ``dbfilename``, then the directory is fsynced. **Beyond Redis**, before the rename the new
  file is read back and verified (:func:`verify_file`): its size and zlib CRC-32 equal those
  of the stream written (whose CRC-64 is the trailer, so equal bytes mean a valid CRC-64;
  the CRC-64 itself is pure Python and too slow to run twice), the trailer, and the number
  of keys found by walking the file (:func:`count_keys`) against the number written. A file
  that fails is deleted and the previous RDB kept (logged; the save fails).
* **BGSAVE**: ``os.fork()``; the child writes the file as above and leaves with
  ``os._exit`` (0 on success). ``gc.freeze()`` just before the fork moves every object to
  the permanent generation, so neither process's collector writes to the shared pages
  (reference-count updates still copy the pages of the objects the child reads). The parent
  reaps the child from the cron (``waitpid(WNOHANG)``) and logs as Redis does ("Background
  saving started by pid N", "Background saving terminated with success", "Background saving
  error", "... terminated by signal N").
* **Child info** (Redis's child-info pipe, :class:`ChildInfo`): the BGSAVE child reports
  the keys it has written and its copy-on-write size (Private_Dirty of
  /proc/self/smaps_rollup) at the first key, then at most once a second, and its peak at
  the end; the parent reads the pipe from the cron and keeps INFO persistence's
  ``current_cow_*``, ``current_save_keys_*``, ``current_fork_perc`` and
  ``rdb_last_cow_size``.
* **Save points** (``save <seconds> <changes>`` ...): checked every cron tick: enough
  changes since the last save and more seconds than the point's, and either the last
  background save succeeded or 5 s passed since it was tried (CONFIG_BGSAVE_RETRY_DELAY).
  BGSAVE SCHEDULE (or BGSAVE inside MULTI) runs from the cron once no child is active.
* **MISCONF**: when ``stop-writes-on-bgsave-error`` is on, save points exist and the last
  background save failed, ``server.write_error`` holds the MISCONF text; the dispatcher
  rejects write commands (and PING) with it.
* **SHUTDOWN** saves when save points exist (unless NOSAVE) or with SAVE; a failed save
  cancels the shutdown unless FORCE. **FLUSHALL** saves synchronously when save points exist
  (killing a running BGSAVE child first).

The dirty counter is never reset (command propagation compares it before and after each
command); ``server.dirty_at_last_save`` marks the last successful save instead.
"""
from __future__ import annotations

import gc
import mmap
import os
import signal
import struct
import time
import zlib

from valkeyd import errors
from valkeyd.log import log

from . import rdb_primitives as rdbp
from .crc64 import crc64_bytes
from .fork import fork_child
from .rdb_save import write_rdb

BGSAVE_RETRY_DELAY = 5


class SaveError(Exception):
    pass


# -- verification -----------------------------------------------------------------------------
def _str_end(data: bytes, p: int) -> int:
    """The offset just past the RDB string that starts at ``p``."""
    b = data[p]
    t = b >> 6
    if t == 0:
        return p + 1 + b
    if t == 1:
        return p + 2 + (((b & 0x3F) << 8) | data[p + 1])
    if t == 2:
        if b == 0x80:
            return p + 5 + int.from_bytes(data[p + 1:p + 5], "big")
        if b == 0x81:
            return p + 9 + int.from_bytes(data[p + 1:p + 9], "big")
        raise rdbp.RDBError(f"bad length byte at offset {p}")
    enc = b & 0x3F
    if enc == rdbp.RDB_ENC_INT8:
        return p + 2
    if enc == rdbp.RDB_ENC_INT16:
        return p + 3
    if enc == rdbp.RDB_ENC_INT32:
        return p + 5
    if enc == rdbp.RDB_ENC_LZF:
        r = rdbp.Reader(data, p + 1)
        clen = r.length()
        r.length()
        return r.pos + clen
    raise rdbp.RDBError(f"bad string encoding at offset {p}")


def _skip_value(r, t: int) -> None:
    data = r.data

    def s(r):
        r.pos = _str_end(data, r.pos)

    if t == 18:
        for _ in range(r.length()):
            r.length()
            s(r)
    elif t == 2:
        for _ in range(r.length()):
            s(r)
    elif t == 4:
        for _ in range(r.length()):
            s(r)
            s(r)
    elif t == 24:   # HASH_METADATA (RDB 12): the minimum expiry, then (ttl, field, value)s
        r.pos += 8
        for _ in range(r.length()):
            r.length()
            s(r)
            s(r)
    elif t == 5:
        for _ in range(r.length()):
            s(r)
            r.pos += 8
    elif t == 21:
        for _ in range(r.length()):
            s(r)
            s(r)
        for _ in range(8):
            r.length()
        for _ in range(r.length()):
            s(r)
            r.length()
            r.length()
            r.length()
            for _ in range(r.length()):
                r.pos += 16 + 8
                r.length()
            for _ in range(r.length()):
                s(r)
                r.pos += 16
                for _ in range(r.length()):
                    r.pos += 16
    elif t in (11, 16, 17, 20):
        s(r)
    else:
        raise rdbp.RDBError(f"unexpected value type {t} at offset {r.pos - 1}")


def count_keys(data: bytes) -> int:
    """Walk an RDB file as this writer produces it and count its keys (RDBError if the
    structure is broken or does not end exactly at EOF + 8 checksum bytes)."""
    if data[:9] not in (b"REDIS%04d" % rdbp.RDB_VERSION, b"REDIS0012"):
        raise rdbp.RDBError("wrong signature")
    r = rdbp.Reader(data, 9)
    end = _str_end
    n = 0
    p = 9
    try:
        while True:
            t = data[p]
            if t == 0:                 # a string key: the common case, kept inline
                b = data[p + 1]
                p = p + 2 + b if b < 0x40 else end(data, p + 1)
                b = data[p]
                p = p + 1 + b if b < 0x40 else end(data, p)
                n += 1
                continue
            if t == rdbp.RDB_OPCODE_EXPIRETIME_MS:
                p += 9
                continue
            if t == rdbp.RDB_OPCODE_FREQ:
                p += 2
                continue
            if t == rdbp.RDB_OPCODE_IDLE:
                r.pos = p + 1
                r.length()
                p = r.pos
                continue
            if t == rdbp.RDB_OPCODE_EOF:
                p += 1
                break
            if t == rdbp.RDB_OPCODE_AUX:
                p = end(data, end(data, p + 1))
            elif t == rdbp.RDB_OPCODE_FUNCTION2:
                p = end(data, p + 1)
            elif t == rdbp.RDB_OPCODE_SELECTDB:
                r.pos = p + 1
                r.length()
                p = r.pos
            elif t == rdbp.RDB_OPCODE_RESIZEDB:
                r.pos = p + 1
                r.length()
                r.length()
                p = r.pos
            else:
                r.pos = end(data, p + 1)
                _skip_value(r, t)
                p = r.pos
                n += 1
    except IndexError:
        raise rdbp.RDBError("unexpected end of data") from None
    if len(data) - p != 8:
        raise rdbp.RDBError(f"{len(data) - p} bytes after EOF (8 expected)")
    return n


def verify_file(path: str, nkeys: int, stats: dict) -> None:
    """Read the new file back: the same size and bytes as written (zlib CRC-32 of the
    written stream; with the CRC-64 trailer computed over that same stream, equal bytes
    mean a valid CRC-64), the trailer, and the key count found by walking the file."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size != stats["size"] or size < 18:
            raise SaveError("the file read back differs from what was written")
        # mapped, not read: the pages stay the page cache's (no private copy in a BGSAVE child)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if zlib.crc32(data) != stats["crc32"]:
                raise SaveError("the file read back differs from what was written")
            if stats["crc64"] is not None and data[-8:] != crc64_bytes(stats["crc64"]):
                raise SaveError("CRC-64 trailer mismatch")
            try:
                found = count_keys(data)
            except rdbp.RDBError as e:
                raise SaveError(f"unreadable: {e}") from None
    if found != nkeys:
        raise SaveError(f"{found} keys in the file, {nkeys} written")


def fsync_dir(path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_to(server, filename: str, progress=None) -> None:
    """rdbSave: temp file, fsync, verify, rename, fsync the directory. Raises SaveError
    (already logged)."""
    tmp = "temp-%d.rdb" % os.getpid()
    step = "open"
    try:
        f = open(tmp, "wb")
    except OSError as e:
        log.warning("Failed opening the temp RDB file %s (in server root dir %s) for saving: "
                    "%s" % (tmp, os.getcwd(), e.strerror))
        raise SaveError(str(e)) from None
    try:
        with f:
            step = "rdbSaveRio"
            stats = {}
            nkeys = write_rdb(server, f, stats=stats, progress=progress)
            step = "fflush"
            f.flush()
            step = "fsync"
            os.fsync(f.fileno())
    except OSError as e:
        log.warning("Write error while saving DB to the disk(%s): %s" % (step, e.strerror))
        _unlink(tmp)
        raise SaveError(str(e)) from None
    try:
        verify_file(tmp, nkeys, stats)
    except (SaveError, OSError) as e:
        log.warning("The new RDB file %s failed verification (%s): keeping the previous %s"
                    % (tmp, e, filename))
        _unlink(tmp)
        raise SaveError(str(e)) from None
    try:
        os.rename(tmp, filename)
    except OSError as e:
        log.warning("Error moving temp DB file %s on the final destination %s (in server root "
                    "dir %s): %s" % (tmp, filename, os.getcwd(), e.strerror))
        _unlink(tmp)
        raise SaveError(str(e)) from None
    try:
        fsync_dir(filename)
    except OSError as e:
        log.warning("Failed to fsync directory while saving DB: %s" % e.strerror)
        raise SaveError(str(e)) from None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- the child info pipe (Redis's childinfo.c) --------------------------------------------------
CHILD_INFO_CURRENT = 0     # progress: keys processed and the copy-on-write size so far
CHILD_INFO_RDB_COW = 1     # the end of a successful save: rdb_last_cow_size
CHILD_INFO_AOF_COW = 2     # the same for an AOF rewrite child
_CHILD_MSG = struct.Struct("<iqqd")   # type, keys, cow bytes, when measured (monotonic)


def private_dirty() -> int:
    """This process's Private_Dirty bytes (zmalloc_get_private_dirty): the pages a forked
    child has copied on write."""
    try:
        with open("/proc/self/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class ChildInfo:
    """The pipe a forked child reports through (sendChildInfo / receiveChildInfo). Create it
    before the fork; the child calls :meth:`send` (keys processed so far, at most once a
    second during the save, and once at the end with the final type), the parent
    :meth:`receive` from the cron and before it handles the child's exit. The parent keeps
    Redis's counters on the server: ``stat_current_cow_peak``, ``stat_current_cow_bytes``,
    ``stat_current_cow_updated``, ``stat_current_save_keys_processed``,
    ``stat_current_save_keys_total``, ``stat_rdb_cow_bytes`` (``stat_aof_cow_bytes``)."""

    def __init__(self, server):
        self.server = server
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        self.last_sent = 0.0
        self.peak = self.sum = self.count = 0
        reset_child_stats(server)
        server.stat_current_save_keys_total = sum(
            server.engine.db(i).size() for i in range(server.engine.databases))

    # child side
    def child_side(self) -> None:
        os.close(self.rfd)
        self.rfd = None

    def progress(self, keys: int) -> None:
        """CHILD_INFO_CURRENT, at most once a second (rdbSaveDb's throttle)."""
        now = time.monotonic()
        if now - self.last_sent >= 1.0:
            self.last_sent = now
            self.send(CHILD_INFO_CURRENT, keys)

    def send(self, kind: int, keys: int = 0, pname: str = "RDB") -> None:
        cow = private_dirty()
        when = time.monotonic()
        self.peak = max(self.peak, cow)
        self.sum += cow
        self.count += 1
        if kind != CHILD_INFO_CURRENT:
            log.notice("Fork CoW for %s: current %d MB, peak %d MB, average %d MB"
                       % (pname, cow >> 20, self.peak >> 20, (self.sum // self.count) >> 20))
        try:
            os.write(self.wfd, _CHILD_MSG.pack(kind, keys, cow, when))
        except OSError:
            os._exit(1)   # the parent is gone

    # parent side
    def parent_side(self) -> None:
        os.close(self.wfd)
        self.wfd = None

    def receive(self) -> None:
        srv = self.server
        size = _CHILD_MSG.size
        while self.rfd is not None:
            try:
                buf = os.read(self.rfd, size)
            except BlockingIOError:
                return
            except OSError:
                return
            if len(buf) < size:
                return
            kind, keys, cow, when = _CHILD_MSG.unpack(buf)
            if cow > srv.stat_current_cow_peak:
                srv.stat_current_cow_peak = cow
            if kind == CHILD_INFO_CURRENT:
                srv.stat_current_cow_bytes = cow
                srv.stat_current_cow_updated = when
                srv.stat_current_save_keys_processed = keys
            elif kind == CHILD_INFO_RDB_COW:
                srv.stat_rdb_cow_bytes = srv.stat_current_cow_peak
            elif kind == CHILD_INFO_AOF_COW:
                srv.stat_aof_cow_bytes = srv.stat_current_cow_peak

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.rfd = self.wfd = None


def reset_child_stats(server) -> None:
    """resetChildState's counters (at fork and when the child is gone)."""
    server.stat_current_cow_peak = 0
    server.stat_current_cow_bytes = 0
    server.stat_current_cow_updated = 0.0
    server.stat_current_save_keys_processed = 0
    server.stat_current_save_keys_total = 0


class Snapshots:
    def __init__(self, server):
        self.server = server
        self.child_pid = None
        self.child_start = 0.0
        self.lastbgsave_try = 0
        self.dirty_before_bgsave = 0
        self.scheduled = False
        server.snapshots = self
        server.dirty_at_last_save = 0
        server.lastbgsave_status = "ok"
        server.rdb_save_time_last = -1
        server.rdb_saves = 0
        server.bgsave_in_progress = False
        server.write_error = None
        server.stat_rdb_cow_bytes = 0
        self.child_info = None
        reset_child_stats(server)
        server.cron_hooks.append(self.cron)
        server.shutdown_hooks.append(self.on_shutdown)
        server.flush_hooks.append(self.on_flush)
        server.debug_reload = self.debug_reload
        cfg = server.config
        for name in ("save", "stop-writes-on-bgsave-error"):
            cfg.on_change(name, lambda _v: self._update_write_error())

    # -- state -----------------------------------------------------------------------------
    @property
    def filename(self) -> str:
        return self.server.config.get("dbfilename")

    def has_child(self) -> bool:
        return self.child_pid is not None or bool(getattr(self.server, "aof_child_pid", None))

    def _update_write_error(self) -> None:
        srv = self.server
        cfg = srv.config
        if (srv.lastbgsave_status == "err" and cfg.save_params
                and cfg.get_bool("stop-writes-on-bgsave-error")):
            srv.write_error = errors.MISCONF
        elif srv.write_error == errors.MISCONF:
            srv.write_error = None

    def _set_status(self, ok: bool) -> None:
        self.server.lastbgsave_status = "ok" if ok else "err"
        self._update_write_error()

    # -- foreground ------------------------------------------------------------------------
    def save(self) -> bool:
        """rdbSave of the whole dataset to dbfilename (SAVE, SHUTDOWN, FLUSHALL)."""
        srv = self.server
        dirty = srv.dirty
        try:
            save_to(srv, self.filename)
        except SaveError:
            return False
        log.notice("DB saved on disk")
        srv.dirty_at_last_save = dirty
        srv.lastsave = int(time.time())
        self._set_status(True)
        return True

    # -- background ------------------------------------------------------------------------
    def bgsave(self) -> bool:
        """rdbSaveBackground. False when no child could be started (logged)."""
        srv = self.server
        if self.has_child():
            return False
        srv.rdb_saves += 1
        self.dirty_before_bgsave = srv.dirty
        self.lastbgsave_try = int(time.time())
        filename = self.filename
        try:
            info = ChildInfo(srv)
        except OSError:
            info = None

        def work():   # in the child (persistence/fork.py: gc.freeze, signals, os._exit)
            progress = None
            if info is not None:
                info.child_side()
                progress = info.progress
            save_to(srv, filename, progress)
            log.notice("DB saved on disk")
            if info is not None:
                info.send(CHILD_INFO_RDB_COW)
            return 0
        prepare = getattr(srv.engine, "prepare_fork", None)   # the lmdb engine (engines/lmdb.py)
        if prepare is not None:
            prepare()
        try:
            pid = fork_child(work)
        except OSError as e:
            if prepare is not None:
                srv.engine.fork_parent_wait()
            if info is not None:
                info.close()
                reset_child_stats(srv)
            self._set_status(False)
            log.warning("Can't save in background: fork: %s" % e.strerror)
            return False
        if prepare is not None:
            srv.engine.fork_parent_wait()
        if info is not None:
            info.parent_side()
        self.child_info = info
        self.child_pid = pid
        self.child_start = time.time()
        srv.bgsave_in_progress = True
        log.notice("Background saving started by pid %d" % pid)
        return True

    def _end_child_info(self, status: int | None) -> None:
        info, self.child_info = self.child_info, None
        if info is not None:
            if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                info.receive()   # the last reports may arrive after the child exited
            info.close()
        reset_child_stats(self.server)

    def _child_done(self, status: int) -> None:
        srv = self.server
        self._end_child_info(status)
        self.child_pid = None
        srv.bgsave_in_progress = False
        srv.rdb_save_time_last = int(time.time() - self.child_start)
        gc.unfreeze()
        if os.WIFEXITED(status):
            if os.WEXITSTATUS(status) == 0:
                log.notice("Background saving terminated with success")
                srv.dirty_at_last_save = self.dirty_before_bgsave
                srv.lastsave = int(time.time())
                self._set_status(True)
            else:
                log.warning("Background saving error")
                self._set_status(False)
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            log.warning("Background saving terminated by signal %d" % sig)
            _unlink("temp-%d.rdb" % self.child_pid_last)
            if sig != signal.SIGUSR1:
                self._set_status(False)

    def kill_child(self) -> None:
        """killRDBChild: SIGUSR1 (not an error), reaped at once, temp file removed."""
        pid = self.child_pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGUSR1)
            os.waitpid(pid, 0)
        except OSError:
            pass
        _unlink("temp-%d.rdb" % pid)
        self._end_child_info(None)
        self.child_pid = None
        self.server.bgsave_in_progress = False
        gc.unfreeze()

    def wait_child(self) -> None:
        """Block until a running BGSAVE child ends (tests, DEBUG RELOAD)."""
        pid = self.child_pid
        if pid is not None:
            _, status = os.waitpid(pid, 0)
            self.child_pid_last = pid
            self._child_done(status)

    child_pid_last = 0

    def current_time_sec(self) -> int:
        return int(time.time() - self.child_start) if self.child_pid is not None else -1

    # -- hooks -----------------------------------------------------------------------------
    def cron(self) -> None:
        srv = self.server
        pid = self.child_pid
        if pid is not None:
            if self.child_info is not None:
                self.child_info.receive()
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 1 << 8
            if done:
                self.child_pid_last = pid
                self._child_done(status)
            return
        if self.has_child():
            return
        now = int(time.time())
        ok = srv.lastbgsave_status == "ok"
        retry = now - self.lastbgsave_try > BGSAVE_RETRY_DELAY
        if self.scheduled and (retry or ok):
            self.scheduled = False
            self.bgsave()
            return
        changes = srv.dirty - srv.dirty_at_last_save
        for seconds, count in srv.config.save_params:
            if changes >= count and now - srv.lastsave > seconds and (retry or ok):
                log.notice("%d changes in %d seconds. Saving..." % (count, seconds))
                self.bgsave()
                break

    def on_shutdown(self, flags) -> bool:
        srv = self.server
        if self.child_pid is not None:
            log.warning("There is a child saving an .rdb. Killing it!")
            self.kill_child()
        if ("nosave" in flags) and "save" not in flags:
            return True
        if srv.config.save_params or "save" in flags:
            log.notice("Saving the final RDB snapshot before exiting.")
            if not self.save():
                if "force" in flags:
                    log.warning("Error trying to save the DB. Exit anyway.")
                    return True
                log.warning("Error trying to save the DB, can't exit.")
                return False
        return True

    def debug_reload(self, c, opts: list):
        """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save (unless NOSAVE), empty the dataset
        and the function libraries (unless NOFLUSH), load dbfilename back through the RDB
        reader (persistence/rdb_load.py; MERGE lets loaded keys and libraries replace
        existing ones)."""
        from valkeyd.errors import ErrorReply
        from valkeyd.resp import OK
        try:
            from .rdb_load import RDBLoadError, load_rdb
        except ImportError:
            raise ErrorReply("ERR DEBUG RELOAD is not supported by valkeyd") from None
        srv = self.server
        if "nosave" not in opts and not self.save():
            raise ErrorReply("ERR")
        if "noflush" not in opts:
            srv.engine.flushall()
            from valkeyd.scripting.functions import functions_of
            functions_of(srv).flush()
            for hook in srv.flush_hooks:
                if hook != self.on_flush:
                    hook(-1)
        try:
            load_rdb(srv, self.filename, name=self.filename, allow_dup="merge" in opts)
        except (RDBLoadError, OSError) as e:
            log.warning("Error loading %s: %s" % (self.filename, e))
            raise ErrorReply("ERR Error trying to load the RDB dump, check server logs.") \
                from None
        log.notice("DB reloaded by DEBUG RELOAD")
        return OK

    def on_flush(self, dbid: int) -> None:
        if dbid != -1:
            return
        self.kill_child()
        if self.server.config.save_params:
            self.save()
