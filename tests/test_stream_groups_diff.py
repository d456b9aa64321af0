"""Differential test of consumer groups: random sequences of XADD/XDEL/XTRIM and the group
commands (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO) go to valkeyd and to
valkey-server; every reply must be equal (see tests/differential.py).

IDs are explicit (small ms and seq parts, so XADD also meets its "ID smaller" error). Times
are kept out of the comparison: XPENDING's idle column, XINFO CONSUMERS' idle, and the
delivery/seen/active times of XINFO STREAM FULL are masked (``-1`` stays visible, it means
"never active"). Minimum idle times are 0 or far larger than the run (and XCLAIM's IDLE
option, when given, is larger still), so every claim decision is deterministic. Replies are
compared raw (redis-py's stream callbacks are bypassed), in RESP2 and in RESP3.
"""
from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from differential import DIFF_SETTINGS, EXAMPLES, STEPS, DiffMachine

SKEYS = st.sampled_from([b"s1", b"s1", b"s2", b"s3"])
GROUPS = st.sampled_from([b"g1", b"g1", b"g1", b"g2", b"g3"])
CONSUMERS = st.sampled_from([b"alice", b"bob", b"carol", b"Z"])
IDS = st.builds(lambda ms, seq: b"%d-%d" % (ms, seq), st.sampled_from(list(range(1, 15)) + [0]),
                st.sampled_from([1, 0, 2]))
BOUND_IDS = st.one_of(IDS, IDS.map(lambda i: b"(" + i), st.sampled_from([b"-", b"+", b"0"]))
READ_IDS = st.sampled_from([b">", b">", b"0", b"3-0", b"0-2"])
FIELDS = st.sampled_from([b"f", b"g", b"name", b""])
VALUES = st.sampled_from([b"1", b"v", b"hello", b"", b"x" * 20])
MINIDLE = st.sampled_from([b"0", b"1000000000", b"-5"])
BIGIDLE = b"10000000000"


def _mask_pending(reply):
    """XPENDING extended: [id, consumer, idle, count] -> idle masked."""
    if isinstance(reply, list):
        return [[x[0], x[1], "t", x[3]] if isinstance(x, list) and len(x) == 4 else x
                for x in reply]
    return reply


def _pairs(flat):
    return dict(zip(flat[::2], flat[1::2])) if isinstance(flat, list) else flat


def _mask_consumers(reply):
    if not isinstance(reply, list):
        return reply
    out = []
    for x in reply:
        d = _pairs(x) if isinstance(x, list) else dict(x)
        d[b"idle"] = "t"
        d[b"inactive"] = -1 if d[b"inactive"] == -1 else "t"
        out.append(d)
    return out


def _mask_full(reply):
    if not isinstance(reply, (list, dict)):
        return reply
    d = _pairs(reply) if isinstance(reply, list) else dict(reply)
    groups = []
    for g in d[b"groups"]:
        gd = _pairs(g) if isinstance(g, list) else dict(g)
        gd[b"pending"] = [[p[0], p[1], "t", p[3]] for p in gd[b"pending"]]
        cons = []
        for cn in gd[b"consumers"]:
            cd = _pairs(cn) if isinstance(cn, list) else dict(cn)
            cd[b"seen-time"] = "t"
            cd[b"active-time"] = -1 if cd[b"active-time"] == -1 else "t"
            cd[b"pending"] = [[p[0], "t", p[2]] for p in cd[b"pending"]]
            cons.append(cd)
        gd[b"consumers"] = cons
        groups.append(gd)
    d[b"groups"] = groups
    return d


