"""The background AOF rewrite (persistence/aof.py with persistence/fork.py): BGREWRITEAOF
in a forked child, Redis 7's multi-part switch (a new incr file at the start, the new base
installed when the child is reaped), scheduling against BGSAVE, failed and killed children,
the retry limit, CONFIG SET appendonly yes (AOF_WAIT_REWRITE), no-appendfsync-on-rewrite,
the upgrade of an old single-file AOF, DEBUG LOADAOF, and directories exchanged with a real
valkey-server in both directions.

A slow rewrite child comes from ``rdb-key-save-delay`` (microseconds per key, honoured by
the command-form rewrite as in Redis), so the tests can act while it runs without timing
assumptions: each one checks that the child was still running when it mattered."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis

from harness import IN_CI, ROOT, start_valkey, start_valkeyd, valkey_server_path
from test_aof import aof_dir, wait_rewrite
from test_rdb_save import libraries, loaded_encoding, populate, value_of

sys.path.insert(0, str(ROOT))

from persistence.aof import Manifest, cat_command  # noqa: E402

needs_valkey = pytest.mark.skipif(valkey_server_path() is None and not IN_CI,
                                  reason="valkey-server is not installed")

# a rewrite child that takes about 1 s for 500 keys (command-form base, 2 ms per key)
SLOW = ("--aof-use-rdb-preamble", "no", "--rdb-key-save-delay", "2000")


def _stream(c, key):
    """XINFO STREAM FULL without what a load legitimately changes: the radix tree's shape
    (an AOF replays XADDs into full nodes; the RDB reader does not keep the node layout)
    and the consumers' seen/active times (XCLAIM during an AOF load sets them to now)."""
    info = c.execute_command("XINFO", "STREAM", key, "FULL")
    d = dict(zip(info[0::2], info[1::2]))
    d.pop(b"radix-tree-keys")
    d.pop(b"radix-tree-nodes")
    groups = []
    for g in d.pop(b"groups"):
        gd = dict(zip(g[0::2], g[1::2]))
        cons = []
        for cn in gd.pop(b"consumers"):
            cd = dict(zip(cn[0::2], cn[1::2]))
            cd.pop(b"seen-time")
            cd.pop(b"active-time")
            cons.append(cd)
        gd[b"consumers"] = cons
        groups.append(gd)
    d[b"groups"] = groups
    return c.xrange(key), d


def compare_datasets(a, b, dbs=(0,)):
    """Every key's type, value, encoding and expiry, and the function libraries."""
    for db in dbs:
        a.select(db)
        b.select(db)
        keys = sorted(a.keys())
        assert keys == sorted(b.keys())
        for k in keys:
            t = a.type(k)
            assert t == b.type(k), k
            if t == b"stream":
                assert _stream(a, k) == _stream(b, k), k
            else:
                assert value_of(a, k) == value_of(b, k), k
            assert loaded_encoding(a, k) == b.object("encoding", k), k
            assert a.pexpiretime(k) == b.pexpiretime(k), k
    a.select(0)
    b.select(0)
    assert libraries(a) == libraries(b)


def start_ours(*args, workdir=None):
    srv = start_valkeyd("--enable-debug-command", "yes", *args, workdir=workdir)
    wait_ready(srv)
    return srv


def start_ref(*args, workdir=None):
    srv = start_valkey(*args, workdir=workdir)
    wait_ready(srv)
    return srv


def manifest_bytes(srv) -> bytes:
    return (aof_dir(srv) / "appendonly.aof.manifest").read_bytes()


def listing(srv) -> list:
    return sorted(p.name for p in aof_dir(srv).iterdir())


def temp_files(srv) -> list:
    return sorted(p.name for p in Path(srv.dir).iterdir() if p.name.startswith("temp-"))


def child_pids(srv) -> list:
    return [int(p) for p in re.findall(r"rewriting started by pid (\d+)", srv.log())]


def fill(r, n: int, prefix: str = "k") -> None:
    for i in range(0, n, 100):
        r.mset({f"{prefix}{j}": f"v{j}" for j in range(i, min(n, i + 100))})


def reply(r, *args):
    try:
        v = r.execute_command(*args)
    except redis.ResponseError as e:
        return ("err", str(e))
    return v


def raw(srv, *args) -> bytes:
    """The exact reply bytes (redis-py turns BGREWRITEAOF's status into True)."""
    buf: list = []
    cat_command(buf, [a.encode() for a in args])
    return srv.raw(b"".join(buf), wait=0.2)


