"""The list command family (LPUSH ... LMPOP) against Redis 7.2.4's behaviour.

Most tests send the same commands to valkeyd and to a real valkey-server over raw sockets and
compare the reply bytes exactly, in RESP2 and RESP3 (replies, error texts, null shapes,
OBJECT ENCODING after every step). The blocking commands are in tests/test_blocking.py.
"""
from __future__ import annotations

import random
import time

import pytest
import redis

from harness import RawClient as Raw, same_raw as same


@pytest.fixture
def pair(pair):
    """The shared raw pair; the list encoding limit is restored afterwards."""
    yield pair
    for c in pair:
        c.cmd("CONFIG", "SET", "list-max-listpack-size", "-2")


def run_cases(pair, cases):
    for args in cases:
        same(pair, *args)


# -- replies and errors, every command --------------------------------------------------------

BASIC = [
    ("LPUSH", "l", "a"), ("LPUSH", "l", "b", "c", "1", "-5", "300"),
    ("RPUSH", "l", "x", "", "y"), ("LRANGE", "l", "0", "-1"), ("LLEN", "l"), ("LLEN", "none"),
    ("LPUSHX", "none", "a"), ("RPUSHX", "none", "a", "b"), ("EXISTS", "none"),
    ("LPUSHX", "l", "h1", "h2"), ("RPUSHX", "l", "t1"), ("LRANGE", "l", "0", "-1"),
    ("LPUSH", "l"), ("RPUSHX", "l"), ("LPUSH",), ("LLEN", "l", "x"),
    ("SET", "s", "v"), ("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"),
    ("RPUSHX", "s", "a"), ("LLEN", "s"), ("LRANGE", "s", "0", "1"), ("LINDEX", "s", "0"),
    ("LINDEX", "s", "x"), ("LPOP", "s"), ("RPOP", "s", "1"), ("LSET", "s", "0", "v"),
    ("LTRIM", "s", "0", "1"), ("LREM", "s", "0", "a"), ("LINSERT", "s", "before", "a", "b"),
    ("LPOS", "s", "a"), ("LMOVE", "s", "l", "left", "right"), ("RPOPLPUSH", "s", "l"),
    ("LMOVE", "l", "s", "left", "right"), ("RPOPLPUSH", "l", "s"), ("LMPOP", "1", "s", "left"),
    ("LMPOP", "2", "none", "s", "left"), ("LRANGE", "l", "0", "-1"),
]

INDEXING = [
    ("RPUSH", "l", "a", "b", "c", "d", "e", "f", "12", "-7", "9223372036854775807"),
    ("LINDEX", "l", "0"), ("LINDEX", "l", "-1"), ("LINDEX", "l", "8"), ("LINDEX", "l", "9"),
    ("LINDEX", "l", "-9"), ("LINDEX", "l", "-10"), ("LINDEX", "l", "x"), ("LINDEX", "l", "1.5"),
    ("LINDEX", "none", "x"), ("LINDEX", "none", "0"),
    ("LINDEX", "l", "9223372036854775808"), ("LINDEX", "l", "-9223372036854775808"),
    ("LRANGE", "l", "0", "0"), ("LRANGE", "l", "-3", "-1"), ("LRANGE", "l", "-100", "100"),
    ("LRANGE", "l", "5", "2"), ("LRANGE", "l", "9", "10"), ("LRANGE", "l", "-1", "-2"),
    ("LRANGE", "l", "2", "-3"), ("LRANGE", "l", "a", "1"), ("LRANGE", "l", "0", "b"),
    ("LRANGE", "none", "0", "-1"), ("LRANGE", "none", "x", "-1"),
    ("LRANGE", "l", "-9223372036854775808", "9223372036854775807"),
    ("LSET", "l", "0", "A"), ("LSET", "l", "-1", "Z"), ("LSET", "l", "9", "x"),
    ("LSET", "l", "-10", "x"), ("LSET", "l", "x", "x"), ("LSET", "none", "0", "x"),
    ("LSET", "none", "x", "x"), ("LSET", "l", "4", "123456"), ("LRANGE", "l", "0", "-1"),
    ("LSET", "l"), ("LINDEX", "l"), ("LRANGE", "l", "0"),
]

