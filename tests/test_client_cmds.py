"""CLIENT subcommands against a real valkeyd, error texts and reply shapes compared with a real
valkey-server. Where Valkey 8.0 departs from Redis 7.2.4 (extra CLIENT LIST fields, the
MAXAGE filter of CLIENT KILL) the Redis 7.2.4 behaviour is asserted."""
from __future__ import annotations

import socket
import time

import pytest
import redis

from test_command_cmd import Resp, py

# catClientInfoString in Redis 7.2.4, in order.
REDIS72_FIELDS = [
    "id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
    "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
    "tot-mem", "events", "cmd", "user", "redir", "resp", "lib-name", "lib-ver",
]
# Fields Valkey 8.0 added to the line.
VALKEY8_EXTRA = {"watch", "tot-net-in", "tot-net-out", "tot-cmds", "io-thread"}


def parse_line(line: str) -> dict:
    out = {}
    for part in line.split(" "):
        k, v = part.split("=", 1)
        out[k] = v
    return out


def fields(line: str) -> list:
    return [p.split("=", 1)[0] for p in line.split(" ")]


def client_list(conn, *args) -> list[dict]:
    r = conn.call("CLIENT", "LIST", *args)
    assert r[0] in ("bulk", "verbatim"), r
    text = r[1].decode()
    if r[0] == "verbatim":
        assert text.startswith("txt:")
        text = text[4:]
    assert text == "" or text.endswith("\n")
    return [parse_line(x) for x in text.split("\n") if x]


def err_of(conn, *args) -> str:
    r = conn.call(*args)
    assert r[0] == "err", (args, r)
    return r[1]


@pytest.fixture
def c2(server):
    c = Resp(server.port)
    yield c
    c.close()


@pytest.fixture
def pair(server, ref):
    a, b = Resp(server.port), Resp(ref.port)
    yield a, b
    a.close()
    b.close()


# -- ID / SETNAME / GETNAME / INFO -----------------------------------------------------------------
def test_id_name(rr):
    cid = rr.client_id()
    assert isinstance(cid, int) and cid > 0
    assert rr.client_getname() is None
    assert rr.client_setname("worker-1") is True
    assert rr.client_getname() in (b"worker-1", "worker-1")
    info = rr.execute_command("CLIENT", "INFO")
    info = info.decode() if isinstance(info, bytes) else info
    d = parse_line(info.strip())
    assert d["id"] == str(cid) and d["name"] == "worker-1"
    # redis-py's own parsing of CLIENT LIST / CLIENT INFO
    assert any(int(x["id"]) == cid and x["name"] == "worker-1" for x in rr.client_list())
    assert int(rr.client_info()["id"]) == cid
    assert rr.client_setname("") is True
    assert rr.client_getname() is None
    with pytest.raises(redis.ResponseError) as e:
        rr.client_setname("a b")
    assert str(e.value) == "Client names cannot contain spaces, newlines or special characters."


def test_info_line_format_is_redis72(server, ref):
    a, b = Resp(server.port), Resp(ref.port)
    try:
        mine = a.call("CLIENT", "INFO")
        theirs = b.call("CLIENT", "INFO")
        assert mine[0] == theirs[0] == "bulk"
        line = mine[1].decode()
        assert line.endswith("\n") and line.count("\n") == 1
        assert fields(line.strip()) == REDIS72_FIELDS
        ref_fields = [f for f in fields(theirs[1].decode().strip()) if f not in VALKEY8_EXTRA]
        assert ref_fields == REDIS72_FIELDS
        d = parse_line(line.strip())
        assert d["cmd"] == "client|info" and d["flags"] == "N" and d["db"] == "0"
        assert d["multi"] == "-1" and d["redir"] == "-1" and d["resp"] == "2"
        assert d["user"] == "default" and d["events"] == "r" and d["argv-mem"] == "10"
        assert d["laddr"] == f"127.0.0.1:{server.port}"
        assert d["addr"].startswith("127.0.0.1:") and int(d["fd"]) > 0
        assert d["age"] == "0" and d["idle"] == "0"
    finally:
        a.close()
        b.close()


