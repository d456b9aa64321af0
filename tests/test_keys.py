"""Keyspace commands against a real valkeyd, compared with a real valkey-server where the exact
reply matters (error texts, encodings, glob matching)."""
from __future__ import annotations

import random
import time

import pytest
import redis

from harness import reply_or_error, same_reply


run, same = reply_or_error, same_reply


# -- error texts and simple replies, compared with valkey-server ---------------------------------
SETUP = [("SET", "s", "hello"), ("SET", "n", "42")]
CASES = [
    ("DEL",), ("UNLINK",), ("EXISTS",), ("TYPE",), ("TYPE", "a", "b"), ("TOUCH",),
    ("RENAME", "nokey", "x"), ("RENAMENX", "nokey", "x"), ("RENAME", "s"),
    ("RENAME", "s", "s"), ("RENAMENX", "s", "s"),
    ("COPY", "s", "s"), ("COPY", "s", "x", "DB"), ("COPY", "s", "x", "DB", "16"),
    ("COPY", "s", "x", "DB", "-1"), ("COPY", "s", "x", "DB", "x"),
    ("COPY", "s", "x", "DB", "99999999999"), ("COPY", "s", "x", "BAD"),
    ("COPY", "s", "s", "DB", "0"), ("COPY", "nokey", "x"),
    ("MOVE", "s", "x"), ("MOVE", "s", "0"), ("MOVE", "s", "16"), ("MOVE", "s", "-1"),
    ("MOVE", "s", "99999999999"), ("MOVE", "nokey", "1"),
    ("KEYS",), ("KEYS", "a", "b"),
    ("SCAN",), ("SCAN", "abc"), ("SCAN", "1.5"), ("SCAN", "0x10"), ("SCAN", "0", "COUNT"),
    ("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "-5"), ("SCAN", "0", "COUNT", "x"),
    ("SCAN", "0", "MATCH"), ("SCAN", "0", "FOO", "bar"), ("SCAN", "18446744073709551616"),
    ("SCAN", "0", "TYPE"),
    ("RANDOMKEY", "x"), ("DBSIZE", "x"),
    ("OBJECT",), ("OBJECT", "FOO"), ("OBJECT", "ENCODING"), ("OBJECT", "ENCODING", "a", "b"),
    ("OBJECT", "HELP", "x"), ("OBJECT", "FREQ", "s"), ("OBJECT", "FREQ", "nokey"),
    ("OBJECT", "ENCODING", "nokey"), ("OBJECT", "REFCOUNT", "nokey"),
    ("OBJECT", "IDLETIME", "nokey"), ("OBJECT", "HELP"), ("OBJECT", "help"),
    ("SWAPDB", "a", "1"), ("SWAPDB", "0", "b"), ("SWAPDB", "0", "16"), ("SWAPDB", "-1", "0"),
    ("SWAPDB", "0", "99999999999"), ("SWAPDB", "99999999999", "x"), ("SWAPDB", "0"),
    ("FLUSHDB", "x"), ("FLUSHDB", "SYNC", "ASYNC"), ("FLUSHALL", "x"),
    ("FLUSHALL", "ASYNC", "x"),
    ("TYPE", "s"), ("TYPE", "n"), ("TYPE", "nokey"),
    ("EXISTS", "s", "s", "nokey", "n"), ("TOUCH", "s", "nokey", "s"),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a))
def test_replies_match_reference(r, refc, args):
    for cmd in SETUP:
        r.execute_command(*cmd)
        refc.execute_command(*cmd)
    same(r, refc, *args)


def test_type_status_both_protocols(rr):
    rr.set("s", "v")
    assert rr.type("s") in (b"string", "string")
    assert rr.type("nokey") in (b"none", "none")


# -- DEL UNLINK EXISTS TOUCH -----------------------------------------------------------------------
def test_del_unlink_exists(rr):
    rr.mset({"a": 1, "b": 2, "c": 3})
    assert rr.exists("a", "a", "b", "zz") == 3
    assert rr.delete("a", "a", "zz") == 1
    assert rr.unlink("b", "c", "b") == 2
    assert rr.exists("a", "b", "c") == 0
    assert rr.dbsize() == 0


