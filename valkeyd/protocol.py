"""Request parsing with Redis's exact rules.

Two parsers cooperate in :mod:`valkeyd.client`:

* ``hiredis.Reader`` is the fast path for reads that hold only complete, well-formed multibulk
  requests (the rules that make this exact are at the end of this module);
* :class:`RequestParser` is the reference parser, a resumable port of the rules of Redis's
  ``processInlineBuffer`` / ``processMultibulkBuffer``: inline commands, requests split across
  reads (limits are enforced as soon as a header arrives, parsed arguments are not parsed
  again), and every malformed input with Redis's exact protocol-error text.
"""
from __future__ import annotations



from . import errors

PROTO_INLINE_MAX_SIZE = 64 * 1024
INT_MAX = 2**31 - 1
LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1
# Unauthenticated clients (requirepass set, no AUTH yet) are limited to this.
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK = 16384


def string2ll(b) -> int | None:
    """Strict integer parsing as Redis's ``string2ll``: no sign '+', no spaces, no leading
    zeros, within a signed 64-bit range. Returns None when the bytes are not such an integer."""
    n = len(b)
    if n == 0 or n > 20:
        return None
    if b.isdigit():   # ASCII digits only (bytes.isdigit)
        if n > 1 and b[0] == 48:
            return None
        v = int(b)
        return v if v <= LLONG_MAX else None
    if n > 1 and b[0] == 45 and b[1] != 48 and b[1:].isdigit():
        v = int(b)
        return v if v >= LLONG_MIN else None
    return None


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
# C isspace(): what separates arguments and what may follow a closing quote.
_SPACE = b" \t\n\x0b\x0c\r"
# What ends an unquoted argument in sdssplitargs (not \v nor \f: "a\vb" is one argument).
_END = b" \n\r\t"


def split_args(line) -> list[bytes] | None:
    """Split a line like ``sdssplitargs``: blanks separate, double quotes allow escapes
    (``\\xHH``, ``\\n`` ...), single quotes allow ``\\'``; a closing quote must be followed by a
    blank. Returns None on unbalanced quotes. The line ends at a NUL byte, as a C string."""
    z = line.find(b"\0")
    if z >= 0:
        line = line[:z]
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
                if c in _END:
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))


# How Redis names each protocol error in its log ("Protocol error (...) from client: ...").
PROTO_LOG_REASON = {
    errors.PROTO_BIG_INLINE: "too big inline request",
    errors.PROTO_UNBALANCED: "unbalanced quotes in inline request",
    errors.PROTO_BIG_MBULK: "too big mbulk count string",
    errors.PROTO_INVALID_MULTIBULK: "invalid mbulk count",
    errors.PROTO_UNAUTH_MULTIBULK: "unauth mbulk count",
    errors.PROTO_BIG_BULK: "too big bulk count string",
    errors.PROTO_INVALID_BULK: "invalid bulk length",
    errors.PROTO_UNAUTH_BULK: "unauth bulk length",
}

