"""Set commands (SADD ... SSCAN) against a real valkeyd, compared with valkey-server 8.0 where
the reply is deterministic and the two agree with Redis 7.2.4, and checked against Redis
7.2.4's documented rules (t_set.c) where Valkey 8.0 differs. The random commands get
chi-square uniformity tests. Keyspace events and propagation are checked in-process (there
is no pub/sub delivery, AOF or replica yet to observe them from outside)."""
from __future__ import annotations

import math
import socket
from collections import Counter

import pytest

from harness import inproc_client, inproc_server, reply_or_error, same_reply

run, same = reply_or_error, same_reply
THRESHOLDS = {"set-max-intset-entries": 512, "set-max-listpack-entries": 128,
              "set-max-listpack-value": 64}
RAW = ("SMEMBERS", "SINTER", "SUNION", "SDIFF", "SSCAN", "SRANDMEMBER", "SPOP")
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def raw(c):
    """redis-py turns set replies into Python sets: keep the order the server sent."""
    for name in RAW:
        c.set_response_callback(name, lambda r, **kw: r)
    return c


@pytest.fixture
def o(r):
    """Our server (RESP2, raw set replies); thresholds restored afterwards."""
    yield raw(r)
    for k, v in THRESHOLDS.items():
        r.config_set(k, v)


@pytest.fixture
def ref2(refc):
    yield raw(refc)
    for k, v in THRESHOLDS.items():
        refc.config_set(k, v)


def both(ours, ref, *args):
    """Run a command on both servers without comparing (setup)."""
    return run(ours, *args), run(ref, *args)


def enc(c, key):
    return c.object("encoding", key)


def _exchange(s, payload: bytes) -> bytes:
    """Send ``payload`` followed by PING; the replies before the PONG."""
    s.sendall(payload + b"*1\r\n$4\r\nPING\r\n")
    buf = b""
    while not buf.endswith(b"+PONG\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf[: -len(b"+PONG\r\n")]


def resp(server, proto, *cmds):
    """Raw replies from a fresh connection speaking RESP ``proto``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        if proto == 3:
            _exchange(s, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
        payload = b""
        for cmd in cmds:
            parts = [a if isinstance(a, bytes) else str(a).encode() for a in cmd]
            payload += b"*%d\r\n" % len(parts) + b"".join(
                b"$%d\r\n%b\r\n" % (len(p), p) for p in parts)
        return _exchange(s, payload)


# -- chi-square --------------------------------------------------------------------------------
def _gammq(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (series below a + 1, else Lentz's
    continued fraction)."""
    if x <= 0:
        return 1.0
    lg = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return 1.0 - total * math.exp(-x + a * math.log(x) - lg)
    b = x + 1 - a
    c = 1 / 1e-300
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - lg) * h


def chi2_p(counts, expected_each=None) -> float:
    """p-value of the chi-square goodness-of-fit test against the uniform distribution."""
    counts = list(counts)
    k = len(counts)
    n = sum(counts)
    e = expected_each if expected_each is not None else n / k
    stat = sum((x - e) ** 2 / e for x in counts)
    return _gammq((k - 1) / 2, stat / 2)


P_MIN = 1e-6   # a correct implementation fails with probability one in a million


def test_chi2_helper_detects_bias():
    assert chi2_p([1000, 1000, 1000, 1000]) > 0.99
    assert chi2_p([1100, 900, 1000, 1000]) < 1e-3
    # closed forms: 1 dof erfc(sqrt(x/2)); 4 dof exp(-x/2) (1 + x/2); 2 dof exp(-x/2)
    x = 10 / 3
    assert abs(chi2_p([10, 20]) - math.erfc(math.sqrt(x / 2))) < 1e-12
    x = 250 / 15
    assert abs(chi2_p([5, 10, 15, 20, 25]) - math.exp(-x / 2) * (1 + x / 2)) < 1e-12
    assert abs(chi2_p([1100, 1000, 900]) - math.exp(-20 / 2)) < 1e-12   # statistic 20
    # many categories (99 dof): statistic 50 is typical, 800 is not
    assert chi2_p([45, 55] * 50) > 0.99 and chi2_p([30, 70] * 50) < 1e-30


# -- SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS ------------------------------------------
def test_basic_commands(o, ref2):
    for cmd in [("SADD", "s", "a", "b", "a", "1"), ("SADD", "s", "b"), ("SCARD", "s"),
                ("SCARD", "none"), ("SISMEMBER", "s", "a"), ("SISMEMBER", "s", "z"),
                ("SISMEMBER", "none", "a"), ("SMISMEMBER", "s", "a", "z", "1", "a"),
                ("SMISMEMBER", "none", "a", "b"), ("SMEMBERS", "s"), ("SMEMBERS", "none"),
                ("SREM", "s", "z"), ("SREM", "none", "a"), ("SREM", "s", "a", "a", "z"),
                ("SMEMBERS", "s"), ("SREM", "s", "b", "1", "zz"), ("EXISTS", "s"),
                ("TYPE", "s"), ("SADD", "e", ""), ("SMEMBERS", "e"), ("SISMEMBER", "e", ""),
                ("SADD", "bin", b"\x00\xff", b"\r\n"), ("SISMEMBER", "bin", b"\x00\xff")]:
        same(o, ref2, *cmd)


def test_smembers_order_follows_the_encoding(o, ref2):
    """An intset replies in ascending order, a listpack in insertion order (an intset turned
    listpack keeps its ascending integers first)."""
    both(o, ref2, "SADD", "i", 5, -3, 100, 0, 7)
    assert same(o, ref2, "SMEMBERS", "i") == [b"-3", b"0", b"5", b"7", b"100"]
    both(o, ref2, "SADD", "l", "z", 9, "a", 1)
    assert same(o, ref2, "SMEMBERS", "l") == [b"z", b"9", b"a", b"1"]
    both(o, ref2, "SADD", "i", "x", "b")
    assert same(o, ref2, "SMEMBERS", "i") == [b"-3", b"0", b"5", b"7", b"100", b"x", b"b"]
    both(o, ref2, "SREM", "i", "0")
    both(o, ref2, "SADD", "i", "0")
    assert same(o, ref2, "SMEMBERS", "i")[-1] == b"0"


