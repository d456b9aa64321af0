"""Contract of the sorted-set value interface (engines.base.ZSetValue), for every engine.

In-process, parametrized over ``ENGINES`` as tests/test_engine_contract.py is: values come
from ``Keyspace.get_collection(key, "zset", create=True)`` and are checked against a plain
model (a dict and a sorted list).
"""
from __future__ import annotations

import random
from math import inf

import pytest

from test_engine_contract import ENGINES, engines_for, T0  # noqa: F401  (same engines)

from engines.base import LEX_MAX, LEX_MIN, ZSetValue, clock
from engines.limits import limits


@pytest.fixture(params=engines_for("zset"))
def db(request):
    e = ENGINES[request.param]()
    clock.frozen = T0
    yield e.db(0)
    clock.frozen = None
    e.close()


@pytest.fixture
def small_limits():
    old = (limits.zset_max_listpack_entries, limits.zset_max_listpack_value)
    limits.zset_max_listpack_entries, limits.zset_max_listpack_value = 4, 8
    yield
    limits.zset_max_listpack_entries, limits.zset_max_listpack_value = old


def model_order(d):
    return sorted(((m, s) for m, s in d.items()), key=lambda p: (p[1], p[0]))


def make(db, pairs, key=b"z"):
    z = db.get_collection(key, "zset", create=True)
    for m, s in pairs:
        z.add(m, s)
    return z


def test_protocol_and_basics(db):
    assert db.get_collection(b"z", "zset") is None
    z = db.get_collection(b"z", "zset", create=True)
    assert isinstance(z, ZSetValue)
    assert z.TYPE_NAME == "zset" and len(z) == 0
    assert db.type_name(b"z") == "zset"
    assert z.add(b"a", 1.0) is None
    assert z.add(b"a", 1.0) == 1.0
    assert z.add(b"a", 2.5) == 1.0
    assert z.score(b"a") == 2.5 and z.score(b"nope") is None
    assert len(z) == 1
    assert z.remove(b"a") is True and z.remove(b"a") is False
    assert len(z) == 0
    db.set(b"s", b"str")
    with pytest.raises(Exception):
        db.get_collection(b"s", "zset")


def test_order_ties_by_member_bytes(db):
    z = make(db, [(b"b", 1.0), (b"a", 1.0), (b"\x00", 1.0), (b"", 1.0), (b"ab", 1.0),
                  (b"\xff", 0.5), (b"z", -inf), (b"y", inf)])
    assert [m for m, s in z.items()] == [b"z", b"\xff", b"", b"\x00", b"a", b"ab", b"b", b"y"]
    assert [m for m, s in z.items(reverse=True)] == [b"y", b"b", b"ab", b"a", b"\x00", b"",
                                                      b"\xff", b"z"]
    assert z.rank(b"a") == 4 and z.rank(b"a", reverse=True) == 3
    assert z.rank(b"nope") is None
    assert z.at(0) == (b"z", -inf) and z.at(-1) == (b"y", inf)


def test_against_model(db):
    rnd = random.Random(7)
    z = db.get_collection(b"z", "zset", create=True)
    model = {}
    for _ in range(2000):
        m = b"m%d" % rnd.randrange(60)
        op = rnd.random()
        if op < 0.6:
            s = float(rnd.randrange(-10, 10)) / rnd.choice([1, 2, 4])
            prev = z.add(m, s)
            assert prev == model.get(m)
            model[m] = s
        elif op < 0.8:
            assert z.remove(m) == (model.pop(m, None) is not None)
        else:
            exp = model_order(model)
            assert list(z.items()) == exp
            if exp:
                a = rnd.randrange(len(exp))
                b = rnd.randrange(a, len(exp))
                assert z.by_rank(a, b) == exp[a:b + 1]
                assert z.by_rank(a, b, reverse=True) == exp[::-1][a:b + 1]
            for mm in list(model)[:5]:
                assert z.rank(mm) == exp.index((mm, model[mm]))
    assert len(z) == len(model)


