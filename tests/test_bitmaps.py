"""The bitmap command family (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO) against
Redis 7.2.4's behaviour (``src/bitops.c``).

Fixed command lists go to valkeyd and to a real valkey-server over raw sockets, and the reply
bytes must be equal in RESP2 and RESP3. Where Valkey 8.0 differs from Redis 7.2.4 (BITCOUNT and
BITPOS argument checks, see ``test_bitcount_bitpos_redis_724_argument_order``) the Redis
behaviour is asserted on its own. A bit-by-bit model in this file checks BITCOUNT, BITPOS and
BITFIELD results independently of any server.
"""
from __future__ import annotations

import random
import time

import pytest

import redis

from harness import RawClient as Raw, aof_commands, same_raw as same, start_valkeyd

# -- a raw RESP client: exact reply bytes ---------------------------------------------------------




def has_command(r, name: str) -> bool:
    port = r.connection_pool.connection_kwargs["port"]
    c = Raw(port)
    try:
        return c.cmd("COMMAND", "INFO", name) not in (b"*1\r\n*-1\r\n", b"*1\r\n$-1\r\n")
    finally:
        c.close()


def need(r, *names):
    for n in names:
        assert has_command(r, n), f"{n.upper()} is missing from valkeyd"


def other_type_key(r, key: str) -> None:
    """Create ``key`` holding a value that is not a string (whichever type valkeyd has)."""
    for cmd in (("RPUSH", key, "x"), ("SADD", key, "x"), ("HSET", key, "f", "v"),
                ("ZADD", key, "1", "x")):
        if has_command(r, cmd[0]):
            r.execute_command(*cmd)
            return
    raise AssertionError("no collection type in valkeyd")


def dirty(r) -> int:
    return r.info("persistence")["rdb_changes_since_last_save"]


# -- a bit-by-bit model of Redis 7.2.4 (independent of the implementation) -----------------------


def bits_of(s: bytes) -> list[int]:
    return [(b >> (7 - i)) & 1 for b in s for i in range(8)]


def norm(start, end, total):
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    end = min(end, total - 1)
    return start, end


def model_bitcount(s: bytes, start=None, end=None, unit="BYTE"):
    if start is None:
        return sum(bits_of(s))
    if start < 0 and end < 0 and start > end:
        return 0
    bits = bits_of(s)
    if unit == "BIT":
        a, b = norm(start, end, len(bits))
        return sum(bits[a:b + 1]) if a <= b else 0
    a, b = norm(start, end, len(s))
    return sum(bits[a * 8:(b + 1) * 8]) if a <= b else 0


def model_bitpos(s: bytes, bit: int, start=None, end=None, unit="BYTE"):
    bits = bits_of(s)
    end_given = end is not None
    if start is None:
        a, b = 0, len(bits) - 1
    elif unit == "BIT":
        a, b = norm(start, end, len(bits))
    else:
        a, b = norm(start, len(s) - 1 if end is None else end, len(s))
        a, b = a * 8, b * 8 + 7
    if a > b:
        return -1
    for i in range(a, b + 1):
        if bits[i] == bit:
            return i
    if bit == 1 or end_given:
        return -1
    return b + 1


def model_field_get(s: bytes, off: int, width: int, signed: bool) -> int:
    bits = bits_of(s)
    v = 0
    for i in range(off, off + width):
        v = (v << 1) | (bits[i] if i < len(bits) else 0)
    if signed and v >> (width - 1):
        v -= 1 << width
    return v


# -- SETBIT / GETBIT ------------------------------------------------------------------------------


def test_setbit_getbit_basic(rr):
    assert rr.setbit("k", 7, 1) == 0
    assert rr.get("k") == b"\x01"
    assert rr.setbit("k", 7, 1) == 1
    assert rr.setbit("k", 7, 0) == 1
    assert rr.get("k") == b"\x00"
    assert rr.setbit("k", 100, 1) == 0
    assert rr.strlen("k") == 13
    assert rr.getbit("k", 100) == 1
    assert rr.getbit("k", 99) == 0
    assert rr.getbit("k", 10_000) == 0
    assert rr.getbit("missing", 0) == 0
    assert rr.exists("missing") == 0
    # Bit 0 is the most significant bit of the first byte.
    rr.set("s", "`")  # 0b01100000
    assert [rr.getbit("s", i) for i in range(8)] == [0, 1, 1, 0, 0, 0, 0, 0]
    assert rr.setbit("s", 7, 1) == 0
    assert rr.get("s") == b"a"


def test_setbit_zero_on_missing_key_creates_it(r):
    before = dirty(r)
    assert r.setbit("k", 20, 0) == 0
    assert r.get("k") == b"\x00\x00\x00"
    assert dirty(r) == before + 1


def test_setbit_getbit_random_against_model(r):
    rnd = random.Random(7)
    model = bytearray()
    for _ in range(400):
        off = rnd.randrange(0, 300)
        on = rnd.randrange(2)
        byte = off >> 3
        if len(model) <= byte:
            model.extend(bytes(byte + 1 - len(model)))
        old = (model[byte] >> (7 - (off & 7))) & 1
        if on:
            model[byte] |= 0x80 >> (off & 7)
        else:
            model[byte] &= ~(0x80 >> (off & 7)) & 0xFF
        assert r.setbit("k", off, on) == old
        probe = rnd.randrange(0, 320)
        want = bits_of(bytes(model))[probe] if probe < len(model) * 8 else 0
        assert r.getbit("k", probe) == want
    assert r.get("k") == bytes(model)


