"""Conformance suite of the storage-engine protocol (engines/base.py).

In-process (the one exception to "tests talk to a real server"): every test runs against
every engine factory in ENGINES, so a new engine (LMDB) is checked by adding a factory here.
Time is controlled through ``engines.base.clock.frozen``, as the server does per command.
"""
from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.base import Engine, Keyspace, clock  # noqa: E402
from valkeyd.errors import ErrorReply  # noqa: E402


def _memory():
    from engines.memory import MemoryEngine
    return MemoryEngine(16)


def _lmdb():
    from engines.lmdb import LmdbEngine
    return LmdbEngine(path=tempfile.mkdtemp(prefix="valkeyd-lmdb-"), databases=16)


ENGINES = {
    "memory": _memory,
    "lmdb": _lmdb,
}
# The value types each engine stores (the lmdb engine is being written: issue #7).
SUPPORTS = {
    "memory": {"string", "hash", "list", "set", "zset", "stream"},
    "lmdb": {"string", "hash", "list", "set", "zset", "stream"},
}


def engines_for(tname: str) -> list:
    """The engines the conformance suite of value type ``tname`` runs on."""
    return [name for name in sorted(ENGINES) if tname in SUPPORTS[name]]

T0 = 1_700_000_000_000


@pytest.fixture(params=sorted(ENGINES))
def eng(request):
    e = ENGINES[request.param]()
    expired = []
    e.on_expired = lambda dbid, key: expired.append((dbid, key))
    e.expired_log = expired
    clock.frozen = T0
    yield e
    clock.frozen = None
    e.close()


@pytest.fixture
def db(eng):
    return eng.db(0)


def at(ms):
    clock.frozen = ms


def test_protocols(eng, db):
    assert isinstance(eng, Engine)
    assert isinstance(db, Keyspace)
    assert eng.databases == 16
    assert [eng.db(i).id for i in range(16)] == list(range(16))
    assert eng.db(3) is eng.db(3)


def test_get_set_delete(db):
    assert db.get(b"k") is None and db.peek(b"k") is None
    assert not db.exists(b"k") and db.type_name(b"k") is None and db.encoding(b"k") is None
    db.set(b"k", b"v")
    assert bytes(db.get(b"k")) == b"v" and bytes(db.get_string(b"k")) == b"v"
    assert db.exists(b"k") and db.type_name(b"k") == "string" and db.size() == 1
    db.set(b"k", b"w")
    assert bytes(db.get(b"k")) == b"w" and db.size() == 1
    assert db.delete(b"k") is True
    assert db.delete(b"k") is False
    assert db.get(b"k") is None and db.size() == 0
    # binary keys and values, empty key
    db.set(b"\x00\xff", b"\r\n\x00")
    db.set(b"", b"")
    assert bytes(db.get(b"\x00\xff")) == b"\r\n\x00" and bytes(db.get(b"")) == b""
    assert sorted(db.keys()) == [b"", b"\x00\xff"]


def test_string_encodings(db):
    cases = {b"12": "int", b"-9223372036854775808": "int", b"9223372036854775808": "embstr",
             b"012": "embstr", b"+1": "embstr", b"x" * 44: "embstr", b"x" * 45: "raw",
             b"": "embstr"}
    for v, enc in cases.items():
        db.set(b"k", v)
        assert db.encoding(b"k") == enc, v
    db.set(b"k", bytearray(b"12"))
    assert db.encoding(b"k") == "raw"


def test_wrongtype(eng, db):
    class FakeList:
        TYPE_NAME = "list"

        def encoding(self):
            return "quicklist"

    db.set(b"s", b"str")
    for tname in ("hash", "list", "set", "zset"):
        with pytest.raises(ErrorReply) as e:
            db.get_collection(b"s", tname)
        assert str(e.value).startswith("WRONGTYPE")
        assert db.get_collection(b"missing", tname) is None
    value = FakeList()
    if eng.name == "lmdb":   # it stores a list's items as records: it needs a real list value
        from engines.limits import limits
        from engines.mem_list import MemoryList
        old, limits.list_max_listpack_size = limits.list_max_listpack_size, 1
        try:
            value = MemoryList([b"a", b"b"])   # a quicklist under this fill
        finally:
            limits.list_max_listpack_size = old
    db.set(b"l", value)
    with pytest.raises(ErrorReply) as e:
        db.get_string(b"l")
    assert str(e.value).startswith("WRONGTYPE")
    assert db.type_name(b"l") == "list" and db.encoding(b"l") == "quicklist"


