"""COMMAND COUNT / INFO / DOCS / LIST / GETKEYS / GETKEYSANDFLAGS / HELP against a real valkeyd,
with reply shapes compared type-for-type (sets, maps, status replies, order) to a real
valkey-server.

Allowed differences, asserted explicitly:
* valkeyd lists only the commands it implements;
* COMMAND DOCS carries no summary / complexity / history (documentation prose that the Redis
  7.2.4 reference table does not include), and key specs carry no ``notes`` (prose as well).
"""
from __future__ import annotations

import socket

import pytest


# -- a RESP reader that keeps the wire types ------------------------------------------------------
class Resp:
    def __init__(self, port: int, proto: int = 2):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        if proto == 3:
            self.call("HELLO", "3")

    def close(self):
        self.s.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%b\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))

    def call(self, *args):
        self.send(*args)
        return self.read()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        """('bulk', b) ('status', s) ('err', s) ('int', n) ('null',) ('array'|'set'|'push',
        [..]) ('map', [(k, v)..]) ('verbatim', s) ('bool', b) ('double', s)."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"$":
            n = int(rest)
            return ("null",) if n < 0 else ("bulk", self._exact(n))
        if t == b"+":
            return ("status", rest)
        if t == b"-":
            return ("err", rest.decode())
        if t == b":":
            return ("int", int(rest))
        if t == b"_":
            return ("null",)
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return ("nullarray",)
            kind = {b"*": "array", b"~": "set", b">": "push"}[t]
            return (kind, [self.read() for _ in range(n)])
        if t == b"%":
            n = int(rest)
            return ("map", [(self.read(), self.read()) for _ in range(n)])
        if t == b"=":
            data = self._exact(int(rest))
            return ("verbatim", data)
        if t == b"#":
            return ("bool", rest == b"t")
        if t == b",":
            return ("double", rest)
        raise AssertionError(f"unexpected reply type {line!r}")


def py(v):
    """Wire value -> plain Python (for readable assertions)."""
    k = v[0]
    if k in ("array", "set", "push"):
        return [py(x) for x in v[1]]
    if k == "map":
        return {py(a): py(b) for a, b in v[1]}
    if k == "null":
        return None
    return v[1]


@pytest.fixture
def conn(server, request):
    c = Resp(server.port, getattr(request, "param", 2))
    yield c
    c.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(server, ref, request):
    a, b = Resp(server.port, request.param), Resp(ref.port, request.param)
    yield a, b, request.param
    a.close()
    b.close()


def implemented(conn) -> set:
    return {x.decode() for x in py(conn.call("COMMAND", "LIST"))}


def strip_notes(info):
    """Drop key-spec 'notes' (prose valkeyd does not carry) from a wire COMMAND INFO entry."""
    if info[0] != "array":
        return info
    items = list(info[1])
    specs = items[8]
    new_specs = []
    for spec in specs[1]:
        if spec[0] == "map":
            new_specs.append((spec[0], [(k, v) for k, v in spec[1] if k != ("bulk", b"notes")]))
        else:  # RESP2: a flat array k1 v1 k2 v2 ...
            flat = spec[1]
            keep = []
            for i in range(0, len(flat), 2):
                if flat[i] != ("bulk", b"notes"):
                    keep += flat[i:i + 2]
            new_specs.append((spec[0], keep))
    items[8] = (specs[0], new_specs)
    subs = items[9]
    if subs[0] == "array":
        items[9] = ("array", [strip_notes(s) for s in subs[1]])
    return ("array", items)


PROSE = {("bulk", b"summary"), ("bulk", b"complexity"), ("bulk", b"history")}


def pairs(node):
    """A map reply as (key, value) pairs: a RESP3 map or a RESP2 flat array."""
    if node[0] == "map":
        return list(node[1])
    flat = node[1]
    return list(zip(flat[::2], flat[1::2]))


def rebuild(node, kv):
    if node[0] == "map":
        return ("map", kv)
    return ("array", [x for p in kv for x in p])


def strip_prose(docs):
    """Drop summary/complexity/history from a wire COMMAND DOCS entry (recursively)."""
    out = []
    for k, v in pairs(docs):
        if k in PROSE:
            continue
        if k == ("bulk", b"arguments"):
            v = ("array", [strip_arg(a) for a in v[1]])
        elif k == ("bulk", b"subcommands"):
            v = rebuild(v, [(n, strip_prose(d)) for n, d in pairs(v)])
        out.append((k, v))
    return rebuild(docs, out)


def strip_arg(a):
    out = []
    for k, v in pairs(a):
        if k == ("bulk", b"summary"):
            continue
        if k == ("bulk", b"arguments"):
            v = ("array", [strip_arg(x) for x in v[1]])
        out.append((k, v))
    return rebuild(a, out)


def filter_subcommands_info(info, keep: set):
    items = list(info[1])
    subs = items[9]
    if subs[0] == "array":
        items[9] = ("array", sorted((s for s in subs[1] if s[1][0][1].decode() in keep),
                                    key=lambda s: s[1][0][1]))
    return ("array", items)


# -- COMMAND / COUNT / LIST ------------------------------------------------------------------------
def test_count_matches_list_and_full_reply(conn):
    n = py(conn.call("COMMAND", "COUNT"))
    names = implemented(conn)
    top = {x for x in names if "|" not in x}
    assert n == len(top) > 10
    allinfo = conn.call("COMMAND")
    assert allinfo[0] == "array" and len(allinfo[1]) == n
    assert {e[1][0][1].decode() for e in allinfo[1]} == top
    assert {"get", "set", "command", "client", "ping"} <= top
    assert {"command|info", "client|list", "config|get"} <= names
    # COMMAND INFO without names is the same list
    assert conn.call("COMMAND", "INFO") == allinfo


def test_list_filters(conn, refc):
    names = implemented(conn)
    conn_cat = {x.decode() for x in py(conn.call("COMMAND", "LIST", "FILTERBY", "ACLCAT",
                                                 "connection"))}
    assert {"ping", "echo", "client|id", "command|count"} <= conn_cat <= names
    assert "get" not in conn_cat
    assert py(conn.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuchcat")) == []
    fast = {x.decode() for x in py(conn.call("COMMAND", "LIST", "filterby", "aclcat", "FAST"))}
    assert "get" in fast and "set" not in fast
    pat = {x.decode() for x in py(conn.call("COMMAND", "LIST", "FILTERBY", "PATTERN",
                                            "CLIENT|*"))}
    assert pat == {x for x in names if x.startswith("client|")} and "client|id" in pat
    assert py(conn.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "g?t")) == [b"get"]
    assert py(conn.call("COMMAND", "LIST", "FILTERBY", "MODULE", "foo")) == []
    for args in (("FILTERBY", "NOPE", "x"), ("FILTERBY", "PATTERN"), ("BOGUS",),
                 ("FILTERBY", "PATTERN", "a", "b")):
        got = conn.call("COMMAND", "LIST", *args)
        with pytest.raises(Exception) as e:
            refc.execute_command("COMMAND", "LIST", *args)
        assert got == ("err", str(e.value) if str(e.value).startswith("ERR")
                       else "ERR " + str(e.value)), args


def test_list_filter_aclcat_matches_reference(server, ref):
    a, b = Resp(server.port), Resp(ref.port)
    try:
        ours = implemented(a)
        for cat in ("string", "keyspace", "connection", "admin", "dangerous", "slow", "write"):
            mine = {x.decode() for x in py(a.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", cat))}
            theirs = {x.decode() for x in py(b.call("COMMAND", "LIST", "FILTERBY", "ACLCAT",
                                                    cat))}
            mine -= VALKEY9_ONLY   # not in valkey-server 8.0
            assert mine == theirs & ours, (cat, mine ^ (theirs & ours))
    finally:
        a.close()
        b.close()


# -- COMMAND INFO ----------------------------------------------------------------------------------
INFO_NAMES = ("get", "set", "config|get", "echo", "ping", "command|info", "client|kill",
              "keys", "mset", "del", "exists", "expire", "incr", "getex", "copy")


def test_info_matches_valkey(both):
    ours, theirs, proto = both
    names = [n for n in INFO_NAMES if n in implemented(ours)]
    assert {"get", "set", "config|get", "ping"} <= set(names)
    a = ours.call("COMMAND", "INFO", *names)
    b = theirs.call("COMMAND", "INFO", *names)
    assert a[0] == b[0] == "array"
    for name, x, y in zip(names, a[1], b[1]):
        assert x == strip_notes(y), name


def test_info_containers_nest_implemented_subcommands(both):
    ours, theirs, proto = both
    names = implemented(ours)
    for container in ("config", "client", "command"):
        keep = {n for n in names if n.startswith(container + "|")}
        a = ours.call("COMMAND", "INFO", container)[1][0]
        b = theirs.call("COMMAND", "INFO", container)[1][0]
        b = strip_notes(filter_subcommands_info(b, keep))
        a = ("array", a[1][:9] + [("array", sorted(a[1][9][1], key=lambda s: s[1][0][1]))])
        assert a == b, container
        assert len(a[1][9][1]) == len(keep)


def test_info_unknown_names_are_null(conn, both):
    ours, theirs, proto = both
    args = ("nosuch", "GET", "get|x", "config|get|x", "config|nosuch", "Config|Get")
    a = ours.call("COMMAND", "INFO", *args)
    b = theirs.call("COMMAND", "INFO", *args)
    assert [x[0] for x in a[1]] == [x[0] for x in b[1]] == [
        "null", "array", "null", "null", "null", "array"]
    assert a[1][1][1][0] == ("bulk", b"get")
    assert a[1][5][1][0] == ("bulk", b"config|get")
    if proto == 2:
        assert a[1][0] == ("null",)


def test_info_wire_types_resp3(server):
    c = Resp(server.port, 3)
    try:
        e = c.call("COMMAND", "INFO", "get")[1][0][1]
        assert e[0] == ("bulk", b"get") and e[1] == ("int", 2)
        assert e[2] == ("set", [("status", b"readonly"), ("status", b"fast")])
        assert e[6] == ("set", [("status", b"@read"), ("status", b"@string"), ("status", b"@fast")])
        assert e[7] == ("set", [])
        assert e[8][0] == "set" and e[8][1][0][0] == "map"
        assert e[9] == ("set", [])
    finally:
        c.close()


# -- COMMAND DOCS ----------------------------------------------------------------------------------
def test_docs_match_valkey(both):
    ours, theirs, proto = both
    # client|kill: Valkey 8 documents MAXAGE (see test_docs_deprecated_and_display)
    names = [n for n in INFO_NAMES if n in implemented(ours) and n != "client|kill"]
    a = ours.call("COMMAND", "DOCS", *names)
    b = theirs.call("COMMAND", "DOCS", *names)
    assert a[0] == b[0] == ("map" if proto == 3 else "array")
    if proto == 2:  # flat array: name, docs, name, docs ...
        a = ("map", list(zip(a[1][::2], a[1][1::2])))
        b = ("map", list(zip(b[1][::2], b[1][1::2])))
    bd = dict(b[1])
    assert [k for k, _ in a[1]] == [("bulk", n.encode()) for n in names]
    for k, v in a[1]:
        assert v == strip_prose(bd[k]), k
        keys = {x[0][1] for x in pairs(v)}
        assert not keys & {b"summary", b"complexity", b"history"}


def test_docs_container_and_unknown(both):
    ours, theirs, proto = both
    names = implemented(ours)
    keep = {n for n in names if n.startswith("config|")}
    a = pairs(ours.call("COMMAND", "DOCS", "config", "nosuch", "get|x"))
    b = pairs(theirs.call("COMMAND", "DOCS", "config", "nosuch", "get|x"))
    assert len(a) == len(b) == 1
    a_doc, b_doc = a[0][1], strip_prose(b[0][1])
    subs_a = dict(pairs(dict(pairs(a_doc))[("bulk", b"subcommands")]))
    subs_b = dict(pairs(dict(pairs(b_doc))[("bulk", b"subcommands")]))
    assert {k[1].decode() for k in subs_a} == keep
    for k, v in subs_a.items():
        assert v == subs_b[k], k
    assert [k for k, _ in pairs(a_doc)] == [k for k, _ in pairs(b_doc)]
    # nothing known: an empty map
    assert ours.call("COMMAND", "DOCS", "nosuch")[1] == []


def test_docs_all(conn):
    d = pairs(conn.call("COMMAND", "DOCS"))
    flat = {k[1]: dict((kk[1], vv) for kk, vv in pairs(v)) for k, v in d}
    top = {x for x in implemented(conn) if "|" not in x}
    assert {k.decode() for k in flat} == top
    assert flat[b"get"][b"group"] == ("bulk", b"string")
    assert pairs(flat[b"client"][b"subcommands"])


_UNITS = {("bulk", u): ("bulk", u.lower()) for u in (b"M", b"KM", b"FT", b"MI")}


def _lower_units(v):
    """Redis 7.2.4's georadius.json has the unit tokens in lower case (m km ft mi)."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], bytes) and v in _UNITS:
        return _UNITS[v]
    if isinstance(v, (list, tuple)):
        return type(v)(_lower_units(x) for x in v)
    return v


