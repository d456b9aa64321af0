"""Glob-style patterns exactly as Redis's ``stringmatchlen`` (util.c) matches them.

Used by KEYS, SCAN/HSCAN/SSCAN/ZSCAN MATCH, PSUBSCRIBE and CONFIG GET (``nocase``).

Syntax (bytes, not characters):

* ``*`` any run of bytes (runs of ``*`` count as one), ``?`` exactly one byte;
* ``[abc]``, ``[^abc]``, ranges ``[a-z]`` (a reversed range ``[z-a]`` is the same range),
  ``\\x`` inside brackets is the literal ``x``; ``]`` closes the class, ``[]`` matches nothing
  and ``[^]`` any byte; an unterminated class ends with the pattern. As in Redis, ``a-]`` is
  a range ending at ``]`` (the class then goes on), and escaped bytes inside a class compare
  case-sensitively even with ``nocase``;
* ``\\x`` outside brackets is the literal ``x`` (a trailing ``\\`` is itself);
* the empty string matches only the empty pattern (Redis's loop never runs on it, so ``*``
  does not match it).

The pattern is parsed once, following the C loop step by step, into single-byte tokens
(each bracket class becomes the exact set of the 256 byte values it accepts, computed with
the C comparison rules) plus ``*``; that is compiled into an anchored ``re`` pattern. Every
token except ``*`` consumes exactly one byte, so the regex accepts exactly the strings the C
matcher accepts. Compiled patterns are cached.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

_LOWER = bytes(c + 32 if 65 <= c <= 90 else c for c in range(256))


def _tokens(p: bytes, nocase: bool):
    """Yield ``None`` for ``*`` or a frozenset of accepted byte values for one byte."""
    n = len(p)
    i = 0
    low = _LOWER
    while i < n:
        ch = p[i]
        if ch == 42:  # '*'
            while i + 1 < n and p[i + 1] == 42:
                i += 1
            yield None
        elif ch == 63:  # '?'
            yield _ALL
        elif ch == 91:  # '['
            i += 1
            neg = i < n and p[i] == 94
            if neg:
                i += 1
            esc = set()        # escaped bytes: compared as-is, even with nocase
            lits = set()
            ranges = []
            while True:
                if i < n and p[i] == 92 and n - i >= 2:
                    i += 1
                    esc.add(p[i])
                elif i < n and p[i] == 93:
                    break
                elif i >= n:
                    i -= 1     # Redis steps back so that the final increment ends the pattern
                    break
                elif n - i >= 3 and p[i + 1] == 45:
                    a, b = p[i], p[i + 2]
                    if a > b:
                        a, b = b, a
                    if nocase:
                        a, b = low[a], low[b]
                    ranges.append((a, b))
                    i += 2
                else:
                    lits.add(p[i])
                i += 1
            acc = set()
            for c in range(256):
                m = c in esc
                if not m:
                    cc = low[c] if nocase else c
                    for a, b in ranges:
                        if a <= cc <= b:
                            m = True
                            break
                if not m:
                    if nocase:
                        m = any(low[x] == low[c] for x in lits)
                    else:
                        m = c in lits
                if m != neg:
                    acc.add(c)
            yield frozenset(acc)
        else:
            if ch == 92 and n - i >= 2:  # '\' escapes the next byte
                i += 1
                ch = p[i]
            if nocase:
                yield frozenset(c for c in range(256) if low[c] == low[ch])
            else:
                yield ch
        i += 1


_ALL = frozenset(range(256))


def _class(s) -> bytes:
    if type(s) is int:
        return b"\\x%02x" % s
    if len(s) == 256:
        return b"."
    if not s:
        return b"(?!)"
    if len(s) == 1:
        return b"\\x%02x" % next(iter(s))
    return b"[" + b"".join(b"\\x%02x" % c for c in sorted(s)) + b"]"


@lru_cache(maxsize=1024)
def compile(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A predicate ``f(string) -> bool`` equivalent to ``stringmatchlen(pattern, string)``."""
    pattern = bytes(pattern)
    if pattern == b"*":
        return lambda s: len(s) > 0
    parts = []
    for t in _tokens(pattern, nocase):
        parts.append(b".*" if t is None else _class(t))
    rx = re.compile(b"(?s)" + b"".join(parts))
    fm = rx.fullmatch
    if not pattern:
        return lambda s: not s

    def match(s, _fm=fm):
        return bool(s) and _fm(s) is not None

    return match


def match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """True if ``string`` matches the Redis glob ``pattern``."""
    return compile(bytes(pattern), nocase)(string)


def stringmatch(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Alias of :func:`match` under Redis's name (``stringmatch(pattern, string, nocase)``)."""
    return compile(bytes(pattern), bool(nocase))(string)


stringmatchlen = stringmatch
