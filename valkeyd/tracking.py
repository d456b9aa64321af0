"""Client-side caching: key tracking and invalidation messages (Redis 7.2.4 tracking.c).

State
-----
One :class:`Tracking` per server (``server.tracking``), created by the first
``CLIENT TRACKING ON``:

* ``table``: key -> {client id: None}, the clients that may hold the key in their local cache
  (Redis's ``TrackingTable``). Keys are global, not per database, as in Redis. Entries of
  clients that disconnect or turn tracking off are left in place and skipped when the key is
  invalidated (Redis frees them lazily too, so ``tracking_total_items`` counts them). It is an
  ``OrderedDict`` so that the ``tracking-table-max-keys`` limit can drop the oldest key in O(1)
  (Redis drops random keys).
* ``prefixes``: prefix -> :class:`_Bcast` (the clients in BCAST mode for the prefix and the
  keys modified under it since the last broadcast; Redis's ``PrefixTable``).
* the per-client state lives on the client: ``tracking`` (on/off), ``tracking_redirect``
  (client id, 0 = none), ``tracking_bcast``, ``tracking_optin``, ``tracking_optout``,
  ``tracking_caching`` (CLIENT CACHING given for the next command), ``tracking_noloop``,
  ``tracking_broken_redir``, ``tracking_prefixes`` (CLIENT LIST / TRACKINGINFO read them).

Zero cost for other clients
---------------------------
A client that turns tracking on gets its class switched to a subclass of its own class
(:func:`_tracking_class`) that overrides ``execute`` and ``call``; turning tracking off
switches it back. So the dispatcher's common path has no extra test at all, and only
tracking clients pay for:

* ``call``: marks the client as the one executing (Redis's ``server.current_client`` for
  NOLOOP and for deferring its own invalidations), and after a read-only command (except
  EVAL_RO / EVALSHA_RO / FCALL_RO themselves) remembers the command's keys
  (``trackingRememberKeys``, with the OPTIN/OPTOUT + CLIENT CACHING rules). EXEC runs its
  commands through ``client.call``, so commands inside a transaction are tracked one by one.
  Scripts run their commands on their own client: the script engine calls
  :meth:`Tracking.script_command` after each one, which remembers the keys for the caller.
* ``execute``: before the command, the table limit (``trackingLimitUsedSlots``); after it (the
  reply is already in the output buffer) the invalidations of the client's own keys that its
  command caused (``tracking_pending_keys``, sent after the reply as Redis does), and the end
  of a CLIENT CACHING YES/NO (it lasts one command, or one MULTI ... EXEC).

A redirect client runs as that subclass too while some tracking client redirects to it, so
that it is known as the executing client when its own command causes a message for it: as
Redis defers pushes to the current client (``pending_push_messages``), the message then
follows its reply.

The key-change hook (``server.keyspace_hooks``) is registered only while some client tracks
or the table holds keys; the flush hook sends the null invalidation (``FLUSHDB``/``FLUSHALL``,
``trackingInvalidateKeysOnFlush``). BCAST invalidations are collected per prefix and sent once
per event-loop iteration (``loop.call_soon``, Redis's ``trackingBroadcastInvalidationMessages``
in ``beforeSleep``), keys in byte order.

Messages (``sendTrackingMessage``): RESP3 ``>2 invalidate [keys]`` (or ``_`` after a flush);
with REDIRECT the message goes to the redirect client: a RESP3 push, or, if that client is
RESP2 and in pub/sub mode, a ``message`` on ``__redis__:invalidate``; a redirect client that
is gone sets ``broken_redirect`` and sends ``>2 tracking-redir-broken <id>`` (RESP3) instead.
Messages to clients other than the executing one go out at once through
``server.pubsub.deliver`` (so the output buffer limits apply, as for pub/sub messages).
"""
from __future__ import annotations

from collections import OrderedDict

from .commands.command_cmd import GETKEYS_PROC as _GETKEYS_PROC, getkeys_proc as _getkeys_proc

