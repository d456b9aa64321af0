"""One connection: request parsing, the dispatcher (Redis's ``processCommand`` order) and
``call()`` (stats, slowlog, propagation of writes).

Fast path: a read that holds only complete canonical multibulk requests is parsed by hiredis
(the rules that make that exact are in :mod:`valkeyd.protocol`). Everything else (inline
commands, requests split across reads, malformed input, unauthenticated clients) goes through
:class:`valkeyd.protocol.RequestParser`, which applies Redis's exact rules and error texts.
Every reply produced from one read leaves in one ``transport.write``.
"""
from __future__ import annotations

import asyncio
import time
import traceback

import hiredis

from . import errors
from engines.base import clock as _clock

from .commands.registry import TABLE, lookup
from .blocking import BLOCKED as _BLOCKED
from .errors import ErrorReply
from .log import log
from .protocol import PROTO_LOG_REASON, RequestParser, SCAN_TABLE as _SCAN_TABLE
from .resp import encode2, encode3, error_bytes
from .sds import catrepr

_join = b"".join
_table_get = TABLE.get
_perf = time.perf_counter_ns
_HiredisError = hiredis.ProtocolError
_Reader = hiredis.Reader
# The fast path's pre-scan (valkeyd/protocol.py). Cheap form first for a short read (one
# request, the common case): its only aggregate or verbatim type byte is its leading '*',
# with a count of at most four digits. Longer reads (pipelines, big values) go straight to
# the full scan, which the cheap form would fail anyway for more than one request.
_AGGREGATE_BYTES = b"*~%>|="
_CHEAP_SCAN_MAX = 256


def _scan_ok(data: bytes) -> bool:
    t = data.translate(_SCAN_TABLE)
    return b"nX" not in t and b"A00000" not in t

