"""Hash commands: Redis 7.2.4 behaviour (compared with valkey-server where the reply is
deterministic), RESP2/RESP3 shapes, encodings and their conversions, and, in-process,
propagation and keyspace events. Valkey 9's per-field expiry (HEXPIRE ... HGETDEL) is tested
against its documented behaviour (valkey-server 8.0 does not have it), with the clock
controlled in-process where time matters."""
from __future__ import annotations

import time

import pytest

from harness import inproc_client, inproc_server, reply_or_error, same_reply

FAR = 4102444800123  # 2100-01-01 in ms (+123)
LONG = "x" * 70      # longer than hash-max-listpack-value (64)

run, same = reply_or_error, same_reply


def _args(line: str):
    return tuple(line.split())


# -- deterministic replies, compared with valkey-server --------------------------------------------
SCRIPT = """
HSET h
HSET h a
HSET h a 1 b
HMSET h a 1 b
SET s x
HSET s a 1
HMSET s a 1
HSETNX s a 1
HGET s a
HGET h a
HSET h a 1 b 2
HSET h a 1 b 2 c 3
HMSET h d 4
HSETNX h a 5
HSETNX h z 5
HGET h z
HMGET h a zz z
HMGET nokey a b
HMGET s a
HLEN h
HLEN nokey
HLEN s
HSTRLEN h a
HSTRLEN h zz
HSTRLEN nokey zz
HSTRLEN s a
HEXISTS h a
HEXISTS h zz
HEXISTS nokey a
HEXISTS s a
HKEYS h
HVALS h
HGETALL h
HKEYS nokey
HVALS nokey
HGETALL nokey
HKEYS s
HVALS s
HGETALL s
HINCRBY h a 10
HINCRBY h a -100
HINCRBY h a x
HINCRBY h a 1.5
HINCRBY h a 9223372036854775807
HINCRBY h n -9223372036854775808
HINCRBY h n -1
HINCRBY h m 9223372036854775807
HINCRBY h m 1
HSET h str abc
HSET h sp " 1"
HINCRBY h str 1
HINCRBY h sp 1
HINCRBYFLOAT h str 1
HINCRBYFLOAT h a 1.5
HINCRBYFLOAT h a -0.25e1
HINCRBYFLOAT h a inf
HINCRBYFLOAT h a -inf
HINCRBYFLOAT h a nan
HINCRBYFLOAT h a abc
HINCRBYFLOAT h f 3.0000000000000000001
HINCRBYFLOAT h f 0x10
HINCRBYFLOAT hg g 1e308
HINCRBYFLOAT hg g 1e308
OBJECT ENCODING hg
HINCRBYFLOAT h m 1
HINCRBYFLOAT nk f 2.5
HINCRBY nk2 f -5
HINCRBY s f 1
HINCRBYFLOAT s f 1
HRANDFIELD nokey
HRANDFIELD nokey 5
HRANDFIELD nokey -5 WITHVALUES
HRANDFIELD h 0
HRANDFIELD h 0 WITHVALUES
HRANDFIELD h x
HRANDFIELD h 1.0
HRANDFIELD h 1 foo
HRANDFIELD h 1 WITHVALUES x
HRANDFIELD h -9223372036854775808
HRANDFIELD h 9223372036854775807 WITHVALUES
HRANDFIELD h -4611686018427387904 WITHVALUES
HRANDFIELD h 4611686018427387904 WITHVALUES
HRANDFIELD s
HRANDFIELD s 1
HRANDFIELD nokey x
HDEL h zz
HDEL h a b c zz
HDEL nokey a
HDEL s a
HSCAN nokey 0
HSCAN nokey x
HSCAN nokey 0 COUNT 0
HSCAN nokey 0 BAD
HSCAN s 0
HSCAN h x
HSCAN h 0 COUNT 0
HSCAN h 0 COUNT -1
HSCAN h 0 COUNT x
HSCAN h 0 MATCH
HSCAN h 0 COUNT
HSCAN h 0 FOO
HSCAN h 0 TYPE hash
HSCAN h 0 MATCH s*
HSCAN h 0 MATCH * COUNT 1
HSCAN h 18446744073709551616
HSCAN h 0 NOVALUES MATCH s*
HDEL h d z n m str sp f
HGETALL h
EXISTS h
HSET big f1 v1 f2 v2
OBJECT ENCODING big
HSET big f3 {long}
OBJECT ENCODING big
HDEL big f3
OBJECT ENCODING big
HSET lf {long} 1
OBJECT ENCODING lf
HSET lf2 a 1 b {long}
OBJECT ENCODING lf2
HINCRBY lf3 {long} 1
OBJECT ENCODING lf3
HSETNX lf4 {long} 1
OBJECT ENCODING lf4
HSETNX lf5 a {long}
OBJECT ENCODING lf5
HINCRBYFLOAT lf6 a 1
HINCRBYFLOAT lf6 a 1e60
OBJECT ENCODING lf6
""".replace("{long}", LONG)

CASES = [_args(x) for x in SCRIPT.strip().splitlines()]


@pytest.mark.parametrize("proto", [2, 3])
def test_script_matches_reference(server, ref, proto):
    """One sequence (each command sees the effects of the ones before), in both protocols."""
    ours, theirs = server.client(proto), ref.client(proto)
    ours.flushall()
    theirs.flushall()
    for args in CASES:
        same(ours, theirs, *args)
    ours.close()
    theirs.close()


