"""The Lua libraries scripts get (cjson, cmsgpack, bit, struct): each snippet runs (a) in a
lupa Lua 5.1 runtime prepared by valkeyd.scripting.libs.install() and (b) through EVAL on a
real valkey-server 8.0, and the results must be identical.

Both sides run the same script text (chunk name ``@user_script``, data in ARGV); the script
catches errors with pcall and serializes every result with ``dump`` (strings with %q, numbers
with %.17g, table entries sorted (tables as keys hash by address), cjson.null as NULL;
key order is checked through cjson.encode and cmsgpack.pack outputs), so results, encodings
and error messages (with their ``user_script:N:`` prefix) are compared as one string. Scripts
are compiled with compile_untailed (see libs.py), so tail calls keep their caller's frame.
The EVAL tests at the end send the same scripts to valkeyd and to valkey-server.
Hypothesis examples are derandomized, so every run checks the same inputs.
"""
from __future__ import annotations

import json
import os

import lupa.lua51
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valkeyd.scripting.libs import compile_untailed, install

# VALKEYD_LUALIBS_EXAMPLES raises the number of random examples per property.
SETTINGS = settings(max_examples=int(os.environ.get("VALKEYD_LUALIBS_EXAMPLES", "60")),
                    deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

PRELUDE = r"""
local function dump(v)
  local t = type(v)
  if t == 'string' then return string.format('%q', v) end
  if t == 'number' then return string.format('%.17g', v) end
  if t == 'table' then
    local parts = {}
    for k, x in next, v do parts[#parts + 1] = '[' .. dump(k) .. ']=' .. dump(x) end
    table.sort(parts)
    return '{' .. table.concat(parts, ',') .. '}'
  end
  if t == 'userdata' then
    if v == cjson.null then return 'NULL' end
    return 'userdata'
  end
  return tostring(v)
end
local function dumpall(...)
  local out = {}
  for i = 1, select('#', ...) do out[i] = dump((select(i, ...))) end
  return table.concat(out, ' | ')
end
local function body()
"""
EPILOGUE = r"""
end
return dumpall(pcall(body))
"""


def script(snippet: str) -> str:
    return PRELUDE + snippet + EPILOGUE


class Local:
    """The in-process runtime: the script compiled as "@user_script" without tail calls (as
    the scripting core compiles scripts), run with ARGV set."""

    def __init__(self):
        self.lua = lupa.lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True,
                                         register_eval=False, register_builtins=False)
        install(self.lua)
        self.cache = {}

    def run(self, text: str, *argv) -> bytes:
        fn = self.cache.get(text)
        if fn is None:
            fn = compile_untailed(self.lua, text.encode(), b"@user_script")
            assert not isinstance(fn, tuple), fn
            self.cache[text] = fn
        self.lua.globals().ARGV = self.lua.table_from([_b(a) for a in argv])
        return fn()


def _b(v):
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8", "surrogatepass")
    return str(v).encode()


@pytest.fixture(scope="module")
def local():
    return Local()


@pytest.fixture(scope="module")
def vk(ref):
    c = ref.client(2)
    yield c
    c.close()


def both(local, vk, snippet, *argv):
    text = script(snippet)
    ours = local.run(text, *argv)
    theirs = vk.eval(text, 0, *[_b(a) for a in argv])
    assert ours == theirs, (snippet, argv, ours, theirs)
    return ours


# ---------------------------------------------------------------------------------- cjson

ENCODE_CASES = [
    "1", "-0", "0.1", "1/3", "1e300", "-1e-300", "2^53", "2^63", "123456789012345678",
    "'abc'", "'a/b\"c\\\\d'", "'\\0\\1\\31\\127\\128\\255 \\b\\f\\n\\r\\t'", "true", "false",
    "nil", "cjson.null", "{}", "{1,2,3}", "{1,nil,3}", "{[1]=1,[2]=2,[4]=4}",
    "{[1]=1,[20]=2}", "{[11]=1}", "{[10]=1}", "{[3]=1,[4]=2}", "{a=1}", "{a={b={c={}}}}",
    "{[1.5]=1}", "{[0]=1}", "{[-1]=1}", "{1,2,a=3}", "{[1e10]=1,[2]=3}", "{[2^31]=1}",
    "{['1']=1}", "{{},{{}},{a={1}}}", "{x=cjson.null, y={cjson.null}}", "{[1]=true,[2]=false}",
    "{[true]=1}", "{[{}]=1}", "function() end", "tostring", "coroutine.create(tostring)",
    "{f=tostring}", "0/0", "1/0", "-1/0", "{1/0}", "{[1/0]=1}", "{[0.5]=0/0}",
]


