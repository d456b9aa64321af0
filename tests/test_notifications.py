"""Keyspace notifications, differentially: the same corpus of commands (every family of write
commands, blocking pops served by a push, read misses, expiry) runs on valkeyd and on
valkey-server with the same ``notify-keyspace-events`` flags, a subscriber on
``__key*@*__:*`` records what each command published, and the two event sequences (and the
replies) must be identical, command by command."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from harness import reply_or_error

PATTERN = "__key*@*__:*"
MARK = "__keyspace@0__:--sync--"

# Commands whose reply depends on hash order or randomness: only their events are compared.
UNORDERED = {"SPOP", "SMEMBERS", "HGETALL", "SRANDMEMBER", "SINTER", "SUNION", "SDIFF"}

CORPUS = [
    # strings
    ("SET", "s", "v"), ("SET", "s", "v2"), ("SET", "s", "x", "NX"), ("SET", "s", "y", "XX", "GET"),
    ("SET", "s2", "v", "EX", "100"), ("SET", "s2", "v", "KEEPTTL"), ("SET", "s3", "v", "PX", "0"),
    ("SETNX", "s", "z"), ("SETNX", "s4", "z"), ("SETEX", "s5", "100", "v"),
    ("PSETEX", "s6", "100000", "v"), ("GETSET", "s", "g"), ("GETSET", "s7", "g"),
    ("GETDEL", "s7"), ("GETDEL", "s7"), ("GETEX", "s", "EX", "100"), ("GETEX", "s", "PERSIST"),
    ("GETEX", "s", "PX", "0"), ("GETEX", "s"), ("APPEND", "a", "x"), ("APPEND", "a", "y"),
    ("INCR", "n"), ("INCRBY", "n", "5"), ("DECR", "n"), ("DECRBY", "n", "2"),
    ("INCRBYFLOAT", "f", "1.5"), ("INCR", "a"), ("SETRANGE", "r", "3", "abc"),
    ("SETRANGE", "r2", "0", ""), ("SETRANGE", "r", "0", ""), ("MSET", "m1", "1", "m2", "2"),
    ("MSETNX", "m3", "1", "m4", "2"), ("MSETNX", "m3", "1", "m5", "2"),
    ("SET", "s", "v", "GET"), ("SET", "nx", "v", "NX", "GET"),
    # keys
    ("DEL", "m1", "m2", "nothere"), ("UNLINK", "m3", "m4"), ("SET", "k", "1"),
    ("RENAME", "k", "k2"), ("RENAME", "k2", "k2"), ("SET", "k3", "1"), ("RENAMENX", "k2", "k3"),
    ("RENAMENX", "k2", "k4"), ("RENAME", "k4", "k3"), ("RENAME", "nothere", "x"),
    ("MOVE", "k3", "1"), ("SET", "k3", "2"), ("MOVE", "k3", "1"), ("COPY", "s", "cp"),
    ("COPY", "s", "cp"), ("COPY", "s", "cp", "REPLACE"), ("COPY", "s", "cp", "DB", "2"),
    ("EXPIRE", "s", "100"), ("PEXPIRE", "s", "100000"), ("EXPIREAT", "s", "9999999999"),
    ("PEXPIREAT", "s", "9999999999000"), ("EXPIRE", "s", "100", "NX"), ("EXPIRE", "s", "50", "GT"),
    ("EXPIRE", "s", "50", "LT"), ("PERSIST", "s"), ("PERSIST", "s"), ("EXPIRE", "nothere", "10"),
    ("EXPIRE", "cp", "-1"), ("SET", "cp", "1"), ("PEXPIREAT", "cp", "1"), ("SET", "cp", "1"),
    ("EXPIREAT", "cp", "1"), ("TOUCH", "s", "nothere"), ("SET", "d", "1"),
("SWAPDB", "0", "1"), ("SWAPDB", "0", "1"),
    # lists
    ("LPUSH", "l", "a", "b"), ("RPUSH", "l", "c"), ("LPUSHX", "l", "x"), ("LPUSHX", "lx", "x"),
    ("RPUSHX", "l", "y"), ("RPUSHX", "lx", "y"), ("LINSERT", "l", "BEFORE", "a", "i"),
    ("LINSERT", "l", "AFTER", "zz", "i"), ("LSET", "l", "0", "s"), ("LREM", "l", "0", "i"),
    ("LREM", "l", "0", "nothing"), ("LTRIM", "l", "0", "3"), ("LTRIM", "l", "0", "10"),
    ("LPOP", "l"), ("RPOP", "l"), ("LPOP", "l", "2"), ("RPOPLPUSH", "l", "l2"),
    ("RPOPLPUSH", "l", "l2"), ("RPUSH", "l", "1", "2", "3"), ("LMOVE", "l", "l2", "LEFT", "RIGHT"),
    ("LMOVE", "l", "l", "LEFT", "RIGHT"), ("LMPOP", "2", "nothere", "l", "LEFT", "COUNT", "5"),
    ("RPUSH", "l2", "p", "q", "r"), ("BLPOP", "l2", "0.01"), ("BRPOP", "l2", "0.01"),
    ("BLMOVE", "l2", "l3", "LEFT", "LEFT", "0.01"), ("BLMPOP", "0.01", "1", "l3", "RIGHT"),
    ("BLPOP", "l3", "0.01"), ("RPUSH", "lt", "a", "b"), ("LTRIM", "lt", "5", "10"),
    ("LPOS", "nothere", "a"),
    # hashes
    ("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "1"), ("HSETNX", "h", "a", "2"),
    ("HSETNX", "h", "c", "3"), ("HMSET", "h", "d", "4"), ("HDEL", "h", "zz"),
    ("HDEL", "h", "a", "b"), ("HINCRBY", "h", "n", "2"), ("HINCRBYFLOAT", "h", "f", "0.5"),
    ("HDEL", "h", "c", "d", "n", "f"), ("HINCRBY", "h2", "n", "1"),
    # sets
    ("SADD", "st", "a", "b", "c"), ("SADD", "st", "a"), ("SREM", "st", "zz"),
    ("SREM", "st", "a"), ("SMOVE", "st", "st2", "b"), ("SMOVE", "st", "st2", "zz"),
    ("SMOVE", "st", "st2", "c"), ("SADD", "sa", "1", "2", "3"), ("SADD", "sb", "2", "3", "4"),
    ("SINTERSTORE", "si", "sa", "sb"), ("SUNIONSTORE", "su", "sa", "sb"),
    ("SDIFFSTORE", "sd", "sa", "sb"), ("SINTERSTORE", "si", "sa", "nothere"),
    ("SDIFFSTORE", "nothere2", "nothere"), ("SPOP", "sd"), ("SPOP", "su", "10"),
    ("SADD", "sp", "x"), ("SPOP", "sp", "0"), ("SPOP", "nothere"), ("SMOVE", "sa", "sa", "1"),
    # sorted sets
    ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZADD", "z", "1", "a"),
    ("ZADD", "z", "INCR", "5", "a"), ("ZADD", "z", "NX", "1", "a"), ("ZADD", "z", "XX", "9", "b"),
    ("ZADD", "z", "GT", "CH", "1", "c"), ("ZINCRBY", "z", "1", "c"), ("ZREM", "z", "zz"),
    ("ZREM", "z", "c"), ("ZADD", "z", "0", "p", "0", "q", "0", "r"),
    ("ZREMRANGEBYSCORE", "z", "100", "200"), ("ZREMRANGEBYRANK", "z", "0", "0"),
    ("ZREMRANGEBYLEX", "z", "[q", "[q"), ("ZPOPMIN", "z"), ("ZPOPMAX", "z", "1"),
    ("ZADD", "z1", "1", "a", "2", "b"), ("ZADD", "z2", "1", "b", "2", "c"),
    ("ZUNIONSTORE", "zu", "2", "z1", "z2"), ("ZINTERSTORE", "zi", "2", "z1", "z2"),
    ("ZDIFFSTORE", "zd", "2", "z1", "z2"), ("ZINTERSTORE", "zi", "2", "z1", "nothere"),
    ("ZRANGESTORE", "zr", "z1", "0", "-1"), ("ZRANGESTORE", "zr", "nothere", "0", "-1"),
    ("ZMPOP", "1", "zu", "MIN", "COUNT", "10"), ("BZPOPMIN", "zd", "0.01"),
    ("BZPOPMAX", "z2", "0.01"), ("BZMPOP", "0.01", "1", "z2", "MAX"), ("BZPOPMIN", "zd", "0.01"), ("ZPOPMIN", "z1", "5"),
    # streams
    ("XADD", "x", "1-0", "f", "v"), ("XADD", "x", "2-0", "f", "v"),
    ("XADD", "x", "MAXLEN", "1", "3-0", "f", "v"), ("XADD", "xn", "NOMKSTREAM", "*", "f", "v"),
    ("XADD", "x", "4-0", "f", "v"), ("XTRIM", "x", "MAXLEN", "1"), ("XTRIM", "x", "MAXLEN", "1"),
    ("XDEL", "x", "4-0"), ("XDEL", "x", "9-0"), ("XADD", "x", "5-0", "f", "v"),
    ("XGROUP", "CREATE", "x", "g", "0"), ("XGROUP", "CREATE", "x", "g", "0"),
    ("XGROUP", "CREATE", "xm", "g", "$", "MKSTREAM"), ("XGROUP", "CREATECONSUMER", "x", "g", "c1"),
    ("XGROUP", "CREATECONSUMER", "x", "g", "c1"),
    ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "x", ">"), ("XACK", "x", "g", "5-0"),
    ("XADD", "x", "6-0", "f", "v"), ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "x", ">"),
    ("XCLAIM", "x", "g", "c3", "0", "6-0"), ("XAUTOCLAIM", "x", "g", "c4", "0", "0"),
    ("XGROUP", "SETID", "x", "g", "0"), ("XGROUP", "DELCONSUMER", "x", "g", "c1"),
    ("XGROUP", "DESTROY", "x", "g"), ("XGROUP", "DESTROY", "x", "g"), ("XSETID", "x", "10-0"),
    ("XADD", "x", "MINID", "20", "20-0", "f", "v"),
    # geo
    ("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("GEOADD", "geo", "NX", "13.361389", "38.115556", "Palermo"),
    ("GEOSEARCHSTORE", "gs", "geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"),
    ("GEOSEARCHSTORE", "gs", "geo", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"),
    ("GEORADIUS", "geo", "15", "37", "200", "km", "STORE", "gr"),
    ("GEORADIUS", "geo", "15", "37", "200", "km", "STOREDIST", "gr2"),
    ("GEOSEARCHSTORE", "gs", "geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km",
     "STOREDIST"),
    # hyperloglog
    ("PFADD", "hll", "a", "b"), ("PFADD", "hll", "a"), ("PFADD", "hll2"), ("PFADD", "hll2"),
    ("PFCOUNT", "hll"), ("PFMERGE", "hll3", "hll", "hll2"), ("PFMERGE", "hll4"),
    ("PFCOUNT", "hll", "hll2"),
    # bitmaps
    ("SETBIT", "b", "7", "1"), ("SETBIT", "b", "7", "1"), ("SETBIT", "b", "100", "0"),
    ("BITOP", "OR", "bo", "b", "nothere"), ("BITOP", "AND", "bo", "nothere", "nothere2"),
    ("BITOP", "NOT", "bn", "b"), ("BITFIELD", "bf", "SET", "u8", "0", "255"),
    ("BITFIELD", "bf", "INCRBY", "u8", "0", "1"), ("BITFIELD", "bf", "GET", "u8", "0"),
    ("BITFIELD_RO", "nothere", "GET", "u8", "0"), ("BITFIELD", "bf2", "GET", "u8", "0"),
    # sort
    ("RPUSH", "so", "3", "1", "2"), ("SORT", "so", "STORE", "sos"),
    ("SORT", "nothere", "STORE", "sos"), ("SORT", "so", "BY", "w_*", "GET", "o_*"),
    ("SORT", "so", "STORE", "sos2", "LIMIT", "5", "5"),
    # reads that miss (keymiss) and hit
    ("GET", "nothere"), ("GET", "s"), ("MGET", "s", "nothere", "nothere2"),
    ("EXISTS", "nothere", "s"), ("TYPE", "nothere"), ("TTL", "nothere"), ("PTTL", "nothere"),
    ("STRLEN", "nothere"), ("GETRANGE", "nothere", "0", "1"), ("HGET", "nothere", "f"),
    ("HGETALL", "nothere"), ("HLEN", "nothere"), ("HEXISTS", "nothere", "f"),
    ("LRANGE", "nothere", "0", "-1"), ("LLEN", "nothere"), ("LINDEX", "nothere", "0"),
    ("SMEMBERS", "nothere"), ("SCARD", "nothere"), ("SISMEMBER", "nothere", "a"),
    ("SINTER", "sa", "nothere"), ("SUNION", "nothere", "sa"), ("SDIFF", "nothere", "sa"),
    ("ZRANGE", "nothere", "0", "-1"), ("ZSCORE", "nothere", "a"), ("ZCARD", "nothere"),
    ("ZUNION", "2", "z1", "nothere"), ("ZRANK", "nothere", "a"), ("XLEN", "nothere"),
    ("XRANGE", "nothere", "-", "+"), ("XREAD", "STREAMS", "nothere", "0"),
    ("XINFO", "STREAM", "nothere"), ("PFCOUNT", "nothere"), ("BITCOUNT", "nothere"),
    ("GETBIT", "nothere", "0"), ("BITPOS", "nothere", "1"), ("LCS", "nothere", "s"),
    ("GEOPOS", "nothere", "a"), ("GEODIST", "nothere", "a", "b"),
    ("OBJECT", "ENCODING", "nothere"), ("SRANDMEMBER", "nothere"), ("HRANDFIELD", "nothere"),
    ("ZRANDMEMBER", "nothere"), ("SORT_RO", "nothere"), ("TOUCH", "nothere"),
    ("SUBSTR", "nothere", "0", "1"), ("HSTRLEN", "nothere", "f"), ("HMGET", "nothere", "f"),
    ("ZMSCORE", "nothere", "a"), ("SMISMEMBER", "nothere", "a"), ("LPOS", "nothere", "a"),
    ("HKEYS", "nothere"), ("ZCOUNT", "nothere", "0", "1"), ("XPENDING", "nothere", "g"),
    ("GEOSEARCH", "nothere", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"),
    # more edges: errors fire nothing, other databases, TTL carried by RENAME/COPY
    ("LSET", "nothere", "0", "x"), ("LPUSH", "s", "x"), ("HSET", "s", "f", "v"), ("INCR", "h"),
    ("ZADD", "z1", "LT", "CH", "0", "a"), ("ZADD", "z1", "XX", "1", "zz"),
    ("ZUNIONSTORE", "zu", "1", "nothere"), ("ZINTERSTORE", "zu", "1", "nothere"),
    ("GEOADD", "geo", "XX", "CH", "13.5", "38.1", "Palermo"), ("PFMERGE", "hll", "hll3"),
    ("SINTERCARD", "2", "sa", "sb"), ("XGROUP", "CREATECONSUMER", "x", "nogroup", "c"),
    ("XADD", "x", "1-0", "f", "v"), ("SET", "t1", "v", "EX", "100"), ("RENAME", "t1", "t2"),
    ("COPY", "t2", "t3"), ("GETEX", "t3", "PXAT", "99999999999999"), ("SELECT", "3"),
    ("SET", "k", "v"), ("LPUSH", "l", "x"), ("MOVE", "k", "0"), ("SWAPDB", "3", "4"),
    ("SELECT", "4"), ("DEL", "l"), ("SELECT", "0"), ("MSET", "t2", "1", "t3", "2"),
    ("SETEX", "t2", "-1", "v"), ("INCRBYFLOAT", "t3", "abc"),
    # no events
    ("FLUSHDB", ), ("SET", "after", "1"), ("FLUSHALL", ),
]


class Recorder:
    """A client that runs commands and a pattern subscriber that records, per command, the
    messages it caused (up to a marker published after the command)."""

    def __init__(self, server, flags: str):
        self.c = server.client(2)
        self.c.flushall()
        self.c.config_set("notify-keyspace-events", flags)
        self.p = self.c.pubsub()
        self.p.psubscribe(PATTERN)
        m = self.p.get_message(timeout=5)
        assert m["type"] == "psubscribe"
        self.server = server

    def events(self):
        self.c.publish(MARK, "x")
        out = []
        while True:
            m = self.p.get_message(timeout=5)
            assert m is not None, ("no marker", out)
            if m["channel"] == MARK.encode():
                return out
            out.append((m["channel"], m["data"]))

    def run(self, cmd):
        reply = reply_or_error(self.c, *cmd)
        if cmd[0] in UNORDERED and isinstance(reply, list):
            reply = sorted(reply)
        return reply, self.events()

    def served(self, block_cmd, push_cmd):
        """``block_cmd`` in another connection blocks, then ``push_cmd`` serves it."""
        other = self.server.client(2)
        res = []
        t = threading.Thread(target=lambda: res.append(reply_or_error(other, *block_cmd)))
        t.start()
        deadline = time.time() + 5
        while int(self.c.info("clients")["blocked_clients"]) < 1:
            assert time.time() < deadline
            time.sleep(0.005)
        reply = reply_or_error(self.c, *push_cmd)
        t.join(5)
        other.close()
        return (reply, res), self.events()

    def close(self):
        try:
            self.c.config_set("notify-keyspace-events", "")
            self.c.flushall()
        finally:
            self.p.close()
            self.c.close()


def test_set_with_past_expiry_redis72(r):
    """Redis 7.2.4 (t_string.c setGenericCommand): SET with an expiry time already past stores
    the key and fires "set" then "expire" (the key is then gone at the next lookup). valkey 8
    deletes it at once without events, so this one is checked against Redis's source."""
    r.config_set("notify-keyspace-events", "KEA")
    p = r.pubsub()
    try:
        p.psubscribe("__keyevent@0__:*")
        assert p.get_message(timeout=5)["type"] == "psubscribe"
        assert r.execute_command("SET", "ex", "1", "EXAT", "1") is True
        got = [p.get_message(timeout=5) for _ in range(2)]
        assert [(m["channel"], m["data"]) for m in got] == [
            (b"__keyevent@0__:set", b"ex"), (b"__keyevent@0__:expire", b"ex")]
    finally:
        r.config_set("notify-keyspace-events", "")
        p.close()


