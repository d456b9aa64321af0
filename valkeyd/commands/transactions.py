"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis 7.2's multi.c).

Queueing lives in the one dispatch path: inside MULTI, :meth:`Client.execute` runs every
check of ``processCommand`` (unknown command, arity, no_multi, auth, pause ...) and then hands
the command to ``Server.queue_multi`` instead of calling it. A command refused there flags
the transaction (``client.multi_error``, Redis's CLIENT_DIRTY_EXEC) and EXEC then answers
EXECABORT. Like Redis, nothing more is stored once the transaction is doomed (a queueing
error or a touched WATCHed key): the QUEUED reply still comes but CLIENT LIST's ``multi=``
stops counting. EXEC, DISCARD, MULTI, WATCH, QUIT and RESET are never queued.

EXEC runs the queued commands through :meth:`Client.call` (stats, slowlog, propagation of
each) with ``client.in_exec`` set, so blocking commands answer as on timeout
(valkeyd/blocking.py ``deny_blocking``), and with one frozen clock for the whole run (Redis
takes one command-time snapshot for EXEC and everything in it). The writes are collected
between ``propagate_begin``/``propagate_end``: more than one goes to the AOF/replicas as
MULTI ... EXEC. A runtime error in one command is its own reply; the others still run. The
reply array is written to the client's output as the commands run (the array header first),
so a HELLO or CLIENT REPLY inside the transaction affects the following replies as in Redis.
An EXEC refused by the dispatcher itself (``EXEC x``: arity) aborts the transaction with
``EXECABORT Transaction discarded because of: <error>`` (:func:`exec_abort`, called from
``Client.reject``).

WATCH (``watchForKey``/``touchWatchedKey``/``touchAllWatchedKeysInDb``) keeps, per server,
``dbid -> key -> WatchedKey`` (the clients watching it, in WATCH order, and whether the key is
present in the keyspace, expired or not) and, per client, ``client.watched``:
``(dbid, key) -> Watch`` with Redis's ``expired`` mark (the key was already logically expired
at WATCH time, so its deletion by expiry is no change). The watcher hooks:

* ``server.keyspace_hooks`` — every write (``signalModifiedKey``) and every expiry deletion
  (lazy or active). The hook is registered only while some key is watched, so writes cost
  nothing otherwise. A touched key marks its watchers dirty (``client.dirty_cas``) and
  unwatches all their keys, except a watcher whose key was expired at WATCH time: if the key
  is now gone that is no logical change (the mark is cleared); if a live value replaced it,
  that is Redis's deletion-then-write (a change); if it is still there and still expired,
  Redis stops marking the key's remaining watchers (its loop ``break``), kept as is.
* ``server.flush_hooks`` — FLUSHDB/FLUSHALL touch the watched keys that were present (the
  hook runs after the flush, so presence is the one tracked per watched key).
* ``server.swapdb_hooks`` — SWAPDB touches a watched key if it exists on either side, except
  the stale (expired) cases of Redis's touchAllWatchedKeysInDb.
* At EXEC, a watched key that has logically expired since WATCH (``isWatchedKeyExpired``)
  aborts too, even if nothing deleted it yet.

