"""Running a script: the run context (Redis's ``scriptRunCtx``), the checks of ``scriptCall``
for commands called from Lua, busy scripts and SCRIPT KILL / FUNCTION KILL.

Scripts run inline on the event-loop thread, like every command. A Lua count hook calls
:meth:`ScriptCtx.tick` every 100000 VM instructions. Once the script has run for
``busy-reply-threshold`` ms the server enters the *busy* state (Redis's
``processEventsWhileBlocked``): ``server.script_busy`` is the context, the caller is parked
like a blocked client (what it sends is queued in ``client.pending``), and at each tick the
hook serves the network itself, since uvloop cannot be re-entered: it polls the sockets of
the clients (and the listening sockets) with ``poll``, reads what arrived and hands it to
``Client.data_received``. The dispatcher then refuses every command without the
``allow_busy`` flag with ``-BUSY`` (the test rides on its one rare-state test,
``server.hold``); replies go out through the clients' own transports (same thread).
Connections accepted meanwhile are served by a temporary transport and handed to the event
loop when the script ends. SCRIPT KILL sets ``ctx.killed``; the hook raises Redis's kill error,
then fires on every line so that ``pcall`` cannot swallow it. SHUTDOWN NOSAVE stops the script
the same way. When the script ends, its reply goes to the caller as any reply, and what the
caller sent meanwhile runs next. Timers (blocked clients' timeouts, CLIENT PAUSE's end) wait
for the script, as the cron does.

Scripts from a client that must obey (AOF/primary) or without an event loop never go busy.
The per-script cost is that of the hook (a Python call every 100000 instructions).

The API for script engines (EVAL here, FCALL in the functions module)::

    ctx_or_err = prepare(c, engine, name, script_flags, ro, eval_mode)
    reply = run_script(c, ctx, lambda: engine.run_eval(f, c.resp, name_bytes, numkeys,
                                                       *keys_and_args))
    kill_script(c, is_eval) -> reply         # SCRIPT KILL / FUNCTION KILL
"""
from __future__ import annotations

import os
import select
import socket
import time

from engines.base import clock as _clock

from ..client import Client
from ..commands.registry import TABLE, lookup
from ..errors import MISCONF, ErrorReply
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
MISCONF_SCRIPT = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable "
                  "to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for "
                  "read only scripts.")


class NoStatsError(ErrorReply):
    """An error reply already counted in the error stats (ERR_REPLY_FLAG_NO_STATS_UPDATE):
    ``Client.call`` counts only exact ``ErrorReply`` instances."""

    __slots__ = ()


class ScriptClient(Client):
    """The fake client that runs the commands of scripts (CLIENT_SCRIPT, DENY_BLOCKING)."""

    in_script = True
    script = True            # MONITOR shows "[<db> lua]"

    def __init__(self, server):
        super().__init__(server)
        self.deny_blocking = True   # an instance attribute, as Client.__init__ sets one
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
        self.result = None
        self.start = time.monotonic()
        self.deadline = None          # monotonic time of busy-reply-threshold (None: never)
        self.busy = None              # _Busy while past the threshold
        self.shutdown = False         # stopped by SHUTDOWN NOSAVE: no reply, as in Redis
        self.cmd = None               # the EVAL / FCALL Command (its failed_calls)
        self.err0 = engine.server.stats.total_error_replies
        self.froze = False
        self.busy_error = BUSY_EVAL if eval_mode else BUSY_FUNCTION
        self.argv = None

    def duration_ms(self) -> int:
        return int((time.monotonic() - self.start) * 1000)

    # -- redis.call ------------------------------------------------------------------------------
    def call(self, args):
        """redis.call / redis.pcall from Lua: (Lua value, raise?)."""
        engine = self.engine
        if not args:
            return engine.err_table(ERR_NO_ARGS), True
        argv = []
        for a in args:
            b = lua_arg(a)
            if b is None:
                return engine.err_table(ERR_ARG_TYPE), True
            argv.append(b)
        r = self._call(argv)
        if type(r) is str:          # refused before running (scriptCall's checks)
            return engine.err_table(r), True
        sc = engine.client
        if isinstance(r, ErrorReply):
            t = engine.err_table("-" + r.msg)
            t[b"ignore_error_stats_update"] = True
            return t, True
        return engine.to_lua(r, sc.resp), False

    def tick(self) -> bool:
        """The count hook (every 100000 instructions): busy detection, serving the network
        while busy; True when the script must stop (SCRIPT KILL, SHUTDOWN NOSAVE)."""
        if self.killed:
            return True
        if self.deadline is None:
            return False
        if self.busy is None:
            if time.monotonic() < self.deadline:
                return False
            _enter_busy(self)
        self.busy.serve()
        srv = self.server
        if srv.shutdown_event is not None and srv.shutdown_event.is_set():
            self.killed = self.shutdown = True   # SHUTDOWN NOSAVE: the process exits next
        return self.killed

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
            if cmd.write and not self.write_dirty and srv.write_error is not None:
                return "-" + srv.write_error
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
        tr = srv.tracking
        if tr is not None and tr.current is not None:   # keys read for the caller's cache
            tr.script_command(cmd, argv)
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
            if srv.write_error is not None and not obey:   # a failed BGSAVE (MISCONF)
                return ErrorReply(MISCONF_SCRIPT if srv.write_error == MISCONF
                                  else srv.write_error)
            if ro:
                return ErrorReply(RO_WRITE_FLAG)
    readonly = ro or bool(not script_flags & FLAG_EVAL_COMPAT and script_flags & FLAG_NO_WRITES)
    ctx = ScriptCtx(engine, c, name, readonly, eval_mode)
    ctx.argv = argv
    ctx.cmd = lookup_command(argv[:1]) if argv else c.last_cmd
    return ctx


