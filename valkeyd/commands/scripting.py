"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (eval.c), on :mod:`valkeyd.scripting`."""
from __future__ import annotations

from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK
from ..scripting.eval import eval_scripts
from ..scripting.run import kill_script, prepare, run_script
from .registry import command, container
from .server import help_reply

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
NUMKEYS_NEGATIVE = "ERR Number of keys can't be negative"
NOT_INTEGER = "ERR value is not an integer or out of range"


def _eval(c, argv, evalsha: bool, ro: bool):
    srv = c.server
    if srv.monitors:   # the EVAL line comes before the commands of the script
        srv.feed_monitors(c, argv)
    if evalsha and len(argv[1]) != 40:
        return ErrorReply(NOSCRIPT)
    numkeys = string2ll(argv[2])
    if numkeys is None:
        return ErrorReply(NOT_INTEGER)
    if numkeys > len(argv) - 3:
        return ErrorReply(NUMKEYS_TOO_MANY)
    if numkeys < 0:
        return ErrorReply(NUMKEYS_NEGATIVE)
    es = eval_scripts(srv)
    if evalsha:
        s = es.get(argv[1])
        if s is None:
            return ErrorReply(NOSCRIPT)
    else:
        s = es.create(argv[1])
    name = s.sha.decode()
    engine = es.engine
    ctx = prepare(c, engine, name, s.flags, ro, True, argv)
    if type(ctx) is ErrorReply:
        return ctx
    f = s.fn
    run = engine.run_eval
    cr = c.resp
    sha = s.sha
    return run_script(c, ctx, lambda: run(f, cr, sha, numkeys, *argv[3:]))


@command("eval", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", "scripting",
         keynum=(2, 1, 1))
def eval_(c, argv):
    return _eval(c, argv, False, False)


@command("evalsha", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale",
         "scripting", keynum=(2, 1, 1))
def evalsha(c, argv):
    return _eval(c, argv, True, False)


@command("eval_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", "scripting",
         keynum=(2, 1, 1))
def eval_ro(c, argv):
    return _eval(c, argv, False, True)


@command("evalsha_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", "scripting",
         keynum=(2, 1, 1))
def evalsha_ro(c, argv):
    return _eval(c, argv, True, True)


container("script", -2)

_HELP = (
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
)


@command("script|help", 2, "loading stale", "scripting")
def script_help(c, argv):
    return help_reply(argv, _HELP)


@command("script|flush", -2, "noscript", "scripting")
def script_flush(c, argv):
    if len(argv) == 3 and argv[2].lower() in (b"sync", b"async"):
        pass
    elif len(argv) != 2:
        return ErrorReply("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    eval_scripts(c.server).flush()
    return OK


@command("script|exists", -3, "noscript", "scripting")
def script_exists(c, argv):
    es = eval_scripts(c.server)
    return [1 if es.get(sha) is not None else 0 for sha in argv[2:]]


@command("script|load", 3, "noscript stale", "scripting")
def script_load(c, argv):
    return eval_scripts(c.server).create(argv[2]).sha


@command("script|kill", 2, "noscript allow_busy", "scripting")
def script_kill(c, argv):
    return kill_script(c, True)


@command("script|debug", 3, "noscript", "scripting")
def script_debug(c, argv):
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        return ErrorReply("ERR The Lua debugger (SCRIPT DEBUG YES/SYNC) is not supported")
    return ErrorReply("ERR Use SCRIPT DEBUG YES/SYNC/NO")

