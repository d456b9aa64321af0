"""Startup and shutdown of real valkeyd processes: config files, command-line overrides, fatal
configuration errors (compared with the real valkey-server), pidfile, logfile, unix socket,
daemonize, bind, protected mode, SIGTERM."""
from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from harness import ROOT, free_port, start_valkeyd, valkey_server_path, wait_port

LOG_LINE = re.compile(r"^\d+:[MSCX] \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3} [.\-*#] .+$")


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_valkeyd(*args, cwd=None, stdin=None, timeout=20):
    """Run ``valkeyd serve`` expecting it to exit (a refused configuration)."""
    return subprocess.run([sys.executable, "-m", "valkeyd", "serve", *args], cwd=cwd,
                          input=stdin, capture_output=True, text=True, env=env(),
                          timeout=timeout)


def run_valkey(*args, cwd=None, timeout=20):
    exe = valkey_server_path()
    if exe is None:
        pytest.skip("valkey-server not installed")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def spawn(args, cwd, stdin_text=None, logname="out.log"):
    """Start a long-running valkeyd with exactly these arguments."""
    fh = open(Path(cwd) / logname, "ab")
    p = subprocess.Popen([sys.executable, "-m", "valkeyd", "serve", *args], cwd=cwd,
                         stdin=subprocess.PIPE if stdin_text is not None else None,
                         stdout=fh, stderr=subprocess.STDOUT, env=env())
    if stdin_text is not None:
        p.stdin.write(stdin_text.encode())
        p.stdin.close()
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


# -- fatal configuration errors --------------------------------------------------------------

# Where Valkey 8 reworded a Redis 7.2.4 message (config.c setConfigReplicaOfOption).
VALKEY_WORDING = {"Invalid primary port": "Invalid master port"}


def _same_error(tmp, args, files=None):
    """valkeyd and valkey-server refuse the same configuration with the same text."""
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    mine = run_valkeyd(*args, cwd=tmp)
    ref = run_valkey(*args, cwd=tmp)
    assert mine.returncode == 1 and ref.returncode == 1
    assert mine.stderr.startswith("\n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\n")
    expected = ref.stderr.replace("(Version 8.0.1)", "(Redis 7.2.4)")
    for valkey_text, redis_text in VALKEY_WORDING.items():  # Redis 7.2.4 wins
        expected = expected.replace(valkey_text, redis_text)
    assert mine.stderr == expected
    return mine.stderr


def test_bad_directive_in_file(tmp):
    err = _same_error(tmp, ["bad.conf"], {"bad.conf": "# comment\nport 0\n\nnosuchthing 1 2\n"})
    assert err.endswith("Reading the configuration file, at line 4\n>>> 'nosuchthing 1 2'\n"
                        "Bad directive or wrong number of arguments\n")


def test_bad_directive_on_command_line(tmp):
    err = _same_error(tmp, ["--port", "0", "--foo", "bar"])
    assert ">>> 'foo \"bar\"'" in err and "at line 3" in err


def test_bad_values_same_messages(tmp):
    cases = [
        ["--port", "0", "--maxmemory", "abc"],
        ["--port", "0", "--hz"],
        ["--port", "0", "--hz", "1", "2"],
        ["--port", "0", "--appendonly", "maybe"],
        ["--port", "0", "--loglevel", "loud"],
        ["--port", "0", "--databases", "0"],
        ["--port", "0", "--save", "1", "2", "3"],
        ["--port", "0", "--maxmemory-clients", "200%"],
        ["--port", "0", "--unixsocketperm", "999"],
        ["--port", "0", "--notify-keyspace-events", "Q"],
        ["--port", "0", "--client-output-buffer-limit", "master 1 1 1"],
        ["--port", "0", "--oom-score-adj-values", "1 2"],
        ["--port", "0", "--shutdown-on-sigterm", "save nosave"],
        ["--port", "0", "--dbfilename", "a/b.rdb"],
        ["--port", "0", "--timeout", "-1"],
        ["--port", "0", "--replicaof", "host", "notaport"],
    ]
    for args in cases:
        _same_error(tmp, args)


