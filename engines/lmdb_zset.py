"""Sorted sets of the LMDB engine (:class:`engines.base.ZSetValue`), one record per member.

Records (sub-databases opened by :mod:`engines.lmdb`), under the key's ``version``:

* ``zm``: ``pdb`` + version (u64 BE) + crc32(name) (u32 BE) + name  ->  score (f64 BE,
  exactly as given: ``-0.0`` stays ``-0.0`` for ZSCORE)
* ``zs``: ``pdb`` + version + ord(score) (8 bytes) + name  ->  score (f64 BE)
* ``le``: ``pdb`` + version + name  ->  member, for members of 459 bytes or more only

A member's *name* is the member itself when shorter than 459 bytes, else its first 459 bytes
+ its SHA-256 (see :mod:`engines.lmdb_view`): members of any length are stored.

``zs`` is the score index. ``ord`` is the order-preserving encoding of a double: its IEEE-754
bits as u64 big-endian with the sign bit flipped for a positive number and every bit
inverted for a negative one, so that bytewise order is numeric order (``-inf`` lowest, ``inf``
highest). ``-0.0`` is indexed as ``0.0`` (Redis compares scores with ``<``: the two are equal
and such members are ordered by member bytes together). Equal scores are ordered by member
bytes (memcmp), as Redis's skiplist does, because the member follows the score in the key.
Names keep that order with one exception: long members with the same score and the same
first 459 bytes (a *run*: contiguous in the index, as no other name starts with those 459
bytes) are ordered by their hash. Every walk of the index reads such a run whole and yields
it sorted by the full members (:meth:`LmdbZSet._gather`), and ZRANK corrects the member's
position within its run, so every reply orders by member bytes exactly as Redis does; runs
of more than one member only exist for members sharing 459-byte prefixes and a score.

Costs: ZADD/ZREM/ZSCORE/ZINCRBY are a few B-tree operations (O(log n)). Score ranges
(ZRANGE BYSCORE, ZRANGEBYSCORE, ZCOUNT, ZREMRANGEBYSCORE, GEO searches) seek to their lower
(or, reversed, upper) bound in ``zs`` and walk while in range; ZPOPMIN/ZPOPMAX/BZPOPMIN take the
first/last record of the prefix. ZCOUNT/ZLEXCOUNT count the records in range one by one
(O(log n + matches)). Lex ranges seek too when every score is equal (first and last
index record share a score - the case Redis defines); with mixed scores they follow the
memory engine's exact semantics on a materialized copy (O(n)). Rank operations (ZRANK,
ZRANGE by index, ZREMRANGEBYRANK, ZRANDMEMBER) walk the index with a cursor from the nearer
end: O(rank) - there are no per-page counts in LMDB's B-tree to make them O(log n).

Encoding: metadata flag bit 2 (``F_SKIP``) marks a "skiplist" zset; without it OBJECT
ENCODING says "listpack". The flag changes exactly as the memory engine's ``lp``
(:mod:`engines.mem_zset`, Redis 7.2.4's rules with zset-max-listpack-entries/value): set by
zsetTypeCreate/zsetTypeMaybeConvert/zsetAdd, cleared only by zsetConvertToListpackIfNeeded
(the STORE commands). ZSCAN of a listpack returns everything at once; of a skiplist it walks
``zm`` in crc32 order (the cursor is the crc32 to resume from).
"""
from __future__ import annotations

import random
import struct

from .base import LEX_MAX, LEX_MIN
from .limits import limits
from .lmdb_view import ELONG, ELONG_NAME, LmdbView
from .lmdb_hash import FK_LONG, _fk, _fkn, hash_order_scan
from .mem_zset import LISTPACK_MAX_SAFETY_SIZE, MemoryZSet, lex_range_empty

_Q = struct.Struct(">Q")
_q = _Q.pack
_D = struct.Struct(">d")
_pd = _D.pack
_ud = _D.unpack
F_SKIP = 4
ZS_LONG = 12 + 8 + ELONG_NAME   # the length of a long member's zs key
_Z8 = _pd(0.0)
_NZ8 = _pd(-0.0)
_SIGN = 1 << 63
_ALL = (1 << 64) - 1


def ordkey(score: float) -> int:
    """The order-preserving u64 of a double (``-0.0`` maps to ``0.0``)."""
    if score == 0.0:
        score = 0.0
    u = _Q.unpack(_pd(score))[0]
    return u ^ _ALL if u & _SIGN else u | _SIGN


def ord8(score: float) -> bytes:
    return _q(ordkey(score))


