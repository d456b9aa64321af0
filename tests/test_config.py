"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP against real valkeyd processes, compared with
the real valkey-server where Valkey 8 and Redis 7.2.4 agree, and with Redis 7.2.4's reference
defaults (../shared/reference/redis-7.2.4-config-defaults.json)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import redis

from harness import (ROOT, ServerProcess, free_port, start_valkey, start_valkeyd,
                     valkey_server_path, wait_port)

REFERENCE = json.loads(
    (ROOT.parent / "shared" / "reference" / "redis-7.2.4-config-defaults.json").read_text()
    if (ROOT.parent / "shared" / "reference").exists() else
    (ROOT / "valkeyd" / "data" / "config-defaults.json").read_text())

# Set by the test harness (start_valkeyd / start_valkey) rather than left at the default.
HARNESS_SET = {"dir", "port", "save", "appendonly", "enable-debug-command", "bind"}


@pytest.fixture(scope="module")
def vd():
    s = start_valkeyd()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def vk():
    if valkey_server_path() is None:
        pytest.skip("valkey-server not installed")
    s = start_valkey()
    yield s
    s.stop()


@pytest.fixture
def c(vd):
    cl = vd.client()
    yield cl
    cl.close()


@pytest.fixture
def k(vk):
    cl = vk.client()
    yield cl
    cl.close()


def err(client, *args) -> str:
    with pytest.raises(redis.ResponseError) as e:
        client.execute_command(*args)
    return str(e.value)


def both_get(c, k, *names):
    return c.config_get(*names), k.config_get(*names)


# -- CONFIG GET --------------------------------------------------------------------------------

def test_every_reference_parameter_with_its_default(c):
    got = c.config_get("*")
    assert set(got) == set(REFERENCE)
    for name, default in REFERENCE.items():
        if name in ("dir", "port"):
            continue
        assert got[name] == default, name
    assert got["dir"] == os.path.realpath(got["dir"]) and os.path.isabs(got["dir"])


def test_valkey_parameters_in_reference_have_reference_defaults(c, k):
    """Every name valkey-server lists that Redis 7.2.4 also has is listed by valkeyd with
    the Redis default."""
    theirs = k.config_get("*")
    mine = c.config_get("*")
    common = [n for n in theirs if n in REFERENCE]
    assert len(common) > 150
    for name in common:
        assert name in mine, name
        if name not in HARNESS_SET:
            assert mine[name] == REFERENCE[name], name


def test_get_patterns_and_spelling(c, k):
    for args in (["MAXMEMORY"], ["maxmemory", "maxmemory", "hz"], ["slaveof"],
                 ["watchdog-period"], ["nonexistent"], ["hz", "nonexistent", "timeout"],
                 ["client-output-buffer-limit", "oom-score-adj-values", "notify-keyspace-events"],
                 ["hash-max-ziplist-entries", "HASH-max-listpack-entries"]):
        mine, theirs = both_get(c, k, *args)
        assert mine == theirs, args
    # globs: compare on the names both servers know
    # globs: the same names as valkey-server (those Redis 7.2.4 has), Redis's defaults
    for pat in ("maxmemory*", "*max*entries*", "slave-*", "MAXMEM*", "h?", "[hz]*",
                "*-max-listpack-*", "watchdog*", "*[^a-z-]*", "?ave"):
        mine = c.config_get(pat)
        theirs = [n for n in k.config_get(pat) if n in REFERENCE]
        assert sorted(mine) == sorted(theirs), pat
        for n, v in mine.items():
            if n not in HARNESS_SET:
                assert v == REFERENCE[n], (pat, n)
    # several patterns, overlapping
    got = c.config_get("maxmemory", "maxmemory*", "hz")
    assert set(got) == {"hz", "maxmemory", "maxmemory-policy", "maxmemory-samples",
                        "maxmemory-eviction-tenacity", "maxmemory-clients"}
    # hidden directives only by exact name
    assert "watchdog-period" not in c.config_get("*")
    assert c.config_get("watchdog-period") == {"watchdog-period": "0"}


