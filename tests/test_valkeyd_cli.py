"""``valkeyd cli`` (valkeyd/cli_client.py) against the real valkey-cli.

Every output test runs ``python -m valkeyd cli`` and ``valkey-cli`` with the same options
against the same server (a real valkey-server, and valkeyd) and compares standard output,
standard error and exit status byte for byte. valkey-cli says "Valkey" and "valkey-cli" where
redis-cli 7.2.4 (our model) says "Redis" and "redis-cli"; those words are normalised. A corpus
of commands is piped through standard input (both tools then read one command per line), in
the human (--no-raw), raw and RESP3 formats. Interactive mode is driven through a
pseudo-terminal, and the transcripts of both tools are compared.
"""
from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import redis

from harness import IN_CI, ROOT, free_port, start_valkey, start_valkeyd

VALKEY_CLI = shutil.which("valkey-cli")


def need_valkey_cli():
    if VALKEY_CLI is None:
        if IN_CI:
            pytest.fail("valkey-cli is required in CI")
        pytest.skip("valkey-cli not installed")


def _env(extra=None, drop=("FAKETTY", "REDISCLI_AUTH")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def ours(*args, input=None, env=None, timeout=30):
    return subprocess.run([sys.executable, "-m", "valkeyd", "cli", *args], input=input,
                          capture_output=True, env=_env(env), timeout=timeout)


def theirs(*args, input=None, env=None, timeout=30):
    need_valkey_cli()
    return subprocess.run([VALKEY_CLI, *args], input=input, capture_output=True,
                          env=_env(env), timeout=timeout)


def norm(b: bytes) -> bytes:
    return b.replace(b"Valkey", b"Redis").replace(b"valkey-cli", b"redis-cli")


def same(*args, input=None, env=None, before=None):
    """Run both tools; stdout, stderr and the exit status must be the same. ``before()`` runs
    before each tool (to reset the data a command changes)."""
    if before:
        before()
    b = theirs(*args, input=input, env=env)
    if before:
        before()
    a = ours(*args, input=input, env=env)
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, norm(b.stdout),
                                                  norm(b.stderr)), args
    return a


CORPUS = rb"""flushall
set s "a\"b\\c\x00\xc3\xa9\t\r\n\x7f end"
get s
get missing
append s2 'single \'quoted\''
get s2
rpush big 1 2 3 4 5 6 7 8 9 10 11 12
lrange big 0 -1
lrange big 0 2
lrange nolist 0 -1
hset h f1 v1 f2 v2
hgetall h
hgetall nothere
smembers nothere
sadd set1 only
smembers set1
zadd z 1.5 a 2 b 3.25 c
zrange z 0 -1 withscores
zscore z a
zscore z nomember
incrbyfloat f 0.1
eval "return {1,{2,{3,'x'},{}},'y',false,true}" 0
eval "return {1,{2,{3,{4,{5,{6,{7,{8,{9,{10,{11,'deep'}}}}}}}}}}}" 0
eval "redis.setresp(3); return redis.call('hgetall', KEYS[1])" 1 h
eval "return {double=3.5}" 0
eval "return {err='My error'}" 0
eval "return redis.status_reply('FINE')" 0
eval "return 'multi\nline'" 0
xadd st 1-1 a 1 b 2
xadd st 2-1 c 3
xrange st - +
type h
lpush h x
multi
incr n
set s3 v
exec
multi
incr h
ping
exec
discard
info keyspace
config get maxmemory-policy
"unbalanced
3 ping
set "" empty
get ""
   
exists s s2 missing
del s s2
select 3
set in3 yes
dbsize
""" + b'set allbytes "' + b"".join(b"\\x%02x" % i for i in range(256)) + b'"\nget allbytes\n'

MODES = [["--no-raw"], ["--raw"], [], ["-3", "--no-raw"], ["-3"], ["-3", "--raw"],
         ["-d", "|", "-D", "<>"], ["--csv"], ["-3", "--csv"], ["--json"], ["-2", "--json"],
         ["--quoted-json"]]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: " ".join(m) or "default")