def test_expiry_boundary_is_strict(eng, db):
    db.set(b"k", b"v")
    db.set_expire(b"k", T0 + 100)
    assert db.get_expire(b"k") == T0 + 100 and db.expires_count() == 1
    at(T0 + 100)
    assert db.exists(b"k"), "a key expiring at exactly now is still alive (now > when)"
    at(T0 + 101)
    assert not db.exists(b"k")
    assert eng.expired_log == [(0, b"k")]
    assert db.size() == 0 and db.expires_count() == 0
    assert db.get_expire(b"k") is None


@pytest.mark.parametrize("op", ["get", "peek", "get_string", "exists", "type_name", "delete",
                                "encoding", "touch"])
def test_every_lookup_reclaims_expired_keys(eng, db, op):
    db.set(b"k", b"v")
    db.set_expire(b"k", T0 + 10)
    at(T0 + 11)
    r = getattr(db, op)(b"k")
    assert r in (None, False)
    assert eng.expired_log == [(0, b"k")]
    assert db.size() == 0


def test_set_clears_or_keeps_ttl(db):
    db.set(b"k", b"v")
    db.set_expire(b"k", T0 + 1000)
    db.set(b"k", b"w", keep_ttl=True)
    assert db.get_expire(b"k") == T0 + 1000
    db.set(b"k", b"x")
    assert db.get_expire(b"k") is None
    db.set_expire(b"k", T0 + 5)
    assert db.persist(b"k") is True and db.persist(b"k") is False
    assert db.get_expire(b"k") is None
    db.set_expire(b"missing", T0 + 5)
    assert db.get_expire(b"missing") is None and not db.exists(b"missing")


def test_rename_moves_value_and_ttl(db):
    db.set(b"a", b"1")
    db.set_expire(b"a", T0 + 500)
    db.set(b"b", b"2")
    db.set_expire(b"b", T0 + 900)
    db.rename(b"a", b"b")
    assert db.get(b"a") is None and db.get_expire(b"a") is None
    assert bytes(db.get(b"b")) == b"1" and db.get_expire(b"b") == T0 + 500
    db.set(b"c", b"3")
    db.set_expire(b"c", T0 + 1)
    db.rename(b"b", b"c")  # destination's own expiry is replaced by the source's
    assert db.get_expire(b"c") == T0 + 500
    db.set(b"d", b"4")
    db.rename(b"d", b"c")  # no expiry on the source: the destination ends without one
    assert db.get_expire(b"c") is None and bytes(db.get(b"c")) == b"4"


def test_keys_skips_expired(db):
    for i in range(10):
        db.set(b"k%d" % i, b"v")
    db.set_expire(b"k3", T0 - 1)
    db.set_expire(b"k4", T0 + 1)
    assert sorted(db.keys()) == sorted(b"k%d" % i for i in range(10) if i != 3)
    assert db.size() == 10  # DBSIZE counts keys not yet reclaimed, as Redis does


def _full_scan(db, count=10, mutate=None):
    seen = []
    cursor = 0
    calls = 0
    while True:
        cursor, batch = db.scan(cursor, count)
        seen.extend(batch)
        calls += 1
        assert calls < 100000
        if mutate:
            mutate(calls)
        if cursor == 0:
            return seen


@pytest.mark.parametrize("count", [1, 7, 100, 10000])
def test_scan_returns_every_key(db, count):
    keys = {b"key:%d" % i for i in range(2000)}
    for k in keys:
        db.set(k, b"v")
    seen = _full_scan(db, count)
    assert set(seen) == keys


def test_scan_guarantee_under_inserts_and_deletes(db):
    rnd = random.Random(7)
    stable = {b"stable:%d" % i for i in range(1500)}
    volatile = [b"vol:%d" % i for i in range(1500)]
    for k in stable:
        db.set(k, b"v")
    for k in volatile:
        db.set(k, b"v")

    def mutate(step):
        for _ in range(20):
            k = rnd.choice(volatile)
            if rnd.random() < 0.5:
                db.delete(k)
            else:
                db.set(k, b"x")
            db.set(b"new:%d:%d" % (step, rnd.randrange(1000)), b"n")

    seen = set(_full_scan(db, 13, mutate))
    assert stable <= seen
    # nothing that never existed is returned
    assert all(k.startswith((b"stable:", b"vol:", b"new:")) for k in seen)


