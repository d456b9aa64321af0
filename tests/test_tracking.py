"""Client-side caching (CLIENT TRACKING) against valkey-server, byte for byte.

Each scenario runs on valkeyd and on a real valkey-server 8.0 with raw RESP connections
(:class:`harness.RawClient`); the transcripts (replies and invalidation messages, in the order
they came over each connection) must be equal. Client ids differ between the two servers, so
a scenario writes ids through ``rec.ids()``, which replaces each client's id by its index.
Pending messages are collected with :meth:`Conn.drain` (a PING, then everything up to its
PONG), so nothing depends on timing.

Then redis-py: its RESP3 client-side cache, and the cache-aside pattern with invalidation.
"""
from __future__ import annotations

import time

import pytest
import redis

from harness import RawClient

PONG = (b"+PONG\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")


class Conn(RawClient):
    def __init__(self, port, proto=3):
        super().__init__(port, proto)
        self.sock.settimeout(10)
        self.id = int(self.cmd("CLIENT", "ID")[1:-2])

    def drain(self) -> list[bytes]:
        """Everything the server sent before the reply to a PING sent now."""
        self.send("PING")
        out = []
        while True:
            m = self.read()
            if m in PONG:
                return out
            out.append(m)


class Rec:
    """A transcript; ``ids`` maps each server's client ids to stable names."""

    def __init__(self):
        self.items: list = []
        self.conns: list = []

    def conn(self, port, proto=3) -> Conn:
        c = Conn(port, proto)
        self.conns.append(c)
        return c

    def __call__(self, *items):
        self.items.extend(items)

    def ids(self, b: bytes) -> bytes:
        for i, c in enumerate(self.conns):
            b = b.replace(b":%d\r\n" % c.id, b":<client%d>\r\n" % i)
            b = b.replace(b"=%d " % c.id, b"=<client%d> " % i)
        return b

    def close(self):
        for c in self.conns:
            c.close()


def both(server, ref, scenario):
    """Run ``scenario(rec, port)`` on valkeyd and on valkey-server; the transcripts must be
    equal. Returns valkeyd's."""
    outs = []
    for srv in (server, ref):
        rec = Rec()
        try:
            rec.conn(srv.port).cmd("FLUSHALL")
            scenario(rec, srv.port)
        finally:
            rec.close()
        outs.append(rec.items)
    ours, theirs = outs
    for i, (x, y) in enumerate(zip(ours, theirs)):
        assert x == y, f"step {i}: valkeyd {x!r} != valkey-server {y!r}"
    assert len(ours) == len(theirs)
    return ours


def wait_gone(conn: Conn, cid: int) -> None:
    """Until the server has noticed that client ``cid`` disconnected."""
    deadline = time.time() + 10
    while b"id=%d " % cid in conn.cmd("CLIENT", "LIST", "ID", str(cid)):
        assert time.time() < deadline
        time.sleep(0.02)


def inv(*keys) -> bytes:
    out = b">2\r\n$10\r\ninvalidate\r\n*%d\r\n" % len(keys)
    for k in keys:
        out += b"$%d\r\n%b\r\n" % (len(k), k)
    return out