def test_info_and_list_are_verbatim_in_resp3(server):
    c = Resp(server.port, 3)
    try:
        r = c.call("CLIENT", "INFO")
        assert r[0] == "verbatim" and r[1].startswith(b"txt:id=")
        assert parse_line(r[1][4:].decode().strip())["resp"] == "3"
        assert client_list(c)
    finally:
        c.close()


# -- LIST ------------------------------------------------------------------------------------------
def test_list_all_and_by_id(server, c2):
    a = Resp(server.port)
    try:
        ida, idb = py(a.call("CLIENT", "ID")), py(c2.call("CLIENT", "ID"))
        assert py(c2.call("CLIENT", "SETNAME", "second")) == b"OK"
        rows = client_list(a)
        ids = [int(x["id"]) for x in rows]
        assert ida in ids and idb in ids and ids == sorted(ids)
        for row in rows:
            assert list(row) == REDIS72_FIELDS
        rows = client_list(a, "ID", str(idb), "999999", str(ida))
        assert [int(x["id"]) for x in rows] == [idb, ida]
        assert rows[0]["name"] == "second" and rows[0]["cmd"] == "client|setname"
        assert rows[1]["cmd"] == "client|list"
        assert client_list(a, "id", "999999") == []
        assert [int(x["id"]) for x in client_list(a, "TYPE", "normal")] == sorted(
            int(x["id"]) for x in client_list(a))
        assert client_list(a, "TYPE", "master") == []
        assert client_list(a, "TYPE", "replica") == client_list(a, "TYPE", "slave") == []
        assert client_list(a, "TYPE", "pubsub") == []
    finally:
        a.close()


def test_list_errors_match_valkey(pair):
    a, b = pair
    for args in (("TYPE", "bogus"), ("ID", "x"), ("ID", "1", "y"), ("foo",), ("ID",),
                 ("TYPE",), ("TYPE", "normal", "x")):
        assert a.call("CLIENT", "LIST", *args) == b.call("CLIENT", "LIST", *args), args


def test_cmd_field_tracks_last_command(server, c2):
    a = Resp(server.port)
    try:
        idb = py(c2.call("CLIENT", "ID"))

        def cmd_of():
            return client_list(a, "ID", str(idb))[0]["cmd"]

        c2.call("SET", "k", "v")
        assert cmd_of() == "set"
        c2.call("CONFIG", "GET", "port")
        assert cmd_of() == "config|get"
        c2.call("GET", "a", "b")           # arity error: still the command looked up
        assert cmd_of() == "get"
        c2.call("NOSUCHCOMMAND")
        assert cmd_of() == "NULL"
        c2.call("CONFIG", "NOSUCH")
        assert cmd_of() == "NULL"
        c2.call("COMMAND")
        assert cmd_of() == "command"
    finally:
        a.close()


def test_flags_field(server, c2):
    a = Resp(server.port)
    try:
        idb = py(c2.call("CLIENT", "ID"))

        def row():
            return client_list(a, "ID", str(idb))[0]

        assert row()["flags"] == "N"
        assert py(c2.call("CLIENT", "NO-EVICT", "on")) == b"OK"
        assert row()["flags"] == "e"
        assert py(c2.call("CLIENT", "NO-TOUCH", "ON")) == b"OK"
        assert row()["flags"] == "eT"
        c2.call("CLIENT", "NO-EVICT", "off")
        c2.call("CLIENT", "NO-TOUCH", "off")
        assert row()["flags"] == "N"
        c2.call("SELECT", "3")
        assert row()["db"] == "3"
        c2.call("HELLO", "3")
        assert row()["resp"] == "3"
        c2.call("CLIENT", "SETINFO", "LIB-NAME", "mylib")
        c2.call("CLIENT", "SETINFO", "lib-ver", "1.2.3")
        r = row()
        assert r["lib-name"] == "mylib" and r["lib-ver"] == "1.2.3"
    finally:
        a.close()


