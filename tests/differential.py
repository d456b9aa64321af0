"""Differential testing: the same random command sequences go to valkeyd and to a real
valkey-server, and every reply must be equal.

Each command family subclasses :class:`DiffMachine` with hypothesis rules that call
``self.check(...)`` and runs it with :func:`run_machine` from a test that has the ``r`` and
``refc`` fixtures (so a missing valkey-server skips outside CI and fails in CI)::

    class Lists(DiffMachine):
        @rule(key=KEYS, vals=st.lists(VALUES, min_size=1, max_size=5))
        def lpush(self, key, vals):
            self.check("LPUSH", key, *vals)

    def test_lists_differential(r, refc):
        run_machine(Lists, r, refc)

Runs are derandomized (the same sequences every run, so CI is reproducible) and bounded:
``VALKEYD_DIFF_EXAMPLES`` sequences of at most ``VALKEYD_DIFF_STEPS`` commands each.
Where Valkey 8.0 and Redis 7.2.4 differ, a rule must not compare that case (Redis is the
specification); such cases get their own tests against Redis's documented behaviour.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from harness import reply_or_error

EXAMPLES = int(os.environ.get("VALKEYD_DIFF_EXAMPLES", "30"))
STEPS = int(os.environ.get("VALKEYD_DIFF_STEPS", "40"))

DIFF_SETTINGS = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                         derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))

# A few keys, so that commands meet each other's keys (and wrong types) often.
KEYS = st.sampled_from([b"k1", b"k2", b"k3", b"{t}k4"])
# Members/fields/values: small ints (intset/listpack rules), words, and the odd long value.
SMALL_INTS = st.integers(-5, 20).map(lambda i: str(i).encode())
WORDS = st.sampled_from([b"a", b"b", b"c", b"foo", b"bar", b"", b"x" * 70, b"\x00\xff"])
VALUES = st.one_of(SMALL_INTS, WORDS)
# Counts and indexes, including the negative and out-of-range edges.
INDEXES = st.integers(-8, 8)


def sort_nested(v):
    """A reply whose order is unspecified (SMEMBERS, HKEYS ...), in a canonical order."""
    if isinstance(v, (list, tuple)):
        return sorted((sort_nested(x) for x in v), key=repr)
    if isinstance(v, (set, frozenset)):
        return sorted((sort_nested(x) for x in v), key=repr)
    if isinstance(v, dict):
        return sorted(((sort_nested(k), sort_nested(x)) for k, x in v.items()), key=repr)
    return v


class DiffMachine(RuleBasedStateMachine):
    """Base of the per-family machines. ``ours`` and ``ref`` are set by :func:`run_machine`."""

    ours = None
    ref = None

    def __init__(self):
        super().__init__()
        self.ours.flushall()
        self.ref.flushall()

    def check(self, *args, unordered: bool = False):
        """Run one command on both servers; the replies (or error texts) must be equal.
        ``unordered`` compares replies whose element order Redis leaves unspecified."""
        a = reply_or_error(self.ours, *args)
        b = reply_or_error(self.ref, *args)
        if unordered:
            a, b = sort_nested(a), sort_nested(b)
        assert a == b, (args, a, b)
        return a

    def check_state(self, key):
        """TYPE, and OBJECT ENCODING where the key exists, must agree too."""
        t = self.check("TYPE", key)
        if t not in (b"none", "none"):
            self.check("OBJECT", "ENCODING", key)


def run_machine(machine: type, ours, ref) -> None:
    bound = type(machine.__name__, (machine,), {"ours": ours, "ref": ref})
    run_state_machine_as_test(bound, settings=DIFF_SETTINGS)
