"""Pub/sub: SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE and their unsubscribes, PUBLISH/SPUBLISH, PUBSUB
introspection, RESP2 subscribed mode, RESP3 pushes, cleanup, CLIENT LIST / INFO fields, the
slow-subscriber disconnect (client-output-buffer-limit), and redis-py's PubSub object.

Exact bytes are compared with valkey-server (``pair``) wherever valkey 8 behaves as Redis 7.2.4;
where it does not (an unsubscribe with nothing subscribed is a NOSUB error in valkey 8, a null
confirmation in Redis 7.2.4's pubsub.c) the expected Redis 7.2.4 bytes are spelled out.
"""
from __future__ import annotations

import re
import socket
import time


from harness import RawClient, same_raw, start_valkeyd


def _reads(c, n):
    return [c.read() for _ in range(n)]


def both(pair, *args, replies=1):
    """Send to both raw clients; ``replies`` replies each must be byte-identical."""
    a, b = pair
    a.send(*args)
    b.send(*args)
    x, y = _reads(a, replies), _reads(b, replies)
    assert x == y, (args, x, y)
    return x


# -- exact replies against valkey-server -----------------------------------------------------------
def test_subscribe_confirmations_and_messages(pair):
    a, b = pair
    pa, pb = RawClient(a.sock.getpeername()[1]), RawClient(b.sock.getpeername()[1])
    try:
        both(pair, "SUBSCRIBE", "ch1", "ch2", "ch1", replies=3)
        both(pair, "PSUBSCRIBE", "ch*", "h?llo", "[a-c]x", replies=3)
        both(pair, "SSUBSCRIBE", "sh1", "sh2", replies=2)
        for ch, n in (("ch1", 2), ("ch2", 2), ("hello", 1), ("bx", 1), ("zz", 0), ("ch", 1)):
            assert pa.cmd("PUBLISH", ch, "payload") == pb.cmd("PUBLISH", ch, "payload") \
                == b":%d\r\n" % n
            x, y = _reads(a, n), _reads(b, n)
            assert x == y, (ch, x, y)
        assert pa.cmd("SPUBLISH", "sh1", "m") == pb.cmd("SPUBLISH", "sh1", "m") == b":1\r\n"
        assert a.read() == b.read()
        # a shard message does not reach patterns; a classic one does not reach shard channels
        assert pa.cmd("SPUBLISH", "ch1", "m") == pb.cmd("SPUBLISH", "ch1", "m") == b":0\r\n"
        assert pa.cmd("PUBLISH", "sh1", "m") == pb.cmd("PUBLISH", "sh1", "m") == b":0\r\n"
        both(pair, "UNSUBSCRIBE", "ch2", "nope", replies=2)
        both(pair, "PUNSUBSCRIBE", "h?llo", replies=1)
        both(pair, "SUNSUBSCRIBE", "sh2", "sh1", replies=2)
        both(pair, "PUNSUBSCRIBE", "[a-c]x", "ch*", replies=2)
        both(pair, "UNSUBSCRIBE", replies=1)   # the last channel: count 0
        assert a.cmd("PING") == b.cmd("PING")
    finally:
        pa.close()
        pb.close()


def test_binary_and_empty_names(pair):
    a, b = pair
    pa, pb = RawClient(a.sock.getpeername()[1]), RawClient(b.sock.getpeername()[1])
    try:
        both(pair, "SUBSCRIBE", "", "\x00\xff\r\n", replies=2)
        both(pair, "PSUBSCRIBE", "\\*", replies=1)
        for ch in ("", "\x00\xff\r\n", "*", "x"):
            n1, n2 = pa.cmd("PUBLISH", ch, "\r\n"), pb.cmd("PUBLISH", ch, "\r\n")
            assert n1 == n2
            k = int(n1[1:-2])
            assert _reads(a, k) == _reads(b, k)
    finally:
        pa.close()
        pb.close()


