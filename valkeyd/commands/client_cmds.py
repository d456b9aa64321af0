"""CLIENT and its subcommands (networking.c clientCommand in Redis 7.2.4).

ID SETNAME GETNAME LIST INFO KILL SETINFO REPLY NO-EVICT NO-TOUCH PAUSE UNPAUSE UNBLOCK
HELP (TRACKING CACHING GETREDIR TRACKINGINFO are in tracking_cmds.py). CLIENT LIST / CLIENT
INFO lines follow catClientInfoString field for field.

Optional client attributes other subsystems may set (read with getattr, absent = off):
``is_master`` / ``is_replica`` (replication links), ``tracking``, ``tracking_redirect``,
``tracking_bcast`` (client-side caching), ``channels`` / ``patterns`` / ``shard_channels``
(pub/sub subscriptions, any sized container). Server hooks: ``server.unblock_client(c,
error: bool)`` (blocking commands) and ``server.acl_user_exists(name)`` (ACL users).
"""
from __future__ import annotations

import time

from .. import errors
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK, Simple, Verbatim
from .connection import validate_client_name
from .registry import command, container

container("client", -2, "sentinel")

TYPE_NORMAL, TYPE_REPLICA, TYPE_PUBSUB, TYPE_MASTER = 0, 1, 2, 3
_TYPES = {b"normal": TYPE_NORMAL, b"slave": TYPE_REPLICA, b"replica": TYPE_REPLICA,
          b"pubsub": TYPE_PUBSUB, b"master": TYPE_MASTER}


def _s(b) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)


def client_type(c) -> int:
    """getClientType: master, replica (monitors are normal), pubsub or normal."""
    if getattr(c, "is_master", False):
        return TYPE_MASTER
    if getattr(c, "is_replica", False) and not c.monitor:
        return TYPE_REPLICA
    if c.subscriptions:
        return TYPE_PUBSUB
    return TYPE_NORMAL


def _type_arg(b: bytes) -> int:
    t = _TYPES.get(b.lower())
    if t is None:
        raise ErrorReply("ERR Unknown client type '%s'" % _s(b))
    return t


def _flags(c) -> str:
    f = ""
    if c.monitor:
        f += "O"
    elif getattr(c, "is_replica", False):
        f += "S"
    if getattr(c, "is_master", False):
        f += "M"
    if c.subscriptions:
        f += "P"
    if c.multi is not None:
        f += "x"
    if c.blocked is not None:
        f += "b"
    if getattr(c, "tracking", False):
        f += "t"
        if getattr(c, "tracking_broken_redir", False):
            f += "R"
        if getattr(c, "tracking_bcast", False):
            f += "B"
    if c.dirty_cas:
        f += "d"
    if c.close_after_reply:
        f += "c"
    if c.unix:
        f += "U"
    if getattr(c, "readonly_cluster", False):
        f += "r"
    if c.no_evict:
        f += "e"
    if c.no_touch:
        f += "T"
    return f or "N"


def _count(c, attr: str, default: int) -> int:
    v = getattr(c, attr, None)
    return default if v is None else len(v)


