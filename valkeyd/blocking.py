"""Clients blocked on keys (Redis 7.2.4 blocked.c), for every blocking command family.

A blocking command that finds nothing to serve calls :func:`block` with its keys, its type
("list", "zset", "stream": the value type that can serve it) and its absolute deadline, and
returns :data:`BLOCKED` as its reply. The client then waits:

* it is appended to the FIFO waiter queue of each of its keys, per database
  (``db->blocking_keys``); its later requests queue in ``client.pending``;
* a write that modifies a key with waiters (the server's ``keyspace_hooks``, which every
  ``server.changed`` and every expiry/deletion reaches) marks the key ready, once, in
  signalling order (``signalKeyAsReady``); SWAPDB marks every waited key of both databases
  (``scanDatabaseForReadyKeys``);
* after the command that made keys ready (the dispatcher calls :func:`handle_ready` when
  ``server.ready_keys`` is not empty; for MULTI/EXEC and scripts that is after the whole
  transaction), the ready keys are handled in the order they became ready, and for each one
  the clients waiting on it, first blocked first served, whose type matches the key's value
  now (or that asked for ``unblock_on_nokey``) are unblocked and their command is run again
  from the start, exactly as Redis 7.2 re-executes it (so a client blocked on several keys
  pops from the first of its keys, in argument order, that has data; a command that must
  wait again goes to the back of the queues, with a fresh timeout). Keys made ready while
  serving (BLMOVE pushing to a list someone waits on) are handled in the same pass, after
  the current batch (handleClientsBlockedOnKeys);
* at the deadline the client gets its command's timeout reply (``*-1`` / RESP3 ``_`` for the
  list, zset and stream commands); CLIENT UNBLOCK gives the timeout reply or
  ``-UNBLOCKED client unblocked via CLIENT UNBLOCK``; a disconnect just drops it;
* an unblocked client's pending requests then run in order (processUnblockedClients).

For other families (sorted sets: BZPOPMIN/BZPOPMAX/BZMPOP; streams: XREAD/XREADGROUP
BLOCK): call ``install(c.server).block(c, argv, "zset" | "stream", keys, deadline, ...)`` and
return its result; parse the timeout with :func:`parse_timeout` (seconds) or compute the
deadline yourself (XREAD's milliseconds); pass ``timeout_reply`` if the timeout reply is not
the null array, and ``unblock_on_nokey=True`` for XREADGROUP (woken when the key is deleted or
changes type). The stored ``argv`` is what runs again: a command whose re-execution must
differ (XREAD ``$`` means "after the last ID at the time of the first call") rewrites that
list in place before blocking. Note that every modification of a waited key signals it
(Redis signals on key creation and explicitly in XADD and friends); for lists and sorted sets
that is equivalent, because a waited key only exists when it can serve.

A command must not block when the client cannot wait: inside MULTI/EXEC or a script
(``CLIENT_DENY_BLOCKING``). :func:`deny_blocking` is that test (the transaction and
scripting issues set ``client.in_exec`` / ``client.deny_blocking``); such a command replies
with its timeout reply at once.

Statistics follow Redis: a command that blocks is not counted when it blocks; it is counted
once when it is finally served (the re-execution) or when it times out / is unblocked. The
MONITOR feed shows the command once, when it first arrives.
"""
from __future__ import annotations

import math

from . import errors
from .errors import ErrorReply
from .resp import NULL_ARRAY


class _Blocked:
    """The reply value of a command that blocked (nothing is sent yet)."""

    __slots__ = ()

    def __repr__(self):
        return "BLOCKED"


BLOCKED = _Blocked()

UNBLOCKED_ERROR = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
TIMEOUT_OUT_OF_RANGE = "ERR timeout is out of range"
_LLONG_MAX = 2**63 - 1


