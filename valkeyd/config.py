"""Configuration: the directive table, redis.conf parsing, CONFIG GET/SET/REWRITE support.

Every directive Redis 7.2.4 knows is in :data:`DIRECTIVES` with its type (bool, string,
enum, the numeric C types with their bounds, or a special multi-argument parser), its flags
(immutable, hidden, sensitive, protected, multi-arg, deny-loading), its alias and its
default. Values are kept in the form CONFIG GET prints them (``Config.values``) and, for
numeric directives, also as integers (``Config.ints``) so hot paths read them cheaply.

Loading follows ``loadServerConfig``: the file, then standard input, then the command-line
``--name value`` options are joined into one text and parsed line by line; the first error
prints Redis's ``*** FATAL CONFIG FILE ERROR`` block and the process exits with status 1.
"""
from __future__ import annotations

import fnmatch
import glob as _glob
import hashlib
import os
import tempfile

from .sds import catrepr
from .protocol import split_args, string2ll

REDIS_VERSION = "7.2.4"

INT_MAX = 2**31 - 1
INT_MIN = -2**31
UINT_MAX = 2**32 - 1
LLONG_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1
_UNSIGNED = frozenset(("uint", "size_t", "ull"))

try:  # Redis's stringmatchlen, written by another engineer; fnmatch until it exists
    from .glob import stringmatch as _glob_match  # type: ignore[attr-defined]

    def _match(pattern: str, name: str) -> bool:
        return bool(_glob_match(pattern.encode(), name.encode(), True))
except Exception:  # noqa: BLE001
    def _match(pattern: str, name: str) -> bool:
        return fnmatch.fnmatchcase(name.lower(), pattern.lower())


class ConfigError(Exception):
    """A refused value. ``str(e)`` is Redis's message (for startup: the whole FATAL block)."""


