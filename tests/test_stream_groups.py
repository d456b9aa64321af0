"""Stream consumer groups and XINFO: XGROUP (CREATE SETID DESTROY CREATECONSUMER DELCONSUMER
HELP), XREADGROUP (COUNT BLOCK NOACK, ``>`` and history), XACK, XPENDING, XCLAIM, XAUTOCLAIM,
XINFO (STREAM [FULL [COUNT]], GROUPS, CONSUMERS, HELP).

Deterministic replies are compared byte for byte with valkey-server (RESP2 and RESP3, raw
sockets, explicit IDs). Replies that carry times (idle, seen-time, delivery times) are
compared after replacing the times by whether they are plausible. Blocking scenarios wait for
INFO ``blocked_clients``, never sleep. Propagation and keyspace events are checked on the
wire; propagation is checked in-process (``server.propagate_hooks``), including a replay
of the propagated commands that must give the same groups.
"""
from __future__ import annotations


import pytest

from harness import inproc_client, inproc_server, same_raw
from test_blocking import _client_id, both, sides, wait_blocked  # noqa: F401  (fixture)



def _setup(pair):
    for a in (("XADD", "s", "1-1", "a", "1"), ("XADD", "s", "2-1", "b", "2", "c", "3"),
              ("XADD", "s", "3-1", "d", "4"), ("XADD", "s", "4-1", "e", "5")):
        same_raw(pair, *a)


def test_xgroup_create_setid_destroy(pair):
    p = pair
    same_raw(p, "XGROUP", "CREATE", "s", "g", "$")
    same_raw(p, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    same_raw(p, "EXISTS", "s")
    same_raw(p, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM", "ENTRIESREAD", "3")
    same_raw(p, "XGROUP", "CREATE", "s", "g", "$")
    _setup(p)
    same_raw(p, "XGROUP", "CREATE", "s", "g2", "0")
    same_raw(p, "XGROUP", "CREATE", "s", "g3", "2-1", "ENTRIESREAD", "2")
    same_raw(p, "XGROUP", "CREATE", "s", "g4", "2", "ENTRIESREAD", "-1")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "$", "entriesread", "-2")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "$", "ENTRIESREAD", "x")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "$", "ENTRIESREAD")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "$", "BOGUS")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "+")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "-")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "abc")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "1-2-3")
    same_raw(p, "XGROUP", "CREATE", "s", "g5", "18446744073709551615-18446744073709551615")
    same_raw(p, "XGROUP", "CREATE", "s", "g6", "$", "MKSTREAM", "MKSTREAM", "MKSTREAM",
             "MKSTREAM")
    same_raw(p, "XGROUP", "CREATE", "s", "g6", "$", "MKSTREAM", "MKSTREAM", "MKSTREAM")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XGROUP", "SETID", "s", "g", "1-1")
    same_raw(p, "XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "4")
    same_raw(p, "XGROUP", "SETID", "s", "g2", "-")
    same_raw(p, "XGROUP", "SETID", "s", "g3", "+")
    same_raw(p, "XGROUP", "SETID", "s", "g", "1-1", "MKSTREAM")
    same_raw(p, "XGROUP", "SETID", "s", "g", "1-1", "ENTRIESREAD", "1", "x")
    same_raw(p, "XGROUP", "SETID", "s", "nogroup", "1-1")
    same_raw(p, "XGROUP", "SETID", "nokey", "g", "1-1")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XGROUP", "DESTROY", "s", "g4")
    same_raw(p, "XGROUP", "DESTROY", "s", "g4")
    same_raw(p, "XGROUP", "DESTROY", "nokey", "g4")
    same_raw(p, "XGROUP", "DESTROY", "s", "g4", "x")
    same_raw(p, "XGROUP", "CREATECONSUMER", "s", "g", "alice")
    same_raw(p, "XGROUP", "CREATECONSUMER", "s", "g", "alice")
    same_raw(p, "XGROUP", "CREATECONSUMER", "s", "nog", "alice")
    same_raw(p, "XGROUP", "CREATECONSUMER", "nokey", "g", "alice")
    same_raw(p, "XGROUP", "DELCONSUMER", "s", "g", "bob")
    same_raw(p, "XGROUP", "DELCONSUMER", "s", "g", "alice")
    same_raw(p, "XGROUP", "DELCONSUMER", "s", "nog", "alice")
    same_raw(p, "XGROUP", "HELP")
    same_raw(p, "XGROUP", "HELP", "x")
    same_raw(p, "XGROUP", "FOO", "s", "g")
    same_raw(p, "XGROUP", "CREATE", "s", "g")
    same_raw(p, "XGROUP")
    same_raw(p, "SET", "str", "x")
    same_raw(p, "XGROUP", "CREATE", "str", "g", "$", "MKSTREAM")
    same_raw(p, "XGROUP", "CREATECONSUMER", "str", "g", "c")


def test_xreadgroup_and_pel(pair):
    p = pair
    _setup(p)
    same_raw(p, "XGROUP", "CREATE", "s", "g", "0")
    same_raw(p, "XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")
    same_raw(p, "XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "1-1")
    same_raw(p, "XPENDING", "s", "g")
    same_raw(p, "XDEL", "s", "2-1")
    same_raw(p, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0-0")
    same_raw(p, "XACK", "s", "g", "1-1", "9-9", "2-1")
    same_raw(p, "XACK", "s", "g", "1-1")
    same_raw(p, "XACK", "s", "g", "bad")
    same_raw(p, "XACK", "s", "nog", "1-1")
    same_raw(p, "XREADGROUP", "GROUP", "n\xffo\x00g", "a", "STREAMS", "s\xfe", ">")
    same_raw(p, "XPENDING", "s\x00t", "g\xff")
    same_raw(p, "XACK", "nokey", "g", "1-1")
    same_raw(p, "XPENDING", "s", "g")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XADD", "s", "5-1", "f", "6")
    same_raw(p, "XREADGROUP", "GROUP", "g", "carol", "NOACK", "STREAMS", "s", ">")
    same_raw(p, "XPENDING", "s", "g")
    same_raw(p, "XINFO", "GROUPS", "s")
    # errors, in Redis's order
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "$")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "x")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "-")
    same_raw(p, "XREADGROUP", "GROUP", "nog", "a", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "nokey", ">")
    same_raw(p, "XREADGROUP", "COUNT", "1", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "COUNT", "x", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "BLOCK", "x", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "BLOCK", "-1", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "FOO", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "COUNT", "-5", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "BLOCK", "10", "STREAMS", "s", ">")
    same_raw(p, "SET", "str", "x")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "str", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "str", ">", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "s", "0", "3-1")
    same_raw(p, "XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", "s", ">", ">")