def test_multi_flag_and_count(server, c2):
    a = Resp(server.port)
    try:
        idb = py(c2.call("CLIENT", "ID"))
        c2.call("MULTI")
        c2.call("SET", "a", "1")
        c2.call("GET", "a")
        r = client_list(a, "ID", str(idb))[0]
        assert r["flags"] == "x" and r["multi"] == "2"
        c2.call("DISCARD")
    finally:
        a.close()


# -- KILL ------------------------------------------------------------------------------------------
def alive(conn) -> bool:
    try:
        return conn.call("PING") == ("status", b"PONG")
    except (ConnectionError, OSError):
        return False


def test_kill_old_form(server, c2):
    a = Resp(server.port)
    try:
        addr = client_list(c2, "ID", str(py(a.call("CLIENT", "ID"))))[0]["addr"]
        assert c2.call("CLIENT", "KILL", addr) == ("status", b"OK")
        assert not alive(a)
        assert err_of(c2, "CLIENT", "KILL", addr) == "ERR No such client"
        # the old form may kill the caller itself (reply first, then close)
        own = client_list(c2, "ID", str(py(c2.call("CLIENT", "ID"))))[0]["addr"]
        assert c2.call("CLIENT", "KILL", own) == ("status", b"OK")
        assert not alive(c2)
    finally:
        a.close()


def test_kill_filters(server):
    me, x, y = Resp(server.port), Resp(server.port), Resp(server.port)
    try:
        idx, idy = py(x.call("CLIENT", "ID")), py(y.call("CLIENT", "ID"))
        assert me.call("CLIENT", "KILL", "ID", str(idx)) == ("int", 1)
        assert not alive(x) and alive(y)
        assert me.call("CLIENT", "KILL", "ID", str(idx)) == ("int", 0)
        laddr = f"127.0.0.1:{server.port}"
        yaddr = client_list(me, "ID", str(idy))[0]["addr"]
        assert me.call("CLIENT", "KILL", "ADDR", yaddr, "LADDR", laddr, "TYPE", "normal",
                       "USER", "default", "SKIPME", "yes") == ("int", 1)
        assert not alive(y)
        # SKIPME yes (the default) spares the caller; TYPE pubsub matches nobody here
        assert me.call("CLIENT", "KILL", "ID", str(py(me.call("CLIENT", "ID")))) == ("int", 0)
        assert me.call("CLIENT", "KILL", "TYPE", "pubsub") == ("int", 0)
        assert me.call("CLIENT", "KILL", "LADDR", "1.2.3.4:5") == ("int", 0)
        assert alive(me)
        # SKIPME no: the caller gets its reply, then the connection closes
        assert me.call("CLIENT", "KILL", "ID", str(py(me.call("CLIENT", "ID"))),
                       "SKIPME", "no") == ("int", 1)
        assert not alive(me)
    finally:
        for c in (me, x, y):
            c.close()


def test_kill_type_normal_kills_everyone_else(server):
    me = Resp(server.port)
    others = [Resp(server.port) for _ in range(3)]
    try:
        for o in others:
            assert alive(o)
        n = py(me.call("CLIENT", "KILL", "TYPE", "normal"))
        assert n >= 3
        assert not any(alive(o) for o in others) and alive(me)
    finally:
        me.close()
        for o in others:
            o.close()


def test_kill_errors_match_valkey(pair):
    a, b = pair
    for args in (("ID", "0"), ("ID", "x"), ("ID", "-5"), ("TYPE", "bogus"), ("USER", "nosuch"),
                 ("SKIPME", "maybe"), ("id",), ("1.2.3.4:5",), ("ID", "1", "TYPE"),
                 ("BOGUS", "1")):
        assert a.call("CLIENT", "KILL", *args) == b.call("CLIENT", "KILL", *args), args


