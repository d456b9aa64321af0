"""``valkeyd rdb info|check|dump|diff|memory`` (tools/rdb_tool.py).

* The Redis 7.2.4 fixture (harness.FIXTURES/dump.rdb) is dumped as rdbtools JSON and JSON lines
  and compared with its expected.json; ``info`` is compared with the same file's facts.
* RDBs written by a real valkey-server (and by valkeyd) from a random mixed dataset are dumped
  with ``--format resp`` and piped through ``valkey-cli --pipe`` into a fresh valkey-server;
  its DEBUG DIGEST must equal the one of a valkey-server that loaded the RDB itself.
* ``check`` gives the same verdict as ``valkey-check-rdb`` on sound, truncated and bit-flipped
  files; corrupt files give exit code 1 and a message with the file name, the offset and the
  key; unreadable files and usage errors give 2.
* ``diff`` of two RDBs saved by valkey-server before/after known changes gives exactly the
  expected lines (value, ttl, value+ttl, type, stream group, encoding-only change) and diff(1)
  exit codes; ``memory`` rows agree with OBJECT ENCODING, lengths and PEXPIRETIME of
  valkey-server after loading the fixture, and sizes with valkeyd's MEMORY USAGE.
"""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import (FIXTURES, ROOT, redis_test_asset, run_with_tty_stderr, start_valkey,
                     start_valkeyd, valkey_server_path)

DUMP = FIXTURES / "dump.rdb"
IN_CI = bool(os.environ.get("CI"))


def _need(tool: str) -> str:
    p = shutil.which(tool)
    if p is None:
        if IN_CI:
            pytest.fail(f"{tool} is required in CI")
        pytest.skip(f"{tool} not installed")
    return p


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def rdb(*args, stderr=subprocess.PIPE, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "valkeyd", "rdb", *map(str, args)],
                          stdout=subprocess.PIPE, stderr=stderr, env=_env(), timeout=300,
                          cwd=str(ROOT), **kw)


def _expected():
    return json.loads((FIXTURES / "expected.json").read_text())


def _b(s: str) -> bytes:
    return base64.b64decode(s)