A write to the same key name in another database touches nothing: the index is per database.
"""
from __future__ import annotations

from engines.base import clock

from ..errors import ErrorReply
from ..resp import NULL_ARRAY, OK, Raw
from .registry import command

EXECABORT = "EXECABORT Transaction discarded because of previous errors."
_NO_REPLY = Raw(b"")


# -- keyspace facts (without side effects: no lazy expiry) ----------------------------------------
def _is_expired(db, key) -> bool:
    """keyIsExpired: the key has an expiry time in the past (it may still be stored)."""
    when = db.get_expire(key)
    return when is not None and when < clock.ms()


def _present(db, key) -> bool:
    """The key is stored (dictFind), expired or not. A key with an expiry is checked through
    it, so no lazy expiry runs."""
    return db.get_expire(key) is not None or db.exists(key)


class Watch:
    """One client's WATCH of one key (Redis's watchedKey)."""
    __slots__ = ("expired",)

    def __init__(self, expired: bool):
        self.expired = expired


class WatchedKey:
    """The watchers of one key of one database (in WATCH order)."""
    __slots__ = ("present", "clients")

    def __init__(self, present: bool):
        self.present = present
        self.clients: dict = {}


class Watches:
    """The server's WATCH index (``server.watches``, made by the first WATCH)."""

    def __init__(self, srv):
        self.srv = srv
        self.dbs: dict[int, dict[bytes, WatchedKey]] = {}
        self.count = 0                 # (client, db, key) entries
        self.hook = self.touch         # the bound method registered in keyspace_hooks
        srv.watches = self
        srv.flush_hooks.append(self.flushed)
        srv.swapdb_hooks.append(self.swapped)
        srv.client_close_hooks.append(self.unwatch_all)
        srv.reset_hooks.append(discard_transaction)

    # -- hook registration (the lists are replaced, never changed while being iterated) --------
    def _hook_on(self) -> None:
        srv = self.srv
        if self.hook not in srv.keyspace_hooks:
            srv.keyspace_hooks = srv.keyspace_hooks + [self.hook]

    def _hook_off(self) -> None:
        srv = self.srv
        srv.keyspace_hooks = [h for h in srv.keyspace_hooks if h is not self.hook]

    # -- WATCH / UNWATCH -------------------------------------------------------------------------
    def watch(self, c, key) -> None:
        """watchForKey."""
        db = c.db
        k = (db.id, key)
        mine = c.watched
        if mine is None:
            mine = c.watched = {}
        elif k in mine:
            return
        m = self.dbs.get(db.id)
        if m is None:
            m = self.dbs[db.id] = {}
        wk = m.get(key)
        present = _present(db, key)
        if wk is None:
            wk = m[key] = WatchedKey(present)
        else:
            wk.present = present
        w = Watch(present and _is_expired(db, key))
        wk.clients[c] = w
        mine[k] = w
        if not self.count:
            self._hook_on()
        self.count += 1

    def unwatch_all(self, c) -> None:
        """unwatchAllKeys (also the client-close hook)."""
        mine = c.watched
        if not mine:
            c.watched = None
            return
        dbs = self.dbs
        for dbid, key in mine:
            m = dbs[dbid]
            wk = m[key]
            del wk.clients[c]
            if not wk.clients:
                del m[key]
                if not m:
                    del dbs[dbid]
        self.count -= len(mine)
        c.watched = None
        if not self.count:
            self._hook_off()

    def expired_since_watch(self, c) -> bool:
        """isWatchedKeyExpired: a key not already expired at WATCH time is expired now."""
        dbs = self.srv.dbs
        for (dbid, key), w in c.watched.items():
            if not w.expired and _is_expired(dbs[dbid], key):
                return True
        return False

    # -- invalidation ----------------------------------------------------------------------------
    def touch(self, dbid: int, key) -> None:
        """touchWatchedKey: ``key`` of database ``dbid`` was modified (or deleted by expiry)."""
        m = self.dbs.get(dbid)
        if not m:
            return
        wk = m.get(key)
        if wk is None:
            return
        db = self.srv.dbs[dbid]
        present = wk.present = _present(db, key)
        for client, w in list(wk.clients.items()):
            if w.expired:
                if not present:
                    w.expired = False   # an expired key deleted: logically no change
                    continue
                if _is_expired(db, key):
                    break               # Redis's loop stops here (touchWatchedKey)
                # A live value replaced the expired one without a lookup deleting it first
                # (Redis's writes look the key up: deletion, then the write, which touches).
            client.dirty_cas = True
            self.unwatch_all(client)    # no need to watch anything else: EXEC will fail

    def _touch_all(self, dbid: int, emptied, replaced) -> None:
        """touchAllWatchedKeysInDb for database ``dbid``'s watchers: ``emptied`` holds the
        contents it had (None: use the tracked presence, for a flush), ``replaced`` the
        contents it has now (None after a flush)."""
        m = self.dbs.get(dbid)
        if not m:
            return
        for key, wk in m.items():
            in_emptied = wk.present if emptied is None else _present(emptied, key)
            in_replaced = replaced is not None and _present(replaced, key)
            if not (in_emptied or in_replaced):
                continue
            for client, w in wk.clients.items():
                if w.expired:
                    if not in_replaced:
                        w.expired = False   # the expired key is now deleted: no change
                        continue
                    if _is_expired(replaced, key):
                        continue            # stays expired
                elif not in_emptied and _is_expired(replaced, key):
                    w.expired = True        # no key replaced with an expired one
                    continue
                client.dirty_cas = True

    def flushed(self, dbid: int) -> None:
        """FLUSHDB (``dbid``) / FLUSHALL (-1), after the flush."""
        for i in (list(self.dbs) if dbid == -1 else (dbid,)):
            self._touch_all(i, None, None)
            for wk in self.dbs.get(i, {}).values():
                wk.present = False

    def swapped(self, a: int, b: int) -> None:
        """SWAPDB a b, after the swap: database a's old contents are now in b and b's in a."""
        if a == b:
            return
        dbs = self.srv.dbs
        self._touch_all(a, dbs[b], dbs[a])
        self._touch_all(b, dbs[a], dbs[b])
        for i in (a, b):
            for key, wk in self.dbs.get(i, {}).items():
                wk.present = _present(dbs[i], key)


