"""EVAL's script cache (eval.c): SHA1 -> script, on the server's EVAL Lua engine.

``server.lua_scripts`` is an :class:`EvalScripts`: ``get(sha)``, ``create(body)`` (compile
and cache, as luaCreateFunction; EVAL caches too), ``flush()`` (SCRIPT FLUSH resets the Lua
state, as scriptingReset)."""
from __future__ import annotations

from ..errors import ErrorReply
from .engine import LuaEngine, sha1hex
from .run import parse_shebang


class Script:
    __slots__ = ("sha", "body", "flags", "fn")

    def __init__(self, sha, body, flags, fn):
        self.sha = sha
        self.body = body
        self.flags = flags
        self.fn = fn


class EvalScripts:
    def __init__(self, server):
        self.server = server
        self.engine = LuaEngine(server, eval_api=True)
        self.scripts: dict[bytes, Script] = {}
        self._stats()

    def _stats(self) -> None:
        """What INFO memory reports (number_of_cached_scripts, used_memory_lua ...)."""
        srv = self.server
        srv.scripts = self.scripts
        srv.scripts_cache_memory = self.memory()
        srv.lua_memory = int(self.engine.lua.eval(b"collectgarbage('count')") * 1024)

    def get(self, sha: bytes):
        return self.scripts.get(sha.lower())

    def create(self, body: bytes, sha: bytes | None = None) -> Script:
        if sha is None:
            sha = sha1hex(body)
        s = self.scripts.get(sha)
        if s is not None:
            return s
        flags, shebang_len = parse_shebang(body)
        try:
            fn = self.engine.compile(body[shebang_len:])
        except ErrorReply as e:
            raise ErrorReply("ERR Error compiling script (new function): %s" % e.msg)
        s = self.scripts[sha] = Script(sha, body, flags, fn)
        self._stats()
        return s

    def flush(self) -> None:
        self.scripts = {}
        self.engine = LuaEngine(self.server, eval_api=True)
        self._stats()

    def memory(self) -> int:
        return sum(len(s.body) + 40 + 64 for s in self.scripts.values())


def eval_scripts(server) -> EvalScripts:
    """The server's EVAL engine and cache, created on first use."""
    es = getattr(server, "lua_scripts", None)
    if es is None:
        es = server.lua_scripts = EvalScripts(server)
    return es