SETBIT_CASES = [
    ("SETBIT", "k", "0", "1"), ("SETBIT", "k", "0", "1"), ("SETBIT", "k", "15", "1"),
    ("GET", "k"), ("SETBIT", "k", "-1", "1"), ("SETBIT", "k", "abc", "1"),
    ("SETBIT", "k", "1.5", "1"), ("SETBIT", "k", " 1", "1"), ("SETBIT", "k", "+1", "1"),
    ("SETBIT", "k", "01", "1"), ("SETBIT", "k", "", "1"),
    ("SETBIT", "k", "4294967296", "1"), ("SETBIT", "k", "9223372036854775807", "1"),
    ("SETBIT", "k", "9223372036854775808", "1"),
    ("SETBIT", "k", "1", "2"), ("SETBIT", "k", "1", "-1"), ("SETBIT", "k", "1", "abc"),
    ("SETBIT", "k", "1", ""), ("SETBIT", "k", "1", "01"), ("SETBIT", "k", "1", "1.0"),
    ("SETBIT", "k", "-1", "5"),
    ("SETBIT", "k"), ("SETBIT", "k", "1"), ("SETBIT", "k", "1", "1", "1"),
    ("GETBIT", "k", "0"), ("GETBIT", "k", "15"), ("GETBIT", "k", "16"),
    ("GETBIT", "k", "-1"), ("GETBIT", "k", "x"), ("GETBIT", "k", "4294967296"),
    ("GETBIT", "nokey", "0"), ("GETBIT", "nokey", "-1"), ("GETBIT", "k"),
    ("GETBIT", "k", "1", "2"),
    ("SET", "n", "12345"), ("GETBIT", "n", "2"), ("GETBIT", "n", "3"), ("GETBIT", "n", "39"),
    ("GETBIT", "n", "40"), ("SETBIT", "n", "6", "0"), ("GET", "n"),
    ("SET", "e", ""), ("GETBIT", "e", "0"), ("SETBIT", "e", "0", "0"), ("GET", "e"),
]


def test_setbit_getbit_match_reference(pair):
    for case in SETBIT_CASES:
        same(pair, *case)


def test_setbit_keeps_ttl(r):
    r.set("k", "a", ex=100)
    r.setbit("k", 100, 1)
    assert 0 < r.ttl("k") <= 100


# -- BITCOUNT -------------------------------------------------------------------------------------


BITCOUNT_CASES = [
    ("SET", "s", "foobar"), ("BITCOUNT", "s"), ("BITCOUNT", "s", "0", "0"),
    ("BITCOUNT", "s", "1", "1"), ("BITCOUNT", "s", "0", "-1"), ("BITCOUNT", "s", "-2", "-1"),
    ("BITCOUNT", "s", "-100", "100"), ("BITCOUNT", "s", "5", "3"), ("BITCOUNT", "s", "6", "10"),
    ("BITCOUNT", "s", "-1", "-2"), ("BITCOUNT", "s", "0", "-100"),
    ("BITCOUNT", "s", "5", "30", "BIT"), ("BITCOUNT", "s", "5", "30", "bit"),
    ("BITCOUNT", "s", "5", "30", "BYTE"), ("BITCOUNT", "s", "0", "0", "BIT"),
    ("BITCOUNT", "s", "1", "6", "BIT"), ("BITCOUNT", "s", "-5", "-1", "BIT"),
    ("BITCOUNT", "s", "3", "3", "BIT"), ("BITCOUNT", "s", "9", "8", "BIT"),
    ("BITCOUNT", "s", "47", "100", "BIT"), ("BITCOUNT", "s", "48", "100", "BIT"),
    ("BITCOUNT", "s", "-100", "-40", "BIT"), ("BITCOUNT", "s", "0", "-1", "BIT"),
    ("BITCOUNT", "s", "0", "1", "FOO"), ("BITCOUNT", "s", "0", "1", "BIT", "x"),
    ("BITCOUNT", "s", "0", "1", "BIT\x00x"), ("BITCOUNT", "s", "x", "1"),
    ("BITCOUNT", "s", "0", "x"), ("BITCOUNT", "s", "0", "1.5"),
    ("BITCOUNT", "s", "9223372036854775807", "9223372036854775807", "BIT"),
    ("BITCOUNT", "s", "-9223372036854775808", "9223372036854775807"),
    ("BITCOUNT", "s", "-9223372036854775808", "-1", "BIT"),
    ("BITCOUNT", "nokey"), ("BITCOUNT", "nokey", "0", "-1"), ("BITCOUNT", "nokey", "0", "1", "BIT"),
    ("SET", "n", "-12345"), ("BITCOUNT", "n"), ("BITCOUNT", "n", "1", "2"),
    ("SET", "e", ""), ("BITCOUNT", "e"), ("BITCOUNT", "e", "0", "-1"),
    ("BITCOUNT", "e", "0", "0", "BIT"), ("BITCOUNT",), ("BITCOUNT", "s", "-0", "1"),
    ("BITCOUNT", "s", "0", "-0"),
]


def test_bitcount_match_reference(pair):
    for case in BITCOUNT_CASES:
        same(pair, *case)


def test_bitcount_random_against_model(r):
    rnd = random.Random(11)
    for _ in range(60):
        s = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 12)))
        r.set("k", s)
        assert r.bitcount("k") == model_bitcount(s)
        for _ in range(8):
            a, b = rnd.randrange(-100, 100), rnd.randrange(-100, 100)
            unit = rnd.choice(["BYTE", "BIT"])
            assert r.execute_command("BITCOUNT", "k", a, b, unit) == \
                model_bitcount(s, a, b, unit), (s, a, b, unit)
            a, b = rnd.randrange(-14, 14), rnd.randrange(-14, 14)
            assert r.bitcount("k", a, b) == model_bitcount(s, a, b), (s, a, b)


