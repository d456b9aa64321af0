"""Start real servers for the tests: valkeyd processes and, for comparisons, valkey-server.

Every test talks to a real process over TCP with redis-py (or raw sockets for protocol tests).
"""
from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Data files written by a real Redis 7.2.4 (../shared/fixtures beside the checkout; a git
# worktree one level further down during development).
FIXTURES = ROOT.parent / "shared" / "fixtures" / "redis-7.2.4"
if not FIXTURES.exists():
    FIXTURES = ROOT.parent.parent / "shared" / "fixtures" / "redis-7.2.4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0, logpath=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            log = Path(logpath).read_text() if logpath and Path(logpath).exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


class ServerProcess:
    """A running server. ``client()`` gives a redis-py client (RESP2 or RESP3)."""

    def __init__(self, argv, port, workdir, logpath, env=None):
        self.port = port
        self.dir = Path(workdir)
        self.logpath = Path(logpath)
        self.argv = argv
        self._logfh = open(logpath, "ab")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self._logfh,
                                     stderr=subprocess.STDOUT, env=env)
        wait_port(port, self.proc, logpath=logpath)

    @property
    def pid(self):
        return self.proc.pid

    def client(self, protocol: int = 2, **kw) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=protocol,
                           socket_timeout=30, **kw)

    def log(self) -> str:
        return self.logpath.read_text(errors="replace")

    def raw(self, data: bytes, wait: float = 0.3, expect_close: bool = False) -> bytes:
        """Send raw bytes and return whatever comes back within ``wait`` seconds."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(data)
            return read_until_quiet(s, wait)

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logfh.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def alive(self) -> bool:
        return self.proc.poll() is None


def read_until_quiet(s: socket.socket, wait: float) -> bytes:
    s.settimeout(wait)
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def start_valkeyd(*args: str, workdir=None, config_text: str | None = None,
                  engine: str | None = None, port: int | None = None) -> ServerProcess:
    """Start ``valkeyd serve`` with the given ``--directive value`` arguments. The engine
    defaults to $VALKEYD_ENGINE (memory when unset), so a whole test file can run on lmdb;
    ``engine=""`` passes no --engine (the config file decides)."""
    if engine is None:
        engine = os.environ.get("VALKEYD_ENGINE") or "memory"
    workdir = workdir or tempfile.mkdtemp(prefix="valkeyd-test-")
    port = port or free_port()
    argv = [sys.executable, "-m", "valkeyd", "serve"]
    if config_text is not None:
        cfg = Path(workdir) / "valkeyd.conf"
        cfg.write_text(config_text)
        argv.append(str(cfg))
    argv += ["--port", str(port), "--dir", str(workdir)] + (["--engine", engine] if engine else [])
    argv += list(args)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return ServerProcess(argv, port, workdir, Path(workdir) / "valkeyd.log", env=env)


def valkey_server_path() -> str | None:
    return shutil.which("valkey-server")


def start_valkey(*args: str, workdir=None) -> ServerProcess:
    """Start a real valkey-server 8.0 (the reference) on a free loopback port."""
    exe = valkey_server_path()
    if exe is None:
        raise RuntimeError("valkey-server is not installed (run .ci/install-system-deps)")
    workdir = workdir or tempfile.mkdtemp(prefix="valkey-ref-")
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--save", "", "--appendonly", "no", "--enable-debug-command", "yes"] + list(args)
    return ServerProcess(argv, port, workdir, Path(workdir) / "valkey.log")


def reply_or_error(client, *args):
    """A command's reply, or its error text prefixed with "ERR!" (to compare two servers)."""
    try:
        return client.execute_command(*args)
    except redis.ResponseError as e:
        return "ERR!" + str(e)


def same_reply(ours, ref, *args):
    """Run one command on valkeyd and on the reference server; the replies must be equal."""
    a, b = reply_or_error(ours, *args), reply_or_error(ref, *args)
    assert a == b, (args, a, b)
    return a