def _succ(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix``."""
    return (int.from_bytes(prefix, "big") + 1).to_bytes(len(prefix), "big")


def _seek_ge(cur, key: bytes) -> bool:
    """Position ``cur`` on the first record >= ``key`` (which may exceed LMDB's key size)."""
    if len(key) <= 511:
        return cur.set_range(key)
    ok = cur.set_range(key[:511])
    while ok and cur.key() < key:
        ok = cur.next()
    return ok


class LmdbZSet(LmdbView):
    """A live view of the sorted set stored at one key (bound to its version)."""

    __slots__ = ()

    TYPE_NAME = "zset"

    # -- metadata ------------------------------------------------------------------------------
    def _set_skip(self, skip: bool) -> None:
        m = self._meta()
        f = (m[1] | F_SKIP) if skip else (m[1] & ~F_SKIP)
        if f != m[1]:
            self._put_meta(m, flags=f)

    def __len__(self) -> int:
        return self._meta()[4]

    @property
    def lp(self) -> bool:   # the RDB writer's view (persistence/rdb_save.py)
        return not self._meta()[1] & F_SKIP

    def encoding(self) -> str:
        return "skiplist" if self._meta()[1] & F_SKIP else "listpack"

    @property
    def sl(self) -> list:
        """Every (score, member) in order: the RDB writer's and DEBUG DIGEST's view."""
        return [(s, m) for m, s in self._walk()]

    @property
    def d(self) -> dict:
        return {m: s for m, s in self._walk()}

    def copy(self) -> MemoryZSet:
        """An independent (memory) zset with the same members, scores and encoding; storing
        it with ``Keyspace.set`` writes it as records again (COPY)."""
        return self._materialize()

    def _materialize(self) -> MemoryZSet:
        from sortedcontainers import SortedList
        z = MemoryZSet()
        pairs = [(s, m) for m, s in self._walk()]
        z.sl = SortedList(pairs)
        z.d = {m: s for s, m in pairs}
        z.lp = self.lp
        return z

    def memory_usage(self) -> int:
        sample = []
        for m, _ in self._walk():
            sample.append(m)
            if len(sample) == 8:
                break
        n = len(self)
        return 64 + (n * sum(len(m) + 48 for m in sample) // len(sample) if sample else 0)

    # -- encoding rules --------------------------------------------------------------------------
    def init_encoding(self, size_hint: int, value_len_hint: int) -> None:
        if not (size_hint <= limits.zset_max_listpack_entries
                and value_len_hint <= limits.zset_max_listpack_value):
            self._set_skip(True)

    def maybe_convert(self, size_hint: int) -> None:
        if size_hint > limits.zset_max_listpack_entries:
            self._set_skip(True)

    def shrink_if_small(self, maxelelen: int, totelelen: int) -> None:
        m = self._meta()
        if (m[1] & F_SKIP and m[4] <= limits.zset_max_listpack_entries
                and maxelelen <= limits.zset_max_listpack_value
                and totelelen <= LISTPACK_MAX_SAFETY_SIZE):
            self._put_meta(m, flags=m[1] & ~F_SKIP)
            self._zero_scores()

    def _zero_scores(self) -> None:
        """A listpack stores -0.0 as the integer 0: members scored -0.0 become 0.0."""
        e = self.e
        t = e.txn()
        pre = self.pre + ord8(0.0)
        n = len(pre)
        fix = []
        with t.cursor(db=e.zs_db) as cur:
            ok = cur.set_range(pre)
            while ok and cur.key()[:n] == pre:
                if cur.value() == _NZ8:
                    fix.append(cur.key())
                ok = cur.next()
        for k in fix:
            t.put(k, _Z8, db=e.zs_db)
            t.put(_fkn(self.pre, k[n:]), _Z8, db=e.zm_db)

    # -- walking the index -------------------------------------------------------------------------
    def _walk(self, reverse: bool = False):
        """(member, score) in index order (or reversed), read lazily: callers that write
        while walking must materialize first."""
        pre = self.pre
        with self.e.txn().cursor(db=self.e.zs_db) as cur:
            if reverse:
                ok = self._seek_last(cur, _succ(pre))
            else:
                ok = cur.set_range(pre)
            yield from self._index_run(cur, ok, reverse)

    def _index_run(self, cur, ok: bool, reverse: bool, lo8=None, hi8=None):
        """(member, score) from the cursor's position to the end of this zset's index (or
        of the score range ``lo8``..``hi8``); a run of long members with the same score and
        prefix comes out in member order (:meth:`_gather`)."""
        pre = self.pre
        n = len(pre)
        while ok:
            k = cur.key()
            if k[:n] != pre:
                return
            if lo8 is not None:
                o = k[n:n + 8]
                if (o < lo8) if reverse else (o > hi8):
                    return
            if len(k) != ZS_LONG:
                yield k[n + 8:], _ud(cur.value())[0]
                ok = cur.prev() if reverse else cur.next()
            else:
                run, ok = self._gather(cur, k, reverse)
                for mb, v in run:
                    yield mb, _ud(v)[0]

    def _gather(self, cur, k, reverse: bool):
        """At the index record ``k`` of a long name: its run (the records sharing its score
        and first ELONG bytes, contiguous) as (member, score8) sorted by the full members
        (descending if ``reverse``), and whether the cursor - moved past the run - is on a
        record."""
        n = len(self.pre) + 8
        g = k[:ZS_LONG - 32]
        run = []
        while True:
            run.append((self._full(k[n:]), cur.value()))
            ok = cur.prev() if reverse else cur.next()
            if not ok:
                break
            k = cur.key()
            if len(k) != ZS_LONG or k[:ZS_LONG - 32] != g:
                break
        if len(run) > 1:
            run.sort(reverse=reverse)
        return run, ok

    def _run_offset(self, target: bytes, member: bytes) -> int:
        """How far a long member's rank is from its index record's position: within its run
        the records are ordered by hash, the members by bytes."""
        g = target[:ZS_LONG - 32]
        names = []
        with self.e.txn().cursor(db=self.e.zs_db) as cur:
            ok = cur.set_range(g)
            while ok:
                k = cur.key()
                if k[:len(g)] != g:
                    break
                names.append(k)
                ok = cur.next()
        if len(names) <= 1:
            return 0
        n = len(self.pre) + 8
        members = sorted(self._full(k[n:]) for k in names)
        return members.index(bytes(member)) - names.index(target)

    def _seek_last(self, cur, bound: bytes) -> bool:
        """Position on the last record < ``bound`` within the prefix (False if none)."""
        ok = _seek_ge(cur, bound)
        ok = cur.prev() if ok else cur.last()
        return ok and cur.key()[:len(self.pre)] == self.pre

    # -- element access --------------------------------------------------------------------------
    def score(self, member):
        r = self.e.txn().get(_fk(self.pre, member), db=self.e.zm_db)
        return None if r is None else _ud(r)[0]

    def add(self, member, score: float):
        e = self.e
        t = e.txn()
        fk = _fk(self.pre, member)
        r = t.get(fk, db=e.zm_db)
        s8 = _pd(score)
        if r is None:
            m = self._meta()
            flags = m[1]
            if not flags & F_SKIP and (m[4] >= limits.zset_max_listpack_entries
                                       or len(member) > limits.zset_max_listpack_value):
                flags |= F_SKIP
            if score == 0.0 and not flags & F_SKIP:
                s8 = _Z8   # a listpack stores -0.0 as the integer 0 (zzlInsertAt)
            t.put(fk, s8, db=e.zm_db)
            t.put(self.pre + ord8(score) + fk[16:], s8, db=e.zs_db)
            if len(fk) == FK_LONG:
                self._put_long(fk[16:], member)
            self._put_meta(m, m[4] + 1, flags)
            return None
        cur = _ud(r)[0]
        if cur != score:
            if score == 0.0 and self.lp:
                s8 = _Z8
            t.delete(self.pre + ord8(cur) + fk[16:], db=e.zs_db)
            t.put(self.pre + ord8(score) + fk[16:], s8, db=e.zs_db)
            t.put(fk, s8, db=e.zm_db)
            e.dirty = True
        return cur

    def _del(self, member, score) -> None:
        t = self.e.txn()
        fk = _fk(self.pre, member)
        t.delete(fk, db=self.e.zm_db)
        t.delete(self.pre + ord8(score) + fk[16:], db=self.e.zs_db)
        if len(fk) == FK_LONG:
            self._drop_long(fk[16:])

    def remove(self, member) -> bool:
        r = self.e.txn().get(_fk(self.pre, member), db=self.e.zm_db)
        if r is None:
            return False
        self._del(member, _ud(r)[0])
        m = self._meta()
        self._put_meta(m, m[4] - 1)
        return True

    def _del_pairs(self, pairs) -> int:
        for mb, s in pairs:
            self._del(mb, s)
        if pairs:
            m = self._meta()
            self._put_meta(m, m[4] - len(pairs))
        return len(pairs)

    # -- ranks -------------------------------------------------------------------------------------
    def rank(self, member, reverse: bool = False):
        """O(rank): counts the records between the member and the nearer end of the set."""
        fk = _fk(self.pre, member)
        r = self.e.txn().get(fk, db=self.e.zm_db)
        if r is None:
            return None
        target = self.pre + ord8(_ud(r)[0]) + fk[16:]
        n = len(self)
        pre = self.pre
        lp = len(pre)
        half = n // 2 + 1
        with self.e.txn().cursor(db=self.e.zs_db) as cur:
            _seek_ge(cur, target)
            before = 0
            while before < half and cur.prev() and cur.key()[:lp] == pre:
                before += 1
            if before < half:
                r0 = before
            else:   # nearer the end: count the records after it
                _seek_ge(cur, target)
                after = 0
                while cur.next() and cur.key()[:lp] == pre:
                    after += 1
                r0 = n - 1 - after
        if len(fk) == FK_LONG:
            r0 += self._run_offset(target, member)
        return n - 1 - r0 if reverse else r0

    def _from_rank(self, start: int, count: int, reverse: bool) -> list:
        """``count`` pairs from rank ``start`` (counted in the walking direction)."""
        out = []
        if count <= 0:
            return out
        i = 0
        for p in self._walk(reverse):
            if i >= start:
                out.append(p)
                if len(out) == count:
                    break
            i += 1
        return out

    def by_rank(self, start: int, stop: int, reverse: bool = False) -> list:
        n = len(self)
        cnt = stop - start + 1
        if start > n - 1 - stop:   # nearer the other end: walk from it, then flip
            res = self._from_rank(n - 1 - stop, cnt, not reverse)
            res.reverse()
            return res
        return self._from_rank(start, cnt, reverse)

    def at(self, index: int):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return self.by_rank(index, index)[0]

    def __iter__(self):
        return iter(list(self._walk()))

    def items(self, reverse: bool = False):
        return iter(list(self._walk(reverse)))

    # -- score ranges ----------------------------------------------------------------------------
    def _score_walk(self, lo, loex, hi, hiex, reverse=False):
        """(member, score) with the score in range, from the lower (upper) bound."""
        pre = self.pre
        lo_o = ordkey(lo) + (1 if loex else 0)
        hi_o = ordkey(hi) - (1 if hiex else 0)
        if lo_o > hi_o or lo_o > _ALL or hi_o < 0:
            return
        lo8, hi8 = _q(lo_o), _q(hi_o)
        with self.e.txn().cursor(db=self.e.zs_db) as cur:
            if reverse:
                ok = self._seek_last(cur, pre + _q(hi_o + 1))
            else:
                ok = cur.set_range(pre + lo8)
            yield from self._index_run(cur, ok, reverse, lo8, hi8)

    def count_by_score(self, lo, loex, hi, hiex) -> int:
        return sum(1 for _ in self._score_walk(lo, loex, hi, hiex))

    def by_score(self, lo, loex, hi, hiex, offset=0, limit=-1, reverse=False) -> list:
        return self._take(self._score_walk(lo, loex, hi, hiex, reverse), offset, limit)

    @staticmethod
    def _take(it, offset, limit) -> list:
        if offset < 0:
            return []
        out = []
        if limit == 0:
            return out
        for p in it:
            if offset:
                offset -= 1
                continue
            out.append(p)
            if len(out) == limit:
                break
        return out

    # -- lex ranges --------------------------------------------------------------------------------
    def _uniform_score(self):
        """The score every member shares (as its 8-byte index form), or None when scores are
        mixed (or the set is empty)."""
        pre = self.pre
        n = len(pre)
        with self.e.txn().cursor(db=self.e.zs_db) as cur:
            if not cur.set_range(pre) or cur.key()[:n] != pre:
                return None
            first = cur.key()[n:n + 8]
            if not self._seek_last(cur, _succ(pre)):
                return None
            return first if cur.key()[n:n + 8] == first else None

    def _lex_walk(self, o8, lo, loex, hi, hiex, reverse=False):
        pre = self.pre + o8
        n = len(pre)
        # Seek by name: a bound of ELONG bytes or more seeks to its first ELONG bytes (forward)
        # or past every name starting with them (reverse); the members of that run that are
        # out of range are skipped below (a run is yielded in member order).
        with self.e.txn().cursor(db=self.e.zs_db) as cur:
            if reverse:
                if hi is LEX_MAX:
                    bound = _succ(pre)
                elif len(hi) < ELONG:
                    bound = pre + hi + (b"" if hiex else b"\x00")
                else:
                    bound = pre + hi[:ELONG] + b"\xff" * 33
                ok = self._seek_last(cur, bound)
            elif lo is LEX_MIN:
                ok = cur.set_range(pre)
            else:
                ok = _seek_ge(cur, pre + (lo + (b"\x00" if loex else b"") if len(lo) < ELONG
                                          else lo[:ELONG]))
            while ok:
                k = cur.key()
                if k[:n] != pre:
                    return
                if len(k) != ZS_LONG:
                    run = ((k[n:], cur.value()),)
                    ok = cur.prev() if reverse else cur.next()
                else:
                    run, ok = self._gather(cur, k, reverse)
                for mb, v in run:
                    if lo is not LEX_MIN and (mb <= lo if loex else mb < lo):
                        if reverse:
                            return
                        continue
                    if hi is not LEX_MAX and (mb >= hi if hiex else mb > hi):
                        if reverse:
                            continue
                        return
                    yield mb, _ud(v)[0]

    def count_by_lex(self, lo, loex, hi, hiex) -> int:
        if lex_range_empty(lo, loex, hi, hiex):
            return 0
        o8 = self._uniform_score()
        if o8 is None:
            return self._materialize().count_by_lex(lo, loex, hi, hiex) if len(self) else 0
        return sum(1 for _ in self._lex_walk(o8, lo, loex, hi, hiex))

    def by_lex(self, lo, loex, hi, hiex, offset=0, limit=-1, reverse=False) -> list:
        if lex_range_empty(lo, loex, hi, hiex) or offset < 0:
            return []
        o8 = self._uniform_score()
        if o8 is None:
            if not len(self):
                return []
            return self._materialize().by_lex(lo, loex, hi, hiex, offset, limit, reverse)
        return self._take(self._lex_walk(o8, lo, loex, hi, hiex, reverse), offset, limit)

    # -- removals ----------------------------------------------------------------------------------
    def remove_by_rank(self, start: int, stop: int) -> int:
        return self._del_pairs(self.by_rank(start, stop))

    def remove_by_score(self, lo, loex, hi, hiex) -> int:
        return self._del_pairs(list(self._score_walk(lo, loex, hi, hiex)))

    def remove_by_lex(self, lo, loex, hi, hiex) -> int:
        if lex_range_empty(lo, loex, hi, hiex):
            return 0
        o8 = self._uniform_score()
        if o8 is None:
            if not len(self):
                return 0
            z = self._materialize()
            a, b = z._lex_bounds(lo, loex, hi, hiex)
            return self._del_pairs([(m, s) for s, m in z.sl.islice(a, b)])
        return self._del_pairs(list(self._lex_walk(o8, lo, loex, hi, hiex)))

    def pop(self, maximum: bool = False):
        p = next(self._walk(maximum))
        self._del_pairs([p])
        return p

    # -- random / scan -----------------------------------------------------------------------------
    def random_items(self, count: int, unique: bool) -> list:
        pairs = list(self._walk())
        n = len(pairs)
        if not unique:
            rnd = random.randrange
            return [pairs[rnd(n)] for _ in range(count)]
        if self.lp:
            idx = sorted(random.sample(range(n), count))  # listpack: unique, in order
        else:
            idx = random.sample(range(n), count)
        return [pairs[i] for i in idx]

    def scan(self, cursor: int, count: int):
        if self.lp:
            return 0, list(self._walk())
        nxt, members = hash_order_scan(self.e.txn(), self.e.zm_db, self.pre, cursor, count,
                                       self.e.le_db)
        return nxt, [(m, self.score(m)) for m in members]

    # -- bulk ------------------------------------------------------------------------------------
    def _load(self, pairs) -> None:
        """Write ``pairs`` (member, score) into this new, empty zset (Keyspace.set)."""
        e = self.e
        t = e.txn()
        pre = self.pre
        zm, zs = e.zm_db, e.zs_db
        lp = self.lp
        for mb, sc in pairs:
            s8 = _Z8 if lp and sc == 0.0 else _pd(sc)
            fk = _fk(pre, mb)
            t.put(fk, s8, db=zm)
            t.put(pre + ord8(sc) + fk[16:], s8, db=zs)
            if len(fk) == FK_LONG:
                self._put_long(fk[16:], mb)
        self._put_meta(self._meta(), len(pairs))
