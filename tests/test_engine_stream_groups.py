"""Conformance of the consumer-group interface (engines/base.py ``ConsumerGroup``), in-process,
for every engine in ``ENGINES``: the group PEL and the consumers' PELs kept in step,
reassignment, deletion of consumers with their entries, ordering (IDs as 128-bit integers,
consumer names in bytes order), ranges, copies, and the groups stored in a stream value."""
from __future__ import annotations

import random

import pytest

from test_engine_contract import ENGINES, engines_for, T0

from engines.base import ConsumerGroup, clock


@pytest.fixture(params=engines_for("stream"))
def db(request):
    e = ENGINES[request.param]()
    clock.frozen = T0
    yield e.db(0)
    clock.frozen = None
    e.close()


def _group(db, key=b"s", name=b"g", last=0, er=-1):
    s = db.get_collection(key, "stream", create=True)
    from valkeyd.commands.stream_groups import _new_group
    g = s.groups[name] = _new_group(s, last, er)
    return s, g


def ID(ms, seq=0):
    return ms << 64 | seq


def test_protocol_and_attributes(db):
    s, g = _group(db, last=ID(5, 1), er=3)
    assert isinstance(g, ConsumerGroup)
    assert g.last_id == ID(5, 1) and g.entries_read == 3
    g.last_id = ID(7)
    g.entries_read = -1
    assert db.get_collection(b"s", "stream").groups[b"g"].last_id == ID(7)
    assert g.pel_len() == 0 and g.pel_first() is None and g.pel_last() is None
    assert g.consumer_count() == 0 and g.consumer_names() == []
    assert g.memory_usage() > 0


def test_consumers(db):
    s, g = _group(db)
    assert g.consumer_create(b"b", T0)
    assert not g.consumer_create(b"b", T0 + 5)
    assert g.consumer_create(b"a", T0 + 1)
    assert g.consumer_create(b"\xff", T0 + 2)
    assert g.consumer_create(b"B", T0 + 3)
    assert g.consumer_names() == [b"B", b"a", b"b", b"\xff"]
    assert g.consumer_get(b"b") == (T0, -1, 0)
    g.consumer_set_times(b"b", seen=T0 + 10)
    g.consumer_set_times(b"b", active=T0 + 11)
    assert g.consumer_get(b"b") == (T0 + 10, T0 + 11, 0)
    assert g.consumer_get(b"zz") is None
    assert g.consumer_delete(b"zz") is None
    assert g.consumer_delete(b"B") == 0
    assert g.consumer_count() == 3


def test_pel_ownership(db):
    s, g = _group(db)
    g.consumer_create(b"a", T0)
    g.consumer_create(b"b", T0)
    big = ID(2**64 - 1, 2**64 - 1)
    for i, ident in enumerate([ID(3), ID(1, 5), ID(1, 2**63), big, ID(2)]):
        g.pel_put(ident, b"a" if i % 2 else b"b", T0 + i, 1)
    assert g.pel_len() == 5
    assert g.pel_first() == ID(1, 5) and g.pel_last() == big
    assert [r[0] for r in g.pel_range(0)] == [ID(1, 5), ID(1, 2**63), ID(2), ID(3), big]
    assert [r[0] for r in g.pel_range(0, None, b"a")] == [ID(1, 5), big]
    assert g.consumer_get(b"a")[2] == 2 and g.consumer_get(b"b")[2] == 3
    assert g.pel_get(ID(1, 5)) == (b"a", T0 + 1, 1)
    # reassign: moves between the consumers' PELs
    g.pel_put(ID(1, 5), b"b", T0 + 50, 4)
    assert g.pel_get(ID(1, 5)) == (b"b", T0 + 50, 4)
    assert g.consumer_get(b"a")[2] == 1 and g.consumer_get(b"b")[2] == 4
    # ranges are inclusive
    assert [r[0] for r in g.pel_range(ID(1, 2**63), ID(3))] == [ID(1, 2**63), ID(2), ID(3)]
    assert list(g.pel_range(ID(4), ID(5))) == []
    assert list(g.pel_range(0, None, b"nobody")) == []
    # delete
    assert g.pel_delete(ID(2))
    assert not g.pel_delete(ID(2))
    assert g.pel_get(ID(2)) is None and g.pel_len() == 4
    # deleting a consumer drops its entries from the group PEL
    assert g.consumer_delete(b"b") == 3
    assert g.pel_len() == 1 and g.pel_first() == big
    assert g.pel_get(big)[0] == b"a"


def test_range_while_modifying(db):
    s, g = _group(db)
    g.consumer_create(b"a", T0)
    g.consumer_create(b"b", T0)
    for i in range(1, 21):
        g.pel_put(ID(i), b"a", T0, 1)
    seen = []
    for ident, owner, t, n in g.pel_range(0):
        seen.append(ident)
        if ident % 3 == 0:
            g.pel_delete(ident)
        else:
            g.pel_put(ident, b"b", T0 + 1, n + 1)
        g.pel_delete(ident + ID(1))   # the next one goes away
    assert seen == [ID(i) for i in range(1, 21, 2)]


def test_copy_is_independent(db):
    s, g = _group(db, last=ID(9), er=4)
    g.consumer_create(b"a", T0)
    g.consumer_create(b"b", T0 + 1)
    g.consumer_set_times(b"a", active=T0 + 2)
    g.pel_put(ID(1), b"a", T0, 2)
    g.pel_put(ID(2), b"b", T0, 3)
    s2 = s.copy()
    g2 = s2.groups[b"g"]
    assert g2 is not g
    assert (g2.last_id, g2.entries_read) == (ID(9), 4)
    assert list(g2.pel_range(0)) == list(g.pel_range(0))
    assert g2.consumer_get(b"a") == (T0, T0 + 2, 1)
    g2.pel_put(ID(1), b"b", T0 + 9, 7)
    g2.consumer_delete(b"a")
    g2.last_id = 0
    assert g.pel_get(ID(1)) == (b"a", T0, 2) and g.consumer_get(b"a") is not None
    assert g.last_id == ID(9)


def test_random_model(db):
    """Random operations against a dict model."""
    rnd = random.Random(7)
    s, g = _group(db)
    names = [b"a", b"b", b"c", b"d"]
    model_pel = {}
    model_cons = set()
    for _ in range(2000):
        op = rnd.random()
        ident = ID(rnd.randrange(30), rnd.randrange(3))
        name = rnd.choice(names)
        if op < 0.15:
            assert g.consumer_create(name, T0) == (name not in model_cons)
            model_cons.add(name)
        elif op < 0.6 and model_cons:
            owner = rnd.choice(sorted(model_cons))
            g.pel_put(ident, owner, T0, rnd.randrange(5))
            model_pel[ident] = owner
        elif op < 0.85:
            assert g.pel_delete(ident) == (ident in model_pel)
            model_pel.pop(ident, None)
        else:
            r = g.consumer_delete(name)
            if name in model_cons:
                owned = [k for k, v in model_pel.items() if v == name]
                assert r == len(owned)
                for k in owned:
                    del model_pel[k]
                model_cons.discard(name)
            else:
                assert r is None
        assert g.pel_len() == len(model_pel)
    assert [(r[0], r[1]) for r in g.pel_range(0)] == sorted(model_pel.items())
    for n in model_cons:
        assert [r[0] for r in g.pel_range(0, None, n)] == sorted(
            k for k, v in model_pel.items() if v == n)
    assert g.consumer_names() == sorted(model_cons)
