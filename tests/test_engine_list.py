"""Contract tests of the list value interface (engines/base.py ListValue), in-process, for
every engine in tests/test_engine_contract.py ENGINES. A reference Python list is the model."""
from __future__ import annotations

import random

import pytest

from test_engine_contract import ENGINES, T0, engines_for  # noqa: F401  (the engines under test)
from test_engine_contract import db  # noqa: F401  (fixture)

from engines.base import clock


@pytest.fixture(params=engines_for("list"))
def eng(request):
    e = ENGINES[request.param]()
    expired = []
    e.on_expired = lambda dbid, key: expired.append((dbid, key))
    e.expired_log = expired
    clock.frozen = T0
    yield e
    clock.frozen = None
    e.close()


from engines.base import ListValue
from engines.limits import limits


@pytest.fixture
def lst(db):  # noqa: F811
    return db.get_collection(b"l", "list", create=True)


@pytest.fixture(autouse=True)
def default_limits():
    old = limits.list_max_listpack_size
    yield
    limits.list_max_listpack_size = old


def test_protocol_and_basics(db, lst):  # noqa: F811
    assert isinstance(lst, ListValue)
    assert lst.TYPE_NAME == "list"
    assert len(lst) == 0
    assert lst.push_right([b"a", b"b"]) == 2
    assert lst.push_left([b"x", b"y"]) == 4        # y x a b
    assert list(lst) == [b"y", b"x", b"a", b"b"]
    assert lst.index(0) == b"y" and lst.index(-1) == b"b"
    assert lst.index(4) is None and lst.index(-5) is None
    assert lst.range(1, 2) == [b"x", b"a"]
    assert lst.range_reversed(1, 3) == [b"b", b"a", b"x"]
    assert lst.encoding() == "listpack"
    assert db.type_name(b"l") == "list"
    assert db.get_collection(b"l", "list") is not None


def test_pops(lst):
    lst.push_right([b"1", b"2", b"3", b"4", b"5"])
    assert lst.pop_left() == b"1"
    assert lst.pop_right() == b"5"
    assert lst.pop_many(2, True) == [b"2", b"3"]
    assert lst.pop_many(10, False) == [b"4"]
    assert len(lst) == 0


def test_set_insert_remove_trim(lst):
    lst.push_right([b"a", b"b", b"a", b"c", b"a"])
    assert lst.set(1, b"B") and lst.set(-1, b"z")
    assert not lst.set(5, b"x") and not lst.set(-6, b"x")
    assert lst.insert(b"c", b"C", True) == 6
    assert lst.insert(b"a", b"0", False) == 7
    assert lst.insert(b"nope", b"x", False) == -1
    assert list(lst) == [b"0", b"a", b"B", b"a", b"c", b"C", b"z"]
    assert lst.remove(-1, b"a") == 1
    assert list(lst) == [b"0", b"a", b"B", b"c", b"C", b"z"]
    assert lst.remove(0, b"zz") == 0
    lst.trim(1, 2)
    assert list(lst) == [b"a", b"B", b"c"]


def test_positions(lst):
    lst.push_right([b"a", b"b", b"a", b"c", b"a"])
    assert lst.positions(b"a", 1, 0, 0) == [0, 2, 4]
    assert lst.positions(b"a", 2, 1, 0) == [2]
    assert lst.positions(b"a", -1, 0, 0) == [4, 2, 0]
    assert lst.positions(b"a", -2, 0, 2) == []
    assert lst.positions(b"a", 1, 0, 3) == [0, 2]
    assert lst.positions(b"x", 1, 0, 0) == []


def test_copy_is_independent(lst):
    lst.push_right([b"x" * 100] * 100)
    c = lst.copy()
    assert c.encoding() == lst.encoding() == "quicklist"
    c.pop_left()
    assert len(c) == 99 and len(lst) == 100
    assert lst.memory_usage() > 0


def test_conversions(lst):
    limits.list_max_listpack_size = 4
    lst.push_right([b"1", b"2", b"3", b"4"])
    assert lst.encoding() == "listpack"
    lst.push_right([b"5"])
    assert lst.encoding() == "quicklist"
    lst.pop_many(3, True)           # nodes [1] [1]: two nodes stay a quicklist
    assert lst.encoding() == "quicklist"
    lst.pop_left()                  # one node of 1 element: 1 <= 4 // 2
    assert lst.encoding() == "listpack"
    limits.list_max_listpack_size = -2
    lst.push_right([b"x" * 9000])
    assert lst.encoding() == "quicklist"
    lst.pop_right()
    assert lst.encoding() == "listpack"


