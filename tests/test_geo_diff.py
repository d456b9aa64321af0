"""Differential machine for the geo commands: random GEOADD / searches / stores sent to valkeyd
and to valkey-server, replies compared exactly (member order, distances, hashes, coordinates).

Points live in a small region (about 10 km across) so that searches find several of them, on
a coarse grid so that some share a position (ties in the distance sort, COUNT's partial sort).
"""
from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from differential import DIFF_SETTINGS, DiffMachine

GKEYS = st.sampled_from([b"g1", b"g1", b"g2", b"g2", b"{t}g3"])
MEMBERS = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"palermo",
                           b"catania", b"", b"x" * 70, b"1", b"22"])

# Members to search from: mostly ones the keys hold.
FROM_MEMBERS = st.integers(0, 9).flatmap(
    lambda i: MEMBERS if i == 0 else st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"palermo"]))


def rare(common, special, one_in=12):
    """``common`` most of the time, ``special`` (edge cases and errors) about once in
    ``one_in`` draws."""
    return st.integers(0, one_in - 1).flatmap(lambda i: special if i == 0 else common)


# Search sources: sometimes a missing key or one holding a string.
SRC = rare(GKEYS, st.sampled_from([b"str", b"missing"]), 8)
# Longitude 13.30..13.40, latitude 38.10..38.20 on a 0.005 degree grid (about 500 m), and the
# odd point far away or invalid.
LON = rare(st.integers(0, 20).map(lambda i: b"%.3f" % (13.35 + (i - 10) * 0.005)),
           st.sampled_from([b"13.361389", b"15.087269", b"-180", b"180", b"181", b"x"]))
LAT = rare(st.integers(0, 20).map(lambda i: b"%.3f" % (38.15 + (i - 10) * 0.005)),
           st.sampled_from([b"38.115556", b"37.502669", b"85.05112878", b"-85.06", b"nan"]))
UNIT = rare(st.sampled_from([b"m", b"km", b"ft", b"mi", b"KM"]), st.just(b"parsec"), 30)
# (Hypothesis favours the first choices: they are the useful ones.)
RADIUS = rare(st.one_of(st.sampled_from([b"5000", b"2000", b"9000", b"800", b"300", b"12000"]),
                        st.integers(1, 12000).map(lambda i: b"%d" % i)),
              st.sampled_from([b"0", b"25000", b"500000", b"-1", b"abc", b"1.5e4"]))
SMALL_RADIUS = st.sampled_from([b"5", b"2.5", b"1", b"10", b"0.5", b"3", b"7.5", b"20", b"0"])
SORT = st.sampled_from([[], [b"ASC"], [b"DESC"]])
COUNT = rare(st.one_of(st.just([]), st.integers(1, 8).map(lambda n: [b"COUNT", b"%d" % n]),
                       st.integers(1, 4).map(lambda n: [b"COUNT", b"%d" % n, b"ANY"])),
             st.sampled_from([[b"COUNT", b"0"], [b"COUNT", b"x"], [b"ANY"]]))
WITH = st.lists(st.sampled_from([b"WITHCOORD", b"WITHDIST", b"WITHHASH"]), max_size=3,
                unique=True)
INITIAL = [b"13.361389", b"38.115556", b"palermo", b"13.31", b"38.12", b"a", b"13.32", b"38.12",
           b"b", b"13.32", b"38.12", b"c", b"13.35", b"38.15", b"d", b"13.38", b"38.19", b"e",
           b"13.30", b"38.10", b"f", b"13.40", b"38.20", b"g", b"13.345", b"38.165", b"h",
           b"15.087269", b"37.502669", b"catania"]