@pytest.mark.parametrize("expr", ENCODE_CASES)
def test_cjson_encode(local, vk, expr):
    both(local, vk, f"local v = {expr}\nlocal r = cjson.encode(v)\nreturn r")


def test_cjson_encode_nesting(local, vk):
    both(local, vk, """
local t = {} local cur = t
for i = 1, 1200 do cur[1] = {} cur = cur[1] end
local ok, e = pcall(cjson.encode, t)
local c = {} c[1] = c
local ok2, e2 = pcall(cjson.encode, c)
local d = {} cur = d
for i = 1, 999 do cur[1] = {} cur = cur[1] end
local r = cjson.encode(d)
return ok, e, ok2, e2, #r""")


DECODE_CASES = [
    "1", "-0", "0.1", "1e5", "1E+2", "-1.5e-3", "12345678901234567890", "0x10", "-0x1p4",
    "01", "+1", "1.", ".5", "-", "--1", "1e", "1e+", "inf", "-inf", "Infinity", "-Infinity",
    "nan", "-nan", "NaN", "nan(123)", "infinit", "true", "false", "null", "tru", "nul",
    "fals", "truex", "\"abc\"", "\"a\\/b\\\\c\\\"d\"", "\"\\b\\f\\n\\r\\t\"", "\"\\u00e9\"",
    "\"\\u20AC\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"",
    "\"\\ud83d\\u0041\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\x\"", "\"abc", "\"a\\", "\"\\u0000\"",
    "[]", "{}", "[1,2,3]", "[1,,2]", "[1,2,]", "[1 2]", "[", "]", "{\"a\":1}", "{\"a\" 1}",
    "{\"a\":}", "{a:1}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{1:2}", "[{\"a\":[null,{}]}]",
    " \t\n\r[ 1 , 2 ]\r\n", "[1] x", "[1]\0garbage", "\0[1]", "[\0]", "", " ", "x", "@",
    "[1,2,3]]", "{\"a\":1,\"a\":2}", "[null,null]", "{\"\":\"\"}", "\"\xc3\xa9\xff\"",
    "[1e400]", "[-1e400]", "[4.9e-324]", "[2.2250738585072014e-308]", "0.1e1", "00",
    "-01", "0x", "0xg", "1.5x", "[true,false,null]", "[\"\\u00e9\\u00E9\"]",
    "0x1.8p1", "0x.8", "0x1p", "0X1F", "-0x", "0x1P-2", "1e5x", "-.5", "-.", "0.e1", "1.e",
    "nan(abc_1)", "nan(", "nan(x y)", "INFINITY", "+inf", "+nan", "-Inf", "[-]", "[1,-]",
    "[\"\\/\\b\"]", "{\"a\":1}x", "[1]   ", "   ", "\t\n[\r]",
]


@pytest.mark.parametrize("text", DECODE_CASES)
def test_cjson_decode(local, vk, text):
    both(local, vk, "local v = cjson.decode(ARGV[1])\nreturn v", text)
    both(local, vk, "local v = cjson.decode(ARGV[1])\nlocal r = cjson.encode(v)\nreturn r",
         text)


def test_cjson_decode_nesting(local, vk):
    for n in (999, 1000, 1001, 1500):
        both(local, vk, "local v = cjson.decode(ARGV[1])\nreturn type(v)",
             "[" * n + "]" * n)
        both(local, vk, "local v = cjson.decode(ARGV[1])\nreturn type(v)",
             '{"a":' * n + "1" + "}" * n)


def test_cjson_decode_arguments(local, vk):
    both(local, vk, "local v = cjson.decode(12.5)\nreturn v")
    both(local, vk, "local v = cjson.decode()\nreturn v")
    both(local, vk, "local v = cjson.decode('1', '2')\nreturn v")
    both(local, vk, "local v = cjson.decode({})\nreturn v")
    both(local, vk, "local v = cjson.decode(nil)\nreturn v")
    both(local, vk, "local v = cjson.encode()\nreturn v")
    both(local, vk, "local v = cjson.encode(1, 2)\nreturn v")
    both(local, vk, "local f = cjson.decode\nlocal v = f(true)\nreturn v")
    both(local, vk, "local ok, e = pcall(cjson.decode)\nreturn ok, e")
    both(local, vk, "local v = cjson:decode('1')\nreturn v")


