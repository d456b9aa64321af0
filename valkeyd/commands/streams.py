"""Stream commands (Redis 7.2.4 ``t_stream.c``): XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID
XREAD.

The value is :class:`engines.base.StreamValue` (memory engine: :mod:`engines.mem_stream`);
stream IDs are ints ``ms << 64 | seq``. The helpers here (:func:`parse_id`,
:func:`id_bytes`, :func:`entries_reply`, :func:`streams_reply`, :func:`xread_getkeys`) are
shared with the consumer-group commands.

Keyspace events (class "t"): xadd (then xtrim when XADD's trimming removed entries), xdel,
xtrim, xsetid. Blocked XREAD readers are woken by XADD only (signalKeyAsReady), never by
XDEL/XTRIM: those writes go through :func:`valkeyd.blocking.changed_no_signal`. XSETID
only counts the write and fires its event (Redis 7.2.4 does not call signalModifiedKey
there, so WATCH is not touched either).
Propagation: XADD with ``*`` or ``<ms>-*`` is propagated with the generated ID; a ``~`` trim
(XADD or XTRIM) is propagated as ``=`` with the resulting length (MAXLEN) or the first
remaining ID (MINID), as Redis's streamRewriteApproxSpecifier / streamRewriteTrimArgument.
"""
from __future__ import annotations

from engines.base import clock

from .. import errors
from ..blocking import changed_no_signal, deny_blocking, install
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import NULL_ARRAY, OK, Raw, encode3
from .registry import command
from .util import count_lookup

U64 = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
LLONG_MAX = (1 << 63) - 1
STREAM_LISTPACK_MAX_SIZE = 1 << 30
_STREAM = "stream"

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
_INVALID_ID = ErrorReply(INVALID_ID)
_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)


# -- IDs -----------------------------------------------------------------------------------------
_CSPACE = b" \t\n\v\f\r"


def _u64(b):
    """string2ull: string2ll (a negative value is refused), else strtoull (leading spaces,
    a sign, leading zeros; a minus wraps around); None when invalid."""
    if not b:
        return None
    v = string2ll(b)
    if v is not None:
        return v if v >= 0 else None
    t = b.lstrip(_CSPACE)
    neg = False
    if t[:1] in (b"+", b"-"):
        neg = t[:1] == b"-"
        t = t[1:]
    if not t or not t.isdigit():
        return None
    v = int(t)
    if v > U64:
        return None
    return (-v) & U64 if neg else v


def parse_id(arg, missing_seq: int = 0, strict: bool = False, star: bool = False):
    """streamGenericParseIDOrReply: ``-``, ``+``, ``<ms>``, ``<ms>-<seq>`` (and with ``star``,
    ``<ms>-*``). Returns the ID int, or with ``star`` a pair (id, seq_given). Raises the
    invalid-ID error. ``strict`` refuses ``-`` and ``+``."""
    if len(arg) > 127:
        raise _INVALID_ID
    if 0 in arg:   # C string semantics: the buffer ends at the first NUL
        arg = arg[:arg.index(0)]
    if arg == b"-" or arg == b"+":
        if strict:
            raise _INVALID_ID
        v = 0 if arg == b"-" else MAX_ID
        return (v, True) if star else v
    dash = arg.find(b"-")
    seq_given = True
    if dash >= 0:
        ms = _u64(arg[:dash])
        if ms is None:
            raise _INVALID_ID
        rest = arg[dash + 1:]
        if star and rest == b"*":
            seq = 0
            seq_given = False
        else:
            seq = _u64(rest)
            if seq is None:
                raise _INVALID_ID
    else:
        ms = _u64(arg)
        if ms is None:
            raise _INVALID_ID
        seq = missing_seq
    v = ms << 64 | seq
    return (v, seq_given) if star else v


def id_bytes(ident: int) -> bytes:
    return b"%d-%d" % (ident >> 64, ident & U64)


def entries_reply(entries) -> list:
    """[[id, [field, value, ...]], ...] (the same in RESP2 and RESP3)."""
    return [[b"%d-%d" % (i >> 64, i & U64), fv] for i, fv in entries]


