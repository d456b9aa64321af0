"""FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/KILL/HELP, FCALL and FCALL_RO.

Redis 7.2.4 functions.c. The library registry lives in valkeyd/scripting/functions.py; the
Lua engine (separate Lua state, ``redis.register_function``) in
valkeyd/scripting/function_lua.py. ``functions_of(srv)`` (scripting/functions.py) returns
the server's registry, created on first use.

The write subcommands (LOAD, DELETE, FLUSH, RESTORE) count one change (dirty++) so they are
propagated as themselves to AOF and replicas, as Redis does.
"""
from __future__ import annotations

from .. import glob
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK, SetReply, Simple
from ..scripting.functions import FunctionError, flag_names, functions_of
from .registry import command, container


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _cstr(b: bytes) -> bytes:
    z = b.find(b"\0")
    return b if z < 0 else b[:z]


def _syntax_error(argv):
    raise ErrorReply("ERR unknown subcommand or wrong number of arguments for '%s'. "
                     "Try FUNCTION HELP." % _s(_cstr(argv[1])[:128]))


def _err(e: FunctionError) -> ErrorReply:
    msg = str(e)
    if msg.startswith("-"):
        return ErrorReply(msg[1:])
    return ErrorReply("ERR " + msg)


container("function", -2)


@command("function|load", -3, "noscript write denyoom", "scripting")
def function_load(c, argv):
    replace = False
    i = 2
    n = len(argv)
    while i < n - 1:
        a = argv[i]
        i += 1
        if a.lower() == b"replace":
            replace = True
            continue
        raise ErrorReply("ERR Unknown option given: %s" % _s(_cstr(a)))
    if i >= n:
        raise ErrorReply("ERR Function code is missing")
    srv = c.server
    timeout = 0 if getattr(c, "must_obey", False) else None
    fns = functions_of(srv)
    try:
        if timeout is None:
            name = fns.create(argv[i], replace)
        else:
            name = fns.create(argv[i], replace, timeout_ms=0)
    except FunctionError as e:
        raise _err(e) from None
    srv.dirty += 1
    return name


@command("function|delete", 3, "noscript write", "scripting")
def function_delete(c, argv):
    if not functions_of(c.server).delete(argv[2]):
        raise ErrorReply("ERR Library not found")
    c.server.dirty += 1
    return OK


@command("function|flush", -2, "noscript write", "scripting")
def function_flush(c, argv):
    if len(argv) > 3:
        _syntax_error(argv)
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise ErrorReply("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    functions_of(c.server).flush()
    c.server.dirty += 1
    return OK


def _library_reply(lib, with_code: bool) -> dict:
    fns = []
    for fn in lib.functions.values():
        fns.append({
            "name": fn.name,
            "description": fn.desc,
            "flags": SetReply(Simple(f) for f in flag_names(fn.flags)),
        })
    m = {"library_name": lib.name, "engine": lib.engine.name, "functions": fns}
    if with_code:
        m["library_code"] = lib.code
    return m


@command("function|list", -2, "noscript", "scripting")
def function_list(c, argv):
    with_code = False
    pattern = None
    i = 2
    n = len(argv)
    while i < n:
        a = argv[i]
        la = a.lower()
        if not with_code and la == b"withcode":
            with_code = True
            i += 1
            continue
        if pattern is None and la == b"libraryname":
            if i >= n - 1:
                raise ErrorReply("ERR library name argument was not given")
            pattern = argv[i + 1]
            i += 2
            continue
        raise ErrorReply("ERR Unknown argument %s" % _s(_cstr(a)))
    out = []
    match = glob.compile(bytes(pattern), True) if pattern is not None else None
    for lib in functions_of(c.server).ctx.libraries.values():
        if match is not None and not match(lib.name):
            continue
        out.append(_library_reply(lib, with_code))
    return out


@command("function|dump", 2, "noscript", "scripting")
def function_dump(c, argv):
    return functions_of(c.server).dump(c.server.config.get_bool("rdbcompression"))


@command("function|restore", -3, "noscript write denyoom", "scripting")
def function_restore(c, argv):
    if len(argv) > 4:
        _syntax_error(argv)
    policy = "APPEND"
    if len(argv) == 4:
        p = argv[3].lower()
        if p == b"append":
            policy = "APPEND"
        elif p == b"replace":
            policy = "REPLACE"
        elif p == b"flush":
            policy = "FLUSH"
        else:
            raise ErrorReply("ERR Wrong restore policy given, value should be either FLUSH, "
                             "APPEND or REPLACE.")
    srv = c.server
    try:
        functions_of(srv).restore(argv[2], policy)
    except FunctionError as e:
        raise _err(e) from None
    srv.dirty += 1
    return OK


@command("function|stats", 2, "noscript allow_busy", "scripting")
def function_stats(c, argv):
    srv = c.server
    fns = functions_of(srv)
    run = _running(srv)
    if run is not None and run["eval"]:
        from ..scripting.run import BUSY_EVAL
        raise ErrorReply(BUSY_EVAL)
    running = None
    if run is not None:
        running = {"name": run["name"], "command": list(run["command"]),
                   "duration_ms": run["duration_ms"]}
    engines = {}
    for e in fns.engines.values():
        s = fns.ctx.stats[e.name]
        engines[e.name] = {"libraries_count": s[0], "functions_count": s[1]}
    return {"running_script": running, "engines": engines}


def _running(srv):
    """The running script, as a dict (name, command, duration_ms, eval) or None."""
    from ..scripting import function_lua
    return function_lua.running_script(srv)


@command("function|kill", 2, "noscript allow_busy", "scripting")
def function_kill(c, argv):
    from ..scripting import function_lua
    return function_lua.kill(c, is_eval=False)


_HELP = [Simple(s.encode()) for s in (
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Print this help.",
)]


@command("function|help", 2, "loading stale", "scripting")
def function_help(c, argv):
    return _HELP


# -- FCALL / FCALL_RO -----------------------------------------------------------------------------
def _fcall(c, argv, ro: bool):
    srv = c.server
    if srv.monitors:   # the FCALL line comes before the commands of the function
        srv.feed_monitors(c, argv)
    fns = functions_of(srv)
    fn = fns.ctx.functions.get(argv[1].lower())
    if fn is None:
        raise ErrorReply("ERR Function not found")
    numkeys = string2ll(argv[2])
    if numkeys is None:
        raise ErrorReply("ERR Bad number of keys provided")
    if numkeys > len(argv) - 3:
        raise ErrorReply("ERR Number of keys can't be greater than number of args")
    if numkeys < 0:
        raise ErrorReply("ERR Number of keys can't be negative")
    return fn.lib.engine.call(c, fn, numkeys, argv, ro)


@command("fcall", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale",
         "scripting", keynum=(2, 1, 1))
def fcall(c, argv):
    return _fcall(c, argv, False)


@command("fcall_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly",
         "scripting", keynum=(2, 1, 1))
def fcall_ro(c, argv):
    return _fcall(c, argv, True)
