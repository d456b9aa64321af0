"""Geo commands (Redis 7.2.4 ``geo.c``).

GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE GEORADIUS GEORADIUSBYMEMBER
GEORADIUS_RO GEORADIUSBYMEMBER_RO.

A geo set is a sorted set whose scores are 52-bit interleaved geohashes
(:mod:`valkeyd.geohash`). The commands reach it only through the sorted-set value interface
of :mod:`engines.base` (``ZSetValue``: score, by_score, add and the encoding hooks), so they
work on any engine; the calls are gathered in the "sorted-set access" section below.

GEOADD behaves as the ZADD it becomes in Redis (same counting, "zadd" event, encodings) and
propagates as that ZADD. Searches scan the centre cell and its neighbours in Redis's order,
filter by the exact shape, then sort (a stable sort, as glibc's qsort is; with COUNT below the
number of matches Redis's partial quicksort, reproduced so that ties come out in the same
order).
"""
from __future__ import annotations

import math
import re

from .. import errors
from .. import geohash as gh
from ..errors import ErrorReply
from ..pqsort import pqsort
from ..resp import NULL_ARRAY, Raw
from .registry import command
from .util import count_lookup, get_int

_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_FLOAT = ErrorReply(errors.NOT_FLOAT)

# Error texts of geo.c.
BAD_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"
NEED_RADIUS = "ERR need numeric radius"
NEED_WIDTH = "ERR need numeric width"
NEED_HEIGHT = "ERR need numeric height"
NEG_RADIUS = "ERR radius cannot be negative"
NEG_BOX = "ERR height or width cannot be negative"
BAD_LONLAT = "ERR invalid longitude,latitude pair %f,%f"
BAD_MEMBER = "ERR could not decode requested zset member"
BAD_COUNT = "ERR COUNT must be > 0"
STORE_WITH = "ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
NEED_FROM = "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %s"
NEED_BY = "ERR exactly one of BYRADIUS and BYBOX can be specified for %s"
ANY_NEEDS_COUNT = "ERR the ANY argument requires COUNT argument"

_ZADD = b"zadd"


# -- sorted-set access: the only places that touch the zset value interface ---------------------
def _zscore(z, member):
    """The score of ``member`` or None."""
    return z.score(member)


def _zscan(z, lo, hi):
    """(member, score) for lo <= score < hi, ascending (ties by member)."""
    return z.by_score(lo, False, hi, True)


def _zadd(z, member, score, nx, xx):
    """ZADD's zsetAdd for one element: 1 added, 2 updated (score changed), 0 nothing."""
    cur = z.score(member)
    if cur is None:
        if xx:
            return 0
        z.add(member, score)
        return 1
    if nx or cur == score:
        return 0
    z.add(member, score)
    return 2


def _read_zset(c, key):
    """lookupKeyRead + checkType: the zset at ``key`` or None (keyspace hit/miss counted)."""
    try:
        z = c.db.get_collection(key, "zset")
    except ErrorReply:
        c.server.stats.keyspace_hits += 1
        raise
    count_lookup(c, z is not None, key)
    return z


# -- argument helpers -----------------------------------------------------------------------------


_PLAIN_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def parse_double(b):
    """Redis's string2d (strtod over the whole argument, no leading space, no overflow, no
    underflow to zero, no NaN), or None."""
    if _PLAIN_DECIMAL.match(b):             # the common case: a plain decimal number
        v = float(b)
        if v == 0.0 or v in (math.inf, -math.inf):
            return _parse_double_slow(bytes(b))
        return v
    return _parse_double_slow(bytes(b))


def _parse_double_slow(b):
    if not b or b[0] in b" \t\n\v\f\r" or b[-1] in b" \t\n\v\f\r" or b"_" in b:
        return None
    try:
        s = b.decode("ascii")
    except UnicodeDecodeError:
        return None
    body = s[1:] if s[0] in "+-" else s
    low = body.lower()
    if low in ("inf", "infinity"):
        return -math.inf if s[0] == "-" else math.inf
    if low.startswith("nan"):
        return None
    if low.startswith("0x"):
        h = low[2:]
        if not h or h[0] in "+-" or not (h[0] in "0123456789abcdef" or h[0] == "."):
            return None
        try:
            v = float.fromhex(s)
        except (ValueError, OverflowError):
            return None
        mant = h.split("p")[0]
        nonzero = any(ch not in "0." for ch in mant)
    else:
        if not all(ch in "0123456789.eE+-" for ch in body):
            return None
        try:
            v = float(s)
        except ValueError:
            return None
        mant = low.split("e")[0]
        nonzero = any(ch not in "0." for ch in mant)
    if math.isinf(v) or v != v:
        return None         # overflow (ERANGE with HUGE_VAL)
    if v == 0.0 and nonzero:
        return None         # underflow to zero (ERANGE)
    return v


