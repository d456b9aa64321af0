"""Stateless cursors over Python containers, with Redis's SCAN guarantee.

The cursor is a position in the space of 64-bit key hashes: each call returns the keys whose
hash is at or after the cursor, in hash order, and the next cursor is the hash after the last
one examined. A key's hash never changes, so a key present for a whole iteration is returned
exactly once however the container changes between calls, and keys sharing a hash are always
returned in the same batch.

The hash-ordered index is only brought up to date when an iteration starts (cursor 0): it
then holds every key present at that moment (a key added later needs no promise), and the
order it defines never changes, so iterations already under way stay valid across rebuilds.
To keep that cheap on big containers the owner reports the keys it adds (:meth:`added`):
a start then splices the new keys into the index (binary search plus slice copies) instead
of sorting everything again; entries of deleted keys stay (they are skipped) until they
make up half of the index, which is then re-sorted. When the owner loses
track (too many additions, a flush) it calls :meth:`invalidate` and the next start re-sorts.

Positions use Python's signed ``hash``; cursor ``u`` is the signed position ``u - 2**63``.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from operator import itemgetter

_first = itemgetter(0)

OFFSET = 1 << 63
MAX_PENDING = 1 << 16  # beyond this many unmerged additions (and > container size) re-sort


class HashOrder:
    """A hash-ordered view of a container, maintained lazily at iteration starts."""

    __slots__ = ("hashes", "keys", "pending", "valid", "version")

    def __init__(self):
        self.version = None
        self.hashes = array("q")
        self.keys: list = []
        self.pending: list = []
        self.valid = True   # the index holds every key present at the last start + pending

    def added(self, key) -> None:
        """The container gained ``key`` (call on insertion of a new key)."""
        if not self.valid:
            return
        p = self.pending
        p.append(key)
        if len(p) > MAX_PENDING and len(p) > len(self.keys):
            self.invalidate()

    def invalidate(self) -> None:
        self.valid = False
        self.pending = []
        self.hashes = array("q")
        self.keys = []

    def _refresh(self, container) -> None:
        if not self.valid or len(self.keys) > 2 * len(container) + 64:
            # first use, lost track, or mostly deleted entries: sort everything again
            keys = sorted(container, key=hash)
            self.keys = keys
            self.hashes = array("q", map(hash, keys))
            self.valid = True
            self.pending = []
            return
        pend = self.pending
        if not pend:
            return
        self.pending = []
        hashes, keys = self.hashes, self.keys
        n = len(hashes)
        fresh = []
        seen = set()
        for k in pend:
            if k in seen or k not in container:
                continue
            seen.add(k)
            h = hash(k)
            j = bisect_left(hashes, h)
            while j < n and hashes[j] == h:
                if keys[j] == k:
                    break     # deleted and added again: its entry is still in the index
                j += 1
            else:
                fresh.append((h, k))
        if not fresh:
            return
        fresh.sort(key=_first)
        # Splice the new entries in: O(len + new) with slice copies, no re-sort.
        nk, nh = [], array("q")
        prev = 0
        for h, k in fresh:
            p = bisect_left(hashes, h, prev)
            if p > prev:
                nk += keys[prev:p]
                nh += hashes[prev:p]
            nk.append(k)
            nh.append(h)
            prev = p
        nk += keys[prev:]
        nh += hashes[prev:]
        self.keys, self.hashes = nk, nh

    def step(self, container, cursor: int, count: int, *legacy):
        """``(next_cursor, keys)`` for one SCAN call; examines about ``count`` keys (at most
        ``10 * count`` entries, skipping entries deleted since the index was built).

        Owners that do not report additions call ``step(container, version, cursor, count)``
        with a number that changes whenever keys are added: a start after a change re-sorts.
        """
        if legacy:
            version, cursor, count = cursor, count, legacy[0]
            if cursor == 0 and version != self.version:
                self.invalidate()
                self.version = version
        if cursor == 0:
            self._refresh(container)
        hashes, keys = self.hashes, self.keys
        n = len(hashes)
        i = bisect_left(hashes, cursor - OFFSET)
        out = []
        budget = count * 10
        while i < n and len(out) < count and budget > 0:
            h = hashes[i]
            while i < n and hashes[i] == h:
                k = keys[i]
                if k in container:
                    out.append(k)
                else:
                    budget -= 1
                i += 1
        if i >= n:
            return 0, out
        return (hashes[i] + OFFSET) or 1, out
