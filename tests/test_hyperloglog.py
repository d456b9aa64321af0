"""HyperLogLog (PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST) against Redis 7.2.4's behaviour.

An HLL is a string with Redis's exact byte layout, so most tests run the same commands on
valkeyd and on a real valkey-server (same format as Redis 7.2.4) and compare the replies *and*
the raw bytes (GET). Values also cross between the two servers with GET/SET.
"""
from __future__ import annotations

import glob
import os
import random
import time

import pytest
import redis

from harness import reply_or_error, same_reply, start_valkey, start_valkeyd, valkey_server_path

M = 0xC6A4A7935BD1E995
MASK = (1 << 64) - 1
MINV = pow(M, -1, 1 << 64)
SEED = 0xADC83B19
DENSE_SIZE = 16 + 12288


def element_for(index: int, count: int, noise: int = 0) -> bytes:
    """An 8-byte element whose MurmurHash64A (seed 0xadc83b19) selects register ``index`` with
    the pattern length ``count`` (1..51), found by inverting the hash. That the elements
    really do this is checked against valkey-server (test_element_generator)."""
    if count <= 50:
        h = index | (1 << (13 + count)) | ((noise << (14 + count)) & MASK)
    else:
        h = index
    h3 = h ^ (h >> 47)
    h2 = (h3 * MINV) & MASK
    h1 = h2 ^ (h2 >> 47)
    h0 = (SEED ^ (8 * M)) & MASK
    k2 = ((h1 * MINV) & MASK) ^ h0
    kb = (k2 * MINV) & MASK
    ka = kb ^ (kb >> 47)
    return ((ka * MINV) & MASK).to_bytes(8, "little")


def header(enc: int, card: int = 0, valid: bool = True) -> bytes:
    c = bytearray(card.to_bytes(8, "little"))
    if not valid:
        c[7] |= 0x80
    return b"HYLL" + bytes([enc, 0, 0, 0]) + bytes(c)


def pair_run(r, refc, *args):
    """The same command on both servers; equal replies and equal bytes of every HLL key."""
    return same_reply(r, refc, *args)


def same_bytes(r, refc, *keys):
    for k in keys:
        a, b = r.get(k), refc.get(k)
        assert a == b, (k, a if a is None else a[:40], b if b is None else b[:40])


@pytest.fixture
def sparse_max(r, refc):
    """Set hll-sparse-max-bytes on both servers for one test (restored afterwards)."""
    def set_(n):
        r.config_set("hll-sparse-max-bytes", n)
        refc.config_set("hll-sparse-max-bytes", n)
    yield set_
    set_(3000)


# -- PFADD -----------------------------------------------------------------------------------------

def test_pfadd_creates_and_replies(rr):
    assert rr.pfadd("h", "a", "b", "c") == 1
    assert rr.pfadd("h", "a", "b", "c") == 0
    assert rr.pfadd("h", "d") == 1
    assert rr.type("h") in (b"string", "string")
    assert rr.object("encoding", "h") in (b"raw", "raw")
    assert rr.pfcount("h") == 4
    # Without elements: creates an empty HLL (1), then nothing to do (0).
    assert rr.execute_command("PFADD", "e") == 1
    assert rr.execute_command("PFADD", "e") == 0
    assert rr.pfcount("e") == 0
    assert rr.get("e") == b"HYLL\x01" + bytes(11) + b"\x7f\xff"


def test_pfadd_bytes_match_reference(r, refc):
    rnd = random.Random(7)
    for n in (1, 2, 5, 50, 300, 1000, 3000, 20000):
        els = [b"%d-%d" % (n, rnd.randrange(10**9)) for _ in range(n)]
        pair_run(r, refc, "PFADD", "h%d" % n, *els)
        same_bytes(r, refc, "h%d" % n)
        pair_run(r, refc, "PFCOUNT", "h%d" % n)
        same_bytes(r, refc, "h%d" % n)
    # Many commands with a few elements each grow the sparse form step by step.
    for i in range(400):
        pair_run(r, refc, "PFADD", "inc", *[b"e%d" % (i * 3 + j) for j in range(3)])
    same_bytes(r, refc, "inc")
    pair_run(r, refc, "PFDEBUG", "ENCODING", "inc")