def test_get_resp3_is_a_map(vd):
    c3 = vd.client(3)
    assert c3.execute_command("CONFIG", "GET", "hz", "timeout") == {b"hz": b"10",
                                                                     b"timeout": b"0"}
    c3.close()


def test_arity_and_subcommand_errors_match(c, k):
    for args in (["CONFIG", "GET"], ["CONFIG", "SET", "a"], ["CONFIG", "SET", "a", "b", "c"],
                 ["CONFIG", "FOO"], ["CONFIG"], ["CONFIG", "RESETSTAT", "x"],
                 ["CONFIG", "REWRITE"], ["CONFIG", "HELP", "x"]):
        assert err(c, *args) == err(k, *args), args


def test_help_matches(c, k):
    assert c.execute_command("CONFIG", "HELP") == k.execute_command("CONFIG", "HELP")


# -- CONFIG SET --------------------------------------------------------------------------------

SET_CASES = [
    ("maxmemory", "kb"), ("maxmemory", ""), ("maxmemory", "1KB"), ("maxmemory", "-1"),
    ("maxmemory", "99999999999999999999"), ("maxmemory", "3G"), ("maxmemory", "1.5mb"),
    ("hz", "abc"), ("hz", "1000"), ("hz", "0"), ("hz", "-1"), ("timeout", "01"),
    ("timeout", "+5"), ("timeout", " 5"), ("timeout", "5"),
    ("maxmemory-clients", "10%"), ("maxmemory-clients", "101%"), ("maxmemory-clients", "-5"),
    ("maxmemory-clients", "1mb"), ("unixsocketperm", "777"), ("save", "1 2 3"),
    ("save", "a b"), ("save", "100 1 200 2"), ("save", "0 1"), ("save", ""),
    ("notify-keyspace-events", "KEA"), ("notify-keyspace-events", "Kx$"),
    ("notify-keyspace-events", "Kmgn"), ("notify-keyspace-events", "Q"),
    ("loglevel", "foo"), ("loglevel", "WARNING"),
    ("shutdown-on-sigterm", "save nosave"), ("shutdown-on-sigterm", "now force"),
    ("shutdown-on-sigterm", "default"), ("shutdown-on-sigint", "NOW"), ("shutdown-on-sigint", ""),
    ("appendonly", "maybe"), ("activerehashing", "NO"), ("dbfilename", "a/b"),
    ("daemonize", "yes"), ("databases", "1"),
    ("latency-tracking-info-percentiles", "50 99.90 1e1"),
    ("latency-tracking-info-percentiles", "101"), ("latency-tracking-info-percentiles", "x"),
    ("latency-tracking-info-percentiles", ""),
    ("client-output-buffer-limit", "master 1 1 1"), ("client-output-buffer-limit", "normal 1 1"),
    ("client-output-buffer-limit", "replica 1mb 2mb 3"),
    ("client-output-buffer-limit", "pubsub 1 2 -1"),
    ("oom-score-adj-values", "1 2"), ("oom-score-adj-values", "1 2 3000"),
    ("oom-score-adj-values", "-100 0 100"),
    ("oom-score-adj", "maybe"), ("maxmemory-policy", "ALLKEYS-LRU"),
    ("list-max-ziplist-size", "99999999999"), ("list-max-ziplist-size", "-5"),
    ("maxclients", "0"), ("slowlog-log-slower-than", "-2"), ("replica-priority", "7"),
    ("slave-priority", "8"), ("replicaof", "no one"), ("requirepass", ""),
    ("proc-title-template", "{title} {nope}"), ("proc-title-template", "{title} {port}"),
    ("stream-node-max-bytes", "4kb"), ("tracking-table-max-keys", "1mb"),
    ("repl-backlog-size", "0"), ("cluster-announce-hostname", "bad_host"),
    ("busy-reply-threshold", "100"), ("lua-time-limit", "200"),
    ("enable-protected-configs", "yes"), ("appendfilename", "x.aof"),
]