def test_docs_deprecated_flags_match_valkey(server, ref):
    """doc_flags / deprecated_since / replaced_by, for the deprecated commands we have."""
    a, b = Resp(server.port, 3), Resp(ref.port, 3)
    try:
        names = ["getset", "setex", "psetex", "setnx", "substr", "georadius",
                 "rpoplpush", "brpoplpush", "hmset", "zrangebyscore"]
        assert set(names) <= set(implemented(a))
        x = a.call("COMMAND", "DOCS", *names)
        y = b.call("COMMAND", "DOCS", *names)
        yd = dict(y[1])
        for k, v in x[1]:
            want = strip_prose(yd[k])
            if k == ("bulk", b"georadius"):
                want = _lower_units(want)   # Valkey 8 spells the unit tokens M KM FT MI
            assert v == want, k
            assert dict(v[1])[("bulk", b"doc_flags")] == ("set", [("status", b"deprecated")])
    finally:
        a.close()
        b.close()


def test_docs_client_kill_is_redis_72(conn):
    """Valkey 8 rewrote CLIENT KILL's documentation (MAXAGE, PRIMARY, upper-case tokens):
    valkeyd documents Redis 7.2.4's: display text 'ip:port', the deprecated old form."""
    d = py(conn.call("COMMAND", "DOCS", "client|kill"))
    doc = dict(zip(d[1][::2], d[1][1::2])) if isinstance(d[1], list) else d[1]
    args = doc[b"arguments"]
    flt = dict(zip(args[0][::2], args[0][1::2]))
    old, new = [dict(zip(x[::2], x[1::2])) for x in flt[b"arguments"]]
    assert old == {b"name": b"old-format", b"type": b"string", b"display_text": b"ip:port",
                   b"deprecated_since": b"2.8.12"}
    opts = [dict(zip(x[::2], x[1::2])) for x in new[b"arguments"]]
    assert [o[b"name"] for o in opts] == [b"client-id", b"client-type", b"username", b"addr",
                                          b"laddr", b"skipme"]
    types = [dict(zip(x[::2], x[1::2]))[b"token"] for x in opts[1][b"arguments"]]
    assert types == [b"normal", b"master", b"slave", b"replica", b"pubsub"]
    assert opts[3][b"display_text"] == b"ip:port"