# -- enumerations (name, value) in Redis's order ------------------------------------------------
ENUMS = {
    "maxmemory_policy_enum": [("volatile-lru", 1), ("volatile-lfu", 2), ("volatile-random", 3),
                              ("volatile-ttl", 4), ("allkeys-lru", 5), ("allkeys-lfu", 6),
                              ("allkeys-random", 7), ("noeviction", 8)],
    "syslog_facility_enum": [("user", 8), ("local0", 128), ("local1", 136), ("local2", 144),
                             ("local3", 152), ("local4", 160), ("local5", 168), ("local6", 176),
                             ("local7", 184)],
    "loglevel_enum": [("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3),
                      ("nothing", 4)],
    "supervised_mode_enum": [("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)],
    "aof_fsync_enum": [("everysec", 2), ("always", 1), ("no", 0)],
    "engine_enum": [("memory", 0), ("lmdb", 1)],   # valkeyd's own (engines/)
    # bit flags (multi-argument): default=0, save=1, nosave=2, now=4, force=8
    "shutdown_on_sig_enum": [("default", 0), ("save", 1), ("nosave", 2), ("now", 4),
                             ("force", 8)],
    "repl_diskless_load_enum": [("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)],
    "tls_auth_clients_enum": [("no", 0), ("yes", 1), ("optional", 2)],
    "oom_score_adj_enum": [("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)],
    "acl_pubsub_default_enum": [("allchannels", 1), ("resetchannels", 0)],
    "sanitize_dump_payload_enum": [("no", 0), ("yes", 1), ("clients", 2)],
    "protected_action_enum": [("no", 0), ("yes", 1), ("local", 2)],
    "cluster_preferred_endpoint_type_enum": [("ip", 0), ("hostname", 1),
                                             ("unknown-endpoint", 2)],
    "propagation_error_behavior_enum": [("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)],
}

# -- the directive table ---------------------------------------------------------------------
# (name, alias, type, flags, lower, upper, default, extra)
#   flags: I immutable, H hidden (exact CONFIG GET only), S sensitive, P protected,
#          M multi-argument, D refused while loading, N empty string means "not set"
#   extra: numeric "m" memory / "%" percent / "o" octal; for enums the ENUMS key
DIRECTIVES = [
    ('rdbchecksum', None, 'bool', 'I', None, None, 'yes', ''),
    ('daemonize', None, 'bool', 'I', None, None, 'no', ''),
    ('io-threads-do-reads', None, 'bool', 'I', None, None, 'no', ''),
    ('always-show-logo', None, 'bool', 'I', None, None, 'no', ''),
    ('protected-mode', None, 'bool', '', None, None, 'yes', ''),
    ('rdbcompression', None, 'bool', '', None, None, 'yes', ''),
    ('rdb-del-sync-files', None, 'bool', '', None, None, 'no', ''),
    ('activerehashing', None, 'bool', '', None, None, 'yes', ''),
    ('stop-writes-on-bgsave-error', None, 'bool', '', None, None, 'yes', ''),
    ('set-proc-title', None, 'bool', 'I', None, None, 'yes', ''),
    ('dynamic-hz', None, 'bool', '', None, None, 'yes', ''),
    ('lazyfree-lazy-eviction', None, 'bool', '', None, None, 'no', ''),
    ('lazyfree-lazy-expire', None, 'bool', '', None, None, 'no', ''),
    ('lazyfree-lazy-server-del', None, 'bool', '', None, None, 'no', ''),
    ('lazyfree-lazy-user-del', None, 'bool', '', None, None, 'no', ''),
    ('lazyfree-lazy-user-flush', None, 'bool', '', None, None, 'no', ''),
    ('repl-disable-tcp-nodelay', None, 'bool', '', None, None, 'no', ''),
    ('repl-diskless-sync', None, 'bool', '', None, None, 'yes', ''),
    ('aof-rewrite-incremental-fsync', None, 'bool', '', None, None, 'yes', ''),
    ('no-appendfsync-on-rewrite', None, 'bool', '', None, None, 'no', ''),
    ('cluster-require-full-coverage', None, 'bool', '', None, None, 'yes', ''),
    ('rdb-save-incremental-fsync', None, 'bool', '', None, None, 'yes', ''),
    ('aof-load-truncated', None, 'bool', '', None, None, 'yes', ''),
    ('aof-use-rdb-preamble', None, 'bool', '', None, None, 'yes', ''),
    ('aof-timestamp-enabled', None, 'bool', '', None, None, 'no', ''),
    ('cluster-replica-no-failover', 'cluster-slave-no-failover', 'bool', '', None, None, 'no', ''),
    ('replica-lazy-flush', 'slave-lazy-flush', 'bool', '', None, None, 'no', ''),
    ('replica-serve-stale-data', 'slave-serve-stale-data', 'bool', '', None, None, 'yes', ''),
    ('replica-read-only', 'slave-read-only', 'bool', '', None, None, 'yes', ''),
    ('replica-ignore-maxmemory', 'slave-ignore-maxmemory', 'bool', '', None, None, 'yes', ''),
    ('jemalloc-bg-thread', None, 'bool', '', None, None, 'yes', ''),
    ('activedefrag', None, 'bool', '', None, None, 'no', ''),
    ('syslog-enabled', None, 'bool', 'I', None, None, 'no', ''),
    ('cluster-enabled', None, 'bool', 'I', None, None, 'no', ''),
    ('appendonly', None, 'bool', 'D', None, None, 'no', ''),
    ('cluster-allow-reads-when-down', None, 'bool', '', None, None, 'no', ''),
    ('cluster-allow-pubsubshard-when-down', None, 'bool', '', None, None, 'yes', ''),
    ('crash-log-enabled', None, 'bool', '', None, None, 'yes', ''),
    ('crash-memcheck-enabled', None, 'bool', '', None, None, 'yes', ''),
    ('use-exit-on-panic', None, 'bool', 'H', None, None, 'no', ''),
    ('disable-thp', None, 'bool', 'I', None, None, 'yes', ''),
    ('cluster-allow-replica-migration', None, 'bool', '', None, None, 'yes', ''),
    ('replica-announced', None, 'bool', '', None, None, 'yes', ''),
    ('latency-tracking', None, 'bool', '', None, None, 'yes', ''),
    ('aof-disable-auto-gc', None, 'bool', 'H', None, None, 'no', ''),
    ('replica-ignore-disk-write-errors', None, 'bool', '', None, None, 'no', ''),
    ('aclfile', None, 'string', 'I', None, None, '', ''),
    ('unixsocket', None, 'string', 'IN', None, None, '', ''),
    ('pidfile', None, 'string', 'IN', None, None, '', ''),
    ('replica-announce-ip', 'slave-announce-ip', 'string', 'N', None, None, '', ''),
    ('masteruser', None, 'string', 'SN', None, None, '', ''),
    ('cluster-announce-ip', None, 'string', 'N', None, None, '', ''),
    ('cluster-config-file', None, 'string', 'I', None, None, 'nodes.conf', ''),
    ('cluster-announce-hostname', None, 'string', 'N', None, None, '', ''),
    ('cluster-announce-human-nodename', None, 'string', 'N', None, None, '', ''),
    ('syslog-ident', None, 'string', 'I', None, None, 'redis', ''),
    ('dbfilename', None, 'string', 'P', None, None, 'dump.rdb', ''),
    ('appendfilename', None, 'string', 'I', None, None, 'appendonly.aof', ''),
    ('appenddirname', None, 'string', 'I', None, None, 'appendonlydir', ''),
    ('server_cpulist', None, 'string', 'IN', None, None, '', ''),
    ('bio_cpulist', None, 'string', 'IN', None, None, '', ''),
    ('aof_rewrite_cpulist', None, 'string', 'IN', None, None, '', ''),
    ('bgsave_cpulist', None, 'string', 'IN', None, None, '', ''),
    ('ignore-warnings', None, 'string', '', None, None, '', ''),
    ('proc-title-template', None, 'string', '', None, None, '{title} {listen-addr} {server-mode}', ''),
    ('bind-source-addr', None, 'string', 'N', None, None, '', ''),
    ('logfile', None, 'string', 'I', None, None, '', ''),
    ('req-res-logfile', None, 'string', 'IHN', None, None, '', ''),
    ('locale-collate', None, 'string', '', None, None, '', ''),
    ('masterauth', None, 'string', 'SN', None, None, '', ''),
    ('requirepass', None, 'string', 'SN', None, None, '', ''),
    ('supervised', None, 'enum', 'I', None, None, 'no', 'supervised_mode_enum'),
    # valkeyd's own: the storage engine (``engine lmdb`` in the file; --engine on the command
    # line wins). Hidden: CONFIG GET * lists what Redis lists.
    ('engine', None, 'enum', 'IH', None, None, 'memory', 'engine_enum'),
    # valkeyd's own: the lmdb engine's map size, the most its environment may hold (1tb of
    # address space by default: the file only grows as data is written)
    ('lmdb-map-size', None, 'ull', 'H', 1 << 20, ULLONG_MAX, 1 << 40, 'm'),
    ('syslog-facility', None, 'enum', 'I', None, None, 'local0', 'syslog_facility_enum'),
    ('repl-diskless-load', None, 'enum', 'D', None, None, 'disabled', 'repl_diskless_load_enum'),
    ('loglevel', None, 'enum', '', None, None, 'notice', 'loglevel_enum'),
    ('maxmemory-policy', None, 'enum', '', None, None, 'noeviction', 'maxmemory_policy_enum'),
    ('appendfsync', None, 'enum', '', None, None, 'everysec', 'aof_fsync_enum'),
    ('oom-score-adj', None, 'enum', '', None, None, 'no', 'oom_score_adj_enum'),
    ('acl-pubsub-default', None, 'enum', '', None, None, 'resetchannels', 'acl_pubsub_default_enum'),
    ('sanitize-dump-payload', None, 'enum', '', None, None, 'no', 'sanitize_dump_payload_enum'),
    ('enable-protected-configs', None, 'enum', 'I', None, None, 'no', 'protected_action_enum'),
    ('enable-debug-command', None, 'enum', 'I', None, None, 'no', 'protected_action_enum'),
    ('enable-module-command', None, 'enum', 'I', None, None, 'no', 'protected_action_enum'),
    ('cluster-preferred-endpoint-type', None, 'enum', '', None, None, 'ip', 'cluster_preferred_endpoint_type_enum'),
    ('propagation-error-behavior', None, 'enum', '', None, None, 'ignore', 'propagation_error_behavior_enum'),
    ('shutdown-on-sigint', None, 'enum', 'M', None, None, 'default', 'shutdown_on_sig_enum'),
    ('shutdown-on-sigterm', None, 'enum', 'M', None, None, 'default', 'shutdown_on_sig_enum'),
    ('databases', None, 'int', 'I', 1, INT_MAX, 16, ''),
    ('port', None, 'int', '', 0, 65535, 6379, ''),
    ('io-threads', None, 'int', 'I', 1, 128, 1, ''),
    ('auto-aof-rewrite-percentage', None, 'int', '', 0, INT_MAX, 100, ''),
    ('cluster-replica-validity-factor', 'cluster-slave-validity-factor', 'int', '', 0, INT_MAX, 10, ''),
    ('list-max-listpack-size', 'list-max-ziplist-size', 'int', '', INT_MIN, INT_MAX, -2, ''),
    ('tcp-keepalive', None, 'int', '', 0, INT_MAX, 300, ''),
    ('cluster-migration-barrier', None, 'int', '', 0, INT_MAX, 1, ''),
    ('active-defrag-cycle-min', None, 'int', '', 1, 99, 1, ''),
    ('active-defrag-cycle-max', None, 'int', '', 1, 99, 25, ''),
    ('active-defrag-threshold-lower', None, 'int', '', 0, 1000, 10, ''),
    ('active-defrag-threshold-upper', None, 'int', '', 0, 1000, 100, ''),
    ('lfu-log-factor', None, 'int', '', 0, INT_MAX, 10, ''),
    ('lfu-decay-time', None, 'int', '', 0, INT_MAX, 1, ''),
    ('replica-priority', 'slave-priority', 'int', '', 0, INT_MAX, 100, ''),
    ('repl-diskless-sync-delay', None, 'int', '', 0, INT_MAX, 5, ''),
    ('maxmemory-samples', None, 'int', '', 1, INT_MAX, 5, ''),
    ('maxmemory-eviction-tenacity', None, 'int', '', 0, 100, 10, ''),
    ('timeout', None, 'int', '', 0, INT_MAX, 0, ''),
    ('replica-announce-port', 'slave-announce-port', 'int', '', 0, 65535, 0, ''),
    ('tcp-backlog', None, 'int', 'I', 0, INT_MAX, 511, ''),
    ('cluster-port', None, 'int', 'I', 0, 65535, 0, ''),
    ('cluster-announce-bus-port', None, 'int', '', 0, 65535, 0, ''),
    ('cluster-announce-port', None, 'int', '', 0, 65535, 0, ''),
    ('cluster-announce-tls-port', None, 'int', '', 0, 65535, 0, ''),
    ('repl-timeout', None, 'int', '', 1, INT_MAX, 60, ''),
    ('repl-ping-replica-period', 'repl-ping-slave-period', 'int', '', 1, INT_MAX, 10, ''),
    ('list-compress-depth', None, 'int', '', 0, INT_MAX, 0, ''),
    ('rdb-key-save-delay', None, 'int', 'H', INT_MIN, INT_MAX, 0, ''),
    ('key-load-delay', None, 'int', 'H', INT_MIN, INT_MAX, 0, ''),
    ('active-expire-effort', None, 'int', '', 1, 10, 1, ''),
    ('hz', None, 'int', '', 0, INT_MAX, 10, ''),
    ('min-replicas-to-write', 'min-slaves-to-write', 'int', '', 0, INT_MAX, 0, ''),
    ('min-replicas-max-lag', 'min-slaves-max-lag', 'int', '', 0, INT_MAX, 10, ''),
    ('watchdog-period', None, 'int', 'H', 0, INT_MAX, 0, ''),
    ('shutdown-timeout', None, 'int', '', 0, INT_MAX, 10, ''),
    ('repl-diskless-sync-max-replicas', None, 'int', '', 0, INT_MAX, 0, ''),
    ('maxclients', None, 'uint', '', 1, UINT_MAX, 10000, ''),
    ('unixsocketperm', None, 'uint', 'I', 0, 511, 0, 'o'),
    ('socket-mark-id', None, 'uint', 'I', 0, UINT_MAX, 0, ''),
    ('client-default-resp', None, 'uint', 'IH', 2, 3, 2, ''),
    ('active-defrag-max-scan-fields', None, 'ulong', '', 1, LLONG_MAX, 1000, ''),
    ('slowlog-max-len', None, 'ulong', '', 0, LLONG_MAX, 128, ''),
    ('acllog-max-len', None, 'ulong', '', 0, LLONG_MAX, 128, ''),
    ('busy-reply-threshold', 'lua-time-limit', 'll', '', 0, LLONG_MAX, 5000, ''),
    ('cluster-node-timeout', None, 'll', '', 0, LLONG_MAX, 15000, ''),
    ('cluster-ping-interval', None, 'll', 'H', 0, LLONG_MAX, 0, ''),
    ('slowlog-log-slower-than', None, 'll', '', -1, LLONG_MAX, 10000, ''),
    ('latency-monitor-threshold', None, 'll', '', 0, LLONG_MAX, 0, ''),
    ('proto-max-bulk-len', None, 'll', '', 1048576, LLONG_MAX, 536870912, 'm'),
    ('stream-node-max-entries', None, 'll', '', 0, LLONG_MAX, 100, ''),
    ('repl-backlog-size', None, 'll', '', 1, LLONG_MAX, 1048576, 'm'),
    ('maxmemory', None, 'ull', '', 0, ULLONG_MAX, 0, 'm'),
    ('cluster-link-sendbuf-limit', None, 'ull', '', 0, ULLONG_MAX, 0, 'm'),
    ('hash-max-listpack-entries', 'hash-max-ziplist-entries', 'size_t', '', 0, LLONG_MAX, 512, ''),
    ('set-max-intset-entries', None, 'size_t', '', 0, LLONG_MAX, 512, ''),
    ('set-max-listpack-entries', None, 'size_t', '', 0, LLONG_MAX, 128, ''),
    ('set-max-listpack-value', None, 'size_t', '', 0, LLONG_MAX, 64, ''),
    ('zset-max-listpack-entries', 'zset-max-ziplist-entries', 'size_t', '', 0, LLONG_MAX, 128, ''),
    ('active-defrag-ignore-bytes', None, 'size_t', '', 1, LLONG_MAX, 104857600, 'm'),
    ('hash-max-listpack-value', 'hash-max-ziplist-value', 'size_t', '', 0, LLONG_MAX, 64, 'm'),
    ('stream-node-max-bytes', None, 'size_t', '', 0, LLONG_MAX, 4096, 'm'),
    ('zset-max-listpack-value', 'zset-max-ziplist-value', 'size_t', '', 0, LLONG_MAX, 64, 'm'),
    ('hll-sparse-max-bytes', None, 'size_t', '', 0, LLONG_MAX, 3000, 'm'),
    ('tracking-table-max-keys', None, 'size_t', '', 0, LLONG_MAX, 1000000, ''),
    ('client-query-buffer-limit', None, 'size_t', '', 1048576, LLONG_MAX, 1073741824, 'm'),
    ('maxmemory-clients', None, 'ssize_t', '', -100, LLONG_MAX, 0, 'm%'),
    ('repl-backlog-ttl', None, 'time_t', '', 0, LLONG_MAX, 3600, ''),
    ('auto-aof-rewrite-min-size', None, 'off_t', '', 0, LLONG_MAX, 67108864, 'm'),
    ('loading-process-events-interval-bytes', None, 'off_t', 'H', 1024, INT_MAX, 2097152, ''),
    ('tls-port', None, 'int', '', 0, 65535, 0, ''),
    ('tls-session-cache-size', None, 'int', '', 0, INT_MAX, 20480, ''),
    ('tls-session-cache-timeout', None, 'int', '', 0, INT_MAX, 300, ''),
    ('tls-cluster', None, 'bool', '', None, None, 'no', ''),
    ('tls-replication', None, 'bool', '', None, None, 'no', ''),
    ('tls-auth-clients', None, 'enum', '', None, None, 'yes', 'tls_auth_clients_enum'),
    ('tls-prefer-server-ciphers', None, 'bool', '', None, None, 'no', ''),
    ('tls-session-caching', None, 'bool', '', None, None, 'yes', ''),
    ('tls-cert-file', None, 'string', 'N', None, None, '', ''),
    ('tls-key-file', None, 'string', 'N', None, None, '', ''),
    ('tls-key-file-pass', None, 'string', 'N', None, None, '', ''),
    ('tls-client-cert-file', None, 'string', 'N', None, None, '', ''),
    ('tls-client-key-file', None, 'string', 'N', None, None, '', ''),
    ('tls-client-key-file-pass', None, 'string', 'N', None, None, '', ''),
    ('tls-dh-params-file', None, 'string', 'N', None, None, '', ''),
    ('tls-ca-cert-file', None, 'string', 'N', None, None, '', ''),
    ('tls-ca-cert-dir', None, 'string', 'N', None, None, '', ''),
    ('tls-protocols', None, 'string', 'N', None, None, '', ''),
    ('tls-ciphers', None, 'string', 'N', None, None, '', ''),
    ('tls-ciphersuites', None, 'string', 'N', None, None, '', ''),
    ('dir', None, 'special', 'PD', None, None, None, ''),
    ('save', None, 'special', 'M', None, None, None, ''),
    ('client-output-buffer-limit', None, 'special', 'M', None, None, None, ''),
    ('oom-score-adj-values', None, 'special', 'M', None, None, None, ''),
    ('notify-keyspace-events', None, 'special', '', None, None, None, ''),
    ('bind', None, 'special', 'M', None, None, None, ''),
    ('replicaof', 'slaveof', 'special', 'IM', None, None, None, ''),
    ('latency-tracking-info-percentiles', None, 'special', 'M', None, None, None, ''),
]

# Accepted (and shown by CONFIG GET) but meaningless for a Python server: a file that sets one
# of them gets one startup note saying so.
NO_EFFECT = frozenset((
    "jemalloc-bg-thread", "io-threads", "io-threads-do-reads", "activedefrag",
    "active-defrag-cycle-min", "active-defrag-cycle-max", "active-defrag-threshold-lower",
    "active-defrag-threshold-upper", "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields", "server_cpulist", "bio_cpulist", "aof_rewrite_cpulist",
    "bgsave_cpulist", "disable-thp", "oom-score-adj", "oom-score-adj-values", "set-proc-title",
    "proc-title-template", "syslog-enabled", "syslog-ident", "syslog-facility", "supervised",
    "crash-log-enabled", "crash-memcheck-enabled", "use-exit-on-panic", "socket-mark-id",
    "always-show-logo", "activerehashing", "dynamic-hz", "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire", "lazyfree-lazy-server-del", "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush", "replica-lazy-flush", "rdb-save-incremental-fsync",
    "aof-rewrite-incremental-fsync", "locale-collate", "tls-port", "tls-cert-file",
    "tls-key-file", "tls-key-file-pass", "tls-client-cert-file", "tls-client-key-file",
    "tls-client-key-file-pass", "tls-dh-params-file", "tls-ca-cert-file", "tls-ca-cert-dir",
    "tls-protocols", "tls-ciphers", "tls-ciphersuites", "tls-prefer-server-ciphers",
    "tls-session-caching", "tls-session-cache-size", "tls-session-cache-timeout",
    "tls-cluster", "tls-replication", "tls-auth-clients", "cluster-enabled",
    "cluster-config-file", "cluster-node-timeout", "cluster-port", "cluster-announce-ip",
    "cluster-announce-port", "cluster-announce-bus-port", "cluster-announce-tls-port",
    "cluster-announce-hostname", "cluster-announce-human-nodename",
    "cluster-require-full-coverage", "cluster-replica-no-failover",
    "cluster-replica-validity-factor", "cluster-migration-barrier",
    "cluster-allow-replica-migration", "cluster-allow-reads-when-down",
    "cluster-allow-pubsubshard-when-down", "cluster-link-sendbuf-limit",
    "cluster-preferred-endpoint-type", "cluster-ping-interval", "watchdog-period",
    "maxmemory-clients", "ignore-warnings", "bind-source-addr", "tcp-backlog",
    "loading-process-events-interval-bytes", "key-load-delay", "rdb-key-save-delay",
))

# Removed directives Redis still accepts (silently) with exactly one argument.
DEPRECATED = frozenset(("list-max-ziplist-entries", "list-max-ziplist-value",
                        "lua-replicate-commands"))

DEFAULT_SAVE = [(3600, 1), (300, 100), (60, 10000)]
OBUF_CLASSES = ("normal", "slave", "pubsub")
DEFAULT_OBUF = {"normal": (0, 0, 0), "slave": (268435456, 67108864, 60),
                "pubsub": (33554432, 8388608, 60)}
DEFAULT_OOM = (0, 200, 800)
DEFAULT_BIND = ["*", "-::*"]
DEFAULT_PERCENTILES = [50.0, 99.0, 99.9]
REWRITE_SIGNATURE = "# Generated by CONFIG REWRITE"

# notify-keyspace-events classes (notify.c)
NOTIFY_FLAGS = {"K": 1, "E": 2, "g": 4, "$": 8, "l": 16, "s": 32, "h": 64, "z": 128,
                "x": 256, "e": 512, "t": 1024, "m": 2048, "d": 8192, "n": 16384}
NOTIFY_ALL = 4 | 8 | 16 | 32 | 64 | 128 | 256 | 512 | 1024 | 8192


def notify_flags(classes: str) -> int | None:
    """``keyspaceEventsStringToFlags``: None for an unknown class character."""
    flags = 0
    for ch in classes:
        if ch == "A":
            flags |= NOTIFY_ALL
        else:
            f = NOTIFY_FLAGS.get(ch)
            if f is None:
                return None
            flags |= f
    return flags


def notify_string(flags: int) -> str:
    """``keyspaceEventsFlagsToString``."""
    out = []
    if flags & NOTIFY_ALL == NOTIFY_ALL:
        out.append("A")
    else:
        for ch in "g$lshzxetdn":
            if flags & NOTIFY_FLAGS[ch]:
                out.append(ch)
    for ch in "KEm":
        if flags & NOTIFY_FLAGS[ch]:
            out.append(ch)
    return "".join(out)


class Directive:
    __slots__ = ("name", "alias", "type", "immutable", "hidden", "sensitive", "protected",
                 "multi", "deny_loading", "null_empty", "lo", "hi", "default", "memory",
                 "percent", "octal", "enum", "numeric")

    def __init__(self, name, alias, typ, flags, lo, hi, default, extra):
        self.name, self.alias, self.type = name, alias, typ
        self.immutable = "I" in flags
        self.hidden = "H" in flags
        self.sensitive = "S" in flags
        self.protected = "P" in flags
        self.multi = "M" in flags
        self.deny_loading = "D" in flags
        self.null_empty = "N" in flags
        self.lo, self.hi = lo, hi
        self.numeric = typ not in ("bool", "string", "enum", "special")
        self.memory = self.numeric and "m" in extra
        self.percent = self.numeric and "%" in extra
        self.octal = self.numeric and "o" in extra
        self.enum = ENUMS[extra] if typ == "enum" else None
        self.default = default

    def __repr__(self):
        return f"<Directive {self.name}>"


_PRIMARY: list[Directive] = [Directive(*row) for row in DIRECTIVES]
_BY_NAME: dict[str, Directive] = {}
for _d in _PRIMARY:
    _BY_NAME[_d.name] = _d
    if _d.alias:
        _BY_NAME[_d.alias] = _d
del _d


def lookup(name: str) -> Directive | None:
    """``lookupConfig``: names and aliases, case-insensitive."""
    d = _BY_NAME.get(name)
    if d is None:
        d = _BY_NAME.get(name.lower())
    return d


# -- C parsing helpers -------------------------------------------------------------------------
_CSPACE = " \t\n\v\f\r"
_MEM_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
              "g": 1000**3, "gb": 1024**3}


def memtoull(s: str) -> int | None:
    """Redis's ``memtoull``: digits then an optional unit (b k kb m mb g gb); None on error."""
    if s.startswith("-"):
        return None
    i = 0
    n = len(s)
    while i < n and "0" <= s[i] <= "9":
        i += 1
    mul = _MEM_UNITS.get(s[i:].lower())
    if mul is None or i >= 128:
        return None
    v = int(s[:i]) if i else 0
    return (min(v, ULLONG_MAX) * mul) & ULLONG_MAX


def parse_memory(v: str) -> int:
    """A memory value as Redis reads it (compatibility helper: raises ValueError)."""
    r = memtoull(str(v).strip())
    if r is None:
        return int(v)
    return r


def strtoll_full(s: str, base: int = 10) -> int | None:
    """``strtoll(s, &end, base)`` that must consume the whole string (as Redis checks
    ``*end == '\\0'``). An empty string reads as 0, like C."""
    if s == "":
        return 0
    t = s.lstrip(_CSPACE)
    neg = False
    if t[:1] in ("+", "-"):
        neg = t[0] == "-"
        t = t[1:]
    digits = "01234567" if base == 8 else "0123456789"
    if not t or any(c not in digits for c in t):
        return None
    v = int(t, base)
    v = -v if neg else v
    return max(-LLONG_MAX - 1, min(LLONG_MAX, v))


def string2d(s: str) -> float | None:
    if not s or s[0] in _CSPACE or s[-1] in _CSPACE or "_" in s:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    if v != v:
        return None
    return v


def format_percentile(p: float) -> str:
    s = "%f" % p
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def format_memory(v: int) -> str:
    """``rewriteConfigFormatMemory``."""
    for unit, size in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if v and v % size == 0:
            return f"{v // size}{unit}"
    return str(v)


def sds_repr(s: str) -> str:
    """``sdscatrepr`` of a config value."""
    return catrepr(s)


def _decode(b) -> str:
    return b.decode("utf-8", "surrogateescape") if isinstance(b, (bytes, bytearray)) else b


def _basename_ok(v: str) -> bool:
    return "/" not in v and "\\" not in v


_AUX_OK = set("!#$%&()*+:;<>?@[]^{|}~")
_TITLE_VARS = ("{title}", "{listen-addr}", "{server-mode}", "{port}", "{tls-port}",
               "{unixsocket}", "{config-file}")


def _valid_title_template(v: str) -> bool:
    rest = v
    for var in _TITLE_VARS:
        rest = rest.replace(var, "")
    if "{" in rest or "}" in rest:
        return False
    return v.strip() != "" and "{title}" in v


def _string_check(d: Directive, v: str) -> str | None:
    n = d.name
    if n == "dbfilename" and not _basename_ok(v):
        return "dbfilename can't be a path, just a filename"
    if n == "appendfilename":
        if v == "":
            return "appendfilename can't be empty"
        if not _basename_ok(v):
            return "appendfilename can't be a path, just a filename"
    if n == "appenddirname":
        if v == "":
            return "appenddirname can't be empty"
        if not _basename_ok(v):
            return "appenddirname can't be a path, just a dirname"
    if n == "cluster-announce-hostname":
        if len(v) >= 256:
            return "Hostnames must be less than 256 characters"
        if any(not (c.isascii() and (c.isalnum() or c in "-.")) for c in v):
            return "Hostnames may only contain alphanumeric characters, hyphens or dots"
    if n == "cluster-announce-human-nodename":
        if any(not (c.isascii() and (c.isalnum() or c in _AUX_OK)) for c in v):
            return "Announced human node name contained invalid character"
    if n == "proc-title-template" and not _valid_title_template(v):
        return "template format is invalid or contains unknown variables"
    if n == "locale-collate":
        import locale
        try:
            locale.setlocale(locale.LC_COLLATE, v)
        except locale.Error:
            return "Invalid locale name"
    return None


class Config:
    """The server's configuration. ``values`` holds every primary directive as CONFIG GET
    prints it; ``ints`` the numeric ones as integers."""

    def __init__(self):
        self.values: dict[str, str] = {}
        self.ints: dict[str, int] = {}
        for d in _PRIMARY:
            if d.type == "special":
                continue
            if d.numeric:
                self.ints[d.name] = d.default
                self.values[d.name] = self._fmt_numeric(d, d.default)
            elif d.type == "bool":
                self.values[d.name] = d.default
                self.ints[d.name] = 1 if d.default == "yes" else 0
            else:
                self.values[d.name] = d.default
        self.save_params: list[tuple[int, int]] = list(DEFAULT_SAVE)
        self.obuf_limits: dict[str, tuple[int, int, int]] = dict(DEFAULT_OBUF)
        self.oom_values = DEFAULT_OOM
        self.notify_keyspace_events = 0
        self.bind_addrs: list[str] = list(DEFAULT_BIND)
        self.master: tuple[str, int] | None = None
        self.percentiles: list[float] = list(DEFAULT_PERCENTILES)
        for name in ("dir", "save", "client-output-buffer-limit", "oom-score-adj-values",
                     "notify-keyspace-events", "bind", "replicaof",
                     "latency-tracking-info-percentiles"):
            self._refresh_special(name)
        self.config_file: str | None = None
        self.from_stdin = False
        self.explicit: set[str] = set()      # directives set by the file or the arguments
        self.renamed: list[tuple[str, str]] = []
        self.users: list[list[str]] = []     # "user" lines for the ACL module
        self.modules: list[list[str]] = []   # "loadmodule" lines
        self.module_configs: dict[str, str] = {}
        self.acl_rewrite_lines = None        # fn() -> list of "user ..." lines (ACL module)
        self._listeners: dict[str, list] = {}
        self._reading_file = False
        self._save_loaded = False

    # -- reading values ----------------------------------------------------------------------
    def get(self, name: str) -> str:
        v = self.values.get(name)
        if v is not None:
            return v
        d = lookup(name)
        if d is None:
            raise KeyError(name)
        if d.name == "dir":
            return self._get_dir()
        return self.values[d.name]

    def get_int(self, name: str) -> int:
        v = self.ints.get(name)
        if v is not None:
            return v
        d = lookup(name)
        if d is not None and d.name in self.ints:
            return self.ints[d.name]
        return parse_memory(self.get(name))

    def get_bool(self, name: str) -> bool:
        return self.get(name) == "yes"

    @staticmethod
    def _get_dir() -> str:
        try:
            return os.getcwd()
        except OSError:
            return ""

    def matching(self, pattern: str):
        """(name, value) of every non-hidden directive (aliases included) matching a glob."""
        out = []
        for name, d in _BY_NAME.items():
            if not d.hidden and _match(pattern, name):
                out.append((name, self.get(d.name)))
        return out

    def config_get(self, patterns) -> dict:
        """CONFIG GET: exact names keep the caller's spelling; globs skip hidden ones."""
        found: dict[str, str] = {}
        seen: set[str] = set()
        for p in patterns:
            if not any(c in p for c in "[*?"):
                d = lookup(p)
                if d is not None and p.lower() not in seen:
                    seen.add(p.lower())
                    found[p] = self.get(d.name)
                continue
            for name, d in _BY_NAME.items():
                if d.hidden or name in seen:
                    continue
                if _match(p, name):
                    seen.add(name)
                    found[name] = self.get(d.name)
        return found

    def notify_flags(self) -> int:
        return self.notify_keyspace_events

    # -- listeners ---------------------------------------------------------------------------
    def on_change(self, name: str, fn) -> None:
        """Call ``fn(value)`` after ``name`` changes (CONFIG SET, ``set``). A listener may
        raise ConfigError to refuse the change (CONFIG SET then restores every value)."""
        d = lookup(name)
        self._listeners.setdefault(d.name if d else name, []).append(fn)

    def _notify(self, name: str) -> None:
        for fn in self._listeners.get(name, ()):
            fn(self.get(name))

    # -- setting values ----------------------------------------------------------------------
    def set(self, name: str, value) -> None:
        """Set a directive from its CONFIG SET form (multi-argument values split on spaces)
        and run its listeners. Raises ConfigError with Redis's message."""
        d = lookup(_decode(name))
        if d is None:
            raise ConfigError("Bad directive or wrong number of arguments")
        if self._set_value(d, self._split_value(d, _decode(value))):
            self._notify(d.name)

    @staticmethod
    def _split_value(d: Directive, value: str) -> list[str]:
        if d.multi:
            return value.split(" ") if value else []
        return [value]

    def _fmt_numeric(self, d: Directive, v: int) -> str:
        if d.percent and v < 0:
            return f"{-v}%"
        if d.memory:
            return str(v & ULLONG_MAX)
        if d.octal:
            return format(v, "o")
        return str(v)

    def _set_value(self, d: Directive, args: list[str]) -> bool:
        """Validate and store; True when the value changed. Raises ConfigError."""
        t = d.type
        if t == "special":
            return self._set_special(d, args)
        if t != "enum" and len(args) != 1:
            raise ConfigError("wrong number of arguments")
        a = args[0] if args else ""
        name = d.name
        if t == "bool":
            low = a.lower()
            if low not in ("yes", "no"):
                raise ConfigError("argument must be 'yes' or 'no'")
            changed = self.values[name] != low
            self.values[name] = low
            self.ints[name] = 1 if low == "yes" else 0
            return changed
        if t == "string":
            err = _string_check(d, a)
            if err:
                raise ConfigError(err)
            changed = self.values[name] != a
            self.values[name] = a
            return changed
        if t == "enum":
            val = self._enum_value(d, args)
            if name.startswith("shutdown-on-sig") and val & 1 and val & 2:
                raise ConfigError("shutdown options SAVE and NOSAVE can't be used simultaneously")
            s = self._enum_name(d, val)
            changed = self.values[name] != s
            self.values[name] = s
            self.ints[name] = val
            return changed
        v = self._parse_numeric(d, a)
        self._check_bounds(d, v)
        if t in _UNSIGNED:
            v &= ULLONG_MAX
        if name == "hz":
            v = 1 if v < 1 else (500 if v > 500 else v)
        changed = self.ints[name] != v
        self.ints[name] = v
        self.values[name] = self._fmt_numeric(d, v)
        return changed

    @staticmethod
    def _enum_value(d: Directive, args: list[str]) -> int:
        bit = d.multi
        if not args or (not bit and len(args) != 1):
            val = None
        else:
            val = 0
            for a in args:
                low = a.lower()
                hit = False
                for ename, ev in d.enum:
                    if ename == low:
                        val |= ev
                        hit = True
                if not hit:
                    val = None
                    break
        if val is None:
            msg = "argument(s) must be one of the following: " + ", ".join(n for n, _ in d.enum)
            raise ConfigError(msg[:255])
        return val

    @staticmethod
    def _enum_name(d: Directive, val: int) -> str:
        names = []
        unmatched = val
        for ename, ev in d.enum:
            if ev == val:
                return ename
            if d.multi and ev and ev == (unmatched & ev):
                names.append(ename)
                unmatched &= ~ev
        if not names or unmatched:
            return "unknown"
        return " ".join(names)

    @staticmethod
    def _parse_numeric(d: Directive, s: str) -> int:
        if d.memory:
            v = memtoull(s)
            if v is not None:
                return v - (1 << 64) if v > LLONG_MAX else v
        if d.percent and len(s) > 1 and s[-1] == "%":
            v = string2ll(s[:-1].encode("utf-8", "surrogateescape"))
            if v is not None and v >= 0:
                return -v
        if d.octal:
            v = strtoll_full(s, 8)
            if v is not None:
                return v
        if not (d.memory or d.percent or d.octal):
            v = string2ll(s.encode("utf-8", "surrogateescape"))
            if v is not None:
                return v
        if d.memory and d.percent:
            raise ConfigError("argument must be a memory or percent value")
        if d.memory:
            raise ConfigError("argument must be a memory value")
        if d.octal:
            raise ConfigError("argument couldn't be parsed as an octal number")
        raise ConfigError("argument couldn't be parsed into an integer")

    @staticmethod
    def _check_bounds(d: Directive, v: int) -> None:
        lo, hi = d.lo, d.hi
        if d.type in _UNSIGNED:
            u = v & ULLONG_MAX
            ulo, uhi = lo & ULLONG_MAX, hi & ULLONG_MAX
            if u > uhi or u < ulo:
                if d.octal:
                    raise ConfigError("argument must be between %o and %o inclusive" % (ulo, uhi))
                raise ConfigError("argument must be between %d and %d inclusive" % (ulo, uhi))
            return
        if d.percent and v < 0:
            if v < lo:
                raise ConfigError("percentage argument must be less or equal to %d" % -lo)
        elif v > hi or v < lo:
            raise ConfigError("argument must be between %d and %d inclusive" % (lo, hi))

    # -- special directives ------------------------------------------------------------------
    def _refresh_special(self, name: str) -> None:
        if name == "save":
            self.values["save"] = " ".join(f"{s} {c}" for s, c in self.save_params)
        elif name == "client-output-buffer-limit":
            self.values[name] = " ".join(
                "%s %d %d %d" % ((cls,) + self.obuf_limits[cls]) for cls in OBUF_CLASSES)
        elif name == "oom-score-adj-values":
            self.values[name] = " ".join(str(v) for v in self.oom_values)
        elif name == "notify-keyspace-events":
            self.values[name] = notify_string(self.notify_keyspace_events)
        elif name == "bind":
            self.values[name] = " ".join(self.bind_addrs)
        elif name == "replicaof":
            self.values[name] = "%s %d" % self.master if self.master else ""
        elif name == "latency-tracking-info-percentiles":
            self.values[name] = " ".join(format_percentile(p) for p in self.percentiles)

    def _set_special(self, d: Directive, args: list[str]) -> bool:
        name = d.name
        old = self.values.get(name)
        if name == "dir":
            if len(args) != 1:
                raise ConfigError("wrong number of arguments")
            try:
                os.chdir(args[0])
            except OSError as e:
                raise ConfigError(e.strerror or str(e)) from None
            return True
        if name == "save":
            if len(args) == 1 and args[0] == "":
                self.save_params = []
                args = []
            if len(args) & 1:
                raise ConfigError("Invalid save parameters")
            parsed = []
            for j, a in enumerate(args):
                v = strtoll_full(a)
                if v is None or (j & 1 == 0 and v < 1) or (j & 1 and v < 0):
                    raise ConfigError("Invalid save parameters")
                parsed.append(v)
            if not self._reading_file or not self._save_loaded:
                self._save_loaded = self._reading_file or self._save_loaded
                self.save_params = []
            self.save_params = self.save_params + [
                (parsed[j], parsed[j + 1]) for j in range(0, len(parsed), 2)]
        elif name == "client-output-buffer-limit":
            if len(args) % 4:
                raise ConfigError("Wrong number of arguments in buffer limit configuration.")
            new = {}
            for j in range(0, len(args), 4):
                cls = args[j].lower()
                cls = "slave" if cls == "replica" else cls
                if cls not in OBUF_CLASSES:
                    raise ConfigError("Invalid client class specified in buffer limit "
                                      "configuration.")
                hard, soft = memtoull(args[j + 1]), memtoull(args[j + 2])
                secs = strtoll_full(args[j + 3])
                if hard is None or soft is None or secs is None or secs < 0:
                    raise ConfigError("Error in hard, soft or soft_seconds setting in buffer "
                                      "limit configuration.")
                new[cls] = (hard, soft, secs)
            self.obuf_limits = {**self.obuf_limits, **new}
        elif name == "oom-score-adj-values":
            if len(args) != 3:
                raise ConfigError("wrong number of arguments")
            vals = []
            for a in args:
                v = strtoll_full(a)
                if v is None or v < -2000 or v > 2000:
                    raise ConfigError("Invalid oom-score-adj-values, elements must be between "
                                      "-2000 and 2000.")
                vals.append(v)
            self.oom_values = tuple(vals)
        elif name == "notify-keyspace-events":
            if len(args) != 1:
                raise ConfigError("wrong number of arguments")
            f = notify_flags(args[0])
            if f is None:
                raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
            self.notify_keyspace_events = f
        elif name == "bind":
            if len(args) > 16:
                raise ConfigError("Too many bind addresses specified.")
            if len(args) == 1 and args[0] == "":
                args = []
            self.bind_addrs = list(args)
        elif name == "replicaof":
            if len(args) != 2:
                raise ConfigError("wrong number of arguments")
            self.master = None
            if args[0].lower() != "no" or args[1].lower() != "one":
                port = strtoll_full(args[1])
                if port is None or port < 0 or port > 65535 or args[1] == "":
                    self._refresh_special(name)
                    raise ConfigError("Invalid master port")
                self.master = (args[0], port)
        elif name == "latency-tracking-info-percentiles":
            if len(args) == 1 and args[0] == "":
                args = []
            vals = []
            for a in args:
                p = string2d(a)
                if p is None:
                    self.percentiles = []
                    self._refresh_special(name)
                    raise ConfigError("Invalid latency-tracking-info-percentiles parameters")
                if p > 100.0 or p < 0.0:
                    self.percentiles = []
                    self._refresh_special(name)
                    raise ConfigError("latency-tracking-info-percentiles parameters should "
                                      "sit between [0.0,100.0]")
                vals.append(p)
            self.percentiles = vals
        self._refresh_special(name)
        return True if name in ("save", "client-output-buffer-limit", "bind", "replicaof",
                                "notify-keyspace-events",
                                "latency-tracking-info-percentiles") else old != self.values[name]

    # -- CONFIG SET --------------------------------------------------------------------------
    def config_set(self, pairs, protected_ok: bool = False, loading: bool = False) -> str | None:
        """CONFIG SET of several (name, value) pairs, all or nothing (``configSetCommand``).
        Returns None on success or the error reply text."""
        invalid_arg = None
        err = None
        err_arg = None
        invalid = deny_loading = False
        chosen: list[Directive] = []
        names: list[str] = []   # the matched name (an alias stays an alias in errors)
        for name, _value in pairs:
            d = lookup(name)
            if d is None:
                if not invalid:
                    invalid_arg = name
                    invalid = True
                continue
            if invalid:
                continue
            if d.immutable or (d.protected and not protected_ok):
                err = "can't set immutable config" if d.immutable else "can't set protected config"
                err_arg = name
                invalid = True
                continue
            if loading and d.deny_loading:
                deny_loading = invalid = True
                continue
            if d in chosen:
                err = "duplicate parameter"
                err_arg = name
                invalid = True
            chosen.append(d)
            names.append(name.lower())
        if not invalid:
            old = [self.get(d.name) for d in chosen]
            changed: list[Directive] = []
            for i, (d, (_n, value)) in enumerate(zip(chosen, pairs)):
                try:
                    if self._set_value(d, self._split_value(d, value)):
                        changed.append(d)
                except ConfigError as e:
                    self._restore(chosen[:i + 1], old[:i + 1])
                    err, err_arg = str(e), names[i]
                    break
            else:
                for d in changed:
                    dname = names[chosen.index(d)]
                    try:
                        for fn in self._listeners.get(d.name, ()):
                            fn(self.get(d.name))
                    except ConfigError as e:
                        from .log import log
                        log.warning("Failed applying new configuration. Possibly related to new "
                                    f"{dname} setting. Restoring previous settings.")
                        self._restore(chosen, old)
                        for d2 in changed:
                            try:
                                self._notify(d2.name)
                            except ConfigError as e2:
                                log.warning("Failed applying restored failed CONFIG SET "
                                            f"command: {e2}")
                        err, err_arg = str(e), dname
                        break
                else:
                    return None
        if deny_loading:
            return "LOADING Redis is loading the dataset in memory"
        if invalid_arg is not None:
            return f"ERR Unknown option or number of arguments for CONFIG SET - '{invalid_arg}'"
        if err:
            return f"ERR CONFIG SET failed (possibly related to argument '{err_arg}') - {err}"
        return f"ERR CONFIG SET failed (possibly related to argument '{err_arg}')"

    def _restore(self, directives, values) -> None:
        for d, v in zip(directives, values):
            try:
                self._set_value(d, self._split_value(d, v))
            except ConfigError as e:
                from .log import log
                log.warning(f"Failed restoring failed CONFIG SET command. Error setting "
                            f"{d.name} to '{v}': {e}")

    # -- loading -----------------------------------------------------------------------------
    def load(self, filename: str | None = None, from_stdin: bool = False,
             args: list[str] | None = None, stdin_text: str | None = None) -> None:
        """``loadServerConfig``: file, then stdin, then the ``--name value`` options, parsed
        as one text. Raises ConfigError (the FATAL block) on the first bad line."""
        text = ""
        if filename is not None:
            self.config_file = os.path.abspath(filename)
            text = self._read_config(filename)
        if from_stdin:
            from .log import log
            log.notice("Reading config from stdin")
            self.from_stdin = True
            text += stdin_text if stdin_text is not None else __import__("sys").stdin.read()
        options = args_to_options(args or [])
        if options is not None:
            text += "\n" + options
        self.load_string(text)

    def _read_config(self, filename: str) -> str:
        if any(c in filename for c in "*?["):
            text = ""
            for path in sorted(_glob.glob(filename)):
                text += self._read_one(path)
            return text
        return self._read_one(filename)

    @staticmethod
    def _read_one(path: str) -> str:
        try:
            with open(path, "rb") as fh:
                return fh.read().decode("utf-8", "surrogateescape")
        except OSError as e:
            raise ConfigOpenError(path, e.strerror or str(e)) from None

    def load_file(self, path: str) -> None:
        self.load(path)

    def load_text(self, text: str, origin: str = "stdin") -> None:
        self.load(None, True, None, stdin_text=text)

    def load_args(self, args: list[str]) -> None:
        self.load(None, False, args)

    def load_string(self, text: str) -> None:
        """``loadServerConfigFromString``."""
        self._reading_file = True
        lines = text.split("\n")
        try:
            for i, raw in enumerate(lines):
                line = raw.strip(" \t\r\n")
                if not line or line[0] == "#":
                    continue
                try:
                    self._load_line(line)
                except ConfigFatal:
                    raise
                except ConfigError as e:
                    raise ConfigFatal(fatal_text(str(e), i + 1, line)) from None
            logfile = self.values["logfile"]
            if logfile:
                try:
                    with open(logfile, "a"):
                        pass
                except OSError as e:
                    raise ConfigFatal(fatal_text(f"Can't open the log file: {e.strerror}"))
        finally:
            self._reading_file = False

    def _load_line(self, line: str) -> None:
        argv = split_args(line.encode("utf-8", "surrogateescape"))
        if argv is None:
            raise ConfigError("Unbalanced quotes in configuration line")
        if not argv:
            return
        argv = [a.decode("utf-8", "surrogateescape") for a in argv]
        name = argv[0].lower()
        argc = len(argv)
        d = lookup(name)
        if d is not None:
            if not d.multi and argc != 2:
                raise ConfigError("wrong number of arguments")
            if d.multi and argc == 2 and argv[1]:
                sub = split_args(argv[1].encode("utf-8", "surrogateescape")) or []
                args = [a.decode("utf-8", "surrogateescape") for a in sub]
            else:
                args = argv[1:]
            self._set_value(d, args)
            self.explicit.add(d.name)
            return
        if name in DEPRECATED and argc == 2:
            return
        if name == "include" and argc == 2:
            self.load_string(self._read_config(argv[1]))
            self._reading_file = True
        elif name == "rename-command" and argc == 3:
            self._rename_command(argv[1], argv[2])
        elif name == "user" and argc >= 2:
            self.users.append(argv[1:])
        elif name == "loadmodule" and argc >= 2:
            self.modules.append(argv[1:])
        elif "." in name:
            if argc < 2:
                raise ConfigError("Module config specified without value")
            self.module_configs[argv[0]] = " ".join(argv[1:])
        elif name == "sentinel":
            if argc != 1:
                raise ConfigError("sentinel directive while not in sentinel mode")
        else:
            raise ConfigError("Bad directive or wrong number of arguments")

    def _rename_command(self, old: str, new: str) -> None:
        from .commands import registry
        import valkeyd.commands  # noqa: F401  (fills the table)
        cmd = registry.TABLE.get(old.lower().encode("utf-8", "surrogateescape"))
        if cmd is None or cmd.parent is not None:
            raise ConfigError("No such command in rename-command")
        for k in [k for k, v in registry.TABLE.items() if v is cmd and k.lower() == k]:
            del registry.TABLE[k]
            registry.TABLE.pop(k.upper(), None)
        if new:
            key = new.lower().encode("utf-8", "surrogateescape")
            if key in registry.TABLE:
                raise ConfigError("Target command name already exists")
            registry.TABLE[key] = cmd
        self.renamed.append((old, new))

    def startup_notes(self) -> list[str]:
        """One line per directive set in the configuration that has no effect here."""
        notes = []
        for d in _PRIMARY:
            if d.name in self.explicit and d.name in NO_EFFECT:
                notes.append(f"Config directive '{d.name}' is accepted for compatibility but "
                             f"has no effect in valkeyd")
        return notes

    # -- CONFIG REWRITE ----------------------------------------------------------------------
    def rewrite(self, path: str | None = None, force_all: bool = False) -> None:
        """``rewriteConfig``: keep comments, unknown lines and order; replace the lines of the
        directives we know, blank the ones no longer needed, append new ones after
        ``# Generated by CONFIG REWRITE``. Raises OSError."""
        path = path or self.config_file
        state = _RewriteState(path, force_all)
        for d in _PRIMARY:
            self._rewrite_directive(state, d)
        self._rewrite_users(state)
        state.mark("loadmodule")
        for m in self.modules:
            state.line("loadmodule", "loadmodule " + " ".join(m), True)
        state.remove_orphaned()
        _overwrite(path, state.content())

    def _rewrite_directive(self, st: "_RewriteState", d: Directive) -> None:
        name = d.name
        t = d.type
        if t == "bool":
            v = self.values[name]
            st.line(name, f"{name} {v}", v != d.default)
        elif t == "string":
            v = self.values[name]
            if d.null_empty and v == "":
                st.mark(name)
                return
            st.line(name, f"{name} {sds_repr(v)}", v != d.default or (d.null_empty and
                                                                       not d.default))
        elif t == "enum":
            v = self.values[name]
            st.line(name, f"{name} {v}", v != d.default)
        elif d.numeric:
            v = self.ints[name]
            if d.percent and v < 0:
                st.line(name, f"{name} {-v}%", v != d.default)
            elif d.memory:
                st.line(name, f"{name} {format_memory(v & ULLONG_MAX)}", v != d.default)
            elif d.octal:
                st.line(name, f"{name} {v:o}", v != d.default)
            else:
                st.line(name, f"{name} {v}", v != d.default)
        elif name == "dir":
            cwd = self._get_dir()
            if not cwd:
                st.mark(name)
            else:
                st.line(name, f"dir {sds_repr(cwd)}", True)
        elif name == "save":
            if not self.save_params:
                st.line(name, 'save ""', True)
            for s, c in self.save_params:
                st.line(name, f"save {s} {c}", True)
            st.mark(name)
        elif name == "client-output-buffer-limit":
            for cls in OBUF_CLASSES:
                h, s, secs = self.obuf_limits[cls]
                tname = "replica" if cls == "slave" else cls
                st.line(name, f"{name} {tname} {format_memory(h)} {format_memory(s)} {secs}",
                        self.obuf_limits[cls] != DEFAULT_OBUF[cls])
        elif name == "oom-score-adj-values":
            st.line(name, f"{name} " + " ".join(map(str, self.oom_values)),
                    self.oom_values != DEFAULT_OOM)
        elif name == "notify-keyspace-events":
            st.line(name, f"{name} {sds_repr(notify_string(self.notify_keyspace_events))}",
                    self.notify_keyspace_events != 0)
        elif name == "bind":
            if self.bind_addrs == DEFAULT_BIND:
                st.mark(name)
                return
            st.line(name, "bind " + (" ".join(self.bind_addrs) if self.bind_addrs else '""'),
                    True)
        elif name == "replicaof":
            if self.master is None:
                st.mark(name)
                return
            st.line(name, "replicaof %s %d" % self.master, True)
        elif name == "latency-tracking-info-percentiles":
            vals = " ".join(format_percentile(p) for p in self.percentiles)
            st.line(name, f"{name} {vals}" if vals else f'{name} ""', True)

    def _rewrite_users(self, st: "_RewriteState") -> None:
        if self.values["aclfile"]:
            st.mark("user")
            return
        if self.acl_rewrite_lines is not None:
            lines = self.acl_rewrite_lines()
        else:
            pw = self.values["requirepass"]
            if pw:
                h = hashlib.sha256(pw.encode("utf-8", "surrogateescape")).hexdigest()
                lines = [f"user default on sanitize-payload #{h} ~* &* +@all"]
            else:
                lines = ["user default on nopass sanitize-payload ~* &* +@all"]
        for line in lines:
            st.line("user", line, True)
        st.mark("user")


class ConfigFatal(ConfigError):
    """A startup configuration error: ``str(e)`` is what Redis prints before exiting 1."""


class ConfigOpenError(ConfigFatal):
    """The configuration file could not be read (Redis logs it and exits with 1)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Fatal error, can't open config file '{path}': {reason}")
        self.path = path
        self.reason = reason


def fatal_text(err: str, linenum: int | None = None, line: str | None = None) -> str:
    """The block Redis prints to stderr before exiting on a bad configuration."""
    out = f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
    if linenum is not None:
        out += f"Reading the configuration file, at line {linenum}\n>>> '{line}'\n"
    return out + err + "\n"


def args_to_options(args: list[str]) -> str | None:
    """valkey-server's command line after the config file (without the ``-`` that asks for
    standard input): ``--name v1 v2`` becomes the line ``name "v1" "v2"`` (values quoted as
    sdscatrepr), appended to the configuration text. Returns None when there are none."""
    options = ""
    handled_last = True
    n = len(args)
    any_opt = False
    for j, a in enumerate(args):
        if handled_last and a.startswith("--"):
            any_opt = True
            if options:
                options += "\n"
            options += a[2:] + " "
            parts = split_args(a.encode("utf-8", "surrogateescape")) or []
            if len(parts) == 1:
                handled_last = False
                if j != n - 1 and args[j + 1].startswith("--") and a.lower() == "--save":
                    options += '""'
                    handled_last = True
                elif j == n - 1 and a.lower() == "--save":
                    options += '""'
            else:
                handled_last = True
        else:
            any_opt = True
            options += sds_repr(a) + " "
            handled_last = True
    return options if any_opt else None


class _RewriteState:
    """``rewriteConfigReadOldFile`` and the helpers that edit its lines."""

    def __init__(self, path: str, force_all: bool = False):
        self.lines: list[str] = []
        self.option_lines: dict[str, list[int]] = {}
        self.rewritten: set[str] = set()
        self.needs_signature = True
        self.force_all = force_all
        try:
            with open(path, "rb") as fh:
                data = fh.read().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            data = ""
        if not data:
            return
        for linenum, raw in enumerate(data.split("\n")):
            line = raw.strip("\r\n\t ")
            if not line or line[0] == "#":
                if self.needs_signature and line == REWRITE_SIGNATURE:
                    self.needs_signature = False
                self.lines.append(line)
                continue
            argv = split_args(line.encode("utf-8", "surrogateescape"))
            name = argv[0].decode("utf-8", "surrogateescape").lower() if argv else None
            if not argv or (lookup(name) is None and name not in (
                    "include", "rename-command", "user", "loadmodule", "sentinel")):
                self.lines.append("# ??? " + line)
                continue
            self.lines.append(line)
            d = lookup(name)
            if d is not None:
                name = d.name
            self.option_lines.setdefault(name, []).append(linenum)

    def mark(self, option: str) -> None:
        self.rewritten.add(option)

    def line(self, option: str, line: str, force: bool) -> None:
        self.rewritten.add(option)
        nums = self.option_lines.get(option)
        if not nums and not force and not self.force_all:
            return
        if nums:
            self.lines[nums.pop(0)] = line
            if not nums:
                del self.option_lines[option]
        else:
            if self.needs_signature:
                self.lines.append(REWRITE_SIGNATURE)
                self.needs_signature = False
            self.lines.append(line)

    def remove_orphaned(self) -> None:
        for option, nums in self.option_lines.items():
            if option in self.rewritten:
                for n in nums:
                    self.lines[n] = ""

    def content(self) -> str:
        out = []
        was_empty = False
        for line in self.lines:
            if not line:
                if was_empty:
                    continue
                was_empty = True
            else:
                was_empty = False
            out.append(line + "\n")
        return "".join(out)


def _overwrite(path: str, content: str) -> None:
    """``rewriteConfigOverwriteFile``: write a temporary file, fsync, chmod, rename."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=d)
    try:
        os.write(fd, content.encode("utf-8", "surrogateescape"))
        os.fsync(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o644 & ~umask)
        os.rename(tmp, path)
        tmp = None
    finally:
        os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
