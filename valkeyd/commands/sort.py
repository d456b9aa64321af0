"""SORT and SORT_RO (Redis 7.2.4 ``sort.c``).

Sorts a list, a set or a sorted set, numerically (each element, or the value its ``BY``
pattern names, read as a C double) or with ``ALPHA``; ``BY`` a pattern without ``*`` means
"don't sort" (the native order of a list or sorted set, ``DESC`` reversing it and ``LIMIT``
applied directly). ``GET`` patterns (several, ``#`` = the element) replace each element in
the output; ``STORE`` writes the result as a list (an empty result deletes the destination).

Exactness notes (all from sort.c / the C library Redis uses):

* numbers are read with the C library's ``strtod`` (leading spaces, hex floats, ``inf``;
  an error on trailing bytes, NaN or ERANGE, which glibc also sets for subnormal results);
  a missing BY key counts as 0; equal scores are ordered by the elements' bytes;
* ``ALPHA`` compares with ``strcoll`` in the server's LC_COLLATE locale (so up to the first
  NUL byte) unless ``STORE`` is given, in which case it compares binary strings; a missing
  BY value sorts first;
* the full sort is glibc's ``qsort`` (a stable merge sort); ``BY`` with a ``LIMIT`` that
  does not cover everything uses Redis's partial quicksort (``pqsort``), whose order of
  equal elements we reproduce;
* a set that is not sorted (``BY`` constant) is still sorted ``ALPHA`` when the result is
  stored (or inside a script), so that replicas see the same result;
* SORT converts a listpack sorted set to a skiplist for good (zsetConvert), SORT_RO too.
"""
from __future__ import annotations

import ctypes
import locale
import re

from engines.limits import limits

from .. import errors
from ..errors import ErrorReply
from ..pqsort import pqsort
from ..protocol import string2ll
from .registry import command
from .util import keymiss

_SYNTAX = ErrorReply(errors.SYNTAX)
_NOT_INTEGER = ErrorReply(errors.NOT_INTEGER)
_WRONGTYPE = ErrorReply(errors.WRONGTYPE)
SCORE_CONVERSION = "ERR One or more scores can't be converted into double"
BY_CLUSTER = "ERR BY option of SORT denied in Cluster mode."
GET_CLUSTER = "ERR GET option of SORT denied in Cluster mode."
BY_ACL = "ERR BY option of SORT denied due to insufficient ACL permissions."
GET_ACL = "ERR GET option of SORT denied due to insufficient ACL permissions."

_SORTABLE = ("list", "set", "zset")

# -- the C library: strtod and strcoll, as Redis uses them ----------------------------------------
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _strtod = _libc.strtod
    _strtod.restype = ctypes.c_double
    _strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    _strcoll = _libc.strcoll
    _strcoll.restype = ctypes.c_int
    _strcoll.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
except (OSError, AttributeError):   # pragma: no cover (not glibc)
    _libc = _strtod = _strcoll = None

# Redis calls setlocale(LC_COLLATE, "") at startup.
try:
    _COLLATE = locale.setlocale(locale.LC_COLLATE, "")
except locale.Error:   # pragma: no cover
    _COLLATE = "C"
_BYTE_COLLATE = (_COLLATE in ("C", "POSIX") or _COLLATE.upper().startswith(("C.", "POSIX."))
                 or _strcoll is None)

_SIMPLE_NUM = re.compile(rb"-?[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")
_ERANGE = 34


def _to_double(b):
    """``strtod`` as sortCommandGeneric uses it: the double, or None on a conversion error
    (bytes left before the first NUL, ERANGE, NaN)."""
    if _SIMPLE_NUM.match(b):
        return float(b)
    if _strtod is None:   # pragma: no cover
        try:
            v = float(b.split(b"\0", 1)[0] or b"0")
        except ValueError:
            return None
        return None if v != v else v
    end = ctypes.c_char_p()
    ctypes.set_errno(0)
    v = _strtod(b, ctypes.byref(end))
    if end.value or ctypes.get_errno() == _ERANGE or v != v:
        return None
    return v


if _BYTE_COLLATE:
    def _coll(b):
        """strcoll in the C locale: strcmp up to the first NUL byte."""
        i = b.find(b"\0")
        return b if i < 0 else b[:i]
else:   # pragma: no cover (depends on the environment's locale)
    import functools

    def _coll_cmp(a, b):
        return _strcoll(a, b)

    _CollKey = functools.cmp_to_key(_coll_cmp)

    def _coll(b):
        i = b.find(b"\0")
        return _CollKey(b if i < 0 else b[:i])


# -- pattern lookups ----------------------------------------------------------------------------
def _is_value_type(v, tname):
    return getattr(v, "TYPE_NAME", None) == tname


