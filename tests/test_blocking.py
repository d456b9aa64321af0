"""Blocking list commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP) and the waiter machinery
(valkeyd/blocking.py): timeouts, wake-ups, FIFO fairness, several keys, chains of BLMOVE,
CLIENT UNBLOCK, disconnects, pipelining behind a blocked command.

Scenarios run on valkeyd and on valkey-server with raw sockets, and the exact reply bytes of
every client are compared. Waiting for a client to block is done by polling INFO
``blocked_clients`` (an event), never by sleeping.
"""
from __future__ import annotations

import time

import pytest

from test_lists import Raw


def _blocked(admin: Raw) -> int:
    info = admin.cmd("INFO", "clients").decode()
    for line in info.split("\r\n"):
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    raise AssertionError(info)


def wait_blocked(admin: Raw, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _blocked(admin) != n:
        if time.monotonic() > deadline:
            raise AssertionError(f"blocked_clients never reached {n}")
        time.sleep(0.005)


class Side:
    """Several raw clients on one server."""

    def __init__(self, port: int, proto: int):
        self.port = port
        self.proto = proto
        self.admin = Raw(port)
        self.admin.cmd("FLUSHALL")
        self.clients: list[Raw] = []

    def client(self) -> Raw:
        c = Raw(self.port, self.proto)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients + [self.admin]:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def sides(server, ref, request):
    a, b = Side(server.port, request.param), Side(ref.port, request.param)
    yield a, b
    a.close()
    b.close()


def both(sides, scenario):
    """Run ``scenario(side) -> list of reply bytes`` on both servers; equal results."""
    ours, theirs = sides
    x = scenario(ours)
    y = scenario(theirs)
    assert x == y, f"valkeyd {x!r} != reference {y!r}"
    return x


# -- timeouts --------------------------------------------------------------------------------

def test_timeout_replies(sides):
    def sc(s):
        c = s.client()
        out = []
        for args in (("BLPOP", "k", "0.05"), ("BRPOP", "k1", "k2", "0.01"),
                     ("BLMOVE", "k", "d", "LEFT", "RIGHT", "0.02"),
                     ("BRPOPLPUSH", "k", "d", ".03"),
                     ("BLMPOP", "0.01", "2", "a", "b", "LEFT", "COUNT", "3")):
            t0 = time.monotonic()
            out.append(c.cmd(*args))
            assert time.monotonic() - t0 >= 0.009
        out.append(s.admin.cmd("EXISTS", "d"))
        return out
    res = both(sides, sc)
    assert res[0] in (b"*-1\r\n", b"_\r\n")


def test_fractional_timeout_elapses(server):
    c = Raw(server.port)
    try:
        t0 = time.monotonic()
        assert c.cmd("BLPOP", "none", "0.25") == b"*-1\r\n"
        took = time.monotonic() - t0
        assert 0.2 <= took < 2.0, took
    finally:
        c.close()


TIMEOUT_ERRORS = [
    ("BLPOP", "k", "-1"), ("BLPOP", "k", "-0.5"), ("BLPOP", "k", "abc"), ("BLPOP", "k", ""),
    ("BLPOP", "k", " 1"), ("BLPOP", "k", "1 "), ("BLPOP", "k", "nan"), ("BLPOP", "k", "inf"),
    ("BLPOP", "k", "-inf"), ("BLPOP", "k", "1e20"), ("BLPOP", "k", "9223372036854775807"),
    ("BRPOP", "k", "x"), ("BLMOVE", "a", "b", "LEFT", "RIGHT", "-1"),
    ("BLMOVE", "a", "b", "UP", "RIGHT", "-1"), ("BLMOVE", "a", "b", "LEFT", "DOWN", "x"),
    ("BRPOPLPUSH", "a", "b", "-1"), ("BRPOPLPUSH", "a", "b", "1_0"),
    ("BLMPOP", "-1", "1", "k", "LEFT"), ("BLMPOP", "x", "1", "k", "LEFT"),
    ("BLMPOP", "x", "0", "k", "LEFT"), ("BLMPOP", "0", "1", "k", "MIDDLE"),
    ("BLMPOP", "0", "1", "k", "LEFT", "COUNT", "0"), ("BLMPOP", "0", "2", "k", "LEFT"),
    ("BLMPOP", "0", "1", "k", "LEFT", "COUNT", "1", "COUNT", "2"),
    ("BLPOP", "k", "-0x10"), ("BLPOP", "k", "0x1p-20"), ("BLPOP", "k", "0x"), ("BLPOP", "k", "1e400"),
    ("BLPOP", "k", "-0.0001"),   # ceil(-0.1 ms) is 0: waits forever -> unblocked below
]


def test_timeout_parse_errors(sides):
    def sc(s):
        c = s.client()
        out = [c.cmd(*args) for args in TIMEOUT_ERRORS[:-1]]
        c.send(*TIMEOUT_ERRORS[-1])
        wait_blocked(s.admin, 1)
        cid = c.cmd  # noqa: F841 (the client is blocked: use the admin connection)
        ids = s.admin.cmd("CLIENT", "LIST").decode()
        mine = [ln for ln in ids.split("\n") if "cmd=blpop" in ln]
        cid = mine[0].split("id=")[1].split(" ")[0]
        s.admin.cmd("CLIENT", "UNBLOCK", cid)
        out.append(c.read())
        return out
    both(sides, sc)


# -- wake-ups --------------------------------------------------------------------------------

def test_push_wakes_blocked_client(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = []
        a.send("BLPOP", "q", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("RPUSH", "q", "hello", "world"))
        out.append(a.read())
        out.append(b.cmd("LRANGE", "q", "0", "-1"))
        out.append(s.admin.cmd("INFO", "clients").split(b"blocked_clients:")[1].split(b"\r")[0])
        a.send("BRPOP", "q", "q2", "0")   # q has data: served at once
        out.append(a.read())
        a.send("BLMPOP", "0", "2", "z", "y", "RIGHT", "COUNT", "2")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("LPUSH", "y", "1", "2", "3"))
        out.append(a.read())
        out.append(b.cmd("LRANGE", "y", "0", "-1"))
        return out
    both(sides, sc)


def test_fifo_fairness(sides):
    def sc(s):
        waiters = [s.client() for _ in range(4)]
        for i, w in enumerate(waiters):
            w.send("BLPOP", "q", "0") if i != 2 else w.send("BRPOP", "other", "q", "0")
            wait_blocked(s.admin, i + 1)
        pusher = s.client()
        out = [pusher.cmd("RPUSH", "q", "a")]
        out.append(waiters[0].read())
        out.append(pusher.cmd("RPUSH", "q", "b", "c", "d"))
        out += [w.read() for w in waiters[1:]]
        out.append(pusher.cmd("EXISTS", "q"))
        wait_blocked(s.admin, 0)
        return out
    res = both(sides, sc)
    assert res[1].endswith(b"$1\r\na\r\n")


def test_several_keys_and_argument_order(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = []
        a.send("BLPOP", "k1", "k2", "k3", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("RPUSH", "k3", "x"))
        out.append(a.read())
        # A client blocked on one key twice is queued once.
        a.send("BRPOP", "k1", "k1", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("RPUSH", "k1", "y", "z"))
        out.append(a.read())
        out.append(b.cmd("LRANGE", "k1", "0", "-1"))
        return out
    both(sides, sc)


def test_blmove_chain_wakes_next_client(sides):
    def sc(s):
        a, b, c = s.client(), s.client(), s.client()
        out = []
        a.send("BLMOVE", "src", "mid", "LEFT", "RIGHT", "0")
        wait_blocked(s.admin, 1)
        b.send("BLPOP", "mid", "0")
        wait_blocked(s.admin, 2)
        c.send("BRPOPLPUSH", "dst", "final", "0")
        wait_blocked(s.admin, 3)
        pusher = s.client()
        out.append(pusher.cmd("RPUSH", "src", "v1"))
        out.append(a.read())
        out.append(b.read())
        out.append(pusher.cmd("EXISTS", "src", "mid"))
        out.append(pusher.cmd("LMOVE", "none", "dst", "LEFT", "LEFT"))
        out.append(pusher.cmd("RPUSH", "x", "v2"))
        out.append(pusher.cmd("LMOVE", "x", "dst", "LEFT", "LEFT"))
        out.append(c.read())
        out.append(pusher.cmd("LRANGE", "final", "0", "-1"))
        return out
    both(sides, sc)


def test_wrong_type_does_not_serve_and_client_stays_blocked(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = []
        a.send("BLPOP", "k", "0")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("SET", "k", "string"))
        out.append(b.cmd("GET", "k"))
        out.append(b.cmd("DEL", "k"))
        out.append(b.cmd("SET", "k", "again"))
        out.append(b.cmd("DEL", "k"))
        out.append(b.cmd("LPUSH", "k", "v"))
        out.append(a.read())
        out.append(b.cmd("BLPOP", "k", "0.01"))
        out.append(b.cmd("SET", "s", "x"))
        out.append(b.cmd("BLPOP", "none", "s", "0"))
        out.append(b.cmd("BLMOVE", "s", "d", "LEFT", "LEFT", "0"))
        out.append(b.cmd("RPUSH", "l", "v"))
        out.append(b.cmd("BLMOVE", "l", "s", "LEFT", "LEFT", "0"))
        out.append(b.cmd("BLMPOP", "0", "2", "none", "s", "LEFT"))
        return out
    both(sides, sc)


# -- CLIENT UNBLOCK, disconnects, pipelining --------------------------------------------------

def _client_id(c: Raw) -> int:
    return int(c.cmd("CLIENT", "ID")[1:-2])


def test_client_unblock(sides):
    def sc(s):
        a = s.client()
        aid = _client_id(a)
        out = [s.admin.cmd("CLIENT", "UNBLOCK", str(aid))]
        a.send("BLPOP", "k", "0")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid), "TIMEOUT"))
        out.append(a.read())
        a.send("BLMOVE", "k", "d", "LEFT", "LEFT", "0")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid), "ERROR"))
        out.append(a.read())
        a.send("BLMPOP", "0", "1", "k", "LEFT")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid), "FOO"))
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid)))
        out.append(a.read())
        out.append(s.admin.cmd("CLIENT", "UNBLOCK", str(aid)))
        out.append(a.cmd("PING"))
        return out
    res = both(sides, sc)
    assert res[4] == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"


