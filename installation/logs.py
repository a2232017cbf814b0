"""Structured logging: plain text on a terminal, JSON lines with journald priorities under systemd.

systemd sets ``JOURNAL_STREAM`` for a service whose stderr goes to the journal; then every record is
one JSON object prefixed with ``<N>`` (sd-daemon(3) priority), so ``journalctl -p warning`` works and
fields stay machine-readable. Each object carries the wall-clock time twice: ``ts`` (seconds since the
epoch) and ``time`` (ISO 8601 with the UTC offset). Extra fields passed with
``logger.info(..., extra={"artwork": "a1"})`` are kept.

What others write is tidied on the way: terminal colour codes (uvicorn's ``color_message``, ANSI escapes
in messages) never reach a log; third-party chatter (APScheduler's line every run, uvicorn's access and
start-up lines, ...) is shown from warning level up unless ``-vv``; OpenCV's own native log (and its
FFmpeg backend's) is cut to OpenCV's errors (FFmpeg's: nothing) unless ``-vv``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping

LOG_FORMATS = ("auto", "text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` (``color_message``:
# uvicorn's copy of its message with terminal colours, never wanted in a log).
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

#: the progress of long work (the reference photo checks, the recognition index build): shown at every
#: verbosity, so a long start under systemd (warnings only) still says in the journal how far it has come;
#: ``art2mus run`` also sends each line as the unit's ``STATUS=`` while it starts
PROGRESS_LOGGER = "art2mus.progress"


def progress_logger(name: str) -> logging.Logger:
    """The logger for ``name``'s progress lines (under :data:`PROGRESS_LOGGER`)."""
    return logging.getLogger(f"{PROGRESS_LOGGER}.{name}")


#: libraries whose info lines are chatter in a gallery's log: shown from warning up unless -vv
THIRD_PARTY_LOGGERS = (
    "apscheduler",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "asyncio",
    "httpx",
    "httpcore",
    "urllib3",
    "PIL",
    "matplotlib",
    "multipart",
    "python_multipart",
)


def _message(record: logging.LogRecord) -> str:
    return _ANSI.sub("", record.getMessage())


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


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