def _can_go_busy(c, srv) -> bool:
    return srv.loop is not None and not getattr(c, "must_obey", False)


def run_script(c, ctx, fn):
    """Run ``fn`` (which calls the engine's ``run_eval`` / ``run_function``) under ``ctx``;
    the reply value."""
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
    if threshold > 0 and _can_go_busy(c, srv):
        ctx.deadline = ctx.start + threshold / 1000.0
    try:
        ctx.result = fn()
    except BaseException as e:   # noqa: BLE001 - reported as the script's error
        ctx.result = e
    if ctx.busy is not None:
        _leave_busy(ctx)
    return _complete(ctx)


class _TempTransport:
    """The transport of a connection accepted while a script is busy (until the event loop
    adopts the socket)."""

    def __init__(self, sock):
        self.sock = sock
        self.closing = False

    def write(self, data):
        if not self.closing:
            try:
                self.sock.settimeout(1.0)
                self.sock.sendall(data)
            except OSError:
                self.closing = True

    def close(self):
        self.closing = True

    def is_closing(self):
        return self.closing

    def get_extra_info(self, name, default=None):
        return default


class _Busy:
    """processEventsWhileBlocked: the sockets polled while a script is busy."""

    def __init__(self, ctx):
        self.ctx = ctx
        srv = ctx.server
        self.srv = srv
        self.listeners = []
        for server in getattr(srv, "servers", ()):
            for ts in getattr(server, "sockets", ()) or ():
                try:
                    self.listeners.append(socket.fromfd(ts.fileno(), ts.family, ts.type))
                except OSError:
                    pass
        for ls in self.listeners:
            ls.setblocking(False)
        self.eof: set = set()
        self.temp: list = []          # (Client, socket) accepted while busy

    def serve(self) -> None:
        srv = self.srv
        clients = {}
        for cl in list(srv.clients.values()):
            if cl.fd >= 0 and not cl.closed and cl.fd not in self.eof:
                clients[cl.fd] = cl
        for cl, sock in self.temp:
            if not cl.closed and sock.fileno() >= 0:
                clients[sock.fileno()] = cl
        listeners = {ls.fileno(): ls for ls in self.listeners}
        poller = select.poll()
        for fd in clients:
            poller.register(fd, select.POLLIN)
        for fd in listeners:
            poller.register(fd, select.POLLIN)
        try:
            ready = [fd for fd, _ev in poller.poll(0)]
        except OSError:
            return
        # Keys the script made ready are served after it, not by the commands run here
        # (processCommand: no handleClientsBlockedOnKeys inside a yielding command).
        ready_keys = srv.ready_keys
        srv.ready_keys = ()
        try:
            for fd in ready:
                ls = listeners.get(fd)
                if ls is not None:
                    self._accept(ls)
                    continue
                cl = clients[fd]
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:            # closed: the event loop will see it too
                    self.eof.add(fd)
                    continue
                cl.data_received(data)
        finally:
            srv.ready_keys = ready_keys

    def _accept(self, ls) -> None:
        try:
            sock, _addr = ls.accept()
        except OSError:
            return
        cl = Client(self.srv)
        cl.transport = _TempTransport(sock)
        cl.fd = sock.fileno()
        self.temp.append((cl, sock))

    def finish(self) -> None:
        for ls in self.listeners:
            ls.close()
        loop = self.srv.loop
        for cl, sock in self.temp:
            tr = cl.transport
            if tr.closing or cl.closed:
                sock.close()
                continue
            sock.setblocking(False)
            cl.transport = None
            loop.create_task(loop.connect_accepted_socket(lambda cl=cl: cl, sock))


def _enter_busy(ctx) -> None:
    srv = ctx.server
    elapsed = int((time.monotonic() - ctx.start) * 1000)
    log.warning(f"Slow script detected: still in execution after {elapsed} milliseconds. "
                f"You can try killing the script using the "
                f"{'SCRIPT KILL' if ctx.eval_mode else 'FUNCTION KILL'} command. "
                f"Script name is: {ctx.name}.")
    c = ctx.caller
    ctx.saved_blocked = c.blocked
    c.blocked = _ScriptWait(ctx)    # protectClient: what the caller sends waits
    ctx.busy = _Busy(ctx)
    srv.script_busy = ctx


def _leave_busy(ctx) -> None:
    srv = ctx.server
    srv.script_busy = None
    c = ctx.caller
    if type(c.blocked) is _ScriptWait:
        c.blocked = ctx.saved_blocked
    ctx.busy.finish()
    if c.pending and not c.closed and srv.loop is not None:
        srv.loop.call_soon(_resume_caller, c)


def _resume_caller(c) -> None:
    """What the caller sent while its script was busy runs after the script's reply."""
    if c.closed or c.blocked is not None:
        return
    pending = c.pending
    c.pending = []
    if pending:
        c.run(pending)
    c.flush()


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
    if ctx.shutdown:
        return Raw(b"")   # the server exits: the caller sees its connection close
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
