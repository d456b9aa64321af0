"""The fork machinery shared by BGSAVE (persistence/snapshot.py) and the background AOF
rewrite (persistence/aof.py): Redis's redisFork / exitFromChild / checkChildrenDone.

:func:`fork_child` freezes the garbage collector (``gc.freeze()`` moves every object to the
permanent generation, so neither process's collector writes to the shared pages; reference
count updates still copy the pages of the objects the child reads), forks, and in the child
restores the default signal handlers (so SIGUSR1 from the parent ends it at once: Redis's
"killed without error" signal), detaches the event loop's signal wakeup fd, sets the log
role to ``C`` and runs ``work()``, whose return value is the exit code; any exception exits
with 1, and the child never returns into the parent's code. The copy-on-write and progress
reports travel over ``snapshot.ChildInfo``'s pipe, which the caller creates before the
fork. The parent polls :func:`reap` from the cron and calls :func:`child_gone` (which
unfreezes the collector) once the child is reaped. Only one child runs at a time
(:func:`active_child`)."""
from __future__ import annotations

import gc
import os
import signal

from valkeyd.log import log


def fork_child(work) -> int:
    """Fork a child that runs ``work()`` and exits with its return value; returns the pid.
    Raises OSError when the fork fails (the collector is unfrozen again)."""
    gc.freeze()
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        raise
    if pid == 0:   # child
        code = 1
        try:
            gc.disable()
            log.role = "C"   # the child's log lines, as Redis's
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
        except BaseException:
            code = 1
        finally:
            os._exit(code if type(code) is int else 1)
    return pid


def reap(pid: int, block: bool = False):
    """waitpid for the child: None while it runs, else its wait status."""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return 1 << 8
    return status if done else None


def kill(pid: int) -> None:
    """SIGUSR1 (terminated without an error) and wait for the child."""
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        pass
    reap(pid, block=True)


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