# -- options and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("proto", [2, 3])
def test_option_errors(server, ref, proto):
    def scenario(rec, port):
        a = rec.conn(port, proto)
        other = rec.conn(port)
        rid = str(other.id)
        for args in (
            ("maybe",), ("on", "foo"), ("on", "REDIRECT"), ("on", "PREFIX"),
            ("on", "REDIRECT", "x"), ("on", "REDIRECT", "0"), ("on", "REDIRECT", "-1"),
            ("on", "REDIRECT", "99999999"), ("on", "REDIRECT", rid, "REDIRECT", rid),
            ("maybe", "REDIRECT", "99999999"), ("off", "REDIRECT", "99999999"),
            ("off", "foo"), ("on", "PREFIX", "a"), ("on", "BCAST", "OPTIN"),
            ("on", "BCAST", "OPTOUT"), ("on", "OPTIN", "OPTOUT"), ("on", "optin", "optout", "prefix", "x"),
            ("on", "BCAST", "PREFIX", "a", "PREFIX", "ab"),
            ("on", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
            ("on", "BCAST", "PREFIX", "a", "PREFIX", "a"),
            ("on", "BCAST", "PREFIX", "", "PREFIX", "a"),
        ):
            rec(a.cmd("CLIENT", "TRACKING", *args))
        rec(a.cmd("CLIENT", "GETREDIR"), a.cmd("CLIENT", "TRACKINGINFO"))
        for args in (("yes",), ("no",), ("maybe",)):
            rec(a.cmd("CLIENT", "CACHING", *args))
        # OPTIN / OPTOUT switching and CACHING
        rec(a.cmd("CLIENT", "TRACKING", "on", "OPTIN"))
        for args in (("on", "OPTOUT"), ("on", "BCAST"), ("on", "optin", "noloop")):
            rec(a.cmd("CLIENT", "TRACKING", *args))
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        for args in (("no",), ("maybe",), ("YES",)):
            rec(a.cmd("CLIENT", "CACHING", *args))
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "TRACKING", "on"))         # optin off again; caching stays
        rec(a.cmd("CLIENT", "TRACKINGINFO"), a.cmd("CLIENT", "CACHING", "yes"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "OPTOUT"))
        rec(a.cmd("CLIENT", "CACHING", "yes"), a.cmd("CLIENT", "CACHING", "no"))
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "OPTIN"))
        rec(a.cmd("CLIENT", "TRACKING", "off"), a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "CACHING", "yes"))
        # BCAST prefixes: overlaps with the existing ones, and switching mode
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b", "PREFIX", "a:"))
        for args in (("on", "BCAST", "PREFIX", "a:x"), ("on", "BCAST", "PREFIX", "a"),
                     ("on", "BCAST", "PREFIX", "b"), ("on",), ("on", "OPTIN"),
                     ("on", "BCAST", "PREFIX", "c", "NOLOOP"), ("on", "BCAST", "PREFIX", "c")):
            rec(a.cmd("CLIENT", "TRACKING", *args))
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST"))   # adds the empty prefix
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "z"))
        rec(a.cmd("CLIENT", "TRACKING", "off"), a.cmd("CLIENT", "TRACKINGINFO"))
        # A self-overlap between later prefixes: Redis replies the error, then enables
        # tracking anyway and replies +OK too.
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "a",
                  "PREFIX", "ab"), a.read())
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "TRACKING", "off"))
        # redirect
        rec(a.cmd("CLIENT", "TRACKING", "on", "REDIRECT", rid, "NOLOOP"))
        rec(rec.ids(a.cmd("CLIENT", "GETREDIR")), rec.ids(a.cmd("CLIENT", "TRACKINGINFO")))
        rec(a.cmd("CLIENT", "TRACKING", "on"))         # a new ON replaces the redirect
        rec(a.cmd("CLIENT", "GETREDIR"), a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "TRACKING", "off"))
        rec(a.cmd("CLIENT", "GETREDIR"))

    both(server, ref, scenario)


def test_nul_in_prefix_error(server, ref):
    def scenario(rec, port):
        a = rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a\0b", "PREFIX", "a\0c",
                  "PREFIX", "a"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a\r\nb"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a\r\nbc"))

    both(server, ref, scenario)


# -- default mode ---------------------------------------------------------------------------------
def test_default_mode_invalidations(server, ref):
    def scenario(rec, port):
        a, b = rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on"))
        rec(b.cmd("MSET", "k1", "1", "k2", "2", "k3", "3", "h", "x"))
        rec(a.cmd("GET", "k1"), a.cmd("MGET", "k2", "k3", "nokey"))
        rec(a.cmd("HGET", "h", "f"))                  # WRONGTYPE: the key is tracked anyway
        rec(a.cmd("STRLEN", "k9"), a.cmd("EXISTS", "k8", "k7"))
        rec(a.cmd("SET", "w", "1"), a.cmd("INCR", "w"))   # writes do not track
        rec(b.cmd("SET", "k1", "x"))
        rec(*a.drain())
        rec(b.cmd("SET", "k1", "y"))                  # no longer tracked: nothing
        rec(b.cmd("DEL", "k2", "k3", "k9"), b.cmd("SET", "w", "2"))
        rec(*a.drain())
        rec(b.cmd("RENAME", "h", "k8"), b.cmd("SET", "k7", "v"))
        rec(*a.drain())
        # the client's own writes: the invalidation follows the reply
        rec(a.cmd("GET", "k1"), a.cmd("SET", "k1", "z"), a.read())
        rec(a.cmd("GET", "k1"), a.cmd("APPEND", "k1", "z"), a.read())
        a.send("GET", "k1")
        a.send("DEL", "k1")
        a.send("GET", "k1")
        rec(a.read(), a.read(), a.read(), a.read())
        rec(b.cmd("SET", "k1", "1"))
        rec(*a.drain())
        rec(b.cmd("SET", "k1", "2"))
        rec(*a.drain())
        # two tracking clients on one key; a client that turned tracking off gets nothing
        c = rec.conn(port)
        rec(c.cmd("CLIENT", "TRACKING", "on"), c.cmd("GET", "shared"), a.cmd("GET", "shared"))
        rec(c.cmd("CLIENT", "TRACKING", "off"))
        rec(b.cmd("SET", "shared", "1"))
        rec(*a.drain(), *c.drain())
        rec(c.cmd("CLIENT", "TRACKING", "on"), c.cmd("SET", "shared", "2"), *c.drain())

    both(server, ref, scenario)


