"""SORT and SORT_RO against a real valkeyd, compared reply by reply with valkey-server 8.0
(whose sort.c is Redis 7.2.4's, apart from cluster-mode messages), plus the in-process
checks of keyspace events, dirty counting and propagation.

Sets are only compared where Redis defines the order: after a sort, or with BY nosort on
small intset/listpack sets (whose iteration order both servers share)."""
from __future__ import annotations


import pytest
import redis

from harness import inproc_client, inproc_server, reply_or_error, same_reply

run, same = reply_or_error, same_reply
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
CONV = "ERR!One or more scores can't be converted into double"


def both(o, ref, *args):
    a, b = run(o, *args), run(ref, *args)
    assert a == b, (args, a, b)
    return a


def reset_errno(ref):
    """Redis reads the weights with strtod without clearing errno first, so after a SORT
    that met ERANGE every later numeric SORT fails until errno changes (a Redis bug that
    valkeyd does not reproduce). Accepting a connection leaves errno at EAGAIN."""
    kw = ref.connection_pool.connection_kwargs
    c = redis.Redis(host=kw.get("host", "127.0.0.1"), port=kw["port"])
    c.ping()
    c.close()


def setup(o, ref, *cmds):
    for cmd in cmds:
        both(o, ref, *cmd)


@pytest.fixture
def pair(r, refc):
    yield r, refc
    for c in (r, refc):
        c.config_set("zset-max-listpack-entries", 128)
        c.config_set("list-max-listpack-size", -2)


