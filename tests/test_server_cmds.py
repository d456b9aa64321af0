"""Server / introspection commands: INFO, TIME, LASTSAVE, ROLE, SLOWLOG, LATENCY, MONITOR,
MEMORY, DEBUG, SHUTDOWN, LOLWUT.

Exact replies are compared with a real valkey-server (``ref``/``refc``). Where Valkey 8.0
differs from Redis 7.2.4 the Redis value is asserted (and the difference named in the test).
"""
from __future__ import annotations

import re
import socket
import time

import pytest
import redis

from harness import lzf_edge_strings, read_until_quiet, start_valkeyd

# Field names Valkey 8.0 prints that Redis 7.2.4 does not (renamed or new in Valkey).
VALKEY_ONLY_FIELDS = {
    "server_name", "valkey_version", "server_mode", "availability_zone",      # Server
    "pubsub_clients", "watching_clients", "total_watched_keys",               # Clients
    "allocator_muzzy", "mem_overhead_db_hashtable_rehashing",                 # Memory
    "evicted_scripts", "io_threaded_freed_objects", "io_threaded_poll_processed",  # Stats
    "io_threaded_total_prefetch_batches", "io_threaded_total_prefetch_entries",
    "client_query_buffer_limit_disconnections", "client_output_buffer_limit_disconnections",
    "replicas_waiting_psync",                                                 # Replication
}
# Redis 7.2.4 fields Valkey 8.0 renamed or dropped: we must print them.
REDIS_ONLY_FIELDS = {"redis_mode", "atomicvar_api"}
SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
            "cluster", "keyspace")


# -- raw RESP helpers -------------------------------------------------------------------------