def test_other_readonly_commands(server, ref):
    def scenario(rec, port):
        a, b = rec.conn(port), rec.conn(port)
        rec(b.cmd("RPUSH", "l", "1", "2"), b.cmd("SADD", "s", "m"), b.cmd("ZADD", "z", "1", "m"))
        rec(b.cmd("HSET", "h", "f", "v"), b.cmd("SET", "str", "abc"))
        rec(a.cmd("CLIENT", "TRACKING", "on"))
        rec(a.cmd("LRANGE", "l", "0", "-1"), a.cmd("SMEMBERS", "s"), a.cmd("ZSCORE", "z", "m"))
        rec(a.cmd("HGETALL", "h"), a.cmd("GETRANGE", "str", "0", "1"), a.cmd("TYPE", "l"))
        rec(a.cmd("SINTER", "s", "s2"), a.cmd("ZUNION", "2", "z", "z2"))
        # malformed key counts: the command fails, and which keys count is Redis's
        for args in (("ZUNION", "x", "z"), ("ZUNION", "5", "z", "z3"), ("ZINTERCARD", "-1", "z"),
                     ("ZUNION", "1x", "z3"), ("XREAD", "STREAMS", "x3", "x4", "0", "0", "0"),
                     ("ZDIFF", "0", "z"), ("XREAD", "STREAMS", "x1"),
                     ("XREAD", "COUNT", "x", "STREAMS", "x2", "0"),
                     ("XREAD", "STREAMS", "x3", "x4", "0"), ("SORT_RO", "x5", "BY"),
                     ("SORT_RO", "x6", "LIMIT", "0"), ("MGET", "x7", "x7"),
                     ("GEORADIUS_RO", "x8", "0", "0", "1", "km", "STORE", "x9"),
                     ("LCS", "x10", "x11", "nonsense")):
            rec(a.cmd(*args))
        rec(b.cmd("MSET", "z", "1", "z3", "1", "x1", "1", "x2", "1", "x3", "1", "x4", "1", "x5",
                  "1", "x6", "1", "x7", "1", "x8", "1", "x9", "1", "x10", "1", "x11", "1"))
        rec(*a.drain())
        rec(b.cmd("DEL", "z"), b.cmd("ZADD", "z", "1", "m"))
        for args in (("LPUSH", "l", "0"), ("SADD", "s", "n"), ("ZINCRBY", "z", "1", "m"),
                     ("HDEL", "h", "f"), ("SETRANGE", "str", "0", "x"), ("SADD", "s2", "x"),
                     ("ZADD", "z2", "1", "x"), ("EXPIRE", "l", "100"), ("PERSIST", "l")):
            rec(b.cmd(*args))
            rec(*a.drain())

    both(server, ref, scenario)


def test_noloop(server, ref):
    def scenario(rec, port):
        a, b = rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "NOLOOP"))
        rec(a.cmd("GET", "k"), a.cmd("SET", "k", "1"), *a.drain())
        rec(a.cmd("GET", "k"), b.cmd("SET", "k", "2"), *a.drain())
        rec(a.cmd("GET", "k"), a.cmd("DEL", "k"), b.cmd("SET", "k", "3"), *a.drain())

    both(server, ref, scenario)