def test_kill_maxage_is_not_redis72(conn_pair_maxage):
    """Valkey 8 (like Redis 7.4) accepts MAXAGE; Redis 7.2.4 does not know it."""
    assert conn_pair_maxage == ("err", "ERR syntax error")


@pytest.fixture
def conn_pair_maxage(server):
    c = Resp(server.port)
    try:
        yield c.call("CLIENT", "KILL", "MAXAGE", "100")
    finally:
        c.close()


# -- SETINFO ---------------------------------------------------------------------------------------
def test_setinfo(pair):
    a, b = pair
    for args in (("lib-name", "redis-py"), ("LIB-VER", "5.0"), ("foo", "x"),
                 ("lib-name", "a b"), ("lib-ver", "bad\nvalue"), ("Lib-Name", "x\x7f"),
                 ("lib-name", "")):
        assert a.call("CLIENT", "SETINFO", *args) == b.call("CLIENT", "SETINFO", *args), args
    d = client_list(a, "ID", str(py(a.call("CLIENT", "ID"))))[0]
    assert d["lib-name"] == "" and d["lib-ver"] == "5.0"
    assert err_of(a, "CLIENT", "SETINFO", "LiB-nAmE", "a b") == (
        "ERR LiB-nAmE cannot contain spaces, newlines or special characters.")


# -- REPLY -----------------------------------------------------------------------------------------
def raw_exchange(port, data: bytes, wait=0.3) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(wait)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def req(*args) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%b\r\n" % (len(a), a)
    return out


def test_reply_modes_same_bytes_as_valkey(server, ref):
    script = b"".join([
        req("ECHO", "1"),
        req("CLIENT", "REPLY", "SKIP"), req("ECHO", "2"), req("ECHO", "3"),
        req("CLIENT", "REPLY", "OFF"), req("ECHO", "4"), req("NOSUCH"),
        req("CLIENT", "REPLY", "SKIP"), req("ECHO", "5"),
        req("CLIENT", "REPLY", "ON"), req("ECHO", "6"),
        req("CLIENT", "REPLY", "SKIP"), req("NOSUCH"), req("ECHO", "7"),
        req("CLIENT", "REPLY", "BOGUS"), req("ECHO", "8"),
    ])
    mine = raw_exchange(server.port, script)
    assert mine == raw_exchange(ref.port, script)
    assert mine == (b"$1\r\n1\r\n$1\r\n3\r\n+OK\r\n$1\r\n6\r\n$1\r\n7\r\n"
                    b"-ERR syntax error\r\n$1\r\n8\r\n")


# -- NO-EVICT / NO-TOUCH ---------------------------------------------------------------------------
def test_no_evict_no_touch_args(pair):
    a, b = pair
    for sub in ("NO-EVICT", "NO-TOUCH"):
        for args in (("on",), ("OFF",), ("maybe",)):
            assert a.call("CLIENT", sub, *args) == b.call("CLIENT", sub, *args), (sub, args)


def test_no_touch_keeps_idle_time(server):
    a, other = Resp(server.port), Resp(server.port)
    try:
        names = {x.decode() for x in py(a.call("COMMAND", "LIST"))}
        assert {"object|idletime", "debug", "touch"} <= names
        a.call("FLUSHALL")
        a.call("SET", "k1", "v")
        a.call("SET", "k2", "v")
        a.call("SET", "k3", "v")
        a.call("DEBUG", "SLEEP", "0")  # make sure writes are done
        time.sleep(2.2)
        assert py(a.call("OBJECT", "IDLETIME", "k1")) >= 2
        assert a.call("CLIENT", "NO-TOUCH", "on") == ("status", b"OK")
        assert py(a.call("GET", "k1")) == b"v"
        assert py(a.call("MGET", "k1", "k2")) == [b"v", b"v"]
        assert py(a.call("OBJECT", "IDLETIME", "k1")) >= 2
        assert py(a.call("OBJECT", "IDLETIME", "k2")) >= 2
        # TOUCH still touches, even for a no-touch client
        assert py(a.call("TOUCH", "k2")) == 1
        assert py(a.call("OBJECT", "IDLETIME", "k2")) == 0
        # another client touches as usual
        assert py(other.call("GET", "k3")) == b"v"
        assert py(a.call("OBJECT", "IDLETIME", "k3")) == 0
        assert a.call("CLIENT", "NO-TOUCH", "off") == ("status", b"OK")
        assert py(a.call("GET", "k1")) == b"v"
        assert py(a.call("OBJECT", "IDLETIME", "k1")) == 0
    finally:
        a.close()
        other.close()


