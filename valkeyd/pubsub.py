"""Pub/sub state, message delivery, output buffer limits and keyspace notifications.

API (``srv.pubsub`` is the one :class:`PubSub` of a server)::

    srv.pubsub.publish(channel: bytes, message) -> int
        Deliver ``message`` on ``channel`` to the channel's subscribers, then to the
        subscribers of every matching pattern (Redis's pubsubPublishMessage); returns the
        number of receivers. ``message`` is normally bytes (sent as a bulk string); any other
        reply value (a list, None ...) is encoded in each receiver's protocol, which is what
        the RESP2 tracking redirect needs ("message", "__redis__:invalidate", [keys] / null).
    srv.pubsub.spublish(channel, message) -> int        shard channels (no patterns)
    srv.pubsub.subscribe(client, channel) -> bool       True if newly subscribed; no reply sent
    srv.pubsub.unsubscribe(client, channel) -> bool
    srv.pubsub.psubscribe(client, pattern) -> bool / punsubscribe(client, pattern) -> bool
    srv.pubsub.ssubscribe(client, channel) -> bool / sunsubscribe(client, channel) -> bool
    srv.pubsub.unsubscribe_all(client)                  every kind, no reply (disconnect, RESET)
    srv.pubsub.numsub(channel) -> int
    srv.pubsub.deliver(client, data: bytes, data3: bytes | None = None)
        Write an already-encoded message (RESP2 bytes, RESP3 bytes) to one client now,
        applying the client-output-buffer-limit checks.

Per client: ``client.channels``, ``client.patterns``, ``client.shard_channels`` are dicts
(insertion ordered, values None) or None before the first subscription;
``client.subscriptions`` is their total size (the dispatcher's subscribed-mode test, CLIENT
LIST flag P, the ``timeout`` exemption). The confirmation count Redis sends is channels +
patterns for SUBSCRIBE/PSUBSCRIBE and shard channels for SSUBSCRIBE (clientSubscriptionsCount
and clientShardSubscriptionsCount).

Delivery: a message to a client is written to its transport at once, unless that client
already has replies waiting in ``client.out`` (it is the one running the command, e.g. a
RESP3 client publishing to itself in a pipeline): then it is appended there so it leaves in
order with them. The publisher's own reply therefore always comes after the messages its
command caused, as in Redis.

Output buffer limits (Redis's checkClientOutputBufferLimits): the pending output of a client is
its transport's write buffer (``get_write_buffer_size``). After each delivery it is compared
with the ``client-output-buffer-limit`` of the client's class (pubsub for subscribers, normal
otherwise): at or over the hard limit, or over the soft limit continuously for more than the
soft seconds, the client is closed at once (its transport aborted, so the buffered output is
dropped and the memory freed) with Redis's log line. A cron hook checks the clients that are
over a soft limit (they may receive nothing more) and, when the normal class has limits, every
client whose transport reported a full buffer (``Client.pause_writing``).

Keyspace notifications: :func:`apply_notify_config` installs ``srv.notify_hook`` (signature
``fn(cls, event, key, dbid)``, ``cls`` one of Redis's class letters) only while
``notify-keyspace-events`` selects something, so writes cost nothing otherwise. The hook
filters by class and publishes ``__keyspace@<db>__:<key>`` (message: the event) and
``__keyevent@<db>__:<event>`` (message: the key). The ``new`` event comes from the engine's
``on_new`` callback (installed only with the ``n`` class) and ``keymiss`` from the read
lookups' miss path (valkeyd/commands/util.py) when a hook is installed.
"""
from __future__ import annotations

from .config import NOTIFY_FLAGS
from .glob import compile as _glob_compile
from .log import log
from .resp import encode2, encode3

_KEYSPACE = NOTIFY_FLAGS["K"]
_KEYEVENT = NOTIFY_FLAGS["E"]


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


def _encode_both(value):
    """The RESP2 and RESP3 encodings of a message payload."""
    t = type(value)
    if t is bytes or t is bytearray:
        b = _bulk(value)
        return b, b
    o2: list = []
    o3: list = []
    encode2(value, o2)
    encode3(value, o3)
    return b"".join(o2), b"".join(o3)


