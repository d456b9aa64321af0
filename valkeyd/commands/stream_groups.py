"""Consumer groups: XGROUP XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM, and XINFO.

Redis 7.2.4 t_stream.c. A stream value (``c.db.get_collection(key, "stream")``) has a
``groups`` mapping (name -> :class:`engines.base.ConsumerGroup`); stream IDs are ints
``ms << 64 | seq``.

Propagation follows Redis: XREADGROUP, XCLAIM and XAUTOCLAIM never propagate themselves
(``preventCommandPropagation``) but emit ``XCLAIM <key> <group> <consumer> 0 <id> TIME <ms>
RETRYCOUNT <n> FORCE JUSTID LASTID <id>`` per PEL change (streamPropagateXCLAIM), ``XGROUP
SETID <key> <group> <id> ENTRIESREAD <n>`` when only the last ID moved
(streamPropagateGroupID) and ``XGROUP CREATECONSUMER`` for a consumer created by a NOACK read
(streamPropagateConsumerCreation). Keyspace events and dirty counts are Redis's: consumer
group changes do not signal the key as modified (no WATCH invalidation), as in Redis.
"""
from __future__ import annotations

from engines.base import clock

from .. import errors
from ..blocking import deny_blocking, install
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import NULL_ARRAY, OK, Raw, encode3
from .registry import command, container
from .server import help_reply, subcommand_syntax_error
from .streams import parse_id, xread_getkeys
from .util import count_lookup, get_int

U64 = (1 << 64) - 1
ID_MAX = (1 << 128) - 1
INVALID_ER = -1   # SCG_INVALID_ENTRIES_READ
LLONG_MAX = (1 << 63) - 1



# -- stream IDs ----------------------------------------------------------------------------------
def parse_interval_id(arg: bytes, missing_seq: int):
    """streamParseIntervalIDOrReply: (id, exclusive)."""
    if len(arg) > 1 and arg[:1] == b"(":
        return parse_id(arg[1:], missing_seq, True), True
    return parse_id(arg, missing_seq), False


def fmt_id(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & U64)


# -- the stream value (the interface of engines.mem_stream.MemoryStream) --------------------------
def _lookup(c, key, write: bool = False):
    """lookupKeyRead/Write + checkType: the stream or None (WRONGTYPE raised)."""
    try:
        s = c.db.get_collection(key, "stream")
    except ErrorReply:
        if not write:
            c.server.stats.keyspace_hits += 1
        raise
    if not write:
        count_lookup(c, s is not None, key)
    return s


def _new_group(s, last_id: int, entries_read: int):
    f = getattr(s, "new_group", None)
    if f is not None:
        return f(last_id, entries_read)
    from engines.mem_stream_groups import MemoryConsumerGroup
    return MemoryConsumerGroup(last_id, entries_read)


def _entry(s, ident: int):
    """One live entry as a reply [id, [f, v, ...]], or None."""
    fv = s.get(ident)
    if fv is None:
        return None
    return [fmt_id(ident), list(fv)]


def _has_tombstones(s, start: int) -> bool:
    """streamRangeHasTombstones(s, start, NULL)."""
    mx = s.max_deleted_entry_id
    if not len(s) or mx == 0:
        return False
    if s.first_id > mx:
        return False
    return start <= mx


def estimate_distance(s, ident: int) -> int:
    """streamEstimateDistanceFromFirstEverEntry (-1: unknown)."""
    added = s.entries_added
    if not added:
        return 0
    last = s.last_id
    if not len(s) and ident <= last:
        return added
    if ident == last:
        return added
    if ident > last:
        return INVALID_ER
    first = s.first_id
    mx = s.max_deleted_entry_id
    if mx == 0 or mx < first:
        if ident < first:
            return added - len(s)
        if ident == first:
            return added - len(s) + 1
    return INVALID_ER


def group_lag(s, g):
    """streamReplyWithCGLag: the lag or None."""
    if not s.entries_added:
        return 0
    er = g.entries_read
    if er != INVALID_ER and not _has_tombstones(s, g.last_id):
        return s.entries_added - er
    er = estimate_distance(s, g.last_id)
    if er != INVALID_ER:
        return s.entries_added - er
    return None


def _er_reply(er):
    return None if er == INVALID_ER else er