def test_touch_updates_idle_time(r):
    r.set("k", "v")
    r.set("other", "v")
    time.sleep(2.1)
    assert r.object("idletime", "k") >= 2
    assert r.exists("k") == 1 and r.type("k") == b"string"
    assert r.object("idletime", "k") >= 2, "EXISTS/TYPE do not touch"
    assert r.touch("k", "nokey", "k") == 2
    assert r.object("idletime", "k") == 0
    r.get("other")
    assert r.object("idletime", "other") == 0


# -- RENAME COPY MOVE ------------------------------------------------------------------------------
def test_rename_keeps_ttl_and_replaces_destination(rr):
    rr.set("src", "v")
    rr.pexpire("src", 100000)
    rr.set("dst", "old")
    rr.expire("dst", 5)
    assert rr.rename("src", "dst") is True
    assert rr.get("dst") == b"v" and rr.exists("src") == 0
    assert 99000 < rr.pttl("dst") <= 100000
    rr.set("plain", "p")
    rr.rename("plain", "dst")
    assert rr.ttl("dst") == -1
    assert rr.renamenx("dst", "x") is True
    rr.set("y", "1")
    assert rr.renamenx("x", "y") is False
    assert rr.get("x") == b"p" and rr.get("y") == b"1"


def test_rename_of_expired_source(r):
    r.set("k", "v", px=1)
    time.sleep(0.01)
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.rename("k", "x")


def test_copy(rr, server):
    rr.set("s", "v")
    rr.pexpire("s", 50000)
    assert rr.copy("s", "d") is True
    assert rr.get("d") == b"v" and 49000 < rr.pttl("d") <= 50000
    assert rr.copy("s", "d") is False
    rr.set("s", "new")
    assert rr.copy("s", "d", replace=True) is True and rr.get("d") == b"new"
    assert rr.ttl("d") == -1
    # the copy is independent of the source
    rr.append("d", "-more")
    assert rr.get("s") == b"new" and rr.get("d") == b"new-more"
    assert rr.copy("s", "s", destination_db=3) is True
    other = server.client(2, db=3)
    try:
        assert other.get("s") == b"new"
        assert rr.copy("s", "s", destination_db=3) is False
        rr.set("s", "newer")
        assert rr.copy("s", "s", destination_db=3, replace=True) is True
        assert other.get("s") == b"newer"
    finally:
        other.flushdb()
        other.close()
    assert rr.copy("nokey", "x") is False


def test_move(rr, server):
    other = server.client(2, db=1)
    try:
        other.flushdb()
        rr.set("k", "v")
        rr.expire("k", 1000)
        assert rr.move("k", 1) is True
        assert rr.exists("k") == 0
        assert other.get("k") == b"v" and 990 < other.ttl("k") <= 1000
        rr.set("k", "v0")
        assert rr.move("k", 1) is False, "target exists"
        assert rr.get("k") == b"v0" and other.get("k") == b"v"
        assert rr.move("nokey", 1) is False
    finally:
        other.flushdb()
        other.close()


# -- KEYS and glob patterns ------------------------------------------------------------------------
GLOB_KEYS = [
    "", "a", "b", "ab", "abc", "hello", "hallo", "hxllo", "hllo", "heeeello", "h?llo", "h*llo",
    "h[llo", "h]llo", "h\\llo", "a-b", "a]b", "a^b", "x", "X", "key:1", "key:22", "key:333",
    "-", "]", "[", "\\", "^", "*", "?", "aXb", "a\nb", "é", "a\x00b", "foo.bar", "FOO",
]
PATTERNS = [
    "*", "?", "??", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo",
    "*llo", "key:*", "key:?", "key:??*", "[", "[a", "a[", "[]", "[^]", "[]]", "[\\]]",
    "h\\?llo", "h\\*llo", "\\", "\\\\", "a\\", "a[-]b", "a[a-]b", "a[]-]b", "a[^]b", "a[\\^]b",
    "*[", "[^a-z]", "x*", "[xX]", "***", "*a*b*", "a*b*c", "[a-]*", "h[!e]llo", "[]a]*",
    "[^]]", "a?b", "a*", "*b", "\\a", "[\\", "h[^", "h[l", "*\\", "?*", "*?", "é", "[ab",
]