def test_bitcount_bitpos_redis_724_argument_order(r):
    """Redis 7.2.4 looks the key up before it parses the range: a missing key replies 0 (BITPOS
    with bit 1: -1) whatever the other arguments are, and BITCOUNT's early "start > end with
    both negative" reply comes before the BYTE|BIT token is read. Valkey 8.0 validates the
    arguments first (and accepts ``BITCOUNT key start``), so this is not compared with it."""
    assert r.execute_command("BITCOUNT", "nokey", "a", "b") == 0
    assert r.execute_command("BITCOUNT", "nokey", "0") == 0
    assert r.execute_command("BITCOUNT", "nokey", "1", "2", "3", "4") == 0
    assert r.execute_command("BITCOUNT", "nokey", "0", "1", "FOO") == 0
    assert r.execute_command("BITPOS", "nokey", "0", "a") == 0
    assert r.execute_command("BITPOS", "nokey", "1", "0", "1", "FOO") == -1
    assert r.execute_command("BITPOS", "nokey", "0", "1", "2", "BIT", "x") == 0
    r.set("s", "foobar")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("BITCOUNT", "s", "0")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("BITCOUNT", "s", "0", "1", "BIT", "x")
    assert r.execute_command("BITCOUNT", "s", "-1", "-5", "FOO") == 0
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("BITCOUNT", "s", "-5", "-1", "FOO")
    # the bit argument is checked before the key
    with pytest.raises(redis.ResponseError, match="^The bit argument must be 1 or 0.$"):
        r.execute_command("BITPOS", "nokey", "2")


def test_bitcount_large_string_is_fast(r):
    """8 MB: a per-bit (or per-byte) Python loop would take seconds."""
    data = random.Random(3).randbytes(8 * 1024 * 1024)
    r.set("big", data)
    want = int.from_bytes(data, "little").bit_count()
    t = time.monotonic()
    assert r.bitcount("big") == want
    assert r.bitcount("big", 1, -2) == want - bin(data[0]).count("1") - bin(data[-1]).count("1")
    assert r.execute_command("BITCOUNT", "big", 3, 8 * len(data) - 2, "BIT") == \
        want - bits_of(data[:1])[:3].count(1) - bits_of(data[-1:])[-1:].count(1)
    assert r.bitpos("big", 1, 100) == model_bitpos(data[100:120], 1) + 800
    assert time.monotonic() - t < 3.0


def test_bitpos_large_strings(r):
    n = 3 * 1024 * 1024 + 5
    r.set("z", bytes(n))
    assert r.bitpos("z", 1) == -1
    assert r.bitpos("z", 0, 7) == 56
    r.setbit("z", 8 * n - 3, 1)
    assert r.bitpos("z", 1) == 8 * n - 3
    assert r.bitpos("z", 1, 1, -2) == -1
    assert r.execute_command("BITPOS", "z", 1, 9, 8 * n - 4, "BIT") == -1
    assert r.execute_command("BITPOS", "z", 1, 9, 8 * n - 3, "BIT") == 8 * n - 3
    assert r.bitcount("z") == 1
    assert r.bitcount("z", 1, -2) == 0
    r.set("f", b"\xff" * n)
    assert r.bitpos("f", 0) == 8 * n
    assert r.bitpos("f", 0, 2) == 8 * n
    assert r.bitpos("f", 0, 2, -1) == -1
    r.setbit("f", 8 * n - 12, 0)
    assert r.bitpos("f", 0, 2, -1) == 8 * n - 12
    assert r.execute_command("BITPOS", "f", 0, 5, 8 * n - 13, "BIT") == -1
    assert r.bitcount("f") == 8 * n - 1
    assert r.execute_command("BITCOUNT", "f", 3, 8 * n - 2, "BIT") == 8 * n - 5


# -- BITPOS ---------------------------------------------------------------------------------------


BITPOS_CASES = [
    ("SET", "s", "\xff\xf0\x00"), ("BITPOS", "s", "0"), ("BITPOS", "s", "1"),
    ("BITPOS", "s", "1", "2"), ("BITPOS", "s", "0", "2"), ("BITPOS", "s", "1", "2", "-1"),
    ("BITPOS", "s", "0", "0", "0"), ("BITPOS", "s", "0", "0", "1"),
    ("BITPOS", "s", "1", "3"), ("BITPOS", "s", "0", "3"), ("BITPOS", "s", "0", "-1"),
    ("BITPOS", "s", "1", "-1"), ("BITPOS", "s", "0", "-100", "-3"),
    ("BITPOS", "s", "1", "7", "15", "BIT"), ("BITPOS", "s", "0", "7", "15", "BIT"),
    ("BITPOS", "s", "0", "0", "3", "BIT"), ("BITPOS", "s", "0", "1", "11", "BIT"),
    ("BITPOS", "s", "0", "12", "12", "BIT"), ("BITPOS", "s", "1", "12", "23", "BIT"),
    ("BITPOS", "s", "0", "-12", "-1", "BIT"), ("BITPOS", "s", "1", "5", "3", "BIT"),
    ("BITPOS", "s", "1", "0", "-1", "bit"), ("BITPOS", "s", "0", "0", "-1", "byte"),
    ("BITPOS", "s", "0", "0", "-1", "FOO"), ("BITPOS", "s", "0", "x", "-1", "FOO"),
    ("BITPOS", "s", "0", "0", "x", "FOO"), ("BITPOS", "s", "0", "0", "x", "BIT"),
    ("BITPOS", "s", "0", "0", "1", "BIT", "x"), ("BITPOS", "s", "2"), ("BITPOS", "s", "-1"),
    ("BITPOS", "s", "x"), ("BITPOS", "s", "1.0"), ("BITPOS", "s", "1", "x"),
    ("BITPOS", "s", "1", "0", "1.5"),
    ("SET", "f", "\xff\xff\xff"), ("BITPOS", "f", "0"), ("BITPOS", "f", "0", "0"),
    ("BITPOS", "f", "0", "1"), ("BITPOS", "f", "0", "0", "-1"), ("BITPOS", "f", "0", "5"),
    ("BITPOS", "f", "0", "2", "2"), ("BITPOS", "f", "0", "3", "20", "BIT"),
    ("BITPOS", "f", "1", "3", "20", "BIT"), ("BITPOS", "f", "0", "-1", "-1"),
    ("SET", "z", "\x00\x00"), ("BITPOS", "z", "1"), ("BITPOS", "z", "0"),
    ("BITPOS", "z", "1", "0", "-1"), ("BITPOS", "z", "1", "1", "100", "BIT"),
    ("SET", "e", ""), ("BITPOS", "e", "0"), ("BITPOS", "e", "1"), ("BITPOS", "e", "0", "0"),
    ("BITPOS", "e", "0", "0", "-1", "BIT"),
    ("SET", "n", "10"), ("BITPOS", "n", "1"), ("BITPOS", "n", "0", "1"),
    ("BITPOS", "nokey", "1"), ("BITPOS", "nokey", "0"), ("BITPOS", "nokey", "0", "5", "10"),
    ("BITPOS", "nokey", "x"), ("BITPOS", "k"), ("BITPOS",),
]


