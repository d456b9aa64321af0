"""``valkeyd convert`` (tools/convert.py): RDB file <-> lmdb data directory, offline.

Differential: the RDB is written by a real valkey-server, converted, served by ``valkeyd
serve --engine lmdb`` and every key (type, value, TTL) compared with the source server; the
reverse direction is loaded into valkey-server and compared with the lmdb server."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness import FIXTURES, ROOT, start_valkey, start_valkeyd, valkey_server_path

pytestmark = pytest.mark.skipif(valkey_server_path() is None,
                                reason="valkey-server is not installed")


def run_convert(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "valkeyd", "convert", *map(str, args)],
                       capture_output=True, env=env, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def populate(r):
    rnd = random.Random(7)
    pipe = r.pipeline(transaction=False)
    for db in (0, 3, 15):
        pipe.select(db)
        for i in range(60):
            pipe.set(f"s:{db}:{i}", f"v{i}" * rnd.randint(1, 30))
        pipe.set(f"int:{db}", 12345)
        pipe.set(f"big:{db}", "x" * 5000)
        pipe.hset(f"h:{db}", mapping={f"f{i}": f"v{i}" for i in range(10)})
        pipe.hset(f"hbig:{db}", mapping={f"f{i}": "y" * 100 for i in range(300)})
        pipe.sadd(f"set:{db}", *[f"m{i}" for i in range(20)])
        pipe.sadd(f"iset:{db}", *range(50))
        pipe.sadd(f"setbig:{db}", *[f"m{i}" for i in range(700)])
        pipe.rpush(f"l:{db}", *[f"e{i}" for i in range(30)])
        pipe.rpush(f"lbig:{db}", *[f"e{i}" * 20 for i in range(2000)])
        pipe.zadd(f"z:{db}", {f"m{i}": i * 1.5 for i in range(40)})
        pipe.zadd(f"zbig:{db}", {f"m{i}": rnd.random() for i in range(500)})
        pipe.set(f"ttl:{db}", "t", px=3_600_000 + db)
        pipe.hset(f"httl:{db}", "a", "b")
        pipe.expire(f"httl:{db}", 7200)
        pipe.zadd(f"zttl:{db}", {"a": 1})
        pipe.pexpire(f"zttl:{db}", 9_000_000)
        for i in range(1, 300):
            pipe.xadd(f"x:{db}", {"f": i, "g": "v" * (i % 7)}, id=f"{i}-{db}")
        pipe.xdel(f"x:{db}", "5-%d" % db, "150-%d" % db)
        pipe.xgroup_create(f"x:{db}", "grp", "0")
        pipe.xreadgroup("grp", "alice", {f"x:{db}": ">"}, count=7)
        pipe.xgroup_create(f"x:{db}", "other", "$")
        pipe.xadd(f"xttl:{db}", {"a": "b"}, id="1-1")
        pipe.pexpire(f"xttl:{db}", 8_000_000)
    pipe.select(0)
    pipe.execute()


def contents(r, dbs=range(16)):
    """Every key of every database: {(db, key): (type, value, has_ttl)} and TTLs apart."""
    out, ttls = {}, {}
    for db in dbs:
        r.execute_command("SELECT", db)
        for k in r.keys("*"):
            t = r.type(k).decode()
            if t == "string":
                v = r.get(k)
            elif t == "hash":
                v = r.hgetall(k)
            elif t == "set":
                v = sorted(r.smembers(k))
            elif t == "list":
                v = r.lrange(k, 0, -1)
            elif t == "zset":
                v = r.zrange(k, 0, -1, withscores=True)
            elif t == "stream":
                groups = r.xinfo_groups(k)
                v = (r.xrange(k), repr(groups), repr(r.xinfo_stream(k)),
                     [(g["name"], r.xpending(k, g["name"])) for g in groups])
            else:
                v = None
            out[(db, k)] = (t, v)
            ttls[(db, k)] = r.pexpiretime(k)
    r.execute_command("SELECT", 0)
    return out, ttls


@pytest.fixture
def tmp():
    d = Path(tempfile.mkdtemp(prefix="valkeyd-convert-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _save(ref) -> Path:
    r = ref.client()
    r.execute_command("SAVE")
    return ref.dir / "dump.rdb"


def test_rdb_to_lmdb_to_rdb_roundtrip(tmp):
    ref = start_valkey()
    try:
        r = ref.client()
        populate(r)
        r.execute_command("FUNCTION", "LOAD",
                          "#!lua name=convlib\nredis.register_function('f1', "
                          "function() return 1 end)")
        src, src_ttl = contents(r)
        rdb = _save(ref)
    finally:
        ref.stop()
    assert len(src) > 100 and any(t != -1 for t in src_ttl.values())

    out = tmp / "lmdbdir"
    rc, so, se = run_convert(rdb, out)
    assert rc == 0, se
    assert (out / "valkeyd.lmdb").is_dir()
    assert f"{len(src)} keys written" in se
    assert "1 function libraries" in se

    # a second run refuses to overwrite, --force replaces
    rc, _, se2 = run_convert(rdb, out)
    assert rc == 2 and "--force" in se2
    rc, _, se3 = run_convert(rdb, out, "--force")
    assert rc == 0, se3

    ours = start_valkeyd("--save", "", workdir=str(out), engine="lmdb")
    try:
        c = ours.client()
        got, got_ttl = contents(c)
        assert got == src
        assert got_ttl == src_ttl   # absolute expiry times, to the millisecond
        encs = {c.object("encoding", k) for (db, k) in got if db == 0}
        assert {b"hashtable", b"quicklist", b"skiplist", b"listpack"} <= encs
        assert c.execute_command("FCALL", "f1", 0) == 1     # the library came along
    finally:
        ours.stop()

    # lmdb -> rdb, loaded by valkey-server: the same data again
    back = tmp / "back" / "dump.rdb"
    back.parent.mkdir()
    rc, _, se = run_convert(out, back)
    assert rc == 0, se
    assert f"{len(src)} keys written" in se
    rc, _, se2 = run_convert(out, back)
    assert rc == 2 and "exists" in se2
    ref2 = start_valkey(workdir=str(back.parent))
    try:
        again, again_ttl = contents(ref2.client())
        assert again == src
        assert again_ttl == src_ttl
        assert ref2.client().execute_command("FCALL", "f1", 0) == 1
    finally:
        ref2.stop()


def test_explicit_to_and_inference_errors(tmp):
    junk = tmp / "junk"
    junk.write_bytes(b"not an rdb at all")
    rc, _, se = run_convert(junk, tmp / "x")
    assert rc == 2 and "REDIS" in se
    rc, _, se = run_convert(tmp, tmp / "y.rdb")        # a directory without valkeyd.lmdb
    assert rc == 2 and "valkeyd.lmdb" in se
    rc, _, se = run_convert(tmp / "missing.rdb", tmp / "z")
    assert rc == 2
    rc, _, se = run_convert(junk)                        # usage: DST missing
    assert rc == 2 and "DST" in se
    # --to lmdb on a non-RDB file: the loader's complaint, exit 1
    rc, _, se = run_convert(junk, tmp / "x", "--to", "lmdb")
    assert rc == 1 and "junk" in se
    assert not (tmp / "x" / "valkeyd.lmdb").exists()


def test_fixture_with_streams_converted(tmp):
    """Redis 7.2.4's fixture (streams with consumer groups included) converts, and reads as
    valkey-server reads it."""
    fixture = FIXTURES / "dump.rdb"
    if not fixture.exists():
        pytest.skip("fixtures not present")
    rc, _, se = run_convert(fixture, tmp / "a")
    assert rc == 0, se
    assert "0 unsupported skipped" in se
    assert "1 function libraries" in se      # the fixture's library: carried over

    # every non-stream key of the fixture, as valkey-server loads it
    d = tmp / "ref"
    d.mkdir()
    shutil.copy(fixture, d / "dump.rdb")
    ref = start_valkey(workdir=str(d))
    try:
        want, want_ttl = contents(ref.client())
    finally:
        ref.stop()
    assert any(v[0] == "stream" for v in want.values())
    ours = start_valkeyd("--save", "", workdir=str(tmp / "a"), engine="lmdb")
    try:
        got, got_ttl = contents(ours.client())
    finally:
        ours.stop()
    assert got == want and got_ttl == want_ttl


def test_corrupt_input_exit_1_with_loader_message(tmp):
    ref = start_valkey()
    try:
        populate(ref.client())
        rdb = _save(ref)
    finally:
        ref.stop()
    data = bytearray(rdb.read_bytes())
    bad = tmp / "bad.rdb"
    bad.write_bytes(bytes(data[: len(data) // 2]))      # truncated
    rc, _, se = run_convert(bad, tmp / "out")
    assert rc == 1
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    chk = subprocess.run([sys.executable, "-m", "valkeyd", "rdb", "check", str(bad)],
                         capture_output=True, env=env)
    assert chk.returncode == 1
    loader_msg = chk.stderr.decode().strip().splitlines()[-1]
    assert loader_msg in se.strip().splitlines()
    assert not (tmp / "out" / "valkeyd.lmdb").exists()
