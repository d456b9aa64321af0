"""Geohash arithmetic for the GEO commands, as Redis 7.2.4 does it (src/geohash.c,
src/geohash_helper.c).

* A position is stored as the score of a sorted-set member: a 52-bit integer made of 26 bits
  of latitude and 26 bits of longitude, interleaved (latitude in the even bits, longitude in
  the odd ones), over Redis's Web-Mercator limits (latitude +-85.05112878, longitude +-180).
* Decoding gives the centre of the cell, clamped to those limits.
* GEOHASH strings re-encode that centre over the standard latitude range +-90.
* A radius or box search looks at the cell that holds the centre plus its 8 neighbours, at a
  precision chosen from the radius, dropping neighbours that cannot hold a match.
* Distances use the haversine formula with Redis's Earth radius.

Every computation uses IEEE doubles in the order Redis uses them, so that the results (and
so the replies) are bit-for-bit those of Redis.
"""
from __future__ import annotations

import math

STEP_MAX = 26                   # 26 * 2 = 52 bits
LAT_MIN = -85.05112878
LAT_MAX = 85.05112878
LON_MIN = -180.0
LON_MAX = 180.0

EARTH_RADIUS_M = 6372797.560856
MERCATOR_MAX = 20037726.37
D_R = math.pi / 180.0           # degrees -> radians factor, as Redis computes it

# Conversion factors from meters (divide meters by the factor to get the unit).
UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}

GEO_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"

_M64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA


# -- bit interleaving ----------------------------------------------------------------------------
def _spread(v: int) -> int:
    """Spread the low 32 bits of ``v`` over the even bits of a 64-bit word."""
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    v = (v | (v << 1)) & 0x5555555555555555
    return v


def _squash(v: int) -> int:
    """Collect the even bits of a 64-bit word into 32 bits (inverse of :func:`_spread`)."""
    v &= _EVEN
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF
    return v


# Lookup tables: 8 bits spread over the even bits of 16, and the 8 even bits of 16 collected.
_SPREAD8 = [_spread(i) for i in range(256)]
_EVEN8 = [_squash(i) for i in range(256)]
_EVEN16 = [lo | hi << 4 for hi in _EVEN8 for lo in _EVEN8]


def interleave(lat_bits: int, lon_bits: int) -> int:
    """Latitude bits in the even positions, longitude bits in the odd ones (32 bits each)."""
    S = _SPREAD8
    return (S[lat_bits & 255] | S[(lat_bits >> 8) & 255] << 16
            | S[(lat_bits >> 16) & 255] << 32 | S[(lat_bits >> 24) & 255] << 48
            | (S[lon_bits & 255] | S[(lon_bits >> 8) & 255] << 16
               | S[(lon_bits >> 16) & 255] << 32 | S[(lon_bits >> 24) & 255] << 48) << 1)


def deinterleave(bits: int) -> tuple[int, int]:
    """(latitude part, longitude part) of an interleaved 64-bit word."""
    E = _EVEN16
    lon = bits >> 1
    return ((E[bits & 0xFFFF] | E[(bits >> 16) & 0xFFFF] << 8 | E[(bits >> 32) & 0xFFFF] << 16
             | E[(bits >> 48) & 0xFFFF] << 24),
            (E[lon & 0xFFFF] | E[(lon >> 16) & 0xFFFF] << 8 | E[(lon >> 32) & 0xFFFF] << 16
             | E[(lon >> 48) & 0xFFFF] << 24))


# -- encode / decode -----------------------------------------------------------------------------
def encode(lon: float, lat: float, step: int = STEP_MAX,
           lat_min: float = LAT_MIN, lat_max: float = LAT_MAX,
           lon_min: float = LON_MIN, lon_max: float = LON_MAX):
    """The ``step``-precision hash bits (2*step bits) of a position, or None when the position
    is outside the WGS84/Mercator limits or the given ranges (geohashEncode)."""
    if lon > LON_MAX or lon < LON_MIN or lat > LAT_MAX or lat < LAT_MIN:
        return None
    if lat < lat_min or lat > lat_max or lon < lon_min or lon > lon_max:
        return None
    lat_off = (lat - lat_min) / (lat_max - lat_min)
    lon_off = (lon - lon_min) / (lon_max - lon_min)
    scale = float(1 << step)
    lat_off *= scale
    lon_off *= scale
    # C converts the doubles to uint32_t (truncation towards zero).
    return interleave(int(lat_off), int(lon_off))