def test_piped_corpus_matches_valkey_cli(ref, mode):
    same("-p", str(ref.port), *mode, input=CORPUS)


@pytest.mark.parametrize("mode", [["--no-raw"], ["-3", "--no-raw"], ["--raw"]],
                         ids=lambda m: " ".join(m))
def test_piped_corpus_on_valkeyd(server, mode):
    same("-p", str(server.port), *mode, input=CORPUS)


def test_xinfo_nested_map_value(ref):
    """A multi-line map value starts on its own line (cliIsMultilineValueTTY)."""
    c = ref.client()
    c.flushall()
    c.xadd("st", {"a": 1, "b": 2}, id="1-1")
    c.xadd("st", {"c": 3}, id="2-1")
    out = same("-p", str(ref.port), "-3", "--no-raw", "xinfo", "stream", "st").stdout
    assert b' 9# "first-entry" => \n    1) "1-1"\n' in out


RESP3_TYPES = ["map", "set", "double", "true", "false", "verbatim", "null", "push", "bignum",
               "attrib"]


@pytest.mark.parametrize("proto", ["-2", "-3"])
@pytest.mark.parametrize("fmt", ["--no-raw", "--raw", "--csv", "--json", "--quoted-json"])
def test_debug_protocol_types(ref, proto, fmt):
    """Every RESP3 type, including those redis-cli 7.2.4 cannot show (a big number: "Unknown
    reply type: 13", exit 1; an attribute: protocol error, exit 1)."""
    for t in RESP3_TYPES:
        same("-p", str(ref.port), proto, fmt, "debug", "protocol", t)


def test_pushes_shown_on_a_terminal(ref):
    """FAKETTY makes both tools act as if standard output were a terminal: human format and
    RESP3 push messages printed (--show-pushes no hides them)."""
    port = str(ref.port)
    # the push follows the reply: the next command's reply shows it first
    lines = b"debug protocol push\nping\n"
    a = same("-p", port, "-3", input=lines, env={"FAKETTY": "1"})
    assert b"server-cpu-usage" in a.stdout
    a = same("-p", port, "-3", "--show-pushes", "no", input=lines, env={"FAKETTY": "1"})
    assert b"server-cpu-usage" not in a.stdout
    a = same("-p", port, "-3", "--no-raw", input=lines)   # not a terminal: no pushes
    assert b"server-cpu-usage" not in a.stdout
    same("-p", port, "lrange", "nolist", "0", "-1", env={"FAKETTY": "1"})


def test_one_shot_commands(ref):
    port = str(ref.port)
    c = ref.client()

    def reset():
        c.flushall()
        c.rpush("l", "a", "b", "c")
        c.set("k", "x\ny")
        c.set("fromstdin", "line1\nline2\n")

    assert same("-p", port, "ping", before=reset).stdout == b"PONG\n"
    same("-p", port, "--no-raw", "get", "nokey", before=reset)
    same("-p", port, "get", "nokey", before=reset)
    same("-p", port, "--no-raw", "set", "k", "x\ny", before=reset)
    same("-p", port, "--no-raw", "get", "k", before=reset)
    same("-p", port, "rpush", "l", "a", "b", "c", before=reset)
    same("-p", port, "-d", ",", "lrange", "l", "0", "-1", before=reset)
    same("-p", port, "--no-raw", "lrange", "l", "0", "-1", before=reset)
    # an error reply is still exit status 0; -e makes it 1 with the error on stderr
    a = same("-p", port, "--no-raw", "nosuchcommand", "x", before=reset)
    assert a.returncode == 0 and a.stdout.startswith(b"(error) ERR unknown command")
    a = same("-p", port, "nosuchcommand", before=reset)
    assert a.stdout.startswith(b"ERR unknown command")
    a = same("-p", port, "-e", "nosuchcommand", before=reset)
    assert a.returncode == 1 and a.stderr.startswith(b"ERR unknown command")
    same("-p", port, "-e", "ping", before=reset)
    # -r / -i repeat, -x reads the last argument from stdin, -X a tagged one
    same("-p", port, "-r", "3", "-i", "0.01", "incr", "counter", before=reset)
    same("-p", port, "-x", "set", "fromstdin", input=b"line1\nline2\n", before=reset)
    same("-p", port, "--no-raw", "get", "fromstdin", before=reset)
    same("-p", port, "-X", "TAG", "set", "TAG", "v", input=b"tagged-key", before=reset)
    same("-p", port, "-X", "TAG", "set", "k", "v", input=b"x", before=reset)
    same("-p", port, "--no-raw", "info", "keyspace", before=reset)
    same("-p", port, "--quoted-input", "set", '"a\\x00b"', "'it''s'", before=reset)
    same("-p", port, "--quoted-input", "--no-raw", "set", '"q\\tk"', '"v\\n"', before=reset)
    same("-p", port, "--quoted-input", "get", "two words", before=reset)
    same("-p", port, "--quoted-input", "get", '"unbalanced', before=reset)
    same("-p", port, "--bad-option", before=reset)
    same("-p", port, "-2", "-3", "ping", before=reset)
    same("-p", "70000", "ping", before=reset)