CONFIG_CASES = [
    "c.encode_number_precision(3) return c.encode(math.pi), c.encode({1/3})",
    "return c.encode_number_precision(), c.encode_number_precision(14)",
    "return c.encode_number_precision(0)",
    "return c.encode_number_precision(15)",
    "return c.encode_number_precision('x')",
    "return c.encode_number_precision('7'), c.encode(1/3)",
    "return c.encode_number_precision(1, 2)",
    "return c.encode_sparse_array()",
    "return c.encode_sparse_array(true, 3, 5), c.encode({[20]=1}), c.encode({[1]=1,[4]=1})",
    "c.encode_sparse_array(false, 0) return c.encode({[1000]=1})",
    "return c.encode_sparse_array('on'), c.encode({[100]=1})",
    "return c.encode_sparse_array('maybe')",
    "return c.encode_sparse_array(nil, -1)",
    "return c.encode_sparse_array(nil, nil, 'x')",
    "return c.encode_sparse_array(1, 2, 3, 4)",
    "return c.encode_max_depth(2), c.encode({{}}), pcall(c.encode, {{{}}})",
    "return c.encode_max_depth(0)",
    "return c.decode_max_depth(2), c.decode('[[1]]'), pcall(c.decode, '[[[1]]]')",
    "return c.encode_invalid_numbers()",
    "return c.encode_invalid_numbers(true), c.encode({1/0, -1/0, 0/0}), c.encode({[1/0]=1})",
    "return c.encode_invalid_numbers('null'), c.encode({1/0, 0/0}), c.encode({[0/0]=1})",
    "return c.encode_invalid_numbers('off'), pcall(c.encode, 1/0)",
    "return c.encode_invalid_numbers('x')",
    "return c.decode_invalid_numbers()",
    "return c.decode_invalid_numbers(false), pcall(c.decode, 'nan'), pcall(c.decode, '0x1')",
    "c.decode_invalid_numbers(false) return pcall(c.decode, '-inf'), pcall(c.decode, '01')",
    "c.decode_invalid_numbers(false) return pcall(c.decode, '+1'), pcall(c.decode, 'Inf')",
    "return c.encode_keep_buffer(), c.encode_keep_buffer(false), c.encode({1})",
    "return c.encode_keep_buffer('on'), c.encode_keep_buffer(1)",
    "return c._NAME, c._VERSION, type(c.new), c.null == cjson.null",
    "local d = c.new() c.encode_number_precision(2) return d.encode(1/3), c.encode(1/3)",
    "return c.encode_number_precision(2.9), c.encode(1/3)",
    "return c.encode_max_depth(2^32 + 3), c.encode_max_depth(-2^32 + 3)",
    "return c.encode_sparse_array(nil, 1/0), c.encode_sparse_array(nil, 0/0, -1/0)",
    "return c.encode_max_depth(1/0)",
]


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_cjson_config(local, vk, case):
    both(local, vk, "local c = cjson.new()\n" + case)


def test_cjson_module(local, vk):
    both(local, vk, """
local keys = {}
for k in pairs(cjson) do keys[#keys + 1] = k end
table.sort(keys)
return table.concat(keys, ','), type(cjson.encode), type(cjson.null), tostring(cjson.null),
       cjson.decode('null') == cjson.null, getmetatable(cjson.null) or nil""")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20)