def in_progress(r) -> int:
    return r.info("persistence")["aof_rewrite_in_progress"]


def wait_ready(srv) -> None:
    """The listening socket opens before the data is loaded: wait for the end of loading
    (the AOF files are then opened and the manifest persisted)."""
    wait_for(lambda: "Ready to accept connections" in srv.log(), what="loading")


def wait_for(cond, timeout=30.0, what=""):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.02)


def log_events(text: str, pid_of_child: int) -> list:
    """The rewrite's log lines, with the child's pid replaced."""
    keep = ("on background rewrite", "rewriting started by pid", "temporary AOF base file",
            "Background AOF rewrite", "Removing the history file", "Killing running AOF")
    out = []
    for line in text.splitlines():
        msg = line.split(" ", 5)[-1] if line[:1].isdigit() else line
        if any(k in msg for k in keep):
            out.append(msg.replace(str(pid_of_child), "N"))
    return out


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# -- the child, compared with valkey-server -----------------------------------------------------

@needs_valkey
def test_rewrite_runs_in_a_child_like_valkey():
    ours = start_ours("--appendonly", "yes", *SLOW)
    ref = start_valkey("--appendonly", "yes", *SLOW)
    try:
        got = []
        for srv in (ours, ref):
            r = srv.client()
            fill(r, 1500)   # a child of about 3 s
            seq = [raw(srv, "BGREWRITEAOF")]
            info = r.info("persistence")
            # the server answers while its child writes the base
            seq.append((info["aof_rewrite_in_progress"], info["aof_current_rewrite_time_sec"]
                        >= 0, info["aof_rewrites"]))
            seq.append(raw(srv, "BGREWRITEAOF"))
            seq.append(raw(srv, "BGSAVE"))
            seq.append(raw(srv, "BGSAVE", "SCHEDULE"))
            seq.append(reply(r, "SET", "during", "1"))
            seq.append(in_progress(r))
            # the parent already appends to the new incr file, listed in the manifest
            seq.append(manifest_bytes(srv))
            info = wait_rewrite(r)
            seq.append((info["aof_last_bgrewrite_status"], info["aof_rewrites"],
                        info["aof_rewrites_consecutive_failures"],
                        info["aof_last_rewrite_time_sec"] >= 0))
            wait_for(lambda: "Background saving terminated with success" in srv.log(),
                     what="the scheduled BGSAVE ran after the rewrite")
            seq.append(manifest_bytes(srv))
            seq.append(listing(srv))
            seq.append(temp_files(srv))
            pid = child_pids(srv)[-1]
            assert pid != srv.pid
            seq.append(log_events(srv.log(), pid))
            got.append(seq)
        assert got[0] == got[1]
        assert got[0][0] == b"+Background append only file rewriting started\r\n"
        assert got[0][2] == b"-ERR Background append only file rewriting already in progress\r\n"
        assert got[0][4] == b"+Background saving scheduled\r\n"
        assert got[0][1][0] == 1 and got[0][6] == 1
        assert got[0][7] == (b"file appendonly.aof.1.base.aof seq 1 type b\n"
                             b"file appendonly.aof.1.incr.aof seq 1 type i\n"
                             b"file appendonly.aof.2.incr.aof seq 2 type i\n")
        assert got[0][9] == (b"file appendonly.aof.2.base.aof seq 2 type b\n"
                             b"file appendonly.aof.2.incr.aof seq 2 type i\n")
        r = ours.client()
        assert r.get("during") == b"1"
        assert (aof_dir(ours) / "appendonly.aof.2.incr.aof").read_bytes().count(b"during") == 1
        assert r.info("persistence")["aof_last_cow_size"] > 0
    finally:
        ours.stop()
        ref.stop()