def test_select_db(ref, server):
    for srv in (ref, server):
        port = str(srv.port)
        srv.client().flushall()
        same("-p", port, "-n", "3", "set", "where", "db3")
        assert srv.client(db=3).get("where") == b"db3"
        assert srv.client(db=0).get("where") is None
        same("-p", port, "-n", "3", "--no-raw", "get", "where")
        same("-p", port, "-n", "99", "get", "where")   # SELECT 99 failed: ..., then db 0
        same("-u", f"redis://127.0.0.1:{port}/4", "set", "uri", "db4")
        assert srv.client(db=4).get("uri") == b"db4"


def test_connection_refused():
    port = str(free_port())
    a = ours("-p", port, "ping")
    assert a.returncode == 1
    assert a.stdout == b""
    assert a.stderr == b"Could not connect to Redis at 127.0.0.1:%s: Connection refused\n" % (
        port.encode())
    if VALKEY_CLI:
        same("-p", port, "ping")
        same("-p", port, "-e", "get", "x")


def test_healthcheck_valkeyd(server):
    a = ours("-p", str(server.port), "ping")
    assert (a.returncode, a.stdout, a.stderr) == (0, b"PONG\n", b"")
    a = ours("-h", "127.0.0.1", "-p", str(server.port), "--no-raw", "ping")
    assert a.stdout == b"PONG\n"


@pytest.fixture(scope="module")
def auth_ref():
    s = start_valkey("--requirepass", "s3cret")
    c = s.client(password="s3cret")
    c.execute_command("ACL", "SETUSER", "alice", "on", ">alice pw", "~*", "&*", "+@all")
    c.close()
    yield s
    s.stop()


def test_auth_valkey_server(auth_ref):
    port = str(auth_ref.port)
    same("-p", port, "--no-raw", "ping")                  # NOAUTH
    same("-p", port, "-a", "s3cret", "ping")
    same("-p", port, "--pass", "s3cret", "--no-auth-warning", "set", "k", "v")
    same("-p", port, "-a", "wrong", "--no-raw", "ping")   # AUTH failed + NOAUTH, exit 0
    same("-p", port, "--user", "alice", "--pass", "alice pw", "--no-raw", "acl", "whoami")
    same("-p", port, "--user", "alice", "-a", "nope", "acl", "whoami")
    same("-u", f"redis://alice:alice%20pw@127.0.0.1:{port}", "acl", "whoami")
    same("-u", f"redis://s3cret@127.0.0.1:{port}/2", "--no-raw", "set", "k2", "v")
    same("-p", port, "acl", "whoami", env={"REDISCLI_AUTH": "s3cret"})
    same("-u", "http://x", "ping")
    a = ours("-p", port, "--user", "alice", "--pass", "alice pw", "acl", "whoami")
    assert a.stdout == b"alice\n" and a.returncode == 0


