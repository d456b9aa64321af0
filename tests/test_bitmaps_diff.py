"""Differential machine for the bitmap commands: random SETBIT GETBIT BITCOUNT BITPOS BITOP
BITFIELD BITFIELD_RO sequences (mixed with SET, APPEND, DEL, GET, STRLEN, TYPE, OBJECT ENCODING)
go to valkeyd and to valkey-server, and every reply must be equal.

Offsets stay below 2**14 bits, so strings stay below 2 KB. Argument forms where Valkey 8.0 and
Redis 7.2.4 differ (BITCOUNT/BITPOS argument errors, checked in the order Redis 7.2.4 checks
them by tests/test_bitmaps.py) are not generated here.
"""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import rule

from differential import KEYS, WORDS, DiffMachine, run_machine

OFFSETS = st.one_of(st.integers(0, 64), st.integers(0, 1 << 14))
RANGE_IDX = st.one_of(st.integers(-12, 12), st.integers(-3000, 3000),
                      st.sampled_from([-9223372036854775808, 9223372036854775807]))
UNITS = st.sampled_from(["BYTE", "BIT", "byte", "bit"])
BIT_VALUES = st.one_of(st.sampled_from(["0", "1"]), st.sampled_from(["2", "-1", "x", ""]))
I64_EDGES = [0, 1, -1, 127, -128, 255, 256, 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63),
             2**63 - 2, -(2**63) + 1]
FIELD_VALUES = st.one_of(st.integers(-300, 300), st.sampled_from(I64_EDGES),
                         st.integers(-(2**63), 2**63 - 1))


@st.composite
def field_types(draw):
    if draw(st.booleans()):
        return "i%d" % draw(st.one_of(st.integers(1, 64), st.sampled_from([8, 16, 32, 64])))
    return "u%d" % draw(st.one_of(st.integers(1, 63), st.sampled_from([8, 16, 32, 63])))


@st.composite
def field_offsets(draw, typ):
    if draw(st.integers(0, 3)) == 0:
        return "#%d" % draw(st.integers(0, 200 // int(typ[1:]) + 2))
    return str(draw(st.integers(0, 300)))


@st.composite
def field_value(draw, typ, incr):
    """SET values and INCRBY increments around the limits of the field type."""
    bits = int(typ[1:])
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if typ[0] == "i" else (0, (1 << bits) - 1)
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(FIELD_VALUES)
    if incr and choice < 3:
        return draw(st.integers(-3, 3))
    v = draw(st.sampled_from([lo, hi, lo - 1, hi + 1, lo + 1, hi - 1, hi - lo, lo - hi]))
    return max(-(2**63), min(2**63 - 1, v))


@st.composite
def bitfield_ops(draw, readonly=False):
    args = []
    for _ in range(draw(st.integers(1, 4))):
        if not readonly and draw(st.booleans()):
            args += ["OVERFLOW", draw(st.sampled_from(["WRAP", "SAT", "FAIL", "sat", "fail"]))]
        kind = draw(st.sampled_from(["GET"] if readonly else ["GET", "SET", "INCRBY", "INCRBY"]))
        typ = draw(field_types())
        args += [kind, typ, draw(field_offsets(typ))]
        if kind != "GET":
            args.append(str(draw(field_value(typ, kind == "INCRBY"))))
    return args


PATTERN_BYTES = st.sampled_from([0x00, 0xFF, 0x80, 0x01, 0x7F, 0xFE, 0x0F, 0xF0])


class Bitmaps(DiffMachine):
    @rule(key=KEYS, off=OFFSETS, val=BIT_VALUES)
    def setbit(self, key, off, val):
        self.check("SETBIT", key, off, val)
        self.check_state(key)

    @rule(key=KEYS, off=OFFSETS)
    def getbit(self, key, off):
        self.check("GETBIT", key, off)

    @rule(key=KEYS, rng=st.one_of(st.none(), st.tuples(RANGE_IDX, RANGE_IDX)),
          unit=st.one_of(st.none(), UNITS))
    def bitcount(self, key, rng, unit):
        args = ["BITCOUNT", key]
        if rng is not None:
            args += list(rng)
            if unit is not None:
                args.append(unit)
        self.check(*args)

    @rule(key=KEYS, bit=st.sampled_from([0, 1]), start=st.one_of(st.none(), RANGE_IDX),
          end=st.one_of(st.none(), RANGE_IDX), unit=st.one_of(st.none(), UNITS))
    def bitpos(self, key, bit, start, end, unit):
        args = ["BITPOS", key, bit]
        if start is not None:
            args.append(start)
            if end is not None:
                args.append(end)
                if unit is not None:
                    args.append(unit)
        self.check(*args)

    @rule(op=st.sampled_from(["AND", "OR", "XOR", "and", "xor"]), dest=KEYS,
          srcs=st.lists(KEYS, min_size=1, max_size=4))
    def bitop(self, op, dest, srcs):
        self.check("BITOP", op, dest, *srcs)
        self.check("GET", dest)
        self.check_state(dest)

    @rule(dest=KEYS, src=KEYS)
    def bitop_not(self, dest, src):
        self.check("BITOP", "NOT", dest, src)
        self.check("GET", dest)
        self.check_state(dest)

    @rule(key=KEYS, ops=bitfield_ops())
    def bitfield(self, key, ops):
        self.check("BITFIELD", key, *ops)
        self.check_state(key)

    @rule(key=KEYS, ops=bitfield_ops(readonly=True))
    def bitfield_ro(self, key, ops):
        self.check("BITFIELD_RO", key, *ops)

    # -- generic and string commands mixed in ------------------------------------------------
    @rule(key=KEYS, val=st.one_of(WORDS, st.integers(-1000, 100000).map(str)))
    def set(self, key, val):
        self.check("SET", key, val)

    @rule(key=KEYS, val=st.one_of(
        st.lists(PATTERN_BYTES, max_size=6).map(bytes),
        st.tuples(PATTERN_BYTES, st.integers(0, 4), PATTERN_BYTES, st.integers(0, 4)).map(
            lambda t: bytes([t[0]]) * t[1] + bytes([t[2]]) * t[3])))
    def set_pattern(self, key, val):
        """Runs of 0x00 and 0xff bytes: where BITPOS's edge cases are (probed at once)."""
        self.check("SET", key, val)
        for bit in (0, 1):
            self.check("BITPOS", key, bit)
            self.check("BITPOS", key, bit, 1)
            self.check("BITPOS", key, bit, -2, -1)

    @rule(key=KEYS, val=WORDS)
    def append(self, key, val):
        self.check("APPEND", key, val)

    @rule(key=KEYS)
    def get(self, key):
        self.check("GET", key)
        self.check("STRLEN", key)
        self.check_state(key)

    @rule(key=KEYS)
    def delete(self, key):
        self.check("DEL", key)


def test_bitmaps_differential(r, refc):
    run_machine(Bitmaps, r, refc)