# Commands a client in a MULTI block runs at once instead of queueing.
MULTI_IMMEDIATE = frozenset((b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"))
# Commands allowed to a RESP2 client in subscribed mode.
PUBSUB_ALLOWED = frozenset((b"ping", b"subscribe", b"unsubscribe", b"psubscribe",
                            b"punsubscribe", b"ssubscribe", b"sunsubscribe", b"quit", b"reset"))


class Client(asyncio.Protocol):
    # Flag bits for CLIENT LIST's flags field.
    def __init__(self, server):
        self.server = server
        self.id = 0
        self.transport = None
        self.reader = _Reader()           # the fast path (see valkeyd/protocol.py)
        self.pybuf: RequestParser | None = None   # set while the reference parser owns the input
        self.out: list = []
        self.encode = encode2
        self.resp = 2
        self.db = server.dbs[0]
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.user = "default"
        self.authenticated = not server.auth_required()
        self.addr = ""
        self.laddr = ""
        self.fd = -1
        self.unix = False
        self.ctime = time.time()
        self.last_interaction = self.ctime
        self.last_cmd = None              # Command of the last request (CLIENT LIST cmd=)
        self.multi: list | None = None    # queued (cmd, argv) inside MULTI
        self.multi_error = False          # a command was refused while queueing: EXECABORT
        self.watched: dict | None = None  # WATCHed keys (valkeyd/commands/transactions.py)
        self.dirty_cas = False            # a WATCHed key was touched: EXEC fails
        self.in_exec = False              # running EXEC's queued commands
        self.subscriptions = 0            # channels + patterns + shard channels
        self.channels = self.patterns = self.shard_channels = None   # valkeyd/pubsub.py
        self.reply_mode = 0               # 0 ON, 1 OFF, 2 SKIP (this command), 3 SKIP next
        self.close_after_reply = False
        self.closed = False
        self.prop_argv = None             # a handler's deterministic rewrite of its argv
        self.redacted = None              # argv positions shown as "(redacted)" (AUTH ...)
        self.monitor = False
        self.no_evict = False
        self.no_touch = False
        self.blocked = None               # set by blocking commands (later issues)
        self.pending: list = []           # requests parsed but not yet run (while blocked)
        self.qbuf_peak = 0
        self.net_in = 0
        self.net_out = 0
        self.cmds = 0
        self.held_aof = False             # replies wait for the AOF write (persistence/aof.py)
        self.must_obey = False            # the AOF loader / a primary: no limits, no refusals
        self.deny_blocking = False

    # -- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        srv = self.server
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if isinstance(peer, tuple):
            host = peer[0]
            self.addr = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
            lh = local[0]
            self.laddr = f"[{lh}]:{local[1]}" if ":" in lh else f"{lh}:{local[1]}"
        else:
            self.unix = True
            self.addr = f"{local or srv.config.get('unixsocket')}:0"
            self.laddr = self.addr
        if srv.register_client(self) is False:
            return
        if srv.protected_mode_refuses(self):
            return

    def connection_lost(self, exc):
        self.closed = True
        self.server.unregister_client(self)

    def pause_writing(self):
        # The transport's buffer went over its high-water mark: output buffer limits
        # (valkeyd/pubsub.py) watch this client until it drains.
        self.server.pubsub.writing_paused(self)

    def data_received(self, data):
        srv = self.server
        self.last_interaction = srv.unixtime
        self.net_in += len(data)
        srv.stats.total_reads_processed += 1
        reqs = None
        if self.pybuf is None and data[:1] == b"*" and self.authenticated:
            # Fast path: hiredis, for a read of whole canonical requests only (the rules are
            # in valkeyd/protocol.py); anything else is parsed again by RequestParser.
            if ((len(data) <= _CHEAP_SCAN_MAX
                    and len(data.translate(None, _AGGREGATE_BYTES)) == len(data) - 1
                    and 0 < data.find(b"\r") < 6) or _scan_ok(data)):
                reader = self.reader
                reader.feed(data)
                gets = reader.gets
                reqs = []
                crlf = 0
                try:
                    while True:
                        r = gets()
                        if type(r) is not list:
                            if r is False:
                                break
                            raise TypeError   # not an array: RESP3 aggregate, bulk, null ...
                        if not _join(r):      # TypeError unless every element is a bulk string
                            raise TypeError   # *0 or only empty arguments: the exact rules decide
                        crlf += 1 + 2 * len(r)
                        reqs.append(r)
                    if (reader.has_data() or crlf != data.count(b"\r\n")
                            or data[-2:] != b"\r\n"):
                        reqs = None           # a partial request, a non-bulk element ...
                except (_HiredisError, TypeError):
                    reqs = None
                if reqs is None:
                    self.reader = _Reader()
                elif len(reqs) == 1 and self.blocked is None and not self.close_after_reply:
                    # The common case: one canonical request per read. Its bytes are also its
                    # AOF encoding, should it be propagated unchanged (Aof.feed).
                    srv.raw_argv = argv = reqs[0]
                    srv.raw_req = data
                    self.execute(argv)
                    srv.raw_argv = srv.raw_req = None
                    self.flush()
                    return
        if reqs is None:
            reqs = self._parse_slow(data)
        if reqs:
            if len(reqs) == 1 and self.blocked is None and not self.close_after_reply:
                self.execute(reqs[0])
            else:
                self.run(reqs)
        self.flush()   # every reply produced from this read leaves in one write

    def _parse_slow(self, data):
        parser = self.pybuf
        if parser is None:
            parser = self.pybuf = RequestParser()
        srv = self.server
        if len(parser.buf) + len(data) > srv.client_query_buffer_limit:
            parser.buf += data
            log.warning(f"Closing client that reached max query buffer length: "
                        f"{self.describe()} (qbuf initial bytes: {catrepr(bytes(parser.buf[:64]))})")
            self.pybuf = None
            self.close()
            return None
        if self.authenticated:
            reqs, err = parser.feed(data, srv.proto_max_bulk_len)
        else:
            # One request at a time: the limits for unauthenticated clients end with AUTH.
            reqs, err = parser.feed(data, srv.proto_max_bulk_len, True, True)
            while reqs:
                self.run(reqs)
                if self.closed or self.close_after_reply:
                    self.pybuf = None
                    return None
                reqs, err = parser.feed(b"", srv.proto_max_bulk_len, not self.authenticated,
                                        not self.authenticated)
                if self.authenticated:
                    break
        if err is not None:
            log.verbose(f"Protocol error ({PROTO_LOG_REASON.get(err, err)}) from client: "
                        f"{self.describe()}")
            self.pybuf = None
            self.run(reqs)
            if not (self.close_after_reply or self.closed):   # e.g. a QUIT before the error
                srv.stats.total_error_replies += 1
                srv.count_error("ERR")
                self.out.append(error_bytes(err))
                self.close_after_reply = True
            return None
        if parser.at_boundary():
            self.pybuf = None  # back to the fast path at a request boundary
        elif len(parser.buf) > self.qbuf_peak:
            self.qbuf_peak = len(parser.buf)
        return reqs

    # -- execution ------------------------------------------------------------------------------
    def run(self, reqs):
        if self.blocked is not None:   # blocked or postponed: keep the order, run later
            self.pending.extend(reqs)
            return
        for i, argv in enumerate(reqs):
            if self.close_after_reply or self.closed:
                return
            self.execute(argv)
            if self.blocked is not None:
                self.pending = reqs[i + 1:]
                return

    def execute(self, argv) -> None:
        """Run one request through Redis's checks, in ``processCommand`` order, then call it.

        This is the hottest code of the server: the common case (a known command, right
        arity, an authenticated client outside MULTI/pub-sub/monitor/pause/loading) costs one
        dict lookup, one arity test and one combined test of the rare states."""
        srv = self.server
        name = argv[0]
        cmd = _table_get(name)
        if cmd is None:
            cmd = lookup(name)
            if cmd is None:
                self.last_cmd = None
                if name.lower() in (b"host:", b"post"):
                    return srv.security_warning(self)
                return self.reject(None, errors.UNKNOWN_COMMAND % (
                    _trunc(name), _args_preview(argv)))
        if cmd.subcommands is not None and (len(argv) > 1 or cmd.handler is None):
            if len(argv) < 2:
                return self.reject(cmd, errors.WRONG_ARITY % cmd.name)
            sub = cmd.subcommands.get(argv[1])
            if sub is None:
                sub = cmd.subcommands.get(argv[1].lower())
                if sub is None:
                    self.last_cmd = None
                    return self.reject(None, errors.UNKNOWN_SUBCOMMAND % (
                        _trunc(argv[1]), cmd.name.upper()))
            cmd = sub
        self.last_cmd = cmd
        a = cmd.arity
        if (len(argv) != a) if a > 0 else (len(argv) < -a):
            return self.reject(cmd, errors.WRONG_ARITY % cmd.fullname, argv)
        if cmd.protected and not srv.protected_allowed(self, cmd):
            return self.reject(cmd, errors.DEBUG_DISABLED % (
                cmd.name.upper(), f"enable-{cmd.name}-command"))
        no_touch = False
        if (not self.authenticated or self.multi is not None or self.subscriptions
                or self.monitor or self.no_touch or srv.hold):
            if not self.authenticated and not cmd.noauth:
                return self.reject(cmd, errors.NOAUTH)
            if self.multi is not None and cmd.nomulti:
                return self.reject(cmd, errors.NOT_IN_MULTI)
            if self.subscriptions and self.resp == 2 and cmd.name.encode() not in PUBSUB_ALLOWED:
                return self.reject(cmd, errors.PUBSUB_CONTEXT % cmd.fullname)
            if srv.loading and not cmd.loading:
                return self.reject(cmd, errors.LOADING)
            if srv.script_busy is not None and not cmd.allow_busy:
                return self.reject(cmd, srv.script_busy.busy_error)
            if srv.write_error is not None and (cmd.write or cmd.name == "ping") \
                    and not getattr(self, "must_obey", False):
                return self.reject(cmd, srv.write_error)
            if srv.oom_error is not None and cmd.denyoom and not getattr(self, "must_obey", False):
                return self.reject(cmd, srv.oom_error)
            if self.monitor and (cmd.write or cmd.readonly or cmd.may_replicate):
                return self.reject(cmd, errors.REPLICA_KEYSPACE)
            if srv.client_pause_end and srv.pause_check(self, cmd, argv):
                return                     # CLIENT PAUSE: postponed (commands/client_cmds.py)
            if self.multi is not None and cmd.name.encode() not in MULTI_IMMEDIATE:
                return srv.queue_multi(self, cmd, argv)
            no_touch = self.no_touch and cmd.name != "touch"
        if no_touch:   # CLIENT NO-TOUCH: lookups leave the keys' access times alone
            engine = srv.engine
            engine.no_touch = True
            try:
                reply = self.call(cmd, argv)
            finally:
                engine.no_touch = False
        else:
            reply = self.call(cmd, argv)
        if reply is _BLOCKED:   # the client waits for keys (valkeyd/blocking.py)
            srv.blocking.after_block(self, cmd)
            if srv.monitors and not cmd.skip_monitor and not cmd.admin:
                srv.feed_monitors(self, argv)
            return
        if self.reply_mode:
            if self.reply_mode == 2:
                self.reply_mode = 0
            elif self.reply_mode == 3:   # CLIENT REPLY SKIP: skip the next command's reply
                self.reply_mode = 2
        else:
            self.encode(reply, self.out)
        if srv.monitors and not cmd.skip_monitor and not cmd.admin:
            srv.feed_monitors(self, argv)   # after the command, as Redis 7 (db after SELECT)
        if self.redacted is not None:
            self.redacted = None
        if srv.ready_keys:   # handleClientsBlockedOnKeys after the command
            srv.blocking.handle_ready()

    def call(self, cmd, argv):
        """Run a command that passed the checks (also used by EXEC and scripts): stats,
        slowlog, latency, propagation. Returns the reply value."""
        srv = self.server
        dirty = srv.dirty
        _clock.snap = None   # commandTimeSnapshot: the first clock.ms() of the command sets it
        t0 = _perf()
        try:
            reply = cmd.handler(self, argv)
        except ErrorReply as e:
            reply = e
        except Exception as e:  # a bug must never take the server or the connection down
            hook = getattr(srv.engine, "command_failed", None)
            reply = hook(e) if hook is not None else None
            if reply is None:
                log.warning(f"Error running '{cmd.fullname}': {e!r}\n{traceback.format_exc()}")
                reply = ErrorReply(f"ERR internal error while running '{cmd.fullname}': {e}")
        us = (_perf() - t0) // 1000
        cmd.calls += 1
        cmd.usec += us
        if srv.latency_tracking:
            cmd.hist[us] += 1
        self.cmds += 1
        if us >= srv.slow_us:   # slowlog and/or latency monitor thresholds
            srv.slow_command(self, cmd, argv, us)
        if srv.dirty != dirty or self.prop_argv is not None:
            pa = self.prop_argv
            self.prop_argv = None
            if srv.dirty != dirty and (cmd.write or cmd.may_replicate):
                if pa is None:
                    srv.propagate(self.db.id, argv)
                elif pa:
                    srv.propagate(self.db.id, pa)
        if type(reply) is ErrorReply:
            cmd.failed_calls += 1
            srv.stats.total_error_replies += 1
            srv.count_error(reply.code)
        return reply

    def reject(self, cmd, msg: str, argv=None) -> None:
        """A command refused before running (unknown, arity, auth ...). Inside MULTI it
        dooms the transaction; a refused EXEC aborts it (rejectCommand)."""
        srv = self.server
        if cmd is not None:
            cmd.rejected_calls += 1
            if cmd.name == "exec":
                from .commands.transactions import exec_abort
                msg = exec_abort(self, argv, msg)
        srv.stats.total_error_replies += 1
        srv.count_error(msg.split(" ", 1)[0])
        if self.multi is not None:
            self.multi_error = True
        if self.reply_mode:
            if self.reply_mode == 2:
                self.reply_mode = 0
            return
        self.out.append(error_bytes(msg))

    # -- output ---------------------------------------------------------------------------------
    def flush(self) -> None:
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else _join(out)
            out.clear()
            self.net_out += len(data)
            if not self.closed:
                self.transport.write(data)
                self.server.stats.total_writes_processed += 1
        if self.close_after_reply and not self.closed:
            self.close()

    def flush_aof(self) -> None:
        """``flush`` while an AOF is on (persistence/aof.py installs it as ``Client.flush``,
        so the path without AOF pays nothing): while writes are not yet durable, replies
        wait for the AOF commit (group commit)."""
        if self.out and self.server.aof_pending:
            return self.server.aof.hold(self)
        Client.flush_plain(self)

    def push(self, value) -> None:
        """Send an out-of-band message (MONITOR lines, pub/sub messages) right away."""
        self.encode(value, self.out)
        self.flush()

    flush_plain = flush

    def set_resp(self, proto: int) -> None:
        self.resp = proto
        self.encode = encode3 if proto == 3 else encode2

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()
            self.server.unregister_client(self)

    # -- introspection --------------------------------------------------------------------------
    def describe(self) -> str:
        return self.server.client_info(self)


def _cstr(b: bytes, limit: int = 128) -> bytes:
    """An argument as printf's ``%.*s`` prints it: at most ``limit`` bytes, up to a NUL."""
    b = b[:limit]
    z = b.find(b"\0")
    return b if z < 0 else b[:z]


def _trunc(b: bytes) -> str:
    return _cstr(b).decode("utf-8", "surrogateescape")


def _args_preview(argv) -> str:
    out = b""
    for a in argv[1:]:
        if len(out) >= 128:
            break
        out += b"'%s' " % _cstr(a, 128 - len(out))
    return out.decode("utf-8", "surrogateescape")
