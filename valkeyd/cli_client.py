"""``valkeyd cli``: a small redis-cli for machines without valkey-cli.

It behaves like redis-cli 7.2.4 for the everyday subset: one-shot commands (also as a
healthcheck: exit status 0 when the command ran, 1 when the server cannot be reached), the
interactive prompt, and piped commands read line by line.

Design
------
* The connection is a plain socket with our own RESP2/RESP3 reader (:class:`Conn`). A reply is
  a ``(type, value)`` tuple using hiredis's type numbers, so every RESP3 type keeps its identity
  (a double keeps the text the server sent, a verbatim string drops its ``txt:`` prefix, a
  status differs from a bulk string) and the formatting can be byte-exact. Like the hiredis
  bundled with redis-cli 7.2.4, a big number cannot be shown ("Unknown reply type: 13", exit
  status 1) and an attribute is a protocol error.
* :func:`format_tty` and :func:`format_raw` are redis-cli's two formats: the human one
  (``(integer) 1``, quoted strings, numbered and indented aggregates, ``1#`` map and ``1~`` set
  indexes) and the raw one (``--raw``). The raw one is the default when standard output is not
  a terminal (unless ``--no-raw`` or the FAKETTY environment variable); INFO, CLIENT LIST and
  the other text reports are always printed raw.
* Exit status follows redis-cli: an error reply is still a success (status 0) unless ``-e``;
  a refused connection prints "Could not connect to Redis at HOST:PORT: Connection refused" on
  standard error and exits 1; a connection lost while reading a reply prints "Error: ..." and
  exits 1.
* Interactive mode (no command, standard input a terminal) uses the ``readline`` module, with
  the history in ``$REDISCLI_HISTFILE`` or ``~/.valkeydcli_history``. Lines are split like
  ``sdssplitargs`` (:func:`valkeyd.protocol.split_args`); a leading number repeats the command;
  the prompt shows ``[db]``, ``(TX)`` and ``(subscribed mode)`` as redis-cli's does; a lost
  connection is re-opened before the next command. When standard input is not a terminal the
  same loop reads one command per line, without prompt or history.

Not supported: cluster mode (-c), TLS, --pipe, --bigkeys/--scan/--stat and the
other special modes, --eval and the Lua debugger, replica mode (SYNC).
"""
from __future__ import annotations

import os
import re
import select
import socket
import sys
import time

from .protocol import split_args

# hiredis reply type numbers (redis-cli prints them in "Unknown reply type: N").
STRING, ARRAY, INTEGER, NIL, STATUS, ERROR, DOUBLE, BOOL, MAP, SET, ATTR, PUSH, BIGNUM, VERB = \
    range(1, 15)

OUTPUT_STANDARD, OUTPUT_RAW, OUTPUT_CSV, OUTPUT_JSON, OUTPUT_QUOTED_JSON = range(5)

HISTFILE_ENV = "REDISCLI_HISTFILE"
HISTFILE_DEFAULT = ".valkeydcli_history"
AUTH_ENV = "REDISCLI_AUTH"


class ConnError(Exception):
    """The connection failed; ``str()`` is hiredis's errstr. ``eof`` marks a closed link."""

    def __init__(self, msg: str, eof: bool = False, io: bool = False):
        super().__init__(msg)
        self.eof = eof
        self.io = io


class UnknownType(Exception):
    pass


def _chrtos(b: int) -> str:
    """hiredis's chrtos: how a bad type byte is quoted in a protocol error."""
    c = chr(b)
    if c == "\\" or c == '"':
        return '"\\%s"' % c
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b"}
    if c in named:
        return '"%s"' % named[c]
    if 32 <= b < 127:
        return '"%s"' % c
    return '"\\x%02x"' % b