@pytest.mark.parametrize("lo,loex,hi,hiex", [
    (-inf, False, inf, False), (1.0, False, 3.0, False), (1.0, True, 3.0, False),
    (1.0, False, 3.0, True), (1.0, True, 3.0, True), (2.0, False, 2.0, False),
    (2.0, True, 2.0, False), (3.0, False, 1.0, False), (inf, True, inf, False),
    (-inf, False, -inf, True), (-inf, False, -inf, False), (inf, False, inf, False),
    (0.5, False, 0.75, False),
])
def test_score_ranges(db, lo, loex, hi, hiex):
    pairs = [(b"a", 1.0), (b"b", 2.0), (b"c", 2.0), (b"d", 3.0), (b"e", inf), (b"f", -inf),
             (b"g", 2.5)]
    z = make(db, pairs)
    exp = [p for p in model_order(dict(pairs))
           if (p[1] > lo if loex else p[1] >= lo) and (p[1] < hi if hiex else p[1] <= hi)]
    assert z.count_by_score(lo, loex, hi, hiex) == len(exp)
    assert z.by_score(lo, loex, hi, hiex) == exp
    assert z.by_score(lo, loex, hi, hiex, reverse=True) == exp[::-1]
    for off in range(0, 4):
        for lim in (-1, 0, 1, 2):
            want = exp[off:] if lim < 0 else exp[off:off + lim]
            assert z.by_score(lo, loex, hi, hiex, off, lim) == want
            want = exp[::-1][off:] if lim < 0 else exp[::-1][off:off + lim]
            assert z.by_score(lo, loex, hi, hiex, off, lim, True) == want
    assert z.by_score(lo, loex, hi, hiex, -1, 2) == []
    assert z.remove_by_score(lo, loex, hi, hiex) == len(exp)
    assert len(z) == len(pairs) - len(exp)
    for m, s in exp:
        assert z.score(m) is None


@pytest.mark.parametrize("lo,loex,hi,hiex,want", [
    (LEX_MIN, True, LEX_MAX, True, [b"", b"a", b"ab", b"b", b"c"]),
    (b"a", False, b"b", False, [b"a", b"ab", b"b"]),
    (b"a", True, b"b", False, [b"ab", b"b"]),
    (b"a", False, b"b", True, [b"a", b"ab"]),
    (b"b", False, b"b", False, [b"b"]),
    (b"b", True, b"b", False, []),
    (b"c", False, b"a", False, []),
    (LEX_MAX, True, LEX_MIN, True, []),
    (LEX_MIN, True, LEX_MIN, True, []),
    (LEX_MAX, True, LEX_MAX, True, []),
    (b"", False, b"", False, [b""]),
    (LEX_MIN, True, b"ab", True, [b"", b"a"]),
    (b"ab", False, LEX_MAX, True, [b"ab", b"b", b"c"]),
])
def test_lex_ranges(db, lo, loex, hi, hiex, want):
    z = make(db, [(m, 0.0) for m in (b"c", b"a", b"b", b"ab", b"")])
    assert z.count_by_lex(lo, loex, hi, hiex) == len(want)
    assert [m for m, s in z.by_lex(lo, loex, hi, hiex)] == want
    assert [m for m, s in z.by_lex(lo, loex, hi, hiex, reverse=True)] == want[::-1]
    assert [m for m, s in z.by_lex(lo, loex, hi, hiex, 1, 1)] == want[1:2]
    assert [m for m, s in z.by_lex(lo, loex, hi, hiex, 1, 1, True)] == want[::-1][1:2]
    assert z.remove_by_lex(lo, loex, hi, hiex) == len(want)
    assert len(z) == 5 - len(want)


def test_remove_by_rank_and_pop(db):
    z = make(db, [(b"m%d" % i, float(i)) for i in range(10)])
    assert z.remove_by_rank(2, 4) == 3
    assert [m for m, s in z.items()] == [b"m0", b"m1", b"m5", b"m6", b"m7", b"m8", b"m9"]
    assert z.pop() == (b"m0", 0.0)
    assert z.pop(maximum=True) == (b"m9", 9.0)
    assert len(z) == 5 and z.score(b"m0") is None and z.score(b"m9") is None
    assert z.remove_by_rank(0, 4) == 5
    assert len(z) == 0


def test_random_items(db):
    pairs = [(b"m%d" % i, float(i)) for i in range(20)]
    z = make(db, pairs)
    d = dict(pairs)
    rep = z.random_items(50, unique=False)
    assert len(rep) == 50 and all(d[m] == s for m, s in rep)
    uniq = z.random_items(7, unique=True)
    assert len(uniq) == 7 and len({m for m, s in uniq}) == 7
    assert all(d[m] == s for m, s in uniq)
    if z.encoding() == "listpack":   # lpRandomPairsUnique keeps the set order
        assert uniq == sorted(uniq, key=lambda p: (p[1], p[0]))