class RawClient:
    """A raw RESP client, for comparing exact reply bytes (``proto`` 3 sends HELLO 3 first).
    Arguments may be bytes, str (sent as latin-1, so "\xff" is one byte), int or float."""

    def __init__(self, port: int, proto: int = 2):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.sock.makefile("rb")
        self.proto = proto
        if proto == 3:
            assert self.cmd("HELLO", "3")[:1] == b"%"

    def send(self, *args) -> None:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, (int, float)):
                a = str(a)
            if isinstance(a, str):
                a = a.encode("latin-1")
            out.append(b"$%d\r\n%b\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def cmd(self, *args) -> bytes:
        self.send(*args)
        return self.read()

    def read(self) -> bytes:
        """One whole reply, as the bytes that came over the wire."""
        line = self.f.readline()
        t = line[:1]
        if t in b"+-:,#_(":
            return line
        if t in b"$=!":
            n = int(line[1:-2])
            return line if n < 0 else line + self.f.read(n + 2)
        if t in b"*~>%|":
            n = int(line[1:-2])
            if n < 0:
                return line
            if t in b"%|":
                n *= 2
            return line + b"".join(self.read() for _ in range(n))
        raise AssertionError(f"bad reply line {line!r}")

    def close(self):
        self.f.close()
        self.sock.close()


def same_raw(pair, *args) -> bytes:
    """Send one command to both raw clients of ``pair`` (valkeyd, reference); the reply bytes
    must be equal."""
    ours, theirs = pair
    x, y = ours.cmd(*args), theirs.cmd(*args)
    assert x == y, f"{args!r}: valkeyd {x!r} != reference {y!r}"
    return x


def aof_commands(workdir) -> list[list[bytes]]:
    """The commands of the AOF in ``workdir`` (the incr files of a multi-part AOF, else
    a single .aof file), without SELECT."""
    files = sorted(glob.glob(os.path.join(workdir, "appendonlydir", "*.incr.aof")))
    if not files:
        files = glob.glob(os.path.join(workdir, "*.aof"))
    data = b"".join(open(f, "rb").read() for f in files)
    cmds, pos = [], 0
    while pos < len(data):
        assert data[pos:pos + 1] == b"*", data[pos:pos + 40]
        nl = data.index(b"\r\n", pos)
        n = int(data[pos + 1:nl])
        pos = nl + 2
        args = []
        for _ in range(n):
            nl = data.index(b"\r\n", pos)
            ln = int(data[pos + 1:nl])
            args.append(data[nl + 2:nl + 2 + ln])
            pos = nl + 4 + ln
        cmds.append(args)
    return [c for c in cmds if c[0].upper() != b"SELECT"]


# -- in-process servers (no sockets): for checks a wire test cannot see ---------------------------
class RecordingTransport:
    """Stands in for a client's asyncio transport: keeps what was written."""

    def __init__(self):
        self.data: list[bytes] = []
        self.closed = False

    def write(self, b):
        self.data.append(bytes(b))

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name):
        return None


def inproc_server(prop=lambda dbid, argv: [bytes(a) for a in argv],
                  event=lambda cls, ev, key, dbid: (cls, ev, key), config=None):
    """A :class:`valkeyd.server.Server` in this process. Returns ``(server, props, events)``:
    every propagated write is appended to ``props`` as ``prop(dbid, argv)`` and every keyspace
    event to ``events`` as ``event(class, name, key, dbid)``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import valkeyd.commands  # noqa: F401  (registers the commands)
    from valkeyd.config import Config
    from valkeyd.server import Server

    srv = Server(config or Config())
    props: list = []
    events: list = []
    srv.propagate_hooks.append(lambda dbid, argv: props.append(prop(dbid, argv)))
    srv.notify_hook = lambda cls, ev, key, dbid: events.append(event(cls, ev, key, dbid))
    return srv, props, events


def inproc_client(srv):
    """An authenticated client of an :func:`inproc_server`; its writes go to a
    :class:`RecordingTransport`. Run a command with ``client.execute([b"SET", b"k", b"v"])``;
    its reply is in ``client.out`` (until ``client.flush()``)."""
    from valkeyd.client import Client

    c = Client(srv)
    c.transport = RecordingTransport()
    c.authenticated = True
    return c


def run_with_tty_stderr(argv, env=None, cwd=None, timeout=60):
    """Run ``argv`` with standard error on a pseudo-terminal (what a user at a terminal sees:
    progress bars) and standard output on a pipe; returns (returncode, stdout, stderr)."""
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=cwd,
                           timeout=timeout)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:   # EIO once the terminal's other side is closed
                break
            if not b:
                break
            chunks.append(b)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return p.returncode, p.stdout, b"".join(chunks)


REDIS_MIRROR = Path("/work/.mirror/redis+redis/repo")


def redis_test_asset(name: str) -> bytes:
    """One of Redis 7.2.4's tests/assets files from the local Redis source mirror (a
    developer machine's); the test is skipped, and reported so, where there is none."""
    import pytest
    if not REDIS_MIRROR.exists():
        pytest.skip("the Redis source mirror is not on this machine")
    try:
        return subprocess.run(["git", "-C", str(REDIS_MIRROR), "show",
                               f"7.2.4:tests/assets/{name}"], capture_output=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("asset not available")


def lzf_edge_strings() -> list:
    """Strings (21-80 bytes) whose LZF output is 3, 4 and 5 bytes shorter than themselves:
    rdbSaveLzfStringObject keeps a compressed string only when it saves more than 4 bytes."""
    import lzf
    rnd = random.Random(5)
    found: dict = {}
    while len(found) < 3:
        n = rnd.randrange(21, 80)
        s = bytearray(rnd.randbytes(n))
        ln = rnd.randrange(3, 12)
        a, b = rnd.randrange(n - ln), rnd.randrange(n - ln)
        s[b:b + ln] = s[a:a + ln]
        c = lzf.compress(bytes(s))
        if c is not None and n - len(c) in (3, 4, 5):
            found.setdefault(n - len(c), bytes(s))
    return [found[d] for d in sorted(found)]