# -- propagation ---------------------------------------------------------------------------------
def _prop_xclaim(c, key, gname, g, ident_arg: bytes, consumer: bytes, dtime: int, dcount: int):
    c.server.propagate(c.db.id, [b"XCLAIM", key, gname, consumer, b"0", ident_arg, b"TIME",
                                 b"%d" % dtime, b"RETRYCOUNT", b"%d" % dcount, b"FORCE",
                                 b"JUSTID", b"LASTID", fmt_id(g.last_id)])


def _prop_setid(c, key, gname, g):
    c.server.propagate(c.db.id, [b"XGROUP", b"SETID", key, gname, fmt_id(g.last_id),
                                 b"ENTRIESREAD", b"%d" % g.entries_read])


def _notify(c, event: str, key) -> None:
    c.server.notify("t", event, key, c.db.id)


def _create_consumer(c, g, name, key, now) -> bool:
    """streamCreateConsumer with SCC_DEFAULT: dirty++ and the event when created."""
    if g.consumer_create(name, now):
        c.server.dirty += 1
        _notify(c, "xgroup-createconsumer", key)
        return True
    return False


def _s(b) -> str:
    """A name in an error text, as C's %s prints it (up to a NUL; bytes kept as they are)."""
    return b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _nogroup(key, gname, suffix=""):
    return ErrorReply("NOGROUP No such key '%s' or consumer group '%s'%s" % (
        _s(key), _s(gname), suffix))


# -- XGROUP --------------------------------------------------------------------------------------
container("xgroup", -2)

_XGROUP_HELP = (
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
)

KEY_REQUIRED = ("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE "
                "you may want to use the MKSTREAM option to create an empty stream "
                "automatically.")


