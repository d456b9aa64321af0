-- valkeyd: the Lua side of a script engine (see valkeyd/scripting/engine.py).
-- Loaded once per Lua state with the chunk name "=valkeyd": the error handler skips the
-- frames of this chunk, so errors point at the user's code as in Redis.
-- Argument: a table of Python callbacks and settings (py).
local py = ...

local G = _G
local type, error, tostring, tonumber, select = type, error, tostring, tonumber, select
local rawget, rawset, next, pairs, ipairs = rawget, rawset, next, pairs, ipairs
local setmetatable, getmetatable, unpack = setmetatable, getmetatable, unpack
local xpcall, pcall, loadstring = xpcall, pcall, loadstring
local setfenv, newproxy = setfenv, newproxy
local sformat, sgsub, ssub, sfind = string.format, string.gsub, string.sub, string.find
local tconcat = table.concat
local insert, remove, sort, concat, maxn, getn = table.insert, table.remove, table.sort,
    table.concat, table.maxn, table.getn
local floor = math.floor
local getinfo, sethook = debug.getinfo, debug.sethook

local pykilled, pyrand, pysrand, pyd2s = py.killed, py.rand, py.srand, py.d2s
local pyerrstat, pyunwrap = py.errstat, py.unwrap
local INTERNAL = "=valkeyd"
local PYMT = getmetatable(py.call)   -- lupa's metatable of Python objects: not for scripts
local PYCALL = PYMT.__call           -- the C function that runs a Python callable

---------------------------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------------------------

-- luaPushErrorBuff: "-CODE msg" or "msg" -> {err = "CODE msg"}
local function errtable(buf)
    local code, msg
    if ssub(buf, 1, 1) == "-" then
        local sp = sfind(buf, " ", 1, true)
        if sp then
            code, msg = ssub(buf, 2, sp - 1), ssub(buf, sp + 1)
        else
            code, msg = "ERR", ssub(buf, 2)
        end
    else
        code, msg = "ERR", buf
    end
    msg = sgsub(sgsub(msg, "^[\r\n]+", ""), "[\r\n]+$", "")
    return {err = code .. " " .. msg}
end