POPS = [
    ("RPUSH", "l", "a", "b", "c", "d", "e"),
    ("LPOP", "l"), ("RPOP", "l"), ("LPOP", "l", "0"), ("RPOP", "l", "0"),
    ("LPOP", "l", "2"), ("RPOP", "l", "1"), ("EXISTS", "l"),
    ("RPUSH", "l", "a", "b", "c"), ("RPOP", "l", "10"), ("EXISTS", "l"),
    ("LPOP", "none"), ("RPOP", "none"), ("LPOP", "none", "3"), ("RPOP", "none", "0"),
    ("LPOP", "none", "-1"), ("LPOP", "l", "-1"), ("LPOP", "l", "x"), ("RPOP", "l", "1.0"),
    ("LPOP", "l", "1", "2"), ("RPOP", "l", "1", "2", "3"), ("LPOP",),
    ("RPUSH", "l", "1", "2", "3"), ("LPOP", "l", "9223372036854775807"),
    ("RPUSH", "l", "1"), ("LPOP", "l", "9223372036854775808"), ("RPOP", "l", "-0"),
    ("RPOP", "l", "00"),
]

TRIM_REM_INSERT = [
    ("RPUSH", "l", "a", "b", "a", "c", "a", "d", "a"),
    ("LREM", "l", "1", "a"), ("LRANGE", "l", "0", "-1"), ("LREM", "l", "-1", "a"),
    ("LRANGE", "l", "0", "-1"), ("LREM", "l", "0", "a"), ("LRANGE", "l", "0", "-1"),
    ("LREM", "l", "0", "zz"), ("LREM", "l", "x", "a"), ("LREM", "none", "0", "a"),
    ("LREM", "none", "x", "a"),
    ("RPUSH", "m", "1", "1", "1"), ("LREM", "m", "0", "1"), ("EXISTS", "m"),
    ("RPUSH", "m", "1", "01", "1.0", "1"), ("LREM", "m", "0", "1"), ("LRANGE", "m", "0", "-1"),
    ("LINSERT", "l", "before", "c", "X"), ("LINSERT", "l", "AFTER", "c", "Y"),
    ("LINSERT", "l", "after", "d", "E"), ("LINSERT", "l", "BeFoRe", "b", "S"),
    ("LINSERT", "l", "before", "nope", "X"), ("LINSERT", "l", "middle", "c", "X"),
    ("LINSERT", "none", "before", "c", "X"), ("LINSERT", "none", "bad", "c", "X"),
    ("LRANGE", "l", "0", "-1"),
    ("LTRIM", "l", "1", "-2"), ("LRANGE", "l", "0", "-1"), ("LTRIM", "l", "0", "100"),
    ("LTRIM", "l", "-100", "1"), ("LRANGE", "l", "0", "-1"), ("LTRIM", "l", "x", "1"),
    ("LTRIM", "none", "0", "1"), ("LTRIM", "none", "x", "1"), ("LTRIM", "l", "5", "1"),
    ("EXISTS", "l"), ("RPUSH", "l", "a", "b"), ("LTRIM", "l", "-1", "-2"), ("EXISTS", "l"),
]