def _rdbtools_escape(b: bytes) -> str:
    """rdbtools' utf8 escape, written independently: valid UTF-8 sequences as text, any other
    byte as the four characters \\xNN (upper-case hex)."""
    out = []
    i = 0
    while i < len(b):
        for n in (4, 3, 2, 1):
            try:
                out.append(b[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append("\\x%02X" % b[i])
            i += 1
    return "".join(out)


# -- the Redis 7.2.4 fixture --------------------------------------------------------------------
def test_fixture_info_text_and_json():
    exp = _expected()
    r = rdb("info", "--json", DUMP)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["rdb_version"] == 11
    assert info["checksum"] == "ok"
    assert info["aux"]["redis-ver"] == exp["redis_version"]
    assert info["functions"] == len(exp["functions"])
    assert info["size"] == DUMP.stat().st_size
    for db in ("0", "1", "15"):
        want_types: dict = {}
        for v in exp[db].values():
            want_types[v["type"]] = want_types.get(v["type"], 0) + 1
        assert info["databases"][db]["types"] == want_types
        assert info["databases"][db]["keys"] == len(exp[db])
        want_exp = sum(1 for v in exp[db].values() if "expire_at_ms_approx" in v)
        assert info["databases"][db]["expires"] == want_exp
    assert set(info["databases"]) == {"0", "1", "15"}
    t = rdb("info", DUMP)
    assert t.returncode == 0
    text = t.stdout.decode()
    assert "RDB version:    11" in text and "redis-ver" in text and "UTC" in text
    assert f"Keys:           {info['keys']} " in text
    assert t.stderr == b""          # no progress bar when stderr is not a terminal


def _fixture_values(exp, db, decode):
    out = {}
    for k, v in exp[db].items():
        t = v["type"]
        val = v["value"]
        if t == "string":
            val = decode(val)
        elif t in ("list", "set"):
            val = [decode(x) for x in val]
        elif t == "hash":
            val = {decode(f): decode(x) for f, x in val.items()}
        elif t == "zset":
            val = {decode(m): s for m, s in val}
        elif t == "stream":
            val = {}
        out[decode(k)] = (t, val)
    return out


@pytest.mark.parametrize("escape", ["base64", "utf8"])
def test_fixture_json_matches_expected(escape):
    exp = _expected()
    r = rdb("dump", "--format", "json", "--escape", escape, DUMP)
    assert r.returncode == 0, r.stderr
    raw = r.stdout
    # rdbtools's layout: "[{", each key on a "\r\n" line, "},{" between databases, "}]"
    assert raw.startswith(b"[{\r\n") and raw.rstrip(b"\n").endswith(b"}]")
    assert raw.count(b"},{\r\n") == 2
    got = json.loads(raw)
    assert isinstance(got, list) and len(got) == 3
    if escape == "base64":
        def decode(s):
            return s
    else:
        def decode(s):
            return _rdbtools_escape(_b(s))
    for i, db in enumerate(("0", "1", "15")):
        want = _fixture_values(exp, db, decode if escape == "utf8" else (lambda s: s))
        assert len(got[i]) == len(want)
        for k, (t, val) in want.items():
            g = got[i][k]
            if t == "set":
                assert sorted(g) == sorted(val), k
            else:
                assert g == val, k


def test_fixture_json_escapes_binary_like_rdbtools():
    r = rdb("dump", "--format", "json", "--key", "bin:*", DUMP)
    assert r.returncode == 0
    line = r.stdout.split(b"\r\n")[1]
    # key bytes "bin:\x00\xff\x10key": \x00 and \x10 are valid UTF-8 (JSON \u escapes),
    # \xff is not: it becomes the text \xFF
    assert line.startswith(b'"bin:\\u0000\\\\xFF\\u0010key":')
    assert line.endswith(b'"\\u0000value\\\\xFF"}]\n') or b'"\\u0000value\\\\xFF"' in line


def test_fixture_jsonl_matches_expected():
    exp = _expected()
    r = rdb("dump", "--format", "jsonl", "--escape", "base64", DUMP)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(recs) == sum(len(exp[d]) for d in ("0", "1", "15"))
    for rec in recs:
        want = exp[str(rec["db"])][rec["key"]]
        assert rec["type"] == want["type"]
        assert rec["encoding"] == want["encoding"], rec["key"]
        if "expire_at_ms_approx" in want:
            assert abs(rec["expire_ms"] - want["expire_at_ms_approx"]) < 5000
        else:
            assert rec["expire_ms"] is None
        v = rec["value"]
        t = rec["type"]
        if t == "zset":
            assert v == want["value"]
        elif t == "set":
            assert sorted(v) == sorted(want["value"])
        elif t == "stream":
            assert v["last_id"] == want["last_id"]
            assert [[i, dict(zip(f[::2], f[1::2]))] for i, f in v["entries"]] == want["value"]
            wg = {g["name"]: g for g in want["groups"]}
            assert len(v["groups"]) == len(wg)
            for g in v["groups"]:
                w = wg[_b(g["name"]).decode()]
                assert g["last_delivered_id"] == w["last_delivered_id"]
                assert sorted(_b(c["name"]).decode() for c in g["consumers"]) == \
                    sorted(w["consumers"])
                assert [[p[0], _b(p[1]).decode(), p[3]] for p in g["pending"]] == w["pending"]
        else:
            assert v == want["value"], rec["key"]


def test_fixture_filters():
    r = rdb("dump", "--format", "jsonl", "--db", "0", "--type", "hash", "--type", "set",
            "--key", "*:s[m]all", DUMP)
    assert r.returncode == 0
    keys = sorted((json.loads(x)["db"], json.loads(x)["key"]) for x in r.stdout.splitlines())
    assert keys == [(0, "hash:small"), (0, "set:small")]
    r = rdb("dump", "--format", "json", "--db", "15", DUMP)
    assert json.loads(r.stdout) == [{"db15:list": ["x", "y"]}]
    r = rdb("dump", "--format", "json", "--key", "nomatch*", DUMP)
    assert r.stdout == b"[]\n"


# -- resp: rebuild through valkey-cli --pipe ----------------------------------------------------
def _fill(c, seed: int) -> None:
    rnd = random.Random(seed)
    p = c.pipeline(transaction=False)
    for db in (0, 3):
        p.execute_command("SELECT", db)
        for i in range(60):
            k = f"s{db}:{i}"
            kind = rnd.choice(["str", "int", "bin", "big"])
            if kind == "str":
                p.set(k, "v%d" % rnd.randrange(10 ** 6))
            elif kind == "int":
                p.set(k, rnd.randrange(-10 ** 12, 10 ** 12))
            elif kind == "bin":
                p.set(k, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))))
            else:
                p.set(k, "x" * rnd.randrange(50, 3000))
            if rnd.random() < 0.3:
                p.pexpireat(k, int(time.time() * 1000) + rnd.randrange(10 ** 6, 10 ** 8))
        for i in range(8):
            n = rnd.choice([3, 200])
            p.rpush(f"l{db}:{i}", *[rnd.choice(["a", "bb", "12", "-7", "z" * 70])
                                    for _ in range(n)])
            p.sadd(f"si{db}:{i}", *[rnd.randrange(10 ** 9) for _ in range(n)])
            p.sadd(f"ss{db}:{i}", *[f"m{rnd.randrange(10 ** 6)}" for _ in range(n)])
            p.hset(f"h{db}:{i}", mapping={f"f{j}": rnd.choice(["1", "v" * rnd.randrange(1, 90)])
                                          for j in range(n)})
            p.zadd(f"z{db}:{i}", {f"m{j}": rnd.choice([rnd.uniform(-1e6, 1e6), 3, 0.1])
                                  for j in range(n)})
        p.zadd(f"zinf{db}", {"a": float("inf"), "b": float("-inf"), "c": 1e-300})
    p.execute()
    c.select(0)
    for j in range(30):
        c.xadd("st", {"f": j, "g": "x" * (j % 5)}, id=f"{1000 + j}-{j % 3}")
    c.xdel("st", "1003-0", "1010-1")
    c.xgroup_create("st", "g1", id="1005-2")
    c.xgroup_create("st", "g2", id="0")
    c.xreadgroup("g2", "alice", {"st": ">"}, count=4)
    c.xreadgroup("g2", "bob", {"st": ">"}, count=3)
    c.xgroup_createconsumer("st", "g2", "idle")
    c.xadd("st_empty", {"a": 1}, id="7-7")
    c.xdel("st_empty", "7-7")
    c.execute_command("FUNCTION", "LOAD",
                      "#!lua name=toolslib\nredis.register_function('tf', function(k, a) "
                      "return 1 end)")
    c.set("ttl:key", "v", px=10 ** 7)