def test_optin_optout(server, ref):
    def scenario(rec, port):
        a, b = rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "OPTIN"))
        rec(a.cmd("GET", "k1"), b.cmd("SET", "k1", "1"), *a.drain())      # not tracked
        rec(a.cmd("CLIENT", "CACHING", "yes"), a.cmd("CLIENT", "TRACKINGINFO"))
        rec(a.cmd("CLIENT", "ID") != b"", a.cmd("GET", "k1"), a.cmd("GET", "k2"))
        rec(a.cmd("CLIENT", "TRACKINGINFO"))
        rec(b.cmd("MSET", "k1", "2", "k2", "2"), *a.drain())   # only k1 (CACHING lasts one command)
        rec(a.cmd("CLIENT", "CACHING", "yes"), a.cmd("NOSUCHCOMMAND"), a.cmd("GET", "k1"))
        rec(b.cmd("SET", "k1", "3"), *a.drain())
        rec(a.cmd("CLIENT", "CACHING", "yes"), a.cmd("GET"), a.cmd("GET", "k1"))
        rec(b.cmd("SET", "k1", "4"), *a.drain())
        rec(a.cmd("CLIENT", "TRACKING", "off"), a.cmd("CLIENT", "TRACKING", "on", "OPTOUT"))
        rec(a.cmd("GET", "k1"), a.cmd("CLIENT", "CACHING", "no"), a.cmd("GET", "k2"))
        rec(a.cmd("CLIENT", "TRACKINGINFO"), a.cmd("GET", "k3"), a.cmd("CLIENT", "TRACKINGINFO"))
        rec(b.cmd("MSET", "k1", "5", "k2", "5", "k3", "5"), *a.drain())

    both(server, ref, scenario)


def test_expiry_invalidates(server, ref):
    def scenario(rec, port):
        a, b = rec.conn(port), rec.conn(port)
        rec(b.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0"))
        try:
            rec(a.cmd("CLIENT", "TRACKING", "on"))
            rec(b.cmd("SET", "k", "v", "PX", "30"), a.cmd("GET", "k"))
            time.sleep(0.1)
            rec(a.cmd("GET", "k"), a.read())          # lazy expiry during its own read
            rec(b.cmd("SET", "k2", "v", "PX", "30"), a.cmd("GET", "k2"))
            time.sleep(0.1)
            rec(b.cmd("EXISTS", "k2"), *a.drain())    # expired by another client's lookup
            # BCAST NOLOOP: its own write is left out, an expiry its read causes is not
            n = rec.conn(port)
            rec(n.cmd("CLIENT", "TRACKING", "on", "BCAST", "NOLOOP", "PREFIX", "e"))
            rec(n.cmd("SET", "e1", "v", "PX", "30"), n.cmd("SET", "e2", "v", "PX", "30"))
            time.sleep(0.1)
            rec(n.cmd("GET", "e1"), b.cmd("GET", "e2"), *n.drain())
        finally:
            b.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        rec(b.cmd("SET", "k3", "v", "PX", "30"), a.cmd("GET", "k3"))
        deadline = time.time() + 5
        while b.cmd("DBSIZE") != b":0\r\n" and time.time() < deadline:   # active expiry
            time.sleep(0.05)
        rec(*a.drain())

    both(server, ref, scenario)


# -- flushes --------------------------------------------------------------------------------------
def test_flush_null_invalidation(server, ref):
    def scenario(rec, port):
        a, b, c = rec.conn(port), rec.conn(port), rec.conn(port)
        d = rec.conn(port, 2)
        rec(a.cmd("CLIENT", "TRACKING", "on"), b.cmd("CLIENT", "TRACKING", "on", "BCAST"))
        rec(d.cmd("CLIENT", "TRACKING", "on"))   # RESP2 without redirect: nothing is sent
        rec(a.cmd("GET", "k"), c.cmd("FLUSHALL"), *a.drain(), *b.drain(), *d.drain())
        rec(c.cmd("FLUSHDB"), *a.drain(), *b.drain())
        rec(c.cmd("SELECT", "5"), c.cmd("FLUSHDB", "ASYNC"), *a.drain(), *b.drain())
        rec(a.cmd("FLUSHALL"), a.read(), *b.drain())   # its own flush: after the reply
        rec(c.cmd("SET", "k", "1"), *a.drain(), *b.drain())   # table emptied by the flush
        rec(c.cmd("SWAPDB", "0", "1"), *a.drain(), *b.drain())   # not a flush

    both(server, ref, scenario)


# -- BCAST ----------------------------------------------------------------------------------------
def test_bcast(server, ref):
    def scenario(rec, port):
        a, b, w = rec.conn(port), rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "cfg"))
        rec(b.cmd("CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"))
        rec(w.cmd("SET", "user:1", "x"), *a.drain(), *b.drain())
        rec(w.cmd("MSET", "user:3", "1", "other", "2", "user:2", "3", "cfgx", "4"))
        rec(*a.drain(), *b.drain())
        # a pipeline in one read: one message per prefix, keys in byte order, no duplicates
        w.sock.sendall(b"*3\r\n$3\r\nSET\r\n$6\r\nuser:9\r\n$1\r\n1\r\n"
                       b"*3\r\n$3\r\nSET\r\n$6\r\nuser:5\r\n$1\r\n1\r\n"
                       b"*2\r\n$3\r\nDEL\r\n$6\r\nuser:9\r\n"
                       b"*3\r\n$3\r\nSET\r\n$3\r\ncfg\r\n$1\r\n1\r\n")
        rec(w.read(), w.read(), w.read(), w.read())
        rec(*a.drain(), *b.drain())
        # NOLOOP: b's own writes are left out; a's are not
        rec(b.cmd("MSET", "b1", "1", "user:7", "1"), *a.drain(), *b.drain())
        rec(a.cmd("SET", "user:8", "1"), a.read(), *b.drain())
        # reads do not matter in BCAST mode, no-op writes do not signal
        rec(a.cmd("GET", "zzz"), w.cmd("SET", "zzz", "1"), *a.drain())
        rec(w.cmd("DEL", "nokey"), *a.drain(), *b.drain())
        rec(w.cmd("INFO", "stats").split(b"tracking_total_prefixes:")[1].split(b"\r\n")[0])
        rec(a.cmd("CLIENT", "TRACKING", "off"))
        rec(w.cmd("INFO", "stats").split(b"tracking_total_prefixes:")[1].split(b"\r\n")[0])

    both(server, ref, scenario)