class Conn:
    """A blocking RESP connection with its own buffered reply parser."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.err: ConnError | None = None

    @classmethod
    def open(cls, host: str, port: int, unix: str | None = None) -> "Conn":
        try:
            if unix:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(unix)
                except OSError:
                    s.close()
                    raise
            else:
                s = socket.create_connection((host, port))
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except socket.gaierror as e:
            raise ConnError(e.strerror or str(e))
        except OSError as e:
            raise ConnError(e.strerror or str(e))
        return cls(s)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def fileno(self):
        return self.sock.fileno()

    def send(self, argv: list[bytes]) -> None:
        out = [b"*%d\r\n" % len(argv)]
        for a in argv:
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        try:
            self.sock.sendall(b"".join(out))
        except OSError as e:
            self.err = ConnError(e.strerror or str(e), io=True)
            raise self.err

    def pending(self) -> bool:
        return self.pos < len(self.buf)

    def _fill(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except OSError as e:
            self.err = ConnError(e.strerror or str(e), io=True)
            raise self.err
        if not data:
            self.err = ConnError("Server closed the connection", eof=True)
            raise self.err
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _bulk(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return data

    def _proto(self, msg: str):
        self.err = ConnError("Protocol error, " + msg)
        raise self.err

    def _int(self, line: bytes, what: str = "Bad integer value") -> int:
        if not re.fullmatch(rb"-?\d+", line):
            self._proto(what)
        return int(line)

    def read(self):
        """One reply as ``(type, value)``."""
        line = self._line()
        if not line:
            self._proto('got "\\r" as reply type byte')
        t, rest = line[0], line[1:]
        if t == 43:    # +
            return (STATUS, rest)
        if t == 45:    # -
            return (ERROR, rest)
        if t == 58:    # :
            return (INTEGER, self._int(rest))
        if t == 36 or t == 61:    # $ =
            n = self._int(rest, "Bad bulk string length")
            if n < 0:
                return (NIL, None)
            data = self._bulk(n)
            if t == 61:
                if n < 4 or data[3:4] != b":":
                    self._proto("Verbatim string 4 bytes of content type are missing or "
                                "incorrectly encoded.")
                return (VERB, data[4:])
            return (STRING, data)
        if t in (42, 37, 126, 62):    # * % ~ >
            n = self._int(rest, "Multi-bulk length out of range")
            if n < 0:
                return (NIL, None)
            kind = {42: ARRAY, 37: MAP, 126: SET, 62: PUSH}[t]
            count = n * 2 if kind == MAP else n
            return (kind, [self.read() for _ in range(count)])
        if t == 95:    # _
            return (NIL, None)
        if t == 44:    # ,
            return (DOUBLE, rest)
        if t == 35:    # #
            if rest not in (b"t", b"f"):
                self._proto("Bad bool value")
            return (BOOL, rest == b"t")
        if t == 40:    # (
            return (BIGNUM, rest)
        self._proto("got %s as reply type byte" % _chrtos(t))


# ---------------------------------------------------------------------------------------------
# Formatting


_REPR = {92: b"\\\\", 34: b'\\"', 10: b"\\n", 13: b"\\r", 9: b"\\t", 7: b"\\a", 8: b"\\b"}
_REPR_TABLE = [_REPR.get(b, bytes((b,)) if 32 <= b <= 126 else b"\\x%02x" % b) for b in range(256)]
_NEEDS_ESCAPE = re.compile(rb'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def repr_bytes(s: bytes) -> bytes:
    """sdscatrepr: a double-quoted string with C escapes (isprint in the C locale)."""
    return b'"' + _NEEDS_ESCAPE.sub(lambda m: _REPR_TABLE[m.group()[0]], s) + b'"'


def _cstr(s: bytes) -> bytes:
    """What printf("%s") shows of a reply string: up to its first NUL byte."""
    z = s.find(b"\0")
    return s if z < 0 else s[:z]


def _multiline(r) -> bool:
    t, v = r
    if t in (ARRAY, SET, PUSH):
        if not v:
            return False
        return len(v) > 1 or _multiline(v[0])
    if t == MAP:
        if not v:
            return False
        return len(v) > 2 or _multiline(v[1])
    return False


_EMPTY = {ARRAY: b"(empty array)\n", MAP: b"(empty hash)\n", SET: b"(empty set)\n",
          PUSH: b"(empty push)\n"}


def format_tty(r, prefix: bytes = b"") -> bytes:
    """cliFormatReplyTTY."""
    t, v = r
    if t == ERROR:
        return b"(error) " + _cstr(v) + b"\n"
    if t == STATUS:
        return _cstr(v) + b"\n"
    if t == INTEGER:
        return b"(integer) %d\n" % v
    if t == DOUBLE:
        return b"(double) " + _cstr(v) + b"\n"
    if t == STRING:
        return repr_bytes(v) + b"\n"
    if t == VERB:
        return v + b"\n"
    if t == NIL:
        return b"(nil)\n"
    if t == BOOL:
        return b"(true)\n" if v else b"(false)\n"
    if t in (ARRAY, MAP, SET, PUSH):
        if not v:
            return _EMPTY[t]
        n = len(v) // 2 if t == MAP else len(v)
        idxlen = len(str(n))
        sub = prefix + b" " * (idxlen + 2)
        sep = b"~" if t == SET else b"#" if t == MAP else b")"
        out = bytearray()
        i = 0
        while i < len(v):
            human = (i // 2 if t == MAP else i) + 1
            out += (b"" if i == 0 else prefix) + str(human).rjust(idxlen).encode() + sep + b" "
            out += format_tty(v[i], sub)
            if t == MAP:
                i += 1
                del out[-1:]
                out += b" => "
                if _multiline(v[i]):
                    out += b"\n" + sub
                out += format_tty(v[i], sub)
            i += 1
        return bytes(out)
    raise UnknownType(t)


def format_raw(r, mb_delim: bytes = b"\n") -> bytes:
    """cliFormatReplyRaw."""
    t, v = r
    if t == NIL:
        return b""
    if t == ERROR:
        return v + b"\n"
    if t in (STATUS, STRING, VERB):
        return v
    if t == BOOL:
        return b"(true)" if v else b"(false)"
    if t == INTEGER:
        return b"%d" % v
    if t == DOUBLE:
        return _cstr(v)
    if t in (SET, ARRAY, PUSH):
        return mb_delim.join(format_raw(e, mb_delim) for e in v)
    if t == MAP:
        return mb_delim.join(format_raw(v[i], mb_delim) + b" " + format_raw(v[i + 1], mb_delim)
                             for i in range(0, len(v), 2))
    raise UnknownType(t)


def format_csv(r) -> bytes:
    """cliFormatReplyCSV (a map is a flat list)."""
    t, v = r
    if t == ERROR:
        return b"ERROR," + repr_bytes(_cstr(v))
    if t in (STATUS, STRING, VERB):
        return repr_bytes(v)
    if t == INTEGER:
        return b"%d" % v
    if t == DOUBLE:
        return _cstr(v)
    if t == NIL:
        return b"NULL"
    if t == BOOL:
        return b"true" if v else b"false"
    if t in (ARRAY, SET, PUSH, MAP):
        return b",".join(format_csv(e) for e in v)
    raise UnknownType(t)


_JSON_ESC = {92: b"\\\\", 34: b'\\"', 10: b"\\n", 12: b"\\f", 13: b"\\r", 9: b"\\t", 8: b"\\b"}
_JSON_TABLE = [_JSON_ESC.get(b, b"\\u%04x" % b if b <= 0x1f else bytes((b,))) for b in range(256)]
_JSON_NEEDS = re.compile(rb'[\x00-\x1f"\\]')


def _json_str(s: bytes, mode: int) -> bytes:
    if mode == OUTPUT_JSON:    # escapeJsonString
        return b'"' + _JSON_NEEDS.sub(lambda m: _JSON_TABLE[m.group()[0]], s) + b'"'
    return repr_bytes(s).replace(b"\\", b"\\\\")    # --quoted-json


def format_json(r, mode: int) -> bytes:
    """cliFormatReplyJson."""
    t, v = r
    if t == ERROR:
        return b"error:" + _json_str(_cstr(v), mode)
    if t in (STATUS, STRING, VERB):
        return _json_str(v, mode)
    if t == INTEGER:
        return b"%d" % v
    if t == DOUBLE:
        return _cstr(v)
    if t == NIL:
        return b"null"
    if t == BOOL:
        return b"true" if v else b"false"
    if t in (ARRAY, SET, PUSH):
        return b"[" + b",".join(format_json(e, mode) for e in v) + b"]"
    if t == MAP:
        parts = []
        for i in range(0, len(v), 2):
            key = v[i]
            if key[0] in (ERROR, STATUS, STRING, VERB):
                k = format_json(key, mode)
            else:
                k = format_json(key, mode)
                if not k.startswith(b'"'):
                    k = b'"' + k + b'"'
            parts.append(k + b":" + format_json(v[i + 1], mode))
        return b"{" + b",".join(parts) + b"}"
    raise UnknownType(t)


def format_invalidate_tty(r) -> bytes:
    keys = r[1][1][1]
    return b"-> invalidate: " + b", ".join(b"'" + _cstr(k[1]) + b"'" for k in keys) + b"\n"


def is_invalidate(r) -> bool:
    t, v = r
    return (t == PUSH and len(v) == 2 and v[0][0] == STRING
            and v[0][1].startswith(b"invalidate") and v[1][0] == ARRAY)


# Commands whose reply is a text report, printed as is (no quotes) even in tty mode.
def _output_raw(argv: list[bytes]) -> bool:
    a = [x.lower() for x in argv[:3]]
    n = len(argv)
    cmd = a[0]
    if cmd in (b"info", b"lolwut"):
        return True
    if n >= 2:
        sub = a[1]
        if cmd == b"debug" and sub in (b"htstats", b"htstats-key", b"client-eviction"):
            return True
        if cmd == b"memory" and sub in (b"malloc-stats", b"doctor"):
            return True
        if cmd == b"client" and sub in (b"list", b"info"):
            return True
        if cmd == b"proxy" and sub == b"info":
            return True
    if n == 2 and cmd == b"cluster" and a[1] in (b"nodes", b"info"):
        return True
    if n == 3 and cmd == b"latency" and a[1] == b"graph":
        return True
    if n == 2 and cmd == b"latency" and a[1] == b"doctor":
        return True
    return False


def is_sensitive(argv: list[bytes]) -> bool:
    """Commands that carry a password are kept out of the history."""
    a = [x.lower() for x in argv]
    n = len(a)
    if a[0] == b"auth":
        return True
    if n > 1 and a[0] == b"acl" and a[1] == b"setuser":
        return True
    if n > 2 and a[0] == b"config" and a[1] == b"set":
        return any(a[j] in (b"masterauth", b"masteruser", b"requirepass") for j in range(2, n, 2))
    if n > 4 and a[0] == b"hello":
        j = 2
        while j < n:
            more = n - 1 - j
            if a[j] == b"auth" and more >= 2:
                return True
            if a[j] == b"setname" and more:
                j += 2
                continue
            return False
    if n > 7 and a[0] == b"migrate":
        for j in range(6, n):
            more = n - 1 - j
            if a[j] == b"auth" and more:
                return True
            if a[j] == b"auth2" and more >= 2:
                return True
            if a[j] == b"keys" and more:
                return False
    return False


# ---------------------------------------------------------------------------------------------
# Options


def c_atoi(s: str) -> int:
    m = re.match(r"\s*([+-]?\d+)", s)
    if not m:
        return 0
    v = int(m.group(1))
    return ((v + 2**31) % 2**32) - 2**31    # an int, as C's atoi wraps


def c_strtoll(s: str) -> int:
    m = re.match(r"\s*([+-]?\d+)", s)
    return max(-2**63, min(2**63 - 1, int(m.group(1)))) if m else 0


def c_atof(s: str) -> float:
    m = re.match(r"\s*([+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan))", s, re.I)
    try:
        return float(m.group(1)) if m else 0.0
    except ValueError:
        return 0.0


class Usage(Exception):
    def __init__(self, err: int):
        self.err = err


class Config:
    def __init__(self):
        self.host = "127.0.0.1"
        self.port = 6379
        self.unix: str | None = None
        self.input_dbnum = 0
        self.dbnum = 0
        self.auth: bytes | None = None
        self.user: bytes | None = None
        self.repeat = 1
        self.interval = 0.0
        self.resp2 = False
        self.resp3 = 0     # 1: -3 (HELLO 3 must work); 2: --json (HELLO 3 if possible)
        self.stdin_lastarg = False
        self.stdin_tag: bytes | None = None
        self.set_errcode = False
        self.askpass = False
        self.quoted_input = False
        self.no_auth_warning = False
        tty = sys.stdout.isatty() or os.environ.get("FAKETTY") is not None
        self.output = OUTPUT_STANDARD if tty else OUTPUT_RAW
        self.push_output = tty
        self.mb_delim = b"\n"
        self.cmd_delim = b"\n"
        self.interactive = False
        self.in_multi = False
        self.pre_multi_dbnum = 0
        self.pubsub_mode = False
        self.monitor_mode = False
        self.shutdown = False
        self.current_resp3 = False


def _percent_decode(s: str) -> bytes:
    out = bytearray()
    b = s.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(b):
        if b[i] == 37:
            if len(b) - i < 2:
                fatal("Incomplete URI encoding")
            h, lo = b[i + 1:i + 2].lower(), b[i + 2:i + 3].lower()
            if not h or not lo or h not in b"0123456789abcdef" or lo not in b"0123456789abcdef":
                fatal("Illegal character in URI encoding")
            out.append(int(h + lo, 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def parse_uri(uri: str, cfg: Config) -> None:
    """parseRedisUri: redis://[[user:]password@][host[:port]][/db]."""
    low = uri.lower()
    if low.startswith("rediss://"):
        fatal("rediss:// is only supported when valkeyd cli is compiled with OpenSSL")
    if not low.startswith("redis://"):
        fatal("Invalid URI scheme")
    cur = uri[len("redis://"):]
    if not cur:
        return
    at = cur.find("@")
    if at >= 0:
        colon = cur.find(":")
        if 0 <= colon < at:
            cfg.user = _percent_decode(cur[:colon])
            cur = cur[colon + 1:]
            at = cur.find("@")
        cfg.auth = _percent_decode(cur[:at])
        cur = cur[at + 1:]
    if not cur:
        return
    slash = cur.find("/")
    if not cur.startswith("/"):
        hostpart = cur[:slash] if slash >= 0 else cur
        if hostpart.startswith("["):
            close = hostpart.find("]")
            if close >= 0:
                if hostpart[close + 1:close + 2] == ":":
                    cfg.port = c_atoi(hostpart[close + 2:])
                hostpart = hostpart[1:close]
            else:
                hostpart = hostpart[1:]
        else:
            colon = hostpart.find(":")
            if colon >= 0:
                cfg.port = c_atoi(hostpart[colon + 1:])
                hostpart = hostpart[:colon]
        cfg.host = hostpart
    rest = cur[slash + 1:] if slash >= 0 else ""
    if rest:
        cfg.input_dbnum = c_atoi(rest)