def test_auth_valkeyd():
    sock = tempfile.mkdtemp(prefix="vcli-") + "/v.sock"
    s = start_valkeyd("--requirepass", "pw1", "--save", "", "--unixsocket", sock)
    try:
        port = str(s.port)
        a = same("-s", sock, "-a", "pw1", "--no-auth-warning", "ping")
        assert a.stdout == b"PONG\n"
        same("-s", sock + ".missing", "ping")
        same("-p", port, "--no-raw", "ping")
        a = same("-p", port, "-a", "pw1", "--no-raw", "set", "k", "v")
        assert a.stdout == b"OK\n"
        same("-p", port, "-a", "bad", "ping")
        same("-p", port, "--user", "default", "--pass", "pw1", "get", "k")
        same("-p", port, "-u", f"redis://default:pw1@127.0.0.1:{port}/1", "set", "k1", "v")
        assert s.client(password="pw1", db=1).get("k1") == b"v"
        # --askpass reads the password from the terminal, without echo
        t = Pty([sys.executable, "-m", "valkeyd", "cli", "-p", port, "--askpass", "ping"],
                _env({"TERM": "dumb"}))
        t.expect(b"Please input password: ")
        t.send("pw1")
        assert b"pw1" not in t.expect(b"PONG\r\n")
        assert t.wait() == 0
    finally:
        s.stop()


def test_pubsub_one_shot(ref):
    """SUBSCRIBE keeps printing messages (raw: one field a line) until interrupted."""
    p = subprocess.Popen([sys.executable, "-m", "valkeyd", "cli", "-p", str(ref.port),
                          "subscribe", "chan"], stdout=subprocess.PIPE, env=_env())
    try:
        got = b""
        c = ref.client()
        deadline = time.time() + 20
        while time.time() < deadline and b"hello" not in got:
            c.publish("chan", "hello")
            r, _, _ = select.select([p.stdout], [], [], 0.3)
            if r:
                got += os.read(p.stdout.fileno(), 4096)
        assert got.startswith(b"subscribe\nchan\n1\n")
        assert b"message\nchan\nhello\n" in got
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)


def test_monitor_one_shot(ref):
    p = subprocess.Popen([sys.executable, "-m", "valkeyd", "cli", "-p", str(ref.port),
                          "monitor"], stdout=subprocess.PIPE, env=_env())
    try:
        got = b""
        c = ref.client()
        deadline = time.time() + 20
        while time.time() < deadline and b'"monitored"' not in got:
            c.set("monitored", "1")
            r, _, _ = select.select([p.stdout], [], [], 0.3)
            if r:
                got += os.read(p.stdout.fileno(), 4096)
        assert got.startswith(b"OK\n")
        assert re.search(rb'\n\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "(?i:set)" "monitored" "1"\n', got)
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0


# ---------------------------------------------------------------------------------------------
# Interactive mode through a pseudo-terminal


class Pty:
    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:   # pragma: no cover - the child
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.out = b""

    def expect(self, what, timeout: float = 15.0) -> bytes:
        """Read until ``what`` (bytes, or a compiled regex) appears; return the output up to
        its end and keep the rest."""
        deadline = time.time() + timeout
        find = what.search if hasattr(what, "search") else (
            lambda buf: re.search(re.escape(what), buf))
        while True:
            m = find(self.out)
            if m:
                break
            left = deadline - time.time()
            assert left > 0, (what, self.out)
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                assert data, (what, self.out)
                self.out += data
        seen, self.out = self.out[:m.end()], self.out[m.end():]
        return seen

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    self.out += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the cli did not exit")


def interactive(port, tmp_path, *args):
    env = _env({"TERM": "dumb", "HOME": str(tmp_path),
                "REDISCLI_HISTFILE": str(tmp_path / "hist")})
    return Pty([sys.executable, "-m", "valkeyd", "cli", "-p", str(port), *args], env)