def test_client_list_flag_and_info(server):
    s = Side(server.port, 2)
    try:
        a = s.client()
        aid = _client_id(a)
        a.send("BRPOP", "k", "0")
        wait_blocked(s.admin, 1)
        line = [ln for ln in s.admin.cmd("CLIENT", "LIST").decode().split("\n")
                if ln.startswith("id=%d " % aid)][0]
        assert " flags=b " in line and "cmd=brpop" in line
        s.admin.cmd("CLIENT", "UNBLOCK", str(aid))
        assert a.read() == b"*-1\r\n"
        assert _blocked(s.admin) == 0
    finally:
        s.close()


def test_disconnect_while_blocked(sides):
    def sc(s):
        a = s.client()
        a.send("BLPOP", "k", "0")
        b = s.client()
        b.send("BLPOP", "k", "0")
        wait_blocked(s.admin, 2)
        a.close()
        s.clients.remove(a)
        wait_blocked(s.admin, 1)
        out = [s.admin.cmd("RPUSH", "k", "v1", "v2")]
        out.append(b.read())
        out.append(s.admin.cmd("LRANGE", "k", "0", "-1"))
        return out
    both(sides, sc)


def test_pipelined_commands_run_after_the_blocked_one(sides):
    def sc(s):
        a, b = s.client(), s.client()
        a.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"
                       b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2\r\nv1\r\n"
                       b"*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n"
                       b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"
                       b"*1\r\n$4\r\nPING\r\n")
        wait_blocked(s.admin, 1)
        out = [b.cmd("GET", "x")]      # the SET behind the BLPOP has not run
        out.append(b.cmd("RPUSH", "q", "1"))
        out.append(a.read())
        out.append(a.read())
        out.append(a.read())
        wait_blocked(s.admin, 1)       # the second BLPOP waits again
        out.append(b.cmd("GET", "x"))
        out.append(b.cmd("RPUSH", "q", "2", "3"))
        out.append(a.read())
        out.append(a.read())
        out.append(b.cmd("LRANGE", "q", "0", "-1"))
        return out
    both(sides, sc)


