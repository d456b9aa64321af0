"""Argument helpers shared by the command families (Redis's getXxxFromObjectOrReply)."""
from __future__ import annotations

import math

from .. import errors
from ..errors import ErrorReply
from ..protocol import string2ll


def get_int(b, msg: str = errors.NOT_INTEGER) -> int:
    """A signed 64-bit integer argument, or ``msg`` as the error."""
    v = string2ll(b)
    if v is None:
        raise ErrorReply(msg)
    return v


def get_float(b, msg: str = errors.NOT_FLOAT) -> float:
    """A double argument as ``strtod`` reads it (``inf``, ``-inf`` allowed, NaN refused)."""
    try:
        s = b.decode("ascii") if not isinstance(b, str) else b
        if not s or s != s.strip() or "_" in s:
            raise ValueError
        v = float(s)
    except (ValueError, UnicodeDecodeError):
        raise ErrorReply(msg) from None
    if math.isnan(v):
        raise ErrorReply(msg)
    return v


def get_db_index(b) -> int:
    v = string2ll(b)
    if v is None:
        raise ErrorReply(errors.INVALID_DB_INDEX)
    return v


def eq(a: bytes, word: bytes) -> bool:
    """Case-insensitive comparison of an argument with an upper-case keyword."""
    return len(a) == len(word) and a.upper() == word