def test_resp2_subscribed_mode_restrictions(server, ref):
    a, b = RawClient(server.port, 2), RawClient(ref.port, 2)
    pair = (a, b)
    try:
        both(pair, "SUBSCRIBE", "c", replies=1)
        for cmd in (("PING",), ("PING", "hi"), ("GET", "x"), ("SET", "x", "1"),
                    ("CLIENT", "ID"), ("PUBLISH", "c", "m"), ("INFO",), ("PING", "a", "b"),
                    ("SUBSCRIBE",), ("FOO",)):
            same_raw(pair, *cmd)
        both(pair, "PSUBSCRIBE", "p*", replies=1)
        both(pair, "UNSUBSCRIBE", "c", replies=1)
        same_raw(pair, "GET", "x")          # still subscribed to a pattern
        both(pair, "PUNSUBSCRIBE", replies=1)
        same_raw(pair, "PING")              # out of subscribed mode: +PONG
        same_raw(pair, "GET", "x")
        both(pair, "SSUBSCRIBE", "s", replies=1)
        same_raw(pair, "GET", "x")          # shard subscriptions count too
        same_raw(pair, "PING")
        both(pair, "SUNSUBSCRIBE", replies=1)
        same_raw(pair, "PING")
    finally:
        a.close()
        b.close()


def test_resp2_subscribed_ping_bytes(server):
    c = RawClient(server.port, 2)
    try:
        c.cmd("SUBSCRIBE", "c")
        assert c.cmd("PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        assert c.cmd("PING", "x") == b"*2\r\n$4\r\npong\r\n$1\r\nx\r\n"
        assert c.cmd("GET", "k") == (
            b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
            b"RESET are allowed in this context\r\n")
        assert c.cmd("CONFIG", "GET", "x").startswith(b"-ERR Can't execute 'config|get':")
        assert c.cmd("QUIT") == b"+OK\r\n"
    finally:
        c.close()


def test_resp3_pushes_interleave_with_replies(server, ref):
    a, b = RawClient(server.port, 3), RawClient(ref.port, 3)
    pair = (a, b)
    pa, pb = RawClient(server.port), RawClient(ref.port)
    try:
        both(pair, "SUBSCRIBE", "c", replies=1)
        same_raw(pair, "SET", "k", "v")     # no restriction in RESP3
        same_raw(pair, "PING")              # +PONG, not the RESP2 array
        same_raw(pair, "GET", "k")
        assert pa.cmd("PUBLISH", "c", "m1") == pb.cmd("PUBLISH", "c", "m1")
        both(pair, "GET", "k", replies=2)   # the push, then the reply
        # publishing to itself: the push comes before the PUBLISH reply
        both(pair, "PUBLISH", "c", "self", replies=2)
        # a pipeline: replies and the self-published push stay in order
        for c in pair:
            c.sock.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n"
                           b"$2\r\nm2\r\n*1\r\n$4\r\nPING\r\n")
        assert _reads(a, 4) == _reads(b, 4)
        both(pair, "UNSUBSCRIBE", replies=1)
    finally:
        for c in (a, b, pa, pb):
            c.close()


def test_unsubscribe_with_nothing_subscribed_redis72(server, rr):
    """Redis 7.2.4 (pubsub.c pubsubUnsubscribeAll*): one confirmation with a null name and
    count 0. (valkey 8 answers a NOSUB error instead.)"""
    for proto, null, head in ((2, b"$-1\r\n", b"*3\r\n"), (3, b"_\r\n", b">3\r\n")):
        c = RawClient(server.port, proto)
        try:
            for kind in (b"unsubscribe", b"punsubscribe", b"sunsubscribe"):
                assert c.cmd(kind.decode()) == head + b"$%d\r\n%b\r\n" % (len(kind), kind) \
                    + null + b":0\r\n"
            # unsubscribing from a channel never subscribed: its name, the current count
            c.cmd("PSUBSCRIBE", "p")
            assert c.cmd("UNSUBSCRIBE", "x") == head + b"$11\r\nunsubscribe\r\n$1\r\nx\r\n:1\r\n"
            assert c.cmd("SUNSUBSCRIBE") == head + b"$12\r\nsunsubscribe\r\n" + null + b":0\r\n"
        finally:
            c.close()