def _lookup(c, pattern, subst):
    """lookupKeyByPattern: ``#`` gives the element itself; otherwise the first ``*`` is
    replaced by the element and the key read (a string, or with ``->field`` after the ``*``
    the field of a hash); None when missing, of another type, or when there is no ``*``.
    C string functions see the pattern up to its first NUL byte."""
    if pattern[:1] == b"#" and (len(pattern) == 1 or pattern[1] == 0):
        return subst
    nul = pattern.find(b"\0")
    head = pattern if nul < 0 else pattern[:nul]
    p = head.find(b"*")
    if p < 0:
        return None
    f = head.find(b"->", p + 1)
    field = None
    if f >= 0 and f + 2 < len(pattern) and pattern[f + 2] != 0:
        field = pattern[f + 2:]
        key = pattern[:p] + subst + pattern[p + 1:f]
    else:
        key = pattern[:p] + subst + pattern[p + 1:]
    v = c.db.get(key)
    st = c.server.stats
    if v is None:
        st.keyspace_misses += 1
        keymiss(c, key)
        return None
    st.keyspace_hits += 1
    if field is None:
        if type(v) is bytes:
            return v
        if type(v) is bytearray:
            return bytes(v)
        return None
    if not _is_value_type(v, "hash"):
        return None
    val = v.get(field)
    if val is not None and v.volatile_count():
        # A field past its expiry time (Valkey's per-field TTL; Redis 7.2.4 has none) reads
        # as missing.
        when = v.get_expire(field)
        if when is not None:
            from engines.base import clock
            if when < clock.ms():
                return None
    return val


# -- key positions -------------------------------------------------------------------------------
def sort_getkeys(argv):
    """sortGetKeys: the sorted key, and the key of the last STORE (options with arguments
    are skipped, everything else is taken as a one-word option)."""
    keys = [1]
    store = None
    i = 2
    n = len(argv)
    while i < n:
        a = argv[i].lower()
        if a == b"limit":
            i += 2
        elif a == b"get" or a == b"by":
            i += 1
        elif a == b"store" and i + 1 < n:
            store = i + 1
        i += 1
    if store is not None:
        keys.append(store)
    return keys


def sort_ro_getkeys(argv):
    return [1]


def _in_script(c) -> bool:
    """CLIENT_SCRIPT (the scripting issue sets ``client.in_script`` on its fake client)."""
    return bool(getattr(c, "in_script", False))


def _cluster(c) -> bool:
    return c.server.config.get("cluster-enabled") == "yes"


def _full_key_access(c, argv) -> bool:
    """ACLUserCheckCmdWithUnrestrictedKeyAccess: may the user read every key? (The ACL issue
    provides ``server.acl_unrestricted_keys(client, argv)``; until then every user may.)"""
    fn = getattr(c.server, "acl_unrestricted_keys", None)
    return True if fn is None else bool(fn(c, argv))


def _read_sortable(c, key):
    """lookupKeyRead of the key to sort: a list, a set or a sorted set (or None)."""
    v = c.db.get(key)
    st = c.server.stats
    if v is None:
        st.keyspace_misses += 1
        keymiss(c, key)
        return None, None
    st.keyspace_hits += 1
    t = getattr(v, "TYPE_NAME", None)
    if t not in _SORTABLE:
        raise _WRONGTYPE
    return v, t