def test_pfadd_keeps_ttl(r, refc):
    for c in (r, refc):
        c.pfadd("h", "a")
        c.expire("h", 100)
        c.pfadd("h", "b", "c")
        assert 0 < c.ttl("h") <= 100


def test_element_generator(r, refc):
    """The test helper element_for selects the wanted register and count (checked on both)."""
    for index, count in [(0, 1), (1, 5), (16383, 32), (12345, 33), (7, 50), (8, 51)]:
        for c in (r, refc):
            c.delete("g")
            c.pfadd("g", element_for(index, count))
            regs = c.execute_command("PFDEBUG", "GETREG", "g")
            assert regs[index] == count and sum(regs) == count


def test_pfadd_large_count_promotes_to_dense(r, refc):
    pair_run(r, refc, "PFADD", "h", "a", "b")
    pair_run(r, refc, "PFADD", "h", element_for(100, 32))
    assert pair_run(r, refc, "PFDEBUG", "ENCODING", "h") == b"sparse"
    # A register above 32 does not fit a VAL opcode: the HLL becomes dense.
    pair_run(r, refc, "PFADD", "h", element_for(200, 33), "c")
    assert pair_run(r, refc, "PFDEBUG", "ENCODING", "h") == b"dense"
    same_bytes(r, refc, "h")
    assert len(r.get("h")) == DENSE_SIZE
    pair_run(r, refc, "PFCOUNT", "h")
    same_bytes(r, refc, "h")


def test_sparse_to_dense_with_small_max_bytes(r, refc, sparse_max):
    for limit in (0, 20, 100, 301, 1000):
        sparse_max(limit)
        key = "h%d" % limit
        after = 0
        for i in range(400):
            if after == 3:
                break
            pair_run(r, refc, "PFADD", key, *[b"x%d" % (i * 5 + j) for j in range(5)])
            enc = pair_run(r, refc, "PFDEBUG", "ENCODING", key)
            same_bytes(r, refc, key)
            v = r.get(key)
            if enc == b"sparse":
                assert len(v) <= max(limit, 18)
            else:
                assert len(v) == DENSE_SIZE
                after += 1
        assert enc == b"dense"
    # Growing the limit keeps small HLLs sparse longer.
    sparse_max(3000)
    pair_run(r, refc, "PFADD", "big", *[b"y%d" % i for i in range(1000)])
    assert pair_run(r, refc, "PFDEBUG", "ENCODING", "big") == b"sparse"
    same_bytes(r, refc, "big")


def test_sparse_max_bytes_from_the_command_line_and_units(r, refc, sparse_max):
    s = start_valkeyd("--hll-sparse-max-bytes", "1kb", "--save", "")
    try:
        c = s.client(2)
        sparse_max("1024")
        for i in range(200):
            els = [b"u%d" % (i * 4 + j) for j in range(4)]
            c.pfadd("h", *els)
            refc.pfadd("h", *els)
            assert c.get("h") == refc.get("h"), i
        assert refc.execute_command("PFDEBUG", "ENCODING", "h") == b"dense"
        c.close()
    finally:
        s.stop()


def test_pfadd_10k_elements_is_fast(r):
    els = [b"element:%d" % i for i in range(10000)]
    t = time.perf_counter()
    assert r.pfadd("h", *els) == 1
    assert 9800 <= r.pfcount("h") <= 10200
    elapsed = time.perf_counter() - t
    assert elapsed < 3.0, elapsed
    t = time.perf_counter()
    for i in range(50):
        r.pfadd("h", b"more%d" % i)
        r.pfcount("h")
    assert time.perf_counter() - t < 3.0