def test_argument_corners(pair):
    p = pair
    _setup(p)
    same_raw(p, "XGROUP", "CREATE", "s", "g", "0")
    for args in (("XCLAIM", "s", "g", "c", "0", "JUSTID"),
                 ("XCLAIM", "s", "g", "c", "0", "1-1", "1-1", "1-1", "JUSTID", "RETRYCOUNT", "4"),
                 ("XCLAIM", "s", "g", "c", "0", "2-1", "FORCE", "FORCE", "JUSTID"),
                 ("XCLAIM", "s", "g", "c", "0", "3-1", "FORCE", "RETRYCOUNT", "-3", "JUSTID"),
                 ("XPENDING", "s", "g"),
                 ("XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "5", "COUNT", "1"),
                 ("XAUTOCLAIM", "s", "g", "c", "0", "0", "justid", "count", "2"),
                 ("XREADGROUP", "GROUP", "x", "y", "GROUP", "g", "d", "STREAMS", "s", ">"),
                 ("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">", "BLOCK", "0"),
                 ("XREADGROUP", "GROUP", "g", "d", "count", "1", "noack", "streams", "s", "0"),
                 ("XREADGROUP", "GROUP", "g", "STREAMS", "s", ">"),
                 ("XGROUP", "SETID", "s", "g", "1-1", "ENTRIESREAD", "5", "ENTRIESREAD", "6"),
                 ("XGROUP", "CREATE", "s", "h", "1-1", "ENTRIESREAD", "5", "MKSTREAM"),
                 ("XGROUP", "CREATE", "s", "h2", "1", "MKSTREAM", "ENTRIESREAD", "0",
                  "MKSTREAM"),
                 ("xgroup", "create", "s", "h3", "0-1", "mkstream", "entriesread",
                  "9223372036854775807"),
                 ("XINFO", "GROUPS", "s"),
                 ("XINFO", "STREAM", "s", "FULL", "COUNT", "5", "extra"),
                 ("XINFO", "STREAM", "s", "full", "count"),
                 ("XACK", "s", "g", "1-1", "x"),
                 ("XPENDING", "s", "g", "-", "+", "0", "c"),
                 ("XACK", "s", "g", "1", "2-1", "3-1", "3-1"),
                 ("XPENDING", "s", "g"),
                 ("COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "streams", "c", "STREAMS", "s",
                  ">"),
                 ("COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "g", "c", "COUNT", "streams",
                  "BLOCK", "1", "NOACK", "STREAMS", "a", "b", ">", ">"),
                 ("COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "g", "c", "STREAMS", "a")):
        same_raw(p, *args)


def test_entries_read_and_lag(pair):
    p = pair
    same_raw(p, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    same_raw(p, "XINFO", "GROUPS", "s")
    for i in range(1, 6):
        same_raw(p, "XADD", "s", f"{i}-0", "f", str(i))
    same_raw(p, "XGROUP", "CREATE", "s", "g2", "0")
    same_raw(p, "XGROUP", "CREATE", "s", "g3", "3-0")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XREADGROUP", "GROUP", "g2", "c", "COUNT", "2", "STREAMS", "s", ">")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XDEL", "s", "4-0")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XREADGROUP", "GROUP", "g3", "c", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g2", "c", "COUNT", "1", "STREAMS", "s", ">")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XTRIM", "s", "MAXLEN", "1")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XINFO", "STREAM", "s")


def test_xpending_extended(pair):
    p = pair
    _setup(p)
    same_raw(p, "XGROUP", "CREATE", "s", "g", "0")
    same_raw(p, "XPENDING", "s", "g")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "COUNT", "2", "STREAMS", "s", ">")
    same_raw(p, "XREADGROUP", "GROUP", "g", "b", "STREAMS", "s", ">")
    same_raw(p, "XPENDING", "s", "g")
    # the idle column is time: count columns only through the summary and ids
    for args in (("-", "+", "1", "a", "b", "c"), ("-", "+", "10"), ("(1-1", "+", "10"), ("-", "(4-1", "10"),
                 ("-", "+", "0"), ("-", "+", "-3"), ("2", "3", "10"),
                 ("-", "+", "10", "a"), ("-", "+", "10", "nobody")):
        x = p[0].cmd("XPENDING", "s", "g", *args)
        y = p[1].cmd("XPENDING", "s", "g", *args)
        assert _strip_ints(x) == _strip_ints(y), (args, x, y)
    for args in (("-", "+"), ("-", "+", "x"), ("x", "+", "1"), ("-", "y", "1"),
                 ("(18446744073709551615-18446744073709551615", "+", "1"), ("-", "(0-0", "1"),
                 ("IDLE", "x", "-", "+", "1"), ("IDLE", "10", "-", "+"),
                 ("(-", "+", "1")):
        same_raw(p, "XPENDING", "s", "g", *args)
    same_raw(p, "XPENDING", "s", "g", "IDLE", "1000000", "-", "+", "10")
    same_raw(p, "XPENDING", "s", "nog")
    same_raw(p, "XPENDING", "nokey", "g")
    same_raw(p, "XPENDING", "nokey", "g", "-", "+", "x")


def _strip_ints(b: bytes) -> bytes:
    """An XPENDING extended reply without its idle column (the third of each entry)."""
    lines = b.split(b"\r\n")
    out = []
    k = 0
    for ln in lines:
        if ln.startswith(b"*4"):
            k = 0
        if ln.startswith(b":"):
            k += 1
            if k == 1:
                out.append(b":IDLE")
                continue
        out.append(ln)
    return b"\r\n".join(out)


def test_xclaim(pair):
    p = pair
    _setup(p)
    same_raw(p, "XGROUP", "CREATE", "s", "g", "0")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    same_raw(p, "XCLAIM", "s", "g", "b", "0", "1-1", "2-1")
    same_raw(p, "XCLAIM", "s", "g", "b", "0", "3-1", "JUSTID")
    same_raw(p, "XCLAIM", "s", "g", "b", "1000000", "4-1")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "4-1", "RETRYCOUNT", "7", "TIME", "1000", "JUSTID")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "9-9")
    same_raw(p, "XADD", "s", "6-1", "x", "y")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "6-1")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "6-1", "FORCE", "JUSTID")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "9-9", "FORCE")
    same_raw(p, "XDEL", "s", "1-1")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "1-1")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "2-1", "LASTID", "10-0", "JUSTID", "IDLE", "5")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XCLAIM", "s", "g", "c", "0", "2-1", "LASTID", "1-0")
    for opts in (("IDLE",), ("IDLE", "x"), ("TIME", "x"), ("RETRYCOUNT", "x"), ("LASTID", "x"),
                 ("BOGUS",), ("FORCE", "-")):
        same_raw(p, "XCLAIM", "s", "g", "c", "0", "2-1", *opts)
    same_raw(p, "XCLAIM", "s", "g", "c", "x", "2-1")
    same_raw(p, "XCLAIM", "s", "g", "c", "-5", "2-1", "JUSTID")
    same_raw(p, "XCLAIM", "s", "nog", "c", "x", "2-1")
    same_raw(p, "XCLAIM", "nokey", "g", "c", "0", "2-1")
    x = p[0].cmd("XPENDING", "s", "g", "-", "+", "10")
    y = p[1].cmd("XPENDING", "s", "g", "-", "+", "10")
    assert _strip_ints(x) == _strip_ints(y)
    same_raw(p, "XPENDING", "s", "g")