LPOS_CASES = [
    ("RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c", "a"),
    ("LPOS", "l", "c"), ("LPOS", "l", "c", "RANK", "2"), ("LPOS", "l", "c", "RANK", "-1"),
    ("LPOS", "l", "c", "RANK", "-3"), ("LPOS", "l", "c", "RANK", "4"),
    ("LPOS", "l", "c", "COUNT", "0"), ("LPOS", "l", "c", "COUNT", "2"),
    ("LPOS", "l", "c", "COUNT", "0", "RANK", "-1"), ("LPOS", "l", "c", "COUNT", "0",
                                                     "RANK", "2"),
    ("LPOS", "l", "c", "MAXLEN", "3"), ("LPOS", "l", "c", "MAXLEN", "7", "COUNT", "0"),
    ("LPOS", "l", "a", "RANK", "-1", "MAXLEN", "1"),
    ("LPOS", "l", "a", "RANK", "-1", "MAXLEN", "2", "COUNT", "0"),
    ("LPOS", "l", "zz"), ("LPOS", "l", "zz", "COUNT", "1"), ("LPOS", "none", "a"),
    ("LPOS", "none", "a", "COUNT", "0"), ("LPOS", "l", "1"), ("LPOS", "l", "01"),
    ("LPOS", "l", "a", "RANK", "0"), ("LPOS", "l", "a", "RANK", "x"),
    ("LPOS", "l", "a", "RANK", "-9223372036854775808"),
    ("LPOS", "l", "a", "RANK", "-9223372036854775807"),
    ("LPOS", "l", "a", "COUNT", "-1"), ("LPOS", "l", "a", "COUNT", "x"),
    ("LPOS", "l", "a", "MAXLEN", "-1"), ("LPOS", "l", "a", "MAXLEN", "x"),
    ("LPOS", "l", "a", "RANK"), ("LPOS", "l", "a", "FOO", "1"), ("LPOS", "l", "a", "COUNT"),
    ("LPOS", "none", "a", "RANK", "0"), ("LPOS", "l"),
    ("LPOS", "l", "c", "rank", "1", "rank", "-2", "count", "5", "count", "1"),
]

MOVES = [
    ("RPUSH", "src", "a", "b", "c"),
    ("LMOVE", "src", "dst", "LEFT", "RIGHT"), ("LMOVE", "src", "dst", "right", "left"),
    ("LRANGE", "dst", "0", "-1"), ("LMOVE", "src", "src", "left", "right"),
    ("LRANGE", "src", "0", "-1"), ("LMOVE", "src", "dst", "left", "left"), ("EXISTS", "src"),
    ("LMOVE", "src", "dst", "left", "left"), ("LMOVE", "src", "dst", "up", "left"),
    ("LMOVE", "src", "dst", "left", "down"), ("LMOVE", "dst", "dst", "right", "left"),
    ("LRANGE", "dst", "0", "-1"), ("RPOPLPUSH", "dst", "other"), ("RPOPLPUSH", "none", "x"),
    ("RPOPLPUSH", "dst", "dst"), ("LRANGE", "dst", "0", "-1"), ("SET", "str", "x"),
    ("RPOPLPUSH", "dst", "str"), ("LMOVE", "dst", "str", "left", "left"),
    ("RPOPLPUSH", "none", "str"), ("LRANGE", "dst", "0", "-1"),
    ("RPUSH", "one", "x"), ("RPOPLPUSH", "one", "one"), ("LRANGE", "one", "0", "-1"),
    ("LMOVE", "one", "two", "left", "right"), ("EXISTS", "one"),
]

MPOP = [
    ("RPUSH", "a", "1", "2", "3"), ("RPUSH", "b", "x", "y"),
    ("LMPOP", "2", "none", "a", "LEFT"), ("LMPOP", "2", "none", "a", "right", "COUNT", "10"),
    ("LMPOP", "2", "a", "b", "left", "count", "1"), ("LMPOP", "1", "none", "left"),
    ("LMPOP", "0", "a", "left"), ("LMPOP", "-1", "a", "left"), ("LMPOP", "x", "a", "left"),
    ("LMPOP", "3", "a", "left"), ("LMPOP", "1", "b", "middle"),
    ("LMPOP", "1", "b", "left", "COUNT", "0"), ("LMPOP", "1", "b", "left", "COUNT", "-1"),
    ("LMPOP", "1", "b", "left", "COUNT", "x"), ("LMPOP", "1", "b", "left", "COUNT"),
    ("LMPOP", "1", "b", "left", "COUNT", "1", "COUNT", "1"), ("LMPOP", "1", "b", "left", "x"),
    ("LMPOP", "1", "b"), ("LMPOP", "1"), ("LMPOP", "2", "b", "a", "RIGHT", "COUNT", "5"),
    ("EXISTS", "b"), ("SET", "s", "x"), ("LMPOP", "2", "none", "s", "left"),
    ("LMPOP", "2", "s", "none", "left"), ("LMPOP", "9223372036854775807", "a", "left"),
    ("LMPOP", "1", "none", "left", "COUNT", "9223372036854775807"),
]