def fatal(msg: str, status: int = 1):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
    raise SystemExit(status)


USAGE = """\
valkeyd cli (a redis-cli 7.2 work-alike)

Usage: valkeyd cli [OPTIONS] [cmd [arg [arg ...]]]
  -h <hostname>      Server hostname (default: 127.0.0.1).
  -p <port>          Server port (default: 6379).
  -s <socket>        Server socket (overrides hostname and port).
  -a <password>      Password to use when connecting to the server.
                     You can also use the REDISCLI_AUTH environment
                     variable to pass this password more safely.
  --user <username>  Used to send ACL style 'AUTH username pass'. Needs -a.
  --pass <password>  Alias of -a for consistency with the new --user option.
  --askpass          Force user to input password with mask from STDIN.
                     If this argument is used, '-a' and REDISCLI_AUTH
                     environment variable will be ignored.
  --no-auth-warning  Don't show warning message when using password on command
                     line interface.
  -u <uri>           Server URI: redis://[[user:]password@][host[:port]][/db]
  -r <repeat>        Execute specified command N times (negative: forever).
  -i <interval>      When -r is used, waits <interval> seconds per command.
  -n <db>            Database number.
  -2                 Start session in RESP2 protocol mode.
  -3                 Start session in RESP3 protocol mode.
  -x                 Read last argument from STDIN.
  -X <tag>           Read <tag> argument from STDIN.
  -d <delimiter>     Delimiter between response bulks for raw formatting (default: \\n).
  -D <delimiter>     Delimiter between responses for raw formatting (default: \\n).
  -e                 Return exit error code when command execution fails.
  --raw              Use raw formatting for replies (default when STDOUT is
                     not a tty).
  --no-raw           Force formatted output even when STDOUT is not a tty.
  --quoted-input     Force input to be handled as quoted strings.
  --csv              Output in CSV format.
  --json             Output in JSON format (default RESP3, use -2 if you want to use with RESP2).
  --quoted-json      Same as --json, but produce ASCII-safe quoted strings, not Unicode.
  --show-pushes <yn> Whether to print RESP3 PUSH messages.  Enabled by default when
                     STDOUT is a tty but can be overridden with --show-pushes no.
  --help             Output this help and exit.
  -v, --version      Output version and exit.

Examples:
  valkeyd cli -p 6380 ping
  valkeyd cli -n 2 incr mycounter
  valkeyd cli -r 100 -i 1 info | grep used_memory_human:
  echo -n hello | valkeyd cli -x set greeting
  valkeyd cli -u redis://user:secret@127.0.0.1:6380/0 get key

When no command is given, valkeyd cli starts in interactive mode.
Type "help" in interactive mode for information on available commands.
"""


