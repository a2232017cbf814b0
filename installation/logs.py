"""Structured logging: plain text on a terminal, JSON lines with journald priorities under systemd.

systemd sets ``JOURNAL_STREAM`` for a service whose stderr goes to the journal; then every record is
one JSON object prefixed with ``<N>`` (sd-daemon(3) priority), so ``journalctl -p warning`` works and
fields stay machine-readable. Extra fields passed with ``logger.info(..., extra={"artwork": "a1"})``
are kept.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping

LOG_FORMATS = ("auto", "text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def _priority(levelno: int) -> int:
    for level in sorted(_SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return _SYSLOG_PRIORITY[level]
    return 7


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def __init__(self, journald_prefix: bool = False):
        super().__init__()
        self.journald_prefix = journald_prefix

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        text = json.dumps(payload, default=str, ensure_ascii=False)
        return f"<{_priority(record.levelno)}>{text}" if self.journald_prefix else text


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")
        )
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname.lower():7s} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    verbosity: int = 0,
    log_format: str = "auto",
    environ: Mapping[str, str] | None = None,
    stream=None,
) -> logging.Handler:
    """Install one handler on the root logger and return it.

    Args:
        verbosity: 0 -> warnings, 1 -> info, 2+ -> debug.
        log_format: ``auto`` (JSON under systemd, text otherwise), ``text`` or ``json``.
        environ: the environment to read ``JOURNAL_STREAM`` from (defaults to ``os.environ``).
        stream: where to write (defaults to stderr).
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    env = os.environ if environ is None else environ
    under_journal = bool(env.get("JOURNAL_STREAM"))
    use_json = log_format == "json" or (log_format == "auto" and under_journal)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(journald_prefix=under_journal) if use_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_art2mus", False):
            root.removeHandler(old)
    handler._art2mus = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING)
    return handler
