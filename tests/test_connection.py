"""Connection commands (PING ECHO QUIT SELECT AUTH HELLO RESET) against a real valkey-server.

Requests go over raw sockets to valkeyd and valkey-server; the reply bytes and whether the
connection was closed are compared. HELLO's reply names the server: its ``server``,
``version`` and ``id`` fields are normalised before comparing, and checked on their own
(valkeyd reports Redis 7.2.4, as the specification says).
"""
from __future__ import annotations

import re

import pytest
import redis

from test_protocol import compare_cases, mb, talk

HELLO3 = mb("HELLO", "3")


def _norm(reply):
    data, closed = reply
    data = data.replace(b"$6\r\nvalkey\r\n$7\r\nversion\r\n$5\r\n8.0.1\r\n",
                        b"$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n")
    data = re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", data)
    return data, closed


def assert_same(a, b, cases, **kw):
    diffs = [(c, x, y) for c, x, y in compare_cases(a, b, cases, **kw) if _norm(x) != _norm(y)]
    assert not diffs, "\n".join(f"{c!r}:\n  valkeyd {x!r}\n  valkey  {y!r}" for c, x, y in diffs)


@pytest.fixture(autouse=True)
def _clean(server, ref):
    for s in (server, ref):
        c = s.client()
        c.flushall()
        c.close()


COMMANDS = [
    ("PING",), ("PING", "x"), ("PING", "a", "b"), ("ping", ""), ("ECHO",), ("ECHO", "a", "b"),
    ("ECHO", ""), ("ECHO", b"\x00\xff\r\n"),
    ("SELECT", "0"), ("SELECT", "15"), ("SELECT", "16"), ("SELECT", "-1"), ("SELECT", "abc"),
    ("SELECT", "2147483647"), ("SELECT", "2147483648"), ("SELECT", "-2147483649"),
    ("SELECT", "1.5"), ("SELECT", " 1"), ("SELECT", "01"), ("SELECT", ""), ("SELECT", "+1"),
    ("SELECT", "9999999999999999999999"), ("SELECT",), ("SELECT", "1", "2"),
    ("AUTH",), ("AUTH", "x"), ("AUTH", "default", "x"), ("AUTH", "a", "b", "c"),
    ("AUTH", "default", ""),
    ("HELLO",), ("HELLO", "1"), ("HELLO", "4"), ("HELLO", "abc"), ("HELLO", "-1"),
    ("HELLO", "3.0"), ("HELLO", " 3"), ("HELLO", "03"), ("HELLO", "2"), ("HELLO", "3"),
    ("HELLO", "3", "FOO"), ("HELLO", "3", "AUTH", "default"), ("HELLO", "3", "SETNAME"),
    ("HELLO", "3", "SETNAME", "a b"), ("HELLO", "3", "SETNAME", "a\nb"),
    ("HELLO", "3", "SETNAME", "\xe9"), ("HELLO", "2", "setname", b"x\x00 y"),
    ("HELLO", "2", "SETNAME", ""), ("HELLO", "3", "SETNAME", "a b", "AUTH", "a", "b"),
    ("HELLO", "3", "AUTH", "default", "x", "FOO"), ("HELLO", "3", "auth", "default", "x"),
    ("HELLO", "2", "SETNAME", "n1", "SETNAME", "n2"), ("HELLO", "3", b"\xffopt\x00x"),
    ("RESET",), ("RESET", "x"), ("QUIT",), ("QUIT", "x"),
]


@pytest.mark.parametrize("prefix", [b"", HELLO3], ids=["resp2", "resp3"])
def test_connection_commands_match_reference(server, ref, prefix):
    cases = [prefix + mb(*c) + mb("PING") + mb("ECHO", "after") for c in COMMANDS]
    assert_same(server, ref, cases)


def test_auth_failure_without_password_configured(server, ref):
    # AUTH user pass with nopass default user: WRONGPASS for an unknown user
    assert_same(server, ref, [mb("AUTH", "foo", "bar") + mb("PING"),
                              mb("HELLO", "2", "AUTH", "foo", "bar") + mb("PING")])
    # Valkey 8.0.1 sends no reply at all to a failed AUTH in RESP3; Redis 7.2.4 replies
    # WRONGPASS in any protocol.
    for cmd in (mb("AUTH", "foo", "bar"), mb("HELLO", "3", "AUTH", "foo", "bar")):
        data, closed = talk(server.port, HELLO3 + cmd + mb("PING"))
        assert not closed
        assert data.endswith(b"-WRONGPASS invalid username-password pair or user is disabled."
                             b"\r\n+PONG\r\n")