def test_unbalanced_quotes(tmp):
    err = _same_error(tmp, ["q.conf"], {"q.conf": 'port 0\nrequirepass "abc\n'})
    assert err.endswith("Unbalanced quotes in configuration line\n")


def test_bad_line_in_included_file_reports_its_line(tmp):
    (tmp / "inc.conf").write_text("maxmemory 10mb\nbogus\n")
    err = _same_error(tmp, ["main.conf"], {"main.conf": "port 0\ninclude inc.conf\n"})
    assert "at line 2\n>>> 'bogus'" in err


def test_unopenable_logfile(tmp):
    r = run_valkeyd("--port", "0", "--logfile", str(tmp / "no" / "such" / "dir.log"))
    assert r.returncode == 1
    assert r.stderr == ("\n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\n"
                        "Can't open the log file: No such file or directory\n")


def test_missing_config_file(tmp):
    r = run_valkeyd(str(tmp / "missing.conf"), cwd=tmp)
    assert r.returncode == 1
    assert ("# Fatal error, can't open config file '%s': No such file or directory"
            % (tmp / "missing.conf")) in r.stdout


def test_rename_unknown_command_is_fatal(tmp):
    r = run_valkeyd("--port", "0", "--rename-command", "nosuchcmd", "x")
    assert r.returncode == 1
    assert r.stderr.endswith("No such command in rename-command\n")


def test_not_listening_anywhere(tmp):
    r = run_valkeyd("--port", "0", cwd=tmp)
    assert r.returncode == 1
    assert "# Configured to not listen anywhere, exiting." in r.stdout


def test_bind_unavailable_address_aborts_unless_optional(tmp):
    port = free_port()
    r = run_valkeyd("--port", str(port), "--bind", "10.255.255.1", cwd=tmp)
    assert r.returncode == 1
    assert ("Warning: Could not create server TCP listening socket 10.255.255.1:%d: "
            "bind: Cannot assign requested address" % port) in r.stdout
    assert "Failed listening on port %d (tcp), aborting." % port in r.stdout
    p = spawn(["--port", str(port), "--bind", "-10.255.255.1", "127.0.0.1"], tmp)
    try:
        wait_port(port, p)
        assert redis.Redis(port=port).config_get("bind") == {"bind": "-10.255.255.1 127.0.0.1"}
    finally:
        assert stop(p) == 0


# -- configuration sources -------------------------------------------------------------------

def test_quoting_and_repeated_directives(tmp):
    text = ("requirepass \"a b\\x41\\n\"\n"
            "masteruser 'it\\'s'\n"
            "save 900 1\n"
            "save \"300 10\"\n"
            "SAVE 60 10000\n"
            "   maxmemory 2MB   \n"
            "hash-max-ziplist-entries 99\n"
            "list-max-ziplist-entries 5\n"       # deprecated, silently accepted
            "notify-keyspace-events KEA\n")
    s = start_valkeyd("--enable-debug-command", "yes", config_text=text, workdir=str(tmp))
    try:
        c = s.client(password="a bA\n")
        cfg = c.config_get("*")
        assert cfg["requirepass"] == "a bA\n"
        assert cfg["masteruser"] == "it's"
        assert cfg["save"] == "900 1 300 10 60 10000"
        assert cfg["maxmemory"] == str(2 * 1024 * 1024)
        assert cfg["hash-max-listpack-entries"] == cfg["hash-max-ziplist-entries"] == "99"
        assert cfg["notify-keyspace-events"] == "AKE"
        c.close()
    finally:
        assert s.stop() == 0


