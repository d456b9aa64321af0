"""The string command family (GET SET ... LCS) against Redis 7.2.4's behaviour.

Most tests send the same commands to valkeyd and to a real valkey-server over raw sockets and
compare the reply bytes exactly, in RESP2 and RESP3. Where Valkey 8.0 and Redis 7.2.4 differ the
Redis behaviour is asserted on its own (see the comments).
"""
from __future__ import annotations

import os
import random
import time

import pytest


from harness import RawClient as Raw, aof_commands, same_raw as same, start_valkeyd

# -- a raw RESP client: exact reply bytes ---------------------------------------------------------




def has_command(r, name: str) -> bool:
    """True if the server knows the command (COMMAND INFO replies a null element otherwise)."""
    port = r.connection_pool.connection_kwargs["port"]
    c = Raw(port)
    try:
        return c.cmd("COMMAND", "INFO", name) not in (b"*1\r\n*-1\r\n", b"*1\r\n$-1\r\n")
    finally:
        c.close()


def need(r, *names):
    for n in names:
        assert has_command(r, n), f"{n.upper()} is missing from valkeyd"


# -- GET / SET ------------------------------------------------------------------------------------


def test_get_set_basic(rr):
    assert rr.get("k") is None
    assert rr.set("k", b"hello") is True
    assert rr.get("k") == b"hello"
    assert rr.set("k", b"\x00\xff\r\n bin") is True
    assert rr.get("k") == b"\x00\xff\r\n bin"
    assert rr.set("empty", b"") is True
    assert rr.get("empty") == b""
    big = os.urandom(100_000)
    assert rr.set("big", big) is True
    assert rr.get("big") == big


SET_CASES = [
    ("SET", "k", "v"),
    ("SET", "k", "v2", "NX"),
    ("SET", "k", "v3", "XX"),
    ("SET", "n", "v", "XX"),
    ("GET", "n"),
    ("SET", "n", "v", "nx"),
    ("SET", "k", "v4", "GET"),
    ("SET", "k", "v5", "get", "get"),
    ("SET", "new1", "v", "GET"),
    ("SET", "k", "v6", "NX", "GET"),
    ("SET", "k", "v7", "XX", "GET"),
    ("SET", "new2", "v", "XX", "GET"),
    ("SET", "new3", "v", "NX", "GET"),
    ("GET", "k"),
    ("SET", "k", "v", "NX", "XX"),
    ("SET", "k", "v", "XX", "NX"),
    ("SET", "k", "v", "NX", "NX"),
    ("SET", "k", "v", "EX", "10", "PX", "100"),
    ("SET", "k", "v", "EX", "10", "KEEPTTL"),
    ("SET", "k", "v", "KEEPTTL", "EX", "10"),
    ("SET", "k", "v", "KEEPTTL", "KEEPTTL"),
    ("SET", "k", "v", "PXAT", "1", "EXAT", "1"),
    ("SET", "k", "v", "EX", "10", "EX", "20"),
    ("SET", "k", "v", "PX", "100", "PX", "200"),
    ("SET", "k", "v", "EX"),
    ("SET", "k", "v", "PX"),
    ("SET", "k", "v", "EXAT"),
    ("SET", "k", "v", "PXAT"),
    ("SET", "k", "v", "EX", "0"),
    ("SET", "k", "v", "EX", "-1"),
    ("SET", "k", "v", "PX", "0"),
    ("SET", "k", "v", "PX", "-5"),
    ("SET", "k", "v", "EXAT", "0"),
    ("SET", "k", "v", "PXAT", "-1"),
    ("SET", "k", "v", "EX", "abc"),
    ("SET", "k", "v", "EX", "1.5"),
    ("SET", "k", "v", "EX", " 10"),
    ("SET", "k", "v", "EX", "+10"),
    ("SET", "k", "v", "EX", "010"),
    ("SET", "k", "v", "EX", "9223372036854775807"),
    ("SET", "k", "v", "EX", "9223372036854775"),
    ("SET", "k", "v", "EX", "9223372036854776"),
    ("SET", "k", "v", "PX", "9223372036854775807"),
    ("SET", "k", "v", "EX", "9223372036854775808"),
    ("SET", "k", "v", "EXAT", "9223372036854776"),
    ("SET", "k", "v", "PXAT", "9223372036854775807"),
    ("SET", "k", "v", "EXAT", "9223372036854775"),
    ("SET", "k", "v", "PERSIST"),
    ("SET", "k", "v", "FOO"),
    ("SET", "k", "v", "NX", "FOO"),
    ("SET", "k", "v", "EX", "10", "GET", "FOO"),
    ("SET", "k", "v", "GET", "EX", "0"),
    ("SET", "k", "v", "NX\x00zz"),
    ("SET", "k", "v", "EXA"),
    ("SET", "k"),
    ("SET",),
    ("SET", "k", "v", "ex", "100", "nx"),
    ("SET", "k", "v", "ex", "100", "xx", "get"),
    ("SET", "k", "v", "pxat", "99999999999999", "get"),
    ("SET", "k", "v", "keepttl", "xx", "get"),
    ("SET", "k", "v", "exat", "99999999999", "nx", "get"),
]


