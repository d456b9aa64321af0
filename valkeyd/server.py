"""The server: listeners, clients, the cron (``hz``), expiry, and the effects every write
shares (dirty counter, propagation stream, keyspace events)."""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import time
from collections import deque

from engines import create_engine
from engines.limits import DIRECTIVES as _limits_directives, limits as _limits
from engines.base import clock

from . import errors
from .client import Client
from .config import Config
from .log import log
from .pubsub import PubSub, apply_notify_config

REDIS_VERSION = "7.2.4"

PROTECTED_MODE_DENIED = (
    b"-DENIED Redis is running in protected mode because protected "
    b"mode is enabled and no password is set for the default user. "
    b"In this mode connections are only accepted from the loopback interface. "
    b"If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: "
    b"1) Just disable protected mode sending the command "
    b"'CONFIG SET protected-mode no' from the loopback interface "
    b"by connecting to Redis from the same host the server is "
    b"running, however MAKE SURE Redis is not publicly accessible "
    b"from internet if you do so. Use CONFIG REWRITE to make this "
    b"change permanent. "
    b"2) Alternatively you can just disable the protected mode by "
    b"editing the Redis configuration file, and setting the protected "
    b"mode option to 'no', and then restarting the server. "
    b"3) If you started the server manually just for testing, restart "
    b"it with the '--protected-mode no' option. "
    b"4) Set up an authentication password for the default user. "
    b"NOTE: You only need to do one of the above things in order for "
    b"the server to start accepting connections from the outside.\r\n")


