"""The function library registry (Redis 7.2.4 functions.c), independent of any engine.

Model (as functions.c):

* an **engine** (only "LUA", looked up case-insensitively) compiles a library's code and
  registers its functions; it implements ``create(lib, body, timeout_ms)`` (calls
  ``lib.add_function`` for each ``redis.register_function``; raises :class:`FunctionError`
  with the message) and ``call(client, fn, numkeys, argv, ro)`` (FCALL / FCALL_RO's argv);
* a **library** has a name (case-sensitive), its engine, its full code (with the shebang)
  and its functions (names case-sensitive within the library);
* a **LibCtx** maps library names to libraries and function names (case-insensitive, as
  Redis's ``dictSdsCaseHash`` table) to functions, with per-engine counts for FUNCTION
  STATS. FUNCTION RESTORE loads into a fresh LibCtx and then joins it to the current one
  (``libraryJoin``), so a failed restore leaves the current libraries untouched.

The first line of a library is its metadata: ``#!<engine> name=<library>`` split as
``sdssplitargs``; the code given to the engine starts at that line's newline, so line numbers
in compile errors are those of the whole text.

Iteration order is insertion order (Redis iterates its hash tables, an order that cannot be
reproduced; see COMPAT.md). Persistence uses :func:`functions_dump` / :func:`functions_restore`
(FUNCTION DUMP's payload: per library RDB_OPCODE_FUNCTION2 + RDB string of the code) and
:func:`libraries_code` (AOF rewrite: one FUNCTION LOAD per library).
"""
from __future__ import annotations

from persistence import rdb_primitives as rdbp
from ..protocol import split_args

LOAD_TIMEOUT_MS = 500

BAD_NAME = ("Library names can only contain letters, numbers, or underscores(_) and must be "
            "at least one character long")


class FunctionError(Exception):
    """A library could not be created; ``str()`` is the message (without "ERR ")."""


_SCRIPT_FLAGS = None   # ((bit, name), ...) in the order FUNCTION LIST prints them


def _script_flags():
    """Script flags (script.c scripts_flags_def), shared with EVAL's shebang flags
    (valkeyd/scripting/run.py, imported late: it imports the client and command table)."""
    global _SCRIPT_FLAGS
    if _SCRIPT_FLAGS is None:
        from .run import FLAG_NAMES
        _SCRIPT_FLAGS = tuple((bit, name.encode()) for name, bit in FLAG_NAMES)
    return _SCRIPT_FLAGS


def flag_bit(name: bytes) -> int | None:
    """A script flag's bit from its (case-insensitive) name, or None."""
    name = name.lower()
    for bit, n in _script_flags():
        if n == name:
            return bit
    return None


def flag_names(flags: int) -> list:
    return [name for bit, name in _script_flags() if flags & bit]


def valid_name(name: bytes) -> bool:
    """functionsVerifyName: [a-zA-Z0-9_]+"""
    return bool(name) and name.isascii() and name.replace(b"_", b"a").isalnum()


class FunctionInfo:
    __slots__ = ("name", "callback", "lib", "desc", "flags")

    def __init__(self, name: bytes, callback, lib, desc: bytes | None, flags: int):
        self.name = name
        self.callback = callback   # the engine's compiled function
        self.lib = lib
        self.desc = desc
        self.flags = flags


class LibraryInfo:
    __slots__ = ("name", "engine", "code", "functions")

    def __init__(self, name: bytes, engine, code: bytes):
        self.name = name
        self.engine = engine
        self.code = code
        self.functions: dict[bytes, FunctionInfo] = {}

    def add_function(self, name: bytes, callback, desc: bytes | None, flags: int) -> None:
        """functionLibCreateFunction (called by the engine while the library loads)."""
        if not valid_name(name):
            raise FunctionError(BAD_NAME)
        if name in self.functions:
            raise FunctionError("Function already exists in the library")
        self.functions[name] = FunctionInfo(name, callback, self, desc, flags)