def _xgroup_prologue(c, argv):
    """The common part of xgroupCommand: options, key and group lookups.
    Returns (stream, group, mkstream, entries_read)."""
    opt = argv[1].lower()
    create = opt == b"create"
    setid = opt == b"setid"
    mkstream = False
    er = INVALID_ER
    n = len(argv)
    i = 5
    while i < n:
        a = argv[i].lower()
        if create and a == b"mkstream":
            mkstream = True
            i += 1
        elif (create or setid) and a == b"entriesread" and i + 1 < n:
            er = get_int(argv[i + 1])
            if er < 0 and er != INVALID_ER:
                raise ErrorReply("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise subcommand_syntax_error(argv)
    s = c.db.get_collection(argv[2], "stream")
    g = None
    if not mkstream:
        if s is None:
            raise ErrorReply(KEY_REQUIRED)
        g = s.groups.get(argv[3])
        if g is None and opt in (b"setid", b"createconsumer", b"delconsumer"):
            raise ErrorReply("NOGROUP No such consumer group '%s' for key name '%s'" % (
                _s(argv[3]), _s(argv[2])))
    elif s is not None:
        g = s.groups.get(argv[3])
    return s, g, mkstream, er


@command("xgroup|create", -5, "write denyoom", "stream", keys=(2, 2, 1))
def xgroup_create(c, argv):
    s, g, mkstream, er = _xgroup_prologue(c, argv)
    if len(argv) > 8:
        raise subcommand_syntax_error(argv)
    key = argv[2]
    if argv[4] == b"$":
        ident = s.last_id if s is not None else 0
    else:
        ident = parse_id(argv[4], 0, True)
    if s is None:
        s = c.db.get_collection(key, "stream", create=True)
        c.server.key_modified(c.db, key)
    name = argv[3]
    if name in s.groups:
        raise ErrorReply("BUSYGROUP Consumer Group name already exists")
    s.groups[name] = _new_group(s, ident, er)
    c.server.dirty += 1
    _notify(c, "xgroup-create", key)
    return OK


@command("xgroup|setid", -5, "write", "stream", keys=(2, 2, 1))
def xgroup_setid(c, argv):
    s, g, mkstream, er = _xgroup_prologue(c, argv)
    if len(argv) not in (5, 7):
        raise subcommand_syntax_error(argv)
    if argv[4] == b"$":
        ident = s.last_id
    else:
        ident = parse_id(argv[4], 0)
    g.last_id = ident
    g.entries_read = er
    c.server.dirty += 1
    _notify(c, "xgroup-setid", argv[2])
    return OK


@command("xgroup|destroy", 4, "write", "stream", keys=(2, 2, 1))
def xgroup_destroy(c, argv):
    s, g, mkstream, er = _xgroup_prologue(c, argv)
    if g is None:
        return 0
    del s.groups[argv[3]]
    c.server.dirty += 1
    _notify(c, "xgroup-destroy", argv[2])
    # signalKeyAsReady: blocked XREADGROUP clients get -NOGROUP.
    bl = getattr(c.server, "blocking", None)
    if bl is not None:
        bl.key_modified(c.db.id, argv[2])
    return 1


@command("xgroup|createconsumer", 5, "write denyoom", "stream", keys=(2, 2, 1))
def xgroup_createconsumer(c, argv):
    s, g, mkstream, er = _xgroup_prologue(c, argv)
    return 1 if _create_consumer(c, g, argv[4], argv[2], clock.ms()) else 0


@command("xgroup|delconsumer", 5, "write", "stream", keys=(2, 2, 1))
def xgroup_delconsumer(c, argv):
    s, g, mkstream, er = _xgroup_prologue(c, argv)
    pending = g.consumer_delete(argv[4])
    if pending is None:
        return 0
    c.server.dirty += 1
    _notify(c, "xgroup-delconsumer", argv[2])
    return pending


@command("xgroup|help", 2, "loading stale", "stream")
def xgroup_help(c, argv):
    return help_reply(argv, _XGROUP_HELP)


# -- XREADGROUP ----------------------------------------------------------------------------------
def _parse_ms_timeout(arg) -> int:
    """getTimeoutFromObjectOrReply(UNIT_MILLISECONDS): the absolute deadline, 0 = forever."""
    v = string2ll(arg)
    if v is None:
        raise ErrorReply("ERR timeout is not an integer or out of range")
    if v < 0:
        raise ErrorReply(errors.TIMEOUT_NEGATIVE)
    if v > 0:
        now = clock.ms()
        if v > LLONG_MAX - now:
            raise ErrorReply("ERR timeout is out of range")
        v += now
    return v


def _serve_new(c, s, g, gname, key, consumer, start, count, noack, now):
    """streamReplyWithRange with a group (the ``>`` read)."""
    out = []
    propagate_last = False
    for ident, fv in s.range(start, ID_MAX, count):
        if ident > g.last_id:
            if g.entries_read != INVALID_ER and not _has_tombstones(s, ident):
                g.entries_read += 1
            elif s.entries_added:
                g.entries_read = estimate_distance(s, ident)
            g.last_id = ident
            if noack:
                propagate_last = True
        idb = fmt_id(ident)
        out.append([idb, list(fv)])
        if not noack:
            # A new NACK, or an existing one (XGROUP SETID moved back) reassigned.
            g.pel_put(ident, consumer, now, 1)
            g.consumer_set_times(consumer, active=now)
            _prop_xclaim(c, key, gname, g, idb, consumer, now, 1)
    if propagate_last:
        _prop_setid(c, key, gname, g)
    return out


def _serve_history(s, g, consumer, start, count, now):
    """streamReplyWithRangeFromConsumerPEL."""
    out = []
    for ident, _owner, _t, dcount in g.pel_range(start, None, consumer):
        if count and len(out) >= count:
            break
        e = _entry(s, ident)
        if e is None:
            out.append([fmt_id(ident), NULL_ARRAY])
        else:
            g.pel_put(ident, consumer, now, dcount + 1)
            out.append(e)
    return out


@command("xreadgroup", -7, "write blocking", "stream", getkeys=xread_getkeys)
def xreadgroup(c, argv):
    c.prop_argv = []   # propagated as XCLAIM / XGROUP commands only
    n = len(argv)
    timeout = -1
    count = 0
    streams_arg = 0
    nstreams = 0
    noack = False
    gname = cname = None
    i = 1
    while i < n:
        more = n - i - 1
        o = argv[i].lower()
        if o == b"block" and more:
            if getattr(c, "in_script", False):
                raise ErrorReply("ERR %s command is not allowed with BLOCK option from "
                                 "scripts" % _s(argv[0]))
            i += 1
            timeout = _parse_ms_timeout(argv[i])
        elif o == b"count" and more:
            i += 1
            count = get_int(argv[i])
            if count < 0:
                count = 0
        elif o == b"streams" and more:
            streams_arg = i + 1
            nstreams = n - streams_arg
            if nstreams % 2:
                raise ErrorReply("ERR Unbalanced 'xreadgroup' list of streams: for each "
                                 "stream key an ID or '>' must be specified.")
            nstreams //= 2
            break
        elif o == b"group" and more >= 2:
            gname = argv[i + 1]
            cname = argv[i + 2]
            i += 2
        elif o == b"noack":
            noack = True
        else:
            raise ErrorReply(errors.SYNTAX)
        i += 1
    if streams_arg == 0:
        raise ErrorReply(errors.SYNTAX)
    if gname is None:
        raise ErrorReply("ERR Missing GROUP option for XREADGROUP")
    keys = argv[streams_arg:streams_arg + nstreams]
    ids = []
    groups = []
    for j in range(nstreams):
        key = keys[j]
        s = _lookup(c, key)
        g = s.groups.get(gname) if s is not None else None
        if g is None:
            raise _nogroup(key, gname, " in XREADGROUP with GROUP option")
        groups.append(g)
        a = argv[streams_arg + nstreams + j]
        if a == b"$":
            raise ErrorReply(
                "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read "
                "the history of this consumer by specifying a proper ID, or use the > ID to "
                "get new messages. The $ ID would just return an empty result set.")
        if a == b">":
            ids.append(None)
        else:
            ids.append(parse_id(a, 0, True))
    now = clock.ms()
    served = []
    for j in range(nstreams):
        key = keys[j]
        s = _lookup(c, key)
        if s is None:
            continue
        g = groups[j]
        gt = ids[j]
        sync = history = False
        if gt is not None:
            sync = history = True
        elif len(s):
            if s.last_valid_id() > g.last_id:
                sync = True
                gt = g.last_id
        if g.consumer_get(cname) is None:
            _create_consumer(c, g, cname, key, now)
            if noack:
                c.server.propagate(c.db.id, [b"XGROUP", b"CREATECONSUMER", key, gname, cname])
        g.consumer_set_times(cname, seen=now)
        if sync:
            start = gt + 1 if gt < ID_MAX else 0
            if history:
                entries = _serve_history(s, g, cname, start, count, now)
            else:
                entries = _serve_new(c, s, g, gname, key, cname, start, count, noack, now)
            served.append((key, entries))
            c.server.dirty += 1
    if served:
        if c.resp == 2:
            return [[k, e] for k, e in served]
        if len(served) > 1 and len({k for k, _e in served}) < len(served):
            # the same key twice (history reads): a map with a repeated key, as Redis sends
            out = [b"%%%d\r\n" % len(served)]
            for k, e in served:
                encode3(k, out)
                encode3(e, out)
            return Raw(b"".join(out))
        return {k: e for k, e in served}
    if timeout != -1:
        if deny_blocking(c):
            return NULL_ARRAY
        bl = install(c.server)
        _install_deleted_key_hooks(c.server, bl)
        return bl.block(c, argv, "stream", keys, timeout, unblock_on_nokey=True)
    return NULL_ARRAY


def _install_deleted_key_hooks(srv, bl) -> None:
    """scanDatabaseForDeletedKeys: FLUSHDB/FLUSHALL and SWAPDB wake the XREADGROUP clients
    whose stream is gone (they run again and get -NOGROUP)."""
    if getattr(srv, "_xreadgroup_hooks", False):
        return
    srv._xreadgroup_hooks = True

    def gone(dbids):
        for dbid, key in list(bl.nokey):
            if dbid in dbids and not srv.dbs[dbid].exists(key):
                bl.key_modified(dbid, key)

    srv.flush_hooks.append(lambda dbid: gone(range(len(srv.dbs)) if dbid == -1 else (dbid,)))
    srv.swapdb_hooks.append(lambda a, b: gone((a, b)))


# -- XACK ----------------------------------------------------------------------------------------
@command("xack", -4, "write fast", "stream", keys=(1, 1, 1))
def xack(c, argv):
    s = _lookup(c, argv[1])
    g = s.groups.get(argv[2]) if s is not None else None
    if g is None:
        return 0
    ids = [parse_id(a, 0, True) for a in argv[3:]]
    acked = 0
    for ident in ids:
        if g.pel_delete(ident):
            acked += 1
    c.server.dirty += acked
    return acked


# -- XPENDING ------------------------------------------------------------------------------------
@command("xpending", -3, "readonly", "stream", keys=(1, 1, 1))
def xpending(c, argv):
    n = len(argv)
    justinfo = n == 3
    if n != 3 and (n < 6 or n > 9):
        raise ErrorReply(errors.SYNTAX)
    minidle = 0
    consumer = None
    if n >= 6:
        si = 3
        if argv[3].lower() == b"idle":
            minidle = get_int(argv[4])
            if n < 8:
                raise ErrorReply(errors.SYNTAX)
            si += 2
        count = get_int(argv[si + 2])
        if count < 0:
            count = 0
        start, sx = parse_interval_id(argv[si], 0)
        if sx:
            if start == ID_MAX:
                raise ErrorReply("ERR invalid start ID for the interval")
            start += 1
        end, ex = parse_interval_id(argv[si + 1], U64)
        if ex:
            if end == 0:
                raise ErrorReply("ERR invalid end ID for the interval")
            end -= 1
        if si + 3 < n:
            consumer = argv[si + 3]
    s = _lookup(c, argv[1])
    g = s.groups.get(argv[2]) if s is not None else None
    if g is None:
        raise _nogroup(argv[1], argv[2])
    if justinfo:
        total = g.pel_len()
        if not total:
            return [0, None, None, NULL_ARRAY]
        cons = []
        for name in g.consumer_names():
            pending = g.consumer_get(name)[2]
            if pending:
                cons.append([name, b"%d" % pending])
        return [total, fmt_id(g.pel_first()), fmt_id(g.pel_last()), cons]
    if consumer is not None and g.consumer_get(consumer) is None:
        return []
    now = clock.ms()
    out = []
    if not count:
        return out
    for ident, owner, t, dc in g.pel_range(start, end, consumer):
        if minidle and now - t < minidle:
            continue
        elapsed = now - t
        out.append([fmt_id(ident), owner, elapsed if elapsed > 0 else 0, dc])
        count -= 1
        if not count:
            break
    return out


# -- XCLAIM / XAUTOCLAIM -------------------------------------------------------------------------
@command("xclaim", -6, "write fast", "stream", keys=(1, 1, 1))
def xclaim(c, argv):
    key, gname, cname = argv[1], argv[2], argv[3]
    s = _lookup(c, key)
    g = s.groups.get(gname) if s is not None else None
    if g is None:
        raise _nogroup(key, gname)
    minidle = get_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM")
    if minidle < 0:
        minidle = 0
    n = len(argv)
    ids = []
    j = 5
    while j < n:
        try:
            ids.append(parse_id(argv[j], 0, True))
        except ErrorReply:
            break
        j += 1
    now = clock.ms()
    retrycount = -1
    dtime = -1
    force = justid = False
    last_id = 0
    while j < n:
        more = n - 1 - j
        o = argv[j].lower()
        if o == b"force":
            force = True
        elif o == b"justid":
            justid = True
        elif o == b"idle" and more:
            j += 1
            dtime = now - get_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif o == b"time" and more:
            j += 1
            dtime = get_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif o == b"retrycount" and more:
            j += 1
            retrycount = get_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif o == b"lastid" and more:
            j += 1
            last_id = parse_id(argv[j], 0, True)
        else:
            raise ErrorReply("ERR Unrecognized XCLAIM option '%s'" % _s(argv[j]))
        j += 1
    c.prop_argv = []
    srv = c.server
    prop_last = False
    if last_id > g.last_id:
        g.last_id = last_id
        prop_last = True
    if dtime != -1:
        if dtime < 0 or dtime > now:
            dtime = now
    else:
        dtime = now
    if g.consumer_get(cname) is None:
        _create_consumer(c, g, cname, key, now)
    g.consumer_set_times(cname, seen=now)
    out = []
    for k, ident in enumerate(ids):
        idarg = argv[5 + k]
        nack = g.pel_get(ident)
        fv = s.get(ident)
        if fv is None:
            if nack is not None:
                _prop_xclaim(c, key, gname, g, idarg, nack[0], nack[1], nack[2])
                prop_last = False
                srv.dirty += 1
                g.pel_delete(ident)
            continue
        created = False
        if force and nack is None:
            created = True
            nack = (None, now, 1)
        if nack is None:
            continue
        owner, _t, dc = nack
        if not created and minidle and now - _t < minidle:
            continue
        if retrycount >= 0:
            dc = retrycount
        elif not justid:
            dc += 1
        g.pel_put(ident, cname, dtime, dc)
        out.append(fmt_id(ident) if justid else [fmt_id(ident), list(fv)])
        g.consumer_set_times(cname, active=now)
        _prop_xclaim(c, key, gname, g, idarg, cname, dtime, dc)
        prop_last = False
        srv.dirty += 1
    if prop_last:
        _prop_setid(c, key, gname, g)
        srv.dirty += 1
    return out


@command("xautoclaim", -6, "write fast", "stream", keys=(1, 1, 1))
def xautoclaim(c, argv):
    key, gname, cname = argv[1], argv[2], argv[3]
    minidle = get_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")
    if minidle < 0:
        minidle = 0
    start, sx = parse_interval_id(argv[5], 0)
    if sx:
        if start == ID_MAX:
            raise ErrorReply("ERR invalid start ID for the interval")
        start += 1
    count = 100
    justid = False
    n = len(argv)
    j = 6
    max_count = LLONG_MAX // 16
    while j < n:
        more = n - 1 - j
        o = argv[j].lower()
        if o == b"count" and more:
            v = string2ll(argv[j + 1])
            if v is None or v < 1 or v > max_count:
                raise ErrorReply("ERR COUNT must be > 0")
            count = v
            j += 1
        elif o == b"justid":
            justid = True
        else:
            raise ErrorReply(errors.SYNTAX)
        j += 1
    s = _lookup(c, key)
    g = s.groups.get(gname) if s is not None else None
    if g is None:
        raise _nogroup(key, gname)
    if count * 16 > _ram_bytes():
        # ztrymalloc of count stream IDs fails (Linux refuses more than RAM + swap).
        raise ErrorReply("ERR Insufficient memory, failed allocating transient memory, "
                         "COUNT too high.")
    c.prop_argv = []
    srv = c.server
    now = clock.ms()
    if g.consumer_get(cname) is None:
        _create_consumer(c, g, cname, key, now)
    g.consumer_set_times(cname, seen=now)
    attempts = count * 10
    out = []
    deleted = []
    it = g.pel_range(start, None)
    nxt = None
    for rec in it:
        if not (attempts and count):
            nxt = rec[0]
            break
        attempts -= 1
        ident, owner, t, dc = rec
        idb = fmt_id(ident)
        fv = s.get(ident)
        if fv is None:
            _prop_xclaim(c, key, gname, g, idb, owner, t, dc)
            srv.dirty += 1
            g.pel_delete(ident)
            deleted.append(idb)
            count -= 1
            continue
        if minidle and now - t < minidle:
            continue
        if not justid:
            dc += 1
        g.pel_put(ident, cname, now, dc)
        out.append(idb if justid else [idb, list(fv)])
        count -= 1
        g.consumer_set_times(cname, active=now)
        _prop_xclaim(c, key, gname, g, idb, cname, now, dc)
        srv.dirty += 1
    return [fmt_id(nxt) if nxt is not None else b"0-0", out, deleted]


def _ram_bytes() -> int:
    try:
        import os
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


# -- XINFO ---------------------------------------------------------------------------------------
container("xinfo", -2)

_XINFO_HELP = (
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
)


@command("xinfo|help", 2, "loading stale", "stream")
def xinfo_help(c, argv):
    return help_reply(argv, _XINFO_HELP)


def _xinfo_stream_value(c, key):
    s = _lookup(c, key)
    if s is None:
        raise ErrorReply(errors.NO_SUCH_KEY)
    return s


@command("xinfo|consumers", 4, "readonly", "stream", keys=(2, 2, 1))
def xinfo_consumers(c, argv):
    s = _xinfo_stream_value(c, argv[2])
    g = s.groups.get(argv[3])
    if g is None:
        raise ErrorReply("NOGROUP No such consumer group '%s' for key name '%s'" % (
            _s(argv[3]), _s(argv[2])))
    now = clock.ms()
    out = []
    for name in g.consumer_names():
        seen, active, pending = g.consumer_get(name)
        inactive = now - active if active != -1 else -1
        idle = now - seen
        out.append({b"name": name, b"pending": pending, b"idle": idle if idle > 0 else 0,
                    b"inactive": inactive})
    return out


@command("xinfo|groups", 3, "readonly", "stream", keys=(2, 2, 1))
def xinfo_groups(c, argv):
    s = _xinfo_stream_value(c, argv[2])
    out = []
    for name in sorted(s.groups):
        g = s.groups[name]
        out.append({b"name": name, b"consumers": g.consumer_count(),
                    b"pending": g.pel_len(), b"last-delivered-id": fmt_id(g.last_id),
                    b"entries-read": _er_reply(g.entries_read), b"lag": group_lag(s, g)})
    return out


def _rax_counts(s):
    """(radix-tree-keys, radix-tree-nodes) of the stream's node index."""
    f = getattr(s, "rax_info", None)
    if f is not None:
        return f()
    nk = s.node_count()
    return nk, _rax_nodes(s, nk)


def _rax_nodes(s, nk):
    f = getattr(s, "rax_node_count", None)
    if f is not None:
        return f()
    keys = getattr(s, "keys", None)
    if keys is None:
        return nk
    return rax_node_count([k.to_bytes(16, "big") for k in keys])


def rax_node_count(keys: list) -> int:
    """rax->numnodes of a rax holding ``keys`` (sorted, distinct, 16 bytes each): the root,
    one node per compressed run, one per branch child, one per leaf (a fully compressed
    radix tree, which is what raxInsert and raxRemove leave behind)."""
    if not keys:
        return 1
    total = 0
    stack = [(0, len(keys), 0)]   # (lo, hi, depth): a rax node at that position
    while stack:
        lo, hi, d = stack.pop()
        total += 1
        if d == 16:
            continue
        if hi - lo == 1:
            total += 1   # a compressed run to the leaf
            continue
        a, b = keys[lo], keys[hi - 1]   # sorted: the common prefix of the group
        L = d
        while a[L] == b[L]:
            L += 1
        if L > d:
            total += 1   # compressed node; the branch node at L follows
            d = L
        # branch at d: one child per distinct byte
        i = lo
        while i < hi:
            byte = keys[i][d]
            j = i + 1
            while j < hi and keys[j][d] == byte:
                j += 1
            stack.append((i, j, d + 1))
            i = j
    return total


@command("xinfo|stream", -3, "readonly", "stream", keys=(2, 2, 1))
def xinfo_stream(c, argv):
    s = _xinfo_stream_value(c, argv[2])
    opts = argv[3:]
    full = True
    count = 10
    if not opts:
        full = False
    else:
        if len(opts) not in (1, 3) or opts[0].lower() != b"full":
            raise subcommand_syntax_error(argv)
        if len(opts) == 3:
            if opts[1].lower() != b"count":
                raise subcommand_syntax_error(argv)
            count = get_int(opts[2])
            if count < 0:
                count = 10
    rk, rn = _rax_counts(s)
    r = {b"length": len(s), b"radix-tree-keys": rk, b"radix-tree-nodes": rn,
         b"last-generated-id": fmt_id(s.last_id),
         b"max-deleted-entry-id": fmt_id(s.max_deleted_entry_id),
         b"entries-added": s.entries_added,
         b"recorded-first-entry-id": fmt_id(s.first_id)}
    if not full:
        r[b"groups"] = len(s.groups)
        first = s.range(0, ID_MAX, 1)
        last = s.range(0, ID_MAX, 1, True)
        r[b"first-entry"] = [fmt_id(first[0][0]), list(first[0][1])] if first else None
        r[b"last-entry"] = [fmt_id(last[0][0]), list(last[0][1])] if last else None
        return r
    r[b"entries"] = [[fmt_id(i), list(fv)] for i, fv in s.range(0, ID_MAX, count)]
    groups = []
    for name in sorted(s.groups):
        g = s.groups[name]
        pel = []
        for ident, owner, t, dc in g.pel_range(0, None):
            if count and len(pel) >= count:
                break
            pel.append([fmt_id(ident), owner, t, dc])
        consumers = []
        for cn in g.consumer_names():
            seen, active, pending = g.consumer_get(cn)
            cpel = []
            for ident, owner, t, dc in g.pel_range(0, None, cn):
                if count and len(cpel) >= count:
                    break
                cpel.append([fmt_id(ident), t, dc])
            consumers.append({b"name": cn, b"seen-time": seen, b"active-time": active,
                              b"pel-count": pending, b"pending": cpel})
        groups.append({b"name": name, b"last-delivered-id": fmt_id(g.last_id),
                       b"entries-read": _er_reply(g.entries_read), b"lag": group_lag(s, g),
                       b"pel-count": g.pel_len(), b"pending": pel, b"consumers": consumers})
    r[b"groups"] = groups
    return r