@SETTINGS
@given(value=JSON, ascii_only=st.booleans())
def test_cjson_random_roundtrip(local, vk, value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    both(local, vk, "local v = cjson.decode(ARGV[1])\nlocal r = cjson.encode(v)\n"
         "return r, v", text)


@SETTINGS
@given(text=st.text(alphabet='[]{}":,0123456789.eE+-xtrufalsn \\/u\t\r\n\0INip()', max_size=24))
def test_cjson_random_garbage(local, vk, text):
    both(local, vk, "local v = cjson.decode(ARGV[1])\nreturn v", text)


# ---------------------------------------------------------------------------------- cmsgpack

PACK_CASES = [
    "0", "1", "127", "128", "255", "256", "65535", "65536", "2^32-1", "2^32", "2^53", "2^63 - 2^10",
    "2^63", "2^64", "-1", "-32", "-33", "-128", "-129", "-32768", "-32769", "-2^31", "-2^31-1",
    "-2^53", "-2^63", "-2^63 - 2^11", "0.5", "0.1", "-1.5", "1e300", "1e-45",
    "3.4028234663852886e38",
    "1/0", "-1/0", "0/0", "-0", "''", "'abc'", "string.rep('x', 31)", "string.rep('x', 32)",
    "string.rep('x', 255)", "string.rep('x', 256)", "string.rep('x', 65535)",
    "string.rep('x', 65536)", "true", "false", "nil", "{}", "{1,2,3}", "{1,nil,3}",
    "{a=1}", "{[1]=1,[3]=3}", "{[0]=1}", "{[1.5]=1}", "{[2^31]=1}", "{1,2,a=3}",
    "{string.rep('y', 40)}", "cjson.null", "tostring", "{{{{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}}}}",
    "(function() local t = {} for i = 1, 16 do t[i] = i end return t end)()",
    "(function() local t = {} for i = 1, 70000 do t[i] = i % 3 end return t end)()",
    "(function() local t = {} for i = 1, 20 do t['k' .. i] = i end return t end)()",
    "(function() local t = {} t.self = t return t end)()",
]


@pytest.mark.parametrize("expr", PACK_CASES)
def test_cmsgpack_pack(local, vk, expr):
    both(local, vk, f"local v = {expr}\nlocal p = cmsgpack.pack(v)\n"
         "return p, cmsgpack.unpack(p)")


def test_cmsgpack_multi(local, vk):
    both(local, vk, "local p = cmsgpack.pack(1, 'a', {2}, nil, true)\n"
         "return p, cmsgpack.unpack(p)")
    both(local, vk, "local p = cmsgpack.pack()\nreturn p")
    both(local, vk, "local p = cmsgpack.pack(1, 2, 3)\n"
         "return cmsgpack.unpack_one(p), cmsgpack.unpack_one(p, 1), "
         "cmsgpack.unpack_one(p, 2), cmsgpack.unpack_one(p, 3)")
    both(local, vk, "local p = cmsgpack.pack(1, 2, 3)\n"
         "return cmsgpack.unpack_limit(p, 2), cmsgpack.unpack_limit(p, 2, 2), "
         "cmsgpack.unpack_limit(p, 0, 1)")
    for call in ["cmsgpack.unpack_one(p, -1)", "cmsgpack.unpack_one(p, 4)",
                 "cmsgpack.unpack_limit(p, -1)", "cmsgpack.unpack_limit(p)",
                 "cmsgpack.unpack_limit(p, 'x')", "cmsgpack.unpack_one(p, '1')",
                 "cmsgpack.unpack()", "cmsgpack.unpack({})", "cmsgpack.unpack(12)",
                 "cmsgpack.unpack_one()", "cmsgpack.unpack_one(p, nil)",
                 "cmsgpack.unpack_one(p, 1/0)", "cmsgpack.unpack_one(p, 2^40)",
                 "cmsgpack.unpack_one(p, -2^40 - 7)", "cmsgpack.unpack_limit(p, 2.7, 1.2)",
                 "cmsgpack.unpack_limit(p, 0/0)", "cmsgpack.unpack_limit(p, -1/0)"]:
        both(local, vk, f"local p = cmsgpack.pack(1, 2, 3)\nlocal a, b, c = {call}\n"
             "return a, b, c")
    both(local, vk, "local keys = {} for k in pairs(cmsgpack) do keys[#keys + 1] = k end "
         "table.sort(keys) return table.concat(keys, ','), cmsgpack._NAME, cmsgpack._VERSION, "
         "cmsgpack._DESCRIPTION")


UNPACK_HEX = [
    "c0", "c2", "c3", "c1", "c4", "d4", "cc", "ccff", "cdffff", "ceffffffff",
    "cfffffffffffffffff", "cf0020000000000001", "d0ff", "d180", "d2ffffffff", "d38000000000000000",
    "d3ffffffffffffffff", "ca3f800000", "ca7fc00000", "cb3ff0000000000000", "cb7ff8000000000001",
    "cbfff0000000000000", "a3616263", "a361", "d903616263", "d9", "da0003616263",
    "db00000003616263",
    "db00000005616263", "9301a2", "93010203", "dc00020102", "dd0000000101", "820102c0c0",
    "8101", "81c001", "81a1610193", "de00010102", "df0000000101", "80", "90", "e0", "ff",
    "0102030405", "9190", "8190c0",
]


@pytest.mark.parametrize("hexdata", UNPACK_HEX)
def test_cmsgpack_unpack(local, vk, hexdata):
    both(local, vk, "local v = {cmsgpack.unpack(ARGV[1])}\nreturn #v, unpack(v)",
         bytes.fromhex(hexdata))
    both(local, vk, "local a, b = cmsgpack.unpack_one(ARGV[1])\nreturn a, b",
         bytes.fromhex(hexdata))


@SETTINGS
@given(data=st.binary(max_size=24))
def test_cmsgpack_random_unpack(local, vk, data):
    both(local, vk, "local v = {cmsgpack.unpack_limit(ARGV[1], 4)}\nreturn unpack(v)", data)


LUA_VALUES = st.recursive(
    st.sampled_from(["nil", "true", "false", "0", "-1", "0.25", "1/3", "2^40", "-2^40", "'s'",
                     "''", "1e100", "-0.1", "255", "-200", "70000"])
    | st.integers(-2**64, 2**64).map(str) | st.text("abc\0\n", max_size=5).map(repr),
    lambda inner: st.lists(inner, max_size=5).map(lambda xs: "{" + ",".join(xs) + "}")
    | st.lists(st.tuples(st.sampled_from(["a", "b", "c", "[1]", "[2]", "[5]", "[0.5]"]),
                         inner), max_size=4)
    .map(lambda kv: "{" + ",".join(f"{k}={v}" for k, v in kv) + "}"),
    max_leaves=12)


@SETTINGS
@given(values=st.lists(LUA_VALUES, min_size=1, max_size=3))
def test_cmsgpack_random_pack(local, vk, values):
    exprs = ", ".join(values)
    both(local, vk, f"local p = cmsgpack.pack({exprs})\nreturn p, cmsgpack.unpack(p)")
    both(local, vk, f"local t = {{{exprs}}}\nlocal j = cjson.encode(t)\nreturn j")


# ---------------------------------------------------------------------------------- bit

BIT_VALUES = ["0", "1", "-1", "0x7fffffff", "0x80000000", "-0x80000000", "0xffffffff",
              "2^32", "2^32+5", "-2^32-5", "2^52", "2^53+2", "2^60+7", "1e300", "-1e300",
              "0.5", "1.5", "2.5", "-0.5", "-1.5", "1/0", "-1/0", "0/0", "'12'", "'0x10'",
              "' 7 '", "2^51", "-2^51", "2^51+0.5", "1437217655"]


@pytest.mark.parametrize("x", BIT_VALUES)
def test_bit_unary(local, vk, x):
    both(local, vk, f"local x = {x}\nlocal r = {{bit.tobit(x), bit.bnot(x), bit.bswap(x), "
         "bit.tohex(x), bit.tohex(x, -3), bit.tohex(x, 12), bit.tohex(x, 0), "
         "bit.tohex(x, -2147483647)}\nreturn r")


@pytest.mark.parametrize("x", ["0x12345678", "-1", "0x80000001", "1.5", "2^40+3"])
@pytest.mark.parametrize("n", ["0", "1", "4", "31", "32", "33", "-1", "-31", "2^32+1", "'3'"])
def test_bit_shifts(local, vk, x, n):
    both(local, vk, f"local x, n = {x}, {n}\nlocal r = {{bit.lshift(x, n), bit.rshift(x, n), "
         "bit.arshift(x, n), bit.rol(x, n), bit.ror(x, n), bit.tohex(x, n)}\nreturn r")


@SETTINGS
@given(xs=st.lists(st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                             st.integers(-2**33, 2**33)), min_size=1, max_size=4))
def test_bit_random(local, vk, xs):
    both(local, vk, """
local xs = {}
for i = 1, #ARGV do xs[i] = tonumber(ARGV[i]) end
local r = {bit.band(unpack(xs)), bit.bor(unpack(xs)), bit.bxor(unpack(xs)), bit.tobit(xs[1]),
           bit.lshift(xs[1], xs[#xs]), bit.arshift(xs[1], xs[#xs]), bit.ror(xs[1], xs[#xs]),
           bit.tohex(xs[1], xs[#xs])}
return r""", *[repr(float(x)) if isinstance(x, float) else str(x) for x in xs])