def score_of(lon: float, lat: float) -> int:
    """The 52-bit sorted-set score of a valid position (GEOADD)."""
    return encode(lon, lat, STEP_MAX)      # step 26: already aligned to 52 bits


def decode_area(bits: int, step: int, lat_min: float = LAT_MIN, lat_max: float = LAT_MAX,
                lon_min: float = LON_MIN, lon_max: float = LON_MAX):
    """The cell of a hash: (lon_min, lon_max, lat_min, lat_max), or None for the zero hash
    (bits 0 and step 0, geohashDecode's HASHISZERO)."""
    if bits == 0 and step == 0:
        return None
    ilat, ilon = deinterleave(bits)
    lat_scale = lat_max - lat_min
    lon_scale = lon_max - lon_min
    div = float(1 << step)
    return (lon_min + (ilon * 1.0 / div) * lon_scale,
            lon_min + ((ilon + 1) * 1.0 / div) * lon_scale,
            lat_min + (ilat * 1.0 / div) * lat_scale,
            lat_min + ((ilat + 1) * 1.0 / div) * lat_scale)


def score_to_bits(score: float) -> int:
    """C's ``(uint64_t)score`` as gcc compiles it on x86-64 (a stored score may be any double
    a client gave ZADD; out-of-range conversions give what the hardware gives)."""
    two63 = 9223372036854775808.0
    if score != score:
        return 1 << 63
    if score < two63:
        if score <= -two63 or math.isinf(score):
            return 1 << 63
        return int(score) & _M64
    v = score - two63
    if v >= two63:
        return 0            # 0x8000... from the conversion, xor-ed with the top bit
    return (int(v) ^ (1 << 63)) & _M64


_DIV26 = float(1 << STEP_MAX)
_LON_SCALE = LON_MAX - LON_MIN
_LAT_SCALE = LAT_MAX - LAT_MIN


def decode_score(score: float) -> tuple[float, float]:
    """(longitude, latitude) of a stored score: the centre of its step-26 cell, clamped."""
    if 0 <= score < 4503599627370496.0:      # a 52-bit geohash (every GEOADD score)
        bits = int(score)
    else:
        bits = score_to_bits(score)
    ilat, ilon = deinterleave(bits)
    div = _DIV26
    lon_lo = LON_MIN + (ilon * 1.0 / div) * _LON_SCALE
    lon_hi = LON_MIN + ((ilon + 1) * 1.0 / div) * _LON_SCALE
    lat_lo = LAT_MIN + (ilat * 1.0 / div) * _LAT_SCALE
    lat_hi = LAT_MIN + ((ilat + 1) * 1.0 / div) * _LAT_SCALE
    lon = (lon_lo + lon_hi) / 2
    if lon > LON_MAX:
        lon = LON_MAX
    if lon < LON_MIN:
        lon = LON_MIN
    lat = (lat_lo + lat_hi) / 2
    if lat > LAT_MAX:
        lat = LAT_MAX
    if lat < LAT_MIN:
        lat = LAT_MIN
    return lon, lat


def geohash_string(score: float) -> bytes:
    """The 11-character standard geohash of a stored score (GEOHASH): the decoded centre
    re-encoded over latitude +-90, 52 bits as 10 characters plus a final '0'."""
    lon, lat = decode_score(score)
    bits = encode(lon, lat, STEP_MAX, -90.0, 90.0, -180.0, 180.0)
    if bits is None:        # unreachable: the decoded centre is always within the limits
        bits = 0
    out = bytearray(11)
    for i in range(10):
        out[i] = GEO_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F]
    out[10] = GEO_ALPHABET[0]
    return bytes(out)


# -- neighbours -----------------------------------------------------------------------------------
def _move_x(bits: int, step: int, d: int) -> int:
    if d == 0:
        return bits
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = (x + (zz + 1)) & _M64
    else:
        x = x | zz
        x = (x - (zz + 1)) & _M64
    x &= _ODD >> (64 - step * 2)
    return x | y


