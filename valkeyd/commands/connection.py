"""Connection commands: PING ECHO QUIT RESET SELECT AUTH HELLO."""
from __future__ import annotations

from .. import errors
from ..errors import ErrorReply
from ..resp import OK, PONG, Simple
from .registry import command
from .util import get_int


@command("ping", -1, "fast sentinel", "connection")
def ping(c, argv):
    if len(argv) > 2:
        raise ErrorReply(errors.WRONG_ARITY % "ping")
    if c.subscriptions and c.resp == 2:
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


@command("echo", 2, "loading stale fast", "connection")
def echo(c, argv):
    return argv[1]


@command("quit", -1, "allow_busy noscript loading stale fast no_auth", "connection")
def quit_(c, argv):
    c.close_after_reply = True
    return OK


@command("select", 2, "loading stale fast", "connection")
def select(c, argv):
    idx = get_int(argv[1])   # getIntFromObjectOrReply: an int, then within C int range
    if idx < -2147483648 or idx > 2147483647:
        raise ErrorReply(errors.INT_OUT_OF_RANGE)
    if idx < 0 or idx >= len(c.server.dbs):
        raise ErrorReply(errors.DB_INDEX_OUT_OF_RANGE)
    c.db = c.server.dbs[idx]
    return OK


@command("reset", 1, "noscript loading stale fast no_auth allow_busy", "connection")
def reset(c, argv):
    srv = c.server
    for hook in srv.reset_hooks:
        hook(c)
    c.multi = None
    c.multi_error = False
    c.watched = None
    c.dirty_cas = False
    if c.monitor:
        c.monitor = False
        if c in srv.monitors:
            srv.monitors.remove(c)
    c.db = srv.dbs[0]
    c.set_resp(2)
    c.name = b""
    c.reply_mode = 0
    c.no_evict = False
    c.no_touch = False
    c.authenticated = not srv.auth_required()
    c.user = "default"
    return Simple(b"RESET")


def check_password(srv, user: bytes, password: bytes) -> bool:
    """The default user only (ACLs are a later issue)."""
    if user != b"default":
        return False
    rp = srv.requirepass
    return not rp or password == rp.encode()


def auth_failed(c):
    c.server.stats.acl_access_denied_auth = getattr(c.server.stats, "acl_access_denied_auth", 0) + 1
    raise ErrorReply(errors.WRONGPASS)


@command("auth", -2, "noscript loading stale fast no_auth allow_busy", "connection")
def auth(c, argv):
    if len(argv) > 3:
        raise ErrorReply(errors.SYNTAX)
    c.redacted = {1, 2}   # never show the credentials in MONITOR or SLOWLOG
    if len(argv) == 2:
        if not c.server.requirepass:
            raise ErrorReply(errors.AUTH_NOT_CONFIGURED)
        user, pw = b"default", argv[1]
    else:
        user, pw = argv[1], argv[2]
    if not check_password(c.server, user, pw):
        auth_failed(c)
    c.authenticated = True
    c.user = user.decode("utf-8", "replace")
    return OK


def validate_client_name(name: bytes) -> None:
    z = name.find(b"\0")   # Redis checks the name as a C string: up to a NUL byte
    if any(ch < 33 or ch > 126 for ch in (name if z < 0 else name[:z])):
        raise ErrorReply("ERR Client names cannot contain spaces, newlines or special characters.")


@command("hello", -1, "noscript loading stale fast no_auth allow_busy", "connection")
def hello(c, argv):
    ver = 0
    i = 1
    if len(argv) >= 2:
        ver = get_int(argv[1], "ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            raise ErrorReply(errors.NOPROTO)
        i = 2
    user = pw = name = None
    while i < len(argv):
        more = len(argv) - 1 - i
        opt = argv[i].upper()
        if opt == b"AUTH" and more >= 2:
            user, pw = argv[i + 1], argv[i + 2]
            c.redacted = (c.redacted or set()) | {i + 1, i + 2}
            i += 3
        elif opt == b"SETNAME" and more >= 1:
            name = argv[i + 1]
            validate_client_name(name)
            i += 2
        else:
            raise ErrorReply("ERR Syntax error in HELLO option '%s'" %
                             argv[i].split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))
    if user is not None:
        if not check_password(c.server, user, pw):
            auth_failed(c)
        c.authenticated = True
        c.user = user.decode("utf-8", "replace")
    if not c.authenticated:
        raise ErrorReply(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time")
    if name is not None:
        c.name = name
    if ver:
        c.set_resp(ver)
    return {
        b"server": b"redis",
        b"version": b"7.2.4",
        b"proto": c.resp,
        b"id": c.id,
        b"mode": b"standalone",
        b"role": b"replica" if c.server.is_replica() else b"master",
        b"modules": [],
    }
