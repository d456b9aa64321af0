"""CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (networking.c clientCommand in Redis
7.2.4). The tracking state and the invalidation messages are in :mod:`valkeyd.tracking`."""
from __future__ import annotations

from .. import errors, tracking
from ..errors import ErrorReply
from ..protocol import string2ll
from ..resp import OK, SetReply, error_bytes
from .registry import command


@command("client|tracking", -3, "noscript loading stale sentinel", "connection")
def client_tracking(c, argv):
    """CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
    Every option is parsed (and REDIRECT checked) before ON/OFF is looked at."""
    srv = c.server
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list = []
    n = len(argv)
    j = 3
    while j < n:
        opt = argv[j].lower()
        more = j < n - 1
        if opt == b"redirect" and more:
            j += 1
            if redirect != 0:
                raise ErrorReply("ERR A client can only redirect to a single other client")
            redirect = string2ll(argv[j])
            if redirect is None:
                raise ErrorReply(errors.NOT_INTEGER)
            if redirect not in srv.clients:
                raise ErrorReply("ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            noloop = True
        elif opt == b"prefix" and more:
            j += 1
            p = argv[j]
            prefixes.append(p if type(p) is bytes else bytes(p))
        else:
            raise ErrorReply(errors.SYNTAX)
        j += 1
    onoff = argv[2].lower()
    if onoff == b"on":
        if not bcast and prefixes:
            raise ErrorReply("ERR PREFIX option requires BCAST mode to be enabled")
        if getattr(c, "tracking", False) and c.tracking_bcast != bcast:
            raise ErrorReply("ERR You can't switch BCAST mode on/off before disabling "
                             "tracking for this client, and then re-enabling it with a "
                             "different mode.")
        if bcast and (optin or optout):
            raise ErrorReply("ERR OPTIN and OPTOUT are not compatible with BCAST")
        if optin and optout:
            raise ErrorReply("ERR You can't specify both OPTIN mode and OPTOUT mode")
        if ((optin and getattr(c, "tracking_optout", False))
                or (optout and getattr(c, "tracking_optin", False))):
            raise ErrorReply("ERR You can't switch OPTIN/OPTOUT mode before disabling "
                             "tracking for this client, and then re-enabling it with a "
                             "different mode.")
        if bcast:
            err, go_on = tracking.prefix_collision(c, prefixes)
            if err is not None:
                if not go_on:
                    raise ErrorReply(err)
                # Redis 7.2.4 replies the error and then goes on: a second reply (+OK).
                srv.stats.total_error_replies += 1
                srv.count_error("ERR")
                c.out.append(error_bytes(err))
        tracking.get(srv).enable(c, redirect, bcast, optin, optout, noloop, prefixes)
    elif onoff == b"off":
        tr = getattr(srv, "tracking", None)
        if tr is not None:
            tr.disable(c)
    else:
        raise ErrorReply(errors.SYNTAX)
    return OK


@command("client|caching", 3, "noscript loading stale sentinel", "connection")
def client_caching(c, argv):
    if not getattr(c, "tracking", False):
        raise ErrorReply("ERR CLIENT CACHING can be called only when the client is in "
                         "tracking mode with OPTIN or OPTOUT mode enabled")
    opt = argv[2].lower()
    if opt == b"yes":
        if not c.tracking_optin:
            raise ErrorReply("ERR CLIENT CACHING YES is only valid when tracking is enabled "
                             "in OPTIN mode.")
    elif opt == b"no":
        if not c.tracking_optout:
            raise ErrorReply("ERR CLIENT CACHING NO is only valid when tracking is enabled "
                             "in OPTOUT mode.")
    else:
        raise ErrorReply(errors.SYNTAX)
    c.tracking_caching = True
    return OK


@command("client|getredir", 2, "noscript loading stale sentinel", "connection")
def client_getredir(c, argv):
    return c.tracking_redirect if getattr(c, "tracking", False) else -1


@command("client|trackinginfo", 2, "noscript loading stale sentinel", "connection")
def client_trackinginfo(c, argv):
    on = getattr(c, "tracking", False)
    flags = [b"on" if on else b"off"]
    if on:
        if c.tracking_bcast:
            flags.append(b"bcast")
        if c.tracking_optin:
            flags.append(b"optin")
            if c.tracking_caching:
                flags.append(b"caching-yes")
        if c.tracking_optout:
            flags.append(b"optout")
            if c.tracking_caching:
                flags.append(b"caching-no")
        if c.tracking_noloop:
            flags.append(b"noloop")
        if c.tracking_broken_redir:
            flags.append(b"broken_redirect")
    prefixes = getattr(c, "tracking_prefixes", None)
    return {
        b"flags": SetReply(flags),
        b"redirect": c.tracking_redirect if on else -1,
        b"prefixes": sorted(prefixes) if prefixes else [],
    }
