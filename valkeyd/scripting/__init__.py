"""Lua scripting (EVAL, FUNCTION) and the Lua libraries scripts use."""