def _move_y(bits: int, step: int, d: int) -> int:
    if d == 0:
        return bits
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = (y + (zz + 1)) & _M64
    else:
        y = y | zz
        y = (y - (zz + 1)) & _M64
    y &= _EVEN >> (64 - step * 2)
    return x | y


def neighbors(bits: int, step: int) -> dict:
    """The 8 neighbouring cells' bits (longitude wraps around, as in Redis)."""
    def mv(dx, dy):
        return _move_y(_move_x(bits, step, dx), step, dy)
    return {
        "north": mv(0, 1), "south": mv(0, -1), "east": mv(1, 0), "west": mv(-1, 0),
        "north_east": mv(1, 1), "north_west": mv(-1, 1),
        "south_east": mv(1, -1), "south_west": mv(-1, -1),
    }


# -- search areas ---------------------------------------------------------------------------------
def estimate_step(range_m: float, lat: float) -> int:
    """geohashEstimateStepsByRadius: a precision whose cells are about the search radius."""
    if range_m == 0:
        return 26
    step = 1
    while range_m < MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    if step < 1:
        step = 1
    if step > 26:
        step = 26
    return step


# C's libm returns NaN outside a function's domain (an infinite search radius makes the
# bounding box infinite); Python's math raises instead.
_NAN = float("nan")


def _cos(x: float) -> float:
    return math.cos(x) if -math.inf < x < math.inf else _NAN


def _sin(x: float) -> float:
    return math.sin(x) if -math.inf < x < math.inf else _NAN


def _asin(x: float) -> float:
    return math.asin(x) if -1.0 <= x <= 1.0 else _NAN


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 or x != x else _NAN


