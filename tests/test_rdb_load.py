"""The RDB reader (persistence/rdb_load.py) and RESTORE.

* The Redis 7.2.4 fixture (../shared/fixtures/redis-7.2.4/dump.rdb) loads at startup to
  exactly expected.json.
* RDB files written by a real valkey-server 8.0.1 (SAVE), and RDB files in the legacy
  encodings (built here by small independent encoders: ziplist, zipmap, intset, linked
  lists, ASCII zset doubles, quicklist 1, stream listpacks 1) load into valkeyd and into
  valkey-server to the same dataset (type, OBJECT ENCODING, value, expiry, stream groups).
* RESTORE of every type's DUMP from valkey-server gives the same replies and encodings, with
  Redis's errors and propagation.
* Corrupt files: truncated at random offsets and with flipped bits, the loader raises
  RDBLoadError (never another exception); at startup the server exits with code 1 and a log
  line naming the file and the offset.
"""
from __future__ import annotations

import base64
import json
import os
import random
import struct
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from harness import (FIXTURES, IN_CI, ROOT, redis_test_asset, start_valkey, start_valkeyd,
                     valkey_server_path)

sys.path.insert(0, str(ROOT))

from persistence import rdb_primitives as rdbp  # noqa: E402
from persistence.crc64 import crc64, crc64_bytes  # noqa: E402

needs_valkey = pytest.mark.skipif(valkey_server_path() is None and not IN_CI,
                                  reason="valkey-server is not installed")


# -- dataset snapshots -----------------------------------------------------------------------
def _stream_view(c, key):
    info = c.execute_command("XINFO", "STREAM", key, "FULL")
    info = dict(zip(info[0::2], info[1::2]))
    for k in (b"radix-tree-keys", b"radix-tree-nodes"):
        info.pop(k, None)   # node layout: ours re-packs the entries

    def norm(x):
        if isinstance(x, list):
            return [norm(y) for y in x]
        return x
    return norm([[k, info[k]] for k in sorted(info)])