def test_scan_interleaved_iterations_and_rebuilds(db):
    stable = {b"s%d" % i for i in range(600)}
    for k in stable:
        db.set(k, b"v")
    c1, out1 = 0, set()
    c1, b = db.scan(c1, 50)
    out1.update(b)
    # a second iteration starting (and keys added) in the middle of the first one
    for i in range(300):
        db.set(b"late%d" % i, b"v")
    assert stable <= set(_full_scan(db, 31))
    while c1:
        c1, b = db.scan(c1, 50)
        out1.update(b)
        db.set(b"x%d" % len(out1), b"v")
    assert stable <= out1


def test_scan_after_flush_and_swap(eng, db):
    for i in range(100):
        db.set(b"k%d" % i, b"v")
    cursor, _ = db.scan(0, 10)
    db.flush()
    assert _full_scan(db) == []
    # a stale cursor from before the flush is still accepted
    cur, batch = db.scan(cursor, 10)
    assert batch == [] or all(db.exists(k) for k in batch)
    other = eng.db(1)
    other.set(b"o", b"1")
    eng.swapdb(0, 1)
    assert _full_scan(db) == [b"o"]
    assert _full_scan(other) == []


def test_flush_and_flushall(eng, db):
    for i in range(5):
        eng.db(i).set(b"k", b"v")
        eng.db(i).set_expire(b"k", T0 + 1000)
    assert db.flush() == 1
    assert db.size() == 0 and db.expires_count() == 0
    assert eng.db(1).size() == 1
    assert eng.flushdb(1) == 1 and eng.db(1).size() == 0
    assert eng.flushall(lazy=True) == 3
    assert all(eng.db(i).size() == 0 and eng.db(i).expires_count() == 0 for i in range(16))
    assert eng.flushall() == 0


def test_swapdb(eng):
    a, b = eng.db(0), eng.db(5)
    a.set(b"x", b"1")
    a.set_expire(b"x", T0 + 100)
    b.set(b"y", b"2")
    eng.swapdb(0, 5)
    assert eng.db(0) is a and eng.db(5) is b
    assert a.get(b"x") is None and bytes(a.get(b"y")) == b"2"
    assert bytes(b.get(b"x")) == b"1" and b.get_expire(b"x") == T0 + 100
    assert a.expires_count() == 0 and b.expires_count() == 1
    eng.swapdb(3, 3)
    at(T0 + 101)
    assert b.get(b"x") is None
    assert eng.expired_log == [(5, b"x")]


def test_random_key(eng, db):
    assert db.random_key() is None
    keys = {b"r%d" % i for i in range(20)}
    for k in keys:
        db.set(k, b"v")
    seen = {db.random_key() for _ in range(2000)}
    assert seen == keys
    # expired keys are never returned: they are reclaimed and another key is drawn
    for k in list(keys)[:15]:
        db.set_expire(k, T0 + 1)
    at(T0 + 2)
    live = {db.random_key() for _ in range(500)}
    assert live <= keys and len(live) == 5
    assert db.size() == 5
    for k in list(live):
        db.delete(k)
    assert db.random_key() is None


def test_random_key_all_expired(eng, db):
    for i in range(50):
        db.set(b"e%d" % i, b"v")
        db.set_expire(b"e%d" % i, T0 + 1)
    at(T0 + 2)
    assert db.random_key() is None
    assert db.size() == 0 and len(eng.expired_log) == 50


def test_replica_mode_reports_missing_without_deleting(eng, db):
    db.set(b"k", b"v")
    db.set_expire(b"k", T0 + 1)
    eng.replica_mode = True
    at(T0 + 5)
    assert db.get(b"k") is None and not db.exists(b"k")
    assert db.size() == 1 and eng.expired_log == []
    assert db.active_expire(100) == (1, 0) and db.size() == 1
    eng.replica_mode = False
    assert not db.exists(b"k") and db.size() == 0
    assert eng.expired_log == [(0, b"k")]


def test_active_expire_samples_and_resumes(eng, db):
    for i in range(100):
        db.set(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, T0 + (1 if i % 2 else 10_000))
    db.set(b"persistent", b"v")
    at(T0 + 5)
    total_checked = total_expired = 0
    for _ in range(5):
        checked, expired = db.active_expire(20)
        assert checked <= 20
        total_checked += checked
        total_expired += expired
    # five samples of 20 resume where the previous stopped: every volatile key checked once
    assert total_checked == 100 and total_expired == 50
    assert db.size() == 51 and db.expires_count() == 50
    assert sorted(k for _, k in eng.expired_log) == sorted(b"k%d" % i for i in range(1, 100, 2))
    assert db.active_expire(20) == (20, 0)


