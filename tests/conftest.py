"""Shared fixtures.

* ``server`` — one valkeyd process per test session (memory engine, debug commands enabled);
  ``r``/``r3`` are redis-py clients in RESP2/RESP3 on a flushed database.
* ``rr`` — parametrized over RESP2 and RESP3.
* ``pair`` — raw clients to valkeyd and valkey-server (exact reply bytes), RESP2 and RESP3.
* ``ref`` — a real valkey-server 8.0 for exact comparisons. Outside CI, when the binary is
  missing, those tests are skipped (and reported as skipped); in CI they fail.

Engines. Every server a test starts through ``harness.start_valkeyd`` (the session ``server``
included) uses ``$VALKEYD_ENGINE`` (memory when unset); ``make test`` runs the suite once as
is and once more with ``VALKEYD_ENGINE=lmdb``. In the lmdb pass the files in
:data:`NOT_ENGINE_PASS` are deselected (pytest reports how many): they test the memory
engine's own persistence (RDB load at startup, the AOF, the AOF crash harness), run both
engines themselves (the in-process engine suites, the LMDB engine's and conversion tests), or
start no server at all.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import IN_CI, RawClient, start_valkey, start_valkeyd, valkey_server_path


@pytest.fixture(scope="session")
def server():
    s = start_valkeyd("--enable-debug-command", "yes", "--save", "")
    yield s
    s.stop()


@pytest.fixture
def r(server):
    c = server.client(2)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def r3(server):
    c = server.client(3)
    c.flushall()
    yield c
    c.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def rr(server, request):
    c = server.client(request.param)
    c.flushall()
    yield c
    c.close()


@pytest.fixture(scope="session")
def ref():
    if valkey_server_path() is None:
        if IN_CI:
            pytest.fail("valkey-server is required in CI; .ci/run must install it")
        pytest.skip("valkey-server not installed (run .ci/install-system-deps)")
    s = start_valkey()
    yield s
    s.stop()


@pytest.fixture
def refc(ref):
    c = ref.client(2)
    c.flushall()
    yield c
    c.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(server, ref, request):
    """(valkeyd, reference) raw clients (harness.RawClient) on flushed databases, in one
    protocol; compare replies with ``harness.same_raw``."""
    a, b = RawClient(server.port, request.param), RawClient(ref.port, request.param)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


@pytest.fixture(scope="module")
def authpair():
    """valkeyd and valkey-server, both with requirepass "sekret"."""
    if valkey_server_path() is None:
        if IN_CI:
            pytest.fail("valkey-server is required in CI; .ci/run must install it")
        pytest.skip("valkey-server not installed (run .ci/install-system-deps)")
    a = start_valkeyd("--requirepass", "sekret", "--save", "")
    b = start_valkey("--requirepass", "sekret")
    yield a, b
    a.stop()
    b.stop()



NOT_ENGINE_PASS = {
    # the memory engine's persistence: the AOF, its rewrite and crash harness, RDB loading at
    # startup (the lmdb engine loads nothing: its environment is the dataset)
    "test_aof.py", "test_aof_rewrite.py", "test_crash.py", "test_rdb_load.py",
    # both engines already, each test choosing its engine
    "test_engine_contract.py", "test_engine_hash.py", "test_engine_list.py",
    "test_engine_set.py", "test_engine_stream.py", "test_engine_stream_groups.py",
    "test_engine_zset.py", "test_lmdb_engine.py", "test_convert.py",
    # offline tools and tables: no server, or servers of their own
    "test_command_table.py", "test_compat_doc.py", "test_bench_tool.py", "test_rdb_tools.py",
    "test_aof_tools.py", "test_rdb_salvage.py",
}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("VALKEYD_ENGINE", "memory") == "memory":
        return
    drop = [it for it in items if Path(str(it.fspath)).name in NOT_ENGINE_PASS]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [it for it in items if Path(str(it.fspath)).name not in NOT_ENGINE_PASS]
