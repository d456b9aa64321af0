"""Storage engines behind one interface (see :mod:`engines.base`)."""
from __future__ import annotations


def create_engine(name: str, config) -> "engines.base.Engine":  # noqa: F821
    """Build the engine called ``name`` ("memory" or "lmdb") for a server configuration."""
    if name == "memory":
        from .memory import MemoryEngine
        return MemoryEngine(config.get_int("databases"))
    if name == "lmdb":
        try:
            from .lmdb import LmdbEngine  # type: ignore[import-not-found]
        except ImportError as e:  # the LMDB engine is its own issue
            raise ValueError("the lmdb engine is not available in this build") from e
        import lmdb
        try:
            return LmdbEngine(config)
        except lmdb.Error as e:   # unreadable environment, no space, permissions ...
            raise ValueError(f"can't open the lmdb environment: {e}") from e
    raise ValueError(f"unknown engine '{name}' (expected memory or lmdb)")