# -- redirect -------------------------------------------------------------------------------------
def test_redirect_resp3(server, ref):
    def scenario(rec, port):
        a, r, w = rec.conn(port, 2), rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "REDIRECT", str(r.id)))
        rec(a.cmd("GET", "k"), w.cmd("SET", "k", "1"), *r.drain(), *a.drain())
        rec(a.cmd("GET", "k"), a.cmd("SET", "k", "2"), *r.drain(), *a.drain())
        rec(a.cmd("FLUSHALL"), *r.drain())     # the null of the tracking client's protocol
        # the redirect client's own writes: their messages come after its reply
        rec(a.cmd("GET", "k"), r.cmd("SET", "k", "3"), r.read(), *a.drain())
        rec(a.cmd("GET", "k"), r.cmd("FLUSHDB"), r.read())
        b = rec.conn(port)
        rec(b.cmd("CLIENT", "TRACKING", "on", "REDIRECT", str(b.id), "BCAST"))
        rec(b.cmd("SET", "x", "1"), b.read(), r.cmd("SET", "y", "1"), *b.drain())
        rec(b.cmd("CLIENT", "TRACKING", "off"), b.cmd("CLIENT", "TRACKING", "on",
                                                      "REDIRECT", str(b.id)))
        rec(b.cmd("GET", "x"), b.cmd("SET", "x", "2"), b.read(), *b.drain())
        rec(rec.ids(a.cmd("CLIENT", "TRACKING", "on", "REDIRECT", str(b.id))))
        rec(a.cmd("GET", "z"), b.cmd("SET", "z", "1"), b.read(), *b.drain(), *r.drain())
        rec(rec.ids(w.cmd("CLIENT", "LIST", "ID", str(a.id))).split(b" ")[7:8])

    both(server, ref, scenario)


def test_broken_redirect(server, ref):
    def scenario(rec, port):
        a, r, w = rec.conn(port), rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "REDIRECT", str(r.id)))
        rec(a.cmd("GET", "k"), a.cmd("GET", "j"))
        r.close()
        rec.conns.remove(r)
        wait_gone(w, r.id)
        rec(a.cmd("CLIENT", "TRACKINGINFO").replace(b":%d\r\n" % r.id, b":<r>\r\n"))
        rec(w.cmd("SET", "k", "1"))
        rec(*[m.replace(b":%d\r\n" % r.id, b":<r>\r\n") for m in a.drain()])
        rec(a.cmd("CLIENT", "TRACKINGINFO").replace(b":%d\r\n" % r.id, b":<r>\r\n"))
        line = w.cmd("CLIENT", "LIST", "ID", str(a.id))
        rec(line.split(b" ")[7])     # flags=tR
        rec(w.cmd("SET", "j", "1"))
        rec(*[m.replace(b":%d\r\n" % r.id, b":<r>\r\n") for m in a.drain()])

    both(server, ref, scenario)


