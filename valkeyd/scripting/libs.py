"""The Lua libraries Redis 7.2.4 gives scripts: ``cjson``, ``cmsgpack``, ``bit``, ``struct``.

``install(lua)`` registers the four globals in a lupa Lua 5.1 runtime. Behaviour (results,
encodings, error messages) follows the C libraries Redis bundles (deps/lua/src/lua_cjson.c,
lua_cmsgpack.c, lua_bit.c, lua_struct.c); the implementations are our own:

* ``cjson`` (lib_cjson.py) and ``cmsgpack`` (lib_cmsgpack.py) are Lua source run in the
  runtime, so tables are walked with ``next`` in Lua's own order and numbers are formatted by
  Lua's ``string.format`` (C ``%.14g``). ``next``/``rawget`` are looked up as globals at call
  time, so the sandbox's versions (which see through its read-only proxies) are used.
  cmsgpack calls Python only for IEEE float/double and 64-bit integer conversions.
* ``bit`` (LuaBitOp 1.0.2 semantics) and ``struct`` (Roberto Ierusalimschy's lstruct) compute
  in Python, behind Lua wrapper functions that check arguments and raise errors.

Runtime requirements: ``lupa.lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True,
register_eval=False, register_builtins=False)`` (Lua strings are ``bytes`` on the Python side;
the helpers rely on that and on tuples becoming multiple return values). Call ``install``
while the standard ``debug`` library is still present (argument errors name the function as
``luaL_argerror`` does, via ``debug.getinfo``, captured at install time) and before globals
are made read-only.

Sandbox shape: every value scripts can reach is a Lua function, a Lua table, a string, a
number or ``cjson.null`` (a ``newproxy`` userdata whose metatable is locked). The Python
helpers live only in upvalues of the library functions, reachable only through
``debug.getupvalue``; the core must not leave ``debug`` (nor lupa's ``python`` table) in the
script globals.

Errors: library errors are raised with ``error(msg, level)`` so that the message carries the
caller's position (``user_script:1: ...``) exactly as ``luaL_error`` does from a C function,
and so that ``pcall`` gets a plain string. The raising frames are Lua functions of the chunk
named ``LIB_SOURCE`` (the sandbox's own chunk name): the error handler, which looks for the
user's frame, skips them. A C function is never tail-called, but a Lua one is, and Lua 5.1
then discards the caller's frame (``return cjson.decode(x)`` would lose the
``user_script:N:`` prefix and the function name in "bad argument" messages): scripts are
therefore compiled through ``Untailer`` (``untail_bytecode``), which turns tail calls into
ordinary calls (LuaEngine.compile does it).
"""
from __future__ import annotations

import struct as _st

import lupa.lua51

from . import lib_cjson, lib_cmsgpack

LIB_SOURCE = "=valkeyd"  # the chunk name whose frames the error handler skips

_D = _st.Struct("<d")
_Q = _st.Struct("<Q")
_MAGIC = 6755399441055744.0  # 2^52 + 2^51: LuaBitOp's double-to-int32 trick
_ARGERR, _ERR = 1, 2


class _ArgError(Exception):
    def __init__(self, narg, msg):
        self.narg, self.msg = narg, msg


class _Error(Exception):
    pass


def _typename(v, lua_type):
    if v is None:
        return "nil"
    t = type(v)
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if t is bytes:
        return "string"
    return lua_type(v) or "userdata"


def _signed32(b):
    return float(b - 0x100000000 if b & 0x80000000 else b)


# ---------------------------------------------------------------------------------- support