class Stats:
    """Counters reported by INFO (names as Redis's INFO fields)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.total_connections_received = 0
        self.total_commands_processed_base = 0
        self.expired_keys = 0
        self.expired_stale_perc = 0.0
        self.expired_time_cap_reached_count = 0
        self.expire_cycle_cpu_milliseconds = 0
        self.evicted_keys = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        self.rejected_connections = 0
        self.total_error_replies = 0
        self.errors: dict[str, int] = {}
        self.net_input_bytes_base = 0
        self.net_output_bytes_base = 0
        self.ops_samples: deque = deque(maxlen=16)
        self.last_sample = (time.monotonic(), 0, 0, 0)
        self.instantaneous_ops = 0.0
        self.instantaneous_input_kbps = 0.0
        self.instantaneous_output_kbps = 0.0
        self.io_threaded_reads = self.io_threaded_writes = 0
        self.total_reads_processed = self.total_writes_processed = 0


class LatencyEvent:
    """One LATENCY event class: the last 160 per-second samples and the all-time max."""

    __slots__ = ("samples", "max")

    def __init__(self):
        self.samples: deque = deque(maxlen=160)   # (unix time, latency ms), oldest first
        self.max = 0


class Server:
    def __init__(self, config: Config, engine_name: str = "memory"):
        self.config = config
        self.engine_name = engine_name
        self.engine = create_engine(engine_name, config)
        self.engine.on_expired = self._on_expired
        self.dbs = [self.engine.db(i) for i in range(self.engine.databases)]
        self.clients: dict[int, Client] = {}
        self.next_client_id = 1
        self.dirty = 0
        self.stats = Stats()
        self.start_time = time.time()
        self.unixtime = time.time()
        # Rare server-wide states, folded into one attribute (``hold``) that the dispatcher
        # tests: loading, CLIENT PAUSE, a busy script (see the properties below).
        self.hold = False
        self._loading = False
        self._client_pause_end = 0
        self._script_busy = None
        self._write_error = None          # MISCONF text while writes are refused (snapshots)
        self._oom_error = None            # -OOM for denyoom commands (the lmdb map is full)
        self.script_running = None        # ScriptCtx of the running script (valkeyd.scripting)
        self.loading = False
        self.lastsave = int(time.time())
        self.monitors: list[Client] = []
        self.slowlog: deque = deque()
        self.slowlog_next_id = 0
        self.latency_events: dict[str, deque] = {}
        self.propagate_hooks: list = []   # fn(dbid, argv) for AOF and replicas
        self.prop_depth = 0               # > 0 inside EXEC or a script: writes are collected
        self.prop_pending: list = []      # (dbid, argv) collected while prop_depth > 0
        self.keyspace_hooks: list = []    # fn(dbid, key) after a key is modified (WATCH ...)
        self.notify_hook = None           # fn(type_class, event, key, dbid) keyspace events
        self.notify_keymiss = False       # read misses fire "keymiss" (the m class is on)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.servers: list = []
        self.shutdown_event: asyncio.Event | None = None
        self.shutdown_flags: tuple = ()
        self.exit_code = 0
        self.cron_loops = 0
        self.active_expire_enabled = True
        self.blocked_clients = 0
        self.ready_keys = ()                # keys made ready for blocked clients (blocking.py)
        self.blocking = None                # valkeyd.blocking.Blocking, from the first block
        self.client_pause_end = 0           # CLIENT PAUSE end (ms); see commands/client_cmds.py
        self.script_busy = None             # ScriptCtx of a script past busy-reply-threshold
        self.pause_check = None             # fn(client, cmd, argv) -> True if postponed
        self.pid = os.getpid()
        self.run_id = os.urandom(20).hex()
        self.port = 0
        self.cron_hooks: list = []          # fn() every cron tick
        self.shutdown_hooks: list = []      # fn(flags) before exiting
        self.client_close_hooks: list = []  # fn(client) when a connection ends
        self.reset_hooks: list = []
        self.flush_hooks: list = []         # fn(dbid) after FLUSHDB, fn(-1) after FLUSHALL
        self.swapdb_hooks: list = []        # fn(a, b) after SWAPDB a b
        self.expire_cycle_state = [0, False]  # activeExpireCycle: next db, time limit hit
        self.load_hooks: list = []         # async fn() at startup (Server.load_data)
        self.resetstat_hooks: list = []    # fn() on CONFIG RESETSTAT
        self.function_hooks: list = []     # fn(functions) after the function libraries change
        self.last_signal = None
        self.replica_of = None
        self.tracking = None               # valkeyd.tracking.Tracking, from the first CLIENT TRACKING
        self.aof_pending = False           # AOF writes wait for the batch's commit (Client.flush)
        self.raw_argv = self.raw_req = None  # the request being run and its canonical bytes
        self._apply_config()
        from persistence.aof import install as _install_aof
        _install_aof(self)                  # self.aof (persistence/aof.py)
        self.pubsub = PubSub(self)          # channels, patterns, delivery (valkeyd/pubsub.py)
        from persistence.rdb_load import install as _rdb_install
        _rdb_install(self)                  # startup RDB load (load_hooks)
        from persistence.snapshot import Snapshots
        Snapshots(self)                     # SAVE/BGSAVE/save points (persistence/snapshot.py)
        apply_notify_config(self)
        config.on_change("notify-keyspace-events", lambda _v: apply_notify_config(self))
        for name in ("requirepass", "proto-max-bulk-len", "client-query-buffer-limit",
                     "slowlog-log-slower-than", "slowlog-max-len", "hz", "maxclients",
                     "loglevel", "logfile", "timeout", "latency-monitor-threshold",
                     "latency-tracking", "maxmemory-policy", "lfu-log-factor", "lfu-decay-time"):
            config.on_change(name, lambda _v: self._apply_config())
        for name in _limits_directives:   # encoding thresholds of the collection types
            config.on_change(name, lambda _v: _limits.apply(self.config))
        install = getattr(self.engine, "install", None)
        if install is not None:   # engines with their own persistence (engines/lmdb.py)
            install(self)

    # -- rare states (one test in Client.execute) --------------------------------------------------
    @property
    def loading(self):
        return self._loading

    @loading.setter
    def loading(self, v):
        self._loading = v
        self._update_hold()

    @property
    def client_pause_end(self):
        return self._client_pause_end

    @client_pause_end.setter
    def client_pause_end(self, v):
        self._client_pause_end = v
        self._update_hold()

    @property
    def script_busy(self):
        return self._script_busy

    @script_busy.setter
    def script_busy(self, v):
        self._script_busy = v
        self._update_hold()

    @property
    def write_error(self):
        """The error text write commands get (MISCONF after a failed BGSAVE), or None."""
        return self._write_error

    @write_error.setter
    def write_error(self, v):
        self._write_error = v
        self._update_hold()

    @property
    def oom_error(self):
        """The error ``denyoom`` commands get (the lmdb engine's map is nearly full), or None."""
        return self._oom_error

    @oom_error.setter
    def oom_error(self, v):
        self._oom_error = v
        self._update_hold()

    def _update_hold(self):
        self.hold = bool(self._loading or self._client_pause_end or self._script_busy is not None
                         or self._write_error is not None or self._oom_error is not None)

    # -- configuration ---------------------------------------------------------------------------
    def _apply_config(self):
        c = self.config
        self.requirepass = c.get("requirepass")
        self.proto_max_bulk_len = c.get_int("proto-max-bulk-len")
        self.client_query_buffer_limit = c.get_int("client-query-buffer-limit")
        self.slowlog_threshold_us = c.get_int("slowlog-log-slower-than")
        self.slowlog_max_len = c.get_int("slowlog-max-len")  # trimmed at the next entry
        self.hz = max(1, min(500, c.get_int("hz")))
        self.maxclients = c.get_int("maxclients")
        self.timeout = c.get_int("timeout")
        self.latency_threshold_ms = c.get_int("latency-monitor-threshold")
        self.latency_tracking = c.get("latency-tracking") == "yes"
        # Client.call takes the slow path (slow_command) from this many microseconds.
        limits = []
        if self.slowlog_threshold_us >= 0:
            limits.append(self.slowlog_threshold_us)
        if self.latency_threshold_ms > 0:
            limits.append(self.latency_threshold_ms * 1000)
        self.slow_us = min(limits) if limits else 1 << 62
        # LFU access counters (OBJECT FREQ) are kept by the engine while an LFU policy is set.
        self.engine.lfu = ((c.get_int("lfu-log-factor"), c.get_int("lfu-decay-time"))
                           if "lfu" in c.get("maxmemory-policy") else None)
        log.configure(loglevel=c.get("loglevel"))
        _limits.apply(c)

    def unblock_client(self, c, error: bool) -> bool:
        """CLIENT UNBLOCK (valkeyd/blocking.py): False if ``c`` is not blocked on keys."""
        return self.blocking is not None and self.blocking.unblock_client(c, error)

    def is_replica(self) -> bool:
        return self.replica_of is not None

    async def load_data(self):
        """Load the dataset at startup (RDB/AOF for the memory engine: persistence issue)."""
        for hook in self.load_hooks:
            await hook()

    def auth_required(self) -> bool:
        return bool(self.requirepass)

    def protected_allowed(self, client, cmd) -> bool:
        opt = self.config.get(f"enable-{cmd.name}-command")
        if opt == "yes":
            return True
        if opt == "local":
            return client.unix or client.addr.startswith(("127.", "[::1]"))
        return False

    # -- clients ---------------------------------------------------------------------------------
    def register_client(self, client: Client):
        if len(self.clients) >= self.maxclients:
            self.stats.rejected_connections += 1
            client.transport.write(b"-%s\r\n" % errors.MAX_CLIENTS.encode())
            client.closed = True
            client.transport.close()
            return False
        client.id = self.next_client_id
        self.next_client_id += 1
        if not client.unix:
            self._set_keepalive(client.transport)
        self.clients[client.id] = client
        self.stats.total_connections_received += 1
        log.verbose(f"Accepted {client.addr}")
        return True

    def unregister_client(self, client: Client):
        if self.clients.pop(client.id, None) is not None:
            self.stats.net_input_bytes_base += client.net_in
            self.stats.net_output_bytes_base += client.net_out
            self.stats.total_commands_processed_base += client.cmds
            if client.monitor and client in self.monitors:
                self.monitors.remove(client)
            for hook in self.client_close_hooks:
                hook(client)


    def protected_mode_refuses(self, client: Client) -> bool:
        """clientAcceptHandler: with protected-mode on and no password for the default user,
        only loopback and unix socket connections are accepted."""
        if self.config.ints["protected-mode"] == 0 or client.unix or self.requirepass:
            return False
        if client.addr.startswith(("127.", "[::1]", "[::ffff:127.")):
            return False
        client.transport.write(PROTECTED_MODE_DENIED)
        client.close()
        return True

    def security_warning(self, client: Client):
        now = time.time()
        if abs(now - getattr(self, "_security_logged", 0.0)) > 60:   # at most once a minute
            self._security_logged = now
            origin = "" if client.unix else f" from {client.addr}"
            log.warning("Possible SECURITY ATTACK detected. It looks like somebody is sending "
                        "POST or Host: commands to Redis. This is likely due to an attacker "
                        "attempting to use Cross Protocol Scripting to compromise your Redis "
                        f"instance. Connection{origin} aborted.")
        client.close()

    def client_info(self, c: Client) -> str:
        from .commands.client_cmds import client_info_line  # noqa
        return client_info_line(c)

    def total_commands(self) -> int:
        return self.stats.total_commands_processed_base + sum(
            c.cmds for c in self.clients.values())

    def total_net(self):
        return (self.stats.net_input_bytes_base + sum(c.net_in for c in self.clients.values()),
                self.stats.net_output_bytes_base + sum(c.net_out for c in self.clients.values()))

    # -- effects of writes -----------------------------------------------------------------------
    def propagate(self, dbid: int, argv) -> None:
        """Feed one write to the AOF and the replicas (``propagateNow``); inside EXEC or a
        script it is collected and sent by :meth:`propagate_end`."""
        if self.prop_depth:
            self.prop_pending.append((dbid, argv))
            return
        for hook in self.propagate_hooks:
            hook(dbid, argv)

    def propagate_begin(self) -> None:
        """Start collecting writes (EXEC, EVAL, FCALL); calls nest."""
        self.prop_depth += 1

    def propagate_end(self) -> None:
        """End of the outermost EXEC/script: ``propagatePendingCommands``. More than one
        collected write goes out wrapped in MULTI ... EXEC (MULTI and EXEC carry no database:
        the first write's SELECT comes after MULTI); a single write goes out alone."""
        self.prop_depth -= 1
        if self.prop_depth or not self.prop_pending:
            return
        ops = self.prop_pending
        self.prop_pending = []
        hooks = self.propagate_hooks
        if len(ops) > 1:
            ops = [(-1, [b"MULTI"])] + ops + [(-1, [b"EXEC"])]
        for dbid, argv in ops:
            for hook in hooks:
                hook(dbid, argv)

    def key_modified(self, db, key) -> None:
        """signalModifiedKey: WATCH invalidation, tracking, blocked clients."""
        for hook in self.keyspace_hooks:
            hook(db.id, key)

    def notify(self, cls: str, event: str, key: bytes, dbid: int) -> None:
        """A keyspace event (notify-keyspace-events)."""
        hook = self.notify_hook
        if hook is not None:
            hook(cls, event, key, dbid)

    def changed(self, c, key, cls: str, event: str, n: int = 1) -> None:
        """What every write does: mark the key modified, fire the event, count it dirty."""
        self.dirty += n
        if self.keyspace_hooks:
            self.key_modified(c.db, key)
        if self.notify_hook is not None:
            self.notify_hook(cls, event, key, c.db.id)

    def _on_expired(self, dbid: int, key: bytes) -> None:
        self.stats.expired_keys += 1
        self.propagate(dbid, [b"UNLINK" if self.config.get("lazyfree-lazy-expire") == "yes"
                              else b"DEL", key])
        if self.keyspace_hooks:
            self.key_modified(self.dbs[dbid], key)
        self.notify("x", "expired", key, dbid)

    def count_error(self, code: str) -> None:
        e = self.stats.errors
        if len(e) >= 128 and code not in e:
            code = "ERRORSTATS_DISABLED"  # Redis caps distinct error codes at 128
        e[code] = e.get(code, 0) + 1

    def queue_multi(self, client, cmd, argv):
        """queueMultiCommand: a doomed transaction (a queueing error, a touched WATCHed key)
        stores nothing more, but the reply is QUEUED all the same."""
        if not (client.multi_error or client.dirty_cas):
            client.multi.append((cmd, argv))
        if client.reply_mode:          # CLIENT REPLY OFF, or SKIP of this command
            if client.reply_mode == 2:
                client.reply_mode = 0
            return
        client.out.append(b"+QUEUED\r\n")

    # -- monitor / slowlog / latency -------------------------------------------------------------
    def feed_monitors(self, client: Client, argv) -> None:
        if self.loading:
            return
        from .commands.server import monitor_line
        line = monitor_line(client, argv)
        for m in list(self.monitors):
            if m is client:
                m.out.append(line)   # after its own reply, flushed with it
            elif not m.closed:
                m.net_out += len(line)
                m.transport.write(line)

    def slow_command(self, client: Client, cmd, argv, us: int) -> None:
        """A command that ran for at least ``slow_us``: latency monitor and slowlog."""
        ms = us // 1000
        if self.latency_threshold_ms and ms >= self.latency_threshold_ms:
            self.latency_add("fast-command" if cmd.fast else "command", ms)
        if 0 <= self.slowlog_threshold_us <= us and not cmd.skip_slowlog:
            self.slowlog_add(client, argv, us)

    def slowlog_add(self, client: Client, argv, us: int) -> None:
        redact = client.redacted
        if redact:
            argv = [b"(redacted)" if i in redact else a for i, a in enumerate(argv)]
        args = []
        n = len(argv)
        for a in argv[:32 if n <= 32 else 31]:
            if len(a) > 128:
                a = a[:128] + b"... (%d more bytes)" % (len(a) - 128)
            args.append(a)
        if n > 32:
            args.append(b"... (%d more arguments)" % (n - 31))
        self.slowlog.appendleft((self.slowlog_next_id, int(time.time()), us, args,
                                 client.addr.encode(), client.name))
        self.slowlog_next_id += 1
        while len(self.slowlog) > self.slowlog_max_len:
            self.slowlog.pop()

    def latency_add(self, event: str, ms: int) -> None:
        """latencyAddSample: one sample per second per event (the highest of that second)."""
        ev = self.latency_events.get(event)
        if ev is None:
            ev = self.latency_events[event] = LatencyEvent()
        if ms > ev.max:
            ev.max = ms
        now = int(time.time())
        q = ev.samples
        if q and q[-1][0] == now:
            if ms > q[-1][1]:
                q[-1] = (now, ms)
        else:
            q.append((now, ms))

    # -- cron ------------------------------------------------------------------------------------
    async def cron(self):
        while True:
            await asyncio.sleep(1.0 / self.hz)
            try:
                self.cron_tick()
            except Exception as e:  # the cron must survive anything
                log.warning(f"cron error: {e!r}")

    def cron_tick(self):
        self.unixtime = now = time.time()
        if self._script_busy is not None or self._loading:
            return   # a busy script / the loader owns the dataset (no expiry, no save points)
        clock.tick()
        self.cron_loops += 1
        if self.active_expire_enabled and not self.is_replica():
            self.active_expire_cycle()
        if self.timeout:
            for c in list(self.clients.values()):
                if (now - c.last_interaction > self.timeout and not c.blocked
                        and not c.subscriptions and not c.monitor):
                    log.verbose("Closing idle client")
                    c.close()
        s = self.stats
        t0, cmds0, in0, out0 = s.last_sample
        mono = time.monotonic()
        if mono - t0 >= 0.1:
            cmds = self.total_commands()
            nin, nout = self.total_net()
            dt = mono - t0
            s.ops_samples.append(((cmds - cmds0) / dt, (nin - in0) / dt / 1024,
                                  (nout - out0) / dt / 1024))
            s.last_sample = (mono, cmds, nin, nout)
            n = len(s.ops_samples)
            s.instantaneous_ops = sum(x[0] for x in s.ops_samples) / n
            s.instantaneous_input_kbps = sum(x[1] for x in s.ops_samples) / n
            s.instantaneous_output_kbps = sum(x[2] for x in s.ops_samples) / n
        for fn in self.cron_hooks:
            fn()


    def active_expire_cycle(self):
        """Redis's slow expire cycle (expire.c activeExpireCycle), run from the cron ``hz``
        times a second. Up to 16 databases per call, resuming after the last one visited; in
        each, sample ``20 + 5*(effort-1)`` keys with an expiry, reclaim the expired ones, and
        sample again while more than ``10 - (effort-1)`` percent of a sample had expired. The
        whole call may use ``25 + 2*(effort-1)`` percent of a cron period (checked every 16
        samples); when it runs out, the next call visits every database."""
        effort = self.config.get_int("active-expire-effort") - 1
        per_loop = 20 + 20 // 4 * effort
        acceptable_stale = 10 - effort
        timelimit_us = (25 + 2 * effort) * 1000000 // self.hz // 100 or 1
        state = self.expire_cycle_state
        ndb = len(self.dbs)
        dbs_per_call = 16
        if dbs_per_call > ndb or state[1]:
            dbs_per_call = ndb
        state[1] = False
        now = time.perf_counter
        start = now()
        iteration = 0
        total_checked = total_expired = 0
        for _ in range(dbs_per_call):
            if state[1]:
                break
            db = self.dbs[state[0] % ndb]
            state[0] = (state[0] + 1) % ndb
            while True:
                iteration += 1
                if not db.expires_count():
                    if hasattr(db, "avg_ttl"):
                        db.avg_ttl = 0
                    break
                checked, expired = db.active_expire(per_loop)
                total_checked += checked
                total_expired += expired
                if iteration & 0xF == 0 and (now() - start) * 1e6 > timelimit_us:
                    state[1] = True
                    self.stats.expired_time_cap_reached_count += 1
                    break
                if checked and expired * 100 // checked <= acceptable_stale:
                    break
                if not checked:
                    break
        elapsed = now() - start
        s = self.stats
        s.expire_cycle_cpu_milliseconds += int(elapsed * 1000)
        if elapsed >= 0.001:
            self.latency_add_if_needed("expire-cycle", int(elapsed * 1000))
        cur = total_expired / total_checked if total_checked else 0.0
        s.expired_stale_perc = cur * 0.05 + s.expired_stale_perc * 0.95

    def latency_add_if_needed(self, event: str, ms: int) -> None:
        if self.latency_threshold_ms and ms >= self.latency_threshold_ms:
            self.latency_add(event, ms)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.shutdown_event = asyncio.Event()
        cfg = self.config
        self.port = cfg.get_int("port")
        self.tcp_servers: list = []
        self.unix_server = None
        if self.port:
            socks = self._listen_tcp(cfg.bind_addrs, self.port)
            if socks is None:
                log.warning("Failed listening on port %d (tcp), aborting." % self.port)
                raise SystemExit(1)
            await self._serve_tcp(socks)
        path = cfg.get("unixsocket")
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
                perm = cfg.get_int("unixsocketperm")
                if perm:
                    os.chmod(path, perm)
                sock.listen(cfg.get_int("tcp-backlog"))
            except OSError as e:
                sock.close()
                log.warning(f"Failed opening Unix socket: bind: {e.strerror}")
                log.warning("Failed listening on port 0 (unix), aborting.")
                raise SystemExit(1)
            sock.setblocking(False)
            self.unix_server = await self.loop.create_unix_server(lambda: Client(self), sock=sock)
            self.servers.append(self.unix_server)
        if not self.servers:
            log.warning("Configured to not listen anywhere, exiting.")
            raise SystemExit(1)
        self.loop.create_task(self.cron())
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            self.loop.add_signal_handler(sig, self._signal_shutdown, name)
        cfg.on_change("port", self._config_relisten)
        cfg.on_change("bind", self._config_relisten)

    def _listen_tcp(self, addrs, port):
        """``listenToPort``: one listening socket per bind address ('-' prefix: optional);
        None (and every socket closed) when an address cannot be bound."""
        backlog = self.config.get_int("tcp-backlog")
        socks = []
        for addr in addrs:
            optional = addr.startswith("-")
            if optional:
                addr = addr[1:]
            v6 = ":" in addr
            host = None if addr == "*" or (v6 and addr == "::*") else addr
            fam = socket.AF_INET6 if v6 else socket.AF_INET
            try:
                infos = socket.getaddrinfo(host, port, fam, socket.SOCK_STREAM, 0,
                                           socket.AI_PASSIVE)
            except socket.gaierror as e:
                log.warning(f"Warning: Could not create server TCP listening socket "
                            f"{addr}:{port}: {e.strerror}")
                for s in socks:
                    s.close()
                return None
            s = None
            try:
                af, st, proto, _c, sa = infos[0]
                s = socket.socket(af, st, proto)
                if af == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(sa)
                except OSError as e:
                    raise OSError(e.errno, f"bind: {e.strerror}") from None
                s.listen(backlog)
                s.setblocking(False)
            except OSError as e:
                if s is not None:
                    s.close()
                log.warning(f"Warning: Could not create server TCP listening socket "
                            f"{addr}:{port}: {e.strerror}")
                if (e.errno == errno.EADDRNOTAVAIL and optional) or e.errno in (
                        errno.ENOPROTOOPT, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT,
                        errno.EPFNOSUPPORT, errno.EAFNOSUPPORT):
                    continue
                for s2 in socks:
                    s2.close()
                return None
            socks.append(s)
        return socks

    async def _serve_tcp(self, socks):
        for s in socks:
            srv = await self.loop.create_server(lambda: Client(self), sock=s)
            self.tcp_servers.append(srv)
            self.servers.append(srv)

    def _close_tcp(self):
        for srv in self.tcp_servers:
            srv.close()
            if srv in self.servers:
                self.servers.remove(srv)
        self.tcp_servers = []

    def _config_relisten(self, _value):
        """CONFIG SET port / bind: close the TCP listeners and listen again (changeListener)."""
        from .config import ConfigError
        cfg = self.config
        port = cfg.get_int("port")
        self._close_tcp()
        if port:
            socks = self._listen_tcp(cfg.bind_addrs, port)
            if socks is None:
                self.port = port
                raise ConfigError("Failed to bind to specified addresses."
                                  if cfg.bind_addrs else
                                  "Unable to listen on this port. Check server logs.")
            self._pending_listen = self.loop.create_task(self._serve_tcp(socks))
        self.port = port

    def _set_keepalive(self, transport) -> None:
        """``anetKeepAlive`` on an accepted TCP connection (tcp-keepalive seconds)."""
        interval = self.config.get_int("tcp-keepalive")
        if not interval:
            return
        sock = transport.get_extra_info("socket")
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if hasattr(socket, "TCP_KEEPIDLE"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, interval)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, interval // 3))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        except OSError:
            pass

    def _signal_shutdown(self, name):
        """``sigShutdownHandler``: a second SIGINT exits at once."""
        if self.shutdown_flags and name == "SIGINT":
            log.warning("You insist... exiting now.")
            os._exit(1)
        if self.loading:
            log.warning("Received shutdown signal during loading, scheduling shutdown.")
        else:
            log.warning(f"Received {name} scheduling shutdown...")
        self.last_signal = name
        self.shutdown_flags = ("signal",)
        self.shutdown_event.set()

    def request_shutdown(self, *flags):
        self.shutdown_flags = flags
        self.shutdown_event.set()

    async def serve_until_shutdown(self):
        await self.shutdown_event.wait()
        self.finish_shutdown()

    def prepare_shutdown(self, flags: tuple) -> bool:
        """The part of Redis's prepareForShutdown/finishShutdown that may fail: runs the
        shutdown hooks with ``flags`` (a tuple of "nosave", "save", "now", "force"; or
        ("signal",)). A hook returns False when it failed (e.g. the final RDB save): unless
        "force" is in the flags the shutdown is then cancelled and False returned."""
        self._shutdown_prepared = True
        log.notice("User requested shutdown...")
        ok = True
        for hook in self.shutdown_hooks:
            if hook(flags) is False:
                ok = False
                if "force" not in flags:
                    break   # prepareForShutdown's "goto error": nothing after a failed step
        if not ok and "force" not in flags:
            log.warning("Errors trying to shut down the server. Check the logs for more "
                        "information.")
            self._shutdown_prepared = False
            return False
        return True

    def finish_shutdown(self):
        if not getattr(self, "_shutdown_prepared", False):
            self.prepare_shutdown(self.shutdown_flags)
        pidfile = self.config.get("pidfile")
        if pidfile:
            log.notice("Removing the pid file.")
            try:
                os.unlink(pidfile)
            except OSError:
                pass
        for srv in self.servers:
            srv.close()
        path = self.config.get("unixsocket")
        if path:
            log.notice("Removing the unix socket file.")
            try:
                os.unlink(path)
            except OSError as e:
                log.warning(f"Error removing the unix socket file: {e.strerror}")
        for c in list(self.clients.values()):
            c.close()
        self.engine.close()
        log.warning("Redis is now ready to exit, bye bye...")