def raw_conn(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def send(s: socket.socket, *args) -> None:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    s.sendall(b"".join(out))


def exchange(port: int, *cmds, wait: float = 0.3) -> bytes:
    with raw_conn(port) as s:
        for c in cmds:
            send(s, *c)
        return read_until_quiet(s, wait)


def fields(text: str) -> dict:
    """INFO text -> {section: [(field, value), ...]} in order."""
    out: dict = {}
    cur = None
    for line in text.split("\r\n"):
        if line.startswith("# "):
            cur = line[2:].lower()
            out[cur] = []
        elif line and cur is not None:
            k, _, v = line.partition(":")
            out[cur].append((k, v))
    return out


def raw_reply(client, *args):
    """A reply without redis-py's response callbacks (INFO, MEMORY STATS ...)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


def info_text(client, *sections) -> str:
    raw = raw_reply(client, "INFO", *sections)
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def info_dict(client, section) -> dict:
    return dict(fields(info_text(client, section)).get(section, []))


# -- INFO -------------------------------------------------------------------------------------

def test_info_field_names_match_reference(server, ref):
    """Every field valkey-server prints (in the sections we share) that exists in Redis 7.2.4
    is printed by valkeyd too, in the same relative order."""
    ours = server.client(2)
    theirs = ref.client(2)
    for c in (ours, theirs):
        c.flushall()
        c.set("k", "v")
        c.set("e", "v", ex=100)
    mine = fields(info_text(ours, "everything"))
    refs = fields(info_text(theirs, "everything"))
    for sec in SECTIONS:
        want = [k for k, _ in refs[sec] if k not in VALKEY_ONLY_FIELDS]
        have = [k for k, _ in mine[sec]]
        missing = [k for k in want if k not in have]
        assert not missing, f"section {sec}: missing {missing}"
        order = [k for k in have if k in want]
        assert order == want, f"section {sec}: order differs"
    allnames = {k for sec in mine.values() for k, _ in sec}
    assert REDIS_ONLY_FIELDS <= allnames
    assert dict(mine["server"])["redis_version"] == "7.2.4"
    assert "valkeyd_version" in dict(mine["server"])
    # The listener line names the same transport and port format.
    assert dict(mine["server"])["listener0"].startswith("name=tcp,bind=")
    assert dict(mine["server"])["listener0"].endswith(",port=%d" % server.port)
    ours.close()
    theirs.close()


@pytest.mark.parametrize("args", [
    (), ("default",), ("all",), ("everything",), ("server",), ("SERVER", "Clients"),
    ("nosuchsection",), ("commandstats",), ("modules",), ("default", "commandstats"),
    ("keyspace", "keyspace"), ("all", "server"), ("latencystats", "errorstats"),
])
def test_info_section_selection_matches_reference(server, ref, args):
    ours, theirs = server.client(2), ref.client(2)
    heads = []
    for c in (ours, theirs):
        text = info_text(c, *args)
        heads.append([ln for ln in text.split("\r\n") if ln.startswith("# ")])
    assert heads[0] == heads[1]
    if args == ("nosuchsection",):
        assert info_text(ours, *args) == ""
    ours.close()
    theirs.close()


def test_info_layout_and_verbatim(server):
    text = info_text(server.client(2), "server", "clients")
    assert text.startswith("# Server\r\n")
    assert "\r\n\r\n# Clients\r\n" in text
    assert text.endswith("\r\n") and not text.endswith("\r\n\r\n")
    r2 = exchange(server.port, ("INFO", "cpu"))
    assert r2.startswith(b"$")
    r3 = exchange(server.port, ("HELLO", "3"), ("INFO", "cpu"))
    body = r3[r3.index(b"=") :]
    n = int(body[1 : body.index(b"\r\n")])
    payload = body[body.index(b"\r\n") + 2 :]
    assert payload.startswith(b"txt:# CPU\r\n")
    assert len(payload) == n + 2


def test_info_server_values(server):
    c = server.client(2)
    s = info_dict(c, "server")
    assert s["process_id"] == str(server.pid)
    assert s["tcp_port"] == str(server.port)
    assert s["redis_mode"] == "standalone"
    assert len(s["run_id"]) == 40
    assert abs(int(s["server_time_usec"]) / 1e6 - time.time()) < 5
    assert int(s["uptime_in_seconds"]) >= 0
    assert s["hz"] == "10" and s["configured_hz"] == "10"
    assert abs(int(s["lru_clock"]) - (int(time.time()) & 0xFFFFFF)) <= 2
    cpu = info_dict(c, "cpu")
    for k in ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children"):
        assert re.fullmatch(r"\d+\.\d{6}", cpu[k]), (k, cpu[k])
    assert float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]) > 0
    repl = info_dict(c, "replication")
    assert repl["role"] == "master"
    assert re.fullmatch(r"[0-9a-f]{40}", repl["master_replid"])
    assert repl["master_replid2"] == "0" * 40
    assert info_dict(c, "cluster") == {"cluster_enabled": "0"}
    c.close()


def test_info_values_move(server):
    c = server.client(2)
    c.flushall()
    c.config_resetstat()
    before = int(info_dict(c, "stats")["total_commands_processed"])
    for i in range(10):
        c.set(f"k{i}", "v")
    c.set("ttl", "v", ex=1000)
    st = info_dict(c, "stats")
    # The INFO itself is counted once it finished: 10 SET + SET + INFO.
    assert int(st["total_commands_processed"]) == before + 12
    assert int(st["total_connections_received"]) == 0   # reset by CONFIG RESETSTAT
    assert int(st["total_net_input_bytes"]) > 0
    # One read and one write per request/reply round trip at least (reset by RESETSTAT).
    assert int(st["total_reads_processed"]) >= 12
    assert int(st["total_writes_processed"]) >= 11
    ks = info_dict(c, "keyspace")
    m = re.fullmatch(r"keys=(\d+),expires=(\d+),avg_ttl=(\d+)", ks["db0"])
    assert m and m.group(1) == "11" and m.group(2) == "1"
    # avg_ttl is the active expire cycle's running estimate (0 until it sampled the key).
    assert int(m.group(3)) == 0 or 900_000 < int(m.group(3)) <= 1_000_000
    cs = info_dict(c, "commandstats")
    mm = re.fullmatch(r"calls=(\d+),usec=(\d+),usec_per_call=(\d+\.\d\d),rejected_calls=0,"
                      r"failed_calls=0", cs["cmdstat_set"])
    assert mm and mm.group(1) == "11"
    assert abs(float(mm.group(3)) - int(mm.group(2)) / 11) < 0.01
    assert "cmdstat_config|resetstat" in cs
    # Errors: errorstats, total_error_replies, failed and rejected calls.
    c.set("str", "x")
    with pytest.raises(redis.ResponseError):
        c.execute_command("HELLO", "4")               # NOPROTO, failed
    with pytest.raises(redis.ResponseError):
        c.execute_command("GET")                      # arity: rejected
    with pytest.raises(redis.ResponseError):
        c.execute_command("NOSUCHCOMMAND")           # unknown: ERR
    with pytest.raises(redis.ResponseError):
        c.execute_command("INCR", "str")             # failed (not an integer)
    es = info_dict(c, "errorstats")
    assert es["errorstat_ERR"] == "count=3"
    assert es["errorstat_NOPROTO"] == "count=1"
    assert int(info_dict(c, "stats")["total_error_replies"]) == 4
    cs = info_dict(c, "commandstats")
    assert cs["cmdstat_get"].endswith("rejected_calls=1,failed_calls=0")
    assert cs["cmdstat_incr"].endswith("rejected_calls=0,failed_calls=1")
    assert cs["cmdstat_hello"].endswith("rejected_calls=0,failed_calls=1")
    # Clients and memory.
    other = server.client(2)
    other.ping()
    n = int(info_dict(c, "clients")["connected_clients"])
    other.close()
    assert n >= 2
    mem0 = int(info_dict(c, "memory")["used_memory"])
    c.set("big", "x" * 2_000_000)
    mem = info_dict(c, "memory")
    # (less one client's 1024-byte overhead: `other` may be gone only after mem0 was read)
    assert int(mem["used_memory"]) - mem0 >= 2_000_000 - 1024
    assert int(mem["used_memory_rss"]) > 2_000_000
    assert mem["used_memory_human"].endswith(("K", "M", "G"))
    assert int(mem["used_memory_peak"]) >= int(mem["used_memory"])
    assert int(mem["total_system_memory"]) > 0
    c.delete("big")
    pers = info_dict(c, "persistence")
    assert int(pers["rdb_changes_since_last_save"]) > 0
    assert pers["aof_enabled"] == "0" and pers["rdb_bgsave_in_progress"] == "0"
    c.close()


def test_errorstats_and_commandstats_match_reference(server, ref):
    """The same error sequence produces the same errorstats and cmdstat counters."""
    results = []
    for proc in (server, ref):
        c = proc.client(2)
        c.flushall()
        c.config_resetstat()
        c.set("s", "x")
        for cmd in (("INCR", "s"), ("GET",), ("NOSUCH",), ("SET", "a", "b", "NX", "XX"),
                    ("GETRANGE", "s", "a", "b"), ("SELECT", "99")):
            try:
                c.execute_command(*cmd)
            except redis.ResponseError:
                pass
        es = info_dict(c, "errorstats")
        cs = info_dict(c, "commandstats")
        cs = {k: re.sub(r"usec=\d+,usec_per_call=[\d.]+,", "", v) for k, v in cs.items()
              if k != "cmdstat_info"}
        results.append((es, cs, info_dict(c, "stats")["total_error_replies"]))
        c.close()
    assert results[0] == results[1]


def test_info_latencystats(server):
    c = server.client(2)
    c.config_resetstat()
    for _ in range(5):
        c.ping()
    c.execute_command("DEBUG", "SLEEP", "0.02")
    ls = info_dict(c, "latencystats")
    m = re.fullmatch(r"p50=(\d+\.\d{3}),p99=(\d+\.\d{3}),p99\.9=(\d+\.\d{3})",
                     ls["latency_percentiles_usec_ping"])
    assert m
    dbg = re.fullmatch(r"p50=(\d+\.\d{3}),p99=(\d+\.\d{3}),p99\.9=(\d+\.\d{3})",
                       ls["latency_percentiles_usec_debug"])
    assert dbg and 19000 < float(dbg.group(1)) < 200000
    c.config_set("latency-tracking-info-percentiles", "50 75")
    try:
        ls = info_dict(c, "latencystats")
        assert re.fullmatch(r"p50=\d+\.\d{3},p75=\d+\.\d{3}", ls["latency_percentiles_usec_ping"])
    finally:
        c.config_set("latency-tracking-info-percentiles", "50 99 99.9")
    c.config_set("latency-tracking", "no")
    try:
        assert info_text(c, "latencystats") == "# Latencystats\r\n"
        c.config_resetstat()
        c.ping()
    finally:
        c.config_set("latency-tracking", "yes")
    # Nothing was recorded while tracking was off.
    assert "latency_percentiles_usec_ping" not in info_dict(c, "latencystats")
    c.close()


# -- TIME LASTSAVE ROLE LOLWUT ------------------------------------------------------------------

def test_time_lastsave_role(server, ref):
    c, rc = server.client(2), ref.client(2)
    raw = raw_reply(c, "TIME")
    assert len(raw) == 2 and all(isinstance(x, bytes) for x in raw)
    sec, usec = int(raw[0]), int(raw[1])
    assert abs(sec + usec / 1e6 - time.time()) < 2 and 0 <= usec < 1_000_000
    assert abs(c.lastsave().timestamp() - time.time()) < 3600
    assert c.execute_command("ROLE") == rc.execute_command("ROLE") == [b"master", 0, []]
    assert exchange(server.port, ("TIME", "x")) == exchange(ref.port, ("TIME", "x"))
    assert c.execute_command("LOLWUT") == b"Redis ver. 7.2.4\n"
    assert c.execute_command("LOLWUT", "VERSION", "7") == b"Redis ver. 7.2.4\n"
    c.close()
    rc.close()


# -- SLOWLOG ----------------------------------------------------------------------------------

@pytest.fixture
def slow_all(server, ref):
    cs = [server.client(2), ref.client(2)]
    for c in cs:
        c.config_set("slowlog-log-slower-than", 0)
        c.execute_command("SLOWLOG", "RESET")
    yield cs
    for c in cs:
        c.config_set("slowlog-log-slower-than", 10000)
        c.config_set("slowlog-max-len", 128)
        c.close()


def test_slowlog_entries(server, slow_all):
    c = slow_all[0]
    c.execute_command("CLIENT", "SETNAME", "slowpoke")
    c.set("foo", "bar")
    entries = c.execute_command("SLOWLOG", "GET")
    assert len(entries) >= 1
    eid, ts, dur, args, addr, name = entries[0]
    # The newest entry first; CLIENT SETNAME was logged before SET.
    assert args == [b"set", b"foo", b"bar"] or args == [b"SET", b"foo", b"bar"]
    assert abs(ts - time.time()) < 5 and dur >= 0
    sock = c.connection_pool.get_connection()
    local = "%s:%d" % sock._sock.getsockname()[:2]
    c.connection_pool.release(sock)
    assert addr == local.encode()
    assert name == b"slowpoke"
    assert entries[1][0] == eid - 1
    # SLOWLOG LEN is itself logged once it ran, before the GET.
    assert c.execute_command("SLOWLOG", "LEN") + 1 == len(c.execute_command("SLOWLOG", "GET", -1))
    assert len(c.execute_command("SLOWLOG", "GET", 1)) == 1
    assert c.execute_command("SLOWLOG", "RESET") == b"OK"
    # SLOWLOG RESET itself is logged after it ran.
    assert c.execute_command("SLOWLOG", "LEN") == 1


def test_slowlog_truncation_matches_reference(server, slow_all):
    out = []
    for c in slow_all:
        c.execute_command("SET", "k" * 10, "v" * 200)
        c.execute_command("DEL", *["a%d" % i for i in range(40)])
        c.execute_command("ECHO", "x" * 128)
        got = c.execute_command("SLOWLOG", "GET", 3)
        out.append([e[3] for e in got])
    assert out[0] == out[1]
    args = out[0]
    assert args[0] == [b"ECHO", b"x" * 128]
    assert len(args[1]) == 32 and args[1][-1] == b"... (10 more arguments)"
    assert args[2][2] == b"v" * 128 + b"... (72 more bytes)"


def test_slowlog_max_len_and_errors(server, ref, slow_all):
    c = slow_all[0]
    c.config_set("slowlog-max-len", 3)
    for i in range(6):
        c.ping()
    assert c.execute_command("SLOWLOG", "LEN") == 3
    for cmd in (("SLOWLOG", "GET", "-2"), ("SLOWLOG", "GET", "x"), ("SLOWLOG", "GET", "1", "2"),
                ("SLOWLOG", "LEN", "x"), ("SLOWLOG", "NOPE"), ("SLOWLOG",), ("slowlog", "help"),
                ("SLOWLOG", "HELP", "x")):
        assert exchange(server.port, cmd) == exchange(ref.port, cmd), cmd


def test_slowlog_threshold(server):
    c = server.client(2)
    c.execute_command("SLOWLOG", "RESET")
    c.config_set("slowlog-log-slower-than", 30000)
    try:
        c.ping()
        c.execute_command("DEBUG", "SLEEP", "0.05")
        entries = c.execute_command("SLOWLOG", "GET")
        assert [e[3] for e in entries] == [[b"DEBUG", b"SLEEP", b"0.05"]]
        assert entries[0][2] >= 50000
        c.config_set("slowlog-log-slower-than", -1)
        c.execute_command("SLOWLOG", "RESET")
        c.execute_command("DEBUG", "SLEEP", "0.04")
        assert c.execute_command("SLOWLOG", "LEN") == 0
    finally:
        c.config_set("slowlog-log-slower-than", 10000)
        c.close()


# -- LATENCY ----------------------------------------------------------------------------------

def test_latency_monitor_with_debug_sleep(server):
    c = server.client(2)
    c.execute_command("LATENCY", "RESET")
    c.config_set("latency-monitor-threshold", 20)
    try:
        assert c.execute_command("LATENCY", "LATEST") == []
        c.execute_command("DEBUG", "SLEEP", "0.05")
        c.execute_command("DEBUG", "SLEEP", "0.03")   # same second: keeps the max
        latest = c.execute_command("LATENCY", "LATEST")
        assert len(latest) == 1
        name, ts, lat, mx = latest[0]
        assert name == b"command" and abs(ts - time.time()) < 5
        assert 50 <= lat < 1000 and mx == lat or lat < mx
        hist = c.execute_command("LATENCY", "HISTORY", "command")
        assert len(hist) in (1, 2) and all(len(x) == 2 for x in hist)
        assert max(x[1] for x in hist) == mx
        assert c.execute_command("LATENCY", "HISTORY", "nosuchevent") == []
        doc = c.execute_command("LATENCY", "DOCTOR").decode()
        assert doc.startswith("Dave, I have observed latency spikes in this Redis instance.")
        assert "1. command: " in doc and "Worst all time event" in doc
        graph = c.execute_command("LATENCY", "GRAPH", "command").decode()
        assert graph.startswith("command - high %d ms, low " % max(x[1] for x in hist))
        assert graph.split("\n")[1] == "-" * 80
        assert c.execute_command("LATENCY", "RESET", "nosuch", "COMMAND") == 1
        assert c.execute_command("LATENCY", "LATEST") == []
    finally:
        c.config_set("latency-monitor-threshold", 0)
        c.close()


def test_latency_replies_match_reference(server, ref):
    for cmd in (("LATENCY", "HELP"), ("LATENCY", "GRAPH", "nosuch"), ("LATENCY", "NOPE"),
                ("LATENCY", "HISTORY"), ("LATENCY", "RESET"), ("LATENCY", "LATEST", "x"),
                ("LATENCY", "HISTOGRAM", "nosuchcommand")):
        assert exchange(server.port, cmd) == exchange(ref.port, cmd), cmd


def test_latency_doctor_disabled_is_redis_text(server):
    c = server.client(2)
    c.execute_command("LATENCY", "RESET")
    text = c.execute_command("LATENCY", "DOCTOR").decode()
    # Redis 7.2.4's text (Valkey 8 reworded it).
    assert text.startswith("I'm sorry, Dave, I can't do that. Latency monitoring is disabled")
    c.close()


def test_latency_histogram_shape(server, ref):
    shapes = []
    for proc in (server, ref):
        c = proc.client(3)
        c.config_resetstat()
        for _ in range(3):
            c.set("a", "b")
        c.execute_command("CONFIG", "GET", "port")
        h = c.execute_command("LATENCY", "HISTOGRAM", "set", "config")
        shapes.append({k: (v[b"calls"], sorted(v.keys())) for k, v in h.items()})
        hist = h[b"set"][b"histogram_usec"]
        counts = [hist[k] for k in sorted(hist)]
        assert counts == sorted(counts) and counts[-1] == 3
        # Buckets are hdr's logarithmic levels from 1024 ns, doubling, each reported as its
        # highest equivalent value in usec (2 significant digits: 1, 2, 4, 8, 16, 33, 66 ...).
        levels = {(lv + (1 << max(0, lv.bit_length() - 8)) - 1) // 1000
                  for lv in (1024 << i for i in range(40))}
        assert set(hist) <= levels, hist
        c.close()
    assert shapes[0] == shapes[1]


# -- MONITOR ----------------------------------------------------------------------------------

MON_RE = re.compile(rb"^\+(\d+)\.(\d{6}) \[(\d+) ([^\]]+)\] (.*)$")


def monitor_lines(proc, actions):
    with raw_conn(proc.port) as m:
        send(m, "MONITOR")
        assert read_until_quiet(m, 0.3) == b"+OK\r\n"
        c = proc.client(2)
        actions(c)
        sock = c.connection_pool.get_connection()
        addr = "%s:%d" % sock._sock.getsockname()[:2]
        c.connection_pool.release(sock)
        data = read_until_quiet(m, 0.5)
        c.close()
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    out = []
    for ln in lines[:-1]:
        mm = MON_RE.match(ln)
        assert mm, ln
        assert abs(int(mm.group(1)) - time.time()) < 5
        assert mm.group(4).decode() == addr
        out.append((int(mm.group(3)), mm.group(5)))
    return out


def _monitor_actions(c):
    c.execute_command("SET", "k", b'a "quoted"\n\\ \x01\xff')
    c.execute_command("GET", "k")
    c.execute_command("CONFIG", "GET", "port")      # admin: not shown
    c.execute_command("DEBUG", "SLEEP", "0")        # admin: not shown
    c.execute_command("SELECT", "1")
    c.execute_command("INCR", "n")
    try:
        c.execute_command("GET")                    # rejected: not shown
    except redis.ResponseError:
        pass
    c.execute_command("SELECT", "0")
    c.execute_command("DEL", "k", "n")


def test_monitor_lines_match_reference(server, ref):
    ours = monitor_lines(server, _monitor_actions)
    theirs = monitor_lines(ref, _monitor_actions)
    ours = [x for x in ours if not x[1].startswith((b'"HELLO"', b'"CLIENT"'))]
    theirs = [x for x in theirs if not x[1].startswith((b'"HELLO"', b'"CLIENT"'))]
    assert ours == theirs
    assert (0, b'"SET" "k" "a \\"quoted\\"\\n\\\\ \\x01\\xff"') in ours
    assert (1, b'"INCR" "n"') in ours   # the database after SELECT 1


def test_monitor_client_restrictions(server, ref):
    for proc in (server, ref):
        got = exchange(proc.port, ("MONITOR",), ("GET", "x"), ("SET", "x", "1"), ("PING",),
                       ("MONITOR",), ("ECHO", "hi"))
        assert got.startswith(b"+OK\r\n-ERR Replica can't interact with the keyspace\r\n"
                              b"-ERR Replica can't interact with the keyspace\r\n+PONG\r\n")
    a = exchange(server.port, ("MONITOR",), ("PING",), ("MONITOR",), ("ECHO", "hi"))
    b = exchange(ref.port, ("MONITOR",), ("PING",), ("MONITOR",), ("ECHO", "hi"))

    def strip(x):
        return re.sub(rb"\+\d+\.\d{6} \[0 [^\]]+\]", b"+T", x)
    assert strip(a) == strip(b)
    # A second MONITOR gets no reply at all; its own PING is fed after its reply.
    assert strip(a) == b'+OK\r\n+PONG\r\n+T "PING"\r\n$2\r\nhi\r\n+T "ECHO" "hi"\r\n'


# -- MEMORY -----------------------------------------------------------------------------------

def test_memory_usage(server, ref):
    c = server.client(2)
    c.flushall()
    assert c.memory_usage("missing") is None
    c.set("small", "x")
    c.set("big", "y" * 10000)
    small, big = c.memory_usage("small"), c.memory_usage("big")
    assert 0 < small < 200 and 10000 < big < 11000
    assert c.memory_usage("big", samples=0) == big
    for cmd in (("MEMORY", "USAGE", "big", "SAMPLES", "-1"), ("MEMORY", "USAGE", "big", "FOO"),
                ("MEMORY", "USAGE", "big", "SAMPLES"), ("MEMORY", "USAGE", "big", "SAMPLES", "x"),
                ("MEMORY", "USAGE"), ("MEMORY", "HELP"), ("MEMORY", "NOPE"),
                ("MEMORY", "USAGE", "missing")):
        assert exchange(server.port, cmd) == exchange(ref.port, cmd), cmd
    c.close()


def test_memory_stats_doctor(server, ref):
    ours, theirs = server.client(2), ref.client(2)
    for c in (ours, theirs):
        c.flushall()
        c.set("a", "b")
    a = raw_reply(ours, "MEMORY", "STATS")
    b = raw_reply(theirs, "MEMORY", "STATS")
    ka = [a[i] for i in range(0, len(a), 2)]
    # Valkey 8 added these; Redis 7.2.4 does not have them.
    kb = [b[i] for i in range(0, len(b), 2)
          if b[i] not in (b"db.dict.rehashing.count", b"allocator.muzzy",
                          b"overhead.db.hashtable.lut", b"overhead.db.hashtable.rehashing")]
    assert ka == kb
    st = dict(zip(ka, a[1::2]))
    assert st[b"keys.count"] == 1
    assert st[b"db.0"][0::2] == [b"overhead.hashtable.main", b"overhead.hashtable.expires",
                                 b"overhead.hashtable.slot-to-keys"]
    r3 = server.client(3)
    st3 = raw_reply(r3, "MEMORY", "STATS")
    assert isinstance(st3[b"dataset.percentage"], float)
    doc = ours.execute_command("MEMORY", "DOCTOR").decode()
    assert doc.startswith(("Hi Sam", "Sam, I detected"))
    assert ours.execute_command("MEMORY", "PURGE") == b"OK"
    for c in (ours, theirs, r3):
        c.close()


# -- DEBUG ------------------------------------------------------------------------------------

DEBUG_OBJECT_RE = re.compile(
    r"Value at:0x[0-9a-f]+ refcount:(\d+) encoding:(\S+) serializedlength:(\d+) "
    r"lru:(\d+) lru_seconds_idle:(\d+)$")


def test_debug_object(server, ref):
    c, rc = server.client(2), ref.client(2)
    for cl in (c, rc):
        cl.flushall()
        cl.set("int", "12")
        cl.set("bigint", "123456")
        cl.set("str", "hello")
        cl.set("long", "abcdefghijklmnopqrs")
        cl.set("lzf", "abc" * 100)                      # compressible: LZF length
        cl.set("nolzf", bytes(range(200)) + b"zz")      # incompressible: plain length
        cl.set("huge", "-12345678901")
        cl.set("neg", "-100")
        cl.set("big32", "100000")
        for i, v in enumerate(lzf_edge_strings()):   # LZF output 3, 4, 5 bytes shorter
            cl.set("edge%d" % i, v)
    for key in ("int", "bigint", "str", "long", "lzf", "nolzf", "huge", "neg", "big32",
                "edge0", "edge1", "edge2"):
        a = DEBUG_OBJECT_RE.match(c.execute_command("DEBUG", "OBJECT", key).decode())
        # Valkey 8 appends lfu fields and reports lru:0; Redis 7.2.4 ends at lru_seconds_idle.
        b = DEBUG_OBJECT_RE.match(re.sub(r" lfu_freq:.*$", "", rc.execute_command(
            "DEBUG", "OBJECT", key).decode()))
        assert a and b, key
        # refcount, encoding and serialized length as Redis; lru is the 24-bit clock.
        assert a.group(1, 2, 3) == b.group(1, 2, 3), key
        assert abs(int(a.group(4)) - (int(time.time()) & 0xFFFFFF)) <= 2
    assert exchange(server.port, ("DEBUG", "OBJECT", "nope")) == \
        exchange(ref.port, ("DEBUG", "OBJECT", "nope"))
    c.close()
    rc.close()


PROTOCOL_TYPES = ("string", "integer", "double", "bignum", "null", "array", "set", "map",
                  "attrib", "push", "verbatim", "true", "false", "nonsense", "STRING")


@pytest.mark.parametrize("proto", [2, 3])
def test_debug_protocol_matches_reference(server, ref, proto):
    for t in PROTOCOL_TYPES:
        cmds = [("HELLO", "3")] if proto == 3 else []
        cmds.append(("DEBUG", "PROTOCOL", t))
        a = exchange(server.port, *cmds, wait=0.2)
        b = exchange(ref.port, *cmds, wait=0.2)
        if proto == 3:   # skip the HELLO map (server names and versions differ)
            a = a[a.index(b"modules") :]
            b = b[b.index(b"modules") :]
        if t == "push" and proto == 3:
            # Redis 7.2.4 writes the push message first, then the reply (debug.c); Valkey 8
            # defers push messages after the command's reply.
            push = b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n"
            follow = b"$40\r\nSome real reply following the push reply\r\n"
            assert b == b"modules\r\n*0\r\n" + follow + push
            assert a == b"modules\r\n*0\r\n" + push + follow
            continue
        assert a == b, t


def test_debug_misc(server, ref):
    c = server.client(2)
    for cmd in (("DEBUG", "NOPE"), ("DEBUG", "ERROR", "MYERR it\nfailed"),
                ("DEBUG", "SLEEP", "0"), ("DEBUG", "SET-ACTIVE-EXPIRE", "1"),
                ("DEBUG", "RELOAD", "BADOPT"), ("DEBUG",)):
        assert exchange(server.port, cmd) == exchange(ref.port, cmd), cmd
    h = c.execute_command("DEBUG", "HELP")
    assert h[0] == b"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"SLEEP <seconds>" in h and h[-2:] == [b"HELP", b"    Print this help."]
    t0 = time.time()
    c.execute_command("DEBUG", "SLEEP", "0.1")
    assert time.time() - t0 >= 0.1
    c.close()


def test_debug_set_active_expire(server):
    c = server.client(2)
    c.flushall()
    c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        for i in range(20):
            c.set(f"e{i}", "v", px=50)
        time.sleep(0.5)
        # Nothing accessed the keys and the cron may not reclaim them.
        assert "db0" in info_dict(c, "keyspace")
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        deadline = time.time() + 5
        while "db0" in info_dict(c, "keyspace") and time.time() < deadline:
            time.sleep(0.1)
        assert "db0" not in info_dict(c, "keyspace")
        assert int(info_dict(c, "stats")["expired_keys"]) >= 20
    finally:
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        c.close()


def test_debug_disabled_by_default():
    s = start_valkeyd("--save", "")
    try:
        got = s.raw(b"DEBUG SLEEP 0\r\n")
        assert got.startswith(b"-ERR DEBUG command not allowed.")
    finally:
        s.stop()


# -- SHUTDOWN ---------------------------------------------------------------------------------

def test_shutdown_errors_match_reference(server, ref):
    for cmd in (("SHUTDOWN", "NOSAVE", "SAVE"), ("SHUTDOWN", "ABORT", "NOW"),
                ("SHUTDOWN", "BOGUS"), ("SHUTDOWN", "ABORT")):
        assert exchange(server.port, cmd) == exchange(ref.port, cmd), cmd
    assert server.alive()


def test_shutdown_in_multi_refused(server, ref):
    a = exchange(server.port, ("MULTI",), ("SHUTDOWN",), ("DISCARD",))
    assert server.alive()
    b = exchange(ref.port, ("MULTI",), ("SHUTDOWN",), ("DISCARD",))
    assert a == b


def test_shutdown_nosave_exits():
    s = start_valkeyd("--save", "")
    c = s.client(2)
    c.set("k", "v")
    # redis-py expects the connection to drop (and raises if a reply comes instead).
    c.shutdown(nosave=True)
    assert s.proc.wait(10) == 0
    log = s.log()
    assert "User requested shutdown..." in log
    assert "is now ready to exit, bye bye..." in log
    s.stop()


@pytest.mark.parametrize("flags", [("NOW",), ("NOSAVE", "NOW", "FORCE"), ()])
def test_shutdown_flags_exit(flags):
    s = start_valkeyd("--save", "")
    got = exchange(s.port, ("SHUTDOWN",) + flags, wait=1.0)
    assert got == b""          # no reply: the connection just closes
    assert s.proc.wait(10) == 0
    s.stop()


def test_monitor_unix_socket_and_info_listeners(tmp_path):
    sock_path = str(tmp_path / "v.sock")
    s = start_valkeyd(config_text=f"unixsocket {sock_path}\nsave \"\"\n")
    try:
        c = s.client(2)
        srv = fields(info_text(c, "server"))["server"]
        d = dict(srv)
        assert d["config_file"] == str(s.dir / "valkeyd.conf")
        assert d["listener1"] == f"name=unix,bind={sock_path}"
        with raw_conn(s.port) as m:
            send(m, "MONITOR")
            assert read_until_quiet(m, 0.3) == b"+OK\r\n"
            u = redis.Redis(unix_socket_path=sock_path)
            u.execute_command("SET", "via", "unix")
            u.close()
            data = read_until_quiet(m, 0.5)
        lines = [ln for ln in data.split(b"\r\n") if ln and b'"CLIENT"' not in ln
                 and b'"HELLO"' not in ln]
        assert len(lines) == 1
        assert re.fullmatch(rb'\+\d+\.\d{6} \[0 unix:' + re.escape(sock_path.encode())
                            + rb'\] "SET" "via" "unix"', lines[0])
        c.close()
    finally:
        s.stop()


def test_debug_digest_matches_reference(server, ref):
    """DEBUG DIGEST / DIGEST-VALUE are Redis's SHA1 mixing: identical datasets, identical
    digests (and the empty dataset is all zeros)."""
    got = []
    for proc in (server, ref):
        c = proc.client(2)
        c.flushall()
        d0 = c.execute_command("DEBUG", "DIGEST")
        c.set("a", "1")
        c.set("b", "hello world")
        c.set("c", "x", ex=100)
        c.execute_command("SELECT", "3")
        c.set("z", "in db 3")
        c.execute_command("SELECT", "0")
        got.append((d0, c.execute_command("DEBUG", "DIGEST"),
                    c.execute_command("DEBUG", "DIGEST-VALUE", "a", "c", "missing")))
        c.flushall()
        c.close()
    assert got[0] == got[1]
    assert got[0][0] == b"0" * 40 and got[0][1] != got[0][0]


def test_keyspace_hits_misses_match_reference(server, ref):
    got = []
    for proc in (server, ref):
        c = proc.client(2)
        c.flushall()
        c.config_resetstat()
        c.set("a", "1")
        c.get("a")
        c.get("nope")
        c.mget("a", "nope", "a", "x")
        st = info_dict(c, "stats")
        got.append((st["keyspace_hits"], st["keyspace_misses"]))
        c.close()
    assert got[0] == got[1] == ("3", "3")


def test_debug_populate_matches_reference(server, ref):
    got = []
    for proc in (server, ref):
        c = proc.client(2)
        c.flushall()
        c.set("key:2", "mine")
        replies = [c.execute_command("DEBUG", "POPULATE", "5"),
                   c.execute_command("DEBUG", "POPULATE", "3", "p", "12"),
                   c.execute_command("DEBUG", "POPULATE", "2", "q", "3")]
        vals = [c.get(k) for k in ("key:0", "key:2", "key:4", "p:1", "q:1")]
        got.append((replies, vals, sorted(c.keys("*"))))
        c.flushall()
        c.close()
    assert got[0] == got[1]
    assert got[0][1] == [b"value:0", b"mine", b"value:4", b"value:1\x00\x00\x00\x00\x00", b"val"]
    for cmd in (("DEBUG", "POPULATE", "-1"), ("DEBUG", "POPULATE", "x"),
                ("DEBUG", "POPULATE", "1", "a", "-5"), ("DEBUG", "POPULATE", "1", "a", "b", "c")):
        assert exchange(server.port, cmd) == exchange(ref.port, cmd), cmd


def test_redis_py_info_parses_in_both_protocols(rr):
    info = rr.info()
    assert info["redis_version"] == "7.2.4"
    assert info["role"] == "master"
    assert isinstance(info["connected_clients"], int)
    rr.set("k", "v")
    rr.ping()
    assert rr.info("commandstats")["cmdstat_ping"]["calls"] >= 1
    assert rr.info("keyspace")["db0"]["keys"] == 1


def test_memory_malloc_stats_reports_no_allocator_stats(server):
    # Redis built without jemalloc replies with this text; valkeyd has no allocator stats.
    c = server.client()
    assert c.execute_command("MEMORY", "MALLOC-STATS") == \
        b"Stats not supported for the current allocator"
    c.close()


CREDENTIAL_COMMANDS = (("AUTH", "pw"), ("AUTH", "someone", "pw"),
                       ("HELLO", "2", "AUTH", "default", "pw"))


def _monitored_credentials(proc):
    """The MONITOR lines (command part) for failed AUTH / HELLO AUTH from a raw connection."""
    with raw_conn(proc.port) as m, raw_conn(proc.port) as c:
        send(m, "MONITOR")
        assert read_until_quiet(m, 0.3) == b"+OK\r\n"
        for args in CREDENTIAL_COMMANDS:
            send(c, *args)
            read_until_quiet(c, 0.1)
        data = read_until_quiet(m, 0.5)
    return [MON_RE.match(ln).group(5) for ln in data.split(b"\r\n") if ln]


def test_credentials_are_redacted_in_monitor_and_slowlog(server, ref):
    # AUTH and HELLO AUTH arguments (and sensitive CONFIG SET values in the slowlog) never
    # appear in clear text: Redis shows "(redacted)".
    ours, theirs = _monitored_credentials(server), _monitored_credentials(ref)
    assert ours == theirs
    assert b'"AUTH" "(redacted)" "(redacted)"' in ours
    assert all(b"pw" not in x and b"someone" not in x for x in ours)
    logs = []
    for proc in (server, ref):
        c = proc.client(2)
        c.config_set("slowlog-log-slower-than", 0)
        c.slowlog_reset()
        with raw_conn(proc.port) as raw:
            for args in CREDENTIAL_COMMANDS:
                send(raw, *args)
                read_until_quiet(raw, 0.1)
        c.execute_command("CONFIG", "SET", "requirepass", "", "maxclients", "10000")
        entries = [e["command"] for e in c.slowlog_get(10)]
        c.config_set("slowlog-log-slower-than", 10000)
        c.close()
        logs.append([e for e in entries if not e.startswith((b"SLOWLOG", b"CONFIG SET slowlog"))])
    assert logs[0] == logs[1]
    assert b"AUTH (redacted) (redacted)" in logs[0]
    assert b"CONFIG SET requirepass (redacted) maxclients 10000" in logs[0]