_SUPPORT = r'''
local py = ...
local getinfo = debug and debug.getinfo
local type, error, select, tostring, tonumber, format = type, error, select, tostring,
  tonumber, string.format
local S = {}

function S.typename(v, present)
  if not present then return 'no value' end
  return type(v)
end

-- luaL_argerror: 'level' is the library function's stack level seen from here.
function S.argerror(narg, msg, level)
  local ar = getinfo and getinfo(level, 'n')
  local name = ar and ar.name or '?'
  if ar and ar.namewhat == 'method' then
    narg = narg - 1
    if narg == 0 then
      error(format("calling '%s' on bad self (%s)", name, msg), level + 1)
    end
  end
  error(format("bad argument #%d to '%s' (%s)", narg, name, msg), level + 1)
end

-- luaL_error from the library function at 'level'.
function S.raise(msg, level)
  error(msg, level + 1)
end

-- Errors deep inside a library function travel as {MARK, msg} to its pcall boundary.
local MARK = {}
function S.throw(msg) error({MARK, msg}, 0) end
function S.rethrow(e, level)
  if type(e) == 'table' and e[1] == MARK then error(e[2], level + 1) end
  error(e, 0)
end

-- luaL_checkinteger / luaL_checkstring
function S.checkinteger(v, narg, level)
  local n = tonumber(v)
  if type(v) ~= 'number' and (type(v) ~= 'string' or n == nil) then
    S.argerror(narg, 'number expected, got ' .. type(v), level + 1)
  end
  -- lua_tointeger: truncation; out of range (and nan) gives x86's "integer indefinite"
  if n ~= n or n >= 9223372036854775808 or n < -9223372036854775808 then
    return -9223372036854775808
  end
  if n >= 0 then return n - n % 1 end
  return -((-n) - (-n) % 1)
end
function S.checkstring(v, narg, level)
  local t = type(v)
  if t == 'string' then return v end
  if t == 'number' then return tostring(v) end
  S.argerror(narg, 'string expected, got ' .. t, level + 1)
end

-- Python-backed function f(negzeros, ...) returning (0, results...) | (1, narg, msg) | (2, msg)
local function pack(...) return {n = select('#', ...), ...} end
local unpack = unpack
-- lupa turns -0 into the integer 0: the indexes of -0 arguments go first, as "i,j,".
local function negzeros(...)
  local z
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if v == 0 and type(v) == 'number' and 1 / v < 0 then z = (z or '') .. i .. ',' end
  end
  return z
end
function S.wrap(f)
  return function(...)
    local r = pack(f(negzeros(...), ...))
    local st = r[1]
    if st ~= 0 then
      if st == 1 then S.argerror(r[2], r[3], 2) end
      error(r[2], 2)
    end
    return unpack(r, 2, r.n)
  end
end

local null = newproxy(true)
local mt = getmetatable(null)
mt.__tostring = function() return 'userdata: (nil)' end
mt.__metatable = false
S.null = null

for k, v in pairs(py) do S[k] = v end
return S
'''

# ---------------------------------------------------------------------------------- bit

_BIT = r'''
local S = ...
local op, argerror = S.bitop, S.argerror
local bit = {}
for _, name in ipairs({'tobit', 'bnot', 'band', 'bor', 'bxor', 'lshift', 'rshift', 'arshift',
                       'rol', 'ror', 'bswap', 'tohex'}) do
  bit[name] = function(...)
    local r, narg, msg = op(name, ...)
    if narg then argerror(narg, msg, 2) end
    return r
  end
end
return bit
'''

# ---------------------------------------------------------------------------------- struct

_STRUCT = r'''
local S = ...
return { pack = S.wrap(S.struct_pack), unpack = S.wrap(S.struct_unpack),
         size = S.wrap(S.struct_size) }
'''

_MAXINTSIZE = 32
_MAXALIGN = 8
_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "f": 4, "d": 8, "x": 1}


