"""Stateless cursors over Python containers, with Redis's SCAN guarantee.

The cursor is a position in the space of 64-bit key hashes: each call returns the keys whose
hash is at or after the cursor, in hash order, and the next cursor is the hash after the last
one returned. A key's hash never changes, so a key present for a whole iteration is returned
exactly once however the container changes between calls, and a key with the same hash as
another is always returned in the same batch. The sorted index is rebuilt when an iteration
starts (cursor 0) on a container that gained keys since it was built; rebuilding at any time
would be correct, and a key that joined after the start needs no promise.
"""
from __future__ import annotations

from bisect import bisect_left

MASK = (1 << 64) - 1


class HashOrder:
    """A cached hash-ordered view of a container, rebuilt when its version changes."""

    __slots__ = ("version", "hashes", "keys")

    def __init__(self):
        self.version = -1
        self.hashes: list[int] = []
        self.keys: list = []

    def step(self, container, version: int, cursor: int, count: int):
        if cursor == 0 and version != self.version:
            pairs = sorted((hash(k) & MASK, k) for k in container)
            self.hashes = [h for h, _ in pairs]
            self.keys = [k for _, k in pairs]
            self.version = version
        hashes, keys = self.hashes, self.keys
        i = bisect_left(hashes, cursor)
        n = len(hashes)
        out = []
        while i < n and len(out) < count:
            h = hashes[i]
            while i < n and hashes[i] == h:
                k = keys[i]
                if k in container:
                    out.append(k)
                i += 1
        if i >= n:
            return 0, out
        nxt = hashes[i]
        return (nxt if nxt else 1), out
