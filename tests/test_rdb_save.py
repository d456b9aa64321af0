"""The RDB writer and snapshots (issue #6): files valkeyd writes load into a real valkey-server
with identical contents and encodings and pass valkey-check-rdb; DUMP payloads restore into
valkey-server (byte-identical where Redis's choice is deterministic); SAVE, BGSAVE, save
points, MISCONF, SHUTDOWN and FLUSHALL saves; the verification step of a durable save."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from harness import lzf_edge_strings, start_valkey, start_valkeyd, valkey_server_path

pytestmark = pytest.mark.skipif(valkey_server_path() is None and not os.environ.get("CI"),
                                reason="valkey-server not installed")

FUNC_LIB = ("#!lua name=savelib\n"
            "redis.register_function('sf1', function(keys, args) return 1 end)\n"
            "redis.register_function{function_name='sf2', callback=function() return 2 end, "
            "flags={'no-writes'}}")


def populate(c, db1=None):
    """One key of every type and encoding valkeyd tracks."""
    c.set("s:int", "12345")
    c.set("s:neg", "-7")
    c.set("s:big", "123456789012345")
    c.set("s:emb", "hello world")
    c.set("s:raw", "x" * 100)                       # LZF-compressible
    c.set("s:rand", random.Random(6).randbytes(64))  # not compressible
    c.set("s:empty", "")
    c.setrange("s:appended", 0, "abc")              # raw
    c.rpush("l:lp", "a", "b", "1", "-5", "300", "70000", "9999999999", "z" * 70, "")
    c.rpush("l:ql", *[str(i) * (1 + i % 30) for i in range(3000)])
    c.rpush("l:big", "y" * 9000, "small", "z" * 5000)
    c.hset("h:lp", mapping={"f": "v", "n": "17", "neg": "-4000", "e": ""})
    c.hset("h:ht", mapping={f"f{i}": "v" * i for i in range(80)})
    c.sadd("set:i16", 1, 5, -3)
    c.sadd("set:i32", 1, 70000)
    c.sadd("set:i64", 1, 9999999999)
    c.sadd("set:lp", "a", "b", 3)
    c.sadd("set:ht", *[f"m{i}" for i in range(300)])
    c.sadd("set:intht", *range(1000))
    c.zadd("z:lp", {"a": 1, "b": 2.5, "c": float("-inf"), "d": 1e100, "e": 0.1, "f": -3})
    c.zadd("z:sl", {f"m{i}": i * 0.37 - 20 for i in range(300)})
    c.zadd("z:inf", {"x": float("inf"), **{f"k{i}": i for i in range(200)}})
    # streams: several nodes, deleted entries, different field sets, groups, PEL, consumers
    c.config_set("stream-node-max-entries", 5)
    for i in range(1, 23):
        fields = {"a": i, "b": "v%d" % i} if i % 4 else {"c": i, "d": "x" * i, "e": ""}
        c.xadd("x:1", fields, id=f"{1000 + i // 3}-{i}")
    c.xdel("x:1", "1001-3", "1002-7", "1003-10")
    c.xgroup_create("x:1", "g1", id="0")
    c.xgroup_create("x:1", "g2", id="$")
    c.xgroup_create("x:1", "g0", id="1001-4")
    c.xreadgroup("g1", "alice", {"x:1": ">"}, count=4)
    c.xreadgroup("g1", "bob", {"x:1": ">"}, count=3)
    c.xreadgroup("g0", "carol", {"x:1": ">"}, count=2)
    c.xgroup_createconsumer("x:1", "g1", "dave")
    c.xack("x:1", "g1", "1000-1")
    c.xadd("x:empty", {"f": "v"}, id="5-5")
    c.xdel("x:empty", "5-5")
    c.xadd("x:trim", {"f": "v"}, id="1-1")
    c.xadd("x:trim", {"f": "v"}, id="2-1")
    c.xtrim("x:trim", maxlen=1)
    c.config_set("stream-node-max-entries", 100)
    # expiries
    c.set("e:1", "v", px=3_600_000)
    c.hset("e:2", "f", "v")
    c.pexpireat("e:2", int(time.time() * 1000) + 7_200_000)
    c.function_load(FUNC_LIB)
    if db1 is not None:
        db1.set("db1:key", "in db 1")
        db1.rpush("db1:list", 1, 2, 3)


def value_of(c, key):
    t = c.type(key)
    if t == b"string":
        return c.get(key)
    if t == b"list":
        return c.lrange(key, 0, -1)
    if t == b"set":
        return sorted(c.smembers(key))
    if t == b"zset":
        return c.zrange(key, 0, -1, withscores=True)
    if t == b"hash":
        return c.hgetall(key)
    if t == b"stream":
        return (c.xrange(key), c.execute_command("XINFO", "STREAM", key, "FULL"))
    raise AssertionError(t)


def loaded_encoding(c, key):
    """The encoding a loader gives the key: a short string modified in place (raw) is
    loaded as a new embstr, as Redis does."""
    enc = c.object("encoding", key)
    if enc == b"raw" and c.strlen(key) <= 44:
        return b"embstr"
    return enc


def compare_datasets(a, b, dbs=(0,)):
    for db in dbs:
        a.select(db)
        b.select(db)
        keys = sorted(a.keys())
        assert keys == sorted(b.keys())
        for k in keys:
            assert a.type(k) == b.type(k), k
            assert value_of(a, k) == value_of(b, k), k
            assert loaded_encoding(a, k) == b.object("encoding", k), k
            ta, tb = a.pexpiretime(k), b.pexpiretime(k)
            assert ta == tb, k
    a.select(0)
    b.select(0)
    assert libraries(a) == libraries(b)


def libraries(c):
    """FUNCTION LIST WITHCODE with each library's functions in name order (the reply lists
    them in hash-table order)."""
    out = []
    for lib in c.function_list(withcode=True):
        d = dict(zip(lib[0::2], lib[1::2]))
        d[b"functions"] = sorted(d[b"functions"], key=lambda f: f[1])
        out.append(d)
    return sorted(out, key=lambda d: d[b"library_name"])


def check_rdb(path):
    exe = shutil.which("valkey-check-rdb")
    if exe is None:
        pytest.skip("valkey-check-rdb not installed")
    p = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "RDB looks OK" in p.stdout
    return p.stdout


def select_client(srv, db):
    return redis.Redis(host="127.0.0.1", port=srv.port, db=db, socket_timeout=30)


@pytest.mark.parametrize("opts", [(), ("--rdbcompression", "no"), ("--rdbchecksum", "no")],
                         ids=["default", "nocompression", "nochecksum"])
def test_save_loads_into_valkey(opts):
    ours = start_valkeyd("--save", "", "--enable-debug-command", "yes", *opts)
    try:
        c = ours.client()
        populate(c, select_client(ours, 1))
        assert c.save() is True
        path = ours.dir / "dump.rdb"
        data = path.read_bytes()
        assert data[:9] == b"REDIS0011"
        if "--rdbchecksum" in opts:
            assert data[-8:] == b"\x00" * 8
        else:
            assert data[-8:] != b"\x00" * 8
        out = check_rdb(path)
        assert "AUX FIELD redis-ver = '7.2.4'" in out
        for aux in ("redis-bits", "ctime", "used-mem", "aof-base"):
            assert f"AUX FIELD {aux} =" in out
        ref = start_valkey("--dir", str(ours.dir), "--dbfilename", "dump.rdb")
        try:
            r = ref.client()
            compare_datasets(c, r, dbs=(0, 1))
            # Redis's whole-dataset digest (every key, value and expiry flag) agrees too
            assert c.execute_command("DEBUG", "DIGEST") == r.execute_command("DEBUG", "DIGEST")
        finally:
            ref.stop()
    finally:
        ours.stop()


def test_debug_digest_value_every_type(ref):
    """DEBUG DIGEST-VALUE per key and DEBUG DIGEST, same commands on both servers."""
    ours = start_valkeyd("--save", "", "--enable-debug-command", "yes")
    try:
        a, b = ours.client(), ref.client()
        b.flushall()
        b.function_flush()
        for c in (a, b):
            populate(c)
        keys = sorted(a.keys())
        assert keys == sorted(b.keys())
        for k in keys:
            assert (a.execute_command("DEBUG", "DIGEST-VALUE", k)
                    == b.execute_command("DEBUG", "DIGEST-VALUE", k)), k
        assert a.execute_command("DEBUG", "DIGEST") == b.execute_command("DEBUG", "DIGEST")
        assert a.execute_command("DEBUG", "DIGEST") != b"0" * 40
    finally:
        b.flushall()
        b.function_flush()
        ours.stop()


def test_check_rdb_reports_key_counts():
    ours = start_valkeyd("--save", "")
    try:
        c = ours.client()
        populate(c, select_client(ours, 1))
        c.save()
        out = check_rdb(ours.dir / "dump.rdb")
        total = c.dbsize() + select_client(ours, 1).dbsize()
        assert f"[info] {total} keys read" in out
        assert "[info] 2 expires" in out
    finally:
        ours.stop()


def test_bgsave_loads_into_valkey():
    ours = start_valkeyd("--save", "")
    try:
        c = ours.client()
        populate(c)
        before = c.lastsave()
        time.sleep(1.1)
        assert c.bgsave() is True
        deadline = time.time() + 30
        while c.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
            time.sleep(0.05)
        info = c.info("persistence")
        assert info["rdb_last_bgsave_status"] == "ok"
        assert info["rdb_changes_since_last_save"] == 0
        assert info["rdb_saves"] == 1
        assert c.lastsave() > before
        log = ours.log()
        assert "Background saving started by pid" in log
        assert "Background saving terminated with success" in log
        child = log.split("Background saving started by pid ")[1].split()[0]
        assert f"{child}:C " in log and "DB saved on disk" in log
        ref = start_valkey("--dir", str(ours.dir), "--dbfilename", "dump.rdb")
        try:
            compare_datasets(c, ref.client())
        finally:
            ref.stop()
    finally:
        ours.stop()


def test_save_bgsave_errors_same_as_valkey(ref):
    ours = start_valkeyd("--save", "")
    try:
        a, b = ours.client(), ref.client()
        for args in (("BGSAVE", "now"), ("BGSAVE", "schedule", "x"), ("SAVE", "x")):
            ea = eb = None
            try:
                a.execute_command(*args)
            except redis.ResponseError as e:
                ea = str(e)
            try:
                b.execute_command(*args)
            except redis.ResponseError as e:
                eb = str(e)
            assert ea == eb, args
        p = a.pipeline(transaction=True)
        p.execute_command("SAVE")
        with pytest.raises(redis.ResponseError, match="not allowed"):
            p.execute()
        # BGSAVE inside MULTI is scheduled, then run from the cron
        reply = ours.raw(b"MULTI\r\nBGSAVE\r\nEXEC\r\n")
        assert reply == b"+OK\r\n+QUEUED\r\n*1\r\n+Background saving scheduled\r\n"
        deadline = time.time() + 20
        while "Background saving terminated with success" not in ours.log():
            assert time.time() < deadline
            time.sleep(0.1)
    finally:
        ours.stop()


def test_changes_counter_and_info(ref):
    ours = start_valkeyd("--save", "")
    try:
        c = ours.client()
        c.set("a", 1)
        c.set("b", 2)
        info = c.info("persistence")
        assert info["rdb_changes_since_last_save"] == 2
        c.save()
        info = c.info("persistence")
        assert info["rdb_changes_since_last_save"] == 0
        assert info["rdb_last_save_time"] == int(c.lastsave().timestamp())
        assert info["rdb_current_bgsave_time_sec"] == -1
        # same field names, same order as the reference
        ka = list(c.info("persistence"))
        kb = list(ref.client().info("persistence"))
        assert [k for k in ka if k in kb] == [k for k in kb if k in ka]
        assert [k for k in ka if k.startswith("rdb_")] == [k for k in kb if k.startswith("rdb_")]
    finally:
        ours.stop()


def test_save_points_trigger_bgsave():
    ours = start_valkeyd("--save", "1 2")
    try:
        c = ours.client()
        c.set("a", 1)
        c.set("b", 2)
        deadline = time.time() + 20
        while "Background saving terminated with success" not in ours.log():
            assert time.time() < deadline, ours.log()
            time.sleep(0.1)
        assert "2 changes in 1 seconds. Saving..." in ours.log()
        assert c.info("persistence")["rdb_changes_since_last_save"] == 0
        assert (ours.dir / "dump.rdb").exists()
    finally:
        ours.stop()


def test_misconf_after_failed_bgsave():
    ours = start_valkeyd("--save", "3600 1000")
    try:
        c = ours.client()
        c.set("k", "v")
        (ours.dir / "dump.rdb").mkdir()      # the rename over a directory fails
        assert c.bgsave() is True
        deadline = time.time() + 20
        while c.info("persistence")["rdb_last_bgsave_status"] != "err":
            assert time.time() < deadline, ours.log()
            time.sleep(0.05)
        assert "Background saving error" in ours.log()
        with pytest.raises(redis.ResponseError) as ei:
            c.set("k", "w")
        assert str(ei.value).startswith("MISCONF Redis is configured to save RDB snapshots")
        assert "stop-writes-on-bgsave-error option" in str(ei.value)
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            c.ping()
        assert c.get("k") == b"v"           # reads still work
        # scripts: a script that may write is refused before it runs (shebang scripts) or at
        # its first write (EVAL without flags); read-only scripts run
        with pytest.raises(redis.ResponseError) as ei:
            c.eval("#!lua\nreturn redis.call('set', KEYS[1], 'x')", 1, "k")
        assert str(ei.value) == ("MISCONF Redis is configured to save RDB snapshots, but it's "
                                 "currently unable to persist to disk. Writable scripts are "
                                 "blocked. Use 'no-writes' flag for read only scripts.")
        with pytest.raises(redis.ResponseError, match="^MISCONF Redis is configured to save"):
            c.eval("return redis.call('set', KEYS[1], 'x')", 1, "k")
        assert c.eval("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, "k") == b"v"
        assert c.eval("return redis.call('get', KEYS[1])", 1, "k") == b"v"
        # in MULTI the write is refused when queued, and EXEC aborts
        reply = ours.raw(b"MULTI\r\nSET k y\r\nEXEC\r\n")
        assert reply.startswith(b"+OK\r\n-MISCONF Redis is configured")
        assert reply.endswith(b"-EXECABORT Transaction discarded because of previous errors."
                              b"\r\n")
        assert c.get("k") == b"v"
        c.config_set("stop-writes-on-bgsave-error", "no")
        assert c.set("k", "w") is True
        c.config_set("stop-writes-on-bgsave-error", "yes")
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            c.set("k", "x")
        (ours.dir / "dump.rdb").rmdir()
        assert c.save() is True             # a good save clears the state
        assert c.set("k", "x") is True
    finally:
        ours.stop()


def test_shutdown_saves_with_save_points():
    ours = start_valkeyd("--save", "3600 1000")
    c = ours.client()
    c.set("k", "v")
    c.rpush("l", 1, 2)
    c.shutdown()
    ours.proc.wait(20)
    assert "Saving the final RDB snapshot before exiting." in ours.log()
    ref = start_valkey("--dir", str(ours.dir), "--dbfilename", "dump.rdb")
    try:
        r = ref.client()
        assert r.get("k") == b"v" and r.lrange("l", 0, -1) == [b"1", b"2"]
    finally:
        ref.stop()
        ours.stop()


def test_shutdown_nosave_and_save_flags():
    ours = start_valkeyd("--save", "3600 1000")
    c = ours.client()
    c.set("k", "v")
    c.shutdown(nosave=True)
    ours.proc.wait(20)
    assert not (ours.dir / "dump.rdb").exists()
    ours.stop()
    ours = start_valkeyd("--save", "")
    c = ours.client()
    c.set("k", "v2")
    c.shutdown(save=True)
    ours.proc.wait(20)
    assert (ours.dir / "dump.rdb").exists()
    ours.stop()


def test_shutdown_refused_when_save_fails():
    ours = start_valkeyd("--save", "3600 1000")
    try:
        c = ours.client()
        c.set("k", "v")
        (ours.dir / "dump.rdb").mkdir()
        with pytest.raises(redis.ResponseError, match="Errors trying to SHUTDOWN"):
            c.shutdown()
        assert c.ping()
        assert "Error trying to save the DB, can't exit." in ours.log()
    finally:
        shutil.rmtree(ours.dir / "dump.rdb", ignore_errors=True)
        ours.stop()


def test_flushall_saves_with_save_points():
    ours = start_valkeyd("--save", "3600 1000")
    try:
        c = ours.client()
        c.set("k", "v")
        c.save()
        assert b"k" in (ours.dir / "dump.rdb").read_bytes()
        c.flushall()
        data = (ours.dir / "dump.rdb").read_bytes()
        assert b"k\x01v" not in data
        out = check_rdb(ours.dir / "dump.rdb")
        assert "[info] 0 keys read" in out
    finally:
        ours.stop()


def test_flushall_without_save_points_keeps_file():
    ours = start_valkeyd("--save", "")
    try:
        c = ours.client()
        c.set("k", "v")
        c.save()
        before = (ours.dir / "dump.rdb").read_bytes()
        c.flushall()
        assert (ours.dir / "dump.rdb").read_bytes() == before
    finally:
        ours.stop()


# -- DUMP --------------------------------------------------------------------------------------
def test_dump_restores_into_valkey():
    ours = start_valkeyd("--save", "")
    ref = start_valkey()
    try:
        a, b = ours.client(), ref.client()
        populate(a)
        for k in a.keys():
            payload = a.dump(k)
            b.restore(k, 0, payload)
        b.function_restore(a.function_dump())
        compare_datasets_no_ttl(a, b)
    finally:
        ours.stop()
        ref.stop()


def compare_datasets_no_ttl(a, b):
    keys = sorted(a.keys())
    assert keys == sorted(b.keys())
    for k in keys:
        assert value_of(a, k) == value_of(b, k), k
        assert loaded_encoding(a, k) == b.object("encoding", k), k


DETERMINISTIC = [
    ("SET", "k", "12345"), ("SET", "k", "-1"), ("SET", "k", "2147483648"), ("SET", "k", "abc"),
    ("SET", "k", "a" * 200), ("SET", "k", "007"),
    ("RPUSH", "k", "a", "1", "-100", "5000", "-40000", "9000000", "-2000000000", "1" * 19,
     "b" * 100, "c" * 5000),
    ("HSET", "k", "f", "v", "g", "12", "h", "x" * 60),
    ("SADD", "k", "1", "2", "-3"), ("SADD", "k", "1", "100000"),
    ("SADD", "k", "1", "10000000000"), ("SADD", "k", "a", "b", "1"),
    ("ZADD", "k", "1", "a", "1.5", "b", "-inf", "c", "inf", "d", "0.1", "e", "1e300", "f"),
    ("ZADD", "k", *sum([[str(i / 7), f"m{i}"] for i in range(200)], [])),
    ("RPUSH", "k", *[str(i) * 7 for i in range(2000)]),
    ("XADD", "k", "1-1", "a", "1", "b", "2"),
]


@pytest.mark.parametrize("cmd", DETERMINISTIC, ids=lambda c: c[0] + str(len(c)))
@pytest.mark.parametrize("compression", ["yes", "no"])
def test_dump_payload_identical(cmd, compression, ref):
    ours = start_valkeyd("--save", "", "--rdbcompression", compression)
    try:
        a, b = ours.client(), ref.client()
        b.config_set("rdbcompression", compression)
        b.delete("k")
        a.execute_command(*cmd)
        b.execute_command(*cmd)
        assert a.object("encoding", "k") == b.object("encoding", "k")
        assert a.dump("k") == b.dump("k")
        assert a.dump("missing") is None
    finally:
        b.config_set("rdbcompression", "yes")
        ours.stop()


def test_dump_lzf_limit_identical(ref):
    """A string is stored compressed exactly when valkey-server stores it compressed."""
    ours = start_valkeyd("--save", "")
    try:
        a, b = ours.client(), ref.client()
        for v in lzf_edge_strings():
            for c in (a, b):
                c.set("k", v)
            assert a.dump("k") == b.dump("k"), v
    finally:
        ours.stop()


@pytest.mark.parametrize("depth", [1, 2])
def test_dump_compressed_quicklist_identical(depth, ref):
    """Under list-compress-depth the inner nodes are the quicklist's LZF blobs."""
    ours = start_valkeyd("--save", "", "--list-compress-depth", str(depth))
    try:
        a, b = ours.client(), ref.client()
        b.config_set("list-compress-depth", depth)
        b.delete("k", "short", "k2")
        tail = [os.urandom(40).hex() for _ in range(2)]
        for c in (a, b):
            c.rpush("k", *[("item-%d-" % i) * (1 + i % 5) for i in range(3000)])
            c.rpush("k", *tail)
            c.lpush("short", *[str(i) * 30 for i in range(300)])
        for k in ("k", "short"):
            assert a.object("encoding", k) == b.object("encoding", k) == b"quicklist"
        assert a.dump("short") == b.dump("short")
        pa = a.dump("k")
        assert pa == b.dump("k")
        b.restore("k2", 0, pa)
        assert b.lrange("k2", 0, -1) == a.lrange("k", 0, -1)
    finally:
        b.config_set("list-compress-depth", 0)
        ours.stop()


