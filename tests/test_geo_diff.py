"""Differential machine for the geo commands: random GEOADD / searches / stores sent to valkeyd
and to valkey-server, replies compared exactly (member order, distances, hashes, coordinates).

Points live in a small region (about 10 km across) so that searches find several of them, on
a coarse grid so that some share a position (ties in the distance sort, COUNT's partial sort).
"""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import rule

from differential import DiffMachine, run_machine

GKEYS = st.sampled_from([b"g1", b"g2", b"{t}g3"])
MEMBERS = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"palermo",
                           b"catania", b"", b"x" * 70, b"1", b"22"])
# Longitude 13.30..13.40, latitude 38.10..38.20 on a 0.005 degree grid, and the odd point
# far away or invalid.
LON = st.one_of(st.integers(0, 20).map(lambda i: b"%.3f" % (13.30 + i * 0.005)),
                st.sampled_from([b"13.361389", b"15.087269", b"-180", b"180", b"181", b"x"]))
LAT = st.one_of(st.integers(0, 20).map(lambda i: b"%.3f" % (38.10 + i * 0.005)),
                st.sampled_from([b"38.115556", b"37.502669", b"85.05112878", b"-85.06",
                                 b"nan"]))
UNIT = st.sampled_from([b"m", b"km", b"ft", b"mi", b"KM", b"parsec"])
RADIUS = st.one_of(st.sampled_from([b"0", b"100", b"1000", b"2500", b"5000", b"8000",
                                    b"20000", b"-1", b"abc"]),
                   st.integers(1, 30000).map(lambda i: b"%d" % i))
SMALL_RADIUS = st.sampled_from([b"0", b"0.5", b"1", b"2.5", b"5", b"10", b"20"])
SORT = st.sampled_from([[], [b"ASC"], [b"DESC"]])
COUNT = st.one_of(st.just([]), st.integers(1, 6).map(lambda n: [b"COUNT", b"%d" % n]),
                  st.integers(1, 4).map(lambda n: [b"COUNT", b"%d" % n, b"ANY"]),
                  st.sampled_from([[b"COUNT", b"0"], [b"COUNT", b"x"], [b"ANY"]]))
WITH = st.lists(st.sampled_from([b"WITHCOORD", b"WITHDIST", b"WITHHASH"]), max_size=3,
                unique=True)


def radius_arg(r, unit):
    # Large radii for meters and feet, small ones for km and miles.
    return [r, unit]


class Geo(DiffMachine):
    def __init__(self):
        super().__init__()
        for cl in (self.ours, self.ref):
            cl.response_callbacks.clear()

    def zrange(self, key):
        """A stored result: members with their scores (hashes or distances)."""
        self.check(b"ZRANGE", key, 0, -1, b"WITHSCORES")

    @rule(key=GKEYS, opts=st.lists(st.sampled_from([b"NX", b"XX", b"CH"]), max_size=2),
          pts=st.lists(st.tuples(LON, LAT, MEMBERS), min_size=1, max_size=4))
    def geoadd(self, key, opts, pts):
        args = [b"GEOADD", key] + opts
        for p in pts:
            args += list(p)
        self.check(*args)

    @rule(key=GKEYS, mems=st.lists(MEMBERS, min_size=1, max_size=4))
    def geopos(self, key, mems):
        self.check(b"GEOPOS", key, *mems)

    @rule(key=GKEYS, mems=st.lists(MEMBERS, min_size=1, max_size=4))
    def geohash(self, key, mems):
        self.check(b"GEOHASH", key, *mems)

    @rule(key=GKEYS, a=MEMBERS, b=MEMBERS, unit=st.one_of(st.just(None), UNIT))
    def geodist(self, key, a, b, unit):
        self.check(b"GEODIST", key, a, b, *([unit] if unit else []))

    def _by(self, data):
        if data.draw(st.booleans()):
            unit = data.draw(UNIT)
            r = data.draw(SMALL_RADIUS if unit.lower() in (b"km", b"mi") else RADIUS)
            return [b"BYRADIUS", r, unit]
        unit = data.draw(UNIT)
        src = SMALL_RADIUS if unit.lower() in (b"km", b"mi") else RADIUS
        return [b"BYBOX", data.draw(src), data.draw(src), unit]

    def _from(self, data):
        if data.draw(st.booleans()):
            return [b"FROMMEMBER", data.draw(MEMBERS)]
        return [b"FROMLONLAT", data.draw(LON), data.draw(LAT)]

    @rule(key=GKEYS, data=st.data())
    def geosearch(self, key, data):
        parts = [self._from(data), self._by(data), data.draw(SORT), data.draw(COUNT),
                 data.draw(WITH)]
        order = data.draw(st.permutations(range(len(parts))))
        args = [b"GEOSEARCH", key]
        for i in order:
            args += parts[i]
        self.check(*args)

    @rule(dst=GKEYS, src=GKEYS, data=st.data())
    def geosearchstore(self, dst, src, data):
        args = [b"GEOSEARCHSTORE", dst, src] + self._from(data) + self._by(data)
        args += data.draw(SORT) + data.draw(COUNT)
        if data.draw(st.booleans()):
            args.append(b"STOREDIST")
        self.check(*args)
        self.zrange(dst)
        self.check_state(dst)

    @rule(key=GKEYS, lon=LON, lat=LAT, data=st.data(), ro=st.booleans())
    def georadius(self, key, lon, lat, data, ro):
        unit = data.draw(UNIT)
        r = data.draw(SMALL_RADIUS if unit.lower() in (b"km", b"mi") else RADIUS)
        args = [b"GEORADIUS_RO" if ro else b"GEORADIUS", key, lon, lat, r, unit]
        args += data.draw(WITH) + data.draw(SORT) + data.draw(COUNT)
        store = None
        if not ro and data.draw(st.booleans()):
            store = data.draw(GKEYS)
            args += [data.draw(st.sampled_from([b"STORE", b"STOREDIST"])), store]
        self.check(*args)
        if store:
            self.zrange(store)

    @rule(key=GKEYS, member=MEMBERS, data=st.data(), ro=st.booleans())
    def georadiusbymember(self, key, member, data, ro):
        unit = data.draw(UNIT)
        r = data.draw(SMALL_RADIUS if unit.lower() in (b"km", b"mi") else RADIUS)
        args = [b"GEORADIUSBYMEMBER_RO" if ro else b"GEORADIUSBYMEMBER", key, member, r, unit]
        args += data.draw(SORT) + data.draw(COUNT) + data.draw(WITH)
        store = None
        if not ro and data.draw(st.booleans()):
            store = data.draw(GKEYS)
            args += [data.draw(st.sampled_from([b"STORE", b"STOREDIST"])), store]
        self.check(*args)
        if store:
            self.zrange(store)

    @rule(key=GKEYS)
    def state(self, key):
        self.check_state(key)
        self.check(b"EXISTS", key)

    @rule(key=GKEYS)
    def delete(self, key):
        self.check(b"DEL", key)

    @rule(key=GKEYS)
    def wrongtype(self, key):
        self.check(b"SET", key, b"str")


def test_geo_differential(r, refc):
    run_machine(Geo, r, refc)