@pytest.mark.parametrize("preamble", ["no", "yes"])
def test_writes_during_the_rewrite_are_not_lost(preamble):
    args = ("--appendonly", "yes", "--appendfsync", "always")
    args += SLOW if preamble == "no" else ("--aof-use-rdb-preamble", "yes")
    srv = start_ours(*args)
    try:
        r = srv.client()
        populate(r)
        if preamble == "no":
            fill(r, 500)
        else:   # no per-key delay in the RDB writer: a dataset big enough to take a while
            r.execute_command("DEBUG", "POPULATE", 300000, "pop")
            fill(r, 500)
        assert r.bgrewriteaof() is True
        during = [0]
        stop = threading.Event()

        def writer(t):
            c = srv.client()
            i = 0
            while not stop.is_set() and i < 3000:
                c.incr("counter")
                c.set(f"w:{t}:{i}", i)
                c.delete(f"k{t * 100 + i % 100}")
                c.rpush(f"l:{t}", i)
                c.hset("h:during", f"{t}:{i}", i)
                i += 1
                if c.info("persistence")["aof_rewrite_in_progress"]:
                    during[0] += 1
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        wait_rewrite(r, 1, timeout=120)
        stop.set()
        for t in threads:
            t.join()
        assert during[0] > 0, "no write happened while the child ran"
        r.set("after", "1")
        info = r.info("persistence")
        assert info["aof_last_bgrewrite_status"] == "ok"
        digest = r.execute_command("DEBUG", "DIGEST")
        per_key = {k: r.execute_command("DEBUG", "DIGEST-VALUE", k)[0] for k in r.keys()
                   if not k.startswith(b"pop:")}
        m = Manifest.parse(manifest_bytes(srv))
        assert m.base[0] == "appendonly.aof.2.base." + ("rdb" if preamble == "yes" else "aof")
        assert [f[0] for f in m.incr] == ["appendonly.aof.2.incr.aof"] and not m.history
        srv.kill()
        srv2 = start_ours("--appendonly", "yes", workdir=srv.dir)
        try:
            r2 = srv2.client()
            got = {k: r2.execute_command("DEBUG", "DIGEST-VALUE", k)[0] for k in r2.keys()
                   if not k.startswith(b"pop:")}
            assert sorted(k for k in set(per_key) | set(got)
                          if per_key.get(k) != got.get(k)) == []
            assert r2.execute_command("DEBUG", "DIGEST") == digest
            assert r2.get("after") == b"1"
        finally:
            srv2.stop()
    finally:
        if srv.alive():
            srv.stop()


@pytest.mark.parametrize("moment", [0.15, 0.6])
def test_kill9_during_a_rewrite_loses_no_acknowledged_write(moment):
    srv = start_ours("--appendonly", "yes", "--appendfsync", "always", *SLOW)
    acked: dict = {}
    try:
        r = srv.client()
        fill(r, 1500)
        stop = threading.Event()

        def writer(t):
            c = srv.client()
            i = 0
            while not stop.is_set():
                try:
                    c.set(f"a:{t}:{i}", i)
                except (redis.ConnectionError, redis.TimeoutError):
                    return
                acked[f"a:{t}:{i}"] = str(i).encode()
                i += 1
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        assert r.bgrewriteaof() is True
        time.sleep(moment)
        assert in_progress(r) == 1
        pid = child_pids(srv)[-1]
        srv.kill()
        stop.set()
        for t in threads:
            t.join()
        kill_quietly(pid)   # the orphaned child
        assert len(acked) > 0
        srv2 = start_ours("--appendonly", "yes", workdir=srv.dir)
        try:
            r2 = srv2.client()
            keys = sorted(acked)
            got = r2.mget(keys)
            missing = [k for k, v in zip(keys, got) if v != acked[k]]
            assert not missing, missing[:10]
            assert r2.get("k1499") == b"v1499"
        finally:
            srv2.stop()
    finally:
        if srv.alive():
            srv.kill()


# -- failures ---------------------------------------------------------------------------------

