"""The memory engine's stream value (:class:`engines.base.StreamValue`).

Entries live in nodes, like Redis's rax of listpacks: a list of :class:`_Node` sorted by
their master ID (the ID of the first entry ever appended to the node), found by bisection.
A node packs its entries compactly: two ``array('Q')`` of the IDs' ms and seq parts, the
entries' fields and values concatenated in one ``bytearray`` with an ``array('I')`` of
element end offsets and an ``array('I')`` of each entry's first element, and a
``bytearray`` of deleted flags. Deleted entries stay in their node, flagged, as in Redis
(XDEL, exact trimming inside a node); a node whose last live entry is deleted goes away.

A new node starts under the same rule as streamAppendItem: when the tail node holds
``stream-node-max-entries`` entries (live and deleted), or its estimated listpack size plus
the new fields' lengths reaches ``stream-node-max-bytes``. That makes approximate trimming
(``~``, which removes whole nodes only) behave like Redis's.

IDs are ints ``ms << 64 | seq`` throughout the interface.
"""
from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right

from .limits import limits

U64 = (1 << 64) - 1
STREAM_LISTPACK_MAX_SIZE = 1 << 30


def _lp_int_size(v: int) -> int:
    """Bytes of a listpack integer element with its backlen."""
    if 0 <= v <= 127:
        n = 1
    elif -4096 <= v <= 4095:
        n = 2
    elif -32768 <= v <= 32767:
        n = 3
    elif -8388608 <= v <= 8388607:
        n = 4
    elif -2147483648 <= v <= 2147483647:
        n = 5
    else:
        n = 9
    return n + 1


def _lp_str_size(s: bytes) -> int:
    n = len(s)
    if 0 < n <= 20:
        # lpAppend stores strings that look like integers as integers.
        try:
            if (s[0] != 43 and not s[:1].isspace() and not s[-1:].isspace()
                    and b"_" not in s and (s == b"0" or not s.startswith((b"0", b"-0")))):
                v = int(s)
                if -(1 << 63) <= v < (1 << 63) and str(v).encode() == s:
                    return _lp_int_size(v)
        except ValueError:
            pass
    if n < 64:
        enc = 1 + n
    elif n < 4096:
        enc = 2 + n
    else:
        enc = 5 + n
    if enc <= 127:
        return enc + 1
    if enc < 16383:
        return enc + 2
    if enc < 2097151:
        return enc + 3
    if enc < 268435455:
        return enc + 4
    return enc + 5


def entry_lp_bytes(same: bool, mdelta: int, sdelta: int, fv, nfields: int) -> int:
    """The bytes streamAppendItem adds to a node's listpack for one entry (its flags, ID
    deltas, values - or fields and values when they differ from the master entry's - and
    the trailing lp-count), as Redis estimates it for stream-node-max-bytes."""
    nb = 2 + _lp_int_size(mdelta) + _lp_int_size(sdelta)
    if same:
        for x in fv[1::2]:
            nb += _lp_str_size(x)
        return nb + _lp_int_size(nfields + 3)
    nb += _lp_int_size(nfields)
    for x in fv:
        nb += _lp_str_size(x)
    return nb + _lp_int_size(nfields * 2 + 4)


class _Node:
    __slots__ = ("ms", "seq", "buf", "eo", "en", "dead", "live", "nbytes", "master")

    def __init__(self):
        self.ms = array("Q")
        self.seq = array("Q")
        self.buf = bytearray()
        self.eo = array("I", (0,))      # element k is buf[eo[k]:eo[k+1]]
        self.en = array("I", (0,))      # entry i is elements en[i]..en[i+1]
        self.dead = bytearray()
        self.live = 0
        self.nbytes = 0
        self.master = None              # the master entry's fields (a tuple)

    def copy(self) -> "_Node":
        n = _Node()
        n.ms = array("Q", self.ms)
        n.seq = array("Q", self.seq)
        n.buf = bytearray(self.buf)
        n.eo = array("I", self.eo)
        n.en = array("I", self.en)
        n.dead = bytearray(self.dead)
        n.live = self.live
        n.nbytes = self.nbytes
        n.master = self.master
        return n

    def id_at(self, i: int) -> int:
        return self.ms[i] << 64 | self.seq[i]

    def fields_at(self, i: int) -> list:
        buf = self.buf
        eo = self.eo
        a = self.en[i]
        b = self.en[i + 1]
        return [bytes(buf[eo[k]:eo[k + 1]]) for k in range(a, b)]

    def find(self, ident: int, right: bool = False) -> int:
        """Index of the first entry with ID >= ident (> with ``right``)."""
        ms = ident >> 64
        seq = ident & U64
        lo = bisect_left(self.ms, ms)
        hi = bisect_right(self.ms, ms, lo)
        if lo == hi:
            return lo
        if right:
            return bisect_right(self.seq, seq, lo, hi)
        return bisect_left(self.seq, seq, lo, hi)

    def append(self, ident: int, fv) -> None:
        self.ms.append(ident >> 64)
        self.seq.append(ident & U64)
        buf = self.buf
        eo = self.eo
        for x in fv:
            buf += x
            eo.append(len(buf))
        self.en.append(len(eo) - 1)
        self.dead.append(0)
        self.live += 1

    def __len__(self) -> int:
        return len(self.dead)


