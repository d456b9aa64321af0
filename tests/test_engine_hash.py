"""Conformance suite of the hash value interface (engines/base.py ``HashValue``), run against
every engine of ``tests/test_engine_contract.py``'s ENGINES (in-process)."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from test_engine_contract import ENGINES, engines_for, T0  # noqa: F401  (sys.path set up there)

from engines.base import HashValue, clock  # noqa: E402
from engines.limits import limits  # noqa: E402
from valkeyd.errors import ErrorReply  # noqa: E402


@pytest.fixture(params=engines_for("hash"))
def db(request):
    e = ENGINES[request.param]()
    clock.frozen = T0
    yield e.db(0)
    clock.frozen = None
    e.close()


@pytest.fixture
def small_limits():
    saved = (limits.hash_max_listpack_entries, limits.hash_max_listpack_value)
    limits.hash_max_listpack_entries, limits.hash_max_listpack_value = 4, 8
    yield
    limits.hash_max_listpack_entries, limits.hash_max_listpack_value = saved


def new(db, key=b"h"):
    h = db.get_collection(key, "hash", create=True)
    assert isinstance(h, HashValue)
    return h


def test_create_lookup_and_wrongtype(db):
    assert db.get_collection(b"h", "hash") is None
    h = new(db)
    assert h.TYPE_NAME == "hash" and len(h) == 0 and h.encoding() == "listpack"
    assert db.type_name(b"h") == "hash"
    db.set(b"s", b"x")
    with pytest.raises(ErrorReply):
        db.get_collection(b"s", "hash")


def test_field_operations(db):
    h = new(db)
    assert h.set(b"a", b"1") is True
    assert h.set(b"a", b"2") is False
    assert h.get(b"a") == b"2" and h.get(b"zz") is None
    assert h.contains(b"a") and not h.contains(b"zz")
    assert h.set_many([b"HSET", b"k", b"b", b"3", b"c", b"4", b"b", b"5"], 2) == 2
    assert h.get(b"b") == b"5" and len(h) == 3
    assert list(h.fields()) == [b"a", b"b", b"c"], "listpack order: insertion order"
    assert list(h.values()) == [b"2", b"5", b"4"]
    assert list(h.items()) == [(b"a", b"2"), (b"b", b"5"), (b"c", b"4")]
    assert h.delete(b"b") is True and h.delete(b"b") is False
    assert len(h) == 2
    # binary and empty fields / values
    h.set(b"", b"\x00\r\n")
    assert h.get(b"") == b"\x00\r\n"
    # the object is live: a new lookup sees the change
    assert db.get_collection(b"h", "hash").get(b"a") == b"2"


def test_encoding_conversions(db, small_limits):
    h = new(db)
    h.set_many([b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4"], 0)
    assert h.encoding() == "listpack"
    h.set(b"e", b"5")
    assert h.encoding() == "hashtable"
    for f in (b"a", b"b", b"c", b"d"):
        h.delete(f)
    assert h.encoding() == "hashtable", "one way"
    h2 = new(db, b"h2")
    h2.set(b"a", b"123456789")                      # value longer than 8
    assert h2.encoding() == "hashtable"
    h3 = new(db, b"h3")
    h3.set_many([b"a", b"1"] * 5, 0)                # 5 pairs > 4 entries: converts up front
    assert h3.encoding() == "hashtable" and len(h3) == 1
    h4 = new(db, b"h4")
    h4.set_many([b"123456789", b"1"], 0)
    assert h4.encoding() == "hashtable"
    h5 = new(db, b"h5")
    h5.set(b"a", b"1")
    h5.set_expire(b"a", T0 + 1000)
    assert h5.encoding() == "hashtable", "a volatile field needs a hashtable"
    assert db.encoding(b"h5") == "hashtable"


def test_copy_is_independent(db):
    h = new(db)
    h.set_many([b"a", b"1", b"b", b"2"], 0)
    h.set_expire(b"a", T0 + 50)
    c = h.copy()
    assert dict(c.items()) == dict(h.items()) and c.encoding() == h.encoding()
    assert c.get_expire(b"a") == T0 + 50
    c.set(b"a", b"x")
    c.delete(b"b")
    assert h.get(b"a") == b"1" and h.get(b"b") == b"2" and h.get_expire(b"a") == T0 + 50
    assert c.get_expire(b"a") is None
    assert h.memory_usage() > 0


def test_random_items(db):
    h = new(db)
    pairs = [(b"f%d" % i, b"v%d" % i) for i in range(20)]
    for f, v in pairs:
        h.set(f, v)
    got = h.random_items(5, True)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= set(pairs)
    assert h.random_items(50, True) == pairs
    got = h.random_items(200, False)
    assert len(got) == 200 and set(got) <= set(pairs) and len(set(got)) > 5
    # draws after deletions and additions only return live fields, and reach new ones
    for f, _ in pairs[:15]:
        h.delete(f)
    live = set(pairs[15:])
    got = h.random_items(1, False) + h.random_items(2, True)
    assert set(got) <= live
    big = [(b"g%d" % i, b"w") for i in range(1000)]
    for f, v in big:
        h.set(f, v)
    live |= set(big)
    got = h.random_items(300, False)
    assert len(got) == 300 and set(got) <= live and len(set(got)) > 200
    got = h.random_items(10, True)
    assert len(set(got)) == 10 and set(got) <= live
    for f, _ in big[:900]:
        h.delete(f)
    live -= set(big[:900])
    got = h.random_items(40, False)
    assert set(got) <= live


def test_scan_guarantee(db, small_limits):
    h = new(db)
    for i in range(300):
        h.set(b"f%d" % i, b"v")
    assert h.encoding() == "hashtable"
    seen = []
    cursor, part = h.scan(0, 10)
    seen += part
    for i in range(300, 400):
        h.set(b"f%d" % i, b"v")          # added during the iteration
    h.delete(b"f0")
    while cursor:
        cursor, part = h.scan(cursor, random.randint(1, 30))
        seen += part
    assert {b"f%d" % i for i in range(1, 300)} <= set(seen)
    # a fresh iteration sees the new fields
    seen = set()
    cursor = 0
    while True:
        cursor, part = h.scan(cursor, 50)
        seen |= set(part)
        if not cursor:
            break
    assert seen == {b"f%d" % i for i in range(1, 400)}


def test_field_expiry(db):
    h = new(db)
    h.set_many([b"a", b"1", b"b", b"2", b"c", b"3"], 0)
    assert h.get_expire(b"a") is None and h.volatile_count() == 0
    assert h.has_expired(T0 + 10**9) is False
    assert h.set_expire(b"zz", T0) is False
    assert h.set_expire(b"a", T0 + 100) and h.set_expire(b"b", T0 + 50)
    assert h.set_expire(b"a", T0 + 200)           # replaces
    assert h.get_expire(b"a") == T0 + 200 and h.volatile_count() == 2
    assert sorted(h.volatile_items()) == [(b"a", T0 + 200), (b"b", T0 + 50)]
    assert h.has_expired(T0 + 50) is False, "strict: alive at exactly its time"
    assert h.has_expired(T0 + 51) is True
    assert h.pop_expired(T0 + 51) == [b"b"]
    assert not h.contains(b"b") and len(h) == 2 and h.volatile_count() == 1
    assert h.persist(b"a") is True and h.persist(b"a") is False
    assert h.get_expire(b"a") is None and h.has_expired(T0 + 10**9) is False
    # set() clears the expiry time unless keep_ttl; set_many clears it; delete removes it
    h.set_expire(b"a", T0 + 10)
    h.set(b"a", b"x", keep_ttl=True)
    assert h.get_expire(b"a") == T0 + 10
    h.set(b"a", b"y")
    assert h.get_expire(b"a") is None
    h.set_expire(b"a", T0 + 10)
    h.set_many([b"a", b"z"], 0)
    assert h.get_expire(b"a") is None and not h.has_expired(T0 + 100)
    h.set_expire(b"c", T0 + 10)
    h.delete(b"c")
    assert h.volatile_count() == 0 and not h.has_expired(T0 + 100)
    h.set(b"c", b"3")
    assert h.get_expire(b"c") is None, "a re-created field has no expiry time"


def test_pop_expired_limit_and_order(db):
    h = new(db)
    for i in range(10):
        h.set(b"f%d" % i, b"v")
        h.set_expire(b"f%d" % i, T0 + 100 - i)
    h.set(b"keep", b"v")
    assert h.pop_expired(T0 + 1000, 3) == [b"f9", b"f8", b"f7"], "earliest first"
    assert h.has_expired(T0 + 1000)
    assert h.pop_expired(T0 + 95) == [b"f6"], "f5 expires at exactly T0 + 95: still alive"
    assert len(h.pop_expired(T0 + 1000)) == 6
    assert list(h.fields()) == [b"keep"] and h.volatile_count() == 0


LONG_FIELDS = [b"f" * 600, b"f" * 600 + b"a", b"f" * 600 + b"b", b"g" * 3000, b"f" * 459,
               b"f" * 458, b"h" * 100000, b"x"]


def test_fields_of_any_length(db):
    """Fields of any length (the lmdb engine keys long ones by a prefix + SHA-256 name):
    set/get/overwrite/delete, insertion order, scan, expiry times and their pops."""
    h = new(db)
    for i, f in enumerate(LONG_FIELDS):
        assert h.set(f, b"%d" % i) is True
    assert h.set(LONG_FIELDS[1], b"new") is False
    assert [f for f, _ in h.items()] == LONG_FIELDS
    assert h.get(LONG_FIELDS[1]) == b"new" and h.get(b"f" * 600 + b"c") is None
    assert not h.contains(b"f" * 601 + b"a")
    cursor, seen = 0, []
    while True:
        cursor, part = h.scan(cursor, 2)
        seen += [p if isinstance(p, bytes) else p[0] for p in part]
        if cursor == 0:
            break
    assert sorted(seen) == sorted(LONG_FIELDS)
    assert h.set_expire(LONG_FIELDS[0], T0 + 10) and h.set_expire(LONG_FIELDS[6], T0 + 5)
    assert h.get_expire(LONG_FIELDS[0]) == T0 + 10 and h.get_expire(LONG_FIELDS[2]) is None
    assert sorted(h.volatile_items()) == sorted([(LONG_FIELDS[0], T0 + 10),
                                                 (LONG_FIELDS[6], T0 + 5)])
    assert h.pop_expired(T0 + 20) == [LONG_FIELDS[6], LONG_FIELDS[0]]
    assert h.delete(LONG_FIELDS[2]) is True and h.delete(LONG_FIELDS[2]) is False
    assert [f for f, _ in h.copy().items()] == [LONG_FIELDS[i] for i in (1, 3, 4, 5, 7)]
    assert len(h) == 5


def test_random_items_of_a_big_hash_stay_uniform_after_deletions(db):
    """HRANDFIELD's draws from a 2,000-field hash with 900 of its first 1,000 fields deleted: uniform
    over the live fields, with their values (the lmdb engine samples the field order)."""
    h = new(db)
    for i in range(2000):
        h.set(b"f%d" % i, b"v%d" % i)
    for i in range(1000):
        if i % 10:
            h.delete(b"f%d" % i)
    live = {(b"f%d" % i, b"v%d" % i) for i in range(2000) if i >= 1000 or i % 10 == 0}
    assert h.encoding() == "hashtable"
    random.seed(3)
    counts = Counter(h.random_items(110_000, False))
    assert set(counts) == live
    assert min(counts.values()) > 50 and max(counts.values()) < 160
    for _ in range(20):
        got = h.random_items(100, True)
        assert len(set(got)) == 100 and set(got) <= live