class LibCtx:
    """functionsLibCtx: the libraries, the function index and per-engine counts."""

    __slots__ = ("libraries", "functions", "stats")

    def __init__(self, engines):
        self.libraries: dict[bytes, LibraryInfo] = {}
        self.functions: dict[bytes, FunctionInfo] = {}   # lower-cased name -> function
        self.stats = {e.name: [0, 0] for e in engines.values()}   # [libraries, functions]

    def clear(self):
        for lib in self.libraries.values():
            for fn in lib.functions.values():
                lib.engine.free_function(fn)
        self.libraries.clear()
        self.functions.clear()
        for s in self.stats.values():
            s[0] = s[1] = 0

    def unlink(self, lib: LibraryInfo) -> None:
        for fn in lib.functions.values():
            del self.functions[fn.name.lower()]
        del self.libraries[lib.name]
        s = self.stats[lib.engine.name]
        s[0] -= 1
        s[1] -= len(lib.functions)

    def link(self, lib: LibraryInfo) -> None:
        for fn in lib.functions.values():
            self.functions[fn.name.lower()] = fn
        self.libraries[lib.name] = lib
        s = self.stats[lib.engine.name]
        s[0] += 1
        s[1] += len(lib.functions)

    def join(self, src: "LibCtx", replace: bool) -> None:
        """libraryJoin: move every library of ``src`` here; on a collision raise and leave
        both contexts as they were."""
        replaced = []
        try:
            for name, lib in src.libraries.items():
                old = self.libraries.get(name)
                if old is not None:
                    if not replace:
                        raise FunctionError("Library %s already exists" % _s(name))
                    self.unlink(old)
                    replaced.append(old)
            for key, fn in src.functions.items():
                if key in self.functions:
                    raise FunctionError("Function %s already exists" % _s(fn.name))
        except FunctionError:
            for old in replaced:
                self.link(old)
            raise
        for lib in src.libraries.values():
            self.link(lib)
        src.libraries.clear()
        src.functions.clear()
        for old in replaced:
            for fn in old.functions.values():
                old.engine.free_function(fn)


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def parse_metadata(code: bytes):
    """functionExtractLibMetaData: (engine name, library name, body) or FunctionError."""
    if code[:2] != b"#!":
        raise FunctionError("Missing library metadata")
    nl = code.find(b"\n")
    z = code.find(b"\0")
    if nl < 0 or 0 <= z < nl:   # strchr on a C string stops at the NUL
        raise FunctionError("Invalid library metadata")
    parts = split_args(code[:nl])
    if not parts:
        raise FunctionError("Invalid library metadata")
    engine = parts[0][2:]
    name = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise FunctionError(
                    "Invalid metadata value, name argument was given multiple times")
            name = part[5:]
            continue
        raise FunctionError("Invalid metadata value given: %s" % _s(_cstr(part)))
    if name is None:
        raise FunctionError("Library name was not given")
    return engine, name, code[nl:]


def _cstr(b: bytes) -> bytes:
    z = b.find(b"\0")
    return b if z < 0 else b[:z]