class PubSub:
    def __init__(self, server):
        self.server = server
        self.channels: dict[bytes, dict] = {}        # channel -> {client: None}
        self.patterns: dict[bytes, dict] = {}        # pattern -> {client: None}
        self.shard_channels: dict[bytes, dict] = {}  # shard channel -> {client: None}
        self._matchers: dict = {}                    # pattern -> compiled glob
        self.soft_watch: dict = {}                   # client -> None: over a soft limit
        self.full_watch: dict = {}                   # client -> None: transport buffer full
        server.client_close_hooks.append(self.unsubscribe_all)
        server.reset_hooks.append(self.unsubscribe_all)
        server.cron_hooks.append(self.cron)

    # -- subscriptions -------------------------------------------------------------------------
    def _add(self, table: dict, client, attr: str, name: bytes) -> bool:
        mine = getattr(client, attr)
        if mine is None:
            mine = {}
            setattr(client, attr, mine)
        elif name in mine:
            return False
        mine[name] = None
        subs = table.get(name)
        if subs is None:
            subs = table[name] = {}
        subs[client] = None
        client.subscriptions += 1
        return True

    def _remove(self, table: dict, client, attr: str, name: bytes) -> bool:
        mine = getattr(client, attr)
        if not mine or name not in mine:
            return False
        del mine[name]
        subs = table[name]
        del subs[client]
        if not subs:
            del table[name]
            if table is self.patterns:
                self._matchers.pop(name, None)
        client.subscriptions -= 1
        return True

    def subscribe(self, client, channel: bytes) -> bool:
        return self._add(self.channels, client, "channels", channel)

    def unsubscribe(self, client, channel: bytes) -> bool:
        return self._remove(self.channels, client, "channels", channel)

    def psubscribe(self, client, pattern: bytes) -> bool:
        if pattern not in self.patterns:
            self._matchers[pattern] = _glob_compile(pattern)
        return self._add(self.patterns, client, "patterns", pattern)

    def punsubscribe(self, client, pattern: bytes) -> bool:
        return self._remove(self.patterns, client, "patterns", pattern)

    def ssubscribe(self, client, channel: bytes) -> bool:
        return self._add(self.shard_channels, client, "shard_channels", channel)

    def sunsubscribe(self, client, channel: bytes) -> bool:
        return self._remove(self.shard_channels, client, "shard_channels", channel)

    def unsubscribe_all(self, client) -> None:
        """Drop every subscription of ``client`` without replies (disconnect, RESET)."""
        self.soft_watch.pop(client, None)
        self.full_watch.pop(client, None)
        if not client.subscriptions:
            return
        for table, attr in ((self.channels, "channels"), (self.patterns, "patterns"),
                            (self.shard_channels, "shard_channels")):
            for name in list(getattr(client, attr) or ()):
                self._remove(table, client, attr, name)

    def numsub(self, channel: bytes) -> int:
        subs = self.channels.get(channel)
        return len(subs) if subs else 0

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, channel: bytes, message) -> int:
        """PUBLISH: subscribers of ``channel``, then of every matching pattern."""
        receivers = 0
        subs = self.channels.get(channel)
        if subs or self.patterns:
            p2, p3 = _encode_both(message)
            cb = _bulk(channel)
        else:
            return 0
        if subs:
            head = b"$7\r\nmessage\r\n" + cb
            d2 = b"*3\r\n" + head + p2
            d3 = b">3\r\n" + head + p3
            for c in list(subs):
                self.deliver(c, d2, d3)
                receivers += 1
        if self.patterns:
            matchers = self._matchers
            for pat, psubs in list(self.patterns.items()):
                if not matchers[pat](channel):
                    continue
                head = b"$8\r\npmessage\r\n" + _bulk(pat) + cb
                d2 = b"*4\r\n" + head + p2
                d3 = b">4\r\n" + head + p3
                for c in list(psubs):
                    self.deliver(c, d2, d3)
                    receivers += 1
        return receivers

    def spublish(self, channel: bytes, message) -> int:
        """SPUBLISH: shard channel subscribers only (patterns are not consulted)."""
        subs = self.shard_channels.get(channel)
        if not subs:
            return 0
        p2, p3 = _encode_both(message)
        head = b"$8\r\nsmessage\r\n" + _bulk(channel)
        d2 = b"*3\r\n" + head + p2
        d3 = b">3\r\n" + head + p3
        n = 0
        for c in list(subs):
            self.deliver(c, d2, d3)
            n += 1
        return n

    def deliver(self, c, data: bytes, data3: bytes | None = None) -> None:
        """Send one encoded message to ``c`` (``data3`` for a RESP3 client)."""
        if c.closed:
            return   # closing (e.g. over its output limit): counted, not sent, as Redis
        if c.resp == 3 and data3 is not None:
            data = data3
        if c.out:
            c.out.append(data)   # behind replies being built for this client: keep the order
            return
        c.net_out += len(data)
        tr = c.transport
        tr.write(data)
        if tr.get_write_buffer_size():
            self.check_limits(c)

    # -- output buffer limits ------------------------------------------------------------------
    def check_limits(self, c, from_cron: bool = False) -> bool:
        """checkClientOutputBufferLimits + closeClientOnOutputBufferLimitReached: True if
        ``c`` was closed."""
        if c.closed or c.transport is None:
            return False
        srv = self.server
        used = c.transport.get_write_buffer_size()
        cls = "pubsub" if c.subscriptions else "normal"
        if getattr(c, "is_replica", False) and not c.monitor:
            cls = "slave"
        hard, soft, secs = srv.config.obuf_limits[cls]
        over_hard = hard and used >= hard
        over_soft = False
        if soft and used >= soft:
            since = getattr(c, "obuf_soft_since", 0)
            now = int(srv.unixtime)
            if not since:
                c.obuf_soft_since = now
                self.soft_watch[c] = None
            elif now - since > secs:
                over_soft = True
        else:
            if getattr(c, "obuf_soft_since", 0):
                c.obuf_soft_since = 0
                self.soft_watch.pop(c, None)
        if not (over_hard or over_soft):
            return False
        info = srv.client_info(c)
        if from_cron:
            log.warning(f"Client {info} closed for overcoming of output buffer limits.")
        else:
            log.warning(f"Client {info} scheduled to be closed ASAP for overcoming of "
                        f"output buffer limits.")
        self.soft_watch.pop(c, None)
        self.full_watch.pop(c, None)
        tr = c.transport
        c.out.clear()
        c.close()       # unregisters the client (its subscriptions go with it)
        tr.abort()      # drop the buffered output now: the memory is the point
        return True

    def cron(self) -> None:
        if self.soft_watch:
            for c in list(self.soft_watch):
                if c.closed:
                    self.soft_watch.pop(c, None)
                elif not self.check_limits(c, True) and not c.obuf_soft_since:
                    self.soft_watch.pop(c, None)
        if self.full_watch:
            for c in list(self.full_watch):
                if c.closed or not c.transport.get_write_buffer_size():
                    self.full_watch.pop(c, None)
                else:
                    self.check_limits(c, True)

    def writing_paused(self, c) -> None:
        """A client's transport buffer went over its high-water mark."""
        lim = self.server.config.obuf_limits
        if lim["normal"][0] or lim["normal"][1] or c.subscriptions:
            self.full_watch[c] = None
            self.check_limits(c)


