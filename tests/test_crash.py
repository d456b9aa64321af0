"""kill -9 crash tests over the AOF (tests/crash_harness.py; 50+ rounds standalone, the
figures are in DURABILITY.md)."""
from __future__ import annotations

import math

from crash_harness import run


def test_always_no_acknowledged_write_lost():
    res = run(rounds=4, clients=8, fsync="always", max_run=0.8, verbose=False)
    assert res["rounds"] == 4 and res["acked"] > 0
    assert res["lost"] == 0, res
    assert res["dup"] == 0, res


def test_everysec_loss_window_within_two_seconds():
    res = run(rounds=2, clients=6, fsync="everysec", max_run=0.8, verbose=False)
    assert res["dup"] == 0, res
    assert not math.isnan(res["window"]) and res["window"] <= 2.0, res


def test_harness_detects_lost_writes():
    """Negative control: the tail of the AOF is cut after the kill (what a server that replied
    before writing would leave); the harness must report acknowledged writes as lost."""
    res = run(rounds=1, clients=4, fsync="always", min_run=0.5, max_run=0.6, verbose=False,
              sabotage=400)
    assert res["acked"] > 0
    assert res["lost"] > 0, res


def test_lmdb_always_no_acknowledged_write_lost():
    """The same rounds on the lmdb engine (its negative control, replies sent before the
    commit, is tests/test_lmdb_engine.py's)."""
    res = run(rounds=3, clients=8, fsync="always", max_run=0.8, verbose=False, engine="lmdb")
    assert res["rounds"] == 3 and res["acked"] > 0
    assert res["lost"] == 0, res
    assert res["dup"] == 0, res