@needs_valkey
def test_killed_child_fails_the_rewrite_and_keeps_the_files_like_valkey():
    ours = start_ours("--appendonly", "yes", *SLOW)
    ref = start_valkey("--appendonly", "yes", *SLOW)
    try:
        got = []
        for srv in (ours, ref):
            r = srv.client()
            fill(r, 500)
            digest = r.execute_command("DEBUG", "DIGEST")
            seq = [raw(srv, "BGREWRITEAOF")]
            pid = child_pids(srv)[-1]
            os.kill(pid, signal.SIGKILL)
            r.set("after-kill", "1")
            info = wait_rewrite(r)
            seq.append((info["aof_last_bgrewrite_status"],
                        info["aof_rewrites_consecutive_failures"], info["aof_rewrites"]))
            seq.append(manifest_bytes(srv))
            seq.append(listing(srv))
            seq.append(temp_files(srv))
            assert "Background AOF rewrite terminated by signal 9" in srv.log()
            # SIGUSR1 is Redis's "killed on purpose": not counted as a failure
            seq.append(raw(srv, "BGREWRITEAOF"))
            os.kill(child_pids(srv)[-1], signal.SIGUSR1)
            info = wait_rewrite(r)
            seq.append((info["aof_last_bgrewrite_status"],
                        info["aof_rewrites_consecutive_failures"]))
            assert "Background AOF rewrite terminated by signal 10" in srv.log()
            # a successful rewrite clears the failures and removes every old incr file
            seq.append(raw(srv, "BGREWRITEAOF"))
            info = wait_rewrite(r)
            seq.append((info["aof_last_bgrewrite_status"],
                        info["aof_rewrites_consecutive_failures"]))
            seq.append(manifest_bytes(srv))
            seq.append(listing(srv))
            r.delete("after-kill")
            assert r.execute_command("DEBUG", "DIGEST") == digest
            got.append(seq)
        assert got[0] == got[1]
        assert got[0][1] == ("err", 1, 1)
        assert got[0][2] == (b"file appendonly.aof.1.base.aof seq 1 type b\n"
                             b"file appendonly.aof.1.incr.aof seq 1 type i\n"
                             b"file appendonly.aof.2.incr.aof seq 2 type i\n")
        assert got[0][4] == []
        assert got[0][6] == ("err", 1)
        assert got[0][8] == ("ok", 0)
        # the old files still load: restart from the directory left by the failures
        ours.kill()
        srv2 = start_ours("--appendonly", "yes", workdir=ours.dir)
        try:
            assert srv2.client().dbsize() == 500
        finally:
            srv2.stop()
    finally:
        if ours.alive():
            ours.stop()
        ref.stop()


def test_repeated_failures_trigger_the_retry_limit():
    srv = start_ours("--appendonly", "yes", "--auto-aof-rewrite-percentage", "1",
                        "--auto-aof-rewrite-min-size", "1", *SLOW)
    try:
        r = srv.client()
        fill(r, 500)   # the automatic rewrite starts from the cron: kill its children
        for n in range(1, 4):
            wait_for(lambda: len(child_pids(srv)) >= n, what=f"automatic rewrite {n}")
            assert in_progress(r) == 1
            os.kill(child_pids(srv)[-1], signal.SIGKILL)
            wait_for(lambda: r.info("persistence")["aof_rewrites_consecutive_failures"] >= n)
        msg = ("Background AOF rewrite has repeatedly failed and triggered the limit, will "
               "retry in 1 minutes")
        wait_for(lambda: msg in srv.log(), what="the limit")
        info = r.info("persistence")
        assert info["aof_rewrites_consecutive_failures"] == 3
        assert info["aof_rewrite_in_progress"] == 0 and len(child_pids(srv)) == 3
        assert "Starting automatic rewriting of AOF on" in srv.log()
        # BGREWRITEAOF is not limited
        assert raw(srv, "BGREWRITEAOF") == b"+Background append only file rewriting started\r\n"
        info = wait_rewrite(r)
        assert info["aof_rewrites_consecutive_failures"] == 0
        assert info["aof_last_bgrewrite_status"] == "ok"
        m = Manifest.parse(manifest_bytes(srv))
        assert len(m.incr) == 1 and not m.history and temp_files(srv) == []
    finally:
        srv.stop()


def test_appendonly_no_kills_the_child():
    srv = start_ours("--appendonly", "yes", *SLOW)
    try:
        r = srv.client()
        fill(r, 500)
        r.bgrewriteaof()
        pid = child_pids(srv)[-1]
        assert in_progress(r) == 1
        assert r.config_set("appendonly", "no")
        info = r.info("persistence")
        assert info["aof_rewrite_in_progress"] == 0 and info["aof_enabled"] == 0
        assert f"Killing running AOF rewrite child: {pid}" in srv.log()
        assert temp_files(srv) == []
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)   # reaped
    finally:
        srv.stop()


