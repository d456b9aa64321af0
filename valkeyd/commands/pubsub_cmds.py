"""Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.

The state and delivery live in :mod:`valkeyd.pubsub`. A (un)subscribe command answers with
one confirmation per argument (``[kind, name, count]``: an array in RESP2, a ``>`` push in
RESP3). They form the command's reply (a :class:`~valkeyd.resp.Raw` value, so inside EXEC
they sit where Redis puts them); with CLIENT REPLY OFF/SKIP they are still sent, as Redis
sends pushes regardless of the reply mode. The count is channels + patterns for the classic
commands and shard channels for the sharded ones. With no argument, an unsubscribe from
nothing still confirms once, with a null name.
"""
from __future__ import annotations

from ..errors import ErrorReply
from ..glob import compile as _glob_compile
from ..resp import Raw, Simple
from .registry import command, container

_EMPTY = Raw(b"")


def _confirm(c, kind: bytes, name, count: int) -> bytes:
    head = b">3\r\n" if c.resp == 3 else b"*3\r\n"
    if name is None:
        nb = b"_\r\n" if c.resp == 3 else b"$-1\r\n"
    else:
        nb = b"$%d\r\n%b\r\n" % (len(name), name)
    return b"%b$%d\r\n%b\r\n%b:%d\r\n" % (head, len(kind), kind, nb, count)


def _reply(c, parts: list):
    data = b"".join(parts)
    if c.reply_mode:   # pushes ignore CLIENT REPLY OFF/SKIP
        c.out.append(data)
        return _EMPTY
    return Raw(data)


def _count(c) -> int:
    return len(c.channels or ()) + len(c.patterns or ())


def _shard_count(c) -> int:
    return len(c.shard_channels or ())


def _deny(c, name: str, multi_ok: bool = True) -> None:
    if getattr(c, "deny_blocking", False) and not (multi_ok and getattr(c, "in_exec", False)):
        raise ErrorReply(f"ERR {name} isn't allowed for a DENY BLOCKING client")


@command("subscribe", -2, "pubsub noscript loading stale sentinel", "")
def subscribe(c, argv):
    _deny(c, "SUBSCRIBE")
    ps = c.server.pubsub
    parts = []
    for ch in argv[1:]:
        ps.subscribe(c, ch)
        parts.append(_confirm(c, b"subscribe", ch, _count(c)))
    return _reply(c, parts)


@command("psubscribe", -2, "pubsub noscript loading stale sentinel", "")
def psubscribe(c, argv):
    _deny(c, "PSUBSCRIBE")
    ps = c.server.pubsub
    parts = []
    for pat in argv[1:]:
        ps.psubscribe(c, pat)
        parts.append(_confirm(c, b"psubscribe", pat, _count(c)))
    return _reply(c, parts)


@command("ssubscribe", -2, "pubsub noscript loading stale", "", keys=(1, -1, 1))
def ssubscribe(c, argv):
    _deny(c, "SSUBSCRIBE", multi_ok=False)
    ps = c.server.pubsub
    parts = []
    for ch in argv[1:]:
        ps.ssubscribe(c, ch)
        parts.append(_confirm(c, b"ssubscribe", ch, _shard_count(c)))
    return _reply(c, parts)


def _unsub(c, argv, kind: bytes, attr: str, remove, count):
    parts = []
    names = argv[1:] if len(argv) > 1 else list(getattr(c, attr) or ())
    for name in names:
        remove(c, name)
        parts.append(_confirm(c, kind, name, count(c)))
    if not parts:   # nothing to unsubscribe from: still one confirmation
        parts.append(_confirm(c, kind, None, count(c)))
    return _reply(c, parts)


@command("unsubscribe", -1, "pubsub noscript loading stale sentinel", "")
def unsubscribe(c, argv):
    return _unsub(c, argv, b"unsubscribe", "channels", c.server.pubsub.unsubscribe, _count)


@command("punsubscribe", -1, "pubsub noscript loading stale sentinel", "")
def punsubscribe(c, argv):
    return _unsub(c, argv, b"punsubscribe", "patterns", c.server.pubsub.punsubscribe, _count)


@command("sunsubscribe", -1, "pubsub noscript loading stale", "", keys=(1, -1, 1))
def sunsubscribe(c, argv):
    return _unsub(c, argv, b"sunsubscribe", "shard_channels", c.server.pubsub.sunsubscribe,
                  _shard_count)


def _force_propagate(c, argv) -> None:
    """forceCommandPropagation(c, PROPAGATE_REPL): PUBLISH goes to the replicas (and, in
    this server, through the same propagation stream as writes)."""
    srv = c.server
    srv.propagate(c.db.id, argv)


@command("publish", 3, "pubsub loading stale fast may_replicate sentinel", "")
def publish(c, argv):
    n = c.server.pubsub.publish(argv[1], argv[2])
    _force_propagate(c, argv)
    return n


@command("spublish", 3, "pubsub loading stale fast may_replicate", "", keys=(1, 1, 1))
def spublish(c, argv):
    n = c.server.pubsub.spublish(argv[1], argv[2])
    _force_propagate(c, argv)
    return n


# -- PUBSUB ---------------------------------------------------------------------------------------
container("pubsub")

_HELP = [Simple(s.encode()) for s in (
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Print this help.",
)]


@command("pubsub|help", 2, "loading stale", "")
def pubsub_help(c, argv):
    return _HELP


def _syntax(c, argv):
    raise ErrorReply("ERR unknown subcommand or wrong number of arguments for '%s'. Try "
                     "PUBSUB HELP." % argv[1].decode("utf-8", "replace"))


def _channel_list(table: dict, argv):
    if len(argv) == 2:
        return list(table)
    m = _glob_compile(argv[2])
    return [ch for ch in table if m(ch)]


@command("pubsub|channels", -2, "pubsub loading stale", "")
def pubsub_channels(c, argv):
    if len(argv) > 3:
        _syntax(c, argv)
    return _channel_list(c.server.pubsub.channels, argv)


@command("pubsub|shardchannels", -2, "pubsub loading stale", "")
def pubsub_shardchannels(c, argv):
    if len(argv) > 3:
        _syntax(c, argv)
    return _channel_list(c.server.pubsub.shard_channels, argv)


def _numsub(table: dict, argv):
    out = []
    for ch in argv[2:]:
        subs = table.get(ch)
        out.append(ch)
        out.append(len(subs) if subs else 0)
    return out


@command("pubsub|numsub", -2, "pubsub loading stale", "")
def pubsub_numsub(c, argv):
    return _numsub(c.server.pubsub.channels, argv)


@command("pubsub|shardnumsub", -2, "pubsub loading stale", "")
def pubsub_shardnumsub(c, argv):
    return _numsub(c.server.pubsub.shard_channels, argv)


@command("pubsub|numpat", 2, "pubsub loading stale", "")
def pubsub_numpat(c, argv):
    return len(c.server.pubsub.patterns)