def test_command_line_overrides_file_like_valkey(tmp):
    """File + options give the same CONFIG GET values on both servers."""
    conf = tmp / "o.conf"
    conf.write_text("save 900 1\nmaxmemory 1mb\nhz 20\nbind 127.0.0.1\n")
    variants = [
        ["--save", "60", "5", "--hz", "30"],
        ["--save", "", "--maxmemory", "5mb"],
        ["--save", "--hz", "15"],
        ["--save", "100 1", "--maxmemory", "3000"],
        ["--save"],
    ]
    names = ["save", "maxmemory", "hz"]
    for extra in variants:
        port = free_port()
        args = [str(conf), "--port", str(port)] + extra
        p = spawn(args, tmp)
        try:
            wait_port(port, p)
            mine = redis.Redis(port=port).config_get(*names)
        finally:
            stop(p)
        rport = free_port()
        rp = subprocess.Popen([valkey_server_path(), str(conf), "--port", str(rport)] + extra,
                              cwd=tmp, stdout=subprocess.DEVNULL)
        try:
            wait_port(rport, rp)
            theirs = redis.Redis(port=rport).config_get(*names)
        finally:
            stop(rp)
        assert mine == theirs, extra


def test_include_relative_and_glob(tmp):
    (tmp / "conf.d").mkdir()
    (tmp / "conf.d" / "10-a.conf").write_text("maxmemory 1mb\nhz 11\n")
    (tmp / "conf.d" / "20-b.conf").write_text("hz 22\n")
    (tmp / "conf.d" / "skip.txt").write_text("bogus directive\n")
    (tmp / "empty.d").mkdir()
    text = "include conf.d/*.conf\ninclude empty.d/*.conf\nmaxmemory-samples 7\n"
    s = start_valkeyd(config_text=text, workdir=str(tmp))
    try:
        c = s.client()
        assert c.config_get("hz") == {"hz": "22"}
        assert c.config_get("maxmemory") == {"maxmemory": "1048576"}
        assert c.config_get("maxmemory-samples") == {"maxmemory-samples": "7"}
        c.close()
    finally:
        s.stop()
    (tmp / "m2.conf").write_text("include missing-file.conf\n")
    r = run_valkeyd("m2.conf", cwd=tmp)
    assert r.returncode == 1
    assert "can't open config file 'missing-file.conf': No such file or directory" in r.stdout


def test_config_from_stdin(tmp):
    port = free_port()
    p = spawn(["-"], tmp, stdin_text=f"port {port}\nmaxmemory 7mb\ndatabases 3\n")
    try:
        wait_port(port, p)
        c = redis.Redis(port=port)
        assert c.config_get("maxmemory") == {"maxmemory": str(7 * 1024 * 1024)}
        assert c.config_get("databases") == {"databases": "3"}
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            c.execute_command("SELECT", 3)
        c.close()
    finally:
        assert stop(p) == 0
    assert "Reading config from stdin" in (tmp / "out.log").read_text()
    # stdin then options: the options win
    port = free_port()
    p = spawn(["-", "--port", str(port), "--hz", "40"], tmp, stdin_text="hz 30\nport 1\n")
    try:
        wait_port(port, p)
        assert redis.Redis(port=port).config_get("hz") == {"hz": "40"}
    finally:
        stop(p)


def test_rename_command(tmp):
    text = 'rename-command flushall ""\nrename-command get fetch\n'
    s = start_valkeyd(config_text=text, workdir=str(tmp))
    try:
        c = s.client()
        c.set("k", "v")
        assert c.execute_command("FETCH", "k") == b"v"
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("FLUSHALL")
        assert str(e.value) == "unknown command 'FLUSHALL', with args beginning with: "
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("GET", "k")
        assert str(e.value) == "unknown command 'GET', with args beginning with: 'k' "
        c.close()
    finally:
        s.stop()


# -- files and sockets -----------------------------------------------------------------------

