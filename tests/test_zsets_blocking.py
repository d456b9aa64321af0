"""Blocking sorted-set pops: BZPOPMIN BZPOPMAX BZMPOP.

Scenarios run on valkeyd and on valkey-server with raw sockets (RESP2 and RESP3) and the
exact reply bytes of every client are compared: immediate pops, argument errors in Redis's
order, timeouts, wake-ups by ZADD (and ZUNIONSTORE, RENAME ...) from another client, FIFO
fairness, several keys, wrong types, CLIENT UNBLOCK, MULTI. Propagation (ZPOPMIN/ZPOPMAX
instead of the blocking command) and keyspace events are checked in-process. Waiting for a
client to block polls INFO ``blocked_clients``, never a sleep.
"""
from __future__ import annotations

import time

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import rule

from differential import KEYS, VALUES, DiffMachine, run_machine
from harness import inproc_client, inproc_server
from test_blocking import _client_id, both, sides, wait_blocked  # noqa: F401  (fixture)



def test_immediate_pops_and_reply_shapes(sides):
    def sc(s):
        c = s.client()
        out = [c.cmd("ZADD", "z", "1", "a", "2.5", "b", "-inf", "c", "1e300", "d", "3", "e"),
               c.cmd("ZADD", "y", "7", "q")]
        for args in (("BZPOPMIN", "z", "0"), ("BZPOPMAX", "z", "0"),
                     ("BZPOPMIN", "none", "y", "z", "1"), ("BZPOPMAX", "none", "z", "0.5"),
                     ("BZMPOP", "0", "2", "none", "z", "MIN"),
                     ("BZMPOP", "0", "1", "z", "max", "COUNT", "5"),
                     ("EXISTS", "z", "y"),
                     ("ZADD", "w", "1", "a", "2", "b", "3", "c"),
                     ("BZMPOP", "0.1", "1", "w", "MAX", "COUNT", "2"),
                     ("BZMPOP", "0", "1", "w", "min", "count", "1"),
                     ("EXISTS", "w")):
            out.append(c.cmd(*args))
        return out
    res = both(sides, sc)
    assert res[2] in (b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n$4\r\n-inf\r\n",
                      b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n,-inf\r\n")


ERRORS = [
    ("BZPOPMIN", "z"), ("BZPOPMAX",), ("BZMPOP", "0", "1", "z"),
    ("BZPOPMIN", "z", "abc"), ("BZPOPMIN", "z", "-1"), ("BZPOPMAX", "z", "nan"),
    ("BZPOPMIN", "z", "1e20"), ("BZPOPMIN", "z", "0x10g"), ("BZPOPMIN", "z", ""),
    ("BZPOPMIN", "z", " 1"), ("BZPOPMIN", "z", "inf"), ("BZPOPMIN", "z", "-inf"),
    ("BZPOPMAX", "str", "0"), ("BZPOPMAX", "none", "str", "z", "0"),
    ("BZPOPMIN", "z", "str", "0"),
    ("BZMPOP", "0", "0", "z", "MIN"), ("BZMPOP", "0", "-1", "z", "MIN"),
    ("BZMPOP", "0", "x", "z", "MIN"), ("BZMPOP", "0", "2", "z", "MIN"),
    ("BZMPOP", "0", "1", "z", "MIDDLE"), ("BZMPOP", "0", "1", "z", "MIN", "COUNT"),
    ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"), ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "-2"),
    ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "1", "COUNT", "2"),
    ("BZMPOP", "0", "1", "z", "MIN", "LIMIT", "2"),
    # options are checked before the timeout
    ("BZMPOP", "bad", "1", "z", "MIDDLE"), ("BZMPOP", "-1", "0", "z", "MIN"),
    ("BZMPOP", "bad", "1", "z", "MIN"), ("BZMPOP", "-1", "1", "z", "MIN"),
    ("BZMPOP", "0", "1", "str", "MIN"), ("BZMPOP", "0", "2", "none", "str", "MAX", "COUNT", "3"),
]


def test_errors(sides):
    def sc(s):
        c = s.client()
        c.cmd("SET", "str", "x")
        c.cmd("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f")
        out = [c.cmd(*args) for args in ERRORS]
        out.append(c.cmd("ZRANGE", "z", "0", "-1", "WITHSCORES"))
        return out
    res = both(sides, sc)
    assert all(r.startswith(b"-") for r in res[:4])


def test_timeouts(sides):
    def sc(s):
        c = s.client()
        out = []
        for args in (("BZPOPMIN", "k", "0.05"), ("BZPOPMAX", "k1", "k2", "0.01"),
                     ("BZMPOP", "0.02", "2", "a", "b", "MIN", "COUNT", "3"),
                     ("BZMPOP", "0.01", "1", "a", "MAX")):
            t0 = time.monotonic()
            out.append(c.cmd(*args))
            assert time.monotonic() - t0 >= 0.009
        out.append(c.cmd("EXISTS", "k", "a"))
        return out
    res = both(sides, sc)
    assert res[0] in (b"*-1\r\n", b"_\r\n")