# -- PFCOUNT ---------------------------------------------------------------------------------------

def test_pfcount_exact_estimates(r, refc):
    """The estimator (Ertl's, as in Redis 7.2) gives exactly Redis's numbers at every size."""
    rnd = random.Random(3)
    total = 0
    for step in (1, 1, 8, 20, 70, 200, 700, 2000, 7000, 20000, 70000):
        els = [rnd.randbytes(rnd.choice((3, 8, 13, 24))) for _ in range(step)]
        total += step
        pair_run(r, refc, "PFADD", "h", *els)
        n = pair_run(r, refc, "PFCOUNT", "h")
        assert abs(n - total) <= max(3, total * 0.05), (n, total)
        same_bytes(r, refc, "h")


def test_pfcount_missing_and_multi(rr):
    assert rr.pfcount("nokey") == 0
    assert rr.pfcount("a", "b") == 0
    rr.pfadd("a", *[f"a{i}" for i in range(100)])
    rr.pfadd("b", *[f"a{i}" for i in range(50, 150)])
    assert 140 <= rr.pfcount("a", "b", "nokey") <= 160
    assert rr.pfcount("a", "a") == rr.pfcount("a")


def test_pfcount_multi_matches_reference(r, refc):
    rnd = random.Random(5)
    pair_run(r, refc, "PFADD", "s1", *[rnd.randbytes(6) for _ in range(50)])
    pair_run(r, refc, "PFADD", "s2", *[rnd.randbytes(6) for _ in range(500)])
    pair_run(r, refc, "PFADD", "d1", *[rnd.randbytes(6) for _ in range(5000)])
    before = r.get("s1"), r.get("s2"), r.get("d1")
    for keys in (("s1", "s2"), ("s1", "d1"), ("d1", "s2", "nokey"), ("nokey", "nokey2"),
                 ("d1", "d1")):
        pair_run(r, refc, "PFCOUNT", *keys)
    # Several keys: the sources are untouched (no cache written).
    assert (r.get("s1"), r.get("s2"), r.get("d1")) == before
    same_bytes(r, refc, "s1", "s2", "d1")


def test_pfcount_cache(r, refc):
    for c in (r, refc):
        c.pfadd("h", "a", "b", "c")
        v = c.get("h")
        assert v[15] & 0x80           # PFADD invalidated the cache
        assert c.pfcount("h") == 3
        v = c.get("h")
        assert v[8:16] == (3).to_bytes(8, "little")    # PFCOUNT wrote it back
        # A valid cached value is returned as is, without looking at the registers.
        c.set("h", v[:8] + (12345).to_bytes(8, "little") + v[16:])
        assert c.pfcount("h") == 12345
        assert c.pfcount("h", "nokey") == 3            # several keys: never the cache
        c.pfadd("h", "a")                              # no change: the cache stays
        assert c.pfcount("h") == 12345
        c.pfadd("h", "d")
        assert c.pfcount("h") == 4
    same_bytes(r, refc, "h")


def test_pfcount_writes_count_as_changes(r, refc):
    def dirty(c):
        return c.info("persistence")["rdb_changes_since_last_save"]

    for c in (r, refc):
        c.pfadd("h", "a", "b")
        d0 = dirty(c)
        c.pfcount("h")                       # computes and stores the cache: a write
        d1 = dirty(c)
        c.pfcount("h")                       # cached: no write
        c.pfcount("h", "h")                  # several keys: no write
        d2 = dirty(c)
        c.pfadd("h", "a")                    # nothing changed
        d3 = dirty(c)
        c.pfadd("h", "c", "d", "e")          # each changed register counts
        d4 = dirty(c)
        c.pfmerge("h2", "h")
        d5 = dirty(c)
        c.execute_command("PFDEBUG", "TODENSE", "h2")
        d6 = dirty(c)
        assert (d1 - d0, d2 - d1, d3 - d2, d4 - d3, d5 - d4, d6 - d5) == (1, 0, 0, 3, 1, 1), c


