"""Differential test of the HyperLogLog family: random PFADD / PFCOUNT / PFMERGE / PFDEBUG
sequences (with small hll-sparse-max-bytes limits, registers above 32, values damaged with
SETRANGE/APPEND and hand-made headers) sent to valkeyd and to valkey-server. Replies must be
equal, and so must the raw bytes of every key (GET)."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from differential import KEYS, VALUES, DiffMachine, run_machine
from test_hyperloglog import element_for, header

ELEMENTS = st.one_of(
    VALUES,
    st.integers(0, 5000).map(lambda i: b"e%d" % i),
    st.binary(min_size=0, max_size=20),
    # an element that sets a given register to a given (possibly large) count
    st.tuples(st.integers(0, 16383), st.integers(1, 51)).map(lambda t: element_for(*t)),
)
LIMITS = st.sampled_from([0, 25, 60, 200, 1000, 3000])
CRAFTED = st.sampled_from([
    b"HYLL\x01" + bytes(11) + b"\x7f\xff",                     # empty, cache valid
    header(1, 77) + b"\x7f\xff",                               # a valid cached value
    header(1, valid=False) + b"\x7f\xfe\x88",
    header(1, valid=False) + b"\x7f\xf0",                      # corrupt: too few registers
    header(1, valid=False) + b"\x7f\xff\x01",                  # corrupt: too many
    header(0, valid=False) + bytes(12288),
    header(0, valid=False) + b"\x41\x10\x04" * 4096,
    header(0) + bytes(5),                                      # not an HLL (length)
    b"HYLL\x02" + bytes(13),                                   # not an HLL (encoding)
    b"plain string",
])


def ends_inside_xzero(v) -> bool:
    """A sparse HLL whose last opcode is an XZERO cut by the end of the string. Redis reads the
    missing byte from past the end of the string (the terminator, or what an earlier update
    wrote there, depending on the allocation), so such values are not compared."""
    if v is None or len(v) < 16 or v[:4] != b"HYLL" or v[4] != 1:
        return False
    i = 16
    while i < len(v):
        i += 2 if 0x40 <= v[i] < 0x80 else 1
    return i > len(v)


OPCODES = st.one_of(
    st.integers(0, 0x3F).map(lambda b: bytes([b])),                          # ZERO
    st.integers(0, 0x3FFF).map(lambda n: (0x4000 | n).to_bytes(2, "big")),    # XZERO
    st.integers(0x80, 0xFF).map(lambda b: bytes([b])),                       # VAL
)


def sparse_value(ops, pad: bool, cached: bool) -> bytes:
    """A sparse HLL made of ``ops``, padded with XZEROs to 16384 registers if ``pad`` (so
    valid unless the opcodes already cover more)."""
    body = b"".join(ops)
    if pad:
        total = 0
        i = 0
        while i < len(body):
            x = body[i]
            if x < 0x40:
                total += x + 1
            elif x < 0x80:
                total += (((x & 0x3F) << 8) | body[i + 1]) + 1
                i += 1
            else:
                total += (x & 3) + 1
            i += 1
        rest = 16384 - total
        while rest > 0:
            n = min(rest, 16384)
            body += (0x4000 | (n - 1)).to_bytes(2, "big")
            rest -= n
    return header(1, 5, valid=cached) + body


class HyperLogLogs(DiffMachine):
    def __init__(self):
        super().__init__()
        for c in (self.ours, self.ref):
            c.config_set("hll-sparse-max-bytes", 3000)

    @rule(key=KEYS, els=st.lists(ELEMENTS, max_size=12))
    def pfadd(self, key, els):
        self.check("PFADD", key, *els)

    @rule(key=KEYS, start=st.integers(0, 10**6), n=st.sampled_from([50, 300, 2000]))
    def pfadd_many(self, key, start, n):
        self.check("PFADD", key, *[b"m%d" % i for i in range(start, start + n)])

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3))
    def pfcount(self, keys):
        self.check("PFCOUNT", *keys)

    @rule(dest=KEYS, srcs=st.lists(KEYS, max_size=3))
    def pfmerge(self, dest, srcs):
        self.check("PFMERGE", dest, *srcs)

    @rule(sub=st.sampled_from(["ENCODING", "DECODE", "GETREG", "TODENSE", "todense", "bogus"]),
          key=KEYS)
    def pfdebug(self, sub, key):
        self.check("PFDEBUG", sub, key)

    @rule(limit=LIMITS)
    def sparse_limit(self, limit):
        self.check("CONFIG", "SET", "hll-sparse-max-bytes", str(limit))

    def complete(self, key):
        if ends_inside_xzero(self.ours.get(key)):
            self.check("APPEND", key, b"\x00")

    @rule(key=KEYS, value=CRAFTED)
    def set_crafted(self, key, value):
        self.check("SET", key, value)

    @rule(key=KEYS, ops=st.lists(OPCODES, max_size=30), pad=st.booleans(), cached=st.booleans())
    def set_sparse(self, key, ops, pad, cached):
        self.check("SET", key, sparse_value(ops, pad, cached))

    @rule(key=KEYS, offset=st.integers(0, 40), byte=st.binary(min_size=1, max_size=2))
    def damage(self, key, offset, byte):
        self.check("SETRANGE", key, offset, byte)
        self.complete(key)

    @rule(key=KEYS, tail=st.binary(min_size=1, max_size=3))
    def append(self, key, tail):
        self.check("APPEND", key, tail)
        self.complete(key)

    @rule(key=KEYS)
    def generic(self, key):
        self.check("EXISTS", key)
        self.check_state(key)
        self.check("STRLEN", key)

    @rule(key=KEYS)
    def delete(self, key):
        self.check("DEL", key)

    @invariant()
    def same_bytes(self):
        for k in (b"k1", b"k2", b"k3", b"{t}k4"):
            self.check("GET", k)

    def teardown(self):
        for c in (self.ours, self.ref):
            c.config_set("hll-sparse-max-bytes", 3000)


def test_hyperloglog_differential(r, refc):
    run_machine(HyperLogLogs, r, refc)