def test_keys_glob_matches_reference(r, refc):
    for cl in (r, refc):
        for k in GLOB_KEYS:
            cl.set(k, "v")
    for p in PATTERNS:
        ours = sorted(r.keys(p))
        theirs = sorted(refc.keys(p))
        assert ours == theirs, p


def test_keys_glob_random_patterns_vs_reference(r, refc):
    rnd = random.Random(42)
    alphabet = "ab]-^\\[*?A"
    keys = {"".join(rnd.choice("abA]-^\\[*?z") for _ in range(rnd.randint(1, 5)))
            for _ in range(300)}
    pipe1, pipe2 = r.pipeline(transaction=False), refc.pipeline(transaction=False)
    for k in keys:
        pipe1.set(k, "v")
        pipe2.set(k, "v")
    pipe1.execute()
    pipe2.execute()
    pats = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 7))) for _ in range(400)]
    p1, p2 = r.pipeline(transaction=False), refc.pipeline(transaction=False)
    for p in pats:
        p1.keys(p)
        p2.keys(p)
    for p, a, b in zip(pats, p1.execute(), p2.execute()):
        assert sorted(a) == sorted(b), p


def test_keys_skips_expired_keys(r):
    r.set("a", "1")
    r.set("b", "2", px=1)
    time.sleep(0.01)
    assert r.keys("*") == [b"a"]
    assert r.keys("?") == [b"a"]


# -- SCAN ------------------------------------------------------------------------------------------
def _scan_all(cl, **kw):
    cursor, seen, calls = 0, [], 0
    while True:
        cursor, batch = cl.scan(cursor, **kw)
        seen.extend(batch)
        calls += 1
        if cursor == 0:
            return seen, calls


def test_scan_full_iteration(rr):
    keys = {b"k:%d" % i for i in range(1000)}
    rr.mset({k: b"v" for k in keys})
    seen, calls = _scan_all(rr)
    assert set(seen) == keys and calls > 50
    seen, calls = _scan_all(rr, count=1000)
    assert set(seen) == keys and calls <= 3


def test_scan_match_count_type(r):
    r.mset({"user:%d" % i: "v" for i in range(200)})
    r.mset({"other:%d" % i: "v" for i in range(200)})
    seen, _ = _scan_all(r, match="user:1*", count=50)
    assert sorted(seen) == sorted(k.encode() for k in ("user:%d" % i for i in range(200))
                                  if k.startswith("user:1"))
    seen, _ = _scan_all(r, _type="string", count=100)
    assert len(set(seen)) == 400
    seen, _ = _scan_all(r, _type="STRING", count=100)
    assert len(set(seen)) == 400
    seen, _ = _scan_all(r, _type="hash", count=100)
    assert seen == []


def test_scan_unknown_type_returns_nothing(r):
    # Redis 7.2.4 filters by type after the scan, so an unknown type matches nothing
    # (valkey 8.0 replies "ERR unknown type name" instead).
    r.set("a", "1")
    assert r.scan(0, _type="nosuch") == (0, [])


def test_scan_guarantee_with_concurrent_writes(r, server):
    stable = {b"stable:%d" % i for i in range(500)}
    r.mset({k: b"v" for k in stable})
    r.mset({b"vol:%d" % i: b"v" for i in range(500)})
    writer = server.client(2)
    rnd = random.Random(3)
    cursor, seen, step = 0, set(), 0
    while True:
        cursor, batch = r.scan(cursor, count=17)
        seen.update(batch)
        step += 1
        for _ in range(10):
            k = b"vol:%d" % rnd.randrange(500)
            if rnd.random() < 0.5:
                writer.delete(k)
            else:
                writer.set(k, b"x")
            writer.set(b"new:%d" % rnd.randrange(10000), b"n")
        if cursor == 0:
            break
    writer.close()
    assert stable <= seen


