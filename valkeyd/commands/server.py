"""Server and introspection commands: INFO TIME LASTSAVE ROLE SLOWLOG LATENCY MONITOR MEMORY
SHUTDOWN DEBUG LOLWUT.

INFO prints the sections and field names of Redis 7.2.4's ``genRedisInfoString`` in the same
order. Other subsystems (persistence, replication ...) can replace a whole section with
:func:`info_section` (``@info_section("persistence")`` on a ``fn(server) -> list[str]`` of
``"field:value"`` lines), or expose the attributes read below with ``getattr`` defaults.
"""
from __future__ import annotations

import hashlib
import os
import resource
import struct
import sys
import time
from itertools import islice

from ..sds import catrepr
from .. import __version__, errors
from ..errors import ErrorReply
from ..log import log
from ..resp import OK, Raw, Simple, Verbatim, Push, encode
from .registry import all_commands, command, container, lookup, unique_subcommands
from .util import get_int

REDIS_VERSION = "7.2.4"

# -- helpers shared by the container commands -----------------------------------------------


def help_reply(argv, lines) -> list:
    """addReplyHelp: a header naming the command, the lines, then HELP."""
    head = "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" % (
        argv[0].decode("utf-8", "replace").upper())
    out = [Simple(head.encode())]
    out.extend(Simple(x.encode()) for x in lines)
    out.append(Simple(b"HELP"))
    out.append(Simple(b"    Print this help."))
    return out


def subcommand_syntax_error(argv) -> ErrorReply:
    return ErrorReply(
        "ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP." % (
            argv[1][:128].decode("utf-8", "replace"),
            argv[0].decode("utf-8", "replace").upper()))


def _s(b) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)


# -- process / memory facts -----------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def bytes_to_human(n: int) -> str:
    """bytesToHuman: 100B, 1.00K, 2.50M ..."""
    if n < 1024:
        return "%dB" % n
    for i, unit in enumerate("KMGTP", 1):
        if n < 1024 ** (i + 1):
            return "%.2f%s" % (n / 1024 ** i, unit)
    return "%dB" % n


# used_memory_startup: the process size once the server code is loaded, before any data.
_STARTUP_RSS = process_rss()


class _MemCache:
    """The dataset estimate walks every key: cache it briefly for big datasets."""

    __slots__ = ("at", "value", "keys")

    def __init__(self):
        self.at = 0.0
        self.value = 0
        self.keys = -1


_memcache = _MemCache()


def dataset_bytes(srv) -> int:
    nkeys = sum(db.size() for db in srv.dbs)
    now = time.monotonic()
    m = _memcache
    if nkeys > 50000 and m.keys >= 0 and now - m.at < 1.0:
        return m.value
    try:
        v = srv.engine.used_memory()
    except Exception:  # an engine without an estimate
        v = 0
    m.at, m.value, m.keys = now, v, nkeys
    return v


def memory_overhead(srv) -> dict:
    """getMemoryOverheadData: the numbers INFO memory and MEMORY STATS share."""
    startup = _STARTUP_RSS
    dataset = dataset_bytes(srv)
    clients_normal = 0
    for c in srv.clients.values():
        qb = len(c.pybuf) if c.pybuf is not None else 0
        clients_normal += 1024 + qb + sum(len(x) for x in c.out) + _omem(c)
    nkeys = sum(db.size() for db in srv.dbs)
    dbs = []
    for db in srv.dbs:
        n = db.size()
        ne = db.expires_count()
        if n or ne:
            # A CPython dict entry costs about 3 words plus the index slot.
            dbs.append((db.id, n * 32, ne * 32))
    ht = sum(a + b for _, a, b in dbs)
    repl_backlog = getattr(srv, "repl_backlog_bytes", 0)
    aof_buffer = getattr(srv, "aof_buffer_bytes", 0)
    overhead = startup + clients_normal + ht + repl_backlog + aof_buffer
    used = overhead + dataset
    peak = max(getattr(srv, "peak_memory", 0), used)
    srv.peak_memory = peak
    rss = process_rss()
    net = used - startup
    return {
        "used": used, "peak": peak, "startup": startup, "dataset": dataset,
        "overhead": overhead, "clients_normal": clients_normal, "dbs": dbs, "keys": nkeys,
        "repl_backlog": repl_backlog, "aof_buffer": aof_buffer, "rss": rss,
        "peak_perc": used * 100.0 / peak if peak else 0.0,
        "dataset_perc": dataset * 100.0 / net if net > 0 else 0.0,
        "bytes_per_key": net // nkeys if nkeys else 0,
        "rss_ratio": rss / used if used else 0.0,
    }


# -- INFO ------------------------------------------------------------------------------------

DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication",
                    "cpu", "module_list", "errorstats", "cluster", "keyspace")
# Sections other subsystems provide: name -> fn(server) -> list of "field:value" lines.
SECTION_OVERRIDES: dict = {}


def info_section(name: str):
    """Decorator: replace the body (the lines after the ``# Title``) of an INFO section."""
    def deco(fn):
        SECTION_OVERRIDES[name] = fn
        return fn
    return deco


def _g(obj, name, default=0):
    return getattr(obj, name, default)


def _rusage_str(t: float) -> str:
    sec = int(t)
    return "%d.%06d" % (sec, int(round((t - sec) * 1e6)))


def _uname():
    u = os.uname()
    return f"{u.sysname} {u.release} {u.machine}"


_UNAME = _uname()
_BUILD_ID = os.urandom(8).hex()


def _lru_clock() -> int:
    return int(time.time()) & ((1 << 24) - 1)