def parse_options(args: list[str], cfg: Config) -> int:
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        last = i == n - 1

        def nxt():
            nonlocal i
            i += 1
            return args[i]

        if a == "-h" and not last:
            cfg.host = nxt()
        elif a == "-h" or a == "--help":
            raise Usage(0)
        elif a == "-x":
            cfg.stdin_lastarg = True
        elif a == "-X" and not last:
            cfg.stdin_tag = os.fsencode(nxt())
        elif a == "-p" and not last:
            cfg.port = c_atoi(nxt())
            if cfg.port < 0 or cfg.port > 65535:
                fatal("Invalid server port.")
        elif a == "-s" and not last:
            cfg.unix = nxt()
        elif a == "-r" and not last:
            cfg.repeat = c_strtoll(nxt())
        elif a == "-i" and not last:
            cfg.interval = c_atof(nxt())
        elif a == "-n" and not last:
            cfg.input_dbnum = c_atoi(nxt())
        elif a == "--askpass":
            cfg.askpass = True
        elif a == "--no-auth-warning":
            cfg.no_auth_warning = True
        elif a in ("-a", "--pass") and not last:
            cfg.auth = os.fsencode(nxt())
        elif a == "--user" and not last:
            cfg.user = os.fsencode(nxt())
        elif a == "-u" and not last:
            parse_uri(nxt(), cfg)
            if cfg.port < 0 or cfg.port > 65535:
                fatal("Invalid server port.")
        elif a == "--raw":
            cfg.output = OUTPUT_RAW
        elif a == "--no-raw":
            cfg.output = OUTPUT_STANDARD
        elif a == "--quoted-input":
            cfg.quoted_input = True
        elif a == "--csv":
            cfg.output = OUTPUT_CSV
        elif a in ("--json", "--quoted-json"):
            if not cfg.resp3:
                cfg.resp3 = 2    # try HELLO 3, carry on in RESP2 if refused
            cfg.output = OUTPUT_JSON if a == "--json" else OUTPUT_QUOTED_JSON
        elif a == "-d" and not last:
            cfg.mb_delim = os.fsencode(nxt())
        elif a == "-D" and not last:
            cfg.cmd_delim = os.fsencode(nxt())
        elif a == "-e":
            cfg.set_errcode = True
        elif a in ("-v", "--version"):
            from . import __version__
            sys.stdout.write("valkeyd cli %s\n" % __version__)
            raise SystemExit(0)
        elif a == "-2":
            cfg.resp2 = True
        elif a == "-3":
            cfg.resp3 = 1
        elif a == "--show-pushes" and not last:
            v = nxt()
            if v[:1].lower() == "n":
                cfg.push_output = False
            elif v[:1].lower() == "y":
                cfg.push_output = True
            else:
                sys.stderr.write("Unknown --show-pushes value '%s' (valid: '[y]es', '[n]o')\n"
                                 % v)
        elif a.startswith("-"):
            fatal("Unrecognized option or bad number of args for: '%s'" % a)
        else:
            break
        i += 1
    if cfg.resp2 and cfg.resp3 == 1:
        fatal("Options -2 and -3 are mutually exclusive.")
    if not cfg.no_auth_warning and cfg.auth is not None:
        sys.stderr.write("Warning: Using a password with '-a' or '-u' option on the command"
                         " line interface may not be safe.\n")
    if cfg.stdin_lastarg and cfg.stdin_tag is not None:
        fatal("Options -x and -X are mutually exclusive.")
    return i