def test_shutdown_kills_the_child_and_keeps_the_files():
    srv = start_ours("--appendonly", "yes", "--appendfsync", "always", *SLOW)
    try:
        r = srv.client()
        fill(r, 500)
        r.bgrewriteaof()
        pid = child_pids(srv)[-1]
        r.set("during", "1")
        assert in_progress(r) == 1
        before = manifest_bytes(srv)
        assert srv.stop() == 0
        log = srv.log()
        assert "There is a child rewriting the AOF. Killing it!" in log
        assert f"Killing running AOF rewrite child: {pid}" in log
        assert log.index("Killing it!") < log.index("Calling fsync() on the AOF file.")
        assert temp_files(srv) == [] and manifest_bytes(srv) == before
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        srv2 = start_ours("--appendonly", "yes", workdir=srv.dir)
        try:
            r2 = srv2.client()
            assert r2.dbsize() == 501 and r2.get("during") == b"1"
        finally:
            srv2.stop()
    finally:
        if srv.alive():
            srv.stop()


# -- CONFIG SET appendonly yes: AOF_WAIT_REWRITE ------------------------------------------------

@needs_valkey
def test_config_set_appendonly_yes_rewrites_in_a_child_like_valkey():
    ours = start_ours(*SLOW)
    ref = start_valkey(*SLOW)
    try:
        got = []
        for srv in (ours, ref):
            r = srv.client()
            fill(r, 1500)
            seq = [reply(r, "CONFIG", "SET", "appendonly", "yes")]
            info = r.info("persistence")
            seq.append((info["aof_enabled"], info["aof_rewrite_in_progress"]))
            seq.append(listing(srv))   # the writes go to the temp incr file meanwhile
            r.set("during", "1")
            # not durable until the rewrite ends: SHUTDOWN refuses
            seq.append(reply(r, "SHUTDOWN"))
            assert "Writing initial AOF, can't exit." in srv.log()
            seq.append(reply(r, "WAITAOF", 0, 0, 0))
            assert in_progress(r) == 1
            seq.append(reply(r, "WAITAOF", 1, 0, 0))   # waits for the end of the rewrite
            seq.append(in_progress(r))
            wait_rewrite(r, 1)
            seq.append(manifest_bytes(srv))
            seq.append(listing(srv))
            r.set("after", "1")
            got.append(seq)
        assert got[0] == got[1]
        assert got[0][2] == ["temp-appendonly.aof.incr"]
        assert got[0][4:7] == [[0, 0], [1, 0], 0]
        assert got[0][7] == (b"file appendonly.aof.1.base.aof seq 1 type b\n"
                             b"file appendonly.aof.1.incr.aof seq 1 type i\n")
        digest = ours.client().execute_command("DEBUG", "DIGEST")
        ours.kill()
        srv2 = start_ours("--appendonly", "yes", workdir=ours.dir)
        try:
            r2 = srv2.client()
            assert r2.execute_command("DEBUG", "DIGEST") == digest
            assert r2.get("during") == b"1" and r2.get("after") == b"1"
        finally:
            srv2.stop()
    finally:
        if ours.alive():
            ours.stop()
        ref.stop()


# -- no-appendfsync-on-rewrite ----------------------------------------------------------------

