"""The ``valkeyd`` command line.

``valkeyd serve [CONFIG_FILE] [-] [--directive value ...] [--engine memory|lmdb]`` takes the
arguments valkey-server takes: an optional redis.conf, ``-`` (first or last) to read more
configuration from standard input, then any directive as ``--name value ...`` appended to the
configuration (so it overrides the file). Bad configuration exits with status 1 and Redis's
``*** FATAL CONFIG FILE ERROR`` text on standard error.

``valkeyd cli [OPTIONS] [CMD ARGS...]`` is a redis-cli work-alike (valkeyd/cli_client.py); its
options are redis-cli's, parsed there (so ``-h`` is the host, not help).

``valkeyd rdb info|check|dump|diff|memory|salvage`` are the RDB tools (tools/rdb_tool.py,
loaded lazily). ``valkeyd aof info|check|fix|dump|truncate-to-timestamp|restore``: the AOF
tools (tools/aof_tool.py, loaded lazily).

``valkeyd convert SRC DST [--to lmdb|rdb]``: RDB file <-> lmdb data directory, offline
(tools/convert.py, loaded lazily).
"""
from __future__ import annotations

import asyncio
import os
import sys

import click

from . import __version__
from .config import Config, ConfigError, ConfigFatal, ConfigOpenError
from .log import log

DEFAULT_PIDFILE = "/var/run/redis.pid"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-v", "--version", prog_name="valkeyd")
def main():
    """valkeyd: a Valkey/Redis-compatible data server."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args):
    """Start the server: serve [CONFIG_FILE] [-] [--directive value ...] [--engine memory|lmdb]"""
    sys.exit(run_server(list(args)))


@main.command("cli", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                       "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cli_cmd(args):
    """A redis-cli work-alike: cli [-h HOST] [-p PORT] [-n DB] [-a PASS] [--raw] [CMD ARGS...]"""
    from .cli_client import run
    sys.exit(run(list(args)))


class _LazyRdb(click.Group):
    """``valkeyd rdb ...`` (tools/rdb_tool.py), imported only when used."""

    def _real(self):
        from tools.rdb_tool import rdb
        return rdb

    def list_commands(self, ctx):
        return self._real().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._real().get_command(ctx, name)


main.add_command(_LazyRdb("rdb", help="RDB file tools: info, check, dump, diff, memory, salvage "
                                      "(exit codes: 0 ok, 1 corrupt/truncated file or diff "
                                      "found differences, 2 usage/unreadable).",
                          context_settings={"help_option_names": ["-h", "--help"]}))


class _LazyAof(_LazyRdb):
    """``valkeyd aof ...`` (tools/aof_tool.py), imported only when used."""

    def _real(self):
        from tools.aof_tool import aof
        return aof


main.add_command(_LazyAof("aof", help="AOF tools: info, check, fix, dump, "
                                      "truncate-to-timestamp, restore (exit codes: 0 ok, 1 "
                                      "invalid/corrupt AOF or cannot be done, 2 "
                                      "usage/unreadable).",
                          context_settings={"help_option_names": ["-h", "--help"]}))


class _LazyConvert(click.Command):
    """``valkeyd convert ...`` (tools/convert.py), imported only when used."""

    def invoke(self, ctx):
        from tools.convert import convert
        return convert.main(ctx.args, prog_name=ctx.command_path, standalone_mode=False)


main.add_command(_LazyConvert("convert", help="RDB file <-> lmdb data directory: convert SRC "
                                              "DST [--to lmdb|rdb] [--force] "
                                              "[--skip-unsupported] (exit codes: 0 ok, 1 "
                                              "corrupt/unsupported data, 2 usage).",
                              context_settings={"ignore_unknown_options": True,
                                                "allow_extra_args": True,
                                                "help_option_names": []}))


def split_engine(args: list[str]) -> tuple[str | None, list[str]]:
    """``--engine NAME`` taken out of the arguments (None when absent: the config file's
    ``engine`` directive, default memory, decides)."""
    engine = None
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


def load_config(args: list[str]) -> tuple[Config, bool]:
    """Parse the command line as valkey-server's main() does. Raises ConfigError."""
    config = Config()
    cfgfile = None
    rest = list(args)
    if rest and not rest[0].startswith("-"):
        cfgfile = rest.pop(0)
    from_stdin = False
    n = len(rest)
    options = []
    for j, a in enumerate(rest):
        # '-' as the first argument of all, or the last one, reads standard input
        if a == "-" and ((j == 0 and cfgfile is None) or j == n - 1):
            from_stdin = True
        else:
            options.append(a)
    config.load(cfgfile, from_stdin, options)
    return config, bool(args)


