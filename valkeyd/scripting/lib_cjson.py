"""Lua source of the ``cjson`` library (lua-cjson 2.1.0 as bundled with Redis 7.2.4).

Pure Lua, run in the script runtime by :func:`valkeyd.scripting.libs.install`. Behaviour
follows Redis's ``deps/lua/src/lua_cjson.c``: array detection by integer keys with the
sparse-array rule (ratio 2, safe 10), ``%.14g`` numbers (``encode_number_precision``), ``/``
escaped as ``\\/``, control characters as ``\\u00XX``, a tokenizer that reports errors as
"Expected <what> but found <token> at character <n>" with C-string semantics (input ends at
the first NUL byte), numbers read the way ``strtod`` reads them (hex, inf, nan accepted while
``decode_invalid_numbers`` is on, its default), nesting limits of 1000, and per-instance
configuration (``cjson.new()``). ``cjson.null`` is a unique userdata (Redis uses a NULL
lightuserdata): it decodes from ``null``, encodes to ``null`` and is sent to clients as a nil
reply like any userdata.
"""

LUA = r'''
local S = ...
local argerror, typename, null, throw, rethrow = S.argerror, S.typename, S.null, S.throw,
  S.rethrow
local pcall, unpack = pcall, unpack
-- next and rawget stay globals: the sandbox's versions see through its read-only proxies.
local type, rawset, select, tostring, tonumber, error =
      type, rawset, select, tostring, tonumber, error
local floor, huge = math.floor, math.huge
local format, byte, sub, find, gsub, char, lower =
      string.format, string.byte, string.sub, string.find, string.gsub, string.char, string.lower
local match = string.match
local concat = table.concat

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b',
                  ['\t'] = '\\t', ['\n'] = '\\n', ['\f'] = '\\f', ['\r'] = '\\r' }
for i = 0, 31 do
  local c = char(i)
  if not escapes[c] then escapes[c] = format('\\u%04x', i) end
end
escapes['\127'] = '\\u007f'

local function escape(s)
  if not find(s, '[%c"\\/]') then return '"' .. s .. '"' end
  return '"' .. gsub(s, '[%c"\\/]', escapes) .. '"'
end

-- token types (names as lua_cjson.c prints them)
local T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END, T_STRING, T_NUMBER, T_BOOLEAN,
      T_NULL, T_COLON, T_COMMA, T_END, T_ERROR = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13
local token_names = { 'T_OBJ_BEGIN', 'T_OBJ_END', 'T_ARR_BEGIN', 'T_ARR_END', 'T_STRING',
  'T_NUMBER', 'T_BOOLEAN', 'T_NULL', 'T_COLON', 'T_COMMA', 'T_END', 'T_WHITESPACE',
  'T_ERROR', 'T_UNKNOWN' }
local single = { [123] = T_OBJ_BEGIN, [125] = T_OBJ_END, [91] = T_ARR_BEGIN,
                 [93] = T_ARR_END, [44] = T_COMMA, [58] = T_COLON }
-- characters that start a token needing more work (lua_cjson's T_UNKNOWN)
local unknown = { [102] = true, [105] = true, [73] = true, [110] = true, [78] = true,
                  [116] = true, [34] = true, [43] = true, [45] = true }
for i = 48, 57 do unknown[i] = true end
local esc2char = { [34] = '"', [92] = '\\', [47] = '/', [98] = '\b', [116] = '\t',
                   [110] = '\n', [102] = '\f', [114] = '\r' }

-- Length of the longest prefix of s at p that C strtod() accepts (0: none).
local function strtod_len(s, p)
  local i = p
  local c = byte(s, i)
  if c == 43 or c == 45 then i = i + 1 end
  local w = lower(sub(s, i, i + 2))
  if w == 'inf' then
    if lower(sub(s, i, i + 7)) == 'infinity' then return i + 8 - p end
    return i + 3 - p
  elseif w == 'nan' then
    local j = i + 3
    if byte(s, j) == 40 then
      local _, e = find(s, '^[%w_]*%)', j + 1)
      if e then j = e + 1 end
    end
    return j - p
  end
  if lower(sub(s, i, i + 1)) == '0x' and find(s, '^%.?%x', i + 2) then
    local j = i + 2
    local _, e = find(s, '^%x*', j); j = e + 1
    if byte(s, j) == 46 then _, e = find(s, '^%x*', j + 1); j = e + 1 end
    _, e = find(s, '^[pP][-+]?%d+', j)
    if e then j = e + 1 end
    return j - p
  end
  local _, e = find(s, '^%d*', i)
  local j = e + 1
  local digits = j > i
  if byte(s, j) == 46 then
    _, e = find(s, '^%d*', j + 1)
    if e >= j + 1 then digits = true end
    j = e + 1
  end
  if not digits then return 0 end
  _, e = find(s, '^[eE][-+]?%d+', j)
  if e then j = e + 1 end
  return j - p
end

-- lua_cjson's json_is_invalid_number(): numbers strict JSON does not allow.
local function invalid_number(s, p)
  local c = byte(s, p)
  if c == 43 then return true end
  if c == 45 then p = p + 1; c = byte(s, p) end
  if c == 48 then
    local c2 = byte(s, p + 1)
    return c2 ~= nil and (c2 == 120 or c2 == 88 or (c2 >= 48 and c2 <= 57))
  elseif c == nil or c <= 57 then
    return false
  end
  local w = lower(sub(s, p, p + 2))
  return w == 'inf' or w == 'nan'
end

local function utf8(cp)
  if cp <= 0x7F then return char(cp) end
  if cp <= 0x7FF then return char(floor(cp / 64) + 0xC0, cp % 64 + 0x80) end
  if cp <= 0xFFFF then
    return char(floor(cp / 4096) + 0xE0, floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
  end
  return char(floor(cp / 262144) + 0xF0, floor(cp / 4096) % 64 + 0x80,
              floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
end

local function hex4(s, p)
  local h = sub(s, p, p + 3)
  if find(h, '^%x%x%x%x$') then return tonumber(h, 16) end
  return nil
end

local function new(self_new)
  local cfg = { sparse_convert = 0, sparse_ratio = 2, sparse_safe = 10,
                encode_max_depth = 1000, decode_max_depth = 1000,
                encode_invalid = 0, decode_invalid = 1, keep_buffer = 1,
                precision = 14, numfmt = '%.14g' }

  local function number(n)
    if n ~= n or n == huge or n == -huge then
      local mode = cfg.encode_invalid
      if mode == 0 then
        throw('Cannot serialise number: must not be NaN or Inf')
      elseif mode == 1 then
        if n ~= n then return 'nan' end
      else
        return 'null'
      end
    end
    return format(cfg.numfmt, n)
  end

  local append
  local function append_table(t, depth, buf, nb)
    depth = depth + 1
    if depth > cfg.encode_max_depth then
      throw(format('Cannot serialise, excessive nesting (%d)', depth))
    end
    local max, items, len = 0, 0, nil
    for k in next, t do
      if type(k) == 'number' and k >= 1 and floor(k) == k then
        if k > max then
          if k >= 2147483648 then max = -2147483648 else max = k end
        end
        items = items + 1
      else
        len = -1
        break
      end
    end
    if not len then
      len = max
      local ratio = cfg.sparse_ratio
      if ratio > 0 and max > items * ratio and max > cfg.sparse_safe then
        if cfg.sparse_convert == 0 then
          throw('Cannot serialise table: excessively sparse array')
        end
        len = -1
      end
    end
    if len > 0 then
      nb = nb + 1; buf[nb] = '['
      for i = 1, len do
        if i > 1 then nb = nb + 1; buf[nb] = ',' end
        nb = append(rawget(t, i), depth, buf, nb)
      end
      nb = nb + 1; buf[nb] = ']'
    else
      nb = nb + 1; buf[nb] = '{'
      local comma = false
      for k, v in next, t do
        if comma then nb = nb + 1; buf[nb] = ',' else comma = true end
        local kt = type(k)
        if kt == 'number' then
          nb = nb + 1; buf[nb] = '"' .. number(k) .. '":'
        elseif kt == 'string' then
          nb = nb + 1; buf[nb] = escape(k) .. ':'
        else
          throw('Cannot serialise ' .. kt .. ': table key must be a number or string')
        end
        nb = append(v, depth, buf, nb)
      end
      nb = nb + 1; buf[nb] = '}'
    end
    return nb
  end

  append = function(v, depth, buf, nb)
    local t = type(v)
    if t == 'string' then
      nb = nb + 1; buf[nb] = escape(v)
    elseif t == 'number' then
      nb = nb + 1; buf[nb] = number(v)
    elseif t == 'boolean' then
      nb = nb + 1; buf[nb] = v and 'true' or 'false'
    elseif t == 'table' then
      return append_table(v, depth, buf, nb)
    elseif v == nil or v == null then
      nb = nb + 1; buf[nb] = 'null'
    else
      throw('Cannot serialise ' .. t .. ': type not supported')
    end
    return nb
  end

  local function encode_value(v)
    if type(v) == 'number' then return number(v) end
    local buf = {}
    local nb = append(v, 0, buf, 0)
    return concat(buf, '', 1, nb)
  end

  local M = {}

  function M.encode(...)
    if select('#', ...) ~= 1 then argerror(1, 'expected 1 argument', 2) end
    local v = ...
    local t = type(v)
    if t == 'string' then return escape(v) end
    local ok, r = pcall(encode_value, v)
    if not ok then rethrow(r, 2) end
    return r
  end

  function M.decode(...)
    if select('#', ...) ~= 1 then argerror(1, 'expected 1 argument', 2) end
    local s = ...
    local st = type(s)
    if st == 'number' then s = tostring(s)
    elseif st ~= 'string' then argerror(1, 'string expected, got ' .. typename(s, true), 2) end
    if #s >= 2 and (byte(s, 1) == 0 or byte(s, 2) == 0) then
      S.raise('JSON parser does not support UTF-16 or UTF-32', 2)
    end
    local z = find(s, '\0', 1, true)
    if z then s = sub(s, 1, z - 1) end
    local slen = #s
    local pos = 1
    local decode_invalid = cfg.decode_invalid
    local maxdepth = cfg.decode_max_depth

    local function number_token(p)
      local _, e = find(s, '^-?%d+', p)
      if e then
        local c = byte(s, e + 1)
        if c ~= 46 and c ~= 101 and c ~= 69 and c ~= 120 and c ~= 88 then
          pos = e + 1
          return T_NUMBER, tonumber(sub(s, p, e)), p
        end
      end
      local n = strtod_len(s, p)
      if n == 0 then return T_ERROR, 'invalid number', p end
      pos = p + n
      return T_NUMBER, tonumber(sub(s, p, p + n - 1)), p
    end

    local function string_token(p)
      local i = p + 1
      local q = find(s, '["\\]', i)
      if q and byte(s, q) == 34 then
        pos = q + 1
        return T_STRING, sub(s, i, q - 1), p
      end
      local parts, np = {}, 0
      while true do
        local q = find(s, '["\\]', i)
        if not q then return T_ERROR, 'unexpected end of string', slen + 1 end
        if q > i then np = np + 1; parts[np] = sub(s, i, q - 1) end
        if byte(s, q) == 34 then
          pos = q + 1
          return T_STRING, concat(parts, '', 1, np), p
        end
        local e = byte(s, q + 1)
        if e == 117 then
          local cp = hex4(s, q + 2)
          local adv = 6
          if cp and cp >= 0xD800 and cp <= 0xDFFF then
            if cp >= 0xDC00 then
              cp = nil
            elseif sub(s, q + 6, q + 7) ~= '\\u' then
              cp = nil
            else
              local lo = hex4(s, q + 8)
              if lo and lo >= 0xDC00 and lo <= 0xDFFF then
                cp = (cp - 0xD800) * 1024 + (lo - 0xDC00) + 0x10000
                adv = 12
              else
                cp = nil
              end
            end
          end
          if not cp then return T_ERROR, 'invalid unicode escape code', q end
          np = np + 1; parts[np] = utf8(cp)
          i = q + adv
        else
          local c = esc2char[e]
          if not c then return T_ERROR, 'invalid escape code', q end
          np = np + 1; parts[np] = c
          i = q + 2
        end
      end
    end

    local function next_token()
      local p = find(s, '[^ \t\n\r]', pos)
      if not p then pos = slen + 1; return T_END, nil, pos end
      pos = p
      local c = byte(s, p)
      local tt = single[c]
      if tt then pos = p + 1; return tt, nil, p end
      if not unknown[c] then return T_ERROR, 'invalid token', p end
      if c == 34 then return string_token(p) end
      if c == 45 or (c >= 48 and c <= 57) then
        if decode_invalid == 0 and invalid_number(s, p) then
          return T_ERROR, 'invalid number', p
        end
        return number_token(p)
      end
      if sub(s, p, p + 3) == 'true' then pos = p + 4; return T_BOOLEAN, true, p end
      if sub(s, p, p + 4) == 'false' then pos = p + 5; return T_BOOLEAN, false, p end
      if sub(s, p, p + 3) == 'null' then pos = p + 4; return T_NULL, nil, p end
      if decode_invalid ~= 0 and invalid_number(s, p) then return number_token(p) end
      return T_ERROR, 'invalid token', p
    end

    local function parse_error(expected, tt, tv, ti)
      local found = tt == T_ERROR and tv or token_names[tt]
      throw(format('Expected %s but found %s at character %d', expected, found, ti))
    end

    local value
    local function descend(depth)
      if depth > maxdepth then
        throw(format('Found too many nested data structures (%d) at character %d',
                     depth, pos - 1))
      end
    end

    -- Fast paths match a plain key and its colon, or a separator, with one pattern; when
    -- they do not match, the tokenizer runs (and reports the error, if any).
    local function object_key()
      local k, e = match(s, '^[ \t\n\r]*"([^"\\]*)"[ \t\n\r]*:()', pos)
      if k then pos = e; return k end
      local tt, tv, ti = next_token()
      if tt ~= T_STRING then parse_error('object key string', tt, tv, ti) end
      local key = tv
      tt, tv, ti = next_token()
      if tt ~= T_COLON then parse_error('colon', tt, tv, ti) end
      return key
    end

    local function object(depth)
      depth = depth + 1
      descend(depth)
      local t = {}
      local e = match(s, '^[ \t\n\r]*}()', pos)
      if e then pos = e; return t end
      while true do
        local key = object_key()
        rawset(t, key, value(depth, next_token()))
        local c
        c, e = match(s, '^[ \t\n\r]*([,}])()', pos)
        if not c then parse_error('comma or object end', next_token()) end
        pos = e
        if c == '}' then return t end
      end
    end

    local function array(depth)
      depth = depth + 1
      descend(depth)
      local t = {}
      local tt, tv, ti = next_token()
      if tt == T_ARR_END then return t end
      local i = 1
      while true do
        rawset(t, i, value(depth, tt, tv, ti))
        local c, e = match(s, '^[ \t\n\r]*([,%]])()', pos)
        if not c then parse_error('comma or array end', next_token()) end
        pos = e
        if c == ']' then return t end
        tt, tv, ti = next_token()
        i = i + 1
      end
    end

    value = function(depth, tt, tv, ti)
      if tt == T_STRING or tt == T_NUMBER or tt == T_BOOLEAN then return tv end
      if tt == T_OBJ_BEGIN then return object(depth) end
      if tt == T_ARR_BEGIN then return array(depth) end
      if tt == T_NULL then return null end
      parse_error('value', tt, tv, ti)
    end

    local function run()
      local v = value(0, next_token())
      local tt, tv, ti = next_token()
      if tt ~= T_END then parse_error('the end', tt, tv, ti) end
      return v
    end
    local ok, r = pcall(run)
    if not ok then rethrow(r, 2) end
    return r
  end

  -- configuration functions (json_arg_init + json_*_option)
  local function arg_init(name, nargs, ...)
    if select('#', ...) > nargs then argerror(nargs + 1, 'found too many arguments', 3) end
  end

  local function integer_option(v, idx, key, min, max)
    if v ~= nil then
      local n = S.checkinteger(v, idx, 3) % 4294967296
      if n >= 2147483648 then n = n - 4294967296 end
      if not (min <= n and n <= max) then
        argerror(1, format('expected integer between %d and %d', min, max), 3)
      end
      cfg[key] = n
    end
    return cfg[key]
  end

  local function enum_option(v, idx, key, options)
    options = options or { 'off', 'on' }
    if v ~= nil then
      if type(v) == 'boolean' then
        cfg[key] = v and 1 or 0
      else
        local sv = S.checkstring(v, idx, 3)
        local found
        for i = 1, #options do if options[i] == sv then found = i - 1 end end
        if not found then argerror(idx, format("invalid option '%s'", sv), 3) end
        cfg[key] = found
      end
    end
    local n = cfg[key]
    if n == 0 or n == 1 then return n == 1 end
    return options[n + 1]
  end

  function M.encode_sparse_array(...)
    arg_init('encode_sparse_array', 3, ...)
    local a, b, c = ...
    return enum_option(a, 1, 'sparse_convert'),
           integer_option(b, 2, 'sparse_ratio', 0, 2147483647),
           integer_option(c, 3, 'sparse_safe', 0, 2147483647)
  end
  function M.encode_max_depth(...)
    arg_init('encode_max_depth', 1, ...)
    local r = integer_option((...), 1, 'encode_max_depth', 1, 2147483647)
    return r
  end
  function M.decode_max_depth(...)
    arg_init('decode_max_depth', 1, ...)
    local r = integer_option((...), 1, 'decode_max_depth', 1, 2147483647)
    return r
  end
  function M.encode_number_precision(...)
    arg_init('encode_number_precision', 1, ...)
    local r = integer_option((...), 1, 'precision', 1, 14)
    cfg.numfmt = '%.' .. cfg.precision .. 'g'
    return r
  end
  function M.encode_keep_buffer(...)
    arg_init('encode_keep_buffer', 1, ...)
    local r = enum_option((...), 1, 'keep_buffer')
    return r
  end
  function M.encode_invalid_numbers(...)
    arg_init('encode_invalid_numbers', 1, ...)
    local r = enum_option((...), 1, 'encode_invalid', { 'off', 'on', 'null' })
    return r
  end
  function M.decode_invalid_numbers(...)
    arg_init('decode_invalid_numbers', 1, ...)
    local r = enum_option((...), 1, 'decode_invalid')
    return r
  end
  M.new = self_new
  M.null = null
  M._NAME = 'cjson'
  M._VERSION = '2.1.0'
  return M
end

local function cjson_new()
  return new(cjson_new)
end
return cjson_new()
'''