@pytest.mark.parametrize("call", [
    "bit.band()", "bit.band(1, nil)", "bit.band(1, 2, 'x', 4)", "bit.band('x', {})",
    "bit.bor(1, {})", "bit.tobit()", "bit.tobit(true)", "bit.tohex(1, nil)", "bit.tohex()",
    "bit.lshift(1)", "bit.rol('a', 1)", "bit.bswap(tostring)", "bit:band(1)", "bit.bnot('0')",
])
def test_bit_errors(local, vk, call):
    both(local, vk, f"local r = {call}\nreturn r")


def test_bit_module(local, vk):
    both(local, vk, "local keys = {} for k in pairs(bit) do keys[#keys + 1] = k end "
         "table.sort(keys) local f = bit.band local ok, e = pcall(f) "
         "return table.concat(keys, ','), ok, e")


# ---------------------------------------------------------------------------------- struct

STRUCT_CASES = [
    "struct.pack('>I4', 123456)", "struct.pack('<I4', 123456)", "struct.pack('<h', -2)",
    "struct.pack('>h', -2)", "struct.pack('B', 255)", "struct.pack('B', 256)",
    "struct.pack('b', -1)", "struct.pack('b', 200)", "struct.pack('H', 65535)",
    "struct.pack('i', -5)", "struct.pack('I', 2^32 + 7)", "struct.pack('l', -2)",
    "struct.pack('L', 2^63)", "struct.pack('T', 9)", "struct.pack('i8', -3)",
    "struct.pack('>i8', 2^62)", "struct.pack('i3', -1)", "struct.pack('>I3', 0x123456)",
    "struct.pack('i16', -1)", "struct.pack('>i16', -1)", "struct.pack('i33', 1)",
    "struct.pack('i0', 1)", "struct.pack('f', 1.5)", "struct.pack('>f', 0.1)",
    "struct.pack('f', 1e300)", "struct.pack('<d', 0.1)", "struct.pack('>d', -1/0)",
    "struct.pack('c', 'abc')", "struct.pack('c2', 'abc')", "struct.pack('c0', 'abc')",
    "struct.pack('c5', 'abc')", "struct.pack('s', 'ab')", "struct.pack('xBx', 1)",
    "struct.pack('!4 b i', 1, 2)", "struct.pack('!b d', 1, 2)", "struct.pack('!2 b i', 1, 2)",
    "struct.pack('!3 b i', 1, 2)", "struct.pack('!8b h b i b l', 1, 2, 3, 4, 5, 6)",
    "struct.pack('z', 1)", "struct.pack('I4')", "struct.pack('I4', 'x')", "struct.pack('I4', '12')",
    "struct.pack('s', 12)", "struct.pack('c', {})", "struct.pack()", "struct.pack(12)",
    "struct.pack('i99999999999', 1)", "struct.pack('I4', 1.9)", "struct.pack('I4', -1.9)",
    "struct.pack('>I4 <I4', 1, 1)", "struct.pack('B', 1/0)", "struct.pack('b', -2^70)",
    "struct.size('I4 h b')", "struct.size('!4 b i')", "struct.size('s')", "struct.size('c0')",
    "struct.size('c3 d')", "struct.size('z')", "struct.size('!3')", "struct.size('?')",
    "struct.size('!8 b d')",
    "struct.unpack('>I4', '\\0\\1\\2\\3')", "struct.unpack('<I4', '\\0\\1\\2\\3')",
    "struct.unpack('<i2', '\\255\\255')", "struct.unpack('B', '')", "struct.unpack('b', '\\200')",
    "struct.unpack('i8', '\\255\\255\\255\\255\\255\\255\\255\\255')",
    "struct.unpack('L', '\\255\\255\\255\\255\\255\\255\\255\\255')",
    "struct.unpack('I3', '\\1\\2\\3')", "struct.unpack('i3', '\\1\\2\\255')",
    "struct.unpack('i16', string.rep('\\255', 16))", "struct.unpack('I12', string.rep('\\1', 12))",
    "struct.unpack('>i12', string.rep('\\128', 12))",
    "struct.unpack('f', struct.pack('f', 0.1))", "struct.unpack('>d', struct.pack('>d', 0.1))",
    "struct.unpack('c2', 'abc')", "struct.unpack('c0', 'abc')", "struct.unpack('B c0', '\\2abc')",
    "struct.unpack('c1 c0', '3abcd')", "struct.unpack('c1 c0', 'xabcd')",
    "struct.unpack('B c0', '\\9abc')", "struct.unpack('d c0', struct.pack('d c0', -2^65, ''))",
    "struct.unpack('d c0', struct.pack('d', 2^64 + 2^12))",
    "struct.unpack('d c0', struct.pack('d', 0/0))",
    "struct.unpack('d c0', struct.pack('d', 1.9) .. 'ab')",
    "struct.unpack('d c0', struct.pack('d', 2^63))", "struct.unpack('s', 'ab\\0cd')",
    "struct.unpack('s', 'ab')",
    "struct.unpack('s s', 'a\\0b\\0')", "struct.unpack('x B', '\\1\\2')",
    "struct.unpack('B', 'abc', 2)", "struct.unpack('B', 'abc', 0)", "struct.unpack('B', 'abc', 4)",
    "struct.unpack('', 'abc', 10)", "struct.unpack('', 'abc', -5)", "struct.unpack('B', 'abc', -5)",
    "struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))", "struct.unpack('B', 'a', 1.7)",
    "struct.unpack('B', 'a', 'x')", "struct.unpack('B')", "struct.unpack('B', 'a', 1/0)",
    "struct.unpack('', 'a', -1/0)", "struct.unpack('', 'a', 0/0)", "struct.unpack('', 'a', 2^70)",
    "struct.unpack('z', 'a')",
    "struct.unpack('>', 'ab', 5)", "struct.unpack('B', 12)", "struct.unpack('!5', 'a')",
]