def _digest_of_loaded(path: Path) -> tuple[bytes, list]:
    """DEBUG DIGEST of a valkey-server started on a copy of ``path``, and its functions."""
    d = Path(os.path.dirname(path)) / "load"
    d.mkdir(exist_ok=True)
    shutil.copy(path, d / "dump.rdb")
    s = start_valkey("--dbfilename", "dump.rdb", workdir=str(d))
    try:
        c = s.client()
        return c.execute_command("DEBUG", "DIGEST"), c.execute_command("FUNCTION", "LIST")
    finally:
        s.stop()


def _restore_via_pipe(path: Path) -> tuple[bytes, list, dict]:
    """Pipe ``rdb dump --format resp`` of ``path`` into a fresh valkey-server: its DEBUG
    DIGEST, FUNCTION LIST, and the full dump (our jsonl) of the RDB it then saves."""
    cli = _need("valkey-cli")
    s = start_valkey("--dbfilename", "rebuilt.rdb")
    try:
        dump = rdb("dump", "--format", "resp", path)
        assert dump.returncode == 0, dump.stderr
        p = subprocess.run([cli, "-p", str(s.port), "--pipe"], input=dump.stdout,
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        assert b"errors: 0" in p.stdout, p.stdout
        c = s.client()
        c.save()
        return (c.execute_command("DEBUG", "DIGEST"), c.execute_command("FUNCTION", "LIST"),
                _full_dump(s.dir / "rebuilt.rdb"))
    finally:
        s.stop()


def _full_dump(path: Path) -> dict:
    """Every key's type, value and exact expiry (DEBUG DIGEST only says "has an expiry" and
    ignores stream metadata and groups), from our own jsonl dump. Consumer seen/active times
    and encodings are left out: a rebuild by commands does not keep them."""
    r = rdb("dump", "--format", "jsonl", "--escape", "base64", path)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        v = rec["value"]
        if rec["type"] == "set":
            v = sorted(v)
        elif rec["type"] == "stream":
            for g in v["groups"]:
                g["consumers"] = sorted(c["name"] for c in g["consumers"])
        out[(rec["db"], rec["key"])] = (rec["type"], rec["expire_ms"], v)
    return out


def test_resp_rebuilds_valkey_rdb(tmp_path):
    if valkey_server_path() is None:
        pytest.skip("valkey-server not installed")
    src = start_valkey(workdir=str(tmp_path))
    try:
        c = src.client()
        _fill(c, 1)
        c.save()
        want_digest = c.execute_command("DEBUG", "DIGEST")
    finally:
        src.stop()
    path = tmp_path / "dump.rdb"
    loaded_digest, loaded_fns = _digest_of_loaded(path)
    assert loaded_digest == want_digest
    got_digest, got_fns, got_full = _restore_via_pipe(path)
    assert got_digest == want_digest
    assert got_fns == loaded_fns
    # types, values, exact expiries, stream ids, groups, PEL (owner, time, count)
    assert got_full and got_full == _full_dump(path)
    assert _check_rdb_verdict(path)
    _assert_info_matches_check_rdb(path)
    chk = rdb("check", path)
    assert chk.returncode == 0 and b"OK" in chk.stdout


def test_resp_rebuilds_valkeyd_rdb(tmp_path):
    if valkey_server_path() is None:
        pytest.skip("valkey-server not installed")
    ours = start_valkeyd("--save", "", "--dbfilename", "dump.rdb", workdir=str(tmp_path))
    try:
        c = ours.client()
        _fill(c, 2)
        c.save()
    finally:
        ours.stop()
    path = tmp_path / "dump.rdb"
    want_digest, want_fns = _digest_of_loaded(path)
    got_digest, got_fns, got_full = _restore_via_pipe(path)
    assert got_digest == want_digest
    assert got_fns == want_fns
    assert got_full and got_full == _full_dump(path)
    assert _check_rdb_verdict(path) and rdb("check", path).returncode == 0
    info = _assert_info_matches_check_rdb(path)
    assert info["functions"] == 1 and set(info["databases"]) == {"0", "3"}


def test_resp_rebuilds_fixture():
    want_digest, want_fns = _digest_of_loaded_fixture()
    got_digest, got_fns, got_full = _restore_via_pipe(DUMP)
    assert got_digest == want_digest
    assert got_fns == want_fns
    assert got_full and got_full == _full_dump(DUMP)


def _digest_of_loaded_fixture():
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="rdbtools-"))
    shutil.copy(DUMP, d / "dump.rdb")
    return _digest_of_loaded(d / "dump.rdb")