def test_entries_threshold_and_one_way_conversion(r, refc):
    for c in (r, refc):
        c.config_set("hash-max-listpack-entries", 3)
    try:
        for line in ["HSET e a 1 b 2 c 3", "OBJECT ENCODING e", "HSET e d 4", "OBJECT ENCODING e",
                     "HDEL e a b c", "OBJECT ENCODING e",       # one way: stays a hashtable
                     "HSET f a 1 b 2 c 3 d 4", "OBJECT ENCODING f",
                     # the batch is judged before writing: 4 pairs > 3 converts even if they
                     # repeat one field
                     "HSET g a 1", "HSET g a 1 a 2 a 3 a 4", "OBJECT ENCODING g", "HGETALL g",
                     "HSET k a 1 b 2 c 3", "HSET k a 1 b 2 c 3", "OBJECT ENCODING k",
                     "HSETNX k d 1", "OBJECT ENCODING k",
                     "HSET m a 1 b 2 c 3", "HINCRBY m d 1", "OBJECT ENCODING m"]:
            same(r, refc, *_args(line))
        same(r, refc, "CONFIG", "SET", "hash-max-listpack-value", "2")
        for line in ["HSET v ab 12", "OBJECT ENCODING v", "HSET v abc 1", "OBJECT ENCODING v",
                     "HSET w a 1", "HINCRBY w a 1000", "OBJECT ENCODING w"]:
            same(r, refc, *_args(line))
    finally:
        for c in (r, refc):
            c.config_set("hash-max-listpack-entries", 512)
            c.config_set("hash-max-listpack-value", 64)


def test_listpack_order_is_insertion_order(r, refc):
    for line in ["HSET h z 1 a 2 m 3", "HSET h b 4 a 5", "HDEL h z", "HSET h z 6"]:
        same(r, refc, *_args(line))
    for line in ["HKEYS h", "HVALS h", "HGETALL h", "HSCAN h 0", "HSCAN h 123 COUNT 1",
                 "HRANDFIELD h 10", "HRANDFIELD h 10 WITHVALUES", "HRANDFIELD h 4"]:
        same(r, refc, *_args(line))


# -- replies and shapes ---------------------------------------------------------------------------
def test_basic_replies(rr):
    assert rr.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert rr.hset("h", mapping={"a": "3", "c": "4"}) == 1
    assert rr.hget("h", "a") == b"3"
    assert rr.hget("h", "zz") is None
    assert rr.hget("nokey", "a") is None
    assert rr.hmget("h", "a", "zz", "c") == [b"3", None, b"4"]
    assert rr.hlen("h") == 3
    assert rr.hstrlen("h", "a") == 1
    assert rr.hexists("h", "c") is True
    assert sorted(rr.hkeys("h")) == [b"a", b"b", b"c"]
    assert sorted(rr.hvals("h")) == [b"2", b"3", b"4"]
    assert rr.hgetall("h") == {b"a": b"3", b"b": b"2", b"c": b"4"}
    assert rr.hsetnx("h", "a", "x") == 0
    assert rr.hsetnx("h", "d", "x") == 1
    assert rr.execute_command("HMSET", "h", "e", "5") in (b"OK", "OK", True)
    assert rr.hincrby("h", "n", 5) == 5
    assert rr.hincrbyfloat("h", "fl", "1.25") == 1.25
    assert rr.hdel("h", "a", "b", "zz") == 2
    assert rr.hdel("h", "c", "d", "e", "n", "fl") == 5
    assert rr.exists("h") == 0, "the last HDEL deletes the key"
    assert rr.type("h") == b"none"


def test_hgetall_resp3_map_and_resp2_flat(server):
    c2, c3 = server.client(2), server.client(3)
    c2.flushall()
    c2.hset("h", mapping={"a": "1", "b": "2"})
    raw2 = c2.execute_command("HGETALL", "h", NEVER_DECODE=True)
    raw3 = c3.execute_command("HGETALL", "h")
    assert raw3 == {b"a": b"1", b"b": b"2"}
    assert raw2 == {b"a": b"1", b"b": b"2"}  # redis-py pairs the flat array
    # empty: an empty map in RESP3, an empty array in RESP2
    assert c3.execute_command("HGETALL", "nokey") == {}
    c2.close()
    c3.close()


def test_resp_wire_shapes(server):
    """Byte-exact replies: RESP3 map / pairs, RESP2 flat arrays."""
    import socket
    c = server.client(2)
    c.flushall()
    c.hset("h", mapping={"a": "1"})
    c.close()

    def raw(expect_tail, *cmds):
        """Send the commands at once; read until the output ends with ``expect_tail`` (or
        five seconds pass)."""
        s = socket.create_connection(("127.0.0.1", server.port))
        try:
            req = b""
            for cmd in cmds:
                req += b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a)
                                                      for a in cmd)
            s.sendall(req)
            s.settimeout(5)
            out = b""
            deadline = time.time() + 5
            while not out.endswith(expect_tail) and time.time() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()

    want3 = (b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
             b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
             b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
             b"%0\r\n_\r\n*0\r\n")
    out = raw(want3, [b"HELLO", b"3"], [b"HGETALL", b"h"],
              [b"HRANDFIELD", b"h", b"1", b"WITHVALUES"],
              [b"HRANDFIELD", b"h", b"-2", b"WITHVALUES"], [b"HGETALL", b"nokey"],
              [b"HRANDFIELD", b"nokey"], [b"HRANDFIELD", b"nokey", b"1"])
    assert out.startswith(b"%") and out.endswith(want3)
    assert out[:-len(want3)].endswith(b"\r\n")   # HELLO's map, then exactly these replies
    want2 = (b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
             b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n"
             b"*0\r\n$-1\r\n*2\r\n$1\r\n0\r\n*0\r\n")
    out = raw(want2, [b"HGETALL", b"h"], [b"HRANDFIELD", b"h", b"-2", b"WITHVALUES"],
              [b"HGETALL", b"nokey"], [b"HRANDFIELD", b"nokey"], [b"HSCAN", b"nokey", b"0"])
    assert out == want2


