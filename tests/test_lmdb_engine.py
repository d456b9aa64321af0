"""The LMDB engine through a real ``valkeyd serve --engine lmdb`` process (engines/lmdb.py).

Strings and keys commands (compared with valkey-server where the reply is deterministic),
persistence across restarts (clean stop, ``kill -9`` at ``appendfsync always``), O(1) FLUSHALL
with the background sweep, expiry across a restart. Lists: commands against valkey-server, DUMP,
restart and BGSAVE, DEL of a big list swept by the cron. Sorted sets: commands against valkey-server, the
score index's order (-0.0, infinities, ties by member), restart, DEL of a big zset swept by the
cron, DUMP/RESTORE payloads. Hash fields, set members and sorted-set members of any length
(long ones are keyed by a prefix + SHA-256 name): against valkey-server, their order, expiry,
restart, BGSAVE and the sweep of their ``le`` records. Streams and consumer groups
(engines/lmdb_stream.py): a command script against valkey-server, DUMP payloads, restart,
BGSAVE into an RDB valkey-server loads, DEL of a big stream swept by the cron. Long keys,
function libraries across kill -9, ``lmdb-map-size``, volatile hash fields after a restart,
larger than RAM (in a memory cgroup).
"""
from __future__ import annotations

import os
import random
import signal
import socket
import tempfile
import threading
import time

import lmdb
import pytest
import redis

from harness import same_reply, start_valkey, start_valkeyd

LMDB_ERR = "the lmdb engine does not support {} values yet"


def start(workdir=None, *args):
    return start_valkeyd("--save", "", "--enable-debug-command", "yes", *args,
                         workdir=workdir, engine="lmdb")


@pytest.fixture(scope="module")
def lsrv():
    s = start()
    yield s
    s.stop()


@pytest.fixture
def lr(lsrv):
    c = lsrv.client()
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def lpair(lsrv, ref):
    a, b = lsrv.client(), ref.client()
    a.flushall()
    b.flushall()
    yield a, b
    a.close()
    b.close()


def records(workdir, dbname=b"meta"):
    """How many records the sub-database holds, read by another process (LMDB readers)."""
    env = lmdb.open(os.path.join(str(workdir), "valkeyd.lmdb"), readonly=True, max_dbs=16,
                    lock=True)
    try:
        db = env.open_db(dbname, create=False)
        with env.begin() as t:
            return t.stat(db)["entries"]
    finally:
        env.close()


