"""The ``valkeyd`` command line.

``valkeyd serve [CONFIG_FILE] [--directive value ...] [--engine memory|lmdb]`` takes the
arguments valkey-server takes: an optional redis.conf (``-`` reads it from standard input),
then any directive as ``--name value`` overriding the file.
"""
from __future__ import annotations

import asyncio
import os
import sys

import click

from . import __version__
from .config import Config, ConfigError
from .log import log


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-v", "--version", prog_name="valkeyd")
def main():
    """valkeyd: a Valkey/Redis-compatible data server."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args):
    """Start the server: serve [CONFIG_FILE] [--directive value ...] [--engine memory|lmdb]"""
    sys.exit(run_server(list(args)))


def split_engine(args: list[str]) -> tuple[str, list[str]]:
    engine = "memory"
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--engine" and i + 1 < len(args):
            engine = args[i + 1]
            i += 2
            continue
        if a.startswith("--engine="):
            engine = a.split("=", 1)[1]
            i += 1
            continue
        out.append(a)
        i += 1
    return engine, out


def run_server(args: list[str]) -> int:
    engine, args = split_engine(args)
    if engine not in ("memory", "lmdb"):
        click.echo(f"Invalid --engine '{engine}': expected memory or lmdb", err=True)
        return 1
    config = Config()
    cfgfile = None
    if args and not args[0].startswith("--"):
        cfgfile = args.pop(0)
    try:
        if cfgfile == "-":
            config.load_text(sys.stdin.read(), "stdin")
        elif cfgfile:
            config.load_file(cfgfile)
        config.load_args(args)
    except ConfigError as e:
        sys.stderr.write(str(e))
        return 1
    except OSError as e:
        sys.stderr.write(f"Fatal error, can't open config file '{cfgfile}': {e.strerror}\n")
        return 1

    if config.get("daemonize") == "yes":
        _daemonize()
    log.configure(logfile=config.get("logfile"), loglevel=config.get("loglevel"))
    pid = os.getpid()
    log.notice("oO0OoO0OoO0Oo valkeyd is starting oO0OoO0OoO0Oo")
    log.notice(f"valkeyd version={__version__}, redis_version=7.2.4, bits=64, pid={pid}, "
               f"just started")
    if cfgfile:
        log.notice("Configuration loaded")
    else:
        log.warning("Warning: no config file specified, using the default config. In order to "
                    "specify a config file use valkeyd serve /path/to/valkeyd.conf")
    for warning in config.startup_notes():
        log.notice(warning)
    pidfile = config.get("pidfile")
    if pidfile or config.get("daemonize") == "yes":
        path = pidfile or "/var/run/redis.pid"
        try:
            with open(path, "w") as fh:
                fh.write(f"{pid}\n")
        except OSError as e:
            log.warning(f"Failed to write PID file: {e.strerror}")
    try:
        import uvloop  # type: ignore[import-not-found]
        uvloop.install()
        loopname = "uvloop"
    except ImportError:
        loopname = "asyncio"

    from .server import Server
    import valkeyd.commands  # noqa: F401  (registers every command)

    async def amain():
        try:
            os.chdir(config.get("dir"))
        except OSError as e:
            log.warning(f"Can't chdir to '{config.get('dir')}': {e.strerror}")
            return 1
        server = Server(config, engine)
        await server.start()
        log.notice(f"Running mode=standalone, port={server.port}.")
        log.notice(f"PID: {pid}")
        log.notice(f"Event loop: {loopname}, engine: {engine}")
        log.notice("Server initialized")
        await server.load_data()
        if server.servers and config.get_int("port"):
            log.notice("Ready to accept connections tcp")
        if config.get("unixsocket"):
            log.notice("Ready to accept connections unix")
        await server.serve_until_shutdown()
        return server.exit_code

    try:
        return asyncio.run(amain())
    except SystemExit as e:
        return int(e.code or 0)


def _daemonize():
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