def test_scan_cursor_parsing(r):
    r.set("a", "1")
    # Redis 7.2.4 parses the cursor with strtoul: an empty cursor is 0, a sign is accepted
    # (negative values wrap around), a leading space is refused. valkey 8.0 differs here.
    assert r.execute_command("SCAN", "") == (0, [b"a"])
    assert r.execute_command("SCAN", "+0") == (0, [b"a"])
    assert r.execute_command("SCAN", "-0") == (0, [b"a"])
    cur, _ = r.execute_command("SCAN", "-1")
    assert cur >= 0
    for bad in (" 1", "1 ", "+", "-", "18446744073709551616", "-18446744073709551616", "1e3"):
        with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
            r.execute_command("SCAN", bad)
    assert r.execute_command("SCAN", "18446744073709551615")[0] >= 0


def test_scan_reply_shape(r, server):
    r.set("a", "1")
    assert r.scan(0) == (0, [b"a"])
    scan = b"*2\r\n$4\r\nSCAN\r\n$1\r\n0\r\n"
    assert server.raw(scan) == b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n"
    out = server.raw(b"HELLO 3\r\n" + scan)
    assert out.endswith(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n")


def test_scan_skips_expired(r):
    r.set("a", "1")
    r.set("b", "1", px=1)
    time.sleep(0.01)
    assert _scan_all(r)[0] == [b"a"]
    assert r.dbsize() == 1, "SCAN reclaims the expired keys it meets"


# -- RANDOMKEY DBSIZE ------------------------------------------------------------------------------
def test_randomkey(rr):
    assert rr.randomkey() is None
    rr.mset({"a": 1, "b": 2, "c": 3})
    seen = {rr.randomkey() for _ in range(200)}
    assert seen == {b"a", b"b", b"c"}
    assert rr.dbsize() == 3


def test_randomkey_skips_expired(r):
    r.set("live", "1")
    for i in range(20):
        r.set("e%d" % i, "v", px=1)
    time.sleep(0.01)
    assert {r.randomkey() for _ in range(30)} == {b"live"}


# -- OBJECT ----------------------------------------------------------------------------------------
ENC_VALUES = ["1", "0", "-1", "123456789", "9223372036854775807", "9223372036854775808",
              "-9223372036854775808", "01", "+1", " 1", "1.5", "", "x" * 44, "x" * 45,
              "x" * 100, "12345678901234567890", "é" * 22, "9999", "10000"]


def test_object_encoding_and_refcount_match_reference(r, refc):
    for i, v in enumerate(ENC_VALUES):
        for cl in (r, refc):
            cl.set("k%d" % i, v)
    for i, v in enumerate(ENC_VALUES):
        same(r, refc, "OBJECT", "ENCODING", "k%d" % i)
        same(r, refc, "OBJECT", "REFCOUNT", "k%d" % i)
    # modified in place, incremented, appended
    for cl in (r, refc):
        cl.set("a", "abc")
        cl.append("a", "d")
        cl.set("i", "10")
        cl.incr("i")
        cl.set("f", "1")
        cl.incrbyfloat("f", "0.5")
        cl.set("big", "5")
        cl.incrby("big", 20000)
        cl.setrange("sr", 0, "xyz")
    for k in ("a", "i", "f", "big", "sr"):
        same(r, refc, "OBJECT", "ENCODING", k)
        same(r, refc, "OBJECT", "REFCOUNT", k)


def test_object_missing_key_is_null(rr):
    assert rr.object("encoding", "nokey") is None
    assert rr.object("refcount", "nokey") is None
    assert rr.object("idletime", "nokey") is None


def test_object_freq_with_lfu_policy(r, refc):
    for cl in (r, refc):
        cl.config_set("maxmemory-policy", "allkeys-lfu")
    try:
        for cl in (r, refc):
            cl.set("k", "v")
        same(r, refc, "OBJECT", "FREQ", "k")      # new keys start at LFU_INIT_VAL
        for cl in (r, refc):
            cl.get("k")
        same(r, refc, "OBJECT", "FREQ", "k")      # first access always increments
        same(r, refc, "OBJECT", "IDLETIME", "k")  # refused under an LFU policy
        for _ in range(50):
            r.get("k")
        assert 6 <= r.object("freq", "k") <= 255
    finally:
        for cl in (r, refc):
            cl.config_set("maxmemory-policy", "noeviction")
    same(r, refc, "OBJECT", "FREQ", "k")


def test_object_help_both_protocols(rr):
    lines = rr.execute_command("OBJECT", "HELP")
    assert lines[0] in (b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    assert len(lines) == 15


# -- SWAPDB FLUSHDB FLUSHALL -----------------------------------------------------------------------
def test_swapdb(r, server):
    other = server.client(2, db=9)
    try:
        r.set("in0", "a")
        r.expire("in0", 100)
        other.set("in9", "b")
        assert r.swapdb(0, 9) is True
        assert r.get("in0") is None and r.get("in9") == b"b"
        assert other.get("in0") == b"a" and 0 < other.ttl("in0") <= 100
        assert r.swapdb(9, 9) is True
        assert r.swapdb(0, 9) is True
        assert r.get("in0") == b"a" and other.get("in9") == b"b" and other.dbsize() == 1
    finally:
        other.flushdb()
        other.close()


def test_flushdb_flushall(rr, server):
    other = server.client(2, db=4)
    try:
        rr.mset({"a": 1, "b": 2})
        other.set("x", 1)
        assert rr.flushdb() is True
        assert rr.dbsize() == 0 and other.dbsize() == 1
        rr.set("a", 1)
        assert rr.execute_command("FLUSHDB", "ASYNC") in (b"OK", "OK", True)
        assert rr.dbsize() == 0 and other.dbsize() == 1
        rr.set("a", 1)
        assert rr.execute_command("FLUSHALL", "sync") in (b"OK", "OK", True)
        assert rr.dbsize() == 0 and other.dbsize() == 0
        rr.set("a", 1)
        other.set("x", 1)
        assert rr.flushall(asynchronous=True) is True
        assert rr.dbsize() == 0 and other.dbsize() == 0
        assert rr.flushall() is True
    finally:
        other.close()


def test_lazyfree_lazy_user_flush_default(r):
    r.config_set("lazyfree-lazy-user-flush", "yes")
    try:
        r.mset({"a": 1, "b": 2})
        assert r.flushall() is True
        assert r.dbsize() == 0
    finally:
        r.config_set("lazyfree-lazy-user-flush", "no")


def test_glob_nocase_rules():
    """CONFIG GET matches case-insensitively (stringmatchlen nocase=1); checked in-process
    because CONFIG GET's directive list differs between valkey 8.0 and Redis 7.2.4."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from valkeyd.glob import match, stringmatch

    assert match(b"MAXMEMORY*", b"maxmemory-policy", True)
    assert not match(b"MAXMEMORY*", b"maxmemory-policy")
    assert match(b"[A-Z]", b"q", True) and not match(b"[A-Z]", b"q")
    # escaped bytes inside a class compare case-sensitively even with nocase
    assert not match(b"[\\A]", b"a", True) and match(b"[\\A]", b"A", True)
    # ranges are swapped before being lowered: [Z-a] lowers to z..a, which is empty
    assert not match(b"[Z-a]", b"z", True) and not match(b"[Z-a]", b"_", True)
    assert match(b"[Z-a]", b"_") and match(b"[a-Z]", b"^")
    assert stringmatch(b"h?llo", b"HeLLo", True) and not stringmatch(b"", b"x")
    assert match(b"", b"") and not match(b"*", b"")