def test_hrandfield_counts(rr):
    fields = {f"f{i}": str(i) for i in range(30)}
    rr.hset("h", mapping=fields)
    for enc_limit in (512, 10):      # listpack, then a hashtable
        rr.config_set("hash-max-listpack-entries", enc_limit)
        rr.delete("h")
        rr.hset("h", mapping=fields)
        assert rr.object("encoding", "h") == (b"listpack" if enc_limit == 512 else b"hashtable")
        assert rr.hrandfield("h").decode() in fields
        got = rr.hrandfield("h", 5)
        assert len(got) == 5 and len(set(got)) == 5
        assert all(g.decode() in fields for g in got)
        assert sorted(rr.hrandfield("h", 100)) == sorted(f.encode() for f in fields)
        got = rr.hrandfield("h", 29)
        assert len(set(got)) == 29
        got = rr.hrandfield("h", -100)
        assert len(got) == 100 and set(got) <= {f.encode() for f in fields}
        assert len(set(got)) > 1
        pairs = rr.execute_command("HRANDFIELD", "h", "-7", "WITHVALUES")
        if rr.connection_pool.connection_kwargs.get("protocol") == 3:
            assert len(pairs) == 7 and all(len(p) == 2 for p in pairs)
            flat = [(p[0], p[1]) for p in pairs]
        else:
            assert len(pairs) == 14
            flat = list(zip(pairs[::2], pairs[1::2]))
        assert all(fields[f.decode()] == v.decode() for f, v in flat)
    rr.config_set("hash-max-listpack-entries", 512)


def test_hscan_hashtable_iteration(r):
    n = 1000
    r.hset("h", mapping={f"f{i}": f"v{i}" for i in range(n)})
    assert r.object("encoding", "h") == b"hashtable"
    seen = {}
    cursor = 0
    calls = 0
    while True:
        cursor, part = r.hscan("h", cursor, count=50)
        seen.update(part)
        calls += 1
        if cursor == 0:
            break
    assert calls > 5, "a hashtable is scanned in steps"
    assert seen == {f"f{i}".encode(): f"v{i}".encode() for i in range(n)}
    # MATCH filters fields; NOVALUES returns fields only (Valkey 8 / Redis 7.4 option)
    keys = set()
    cursor = 0
    while True:
        cursor, part = r.hscan("h", cursor, match="f1*", count=100, no_values=True)
        keys.update(part)
        if int(cursor) == 0:
            break
    assert keys == {f"f{i}".encode() for i in range(n) if str(i).startswith("1")}
    # fields added during the iteration do not break it
    cursor, part = r.hscan("h", 0, count=10)
    r.hset("h", mapping={f"new{i}": "x" for i in range(100)})
    seen = dict(part)
    while cursor:
        cursor, part = r.hscan("h", cursor, count=100)
        seen.update(part)
    assert {f"f{i}".encode() for i in range(n)} <= set(seen)


def test_hscan_listpack_in_one_call(r):
    r.hset("h", mapping={f"f{i}": i for i in range(20)})
    cursor, part = r.hscan("h", 0, count=1)
    assert cursor == 0 and len(part) == 20
    cursor, part = r.hscan("h", 12345, match="f1*")
    assert cursor == 0 and set(part) == {b"f1"} | {f"f{i}".encode() for i in range(10, 20)}
    assert r.hscan("h", 0, match="f2", no_values=True) == (0, [b"f2"])


def test_wrong_type_and_arity(r):
    r.set("s", "x")
    for args in [("HGET", "s", "a"), ("HSET", "s", "a", "b"), ("HDEL", "s", "a"),
                 ("HLEN", "s"), ("HRANDFIELD", "s"), ("HSCAN", "s", "0"),
                 ("HINCRBYFLOAT", "s", "a", "1"), ("HEXPIRE", "s", "10", "FIELDS", "1", "a"),
                 ("HTTL", "s", "FIELDS", "1", "a"), ("HPERSIST", "s", "FIELDS", "1", "a"),
                 ("HGETEX", "s", "FIELDS", "1", "a"), ("HSETEX", "s", "FIELDS", "1", "a", "b"),
                 ("HGETDEL", "s", "FIELDS", "1", "a")]:
        assert run(r, *args).startswith("ERR!WRONGTYPE"), args
    for args in [("HGET", "h"), ("HSET", "h", "a"), ("HLEN",), ("HMGET", "h"),
                 ("HEXPIRE", "h", "10", "FIELDS", "1"), ("HTTL", "h", "FIELDS", "1"),
                 ("HSETEX", "h", "FIELDS", "1", "a"), ("HGETDEL", "h", "FIELDS", "1")]:
        assert run(r, *args).startswith("ERR!wrong number of arguments"), args