def test_bitpos_match_reference(pair):
    for case in BITPOS_CASES:
        same(pair, *case)


def test_bitpos_random_against_model(r):
    rnd = random.Random(5)
    pool = [0x00, 0xFF, 0x80, 0x01, 0x7F, 0xFE, 0x10]
    for _ in range(60):
        s = bytes(rnd.choice(pool) for _ in range(rnd.randrange(0, 10)))
        r.set("k", s)
        for bit in (0, 1):
            assert r.bitpos("k", bit) == model_bitpos(s, bit)
            a = rnd.randrange(-12, 12)
            assert r.bitpos("k", bit, a) == model_bitpos(s, bit, a)
            for _ in range(4):
                a, b = rnd.randrange(-12, 12), rnd.randrange(-12, 12)
                assert r.bitpos("k", bit, a, b) == model_bitpos(s, bit, a, b), (s, bit, a, b)
                a, b = rnd.randrange(-90, 90), rnd.randrange(-90, 90)
                got = r.execute_command("BITPOS", "k", bit, a, b, "BIT")
                assert got == model_bitpos(s, bit, a, b, "BIT"), (s, bit, a, b)


# -- BITOP ----------------------------------------------------------------------------------------


def test_bitop_results(rr):
    rr.set("a", b"\xf0\x0f\xaa")
    rr.set("b", b"\xff\x00")
    assert rr.bitop("AND", "d", "a", "b") == 3
    assert rr.get("d") == b"\xf0\x00\x00"
    assert rr.bitop("OR", "d", "a", "b") == 3
    assert rr.get("d") == b"\xff\x0f\xaa"
    assert rr.bitop("XOR", "d", "a", "b") == 3
    assert rr.get("d") == b"\x0f\x0f\xaa"
    assert rr.bitop("NOT", "d", "a") == 3
    assert rr.get("d") == b"\x0f\xf0\x55"
    assert rr.bitop("and", "d", "a", "nokey") == 3
    assert rr.get("d") == b"\x00\x00\x00"
    assert rr.bitop("Or", "d", "a") == 3
    assert rr.get("d") == b"\xf0\x0f\xaa"
    # destination among the sources
    assert rr.bitop("XOR", "a", "a", "b", "a") == 3
    assert rr.get("a") == b"\xff\x00\x00"


def test_bitop_empty_result_deletes_destination(r):
    r.set("d", "old", ex=100)
    before = dirty(r)
    assert r.bitop("OR", "d", "nokey1", "nokey2") == 0
    assert r.exists("d") == 0
    assert dirty(r) == before + 1
    assert r.bitop("OR", "d", "nokey1") == 0  # nothing to delete: not a change
    assert dirty(r) == before + 1
    r.set("e", "")
    assert r.bitop("NOT", "d", "e") == 0
    assert r.exists("d") == 0


def test_bitop_overwrites_destination_and_ttl(r):
    r.set("a", "x")
    r.set("d", "old", ex=100)
    assert r.bitop("OR", "d", "a") == 1
    assert r.ttl("d") == -1
    other_type_key(r, "coll")
    assert r.bitop("OR", "coll", "a") == 1
    assert r.get("coll") == b"x"


def test_bitop_random_against_python(r):
    rnd = random.Random(9)
    for _ in range(40):
        n = rnd.randrange(1, 5)
        vals = [rnd.randbytes(rnd.randrange(0, 40)) if rnd.random() > 0.15 else None
                for _ in range(n)]
        keys = []
        for i, v in enumerate(vals):
            k = f"s{i}"
            r.delete(k)
            if v is not None:
                r.set(k, v)
            keys.append(k)
        m = max((len(v) for v in vals if v is not None), default=0)
        padded = [(v or b"").ljust(m, b"\0") for v in vals]
        for op in ("AND", "OR", "XOR"):
            want = bytearray(padded[0])
            for p in padded[1:]:
                for i in range(m):
                    want[i] = {"AND": want[i] & p[i], "OR": want[i] | p[i],
                               "XOR": want[i] ^ p[i]}[op]
            assert r.bitop(op, "dest", *keys) == m
            assert r.get("dest") == (bytes(want) if m else None)
        first = vals[0] or b""
        assert r.bitop("NOT", "dest", keys[0]) == len(first)
        assert r.get("dest") == (bytes(255 - b for b in first) if first else None)


def test_bitop_large_is_fast(r):
    rnd = random.Random(1)
    a, b = rnd.randbytes(4 << 20), rnd.randbytes(3 << 20)
    r.set("a", a)
    r.set("b", b)
    t = time.monotonic()
    assert r.bitop("AND", "d", "a", "b") == len(a)
    got = r.get("d")
    assert got == (int.from_bytes(a, "little") & int.from_bytes(b, "little")).to_bytes(
        len(a), "little")
    assert r.bitop("NOT", "d", "a") == len(a)
    assert r.getrange("d", 0, 99) == bytes(255 - x for x in a[:100])
    assert time.monotonic() - t < 5.0


