"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP (config.c)."""
from __future__ import annotations

import time

from .. import errors
from ..config import lookup as lookup_directive
from ..errors import ErrorReply
from ..log import log
from ..resp import OK, Simple
from .registry import all_commands, command, container

container("config", -2)

_HELP = (
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Print this help.",
)
_HELP_REPLY = [Simple(b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")] + [
    Simple(x.encode()) for x in _HELP]


def _dec(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


@command("config|get", -3, "admin noscript loading stale", "")
def config_get(c, argv):
    found = c.server.config.config_get([_dec(a) for a in argv[2:]])
    return {_enc(k): _enc(v) for k, v in found.items()}


def _is_local(c) -> bool:
    """``connIsLocal``: a unix socket or a loopback peer."""
    if c.unix:
        return True
    addr = c.addr
    return addr.startswith("127.") or addr.startswith("[::1]")


@command("config|set", -4, "admin noscript loading stale", "")
def config_set(c, argv):
    if len(argv) & 1:
        raise ErrorReply(errors.SYNTAX)
    srv = c.server
    cfg = srv.config
    opt = cfg.get("enable-protected-configs")
    protected_ok = opt == "yes" or (opt == "local" and _is_local(c))
    pairs = [(_dec(argv[i]), _dec(argv[i + 1])) for i in range(2, len(argv), 2)]
    secret = {i + 1 for i in range(2, len(argv), 2)
              if (d := lookup_directive(_dec(argv[i]))) is not None and d.sensitive}
    if secret:   # requirepass, masterauth ...: never shown in SLOWLOG
        c.redacted = secret
    err = cfg.config_set(pairs, protected_ok, srv.loading)
    if err is not None:
        raise ErrorReply(err)
    return OK


@command("config|resetstat", 2, "admin noscript loading stale", "")
def config_resetstat(c, argv):
    srv = c.server
    st = srv.stats
    st.reset()
    # Per-connection counters keep running (CLIENT LIST shows them): offset the bases so the
    # server-wide totals restart from zero.
    clients = list(srv.clients.values())
    st.total_commands_processed_base = -sum(x.cmds for x in clients)
    st.net_input_bytes_base = -sum(x.net_in for x in clients)
    st.net_output_bytes_base = -sum(x.net_out for x in clients)
    st.last_sample = (time.monotonic(), 0, 0, 0)
    for cmd in all_commands():
        cmd.reset_stats()
    for hook in getattr(srv, "resetstat_hooks", ()):
        hook()
    return OK


@command("config|rewrite", 2, "admin noscript loading stale", "")
def config_rewrite(c, argv):
    cfg = c.server.config
    if cfg.config_file is None:
        raise ErrorReply("ERR The server is running without a config file")
    try:
        cfg.rewrite(cfg.config_file)
    except OSError as e:
        reason = e.strerror or str(e)
        log.warning(f"CONFIG REWRITE failed: {reason}")
        raise ErrorReply(f"ERR Rewriting config file: {reason}") from None
    log.notice("CONFIG REWRITE executed with success.")
    return OK


@command("config|help", 2, "loading stale", "")
def config_help(c, argv):
    return _HELP_REPLY
