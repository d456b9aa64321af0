"""Differential test of the list family: random command sequences to valkeyd and
valkey-server, with equal replies, TYPE and OBJECT ENCODING (tests/differential.py).

The machine also changes list-max-listpack-size now and then, so that quicklists with several
nodes, their conversions back to listpack and node splits/merges (LINSERT) are exercised.
"""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import rule

from differential import INDEXES, KEYS, VALUES, DiffMachine, run_machine

# Values of every listpack entry size class, and a few big ones.
LVALUES = st.one_of(VALUES, st.sampled_from([b"y" * 200, b"z" * 1000, b"9" * 19,
                                             b"70000", b"-4097", b"2147483648", b"w" * 63,
                                             b"w" * 64]))
SIDES = st.sampled_from([b"LEFT", b"RIGHT", b"left", b"right"])
FILLS = st.sampled_from([b"-2", b"-1", b"1", b"2", b"3", b"5", b"0"])


class Lists(DiffMachine):
    @rule(fill=FILLS)
    def config(self, fill):
        self.check("CONFIG", "SET", "list-max-listpack-size", fill)

    @rule(cmd=st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), key=KEYS,
          vals=st.lists(LVALUES, min_size=1, max_size=6))
    def push(self, cmd, key, vals):
        self.check(cmd, key, *vals)
        self.check_state(key)

    @rule(cmd=st.sampled_from(["LPOP", "RPOP"]), key=KEYS,
          count=st.one_of(st.none(), st.integers(-1, 7)))
    def pop(self, cmd, key, count):
        if count is None:
            self.check(cmd, key)
        else:
            self.check(cmd, key, count)
        self.check_state(key)

    @rule(key=KEYS, i=INDEXES)
    def lindex(self, key, i):
        self.check("LINDEX", key, i)

    @rule(key=KEYS, a=INDEXES, b=INDEXES)
    def lrange(self, key, a, b):
        self.check("LRANGE", key, a, b)

    @rule(key=KEYS)
    def llen(self, key):
        self.check("LLEN", key)

    @rule(key=KEYS, i=INDEXES, v=LVALUES)
    def lset(self, key, i, v):
        self.check("LSET", key, i, v)
        self.check_state(key)

    @rule(key=KEYS, a=INDEXES, b=INDEXES)
    def ltrim(self, key, a, b):
        self.check("LTRIM", key, a, b)
        self.check_state(key)

    @rule(key=KEYS, n=st.integers(-3, 3), v=VALUES)
    def lrem(self, key, n, v):
        self.check("LREM", key, n, v)
        self.check_state(key)

    @rule(key=KEYS, where=st.sampled_from([b"BEFORE", b"AFTER", b"after", b"x"]),
          pivot=VALUES, v=LVALUES)
    def linsert(self, key, where, pivot, v):
        self.check("LINSERT", key, where, pivot, v)
        self.check_state(key)

    @rule(key=KEYS, v=VALUES, rank=st.one_of(st.none(), st.integers(-3, 3)),
          count=st.one_of(st.none(), st.integers(-1, 3)),
          maxlen=st.one_of(st.none(), st.integers(-1, 6)))
    def lpos(self, key, v, rank, count, maxlen):
        args = ["LPOS", key, v]
        if rank is not None:
            args += ["RANK", rank]
        if count is not None:
            args += ["COUNT", count]
        if maxlen is not None:
            args += ["MAXLEN", maxlen]
        self.check(*args)

    @rule(src=KEYS, dst=KEYS, a=SIDES, b=SIDES)
    def lmove(self, src, dst, a, b):
        self.check("LMOVE", src, dst, a, b)
        self.check_state(src)
        self.check_state(dst)

    @rule(src=KEYS, dst=KEYS)
    def rpoplpush(self, src, dst):
        self.check("RPOPLPUSH", src, dst)
        self.check_state(dst)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3), side=SIDES,
          count=st.one_of(st.none(), st.integers(0, 4)))
    def lmpop(self, keys, side, count):
        args = ["LMPOP", len(keys), *keys, side]
        if count is not None:
            args += ["COUNT", count]
        self.check(*args)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3), left=st.booleans())
    def bpop_nonblocking(self, keys, left):
        # Only when one of the keys holds a non-empty list (a blocking wait would stall).
        for k in keys:
            t = self.check("TYPE", k)
            if t in (b"list", "list"):
                self.check("BLPOP" if left else "BRPOP", *keys, "0.01")
                return

    @rule(key=KEYS)
    def generic(self, key):
        self.check("EXISTS", key)
        self.check_state(key)

    @rule(key=KEYS, v=VALUES)
    def clobber(self, key, v):
        self.check("SET", key, v)

    @rule(key=KEYS)
    def delete(self, key):
        self.check("DEL", key)


def test_lists_differential(r, refc):
    try:
        run_machine(Lists, r, refc)
    finally:
        r.config_set("list-max-listpack-size", "-2")
        refc.config_set("list-max-listpack-size", "-2")