BITOP_CASES = [
    ("SET", "a", "foobar"), ("SET", "b", "abcdef\x00\xff"), ("SET", "n", "123"),
    ("BITOP", "AND", "d", "a", "b"), ("GET", "d"), ("OBJECT", "ENCODING", "d"),
    ("BITOP", "OR", "d", "a", "b", "n"), ("GET", "d"), ("BITOP", "XOR", "d", "b", "a"),
    ("GET", "d"), ("BITOP", "NOT", "d", "n"), ("GET", "d"), ("OBJECT", "ENCODING", "d"),
    ("BITOP", "NOT", "d", "a", "b"), ("BITOP", "NOT", "d"), ("BITOP", "FOO", "d", "a"),
    ("BITOP", "ANDX", "d", "a"), ("BITOP", "AND\x00x", "d", "a"), ("GET", "d"),
    ("BITOP", "xor", "d", "nokey"), ("EXISTS", "d"), ("BITOP", "AND", "d", "a", "nokey"),
    ("GET", "d"), ("BITOP", "NOT", "d", "nokey"), ("EXISTS", "d"), ("BITOP", "AND", "d"),
    ("BITOP", "AND"), ("BITOP", "AND", "n", "n"), ("GET", "n"), ("OBJECT", "ENCODING", "n"),
]


def test_bitop_match_reference(pair):
    for case in BITOP_CASES:
        same(pair, *case)


# -- BITFIELD -------------------------------------------------------------------------------------


def test_bitfield_basic(rr):
    assert rr.execute_command("BITFIELD", "k", "SET", "u8", "0", "255", "GET", "u8", "0") \
        == [0, 255]
    assert rr.get("k") == b"\xff"
    assert rr.execute_command("BITFIELD", "k", "GET", "i8", "0", "GET", "u4", "4",
                              "GET", "i4", "4", "GET", "u63", "0") == [-1, 15, -1, 255 << 55]
    # SET returns the old value, INCRBY the new one; #N means N * width
    assert rr.execute_command("BITFIELD", "k", "SET", "i16", "#1", "-300",
                              "INCRBY", "i16", "#1", "100", "GET", "i16", "16") == [0, -200, -200]
    assert rr.strlen("k") == 4
    assert rr.execute_command("BITFIELD", "k", "GET", "u16", "#1") == [0xFF38]
    # unaligned fields
    rr.delete("k")
    assert rr.execute_command("BITFIELD", "k", "SET", "u5", "7", "23") == [0]
    assert rr.get("k") == b"\x01\x70"
    assert rr.execute_command("BITFIELD", "k", "GET", "u5", "7", "GET", "i5", "7") == [23, -9]
    assert rr.execute_command("BITFIELD", "k") == []
    assert rr.execute_command("BITFIELD", "nokey") == []
    assert rr.execute_command("BITFIELD", "nokey", "GET", "i64", "1000") == [0]
    assert rr.exists("nokey") == 0


def test_bitfield_overflow_modes(rr):
    cmd = rr.execute_command
    assert cmd("BITFIELD", "k", "SET", "u8", "0", "250") == [0]
    assert cmd("BITFIELD", "k", "INCRBY", "u8", "0", "10") == [4]  # WRAP is the default
    assert cmd("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300",
               "INCRBY", "u8", "0", "-1000") == [255, 0]
    assert cmd("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "256",
               "INCRBY", "u8", "0", "-1", "INCRBY", "u8", "0", "7") == [None, None, 7]
    assert cmd("BITFIELD", "k", "OVERFLOW", "fail", "SET", "u8", "0", "256",
               "OVERFLOW", "wrap", "SET", "u8", "0", "257", "GET", "u8", "0") == [None, 7, 1]
    # signed
    assert cmd("BITFIELD", "s", "SET", "i8", "0", "127", "INCRBY", "i8", "0", "1") == [0, -128]
    assert cmd("BITFIELD", "s", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-1",
               "INCRBY", "i8", "0", "-200", "SET", "i8", "0", "1000", "GET", "i8", "0") \
        == [-128, -128, -128, 127]
    assert cmd("BITFIELD", "s", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "1",
               "INCRBY", "i8", "0", "-255") == [None, -128]
    # 64-bit signed edges
    assert cmd("BITFIELD", "w", "SET", "i64", "0", "9223372036854775807",
               "INCRBY", "i64", "0", "1",
               "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-1",
               "OVERFLOW", "FAIL", "INCRBY", "i64", "0", "-1") == \
        [0, -9223372036854775808, -9223372036854775808, None]
    # u63 / i1 / u1
    assert cmd("BITFIELD", "x", "SET", "u63", "1", "9223372036854775807",
               "GET", "u63", "1", "GET", "i1", "0", "GET", "i1", "1", "GET", "u1", "1") == \
        [0, 9223372036854775807, 0, -1, 1]
    assert cmd("BITFIELD", "x", "OVERFLOW", "SAT", "INCRBY", "u63", "1", "5",
               "INCRBY", "i1", "0", "5", "INCRBY", "i1", "0", "-5") == \
        [9223372036854775807, 0, -1]


def test_bitfield_random_against_model(r):
    """GET of random widths and offsets over random data, against the bit-by-bit model."""
    rnd = random.Random(13)
    for _ in range(20):
        s = rnd.randbytes(rnd.randrange(0, 12))
        r.set("k", s)
        args, want = [], []
        for _ in range(10):
            signed = rnd.random() < 0.5
            width = rnd.randrange(1, 65 if signed else 64)
            off = rnd.randrange(0, 110)
            args += ["GET", f"{'i' if signed else 'u'}{width}", str(off)]
            want.append(model_field_get(s, off, width, signed))
        assert r.execute_command("BITFIELD_RO", "k", *args) == want
        assert r.execute_command("BITFIELD", "k", *args) == want
        assert r.get("k") == s


