"""Expiry: the EXPIRE/TTL families against a real valkeyd (compared with valkey-server where the
reply matters), lazy and active expiry, and, in-process, what expiry propagates and notifies
(there is no AOF or replica yet to observe the propagation stream from outside)."""
from __future__ import annotations

import time

import pytest
import redis

from harness import inproc_client, inproc_server, reply_or_error, same_reply

FAR = 4102444800123  # 2100-01-01 in ms (+123)


run, same = reply_or_error, same_reply


# -- argument errors -------------------------------------------------------------------------------
ERROR_CASES = [
    ("EXPIRE", "k", "10", "NX", "XX"), ("EXPIRE", "k", "10", "NX", "GT"),
    ("EXPIRE", "k", "10", "LT", "NX"), ("EXPIRE", "k", "10", "GT", "LT"),
    ("PEXPIRE", "k", "10", "gt", "lt", "gt"), ("EXPIRE", "k", "10", "nx", "nx"),
    ("EXPIRE", "k", "10", "FOO"), ("EXPIRE", "k", "10", "NX", "XX", "FOO"),
    ("EXPIRE", "k", "abc"), ("EXPIRE", "k", "1.5"), ("EXPIRE", "k", ""),
    ("EXPIRE", "k", "abc", "BAD"), ("EXPIRE", "k", "abc", "NX", "XX"),
    ("EXPIRE", "k", "9223372036854776"), ("EXPIRE", "k", "-9223372036854776"),
    ("EXPIRE", "k", "9223372036854775"), ("EXPIRE", "k", "-9223372036854775"),
    ("EXPIREAT", "k", "9223372036854776"), ("EXPIREAT", "k", "-9223372036854776"),
    ("PEXPIRE", "k", "9223372036854775807"), ("PEXPIRE", "k", "-9223372036854775808"),
    ("PEXPIREAT", "nokey", "9223372036854775807"), ("EXPIRE", "nokey", "100"),
    ("EXPIRE", "k"), ("TTL",), ("PTTL", "a", "b"), ("EXPIRETIME",), ("PERSIST",),
    ("TTL", "nokey"), ("PTTL", "nokey"), ("EXPIRETIME", "nokey"), ("PEXPIRETIME", "nokey"),
    ("TTL", "k"), ("PTTL", "k"), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"),
    ("PERSIST", "k"), ("PERSIST", "nokey"),
]


@pytest.mark.parametrize("args", ERROR_CASES, ids=lambda a: " ".join(a))
def test_replies_match_reference(r, refc, args):
    for cl in (r, refc):
        cl.set("k", "v")
    same(r, refc, *args)
    same(r, refc, "EXISTS", "k")


# -- NX XX GT LT -----------------------------------------------------------------------------------
@pytest.mark.parametrize("opts", [(), ("NX",), ("XX",), ("GT",), ("LT",), ("XX", "GT"),
                                  ("XX", "LT"), ("gt", "xx")])
@pytest.mark.parametrize("start", [None, 100, 1000])
@pytest.mark.parametrize("new", [50, 100, 5000, -1])
def test_condition_matrix_matches_reference(r, refc, opts, start, new):
    now = int(time.time() * 1000)
    for cl in (r, refc):
        cl.set("k", "v")
        if start is not None:
            cl.pexpireat("k", FAR + start)
    when = FAR + new if new >= 0 else now - 1000
    same(r, refc, "PEXPIREAT", "k", str(when), *opts)
    same(r, refc, "PEXPIRETIME", "k")
    same(r, refc, "EXPIRETIME", "k")


def test_expire_replies(rr):
    assert rr.expire("nokey", 10) is False
    rr.set("k", "v")
    assert rr.expire("k", 100) is True
    assert 99 <= rr.ttl("k") <= 100
    assert 99000 < rr.pttl("k") <= 100000
    assert rr.expire("k", 200, nx=True) is False
    assert rr.expire("k", 200, xx=True) is True
    assert rr.expire("k", 50, gt=True) is False
    assert rr.expire("k", 50, lt=True) is True
    assert 49 <= rr.ttl("k") <= 50
    assert rr.persist("k") is True and rr.persist("k") is False
    assert rr.ttl("k") == -1 and rr.pttl("k") == -1
    assert rr.expiretime("k") == -1 and rr.pexpiretime("k") == -1
    # GT against a key without TTL (infinite) fails, LT succeeds
    assert rr.expire("k", 50, gt=True) is False
    assert rr.expire("k", 50, lt=True) is True
    assert rr.ttl("nokey") == -2 and rr.pttl("nokey") == -2


def test_absolute_times_and_rounding(r, refc):
    for ms in (FAR, FAR + 377, FAR + 499, FAR + 500, FAR + 999):
        for cl in (r, refc):
            cl.set("k", "v")
            cl.pexpireat("k", ms)
        assert r.pexpiretime("k") == ms
        same(r, refc, "EXPIRETIME", "k")
    r.expireat("k", 4102444800)
    assert r.pexpiretime("k") == 4102444800000 and r.expiretime("k") == 4102444800