def test_zadd_wakes_blocked_clients(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = []
        a.send("BZPOPMIN", "z1", "z2", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("ZADD", "z2", "5", "five", "3", "three"))
        out.append(a.read())
        out.append(b.cmd("ZRANGE", "z2", "0", "-1", "WITHSCORES"))
        a.send("BZPOPMAX", "z3", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("ZADD", "z3", "1", "one", "2.5", "two"))
        out.append(a.read())
        a.send("BZMPOP", "0", "2", "m1", "m2", "MAX", "COUNT", "10")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("ZADD", "m2", "1", "x", "2", "y", "3", "z"))
        out.append(a.read())
        out.append(b.cmd("EXISTS", "m2"))
        # ZINCRBY creating the key, ZUNIONSTORE writing it, RENAME moving one in.
        a.send("BZPOPMIN", "n1", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("ZINCRBY", "n1", "4", "inc"))
        out.append(a.read())
        a.send("BZPOPMAX", "n2", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("ZADD", "src", "9", "nine"))
        out.append(b.cmd("ZUNIONSTORE", "n2", "1", "src"))
        out.append(a.read())
        a.send("BZMPOP", "0", "1", "n3", "MIN")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("RENAME", "src", "n3"))
        out.append(a.read())
        return out
    both(sides, sc)


def test_fifo_fairness_and_several_keys(sides):
    def sc(s):
        waiters = [s.client() for _ in range(4)]
        cmds = [("BZPOPMIN", "q", "0"), ("BZPOPMAX", "other", "q", "0"),
                ("BZMPOP", "0", "2", "q", "other", "MIN", "COUNT", "2"), ("BZPOPMIN", "q", "0")]
        for i, (w, cmd) in enumerate(zip(waiters, cmds)):
            w.send(*cmd)
            wait_blocked(s.admin, i + 1)
        pusher = s.client()
        out = [pusher.cmd("ZADD", "q", "1", "a")]
        out.append(waiters[0].read())
        out.append(pusher.cmd("ZADD", "q", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f"))
        out += [w.read() for w in waiters[1:]]
        out.append(pusher.cmd("ZRANGE", "q", "0", "-1"))
        wait_blocked(s.admin, 0)
        # A client blocked on the same key twice is queued once.
        waiters[0].send("BZPOPMIN", "d", "d", "0")
        wait_blocked(s.admin, 1)
        out.append(pusher.cmd("ZADD", "d", "1", "x", "2", "y"))
        out.append(waiters[0].read())
        out.append(pusher.cmd("ZRANGE", "d", "0", "-1"))
        return out
    both(sides, sc)


def test_wrong_type_does_not_serve(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = []
        a.send("BZPOPMIN", "k", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("SET", "k", "string"))
        out.append(b.cmd("DEL", "k"))
        out.append(b.cmd("RPUSH", "k", "listval"))
        out.append(b.cmd("DEL", "k"))
        out.append(b.cmd("ZADD", "k", "1", "m"))
        out.append(a.read())
        # a list-blocked client is not served by a sorted set, and the reverse
        a.send("BLPOP", "k2", "0")
        wait_blocked(s.admin, 1)
        b.send("BZPOPMAX", "k3", "0")
        wait_blocked(s.admin, 2)
        out.append(s.admin.cmd("ZADD", "k2", "1", "m"))
        out.append(s.admin.cmd("DEL", "k2"))
        out.append(s.admin.cmd("RPUSH", "k3", "v"))
        out.append(s.admin.cmd("DEL", "k3"))
        out.append(s.admin.cmd("RPUSH", "k2", "v"))
        out.append(a.read())
        out.append(s.admin.cmd("ZADD", "k3", "2", "n"))
        out.append(b.read())
        return out
    both(sides, sc)


def test_client_unblock_and_disconnect(sides):
    def sc(s):
        a = s.client()
        aid = _client_id(a)
        out = []
        a.send("BZPOPMIN", "k", "0")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid)))
        out.append(a.read())
        a.send("BZMPOP", "0", "1", "k", "MAX")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid), "ERROR"))
        out.append(a.read())
        b = s.client()
        b.send("BZPOPMAX", "k", "0")
        wait_blocked(s.admin, 1)
        b.close()
        wait_blocked(s.admin, 0)
        a.send("BZPOPMAX", "k", "0")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("ZADD", "k", "1", "a", "2", "b"))
        out.append(a.read())
        return out
    both(sides, sc)


def test_blocking_inside_multi_returns_at_once(r):
    r.execute_command("MULTI")
    r.execute_command("BZPOPMIN", "none", "0")
    r.execute_command("BZMPOP", "0", "1", "none", "MAX")
    assert r.execute_command("EXEC") == [None, None]


