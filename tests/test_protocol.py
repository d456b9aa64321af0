"""The network protocol layer, byte for byte against a real valkey-server.

Every case sends the same bytes to valkeyd and to valkey-server over raw sockets and compares
the reply bytes *and* whether the server closed the connection afterwards. Where Valkey 8.0
and Redis 7.2.4 differ, Redis's behaviour is asserted on its own (commented).
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from harness import start_valkey, start_valkeyd

# -- raw exchanges ---------------------------------------------------------------------------------


def talk(port, chunks, delay=0.01, quiet=0.25, unix=None, timeout=10.0):
    """Send ``chunks`` (each in its own write, ``delay`` apart), then read until the server
    has been quiet for ``quiet`` seconds or closed the connection. Returns (reply, closed)."""
    if isinstance(chunks, bytes):
        chunks = [chunks]
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(unix)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    closed = False
    try:
        for i, c in enumerate(chunks):
            if i and delay:
                time.sleep(delay)
            try:
                s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        s.settimeout(quiet)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(1 << 20)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            out.append(b)
    finally:
        s.close()
    return b"".join(out), closed


def both(server, ref, chunks, **kw):
    with ThreadPoolExecutor(2) as ex:
        a = ex.submit(talk, server.port, chunks, **kw)
        b = ex.submit(talk, ref.port, chunks, **kw)
        return a.result(), b.result()


def compare_cases(server, ref, cases, **kw):
    """Run every case against both servers (concurrently) and return the differences."""
    with ThreadPoolExecutor(16) as ex:
        futs = [(c, ex.submit(talk, server.port, c, **kw), ex.submit(talk, ref.port, c, **kw))
                for c in cases]
        diffs = []
        for c, fa, fb in futs:
            a, b = fa.result(), fb.result()
            if a != b:
                diffs.append((c, a, b))
        return diffs


def assert_same(server, ref, cases, **kw):
    diffs = compare_cases(server, ref, cases, **kw)
    assert not diffs, "\n".join(f"{_short(c)}:\n  valkeyd {_short(a)}\n  valkey  {_short(b)}"
                                 for c, a, b in diffs)


def _short(x, n=300):
    r = repr(x)
    return r if len(r) <= n else r[:n // 2] + " ... " + r[-n // 2:]


def mb(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


@pytest.fixture(autouse=True)
def _clean(server, ref):
    for s in (server, ref):
        c = s.client()
        c.flushall()
        c.close()


# -- inline commands -------------------------------------------------------------------------------

INLINE = [
    b"PING\r\n", b"PING\n", b"ping\r\n", b"\r\n\r\nPING\r\n", b"\n\n\nPING\n", b"   PING   \r\n",
    b"\tPING\t\r\n", b"PING hello\r\n", b"ECHO \"a\\x41b\"\r\n", b"ECHO \"\\x4\"\r\n",
    b"ECHO \"\\x4g\"\r\n", b"ECHO \"\\xzz\"\r\n", b"ECHO \"\\n\\r\\t\\b\\a\\z\\\\\\\"\"\r\n",
    b"ECHO 'a\\'b'\r\n", b"ECHO 'a\\nb'\r\n", b"ECHO 'a\"b'\r\n", b"ECHO \"a'b\"\r\n",
    b"ECHO \"abc\r\n", b"ECHO 'abc\r\n", b"ECHO \"a\"b\r\n", b"ECHO 'a'b\r\n", b"ECHO \"\"\r\n",
    b"ECHO ''\r\n", b"ECHO a\"b c\"d\r\n", b"ECHO a\"b c\" d\r\n", b"ECHO \"a\"\tb\r\n",
    b"ECHO a\x0bb\r\n", b"ECHO \x0ba\r\n", b"ECHO \"a\"\x0b\r\n", b"ECHO a\x0cb\r\n",
    b"ECHO a\rb\n", b"ECHO a\r\r\n", b"ECHO \xff\xfe\r\n", b"SET k\x00 v\r\nPING\r\n",
    b"PING\x00\r\nPING\r\n", b"ECHO \"a\\\"\r\n", b"ECHO \"\\\r\n", b"\"PING\"\r\n",
    b"'PING'\r\n", b"PING\r", b"PING", b"ECHO \"a b\" 'c d'\r\n", b"SET k \"v v\"\r\nGET k\r\n",
    b"NOSUCH a b\r\n", b"\xffCMD a\xfe \xc3\xa9\r\n", b"NOSUCH " + "é".encode() * 100 + b"\r\n", b"NOSUCH " + b"x" * 300 + b"\r\n", b"$4\r\n", b":1\r\n", b"+PING\r\n",
    b"-ERR\r\n", b"~1\r\n$4\r\nPING\r\n", b"%1\r\n$1\r\na\r\n$1\r\nb\r\n",
]


def test_inline_commands(server, ref):
    assert_same(server, ref, INLINE)


def test_blank_inline_line_then_multibulk(server, ref):
    # Redis 7.2.4 resets the request type after every request, an inline line of blanks
    # included (processInputBuffer: argc == 0 -> resetClient), so the multibulk request after
    # it is read as multibulk. Valkey 8.0 reads it as inline: Redis's behaviour is asserted.
    for data in (b" \r\n*1\r\n$4\r\nPING\r\n", b"\t\n*1\r\n$4\r\nPING\r\n",
                 b"\r\r\n*1\r\n$4\r\nPING\r\n"):
        assert talk(server.port, data) == (b"+PONG\r\n", False)
    # empty lines behave the same in both servers
    assert_same(server, ref, [b"\r\n*1\r\n$4\r\nPING\r\n", b"\n*1\r\n$4\r\nPING\r\n"])


def test_inline_too_big(server, ref):
    assert_same(server, ref, [
        b"a" * (64 * 1024 + 1),           # no newline past 64KB: error and close
        b"a" * (64 * 1024),               # exactly 64KB: still waiting
        b"ECHO " + b"a" * (70 * 1024) + b"\r\n",   # long lines with a newline are fine
        b"PING\r\n" + b"b" * (64 * 1024 + 10),     # the reply to PING comes first
        b"ECHO a\x00" + b"b" * (64 * 1024 + 10) + b"\r\n",  # a NUL hides the newline
    ], quiet=0.5)


# -- multibulk -------------------------------------------------------------------------------------

MULTIBULK = [
    b"*0\r\nPING\r\n", b"*-1\r\nPING\r\n", b"*-5\r\nPING\r\n", b"*-0\r\n", b"*abc\r\n",
    b"*\r\n", b"*+1\r\n$4\r\nPING\r\n", b"*01\r\n$4\r\nPING\r\n", b"* 1\r\n$4\r\nPING\r\n",
    b"*1 \r\n$4\r\nPING\r\n", b"*2147483647\r\n", b"*2147483648\r\n", b"*9223372036854775807\r\n",
    b"*9223372036854775808\r\n", b"*-9223372036854775808\r\nPING\r\n", b"*1\r\n$abc\r\n",
    b"*1\r\n$-1\r\n", b"*1\r\n$04\r\nPING\r\n", b"*1\r\n$+4\r\nPING\r\n", b"*1\r\n$\r\n",
    b"*1\r\n$-0\r\n", b"*1\r\n$ 4\r\nPING\r\n", b"*1\r\n:4\r\n", b"*1\r\n*1\r\n",
    b"*1\r\n*1\r\n$4\r\nPING\r\n", b"*2\r\n$4\r\nECHO\r\n*1\r\n", b"*1\r\n%1\r\n",
    b"*1\r\n-ERR\r\n", b"*1\r\n_\r\n", b"*1\r\n,1.5\r\n", b"*1\r\n#t\r\n", b"*1\r\nPING\r\n",
    b"*1\r\n$4\r\nPINGxx", b"*1\r\n$4\r\nPINGxx\r\nPING\r\n", b"*1\r\n$4\r\nPING\n",
    b"*1\n$4\r\nPING\r\n", b"*1\r$4\r\nPING\r\n", b"*1\rX$4\r\nPING\r\n", b"*1\r\n$4\rXPING\r\n",
    b"*1\r\n$4\x00\r\nPING\r\n", b"*1\x00\r\n$4\r\nPING\r\n", b"*1\r\n$536870912\r\n",
    b"*1\r\n$536870913\r\n", b"*1\r\n$9223372036854775808\r\n", b"*1\r\n$0\r\n\r\n",
    b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n" + mb("GET", "k"),
    b"*1\r\n$4\r\nping\r\n", b"*1\r\n$4\r\nPiNg\r\n", b"*0\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
    b"*1\r\n$1\r\n\x00\r\n", b"*2\r\n$4\r\nECHO\r\n$3\r\n\x00\r\n\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n+PING\r\n", b"*1\r\n$4\r\nPING\r\n*abc\r\n",
    b"QUIT\r\n*abc\r\n", b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n", b"PING\r\nQUIT\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n>1\r\n$4\r\nPING\r\n", b"*1\r\n$4\r\nPING\r\n$4\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n:1\r\n", b"*1\r\n$4\r\nPING\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"*1\r\n$4\r\nPING\r\n_\r\n", b"*1\r\n$4\r\nPING\r\n+\r\n",
    mb("NOSUCH", "a\r\nb"), mb("a\r\nb\x00c", "x"), mb("CONFIG", "x\r\ny\x00z"), mb("C" * 300),
    mb("NOSUCH", "a" * 100, "b" * 100, "c"), mb("NOSUCH", "\xff\xfe", "\xc3"), mb(""), mb("", ""),
]


def test_multibulk_edge_cases(server, ref):
    assert_same(server, ref, MULTIBULK)


def test_too_big_count_strings(server, ref):
    assert_same(server, ref, [
        b"*" + b"1" * (64 * 1024 + 1),                         # too big mbulk count string
        b"*1\r\n$" + b"1" * (64 * 1024 + 1),                   # too big bulk count string
        b"*2\r\n$4\r\nECHO\r\n$" + b"1" * (64 * 1024 + 1),
        b"*1\r\n$4\r\nPING\r\n*" + b"1" * (64 * 1024 + 1),     # earlier request still runs
        b"*" + b"1" * 1000,                                   # short: keeps waiting
    ], quiet=0.5)


def test_pipeline_mixing_inline_and_multibulk(server, ref):
    data = (b"PING\r\n" + mb("SET", "k", "v") + b"GET k\r\n" + mb("ECHO", "x y")
            + b"ECHO \"a b\"\n" + b"*0\r\n\r\n" + mb("INCR", "n") + b"INCR n\r\n" + mb("DEL", "k"))
    assert_same(server, ref, [data])


def test_requests_split_at_every_byte(server, ref):
    def data(i):
        k = "k%04d" % i
        return (mb("SET", k, "hello") + b"ECHO \"x y\"\r\n" + mb("GET", k) + b"PING\n"
                + mb("ECHO", "") + b"EXISTS " + k.encode() + b"\r\n" + mb("DEL", k))
    (exp, closed), (exp2, _) = both(server, ref, [data(0)])
    assert exp == exp2 and not closed and exp.count(b"\r\n") >= 7
    n = len(data(0))
    cases = [[data(i)[:i], data(i)[i:]] for i in range(1, n)]
    with ThreadPoolExecutor(8) as ex:
        res = list(ex.map(lambda ch: talk(server.port, ch, delay=0.02, quiet=0.3), cases))
    bad = [(c, r) for c, r in zip(cases, res) if r != (exp, False)]
    assert not bad, bad[:3]
    # and one byte per write
    assert talk(server.port, [bytes([b]) for b in data(0)], delay=0.002) == (exp, False)


def test_split_requests_at_argument_boundaries_with_reference(server, ref):
    # A read that ends exactly between two arguments of a request (no partial line).
    data = mb("SET", "k", "v") + mb("ECHO", "abc") + mb("GET", "k")
    cuts = [len(b"*3\r\n"), len(b"*3\r\n$3\r\nSET\r\n"), len(mb("SET", "k", "v") + b"*2\r\n"),
            len(mb("SET", "k", "v") + b"*2\r\n$4\r\nECHO\r\n")]
    for cut in cuts:
        assert_same(server, ref, [[data[:cut], data[cut:]]], delay=0.05)
        # the malformed continuation of a pending request is reported as Redis does
        assert_same(server, ref, [[data[:cut], b"PING\r\n"], [data[:cut], b"*1\r\n"]], delay=0.05)


def test_thousand_pipelined_commands_one_write(server):
    n = 1000
    data = b"".join(mb("SET", f"key:{i}", f"value:{i}") for i in range(n))
    data += b"".join(mb("GET", f"key:{i}") for i in range(n))
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(data)
    expected = b"+OK\r\n" * n + b"".join(
        b"$%d\r\nvalue:%d\r\n" % (len(f"value:{i}"), i) for i in range(n))
    got = b""
    while len(got) < len(expected):
        b = s.recv(1 << 20)
        assert b
        got += b
    s.close()
    assert got == expected


def test_replies_of_one_read_leave_in_one_write(server):
    # 200 small commands in one packet: the replies come back together (one write).
    data = mb("PING") * 200
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(data)
    time.sleep(0.2)
    first = s.recv(1 << 20)
    s.close()
    assert first == b"+PONG\r\n" * 200


def test_very_large_values_round_trip(server, ref):
    for size in (10 * 1024 * 1024, 512 * 1024 + 3):
        val = os.urandom(size)
        for s in (server, ref):
            c = s.client()
            assert c.set(b"big\x00key\xff", val) is True
            assert c.get(b"big\x00key\xff") == val
            assert c.strlen(b"big\x00key\xff") == size
            c.close()


def test_binary_safe_keys_and_values(server, ref):
    key = bytes(range(256))
    val = bytes(range(255, -1, -1)) * 3 + b"\r\n$3\r\n*1\r\n"
    assert_same(server, ref, [mb("SET", key, val) + mb("GET", key) + mb("EXISTS", key)
                              + mb("ECHO", b"\r\n") + mb(b"ECHO", b"\x00")])


def test_large_argument_count(server, ref):
    # 100k arguments split over many reads (parsed once each, no quadratic re-parsing).
    keys = [b"key:%d" % i for i in range(50000)]
    data = mb(b"MSET", *[x for k in keys for x in (k, k)]) + mb(b"EXISTS", *keys)
    t0 = time.time()
    # (the lmdb engine's MSET of 50k new keys takes about a second before its reply)
    quiet = 3.0 if os.environ.get("VALKEYD_ENGINE") == "lmdb" else 1.0
    (a, ca), (b, cb) = both(server, ref, [data[i:i + 65536] for i in range(0, len(data), 65536)],
                            delay=0.001, quiet=quiet)
    assert (a, ca) == (b, cb) == (b"+OK\r\n:50000\r\n", False)
    assert time.time() - t0 < 20


# -- security, QUIT ------------------------------------------------------------------------------------


def test_post_and_host_close_the_connection(server, ref):
    assert_same(server, ref, [
        b"POST / HTTP/1.1\r\n", b"PING\r\nPOST / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"host: x\r\n", b"pOsT\r\n",
        mb("Host:", "x"), mb("post"), b"PING\r\n" + mb("POST") + b"PING\r\n",
    ])
    assert server.client().ping()


def test_quit(server, ref):
    assert_same(server, ref, [b"QUIT\r\n", mb("QUIT"), mb("QUIT", "extra", "args"),
                              b"PING\r\nQUIT\r\nPING\r\n", b"quit\r\n*abc\r\n"])


# -- limits ----------------------------------------------------------------------------------------


def test_unauthenticated_limits(authpair):
    a, b = authpair
    many = [b"x"] * 11
    assert_same(a, b, [
        mb("PING"), b"PING\r\n", mb("SET", "k", "v"), mb(*([b"ECHO"] + [b"x"] * 9)),
        mb(*([b"ECHO"] + many)),                       # 12 > 10: refused before AUTH
        b"*11\r\n", b"*10\r\n", b"*1\r\n$16384\r\n", b"*1\r\n$16385\r\n",
        mb("ECHO", b"x" * 16385), mb("AUTH", "wrong"), mb("AUTH", "sekret") + mb(*([b"ECHO"] + many)),
        mb("AUTH", "sekret") + mb("ECHO", b"x" * 20000),
        b"AUTH sekret\r\n" + mb("ECHO", b"y" * 16385),
        mb("AUTH", "default", "sekret") + b"*11\r\n" + b"$1\r\nx\r\n" * 11,
        b"*11\r\n$1\r\nx\r\n" + mb("AUTH", "sekret"),
        mb("HELLO", "2", "AUTH", "default", "wrong") + mb(*([b"ECHO"] + many)),
    ])
    # HELLO AUTH lifts the limits as well (HELLO's reply names the server: compared apart)
    for s in (a, b):
        r, closed = talk(s.port, mb("HELLO", "2", "AUTH", "default", "sekret") + mb(*([b"ECHO"] + many)))
        assert not closed and r.endswith(b"-ERR wrong number of arguments for 'echo' command\r\n")


@pytest.fixture(scope="module")
def private_pair():
    """A valkeyd and a valkey-server whose configuration the tests may change."""
    a = start_valkeyd("--save", "")
    b = start_valkey()
    yield a, b
    a.stop()
    b.stop()


def test_proto_max_bulk_len(private_pair):
    a, b = private_pair
    for s in (a, b):
        c = s.client()
        # Redis's minimum is 1mb
        with pytest.raises(redis.ResponseError):
            c.config_set("proto-max-bulk-len", "1000")
        assert c.config_set("proto-max-bulk-len", "1mb")
        c.close()
    try:
        assert_same(a, b, [b"*1\r\n$1048577\r\n", b"*1\r\n$1048576\r\n",
                           mb("ECHO", "ok") + b"*2\r\n$4\r\nECHO\r\n$2000000\r\n"])
        big = b"x" * (1 << 20)
        assert_same(a, b, [mb("SET", "k", big) + mb("STRLEN", "k"), mb("SET", "k", big + b"y")],
                    quiet=0.5)
    finally:
        for s in (a, b):
            c = s.client()
            c.config_set("proto-max-bulk-len", "512mb")
            c.close()


def test_proto_max_bulk_len_command_line():
    a = start_valkeyd("--proto-max-bulk-len", "2mb", "--save", "")
    b = start_valkey("--proto-max-bulk-len", "2mb")
    try:
        assert_same(a, b, [b"*1\r\n$2097153\r\n", b"*1\r\n$2097152\r\n"])
        for s in (a, b):
            assert s.client().config_get("proto-max-bulk-len") == {"proto-max-bulk-len": "2097152"}
    finally:
        a.stop()
        b.stop()


def test_client_query_buffer_limit(private_pair):
    a, b = private_pair
    for s in (a, b):
        c = s.client()
        with pytest.raises(redis.ResponseError):
            c.config_set("client-query-buffer-limit", "1000")
        assert c.config_set("client-query-buffer-limit", "1mb")
        c.close()
    try:
        chunks = [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n"] + [b"x" * 65536] * 40
        (ra, ca), (rb, cb) = both(a, b, chunks, delay=0.002, quiet=1.0)
        assert (ra, ca) == (rb, cb) == (b"", True)
        # arguments already parsed do not count: ten arguments of 200KB each are fine
        args = [b"MSET"] + [b"y" * 200000] * 10
        data = mb(*args)
        (ra, ca), (rb, cb) = both(a, b, [data[i:i + 65536] for i in range(0, len(data), 65536)],
                                  delay=0.002, quiet=1.0)
        assert (ra, ca) == (rb, cb) == (b"+OK\r\n", False)
        assert a.alive() and a.client().ping()
    finally:
        for s in (a, b):
            c = s.client()
            c.config_set("client-query-buffer-limit", "1gb")
            c.close()


def test_maxclients():
    a = start_valkeyd("--maxclients", "3", "--save", "")
    b = start_valkey("--maxclients", "3")
    try:
        for s in (a, b):
            held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(3)]
            for h in held:
                h.sendall(b"PING\r\n")
                assert h.recv(100) == b"+PONG\r\n"
            assert talk(s.port, b"PING\r\n") == (b"-ERR max number of clients reached\r\n", True)
            for h in held:
                h.close()
            time.sleep(0.3)
            assert talk(s.port, b"PING\r\n") == (b"+PONG\r\n", False)
            c = s.client()
            assert c.info("stats")["rejected_connections"] == 1
            c.close()
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def timeout_pair():
    a = start_valkeyd("--timeout", "1", "--save", "")
    b = start_valkey("--timeout", "1")
    yield a, b
    a.stop()
    b.stop()


def test_timeout_closes_idle_clients_only(timeout_pair):
    for s in timeout_pair:
        idle = socket.create_connection(("127.0.0.1", s.port))
        busy = socket.create_connection(("127.0.0.1", s.port))
        deadline = time.time() + 3.5
        while time.time() < deadline:
            busy.sendall(b"PING\r\n")
            assert busy.recv(100) == b"+PONG\r\n"
            time.sleep(0.2)
        idle.settimeout(2)
        assert idle.recv(100) == b""          # closed by the server
        busy.sendall(b"PING\r\n")
        assert busy.recv(100) == b"+PONG\r\n"
        idle.close()
        busy.close()


@pytest.mark.parametrize("cmd,first", [
    (mb("SUBSCRIBE", "ch"), b"*3\r\n$9\r\nsubscribe"),
    (mb("BLPOP", "nolist", "0"), None),
], ids=["pubsub", "blocked"])
def test_timeout_spares_pubsub_and_blocked_clients(timeout_pair, cmd, first):
    a, _ = timeout_pair
    reply, _ = talk(a.port, cmd, quiet=0.2)
    assert not reply.startswith(b"-ERR unknown command"), reply
    for s in timeout_pair:
        x = socket.create_connection(("127.0.0.1", s.port))
        x.sendall(cmd)
        if first:
            assert x.recv(100).startswith(first)
        time.sleep(3)
        x.settimeout(0.5)
        if first:   # still subscribed and connected
            x.sendall(mb("PING"))
            assert x.recv(100) == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        else:       # still blocked and connected
            with pytest.raises(socket.timeout):
                x.recv(100)
        x.close()


# -- unix sockets ----------------------------------------------------------------------------------


def test_unix_socket():
    d = tempfile.mkdtemp(prefix="valkeyd-unix-")
    path = os.path.join(d, "v.sock")
    a = start_valkeyd("--unixsocket", path, "--unixsocketperm", "700", "--save", "")
    try:
        c = redis.Redis(unix_socket_path=path)
        assert c.ping() is True
        assert c.set("k", b"v\x00\r\n") is True
        assert c.get("k") == b"v\x00\r\n"
        c3 = redis.Redis(unix_socket_path=path, protocol=3)
        assert c3.get("k") == b"v\x00\r\n"
        info = c.client_info()
        assert "U" in info["flags"] and info["addr"] == f"{path}:0"
        c.close()
        c3.close()
        assert talk(None, b"PING\r\n*1\r\n$4\r\nPING\r\n", unix=path) == (b"+PONG\r\n+PONG\r\n", False)
        assert talk(None, b"*abc\r\n", unix=path) == (
            b"-ERR Protocol error: invalid multibulk length\r\n", True)
        assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    finally:
        a.stop()


# -- robustness --------------------------------------------------------------------------------------


def test_hostile_headers_do_not_stall_the_server(server):
    # Huge aggregate counts (nested too) must not allocate: the server answers at once.
    for data in (b"*2147483647\r\n", b"*2000000000\r\n" * 1000, b"*1\r\n*2147483647\r\n",
                 b"*3\r\n" + b"*2147483647\r\n" * 5, b"*1\r\n$4\r\nPING\r\n*2147483647\r\n"):
        t0 = time.time()
        talk(server.port, data, quiet=0.1)
        c = server.client()
        assert c.ping() is True
        c.close()
        assert time.time() - t0 < 2.0, data[:30]


def test_fast_path_guards_in_a_fresh_server(ref):
    # Reads cut right after a complete argument, and hostile headers, on a server whose
    # readers have seen nothing else.
    a = start_valkeyd("--save", "")
    try:
        assert_same(a, ref, MULTIBULK[:40])
        data = mb("SET", "pk", "v") + mb("ECHO", "abc") + mb("GET", "pk")
        for cut in (4, 13, len(mb("SET", "pk", "v")) + 4, len(mb("SET", "pk", "v")) + 14):
            assert talk(a.port, [data[:cut], data[cut:]], delay=0.05) == (
                b"+OK\r\n$3\r\nabc\r\n$1\r\nv\r\n", False)
        for hostile in (b"*2147483647\r\n", b"*3\r\n" + b"*2000000000\r\n" * 50):
            t0 = time.time()
            talk(a.port, hostile, quiet=0.1)
            c = a.client()
            assert c.ping() is True
            c.close()
            assert time.time() - t0 < 2.0
    finally:
        a.stop()


def test_security_warning_logged_at_most_once_a_minute(private_pair):
    a, _ = private_pair
    before = a.log().count("Possible SECURITY ATTACK detected")
    for _ in range(5):
        assert talk(a.port, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", quiet=0.1) == (b"", True)
    time.sleep(0.2)
    log = a.log()
    assert log.count("Possible SECURITY ATTACK detected") - before <= 1
    assert "Possible SECURITY ATTACK detected" in log and "Connection from 127.0.0.1:" in log
