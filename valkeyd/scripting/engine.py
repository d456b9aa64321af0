"""A sandboxed Lua 5.1 state (lupa) with Redis's ``redis`` API: :class:`LuaEngine`.

One engine is one Lua state. EVAL scripts share one engine (``server.lua_eval``, made by
:func:`valkeyd.scripting.eval.eval_engine`); FUNCTION libraries use another one
(``LuaEngine(server, eval_api=False)``), as Redis does.

The Lua side lives in ``sandbox.lua`` (chunk name ``=valkeyd``): the ``redis`` table, Redis's
``math.random``, the ``pcall`` that unwraps error tables, the error handler that adds the
user's ``source:line``, the Lua -> RESP reply encoder, and the sandbox:

* only Redis 7.2's allowed globals exist (base library minus ``print``/``dofile``/``loadfile``,
  ``string``, ``table``, ``math``, ``coroutine``, ``cjson``/``struct``/``cmsgpack``/``bit`` when
  ``valkeyd/scripting/libs.py`` provides them, ``redis``); no ``os``, ``io``, ``package``,
  ``debug``;
* Redis locks the globals and every table reachable from them with a patched Lua
  (``lua_enablereadonlytable``). Stock Lua has no such flag, so each such table is replaced by
  an empty *proxy* whose metatable reads from the real table and refuses writes with
  ``Attempt to modify a readonly table``; the global table itself is the proxy of a hidden
  table, whose own metatable raises ``Script attempted to access nonexistent global
  variable``. The builtins that bypass metatables (``rawset``, ``rawget``, ``next``, ``pairs``,
  ``ipairs``, ``setmetatable``, ``getmetatable``, ``unpack``, ``table.*``) are wrapped to see
  through proxies and refuse writes. Python objects are never reachable from scripts (they
  sit in upvalues of the chunk, and the debug library is removed) and lupa's attribute
  access to them is refused.

Commands run by ``redis.call`` go through :mod:`valkeyd.scripting.run` (the run context,
the checks of ``scriptCall``, the script client and ``Client.call``); this module converts
their Python reply values into Lua values exactly as Redis converts RESP into Lua
(``redisProtocolToLuaType``) for the script client's protocol (``redis.setresp``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os

import lupa.lua51 as _lua51

from ..errors import ErrorReply
from ..resp import (NULL_ARRAY, Push, Raw, SetReply, Simple, Verbatim, format_double,
                    fpconv_dtoa)

REDIS_VERSION = "7.2.4"
REDIS_VERSION_NUM = 0x070204

# Redis 7.2's globals allow lists (script_lua.c), plus what the Redis API adds.
ALLOWED_GLOBALS = (
    "string cjson bit cmsgpack math table struct "
    "redis __redis__err__handler "
    "xpcall tostring getfenv setmetatable next assert tonumber rawequal collectgarbage "
    "getmetatable rawset pcall coroutine type _G select unpack gcinfo pairs rawget loadstring "
    "ipairs _VERSION setfenv load error newproxy"
)

_SANDBOX = os.path.join(os.path.dirname(__file__), "sandbox.lua")


def _deny_attr(obj, name, setting):
    raise AttributeError("access to Python attributes is not allowed")


# -- Redis's lrand48 (rand.c), process-wide as in Redis -----------------------------------------
_rand_state = [0x1234ABCD330E]
_M48 = (1 << 48) - 1


def lrand48() -> int:
    x = (0x5DEECE66D * _rand_state[0] + 0xB) & _M48
    _rand_state[0] = x
    return x >> 17


def srand48(seed: int) -> None:
    _rand_state[0] = ((int(seed) & 0xFFFFFFFF) << 16) | 0x330E


def sha1hex(b: bytes) -> bytes:
    return hashlib.sha1(b).hexdigest().encode()


_LL_HALF = 2**62   # LLONG_MAX/2 as a double (double2ll compares in double precision)


def lua_arg(a):
    """luaArgsToRedisArgv for one value: a string as is; a number as an integer when it is
    one (double2ll: within +-LLONG_MAX/2), else by fpconv_dtoa; None for other types."""
    t = type(a)
    if t is bytes:
        return a
    if t is int:
        return b"%d" % a if -_LL_HALF <= a <= _LL_HALF else fpconv_dtoa(float(a))
    if t is float:
        return fpconv_dtoa(a)
    return None


def _err_text(buf: str) -> str:
    """luaPushErrorBuff: "-CODE msg" or "msg" -> "CODE msg" (the ``err`` field)."""
    if buf[:1] == "-":
        sp = buf.find(" ")
        if sp < 0:
            code, msg = "ERR", buf[1:]
        else:
            code, msg = buf[1:sp], buf[sp + 1:]
    else:
        code, msg = "ERR", buf
    return code + " " + msg.strip("\r\n")


ERR_NO_CTX = "redis.call() can only be called inside a script invocation"


class ScriptError(Exception):
    """Raised by a Python callback to raise ``value`` (a Lua error table) in Lua."""

    def __init__(self, value):
        self.value = value


def _unwrap(e):
    """The error table of a ScriptError that crossed Lua as a userdata, else nil."""
    return e.value if isinstance(e, ScriptError) else None


def _lua_tostring(x) -> bytes:
    """lua_tostring of a number (LUA_NUMBER_FMT "%.14g")."""
    return b"%.14g" % x


def _lua_tonumber(x):
    """lua_tonumber: numbers, and strings that read as numbers; None otherwise."""
    t = type(x)
    if t is int or t is float:
        return x
    if t is bytes:
        s = x.strip(b" \t\n\r\f\v")
        try:
            if s[:2].lower() in (b"0x",) or s[:3].lower() in (b"-0x", b"+0x"):
                return int(s, 16)
            return float(s)
        except ValueError:
            return None
    return None


def _c_int(x) -> int:
    """(int) of a lua_Number: truncation toward zero."""
    if x != x or x in (float("inf"), float("-inf")):
        return -2147483648
    return int(x)


class LuaEngine:
    """A Lua state with the sandbox and the ``redis`` API. ``api`` is the Lua table of entry
    points (``compile``, ``run_eval``, ``run_function``, ``globals`` ...); ``ctx`` is the
    :class:`valkeyd.scripting.run.ScriptCtx` of the running script (None between runs)."""

    def __init__(self, server, eval_api: bool = True):
        self.server = server
        self.ctx = None
        lua = self.lua = _lua51.LuaRuntime(
            encoding=None, unpack_returned_tuples=True, register_eval=False,
            register_builtins=False, attribute_filter=_deny_attr)
        g = lua.globals()
        self._table_from = lua.table_from
        self._table = lua.table
        if importlib.util.find_spec("valkeyd.scripting.libs") is not None:
            from .libs import install   # cjson, cmsgpack, bit, struct
            install(lua)
        py = lua.table_from({
            b"call": self._call, b"pcall": self._pcall, b"killed": self._killed,
            b"rand": lrand48, b"srand": srand48, b"log": self._log,
            b"setresp": self._setresp, b"setrepl": self._setrepl,
            b"sha1hex": self._sha1hex, b"d2s": format_double, b"errstat": self._errstat,
            b"aclcheck": self._aclcheck, b"unwrap": _unwrap,
            b"version": REDIS_VERSION.encode(), b"version_num": REDIS_VERSION_NUM,
            b"allowed": ALLOWED_GLOBALS.encode(), b"eval_api": eval_api,
        })
        with open(_SANDBOX, "rb") as f:
            src = f.read()
        chunk = g.loadstring(src, b"=valkeyd")
        if not callable(chunk):
            raise RuntimeError("sandbox.lua does not compile")
        self.api = chunk(py)
        self.compile_fn = self.api.compile
        self.run_eval = self.api.run_eval
        self.run_function = self.api.run_function
        self.state = self.api.state
        from .run import ScriptClient
        self.client = ScriptClient(server)

    # -- compile ---------------------------------------------------------------------------------
    def compile(self, body: bytes, chunkname: bytes = b"@user_script"):
        """The Lua function of ``body``, or raise ErrorReply with Lua's message."""
        r = self.compile_fn(body, chunkname)
        if type(r) is tuple:
            f, err = r[0], r[1]
            if f is None:
                raise ErrorReply(err.decode("utf-8", "surrogateescape"))
            return f
        return r

    # -- callbacks from Lua (they raise ScriptError to raise a Lua error table) ----------------
    def _call(self, *args):
        """redis.call: the reply, or raise the error."""
        ctx = self.ctx
        if ctx is None:
            raise ScriptError(self.err_table(ERR_NO_CTX))
        v, err = ctx.call(args)
        if err:
            raise ScriptError(v)
        return v

    def _pcall(self, *args):
        """redis.pcall: errors are returned as tables."""
        ctx = self.ctx
        if ctx is None:
            return self.err_table(ERR_NO_CTX)
        return ctx.call(args)[0]

    def _killed(self):
        ctx = self.ctx
        return ctx is not None and ctx.killed

    def _raise(self, msg):
        raise ScriptError(self.err_table(msg))

    def _sha1hex(self, *args):
        if len(args) != 1:
            self._raise("wrong number of arguments")
        s = args[0]
        t = type(s)
        if t is not bytes:
            s = _lua_tostring(s) if t is int or t is float else b""
        return sha1hex(s)

    def _log(self, *args):
        if len(args) < 2:
            self._raise("redis.log() requires two arguments or more.")
        level = _lua_tonumber(args[0])
        if level is None:
            self._raise("First argument must be a number (log level).")
        level = _c_int(level)
        if level < 0 or level > 3:
            self._raise("Invalid debug level.")
        from ..log import log
        if level < log.level:
            return
        parts = []
        for j, a in enumerate(args[1:]):
            t = type(a)
            if t is bytes or t is int or t is float:
                if j:
                    parts.append(b" ")
                parts.append(a if t is bytes else _lua_tostring(a))
        log.log(level, b"".join(parts).decode("utf-8", "surrogateescape"))

    def _setresp(self, *args):
        if len(args) != 1:
            self._raise("redis.setresp() requires one argument.")
        r = _c_int(_lua_tonumber(args[0]) or 0)
        if r != 2 and r != 3:
            self._raise("RESP version must be 2 or 3.")
        self.client.set_resp(r)
        self.state[b"resp"] = r

    def _setrepl(self, *args):
        if len(args) != 1:
            self._raise("redis.set_repl() requires one argument.")
        f = _c_int(_lua_tonumber(args[0]) or 0)
        if f & ~3:
            self._raise("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or "
                        "REPL_NONE.")
        ctx = self.ctx
        if ctx is not None:
            ctx.repl = f

    def _errstat(self, msg):
        srv = self.server
        srv.stats.total_error_replies += 1
        srv.count_error(msg.decode("utf-8", "surrogateescape").split(" ", 1)[0])

    def _aclcheck(self, *args):
        from .run import ERR_ARG_TYPE, ERR_NO_ARGS, lookup_command
        if not args:
            self._raise(ERR_NO_ARGS)
        argv = []
        for a in args:
            b = lua_arg(a)
            if b is None:
                self._raise(ERR_ARG_TYPE)
            argv.append(b)
        if lookup_command(argv) is None:
            self._raise("Invalid command passed to redis.acl_check_cmd()")
        return True   # no ACL users: the default user may run everything

    # -- conversions -----------------------------------------------------------------------------
    def err_table(self, buf: str):
        return self._table_from({b"err": _err_text(buf).encode("utf-8", "surrogateescape")})

    def to_lua(self, v, resp: int):
        """A command's reply value as Lua sees it (redisProtocolToLuaType), for the script
        client's protocol ``resp``."""
        t = type(v)
        if t is bytes or t is int:
            return v
        if v is None or v is NULL_ARRAY:
            return False if resp == 2 else None
        if t is list or t is tuple or t is Push:
            tf = self._table_from
            if not v:
                return tf()
            to = self.to_lua
            return tf([to(x, resp) for x in v])
        if t is Simple:
            return self._table_from({b"ok": bytes(v)})
        if t is str:
            return v.encode("utf-8", "surrogateescape")
        if t is float:
            if resp == 2:
                return format_double(v)
            return self._table_from({b"double": v})
        if t is bool:
            if resp == 2:
                return 1 if v else 0
            return v
        if t is dict:
            to = self.to_lua
            if resp == 2:
                flat = []
                for k, x in v.items():
                    flat.append(to(k, resp))
                    flat.append(to(x, resp))
                return self._table_from(flat)
            m = self._table()
            for k, x in v.items():
                m[to(k, resp)] = to(x, resp)
            return self._table_from({b"map": m})
        if t is SetReply or t is set or t is frozenset:
            to = self.to_lua
            if resp == 2:
                return self._table_from([to(x, resp) for x in v])
            s = self._table()
            for x in v:
                s[to(x, resp)] = True
            return self._table_from({b"set": s})
        if t is Verbatim:
            b = v.encode("utf-8", "surrogateescape")
            if resp == 2:
                return b
            return self._table_from({b"verbatim_string": self._table_from(
                {b"format": b"txt", b"string": b})})
        if isinstance(v, ErrorReply):
            return self.err_table("-" + v.msg)
        if t is Raw:
            from .resp_parse import parse_resp
            return self.to_lua_parsed(parse_resp(bytes(v)), resp)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        raise TypeError(f"cannot convert reply of type {t.__name__} for Lua")

    def to_lua_parsed(self, node, resp: int):
        """A value from :func:`valkeyd.scripting.resp_parse.parse_resp` (typed RESP nodes)."""
        kind, val = node
        if kind == "bulk" or kind == "int":
            return val
        if kind == "status":
            return self._table_from({b"ok": val})
        if kind == "error":
            return self.err_table("-" + val.decode("utf-8", "surrogateescape"))
        if kind == "null2":
            return False
        if kind == "null":
            return None
        if kind == "bool":
            return val
        if kind == "double":
            return self._table_from({b"double": val})
        if kind == "bignum":
            return self._table_from({b"big_number": val})
        if kind == "verbatim":
            fmt, s = val
            return self._table_from({b"verbatim_string": self._table_from(
                {b"format": fmt, b"string": s})})
        if kind == "array" or kind == "push":
            return self._table_from([self.to_lua_parsed(x, resp) for x in val])
        if kind == "map":
            m = self._table()
            for k, x in val:
                m[self.to_lua_parsed(k, resp)] = self.to_lua_parsed(x, resp)
            return self._table_from({b"map": m})
        if kind == "set":
            s = self._table()
            for x in val:
                s[self.to_lua_parsed(x, resp)] = True
            return self._table_from({b"set": s})
        if kind == "attr":
            return self.to_lua_parsed(val, resp)
        raise TypeError(kind)