BITFIELD_CASES = [
    ("BITFIELD", "k", "GET", "i8", "0", "GET", "u4", "#3", "SET", "i5", "#2", "-1",
     "INCRBY", "u7", "3", "200"),
    ("GET", "k"), ("OBJECT", "ENCODING", "k"),
    ("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u7", "3", "200", "OVERFLOW", "FAIL",
     "INCRBY", "u7", "3", "200", "OVERFLOW", "WRAP", "INCRBY", "i64", "0",
     "9223372036854775807", "INCRBY", "i64", "0", "9223372036854775807"),
    ("BITFIELD", "k", "GET", "u64", "0"), ("BITFIELD", "k", "GET", "i65", "0"),
    ("BITFIELD", "k", "GET", "i0", "0"), ("BITFIELD", "k", "GET", "u0", "0"),
    ("BITFIELD", "k", "GET", "I8", "0"), ("BITFIELD", "k", "GET", "x8", "0"),
    ("BITFIELD", "k", "GET", "i", "0"), ("BITFIELD", "k", "GET", "", "0"),
    ("BITFIELD", "k", "GET", "i08", "0"), ("BITFIELD", "k", "GET", "i-8", "0"),
    ("BITFIELD", "k", "GET", "i8\x00z", "0"), ("BITFIELD", "k", "GET", "i+8", "0"),
    ("BITFIELD", "k", "GET", "i8", "-1"), ("BITFIELD", "k", "GET", "i8", "#-1"),
    ("BITFIELD", "k", "GET", "i8", "##1"), ("BITFIELD", "k", "GET", "i8", "#"),
    ("BITFIELD", "k", "GET", "i8", "x"), ("BITFIELD", "k", "GET", "i8", "4294967296"),
    ("BITFIELD", "k", "GET", "i8", "#536870912"), ("BITFIELD", "k", "GET", "i8", "#536870911"),
    ("BITFIELD", "k", "GET", "i8", "#1152921504606846977"),
    ("BITFIELD", "k", "GET", "i64", "#288230376151711745"),
    ("BITFIELD", "k", "SET", "i8", "0", "abc"), ("BITFIELD", "k", "SET", "i8", "0", "1.5"),
    ("BITFIELD", "k", "SET", "i8", "0", "9223372036854775808"),
    ("BITFIELD", "k", "SET", "i8", "0"), ("BITFIELD", "k", "GET", "i8"),
    ("BITFIELD", "k", "INCRBY", "i8", "0"), ("BITFIELD", "k", "OVERFLOW"),
    ("BITFIELD", "k", "OVERFLOW", "FOO", "GET", "i8", "0"),
    ("BITFIELD", "k", "GET", "i8", "0", "OVERFLOW", "SATX"),
    ("BITFIELD", "k", "FOO"), ("BITFIELD", "k", "GET", "i8", "0", "FOO"),
    ("BITFIELD", "k", "GETX", "i8", "0"), ("BITFIELD", "k", "get\x00x", "i8", "0"),
    ("BITFIELD", "k", "GET", "i8", "0", "SET", "u99", "0", "1"),
    ("BITFIELD", "k", "SET", "i8", "x", "1", "GET", "x8", "0"),
    ("BITFIELD_RO", "k", "SET", "i8", "0", "1"), ("BITFIELD_RO", "k", "INCRBY", "i8", "0", "1"),
    ("BITFIELD_RO", "k", "GET", "i8", "0", "GET", "u63", "5", "GET", "i64", "#1"),
    ("BITFIELD_RO", "k", "OVERFLOW", "SAT", "GET", "i8", "0"),
    ("BITFIELD_RO", "k", "OVERFLOW", "BAD", "GET", "i8", "0"),
    ("BITFIELD_RO", "k", "GET", "i8", "0", "SET", "i8", "0", "x"),
    ("BITFIELD_RO", "nokey", "SET", "i8", "0", "1"), ("BITFIELD_RO", "k"), ("BITFIELD_RO",),
    ("BITFIELD",),
    # Redis's overflow checks, wrap-arounds included
    ("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i63", "#0", "-9223372036854775808"),
    ("BITFIELD", "k", "OVERFLOW", "WRAP", "SET", "i63", "#0", "-9223372036854775808"),
    ("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u8", "#0", "-1"),
    ("BITFIELD", "k", "OVERFLOW", "WRAP", "SET", "u8", "#0", "-1"),
    ("BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u8", "#0", "-1"),
    ("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u63", "#0", "-9223372036854775808"),
    ("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i8", "#0", "-9223372036854775808", "GET", "i8",
     "0"),
    ("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i64", "#1", "-9223372036854775808",
     "INCRBY", "i64", "#1", "-1", "OVERFLOW", "WRAP", "INCRBY", "i64", "#1", "-1"),
    ("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u63", "0", "9223372036854775807",
     "INCRBY", "u63", "0", "-9223372036854775808", "INCRBY", "u2", "0", "-9223372036854775808"),
    ("BITFIELD", "k", "SET", "u62", "0", "4611686018427387903",
     "INCRBY", "u62", "0", "9223372036854775807", "INCRBY", "u62", "0", "-9223372036854775808"),
    ("BITFIELD", "k", "SET", "i63", "0", "4611686018427387903", "INCRBY", "i63", "0",
     "9223372036854775807", "INCRBY", "i63", "0", "-9223372036854775808"),
    # "#N" offsets are N * width in a wrapping long long
    ("BITFIELD", "k", "GET", "u8", "#9223372036854775807"),
    ("BITFIELD", "k", "GET", "u8", "#-9223372036854775808"),
    ("BITFIELD", "k", "GET", "i64", "#144115188075855873"),
    ("BITFIELD", "k", "GET", "i2", "#4611686018427387904"),
    ("BITFIELD", "k", "GET", "i2", "#4611686018427387905"),
    ("BITFIELD", "k", "GET", "i3", "#6148914691236517206"),
    ("BITFIELD", "k", "SET", "i2", "#4611686018427387905", "1"),
    ("BITFIELD", "k", "GET", "i8", "#-0"), ("BITFIELD", "k", "GET", "i8", "#+1"),
    ("BITFIELD", "k", "GET", "i8", "#01"),
    ("BITFIELD", "k", "INCRBY", "i64", "0", "-9223372036854775808", "INCRBY", "i64", "0",
     "-9223372036854775808", "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-9223372036854775808",
     "INCRBY", "i64", "0", "-1"),
    ("BITFIELD", "k", "SET", "i64", "0", "-1", "OVERFLOW", "SAT", "INCRBY", "i64", "0",
     "-9223372036854775808", "OVERFLOW", "WRAP", "INCRBY", "i64", "0", "9223372036854775807",
     "INCRBY", "i64", "0", "9223372036854775807"),
    ("GET", "k"), ("STRLEN", "k"),
    ("BITFIELD", "nk", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "1000"),
    ("EXISTS", "nk"), ("STRLEN", "nk"), ("OBJECT", "ENCODING", "nk"),
    ("SET", "n", "255"), ("BITFIELD", "n", "GET", "u8", "0"), ("OBJECT", "ENCODING", "n"),
    ("BITFIELD", "n", "SET", "u8", "0", "50"), ("GET", "n"), ("OBJECT", "ENCODING", "n"),
    ("SET", "m", "9"), ("BITFIELD", "m", "OVERFLOW", "FAIL", "SET", "u1", "0", "5"),
    ("OBJECT", "ENCODING", "m"),
    # BITFIELD's key is read-only when every operation is a GET
    ("COMMAND", "GETKEYSANDFLAGS", "BITFIELD", "k", "GET", "u8", "0", "OVERFLOW", "SAT"),
    ("COMMAND", "GETKEYSANDFLAGS", "BITFIELD", "k", "GET", "u8", "0", "SET", "u8", "0", "1"),
    ("COMMAND", "GETKEYSANDFLAGS", "BITFIELD", "k", "GET", "u8"),
    ("COMMAND", "GETKEYSANDFLAGS", "BITFIELD_RO", "k", "GET", "u8", "0"),
    ("COMMAND", "GETKEYSANDFLAGS", "BITOP", "AND", "d", "a", "b"),
]