def test_relative_expire_is_exact_to_the_millisecond(r):
    r.set("k", "v")
    before = int(time.time() * 1000)
    r.pexpire("k", 12345)
    after = int(time.time() * 1000)
    assert before + 12345 <= r.pexpiretime("k") <= after + 12345
    r.expire("k", 7)
    assert before + 7000 <= r.pexpiretime("k") <= int(time.time() * 1000) + 7000


@pytest.mark.parametrize("args", [("EXPIRE", "k", "0"), ("EXPIRE", "k", "-5"),
                                  ("PEXPIRE", "k", "-1"), ("EXPIREAT", "k", "1"),
                                  ("PEXPIREAT", "k", "0"), ("EXPIRE", "k", "-5", "LT")])
def test_time_in_the_past_deletes(rr, args):
    rr.set("k", "v")
    assert rr.execute_command(*args) == 1
    assert rr.exists("k") == 0 and rr.dbsize() == 0


def test_ttl_of_expired_but_unreclaimed_key(r):
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        r.set("k", "v", px=20)
        time.sleep(0.05)
        assert r.dbsize() == 1
        assert r.ttl("k") == -2 and r.pttl("k") == -2 and r.pexpiretime("k") == -2
        assert r.dbsize() == 0, "the lookup reclaimed it"
    finally:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


# -- lazy and active expiry ------------------------------------------------------------------------
def _info(r, field):
    return r.info("stats")[field]


def test_lazy_expiry_millisecond_precision(r):
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        base = _info(r, "expired_keys")
        r.set("k", "v", px=30)
        assert r.get("k") == b"v"
        time.sleep(0.06)
        assert r.dbsize() == 1, "not yet reclaimed: active expiry is off"
        assert r.get("k") is None
        assert r.dbsize() == 0
        assert _info(r, "expired_keys") == base + 1
        for cmd in (("EXISTS", "k"), ("TYPE", "k"), ("DEL", "k"), ("TOUCH", "k"),
                    ("OBJECT", "ENCODING", "k"), ("EXPIRE", "k", "100"), ("PERSIST", "k"),
                    ("RENAME", "k", "z"), ("COPY", "k", "z"), ("MOVE", "k", "1")):
            r.set("k", "v", px=1)
            time.sleep(0.005)
            reply = None
            try:
                reply = r.execute_command(*cmd)
            except redis.ResponseError as e:
                reply = str(e)
            assert reply in (0, None, b"none", "none", "no such key"), (cmd, reply)
            assert r.dbsize() == 0, cmd
    finally:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def test_active_expiry_reclaims_untouched_keys(r):
    base = _info(r, "expired_keys")
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set("e:%d" % i, "v", px=50)
    for i in range(100):
        pipe.set("keep:%d" % i, "v")
    pipe.execute()
    deadline = time.time() + 5
    while r.dbsize() > 100 and time.time() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 100
    assert _info(r, "expired_keys") == base + 2000


def test_active_expiry_can_be_disabled(r):
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        r.set("k", "v", px=10)
        time.sleep(0.4)
        assert r.dbsize() == 1
    finally:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    deadline = time.time() + 3
    while r.dbsize() and time.time() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 0


def test_active_expiry_in_other_databases(r, server):
    other = server.client(2, db=7)
    try:
        other.set("k", "v", px=10)
        deadline = time.time() + 3
        while other.dbsize() and time.time() < deadline:
            time.sleep(0.05)
        assert other.dbsize() == 0
    finally:
        other.close()


def test_set_and_rename_and_ttl_interplay(rr):
    rr.set("k", "v", ex=100)
    rr.set("k", "w")
    assert rr.ttl("k") == -1, "SET clears the TTL"
    rr.set("k", "v", ex=100)
    rr.rename("k", "k2")
    assert 99 <= rr.ttl("k2") <= 100
    rr.set("k2", "x", keepttl=True)
    assert 99 <= rr.ttl("k2") <= 100


