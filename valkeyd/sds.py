"""Redis's ``sdscatrepr``: the quoted, escaped form of a binary string used in MONITOR lines,
CONFIG REWRITE output and log messages."""
from __future__ import annotations

_ESC = {ord("\\"): "\\\\", ord('"'): '\\"', 10: "\\n", 13: "\\r", 9: "\\t", 7: "\\a", 8: "\\b"}
_REPR = tuple(_ESC.get(i) or (chr(i) if 32 <= i < 127 else "\\x%02x" % i) for i in range(256))
_PLAIN = frozenset(range(32, 127)) - {ord("\\"), ord('"')}


def catrepr(b) -> str:
    """A double-quoted, escaped representation of ``b`` (bytes, or str as UTF-8)."""
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogateescape")
    if all(x in _PLAIN for x in b):
        return '"' + bytes(b).decode("ascii") + '"'
    r = _REPR
    return '"' + "".join(r[x] for x in b) + '"'