def _double(b, msg=None) -> float:
    v = parse_double(b)
    if v is None:
        raise ErrorReply(msg) if msg else _NOT_FLOAT
    return v


def _lonlat(a, b) -> tuple[float, float]:
    """extractLongLatOrReply."""
    lon = _double(a)
    lat = _double(b)
    if lon < gh.LON_MIN or lon > gh.LON_MAX or lat < gh.LAT_MIN or lat > gh.LAT_MAX:
        raise ErrorReply(BAD_LONLAT % (lon, lat))
    return lon, lat


def _unit(b) -> float:
    f = gh.UNITS.get(bytes(b).lower())
    if f is None:
        raise ErrorReply(BAD_UNIT)
    return f


def _distance_arg(argv, i) -> tuple[float, float]:
    """extractDistanceOrReply: (radius, conversion)."""
    r = _double(argv[i], NEED_RADIUS)
    if r < 0:
        raise ErrorReply(NEG_RADIUS)
    return r, _unit(argv[i + 1])


def _box_arg(argv, i) -> tuple[float, float, float]:
    """extractBoxOrReply: (width, height, conversion)."""
    w = _double(argv[i], NEED_WIDTH)
    h = _double(argv[i + 1], NEED_HEIGHT)
    if h < 0 or w < 0:
        raise ErrorReply(NEG_BOX)
    return w, h, _unit(argv[i + 2])


def _coord_reply(c, d: float):
    """addReplyHumanLongDouble: a bulk string in RESP2, a double in RESP3, same text."""
    s = gh.format_coord(d)
    if c.resp == 3:
        return Raw(b",%b\r\n" % s)
    return s


# -- GEOADD ---------------------------------------------------------------------------------------
@command("geoadd", -5, "write denyoom", "geo", keys=(1, 1, 1))
def geoadd(c, argv):
    n = len(argv)
    xx = nx = False
    i = 2
    while i < n:
        opt = argv[i].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":
            break
        i += 1
    ch = any(a.lower() == b"ch" for a in argv[2:i])
    if (n - i) % 3 or (xx and nx):
        raise _SYNTAX
    elems = []
    for j in range(i, n, 3):
        lon, lat = _lonlat(argv[j], argv[j + 1])
        elems.append((gh.score_of(lon, lat), argv[j + 2]))
    if not elems:
        raise _SYNTAX       # ZADD with no score/member pair
    key = argv[1]
    db = c.db
    z = db.get_collection(key, "zset")
    if z is None:
        if xx:
            return 0
        # zsetTypeCreate sized as ZADD does: element count and the first member's length
        z = db.get_collection(key, "zset", create=True)
        z.init_encoding(len(elems), len(elems[0][1]))
    else:
        z.maybe_convert(len(elems))
    added = updated = 0
    for score, member in elems:
        r = _zadd(z, member, float(score), nx, xx)
        if r == 1:
            added += 1
        elif r == 2:
            updated += 1
    if added or updated:
        c.server.changed(c, key, "z", "zadd", added + updated)
        # Redis runs (and so propagates) the ZADD this GEOADD stands for.
        zargv = [_ZADD] + argv[1:i]
        for score, member in elems:
            zargv.append(b"%d" % score)
            zargv.append(member)
        c.prop_argv = zargv
    return added + updated if ch else added


# -- GEOPOS GEOHASH GEODIST -----------------------------------------------------------------------
@command("geopos", -2, "readonly", "geo", keys=(1, 1, 1))
def geopos(c, argv):
    z = _read_zset(c, argv[1])
    out = []
    for m in argv[2:]:
        s = None if z is None else _zscore(z, m)
        if s is None:
            out.append(NULL_ARRAY)
        else:
            lon, lat = gh.decode_score(s)
            out.append([_coord_reply(c, lon), _coord_reply(c, lat)])
    return out


@command("geohash", -2, "readonly", "geo", keys=(1, 1, 1))
def geohash(c, argv):
    z = _read_zset(c, argv[1])
    out = []
    for m in argv[2:]:
        s = None if z is None else _zscore(z, m)
        out.append(None if s is None else gh.geohash_string(s))
    return out