@pytest.fixture
def recorders(server, ref, request):
    a, b = Recorder(server, request.param), Recorder(ref, request.param)
    yield a, b
    a.close()
    b.close()


FLAGS = ["KEA", "KEAnm", "KA", "EA", "Kgx", "E$lshz", "Kt", "Ez", "KEnm", "KEmg"]


@pytest.mark.parametrize("recorders", FLAGS, indirect=True)
def test_corpus_events_match_valkey(recorders):
    ours, theirs = recorders
    seen = 0
    for cmd in CORPUS:
        a = ours.run(cmd)
        b = theirs.run(cmd)
        assert a == b, (cmd, a, b)
        seen += len(a[1])
    assert seen > 10   # every flag set selects some of the corpus's events


SERVED = [
    (("BLPOP", "bl", "0"), ("RPUSH", "bl", "a", "b")),
    (("BLPOP", "bl", "0"), ("RPUSH", "bl", "a")),
    (("BRPOP", "bl", "0"), ("LPUSH", "bl", "a")),
    (("BLMOVE", "bl", "bl2", "LEFT", "RIGHT", "0"), ("RPUSH", "bl", "a", "b")),
    (("BRPOPLPUSH", "bl", "bl", "0"), ("LPUSH", "bl", "c")),
    (("BLMPOP", "0", "1", "bl3", "LEFT", "COUNT", "2"), ("RPUSH", "bl3", "a", "b", "c")),
    (("BZPOPMIN", "bz", "0"), ("ZADD", "bz", "1", "a")),
    (("BZPOPMAX", "bz", "0"), ("ZADD", "bz", "1", "a", "2", "b")),
    (("BZMPOP", "0", "1", "bz2", "MIN", "COUNT", "5"), ("ZADD", "bz2", "1", "a")),
    (("XREAD", "BLOCK", "0", "STREAMS", "bx", "$"), ("XADD", "bx", "1-0", "f", "v")),
]


