"""Sets of the LMDB engine (:class:`engines.base.SetValue`), one record per member.

Records (sub-databases opened by :mod:`engines.lmdb`), under the key's ``version``:

* ``sm``: ``pdb`` + version (u64 BE) + crc32(name) (u32 BE) + name  ->  seq (u64 BE)
* ``ss``: ``pdb`` + version + seq             ->  member (in full)
* ``le``: ``pdb`` + version + name  ->  member, for members of 459 bytes or more only

A member's *name* is the member itself when shorter than 459 bytes, else its first 459
bytes + its SHA-256 (see :mod:`engines.lmdb_view`): members of any length are stored.

``seq`` numbers members in insertion order: a listpack set's order (Redis replies in it); an
intset iterates in ascending integer order (sorted when read), and its conversion to a
listpack renumbers the members in that order, as Redis's converted listpack has them. The
encoding lives in the metadata flags (bit 2 hashtable, bit 3 intset, bit 4 "new": created
empty, the first add decides) and changes exactly as the memory engine's
(:mod:`engines.mem_set`, Redis 7.2.4's t_set.c rules). SSCAN of a hashtable walks ``sm`` in
crc32 order (the cursor is the crc32 to resume from).

Random draws (SRANDMEMBER, SPOP) of a hashtable set of more than 512 members sample ``ss``
(:meth:`engines.lmdb_view.LmdbView._sample`: uniform, O(log n) per draw); smaller sets, and
draws of a large share of the set, read the member list.
"""
from __future__ import annotations

import random
import struct

from valkeyd.protocol import string2ll

from .limits import limits
from .lmdb_view import SAMPLE_MIN, LmdbView
from .lmdb_hash import FK_LONG, _fk, hash_order_scan
from .mem_set import HT, INTSET, INTSET_HARD_MAX, LISTPACK, NEW, SPOP_MOVE_STRATEGY_MUL, MemorySet

_Q = struct.Struct(">Q")
_q = _Q.pack
F_HT, F_INTSET, F_NEW = 4, 8, 16
_ENC_MASK = F_HT | F_INTSET | F_NEW
ENC_NAMES = {INTSET: "intset", LISTPACK: "listpack", HT: "hashtable", NEW: "listpack"}


def enc_of(flags: int) -> int:
    if flags & F_HT:
        return HT
    if flags & F_INTSET:
        return INTSET
    if flags & F_NEW:
        return NEW
    return LISTPACK


def flags_of(enc: int) -> int:
    return {HT: F_HT, INTSET: F_INTSET, NEW: F_NEW, LISTPACK: 0}[enc]


