"""``art2mus run EXHIBIT``: run an installation (camera -> recognition -> soundscapes -> speakers).

The shared pieces of ``run``, ``simulate`` and ``demo``: loading the exhibit with its problems printed,
building the :class:`~art2mus.installation.gallery.Gallery` with progress, printing what plays, and
stopping cleanly on SIGINT/SIGTERM (systemd's stop).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

logger = logging.getLogger(__name__)


def load_or_exit(path: Path) -> Any:
    """The exhibit at ``path``; on problems, print each (file:line:col field: expected) and exit 1.

    Neither is an artwork's unreadable or corrupt fixed audio file nor a missing or unreadable
    reference photo: the gallery leaves that artwork out (of the room, or of recognition; logged, shown
    on the control panel and by ``doctor``) and plays the rest."""
    from art2mus.installation.config import ExhibitError, load_exhibit

    try:
        return load_exhibit(path, audio_may_fail=True, photos_may_fail=True)
    except ExhibitError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None


def event_printer(exhibit: Any, as_json: bool):
    """A ``Director`` event callback that prints one line per change of what plays, timed from the first."""
    origin: list[float] = []
    titles = {
        a.id: f"{a.display_title} ({a.artist}{', ' + str(a.year) if a.year is not None else ''})"
        for a in exhibit.artworks
    }

    def show(event: Any) -> None:
        if not origin:
            origin.append(event.t)
        t = event.t - origin[0]
        if as_json:
            click.echo(json.dumps({"t": round(t, 2), "play": event.what}))
        else:
            what = "idle ambience" if event.what == "idle" else titles.get(event.what, event.what)
            minutes, seconds = divmod(t, 60.0)
            click.echo(f"{int(minutes):02d}:{seconds:05.2f}  now playing: {what}")
        sys.stdout.flush()

    return show


def build_gallery(exhibit: Any, *, quiet: bool, **kwargs: Any) -> Any:
    """A built :class:`Gallery`; soundscape rendering shows a progress bar on a terminal."""
    from art2mus.installation.gallery import Gallery

    realtime = kwargs.pop("realtime", None)
    panel_port = kwargs.pop("control_panel_port", None)
    gallery = Gallery(exhibit, **kwargs)
    total = len(exhibit.artworks) + (exhibit.idle.source != "silence")
    show_bar = not quiet and sys.stderr.isatty()
    if show_bar:
        from tqdm import tqdm

        with tqdm(total=total, desc="making soundscapes", unit="soundscape", file=sys.stderr) as bar:
            gallery.build(
                realtime=realtime,
                progress=lambda done, _total, name: (bar.set_postfix_str(name), bar.update(1)),
                control_panel_port=panel_port,
            )
    else:
        if not quiet:
            click.echo(f"making {total} soundscapes ...", err=True)
        gallery.build(realtime=realtime, control_panel_port=panel_port)
    return gallery


def panel_errors_as_messages(action: Any) -> Any:
    """``action()``; a control panel that cannot start as configured ends the command with its message."""
    from art2mus.kiosk_ui.server import ControlPanelError

    try:
        return action()
    except ControlPanelError as exc:
        raise click.ClickException(str(exc)) from None


def _announce(gallery: Any) -> None:
    panel = gallery.control_panel
    if panel is not None and panel.url:
        click.echo(f"control panel: {panel.url}", err=True)


def run_until_signalled(gallery: Any, duration: float | None) -> None:
    """:meth:`Gallery.run` until SIGINT/SIGTERM or ``duration`` seconds; SIGHUP reloads the exhibit."""
    stop = threading.Event()

    def _stop(signum, _frame):
        logger.info("stopping (signal %d)", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, "SIGHUP"):  # systemctl reload: re-read the exhibit, keep running on the old one if bad
        previous[signal.SIGHUP] = signal.signal(
            signal.SIGHUP, lambda _signum, _frame: gallery.request_reload()
        )
    try:
        gallery.run(stop, duration, on_ready=_announce)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("run")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: until Ctrl-C or SIGTERM).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what plays as JSON lines.")
@click.option(
    "--panel-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve the control panel on this port instead of control_panel.port (0: any free port).",
)
def command(exhibit: Path, duration: float | None, as_json: bool, panel_port: int | None) -> None:
    """Run the installation EXHIBIT: watch its camera, recognise the artwork a visitor stands before and
    play its soundscape through the exhibit's audio output, crossfading as visitors move on.

    Every soundscape is made first (with the artwork's generator; the procedural sonifier stands in when
    that fails), so the gallery starts on its idle ambience and never goes silent. A lost camera or
    audio device is reopened with backoff while the rest keeps running. SIGHUP (systemctl reload)
    re-reads EXHIBIT; a file with problems is reported and the running configuration stays.
    """
    from art2mus.installation.instance_lock import AlreadyRunning, InstanceLock

    config = load_or_exit(exhibit)
    lock = InstanceLock(config.cache.dir, str(exhibit))
    try:  # one daemon per exhibit: a second one would drive the same speakers and cache
        lock.acquire()
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    with lock:
        gallery = panel_errors_as_messages(
            lambda: build_gallery(
                config, quiet=as_json, on_event=event_printer(config, as_json), control_panel_port=panel_port
            )
        )
        panel_errors_as_messages(lambda: run_until_signalled(gallery, duration))
