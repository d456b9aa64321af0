"""tools/bench runs end to end (tiny request counts: this checks the tool, not the speed;
speed targets live in the benchmark itself, see BENCHMARKS.md)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import IN_CI

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_and_reports_every_case():
    if not shutil.which("valkey-benchmark") and not shutil.which("redis-benchmark"):
        if IN_CI:
            pytest.fail("valkey-benchmark is required in CI")
        pytest.skip("valkey-benchmark not installed")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "bench"), "--requests", "2000",
                        "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    rows = [l for l in r.stdout.splitlines() if l.startswith("| ") and "c=50" in l]
    assert len(rows) == 15, r.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1].replace(",", "")) > 0 and float(cells[2].replace(",", "")) > 0
        if "appendfsync" in row:
            assert cells[8] == "—"   # no floor server for the durability cases
        else:
            assert float(cells[8]) > 0   # the floor server (tools/bench_floor.py) answered too
    always = [r for r in rows if "appendfsync always" in r]
    assert len(always) == 2 and all("≥ 0.7" in r for r in always)


def test_bench_engines_mode_compares_lmdb_with_memory():
    """``--engines``: valkeyd on lmdb against valkeyd on memory, at the same appendfsync
    (check_settings in the tool verifies each server's settings over CONFIG GET)."""
    if not shutil.which("valkey-benchmark") and not shutil.which("redis-benchmark"):
        if IN_CI:
            pytest.fail("valkey-benchmark is required in CI")
        pytest.skip("valkey-benchmark not installed")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "bench"), "--engines",
                        "--requests", "1000", "--repeat", "1", "--only", "SET c=50"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert "| case | lmdb ops/s | memory ops/s |" in r.stdout
    rows = [l for l in r.stdout.splitlines() if l.startswith("| ") and "c=50" in l]
    assert sorted(row.split("|")[1].strip() for row in rows) == [
        "HSET c=50 appendfsync always", "HSET c=50 appendfsync everysec",
        "SET c=50 appendfsync always", "SET c=50 appendfsync everysec"], r.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1].replace(",", "")) > 0 and float(cells[2].replace(",", "")) > 0
        assert ("≥ 0.5" in cells[4]) == ("everysec" in cells[0])
