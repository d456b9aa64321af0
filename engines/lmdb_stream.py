"""Streams and consumer groups of the LMDB engine (:class:`engines.base.StreamValue`,
:class:`engines.base.ConsumerGroup`), one record per entry, per node, per group, per
consumer and per pending entry - never a blob of the whole stream or group.

Every record lives in the ``xs`` sub-database under the key's element prefix ``pre`` (``pdb``
+ version, 12 bytes: DEL, FLUSH and the sweep reclaim it like any collection's records),
followed by a one-byte tag. IDs are 16 bytes big-endian (ms, seq), so bytewise order is ID
order and every range is a cursor scan:

* ``H``: the stream header -> last_id (16), first_id (16), max_deleted_entry_id (16),
  entries_added (u64), node count (u64), group count (u64). The live length is the metadata
  record's size field.
* ``E`` + id: an entry -> deleted flag (1 byte) + fields (see :func:`pack_fields`).
  Deleted entries stay as tombstones while their node lives, exactly as in Redis's listpacks.
* ``N`` + master id: a node (Redis's rax key / listpack) -> entries in it, live and deleted
  (u32), live entries (u32), the estimated listpack bytes (u64), the node's last ID (16), and
  the master entry's field names. Nodes follow streamAppendItem's rules
  (``stream-node-max-entries``/``-bytes``, same estimate as :mod:`engines.mem_stream`), so
  approximate trimming, XINFO's radix-tree counts and the RDB/DUMP bytes are Redis's. A node
  whose last live entry goes is removed with its tombstones.
* ``G`` + group name: a group -> group id (u64, an engine version number: unique), last_id
  (16), entries_read (i64), PEL size (u64), consumer count (u64).
* ``P`` + gid + id: a group PEL entry -> delivery time (i64), delivery count (u64), owner name.
* ``C`` + gid + consumer name: a consumer -> consumer id (u64), seen time (i64), active time
  (i64), pending count (u64). Names iterate in bytes order (rax order).
* ``Q`` + gid + cid + id: the consumer's own PEL (empty value).

Costs: XADD is a few B-tree operations whatever the stream's length (header, tail node,
entry, metadata); XDEL, XACK, XCLAIM per ID likewise; XRANGE/XREAD/XPENDING/XAUTOCLAIM seek
and walk. Group and consumer names must fit an LMDB key (490 bytes here).
"""
from __future__ import annotations

import struct
from collections.abc import MutableMapping

from .lmdb_view import LmdbView
from .mem_stream import (STREAM_LISTPACK_MAX_SIZE, MemoryStream, _lp_int_size, _lp_str_size,
                         _Node, entry_lp_bytes)
from .mem_stream_groups import MemoryConsumerGroup
from .limits import limits

U64 = (1 << 64) - 1
ID_MAX = (1 << 128) - 1
MAX_NAME = 490
_HDR = struct.Struct(">16s16s16sQQQ")
_NODE = struct.Struct(">IIQ16s")
_GRP = struct.Struct(">Q16sqQQ")
_PEL = struct.Struct(">qQ")
_CONS = struct.Struct(">QqqQ")
_q = struct.Struct(">Q").pack
_I = struct.Struct(">I")


def id16(i: int) -> bytes:
    return i.to_bytes(16, "big")


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def pack_fields(fv) -> bytes:
    """u32 count, u32 length of each element, then the elements."""
    n = len(fv)
    return struct.pack(">%dI" % (n + 1), n, *[len(x) for x in fv]) + b"".join(fv)


def unpack_fields(b, off: int = 0) -> list:
    n = _I.unpack_from(b, off)[0]
    lens = struct.unpack_from(">%dI" % n, b, off + 4)
    p = off + 4 + 4 * n
    out = []
    for ln in lens:
        out.append(bytes(b[p:p + ln]))
        p += ln
    return out


def _too_long(what: str):
    from valkeyd.errors import ErrorReply
    return ErrorReply(f"ERR the lmdb engine does not support {what} longer than {MAX_NAME} "
                      f"bytes")