def test_served_pipeline_then_new_requests(sides):
    """A client served while another request of it is still arriving keeps its order."""
    def sc(s):
        a, b = s.client(), s.client()
        a.send("BRPOPLPUSH", "src", "dst", "0")
        wait_blocked(s.admin, 1)
        a.send("LLEN", "dst")
        out = [b.cmd("LPUSH", "src", "e")]
        out.append(a.read())
        out.append(a.read())
        return out
    both(sides, sc)


def test_blocking_inside_multi_returns_at_once(r):
    r.execute_command("MULTI")
    r.execute_command("BLPOP", "none", "0")
    r.execute_command("BLMOVE", "none", "d", "LEFT", "LEFT", "0")
    res = r.execute_command("EXEC")
    assert res == [None, None]


def test_info_blocking_counters(sides):
    def sc(s):
        a, b = s.client(), s.client()
        a.send("BLPOP", "k1", "k2", "0")
        b.send("BLMOVE", "k2", "d", "LEFT", "LEFT", "100")
        wait_blocked(s.admin, 2)
        info = s.admin.cmd("INFO", "clients").decode()
        fields = dict(ln.split(":", 1) for ln in info.split("\r\n")
                      if ln.startswith(("total_blocking_keys", "clients_in_timeout_table",
                                        "blocked_clients")))
        s.admin.cmd("RPUSH", "k2", "x", "y")
        a.read()
        b.read()
        wait_blocked(s.admin, 0)
        info = s.admin.cmd("INFO", "clients").decode()
        after = [ln for ln in info.split("\r\n") if ln.startswith("total_blocking_keys:")]
        return [sorted(fields.items()), after]
    both(sides, sc)