def test_dump_stream_with_groups_identical_but_times(ref):
    """Stream payloads match byte for byte once the (clock-dependent) delivery and seen times
    are set the same way on both sides (XCLAIM ... TIME, XGROUP CREATECONSUMER order)."""
    ours = start_valkeyd("--save", "")
    try:
        a, b = ours.client(), ref.client()
        b.delete("k")
        for c in (a, b):
            c.config_set("stream-node-max-entries", 3)
            for i in range(1, 9):
                c.xadd("k", {"a": i} if i % 3 else {"z": i, "y": 1}, id=f"{i}-{i}")
            c.xdel("k", "2-2", "7-7")
            c.xgroup_create("k", "g", id="0")
            c.config_set("stream-node-max-entries", 100)
        assert a.dump("k")[:60] == b.dump("k")[:60]
        na = a.execute_command("XINFO", "STREAM", "k", "FULL")
        nb = b.execute_command("XINFO", "STREAM", "k", "FULL")
        assert na == nb
        assert a.dump("k") == b.dump("k")
    finally:
        ours.stop()


# -- verification before the rename (beyond Redis) ----------------------------------------------
def test_failed_verification_keeps_previous_file(tmp_path, monkeypatch):
    from harness import inproc_server
    import persistence.rdb_save as rs
    import persistence.snapshot as snap

    srv, _, _ = inproc_server()
    monkeypatch.chdir(tmp_path)
    srv.dbs[0].set(b"k", b"v")
    assert srv.snapshots.save()
    good = (tmp_path / "dump.rdb").read_bytes()
    srv.dbs[0].set(b"k2", b"v2")

    real = rs.write_rdb

    def lying(server, f, **kw):
        return real(server, f, **kw) + 1    # claims one key more than the file holds

    monkeypatch.setattr(snap, "write_rdb", lying)
    assert srv.snapshots.save() is False
    assert (tmp_path / "dump.rdb").read_bytes() == good
    assert not list(tmp_path.glob("temp-*.rdb"))

    def corrupting(server, f, **kw):
        n = real(server, f, **kw)
        f.seek(20)
        f.write(b"\xff")
        return n

    monkeypatch.setattr(snap, "write_rdb", corrupting)
    assert srv.snapshots.save() is False
    assert (tmp_path / "dump.rdb").read_bytes() == good
    monkeypatch.setattr(snap, "write_rdb", real)
    assert srv.snapshots.save() is True
    assert snap.count_keys((tmp_path / "dump.rdb").read_bytes()) == 2