class BlockState:
    """``client.blocked`` while a client waits for keys (Redis's ``bstate``)."""

    __slots__ = ("db", "keys", "btype", "deadline", "cmd", "argv", "timer", "unblock_on_nokey",
                 "timeout_reply")
    postponed = False

    def __init__(self, db, keys, btype, deadline, cmd, argv, unblock_on_nokey, timeout_reply):
        self.db = db
        self.keys = keys                  # distinct keys, in argument order
        self.btype = btype                # "list" / "zset" / "stream"
        self.deadline = deadline          # absolute ms, 0 = forever
        self.cmd = cmd
        self.argv = argv
        self.timer = None
        self.unblock_on_nokey = unblock_on_nokey
        self.timeout_reply = timeout_reply


def parse_timeout(c, arg) -> int:
    """getTimeoutFromObjectOrReply (seconds, fractions allowed): the absolute deadline in
    ms from the command's time snapshot, or 0 for "forever"."""
    from engines.base import clock
    try:
        s = arg.decode("ascii")
    except UnicodeDecodeError:
        raise ErrorReply(errors.TIMEOUT_NOT_FLOAT)
    if (not s or len(s) >= 5 * 1024 or s[0].isspace() or s[-1].isspace() or "_" in s
            or "\x00" in s):
        raise ErrorReply(errors.TIMEOUT_NOT_FLOAT)
    try:
        f = float(s)
    except ValueError:
        if s.lstrip("+-")[:2].lower() != "0x":
            raise ErrorReply(errors.TIMEOUT_NOT_FLOAT)
        try:
            f = float.fromhex(s)   # strtold reads C99 hex floats too
        except (ValueError, OverflowError):
            raise ErrorReply(errors.TIMEOUT_NOT_FLOAT)
    if f != f:
        raise ErrorReply(errors.TIMEOUT_NOT_FLOAT)
    f *= 1000.0
    if f > _LLONG_MAX:
        raise ErrorReply(TIMEOUT_OUT_OF_RANGE)
    if math.isinf(f):   # -inf
        raise ErrorReply(errors.TIMEOUT_NEGATIVE)
    ms = math.ceil(f)
    if ms < 0:
        raise ErrorReply(errors.TIMEOUT_NEGATIVE)
    if ms > 0:
        now = clock.ms()
        if ms > _LLONG_MAX - now:
            raise ErrorReply(TIMEOUT_OUT_OF_RANGE)
        ms += now
    return ms


def changed_no_signal(c, key, cls: str, event: str, n: int = 1) -> None:
    """``server.changed`` for a write that Redis does not signal to blocked clients
    (signalKeyAsReady is not called): XDEL, XTRIM and the consumer-group writes
    other than XGROUP DESTROY. Waiters on the key are not woken (a stream reader would
    otherwise run again, block again at the back of the queue with a fresh timeout)."""
    bl = getattr(c.server, "blocking", None)
    if bl is None:
        c.server.changed(c, key, cls, event, n)
        return
    bl.mute += 1
    try:
        c.server.changed(c, key, cls, event, n)
    finally:
        bl.mute -= 1


def deny_blocking(c) -> bool:
    """CLIENT_DENY_BLOCKING: inside MULTI/EXEC or a script a command cannot wait."""
    return bool(getattr(c, "deny_blocking", False) or getattr(c, "in_exec", False))