@pytest.mark.parametrize("cases", [BASIC, INDEXING, POPS, TRIM_REM_INSERT, LPOS_CASES, MOVES,
                                   MPOP], ids=["basic", "indexing", "pops", "trim-rem-insert",
                                               "lpos", "moves", "mpop"])
def test_replies_match_reference(pair, cases):
    run_cases(pair, cases)


# -- encodings and their conversions ----------------------------------------------------------

def _enc_step(pair, *args):
    same(pair, *args)
    key = args[1]
    same(pair, "OBJECT", "ENCODING", key)


@pytest.mark.parametrize("fill", ["-2", "-1", "-5", "-6", "1", "3", "4", "0", "128"])
def test_encoding_conversions_follow_redis(pair, fill):
    """Random pushes, pops and in-place edits with several list-max-listpack-size values;
    OBJECT ENCODING must agree after every step (both directions of conversion)."""
    same(pair, "CONFIG", "SET", "list-max-listpack-size", fill)
    rnd = random.Random(int(fill) + 1000)
    sizes = [1, 3, 10, 60, 64, 200, 1000, 3000, 5000]

    def val():
        if rnd.random() < 0.3:
            return str(rnd.choice([0, 7, 127, 128, -1, 4095, 4096, -32768, 70000, 2**31,
                                   2**40, -2**63]))
        return "v" * rnd.choice(sizes)

    for _ in range(160):
        op = rnd.random()
        key = "k%d" % rnd.randint(0, 1)
        if op < 0.3:
            _enc_step(pair, rnd.choice(["LPUSH", "RPUSH"]), key,
                      *[val() for _ in range(rnd.randint(1, 4))])
        elif op < 0.5:
            _enc_step(pair, rnd.choice(["LPOP", "RPOP"]), key, str(rnd.randint(1, 3)))
        elif op < 0.58:
            _enc_step(pair, "LSET", key, str(rnd.randint(-3, 3)), val())
        elif op < 0.66:
            _enc_step(pair, "LINSERT", key, rnd.choice(["BEFORE", "AFTER"]),
                      rnd.choice(["v", "7", "0", "vvv"]), val())
        elif op < 0.72:
            _enc_step(pair, "LREM", key, str(rnd.randint(-2, 2)), rnd.choice(["v", "7", "0"]))
        elif op < 0.78:
            _enc_step(pair, "LTRIM", key, str(rnd.randint(0, 2)), str(rnd.randint(-3, -1)))
        elif op < 0.9:
            _enc_step(pair, "LMOVE", key, "k%d" % rnd.randint(0, 1),
                      rnd.choice(["LEFT", "RIGHT"]), rnd.choice(["LEFT", "RIGHT"]))
        else:
            _enc_step(pair, "LRANGE", key, "0", "-1")


def test_listpack_to_quicklist_thresholds(pair):
    # 8 kB listpack at the default -2: the conversion counts the raw argument bytes.
    _enc_step(pair, "RPUSH", "l", "x" * 8000)
    _enc_step(pair, "RPUSH", "l", "x" * 180)
    _enc_step(pair, "RPUSH", "l", "x" * 10)
    _enc_step(pair, "RPOP", "l")
    _enc_step(pair, "RPOP", "l")
    _enc_step(pair, "RPOP", "l")
    same(pair, "DEL", "l")
    # many small integers
    _enc_step(pair, "RPUSH", "n", *[str(i) for i in range(2000)])
    _enc_step(pair, "RPUSH", "n", *[str(i) for i in range(2000)])
    for _ in range(12):
        _enc_step(pair, "LPOP", "n", "300")
    # a LINSERT with a missing pivot still converts (the check comes first)
    _enc_step(pair, "RPUSH", "p", "a")
    _enc_step(pair, "LINSERT", "p", "BEFORE", "nope", "y" * 9000)
    # LSET out of range converts too
    _enc_step(pair, "RPUSH", "q", "a")
    same(pair, "LSET", "q", "5", "y" * 9000)
    same(pair, "OBJECT", "ENCODING", "q")