def test_wrongtype_everywhere(o, ref2):
    both(o, ref2, "SET", "str", "v")
    both(o, ref2, "SADD", "s", "a")
    cmds = [("SADD", "str", "a"), ("SREM", "str", "a"), ("SISMEMBER", "str", "a"),
            ("SMISMEMBER", "str", "a"), ("SCARD", "str"), ("SMEMBERS", "str"),
            ("SRANDMEMBER", "str"), ("SRANDMEMBER", "str", 2), ("SRANDMEMBER", "str", 0),
            ("SPOP", "str"), ("SPOP", "str", 2), ("SPOP", "str", 0),
            ("SMOVE", "str", "s", "a"), ("SMOVE", "s", "str", "a"), ("SINTER", "s", "str"),
            ("SINTER", "none", "str"), ("SINTERCARD", 2, "none", "str"),
            ("SUNION", "s", "str"), ("SDIFF", "none", "str"), ("SINTERSTORE", "d", "s", "str"),
            ("SUNIONSTORE", "d", "str"), ("SDIFFSTORE", "d", "s", "str"), ("SSCAN", "str", 0)]
    for cmd in cmds:
        assert same(o, ref2, *cmd) == "ERR!" + WRONGTYPE, cmd
    # SMOVE from a missing source is 0 even if the destination has the wrong type
    assert same(o, ref2, "SMOVE", "none", "str", "a") == 0
    assert o.get("str") == b"v" and o.exists("d") == 0


@pytest.mark.parametrize("cmd", [
    ("SADD", "k"), ("SREM", "k"), ("SISMEMBER", "k"), ("SISMEMBER", "k", "a", "b"),
    ("SMISMEMBER", "k"), ("SCARD",), ("SCARD", "k", "x"), ("SMEMBERS",), ("SMEMBERS", "a", "b"),
    ("SRANDMEMBER",), ("SPOP",), ("SMOVE", "a", "b"), ("SMOVE", "a", "b", "c", "d"),
    ("SINTER",), ("SINTERCARD", 1), ("SUNION",), ("SDIFF",), ("SINTERSTORE", "d"),
    ("SUNIONSTORE", "d"), ("SDIFFSTORE", "d"), ("SSCAN", "k"),
])
def test_wrong_arity(o, ref2, cmd):
    assert same(o, ref2, *cmd).startswith("ERR!wrong number of arguments")


@pytest.mark.parametrize("cmd", [
    ("SPOP", "s", 1, 2), ("SPOP", "s", -1), ("SPOP", "s", "x"), ("SPOP", "s", "1.5"),
    ("SPOP", "none", "-1"), ("SPOP", "s", "9223372036854775808"),
    ("SRANDMEMBER", "s", 1, 2), ("SRANDMEMBER", "s", "x"), ("SRANDMEMBER", "s", " 1"),
    ("SRANDMEMBER", "s", "-9223372036854775808"), ("SRANDMEMBER", "none", "x"),
    ("SRANDMEMBER", "s", "9223372036854775808"),
    ("SINTERCARD", 0, "s"), ("SINTERCARD", -1, "s"), ("SINTERCARD", "x", "s"),
    ("SINTERCARD", 2, "s"), ("SINTERCARD", 1, "s", "LIMIT"), ("SINTERCARD", 1, "s", "LIMIT", -1),
    ("SINTERCARD", 1, "s", "LIMIT", "x"), ("SINTERCARD", 1, "s", "FOO", 1),
    ("SINTERCARD", 1, "s", "s"), ("SINTERCARD", "9223372036854775808", "s"),
    ("SSCAN", "s", "x"), ("SSCAN", "s", "-1x"), ("SSCAN", "s", 0, "COUNT", 0),
    ("SSCAN", "s", 0, "COUNT", "x"), ("SSCAN", "s", 0, "MATCH"), ("SSCAN", "s", 0, "TYPE", "set"),
    ("SSCAN", "s", 0, "FOO", "bar"), ("SSCAN", "none", 0, "FOO", "bar"),
    ("SSCAN", "none", "x"), ("SSCAN", "s", "18446744073709551616"),
])
def test_argument_errors(o, ref2, cmd):
    both(o, ref2, "SADD", "s", "a", "b")
    same(o, ref2, *cmd)


def test_error_texts(o):
    o.sadd("s", "a")
    assert run(o, "SPOP", "s", "x") == "ERR!value is out of range, must be positive"
    assert run(o, "SRANDMEMBER", "s", "-9223372036854775808") == (
        "ERR!value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807")
    assert run(o, "SINTERCARD", "x", "s") == "ERR!numkeys should be greater than 0"
    assert run(o, "SINTERCARD", 3, "s") == (
        "ERR!Number of keys can't be greater than number of args")
    assert run(o, "SINTERCARD", 1, "s", "LIMIT", "x") == "ERR!LIMIT can't be negative"
    assert run(o, "SSCAN", "s", "x") == "ERR!invalid cursor"


# -- SMOVE ----------------------------------------------------------------------------------------
def test_smove(o, ref2):
    both(o, ref2, "SADD", "a", 1, 2, "x")
    both(o, ref2, "SADD", "b", 3)
    for cmd in [("SMOVE", "a", "b", 1), ("SMOVE", "a", "b", 1), ("SMOVE", "a", "b", 3),
                ("SMOVE", "a", "a", 2), ("SMOVE", "a", "a", 9), ("SMOVE", "none", "b", 1),
                ("SMOVE", "a", "new", "x"), ("SMEMBERS", "new"), ("SMEMBERS", "b"),
                ("SMEMBERS", "a"), ("SMOVE", "a", "b", 2), ("EXISTS", "a"), ("SMEMBERS", "b"),
                ("SADD", "c", 3), ("SMOVE", "b", "c", 3), ("SMEMBERS", "c")]:
        same(o, ref2, *cmd)
    for k in ("b", "c", "new"):
        assert same(o, ref2, "OBJECT", "ENCODING", k)