def under_journal(environ: Mapping[str, str] | None = None, stream=None) -> bool:
    """Whether ``stream`` (default: stderr) goes to the journal.

    systemd sets ``JOURNAL_STREAM`` to ``DEVICE:INODE`` of the journal's socket for a service's stdio;
    as sd_journal_stream_fd(3) and systemd.exec(5) say, a program compares it with the stream's own
    ``st_dev:st_ino``: a shell or child whose stderr is a terminal or a file inherits the variable
    (``systemd-run --shell``, a command started by the daemon with its output redirected), and took it
    for the journal, writing JSON with ``<N>`` prefixes to a person's terminal. A stream without a
    file descriptor is not the journal."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat((sys.stderr if stream is None else stream).fileno())
    except (AttributeError, OSError, ValueError):  # no stderr, a closed one, or an in-memory stream
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


def with_journal_priority(
    text: str, level: int, environ: Mapping[str, str] | None = None, stream=None
) -> str:
    """``text`` with every line prefixed ``<N>``, the sd-daemon(3) priority of the logging ``level``, when
    ``stream`` (default: stderr, where it is printed) goes to the journal (as is elsewhere). For what a
    command prints rather than logs (validate's problems, click's ``Error:``): journald filed those lines
    at info, so ``journalctl -p warning`` hid why a start failed."""
    if not under_journal(environ, stream):
        return text
    prefix = f"<{_priority(level)}>"
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def __init__(self, journald_prefix: bool = False):
        super().__init__()
        self.journald_prefix = journald_prefix

    def format(self, record: logging.LogRecord) -> str:
        wall = datetime.datetime.fromtimestamp(record.created).astimezone()
        payload: dict[str, object] = {
            "ts": round(record.created, 3),
            "time": wall.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        text = json.dumps(payload, default=str, ensure_ascii=False)
        return f"<{_priority(record.levelno)}>{text}" if self.journald_prefix else text


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname.lower():7s} {record.name}: {_message(record)}"
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
        verbosity: 0 -> warnings (and the progress of long work, :data:`PROGRESS_LOGGER`), 1 -> info,
            2+ -> debug (and third-party libraries' and OpenCV's own info lines, which are quieted below
            that).
        log_format: ``auto`` (JSON under systemd, text otherwise), ``text`` or ``json``.
        environ: the environment to read ``JOURNAL_STREAM`` from (defaults to ``os.environ``).
        stream: where to write (defaults to stderr); JSON under ``auto`` only when it is the journal's.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    journal = under_journal(environ, stream)
    use_json = log_format == "json" or (log_format == "auto" and journal)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(journald_prefix=journal) if use_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_art2mus", False):
            root.removeHandler(old)
    handler._art2mus = True  # type: ignore[attr-defined]
    shown = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING
    handler.addFilter(_ShownFrom(shown))
    root.addHandler(handler)
    # the root passes info records even when the log shows warnings only: the control panel's log card
    # (:class:`~art2mus.installation.telemetry.LogRing`) offers them, and a daemon run as systemd runs it
    # (no -v) gave it warnings alone, whatever level the technician chose
    root.setLevel(min(shown, logging.INFO))
    global _shown_level, _shown_format
    _shown_level = shown
    _shown_format = "json" if use_json else "text"
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbosity >= 2 else logging.WARNING)
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.NOTSET if verbosity >= 2 else logging.INFO)
    _quiet_opencv(verbose=verbosity >= 2)
    _quiet_progress_bars(to_terminal=_is_terminal(handler.stream))
    return handler


#: the lowest level the log shows (``configure_logging``'s verbosity), for a child process to log alike
_shown_level = logging.WARNING


def shown_level() -> int:
    """The lowest level :func:`configure_logging` set the log to show (the root logger passes more)."""
    return _shown_level


#: the format :func:`configure_logging` chose (``auto`` resolved), for a child process to write alike
_shown_format = "text"


def shown_format() -> str:
    """``json`` or ``text``: what :func:`configure_logging` chose, ``auto`` resolved (a child process
    handed ``auto`` could choose otherwise: ``--log-format json`` outside systemd gave text lines from it
    in a JSON stream)."""
    return _shown_format


class _ShownFrom(logging.Filter):
    """Records at ``level`` or above, and every record of the progress of long work."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        return record.levelno >= self.level or name == PROGRESS_LOGGER or name.startswith(PROGRESS_LOGGER + ".")


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


#: Hugging Face's progress bars, each library's switch (module, function) for the ones already imported
_HF_PROGRESS_SWITCHES = (
    ("huggingface_hub.utils", "disable_progress_bars"),
    ("transformers.utils.logging", "disable_progress_bar"),
    ("diffusers.utils.logging", "disable_progress_bar"),
)


def _quiet_progress_bars(to_terminal: bool) -> None:
    """Hugging Face's weight-loading and download bars (tqdm, redrawn with carriage returns) are for a
    terminal: in the journal or a log file each model load left lines of ``Loading weights: 0%|`` noise.
    Off unless the log goes to a terminal; the environment variable reaches the libraries imported later
    and the spawned generator processes, which load the models. Our own progress (``art2mus.progress``)
    is logged as lines and stays."""
    if to_terminal:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for module, switch in _HF_PROGRESS_SWITCHES:
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, switch):
            getattr(loaded, switch)()


def _quiet_opencv(verbose: bool) -> None:
    """OpenCV writes its own warnings (and FFmpeg's) straight to stderr: errors only unless ``verbose``.

    The environment variables reach an OpenCV imported later (the CLI imports it lazily, and spawned
    generator processes inherit them); an OpenCV already imported is set directly.
    """
    if verbose:
        return
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    # AV_LOG_QUIET: FFmpeg's lines go to stdout (into `recognize --json` output) and each failure they
    # describe is reported by our own sources anyway
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        try:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:  # a build without the logging API
            pass
