"""The geo command family (GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE GEORADIUS
GEORADIUSBYMEMBER GEORADIUS_RO GEORADIUSBYMEMBER_RO) against Redis 7.2.4's behaviour.

Most tests send the same commands to valkeyd and to a real valkey-server over raw sockets and
compare the reply bytes exactly (coordinates, distances and hashes included), in RESP2 and
RESP3. The geohash arithmetic is also checked in-process against the examples of Redis's
documentation.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest


from harness import RawClient as Raw, aof_commands, same_raw as same, start_valkeyd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from valkeyd import geohash as gh  # noqa: E402
from valkeyd.commands.geo import parse_double, pqsort  # noqa: E402


# -- a raw RESP client: exact reply bytes ---------------------------------------------------------


SICILY = ("13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")


# -- the arithmetic, in-process ------------------------------------------------------------------
def test_documented_examples():
    # Redis's documentation: GEOADD Sicily Palermo / Catania, then GEOHASH, GEODIST, GEOPOS.
    p = gh.score_of(13.361389, 38.115556)
    c = gh.score_of(15.087269, 37.502669)
    assert gh.geohash_string(p) == b"sqc8b49rny0"
    assert gh.geohash_string(c) == b"sqdtr74hyu0"
    d = gh.distance(*gh.decode_score(p), *gh.decode_score(c))
    assert gh.format_distance(d) == b"166274.1516"
    assert gh.format_distance(d / 1000) == b"166.2742"
    assert gh.format_distance(d / 1609.34) == b"103.3182"
    lon, lat = gh.decode_score(p)
    assert gh.format_coord(lon).startswith(b"13.36138")
    assert gh.format_coord(lat).startswith(b"38.11555")


def test_encode_decode_roundtrip_within_a_cell():
    rnd = random.Random(7)
    for _ in range(2000):
        lon = rnd.uniform(-180, 180)
        lat = rnd.uniform(gh.LAT_MIN, gh.LAT_MAX)
        s = gh.score_of(lon, lat)
        assert 0 <= s < 1 << 52
        dlon, dlat = gh.decode_score(float(s))
        # a step-26 cell is 360/2^26 degrees of longitude wide
        assert abs(dlon - lon) <= 360 / 2**26
        assert abs(dlat - lat) <= 2 * gh.LAT_MAX / 2**26
        assert gh.score_of(dlon, dlat) == s


def test_encode_limits():
    assert gh.encode(180.0001, 0) is None
    assert gh.encode(0, 85.06) is None
    assert gh.encode(-180, -85.05112878) == 0
    assert gh.interleave(*gh.deinterleave(0x123456789ABCD)) == 0x123456789ABCD


def test_neighbors_wrap_and_adjacent():
    step = 4
    bits = gh.encode(0.1, 0.1, step)
    nb = gh.neighbors(bits, step)
    area = gh.decode_area(bits, step)
    east = gh.decode_area(nb["east"], step)
    north = gh.decode_area(nb["north"], step)
    assert east[0] == area[1] and east[2:] == area[2:]
    assert north[2] == area[3] and north[:2] == area[:2]
    # the west neighbour of the westmost cell is the eastmost one
    w = gh.encode(-179.9, 0.1, step)
    west = gh.decode_area(gh.neighbors(w, step)["west"], step)
    assert west[1] == 180.0


def test_estimate_step():
    assert gh.estimate_step(0, 0) == 26
    assert gh.estimate_step(1, 0) == 24
    assert gh.estimate_step(0.1, 0) == 26
    assert gh.estimate_step(100000, 0) == 7
    assert gh.estimate_step(100000, 70) == 6
    assert gh.estimate_step(100000, -81) == 5
    assert gh.estimate_step(1e9, 0) == 1


def test_format_distance_rounding():
    assert gh.format_distance(0.0) == b"0.0000"
    assert gh.format_distance(0.00005) == b"0.0000"      # half to even, like llrint
    assert gh.format_distance(0.00025) == b"0.0002"
    assert gh.format_distance(0.00035) == b"0.0004"
    assert gh.format_distance(1.23456) == b"1.2346"
    assert gh.format_distance(12345.6) == b"12345.6000"
    assert gh.format_coord(-0.0) == b"0"
    assert gh.format_coord(13.5) == b"13.5"
    assert gh.format_coord(2.0) == b"2"


def test_parse_double_like_strtod():
    assert parse_double(b"1.5") == 1.5
    assert parse_double(b"-inf") == float("-inf")
    assert parse_double(b"0x10") == 16.0
    assert parse_double(b"1e-320") > 0
    for bad in (b"", b" 1", b"1 ", b"1e400", b"1e-400", b"nan", b"1_0", b"abc", b"1e", b"0x"):
        assert parse_double(bad) is None, bad


def test_pqsort_partial_order():
    rnd = random.Random(3)

    def cmp(a, b):
        return (a[0] > b[0]) - (a[0] < b[0])

    for n in (1, 5, 7, 8, 30, 41, 100, 300):
        for k in (1, 2, n // 2 or 1, n):
            a = [(rnd.randint(0, 10), i) for i in range(n)]
            want = sorted(x[0] for x in a)[:k]
            pqsort(a, cmp, 0, k - 1)
            assert [x[0] for x in a[:k]] == want


# -- against the reference server -----------------------------------------------------------------
CASES = [
    ("GEOADD", "Sicily") + SICILY,
    ("GEOADD", "Sicily") + SICILY,
    ("GEOADD", "Sicily", "CH", "13.361389", "38.115556", "Palermo", "15", "37", "Catania"),
    ("GEOADD", "Sicily", "NX", "CH", "1", "1", "Palermo", "2", "2", "new"),
    ("GEOADD", "Sicily", "XX", "1", "1", "new", "3", "3", "absent"),
    ("GEOADD", "Sicily", "xx", "ch", "1", "1", "new", "3", "3", "absent"),
    ("GEOADD", "Sicily", "CH", "CH", "NX", "1", "1", "again"),
    ("GEOADD", "Sicily", "NX", "XX", "1", "1", "a"),
    ("GEOADD", "Sicily", "NX", "XX", "CH"),
    ("GEOADD", "Sicily", "CH", "CH", "CH"),
    ("GEOADD", "Sicily", "1", "1", "a", "2"),
    ("GEOADD", "Sicily", "GT", "1", "1", "a"),
    ("GEOADD", "Sicily", "181", "1", "a"),
    ("GEOADD", "Sicily", "-180.000001", "1", "a"),
    ("GEOADD", "Sicily", "1", "85.05112879", "a"),
    ("GEOADD", "Sicily", "1", "-85.05112879", "a"),
    ("GEOADD", "Sicily", "1", "1", "ok", "1e400", "1", "a"),
    ("GEOADD", "Sicily", "inf", "1", "a"),
    ("GEOADD", "Sicily", "x", "1", "a"),
    ("GEOADD", "Sicily", "1", "y", "a"),
    ("GEOADD", "Sicily", " 1", "1", "a"),
    ("GEOADD", "Sicily", "0x10", "1e1", "hex"),
    ("GEOADD", "Sicily", "180", "85.05112878", "corner1", "-180", "-85.05112878", "corner2"),
    ("GEOADD", "Sicily", "0", "0", "zero", "-0", "-0", "negzero"),
    ("GEOADD", "Sicily", "1", "1", "dup", "2", "2", "dup"),
    ("GEOADD", "Sicily", "CH", "3", "3", "dup", "3", "3", "dup"),
    ("GEOADD", "nokey", "XX", "1", "1", "a"),
    ("EXISTS", "nokey"),
    ("GEOPOS", "Sicily", "Palermo", "Catania", "nope", "corner1", "corner2", "zero", "negzero",
     "hex", "dup"),
    ("GEOPOS", "nokey", "a", "b"),
    ("GEOPOS", "Sicily"),
    ("GEOHASH", "Sicily", "Palermo", "Catania", "nope", "corner1", "corner2", "zero", "hex"),
    ("GEOHASH", "nokey", "a"),
    ("GEOHASH", "Sicily"),
    ("GEODIST", "Sicily", "Palermo", "Catania"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "km"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "MI"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "Ft"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "M"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "yd"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "km", "x"),
    ("GEODIST", "Sicily", "Palermo", "Palermo"),
    ("GEODIST", "Sicily", "corner1", "corner2"),
    ("GEODIST", "Sicily", "zero", "negzero", "km"),
    ("GEODIST", "Sicily", "Palermo", "nope"),
    ("GEODIST", "Sicily", "nope", "Palermo"),
    ("GEODIST", "nokey", "a", "b"),
    ("GEODIST", "nokey", "a", "b", "lightyears"),
    # GEORADIUS and friends
    ("GEORADIUS", "Sicily", "15", "37", "200", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "withhash", "withcoord", "withdist", "ASC"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "DESC"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "COUNT", "1"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "COUNT", "1", "DESC"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1", "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "-3"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "x"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "FOO"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "FROMMEMBER", "Palermo"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "WITHDIST"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst", "WITHCOORD"),
    ("GEORADIUS", "Sicily", "15", "37", "-1", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "x", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "au"),
    ("GEORADIUS", "Sicily", "200", "37", "x", "au"),
    ("GEORADIUS", "Sicily", "x", "37", "200", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "0", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "1e9", "km", "ASC"),
    ("GEORADIUS", "Sicily", "-179.9", "0", "500", "km", "ASC"),
    ("GEORADIUS", "Sicily", "179.9", "85", "500", "km", "WITHCOORD"),
    ("GEORADIUS", "nokey", "15", "37", "200", "km"),
    ("GEORADIUS", "nokey", "15", "37", "200", "km", "STORE", "dst"),
    ("GEORADIUS", "nokey", "x", "37", "200", "km"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "WITHDIST", "ASC"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "dst"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST", "WITHCOORD"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "COUNT", "1", "DESC"),
    ("GEORADIUSBYMEMBER", "Sicily", "nope", "200", "km"),
    ("GEORADIUSBYMEMBER", "Sicily", "nope", "x", "km"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "x", "km"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "10", "yard"),
    ("GEORADIUSBYMEMBER", "nokey", "Palermo", "x", "yard"),
    ("GEORADIUSBYMEMBER", "nokey", "Palermo", "x", "yard", "STORE", "dst"),
    ("GEORADIUSBYMEMBER", "nokey", "Palermo", "x", "yard", "BOGUS"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "200", "km", "WITHHASH"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "200", "km", "STORE", "x"),
    # GEOSEARCH
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "DESC",
     "WITHCOORD", "WITHDIST", "WITHHASH"),
    ("GEOSEARCH", "Sicily", "BYBOX", "400", "400", "km", "FROMMEMBER", "Palermo"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "COUNT", "2"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "COUNT", "2",
     "ANY"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "0", "0", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", "10", "km", "ASC"),
    ("geosearch", "Sicily", "BYRADIUS", "10", "km", "ASC"),
    ("GeoSearch", "Sicily", "FROMLONLAT", "15", "37", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "FROMMEMBER", "Palermo", "BYRADIUS", "1",
     "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", "15", "37", "BYRADIUS", "1",
     "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMMEMBER", "Catania", "BYRADIUS", "1",
     "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYBOX", "1", "1",
     "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "1", "km", "BYRADIUS", "1",
     "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYRADIUS", "300",
     "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nope"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "x", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "x", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "-1", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "-1", "nm"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "1", "nm"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "1"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "95", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STORE", "x"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STOREDIST"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "ANY"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "COUNT", "0"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "40000", "40000", "km", "ASC"),
    # infinite shapes: C's libm gives NaN where Python's math would raise
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "inf", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1e308", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "inf", "inf", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "1", "inf", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYBOX", "1e308", "1e308", "mi"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1e-300", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "180", "85.05112878", "BYBOX", "20000", "20000", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "-180", "-85.05112878", "BYRADIUS", "20000", "km"),
    ("GEORADIUS", "Sicily", "0", "0", "inf", "m", "WITHDIST"),
    # GEOSEARCHSTORE
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km",
     "STOREDIST", "DESC", "COUNT", "1"),
    ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km",
     "WITHDIST"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km",
     "STORE", "x"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m"),
    ("EXISTS", "dst"),
    ("GEOSEARCHSTORE", "dst", "nokey", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m"),
    ("GEOSEARCHSTORE", "dst", "nokey", "FROMLONLAT", "15", "37"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "BYRADIUS", "1", "m"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "STOREDIST", "dst2"),
    ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
    ("EXISTS", "dst"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst", "STORE", "dst2"),
    ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "1", "m", "STORE", "dst2"),
    ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "500", "km", "STORE", "dst2", "COUNT", "2"),
    ("ZRANGE", "dst2", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "nokey", "15", "37", "200", "km", "STORE", "dst2"),
    ("EXISTS", "dst2"),
    # wrong types
    ("SET", "str", "v"),
    ("GEOADD", "str", "1", "1", "a"),
    ("GEOADD", "str", "1000", "1", "a"),
    ("GEOPOS", "str", "a"),
    ("GEOHASH", "str", "a"),
    ("GEODIST", "str", "a", "b"),
    ("GEODIST", "str", "a", "b", "yd"),
    ("GEORADIUS", "str", "x", "1", "1", "km"),
    ("GEORADIUSBYMEMBER", "str", "a", "1", "km"),
    ("GEOSEARCH", "str", "FROMMEMBER", "a", "BYRADIUS", "1", "km"),
    ("GEOSEARCHSTORE", "dst", "str", "FROMMEMBER", "a", "BYRADIUS", "1", "km"),
    ("GEOSEARCHSTORE", "str", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"),
    ("TYPE", "str"),
    ("GEOPOS", "str2"),
    # key positions (georadiusGetKeys and the key specs)
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "1", "1", "km", "STORE", "dst"),
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "1", "1", "km", "STORE", "a", "STOREDIST", "b"),
    ("COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "k", "m", "1", "km", "STOREDIST", "dst"),
    ("COMMAND", "GETKEYS", "GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"),
    ("COMMAND", "GETKEYS", "GEOADD", "k", "1", "1", "m"),
]


def test_commands_match_reference(pair):
    for case in CASES:
        same(pair, *case)
    same(pair, "TYPE", "Sicily")
    same(pair, "OBJECT", "ENCODING", "Sicily")
    same(pair, "ZRANGE", "Sicily", "0", "-1", "WITHSCORES")


@pytest.mark.parametrize("cmd,arity", [
    ("GEOADD", -5), ("GEOPOS", -2), ("GEOHASH", -2), ("GEODIST", -4), ("GEORADIUS", -6),
    ("GEORADIUS_RO", -6), ("GEORADIUSBYMEMBER", -5), ("GEORADIUSBYMEMBER_RO", -5),
    ("GEOSEARCH", -7), ("GEOSEARCHSTORE", -8),
])
def test_wrong_arity(pair, cmd, arity):
    same(pair, cmd, *["k"] * (-arity - 2))
    same(pair, cmd)


def _points(rnd, n, region=None):
    pts = []
    for i in range(n):
        if region is None:
            lon, lat = rnd.uniform(-180, 180), rnd.uniform(gh.LAT_MIN, gh.LAT_MAX)
        else:
            (lo0, lo1), (la0, la1) = region
            lon, lat = rnd.uniform(lo0, lo1), rnd.uniform(la0, la1)
        pts += ["%.6f" % lon, "%.6f" % lat, "m%d" % i]
    return pts


def test_random_searches_match_reference(pair):
    """Searches of every shape and size, world-wide and near the poles and the antimeridian,
    where the neighbour-cell rules matter."""
    rnd = random.Random(11)
    regions = [None, ((-180, -170), (-10, 10)), ((170, 180), (-10, 10)),
               ((-30, 30), (75, 85.05)), ((-30, 30), (-85.05, -75)), ((13.3, 13.4), (38.1, 38.2))]
    for idx, region in enumerate(regions):
        key = "w%d" % idx
        same(pair, "GEOADD", key, *_points(rnd, 300, region))
        same(pair, "OBJECT", "ENCODING", key)
        for _ in range(25):
            if region is None:
                lon, lat = rnd.uniform(-180, 180), rnd.uniform(-85, 85)
            else:
                (lo0, lo1), (la0, la1) = region
                lon, lat = rnd.uniform(lo0, lo1), rnd.uniform(la0, la1)
            unit = rnd.choice(["m", "km", "mi", "ft"])
            size = rnd.choice([1, 10, 100, 1000, 5000]) * {"m": 1000, "km": 1, "mi": 1,
                                                           "ft": 3000}[unit]
            size = "%.3f" % (size * rnd.random())
            if rnd.random() < 0.5:
                by = ["BYRADIUS", size, unit]
            else:
                by = ["BYBOX", size, "%.3f" % (float(size) * rnd.uniform(0.2, 3)), unit]
            extra = rnd.choice([[], ["ASC"], ["DESC"], ["COUNT", "5"], ["COUNT", "3", "DESC"],
                                ["COUNT", "4", "ANY"], ["COUNT", "2", "ANY", "ASC"]])
            same(pair, "GEOSEARCH", key, "FROMLONLAT", "%.5f" % lon, "%.5f" % lat, *by, *extra,
                 "WITHDIST", "WITHHASH", "WITHCOORD")
            same(pair, "GEOSEARCH", key, "FROMMEMBER", "m%d" % rnd.randrange(300), *by, *extra)
            if by[0] == "BYRADIUS":
                same(pair, "GEORADIUS", key, "%.5f" % lon, "%.5f" % lat, by[1], unit, *extra,
                     "WITHDIST")
        a, b = rnd.randrange(300), rnd.randrange(300)
        same(pair, "GEODIST", key, "m%d" % a, "m%d" % b, rnd.choice(["m", "km", "mi", "ft"]))
        same(pair, "GEOPOS", key, *["m%d" % i for i in range(0, 300, 7)])
        same(pair, "GEOHASH", key, *["m%d" % i for i in range(0, 300, 7)])


def test_ties_with_count_match_reference(pair):
    """Many members at the same few positions: the order of equal distances comes from Redis's
    sort (stable) and partial quicksort (COUNT), which must be reproduced."""
    rnd = random.Random(5)
    args = []
    for i in range(120):
        args += [rnd.choice(["13.30", "13.31", "13.32"]), rnd.choice(["38.10", "38.11"]),
                 "t%03d" % rnd.randrange(1000)]
    same(pair, "GEOADD", "ties", *args)
    for n in (1, 2, 3, 5, 8, 13, 40, 41, 60, 100, 200):
        for order in ([], ["ASC"], ["DESC"]):
            same(pair, "GEORADIUS", "ties", "13.30", "38.10", "10", "km", "COUNT", str(n),
                 *order)
            same(pair, "GEOSEARCH", "ties", "FROMLONLAT", "13.315", "38.105", "BYBOX", "5", "5",
                 "km", "COUNT", str(n), *order, "WITHDIST")
    same(pair, "GEORADIUS", "ties", "13.30", "38.10", "10", "km", "DESC")


def test_scores_that_are_not_geohashes_match_reference(pair):
    """A sorted set written by ZADD may hold any score: positions are decoded as Redis does."""
    same(pair, "ZADD", "z", "0", "probe", "-1", "neg", "4503599627370496", "big", "1e300",
         "huge", "-inf", "minf", "inf", "pinf", "1.5", "frac", "9007199254740993", "odd")
    members = ["probe", "neg", "big", "huge", "minf", "pinf", "frac", "odd"]
    same(pair, "GEOPOS", "z", *members)
    same(pair, "GEOHASH", "z", *members)
    same(pair, "GEODIST", "z", "neg", "big")
    same(pair, "GEOSEARCH", "z", "FROMMEMBER", "probe", "BYRADIUS", "100", "km", "WITHCOORD",
         "WITHHASH")
    same(pair, "GEOSEARCH", "z", "FROMMEMBER", "huge", "BYRADIUS", "100", "km", "WITHCOORD")


def test_encoding_conversion_matches_reference(pair):
    same(pair, "CONFIG", "SET", "zset-max-listpack-entries", "128")
    args = []
    for i in range(128):
        args += ["13.%03d" % i, "38.1", "p%d" % i]
    same(pair, "GEOADD", "enc", *args)
    same(pair, "OBJECT", "ENCODING", "enc")
    same(pair, "GEOADD", "enc", "13.5", "38.2", "p128")
    same(pair, "OBJECT", "ENCODING", "enc")
    same(pair, "GEOADD", "long", "13", "38", "x" * 65)
    same(pair, "OBJECT", "ENCODING", "long")
    # A search result stored with few members is a listpack again.
    same(pair, "GEOSEARCHSTORE", "few", "enc", "FROMLONLAT", "13", "38.1", "BYRADIUS", "5",
         "km")
    same(pair, "OBJECT", "ENCODING", "few")
    same(pair, "GEOSEARCHSTORE", "many", "enc", "FROMLONLAT", "13", "38.1", "BYRADIUS", "500",
         "km")
    same(pair, "OBJECT", "ENCODING", "many")


def test_xx_with_a_long_absent_member_keeps_listpack(r):
    """Redis 7.2.4 (zaddGenericCommand) sizes the conversion check of an existing key by the
    element count only, and XX skips the absent long member: the set stays a listpack.
    (Valkey 8.0 also checks the longest member first and converts to a skiplist.)"""
    r.config_set("zset-max-listpack-value", "64")
    r.geoadd("g", SICILY)
    assert r.execute_command("GEOADD", "g", "XX", "1", "1", "Palermo", "2", "2", "y" * 65) == 0
    assert r.object("encoding", "g") == b"listpack"
    assert r.zcard("g") == 2
    # A new key is sized by the first member, as ZADD does.
    r.execute_command("GEOADD", "h", "1", "1", "y" * 65, "2", "2", "a")
    assert r.object("encoding", "h") == b"skiplist"
    r.execute_command("GEOADD", "i", "1", "1", "a", "2", "2", "y" * 65)
    assert r.object("encoding", "i") == b"skiplist"


# -- semantics that replies alone do not show -----------------------------------------------------
def test_store_replaces_value_and_ttl(r):
    r.geoadd("src", SICILY)
    r.set("dst", "string", ex=100)
    assert r.execute_command("GEORADIUS", "src", "15", "37", "200", "km", "STORE", "dst") == 2
    assert r.type("dst") == b"zset"
    assert r.ttl("dst") == -1
    r.expire("dst", 100)
    assert r.execute_command("GEOSEARCHSTORE", "dst", "src", "FROMLONLAT", "15", "37",
                             "BYRADIUS", "1", "m") == 0
    assert r.exists("dst") == 0
    r.set("dst", "x")
    assert r.execute_command("GEOSEARCHSTORE", "dst", "nokey", "FROMLONLAT", "15", "37",
                             "BYRADIUS", "1", "m") == 0
    assert r.exists("dst") == 0


def test_geoadd_xx_does_not_create_key(r):
    assert r.execute_command("GEOADD", "k", "XX", "1", "1", "a") == 0
    assert r.exists("k") == 0


def test_redis_py_helpers(rr):
    rr.geoadd("Sicily", SICILY)
    pos = rr.geopos("Sicily", "Palermo", "nope")
    assert pos[1] is None
    assert abs(pos[0][0] - 13.361389) < 1e-5 and abs(pos[0][1] - 38.115556) < 1e-5
    assert rr.geodist("Sicily", "Palermo", "Catania", "km") == 166.2742
    res = rr.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km",
                       withdist=True, sort="ASC")
    assert [x[0] for x in res] == [b"Catania", b"Palermo"]
    assert res[0][1] == 56.4413


def test_resp3_coordinates_are_doubles(server):
    c = Raw(server.port, 3)
    try:
        c.cmd("FLUSHALL")
        c.cmd("GEOADD", "k", "1.5", "2.25", "a")
        got = c.cmd("GEOPOS", "k", "a", "b")
        assert got.startswith(b"*2\r\n*2\r\n,1.5000") and got.endswith(b"_\r\n")
        got = c.cmd("GEOSEARCH", "k", "FROMLONLAT", "1.5", "2.25", "BYRADIUS", "1", "km",
                    "WITHDIST", "WITHCOORD")
        assert got.startswith(b"*1\r\n*3\r\n$1\r\na\r\n$6\r\n0.0")
        assert b"\r\n*2\r\n,1.5000" in got and b"\r\n,2.2499" in got
    finally:
        c.close()


def test_keyspace_events(server):
    c = server.client(2)
    c.flushall()
    c.config_set("notify-keyspace-events", "KEA")
    p = server.client(2).pubsub()
    p.psubscribe("__keyspace@0__:*")
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    try:
        c.geoadd("g", SICILY)
        c.geoadd("g", SICILY)                 # nothing changed: no event
        c.execute_command("GEOADD", "g", "XX", "1", "1", "nope")
        c.execute_command("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d1")
        c.execute_command("GEOSEARCHSTORE", "d2", "g", "FROMMEMBER", "Palermo", "BYRADIUS",
                          "1", "km")
        c.execute_command("GEOSEARCHSTORE", "d1", "g", "FROMMEMBER", "Palermo", "BYRADIUS",
                          "1", "m", "STOREDIST")
        c.execute_command("GEOSEARCHSTORE", "d2", "nokey", "FROMMEMBER", "Palermo",
                          "BYRADIUS", "1", "km")
        c.execute_command("GEORADIUSBYMEMBER", "nokey", "a", "1", "km", "STORE", "d2")
        c.set("end", "1")
        got = []
        deadline = time.time() + 3
        while time.time() < deadline and (not got or got[-1] != (b"end", b"set")):
            m = p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                got.append((m["channel"].split(b":", 1)[1], m["data"]))
        assert got == [
            (b"g", b"zadd"), (b"d1", b"georadiusstore"), (b"d2", b"geosearchstore"),
            (b"d1", b"geosearchstore"), (b"d2", b"del"), (b"end", b"set"),
        ]
    finally:
        c.config_set("notify-keyspace-events", "")
        p.close()
        c.close()


def test_dirty_counter(r):
    def dirty():
        return r.info("persistence")["rdb_changes_since_last_save"]

    d0 = dirty()
    r.geoadd("g", SICILY)
    assert dirty() - d0 == 2
    r.execute_command("GEOADD", "g", "CH", "1", "1", "Palermo", "13.361389", "38.115556", "new")
    assert dirty() - d0 == 4
    r.geoadd("g", ["13.361389", "38.115556", "new"])   # same position: nothing
    assert dirty() - d0 == 4
    r.execute_command("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "50000",
                      "km")
    assert dirty() - d0 == 7
    r.execute_command("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "50000", "km")
    assert dirty() - d0 == 7


def test_keyspace_hits_and_misses(r):
    def stats():
        i = r.info("stats")
        return i["keyspace_hits"], i["keyspace_misses"]

    r.geoadd("g", SICILY)
    h0, m0 = stats()
    r.geopos("g", "Palermo")
    r.geohash("nokey", "a")
    r.geodist("g", "Palermo", "Catania")
    r.execute_command("GEOSEARCH", "nokey", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km")
    h1, m1 = stats()
    assert (h1 - h0, m1 - m0) == (2, 2)


def test_geoadd_propagates_as_zadd(tmp_path):
    # the AOF is the memory engine's persistence (the lmdb engine writes none), so this
    # propagation check runs on it whatever VALKEYD_ENGINE says
    s = start_valkeyd("--appendonly", "yes", "--appendfsync", "always", "--save", "",
                      workdir=str(tmp_path), engine="memory")
    try:
        c = s.client(2)
        c.execute_command("GEOADD", "g", "ch", "13.361389", "38.115556", "Palermo")
        c.execute_command("GEOADD", "g", "NX", "1", "1", "Palermo")     # no change
        c.execute_command("GEORADIUS", "g", "13", "38", "100", "km", "STORE", "d")
        c.close()
    finally:
        s.stop()
    cmds = aof_commands(str(tmp_path))
    assert cmds, 'nothing was written to the AOF'
    assert cmds == [
        [b"zadd", b"g", b"ch", b"%d" % gh.score_of(13.361389, 38.115556), b"Palermo"],
        [b"GEORADIUS", b"g", b"13", b"38", b"100", b"km", b"STORE", b"d"],
    ]