def test_smove_into_new_and_existing_sets_encoding(o, ref2):
    both(o, ref2, "SADD", "src", "x" * 100, "12", "word")
    both(o, ref2, "SADD", "ints", 1, 2)
    same(o, ref2, "SMOVE", "src", "ints", "word")
    assert same(o, ref2, "OBJECT", "ENCODING", "ints") == b"listpack"
    same(o, ref2, "SMOVE", "src", "fresh1", "12")
    assert same(o, ref2, "OBJECT", "ENCODING", "fresh1") == b"intset"
    same(o, ref2, "SMOVE", "src", "fresh2", "x" * 100)
    # setTypeCreate(v, 1) makes a listpack, too small for the value: a hashtable
    assert same(o, ref2, "OBJECT", "ENCODING", "fresh2") == b"hashtable"
    assert same(o, ref2, "EXISTS", "src") == 0


# -- encodings -----------------------------------------------------------------------------------
def test_sadd_encodings_default_thresholds(o, ref2):
    cases = {
        "i": [[1, 2, 3]],
        "i512": [list(range(512))],
        "i513": [list(range(513))],
        "i512+1": [list(range(512)), [512]],
        "ineg": [[-9223372036854775808, 9223372036854775807]],
        "notint": [["01", "+1", "1.0", " 1", "9223372036854775808"]],
        "lp": [["a", "b"]],
        "lp128": [[f"m{i}" for i in range(128)]],
        "lp129": [[f"m{i}" for i in range(129)]],
        "lp128+1": [[f"m{i}" for i in range(128)], ["x"]],
        "lp64": [["x" * 64]],
        "lp65": [["x" * 65]],
        "lp-then-65": [["a"], ["x" * 65]],
        "i-then-str": [[1, 2], ["a"]],
        "i200-then-str": [list(range(200)), ["a"]],
        "i-then-long": [[1], ["x" * 65]],
        "hint-dup": [["a"], ["a"] * 129],       # the hint counts arguments, not new members
        "hint-dup-int": [[1], [1] * 513],
        "lp-with-ints": [["a"], list(range(100))],
        "first-int-hint": [[1, "a"]],
        "first-int-big-hint": [[1] + [f"m{i}" for i in range(600)]],
        "first-str-many-ints": [["a"] + list(range(100))],
    }
    for key, batches in cases.items():
        for batch in batches:
            same(o, ref2, "SADD", key, *batch)
        assert same(o, ref2, "OBJECT", "ENCODING", key), key
        same(o, ref2, "SCARD", key)
    expect = {"i": b"intset", "i512": b"intset", "i513": b"hashtable", "i512+1": b"hashtable",
              "ineg": b"intset", "notint": b"listpack", "lp": b"listpack",
              "lp128": b"listpack", "lp129": b"hashtable", "lp128+1": b"hashtable",
              "lp64": b"listpack", "lp65": b"hashtable", "lp-then-65": b"hashtable",
              "i-then-str": b"listpack", "i200-then-str": b"hashtable",
              "i-then-long": b"hashtable", "hint-dup": b"hashtable", "hint-dup-int": b"hashtable",
              "lp-with-ints": b"listpack", "first-int-hint": b"listpack",
              "first-int-big-hint": b"hashtable", "first-str-many-ints": b"listpack"}
    for key, e in expect.items():
        assert enc(o, key) == e, key


def test_removal_never_converts(o, ref2):
    both(o, ref2, "SADD", "h", *[f"m{i}" for i in range(200)])
    both(o, ref2, "SREM", "h", *[f"m{i}" for i in range(199)])
    assert same(o, ref2, "OBJECT", "ENCODING", "h") == b"hashtable"
    both(o, ref2, "SADD", "l", "a", 1)
    both(o, ref2, "SREM", "l", "a")
    assert same(o, ref2, "OBJECT", "ENCODING", "l") == b"listpack"


def test_encodings_with_small_thresholds(o, ref2):
    settings = [(0, 0, 0), (1, 1, 1), (2, 3, 2), (3, 2, 20), (5, 5, 3)]
    seqs = [[[1], [2], [3]], [[1, 2]], [["a"], ["b"]], [[1], ["ab"]], [[10, 1], ["a"]],
            [[-10], ["a"]], [[100], ["a"]], [["abc"]], [[""]], [[1, 2, 3, 4], [5]],
            [["a", "b", "c"]], [[12345678901], ["x"]], [["x"], [12345678901]]]
    for ie, le, lv in settings:
        for c in (o, ref2):
            c.config_set("set-max-intset-entries", ie)
            c.config_set("set-max-listpack-entries", le)
            c.config_set("set-max-listpack-value", lv)
        for n, seq in enumerate(seqs):
            key = f"k{ie}.{le}.{lv}.{n}"
            for batch in seq:
                same(o, ref2, "SADD", key, *batch)
            assert same(o, ref2, "OBJECT", "ENCODING", key)
            same(o, ref2, "SMEMBERS", key) if enc(o, key) != b"hashtable" else None


def test_intset_to_listpack_checks_the_widest_integer(o, ref2):
    """An intset becomes a listpack only if its longest integer fits set-max-listpack-value."""
    for c in (o, ref2):
        c.config_set("set-max-listpack-value", 5)
    both(o, ref2, "SADD", "wide", -12345, 1)        # "-12345" is 6 characters
    both(o, ref2, "SADD", "narrow", -1234, 1)
    both(o, ref2, "SADD", "wide", "a")
    both(o, ref2, "SADD", "narrow", "a")
    assert same(o, ref2, "OBJECT", "ENCODING", "wide") == b"hashtable"
    assert same(o, ref2, "OBJECT", "ENCODING", "narrow") == b"listpack"