def test_swapdb_wakes_clients(sides):
    def sc(s):
        a = s.client()
        a.send("BLPOP", "k", "0")
        wait_blocked(s.admin, 1)
        s.admin.cmd("SELECT", "1")
        out = [s.admin.cmd("RPUSH", "k", "from-db1")]
        out.append(s.admin.cmd("SWAPDB", "0", "1"))
        out.append(a.read())
        out.append(s.admin.cmd("LLEN", "k"))
        s.admin.cmd("SELECT", "0")
        return out
    both(sides, sc)


def test_served_client_pipeline_runs_after_the_writers_batch(sides):
    """Redis serves a blocked client right after the command that made its key ready, but
    runs the requests it sent meanwhile only after the writer's whole batch
    (processUnblockedClients in beforeSleep)."""
    def sc(s):
        a, b = s.client(), s.client()
        a.send("BLPOP", "q", "0")
        wait_blocked(s.admin, 1)
        a.send("SET", "x", "from-a")
        b.sock.sendall(b"*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$1\r\nv\r\n"
                       b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"
                       b"*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n")
        out = [b.read(), b.read(), b.read(), a.read(), a.read(), b.cmd("GET", "x")]
        return out
    both(sides, sc)


def test_commandstats_count_a_blocked_command_once(sides):
    def calls(s, name):
        s.admin.cmd("PING")
        info = s.admin.cmd("INFO", "commandstats").decode()
        for ln in info.split("\r\n"):
            if ln.startswith("cmdstat_%s:" % name):
                return [kv for kv in ln.split(":", 1)[1].split(",")
                        if kv.startswith(("calls=", "failed_calls=", "rejected_calls="))]
        return None

    def sc(s):
        s.admin.cmd("CONFIG", "RESETSTAT")
        a = s.client()
        aid = _client_id(a)
        a.send("BLPOP", "k", "0")
        wait_blocked(s.admin, 1)
        out = [calls(s, "blpop")]
        s.admin.cmd("RPUSH", "k", "v")
        a.read()
        out.append(calls(s, "blpop"))
        a.send("BRPOP", "k", "0.01")
        a.read()
        a.send("BRPOP", "k", "0")
        wait_blocked(s.admin, 1)
        s.admin.cmd("CLIENT", "UNBLOCK", str(aid), "ERROR")
        a.read()
        out.append(calls(s, "brpop"))
        return out
    both(sides, sc)


def test_keys_created_by_rename_move_copy_wake_clients(sides):
    def sc(s):
        a = s.client()
        out = []
        s.admin.cmd("RPUSH", "tmp", "r1", "r2")
        a.send("BLPOP", "k", "0")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("RENAME", "tmp", "k"))
        out.append(a.read())
        a.send("BRPOP", "k2", "0")   # k still holds r2: wait on another key
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("COPY", "k", "k2"))
        out.append(a.read())
        a.send("BLMPOP", "0", "1", "k3", "LEFT", "COUNT", "5")
        wait_blocked(s.admin, 1)
        s.admin.cmd("SELECT", "2")
        s.admin.cmd("RPUSH", "k3", "m1", "m2")
        out.append(s.admin.cmd("MOVE", "k3", "0"))
        s.admin.cmd("SELECT", "0")
        out.append(a.read())
        out.append(s.admin.cmd("EXISTS", "k", "k2", "k3"))
        return out
    both(sides, sc)


def test_blmove_served_into_wrong_type_and_rotation(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = [s.admin.cmd("SET", "dst", "string")]
        a.send("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
        wait_blocked(s.admin, 1)
        out.append(s.admin.cmd("RPUSH", "src", "v"))
        out.append(a.read())                       # WRONGTYPE at the re-execution
        out.append(s.admin.cmd("LRANGE", "src", "0", "-1"))
        out.append(s.admin.cmd("DEL", "src"))
        a.send("BLMOVE", "rot", "rot", "LEFT", "RIGHT", "0")
        wait_blocked(s.admin, 1)
        b.send("BLPOP", "rot", "0")
        wait_blocked(s.admin, 2)
        out.append(s.admin.cmd("RPUSH", "rot", "1", "2"))
        out.append(a.read())
        out.append(b.read())
        out.append(s.admin.cmd("LRANGE", "rot", "0", "-1"))
        return out
    both(sides, sc)
