"""The ``cmsgpack`` library, reimplemented in Lua: the API and encodings of lua-cmsgpack 0.4.0
as Redis 7.2.4 bundles it.

Pure Lua except for the IEEE float/double and 64-bit integer conversions, which call small
Python helpers (see ``libs.py``). Behaviour follows ``deps/lua/src/lua_cmsgpack.c``: a number
that equals its int64 conversion is packed as the smallest integer encoding (positive
fixnum, uint8/16/32/64, negative fixnum, int8/16/32/64), any other number as a 4-byte float
when the float conversion is exact, else as a double; strings use fixraw/str8/raw16/raw32; a
table whose keys are exactly 1..N packs as an array (the empty table too), anything else as a
map in ``next()`` order; tables nested 16 deep, functions, userdata and nil pack as nil.
``pack`` takes several values and concatenates them; ``unpack`` returns every value,
``unpack_one(s, offset)`` / ``unpack_limit(s, limit, offset)`` return the next offset (-1 at
the end) first. Errors: "Missing bytes in input.", "Bad data format in input.".
"""

LUA = r'''
local S = ...
local argerror, typename = S.argerror, S.typename
local encode_double, encode_int64, decode_num = S.encode_double, S.encode_int64, S.decode_num
-- next stays global: the sandbox's version sees through its read-only proxies.
local type, rawset, select, error, unpack, pcall, tostring =
      type, rawset, select, error, unpack, pcall, tostring
local floor, huge = math.floor, math.huge
local char, byte, sub, format = string.char, string.byte, string.sub, string.format
local concat = table.concat

local function be16(n) return char(floor(n / 256), n % 256) end
local function be32(n)
  return char(floor(n / 16777216), floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end

local function enc_number(n)
  if n == n and n ~= huge and n ~= -huge and floor(n) == n
     and n >= -9223372036854775808 and n < 9223372036854775808 then
    if n >= 0 then
      if n <= 127 then return char(n) end
      if n <= 255 then return '\204' .. char(n) end
      if n <= 65535 then return '\205' .. be16(n) end
      if n <= 4294967295 then return '\206' .. be32(n) end
    else
      if n >= -32 then return char(n + 256) end
      if n >= -128 then return '\208' .. char(n + 256) end
      if n >= -32768 then return '\209' .. be16(n + 65536) end
      if n >= -2147483648 then return '\210' .. be32(n + 4294967296) end
    end
    return encode_int64(n)
  end
  return encode_double(n)
end

local function enc_len(n, fix, b16, b32)
  if n <= 15 then return char(fix + n) end
  if n <= 65535 then return b16 .. be16(n) end
  return b32 .. be32(n)
end

local encode
local function is_array(t)
  local count, max = 0, 0
  for k in next, t do
    if type(k) ~= 'number' or k <= 0 or floor(k) ~= k or k >= 2147483648 then
      return false
    end
    if k > max then max = k end
    count = count + 1
  end
  return max == count and count
end

encode = function(v, level, buf, nb)
  local t = type(v)
  if t == 'table' and level == 16 then t = 'nil' end
  if t == 'string' then
    local n = #v
    local hdr
    if n < 32 then hdr = char(0xa0 + n)
    elseif n <= 255 then hdr = '\217' .. char(n)
    elseif n <= 65535 then hdr = '\218' .. be16(n)
    else hdr = '\219' .. be32(n) end
    nb = nb + 1; buf[nb] = hdr
    nb = nb + 1; buf[nb] = v
  elseif t == 'boolean' then
    nb = nb + 1; buf[nb] = v and '\195' or '\194'
  elseif t == 'number' then
    nb = nb + 1; buf[nb] = enc_number(v)
  elseif t == 'table' then
    local n = is_array(v)   -- keys exactly 1..n: n is also #v
    if n then
      nb = nb + 1; buf[nb] = enc_len(n, 0x90, '\220', '\221')
      for j = 1, n do nb = encode(v[j], level + 1, buf, nb) end
    else
      local n = 0
      for _ in next, v do n = n + 1 end
      nb = nb + 1; buf[nb] = enc_len(n, 0x80, '\222', '\223')
      for k, val in next, v do
        nb = encode(k, level + 1, buf, nb)
        nb = encode(val, level + 1, buf, nb)
      end
    end
  else
    nb = nb + 1; buf[nb] = '\192'
  end
  return nb
end

local M = {}

function M.pack(...)
  local nargs = select('#', ...)
  if nargs == 0 then argerror(0, 'MessagePack pack needs input.', 2) end
  local buf, nb = {}, 0
  for i = 1, nargs do
    nb = encode((select(i, ...)), 0, buf, nb)
  end
  return concat(buf, '', 1, nb)
end

-- Decoding. A cursor is (s, pos, last); errors travel as the string 'EOF' or 'BADFMT'.
local decode
local throw = S.throw
local function need(last, pos, n)
  if last - pos + 1 < n then throw('Missing bytes in input.') end
end

local function decode_array(s, pos, last, n)
  local t = {}
  for i = 1, n do
    local v
    v, pos = decode(s, pos, last)
    t[i] = v
  end
  return t, pos
end

local function decode_map(s, pos, last, n)
  local t = {}
  for _ = 1, n do
    local k, v
    k, pos = decode(s, pos, last)
    v, pos = decode(s, pos, last)
    rawset(t, k, v)
  end
  return t, pos
end

local function u16(s, p) local a, b = byte(s, p, p + 1); return a * 256 + b end
local function u32(s, p)
  local a, b, c, d = byte(s, p, p + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

decode = function(s, pos, last)
  need(last, pos, 1)
  local c = byte(s, pos)
  if c <= 0x7f then return c, pos + 1 end
  if c >= 0xe0 then return c - 256, pos + 1 end
  if c >= 0xa0 and c <= 0xbf then
    local l = c - 0xa0
    need(last, pos, 1 + l)
    return sub(s, pos + 1, pos + l), pos + 1 + l
  end
  if c >= 0x90 and c <= 0x9f then return decode_array(s, pos + 1, last, c - 0x90) end
  if c >= 0x80 and c <= 0x8f then return decode_map(s, pos + 1, last, c - 0x80) end
  if c == 0xcc then need(last, pos, 2); return byte(s, pos + 1), pos + 2 end
  if c == 0xd0 then
    need(last, pos, 2)
    local b = byte(s, pos + 1)
    if b >= 128 then b = b - 256 end
    return b, pos + 2
  end
  if c == 0xcd then need(last, pos, 3); return u16(s, pos + 1), pos + 3 end
  if c == 0xd1 then
    need(last, pos, 3)
    local v = u16(s, pos + 1)
    if v >= 32768 then v = v - 65536 end
    return v, pos + 3
  end
  if c == 0xce then need(last, pos, 5); return u32(s, pos + 1), pos + 5 end
  if c == 0xd2 then
    need(last, pos, 5)
    local v = u32(s, pos + 1)
    if v >= 2147483648 then v = v - 4294967296 end
    return v, pos + 5
  end
  if c == 0xcf or c == 0xd3 or c == 0xcb then
    need(last, pos, 9)
    return decode_num(c, sub(s, pos + 1, pos + 8)), pos + 9
  end
  if c == 0xca then
    need(last, pos, 5)
    return decode_num(c, sub(s, pos + 1, pos + 4)), pos + 5
  end
  if c == 0xc0 then return nil, pos + 1 end
  if c == 0xc3 then return true, pos + 1 end
  if c == 0xc2 then return false, pos + 1 end
  if c == 0xd9 then
    need(last, pos, 2)
    local l = byte(s, pos + 1)
    need(last, pos, 2 + l)
    return sub(s, pos + 2, pos + 1 + l), pos + 2 + l
  end
  if c == 0xda then
    need(last, pos, 3)
    local l = u16(s, pos + 1)
    need(last, pos, 3 + l)
    return sub(s, pos + 3, pos + 2 + l), pos + 3 + l
  end
  if c == 0xdb then
    need(last, pos, 5)
    local l = u32(s, pos + 1)
    need(last, pos + 5, l)
    return sub(s, pos + 5, pos + 4 + l), pos + 5 + l
  end
  if c == 0xdc then need(last, pos, 3); return decode_array(s, pos + 3, last, u16(s, pos + 1)) end
  if c == 0xdd then need(last, pos, 5); return decode_array(s, pos + 5, last, u32(s, pos + 1)) end
  if c == 0xde then need(last, pos, 3); return decode_map(s, pos + 3, last, u16(s, pos + 1)) end
  if c == 0xdf then need(last, pos, 5); return decode_map(s, pos + 5, last, u32(s, pos + 1)) end
  throw('Bad data format in input.')
end

-- Decode up to limit values of s after offset bytes (run under pcall by the callers).

local function int32(n)   -- C's (int) cast of an integral value
  n = n % 4294967296
  if n >= 2147483648 then n = n - 4294967296 end
  return n
end

local function unpack_full(s, limit, offset)
  local len = #s
  local decode_all = limit == 0 and offset == 0
  if offset < 0 or limit < 0 then
    throw(format('Invalid request to unpack with offset of %d and limit of %d.',
                 int32(offset), len))
  elseif offset > len then
    throw(format('Start offset %d greater than input length %d.', int32(offset), len))
  end
  if decode_all then limit = 2147483647 end
  local out, n = {}, 0
  local pos = offset + 1
  while pos <= len and n < limit do
    local v
    v, pos = decode(s, pos, len)
    n = n + 1
    out[n] = v
  end
  if decode_all then return unpack(out, 1, n) end
  return (pos > len) and -1 or (pos - 1), unpack(out, 1, n)
end

local function pack(...) return {n = select('#', ...), ...} end
local function run(s, limit, offset)
  local r = pack(pcall(unpack_full, s, limit, offset))
  if not r[1] then S.rethrow(r[2], 3) end
  return r
end

local function checkstring(s, level)
  local t = type(s)
  if t == 'string' then return s end
  if t == 'number' then return tostring(s) end
  argerror(1, 'string expected, got ' .. typename(s, select('#', s) > 0), level + 1)
end

function M.unpack(...)
  local s = ...
  if select('#', ...) == 0 then argerror(1, 'string expected, got no value', 2) end
  s = checkstring(s, 2)
  local r = run(s, 0, 0)
  return unpack(r, 2, r.n)
end

function M.unpack_one(...)
  local s, offset = ...
  local nargs = select('#', ...)
  if offset == nil then offset = 0 else offset = S.checkinteger(offset, 2, 2) end
  if nargs == 0 then argerror(1, 'string expected, got no value', 2) end
  s = checkstring(s, 2)
  local r = run(s, 1, offset)
  return unpack(r, 2, r.n)
end

function M.unpack_limit(...)
  local s, limit, offset = ...
  local nargs = select('#', ...)
  if nargs < 2 then argerror(2, 'number expected, got no value', 2) end
  limit = S.checkinteger(limit, 2, 2)
  if offset == nil then offset = 0 else offset = S.checkinteger(offset, 3, 2) end
  if nargs == 0 then argerror(1, 'string expected, got no value', 2) end
  s = checkstring(s, 2)
  local r = run(s, limit, offset)
  return unpack(r, 2, r.n)
end

M._NAME = 'cmsgpack'
M._VERSION = 'lua-cmsgpack 0.4.0'
-- Our own code: the copyright line of Redis's C library would not describe it.
M._COPYRIGHT = 'valkeyd (a Lua reimplementation of the lua-cmsgpack 0.4.0 API)'
M._DESCRIPTION = 'MessagePack C implementation for Lua'
return M
'''