def test_set_options_match_reference(pair):
    for case in SET_CASES:
        same(pair, *case)
        same(pair, "GET", "k")
        same(pair, "GET", "n")


def test_set_get_returns_old_value(rr):
    assert rr.set("k", "v1", get=True) is None
    assert rr.set("k", "v2", get=True) == b"v1"
    assert rr.set("k", "v3", nx=True, get=True) == b"v2"
    assert rr.get("k") == b"v2"
    assert rr.set("k", "v4", xx=True, get=True) == b"v2"
    assert rr.get("k") == b"v4"
    assert rr.set("missing", "x", xx=True, get=True) is None
    assert rr.get("missing") is None


def test_set_nx_xx_replies(rr):
    assert rr.set("k", "v", nx=True) is True
    assert rr.set("k", "v2", nx=True) is None
    assert rr.get("k") == b"v"
    assert rr.set("k", "v3", xx=True) is True
    assert rr.set("other", "v3", xx=True) is None
    assert rr.get("other") is None


def test_set_expire_precision(r):
    assert r.set("k", "v", px=150) is True
    assert r.get("k") == b"v"
    time.sleep(0.35)
    assert r.get("k") is None
    # EX is in seconds
    r.set("k", "v", ex=1)
    time.sleep(0.4)
    assert r.get("k") == b"v"
    time.sleep(0.9)
    assert r.get("k") is None
    # absolute times
    now_ms = int(time.time() * 1000)
    r.set("a", "v", pxat=now_ms + 200)
    r.set("b", "v", exat=int(time.time()) + 100)
    assert r.get("a") == b"v"
    time.sleep(0.4)
    assert r.get("a") is None
    assert r.get("b") == b"v"
    # an absolute time in the past: OK, and the key is gone
    assert r.set("c", "v", pxat=1) is True
    assert r.get("c") is None
    assert r.set("c", "v", exat=1) is True
    assert r.get("c") is None


def test_set_keepttl_and_plain_set_clears_ttl(r):
    r.set("k", "v", px=200)
    r.set("k", "v2", keepttl=True)
    r.set("j", "v", px=200)
    r.set("j", "v2")
    r.set("g", "v", px=200)
    assert r.getset("g", "v2") == b"v"
    time.sleep(0.45)
    assert r.get("k") is None
    assert r.get("j") == b"v2"
    assert r.get("g") == b"v2"


def test_set_ttl_values(r):
    need(r, "pttl", "ttl")
    r.set("k", "v", ex=100)
    assert 99_000 < r.pttl("k") <= 100_000
    r.set("k", "v", px=5000)
    assert 4000 < r.pttl("k") <= 5000
    r.set("k", "v", keepttl=True)
    assert 4000 < r.pttl("k") <= 5000
    r.set("k", "v", exat=int(time.time()) + 50)
    assert 48 <= r.ttl("k") <= 50
    r.set("k", "v", pxat=int(time.time() * 1000) + 50_000)
    assert 48_000 < r.pttl("k") <= 50_000
    r.set("k", "v")
    assert r.pttl("k") == -1
    r.setex("k", 30, "v")
    assert 29_000 < r.pttl("k") <= 30_000
    r.psetex("k", 3000, "v")
    assert 2000 < r.pttl("k") <= 3000
    r.set("k", "v", px=3000)
    r.incr("n")
    r.set("n", "5", px=3000)
    assert r.incr("n") == 6
    assert 2000 < r.pttl("n") <= 3000  # INCR keeps the TTL
    assert r.incrbyfloat("n", 1.5) == 7.5
    assert 2000 < r.pttl("n") <= 3000
    r.append("k", "x")
    assert 2000 < r.pttl("k") <= 3000
    r.setrange("k", 0, "y")
    assert 2000 < r.pttl("k") <= 3000
    assert r.get("k") == b"yx"


# -- SETNX SETEX PSETEX GETSET GETDEL -----------------------------------------------------------


def test_setnx_setex_psetex_match_reference(pair):
    cases = [
        ("SETNX", "k", "v"), ("SETNX", "k", "v2"), ("GET", "k"), ("SETNX", "k"),
        ("SETEX", "k", "10", "v3"), ("GET", "k"), ("SETEX", "k", "0", "v"),
        ("SETEX", "k", "-10", "v"), ("SETEX", "k", "x", "v"), ("SETEX", "k", "10"),
        ("SETEX", "k", "9223372036854775807", "v"), ("SETEX", "k", "9223372036854775", "v"),
        ("PSETEX", "k", "1000", "v4"), ("GET", "k"), ("PSETEX", "k", "0", "v"),
        ("PSETEX", "k", "-1", "v"), ("PSETEX", "k", "1.5", "v"),
        ("PSETEX", "k", "9223372036854775807", "v"), ("GET", "k"),
    ]
    for case in cases:
        same(pair, *case)


