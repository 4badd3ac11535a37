"""Logging: one line per record with time, level, logger name and message.

Under systemd (stdout not a terminal and JOURNAL_STREAM set) the time is left to journald
and each line starts with a syslog priority (`<3>`), so `journalctl -p err` works.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque

from orge.redact import RedactingFilter

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s (%(threadName)s) [%(name)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # journald splits on newlines; keep a traceback as one record by indenting it.
        return f"<{priority}>" + text.replace("\n", "\n    ")


class RecentErrors(logging.Handler):
    """Keeps the last warnings and errors for the API's error log."""

    def __init__(self, size: int = 200) -> None:
        super().__init__(logging.WARNING)
        self.records: deque[str] = deque(maxlen=size)
        self.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(self.format(record))
        except Exception:
            self.handleError(record)


RECENT = RecentErrors()


class LogRing(logging.Handler):
    """The last `size` records of every level the root logger passes (INFO by default),
    each as (time.time() of the record, formatted line): the station's own log when it
    does not run under journald, for the diagnostics bundle (OCPP GetLog /
    GetDiagnostics). Bounded, so memory stays flat however long the station runs."""

    def __init__(self, size: int = 5000) -> None:
        super().__init__(logging.DEBUG)
        self.records: deque[tuple[float, str]] = deque(maxlen=size)
        self.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.created, self.format(record)))
        except Exception:
            self.handleError(record)

    def between(self, since: float | None, until: float | None) -> list[str]:
        """The lines whose record time (epoch seconds) is in [since, until]; None is open."""
        return [
            line
            for created, line in list(self.records)
            if (since is None or created >= since) and (until is None or created <= until)
        ]


RING = LogRing()


def setup_logging(level: int = logging.INFO, stream: object = None) -> None:
    """Configure the root logger once (idempotent, so tests may call it)."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)  # type: ignore[arg-type]
    is_tty = hasattr(out, "isatty") and out.isatty()
    if not is_tty and os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(levelname)s [%(name)s] %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    redacting = RedactingFilter()
    handler.addFilter(redacting)
    RECENT.addFilter(redacting)
    RING.addFilter(redacting)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_orge", False)]:
        root.removeHandler(old)
    handler._orge = True  # type: ignore[attr-defined]
    RECENT._orge = True  # type: ignore[attr-defined]
    RING._orge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.addHandler(RECENT)
    root.addHandler(RING)
    root.setLevel(level)
    for noisy in ("websockets", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