# -- check: verdicts against valkey-check-rdb ---------------------------------------------------
def _check_rdb_verdict(path: Path) -> bool:
    tool = _need("valkey-check-rdb")
    p = subprocess.run([tool, str(path)], capture_output=True, timeout=60)
    return p.returncode == 0


def _check_rdb_counts(path: Path) -> tuple[int, int, int]:
    """valkey-check-rdb's "[info] N keys read / N expires / N already expired"."""
    import re
    tool = _need("valkey-check-rdb")
    out = subprocess.run([tool, str(path)], capture_output=True, timeout=60).stdout.decode()
    vals = [int(re.search(r"\[info\] (\d+) " + what, out).group(1))
            for what in ("keys read", "expires", "already expired")]
    return tuple(vals)


def _assert_info_matches_check_rdb(path: Path) -> dict:
    r = rdb("info", "--json", path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert (info["keys"], info["expires"], info["already_expired"]) == _check_rdb_counts(path)
    return info


def test_info_expiry_counts_agree_with_check_rdb(tmp_path):
    if valkey_server_path() is None:
        pytest.skip("valkey-server not installed")
    s = start_valkey(workdir=str(tmp_path))
    try:
        c = s.client()
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        c.set("gone1", "x", px=1)
        c.set("gone2", "x", px=2)
        c.set("later", "x", ex=10000)
        c.set("plain", "x")
        c.select(2)
        c.set("later2", "y", ex=20000)
        time.sleep(0.05)
        c.save()
    finally:
        s.stop()
    path = tmp_path / "dump.rdb"
    info = _assert_info_matches_check_rdb(path)
    assert (info["keys"], info["expires"], info["already_expired"]) == (5, 4, 2)
    assert info["databases"]["0"]["already_expired"] == 2
    assert info["databases"]["2"] == {"keys": 1, "types": {"string": 1}, "expires": 1,
                                      "already_expired": 0}
    recs = {json.loads(x)["key"]: json.loads(x) for x in
            rdb("dump", "--format", "jsonl", path).stdout.splitlines()}
    now = time.time() * 1000
    assert recs["gone1"]["expire_ms"] < now < recs["later"]["expire_ms"]
    assert recs["plain"]["expire_ms"] is None
    assert rdb("check", path).returncode == 0 and _check_rdb_verdict(path)


def test_check_good_files_agree(tmp_path):
    r = rdb("check", DUMP)
    assert r.returncode == 0, r.stderr
    assert _check_rdb_verdict(DUMP)
    _assert_info_matches_check_rdb(DUMP)


def test_check_truncated_agree(tmp_path):
    data = DUMP.read_bytes()
    rnd = random.Random(7)
    cuts = sorted({0, 5, 9, 20, len(data) - 1, len(data) - 8, len(data) - 9}
                  | {rnd.randrange(10, len(data) - 10) for _ in range(12)})
    for cut in cuts:
        f = tmp_path / f"t{cut}.rdb"
        f.write_bytes(data[:cut])
        r = rdb("check", f)
        assert r.returncode == 1, (cut, r.stdout, r.stderr)
        assert str(f).encode() in r.stderr
        assert not _check_rdb_verdict(f), cut
        assert r.stdout == b""
        if cut > 9:
            assert b" at offset " in r.stderr


def test_check_bitflips_agree(tmp_path):
    data = DUMP.read_bytes()
    rnd = random.Random(11)
    for n in range(16):
        pos = rnd.randrange(0, len(data))
        bit = 1 << rnd.randrange(8)
        bad = bytearray(data)
        bad[pos] ^= bit
        f = tmp_path / f"f{n}.rdb"
        f.write_bytes(bytes(bad))
        ours = rdb("check", f)
        theirs = _check_rdb_verdict(f)
        assert (ours.returncode == 0) == theirs, (pos, bit, ours.stderr)
        assert ours.returncode in (0, 1)
        if ours.returncode == 1:
            assert str(f).encode() in ours.stderr and b"offset" in ours.stderr


def test_check_names_the_key(tmp_path):
    data = bytearray(DUMP.read_bytes())
    i = data.index(b"list:small")
    # the type byte (18: quicklist 2), the 1-byte key length, the key, then the node count
    # and each node's container (1 plain, 2 packed): make the container invalid
    assert data[i - 2] == 18 and data[i - 1] == len(b"list:small")
    j = i + len(b"list:small")
    assert data[j] == 1 and data[j + 1] == 2           # 1 node, PACKED
    data[j + 1] = 3
    f = tmp_path / "badlp.rdb"
    f.write_bytes(bytes(data))
    r = rdb("check", f)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert f"at offset {i - 2}" in err and "'list:small'" in err and "Quicklist integrity" in err
    assert not _check_rdb_verdict(f)
    # the other tools stop the same way
    assert rdb("info", f).returncode == 1
    d = rdb("dump", "--format", "jsonl", f)
    assert d.returncode == 1 and "'list:small'" in d.stderr.decode()


def test_exit_codes_usage_and_unreadable(tmp_path):
    r = rdb("check", tmp_path / "missing.rdb")
    assert r.returncode == 2 and b"missing.rdb" in r.stderr
    r = rdb("dump", "--format", "xml", DUMP)
    assert r.returncode == 2
    r = rdb("nosuch")
    assert r.returncode == 2
    notrdb = tmp_path / "x.rdb"
    notrdb.write_bytes(b"hello world, not an rdb")
    r = rdb("check", notrdb)
    assert r.returncode == 1 and b"Wrong signature" in r.stderr
    assert not _check_rdb_verdict(notrdb)
    empty = tmp_path / "empty.rdb"
    empty.write_bytes(b"")
    assert rdb("check", empty).returncode == 1


def test_progress_bar_only_on_a_terminal():
    rc, out, err = run_with_tty_stderr([sys.executable, "-m", "valkeyd", "rdb", "check",
                                        str(DUMP)], env=_env(), cwd=str(ROOT))
    assert rc == 0
    assert b"100%" in err and b"#" in err
    assert b"100%" not in out
    piped = rdb("check", DUMP)
    assert piped.stderr == b""


def _crafted_rdb(body: bytes) -> bytes:
    from persistence.crc64 import crc64
    data = b"REDIS0011" + body + b"\xff"
    return data + crc64(0, data).to_bytes(8, "little")


def test_empty_collection_fails_check_like_valkey_check_rdb(tmp_path):
    # SELECTDB 0, a set "e" with no members, then a string "s" = "v"
    f = tmp_path / "empty.rdb"
    f.write_bytes(_crafted_rdb(b"\xfe\x00" + b"\x02\x01e\x00" + b"\x00\x01s\x01v"))
    r = rdb("check", f)
    assert r.returncode == 1
    assert "at offset 11 while reading key 'e': empty key" in r.stderr.decode()
    assert not _check_rdb_verdict(f)
    info = json.loads(rdb("info", "--json", f).stdout)
    assert info["keys"] == 1 and info["empty_keys_skipped"] == 1
    d = rdb("dump", "--format", "jsonl", f)
    assert d.returncode == 0
    assert [json.loads(x)["key"] for x in d.stdout.splitlines()] == ["s"]
    # the same file without the empty set is sound for both
    g = tmp_path / "ok.rdb"
    g.write_bytes(_crafted_rdb(b"\xfe\x00" + b"\x00\x01s\x01v"))
    assert rdb("check", g).returncode == 0 and _check_rdb_verdict(g)


REDIS_ASSETS = ("encodings.rdb", "hash-zipmap.rdb", "hash-ziplist.rdb", "list-quicklist.rdb",
                "zset-ziplist.rdb", "scriptbackup.rdb", "corrupt_empty_keys.rdb",
                "corrupt_ziplist.rdb")


@pytest.mark.parametrize("asset", REDIS_ASSETS)
def test_redis_test_assets_verdicts(asset, tmp_path):
    """Old RDB versions (3, 4, 8, 9, 10: zipmap, ziplist, quicklist encodings) and Redis's
    corrupt assets: the same verdict and counts as valkey-check-rdb; dump works on the
    sound ones."""
    data = redis_test_asset(asset)
    f = tmp_path / asset
    f.write_bytes(data)
    ours = rdb("check", f)
    theirs = _check_rdb_verdict(f)
    assert (ours.returncode == 0) == theirs, ours.stderr
    if theirs:
        _assert_info_matches_check_rdb(f)
        for fmt in ("json", "jsonl"):
            assert rdb("dump", "--format", fmt, f).returncode == 0
        want_digest, want_fns = _digest_of_loaded(f)
        got_digest, got_fns, _full = _restore_via_pipe(f)
        assert (got_digest, got_fns) == (want_digest, want_fns)
    else:
        assert ours.returncode == 1 and b"while reading key" in ours.stderr


def test_standard_input():
    r = rdb("check", "-", input=DUMP.read_bytes())
    assert r.returncode == 0 and b"35 keys" in r.stdout
    a = rdb("dump", "--format", "jsonl", "-", input=DUMP.read_bytes())
    assert a.returncode == 0 and a.stdout == rdb("dump", "--format", "jsonl", DUMP).stdout
    bad = rdb("check", "-", input=DUMP.read_bytes()[:100])
    assert bad.returncode == 1 and b"-: error at offset" in bad.stderr


# -- rdb diff ---------------------------------------------------------------------------------
def _diff_snapshots(tmp_path):
    """Two RDBs saved by a real valkey-server before and after known changes."""
    s = start_valkey("--dbfilename", "a.rdb")
    try:
        c = s.client()
        c.set("keep", "1")
        c.set("del", "x")
        c.rpush("chval", "a", "b")
        c.set("chttl", "v", px=10 ** 8)
        c.hset("typ", "f", "v")
        c.hset("both", "f", "v")
        c.sadd("enc", 3, 1, 2)                      # intset here, listpack in B
        c.xadd("st", {"a": 1}, id="1-1")
        c.xgroup_create("st", "g", id="0")
        c.select(2)
        c.sadd("s2", "a", "b")
        c.set("persist", "v", ex=10 ** 5)
        c.save()
        a = tmp_path / "a.rdb"
        shutil.copy(s.dir / "a.rdb", a)
        c.select(0)
        c.delete("del")
        c.rpush("chval", "c")
        c.pexpire("chttl", 10 ** 9)
        c.delete("typ")
        c.set("typ", "v")
        c.set("new", "n")
        c.hset("both", "f", "w")
        c.expire("both", 10 ** 6)
        c.xreadgroup("g", "alice", {"st": ">"})       # only the group changes
        c.sadd("enc", "x")
        c.srem("enc", "x")
        assert c.object("encoding", "enc") != b"intset"     # same members: not a change
        c.select(2)
        c.srem("s2", "a")
        c.sadd("s2", "a")           # same members again: not a change
        c.persist("persist")
        c.set("new2", "n")
        c.save()
        b = tmp_path / "b.rdb"
        shutil.copy(s.dir / "a.rdb", b)
        return a, b
    finally:
        s.stop()


def test_diff_real_server_snapshots(tmp_path):
    a, b = _diff_snapshots(tmp_path)
    r = rdb("diff", a, b)
    assert r.returncode == 1, r.stderr
    assert r.stdout.decode().splitlines() == [
        "~ db0 both (value,ttl)", "~ db0 chttl (ttl)", "~ db0 chval (value)", "- db0 del", "+ db0 new",
        "~ db0 st (value)", "~ db0 typ (type)", "+ db2 new2", "~ db2 persist (ttl)"]
    r = rdb("diff", b, a)
    assert r.returncode == 1
    assert "- db0 new" in r.stdout.decode().splitlines()
    r = rdb("diff", "--json", a, b)
    assert r.returncode == 1
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    by = {(o["db"], o["key"]): o for o in rows}
    assert by[(0, "chttl")]["changed"] == ["ttl"]
    assert by[(2, "persist")]["expire_ms"][1] is None
    assert by[(0, "typ")]["type"] == ["hash", "string"]
    assert by[(0, "new")]["type"] == "string" and by[(0, "new")]["expire_ms"] is None
    assert by[(0, "del")]["op"] == "removed" and by[(2, "new2")]["op"] == "added"
    for f in (a, b, DUMP):
        r = rdb("diff", f, f)
        assert r.returncode == 0 and r.stdout == b"", r.stderr


def test_diff_in_passes_when_a_is_over_max_memory(tmp_path):
    """``--max-memory`` below A's index: the keys are compared in passes by hash (every key
    in exactly one pass), with the same differences as one pass; identical files still 0."""
    a, b = _diff_snapshots(tmp_path)
    one = rdb("diff", a, b)
    many = rdb("diff", "--max-memory", "600", a, b)     # 4 of A's keys per pass
    assert many.returncode == 1, many.stderr
    assert sorted(many.stdout.decode().splitlines()) == sorted(one.stdout.decode().splitlines())
    from tools.rdb_tool import diff_files, diff_passes
    passes = list(diff_passes(str(a), str(b), max_keys=4))
    assert len(passes) > 2
    assert diff_files(str(a), str(b), max_keys=4) == diff_files(str(a), str(b))
    r = rdb("diff", "--max-memory", "300", DUMP, DUMP)
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    r = rdb("diff", "--max-memory", "lots", a, b)
    assert r.returncode == 2 and b"--max-memory" in r.stderr


def test_diff_errors_exit_2(tmp_path):
    bad = tmp_path / "trunc.rdb"
    bad.write_bytes(DUMP.read_bytes()[:300])
    r = rdb("diff", DUMP, bad)
    assert r.returncode == 2
    assert str(bad).encode() in r.stderr and b"offset" in r.stderr
    r = rdb("diff", tmp_path / "missing.rdb", DUMP)
    assert r.returncode == 2 and b"missing.rdb" in r.stderr


# -- rdb memory -------------------------------------------------------------------------------
def _memory_rows(*args) -> list[dict]:
    import csv
    import io
    r = rdb("memory", *args)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout.decode())))
    assert rows[0] == ["database", "type", "key", "size_in_bytes", "encoding", "num_elements",
                       "len_largest_element", "expiry"]
    return [dict(zip(rows[0], x)) for x in rows[1:]]