_INVALIDATE3 = b">2\r\n$10\r\ninvalidate\r\n"
_INVALIDATE2 = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
_NULL = {2: b"$-1\r\n", 3: b"_\r\n"}
# Read-only scripts are not tracked themselves, only the commands they run.
_SCRIPT_RO = frozenset(("eval_ro", "evalsha_ro", "fcall_ro"))
# Writes of a script come from the script's own client, not the caller (BCAST NOLOOP).
_SCRIPTS = _SCRIPT_RO | {"eval", "evalsha", "fcall"}


def _key_array(key: bytes) -> bytes:
    return b"*1\r\n$%d\r\n%b\r\n" % (len(key), key)


def _keys_array(keys) -> bytes:
    out = [b"*%d\r\n" % len(keys)]
    for k in keys:
        out.append(b"$%d\r\n%b\r\n" % (len(k), k))
    return b"".join(out)


class _Bcast:
    """bcastState: clients subscribed to a prefix, keys modified under it (key -> the client
    that modified it last, None outside a tracking client's command)."""

    __slots__ = ("clients", "keys")

    def __init__(self):
        self.clients: dict = {}
        self.keys: dict = {}


_CLASSES: dict = {}
# The per-client state, off (class attributes of the subclass; a client sets its own).
_DEFAULTS = dict(tracking=False, tracking_redirect=0, tracking_bcast=False,
                 tracking_optin=False, tracking_optout=False, tracking_caching=False,
                 tracking_noloop=False, tracking_broken_redir=False, tracking_prefixes=None,
                 tracking_redirected_by=0)


def _tracking_class(base):
    """The subclass of ``base`` a tracking client runs as (see the module docstring)."""
    cls = _CLASSES.get(base)
    if cls is not None:
        return cls
    base_execute = base.execute
    base_call = base.call

    def execute(self, argv):
        tr = self.server.tracking
        if tr.max_keys and len(tr.table) > tr.max_keys:
            tr.limit_used_slots(self)
        base_execute(self, argv)
        if tr.pending or tr.deferred:
            tr.flush_pending(self)
        if self.tracking_caching and self.multi is None:
            cmd = self.last_cmd
            if cmd is None or (cmd.parent or cmd).name != "client":
                self.tracking_caching = False

    def call(self, cmd, argv):
        tr = self.server.tracking
        prev, prev_writer = tr.current, tr.writer
        tr.current = self
        tr.writer = None if cmd.name in _SCRIPTS else self
        reply = base_call(self, cmd, argv)
        tr.current, tr.writer = prev, prev_writer
        if (cmd.readonly and self.tracking and not self.tracking_bcast
                and cmd.name not in _SCRIPT_RO):
            tr.remember(self, cmd, argv)
        return reply

    cls = type("Tracking" + base.__name__, (base,), {
        "execute": execute, "call": call, "__doc__": "A client with tracking on, or the "
        "redirect client of one.", "_tracking_base": base, **_DEFAULTS})
    _CLASSES[base] = cls
    return cls


def get(srv) -> "Tracking":
    """The server's tracking state, created on first use."""
    tr = getattr(srv, "tracking", None)
    if tr is None:
        tr = Tracking(srv)
    return tr