def test_pubsub_introspection(pair):
    a, b = pair
    sa, sb = RawClient(a.sock.getpeername()[1]), RawClient(b.sock.getpeername()[1])
    sa2, sb2 = RawClient(a.sock.getpeername()[1]), RawClient(b.sock.getpeername()[1])
    try:
        for c, c2 in ((sa, sa2), (sb, sb2)):
            c.send("SUBSCRIBE", "news.1")
            c.read()
            c2.send("SUBSCRIBE", "news.1")
            c2.read()
            c.send("PSUBSCRIBE", "news.*", "x")
            _reads(c, 2)
            c2.send("PSUBSCRIBE", "news.*")
            c2.read()
            c.send("SSUBSCRIBE", "shard.1")
            c.read()
        for cmd in (("PUBSUB", "NUMSUB"), ("PUBSUB", "NUMSUB", "news.1", "none", "news.1"),
                    ("PUBSUB", "NUMPAT"), ("PUBSUB", "CHANNELS"), ("PUBSUB", "CHANNELS", "n*"),
                    ("PUBSUB", "CHANNELS", "zz*"), ("PUBSUB", "SHARDCHANNELS"),
                    ("PUBSUB", "SHARDCHANNELS", "x"), ("PUBSUB", "SHARDNUMSUB", "shard.1", "n"),
                    ("PUBSUB", "SHARDNUMSUB"), ("PUBSUB", "HELP"), ("PUBSUB", "help"),
                    ("PUBSUB",), ("PUBSUB", "NOPE"), ("PUBSUB", "NUMPAT", "x"),
                    ("PUBSUB", "CHANNELS", "a", "b"), ("PUBSUB", "SHARDCHANNELS", "a", "b"),
                    ("PUBSUB", "HELP", "x"), ("PUBLISH", "a"), ("SPUBLISH", "a", "b", "c"),
                    ("SUBSCRIBE",), ("PSUBSCRIBE",), ("SSUBSCRIBE",)):
            same_raw(pair, *cmd)
        # a disconnect takes the client's subscriptions away
        sa.close()
        sb.close()
        for cmd in (("PUBSUB", "NUMSUB", "news.1"), ("PUBSUB", "NUMPAT"),
                    ("PUBSUB", "SHARDCHANNELS")):
            deadline = time.time() + 5
            while a.cmd(*cmd) != b.cmd(*cmd):
                assert time.time() < deadline, cmd
                time.sleep(0.02)
        assert a.cmd("PUBSUB", "NUMSUB", "news.1") == b"*2\r\n$6\r\nnews.1\r\n:1\r\n"
        assert a.cmd("PUBSUB", "SHARDCHANNELS") == b"*0\r\n"
    finally:
        for c in (sa2, sb2):
            c.close()