def test_memory_csv_matches_loaded_fixture(tmp_path):
    from datetime import datetime, timezone
    rows = _memory_rows(DUMP)
    d = tmp_path / "load"
    d.mkdir()
    shutil.copy(DUMP, d / "dump.rdb")
    s = start_valkey("--dbfilename", "dump.rdb", workdir=str(d))
    try:
        c = s.client()
        want = {}
        for db in (0, 1, 15):
            c.select(db)
            for k in c.scan_iter(count=1000):
                t = c.type(k).decode()
                n = {"string": c.strlen, "list": c.llen, "set": c.scard, "zset": c.zcard,
                     "hash": c.hlen, "stream": c.xlen}[t](k)
                ms = c.pexpiretime(k)
                exp = "" if ms < 0 else datetime.fromtimestamp(
                    ms / 1000, timezone.utc).replace(tzinfo=None).isoformat()
                enc = c.object("encoding", k).decode()
                want[(str(db), _rdbtools_escape(k))] = (t, enc, str(n), exp)
    finally:
        s.stop()
    got = {(r["database"], r["key"]): (r["type"], r["encoding"], r["num_elements"],
                                       r["expiry"]) for r in rows}
    assert len(got) == len(rows) == len(want)
    assert got == want
    for r in rows:
        assert int(r["size_in_bytes"]) > 0
        if r["type"] == "string":
            assert r["len_largest_element"] == r["num_elements"]


