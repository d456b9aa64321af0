"""The fork machinery shared by BGSAVE (persistence/snapshot.py) and the background AOF
rewrite (persistence/aof.py): Redis's redisFork / exitFromChild / sendChildCowInfo.

:func:`fork_child` freezes the garbage collector (``gc.freeze()`` moves every object to the
permanent generation, so neither process's collector writes to the shared pages; reference
count updates still copy the pages of the objects the child reads), forks, and in the child
restores the default signal handlers (so SIGUSR1 from the parent ends it at once, as
Redis's whitelisted "kill without error" signal), sets the log role to ``C`` and runs
``work()``, whose return value is the exit code; any exception exits with 1. The child never
returns into the event loop. Before leaving it measures its copy-on-write cost (the sum of
``Private_Dirty`` in /proc/self/smaps, Redis's zmalloc_get_private_dirty), logs it as
Redis does ("Fork CoW for <name>: current N MB, peak N MB, average N MB") and sends it to
the parent over a pipe; :func:`reap` returns it with the wait status. The parent calls
:func:`child_gone` (which unfreezes the collector) once the child has been reaped.

Only one child runs at a time (callers check :func:`active_child`)."""
from __future__ import annotations

import gc
import os
import signal

from valkeyd.log import log


def private_dirty() -> int:
    """Bytes of this process's private dirty pages (0 where /proc is not available)."""
    total = 0
    try:
        with open("/proc/self/smaps_rollup", "rb") as f:
            text = f.read()
    except OSError:
        try:
            with open("/proc/self/smaps", "rb") as f:
                text = f.read()
        except OSError:
            return 0
    for line in text.split(b"\n"):
        if line.startswith(b"Private_Dirty:"):
            total += int(line.split()[1]) * 1024
    return total


class Child:
    """A running fork child: its pid and the read end of its info pipe."""
    __slots__ = ("pid", "rfd")

    def __init__(self, pid: int, rfd: int):
        self.pid = pid
        self.rfd = rfd


def fork_child(work, name: str, info: bool = True) -> Child:
    """Fork a child that runs ``work()`` (its return value is the exit code). Raises OSError
    when the fork fails (the collector is unfrozen again). ``info``: measure and send the
    copy-on-write size (see :func:`reap`)."""
    rfd, wfd = os.pipe() if info else (-1, -1)
    gc.freeze()
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        if info:
            os.close(rfd)
            os.close(wfd)
        raise
    if pid == 0:   # child
        code = 1
        try:
            if info:
                os.close(rfd)
            gc.disable()
            log.role = "C"
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (ValueError, OSError):
                    pass
            try:   # a signal to the child must not wake the parent's event loop
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError):
                pass
            code = work()
            if code == 0 and info:
                cow = private_dirty()
                mb = cow >> 20
                log.notice("Fork CoW for %s: current %d MB, peak %d MB, average %d MB"
                           % (name, mb, mb, mb))
                os.write(wfd, b"%d\n" % cow)
        except BaseException:
            code = 1
        finally:
            os._exit(code if type(code) is int else 1)   # never returns into the parent's code
    if info:
        os.close(wfd)
        os.set_blocking(rfd, False)
    return Child(pid, rfd)


def reap(child: Child, block: bool = False):
    """waitpid for the child: None while it runs, else (status, cow_bytes)."""
    try:
        done, status = os.waitpid(child.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        done, status = child.pid, 1 << 8
    if not done:
        return None
    cow = 0
    if child.rfd >= 0:
        try:
            cow = int(os.read(child.rfd, 64).strip() or 0)
        except (OSError, ValueError):
            pass
        os.close(child.rfd)
        child.rfd = -1
    return status, cow


def kill(child: Child) -> None:
    """SIGUSR1 (Redis's "terminated without error" signal) and wait for the child."""
    try:
        os.kill(child.pid, signal.SIGUSR1)
    except OSError:
        pass
    reap(child, block=True)


def child_gone() -> None:
    gc.unfreeze()


def exit_info(status: int):
    """(exitcode, bysignal) from a wait status, as checkChildrenDone computes them."""
    if os.WIFSIGNALED(status):
        return -1, os.WTERMSIG(status)
    return (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1), 0


def active_child(server) -> bool:
    """hasActiveChildProcess: a BGSAVE or an AOF rewrite child is running."""
    snap = getattr(server, "snapshots", None)
    return (getattr(server, "aof_child_pid", None) is not None
            or (snap is not None and snap.child_pid is not None))