def test_setex_psetex_expire(r):
    assert r.setex("k", 1, "v") is True
    assert r.psetex("p", 150, "v") is True
    assert r.get("p") == b"v"
    time.sleep(0.35)
    assert r.get("p") is None
    assert r.get("k") == b"v"
    time.sleep(0.9)
    assert r.get("k") is None


def test_getset_getdel_match_reference(pair):
    cases = [
        ("GETSET", "k", "v1"), ("GETSET", "k", "v2"), ("GET", "k"), ("GETSET", "k"),
        ("GETDEL", "k"), ("GETDEL", "k"), ("GET", "k"), ("GETDEL", "k", "x"),
        ("SET", "n", "123"), ("GETDEL", "n"), ("GETSET", "n", "7"), ("GET", "n"),
    ]
    for case in cases:
        same(pair, *case)


def test_getdel_removes_ttl_and_key(r):
    r.set("k", "v", px=100_000)
    assert r.getdel("k") == b"v"
    assert r.get("k") is None
    r.set("k", "x")
    assert r.get("k") == b"x"


# -- GETEX --------------------------------------------------------------------------------------


GETEX_CASES = [
    ("GETEX", "k"),
    ("GETEX", "missing", "EX", "10"),
    ("GETEX", "missing", "EX", "-10"),     # missing key: nil even with a bad time
    ("GETEX", "missing", "FOO"),          # ... but syntax is checked first
    ("GETEX", "k", "EX", "10"),
    ("GETEX", "k", "PX", "10000"),
    ("GETEX", "k", "EXAT", "99999999999"),
    ("GETEX", "k", "PXAT", "99999999999999"),
    ("GETEX", "k", "PERSIST"),
    ("GETEX", "k", "persist", "persist"),
    ("GETEX", "k", "EX", "0"),
    ("GETEX", "k", "EX", "-1"),
    ("GETEX", "k", "PX", "0"),
    ("GETEX", "k", "EXAT", "0"),
    ("GETEX", "k", "EX", "abc"),
    ("GETEX", "k", "EX", "9223372036854775807"),
    ("GETEX", "k", "PX", "9223372036854775807"),
    ("GETEX", "k", "EX", "10", "PX", "10"),
    ("GETEX", "k", "EX", "10", "PERSIST"),
    ("GETEX", "k", "PERSIST", "EX", "10"),
    ("GETEX", "k", "EX", "10", "EX", "20"),
    ("GETEX", "k", "EX"),
    ("GETEX", "k", "KEEPTTL"),
    ("GETEX", "k", "NX"),
    ("GETEX", "k", "XX"),
    ("GETEX", "k", "GET"),
    ("GETEX", "k", "FOO"),
    ("GETEX",),
    ("GET", "k"),
]


def test_getex_matches_reference(pair):
    same(pair, "SET", "k", "value")
    for case in GETEX_CASES:
        same(pair, *case)


def test_getex_expiry(r):
    r.set("k", "v")
    assert r.getex("k", px=150) == b"v"
    assert r.get("k") == b"v"
    time.sleep(0.35)
    assert r.get("k") is None
    r.set("k", "v", px=150)
    assert r.getex("k", persist=True) == b"v"
    time.sleep(0.35)
    assert r.get("k") == b"v"
    # an absolute time in the past deletes the key at once (and still returns the value)
    assert r.getex("k", pxat=1) == b"v"
    assert r.get("k") is None
    r.set("k", "v")
    assert r.getex("k", exat=int(time.time()) - 10) == b"v"
    assert r.get("k") is None
    r.set("k", "v")
    assert r.getex("k", exat=int(time.time()) + 1) == b"v"
    assert r.get("k") == b"v"
    time.sleep(2.1)
    assert r.get("k") is None


def test_getex_ttl(r):
    need(r, "pttl")
    r.set("k", "v")
    r.getex("k", ex=100)
    assert 99_000 < r.pttl("k") <= 100_000
    r.getex("k")
    assert 99_000 < r.pttl("k") <= 100_000
    r.getex("k", persist=True)
    assert r.pttl("k") == -1


# -- MGET MSET MSETNX -----------------------------------------------------------------------------