def test_scan_covers_everything(db, small_limits):
    z = make(db, [(b"m%d" % i, float(i)) for i in range(100)])
    assert z.encoding() == "skiplist"
    seen = {}
    cursor = 0
    steps = 0
    while True:
        cursor, batch = z.scan(cursor, 10)
        for m, s in batch:
            seen[m] = s
        steps += 1
        if steps == 3:  # changes during the iteration keep the guarantee for the others
            z.remove(b"m50")
            z.add(b"new", 1.0)
        if cursor == 0:
            break
    for i in range(100):
        if i != 50:
            assert seen[b"m%d" % i] == float(i)
    small = make(db, [(b"a", 1.0), (b"b", 2.0)], key=b"small")
    assert small.encoding() == "listpack"
    assert small.scan(0, 1) == (0, [(b"a", 1.0), (b"b", 2.0)])


def test_encoding_rules(db, small_limits):
    z = make(db, [(b"a", 1.0), (b"b", 2.0), (b"c", 3.0), (b"d", 4.0)])
    assert z.encoding() == "listpack"
    z.add(b"d", 5.0)                       # an update never converts
    assert z.encoding() == "listpack"
    z.add(b"e", 5.0)                       # fifth member > entries
    assert z.encoding() == "skiplist"
    for m in (b"a", b"b", b"c", b"d"):
        z.remove(m)
    assert z.encoding() == "skiplist"      # never back by removals
    z.shrink_if_small(1, 1)
    assert z.encoding() == "listpack"      # zsetConvertToListpackIfNeeded
    z2 = make(db, [(b"a", 1.0)], key=b"z2")
    z2.add(b"123456789", 1.0)              # member longer than value
    assert z2.encoding() == "skiplist"
    z2.shrink_if_small(9, 10)
    assert z2.encoding() == "skiplist"
    z3 = db.get_collection(b"z3", "zset", create=True)
    z3.init_encoding(5, 1)
    assert z3.encoding() == "skiplist"
    z4 = db.get_collection(b"z4", "zset", create=True)
    z4.init_encoding(4, 8)
    assert z4.encoding() == "listpack"
    z4.maybe_convert(4)
    assert z4.encoding() == "listpack"
    z4.maybe_convert(5)
    assert z4.encoding() == "skiplist"


def test_copy_is_independent(db, small_limits):
    z = make(db, [(b"a", 1.0), (b"b", 2.0)])
    c = z.copy()
    assert c.encoding() == z.encoding() == "listpack"
    c.add(b"c", 3.0)
    z.remove(b"a")
    assert list(c.items()) == [(b"a", 1.0), (b"b", 2.0), (b"c", 3.0)]
    assert list(z.items()) == [(b"b", 2.0)]
    big = make(db, [(b"m%d" % i, float(i)) for i in range(10)], key=b"big")
    assert big.copy().encoding() == "skiplist"
    assert big.memory_usage() > 0 and z.memory_usage() > 0


def test_geo_style_scores(db):
    # geo stores 52-bit integer geohashes as scores: exact as doubles, ranges by score
    hashes = [3471579339700058, 3471579339700059, 4503599627370495, 0, 1]
    z = make(db, [(b"p%d" % i, float(h)) for i, h in enumerate(hashes)])
    assert z.score(b"p2") == float(4503599627370495)
    got = z.by_score(float(3471579339700058), False, float(3471579339700060), True)
    assert [m for m, s in got] == [b"p0", b"p1"]
    assert z.remove(b"p0")
    assert z.count_by_score(0.0, False, inf, False) == 4