def client_info_line(c, argv=None) -> str:
    """One line of CLIENT LIST / CLIENT INFO (catClientInfoString), without the newline.
    ``argv`` is the running command's arguments when ``c`` is the caller (argv-mem)."""
    now = int(time.time())
    tick = int(c.server.unixtime)  # the clock last_interaction is stamped with
    qbuf = len(c.pybuf) if c.pybuf is not None else 0
    argv_mem = sum(len(a) for a in argv) if argv else 0
    multi = c.multi
    multi_mem = sum(len(a) for e in multi if type(e) is tuple for a in e[-1]) if multi else 0
    cmd = c.last_cmd
    if c.subscriptions and not hasattr(c, "channels"):
        sub, psub, ssub = c.subscriptions, 0, 0
    else:
        sub = _count(c, "channels", 0)
        psub = _count(c, "patterns", 0)
        ssub = _count(c, "shard_channels", 0)
    tracking = getattr(c, "tracking", False)
    tr = c.transport
    omem = tr.get_write_buffer_size() if tr is not None and not c.closed else 0
    return (
        f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={_s(c.name)} "
        f"age={max(0, now - int(c.ctime))} idle={max(0, tick - int(c.last_interaction))} "
        f"flags={_flags(c)} db={c.db.id} sub={sub} psub={psub} ssub={ssub} "
        f"multi={len(multi) if multi is not None else -1} qbuf={qbuf} qbuf-free={0} "
        f"argv-mem={argv_mem} multi-mem={multi_mem} rbs=16384 rbp=16384 obl=0 "
        f"oll={1 if omem else 0} omem={omem} "
        f"tot-mem={22426 + qbuf + argv_mem + multi_mem + omem} events={'rw' if omem else 'r'} "
        f"cmd={cmd.fullname if cmd is not None else 'NULL'} user={c.user} "
        f"redir={getattr(c, 'tracking_redirect', 0) if tracking else -1} resp={c.resp} "
        f"lib-name={_s(c.lib_name)} lib-ver={_s(c.lib_ver)}"
    )


def _on_off(b: bytes):
    b = b.lower()
    if b == b"on":
        return True
    if b == b"off":
        return False
    raise ErrorReply(errors.SYNTAX)


def _subcommand_syntax_error(argv):
    raise ErrorReply("ERR unknown subcommand or wrong number of arguments for '%s'. "
                     "Try CLIENT HELP." % _s(argv[1][:128]))


@command("client|id", 2, "noscript loading stale sentinel", "connection")
def client_id(c, argv):
    return c.id


@command("client|setname", 3, "noscript loading stale sentinel", "connection")
def client_setname(c, argv):
    name = argv[2]
    if name:
        validate_client_name(name)
    c.name = bytes(name)
    return OK


@command("client|getname", 2, "noscript loading stale sentinel", "connection")
def client_getname(c, argv):
    return c.name or None


@command("client|info", 2, "noscript loading stale sentinel", "connection")
def client_info(c, argv):
    return Verbatim(client_info_line(c, argv) + "\n")


@command("client|list", -2, "admin noscript loading stale sentinel", "connection")
def client_list(c, argv):
    clients = c.server.clients
    n = len(argv)
    if n == 4 and argv[2].lower() == b"type":
        t = _type_arg(argv[3])
        sel = [x for x in clients.values() if client_type(x) == t]
    elif n > 3 and argv[2].lower() == b"id":
        sel = []
        for a in argv[3:]:
            cid = string2ll(a)
            if cid is None:
                raise ErrorReply("ERR Invalid client ID")
            x = clients.get(cid)
            if x is not None:
                sel.append(x)
    elif n != 2:
        raise ErrorReply(errors.SYNTAX)
    else:
        sel = list(clients.values())
    return Verbatim("".join(client_info_line(x, argv if x is c else None) + "\n" for x in sel))


def _user_exists(srv, name: bytes) -> bool:
    fn = getattr(srv, "acl_user_exists", None)
    if fn is not None:
        return bool(fn(name))
    return name == b"default"