class _Helpers:
    """The Python side of bit, struct and cmsgpack; bound to one runtime."""

    def __init__(self, lua):
        self.negz = ()
        g = lua.globals()
        self.tonumber = g.tonumber
        self.tostring = g.tostring
        self.lua_type = lupa.lua51.lua_type

    # -- argument conversion (lua_tonumber / lua_tolstring semantics)
    def number(self, args, i):
        if i >= len(args):
            raise _ArgError(i + 1, "number expected, got no value")
        v = args[i]
        t = type(v)
        if t is int or t is float:
            return -0.0 if i in self.negz else v
        if t is bytes:
            n = self.tonumber(v)
            if n is not None:
                return n
        raise _ArgError(i + 1, "number expected, got " + _typename(v, self.lua_type))

    def string(self, args, i):
        if i >= len(args):
            raise _ArgError(i + 1, "string expected, got no value")
        v = args[i]
        t = type(v)
        if t is bytes:
            return v
        if t is int or t is float:
            return b"-0" if i in self.negz else self.tostring(v)
        raise _ArgError(i + 1, "string expected, got " + _typename(v, self.lua_type))

    # -- bit
    def barg(self, args, i):
        x = self.number(args, i)
        if type(x) is int and -0x8000000000000 < x < 0x8000000000000:
            return x & 0xFFFFFFFF
        return _Q.unpack(_D.pack(float(x) + _MAGIC))[0] & 0xFFFFFFFF

    def bitop(self, name, *args):
        try:
            b = self.barg(args, 0)
            if name == b"tobit":
                pass
            elif name == b"bnot":
                b = ~b & 0xFFFFFFFF
            elif name in (b"band", b"bor", b"bxor"):
                for i in range(len(args) - 1, 0, -1):
                    o = self.barg(args, i)
                    if name == b"band":
                        b &= o
                    elif name == b"bor":
                        b |= o
                    else:
                        b ^= o
            elif name == b"bswap":
                b = int.from_bytes(b.to_bytes(4, "little"), "big")
            elif name == b"tohex":
                n = 8
                if len(args) > 1:
                    n = self.barg(args, 1)
                    n = n - 0x100000000 if n & 0x80000000 else n
                digits = "0123456789abcdef"
                if n < 0:
                    # Redis 7.2.4 overflows on -2^31; later releases clamp it to -(2^31-1).
                    n = -max(n, -0x7FFFFFFF)
                    digits = "0123456789ABCDEF"
                n = min(n, 8)
                out = []
                for _ in range(n):
                    out.append(digits[b & 15])
                    b >>= 4
                return "".join(reversed(out)).encode()
            else:
                n = self.barg(args, 1) & 31
                if name == b"lshift":
                    b = (b << n) & 0xFFFFFFFF
                elif name == b"rshift":
                    b >>= n
                elif name == b"arshift":
                    b = ((b - 0x100000000 if b & 0x80000000 else b) >> n) & 0xFFFFFFFF
                elif name == b"rol":
                    b = ((b << n) | (b >> (32 - n))) & 0xFFFFFFFF
                else:  # ror
                    b = ((b << (32 - n)) | (b >> n)) & 0xFFFFFFFF
            return _signed32(b)
        except _ArgError as e:
            return None, e.narg, e.msg.encode()

    # -- struct
    @staticmethod
    def _getnum(fmt, i, default):
        if i >= len(fmt) or not (48 <= fmt[i] <= 57):
            return default, i
        a = 0
        while i < len(fmt) and 48 <= fmt[i] <= 57:
            d = fmt[i] - 48
            if a > 0x7FFFFFFF // 10 or a * 10 > 0x7FFFFFFF - d:
                raise _Error("integral size overflow")
            a = a * 10 + d
            i += 1
        return a, i

    def _optsize(self, opt, fmt, i):
        size = _SIZES.get(opt)
        if size is not None:
            return size, i
        if opt == "c":
            return self._getnum(fmt, i, 1)
        if opt in ("i", "I"):
            sz, i = self._getnum(fmt, i, 4)
            if sz > _MAXINTSIZE:
                raise _Error(f"integral size {sz} is larger than limit of {_MAXINTSIZE}")
            return sz, i
        return 0, i

    @staticmethod
    def _toalign(length, align, opt, size):
        if size == 0 or opt == "c":
            return 0
        if size > align:
            size = align
        return (size - (length & (size - 1))) & (size - 1)

    def _control(self, opt, fmt, i, h):
        if opt == " ":
            return i
        if opt == ">":
            h[0] = "big"
        elif opt == "<":
            h[0] = "little"
        elif opt == "!":
            a, i = self._getnum(fmt, i, _MAXALIGN)
            if not (a > 0 and a & (a - 1) == 0):
                raise _Error(f"alignment {a} is not a power of 2")
            h[1] = a
        else:
            raise _ArgError(1, "invalid format option '%s'" % opt)
        return i

    def _run(self, fn, negz, args):
        self.negz = {int(i) - 1 for i in negz.split(b",") if i} if negz else ()
        try:
            return fn(args)
        except _ArgError as e:
            return _ARGERR, e.narg, e.msg.encode()
        except _Error as e:
            return _ERR, str(e).encode()

    def struct_pack(self, negz, *args):
        return self._run(self._pack, negz, args)

    def struct_unpack(self, negz, *args):
        return self._run(self._unpack, negz, args)

    def struct_size(self, negz, *args):
        return self._run(self._size, negz, args)

    def _pack(self, args):
        fmt = self.string(args, 0)
        args = args + (None,)  # lstruct pushes a nil mark after its arguments
        h = ["little", 1]
        arg = 1
        out = bytearray()
        total = 0
        i = 0
        while i < len(fmt):
            opt = chr(fmt[i])
            i += 1
            size, i = self._optsize(opt, fmt, i)
            pad = self._toalign(total, h[1], opt, size)
            total += pad
            out += b"\0" * pad
            if opt in "bBhHlLTiI":
                n = self.number(args, arg)
                arg += 1
                out += _int_bytes(n, size, h[0])
            elif opt == "x":
                out += b"\0"
            elif opt == "f":
                n = float(self.number(args, arg))
                arg += 1
                try:
                    raw = _st.pack("<f", n)
                except OverflowError:
                    raw = _st.pack("<f", n * float("inf"))
                out += raw if h[0] == "little" else raw[::-1]
            elif opt == "d":
                n = float(self.number(args, arg))
                arg += 1
                raw = _D.pack(n)
                out += raw if h[0] == "little" else raw[::-1]
            elif opt in ("c", "s"):
                s = self.string(args, arg)
                arg += 1
                if size == 0:
                    size = len(s)
                if len(s) < size:
                    raise _ArgError(arg + 1, "string too short")
                out += s[:size]
                if opt == "s":
                    out += b"\0"
                    size += 1
            else:
                i = self._control(opt, fmt, i, h)
            total += size
        return 0, bytes(out)

    def _unpack(self, args):
        fmt = self.string(args, 0)
        data = self.string(args, 1)
        ld = len(data)
        pos = 1
        if len(args) > 2 and args[2] is not None:
            pos = _c_int64(self.number(args, 2))
        pos %= 1 << 64  # size_t
        if pos == 0:
            raise _ArgError(3, "offset must be 1 or greater")
        pos -= 1
        h = ["little", 1]
        res = []
        i = 0
        while i < len(fmt):
            opt = chr(fmt[i])
            i += 1
            size, i = self._optsize(opt, fmt, i)
            pos += self._toalign(pos, h[1], opt, size)
            if not (size <= ld and pos <= ld - size):
                raise _ArgError(2, "data string too short")
            if opt in "bBhHlLTiI":
                chunk = data[pos:pos + size]
                v = int.from_bytes(chunk[-8:] if h[0] == "big" else chunk[:8], h[0])
                if opt.islower():
                    shift = (size * 8 - 1) & 63
                    mask = (0xFFFFFFFFFFFFFFFF << shift) & 0xFFFFFFFFFFFFFFFF
                    if v & mask:
                        v |= mask
                    if v & 0x8000000000000000:
                        v -= 1 << 64
                res.append(float(v))
            elif opt == "x":
                pass
            elif opt in ("f", "d"):
                raw = data[pos:pos + size]
                if h[0] == "big":
                    raw = raw[::-1]
                res.append(_st.unpack("<f" if opt == "f" else "<d", raw)[0])
            elif opt == "c":
                if size == 0:
                    prev = res[-1] if res else None
                    if type(prev) is bytes:
                        prev = self.tonumber(prev)
                    if prev is None or type(prev) is bool:
                        raise _Error("format 'c0' needs a previous size")
                    res.pop()
                    size = _c_uint64(prev)
                    if not (size <= ld and pos <= ld - size):
                        raise _ArgError(2, "data string too short")
                res.append(data[pos:pos + size])
            elif opt == "s":
                e = data.find(b"\0", pos)
                if e < 0:
                    raise _Error("unfinished string in data")
                size = e - pos + 1
                res.append(data[pos:e])
            else:
                i = self._control(opt, fmt, i, h)
            pos += size
        nxt = (pos + 1) % (1 << 64)
        if nxt >= 1 << 63:
            nxt -= 1 << 64
        return (0, *res, nxt)

    def _size(self, args):
        fmt = self.string(args, 0)
        h = ["little", 1]
        pos = 0
        i = 0
        while i < len(fmt):
            opt = chr(fmt[i])
            i += 1
            size, i = self._optsize(opt, fmt, i)
            pos += self._toalign(pos, h[1], opt, size)
            if opt == "s":
                raise _ArgError(1, "option 's' has no fixed size")
            if opt == "c" and size == 0:
                raise _ArgError(1, "option 'c0' has no fixed size")
            if not opt.isalnum():
                i = self._control(opt, fmt, i, h)
            pos += size
        return 0, pos

    # -- cmsgpack numbers
    @staticmethod
    def encode_double(d):
        try:
            f = _st.pack(">f", d)
            if _st.unpack(">f", f)[0] == d:
                return b"\xca" + f
        except OverflowError:
            pass
        return b"\xcb" + _st.pack(">d", d)

    @staticmethod
    def encode_int64(n):
        n = int(n)
        if n >= 0:
            return b"\xcf" + n.to_bytes(8, "big")
        return b"\xd3" + n.to_bytes(8, "big", signed=True)

    @staticmethod
    def decode_num(tag, raw):
        if tag == 0xCA:
            return _st.unpack(">f", raw)[0]
        if tag == 0xCB:
            return _st.unpack(">d", raw)[0]
        v = int.from_bytes(raw, "big")
        if v >= 1 << 63:  # uint64 goes through a signed lua_Integer; int64 is signed
            v -= 1 << 64
        return float(v)