@pytest.mark.skipif(len(engines_for("zset")) < 2, reason="needs two engines storing zsets")
@pytest.mark.parametrize("seed", range(4))
def test_engines_agree(seed):
    """The same random operations on every engine's zset give the same results (lex ranges
    with mixed scores, reversed limits, -0.0, infinities, ties and encoding changes
    included), with small listpack limits so that conversions happen."""
    old = (limits.zset_max_listpack_entries, limits.zset_max_listpack_value)
    limits.zset_max_listpack_entries, limits.zset_max_listpack_value = 6, 4
    engines = [ENGINES[name]() for name in engines_for("zset")]
    clock.frozen = T0
    try:
        zs = [e.db(0).get_collection(b"z", "zset", create=True) for e in engines]
        rnd = random.Random(seed)
        scores = [-inf, inf, 0.0, -0.0, 1.0, 1.5, -2.0, 3.0]
        bounds = [LEX_MIN, LEX_MAX, b"", b"a", b"b", b"bb", b"c", b"long"]

        def sc():
            return rnd.choice(scores)

        def lex():
            return rnd.choice(bounds), rnd.random() < 0.5, rnd.choice(bounds), rnd.random() < 0.5

        def rank_range(n):
            a = rnd.randrange(n)
            return a, rnd.randrange(a, n)

        ops = [
            lambda z, n: z.add(rnd.choice([b"a", b"b", b"bb", b"c", b"d", b"long" * 2, b""]),
                               sc()),
            lambda z, n: z.remove(rnd.choice([b"a", b"c", b"zz"])),
            lambda z, n: (z.by_score(sc(), rnd.random() < .5, sc(), rnd.random() < .5,
                                     rnd.randrange(3), rnd.randrange(-1, 3), rnd.random() < .5)),
            lambda z, n: z.count_by_score(sc(), rnd.random() < .5, sc(), rnd.random() < .5),
            lambda z, n: z.by_lex(*lex(), rnd.randrange(3), rnd.randrange(-1, 3),
                                  rnd.random() < .5),
            lambda z, n: z.count_by_lex(*lex()),
            lambda z, n: z.remove_by_lex(*lex()),
            lambda z, n: z.remove_by_score(sc(), rnd.random() < .5, sc(), rnd.random() < .5),
            lambda z, n: n and z.by_rank(*rank_range(n), rnd.random() < .5),
            lambda z, n: n and z.remove_by_rank(*rank_range(n)),
            lambda z, n: [z.rank(m, rnd.random() < .5) for m in (b"a", b"bb", b"c", b"")],
            lambda z, n: n and z.pop(rnd.random() < .5),
            lambda z, n: n and z.at(rnd.randrange(-n, n)),
            lambda z, n: z.shrink_if_small(4, 10),
            lambda z, n: (z.encoding(), len(z), list(z.items()), list(z.items(True)),
                          [(m, repr(s)) for m, s in z.items()]),
        ]
        for step in range(600):
            op = rnd.randrange(len(ops))
            state = rnd.getstate()
            outs = []
            for z in zs:
                rnd.setstate(state)
                outs.append(ops[op](z, len(z)))
            assert all(o == outs[0] for o in outs), (step, op, outs)
            reprs = [[(m, repr(s)) for m, s in z.items()] for z in zs]
            assert all(r == reprs[0] for r in reprs), (step, op, reprs)
    finally:
        clock.frozen = None
        limits.zset_max_listpack_entries, limits.zset_max_listpack_value = old
        for e in engines:
            e.close()


def test_members_of_any_length_keep_member_order(db):
    """Members of any length: the lmdb engine keys long ones by their first 459 bytes +
    SHA-256, yet equal-score members sharing those bytes still come out in member order."""
    rnd = random.Random(3)
    members = set()
    while len(members) < 40:
        members.add(rnd.choice([b"a" * 600, b"a" * 459, b"a" * 458, b"b" * 3000])
                    + bytes([rnd.randrange(97, 100)]) * rnd.randrange(3)
                    + b"%d" % rnd.randrange(30))
    members.add(b"c" * 100000)
    z = db.get_collection(b"z", "zset", create=True)
    d = {}
    for m in rnd.sample(sorted(members), len(members)):
        d[m] = float(rnd.choice([0, 0, 1]))
        z.add(m, d[m])
    want = model_order(d)
    assert list(z) == want and [m for m, _ in z.items(True)] == [m for m, _ in want[::-1]]
    assert [z.rank(m) for m, _ in want] == list(range(len(want)))
    assert z.by_score(0, False, 0, False) == [p for p in want if p[1] == 0]
    lo = b"a" * 600 + b"b"
    z0 = db.get_collection(b"z0", "zset", create=True)
    for m in members:
        z0.add(m, 0.0)
    srt = sorted(members)
    for lo in (lo, b"a" * 459, b"a" * 600):
        assert [m for m, _ in z0.by_lex(lo, True, LEX_MAX, False)] == [m for m in srt if m > lo]
        assert ([m for m, _ in z0.by_lex(LEX_MIN, False, lo, False, reverse=True)]
                == [m for m in srt if m <= lo][::-1])
    assert z.pop() == want[0] and z.remove(want[1][0]) and list(z) == want[2:]