def test_xautoclaim(pair):
    p = pair
    for i in range(1, 11):
        same_raw(p, "XADD", "s", f"{i}-0", "f", str(i))
    same_raw(p, "XGROUP", "CREATE", "s", "g", "0")
    same_raw(p, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    same_raw(p, "XAUTOCLAIM", "s", "g", "b", "0", "0", "COUNT", "3")
    same_raw(p, "XAUTOCLAIM", "s", "g", "b", "0", "(3-0", "COUNT", "2", "JUSTID")
    same_raw(p, "XDEL", "s", "6-0", "7-0")
    same_raw(p, "XAUTOCLAIM", "s", "g", "b", "0", "6-0", "COUNT", "3")
    same_raw(p, "XAUTOCLAIM", "s", "g", "b", "0", "-")
    same_raw(p, "XAUTOCLAIM", "s", "g", "b", "100000", "-")
    same_raw(p, "XPENDING", "s", "g")
    for args in (("x", "0"), ("0", "x"), ("0", "0", "COUNT", "0"), ("0", "0", "COUNT", "x"),
                 ("0", "0", "COUNT"), ("0", "0", "FOO"),
                 ("0", "(18446744073709551615-18446744073709551615"),
                 ("0", "0", "COUNT", "576460752303423488"),
                 ("0", "0", "COUNT", "576460752303423487", "JUSTID")):
        same_raw(p, "XAUTOCLAIM", "s", "g", "b", *args)
    same_raw(p, "XAUTOCLAIM", "s", "nog", "b", "0", "0")
    same_raw(p, "XAUTOCLAIM", "nokey", "g", "b", "0", "0")
    same_raw(p, "XAUTOCLAIM", "nokey", "g", "b", "x", "0")


def test_xinfo(pair):
    p = pair
    same_raw(p, "XINFO", "STREAM", "nokey")
    same_raw(p, "XINFO", "GROUPS", "nokey")
    same_raw(p, "XINFO", "CONSUMERS", "nokey", "g")
    same_raw(p, "XINFO", "HELP")
    same_raw(p, "XINFO", "FOO", "s")
    _setup(p)
    same_raw(p, "XINFO", "STREAM", "s")
    same_raw(p, "XINFO", "GROUPS", "s")
    same_raw(p, "XINFO", "CONSUMERS", "s", "g")
    same_raw(p, "XINFO", "STREAM", "s", "FULL")
    same_raw(p, "XINFO", "STREAM", "s", "FULL", "COUNT", "1")
    same_raw(p, "XINFO", "STREAM", "s", "FULL", "COUNT", "0")
    same_raw(p, "XINFO", "STREAM", "s", "FULL", "COUNT", "-1")
    same_raw(p, "XINFO", "STREAM", "s", "FULL", "COUNT", "x")
    same_raw(p, "XINFO", "STREAM", "s", "FULL", "LIMIT", "1")
    same_raw(p, "XINFO", "STREAM", "s", "PARTIAL")
    same_raw(p, "XINFO", "STREAM", "s", "FULL", "COUNT")
    same_raw(p, "SET", "str", "x")
    same_raw(p, "XINFO", "STREAM", "str")
    same_raw(p, "XINFO", "GROUPS", "str")
    same_raw(p, "XDEL", "s", "1-1", "4-1")
    same_raw(p, "XINFO", "STREAM", "s")
    same_raw(p, "XDEL", "s", "2-1", "3-1")
    same_raw(p, "XINFO", "STREAM", "s")


def test_reply_shapes_with_times(pair):
    """RESP2/RESP3 shapes of the replies that carry times (the integers masked)."""
    import re
    p = pair
    _setup(p)
    same_raw(p, "XGROUP", "CREATE", "s", "g", "0")
    same_raw(p, "XGROUP", "CREATECONSUMER", "s", "g", "idle")
    same_raw(p, "XREADGROUP", "GROUP", "g", "w", "COUNT", "2", "STREAMS", "s", ">")
    for args in (("XINFO", "CONSUMERS", "s", "g"), ("XINFO", "STREAM", "s", "FULL"),
                 ("XPENDING", "s", "g", "-", "+", "5"), ("XINFO", "STREAM", "s", "FULL",
                                                         "COUNT", "1")):
        x, y = p[0].cmd(*args), p[1].cmd(*args)
        mask = re.compile(rb":\d+\r\n")
        assert mask.sub(b":N\r\n", x) == mask.sub(b":N\r\n", y), (args, x, y)


def test_xinfo_radix_tree_counts(pair):
    p = pair
    same_raw(p, "CONFIG", "SET", "stream-node-max-entries", "2")
    try:
        for i in range(1, 60):
            same_raw(p, "XADD", "s", f"{i * 37}-{i % 3}", "f", "v")
            if i % 7 == 0:
                same_raw(p, "XINFO", "STREAM", "s")
        same_raw(p, "XTRIM", "s", "MAXLEN", "=", "20")
        same_raw(p, "XINFO", "STREAM", "s")
        same_raw(p, "XDEL", "s", "1554-0", "1591-1")
        same_raw(p, "XINFO", "STREAM", "s")
        same_raw(p, "XTRIM", "s", "MAXLEN", "~", "7")
        same_raw(p, "XINFO", "STREAM", "s")
        for i in range(3000, 3300, 7):
            same_raw(p, "XADD", "s", f"{i}-{i % 5}", "f", "v")
        same_raw(p, "XTRIM", "s", "MINID", "~", "3100")
        same_raw(p, "XINFO", "STREAM", "s")
        same_raw(p, "XADD", "s", "18446744073709551615-5", "f", "v")
        same_raw(p, "XINFO", "STREAM", "s")
    finally:
        same_raw(p, "CONFIG", "SET", "stream-node-max-entries", "100")


def test_xinfo_times(r, refc):
    for c in (r, refc):
        c.xadd("s", {"a": "1"}, id="1-1")
        c.xadd("s", {"b": "2"}, id="2-1")
        c.xgroup_create("s", "g", "0")
        c.execute_command("XGROUP", "CREATECONSUMER", "s", "g", "idle")
        c.execute_command("XREADGROUP", "GROUP", "g", "w", "COUNT", "1", "STREAMS", "s", ">")
    for c in (r, refc):
        t0 = int(c.execute_command("TIME")[0]) * 1000
        cons = c.execute_command("XINFO", "CONSUMERS", "s", "g")
        rows = [dict(zip(x[::2], x[1::2])) for x in cons]
        assert [x[b"name"] for x in rows] == [b"idle", b"w"]
        assert [x[b"pending"] for x in rows] == [0, 1]
        assert rows[0][b"inactive"] == -1
        assert 0 <= rows[1][b"inactive"] < 5000 and 0 <= rows[1][b"idle"] < 5000
        full = c.execute_command("XINFO", "STREAM", "s", "FULL")
        d = dict(zip(full[::2], full[1::2]))
        g = dict(zip(d[b"groups"][0][::2], d[b"groups"][0][1::2]))
        assert g[b"pel-count"] == 1 and g[b"entries-read"] == 1 and g[b"lag"] == 1
        pe = g[b"pending"][0]
        assert pe[0] == b"1-1" and pe[1] == b"w" and abs(pe[2] - t0) < 5000 and pe[3] == 1
        cs = [dict(zip(x[::2], x[1::2])) for x in g[b"consumers"]]
        assert cs[0][b"active-time"] == -1 and abs(cs[0][b"seen-time"] - t0) < 5000
        assert abs(cs[1][b"active-time"] - t0) < 5000
        assert cs[1][b"pending"][0][0] == b"1-1" and cs[1][b"pending"][0][2] == 1


def test_xclaim_idle_and_time(r, refc):
    def rows(c, **kw):
        return [(x["message_id"], x["consumer"], x["time_since_delivered"],
                 x["times_delivered"]) for x in c.xpending_range("s", "g", "-", "+", 10, **kw)]

    for c in (r, refc):
        c.xadd("s", {"a": "1"}, id="1-1")
        c.xgroup_create("s", "g", "0")
        c.execute_command("XREADGROUP", "GROUP", "g", "w", "STREAMS", "s", ">")
        c.xclaim("s", "g", "v", 0, ["1-1"], idle=500000, justid=True)
        (mid, owner, idle, n), = rows(c)
        assert (mid, owner, n) == (b"1-1", b"v", 1) and 500000 <= idle < 505000
        assert rows(c, idle=400000)
        assert not rows(c, idle=900000)
        # a TIME in the future means now
        c.execute_command("XCLAIM", "s", "g", "v", "0", "1-1", "TIME", str(2**62))
        (mid, owner, idle, n), = rows(c)
        assert idle < 5000 and n == 2
        assert c.execute_command("XCLAIM", "s", "g", "u", "100000", "1-1") == []
        assert c.execute_command("XAUTOCLAIM", "s", "g", "u", "100000", "0") == [
            b"0-0", [], []]


# -- blocking ------------------------------------------------------------------------------------

def test_blocked_xreadgroup_woken_by_xadd(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = [b.cmd("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")]
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("XADD", "s", "1-1", "k", "v"))
        out.append(a.read())
        out.append(b.cmd("XPENDING", "s", "g"))
        # a write that is not an XADD does not serve it: it stays blocked
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("XGROUP", "CREATECONSUMER", "s", "g", "x"))
        out.append(b.cmd("XADD", "s", "2-1", "k", "v2"))
        out.append(a.read())
        # timeout
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "50", "STREAMS", "s", ">")
        out.append(a.read())
        return out
    both(sides, sc)