@pytest.mark.parametrize("fill", [-2, -1, 1, 3, 7])
def test_random_operations_match_a_model(lst, fill):
    limits.list_max_listpack_size = fill
    rnd = random.Random(fill)
    model: list = []
    vals = [b"a", b"b", b"7", b"-3", b"x" * 300, b"y" * 3000, b"1000000"]
    for _ in range(3000):
        op = rnd.randrange(9)
        if op == 0:
            vs = [rnd.choice(vals) for _ in range(rnd.randint(1, 3))]
            assert lst.push_left(vs) == len(model) + len(vs)
            for v in vs:
                model.insert(0, v)
        elif op == 1:
            vs = [rnd.choice(vals) for _ in range(rnd.randint(1, 3))]
            lst.push_right(vs)
            model.extend(vs)
        elif op == 2 and model:
            assert lst.pop_left() == model.pop(0)
        elif op == 3 and model:
            n = rnd.randint(1, 4)
            assert lst.pop_many(n, False) == [model.pop() for _ in range(min(n, len(model)))]
        elif op == 4 and model:
            i = rnd.randint(-len(model), len(model) - 1)
            v = rnd.choice(vals)
            assert lst.set(i, v)
            model[i] = v
        elif op == 5:
            pivot, v, after = rnd.choice(vals), rnd.choice(vals), rnd.random() < 0.5
            n = lst.insert(pivot, v, after)
            if pivot in model:
                i = model.index(pivot)
                model.insert(i + 1 if after else i, v)
                assert n == len(model)
            else:
                assert n == -1
        elif op == 6 and model:
            v = rnd.choice(vals)
            cnt = rnd.randint(-2, 2)
            removed = lst.remove(cnt, v)
            idx = [i for i, x in enumerate(model) if x == v]
            if cnt > 0:
                idx = idx[:cnt]
            elif cnt < 0:
                idx = idx[::-1][:-cnt]
            assert removed == len(idx)
            for i in sorted(idx, reverse=True):
                del model[i]
        elif op == 7 and len(model) > 2:
            a, b = rnd.randint(0, 2), rnd.randint(0, 2)
            if a + b <= len(model):
                lst.trim(a, b)
                model = model[a:len(model) - b]
        elif op == 8 and model:
            a = rnd.randint(0, len(model) - 1)
            b = rnd.randint(a, len(model) - 1)
            assert lst.range(a, b) == model[a:b + 1]
            assert lst.range_reversed(a, b) == model[a:b + 1][::-1]
        assert len(lst) == len(model)
        if not model and rnd.random() < 0.5:
            lst.push_right([b"seed"])
            model.append(b"seed")
    assert list(lst) == model


@pytest.mark.parametrize("fill", [-1, -2, 3, 5])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_layout_model_matches_the_memory_engine(db, fill, seed):  # noqa: F811
    """The same random operations on this engine's list and on the memory engine's list
    (whose quicklist layout model is checked against Redis in tests/test_lists_diff.py) give
    the same elements, encoding and node layout at every step."""
    from engines.mem_list import MemoryList
    limits.list_max_listpack_size = fill
    rnd = random.Random(seed * 100 + fill)
    lst = db.get_collection(b"m", "list", create=True)
    ref = MemoryList()
    vals = [b"a", b"bb", b"7", b"-300", b"x" * 60, b"y" * 300, b"z" * 2000, b"123456789012"]
    for step in range(500):
        op = rnd.randrange(10)
        n = len(ref)
        if op <= 2 or not n:
            vs = [rnd.choice(vals) for _ in range(rnd.randint(1, 4))]
            left = rnd.random() < 0.5
            a = (lst.push_left if left else lst.push_right)(vs)
            b = (ref.push_left if left else ref.push_right)(vs)
            assert a == b
        elif op == 3:
            k = rnd.randint(1, 3)
            left = rnd.random() < 0.5
            assert lst.pop_many(k, left) == ref.pop_many(k, left)
        elif op == 4:
            i = rnd.randint(-n - 1, n)
            v = rnd.choice(vals)
            assert lst.set(i, v) == ref.set(i, v)
        elif op == 5:
            p, v, after = rnd.choice(vals), rnd.choice(vals), rnd.random() < 0.5
            assert lst.insert(p, v, after) == ref.insert(p, v, after)
        elif op == 6:
            v, cnt = rnd.choice(vals), rnd.randint(-2, 2)
            assert lst.remove(cnt, v) == ref.remove(cnt, v)
        elif op == 7:
            a, b = rnd.randint(0, 3), rnd.randint(0, 3)
            if a + b < n:
                lst.trim(a, b)
                ref.trim(a, b)
        elif op == 8:
            v, rank = rnd.choice(vals), rnd.choice([1, 2, -1, -2])
            cnt, ml = rnd.randint(0, 2), rnd.randint(0, n)
            assert lst.positions(v, rank, cnt, ml) == ref.positions(v, rank, cnt, ml)
            i = rnd.randint(-n - 1, n)
            assert lst.index(i) == ref.index(i)
        else:
            left = rnd.random() < 0.5
            assert (lst.pop_left() if left else lst.pop_right()) == (
                ref.pop_left() if left else ref.pop_right())
        if not len(ref):
            db.delete(b"m")
            lst = db.get_collection(b"m", "list", create=True)
            ref = MemoryList()
        assert lst.encoding() == ref.encoding(), step
        assert lst.nodes == ref.nodes, step
        assert len(lst) == len(ref)
        if step % 50 == 0:
            assert list(lst) == list(ref)
            c = lst.copy()
            assert list(c) == list(ref) and c.nodes == ref.nodes
    assert list(lst) == list(ref)


def test_lmdb_list_header_without_fill_and_depth():
    """An LMDB list header of the first layout (36 bytes, before a quicklist kept its own fill
    and compress depth) still reads: the current configs stand in for the missing fields."""
    from test_engine_contract import _lmdb
    from engines.lmdb_list import _HDR_OLD
    e = _lmdb()
    try:
        limits.list_max_listpack_size = 2
        lst = e.db(0).get_collection(b"old", "list", create=True)
        lst.push_right([b"a", b"b", b"c", b"d", b"e"])
        assert lst.encoding() == "quicklist" and lst.fill == 2
        t = lst.e.txn()
        raw = t.get(lst.pre, db=lst.e.lh_db)
        assert len(raw) == _HDR_OLD + 8
        t.put(lst.pre, raw[:_HDR_OLD], db=lst.e.lh_db)
        limits.list_max_listpack_size = 3
        assert lst.fill == 3
        lst.push_right([b"f", b"g"])
        assert [n[0] for n in lst.nodes] == [2, 2, 3]   # nodes of 3 from here on
        assert list(lst) == [b"a", b"b", b"c", b"d", b"e", b"f", b"g"]
        assert len(t.get(lst.pre, db=lst.e.lh_db)) == _HDR_OLD + 8   # written anew in full
    finally:
        e.close()