def test_sort_list_numeric_alpha_desc(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", "3", "1", "2", "10", "-1.5", "1e2", "0x10", " 7", "2"))
    assert same(o, ref, "SORT", "l") == [b"-1.5", b"1", b"2", b"2", b"3", b" 7", b"10",
                                         b"0x10", b"1e2"]
    for args in (["DESC"], ["ALPHA"], ["ALPHA", "DESC"], ["ASC"], ["DESC", "ASC"],
                 ["alpha", "desc", "asc"], ["LIMIT", "0", "3"], ["LIMIT", "2", "3", "DESC"]):
        same(o, ref, "SORT", "l", *args)
        same(o, ref, "SORT_RO", "l", *args)


def test_sort_limit_arithmetic(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", *[str(i) for i in range(10, 0, -1)]),
          ("ZADD", "z", *sum(([str(i), f"m{i}"] for i in range(10)), [])))
    limits = [("0", "0"), ("0", "-1"), ("-5", "3"), ("3", "-7"), ("9", "5"), ("10", "1"),
              ("11", "2"), ("100", "-1"), ("0", "100"), ("-9223372036854775808", "5"),
              ("5", "9223372036854775807"), ("9223372036854775807", "9223372036854775807")]
    for a, b in limits:
        for key in ("l", "z", "missing"):
            for extra in ([], ["DESC"], ["BY", "nosort"], ["BY", "nosort", "DESC"],
                          ["ALPHA"]):
                same(o, ref, "SORT", key, "LIMIT", a, b, *extra)


def test_sort_errors(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", "1", "x"), ("SET", "s", "v"), ("HSET", "h", "a", "1"),
          ("RPUSH", "ok", "1"))
    assert same(o, ref, "SORT", "l") == CONV
    assert same(o, ref, "SORT", "l", "STORE", "d") == CONV
    assert o.exists("d") == 0
    assert same(o, ref, "SORT", "s") == "ERR!" + WRONGTYPE
    assert same(o, ref, "SORT", "h", "ALPHA") == "ERR!" + WRONGTYPE
    same(o, ref, "SORT_RO", "h")
    # Option errors come first (the key is looked up after parsing).
    for args in (["foo"], ["LIMIT"], ["LIMIT", "1"], ["STORE"], ["BY"], ["GET"],
                 ["LIMIT", "a", "1"], ["LIMIT", "1", "b"], ["LIMIT", "1.5", "1"],
                 ["LIMIT", "9223372036854775808", "1"], ["ASC", "DESC", "nope"]):
        for key in ("s", "ok", "missing"):
            same(o, ref, "SORT", key, *args)
            same(o, ref, "SORT_RO", key, *args)
    assert same(o, ref, "SORT_RO", "ok", "STORE", "x") == "ERR!syntax error"
    same(o, ref, "SORT")
    same(o, ref, "SORT_RO")


def test_sort_numeric_conversion(pair):
    """strtod: leading spaces, hex, inf are numbers; trailing bytes, NaN, ERANGE (overflow
    and subnormal underflow) are errors; an empty string is 0."""
    o, ref = pair
    good = ["5", " 5", "\t-3", "+2", "0x1A", "0x1p3", "inf", "-inf", "Infinity", "1e308",
            "2.2250738585072014e-308", "", ".5", "5.", "1e-5", "-0", "0",
            "12345678901234567890123", "5\x00junk"]
    bad = ["5 ", "abc", "nan", "-nan", "NaN", "1e400", "-1e400", "1e-310", "4e-320", "1e-400",
           "5x", "0x", "1,5"]
    for i, v in enumerate(good):
        setup(o, ref, ("DEL", "l"), ("RPUSH", "l", v, "1", "-1"))
        same(o, ref, "SORT", "l")
        same(o, ref, "SORT", "l", "DESC")
    for v in bad:
        setup(o, ref, ("DEL", "l"), ("RPUSH", "l", v, "1"))
        assert same(o, ref, "SORT", "l") == CONV, v
        reset_errno(ref)
    # The same through BY weights (strings, hash fields).
    setup(o, ref, ("DEL", "l"), ("RPUSH", "l", "a", "b", "c"))
    for v in good + bad:
        setup(o, ref, ("SET", "w_b", v), ("HSET", "h_a", "f", v))
        same(o, ref, "SORT", "l", "BY", "w_*")
        reset_errno(ref)
        same(o, ref, "SORT", "l", "BY", "h_*->f", "DESC")
        reset_errno(ref)


def test_sort_by_patterns(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", "a", "b", "c", "d", "e"),
          ("MSET", "w_a", "3", "w_b", "1", "w_c", "3", "w_e", "-2"),
          ("HSET", "h_a", "f", "9", "g", "zz"), ("HSET", "h_b", "f", "-1", "g", "aa"),
          ("HSET", "h_c", "f", "5"), ("SET", "h_d", "notahash"),
          ("HSET", "h_e->x", "f", "1"), ("SET", "pre_c_post", "0"),
          ("SET", "w_*", "x"), ("SET", "plain", "1"))
    for by in ("w_*", "h_*->f", "h_*->g", "h_*->", "h_*->x->f", "pre_*_post", "*",
               "w_*_missing", "nosort", "plain", "", "*->f", "h_*->nofield"):
        for extra in ([], ["DESC"], ["ALPHA"], ["ALPHA", "DESC"], ["LIMIT", "1", "2"],
                      ["ALPHA", "LIMIT", "1", "3"], ["ALPHA", "STORE", "dst"],
                      ["LIMIT", "0", "2", "DESC", "STORE", "dst"]):
            same(o, ref, "SORT", "l", "BY", by, *extra)
            if "STORE" in extra:
                same(o, ref, "LRANGE", "dst", 0, -1)
    # Several BY: the last pattern is used, but a constant one anywhere disables sorting.
    same(o, ref, "SORT", "l", "BY", "nosort", "BY", "w_*")
    same(o, ref, "SORT", "l", "BY", "w_*", "BY", "h_*->f")


def test_sort_get_patterns(rr, refc):
    o, ref = rr, refc
    for c in (o, ref):
        c.rpush("l", "a", "b", "c")
        c.mset({"o_a": "A", "o_c": "C"})
        c.hset("h_b", "name", "bee")
        c.hset("h_a", "name", "ay")
    proto = o.connection_pool.connection_kwargs.get("protocol") or 2
    ref3 = redis.Redis(port=ref.connection_pool.connection_kwargs["port"], protocol=proto)
    for gets in (["#"], ["o_*"], ["o_*", "#", "h_*->name"], ["nostar"], ["#", "#"],
                 ["h_*->name"], ["h_*->"], ["o_*->name"], ["*"]):
        args = []
        for g in gets:
            args += ["GET", g]
        assert run(o, "SORT", "l", "ALPHA", *args) == run(ref3, "SORT", "l", "ALPHA", *args)
        assert run(o, "SORT_RO", "l", "ALPHA", "DESC", *args) == run(
            ref3, "SORT_RO", "l", "ALPHA", "DESC", *args)
        assert run(o, "SORT", "l", "BY", "nosort", "LIMIT", "1", "5", *args) == run(
            ref3, "SORT", "l", "BY", "nosort", "LIMIT", "1", "5", *args)
        # STORE: missing values become empty strings.
        assert run(o, "SORT", "l", "ALPHA", *args, "STORE", "d") == run(
            ref3, "SORT", "l", "ALPHA", *args, "STORE", "d")
        assert o.lrange("d", 0, -1) == ref3.lrange("d", 0, -1)


def test_sort_resp3_null_get(r3):
    r3.rpush("l", "1", "2")
    r3.set("o_2", "x")
    assert r3.execute_command("SORT", "l", "GET", "o_*", "GET", "#") == [None, b"1", b"x", b"2"]


def test_sort_sets(pair):
    o, ref = pair
    setup(o, ref, ("SADD", "ints", "5", "-3", "10", "0", "7"),
          ("SADD", "lp", "pear", "apple", "fig", "banana"),
          ("SADD", "nums", "1.5", "0.5", "-2", "10"),
          ("MSET", "w_pear", "1", "w_apple", "2", "w_fig", "0"))
    for key in ("ints", "nums"):
        for extra in ([], ["DESC"], ["ALPHA"], ["LIMIT", "1", "2"], ["BY", "nosort"],
                      ["BY", "nosort", "DESC", "LIMIT", "1", "2"], ["STORE", "d"],
                      ["BY", "nosort", "STORE", "d"]):
            same(o, ref, "SORT", key, *extra)
            same(o, ref, "LRANGE", "d", 0, -1)
    for extra in (["ALPHA"], ["ALPHA", "DESC"], ["BY", "w_*"], ["BY", "w_*", "ALPHA"],
                  ["BY", "w_*", "DESC", "GET", "#", "GET", "w_*"], ["BY", "nosort"],
                  ["BY", "nosort", "DESC"],
                  # a set that is not sorted is sorted ALPHA (keeping DESC) when stored
                  ["BY", "nosort", "STORE", "d"], ["BY", "nosort", "DESC", "STORE", "d"],
                  ["BY", "nosort", "LIMIT", "1", "2", "STORE", "d"]):
        same(o, ref, "SORT", "lp", *extra)
        same(o, ref, "LRANGE", "d", 0, -1)
    assert same(o, ref, "SORT", "lp") == CONV


def test_sort_hashtable_set_sorted(pair):
    o, ref = pair
    members = [str(i * 7 % 1000) + "x" for i in range(300)]
    setup(o, ref, ("SADD", "big", *members))
    assert same(o, ref, "OBJECT", "ENCODING", "big") == b"hashtable"
    same(o, ref, "SORT", "big", "ALPHA")
    same(o, ref, "SORT", "big", "ALPHA", "DESC", "LIMIT", "10", "20")
    same(o, ref, "SORT", "big", "BY", "nosort", "STORE", "d")
    same(o, ref, "LRANGE", "d", 0, -1)
    same(o, ref, "OBJECT", "ENCODING", "d")


def test_sort_zsets(pair):
    o, ref = pair
    setup(o, ref, ("ZADD", "z", "3", "c", "1", "a", "2", "b", "2", "bb", "-1", "10"),
          ("MSET", "w_a", "5", "w_b", "4", "w_10", "x", "w_c", "7", "w_bb", "3"))
    assert same(o, ref, "OBJECT", "ENCODING", "z") == b"listpack"
    assert same(o, ref, "SORT", "z", "BY", "nosort") == [b"10", b"a", b"b", b"bb", b"c"]
    # SORT converts a listpack sorted set to a skiplist, for good (SORT_RO too).
    assert same(o, ref, "OBJECT", "ENCODING", "z") == b"skiplist"
    setup(o, ref, ("ZADD", "z2", "1", "x"))
    same(o, ref, "SORT_RO", "z2", "ALPHA")
    assert same(o, ref, "OBJECT", "ENCODING", "z2") == b"skiplist"
    for extra in (["ALPHA"], ["ALPHA", "DESC"], ["BY", "nosort", "DESC"],
                  ["BY", "nosort", "LIMIT", "2", "2"], ["BY", "nosort", "DESC", "LIMIT", "1", "3"],
                  ["BY", "nosort", "LIMIT", "4", "10"], ["BY", "nosort", "LIMIT", "5", "10"],
                  ["BY", "w_*", "ALPHA"], ["BY", "nosort", "GET", "w_*", "GET", "#"],
                  ["BY", "nosort", "DESC", "STORE", "d"]):
        same(o, ref, "SORT", "z", *extra)
        same(o, ref, "LRANGE", "d", 0, -1)
    assert same(o, ref, "SORT", "z") == CONV


def test_sort_store(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", "3", "1", "2"), ("SET", "dst", "string"),
          ("EXPIRE", "dst", "100"))
    assert same(o, ref, "SORT", "l", "STORE", "dst") == 3
    assert same(o, ref, "TYPE", "dst") == b"list"
    assert same(o, ref, "TTL", "dst") == -1
    assert same(o, ref, "LRANGE", "dst", 0, -1) == [b"1", b"2", b"3"]
    # The last STORE wins; storing onto the source key itself.
    same(o, ref, "SORT", "l", "STORE", "x", "DESC", "STORE", "l")
    same(o, ref, "LRANGE", "l", 0, -1)
    same(o, ref, "EXISTS", "x")
    # An empty result deletes the destination (whatever its type).
    setup(o, ref, ("HSET", "hd", "a", "1"))
    assert same(o, ref, "SORT", "nokey", "STORE", "hd") == 0
    assert same(o, ref, "EXISTS", "hd") == 0
    assert same(o, ref, "SORT", "l", "LIMIT", "0", "0", "STORE", "dst") == 0
    assert same(o, ref, "EXISTS", "dst") == 0
    assert same(o, ref, "SORT", "l", "GET", "#", "GET", "o_*", "STORE", "dst") == 6
    same(o, ref, "LRANGE", "dst", 0, -1)


def test_sort_store_encoding(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "small", *[str(i) for i in range(100)]),
          ("RPUSH", "big", *[str(i) * 30 for i in range(400)]))
    for size in ("-2", "-1", "5", "128"):
        setup(o, ref, ("CONFIG", "SET", "list-max-listpack-size", size))
        for key in ("small", "big"):
            same(o, ref, "SORT", key, "STORE", "d")
            assert same(o, ref, "OBJECT", "ENCODING", "d")
            same(o, ref, "SORT", key, "LIMIT", "0", "3", "STORE", "d")
            same(o, ref, "OBJECT", "ENCODING", "d")
    setup(o, ref, ("CONFIG", "SET", "list-max-listpack-size", "-2"),
          ("RPUSH", "one", "x" * 9000))
    same(o, ref, "SORT", "one", "BY", "nosort", "STORE", "d")
    same(o, ref, "OBJECT", "ENCODING", "d")