def test_command_info_and_getkeys(r, refc):
    for c in (r, refc):
        c.set_response_callback("COMMAND", lambda x, **kw: x)
    for args in (("BZPOPMIN", "a", "b", "0"), ("BZPOPMAX", "a", "0"),
                 ("BZMPOP", "0", "2", "a", "b", "MIN"), ("BZMPOP", "0", "1", "a", "MAX",
                                                         "COUNT", "2")):
        assert r.execute_command("COMMAND", "GETKEYS", *args) == \
            refc.execute_command("COMMAND", "GETKEYS", *args)
    for name in ("bzpopmin", "bzpopmax", "bzmpop"):
        assert r.execute_command("COMMAND", "INFO", name)[0][:6] == \
            refc.execute_command("COMMAND", "INFO", name)[0][:6]


# -- in-process: propagation and keyspace events ----------------------------------------------
@pytest.fixture
def inproc():
    srv, props, events = inproc_server()

    def client():
        return inproc_client(srv)

    def cmd(c, *args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        c.execute(argv)

    yield srv, props, events, client, cmd


def test_propagation_and_events(inproc):
    srv, props, events, client, cmd = inproc
    a = client()
    cmd(a, "ZADD", "z", "1", "a", "2", "b", "3", "c")
    props.clear()
    events.clear()
    cmd(a, "BZPOPMIN", "none", "z", "0")
    assert props == [[b"ZPOPMIN", b"z"]] and events == [("z", "zpopmin", b"z")]
    props.clear()
    cmd(a, "BZMPOP", "0", "1", "z", "MAX", "COUNT", "5")
    assert props == [[b"ZPOPMAX", b"z", b"2"]]
    assert events == [("z", "zpopmin", b"z"), ("z", "zpopmax", b"z"), ("g", "del", b"z")]
    props.clear()
    events.clear()
    # Blocked, then served by another client's ZADD: ZADD, then the rewritten pop.
    b = client()
    cmd(a, "BZPOPMAX", "w", "0")
    assert a.blocked is not None and props == []
    cmd(b, "ZADD", "w", "1", "x", "2", "y")
    assert a.blocked is None
    assert props == [[b"ZADD", b"w", b"1", b"x", b"2", b"y"], [b"ZPOPMAX", b"w"]]
    assert events == [("z", "zadd", b"w"), ("z", "zpopmax", b"w")]
    props.clear()
    cmd(a, "BZMPOP", "0", "2", "v", "w", "MIN", "COUNT", "3")
    assert props == [[b"ZPOPMIN", b"w", b"1"]]
    props.clear()
    cmd(a, "BZMPOP", "0", "1", "v", "MIN", "COUNT", "3")
    cmd(b, "ZADD", "v", "1", "p")
    assert props == [[b"ZADD", b"v", b"1", b"p"], [b"ZPOPMIN", b"v", b"1"]]
    assert srv.dbs[0].exists(b"v") is False


# -- differential: the paths that answer at once ----------------------------------------------
SCORES = st.sampled_from([b"0", b"1", b"-1", b"2.5", b"inf", b"-inf", b"1e300"])
KEYLIST = st.lists(KEYS, min_size=1, max_size=3)
# Mostly non-blocking: a timeout of a few ms when nothing can be served.
TIMEOUTS = st.sampled_from([b"0.002", b"0.001", b"bad", b"-1"])


class BlockingZPops(DiffMachine):
    @rule(key=KEYS, members=st.lists(VALUES, min_size=1, max_size=5),
          scores=st.lists(SCORES, min_size=5, max_size=5))
    def zadd(self, key, members, scores):
        args = []
        for m, s in zip(members, scores):
            args += [s, m]
        self.check("ZADD", key, *args)

    @rule(key=KEYS)
    def set_string(self, key):
        self.check("SET", key, b"v")

    @rule(key=KEYS)
    def delete(self, key):
        self.check("DEL", key)

    @rule(keys=KEYLIST, timeout=TIMEOUTS, maximum=st.booleans())
    def bzpop(self, keys, timeout, maximum):
        self.check("BZPOPMAX" if maximum else "BZPOPMIN", *keys, timeout)

    @rule(keys=KEYLIST, timeout=TIMEOUTS, where=st.sampled_from([b"MIN", b"max", b"mid"]),
          count=st.one_of(st.none(), st.integers(-1, 7)), numkeys_delta=st.sampled_from(
              [0, 0, 0, 1, -1]))
    def bzmpop(self, keys, timeout, where, count, numkeys_delta):
        args = ["BZMPOP", timeout, len(keys) + numkeys_delta, *keys, where]
        if count is not None:
            args += ["COUNT", count]
        self.check(*args)

    @rule(key=KEYS)
    def state(self, key):
        self.check_state(key)
        if self.ours.type(key) == b"zset":
            self.check("ZRANGE", key, 0, -1, "WITHSCORES")


def test_blocking_zpops_differential(r, refc):
    run_machine(BlockingZPops, r, refc)