def test_set_values_and_errors_match_valkey(c, k):
    names = sorted({n for n, _ in SET_CASES})
    # Start from the same state: Redis 7.2.4's defaults (the harness gives valkey-server
    # save "", and Valkey 8 changed some defaults, e.g. repl-backlog-size, replica-lazy-flush).
    for cl in (c, k):
        for n in names:
            try:
                cl.config_set(n, REFERENCE[n])
            except (KeyError, redis.ResponseError):
                pass
    before_mine = c.config_get(*names)
    before_theirs = k.config_get(*names)
    try:
        for name, value in SET_CASES:
            try:
                r1 = c.execute_command("CONFIG", "SET", name, value)
            except redis.ResponseError as e:
                r1 = str(e)
            try:
                r2 = k.execute_command("CONFIG", "SET", name, value)
            except redis.ResponseError as e:
                r2 = str(e)
            assert r1 == r2, (name, value)
            assert c.config_get(name) == k.config_get(name), (name, value)
    finally:
        for name, v in before_mine.items():
            try:
                c.config_set(name, v)
            except redis.ResponseError:
                pass
        for name, v in before_theirs.items():
            try:
                k.config_set(name, v)
            except redis.ResponseError:
                pass


def test_set_several_atomic(c, k):
    for cl in (c, k):
        cl.config_set("maxmemory", "0")
        cl.config_set("hz", "10")
    cases = [
        ["maxmemory", "10mb", "hz", "abc"],
        ["maxmemory", "10mb", "foo", "1"],
        ["maxmemory", "10mb", "daemonize", "no"],
        ["maxmemory", "10mb", "maxmemory", "20mb"],
        ["unixsocketperm", "1", "foo", "2"],
        ["foo", "1", "unixsocketperm", "2"],
        ["hz", "5", "HZ", "6"],
        ["maxmemory", "1mb", "slave-priority", "x"],
    ]
    for args in cases:
        assert err(c, "CONFIG", "SET", *args) == err(k, "CONFIG", "SET", *args), args
        assert c.config_get("maxmemory", "hz", "replica-priority") == {
            "maxmemory": "0", "hz": "10", "replica-priority": "100"}
    assert err(c, "CONFIG", "SET", "maxmemory", "10mb", "hz", "abc") == (
        "CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed "
        "into an integer")
    assert err(c, "CONFIG", "SET", "daemonize", "yes") == (
        "CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable "
        "config")
    assert err(c, "CONFIG", "SET", "nope", "1") == (
        "Unknown option or number of arguments for CONFIG SET - 'nope'")
    assert c.execute_command("CONFIG", "SET", "maxmemory", "3mb", "HZ", "12") == b"OK"
    assert c.config_get("maxmemory", "hz") == {"maxmemory": "3145728", "hz": "12"}
    c.config_set("maxmemory", "0")
    c.config_set("hz", "10")


def test_protected_config(c, k):
    for cl in (c, k):
        assert err(cl, "CONFIG", "SET", "dir", "/tmp") == (
            "CONFIG SET failed (possibly related to argument 'dir') - can't set protected config")