class LmdbSet(LmdbView):
    """A live view of the set stored at one key (bound to its version)."""

    __slots__ = ()

    TYPE_NAME = "set"

    # -- metadata ------------------------------------------------------------------------------
    def _put_meta(self, m, size=None, enc=None):
        from .lmdb import _pack
        flags = m[1] if enc is None else (m[1] & ~_ENC_MASK) | flags_of(enc)
        self.e.txn().put(self.mk, _pack(m[0], flags, m[2], m[3], m[4] if size is None else size,
                                        m[5]), db=self.e.meta_db)
        self.e.dirty = True

    def _enc(self) -> int:
        return enc_of(self._meta()[1])

    def _set_enc(self, enc: int) -> None:
        self._put_meta(self._meta(), enc=enc)

    def __len__(self) -> int:
        return self._meta()[4]

    def encoding(self) -> str:
        return ENC_NAMES[self._enc()]

    def copy(self) -> MemorySet:
        """An independent (memory) set with the same members, order and encoding; storing it
        with ``Keyspace.set`` writes it as records again."""
        s = MemorySet(self._enc())
        for m in self._seq_order():
            s._insert(m)
        return s

    def memory_usage(self) -> int:
        sample = []
        for _, m in self._walk():
            sample.append(m)
            if len(sample) == 16:
                break
        n = len(self)
        return 64 + (n * sum(len(m) + 40 for m in sample) // len(sample) if sample else 0)

    @property
    def d(self) -> dict:   # the RDB writer's view (persistence/rdb_save.py)
        return {m: i for i, m in enumerate(self)}

    # -- records -------------------------------------------------------------------------------
    def _walk(self, start_seq: int = 0):
        pre = self.pre
        n = len(pre)
        with self.e.txn().cursor(db=self.e.ss_db) as cur:
            if not cur.set_range(pre + _q(start_seq)):
                return
            for k, mbr in cur:
                if k[:n] != pre:
                    return
                yield _Q.unpack(k[n:])[0], mbr

    def _seq_order(self) -> list:
        return [m for _, m in self._walk()]

    def _next_seq(self) -> int:
        with self.e.txn().cursor(db=self.e.ss_db) as cur:
            ok = cur.prev() if cur.set_range(self.pre + b"\xff" * 8) else cur.last()
            if ok and cur.key()[:len(self.pre)] == self.pre:
                return _Q.unpack(cur.key()[len(self.pre):])[0] + 1
        return 1

    def _insert(self, x) -> None:
        t = self.e.txn()
        s8 = _q(self._next_seq())
        fk = _fk(self.pre, x)
        t.put(fk, s8, db=self.e.sm_db)
        t.put(self.pre + s8, x, db=self.e.ss_db)
        if len(fk) == FK_LONG:
            t.put(self.pre + fk[16:], bytes(x), db=self.e.le_db)
        m = self._meta()
        self._put_meta(m, m[4] + 1)

    def _drop(self, x) -> bool:
        t = self.e.txn()
        fk = _fk(self.pre, x)
        s8 = t.get(fk, db=self.e.sm_db)
        if s8 is None:
            return False
        t.delete(fk, db=self.e.sm_db)
        t.delete(self.pre + s8, db=self.e.ss_db)
        if len(fk) == FK_LONG:
            t.delete(self.pre + fk[16:], db=self.e.le_db)
        m = self._meta()
        self._put_meta(m, m[4] - 1)
        return True

    def _rewrite(self, order: list, enc: int) -> None:
        """Replace every member by ``order`` (renumbered in that order) with encoding ``enc``."""
        e = self.e
        t = e.txn()
        for dbi in (e.sm_db, e.ss_db, e.le_db):
            with t.cursor(db=dbi) as cur:
                if cur.set_range(self.pre):
                    while cur.key()[:12] == self.pre and cur.delete():
                        pass
        for i, x in enumerate(order, 1):
            fk = _fk(self.pre, x)
            t.put(fk, _q(i), db=e.sm_db)
            t.put(self.pre + _q(i), x, db=e.ss_db)
            if len(fk) == FK_LONG:
                t.put(self.pre + fk[16:], bytes(x), db=e.le_db)
        self._put_meta(self._meta(), len(order), enc)

    # -- reads ---------------------------------------------------------------------------------
    def __contains__(self, x) -> bool:
        return self.e.txn().get(_fk(self.pre, x), db=self.e.sm_db) is not None

    def __iter__(self):
        order = self._seq_order()
        if self._enc() == INTSET:
            order.sort(key=int)
        return iter(order)

    # -- adding --------------------------------------------------------------------------------
    def add(self, members, hint: bool = True) -> int:
        enc = self._enc()
        lim = limits
        h = len(members)
        new = enc
        if enc == NEW:
            if string2ll(members[0]) is not None and h <= lim.set_max_intset_entries:
                new = INTSET
            elif h <= lim.set_max_listpack_entries:
                new = LISTPACK
            else:
                new = HT
        elif hint:
            if ((enc == LISTPACK and h > lim.set_max_listpack_entries)
                    or (enc == INTSET and h > lim.set_max_intset_entries)):
                new = HT
        if new != enc:
            self._set_enc(new)
        return sum(1 for x in members if self.add_one(x))

    def add_one(self, x) -> bool:
        m = self._meta()
        enc = enc_of(m[1])
        size = m[4]
        lim = limits
        if enc == NEW:
            return self.add([x]) == 1
        if x in self:
            return False
        if enc == HT:
            self._insert(x)
            return True
        if enc == LISTPACK:
            if size >= lim.set_max_listpack_entries or len(x) > lim.set_max_listpack_value:
                self._set_enc(HT)
            self._insert(x)
            return True
        if string2ll(x) is not None:   # intset
            self._insert(x)
            if size + 1 > min(lim.set_max_intset_entries, INTSET_HARD_MAX):
                self._set_enc(HT)
            return True
        members = self._seq_order()
        maxlen = max(map(len, members)) if members else 0
        if (size < lim.set_max_listpack_entries and len(x) <= lim.set_max_listpack_value
                and maxlen <= lim.set_max_listpack_value):
            members.sort(key=int)   # the listpack built from the intset: ascending first
            self._rewrite(members, LISTPACK)
        else:
            self._set_enc(HT)
        self._insert(x)
        return True

    # -- removing ------------------------------------------------------------------------------
    def discard(self, x) -> bool:
        return self._drop(x)

    def remove(self, members) -> int:
        return sum(1 for x in members if self._drop(x))

    # -- random --------------------------------------------------------------------------------
    def _sampled(self, count: int, distinct: bool):
        """Members drawn by sampling ``ss`` (big hashtable sets only), or None."""
        m = self._meta()
        if m[4] <= SAMPLE_MIN or enc_of(m[1]) != HT or (distinct and count * 3 > m[4]):
            return None
        return self._sample(self.e.ss_db, count, distinct)

    def random_member(self):
        got = self._sampled(1, False)
        return got[0] if got else random.choice(self._seq_order())

    def random_members(self, count: int) -> list:
        got = self._sampled(count, False)
        return got if got is not None else random.choices(self._seq_order(), k=count)

    def random_distinct(self, count: int) -> list:
        got = self._sampled(count, True)
        if got is not None:
            return got
        order = self._seq_order()
        if self._enc() == LISTPACK:   # Redis walks the listpack once: listpack order
            return [order[i] for i in sorted(random.sample(range(len(order)), count))]
        return random.sample(order, count)

    def pop_random(self):
        got = self._sampled(1, False)
        x = got[0] if got else random.choice(self._seq_order())
        self._drop(x)
        return x

    def pop_random_n(self, count: int) -> list:
        got = self._sampled(count, True)
        if got is not None:   # (count * 3 <= size: never the few-survivors case)
            for x in got:
                self._drop(x)
            return got
        order = self._seq_order()
        size = len(order)
        remaining = size - count
        enc = self._enc()
        if remaining * SPOP_MOVE_STRATEGY_MUL > count:
            if enc == LISTPACK:
                picked = [order[i] for i in sorted(random.sample(range(size), count))]
            else:
                picked = random.sample(order, count)
            for x in picked:
                self._drop(x)
            return picked
        # Few survivors: they move into a new set (its encoding is rebuilt from scratch).
        if enc == LISTPACK:
            kept = [order[i] for i in sorted(random.sample(range(size), remaining))]
            newset = MemorySet(LISTPACK)
        else:
            kept = random.sample(order, remaining)
            newset = MemorySet(INTSET if enc == INTSET else LISTPACK)
        for x in kept:
            newset.add_one(x)
        keep = set(kept)
        popped = [x for x in order if x not in keep]
        if enc == INTSET:
            popped.sort(key=int)
        self._rewrite(list(newset.d), newset.enc)
        return popped

    # -- scanning ------------------------------------------------------------------------------
    def scan(self, cursor: int, count: int):
        if self._enc() != HT:
            return 0, list(self)
        return hash_order_scan(self.e.txn(), self.e.sm_db, self.pre, cursor, count,
                               self.e.le_db)

    # -- set algebra -----------------------------------------------------------------------------
    def new_empty(self, encoding: str) -> MemorySet:
        return MemorySet(LISTPACK if encoding == "listpack" else INTSET)

    def maybe_to_intset(self) -> None:
        if self._enc() != INTSET and len(self) <= min(limits.set_max_intset_entries,
                                                      INTSET_HARD_MAX):
            self._set_enc(INTSET)