class Groups(DiffMachine):
    def __init__(self):
        super().__init__()
        for c in (self.ours, self.ref):
            c.response_callbacks.clear()
            c.config_set("stream-node-max-entries", 4)
        # a populated start, so that reads and claims have something to work on
        for key in (b"s1", b"s2"):
            for i in range(1, 6):
                self.check("XADD", key, b"%d-1" % i, "f", i)
            self.check("XGROUP", "CREATE", key, "g1", "0")
        self.check("XGROUP", "CREATE", "s1", "g2", "3-1")
        self.check("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", "s1", ">")
        self.check("XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "s1", "s2", ">", ">")

    def teardown(self):
        for c in (self.ours, self.ref):
            c.config_set("stream-node-max-entries", 100)

    def checkm(self, mask, *args):
        from harness import reply_or_error
        a = reply_or_error(self.ours, *args)
        b = reply_or_error(self.ref, *args)
        if not (isinstance(a, str) or isinstance(b, str)):
            a, b = mask(a), mask(b)
        assert a == b, (args, a, b)

    # -- entries ---------------------------------------------------------------------------
    @rule(key=SKEYS, ident=IDS, f=FIELDS, v=VALUES)
    def xadd(self, key, ident, f, v):
        self.check("XADD", key, ident, f, v)

    @rule(key=SKEYS, ids=st.lists(IDS, min_size=1, max_size=3))
    def xdel(self, key, ids):
        self.check("XDEL", key, *ids)

    @rule(key=SKEYS, n=st.integers(0, 6))
    def xtrim(self, key, n):
        self.check("XTRIM", key, "MAXLEN", n)

    # -- groups ----------------------------------------------------------------------------
    @rule(key=SKEYS, g=GROUPS, ident=st.one_of(IDS, st.sampled_from([b"$", b"0", b"+"])),
          mk=st.booleans(), er=st.sampled_from([None, b"0", b"3", b"-1", b"-2", b"x"]))
    def xgroup_create(self, key, g, ident, mk, er):
        args = ["XGROUP", "CREATE", key, g, ident]
        if mk:
            args.append("MKSTREAM")
        if er is not None:
            args += ["ENTRIESREAD", er]
        self.check(*args)

    @rule(key=SKEYS, g=GROUPS, ident=st.one_of(IDS, st.sampled_from([b"$", b"-", b"+"])),
          er=st.sampled_from([None, b"0", b"2", b"-1"]))
    def xgroup_setid(self, key, g, ident, er):
        args = ["XGROUP", "SETID", key, g, ident]
        if er is not None:
            args += ["ENTRIESREAD", er]
        self.check(*args)

    @rule(key=SKEYS, g=GROUPS)
    def xgroup_destroy(self, key, g):
        self.check("XGROUP", "DESTROY", key, g)

    @rule(key=SKEYS, g=GROUPS, c=CONSUMERS, create=st.booleans())
    def xgroup_consumer(self, key, g, c, create):
        self.check("XGROUP", "CREATECONSUMER" if create else "DELCONSUMER", key, g, c)

    @rule(keys=st.one_of(SKEYS.map(lambda k: [k]), st.lists(SKEYS, min_size=1, max_size=2,
                                                            unique=True)),
          g=GROUPS, c=CONSUMERS,
          ids=st.lists(READ_IDS, min_size=2, max_size=2), count=st.sampled_from([None, 2, 1, 0]),
          noack=st.booleans())
    def xreadgroup(self, keys, g, c, ids, count, noack):
        args = ["XREADGROUP", "GROUP", g, c]
        if count is not None:
            args += ["COUNT", count]
        if noack:
            args.append("NOACK")
        args += ["STREAMS", *keys, *ids[:len(keys)]]
        self.check(*args)

    @rule(key=SKEYS, g=GROUPS, ids=st.lists(IDS, min_size=1, max_size=3))
    def xack(self, key, g, ids):
        self.check("XACK", key, g, *ids)

    @rule(key=SKEYS, g=GROUPS)
    def xpending_summary(self, key, g):
        self.check("XPENDING", key, g)

    @rule(key=SKEYS, g=GROUPS, lo=st.one_of(st.just(b"-"), BOUND_IDS),
          hi=st.one_of(st.just(b"+"), BOUND_IDS), count=st.sampled_from([10, 2, 1, 0, -1]),
          c=st.one_of(st.none(), CONSUMERS), idle=st.sampled_from([None, b"0", b"1000000000"]))
    def xpending_range(self, key, g, lo, hi, count, c, idle):
        args = ["XPENDING", key, g]
        if idle is not None:
            args += ["IDLE", idle]
        args += [lo, hi, count]
        if c is not None:
            args.append(c)
        self.checkm(_mask_pending, *args)

    @rule(key=SKEYS, g=GROUPS, c=CONSUMERS, minidle=MINIDLE,
          ids=st.lists(IDS, min_size=1, max_size=3),
          opts=st.lists(st.sampled_from(["JUSTID", "FORCE", "RETRYCOUNT", "LASTID", "IDLE"]),
                        max_size=3, unique=True),
          n=st.sampled_from([3, 0, 1]), last=IDS)
    def xclaim(self, key, g, c, minidle, ids, opts, n, last):
        args = ["XCLAIM", key, g, c, minidle, *ids]
        for o in opts:
            if o == "RETRYCOUNT":
                args += [o, n]
            elif o == "LASTID":
                args += [o, last]
            elif o == "IDLE":
                args += [o, BIGIDLE]
            else:
                args.append(o)
        self.check(*args)

    @rule(key=SKEYS, g=GROUPS, c=CONSUMERS, minidle=MINIDLE, start=BOUND_IDS,
          count=st.sampled_from([None, 2, 1, 3, 0]), justid=st.booleans())
    def xautoclaim(self, key, g, c, minidle, start, count, justid):
        args = ["XAUTOCLAIM", key, g, c, minidle, start]
        if count is not None:
            args += ["COUNT", count]
        if justid:
            args.append("JUSTID")
        self.check(*args)

    # -- introspection ---------------------------------------------------------------------
    @rule(key=SKEYS)
    def xinfo_groups(self, key):
        self.check("XINFO", "GROUPS", key)

    @rule(key=SKEYS)
    def xinfo_stream(self, key):
        self.check("XINFO", "STREAM", key)

    @rule(key=SKEYS, count=st.sampled_from([None, 0, 1, 3]))
    def xinfo_stream_full(self, key, count):
        args = ["XINFO", "STREAM", key, "FULL"]
        if count is not None:
            args += ["COUNT", count]
        self.checkm(_mask_full, *args)

    @rule(key=SKEYS, g=GROUPS)
    def xinfo_consumers(self, key, g):
        self.checkm(_mask_consumers, "XINFO", "CONSUMERS", key, g)

    # -- generic ---------------------------------------------------------------------------
    @rule(key=SKEYS)
    def generic(self, key):
        self.check("EXISTS", key)
        self.check_state(key)

    @rule(key=st.sampled_from([b"s2", b"s3"]), wrong=st.booleans())
    def delete(self, key, wrong):
        self.check("DEL", key)
        if wrong:
            self.check("SET", key, "x")


def test_stream_groups_differential(r, refc):
    # Many rules need a group and entries first: more and longer sequences than the default.
    bound = type("Groups", (Groups,), {"ours": r, "ref": refc})
    run_state_machine_as_test(bound, settings=settings(
        DIFF_SETTINGS, max_examples=EXAMPLES * 2, stateful_step_count=STEPS * 2))


def test_stream_groups_differential_resp3(r3, ref):
    """The same machine in RESP3 (maps, nulls)."""
    c = ref.client(3)
    c.flushall()
    try:
        bound = type("Groups3", (Groups,), {"ours": r3, "ref": c})
        run_state_machine_as_test(bound, settings=settings(
            DIFF_SETTINGS, max_examples=EXAMPLES, stateful_step_count=STEPS * 2))
    finally:
        c.close()