def test_conversions_follow_config_set(o, ref2):
    both(o, ref2, "SADD", "s", 1, 2, 3)
    for c in (o, ref2):
        c.config_set("set-max-intset-entries", 3)
    both(o, ref2, "SADD", "s", 3)
    assert same(o, ref2, "OBJECT", "ENCODING", "s") == b"intset"
    both(o, ref2, "SADD", "s", 4)
    assert same(o, ref2, "OBJECT", "ENCODING", "s") == b"hashtable"


# -- SRANDMEMBER -----------------------------------------------------------------------------------
def test_srandmember_shapes(o, ref2):
    for cmd in [("SRANDMEMBER", "none"), ("SRANDMEMBER", "none", 5), ("SRANDMEMBER", "none", -5),
                ("SRANDMEMBER", "none", 0)]:
        same(o, ref2, *cmd)
    for key, members in (("i", [3, 1, 2]), ("l", ["b", "a", 7]),
                         ("h", [f"m{i}" for i in range(300)])):
        both(o, ref2, "SADD", key, *members)
        n = len(members)
        assert same(o, ref2, "SRANDMEMBER", key, 0) == []
        assert o.srandmember(key).decode() in map(str, members)
        for count in (1, 2, n - 1):
            got = run(o, "SRANDMEMBER", key, count)
            assert len(got) == count and len(set(got)) == count
            assert set(got) <= set(o.smembers(key))
        for count in (n, n + 1, 10**9):
            got = run(o, "SRANDMEMBER", key, count)
            if key != "h":   # the whole set, in the set's own order
                assert got == same(o, ref2, "SMEMBERS", key)
            assert sorted(got) == sorted(run(o, "SMEMBERS", key))
        for count in (-1, -2, -(3 * n)):
            got = run(o, "SRANDMEMBER", key, count)
            assert len(got) == -count and set(got) <= set(o.smembers(key))
    # a listpack's distinct picks come in listpack order
    order = run(o, "SMEMBERS", "l")
    for _ in range(20):
        got = run(o, "SRANDMEMBER", "l", 2)
        assert got == [m for m in order if m in got]


def test_srandmember_resp3_is_an_array(server, o):
    o.sadd("s", "a", "b", "c")
    out = resp(server, 3, ("SRANDMEMBER", "s", 2), ("SRANDMEMBER", "s", -4),
               ("SRANDMEMBER", "none", 3), ("SRANDMEMBER", "none"))
    assert out.startswith(b"*2\r\n") and b"*4\r\n" in out and out.endswith(b"*0\r\n_\r\n")