def test_mset_mget_msetnx_match_reference(pair):
    cases = [
        ("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "c"), ("MSET", "a"),
        ("MSET", "a", "1", "b"), ("MSET",), ("MGET",), ("MSETNX", "a", "x", "z", "y"),
        ("MGET", "a", "z"), ("MSETNX", "x", "1", "y", "2"), ("MGET", "x", "y"),
        ("MSETNX", "p", "1", "p", "2"), ("GET", "p"), ("MSETNX", "q", "1", "r"),
        ("MSET", "a", "A", "a", "B"), ("GET", "a"), ("MGET", "a", "a", "missing", "b"),
    ]
    for case in cases:
        same(pair, *case)


def test_mset_clears_ttl(r):
    r.set("a", "1", px=150)
    r.mset({"a": "2", "b": "3"})
    time.sleep(0.3)
    assert r.mget("a", "b") == [b"2", b"3"]


def test_msetnx_respects_expired_keys(r):
    r.set("a", "1", px=50)
    time.sleep(0.15)
    assert r.msetnx({"a": "new", "b": "x"}) is True
    assert r.mget("a", "b") == [b"new", b"x"]


# -- APPEND STRLEN SETRANGE GETRANGE SUBSTR -------------------------------------------------------


def test_append_strlen_match_reference(pair):
    cases = [
        ("APPEND", "k", "hello"), ("APPEND", "k", " world"), ("GET", "k"), ("STRLEN", "k"),
        ("STRLEN", "missing"), ("APPEND", "k", ""), ("STRLEN", "k"), ("APPEND", "e", ""),
        ("GET", "e"), ("SET", "n", "12345"), ("STRLEN", "n"), ("APPEND", "n", "6"),
        ("GET", "n"), ("INCR", "n"), ("APPEND", "k"), ("STRLEN", "k", "x"),
    ]
    for case in cases:
        same(pair, *case)


def test_setrange_match_reference(pair):
    cases = [
        ("SETRANGE", "k", "0", "hello"), ("SETRANGE", "k", "6", "world"), ("GET", "k"),
        ("SETRANGE", "k", "1", "EL"), ("GET", "k"), ("SETRANGE", "k", "-1", "x"),
        ("SETRANGE", "k", "abc", "x"), ("SETRANGE", "k", "1.0", "x"),
        ("SETRANGE", "k", "0", ""), ("SETRANGE", "missing", "10", ""), ("GET", "missing"),
        ("SETRANGE", "missing", "-1", ""), ("SETRANGE", "z", "3", "x"), ("GET", "z"),
        ("SET", "n", "1234"), ("SETRANGE", "n", "1", "9"), ("GET", "n"), ("INCR", "n"),
        ("SETRANGE", "n", "0", ""), ("SETRANGE", "k", "536870911", ""),
        ("SETRANGE", "k", "536870912", "x"), ("SETRANGE", "new", "536870912", "x"),
        ("SETRANGE", "new", "536870911", "xy"), ("SETRANGE", "new", "9223372036854775807", "x"),
        ("SETRANGE", "new", "9223372036854775808", "x"), ("EXISTS", "new"),
        ("SETRANGE", "k", "1"),
    ]
    for case in cases:
        same(pair, *case)


def test_getrange_substr_all_index_pairs(pair):
    same(pair, "SET", "k", "Hello World")
    same(pair, "SET", "n", "1234567")
    same(pair, "SET", "e", "")
    for key in ("k", "n", "e", "missing"):
        for cmd in ("GETRANGE", "SUBSTR"):
            for s in range(-14, 14, 3):
                for e in range(-14, 14):
                    same(pair, cmd, key, str(s), str(e))
    for case in [
        ("GETRANGE", "k", "0", "-1"), ("GETRANGE", "k", "-9223372036854775808", "-1"),
        ("GETRANGE", "k", "0", "9223372036854775807"), ("GETRANGE", "k", "a", "1"),
        ("GETRANGE", "k", "0", "b"), ("GETRANGE", "missing", "x", "1"),
        ("GETRANGE", "k", "0"), ("SUBSTR", "k", "0"), ("GETRANGE", "k", "-1", "-5"),
    ]:
        same(pair, *case)


def test_setrange_append_binary(r):
    assert r.setrange("k", 5, b"\x00\xff") == 7
    assert r.get("k") == b"\x00" * 5 + b"\x00\xff"
    assert r.append("k", b"\r\n") == 9
    assert r.getrange("k", 5, -1) == b"\x00\xff\r\n"


def test_string_size_limit(pair):
    ours, theirs = pair
    for c in (ours, theirs):
        assert c.cmd("CONFIG", "SET", "proto-max-bulk-len", "1048576")[:1] == b"+"
    try:
        same(pair, "SET", "k", "x" * 1048570)
        same(pair, "APPEND", "k", "123456")
        same(pair, "APPEND", "k", "1234567")
        same(pair, "STRLEN", "k")
        same(pair, "SETRANGE", "k", "1048575", "x")
        same(pair, "SETRANGE", "k", "1048575", "xy")
        same(pair, "SETRANGE", "k", "1048576", "")
        same(pair, "SETRANGE", "j", "1048576", "x")
        same(pair, "SETRANGE", "j", "1048575", "x")
        same(pair, "STRLEN", "j")
        same(pair, "STRLEN", "k")
    finally:
        for c in (ours, theirs):
            c.cmd("CONFIG", "SET", "proto-max-bulk-len", "536870912")


# -- INCR family ----------------------------------------------------------------------------------


INCR_CASES = [
    ("INCR", "n"), ("INCR", "n"), ("DECR", "n"), ("DECR", "m"), ("INCRBY", "n", "10"),
    ("INCRBY", "n", "-100"), ("DECRBY", "n", "5"), ("DECRBY", "n", "-5"), ("GET", "n"),
    ("INCRBY", "n", "abc"), ("INCRBY", "n", "1.5"), ("INCRBY", "n", " 1"), ("INCRBY", "n", "+1"),
    ("INCRBY", "n", "01"), ("INCRBY", "n", ""), ("INCRBY", "n", "9223372036854775808"),
    ("DECRBY", "n", "-9223372036854775808"), ("DECRBY", "n", "9223372036854775807"),
    ("DECRBY", "n", "x"),
    ("SET", "big", "9223372036854775806"), ("INCR", "big"), ("INCR", "big"), ("GET", "big"),
    ("INCRBY", "big", "-1"), ("INCRBY", "big", "1"), ("INCRBY", "big", "1"),
    ("SET", "small", "-9223372036854775807"), ("DECR", "small"), ("DECR", "small"),
    ("DECRBY", "small", "1"), ("INCRBY", "small", "-1"), ("GET", "small"),
    ("SET", "s", "abc"), ("INCR", "s"), ("DECR", "s"), ("INCRBY", "s", "1"),
    ("SET", "s", " 1"), ("INCR", "s"), ("SET", "s", "1 "), ("INCR", "s"),
    ("SET", "s", "+1"), ("INCR", "s"), ("SET", "s", "01"), ("INCR", "s"),
    ("SET", "s", "1.0"), ("INCR", "s"), ("SET", "s", ""), ("INCR", "s"),
    ("SET", "s", "-0"), ("INCR", "s"), ("SET", "s", "9223372036854775808"), ("INCR", "s"),
    ("SET", "s", "0"), ("INCR", "s"), ("GET", "s"), ("SET", "s", "-1"), ("INCR", "s"),
    ("INCR",), ("INCR", "a", "b"), ("INCRBY", "n"), ("DECRBY", "n", "1", "2"),
]


def test_incr_family_matches_reference(pair):
    for case in INCR_CASES:
        same(pair, *case)


def test_incr_on_appended_value(r):
    r.set("n", "1")
    r.append("n", "0")  # a raw (in-place modified) string is still parsed
    assert r.incr("n") == 11
    r.setrange("n", 0, "2")
    assert r.incrby("n", 5) == 26
    assert r.get("n") == b"26"


INCRBYFLOAT_FIXED = [
    (None, "10.5"), ("10.5", "0.1"), ("0", "0.1"), (None, "3.0e3"), (None, "5.0e3"),
    ("1", "-1"), ("-1", "0.5"), (None, "1e300"), (None, "-1e300"), ("1", "1e-20"),
    ("-1e-20", "0"), (None, "inf"), (None, "-inf"), (None, "+inf"), ("inf", "1"),
    ("-inf", "inf"), (None, "nan"), (None, "NaN"), ("nan", "1"), (None, "0x1p3"),
    (None, "0x1.8p-2"), (None, "0x"), (None, "1e4932"), (None, "1e4933"), (None, "1e-4950"),
    (None, "1e-4952"), (None, "1e-5000"), (None, "1e5000"), (None, "-0"), (None, "0.0"),
    (None, "+.5"), (None, "5."), (None, "."), (None, " 1"), (None, "1 "), (None, "1e"),
    (None, "1e+"), (None, "abc"), (None, ""), ("abc", "1"), (" 1", "1"), ("1 ", "1"),
    (None, "1.5\x00"), (None, "Infinity"), (None, "infinit"), (None, "0X1P-16445"),
    (None, "0x1.ffffffffffffffffp16383"), (None, "0x1.fffffffffffffffep16383"),
    ("1.18973149535723176502e4932", "1.18973149535723176502e4932"),
    ("9223372036854775807", "1"), ("17179869184", "1.5"), ("1.23456789012345678", "0"),
    ("0.1", "0.2"), ("1e16", "0.01"), ("123456789012345678901234567890", "0.123"),
    ("10", "-10"), ("1", "-1.0000000000000000001"), (None, "1" * 5119), (None, "1" * 5120),
    ("5", "1" + "0" * 4000), (None, "0." + "0" * 4500 + "1"),
]


def test_incrbyfloat_matches_reference(pair):
    for cur, inc in INCRBYFLOAT_FIXED:
        same(pair, "DEL", "k")
        if cur is not None:
            same(pair, "SET", "k", cur)
        same(pair, "INCRBYFLOAT", "k", inc)
        same(pair, "GET", "k")
    same(pair, "INCRBYFLOAT", "k")
    same(pair, "INCRBYFLOAT", "k", "1", "2")


def _rand_number(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.2:
        return str(rng.randint(-10**6, 10**6))
    if k < 0.4:
        return repr(rng.uniform(-1e3, 1e3))
    if k < 0.55:
        return "%.*fe%d" % (rng.randint(0, 20), rng.uniform(-10, 10), rng.randint(-40, 40))
    if k < 0.75:
        return "0." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
    if k < 0.85:
        return "%.25e" % rng.uniform(-1e20, 1e20)
    return str(rng.randint(-2**70, 2**70)) + "." + str(rng.randint(0, 10**20))


def test_incrbyfloat_random_matches_reference(pair):
    rng = random.Random(7)
    for _ in range(300):
        same(pair, "DEL", "k")
        if rng.random() < 0.7:
            same(pair, "SET", "k", _rand_number(rng))
        for _ in range(rng.randint(1, 4)):
            same(pair, "INCRBYFLOAT", "k", _rand_number(rng))


def test_incrbyfloat_redis_py(rr):
    assert rr.incrbyfloat("k", 10.5) == 10.5
    assert rr.incrbyfloat("k", 0.1) == pytest.approx(10.6)
    assert rr.get("k") == b"10.6"
    rr.set("j", "3")
    assert rr.incrbyfloat("j", "3.0e3") == 3003
    assert rr.get("j") == b"3003"


# -- LCS ------------------------------------------------------------------------------------------


LCS_OPTS = [
    (), ("LEN",), ("IDX",), ("IDX", "WITHMATCHLEN"), ("IDX", "MINMATCHLEN", "2"),
    ("IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"), ("WITHMATCHLEN", "IDX", "MINMATCHLEN", "-5"),
    ("len", "minmatchlen", "4"), ("idx", "idx"), ("MINMATCHLEN", "1"), ("WITHMATCHLEN",),
]


def test_lcs_fixed_matches_reference(pair):
    same(pair, "MSET", "a", "ohmytext", "b", "mynewtext", "r1",
         "ACCGGTCGAGTGCGCGGAAGCCGGCCGAA", "r2", "GTCGTTCGGAATGCCGTTGCTCTGTAAA")
    for k1, k2 in [("a", "b"), ("b", "a"), ("r1", "r2"), ("r2", "r1"), ("a", "missing"),
                   ("missing", "a"), ("missing", "nope"), ("a", "a")]:
        for opts in LCS_OPTS:
            same(pair, "LCS", k1, k2, *opts)
    for case in [
        ("LCS", "a", "b", "LEN", "IDX"), ("LCS", "a", "b", "IDX", "LEN"),
        ("LCS", "a", "b", "MINMATCHLEN"), ("LCS", "a", "b", "MINMATCHLEN", "x"),
        ("LCS", "a", "b", "MINMATCHLEN", "1.5"), ("LCS", "a", "b", "FOO"),
        ("LCS", "a", "b", "IDX", "FOO"), ("LCS", "a"), ("LCS", "a", "b", "LEN", "FOO"),
    ]:
        same(pair, *case)


def test_lcs_random_matches_reference(pair):
    rng = random.Random(11)
    for _ in range(60):
        alpha = rng.choice(["ab", "abc", "ACGT", "abcdefghij"])
        a = "".join(rng.choice(alpha) for _ in range(rng.randint(1, 60)))
        b = "".join(rng.choice(alpha) for _ in range(rng.randint(1, 60)))
        same(pair, "MSET", "a", a, "b", b)
        opts = rng.choice(LCS_OPTS[:7])
        same(pair, "LCS", "a", "b", *opts)
        same(pair, "LCS", "b", "a", *opts)


def test_lcs_large_matches_reference(pair):
    rng = random.Random(5)
    for alen, blen in [(2000, 1500), (1500, 2000), (3, 20000), (20000, 3), (1, 1)]:
        a = "".join(rng.choice("ACGT") for _ in range(alen))
        b = "".join(rng.choice("ACGT") for _ in range(blen))
        same(pair, "MSET", "a", a, "b", b)
        same(pair, "LCS", "a", "b", "LEN")
        same(pair, "LCS", "a", "b")
        same(pair, "LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")


def test_lcs_memory_limit(pair):
    ours, theirs = pair
    same(pair, "MSET", "a", "x" * 600, "b", "y" * 600)
    for c in (ours, theirs):
        assert c.cmd("CONFIG", "SET", "proto-max-bulk-len", "1048576")[:1] == b"+"
    try:
        same(pair, "LCS", "a", "b")
        same(pair, "SET", "b", "y" * 400)
        same(pair, "LCS", "a", "b", "LEN")
    finally:
        for c in (ours, theirs):
            c.cmd("CONFIG", "SET", "proto-max-bulk-len", "536870912")


def test_lcs_reply_shapes(server):
    c2 = server.client(2)
    c3 = server.client(3)
    c2.flushall()
    c2.mset({"a": "ohmytext", "b": "mynewtext"})
    r2 = c2.execute_command("LCS", "a", "b", "IDX", "WITHMATCHLEN")
    r3 = c3.execute_command("LCS", "a", "b", "IDX", "WITHMATCHLEN")
    expected = [[[4, 7], [5, 8], 4], [[2, 3], [0, 1], 2]]
    assert r2 == [b"matches", expected, b"len", 6]
    assert r3 == {b"matches": expected, b"len": 6}
    assert c2.execute_command("LCS", "a", "b") == b"mytext"
    assert c3.execute_command("LCS", "a", "b", "LEN") == 6
    c2.close()
    c3.close()


# -- type errors ----------------------------------------------------------------------------------


def test_wrongtype_errors_match_reference(pair, r):
    need(r, "lpush")
    same(pair, "LPUSH", "l", "x")
    same(pair, "SET", "s", "v")
    for case in [
        ("GET", "l"), ("SET", "l", "v", "GET"), ("SET", "l", "v", "NX", "GET"),
        ("GETSET", "l", "v"), ("GETDEL", "l"), ("GETEX", "l"), ("GETEX", "l", "EX", "10"),
        ("GETEX", "l", "EX", "-1"), ("APPEND", "l", "x"), ("STRLEN", "l"),
        ("SETRANGE", "l", "0", "x"), ("SETRANGE", "l", "0", ""), ("SETRANGE", "l", "-1", "x"),
        ("GETRANGE", "l", "0", "1"), ("SUBSTR", "l", "0", "1"), ("INCR", "l"), ("DECR", "l"),
        ("INCRBY", "l", "1"), ("INCRBY", "l", "x"), ("DECRBY", "l", "1"),
        ("INCRBYFLOAT", "l", "1"), ("INCRBYFLOAT", "l", "x"), ("MGET", "s", "l", "s"),
        ("LCS", "l", "s"), ("LCS", "s", "l"), ("LCS", "l", "s", "FOO"),
        ("SETNX", "l", "v"), ("MSETNX", "l", "v"),
        ("SET", "l", "v", "XX"), ("GET", "l"),
    ]:
        same(pair, *case)


# -- OBJECT ENCODING ------------------------------------------------------------------------------


def _encoding(raw: Raw, key: str) -> bytes:
    return raw.cmd("OBJECT", "ENCODING", key)


def test_object_encoding_matches_reference(pair, r):
    need(r, "object")
    steps = [
        ("SET", "i", "12345"), ("SET", "neg", "-9223372036854775808"),
        ("SET", "big", "9223372036854775808"), ("SET", "e", "hello"), ("SET", "sp", " 1"),
        ("SET", "r", "x" * 45), ("SET", "e44", "x" * 44), ("SET", "z", "01"),
        ("APPEND", "a", "123"), ("APPEND", "a2", "123"), ("APPEND", "a2", "4"),
        ("APPEND", "a3", "hello"), ("APPEND", "a3", ""), ("SETRANGE", "sr", "0", "12"),
        ("SET", "sr2", "12"), ("SETRANGE", "sr2", "0", "3"), ("INCR", "c"),
        ("SET", "c2", "abc"), ("SET", "c2", "10"), ("INCRBY", "c2", "5"),
        ("SET", "f", "1.5"), ("INCRBYFLOAT", "f", "1.25"), ("MSET", "m1", "7", "m2", "x"),
        ("GETSET", "gs", "99"), ("SETEX", "se", "100", "5"), ("SETNX", "sn", "x" * 50),
        ("SET", "sg", "55", "GET"),
    ]
    for s in steps:
        same(pair, *s)
    for key in ("i", "neg", "big", "e", "sp", "r", "e44", "z", "a", "a2", "a3", "sr", "sr2",
                "c", "c2", "f", "m1", "m2", "gs", "se", "sn", "sg"):
        x, y = _encoding(pair[0], key), _encoding(pair[1], key)
        assert x == y, f"OBJECT ENCODING {key}: {x!r} != {y!r}"


# -- propagation (AOF) and keyspace events ------------------------------------------------------


def test_propagation_rewrites(tmp_path):
    # the AOF is the memory engine's persistence (the lmdb engine writes none), so this
    # propagation check runs on it whatever VALKEYD_ENGINE says
    s = start_valkeyd("--appendonly", "yes", "--appendfsync", "always", "--save", "",
                      workdir=str(tmp_path), engine="memory")
    try:
        c = s.client(2)
        t0 = int(time.time() * 1000)
        c.set("a", "1", ex=100)
        c.set("b", "1", px=5000)
        c.execute_command("SET", "c", "1", "PXAT", t0 + 99999, "GET")   # the argument order is ours
        c.set("d", "1", exat=t0 // 1000 + 50)
        c.set("e", "1", get=True)
        c.execute_command("SET", "e", "2", "GET", "KEEPTTL", "get")
        c.setex("f", 10, "v")
        c.psetex("g", 1000, "v")
        c.set("h", "1.5")
        c.incrbyfloat("h", "1")
        c.getset("i", "x")
        c.getdel("i")
        c.getdel("i")  # nothing deleted: nothing propagated
        c.set("j", "v")
        c.getex("j", ex=100)
        c.getex("j", persist=True)
        c.getex("j", persist=True)  # no TTL: nothing propagated
        c.getex("j")
        c.getex("j", pxat=1)
        c.set("k", "v", nx=True)
        c.set("k", "v", nx=True)  # not set: nothing propagated
        c.execute_command("INCR", "n")   # (redis-py's incr() sends INCRBY n 1)
        t1 = int(time.time() * 1000)
        c.close()
        time.sleep(0.3)
        cmds = aof_commands(str(tmp_path))
        assert cmds, 'nothing was written to the AOF'
    finally:
        s.stop()

    def at(cmd, lo, hi):
        assert len(cmd) == 5 and lo <= int(cmd[4]) <= hi, cmd

    it = iter(cmds)
    x = next(it)
    assert x[:4] == [b"SET", b"a", b"1", b"PXAT"]
    at(x, t0 + 100_000, t1 + 100_000)
    x = next(it)
    assert x[:4] == [b"SET", b"b", b"1", b"PXAT"]
    at(x, t0 + 5000, t1 + 5000)
    # PXAT is already absolute: propagated as sent (GET included)
    assert next(it) == [b"SET", b"c", b"1", b"PXAT", b"%d" % (t0 + 99999), b"GET"]
    x = next(it)
    assert x == [b"SET", b"d", b"1", b"PXAT", b"%d" % ((t0 // 1000 + 50) * 1000)]
    assert next(it) == [b"SET", b"e", b"1"]
    assert next(it) == [b"SET", b"e", b"2", b"KEEPTTL"]
    x = next(it)
    assert x[:4] == [b"SET", b"f", b"v", b"PXAT"]
    at(x, t0 + 10_000, t1 + 10_000)
    x = next(it)
    assert x[:4] == [b"SET", b"g", b"v", b"PXAT"]
    at(x, t0 + 1000, t1 + 1000)
    assert next(it) == [b"SET", b"h", b"1.5"]
    assert next(it) == [b"SET", b"h", b"2.5", b"KEEPTTL"]
    assert next(it) == [b"SET", b"i", b"x"]
    assert next(it) == [b"DEL", b"i"]
    assert next(it) == [b"SET", b"j", b"v"]
    x = next(it)
    assert x[:2] == [b"PEXPIREAT", b"j"] and t0 + 100_000 <= int(x[2]) <= t1 + 100_000
    assert next(it) == [b"PERSIST", b"j"]
    assert next(it) == [b"DEL", b"j"]
    assert next(it) == [b"SET", b"k", b"v", b"NX"]
    assert next(it) == [b"INCR", b"n"]
    assert next(it, None) is None


def test_keyspace_events(server):
    c = server.client(2)
    c.flushall()
    c.config_set("notify-keyspace-events", "KEA")
    p = server.client(2).pubsub()
    p.psubscribe("__keyspace@0__:*")
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    try:
        c.set("k", "v")
        c.set("k", "v", ex=100)
        c.append("k", "x")
        c.setrange("k", 0, "y")
        c.set("n", "1")
        c.incr("n")
        c.incrbyfloat("n", "1.5")
        c.getex("k", ex=10)
        c.getex("k", persist=True)
        c.getdel("k")
        c.set("k", "v", nx=True)
        c.set("k", "v", nx=True)
        c.mset({"m": "1"})
        got = []
        deadline = time.time() + 3
        while time.time() < deadline and len(got) < 15:
            m = p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                got.append((m["channel"].split(b":", 1)[1], m["data"]))
        assert got == [
            (b"k", b"set"), (b"k", b"set"), (b"k", b"expire"), (b"k", b"append"),
            (b"k", b"setrange"), (b"n", b"set"), (b"n", b"incrby"), (b"n", b"incrbyfloat"),
            (b"k", b"expire"), (b"k", b"persist"), (b"k", b"del"), (b"k", b"set"),
            (b"m", b"set"),
        ]
    finally:
        c.config_set("notify-keyspace-events", "")
        p.close()
        c.close()