class Geo(DiffMachine):
    def __init__(self):
        super().__init__()
        for cl in (self.ours, self.ref):
            cl.response_callbacks.clear()
        # Start with a few points in two keys, and a string for the wrong-type paths.
        self.check(b"GEOADD", b"g1", *INITIAL)
        self.check(b"GEOADD", b"g2", *INITIAL[:15])
        self.check(b"SET", b"str", b"v")

    def zrange(self, key):
        """A stored result: members with their scores (hashes or distances)."""
        self.check(b"ZRANGE", key, 0, -1, b"WITHSCORES")

    @rule(key=GKEYS, opts=st.lists(st.sampled_from([b"NX", b"XX", b"CH"]), max_size=2),
          pts=st.lists(st.tuples(LON, LAT, MEMBERS), min_size=1, max_size=4))
    def geoadd(self, key, opts, pts):
        args = [b"GEOADD", key] + opts
        xx = b"XX" in opts
        for lon, lat, m in pts:
            if xx and len(m) > 64:
                # Valkey 8.0 turns a listpack into a skiplist for a long member that XX then
                # skips; Redis 7.2.4 does not (tested on its own in test_geo.py).
                m = b"a"
            args += [lon, lat, m]
        self.check(*args)

    @rule(key=SRC, mems=st.lists(MEMBERS, min_size=1, max_size=4))
    def geopos(self, key, mems):
        self.check(b"GEOPOS", key, *mems)

    @rule(key=SRC, mems=st.lists(MEMBERS, min_size=1, max_size=4))
    def geohash(self, key, mems):
        self.check(b"GEOHASH", key, *mems)

    @rule(key=SRC, a=MEMBERS, b=MEMBERS, unit=st.one_of(st.just(None), UNIT))
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
            return [b"FROMMEMBER", data.draw(FROM_MEMBERS)]
        return [b"FROMLONLAT", data.draw(LON), data.draw(LAT)]

    @rule(key=SRC, data=st.data())
    def geosearch(self, key, data):
        parts = [self._from(data), self._by(data), data.draw(SORT), data.draw(COUNT),
                 data.draw(WITH)]
        order = data.draw(st.permutations(range(len(parts))))
        args = [b"GEOSEARCH", key]
        for i in order:
            args += parts[i]
        self.check(*args)

    @rule(dst=GKEYS, src=SRC, data=st.data())
    def geosearchstore(self, dst, src, data):
        args = [b"GEOSEARCHSTORE", dst, src] + self._from(data) + self._by(data)
        args += data.draw(SORT) + data.draw(COUNT)
        if data.draw(st.booleans()):
            args.append(b"STOREDIST")
        self.check(*args)
        self.zrange(dst)
        self.check_state(dst)

    def _store(self, data):
        """STORE / STOREDIST and its key, or nothing; WITH* options only without them
        (but for the odd error)."""
        if data.draw(st.booleans()):
            store = data.draw(GKEYS)
            return [data.draw(st.sampled_from([b"STORE", b"STOREDIST"])), store], store
        return [], None

    @rule(key=SRC, lon=LON, lat=LAT, data=st.data(), ro=st.booleans())
    def georadius(self, key, lon, lat, data, ro):
        unit = data.draw(UNIT)
        r = data.draw(SMALL_RADIUS if unit.lower() in (b"km", b"mi") else RADIUS)
        args = [b"GEORADIUS_RO" if ro else b"GEORADIUS", key, lon, lat, r, unit]
        store, skey = ([], None) if ro else self._store(data)
        if not store or data.draw(st.integers(0, 15)) == 0:
            args += data.draw(WITH)
        args += data.draw(SORT) + data.draw(COUNT) + store
        self.check(*args)
        if skey:
            self.zrange(skey)

    @rule(key=SRC, member=FROM_MEMBERS, data=st.data(), ro=st.booleans())
    def georadiusbymember(self, key, member, data, ro):
        unit = data.draw(UNIT)
        r = data.draw(SMALL_RADIUS if unit.lower() in (b"km", b"mi") else RADIUS)
        args = [b"GEORADIUSBYMEMBER_RO" if ro else b"GEORADIUSBYMEMBER", key, member, r, unit]
        store, skey = ([], None) if ro else self._store(data)
        args += store + data.draw(SORT) + data.draw(COUNT)
        if not store or data.draw(st.integers(0, 15)) == 0:
            args += data.draw(WITH)
        self.check(*args)
        if skey:
            self.zrange(skey)

    @rule(key=GKEYS)
    def state(self, key):
        self.check_state(key)
        self.check(b"EXISTS", key)

    @rule(key=GKEYS, data=st.data())
    def delete(self, key, data):
        if data.draw(st.integers(0, 4)) == 0:
            self.check(b"DEL", key)

    @rule(data=st.data())
    def wrongtype(self, data):
        if data.draw(st.integers(0, 3)) == 0:
            self.check(b"SET", b"{t}g3", b"str")


def test_geo_differential(r, refc):
    # Geo commands are cheap and have many options: twice the usual number of runs
    # (about 13 s).
    bound = type("Geo", (Geo,), {"ours": r, "ref": refc})
    run_state_machine_as_test(
        bound, settings=settings(DIFF_SETTINGS, max_examples=2 * DIFF_SETTINGS.max_examples))
