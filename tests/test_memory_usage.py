"""MEMORY USAGE gives a sensible estimate for every type: more than the payload it holds,
growing with the value, and null for a missing key. valkeyd reports its own footprint
(Python objects, as used_memory and maxmemory see it), not Redis's byte counts."""
import pytest

FILL = {
    "string": lambda r, k, n: r.set(k, b"v" * (8 * n)),
    "list": lambda r, k, n: r.rpush(k, *[b"element-%06d" % i for i in range(n)]),
    "set": lambda r, k, n: r.sadd(k, *[b"member-%06d" % i for i in range(n)]),
    "intset": lambda r, k, n: r.sadd(k, *range(n)),
    "hash": lambda r, k, n: r.hset(k, mapping={b"field-%06d" % i: b"v%d" % i for i in range(n)}),
    "zset": lambda r, k, n: r.zadd(k, {b"member-%06d" % i: i for i in range(n)}),
}
PAYLOAD = {"string": 8, "list": 14, "set": 13, "intset": 2, "hash": 14, "zset": 13}


@pytest.mark.parametrize("kind", sorted(FILL))
def test_memory_usage_grows_with_the_value(r, kind):
    FILL[kind](r, "small", 3)
    FILL[kind](r, "big", 2000)
    small = r.execute_command("MEMORY", "USAGE", "small")
    big = r.execute_command("MEMORY", "USAGE", "big")
    assert 0 < small < big
    assert big >= 2000 * PAYLOAD[kind]          # at least the bytes it holds
    assert big <= 2000 * PAYLOAD[kind] * 40     # and not absurdly more
    # SAMPLES 0 (every element) stays in the same range.
    every = r.execute_command("MEMORY", "USAGE", "big", "SAMPLES", "0")
    assert big // 2 <= every <= big * 2


def test_memory_usage_missing_key_and_errors(r):
    assert r.execute_command("MEMORY", "USAGE", "nosuch") is None
    r.set("k", "v")
    with pytest.raises(Exception, match="syntax error"):
        r.execute_command("MEMORY", "USAGE", "k", "SAMPLES")