def test_count_keys_matches_check_rdb():
    ours = start_valkeyd("--save", "")
    try:
        c = ours.client()
        populate(c, select_client(ours, 1))
        c.save()
        from persistence.snapshot import count_keys
        data = (ours.dir / "dump.rdb").read_bytes()
        assert count_keys(data) == c.dbsize() + select_client(ours, 1).dbsize()
    finally:
        ours.stop()


@pytest.mark.parametrize("policy", ["allkeys-lfu", "allkeys-lru"])
def test_lru_lfu_opcodes(policy):
    """Under an LFU policy each key carries its FREQ counter, under LRU its IDLE time."""
    ours = start_valkeyd("--save", "", "--maxmemory-policy", policy)
    try:
        c = ours.client()
        c.set("hot", "v")
        c.set("cold", "v", px=3_600_000)
        if policy.endswith("lru"):
            time.sleep(2.2)              # "cold" idles; without IDLE a loader resets it
        for _ in range(300):
            c.get("hot")
        c.save()
        out = check_rdb(ours.dir / "dump.rdb")
        assert "[info] 2 keys read" in out
        data = (ours.dir / "dump.rdb").read_bytes()
        assert (b"\xf9" if policy.endswith("lfu") else b"\xf8") in data
        ref = start_valkey("--dir", str(ours.dir), "--dbfilename", "dump.rdb",
                           "--maxmemory-policy", policy)
        try:
            r = ref.client()
            if policy.endswith("lfu"):   # before any read: reads bump the counters
                assert r.object("freq", "hot") == c.object("freq", "hot")
                assert r.object("freq", "cold") == c.object("freq", "cold")
                assert c.object("freq", "hot") > c.object("freq", "cold")
            else:
                assert r.object("idletime", "cold") >= 2
                assert r.object("idletime", "hot") <= 1
            assert r.get("cold") == b"v" and r.pexpiretime("cold") == c.pexpiretime("cold")
        finally:
            ref.stop()
    finally:
        ours.stop()