def _div(a: float, b: float) -> float:
    """IEEE division (x/0 is +-inf or NaN, as in C)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return _NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def deg_rad(a: float) -> float:
    return a * D_R


def rad_deg(a: float) -> float:
    return a / D_R


class Shape:
    """A search shape: a circle (``radius``) or an axis-aligned box (``width`` x ``height``),
    in the user's unit, ``conversion`` meters per unit, centred on ``lon``, ``lat``."""

    __slots__ = ("lon", "lat", "box", "radius", "width", "height", "conversion")

    def __init__(self, lon=0.0, lat=0.0, box=False, radius=0.0, width=0.0, height=0.0,
                 conversion=1.0):
        self.lon, self.lat, self.box = lon, lat, box
        self.radius, self.width, self.height = radius, width, height
        self.conversion = conversion

    def bounding_box(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat), as geohashBoundingBox computes it."""
        lon, lat = self.lon, self.lat
        if self.box:
            height = self.conversion * (self.height / 2)
            width = self.conversion * (self.width / 2)
        else:
            height = self.conversion * self.radius
            width = self.conversion * self.radius
        lat_delta = rad_deg(height / EARTH_RADIUS_M)
        lon_delta_top = rad_deg(_div(width / EARTH_RADIUS_M, _cos(deg_rad(lat + lat_delta))))
        lon_delta_bottom = rad_deg(_div(width / EARTH_RADIUS_M, _cos(deg_rad(lat - lat_delta))))
        if lat < 0:
            return (lon - lon_delta_bottom, lat - lat_delta, lon + lon_delta_bottom,
                    lat + lat_delta)
        return lon - lon_delta_top, lat - lat_delta, lon + lon_delta_top, lat + lat_delta

    def radius_meters(self) -> float:
        if self.box:
            w2 = self.width / 2
            h2 = self.height / 2
            r = _sqrt(w2 * w2 + h2 * h2)
        else:
            r = self.radius
        return r * self.conversion

    def contains(self, plon: float, plat: float):
        """The distance (meters) from the centre to a point inside the shape, else None
        (geoWithinShape; a point exactly on the edge is inside)."""
        if self.box:
            if lat_distance(plat, self.lat) > self.height * self.conversion / 2:
                return None
            if distance(plon, plat, self.lon, plat) > self.width * self.conversion / 2:
                return None
            return distance(self.lon, self.lat, plon, plat)
        d = distance(self.lon, self.lat, plon, plat)
        if d > self.radius * self.conversion:
            return None
        return d


# The order in which Redis visits the areas (membersOfAllNeighbors).
_AREA_ORDER = ("north", "south", "east", "west", "north_east", "north_west", "south_east",
               "south_west")


def search_areas(shape: Shape) -> list[tuple[int, int]]:
    """The (bits, step) cells to scan, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW),
    with the useless ones removed (geohashCalculateAreasByShapeWGS84) and a cell equal to
    the previous scanned one skipped (membersOfAllNeighbors)."""
    min_lon, min_lat, max_lon, max_lat = shape.bounding_box()
    lon, lat = shape.lon, shape.lat
    step = estimate_step(shape.radius_meters(), lat)

    bits = encode(lon, lat, step)
    if bits is None:
        bits = 0        # geohashEncode leaves the hash zeroed; not reachable for valid input
    nb = neighbors(bits, step)

    decrease = False
    north = decode_area(nb["north"], step)
    south = decode_area(nb["south"], step)
    east = decode_area(nb["east"], step)
    west = decode_area(nb["west"], step)
    if north[3] < max_lat:
        decrease = True
    if south[2] > min_lat:
        decrease = True
    if east[1] < max_lon:
        decrease = True
    if west[0] > min_lon:
        decrease = True
    if step > 1 and decrease:
        step -= 1
        bits = encode(lon, lat, step)
        if bits is None:
            bits = 0
        nb = neighbors(bits, step)
    area = decode_area(bits, step)      # (lon_min, lon_max, lat_min, lat_max)

    cells = {k: (v, step) for k, v in nb.items()}
    zero = (0, 0)
    if step >= 2 and area is not None:
        if area[2] < min_lat:
            cells["south"] = cells["south_west"] = cells["south_east"] = zero
        if area[3] > max_lat:
            cells["north"] = cells["north_east"] = cells["north_west"] = zero
        if area[0] < min_lon:
            cells["west"] = cells["south_west"] = cells["north_west"] = zero
        if area[1] > max_lon:
            cells["east"] = cells["south_east"] = cells["north_east"] = zero

    seq = [(bits, step)] + [cells[k] for k in _AREA_ORDER]
    out = []
    last = 0            # index of the last scanned cell; 0 (the centre) never compares
    for i, cell in enumerate(seq):
        if cell == zero:
            continue
        if last and cell == seq[last]:
            continue
        out.append(cell)
        last = i
    return out


def cell_score_range(bits: int, step: int) -> tuple[int, int]:
    """The sorted-set scores [min, max) of the positions inside a cell."""
    shift = 52 - step * 2
    return bits << shift, (bits + 1) << shift


# -- distances ------------------------------------------------------------------------------------
def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_M * abs(deg_rad(lat2) - deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine great-circle distance in meters (geohashGetDistance)."""
    lon1r = deg_rad(lon1)
    lon2r = deg_rad(lon2)
    v = _sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = deg_rad(lat1)
    lat2r = deg_rad(lat2)
    u = _sin((lat2r - lat1r) / 2)
    a = u * u + _cos(lat1r) * _cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS_M * _asin(_sqrt(a))


# -- reply formatting -----------------------------------------------------------------------------
def format_distance(d: float) -> bytes:
    """A distance with 4 decimals (fixedpoint_d2string: rounded half-to-even, as llrint)."""
    if d == 0:
        return b"0.0000"
    scaled = d * 10000.0
    if math.isinf(scaled) or scaled != scaled or abs(scaled) >= 9.223372036854775807e18:
        v = -(1 << 63)      # llrint's "invalid" result
    else:
        v = round(scaled)
    neg = v < 0
    digits = str(-v if neg else v)
    if len(digits) < 5:
        digits = "0" * (5 - len(digits)) + digits
    s = digits[:-4] + "." + digits[-4:]
    return (("-" + s) if neg else s).encode()


def format_coord(d: float) -> bytes:
    """A coordinate as Redis prints a long double for humans (``%.17Lf`` without trailing
    zeros, ld2string LD_STR_HUMAN)."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if d != d:
        return b"nan"
    s = "%.17f" % d
    if "." in s:
        s = s.rstrip("0")
        if s.endswith("."):
            s = s[:-1]
    if s == "-0":
        s = "0"
    return s.encode()