def test_object_encoding_after_access(r, refc):
    empty = b"HYLL\x01" + bytes(11) + b"\x7f\xff"
    for cmd in (("PFCOUNT", "e"), ("PFADD", "e"), ("PFADD", "e", "x"), ("PFMERGE", "e"),
                ("PFDEBUG", "ENCODING", "e")):
        for c in (r, refc):
            c.set("e", empty)
            assert c.object("encoding", "e") == b"embstr"
        pair_run(r, refc, *cmd)
        pair_run(r, refc, "OBJECT", "ENCODING", "e")
    for c in (r, refc):
        c.set("e", empty)
    pair_run(r, refc, "PFCOUNT", "e", "e")
    pair_run(r, refc, "OBJECT", "ENCODING", "e")


def test_hits_and_misses_match_reference(r, refc):
    def stats(c):
        i = c.info("stats")
        return i["keyspace_hits"], i["keyspace_misses"]

    for cmd in (("PFADD", "h", "x"), ("PFADD", "n", "x"), ("PFCOUNT", "h"), ("PFCOUNT", "n"),
                ("PFCOUNT", "h", "n", "h"), ("PFMERGE", "h", "n"), ("PFMERGE", "n2", "h", "n"),
                ("PFDEBUG", "ENCODING", "h"), ("PFDEBUG", "ENCODING", "n")):
        deltas = []
        for c in (r, refc):
            c.flushall()
            c.pfadd("h", "a")
            before = stats(c)
            reply_or_error(c, *cmd)
            after = stats(c)
            deltas.append((after[0] - before[0], after[1] - before[1]))
        assert deltas[0] == deltas[1], cmd


# -- PFMERGE ---------------------------------------------------------------------------------------

def test_pfmerge(r, refc):
    rnd = random.Random(11)
    pair_run(r, refc, "PFADD", "s1", *[rnd.randbytes(5) for _ in range(40)])
    pair_run(r, refc, "PFADD", "s2", *[rnd.randbytes(5) for _ in range(300)])
    pair_run(r, refc, "PFADD", "d1", *[rnd.randbytes(5) for _ in range(6000)])
    cases = [
        ("PFMERGE", "new"),                         # an empty HLL
        ("PFMERGE", "new2", "nokey"),
        ("PFMERGE", "m1", "s1", "s2"),              # all sparse: sparse
        ("PFMERGE", "m1", "s1", "s2"),              # again: nothing changes but the cache
        ("PFMERGE", "m2", "s1", "d1"),              # a dense source: dense
        ("PFMERGE", "s1", "s2"),                    # the destination is a source too
        ("PFMERGE", "d1", "s1", "nokey"),
        ("PFMERGE", "m3", "m3"),
    ]
    for case in cases:
        assert pair_run(r, refc, *case) is True
        pair_run(r, refc, "PFDEBUG", "ENCODING", case[1])
        same_bytes(r, refc, case[1])
        pair_run(r, refc, "PFCOUNT", case[1])
        same_bytes(r, refc, case[1])
    assert r.pfcount("m1") == r.pfcount("s1")   # s1 now holds s1 ∪ s2


def test_pfmerge_promotes_with_small_max_bytes(r, refc, sparse_max):
    rnd = random.Random(12)
    pair_run(r, refc, "PFADD", "a", *[rnd.randbytes(5) for _ in range(100)])
    pair_run(r, refc, "PFADD", "b", *[rnd.randbytes(5) for _ in range(100)])
    sparse_max(300)
    pair_run(r, refc, "PFMERGE", "m", "a", "b")
    assert pair_run(r, refc, "PFDEBUG", "ENCODING", "m") == b"dense"
    same_bytes(r, refc, "m")
    sparse_max(100000)
    pair_run(r, refc, "PFMERGE", "m2", "a", "b")
    assert pair_run(r, refc, "PFDEBUG", "ENCODING", "m2") == b"sparse"
    same_bytes(r, refc, "m2")