def test_glob_patterns_match_as_redis(pair):
    a, b = pair
    pa, pb = RawClient(a.sock.getpeername()[1]), RawClient(b.sock.getpeername()[1])
    pats = ["*", "a*", "h?llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "\\*x", "[", "a\\",
            "*[0-9]", "??", "x[]y"]
    chans = ["hello", "hallo", "hbllo", "*x", "a", "a\\", "ab", "x9", "", "[", "x]y"]
    try:
        both(pair, "PSUBSCRIBE", *pats, replies=len(pats))
        for ch in chans:
            n1, n2 = pa.cmd("PUBLISH", ch, "m"), pb.cmd("PUBLISH", ch, "m")
            assert n1 == n2, (ch, n1, n2)
            k = int(n1[1:-2])
            assert sorted(_reads(a, k)) == sorted(_reads(b, k))
    finally:
        pa.close()
        pb.close()


# -- client state, cleanup -------------------------------------------------------------------------
def _client_line(r, name):
    for line in r.execute_command("CLIENT", "LIST").decode().splitlines():
        if f" name={name} " in line:
            return dict(kv.split("=", 1) for kv in line.split(" "))
    return None


def test_client_list_info_and_reset(server):
    r = server.client(2)
    s = RawClient(server.port)
    try:
        s.cmd("CLIENT", "SETNAME", "sub1")
        s.send("SUBSCRIBE", "a", "b")
        _reads(s, 2)
        s.send("PSUBSCRIBE", "p*")
        s.read()
        s.send("SSUBSCRIBE", "s1", "s2", "s3")
        _reads(s, 3)
        line = _client_line(r, "sub1")
        assert (line["sub"], line["psub"], line["ssub"]) == ("2", "1", "3")
        assert "P" in line["flags"]
        assert line["omem"] == "0"
        info = r.info("stats")
        assert (info["pubsub_channels"], info["pubsub_patterns"],
                info["pubsubshard_channels"]) == (2, 1, 3)
        assert r.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
        time.sleep(0.1)
        info = r.info("stats")
        assert (info["pubsub_channels"], info["pubsub_patterns"],
                info["pubsubshard_channels"]) == (0, 0, 0)
        s.close()
        s = RawClient(server.port)
        s.cmd("CLIENT", "SETNAME", "sub2")
        s.send("SUBSCRIBE", "a")
        s.read()
        s.send("PSUBSCRIBE", "q*")
        s.read()
        assert s.cmd("RESET") == b"+RESET\r\n"
        assert s.cmd("PING") == b"+PONG\r\n"
        assert r.pubsub_numsub("a") == [(b"a", 0)]
        assert r.pubsub_numpat() == 0
        assert r.publish("a", "x") == 0
        assert _client_line(r, "sub2") is None   # RESET cleared the name too
    finally:
        s.close()
        r.close()


def test_disconnect_removes_subscriptions(server):
    r = server.client(2)
    subs = [RawClient(server.port) for _ in range(3)]
    try:
        for i, s in enumerate(subs):
            s.send("SUBSCRIBE", "dc", f"dc{i}")
            _reads(s, 2)
            s.send("PSUBSCRIBE", "dc*")
            s.read()
        assert r.publish("dc", "m") == 6
        subs[0].close()
        subs[1].close()
        deadline = time.time() + 5
        while r.pubsub_numsub("dc")[0][1] != 1:
            assert time.time() < deadline
            time.sleep(0.01)
        assert r.pubsub_numpat() == 1
        assert sorted(r.pubsub_channels()) == [b"dc", b"dc2"]
        assert r.publish("dc", "m") == 2
    finally:
        subs[2].close()
        r.close()


def test_timeout_does_not_close_subscribers():
    srv = start_valkeyd("--save", "", "--timeout", "1")
    try:
        sub = RawClient(srv.port)
        idle = RawClient(srv.port)
        sub.send("SUBSCRIBE", "t")
        sub.read()
        idle.cmd("PING")
        time.sleep(2.6)
        r = srv.client(2)
        assert r.publish("t", "still here") == 1
        assert sub.read() == b"*3\r\n$7\r\nmessage\r\n$1\r\nt\r\n$10\r\nstill here\r\n"
        idle.sock.settimeout(2)
        assert idle.sock.recv(10) == b""   # the idle normal client was closed
        r.close()
        sub.close()
    finally:
        srv.stop()


# -- redis-py ----------------------------------------------------------------------------------------
def test_redis_py_pubsub_object(server):
    r = server.client(2)
    p = r.pubsub()
    try:
        p.psubscribe("news.*")
        p.subscribe("alerts")
        assert p.get_message(timeout=5)["type"] == "psubscribe"
        assert p.get_message(timeout=5)["type"] == "subscribe"
        assert r.publish("news.tech", "hello") == 1
        assert r.publish("alerts", "fire") == 1
        m = p.get_message(timeout=5)
        assert (m["type"], m["pattern"], m["channel"], m["data"]) == (
            "pmessage", b"news.*", b"news.tech", b"hello")
        m = p.get_message(timeout=5)
        assert (m["type"], m["channel"], m["data"]) == ("message", b"alerts", b"fire")
        p.unsubscribe("alerts")
        p.punsubscribe("news.*")
        assert p.get_message(timeout=5)["type"] == "unsubscribe"
        assert p.get_message(timeout=5)["type"] == "punsubscribe"
        assert r.publish("news.tech", "hello") == 0
        got = []
        p.subscribe(**{"handled": lambda msg: got.append(msg["data"])})
        assert p.get_message(timeout=5)["type"] == "subscribe"
        thread = p.run_in_thread(sleep_time=0.01)
        try:
            r.publish("handled", "via handler")
            deadline = time.time() + 5
            while not got and time.time() < deadline:
                time.sleep(0.01)
        finally:
            thread.stop()
            thread.join(5)
        assert got == [b"via handler"]
    finally:
        p.close()
        r.close()


def test_redis_py_resp3_pubsub(server):
    r = server.client(3)
    p = r.pubsub()
    try:
        p.subscribe("r3")
        assert p.get_message(timeout=5)["type"] == "subscribe"
        assert r.publish("r3", "x") == 1
        m = p.get_message(timeout=5)
        assert (m["type"], m["channel"], m["data"]) == ("message", b"r3", b"x")
        p.ssubscribe("sh")
        assert p.get_sharded_message(timeout=5)["type"] == "ssubscribe"
        assert r.spublish("sh", "y") == 1
        m = p.get_sharded_message(timeout=5)
        assert (m["type"], m["channel"], m["data"]) == ("smessage", b"sh", b"y")
    finally:
        p.close()
        r.close()


# -- output buffer limits ----------------------------------------------------------------------------
def _stalled_subscriber(port, channel):
    """A subscriber with a small receive buffer that never reads."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%b\r\n" % (len(channel), channel))
    return s


def _gone(r, name_or_channel, deadline=10):
    end = time.time() + deadline
    while time.time() < end:
        if r.pubsub_numsub(name_or_channel)[0][1] == 0:
            return True
        time.sleep(0.02)
    return False


def test_slow_subscriber_hard_limit_disconnect():
    srv = start_valkeyd("--save", "", "--client-output-buffer-limit", "pubsub 1mb 512kb 60")
    try:
        r = srv.client(2)
        slow = _stalled_subscriber(srv.port, b"firehose")
        fast = RawClient(srv.port)
        fast.send("SUBSCRIBE", "firehose")
        fast.read()
        deadline = time.time() + 5
        while r.pubsub_numsub("firehose")[0][1] != 2:
            assert time.time() < deadline
            time.sleep(0.01)
        rss_before = r.info("memory")["used_memory_rss"]
        big = b"x" * 100_000
        receivers = []
        for i in range(400):   # 40 MB published; the slow subscriber's buffer must not grow
            receivers.append(r.publish("firehose", big))
            assert fast.read().endswith(big + b"\r\n")
            if receivers[-1] == 1:
                break
        assert receivers[0] == 2
        assert receivers[-1] == 1, "the slow subscriber was never disconnected"
        assert r.pubsub_numsub("firehose") == [(b"firehose", 1)]
        assert r.ping()
        assert r.info("memory")["used_memory_rss"] - rss_before < 30_000_000
        log = srv.logpath.read_text()
        assert re.search(r"Client id=\d+ addr=\S+ .*flags=P .*sub=1 .* scheduled to be closed "
                         r"ASAP for overcoming of output buffer limits\.", log), log[-2000:]
        slow.settimeout(5)
        data = b""
        try:
            while True:
                chunk = slow.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        assert len(data) < 40_000_000
        slow.close()
        fast.close()
        r.close()
    finally:
        srv.stop()


def test_slow_subscriber_soft_limit_disconnect():
    srv = start_valkeyd("--save", "", "--client-output-buffer-limit", "pubsub 0 200kb 1")
    try:
        r = srv.client(2)
        slow = _stalled_subscriber(srv.port, b"drip")
        deadline = time.time() + 5
        while r.pubsub_numsub("drip")[0][1] != 1:
            assert time.time() < deadline
            time.sleep(0.01)
        # over the soft limit, then nothing more: the cron closes it after > 1 s
        counts = [r.publish("drip", b"y" * 100_000) for _ in range(80)]
        assert counts[0] == 1
        assert _gone(r, "drip", 10)
        assert "for overcoming of output buffer limits" in srv.logpath.read_text()
        slow.close()
        r.close()
    finally:
        srv.stop()


def test_output_limit_config_applies_at_runtime(server):
    """CONFIG SET client-output-buffer-limit takes effect for existing subscribers; omem in
    CLIENT LIST shows the pending output."""
    r = server.client(2)
    old = r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    slow = _stalled_subscriber(server.port, b"cfg")
    try:
        deadline = time.time() + 5
        while r.pubsub_numsub("cfg")[0][1] != 1:
            assert time.time() < deadline
            time.sleep(0.01)
        for _ in range(150):   # 15 MB: more than the kernel buffers take, less than 32mb
            r.publish("cfg", b"z" * 100_000)
        lines = [ln for ln in r.execute_command("CLIENT", "LIST").decode().splitlines()
                 if " sub=1 " in ln]
        assert lines and int(re.search(r" omem=(\d+)", lines[0]).group(1)) > 0
        assert r.pubsub_numsub("cfg") == [(b"cfg", 1)]
        r.config_set("client-output-buffer-limit", "pubsub 100kb 0 0")
        # Either this PUBLISH counts the subscriber and then closes it (Redis's check on
        # write), or the server cron's check of clients with a full socket buffer (the same
        # limits, see valkeyd/pubsub.py) got there first: both apply the new limit.
        assert r.publish("cfg", b"z" * 100_000) in (0, 1)
        assert _gone(r, "cfg", 5)
        assert r.publish("cfg", b"z") == 0
    finally:
        r.config_set("client-output-buffer-limit", old)
        slow.close()
        r.close()


def test_normal_class_limit_closes_a_non_reading_client():
    srv = start_valkeyd("--save", "", "--client-output-buffer-limit", "normal 1mb 0 0")
    try:
        r = srv.client(2)
        r.set("big", b"v" * 500_000)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"CLIENT SETNAME hog\r\n" + b"GET big\r\n" * 200)   # 100 MB of replies
        deadline = time.time() + 10
        while "for overcoming of output buffer limits" not in srv.logpath.read_text():
            assert time.time() < deadline, "the client was never closed"
            time.sleep(0.05)
        assert _client_line(r, "hog") is None
        assert r.ping()
        s.close()
        r.close()
    finally:
        srv.stop()


# -- keyspace notification hook: installed only when configured -------------------------------------
def test_notify_hook_installed_only_when_configured():
    """No hook (zero cost for writes) unless notify-keyspace-events selects K or E and some
    class; the engine's ``on_new`` callback only with the n class."""
    from harness import inproc_server
    srv, _props, _events = inproc_server()
    srv.notify_hook = None
    cfg = srv.config
    for flags, installed in (("K", False), ("E", False), ("A", False), ("KA", True),
                             ("Eg", True), ("Km", True), ("", False), ("En", True)):
        cfg.set("notify-keyspace-events", flags)
        assert (srv.notify_hook is not None) == installed, flags
        assert (srv.engine.on_new is not None) == (flags == "En"), flags
    cfg.set("notify-keyspace-events", "")
    assert srv.notify_hook is None and srv.engine.on_new is None
    # a hook someone else installed (an in-process test's recorder) is left alone
    mine = lambda *a: None  # noqa: E731
    srv.notify_hook = mine
    cfg.set("notify-keyspace-events", "KEA")
    cfg.set("notify-keyspace-events", "")
    assert srv.notify_hook is mine


def test_keyspace_events_via_redis_py(r):
    """The seed's pattern: a subscriber notified of changes to keys."""
    r.config_set("notify-keyspace-events", "KEA")
    p = r.pubsub()
    try:
        p.psubscribe("__keyspace@0__:user:*")
        assert p.get_message(timeout=5)["type"] == "psubscribe"
        r.hset("user:1", "name", "ann")
        r.expire("user:1", 100)
        r.delete("user:1")
        r.set("other", "x")
        got = []
        while len(got) < 3:
            m = p.get_message(timeout=5)
            assert m is not None, got
            got.append((m["channel"], m["data"]))
        assert got == [(b"__keyspace@0__:user:1", b"hset"), (b"__keyspace@0__:user:1", b"expire"),
                       (b"__keyspace@0__:user:1", b"del")]
        assert p.get_message(timeout=0.2) is None
    finally:
        r.config_set("notify-keyspace-events", "")
        p.close()


def test_resp3_own_keyspace_events_follow_the_reply(server, ref):
    """A RESP3 client subscribed to the events of the keys it writes gets its reply first,
    then the pushes (Redis defers pushes to the running client), also after EXEC-less
    pipelines of several writes."""
    a, b = RawClient(server.port, 3), RawClient(ref.port, 3)
    pair = (a, b)
    try:
        for c in pair:
            c.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
        both(pair, "PSUBSCRIBE", "__keyspace@0__:own*", replies=1)
        both(pair, "SET", "own1", "v", replies=2)       # +OK, then the set push
        both(pair, "SET", "own2", "v", "EX", "100", replies=3)
        both(pair, "DEL", "own1", "own2", "nothere", replies=3)
        for c in pair:
            c.sock.sendall(b"*3\r\n$4\r\nSADD\r\n$4\r\nown3\r\n$1\r\na\r\n"
                           b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nSPOP\r\n$4\r\nown3\r\n")
        assert _reads(a, 6) == _reads(b, 6)
    finally:
        for c in pair:
            c.cmd("CONFIG", "SET", "notify-keyspace-events", "")
            c.close()
