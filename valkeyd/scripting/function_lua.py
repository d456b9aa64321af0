"""The LUA engine of FUNCTION (Redis 7.2.4 function_lua.c).

Functions run in their own Lua state, separate from EVAL's, as in Redis: a scripting-core
engine (:class:`valkeyd.scripting.engine.LuaEngine` with ``eval_api=False``: the sandbox, the
``redis`` API, conversions), and FCALL runs through the core's ``prepare`` / ``run_script``
(flags checks, busy state, FUNCTION KILL, propagation of the effects). Every library chunk
gets one shared environment table ``env`` whose metatable ``__index`` is switched:

* while FUNCTION LOAD runs a library's top-level code it points at the **library API**: a
  table holding only ``redis`` with ``register_function``, ``log``, the ``LOG_*`` levels and
  ``REDIS_VERSION``/``REDIS_VERSION_NUM`` (anything else — ``redis.call``, ``string``,
  ``math``, ``error`` — is "Script attempted to access nonexistent global variable");
* afterwards it points at the state's normal (sandboxed) globals, so the registered callbacks
  see ``redis.call``, ``string``, ``cjson`` ... when FCALL runs them.

Writes to ``env`` fail with "Attempt to modify a readonly table". Loading is cut after 500 ms
("FUNCTION LOAD timeout", checked every 100000 VM instructions by a count hook) except for
must-obey clients (AOF, primary) and RESTORE, which pass timeout 0.

``redis.register_function`` takes ``(name, callback)`` or one table with ``function_name``,
``callback``, ``description`` and ``flags`` (keys case-insensitive); its argument errors are
Redis's texts and surface as "ERR Error registering functions: ERR <text>".
"""
from __future__ import annotations

import time

from ..errors import ErrorReply
from .functions import FunctionError, flag_bit

# Lua side: the library API, the switching environment and the loader.
_BOOT = r"""
local add_function, now_ms, log_fn, version, version_num, sethook, errh = ...
local setfenv, xpcall, error, type = setfenv, xpcall, error, type
local setmetatable, tostring, select, next, rawget, lower = setmetatable, tostring, select, next, rawget, string.lower
local function protected_error(t, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local function readonly_error()
  error("Attempt to modify a readonly table", 2)
end
-- A read-only view of t (Redis's readonly tables): writes fail, missing keys are errors.
local function protect(t)
  setmetatable(t, {__index = protected_error, __metatable = false})
  return setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
end

local register_function
local loading = nil   -- {start, timeout} while a library loads

local function getstring(v)
  local t = type(v)
  if t == 'string' or t == 'number' then return tostring(v) end
  return nil
end

local function ferr(msg) error({err = 'ERR ' .. msg}) end

local function read_flags(tbl)
  local flags = {}
  local j = 1
  while true do
    local v = tbl[j]
    if v == nil then break end
    local s = getstring(v)
    if s == nil then return nil end
    flags[#flags + 1] = s
    j = j + 1
  end
  return flags
end

register_function = function(...)
  if loading == nil then
    ferr('redis.register_function can only be called on FUNCTION LOAD command')
  end
  local argc = select('#', ...)
  if argc < 1 or argc > 2 then
    ferr('wrong number of arguments to redis.register_function')
  end
  local name, callback, desc, flags
  if argc == 1 then
    local args = ...
    if type(args) ~= 'table' then
      ferr('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in next, args do
      if type(k) ~= 'string' and type(k) ~= 'number' then
        ferr('named argument key given to redis.register_function is not a string')
      end
      local key = lower(tostring(k))
      if key == 'function_name' then
        name = getstring(v)
        if name == nil then
          ferr('function_name argument given to redis.register_function must be a string')
        end
      elseif key == 'description' then
        desc = getstring(v)
        if desc == nil then
          ferr('description argument given to redis.register_function must be a string')
        end
      elseif key == 'callback' then
        if type(v) ~= 'function' then
          ferr('callback argument given to redis.register_function must be a function')
        end
        callback = v
      elseif key == 'flags' then
        if type(v) ~= 'table' then
          ferr('flags argument to redis.register_function must be a table representing function flags')
        end
        flags = read_flags(v)
        if flags == nil then ferr('unknown flag given') end
      else
        ferr('unknown argument given to redis.register_function')
      end
    end
    if name == nil then ferr('redis.register_function must get a function name argument') end
    if callback == nil then ferr('redis.register_function must get a callback argument') end
  else
    local a1, a2 = ...
    name = getstring(a1)
    if name == nil then ferr('first argument to redis.register_function must be a string') end
    if type(a2) ~= 'function' then
      ferr('second argument to redis.register_function must be a function')
    end
    callback = a2
  end
  local e = add_function(name, callback, desc, flags)
  if e then ferr(e) end
end

local api_redis = {register_function = register_function, log = log_fn,
                   LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
                   REDIS_VERSION = version, REDIS_VERSION_NUM = version_num}
local library_api = protect({redis = protect(api_redis)})

local env_mt = {__index = nil, __newindex = readonly_error, __metatable = false}
local env = setmetatable({}, env_mt)

local function hook()
  if loading and loading[2] > 0 and now_ms() - loading[1] > loading[2] then
    error({err = 'ERR FUNCTION LOAD timeout'})
  end
end

-- Run a compiled library chunk: nil on success, or the error message.
local function load_library(chunk, timeout)
  setfenv(chunk, env)
  local saved = env_mt.__index
  env_mt.__index = library_api
  loading = {now_ms(), timeout}
  sethook(hook, '', 100000)
  local ok, err = xpcall(chunk, errh)   -- errh: {err=...}, as luaExtractErrorInformation
  sethook()
  loading = nil
  env_mt.__index = saved
  if ok then return nil end
  local m = type(err) == 'table' and rawget(err, 'err')
  return type(m) == 'string' and m or '(null)'
end

local function set_globals(g) env_mt.__index = g end
return load_library, set_globals
"""