def test_no_appendfsync_on_rewrite_in_process(monkeypatch, tmp_path):
    """With no-appendfsync-on-rewrite yes and a child active, replies at appendfsync always
    leave after the write without an fsync; without a child the fsync is back."""
    import valkeyd.commands  # noqa: F401
    from valkeyd.config import Config
    from valkeyd.server import Server

    fsyncs = []
    real = os.fsync

    def fsync(fd):
        real(fd)
        fsyncs.append(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.chdir(tmp_path)

    async def main(flag):
        cfg = Config()
        cfg.set("appendonly", "yes")
        cfg.set("appendfsync", "always")
        cfg.set("no-appendfsync-on-rewrite", flag)
        cfg.set("port", "0")
        cfg.set("unixsocket", str(tmp_path / f"s{flag}.sock"))
        cfg.set("appenddirname", f"aof-{flag}")
        srv = Server(cfg)
        await srv.start()
        await srv.load_data()
        rd, w = await asyncio.open_unix_connection(str(tmp_path / f"s{flag}.sock"))
        out = []
        for child in (True, False):
            srv.aof_child_pid = 999999 if child else None   # a child seems to be running
            n0 = len(fsyncs)
            w.write(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
            await w.drain()
            assert await rd.readexactly(5) == b"+OK\r\n"
            out.append(len(fsyncs) - n0)
        w.close()
        srv.aof_child_pid = None
        srv.finish_shutdown()
        return out

    assert asyncio.run(main("yes")) == [0, 1]
    assert asyncio.run(main("no")) == [1, 1]


# -- exchanging directories with valkey-server ------------------------------------------------

@needs_valkey
@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_rewritten_directory_loads_into_valkey(preamble):
    srv = start_ours("--appendonly", "yes", "--aof-use-rdb-preamble", preamble)
    ref = None
    try:
        r = srv.client()
        populate(r, srv.client(db=1))
        assert r.bgrewriteaof() is True
        wait_rewrite(r, 1)
        r.set("after", "rewrite")
        r.incr("s:int")
        r.rpush("l:lp", "tail")
        r.expire("s:emb", 5000)
        srv.stop()
        work = Path(tempfile.mkdtemp(prefix="valkey-aofin-"))
        shutil.copytree(aof_dir(srv), work / "appendonlydir")
        ref = start_ref("--appendonly", "yes", workdir=work)
        srv2 = start_ours("--appendonly", "yes", workdir=srv.dir)
        try:
            compare_datasets(srv2.client(), ref.client(), dbs=(0, 1))
            assert (srv2.client().execute_command("DEBUG", "DIGEST")
                    == ref.client().execute_command("DEBUG", "DIGEST"))
        finally:
            srv2.stop()
    finally:
        if srv.alive():
            srv.stop()
        if ref is not None:
            ref.stop()


@needs_valkey
@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_valkey_directory_loads_into_valkeyd(preamble):
    ref = start_valkey("--appendonly", "yes", "--appendfsync", "always",
                       "--aof-use-rdb-preamble", preamble)
    ours = None
    try:
        r = ref.client()
        populate(r, ref.client(db=1))
        assert r.bgrewriteaof() is True
        wait_rewrite(r, 1)
        r.set("after", "rewrite")
        r.lpush("l:ql", "head")
        work = Path(tempfile.mkdtemp(prefix="valkeyd-aofin-"))
        shutil.copytree(aof_dir(ref), work / "appendonlydir")
        ours = start_ours("--appendonly", "yes", workdir=work)
        compare_datasets(r, ours.client(), dbs=(0, 1))
        assert (ours.client().execute_command("DEBUG", "DIGEST")
                == r.execute_command("DEBUG", "DIGEST"))
    finally:
        ref.stop()
        if ours is not None:
            ours.stop()


# -- upgrade from a single-file AOF (Redis < 7) -----------------------------------------------

def _old_style_aof(preamble: str) -> tuple[bytes, Path]:
    """An old single-file AOF written from valkey-server's own files: its base (an RDB
    preamble, or commands) followed by its incr file, as Redis 6 wrote one file."""
    ref = start_valkey("--appendonly", "yes", "--appendfsync", "always",
                       "--aof-use-rdb-preamble", preamble)
    try:
        r = ref.client()
        populate(r, ref.client(db=1))
        assert r.bgrewriteaof() is True   # the dataset so far into the base
        wait_rewrite(r, 1)
        r.set("tail", "after the preamble")
        r.incr("s:int")
        m = Manifest.parse(manifest_bytes(ref))
        d = aof_dir(ref)
        data = (d / m.base[0]).read_bytes() + b"".join((d / f[0]).read_bytes() for f in m.incr)
    finally:
        ref.stop()
    return data, Path(ref.dir)


@needs_valkey
@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_upgrade_from_a_single_file_aof_like_valkey(preamble):
    data, _ = _old_style_aof(preamble)
    assert data[:5] == b"REDIS" if preamble == "yes" else data[:1] == b"*"
    dirs = [Path(tempfile.mkdtemp(prefix="valkeyd-upgrade-")) for _ in range(2)]
    for d in dirs:
        (d / "appendonly.aof").write_bytes(data)
    ours = start_ours("--appendonly", "yes", workdir=dirs[0])
    ref = start_ref("--appendonly", "yes", workdir=dirs[1])
    try:
        wait_ready(ours)
        wait_ready(ref)
        got = []
        for srv in (ours, ref):
            text = srv.log()
            assert ("Successfully migrated an old-style AOF file (appendonly.aof) into the AOF "
                    "directory (appendonlydir).") in text
            if preamble == "yes":
                assert "Reading RDB preamble from AOF file..." in text
                assert "Reading the remaining AOF tail..." in text
            got.append([manifest_bytes(srv), listing(srv),
                        sorted(p.name for p in Path(srv.dir).iterdir()
                               if p.name.startswith("appendonly"))])
        assert got[0] == got[1]
        assert got[0][0] == (b"file appendonly.aof seq 1 type b\n"
                             b"file appendonly.aof.1.incr.aof seq 1 type i\n")
        a, b = ref.client(), ours.client()
        compare_datasets(a, b, dbs=(0, 1))
        assert b.get("tail") == b"after the preamble"
        # the first rewrite retires the old file as history
        for srv in (ours, ref):
            c = srv.client()
            c.set("more", "1")
            assert c.bgrewriteaof() is True
            wait_rewrite(c, 1)
        assert manifest_bytes(ours) == manifest_bytes(ref)
        assert listing(ours) == listing(ref)
        assert "appendonly.aof" not in listing(ours)
    finally:
        ours.stop()
        ref.stop()


@needs_valkey
def test_interrupted_upgrade_is_completed_like_valkey():
    """The manifest was written but the old file not moved yet (aofUpgradePrepare's steps
    are idempotent): the upgrade is redone."""
    data, _ = _old_style_aof("yes")
    dirs = [Path(tempfile.mkdtemp(prefix="valkeyd-upgrade-")) for _ in range(2)]
    for d in dirs:
        (d / "appendonly.aof").write_bytes(data)
        (d / "appendonlydir").mkdir()
        (d / "appendonlydir" / "appendonly.aof.manifest").write_bytes(
            b"file appendonly.aof seq 1 type b\n")
    ours = start_ours("--appendonly", "yes", workdir=dirs[0])
    ref = start_ref("--appendonly", "yes", workdir=dirs[1])
    try:
        wait_ready(ours)
        wait_ready(ref)
        assert "Successfully migrated an old-style AOF file" in ours.log()
        assert manifest_bytes(ours) == manifest_bytes(ref)
        assert listing(ours) == listing(ref)
        compare_datasets(ref.client(), ours.client(), dbs=(0, 1))
    finally:
        ours.stop()
        ref.stop()


# -- DEBUG LOADAOF, INFO ----------------------------------------------------------------------

@needs_valkey
@pytest.mark.parametrize("appendonly", ["yes", "no"])
def test_debug_loadaof_like_valkey(appendonly):
    ours = start_ours("--appendonly", "yes", "--appendfsync", "always")
    ref = start_valkey("--appendonly", "yes", "--appendfsync", "always")
    try:
        got = []
        for srv in (ours, ref):
            r = srv.client()
            r.set("a", "1")
            r.rpush("l", 1, 2, 3)
            r.select(0)
            seq = [reply(r, "DEBUG", "LOADAOF")]
            seq.append((r.get("a"), r.lrange("l", 0, -1), r.dbsize()))
            r.set("volatile", "only in memory")
            inc = aof_dir(srv) / Manifest.parse(manifest_bytes(srv)).incr[-1][0]
            # a command written to the incr file by hand is loaded; the memory-only key
            # (removed from the file) is gone
            body = inc.read_bytes()
            buf: list = []
            cat_command(buf, [b"SET", b"volatile", b"only in memory"])
            assert body.endswith(b"".join(buf))
            buf2: list = []
            cat_command(buf2, [b"SET", b"by-hand", b"x"])
            inc.write_bytes(body[:-len(b"".join(buf))] + b"".join(buf2))
            if appendonly == "no":
                r.config_set("appendonly", "no")
            size = inc.stat().st_size
            seq.append(reply(r, "DEBUG", "LOADAOF"))
            seq.append((r.get("by-hand"), r.get("volatile"), r.dbsize()))
            seq.append(inc.stat().st_size == size)   # nothing was appended while loading
            seq.append(r.info("persistence")["rdb_changes_since_last_save"])
            got.append(seq)
        assert got[0] == got[1]
        assert got[0][0] == b"OK" and got[0][3] == (b"x", None, 3)
    finally:
        ours.stop()
        ref.stop()


def _aof_field_names(srv) -> list:
    text = srv.raw(b"INFO persistence\r\n").decode()
    names = [line.split(":")[0] for line in text.split("\r\n") if ":" in line]
    return names[names.index("aof_enabled"):]


@needs_valkey
@pytest.mark.parametrize("appendonly", ["yes", "no"])
def test_info_aof_fields_like_valkey(appendonly):
    ours = start_ours("--appendonly", appendonly, *SLOW)
    ref = start_valkey("--appendonly", appendonly, *SLOW)
    try:
        assert _aof_field_names(ours) == _aof_field_names(ref)
        for srv in (ours, ref):
            fill(srv.client(), 500)
            srv.client().bgrewriteaof()
        assert _aof_field_names(ours) == _aof_field_names(ref)
        vals = []
        for srv in (ours, ref):
            info = srv.client().info("persistence")
            vals.append({k: info[k] for k in ("aof_enabled", "aof_rewrite_in_progress",
                                              "aof_rewrite_scheduled", "aof_rewrites",
                                              "aof_last_bgrewrite_status",
                                              "aof_rewrites_consecutive_failures")})
        for srv in (ours, ref):
            wait_rewrite(srv.client())
        assert vals[0] == vals[1] and vals[0]["aof_rewrite_in_progress"] == 1
        if appendonly == "yes":
            a = ours.client().info("persistence")
            b = ref.client().info("persistence")
            # after a rewrite the base size is the size of the whole AOF then
            assert a["aof_base_size"] == a["aof_current_size"] > 0
            assert b["aof_base_size"] == b["aof_current_size"] > 0
    finally:
        ours.stop()
        ref.stop()


@needs_valkey
def test_aof_disable_auto_gc_keeps_history_like_valkey():
    ours = start_ours("--appendonly", "yes", "--aof-disable-auto-gc", "yes")
    ref = start_ref("--appendonly", "yes", "--aof-disable-auto-gc", "yes")
    try:
        got = []
        for srv in (ours, ref):
            r = srv.client()
            r.set("a", "1")
            for n in (1, 2):
                assert r.bgrewriteaof() is True
                wait_rewrite(r, n)
                r.set("b", n)
            seq = [manifest_bytes(srv), listing(srv)]
            r.config_set("aof-disable-auto-gc", "no")
            seq += [manifest_bytes(srv), listing(srv)]
            got.append(seq)
        assert got[0] == got[1]
        assert b"type h" in got[0][0] and b"type h" not in got[0][2]
        assert len(got[0][1]) == 7 and len(got[0][3]) == 3
    finally:
        ours.stop()
        ref.stop()


@needs_valkey
def test_bgrewriteaof_inside_multi_is_scheduled_like_valkey():
    ours = start_ours("--appendonly", "yes")
    ref = start_ref("--appendonly", "yes")
    try:
        got = []
        for srv in (ours, ref):
            out = srv.raw(b"MULTI\r\nBGREWRITEAOF\r\nEXEC\r\n", wait=0.3)
            r = srv.client()
            info = wait_rewrite(r, 1)
            got.append((out, info["aof_rewrites"], info["aof_last_bgrewrite_status"],
                        manifest_bytes(srv)))
        assert got[0] == got[1]
        assert got[0][0].endswith(b"*1\r\n+Background append only file rewriting scheduled\r\n")
    finally:
        ours.stop()
        ref.stop()


def test_incremental_fsync_every_4mb(monkeypatch, tmp_path):
    """aof-rewrite-incremental-fsync (rioSetAutoSync): the rewrite's file is fsynced every
    4 MB written, not only at the end."""
    from persistence.aof import _AutoSync
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_size))
    with open(tmp_path / "f", "wb") as fh:
        w = _AutoSync(fh)
        for _ in range(9):
            w.write(b"x" * (1 << 20))
    assert synced == [4 << 20, 8 << 20]


@needs_valkey
def test_rewrite_progress_and_cow_in_info_like_valkey():
    """current_save_keys_total / _processed and current_cow_* while the child runs, then
    aof_last_cow_size (the child info pipe shared with BGSAVE)."""
    ours = start_ours("--appendonly", "yes", *SLOW)
    ref = start_ref("--appendonly", "yes", *SLOW)
    try:
        got = []
        for srv in (ours, ref):
            r = srv.client()
            fill(r, 1500)
            r.bgrewriteaof()
            wait_for(lambda: r.info("persistence")["current_save_keys_processed"] > 0,
                     what="a progress report")
            info = r.info("persistence")
            got.append((info["current_save_keys_total"], info["aof_rewrite_in_progress"],
                        info["current_cow_size_age"] >= 0))
            info = wait_rewrite(r)
            got.append((info["current_save_keys_total"], info["current_save_keys_processed"],
                        info["current_cow_size"]))
        assert got[0] == got[2] == (1500, 1, True)
        assert got[1] == got[3] == (0, 0, 0)
        assert ours.client().info("persistence")["aof_last_cow_size"] > 0
    finally:
        ours.stop()
        ref.stop()