@pytest.mark.parametrize("call", STRUCT_CASES)
def test_struct(local, vk, call):
    both(local, vk, f"local r = {{{call}}}\nreturn r")


@SETTINGS
@given(fmt=st.lists(st.sampled_from(["b", "B", "h", "H", "i", "I", "l", "L", "i2", "I3", "i5",
                                     "I8", "f", "d", "<", ">", "!", "!2", "x", " "]),
                    min_size=1, max_size=6),
       nums=st.lists(st.one_of(st.integers(-2**64, 2**64), st.floats(allow_nan=False)),
                     min_size=6, max_size=6))
def test_struct_random(local, vk, fmt, nums):
    both(local, vk, """
local fmt = ARGV[1]
local xs = {}
for i = 2, #ARGV do xs[#xs + 1] = tonumber(ARGV[i]) end
local p = struct.pack(fmt, unpack(xs))
local r = {p, struct.size(fmt), struct.unpack(fmt, p)}
return r""", "".join(fmt), *[repr(float(x)) if isinstance(x, float) else str(x) for x in nums])


def test_struct_module(local, vk):
    both(local, vk, "local keys = {} for k in pairs(struct) do keys[#keys + 1] = k end "
         "table.sort(keys) return table.concat(keys, ','), type(struct.pack)")