# -- PAUSE / UNPAUSE -------------------------------------------------------------------------------
def test_pause_errors_match_valkey(pair):
    a, b = pair
    for args in (("abc",), ("-1",), ("100", "foo"), ("1", "2", "3"), ("1.5",)):
        assert a.call("CLIENT", "PAUSE", *args) == b.call("CLIENT", "PAUSE", *args), args
    assert a.call("CLIENT", "UNPAUSE") == b.call("CLIENT", "UNPAUSE") == ("status", b"OK")


@pytest.fixture(params=["valkeyd", "valkey-server"])
def either(request, server, ref):
    return server if request.param == "valkeyd" else ref


def test_pause_all_delays_everyone(either):
    a, b = Resp(either.port), Resp(either.port)
    try:
        assert a.call("CLIENT", "PAUSE", "400") == ("status", b"OK")
        t0 = time.monotonic()
        assert b.call("PING") == ("status", b"PONG")
        assert time.monotonic() - t0 >= 0.3
        # ALL holds every command, CLIENT UNPAUSE included, until the pause ends
        assert a.call("CLIENT", "PAUSE", "700", "ALL") == ("status", b"OK")
        t0 = time.monotonic()
        b.send("SET", "x", "1")
        a.send("CLIENT", "UNPAUSE")
        c = Resp(either.port)
        c.send("CLIENT", "ID")
        time.sleep(0.3)
        for conn in (a, b, c):
            conn.s.settimeout(0.05)
            with pytest.raises(socket.timeout):
                conn.s.recv(1, socket.MSG_PEEK)
            conn.s.settimeout(10)
        assert b.read() == ("status", b"OK")
        assert a.read() == ("status", b"OK")
        assert c.read()[0] == "int"
        assert time.monotonic() - t0 >= 0.6
        t0 = time.monotonic()
        assert b.call("PING") == ("status", b"PONG")
        assert time.monotonic() - t0 < 0.3
        c.close()
    finally:
        a.close()
        b.close()


def test_pause_write_delays_only_writes(either):
    a, b = Resp(either.port), Resp(either.port)
    try:
        b.call("SET", "pw", "0")
        idb = py(b.call("CLIENT", "ID"))
        assert a.call("CLIENT", "PAUSE", "5000", "WRITE") == ("status", b"OK")
        t0 = time.monotonic()
        assert b.call("GET", "pw") == ("bulk", b"0")     # reads go through
        assert time.monotonic() - t0 < 1
        b.send("SET", "pw", "1")
        b.send("GET", "pw")                             # queued behind the write
        time.sleep(0.3)
        assert py(a.call("GET", "pw")) == b"0"          # the write is held
        assert client_list(a, "ID", str(idb))[0]["flags"] == "b"
        assert a.call("CLIENT", "UNPAUSE") == ("status", b"OK")
        assert b.read() == ("status", b"OK")
        assert b.read() == ("bulk", b"1")
        assert py(a.call("GET", "pw")) == b"1"
        assert client_list(a, "ID", str(idb))[0]["flags"] == "N"
    finally:
        a.call("CLIENT", "UNPAUSE")
        a.close()
        b.close()