PROMPT = re.compile(rb"(?:^|\n)(?:127\.0\.0\.1:\d+(?:\[\d+\])?(?:\(TX\))?|not connected)> ")


def transcript(argv, steps, tmp_path, name):
    """Drive an interactive cli: wait for the first prompt, then for each step send the line
    (and wait for the next prompt) or call the function. Returns (exit status, all output)."""
    home = tmp_path / name
    home.mkdir()
    env = _env({"TERM": "dumb", "HOME": str(home), "REDISCLI_HISTFILE": str(home / "hist"),
                "VALKEYCLI_HISTFILE": str(home / "hist")})
    t = Pty(argv, env)
    log = t.expect(PROMPT)
    for step in steps:
        if callable(step):
            step()
            continue
        t.send(step)
        if step in ("quit", "exit"):
            rc = t.wait()
            out = norm(log + t.out)
            # whether the terminal's echo of the last line is read before the pty closes is
            # a race (valkey-cli exits faster): compare the transcripts without it
            echo = step.encode() + b"\r\n"
            return rc, out[:-len(echo)] if out.endswith(echo) else out
        log += t.expect(PROMPT)
    os.write(t.fd, b"\x04")
    rc = t.wait()
    return rc, norm(log + t.out)


def both_interactive(port, steps, tmp_path, *args):
    need_valkey_cli()
    a = transcript([sys.executable, "-m", "valkeyd", "cli", "-p", str(port), *args], steps,
                   tmp_path, "ours")
    b = transcript([VALKEY_CLI, "-p", str(port), *args], steps, tmp_path, "theirs")

    def same_drop(t):
        # A killed link reads as EOF or as ECONNRESET depending on the timing of the
        # server's close: hiredis then says one or the other, in either tool.
        return t[0], t[1].replace(b"Error: Connection reset by peer",
                                  b"Error: Server closed the connection")
    assert same_drop(a) == same_drop(b)
    return a


def test_interactive_matches_valkey_cli(server, tmp_path):
    c = server.client()
    steps = [c.flushall, "set greeting 'hello world'", "get greeting", "rpush l a b",
             "lrange l 0 -1", "select 2", "get greeting", "multi", "incr n", "exec",
             '"unbalanced', "2 incr n", "0 incr n", "hgetall nokey", "discard",
             "auth secret-password", "set \"\" '\\x00'", "quit"]
    rc, out = both_interactive(server.port, steps, tmp_path)
    assert rc == 0
    p = b"127.0.0.1:%d" % server.port
    assert p + b'> get greeting\r\n"hello world"\r\n' in out
    assert b'1) "a"\r\n2) "b"\r\n' in out
    assert p + b"[2]> get greeting\r\n(nil)\r\n" in out
    assert p + b"[2](TX)> incr n\r\nQUEUED\r\n" in out
    assert b"exec\r\n1) (integer) 1\r\n" + p + b"[2]> " in out
    assert b"Invalid argument(s)\r\n" in out
    assert b"(integer) 2\r\n(integer) 3\r\n" in out
    assert b"Invalid redis-cli repeat command option value.\r\n" in out
    assert server.client(db=2).get("n") == b"3"
    for name in ("ours", "theirs"):
        hist = (tmp_path / name / "hist").read_text()
        assert "set greeting 'hello world'" in hist and "select 2" in hist
        assert "secret-password" not in hist   # AUTH is never saved


def test_interactive_history_recall(server, tmp_path):
    """The history file is loaded at start: the up arrow brings back its last line."""
    (tmp_path / "hist").write_text("set recalled yes\necho from-history\n")
    env = _env({"TERM": "dumb", "HOME": str(tmp_path),
                "REDISCLI_HISTFILE": str(tmp_path / "hist")})
    t = Pty([sys.executable, "-m", "valkeyd", "cli", "-p", str(server.port)], env)
    t.expect(PROMPT)
    os.write(t.fd, b"\x1b[A\r")
    assert b'"from-history"\r\n' in t.expect(PROMPT)
    t.send("quit")
    assert t.wait() == 0
    assert (tmp_path / "hist").read_text().splitlines()[-1] == "quit"


