"""The LMDB engine through a real ``valkeyd serve --engine lmdb`` process (engines/lmdb.py).

Strings and keys commands (compared with valkey-server where the reply is deterministic),
persistence across restarts (clean stop, ``kill -9`` at ``appendfsync always``), O(1) FLUSHALL
with the background sweep, expiry across a restart. Lists: commands against valkey-server, DUMP,
restart and BGSAVE, DEL of a big list swept by the cron. Sorted sets: commands against valkey-server, the
score index's order (-0.0, infinities, ties by member), restart, DEL of a big zset swept by the
cron, DUMP/RESTORE payloads, the LMDB key-size limit on members. Streams and consumer groups
(engines/lmdb_stream.py): a command script against valkey-server, DUMP payloads, restart,
BGSAVE into an RDB valkey-server loads, DEL of a big stream swept by the cron.
"""
from __future__ import annotations

import os
import random
import signal
import tempfile
import threading
import time

import lmdb
import pytest
import redis

from harness import same_reply, start_valkeyd

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


def test_zset_member_too_long_for_an_lmdb_key(lr):
    """Members are part of LMDB keys (511 bytes at most): a longer one gets a clear error
    and leaves no empty key behind; 491 bytes still fit."""
    for cmd in (("ZADD", "z", "1", "x" * 492), ("GEOADD", "g", "1", "1", "y" * 600)):
        with pytest.raises(redis.ResponseError) as e:
            lr.execute_command(*cmd)
        assert str(e.value) == ("the lmdb engine does not support sorted-set members longer "
                                "than 491 bytes")
    assert lr.exists("z", "g") == 0 and lr.dbsize() == 0
    assert lr.zadd("z", {"x" * 491: 1, "a": 1}) == 2
    # bounds longer than any LMDB key still seek right
    assert lr.zrangebylex("z", "[" + "b" * 600, "+") == [b"x" * 491]
    assert lr.zrangebylex("z", "-", "[" + "x" * 600) == [b"a", b"x" * 491]
    assert lr.zrevrangebylex("z", "(" + "b" * 600, "-") == [b"a"]
    assert lr.zrevrangebylex("z", "+", "[" + "x" * 600) == []
    assert lr.zlexcount("z", "(" + "a" * 600, "[" + "x" * 491) == 1



def test_hash_field_and_set_member_too_long_for_an_lmdb_key(lr):
    """Hash fields and set members are part of LMDB keys too: a longer one gets a clear
    error before anything is written (no partial HSET/SADD, no empty key); 491 bytes fit,
    also with a field expiry (the expiry index holds the field beside an 8-byte time)."""
    long_field, long_member = "f" * 492, "m" * 600
    cases = ((("HSET", "h", long_field, "v"), "hash fields"),
             (("HSET", "h", "a", "1", long_field, "v"), "hash fields"),
             (("SADD", "s", long_member), "set members"),
             (("SADD", "s", "a", long_member), "set members"))
    for cmd, what in cases:
        with pytest.raises(redis.ResponseError) as e:
            lr.execute_command(*cmd)
        assert str(e.value) == f"the lmdb engine does not support {what} longer than 491 bytes"
    assert lr.dbsize() == 0
    lr.hset("h", "a", "1")
    lr.sadd("s", "a")
    with pytest.raises(redis.ResponseError):
        lr.hset("h", mapping={"b": "2", long_field: "v"})
    with pytest.raises(redis.ResponseError):
        lr.sadd("s", "b", long_member)
    assert lr.hgetall("h") == {b"a": b"1"} and lr.smembers("s") == {b"a"}
    # reads of such names simply find nothing
    assert lr.hget("h", long_field) is None and lr.sismember("s", long_member) == 0
    ok = "x" * 491
    assert lr.hset("h", ok, "v") == 1 and lr.sadd("s", ok) == 1
    assert lr.execute_command("HEXPIRE", "h", "100", "FIELDS", "1", ok) == [1]
    assert lr.hget("h", ok) == b"v" and lr.sismember("s", ok) == 1


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
