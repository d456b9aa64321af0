"""The skeleton end to end: a real valkeyd answers redis-py in both protocols."""


def test_ping_set_get(rr):
    assert rr.ping() is True
    assert rr.set("k", "v") is True
    assert rr.get("k") == b"v"
    assert rr.get("missing") is None


def test_unknown_command_keeps_connection(r):
    import redis
    try:
        r.execute_command("NOSUCHCMD", "a", "b")
    except redis.ResponseError as e:
        assert str(e) == "unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "
    else:
        raise AssertionError("expected an error")
    assert r.ping() is True