def _sort(c, argv, readonly: bool):
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    sortby = storekey = None
    gets = []
    argc = len(argv)
    j = 2
    while j < argc:
        a = argv[j].lower()
        left = argc - j - 1
        if a == b"asc":
            desc = False
        elif a == b"desc":
            desc = True
        elif a == b"alpha":
            alpha = True
        elif a == b"limit" and left >= 2:
            limit_start = string2ll(argv[j + 1])
            if limit_start is None:
                raise _NOT_INTEGER
            limit_count = string2ll(argv[j + 2])
            if limit_count is None:
                raise _NOT_INTEGER
            j += 2
        elif not readonly and a == b"store" and left >= 1:
            storekey = argv[j + 1]
            j += 1
        elif a == b"by" and left >= 1:
            sortby = argv[j + 1]
            nul = sortby.find(b"\0")
            if (sortby if nul < 0 else sortby[:nul]).find(b"*") < 0:
                dontsort = True
            else:
                # A real pattern may name keys anywhere: not in cluster mode, nor for a user
                # whose key access is restricted.
                if _cluster(c):
                    raise ErrorReply(BY_CLUSTER)
                if not _full_key_access(c, argv):
                    raise ErrorReply(BY_ACL)
            j += 1
        elif a == b"get" and left >= 1:
            if _cluster(c):
                raise ErrorReply(GET_CLUSTER)
            if not _full_key_access(c, argv):
                raise ErrorReply(GET_ACL)
            gets.append(argv[j + 1])
            j += 1
        else:
            raise _SYNTAX
        j += 1

    val, t = _read_sortable(c, argv[1])
    if val is None:
        t = "list"
        n = 0
    else:
        n = len(val)

    if dontsort and t == "set" and (storekey is not None or _in_script(c)):
        dontsort = False
        alpha = True
        sortby = None

    if t == "zset":
        # zsetConvert(sortval, OBJ_ENCODING_SKIPLIST): for good, even for SORT_RO.
        val.maybe_convert(limits.zset_max_listpack_entries + 1)

    # LIMIT sanity checks (sortCommandGeneric's arithmetic, on C longs).
    start = min(max(limit_start, 0), n)
    limit_count = min(max(limit_count, -1), n)
    end = n - 1 if limit_count < 0 else start + limit_count - 1
    if start >= n:
        start = n - 1
        end = n - 2
    if end >= n:
        end = n - 1

    # The elements (the vector).
    if dontsort and t != "set":
        # Native order, DESC reversing it, the LIMIT range fetched directly.
        if start != 0 or end != n - 1:
            cnt = end - start + 1
        else:
            cnt = n
        elems = []
        if t == "list":
            if end >= start and cnt > 0:
                if desc:
                    hi = n - start - 1
                    elems = val.range_reversed(hi - cnt + 1, hi)
                else:
                    elems = val.range(start, start + cnt - 1)
                end -= start
                start = 0
        else:
            if cnt > 0:
                elems = [m for m, _ in val.by_rank(start, start + cnt - 1, desc)]
            end -= start
            start = 0
        vec = elems
    else:
        if val is None:
            vec = []
        elif t == "zset":
            vec = [m for m, _ in val.items()]
        else:
            vec = list(val)
        if not dontsort:
            vec = _sorted(c, vec, sortby, alpha, desc, storekey is not None, start, end)

    ngets = len(gets)
    outputlen = (ngets or 1) * (end - start + 1) if end >= start else 0
    out = vec[start:end + 1] if end >= start else []

    if storekey is None:
        if not gets:
            return out
        reply = []
        for e in out:
            for g in gets:
                reply.append(_lookup(c, g, e))
        return reply

    items = []
    if not gets:
        items = out
    else:
        for e in out:
            for g in gets:
                v = _lookup(c, g, e)
                items.append(b"" if v is None else v)
    db = c.db
    srv = c.server
    if outputlen:
        db.delete(storekey)
        lst = db.get_collection(storekey, "list", True)
        lst.push_right(items)
        lst.try_convert(None)
        srv.changed(c, storekey, "l", "sortstore", outputlen)
    elif db.delete(storekey):
        srv.changed(c, storekey, "g", "del", 1)
    return outputlen


def _sorted(c, vec, sortby, alpha, desc, store, start, end):
    """Load the weights and sort (sortCompare semantics); raises the conversion error."""
    keyed = []
    error = False
    if alpha:
        if sortby is not None:
            for e in vec:
                w = _lookup(c, sortby, e)
                if w is None:
                    keyed.append(((False, b""), e))
                else:
                    keyed.append(((True, w if store else _coll(w)), e))
        else:
            if store:
                keyed = [(e, e) for e in vec]
            else:
                keyed = [(_coll(e), e) for e in vec]
    else:
        for e in vec:
            if sortby is not None:
                w = _lookup(c, sortby, e)
                if w is None:
                    keyed.append(((0.0, e), e))
                    continue
            else:
                w = e
            s = _to_double(w)
            if s is None:
                error = True
                s = 0.0
            keyed.append(((s, e), e))
    n = len(keyed)
    # Redis sorts partially (pqsort) when BY and a LIMIT not covering everything are given.
    # Only ALPHA can have ties (numeric keys include the element itself, so equal keys are
    # equal elements), and only ties make the algorithm visible.
    if alpha and sortby is not None and (start != 0 or end != n - 1):
        if desc:
            def cmp(x, y):
                x = x[0]
                y = y[0]
                return (x < y) - (x > y)
        else:
            def cmp(x, y):
                x = x[0]
                y = y[0]
                return (x > y) - (x < y)
        pqsort(keyed, cmp, start, end)
    else:
        keyed.sort(key=_first, reverse=desc)
    if error:
        raise ErrorReply(SCORE_CONVERSION)
    return [e for _, e in keyed]


def _first(t):
    return t[0]


@command("sort", -2, "write denyoom", "set sortedset list dangerous", keys=(1, 1, 1),
         getkeys=sort_getkeys)
def sort(c, argv):
    return _sort(c, argv, False)


@command("sort_ro", -2, "readonly", "set sortedset list dangerous", keys=(1, 1, 1),
         getkeys=sort_ro_getkeys)
def sort_ro(c, argv):
    return _sort(c, argv, True)