def test_state_changes_match_reference(server, ref):
    assert_same(server, ref, [
        mb("SELECT", "3") + mb("SET", "k", "v") + mb("RESET") + mb("GET", "k") + mb("SELECT", "3")
        + mb("GET", "k") + mb("DEL", "k"),
        HELLO3 + mb("RESET") + mb("HELLO") + mb("SET", "x", "1") + mb("GET", "nosuch"),
        HELLO3 + mb("GET", "nosuch") + mb("HELLO", "2") + mb("GET", "nosuch"),
        mb("CLIENT", "SETNAME", "foo") + mb("RESET") + mb("CLIENT", "GETNAME"),
        mb("HELLO", "3", "SETNAME", "bar") + mb("CLIENT", "GETNAME"),
        mb("HELLO", "2", "SETNAME", "bar") + mb("HELLO", "2", "SETNAME", "") + mb("CLIENT", "GETNAME"),
        mb("CLIENT", "REPLY", "OFF") + mb("PING") + mb("RESET") + mb("PING"),
        mb("HELLO", "3", "SETNAME", "bad name") + mb("GET", "nosuch"),
        b"PING\r\nQUIT\r\nPING\r\n", mb("QUIT") + mb("PING"),
    ])


def test_hello_reply_fields(server, ref):
    for proto in (2, 3):
        ours = server.client(protocol=proto)
        theirs = ref.client(protocol=proto)
        a = ours.execute_command("HELLO", proto)
        b = theirs.execute_command("HELLO", proto)
        norm = (lambda d: {(k.decode() if isinstance(k, bytes) else k): v for k, v in
                           (d.items() if isinstance(d, dict) else zip(d[::2], d[1::2]))})
        a, b = norm(a), norm(b)
        assert list(a) == list(b) == ["server", "version", "proto", "id", "mode", "role",
                                      "modules"]
        assert a["server"] == b"redis" and a["version"] == b"7.2.4"
        assert a["id"] == ours.client_id()
        for k in ("proto", "mode", "role", "modules"):
            assert a[k] == b[k], k
        ours.close()
        theirs.close()


def test_hello_switches_protocol_for_following_replies(server):
    data, closed = talk(server.port, mb("HELLO", "3") + mb("GET", "x") + mb("HELLO", "2")
                        + mb("GET", "x"))
    assert not closed
    assert data.startswith(b"%7\r\n")
    assert b"$7\r\nmodules\r\n*0\r\n_\r\n*14\r\n" in data
    assert data.endswith(b"$7\r\nmodules\r\n*0\r\n$-1\r\n")


def test_ping_in_both_protocols(rr):
    assert rr.ping() is True
    # PING <msg> is a bulk reply (redis-py turns any PING reply into True)
    conn = rr.connection_pool.get_connection()
    conn.send_command("PING", "hello")
    assert conn.read_response() == b"hello"
    rr.connection_pool.release(conn)
    assert rr.echo(b"\x00bin\xff") == b"\x00bin\xff"


def test_auth_with_requirepass(authpair):
    a, b = authpair
    assert_same(a, b, [
        mb("PING") + mb("GET", "k") + mb("ECHO", "x") + mb("SELECT", "1"),
        mb("AUTH", "wrong") + mb("PING"), mb("AUTH", "default", "wrong") + mb("PING"),
        mb("AUTH", "sekret") + mb("PING"), mb("AUTH", "default", "sekret") + mb("PING"),
        mb("AUTH", "Default", "sekret") + mb("PING"), mb("AUTH", "x", "y", "z"),
        mb("AUTH", "sekret") + mb("RESET") + mb("PING"),
        mb("HELLO") + mb("PING"), mb("HELLO", "3") + mb("PING"),
        mb("HELLO", "2", "AUTH", "default", "sekret") + mb("PING"),
        mb("HELLO", "3", "AUTH", "default", "sekret", "SETNAME", "me") + mb("CLIENT", "GETNAME"),
        mb("HELLO", "2", "AUTH", "default", "wrong", "SETNAME", "me") + mb("PING"),
        mb("HELLO", "2", "SETNAME", "a b", "AUTH", "default", "sekret") + mb("PING"),
        mb("HELLO", "5", "AUTH", "default", "sekret") + mb("PING"),
        mb("QUIT"), b"PING\r\nAUTH sekret\r\nPING\r\n", mb("RESET") + mb("PING"),
        mb("NOSUCH") + mb("PING"),
    ])
    c = redis.Redis(port=a.port, password="sekret")
    assert c.ping() is True
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=a.port, password="nope").ping()
    c.close()


def test_reset_clears_connection_state(server):
    c = server.client(protocol=2)
    c.execute_command("SELECT", 5)
    c.execute_command("CLIENT", "SETNAME", "someone")
    assert c.execute_command("RESET") in (b"RESET", "RESET")
    info = c.client_info()
    assert str(info["db"]) == "0" and info["name"] == "" and str(info["resp"]) == "2"
    c.close()