@command("client|kill", -3, "admin noscript loading stale sentinel", "connection")
def client_kill(c, argv):
    srv = c.server
    addr = laddr = user = None
    ctype = -1
    cid = 0
    skipme = True
    n = len(argv)
    if n == 3:
        addr = _s(argv[2])
        skipme = False  # the old form can kill the caller itself
    else:
        i = 2
        while i < n:
            opt = argv[i].lower()
            more = n > i + 1
            if opt == b"id" and more:
                v = string2ll(argv[i + 1])
                if v is None or v < 1:
                    raise ErrorReply("ERR client-id should be greater than 0")
                cid = v
            elif opt == b"type" and more:
                ctype = _type_arg(argv[i + 1])
            elif opt == b"addr" and more:
                addr = _s(argv[i + 1])
            elif opt == b"laddr" and more:
                laddr = _s(argv[i + 1])
            elif opt == b"user" and more:
                if not _user_exists(srv, argv[i + 1]):
                    raise ErrorReply("ERR No such user '%s'" % _s(argv[i + 1]))
                user = _s(argv[i + 1])
            elif opt == b"skipme" and more:
                v = argv[i + 1].lower()
                if v == b"yes":
                    skipme = True
                elif v == b"no":
                    skipme = False
                else:
                    raise ErrorReply(errors.SYNTAX)
            else:
                raise ErrorReply(errors.SYNTAX)
            i += 2
    killed = 0
    close_self = False
    for x in list(srv.clients.values()):
        if addr is not None and x.addr != addr:
            continue
        if laddr is not None and x.laddr != laddr:
            continue
        if ctype != -1 and client_type(x) != ctype:
            continue
        if cid and x.id != cid:
            continue
        if user is not None and x.user != user:
            continue
        if x is c and skipme:
            continue
        if x is c:
            close_self = True
        else:
            x.close()
        killed += 1
    if close_self:
        c.close_after_reply = True
    if n == 3:
        if not killed:
            raise ErrorReply("ERR No such client")
        return OK
    return killed


@command("client|setinfo", 4, "noscript loading stale sentinel", "connection")
def client_setinfo(c, argv):
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise ErrorReply("ERR Unrecognized option '%s'" % _s(argv[2]))
    val = argv[3]
    if any(ch < 33 or ch > 126 for ch in val):
        raise ErrorReply("ERR %s cannot contain spaces, newlines or special characters."
                         % _s(argv[2]))
    if attr == b"lib-name":
        c.lib_name = bytes(val)
    else:
        c.lib_ver = bytes(val)
    return OK


