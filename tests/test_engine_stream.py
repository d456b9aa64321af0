"""Conformance of the stream value interface (engines/base.py ``StreamValue``), in-process,
for every engine in ``ENGINES``: appending, ranges in both directions with counts, lookups,
deletion (tombstones, first_id, max_deleted_entry_id), trimming by length and by ID (exact
and approximate, with a limit, over node boundaries), copies and compactness."""
from __future__ import annotations

import random

import pytest

from test_engine_contract import ENGINES, engines_for, T0

from engines.base import StreamValue, clock
from engines.limits import limits
from valkeyd.errors import ErrorReply

MAX = (1 << 128) - 1


def I(ms, seq=0):
    return ms << 64 | seq


@pytest.fixture(params=engines_for("stream"))
def db(request):
    e = ENGINES[request.param]()
    clock.frozen = T0
    yield e.db(0)
    clock.frozen = None
    e.close()


@pytest.fixture(autouse=True)
def node_limits():
    saved = (limits.stream_node_max_entries, limits.stream_node_max_bytes)
    yield
    limits.stream_node_max_entries, limits.stream_node_max_bytes = saved


def new(db, n=0, key=b"s"):
    s = db.get_collection(key, "stream", create=True)
    for i in range(1, n + 1):
        s.append(I(i), [b"f", b"%d" % i])
    return s


def ids(entries):
    return [i >> 64 for i, _ in entries]


def test_protocol_and_basics(db):
    s = new(db)
    assert isinstance(s, StreamValue)
    assert s.TYPE_NAME == "stream" and s.encoding() == "stream"
    assert len(s) == 0 and s.last_id == 0 and s.first_id == 0 and s.groups == {}
    s.append(I(5, 1), [b"a", b"1", b"b", b"2"])
    assert len(s) == 1 and s.last_id == I(5, 1) and s.first_id == I(5, 1)
    assert s.entries_added == 1
    assert s.get(I(5, 1)) == [b"a", b"1", b"b", b"2"]
    assert s.get(I(5, 0)) is None and I(5, 1) in s and I(5, 2) not in s
    assert s.first_entry() == (I(5, 1), [b"a", b"1", b"b", b"2"])
    again = db.get_collection(b"s", "stream")
    # the same object (memory) or a view of the same records (lmdb)
    assert again is s or (again.mk, again.pre) == (s.mk, s.pre)
    assert again.last_id == I(5, 1) and len(again) == 1
    db.set(b"x", b"str")
    with pytest.raises(ErrorReply):
        db.get_collection(b"x", "stream")


@pytest.mark.parametrize("per_node", [1, 3, 100])
def test_ranges(db, per_node):
    limits.stream_node_max_entries = per_node
    s = new(db, 20)
    assert ids(s.range(0, MAX)) == list(range(1, 21))
    assert ids(s.range(0, MAX, 5)) == [1, 2, 3, 4, 5]
    assert ids(s.range(I(4), I(9))) == list(range(4, 10))
    assert ids(s.range(I(4, 1), I(9))) == list(range(5, 10))
    assert ids(s.range(I(4), I(9), 2, True)) == [9, 8]
    assert ids(s.range(0, MAX, 0, True)) == list(range(20, 0, -1))
    assert s.range(I(9), I(4)) == []
    assert s.range(I(21), MAX) == []
    assert ids(s.range(0, I(1))) == [1]
    assert s.last_entry()[0] == I(20)
    assert list(s.entries())[3] == (I(4), [b"f", b"4"])


@pytest.mark.parametrize("per_node", [1, 4, 100])
def test_delete(db, per_node):
    limits.stream_node_max_entries = per_node
    s = new(db, 10)
    assert s.delete(I(1)) and not s.delete(I(1)) and not s.delete(I(11))
    assert s.first_id == I(2) and s.max_deleted_entry_id == I(1)
    assert s.delete(I(5)) and s.max_deleted_entry_id == I(5)
    assert s.delete(I(3))
    assert s.max_deleted_entry_id == I(5)
    assert ids(s.range(0, MAX)) == [2, 4, 6, 7, 8, 9, 10]
    assert ids(s.range(0, MAX, 0, True)) == [10, 9, 8, 7, 6, 4, 2]
    assert len(s) == 7 and s.last_id == I(10)
    assert s.delete(I(10)) and s.last_valid_id() == I(9) and s.last_id == I(10)
    for i in (2, 4, 6, 7, 8, 9):
        assert s.delete(I(i))
    assert len(s) == 0 and s.first_id == 0 and s.range(0, MAX) == []
    assert s.last_valid_id() == 0 and s.entries_added == 10


def test_trim_exact(db):
    limits.stream_node_max_entries = 4
    s = new(db, 10)
    assert s.trim(maxlen=7) == 3
    assert ids(s.range(0, MAX)) == list(range(4, 11)) and s.first_id == I(4)
    assert s.trim(minid=I(6)) == 2
    assert ids(s.range(0, MAX)) == list(range(6, 11))
    assert s.trim(minid=I(2)) == 0 and s.trim(maxlen=5) == 0
    assert s.max_deleted_entry_id == 0     # trimming does not record tombstones
    assert s.trim(maxlen=0) == 5 and len(s) == 0 and s.first_id == 0