def run_server(args: list[str]) -> int:
    engine, args = split_engine(args)
    if engine is not None and engine not in ("memory", "lmdb"):
        click.echo(f"Invalid --engine '{engine}': expected memory or lmdb", err=True)
        return 1
    import valkeyd.commands  # noqa: F401  (registers every command: rename-command needs it)
    try:
        config, had_args = load_config(args)
    except ConfigOpenError as e:
        log.warning(str(e))
        return 1
    except ConfigFatal as e:
        sys.stderr.write(str(e))
        sys.stderr.flush()
        return 1
    except ConfigError as e:  # pragma: no cover - every load error is fatal
        sys.stderr.write(str(e) + "\n")
        return 1
    if engine is None:
        engine = config.get("engine")
    else:
        config.values["engine"] = engine

    daemonize = config.get("daemonize") == "yes" and config.get("supervised") in ("no", "auto")
    if daemonize:
        _daemonize()
    log.configure(logfile=config.get("logfile"), loglevel=config.get("loglevel"))
    pid = os.getpid()
    log.notice("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")
    log.notice(f"Redis version=7.2.4, bits=64, commit=00000000, modified=0, pid={pid}, "
               f"just started")
    log.notice(f"valkeyd version={__version__}")
    if had_args:
        log.notice("Configuration loaded")
    else:
        log.warning("Warning: no config file specified, using the default config. In order to "
                    "specify a config file use valkeyd serve /path/to/redis.conf")
    for note in config.startup_notes():
        log.notice(note)
    if config.modules:
        path = config.modules[0][0]
        log.warning(f"Module {path} failed to load: modules are not supported by valkeyd")
        log.warning(f"Can't load module from {path}: server aborting")
        return 1
    if config.module_configs:
        log.warning("Module Configuration detected without loadmodule directive or no "
                    "ApplyConfig call: aborting")
        return 1
    try:
        import uvloop  # type: ignore[import-not-found]
        uvloop.install()
        loopname = "uvloop"
    except ImportError:
        loopname = "asyncio"

    from .server import Server

    async def amain():
        try:
            server = Server(config, engine)
        except ValueError as e:   # the engine could not be opened (engines.create_engine)
            log.warning(f"Fatal error opening the {engine} engine: {e}")
            return 1
        if daemonize or config.get("pidfile"):
            if not config.get("pidfile"):
                config.values["pidfile"] = DEFAULT_PIDFILE
            try:
                with open(config.get("pidfile"), "w") as fh:
                    fh.write(f"{pid}\n")
            except OSError as e:
                log.warning(f"Failed to write PID file: {e.strerror}")
        _check_backlog(config.get_int("tcp-backlog"))
        await server.start()
        log.notice(f"Running mode=standalone, port={server.port}.")
        log.notice(f"PID: {pid}")
        log.notice(f"Event loop: {loopname}, engine: {engine}")
        log.notice("Server initialized")
        await server.load_data()
        if getattr(server, "tcp_servers", None):
            log.notice("Ready to accept connections tcp")
        if getattr(server, "unix_server", None) is not None:
            log.notice("Ready to accept connections unix")
        await server.serve_until_shutdown()
        return server.exit_code

    try:
        return asyncio.run(amain())
    except SystemExit as e:
        return int(e.code or 0)


def _check_backlog(backlog: int) -> None:
    """checkTcpBacklogSettings."""
    try:
        with open("/proc/sys/net/core/somaxconn") as fh:
            somaxconn = int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return
    if 0 < somaxconn < backlog:
        log.warning(f"WARNING: The TCP backlog setting of {backlog} cannot be enforced because "
                    f"/proc/sys/net/core/somaxconn is set to the lower value of {somaxconn}.")


def _daemonize():
    """Detach: fork, new session, fork again; standard streams go to /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    if fd > 2:
        os.close(fd)