def _walk(t, dbi, lo: bytes, hi: bytes, reverse: bool = False):
    """(key, value) of the records with lo <= key <= hi (``hi`` inclusive), in order (or
    reversed), lazily."""
    with t.cursor(db=dbi) as cur:
        if not reverse:
            ok = cur.set_range(lo)
            while ok:
                k = cur.key()
                if k > hi:
                    return
                yield k, cur.value()
                ok = cur.next()
        else:
            ok = cur.set_range(hi)
            if ok:
                if cur.key() != hi:
                    ok = cur.prev()
            else:
                ok = cur.last()
            while ok:
                k = cur.key()
                if k < lo:
                    return
                yield k, cur.value()
                ok = cur.prev()


def _scan(t, dbi, lo: bytes, hi: bytes, limit: int = 0, reverse: bool = False):
    """:func:`_walk` read into a list (callers may write after), at most ``limit`` records
    (0: all)."""
    out = []
    for kv in _walk(t, dbi, lo, hi, reverse):
        out.append(kv)
        if limit and len(out) >= limit:
            break
    return out


def drop_size(t, xs, pre: bytes, length: int) -> int:
    """The record count ``drop_records`` should assume for the stream under ``pre``: its
    length when it has at most one node and no groups (deleted at once, like a small
    collection), else a huge number (its records are queued for the sweep: tombstones and
    pending entries are not in the length)."""
    raw = t.get(pre + b"H", db=xs)
    if raw is None:
        return 0
    _, _, _, _, nodes, groups = _HDR.unpack(raw)
    return length if nodes <= 1 and groups == 0 and length <= 64 else 1 << 62