@command("geodist", -4, "readonly", "geo", keys=(1, 1, 1))
def geodist(c, argv):
    to_meter = 1.0
    if len(argv) == 5:
        to_meter = _unit(argv[4])
    elif len(argv) > 5:
        raise _SYNTAX
    z = _read_zset(c, argv[1])
    if z is None:
        return None
    s1 = _zscore(z, argv[2])
    if s1 is None:
        return None
    s2 = _zscore(z, argv[3])
    if s2 is None:
        return None
    lon1, lat1 = gh.decode_score(s1)
    lon2, lat2 = gh.decode_score(s2)
    return gh.format_distance(gh.distance(lon1, lat1, lon2, lat2) / to_meter)


# -- searches -------------------------------------------------------------------------------------
RADIUS_COORDS = 1
RADIUS_MEMBER = 2
RADIUS_NOSTORE = 4
GEOSEARCH = 8
GEOSEARCHSTORE = 16


def _collect(z, shape: gh.Shape, limit: int) -> list:
    """membersOfAllNeighbors: the matches as [dist, lon, lat, score, member] lists, in scan
    order; with ``limit`` (COUNT ... ANY) the scan stops once that many were found."""
    found = []
    contains = shape.contains
    decode = gh.decode_score
    for bits, step in gh.search_areas(shape):
        if found and limit and len(found) >= limit:
            break
        lo, hi = gh.cell_score_range(bits, step)
        for member, score in _zscan(z, float(lo), float(hi)):
            lon, lat = decode(score)
            d = contains(lon, lat)
            if d is not None:
                found.append([d, lon, lat, score, member])
            if found and limit and len(found) >= limit:
                break
    return found


def _cmp_asc(x, y):
    dx, dy = x[0], y[0]
    if dx > dy:
        return 1
    if dx == dy:
        return 0
    return -1


def _cmp_desc(x, y):
    return -_cmp_asc(x, y)


def _search(c, argv, src, flags):
    """georadiusGeneric: every search command, with Redis's argument order and errors."""
    n = len(argv)
    z = _read_zset(c, argv[src])
    storekey = None
    storedist = False
    shape = gh.Shape()
    if flags & RADIUS_COORDS:
        base = 6
        shape.lon, shape.lat = _lonlat(argv[2], argv[3])
        shape.radius, shape.conversion = _distance_arg(argv, 4)
    elif flags & RADIUS_MEMBER:
        base = 5
        if z is not None:
            s = _zscore(z, argv[2])
            if s is None:
                raise ErrorReply(BAD_MEMBER)
            shape.lon, shape.lat = gh.decode_score(s)
            shape.radius, shape.conversion = _distance_arg(argv, 3)
    else:
        base = 2
        if flags & GEOSEARCHSTORE:
            base = 3
            storekey = argv[1]

    withdist = withhash = withcoord = False
    frommember = fromloc = byradius = bybox = False
    sort = 0            # 0 none, 1 asc, 2 desc
    any_ = False
    count = 0
    rem = n - base
    i = 0
    while i < rem:
        a = argv[base + i]
        arg = a.lower()
        if arg == b"withdist":
            withdist = True
        elif arg == b"withhash":
            withhash = True
        elif arg == b"withcoord":
            withcoord = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            sort = 1
        elif arg == b"desc":
            sort = 2
        elif arg == b"count" and i + 1 < rem:
            count = get_int(argv[base + i + 1])
            if count <= 0:
                raise ErrorReply(BAD_COUNT)
            i += 1
        elif (arg == b"store" and i + 1 < rem and not flags & RADIUS_NOSTORE
              and not flags & GEOSEARCH):
            storekey = argv[base + i + 1]
            storedist = False
            i += 1
        elif (arg == b"storedist" and i + 1 < rem and not flags & RADIUS_NOSTORE
              and not flags & GEOSEARCH):
            storekey = argv[base + i + 1]
            storedist = True
            i += 1
        elif arg == b"storedist" and flags & GEOSEARCH and flags & GEOSEARCHSTORE:
            storedist = True
        elif arg == b"frommember" and i + 1 < rem and flags & GEOSEARCH and not fromloc:
            if z is not None:
                s = _zscore(z, argv[base + i + 1])
                if s is None:
                    raise ErrorReply(BAD_MEMBER)
                shape.lon, shape.lat = gh.decode_score(s)
            frommember = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < rem and flags & GEOSEARCH and not frommember:
            shape.lon, shape.lat = _lonlat(argv[base + i + 1], argv[base + i + 2])
            fromloc = True
            i += 2
        elif arg == b"byradius" and i + 2 < rem and flags & GEOSEARCH and not bybox:
            shape.radius, shape.conversion = _distance_arg(argv, base + i + 1)
            shape.box = False
            byradius = True
            i += 2
        elif arg == b"bybox" and i + 3 < rem and flags & GEOSEARCH and not byradius:
            shape.width, shape.height, shape.conversion = _box_arg(argv, base + i + 1)
            shape.box = True
            bybox = True
            i += 3
        else:
            raise _SYNTAX
        i += 1

    if storekey is not None and (withdist or withhash or withcoord):
        raise ErrorReply(STORE_WITH % ("GEOSEARCHSTORE" if flags & GEOSEARCHSTORE
                                       else "STORE option in GEORADIUS"))
    if flags & GEOSEARCH and not (frommember or fromloc):
        raise ErrorReply(NEED_FROM % argv[0].decode("utf-8", "surrogateescape"))
    if flags & GEOSEARCH and not (byradius or bybox):
        raise ErrorReply(NEED_BY % argv[0].decode("utf-8", "surrogateescape"))
    if any_ and not count:
        raise ErrorReply(ANY_NEEDS_COUNT)

    if z is None:
        if storekey is not None:
            if c.db.delete(storekey):
                c.server.changed(c, storekey, "g", "del")
            return 0
        return []

    if count and sort == 0 and not any_:
        sort = 1

    found = _collect(z, shape, count if any_ else 0)
    if not found and storekey is None:
        return []

    total = len(found)
    returned = total if (count == 0 or total < count) else count
    if sort:
        if returned == total:
            found.sort(key=_dist_key, reverse=(sort == 2))
        else:
            pqsort(found, _cmp_asc if sort == 1 else _cmp_desc, 0, returned - 1)

    conv = shape.conversion
    if storekey is None:
        opts = withdist or withhash or withcoord
        out = []
        for k in range(returned):
            d, lon, lat, score, member = found[k]
            if not opts:
                out.append(member)
                continue
            item = [member]
            if withdist:
                item.append(gh.format_distance(d / conv))
            if withhash:
                item.append(int(score))
            if withcoord:
                item.append([_coord_reply(c, lon), _coord_reply(c, lat)])
            out.append(item)
        return out

    db = c.db
    if returned:
        maxlen = totlen = 0
        for k in range(returned):
            ln = len(found[k][4])
            totlen += ln
            if ln > maxlen:
                maxlen = ln
        # setKey: the result replaces any value (and expiry) at the destination; Redis
        # builds a skiplist and converts it to a listpack when small enough.
        db.delete(storekey)
        z2 = db.get_collection(storekey, "zset", create=True)
        z2.init_encoding(returned, maxlen)
        for k in range(returned):
            d, lon, lat, score, member = found[k]
            z2.add(member, d / conv if storedist else score)
        z2.shrink_if_small(maxlen, totlen)
        c.server.changed(c, storekey, "z",
                         "geosearchstore" if flags & GEOSEARCH else "georadiusstore", returned)
    elif db.delete(storekey):
        c.server.changed(c, storekey, "g", "del")
    return returned


