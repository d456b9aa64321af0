"""Conformance of the set value interface (engines/base.py ``SetValue``), in-process, for every
engine in ``ENGINES``: members, encodings and their conversions (Redis 7.2.4's rules and
thresholds), iteration order, random choices, SPOP's rebuilt set, scanning, copies."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from test_engine_contract import ENGINES, engines_for, T0

from engines.base import SetValue, clock
from engines.limits import limits
from valkeyd.errors import ErrorReply


@pytest.fixture(params=engines_for("set"))
def db(request):
    e = ENGINES[request.param]()
    clock.frozen = T0
    yield e.db(0)
    clock.frozen = None
    e.close()


@pytest.fixture(autouse=True)
def thresholds():
    saved = (limits.set_max_intset_entries, limits.set_max_listpack_entries,
             limits.set_max_listpack_value)
    yield
    (limits.set_max_intset_entries, limits.set_max_listpack_entries,
     limits.set_max_listpack_value) = saved


def new(db, key=b"s", members=None):
    s = db.get_collection(key, "set", create=True)
    if members:
        s.add([m if isinstance(m, bytes) else str(m).encode() for m in members])
    return s


def b(*xs):
    return [x if isinstance(x, bytes) else str(x).encode() for x in xs]


def test_protocol_and_lookup(db):
    assert db.get_collection(b"s", "set") is None
    s = new(db, members=[1])
    assert isinstance(s, SetValue) and s.TYPE_NAME == "set"
    assert db.type_name(b"s") == "set" and db.encoding(b"s") == "intset"
    assert db.get_collection(b"s", "set") is not None
    db.set(b"str", b"x")
    with pytest.raises(ErrorReply):
        db.get_collection(b"str", "set")
    with pytest.raises(ErrorReply):
        db.get_collection(b"s", "hash")


def test_add_remove_contains(db):
    s = new(db)
    assert s.add(b("a", "b", "a")) == 2 and len(s) == 2
    assert b"a" in s and b"z" not in s
    assert s.add(b("a")) == 0
    assert s.add_one(b"c") is True and s.add_one(b"c") is False
    assert s.remove(b("a", "z", "a")) == 1 and len(s) == 2
    assert s.discard(b"b") is True and s.discard(b"b") is False
    assert list(s) == [b"c"]
    assert s.add([b"", b"\x00\xff"]) == 2 and b"" in s and b"\x00\xff" in s
    # the stored value is live
    assert b"c" in db.get_collection(b"s", "set")


def test_iteration_order(db):
    i = new(db, b"i", [5, -3, 100, 0])
    assert list(i) == b(-3, 0, 5, 100) and i.encoding() == "intset"
    i.add(b("x"))
    assert list(i) == b(-3, 0, 5, 100, "x") and i.encoding() == "listpack"
    i.remove(b(0))
    i.add(b(0))
    assert list(i) == b(-3, 5, 100, "x", 0)
    lp = new(db, b"l", ["z", 9, "a"])
    assert list(lp) == b("z", 9, "a")


@pytest.mark.parametrize("batches,expect", [
    ([[1, 2, 3]], "intset"),
    ([list(range(512))], "intset"),
    ([list(range(513))], "hashtable"),
    ([list(range(512)), [512]], "hashtable"),
    ([["01"]], "listpack"), ([["+1"]], "listpack"), ([["9223372036854775808"]], "listpack"),
    ([["-9223372036854775808"]], "intset"),
    ([[f"m{i}" for i in range(128)]], "listpack"),
    ([[f"m{i}" for i in range(129)]], "hashtable"),
    ([["x" * 64]], "listpack"), ([["x" * 65]], "hashtable"),
    ([[1], ["a"]], "listpack"), ([list(range(128)), ["a"]], "hashtable"),
    ([list(range(127)), ["a"]], "listpack"),
    ([["a"], ["a"] * 129], "hashtable"),        # the size hint counts the arguments
    ([[1], [1] * 513], "hashtable"),
    ([[1, "a"]], "listpack"),
])
def test_encoding_rules(db, batches, expect):
    s = new(db)
    for batch in batches:
        s.add(b(*batch))
    assert s.encoding() == expect


def test_hint_false_skips_the_size_hint(db):
    limits.set_max_listpack_entries = 3
    s = new(db, members=["a", "b"])
    s.add(b("a", "b", "a", "b"), hint=False)
    assert s.encoding() == "listpack"
    s.add(b("a", "b", "a", "b"))
    assert s.encoding() == "hashtable"


def test_thresholds_are_read_at_each_decision(db):
    s = new(db, members=[1, 2])
    limits.set_max_intset_entries = 2
    s.add_one(b"2")
    assert s.encoding() == "intset"
    s.add_one(b"3")
    assert s.encoding() == "hashtable"
    limits.set_max_listpack_value = 5
    w = new(db, b"w", [-12345])
    w.add_one(b"a")
    assert w.encoding() == "hashtable"     # "-12345" does not fit a 5-byte listpack value
    n = new(db, b"n", [-1234])
    n.add_one(b"a")
    assert n.encoding() == "listpack"


def test_removal_keeps_the_encoding(db):
    s = new(db, members=[f"m{i}" for i in range(200)])
    s.remove(b(*[f"m{i}" for i in range(199)]))
    assert s.encoding() == "hashtable" and len(s) == 1


def test_random_member_uniform(db):
    s = new(db, members=range(10))
    random.seed(1)
    counts = Counter(s.random_member() for _ in range(10000))
    assert set(counts) == set(b(*range(10))) and min(counts.values()) > 800
    reps = s.random_members(5000)
    assert len(reps) == 5000 and set(reps) == set(b(*range(10)))


@pytest.mark.parametrize("members", [["a", "b", "c", "d", "e", "f"], list(range(6)),
                                     [f"m{i}" for i in range(300)]])
def test_random_distinct(db, members):
    s = new(db, members=members)
    order = list(s)
    for count in (1, 2, len(members) - 1):
        got = s.random_distinct(count)
        assert len(got) == count == len(set(got)) and set(got) <= set(order)
        if s.encoding() == "listpack":
            assert got == [m for m in order if m in got]
    assert len(s) == len(members)


def test_pop_random(db):
    s = new(db, members=["a", "b", "c"])
    popped = {s.pop_random() for _ in range(3)}
    assert popped == set(b("a", "b", "c")) and len(s) == 0


@pytest.mark.parametrize("members,count,expect", [
    (list(range(600)), 550, "listpack"),      # survivors of a hashtable: a new listpack
    (list(range(600)), 100, "hashtable"),
    (list(range(100)), 90, "intset"),
    ([f"m{i}" for i in range(100)], 90, "listpack"),
    ([f"m{i}" for i in range(100)], 10, "listpack"),
    (["x" * 70 + str(i) for i in range(150)], 140, "hashtable"),
    ([f"m{i}" for i in range(1000)], 820, "hashtable"),
])
def test_pop_random_n(db, members, count, expect):
    s = new(db, members=members)
    before = set(s)
    popped = s.pop_random_n(count)
    assert len(popped) == count == len(set(popped))
    assert set(popped) | set(s) == before and not set(popped) & set(s)
    assert s.encoding() == expect and len(s) == len(members) - count
    for m in s:         # the survivors are still usable members
        assert m in s
    s.add_one(b"new")
    assert b"new" in s


def test_scan_compact_and_hashtable(db):
    s = new(db, members=[3, 1, 2])
    assert s.scan(0, 1) == (0, b(1, 2, 3))
    assert s.scan(12345, 1) == (0, b(1, 2, 3))
    h = new(db, b"h", [f"m{i}" for i in range(1000)])
    cursor, seen, calls = 0, [], 0
    while True:
        cursor, batch = h.scan(cursor, 50)
        seen += batch
        calls += 1
        # changes between calls: members present all along must still be returned
        h.add_one(b"new%d" % calls)
        h.discard(b"new%d" % (calls - 1))
        if cursor == 0:
            break
    assert set(b(*[f"m{i}" for i in range(1000)])) <= set(seen) and calls > 5


def test_copy_is_independent(db):
    for members in ([1, 2], ["a", 1], [f"m{i}" for i in range(200)]):
        s = new(db, b"src", members)
        c = s.copy()
        assert c.encoding() == s.encoding() and list(c) == list(s)
        c.add_one(b"zz")
        assert b"zz" not in s and len(c) == len(s) + 1
        assert s.memory_usage() > 0
        db.delete(b"src")


def test_new_empty_and_maybe_to_intset(db):
    s = new(db, members=["a"])
    t = s.new_empty("intset")
    assert len(t) == 0 and t.encoding() == "intset"
    t.add_one(b"1")
    t.add_one(b"b")
    assert t.encoding() == "listpack" and list(t) == b(1, "b")
    lp = s.new_empty("listpack")
    for i in range(200):
        lp.add_one(str(i).encode())
    assert lp.encoding() == "hashtable"
    lp.maybe_to_intset()
    assert lp.encoding() == "intset" and list(lp)[:3] == b(0, 1, 2)
    big = s.new_empty("listpack")
    for i in range(600):
        big.add_one(str(i).encode())
    big.maybe_to_intset()
    assert big.encoding() == "hashtable"
    db.set(b"stored", lp)
    assert db.type_name(b"stored") == "set" and len(db.get_collection(b"stored", "set")) == 200


LONG_MEMBERS = [b"m" * 600, b"m" * 600 + b"a", b"m" * 600 + b"b", b"n" * 3000, b"m" * 459,
                b"m" * 458, b"o" * 100000, b"x"]


def test_members_of_any_length(db):
    """Members of any length (the lmdb engine keys long ones by a prefix + SHA-256 name):
    add/contains/remove, listpack order, hashtable scan, pops and the rebuilt set."""
    limits.set_max_listpack_value = 200000
    s = db.get_collection(b"s", "set", create=True)
    assert s.add(LONG_MEMBERS) == len(LONG_MEMBERS)
    assert s.encoding() == "listpack" and list(s) == LONG_MEMBERS
    assert s.add([LONG_MEMBERS[1]]) == 0 and b"m" * 600 + b"c" not in s
    assert LONG_MEMBERS[6] in s and s.remove([LONG_MEMBERS[2], b"m" * 601]) == 1
    limits.set_max_listpack_value = 64
    t = db.get_collection(b"t", "set", create=True)
    t.add(LONG_MEMBERS)
    assert t.encoding() == "hashtable"
    cursor, seen = 0, []
    while True:
        cursor, part = t.scan(cursor, 2)
        seen += part
        if cursor == 0:
            break
    assert sorted(seen) == sorted(LONG_MEMBERS)
    popped = t.pop_random_n(6)   # few survivors: the set is rebuilt
    assert len(popped) == 6 and sorted(popped + list(t)) == sorted(LONG_MEMBERS)
    assert all(x not in t for x in popped) and all(x in t for x in list(t))
    assert sorted(s.copy()) == sorted(LONG_MEMBERS[:2] + LONG_MEMBERS[3:])


def test_random_draws_of_a_big_set_stay_uniform_after_deletions(db):
    """A hashtable set of 2,000 members with 900 of its first 1,000 removed: each draw path
    (SRANDMEMBER with repeats, distinct, SPOP) stays uniform over the live members only (the
    lmdb engine samples its insertion-order records instead of reading the set)."""
    s = new(db, members=[f"m{i}" for i in range(2000)])
    s.remove(b(*[f"m{i}" for i in range(1000) if i % 10]))   # gaps of different sizes
    live = set(s)
    assert len(live) == 1100 and s.encoding() == "hashtable"
    random.seed(7)
    counts = Counter(s.random_members(110_000))
    assert set(counts) == live                         # every live member, nothing else
    assert min(counts.values()) > 50 and max(counts.values()) < 160   # expected 100 each
    counts = Counter(x for _ in range(400) for x in s.random_distinct(50))
    assert set(counts) <= live and len(counts) > 1080
    assert max(counts.values()) < 50                   # expected about 18 each
    popped = [s.pop_random() for _ in range(100)] + s.pop_random_n(200)
    assert len(set(popped)) == 300 and set(popped) <= live
    assert set(s) == live - set(popped) and len(s) == 800
