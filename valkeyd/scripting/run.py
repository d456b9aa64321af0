"""Running a script: the run context (Redis's ``scriptRunCtx``), the checks of ``scriptCall``
for commands called from Lua, busy scripts and SCRIPT KILL / FUNCTION KILL.

Threads. Lua runs in a worker thread (one per server, :class:`Worker`) while the event-loop
thread waits for it, at most ``busy-reply-threshold`` ms (lupa releases the GIL while Lua
runs). Until then the loop thread is parked and the worker runs ``redis.call`` commands
itself (the two threads never touch server state at the same time). A script that is still
running at the threshold puts the server in the *busy* state: ``server.script_busy`` is the
context, the caller is parked like a blocked client (its later requests queue), and the loop
thread goes back to serving. While busy, ``Client.execute`` refuses every command without
the ``allow_busy`` flag with ``-BUSY`` (the test rides on the dispatcher's one rare-state
test, ``server.hold``), the cron does no data work, and each ``redis.call`` of the script is
marshalled to the loop thread (``call_soon_threadsafe``) so that all server state is still
touched by one thread at a time. SCRIPT KILL sets ``ctx.killed``; a Lua count hook (every
100000 instructions) sees it and raises Redis's kill error, then fires on every line so
that ``pcall`` cannot swallow it. When the script ends, its reply goes to the caller and
the caller's queued requests run.

Scripts run from EXEC (``client.in_exec``), from a client that must obey (AOF/primary) or
without an event loop run synchronously on the calling thread (no busy state).

Per-EVAL cost of the worker handoff: about 10 us (two lock handoffs).

The API for script engines (EVAL here, FCALL in the functions module)::

    ctx_or_err = prepare(c, engine, name, script_flags, ro, eval_mode)
    reply = run_script(c, ctx, lambda: engine.run_eval(f, c.resp, name_bytes, numkeys,
                                                       *keys_and_args))
    kill_script(c, is_eval) -> reply         # SCRIPT KILL / FUNCTION KILL
"""
from __future__ import annotations

import _thread
import threading
import time

from engines.base import clock as _clock

from ..client import Client
from ..commands.registry import TABLE, lookup
from ..errors import ErrorReply
from ..log import log
from ..resp import Raw
from .engine import lua_arg

# Script flags (scripts_flags_def); EVAL_COMPAT: a script without a shebang.
FLAG_NO_WRITES = 1 << 0
FLAG_ALLOW_OOM = 1 << 1
FLAG_ALLOW_STALE = 1 << 2
FLAG_NO_CLUSTER = 1 << 3
FLAG_EVAL_COMPAT = 1 << 4
FLAG_ALLOW_CROSS_SLOT = 1 << 5
FLAG_NAMES = (("no-writes", FLAG_NO_WRITES), ("allow-oom", FLAG_ALLOW_OOM),
              ("allow-stale", FLAG_ALLOW_STALE), ("no-cluster", FLAG_NO_CLUSTER),
              ("allow-cross-slot-keys", FLAG_ALLOW_CROSS_SLOT))

# Replication targets (redis.set_repl).
REPL_NONE, REPL_AOF, REPL_REPLICA, REPL_ALL = 0, 1, 2, 3

BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = ("BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                 "SHUTDOWN NOSAVE.")
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE_MASTER = ("UNKILLABLE The busy script was sent by a master instance in the context of "
                     "replication and cannot be killed.")
UNKILLABLE_WRITTEN = ("UNKILLABLE Sorry the script already executed write commands against the "
                      "dataset. You can either wait the script termination or kill the server in "
                      "a hard way using the SHUTDOWN NOSAVE command.")
RO_WRITE_FLAG = "ERR Can not execute a script with write flag using *_ro command."
RO_REPLICA = "READONLY Can not run script with write flag on readonly replica"
ERR_NO_ARGS = "Please specify at least one argument for this redis lib call"
ERR_ARG_TYPE = "Lua redis lib command arguments must be strings or integers"
ERR_ARITY = "Wrong number of args calling Redis command from script"
ERR_UNKNOWN = "Unknown Redis command called from script"
ERR_NOSCRIPT = "This Redis command is not allowed from script"
ERR_RO_SCRIPT = "Write commands are not allowed from read-only scripts."
ERR_RO_REPLICA = "-READONLY You can't write against a read only replica."


class NoStatsError(ErrorReply):
    """An error reply already counted in the error stats (ERR_REPLY_FLAG_NO_STATS_UPDATE):
    ``Client.call`` counts only exact ``ErrorReply`` instances."""

    __slots__ = ()


class ScriptClient(Client):
    """The fake client that runs the commands of scripts (CLIENT_SCRIPT, DENY_BLOCKING)."""

    in_script = True
    deny_blocking = True
    script = True            # MONITOR shows "[<db> lua]"

    def __init__(self, server):
        super().__init__(server)
        self.authenticated = True
        self.addr = "lua"
        self.must_obey = False

    def flush(self) -> None:
        self.out.clear()

    def push(self, value) -> None:
        pass

    def close(self) -> None:
        pass


class _ScriptWait:
    """``client.blocked`` of a caller whose script went busy (its requests queue)."""

    __slots__ = ("ctx",)
    postponed = False

    def __init__(self, ctx):
        self.ctx = ctx


def lookup_command(argv):
    """lookupCommand: a top-level command, or the subcommand when there is a second argument
    (None when unknown)."""
    cmd = TABLE.get(argv[0])
    if cmd is None:
        cmd = lookup(argv[0])
        if cmd is None:
            return None
    if cmd.subcommands is not None and len(argv) > 1:
        sub = cmd.subcommands.get(argv[1])
        if sub is None:
            sub = cmd.subcommands.get(argv[1].lower())
        return sub
    return cmd


class ScriptCtx:
    """One script run (scriptRunCtx)."""

    def __init__(self, engine, caller, name: str, readonly: bool, eval_mode: bool):
        self.engine = engine
        self.server = engine.server
        self.caller = caller
        self.name = name
        self.readonly = readonly
        self.eval_mode = eval_mode
        self.repl = REPL_ALL
        self.write_dirty = False
        self.killed = False
        self.async_mode = False      # busy: redis.call is marshalled to the loop thread
        self.finished = False
        self.result = None
        self.mutex = _thread.allocate_lock()
        self.done = _thread.allocate_lock()
        self.start = time.monotonic()
        self.cmd = lookup(caller.last_cmd.name.encode()) if caller.last_cmd else None
        self.err0 = engine.server.stats.total_error_replies
        self.froze = False
        self.busy_error = BUSY_EVAL if eval_mode else BUSY_FUNCTION
        self.argv = None

    def duration_ms(self) -> int:
        return int((time.monotonic() - self.start) * 1000)

    # -- redis.call ------------------------------------------------------------------------------
    def call(self, args):
        """redis.call / redis.pcall from Lua: (Lua value, raise?). Runs on the worker thread
        (or the caller's, when synchronous)."""
        engine = self.engine
        if not args:
            return engine.err_table(ERR_NO_ARGS), True
        argv = []
        for a in args:
            b = lua_arg(a)
            if b is None:
                return engine.err_table(ERR_ARG_TYPE), True
            argv.append(b)
        m = self.mutex
        m.acquire()
        if self.async_mode:
            m.release()
            r = self._marshal(argv)
        else:
            try:
                r = self._call(argv)
            finally:
                m.release()
        if type(r) is str:          # refused before running (scriptCall's checks)
            return engine.err_table(r), True
        sc = engine.client
        if isinstance(r, ErrorReply):
            t = engine.err_table("-" + r.msg)
            t[b"ignore_error_stats_update"] = True
            return t, True
        return engine.to_lua(r, sc.resp), False

    def _marshal(self, argv):
        box = []
        lock = _thread.allocate_lock()
        lock.acquire()

        def run():
            try:
                box.append(self._call(argv))
            except BaseException as e:   # noqa: BLE001 - handed back to the script
                box.append(ErrorReply(f"ERR internal error: {e}"))
            finally:
                lock.release()

        try:
            self.server.loop.call_soon_threadsafe(run)
        except RuntimeError:   # the loop is closed: the server is exiting
            return ErrorReply("ERR server is shutting down")
        lock.acquire()
        return box[0]

    def _call(self, argv):
        """scriptCall: the checks, then Client.call on the script client. Returns the reply
        value, or a str: the error text of a refused command."""
        srv = self.server
        cmd = lookup_command(argv)
        if cmd is None:
            return ERR_UNKNOWN
        if not cmd.arity_ok(len(argv)):
            return ERR_ARITY
        if cmd.noscript and not getattr(srv, "script_disable_deny_script", False):
            return ERR_NOSCRIPT
        if cmd.write or cmd.may_replicate:
            if self.readonly:
                return ERR_RO_SCRIPT
            if cmd.write and not self.write_dirty and srv.is_replica() and \
                    srv.config.get("replica-read-only") == "yes" and \
                    not getattr(self.caller, "must_obey", False):
                return ERR_RO_REPLICA
        if cmd.write:
            self.write_dirty = True
        sc = self.engine.client
        sc.last_cmd = cmd
        if self.repl == REPL_NONE:
            mark = len(srv.prop_pending)
            reply = sc.call(cmd, argv)
            del srv.prop_pending[mark:]
        else:
            reply = sc.call(cmd, argv)
        if srv.monitors and not cmd.skip_monitor and not cmd.admin:
            srv.feed_monitors(sc, argv)
        return reply


def parse_shebang(body: bytes):
    """evalExtractShebangFlags: (flags, shebang length); raises ErrorReply."""
    if body[:2] != b"#!":
        return FLAG_EVAL_COMPAT, 0
    end = body.find(b"\n")
    if end < 0:
        raise ErrorReply("ERR Invalid script shebang")
    from ..protocol import split_args
    parts = split_args(body[:end])
    if not parts:
        raise ErrorReply("ERR Invalid engine in script shebang")
    if parts[0] != b"#!lua":
        raise ErrorReply("ERR Unexpected engine in script shebang: %s" % _s(parts[0]))
    flags = 0
    for p in parts[1:]:
        if p[:6] == b"flags=":
            for f in p[6:].split(b","):
                for name, bit in FLAG_NAMES:
                    if f == name.encode():
                        flags |= bit
                        break
                else:
                    raise ErrorReply("ERR Unexpected flag in script shebang: %s" % _s(f))
        else:
            raise ErrorReply("ERR Unknown lua shebang option: %s" % _s(p))
    return flags, end


def _s(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def prepare(c, engine, name: str, script_flags: int, ro: bool, eval_mode: bool, argv=None):
    """scriptPrepareForRun: a ScriptCtx, or an ErrorReply refusing the run. ``argv`` (the
    caller's command) is kept for FUNCTION STATS."""
    srv = c.server
    obey = getattr(c, "must_obey", False)
    if not script_flags & FLAG_EVAL_COMPAT:
        if not script_flags & FLAG_NO_WRITES:
            if srv.is_replica() and srv.config.get("replica-read-only") == "yes" and not obey:
                return ErrorReply(RO_REPLICA)
            if ro:
                return ErrorReply(RO_WRITE_FLAG)
    readonly = ro or bool(not script_flags & FLAG_EVAL_COMPAT and script_flags & FLAG_NO_WRITES)
    ctx = ScriptCtx(engine, c, name, readonly, eval_mode)
    ctx.argv = argv
    return ctx


class Worker:
    """The thread that runs Lua for one server."""

    def __init__(self):
        self.go = _thread.allocate_lock()
        self.go.acquire()
        self.ctx = None
        self.fn = None
        t = threading.Thread(target=self._loop, name="valkeyd-lua", daemon=True)
        t.start()

    def submit(self, ctx, fn):
        self.ctx = ctx
        self.fn = fn
        self.go.release()

    def _loop(self):
        while True:
            self.go.acquire()
            ctx, fn = self.ctx, self.fn
            self.ctx = self.fn = None
            try:
                ctx.result = fn()
            except BaseException as e:   # noqa: BLE001 - reported as the script's error
                ctx.result = e
            with ctx.mutex:
                ctx.finished = True
                async_mode = ctx.async_mode
            if async_mode:
                try:
                    ctx.server.loop.call_soon_threadsafe(_finish_async, ctx)
                except RuntimeError:   # the loop is closed: the server is exiting
                    return
            else:
                ctx.done.release()


def _can_go_busy(c, srv) -> bool:
    return (srv.loop is not None and c.transport is not None
            and not getattr(c, "in_exec", False) and not getattr(c, "must_obey", False)
            and threading.current_thread() is threading.main_thread())


def run_script(c, ctx, fn):
    """Run ``fn`` (which calls the engine's ``run_eval`` / ``run_function``) under ``ctx``:
    the reply value, or BLOCKED when the script went busy (the reply is sent when it ends)."""
    srv = c.server
    engine = ctx.engine
    sc = engine.client
    sc.db = c.db
    sc.set_resp(2)
    engine.ctx = ctx
    srv.script_running = ctx
    srv.propagate_begin()
    c.prop_argv = []            # the script's writes propagate, not the EVAL itself
    if _clock.frozen is None:   # the script's commands all see its start time (no expiry)
        _clock.frozen = _clock.ms()
        ctx.froze = True
    threshold = srv.config.get_int("busy-reply-threshold")
    if threshold <= 0 or not _can_go_busy(c, srv):
        try:
            ctx.result = fn()
        except BaseException as e:   # noqa: BLE001
            ctx.result = e
        return _complete(ctx)
    w = getattr(srv, "script_worker", None)
    if w is None:
        w = srv.script_worker = Worker()
    ctx.done.acquire()
    w.submit(ctx, fn)
    if not ctx.done.acquire(timeout=threshold / 1000.0):
        with ctx.mutex:
            if not ctx.finished:
                ctx.async_mode = True
        if ctx.async_mode:
            return _go_busy(c, ctx)
        ctx.done.acquire()
    return _complete(ctx)


def _go_busy(c, ctx):
    from ..blocking import BLOCKED, install
    srv = c.server
    elapsed = int((time.monotonic() - ctx.start) * 1000)
    log.warning(f"Slow script detected: still in execution after {elapsed} milliseconds. "
                f"You can try killing the script using the "
                f"{'SCRIPT KILL' if ctx.eval_mode else 'FUNCTION KILL'} command. "
                f"Script name is: {ctx.name}.")
    install(srv)
    c.blocked = _ScriptWait(ctx)
    srv.script_busy = ctx
    return BLOCKED


def _complete(ctx):
    """The end of a run: cleanup, propagation, the reply value."""
    engine = ctx.engine
    srv = ctx.server
    engine.ctx = None
    srv.script_running = None
    if ctx.froze:
        _clock.frozen = None
    sc = engine.client
    srv.stats.total_commands_processed_base += sc.cmds
    sc.cmds = 0
    srv.propagate_end()
    if ctx.killed:
        log.notice("Lua script killed by user with SCRIPT KILL.")
    r = ctx.result
    ctx.result = None
    reply = _reply_of(ctx, r)
    if srv.stats.total_error_replies != ctx.err0 and type(reply) is not ErrorReply \
            and ctx.cmd is not None:
        ctx.cmd.failed_calls += 1   # call(): an error reply was produced during the command
    return reply


def _reply_of(ctx, r):
    if isinstance(r, BaseException):
        return ErrorReply(f"ERR Error running script {ctx.name}, {r}")
    if type(r) is tuple and r:
        if r[0] == b"r":
            return Raw(r[1])
        if r[0] == b"e":
            msg = r[1].decode("utf-8", "surrogateescape")
            return NoStatsError(msg) if len(r) > 2 and r[2] else ErrorReply(msg)
    return ErrorReply("ERR Error running script %s, execution failure" % ctx.name)


def _finish_async(ctx):
    """A busy script ended (on the loop thread): reply, leave the busy state, run what the
    caller sent meanwhile."""
    srv = ctx.server
    reply = _complete(ctx)
    srv.script_busy = None
    c = ctx.caller
    c.blocked = None
    cmd = ctx.cmd
    if cmd is not None:
        cmd.calls += 1
    c.cmds += 1
    if type(reply) is ErrorReply:
        if cmd is not None:
            cmd.failed_calls += 1
        srv.stats.total_error_replies += 1
        srv.count_error(reply.code)
    if not c.closed:
        if c.reply_mode:
            if c.reply_mode == 2:
                c.reply_mode = 0
            elif c.reply_mode == 3:
                c.reply_mode = 2
        else:
            c.encode(reply, c.out)
        c.flush()
    if srv.ready_keys:
        srv.blocking.handle_ready()
    if not c.closed:
        pending = c.pending
        c.pending = []
        if pending:
            c.run(pending)
        c.flush()


def kill_script(c, is_eval: bool):
    """scriptKill: SCRIPT KILL (is_eval) / FUNCTION KILL."""
    srv = c.server
    ctx = getattr(srv, "script_running", None)
    if ctx is None:
        return ErrorReply(NOTBUSY)
    if getattr(ctx.caller, "must_obey", False):
        return ErrorReply(UNKILLABLE_MASTER)
    if ctx.write_dirty:
        return ErrorReply(UNKILLABLE_WRITTEN)
    if is_eval and not ctx.eval_mode:
        return ErrorReply(BUSY_FUNCTION)
    if not is_eval and ctx.eval_mode:
        return ErrorReply(BUSY_EVAL)
    ctx.killed = True
    from ..resp import OK
    return OK