# ---------------------------------------------------------------------------------------------
# The client


class Cli:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.conn: Conn | None = None
        self.push_mode = "print" if cfg.push_output else "drop"
        self.last_type = -1
        self.last_reply = None
        self.prompt = ""
        self.refresh_prompt()

    # -- output --------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        out = sys.stdout.buffer
        out.write(data)
        out.flush()

    def format(self, r, raw_strings: bool = False) -> bytes:
        cfg = self.cfg
        try:
            if raw_strings:
                return format_raw(r, cfg.mb_delim)
            if cfg.output == OUTPUT_STANDARD:
                return format_tty(r)
            if cfg.output == OUTPUT_RAW:
                return format_raw(r, cfg.mb_delim) + cfg.cmd_delim
            if cfg.output == OUTPUT_CSV:
                return format_csv(r) + b"\n"
            return format_json(r, cfg.output) + b"\n"
        except UnknownType as e:
            sys.stdout.flush()
            fatal("Unknown reply type: %d" % e.args[0])

    def refresh_prompt(self) -> None:
        cfg = self.cfg
        if cfg.unix:
            p = "redis %s" % cfg.unix
        elif ":" in cfg.host:
            p = "[%s]:%d" % (cfg.host, cfg.port)
        else:
            p = "%s:%d" % (cfg.host, cfg.port)
        if cfg.dbnum != 0:
            p += "[%d]" % cfg.dbnum
        if cfg.in_multi:
            p += "(TX)"
        if cfg.pubsub_mode:
            p += "(subscribed mode)"
        self.prompt = p + "> "

    def print_context_error(self) -> None:
        if self.conn is not None and self.conn.err is not None:
            sys.stderr.write("Error: %s\n" % self.conn.err)
            sys.stderr.flush()

    # -- connection ----------------------------------------------------------------------

    def command(self, *argv: bytes):
        """A setup command on the current connection (redisCommand); None on I/O error."""
        try:
            self.conn.send(list(argv))
            return self.get_reply()
        except ConnError:
            return None

    def connect(self, force: bool = False, quiet: bool = False) -> bool:
        cfg = self.cfg
        if self.conn is not None and not force:
            return True
        if self.conn is not None:
            self.conn.close()
            self.conn = None
            cfg.dbnum = 0
            cfg.in_multi = False
            cfg.pubsub_mode = False
            self.refresh_prompt()
        try:
            self.conn = Conn.open(cfg.host, cfg.port, cfg.unix)
        except ConnError as e:
            if not quiet:
                if cfg.unix:
                    sys.stderr.write("Could not connect to Redis at %s: %s\n" % (cfg.unix, e))
                else:
                    sys.stderr.write("Could not connect to Redis at %s:%d: %s\n"
                                     % (cfg.host, cfg.port, e))
                sys.stderr.flush()
            return False
        self.push_mode = "print" if cfg.push_output else "drop"
        cfg.current_resp3 = False
        # AUTH, SELECT, HELLO 3, as cliConnect does.
        if cfg.auth is not None:
            r = (self.command(b"AUTH", cfg.auth) if cfg.user is None
                 else self.command(b"AUTH", cfg.user, cfg.auth))
            if r is None:
                sys.stderr.write("\nI/O error\n")
                return False
            if r[0] == ERROR:
                sys.stderr.write("AUTH failed: %s\n" % _cstr(r[1]).decode("utf-8", "replace"))
                return False
        if not self.select():
            return False
        if cfg.resp3 and not cfg.resp2:
            r = self.command(b"HELLO", b"3")
            if r is None:
                sys.stderr.write("\nI/O error\n")
                return False
            if r[0] == ERROR:
                sys.stderr.write("HELLO 3 failed: %s\n" % _cstr(r[1]).decode("utf-8", "replace"))
                if cfg.resp3 == 1:
                    return False
            cfg.current_resp3 = True
        return True

    def select(self) -> bool:
        cfg = self.cfg
        if cfg.input_dbnum == cfg.dbnum:
            return True
        r = self.command(b"SELECT", b"%d" % cfg.input_dbnum)
        if r is None:
            sys.stderr.write("\nI/O error\n")
            return False
        if r[0] == ERROR:
            sys.stderr.write("SELECT %d failed: %s\n"
                             % (cfg.input_dbnum, _cstr(r[1]).decode("utf-8", "replace")))
            return False
        cfg.dbnum = cfg.input_dbnum
        self.refresh_prompt()
        return True

    def get_reply(self):
        """redisGetReply: the next reply, handing RESP3 pushes to the push handler."""
        while True:
            r = self.conn.read()
            if r[0] == PUSH and self.push_mode != "return":
                if self.push_mode == "print":
                    if self.cfg.output == OUTPUT_STANDARD and is_invalidate(r):
                        self.write(format_invalidate_tty(r))
                    else:
                        self.write(self.format(r))
                continue
            return r

    def read_reply(self, raw_strings: bool) -> bool:
        """cliReadReply: read, check, print. False when the connection broke (interactive)."""
        cfg = self.cfg
        try:
            r = self.get_reply()
        except ConnError as e:
            if cfg.shutdown:
                self.conn.close()
                self.conn = None
                return True
            if cfg.interactive and (e.eof or e.io):
                return False
            self.print_context_error()
            raise SystemExit(1)
        self.last_reply = r
        self.last_type = r[0]
        if not cfg.interactive and cfg.set_errcode and r[0] == ERROR:
            sys.stdout.flush()
            sys.stderr.buffer.write(_cstr(r[1]) + b"\n")
            sys.stderr.flush()
            raise SystemExit(1)
        self.write(self.format(r, raw_strings))
        return True

    def is_pubsub_push(self, r) -> bool:
        t, v = r
        if t != (PUSH if self.cfg.current_resp3 else ARRAY) or len(v) < 3 or v[0][0] != STRING:
            return False
        name = _cstr(v[0][1])
        return name.endswith(b"message") or name.endswith(b"subscribe")

    def send_command(self, argv: list[bytes], repeat: int) -> bool:
        """cliSendCommand."""
        cfg = self.cfg
        if self.conn is None:
            return False
        cmd = argv[0].lower()
        argc = len(argv)
        raw_strings = _output_raw(argv)
        if cmd == b"shutdown":
            cfg.shutdown = True
        if cmd == b"monitor":
            cfg.monitor_mode = True
        is_sub = cmd in (b"subscribe", b"psubscribe", b"ssubscribe")
        is_unsub = cmd in (b"unsubscribe", b"punsubscribe", b"sunsubscribe")
        while repeat < 0 or repeat > 0:
            if repeat > 0:
                repeat -= 1
            try:
                self.conn.send(argv)
            except ConnError:
                if cfg.shutdown:
                    self.conn.close()
                    self.conn = None
                    return True
                if cfg.interactive:
                    return False
                self.print_context_error()
                raise SystemExit(1)
            if cfg.monitor_mode:
                try:
                    while cfg.monitor_mode:
                        if not self.read_reply(raw_strings):
                            self.print_context_error()
                            raise SystemExit(1)
                        if self.last_type == ERROR:
                            cfg.monitor_mode = False
                except KeyboardInterrupt:
                    cfg.monitor_mode = False
                    return self.connect(force=True)
                return True
            expected = 0
            if is_sub or is_unsub:
                expected = argc - 1 if argc > 1 else 1
                self.push_mode = "return"
            while True:
                if not self.read_reply(raw_strings):
                    return False
                last = self.last_reply
                if cfg.pubsub_mode or expected > 0:
                    if self.is_pubsub_push(last):
                        if expected > 0 and _cstr(last[1][0][1]).lower() == cmd:
                            if is_sub and not cfg.pubsub_mode:
                                cfg.pubsub_mode = True
                                self.refresh_prompt()
                            expected -= 1
                            if expected > 0:
                                continue
                        else:
                            continue
                    elif last[0] == PUSH:
                        continue
                ok = self.last_type != ERROR
                if cmd == b"select" and argc == 2 and ok:
                    cfg.input_dbnum = cfg.dbnum = c_atoi(argv[1].decode("latin-1"))
                    self.refresh_prompt()
                elif cmd == b"auth" and argc in (2, 3):
                    self.select()
                elif cmd == b"multi" and argc == 1 and ok:
                    cfg.in_multi = True
                    cfg.pre_multi_dbnum = cfg.dbnum
                    self.refresh_prompt()
                elif cmd == b"exec" and argc == 1 and cfg.in_multi:
                    cfg.in_multi = False
                    if self.last_type in (ERROR, NIL):
                        cfg.input_dbnum = cfg.dbnum = cfg.pre_multi_dbnum
                    self.refresh_prompt()
                elif cmd == b"discard" and argc == 1 and ok:
                    cfg.in_multi = False
                    cfg.input_dbnum = cfg.dbnum = cfg.pre_multi_dbnum
                    self.refresh_prompt()
                elif cmd == b"reset" and argc == 1 and ok:
                    cfg.in_multi = False
                    cfg.dbnum = cfg.input_dbnum = 0
                    cfg.current_resp3 = False
                    if cfg.pubsub_mode and cfg.push_output:
                        self.push_mode = "print"
                    cfg.pubsub_mode = False
                    self.refresh_prompt()
                elif cmd == b"hello":
                    if self.last_type == MAP:
                        cfg.current_resp3 = True
                    elif self.last_type == ARRAY:
                        cfg.current_resp3 = False
                elif (is_sub or is_unsub) and not cfg.pubsub_mode:
                    if cfg.push_output:
                        self.push_mode = "print"
                break
            if cfg.interval:
                time.sleep(cfg.interval)
        return True

    def issue(self, argv: list[bytes], repeat: int) -> bool:
        """issueCommandRepeat."""
        if argv[0].lower() in (b"help", b"?"):
            self.output_help(argv[1:])
            return True
        if self.conn is None or self.conn.err is not None:
            if not self.connect(force=True):
                self.print_context_error()
                return False
        if not self.send_command(argv, repeat):
            self.print_context_error()
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return False
        return True

    # -- help ----------------------------------------------------------------------------

    def output_help(self, args: list[bytes]) -> None:
        from . import __version__
        if not args:
            self.write((
                "valkeyd cli %s\n"
                "To get help about Redis commands type:\n"
                "      \"help <command>\" for help on <command>\n"
                "      \"quit\" to exit\n"
                "\n"
                "Other commands: \"connect <host> <port>\", \"clear\".\n"
                "Prefix a command with a number to repeat it (e.g. \"3 ping\").\n"
                % __version__).encode())
            return
        if self.conn is None and not self.connect(force=True, quiet=True):
            return
        name = b" ".join(args).lower()
        r = self.command(b"COMMAND", b"DOCS", *args[:1])
        if r is None or r[0] not in (ARRAY, MAP):
            return
        docs = {}
        items = r[1]
        for i in range(0, len(items) - 1, 2):
            docs[items[i][1].lower()] = items[i + 1]
        doc = docs.get(args[0].lower())
        if doc is None:
            return
        fields = {}
        sub_docs = {}
        v = doc[1]
        for i in range(0, len(v) - 1, 2):
            fields[v[i][1]] = v[i + 1]
        if len(args) > 1 and b"subcommands" in fields:
            s = fields[b"subcommands"][1]
            for i in range(0, len(s) - 1, 2):
                sub_docs[s[i][1].lower()] = s[i + 1]
            sd = sub_docs.get(name.replace(b" ", b"|"))
            if sd is not None:
                fields = {}
                for i in range(0, len(sd[1]) - 1, 2):
                    fields[sd[1][i][1]] = sd[1][i + 1]
        out = b"\n  " + name.upper() + b"\n"
        for key in (b"summary", b"since", b"group"):
            if key in fields:
                out += b"  " + key + b": " + fields[key][1] + b"\n"
        self.write(out + b"\n")

    # -- modes ---------------------------------------------------------------------------

    def noninteractive(self, argv: list[bytes]) -> int:
        cfg = self.cfg
        if cfg.quoted_input:    # each argument is one sdssplitargs token
            unquoted = []
            for a in argv:
                parts = split_args(a)
                if parts is None or len(parts) != 1:
                    self.write(b"Invalid quoted string\n")
                    return 1
                unquoted.append(parts[0])
            argv = unquoted
        if cfg.stdin_lastarg:
            argv.append(sys.stdin.buffer.read())
        elif cfg.stdin_tag is not None:
            for i, a in enumerate(argv):
                if a == cfg.stdin_tag:
                    argv[i] = sys.stdin.buffer.read()
                    break
            else:
                sys.stderr.write("Using -X option but stdin tag not match.\n")
                return 1
        try:
            ok = self.issue(argv, cfg.repeat)
            while cfg.pubsub_mode:
                if not self.read_reply(False):
                    self.print_context_error()
                    return 1
        except KeyboardInterrupt:
            return 1 if not (cfg.pubsub_mode or cfg.monitor_mode) else 0
        return 0 if ok else 1

    def wait_messages(self) -> None:
        """cliWaitForMessagesOrStdin: show pub/sub messages until a key or Ctrl-C."""
        cfg = self.cfg
        show = cfg.output != OUTPUT_RAW and (sys.stdout.isatty()
                                             or os.environ.get("FAKETTY") is not None)
        saved = _tty_no_echo()
        try:
            while cfg.pubsub_mode:
                while self.conn.pending():
                    self.write(self.format(self.conn.read()))
                if show:
                    self.write(b"Reading messages... (press Ctrl-C to quit or any key to type "
                               b"command)\r")
                ready, _, _ = select.select([self.conn.sock, sys.stdin], [], [], 5)
                if show:
                    self.write(b"\033[K")
                if self.conn.sock in ready:
                    if not self.read_reply(False):
                        self.print_context_error()
                        raise SystemExit(1)
                elif ready:
                    break
        except KeyboardInterrupt:
            cfg.pubsub_mode = False
            if not self.connect(force=True):
                self.print_context_error()
                raise SystemExit(1)
        except ConnError:
            self.print_context_error()
            raise SystemExit(1)
        finally:
            _tty_restore(saved)

    def repl(self) -> int:
        cfg = self.cfg
        cfg.interactive = True
        tty = sys.stdin.isatty()
        histfile = None
        rl = None
        if tty:
            try:
                import readline as rl
            except ImportError:   # pragma: no cover - readline is part of CPython on Linux
                rl = None
            path = os.environ.get(HISTFILE_ENV)
            if path:
                histfile = None if path == "/dev/null" else path
            elif os.environ.get("HOME"):
                histfile = os.path.join(os.environ["HOME"], HISTFILE_DEFAULT)
            if rl is not None:
                rl.set_auto_history(False)
            if rl is not None and histfile:
                try:
                    rl.read_history_file(histfile)
                except OSError:
                    pass
        stdin = sys.stdin.buffer
        while True:
            try:
                if tty:
                    line = input(self.prompt if self.conn is not None else "not connected> ")
                    line = os.fsencode(line)
                else:
                    line = stdin.readline()
                    if not line:
                        return 0
                    if line.endswith(b"\n"):
                        line = line[:-1]
            except (EOFError, KeyboardInterrupt):
                if cfg.pubsub_mode:
                    cfg.pubsub_mode = False
                    if self.connect(force=True):
                        continue
                return 0
            if line:
                argv = split_args(line)
                if argv is None:
                    self.write(b"Invalid argument(s)\n")
                    self._history_add(rl, histfile, line, tty)
                    continue
                if not argv:
                    continue
                skip = 0
                repeat = 1
                if len(argv) > 1 and re.fullmatch(rb"\s*[+-]?\d*", argv[0]):
                    digits = argv[0].strip()
                    repeat = int(digits) if digits not in (b"", b"+", b"-") else 0
                    if repeat <= 0 or repeat > 2**63 - 1:
                        self.write(b"Invalid redis-cli repeat command option value.\n")
                        continue
                    skip = 1
                if not is_sensitive(argv[skip:]):
                    self._history_add(rl, histfile, line, tty)
                cmd = argv[0].lower()
                if cmd in (b"quit", b"exit"):
                    return 0
                if cmd.startswith(b":"):
                    self.write(b"unknown redis-cli internal command '%s'\n" % _cstr(argv[0]))
                    continue
                if len(argv) == 3 and cmd == b"connect":
                    cfg.host = argv[1].decode("utf-8", "surrogateescape")
                    cfg.port = c_atoi(argv[2].decode("latin-1"))
                    self.refresh_prompt()
                    self.connect(force=True)
                elif len(argv) == 1 and cmd == b"clear":
                    self.write(b"\x1b[H\x1b[2J")
                else:
                    start = time.monotonic()
                    try:
                        self.issue(argv[skip:], repeat)
                    except KeyboardInterrupt:
                        return 1
                    elapsed = time.monotonic() - start
                    if elapsed >= 0.5 and cfg.output == OUTPUT_STANDARD:
                        self.write(b"(%.2fs)\n" % elapsed)
            if cfg.pubsub_mode:
                self.wait_messages()

    def _history_add(self, rl, histfile, line: bytes, tty: bool) -> None:
        if not tty or rl is None:
            return
        rl.add_history(os.fsdecode(line))
        if histfile:
            try:
                rl.write_history_file(histfile)
            except OSError:
                pass