def test_redirect_resp2_pubsub(server, ref):
    def scenario(rec, port):
        a, r, w = rec.conn(port, 2), rec.conn(port, 2), rec.conn(port)
        rec(r.cmd("SUBSCRIBE", "__redis__:invalidate"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "REDIRECT", str(r.id)))
        rec(a.cmd("GET", "k"), a.cmd("MGET", "k", "j"), w.cmd("MSET", "k", "1", "j", "2"))
        rec(*r.drain())
        rec(a.cmd("FLUSHDB"), *r.drain())
        rec(r.cmd("UNSUBSCRIBE"))            # out of pub/sub mode: nothing is sent
        rec(a.cmd("GET", "k"), w.cmd("SET", "k", "1"))
        rec(r.cmd("SUBSCRIBE", "other"), a.cmd("GET", "k"), w.cmd("SET", "k", "2"))
        rec(*r.drain())                      # any subscription will do
        b = rec.conn(port, 3)                # a RESP3 tracking client, redirected to RESP2
        rec(b.cmd("CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", str(r.id)))
        rec(w.cmd("SET", "x", "1"), *r.drain())
        rec(w.cmd("FLUSHALL"), *r.drain())

    both(server, ref, scenario)


# -- transactions ---------------------------------------------------------------------------------
def test_tracking_in_multi(server, ref):
    def scenario(rec, port):
        a, b = rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on"))
        rec(a.cmd("MULTI"), a.cmd("GET", "k"), a.cmd("SET", "j", "1"), a.cmd("GET", "j"))
        rec(a.cmd("SET", "k", "1"), a.cmd("EXEC"), a.read())   # k and j: after EXEC's reply
        rec(b.cmd("SET", "j", "2"), *a.drain())
        rec(a.cmd("CLIENT", "TRACKING", "on", "OPTIN"))
        rec(a.cmd("CLIENT", "CACHING", "yes"), a.cmd("MULTI"), a.cmd("GET", "x"))
        rec(a.cmd("GET", "y"), a.cmd("EXEC"))   # CACHING YES covers the whole transaction
        rec(a.cmd("GET", "z"), b.cmd("MSET", "x", "1", "y", "1", "z", "1"), *a.drain())

    both(server, ref, scenario)


# -- scripts --------------------------------------------------------------------------------------
def test_tracking_in_scripts(server, ref):
    """The keys a script reads are remembered for its caller (not EVAL_RO's own keys: only
    what its commands read); in BCAST NOLOOP mode a script's writes are not the caller's."""
    def scenario(rec, port):
        a, w = rec.conn(port), rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on", "NOLOOP"))
        rec(a.cmd("EVAL", "return redis.call('get', KEYS[1])", "1", "k1"))
        rec(a.cmd("EVAL_RO", "return redis.call('mget', 'k2', 'k3')", "1", "k9"))
        rec(a.cmd("EVAL", "redis.call('get', 'k4'); return redis.call('set', 'k4', 'x')", "0"))
        rec(w.cmd("MSET", "k1", "1", "k2", "2", "k3", "3", "k4", "4", "k9", "9"), *a.drain())
        rec(a.cmd("CLIENT", "TRACKING", "off"))
        rec(a.cmd("CLIENT", "TRACKING", "on", "NOLOOP", "BCAST"))
        rec(a.cmd("EVAL", "return redis.call('set', 'k4', 'x')", "0"), a.cmd("SET", "k5", "1"))
        rec(*a.drain())

    both(server, ref, scenario)


# -- INFO, CLIENT LIST, RESET, table limit ----------------------------------------------------------
def _info(conn, field: str) -> int:
    text = conn.cmd("INFO", "everything")
    return int(text.split(field.encode() + b":")[1].split(b"\r\n")[0])


def test_info_and_client_list(server, ref):
    def scenario(rec, port):
        a, b, w = rec.conn(port), rec.conn(port), rec.conn(port)
        fields = ("tracking_clients", "tracking_total_keys", "tracking_total_items",
                  "tracking_total_prefixes")
        rec([_info(w, f) for f in fields])
        rec(a.cmd("CLIENT", "TRACKING", "on"), b.cmd("CLIENT", "TRACKING", "on"))
        rec(a.cmd("MGET", "a", "b", "c"), b.cmd("GET", "a"))
        rec([_info(w, f) for f in fields])
        rec(w.cmd("SET", "a", "1"), [_info(w, f) for f in fields])
        rec(b.cmd("CLIENT", "TRACKING", "off"), b.cmd("CLIENT", "TRACKING", "on", "BCAST",
                                                      "PREFIX", "p", "PREFIX", "q"))
        rec([_info(w, f) for f in fields])
        rec(w.cmd("CLIENT", "LIST", "ID", str(b.id)).split(b" ")[7])
        b.close()                              # a closed client's items stay (freed lazily)
        rec.conns.remove(b)
        wait_gone(w, b.id)
        rec([_info(w, f) for f in fields])
        rec(a.cmd("RESET"), a.cmd("CLIENT", "TRACKINGINFO"), [_info(w, f) for f in fields])
        rec(w.cmd("DEL", "b", "c"), [_info(w, f) for f in fields])

    both(server, ref, scenario)


