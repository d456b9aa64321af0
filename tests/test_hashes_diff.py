"""Differential test of the hash commands: random sequences to valkeyd and valkey-server 8.0,
every reply equal (order-free where Redis leaves the order unspecified), and TYPE / OBJECT
ENCODING compared after each write. The listpack limits are lowered so that conversions to
hashtable happen often. Per-field expiry is not compared (valkey-server 8.0 lacks it)."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import rule

from differential import INDEXES, KEYS, VALUES, DiffMachine, run_machine, sort_nested

FIELDS = st.one_of(st.sampled_from([b"f1", b"f2", b"f3", b"f4", b"f5", b"f6"]), VALUES)
NUMS = st.one_of(st.integers(-100, 100).map(lambda i: b"%d" % i),
                 st.sampled_from([b"9223372036854775807", b"-9223372036854775808", b"x",
                                  b"1.5", b""]))
FLOATS = st.one_of(st.sampled_from([b"1.5", b"-0.25", b"1e3", b"0x10", b"inf", b"nan", b"abc",
                                    b"3.0000000000000000001", b"1e308", b"5"]), NUMS)


def _raw(client, *args):
    """The reply as parsed from the wire, without redis-py's HSCAN callback (which pairs
    NOVALUES fields); an error reply is returned, not raised."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        try:
            return conn.read_response(disable_decoding=True)
        except Exception as e:  # noqa: BLE001
            return "ERR!" + str(e)
    finally:
        client.connection_pool.release(conn)


class Hashes(DiffMachine):
    def __init__(self):
        super().__init__()
        for c in (self.ours, self.ref):
            c.config_set("hash-max-listpack-entries", 4)
            c.config_set("hash-max-listpack-value", 16)

    def teardown(self):
        for c in (self.ours, self.ref):
            c.config_set("hash-max-listpack-entries", 512)
            c.config_set("hash-max-listpack-value", 64)

    @rule(key=KEYS, pairs=st.lists(st.tuples(FIELDS, VALUES), min_size=1, max_size=6))
    def hset(self, key, pairs):
        self.check("HSET", key, *[x for p in pairs for x in p])
        self.check_state(key)

    @rule(key=KEYS, pairs=st.lists(st.tuples(FIELDS, VALUES), min_size=1, max_size=3))
    def hmset(self, key, pairs):
        self.check("HMSET", key, *[x for p in pairs for x in p])
        self.check_state(key)

    @rule(key=KEYS, field=FIELDS, value=VALUES)
    def hsetnx(self, key, field, value):
        self.check("HSETNX", key, field, value)
        self.check_state(key)

    @rule(key=KEYS, field=FIELDS)
    def hget(self, key, field):
        self.check("HGET", key, field)

    @rule(key=KEYS, fields=st.lists(FIELDS, min_size=1, max_size=4))
    def hmget(self, key, fields):
        self.check("HMGET", key, *fields)

    @rule(key=KEYS, fields=st.lists(FIELDS, min_size=1, max_size=4))
    def hdel(self, key, fields):
        self.check("HDEL", key, *fields)
        self.check_state(key)

    @rule(key=KEYS, field=FIELDS)
    def reads(self, key, field):
        self.check("HLEN", key)
        self.check("HSTRLEN", key, field)
        self.check("HEXISTS", key, field)

    @rule(key=KEYS)
    def whole(self, key):
        self.check("HKEYS", key, unordered=True)
        self.check("HVALS", key, unordered=True)
        self.check("HGETALL", key, unordered=True)

    @rule(key=KEYS, field=FIELDS, n=NUMS)
    def hincrby(self, key, field, n):
        self.check("HINCRBY", key, field, n)
        self.check_state(key)

    @rule(key=KEYS, field=FIELDS, n=FLOATS)
    def hincrbyfloat(self, key, field, n):
        self.check("HINCRBYFLOAT", key, field, n)
        self.check_state(key)

    @rule(key=KEYS, count=INDEXES, withvalues=st.booleans())
    def hrandfield(self, key, count, withvalues):
        args = ("HRANDFIELD", key, count) + (("WITHVALUES",) if withvalues else ())
        n = self.check("HLEN", key)
        if isinstance(n, int) and count >= n:
            self.check(*args, unordered=True)   # every field, once
        else:
            a = self.ours.execute_command(*args) if isinstance(n, int) else None
            b = self.ref.execute_command(*args) if isinstance(n, int) else None
            if a is not None:
                assert len(a) == len(b), (args, a, b)

    @rule(key=KEYS)
    def hrandfield_one(self, key):
        a = self.ours.execute_command("HRANDFIELD", key) if self.check("TYPE", key) in (
            b"hash", "hash") else None
        if a is not None:
            assert a in self.ours.hkeys(key)

    @rule(key=KEYS, count=st.integers(1, 5), match=st.sampled_from([None, b"f*", b"*1*"]),
          novalues=st.booleans())
    def hscan(self, key, count, match, novalues):
        """A whole iteration returns the same set of fields (and values) on both servers."""
        out = []
        for c in (self.ours, self.ref):
            got = []
            cursor = 0
            for _ in range(1000):
                args = ["HSCAN", key, cursor, "COUNT", count]
                if match is not None:
                    args += ["MATCH", match]
                if novalues:
                    args.append("NOVALUES")
                reply = _raw(c, *args)
                if not isinstance(reply, list):
                    got = str(reply)  # WRONGTYPE on both
                    break
                cursor, part = reply
                got += part
                if int(cursor) == 0:
                    break
            out.append(sort_nested(got) if isinstance(got, list) else got)
        assert out[0] == out[1], (key, out)

    @rule(key=KEYS, value=VALUES)
    def generic(self, key, value):
        self.check("SET", key, value)
        self.check("DEL", key)
        self.check("EXISTS", key)

    @rule(key=KEYS)
    def delete(self, key):
        self.check("DEL", key)
        self.check_state(key)


def test_hashes_differential(r, refc):
    run_machine(Hashes, r, refc)