-- The pcall error handler (Redis's __redis__err__handler): adds the user's source and line.
-- Frames of this chunk are skipped; a C function at the error point is skipped once.
local function skip_internal(lvl)
    local i = getinfo(lvl, "nSl")
    while i and i.source == INTERNAL do
        lvl = lvl + 1
        i = getinfo(lvl, "nSl")
    end
    return i, lvl
end

local function errh(err)
    if type(err) == "userdata" then
        local t = pyunwrap(err)
        if t ~= nil then
            err = t
        end
    end
    local i, lvl = skip_internal(3)
    if i and i.what == "C" then
        i = skip_internal(lvl + 1)
    end
    if type(err) ~= "table" then
        err = tostring(err)
        -- a C function called by a wrapper of this chunk: its position is the user's
        if ssub(err, 1, 8) == "valkeyd:" then
            local rest = sgsub(err, "^valkeyd:%d+: ", "")
            if i and i.currentline and i.currentline > 0 then
                err = i.short_src .. ":" .. i.currentline .. ": " .. rest
            else
                err = rest
            end
        end
        err = {err = "ERR " .. err}
    end
    if i then
        err["source"] = i.source
        err["line"] = i.currentline
    end
    return err
end

---------------------------------------------------------------------------------------------
-- Read-only tables (Redis's lua_enablereadonlytable, emulated with proxies)
---------------------------------------------------------------------------------------------
local RO = setmetatable({}, {__mode = "k"})      -- proxy -> real table
local FAKEMT = setmetatable({}, {__mode = "k"})  -- proxy -> what getmetatable shows

local function ro_newindex()
    error("Attempt to modify a readonly table", 2)
end

local function ro_check(t)
    if RO[t] then
        error("Attempt to modify a readonly table", 0)
    end
end

local function protect(real)
    if RO[real] then
        return real
    end
    for k, v in next, real do
        if type(v) == "table" and not RO[v] then
            rawset(real, k, protect(v))
        end
    end
    local proxy = {}
    RO[proxy] = real
    setmetatable(proxy, {__index = real, __newindex = ro_newindex, __metatable = false})
    return proxy
end

---------------------------------------------------------------------------------------------
-- The redis table
---------------------------------------------------------------------------------------------
local resp = 2   -- the script client's protocol (redis.setresp), read when the script ends
local redis = {}

-- The functions that can fail are Python callables (C functions for Lua, so that a
-- "return redis.call(...)" keeps the user's frame for the error's line, as in Redis). They
-- raise their error table wrapped in a Python exception; the handler and pcall unwrap it.
redis.call = py.call
redis.pcall = py.pcall
redis.sha1hex = py.sha1hex
redis.log = py.log

redis.error_reply = function(...)
    local e = ...
    if select("#", ...) ~= 1 or type(e) ~= "string" then
        return errtable("wrong number or type of arguments")
    end
    if ssub(e, 1, 1) ~= "-" then
        e = "-" .. e
    end
    return errtable(e)
end

redis.status_reply = function(...)
    local s = ...
    if select("#", ...) ~= 1 or type(s) ~= "string" then
        return errtable("wrong number or type of arguments")
    end
    return {ok = s}
end

redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3

redis.REDIS_VERSION_NUM = py.version_num
redis.REDIS_VERSION = py.version

redis.setresp = py.setresp
redis.set_repl = py.setrepl
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3

redis.acl_check_cmd = py.aclcheck

if py.eval_api then
    redis.breakpoint = function()
        return false
    end
    redis.debug = function()
    end
    redis.replicate_commands = function()
        return true
    end
end

---------------------------------------------------------------------------------------------
-- math.random / math.randomseed (Redis's, on its own lrand48)
---------------------------------------------------------------------------------------------
local function checkint(n, fname, v)
    local x = tonumber(v)
    if x == nil then
        local got = v == nil and "no value" or type(v)
        if v ~= nil and type(v) == "string" then
            got = "string"
        end
        error(sformat("bad argument #%d to '%s' (number expected, got %s)", n, fname, got), 3)
    end
    return x >= 0 and floor(x) or -floor(-x)
end

local function random(...)
    local r = (pyrand() % 2147483647) / 2147483647
    local n = select("#", ...)
    if n == 0 then
        return r
    elseif n == 1 then
        local u = checkint(1, "random", (...))
        if not (1 <= u) then
            error("bad argument #1 to 'random' (interval is empty)", 2)
        end
        return floor(r * u) + 1
    elseif n == 2 then
        local a, b = ...
        local l = checkint(1, "random", a)
        local u = checkint(2, "random", b)
        if not (l <= u) then
            error("bad argument #2 to 'random' (interval is empty)", 2)
        end
        return floor(r * (u - l + 1)) + l
    end
    error("wrong number of arguments", 2)
end

local function randomseed(...)
    pysrand(checkint(1, "randomseed", (...)))
end
math.random = random
math.randomseed = randomseed

---------------------------------------------------------------------------------------------
-- Globals: keep only Redis's allow list, then lock everything
---------------------------------------------------------------------------------------------
G.redis = redis
local function pcall_result(ok, ...)
    if ok then
        return ok, ...
    end
    local e = ...
    if type(e) == "userdata" then
        local t = pyunwrap(e)
        if t ~= nil then
            e = t
        end
    end
    if type(e) == "table" then
        local m = e.err
        if type(m) == "string" or type(m) == "number" then
            return false, m
        end
    end
    return false, e
end
G.pcall = function(...)
    return pcall_result(pcall(...))
end
G.__redis__err__handler = errh

-- Errors raised by the Python callables (redis.call ...) cross Lua as userdata: user error
-- handlers and coroutine.resume see the error table, as in Redis.
local function unwrap_err(e)
    if type(e) == "userdata" then
        local t = pyunwrap(e)
        if t ~= nil then
            return t
        end
    end
    return e
end
G.xpcall = function(f, h)
    if type(h) ~= "function" then
        return xpcall(f, h)
    end
    return xpcall(f, function(e)
        return h(unwrap_err(e))
    end)
end
local co_resume = coroutine.resume
local function resume_result(ok, ...)
    if ok then
        return ok, ...
    end
    return false, unwrap_err((...))
end
coroutine.resume = function(co, ...)
    return resume_result(co_resume(co, ...))
end

local allowed = {}
for name in string.gmatch(py.allowed, "[^ ]+") do
    allowed[name] = true
end
local H = {}
for k, v in next, G do
    if allowed[k] then
        H[k] = v
    end
end
for k in next, H do
    rawset(G, k, nil)
end
for k in next, G do   -- whatever was not allowed
    rawset(G, k, nil)
end
H._G = G

-- setfenv: the functions of this chunk and the thread's globals are not the script's to
-- change (levels count from the script, as the C function's would).
H.setfenv = function(f, t)
    if type(f) == "number" then
        if f == 0 then
            error("Attempt to modify a readonly table", 2)
        end
        if f > 0 then
            local i = getinfo(f + 1, "S")
            if not i or i.source == INTERNAL or i.what == "C" then
                error("bad argument #1 to 'setfenv' (invalid level)", 2)
            end
            return setfenv(f + 1, t)
        end
    elseif type(f) == "function" then
        local i = getinfo(f, "S")
        if i.source == INTERNAL then
            error("'setfenv' cannot change environment of given object", 2)
        end
    end
    return setfenv(f, t)
end

-- newproxy(true) would give scripts a userdata metatable, and its __gc runs wherever the
-- collector happens to run (also inside lupa's own calls, where an error is fatal): the
-- userdata comes without a metatable.
H.newproxy = function()
    return newproxy(false)
end

-- Wrapped builtins: the read-only proxies answer as their tables, and refuse writes.
H.rawset = function(t, k, v)
    ro_check(t)
    return rawset(t, k, v)
end
H.rawget = function(t, k)
    local r = RO[t]
    if r then
        return rawget(r, k)
    end
    return rawget(t, k)
end
local function wnext(t, k)
    local r = RO[t]
    if r then
        return next(r, k)
    end
    return next(t, k)
end
H.next = wnext
H.pairs = function(t)
    local r = RO[t]
    if r then
        return next, r, nil
    end
    return pairs(t)
end
H.ipairs = function(t)
    local r = RO[t]
    if r then
        return ipairs(r)
    end
    return ipairs(t)
end
H.setmetatable = function(t, mt)
    ro_check(t)
    return setmetatable(t, mt)
end
H.getmetatable = function(t)
    if RO[t] then
        return FAKEMT[t]
    end
    local mt = getmetatable(t)
    if mt == PYMT then
        return nil
    end
    return mt
end
H.unpack = function(t, ...)
    local r = RO[t]
    if r then
        return unpack(r, ...)
    end
    return unpack(t, ...)
end
local tbl = H.table
tbl.insert = function(t, ...)
    ro_check(t)
    return insert(t, ...)
end
tbl.remove = function(t, ...)
    ro_check(t)
    return remove(t, ...)
end
tbl.sort = function(t, ...)
    ro_check(t)
    return sort(t, ...)
end
tbl.concat = function(t, ...)
    local r = RO[t]
    if r then
        return concat(r, ...)
    end
    return concat(t, ...)
end
tbl.maxn = function(t)
    local r = RO[t]
    if r then
        return maxn(r)
    end
    return maxn(t)
end
tbl.getn = function(t)
    local r = RO[t]
    if r then
        return getn(r)
    end
    return getn(t)
end

for k, v in next, H do
    if type(v) == "table" and k ~= "_G" then
        H[k] = protect(v)
    end
end
-- Methods of string values go through the protected string table too.
getmetatable("").__index = H.string

-- The global table itself becomes the proxy of H; a missing global is an error.
-- lupa itself looks up debug.traceback through the C API (for the error handler of its calls
-- into Lua). Such a lookup (no function active, or lupa's own C function running a Python
-- callback) gets nil - lupa then does without - and never raises, since an error there would
-- escape lupa's protection. Scripts get Redis's error.
setmetatable(H, {__index = function(t, k)
    if k == "debug" then
        local i = getinfo(2, "f")
        if not i or i.func == PYCALL then
            return nil
        end
    end
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" then
        error("Second argument to luaProtectedTableError must be a string or number", 2)
    end
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
RO[G] = H
local gmt = {__index = H, __newindex = ro_newindex, __metatable = false}
setmetatable(G, gmt)
FAKEMT[G] = protect({__index = getmetatable(H).__index})

---------------------------------------------------------------------------------------------
-- Reply conversion: a Lua value to RESP bytes (luaReplyToRedisReply)
---------------------------------------------------------------------------------------------
local function nonl(s)
    return (sgsub(s, "[\r\n]", " "))
end

-- addReplyErrorFormatEx("-%s"): trailing newlines go (the leading "-" protects the start)
local function errline(s)
    return (sgsub(s, "[\r\n]+$", ""))
end

local enc
enc = function(v, cr, out)
    local tv = type(v)
    if tv == "string" then
        out[#out + 1] = "$" .. #v .. "\r\n"
        out[#out + 1] = v
        out[#out + 1] = "\r\n"
    elseif tv == "number" then
        out[#out + 1] = sformat(":%d\r\n", v)
    elseif tv == "boolean" then
        if resp == 2 then
            out[#out + 1] = v and ":1\r\n" or (cr == 2 and "$-1\r\n" or "_\r\n")
        elseif cr == 3 then
            out[#out + 1] = v and "#t\r\n" or "#f\r\n"
        else
            out[#out + 1] = v and ":1\r\n" or ":0\r\n"
        end
    elseif tv == "table" then
        local e = rawget(v, "err")
        if type(e) == "string" then
            local msg = nonl(errline(e))
            out[#out + 1] = "-" .. msg .. "\r\n"
            if v.ignore_error_stats_update ~= true then
                pyerrstat(msg)
            end
            return
        end
        local ok = rawget(v, "ok")
        if type(ok) == "string" then
            out[#out + 1] = "+" .. nonl(ok) .. "\r\n"
            return
        end
        local d = rawget(v, "double")
        if type(d) == "number" then
            local s = pyd2s(d)
            if cr == 3 then
                out[#out + 1] = "," .. s .. "\r\n"
            else
                out[#out + 1] = "$" .. #s .. "\r\n" .. s .. "\r\n"
            end
            return
        end
        local b = rawget(v, "big_number")
        if type(b) == "string" then
            b = nonl(b)
            if cr == 3 then
                out[#out + 1] = "(" .. b .. "\r\n"
            else
                out[#out + 1] = "$" .. #b .. "\r\n" .. b .. "\r\n"
            end
            return
        end
        local vs = rawget(v, "verbatim_string")
        if type(vs) == "table" then
            local f = rawget(vs, "format")
            if type(f) == "string" then
                local s = rawget(vs, "string")
                if type(s) == "string" then
                    if cr == 3 then
                        local z = sfind(f, "\0", 1, true)
                        if z then
                            f = ssub(f, 1, z - 1)
                        end
                        f = ssub(f .. "   ", 1, 3)
                        out[#out + 1] = "=" .. (#s + 4) .. "\r\n" .. f .. ":"
                        out[#out + 1] = s
                        out[#out + 1] = "\r\n"
                    else
                        out[#out + 1] = "$" .. #s .. "\r\n"
                        out[#out + 1] = s
                        out[#out + 1] = "\r\n"
                    end
                    return
                end
            end
        end
        local m = rawget(v, "map")
        if type(m) == "table" then
            local pos = #out + 1
            out[pos] = ""
            local n = 0
            for k, x in next, m do
                enc(k, cr, out)
                enc(x, cr, out)
                n = n + 1
            end
            out[pos] = cr == 3 and ("%" .. n .. "\r\n") or ("*" .. (2 * n) .. "\r\n")
            return
        end
        local st = rawget(v, "set")
        if type(st) == "table" then
            local pos = #out + 1
            out[pos] = ""
            local n = 0
            for k in next, st do
                enc(k, cr, out)
                n = n + 1
            end
            out[pos] = cr == 3 and ("~" .. n .. "\r\n") or ("*" .. n .. "\r\n")
            return
        end
        local pos = #out + 1
        out[pos] = ""
        local j = 1
        while true do
            local x = rawget(v, j)
            if x == nil then
                break
            end
            enc(x, cr, out)
            j = j + 1
        end
        out[pos] = "*" .. (j - 1) .. "\r\n"
    else
        out[#out + 1] = cr == 2 and "$-1\r\n" or "_\r\n"
    end
end

-- The reply of a script: ("r", resp bytes) or ("e", message, ignore_stats)
local state = {resp = 2}   -- set by Python's redis.setresp

local function reply(ok, r, cr, name)
    resp = state.resp
    if ok then
        if type(r) == "table" then
            local e = rawget(r, "err")
            if type(e) == "string" then
                return "e", errline(e), r.ignore_error_stats_update == true
            end
        end
        local out = {}
        enc(r, cr, out)
        return "r", tconcat(out)
    end
    if type(r) ~= "table" then
        local msg = "execution failure"
        if type(r) == "string" or type(r) == "number" then
            msg = ssub(tostring(r), 1, 100)
        end
        return "e", "ERR Error running script " .. name .. ", " .. msg, false
    end
    local e, src, line = r.err, r.source, r.line
    if type(e) ~= "string" and type(e) ~= "number" then
        e = "(null)"
    end
    local msg = tostring(e)
    local ts, tl = type(src), type(line)
    if (ts == "string" or ts == "number") and (tl == "string" or tl == "number") then
        msg = msg .. " script: " .. name .. ", on " .. tostring(src) .. ":" .. tostring(line) .. "."
    end
    return "e", msg, r.ignore_error_stats_update == true
end

---------------------------------------------------------------------------------------------
-- The kill hook and the entry points used from Python
---------------------------------------------------------------------------------------------
local hook
hook = function()
    if pykilled() then
        local i = getinfo(2, "S")
        if i and i.source == INTERNAL then
            return   -- not inside this chunk (its error handler, the reply encoder)
        end
        sethook(hook, "l")
        error(errtable("Script killed by user with SCRIPT KILL..."))
    end
end

-- The nk first arguments (the keys) and the others.
local function split_args(nk, ...)
    local all = {...}
    local keys, argv = {}, {}
    for i = 1, nk do
        keys[i] = all[i]
    end
    for i = nk + 1, #all do
        argv[i - nk] = all[i]
    end
    return keys, argv
end

local api = {}

-- Compile a script body: the function, or nil and the error message.
api.compile = function(body, chunkname)
    return loadstring(body, chunkname)
end

-- Run an EVAL script: KEYS and ARGV are globals, made of the nk first and the other
-- arguments after name. cr: the caller's protocol; name: the SHA (for error messages).
api.run_eval = function(f, cr, name, nk, ...)
    local keys, argv = split_args(nk, ...)
    rawset(H, "KEYS", keys)
    rawset(H, "ARGV", argv)
    state.resp = 2
    sethook(hook, "", 100000)
    local ok, r = xpcall(f, errh)
    sethook()
    return reply(ok, r, cr, name)
end

-- Run a function (FCALL): f(keys, args), same arguments as run_eval.
api.run_function = function(f, cr, name, nk, ...)
    local keys, argv = split_args(nk, ...)
    state.resp = 2
    sethook(hook, "", 100000)
    local ok, r = xpcall(function()
        return f(keys, argv)
    end, errh)
    sethook()
    return reply(ok, r, cr, name)
end

-- Raw access to the hidden globals, for the engine (e.g. FUNCTION's load-time API).
api.state = state
api.globals = H
api.redis = RO[H.redis]
api.protect = protect
api.errtable = errtable
api.errh = errh
api.sethook = sethook   -- FUNCTION LOAD's timeout hook (function_lua.py)
return api