class Blocking:
    """The server's waiter machinery (one per server, ``server.blocking``)."""

    def __init__(self, server):
        self.server = server
        # dbid -> key -> {client: None} (an insertion-ordered set: FIFO)
        self.waiters: dict[int, dict] = {}
        self.ready: list = []            # [(dbid, key)] in signalling order
        self.ready_set: set = set()
        self.by_type: dict[str, int] = {}
        self.handling = False
        self.resume_scheduled = False
        self.unblocked: list = []         # clients whose pending input must run
        self.nokey: dict = {}            # (dbid, key) -> waiters with unblock_on_nokey
        self.mute = 0                    # > 0: writes do not signal keys (changed_no_signal)
        server.ready_keys = self.ready
        # INFO clients (total_blocking_keys, total_blocking_keys_on_nokey,
        # clients_in_timeout_table)
        server.total_blocking_keys = 0
        server.total_blocking_keys_on_nokey = 0
        server.clients_in_timeout_table = 0
        server.blocking = self
        server.keyspace_hooks.append(self.key_modified)
        server.client_close_hooks.append(self.client_closed)
        server.swapdb_hooks.append(self.swapdb)

    # -- blocking --------------------------------------------------------------------------------
    def block(self, c, argv, btype: str, keys, deadline: int, unblock_on_nokey: bool = False,
              timeout_reply=NULL_ARRAY):
        """blockForKeys: make ``c`` wait for ``keys``; returns BLOCKED (the handler returns
        it as its reply)."""
        srv = self.server
        distinct = list(dict.fromkeys(keys))
        dbw = self.waiters.get(c.db.id)
        if dbw is None:
            dbw = self.waiters[c.db.id] = {}
        for k in distinct:
            q = dbw.get(k)
            if q is None:
                q = dbw[k] = {}
                srv.total_blocking_keys += 1
            q[c] = None
            if unblock_on_nokey:
                nk = (c.db.id, k)
                n = self.nokey.get(nk, 0)
                if not n:
                    srv.total_blocking_keys_on_nokey += 1
                self.nokey[nk] = n + 1
        cmd = c.last_cmd
        b = BlockState(c.db, distinct, btype, deadline, cmd, argv, unblock_on_nokey,
                       timeout_reply)
        c.blocked = b
        srv.blocked_clients += 1
        self.by_type[btype] = self.by_type.get(btype, 0) + 1
        if deadline:
            srv.clients_in_timeout_table += 1
            loop = srv.loop
            if loop is not None:
                from engines.base import clock
                delay = max(0.0, (deadline - clock.ms()) / 1000.0)
                b.timer = loop.call_later(delay, self._timed_out, c, b)
        return BLOCKED

    def after_block(self, c, cmd) -> None:
        """Called by the dispatcher when a handler returned BLOCKED: the command is not
        counted until it is served (Redis counts it on the re-execution)."""
        cmd.calls -= 1
        c.cmds -= 1

    def _release(self, c) -> "BlockState | None":
        """Remove ``c`` from every queue (releaseBlockedEntry) and clear its state."""
        b = c.blocked
        if type(b) is not BlockState:
            return None
        srv = self.server
        dbid = b.db.id
        dbw = self.waiters.get(dbid)
        if dbw is not None:
            for k in b.keys:
                q = dbw.get(k)
                if q is not None:
                    q.pop(c, None)
                    if not q:
                        del dbw[k]
                        srv.total_blocking_keys -= 1
                if b.unblock_on_nokey:
                    nk = (dbid, k)
                    n = self.nokey.get(nk, 0) - 1
                    if n <= 0:
                        self.nokey.pop(nk, None)
                        srv.total_blocking_keys_on_nokey -= 1
                    else:
                        self.nokey[nk] = n
        if b.timer is not None:
            b.timer.cancel()
            b.timer = None
        if b.deadline:
            srv.clients_in_timeout_table -= 1
        c.blocked = None
        srv.blocked_clients -= 1
        self.by_type[b.btype] -= 1
        return b

    # -- readiness -------------------------------------------------------------------------------
    def key_modified(self, dbid: int, key) -> None:
        """signalKeyAsReady (from every modification of a key)."""
        if self.mute:
            return
        dbw = self.waiters.get(dbid)
        if dbw and key in dbw:
            rk = (dbid, key)
            if rk not in self.ready_set:
                self.ready_set.add(rk)
                self.ready.append(rk)

    def swapdb(self, a: int, b: int) -> None:
        """scanDatabaseForReadyKeys on both databases after SWAPDB."""
        srv = self.server
        for dbid in (a, b):
            for key in list(self.waiters.get(dbid, ())):
                if srv.dbs[dbid].exists(key):
                    self.key_modified(dbid, key)

    def handle_ready(self) -> None:
        """handleClientsBlockedOnKeys, then processUnblockedClients."""
        if self.handling:
            return
        self.handling = True
        try:
            srv = self.server
            while self.ready:
                batch = list(self.ready)
                self.ready.clear()
                for dbid, key in batch:
                    self.ready_set.discard((dbid, key))
                    dbw = self.waiters.get(dbid)
                    q = dbw.get(key) if dbw else None
                    if not q:
                        continue
                    db = srv.dbs[dbid]
                    # Only the clients waiting now: one that blocks again joins the tail.
                    for rc in list(q):
                        b = rc.blocked
                        if type(b) is not BlockState or rc.closed:
                            continue
                        t = db.type_name(key)
                        if (t is not None and t == b.btype) or b.unblock_on_nokey:
                            self._serve(rc, b)
        finally:
            self.handling = False
        if self.unblocked and not self.resume_scheduled:
            # processUnblockedClients runs in beforeSleep: after the rest of the current
            # client's batch of requests.
            loop = srv.loop
            if loop is None:
                self._resume_unblocked()
            else:
                self.resume_scheduled = True
                loop.call_soon(self._resume_soon)

    def _resume_soon(self) -> None:
        self.resume_scheduled = False
        self._resume_unblocked()

    def _serve(self, c, b) -> None:
        """unblockClientOnKey: unblock, then run the command again from the start."""
        self._release(c)
        cmd = b.cmd
        reply = c.call(cmd, b.argv)
        if reply is BLOCKED:
            self.after_block(c, cmd)
            return
        self._reply(c, reply)
        self.unblocked.append(c)

    def _reply(self, c, reply) -> None:
        if c.reply_mode:
            if c.reply_mode == 2:
                c.reply_mode = 0
            elif c.reply_mode == 3:
                c.reply_mode = 2
        else:
            c.encode(reply, c.out)
        if not c.closed:
            c.flush()

    def _resume_unblocked(self) -> None:
        """processUnblockedClients: run what each unblocked client sent meanwhile."""
        while self.unblocked:
            c = self.unblocked.pop(0)
            if c.closed or c.blocked is not None:
                continue
            pending = c.pending
            c.pending = []
            if pending:
                c.run(pending)
            c.flush()

    # -- timeouts, CLIENT UNBLOCK, disconnects -------------------------------------------------
    def _finish(self, c, b, reply, failed: bool) -> None:
        cmd = b.cmd
        cmd.calls += 1
        c.cmds += 1
        if failed:
            cmd.failed_calls += 1
            srv = self.server
            srv.stats.total_error_replies += 1
            srv.count_error(reply.code)
        self._reply(c, reply)
        self.unblocked.append(c)
        if not self.handling:
            self._resume_unblocked()

    def _timed_out(self, c, b) -> None:
        if c.blocked is not b or c.closed:
            return
        b.timer = None
        self._release(c)
        self._finish(c, b, b.timeout_reply, False)

    def unblock_client(self, c, error: bool) -> bool:
        """CLIENT UNBLOCK: the timeout reply, or the UNBLOCKED error."""
        b = c.blocked
        if type(b) is not BlockState:
            return False
        self._release(c)
        if error:
            self._finish(c, b, ErrorReply(UNBLOCKED_ERROR), True)
        else:
            self._finish(c, b, b.timeout_reply, False)
        return True

    def client_closed(self, c) -> None:
        if type(c.blocked) is BlockState:
            self._release(c)


def install(server) -> Blocking:
    """The server's waiter machinery, created at the first block (so that writes pay for
    the keyspace hook only once some client has blocked)."""
    bl = getattr(server, "blocking", None)
    if bl is None:
        bl = Blocking(server)
    return bl