def test_count_limit_encodings(pair):
    same(pair, "CONFIG", "SET", "list-max-listpack-size", "4")
    for i in range(6):
        _enc_step(pair, "RPUSH", "l", str(i))
    for _ in range(6):
        _enc_step(pair, "LPOP", "l")
    for i in range(10):
        _enc_step(pair, "LPUSH", "m", "e%d" % i)
    _enc_step(pair, "LTRIM", "m", "0", "1")
    _enc_step(pair, "LINSERT", "m", "AFTER", "e9", "z")
    for i in range(12):
        _enc_step(pair, "LINSERT", "m", "BEFORE", "z", "w%d" % i)
    _enc_step(pair, "LRANGE", "m", "0", "-1")
    _enc_step(pair, "LREM", "m", "0", "w3")
    for _ in range(12):
        _enc_step(pair, "RPOP", "m")


def test_quicklist_keeps_its_own_fill_and_depth(pair):
    """A quicklist keeps the list-max-listpack-size and list-compress-depth it was created
    with (quicklistCreate); CONFIG SET changes new lists, and the conversion checks only."""
    same(pair, "CONFIG", "SET", "list-max-listpack-size", "2")
    _enc_step(pair, "LPUSH", "k", "w" * 64, "b", "w" * 64)      # nodes of 2 from now on
    same(pair, "CONFIG", "SET", "list-max-listpack-size", "-1")
    _enc_step(pair, "RPUSH", "k", "", "b", "70000", "a", "b", "b")
    for _ in range(6):
        _enc_step(pair, "LPOP", "k")
        same(pair, "DUMP", "k")                                   # the node layout
    _enc_step(pair, "LINSERT", "k", "BEFORE", "b", "x")
    same(pair, "DUMP", "k")
    for c in pair:
        c.cmd("CONFIG", "SET", "list-compress-depth", "1")
    try:
        same(pair, "CONFIG", "SET", "list-max-listpack-size", "1")
        _enc_step(pair, "RPUSH", "z", *["item-%d-" % i * 9 for i in range(12)])
        same(pair, "CONFIG", "SET", "list-compress-depth", "0")
        same(pair, "DUMP", "z")                           # its inner nodes stay compressed
        same(pair, "RPUSH", "z2", *["item-%d-" % i * 9 for i in range(12)])
        same(pair, "DUMP", "z2")
    finally:
        for c in pair:
            c.cmd("CONFIG", "SET", "list-compress-depth", "0")


def test_lmove_within_one_list_converts_after_the_push(pair):
    """LMOVE/RPOPLPUSH with source = destination: Redis pushes, then tries the shrinking
    conversion (listElementsRemoved), so a two-item quicklist under fill 2 stays one."""
    same(pair, "RPUSH", "k", "", "70000")
    same(pair, "CONFIG", "SET", "list-max-listpack-size", "2")
    same(pair, "LSET", "k", "-3", "w")        # out of range, but converts first
    same(pair, "OBJECT", "ENCODING", "k")
    _enc_step(pair, "RPOPLPUSH", "k", "k")
    _enc_step(pair, "LMOVE", "k", "k", "LEFT", "RIGHT")
    same(pair, "DUMP", "k")


def test_copy_keeps_encoding(pair):
    same(pair, "RPUSH", "l", *["x" * 100] * 100)
    same(pair, "COPY", "l", "l2")
    same(pair, "OBJECT", "ENCODING", "l2")
    same(pair, "LRANGE", "l2", "0", "3")
    same(pair, "RPUSH", "s", "a")
    same(pair, "COPY", "s", "s2")
    same(pair, "OBJECT", "ENCODING", "s2")


# -- other behaviour -------------------------------------------------------------------------

def test_lrem_llong_min_removes_all_from_the_tail(r):
    """Redis 7.2.4 accepts any long for LREM's count (LLONG_MIN acts as "all, from the tail");
    Valkey 8.0 rejects -9223372036854775808 with a range error."""
    r.rpush("l", "b", "a", "b", "b")
    assert r.execute_command("LREM", "l", "-9223372036854775808", "b") == 3
    assert r.lrange("l", 0, -1) == [b"a"]