class MemoryStream:
    TYPE_NAME = "stream"
    __slots__ = ("nodes", "keys", "length", "last_id", "first_id", "entries_added",
                 "max_deleted_entry_id", "groups")

    def __init__(self):
        self.nodes: list = []
        self.keys: list = []            # master ID of each node, for bisection
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.entries_added = 0
        self.max_deleted_entry_id = 0
        self.groups: dict = {}

    # -- generic -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def encoding(self) -> str:
        return "stream"

    def copy(self) -> "MemoryStream":
        s = MemoryStream()
        s.nodes = [n.copy() for n in self.nodes]
        s.keys = list(self.keys)
        s.length = self.length
        s.last_id = self.last_id
        s.first_id = self.first_id
        s.entries_added = self.entries_added
        s.max_deleted_entry_id = self.max_deleted_entry_id
        s.groups = {name: g.copy() for name, g in self.groups.items()}
        return s

    def memory_usage(self) -> int:
        """The Python footprint: the node lists and each node's packed arrays, measured on
        up to 16 nodes and scaled (as MEMORY USAGE samples)."""
        nodes = self.nodes
        size = 120 + sys.getsizeof(nodes) + sys.getsizeof(self.keys) + 40 * len(nodes)
        sample = nodes if len(nodes) <= 16 else nodes[:8] + nodes[-8:]
        part = 0
        for n in sample:
            part += (80 + sys.getsizeof(n.ms) + sys.getsizeof(n.seq) + sys.getsizeof(n.buf)
                     + sys.getsizeof(n.eo) + sys.getsizeof(n.en) + sys.getsizeof(n.dead))
        if sample:
            size += part * len(nodes) // len(sample)
        for g in self.groups.values():
            mu = getattr(g, "memory_usage", None)
            size += mu() if mu is not None else 200
        return size

    def __repr__(self):
        return f"<MemoryStream len={self.length} last={self.last_id >> 64}-{self.last_id & U64}>"

    def node_count(self) -> int:
        return len(self.nodes)

    # -- writes ------------------------------------------------------------------------------
    def append(self, ident: int, fv) -> None:
        nodes = self.nodes
        node = nodes[-1] if nodes else None
        if node is not None:
            max_bytes = limits.stream_node_max_bytes
            if max_bytes == 0 or max_bytes > STREAM_LISTPACK_MAX_SIZE:
                max_bytes = STREAM_LISTPACK_MAX_SIZE
            tot = 0
            for x in fv:
                tot += len(x)
            if node.nbytes + tot >= max_bytes:
                node = None
            else:
                max_entries = limits.stream_node_max_entries
                if max_entries and len(node.dead) >= max_entries:
                    node = None
        nfields = len(fv) >> 1
        if node is None:
            node = _Node()
            master = tuple(fv[0::2])
            node.master = master
            # header + count + deleted + num-fields + fields + terminator + end byte
            nb = 7 + 2 + 2 + _lp_int_size(nfields)
            for f in master:
                nb += _lp_str_size(f)
            node.nbytes = nb + 2
            nodes.append(node)
            self.keys.append(ident)
            same = True
            mdelta = sdelta = 0
        else:
            same = node.master == tuple(fv[0::2])
            mdelta = (ident >> 64) - node.ms[0]
            sdelta = (ident & U64) - node.seq[0]
        node.nbytes += entry_lp_bytes(same, mdelta, sdelta, fv, nfields)
        node.append(ident, fv)
        if self.length == 0:
            self.first_id = ident
        self.length += 1
        self.last_id = ident
        self.entries_added += 1

    def _locate(self, ident: int):
        """(node index, entry index) of a live entry, or None."""
        keys = self.keys
        ni = bisect_right(keys, ident) - 1
        if ni < 0:
            return None
        node = self.nodes[ni]
        i = node.find(ident)
        if i < len(node.dead) and not node.dead[i] and node.id_at(i) == ident:
            return ni, i
        return None

    def _kill(self, ni: int, i: int) -> None:
        node = self.nodes[ni]
        node.dead[i] = 1
        node.live -= 1
        self.length -= 1
        if node.live == 0:
            del self.nodes[ni]
            del self.keys[ni]

    def delete(self, ident: int) -> bool:
        """XDEL of one ID."""
        loc = self._locate(ident)
        if loc is None:
            return False
        self._kill(*loc)
        if ident > self.max_deleted_entry_id:
            self.max_deleted_entry_id = ident
        if self.length == 0:
            self.first_id = 0
        elif ident == self.first_id:
            self.first_id = self._edge(False)
        return True

    def trim(self, maxlen: int = -1, minid: int = -1, approx: bool = False,
             limit: int = 0) -> int:
        """streamTrim."""
        deleted = 0
        nodes = self.nodes
        bymaxlen = maxlen >= 0
        while nodes:
            if bymaxlen and self.length <= maxlen:
                break
            node = nodes[0]
            entries = node.live
            if limit and deleted + entries > limit:
                break
            if bymaxlen:
                remove = self.length - entries >= maxlen
            else:
                remove = node.id_at(len(node.dead) - 1) < minid
            if remove:
                del nodes[0]
                del self.keys[0]
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            dead = node.dead
            for i in range(len(dead)):
                if bymaxlen:
                    if self.length <= maxlen:
                        break
                elif node.id_at(i) >= minid:
                    break
                if not dead[i]:
                    dead[i] = 1
                    node.live -= 1
                    self.length -= 1
                    deleted += 1
            break
        if self.length == 0:
            self.first_id = 0
        elif deleted:
            self.first_id = self._edge(False)
        return deleted

    # -- reads -------------------------------------------------------------------------------
    def _edge(self, last: bool) -> int:
        """The first (or last) live ID; the stream is not empty."""
        nodes = self.nodes
        if last:
            for node in reversed(nodes):
                dead = node.dead
                for i in range(len(dead) - 1, -1, -1):
                    if not dead[i]:
                        return node.id_at(i)
        else:
            for node in nodes:
                i = node.dead.find(0)
                if i >= 0:
                    return node.id_at(i)
        return 0

    def edge_id(self, first: bool = True, skip_tombstones: bool = True) -> int:
        """streamGetEdgeID: the first (or last) entry's ID, deleted entries included unless
        ``skip_tombstones``; with none, the maximal ID (first) or 0-0 (last)."""
        if skip_tombstones:
            if self.length:
                return self._edge(not first)
        elif self.nodes:
            node = self.nodes[0] if first else self.nodes[-1]
            return node.id_at(0 if first else len(node.dead) - 1)
        return (1 << 128) - 1 if first else 0

    def last_valid_id(self) -> int:
        """streamLastValidID: the last live entry's ID (0 when empty)."""
        return self._edge(True) if self.length else 0

    def get(self, ident: int):
        """The fields of the live entry ``ident`` (flat list), or None."""
        loc = self._locate(ident)
        if loc is None:
            return None
        return self.nodes[loc[0]].fields_at(loc[1])

    def __contains__(self, ident: int) -> bool:
        return self._locate(ident) is not None

    def first_entry(self):
        r = self.range(0, (1 << 128) - 1, 1)
        return r[0] if r else None

    def last_entry(self):
        r = self.range(0, (1 << 128) - 1, 1, True)
        return r[0] if r else None

    def range(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list:
        """Live entries with start <= ID <= end, as [(id, [f, v, ...])], in ID order (from
        the end with ``reverse``), at most ``count`` (0: all)."""
        out = []
        if start > end or not self.length:
            return out
        nodes = self.nodes
        keys = self.keys
        if not reverse:
            ni = bisect_right(keys, start) - 1
            if ni < 0:
                ni = 0
            i = nodes[ni].find(start)
            nn = len(nodes)
            while ni < nn:
                node = nodes[ni]
                dead = node.dead
                ms = node.ms
                seq = node.seq
                n = len(dead)
                while i < n:
                    ident = ms[i] << 64 | seq[i]
                    if ident > end:
                        return out
                    if not dead[i]:
                        out.append((ident, node.fields_at(i)))
                        if count and len(out) >= count:
                            return out
                    i += 1
                ni += 1
                i = 0
        else:
            ni = bisect_right(keys, end) - 1
            if ni < 0:
                return out
            i = nodes[ni].find(end, True) - 1
            while ni >= 0:
                node = nodes[ni]
                dead = node.dead
                ms = node.ms
                seq = node.seq
                while i >= 0:
                    ident = ms[i] << 64 | seq[i]
                    if ident < start:
                        return out
                    if not dead[i]:
                        out.append((ident, node.fields_at(i)))
                        if count and len(out) >= count:
                            return out
                    i -= 1
                ni -= 1
                if ni >= 0:
                    i = len(nodes[ni].dead) - 1
        return out

    def entries(self):
        """Every live entry in ID order (an iterator of (id, fields))."""
        for node in self.nodes:
            dead = node.dead
            for i in range(len(dead)):
                if not dead[i]:
                    yield node.id_at(i), node.fields_at(i)