def test_bitfield_match_reference(pair):
    for case in BITFIELD_CASES:
        same(pair, *case)


def test_bitfield_redis_py_helpers(r):
    bf = r.bitfield("k")
    assert bf.set("u8", 0, 200).incrby("u8", 0, 100, overflow="SAT").get("i8", 0).execute() \
        == [0, 255, -1]
    assert r.bitfield_ro("k", "u4", 4, items=[("u4", 0)]) == [15, 15]


# -- offsets and proto-max-bulk-len ---------------------------------------------------------------


def test_offset_limit_follows_proto_max_bulk_len(pair):
    ours, theirs = pair
    for c in (ours, theirs):
        assert c.cmd("CONFIG", "SET", "proto-max-bulk-len", "1048576")[:1] == b"+"
    try:
        for case in [
            ("SETBIT", "k", "8388607", "1"), ("SETBIT", "k", "8388608", "1"),
            ("GETBIT", "k", "8388608"), ("GETBIT", "k", "8388607"), ("STRLEN", "k"),
            ("BITFIELD", "k", "GET", "u8", "8388600", "GET", "u8", "8388608"),
            ("BITFIELD", "k", "GET", "u8", "8388607"), ("BITFIELD", "k", "GET", "u8", "#1048575"),
            ("BITFIELD", "k", "GET", "u8", "#1048576"), ("BITFIELD", "k", "GET", "i64", "#131071"),
            ("BITFIELD", "k", "GET", "i64", "#131072"),
            ("BITFIELD", "k", "SET", "i64", "8388607", "-1"), ("STRLEN", "k"),
            ("BITCOUNT", "k"), ("BITPOS", "k", "1", "-10"),
        ]:
            same(pair, *case)
    finally:
        for c in (ours, theirs):
            c.cmd("CONFIG", "SET", "proto-max-bulk-len", "536870912")


# -- types, encodings ------------------------------------------------------------------------------


def test_wrongtype(r):
    """Redis 7.2.4 checks the type before parsing BITCOUNT's and BITPOS's range (Valkey 8.0
    reports the syntax or integer error first)."""
    other_type_key(r, "c")
    r.set("s", "x")
    for args in [
        ("SETBIT", "c", "0", "1"), ("GETBIT", "c", "0"), ("BITCOUNT", "c"),
        ("BITCOUNT", "c", "0", "1", "FOO"), ("BITPOS", "c", "1"), ("BITPOS", "c", "0", "x"),
        ("BITOP", "AND", "d", "s", "c"), ("BITOP", "NOT", "d", "c"),
        ("BITFIELD", "c", "GET", "u8", "0"), ("BITFIELD", "c"),
        ("BITFIELD", "c", "SET", "u8", "0", "1"), ("BITFIELD_RO", "c", "GET", "u8", "0"),
    ]:
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command(*args)
    assert r.exists("d") == 0
    # argument errors come before the type check where Redis parses first
    with pytest.raises(redis.ResponseError, match="^bit offset is not an integer"):
        r.execute_command("SETBIT", "c", "-1", "1")
    with pytest.raises(redis.ResponseError, match="^Invalid bitfield type"):
        r.execute_command("BITFIELD", "c", "GET", "u64", "0")
    with pytest.raises(redis.ResponseError, match="^BITFIELD_RO only supports the GET"):
        r.execute_command("BITFIELD_RO", "c", "SET", "u8", "0", "1")
    with pytest.raises(redis.ResponseError, match="^The bit argument must be 1 or 0"):
        r.execute_command("BITPOS", "c", "3")


def test_wrongtype_match_reference(pair, r):
    need(r, "rpush")
    same(pair, "RPUSH", "l", "x")
    same(pair, "SET", "s", "v")
    for case in [("SETBIT", "l", "0", "1"), ("GETBIT", "l", "0"), ("BITCOUNT", "l"),
                 ("BITPOS", "l", "0"), ("BITOP", "OR", "d", "s", "l"), ("BITOP", "OR", "l", "s"),
                 ("TYPE", "l"), ("BITFIELD", "l", "GET", "i8", "0"), ("BITFIELD", "l"),
                 ("BITFIELD_RO", "l", "GET", "i8", "0")]:
        same(pair, *case)