def test_resp3_null_shapes(r3):
    raw = Raw(r3.connection_pool.connection_kwargs["port"], 3)
    try:
        assert raw.cmd("LPOP", "none") == b"_\r\n"
        assert raw.cmd("LPOP", "none", "2") == b"_\r\n"
        assert raw.cmd("LMPOP", "1", "none", "LEFT") == b"_\r\n"
        assert raw.cmd("LINDEX", "none", "0") == b"_\r\n"
        assert raw.cmd("LPOS", "none", "a") == b"_\r\n"
        assert raw.cmd("RPOPLPUSH", "none", "x") == b"_\r\n"
    finally:
        raw.close()
    raw = Raw(r3.connection_pool.connection_kwargs["port"], 2)
    try:
        assert raw.cmd("LPOP", "none") == b"$-1\r\n"
        assert raw.cmd("LPOP", "none", "2") == b"*-1\r\n"
        assert raw.cmd("LMPOP", "1", "none", "LEFT") == b"*-1\r\n"
        assert raw.cmd("RPUSH", "l", "a") == b":1\r\n"
        assert raw.cmd("LPOP", "l", "0") == b"*0\r\n"
    finally:
        raw.close()


def test_empty_lists_are_deleted(r):
    for cmd in (("LPOP", "l"), ("RPOP", "l", "5"), ("LREM", "l", "0", "a"),
                ("LTRIM", "l", "1", "0"), ("LMOVE", "l", "x", "LEFT", "LEFT"),
                ("LMPOP", "1", "l", "RIGHT", "COUNT", "3"), ("RPOPLPUSH", "l", "y")):
        r.delete("l")
        r.rpush("l", "a")
        r.execute_command(*cmd)
        assert r.exists("l") == 0, cmd
        assert r.type("l") == b"none"


def test_read_lookups_count_hits_and_misses(r):
    r.rpush("l", "a")
    r.config_resetstat()
    r.llen("l")
    r.lindex("l", 0)
    r.lrange("l", 0, -1)
    r.lpos("l", "a")
    r.llen("none")
    r.lrange("none", 0, 1)
    info = r.info("stats")
    assert info["keyspace_hits"] == 4
    assert info["keyspace_misses"] == 2


def test_big_list_index_access_is_cheap(r):
    n = 200_000
    pipe = r.pipeline(transaction=False)
    for i in range(0, n, 10_000):
        pipe.rpush("big", *[str(j) for j in range(i, i + 10_000)])
    pipe.execute()
    assert r.llen("big") == n
    assert r.object("encoding", "big") == b"quicklist"
    t0 = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.lindex("big", n // 2 + i)
        pipe.lset("big", n // 2 - i, "x%d" % i)
    res = pipe.execute()
    elapsed = time.perf_counter() - t0
    assert res[0] == str(n // 2).encode()
    assert r.lindex("big", n // 2 - 7) == b"x7"
    assert r.lrange("big", n - 2, n) == [str(n - 2).encode(), str(n - 1).encode()]
    assert elapsed < 5.0, elapsed


def test_keyspace_events(server):
    c = server.client()
    c.config_set("notify-keyspace-events", "KEA")
    try:
        p = c.pubsub()
        p.psubscribe("__keyspace@0__:*")
        p.get_message(timeout=1)
        c.rpush("l", "a", "b")
        c.lpush("l", "z")
        c.lset("l", 0, "y")
        c.linsert("l", "before", "y", "w")
        c.lrem("l", 1, "w")
        c.ltrim("l", 0, 1)
        c.lpop("l")
        c.rpop("l")
        events = []
        deadline = time.time() + 5
        while len(events) < 10 and time.time() < deadline:
            m = p.get_message(timeout=1)
            if m and m["type"] == "pmessage":
                events.append(m["data"])
        assert events == [b"rpush", b"lpush", b"lset", b"linsert", b"lrem", b"ltrim", b"lpop",
                          b"rpop", b"del"][:len(events)]
        assert len(events) == 9
        p.close()
    finally:
        c.config_set("notify-keyspace-events", "")
        c.close()


def test_wrong_arity(r):
    for args in (("LPUSH", "k"), ("LINSERT", "k", "before", "a"), ("LMOVE", "a", "b", "left"),
                 ("BLPOP", "k"), ("BLMOVE", "a", "b", "left", "left"), ("BLMPOP", "0", "1", "k"),
                 ("LMPOP", "1", "k"), ("BRPOPLPUSH", "a", "b"), ("LREM", "k", "0")):
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            r.execute_command(*args)
