"""INFO keyspace_hits / keyspace_misses move exactly as in Redis for every command valkeyd
implements: read lookups count, write lookups do not (compared with a real valkey-server)."""
import pytest

# Each command is run once against an existing string key "s" and once against a missing key.
COMMANDS = [
    ("GET", "{k}"), ("MGET", "{k}", "s", "nokey"), ("STRLEN", "{k}"), ("GETRANGE", "{k}", "0", "1"),
    ("SUBSTR", "{k}", "0", "1"), ("LCS", "{k}", "s"), ("GETEX", "{k}"), ("GETDEL", "{k}"),
    ("GETSET", "{k}", "v"), ("SET", "{k}", "v", "GET"), ("SET", "{k}", "v"), ("SETNX", "{k}", "v"),
    ("APPEND", "{k}", "x"), ("SETRANGE", "{k}", "1", "x"), ("INCR", "n{k}"),
    ("INCRBYFLOAT", "n{k}", "1.5"), ("MSETNX", "{k}", "v"),
    ("EXISTS", "{k}", "s"), ("TYPE", "{k}"), ("TTL", "{k}"), ("PTTL", "{k}"),
    ("EXPIRETIME", "{k}"), ("PEXPIRETIME", "{k}"), ("PERSIST", "{k}"), ("EXPIRE", "{k}", "100"),
    ("TOUCH", "{k}"), ("OBJECT", "ENCODING", "{k}"), ("OBJECT", "IDLETIME", "{k}"),
    ("OBJECT", "REFCOUNT", "{k}"), ("DEL", "{k}"), ("UNLINK", "{k}"), ("RENAME", "{k}", "r"),
    ("RENAMENX", "{k}", "r2"), ("COPY", "{k}", "c", "REPLACE"), ("MOVE", "{k}", "1"),
]


def _stats(c):
    info = c.info("stats")
    return info["keyspace_hits"], info["keyspace_misses"]


def _delta(c, args):
    c.flushall()
    c.set("s", "hello")
    c.set("ns", "1")
    before = _stats(c)
    try:
        c.execute_command(*args)
    except Exception as e:  # the stats move (or not) for failed commands too
        _ = e
    after = _stats(c)
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.parametrize("template", COMMANDS,
                         ids=lambda t: " ".join(t))
@pytest.mark.parametrize("key", ["s", "missing"])
def test_hits_and_misses_match_reference(server, ref, template, key):
    args = [a.format(k=key) if "{k}" in a else a for a in template]
    if args[0] == "INCR" or args[0] == "INCRBYFLOAT":
        args[1] = "ns" if key == "s" else "missing"
    ours = server.client(2)
    theirs = ref.client(2)
    try:
        assert _delta(ours, args) == _delta(theirs, args), args
    finally:
        ours.close()
        theirs.close()