def test_active_expire_empty(db):
    assert db.active_expire(20) == (0, 0)


def test_idle_time_and_touch(db):
    db.set(b"k", b"v")
    at(T0 + 5000)
    assert db.idle_seconds(b"k") == 5
    db.peek(b"k")
    db.exists(b"k")
    db.type_name(b"k")
    assert db.idle_seconds(b"k") == 5, "non-touching lookups keep the access time"
    assert db.touch(b"k") is True
    assert db.idle_seconds(b"k") == 0
    at(T0 + 9000)
    db.get_string(b"k")
    assert db.idle_seconds(b"k") == 0
    assert db.idle_seconds(b"missing") is None and db.touch(b"missing") is False


def test_lfu_counter(eng, db):
    eng.lfu = (10, 1)
    db.set(b"k", b"v")
    assert db.lfu_freq(b"k") == 5
    db.get(b"k")  # at counter 5 the increment probability is 1
    assert db.lfu_freq(b"k") == 6
    db.set(b"k", b"w")
    assert db.lfu_freq(b"k") == 6, "an overwrite keeps the counter"
    at(T0 + 3 * 60_000)  # three decay periods of one minute
    assert db.lfu_freq(b"k") == 3
    for _ in range(300):
        db.get(b"k")
    assert 5 <= db.lfu_freq(b"k") <= 255
    assert db.lfu_freq(b"nokey") is None


def test_snapshot_is_point_in_time(eng, db):
    db.set(b"a", b"1")
    db.set(b"b", b"2")
    db.set_expire(b"b", T0 + 10)
    db.set(b"gone", b"3")
    db.set_expire(b"gone", T0 - 1)
    eng.db(2).set(b"c", b"3")
    it = eng.snapshot()
    db.set(b"late", b"x")
    db.delete(b"a")
    got = sorted((d, k, bytes(v), w) for d, k, v, w in it)
    assert got == [(0, b"a", b"1", None), (0, b"b", b"2", T0 + 10), (2, b"c", b"3", None)]


def test_used_memory_grows(eng, db):
    before = eng.used_memory()
    for i in range(100):
        db.set(b"k%d" % i, b"x" * 100)
    assert eng.used_memory() > before + 100 * 100


def test_scan_guarantee_with_readds_and_bulk_inserts(db):
    stable = {b"st%d" % i for i in range(3000)}
    for k in stable:
        db.set(k, b"v")
    for i in range(1000):  # deleted and re-added before the iteration starts
        db.delete(b"st%d" % i)
        db.set(b"st%d" % i, b"again")
    cursor, seen, step = 0, [], 0
    while True:
        cursor, batch = db.scan(cursor, 50)
        seen.extend(batch)
        step += 1
        if step == 3:  # a huge burst of inserts and another iteration starting meanwhile
            for i in range(70000):
                db.set(b"bulk%d" % i, b"v")
            assert stable <= set(_full_scan(db, 5000))
        if cursor == 0:
            break
    assert stable <= set(seen)
    assert len(seen) == len(set(seen)), "a key present throughout is returned once"


def test_scan_steps_are_bounded_after_mass_deletes(eng, db):
    for i in range(5000):
        db.set(b"k%d" % i, b"v")
    cursor, _ = db.scan(0, 10)
    for i in range(5000):
        if i != 4321:
            db.delete(b"k%d" % i)
    calls = 0
    seen = []
    while True:
        cursor, batch = db.scan(cursor, 10)
        assert len(batch) <= 10
        seen.extend(batch)
        calls += 1
        if cursor == 0:
            break
    if eng.name == "memory":
        # the memory engine's scan order keeps tombstones of deleted keys: a call examines a
        # bounded number of them (the LMDB engine keeps none: deleted keys are gone)
        assert calls > 5, "each call examines a bounded number of entries"
    assert seen == [b"k4321"] or (b"k4321" in seen and set(seen) == {b"k4321"})
    assert _full_scan(db, 10) == [b"k4321"]


def test_rename_keeps_access_time(db):
    db.set(b"a", b"1")
    at(T0 + 7000)
    db.rename(b"a", b"b")
    assert db.idle_seconds(b"b") == 7