def test_sigterm_saves_with_save_points():
    ours = start_valkeyd("--save", "3600 1000")
    c = ours.client()
    c.set("k", "v")
    c.close()
    assert ours.stop() == 0
    assert "Saving the final RDB snapshot before exiting." in ours.log()
    assert "DB saved on disk" in ours.log()
    out = check_rdb(ours.dir / "dump.rdb")
    assert "[info] 1 keys read" in out


def test_bgsave_child_killed_on_shutdown():
    """SHUTDOWN while a BGSAVE child runs kills it and saves in the foreground."""
    ours = start_valkeyd("--save", "3600 1000", "--enable-debug-command", "yes")
    c = ours.client()
    c.execute_command("DEBUG", "POPULATE", 200000)
    c.bgsave()
    c.shutdown()
    ours.proc.wait(60)
    log = ours.log()
    if "Background saving terminated" not in log.split("User requested shutdown")[0]:
        assert "There is a child saving an .rdb. Killing it!" in log
    assert not list(ours.dir.glob("temp-*.rdb"))
    out = check_rdb(ours.dir / "dump.rdb")
    assert "[info] 200000 keys read" in out
    ours.stop()


def _have_loader() -> bool:
    try:
        import persistence.rdb_load  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _have_loader(), reason="DEBUG RELOAD needs persistence/rdb_load.py")