def test_sort_alpha_collation_and_nul_bytes(pair):
    """ALPHA uses strcoll (C strings: the bytes before a NUL) unless STORE is given, where
    whole binary strings are compared; equal elements keep their list order (glibc's merge
    sort) or the order Redis's pqsort leaves them in when BY and LIMIT are given."""
    o, ref = pair
    elems = ["a\x00z", "a\x00b", "a", "\xff", "A", "b", "a\x00", "", "\x00x"]
    setup(o, ref, ("RPUSH", "l", *elems))
    for extra in ([], ["DESC"], ["STORE", "d"], ["DESC", "STORE", "d"], ["LIMIT", "1", "4"]):
        same(o, ref, "SORT", "l", "ALPHA", *extra)
        same(o, ref, "LRANGE", "d", 0, -1)
    for i, e in enumerate(elems):
        setup(o, ref, ("SET", f"w_{e}", ["q\x00" + str(i), "q", "p"][i % 3]))
    for extra in ([], ["DESC"], ["STORE", "d"], ["LIMIT", "1", "4"], ["DESC", "LIMIT", "0", "3"]):
        same(o, ref, "SORT", "l", "BY", "w_*", "ALPHA", *extra)
        same(o, ref, "LRANGE", "d", 0, -1)


@pytest.mark.parametrize("n", [5, 7, 8, 20, 41, 120, 400])
def test_sort_ties_full_and_partial(pair, n):
    """Equal weights: the full sort keeps the list order, the partial sort (BY + LIMIT) gives
    Redis's pqsort order."""
    o, ref = pair
    elems = [f"e{(i * 37) % n}" for i in range(n)]
    weights = {}
    for i, e in enumerate(elems):
        if i % 4:
            weights[f"w_{e}"] = ["m", "k", "m", "z"][i % 4]
    setup(o, ref, ("RPUSH", "l", *elems))
    if weights:
        setup(o, ref, ("MSET", *sum(weights.items(), ())))
    for extra in ([], ["DESC"], ["LIMIT", "0", "3"], ["LIMIT", "2", str(n // 2)],
                  ["DESC", "LIMIT", str(n // 3), "5"], ["LIMIT", "1", "-1"],
                  ["LIMIT", str(n - 2), "10"], ["GET", "#", "GET", "w_*", "LIMIT", "3", "4"]):
        same(o, ref, "SORT", "l", "BY", "w_*", "ALPHA", *extra)
        same(o, ref, "SORT", "l", "BY", "w_*", *extra)
        same(o, ref, "SORT", "l", "BY", "nokey_*", "ALPHA", *extra)
        same(o, ref, "SORT", "l", "BY", "nokey_*", "ALPHA", "STORE", "d", *extra)
        same(o, ref, "LRANGE", "d", 0, -1)


def test_sort_expired_and_wrong_type_lookups(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", "a", "b", "c"), ("SET", "w_a", "2"), ("RPUSH", "w_b", "1"),
          ("SET", "w_c", "1"), ("PEXPIRE", "w_c", "1"), ("HSET", "h_b", "f", "1"))
    import time
    time.sleep(0.01)
    same(o, ref, "SORT", "l", "BY", "w_*")
    same(o, ref, "SORT", "l", "BY", "w_*", "GET", "w_*", "GET", "h_*->f", "GET", "h_*")
    same(o, ref, "SORT", "l", "BY", "h_*->f")


def test_sort_keyspace_hits_and_misses(pair):
    o, ref = pair
    setup(o, ref, ("RPUSH", "l", "a", "b", "c"), ("SET", "w_a", "2"), ("SET", "o_b", "x"))

    def delta(c, *args):
        before = c.info("stats")
        run(c, *args)
        after = c.info("stats")
        return (after["keyspace_hits"] - before["keyspace_hits"],
                after["keyspace_misses"] - before["keyspace_misses"])

    for args in (("SORT", "l", "BY", "w_*", "GET", "o_*", "GET", "#"),
                 ("SORT", "nokey"), ("SORT", "l", "ALPHA", "GET", "h_*->f"),
                 ("SORT", "l", "BY", "nosort", "LIMIT", "0", "1", "GET", "o_*")):
        assert delta(o, *args) == delta(ref, *args), args


def test_command_getkeys(r, refc):
    for c in (r, refc):
        c.set_response_callback("COMMAND", lambda x, **kw: x)
    cases = [("SORT", "k"), ("SORT", "k", "STORE", "d"),
             ("SORT", "k", "STORE", "d1", "ALPHA", "STORE", "d2"),
             ("SORT", "k", "LIMIT", "STORE", "x", "STORE", "y"),
             ("SORT", "k", "GET", "STORE", "STORE", "z"), ("SORT", "k", "BY", "STORE"),
             ("SORT", "k", "STORE"), ("SORT_RO", "k", "BY", "x", "GET", "y")]
    for args in cases:
        assert run(r, "COMMAND", "GETKEYS", *args) == run(refc, "COMMAND", "GETKEYS", *args)
    for name in ("sort", "sort_ro"):
        assert r.execute_command("COMMAND", "INFO", name)[0][:6] == \
            refc.execute_command("COMMAND", "INFO", name)[0][:6]


# -- in-process: keyspace events, dirty, propagation ------------------------------------------
@pytest.fixture
def inproc():
    srv, props, events = inproc_server()
    c = inproc_client(srv)

    def cmd(*args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        props.clear()
        events.clear()
        c.out.clear()
        dirty = srv.dirty
        c.execute(argv)
        return srv.dirty - dirty

    srv.cmd = cmd
    yield srv, props, events


def test_events_dirty_and_propagation(inproc):
    srv, props, events = inproc
    srv.cmd("RPUSH", "l", "2", "1", "3")
    assert srv.cmd("SORT", "l") == 0 and props == [] and events == []
    assert srv.cmd("SORT", "l", "STORE", "d") == 3
    assert events == [("l", "sortstore", b"d")]
    assert props == [[b"SORT", b"l", b"STORE", b"d"]]
    assert srv.cmd("SORT", "l", "GET", "#", "GET", "x_*", "STORE", "d") == 6
    assert srv.cmd("SORT", "nokey", "STORE", "d") == 1
    assert events == [("g", "del", b"d")] and props == [[b"SORT", b"nokey", b"STORE", b"d"]]
    assert srv.cmd("SORT", "nokey", "STORE", "d") == 0 and events == [] and props == []
    assert srv.cmd("SORT_RO", "l", "ALPHA") == 0 and props == []
    assert srv.cmd("SORT", "l", "LIMIT", "0", "0", "STORE", "l") == 1
    assert events == [("g", "del", b"l")]


def test_store_wakes_blocked_client(r, server):
    """SORT ... STORE signals the destination (a blocked BLPOP is served)."""
    import threading
    import time
    r.rpush("src", "b", "a")
    other = redis.Redis(port=server.port)
    got = []
    t = threading.Thread(target=lambda: got.append(other.blpop(["dst"], timeout=5)))
    t.start()
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] < 1:
        assert time.monotonic() < deadline, "BLPOP never blocked"
        time.sleep(0.005)
    assert r.sort("src", alpha=True, store="dst") == 2
    t.join(5)
    assert got == [(b"dst", b"a")]


def test_cluster_mode_and_acl_restrictions(inproc):
    """BY with a real pattern and GET are refused in cluster mode, and for a user without
    access to every key (parsing stops at the first refused option)."""
    srv, props, events = inproc
    srv.cmd("RPUSH", "l", "2", "1")
    from valkeyd.errors import ErrorReply
    import valkeyd.commands.sort as sortmod

    def run_and_get(*args):
        argv = [a.encode() if isinstance(a, str) else a for a in args]
        try:
            return sortmod._sort(fake, argv, args[0] == "SORT_RO")
        except ErrorReply as e:
            return "ERR!" + str(e)

    class Fake:
        pass

    fake = Fake()
    fake.server = srv
    fake.db = srv.dbs[0]
    fake.resp = 2
    assert run_and_get("SORT", "l", "BY", "w_*", "GET", "#") == [b"1", b"2"]
    srv.config.set("cluster-enabled", "yes")
    try:
        assert run_and_get("SORT", "l", "BY", "w_*") == \
            "ERR!ERR BY option of SORT denied in Cluster mode."
        assert run_and_get("SORT", "l", "GET", "#") == \
            "ERR!ERR GET option of SORT denied in Cluster mode."
        assert run_and_get("SORT", "l", "BY", "nosort", "LIMIT", "0", "1") == [b"2"]
        assert run_and_get("SORT", "l", "LIMIT", "x", "1", "BY", "w_*") == \
            "ERR!ERR value is not an integer or out of range"
    finally:
        srv.config.set("cluster-enabled", "no")
    srv.acl_unrestricted_keys = lambda client, argv: False
    try:
        assert run_and_get("SORT_RO", "l", "BY", "w_*") == \
            "ERR!ERR BY option of SORT denied due to insufficient ACL permissions."
        assert run_and_get("SORT", "l", "GET", "o_*") == \
            "ERR!ERR GET option of SORT denied due to insufficient ACL permissions."
        assert run_and_get("SORT", "l", "BY", "constant", "ALPHA") == [b"2", b"1"]
    finally:
        del srv.acl_unrestricted_keys
    # Inside a script an unsorted set is sorted (ALPHA), as with STORE.
    srv.cmd("SADD", "s", "b", "c", "a")
    fake.in_script = True
    assert run_and_get("SORT", "s", "BY", "nosort", "DESC") == [b"c", b"b", b"a"]
