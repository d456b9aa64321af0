"""Lua scripting (Redis 7.2 scripting with lupa's Lua 5.1).

Modules:

* :mod:`valkeyd.scripting.engine` - :class:`LuaEngine`: a sandboxed Lua state with the
  ``redis`` API (``sandbox.lua``), Python <-> Lua conversions.
* :mod:`valkeyd.scripting.run` - the run context, ``redis.call``'s checks, the worker thread,
  busy scripts, SCRIPT/FUNCTION KILL.
* :mod:`valkeyd.scripting.eval` - EVAL's SHA1 script cache.
* :mod:`valkeyd.scripting.resp_parse` - RESP bytes -> typed nodes (for ``Raw`` replies).

The commands are in :mod:`valkeyd.commands.scripting`.
"""
