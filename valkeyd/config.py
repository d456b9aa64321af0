"""Configuration: redis.conf parsing, the directive table, CONFIG GET/SET/REWRITE support.

(Minimal first version: values are kept as the strings CONFIG GET prints.)
"""
from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

from .protocol import split_args

_DEFAULTS = json.loads((Path(__file__).parent / "data" / "config-defaults.json").read_text())

_UNITS = {"k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


class ConfigError(Exception):
    pass


def parse_memory(v: str) -> int:
    s = v.strip().lower()
    for u in sorted(_UNITS, key=len, reverse=True):
        if s.endswith(u):
            return int(s[: -len(u)]) * _UNITS[u]
    return int(s)


class Config:
    def __init__(self):
        self.values: dict[str, str] = dict(_DEFAULTS)
        self.values["dir"] = os.getcwd()
        self.config_file: str | None = None
        self._listeners: dict[str, list] = {}

    def get(self, name: str) -> str:
        return self.values[name]

    def get_int(self, name: str) -> int:
        return parse_memory(self.values[name])

    def get_bool(self, name: str) -> bool:
        return self.values[name] == "yes"

    def set(self, name: str, value: str) -> None:
        name = name.lower()
        if name not in self.values:
            raise ConfigError(f"Bad directive or wrong number of arguments")
        self.values[name] = value
        for fn in self._listeners.get(name, ()):
            fn(value)

    def on_change(self, name: str, fn) -> None:
        self._listeners.setdefault(name, []).append(fn)

    def matching(self, pattern: str):
        return [(k, v) for k, v in self.values.items() if fnmatch.fnmatchcase(k, pattern.lower())]

    def load_file(self, path: str) -> None:
        self.config_file = os.path.abspath(path)
        with open(path, "rb") as fh:
            for raw in fh:
                line = raw.strip()
                if not line or line.startswith(b"#"):
                    continue
                args = split_args(line)
                if not args:
                    continue
                self.set(args[0].decode(), " ".join(a.decode() for a in args[1:]))

    def load_text(self, text: str, origin: str) -> None:
        import tempfile
        with tempfile.NamedTemporaryFile("w", delete=False) as fh:
            fh.write(text)
        self.load_file(fh.name)

    def startup_notes(self):
        return []

    def load_args(self, args: list[str]) -> None:
        i = 0
        while i < len(args):
            name = args[i].lstrip("-")
            vals = []
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                vals.append(args[i])
                i += 1
            self.set(name, " ".join(vals))