def test_debug_reload(ref):
    """DEBUG RELOAD saves, empties and loads back: same digest; NOSAVE reloads the old file;
    NOFLUSH MERGE keeps keys not in the file; errors as Redis's."""
    ours = start_valkeyd("--save", "", "--enable-debug-command", "yes")
    try:
        c = ours.client()
        populate(c)
        d0 = c.execute_command("DEBUG", "DIGEST")
        assert c.execute_command("DEBUG", "RELOAD") == b"OK"
        assert c.execute_command("DEBUG", "DIGEST") == d0
        assert libraries(c)[0][b"library_name"] == b"savelib"
        c.set("after", "1")
        assert c.execute_command("DEBUG", "RELOAD", "NOSAVE") == b"OK"
        assert c.exists("after") == 0
        assert c.execute_command("DEBUG", "DIGEST") == d0
        c.set("after", "1")
        c.set("s:int", "changed")
        assert c.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == b"OK"
        assert c.get("after") == b"1" and c.get("s:int") == b"12345"
        assert "DB reloaded by DEBUG RELOAD" in ours.log()
        r = ref.client()
        for args in (("DEBUG", "RELOAD", "BAD"),):
            with pytest.raises(redis.ResponseError) as ea:
                c.execute_command(*args)
            with pytest.raises(redis.ResponseError) as eb:
                r.execute_command(*args)
            assert str(ea.value) == str(eb.value)
        (ours.dir / "dump.rdb").write_bytes(b"REDIS0011garbage")
        with pytest.raises(redis.ResponseError,
                           match="^Error trying to load the RDB dump, check server logs."):
            c.execute_command("DEBUG", "RELOAD", "NOSAVE")
    finally:
        ours.stop()


