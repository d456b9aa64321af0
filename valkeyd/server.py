"""The server: listeners, clients, the cron (``hz``), expiry, and the effects every write
shares (dirty counter, propagation stream, keyspace events)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import deque

from engines import create_engine

from . import __version__, errors
from .client import Client
from .config import Config
from .log import log

REDIS_VERSION = "7.2.4"


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
        self.loading = False
        self.lastsave = int(time.time())
        self.monitors: list[Client] = []
        self.slowlog: deque = deque()
        self.slowlog_next_id = 0
        self.latency_events: dict[str, deque] = {}
        self.propagate_hooks: list = []   # fn(dbid, argv) for AOF and replicas
        self.keyspace_hooks: list = []    # fn(dbid, key) after a key is modified (WATCH ...)
        self.notify_hook = None           # fn(type_class, event, key, dbid) keyspace events
        self.loop: asyncio.AbstractEventLoop | None = None
        self.servers: list = []
        self.shutdown_event: asyncio.Event | None = None
        self.shutdown_flags: tuple = ()
        self.exit_code = 0
        self.cron_loops = 0
        self.active_expire_enabled = True
        self.blocked_clients = 0
        self.pid = os.getpid()
        self.run_id = os.urandom(20).hex()
        self.port = 0
        self.cron_hooks: list = []          # fn() every cron tick
        self.shutdown_hooks: list = []      # fn(flags) before exiting
        self.client_close_hooks: list = []  # fn(client) when a connection ends
        self.reset_hooks: list = []
        self.load_hooks: list = []         # fn(client) on RESET
        self.replica_of = None
        self._apply_config()
        for name in ("requirepass", "proto-max-bulk-len", "client-query-buffer-limit",
                     "slowlog-log-slower-than", "slowlog-max-len", "hz", "maxclients",
                     "loglevel", "logfile", "timeout", "latency-monitor-threshold"):
            config.on_change(name, lambda _v: self._apply_config())

    # -- configuration ---------------------------------------------------------------------------
    def _apply_config(self):
        c = self.config
        self.requirepass = c.get("requirepass")
        self.proto_max_bulk_len = c.get_int("proto-max-bulk-len")
        self.client_query_buffer_limit = c.get_int("client-query-buffer-limit")
        self.slowlog_threshold_us = c.get_int("slowlog-log-slower-than")
        self.slowlog_max_len = c.get_int("slowlog-max-len")
        while len(self.slowlog) > self.slowlog_max_len:
            self.slowlog.pop()
        self.hz = max(1, min(500, c.get_int("hz")))
        self.maxclients = c.get_int("maxclients")
        self.timeout = c.get_int("timeout")
        self.latency_threshold_ms = c.get_int("latency-monitor-threshold")
        log.configure(loglevel=c.get("loglevel"))

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
        if (self.config.get("protected-mode") != "yes" or client.unix
                or self.requirepass or self.config.get("bind") not in ("", "* -::*")):
            return False
        if client.addr.startswith(("127.", "[::1]")):
            return False
        client.transport.write(b"-DENIED Redis is running in protected mode because protected "
                               b"mode is enabled and no password is set for the default user. "
                               b"In this mode connections are only accepted from the loopback "
                               b"interface.\r\n")
        client.close()
        return True

    def security_warning(self, client: Client):
        log.warning("Possible SECURITY ATTACK detected. It looks like somebody is sending POST "
                    "or Host: commands to Redis. This is likely due to an attacker attempting "
                    "to use Cross Protocol Scripting to compromise your Redis instance. "
                    "Connection aborted.")
        client.close()

    def client_info(self, c: Client) -> str:
        from .commands.connection import client_info_line  # noqa
        return client_info_line(c)

    def total_commands(self) -> int:
        return self.stats.total_commands_processed_base + sum(
            c.cmds for c in self.clients.values())

    def total_net(self):
        return (self.stats.net_input_bytes_base + sum(c.net_in for c in self.clients.values()),
                self.stats.net_output_bytes_base + sum(c.net_out for c in self.clients.values()))

    # -- effects of writes -----------------------------------------------------------------------
    def propagate(self, dbid: int, argv) -> None:
        for hook in self.propagate_hooks:
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
        self.propagate(dbid, [b"DEL", key])
        if self.keyspace_hooks:
            self.key_modified(self.dbs[dbid], key)
        self.notify("x", "expired", key, dbid)

    def count_error(self, code: str) -> None:
        e = self.stats.errors
        if len(e) >= 128 and code not in e:
            code = "ERRORSTATS_DISABLED"  # Redis caps distinct error codes at 128
        e[code] = e.get(code, 0) + 1

    def queue_multi(self, client, cmd, argv):
        from .resp import QUEUED
        client.multi.append((cmd, argv))
        client.encode(QUEUED, client.out)

    # -- monitor / slowlog / latency -------------------------------------------------------------
    def feed_monitors(self, client: Client, argv) -> None:
        from .commands.server import monitor_line
        line = monitor_line(client, argv)
        for m in list(self.monitors):
            if not m.closed:
                m.transport.write(line)

    def slowlog_add(self, client: Client, argv, us: int) -> None:
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
        if self.latency_threshold_ms and us // 1000 >= self.latency_threshold_ms:
            self.latency_add("command", us // 1000)

    def latency_add(self, event: str, ms: int) -> None:
        now = int(time.time())
        q = self.latency_events.setdefault(event, deque(maxlen=160))
        if q and q[-1][0] == now:
            t, latest, mx = q[-1]
            q[-1] = (t, ms, max(mx, ms))
        else:
            q.append((now, ms, ms))

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
        self.cron_loops += 1
        if self.active_expire_enabled:
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
        """Redis's slow cycle: per database, check keys with an expiry in batches of 20 and
        go on while more than 10% of a batch had expired, within 25% of a cron period."""
        effort = self.config.get_int("active-expire-effort") - 1
        per_loop = 20 + 20 // 4 * effort
        stale_perc = 10 - effort
        budget = 0.25 / self.hz
        start = time.perf_counter()
        total_checked = total_expired = 0
        for db in self.dbs:
            while True:
                checked, expired = db.active_expire(per_loop)
                total_checked += checked
                total_expired += expired
                if checked == 0 or expired * 100 <= checked * stale_perc:
                    break
                if time.perf_counter() - start > budget:
                    self.stats.expired_time_cap_reached_count += 1
                    break
            if time.perf_counter() - start > budget:
                break
        elapsed = time.perf_counter() - start
        self.stats.expire_cycle_cpu_milliseconds += int(elapsed * 1000)
        if total_checked:
            cur = total_expired / total_checked
            self.stats.expired_stale_perc = cur * 0.05 + self.stats.expired_stale_perc * 0.95

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.shutdown_event = asyncio.Event()
        cfg = self.config
        self.port = cfg.get_int("port")
        backlog = cfg.get_int("tcp-backlog")
        if self.port:
            binds = cfg.get("bind").split() or ["*"]
            for addr in binds:
                optional = addr.startswith("-")
                addr = addr.lstrip("-")
                host = None if addr == "*" else ("::" if addr == "::*" else addr)
                try:
                    srv = await self.loop.create_server(
                        lambda: Client(self), host=host, port=self.port, backlog=backlog,
                        reuse_address=True)
                except OSError as e:
                    if optional or (addr in ("::*", "::1") and e.errno in (97, 99)):
                        log.warning(f"Failed listening on port {self.port} (tcp), "
                                    f"address {addr} unavailable, continuing.")
                        continue
                    log.warning(f"Warning: Could not create server TCP listening socket "
                                f"{addr}:{self.port}: {e.strerror}")
                    raise SystemExit(1)
                self._tune(srv)
                self.servers.append(srv)
            if self.port and not self.servers:
                log.warning("Failed listening on port %d (tcp), aborting." % self.port)
                raise SystemExit(1)
            if self.servers:
                sock = self.servers[0].sockets[0]
                self.port = sock.getsockname()[1]
        path = cfg.get("unixsocket")
        if path:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            srv = await self.loop.create_unix_server(lambda: Client(self), path=path,
                                                     backlog=backlog)
            os.chmod(path, int(cfg.get("unixsocketperm") or "0", 8) or 0o777 & ~os.umask(0o22))
            self.servers.append(srv)
        self.loop.create_task(self.cron())
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            self.loop.add_signal_handler(sig, self._signal_shutdown, name)

    def _tune(self, srv):
        keepalive = self.config.get_int("tcp-keepalive")
        for s in srv.sockets:
            if keepalive and hasattr(socket, "TCP_KEEPIDLE"):
                pass  # applied per accepted socket by the transport below

    def _signal_shutdown(self, name):
        if self.shutdown_flags == ("signal",):
            log.warning("You insist... exiting now.")
            os._exit(1)
        log.warning(f"Received {name} scheduling shutdown...")
        self.shutdown_flags = ("signal",)
        self.shutdown_event.set()

    def request_shutdown(self, *flags):
        self.shutdown_flags = flags
        self.shutdown_event.set()

    async def serve_until_shutdown(self):
        await self.shutdown_event.wait()
        self.finish_shutdown()

    def finish_shutdown(self):
        log.warning("User requested shutdown...")
        for hook in self.shutdown_hooks:
            hook(self.shutdown_flags)
        for srv in self.servers:
            srv.close()
        for c in list(self.clients.values()):
            c.close()
        path = self.config.get("unixsocket")
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
        pidfile = self.config.get("pidfile")
        if pidfile:
            log.notice("Removing the pid file.")
            try:
                os.unlink(pidfile)
            except OSError:
                pass
        self.engine.close()
        log.warning("valkeyd is now ready to exit, bye bye...")

