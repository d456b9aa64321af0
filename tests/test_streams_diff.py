"""Differential test of the stream entry commands: random sequences to valkeyd and
valkey-server 8.0 with explicit IDs (and ``<ms>-*``), so every reply is deterministic:
XADD (NOMKSTREAM, MAXLEN/MINID with = and ~, LIMIT), XRANGE, XREVRANGE, XLEN, XDEL, XTRIM,
XSETID, XREAD without BLOCK, and DEL/TYPE/EXISTS/OBJECT ENCODING. stream-node-max-entries
and stream-node-max-bytes are varied (on both servers; the listpack size of a node is
estimated as Redis computes it) so that approximate trimming, which removes whole nodes only,
meets many node layouts.

Not compared: XREAD with ``+`` (Valkey 8 reads the last entry; Redis 7.2.4 refuses the ID).
"""
from __future__ import annotations

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from differential import DIFF_SETTINGS, KEYS, VALUES, DiffMachine

RAW = ("XRANGE", "XREVRANGE", "XREAD", "XADD", "XTRIM", "XDEL", "XLEN", "XSETID")
MS = st.integers(0, 12)
SEQ = st.integers(0, 3)
IDS = st.builds(lambda m, s: f"{m}-{s}", MS, SEQ)
BOUNDS = st.one_of(
    st.sampled_from(["-", "+", "(0-0", "(5", "18446744073709551615"]),
    IDS, MS.map(str), IDS.map(lambda i: "(" + i), MS.map(lambda m: f"({m}"))
FIELDS = st.lists(st.tuples(st.sampled_from([b"f", b"g", b"h", b"1"]), VALUES),
                  min_size=1, max_size=3)


def raw_client(c):
    for name in RAW:
        c.set_response_callback(name, lambda r, **kw: r)
    return c


def trim_args(draw):
    strategy = draw(st.sampled_from(["", "MAXLEN", "MINID", "maxlen"]))
    if not strategy:
        return []
    out = [strategy]
    mod = draw(st.sampled_from(["", "=", "~"]))
    if mod:
        out.append(mod)
    if strategy.upper() == "MAXLEN":
        out.append(str(draw(st.integers(-1, 8))))
    else:
        out.append(draw(st.one_of(IDS, MS.map(str))))
    if draw(st.integers(0, 3)) == 0:
        out += ["LIMIT", str(draw(st.integers(0, 5)))]
    return out


class Streams(DiffMachine):
    @rule(key=KEYS, data=st.data(), fields=FIELDS)
    def xadd(self, key, data, fields):
        args = ["XADD", key]
        if data.draw(st.integers(0, 5)) == 0:
            args.append("NOMKSTREAM")
        args += trim_args(data.draw)
        ident = data.draw(st.one_of(IDS, MS.map(lambda m: f"{m}-*"),
                                    st.sampled_from(["0-0", "0-*", "x"])))
        args.append(ident)
        for f, v in fields:
            args += [f, v]
        self.check(*args)

    @rule(key=KEYS, a=BOUNDS, b=BOUNDS, count=st.one_of(st.none(), st.integers(-1, 4)),
          rev=st.booleans())
    def xrange(self, key, a, b, count, rev):
        args = ["XREVRANGE" if rev else "XRANGE", key, a, b]
        if count is not None:
            args += ["COUNT", count]
        self.check(*args)

    @rule(key=KEYS)
    def xlen(self, key):
        self.check("XLEN", key)
        self.check_state(key)

    @rule(key=KEYS, ids=st.lists(st.one_of(IDS, MS.map(str)), min_size=1, max_size=4))
    def xdel(self, key, ids):
        self.check("XDEL", key, *ids)

    @rule(key=KEYS, data=st.data())
    def xtrim(self, key, data):
        self.check("XTRIM", key, *trim_args(data.draw))

    @rule(key=KEYS, ident=IDS, extra=st.lists(st.sampled_from(
        ["ENTRIESADDED 3", "ENTRIESADDED 100", "MAXDELETEDID 2-0", "MAXDELETEDID 20-0"]),
        max_size=2))
    def xsetid(self, key, ident, extra):
        args = ["XSETID", key, ident]
        for e in extra:
            args += e.split()
        self.check(*args)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3), data=st.data(),
          count=st.one_of(st.none(), st.integers(0, 3)))
    def xread(self, keys, data, count):
        args = ["XREAD"]
        if count is not None:
            args += ["COUNT", count]
        ids = [data.draw(st.one_of(IDS, MS.map(str), st.just("$"))) for _ in keys]
        self.check(*args, "STREAMS", *keys, *ids)

    @rule(key=KEYS)
    def generic(self, key):
        self.check("EXISTS", key)
        self.check_state(key)
        if key == b"k3":
            self.check("DEL", key)

    @rule(key=KEYS)
    def wrongtype(self, key):
        if not self.ours.exists(key):
            self.check("SET", key, "str")

    @rule(value=st.sampled_from([0, 1, 2, 3, 5, 100]))
    def config(self, value):
        note(f"CONFIG SET stream-node-max-entries {value}")
        self.check("CONFIG", "SET", "stream-node-max-entries", value)

    @rule(value=st.sampled_from([30, 60, 100, 200, 4096]))
    def config_bytes(self, value):
        note(f"CONFIG SET stream-node-max-bytes {value}")
        self.check("CONFIG", "SET", "stream-node-max-bytes", value)


def test_streams_differential(r, refc):
    ours, ref = raw_client(r), raw_client(refc)
    try:
        bound = type("Streams", (Streams,), {"ours": ours, "ref": ref})
        run_state_machine_as_test(   # four times the default sequences (a few seconds)
            bound, settings=settings(DIFF_SETTINGS, max_examples=DIFF_SETTINGS.max_examples * 4))
    finally:
        for c in (ours, ref):
            c.config_set("stream-node-max-entries", 100)
            c.config_set("stream-node-max-bytes", 4096)