def test_encodings(r):
    r.set("e", "abc")
    assert r.object("encoding", "e") == b"embstr"
    assert r.setbit("e", 0, 0) == 0  # nothing changes, but the value is unshared: raw
    assert r.object("encoding", "e") == b"raw"
    r.set("i", "123")
    assert r.object("encoding", "i") == b"int"
    assert r.getbit("i", 2) == 1 and r.bitcount("i") == 10
    assert r.object("encoding", "i") == b"int"
    assert r.execute_command("BITFIELD", "i", "GET", "u8", "0") == [ord("1")]
    assert r.object("encoding", "i") == b"int"
    r.setbit("new", 3, 1)
    assert r.object("encoding", "new") == b"raw"
    r.bitop("NOT", "d", "i")
    assert r.object("encoding", "d") == b"raw"
    assert r.type("d") == b"string"


# -- dirty counter, propagation, events ---------------------------------------------------------


def test_dirty_counts_only_changes(r):
    d = dirty(r)
    r.setbit("k", 5, 1)
    assert dirty(r) == d + 1
    r.setbit("k", 5, 1)  # same value: no change
    r.setbit("k", 6, 0)
    assert dirty(r) == d + 1
    r.setbit("k", 30, 0)  # grows the string: a change
    assert dirty(r) == d + 2
    r.execute_command("BITFIELD", "k", "GET", "u8", "0", "SET", "u8", "0", "4")
    assert dirty(r) == d + 2  # SET wrote the value it had
    r.execute_command("BITFIELD", "k", "SET", "u8", "0", "5", "INCRBY", "u8", "0", "1",
                      "INCRBY", "u8", "0", "0")
    assert dirty(r) == d + 4  # two ops changed the value
    r.execute_command("BITFIELD", "k", "SET", "u8", "40", "0", "SET", "u8", "40", "0")
    assert dirty(r) == d + 6  # the string grew: every op counts
    r.execute_command("BITFIELD", "new", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "256")
    assert dirty(r) == d + 6  # nothing written (the key is created all the same, as in Redis)
    assert r.get("new") == b"\x00"
    r.bitop("AND", "dest", "k", "k")
    assert dirty(r) == d + 7
    r.execute_command("BITFIELD_RO", "k", "GET", "u8", "0")
    r.getbit("k", 0)
    r.bitcount("k")
    r.bitpos("k", 1)
    assert dirty(r) == d + 7


def test_keyspace_hits_and_misses(r):
    def stats():
        i = r.info("stats")
        return i["keyspace_hits"], i["keyspace_misses"]

    r.set("k", "x")
    h, m = stats()
    r.getbit("k", 0)
    r.bitcount("nokey")
    r.bitpos("k", 1)
    r.bitop("AND", "d", "k", "nokey")
    r.execute_command("BITFIELD_RO", "k", "GET", "u8", "0")
    r.execute_command("BITFIELD", "nokey", "GET", "u8", "0")
    r.execute_command("BITFIELD", "k", "SET", "u8", "0", "1")  # a write lookup: not counted
    r.setbit("k", 0, 1)
    assert stats() == (h + 4, m + 3)


def test_propagation_only_when_written(tmp_path):
    # the AOF is the memory engine's persistence (the lmdb engine writes none), so this
    # propagation check runs on it whatever VALKEYD_ENGINE says
    s = start_valkeyd("--appendonly", "yes", "--appendfsync", "always", "--save", "",
                      workdir=str(tmp_path), engine="memory")
    try:
        c = s.client(2)
        c.setbit("k", 1, 1)
        c.setbit("k", 1, 1)
        c.execute_command("BITFIELD", "k", "GET", "u8", "0")
        c.execute_command("BITFIELD", "k", "SET", "u8", "0", "64")
        c.execute_command("BITFIELD", "k", "INCRBY", "u8", "0", "1")
        c.execute_command("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000")
        c.bitop("OR", "d", "k")
        c.bitop("OR", "d", "nokey")
        c.bitop("OR", "d", "nokey")
        c.close()
        time.sleep(0.3)
        cmds = aof_commands(str(tmp_path))
        assert cmds, 'nothing was written to the AOF'
    finally:
        s.stop()
    assert cmds == [
        [b"SETBIT", b"k", b"1", b"1"],
        [b"BITFIELD", b"k", b"INCRBY", b"u8", b"0", b"1"],
        [b"BITOP", b"OR", b"d", b"k"],
        [b"BITOP", b"OR", b"d", b"nokey"],
    ]


def test_keyspace_events(server):
    c = server.client(2)
    c.flushall()
    need(c, "psubscribe")
    c.config_set("notify-keyspace-events", "KEA")
    p = server.client(2).pubsub()
    p.psubscribe("__keyspace@0__:*")
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    try:
        c.setbit("k", 3, 1)
        c.setbit("k", 3, 1)  # no change: no event
        c.execute_command("BITFIELD", "k", "SET", "u8", "0", "1", "SET", "u8", "8", "1")
        c.execute_command("BITFIELD", "k", "GET", "u8", "0")
        c.bitop("NOT", "d", "k")
        c.bitop("AND", "d", "nokey")
        c.set("end", "1")
        got = []
        deadline = time.time() + 5
        while time.time() < deadline and (not got or got[-1][0] != b"end"):
            m = p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                got.append((m["channel"].split(b":", 1)[1], m["data"]))
        assert got == [(b"k", b"setbit"), (b"k", b"setbit"), (b"d", b"set"), (b"d", b"del"),
                       (b"end", b"set")]
    finally:
        c.config_set("notify-keyspace-events", "")
        p.close()
        c.close()


# -- command table --------------------------------------------------------------------------------


def test_command_info(r):
    info = r.execute_command("COMMAND", "INFO", "setbit", "getbit", "bitcount", "bitpos",
                             "bitop", "bitfield", "bitfield_ro")
    assert all(x is not None for x in info)
    assert r.command_getkeys("BITOP", "AND", "d", "a", "b") == \
        ["d", "a", "b"]