class LmdbStream(LmdbView):
    """A live view of the stream stored at one key (bound to its version)."""

    __slots__ = ()

    TYPE_NAME = "stream"

    # -- header ----------------------------------------------------------------------------------
    def _hdr(self) -> list:
        raw = self.e.txn().get(self.pre + b"H", db=self.e.xs_db)
        if raw is None:
            return [0, 0, 0, 0, 0, 0]
        a, b, c, d, n, g = _HDR.unpack(raw)
        return [_int(a), _int(b), _int(c), d, n, g]

    def _put_hdr(self, h) -> None:
        self.e.txn().put(self.pre + b"H", _HDR.pack(id16(h[0]), id16(h[1]), id16(h[2]), h[3],
                                                     h[4], h[5]), db=self.e.xs_db)
        self.e.dirty = True

    def _set_field(self, i: int, v: int) -> None:
        h = self._hdr()
        h[i] = v
        self._put_hdr(h)

    last_id = property(lambda self: self._hdr()[0], lambda self, v: self._set_field(0, v))
    first_id = property(lambda self: self._hdr()[1], lambda self, v: self._set_field(1, v))
    max_deleted_entry_id = property(lambda self: self._hdr()[2],
                                    lambda self, v: self._set_field(2, v))
    entries_added = property(lambda self: self._hdr()[3], lambda self, v: self._set_field(3, v))

    @property
    def groups(self) -> "LmdbGroups":
        return LmdbGroups(self)

    def new_group(self, last_id: int, entries_read: int) -> "LmdbConsumerGroup":
        """A group not stored yet: ``groups[name] = g`` stores it (and binds ``g``)."""
        return LmdbConsumerGroup(self, None, 0, last_id, entries_read)

    def __len__(self) -> int:
        return self._meta()[4]

    length = property(__len__)

    def encoding(self) -> str:
        return "stream"

    def node_count(self) -> int:
        return self._hdr()[4]

    def rax_info(self):
        from valkeyd.commands.stream_groups import rax_node_count
        pre = self.pre + b"N"
        keys = [k[13:] for k, _ in _scan(self.e.txn(), self.e.xs_db, pre, pre + b"\xff" * 16)]
        return len(keys), rax_node_count(keys)

    def memory_usage(self) -> int:
        h = self._hdr()
        n = len(self)
        sample = self.range(0, ID_MAX, 8)
        size = 96 + h[4] * 48
        if sample:
            per = sum(16 + sum(len(x) + 2 for x in fv) for _, fv in sample) // len(sample)
            size += n * per
        for g in self.groups.values():
            size += g.memory_usage()
        return size

    def __repr__(self):
        return f"<LmdbStream {self.mk[8:]!r}>"

    # -- copies ----------------------------------------------------------------------------------
    def copy(self) -> MemoryStream:
        """An independent (memory) stream with the same nodes, entries and groups; storing it
        with ``Keyspace.set`` writes it as records again (COPY, DUMP)."""
        return read_stream(self.e.txn(), self.e.xs_db, self.pre, len(self))

    def rdb_view(self) -> MemoryStream:
        """What the RDB writer encodes (persistence/rdb_save.py)."""
        return self.copy()

    def _load(self, src) -> None:
        """Write the memory stream ``src`` into this new, empty stream."""
        e = self.e
        t = e.txn()
        xs = e.xs_db
        pre = self.pre
        for node in src.nodes:
            n = len(node.dead)
            for i in range(n):
                t.put(pre + b"E" + id16(node.id_at(i)),
                      (b"\x01" if node.dead[i] else b"\x00") + pack_fields(node.fields_at(i)),
                      db=xs)
            t.put(pre + b"N" + id16(node.id_at(0)),
                  _NODE.pack(n, node.live, node.nbytes, id16(node.id_at(n - 1)))
                  + pack_fields(list(node.master)), db=xs)
        self._put_hdr([src.last_id, src.first_id, src.max_deleted_entry_id, src.entries_added,
                       len(src.nodes), 0])
        self._put_meta(self._meta(), src.length)
        gs = self.groups
        for name, g in src.groups.items():
            gs[name] = g

    # -- nodes -----------------------------------------------------------------------------------
    def _tail_node(self):
        """(master id, node record) of the last node, or None."""
        r = _scan(self.e.txn(), self.e.xs_db, self.pre + b"N", self.pre + b"N" + b"\xff" * 16,
                  1, True)
        return (_int(r[0][0][13:]), r[0][1]) if r else None

    def _node_of(self, ident: int):
        """(master id, node record) of the node that would hold ``ident``, or None."""
        r = _scan(self.e.txn(), self.e.xs_db, self.pre + b"N", self.pre + b"N" + id16(ident),
                  1, True)
        return (_int(r[0][0][13:]), r[0][1]) if r else None

    def _drop_node(self, master: int, last: int) -> None:
        """Delete a node record and its entry records (tombstones included)."""
        e = self.e
        t = e.txn()
        pre = self.pre
        t.delete(pre + b"N" + id16(master), db=e.xs_db)
        lo = pre + b"E" + id16(master)
        hi = pre + b"E" + id16(last)
        with t.cursor(db=e.xs_db) as cur:
            ok = cur.set_range(lo)
            while ok and cur.key() <= hi:
                ok = cur.delete()
                if ok and not cur.key():
                    break

    # -- writes ----------------------------------------------------------------------------------
    def append(self, ident: int, fv) -> None:
        e = self.e
        t = e.txn()
        xs = e.xs_db
        pre = self.pre
        h = self._hdr()
        tail = self._tail_node() if h[4] else None
        node = None
        if tail is not None:
            cnt, live, nbytes, _ = _NODE.unpack_from(tail[1])
            max_bytes = limits.stream_node_max_bytes
            if max_bytes == 0 or max_bytes > STREAM_LISTPACK_MAX_SIZE:
                max_bytes = STREAM_LISTPACK_MAX_SIZE
            tot = 0
            for x in fv:
                tot += len(x)
            node = tail
            if nbytes + tot >= max_bytes:
                node = None
            else:
                max_entries = limits.stream_node_max_entries
                if max_entries and cnt >= max_entries:
                    node = None
        nfields = len(fv) >> 1
        names = list(fv[0::2])
        if node is None:
            master = ident
            mfields = pack_fields(names)
            nb = 7 + 2 + 2 + _lp_int_size(nfields)
            for f in names:
                nb += _lp_str_size(f)
            nbytes = nb + 2
            cnt = live = 0
            same = True
            mdelta = sdelta = 0
            h[4] += 1
        else:
            master = node[0]
            mfields = bytes(node[1][_NODE.size:])
            same = mfields == pack_fields(names)
            mdelta = (ident >> 64) - (master >> 64)
            sdelta = (ident & U64) - (master & U64)
        nbytes += entry_lp_bytes(same, mdelta, sdelta, fv, nfields)
        t.put(pre + b"E" + id16(ident), b"\x00" + pack_fields(fv), db=xs)
        t.put(pre + b"N" + id16(master), _NODE.pack(cnt + 1, live + 1, nbytes, id16(ident))
              + mfields, db=xs)
        m = self._meta()
        if m[4] == 0:
            h[1] = ident
        h[0] = ident
        h[3] += 1
        self._put_hdr(h)
        self._put_meta(m, m[4] + 1)

    def delete(self, ident: int) -> bool:
        """XDEL of one ID."""
        e = self.e
        t = e.txn()
        xs = e.xs_db
        ek = self.pre + b"E" + id16(ident)
        raw = t.get(ek, db=xs)
        if raw is None or raw[:1] != b"\x00":
            return False
        node = self._node_of(ident)
        cnt, live, nbytes, last = _NODE.unpack_from(node[1])
        h = self._hdr()
        if live == 1:
            self._drop_node(node[0], _int(last))
            h[4] -= 1
        else:
            t.put(ek, b"\x01" + raw[1:], db=xs)
            t.put(self.pre + b"N" + id16(node[0]),
                  _NODE.pack(cnt, live - 1, nbytes, last) + node[1][_NODE.size:], db=xs)
        m = self._meta()
        n = m[4] - 1
        self._put_meta(m, n)
        if ident > h[2]:
            h[2] = ident
        if n == 0:
            h[1] = 0
        elif ident == h[1]:
            h[1] = self._edge(False)
        self._put_hdr(h)
        return True

    def trim(self, maxlen: int = -1, minid: int = -1, approx: bool = False,
             limit: int = 0) -> int:
        """streamTrim (the memory engine's algorithm over the node records)."""
        e = self.e
        t = e.txn()
        xs = e.xs_db
        pre = self.pre
        m = self._meta()
        length = m[4]
        h = self._hdr()
        deleted = 0
        bymaxlen = maxlen >= 0
        while h[4]:
            if bymaxlen and length <= maxlen:
                break
            r = _scan(t, xs, pre + b"N", pre + b"N" + b"\xff" * 16, 1)
            if not r:
                break
            k, v = r[0]
            master = _int(k[13:])
            cnt, live, nbytes, last16 = _NODE.unpack_from(v)
            if limit and deleted + live > limit:
                break
            if bymaxlen:
                remove = length - live >= maxlen
            else:
                remove = _int(last16) < minid
            if remove:
                self._drop_node(master, _int(last16))
                h[4] -= 1
                length -= live
                deleted += live
                continue
            if approx:
                break
            killed = 0
            for ek, ev in _scan(t, xs, pre + b"E" + id16(master), pre + b"E" + last16):
                if bymaxlen:
                    if length <= maxlen:
                        break
                elif _int(ek[13:]) >= minid:
                    break
                if ev[:1] == b"\x00":
                    t.put(ek, b"\x01" + ev[1:], db=xs)
                    killed += 1
                    length -= 1
                    deleted += 1
            if killed:
                t.put(k, _NODE.pack(cnt, live - killed, nbytes, last16) + v[_NODE.size:], db=xs)
            break
        if deleted:
            self._put_meta(m, length)
            if length == 0:
                h[1] = 0
            else:
                h[1] = self._edge(False)
            self._put_hdr(h)
        elif length == 0 and h[1]:
            h[1] = 0
            self._put_hdr(h)
        return deleted

    # -- reads -----------------------------------------------------------------------------------
    def _edge(self, last: bool) -> int:
        """The first (or last) live ID, 0 if none."""
        pre = self.pre + b"E"
        t = self.e.txn()
        with t.cursor(db=self.e.xs_db) as cur:
            if last:
                ok = cur.set_range(self.pre + b"F")
                ok = cur.prev() if ok else cur.last()
            else:
                ok = cur.set_range(pre)
            while ok:
                k = cur.key()
                if k[:13] != pre:
                    return 0
                if cur.value()[:1] == b"\x00":
                    return _int(k[13:])
                ok = cur.prev() if last else cur.next()
        return 0

    def edge_id(self, first: bool = True, skip_tombstones: bool = True) -> int:
        if skip_tombstones:
            if len(self):
                return self._edge(not first)
        else:
            pre = self.pre + b"E"
            r = _scan(self.e.txn(), self.e.xs_db, pre, pre + b"\xff" * 16, 1, not first)
            if r:
                return _int(r[0][0][13:])
        return ID_MAX if first else 0

    def last_valid_id(self) -> int:
        return self._edge(True) if len(self) else 0

    def get(self, ident: int):
        if not 0 <= ident <= ID_MAX:
            return None
        raw = self.e.txn().get(self.pre + b"E" + id16(ident), db=self.e.xs_db)
        if raw is None or raw[:1] != b"\x00":
            return None
        return unpack_fields(raw, 1)

    def __contains__(self, ident: int) -> bool:
        if not 0 <= ident <= ID_MAX:
            return False
        raw = self.e.txn().get(self.pre + b"E" + id16(ident), db=self.e.xs_db)
        return raw is not None and raw[:1] == b"\x00"

    def first_entry(self):
        r = self.range(0, ID_MAX, 1)
        return r[0] if r else None

    def last_entry(self):
        r = self.range(0, ID_MAX, 1, True)
        return r[0] if r else None

    def range(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list:
        out = []
        if start > end or start > ID_MAX or end < 0:
            return out
        start = max(start, 0)
        end = min(end, ID_MAX)
        pre = self.pre + b"E"
        lo = pre + id16(start)
        hi = pre + id16(end)
        for k, v in _walk(self.e.txn(), self.e.xs_db, lo, hi, reverse):
            if v[:1] == b"\x00":
                out.append((_int(k[13:]), unpack_fields(v, 1)))
                if count and len(out) >= count:
                    break
        return out

    def entries(self):
        """Every live entry in ID order, read in chunks."""
        lo = 0
        while True:
            chunk = self.range(lo, ID_MAX, 256)
            yield from chunk
            if len(chunk) < 256:
                return
            lo = chunk[-1][0] + 1


def read_stream(t, xs, pre: bytes, length: int) -> MemoryStream:
    """A memory stream with the nodes, entries (tombstones included) and groups stored under
    ``pre`` in transaction ``t`` (copies, DUMP, SAVE/BGSAVE, AOF rewrite)."""
    s = MemoryStream()
    raw = t.get(pre + b"H", db=xs)
    if raw is not None:
        a, b, c, d, _, _ = _HDR.unpack(raw)
        s.last_id, s.first_id, s.max_deleted_entry_id, s.entries_added = (
            _int(a), _int(b), _int(c), d)
    nodes = _scan(t, xs, pre + b"N", pre + b"N" + b"\xff" * 16)
    for k, v in nodes:
        master = _int(k[13:])
        cnt, live, nbytes, last16 = _NODE.unpack_from(v)
        node = _Node()
        node.master = tuple(unpack_fields(v, _NODE.size))
        node.nbytes = nbytes
        for ek, ev in _scan(t, xs, pre + b"E" + id16(master), pre + b"E" + last16):
            node.append(_int(ek[13:]), unpack_fields(ev, 1))
            if ev[:1] != b"\x00":
                node.dead[len(node.dead) - 1] = 1
                node.live -= 1
        s.nodes.append(node)
        s.keys.append(master)
    s.length = length
    for k, v in _scan(t, xs, pre + b"G", pre + b"G" + b"\xff" * 512):
        gid, last16, er, _, _ = _GRP.unpack(v)
        g = MemoryConsumerGroup(_int(last16), er)
        g8 = _q(gid)
        for ck, cv in _scan(t, xs, pre + b"C" + g8, pre + b"C" + g8 + b"\xff" * 491):
            _, seen, active, _ = _CONS.unpack(cv)
            name = ck[21:]
            g.consumer_create(name, seen)
            g.consumer_set_times(name, seen, active)
        for pk, pv in _scan(t, xs, pre + b"P" + g8, pre + b"P" + g8 + b"\xff" * 16):
            tm, dc = _PEL.unpack_from(pv)
            g.pel_put(_int(pk[21:]), bytes(pv[_PEL.size:]), tm, dc)
        s.groups[k[13:]] = g
    return s


class LmdbGroups(MutableMapping):
    """The ``groups`` mapping of an LMDB stream: group name -> :class:`LmdbConsumerGroup`,
    iterated in bytes order."""

    __slots__ = ("sv",)

    def __init__(self, sv: LmdbStream):
        self.sv = sv

    def _gk(self, name: bytes) -> bytes:
        return self.sv.pre + b"G" + name

    def __getitem__(self, name):
        raw = self.sv.e.txn().get(self._gk(name), db=self.sv.e.xs_db) \
            if len(name) <= MAX_NAME else None
        if raw is None:
            raise KeyError(name)
        gid, last16, er, _, _ = _GRP.unpack(raw)
        return LmdbConsumerGroup(self.sv, bytes(name), gid, _int(last16), er)

    def __contains__(self, name) -> bool:
        return len(name) <= MAX_NAME and \
            self.sv.e.txn().get(self._gk(name), db=self.sv.e.xs_db) is not None

    def __setitem__(self, name, g) -> None:
        sv = self.sv
        e = sv.e
        if len(name) > MAX_NAME:
            if not len(sv) and sv._hdr() == [0, 0, 0, 0, 0, 0]:
                sv.ks.delete(sv.key())   # created for this group (MKSTREAM): not left behind
            raise _too_long("consumer group names")
        if isinstance(g, LmdbConsumerGroup) and g.name == name and g.sv.pre == sv.pre:
            return
        if name in self:
            del self[name]
        if isinstance(g, LmdbConsumerGroup) and g.name is None and g.sv.pre == sv.pre:
            gid = e.next_version()
            e.txn().put(self._gk(name), _GRP.pack(gid, id16(g._last), g._er, 0, 0),
                        db=e.xs_db)
            g.name, g.gid = bytes(name), gid
        else:   # another engine's (or stream's) group: its state is copied in
            gid = e.next_version()
            e.txn().put(self._gk(name), _GRP.pack(gid, id16(g.last_id), g.entries_read, 0, 0),
                        db=e.xs_db)
            ng = LmdbConsumerGroup(sv, bytes(name), gid, 0, 0)
            for cn in g.consumer_names():
                seen, active, _ = g.consumer_get(cn)
                ng.consumer_create(cn, seen)
                ng.consumer_set_times(cn, seen, active)
            for ident, owner, tm, dc in list(g.pel_range(0)):
                ng.pel_put(ident, owner, tm, dc)
        h = sv._hdr()
        h[5] += 1
        sv._put_hdr(h)

    def __delitem__(self, name) -> None:
        g = self[name]
        e = self.sv.e
        t = e.txn()
        pre = self.sv.pre
        g8 = _q(g.gid)
        for tag in (b"P", b"C", b"Q"):
            p = pre + tag + g8
            with t.cursor(db=e.xs_db) as cur:
                ok = cur.set_range(p)
                while ok and cur.key()[:21] == p:
                    ok = cur.delete()
        t.delete(self._gk(name), db=e.xs_db)
        h = self.sv._hdr()
        h[5] -= 1
        self.sv._put_hdr(h)

    def __iter__(self):
        p = self.sv.pre + b"G"
        return iter([k[13:] for k, _ in _scan(self.sv.e.txn(), self.sv.e.xs_db, p,
                                              p + b"\xff" * 512)])

    def __len__(self) -> int:
        return self.sv._hdr()[5]

    def __repr__(self):
        return f"<LmdbGroups {list(self)!r}>"


class LmdbConsumerGroup:
    """One consumer group of an LMDB stream, bound to its ``G`` record (``name``) and group
    id; a group made by :meth:`LmdbStream.new_group` holds its attributes itself until it is
    stored into ``groups``."""

    __slots__ = ("sv", "name", "gid", "_last", "_er")

    def __init__(self, sv, name, gid, last_id, entries_read):
        self.sv = sv
        self.name = name
        self.gid = gid
        self._last = last_id
        self._er = entries_read

    # -- the G record --------------------------------------------------------------------------
    def _grec(self):
        raw = self.sv.e.txn().get(self.sv.pre + b"G" + self.name, db=self.sv.e.xs_db)
        gid, last16, er, pl, nc = _GRP.unpack(raw)
        return [gid, _int(last16), er, pl, nc]

    def _put_grec(self, r) -> None:
        e = self.sv.e
        e.txn().put(self.sv.pre + b"G" + self.name, _GRP.pack(r[0], id16(r[1]), r[2], r[3],
                                                               r[4]), db=e.xs_db)
        e.dirty = True

    def _get_attr(self, i):
        if self.name is None:
            return self._last if i == 1 else self._er
        return self._grec()[i]

    def _set_attr(self, i, v):
        if self.name is None:
            if i == 1:
                self._last = v
            else:
                self._er = v
            return
        r = self._grec()
        r[i] = v
        self._put_grec(r)

    last_id = property(lambda self: self._get_attr(1), lambda self, v: self._set_attr(1, v))
    entries_read = property(lambda self: self._get_attr(2),
                            lambda self, v: self._set_attr(2, v))

    def _bound(self) -> None:
        if self.name is None:
            raise RuntimeError("store the group into the stream's groups first")

    def copy(self) -> MemoryConsumerGroup:
        g = MemoryConsumerGroup(self.last_id, self.entries_read)
        if self.name is None:
            return g
        for cn in self.consumer_names():
            seen, active, _ = self.consumer_get(cn)
            g.consumer_create(cn, seen)
            g.consumer_set_times(cn, seen, active)
        for ident, owner, tm, dc in self.pel_range(0):
            g.pel_put(ident, owner, tm, dc)
        return g

    def memory_usage(self) -> int:
        if self.name is None:
            return 200
        r = self._grec()
        return 200 + r[3] * 48 + r[4] * 80

    def __repr__(self):
        return f"<LmdbConsumerGroup {self.name!r}>"

    # -- keys ----------------------------------------------------------------------------------
    def _pk(self, ident: int) -> bytes:
        return self.sv.pre + b"P" + _q(self.gid) + id16(ident)

    def _ck(self, name: bytes) -> bytes:
        return self.sv.pre + b"C" + _q(self.gid) + name

    def _qk(self, cid: int, ident: int) -> bytes:
        return self.sv.pre + b"Q" + _q(self.gid) + _q(cid) + id16(ident)

    def _cons(self, name: bytes):
        if self.name is None or len(name) > MAX_NAME:
            return None
        raw = self.sv.e.txn().get(self._ck(name), db=self.sv.e.xs_db)
        return None if raw is None else list(_CONS.unpack(raw))

    def _put_cons(self, name: bytes, c) -> None:
        self.sv.e.txn().put(self._ck(name), _CONS.pack(*c), db=self.sv.e.xs_db)

    # -- PEL -----------------------------------------------------------------------------------
    def pel_len(self) -> int:
        return self._grec()[3] if self.name is not None else 0

    def pel_get(self, id_: int):
        if self.name is None:
            return None
        raw = self.sv.e.txn().get(self._pk(id_), db=self.sv.e.xs_db)
        if raw is None:
            return None
        tm, dc = _PEL.unpack_from(raw)
        return (bytes(raw[_PEL.size:]), tm, dc)

    def pel_put(self, id_: int, consumer: bytes, time: int, count: int) -> None:
        self._bound()
        e = self.sv.e
        t = e.txn()
        xs = e.xs_db
        cons = self._cons(consumer)
        if cons is None:
            raise KeyError(consumer)
        pk = self._pk(id_)
        raw = t.get(pk, db=xs)
        if raw is None:
            r = self._grec()
            r[3] += 1
            self._put_grec(r)
            t.put(self._qk(cons[0], id_), b"", db=xs)
            cons[3] += 1
            self._put_cons(consumer, cons)
        else:
            owner = bytes(raw[_PEL.size:])
            if owner != consumer:
                old = self._cons(owner)
                t.delete(self._qk(old[0], id_), db=xs)
                old[3] -= 1
                self._put_cons(owner, old)
                t.put(self._qk(cons[0], id_), b"", db=xs)
                cons[3] += 1
                self._put_cons(consumer, cons)
        t.put(pk, _PEL.pack(time, count) + consumer, db=xs)
        e.dirty = True

    def pel_delete(self, id_: int) -> bool:
        if self.name is None:
            return False
        e = self.sv.e
        t = e.txn()
        xs = e.xs_db
        pk = self._pk(id_)
        raw = t.get(pk, db=xs)
        if raw is None:
            return False
        owner = bytes(raw[_PEL.size:])
        cons = self._cons(owner)
        t.delete(self._qk(cons[0], id_), db=xs)
        cons[3] -= 1
        self._put_cons(owner, cons)
        t.delete(pk, db=xs)
        r = self._grec()
        r[3] -= 1
        self._put_grec(r)
        e.dirty = True
        return True

    def _pel_edge(self, last: bool):
        if self.name is None:
            return None
        p = self.sv.pre + b"P" + _q(self.gid)
        r = _scan(self.sv.e.txn(), self.sv.e.xs_db, p, p + b"\xff" * 16, 1, last)
        return _int(r[0][0][21:]) if r else None

    def pel_first(self):
        return self._pel_edge(False)

    def pel_last(self):
        return self._pel_edge(True)

    def pel_range(self, start: int, end=None, consumer=None):
        if self.name is None:
            return
        e = self.sv.e
        xs = e.xs_db
        if end is None:
            end = ID_MAX
        start = max(start, 0)
        if start > end:
            return
        if consumer is not None:
            cons = self._cons(consumer)
            if cons is None:
                return
            p = self.sv.pre + b"Q" + _q(self.gid) + _q(cons[0])
            off = 29
        else:
            p = self.sv.pre + b"P" + _q(self.gid)
            off = 21
        lo = start
        chunk = 16
        while True:
            recs = _scan(e.txn(), xs, p + id16(lo), p + id16(end), chunk)
            if not recs:
                return
            for k, v in recs:
                ident = _int(k[off:])
                if consumer is not None:
                    v = e.txn().get(self._pk(ident), db=xs)
                    if v is None:
                        continue
                else:
                    v = e.txn().get(k, db=xs)   # it may have changed since the chunk was read
                    if v is None:
                        continue
                tm, dc = _PEL.unpack_from(v)
                yield (ident, bytes(v[_PEL.size:]), tm, dc)
            if len(recs) < chunk:
                return
            lo = _int(recs[-1][0][off:]) + 1
            if lo > end:
                return
            if chunk < 1024:
                chunk *= 4

    # -- consumers -----------------------------------------------------------------------------
    def consumer_count(self) -> int:
        return self._grec()[4] if self.name is not None else 0

    def consumer_names(self) -> list:
        if self.name is None:
            return []
        p = self.sv.pre + b"C" + _q(self.gid)
        return [bytes(k[21:]) for k, _ in _scan(self.sv.e.txn(), self.sv.e.xs_db, p,
                                                 p + b"\xff" * 491)]

    def consumer_get(self, name: bytes):
        c = self._cons(name)
        return None if c is None else (c[1], c[2], c[3])

    def consumer_create(self, name: bytes, now: int) -> bool:
        self._bound()
        if len(name) > MAX_NAME:
            raise _too_long("consumer names")
        if self._cons(name) is not None:
            return False
        e = self.sv.e
        self._put_cons(name, [e.next_version(), now, -1, 0])
        r = self._grec()
        r[4] += 1
        self._put_grec(r)
        return True

    def consumer_delete(self, name: bytes):
        c = self._cons(name)
        if c is None:
            return None
        e = self.sv.e
        t = e.txn()
        xs = e.xs_db
        p = self.sv.pre + b"Q" + _q(self.gid) + _q(c[0])
        qs = [k for k, _ in _scan(t, xs, p, p + b"\xff" * 16)]
        for k in qs:
            t.delete(self._pk(_int(k[29:])), db=xs)
            t.delete(k, db=xs)
        n = len(qs)
        t.delete(self._ck(name), db=xs)
        r = self._grec()
        r[3] -= n
        r[4] -= 1
        self._put_grec(r)
        return n

    def consumer_set_times(self, name: bytes, seen=None, active=None) -> None:
        c = self._cons(name)
        if c is None:
            raise KeyError(name)
        if seen is not None:
            c[1] = seen
        if active is not None:
            c[2] = active
        self._put_cons(name, c)
        self.sv.e.dirty = True