def _dist_key(p):
    return p[0]


def _radius_keys(argv):
    """georadiusGetKeys: the source key, and the key after the last STORE/STOREDIST."""
    stored = -1
    i = 5
    n = len(argv)
    while i < n:
        a = argv[i].lower()
        if (a == b"store" or a == b"storedist") and i + 1 < n:
            stored = i + 1
            i += 1
        i += 1
    return [1] if stored < 0 else [1, stored]


@command("georadius", -6, "write denyoom", "geo", keys=(1, 1, 1), getkeys=_radius_keys)
def georadius(c, argv):
    return _search(c, argv, 1, RADIUS_COORDS)


@command("georadiusbymember", -5, "write denyoom", "geo", keys=(1, 1, 1), getkeys=_radius_keys)
def georadiusbymember(c, argv):
    return _search(c, argv, 1, RADIUS_MEMBER)


@command("georadius_ro", -6, "readonly", "geo", keys=(1, 1, 1))
def georadius_ro(c, argv):
    return _search(c, argv, 1, RADIUS_COORDS | RADIUS_NOSTORE)


@command("georadiusbymember_ro", -5, "readonly", "geo", keys=(1, 1, 1))
def georadiusbymember_ro(c, argv):
    return _search(c, argv, 1, RADIUS_MEMBER | RADIUS_NOSTORE)


@command("geosearch", -7, "readonly", "geo", keys=(1, 1, 1))
def geosearch(c, argv):
    return _search(c, argv, 1, GEOSEARCH)


@command("geosearchstore", -8, "write denyoom", "geo", keys=(1, 2, 1))
def geosearchstore(c, argv):
    return _search(c, argv, 2, GEOSEARCH | GEOSEARCHSTORE)