def _watches(srv) -> Watches:
    w = getattr(srv, "watches", None)
    return w if w is not None else Watches(srv)


def discard_transaction(c) -> None:
    """discardTransaction (also the RESET hook): leave MULTI, clear both dirty marks, unwatch."""
    c.multi = None
    c.multi_error = False
    c.dirty_cas = False
    if c.watched:
        c.server.watches.unwatch_all(c)
    c.watched = None


def exec_abort(c, argv, msg: str) -> str:
    """execCommandAbort, for an EXEC the dispatcher refused: the transaction is discarded and
    the error becomes ``EXECABORT Transaction discarded because of: <error>``; the monitors
    see the EXEC. Returns the error text to send."""
    discard_transaction(c)
    srv = c.server
    if srv.monitors:
        srv.feed_monitors(c, argv if argv is not None else [b"EXEC"])
    if msg.startswith("ERR "):   # Redis's formatted rejections carry no error code here
        msg = msg[4:]
    return "EXECABORT Transaction discarded because of: " + msg


# -- commands -------------------------------------------------------------------------------------
@command("multi", 1, "noscript loading stale fast allow_busy", "transaction")
def multi(c, argv):
    if c.multi is not None:
        raise ErrorReply("ERR MULTI calls can not be nested")
    c.multi = []
    return OK


@command("discard", 1, "noscript loading stale fast allow_busy", "transaction")
def discard(c, argv):
    if c.multi is None:
        raise ErrorReply("ERR DISCARD without MULTI")
    discard_transaction(c)
    return OK


@command("watch", -2, "noscript loading stale fast allow_busy", "transaction", keys=(1, -1, 1))
def watch(c, argv):
    if c.multi is not None:
        raise ErrorReply("ERR WATCH inside MULTI is not allowed")
    if c.dirty_cas:   # already doomed: nothing to watch
        return OK
    w = _watches(c.server)
    for key in argv[1:]:
        w.watch(c, key)
    return OK


@command("unwatch", 1, "noscript loading stale fast allow_busy", "transaction")
def unwatch(c, argv):
    if c.watched:
        c.server.watches.unwatch_all(c)
    c.dirty_cas = False
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", "transaction")
def exec_(c, argv):
    queue = c.multi
    if queue is None:
        raise ErrorReply("ERR EXEC without MULTI")
    srv = c.server
    if c.watched and srv.watches.expired_since_watch(c):
        c.dirty_cas = True
    if c.dirty_cas or c.multi_error:
        reply = ErrorReply(EXECABORT) if c.multi_error else NULL_ARRAY
        discard_transaction(c)
        return reply
    if c.watched:
        srv.watches.unwatch_all(c)   # unwatch before running: the commands' own writes
    out = c.out
    # CLIENT REPLY OFF/SKIP suppress replies as they are produced (the header included);
    # the commands may change the mode (and HELLO the protocol) as they run.
    if c.reply_mode not in (1, 2):
        out.append(b"*%d\r\n" % len(queue))
    unfreeze = clock.frozen is None
    if unfreeze:
        clock.frozen = clock.ms()   # one time for the whole transaction
    c.in_exec = True
    srv.propagate_begin()
    try:
        for cmd, qargv in queue:
            closing = c.close_after_reply   # e.g. after a CLIENT KILL of itself: no output
            reply = c.call(cmd, qargv)
            mode = c.reply_mode
            if ((mode == 0 or mode == 3) and not (mode == 3 and cmd.fullname == "client|reply")
                    and not closing):
                c.encode(reply, out)
            if srv.monitors and not cmd.skip_monitor and not cmd.admin:
                srv.feed_monitors(c, qargv)
    finally:
        c.in_exec = False
        srv.propagate_end()
        if unfreeze:
            clock.frozen = None
        discard_transaction(c)
    return _NO_REPLY