def test_pfmerge_large_registers(r, refc):
    # A sparse source with a register of 32 and a dense one with 40.
    pair_run(r, refc, "PFADD", "s", element_for(5, 32), element_for(6, 1))
    pair_run(r, refc, "PFADD", "d", element_for(5, 40), element_for(9000, 50))
    pair_run(r, refc, "PFADD", "x", element_for(16383, 51))
    pair_run(r, refc, "PFMERGE", "m", "s", "d", "x")
    same_bytes(r, refc, "m", "x")
    regs = pair_run(r, refc, "PFDEBUG", "GETREG", "m")
    assert (regs[5], regs[6], regs[9000], regs[16383]) == (40, 1, 50, 51)
    pair_run(r, refc, "PFCOUNT", "m")
    pair_run(r, refc, "PFCOUNT", "s", "d", "x")


# -- values moving between the servers -------------------------------------------------------------

def test_values_cross_between_servers(r, refc):
    rnd = random.Random(13)
    for n in (0, 3, 100, 2000, 30000):
        els = [rnd.randbytes(9) for _ in range(n)]
        # valkey-server's HLL read by valkeyd
        refc.execute_command("PFADD", "h", *els)
        v = refc.get("h")
        r.set("h", v)
        assert r.pfcount("h") == refc.pfcount("h")
        assert r.get("h") == refc.get("h")
        # valkeyd's HLL read by valkey-server
        r.execute_command("PFADD", "g", *els)
        w = r.get("g")
        refc.set("g", w)
        assert refc.pfcount("g") == r.pfcount("g")
        assert r.get("g") == refc.get("g")
        # and one more element on each side
        pair_run(r, refc, "PFADD", "g", "one-more")
        same_bytes(r, refc, "g")
        for c in (r, refc):
            c.delete("h", "g")


def test_dense_registers_crafted(r, refc):
    """Hand-made dense values: every register value, and the degenerate estimates."""
    rnd = random.Random(17)
    regs = [rnd.randrange(64) for _ in range(16384)]
    packed = bytearray(12289)
    for i, v in enumerate(regs):
        bit = i * 6
        b, fb = bit >> 3, bit & 7
        packed[b] |= (v << fb) & 0xFF
        packed[b + 1] |= v >> (8 - fb)
    cases = {
        "rand": header(0, valid=False) + bytes(packed[:12288]),
        "zero": header(0, valid=False) + bytes(12288),
        "all63": header(0, valid=False) + b"\xff" * 12288,   # the estimate overflows
        "small": header(0, valid=False) + b"\x01" + bytes(12287),
    }
    for k, v in cases.items():
        r.set(k, v)
        refc.set(k, v)
        pair_run(r, refc, "PFCOUNT", k)
        same_bytes(r, refc, k)
        pair_run(r, refc, "PFCOUNT", k, "zero")
    assert r.execute_command("PFDEBUG", "GETREG", "rand") == regs
    pair_run(r, refc, "PFCOUNT", "rand", "small", "all63")
    pair_run(r, refc, "PFMERGE", "m", "rand", "small")
    same_bytes(r, refc, "m")


# -- errors ----------------------------------------------------------------------------------------

NOT_HLL = [
    b"hello",                                            # short
    b"12345678901234567890",                             # an integer-looking string
    b"HYLX" + bytes(14),                                 # magic
    b"HYLL\x02" + bytes(13),                             # encoding
    header(0) + bytes(100),                              # dense of the wrong length
    header(0) + bytes(12289),
    b"HYLL\x01" + bytes(10),                             # 15 bytes
]

