"""Shared fixtures.

* ``server`` — one valkeyd process per test session (memory engine, debug commands enabled);
  ``r``/``r3`` are redis-py clients in RESP2/RESP3 on a flushed database.
* ``rr`` — parametrized over RESP2 and RESP3.
* ``pair`` — raw clients to valkeyd and valkey-server (exact reply bytes), RESP2 and RESP3.
* ``ref`` — a real valkey-server 8.0 for exact comparisons. Outside CI, when the binary is
  missing, those tests are skipped (and reported as skipped); in CI they fail.
"""
from __future__ import annotations

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

