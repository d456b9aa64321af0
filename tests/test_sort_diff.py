"""Differential test of SORT / SORT_RO: random lists, sets, sorted sets and weight keys
(strings and hash fields), then random SORT commands with every option, sent to valkeyd and
valkey-server 8.0; replies, stored results, TYPE and OBJECT ENCODING must be equal.

Where Redis leaves the order unspecified the comparison is relaxed, not skipped: a set in a
hashtable iterates in each implementation's own hash order, and a sorted set is loaded in
hash order, so with ALPHA (where equal weights, and strings equal up to a NUL byte, tie) or
BY nosort on such a set the reply is compared as a multiset, or only its length when a
LIMIT picks a part of it. Numeric sorts are total orders (equal scores order by the
element) and are always compared exactly. Values that make strtod report ERANGE are left out
(valkey-server keeps a stale errno after them; see tests/test_sort.py).
"""
from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from differential import DIFF_SETTINGS, KEYS, VALUES, DiffMachine
from harness import reply_or_error

ELEMS = st.lists(VALUES, min_size=1, max_size=8)
WEIGHTS = st.one_of(VALUES, st.sampled_from([b"1.5", b"-0.5", b"inf", b"-inf", b" 3",
                                              b"0x10", b"3 ", b"nan", b"1e3"]))
SCORES = st.sampled_from([b"0", b"1", b"2", b"-1", b"1.5", b"inf", b"-inf"])
BY = st.sampled_from([None, b"w_*", b"h_*->f", b"h_*->g", b"nosort", b"w_*_x"])
GETS = st.lists(st.sampled_from([b"#", b"w_*", b"h_*->f", b"nostar", b"h_*"]), max_size=3)
LIMITS = st.one_of(st.none(), st.tuples(st.integers(-3, 9), st.integers(-3, 9)))
ORDER = st.sampled_from([None, b"ASC", b"DESC"])
DEST = st.one_of(st.none(), KEYS, st.just(b"dst"))
CONFIGS = {
    "list-max-listpack-size": st.sampled_from([b"-2", b"-1", b"1", b"2", b"4"]),
    "zset-max-listpack-entries": st.sampled_from([b"0", b"1", b"3", b"128"]),
    "set-max-intset-entries": st.sampled_from([b"1", b"3", b"512"]),
    "set-max-listpack-entries": st.sampled_from([b"1", b"3", b"128"]),
}
DEFAULTS = {"list-max-listpack-size": b"-2", "zset-max-listpack-entries": b"128",
            "set-max-intset-entries": b"512", "set-max-listpack-entries": b"128"}


class Sort(DiffMachine):
    @rule(key=KEYS, vals=ELEMS)
    def rpush(self, key, vals):
        self.check("RPUSH", key, *vals)

    @rule(key=KEYS, vals=ELEMS)
    def sadd(self, key, vals):
        self.check("SADD", key, *vals)

    @rule(key=KEYS, members=ELEMS, scores=st.lists(SCORES, min_size=8, max_size=8))
    def zadd(self, key, members, scores):
        args = []
        for m, s in zip(members, scores):
            args += [s, m]
        self.check("ZADD", key, *args)

    @rule(elem=VALUES, w=WEIGHTS)
    def set_weight(self, elem, w):
        self.check("SET", b"w_" + elem, w)

    @rule(elem=VALUES, field=st.sampled_from([b"f", b"g"]), w=WEIGHTS)
    def hset_weight(self, elem, field, w):
        self.check("HSET", b"h_" + elem, field, w)

    @rule(elem=VALUES)
    def del_weight(self, elem):
        self.check("DEL", b"w_" + elem, b"h_" + elem)

    @rule(data=st.data(), name=st.sampled_from(sorted(CONFIGS)))
    def config(self, data, name):
        self.check("CONFIG", "SET", name, data.draw(CONFIGS[name]))

    @rule(key=KEYS)
    def set_string(self, key):
        self.check("SET", key, b"str")

    @rule(key=KEYS)
    def delete(self, key):
        self.check("DEL", key)
        self.check("EXISTS", key)

    @rule(key=KEYS)
    def state(self, key):
        self.check_state(key)

    def _ordered(self, key) -> bool:
        """Whether the elements load in the same order on both servers."""
        t = reply_or_error(self.ours, "TYPE", key)
        if t == b"list" or t == b"none":
            return True
        if t == b"set":
            return reply_or_error(self.ours, "OBJECT", "ENCODING", key) != b"hashtable"
        return False

    @rule(key=KEYS, by=BY, limit=LIMITS, order=ORDER, alpha=st.booleans(), gets=GETS,
          dest=DEST, ro=st.booleans())
    def sort(self, key, by, limit, order, alpha, gets, dest, ro):
        args = ["SORT_RO" if ro and dest is None else "SORT", key]
        if by is not None:
            args += ["BY", by]
        if limit is not None:
            args += ["LIMIT", limit[0], limit[1]]
        if order is not None:
            args.append(order)
        if alpha:
            args.append("ALPHA")
        for g in gets:
            args += ["GET", g]
        if dest is not None:
            args += ["STORE", dest]
        t = reply_or_error(self.ours, "TYPE", key)
        exact = self._ordered(key)
        if not exact:
            nosort = by == b"nosort"
            if t == b"zset":
                # BY nosort keeps the sorted set's order; numeric sorts are total; ALPHA
                # with STORE compares whole strings (distinct members never tie).
                exact = nosort or not alpha or (by is None and dest is not None)
            else:
                # A hashtable set: BY nosort is hash order unless stored (then it is sorted
                # ALPHA with whole strings, a total order), numeric sorts are total.
                exact = ((not alpha and not nosort)
                         or (dest is not None and (by is None or nosort)))
        if exact:
            self.check(*args)
            if dest is not None:
                self.check("LRANGE", dest, 0, -1)
                self.check_state(dest)
            return
        a = reply_or_error(self.ours, *args)
        b = reply_or_error(self.ref, *args)
        if limit is None:
            if isinstance(a, list) and isinstance(b, list):
                assert sorted(a, key=repr) == sorted(b, key=repr), (args, a, b)
            else:
                assert a == b, (args, a, b)
        else:
            assert type(a) is type(b) and (len(a) == len(b) if isinstance(a, list) else
                                           a == b), (args, a, b)
        if dest is not None and isinstance(a, int):
            la = reply_or_error(self.ours, "LRANGE", dest, 0, -1)
            lb = reply_or_error(self.ref, "LRANGE", dest, 0, -1)
            if limit is None:
                assert sorted(la, key=repr) == sorted(lb, key=repr), (args, la, lb)
            else:
                assert len(la) == len(lb), (args, la, lb)
            if la != lb:
                # the order was not Redis's to fix: bring the destinations back to the same
                # value, so that later exact comparisons (a SORT of this list) stay fair
                self.ref.delete(dest)
                if la:
                    self.ref.rpush(dest, *la)
            self.check("TYPE", dest)


def test_sort_differential(r, refc):
    # SORT runs are cheap: four times the default number of sequences (a few seconds).
    bound = type("Sort", (Sort,), {"ours": r, "ref": refc})
    try:
        run_state_machine_as_test(
            bound, settings=settings(DIFF_SETTINGS, max_examples=DIFF_SETTINGS.max_examples * 4))
    finally:
        for c in (r, refc):
            for name, value in DEFAULTS.items():
                c.config_set(name, value)