CORRUPT = [
    header(1),                                           # no opcodes at all
    header(1) + b"\x7f\xff\x00",                         # more than 16384 registers
    header(1) + b"\x7f\xf0",                             # fewer
    header(1) + b"\x7f",                                 # an XZERO cut short
    header(1) + b"\x7f\xfe\xfc\xfc",                     # a VAL past the last register (*)
    header(1, valid=False) + b"\x7f\xfd\xfc\xff",
    header(1, valid=False) + b"\x7f\xfe\x7f",                 # two XZERO, the second cut short
    header(1, valid=False) + b"\x00\x7f",
    header(1, valid=False) + b"\x7f\xfe\xfc\x7f",
    header(1, valid=False) + b"\x40\x00" * 20,
]
# (*) Redis accepts this one: decoders stop at a VAL that would pass the last register.
TOLERATED = CORRUPT[4]


def test_not_hll_errors(r, refc):
    for v in NOT_HLL:
        for c in (r, refc):
            c.flushall()
            c.set("s", v)
            c.pfadd("ok", "a")
        for cmd in (("PFADD", "s"), ("PFADD", "s", "a"), ("PFCOUNT", "s"),
                    ("PFCOUNT", "ok", "s"), ("PFCOUNT", "s", "nokey"), ("PFMERGE", "s", "ok"),
                    ("PFMERGE", "ok", "s"), ("PFMERGE", "d", "ok", "s"),
                    ("PFDEBUG", "ENCODING", "s"), ("PFDEBUG", "GETREG", "s"),
                    ("PFDEBUG", "NOSUCH", "s")):
            got = pair_run(r, refc, *cmd)
            assert got == "ERR!WRONGTYPE Key is not a valid HyperLogLog string value.", (v, cmd)
        same_bytes(r, refc, "s", "ok")
        pair_run(r, refc, "EXISTS", "d")


def test_corrupt_hll_errors(r, refc):
    for v in CORRUPT:
        for c in (r, refc):
            c.flushall()
            c.pfadd("ok", "a")
        invalid = 0
        for cmd in (("PFADD", "s", "a"), ("PFADD", "s", element_for(3, 40)),
                    ("PFADD", "s", element_for(16383, 1), element_for(0, 2), "z"),
                    ("PFADD", "s"), ("PFCOUNT", "s"), ("PFCOUNT", "s", "ok"),
                    ("PFCOUNT", "ok", "s"), ("PFMERGE", "d", "ok", "s"), ("PFMERGE", "s"),
                    ("PFDEBUG", "GETREG", "s"), ("PFDEBUG", "TODENSE", "s"),
                    ("PFDEBUG", "DECODE", "s"), ("PFDEBUG", "ENCODING", "s")):
            for c in (r, refc):
                c.set("s", v)
            got = pair_run(r, refc, *cmd)
            same_bytes(r, refc, "s", "d")
            if got == "ERR!INVALIDOBJ Corrupted HLL object detected":
                invalid += 1
        assert bool(invalid) == (v != TOLERATED), v


def test_wrong_kind_of_value(r, refc):
    for maker in (("LPUSH", "x", "a"), ("SADD", "x", "a"), ("HSET", "x", "f", "v"),
                  ("ZADD", "x", "1", "a")):
        if not isinstance(reply_or_error(r, *maker), str):
            break
    else:
        raise AssertionError("no collection type in valkeyd")
    refc.execute_command(*maker)
    for cmd in (("PFADD", "x"), ("PFADD", "x", "a"), ("PFCOUNT", "x"), ("PFCOUNT", "x", "y"),
                ("PFMERGE", "x"), ("PFMERGE", "y", "x"), ("PFMERGE", "x", "y"),
                ("PFDEBUG", "ENCODING", "x"), ("PFDEBUG", "NOSUCH", "x")):
        got = pair_run(r, refc, *cmd)
        assert got.startswith("ERR!WRONGTYPE Operation against"), cmd
    pair_run(r, refc, "EXISTS", "y")


def test_arity_errors(r, refc):
    for cmd in (("PFADD",), ("PFCOUNT",), ("PFMERGE",), ("PFDEBUG",), ("PFDEBUG", "GETREG"),
                ("PFDEBUG", "GETREG", "a", "b"), ("PFSELFTEST", "x")):
        got = pair_run(r, refc, *cmd)
        assert got.startswith("ERR!wrong number of arguments"), cmd