def test_pause_all_then_write_keeps_all(either):
    a, b = Resp(either.port), Resp(either.port)
    try:
        assert a.call("CLIENT", "PAUSE", "500", "ALL") == ("status", b"OK")
        t0 = time.monotonic()
        # issued by the pausing client itself: postponed too, then applied
        assert a.call("CLIENT", "PAUSE", "100", "WRITE") == ("status", b"OK")
        assert time.monotonic() - t0 >= 0.4
        assert b.call("GET", "nothing") == ("null",)
    finally:
        a.close()
        b.close()


def test_pause_holds_expiry(either):
    a = Resp(either.port)
    try:
        a.call("FLUSHALL")
        a.call("SET", "k", "v", "PX", "100")
        a.call("SET", "k2", "v", "PX", "100")
        assert a.call("CLIENT", "PAUSE", "3000", "WRITE") == ("status", b"OK")
        time.sleep(0.4)
        assert a.call("GET", "k") == ("null",)      # reads as expired ...
        assert a.call("EXISTS", "k2") == ("int", 0)
        assert a.call("PTTL", "k") == ("int", -2)
        assert a.call("DBSIZE") == ("int", 2)       # ... but is not deleted
        assert a.call("CLIENT", "UNPAUSE") == ("status", b"OK")
        assert a.call("GET", "k") == ("null",)
        assert a.call("DBSIZE") == ("int", 1)
    finally:
        a.call("CLIENT", "UNPAUSE")
        a.close()


# -- UNBLOCK / tracking / HELP / dispatch errors ---------------------------------------------------
def test_unblock(pair):
    a, b = pair
    for args in (("999999",), ("999999", "TIMEOUT"), ("999999", "error"), ("x",),
                 ("1", "foo"), ("1", "2", "3")):
        assert a.call("CLIENT", "UNBLOCK", *args) == b.call("CLIENT", "UNBLOCK", *args), args
    me = str(py(a.call("CLIENT", "ID")))
    assert a.call("CLIENT", "UNBLOCK", me) == ("int", 0)  # not blocked


def test_tracking_off(server, ref):
    for proto in (2, 3):
        a, b = Resp(server.port, proto), Resp(ref.port, proto)
        try:
            assert a.call("CLIENT", "GETREDIR") == b.call("CLIENT", "GETREDIR") == ("int", -1)
            x, y = a.call("CLIENT", "TRACKINGINFO"), b.call("CLIENT", "TRACKINGINFO")
            assert x == y
            if proto == 3:
                assert x == ("map", [(("bulk", b"flags"), ("set", [("bulk", b"off")])),
                                     (("bulk", b"redirect"), ("int", -1)),
                                     (("bulk", b"prefixes"), ("array", []))])
        finally:
            a.close()
            b.close()


def test_help(conn_help):
    lines = [x.decode() for x in conn_help]
    assert lines[0] == "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == ["HELP", "    Print this help."]
    for needle in ("KILL <ip:port>", "NO-TOUCH (ON|OFF)", "SETINFO <option> <value>",
                   "UNBLOCK <clientid> [TIMEOUT|ERROR]"):
        assert needle in lines
    assert len(lines) == 54


@pytest.fixture
def conn_help(server):
    c = Resp(server.port)
    try:
        r = c.call("CLIENT", "HELP")
        assert r[0] == "array" and all(x[0] == "status" for x in r[1])
        yield py(r)
    finally:
        c.close()


def test_dispatch_errors_match_valkey(pair):
    a, b = pair
    for args in (("CLIENT",), ("CLIENT", "foo"), ("CLIENT", "ID", "x"),
                 ("CLIENT", "SETNAME"), ("CLIENT", "SETINFO", "lib-name"),
                 ("CLIENT", "GETNAME", "x"), ("client", "Help", "x")):
        x, y = a.call(*args), b.call(*args)
        assert x == y, args
        assert x[0] == "err"