def test_group_or_key_deleted_while_blocked(sides):
    def sc(s):
        a, b = s.client(), s.client()
        out = [b.cmd("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")]
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("XGROUP", "DESTROY", "s", "g"))
        out.append(a.read())
        out.append(b.cmd("XGROUP", "CREATE", "s", "g", "$"))
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("DEL", "s"))
        out.append(a.read())
        out.append(b.cmd("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("SET", "s", "now a string"))
        out.append(a.read())
        for flush in (("FLUSHDB",), ("FLUSHALL",), ("SWAPDB", "0", "1")):
            out.append(b.cmd("DEL", "s"))
            out.append(b.cmd("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
            a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
            wait_blocked(s.admin, 1)
            out.append(b.cmd(*flush))
            out.append(a.read())
        return out
    both(sides, sc)


def test_blocked_on_several_streams_and_client_unblock(sides):
    def sc(s):
        a, b = s.client(), s.client()
        aid = _client_id(a)
        out = [b.cmd("XGROUP", "CREATE", "s1", "g", "$", "MKSTREAM"),
               b.cmd("XGROUP", "CREATE", "s2", "g", "$", "MKSTREAM")]
        a.send("XREADGROUP", "GROUP", "g", "w", "COUNT", "5", "BLOCK", "0", "STREAMS", "s1",
               "s2", ">", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("XADD", "s2", "1-1", "k", "v"))
        out.append(a.read())
        out.append(b.cmd("XPENDING", "s2", "g"))
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s1", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("CLIENT", "UNBLOCK", aid))
        out.append(a.read())
        a.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s1", ">")
        wait_blocked(s.admin, 1)
        out.append(b.cmd("CLIENT", "UNBLOCK", aid, "ERROR"))
        out.append(a.read())
        return out
    both(sides, sc)


def test_xreadgroup_block_in_multi(pair):
    same_raw(pair, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    same_raw(pair, "MULTI")
    same_raw(pair, "XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
    same_raw(pair, "EXEC")


# -- the task queue of the Redis docs -------------------------------------------------------------

def _task_queue(client_factory):
    prod = client_factory()
    prod.xgroup_create("tasks", "workers", "$", mkstream=True)
    done = []
    w1, w2 = client_factory(), client_factory()
    for i in range(6):
        prod.xadd("tasks", {"job": f"j{i}"}, id=f"{i + 1}-0")
    # worker 1 takes two jobs and acks them
    got = w1.xreadgroup("workers", "w1", {"tasks": ">"}, count=2, block=100)
    for _stream, msgs in got:
        for mid, fields in msgs:
            done.append(fields[b"job"])
            w1.xack("tasks", "workers", mid)
    # worker 2 takes two jobs and dies
    got = w2.xreadgroup("workers", "w2", {"tasks": ">"}, count=2, block=100)
    lost = [mid for _s, msgs in got for mid, _f in msgs]
    # worker 1 recovers them with XAUTOCLAIM
    nxt, claimed, deleted = w1.execute_command("XAUTOCLAIM", "tasks", "workers", "w1", "0",
                                               "0-0")
    assert [m for m, _f in claimed] == lost and deleted == [] and nxt == b"0-0"
    for mid, fields in claimed:
        done.append(fields[b"job"])
        w1.xack("tasks", "workers", mid)
    # the rest
    while True:
        got = w1.xreadgroup("workers", "w1", {"tasks": ">"}, count=10, block=50)
        if not got:
            break
        for _stream, msgs in got:
            for mid, fields in msgs:
                done.append(fields[b"job"])
                w1.xack("tasks", "workers", mid)
    summary = prod.xpending("tasks", "workers")
    return sorted(done), summary["pending"]


def test_task_queue_example(server, ref):
    a = _task_queue(lambda: server.client())
    b = _task_queue(lambda: ref.client())
    assert a == b == ([b"j0", b"j1", b"j2", b"j3", b"j4", b"j5"], 0)
    for srv in (server, ref):
        srv.client().flushall()


# -- propagation and keyspace events ------------------------------------------------------------

def test_keyspace_events():
    """Class "t" events, as t_stream.c notifies them (XREADGROUP creating a consumer fires
    xgroup-createconsumer; XACK, XCLAIM and XAUTOCLAIM fire nothing)."""
    srv, props, events, run = _inproc()
    run("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    run("XGROUP", "SETID", "s", "g", "0")
    run("XGROUP", "CREATECONSUMER", "s", "g", "c")
    run("XGROUP", "CREATECONSUMER", "s", "g", "c")
    run("XADD", "s", "1-1", "a", "b")
    events.clear()
    run("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">")
    run("XCLAIM", "s", "g", "e", "0", "1-1")
    run("XAUTOCLAIM", "s", "g", "f", "0", "0")
    run("XACK", "s", "g", "1-1")
    run("XGROUP", "DELCONSUMER", "s", "g", "c")
    run("XGROUP", "DELCONSUMER", "s", "g", "zz")
    run("XGROUP", "DESTROY", "s", "g")
    run("XGROUP", "DESTROY", "s", "g")
    assert events == [("t", "xgroup-createconsumer", b"s"), ("t", "xgroup-createconsumer", b"s"),
                      ("t", "xgroup-createconsumer", b"s"), ("t", "xgroup-delconsumer", b"s"),
                      ("t", "xgroup-destroy", b"s")]
    srv2, _p, events2, run2 = _inproc()
    run2("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    run2("XGROUP", "SETID", "s", "g", "0")
    run2("XGROUP", "CREATECONSUMER", "s", "g", "c")
    assert [e[1] for e in events2] == ["xgroup-create", "xgroup-setid",
                                       "xgroup-createconsumer"]


def _inproc():
    srv, props, events = inproc_server()

    def client():
        c = inproc_client(srv)

        def run(*args):
            argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
            c.execute(argv)
        run.client = c
        return run
    run = client()
    run.new = client
    return srv, props, events, run


def _groups_state(srv):
    """Every group of every stream: last ID and PEL (owners, times, counts). Not the
    entries-read counter nor consumers without pending entries: Redis's propagation does not
    carry them (XCLAIM LASTID moves the ID only; a consumer created by a read that delivers
    nothing, or by XAUTOCLAIM, is not propagated), so a replica differs there too."""
    out = {}
    db = srv.dbs[0]
    for key in sorted(db.keys()):
        s = db.get_collection(key, "stream")
        for name in sorted(s.groups):
            g = s.groups[name]
            out[(key, name)] = (g.last_id, list(g.pel_range(0, None)))
    return out


def test_propagation_replays_to_the_same_state():
    """XREADGROUP / XCLAIM / XAUTOCLAIM propagate as XCLAIM ... FORCE JUSTID LASTID,
    XGROUP SETID and XGROUP CREATECONSUMER (t_stream.c streamPropagate*), and replaying the
    propagated stream on a fresh server gives the same groups."""
    from engines.base import clock
    srv, props, events, run = _inproc()
    clock.frozen = 1_000_000
    try:
        run("XADD", "s", "1-1", "a", "1")
        run("XADD", "s", "2-1", "b", "2")
        run("XADD", "s", "3-1", "c", "3")
        run("XGROUP", "CREATE", "s", "g", "0")
        n0 = len(props)
        run("XREADGROUP", "GROUP", "g", "w", "COUNT", "2", "STREAMS", "s", ">")
        assert props[n0:] == [
            [b"XCLAIM", b"s", b"g", b"w", b"0", b"1-1", b"TIME", b"1000000", b"RETRYCOUNT",
             b"1", b"FORCE", b"JUSTID", b"LASTID", b"1-1"],
            [b"XCLAIM", b"s", b"g", b"w", b"0", b"2-1", b"TIME", b"1000000", b"RETRYCOUNT",
             b"1", b"FORCE", b"JUSTID", b"LASTID", b"2-1"]]
        n0 = len(props)
        run("XREADGROUP", "GROUP", "g", "n", "NOACK", "STREAMS", "s", ">")
        assert props[n0:] == [[b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"n"],
                              [b"XGROUP", b"SETID", b"s", b"g", b"3-1", b"ENTRIESREAD", b"3"]]
        n0 = len(props)
        run("XREADGROUP", "GROUP", "g", "w", "STREAMS", "s", "0")   # history: no propagation
        assert props[n0:] == []
        run("XCLAIM", "s", "g", "x", "0", "1-1", "LASTID", "2-1")
        assert props[n0:] == [[b"XCLAIM", b"s", b"g", b"x", b"0", b"1-1", b"TIME",
                               b"1000000", b"RETRYCOUNT", b"3", b"FORCE", b"JUSTID", b"LASTID",
                               b"3-1"]]
        n0 = len(props)
        run("XCLAIM", "s", "g", "x", "0", "9-9", "LASTID", "5-0")
        assert props[n0:] == [[b"XGROUP", b"SETID", b"s", b"g", b"5-0", b"ENTRIESREAD", b"3"]]
        n0 = len(props)
        run("XACK", "s", "g", "1-1")
        assert props[n0:] == [[b"XACK", b"s", b"g", b"1-1"]]
        run("XDEL", "s", "2-1")
        n0 = len(props)
        run("XAUTOCLAIM", "s", "g", "y", "0", "0")
        assert props[n0:] == [[b"XCLAIM", b"s", b"g", b"w", b"0", b"2-1", b"TIME", b"1000000",
                               b"RETRYCOUNT", b"2", b"FORCE", b"JUSTID", b"LASTID", b"5-0"]]
        run("XGROUP", "CREATE", "s", "h", "0")
        run("XREADGROUP", "GROUP", "h", "p", "STREAMS", "s", ">")
        run("XGROUP", "DELCONSUMER", "s", "h", "p")
        run("XADD", "s", "4-1", "d", "4")
        run("XADD", "s", "5-1", "e", "5")
        run("XREADGROUP", "GROUP", "h", "r", "COUNT", "1", "STREAMS", "s", ">")
        run("XREADGROUP", "GROUP", "g", "w", "NOACK", "STREAMS", "s", ">")
        run("XCLAIM", "s", "h", "t", "0", "5-1", "FORCE", "RETRYCOUNT", "9")
        state = _groups_state(srv)
        # replay
        srv2, props2, _e, run2 = _inproc()
        for argv in props:
            run2(*argv)
        assert _groups_state(srv2) == state
        assert len(state[(b"s", b"h")][1]) == 2
    finally:
        clock.frozen = None


def test_blocked_read_served_by_xadd_propagates_after_it():
    from engines.base import clock
    srv, props, events, run = _inproc()
    clock.frozen = 2_000_000
    try:
        run("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
        other = run.new()
        run("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "STREAMS", "s", ">")
        assert run.client.blocked is not None
        n0 = len(props)
        other("XADD", "s", "1-1", "k", "v")
        assert run.client.blocked is None
        assert props[n0:] == [
            [b"XADD", b"s", b"1-1", b"k", b"v"],
            [b"XCLAIM", b"s", b"g", b"w", b"0", b"1-1", b"TIME", b"2000000", b"RETRYCOUNT",
             b"1", b"FORCE", b"JUSTID", b"LASTID", b"1-1"]]
        assert b"1-1" in b"".join(run.client.transport.data)
    finally:
        clock.frozen = None
