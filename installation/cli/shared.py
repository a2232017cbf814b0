"""What ``run``, ``simulate``, ``demo`` and the exhibit commands share: loading the exhibit with its problems
printed, building the :class:`~art2mus.installation.gallery.Gallery` with progress, printing what plays,
and reporting a control panel that cannot start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click


def load_or_exit(path: Path, writes: tuple[str, ...] | None = None) -> Any:
    """The exhibit at ``path``; on problems, print each (file:line:col field: expected) and exit 1.

    Neither is an artwork's unreadable or corrupt fixed audio file nor a missing or unreadable
    reference photo: the gallery leaves that artwork out (of the room, or of recognition; logged, shown
    on the control panel and by ``doctor``) and plays the rest.

    ``writes``: the sections whose output folders the command writes (``("cache",)`` for ``prerender``);
    an output folder elsewhere that this user could not create is not its problem (a curator prerendering
    as their own user was refused over the service's index, unseen crops and WAV output). None: all."""
    from art2mus.installation.config import ExhibitError, load_exhibit

    try:
        return load_exhibit(path, audio_may_fail=True, photos_may_fail=True)
    except ExhibitError as exc:
        problems = exc.problems
    if writes is not None:
        config, problems = _without_unwritten_outputs(path, problems, writes)
        if config is not None:
            return config
    for problem in problems:
        echo_problem(str(problem))
    raise SystemExit(1) from None


def _without_unwritten_outputs(path: Path, problems: list[Any], writes: tuple[str, ...]) -> tuple[Any, list[Any]]:
    """``(config, [])`` when every problem is at an output field outside ``writes``, else ``(None, the rest)``."""
    from art2mus.installation.config import validate_exhibit
    from art2mus.installation.config.files import iter_paths
    from art2mus.installation.config.problems import format_loc

    config, _ = validate_exhibit(path, check_files=False)
    if config is None:
        return None, problems
    unwritten = {
        format_loc(loc)
        for loc, _container, _key, _path, kind in iter_paths(config)
        if kind is not None and kind.kind == "output" and loc[0] not in writes
    }
    rest = [problem for problem in problems if problem.field not in unwritten]
    return (config if not rest else None), rest


def echo_problem(text: str) -> None:
    """Print ``text`` (a problem, one line or more) on stderr, at the journal's error priority under systemd."""
    from art2mus.installation.logs import with_journal_priority

    click.echo(with_journal_priority(text, logging.ERROR), err=True)


def echo_warning(text: str) -> None:
    """Print ``text`` (a warning) on stderr, at the journal's warning priority under systemd."""
    from art2mus.installation.logs import with_journal_priority

    click.echo(with_journal_priority(text, logging.WARNING), err=True)


def writable_or_exit(path: Path, what: str) -> None:
    """Exit 1 with a sentence when ``path`` cannot be written, found now rather than after the work that
    makes what goes into it: its folder is made if missing (as the WAV output makes it) and the file is
    opened for appending (created, and removed again, when it did not exist). ``what``: the option that
    named it, for the message."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except FileExistsError:  # mkdir met a file where a folder of the path should be
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise click.ClickException(
            f"{what}: cannot write {path}: {blocking} is a file, not a folder"
        ) from None
    except OSError as exc:
        raise click.ClickException(f"{what}: cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        path.unlink(missing_ok=True)


class EventPrinter:
    """A ``Director`` event callback that prints one line per change of what plays, timed from the first.

    Titles are the running exhibit's: :func:`build_gallery` points the printer at its gallery, whose
    exhibit a reload replaces (a retitled artwork, one added or promoted from the unseen ones, printed
    under its new title; the journal says what the control panel says).

    ``journal``: stdout goes to the journal (default: :func:`~art2mus.installation.logs.under_journal`);
    the line is then a log record (:func:`people_line`) instead of raw text among the JSON records."""

    def __init__(self, exhibit: Any, as_json: bool, journal: bool | None = None):
        from art2mus.installation.logs import under_journal

        self.exhibit = exhibit
        self.as_json = as_json
        self.journal = under_journal(stream=sys.stdout) if journal is None else journal
        #: the gallery whose exhibit names what plays (set by :func:`build_gallery`)
        self.gallery: Any = None
        self._origin: float | None = None

    def title(self, what: str) -> str:
        if what == "idle":
            return "idle ambience"
        exhibit = self.gallery.exhibit if self.gallery is not None else self.exhibit
        artwork = next((a for a in exhibit.artworks if a.id == what), None)
        if artwork is None:  # an unseen artwork: named as the control panel names it
            unseen = self.gallery.unseen_titles([what]) if self.gallery is not None else {}
            return unseen.get(what, what)
        year = f", {artwork.year}" if artwork.year is not None else ""
        return f"{artwork.display_title} ({artwork.artist}{year})"

    def __call__(self, event: Any) -> None:
        if self._origin is None:
            self._origin = event.t
        t = event.t - self._origin
        if self.as_json:
            click.echo(json.dumps({"t": round(t, 2), "play": event.what}))
        elif self.journal:  # the record carries the time; the id and the time since the first are fields
            people_line(
                "now playing: %s", self.title(event.what), journal=True, extra={"play": event.what, "t": round(t, 2)}
            )
        else:
            minutes, seconds = divmod(t, 60.0)
            click.echo(f"{int(minutes):02d}:{seconds:05.2f}  now playing: {self.title(event.what)}")
        sys.stdout.flush()


def people_line(text: str, *args: Any, journal: bool | None = None, err: bool = True, extra: Any = None) -> None:
    """Print a line for the person at the command (``text % args``), or under the journal (``journal``,
    default :func:`~art2mus.installation.logs.under_journal` of the stream it goes to) log it as an info
    record of the progress logger, which the journal shows at every verbosity: a raw line among the JSON
    records broke ``journalctl -o cat | jq``."""
    from art2mus.installation.logs import progress_logger, under_journal

    if journal is None:
        journal = under_journal(stream=sys.stderr if err else sys.stdout)
    if journal:
        progress_logger("cli").info(text, *args, extra=extra)
    else:
        click.echo(text % args if args else text, err=err)


def event_printer(exhibit: Any, as_json: bool) -> EventPrinter:
    """The :class:`EventPrinter` of ``exhibit``."""
    return EventPrinter(exhibit, as_json)


def build_gallery(exhibit: Any, *, quiet: bool, check: Callable[[], None] | None = None, **kwargs: Any) -> Any:
    """A built :class:`Gallery`; soundscape rendering shows a progress bar on a terminal. Under systemd
    (``NOTIFY_SOCKET``) each step of the start, and each soundscape made, is also sent as the unit's
    ``STATUS=`` line, so ``systemctl status`` says what a long first start is doing.

    ``check()``, when given, is called between the steps and between the soundscapes too (the daemon's: a
    stop asked for during the start ends it there). A start cut short (an error, Ctrl-C, a stop) stops the
    generator process it had begun."""
    from art2mus.installation.gallery import Gallery
    from art2mus.installation.watchdog import SystemdNotifier

    realtime = kwargs.pop("realtime", None)
    panel_port = kwargs.pop("control_panel_port", None)
    gallery = Gallery(exhibit, **kwargs)
    if isinstance(kwargs.get("on_event"), EventPrinter):
        kwargs["on_event"].gallery = gallery
    total = len(exhibit.artworks) + (exhibit.idle.source != "silence")
    notifier = SystemdNotifier()

    try:
        with interrupt_kept() as interrupted, notifier.progress_as_status():  # the photo checks' and index build's too

            def checks() -> None:
                interrupted()
                if check is not None:
                    check()

            def stage(text: str) -> None:
                checks()
                if notifier.enabled:
                    notifier.status(text)

            _build(
                gallery,
                notifier,
                total,
                quiet=quiet,
                realtime=realtime,
                panel_port=panel_port,
                stage=stage,
                check=checks,
            )
    except BaseException:
        gallery.close()
        raise
    return gallery


def run_gallery(signals: Any, exhibit: Any, *, as_json: bool, duration: float | None, **kwargs: Any) -> None:
    """``run`` and ``demo``: build the gallery of ``exhibit`` (:func:`build_gallery` with ``kwargs``; what
    plays printed) and run it under the daemon's ``signals`` (a
    :class:`~art2mus.installation.daemon.DaemonSignals`) until a stop or ``duration`` seconds."""

    def build(check: Callable[[], None]) -> Any:
        return build_gallery(exhibit, quiet=as_json, on_event=event_printer(exhibit, as_json), check=check, **kwargs)

    panel_errors_as_messages(lambda: signals.run(build, duration, announce))


@contextlib.contextmanager
def interrupt_kept() -> Iterator[Callable[[], None]]:
    """Ctrl-C (SIGINT) during the block stops it even where the ``KeyboardInterrupt`` it raises is lost.

    Python raises it wherever the main thread is; inside a C library's callback into Python (soundfile
    writing a soundscape to the cache through cffi) it is printed as "Exception ignored" and dropped, the
    write fails, that artwork was left out, and the daemon went on to play as if nobody had pressed
    Ctrl-C. Here the interrupt is also remembered: the ``check()`` yielded (called between soundscapes and
    between the steps of a start) raises it again, and so does the end of the block. Outside the main
    thread, or when SIGINT is ignored, nothing changes; another Python handler still runs first.
    """
    interrupted = threading.Event()

    def check() -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous in (None, signal.SIG_IGN):  # not the main thread, ignored, or set outside Python
        yield check
        return

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        if callable(previous):  # Python's default raises KeyboardInterrupt; another's handler runs as before
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield check
        check()
    finally:
        signal.signal(signal.SIGINT, previous)


def _build(
    gallery: Any,
    notifier: Any,
    total: int,
    *,
    quiet: bool,
    realtime: Any,
    panel_port: Any,
    stage: Callable[[str], None],
    check: Callable[[], None],
) -> None:
    def made(done: int, of: int, name: str) -> None:
        check()  # a Ctrl-C lost while that soundscape was made stops the start here
        if notifier.enabled:
            notifier.status(f"making the soundscapes: {done} of {of} ({name})")

    show_bar = not quiet and sys.stderr.isatty()
    if show_bar:
        from tqdm import tqdm

        with tqdm(total=total, desc="making soundscapes", unit="soundscape", file=sys.stderr) as bar:
            gallery.build(
                realtime=realtime,
                progress=lambda done, of, name: (
                    bar.set_postfix_str(name),
                    bar.update(1),
                    made(done, of, name),
                ),
                control_panel_port=panel_port,
                stage=stage,
            )
    else:
        if not quiet:
            people_line("getting %d soundscapes ready (from the cache, or made now) ...", total)
        gallery.build(realtime=realtime, control_panel_port=panel_port, stage=stage, progress=made)


def panel_errors_as_messages(action: Any) -> Any:
    """``action()``; a control panel that cannot start as configured ends the command with its message."""
    from art2mus.kiosk_ui.server import ControlPanelError

    try:
        return action()
    except ControlPanelError as exc:
        raise click.ClickException(str(exc)) from None


def announce(gallery: Any) -> None:
    """Print where the control panel is, once the gallery runs."""
    panel = gallery.control_panel
    if panel is not None and panel.url:
        people_line("control panel: %s", panel.url)


#: the exhibit the systemd unit runs (systemd/art2mus.service's ExecStart; README "Installing the service")
INSTALLED_EXHIBIT = Path("/etc/art2mus/exhibit.yaml")
#: names another installed exhibit for ``doctor`` and ``status`` (a unit that runs one elsewhere sets it)
EXHIBIT_ENV = "ART2MUS_EXHIBIT"


def chosen_exhibit(
    given: Path | None, environ: Any = None, installed: Path = INSTALLED_EXHIBIT
) -> tuple[Path, str]:
    """The exhibit a command checks and why, for its first line: ``given``; else ``$ART2MUS_EXHIBIT``;
    else the installed one (``installed``, the unit's) when it exists; else the demo. ``doctor`` without an
    argument checked the repository's demo on a gallery PC, where the daemon runs /etc/art2mus/exhibit.yaml."""
    import os

    from art2mus.installation.cli.demo import demo_exhibit_path

    env = os.environ if environ is None else environ
    if given is not None:
        return given, "as given"
    if env.get(EXHIBIT_ENV):
        return Path(env[EXHIBIT_ENV]), f"from ${EXHIBIT_ENV}"
    if installed.is_file():
        return installed, "the installed exhibit, the one the systemd unit runs"
    return demo_exhibit_path(), f"the demo: no installed exhibit at {installed}"