def test_trim_approx_whole_nodes(db):
    limits.stream_node_max_entries = 4
    s = new(db, 10)                         # nodes 1-4, 5-8, 9-10
    assert s.trim(maxlen=7, approx=True) == 0
    assert s.trim(maxlen=6, approx=True) == 4
    assert s.first_id == I(5)
    assert s.trim(maxlen=1, approx=True) == 4     # 5-8 goes, 9-10 stays whole
    assert ids(s.range(0, MAX)) == [9, 10]


def test_trim_approx_minid(db):
    limits.stream_node_max_entries = 4
    s = new(db, 10)
    assert s.trim(minid=I(8), approx=True) == 4   # only the node 1-4 is wholly below 8
    assert ids(s.range(0, MAX))[0] == 5
    assert s.trim(minid=I(9), approx=True) == 4   # node 5-8 ends at 8 < 9
    assert ids(s.range(0, MAX)) == [9, 10]


def test_trim_limit(db):
    limits.stream_node_max_entries = 4
    s = new(db, 12)
    assert s.trim(maxlen=0, approx=True, limit=5) == 4
    assert s.trim(maxlen=0, approx=True, limit=3) == 0
    assert s.trim(maxlen=0, approx=True, limit=0) == 8


def test_node_split_counts_tombstones(db):
    limits.stream_node_max_entries = 3
    s = new(db, 3)
    s.delete(I(2))
    s.append(I(4), [b"f", b"4"])     # the first node holds 3 entries (one deleted): a new one
    assert s.node_count() == 2
    limits.stream_node_max_entries = 0
    limits.stream_node_max_bytes = 60
    s2 = new(db, 0, b"t")
    for i in range(1, 21):
        s2.append(I(i), [b"field", b"x" * 10])
    assert s2.node_count() > 3


def test_copy_is_independent(db):
    from valkeyd.commands.stream_groups import _new_group
    s = new(db, 5)
    g = s.groups[b"g"] = _new_group(s, I(3), 3)
    g.consumer_create(b"c", T0)
    g.pel_put(I(2), b"c", T0, 1)
    c = s.copy()
    cg = c.groups[b"g"]
    assert cg is not g and (cg.last_id, cg.entries_read) == (I(3), 3)
    assert list(cg.pel_range(0)) == [(I(2), b"c", T0, 1)]
    cg.pel_delete(I(2))
    cg.last_id = I(4)
    assert g.pel_get(I(2)) == (b"c", T0, 1) and g.last_id == I(3)
    c.append(I(6), [b"a", b"b"])
    c.delete(I(1))
    assert len(s) == 5 and s.last_id == I(5) and s.get(I(1)) == [b"f", b"1"]
    assert len(c) == 5 and c.last_id == I(6) and c.first_id == I(2)


def test_random_against_model(db):
    rnd = random.Random(7)
    limits.stream_node_max_entries = 5
    s = new(db)
    model = {}
    nxt = 1
    for _ in range(2000):
        op = rnd.random()
        if op < 0.5:
            fv = [b"f%d" % rnd.randrange(3), b"%d" % rnd.randrange(100)]
            s.append(I(nxt, rnd.randrange(2)), fv)
            model[I(nxt, s.last_id & 1)] = fv
            nxt += rnd.randrange(1, 3)
        elif op < 0.7 and model:
            k = rnd.choice(list(model))
            assert s.delete(k)
            del model[k]
        elif op < 0.75:
            n = rnd.randrange(0, 30)
            removed = s.trim(maxlen=n, approx=rnd.random() < 0.5)
            ks = sorted(model)
            for k in ks[:removed]:
                del model[k]
        else:
            a, b = sorted(rnd.randrange(0, nxt + 2) for _ in range(2))
            want = sorted(k for k in model if I(a) <= k <= I(b, 1 << 63))
            assert [i for i, _ in s.range(I(a), I(b, 1 << 63))] == want
            assert [i for i, _ in s.range(I(a), I(b, 1 << 63), 0, True)] == want[::-1]
        assert len(s) == len(model)
        assert s.first_id == (min(model) if model else 0)
    assert [(i, f) for i, f in s.range(0, MAX)] == sorted(model.items())


def test_compact_memory(db):
    s = new(db, 10000)
    dicts = 10000 * (184 + 2 * 34)   # one small dict per entry and its two objects
    assert s.memory_usage() < dicts // 4


def test_edge_id(db):
    limits.stream_node_max_entries = 3
    s = new(db)
    assert s.edge_id() == MAX and s.edge_id(False) == 0
    assert s.edge_id(True, False) == MAX and s.edge_id(False, False) == 0
    for i in range(1, 6):
        s.append(I(i), [b"f", b"v"])
    s.delete(I(1))
    s.delete(I(5))
    assert s.edge_id() == I(2) and s.edge_id(False) == I(4)
    assert s.edge_id(True, False) == I(1) and s.edge_id(False, False) == I(5)