class LuaEngine:
    """The "LUA" function engine: one Lua state (a scripting core engine built with
    ``eval_api=False``) for all libraries."""

    name = "LUA"

    def __init__(self, srv):
        self.srv = srv
        self.core = None
        self._loading_lib = None

    # -- the Lua state ------------------------------------------------------------------------
    def _state(self):
        core = self.core
        if core is None:
            from .engine import REDIS_VERSION, REDIS_VERSION_NUM
            from .engine import LuaEngine as CoreEngine
            core = CoreEngine(self.srv, eval_api=False)
            # chunk name "=valkeyd": the core's error handler skips these frames
            boot = core.lua.globals().loadstring(_BOOT.encode(), b"=valkeyd")
            self._load, set_globals = boot(self._add_function, _now_ms, core.api.redis.log,
                                           REDIS_VERSION.encode(), REDIS_VERSION_NUM,
                                           core.api.sethook, core.api.errh)
            set_globals(core.lua.globals())
            self.core = core
        return core

    def _add_function(self, name, callback, desc, flags):
        """Called by redis.register_function; returns an error text or None."""
        bits = 0
        if flags is not None:
            for f in flags.values():
                b = flag_bit(f)
                if b is None:
                    return b"unknown flag given"
                bits |= b
        try:
            self._loading_lib.add_function(name, callback, desc, bits)
        except FunctionError as e:
            return str(e).encode()
        return None

    # -- engine interface ---------------------------------------------------------------------
    def create(self, lib, body: bytes, timeout_ms: int) -> None:
        core = self._state()
        try:
            # the core's compile (scripts' tail calls rewritten when the Lua libraries are in)
            chunk = core.compile(body, b"@user_function")
        except ErrorReply as e:
            raise FunctionError("Error compiling function: " + e.msg) from None
        self._loading_lib = lib
        try:
            msg = self._load(chunk, timeout_ms)
        finally:
            self._loading_lib = None
        if msg is not None:
            raise FunctionError("Error registering functions: "
                                + msg.decode("utf-8", "surrogateescape"))

    def used_memory(self) -> int:
        """lua_gc(LUA_GCCOUNT) of the functions' Lua state, in bytes."""
        core = self.core
        if core is None:
            return 0
        return int(core.lua.eval(b"collectgarbage('count')") * 1024)

    def free_function(self, fn) -> None:
        fn.callback = None

    def call(self, c, fn, numkeys: int, argv, ro: bool):
        """FCALL / FCALL_RO ``argv`` of ``fn``: scriptPrepareForRun's checks, then the run."""
        from .run import prepare, run_script
        core = self._state()
        name = fn.name.decode("utf-8", "surrogateescape")
        ctx = prepare(c, core, name, fn.flags, ro, False)
        if type(ctx) is ErrorReply:
            return ctx
        ctx.argv = argv
        f = fn.callback
        run = core.run_function
        cr = c.resp
        bname = fn.name
        rest = argv[3:]
        return run_script(c, ctx, lambda: run(f, cr, bname, numkeys, *rest))


def _now_ms() -> float:
    return time.monotonic() * 1000.0


# -- the running script (FUNCTION STATS / KILL) ---------------------------------------------------
def running_script(srv):
    """The running script as FUNCTION STATS shows it, or None."""
    ctx = getattr(srv, "script_running", None)
    if ctx is None:
        return None
    return {"eval": ctx.eval_mode, "name": ctx.name, "command": getattr(ctx, "argv", None) or [],
            "duration_ms": int((time.monotonic() - ctx.start) * 1000)}


def kill(c, is_eval: bool):
    from .run import kill_script
    return kill_script(c, is_eval)