def _c_int64(x):
    """C's (int64_t) conversion of a double on x86-64 (out of range: INT64_MIN)."""
    if x != x or not -9223372036854775808 <= x < 9223372036854775808:
        return -9223372036854775808
    return int(x)


def _c_uint64(x):
    """C's (uint64_t) conversion of a double as gcc does it on x86-64."""
    if x != x or x < 9223372036854775808:
        return _c_int64(x) & 0xFFFFFFFFFFFFFFFF
    return (_c_int64(x - 9223372036854775808) ^ (1 << 63)) & 0xFFFFFFFFFFFFFFFF


def _int_bytes(n, size, endian):
    """lstruct's putinteger: the number as an unsigned long, low bytes first, zero-filled."""
    if n < 0:
        value = _c_int64(n) & 0xFFFFFFFFFFFFFFFF
    else:
        value = _c_uint64(n)
    out = bytearray(size)
    for k in range(min(size, 8)):
        out[k] = value & 0xFF
        value >>= 8
    return bytes(out) if endian == "little" else bytes(reversed(out))


_OP_CALL, _OP_TAILCALL = 28, 29


def untail_bytecode(chunk: bytes) -> bytes:
    """A Lua 5.1 binary chunk (``string.dump``) with every OP_TAILCALL turned into OP_CALL.

    ``return f(x)`` compiles to TAILCALL A B 0 followed by RETURN A 0; as CALL A B 0 the
    results are left on the stack and the RETURN that follows returns them, so the meaning is
    the same, but the caller's frame stays on the stack. That is what makes errors raised by
    the (Lua) library functions look like errors from Redis's C functions, which Lua never
    tail-calls: the message keeps its "user_script:N:" prefix and argument errors name the
    function. The cost: unbounded tail recursion in a script now ends in "stack overflow".
    """
    b = bytearray(chunk)
    if b[:4] != b"\x1bLua" or b[4] != 0x51:
        raise ValueError("not a Lua 5.1 binary chunk")
    little = b[6] == 1
    int_size, size_t_size, ins_size, num_size = b[7], b[8], b[9], b[10]
    order = "little" if little else "big"
    pos = 12

    def integer(size):
        nonlocal pos
        v = int.from_bytes(b[pos:pos + size], order)
        pos += size
        return v

    def string():
        nonlocal pos
        n = integer(size_t_size)
        pos += n

    def function():
        nonlocal pos
        string()                      # source
        pos += 2 * int_size + 4       # linedefined, lastlinedefined, nups..maxstacksize
        n = integer(int_size)
        for _ in range(n):
            ins = int.from_bytes(b[pos:pos + ins_size], order)
            if ins & 0x3F == _OP_TAILCALL:
                ins = (ins & ~0x3F) | _OP_CALL
                b[pos:pos + ins_size] = ins.to_bytes(ins_size, order)
            pos += ins_size
        for _ in range(integer(int_size)):  # constants
            t = b[pos]
            pos += 1
            if t == 1:
                pos += 1
            elif t == 3:
                pos += num_size
            elif t == 4:
                string()
        for _ in range(integer(int_size)):  # nested functions
            function()
        n = integer(int_size)         # lineinfo
        pos += n * int_size
        for _ in range(integer(int_size)):  # locvars
            string()
            pos += 2 * int_size
        for _ in range(integer(int_size)):  # upvalue names
            string()

    function()
    if pos != len(b):
        raise ValueError("unexpected Lua 5.1 chunk layout")
    return bytes(b)


