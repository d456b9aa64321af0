"""Request parsing with Redis's exact rules.

Two parsers cooperate in :mod:`valkeyd.client`:

* ``hiredis.Reader`` is the fast path for chunks that hold only complete multibulk requests;
* :func:`parse_requests` below is the reference parser. It handles inline commands, requests
  split across reads (so limits are enforced as soon as a header arrives, as Redis does), and
  every malformed input, producing Redis's exact protocol-error text.
"""
from __future__ import annotations

from . import errors

PROTO_INLINE_MAX_SIZE = 64 * 1024
INT_MAX = 2**31 - 1
LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1


def string2ll(b) -> int | None:
    """Strict integer parsing as Redis's ``string2ll``: no sign '+', no spaces, no leading
    zeros, within a signed 64-bit range. Returns None when the bytes are not such an integer."""
    if not b or len(b) > 20:
        return None
    try:
        v = int(b)
    except (ValueError, TypeError):
        return None
    if b"%d" % v != b or v < LLONG_MIN or v > LLONG_MAX:
        return None
    return v


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \n\r\t\x0b\x0c\x00"


def split_args(line) -> list[bytes] | None:
    """Split a line like ``sdssplitargs``: spaces separate, double quotes allow escapes
    (``\\xHH``, ``\\n`` ...), single quotes allow ``\\'``. Returns None on unbalanced quotes."""
    args: list[bytes] = []
    n = len(line)
    i = 0
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if (c == 92 and i + 3 < n and line[i + 1] == 120
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    # closing quote must be followed by a space or nothing
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _SPACE:
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))


def parse_requests(buf, pos: int, max_bulk: int, auth_required: bool = False):
    """Parse as many complete requests as ``buf[pos:]`` holds.

    Returns ``(requests, new_pos, error)``. ``error`` is None or the protocol-error text to
    send before closing the connection; requests before the error are still valid.
    Empty requests (``*0``, ``*-1``, blank inline lines) are dropped as Redis drops them.
    """
    reqs: list[list[bytes]] = []
    n = len(buf)
    find = buf.find
    while pos < n:
        if buf[pos] == 42:  # '*' multibulk
            nl = find(b"\r", pos)
            if nl < 0:
                if n - pos > PROTO_INLINE_MAX_SIZE:
                    return reqs, pos, errors.PROTO_BIG_MBULK
                break
            if nl > n - 2:
                break
            count = string2ll(bytes(buf[pos + 1:nl]))
            if count is None or count > INT_MAX or (count > 10 and auth_required):
                return reqs, pos, errors.PROTO_INVALID_MULTIBULK
            p = nl + 2
            if count <= 0:
                pos = p
                continue
            args = []
            complete = True
            for _ in range(count):
                nl = find(b"\r", p)
                if nl < 0:
                    if n - p > PROTO_INLINE_MAX_SIZE:
                        return reqs, pos, errors.PROTO_BIG_BULK
                    complete = False
                    break
                if nl > n - 2:
                    complete = False
                    break
                if buf[p] != 36:  # '$'
                    return reqs, pos, errors.PROTO_EXPECTED_DOLLAR % chr(buf[p])
                blen = string2ll(bytes(buf[p + 1:nl]))
                if blen is None or blen < 0 or blen > max_bulk or (blen > 16384 and auth_required):
                    return reqs, pos, errors.PROTO_INVALID_BULK
                s = nl + 2
                if n - s < blen + 2:
                    complete = False
                    break
                args.append(bytes(buf[s:s + blen]))
                p = s + blen + 2
            if not complete:
                break
            reqs.append(args)
            pos = p
        else:  # inline
            nl = find(b"\n", pos)
            if nl < 0:
                if n - pos > PROTO_INLINE_MAX_SIZE:
                    return reqs, pos, errors.PROTO_BIG_INLINE
                break
            end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
            args = split_args(bytes(buf[pos:end]))
            if args is None:
                return reqs, pos, errors.PROTO_UNBALANCED
            pos = nl + 1
            if args:
                reqs.append(args)
    return reqs, pos, None