# -- PFDEBUG / PFSELFTEST --------------------------------------------------------------------------

def test_pfdebug(r, refc):
    pair_run(r, refc, "PFADD", "h", "a", "b", "c", element_for(10, 3), element_for(11, 3))
    for sub in ("ENCODING", "encoding", "DECODE", "Decode"):
        pair_run(r, refc, "PFDEBUG", sub, "h")
    for cmd in (("PFDEBUG", "GETREG", "nokey"), ("PFDEBUG", "NOSUCH", "nokey"),
                ("PFDEBUG", "NOSUCH", "h"), ("PFDEBUG", "no\x00such", "h"),
                ("PFDEBUG", "", "h")):
        pair_run(r, refc, *cmd)
    assert reply_or_error(r, "PFDEBUG", "GETREG", "nokey") == \
        "ERR!The specified key does not exist"
    assert reply_or_error(r, "PFDEBUG", "FOO", "h") == "ERR!Unknown PFDEBUG subcommand 'FOO'"
    # GETREG turns a sparse HLL dense.
    regs = pair_run(r, refc, "PFDEBUG", "GETREG", "h")
    assert len(regs) == 16384 and regs[10] == regs[11] == 3
    assert pair_run(r, refc, "PFDEBUG", "ENCODING", "h") == b"dense"
    same_bytes(r, refc, "h")
    assert pair_run(r, refc, "PFDEBUG", "DECODE", "h") == "ERR!HLL encoding is not sparse"
    assert pair_run(r, refc, "PFDEBUG", "TODENSE", "h") == 0
    pair_run(r, refc, "PFADD", "h2", "x")
    assert pair_run(r, refc, "PFDEBUG", "TODENSE", "h2") == 1
    same_bytes(r, refc, "h2")
    pair_run(r, refc, "PFADD", "e")
    assert pair_run(r, refc, "PFDEBUG", "DECODE", "e") == b"Z:16384"
    pair_run(r, refc, "PFADD", "e", element_for(0, 2), element_for(100, 1), element_for(101, 1),
             element_for(16383, 32))
    assert pair_run(r, refc, "PFDEBUG", "DECODE", "e") == b"v:2,1 Z:99 v:1,2 Z:16281 v:32,1"


def test_pfdebug_resp3_shapes(r3):
    r3.pfadd("h", "a")
    assert r3.execute_command("PFDEBUG", "ENCODING", "h") == b"sparse"
    assert r3.execute_command("PFDEBUG", "DECODE", "h").startswith(b"Z:")
    regs = r3.execute_command("PFDEBUG", "GETREG", "h")
    assert isinstance(regs, list) and len(regs) == 16384 and sum(regs) >= 1
    assert r3.pfcount("h") == 1
    assert r3.execute_command("PFSELFTEST") in (b"OK", "OK", True)


def test_pfselftest(r, refc):
    assert pair_run(r, refc, "PFSELFTEST") == b"OK"


def test_pfdebug_in_multi(r, refc):
    for c in (r, refc):
        c.pfadd("h", "a")
        p = c.pipeline(transaction=True)
        p.execute_command("PFDEBUG", "TODENSE", "h")
        p.pfcount("h")
        assert p.execute() == [1, 1]


# -- keyspace events and propagation -------------------------------------------------------------