@pytest.mark.parametrize("bg", [False, True], ids=["save", "bgsave"])
def test_big_save_checksum_via_helper(bg):
    """More than 4 MB: the CRC-64 goes through the writer's helper process
    (rdb_save._CRCHelper); the trailer must equal the checksum of the body, and the file
    must load into valkey-server with the same contents."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from persistence.crc64 import crc64_lanes
    ours = start_valkeyd("--save", "", "--enable-debug-command", "yes")
    try:
        c = ours.client()
        rnd = random.Random(6)
        pipe = c.pipeline(transaction=False)
        for i in range(3000):   # incompressible values: about 9 MB
            pipe.set(b"big:%d" % i, rnd.randbytes(3000))
        pipe.execute()
        c.execute_command("DEBUG", "POPULATE", 20000)
        if bg:
            assert c.bgsave() is True
            deadline = time.time() + 60
            while c.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
                time.sleep(0.05)
            assert c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        else:
            assert c.save() is True
        data = (ours.dir / "dump.rdb").read_bytes()
        assert len(data) > 8 << 20
        assert data[-8:] == crc64_lanes(0, data[:-8]).to_bytes(8, "little")
        assert not list(ours.dir.glob("temp-*.rdb"))
        check_rdb(ours.dir / "dump.rdb")
        ref = start_valkey("--dir", str(ours.dir), "--dbfilename", "dump.rdb")
        try:
            r = ref.client()
            assert r.dbsize() == c.dbsize() == 23000
            assert c.execute_command("DEBUG", "DIGEST") == r.execute_command("DEBUG", "DIGEST")
        finally:
            ref.stop()
    finally:
        ours.stop()


def test_bgsave_progress_and_cow_fields_like_valkey():
    """During a BGSAVE slowed by rdb-key-save-delay (a testing aid, as in Redis), INFO
    persistence reports the child's progress as valkey-server does: the key total at fork,
    keys processed and current_fork_perc from the child info pipe, the child's copy-on-write
    size and its age; afterwards the current_* fields are back to 0 and rdb_last_cow_size
    holds the child's peak (logged by the child as "Fork CoW for RDB")."""
    args = ("--save", "", "--enable-debug-command", "yes", "--rdb-key-save-delay", "1000")
    ours = start_valkeyd(*args)
    ref = start_valkey("--rdb-key-save-delay", "1000")
    try:
        servers = (ours.client(), ref.client())
        for c in servers:
            c.execute_command("DEBUG", "POPULATE", 3000)
            assert c.info("persistence")["current_save_keys_total"] == 0
            assert c.bgsave() is True
        time.sleep(1.6)
        infos = [c.info("persistence") for c in servers]
        assert list(infos[0]) == list(infos[1])
        for info in infos:
            assert info["rdb_bgsave_in_progress"] == 1
            assert info["current_save_keys_total"] == 3000
            done = info["current_save_keys_processed"]
            assert 0 < done < 3000
            assert info["current_fork_perc"] == float("%.2f" % (done / 3000 * 100))
            assert info["current_cow_size_age"] >= 0
        # our child is a Python process: reference counts dirty pages as it reads
        assert infos[0]["current_cow_size"] > 0
        assert infos[0]["current_cow_peak"] >= infos[0]["current_cow_size"]
        deadline = time.time() + 60
        for c in servers:
            while c.info("persistence")["rdb_bgsave_in_progress"]:
                assert time.time() < deadline
                time.sleep(0.1)
        infos = [c.info("persistence") for c in servers]
        for info in infos:
            assert info["rdb_last_bgsave_status"] == "ok"
            for f in ("current_cow_peak", "current_cow_size", "current_cow_size_age",
                      "current_save_keys_processed", "current_save_keys_total"):
                assert info[f] == 0, f
            assert info["current_fork_perc"] == 0
        assert infos[0]["rdb_last_cow_size"] > 0
        assert "Fork CoW for RDB: current " in ours.log()
        assert "Fork CoW for RDB: current " in ref.log()
    finally:
        ours.stop()
        ref.stop()