# -- keyspace notifications ----------------------------------------------------------------------
def make_notify_hook(srv, flags: int):
    """The ``srv.notify_hook`` for the ``notify-keyspace-events`` flags ``flags``."""
    classes = {ch: bit for ch, bit in NOTIFY_FLAGS.items() if flags & bit}
    keyspace = bool(flags & _KEYSPACE)
    keyevent = bool(flags & _KEYEVENT)
    ps = srv.pubsub

    def notify_hook(cls, event, key, dbid):
        if cls not in classes:
            return
        ev = event.encode() if type(event) is str else event
        if keyspace:
            ps.publish(b"__keyspace@%d__:%b" % (dbid, key), ev)
        if keyevent:
            ps.publish(b"__keyevent@%d__:%b" % (dbid, ev), key)

    notify_hook.pubsub_config = flags
    return notify_hook


def apply_notify_config(srv) -> None:
    """Install or remove ``srv.notify_hook`` (and the engine's ``on_new``) for the current
    ``notify-keyspace-events``. A hook set by someone else is left alone."""
    flags = srv.config.notify_flags()
    cur = srv.notify_hook
    ours = cur is None or hasattr(cur, "pubsub_config")
    active = flags & (_KEYSPACE | _KEYEVENT) and flags & ~(_KEYSPACE | _KEYEVENT)
    if ours:
        srv.notify_hook = make_notify_hook(srv, flags) if active else None
    engine = srv.engine
    if active and flags & NOTIFY_FLAGS["n"]:
        def on_new(dbid, key, _srv=srv):
            hook = _srv.notify_hook
            if hook is not None and not _srv.loading:
                hook("n", "new", key, dbid)
        engine.on_new = on_new
    else:
        engine.on_new = None