def test_memory_filters_and_by_prefix():
    rows = _memory_rows(DUMP)
    sub = _memory_rows(DUMP, "--db", 0, "--type", "hash", "--key", "hash:*")
    assert sub and sub == [r for r in rows if r["database"] == "0" and r["type"] == "hash"
                           and r["key"].startswith("hash:")]
    r = rdb("memory", DUMP, "--by-prefix", ":", "--depth", 2, "--top", 100, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["keys"] == len(rows)
    assert rep["size_in_bytes"] == sum(int(x["size_in_bytes"]) for x in rows)
    want = {}
    for x in rows:
        parts = x["key"].split(":")
        for dpt in range(1, min(2, len(parts) - 1) + 1):
            p = ":".join(parts[:dpt]) + ":"
            n, sz = want.get(p, (0, 0))
            want[p] = (n + 1, sz + int(x["size_in_bytes"]))
    assert {p["prefix"]: (p["keys"], p["size_in_bytes"]) for p in rep["prefixes"]} == want
    sizes = sorted((int(x["size_in_bytes"]) for x in rows), reverse=True)
    assert [k["size_in_bytes"] for k in rep["biggest_keys"]] == sizes[:100]
    r = rdb("memory", DUMP, "--by-prefix", ":", "--top", 3)
    assert r.returncode == 0 and b"Biggest prefixes" in r.stdout
    top3 = [x["key"] for x in sorted(rows, key=lambda x: -int(x["size_in_bytes"]))[:3]]
    keys_part = r.stdout.decode().split("Biggest keys:")[1]
    assert [ln.split()[-1] for ln in keys_part.strip().splitlines()[1:]] == top3


def test_memory_prefix_depth_and_html(tmp_path):
    s = start_valkey("--dbfilename", "p.rdb")
    try:
        c = s.client()
        c.set("a:b:c", "x" * 100)
        c.set("a:b:d", "y")
        c.rpush("a:e", *range(50))
        c.set("solo", "z")
        c.select(1)
        c.sadd("a:b:s", "m")
        c.save()
        path = s.dir / "p.rdb"
        rows = _memory_rows(path)
        size = {(r["database"], r["key"]): int(r["size_in_bytes"]) for r in rows}
        r = rdb("memory", path, "--by-prefix", ":", "--depth", 2, "--json")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        got = {p["prefix"]: (p["keys"], p["size_in_bytes"]) for p in rep["prefixes"]}
        abc, abd, ae = size[("0", "a:b:c")], size[("0", "a:b:d")], size[("0", "a:e")]
        abs_ = size[("1", "a:b:s")]
        assert got == {"a:": (4, abc + abd + ae + abs_), "a:b:": (3, abc + abd + abs_)}
        out = tmp_path / "r.html"
        r = rdb("memory", path, "--html", out, "--depth", 2)
        assert r.returncode == 0, r.stderr
        page = out.read_text()
        assert page.startswith("<!DOCTYPE html>") and page.count("<rect") == 2 + 5
        assert "a:b:" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    finally:
        s.stop()


def test_memory_sizes_are_valkeyd_memory_usage(tmp_path):
    """size_in_bytes is what valkeyd's MEMORY USAGE key SAMPLES 0 says once the file is
    loaded (memory engine: the estimate is defined on its value objects)."""
    rows = _memory_rows(DUMP)
    d = tmp_path / "load"
    d.mkdir()
    shutil.copy(DUMP, d / "dump.rdb")
    s = start_valkeyd("--dbfilename", "dump.rdb", workdir=str(d), engine="memory")
    try:
        c = s.client()
        got = {}
        for db in (0, 1, 15):
            c.select(db)
            for k in c.scan_iter(count=1000):
                got[(str(db), _rdbtools_escape(k))] = c.memory_usage(k, samples=0)
    finally:
        s.stop()
    assert got == {(r["database"], r["key"]): int(r["size_in_bytes"]) for r in rows}


def test_diff_base64_keys(tmp_path):
    a, b = _diff_snapshots(tmp_path)
    r = rdb("diff", "--json", "--escape", "base64", a, b)
    assert r.returncode == 1
    keys = {base64.b64decode(json.loads(x)["key"]) for x in r.stdout.splitlines()}
    assert b"chttl" in keys and b"new2" in keys and b"keep" not in keys
