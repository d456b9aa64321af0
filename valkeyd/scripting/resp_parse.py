"""Parse pre-encoded RESP (a handler's :class:`valkeyd.resp.Raw` reply) into typed nodes
``(kind, value)`` so that scripts see it as Redis's reply parser would (resp_parser.c)."""
from __future__ import annotations


def parse_resp(data: bytes):
    node, pos = _parse(data, 0)
    return node


def _line(data, pos):
    end = data.index(b"\r\n", pos)
    return data[pos:end], end + 2


def _parse(data: bytes, pos: int):
    t = data[pos:pos + 1]
    line, pos = _line(data, pos + 1)
    if t == b"$":
        n = int(line)
        if n < 0:
            return ("null2", None), pos
        return ("bulk", data[pos:pos + n]), pos + n + 2
    if t == b":":
        return ("int", int(line)), pos
    if t == b"+":
        return ("status", line), pos
    if t == b"-":
        return ("error", line), pos
    if t == b"_":
        return ("null", None), pos
    if t == b"#":
        return ("bool", line == b"t"), pos
    if t == b",":
        return ("double", float(line)), pos
    if t == b"(":
        return ("bignum", line), pos
    if t == b"=":
        n = int(line)
        s = data[pos:pos + n]
        return ("verbatim", (s[:3], s[4:])), pos + n + 2
    if t in (b"*", b">", b"~"):
        n = int(line)
        if n < 0:
            return ("null2", None), pos
        items = []
        for _ in range(n):
            x, pos = _parse(data, pos)
            items.append(x)
        return ({b"*": "array", b">": "push", b"~": "set"}[t], items), pos
    if t == b"%" or t == b"|":
        n = int(line)
        pairs = []
        for _ in range(n):
            k, pos = _parse(data, pos)
            v, pos = _parse(data, pos)
            pairs.append((k, v))
        if t == b"|":   # an attribute: skipped, the reply follows
            node, pos = _parse(data, pos)
            return node, pos
        return ("map", pairs), pos
    raise ValueError(f"unexpected RESP type {t!r}")