# ---------------------------------------------------------------------------------- shape

def test_install_requires_bytes_runtime():
    with pytest.raises(ValueError):
        install(lupa.lua51.LuaRuntime())


def test_no_python_reachable():
    """Every value reachable from the four library tables is a plain Lua value: functions,
    strings, tables, and cjson.null (a userdata with a locked metatable)."""
    rt = Local()
    kinds = rt.lua.execute("""
local seen, kinds = {}, {}
local function walk(v)
  local t = type(v)
  if t == 'userdata' and v ~= cjson.null then t = 'other userdata' end
  kinds[t] = true
  if t == 'table' and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do walk(k) walk(x) end
    local mt = getmetatable(v)
    if mt then walk(mt) end
  end
end
for _, name in ipairs({'cjson', 'cmsgpack', 'bit', 'struct'}) do walk(_G[name]) end
walk(cjson.new())
local ks = {}
for k in pairs(kinds) do ks[#ks + 1] = k end
table.sort(ks)
return table.concat(ks, ',') .. ' ' .. tostring(getmetatable(cjson.null))
""")
    assert kinds == b"function,string,table,userdata false", kinds


# ---------------------------------------------------------------------------------- EVAL

WIRE_SCRIPTS = [
    "return cjson.decode('x')",
    "return cjson.encode({1, 2, {a = cjson.null, b = 'x/y'}, 0.1})",
    "return cjson.decode('[1,2,null,\"a\",{\"k\":[true,false]}]')",
    "local t = cjson.decode(ARGV[1])\nreturn t.a .. #t.b",
    "local x = 1\nlocal y = cjson.decode('[1,2')\nreturn y",
    "return bit.band()",
    "local f = bit.band; return f()",
    "return {bit.tobit(2^32 + 5), bit.bnot(0), bit.tohex(65535, -4), bit.arshift(-256, 4)}",
    "return cmsgpack.pack({1, 2, 3}, 'abc', 1.5, -2^40)",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {2}, {k = 'v'}))}",
    "return cmsgpack.unpack('\\193')",
    "return cmsgpack.pack()",
    "return struct.pack('>I4 <h B c0 s', 5, -2, 255, 'xy', 'z')",
    "return {struct.unpack('>I4 h', struct.pack('>I4 h', 123456, -2))}",
    "return struct.unpack('B', 'abc', 0)",
    "return struct.size('s')",
    "return pcall(cjson.decode, 'x')",
    "return {pcall(bit.tohex)}",
    "return cjson.null",
    "return tostring(cjson.null)",
    "return {cjson.null}",
    "cjson.encode = nil",
    "bit.band = nil",
    "return cjson.encode(bit)",
    "return cmsgpack.pack(struct)",
    "return cmsgpack.pack(cjson.new())",
    "return cjson.encode({KEYS, ARGV})",
    "local t = setmetatable({}, {__index = function(t, k) return k * 2 end})\n"
    "t[1] = 1 t[2] = 2\nreturn cmsgpack.pack(t)",
    "return rawset(_G, 'x', 1)",
    "return table.insert(cjson, 1)",
    "local x = 1\nreturn setmetatable(bit, {})",
    "return type(cjson.new().encode)",
    "local c = cjson.new()\nc.encode_number_precision(3)\n"
    "return c.encode(math.pi) .. cjson.encode(math.pi)",
]