def wait_for(pred, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


# -- commands, differential --------------------------------------------------------------------
STRING_SCRIPT = [
    ("SET", "a", "1"), ("GET", "a"), ("INCR", "a"), ("INCRBY", "a", "10"), ("DECR", "a"),
    ("INCRBYFLOAT", "a", "1.5"), ("GET", "a"), ("APPEND", "a", "xyz"), ("GET", "a"),
    ("STRLEN", "a"), ("SETRANGE", "a", "1", "ZZ"), ("GET", "a"), ("SETRANGE", "b", "3", "q"),
    ("GET", "b"), ("GETRANGE", "b", "0", "-1"), ("APPEND", "new", "v"), ("APPEND", "new", "w"),
    ("GET", "new"), ("OBJECT", "ENCODING", "new"), ("SET", "n", "12"),
    ("OBJECT", "ENCODING", "n"), ("SET", "e", "x" * 44), ("OBJECT", "ENCODING", "e"),
    ("SET", "r", "x" * 45), ("OBJECT", "ENCODING", "r"), ("MSET", "m1", "1", "m2", "2"),
    ("MGET", "m1", "m2", "nokey"), ("MSETNX", "m1", "x", "m3", "y"), ("SETNX", "m3", "z"),
    ("GETSET", "m1", "g"), ("GETDEL", "m2"), ("EXISTS", "m1", "m2", "m1"),
    ("SET", "k", "v", "NX"), ("SET", "k", "w", "XX", "GET"), ("SET", "k", "v", "EX", "100"),
    ("TTL", "k"), ("GETEX", "k", "PERSIST"), ("TTL", "k"), ("GETEX", "k", "PX", "50000"),
    ("TTL", "k"), ("EXPIRE", "k", "100", "GT"), ("EXPIRE", "k", "10", "LT"), ("TTL", "k"),
    ("PERSIST", "k"), ("TTL", "k"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"),
    ("SET", "k", "v"), ("RENAME", "k", "k2"), ("EXISTS", "k"), ("GET", "k2"),
    ("RENAMENX", "k2", "m1"), ("RENAME", "nokey", "x"), ("TYPE", "k2"), ("TYPE", "nokey"),
    ("DEL", "k2", "m1", "nokey"), ("UNLINK", "m3", "a"), ("DBSIZE",), ("LCS", "b", "n"),
    ("SETBIT", "bits", "7", "1"), ("GETBIT", "bits", "7"), ("BITCOUNT", "bits"),
    ("SETBIT", "bits", "100", "1"), ("STRLEN", "bits"), ("GET", "bits"),
    ("COPY", "b", "b2"), ("GET", "b2"), ("SELECT", "1"), ("SET", "o", "1"), ("SWAPDB", "0", "1"),
    ("DBSIZE",), ("SELECT", "0"), ("DBSIZE",), ("GET", "o"), ("MOVE", "o", "1"),
    ("FLUSHDB",), ("DBSIZE",),
]


def test_strings_and_keys_match_reference(lsrv, ref):
    a, b = lsrv.client(), ref.client()
    try:
        a.flushall()
        b.flushall()
        for args in STRING_SCRIPT:
            if args[0] == "SELECT":
                a.execute_command(*args)
                b.execute_command(*args)
                continue
            same_reply(a, b, *args)
    finally:
        a.execute_command("SELECT", "0")
        a.close()
        b.close()


HASH_SCRIPT = [
    ("HSET", "h", "b", "1", "a", "2", "c", "3"), ("HGETALL", "h"), ("HSET", "h", "b", "9"),
    ("HKEYS", "h"), ("HVALS", "h"), ("HDEL", "h", "a", "zz"), ("HSET", "h", "a", "4"),
    ("HGETALL", "h"), ("HLEN", "h"), ("HEXISTS", "h", "a"), ("HMGET", "h", "a", "no", "c"),
    ("HINCRBY", "h", "b", "5"), ("HINCRBYFLOAT", "h", "b", "0.5"), ("HINCRBY", "h", "b", "1"),
    ("HSETNX", "h", "a", "x"), ("HSETNX", "h", "d", "x"), ("HSTRLEN", "h", "d"),
    ("OBJECT", "ENCODING", "h"), ("TYPE", "h"), ("HSET", "h", "long", "x" * 65),
    ("OBJECT", "ENCODING", "h"), ("HDEL", "h", "long"), ("OBJECT", "ENCODING", "h"),
    ("COPY", "h", "h2"), ("HGETALL", "h2"), ("RENAME", "h2", "h3"), ("HGETALL", "h3"),
    ("EXISTS", "h2"), ("MOVE", "h3", "2"), ("EXISTS", "h3"), ("GET", "h"), ("HGET", "nokey", "f"),
    ("SET", "s", "v"), ("HSET", "s", "f", "v"), ("EXPIRE", "h", "100"), ("TTL", "h"),
    ("HDEL", "h", "a", "b", "c", "d"), ("EXISTS", "h"), ("DBSIZE",),
    ("HSET", "big", *[x for i in range(200) for x in (f"f{i}", f"v{i}")]),
    ("OBJECT", "ENCODING", "big"), ("HLEN", "big"), ("HGET", "big", "f150"), ("DEL", "big"),
    ("DBSIZE",),
]


def test_hashes_match_reference(lpair):
    a, b = lpair
    for args in HASH_SCRIPT:
        same_reply(a, b, *args)
    a.execute_command("SELECT", "2")
    b.execute_command("SELECT", "2")
    same_reply(a, b, "HGETALL", "h3")
    a.flushall()
    b.flushall()


SET_SCRIPT = [
    ("SADD", "i", "3", "1", "2"), ("OBJECT", "ENCODING", "i"), ("SMEMBERS", "i"),
    ("SADD", "i", "x"), ("OBJECT", "ENCODING", "i"), ("SMEMBERS", "i"),
    ("SADD", "l", "b", "a", "c"), ("SMEMBERS", "l"), ("SREM", "l", "a", "zz"), ("SCARD", "l"),
    ("SISMEMBER", "l", "b"), ("SMISMEMBER", "l", "a", "b"), ("SADD", "l", "a"),
    ("SMEMBERS", "l"), ("SINTER", "i", "l"), ("SUNIONSTORE", "u", "i", "l"),
    ("OBJECT", "ENCODING", "u"), ("SCARD", "u"), ("SDIFFSTORE", "dd", "u", "l"),
    ("SMEMBERS", "dd"), ("SINTERCARD", "2", "u", "l"), ("SMOVE", "l", "m", "b"),
    ("SMEMBERS", "m"), ("SADD", "big", *[str(i) for i in range(600)]),
    ("OBJECT", "ENCODING", "big"), ("SCARD", "big"), ("SADD", "lp", *[f"m{i}" for i in range(129)]),
    ("OBJECT", "ENCODING", "lp"), ("COPY", "l", "l2"), ("SMEMBERS", "l2"), ("RENAME", "l2", "l3"),
    ("SMEMBERS", "l3"), ("TYPE", "l3"), ("SET", "s", "v"), ("SADD", "s", "x"),
    ("SPOP", "nokey"), ("SADD", "one", "x"), ("SPOP", "one"), ("EXISTS", "one"),
    ("DEL", "big", "lp"), ("DBSIZE",),
]


def test_sets_match_reference(lpair):
    a, b = lpair
    for args in SET_SCRIPT:
        same_reply(a, b, *args)


def test_set_random_pops_and_scan(lr):
    lr.sadd("s", *[f"m{i}" for i in range(1000)])
    cursor, seen = 0, set()
    while True:
        cursor, part = lr.sscan("s", cursor, count=40)
        seen.update(part)
        lr.sadd("s", *[f"new{cursor}:{i}" for i in range(30)])   # the iteration still ends
        if cursor == 0:
            break
    assert {f"m{i}".encode() for i in range(1000)} <= seen
    popped = lr.spop("s", 50)
    assert len(set(popped)) == 50 and not any(lr.smismember("s", popped))
    assert len(lr.srandmember("s", -20)) == 20 and len(set(lr.srandmember("s", 20))) == 20
    lr.sadd("ints", *range(10))
    assert sorted(map(int, lr.spop("ints", 9))) != [] and lr.scard("ints") == 1
    assert lr.object("encoding", "ints") == b"intset"


def test_hash_scan_and_randfield(lr):
    lr.hset("h", mapping={f"f{i}": i for i in range(1000)})
    assert lr.object("encoding", "h") == b"hashtable"
    seen = {}
    cursor = 0
    while True:
        cursor, part = lr.hscan("h", cursor, count=50)
        seen.update(part)
        if cursor == 0:
            break
    assert seen == {f"f{i}".encode(): str(i).encode() for i in range(1000)}
    r = lr.hrandfield("h", 5, withvalues=True)
    assert len(r) == 10 and all(lr.hget("h", r[i]) == r[i + 1] for i in range(0, 10, 2))


def test_hash_field_expiry(lr):
    lr.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert lr.execute_command("HPEXPIRE", "h", "150", "FIELDS", "1", "a") == [1]
    assert lr.execute_command("HEXPIRE", "h", "1000", "FIELDS", "1", "b") == [1]
    assert lr.object("encoding", "h") == b"hashtable"
    ttl = lr.execute_command("HTTL", "h", "FIELDS", "3", "a", "b", "c")
    assert ttl[0] in (0, 1) and 990 < ttl[1] <= 1000 and ttl[2] == -1
    assert lr.execute_command("HPERSIST", "h", "FIELDS", "1", "b") == [1]
    time.sleep(0.25)
    assert lr.hgetall("h") == {b"b": b"2", b"c": b"3"}
    assert lr.hlen("h") == 2


def test_wrongtype_and_unsupported_collections(lr):
    lr.set("s", "v")
    for cmd in (("HSET", "s", "f", "v"), ("LPUSH", "s", "x"), ("SADD", "s", "x"),
                ("ZADD", "s", "1", "x"), ("LLEN", "s"), ("HGET", "s", "f")):
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            lr.execute_command(*cmd)
    for cmd in (("XADD", "s", "*", "f", "v"), ("XLEN", "s"), ("XGROUP", "CREATE", "s", "g",
                                                              "$")):
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            lr.execute_command(*cmd)
    # reads of missing keys answer as for an empty key
    assert lr.llen("l") == 0 and lr.zcard("z") == 0 and lr.xlen("x") == 0
    assert lr.dbsize() == 1 and lr.keys("*") == [b"s"]


def test_scan_keys_randomkey(lr):
    keys = {f"key:{i}".encode() for i in range(3000)}
    p = lr.pipeline(transaction=False)
    for k in keys:
        p.set(k, "v")
    p.set("other", "x")
    p.execute()
    seen = set()
    cursor = 0
    calls = 0
    while True:
        cursor, batch = lr.scan(cursor, match="key:*", count=100)
        seen.update(batch)
        calls += 1
        if cursor == 0:
            break
    assert seen == keys and calls > 10
    assert set(lr.scan_iter(count=1000)) == keys | {b"other"}
    assert sorted(lr.keys("key:1?")) == sorted(f"key:1{i}".encode() for i in range(10))
    assert lr.randomkey() in keys | {b"other"}
    assert lr.dbsize() == 3001
    lr.flushdb()
    assert lr.randomkey() is None and lr.scan(0) == (0, [])


def test_info_keyspace_and_dbsize(lr):
    lr.set("a", "1")
    lr.set("b", "2", ex=100)
    lr.execute_command("SELECT", "3")
    lr.set("c", "3")
    lr.execute_command("SELECT", "0")
    ks = lr.info("keyspace")
    assert ks["db0"]["keys"] == 2 and ks["db0"]["expires"] == 1
    assert ks["db3"] == {"keys": 1, "expires": 0, "avg_ttl": 0}
    lr.swapdb(0, 3)
    ks = lr.info("keyspace")
    assert ks["db0"]["keys"] == 1 and ks["db3"]["keys"] == 2 and ks["db3"]["expires"] == 1
    assert lr.get("c") == b"3" and lr.get("a") is None


def test_multi_exec_and_object_idletime(lr):
    p = lr.pipeline(transaction=True)
    p.set("x", "1").incr("x").append("x", "0").get("x")
    assert p.execute() == [True, 2, 2, b"20"]
    lr.execute_command("DEBUG", "SLEEP", "0")
    assert lr.object("idletime", "x") == 0
    lr.config_set("maxmemory-policy", "allkeys-lfu")
    try:
        lr.set("f", "v")
        assert lr.object("freq", "f") == 5
    finally:
        lr.config_set("maxmemory-policy", "noeviction")


def test_expiry_active_and_lazy(lr):
    p = lr.pipeline(transaction=True)
    for i in range(200):
        p.set(f"t{i}", "v", px=1500)
    p.set("keep", "v", ex=1000)
    p.dbsize()
    assert p.execute()[-1] == 201
    # the active expire cycle walks the expiry index and reclaims them without any access
    assert wait_for(lambda: lr.dbsize() == 1, 10)
    assert lr.info("keyspace")["db0"]["expires"] == 1
    lr.set("lazy", "v", px=1)
    time.sleep(0.01)
    assert lr.get("lazy") is None


def test_debug_reload(lr):
    for i in range(100):
        lr.set(f"k{i}", f"v{i}")
    lr.setrange("k1", 0, "X")   # a bytearray value, changed in place
    lr.set("t", "v", ex=500)
    lr.hset("h", mapping={"b": "1", "a": "2"})
    lr.execute_command("HEXPIRE", "h", "1000", "FIELDS", "1", "a")
    _xfill(lr, "x", 250)
    lr.xdel("x", "7-1")
    lr.xgroup_create("x", "g", "0")
    lr.xreadgroup("g", "c", {"x": ">"}, count=3)
    before = (lr.xrange("x"), lr.xpending("x", "g"), lr.xinfo_stream("x"),
              lr.execute_command("DEBUG", "DIGEST-VALUE", "x"))
    assert lr.execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
    assert lr.get("k1") == b"X1" and lr.get("k99") == b"v99" and 0 < lr.ttl("t") <= 500
    assert lr.hgetall("h") == {b"b": b"1", b"a": b"2"}   # (RDB 11 has no field expiry)
    assert (lr.xrange("x"), lr.xpending("x", "g"), lr.xinfo_stream("x"),
            lr.execute_command("DEBUG", "DIGEST-VALUE", "x")) == before
    assert lr.dbsize() == 103


def test_bgsave_in_a_forked_child_sees_the_batch():
    """BGSAVE forks: the parent commits first, the child reads through its own read
    transaction. The file loads into a memory-engine server with the same data."""
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        p = c.pipeline(transaction=False)
        for i in range(2000):
            p.set(f"k{i}", i)
        p.execute()
        c.hset("h", mapping={"z": "1", "a": "2"})
        c.append("ap", "abc")
        # writes of the batch that runs BGSAVE (one pipeline) are in the file
        p = c.pipeline(transaction=False)
        p.set("late", "1").setrange("ap", 1, "X").bgsave()
        p.execute()
        dump = os.path.join(d, "dump.rdb")
        assert wait_for(lambda: os.path.exists(dump)
                        and c.info("persistence")["rdb_bgsave_in_progress"] == 0)
        assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        c.set("after", "1")   # the parent keeps writing after the child is gone
        assert c.get("after") == b"1"
        c.close()
    finally:
        s.stop()
    d2 = tempfile.mkdtemp(prefix="valkeyd-mem-")
    os.replace(os.path.join(d, "dump.rdb"), os.path.join(d2, "dump.rdb"))
    m = start_valkeyd("--save", "", workdir=d2, engine="memory")
    try:
        c = m.client()
        assert c.dbsize() == 2003
        assert c.get("k1999") == b"1999" and c.get("late") == b"1" and c.get("ap") == b"aXc"
        assert c.hgetall("h") == {b"z": b"1", b"a": b"2"} and c.get("after") is None
        c.close()
    finally:
        m.stop()


# -- persistence -------------------------------------------------------------------------------
def test_restart_keeps_everything():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.set("a", "1")
        c.incr("a")
        c.append("s", "hello")
        c.setrange("s", 0, "J")
        c.set("t", "v", ex=1000)
        c.hset("h", mapping={"z": "1", "y": "2", "x": "3"})
        c.hset("hv", mapping={"f": "1", "g": "2"})
        c.sadd("st", "b", "a", "c")
        c.sadd("si", 5, 3, 4)
        c.execute_command("HEXPIRE", "hv", "1000", "FIELDS", "1", "f")
        c.execute_command("SELECT", "5")
        c.set("in5", "x")
        p = c.pipeline(transaction=False)
        for i in range(5000):
            p.set(f"bulk:{i}", i)
        p.execute()
        c.close()
    finally:
        s.stop()
    s = start(d)
    try:
        c = s.client()
        # no load phase: the counts are right at once
        assert c.dbsize() == 7
        assert c.sscan("st", 0) == (0, [b"b", b"a", b"c"])   # listpack order survives
        assert c.sscan("si", 0) == (0, [b"3", b"4", b"5"])
        assert c.object("encoding", "si") == b"intset"
        assert c.hgetall("h") == {b"z": b"1", b"y": b"2", b"x": b"3"}
        assert list(c.hkeys("h")) == [b"z", b"y", b"x"], "listpack order survives"
        assert 990 < c.execute_command("HTTL", "hv", "FIELDS", "1", "f")[0] <= 1000
        assert c.object("encoding", "hv") == b"hashtable"
        assert c.get("a") == b"2" and c.get("s") == b"Jello" and 990 < c.ttl("t") <= 1000
        assert c.object("encoding", "s") == b"raw"
        c.execute_command("SELECT", "5")
        assert c.dbsize() == 5001 and c.get("bulk:4999") == b"4999"
        assert c.get("in5") == b"x"
        assert c.info("keyspace")["db0"] == {"keys": 7, "expires": 1,
                                             "avg_ttl": c.info("keyspace")["db0"]["avg_ttl"]}
        c.close()
    finally:
        s.stop()


LK, LM, LN, LN2 = "k" * 466, "m" * 467, "n" * 3000, "n" * 2999 + "x"
def test_expiry_across_restart():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.set("short", "v", px=300)
        c.set("long", "v", ex=100)
        c.set("plain", "v")
        c.hset("hf", mapping={"gone": "1", "stays": "2"})
        c.execute_command("HPEXPIRE", "hf", "300", "FIELDS", "1", "gone")
        c.close()
    finally:
        s.stop()
    time.sleep(0.5)
    s = start(d)
    try:
        c = s.client()
        assert c.get("short") is None
        assert 95 <= c.ttl("long") <= 100 and c.ttl("plain") == -1
        assert c.hgetall("hf") == {b"stays": b"2"} and c.hlen("hf") == 1
        assert wait_for(lambda: c.dbsize() == 3)
        assert c.info("keyspace")["db0"]["expires"] == 1
        c.close()
    finally:
        s.stop()


class _Writer(threading.Thread):
    """INCR ctr:w, SET u:w:i, RPUSH lst:w i and MULTI {INCR tx:w; SET txv:w:n} until the
    connection dies, remembering what was acknowledged."""

    def __init__(self, w, port, seed):
        super().__init__(daemon=True)
        self.w, self.port, self.rng = w, port, random.Random(seed)
        self.ctr = 0
        self.sets = []
        self.tx = 0
        self.pushed = 0
        self.xadded = 0
        self.inflight = None

    def run(self):
        w = self.w
        try:
            r = redis.Redis(port=self.port, socket_timeout=10)
            while True:
                op = self.rng.random()
                if op < 0.3:
                    self.inflight = "incr"
                    r.incr(f"ctr:{w}")
                    self.ctr += 1
                elif op < 0.45:
                    self.inflight = "rpush"
                    r.rpush(f"lst:{w}", self.pushed)
                    self.pushed += 1
                elif op < 0.55:
                    self.inflight = "xadd"
                    r.xadd(f"xs:{w}", {"n": self.xadded})
                    self.xadded += 1
                elif op < 0.8:
                    i = len(self.sets)
                    self.inflight = "set"
                    r.set(f"u:{w}:{i}", f"v{i}")
                    self.sets.append(i)
                else:
                    self.inflight = "tx"
                    p = r.pipeline(transaction=True)
                    p.incr(f"tx:{w}")
                    p.set(f"txv:{w}:{self.tx + 1}", "x")
                    p.execute()
                    self.tx += 1
                self.inflight = None
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return


def crash_rounds(rounds: int, seed: int, sabotage: bool = False) -> int:
    """Write, kill -9, restart, check, ``rounds`` times; returns the acknowledged writes
    found lost (duplicates and broken transactions fail at once)."""
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-crash-")
    rng = random.Random(seed)
    lost = 0
    if sabotage:
        os.environ["VALKEYD_LMDB_TEST_REPLY_BEFORE_COMMIT"] = "1"
    try:
        for rnd in range(rounds):
            s = start(d, "--appendfsync", "always")
            writers = [_Writer(w + 10 * rnd, s.port, rng.random()) for w in range(6)]
            for t in writers:
                t.start()
            time.sleep(rng.uniform(0.4, 1.0))
            os.kill(s.pid, signal.SIGKILL)
            s.proc.wait()
            for t in writers:
                t.join(15)
            s.stop()
            assert sum(t.ctr + len(t.sets) + t.tx + t.pushed + t.xadded for t in writers) > 0
            s = start(d, "--appendfsync", "always")
            try:
                c = s.client()
                for t in writers:
                    w = t.w
                    ctr = int(c.get(f"ctr:{w}") or 0)
                    assert ctr <= t.ctr + (t.inflight == "incr"), (w, ctr, t.ctr)
                    lost += max(0, t.ctr - ctr)
                    lost += sum(c.get(f"u:{w}:{i}") != f"v{i}".encode() for i in t.sets)
                    # the list holds 0, 1, 2, ... in order: every acknowledged RPUSH and at
                    # most the one in flight
                    items = [int(x) for x in c.lrange(f"lst:{w}", 0, -1)]
                    assert items == list(range(len(items))), (w, items[:10])
                    assert len(items) <= t.pushed + (t.inflight == "rpush")
                    lost += max(0, t.pushed - len(items))
                    # the stream likewise: 0, 1, 2, ... in ID order
                    xs = [int(f[b"n"]) for _, f in c.xrange(f"xs:{w}")]
                    assert xs == list(range(len(xs))), (w, xs[:10])
                    assert len(xs) <= t.xadded + (t.inflight == "xadd")
                    lost += max(0, t.xadded - len(xs))
                    tx = int(c.get(f"tx:{w}") or 0)
                    assert tx <= t.tx + (t.inflight == "tx")
                    lost += max(0, t.tx - tx)
                    # MULTI/EXEC is all or nothing: one txv key per counted transaction
                    assert len(c.keys(f"txv:{w}:*")) == tx
                c.close()
            finally:
                s.stop()
    finally:
        os.environ.pop("VALKEYD_LMDB_TEST_REPLY_BEFORE_COMMIT", None)
    return lost


def test_kill9_at_appendfsync_always_loses_no_acknowledged_write():
    assert crash_rounds(3, 1234) == 0


def test_kill9_negative_control_detects_replies_before_commit():
    """With replies sent before the commit (a test-only switch), the same check must see
    acknowledged writes lost: the harness can fail."""
    assert crash_rounds(2, 99, sabotage=True) > 0


def test_flushall_is_constant_time_and_swept():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        assert c.execute_command("DEBUG", "POPULATE", "30000") in (b"OK", "OK", True)
        c.set("x", "1", ex=1000)
        assert c.dbsize() == 30001
        assert records(d) >= 30001
        assert c.flushall() is True
        # the reply came before the records were deleted: FLUSHALL only dropped a mapping
        assert records(d) > 20000
        assert c.dbsize() == 0 and c.get("key:1") is None and c.keys("*") == []
        c.set("after", "1")
        # the cron sweep reclaims the old records in small steps; new keys are untouched
        assert wait_for(lambda: records(d) == 1 and records(d, b"str") == 1
                        and records(d, b"exp") == 0, 60)
        assert c.get("after") == b"1" and c.dbsize() == 1
        c.close()
    finally:
        s.stop()


def test_unknown_format_refused():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    env = lmdb.open(os.path.join(d, "valkeyd.lmdb"), max_dbs=16)
    info = env.open_db(b"info")
    with env.begin(write=True) as t:
        t.put(b"format", b"99", db=info)
    env.close()
    with pytest.raises(RuntimeError, match="Fatal error opening the lmdb engine: .*format 99"):
        start(d)


def test_engine_directive_in_config_file():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start_valkeyd("--save", "", workdir=d, config_text="engine lmdb\n", engine="")
    try:
        c = s.client()
        c.set("k", "v")
        assert c.config_get("engine") == {"engine": "lmdb"}
        assert "engine" not in c.config_get("*")
        c.close()
    finally:
        s.stop()
    assert os.path.exists(os.path.join(d, "valkeyd.lmdb", "data.mdb"))
    assert records(d) == 1


def test_del_of_a_big_hash_is_constant_time_and_swept():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        for j in range(5):
            c.hset("big", mapping={f"f{j}:{i}": i for i in range(2000)})
        c.hset("small", "f", "v")
        c.sadd("bigset", *range(3000))
        assert c.delete("bigset") == 1
        assert c.hlen("big") == 10000
        assert records(d, b"hf") == 10001
        assert c.delete("big") == 1
        # DEL dropped the metadata; the field records go in the cron's steps
        assert c.exists("big") == 0 and c.hlen("big") == 0
        assert wait_for(lambda: records(d, b"hf") == 1 and records(d, b"hs") == 1
                        and records(d, b"sm") == 0 and records(d, b"ss") == 0, 60)
        assert c.hgetall("small") == {b"f": b"v"}
        c.close()
    finally:
        s.stop()


def test_fork_child_reads_the_uncommitted_batch_through_its_own_transaction():
    """In-process: a fork in the middle of a batch (BGSAVE) commits first, and the child reads
    with a read transaction of its own (the parent's write transaction stays untouched)."""
    from engines.lmdb import LmdbEngine
    e = LmdbEngine(path=tempfile.mkdtemp(prefix="valkeyd-lmdb-"), databases=16)
    try:
        e.db(0).set(b"a", b"1")
        e.db(0).get_collection(b"h", "hash", create=True).set(b"f", b"v")
        assert e._txn is not None   # the batch is open
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:   # child
            try:
                got = sorted((d, k, v if isinstance(v, bytes) else dict(v.d), x)
                             for d, k, v, x in e.snapshot())
                os.write(w, repr((e._child, got)).encode())
            finally:
                os._exit(0)
        os.close(w)
        out = b""
        while chunk := os.read(r, 65536):
            out += chunk
        os.waitpid(pid, 0)
        assert out.decode() == repr((True, [(0, b"a", b"1", None),
                                            (0, b"h", {b"f": b"v"}, None)]))
        # the parent goes on writing in new transactions
        e.db(0).set(b"b", b"2")
        e.commit()
        assert e.db(0).size() == 3
    finally:
        e.close()


def test_dump_restore_roundtrip(lpair):
    """DUMP payloads of the lmdb engine's values equal valkey-server's, and RESTORE builds
    the records again."""
    a, b = lpair
    for c in (a, b):
        c.set("s", "hello")
        c.hset("h", mapping={"b": "1", "a": "2"})
        c.sadd("l", "x", "y")
        c.sadd("i", 3, 1, 2)
    for key in ("s", "h", "l", "i"):
        payload = a.dump(key)
        assert payload == b.dump(key), key
        assert a.restore(key + "2", 0, payload) in (True, b"OK")
    assert a.get("s2") == b"hello" and a.hgetall("h2") == {b"b": b"1", b"a": b"2"}
    assert a.sscan("l2", 0) == (0, [b"x", b"y"]) and a.sscan("i2", 0) == (0, [b"1", b"2", b"3"])
    assert a.object("encoding", "i2") == b"intset" and a.object("encoding", "h2") == b"listpack"


# -- sorted sets (engines/lmdb_zset.py) ----------------------------------------------------------
ZSET_SCRIPT = [
    ("ZADD", "z", "1", "b", "1", "a", "2", "c", "-0", "zero", "0", "pz", "-inf", "ninf",
     "+inf", "pinf", "1", "aa"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZSCORE", "z", "zero"), ("ZSCORE", "z", "pz"),
    ("ZSCORE", "z", "pinf"), ("ZSCORE", "z", "ninf"), ("ZMSCORE", "z", "a", "no", "ninf"),
    ("ZRANK", "z", "a"), ("ZREVRANK", "z", "a"), ("ZRANK", "z", "pinf", "WITHSCORE"),
    ("ZRANK", "z", "no"), ("ZCARD", "z"), ("OBJECT", "ENCODING", "z"),
    ("ZRANGEBYSCORE", "z", "(0", "+inf", "WITHSCORES"), ("ZRANGEBYSCORE", "z", "-inf", "(1"),
    ("ZRANGEBYSCORE", "z", "0", "0"), ("ZRANGEBYSCORE", "z", "-0", "0", "WITHSCORES"),
    ("ZRANGEBYSCORE", "z", "(-inf", "(+inf"), ("ZRANGEBYSCORE", "z", "(inf", "+inf"),
    ("ZRANGEBYSCORE", "z", "-inf", "(-inf"), ("ZRANGEBYSCORE", "z", "2", "1"),
    ("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "3"),
    ("ZREVRANGEBYSCORE", "z", "(1", "-inf", "WITHSCORES"),
    ("ZRANGE", "z", "12", "(1", "BYSCORE", "REV", "LIMIT", "0", "2"),
    ("ZRANGE", "z", "1", "1", "BYSCORE", "LIMIT", "1", "-1"),
    ("ZCOUNT", "z", "-inf", "+inf"), ("ZCOUNT", "z", "(1", "2"), ("ZCOUNT", "z", "0", "0"),
    ("ZCOUNT", "z", "(1", "(1"), ("ZINCRBY", "z", "10", "a"), ("ZINCRBY", "z", "-0.5", "c"),
    ("ZINCRBY", "z", "1", "pinf"), ("ZINCRBY", "z", "-inf", "pinf"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZREM", "z", "a", "nope"),
    ("ZADD", "z", "XX", "CH", "5", "b", "6", "newm"), ("ZADD", "z", "NX", "9", "b", "7", "n2"),
    ("ZADD", "z", "GT", "CH", "0", "b", "8", "c"), ("ZINCRBY", "z", "1.5", "b"),
    ("ZPOPMIN", "z"), ("ZPOPMAX", "z", "2"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    ("ZADD", "lex", "0", "d", "0", "a", "0", "f", "0", "c", "0", "b", "0", "e", "0", "aa"),
    ("ZRANGEBYLEX", "lex", "[b", "(e"), ("ZRANGEBYLEX", "lex", "(a", "[c"),
    ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "2", "3"),
    ("ZREVRANGEBYLEX", "lex", "+", "-", "LIMIT", "1", "2"), ("ZREVRANGEBYLEX", "lex", "(e", "[b"),
    ("ZREVRANGEBYLEX", "lex", "[zz", "(a"), ("ZLEXCOUNT", "lex", "-", "+"),
    ("ZLEXCOUNT", "lex", "(a", "(b"), ("ZLEXCOUNT", "lex", "[f", "[a"),
    ("ZRANGE", "lex", "[c", "+", "BYLEX"), ("ZRANGE", "lex", "+", "[c", "BYLEX", "REV"),
    ("ZREMRANGEBYLEX", "lex", "[a", "[b"), ("ZRANGE", "lex", "0", "-1"), ("ZSCAN", "lex", "0"),
    ("ZRANGEBYLEX", "z", "-", "+"), ("ZLEXCOUNT", "z", "[a", "[z"),
    ("ZREMRANGEBYSCORE", "z", "-inf", "(0"), ("ZREMRANGEBYRANK", "z", "0", "0"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    ("ZADD", "z", "1", "x" * 65), ("OBJECT", "ENCODING", "z"), ("ZREM", "z", "x" * 65),
    ("OBJECT", "ENCODING", "z"), ("ZADD", "z", "-0", "skipzero"), ("ZSCORE", "z", "skipzero"),
    ("ZINCRBY", "z", "-0", "skipzero"), ("ZRANGEBYSCORE", "z", "0", "0", "WITHSCORES"),
    ("ZADD", "big", *[x for i in range(200) for x in (str(i % 17), f"m{i:03d}")]),
    ("OBJECT", "ENCODING", "big"), ("ZCARD", "big"), ("ZRANGE", "big", "100", "105"),
    ("ZREVRANGE", "big", "3", "5", "WITHSCORES"), ("ZRANGE", "big", "-3", "-1"),
    ("ZRANK", "big", "m077"), ("ZREVRANK", "big", "m077"), ("ZRANK", "big", "m190"),
    ("ZRANGEBYSCORE", "big", "(15", "+inf", "WITHSCORES"), ("ZCOUNT", "big", "3", "(5"),
    ("ZREMRANGEBYRANK", "big", "10", "20"), ("ZREMRANGEBYRANK", "big", "-5", "-1"),
    ("ZCARD", "big"), ("ZREMRANGEBYSCORE", "big", "(10", "12"), ("ZCARD", "big"),
    ("ZRANGE", "big", "0", "-1", "WITHSCORES"),
    ("ZUNIONSTORE", "u", "2", "z", "lex", "WEIGHTS", "2", "1"), ("ZRANGE", "u", "0", "-1",
                                                                  "WITHSCORES"),
    ("OBJECT", "ENCODING", "u"), ("ZINTERSTORE", "i", "2", "big", "big"), ("ZCARD", "i"),
    ("OBJECT", "ENCODING", "i"), ("ZDIFF", "2", "lex", "z", "WITHSCORES"),
    ("ZINTER", "2", "z", "u", "WITHSCORES"),
    ("ZRANGESTORE", "dst", "big", "0", "5"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("COPY", "z", "z2"), ("ZRANGE", "z2", "0", "-1", "WITHSCORES"), ("RENAME", "z2", "z3"),
    ("ZRANGE", "z3", "0", "-1", "WITHSCORES"), ("EXISTS", "z2"), ("TYPE", "z3"),
    ("MOVE", "z3", "2"), ("EXISTS", "z3"), ("SET", "s", "v"), ("ZADD", "s", "1", "x"),
    ("ZSCORE", "s", "x"), ("ZADD", "one", "1", "x"), ("ZPOPMIN", "one"), ("EXISTS", "one"),
    ("ZREM", "lex", "aa", "c", "d", "e", "f"), ("EXISTS", "lex"),
    ("EXPIRE", "big", "100"), ("TTL", "big"),
    ("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("GEODIST", "g", "Palermo", "Catania", "km"), ("GEOPOS", "g", "Palermo"),
    ("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST"),
    ("DEL", "big", "u", "i"), ("DBSIZE",),
]


def test_zsets_match_reference(lpair):
    a, b = lpair
    for args in ZSET_SCRIPT:
        same_reply(a, b, *args)
    a.execute_command("SELECT", "2")
    b.execute_command("SELECT", "2")
    same_reply(a, b, "ZRANGE", "z3", "0", "-1", "WITHSCORES")
    a.flushall()
    b.flushall()


def test_zset_order_encoding_in_process():
    """The score index's key order is numeric order (flip the sign bit of a positive double,
    invert a negative one); -0.0 sorts with 0.0; ties go by member bytes."""
    from engines.lmdb import LmdbEngine
    from engines.lmdb_zset import ordkey
    vals = [-float("inf"), -1e308, -2.5, -1.0, -5e-324, 0.0, 5e-324, 1.0, 2.5, 1e308,
            float("inf")]
    keys = [ordkey(v) for v in vals]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert ordkey(-0.0) == ordkey(0.0)
    e = LmdbEngine(path=tempfile.mkdtemp(prefix="valkeyd-lmdb-"), databases=1)
    try:
        lp = e.db(0).get_collection(b"lp", "zset", create=True)
        lp.add(b"x", -0.0)
        assert str(lp.score(b"x")) == "0.0"   # a listpack stores -0.0 as the integer 0
        z = e.db(0).get_collection(b"z", "zset", create=True)
        z.init_encoding(1000, 0)
        assert z.encoding() == "skiplist"
        pairs = [(b"b", 0.0), (b"a", -0.0), (b"c", -0.0), (b"\xff", float("inf")),
                 (b"\x00", -float("inf")), (b"m", 1.5), (b"l", 1.5), (b"neg", -7.25)]
        random.shuffle(pairs)
        for m, s in pairs:
            z.add(m, s)
        got = list(z.items())
        assert [m for m, _ in got] == [b"\x00", b"neg", b"a", b"b", b"c", b"l", b"m", b"\xff"]
        assert str(z.score(b"a")) == "-0.0" and str(z.score(b"b")) == "0.0"
        assert z.by_score(0.0, False, 0.0, False) == [(b"a", -0.0), (b"b", 0.0), (b"c", -0.0)]
        assert z.by_score(-0.0, True, float("inf"), True) == [(b"l", 1.5), (b"m", 1.5)]
        assert z.rank(b"c") == 4 and z.rank(b"c", reverse=True) == 3
        e.commit()
        # snapshot() (AOF rewrite preamble) materializes the same pairs and encodings
        snap = {k: v for _, k, v, _ in e.snapshot()}
        assert list(snap[b"z"].items()) == got and snap[b"z"].encoding() == "skiplist"
        assert str(snap[b"z"].score(b"a")) == "-0.0"
        assert list(snap[b"lp"].items()) == [(b"x", 0.0)]
        assert snap[b"lp"].encoding() == "listpack"
    finally:
        e.close()


def test_zsets_survive_restart():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.zadd("small", {"b": 1, "a": 1, "nz": "-0", "inf": "inf", "ninf": "-inf", "x": 2.5})
        c.zadd("big", {f"m{i}": i % 7 for i in range(300)})
        c.zadd("big", {"negzero": "-0"})
        c.zadd("shrunk", {"y" * 70: 1, "k": 2})
        c.zrem("shrunk", "y" * 70)
        c.expire("small", 1000)
        before = {k: c.zrange(k, 0, -1, withscores=True, score_cast_func=bytes)
                  for k in ("small", "big", "shrunk")}
        c.close()
    finally:
        s.stop()
    s = start(d)
    try:
        c = s.client()
        for k, v in before.items():
            assert c.zrange(k, 0, -1, withscores=True, score_cast_func=bytes) == v, k
        # a listpack stores -0 as the integer 0 (zzlInsertAt); a skiplist keeps -0.0
        raw = dict(c.zrangebyscore("small", 0, 0, withscores=True, score_cast_func=bytes))
        assert raw == {b"nz": b"0"}
        raw = dict(c.zrangebyscore("big", 0, 0, withscores=True, score_cast_func=bytes))
        assert raw[b"negzero"] == b"-0" and raw[b"m0"] == b"0"
        assert c.zscore("small", "ninf") == float("-inf")
        assert c.zrangebyscore("small", "-inf", "(1") == [b"ninf", b"nz"]
        assert c.zrangebyscore("small", 1, 1) == [b"a", b"b"]
        assert c.object("encoding", "small") == b"listpack"
        assert c.object("encoding", "big") == b"skiplist"
        assert c.object("encoding", "shrunk") == b"skiplist"   # one-way
        model = sorted([(i % 7, f"m{i}") for i in range(300)] + [(0, "negzero")])
        for m in ("m6", "m0", "negzero", "m299", "m150"):
            i = [x for _, x in model].index(m)
            assert c.zrank("big", m) == i and c.zrevrank("big", m) == 300 - i, m
        assert c.zrange("big", 140, 142) == [m.encode() for _, m in model[140:143]]
        assert c.zcard("big") == 301 and 990 < c.ttl("small") <= 1000
        assert c.dbsize() == 3
        c.close()
    finally:
        s.stop()


def test_del_of_a_big_zset_is_constant_time_and_swept():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        for j in range(4):
            c.zadd("big", {f"m{j}:{i}": i for i in range(1500)})
        c.zadd("small", {"a": 1})
        assert c.zcard("big") == 6000
        assert records(d, b"zm") == 6001 and records(d, b"zs") == 6001
        assert c.delete("big") == 1
        assert c.exists("big") == 0 and c.zcard("big") == 0
        assert wait_for(lambda: records(d, b"zm") == 1 and records(d, b"zs") == 1, 60)
        assert c.zrange("small", 0, -1, withscores=True) == [(b"a", 1.0)]
        c.close()
    finally:
        s.stop()


def test_zset_del_only_queues_its_records():
    """In-process: DEL of a big zset touches the metadata only (its records are queued as
    garbage), and a sweep step reclaims them."""
    from engines.lmdb import LmdbEngine
    e = LmdbEngine(path=tempfile.mkdtemp(prefix="valkeyd-lmdb-"), databases=1)
    try:
        z = e.db(0).get_collection(b"z", "zset", create=True)
        for i in range(1000):
            z.add(b"m%d" % i, float(i))
        e.commit()
        assert e.db(0).delete(b"z") is True
        assert len(e.garbage) == 1
        with e.env.begin() as t:
            pass
        assert e.txn().stat(e.zs_db)["entries"] == 1000   # untouched by DEL
        while e.garbage:
            e.sweep_step(budget_s=1.0)
        assert e.txn().stat(e.zs_db)["entries"] == 0 and e.txn().stat(e.zm_db)["entries"] == 0
    finally:
        e.close()


def test_zset_dump_restore_and_reload(lpair):
    a, b = lpair
    for c in (a, b):
        c.zadd("lz", {"b": 1, "a": 1, "c": "-inf", "d": 2.5})
        c.zadd("sz", {f"m{i}": i / 3 for i in range(200)})
    for key in ("lz", "sz"):
        payload = a.dump(key)
        assert payload == b.dump(key), key
        assert a.restore(key + "2", 0, payload) in (True, b"OK")
        assert (a.zrange(key + "2", 0, -1, withscores=True)
                == b.zrange(key, 0, -1, withscores=True))
        assert a.object("encoding", key + "2") == b.object("encoding", key)
    before = a.zrange("sz", 0, -1, withscores=True)
    assert a.execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
    assert a.zrange("sz", 0, -1, withscores=True) == before
    assert a.zrange("lz", 0, -1) == [b"c", b"a", b"b", b"d"]
    assert a.object("encoding", "sz") == b"skiplist"


BIG = "v" * 300


LIST_SCRIPT = [
    ("RPUSH", "l", "a", "b", "c"), ("LPUSH", "l", "z", "y"), ("LRANGE", "l", "0", "-1"),
    ("OBJECT", "ENCODING", "l"), ("LLEN", "l"), ("LINDEX", "l", "0"), ("LINDEX", "l", "-1"),
    ("LINDEX", "l", "9"), ("LSET", "l", "1", "Z"), ("LSET", "l", "9", "q"),
    ("LINSERT", "l", "BEFORE", "b", "bb"), ("LINSERT", "l", "AFTER", "y", "yy"),
    ("LINSERT", "l", "AFTER", "nope", "x"), ("LRANGE", "l", "0", "-1"),
    ("RPUSH", "l", "a", "a", "b", "a"), ("LPOS", "l", "a"), ("LPOS", "l", "a", "RANK", "-1"),
    ("LPOS", "l", "a", "COUNT", "0"), ("LPOS", "l", "a", "RANK", "2", "MAXLEN", "5"),
    ("LREM", "l", "2", "a"), ("LREM", "l", "-1", "b"), ("LRANGE", "l", "0", "-1"),
    ("LREM", "l", "0", "a"), ("LRANGE", "l", "0", "-1"), ("LRANGE", "l", "-3", "100"),
    ("LTRIM", "l", "1", "-2"), ("LRANGE", "l", "0", "-1"), ("LPOP", "l"), ("RPOP", "l", "2"),
    ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("RPOPLPUSH", "l", "m"), ("LRANGE", "m", "0", "-1"),
    ("EXISTS", "l"), ("LMPOP", "2", "l", "m", "RIGHT", "COUNT", "5"), ("EXISTS", "m"),
    # quicklist: by size (8 KB nodes), then back to listpack when it shrinks
    ("RPUSH", "q", *[BIG] * 40), ("OBJECT", "ENCODING", "q"), ("LLEN", "q"),
    ("LINSERT", "q", "BEFORE", BIG, "head"), ("LINDEX", "q", "0"), ("LTRIM", "q", "0", "5"),
    ("OBJECT", "ENCODING", "q"), ("LRANGE", "q", "0", "1"),
    ("RPUSH", "n", *[str(i) for i in range(200)]), ("OBJECT", "ENCODING", "n"),
    ("CONFIG", "SET", "list-max-listpack-size", "3"), ("RPUSH", "k", "1", "2", "3", "4", "5",
                                                       "6", "7"),
    ("OBJECT", "ENCODING", "k"), ("LINSERT", "k", "AFTER", "2", "x"), ("LREM", "k", "0", "5"),
    ("LRANGE", "k", "0", "-1"), ("LPOP", "k", "4"), ("OBJECT", "ENCODING", "k"),
    ("RPOP", "k", "2"), ("OBJECT", "ENCODING", "k"),
    ("CONFIG", "SET", "list-max-listpack-size", "-2"),
    ("COPY", "n", "n2"), ("LRANGE", "n2", "195", "-1"), ("OBJECT", "ENCODING", "n2"),
    ("RENAME", "n2", "n3"), ("LLEN", "n3"), ("SORT", "n3", "DESC", "LIMIT", "0", "3", "STORE",
                                              "srt"),
    ("LRANGE", "srt", "0", "-1"), ("OBJECT", "ENCODING", "srt"), ("TYPE", "srt"),
    ("BLPOP", "n3", "0"), ("BRPOP", "n3", "0"), ("LLEN", "n3"), ("SET", "s", "v"),
    ("LPUSH", "s", "x"), ("LPUSHX", "nokey", "x"), ("RPUSHX", "n3", "end"),
    ("LINDEX", "n3", "-1"), ("MOVE", "n3", "3"), ("DEL", "q", "n"), ("DBSIZE",),
]


def test_lists_match_reference(lpair):
    a, b = lpair
    try:
        for args in LIST_SCRIPT:
            same_reply(a, b, *args)
        for c in (a, b):
            c.execute_command("SELECT", "3")
        same_reply(a, b, "LRANGE", "n3", "0", "-1")
        same_reply(a, b, "OBJECT", "ENCODING", "n3")
    finally:
        for c in (a, b):
            c.config_set("list-max-listpack-size", -2)
            c.flushall()


def test_list_dump_restore_matches_reference(lpair):
    a, b = lpair
    for c in (a, b):
        c.rpush("lp", "a", 1, 300, "x" * 70)
        c.rpush("ql", *[f"item:{i}:" + "p" * 40 for i in range(500)])
        c.config_set("list-compress-depth", 1)
        c.rpush("qz", *["z" * 50 for i in range(600)])
        c.config_set("list-compress-depth", 0)
    for key in ("lp", "ql", "qz"):
        payload = a.dump(key)
        assert payload == b.dump(key), key
        assert a.restore(key + "2", 0, payload) in (True, b"OK")
        assert a.lrange(key + "2", 0, -1) == b.lrange(key, 0, -1)
        assert a.object("encoding", key + "2") == b.object("encoding", key)
    a.flushall()
    b.flushall()


def test_lists_survive_restart_and_bgsave():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.rpush("l", "b", "c")
        c.lpush("l", "a")
        c.rpush("q", *[f"{i}:" + "x" * 100 for i in range(1000)])
        c.lpop("q", 10)
        c.linsert("q", "after", "500:" + "x" * 100, "mid")
        c.rpush("ttl", "x")
        c.expire("ttl", 1000)
        enc = c.object("encoding", "q")
        want = c.lrange("q", 0, -1)
        c.close()
    finally:
        s.stop()
    s = start(d)
    try:
        c = s.client()
        assert c.dbsize() == 3
        assert c.lrange("l", 0, -1) == [b"a", b"b", b"c"]
        assert c.object("encoding", "l") == b"listpack"
        assert enc == b"quicklist" and c.object("encoding", "q") == enc
        assert c.lrange("q", 0, -1) == want and c.llen("q") == 991
        assert c.lindex("q", 491) == b"mid" and 990 < c.ttl("ttl") <= 1000
        # LPUSH/RPUSH keep going at both ends after the restart
        c.lpush("l", "0")
        c.rpush("l", "d")
        assert c.lrange("l", 0, -1) == [b"0", b"a", b"b", b"c", b"d"]
        # BGSAVE (a forked child reading the environment) writes the lists into an RDB
        c.bgsave()
        assert wait_for(lambda: c.info("persistence")["rdb_bgsave_in_progress"] == 0
                        and c.lastsave() is not None, 30)
        assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        assert c.execute_command("DEBUG", "DIGEST-VALUE", "q") is not None
        c.close()
    finally:
        s.stop()
    rdb = os.path.join(d, "dump.rdb")
    assert os.path.exists(rdb)
    m = start_valkeyd("--save", "", "--dbfilename", "dump.rdb", workdir=d, engine="memory")
    try:
        c = m.client()
        assert c.lrange("q", 0, -1) == want and c.object("encoding", "q") == b"quicklist"
        assert c.lrange("l", 0, -1) == [b"0", b"a", b"b", b"c", b"d"]
        c.close()
    finally:
        m.stop()


def test_del_of_a_big_list_is_constant_time_and_swept():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        for j in range(20):
            c.rpush("big", *[f"{j}:{i}" for i in range(2000)])
        c.rpush("small", "x", "y")
        # items, and the headers plus the big list's quicklist node records
        assert records(d, b"li") == 40002 and records(d, b"lh") > 2
        assert c.delete("big") == 1
        # DEL dropped the metadata (the reply came before the items were deleted); the item
        # records go in the cron's steps
        assert records(d, b"li") > 20000
        assert c.exists("big") == 0 and c.llen("big") == 0
        assert wait_for(lambda: records(d, b"li") == 2 and records(d, b"lh") == 1, 60)
        assert c.lrange("small", 0, -1) == [b"x", b"y"]
        # a small list's records go with its DEL at once
        assert c.delete("small") == 1
        assert records(d, b"li") == 0 and records(d, b"lh") == 0
        c.close()
    finally:
        s.stop()


def test_list_module_reads_the_metadata_format_of_the_engine():
    """engines/lmdb_list.py keeps its own copy of the metadata struct (no import cycle)."""
    from engines import lmdb as lm, lmdb_list
    assert lmdb_list._META.format == lm.META.format
    from engines import lmdb_view
    assert lmdb_view._META.format == lm.META.format
    assert lmdb_list.F_QL not in (lm.F_EXPIRE, lm.F_RAW)


# -- streams and consumer groups (engines/lmdb_stream.py) ------------------------------------
def _xfill(c, key, n, start=1, fields=("f",)):
    p = c.pipeline(transaction=False)
    for i in range(start, start + n):
        p.execute_command("XADD", key, f"{i}-1", *fields, i)
    p.execute_command("XLEN", key)
    return p.execute()


STREAM_SCRIPT = [
    ("XADD", "x", "1-1", "a", "1", "b", "2"), ("XADD", "x", "1-*", "a", "3", "b", "4"),
    ("XADD", "x", "2-0", "other", "fields"), ("XADD", "x", "1-5", "late", "x"),
    ("XADD", "x", "0-0", "z", "z"), ("XADD", "x", "NOMKSTREAM", "3-0", "a", "5"),
    ("XADD", "nos", "NOMKSTREAM", "*", "a", "1"), ("EXISTS", "nos"),
    ("XLEN", "x"), ("XRANGE", "x", "-", "+"), ("XREVRANGE", "x", "+", "-", "COUNT", "2"),
    ("XRANGE", "x", "(1-1", "2"), ("XRANGE", "x", "1", "1"), ("XRANGE", "x", "-", "+", "COUNT",
                                                              "0"),
    ("XDEL", "x", "1-2", "9-9"), ("XRANGE", "x", "-", "+"), ("XDEL", "x", "1-1"),
    ("XINFO", "STREAM", "x"), ("XSETID", "x", "5-0", "ENTRIESADDED", "10", "MAXDELETEDID",
                               "4-0"),
    ("XINFO", "STREAM", "x"), ("XADD", "x", "5-0", "a", "1"), ("OBJECT", "ENCODING", "x"),
    ("TYPE", "x"),
    ("XADD", "t", "MAXLEN", "3", "1-0", "f", "1"),
    *[("XADD", "t", f"{i}-0", "f", str(i)) for i in range(2, 260)],
    ("XLEN", "t"), ("XTRIM", "t", "MAXLEN", "~", "100"), ("XLEN", "t"),
    ("XTRIM", "t", "MAXLEN", "=", "150", "LIMIT", "10"), ("XTRIM", "t", "MINID", "~", "200"),
    ("XLEN", "t"), ("XTRIM", "t", "MINID", "210"), ("XLEN", "t"), ("XRANGE", "t", "-", "+",
                                                                   "COUNT", "3"),
    ("XADD", "t", "MAXLEN", "~", "10", "LIMIT", "100", "300-0", "f", "v"), ("XLEN", "t"),
    ("XADD", "t", "MINID", "250", "301-0", "f", "v"), ("XRANGE", "t", "-", "(253"),
    ("XINFO", "STREAM", "t"), ("XINFO", "STREAM", "t", "FULL", "COUNT", "3"),
    ("XDEL", "t", "250-0", "251-0", "252-0"), ("XINFO", "STREAM", "t"),
    ("XREAD", "COUNT", "2", "STREAMS", "x", "t", "0", "255"),
    ("XREAD", "STREAMS", "x", "$"),
    # consumer groups
    ("XGROUP", "CREATE", "x", "g1", "0"), ("XGROUP", "CREATE", "x", "g1", "0"),
    ("XGROUP", "CREATE", "x", "g2", "$", "ENTRIESREAD", "3"),
    ("XGROUP", "CREATE", "new", "g", "$", "MKSTREAM"), ("XLEN", "new"), ("TYPE", "new"),
    ("XGROUP", "CREATECONSUMER", "x", "g1", "alice"), ("XGROUP", "CREATECONSUMER", "x", "g1",
                                                       "alice"),
    ("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "x", ">"),
    ("XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "x", ">"),
    ("XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "x", "0"),
    ("XREADGROUP", "GROUP", "g1", "carol", "NOACK", "STREAMS", "x", "0-0"),
    ("XPENDING", "x", "g1"), ("XPENDING", "x", "g2"),
    ("XACK", "x", "g1", "2-0", "9-9"), ("XPENDING", "x", "g1"),
    ("XCLAIM", "x", "g1", "carol", "0", "1-5", "3-0", "JUSTID"), ("XPENDING", "x", "g1"),
    ("XAUTOCLAIM", "x", "g1", "dave", "0", "0", "COUNT", "1", "JUSTID"),
    ("XAUTOCLAIM", "x", "g1", "dave", "0", "0", "JUSTID"),
    ("XDEL", "x", "3-0"), ("XAUTOCLAIM", "x", "g1", "erin", "0", "0"),
    ("XPENDING", "x", "g1"),
    ("XGROUP", "SETID", "x", "g2", "0", "ENTRIESREAD", "0"), ("XINFO", "GROUPS", "x"),
    ("XGROUP", "DELCONSUMER", "x", "g1", "dave"), ("XGROUP", "DELCONSUMER", "x", "g1", "nope"),
    ("XPENDING", "x", "g1"), ("XGROUP", "DESTROY", "x", "g2"), ("XGROUP", "DESTROY", "x", "g2"),
    ("XINFO", "GROUPS", "x"), ("XREADGROUP", "GROUP", "nog", "a", "STREAMS", "x", ">"),
    ("COPY", "x", "x2"), ("XRANGE", "x2", "-", "+"), ("XPENDING", "x2", "g1"),
    ("RENAME", "x2", "x3"), ("XINFO", "GROUPS", "x3"), ("MOVE", "x3", "1"), ("EXISTS", "x3"),
    ("XADD", "one", "1-0", "a", "b"), ("XDEL", "one", "1-0"), ("EXISTS", "one"), ("XLEN", "one"),
    ("XINFO", "STREAM", "one"), ("XADD", "one", "1-0", "a", "b"), ("XTRIM", "one", "MAXLEN", "0"),
    ("XINFO", "STREAM", "one"),
    ("SET", "str", "v"), ("XADD", "str", "*", "a", "b"), ("XRANGE", "str", "-", "+"),
    ("DEL", "x", "t"), ("DBSIZE",),
]


@pytest.mark.parametrize("proto", [2, 3])
def test_streams_match_reference(lsrv, ref, proto):
    """The script's exact reply bytes, RESP2 and RESP3."""
    from harness import RawClient, same_raw
    pair = RawClient(lsrv.port, proto), RawClient(ref.port, proto)
    for c in pair:
        c.cmd("FLUSHALL")
    for args in STREAM_SCRIPT:
        same_raw(pair, *args)
    for c in pair:
        c.cmd("SELECT", "1")
    same_raw(pair, "XRANGE", "x3", "-", "+")
    same_raw(pair, "XPENDING", "x3", "g1")
    for c in pair:
        c.cmd("FLUSHALL")


def test_stream_dump_payloads_match_reference(lpair):
    a, b = lpair
    for c in (a, b):
        # LZF output differs between valkeyd's compressor and valkey-server's for some
        # inputs (the memory engine's too): compare the uncompressed encoding
        c.config_set("rdbcompression", "no")
        c.config_set("stream-node-max-entries", 7)
        _xfill(c, "s", 40)
        c.execute_command("XADD", "s", "41-1", "other", "x", "and", "y")
        c.execute_command("XDEL", "s", "3-1", "8-1", "9-1", "10-1", "11-1", "12-1", "13-1",
                          "14-1")
        c.execute_command("XTRIM", "s", "MAXLEN", "30")
        c.execute_command("XGROUP", "CREATE", "s", "g", "0")
        c.execute_command("XGROUP", "CREATE", "s", "h", "$")
        c.execute_command("XREADGROUP", "GROUP", "g", "c1", "COUNT", "3", "STREAMS", "s", ">")
        c.execute_command("XREADGROUP", "GROUP", "g", "c2", "COUNT", "2", "STREAMS", "s", ">")
        c.xclaim("s", "g", "c3", 0, ["33-1"], time=1700000000000, retrycount=4, force=True,
                 justid=True)
        c.execute_command("XGROUP", "CREATECONSUMER", "s", "g", "idle")
        c.xadd("e", {"a": "b"}, id="5-5")
        c.xdel("e", "5-5")
        c.config_set("stream-node-max-entries", 100)
    # delivery and seen times differ between the servers: compare with equal times
    for c in (a, b):
        for cn in ("c1", "c2"):
            for p in c.xpending_range("s", "g", "-", "+", 10, cn):
                c.xclaim("s", "g", cn, 0, [p["message_id"]], time=1700000000001,
                         retrycount=p["times_delivered"], justid=True)
    pa, pb = a.dump("e"), b.dump("e")
    assert pa == pb
    ours = a.dump("s")
    theirs = b.dump("s")
    # the consumers' seen/active times are wall clock: RESTORE the reference's payload into
    # both servers and compare the DUMPs of that (every node, tombstone and PEL record)
    assert len(ours) == len(theirs)
    assert a.restore("r", 0, theirs) in (True, b"OK")
    b.restore("r", 0, theirs)
    assert a.dump("r") == b.dump("r") == theirs
    for cmd in (("XINFO", "STREAM", "r", "FULL"), ("XRANGE", "r", "-", "+"),
                ("XPENDING", "r", "g"), ("XINFO", "GROUPS", "r")):
        same_reply(a, b, *cmd)
    # ours restored by the reference reads the same as our own
    b.restore("ours", 0, ours)
    assert b.xrange("ours") == a.xrange("s")
    assert b.execute_command("XPENDING", "ours", "g") == a.execute_command("XPENDING", "s", "g")
    assert a.object("encoding", "r") == b"stream"
    for c in (a, b):
        c.config_set("rdbcompression", "yes")
    a.flushall()
    b.flushall()


def test_streams_survive_restart_and_bgsave():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d, "--stream-node-max-entries", "10")
    try:
        c = s.client()
        _xfill(c, "s", 100)
        c.xdel("s", "5-1", "50-1")
        c.xtrim("s", minid="20-1")
        c.xgroup_create("s", "g", "0")
        c.xreadgroup("g", "c1", {"s": ">"}, count=5)
        c.xreadgroup("g", "c2", {"s": ">"}, count=3)
        c.xack("s", "g", "21-1")
        c.xadd("ttl", {"a": "b"})
        c.expire("ttl", 1000)
        want = {"range": c.xrange("s"), "pending": c.xpending("s", "g"),
                "pel": c.xpending_range("s", "g", "-", "+", 100),
                "info": c.execute_command("XINFO", "STREAM", "s"),
                "groups": c.execute_command("XINFO", "GROUPS", "s"),
                "consumers": [x[b"name"] if isinstance(x, dict) else x[1]
                              for x in c.execute_command("XINFO", "CONSUMERS", "s", "g")]}
        c.close()
    finally:
        s.stop()
    s = start(d, "--stream-node-max-entries", "10")
    try:
        c = s.client()
        pel = c.xpending_range("s", "g", "-", "+", 100)
        assert c.xrange("s") == want["range"] and c.xpending("s", "g") == want["pending"]
        assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pel] == \
            [(p["message_id"], p["consumer"], p["times_delivered"]) for p in want["pel"]]
        assert c.execute_command("XINFO", "STREAM", "s") == want["info"]
        assert c.execute_command("XINFO", "GROUPS", "s") == want["groups"]
        assert 990 < c.ttl("ttl") <= 1000 and c.xlen("ttl") == 1
        # the stream keeps going: IDs after the restart continue from the stored last ID
        assert c.xadd("s", {"f": "new"}, id="200-*") == b"200-0"
        # ... and the group delivers from its stored last-delivered ID (8 read before)
        nxt = [i for i, _ in want["range"]][8]
        assert c.xreadgroup("g", "c1", {"s": ">"}, count=1)[0][1][0][0] == nxt
        c.bgsave()
        assert wait_for(lambda: c.info("persistence")["rdb_bgsave_in_progress"] == 0
                        and c.lastsave() is not None, 30)
        assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        want2 = {"range": c.xrange("s"), "pending": c.xpending("s", "g"),
                 "groups": c.execute_command("XINFO", "GROUPS", "s")}
        c.close()
    finally:
        s.stop()
    from harness import start_valkey
    ref = start_valkey(workdir=d)
    try:
        c = ref.client()
        assert c.xrange("s") == want2["range"] and c.xpending("s", "g") == want2["pending"]
        assert c.execute_command("XINFO", "GROUPS", "s") == want2["groups"]
        assert c.xlen("ttl") == 1
        c.close()
    finally:
        ref.stop()


def test_del_of_a_big_stream_is_constant_time_and_swept():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        for j in range(10):
            _xfill(c, "big", 1000, start=j * 1000 + 1)
        c.xgroup_create("big", "g", "0")
        c.xreadgroup("g", "c", {"big": ">"}, count=500)
        c.xadd("small", {"a": "b"}, id="1-1")
        n = records(d, b"xs")
        assert n > 10000 + 500
        assert c.delete("big") == 1
        assert c.exists("big") == 0 and c.xlen("big") == 0
        assert records(d, b"xs") > 10000   # DEL dropped the metadata only
        # the small stream's records: its entry, node and header
        assert wait_for(lambda: records(d, b"xs") == 3, 60)
        assert c.xrange("small") == [(b"1-1", {b"a": b"b"})]
        # a one-node stream without groups goes with its DEL at once
        assert c.delete("small") == 1 and records(d, b"xs") == 0
        c.xadd("small", {"a": "b"}, id="1-1")
        c.flushall()
        assert wait_for(lambda: records(d, b"xs") == 0, 60)
        c.close()
    finally:
        s.stop()


def test_xadd_cost_does_not_grow_with_the_stream():
    """In-process: an XADD touches a fixed number of records whatever the length (counted as
    LMDB page writes would be: the puts and deletes issued), never the whole stream."""
    from engines.lmdb import LmdbEngine
    e = LmdbEngine(path=tempfile.mkdtemp(prefix="valkeyd-lmdb-"), databases=1)
    try:
        s = e.db(0).get_collection(b"s", "stream", create=True)
        for i in range(1, 20001):
            s.append(i << 64, [b"f", b"v"])
        e.commit()
        calls = []

        class Spy:
            def __init__(self, t):
                self.t = t

            def put(self, k, v, **kw):
                calls.append(len(v))
                return self.t.put(k, v, **kw)

            def __getattr__(self, name):
                return getattr(self.t, name)

        real = e.txn()
        e._txn = Spy(real)
        s.append(20001 << 64, [b"f", b"v"])
        e._txn = real
        assert 0 < len(calls) <= 5 and max(calls) < 200
        assert len(s) == 20001 and s.last_entry() == (20001 << 64, [b"f", b"v"])
    finally:
        e.close()


def test_stream_names_too_long_for_an_lmdb_key_and_memory_usage(lr):
    lr.xadd("s", {"f": "v"}, id="1-1")
    with pytest.raises(redis.ResponseError, match="consumer group names longer than 490"):
        lr.xgroup_create("s", "g" * 600, "0")
    assert lr.xinfo_stream("s")["groups"] == 0
    with pytest.raises(redis.ResponseError, match="consumer group names longer than 490"):
        lr.xgroup_create("new", "g" * 600, "$", mkstream=True)
    assert lr.exists("new") == 0   # the stream MKSTREAM created is not left behind
    lr.xgroup_create("s", "g", "0")
    with pytest.raises(redis.ResponseError, match="consumer names longer than 490"):
        lr.xreadgroup("g", "c" * 600, {"s": ">"})
    assert lr.xpending("s", "g")["pending"] == 0
    assert lr.xreadgroup("g", "c" * 490, {"s": ">"})[0][1][0][0] == b"1-1"
    # MEMORY USAGE: an estimate that grows with the entries
    small = lr.memory_usage("s")
    _xfill(lr, "s", 2000, start=2)
    big = lr.memory_usage("s")
    assert 0 < small < big and 2000 * 10 < big < 2000 * 1000

LONG_KEY_SCRIPT = [
    ("SET", LK, "1"), ("SET", LM, "2"), ("SET", LN, "3"), ("SET", LN2, "4"), ("DBSIZE",),
    ("GET", LN), ("GET", LN2), ("STRLEN", LM), ("APPEND", LN, "x"), ("GET", LN),
    ("EXPIRE", LN, "1000"), ("TTL", LN), ("RENAME", LN, "r" * 5000), ("EXISTS", LN),
    ("TTL", "r" * 5000), ("GET", "r" * 5000), ("HSET", "h" * 600, "f", "v"),
    ("SADD", "s" * 600, "a"), ("RPUSH", "l" * 700, "x"), ("ZADD", "z" * 900, "1", "m"),
    ("TYPE", "h" * 600), ("RENAME", "z" * 900, "Z" * 900), ("ZRANGE", "Z" * 900, "0", "-1"),
    ("COPY", "Z" * 900, "C" * 1000), ("ZSCORE", "C" * 1000, "m"), ("MOVE", LM, "3"),
    ("EXISTS", LM), ("DEL", LN2, "s" * 600), ("DBSIZE",), ("OBJECT", "ENCODING", LK),
    ("PERSIST", "r" * 5000), ("TTL", "r" * 5000),
]


def test_long_keys_match_reference(lpair):
    """Keys longer than an LMDB key can hold (511 bytes) are stored under a 499-byte name
    (prefix + SHA-256) with the full key kept beside it: every command sees the full key."""
    a, b = lpair
    for args in LONG_KEY_SCRIPT:
        same_reply(a, b, *args)
    for c in (a, b):   # SCAN / KEYS / RANDOMKEY return the full keys
        assert sorted(c.keys()) == sorted(b.keys())
        got, cur = [], 0
        while True:
            cur, part = c.scan(cur, count=2)
            got += part
            if cur == 0:
                break
        assert sorted(got) == sorted(b.keys())
        assert c.randomkey() in set(b.keys())
    payload = a.dump("l" * 700)
    assert payload == b.dump("l" * 700)
    a.restore("L" * 800, 0, payload)
    assert a.lrange("L" * 800, 0, -1) == [b"x"]


def test_long_keys_expire_and_survive_restart():
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.set("e" * 2000, "gone", px=50)     # active expiry walks the index by name
        c.set("k" * 3000, "kept")
        c.hset("h" * 1000, "f", "v")
        time.sleep(0.5)
        assert wait_for(lambda: c.dbsize() == 2)
        assert records(d, b"lk") == 2
    finally:
        s.stop()
    s = start(d)
    try:
        c = s.client()
        assert sorted(c.keys()) == [b"h" * 1000, b"k" * 3000]
        assert c.get("k" * 3000) == b"kept" and c.hget("h" * 1000, "f") == b"v"
        c.flushall()
        assert wait_for(lambda: records(d, b"lk") == 0)   # the sweep reclaims them too
    finally:
        s.stop()


FLIB = "#!lua name={}\nredis.register_function('{}', function(keys, args) return {} end)"


def _kill_and_restart(s, d):
    os.kill(s.pid, signal.SIGKILL)
    s.proc.wait(10)
    return start(d, "--appendfsync", "always")


def test_function_libraries_persist_across_kill9():
    """The libraries are part of the dataset, stored in the batch's transaction: FUNCTION
    LOAD/DELETE/FLUSH/RESTORE acknowledged at ``always`` survive ``kill -9``."""
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d, "--appendfsync", "always")
    try:
        c = s.client()
        c.execute_command("FUNCTION", "LOAD", FLIB.format("la", "fa", 1))
        c.execute_command("FUNCTION", "LOAD", FLIB.format("lb", "fb", 2))
        c.execute_command("FUNCTION", "LOAD", "REPLACE", FLIB.format("la", "fa", 3))
        s = _kill_and_restart(s, d)
        c = s.client()
        assert c.execute_command("FCALL", "fa", 0) == 3
        assert c.execute_command("FCALL", "fb", 0) == 2
        payload = c.execute_command("FUNCTION", "DUMP")
        c.execute_command("FUNCTION", "DELETE", "lb")
        s = _kill_and_restart(s, d)
        c = s.client()
        assert [x[b"library_name"] if isinstance(x, dict) else x[1]
                for x in c.execute_command("FUNCTION", "LIST")] == [b"la"]
        c.execute_command("FUNCTION", "FLUSH")
        s = _kill_and_restart(s, d)
        c = s.client()
        assert c.execute_command("FUNCTION", "LIST") == []
        c.execute_command("FUNCTION", "RESTORE", payload)
        c.execute_command("MULTI")
        c.execute_command("FUNCTION", "LOAD", FLIB.format("lc", "fc", 4))
        c.execute_command("SET", "k", "v")
        c.execute_command("EXEC")
        s = _kill_and_restart(s, d)
        c = s.client()
        assert c.execute_command("FCALL", "fb", 0) == 2
        assert c.execute_command("FCALL", "fc", 0) == 4
        assert c.get("k") == b"v"
        assert c.info("memory")["number_of_libraries"] == 3
        # BGSAVE from lmdb writes them into the RDB like the memory engine does
        c.execute_command("SAVE")
        assert (b"lc" in open(os.path.join(d, "dump.rdb"), "rb").read())
    finally:
        s.stop()


# -- elements of any length (engines/lmdb_view.py: long names + the ``le`` sub-database) ----
# 600 bytes and more: keyed by their first 459 bytes + SHA-256. Several share 600-byte
# prefixes (their names differ only in the hash), one is exactly at the 459-byte threshold,
# one just under it, and one shares a shorter 460-byte prefix.
EA, EA1, EA2 = "a" * 600, "a" * 600 + "b", "a" * 600 + "a"
EB, EC = "b" * 3000, "c" * 100000
E459, E458, EX = "a" * 459, "a" * 458, "a" * 460 + "z"
LONG_ELEMS = [EA, EA1, EA2, EB, EC, E459, E458, EX, "a", "short"]


def _long_script():
    """Commands over long hash fields, set members and sorted-set members (a ("sorted", ...)
    entry compares its reply sorted: hashtable iteration order is Redis's dict order)."""
    fv = [x for i, f in enumerate(LONG_ELEMS) for x in (f, str(i))]
    zsv = [x for i, f in enumerate(LONG_ELEMS) for x in (str(i % 3), f)]
    z0 = [x for f in LONG_ELEMS for x in ("0", f)]
    return [
        ("HSET", "h", *fv), ("HLEN", "h"), ("HGET", "h", EA1), ("HGET", "h", EC),
        ("HGET", "h", "a" * 599 + "c"), ("HMGET", "h", EA, EA2, "nope", E459, E458),
        ("HEXISTS", "h", EB), ("HEXISTS", "h", "b" * 2999), ("HSTRLEN", "h", EC),
        ("HSET", "h", EA1, "new"), ("HSETNX", "h", EA2, "x"), ("HINCRBY", "h", EC, "10"),
        ("HDEL", "h", EA2, "nope", EX), ("HGETALL", "h"), ("sorted", "HKEYS", "h"),
        ("sorted", "HVALS", "h"), ("HSET", "h", EA2, "back"), ("HGET", "h", EA2),
        ("OBJECT", "ENCODING", "h"),
        ("SADD", "s", *LONG_ELEMS), ("SCARD", "s"), ("SISMEMBER", "s", EC),
        ("SMISMEMBER", "s", EA, EA1, "a" * 599 + "c", E459), ("SMEMBERS", "s"),
        ("SADD", "s", EA1, EC), ("SREM", "s", EA2, "nope"), ("SADD", "s2", EA, EA2, EB, "x"),
        ("SINTER", "s", "s2"), ("SINTERCARD", "2", "s", "s2"), ("SINTERSTORE", "si", "s", "s2"),
        ("SMEMBERS", "si"), ("SUNION", "s", "s2"), ("SDIFF", "s", "s2"),
        ("SDIFFSTORE", "sd", "s2", "s"), ("SMEMBERS", "sd"), ("SMOVE", "s", "s3", EC),
        ("SMEMBERS", "s3"), ("SISMEMBER", "s", EC), ("SPOP", "s3"), ("EXISTS", "s3"),
        ("SADD", "s4", EB), ("SRANDMEMBER", "s4"), ("sorted", "SPOP", "si", "10"),
        ("EXISTS", "si"), ("OBJECT", "ENCODING", "s"),
        ("ZADD", "z", *zsv), ("ZCARD", "z"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("ZREVRANGE", "z", "0", "-1"), ("ZRANGE", "z", "2", "5"), ("ZRANGE", "z", "-4", "-2"),
        ("ZRANK", "z", EA), ("ZRANK", "z", EA1), ("ZRANK", "z", EA2), ("ZREVRANK", "z", EA2),
        ("ZRANK", "z", EC, "WITHSCORE"), ("ZSCORE", "z", EB), ("ZMSCORE", "z", EA, "no", EC),
        ("ZRANGEBYSCORE", "z", "1", "1", "WITHSCORES"), ("ZRANGEBYSCORE", "z", "(0", "2",
                                                          "LIMIT", "1", "3"),
        ("ZREVRANGEBYSCORE", "z", "2", "0"), ("ZRANGE", "z", "(2", "0", "BYSCORE", "REV"),
        ("ZCOUNT", "z", "1", "1"), ("ZRANGEBYLEX", "z", "-", "+"),
        ("ZADD", "lz", *z0), ("ZADD", "lz", "0", EA + "a" * 1000, "0", EA + "\x00",
                               "0", EA + "\xff" * 3),
        ("ZRANGE", "lz", "0", "-1"), ("ZREVRANGE", "lz", "0", "-1"),
        ("ZRANGEBYLEX", "lz", "[" + EA, "+"), ("ZRANGEBYLEX", "lz", "(" + EA, "+"),
        ("ZRANGEBYLEX", "lz", "-", "(" + EA1), ("ZRANGEBYLEX", "lz", "-", "[" + EA2),
        ("ZRANGEBYLEX", "lz", "[" + EA2, "[" + EA1), ("ZRANGEBYLEX", "lz", "(" + EA2, "(" + EA1),
        ("ZRANGEBYLEX", "lz", "[" + E458, "(" + EX), ("ZRANGEBYLEX", "lz", "(" + E459, "+",
                                                     "LIMIT", "1", "2"),
        ("ZREVRANGEBYLEX", "lz", "[" + EA1, "-"), ("ZREVRANGEBYLEX", "lz", "(" + EA1, "(" + EA),
        ("ZREVRANGEBYLEX", "lz", "+", "[" + EA2, "LIMIT", "1", "2"),
        ("ZLEXCOUNT", "lz", "[" + EA, "[" + EA1), ("ZLEXCOUNT", "lz", "-", "(" + "a" * 599 + "c"),
        ("ZRANGE", "lz", "[" + EA1, "[" + EA, "BYLEX", "REV"),
        ("ZRANK", "lz", EA1), ("ZRANK", "lz", EA2), ("ZREVRANK", "lz", EA + "\x00"),
        ("ZRANGESTORE", "zst", "lz", "[" + EA, "[" + EA1, "BYLEX"),
        ("ZRANGE", "zst", "0", "-1", "WITHSCORES"),
        ("ZRANGESTORE", "zst2", "lz", "[" + EA1, "(" + EA2, "BYLEX", "REV", "LIMIT", "0", "3"),
        ("ZRANGE", "zst2", "0", "-1"),
        ("ZINCRBY", "z", "1", EA2), ("ZINCRBY", "z", "-5", EC), ("ZRANGE", "z", "0", "-1",
                                                               "WITHSCORES"),
        ("ZPOPMIN", "z", "2"), ("ZPOPMAX", "z"), ("ZREM", "z", EA1, "nope"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "zu", "2", "z", "lz"), ("ZRANGE", "zu", "0", "-1", "WITHSCORES"),
        ("ZINTER", "2", "z", "lz", "WITHSCORES"), ("ZDIFF", "2", "lz", "z"),
        ("ZREMRANGEBYLEX", "lz", "(" + EA2, "[" + EA1), ("ZRANGE", "lz", "0", "-1"),
        ("OBJECT", "ENCODING", "z"), ("BZPOPMIN", "z", "0.1"), ("BZPOPMAX", "lz", "0.1"),
        ("ZMPOP", "1", "z", "MIN", "COUNT", "2"), ("ZADD", "zr1", "1", EC), ("ZRANDMEMBER", "zr1", "-2", "WITHSCORES"),
        ("GEOADD", "g", "13.361389", "38.115556", EA1, "15.087269", "37.502669", EA2),
        ("GEOPOS", "g", EA1, EA2, EA), ("GEODIST", "g", EA1, EA2),
        ("GEOSEARCH", "g", "FROMMEMBER", EA2, "BYRADIUS", "300", "km", "ASC"),
        # list items are record values: any length
        ("RPUSH", "l", EC, EA, EA1, "x"), ("LRANGE", "l", "0", "-1"), ("LPOS", "l", EA1),
        ("LREM", "l", "0", EA), ("LINDEX", "l", "-2"), ("LPOP", "l"),
        # the keys move with their elements
        ("RENAME", "h", "h2"), ("HGET", "h2", EC), ("COPY", "h2", "h3"), ("HGETALL", "h3"),
        ("COPY", "s", "sc"), ("SMEMBERS", "sc"), ("RENAME", "z", "zr"),
        ("ZRANGE", "zr", "0", "-1", "WITHSCORES"), ("COPY", "lz", "lzc"),
        ("ZRANGEBYLEX", "lzc", "[" + EA, "+"), ("MOVE", "lzc", "3"), ("MOVE", "sc", "3"),
        ("MOVE", "h3", "3"), ("SWAPDB", "0", "3"), ("ZRANGEBYLEX", "lzc", "-", "(" + EA1),
        ("SMEMBERS", "sc"), ("HGETALL", "h3"), ("DBSIZE",), ("SWAPDB", "0", "3"),
        ("DEL", "h2", "zr"), ("DBSIZE",),
    ]


def _scan_all(c, cmd, key):
    """Every element (HSCAN: (field, value), ZSCAN: (member, score)) of a full SCAN."""
    cur, got = 0, []
    while True:
        cur, part = c.execute_command(cmd, key, cur, "COUNT", 3)
        got += list(part.items()) if isinstance(part, dict) else part
        if int(cur) == 0:
            return sorted(got)


def _long_elements_round(a, b):
    for args in _long_script():
        if args[0] == "sorted":
            ra, rb = a.execute_command(*args[1:]), b.execute_command(*args[1:])
            assert sorted(ra) == sorted(rb), args[1:]
        else:
            same_reply(a, b, *args)
    for c in (a, b):   # the SCANs return the full elements (cursor order may differ)
        c.hset("hs", mapping={f: str(i) for i, f in enumerate(LONG_ELEMS)})
        c.sadd("ss", *LONG_ELEMS)
        c.zadd("zz", {f: i for i, f in enumerate(LONG_ELEMS)})
    for cmd, key in (("HSCAN", "hs"), ("SSCAN", "ss"), ("ZSCAN", "zz")):
        ga = _scan_all(a, cmd, key)
        assert ga == _scan_all(b, cmd, key) and len(ga) == len(LONG_ELEMS), cmd
    for key in ("hs", "ss", "zz", "lz"):   # RESTORE builds the elements again
        payload = a.dump(key)
        assert a.restore(key + ":r", 0, payload) in (True, b"OK")
        assert a.dump(key + ":r") == payload
    assert a.hgetall("hs:r") == b.hgetall("hs") and a.smembers("ss:r") == b.smembers("ss")
    assert a.zrange("zz:r", 0, -1, withscores=True) == b.zrange("zz", 0, -1, withscores=True)
    # DUMP payloads equal valkey-server's where the serialization order is defined
    # (listpacks; a skiplist zset is written from its tail)
    for key in ("zz", "lz") + (("hs", "ss") if a.object("encoding", "hs") == b"listpack"
                               else ()):
        assert a.dump(key) == b.dump(key), key


LISTPACK_CONFIG = ("hash-max-listpack-value", "set-max-listpack-value",
                   "zset-max-listpack-value")


def test_long_elements_match_reference(lpair):
    """Hash fields, set members and sorted-set members of any length (up to 100000 bytes
    here) answer as valkey-server's, including the order of long members that share their
    first 600 bytes (their LMDB names differ only in a hash) - once in the hashtable /
    skiplist encodings, once with the listpack limits raised (listpack order, equal DUMPs)."""
    a, b = lpair
    _long_elements_round(a, b)
    a.flushall()
    b.flushall()
    try:
        for c in (a, b):
            for name in LISTPACK_CONFIG:
                c.config_set(name, "200000")
        _long_elements_round(a, b)
        assert a.object("encoding", "hs") == b.object("encoding", "hs") == b"listpack"
    finally:
        for c in (a, b):
            for name in LISTPACK_CONFIG:
                c.config_set(name, "64")


def test_long_zset_members_order_by_member_bytes_in_process():
    """In-process, against the memory engine: long members with equal scores sharing
    459-byte prefixes (a run of names ordered by hash in the index) come out in member order
    from every walk: ranks, index ranges, score ranges, lex ranges (uniform and mixed scores,
    both directions, every bound kind), pops."""
    from engines.base import LEX_MAX, LEX_MIN
    from engines.lmdb import LmdbEngine
    from engines.mem_zset import MemoryZSet
    rnd = random.Random(7)
    e = LmdbEngine(path=tempfile.mkdtemp(prefix="valkeyd-lmdb-"), databases=1)
    try:
        members = set()
        while len(members) < 80:
            base = rnd.choice([b"a" * 600, b"a" * 458, b"a" * 459, b"b" * 1000, b"a" * 460])
            members.add(base + bytes([rnd.randrange(97, 100)]) * rnd.randrange(3)
                        + (b"%d" % rnd.randrange(100) if rnd.random() < 0.7 else b""))
        members = sorted(members)
        bounds = [LEX_MIN, LEX_MAX] + rnd.sample(members, 12) + [
            b"a" * 459, b"a" * 600, b"a" * 600 + b"b", b"a" * 458 + b"a", b"a" * 2000]
        for uniform in (True, False):
            z = e.db(0).get_collection(b"z%d" % uniform, "zset", create=True)
            m = MemoryZSet()
            for x in rnd.sample(members, len(members)):
                sc = 0.0 if uniform else float(rnd.choice([1, 1, 1, 2]))
                z.add(x, sc)
                m.add(x, sc)
            assert list(z) == list(m) and list(z.items(True)) == list(m.items(True))
            assert z.by_rank(5, 40) == m.by_rank(5, 40)
            assert z.by_rank(3, 9, True) == m.by_rank(3, 9, True)
            assert z.by_score(1, False, 1, False) == m.by_score(1, False, 1, False)
            assert (z.by_score(0, True, 2, False, 3, 20, True)
                    == m.by_score(0, True, 2, False, 3, 20, True))
            for x in members:
                assert z.rank(x) == m.rank(x) and z.rank(x, True) == m.rank(x, True)
            for lo in bounds:
                for hi in bounds:
                    for lx in (False, True):
                        for hx in (False, True):
                            assert z.count_by_lex(lo, lx, hi, hx) == m.count_by_lex(lo, lx, hi,
                                                                                    hx)
                            for rev in (False, True):
                                assert (z.by_lex(lo, lx, hi, hx, reverse=rev)
                                        == m.by_lex(lo, lx, hi, hx, reverse=rev))
            assert z.pop() == m.pop() and z.pop(True) == m.pop(True)
            for x in members[::3]:
                assert z.remove(x) == m.remove(x)
            assert list(z) == list(m)
            assert (z.remove_by_lex(bounds[5], False, LEX_MAX, False)
                    == m.remove_by_lex(bounds[5], False, LEX_MAX, False))
            assert list(z) == list(m)
        e.commit()
        snap = {k: v for _, k, v, _ in e.snapshot()}
        assert list(snap[b"z1"].items()) == list(e.db(0).get(b"z1").items())
    finally:
        e.close()


def test_long_elements_expiry_restart_bgsave_and_sweep():
    """Long hash fields expire (HPEXPIRE, reclaimed by the active field expiry: their ``le``
    records go), everything survives a restart, BGSAVE writes them into an RDB valkey-server
    loads, and DEL of big collections of long elements is O(1) with their ``le`` records
    swept by the cron."""
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.hset("h", mapping={f: str(i) for i, f in enumerate(LONG_ELEMS)})
        c.sadd("s", *LONG_ELEMS)
        c.zadd("z", {f: i % 3 for i, f in enumerate(LONG_ELEMS)})
        assert records(d, b"le") == 3 * 7   # the seven elements of 459 bytes or more
        assert c.execute_command("HPEXPIRE", "h", "100", "FIELDS", "2", EA1, EC) == [1, 1]
        assert c.execute_command("HEXPIRE", "h", "1000", "FIELDS", "1", EB) == [1]
        ttl = c.execute_command("HTTL", "h", "FIELDS", "3", EB, EA, "a" * 599 + "c")
        assert 990 < ttl[0] <= 1000 and ttl[1:] == [-1, -2]
        assert wait_for(lambda: records(d, b"le") == 3 * 7 - 2)   # no access to "h"
        assert c.hlen("h") == len(LONG_ELEMS) - 2 and c.hget("h", EC) is None
        assert c.execute_command("HPERSIST", "h", "FIELDS", "1", EB) == [1]
        h, sm = c.hgetall("h"), c.smembers("s")
        zr = c.zrange("z", 0, -1, withscores=True)
        assert zr == sorted(((f.encode(), float(i % 3)) for i, f in enumerate(LONG_ELEMS)),
                            key=lambda p: (p[1], p[0]))
    finally:
        s.stop()
    s = start(d)
    try:
        c = s.client()
        assert c.hgetall("h") == h and c.smembers("s") == sm
        assert c.zrange("z", 0, -1, withscores=True) == zr
        c.bgsave()
        assert wait_for(lambda: c.info("persistence")["rdb_bgsave_in_progress"] == 0, 30)
        assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        # big collections of long elements: DEL queues their records, the cron sweeps them
        p = c.pipeline(transaction=False)
        for i in range(1000):
            p.hset("bh", f"{i}:" + "f" * 600, i)
            p.sadd("bs", f"{i}:" + "s" * 600)
            p.zadd("bz", {f"{i}:" + "z" * 600: i})
        p.execute()
        assert records(d, b"le") == 3 * 7 - 2 + 3000
        assert c.delete("bh", "bs", "bz") == 3
        assert c.exists("bh", "bs", "bz") == 0
        assert wait_for(lambda: records(d, b"le") == 3 * 7 - 2, 60)
        assert c.hgetall("h") == h
        c.flushall()
        assert wait_for(lambda: records(d, b"le") == 0, 60)
        c.close()
    finally:
        s.stop()
    ref = start_valkey("--dbfilename", "dump.rdb", workdir=d)
    try:
        c = ref.client()
        assert c.hgetall("h") == h and c.smembers("s") == sm
        assert c.zrange("z", 0, -1, withscores=True) == zr
        c.close()
    finally:
        ref.stop()


def test_larger_than_ram_in_a_memory_cgroup():
    """tools/bench_larger_than_ram: 3x more data than the cgroup's RAM limit (page cache
    included) is written and every key reads back intact, with no OOM kill. Needs a writable
    memory cgroup (root); elsewhere the test is reported as skipped."""
    import subprocess
    import sys
    from pathlib import Path
    tool = Path(__file__).resolve().parent.parent / "tools" / "bench_larger_than_ram"
    r = subprocess.run([sys.executable, str(tool), "--budget-mb", "112", "--data-mb", "336"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode == 2:
        pytest.skip(f"no writable memory cgroup here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stdout + r.stderr
    row = [l for l in r.stdout.splitlines() if l.startswith("| lmdb |")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "336 MiB of 336 MiB" and cells[3] == cells[4] == "21,504"
    assert int(cells[5].split()[0]) <= 112 and cells[7] == "0"


def test_lmdb_map_size_full_refuses_writes_and_loses_nothing_acknowledged():
    """``lmdb-map-size``: near the end of the map, denyoom commands get -OOM while reads,
    DEL and CONFIG SET still run; a write bigger than the headroom is refused alone; a batch
    cut by the map's end (MULTI/EXEC) is rolled back and its client disconnected, never
    acknowledged; a bigger map (CONFIG SET) makes room at once."""
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d, "--lmdb-map-size", "64mb")
    try:
        c = s.client()
        assert c.config_get("lmdb-map-size") == {"lmdb-map-size": str(64 << 20)}
        n, err = 0, None
        while n < 2000:
            try:
                c.set(f"k{n}", b"x" * 100_000)
                n += 1
            except redis.exceptions.OutOfMemoryError as e:
                err = str(e)
                break
        assert err is not None and "lmdb-map-size" in err and 300 < n < 700
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            c.set("small", "1")
        assert c.get("k0") == b"x" * 100_000 and c.dbsize() == n   # reads run
        assert c.delete(*[f"k{i}" for i in range(n // 2)]) == n // 2   # DEL runs
        assert wait_for(lambda: _set_ok(c, "small", "1"))
        # one write bigger than the headroom: refused alone, the connection stays
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            c.set("huge", b"y" * 40_000_000)
        assert c.ping() and c.get("small") == b"1"
        # a transaction cut by the map's end: nothing of it exists, nothing was acknowledged
        raw = socket.create_connection(("127.0.0.1", s.port))
        big = b"z" * 40_000_000
        raw.sendall(b"MULTI\r\n*3\r\n$3\r\nSET\r\n$2\r\nt1\r\n$1\r\n1\r\n"
                    b"*3\r\n$3\r\nSET\r\n$2\r\nt2\r\n$%d\r\n%s\r\nEXEC\r\n" % (len(big), big))
        got = b""
        raw.settimeout(20)
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                break
            got += chunk
        raw.close()
        assert b"+OK" not in got.split(b"QUEUED")[-1]   # EXEC's reply never came
        assert c.exists("t1", "t2") == 0
        c.config_set("lmdb-map-size", str(256 << 20))
        assert c.set("huge", b"y" * 40_000_000) is True
        keys = c.dbsize()
    finally:
        s.stop()
    s = start(d, "--lmdb-map-size", "256mb")
    try:
        c = s.client()
        assert c.dbsize() == keys and c.strlen("huge") == 40_000_000
    finally:
        s.stop()


def _set_ok(c, k, v) -> bool:
    try:
        return c.set(k, v) is True
    except redis.exceptions.OutOfMemoryError:
        return False


def test_hash_fields_expire_actively_after_restart():
    """The background field-expiry cycle knows the volatile hashes again after a restart
    (``hv``), also under a new name (RENAME), without any command touching them."""
    d = tempfile.mkdtemp(prefix="valkeyd-lmdb-")
    s = start(d)
    try:
        c = s.client()
        c.hset("h", mapping={"f1": "v", "f2": "v"})
        c.hset("g", mapping={"f1": "v", "f2": "v"})
        c.execute_command("HPEXPIRE", "h", "1500", "FIELDS", "1", "f1")
        c.execute_command("HPEXPIRE", "g", "1500", "FIELDS", "2", "f1", "f2")
        c.rename("g", "g2")
        c.hset("n", "f", "v")   # no volatile fields: not tracked
    finally:
        s.stop()
    assert records(d, b"hv") == 2
    s = start(d)
    try:
        c = s.client()
        assert records(d, b"hx") == 3
        # nothing reads the hashes: only the cycle can remove the fields (and then g2)
        assert wait_for(lambda: records(d, b"hx") == 0, timeout=15)
        assert c.hgetall("h") == {b"f2": b"v"} and c.exists("g2") == 0
        assert wait_for(lambda: records(d, b"hv") == 0)
    finally:
        s.stop()