def test_interactive_help(server, tmp_path):
    rc, out = transcript([sys.executable, "-m", "valkeyd", "cli", "-p", str(server.port)],
                         ["help", "help get", "quit"], tmp_path, "help")
    assert rc == 0
    assert b'"quit" to exit' in out
    assert b"\n  GET\r\n" in out and b"  group: string\r\n" in out


def test_interactive_reconnects(server, tmp_path):
    def kill():
        server.client().execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")

    steps = ["client setname victim", kill, "ping", "ping", "dbsize", "exit"]
    rc, out = both_interactive(server.port, steps, tmp_path, "-n", "1")
    assert rc == 0
    p = b"127.0.0.1:%d[1]> " % server.port
    # the first command after the link dropped reports it; the next one reconnects (db 1)
    assert re.search(re.escape(p) + rb"ping\r\nError: (Server closed the connection|Connection "
                     rb"reset by peer)\r\nnot connected> ping\r\nPONG\r\n" + re.escape(p), out)


def test_interactive_subscribe(server, tmp_path):
    """SUBSCRIBE shows the messages until a key is pressed; the prompt then says
    "(subscribed mode)" (until RESET, as in redis-cli)."""
    env = _env({"TERM": "dumb", "HOME": str(tmp_path), "REDISCLI_HISTFILE": "/dev/null"})
    t = Pty([sys.executable, "-m", "valkeyd", "cli", "-p", str(server.port)], env)
    p = b"127.0.0.1:%d" % server.port
    t.expect(p + b"> ")
    t.send("subscribe ch1 ch2")
    out = t.expect(b"Reading messages... (press Ctrl-C to quit or any key to type command)\r")
    assert b'1) "subscribe"\r\n2) "ch1"\r\n3) (integer) 1\r\n' in out
    assert b'1) "subscribe"\r\n2) "ch2"\r\n3) (integer) 2\r\n' in out
    c = server.client()
    deadline = time.time() + 15
    while c.publish("ch2", "hello") == 0:   # the subscription is in place before the reply
        assert time.time() < deadline
    out = t.expect(b'3) "hello"\r\n')
    assert b'1) "message"\r\n2) "ch2"\r\n3) "hello"\r\n' in out
    os.write(t.fd, b" ")
    t.expect(p + b"(subscribed mode)> ")
    t.send("ping")
    t.expect(b"Reading messages")
    os.write(t.fd, b" ")
    t.expect(p + b"(subscribed mode)> ")
    t.send("reset")
    assert b"RESET\r\n" in t.expect(p + b"> ")
    t.send("quit")
    assert t.wait() == 0


def test_interactive_not_connected(tmp_path):
    port = free_port()
    t = interactive(port, tmp_path)
    t.expect(b"not connected> ")
    t.send("ping")
    assert b"Could not connect to Redis at 127.0.0.1:%d: Connection refused" % port in \
        t.expect(b"not connected> ")
    t.send("quit")
    assert t.wait() == 0


def test_interactive_eof_exits(server, tmp_path):
    t = interactive(server.port, tmp_path)
    t.expect(b"> ")
    os.write(t.fd, b"\x04")
    assert t.wait() == 0


def test_redis_py_sees_cli_writes(server):
    """The values written by the cli are the bytes given (escapes, binary, empty)."""
    r = redis.Redis(port=server.port)
    r.flushall()
    ours("-p", str(server.port), "set", "bin", "\x01\x02 é")
    assert r.get("bin") == "\x01\x02 é".encode()
    ours("-p", str(server.port), input=b'set esc "a\\x00b\\n"\n')
    assert r.get("esc") == b"a\x00b\n"