def test_table_max_keys(server, ref):
    """Over tracking-table-max-keys, keys are dropped from the table with an invalidation
    (Redis picks them at random, valkeyd the oldest): only the count is compared."""
    for srv in (server, ref):
        a, w = Conn(srv.port), Conn(srv.port)
        try:
            w.cmd("FLUSHALL")
            assert w.cmd("CONFIG", "SET", "tracking-table-max-keys", "2") == b"+OK\r\n"
            a.cmd("CLIENT", "TRACKING", "on")
            a.cmd("MGET", "k1", "k2", "k3", "k4")
            msgs = a.drain()     # the limit applies before the next command
            assert len(msgs) == 2 and all(m.startswith(b">2\r\n$10\r\ninvalidate\r\n*1\r\n")
                                          for m in msgs), msgs
            assert _info(w, "tracking_total_keys") == 2
            dropped = {m.split(b"\r\n")[-2] for m in msgs}
            w.cmd("MSET", "k1", "1", "k2", "1", "k3", "1", "k4", "1")
            kept = {m.split(b"\r\n")[-2] for m in a.drain()}
            assert dropped | kept == {b"k1", b"k2", b"k3", b"k4"} and not dropped & kept
        finally:
            w.cmd("CONFIG", "SET", "tracking-table-max-keys", "1000000")
            a.close()
            w.close()


def test_class_switch_is_undone():
    """Tracking clients and their redirect clients run as a subclass (zero cost for the
    others); OFF, RESET and a disconnect switch back."""
    from harness import inproc_client, inproc_server

    srv, _, _ = inproc_server()
    from valkeyd.client import Client
    a, b = inproc_client(srv), inproc_client(srv)
    for c in (a, b):
        c.id = srv.next_client_id
        srv.next_client_id += 1
        srv.clients[c.id] = c
    a.set_resp(3)
    a.execute([b"CLIENT", b"TRACKING", b"on"])
    assert type(a) is not Client and isinstance(a, Client) and type(b) is Client
    assert srv.tracking.key_modified in srv.keyspace_hooks
    a.execute([b"GET", b"k"])
    a.flush()
    b.execute([b"SET", b"k", b"v"])
    assert a.transport.data[-1] == inv(b"k")
    a.execute([b"CLIENT", b"TRACKING", b"off"])
    assert type(a) is Client and srv.tracking.key_modified not in srv.keyspace_hooks
    a.execute([b"CLIENT", b"TRACKING", b"on"])
    a.execute([b"RESET"])
    assert type(a) is Client
    a.execute([b"CLIENT", b"TRACKING", b"on", b"REDIRECT", b"%d" % b.id])
    assert type(b) is not Client     # the redirect client too, while redirected to
    a.execute([b"CLIENT", b"TRACKING", b"on"])
    assert type(b) is Client
    a.execute([b"CLIENT", b"TRACKING", b"on", b"BCAST", b"REDIRECT", b"%d" % b.id])
    srv.unregister_client(a)
    assert type(a) is Client and type(b) is Client
    assert srv.tracking_clients == 0 and not srv.tracking.prefixes


# -- redis-py -------------------------------------------------------------------------------------
def _calls(r, cmd: str) -> int:
    return r.info("commandstats").get(f"cmdstat_{cmd}", {}).get("calls", 0)