@command("client|reply", 3, "noscript loading stale sentinel", "connection")
def client_reply(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = 0
        return OK
    if mode == b"off":
        c.reply_mode = 1
        return None
    if mode == b"skip":
        if c.reply_mode != 1:
            c.reply_mode = 3  # the dispatcher turns this into "skip the next reply"
        return None
    raise ErrorReply(errors.SYNTAX)


@command("client|no-evict", 3, "admin noscript loading stale sentinel", "connection")
def client_no_evict(c, argv):
    c.no_evict = _on_off(argv[2])
    return OK


@command("client|no-touch", 3, "noscript loading stale", "connection")
def client_no_touch(c, argv):
    # The dispatcher runs this client's commands (but TOUCH) with the engine's no_touch set.
    c.no_touch = _on_off(argv[2])
    return OK


@command("client|pause", -3, "admin noscript loading stale sentinel", "connection")
def client_pause(c, argv):
    n = len(argv)
    if n > 4:
        _subcommand_syntax_error(argv)
    pause_all = True
    if n == 4:
        m = argv[3].lower()
        if m == b"write":
            pause_all = False
        elif m != b"all":
            raise ErrorReply("ERR CLIENT PAUSE mode must be WRITE or ALL")
    ms = string2ll(argv[2])
    if ms is None:
        raise ErrorReply("ERR timeout is not an integer or out of range")
    if ms < 0:
        raise ErrorReply(errors.TIMEOUT_NEGATIVE)
    now = _now_ms()
    if ms > (1 << 63) - 1 - now:
        raise ErrorReply("ERR timeout is out of range")
    end = now + ms if ms > 0 else 0
    srv = c.server
    st = _pause_state(srv)
    if not pause_all and st.all and srv.client_pause_end > now:
        pause_all = True  # a WRITE pause never weakens an ALL pause in force
    st.all = pause_all
    if end > srv.client_pause_end:
        srv.client_pause_end = end
    less_strict = not pause_all and st.postponed
    if srv.client_pause_end <= now:
        _end_pause(srv)
    else:
        _hold_expiry(srv, st, True)
        if srv.loop is not None:
            srv.loop.call_later((srv.client_pause_end - now) / 1000.0 + 0.001,
                                _pause_timer, srv)
        if less_strict:
            _resume_postponed(srv)  # re-examined: reads go on, writes are postponed again
    return OK


@command("client|unpause", 2, "admin noscript loading stale sentinel", "connection")
def client_unpause(c, argv):
    _end_pause(c.server)
    return OK


class Postponed:
    """``client.blocked`` while CLIENT PAUSE holds a client's command (BLOCKED_POSTPONE)."""

    __slots__ = ("argv",)
    postponed = True

    def __init__(self, argv):
        self.argv = argv


class _PauseState:
    __slots__ = ("all", "postponed", "held")

    def __init__(self):
        self.all = False
        self.postponed: list = []
        self.held = None   # (engine replica_mode, server was replica) before the pause


def _hold_expiry(srv, st, on: bool) -> None:
    """A pause (WRITE or ALL) also pauses expiry: expired keys read as missing but are not
    deleted until it ends (the engine's replica_mode, see engines/base.py)."""
    eng = srv.engine
    if not hasattr(eng, "replica_mode"):
        return
    if on:
        if st.held is None:
            st.held = (eng.replica_mode, srv.is_replica())
            eng.replica_mode = True
    elif st.held is not None:
        mode, was_replica = st.held
        st.held = None
        eng.replica_mode = mode if srv.is_replica() == was_replica else srv.is_replica()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _pause_state(srv) -> _PauseState:
    st = getattr(srv, "_client_pause", None)
    if st is None:
        st = srv._client_pause = _PauseState()
        srv.pause_check = _pause_check
    return st


def _pause_check(c, cmd, argv) -> bool:
    """processCommand's pause test: True if the command was postponed."""
    srv = c.server
    if _now_ms() >= srv.client_pause_end:
        _end_pause(srv)
        return False
    if getattr(c, "is_replica", False) or getattr(c, "is_master", False):
        return False
    st = srv._client_pause
    if not st.all and not (cmd.write or cmd.may_replicate):
        if cmd.name != "exec" or not c.multi or not any(
                q.write or q.may_replicate for q, _ in c.multi):
            return False
    c.blocked = Postponed(argv)
    st.postponed.append(c)
    return True


def _pause_timer(srv) -> None:
    if srv.client_pause_end and _now_ms() >= srv.client_pause_end:
        _end_pause(srv)


def _end_pause(srv) -> None:
    srv.client_pause_end = 0
    st = getattr(srv, "_client_pause", None)
    if st is not None:
        st.all = False
        _hold_expiry(srv, st, False)
        _resume_postponed(srv)


def _resume_postponed(srv) -> None:
    """Run the postponed clients again, in the order they were postponed."""
    st = srv._client_pause
    waiting, st.postponed = st.postponed, []
    for c in waiting:
        b = c.blocked
        if c.closed or type(b) is not Postponed:
            continue
        c.blocked = None
        reqs = [b.argv] + c.pending
        c.pending = []
        c.run(reqs)
        c.flush()


@command("client|unblock", -3, "admin noscript loading stale sentinel", "connection")
def client_unblock(c, argv):
    n = len(argv)
    if n > 4:
        _subcommand_syntax_error(argv)
    error = False
    if n == 4:
        r = argv[3].lower()
        if r == b"error":
            error = True
        elif r != b"timeout":
            raise ErrorReply("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    cid = string2ll(argv[2])
    if cid is None:
        raise ErrorReply(errors.NOT_INTEGER)
    srv = c.server
    target = srv.clients.get(cid)
    hook = getattr(srv, "unblock_client", None)
    if (target is not None and target.blocked is not None and hook is not None
            and type(target.blocked) is not Postponed):
        if hook(target, error) is not False:
            return 1
    return 0


HELP = [Simple(s.encode()) for s in (
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Print this help.",
)]


@command("client|help", 2, "loading stale sentinel", "connection")
def client_help(c, argv):
    return HELP