def sec_server(srv) -> list:
    now = time.time()
    uptime = int(now - srv.start_time)
    cfg = srv.config
    mode = "cluster" if cfg.get("cluster-enabled") == "yes" else "standalone"
    lines = [
        "redis_version:" + REDIS_VERSION,
        "valkeyd_version:" + __version__,
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        "redis_build_id:" + _BUILD_ID,
        "redis_mode:" + mode,
        "os:" + _UNAME,
        "arch_bits:%d" % (64 if sys.maxsize > 2 ** 32 else 32),
        "monotonic_clock:POSIX clock_gettime",
        "multiplexing_api:epoll" if sys.platform.startswith("linux") else "multiplexing_api:kqueue",
        "atomicvar_api:c11-builtin",
        "gcc_version:0.0.0",
        "process_id:%d" % os.getpid(),
        "process_supervised:no",
        "run_id:" + srv.run_id,
        "tcp_port:%d" % srv.port,
        "server_time_usec:%d" % int(now * 1e6),
        "uptime_in_seconds:%d" % uptime,
        "uptime_in_days:%d" % (uptime // 86400),
        "hz:%d" % srv.hz,
        "configured_hz:%d" % cfg.get_int("hz"),
        "lru_clock:%d" % _lru_clock(),
        "executable:" + os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else "executable:",
        "config_file:" + (cfg.config_file or ""),
        "io_threads_active:0",
    ]
    if srv.shutdown_event is not None and srv.shutdown_event.is_set():
        lines.append("shutdown_in_milliseconds:0")
    n = 0
    if srv.port:
        binds = cfg.get("bind").split() or ["*"]
        lines.append("listener%d:name=tcp,%s,port=%d" % (
            0, ",".join("bind=" + b for b in binds), srv.port))
    path = cfg.get("unixsocket")
    if path:
        n = 1
        lines.append("listener%d:name=unix,bind=%s" % (n, path))
    return lines


def _omem(c) -> int:
    """The output waiting in a client's transport (Redis's reply list: omem=)."""
    tr = c.transport
    return tr.get_write_buffer_size() if tr is not None and not c.closed else 0


def sec_clients(srv) -> list:
    replicas = len(_g(srv, "replicas", ()) or ())
    maxin = maxout = 0
    for c in srv.clients.values():
        q = len(c.pybuf) if c.pybuf is not None else 0
        if q > maxin:
            maxin = q
        o = _omem(c)
        if o > maxout:
            maxout = o
    return [
        "connected_clients:%d" % (len(srv.clients) - replicas),
        "cluster_connections:0",
        "maxclients:%d" % srv.maxclients,
        "client_recent_max_input_buffer:%d" % maxin,
        "client_recent_max_output_buffer:%d" % maxout,
        "blocked_clients:%d" % srv.blocked_clients,
        "tracking_clients:%d" % _g(srv, "tracking_clients"),
        "clients_in_timeout_table:%d" % _g(srv, "clients_in_timeout_table"),
        "total_blocking_keys:%d" % _g(srv, "total_blocking_keys"),
        "total_blocking_keys_on_nokey:%d" % _g(srv, "total_blocking_keys_on_nokey"),
    ]


def sec_memory(srv) -> list:
    m = memory_overhead(srv)
    cfg = srv.config
    used, rss, peak = m["used"], m["rss"], m["peak"]
    tsm = total_system_memory()
    maxmem = cfg.get_int("maxmemory")
    lua = _g(srv, "lua_memory")
    funcs = _g(srv, "functions_memory")
    scripts = _g(srv, "scripts", None)
    nscripts = len(scripts) if scripts is not None else 0
    lua_caches = _g(srv, "scripts_cache_memory")
    func_caches = _g(srv, "functions_cache_memory")
    return [
        "used_memory:%d" % used,
        "used_memory_human:" + bytes_to_human(used),
        "used_memory_rss:%d" % rss,
        "used_memory_rss_human:" + bytes_to_human(rss),
        "used_memory_peak:%d" % peak,
        "used_memory_peak_human:" + bytes_to_human(peak),
        "used_memory_peak_perc:%.2f%%" % m["peak_perc"],
        "used_memory_overhead:%d" % m["overhead"],
        "used_memory_startup:%d" % m["startup"],
        "used_memory_dataset:%d" % m["dataset"],
        "used_memory_dataset_perc:%.2f%%" % m["dataset_perc"],
        "allocator_allocated:%d" % used,
        "allocator_active:%d" % used,
        "allocator_resident:%d" % rss,
        "total_system_memory:%d" % tsm,
        "total_system_memory_human:" + bytes_to_human(tsm),
        "used_memory_lua:%d" % lua,
        "used_memory_vm_eval:%d" % lua,
        "used_memory_lua_human:" + bytes_to_human(lua),
        "used_memory_scripts_eval:%d" % lua_caches,
        "number_of_cached_scripts:%d" % nscripts,
        "number_of_functions:%d" % _g(srv, "functions_count"),
        "number_of_libraries:%d" % _g(srv, "libraries_count"),
        "used_memory_vm_functions:%d" % funcs,
        "used_memory_vm_total:%d" % (funcs + lua),
        "used_memory_vm_total_human:" + bytes_to_human(funcs + lua),
        "used_memory_functions:%d" % func_caches,
        "used_memory_scripts:%d" % (lua_caches + func_caches),
        "used_memory_scripts_human:" + bytes_to_human(lua_caches + func_caches),
        "maxmemory:%d" % maxmem,
        "maxmemory_human:" + bytes_to_human(maxmem),
        "maxmemory_policy:" + cfg.get("maxmemory-policy"),
        "allocator_frag_ratio:1.00",
        "allocator_frag_bytes:0",
        "allocator_rss_ratio:%.2f" % m["rss_ratio"],
        "allocator_rss_bytes:%d" % (rss - used),
        "rss_overhead_ratio:1.00",
        "rss_overhead_bytes:0",
        "mem_fragmentation_ratio:%.2f" % m["rss_ratio"],
        "mem_fragmentation_bytes:%d" % (rss - used),
        "mem_not_counted_for_evict:%d" % (m["repl_backlog"] + m["aof_buffer"]),
        "mem_replication_backlog:%d" % m["repl_backlog"],
        "mem_total_replication_buffers:%d" % _g(srv, "repl_buffer_mem"),
        "mem_clients_slaves:0",
        "mem_clients_normal:%d" % m["clients_normal"],
        "mem_cluster_links:0",
        "mem_aof_buffer:%d" % m["aof_buffer"],
        "mem_allocator:libc",
        "active_defrag_running:0",
        "lazyfree_pending_objects:0",
        "lazyfreed_objects:%d" % _g(srv, "lazyfreed_objects"),
    ]


def sec_persistence(srv) -> list:
    cfg = srv.config
    dirty_at_save = _g(srv, "dirty_at_last_save")
    # the child's progress (persistence/snapshot.py ChildInfo, Redis's child info pipe)
    processed = _g(srv, "stat_current_save_keys_processed")
    total = _g(srv, "stat_current_save_keys_total")
    cow_updated = _g(srv, "stat_current_cow_updated", 0.0)
    lines = [
        "loading:%d" % (1 if srv.loading else 0),
        "async_loading:0",
        "current_cow_peak:%d" % _g(srv, "stat_current_cow_peak"),
        "current_cow_size:%d" % _g(srv, "stat_current_cow_bytes"),
        "current_cow_size_age:%d" % (int(time.monotonic() - cow_updated) if cow_updated
                                     else 0),
        "current_fork_perc:%.2f" % (processed / total * 100 if total else 0.0),
        "current_save_keys_processed:%d" % processed,
        "current_save_keys_total:%d" % total,
        "rdb_changes_since_last_save:%d" % max(0, srv.dirty - dirty_at_save),
        "rdb_bgsave_in_progress:%d" % (1 if _g(srv, "bgsave_in_progress", False) else 0),
        "rdb_last_save_time:%d" % srv.lastsave,
        "rdb_last_bgsave_status:" + _g(srv, "lastbgsave_status", "ok"),
        "rdb_last_bgsave_time_sec:%d" % _g(srv, "rdb_save_time_last", -1),
        "rdb_current_bgsave_time_sec:%d" % (srv.snapshots.current_time_sec()
                                            if hasattr(srv, "snapshots") else -1),
        "rdb_saves:%d" % _g(srv, "rdb_saves"),
        "rdb_last_cow_size:%d" % _g(srv, "stat_rdb_cow_bytes"),
        "rdb_last_load_keys_expired:%d" % _g(srv, "rdb_last_load_keys_expired"),
        "rdb_last_load_keys_loaded:%d" % _g(srv, "rdb_last_load_keys_loaded"),
    ]
    lines += srv.aof.info()   # aof_* fields (persistence/aof.py)
    if srv.loading:
        lines += _loading_fields(srv)
    return lines


def _loading_fields(srv) -> list:
    """The loading_* fields Redis shows while it loads (genRedisInfoString): progress from
    ``server.loading_progress`` ([start time, total bytes, bytes loaded], kept by
    persistence/rdb_load.load_rdb_async)."""
    start, total, loaded = _g(srv, "loading_progress", None) or (time.time(), 0, 0)
    used_mem = _g(srv, "loading_rdb_used_mem")
    perc, remaining = 0.0, 1
    if total:
        perc = loaded / total * 100
        remaining = total - loaded
    elif used_mem:
        perc = min(loaded / used_mem * 100, 99.99)
        remaining = max(used_mem - loaded, 1)
    start = int(start)
    elapsed = int(time.time()) - start
    eta = 1 if elapsed == 0 else (elapsed * remaining) // (loaded + 1)
    return [
        "loading_start_time:%d" % start,
        "loading_total_bytes:%d" % total,
        "loading_rdb_used_mem:%d" % used_mem,
        "loading_loaded_bytes:%d" % loaded,
        "loading_loaded_perc:%.2f" % perc,
        "loading_eta_seconds:%d" % eta,
    ]


def sec_stats(srv) -> list:
    s = srv.stats
    tr = getattr(srv, "tracking", None)
    nin, nout = srv.total_net()
    return [
        "total_connections_received:%d" % s.total_connections_received,
        "total_commands_processed:%d" % srv.total_commands(),
        "instantaneous_ops_per_sec:%d" % int(s.instantaneous_ops),
        "total_net_input_bytes:%d" % nin,
        "total_net_output_bytes:%d" % nout,
        "total_net_repl_input_bytes:%d" % _g(s, "net_repl_input_bytes"),
        "total_net_repl_output_bytes:%d" % _g(s, "net_repl_output_bytes"),
        "instantaneous_input_kbps:%.2f" % s.instantaneous_input_kbps,
        "instantaneous_output_kbps:%.2f" % s.instantaneous_output_kbps,
        "instantaneous_input_repl_kbps:0.00",
        "instantaneous_output_repl_kbps:0.00",
        "rejected_connections:%d" % s.rejected_connections,
        "sync_full:%d" % _g(s, "sync_full"),
        "sync_partial_ok:%d" % _g(s, "sync_partial_ok"),
        "sync_partial_err:%d" % _g(s, "sync_partial_err"),
        "expired_keys:%d" % s.expired_keys,
        "expired_stale_perc:%.2f" % (s.expired_stale_perc * 100),
        "expired_time_cap_reached_count:%d" % s.expired_time_cap_reached_count,
        "expire_cycle_cpu_milliseconds:%d" % s.expire_cycle_cpu_milliseconds,
        "evicted_keys:%d" % s.evicted_keys,
        "evicted_clients:%d" % _g(s, "evicted_clients"),
        "total_eviction_exceeded_time:%d" % _g(s, "total_eviction_exceeded_time"),
        "current_eviction_exceeded_time:0",
        "keyspace_hits:%d" % s.keyspace_hits,
        "keyspace_misses:%d" % s.keyspace_misses,
        "pubsub_channels:%d" % len(srv.pubsub.channels),
        "pubsub_patterns:%d" % len(srv.pubsub.patterns),
        "pubsubshard_channels:%d" % len(srv.pubsub.shard_channels),
        "latest_fork_usec:%d" % _g(s, "latest_fork_usec"),
        "total_forks:%d" % _g(s, "total_forks"),
        "migrate_cached_sockets:0",
        "slave_expires_tracked_keys:0",
        "active_defrag_hits:0",
        "active_defrag_misses:0",
        "active_defrag_key_hits:0",
        "active_defrag_key_misses:0",
        "total_active_defrag_time:0",
        "current_active_defrag_time:0",
        "tracking_total_keys:%d" % (tr.total_keys() if tr is not None else 0),
        "tracking_total_items:%d" % (tr.total_items() if tr is not None else 0),
        "tracking_total_prefixes:%d" % (tr.total_prefixes() if tr is not None else 0),
        "unexpected_error_replies:%d" % _g(s, "unexpected_error_replies"),
        "total_error_replies:%d" % s.total_error_replies,
        "dump_payload_sanitizations:%d" % _g(s, "dump_payload_sanitizations"),
        "total_reads_processed:%d" % _g(s, "total_reads_processed"),
        "total_writes_processed:%d" % _g(s, "total_writes_processed"),
        "io_threaded_reads_processed:%d" % s.io_threaded_reads,
        "io_threaded_writes_processed:%d" % s.io_threaded_writes,
        "reply_buffer_shrinks:0",
        "reply_buffer_expands:0",
        "eventloop_cycles:%d" % _g(s, "eventloop_cycles"),
        "eventloop_duration_sum:%d" % _g(s, "eventloop_duration_sum"),
        "eventloop_duration_cmd_sum:%d" % sum(c.usec for c in _iter_commands()),
        "instantaneous_eventloop_cycles_per_sec:0",
        "instantaneous_eventloop_duration_usec:0",
        "acl_access_denied_auth:%d" % _g(s, "acl_access_denied_auth"),
        "acl_access_denied_cmd:%d" % _g(s, "acl_access_denied_cmd"),
        "acl_access_denied_key:%d" % _g(s, "acl_access_denied_key"),
        "acl_access_denied_channel:%d" % _g(s, "acl_access_denied_channel"),
    ]


def replication_ids(srv):
    rid = getattr(srv, "replid", None)
    if not rid:
        rid = srv.replid = os.urandom(20).hex()
    return rid, getattr(srv, "replid2", "0" * 40)


def sec_replication(srv) -> list:
    rid, rid2 = replication_ids(srv)
    replicas = _g(srv, "replicas", ()) or ()
    if srv.is_replica():
        host, port = srv.replica_of[0], srv.replica_of[1]
        off = _g(srv, "slave_repl_offset", 1)   # Redis prints 1 before any link exists
        lines = [
            "role:slave",
            "master_host:%s" % host,
            "master_port:%d" % int(port),
            "master_link_status:%s" % ("up" if _g(srv, "repl_state", "") == "connected"
                                        else "down"),
            "master_last_io_seconds_ago:-1",
            "master_sync_in_progress:0",
            "slave_read_repl_offset:%d" % off,
            "slave_repl_offset:%d" % off,
            "master_link_down_since_seconds:-1",
            "slave_priority:%d" % srv.config.get_int("replica-priority"),
            "slave_read_only:%d" % (1 if srv.config.get("replica-read-only") == "yes" else 0),
            "replica_announced:%d" % (1 if srv.config.get("replica-announced") == "yes" else 0),
        ]
    else:
        lines = ["role:master"]
    lines.append("connected_slaves:%d" % len(replicas))
    lines += [
        "master_failover_state:no-failover",
        "master_replid:" + rid,
        "master_replid2:" + rid2,
        "master_repl_offset:%d" % _g(srv, "master_repl_offset"),
        "second_repl_offset:%d" % _g(srv, "second_repl_offset", -1),
        "repl_backlog_active:%d" % (1 if _g(srv, "repl_backlog_bytes", 0) or replicas else 0),
        "repl_backlog_size:%d" % srv.config.get_int("repl-backlog-size"),
        "repl_backlog_first_byte_offset:%d" % _g(srv, "repl_backlog_first_byte_offset"),
        "repl_backlog_histlen:%d" % _g(srv, "repl_backlog_histlen"),
    ]
    return lines


def sec_cpu(srv) -> list:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [
        "used_cpu_sys:" + _rusage_str(me.ru_stime),
        "used_cpu_user:" + _rusage_str(me.ru_utime),
        "used_cpu_sys_children:" + _rusage_str(ch.ru_stime),
        "used_cpu_user_children:" + _rusage_str(ch.ru_utime),
    ]
    if hasattr(resource, "RUSAGE_THREAD"):
        th = resource.getrusage(resource.RUSAGE_THREAD)
        lines += ["used_cpu_sys_main_thread:" + _rusage_str(th.ru_stime),
                  "used_cpu_user_main_thread:" + _rusage_str(th.ru_utime)]
    return lines


def _info_safe(name: str) -> str:
    """getSafeInfoString: '#', ':', CR and LF become '_'."""
    for ch in "#:\r\n":
        if ch in name:
            name = name.replace(ch, "_")
    return name


def _iter_commands():
    for cmd in all_commands():
        yield cmd
        if cmd.subcommands:
            yield from unique_subcommands(cmd)


def sec_commandstats(srv) -> list:
    lines = []
    for cmd in sorted(_iter_commands(), key=lambda c: c.fullname):
        if cmd.calls or cmd.failed_calls or cmd.rejected_calls:
            lines.append("cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,"
                         "failed_calls=%d" % (
                             _info_safe(cmd.fullname), cmd.calls, cmd.usec,
                             cmd.usec / cmd.calls if cmd.calls else 0.0,
                             cmd.rejected_calls, cmd.failed_calls))
    return lines


def sec_errorstats(srv) -> list:
    return ["errorstat_%s:count=%d" % (_info_safe(k), v)
            for k, v in sorted(srv.stats.errors.items())]


# -- latency histograms (hdr_histogram with 2 significant digits, values in ns) --------------

def hdr_highest_equivalent(v: int) -> int:
    """hdr_histogram (lowest 1, 2 significant figures): the top of ``v``'s bucket."""
    if v < 256:
        return v
    shift = v.bit_length() - 8
    return ((v >> shift) << shift) + (1 << shift) - 1


def hist_ns_counts(hist: dict) -> list:
    """Command histograms count microseconds; Redis records nanoseconds (us*1000, min 1)."""
    merged: dict = {}
    for us, n in hist.items():
        ns = us * 1000 if us > 0 else 1
        if ns > 1000000000:
            ns = 1000000000
        k = hdr_highest_equivalent(ns)
        merged[k] = merged.get(k, 0) + n
    return sorted(merged.items())


def hist_percentile(items: list, total: int, p: float) -> int:
    want = int(min(p, 100.0) / 100 * total + 0.5)
    if want < 1:
        want = 1
    acc = 0
    for v, n in items:
        acc += n
        if acc >= want:
            return v
    return items[-1][0] if items else 0


def _fmt_percentile(p: float) -> str:
    s = "%f" % p
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def sec_latencystats(srv) -> list:
    if srv.config.get("latency-tracking") != "yes":
        return []
    try:
        pcts = [float(x) for x in srv.config.get("latency-tracking-info-percentiles").split()]
    except ValueError:
        pcts = [50.0, 99.0, 99.9]
    lines = []
    for cmd in sorted(_iter_commands(), key=lambda c: c.fullname):
        hist = getattr(cmd, "hist", None)
        if not hist:
            continue
        items = hist_ns_counts(hist)
        total = sum(n for _, n in items)
        parts = ["p%s=%.3f" % (_fmt_percentile(p), hist_percentile(items, total, p) / 1000.0)
                 for p in pcts]
        lines.append("latency_percentiles_usec_%s:%s" % (_info_safe(cmd.fullname),
                                                          ",".join(parts)))
    return lines


def sec_cluster(srv) -> list:
    return ["cluster_enabled:%d" % (1 if srv.config.get("cluster-enabled") == "yes" else 0)]


def _avg_ttl(db) -> int:
    est = getattr(db, "avg_ttl", None)
    if est is not None:   # the active expire cycle's running estimate, as Redis reports it
        return est
    exp = getattr(db, "expires", None)
    if not exp:
        return 0
    now = int(time.time() * 1000)
    total = n = 0
    for when in islice(exp.values(), 64):
        if when > now:
            total += when - now
            n += 1
    return total // n if n else 0


def sec_keyspace(srv) -> list:
    lines = []
    for db in srv.dbs:
        keys = db.size()
        vkeys = db.expires_count()
        if keys or vkeys:
            lines.append("db%d:keys=%d,expires=%d,avg_ttl=%d" % (db.id, keys, vkeys,
                                                               _avg_ttl(db)))
    return lines


def sec_debug(srv) -> list:
    s = srv.stats
    return [
        "eventloop_duration_aof_sum:%d" % _g(s, "eventloop_duration_aof_sum"),
        "eventloop_duration_cron_sum:%d" % _g(s, "eventloop_duration_cron_sum"),
        "eventloop_duration_max:%d" % _g(s, "eventloop_duration_max"),
        "eventloop_cmd_per_cycle_max:%d" % _g(s, "eventloop_cmd_per_cycle_max"),
    ]


# (title, section name, builder) in Redis's order.
SECTIONS = (
    ("Server", "server", sec_server),
    ("Clients", "clients", sec_clients),
    ("Memory", "memory", sec_memory),
    ("Persistence", "persistence", sec_persistence),
    ("Stats", "stats", sec_stats),
    ("Replication", "replication", sec_replication),
    ("CPU", "cpu", sec_cpu),
    ("Modules", "module_list", lambda srv: []),
    ("Commandstats", "commandstats", sec_commandstats),
    ("Errorstats", "errorstats", sec_errorstats),
    ("Latencystats", "latencystats", sec_latencystats),
    ("Cluster", "cluster", sec_cluster),
    ("Keyspace", "keyspace", sec_keyspace),
)


def info_string(srv, args=()) -> str:
    """genInfoSectionDict + genRedisInfoString."""
    all_sections = False
    if not args:
        wanted = set(DEFAULT_SECTIONS)
    else:
        wanted = set()
        for a in args:
            a = _s(a).lower()
            if a == "default":
                wanted.update(DEFAULT_SECTIONS)
            elif a in ("all", "everything"):
                all_sections = True
            else:
                wanted.add(a)
    if "modules" in wanted:
        wanted.add("module_list")
    parts = []
    for title, name, fn in SECTIONS:
        if all_sections or name in wanted:
            body = SECTION_OVERRIDES.get(name, fn)(srv)
            parts.append("# %s\r\n" % title + "".join(line + "\r\n" for line in body))
    if "debug" in wanted:
        parts.append("# Debug\r\n" + "".join(line + "\r\n" for line in sec_debug(srv)))
    return "\r\n".join(parts)


@command("info", -1, "loading stale sentinel", "dangerous")
def info(c, argv):
    return Verbatim(info_string(c.server, argv[1:]))


# -- TIME LASTSAVE ROLE LOLWUT ---------------------------------------------------------------

@command("time", 1, "loading stale fast", "")
def time_(c, argv):
    now = time.time_ns() // 1000
    sec = now // 1000000
    return [b"%d" % sec, b"%d" % (now - sec * 1000000)]


@command("lastsave", 1, "loading stale fast", "admin dangerous")
def lastsave(c, argv):
    return c.server.lastsave


# -- SAVE BGSAVE (persistence/snapshot.py does the work) -------------------------------------

@command("save", 1, "admin noscript no_async_loading no_multi", "admin dangerous")
def save(c, argv):
    snap = c.server.snapshots
    if snap.child_pid is not None:
        raise ErrorReply("ERR Background save already in progress")
    c.server.rdb_saves += 1
    if snap.save():
        return OK
    raise ErrorReply("ERR")


@command("bgsave", -1, "admin noscript no_async_loading", "admin dangerous")
def bgsave(c, argv):
    srv = c.server
    snap = srv.snapshots
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise ErrorReply(errors.SYNTAX)
    in_exec = getattr(c, "in_exec", False)
    if snap.child_pid is not None:
        raise ErrorReply("ERR Background save already in progress")
    if snap.has_child() or in_exec:
        if schedule or in_exec:
            snap.scheduled = True
            return Simple(b"Background saving scheduled")
        raise ErrorReply("ERR Another child process is active (AOF?): can't BGSAVE right now. "
                         "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
    if snap.bgsave():
        return Simple(b"Background saving started")
    raise ErrorReply("ERR")


@command("role", 1, "noscript loading stale fast sentinel", "admin dangerous")
def role(c, argv):
    srv = c.server
    hook = getattr(srv, "role_reply", None)
    if hook is not None:
        return hook()
    if srv.is_replica():
        host, port = srv.replica_of[0], srv.replica_of[1]
        return [b"slave", _s(host).encode(), int(port),
                str(_g(srv, "repl_state", "connect")).encode(),
                _g(srv, "master_repl_offset", -1)]
    reps = []
    for r in _g(srv, "replicas", ()) or ():
        reps.append([_s(_g(r, "replica_ip", "")).encode(),
                     str(_g(r, "replica_listening_port", 0)).encode(),
                     str(_g(r, "repl_ack_off", 0)).encode()])
    return [b"master", _g(srv, "master_repl_offset"), reps]


@command("lolwut", -1, "readonly fast", "")
def lolwut(c, argv):
    if len(argv) >= 3 and argv[1].lower() == b"version":
        ver = get_int(argv[2])
        if ver in (5, 6):
            # The computer art of LOLWUT 5 and 6 is not reproduced.
            raise ErrorReply("ERR LOLWUT VERSION %d is not supported by valkeyd" % ver)
    return Verbatim("Redis ver. %s\n" % REDIS_VERSION)


# -- SLOWLOG ---------------------------------------------------------------------------------

container("slowlog", -2)

SLOWLOG_HELP = (
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
)


@command("slowlog|get", -2, "admin loading stale", "")
def slowlog_get(c, argv):
    if len(argv) > 3:
        raise subcommand_syntax_error(argv)
    log_ = c.server.slowlog
    count = 10
    if len(argv) == 3:
        count = get_int(argv[2], "ERR count should be greater than or equal to -1")
        if count < -1:
            raise ErrorReply("ERR count should be greater than or equal to -1")
        if count == -1:
            count = len(log_)
    out = []
    for e in islice(log_, count):
        eid, ts, dur, args, peer, name = e
        out.append([eid, ts, dur, list(args), peer, name])
    return out


@command("slowlog|len", 2, "admin loading stale", "")
def slowlog_len(c, argv):
    return len(c.server.slowlog)


@command("slowlog|reset", 2, "admin loading stale", "")
def slowlog_reset(c, argv):
    c.server.slowlog.clear()
    return OK


@command("slowlog|help", 2, "loading stale", "")
def slowlog_help(c, argv):
    return help_reply(argv, SLOWLOG_HELP)


# -- LATENCY ---------------------------------------------------------------------------------

container("latency", -2)

LATENCY_HELP = (
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
)


def _event(srv, name: bytes):
    return srv.latency_events.get(_s(name))


@command("latency|latest", 2, "admin noscript loading stale", "")
def latency_latest(c, argv):
    out = []
    for name, ev in c.server.latency_events.items():
        t, lat = ev.samples[-1]
        out.append([name.encode(), t, lat, ev.max])
    return out


@command("latency|history", 3, "admin noscript loading stale", "")
def latency_history(c, argv):
    ev = _event(c.server, argv[2])
    if ev is None:
        return []
    return [[t, lat] for t, lat in ev.samples]


@command("latency|reset", -2, "admin noscript loading stale", "")
def latency_reset(c, argv):
    ev = c.server.latency_events
    if len(argv) == 2:
        n = len(ev)
        ev.clear()
        return n
    n = 0
    for a in argv[2:]:
        name = _s(a).lower()
        for k in [k for k in ev if k.lower() == name]:
            del ev[k]
            n += 1
    return n


_SPARK_FILL = "_o#"


def _sparkline_range(seq, mn, mx, rows, offset, length) -> str:
    """sparklineRenderRange with SPARKLINE_FILL (linear scale)."""
    relmax = mx - mn or 1
    nchars = len(_SPARK_FILL)
    steps = nchars * rows
    has_labels = any(lbl for _, lbl in seq)
    out = []
    row = 0
    while True:
        loop = False
        chars = [" "] * length
        for j in range(length):
            value, label = seq[j + offset]
            step = int(int((value - mn) * steps) / relmax)
            step = max(0, min(step, steps - 1))
            if row < rows:
                idx = step - (rows - row - 1) * nchars
                loop = True
                if 0 <= idx < nchars:
                    chars[j] = _SPARK_FILL[idx]
                elif idx >= nchars:
                    chars[j] = "|"
            else:
                if has_labels and row - rows < 1:
                    loop = True
                    break
                k = row - rows - 1
                if label and len(label) > k:
                    loop = True
                    chars[j] = label[k]
        if not loop:
            break
        row += 1
        out.append("".join(chars) + "\n")
    return "".join(out)


def _sparkline(seq, rows=4, cols=80) -> str:
    if not seq:
        return ""
    vals = [v for v, _ in seq]
    mn, mx = min(vals), max(vals)
    parts = []
    for j in range(0, len(seq), cols):
        parts.append(_sparkline_range(seq, mn, mx, rows, j, min(cols, len(seq) - j)))
    return "\n".join(parts)


@command("latency|graph", 3, "admin noscript loading stale", "")
def latency_graph(c, argv):
    name = _s(argv[2])
    ev = c.server.latency_events.get(name)
    if ev is None:
        raise ErrorReply("ERR No samples available for event '%s'" % name)
    now = int(time.time())
    seq = []
    for t, lat in ev.samples:
        el = now - t
        if el < 60:
            lbl = "%ds" % el
        elif el < 3600:
            lbl = "%dm" % (el // 60)
        elif el < 86400:
            lbl = "%dh" % (el // 3600)
        else:
            lbl = "%dd" % (el // 86400)
        seq.append((lat, lbl))
    vals = [v for v, _ in seq]
    graph = "%s - high %d ms, low %d ms (all time high %d ms)\n" % (
        name, max(vals), min(vals), ev.max)
    graph += "-" * 80 + "\n"
    graph += _sparkline(seq)
    return Verbatim(graph)


def _event_stats(ev):
    """analyzeLatencyForEvent: samples, avg, mad (integer ms) and period in seconds."""
    lats = [lat for _, lat in ev.samples]
    n = len(lats)
    if not n:
        return 0, 0, 0, 0
    avg = sum(lats) // n
    period = int(time.time()) - min(t for t, _ in ev.samples)
    if period == 0:
        period = 1
    mad = sum(abs(avg - x) for x in lats) // n
    return n, avg, mad, period


def _anon_huge_pages() -> int:
    try:
        with open("/proc/self/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


_ADVICE = {
    "better_vm": "- If you are using a virtual machine, consider upgrading it with a faster one "
    "using a hypervisior that provides less latency during fork() calls. Xen is known to have "
    "poor fork() performance. Even in the context of the same VM provider, certain kinds of "
    "instances can execute fork faster than others.\n",
    "slowlog_inspect": "- Check your Slow Log to understand what are the commands you are "
    "running which are too slow to execute. Please check https://redis.io/commands/slowlog for "
    "more information.\n",
    "scheduler": "- The system is slow to execute Redis code paths not containing system calls. "
    "This usually means the system does not provide Redis CPU time to run for long periods. You "
    "should try to:\n"
    "  1) Lower the system load.\n"
    "  2) Use a computer / VM just for Redis if you are running other software in the same "
    "system.\n"
    "  3) Check if you have a \"noisy neighbour\" problem.\n"
    "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your "
    "system.\n"
    "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if "
    "you are using Jemalloc. However this may create fragmentation problems.\n",
    "local_disk": "- It is strongly advised to use local disks for persistence, especially if "
    "you are using AOF. Remote disks provided by platform-as-a-service providers are known to "
    "be slow.\n",
    "ssd": "- SSD disks are able to reduce fsync latency, and total time needed for "
    "snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely "
    "high write load SSD disks can be a good option. However Redis should perform reasonably "
    "with high load using normal disks. Use this advice as a last resort.\n",
    "data_writeback": "- Mounting ext3/4 filesystems with data=writeback can provide a "
    "performance boost compared to data=ordered, however this mode of operation provides less "
    "guarantees, and sometimes it can happen that after a hard crash the AOF file will have a "
    "half-written command at the end and will require to be repaired before Redis restarts.\n",
    "disk_contention": "- Try to lower the disk contention. This is often caused by other disk "
    "intensive processes running in the same computer (including other Redis instances).\n",
    "no_appendfsync": "- Assuming from the point of view of data safety this is viable in your "
    "environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that "
    "fsync will not be performed while there is a child rewriting the AOF file or producing an "
    "RDB file (the moment where there is high disk contention).\n",
    "relax_fsync_policy": "- Your fsync policy is set to 'always'. It is very hard to get good "
    "performances with such a setup, if possible try to relax the fsync policy to "
    "'onesec'.\n",
    "write_load_info": "- Latency during the AOF atomic rename operation or when the final "
    "difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by "
    "very high write load, causing the AOF buffer to get very large. If possible try to send "
    "less commands to accomplish the same work, or use Lua scripts to group multiple "
    "operations into a single EVALSHA call.\n",
    "hz": "- In order to make the Redis keys expiring process more incremental, try to set the "
    "'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n",
    "large_objects": "- Deleting, expiring or evicting (because of maxmemory policy) large "
    "objects is a blocking operation. If you have very large objects that are often deleted, "
    "expired, or evicted, try to fragment those objects into multiple smaller objects.\n",
    "mass_eviction": "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or "
    "allocation of large objects via sets or sorted sets intersections, STORE option of SORT, "
    "Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure "
    "forcing the server to block trying to evict keys. \n",
    "disable_thp": "- I detected a non zero amount of anonymous huge pages used by your "
    "process. This creates very serious latency events in different conditions, especially "
    "when Redis is persisting on disk. To disable THP support use the command 'echo never > "
    "/sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local "
    "so that the command will be executed again after a reboot. Note that even if you have "
    "already disabled THP, you still need to restart the Redis process to get rid of the huge "
    "pages already created.\n",
}
# Event name -> advices it triggers (createLatencyReport).
_EVENT_ADVICE = {
    "fast-command": ("scheduler",),
    "aof-write-pending-fsync": ("local_disk", "disk_contention", "ssd", "data_writeback"),
    "aof-write-active-child": ("no_appendfsync", "data_writeback", "ssd"),
    "aof-write-alone": ("local_disk", "data_writeback", "ssd"),
    "aof-fsync-always": ("relax_fsync_policy",),
    "aof-fstat": ("disk_contention", "local_disk"),
    "rdb-unlink-temp-file": ("disk_contention", "local_disk"),
    "aof-rewrite-diff-write": ("write_load_info", "data_writeback", "ssd", "local_disk"),
    "aof-rename": ("write_load_info", "data_writeback", "ssd", "local_disk"),
    "expire-cycle": ("hz", "large_objects"),
    "eviction-del": ("large_objects",),
    "eviction-cycle": ("mass_eviction",),
}


def latency_report(srv) -> str:
    """createLatencyReport."""
    evs = srv.latency_events
    thr = srv.latency_threshold_ms
    if not evs and thr == 0:
        return ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis "
                "instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" "
                "in order to enable it. If we weren't in a deep space mission I'd suggest to "
                "take a look at https://redis.io/topics/latency-monitor.\n")
    report = ""
    adv = set()
    advices = 0
    slow_enabled = slow_tuning = False
    for num, (name, ev) in enumerate(list(evs.items()), 1):
        if num == 1:
            report += ("Dave, I have observed latency spikes in this Redis instance. You don't "
                       "mind talking about it, do you Dave?\n\n")
        n, avg, mad, period = _event_stats(ev)
        report += ("%d. %s: %d latency spikes (average %dms, mean deviation %dms, period "
                   "%.2f sec). Worst all time event %dms." % (
                       num, name, n, avg, mad, period / n if n else 0.0, ev.max))
        lname = name.lower()
        if lname == "fork":
            rate = getattr(srv.stats, "fork_rate", 0.0)
            if rate < 10:
                quality = "terrible"
            elif rate < 25:
                quality = "poor"
            elif rate < 100:
                quality = "good"
            else:
                quality = "excellent"
            if rate < 25:
                adv.add("better_vm")
                advices += 1
            report += " Fork rate is %.2f GB/sec (%s)." % (rate, quality)
        if lname == "command":
            if srv.slowlog_threshold_us < 0:
                slow_enabled = True
                advices += 1
            elif srv.slowlog_threshold_us // 1000 > thr:
                slow_tuning = True
                advices += 1
            adv.update(("slowlog_inspect", "large_objects"))
            advices += 2
        for a in _EVENT_ADVICE.get(lname, ()):
            adv.add(a)
            advices += 1
        report += "\n"
    if _anon_huge_pages() > 0:
        adv.add("disable_thp")
        advices += 1
    if not evs and advices == 0:
        return report + ("Dave, no latency spike was observed during the lifetime of this Redis "
                         "instance, not in the slightest bit. I honestly think you ought to sit "
                         "down calmly, take a stress pill, and think things over.\n")
    if evs and advices == 0:
        return report + ("\nWhile there are latency events logged, I'm not able to suggest any "
                         "easy fix. Please use the Redis community to get some help, providing "
                         "this report in your help request.\n")
    report += "\nI have a few advices for you:\n\n"
    if "better_vm" in adv:
        report += _ADVICE["better_vm"]
    if slow_enabled:
        report += ("- There are latency issues with potentially slow commands you are using. "
                   "Try to enable the Slow Log Redis feature using the command 'CONFIG SET "
                   "slowlog-log-slower-than %d'. If the Slow log is disabled Redis is not able "
                   "to log slow commands execution for you.\n" % (thr * 1000))
    if slow_tuning:
        report += ("- Your current Slow Log configuration only logs events that are slower than "
                   "your configured latency monitor threshold. Please use 'CONFIG SET "
                   "slowlog-log-slower-than %d'.\n" % (thr * 1000))
    for key in ("slowlog_inspect", "scheduler", "local_disk", "ssd", "data_writeback",
                "disk_contention", "no_appendfsync"):
        if key in adv:
            report += _ADVICE[key]
    if "relax_fsync_policy" in adv and srv.config.get("appendfsync") == "always":
        report += _ADVICE["relax_fsync_policy"]
    if "write_load_info" in adv:
        report += _ADVICE["write_load_info"]
    if "hz" in adv and srv.hz < 100:
        report += _ADVICE["hz"]
    for key in ("large_objects", "mass_eviction", "disable_thp"):
        if key in adv:
            report += _ADVICE[key]
    return report


@command("latency|doctor", 2, "admin noscript loading stale", "")
def latency_doctor(c, argv):
    return Verbatim(latency_report(c.server))


def _hdr_lowest_equivalent(v: int) -> int:
    if v < 256:
        return v
    shift = v.bit_length() - 8
    return (v >> shift) << shift


def _cdf(cmd) -> dict:
    """fillCommandCDF: hdr's logarithmic iterator from 1024ns doubling; each level reports
    the highest equivalent value (in usec) and the cumulative count up to the first bucket
    at or above the level (hdr's own convention)."""
    items = hist_ns_counts(cmd.hist)     # (highest equivalent ns, count), ascending
    lows = [(_hdr_lowest_equivalent(v), n) for v, n in items]
    total = sum(n for _, n in items)
    out = {}
    level = 1024
    acc = prev = 0
    i = 0
    while True:
        while i < len(lows) and lows[i][0] <= level:
            acc += lows[i][1]
            i += 1
        if acc > prev:
            out[hdr_highest_equivalent(level) // 1000] = acc
        prev = acc
        if acc >= total:
            break
        level *= 2
    return {b"calls": total, b"histogram_usec": out}


@command("latency|histogram", -2, "admin noscript loading stale", "")
def latency_histogram(c, argv):
    out = {}
    if len(argv) == 2:
        for cmd in sorted(_iter_commands(), key=lambda x: x.fullname):
            if getattr(cmd, "hist", None):
                out[cmd.fullname.encode()] = _cdf(cmd)
        return out
    for a in argv[2:]:
        name = a.lower()
        if b"|" in name:
            p, s = name.split(b"|", 1)
            parent = lookup(p)
            cmd = parent.subcommands.get(s) if parent is not None and parent.subcommands \
                else None
        else:
            cmd = lookup(name)
        if cmd is None:
            continue
        if getattr(cmd, "hist", None):
            out[cmd.fullname.encode()] = _cdf(cmd)
        if cmd.subcommands:
            for sub in unique_subcommands(cmd):
                if getattr(sub, "hist", None):
                    out[sub.fullname.encode()] = _cdf(sub)
    return out


@command("latency|help", 2, "loading stale", "")
def latency_help(c, argv):
    return help_reply(argv, LATENCY_HELP)


# -- MONITOR ---------------------------------------------------------------------------------

def monitor_line(client, argv) -> bytes:
    """One MONITOR feed line: ``+<sec>.<usec> [<db> <peer>] "arg" ...``."""
    now = time.time_ns() // 1000
    if getattr(client, "script", False):
        who = "%d lua" % client.db.id
    elif client.unix:
        who = "%d unix:%s" % (client.db.id, client.server.config.get("unixsocket"))
    else:
        who = "%d %s" % (client.db.id, client.addr)
    redact = client.redacted
    if redact:
        argv = [b"(redacted)" if i in redact else a for i, a in enumerate(argv)]
    return ("+%d.%06d [%s] %s\r\n" % (now // 1000000, now % 1000000, who,
                                      " ".join(catrepr(a) for a in argv))).encode()


@command("monitor", 1, "admin noscript loading stale", "")
def monitor(c, argv):
    if getattr(c, "deny_blocking", False) or getattr(c, "in_exec", False):
        raise ErrorReply("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if c.monitor or getattr(c, "is_replica", False):
        return Raw(b"")  # Redis ignores MONITOR from a monitor or a replica: no reply at all
    c.monitor = True
    c.server.monitors.append(c)
    return OK


# -- MEMORY ----------------------------------------------------------------------------------

container("memory", -2)

MEMORY_HELP = (
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
)


def _raw_value(db, key):
    """dictFind: the stored value even if logically expired (DEBUG OBJECT, MEMORY USAGE)."""
    data = getattr(db, "data", None)
    if data is not None:
        return data.get(key)
    return db.peek(key)


def value_memory(v, samples: int) -> int:
    t = type(v)
    if t is bytes or t is bytearray:
        return sys.getsizeof(v)
    fn = getattr(v, "memory_usage", None)
    if fn is not None:
        try:
            return fn(samples) if samples is not None else fn()
        except TypeError:
            return fn()
    return sys.getsizeof(v)


@command("memory|usage", -3, "readonly", "", keys=(2, 2, 1))
def memory_usage(c, argv):
    samples = 5
    j = 3
    while j < len(argv):
        if argv[j].lower() == b"samples" and j + 1 < len(argv):
            samples = get_int(argv[j + 1])
            if samples < 0:
                raise ErrorReply(errors.SYNTAX)
            if samples == 0:
                samples = sys.maxsize
            j += 2
        else:
            raise ErrorReply(errors.SYNTAX)
    v = _raw_value(c.db, argv[2])
    if v is None:
        return None
    # value + key + the dict entry (hash, key and value pointers) of the keyspace.
    return value_memory(v, samples) + sys.getsizeof(bytes(argv[2])) + 24


@command("memory|stats", 2, "", "")
def memory_stats(c, argv):
    srv = c.server
    m = memory_overhead(srv)
    used, rss = m["used"], m["rss"]
    out = {
        b"peak.allocated": m["peak"],
        b"total.allocated": used,
        b"startup.allocated": m["startup"],
        b"replication.backlog": m["repl_backlog"],
        b"clients.slaves": 0,
        b"clients.normal": m["clients_normal"],
        b"cluster.links": 0,
        b"aof.buffer": m["aof_buffer"],
        b"lua.caches": _g(srv, "scripts_cache_memory"),
        b"functions.caches": _g(srv, "functions_cache_memory"),
    }
    for dbid, main, exp in m["dbs"]:
        out[b"db.%d" % dbid] = {b"overhead.hashtable.main": main,
                                b"overhead.hashtable.expires": exp,
                                b"overhead.hashtable.slot-to-keys": 0}
    out.update({
        b"overhead.total": m["overhead"],
        b"keys.count": m["keys"],
        b"keys.bytes-per-key": m["bytes_per_key"],
        b"dataset.bytes": m["dataset"],
        b"dataset.percentage": float(m["dataset_perc"]),
        b"peak.percentage": float(m["peak_perc"]),
        b"allocator.allocated": used,
        b"allocator.active": used,
        b"allocator.resident": rss,
        b"allocator-fragmentation.ratio": 1.0,
        b"allocator-fragmentation.bytes": 0,
        b"allocator-rss.ratio": float(m["rss_ratio"]),
        b"allocator-rss.bytes": rss - used,
        b"rss-overhead.ratio": 1.0,
        b"rss-overhead.bytes": 0,
        b"fragmentation": float(m["rss_ratio"]),
        b"fragmentation.bytes": rss - used,
    })
    return out


@command("memory|doctor", 2, "", "")
def memory_doctor(c, argv):
    srv = c.server
    m = memory_overhead(srv)
    used = m["used"]
    reports = []
    empty = False
    if used < 5 * 1024 * 1024:
        empty = True
    else:
        if m["peak"] / used > 1.5:
            reports.append(
                " * Peak memory: In the past this instance used more than 150% the memory "
                "that is currently using. The allocator is normally not able to release memory "
                "after a peak, so you can expect to see a big fragmentation ratio, however this "
                "is actually harmless and is only due to the memory peak, and if the Redis "
                "instance Resident Set Size (RSS) is currently bigger than expected, the memory "
                "will be used as soon as you fill the Redis instance with more data. If the "
                "memory peak was only occasional and you want to try to reclaim memory, please "
                "try the MEMORY PURGE command, otherwise the only other option is to shutdown "
                "and restart the instance.\n\n")
        if m["rss_ratio"] > 1.4 and m["rss"] - used > 10 << 20:
            reports.append(
                " * High total RSS: This instance has a memory fragmentation and RSS overhead "
                "greater than 1.4 (this means that the Resident Set Size of the Redis process "
                "is much larger than the sum of the logical allocations Redis performed). This "
                "problem is usually due either to a large peak memory (check if there is a peak "
                "memory entry above in the report) or may result from a workload that causes "
                "the allocator to fragment memory a lot. If the problem is a large peak memory, "
                "then there is no issue. Otherwise, make sure you are using the Jemalloc "
                "allocator and not the default libc malloc. Note: The currently used allocator "
                "is \"libc\".\n\n")
        nclients = max(1, len(srv.clients))
        if m["clients_normal"] / nclients > 1024 * 200:
            reports.append(
                " * Big client buffers: The clients output buffers in this instance are "
                "greater than 200K per client (on average). This may result from different "
                "causes, like Pub/Sub clients subscribed to channels bot not receiving data "
                "fast enough, so that data piles on the Redis instance output buffer, or "
                "clients sending commands with large replies or very large sequences of "
                "commands in the same pipeline. Please use the CLIENT LIST command in order to "
                "investigate the issue if it causes problems in your instance, or to understand "
                "better why certain clients are using a big amount of memory.\n\n")
    if empty:
        s = ("Hi Sam, this instance is empty or is using very little memory, my issues "
             "detector can't be used in these conditions. Please, leave for your mission on "
             "Earth and fill it with some data. The new Sam and I will be back to our "
             "programming as soon as I finished rebooting.\n")
    elif not reports:
        s = ("Hi Sam, I can't find any memory issue in your instance. I can only account for "
             "what occurs on this base.\n")
    else:
        s = ("Sam, I detected a few issues in this Redis instance memory implants:\n\n"
             + "".join(reports) + "I'm here to keep you safe, Sam. I want to help you.\n")
    return Verbatim(s)


@command("memory|malloc-stats", 2, "", "")
def memory_malloc_stats(c, argv):
    return b"Stats not supported for the current allocator"


@command("memory|purge", 2, "", "")
def memory_purge(c, argv):
    import gc
    gc.collect()
    return OK


@command("memory|help", 2, "loading stale", "")
def memory_help(c, argv):
    return help_reply(argv, MEMORY_HELP)


# -- SHUTDOWN --------------------------------------------------------------------------------

@command("shutdown", -1, "admin noscript loading stale no_multi sentinel allow_busy", "")
def shutdown(c, argv):
    flags = set()
    abort = False
    for a in argv[1:]:
        w = a.lower()
        if w in (b"nosave", b"save", b"now", b"force"):
            flags.add(w.decode())
        elif w == b"abort":
            abort = True
        else:
            raise ErrorReply(errors.SYNTAX)
    if (abort and flags) or ("nosave" in flags and "save" in flags):
        raise ErrorReply(errors.SYNTAX)
    srv = c.server
    if abort:
        if srv.shutdown_event is not None and srv.shutdown_event.is_set() and \
                srv.shutdown_flags == ("signal",):
            srv.shutdown_event.clear()
            srv.shutdown_flags = ()
            log.notice("Shutdown manually aborted.")
            return OK
        raise ErrorReply("ERR No shutdown in progress.")
    if "now" not in flags and (getattr(c, "deny_blocking", False) or getattr(c, "in_exec",
                                                                            False)):
        raise ErrorReply("ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING "
                         "client")
    if "nosave" not in flags and srv.script_busy is not None:
        raise ErrorReply(srv.script_busy.busy_error)   # a busy script: only SHUTDOWN NOSAVE
    if srv.loading:
        flags.discard("save")
        flags.add("nosave")
    order = ("nosave", "save", "now", "force")
    ftuple = tuple(f for f in order if f in flags)
    if not srv.prepare_shutdown(ftuple):
        raise ErrorReply("ERR Errors trying to SHUTDOWN. Check logs.")
    srv.request_shutdown(*ftuple)
    # The process exits: the client sees the connection close, never a reply.
    return Raw(b"")


# -- DEBUG -----------------------------------------------------------------------------------

DEBUG_HELP = (
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid> [full]",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key> [full]",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
)

PROTOCOL_TYPES_ERR = ("ERR Wrong protocol type name. Please use one of the following: "
                      "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|"
                      "true|false")
BIGNUM = b"1234567999999999999999999999999999999"


def _atoi(b: bytes) -> int:
    """C atoi: leading whitespace, optional sign, digits; anything else stops (0 if none)."""
    s = b.lstrip()
    i = 0
    if s[:1] in (b"-", b"+"):
        i = 1
    j = i
    while j < len(s) and 48 <= s[j] <= 57:
        j += 1
    if j == i:
        return 0
    return int(s[:j])


def _strtod(b: bytes) -> float:
    s = b.strip().decode("latin-1")
    best = 0.0
    for end in range(len(s), 0, -1):
        try:
            best = float(s[:end])
            break
        except ValueError:
            continue
    return best


def _rdb_len_size(n: int) -> int:
    if n < 1 << 6:
        return 1
    if n < 1 << 14:
        return 2
    if n <= 0xFFFFFFFF:
        return 5
    return 9


def serialized_length(v, compress: bool = True) -> int:
    """rdbSavedObjectLen for strings (int encodings, plain, LZF when it would shrink)."""
    t = type(v)
    if t is bytes or t is bytearray:
        b = bytes(v)
        if len(b) <= 11:
            from ..protocol import string2ll
            n = string2ll(b)
            if n is not None and str(n).encode() == b:
                if -(1 << 7) <= n < 1 << 7:
                    return 2
                if -(1 << 15) <= n < 1 << 15:
                    return 3
                if -(1 << 31) <= n < 1 << 31:
                    return 5
        if len(b) > 20 and compress:
            clen = _lzf_len(b)
            if clen is not None:
                return 1 + _rdb_len_size(clen) + _rdb_len_size(len(b)) + clen
        return _rdb_len_size(len(b)) + len(b)
    fn = getattr(v, "serialized_length", None)
    if fn is not None:
        return fn()
    return value_memory(v, 5)


def _lzf_len(b: bytes):
    try:
        import lzf  # type: ignore[import-not-found]
    except ImportError:
        return None
    out = lzf.compress(b, len(b) - 5) if len(b) > 5 else None   # as rdb_primitives.encode_string
    return len(out) if out else None


def debug_object(c, key):
    db = c.db
    v = _raw_value(db, key)
    if v is None:
        raise ErrorReply(errors.NO_SUCH_KEY)
    from engines.memory import value_encoding
    enc = value_encoding(v)
    refcount = 1
    cfg = c.server.config
    if enc == "int":
        n = int(v)
        # Shared integers (OBJ_SHARED_INTEGERS) unless maxmemory with an LRU/LFU policy.
        if 0 <= n < 10000 and (cfg.get_int("maxmemory") == 0 or not cfg.get(
                "maxmemory-policy").startswith(("allkeys-l", "volatile-l"))):
            refcount = 2147483647
    extra = ""
    if enc == "quicklist":
        info_fn = getattr(v, "quicklist_info", None)
        if info_fn is not None:
            nodes, avg, fill, compressed, size = info_fn()
            extra = (" ql_nodes:%d ql_avg_node:%.2f ql_listpack_max:%d ql_compressed:%d "
                     "ql_uncompressed_size:%d" % (nodes, avg, fill, compressed, size))
    atime = getattr(db, "atime", {}).get(key)
    now_s = int(time.time())
    if atime is None:
        atime = now_s
    idle = max(0, now_s - atime)
    lru = atime & ((1 << 24) - 1)
    return Simple(("Value at:0x%x refcount:%d encoding:%s serializedlength:%d lru:%d "
                   "lru_seconds_idle:%d%s" % (id(v), refcount, enc, serialized_length(
                       v, cfg.get("rdbcompression") == "yes"),
                                              lru, idle, extra)).encode())


def debug_protocol(c, name: bytes):
    n = name.lower()
    r3 = c.resp == 3
    if n == b"string":
        return b"Hello World"
    if n == b"integer":
        return 12345
    if n == b"double":
        return 3.141
    if n == b"bignum":
        return Raw(b"(%s\r\n" % BIGNUM) if r3 else BIGNUM
    if n == b"null":
        return None
    if n == b"array":
        return [0, 1, 2]
    if n == b"set":
        return Raw(b"~3\r\n:0\r\n:1\r\n:2\r\n") if r3 else [0, 1, 2]
    if n == b"map":
        return {0: False, 1: True, 2: False}
    if n == b"attrib":
        follow = encode(b"Some real reply following the attribute", 3 if r3 else 2)
        if r3:
            return Raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" + follow)
        return Raw(follow)
    if n == b"push":
        if not r3:
            raise ErrorReply("ERR RESP2 is not supported by this command")
        return Raw(encode(Push([b"server-cpu-usage", 42]), 3)
                   + encode(b"Some real reply following the push reply", 3))
    if n == b"true":
        return True
    if n == b"false":
        return False
    if n == b"verbatim":
        return Verbatim("This is a verbatim\nstring")
    raise ErrorReply(PROTOCOL_TYPES_ERR)


# -- DEBUG DIGEST (computeDatasetDigest: SHA1 mixing, order-independent where Redis is) ------

_TYPE_IDS = {"string": 0, "list": 1, "set": 2, "zset": 3, "hash": 4, "stream": 6}


def xor_digest(digest: bytearray, data) -> None:
    h = hashlib.sha1(bytes(data)).digest()
    for j in range(20):
        digest[j] ^= h[j]


def mix_digest(digest: bytearray, data) -> None:
    xor_digest(digest, data)
    digest[:] = hashlib.sha1(bytes(digest)).digest()


def object_digest(db, key: bytes, v, digest: bytearray) -> None:
    """xorObjectDigest. Collection values implement ``debug_digest(digest, mix, xor)``."""
    from engines.memory import value_type
    mix_digest(digest, struct.pack(">I", _TYPE_IDS.get(value_type(v), 5)))
    t = type(v)
    if t is bytes or t is bytearray:
        mix_digest(digest, v)
    else:
        _collection_digest(v, value_type(v), digest)
    if db.get_expire(key) is not None:
        xor_digest(digest, b"!!expire!!")


def _collection_digest(v, tname: str, digest: bytearray) -> None:
    """xorObjectDigest's per-type part: list elements mixed in order; set members xored;
    sorted set members and hash fields as a digest each (member then fpconv_dtoa(score), or
    field then value) xored in; stream entries mixed in order as "<ms>.<seq>" then their
    fields and values (consumer groups are not part of it)."""
    from ..resp import fpconv_dtoa
    if tname == "list":
        for x in v:
            mix_digest(digest, x)
    elif tname == "set":
        for m in v:
            xor_digest(digest, m)
    elif tname == "zset":
        for score, m in v.sl:
            ele = bytearray(20)
            mix_digest(ele, m)
            mix_digest(ele, fpconv_dtoa(score))
            xor_digest(digest, ele)
    elif tname == "hash":
        for f, x in v.d.items():
            ele = bytearray(20)
            mix_digest(ele, f)
            mix_digest(ele, x)
            xor_digest(digest, ele)
    elif tname == "stream":
        for ident, fields in v.entries():
            mix_digest(digest, b"%d.%d" % (ident >> 64, ident & 0xFFFFFFFFFFFFFFFF))
            for x in fields:
                mix_digest(digest, x)
    else:
        raise ErrorReply("ERR DEBUG DIGEST is not supported for %s values yet" % tname)


def dataset_digest(srv) -> bytes:
    final = bytearray(20)
    for db in srv.dbs:
        data = getattr(db, "data", None)
        items = list(data.items()) if data is not None else [
            (k, db.peek(k)) for k in db.keys()]
        if not items:
            continue
        mix_digest(final, struct.pack(">I", db.id))
        for k, v in items:
            d = bytearray(20)
            mix_digest(d, k)
            object_digest(db, k, v, d)
            xor_digest(final, d)
    return bytes(final)


def _not_supported(what: str):
    raise ErrorReply("ERR DEBUG %s is not supported by valkeyd" % what)


@command("debug", -2, "admin noscript loading stale protected", "")
def debug(c, argv):
    srv = c.server
    sub = argv[1].lower()
    n = len(argv)
    if sub == b"help" and n == 2:
        return help_reply(argv, DEBUG_HELP)
    if sub == b"object" and n == 3:
        return debug_object(c, argv[2])
    if sub == b"protocol" and n == 3:
        return debug_protocol(c, argv[2])
    if sub == b"sleep" and n == 3:
        secs = _strtod(argv[2])
        if secs > 0:
            time.sleep(int(secs * 1e6) / 1e6)
        return OK
    if sub == b"set-active-expire" and n == 3:
        srv.active_expire_enabled = bool(_atoi(argv[2]))
        return OK
    if sub == b"log" and n == 3:
        log.warning("DEBUG LOG: %s" % _s(argv[2]))
        return OK
    if sub == b"error" and n == 3:
        return ErrorReply(_s(argv[2]))
    if sub == b"leak" and n == 3:
        return OK
    if sub == b"set-skip-checksum-validation" and n == 3:
        srv.skip_checksum_validation = bool(_atoi(argv[2]))
        return OK
    if sub == b"set-disable-deny-scripts" and n == 3:
        srv.script_disable_deny_script = bool(_atoi(argv[2]))
        return OK
    if sub == b"pause-cron" and n == 3:
        srv.pause_cron = bool(_atoi(argv[2]))
        return OK
    if sub == b"aof-flush-sleep" and n == 3:
        srv.aof_flush_sleep = _atoi(argv[2])
        return OK
    if sub == b"populate" and 3 <= n <= 5:
        return debug_populate(c, argv)
    if sub == b"structsize" and n == 2:
        return b"bits:64 robj:16 dictentry:24 sdshdr5:1 sdshdr8:3 sdshdr16:5 sdshdr32:9 " \
               b"sdshdr64:17 "
    if sub == b"sdslen" and n == 3:
        v = _raw_value(c.db, argv[2])
        if v is None:
            raise ErrorReply(errors.NO_SUCH_KEY)
        if type(v) not in (bytes, bytearray):
            raise ErrorReply("ERR Not an sds encoded string.")
        return Simple(("key_sds_len:%d, key_sds_avail:0, key_zmalloc: %d, val_sds_len:%d, "
                       "val_sds_avail:0, val_zmalloc: %d" % (
                           len(argv[2]), sys.getsizeof(bytes(argv[2])), len(v),
                           sys.getsizeof(v))).encode())
    if sub == b"change-repl-id" and n == 2:
        fn = getattr(srv, "change_replication_id", None)
        if fn is None:
            _not_supported("CHANGE-REPL-ID")
        log.notice("Changing replication IDs after receiving DEBUG change-repl-id")
        fn()
        return OK
    if sub == b"reload":
        for opt in argv[2:]:
            if opt.lower() not in (b"merge", b"noflush", b"nosave"):
                raise ErrorReply("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and "
                                 "NOSAVE options.")
        fn = getattr(srv, "debug_reload", None)
        if fn is None:
            _not_supported("RELOAD")
        return fn(c, [o.lower().decode() for o in argv[2:]])
    if sub == b"loadaof" and n == 2:
        fn = getattr(srv, "debug_loadaof", None)
        if fn is None:
            _not_supported("LOADAOF")
        return fn(c)
    if sub == b"digest" and n == 2:
        return Simple(dataset_digest(srv).hex().encode())
    if sub == b"digest-value":
        out = []
        for k in argv[2:]:
            d = bytearray(20)
            v = _raw_value(c.db, k)
            if v is not None:
                object_digest(c.db, k, v, d)
            out.append(Simple(d.hex().encode()))
        return out
    if sub in (b"segfault", b"panic", b"assert", b"oom", b"restart", b"crash-and-recover",
               b"quicklist-packed-threshold", b"listpack", b"quicklist", b"htstats",
               b"htstats-key", b"mallctl", b"mallctl-str", b"client-eviction",
               b"stringmatch-test", b"config-rewrite-force-all", b"replicate",
               b"drop-cluster-packet-filter", b"replybuffer", b"clusterlink"):
        _not_supported(_s(argv[1]).upper())
    raise subcommand_syntax_error(argv)


def debug_populate(c, argv):
    from ..protocol import string2ll
    # getPositiveLongFromObjectOrReply: one message for non-integers and negatives alike.
    count = string2ll(argv[2])
    if count is None or count < 0:
        raise ErrorReply(errors.NOT_POSITIVE)
    prefix = argv[3] if len(argv) >= 4 else b"key"
    size = 0
    if len(argv) == 5:
        size = string2ll(argv[4])
        if size is None or size < 0:
            raise ErrorReply(errors.NOT_POSITIVE)
    db = c.db
    srv = c.server
    for j in range(count):
        key = b"%s:%d" % (prefix, j)
        if db.exists(key):
            continue
        val = b"value:%d" % j
        if size:
            val = (val[:size] + b"\x00" * max(0, size - len(val)))
        db.set(key, val)
        if srv.keyspace_hooks:
            srv.key_modified(db, key)
    return OK