def test_protected_config_allowed(tmp_path):
    s = start_valkeyd("--enable-protected-configs", "local")
    try:
        c = s.client()
        sub = tmp_path / "newdir"
        sub.mkdir()
        assert c.config_set("dir", str(sub)) is True
        assert c.config_get("dir") == {"dir": str(sub)}
        assert err(c, "CONFIG", "SET", "dir", str(tmp_path / "missing")) == (
            "CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
        assert c.config_set("dbfilename", "x.rdb") is True
        assert err(c, "CONFIG", "SET", "dbfilename", "a/x.rdb") == (
            "CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't "
            "be a path, just a filename")
    finally:
        s.stop()


# -- CONFIG RESETSTAT -------------------------------------------------------------------------

def test_resetstat(vd):
    c = vd.client()
    for _ in range(5):
        c.set("a", "1")
    err(c, "NOSUCHCOMMAND")
    assert c.info("stats")["total_commands_processed"] > 5
    assert c.info("commandstats")["cmdstat_set"]["calls"] >= 5
    assert c.execute_command("CONFIG", "RESETSTAT") == b"OK"
    st = c.info("stats")
    assert st["total_commands_processed"] <= 2
    assert st["total_error_replies"] == 0
    assert st["total_connections_received"] == 0
    assert "cmdstat_set" not in c.info("commandstats")
    assert c.info("errorstats") == {}
    c.close()


# -- CONFIG REWRITE ---------------------------------------------------------------------------

CONF = """# a comment that stays
port 0
save 900 1
save 300 10

slave-read-only no
hash-max-ziplist-entries 100
include {inc}
# ??? keep me



rename-command flushall ""
maxmemory 1mb
bind 127.0.0.1 -::1
replicaof no one
loglevel notice
"""


def test_rewrite_round_trip(tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("hz 20\n")
    s = start_valkeyd(config_text=CONF.format(inc=inc), workdir=str(tmp_path))
    conf = tmp_path / "valkeyd.conf"
    try:
        c = s.client()
        c.config_set("maxmemory", "2048")
        c.config_set("notify-keyspace-events", "Ex")
        c.config_set("client-output-buffer-limit", "pubsub 64mb 16mb 61")
        c.config_set("save", "60 5")
        c.config_set("replica-read-only", "yes")
        c.config_set("bind", "* -::*")
        c.config_set("maxmemory-clients", "5%")
        c.config_set("requirepass", 'p"w')
        assert c.execute_command("CONFIG", "REWRITE") == b"OK"
        before = s.client(password='p"w').config_get("*")
    finally:
        s.stop()
    lines = conf.read_text().split("\n")
    text = conf.read_text()
    assert lines[0] == "# a comment that stays"
    assert lines[1] == f"port {s.port}"
    assert lines[2] == "save 60 5"            # first save line reused, the second blanked
    assert lines[3] == ""
    assert lines[4] == "replica-read-only yes"  # alias line rewritten with the primary name
    assert lines[5] == "hash-max-listpack-entries 100"
    assert lines[6] == f"include {inc}"
    assert lines[7] == "# ??? keep me"
    assert lines[8] == ""                      # runs of empty lines collapse
    assert lines[9] == 'rename-command flushall ""'
    assert lines[10] == "maxmemory 2kb"
    assert lines[11] == ""                     # bind (default again) and replicaof (no
    assert lines[12] == "loglevel notice"      # master) removed; default but present: kept
    gen = lines[lines.index("# Generated by CONFIG REWRITE") + 1:]
    assert text.count("# Generated by CONFIG REWRITE") == 1
    for expected in ("client-output-buffer-limit pubsub 64mb 16mb 61",
                     'notify-keyspace-events "xE"', "maxmemory-clients 5%",
                     'requirepass "p\\"w"', f'dir "{os.path.realpath(tmp_path)}"',
                     "latency-tracking-info-percentiles 50 99 99.9",
                     "user default on sanitize-payload #%s ~* &* +@all"
                     % hashlib.sha256(b'p"w').hexdigest()):
        assert expected in gen, (expected, gen)
    assert "hz 20" in gen  # set by the include, not the file itself: not the default, written
    assert not any(g.startswith("port ") for g in gen)
    assert not any(g.startswith("client-output-buffer-limit normal") for g in gen)
    # the rewritten file starts a server with the same configuration
    port = free_port()
    text = conf.read_text().replace(f"port {s.port}", f"port {port}")
    conf.write_text(text)
    s3 = ServerProcess([sys.executable, "-m", "valkeyd", "serve", str(conf)], port,
                       str(tmp_path), tmp_path / "s3.log",
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        after = s3.client(password='p"w').config_get("*")
    finally:
        s3.stop()
    before.pop("port")
    after.pop("port")
    assert after == before


def test_rewrite_same_as_valkey_for_simple_changes(tmp_path):
    """Lines for changed directives are written exactly as valkey-server writes them."""
    results = []
    for kind in ("valkeyd", "valkey"):
        d = tmp_path / kind
        d.mkdir()
        port = free_port()
        conf = d / "r.conf"
        conf.write_text(f"# top\nport {port}\nmaxmemory 1mb\nslave-read-only no\n")
        if kind == "valkeyd":
            argv = [sys.executable, "-m", "valkeyd", "serve", str(conf)]
            envv = dict(os.environ, PYTHONPATH=str(ROOT))
        else:
            if valkey_server_path() is None:
                pytest.skip("valkey-server not installed")
            argv = [valkey_server_path(), str(conf)]
            envv = None
        p = subprocess.Popen(argv, cwd=d, stdout=subprocess.DEVNULL, env=envv)
        try:
            wait_port(port, p)
            cl = redis.Redis(port=port)
            cl.config_set("maxmemory", "3gb")
            cl.config_set("slave-read-only", "yes")
            cl.config_set("hash-max-listpack-value", "100")
            cl.config_set("maxmemory-policy", "allkeys-lru")
            cl.config_set("proto-max-bulk-len", "2mb")
            cl.config_set("timeout", "30")
            cl.execute_command("CONFIG", "REWRITE")
            cl.close()
        finally:
            p.terminate()
            p.wait(15)
        lines = conf.read_text().replace(f"port {port}", "port P").split("\n")
        head = lines[:lines.index("# Generated by CONFIG REWRITE")]
        gen = set(lines[lines.index("# Generated by CONFIG REWRITE") + 1:])
        gen = {g for g in gen if not g.startswith(("dir ", "user ", "latency-tracking-info",
                                                    "save ", "appendonly", "enable-debug"))}
        results.append((head, gen))
    assert results[0] == results[1]


def test_rewrite_without_file_and_unwritable(c, k, tmp_path):
    assert err(c, "CONFIG", "REWRITE") == err(k, "CONFIG", "REWRITE") == (
        "The server is running without a config file")
    confdir = tmp_path / "gone"
    confdir.mkdir()
    (confdir / "x.conf").write_text("hz 11\n")
    port = free_port()
    s = ServerProcess([sys.executable, "-m", "valkeyd", "serve", str(confdir / "x.conf"),
                       "--port", str(port)], port, str(tmp_path), tmp_path / "g.log",
                      env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        (confdir / "x.conf").unlink()
        confdir.rmdir()
        cl = s.client()
        assert err(cl, "CONFIG", "REWRITE") == "Rewriting config file: No such file or directory"
        assert "# CONFIG REWRITE failed: No such file or directory" in s.log()
        cl.close()
    finally:
        s.stop()


def test_enum_names_as_redis_prints_them(c):
    # configEnumGetName: the first name with the value wins ("relative" == "yes")
    c.config_set("oom-score-adj", "relative")
    assert c.config_get("oom-score-adj") == {"oom-score-adj": "yes"}
    c.config_set("oom-score-adj", "no")
    c.config_set("shutdown-on-sigint", "force now")
    assert c.config_get("shutdown-on-sigint") == {"shutdown-on-sigint": "now force"}
    c.config_set("shutdown-on-sigint", "default")
    assert err(c, "CONFIG", "SET", "loglevel", "x") == (
        "CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one "
        "of the following: debug, verbose, notice, warning, nothing")


def test_hz_is_capped_and_memory_units(c):
    c.config_set("hz", "100000")
    assert c.config_get("hz") == {"hz": "500"}
    c.config_set("hz", "0")
    assert c.config_get("hz") == {"hz": "1"}
    c.config_set("hz", "10")
    c.config_set("maxmemory", "1gb")
    assert c.config_get("maxmemory") == {"maxmemory": str(1024 ** 3)}
    c.config_set("maxmemory", "1g")
    assert c.config_get("maxmemory") == {"maxmemory": str(1000 ** 3)}
    c.config_set("maxmemory", "0")


def test_failed_apply_restores_every_value(vd):
    """bind cannot be applied: the whole CONFIG SET is undone (restoreBackupConfig)."""
    c = vd.client()
    assert err(c, "CONFIG", "SET", "maxmemory", "5mb", "bind", "10.255.255.1") == (
        "CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified "
        "addresses.")
    assert c.config_get("maxmemory", "bind") == {"maxmemory": "0", "bind": "* -::*"}
    assert vd.client().ping() is True
    assert "Failed applying new configuration. Possibly related to new bind setting. " \
           "Restoring previous settings." in vd.log()
    c.close()
