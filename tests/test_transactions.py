"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

Real servers: the redis-py patterns (a rate limiter with INCR + EXPIRE in MULTI, optimistic
locking with ``Redis.transaction`` retrying on a WATCH conflict), every error case compared
byte for byte with valkey-server in RESP2 and RESP3, WATCH invalidation (writes from another
client, expiry, FLUSHDB/FLUSHALL, SWAPDB, MOVE/COPY into the watched database; not reads, not
the same name in another database), blocking commands inside MULTI, CLIENT LIST, RESET,
MONITOR. In-process servers show what goes to the AOF/replicas (MULTI ... EXEC around more
than one write) and that the WATCH hook is registered only while something is watched. A
hypothesis machine runs random transactions against both servers.

Valkey 8.0 flags MULTI and WATCH ``no_multi``, so inside MULTI it answers "Command not
allowed inside a transaction" and dooms the transaction; Redis 7.2.4 (the specification)
answers "MULTI calls can not be nested" / "WATCH inside MULTI is not allowed" and EXEC still
runs. Valkey also empties the queue on a queueing error (CLIENT LIST multi=0) where Redis
keeps what was queued before it. Those cases are checked against Redis's documented
behaviour (redis/tests/unit/multi.tcl), not against valkey-server.
"""
from __future__ import annotations

import re
import socket
import time

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from hypothesis.stateful import run_state_machine_as_test

from differential import DIFF_SETTINGS, EXAMPLES
from harness import (RawClient, inproc_client, inproc_server, read_until_quiet, same_raw,
                     start_valkeyd)


def enc(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def script(pair, *cmds):
    """Each command on both servers of ``pair``; every reply must be byte-identical."""
    return [same_raw(pair, *c) for c in cmds]


def pipelined(pair, *cmds, wait=0.3):
    """All commands in one write; the whole output (which may not be a whole number of
    replies, e.g. with CLIENT REPLY SKIP inside EXEC) must be identical."""
    data = b"".join(enc(*c) for c in cmds)
    outs = []
    for c in pair:
        c.sock.sendall(data)
        outs.append(read_until_quiet(c.sock, wait))
    assert outs[0] == outs[1], (cmds, outs)
    return outs[0]


@pytest.fixture
def others(server, ref, pair):
    """A second raw client on each server of ``pair`` (same protocol not needed)."""
    a, b = RawClient(server.port), RawClient(ref.port)
    yield a, b
    a.close()
    b.close()


# -- patterns (redis-py) --------------------------------------------------------------------------
def _rate_limiter(client, user: str, limit: int, calls: int):
    """The INCR + EXPIRE fixed-window limiter of the Redis docs: allowed/denied per call."""
    out = []
    key = f"rate:{user}"
    for _ in range(calls):
        p = client.pipeline(transaction=True)
        p.incr(key)
        p.expire(key, 60)
        count, _ = p.execute()
        out.append(count <= limit)
    return out, client.ttl(key)


def test_rate_limiter(r, refc):
    ours = _rate_limiter(r, "alice", 3, 5)
    theirs = _rate_limiter(refc, "alice", 3, 5)
    assert ours == theirs
    assert ours[0] == [True, True, True, False, False] and 0 < ours[1] <= 60


def _optimistic(server_client, other):
    """Redis.transaction with WATCH: a concurrent write makes the first attempt fail (EXEC
    answers null, redis-py raises WatchError and retries)."""
    server_client.set("balance", 100)
    attempts = []

    def transfer(pipe):
        bal = int(pipe.get("balance"))
        attempts.append(bal)
        if len(attempts) == 1:
            other.incrby("balance", 50)   # another client writes between WATCH and EXEC
        pipe.multi()
        pipe.set("balance", bal - 30)
        pipe.rpush("log", f"debit {bal}")

    result = server_client.transaction(transfer, "balance")
    return attempts, result, server_client.get("balance"), server_client.lrange("log", 0, -1)


def test_optimistic_locking_retries(server, ref, r, refc):
    o1, o2 = server.client(2), ref.client(2)
    try:
        ours = _optimistic(r, o1)
        theirs = _optimistic(refc, o2)
    finally:
        o1.close()
        o2.close()
    assert ours == theirs
    assert ours[0] == [100, 150] and ours[2] == b"120"


def test_watch_error_raised_once(r):
    r.set("k", "1")
    with r.pipeline() as p:
        p.watch("k")
        r.set("k", "2")                  # same server, another connection of the pool
        p.multi()
        p.set("k", "3")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("k") == b"2"


def test_pipeline_runtime_error_does_not_stop_others(rr):
    rr.set("s", "x")
    p = rr.pipeline(transaction=True)
    p.incr("n")
    p.lpush("s", "a")                    # WRONGTYPE at run time
    p.incr("n")
    res = p.execute(raise_on_error=False)
    assert res[0] == 1 and res[2] == 2 and isinstance(res[1], redis.ResponseError)
    assert rr.get("n") == b"2"


# -- replies and errors, byte for byte ------------------------------------------------------------
def test_basics(pair):
    script(pair, ("RPUSH", "l", "a", "b", "c"), ("MULTI",), ("LRANGE", "l", 0, -1), ("PING",),
           ("EXEC",))
    script(pair, ("MULTI",), ("DEL", "l"), ("DISCARD",), ("LRANGE", "l", 0, -1))
    script(pair, ("MULTI",), ("EXEC",))                                  # empty: *0
    script(pair, ("SADD", "s", "a"), ("MULTI",), ("SPOP", "s"), ("EXEC",), ("EXISTS", "s"))


def test_without_multi(pair):
    script(pair, ("EXEC",), ("DISCARD",), ("UNWATCH",), ("UNWATCH",))


def test_runtime_errors(pair):
    script(pair, ("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("LPUSH", "a", "x"),
           ("INCR", "a"), ("HSET", "a", "f"), ("EXEC",), ("GET", "a"))


def test_queueing_errors_abort(pair):
    script(pair, ("MULTI",), ("SET", "a", "1"), ("NOPE", "x"), ("SET", "b", "2"), ("EXEC",),
           ("EXISTS", "a", "b"))
    script(pair, ("MULTI",), ("SET", "a"), ("SET", "b", "2"), ("EXEC",), ("EXISTS", "b"))
    script(pair, ("MULTI",), ("CONFIG", "NOPE"), ("EXEC",))
    script(pair, ("MULTI",), ("CONFIG",), ("EXEC",))
    # the state is cleared after an abort
    script(pair, ("MULTI",), ("NOPE",), ("EXEC",), ("PING",), ("EXEC",))


@pytest.mark.parametrize("cmd", [("DISCARD", "x"), ("MULTI", "x"), ("WATCH",),
                                 ("UNWATCH", "x"), ("SHUTDOWN",)])
def test_refused_inside_multi_dooms_it(pair, cmd):
    script(pair, ("MULTI",), ("SET", "a", "1"), cmd, ("EXEC",), ("EXISTS", "a"))


def test_exec_refused_by_arity_aborts(pair, others):
    script(pair, ("MULTI",), ("SET", "a", "1"), ("EXEC", "x"), ("EXISTS", "a"), ("EXEC",))
    # outside MULTI too: the answer is EXECABORT and the WATCHed keys are dropped
    script(pair, ("SET", "w", "1"), ("WATCH", "w"), ("EXEC", "x"))
    for o in others:
        o.cmd("SET", "w", "2")
    script(pair, ("MULTI",), ("PING",), ("EXEC",))


def test_nested_multi_and_watch_in_multi_redis_semantics(rr):
    """Redis 7.2.4: an error reply, and the transaction goes on (Valkey 8 dooms it)."""
    c = rr.connection_pool.get_connection()
    try:
        c.send_command("MULTI")
        assert c.read_response() == b"OK"
        c.send_command("MULTI")
        with pytest.raises(redis.ResponseError, match=r"^MULTI calls can not be nested$"):
            c.read_response()
        c.send_command("WATCH", "x")
        with pytest.raises(redis.ResponseError, match=r"^WATCH inside MULTI is not allowed$"):
            c.read_response()
        c.send_command("SET", "x", "1")
        assert c.read_response() == b"QUEUED"
        c.send_command("EXEC")
        assert c.read_response() == [b"OK"]
    finally:
        rr.connection_pool.release(c)
    assert rr.get("x") == b"1"


def test_no_multi_commands(pair):
    script(pair, ("MULTI",), ("SHUTDOWN", "NOSAVE"), ("EXEC",))


def test_watch_arity_and_keys(pair):
    script(pair, ("WATCH",), ("WATCH", "a", "a", "b"), ("UNWATCH",))
    script(pair, ("COMMAND", "GETKEYS", "WATCH", "a", "b", "c"))


def test_null_reply_on_aborted_watch(pair, others):
    script(pair, ("SET", "k", "1"), ("WATCH", "k"))
    for o in others:
        o.cmd("SET", "k", "2")
    got = script(pair, ("MULTI",), ("GET", "k"), ("EXEC",))
    assert got[-1] == (b"_\r\n" if pair[0].proto == 3 else b"*-1\r\n")


def test_dirty_transaction_still_answers_queued(pair, others):
    script(pair, ("SET", "k", "1"), ("WATCH", "k"))
    for o in others:
        o.cmd("SET", "k", "2")
    script(pair, ("MULTI",), ("INCR", "k"), ("INCR", "k"), ("EXEC",), ("GET", "k"))


def test_watch_when_already_dirty(pair, others):
    script(pair, ("SET", "k", "1"), ("WATCH", "k"))
    for o in others:
        o.cmd("SET", "k", "2")
    script(pair, ("WATCH", "other"), ("MULTI",), ("PING",), ("EXEC",))


def test_blocking_commands_inside_multi(pair):
    script(pair, ("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"), ("MULTI",),
           ("BLPOP", "el", 0), ("BRPOP", "el", 0), ("BRPOPLPUSH", "el1", "el2", 0),
           ("BLMOVE", "el1", "el2", "LEFT", "LEFT", 0), ("BLMPOP", 0, 1, "el", "LEFT"),
           ("BZPOPMIN", "ez", 0), ("BZPOPMAX", "ez", 0), ("BZMPOP", 0, 1, "ez", "MIN"),
           ("XREAD", "BLOCK", 0, "STREAMS", "s", "$"),
           ("XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "s", ">"),
           ("EXEC",))
    # with data they serve at once, as outside MULTI
    script(pair, ("RPUSH", "l", "a"), ("ZADD", "z", 1, "m"), ("MULTI",), ("BLPOP", "l", 0),
           ("BZPOPMIN", "z", 0), ("EXEC",))


def test_monitor_refused_inside_exec(pair):
    script(pair, ("MULTI",), ("MONITOR",), ("PING",), ("EXEC",))


def test_select_inside_multi(pair):
    script(pair, ("MULTI",), ("SELECT", 3), ("SET", "k", "v"), ("SELECT", 99), ("GET", "k"),
           ("EXEC",), ("GET", "k"), ("SELECT", 3), ("GET", "k"), ("SELECT", 0))


def test_hello_inside_multi(pair):
    """The array header goes out first; the replies after HELLO use the new protocol."""
    other = 3 if pair[0].proto == 2 else 2
    script(pair, ("HSET", "h", "f", "v"), ("MULTI",), ("HELLO", other), ("HGETALL", "h"),
           ("CLIENT", "SETNAME", "x"))
    rest = []
    for c in pair:
        c.send("EXEC")
        assert c.f.readline() == b"*3\r\n"
        hello = c.read()             # server name and version differ: compared by shape
        assert hello[:1] == (b"%" if other == 3 else b"*")
        rest.append(c.read() + c.read())
    assert rest[0] == rest[1]
    assert rest[0] == (b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n+OK\r\n" if other == 3
                       else b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n+OK\r\n")
    for c in pair:
        c.proto = other


@pytest.mark.parametrize("cmds", [
    [("MULTI",), ("CLIENT", "REPLY", "SKIP"), ("SET", "a", 1), ("GET", "a"), ("EXEC",),
     ("PING", "skipped"), ("PING", "seen")],
    [("MULTI",), ("CLIENT", "REPLY", "OFF"), ("SET", "a", 1), ("GET", "a"), ("EXEC",),
     ("PING",), ("CLIENT", "REPLY", "ON"), ("PING", "seen")],
    [("MULTI",), ("CLIENT", "REPLY", "OFF"), ("SET", "a", 1), ("CLIENT", "REPLY", "ON"),
     ("GET", "a"), ("EXEC",), ("PING", "seen")],
    [("CLIENT", "REPLY", "SKIP"), ("MULTI",), ("PING",), ("EXEC",)],
    [("MULTI",), ("PING",), ("CLIENT", "REPLY", "SKIP"), ("EXEC",), ("PING", "y")],
    [("CLIENT", "REPLY", "OFF"), ("MULTI",), ("PING",), ("CLIENT", "REPLY", "ON"), ("EXEC",),
     ("PING", "y")],
], ids=["skip-inside", "off-inside", "off-on-inside", "skip-multi", "skip-exec", "off-multi"])
def test_client_reply_and_transactions(pair, cmds):
    pipelined(pair, *cmds)


def test_pipelined_transactions(pair):
    pipelined(pair, ("MULTI",), ("INCR", "c"), ("INCR", "c"), ("EXEC",), ("MULTI",),
              ("NOPE",), ("INCR", "c"), ("EXEC",), ("GET", "c"))


def test_client_kill_of_itself_inside_exec(pair):
    """The KILL's own reply is sent, nothing after it; the other commands still run."""
    out = pipelined(pair, ("MULTI",), ("CLIENT", "KILL", "SKIPME", "no"), ("SET", "after", 1),
                    ("EXEC",), ("PING",))
    assert out.endswith(b"*2\r\n:1\r\n")