def test_redis_py_client_side_cache(server, monkeypatch):
    """redis-py's own client-side cache (RESP3, CLIENT TRACKING on its connections): a cached
    GET is answered locally, and another client's SET invalidates it. redis-py 5.1+ enables
    the cache only for servers that report Redis 7.4 or later (a client-side policy: the
    tracking protocol is Redis 6's); valkeyd reports 7.2.4, so the check is lowered here."""
    from redis.cache import CacheConfig
    from redis.connection import CacheProxyConnection

    monkeypatch.setattr(CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.2.0")
    r = redis.Redis(port=server.port, protocol=3, cache_config=CacheConfig())
    other = server.client(2)
    try:
        other.set("csc:k", "v1")
        assert r.get("csc:k") == b"v1"
        before = _calls(other, "get")
        for _ in range(5):
            assert r.get("csc:k") == b"v1"           # served from the local cache
        assert _calls(other, "get") == before
        assert r.get_cache().size == 1
        other.set("csc:k", "v2")                     # invalidation push to r's connection
        deadline = time.time() + 5
        while r.get("csc:k") != b"v2":
            assert time.time() < deadline, "the cached value was never invalidated"
            time.sleep(0.01)
        assert _calls(other, "get") == before + 1
        other.flushall()                             # null invalidation: the cache is flushed
        assert r.get("csc:k") is None
    finally:
        r.close()
        other.close()


def test_cache_aside_with_invalidation_resp3(server):
    """The cache-aside pattern: a local dict in front of the server, kept fresh by tracking
    invalidations (RESP3 pushes on the data connection, read with redis-py's push handler)."""
    r = redis.Redis(port=server.port, protocol=3, single_connection_client=True)
    writer = server.client(2)
    local: dict = {}
    misses = []

    def on_invalidate(msg):
        keys = msg[1]
        if keys is None:
            local.clear()
        else:
            for k in keys:
                local.pop(k, None)

    conn = r.connection
    conn.connect()
    conn._parser.set_invalidation_push_handler(on_invalidate)
    r.execute_command("CLIENT", "TRACKING", "on")

    def cached_get(key: bytes):
        while conn.can_read():                       # apply pending invalidations first
            conn.read_response(push_request=True)
        if key not in local:
            misses.append(key)
            local[key] = r.get(key)
        return local[key]

    try:
        writer.mset({"user:1": "alice", "user:2": "bob"})
        assert cached_get(b"user:1") == b"alice" and cached_get(b"user:1") == b"alice"
        assert cached_get(b"user:2") == b"bob"
        assert misses == [b"user:1", b"user:2"]
        writer.set("user:1", "carol")
        time.sleep(0.05)
        assert cached_get(b"user:1") == b"carol" and cached_get(b"user:2") == b"bob"
        assert misses == [b"user:1", b"user:2", b"user:1"]
        writer.flushdb()
        time.sleep(0.05)
        assert cached_get(b"user:2") is None and local == {b"user:2": None}
    finally:
        r.close()
        writer.close()


def test_cache_aside_with_redirect_resp2(server):
    """The RESP2 form: invalidations redirected to a pub/sub connection subscribed to
    __redis__:invalidate (redis-py's public API only)."""
    data = redis.Redis(port=server.port, single_connection_client=True)
    writer = server.client(2)
    ps = writer.pubsub()
    local: dict = {}
    try:
        ps.subscribe("__redis__:invalidate")
        assert ps.get_message(timeout=5)["type"] == "subscribe"
        subs = [c for c in writer.client_list(_type="pubsub") if c["cmd"] == "subscribe"]
        assert len(subs) == 1, subs
        inv_id = int(subs[0]["id"])
        data.client_tracking_on(clientid=inv_id)

        def drain():
            while True:
                m = ps.get_message(timeout=0.2)
                if m is None:
                    return
                if m["type"] == "message":
                    for k in m["data"] or ():
                        local.pop(k, None)

        def cached_get(key):
            drain()
            if key not in local:
                local[key] = data.get(key)
            return local[key]

        writer.set("acct:1", "10")
        assert cached_get(b"acct:1") == b"10"
        writer.set("acct:1", "20")
        assert cached_get(b"acct:1") == b"20"
    finally:
        ps.close()
        data.close()
        writer.close()


def test_tracking_and_resp3_subscription_together(server, ref):
    """A RESP3 client that tracks keys and is subscribed gets the messages its own commands
    cause after their replies, before and after tracking is turned off (its pub/sub and
    tracking states are independent)."""
    def scenario(rec, port):
        a = rec.conn(port)
        rec(a.cmd("CLIENT", "TRACKING", "on"), a.cmd("SUBSCRIBE", "ch"))
        rec(a.cmd("GET", "k"), a.cmd("SET", "k", "1"), a.read())     # reply, then invalidation
        rec(a.cmd("PUBLISH", "ch", "m1"), a.read())                   # :1, then the message
        rec(a.cmd("CLIENT", "TRACKING", "off"))
        rec(a.cmd("PUBLISH", "ch", "m2"), a.read())
        rec(a.cmd("CLIENT", "TRACKING", "on"), a.cmd("UNSUBSCRIBE", "ch"))
        rec(a.cmd("SUBSCRIBE", "ch2"), a.cmd("CLIENT", "TRACKING", "off"))
        rec(a.cmd("PUBLISH", "ch2", "m3"), a.read())

    both(server, ref, scenario)