def streams_reply(c, pairs):
    """XREAD/XREADGROUP's reply for [(key, entries_reply), ...]: an array of [key, entries]
    in RESP2, a map in RESP3 (a key named twice appears twice, as in Redis)."""
    if c.resp == 2:
        return [[k, v] for k, v in pairs]
    out = [b"%%%d\r\n" % len(pairs)]
    for k, v in pairs:
        encode3(k, out)
        encode3(v, out)
    return Raw(b"".join(out))


def xread_getkeys(argv):
    """xreadGetKeys (XREAD and XREADGROUP): the first half of what follows STREAMS, found by
    skipping the options' values (STREAMS may also be a group or key name)."""
    n = len(argv)
    pos = -1
    i = 1
    while i < n:
        a = argv[i].lower()
        if a == b"block" or a == b"count":
            i += 1
        elif a == b"group":
            i += 2
        elif a == b"streams":
            pos = i
            break
        elif a != b"noack":
            break
        i += 1
    nk = n - pos - 1
    if pos == -1 or nk == 0 or nk % 2:
        return []
    return list(range(pos + 1, pos + 1 + nk // 2))


def incr_id(ident: int):
    """streamIncrID; None past the last possible ID."""
    return None if ident == MAX_ID else ident + 1


def decr_id(ident: int):
    return None if ident == 0 else ident - 1


# -- trim arguments --------------------------------------------------------------------------------
class TrimArgs:
    __slots__ = ("maxlen", "minid", "approx", "limit", "strategy", "arg_idx", "nomkstream",
                 "id", "id_given", "seq_given", "idpos")

    def __init__(self):
        self.maxlen = -1
        self.minid = -1
        self.approx = False
        self.limit = 0
        self.strategy = None      # None, "maxlen", "minid"
        self.arg_idx = 0
        self.nomkstream = False
        self.id = 0
        self.id_given = False
        self.seq_given = True
        self.idpos = 0


def _parse_add_trim(c, argv, xadd: bool) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply."""
    a = TrimArgs()
    n = len(argv)
    i = 2
    limit_given = False
    while i < n:
        more = n - 1 - i
        opt = argv[i]
        lo = opt.lower()
        if xadd and opt == b"*":
            break
        if lo == b"maxlen" and more:
            if a.strategy is not None:
                raise ErrorReply("ERR syntax error, MAXLEN and MINID options at the same time "
                                 "are not compatible")
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            v = string2ll(argv[i + 1])
            if v is None:
                raise _NOT_INTEGER
            if v < 0:
                raise ErrorReply("ERR The MAXLEN argument must be >= 0.")
            a.maxlen = v
            i += 1
            a.strategy = "maxlen"
            a.arg_idx = i
        elif lo == b"minid" and more:
            if a.strategy is not None:
                raise ErrorReply("ERR syntax error, MAXLEN and MINID options at the same time "
                                 "are not compatible")
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            a.minid = parse_id(argv[i + 1], 0, True)
            i += 1
            a.strategy = "minid"
            a.arg_idx = i
        elif lo == b"limit" and more:
            v = string2ll(argv[i + 1])
            if v is None:
                raise _NOT_INTEGER
            if v < 0:
                raise ErrorReply("ERR The LIMIT argument must be >= 0.")
            a.limit = v
            limit_given = True
            i += 1
        elif xadd and lo == b"nomkstream":
            a.nomkstream = True
        elif xadd:
            a.id, a.seq_given = parse_id(opt, 0, True, True)
            a.id_given = True
            break
        else:
            raise _SYNTAX
        i += 1
    a.idpos = i
    if a.limit and a.strategy is None:
        raise ErrorReply("ERR syntax error, LIMIT cannot be used without specifying a trimming "
                         "strategy")
    if not xadd and a.strategy is None:
        raise ErrorReply("ERR syntax error, XTRIM must be called with a trimming strategy")
    if getattr(c, "must_obey", False):   # from the primary or the AOF: no work limit
        a.limit = 0
    elif limit_given:
        if not a.approx:
            raise ErrorReply("ERR syntax error, LIMIT cannot be used without the special ~ "
                             "option")
    elif a.approx:
        from engines.limits import limits
        lim = 100 * limits.stream_node_max_entries
        if lim <= 0:
            lim = 10000
        if lim > 1000000:
            lim = 1000000
        a.limit = lim
    else:
        a.limit = 0
    return a


def _trim(s, a: TrimArgs) -> int:
    if a.strategy == "maxlen":
        return s.trim(maxlen=a.maxlen, approx=a.approx, limit=a.limit)
    return s.trim(minid=a.minid, approx=a.approx, limit=a.limit)


def _rewrite_trim(c, argv, s, a: TrimArgs) -> list:
    """The propagated argv of an approximate trim: ``=`` and the resulting length, or the
    first stored ID, deleted or not (streamGetEdgeID without skipping tombstones; the
    maximal ID when no entry is stored)."""
    pa = list(c.prop_argv or argv)
    pa[a.arg_idx - 1] = b"="
    if a.strategy == "maxlen":
        pa[a.arg_idx] = b"%d" % len(s)
    else:
        pa[a.arg_idx] = id_bytes(s.edge_id(True, False))
    return pa


# -- XADD ----------------------------------------------------------------------------------------
@command("xadd", -5, "write denyoom fast", "stream", keys=(1, 1, 1))
def xadd(c, argv):
    a = _parse_add_trim(c, argv, True)
    idpos = a.idpos
    fpos = idpos + 1
    nf = len(argv) - fpos
    if nf < 2 or nf % 2:
        raise ErrorReply(errors.WRONG_ARITY % "xadd")
    if a.id_given and a.seq_given and a.id == 0:
        raise ErrorReply("ERR The ID specified in XADD must be greater than 0-0")
    key = argv[1]
    db = c.db
    s = db.get_collection(key, _STREAM)
    if s is None:
        if a.nomkstream:
            return None
        created = True
    else:
        created = False
        if s.last_id == MAX_ID:
            raise ErrorReply("ERR The stream has exhausted the last possible ID, unable to "
                             "add more items")
    last = s.last_id if s is not None else 0
    # streamAppendItem: the new ID
    if a.id_given:
        if a.seq_given:
            ident = a.id
        else:
            ms = a.id >> 64
            if ms == last >> 64:
                if last & U64 == U64:
                    ident = None
                else:
                    ident = last + 1
            else:
                ident = a.id
    else:
        now = clock.ms()
        if now > last >> 64:
            ident = now << 64
        else:
            ident = last + 1 if last != MAX_ID else 0
    fv = argv[fpos:]
    if ident is None or ident <= last:   # never for a new stream (its last ID is 0-0)
        raise ErrorReply("ERR The ID specified in XADD is equal or smaller than the target "
                         "stream top item")
    tot = 0
    for x in fv:
        tot += len(x)
    if tot > STREAM_LISTPACK_MAX_SIZE:
        raise ErrorReply("ERR Elements are too large to be stored")
    if created:
        s = db.get_collection(key, _STREAM, create=True)
    s.append(ident, fv)
    srv = c.server
    srv.changed(c, key, "t", "xadd", 1)
    reply = b"%d-%d" % (ident >> 64, ident & U64)
    if a.strategy is not None:
        if _trim(s, a):
            srv.notify("t", "xtrim", key, db.id)
        if a.approx:
            c.prop_argv = _rewrite_trim(c, argv, s, a)
    if not a.id_given or not a.seq_given:
        pa = c.prop_argv if c.prop_argv is not None else list(argv)
        pa[idpos] = reply
        c.prop_argv = pa
    return reply


# -- XRANGE / XREVRANGE / XLEN --------------------------------------------------------------------
def _interval(arg, missing_seq: int):
    """streamParseIntervalIDOrReply: (id, exclusive)."""
    if len(arg) > 1 and arg[0] == 40:   # '('
        return parse_id(arg[1:], missing_seq, True), True
    return parse_id(arg, missing_seq), False


def _xrange(c, argv, rev: bool):
    sarg, earg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start, ex = _interval(sarg, 0)
    if ex:
        start = incr_id(start)
        if start is None:
            raise ErrorReply("ERR invalid start ID for the interval")
    end, ex = _interval(earg, U64)
    if ex:
        end = decr_id(end)
        if end is None:
            raise ErrorReply("ERR invalid end ID for the interval")
    count = -1
    n = len(argv)
    j = 4
    while j < n:
        if argv[j].lower() == b"count" and n - j - 1 >= 1:
            v = string2ll(argv[j + 1])
            if v is None:
                raise _NOT_INTEGER
            count = v if v > 0 else 0
            j += 2
        else:
            raise _SYNTAX
    s = c.db.get_collection(argv[1], _STREAM)
    count_lookup(c, s is not None, argv[1])
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return entries_reply(s.range(start, end, 0 if count < 0 else count, rev))


@command("xrange", -4, "readonly", "stream", keys=(1, 1, 1))
def xrange(c, argv):
    return _xrange(c, argv, False)


@command("xrevrange", -4, "readonly", "stream", keys=(1, 1, 1))
def xrevrange(c, argv):
    return _xrange(c, argv, True)


@command("xlen", 2, "readonly fast", "stream", keys=(1, 1, 1))
def xlen(c, argv):
    s = c.db.get_collection(argv[1], _STREAM)
    count_lookup(c, s is not None, argv[1])
    return 0 if s is None else len(s)


# -- XDEL / XTRIM / XSETID ----------------------------------------------------------------------
@command("xdel", -3, "write fast", "stream", keys=(1, 1, 1))
def xdel(c, argv):
    key = argv[1]
    s = c.db.get_collection(key, _STREAM)
    if s is None:
        return 0
    ids = [parse_id(x, 0, True) for x in argv[2:]]
    deleted = 0
    for i in ids:
        if s.delete(i):
            deleted += 1
    if deleted:
        changed_no_signal(c, key, "t", "xdel", deleted)
    return deleted


@command("xtrim", -4, "write", "stream", keys=(1, 1, 1))
def xtrim(c, argv):
    a = _parse_add_trim(c, argv, False)
    key = argv[1]
    s = c.db.get_collection(key, _STREAM)
    if s is None:
        return 0
    deleted = _trim(s, a)
    if deleted:
        if a.approx:
            c.prop_argv = _rewrite_trim(c, argv, s, a)
        changed_no_signal(c, key, "t", "xtrim", deleted)
    return deleted


@command("xsetid", -3, "write denyoom fast", "stream", keys=(1, 1, 1))
def xsetid(c, argv):
    ident = parse_id(argv[2], 0, True)
    entries_added = -1
    max_xdel = 0
    n = len(argv)
    i = 3
    while i < n:
        more = n - 1 - i
        opt = argv[i].lower()
        if opt == b"entriesadded" and more:
            v = string2ll(argv[i + 1])
            if v is None:
                raise _NOT_INTEGER
            if v < 0:
                raise ErrorReply("ERR entries_added must be positive")
            entries_added = v
            i += 2
        elif opt == b"maxdeletedid" and more:
            max_xdel = parse_id(argv[i + 1], 0, True)
            if ident < max_xdel:
                raise ErrorReply("ERR The ID specified in XSETID is smaller than the provided "
                                 "max_deleted_entry_id")
            i += 2
        else:
            raise _SYNTAX
    key = argv[1]
    s = c.db.get_collection(key, _STREAM)
    if s is None:
        raise ErrorReply(errors.NO_SUCH_KEY)
    if ident < s.max_deleted_entry_id:
        raise ErrorReply("ERR The ID specified in XSETID is smaller than current "
                         "max_deleted_entry_id")
    if len(s):
        if ident < s.last_valid_id():
            raise ErrorReply("ERR The ID specified in XSETID is smaller than the target stream "
                             "top item")
        if entries_added != -1 and len(s) > entries_added:
            raise ErrorReply("ERR The entries_added specified in XSETID is smaller than the "
                             "target stream length")
    s.last_id = ident
    if entries_added != -1:
        s.entries_added = entries_added
    if max_xdel:
        s.max_deleted_entry_id = max_xdel
    # Redis 7.2.4's xsetidCommand counts the write and fires the event but does not call
    # signalModifiedKey: WATCH is not invalidated and blocked readers are not signalled.
    srv = c.server
    srv.dirty += 1
    srv.notify("t", "xsetid", key, c.db.id)
    return OK


# -- XREAD ----------------------------------------------------------------------------------------
XREAD_UNBALANCED = ("ERR Unbalanced '%s' list of streams: for each stream key an ID or '%s' "
                    "must be specified.")


@command("xread", -4, "readonly blocking", "stream", getkeys=xread_getkeys)
def xread(c, argv):
    timeout = -1
    count = 0
    streams_arg = 0
    n = len(argv)
    i = 1
    while i < n:
        more = n - i - 1
        o = argv[i].lower()
        if o == b"block" and more:
            if getattr(c, "in_script", False):
                raise ErrorReply("ERR %s command is not allowed with BLOCK option from scripts"
                                 % argv[0].decode("utf-8", "replace"))
            i += 1
            t = string2ll(argv[i])
            if t is None:
                raise ErrorReply("ERR timeout is not an integer or out of range")
            if t < 0:
                raise ErrorReply("ERR timeout is negative")
            if t > 0:
                now = clock.ms()
                if t > LLONG_MAX - now:
                    raise ErrorReply("ERR timeout is out of range")
                t += now
            timeout = t
        elif o == b"count" and more:
            i += 1
            v = string2ll(argv[i])
            if v is None:
                raise _NOT_INTEGER
            count = v if v > 0 else 0
        elif o == b"streams" and more:
            streams_arg = i + 1
            if (n - streams_arg) % 2:
                raise ErrorReply(XREAD_UNBALANCED % ("xread", "$"))
            break
        elif o == b"group" and more >= 2:
            raise ErrorReply("ERR The GROUP option is only supported by XREADGROUP. You called "
                             "XREAD instead.")
        elif o == b"noack":
            raise ErrorReply("ERR The NOACK option is only supported by XREADGROUP. You "
                             "called XREAD instead.")
        else:
            raise _SYNTAX
        i += 1
    if streams_arg == 0:
        raise _SYNTAX
    nstreams = (n - streams_arg) // 2
    keys = argv[streams_arg:streams_arg + nstreams]
    db = c.db
    ids = []
    st = c.server.stats
    for k in range(nstreams):
        key = keys[k]
        try:
            s = db.get_collection(key, _STREAM)
        except ErrorReply:
            st.keyspace_hits += 1
            raise
        count_lookup(c, s is not None, key)
        arg = argv[streams_arg + nstreams + k]
        if arg == b"$":
            ids.append(s.last_id if s is not None else 0)
        elif arg == b">":
            raise ErrorReply("ERR The > ID can be specified only when calling XREADGROUP "
                             "using the GROUP <group> <consumer> option.")
        else:
            ids.append(parse_id(arg, 0, True))
    pairs = []
    for k in range(nstreams):
        key = keys[k]
        s = db.get_collection(key, _STREAM)
        count_lookup(c, s is not None, key)
        if s is None or not len(s):
            continue
        gt = ids[k]
        if s.last_valid_id() > gt:
            start = gt + 1   # gt < the last valid ID, so no overflow
            pairs.append((key, entries_reply(s.range(start, MAX_ID, count))))
    if pairs:
        return streams_reply(c, pairs)
    if timeout != -1:
        if deny_blocking(c):
            return NULL_ARRAY
        base = streams_arg + nstreams
        for k in range(nstreams):
            if argv[base + k] == b"$":
                argv[base + k] = id_bytes(ids[k])
        return install(c.server).block(c, argv, _STREAM, keys, timeout)
    return NULL_ARRAY