class Tracking:
    def __init__(self, srv):
        self.srv = srv
        self.table: OrderedDict = OrderedDict()
        self.items = 0                    # TrackingTableTotalItems
        self.prefixes: dict = {}          # prefix -> _Bcast
        self.clients = 0                  # server.tracking_clients
        self.pending: list = []           # keys (None: flush) for the executing client
        self.deferred: list = []          # messages to the executing client (after its reply)
        self.current = None               # the tracking client running a command
        self.writer = None                # ... and the writer for BCAST NOLOOP (not scripts)
        self.bcast_scheduled = False
        self.hooked = False
        self.timeout_counter = 0
        self.max_keys = srv.config.get_int("tracking-table-max-keys")
        srv.tracking = self
        srv.tracking_clients = 0
        srv.config.on_change("tracking-table-max-keys", self._config_max_keys)
        srv.flush_hooks.append(self.flushed)
        srv.client_close_hooks.append(self.disable)
        srv.reset_hooks.append(self.disable)
        srv.cron_hooks.append(self.cron)
        engine = srv.engine
        expired = engine.on_expired

        def on_expired(dbid, key):
            # An expiry has no writing client (Redis passes NULL): BCAST NOLOOP clients get
            # the key even when their own command found it expired.
            writer = self.writer
            self.writer = None
            expired(dbid, key)
            self.writer = writer

        engine.on_expired = on_expired

    # -- INFO ------------------------------------------------------------------------------------
    def total_keys(self) -> int:
        return len(self.table)

    def total_items(self) -> int:
        return self.items

    def total_prefixes(self) -> int:
        return len(self.prefixes)

    # -- enabling / disabling (enableTracking, disableTracking) ---------------------------------
    def enable(self, c, redirect: int, bcast: bool, optin: bool, optout: bool, noloop: bool,
               prefixes) -> None:
        if not getattr(c, "tracking", False):
            self.clients += 1
            self.srv.tracking_clients = self.clients
            self._switch(c)
        c.tracking = True
        c.tracking_broken_redir = False
        c.tracking_bcast = False
        if c.tracking_redirect != redirect:
            self._release(c.tracking_redirect)
            if redirect:
                t = self.srv.clients[redirect]
                self._switch(t)
                t.tracking_redirected_by += 1
        c.tracking_redirect = redirect
        if bcast:
            c.tracking_bcast = True
            for p in (prefixes or (b"",)):
                bs = self.prefixes.get(p)
                if bs is None:
                    bs = self.prefixes[p] = _Bcast()
                if c not in bs.clients:
                    bs.clients[c] = None
                    if c.tracking_prefixes is None:
                        c.tracking_prefixes = {}
                    c.tracking_prefixes[p] = None
        c.tracking_optin = optin
        c.tracking_optout = optout
        c.tracking_noloop = noloop
        self._hook()

    def disable(self, c) -> None:
        if getattr(c, "tracking_bcast", False):
            for p in c.tracking_prefixes or ():
                bs = self.prefixes[p]
                bs.clients.pop(c, None)
                if not bs.clients:
                    del self.prefixes[p]
            c.tracking_prefixes = None
        if getattr(c, "tracking", False):
            self.clients -= 1
            self.srv.tracking_clients = self.clients
            c.tracking = False
            c.tracking_broken_redir = c.tracking_bcast = False
            c.tracking_optin = c.tracking_optout = False
            c.tracking_caching = c.tracking_noloop = False
            self._release(c.tracking_redirect)
            c.tracking_redirect = 0
            if not c.tracking_redirected_by:
                self._unswitch(c)
        self._unhook_if_idle()

    # A redirect client runs as the subclass too (while some tracking client redirects to
    # it), so that it is known as the executing client: messages for it that its own command
    # causes are then sent after its reply, as Redis defers pushes to the current client.
    @staticmethod
    def _switch(c) -> None:
        if not hasattr(type(c), "_tracking_base"):
            c.__class__ = _tracking_class(type(c))

    def _unswitch(self, c) -> None:
        cls = type(c)
        base = getattr(cls, "_tracking_base", None)
        if base is not None:
            if "_tracking_base" in cls.__dict__:   # the tracking layer is the outermost
                c.__class__ = base
            else:   # a RESP3 subscriber's layer (valkeyd/pubsub.py) over it: keep that one
                from .pubsub import _executing_class
                c.__class__ = _executing_class(base)
        if self.current is c:
            self.current = self.writer = None

    def _release(self, rid: int) -> None:
        t = self.srv.clients.get(rid) if rid else None
        if t is not None and t.tracking_redirected_by:
            t.tracking_redirected_by -= 1
            if not t.tracking_redirected_by and not t.tracking:
                self._unswitch(t)

    def _hook(self) -> None:
        if not self.hooked:
            self.hooked = True
            self.srv.keyspace_hooks.append(self.key_modified)

    def _unhook_if_idle(self) -> None:
        if self.hooked and not self.clients and not self.table:
            self.hooked = False
            try:
                self.srv.keyspace_hooks.remove(self.key_modified)
            except ValueError:
                pass

    # -- remembering keys (trackingRememberKeys) ------------------------------------------------
    def remember(self, c, cmd, argv) -> None:
        if c.tracking_optin:
            if not c.tracking_caching:
                return
        elif c.tracking_optout and c.tracking_caching:
            return
        if cmd.fullname in _GETKEYS_PROC:   # getKeysFromCommand: the command's procedure,
            positions = [p for p, _f in _getkeys_proc(cmd, argv)]
        else:                                # else the legacy first/last/step range
            positions = cmd.get_keys(argv)
        if not positions or "pubsub" in cmd.flags:
            return
        table = self.table
        cid = c.id
        for i in positions:
            k = argv[i]
            if type(k) is not bytes:
                k = bytes(k)
            ids = table.get(k)
            if ids is None:
                ids = table[k] = {}
            if cid not in ids:
                ids[cid] = None
                self.items += 1
        self._hook()

    def script_command(self, cmd, argv) -> None:
        """For a command a script runs (redis.call): its keys are remembered for the client
        that called the script, with that client's flags (Redis's ``current_client``).
        The script engine calls this after each command while ``server.tracking`` exists."""
        c = self.current
        if c is not None and cmd.readonly and c.tracking and not c.tracking_bcast:
            self.remember(c, cmd, argv)

    # -- invalidation (trackingInvalidateKey) ---------------------------------------------------
    def key_modified(self, dbid, key) -> None:
        """The keyspace hook: ``key`` changed (a write, an expiry, a deletion)."""
        self.invalidate(key, True, self.current)

    def invalidate(self, key, bcast: bool, current) -> None:
        if type(key) is not bytes:
            key = bytes(key)
        if bcast and self.prefixes:
            writer = self.writer if current is self.current else current
            for p, bs in self.prefixes.items():
                if key.startswith(p):
                    bs.keys[key] = writer
                    self._schedule_broadcast()
        ids = self.table.pop(key, None)
        if ids is None:
            return
        self.items -= len(ids)
        clients = self.srv.clients
        executing = self.current
        for cid in ids:
            t = clients.get(cid)
            if t is None or not getattr(t, "tracking", False) or t.tracking_bcast:
                continue
            if t is current and t.tracking_noloop:
                continue
            if t is executing:
                self.pending.append(key)   # after the reply of the running command
            else:
                self.send(t, _key_array(key))
        if not self.table and not self.clients:
            self._unhook_if_idle()

    def flush_pending(self, c) -> None:
        """After the executing client's reply: the messages for it that its command caused,
        then the invalidations of its own keys (trackingHandlePendingKeyInvalidations)."""
        deferred, pending = self.deferred, self.pending
        self.deferred, self.pending = [], []
        if c.closed:
            return
        c.out.extend(deferred)
        for key in pending:
            self.send(c, _NULL[3 if c.resp == 3 else 2] if key is None else _key_array(key),
                      flush=False)

    def flushed(self, dbid) -> None:
        """trackingInvalidateKeysOnFlush: a null invalidation to every tracking client, and
        the table is emptied."""
        if self.clients:
            executing = self.current
            for c in list(self.srv.clients.values()):
                if getattr(c, "tracking", False):
                    if c is executing:
                        self.pending.append(None)
                    else:
                        self.send(c, _NULL[3 if c.resp == 3 else 2])
        self.table.clear()
        self.items = 0
        self._unhook_if_idle()

    # -- sending (sendTrackingMessage) ----------------------------------------------------------
    def send(self, c, payload: bytes, flush: bool = True) -> None:
        """Send one invalidation (``payload``: the RESP of the keys array, or the null) for
        the tracking client ``c``, to ``c`` or to its redirect client."""
        target = c
        redirected = False
        rid = c.tracking_redirect
        if rid:
            target = self.srv.clients.get(rid)
            if target is None or target.closed:
                c.tracking_broken_redir = True
                if c.resp > 2:
                    self._write(c, b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % rid,
                                flush)
                return
            redirected = True
        if target.resp > 2:
            head = _INVALIDATE3
        elif redirected and target.subscriptions:
            head = _INVALIDATE2
        else:
            return   # RESP2 without a pub/sub redirect: nothing can carry the message
        self._write(target, head + payload, flush or target is not c)

    def _write(self, c, data: bytes, now: bool) -> None:
        """To the client's output: at once (with the output buffer limits, as pub/sub
        messages), or behind the reply being built for it."""
        if c.closed:
            return
        if c is self.current:
            self.deferred.append(data)   # it is running a command: after the reply
        elif now:
            self.srv.pubsub.deliver(c, data)
        else:
            c.out.append(data)

    # -- BCAST (trackingBroadcastInvalidationMessages) ------------------------------------------
    def _schedule_broadcast(self) -> None:
        if not self.bcast_scheduled:
            loop = self.srv.loop
            if loop is not None:
                self.bcast_scheduled = True
                loop.call_soon(self.broadcast)

    def broadcast(self) -> None:
        self.bcast_scheduled = False
        if not self.clients:
            return
        for p in sorted(self.prefixes):
            bs = self.prefixes.get(p)
            if bs is None:
                continue
            keys = bs.keys
            if keys:
                order = sorted(keys)
                proto = _keys_array(order)
                for c in list(bs.clients):
                    if c.tracking_noloop:
                        own = [k for k in order if keys[k] is not c]
                        if own:
                            self.send(c, _keys_array(own))
                    else:
                        self.send(c, proto)
            bs.keys = {}

    # -- tracking-table-max-keys (trackingLimitUsedSlots) ---------------------------------------
    def _config_max_keys(self, _value) -> None:
        self.max_keys = self.srv.config.get_int("tracking-table-max-keys")

    def cron(self) -> None:
        if self.clients and self.max_keys and len(self.table) > self.max_keys:
            self.limit_used_slots(None)

    def limit_used_slots(self, current) -> None:
        """Drop keys (oldest first) until the table is within ``tracking-table-max-keys``,
        sending their invalidations as if they were modified; the effort grows each time
        the limit could not be reached."""
        max_keys = self.max_keys
        table = self.table
        if not max_keys or len(table) <= max_keys:
            self.timeout_counter = 0
            return
        effort = 100 * (self.timeout_counter + 1)
        while effort > 0 and table:
            effort -= 1
            key = next(iter(table))
            self.invalidate(key, False, current)
            if len(table) <= max_keys:
                self.timeout_counter = 0
                return
        self.timeout_counter += 1


# -- CLIENT TRACKING option checks (clientCommand) ----------------------------------------------
def _cstr(b: bytes) -> str:
    z = b.find(b"\0")
    return (b if z < 0 else b[:z]).decode("utf-8", "surrogateescape")


def prefix_collision(c, prefixes):
    """checkPrefixCollisionsOrReply: the error text for overlapping prefixes, and whether
    tracking is still enabled afterwards (Redis 7.2.4 goes on, after the error, when the
    overlap is between two new prefixes of which the first is not the first given)."""
    existing = sorted(getattr(c, "tracking_prefixes", None) or ())
    for i, p in enumerate(prefixes):
        for e in existing:
            n = min(len(e), len(p))
            if e[:n] == p[:n]:
                return ("ERR Prefix '%s' overlaps with an existing prefix '%s'. Prefixes "
                        "for a single client must not overlap." % (_cstr(p), _cstr(e))), False
        for q in prefixes[i + 1:]:
            n = min(len(p), len(q))
            if p[:n] == q[:n]:
                return ("ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                        "Prefixes for a single client must not overlap."
                        % (_cstr(p), _cstr(q))), i != 0
    return None, True