def test_failed_crc_helper_fails_the_save_and_keeps_the_old_file(tmp_path, monkeypatch):
    """If the CRC-64 helper process dies, the save fails (logged as a write error) and the
    previous RDB stays; with a working helper the same dataset saves and verifies."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from harness import inproc_server
    from persistence import rdb_save, snapshot
    srv, _, _ = inproc_server()
    ks = srv.engine.db(0)
    rnd = random.Random(7)
    for i in range(2500):
        ks.set(b"k%d" % i, rnd.randbytes(2500))     # about 6 MB: the helper is used
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dump.rdb").write_bytes(b"old")
    monkeypatch.setattr(rdb_save, "_HELPER_CODE", "import sys\nsys.exit(3)\n")
    with pytest.raises(snapshot.SaveError):
        snapshot.save_to(srv, "dump.rdb")
    assert (tmp_path / "dump.rdb").read_bytes() == b"old"
    assert not list(tmp_path.glob("temp-*.rdb"))
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    snapshot.save_to(srv, "dump.rdb")
    data = (tmp_path / "dump.rdb").read_bytes()
    from persistence.crc64 import crc64_lanes
    assert data[-8:] == crc64_lanes(0, data[:-8]).to_bytes(8, "little")
    assert snapshot.count_keys(data) == 2500


def _hfe_times(c, key):
    return c.execute_command("HPEXPIRETIME", key, "FIELDS", "3", "a", "b", "c")


def test_hash_field_expiry_times_survive_save_rewrite_and_dump(tmp_path):
    """Field expiry times (HEXPIRE family) are kept by every persistence path: SAVE and
    restart (the file is then RDB 12, Redis 7.4's HASH_METADATA), DEBUG RELOAD, BGREWRITEAOF
    with and without the RDB preamble (HPEXPIREAT in the plain one), DUMP/RESTORE; a dataset
    without them is still written as RDB 11."""
    s = start_valkeyd("--save", "", "--enable-debug-command", "yes", workdir=str(tmp_path))
    try:
        c = s.client()
        c.set("plain", "v")
        c.save()
        assert (tmp_path / "dump.rdb").read_bytes()[:9] == b"REDIS0011"
        c.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
        c.execute_command("HPEXPIRE", "h", "100000", "FIELDS", "1", "a")
        c.execute_command("HPEXPIRE", "h", "200000", "FIELDS", "1", "b")
        want = _hfe_times(c, "h")
        assert want[0] > 0 and want[1] > want[0] and want[2] == -1
        payload = c.dump("h")
        assert payload[-10] == 12
        c.restore("h2", 0, payload)
        assert _hfe_times(c, "h2") == want
        c.execute_command("DEBUG", "RELOAD")
        assert _hfe_times(c, "h") == want and c.hgetall("h") == {b"a": b"1", b"b": b"2",
                                                                  b"c": b"3"}
        c.save()
        assert (tmp_path / "dump.rdb").read_bytes()[:9] == b"REDIS0012"
        for preamble in ("yes", "no"):
            c.config_set("aof-use-rdb-preamble", preamble)
            c.config_set("appendonly", "yes")
            wait_rewrite(c)
            c.bgrewriteaof()
            wait_rewrite(c)
            c.execute_command("DEBUG", "LOADAOF")
            assert _hfe_times(c, "h") == want and _hfe_times(c, "h2") == want, preamble
            c.config_set("appendonly", "no")
    finally:
        s.stop()
    s = start_valkeyd("--save", "", workdir=str(tmp_path))   # dump.rdb (RDB 12) at startup
    try:
        c = s.client()
        assert _hfe_times(c, "h") == want and c.get("plain") == b"v"
    finally:
        s.stop()


def wait_rewrite(c):
    for _ in range(400):
        p = c.info("persistence")
        if not p["aof_rewrite_in_progress"] and not p["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise AssertionError("the AOF rewrite did not finish")