def snapshot(c, db: int) -> dict:
    """Everything a client can read about every key of ``db``."""
    c.execute_command("SELECT", db)
    out = {}
    for key in sorted(c.keys("*")):
        t = c.type(key).decode()
        enc = c.object("encoding", key)
        if t == "string":
            v = c.get(key)
        elif t == "list":
            v = c.lrange(key, 0, -1)
        elif t == "set":
            v = sorted(c.smembers(key))
        elif t == "zset":
            v = [(m, repr(s)) for m, s in c.zrange(key, 0, -1, withscores=True)]
        elif t == "hash":
            v = c.hgetall(key)
        elif t == "stream":
            v = _stream_view(c, key)
        else:
            v = None
        exp = c.pexpiretime(key)
        out[key] = (t, enc, v, exp // 4000 if exp > 0 else exp)
    c.execute_command("SELECT", 0)
    return out


def _fixture_dir(rdb_bytes: bytes, name: str = "dump.rdb") -> str:
    d = tempfile.mkdtemp(prefix="rdbload-")
    Path(d, name).write_bytes(rdb_bytes)
    return d


def load_both(rdb_bytes: bytes, *args: str):
    """Start valkeyd and valkey-server on copies of the same RDB; return their snapshots of
    dbs 0..15 (only non-empty ones)."""
    ours = start_valkeyd(*args, workdir=_fixture_dir(rdb_bytes))
    ref = start_valkey(*args, workdir=_fixture_dir(rdb_bytes))
    try:
        a, b = ours.client(), ref.client()
        sa, sb = {}, {}
        for db in range(16):
            x, y = snapshot(a, db), snapshot(b, db)
            if x or y:
                sa[db], sb[db] = x, y
        return sa, sb, a.function_list(withcode=True), b.function_list(withcode=True)
    finally:
        ours.stop()
        ref.stop()


# -- the Redis 7.2.4 fixture -----------------------------------------------------------------
def _b(s):
    return base64.b64decode(s)


def test_redis_fixture_loads_to_expected_json():
    exp = json.loads((FIXTURES / "expected.json").read_text())
    srv = start_valkeyd(workdir=_fixture_dir((FIXTURES / "dump.rdb").read_bytes()))
    try:
        c = srv.client()
        for db in ("0", "1", "15"):
            c.execute_command("SELECT", int(db))
            assert c.dbsize() == len(exp[db])
            for k64, e in exp[db].items():
                key = _b(k64)
                t = e["type"]
                assert c.type(key).decode() == t, key
                assert c.object("encoding", key).decode() == e["encoding"], key
                if t == "string":
                    assert c.get(key) == _b(e["value"])
                elif t == "list":
                    assert c.lrange(key, 0, -1) == [_b(x) for x in e["value"]]
                elif t == "set":
                    assert sorted(c.smembers(key)) == sorted(_b(x) for x in e["value"])
                elif t == "hash":
                    assert c.hgetall(key) == {_b(f): _b(v) for f, v in e["value"].items()}
                elif t == "zset":
                    got = c.zrange(key, 0, -1, withscores=True)
                    assert [(m, repr(s)) for m, s in got] == \
                        [(_b(m), repr(float(s))) for m, s in e["value"]]
                elif t == "stream":
                    got = c.xrange(key)
                    assert [(i.decode(), f) for i, f in got] == \
                        [(i, {_b(f): _b(v) for f, v in fv.items()}) for i, fv in e["value"]]
                    info = c.xinfo_stream(key)
                    assert info["last-generated-id"].decode() == e["last_id"]
                    groups = c.xinfo_groups(key)
                    assert [g["name"].decode() for g in groups] == [g["name"] for g in e["groups"]]
                    for g, eg in zip(groups, e["groups"]):
                        assert g["last-delivered-id"].decode() == eg["last_delivered_id"]
                        pend = c.xpending_range(key, eg["name"], "-", "+", 1000)
                        assert [[p["message_id"].decode(), p["consumer"].decode(),
                                 p["times_delivered"]] for p in pend] == eg["pending"]
                        cons = c.xinfo_consumers(key, eg["name"])
                        assert sorted(x["name"].decode() for x in cons) == sorted(eg["consumers"])
                if "expire_at_ms_approx" in e:
                    assert abs(c.pexpiretime(key) - int(e["expire_at_ms_approx"])) <= 2000
                else:
                    assert c.pexpiretime(key) == -1
        names = [lib[1].decode() for lib in c.function_list()]
        assert names == exp["functions"]
        log = srv.log()
        assert "Loading RDB produced by version 7.2.4" in log
        n = sum(len(exp[d]) for d in ("0", "1", "15"))
        assert f"Done loading RDB, keys loaded: {n}, keys expired: 0." in log
        assert "DB loaded from disk:" in log
    finally:
        srv.stop()


@needs_valkey
def test_fixture_same_as_valkey():
    sa, sb, fa, fb = load_both((FIXTURES / "dump.rdb").read_bytes())
    assert sa == sb
    assert fa == fb


# -- an RDB saved by valkey-server 8.0.1 ----------------------------------------------------
def populate(c):
    """Every type in every encoding valkey 8.0 writes."""
    c.set("s:int", 12345)
    c.set("s:neg", -99999999999)
    c.set("s:embstr", "hello")
    c.set("s:raw", "x" * 100)
    c.set("s:lzf", "abcabcabc" * 50)
    c.set("s:bin", bytes(range(256)))
    c.set("s:empty", "")
    c.set("s:ttl", "v", px=3_600_000)
    c.rpush("l:lp", 1, -5, 300, 70000, 2**40, "str", "")
    c.rpush("l:ql", *[f"element-{i}" * 3 for i in range(2000)])
    c.rpush("l:big", "y" * 9000, "z" * 10)
    c.sadd("set:int", *range(50))
    c.sadd("set:lp", "a", "b", 3)
    c.sadd("set:ht", *[f"m{i}" for i in range(300)])
    c.sadd("set:bigint", *range(600))
    c.zadd("z:lp", {"a": 1.5, "b": -2, "c": float("inf"), "d": float("-inf")})
    c.zadd("z:sl", {f"m{i}": i / 7 for i in range(200)})
    c.hset("h:lp", mapping={"f1": "v1", "f2": 2, "f3": ""})
    c.hset("h:ht", mapping={f"f{i}": f"v{i}" for i in range(600)})
    c.hset("h:long", mapping={"f": "v" * 100})
    for i in range(300):
        c.xadd("x:s", {"n": i, "k": "v"} if i % 3 else {"other": i})
    c.xdel("x:s", "0-1")
    ids = [i for i, _ in c.xrange("x:s", count=5)]
    c.xdel("x:s", ids[2])
    c.xgroup_create("x:s", "g1", "0")
    c.xgroup_create("x:s", "g2", "$")
    c.xreadgroup("g1", "alice", {"x:s": ">"}, count=3)
    c.xreadgroup("g1", "bob", {"x:s": ">"}, count=2)
    c.xgroup_createconsumer("x:s", "g1", "carol")
    c.xadd("x:empty", {"a": 1}, id="5-1")
    c.xdel("x:empty", "5-1")
    c.pfadd("hll", *range(100))
    c.setbit("bits", 1000, 1)
    c.execute_command("SELECT", 3)
    c.set("db3", "x")
    c.expire("db3", 1000)
    c.execute_command("SELECT", 0)
    c.function_load("#!lua name=lib1\nredis.register_function('f1', function() return 1 end)")


def valkey_saved_rdb() -> bytes:
    """The RDB valkey-server saves after :func:`populate`."""
    ref = start_valkey()
    try:
        c = ref.client()
        populate(c)
        c.save()
        return (ref.dir / "dump.rdb").read_bytes()
    finally:
        ref.stop()


@needs_valkey
def test_valkey_saved_rdb_loads_identically():
    data = valkey_saved_rdb()
    assert data[:9] == b"REDIS0011"
    sa, sb, fa, fb = load_both(data)
    assert sa == sb
    assert fa == fb and fa
    assert sa[0][b"l:ql"][1] == b"quicklist"
    assert sa[0][b"set:int"][1] == b"intset"


@needs_valkey
def test_encoding_limits_apply_on_load():
    """A listpack over the (smaller) configured entries limit is converted on load; one under
    it stays compact even with long elements (Redis checks the count only)."""
    data = valkey_saved_rdb()
    sa, sb, _, _ = load_both(data, "--hash-max-listpack-entries", "2",
                             "--zset-max-listpack-entries", "2",
                             "--set-max-listpack-entries", "2", "--set-max-intset-entries", "10",
                             "--list-max-listpack-size", "4", "--hash-max-listpack-value", "1",
                             "--zset-max-listpack-value", "1")
    assert sa == sb
    assert sa[0][b"h:lp"][1] == b"hashtable"


# -- legacy encodings, built here ------------------------------------------------------------
def enc_len(n):
    return rdbp.encode_len(n)


def enc_str(s, compress=False):
    return rdbp.encode_string(s if isinstance(s, bytes) else str(s).encode(), compress)


def ziplist(items) -> bytes:
    """A ziplist of bytes/int items (ziplist.c layout)."""
    entries = []
    prevlen = 0
    offsets = []
    pos = 10
    for it in items:
        pl = bytes([prevlen]) if prevlen < 254 else b"\xfe" + prevlen.to_bytes(4, "little")
        if isinstance(it, int):
            if 0 <= it <= 12:
                body = bytes([0xF1 + it])
            elif -128 <= it <= 127:
                body = b"\xfe" + it.to_bytes(1, "little", signed=True)
            elif -2**15 <= it < 2**15:
                body = b"\xc0" + it.to_bytes(2, "little", signed=True)
            elif -2**23 <= it < 2**23:
                body = b"\xf0" + it.to_bytes(3, "little", signed=True)
            elif -2**31 <= it < 2**31:
                body = b"\xd0" + it.to_bytes(4, "little", signed=True)
            else:
                body = b"\xe0" + it.to_bytes(8, "little", signed=True)
        else:
            n = len(it)
            if n < 64:
                body = bytes([n]) + it
            elif n < 16384:
                body = bytes([0x40 | (n >> 8), n & 0xFF]) + it
            else:
                body = b"\x80" + n.to_bytes(4, "big") + it
        e = pl + body
        offsets.append(pos)
        entries.append(e)
        pos += len(e)
        prevlen = len(e)
    total = pos + 1
    tail = offsets[-1] if offsets else 10
    return (total.to_bytes(4, "little") + tail.to_bytes(4, "little")
            + min(len(items), 65535).to_bytes(2, "little") + b"".join(entries) + b"\xff")


def zipmap(pairs) -> bytes:
    out = bytearray([len(pairs) // 2])
    for i in range(0, len(pairs), 2):
        f, v = pairs[i], pairs[i + 1]
        out += bytes([len(f)]) + f + bytes([len(v)]) + b"\x00" + v
    return bytes(out) + b"\xff"


def intset(vals, width=2) -> bytes:
    fmt = {2: "h", 4: "i", 8: "q"}[width]
    return (width.to_bytes(4, "little") + len(vals).to_bytes(4, "little")
            + struct.pack("<%d%s" % (len(vals), fmt), *sorted(vals)))


def lp_entry(it) -> bytes:
    if isinstance(it, int):
        if 0 <= it <= 127:
            e = bytes([it])
        elif -4096 <= it < 4096:
            v = it & 0x1FFF
            e = bytes([0xC0 | (v >> 8), v & 0xFF])
        elif -2**15 <= it < 2**15:
            e = b"\xf1" + it.to_bytes(2, "little", signed=True)
        elif -2**31 <= it < 2**31:
            e = b"\xf3" + it.to_bytes(4, "little", signed=True)
        else:
            e = b"\xf4" + it.to_bytes(8, "little", signed=True)
    else:
        n = len(it)
        e = (bytes([0x80 | n]) + it) if n < 64 else (bytes([0xE0 | (n >> 8), n & 0xFF]) + it)
    n = len(e)
    if n <= 127:
        back = bytes([n])
    else:
        back = bytes([n >> 7, 0x80 | (n & 127)])
    return e + back


def listpack(items) -> bytes:
    body = b"".join(lp_entry(x) for x in items)
    total = 6 + len(body) + 1
    return total.to_bytes(4, "little") + len(items).to_bytes(2, "little") + body + b"\xff"


def rdb_file(version: int, body: bytes, checksum=True) -> bytes:
    head = b"REDIS%04d" % version
    data = head + body + b"\xff"
    if version >= 5:
        data += crc64_bytes(crc64(0, data)) if checksum else b"\x00" * 8
    return data


def kv(t: int, key: bytes, payload: bytes, expire_ms=None) -> bytes:
    pre = b""
    if expire_ms is not None:
        pre = b"\xfc" + expire_ms.to_bytes(8, "little")
    return pre + bytes([t]) + enc_str(key) + payload


def legacy_body() -> bytes:
    b = b"\xfe\x00"
    b += kv(0, b"str", enc_str(b"hello world " * 10, True))
    b += kv(0, b"intstr", enc_str(b"-123456"))
    b += kv(1, b"linkedlist", enc_len(3) + enc_str(b"a") + enc_str(b"1000") + enc_str(b"c"))
    b += kv(2, b"plainset", enc_len(3) + enc_str(b"1") + enc_str(b"2") + enc_str(b"x"))
    b += kv(2, b"plainintset", enc_len(3) + enc_str(b"1") + enc_str(b"-2") + enc_str(b"99"))
    zs = enc_len(4)
    for m, s in ((b"a", b"1.5"), (b"b", b"-3")):
        zs += enc_str(m) + bytes([len(s)]) + s
    zs += enc_str(b"inf") + b"\xfe" + enc_str(b"ninf") + b"\xff"
    b += kv(3, b"zset1", zs)
    b += kv(4, b"plainhash", enc_len(2) + enc_str(b"f") + enc_str(b"v") + enc_str(b"g")
            + enc_str(b"12"))
    b += kv(9, b"zipmaphash", enc_str(zipmap([b"f1", b"v1", b"f2", b"v2"])))
    b += kv(10, b"ziplistlist", enc_str(ziplist([b"a", 5, -100, 1000, 100000, 2**40, b"x" * 70])))
    b += kv(11, b"intset16", enc_str(intset([3, 1, -7, 300])))
    b += kv(11, b"intset64", enc_str(intset([1, 2**40], 8)))
    b += kv(12, b"ziplistzset", enc_str(ziplist([b"a", 1, b"b", b"2.5", b"c", 10])))
    b += kv(13, b"ziplisthash", enc_str(ziplist([b"f", b"v", b"n", 7])))
    ql = enc_len(2) + enc_str(ziplist([b"a", b"b", 3])) + enc_str(ziplist([b"d", 12345678]))
    b += kv(14, b"quicklist1", ql)
    b += kv(14, b"quicklist1small", enc_len(1) + enc_str(ziplist([b"only", 1])))
    b += kv(0, b"expired", enc_str(b"gone"), expire_ms=1000)
    b += kv(0, b"future", enc_str(b"here"), expire_ms=int(time.time() * 1000) + 600_000)
    b += b"\xfd" + int(time.time() + 700).to_bytes(4, "little") + b"\x00" + enc_str(b"secttl") \
        + enc_str(b"v")
    b += b"\xfe\x05" + kv(0, b"db5key", enc_str(b"v5"))
    return b


def stream_v1_body() -> bytes:
    """A type-15 stream (Redis 5 format): one node, one deleted entry, a group with PEL."""
    ms = 1000
    # master: count, deleted, nfields, fields..., 0
    # entries: flags, ms-diff, seq-diff, [nfields, fields+]values, lp-count
    items = [2, 1, 2, b"a", b"b", 0]
    items += [2, 0, 0, b"1", b"2", 5]           # 1000-0 same fields
    items += [3, 0, 1, b"x", b"y", 5]           # 1000-1 deleted
    items += [0, 5, 0, 1, b"c", b"3", 6]        # 1005-0 own fields
    lp = listpack(items)
    key = ms.to_bytes(8, "big") + (0).to_bytes(8, "big")
    p = enc_len(1) + enc_str(key) + enc_str(lp)
    p += enc_len(2) + enc_len(1005) + enc_len(0)      # length, last id
    p += enc_len(1)                                    # groups
    p += enc_str(b"grp") + enc_len(1000) + enc_len(0)  # name, last delivered
    p += enc_len(1) + key + (123456).to_bytes(8, "little") + enc_len(2)   # PEL
    p += enc_len(1) + enc_str(b"cons") + (123000).to_bytes(8, "little")
    p += enc_len(1) + key
    return b"\xfe\x00" + kv(15, b"stream1", p)


@needs_valkey
@pytest.mark.parametrize("version", [11, 9, 7, 6, 5, 3, 1])
def test_legacy_encodings_same_as_valkey(version):
    sa, sb, _, _ = load_both(rdb_file(version, legacy_body()))
    assert sa == sb
    assert b"expired" not in sa[0]
    assert sa[0][b"quicklist1"][1] == b"quicklist"
    assert sa[0][b"ziplistlist"][1] == b"quicklist"    # a v1 ziplist list stays a quicklist
    assert sa[0][b"quicklist1small"][1] == b"listpack"
    assert sa[0][b"zipmaphash"][2] == {b"f1": b"v1", b"f2": b"v2"}


@needs_valkey
def test_stream_v1_same_as_valkey():
    sa, sb, _, _ = load_both(rdb_file(9, stream_v1_body()))
    assert sa == sb
    assert sa[0][b"stream1"][0] == "stream"


@needs_valkey
def test_legacy_with_small_limits_same_as_valkey():
    sa, sb, _, _ = load_both(rdb_file(9, legacy_body()), "--hash-max-listpack-entries", "1",
                             "--zset-max-listpack-entries", "1", "--set-max-intset-entries",
                             "2", "--hash-max-listpack-value", "1")
    assert sa == sb


# -- refusals --------------------------------------------------------------------------------
def _load(data: bytes, **kw):
    sys.path.insert(0, str(ROOT / "tests"))
    from harness import inproc_server
    from persistence.rdb_load import load_rdb
    srv, _, _ = inproc_server()
    return srv, load_rdb(srv, data, **kw)


def test_module_type_refused_with_its_name():
    from persistence.rdb_load import RDBLoadError, module_name
    # the id packs 9 chars of 6 bits then a 10-bit version
    name = "ReJSON-RL"
    cs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    mid = 0
    for ch in name:
        mid = (mid << 6) | cs.index(ch)
    mid = (mid << 10) | 3
    assert module_name(mid) == name
    body = b"\xfe\x00" + b"\x07" + enc_str(b"k") + enc_len(mid)
    with pytest.raises(RDBLoadError) as ei:
        _load(rdb_file(11, body))
    assert "no matching module type 'ReJSON-RL'" in str(ei.value)
    assert ei.value.offset == 11
    body = b"\xf7" + enc_len(mid) + enc_len(2) + enc_len(2)
    with pytest.raises(RDBLoadError, match="AUX module data I can't load: no matching "
                                           "module 'ReJSON-RL'"):
        _load(rdb_file(11, body))


def test_refusals():
    from persistence.rdb_load import RDBLoadError
    with pytest.raises(RDBLoadError, match="Can't handle RDB format version 13"):
        _load(rdb_file(13, b""))
    for head, ver in ((b"REDIS0080", 80), (b"VALKEY011", 11), (b"VALKEY081", 81)):
        with pytest.raises(RDBLoadError, match=f"Can't handle RDB format version {ver}"):
            _load(head + b"\xff" + b"\x00" * 8)
    with pytest.raises(RDBLoadError, match="Unknown RDB encoding type 22"):
        _load(rdb_file(11, b"\xfe\x00" + kv(22, b"k", enc_len(0))))
    with pytest.raises(RDBLoadError, match="Unknown RDB encoding type 23"):
        _load(b"VALKEY080\xfe\x00" + kv(23, b"k", enc_len(0)) + b"\xff" + b"\x00" * 8)
    with pytest.raises(RDBLoadError, match="Wrong signature"):
        _load(b"REDIX0011\xff" + b"\x00" * 8)
    with pytest.raises(RDBLoadError, match="Pre-release function format not supported"):
        _load(rdb_file(11, b"\xf6" + enc_str(b"x")))
    with pytest.raises(RDBLoadError, match="RDB CRC error"):
        data = bytearray(rdb_file(11, b"\xfe\x00" + kv(0, b"k", enc_str(b"v"))))
        data[-1] ^= 1
        _load(bytes(data))
    with pytest.raises(RDBLoadError, match="duplicated key"):
        _load(rdb_file(11, b"\xfe\x00" + kv(0, b"k", enc_str(b"v")) * 2))
    with pytest.raises(RDBLoadError, match="Duplicate set members"):
        _load(rdb_file(11, b"\xfe\x00" + kv(2, b"k", enc_len(2) + enc_str(b"a") * 2)))
    # a zero checksum means "saved with rdbchecksum no": not checked
    srv, info = _load(rdb_file(11, b"\xfe\x00" + kv(0, b"k", enc_str(b"v")), checksum=False))
    assert info["checksum"] == "disabled" and info["keys_loaded"] == 1


def test_stream_positioned_after_checksum_and_aux_returned():
    import io
    rdb = rdb_file(11, b"\xfa" + enc_str(b"repl-id") + enc_str(b"a" * 40) + b"\xfa"
                   + enc_str(b"repl-offset") + enc_str(b"1234") + b"\xfa"
                   + enc_str(b"aof-base") + enc_str(b"1") + b"\xfe\x00"
                   + kv(0, b"k", enc_str(b"v"), expire_ms=5))
    fh = io.BytesIO(b"junk" + rdb + b"*1\r\n$4\r\nPING\r\n")
    fh.read(4)
    srv, info = _load(fh, aof_preamble=True)
    assert fh.read() == b"*1\r\n$4\r\nPING\r\n"
    assert info["repl_id"] == b"a" * 40 and info["repl_offset"] == 1234 and info["aof_base"]
    assert info["keys_loaded"] == 1     # an AOF preamble keeps expired keys
    srv, info = _load(rdb)
    assert info["keys_loaded"] == 0 and info["keys_expired"] == 1


def test_idle_and_freq_opcodes():
    body = (b"\xfe\x00" + b"\xf8" + enc_len(5000) + kv(0, b"idle", enc_str(b"v"))
            + b"\xf9\x07" + kv(0, b"freq", enc_str(b"v")))
    srv, info = _load(rdb_file(11, body))
    assert srv.dbs[0].idle_seconds(b"idle") >= 5000
    assert srv.dbs[0].idle_seconds(b"freq") < 100
    # under an LFU policy FREQ sets the counter (and IDLE is ignored)
    from persistence.rdb_load import load_rdb
    srv2, _, _ = __import__("harness").inproc_server()
    srv2.engine.lfu = (10, 1)
    load_rdb(srv2, rdb_file(11, body))
    assert srv2.dbs[0].lfu_freq(b"freq") == 7
    assert srv2.dbs[0].lfu_freq(b"idle") == 5      # LFU_INIT_VAL


# -- corrupt files ---------------------------------------------------------------------------
def _fuzz_inputs():
    base = (FIXTURES / "dump.rdb").read_bytes()
    rnd = random.Random(6)
    out = []
    for _ in range(60):
        out.append(("cut", base[:rnd.randrange(len(base))]))
    for _ in range(120):
        d = bytearray(base)
        for _ in range(rnd.randint(1, 3)):
            p = rnd.randrange(9, len(d) - 9)
            d[p] ^= 1 << rnd.randrange(8)
        d[-8:] = b"\x00" * 8     # checksum disabled: the decoders themselves must cope
        out.append(("flip", bytes(d)))
    legacy = rdb_file(9, legacy_body() + stream_v1_body()[2:])
    for _ in range(120):
        d = bytearray(legacy)
        p = rnd.randrange(9, len(d) - 9)
        d[p] ^= 1 << rnd.randrange(8)
        d[-8:] = b"\x00" * 8
        out.append(("flip-legacy", bytes(d)))
    return out


def test_fuzz_corrupt_files_never_crash():
    from persistence.rdb_load import RDBLoadError
    sys.path.insert(0, str(ROOT / "tests"))
    from harness import inproc_server
    from persistence.rdb_load import load_rdb
    outcomes = {"loaded": 0, "refused": 0}
    for kind, data in _fuzz_inputs():
        srv, _, _ = inproc_server()
        try:
            load_rdb(srv, data, name="dump.rdb")
            outcomes["loaded"] += 1
        except RDBLoadError as e:
            assert e.name == "dump.rdb" and 0 <= e.offset <= len(data), (kind, e)
            outcomes["refused"] += 1
    assert outcomes["refused"] >= 60     # every cut file at least


def test_truncated_file_log_names_file_and_offset():
    import subprocess
    base = (FIXTURES / "dump.rdb").read_bytes()
    d = _fixture_dir(base[:len(base) // 2])
    from harness import free_port
    p = subprocess.run([sys.executable, "-m", "valkeyd", "serve", "--port", str(free_port()),
                        "--dir", d],
                       cwd=d, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 1
    out = p.stdout + p.stderr
    assert "Short read or OOM loading DB. Unrecoverable error, aborting now." in out
    assert "dump.rdb" in out and "offset" in out


def test_appendonly_yes_does_not_load_rdb():
    srv = start_valkeyd("--appendonly", "yes",
                        workdir=_fixture_dir((FIXTURES / "dump.rdb").read_bytes()))
    try:
        assert srv.client().get("str:small") is None
    finally:
        srv.stop()


# -- RESTORE ---------------------------------------------------------------------------------
@needs_valkey
def test_restore_every_type_from_valkey_dump():
    ref = start_valkey()
    ours = start_valkeyd()
    try:
        r, o = ref.client(), ours.client()
        populate(r)
        keys = sorted(r.keys("*"))
        for k in keys:
            payload = r.dump(k)
            ttl = max(r.pttl(k), 0)
            assert o.restore(k, ttl, payload) == b"OK"
            r.restore(k + b"#copy", ttl, payload)
        so, sr = snapshot(o, 0), snapshot(r, 0)
        for k in keys:
            assert so[k] == sr[k + b"#copy"], k
            assert so[k] == sr[k], k
    finally:
        ref.stop()
        ours.stop()


def _reply(c, *args):
    try:
        return c.execute_command(*args)
    except redis.ResponseError as e:
        return "ERR:" + str(e)


@needs_valkey
def test_restore_errors_same_as_valkey():
    ref = start_valkey()
    ours = start_valkeyd()
    try:
        r, o = ref.client(), ours.client()
        r.rpush("l", "a", "b")
        good = r.dump("l")
        bad_crc = good[:-1] + bytes([good[-1] ^ 1])
        newer = good[:-10] + (12).to_bytes(2, "little") + good[-8:]
        garbage = rdbp.payload_footer(b"\x12\x05\x00")        # quicklist2 cut short
        wrong_type = rdbp.payload_footer(b"\x08" + b"\x00")
        empty_set = rdbp.payload_footer(b"\x02\x00")
        module = rdbp.payload_footer(b"\x07" + enc_len(0x1234567890ABC00 | 3) + b"\x00")
        o.set("busy", 1)
        r.set("busy", 1)
        cases = [
            ("RESTORE", "k", 0, good), ("RESTORE", "k", 0, good),
            ("RESTORE", "busy", 0, good), ("RESTORE", "busy", 0, good, "REPLACE"),
            ("RESTORE", "n", -1, good), ("RESTORE", "n", "x", good),
            ("RESTORE", "n", 0, bad_crc), ("RESTORE", "n", 0, newer),
            ("RESTORE", "n", 0, b"short"), ("RESTORE", "n", 0, garbage),
            ("RESTORE", "n", 0, wrong_type), ("RESTORE", "n", 0, empty_set),
            ("RESTORE", "n", 0, module),
            ("RESTORE", "n", 0, good, "IDLETIME", -1), ("RESTORE", "n", 0, good, "FREQ", 256),
            ("RESTORE", "n", 0, good, "IDLETIME", 5, "FREQ", 3),
            ("RESTORE", "n", 0, good, "FREQ", 3, "IDLETIME", 5),
            ("RESTORE", "n", 0, good, "IDLETIME"), ("RESTORE", "n", 0, good, "BOGUS"),
            ("RESTORE", "n", 0, good, "IDLETIME", "x"),
            ("RESTORE", "i1", 0, good, "IDLETIME", 1000),
            ("OBJECT", "IDLETIME", "i1"),
            ("RESTORE", "t1", 5000, good), ("PTTL", "t1"),
            ("RESTORE", "t2", int(time.time() * 1000) + 50000, good, "ABSTTL"),
            ("RESTORE", "t3", 1, good, "ABSTTL"), ("EXISTS", "t3"),
            ("RESTORE", "busy", 1, good, "ABSTTL", "REPLACE"), ("EXISTS", "busy"),
            ("LRANGE", "k", 0, -1), ("TYPE", "busy"),
        ]
        for cmd in cases:
            a, b = _reply(o, *cmd), _reply(r, *cmd)
            if cmd[0] == "PTTL":
                assert abs(a - b) < 1500
            elif cmd[:2] == ("OBJECT", "IDLETIME"):
                assert a >= 1000 and b >= 1000
            else:
                assert a == b, (cmd, a, b)
    finally:
        ref.stop()
        ours.stop()


def test_restore_propagation_and_events():
    sys.path.insert(0, str(ROOT / "tests"))
    from harness import inproc_client, inproc_server
    srv, props, events = inproc_server()
    c = inproc_client(srv)
    from persistence.rdb_primitives import payload_footer
    payload = payload_footer(b"\x00" + enc_str(b"value"))
    del props[:]
    del events[:]
    c.execute([b"RESTORE", b"k", b"0", payload])
    assert props[-1] == [b"RESTORE", b"k", b"0", payload]
    c.execute([b"RESTORE", b"t", b"10000", payload])
    p = props[-1]
    assert p[0] == b"RESTORE" and p[-1] == b"ABSTTL" and int(p[2]) > 10 ** 12
    c.execute([b"RESTORE", b"k", b"1", payload, b"REPLACE", b"ABSTTL"])
    assert props[-1] == [b"DEL", b"k"]
    n = len(props)
    c.execute([b"RESTORE", b"x", b"1", payload, b"ABSTTL"])
    assert len(props) == n and not srv.dbs[0].exists(b"x")
    assert ("g", "restore", b"k") in events and ("g", "del", b"k") in events


# -- Redis's own test assets (when the Redis source mirror is on this machine) ----------------
ASSETS = ("encodings.rdb", "hash-zipmap.rdb", "hash-ziplist.rdb", "list-quicklist.rdb",
          "zset-ziplist.rdb", "scriptbackup.rdb")


@needs_valkey
@pytest.mark.parametrize("asset", ASSETS)
def test_redis_test_assets_same_as_valkey(asset):
    data = redis_test_asset(asset)
    sa, sb, fa, fb = load_both(data)
    assert sa == sb
    assert fa == fb


@needs_valkey
def test_restore_freq_and_idletime_same_as_valkey():
    ref = start_valkey()
    ours = start_valkeyd()
    try:
        r, o = ref.client(), ours.client()
        r.set("k", "v")
        payload = r.dump("k")
        for c in (r, o):
            c.config_set("maxmemory-policy", "allkeys-lfu")
        for cmd in (("RESTORE", "f", 0, payload, "FREQ", 100), ("OBJECT", "FREQ", "f"),
                    ("RESTORE", "g", 0, payload, "IDLETIME", 10),
                    ("RESTORE", "h", 0, payload), ("OBJECT", "FREQ", "h")):
            assert _reply(o, *cmd) == _reply(r, *cmd), cmd
        for c in (r, o):
            c.config_set("maxmemory-policy", "noeviction")
        for cmd in (("RESTORE", "i", 0, payload, "IDLETIME", 500, "FREQ", 1),
                    ("RESTORE", "j", 0, payload, "IDLETIME", 500)):
            assert _reply(o, *cmd) == _reply(r, *cmd), cmd
        assert 500 <= o.object("idletime", "j") < 600
    finally:
        ref.stop()
        ours.stop()


def test_clients_get_loading_while_the_rdb_loads():
    """With key-load-delay (a testing aid, as in Redis) the load takes seconds and yields to
    the event loop every loading-process-events-interval-bytes: clients get -LOADING, INFO
    answers with loading:1, and afterwards the data is there."""
    d = _fixture_dir((FIXTURES / "dump.rdb").read_bytes())
    srv = start_valkeyd("--key-load-delay", "100000",
                        "--loading-process-events-interval-bytes", "1024", workdir=d)
    try:
        get = b"*2\r\n$3\r\nGET\r\n$9\r\nstr:small\r\n"
        assert srv.raw(get, wait=1.5) == b"-LOADING Redis is loading the dataset in memory\r\n"
        assert b"loading:1" in srv.raw(b"*2\r\n$4\r\nINFO\r\n$11\r\npersistence\r\n", wait=1.5)
        deadline = time.time() + 60
        while srv.raw(get).startswith(b"-LOADING"):
            assert time.time() < deadline
            time.sleep(0.1)
        c = srv.client()
        assert c.get("str:small") is not None and c.dbsize() == 32
    finally:
        srv.stop()


@needs_valkey
def test_plain_set_member_order_same_as_valkey():
    """A plain (type 2) set that starts with integers and turns into a listpack lists the
    integers first in ascending order (the intset it was converted from)."""
    members = [b"30", b"-2", b"7", b"abc", b"5", b"zz"]
    body = b"\xfe\x00" + kv(2, b"s", enc_len(len(members)) + b"".join(enc_str(m) for m in members))
    data = rdb_file(9, body)
    ours = start_valkeyd(workdir=_fixture_dir(data))
    ref = start_valkey(workdir=_fixture_dir(data))
    try:
        a, b = ours.client(), ref.client()
        smembers = b"*2\r\n$8\r\nSMEMBERS\r\n$1\r\ns\r\n"
        x = ours.raw(smembers)
        assert x == ref.raw(smembers) and x.index(b"-2") < x.index(b"30") < x.index(b"abc")
        assert a.object("encoding", "s") == b.object("encoding", "s") == b"listpack"
    finally:
        ours.stop()
        ref.stop()


def test_big_file_checksum_checked_in_parallel():
    """Files over 4 MB have their CRC-64 computed by a forked child: a good file loads, a
    changed byte inside a value (still parseable) is refused with "RDB CRC error"."""
    from persistence import rdb_load
    body = b"\xfe\x00" + b"".join(kv(0, b"k%d" % i, enc_str(b"%08d" % i * 40))
                                  for i in range(16000))
    data = rdb_file(11, body)
    assert len(data) > rdb_load._CRC_FORK_MIN
    srv, info = _load(data)
    assert info["keys_loaded"] == 16000 and info["checksum"] == "ok"
    bad = bytearray(data)
    pos = len(data) // 2
    while bad[pos] not in b"0123456789":
        pos += 1
    bad[pos] = ord("x") if bad[pos] != ord("x") else ord("y")
    with pytest.raises(rdb_load.RDBLoadError, match="RDB CRC error"):
        _load(bytes(bad))


def test_crc64_lanes_matches_crc64():
    from persistence.crc64 import crc64_lanes
    rnd = random.Random(64)
    for n in (0, 9, 1000, 16384 * 64 - 1, 16384 * 64, 16384 * 70 + 13):
        data = rnd.randbytes(n)
        for start in (0, 0x1234567890ABCDEF):
            assert crc64_lanes(start, data) == crc64(start, data), n
    assert crc64_lanes(0, b"123456789") == 0xE9C6D914C4B8D9CA


def test_fuzz_restore_payloads():
    """Bit flips in DUMP payloads (footer recomputed): RESTORE's decoder returns a value or
    "Bad data format", never another exception."""
    from valkeyd.commands.dump_restore import BAD_FORMAT, restore_value
    from valkeyd.errors import ErrorReply
    bodies = [
        b"\x10" + enc_str(listpack([b"f", b"v", b"n", 12, b"x" * 70, -5000])),
        b"\x0c" + enc_str(ziplist([b"a", 1, b"b", b"2.5"])),
        b"\x0b" + enc_str(intset([1, 5, 900])),
        b"\x12" + enc_len(2) + enc_len(2) + enc_str(listpack([b"a", 1]))
        + enc_len(1) + enc_str(b"plain"),
        b"\x09" + enc_str(zipmap([b"f", b"v"])),
        stream_v1_body()[2:][len(enc_str(b"stream1")) + 1:],
    ]
    bodies[-1] = b"\x0f" + bodies[-1]
    rnd = random.Random(7)
    for body in bodies:
        restore_value(rdbp.payload_footer(body))   # the intact payload decodes
        for _ in range(150):
            d = bytearray(body)
            p = rnd.randrange(1, len(d))
            d[p] ^= 1 << rnd.randrange(8)
            try:
                restore_value(rdbp.payload_footer(bytes(d)))
            except ErrorReply as e:
                assert str(e) == BAD_FORMAT


def _info_fields(srv) -> dict:
    """INFO persistence over a raw socket (works while -LOADING), as an ordered dict."""
    import socket
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\npersistence\r\n")
        raw = b""
        while b"\r\n" not in raw or len(raw) < int(raw[1:raw.index(b"\r\n")]) + 4:
            part = s.recv(65536)
            assert part, raw
            raw += part
    body = raw.split(b"\r\n", 1)[1]
    out = {}
    for line in body.decode().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v
    return out


@needs_valkey
def test_info_loading_fields_while_loading():
    """While an RDB loads (slowed by key-load-delay, as in Redis's tests), INFO persistence
    has Redis's loading_* fields in valkey-server's order, with the file's size, the used-mem
    AUX field, the bytes loaded so far and rdb_last_load_keys_loaded counting up; at the end
    the last-load counters hold the keys loaded and the keys skipped as expired."""
    body = (b"\xfa" + enc_str(b"used-mem") + enc_str(b"1234567") + b"\xfe\x00"
            + kv(0, b"gone", enc_str(b"x" * 30), expire_ms=1000)
            + b"".join(kv(0, b"key:%d" % i, enc_str(b"v" * 200)) for i in range(40)))
    data = rdb_file(11, body)
    args = ("--key-load-delay", "100000", "--loading-process-events-interval-bytes", "1024")
    t0 = int(time.time())
    ours = start_valkeyd(*args, "--enable-debug-command", "yes", workdir=_fixture_dir(data))
    ref = start_valkey(*args, workdir=_fixture_dir(data))
    try:
        time.sleep(0.5)
        b, a = _info_fields(ref), _info_fields(ours)
        assert a["loading"] == b["loading"] == "1"
        assert list(a) == list(b)
        assert list(a)[-6:] == ["loading_start_time", "loading_total_bytes",
                                "loading_rdb_used_mem", "loading_loaded_bytes",
                                "loading_loaded_perc", "loading_eta_seconds"]
        assert t0 - 1 <= int(a["loading_start_time"]) <= time.time()
        assert a["loading_total_bytes"] == b["loading_total_bytes"] == str(len(data))
        assert a["loading_rdb_used_mem"] == b["loading_rdb_used_mem"] == "1234567"
        loaded = int(a["loading_loaded_bytes"])
        assert 0 < loaded < len(data)
        assert a["loading_loaded_perc"] == "%.2f" % (loaded / len(data) * 100)
        assert int(a["loading_eta_seconds"]) >= 0
        assert 0 < int(a["rdb_last_load_keys_loaded"]) < 40
        assert a["rdb_last_load_keys_expired"] == "1"
        deadline = time.time() + 60
        while _info_fields(ours).get("loading") != "0":
            assert time.time() < deadline
            time.sleep(0.2)
        while _info_fields(ref).get("loading") != "0":
            assert time.time() < deadline
            time.sleep(0.2)
        a, b = _info_fields(ours), _info_fields(ref)
        assert list(a) == list(b)
        assert "loading_start_time" not in a
        for f in ("rdb_last_load_keys_loaded", "rdb_last_load_keys_expired"):
            assert a[f] == b[f], f
        assert a["rdb_last_load_keys_loaded"] == "40"
        assert a["rdb_last_load_keys_expired"] == "1"
        # DEBUG RELOAD loads the RDB again: the counters are those of that load
        c = ours.client()
        c.config_set("key-load-delay", "0")
        c.set("extra", "1")
        c.execute_command("DEBUG", "RELOAD")
        info = c.info("persistence")
        assert info["rdb_last_load_keys_loaded"] == 41
        assert info["rdb_last_load_keys_expired"] == 0
    finally:
        ours.stop()
        ref.stop()


def test_string_runs_edge_cases():
    """The loader's tight loop for runs of short string keys: a run interrupted by an
    expiry, a long value, an integer-encoded value and a second SELECTDB of the same
    database; SCAN then returns every key once; a duplicate inside a run and a file cut
    inside a run are refused with the general path's errors and offsets."""
    from persistence.rdb_load import RDBLoadError
    keys = [b"k%d" % i for i in range(3000)]
    body = (b"\xfe\x00" + b"".join(kv(0, k, enc_str(b"v" + k)) for k in keys[:1000])
            + kv(0, b"exp", enc_str(b"x"), expire_ms=(1 << 62))
            + kv(0, b"long", enc_str(b"L" * 100))
            + kv(0, b"int", enc_str(b"12345"))
            + b"\xfe\x01" + kv(0, b"other", enc_str(b"o"))
            + b"\xfe\x00" + b"".join(kv(0, k, enc_str(b"v" + k)) for k in keys[1000:]))
    srv, info = _load(rdb_file(11, body))
    assert info["keys_loaded"] == 3004
    db = srv.engine.db(0)
    assert db.get(b"k2999") == b"vk2999" and db.get(b"long") == b"L" * 100
    assert db.expires[b"exp"] == 1 << 62
    assert srv.engine.db(1).get(b"other") == b"o"
    seen, cursor = [], 0
    while True:
        cursor, batch = db.scan(cursor, 100)[:2]
        seen += batch
        if not cursor:
            break
    assert sorted(seen) == sorted(keys + [b"exp", b"long", b"int"])
    dup = b"\xfe\x00" + kv(0, b"a", enc_str(b"1")) + kv(0, b"b", enc_str(b"2"))
    at = 9 + len(dup)
    dup += kv(0, b"a", enc_str(b"3"))
    with pytest.raises(RDBLoadError, match="duplicated key 'a'") as e:
        _load(rdb_file(11, dup))
    assert e.value.offset == at
    data = rdb_file(11, b"\xfe\x00" + b"".join(kv(0, k, enc_str(b"v" + k)) for k in keys))
    for cut in (len(data) // 2, len(data) // 2 + 1, len(data) // 2 + 2, len(data) - 12):
        with pytest.raises(RDBLoadError):
            _load(data[:cut])