def test_keyspace_stats(r):
    r.config_resetstat()
    r.hset("h", "a", "1")
    r.hget("h", "a")
    r.hget("nokey", "a")
    r.hmget("h", "a")
    info = r.info("stats")
    assert info["keyspace_hits"] == 2 and info["keyspace_misses"] == 1


# -- per-field expiry (Valkey 9), against a real server --------------------------------------------
def test_hexpire_reply_codes(rr):
    rr.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert rr.object("encoding", "h") == b"listpack"
    assert rr.execute_command("HEXPIRE", "h", 100, "FIELDS", 2, "a", "zz") == [1, -2]
    assert rr.object("encoding", "h") == b"hashtable", "a volatile field needs a hashtable"
    assert rr.execute_command("HTTL", "h", "FIELDS", 3, "a", "b", "zz") == [100, -1, -2]
    pttl = rr.execute_command("HPTTL", "h", "FIELDS", 1, "a")[0]
    assert 99000 <= pttl <= 100000
    t = rr.execute_command("HPEXPIRETIME", "h", "FIELDS", 1, "a")[0]
    assert abs(t - (time.time() * 1000 + 100000)) < 5000
    assert rr.execute_command("HEXPIRETIME", "h", "FIELDS", 1, "a")[0] == (t + 500) // 1000
    assert rr.execute_command("HPEXPIREAT", "h", FAR, "FIELDS", 1, "b") == [1]
    assert rr.execute_command("HPEXPIRETIME", "h", "FIELDS", 1, "b") == [FAR]
    assert rr.execute_command("HEXPIREAT", "h", FAR // 1000, "FIELDS", 1, "b") == [1]
    assert rr.execute_command("HEXPIRETIME", "h", "FIELDS", 1, "b") == [FAR // 1000]
    assert rr.execute_command("HEXPIRE", "nokey", 100, "FIELDS", 2, "a", "b") == [-2, -2]
    assert rr.execute_command("HTTL", "nokey", "FIELDS", 1, "a") == [-2]
    # a time now or in the past deletes the field (2)
    assert rr.execute_command("HEXPIRE", "h", 0, "FIELDS", 2, "a", "zz") == [2, -2]
    assert rr.execute_command("HPEXPIREAT", "h", 1, "FIELDS", 1, "b") == [2]
    assert rr.hgetall("h") == {b"c": b"3"}
    assert rr.execute_command("HEXPIRE", "h", -5, "FIELDS", 1, "c") == [2]
    assert rr.exists("h") == 0, "the last field's deletion deletes the key"


@pytest.mark.parametrize("opt,has_ttl,new,expect", [
    ("NX", False, 100, 1), ("NX", True, 100, 0),
    ("XX", False, 100, 0), ("XX", True, 100, 1),
    ("GT", False, 100, 0), ("GT", True, 300, 1), ("GT", True, 100, 0), ("GT", True, 200, 0),
    ("LT", False, 100, 1), ("LT", True, 100, 1), ("LT", True, 300, 0), ("LT", True, 200, 0),
])
@pytest.mark.parametrize("encoding", ["listpack", "hashtable"])
def test_hexpire_conditions(r, opt, has_ttl, new, expect, encoding):
    """A field without expiry time counts as an infinite TTL for GT and LT."""
    r.hset("h", mapping={"a": "1", "b": "2"})
    if encoding == "hashtable":
        r.hset("h", "big", LONG)
    if has_ttl:
        r.execute_command("HPEXPIREAT", "h", FAR + 200, "FIELDS", 1, "a")
    assert r.execute_command("HPEXPIREAT", "h", FAR + new, opt, "FIELDS", 1, "a") == [expect]
    got = r.execute_command("HPEXPIRETIME", "h", "FIELDS", 1, "a")[0]
    assert got == (FAR + new if expect else (FAR + 200 if has_ttl else -1))


def test_field_expiry_errors(r):
    r.hset("h", "a", "1")
    nf = "ERR!numfields should be greater than 0 and match the provided number of fields"
    cases = {
        ("HEXPIRE", "h", "10", "FIELDS", "2", "a"): nf,
        ("HEXPIRE", "h", "10", "FIELDS", "0", "a"): nf,
        ("HEXPIRE", "h", "10", "FIELDS", "-1", "a"): nf,
        ("HEXPIRE", "h", "10", "FIELDS", "x", "a"): "ERR!value is not an integer or out of range",
        ("HEXPIRE", "h", "10", "NX", "1", "a"): nf,       # no FIELDS
        ("HEXPIRE", "h", "10", "FOO", "FIELDS", "1", "a"): "ERR!Unsupported option FOO",
        ("HEXPIRE", "h", "10", "NX", "XX", "FIELDS", "1", "a"):
            "ERR!NX and XX, GT or LT options at the same time are not compatible",
        ("HEXPIRE", "h", "10", "GT", "LT", "FIELDS", "1", "a"):
            "ERR!GT and LT options at the same time are not compatible",
        ("HEXPIRE", "h", "abc", "FIELDS", "1", "a"): "ERR!value is not an integer or out of range",
        ("HEXPIRE", "h", "9223372036854776", "FIELDS", "1", "a"):
            "ERR!invalid expire time in 'hexpire' command",
        ("HPEXPIRE", "h", "9223372036854775807", "FIELDS", "1", "a"):
            "ERR!invalid expire time in 'hpexpire' command",
        ("HTTL", "h", "FIELDS", "2", "a"): "ERR!syntax error",
        ("HTTL", "h", "FIELDS", "0", "a"): "ERR!syntax error",
        ("HTTL", "h", "FIELDS", "x", "a"): "ERR!value is not an integer or out of range",
        ("HTTL", "h", "FOO", "1", "a"): "ERR!syntax error",
        ("HPERSIST", "h", "FIELDS", "2", "a"): nf,
        ("HGETDEL", "h", "FIELDS", "2", "a"): nf,
        ("HGETEX", "h", "FIELDS", "2", "a"): nf,
        ("HGETEX", "h", "EX", "FIELDS", "1", "a"): "ERR!syntax error",
        ("HGETEX", "h", "EX", "10", "PX", "10", "FIELDS", "1", "a"): "ERR!syntax error",
        ("HGETEX", "h", "KEEPTTL", "FIELDS", "1", "a"): "ERR!syntax error",
        ("HGETEX", "h", "NX", "FIELDS", "1", "a"): "ERR!syntax error",
        ("HGETEX", "h", "EX", "x", "FIELDS", "1", "a"):
            "ERR!value is not an integer or out of range",
        ("HSETEX", "h", "FIELDS", "1", "a"): "ERR!wrong number of arguments for 'hsetex' command",
        ("HSETEX", "h", "FIELDS", "2", "a", "1"): nf,
        ("HSETEX", "h", "FIELDS", "1", "a", "1", "b"): nf,
        ("HSETEX", "h", "PX", "FIELDS", "1", "a", "1"): "ERR!syntax error",
        ("HSETEX", "h", "NX", "XX", "FIELDS", "1", "a", "1"): "ERR!syntax error",
        ("HSETEX", "h", "FNX", "FXX", "FIELDS", "1", "a", "1"): "ERR!syntax error",
        ("HSETEX", "h", "KEEPTTL", "EX", "1", "FIELDS", "1", "a", "1"): "ERR!syntax error",
        ("HSETEX", "h", "PERSIST", "FIELDS", "1", "a", "1"): "ERR!syntax error",
        ("HSETEX", "h", "EX", "9223372036854776", "FIELDS", "1", "a", "1"):
            "ERR!invalid expire time in 'hsetex' command",
    }
    for args, want in cases.items():
        assert run(r, *args) == want, args
    assert r.hgetall("h") == {b"a": b"1"}


def test_hpersist_and_hset_clears_ttl(rr):
    rr.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    rr.execute_command("HEXPIRE", "h", 100, "FIELDS", 3, "a", "b", "c")
    assert rr.execute_command("HPERSIST", "h", "FIELDS", 3, "a", "zz", "a") == [1, -2, -1]
    assert rr.execute_command("HPERSIST", "nokey", "FIELDS", 1, "a") == [-2]
    rr.hset("h", "b", "new")
    assert rr.execute_command("HTTL", "h", "FIELDS", 2, "b", "c") == [-1, 100]
    rr.hincrby("h", "c", 1)
    assert rr.execute_command("HTTL", "h", "FIELDS", 1, "c") == [100], "HINCRBY keeps the TTL"
    rr.hincrbyfloat("h", "c", 1)
    assert rr.execute_command("HTTL", "h", "FIELDS", 1, "c") == [100]
    rr.hsetnx("h", "c", "x")
    assert rr.execute_command("HTTL", "h", "FIELDS", 1, "c") == [100]
    assert rr.object("encoding", "h") == b"hashtable", "no conversion back"
    # the hash value outlives COPY / RENAME with its field TTLs
    rr.copy("h", "h2")
    assert rr.execute_command("HTTL", "h2", "FIELDS", 1, "c") == [100]


def test_hgetex(rr):
    rr.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert rr.execute_command("HGETEX", "h", "FIELDS", 2, "a", "zz") == [b"1", None]
    assert rr.execute_command("HGETEX", "h", "EX", 100, "FIELDS", 2, "a", "zz") == [b"1", None]
    assert rr.execute_command("HTTL", "h", "FIELDS", 2, "a", "b") == [100, -1]
    assert rr.execute_command("HGETEX", "h", "PX", 50000, "FIELDS", 1, "b") == [b"2"]
    assert rr.execute_command("HGETEX", "h", "PXAT", FAR, "FIELDS", 1, "c") == [b"3"]
    assert rr.execute_command("HPEXPIRETIME", "h", "FIELDS", 1, "c") == [FAR]
    assert rr.execute_command("HGETEX", "h", "EXAT", FAR // 1000, "FIELDS", 1, "c") == [b"3"]
    assert rr.execute_command("HEXPIRETIME", "h", "FIELDS", 1, "c") == [FAR // 1000]
    assert rr.execute_command("HGETEX", "h", "PERSIST", "FIELDS", 2, "a", "b") == [b"1", b"2"]
    assert rr.execute_command("HTTL", "h", "FIELDS", 2, "a", "b") == [-1, -1]
    assert rr.execute_command("HGETEX", "nokey", "EX", 10, "FIELDS", 1, "a") == [None]
    assert rr.exists("nokey") == 0
    # a time in the past deletes the fields, after returning them
    assert rr.execute_command("HGETEX", "h", "PXAT", 1, "FIELDS", 2, "a", "c") == [b"1", b"3"]
    assert rr.hgetall("h") == {b"b": b"2"}
    assert rr.execute_command("HGETEX", "h", "EX", 0, "FIELDS", 1, "b") == [b"2"]
    assert rr.exists("h") == 0


def test_hsetex(rr):
    assert rr.execute_command("HSETEX", "h", "FIELDS", 2, "a", "1", "b", "2") == 1
    assert rr.object("encoding", "h") == b"listpack"
    assert rr.execute_command("HSETEX", "h", "EX", 100, "FIELDS", 1, "a", "x") == 1
    assert rr.execute_command("HTTL", "h", "FIELDS", 2, "a", "b") == [100, -1]
    assert rr.hget("h", "a") == b"x"
    assert rr.execute_command("HSETEX", "h", "KEEPTTL", "FIELDS", 1, "a", "y") == 1
    assert rr.execute_command("HTTL", "h", "FIELDS", 1, "a") == [100]
    assert rr.execute_command("HSETEX", "h", "FIELDS", 1, "a", "z") == 1
    assert rr.execute_command("HTTL", "h", "FIELDS", 1, "a") == [-1], "no KEEPTTL: TTL cleared"
    # FNX: only if none of the fields exist; FXX: only if all exist
    assert rr.execute_command("HSETEX", "h", "FNX", "FIELDS", 2, "a", "1", "n", "1") == 0
    assert rr.execute_command("HSETEX", "h", "FXX", "FIELDS", 2, "a", "1", "n", "1") == 0
    assert rr.hget("h", "n") is None
    assert rr.execute_command("HSETEX", "h", "FNX", "PX", 5000, "FIELDS", 1, "n", "1") == 1
    assert rr.execute_command("HSETEX", "h", "FXX", "FIELDS", 2, "a", "2", "n", "2") == 1
    assert rr.hmget("h", "a", "n") == [b"2", b"2"]
    # NX / XX: key-level conditions
    assert rr.execute_command("HSETEX", "h", "NX", "FIELDS", 1, "q", "1") == 0
    assert rr.execute_command("HSETEX", "new", "XX", "FIELDS", 1, "q", "1") == 0
    assert rr.exists("new") == 0
    assert rr.execute_command("HSETEX", "new", "FXX", "FIELDS", 1, "q", "1") == 0
    assert rr.exists("new") == 0
    assert rr.execute_command("HSETEX", "new", "NX", "FNX", "EXAT", FAR // 1000,
                              "FIELDS", 1, "q", "1") == 1
    assert rr.execute_command("HEXPIRETIME", "new", "FIELDS", 1, "q") == [FAR // 1000]
    # a time in the past deletes the named fields: 1 when every field was deleted
    assert rr.execute_command("HSETEX", "h", "PXAT", 1, "FIELDS", 2, "a", "1", "zz", "1") == 0
    assert rr.hget("h", "a") is None
    assert rr.execute_command("HSETEX", "h", "EX", 0, "FIELDS", 2, "b", "1", "n", "1") == 1
    assert rr.exists("h") == 0
    assert rr.execute_command("HSETEX", "nokey", "EX", 0, "FIELDS", 1, "b", "1") == 0
    assert rr.exists("nokey") == 0, "no empty hash is left behind"
    # a field name "FIELDS" among the values
    assert rr.execute_command("HSETEX", "k", "FIELDS", 1, "FIELDS", "v") == 1
    assert rr.hgetall("k") == {b"FIELDS": b"v"}


def test_hgetdel(rr):
    rr.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert rr.execute_command("HGETDEL", "h", "FIELDS", 3, "a", "zz", "a") == [b"1", None, None]
    assert rr.hgetall("h") == {b"b": b"2", b"c": b"3"}
    assert rr.execute_command("HGETDEL", "nokey", "FIELDS", 1, "a") == [None]
    assert rr.execute_command("HGETDEL", "h", "FIELDS", 3, "b", "c", "b") == [b"2", b"3", None]
    assert rr.exists("h") == 0


def test_fields_expire_lazily_and_actively(r):
    """Expired fields are invisible at once, and the active cycle reclaims them (and deletes a
    hash left empty) without any access."""
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.hset("gone", mapping={"x": "1"})
    r.execute_command("HPEXPIRE", "h", 40, "FIELDS", 1, "a")
    r.execute_command("HPEXPIRE", "gone", 40, "FIELDS", 1, "x")
    deadline = time.time() + 5
    while r.hget("h", "a") is not None and time.time() < deadline:
        time.sleep(0.01)
    assert r.hgetall("h") == {b"b": b"2"}
    assert r.hlen("h") == 1
    while r.exists("gone") and time.time() < deadline:
        time.sleep(0.02)
    assert r.exists("gone") == 0, "the active cycle deletes a hash whose last field expired"


def test_field_expiry_does_not_touch_key_ttl(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.expire("h", 1000)
    r.execute_command("HEXPIRE", "h", 10, "FIELDS", 1, "a")
    assert r.ttl("h") == 1000
    r.persist("h")
    assert r.execute_command("HTTL", "h", "FIELDS", 1, "a") == [10]


# -- in-process: propagation, events, time control -------------------------------------------------
@pytest.fixture
def inproc():
    srv, props, events = inproc_server()
    from engines.base import clock
    c = inproc_client(srv)
    now = [1_700_000_000_000]

    def cmd(*args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        clock.frozen = now[0]
        try:
            c.execute(argv)
        finally:
            clock.frozen = None
        out = b"".join(c.out)
        c.out.clear()
        return out

    def cron():
        clock.frozen = now[0]
        try:
            for fn in srv.cron_hooks:
                fn()
        finally:
            clock.frozen = None

    srv.cmd, srv.now, srv.run_cron = cmd, now, cron
    yield srv, props, events
    clock.frozen = None


def test_propagation_of_expiry_commands(inproc):
    srv, props, events = inproc
    t = srv.now[0]
    srv.cmd("HSET", "h", "a", "1", "b", "2", "c", "3")
    props.clear()
    events.clear()
    assert srv.cmd("HEXPIRE", "h", "100", "NX", "FIELDS", "2", "a", "zz") == b"*2\r\n:1\r\n:-2\r\n"
    assert props == [[b"HPEXPIREAT", b"h", b"%d" % (t + 100000), b"NX", b"FIELDS", b"2", b"a",
                      b"zz"]]
    assert events == [("h", "hexpire", b"h")]
    props.clear()
    events.clear()
    assert srv.cmd("HEXPIRE", "h", "100", "NX", "FIELDS", "1", "a") == b"*1\r\n:0\r\n"
    assert props == [] and events == []
    assert srv.cmd("HPEXPIRE", "h", "0", "FIELDS", "2", "a", "b") == b"*2\r\n:2\r\n:2\r\n"
    assert props == [[b"HDEL", b"h", b"a", b"b"]]
    assert events == [("h", "hexpired", b"h")]
    props.clear()
    events.clear()
    assert srv.cmd("HEXPIREAT", "h", "1", "FIELDS", "1", "c") == b"*1\r\n:2\r\n"
    assert props == [[b"HDEL", b"h", b"c"]]
    assert events == [("h", "hexpired", b"h"), ("g", "del", b"h")]
    props.clear()
    srv.cmd("HSET", "h", "a", "1", "b", "2")
    props.clear()
    events.clear()
    srv.cmd("HGETEX", "h", "EX", "10", "FIELDS", "2", "a", "zz")
    assert props == [[b"HPEXPIREAT", b"h", b"%d" % (t + 10000), b"FIELDS", b"1", b"a"]]
    assert events == [("h", "hexpire", b"h")]
    props.clear()
    events.clear()
    srv.cmd("HGETEX", "h", "PERSIST", "FIELDS", "2", "a", "b")
    assert props == [[b"HPERSIST", b"h", b"FIELDS", b"1", b"a"]]
    assert events == [("h", "hpersist", b"h")]
    props.clear()
    srv.cmd("HGETEX", "h", "FIELDS", "1", "a")
    assert props == []
    srv.cmd("HSETEX", "h", "NX", "FIELDS", "1", "a", "1")
    assert props == []
    srv.cmd("HSETEX", "h", "FNX", "ex", "5", "FIELDS", "1", "n", "1")
    assert props == [[b"HSETEX", b"h", b"PXAT", b"%d" % (t + 5000), b"FIELDS", b"1", b"n", b"1"]]
    props.clear()
    events.clear()
    srv.cmd("HSETEX", "h", "KEEPTTL", "FIELDS", "1", "n", "2")
    assert props == [[b"HSETEX", b"h", b"KEEPTTL", b"FIELDS", b"1", b"n", b"2"]]
    assert events == [("h", "hset", b"h")]
    props.clear()
    srv.cmd("HSETEX", "h", "PXAT", "1", "FIELDS", "2", "n", "1", "zz", "1")
    assert props == [[b"HDEL", b"h", b"n"]]
    props.clear()
    assert srv.cmd("HPERSIST", "h", "FIELDS", "1", "a") == b"*1\r\n:-1\r\n"
    assert props == []
    srv.cmd("HGETDEL", "h", "FIELDS", "2", "a", "b")
    assert props == [[b"HGETDEL", b"h", b"FIELDS", b"2", b"a", b"b"]]


def test_hincrbyfloat_propagates_hset(inproc):
    srv, props, events = inproc
    srv.cmd("HINCRBYFLOAT", "h", "f", "1.5")
    assert props == [[b"HSET", b"h", b"f", b"1.5"]]
    assert events == [("h", "hincrbyfloat", b"h")]
    props.clear()
    srv.cmd("HPEXPIREAT", "h", str(FAR), "FIELDS", "1", "f")
    props.clear()
    srv.cmd("HINCRBYFLOAT", "h", "f", "1")
    assert props == [[b"HSET", b"h", b"f", b"2.5"],
                     [b"HPEXPIREAT", b"h", str(FAR).encode(), b"FIELDS", b"1", b"f"]]


def test_write_events(inproc):
    srv, props, events = inproc
    srv.cmd("HSET", "h", "a", "1", "b", "2")
    srv.cmd("HSETNX", "h", "a", "1")
    srv.cmd("HSETNX", "h", "c", "1")
    srv.cmd("HINCRBY", "h", "c", "1")
    srv.cmd("HDEL", "h", "zz")
    srv.cmd("HDEL", "h", "a", "b", "c")
    assert events == [("h", "hset", b"h"), ("h", "hset", b"h"), ("h", "hincrby", b"h"),
                      ("h", "hdel", b"h"), ("g", "del", b"h")]
    assert props[0] == [b"HSET", b"h", b"a", b"1", b"b", b"2"]


def test_lazy_field_expiry_in_process(inproc):
    """At exactly its expiry time a field is still alive; one ms later every command misses
    it, reclaims it (HDEL propagated, "hexpired"), and deletes a hash left empty."""
    srv, props, events = inproc
    t = srv.now[0]
    srv.cmd("HSET", "h", "a", "1", "b", "2")
    srv.cmd("HPEXPIRE", "h", "100", "FIELDS", "1", "a")
    srv.now[0] = t + 100
    assert srv.cmd("HGET", "h", "a") == b"$1\r\n1\r\n"
    props.clear()
    events.clear()
    srv.now[0] = t + 101
    assert srv.cmd("HGET", "h", "a") == b"$-1\r\n"
    assert props == [[b"HDEL", b"h", b"a"]]
    assert events == [("h", "hexpired", b"h")]
    assert srv.cmd("HLEN", "h") == b":1\r\n"
    srv.cmd("HPEXPIRE", "h", "10", "FIELDS", "1", "b")
    props.clear()
    events.clear()
    srv.now[0] += 11
    assert srv.cmd("HSET", "h", "x", "1") == b":1\r\n", "a new hash"
    assert props == [[b"HDEL", b"h", b"b"], [b"HSET", b"h", b"x", b"1"]]
    assert events == [("h", "hexpired", b"h"), ("g", "del", b"h"), ("h", "hset", b"h")]
    assert srv.cmd("OBJECT", "ENCODING", "h") == b"$8\r\nlistpack\r\n"
    # every reader sees the field gone
    srv.cmd("HSET", "k", "a", "1", "b", "2")
    srv.cmd("HPEXPIRE", "k", "5", "FIELDS", "1", "a")
    srv.now[0] += 6
    for args, want in [(("HEXISTS", "k", "a"), b":0\r\n"), (("HKEYS", "k"), b"*1\r\n$1\r\nb\r\n"),
                       (("HTTL", "k", "FIELDS", "1", "a"), b"*1\r\n:-2\r\n"),
                       (("HSTRLEN", "k", "a"), b":0\r\n")]:
        assert srv.cmd(*args) == want


def test_active_field_expiry_in_process(inproc):
    srv, props, events = inproc
    srv.cmd("HSET", "h", "a", "1", "b", "2")
    srv.cmd("HSET", "g", "x", "1")
    srv.cmd("HPEXPIRE", "h", "10", "FIELDS", "2", "a", "b")
    srv.cmd("HPEXPIRE", "g", "1000", "FIELDS", "1", "x")
    props.clear()
    events.clear()
    srv.run_cron()
    assert props == [] and events == []
    srv.now[0] += 11
    srv.run_cron()
    assert sorted(props[0][2:]) == [b"a", b"b"] and props[0][:2] == [b"HDEL", b"h"]
    assert events == [("h", "hexpired", b"h"), ("g", "del", b"h")]
    assert srv.dbs[0].exists(b"h") is False
    assert srv.dbs[0].exists(b"g") is True
    srv.now[0] += 1000
    srv.run_cron()
    assert srv.dbs[0].exists(b"g") is False
    # a renamed hash is found again by the cycle once a command touches it
    srv.cmd("HSET", "m", "a", "1", "b", "1")
    srv.cmd("HPEXPIRE", "m", "5", "FIELDS", "1", "a")
    srv.cmd("RENAME", "m", "m2")
    srv.cmd("HLEN", "m2")
    srv.now[0] += 6
    props.clear()
    srv.run_cron()
    assert props == [[b"HDEL", b"m2", b"a"]]
    # FLUSHALL empties the registry with the data; SWAPDB moves it with the data
    srv.cmd("HSET", "m", "a", "1", "b", "1")
    srv.cmd("HPEXPIRE", "m", "5", "FIELDS", "1", "a")
    srv.cmd("FLUSHALL")
    srv.cmd("HSET", "s", "a", "1", "b", "1")
    srv.cmd("HPEXPIRE", "s", "5", "FIELDS", "1", "a")
    srv.cmd("SWAPDB", "0", "1")
    srv.now[0] += 6
    props.clear()
    srv.run_cron()
    assert props == [[b"HDEL", b"s", b"a"]]
    assert srv.dbs[1].get_collection(b"s", "hash").get(b"a") is None


def test_active_expiry_work_is_bounded(inproc):
    srv, props, events = inproc
    from valkeyd.commands import hashes
    n = hashes.ACTIVE_FIELDS_PER_TICK + 500
    srv.cmd("HSET", "h", *[x for i in range(n) for x in (f"f{i}", "v")])
    srv.cmd("HSET", "h", "keep", "1")
    srv.cmd("HPEXPIRE", "h", "5", "FIELDS", str(n), *[f"f{i}" for i in range(n)])
    srv.now[0] += 6
    props.clear()
    srv.run_cron()
    assert len(props[0]) - 2 == hashes.ACTIVE_FIELDS_PER_TICK
    srv.run_cron()
    assert len(props[1]) - 2 == 500
    assert srv.cmd("HLEN", "h") == b":1\r\n"


def test_active_field_expiry_can_be_disabled(inproc):
    srv, props, events = inproc
    srv.cmd("HSET", "h", "a", "1", "b", "2")
    srv.cmd("HPEXPIRE", "h", "5", "FIELDS", "1", "a")
    srv.now[0] += 6
    props.clear()
    srv.active_expire_enabled = False   # DEBUG SET-ACTIVE-EXPIRE 0
    srv.run_cron()
    assert props == []
    srv.active_expire_enabled = True
    srv.run_cron()
    assert props == [[b"HDEL", b"h", b"a"]]