def test_logfile_pidfile_and_sigterm(tmp):
    port = free_port()
    logf = tmp / "server.log"
    pidf = tmp / "server.pid"
    p = spawn(["--port", str(port), "--logfile", str(logf), "--pidfile", str(pidf),
               "--loglevel", "verbose"], tmp)
    try:
        wait_port(port, p)
        assert pidf.read_text() == f"{p.pid}\n"
        redis.Redis(port=port).ping()
    finally:
        assert stop(p) == 0
    assert not pidf.exists()
    lines = logf.read_text().splitlines()
    assert lines and all(LOG_LINE.match(x) for x in lines), lines
    body = [x.split(" ", 6)[6] for x in lines]
    for expected in (f"PID: {p.pid}", "Server initialized", "Ready to accept connections tcp",
                     "Configuration loaded"):
        assert expected in body
    tail = [x for x in lines if "shutdown" in x or "pid file" in x or "bye bye" in x]
    assert [t.split(" ", 5)[5] for t in tail] == [
        "# Received SIGTERM scheduling shutdown...", "* User requested shutdown...",
        "* Removing the pid file.", "# Redis is now ready to exit, bye bye..."]
    assert any(re.search(r" - Accepted 127\.0\.0\.1:\d+$", x) for x in lines)


def test_sigint_shutdown(tmp):
    port = free_port()
    p = spawn(["--port", str(port)], tmp)
    wait_port(port, p)
    assert stop(p, signal.SIGINT) == 0
    out = (tmp / "out.log").read_text()
    assert "# Received SIGINT scheduling shutdown..." in out
    assert "# Redis is now ready to exit, bye bye..." in out


def test_loglevel_applies_at_once(tmp):
    port = free_port()
    logf = tmp / "l.log"
    p = spawn(["--port", str(port), "--logfile", str(logf)], tmp)
    try:
        wait_port(port, p)
        c = redis.Redis(port=port)
        c.ping()
        time.sleep(0.1)
        assert " - Accepted" not in logf.read_text()
        c.config_set("loglevel", "verbose")
        c2 = redis.Redis(port=port)
        c2.ping()
        time.sleep(0.1)
        assert " - Accepted" in logf.read_text()
        c.close()
        c2.close()
    finally:
        stop(p)


def test_unixsocket_perm_and_port_zero(tmp):
    sock = tmp / "v.sock"
    p = spawn(["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"], tmp)
    try:
        deadline = time.time() + 20
        while not sock.exists() and time.time() < deadline:
            assert p.poll() is None
            time.sleep(0.05)
        time.sleep(0.2)
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o700
        c = redis.Redis(unix_socket_path=str(sock))
        assert c.ping() is True
        assert c.config_get("unixsocketperm") == {"unixsocketperm": "700"}
        assert c.config_get("port") == {"port": "0"}
        c.close()
    finally:
        assert stop(p) == 0
    assert not sock.exists()
    out = (tmp / "out.log").read_text()
    assert "Ready to accept connections unix" in out
    assert "Ready to accept connections tcp" not in out
    assert "* Removing the unix socket file." in out


def test_daemonize(tmp):
    port = free_port()
    pidf = tmp / "d.pid"
    logf = tmp / "d.log"
    r = run_valkeyd("--port", str(port), "--daemonize", "yes", "--pidfile", str(pidf),
                    "--logfile", str(logf), cwd=tmp)
    assert r.returncode == 0
    deadline = time.time() + 20
    while not pidf.exists() and time.time() < deadline:
        time.sleep(0.05)
    pid = int(pidf.read_text())
    try:
        c = redis.Redis(port=port)
        for _ in range(200):
            try:
                c.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        assert c.config_get("daemonize") == {"daemonize": "yes"}
        assert c.info("server")["process_id"] == pid
        # detached twice: a new session, and not its leader
        assert os.getsid(pid) != os.getsid(0)
        assert os.getsid(pid) != pid
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 15
        while pidf.exists() and time.time() < deadline:
            time.sleep(0.05)
    assert not pidf.exists()
    assert "Redis is now ready to exit, bye bye..." in logf.read_text()