# -- in-process: propagation, events and the active cycle's sampling -------------------------------
@pytest.fixture
def inproc():
    srv, props, events = inproc_server(
        prop=lambda dbid, argv: (dbid, [bytes(a) for a in argv]),
        event=lambda cls, ev, key, dbid: (ev, key, dbid))
    from engines.base import clock
    c = inproc_client(srv)

    def cmd(*args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        clock.frozen = None
        clock.frozen = clock.ms()
        try:
            c.execute(argv)
        finally:
            clock.frozen = None
        out = b"".join(c.out)
        c.out.clear()
        return out

    srv.cmd = cmd
    yield srv, props, events
    clock.frozen = None


def test_expire_propagates_as_pexpireat(inproc):
    srv, props, events = inproc
    srv.cmd("SET", "k", "v")
    props.clear()
    events.clear()
    t0 = int(time.time() * 1000)
    assert srv.cmd("EXPIRE", "k", "100", "NX") == b":1\r\n"
    (dbid, argv), = props
    assert argv[0] == b"PEXPIREAT" and argv[1] == b"k" and argv[3:] == [b"NX"]
    assert t0 + 100000 <= int(argv[2]) <= int(time.time() * 1000) + 100000
    assert events == [("expire", b"k", 0)]
    props.clear()
    assert srv.cmd("PEXPIRE", "k", "5000") == b":1\r\n"
    assert props[0][1][0] == b"PEXPIREAT"
    props.clear()
    assert srv.cmd("pexpireat", "k", str(FAR)) == b":1\r\n"
    assert props == [(0, [b"pexpireat", b"k", str(FAR).encode()])]
    props.clear()
    assert srv.cmd("EXPIRE", "k", "100", "NX") == b":0\r\n"
    assert srv.cmd("EXPIRE", "nokey", "100") == b":0\r\n"
    assert props == []


def test_expire_in_the_past_propagates_del(inproc):
    srv, props, events = inproc
    srv.cmd("SET", "k", "v")
    props.clear()
    events.clear()
    assert srv.cmd("EXPIRE", "k", "-1") == b":1\r\n"
    assert props == [(0, [b"DEL", b"k"])]
    assert events == [("del", b"k", 0)]
    srv.config.set("lazyfree-lazy-expire", "yes")
    srv.cmd("SET", "k", "v")
    props.clear()
    srv.cmd("PEXPIREAT", "k", "1")
    assert props == [(0, [b"UNLINK", b"k"])]


def test_lazy_expiry_propagates_del_before_the_command(inproc):
    srv, props, events = inproc
    srv.cmd("SELECT", "3")
    srv.cmd("SET", "k", "v", "PX", "1")
    time.sleep(0.01)
    props.clear()
    events.clear()
    assert srv.cmd("SET", "k", "new", "NX") == b"+OK\r\n"
    assert props[0] == (3, [b"DEL", b"k"])
    assert props[1][1][:3] == [b"SET", b"k", b"new"]
    assert events[0] == ("expired", b"k", 3)
    assert srv.stats.expired_keys == 1


def test_flush_commands_always_propagate(inproc):
    srv, props, events = inproc
    srv.cmd("FLUSHALL")
    srv.cmd("FLUSHDB", "ASYNC")
    assert props == [(0, [b"FLUSHALL"]), (0, [b"FLUSHDB", b"ASYNC"])]
    srv.cmd("SET", "a", "1")
    d = srv.dirty
    srv.cmd("FLUSHDB")
    assert srv.dirty == d + 1


def test_rename_copy_move_events(inproc):
    srv, props, events = inproc
    srv.cmd("SET", "a", "1")
    events.clear()
    srv.cmd("RENAME", "a", "b")
    srv.cmd("COPY", "b", "c", "DB", "2")
    srv.cmd("MOVE", "b", "5")
    srv.cmd("PERSIST", "nokey")
    srv.cmd("DEL", "nokey", "c")
    assert events == [("rename_from", b"a", 0), ("rename_to", b"b", 0), ("copy_to", b"c", 2),
                      ("move_from", b"b", 0), ("move_to", b"b", 5)]


def test_active_cycle_repeats_only_while_stale_above_threshold(inproc):
    from engines.base import clock
    srv, props, events = inproc
    db = srv.dbs[0]
    now = int(time.time() * 1000)
    # 1000 volatile keys, every 20th already expired (5% stale): one sample, then stop.
    for i in range(1000):
        db.set(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, now - 10 if i % 20 == 0 else now + 100000)
    srv.active_expire_cycle()
    assert srv.stats.expired_keys == 1
    # 50% stale: the cycle keeps sampling until the whole database is clean.
    srv.dbs[1].flush()
    for i in range(1000):
        srv.dbs[1].set(b"k%d" % i, b"v")
        srv.dbs[1].set_expire(b"k%d" % i, now - 10 if i % 2 == 0 else now + 100000)
    before = srv.stats.expired_keys
    for _ in range(16):  # visit every database once (16 per call, resuming)
        srv.active_expire_cycle()
    assert srv.stats.expired_keys - before >= 500
    assert srv.dbs[1].expires_count() == 500
    assert props[-1][1][0] == b"DEL" and events[-1][0] == "expired"
    assert 0 < srv.stats.expired_stale_perc < 1
    clock.frozen = None


def test_replica_does_not_expire_actively(inproc):
    srv, props, events = inproc
    db = srv.dbs[0]
    db.set(b"k", b"v")
    db.set_expire(b"k", 1)
    srv.replica_of = ("127.0.0.1", 1)
    srv.cron_tick()
    assert db.size() == 1
    srv.replica_of = None
    srv.cron_tick()
    assert db.size() == 0