def test_quit_inside_multi(server, ref):
    outs = []
    for port in (server.port, ref.port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(enc("MULTI") + enc("SET", "qk", "1") + enc("QUIT"))
            outs.append(read_until_quiet(s, 0.3))
    assert outs[0] == outs[1] == b"+OK\r\n+QUEUED\r\n+OK\r\n"
    assert redis.Redis(port=server.port).exists("qk") == 0


def test_reset_leaves_multi_and_unwatches(pair, others):
    script(pair, ("MULTI",), ("SET", "a", "1"), ("RESET",), ("EXEC",), ("EXISTS", "a"))
    script(pair, ("SET", "w", "1"), ("WATCH", "w"))
    for o in others:
        o.cmd("SET", "w", "2")
    script(pair, ("RESET",), ("MULTI",), ("PING",), ("EXEC",))
    if pair[0].proto == 3:
        for c in pair:
            c.cmd("HELLO", "3")


def test_discard_unwatches(pair, others):
    script(pair, ("WATCH", "x"), ("SET", "x", "10"), ("MULTI",), ("DISCARD",), ("MULTI",),
           ("INCR", "x"), ("EXEC",))
    script(pair, ("WATCH", "x"), ("MULTI",), ("DISCARD",))
    for o in others:
        o.cmd("SET", "x", "1")
    script(pair, ("MULTI",), ("INCR", "x"), ("EXEC",))


def test_unwatch_clears_dirty(pair, others):
    script(pair, ("WATCH", "x"))
    for o in others:
        o.cmd("SET", "x", "1")
    script(pair, ("UNWATCH",), ("MULTI",), ("INCR", "x"), ("EXEC",))


def test_keys_unwatched_after_exec(pair, others):
    for aborted in (False, True):
        script(pair, ("SET", "x", "30"), ("WATCH", "x"))
        if aborted:
            for o in others:
                o.cmd("SET", "x", "31")
        script(pair, ("MULTI",), ("PING",), ("EXEC",))
        for o in others:
            o.cmd("SET", "x", "40")
        script(pair, ("MULTI",), ("PING",), ("EXEC",))


def test_own_writes_do_not_abort(pair):
    script(pair, ("WATCH", "x"), ("MULTI",), ("SET", "x", "1"), ("INCR", "x"), ("EXEC",))


# -- WATCH invalidation ---------------------------------------------------------------------------
# (setup, what another client does after WATCH x, whether EXEC aborts in Redis 7.2.4)
INVALIDATION = [
    ([("SET", "x", 1)], [("SET", "x", 2)], True),
    ([("SET", "x", 1)], [("GET", "x"), ("EXISTS", "x"), ("TTL", "x"), ("TOUCH", "x"),
                         ("OBJECT", "FREQ", "x")], False),
    ([], [("SET", "y", 1)], False),
    ([("SET", "x", 1)], [("EXPIRE", "x", 100)], True),
    ([("SET", "x", 1)], [("PERSIST", "x")], False),                 # no expiry: no change
    ([("SET", "x", 1)], [("SET", "x", 2, "NX")], False),
    ([("SET", "x", 1)], [("SET", "x", 1, "XX")], True),             # same value, still a write
    ([], [("DEL", "x")], False),
    ([("SET", "x", 1)], [("DEL", "x")], True),
    ([], [("LPUSH", "x", 1), ("LPOP", "x")], True),
    ([("SET", "x", 1)], [("RENAME", "x", "y")], True),
    ([("SET", "y", 1)], [("RENAME", "y", "x")], True),
    ([("LPUSH", "x", "a")], [("SORT", "empty", "STORE", "x")], True),
    ([("SET", "x", "abc")], [("APPEND", "x", "")], True),
    ([("SET", "x", "abc")], [("SETRANGE", "x", 0, "")], False),
    ([("PFADD", "x", "a")], [("PFCOUNT", "x")], True),              # the cache write
    ([("PFADD", "x", "a")], [("PFADD", "x", "a")], False),
    ([("HSET", "x", "f", 1)], [("HINCRBY", "x", "f", 1)], True),
    ([("SADD", "x", 1)], [("SREM", "x", 2)], False),
    ([("SADD", "x", 1)], [("SPOP", "x")], True),
    ([("ZADD", "x", 1, "a")], [("ZADD", "x", 1, "a")], False),
    ([("ZADD", "x", 1, "a")], [("ZINCRBY", "x", 1, "a")], True),
    ([], [("INCRBYFLOAT", "x", 1.5)], True),
    ([("SET", "x", 1)], [("GETEX", "x", "PX", 100000)], True),
    ([("SET", "x", 1)], [("GETDEL", "x")], True),
    # streams: XADD/XDEL/XTRIM signal the key; XSETID and the group commands do not (7.2.4)
    ([("XADD", "x", "1-1", "f", "v")], [("XADD", "x", "2-1", "f", "v")], True),
    ([("XADD", "x", "1-1", "f", "v")], [("XDEL", "x", "1-1")], True),
    ([("XADD", "x", "1-1", "f", "v")], [("XTRIM", "x", "MAXLEN", 0)], True),
    ([("XADD", "x", "1-1", "f", "v")], [("XSETID", "x", "5-5")], False),
    ([("XADD", "x", "1-1", "f", "v")], [("XGROUP", "CREATE", "x", "g", 0)], False),
    ([], [("XGROUP", "CREATE", "x", "g", 0, "MKSTREAM")], True),
    ([("XADD", "x", "1-1", "f", "v"), ("XGROUP", "CREATE", "x", "g", 0)],
     [("XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">"), ("XACK", "x", "g", "1-1"),
      ("XGROUP", "SETID", "x", "g", 0), ("XGROUP", "CREATECONSUMER", "x", "g", "d")], False),
    # databases
    ([("SET", "x", 1)], [("SELECT", 1), ("SET", "x", 2)], False),   # same name, other db
    ([("SELECT", 1), ("SET", "x", 1), ("SELECT", 0)],
     [("SELECT", 1), ("MOVE", "x", 0)], True),                      # moved into the watched db
    ([("SELECT", 1), ("SET", "x", 1), ("SELECT", 0)],
     [("SELECT", 1), ("COPY", "x", "x", "DB", 0)], True),
    ([("SET", "x", 1)], [("MOVE", "x", 1)], True),
    ([("SET", "x", 1)], [("FLUSHDB",)], True),
    ([], [("FLUSHDB",)], False),                                    # only keys that existed
    ([("SET", "x", 1)], [("FLUSHALL",)], True),
    ([], [("FLUSHALL",)], False),
    ([("SET", "x", 1)], [("SELECT", 1), ("FLUSHDB",)], False),
    ([("SET", "x", 1)], [("SWAPDB", 0, 1)], True),
    ([("SELECT", 1), ("SET", "x", 1), ("SELECT", 0)], [("SWAPDB", 0, 1)], True),
    ([], [("SWAPDB", 0, 1)], False),
    ([("SET", "x", 1)], [("SWAPDB", 0, 0)], False),
    ([("SET", "x", 1)], [("SWAPDB", 1, 2)], False),
]


@pytest.mark.parametrize("setup,action,aborts", INVALIDATION,
                         ids=[" ".join(str(a) for a in act[0]) + f"-{i}"
                              for i, (_s, act, _a) in enumerate(INVALIDATION)])
def test_watch_invalidation(pair, others, setup, action, aborts):
    for cmd in setup:
        same_raw(pair, *cmd)
    script(pair, ("SELECT", 0), ("WATCH", "x"))
    for o in others:
        for cmd in action:
            o.cmd(*cmd)
        o.cmd("SELECT", 0)
    got = script(pair, ("MULTI",), ("PING",), ("EXEC",))[-1]
    null = b"_\r\n" if pair[0].proto == 3 else b"*-1\r\n"
    assert (got == null) is aborts, got


def test_watch_remembers_its_db(pair, others):
    script(pair, ("SELECT", 5), ("SET", "x", 30), ("WATCH", "x"), ("SELECT", 1),
           ("SET", "x", 10), ("SELECT", 5), ("MULTI",), ("PING",), ("EXEC",))
    script(pair, ("WATCH", "x"))               # db 5
    for o in others:
        o.cmd("SELECT", 5)
        o.cmd("SET", "x", 1)
        o.cmd("SELECT", 0)
    script(pair, ("SELECT", 0), ("MULTI",), ("PING",), ("EXEC",))


def test_watch_several_keys_one_touched(pair, others):
    script(pair, ("SET", "x", 30), ("WATCH", "a", "b", "x", "k", "z"))
    for o in others:
        o.cmd("SET", "x", 40)
    script(pair, ("MULTI",), ("PING",), ("EXEC",))


def test_watch_many_clients(server, ref):
    """Three watchers of one key, one of another: one write dooms exactly the first three."""
    results = []
    for port in (server.port, ref.port):
        cs = [RawClient(port) for _ in range(4)]
        w = RawClient(port)
        try:
            w.cmd("FLUSHALL")
            for c in cs[:3]:
                c.cmd("WATCH", "k")
            cs[3].cmd("WATCH", "other")
            w.cmd("SET", "k", "1")
            res = []
            for c in cs:
                c.cmd("MULTI")
                c.cmd("PING")
                res.append(c.cmd("EXEC"))
            results.append(res)
        finally:
            for c in cs + [w]:
                c.close()
    assert results[0] == results[1] == [b"*-1\r\n"] * 3 + [b"*1\r\n+PONG\r\n"]


# -- expiry ---------------------------------------------------------------------------------------
@pytest.fixture
def no_active_expire(pair):
    for c in pair:
        c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    yield
    for c in pair:
        c.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def _expire_after(pair, ms: int = 1):
    """Let keys set with PX ``ms`` expire (wall clock)."""
    time.sleep(ms / 1000 + 0.02)


def test_lazy_expired_watched_key_aborts(pair, no_active_expire):
    script(pair, ("SET", "x", 1, "PX", 30), ("WATCH", "x"))
    _expire_after(pair, 30)
    got = script(pair, ("MULTI",), ("INCR", "x"), ("EXEC",))
    assert got[-1] in (b"*-1\r\n", b"_\r\n")


@pytest.mark.parametrize("between", [
    [],                                   # watched while already expired: no change
    [("EXISTS", "x")],                    # the lazy deletion of a stale key: no change
    [("FLUSHDB",)],
    [("SET", "x", 2)],                    # deletion, then a write: a change
    [("EXISTS", "x"), ("SET", "x", 2)],
    [("SELECT", 1), ("SWAPDB", 0, 1), ("SELECT", 0)],   # stale key replaced with no key
], ids=["stale", "deleted", "flushdb", "set", "deleted-set", "swapdb"])
def test_stale_watched_keys(pair, others, no_active_expire, between):
    script(pair, ("SET", "x", "foo", "PX", 1))
    _expire_after(pair)
    script(pair, ("WATCH", "x"))
    for cmd in between:
        script(pair, cmd)
    script(pair, ("MULTI",), ("PING",), ("EXEC",))


@pytest.mark.parametrize("db0,db1", [
    (None, ("PX", 1)),                     # no key replaced with a stale key
    (("PX", 1), ("PX", 1)),                # stale key replaced with another stale key
    (("PX", 1), ()),                       # stale key replaced with a live key
    ((), ("PX", 1)),                       # live key replaced with a stale key
    ((), None),
], ids=["none-stale", "stale-stale", "stale-live", "live-stale", "live-none"])
def test_swapdb_and_stale_keys(pair, no_active_expire, db0, db1):
    """Watcher in db 1; ``db1`` is its own key, ``db0`` what SWAPDB brings in."""
    for dbid, opts in ((0, db0), (1, db1)):
        if opts is not None:
            script(pair, ("SELECT", dbid), ("SET", "x", f"v{dbid}", *opts))
    _expire_after(pair)
    script(pair, ("SELECT", 1), ("WATCH", "x"), ("SWAPDB", 0, 1), ("MULTI",), ("PING",),
           ("EXEC",), ("SELECT", 0))


def test_active_expiry_of_watched_key_aborts(pair, server, ref):
    script(pair, ("SET", "x", "foo", "PX", 50), ("WATCH", "x"))
    for port in (server.port, ref.port):
        c = redis.Redis(port=port)
        deadline = time.time() + 5
        while c.dbsize() and time.time() < deadline:   # the active cycle deletes it
            time.sleep(0.02)
        assert c.dbsize() == 0
    script(pair, ("MULTI",), ("PING",), ("EXEC",))


def test_expire_in_the_past_touches(pair, others):
    script(pair, ("SET", "x", 1), ("WATCH", "x"))
    for o in others:
        o.cmd("PEXPIREAT", "x", 1)
    script(pair, ("MULTI",), ("PING",), ("EXEC",))


def test_exec_sees_one_time(pair):
    """The commands of EXEC share one command-time snapshot: a key that expires while the
    transaction runs is still there for its later commands."""
    for c in pair:   # both at once: each server's EXEC must start well within the 300 ms
        c.send("SET", "k", "v", "PX", 300)
        c.send("MULTI")
        c.send("DEBUG", "SLEEP", "0.4")
        c.send("GET", "k")
        c.send("EXEC")
    got = [[c.read() for _ in range(5)] for c in pair]
    assert got[0] == got[1]
    assert got[0][-1] == b"*2\r\n+OK\r\n$1\r\nv\r\n"
    script(pair, ("GET", "k"))


# -- CLIENT LIST ----------------------------------------------------------------------------------
def _info(c) -> dict:
    line = c.cmd("CLIENT", "INFO").split(b"\r\n", 1)[1].strip().decode()
    return dict(kv.split("=", 1) for kv in line.split())


def _row(o, cid: int) -> dict:
    """CLIENT LIST ID ``cid`` seen from the client ``o``."""
    raw = o.cmd("CLIENT", "LIST", "ID", cid)
    line = raw.split(b"\r\n", 1)[1].decode().strip()
    return dict(kv.split("=", 1) for kv in line.split())


def test_client_list_flags(pair, others):
    rows = []
    for c, o in zip(pair, others):
        cid = int(c.cmd("CLIENT", "ID")[1:-2])
        before = _row(o, cid)
        c.cmd("MULTI")
        c.cmd("SET", "a", "1")
        c.cmd("GET", "a")
        c.cmd("CLIENT", "INFO")
        inside = _row(o, cid)
        c.cmd("DISCARD")
        rows.append([(r["flags"], r["multi"]) for r in (before, inside, _row(o, cid))])
    assert rows[0] == rows[1] == [("N", "-1"), ("x", "3"), ("N", "-1")]
    # the d flag: a WATCHed key was touched
    for c, o in zip(pair, others):
        c.cmd("WATCH", "k")
        o.cmd("SET", "k", "1")
        assert _info(c)["flags"] == "d"
        c.cmd("UNWATCH")
        assert _info(c)["flags"] == "N"


def test_client_list_multi_count_stops_when_doomed(server):
    """Redis keeps the commands queued before an error and stores none after it
    (queueMultiCommand); Valkey 8 empties the queue, so this is checked against Redis."""
    c = RawClient(server.port)
    try:
        c.cmd("MULTI")
        c.cmd("SET", "a", "1")
        c.cmd("SET", "b", "1")
        c.cmd("NOPE")
        c.cmd("SET", "c", "1")
        c.send("CLIENT", "INFO")
        assert c.read() == b"+QUEUED\r\n"
        c2 = RawClient(server.port)
        try:
            cid = int(c2.cmd("CLIENT", "LIST").decode().split("id=")[1].split()[0])
            rows = [dict(kv.split("=", 1) for kv in ln.split())
                    for ln in c2.cmd("CLIENT", "LIST").split(b"\r\n", 1)[1].decode()
                    .strip().splitlines()]
        finally:
            c2.close()
        assert cid and [r["multi"] for r in rows if r["flags"] == "x"] == ["2"]
        assert c.cmd("EXEC").startswith(b"-EXECABORT")
    finally:
        c.close()


# -- MONITOR --------------------------------------------------------------------------------------
def _monitor_commands(port):
    m = RawClient(port)
    c = RawClient(port)
    try:
        assert m.cmd("MONITOR") == b"+OK\r\n"
        for cmd in (("MULTI",), ("SET", "a", "1"), ("GET", "a"), ("EXEC",), ("MULTI",),
                    ("NOPE",), ("EXEC",), ("MULTI",), ("EXEC", "x"), ("MULTI",),
                    ("SELECT", 2), ("SET", "b", "1"), ("DEBUG", "SLEEP", 0), ("EXEC",),
                    ("SELECT", 0), ("PING", "end")):
            c.cmd(*cmd)
        lines = []
        while not lines or b'"end"' not in lines[-1]:
            lines.append(m.f.readline())
        # "+<time> [<db> <addr>] <args>": keep the database and the arguments
        return [(ln.split(b" ", 2)[1], ln.split(b"] ", 1)[1].strip()) for ln in lines]
    finally:
        m.close()
        c.close()


def test_monitor_sees_transactions(server, ref):
    ours, theirs = _monitor_commands(server.port), _monitor_commands(ref.port)
    assert ours == theirs
    assert [a for _db, a in ours[:4]] == [b'"MULTI"', b'"SET" "a" "1"', b'"GET" "a"',
                                          b'"EXEC"']


# -- propagation (in-process) ---------------------------------------------------------------------
@pytest.fixture
def inproc():
    srv, props, _events = inproc_server(prop=lambda dbid, argv: (dbid, [bytes(a) for a in argv]))
    c = inproc_client(srv)

    def run(*cmds):
        c.out.clear()
        for cmd in cmds:
            c.execute([a if isinstance(a, bytes) else str(a).encode() for a in cmd])
        return b"".join(c.out)

    return srv, c, props, run


def test_propagation_single_write_not_wrapped(inproc):
    srv, c, props, run = inproc
    run(("MULTI",), ("SET", "foo", "bar"), ("GET", "foo"), ("EXEC",), ("SET", "foo2", "bar"))
    assert props == [(0, [b"SET", b"foo", b"bar"]), (0, [b"SET", b"foo2", b"bar"])]


def test_propagation_multiple_writes_wrapped(inproc):
    srv, c, props, run = inproc
    out = run(("MULTI",), ("SET", "a", "1"), ("GET", "a"), ("SELECT", 2), ("SET", "b", "2"),
              ("INCR", "b"), ("LPUSH", "b", "x"), ("EXEC",))
    assert out.endswith(b"*6\r\n+OK\r\n$1\r\n1\r\n+OK\r\n+OK\r\n:3\r\n-WRONGTYPE Operation "
                        b"against a key holding the wrong kind of value\r\n")
    assert props == [(-1, [b"MULTI"]), (0, [b"SET", b"a", b"1"]), (2, [b"SET", b"b", b"2"]),
                     (2, [b"INCR", b"b"]), (-1, [b"EXEC"])]


@pytest.mark.parametrize("body", [[], [("GET", "foo")], [("DEL", "nokey")]],
                         ids=["empty", "read-only", "no-effect"])
def test_propagation_nothing_written(inproc, body):
    srv, c, props, run = inproc
    run(("MULTI",), *body, ("EXEC",))
    assert props == []


def test_propagation_flushall_inside(inproc):
    srv, c, props, run = inproc
    run(("MULTI",), ("SET", "foo", "bar"), ("FLUSHALL",), ("EXEC",))
    assert [p[1][0] for p in props] == [b"MULTI", b"SET", b"FLUSHALL", b"EXEC"]


def test_propagation_aborted_transactions(inproc):
    srv, c, props, run = inproc
    run(("MULTI",), ("SET", "a", "1"), ("NOPE",), ("EXEC",))
    other = inproc_client(srv)
    run(("WATCH", "w"))
    other.execute([b"SET", b"w", b"1"])
    props.clear()
    run(("MULTI",), ("SET", "a", "1"), ("SET", "b", "1"), ("EXEC",))
    assert props == []
    assert c.out == [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"*-1\r\n"]


def test_propagation_spop_batches_join_the_transaction(inproc):
    srv, c, props, run = inproc
    run(("SADD", "s", *range(3000)))
    props.clear()
    run(("MULTI",), ("SPOP", "s", 2500), ("SET", "k", "v"), ("EXEC",))
    names = [p[1][0] for p in props]
    assert names == [b"MULTI", b"SREM", b"SREM", b"SREM", b"SET", b"EXEC"]
    assert sum(len(p[1]) - 2 for p in props if p[1][0] == b"SREM") == 2500


def test_propagation_lazy_expired_key_inside_exec(inproc):
    from engines.base import clock
    srv, c, props, run = inproc
    now = clock.ms()
    clock.frozen = now
    try:
        run(("SET", "k", "v", "PX", 10), ("SET", "j", "1"))
        clock.frozen = now + 100
        props.clear()
        run(("MULTI",), ("GET", "k"), ("INCR", "j"), ("EXEC",))
    finally:
        clock.frozen = None
    assert props == [(-1, [b"MULTI"]), (0, [b"DEL", b"k"]), (0, [b"INCR", b"j"]),
                     (-1, [b"EXEC"])]


# -- bookkeeping (in-process) ---------------------------------------------------------------------
def test_watch_hook_only_while_watching(inproc):
    srv, c, props, run = inproc
    base = list(srv.keyspace_hooks)   # other parts' permanent hooks, if any
    run(("WATCH", "a", "b"), ("SELECT", 1), ("WATCH", "a"))
    assert srv.keyspace_hooks == base + [srv.watches.hook] and srv.watches.count == 3
    run(("UNWATCH",))
    assert srv.keyspace_hooks == base and srv.watches.dbs == {}
    run(("WATCH", "a"), ("MULTI",), ("EXEC",))
    assert srv.keyspace_hooks == base and srv.watches.count == 0
    run(("WATCH", "a"), ("MULTI",), ("DISCARD",))
    assert srv.keyspace_hooks == base
    run(("WATCH", "a"), ("RESET",))
    assert srv.keyspace_hooks == base and c.multi is None


def test_watch_cleanup_on_disconnect(inproc):
    srv, c, props, run = inproc
    base = list(srv.keyspace_hooks)
    other = inproc_client(srv)
    srv.register_client(other)
    other.execute([b"WATCH", b"k"])
    other.execute([b"MULTI"])
    assert srv.watches.count == 1 and srv.keyspace_hooks != base
    other.connection_lost(None)
    assert srv.watches.count == 0 and srv.watches.dbs == {} and srv.keyspace_hooks == base
    run(("SET", "k", "1"))     # nothing left to touch
    assert c.out == [b"+OK\r\n"]


def test_touched_watcher_is_unwatched(inproc):
    srv, c, props, run = inproc
    other = inproc_client(srv)
    run(("WATCH", "a", "b", "c"))
    other.execute([b"SET", b"b", b"1"])
    assert c.dirty_cas and c.watched is None and srv.watches.count == 0
    run(("MULTI",), ("PING",), ("EXEC",))
    assert c.out[-1] == b"*-1\r\n" and not c.dirty_cas



# -- differential: random transactions ------------------------------------------------------------
KEYS = st.sampled_from(["k1", "k2", "k3"])
VALID = st.one_of(
    st.tuples(st.just("SET"), KEYS, st.sampled_from(["1", "a", "10"])),
    st.tuples(st.just("GET"), KEYS),
    st.tuples(st.just("INCR"), KEYS),
    st.tuples(st.just("DEL"), KEYS),
    st.tuples(st.just("LPUSH"), KEYS, st.just("x")),
    st.tuples(st.just("EXPIRE"), KEYS, st.sampled_from(["100", "0"])),
    st.tuples(st.just("EXISTS"), KEYS),
    st.tuples(st.just("SELECT"), st.sampled_from(["0", "1"])),
)
# queueing errors too: unknown command, arity
SIMPLE = st.one_of(VALID, st.tuples(st.just("NOSUCHCMD")), st.tuples(st.just("GET")))

# what the other client does between WATCH and EXEC: mostly writes to the watched keys
WRITES = st.one_of(
    st.tuples(st.just("SET"), KEYS, st.sampled_from(["1", "b"])),
    st.tuples(st.just("INCR"), KEYS),
    st.tuples(st.just("DEL"), KEYS),
    st.tuples(st.just("GET"), KEYS),
    st.tuples(st.just("EXPIRE"), KEYS, st.just("0")),
    st.tuples(st.just("FLUSHDB")),
)


class Transactions(RuleBasedStateMachine):
    """Two connections per server (``main`` runs transactions, ``other`` writes); every
    reply of both is compared byte for byte."""
    ports = ()
    proto = 2

    @initialize()
    def connect(self):
        self.sides = [(RawClient(p, self.proto), RawClient(p)) for p in self.ports]
        for main, other in self.sides:
            main.cmd("FLUSHALL")
        self.in_multi = False

    def teardown(self):
        for main, other in getattr(self, "sides", ()):
            main.close()
            other.close()

    def _both(self, which, *args):
        got = [s[which].cmd(*args) for s in self.sides]
        assert got[0] == got[1], (args, got)
        return got[0]

    @rule(cmd=SIMPLE)
    def command(self, cmd):
        self._both(0, *cmd)

    @rule(cmd=SIMPLE)
    def other_client(self, cmd):
        self._both(1, *cmd)

    @precondition(lambda self: not self.in_multi)
    @rule()
    def multi(self):
        self._both(0, "MULTI")
        self.in_multi = True

    @precondition(lambda self: not self.in_multi)
    @rule(keys=st.lists(KEYS, min_size=1, max_size=3))
    def watch(self, keys):
        self._both(0, "WATCH", *keys)

    @rule()
    def unwatch(self):
        self._both(0, "UNWATCH")

    @rule(name=st.sampled_from(["EXEC", "DISCARD"]))
    def end(self, name):
        self._both(0, name)
        self.in_multi = False

    @rule()
    def flush(self):
        self._both(1, "FLUSHDB")

    @precondition(lambda self: not self.in_multi)
    @rule(watch=st.lists(KEYS, max_size=2), other=st.lists(WRITES, max_size=2),
          unwatch=st.booleans(), body=st.lists(VALID, max_size=4),
          end=st.sampled_from(["EXEC", "EXEC", "DISCARD"]))
    def transaction(self, watch, other, unwatch, body, end):
        """A whole WATCH ... MULTI ... EXEC round, with another client writing in between."""
        if watch:
            self._both(0, "WATCH", *watch)
        for cmd in other:
            self._both(1, *cmd)
        if unwatch:
            self._both(0, "UNWATCH")
        self._both(0, "MULTI")
        for cmd in body:
            self._both(0, *cmd)
        self._both(0, end)


@pytest.mark.parametrize("proto", [2, 3])
def test_transactions_differential(server, ref, r, refc, proto):
    bound = type("Transactions", (Transactions,), {"ports": (server.port, ref.port),
                                                   "proto": proto})
    # more runs than the collection machines: a transaction round is one rule among several
    run_state_machine_as_test(bound, settings=settings(DIFF_SETTINGS,
                                                       max_examples=max(EXAMPLES, 100)))


# -- stats and CLIENT PAUSE -----------------------------------------------------------------------
def _stats(c) -> list:
    info = b"".join(c.cmd("INFO", s).split(b"\r\n", 1)[1] for s in
                    ("commandstats", "errorstats", "stats")).decode()
    out = []
    for ln in info.split("\r\n"):
        if ln.startswith(("cmdstat", "errorstat", "total_error", "total_commands")):
            out.append(re.sub(r"usec=\d+,usec_per_call=[\d.]+,", "", ln))
    return sorted(out)


def test_command_and_error_stats(pair):
    """Queued commands count when EXEC runs them; refusals count as rejected, EXECABORT and
    runtime errors as failed."""
    for c in pair:
        c.cmd("CONFIG", "RESETSTAT")
    for cmd in [("MULTI",), ("SET", "a", "1"), ("LPUSH", "a", "x"), ("NOPE",), ("EXEC",),
                ("MULTI",), ("SET", "a", "1"), ("LPUSH", "a", "x"), ("EXEC",), ("EXEC",),
                ("MULTI",), ("EXEC", "x"), ("WATCH", "a"), ("SET", "a", "2"), ("MULTI",),
                ("GET", "a"), ("EXEC",), ("MULTI",), ("SET", "k"), ("DISCARD",)]:
        same_raw(pair, *cmd)
    ours, theirs = (_stats(c) for c in pair)
    assert ours == theirs
    assert "cmdstat_exec:calls=4,rejected_calls=1,failed_calls=2" in ours


def test_client_pause_write_and_transactions(pair, others):
    """PAUSE WRITE postpones a write even while queueing it, and an EXEC with writes; a
    read-only transaction runs."""
    for o in others:
        o.cmd("CLIENT", "PAUSE", 10000, "WRITE")
    try:
        assert pipelined(pair, ("MULTI",), ("GET", "a"), ("EXEC",)).endswith(b"*1\r\n$-1\r\n"
                         if pair[0].proto == 2 else b"*1\r\n_\r\n")
        assert pipelined(pair, ("MULTI",), ("SET", "a", "1"), wait=0.2) == b"+OK\r\n"
    finally:
        for o in others:
            o.cmd("CLIENT", "UNPAUSE")
    got = [c.read() for c in pair]
    assert got[0] == got[1] == b"+QUEUED\r\n"
    script(pair, ("EXEC",), ("GET", "a"))


def test_touch_that_unwatches_does_not_skip_other_hooks():
    """On a fresh server the WATCH hook is registered before the blocking machinery's; the
    write that dooms the watcher (and removes the hook) must still wake the blocked client."""
    s = start_valkeyd("--save", "")
    try:
        w, b, p = RawClient(s.port), RawClient(s.port), RawClient(s.port)
        assert w.cmd("WATCH", "k") == b"+OK\r\n"
        b.send("BLPOP", "k", 5)
        deadline = time.time() + 5
        while b"blocked_clients:1" not in p.cmd("INFO", "clients") and time.time() < deadline:
            time.sleep(0.01)
        assert p.cmd("LPUSH", "k", "v") == b":1\r\n"
        assert b.read() == b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n"
        assert w.cmd("MULTI") == b"+OK\r\n" and w.cmd("PING") == b"+QUEUED\r\n"
        assert w.cmd("EXEC") == b"*-1\r\n"
        for c in (w, b, p):
            c.close()
    finally:
        s.stop()