def _tty_no_echo():
    """While waiting for messages a key press only ends the wait: no echo, no line editing
    (cliPressAnyKeyTTY). Returns the settings to restore."""
    try:
        import termios
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        old = termios.tcgetattr(fd)
        new = list(old)
        new[3] &= ~(termios.ECHO | termios.ICANON)
        termios.tcsetattr(fd, termios.TCSANOW, new)
        return old
    except (ImportError, OSError, ValueError):
        return None


def _tty_restore(saved) -> None:
    if saved is not None:
        import termios
        try:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, saved)
        except (OSError, ValueError):
            pass


def main(args: list[str]) -> int:
    cfg = Config()
    try:
        first = parse_options(args, cfg)
    except Usage as u:
        (sys.stderr if u.err else sys.stdout).write(USAGE)
        return u.err
    rest = [os.fsencode(a) for a in args[first:]]
    if cfg.auth is None and os.environ.get(AUTH_ENV) is not None:
        cfg.auth = os.fsencode(os.environ[AUTH_ENV])
    if cfg.askpass:
        import getpass
        try:
            cfg.auth = os.fsencode(getpass.getpass("Please input password: "))
        except (EOFError, KeyboardInterrupt):
            cfg.auth = b""
    cli = Cli(cfg)
    import signal
    if not rest:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        cli.connect()
        return cli.repl()
    # like a C program: a closed output pipe ends the process quietly (`| head -1`)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    cli.connect(quiet=True)
    return cli.noninteractive(rest)


def run(args: list[str]) -> int:
    try:
        return main(args)
    except BrokenPipeError:
        try:
            sys.stdout = None
        except Exception:
            pass
        return 1