class Untailer:
    """``Untailer(lua)(fn, chunkname)``: ``fn`` (a compiled Lua function without upvalues)
    recompiled without tail calls. Create it before the sandbox hides ``string.dump``."""

    def __init__(self, lua):
        self.dump = lua.eval("string.dump")
        self.load = lua.eval("loadstring")

    def __call__(self, fn, chunkname: bytes):
        return self.load(untail_bytecode(self.dump(fn)), chunkname)


def compile_untailed(lua, source: bytes, chunkname: bytes):
    """Compile ``source`` like ``loadstring(source, chunkname)`` (returns ``(None, error)`` on
    a syntax error), then recompile it without tail calls (see ``untail_bytecode``)."""
    fn = lua.eval("loadstring")(source, chunkname)
    if isinstance(fn, tuple):
        return fn
    return Untailer(lua)(fn, chunkname)


def install(lua) -> None:
    """Register the globals cjson, cmsgpack, bit and struct in the lupa Lua 5.1 runtime."""
    if not isinstance(lua.eval("'x'"), bytes):
        raise ValueError("the Lua runtime must be created with encoding=None")
    h = _Helpers(lua)
    load = lua.eval("loadstring")
    py = lua.table_from({
        b"bitop": h.bitop, b"struct_pack": h.struct_pack, b"struct_unpack": h.struct_unpack,
        b"struct_size": h.struct_size, b"encode_double": h.encode_double,
        b"encode_int64": h.encode_int64, b"decode_num": h.decode_num,
    })

    def run(src, *args):
        fn = load(src.encode(), LIB_SOURCE.encode())
        if isinstance(fn, tuple):
            raise RuntimeError("lualibs: Lua source failed to load: %r" % (fn[1],))
        return fn(*args)

    support = run(_SUPPORT, py)
    g = lua.globals()
    g.cjson = run(lib_cjson.LUA, support)
    g.cmsgpack = run(lib_cmsgpack.LUA, support)
    g.bit = run(_BIT, support)
    g.struct = run(_STRUCT, support)
