"""``valkeyd aof info|check|fix|dump|truncate-to-timestamp|restore`` (tools/aof_tool.py).

AOF directories come from real valkey-server instances (aof-timestamp-enabled yes, with and
without aof-use-rdb-preamble, the latter after a BGREWRITEAOF so the base holds data), from
valkeyd, and from the Redis 7.2.4 fixtures. Writes happen in three phases, each inside one
wall-clock second, so the ``#TS:`` annotations separate them. ``check``, ``fix`` and
``truncate-to-timestamp`` are compared with valkey-check-aof 8.0.1 (exit codes, the offset of
the first problem, the bytes of the files they leave); ``fix`` and ``restore`` outputs are
loaded into valkey-server (and valkeyd) and their datasets compared.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from harness import (FIXTURES, IN_CI, ROOT, run_with_tty_stderr, start_valkey, start_valkeyd,
                     valkey_server_path)

sys.path.insert(0, str(ROOT))

# in CI (.ci/install-system-deps installs valkey-tools) a missing tool fails the tests
pytestmark = pytest.mark.skipif(not IN_CI and (valkey_server_path() is None or shutil.which(
    "valkey-check-aof") is None), reason="valkey-server / valkey-check-aof not installed")

ENV = dict(os.environ, PYTHONPATH=str(ROOT))
_TMP = tempfile.mkdtemp(prefix="aoftools-")   # every directory the tests make, removed at the end


def _mkdtemp(prefix="t-"):
    return tempfile.mkdtemp(prefix=prefix, dir=_TMP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_TMP, ignore_errors=True)


def aof(*args, input=None, cwd=None):
    """Run ``valkeyd aof ARGS``; returns (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "valkeyd", "aof"] + [str(a) for a in args],
                       capture_output=True, env=ENV, timeout=120, input=input, cwd=cwd,
                       stdin=None if input is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check_aof(*args, input=b""):
    p = subprocess.run(["valkey-check-aof"] + [str(a) for a in args], capture_output=True,
                       input=input, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def dataset(r: redis.Redis) -> dict:
    """Every key of every database, by type, with whether it has a TTL."""
    out = {}
    for db in range(16):
        r.execute_command("SELECT", db)
        for k in r.scan_iter(count=1000):
            t = r.type(k).decode()
            if t == "string":
                v = r.get(k)
            elif t == "list":
                v = r.lrange(k, 0, -1)
            elif t == "set":
                v = sorted(r.smembers(k))
            elif t == "hash":
                v = sorted(r.hgetall(k).items())
            elif t == "zset":
                v = r.zrange(k, 0, -1, withscores=True)
            else:
                v = r.xlen(k) if t == "stream" else None
            out[(db, k)] = (t, v, r.pttl(k) > 0)
    r.execute_command("SELECT", 0)
    return out


def wait_second_start():
    """Sleep until 0.2 s into the next wall-clock second (the servers cache the time, at
    hz 100, so a phase written in the rest of the second carries this second's annotation)."""
    now = time.time()
    time.sleep(int(now) + 1.2 - now)


PHASES = [
    [("SET", "s:a", "1"), ("RPUSH", "l:a", "x", "y"), ("HSET", "h:a", "f", "v"),
     ("SELECT", 2), ("SET", "db2:a", "a"), ("SELECT", 0)],
    [("INCR", "s:a"), ("SADD", "set:b", "m1", "m2"), ("ZADD", "z:b", "1.5", "m"),
     ("PEXPIREAT", "s:b", "99999999999999"), ("SET", "s:b", "bee"), ("DEL", "h:a"),
     "MULTI", ("LPUSH", "l:a", "w"), ("HSET", "h:b", "g", "w"), "EXEC"],
    [("SET", "s:a", "100"), ("SELECT", 2), ("DEL", "db2:a"), ("SET", "db2:c", "c"),
     ("SELECT", 0), ("ZINCRBY", "z:b", "2", "m")],
]


def run_phases(srv, rewrite_after_first=False):
    """The three phases, one per second; returns [(ts, dataset after it)]."""
    r = srv.client()
    out = []
    for i, phase in enumerate(PHASES):
        wait_second_start()
        ts = int(time.time())
        pipe_cmds = []
        for c in phase:
            pipe_cmds.append(c)
        multi = False
        for c in pipe_cmds:
            if c == "MULTI":
                p = r.pipeline(transaction=True)
                multi = True
                continue
            if c == "EXEC":
                p.execute()
                multi = False
                continue
            if c[0] == "SELECT":
                r.execute_command(*c)
                continue
            (p if multi else r).execute_command(*c)
        assert int(time.time()) == ts, "a phase crossed a second boundary (slow machine?)"
        if rewrite_after_first and i == 0:
            r.bgrewriteaof()
            deadline = time.time() + 20
            while r.info("persistence")["aof_rewrite_in_progress"] or \
                    r.info("persistence")["aof_rewrite_scheduled"]:
                assert time.time() < deadline
                time.sleep(0.05)
        out.append((ts, dataset(r)))
    return out


def make_source(kind: str):
    """(AOF directory copy, [(ts, dataset)]) for "valkey", "valkey-plain" or "valkeyd"."""
    work = _mkdtemp(prefix="aoftools-src-")
    # hz 100: the servers refresh their cached clock (the annotations' time) every 10 ms
    args = ["--appendonly", "yes", "--aof-timestamp-enabled", "yes", "--appendfsync", "always",
            "--hz", "100"]
    if kind == "valkey-plain":
        args += ["--aof-use-rdb-preamble", "no"]
    srv = start_valkeyd(*args, workdir=work) if kind == "valkeyd" else \
        start_valkey(*args, workdir=work)
    try:
        phases = run_phases(srv, rewrite_after_first=(kind == "valkey-plain"))
    finally:
        srv.stop()
    src = Path(_mkdtemp(prefix="aoftools-")) / "appendonlydir"
    _plain_copy(Path(work) / "appendonlydir", src)
    shutil.rmtree(work, ignore_errors=True)
    return src, phases


@pytest.fixture(scope="module")
def sources():
    out = {k: make_source(k) for k in ("valkey", "valkey-plain", "valkeyd")}
    yield out
    for d, _p in out.values():
        shutil.rmtree(d.parent, ignore_errors=True)


def digest(d: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def _plain_copy(src: Path, dst: Path) -> None:
    """Copy a directory's files, writable (the fixtures are read-only)."""
    dst.mkdir(parents=True)
    for p in src.iterdir():
        shutil.copyfile(p, dst / p.name)


def copy(src: Path) -> Path:
    dst = Path(_mkdtemp(prefix="aoftools-cp-")) / "appendonlydir"
    _plain_copy(src, dst)
    return dst


def manifest_of(d: Path):
    from persistence.aof import Manifest
    return Manifest.parse((d / "appendonly.aof.manifest").read_bytes())


def last_incr(d: Path) -> Path:
    return d / manifest_of(d).incr[-1][0]


def load_in_valkey(workdir: Path, aof_dir: bool) -> dict:
    args = ["--appendonly", "yes"] if aof_dir else ["--dbfilename", "dump.rdb"]
    srv = start_valkey(*args, workdir=str(workdir))
    try:
        return dataset(srv.client())
    finally:
        srv.stop()


def load_in_valkeyd(workdir: Path) -> dict:
    srv = start_valkeyd("--appendonly", "yes", workdir=str(workdir))
    try:
        return dataset(srv.client())
    finally:
        srv.stop()


def datadir_with(aofdir: Path) -> Path:
    """A fresh data directory holding a copy of ``aofdir`` as appendonlydir/."""
    w = Path(_mkdtemp(prefix="aoftools-load-"))
    _plain_copy(aofdir, w / "appendonlydir")
    return w


# -- info / dump ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["valkey", "valkey-plain", "valkeyd"])
def test_info(sources, kind):
    d, phases = sources[kind]
    rc, out, err = aof("info", "--json", d)
    assert rc == 0, err
    r = json.loads(out)
    m = manifest_of(d)
    assert r["kind"] == "multi" and r["valid"]
    assert r["manifest"]["base"]["name"] == m.base[0]
    assert [i["name"] for i in r["manifest"]["incr"]] == [n for n, _s, _t in m.incr]
    assert [h["name"] for h in r["manifest"]["history"]] == [n for n, _s, _t in m.history]
    assert r["base_format"] == ("resp" if kind == "valkey-plain" else "rdb-preamble")
    sizes = {f["name"]: f["size"] for f in r["files"]}
    for name, size in sizes.items():
        assert (d / name).stat().st_size == size
    assert r["first_ts"] <= phases[0][0] + 1 and r["last_ts"] == phases[-1][0]
    # the commands counted are the RESP commands of the files (text output says the same)
    rc, text, _ = aof("info", d)
    assert rc == 0 and f"{r['commands']} commands" in text and "valid" in text
    assert ("rdb-preamble" in text) == (kind != "valkey-plain")


@pytest.mark.parametrize("kind", ["valkey", "valkeyd"])
def test_dump_jsonl_and_text(sources, kind):
    d, phases = sources[kind]
    rc, out, err = aof("dump", "--format", "jsonl", d)
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    base = rows[0]
    assert "rdb" in base and base["file"].endswith(".base.rdb")
    cmds = [x for x in rows if "argv" in x]
    # db tracking: the writes to db2 carry db 2, the others db 0
    for x in cmds:
        if x["argv"][0].lower() in ("set", "del") and x["argv"][1].startswith("db2:"):
            assert x["db"] == 2, x
        elif x["argv"][0].lower() != "select":
            assert x["db"] == 0, x
    # timestamps: each phase's writes carry its second
    ts_of = {}
    for x in cmds:
        if x["argv"][0].lower() != "select":
            ts_of.setdefault(tuple(x["argv"][:2]), x["ts"])
    assert ts_of[("SADD", "set:b")] == phases[1][0]
    assert ts_of[("SET", "db2:c")] == phases[2][0]
    assert [x["multi"] for x in cmds if x["argv"][0] in ("LPUSH",)] == [True]
    # offsets point at the commands in the file
    raw = (d / cmds[3]["file"]).read_bytes()
    assert raw[cmds[3]["offset"]:cmds[3]["offset"] + 1] == b"*"
    rc, text, _ = aof("dump", d)
    assert rc == 0
    lines = text.splitlines()
    assert len(lines) == len(rows)
    assert any(re.search(r" db2 (SET|set) db2:c c$", ln) for ln in lines)
    # filters
    rc, out2, _ = aof("dump", "--format", "jsonl", "--db", "2", d)
    assert rc == 0 and {json.loads(x)["db"] for x in out2.splitlines() if "argv" in x} == {2}
    rc, out3, _ = aof("dump", "--format", "jsonl", "--since", phases[2][0], d)
    got = [json.loads(x) for x in out3.splitlines()]
    assert got and all(x["ts"] >= phases[2][0] for x in got)


def test_dump_plain_base_and_fixtures():
    rc, out, err = aof("dump", "--format", "jsonl", FIXTURES / "aof-plain")
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows[0]["argv"][:2] == ["FUNCTION", "LOAD"]
    assert {x["file"] for x in rows} == {"appendonly.aof.2.base.aof", "appendonly.aof.2.incr.aof"}
    assert any(x["db"] == 3 and x["argv"][:2] == ["SET", "db3:aof"] for x in rows)
    rc, text, _ = aof("dump", "--max-arg", "10", FIXTURES / "aof-plain")
    assert rc == 0 and re.search(r'^\S+:149 - db0 SET str:big "(\\x00){10}"\.\.\.\(\d+ bytes\)$',
                                 text, re.M), text[:600]
    rc, out, _ = aof("info", "--json", FIXTURES / "aof-preamble")
    r = json.loads(out)
    assert rc == 0 and r["base_format"] == "rdb-preamble" and r["first_ts"] is None
    assert r["files"][0]["rdb"]["keys"] > 0


# -- check, compared with valkey-check-aof -----------------------------------------------------
def _ok_up_to(text):
    m = re.findall(r"AOF analyzed: filename=(\S+), size=\d+, ok_up_to=(\d+)", text)
    return m[-1] if m else None


def _variants(d: Path):
    """(label, path to give both tools, expect valid) over damaged copies of ``d``."""
    out = [("sound", d, True)]
    t = copy(d)
    f = last_incr(t)
    f.write_bytes(f.read_bytes()[:-5])
    out.append(("truncated", t, False))
    c = copy(d)
    f = last_incr(c)
    data = bytearray(f.read_bytes())
    i = data.index(b"*", data.index(b"*") + 1)   # the count of the second command
    data[i + 1] = ord("X")
    f.write_bytes(bytes(data))
    out.append(("corrupt-middle", c, False))
    b = copy(d)
    with open(b / "appendonly.aof.manifest", "ab") as fh:
        fh.write(b"file x seq 0 type q\n")
    out.append(("bad-manifest", b, False))
    m = copy(d)
    last_incr(m).unlink()
    out.append(("missing-file", m, False))
    u = copy(d)
    f = last_incr(u)
    f.write_bytes(f.read_bytes() + b"*1\r\n$5\r\nMULTI\r\n"
                  b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$1\r\n1\r\n")
    out.append(("unclosed-multi", u, False))
    # single files: the incr file alone (plain), and an old-style file with an RDB preamble
    s = Path(_mkdtemp(prefix="aoftools-single-"))
    shutil.copy(last_incr(d), s / "plain.aof")
    out.append(("single-plain", s / "plain.aof", True))
    base = d / manifest_of(d).base[0]
    if base.read_bytes()[:5] == b"REDIS":
        (s / "preamble.aof").write_bytes(base.read_bytes() + last_incr(d).read_bytes())
        out.append(("single-preamble", s / "preamble.aof", True))
        (s / "preamble-trunc.aof").write_bytes(base.read_bytes()
                                               + last_incr(d).read_bytes()[:-3])
        out.append(("single-preamble-truncated", s / "preamble-trunc.aof", False))
        (s / "bad-rdb.aof").write_bytes(base.read_bytes()[:-2] + b"zz"
                                        + last_incr(d).read_bytes())
        out.append(("single-bad-rdb", s / "bad-rdb.aof", False))
    return out


@pytest.mark.parametrize("kind", ["valkey", "valkey-plain", "valkeyd"])
def test_check_like_valkey_check_aof(sources, kind):
    d, _p = sources[kind]
    for label, path, valid in _variants(d):
        ref_path = path / "appendonly.aof.manifest" if path.is_dir() else path
        rc_ref, ref_out = check_aof(ref_path)
        rc, out, err = aof("check", path)
        assert rc_ref == (0 if valid else 1), (label, ref_out)
        assert rc == rc_ref, (label, out, err, ref_out)
        assert "Traceback" not in err, err
        if valid:
            assert "The AOF is valid" in out
            continue
        ref = _ok_up_to(ref_out)
        if ref is not None and "is not valid" in ref_out:
            fname, off = ref
            # ours names the same file and the same "valid up to" offset
            line = next(ln for ln in (out + err).splitlines() if "valid up to offset" in ln)
            assert os.path.basename(fname) in line, (label, line, ref_out)
            assert f"valid up to offset {off} " in line, (label, line, ref_out)
        elif label == "bad-manifest":
            assert "line 3" in err and "Invalid AOF manifest file format" in err
        elif label == "missing-file":
            assert "cannot open the file" in out and "Cannot open file" in ref_out


def test_check_fixtures():
    for name in ("aof-plain", "aof-preamble"):
        rc_ref, _ = check_aof(FIXTURES / name / "appendonly.aof.manifest")
        rc, out, err = aof("check", FIXTURES / name)
        assert rc == rc_ref == 0, (out, err)


def test_usage_errors():
    rc, _o, err = aof("check", "/nonexistent/path")
    assert rc == 2 and "no such file" in err
    empty = _mkdtemp()
    rc, _o, err = aof("info", empty)
    assert rc == 2 and "no AOF manifest" in err
    rc, _o, err = aof("truncate-to-timestamp", "notatime", empty)
    assert rc == 2


# -- fix ------------------------------------------------------------------------------------------
def test_fix_truncated_then_load(sources):
    d, phases = sources["valkey"]
    ours, ref = copy(d), copy(d)
    for x in (ours, ref):
        f = last_incr(x)
        f.write_bytes(f.read_bytes()[:-7])
    before = last_incr(ours).read_bytes()
    rc, out, err = aof("fix", ours)
    assert rc == 0, (out, err)
    backup = Path(re.search(r"Backup of the original file and manifest: (\S+)", out).group(1))
    assert (backup / last_incr(ours).name).read_bytes() == before
    assert (backup / "appendonly.aof.manifest").exists()
    rc_ref, ref_out = check_aof("--fix", ref / "appendonly.aof.manifest", input=b"y\n")
    assert rc_ref == 0, ref_out
    assert digest(ours) == digest(ref)           # the same bytes as valkey-check-aof --fix
    assert check_aof(ours / "appendonly.aof.manifest")[0] == 0
    assert aof("check", ours)[0] == 0
    # what valkey-server loads from the fixed directory = what it loads from the damaged one
    # with aof-load-truncated yes (it cuts the same tail itself)
    damaged = copy(d)
    f = last_incr(damaged)
    f.write_bytes(f.read_bytes()[:-7])
    assert load_in_valkey(datadir_with(ours), True) == load_in_valkey(datadir_with(damaged), True)
    # fixing a sound AOF changes nothing
    rc, out, _ = aof("fix", ours)
    assert rc == 0 and "nothing to fix" in out


def test_fix_refuses_what_redis_refuses(sources):
    d, _p = sources["valkey"]
    # a problem in an incr file that is not the last one
    two = copy(d)
    m = manifest_of(two)
    name, seq, _t = m.incr[-1]
    second = name.replace(f".{seq}.incr", f".{seq + 1}.incr")
    shutil.copy(two / name, two / second)
    m.incr.append((second, seq + 1, "i"))
    m.incr_seq = seq + 1
    (two / "appendonly.aof.manifest").write_bytes(m.format())
    f = two / name
    f.write_bytes(f.read_bytes()[:-4])
    snap = digest(two)
    rc_ref, ref_out = check_aof("--fix", two / "appendonly.aof.manifest", input=b"y\n")
    assert rc_ref == 1 and "not the last file" in ref_out
    rc, out, _ = aof("fix", two)
    assert rc == 1 and "not the last file" in out
    assert digest(two) == snap
    # a bad manifest
    b = copy(d)
    (b / "appendonly.aof.manifest").write_bytes(b"file a seq 1 type b\nfile b seq 2 type b\n")
    rc, _o, err = aof("fix", b)
    assert rc == 1 and "duplicate base" in err


def test_fix_single_file():
    s = Path(_mkdtemp(prefix="aoftools-single-"))
    body = (b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
            b"*3\r\n$3\r\nSET\r\n$1\r\nj\r\n$")
    (s / "a.aof").write_bytes(body)
    (s / "b.aof").write_bytes(body)
    rc, out, _ = aof("fix", s / "a.aof")
    assert rc == 0 and ".bak-" in out
    assert check_aof("--fix", s / "b.aof", input=b"y\n")[0] == 0
    assert (s / "a.aof").read_bytes() == (s / "b.aof").read_bytes()
    assert [p.name for p in s.iterdir() if ".bak-" in p.name]


# -- truncate-to-timestamp ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["valkey", "valkeyd"])
def test_truncate_to_timestamp_like_valkey_check_aof(sources, kind):
    d, phases = sources[kind]
    for ts in (phases[0][0], phases[1][0], phases[2][0] + 5, phases[0][0] - 100):
        ours, ref = copy(d), copy(d)
        rc_ref, ref_out = check_aof("--truncate-to-timestamp", ts,
                                    ref / "appendonly.aof.manifest")
        rc, out, err = aof("truncate-to-timestamp", ts, ours)
        assert rc == rc_ref, (ts, out, err, ref_out)
        assert digest(ours) == digest(ref), (ts, out, ref_out)
        if ts == phases[0][0] - 100:
            assert rc == 1 and "nothing before timestamp" in out
    # the truncated directory loads into valkey-server as the dataset of that second
    t = copy(d)
    assert aof("truncate-to-timestamp", phases[1][0], t)[0] == 0
    assert load_in_valkey(datadir_with(t), True) == phases[1][1]


# -- restore --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["valkey", "valkey-plain", "valkeyd"])
def test_restore_point_in_time(sources, kind):
    d, phases = sources[kind]
    snap = digest(d)
    points = phases[1:] if kind == "valkey-plain" else phases
    for i, (ts, expected) in enumerate(points):
        out = Path(_mkdtemp(prefix="aoftools-rdb-")) / "new"
        rc, o, err = aof("restore", d, "--to", ts, "--out", out)
        assert rc == 0, (o, err)
        assert (out / "dump.rdb").exists()
        assert load_in_valkey(out, False) == expected, (kind, i)
        if i == 1 or len(points) == 2:
            out2 = Path(_mkdtemp(prefix="aoftools-aof-"))
            rc, o, err = aof("restore", d, "--to", ts, "--out", out2, "--format", "aof")
            assert rc == 0, (o, err)
            assert aof("check", out2)[0] == 0
            assert load_in_valkey(out2, True) == expected
            assert load_in_valkeyd(out2) == expected
    assert digest(d) == snap    # the source is only read
    # ISO 8601 works as well as unix seconds
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(phases[-1][0]))
    out = Path(_mkdtemp(prefix="aoftools-iso-")) / "n"
    assert aof("restore", d, "--to", iso, "--out", out)[0] == 0
    assert load_in_valkey(out, False) == phases[-1][1]


def test_restore_refusals(sources):
    d, phases = sources["valkey-plain"]
    # before the base: the older state is gone
    out = Path(_mkdtemp()) / "x"
    rc, _o, err = aof("restore", d, "--to", phases[0][0] - 50, "--out", out)
    assert rc == 1 and "oldest state" in err
    # a non-empty output directory
    busy = Path(_mkdtemp())
    (busy / "f").write_text("x")
    rc, _o, err = aof("restore", d, "--to", phases[-1][0], "--out", busy)
    assert rc == 2 and "not an empty directory" in err
    # a damaged file before the restore point
    c = copy(d)
    f = last_incr(c)
    data = bytearray(f.read_bytes())
    i = data.index(b"*", data.index(b"*") + 1)
    data[i + 1] = ord("X")
    f.write_bytes(bytes(data))
    rc, _o, err = aof("restore", c, "--to", phases[-1][0] + 10,
                      "--out", Path(_mkdtemp()) / "y")
    assert rc == 1 and "valid up to offset" in err


def test_restore_fixtures_equal_direct_load():
    for name in ("aof-plain", "aof-preamble"):
        out = Path(_mkdtemp(prefix="aoftools-fx-")) / "n"
        rc, o, err = aof("restore", FIXTURES / name, "--to", "2100-01-01T00:00:00", "--out", out)
        assert rc == 0, (o, err)
        direct = load_in_valkey(datadir_with(FIXTURES / name), True)
        assert direct and load_in_valkey(out, False) == direct
        # --format aof: NEWDIR/appendonlydir whatever the source directory's name
        out2 = Path(_mkdtemp(prefix="aoftools-fx-"))
        rc, o, err = aof("restore", FIXTURES / name, "--to", "2100-01-01", "--out", out2,
                         "--format", "aof")
        assert rc == 0, (o, err)
        assert load_in_valkey(out2, True) == direct


@pytest.mark.parametrize("which", ["fixture", "valkey"])
def test_dump_base_commands_replay(sources, which):
    """``dump --base commands --format jsonl`` lists the whole dataset's history (the RDB
    base as rewrite commands, then the incr files); replaying it into a fresh valkey-server
    gives what valkey-server loads from the directory itself."""
    d = FIXTURES / "aof-preamble" if which == "fixture" else sources["valkey"][0]
    rc, out, err = aof("dump", "--base", "commands", "--format", "jsonl", "--escape", "base64", d)
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert any(x["offset"] is None for x in rows) == (which == "fixture")
    srv = start_valkey(workdir=_mkdtemp())
    try:
        r = redis.Redis(port=srv.port, single_connection_client=True)
        for x in rows:
            r.execute_command(*[base64.b64decode(a) for a in x["argv"]])
        replayed = dataset(r)
    finally:
        srv.stop()
    assert replayed == load_in_valkey(datadir_with(d), True)


def split_at_phase(d: Path, ts: int) -> Path:
    """A copy of ``d`` whose incr file is split in two at the ``#TS:<ts>`` annotation: two
    incr files in the manifest, as after a rewrite started at that moment."""
    c = copy(d)
    m = manifest_of(c)
    name, seq, _t = m.incr[-1]
    data = (c / name).read_bytes()
    cut = data.index(b"#TS:%d\r\n" % ts)
    second = name.replace(f".{seq}.incr", f".{seq + 1}.incr")
    (c / name).write_bytes(data[:cut])
    (c / second).write_bytes(data[cut:])
    m.incr.append((second, seq + 1, "i"))
    m.incr_seq = seq + 1
    (c / "appendonly.aof.manifest").write_bytes(m.format())
    return c


def test_two_incr_files(sources):
    d, phases = sources["valkey"]
    c = split_at_phase(d, phases[2][0])
    assert check_aof(c / "appendonly.aof.manifest")[0] == 0
    rc, out, _ = aof("check", c)
    assert rc == 0 and out.count(": OK,") == 3
    # the cut falls in the first incr file: valkey-check-aof refuses, so does ours
    ours, ref = copy(c), copy(c)
    rc_ref, ref_out = check_aof("--truncate-to-timestamp", phases[0][0],
                                ref / "appendonly.aof.manifest")
    rc, out, _ = aof("truncate-to-timestamp", phases[0][0], ours)
    assert rc == rc_ref == 1 and "not the last file" in out and "not the last file" in ref_out
    assert digest(ours) == digest(ref) == digest(c)
    # restore drops the second file and cuts the first
    for ts, expected in phases:
        out_dir = Path(_mkdtemp(prefix="aoftools-2i-"))
        rc, o, err = aof("restore", c, "--to", ts, "--out", out_dir, "--format", "aof")
        assert rc == 0, (o, err)
        kept = manifest_of(out_dir / "appendonlydir").incr
        assert len(kept) == (2 if ts == phases[2][0] else 1)
        assert load_in_valkey(out_dir, True) == expected


def test_single_file_restore_and_info():
    s = Path(_mkdtemp(prefix="aoftools-single-"))
    (s / "appendonly.aof").write_bytes(
        b"#TS:1000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n"
        b"#TS:1002\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n2\r\n")
    rc, out, _ = aof("info", "--json", s / "appendonly.aof")
    r = json.loads(out)
    assert rc == 0 and r["kind"] == "single" and (r["first_ts"], r["last_ts"]) == (1000, 1002)
    out_dir = Path(_mkdtemp(prefix="aoftools-s-")) / "n"
    assert aof("restore", s / "appendonly.aof", "--to", 1001, "--out", out_dir)[0] == 0
    assert load_in_valkey(out_dir, False) == {(0, b"k"): ("string", b"1", False)}
    out2 = Path(_mkdtemp(prefix="aoftools-s-")) / "n"
    assert aof("restore", s / "appendonly.aof", "--to", 1001, "--out", out2,
               "--format", "aof")[0] == 0
    # an old-style single file: the server upgrades it into a directory when it starts
    assert load_in_valkey(out2, True) == {(0, b"k"): ("string", b"1", False)}
    rc, _o, err = aof("restore", s / "appendonly.aof", "--to", 999, "--out",
                      Path(_mkdtemp()) / "n")
    assert rc == 1 and "nothing as of 999" in err
    # info exits 1 on a damaged AOF, after its report
    (s / "appendonly.aof").write_bytes((s / "appendonly.aof").read_bytes()[:-3])
    rc, out, _ = aof("info", s / "appendonly.aof")
    assert rc == 1 and "TRUNCATED" in out and "NOT valid" in out


def test_progress_bar_only_on_a_terminal(sources):
    d, _p = sources["valkey"]
    rc, out, err = run_with_tty_stderr([sys.executable, "-m", "valkeyd", "aof", "check",
                                        str(d)], env=ENV)
    assert rc == 0
    assert b"100%" in err and b"aof check [" in err
    assert b"100%" not in out
    rc, _out, err = aof("check", d)
    assert rc == 0 and err == ""


def test_multi_block_never_split():
    """An annotation inside a MULTI block (writers do not produce one, a hand-made file can):
    restore and truncate-to-timestamp leave the whole transaction out."""
    s = Path(_mkdtemp(prefix="aoftools-multi-"))
    head = (b"#TS:1000\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n")
    tail = (b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n"
            b"#TS:1002\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n")
    (s / "appendonly.aof").write_bytes(head + tail)
    out = Path(_mkdtemp(prefix="aoftools-m-")) / "n"
    rc, o, err = aof("restore", s / "appendonly.aof", "--to", 1001, "--out", out)
    assert rc == 0 and f"offset {len(head)}" in o, (o, err)
    assert load_in_valkey(out, False) == {(0, b"a"): ("string", b"1", False)}
    rc, o, _ = aof("truncate-to-timestamp", 1001, s / "appendonly.aof")
    assert rc == 0 and (s / "appendonly.aof").read_bytes() == head
    assert check_aof(s / "appendonly.aof")[0] == 0