@pytest.mark.parametrize("n", [5, 17, 200, 1000])
def test_srandmember_uniform(o, n):
    """Every member equally likely: without a count, with a negative count (repetitions)
    and with a positive count (distinct members; each member in count/n of the samples,
    and for a tiny set every subset equally likely)."""
    members = [f"m{i}" for i in range(n)] if n != 17 else list(range(100, 117))
    o.sadd("s", *members)
    draws = max(50 * n, 5000)
    got = run(o, "SRANDMEMBER", "s", -draws)
    counts = Counter(got)
    assert len(counts) == n
    assert chi2_p(counts.values()) > P_MIN
    p = o.pipeline(transaction=False)
    for _ in range(2000 if n <= 17 else 1):
        p.srandmember("s")
    if n <= 17:
        single = Counter(p.execute())
        assert chi2_p([single.get(str(m).encode(), 0) for m in members]) > P_MIN
    k = max(2, n // 4)
    rounds = max(20 * n // k, 300)
    p = o.pipeline(transaction=False)
    for _ in range(rounds):
        p.execute_command("SRANDMEMBER", "s", k)
    seen = Counter()
    for reply in p.execute():
        assert len(set(reply)) == k
        seen.update(reply)
    assert chi2_p([seen.get(str(m).encode(), 0) for m in members]) > P_MIN


@pytest.mark.parametrize("members", [["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5]])
def test_srandmember_subsets_uniform(o, members):
    o.sadd("s", *members)
    p = o.pipeline(transaction=False)
    for _ in range(3000):
        p.execute_command("SRANDMEMBER", "s", 2)
    subsets = Counter(frozenset(x) for x in p.execute())
    assert len(subsets) == 10
    assert chi2_p(subsets.values()) > P_MIN


# -- SPOP ------------------------------------------------------------------------------------------
def test_spop_single(o, ref2):
    assert same(o, ref2, "SPOP", "none") is None
    both(o, ref2, "SADD", "s", "a", "b")
    a = o.spop("s")
    b = o.spop("s")
    assert {a, b} == {b"a", b"b"} and o.exists("s") == 0
    assert o.spop("s") is None


def test_spop_count(o, ref2):
    assert same(o, ref2, "SPOP", "none", 3) == []
    assert same(o, ref2, "SPOP", "none", 0) == []
    both(o, ref2, "SADD", "s", "a", "b", "c", 1, 2)
    assert same(o, ref2, "SPOP", "s", 0) == []
    got = run(o, "SPOP", "s", 2)
    assert len(set(got)) == 2 and o.scard("s") == 3
    assert not set(got) & set(o.smembers("s"))
    rest = sorted(run(o, "SMEMBERS", "s"))
    assert sorted(run(o, "SPOP", "s", 3)) == rest and o.exists("s") == 0


def test_spop_whole_set_order_is_redis_union_order(o):
    """SPOP with a count covering the set replies as SUNION of that one set (Redis 7.2.4:
    sunionDiffGenericCommand starting from an intset). Valkey 8.0 replies in hash order."""
    o.sadd("t", "b", 1, 3)
    o.sadd("t", "a")
    assert run(o, "SMEMBERS", "t") == [b"b", b"1", b"3", b"a"]
    assert run(o, "SPOP", "t", 100) == [b"b", b"1", b"3", b"a"]
    o.sadd("u", 3, 1, "x", 2)   # an intset {1, 3} turned listpack, then 2
    assert run(o, "SMEMBERS", "u") == [b"1", b"3", b"x", b"2"]
    assert run(o, "SPOP", "u", 4) == [b"1", b"3", b"x", b"2"]


def test_spop_resp3_is_a_set(server, o):
    o.sadd("s", "a", "b", "c", "d")
    out = resp(server, 3, ("SPOP", "s", 2), ("SPOP", "s", 5), ("SPOP", "s", 1),
               ("SPOP", "none", 2), ("SPOP", "none"))
    assert out.startswith(b"~2\r\n") and out.count(b"~2\r\n") == 2
    assert out.endswith(b"~0\r\n_\r\n")


@pytest.mark.parametrize("setup,count,expect", [
    ("ints600", 550, b"listpack"),   # a hashtable's survivors go into a new listpack
    ("ints600", 100, b"hashtable"),  # popped one by one: the encoding stays
    ("ints100", 90, b"intset"),
    ("strs100", 90, b"listpack"),
    ("long", 140, b"hashtable"),     # survivors too long for a listpack
    ("strs1000", 900, b"listpack"),
    ("strs1000", 820, b"hashtable"),  # 180 survivors: more than a listpack holds
])
def test_spop_count_rebuilt_set_encoding(o, ref2, setup, count, expect):
    members = {"ints600": list(range(600)), "ints100": list(range(100)),
               "strs100": [f"m{i}" for i in range(100)],
               "strs1000": [f"m{i}" for i in range(1000)],
               "long": ["x" * 70 + str(i) for i in range(150)]}[setup]
    both(o, ref2, "SADD", "s", *members)
    a, b = both(o, ref2, "SPOP", "s", count)
    assert len(a) == len(b) == count
    assert same(o, ref2, "SCARD", "s") == len(members) - count
    assert same(o, ref2, "OBJECT", "ENCODING", "s") == expect
    assert not set(a) & set(o.smembers("s"))


@pytest.mark.parametrize("members,count", [
    (["a", "b", "c", "d", "e"], 2),        # listpack, popped one by one (case 2)
    ([1, 2, 3, 4, 5], 4),                  # intset, survivors rebuilt (case 3)
    ([f"m{i}" for i in range(6)], 5),      # listpack, survivors rebuilt
])
def test_spop_subsets_uniform(o, members, count):
    p = o.pipeline(transaction=False)
    for _ in range(2000):
        p.delete("s")
        p.sadd("s", *members)
        p.execute_command("SPOP", "s", count)
    replies = p.execute()[2::3]
    subsets = Counter(frozenset(x) for x in replies)
    assert len(subsets) == math.comb(len(members), count)
    assert chi2_p(subsets.values()) > P_MIN


@pytest.mark.parametrize("n,count", [(300, 40), (300, 280), (40, 1)])
def test_spop_members_uniform(o, n, count):
    members = [f"m{i}" for i in range(n)] if n > 100 else list(range(n))
    rounds = max(30 * n // count, 200)
    p = o.pipeline(transaction=False)
    for _ in range(rounds):
        p.delete("s")
        p.sadd("s", *members)
        if count == 1:
            p.spop("s")
        else:
            p.execute_command("SPOP", "s", count)
    seen = Counter()
    for reply in p.execute()[2::3]:
        seen.update([reply] if count == 1 else reply)
    assert chi2_p([seen.get(str(m).encode(), 0) for m in members]) > P_MIN


def test_spop_single_uniform_on_a_hashtable(o):
    """SPOP one at a time from a hashtable set: every member equally likely among the first
    pops (the first 20 pops of 400 refills of 200 members)."""
    members = [f"m{i}" for i in range(200)]
    p = o.pipeline(transaction=False)
    for _ in range(400):
        p.delete("s")
        p.sadd("s", *members)
        for _ in range(20):
            p.spop("s")
    replies = p.execute()
    seen = Counter(x for x in replies if isinstance(x, bytes))
    assert sum(seen.values()) == 400 * 20
    assert chi2_p([seen.get(m.encode(), 0) for m in members]) > P_MIN


# -- set algebra ---------------------------------------------------------------------------------
def test_set_algebra_replies(o, ref2):
    both(o, ref2, "SADD", "a", 1, 2, 3, 4, "x")
    both(o, ref2, "SADD", "b", 3, 4, 5, "x", "y")
    both(o, ref2, "SADD", "c", 4, "x", "z")
    both(o, ref2, "SET", "str", "v")
    for cmd in [("SINTER", "a"), ("SINTER", "a", "b"), ("SINTER", "a", "b", "c"),
                ("SINTER", "a", "none"), ("SINTER", "a", "a"), ("SUNION", "a", "b", "none"),
                ("SUNION", "none"), ("SDIFF", "a", "b"), ("SDIFF", "a", "b", "c"),
                ("SDIFF", "none", "a"), ("SDIFF", "a", "none"), ("SDIFF", "a", "a"),
                ("SDIFF", "a", "b", "a"), ("SINTERCARD", 1, "a"), ("SINTERCARD", 2, "a", "b"),
                ("SINTERCARD", 3, "a", "b", "c"), ("SINTERCARD", 2, "a", "none"),
                ("SINTERCARD", 2, "a", "b", "LIMIT", 1), ("SINTERCARD", 2, "a", "b", "LIMIT", 0),
                ("SINTERCARD", 2, "a", "b", "limit", 100),
                ("SINTERCARD", 2, "a", "b", "LIMIT", 1, "LIMIT", 2),
                ("SINTERCARD", 1, "a", "LIMIT", 2), ("SINTERCARD", 2, "a", "a")]:
        if cmd[0] == "SINTERCARD":
            same(o, ref2, *cmd)
        else:
            a, b = both(o, ref2, *cmd)
            assert sorted(a) == sorted(b), cmd


def test_set_algebra_order_is_redis_order(o):
    """Redis 7.2.4 builds SUNION / SDIFF in an intset converted member by member (integers
    first, ascending, until the first string), SINTER walks the smallest set."""
    o.sadd("l", "b", 9, "a", 1)          # listpack [b, 9, a, 1]
    o.sadd("i", 5, 3)                    # intset [3, 5]
    assert run(o, "SUNION", "i", "l") == [b"3", b"5", b"b", b"9", b"a", b"1"]
    assert run(o, "SUNION", "l", "i") == [b"b", b"9", b"a", b"1", b"3", b"5"]
    assert run(o, "SDIFF", "l", "i") == [b"b", b"9", b"a", b"1"]
    o.sadd("l2", 9, 1, "c")              # intset {1, 9} then "c": listpack [1, 9, c]
    assert run(o, "SUNION", "l2", "l") == [b"1", b"9", b"c", b"b", b"a"]
    assert run(o, "SINTER", "l", "l2") == [b"1", b"9"]   # walks l2, the smaller
    assert run(o, "SINTER", "l2", "l") == [b"1", b"9"]


def test_set_algebra_resp3_sets(server, o):
    o.sadd("a", 1, 2, 3)
    o.sadd("b", 2, 3, 4)
    out = resp(server, 3, ("SINTER", "a", "b"), ("SUNION", "a", "b"), ("SDIFF", "a", "b"),
               ("SMEMBERS", "a"), ("SINTER", "a", "none"), ("SMEMBERS", "none"),
               ("SINTERCARD", 2, "a", "b"))
    assert out == (b"~2\r\n$1\r\n2\r\n$1\r\n3\r\n"
                   b"~4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n"
                   b"~1\r\n$1\r\n1\r\n"
                   b"~3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
                   b"~0\r\n~0\r\n:2\r\n")
    out2 = resp(server, 2, ("SINTER", "a", "b"), ("SMEMBERS", "none"))
    assert out2 == b"*2\r\n$1\r\n2\r\n$1\r\n3\r\n*0\r\n"


def test_store_commands(o, ref2):
    both(o, ref2, "SADD", "a", 1, 2, 3, "x")
    both(o, ref2, "SADD", "b", 2, 3, "y")
    both(o, ref2, "SET", "dst", "string")
    both(o, ref2, "PEXPIRE", "dst", 100000)
    for cmd in [("SINTERSTORE", "dst", "a", "b"), ("TTL", "dst"), ("TYPE", "dst"),
                ("SUNIONSTORE", "u", "a", "b"), ("SDIFFSTORE", "d", "a", "b"),
                ("SDIFFSTORE", "d2", "a", "a"), ("EXISTS", "d2"),
                ("SINTERSTORE", "u", "a", "none"), ("EXISTS", "u"),
                ("SUNIONSTORE", "x", "none"), ("EXISTS", "x"),
                ("SUNIONSTORE", "a", "a", "b"), ("SCARD", "a"),
                ("SINTERSTORE", "b", "b"), ("SCARD", "b"),
                ("SDIFFSTORE", "b", "b", "a"), ("EXISTS", "b")]:
        same(o, ref2, *cmd)
    for key in ("dst", "d", "a"):
        assert sorted(run(o, "SMEMBERS", key)) == sorted(run(ref2, "SMEMBERS", key))
        assert same(o, ref2, "OBJECT", "ENCODING", key)


@pytest.mark.parametrize("name,sets,ops", [
    ("ints-from-ht", {"h": [str(i) for i in range(300)] + ["w" * 70], "i": list(range(250))},
     ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
    ("strs", {"a": [f"m{i}" for i in range(200)], "b": [f"m{i}" for i in range(150)]},
     ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
    ("mixed-small", {"a": [1, 2, "x"], "b": [2, "x", "y"]},
     ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
    ("int-lp", {"a": [1, 2, 3, "x"], "b": [1, 2, 3, "y"]},
     ["SINTERSTORE"]),    # intersection all integers: an intset
    ("big-ints", {"a": list(range(700)), "b": list(range(100, 800))},
     ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
    ("ints-and-long", {"a": list(range(10)), "b": ["z" * 100]},
     ["SUNIONSTORE", "SDIFFSTORE"]),
    ("ints-then-strs", {"a": list(range(300)), "b": ["s"]},
     ["SUNIONSTORE"]),    # 300 integers then a string: more than a listpack holds
    ("lp-ints-to-intset", {"a": [f"m{i}" for i in range(140)] + list(range(140)),
                           "b": list(range(140))},
     ["SINTERSTORE"]),    # integers from a hashtable: converted to an intset at the end
])
def test_store_encodings(o, ref2, name, sets, ops):
    keys = list(sets)
    for k, members in sets.items():
        both(o, ref2, "SADD", k, *members)
    for op in ops:
        for order in (keys, keys[::-1]):
            same(o, ref2, op, "dst", *order)
            if o.exists("dst"):
                assert same(o, ref2, "OBJECT", "ENCODING", "dst"), (op, order)
                assert sorted(o.smembers("dst")) == sorted(ref2.smembers("dst"))


def test_sdiff_algorithm_choice_decides_the_encoding(o, ref2):
    """Redis picks SDIFF's algorithm by the sizes; the second adds the whole first set to the
    result before removing, so a big first set leaves a hashtable even when little is left."""
    a = [f"m{i}" for i in range(200)]
    both(o, ref2, "SADD", "a", *a)
    both(o, ref2, "SADD", "b", *a[:50])
    both(o, ref2, "SADD", "c", *a[50:99])
    both(o, ref2, "SADD", "big", *a[:99], *[f"o{i}" for i in range(200)])
    assert same(o, ref2, "SDIFFSTORE", "d2", "a", "b", "c") == 101          # algorithm 2
    assert same(o, ref2, "OBJECT", "ENCODING", "d2") == b"hashtable"
    assert same(o, ref2, "SDIFFSTORE", "d1", "a", "big") == 101             # algorithm 1
    assert same(o, ref2, "OBJECT", "ENCODING", "d1") == b"listpack"


def test_store_keeps_lfu_and_replaces_ttl(o, ref2):
    both(o, ref2, "SADD", "a", 1)
    both(o, ref2, "SET", "d", "x", "EX", 100)
    same(o, ref2, "SUNIONSTORE", "d", "a")
    assert same(o, ref2, "TTL", "d") == -1


# -- SSCAN ----------------------------------------------------------------------------------------
def test_sscan_compact_encodings_return_everything(o, ref2):
    both(o, ref2, "SADD", "i", 5, 1, 3, 10, 11)
    both(o, ref2, "SADD", "l", "b", "a", 1, "ab")
    for key in ("i", "l"):
        for cursor in (0, 7, 123456789):
            for opts in ([], ["COUNT", 1], ["MATCH", "1*"], ["MATCH", "a*", "COUNT", 2],
                         ["MATCH", "*"], ["MATCH", "zz"]):
                same(o, ref2, "SSCAN", key, cursor, *opts)
    assert same(o, ref2, "SSCAN", "none", 0) == [b"0", []]
    assert run(o, "SSCAN", "i", 0) == [b"0", [b"1", b"3", b"5", b"10", b"11"]]


def _full_scan(c, key, *opts):
    cursor, seen, calls = b"0", [], 0
    while True:
        cursor, batch = run(c, "SSCAN", key, cursor, *opts)
        seen += batch
        calls += 1
        if cursor == b"0":
            return seen, calls


def test_sscan_hashtable(o, ref2):
    members = [f"m{i}" for i in range(1000)]
    both(o, ref2, "SADD", "h", *members)
    seen, calls = _full_scan(o, "h")
    assert sorted(set(seen)) == sorted(m.encode() for m in members) and calls > 10
    seen, calls = _full_scan(o, "h", "COUNT", 300)
    assert len(set(seen)) == 1000 and calls < 20
    a, _ = _full_scan(o, "h", "MATCH", "m1?")
    b, _ = _full_scan(ref2, "h", "MATCH", "m1?")
    assert sorted(set(a)) == sorted(set(b)) == sorted(f"m1{i}".encode() for i in range(10))


def test_sscan_guarantee_under_changes(o):
    """Members present for the whole iteration are returned, whatever is added or removed
    meanwhile."""
    stable = [f"s{i}" for i in range(500)]
    o.sadd("h", *stable, *[f"t{i}" for i in range(500)])
    cursor, seen, step = b"0", set(), 0
    while True:
        cursor, batch = run(o, "SSCAN", "h", cursor, "COUNT", 20)
        seen.update(batch)
        step += 1
        o.sadd("h", *[f"n{step}.{i}" for i in range(30)])
        o.srem("h", *[f"t{j}" for j in range(step * 10, step * 10 + 10)])
        if cursor == b"0":
            break
    assert set(m.encode() for m in stable) <= seen


# -- empty keys, expiry, stats -----------------------------------------------------------------
def test_emptied_sets_are_deleted(o):
    o.sadd("a", "x")
    o.srem("a", "x")
    assert o.exists("a") == 0
    o.sadd("b", "x")
    o.spop("b")
    assert o.exists("b") == 0
    o.sadd("c", "x", "y")
    run(o, "SPOP", "c", 2)
    assert o.exists("c") == 0
    o.sadd("d", "x")
    o.smove("d", "e", "x")
    assert o.exists("d") == 0 and run(o, "SMEMBERS", "e") == [b"x"]


def test_expired_set_is_gone(o):
    """SADD on a set whose expiry has passed (reclaimed lazily, or by the active cycle)
    starts a new set with no TTL."""
    def server_ms():
        sec, usec = o.time()
        return sec * 1000 + usec // 1000

    o.sadd("s", "a", "b")
    o.pexpire("s", 2)
    deadline = server_ms() + 4
    while server_ms() <= deadline:   # the server's own clock, without touching the key
        pass
    assert o.sadd("s", "c") == 1 and run(o, "SMEMBERS", "s") == [b"c"]
    assert o.ttl("s") == -1


def test_read_lookups_count_hits_and_misses(o):
    o.sadd("s", "a")
    o.set("str", "v")
    o.config_resetstat()
    run(o, "SISMEMBER", "s", "a")
    run(o, "SCARD", "none")
    run(o, "SINTER", "s", "none", "none2")
    run(o, "SMISMEMBER", "str", "a")   # a hit before its WRONGTYPE error
    run(o, "SADD", "s", "b")          # a write lookup: not counted
    info = o.info("stats")
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (3, 3)


# -- COPY RENAME MOVE ---------------------------------------------------------------------------
@pytest.mark.parametrize("members", [[1, 2, 3], ["a", 1], [f"m{i}" for i in range(200)]])
def test_copy_rename_move(o, ref2, members):
    both(o, ref2, "SADD", "s", *members)
    e = same(o, ref2, "OBJECT", "ENCODING", "s")
    assert same(o, ref2, "COPY", "s", "c") == 1
    assert same(o, ref2, "OBJECT", "ENCODING", "c") == e
    both(o, ref2, "SADD", "c", "new")     # the copy is independent
    assert same(o, ref2, "SISMEMBER", "s", "new") == 0
    assert same(o, ref2, "SCARD", "c") == len(members) + 1
    assert same(o, ref2, "RENAME", "s", "r") is True
    assert sorted(run(o, "SMEMBERS", "r")) == sorted(run(ref2, "SMEMBERS", "r"))
    assert same(o, ref2, "MOVE", "r", 3) == 1
    o.execute_command("SELECT", 3)
    ref2.execute_command("SELECT", 3)
    try:
        assert same(o, ref2, "SCARD", "r") == len(members)
        assert same(o, ref2, "OBJECT", "ENCODING", "r") == e
        assert same(o, ref2, "COPY", "r", "r2", "DB", 0) == 1
        same(o, ref2, "FLUSHDB")
    finally:
        o.execute_command("SELECT", 0)
        ref2.execute_command("SELECT", 0)
    assert same(o, ref2, "SCARD", "r2") == len(members)


# -- in-process: keyspace events and propagation --------------------------------------------
@pytest.fixture
def inproc():
    srv, props, events = inproc_server()
    from engines.base import clock
    from engines.limits import limits
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
    srv.client = c
    saved = (limits.set_max_intset_entries, limits.set_max_listpack_entries,
             limits.set_max_listpack_value)
    yield srv, props, events
    (limits.set_max_intset_entries, limits.set_max_listpack_entries,
     limits.set_max_listpack_value) = saved
    clock.frozen = None


def test_events_and_propagation_of_writes(inproc):
    srv, props, events = inproc
    assert srv.cmd("SADD", "s", "a", "b", "a") == 2
    assert events == [("s", "sadd", b"s")] and props == [[b"SADD", b"s", b"a", b"b", b"a"]]
    assert srv.cmd("SADD", "s", "a") == 0 and events == [] and props == []
    assert srv.cmd("SREM", "s", "z") == 0 and events == [] and props == []
    assert srv.cmd("SREM", "s", "a") == 1 and events == [("s", "srem", b"s")]
    assert srv.cmd("SREM", "s", "b") == 1
    assert events == [("s", "srem", b"s"), ("g", "del", b"s")]
    srv.cmd("SADD", "a", "x", "y")
    assert srv.cmd("SMOVE", "a", "b", "x") == 2
    assert events == [("s", "srem", b"a"), ("s", "sadd", b"b")]
    assert props == [[b"SMOVE", b"a", b"b", b"x"]]
    srv.cmd("SADD", "b", "y")
    assert srv.cmd("SMOVE", "a", "b", "y") == 1     # already in the destination
    assert events == [("s", "srem", b"a"), ("g", "del", b"a")]
    assert srv.cmd("SMOVE", "b", "b", "y") == 0 and events == [] and props == []


def test_spop_propagates_srem(inproc):
    srv, props, events = inproc
    srv.cmd("SADD", "s", "a", "b", "c")
    assert srv.cmd("SPOP", "s") == 1
    assert len(props) == 1 and props[0][:2] == [b"SREM", b"s"] and len(props[0]) == 3
    assert events == [("s", "spop", b"s")]
    assert srv.cmd("SPOP", "s", 0) == 0 and props == [] and events == []
    assert srv.cmd("SPOP", "s", 1) == 1
    assert len(props) == 1 and props[0][:2] == [b"SREM", b"s"] and len(props[0]) == 3
    assert srv.cmd("SPOP", "s", 5) == 1
    assert props == [[b"DEL", b"s"]] and events == [("s", "spop", b"s"), ("g", "del", b"s")]
    assert srv.cmd("SPOP", "s") == 0 and props == []
    srv.cmd("SADD", "s", "a")
    assert srv.cmd("SPOP", "s") == 1
    assert events == [("s", "spop", b"s"), ("g", "del", b"s")]


def test_spop_whole_set_propagates_unlink_when_lazy(inproc):
    srv, props, events = inproc
    srv.config.set("lazyfree-lazy-server-del", "yes")
    srv.cmd("SADD", "s", "a", "b")
    assert srv.cmd("SPOP", "s", 2) == 2 and props == [[b"UNLINK", b"s"]]


@pytest.mark.parametrize("n,count", [(5000, 3000), (3000, 2900), (2000, 1024)])
def test_spop_big_count_propagates_srem_batches(inproc, n, count):
    srv, props, events = inproc
    srv.cmd("SADD", "s", *range(n))
    members_before = set(srv.dbs[0].get_collection(b"s", "set"))
    assert srv.cmd("SPOP", "s", count) == count
    batches = -(-count // 1024)
    if batches > 1:
        assert props[0] == [b"MULTI"] and props[-1] == [b"EXEC"]
        props = props[1:-1]
    assert len(props) == batches and all(p[:2] == [b"SREM", b"s"] for p in props)
    assert all(len(p) - 2 == 1024 for p in props[:-1])
    removed = [m for p in props for m in p[2:]]
    assert len(set(removed)) == count and set(removed) <= members_before
    left = set(srv.dbs[0].get_collection(b"s", "set"))
    assert left == members_before - set(removed)


def test_store_events(inproc):
    srv, props, events = inproc
    srv.cmd("SADD", "a", 1, 2)
    srv.cmd("SADD", "b", 2, 3)
    for op, ev in (("SINTERSTORE", "sinterstore"), ("SUNIONSTORE", "sunionstore"),
                   ("SDIFFSTORE", "sdiffstore")):
        assert srv.cmd(op, "d", "a", "b") == 1
        assert events == [("s", ev, b"d")] and props == [[op.encode(), b"d", b"a", b"b"]]
    for args in (("SDIFFSTORE", "d", "a", "a"), ("SINTERSTORE", "d", "a", "none"),
                 ("SUNIONSTORE", "d", "none"), ("SDIFFSTORE", "d", "none", "a")):
        srv.cmd("SET", "d", "x")
        assert srv.cmd(*args) == 1 and events == [("g", "del", b"d")]
        assert srv.client.db.exists(b"d") is False
        assert srv.cmd(*args) == 0 and events == [] and props == []


@pytest.mark.parametrize("cmd", [
    ("SINTERCARD", 2, "a", "b", "LIMIT", 1), ("SINTERCARD", 1, "a"), ("SMOVE", "a", "b", "m"),
    ("SINTERSTORE", "d", "a", "b"), ("SUNION", "a", "b", "c"), ("SSCAN", "a", 0),
])
def test_command_getkeys(o, ref2, cmd):
    assert o.command_getkeys(*cmd) == ref2.command_getkeys(*cmd)
