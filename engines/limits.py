"""The encoding thresholds of the collection types, as the config sets them.

OBJECT ENCODING must report what Redis 7.2 would (listpack, quicklist, intset, hashtable,
skiplist), and Redis picks an encoding from these directives. The memory engine's value
classes read them from :data:`limits` when they decide whether to convert; the server keeps
:data:`limits` in step with the config (``apply``, called at startup and on CONFIG SET).
"""
from __future__ import annotations

# directive -> attribute of Limits
DIRECTIVES = {
    "hash-max-listpack-entries": "hash_max_listpack_entries",
    "hash-max-listpack-value": "hash_max_listpack_value",
    "list-max-listpack-size": "list_max_listpack_size",
    "list-compress-depth": "list_compress_depth",
    "set-max-intset-entries": "set_max_intset_entries",
    "set-max-listpack-entries": "set_max_listpack_entries",
    "set-max-listpack-value": "set_max_listpack_value",
    "zset-max-listpack-entries": "zset_max_listpack_entries",
    "zset-max-listpack-value": "zset_max_listpack_value",
    "stream-node-max-entries": "stream_node_max_entries",
    "stream-node-max-bytes": "stream_node_max_bytes",
}


class Limits:
    __slots__ = tuple(DIRECTIVES.values())

    def __init__(self):
        # Redis 7.2.4's compiled-in defaults (config.c); ``apply`` replaces them.
        self.hash_max_listpack_entries = 512
        self.hash_max_listpack_value = 64
        self.list_max_listpack_size = -2
        self.list_compress_depth = 0
        self.set_max_intset_entries = 512
        self.set_max_listpack_entries = 128
        self.set_max_listpack_value = 64
        self.zset_max_listpack_entries = 128
        self.zset_max_listpack_value = 64
        self.stream_node_max_entries = 100
        self.stream_node_max_bytes = 4096

    def apply(self, config) -> None:
        for directive, attr in DIRECTIVES.items():
            setattr(self, attr, config.get_int(directive))


limits = Limits()
