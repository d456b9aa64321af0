"""Tools: the benchmark, and (later) RDB/AOF inspection and repair."""