# -- GETKEYS / GETKEYSANDFLAGS ---------------------------------------------------------------------
GETKEYS_CASES = [
    ("get", "k"), ("set", "k", "v"), ("set", "k", "v", "GET"), ("set", "k", "v", "get", "ex", "1"),
    ("mset", "a", "1", "b", "2"), ("del", "a", "b", "c"), ("exists", "a"), ("copy", "a", "b"),
    ("rename", "a", "b"), ("lmove", "a", "b", "left", "right"), ("blpop", "a", "b", "0"),
    ("zunionstore", "d", "2", "a", "b"), ("zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"),
    ("zinter", "2", "a", "b"), ("eval", "return 1", "2", "a", "b", "c"),
    ("eval", "return 1", "0"), ("xread", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"),
    ("xreadgroup", "GROUP", "g", "c", "STREAMS", "s1", "0"),
    ("sort", "k"), ("sort", "k", "STORE", "d"), ("bitfield", "k", "GET", "u8", "0"),
    ("bitfield", "k", "SET", "u8", "0", "1"), ("bitfield_ro", "k", "GET", "u8", "0"),
    ("migrate", "h", "1", "k", "0", "10"), ("migrate", "h", "1", "", "0", "10", "KEYS", "a", "b"),
    ("object", "encoding", "k"), ("memory", "usage", "k"), ("geosearchstore", "d", "s",
                                                            "FROMLONLAT", "0", "0", "BYRADIUS",
                                                            "1", "km"),
    ("georadius", "k", "0", "0", "1", "km", "STORE", "d"), ("lmpop", "2", "a", "b", "LEFT"),
    ("sintercard", "2", "a", "b"), ("pfcount", "a", "b"), ("touch", "a", "b"),
    ("getex", "k", "PERSIST"), ("msetnx", "a", "1"), ("watch", "a", "b"),
    ("sort", "k", "STORE"), ("sort", "k", "LIMIT", "0", "1", "STORE", "d"),
    ("sort", "k", "STORE", "a", "STORE", "b"), ("sort", "k", "get", "store", "x"),
    ("migrate", "h", "1", "", "0", "10", "COPY", "REPLACE", "AUTH2", "u", "p", "KEYS", "a", "b"),
    ("migrate", "h", "1", "", "0", "10", "AUTH", "keys", "KEYS", "a"),
    ("migrate", "h", "1", "k", "0", "10", "KEYS", "a"), ("eval", "s", "2x", "a", "b"),
    ("eval", "s", "5", "a"), ("zunionstore", "d", "0", "a"), ("zunionstore", "d", "2x", "a", "b"),
    ("xread", "STREAMS", "a", "b", "0"), ("lmpop", "0", "a", "LEFT"), ("set", "k", "v", "EX", "1"),
    ("bitfield", "k", "OVERFLOW", "SAT", "GET", "u8", "0"), ("bitfield", "k", "bogus"),
    ("georadius", "k", "0", "0", "1", "km", "STORE", "d", "STOREDIST", "e"),
    ("pfmerge", "d", "a", "b"), ("xautoclaim", "s", "g", "c", "1", "0"),
    ("memory", "usage", "k", "SAMPLES", "5"), ("object", "freq", "k"),
]


@pytest.mark.parametrize("args", GETKEYS_CASES, ids=[" ".join(a) for a in GETKEYS_CASES])
def test_getkeys_matches_valkey(both, args):
    ours, theirs, proto = both
    names = implemented(ours)
    name = args[0] if args[0] not in ("object", "memory") else f"{args[0]}|{args[1]}"
    if name not in names:
        pytest.skip(f"{name} is not implemented by valkeyd yet")
    for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
        assert ours.call("COMMAND", sub, *args) == theirs.call("COMMAND", sub, *args), sub


def test_getkeys_errors(both):
    ours, theirs, proto = both
    cases = [
        (("nosuchcmd", "a"), "ERR Invalid command specified"),
        (("config", "nosuch", "x"), "ERR Invalid command specified"),
        (("ping",), "ERR The command has no key arguments"),
        (("config", "get", "x"), "ERR The command has no key arguments"),
        (("config",), "ERR The command has no key arguments"),
        (("get",), "ERR Invalid number of arguments specified for command"),
        (("get", "a", "b"), "ERR Invalid number of arguments specified for command"),
        (("set", "a"), "ERR Invalid number of arguments specified for command"),
    ]
    names = implemented(ours)
    if "zunionstore" in names:
        cases.append((("zunionstore", "d", "x", "a"),
                      "ERR Invalid arguments specified for command"))
    if "eval" in names:
        cases.append((("eval", "s", "5", "a"), None))
    for args, want in cases:
        for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
            a = ours.call("COMMAND", sub, *args)
            b = theirs.call("COMMAND", sub, *args)
            assert a == b, (sub, args)
            if want is not None:
                assert a == ("err", want), (sub, args)


def test_getkeysandflags_shape(server):
    c = Resp(server.port, 3)
    try:
        r = c.call("COMMAND", "GETKEYSANDFLAGS", "set", "k", "v")
        assert r == ("array", [("array", [("bulk", b"k"),
                                          ("set", [("status", b"OW"), ("status", b"update")])])])
        r = c.call("COMMAND", "GETKEYSANDFLAGS", "set", "k", "v", "get")
        assert r[1][0][1][1] == ("set", [("status", b"RW"), ("status", b"access"),
                                         ("status", b"update")])
    finally:
        c.close()


# -- HELP / errors ---------------------------------------------------------------------------------
def test_help(conn):
    lines = [x.decode() for x in py(conn.call("COMMAND", "HELP"))]
    assert lines[0] == "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == ["HELP", "    Print this help."]
    assert "GETKEYSANDFLAGS <full-command>" in lines and len(lines) == 21


def test_help_is_status_lines(conn):
    r = conn.call("command", "help")
    assert r[0] == "array" and all(x[0] == "status" for x in r[1])


def test_subcommand_errors_match_valkey(both):
    ours, theirs, proto = both
    for args in (("COMMAND", "COUNT", "x"), ("COMMAND", "bogus"), ("COMMAND", "HELP", "x"),
                 ("COMMAND", "GETKEYS"), ("command", "getkeys", "get")):
        a, b = ours.call(*args), theirs.call(*args)
        assert a == b, args
        assert a[0] == "err"


def test_command_still_works_after_errors(conn):
    assert conn.call("COMMAND", "GETKEYS")[0] == "err"
    assert conn.call("COMMAND", "COUNT")[1] > 10


def test_redis_py_client_side_parsing(rr):
    """redis-py (cluster clients rely on it) parses COMMAND in both protocols."""
    cmds = rr.command()
    assert cmds["get"]["arity"] == 2 and cmds["get"]["first_key_pos"] == 1
    flags = {f.decode() if isinstance(f, bytes) else f for f in cmds["set"]["flags"]}
    assert flags == {"write", "denyoom"}
    assert rr.command_count() == len(cmds)
    assert {x.decode() if isinstance(x, bytes) else x for x in rr.command_getkeys(
        "mset", "a", "1", "b", "2")} == {"a", "b"}
    names = rr.command_list(pattern="cl*nt|i?")
    assert [n.decode() if isinstance(n, bytes) else n for n in names] == ["client|id"]


# Where Valkey 8.0's COMMAND INFO departs from Redis 7.2.4 (valkeyd answers Redis's): flags or
# ACL categories (wait, waitaof, watch, multi, cluster ...) and one key spec (SINTERSTORE's
# destination is RW in Redis 7.2.4, OW in Valkey 8).
VALKEY8_INFO_CHANGES = {"wait", "waitaof", "watch", "multi", "cluster", "sinterstore"}
# Valkey 9 commands (per-field hash expiry), declared from Valkey 9's command json files.
VALKEY9_ONLY = {"hexpire", "hpexpire", "hexpireat", "hpexpireat", "httl", "hpttl", "hexpiretime",
                "hpexpiretime", "hpersist", "hgetex", "hsetex", "hgetdel"}


def test_info_of_every_implemented_command_matches_valkey(both):
    ours, theirs, proto = both
    names = sorted(implemented(ours))
    a = ours.call("COMMAND", "INFO", *names)
    b = theirs.call("COMMAND", "INFO", *names)
    bad = []
    for name, x, y in zip(names, a[1], b[1]):
        if name.split("|")[0] in VALKEY8_INFO_CHANGES:
            continue
        if name in VALKEY9_ONLY:   # valkey-server 8.0 does not have them (null)
            assert x[0] == "array" and y[0] == "null", name
            continue
        assert x[0] == "array", name
        if x[1][:9] != strip_notes(y)[1][:9]:
            bad.append(name)
    assert not bad, f"COMMAND INFO differs from valkey-server for {bad}"
