"""BGREWRITEAOF and WAITAOF (the AOF itself is persistence/aof.py).

BGREWRITEAOF forks the rewrite child (persistence/aof.py ``Aof.bgrewriteaof``), or schedules
it while a BGSAVE child runs or inside MULTI, with Redis's replies. WAITAOF: at
``appendfsync always`` every acknowledged write is already fsynced, so the local part is satisfied at once; at
``everysec``/``no`` WAITAOF with numlocal 1 fsyncs the AOF before replying (instead of
waiting for the next background fsync: same reply, sooner); numlocal 0 reports whether the
client's writes are fsynced yet. While the first rewrite after CONFIG SET appendonly yes runs
(AOF_WAIT_REWRITE) nothing is durable yet: numlocal 1 blocks until the rewrite succeeds (or
the timeout), as in Redis. Replicas do not exist yet: ``numreplicas > 0`` blocks
until the timeout (0: forever) and then replies ``[numlocal acked, 0]``, as Redis does with no
replica acknowledging.
"""
from __future__ import annotations

from ..blocking import deny_blocking, install as blocking_install
from ..errors import ErrorReply
from ..resp import Simple
from .registry import command
from .util import get_int

WAITAOF_NO_AOF = "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
WAITAOF_REPLICA = ("ERR WAITAOF cannot be used with replica instances. Please also note that "
                   "writes to replicas are just local and are not propagated.")


@command("bgrewriteaof", 1, "no_async_loading admin noscript", "")
def bgrewriteaof(c, argv):
    return Simple(c.server.aof.bgrewriteaof(getattr(c, "in_exec", False)))


def _get_long(arg) -> int:
    try:
        return get_int(arg)
    except ErrorReply:
        raise ErrorReply("ERR value is not an integer or out of range")


@command("waitaof", 4, "noscript", "connection")
def waitaof(c, argv):
    srv = c.server
    numlocal = _get_long(argv[1])
    if numlocal < 0 or numlocal > 1:
        raise ErrorReply("ERR value is out of range, value must between 0 and 1")
    try:   # getPositiveLongFromObjectOrReply: one message for both failures
        numreplicas = get_int(argv[2])
    except ErrorReply:
        numreplicas = -1
    if numreplicas < 0:
        raise ErrorReply("ERR value is out of range, must be positive")
    try:
        t = get_int(argv[3])
    except ErrorReply:
        raise ErrorReply("ERR timeout is not an integer or out of range")
    if t < 0:
        raise ErrorReply("ERR timeout is negative")
    if srv.is_replica():
        raise ErrorReply(WAITAOF_REPLICA)
    aof = srv.aof
    enabled = aof.state != 0
    if numlocal and not enabled:
        raise ErrorReply(WAITAOF_NO_AOF)
    acklocal = 0
    if enabled:
        # at "always" (every acknowledged write is durable) and for numlocal 1: fsync now
        aof.write_buffer(bool(numlocal) or aof.fsync == "always")
        acklocal = 1 if aof.fsynced_size >= aof.written_size and aof.state == 1 else 0
    # during the first rewrite of CONFIG SET appendonly yes nothing is durable yet: numlocal 1
    # waits for the rewrite to end (Aof.wake_waitaof), as Redis's fsynced_reploff does
    wait_local = numlocal and aof.state == 2
    if (numreplicas == 0 and not wait_local) or deny_blocking(c):
        return [acklocal, 0]
    from engines.base import clock
    deadline = clock.ms() + t if t else 0
    reply = blocking_install(srv).block(c, argv, "wait", [], deadline,
                                        timeout_reply=[acklocal, 0])
    if wait_local:
        aof.waitaof.append((c, c.blocked, numreplicas))
    return reply