class RequestParser:
    """The reference parser: owns a client's query buffer while the fast path cannot.

    ``feed(data)`` returns ``(requests, error)``: every request completed by the data (empty
    ones such as ``*0`` or blank inline lines are dropped, as Redis drops them), and None or the
    protocol-error text to reply before closing the connection; requests before the error are
    still valid and run first. State survives between reads exactly as Redis keeps
    ``multibulklen``/``bulklen``: an argument is parsed once, and ``len(parser)`` is what
    Redis's ``querybuf`` would hold (the unparsed bytes), which is what
    ``client-query-buffer-limit`` and CLIENT LIST's ``qbuf`` measure.

    Lines are searched as Redis searches them with ``strchr``: a NUL byte before the line end
    hides the line end (Redis then waits for more data, or reports a too big request).
    """

    __slots__ = ("buf", "args", "left", "bulklen")

    def __init__(self):
        self.buf = bytearray()
        self.args: list | None = None  # arguments of the multibulk request being read
        self.left = 0                  # arguments still to read
        self.bulklen = -1              # length of the argument being read, -1: header first

    def __len__(self):
        return len(self.buf)

    def at_boundary(self) -> bool:
        """True when no partial request is pending (the fast path may take over again)."""
        return not self.buf and self.args is None

    def feed(self, data, max_bulk: int, unauth: bool = False, one: bool = False):
        """Parse what ``data`` completes; with ``one``, stop after the first request (an
        unauthenticated client's limits change as soon as its AUTH has run)."""
        buf = self.buf
        buf += data
        reqs: list = []
        err = None
        pos = 0
        n = len(buf)
        find = buf.find
        while pos < n:
            args = self.args
            if args is None:
                if buf[pos] == 42:  # '*' multibulk
                    nl = find(b"\r", pos)
                    if nl >= 0 and find(b"\0", pos, nl) >= 0:
                        nl = -1
                    if nl < 0:
                        if n - pos > PROTO_INLINE_MAX_SIZE:
                            err = errors.PROTO_BIG_MBULK
                        break
                    if nl > n - 2:
                        break
                    count = string2ll(bytes(buf[pos + 1:nl]))
                    if count is None or count > INT_MAX:
                        err = errors.PROTO_INVALID_MULTIBULK
                        break
                    if count > UNAUTH_MAX_MULTIBULK and unauth:
                        err = errors.PROTO_UNAUTH_MULTIBULK
                        break
                    pos = nl + 2
                    if count <= 0:
                        continue
                    args = self.args = []
                    self.left = count
                    self.bulklen = -1
                else:  # inline
                    nl = find(b"\n", pos)
                    if nl >= 0 and find(b"\0", pos, nl) >= 0:
                        nl = -1
                    if nl < 0:
                        if n - pos > PROTO_INLINE_MAX_SIZE:
                            err = errors.PROTO_BIG_INLINE
                        break
                    end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
                    line = split_args(bytes(buf[pos:end]))
                    if line is None:
                        err = errors.PROTO_UNBALANCED
                        break
                    pos = nl + 1
                    if line:
                        reqs.append(line)
                        if one:
                            break
                    continue
            # the arguments of a multibulk request
            left = self.left
            blen = self.bulklen
            while left:
                if blen < 0:
                    nl = find(b"\r", pos)
                    if nl >= 0 and find(b"\0", pos, nl) >= 0:
                        nl = -1
                    if nl < 0:
                        if n - pos > PROTO_INLINE_MAX_SIZE:
                            err = errors.PROTO_BIG_BULK
                        break
                    if nl > n - 2:
                        break
                    if buf[pos] != 36:  # '$'
                        err = errors.PROTO_EXPECTED_DOLLAR % bytes(buf[pos:pos + 1]).decode(
                            "utf-8", "surrogateescape")
                        break
                    blen = string2ll(bytes(buf[pos + 1:nl]))
                    if blen is None or blen < 0 or blen > max_bulk:
                        err = errors.PROTO_INVALID_BULK
                        break
                    if blen > UNAUTH_MAX_BULK and unauth:
                        err = errors.PROTO_UNAUTH_BULK
                        break
                    pos = nl + 2
                if n - pos < blen + 2:
                    break
                if blen < 65536:
                    args.append(bytes(buf[pos:pos + blen]))
                else:   # one copy of a big argument, not two
                    with memoryview(buf) as m:
                        args.append(bytes(m[pos:pos + blen]))
                pos += blen + 2
                blen = -1
                left -= 1
            self.left = left
            self.bulklen = blen
            if err is not None or left:
                break
            self.args = None
            reqs.append(args)
            if one:
                break
        if pos:
            del buf[:pos]
        return reqs, err


# -- the fast path ---------------------------------------------------------------------------
#
# hiredis parses requests far faster than Python can, but it is a *reply* parser: it accepts
# RESP3 types and nested aggregates, and it allocates an aggregate's list as soon as it reads
# the header (``*2147483647\r\n`` would make a 16 GB list). So a read takes the fast path
# only when
#
# 1. a pre-scan finds no aggregate header with a count of five digits or more, and no line
#    starting with a RESP3-only aggregate or verbatim type byte (``~ % > | =``): either the
#    read's only such byte is its leading ``*`` with a short count (one request, the common
#    case, two C calls), or ``data.translate(SCAN_TABLE)`` and two searches say so; and
# 2. after hiredis parsed it, the read ends with CRLF (hiredis cannot have consumed a partial
#    line), holds no unparsed bytes, and has exactly the CRLFs of the requests hiredis
#    returned: a canonical request of n bulk arguments has 1 + 2n of them.
#    Any other count means a request continues in the next read (even one that ended right
#    after a complete argument, which ``has_data()`` cannot see), an element that was not a
#    bulk string (``+``, ``(`` ...), or a CRLF inside an argument.
#
# Everything else, including false alarms (an argument that starts with ``%``, or contains a
# CRLF), is parsed from the start of the read by RequestParser, which is exact.

SCAN_TABLE = bytes(
    110 if i == 10 else          # '\n' -> 'n'
    65 if i == 42 else           # '*'  -> 'A'
    88 if i in b"~%>|=" else     # RESP3-only aggregate/verbatim types -> 'X'
    48 if 48 <= i <= 57 else     # digits -> '0'
    46                           # everything else -> '.'
    for i in range(256))

