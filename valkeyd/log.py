"""Redis-style log lines: ``<pid>:<role> <dd Mon yyyy hh:mm:ss.mmm> <level> <message>``."""
from __future__ import annotations

import os
import sys
import time

LEVELS = {"debug": 0, "verbose": 1, "notice": 2, "warning": 3, "nothing": 4}
MARKS = ".-*#"


class Logger:
    def __init__(self):
        self.level = LEVELS["notice"]
        self.path = ""
        self.role = "M"
        self._fh = sys.stdout

    def configure(self, logfile: str | None = None, loglevel: str | None = None) -> None:
        if loglevel is not None:
            self.level = LEVELS[loglevel]
        if logfile is not None and logfile != self.path:
            if self._fh not in (sys.stdout, sys.stderr):
                self._fh.close()
            self.path = logfile
            self._fh = open(logfile, "a", buffering=1) if logfile else sys.stdout

    def log(self, level: int, msg: str) -> None:
        if level < self.level:
            return
        now = time.time()
        ts = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now))
        line = "%d:%s %s.%03d %s %s\n" % (os.getpid(), self.role, ts, int(now * 1000) % 1000,
                                         MARKS[level], msg)
        try:
            self._fh.write(line)
            self._fh.flush()
        except (OSError, ValueError):
            pass

    def debug(self, msg):
        self.log(0, msg)

    def verbose(self, msg):
        self.log(1, msg)

    def notice(self, msg):
        self.log(2, msg)

    def warning(self, msg):
        self.log(3, msg)


log = Logger()
