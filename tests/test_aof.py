"""The multi-part AOF (persistence/aof.py): manifest format, write path bytes (compared with
valkey-server's own incr file), group commit, loading Redis 7.2.4 fixtures, truncated and
corrupted files, rewrites, CONFIG SET appendonly, WAITAOF, INFO fields."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from harness import (FIXTURES, IN_CI, ROOT, RawClient, start_valkey, start_valkeyd,
                     valkey_server_path)

sys.path.insert(0, str(ROOT))

from persistence.aof import (AofParseError, Manifest, ManifestError, _iter_aof_exact,  # noqa: E402
                             cat_command, iter_aof)



def aof_dir(srv) -> Path:
    return Path(srv.dir) / "appendonlydir"


def incr_file(srv) -> Path:
    d = aof_dir(srv)
    m = Manifest.parse((d / "appendonly.aof.manifest").read_bytes())
    return d / m.incr[-1][0]


def wait_rewrite(r, rewrites: int | None = None, timeout: float = 30.0) -> dict:
    """Wait until no AOF rewrite runs or is scheduled (and ``aof_rewrites`` reached
    ``rewrites``); returns INFO persistence."""
    deadline = time.time() + timeout
    while True:
        info = r.info("persistence")
        if (not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]
                and (rewrites is None or info["aof_rewrites"] >= rewrites)):
            return info
        assert time.time() < deadline, info
        time.sleep(0.05)


def refused(*args, workdir) -> str:
    """Start valkeyd expecting it to refuse to start (exit code 1); returns its log."""
    import subprocess
    from harness import free_port
    argv = [sys.executable, "-m", "valkeyd", "serve", "--port", str(free_port()),
            "--dir", str(workdir)] + list(args)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(argv, cwd=workdir, capture_output=True, timeout=60, env=env)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 1, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    return out


# -- manifest ----------------------------------------------------------------------------------

def test_manifest_format_exact():
    m = Manifest.parse(b"file appendonly.aof.1.base.rdb seq 1 type b\n"
                       b"file appendonly.aof.1.incr.aof seq 1 type i\n")
    assert m.base == ("appendonly.aof.1.base.rdb", 1, "b")
    assert m.incr == [("appendonly.aof.1.incr.aof", 1, "i")]
    assert m.format() == (b"file appendonly.aof.1.base.rdb seq 1 type b\n"
                          b"file appendonly.aof.1.incr.aof seq 1 type i\n")


def test_manifest_quoting_and_order():
    text = (b'# a comment\nfile "my file.aof" seq 3 type i\n'
            b"file 'b.aof' seq 2 type b\nfile h.aof seq 1 type h\n")
    m = Manifest.parse(text)
    assert m.base == ("b.aof", 2, "b")
    assert m.history == [("h.aof", 1, "h")]
    assert m.incr == [("my file.aof", 3, "i")]
    # base, history, incr; names that need it are quoted as sdscatrepr does
    assert m.format() == (b"file b.aof seq 2 type b\nfile h.aof seq 1 type h\n"
                          b'file "my file.aof" seq 3 type i\n')
    assert Manifest.parse(m.format()).incr == m.incr


@pytest.mark.parametrize("text,msg", [
    (b"", "Found an empty AOF manifest"),
    (b"file a seq 1\n", "Invalid AOF manifest file format"),
    (b"\n", "Invalid AOF manifest file format"),
    (b"file a seq 1 type x\n", "Unknown AOF file type"),
    (b"file a/b seq 1 type i\n", "File can't be a path, just a filename"),
    (b"file a seq 1 type b\nfile b seq 2 type b\n", "Found duplicate base file information"),
    (b"file a seq 2 type i\nfile b seq 2 type i\n", "Found a non-monotonic sequence number"),
    (b"file a seq 1 type i", "The AOF manifest file contains too long line"),
    (b'file "a seq 1 type i\n', "Invalid AOF manifest file format"),
])
def test_manifest_errors(text, msg):
    with pytest.raises(ManifestError) as e:
        Manifest.parse(text)
    assert e.value.args[0] == msg


def test_bad_manifest_refuses_to_start():
    d = tempfile.mkdtemp()
    os.makedirs(os.path.join(d, "appendonlydir"))
    Path(d, "appendonlydir", "appendonly.aof.manifest").write_bytes(b"file x seq 1 type z\n")
    log = refused("--appendonly", "yes", workdir=d)
    assert "Unknown AOF file type" in log
    assert "FATAL AOF MANIFEST FILE ERROR" in log


# -- the write path ------------------------------------------------------------------------------

def test_cat_command_bytes():
    out = []
    cat_command(out, [b"SET", b"k", b""])
    assert b"".join(out) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"


def _records(reader, data, strict):
    """Everything ``reader`` gives for ``data``: its records, then how it stops."""
    out = []
    try:
        for argv, start, stop in reader(data, strict=strict):
            out.append((argv, start, stop))
    except AofParseError as e:
        out.append(("error", e.reason, e.offset, e.start, e.truncated))
    return out


def test_fast_reader_is_the_exact_reader():
    """iter_aof's hiredis path gives the records, byte ranges and errors of the exact reader
    on canonical files, annotations, non-canonical numbers, damage and cuts."""
    rnd = random.Random(7)
    canon = []
    for i in range(400):
        argv = [rnd.choice([b"SET", b"RPUSH", b"MULTI", b"EXEC"])] + [
            rnd.randbytes(rnd.choice([0, 1, 9, 10, 99, 100, 3000, 70_000]))
            for _ in range(rnd.randrange(0, 4))]
        rec = b"".join([b"*%d\r\n" % len(argv)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in argv])
        canon.append(rec)
        if i % 37 == 0:
            canon.append(b"#TS:%d\r\n" % (1700000000 + i))
    base = b"".join(canon)
    cases = [base, base[:-1], base[:len(base) // 2],
             b"*03\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n" + base[:5000],
             b"*1\r\n$01\r\na\r\n" + canon[0], b"*1\r\n$1\r\naXY" + canon[0],
             b"*1\r\n$-1\r\n" + canon[0], b"*0\r\n" + canon[0], b"*1\r\n:1\r\n",
             b"*2\r\n*1\r\n$1\r\na\r\n$1\r\nb\r\n", b"*1 \r\n$1\r\na\r\n",
             b"*1\n$1\na\r\n" + canon[1], b"+OK\r\n", b"-ERR x\r\n"]
    for _ in range(150):     # one byte changed, inserted or deleted somewhere
        i = rnd.randrange(len(base) // 8)
        kind = rnd.randrange(3)
        b = bytes([rnd.choice(b"*$#\r\n0123456789-+ xZ")])
        cases.append(base[:i] + b + base[i + (kind == 0):] if kind < 2 else base[:i] + base[i + 1:])
    for data in cases:
        for strict in (False, True):
            assert _records(iter_aof, data, strict) == _records(_iter_aof_exact, data, strict), (
                data[:60], strict)
    # ranges and an end inside the data
    assert list(iter_aof(base, len(canon[0]), len(base) - len(canon[-1]))) == list(
        _iter_aof_exact(base, len(canon[0]), len(base) - len(canon[-1])))


def _script(r):
    r.set("a", "1")
    r.execute_command("SELECT", "3")
    r.incr("n")
    r.execute_command("SELECT", "0")
    r.rpush("l", "x", "y")
    r.expire("a", 1000)                 # propagated as PEXPIREAT (absolute)
    r.publish("ch", "m")                # not in the AOF
    p = r.pipeline(transaction=True)
    p.set("t1", "1")
    p.incr("t2")
    p.execute()
    r.eval("redis.call('set', KEYS[1], 'v'); redis.call('del', 'nokey')", 1, "sk")
    r.delete("nokey")                   # no effect: not propagated
    r.hset("h", mapping={"f": "v"})
    # Requests in every shape the parser takes: the bytes of a lone canonical request are
    # written to the AOF as received (Aof.feed), the others are encoded again.
    raw = RawClient(r.connection_pool.connection_kwargs["port"])
    for req in (b"*3\r\n$3\r\nset\r\n$2\r\nlc\r\n$3\r\n\x00\xff\n\r\n",       # lower case, binary
                b"*3\r\n$3\r\nSet\r\n$1\r\np\r\n$1\r\n1\r\n"
                b"*2\r\n$4\r\nINCR\r\n$1\r\np\r\n",                               # a pipeline
                b"sadd inline m1 m2\r\n",                                          # inline
                b"*3\r\n$4\r\nincr\r\n$1\r\np\r\n$1\r\nx\r\n",                # wrong arity
                b"*2\r\n$4\r\nincr\r\n$1\r\np\r\n"):
        raw.sock.sendall(req)
        for _ in range(req.count(b"*") or 1):
            raw.read()
    raw.sock.close()


@pytest.mark.skipif(valkey_server_path() is None and not IN_CI,
                    reason="valkey-server is not installed")
def test_incr_file_bytes_like_valkey():
    """The same commands produce the same incr file bytes as valkey-server's, except the
    PEXPIREAT time."""
    ours = start_valkeyd("--appendonly", "yes", "--appendfsync", "always")
    ref = start_valkey("--appendonly", "yes", "--appendfsync", "always")
    try:
        for srv in (ours, ref):
            _script(srv.client())
        a = incr_file(ours).read_bytes()
        b = incr_file(ref).read_bytes()
        import re
        pat = re.compile(rb"PEXPIREAT\r\n\$1\r\na\r\n\$13\r\n\d{13}")
        assert pat.search(a) and pat.search(b)
        assert pat.sub(b"T", a) == pat.sub(b"T", b)
        assert b"publish" not in a.lower()
    finally:
        ours.stop()
        ref.stop()


def test_timestamp_annotations_load():
    srv = start_valkeyd("--appendonly", "yes", "--aof-timestamp-enabled", "yes")
    try:
        r = srv.client()
        r.set("k", "v")
        data = incr_file(srv).read_bytes()
        assert data.startswith(b"#TS:")
        ts = int(data[4:data.index(b"\r\n")])
        assert abs(ts - time.time()) < 60
    finally:
        srv.kill()
    srv = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
    try:
        assert srv.client().get("k") == b"v"
    finally:
        srv.stop()


def test_group_commit_in_process(monkeypatch, tmp_path):
    """Every client of one event-loop iteration shares one write+fsync, and no reply is sent
    before the fsync of its write returned."""
    import valkeyd.commands  # noqa: F401
    from valkeyd.config import Config
    from valkeyd.server import Server

    fsyncs = []
    real = os.fsync

    def fsync(fd):
        real(fd)
        fsyncs.append(time.monotonic())
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.chdir(tmp_path)

    async def main():
        cfg = Config()
        cfg.set("appendonly", "yes")
        cfg.set("appendfsync", "always")
        cfg.set("port", "0")
        cfg.set("unixsocket", str(tmp_path / "s.sock"))
        srv = Server(cfg)
        await srv.start()
        await srv.load_data()
        conns = [await asyncio.open_unix_connection(str(tmp_path / "s.sock"))
                 for _ in range(20)]
        n0 = len(fsyncs)
        for i, (_r, w) in enumerate(conns):
            w.write(b"*3\r\n$3\r\nSET\r\n$3\r\nk%02d\r\n$1\r\nv\r\n" % i)
        for _r, w in conns:
            await w.drain()
        await asyncio.sleep(0.2)   # all requests are in the kernel: one loop iteration
        got = []
        for r, _w in conns:
            got.append(await r.readexactly(5))
            got.append(time.monotonic())
        data = (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes()
        for _r, w in conns:
            w.close()
        srv.finish_shutdown()
        return n0, got, data

    n0, got, data = asyncio.run(main())
    assert got[0::2] == [b"+OK\r\n"] * 20
    assert data.count(b"SET") == 20
    used = len(fsyncs) - n0
    assert 1 <= used < 20, used
    assert min(got[1::2]) >= fsyncs[n0]


# -- loading -------------------------------------------------------------------------------------

def _b(s):
    return base64.b64decode(s)


def _dump(r, dbs):
    """The dataset, in the expected.json layout (values decoded)."""
    out = {}
    for db in dbs:
        r.execute_command("SELECT", db)
        keys = {}
        for k in r.keys("*"):
            t = r.type(k).decode()
            e = {"type": t, "encoding": r.object("encoding", k).decode()}
            if t == "string":
                e["value"] = r.get(k)
            elif t == "list":
                e["value"] = r.lrange(k, 0, -1)
            elif t == "set":
                e["value"] = sorted(r.smembers(k))
            elif t == "hash":
                e["value"] = r.hgetall(k)
            elif t == "zset":
                e["value"] = {m: s for m, s in r.zrange(k, 0, -1, withscores=True)}
            elif t == "stream":
                e["value"] = [(i.decode(), f) for i, f in r.xrange(k)]
                e["last_id"] = r.xinfo_stream(k)["last-generated-id"].decode()
                groups = []
                for g in r.xinfo_groups(k):
                    name = g["name"]
                    pend = r.xpending_range(k, name, "-", "+", 10000)
                    groups.append({
                        "name": name.decode(),
                        "last_delivered_id": g["last-delivered-id"].decode(),
                        "consumers": sorted(c["name"].decode()
                                            for c in r.xinfo_consumers(k, name)),
                        "pending": sorted([p["message_id"].decode(), p["consumer"].decode(),
                                           p["times_delivered"]] for p in pend)})
                e["groups"] = sorted(groups, key=lambda g: g["name"])
            pt = r.pexpiretime(k)
            if pt > 0:
                e["expire"] = pt
            keys[k] = e
        out[db] = keys
    return out


def _expected(path):
    d = json.loads(Path(path).read_text())
    out = {}
    for db, keys in d.items():
        if db == "functions":
            continue
        got = {}
        for k, v in keys.items():
            t = v["type"]
            e = {"type": t, "encoding": v["encoding"]}
            val = v["value"]
            if t == "string":
                e["value"] = _b(val)
            elif t == "list":
                e["value"] = [_b(x) for x in val]
            elif t == "set":
                e["value"] = sorted(_b(x) for x in val)
            elif t == "hash":
                e["value"] = {_b(f): _b(x) for f, x in val.items()}
            elif t == "zset":
                e["value"] = {_b(m): float(s) for m, s in val}
            elif t == "stream":
                e["value"] = [(i, {_b(f): _b(x) for f, x in fv.items()}) for i, fv in val]
                e["last_id"] = v["last_id"]
                e["groups"] = sorted(({"name": g["name"],
                                       "last_delivered_id": g["last_delivered_id"],
                                       "consumers": sorted(g["consumers"]),
                                       "pending": sorted(g["pending"])}
                                      for g in v["groups"]), key=lambda g: g["name"])
            if "expire_at_ms_approx" in v:
                e["expire"] = v["expire_at_ms_approx"]
            got[_b(k)] = e
        out[int(db)] = got
    return out, d.get("functions", [])


def _check_fixture(name):
    work = tempfile.mkdtemp(prefix="valkeyd-aoffix-")
    shutil.copytree(FIXTURES / name, Path(work) / "appendonlydir")
    for p in (Path(work) / "appendonlydir").iterdir():
        p.chmod(0o644)
    srv = start_valkeyd("--appendonly", "yes", workdir=work)
    try:
        r = srv.client()
        want, functions = _expected(FIXTURES / f"{name}.expected.json")
        got = _dump(r, sorted(want))
        for db in want:
            assert sorted(got[db]) == sorted(want[db]), db
            for k in want[db]:
                w, g = dict(want[db][k]), dict(got[db][k])
                we, ge = w.pop("expire", None), g.pop("expire", None)
                assert (we is None) == (ge is None), k
                if we is not None:
                    assert abs(we - ge) < 120000, k
                assert g == w, k
        libs = [lib[b"library_name"].decode() if isinstance(lib, dict) else lib[1].decode()
                for lib in r.execute_command("FUNCTION", "LIST")]
        assert sorted(libs) == sorted(functions)
        log = srv.log()
        assert "DB loaded from append only file" in log
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_load_redis_fixture_aof_plain():
    _check_fixture("aof-plain")


def test_load_redis_fixture_aof_preamble():
    _check_fixture("aof-preamble")


def _written_dir():
    srv = start_valkeyd("--appendonly", "yes", "--appendfsync", "always")
    r = srv.client()
    for i in range(30):
        r.set(f"k{i}", f"v{i}")
    r.rpush("l", *range(10))
    p = r.pipeline(transaction=True)
    p.set("ta", "1")
    p.set("tb", "2")
    p.execute()
    r.set("last", "x")
    srv.kill()
    return srv


def test_truncated_tail_loaded_and_cut():
    srv = _written_dir()
    inc = incr_file(srv)
    data = inc.read_bytes()
    cut = len(data) - 5                      # inside the last SET
    inc.write_bytes(data[:cut])
    srv2 = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
    try:
        r = srv2.client()
        assert r.get("last") is None and r.get("k29") == b"v29" and r.get("tb") == b"2"
        log = srv2.log()
        valid = data.rindex(b"*3\r\n$3\r\nSET\r\n$4\r\nlast")
        assert f"!!! Truncating the AOF {inc.name} at offset {valid} !!!" in log
        assert f"AOF {inc.name} loaded anyway because aof-load-truncated is enabled" in log
        assert "!!! Warning: short read while loading the AOF file" in log
        assert inc.stat().st_size == valid   # the file itself was cut, as Redis does
        r.set("new", "1")                    # and appending continues after the cut
    finally:
        srv2.kill()
    srv3 = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
    try:
        assert srv3.client().get("new") == b"1"
    finally:
        srv3.stop()


def test_truncated_multi_reverted():
    srv = _written_dir()
    inc = incr_file(srv)
    data = inc.read_bytes()
    exec_at = data.index(b"*1\r\n$4\r\nEXEC\r\n")
    inc.write_bytes(data[:exec_at])          # MULTI, SET ta, SET tb, no EXEC
    srv2 = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
    try:
        r = srv2.client()
        assert r.get("ta") is None and r.get("tb") is None and r.get("k29") == b"v29"
        assert f"Revert incomplete MULTI/EXEC transaction in AOF file {inc.name}" in srv2.log()
        assert inc.stat().st_size == data.index(b"*1\r\n$5\r\nMULTI\r\n")
    finally:
        srv2.stop()


def test_truncated_refused_without_load_truncated():
    srv = _written_dir()
    inc = incr_file(srv)
    data = inc.read_bytes()
    inc.write_bytes(data[:-3])
    log = refused("--appendonly", "yes", "--aof-load-truncated", "no", workdir=srv.dir)
    assert f"Unexpected end of file reading the append only file {inc.name}" in log
    assert inc.read_bytes() == data[:-3]     # untouched


def test_corrupt_middle_refused_with_offset():
    srv = _written_dir()
    inc = incr_file(srv)
    data = bytearray(inc.read_bytes())
    at = data.index(b"*3\r\n$3\r\nSET\r\n$3\r\nk10")
    data[at] = ord("X")
    inc.write_bytes(bytes(data))
    msg = refused("--appendonly", "yes", workdir=srv.dir)
    assert f"Bad file format reading the append only file {inc.name}" in msg
    assert f"The format error is at offset {at} of {inc.name}" in msg


def test_random_cuts_and_bit_flips_never_crash():
    """Cut at random offsets or flip single bits: the server either loads (and serves) or
    refuses with exit code 1 and a logged reason; never a traceback."""
    srv = _written_dir()
    inc = incr_file(srv)
    orig = inc.read_bytes()
    rng = random.Random(1234)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(8):
        data = bytearray(orig)
        if i % 2:
            data = data[:rng.randrange(1, len(data))]
        else:
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        inc.write_bytes(bytes(data))
        try:
            s = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
        except RuntimeError as e:
            assert "server exited with 1" in str(e), str(e)[-2000:]
            assert "Traceback" not in str(e)
            outcomes["refused"] += 1
            continue
        try:
            s.client().ping()   # after loading
            assert "Traceback" not in s.log()
            outcomes["loaded"] += 1
        except redis.ConnectionError:            # refused after the port opened
            assert s.proc.wait(30) == 1, s.log()[-2000:]
            assert "Traceback" not in s.log()
            outcomes["refused"] += 1
        finally:
            if s.alive():
                s.kill()
    assert sum(outcomes.values()) == 8


def test_unknown_command_refused():
    srv = _written_dir()
    inc = incr_file(srv)
    with open(inc, "ab") as fh:
        fh.write(b"*1\r\n$7\r\nNOSUCHC\r\n")
    log = refused("--appendonly", "yes", workdir=srv.dir)
    assert f"Unknown command 'NOSUCHC' reading the append only file {inc.name}" in log


# -- rewrite, runtime switch ------------------------------------------------------------------

def test_bgrewriteaof_history_cleanup_and_reload():
    srv = start_valkeyd("--appendonly", "yes", "--aof-use-rdb-preamble", "no")
    try:
        r = srv.client()
        r.set("s", "1")
        r.zadd("z", {"a": 1.5, "b": -2})
        r.xadd("st", {"f": "v"}, id="5-1")
        r.xgroup_create("st", "g", id="0")
        r.xreadgroup("g", "c1", {"st": ">"})
        r.hset("h", mapping={"a": "1"})
        r.sadd("set", "x")
        r.pexpire("s", 100000)
        assert r.bgrewriteaof() is True
        info = wait_rewrite(r, 1)
        assert info["aof_rewrites"] == 1 and info["aof_last_bgrewrite_status"] == "ok"
        d = aof_dir(srv)
        assert (d / "appendonly.aof.manifest").read_bytes() == (
            b"file appendonly.aof.2.base.aof seq 2 type b\n"
            b"file appendonly.aof.2.incr.aof seq 2 type i\n")
        assert sorted(p.name for p in d.iterdir()) == [
            "appendonly.aof.2.base.aof", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
        assert info["aof_base_size"] == (d / "appendonly.aof.2.base.aof").stat().st_size
        r.set("after", "1")
        before = {k: r.dump(k) for k in r.keys()} if False else None
        ttl = r.pexpiretime("s")
        srv.kill()
        srv2 = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
        r2 = srv2.client()
        assert r2.get("s") == b"1" and r2.pexpiretime("s") == ttl
        assert r2.zrange("z", 0, -1, withscores=True) == [(b"b", -2.0), (b"a", 1.5)]
        assert r2.xpending("st", "g")["pending"] == 1
        assert r2.get("after") == b"1" and r2.hgetall("h") == {b"a": b"1"}
        assert before is None
        srv2.stop()
    finally:
        if srv.alive():
            srv.stop()


def test_config_set_appendonly_at_runtime():
    srv = start_valkeyd()
    try:
        r = srv.client()
        r.set("before", "1")
        assert r.info("persistence")["aof_enabled"] == 0
        assert r.config_set("appendonly", "yes")
        info = r.info("persistence")
        assert info["aof_enabled"] == 1 and "aof_current_size" in info
        r.set("during", "2")
        wait_rewrite(r, 1)
        assert r.execute_command("WAITAOF", 1, 0, 0) == [1, 0]
        r.config_set("appendonly", "no")
        r.set("off", "3")
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command("WAITAOF", 1, 0, 0)
        assert str(e.value) == ("WAITAOF cannot be used when numlocal is set but appendonly "
                                "is disabled.")
        srv.kill()
        srv2 = start_valkeyd("--appendonly", "yes", workdir=srv.dir)
        r2 = srv2.client()
        assert r2.get("before") == b"1" and r2.get("during") == b"2" and r2.get("off") is None
        srv2.stop()
    finally:
        if srv.alive():
            srv.kill()


def test_auto_rewrite():
    srv = start_valkeyd("--appendonly", "yes", "--auto-aof-rewrite-min-size", "1000",
                        "--auto-aof-rewrite-percentage", "100", "--aof-use-rdb-preamble", "no")
    try:
        r = srv.client()
        for i in range(200):
            r.set("k", "x" * 50)
        for _ in range(40):
            if r.info("persistence")["aof_rewrites"] >= 1:
                break
            time.sleep(0.05)
        assert wait_rewrite(r)["aof_rewrites"] >= 1
        assert "Starting automatic rewriting of AOF on" in srv.log()
    finally:
        srv.stop()


# -- WAITAOF / INFO differential ----------------------------------------------------------------

def _reply(r, *args):
    try:
        return r.execute_command(*args)
    except redis.ResponseError as e:
        return ("err", str(e))


@pytest.mark.skipif(valkey_server_path() is None and not IN_CI,
                    reason="valkey-server is not installed")
@pytest.mark.parametrize("aof", ["yes", "no"])
def test_waitaof_like_valkey(aof):
    # at "always" every acknowledged write is fsynced: the replies do not depend on timing
    ours = start_valkeyd("--appendonly", aof, "--appendfsync", "always")
    ref = start_valkey("--appendonly", aof, "--appendfsync", "always")
    try:
        a, b = ours.client(), ref.client()
        for args in ([1, 0, 0], [0, 0, 0], [2, 0, 0], [-1, 0, 0], [1, -1, 0], [1, 0, -1],
                     ["x", 0, 0], [1, "y", 0], [1, 0, "z"], [0, 1, 100], [1, 1, 50]):
            a.set("k", "v")
            b.set("k", "v")
            assert _reply(a, "WAITAOF", *args) == _reply(b, "WAITAOF", *args), args
        fa = {k for k in a.info("persistence") if k.startswith("aof_")}
        fb = {k for k in b.info("persistence") if k.startswith("aof_")}
        assert fa == fb
    finally:
        ours.stop()
        ref.stop()


def test_bgrewriteaof_with_appendonly_off():
    srv = start_valkeyd()
    try:
        r = srv.client()
        r.set("x", "1")
        assert r.bgrewriteaof() is True
        assert wait_rewrite(r, 1)["aof_rewrites"] == 1
        d = aof_dir(srv)
        assert (d / "appendonly.aof.manifest").exists()
    finally:
        srv.stop()


def test_loading_reply_while_a_large_aof_loads():
    work = Path(tempfile.mkdtemp(prefix="valkeyd-aofbig-"))
    d = work / "appendonlydir"
    d.mkdir()
    total = 0
    for name, keys in (("appendonly.aof.1.base.aof", range(150000)),
                       ("appendonly.aof.1.incr.aof", range(150000, 300000))):
        buf = []
        cat_command(buf, [b"SELECT", b"0"])
        for i in keys:
            cat_command(buf, [b"SET", b"key:%d" % i, b"v"])
        (d / name).write_bytes(b"".join(buf))
        total += (d / name).stat().st_size
    (d / "appendonly.aof.manifest").write_bytes(b"file appendonly.aof.1.base.aof seq 1 type b\n"
                                                b"file appendonly.aof.1.incr.aof seq 1 type i\n")
    srv = start_valkeyd("--appendonly", "yes", workdir=work)
    try:
        import socket
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall(b"GET key:1\r\n")
        assert s.recv(100) == b"-LOADING Redis is loading the dataset in memory\r\n"
        s.sendall(b"INFO persistence\r\n")
        info = s.recv(10000)
        assert b"loading:1" in info
        # startLoading(total size of every file of the manifest), then progress in bytes
        fields = dict(l.split(b":", 1) for l in info.split(b"\r\n") if b":" in l)
        assert int(fields[b"loading_total_bytes"]) == total
        assert 0 <= int(fields[b"loading_loaded_bytes"]) <= total
        for _ in range(600):
            s.sendall(b"DBSIZE\r\n")
            if s.recv(100) == b":300000\r\n":
                break
            time.sleep(0.1)
        s.sendall(b"GET key:299999\r\n")
        assert s.recv(100) == b"$1\r\nv\r\n"
        s.close()
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_rewrite_with_appendonly_off_continues_the_sequence():
    srv = start_valkeyd()
    try:
        r = srv.client()
        r.set("x", "1")
        for n in (1, 2):
            assert r.bgrewriteaof() is True
            wait_rewrite(r, n)
        d = aof_dir(srv)
        m = Manifest.parse((d / "appendonly.aof.manifest").read_bytes())
        assert m.base[1] == 2 and m.incr == [] and m.history == []
        assert sorted(p.name for p in d.iterdir()) == [m.base[0], "appendonly.aof.manifest"]
    finally:
        srv.stop()