def _events(srv, c):
    """The keyspace events of a fixed HLL scenario on one server (None if unsupported)."""
    try:
        c.config_set("notify-keyspace-events", "KEA")
        p = srv.client(2).pubsub()
        p.psubscribe("__keyspace@0__:*")
        assert p.get_message(timeout=2)["type"] == "psubscribe"
    except redis.ResponseError:
        return None
    try:
        c.pfadd("h", "a")
        c.pfadd("h", "a")          # nothing changed: no event
        c.pfcount("h")             # the cache write fires nothing
        c.pfmerge("m", "h")        # PFMERGE fires "pfadd"
        c.execute_command("PFDEBUG", "TODENSE", "m")
        c.execute_command("PFADD", "e")
        c.set("end", "x")
        got = []
        deadline = time.time() + 3
        while time.time() < deadline and (not got or got[-1][0] != b"end"):
            m = p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                got.append((m["channel"].split(b":", 1)[1], m["data"]))
        return got
    finally:
        c.config_set("notify-keyspace-events", "")
        p.close()


def test_keyspace_events(server, r, ref, refc):
    want = [(b"h", b"pfadd"), (b"m", b"pfadd"), (b"e", b"pfadd"), (b"end", b"set")]
    assert _events(ref, refc) == want
    assert _events(server, r) == want


def _aof(workdir) -> list:
    files = sorted(glob.glob(os.path.join(workdir, "appendonlydir", "*.incr.aof")))
    data = b"".join(open(f, "rb").read() for f in files)
    cmds, pos = [], 0
    while pos < len(data):
        nl = data.index(b"\r\n", pos)
        n = int(data[pos + 1:nl])
        pos = nl + 2
        args = []
        for _ in range(n):
            nl = data.index(b"\r\n", pos)
            ln = int(data[pos + 1:nl])
            args.append(data[nl + 2:nl + 2 + ln])
            pos = nl + 4 + ln
        cmds.append(args)
    return [c for c in cmds if c[0].upper() != b"SELECT"]


def _propagated(proc, workdir) -> list:
    c = proc.client(2)
    try:
        c.set("bad", "not an hll")
        c.pfadd("h", "a", "b")
        c.pfadd("h", "a")                                # no change: not propagated
        reply_or_error(c, "PFADD", "bad", "x")           # error: not propagated
        c.pfcount("h")                                   # writes the cache: propagated
        c.pfcount("h")                                   # cached: not propagated
        c.pfcount("h", "nokey")                          # several keys: not propagated
        c.pfmerge("m", "h")
        c.execute_command("PFDEBUG", "ENCODING", "m")    # not propagated
        c.execute_command("PFDEBUG", "GETREG", "m")      # sparse -> dense: propagated
        c.execute_command("PFDEBUG", "GETREG", "m")      # already dense: not
        c.execute_command("PFDEBUG", "TODENSE", "h")     # propagated
        c.execute_command("PFDEBUG", "TODENSE", "h")     # already dense: not
        c.set("end", "x")
    finally:
        c.close()
    time.sleep(0.3)   # appendfsync always: written before the reply; the sleep is a margin
    return _aof(workdir)


def test_propagation(tmp_path):
    want = [[b"set", b"bad", b"not an hll"], [b"pfadd", b"h", b"a", b"b"], [b"pfcount", b"h"],
            [b"pfmerge", b"m", b"h"], [b"PFDEBUG", b"GETREG", b"m"],
            [b"PFDEBUG", b"TODENSE", b"h"], [b"set", b"end", b"x"]]

    def norm(cmds):
        return [[c[0].lower()] + c[1:] for c in cmds]

    if valkey_server_path() is not None:
        d = tmp_path / "ref"
        d.mkdir()
        ref = start_valkey("--appendonly", "yes", "--appendfsync", "always", workdir=str(d))
        try:
            assert norm(_propagated(ref, str(d))) == norm(want)
        finally:
            ref.stop()
    d = tmp_path / "ours"
    d.mkdir()
    # the AOF is the memory engine's persistence (the lmdb engine writes none), so this
    # propagation check runs on it whatever VALKEYD_ENGINE says
    s = start_valkeyd("--appendonly", "yes", "--appendfsync", "always", "--save", "",
                      workdir=str(d), engine="memory")
    try:
        got = _propagated(s, str(d))
    finally:
        s.stop()
    assert got, 'nothing was written to the AOF'
    assert norm(got) == norm(want)