@pytest.mark.parametrize("recorders", ["KEA", "KEAnm"], indirect=True)
def test_served_blocking_pops_events_match_valkey(recorders):
    ours, theirs = recorders
    for r in (ours, theirs):
        r.c.xgroup_create("bg", "g", "$", mkstream=True)
    served = SERVED + [(("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "bg", ">"),
                        ("XADD", "bg", "1-0", "f", "v"))]
    for i, (block_cmd, push_cmd) in enumerate(served):
        # fresh keys for each case, so that every block command really blocks
        keys = {"bl", "bl2", "bl3", "bz", "bz2", "bx"}
        block_cmd = tuple(f"{a}.{i}" if a in keys else a for a in block_cmd)
        push_cmd = tuple(f"{a}.{i}" if a in keys else a for a in push_cmd)
        a = ours.served(block_cmd, push_cmd)
        b = theirs.served(block_cmd, push_cmd)
        assert a == b, (block_cmd, push_cmd, a, b)
        assert a[1], (block_cmd, "no events")


@pytest.mark.parametrize("recorders", ["KEA", "Ex", "KEAm"], indirect=True)
def test_lazy_expiry_events_match_valkey(recorders):
    ours, theirs = recorders
    for r in (ours, theirs):
        r.c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        script = [("SET", "e1", "v", "PX", "1"), ("HSET", "e2", "f", "v"), ("PEXPIRE", "e2", "1"),
                  ("SET", "e3", "v", "PX", "1"), ("SET", "e4", "v", "PX", "1"),
                  ("RPUSH", "e5", "a"), ("PEXPIRE", "e5", "1")]
        for cmd in script:
            assert ours.run(cmd) == theirs.run(cmd), cmd
        time.sleep(0.02)
        for cmd in [("GET", "e1"), ("HGET", "e2", "f"), ("EXISTS", "e3"), ("SET", "e4", "new"),
                    ("LPUSH", "e5", "b"), ("GET", "e1")]:
            a, b = ours.run(cmd), theirs.run(cmd)
            assert a == b, (cmd, a, b)
    finally:
        for r in (ours, theirs):
            r.c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


@pytest.mark.parametrize("recorders", ["KEA"], indirect=True)
def test_active_expiry_event(recorders):
    """The active expire cycle (no command touches the key) publishes ``expired``."""
    for r in recorders:
        r.c.set("ae", "v", px=30)
        assert r.events() == [(b"__keyspace@0__:ae", b"set"), (b"__keyevent@0__:set", b"ae"),
                              (b"__keyspace@0__:ae", b"expire"),
                              (b"__keyevent@0__:expire", b"ae")]
        got = []
        deadline = time.time() + 5
        while len(got) < 2 and time.time() < deadline:
            m = r.p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                got.append((m["channel"], m["data"]))
        assert got == [(b"__keyspace@0__:ae", b"expired"), (b"__keyevent@0__:expired", b"ae")]
        assert r.c.exists("ae") == 0


def test_other_databases_and_flag_strings(server, ref):
    """Events carry the database number; CONFIG GET shows the flags as Redis prints them."""
    for s in (server, ref):
        r = s.client(2)
        try:
            for flags, shown in (("KEA", "AKE"), ("gKE", "gKE"), ("Ag$lshzxetdKE", "AKE"),
                                 ("EnmK", "nKEm"), ("", "")):
                r.config_set("notify-keyspace-events", flags)
                assert r.config_get("notify-keyspace-events")["notify-keyspace-events"] == shown
            with pytest.raises(redis.ResponseError, match="Invalid event class character"):
                r.config_set("notify-keyspace-events", "KEZ")
            r.config_set("notify-keyspace-events", "KEA")
            p = r.pubsub()
            p.psubscribe("__key*@*__:*")
            p.get_message(timeout=5)
            r.execute_command("SELECT", "5")
            r.execute_command("SET", "kk", "v")
            msgs = []
            while len(msgs) < 2:
                m = p.get_message(timeout=5)
                assert m is not None
                msgs.append((m["channel"], m["data"]))
            assert msgs == [(b"__keyspace@5__:kk", b"set"), (b"__keyevent@5__:set", b"kk")]
            r.execute_command("FLUSHDB")
            p.close()
        finally:
            r.config_set("notify-keyspace-events", "")
            r.close()