@pytest.mark.parametrize("body", WIRE_SCRIPTS)
def test_eval_wire(r, refc, body):
    from harness import same_reply
    same_reply(r, refc, "EVAL", body, 0, '{"a":"x","b":[1,2,3]}')


@SETTINGS
@given(fmt=st.lists(st.sampled_from(["c", "c0", "c2", "s", "B", "b", "h", "<", ">", "!4", "x",
                                     "i3", "d"]), min_size=1, max_size=5),
       data=st.binary(max_size=12), offset=st.integers(-2, 14))
def test_struct_random_unpack(local, vk, fmt, data, offset):
    both(local, vk, "local r = {struct.unpack(ARGV[1], ARGV[2], tonumber(ARGV[3]))}\n"
         "return r", "".join(fmt), data, offset)


@SETTINGS
@given(values=st.lists(LUA_VALUES, min_size=1, max_size=3),
       cut=st.integers(0, 40), flip=st.integers(0, 255), at=st.integers(0, 40))
def test_cmsgpack_random_mutation(local, vk, values, cut, flip, at):
    """Truncated and corrupted encodings of valid values."""
    both(local, vk, f"""
local p = cmsgpack.pack({", ".join(values)})
local cut, flip, at = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) % (#p + 1)
local q = p:sub(1, at) .. string.char(flip) .. p:sub(at + 2)
local a = {{pcall(cmsgpack.unpack, p:sub(1, cut))}}
local b = {{pcall(cmsgpack.unpack, q)}}
local c = {{pcall(cmsgpack.unpack_limit, q, 2, 1)}}
return a, b, c""", cut, flip, at)


UNTAIL_CASES = [
    "local function f(...) return select('#', ...), ... end\nreturn f(1, nil, 3, nil)",
    "local function f(n, acc) if n == 0 then return acc end return f(n - 1, acc + n) end\n"
    "return f(5000, 0)",
    "local o = {v = 3}\nfunction o:get(k) return self.v * k, k end\nreturn o:get(2)",
    "return (function() return pcall(error, 'x', 0) end)()",
    "local t = {}\nreturn unpack({1, 2, 3})",
    "return bit.band()",
    "return cjson.decode('{')",
    "return struct.pack('I4')",
    "return cmsgpack.unpack_limit('\\1')",
    "local ok, e = pcall(function() return bit.tohex({}) end)\nreturn ok, e",
    "local f = function() return cjson.encode(tostring) end\nreturn f()",
]


@pytest.mark.parametrize("snippet", UNTAIL_CASES)
def test_untail_semantics(local, vk, snippet):
    both(local, vk, snippet)


def test_cmsgpack_metadata(local, vk):
    """_NAME, _VERSION and _DESCRIPTION are Redis's; _COPYRIGHT names valkeyd's own code
    (documented in COMPAT.md)."""
    for field in ("_NAME", "_VERSION", "_DESCRIPTION"):
        both(local, vk, "return cmsgpack.%s" % field)
    assert b"valkeyd" in local.run(script("return cmsgpack._COPYRIGHT"))