class Functions:
    """The server's function state: the engines and the current LibCtx."""

    def __init__(self, engines: dict | None = None, server=None):
        self.server = server
        self.engines = {}   # upper-cased engine name (bytes) -> engine
        for e in (engines or {}).values():
            self.register_engine(e)
        self.ctx = LibCtx(self.engines)

    def register_engine(self, engine) -> None:
        self.engines[engine.name.upper().encode()] = engine
        if hasattr(self, "ctx"):
            self.ctx.stats.setdefault(engine.name, [0, 0])

    def new_ctx(self) -> LibCtx:
        return LibCtx(self.engines)

    # -- FUNCTION LOAD ------------------------------------------------------------------------
    def create(self, code: bytes, replace: bool, ctx: LibCtx | None = None,
               timeout_ms: int = LOAD_TIMEOUT_MS) -> bytes:
        """functionsCreateWithLibraryCtx: compile ``code`` into ``ctx`` (the current one by
        default); returns the library name or raises FunctionError."""
        if ctx is None:
            ctx = self.ctx
        engine_name, name, body = parse_metadata(code)
        if not valid_name(name):
            raise FunctionError(BAD_NAME)
        engine = self.engines.get(engine_name.upper())
        if engine is None:
            raise FunctionError("Engine '%s' not found" % _s(engine_name))
        old = ctx.libraries.get(name)
        if old is not None and not replace:
            raise FunctionError("Library '%s' already exists" % _s(name))
        if old is not None:
            ctx.unlink(old)
        lib = LibraryInfo(name, engine, bytes(code))
        try:
            engine.create(lib, body, timeout_ms)
            if not lib.functions:
                raise FunctionError("No functions registered")
            for fn in lib.functions.values():
                if fn.name.lower() in ctx.functions:
                    raise FunctionError("Function %s already exists" % _s(fn.name))
        except BaseException:
            for fn in lib.functions.values():
                engine.free_function(fn)
            if old is not None:
                ctx.link(old)
            raise
        ctx.link(lib)
        if old is not None:
            for fn in old.functions.values():
                engine.free_function(fn)
        if ctx is self.ctx:
            self.changed()
        return name

    # -- lookups ------------------------------------------------------------------------------
    def get_function(self, name: bytes) -> FunctionInfo | None:
        return self.ctx.functions.get(name.lower())

    def delete(self, name: bytes) -> bool:
        lib = self.ctx.libraries.get(name)
        if lib is None:
            return False
        self.ctx.unlink(lib)
        for fn in lib.functions.values():
            lib.engine.free_function(fn)
        self.changed()
        return True

    def flush(self) -> None:
        self.ctx.clear()
        self.changed()

    def changed(self) -> None:
        """The current libraries changed (FUNCTION LOAD/DELETE/FLUSH/RESTORE): refresh INFO's
        counters and tell ``srv.function_hooks`` (fn(functions); the lmdb engine stores the
        libraries' code with the dataset)."""
        self.sync_info()
        srv = self.server
        for hook in getattr(srv, "function_hooks", ()):
            hook(self)

    def sync_info(self) -> None:
        """Refresh the server attributes INFO reads (number_of_functions ...)."""
        srv = self.server
        if srv is None:
            return
        ctx = self.ctx
        srv.functions_count = len(ctx.functions)
        srv.libraries_count = len(ctx.libraries)
        srv.functions_memory = sum(e.used_memory() for e in self.engines.values())
        # functionsMemoryOverhead, estimated: the code, names and per-entry structures
        srv.functions_cache_memory = sum(
            len(lib.code) + len(lib.name) + 96
            + sum(len(f.name) + len(f.desc or b"") + 80 for f in lib.functions.values())
            for lib in ctx.libraries.values())

    def libraries_code(self) -> list:
        """Each library's code, to write as FUNCTION LOAD commands (AOF rewrite)."""
        return [lib.code for lib in self.ctx.libraries.values()]

    # -- DUMP / RESTORE -----------------------------------------------------------------------
    def dump_body(self, compress: bool = True) -> bytes:
        """rdbSaveFunctions: RDB_OPCODE_FUNCTION2 + the code as an RDB string, per library
        (what an RDB file holds before its databases)."""
        op = bytes((rdbp.RDB_OPCODE_FUNCTION2,))
        return b"".join(op + rdbp.encode_string(lib.code, compress)
                        for lib in self.ctx.libraries.values())

    def dump(self, compress: bool = True) -> bytes:
        """FUNCTION DUMP's payload."""
        return rdbp.payload_footer(self.dump_body(compress))

    def load_rdb_library(self, reader, ctx: LibCtx, allow_dup: bool = False) -> bytes:
        """rdbFunctionLoad, after its RDB_OPCODE_FUNCTION2: read one library's code and create
        it in ``ctx`` (no load timeout). For the RDB loader and FUNCTION RESTORE."""
        try:
            code = reader.string()
        except rdbp.RDBError:
            raise FunctionError("Failed loading library payload") from None
        return self.create(code, allow_dup, ctx, 0)

    def restore(self, payload: bytes, policy: str = "APPEND",
                skip_checksum: bool = False) -> None:
        """FUNCTION RESTORE: ``policy`` FLUSH, APPEND or REPLACE. Raises FunctionError."""
        ver = rdbp.verify_payload(payload, skip_checksum)
        if ver is None:
            raise FunctionError("DUMP payload version or checksum are wrong")
        ctx = self.new_ctx()
        reader = rdbp.Reader(payload)
        end = len(payload)
        try:
            while end - reader.pos > 10:
                try:
                    t = reader.type()
                except rdbp.RDBError:
                    raise FunctionError("can not read data type") from None
                if t == rdbp.RDB_OPCODE_FUNCTION_PRE_GA:
                    raise FunctionError("Pre-GA function format not supported")
                if t != rdbp.RDB_OPCODE_FUNCTION2:
                    raise FunctionError("given type is not a function")
                self.load_rdb_library(reader, ctx)
            if policy == "FLUSH":
                old = self.ctx
                self.ctx = ctx
                ctx = old
            else:
                self.ctx.join(ctx, policy == "REPLACE")
        finally:
            ctx.clear()
            self.changed()


def functions_of(srv) -> Functions:
    """The server's function registry (``srv.functions``) with the Lua engine, made on first
    use. It keeps ``srv.functions_count`` / ``libraries_count`` / ``functions_memory`` /
    ``functions_cache_memory`` (read by INFO) up to date."""
    fns = getattr(srv, "functions", None)
    if fns is None:
        from .function_lua import LuaEngine
        fns = srv.functions = Functions(server=srv)
        fns.register_engine(LuaEngine(srv))
        fns.sync_info()
    return fns


def functions_dump(srv) -> bytes:
    """FUNCTION DUMP payload of ``srv``'s libraries (for persistence code)."""
    return functions_of(srv).dump(srv.config.get_bool("rdbcompression"))


def functions_restore(srv, payload: bytes, policy: str = "APPEND") -> None:
    """FUNCTION RESTORE into ``srv`` (policy FLUSH / APPEND / REPLACE); raises FunctionError."""
    functions_of(srv).restore(payload, policy)