def test_tcp_keepalive_applied_to_accepted_sockets(tmp):
    port = free_port()
    p = spawn(["--port", str(port), "--tcp-keepalive", "77"], tmp)
    try:
        wait_port(port, p)
        c = redis.Redis(port=port)
        c.ping()
        time.sleep(0.5)
        out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
        assert "timer:(keepalive," in out, out
        m = re.search(r"timer:\(keepalive,(\d+)min(\d+)", out)
        assert m and int(m.group(1)) == 1  # 77 s -> 1min1xs
        c.config_set("tcp-keepalive", "0")
        c2 = redis.Redis(port=port, single_connection_client=True)
        c2.ping()
        time.sleep(0.5)
        port2 = c2.connection._sock.getsockname()[1]
        out = subprocess.run(["ss", "-tnoH", "state", "established",
                              f"( sport = :{port} and dport = :{port2} )"],
                             capture_output=True, text=True).stdout
        assert "keepalive" not in out, out
    finally:
        stop(p)


def _non_loopback_ipv4():
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    except OSError:
        return None
    for a in out:
        if "." in a and not a.startswith("127."):
            return a
    return None


def test_protected_mode():
    addr = _non_loopback_ipv4()
    if addr is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    s = start_valkeyd()
    try:
        with socket.create_connection((addr, s.port), timeout=5) as sk:
            data = b""
            while True:
                b = sk.recv(65536)
                if not b:
                    break
                data += b
        assert data.startswith(b"-DENIED Redis is running in protected mode because protected "
                               b"mode is enabled and no password is set for the default user.")
        assert data.endswith(b"the server to start accepting connections from the outside.\r\n")
        c = s.client()
        c.config_set("protected-mode", "no")
        assert redis.Redis(host=addr, port=s.port).ping() is True
        c.config_set("protected-mode", "yes")
        c.config_set("requirepass", "pw")
        assert redis.Redis(host=addr, port=s.port, password="pw").ping() is True
    finally:
        s.stop()


def test_config_set_port_and_bind_relisten(tmp):
    s = start_valkeyd()
    try:
        c = s.client()
        new = free_port()
        assert c.config_set("port", new) is True
        c2 = redis.Redis(port=new)
        assert c2.ping() is True
        assert c2.config_get("port") == {"port": str(new)}
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=s.port, socket_connect_timeout=1).ping()
        with pytest.raises(redis.ResponseError) as e:
            c2.config_set("bind", "10.255.255.1")
        assert str(e.value) == ("CONFIG SET failed (possibly related to argument 'bind') - "
                                "Failed to bind to specified addresses.")
        assert c2.config_get("bind") == {"bind": "* -::*"}
        assert redis.Redis(port=new).ping() is True
        s.port = new
    finally:
        s.stop()


def test_maxclients_timeout_requirepass_apply_at_once(tmp):
    s = start_valkeyd()
    try:
        c = s.client()
        c.config_set("maxclients", 1)
        with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
            redis.Redis(port=s.port).ping()
        c.config_set("maxclients", 100)
        c.config_set("timeout", 1)
        idle = redis.Redis(port=s.port, single_connection_client=True)
        idle.ping()
        time.sleep(2.5)
        info = c.info("clients")
        assert info["connected_clients"] == 1
        c.config_set("timeout", 0)
        c.config_set("requirepass", "secret")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=s.port).ping()
        assert redis.Redis(port=s.port, password="secret").ping() is True
        c.config_set("requirepass", "")
        assert redis.Redis(port=s.port).ping() is True
    finally:
        s.stop()


def test_enable_debug_command(tmp):
    s = start_valkeyd()
    try:
        c = s.client()
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("DEBUG", "SLEEP", "0")
        assert str(e.value) == (
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
            "you can run it from a local connection, otherwise you need to set this option in "
            "the configuration file, and then restart the server.")
    finally:
        s.stop()
    s = start_valkeyd("--enable-debug-command", "local")
    try:
        assert s.client().execute_command("DEBUG", "SLEEP", "0") in (b"OK", "OK", True)
    finally:
        s.stop()
