"""``art2mus run EXHIBIT``: run an installation (camera -> recognition -> soundscapes -> speakers).

The pieces it shares with ``simulate`` and ``demo`` are in :mod:`.shared`; the process life (stop on
SIGINT/SIGTERM, reload on SIGHUP, from the first step of the start on) is
:class:`art2mus.installation.daemon.DaemonSignals`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from art2mus.installation.cli.options import live_options
from art2mus.installation.cli.shared import echo_problem, run_gallery

logger = logging.getLogger(__name__)


@click.command("run")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: until Ctrl-C or SIGTERM).",
)
@live_options("control_panel.port")
def command(exhibit: Path, duration: float | None, as_json: bool, panel_port: int | None) -> None:
    """Run the installation EXHIBIT: watch its camera, recognise the artwork a visitor stands before and
    play its soundscape through the exhibit's audio output, crossfading as visitors move on.

    Every soundscape is made first (with the artwork's generator; the procedural sonifier stands in when
    that fails), so the gallery starts on its idle ambience and never goes silent. A lost camera or
    audio device is reopened with backoff while the rest keeps running. SIGHUP (systemctl reload)
    re-reads EXHIBIT; a file with problems is reported and the running configuration stays.
    """
    from art2mus.installation.config import validate_exhibit
    from art2mus.installation.config.files import model_warnings, unwritable_folders
    from art2mus.installation.daemon import DaemonSignals
    from art2mus.installation.instance_lock import AlreadyRunning, InstanceLock

    with DaemonSignals() as signals:  # a first start takes minutes: systemctl stop and reload count from here
        # as load_or_exit, and an art2mus generator whose models cannot be used plays its fallback: a damaged
        # aligner kept the whole room silent while a damaged UNet played the fallback
        config, problems = validate_exhibit(
            exhibit, audio_may_fail=True, photos_may_fail=True, models_may_fail=True
        )
        if config is None:
            echo_problem("\n".join(str(problem) for problem in problems))
            raise SystemExit(1)
        # it plays, but makes again at every start what it cannot keep (folders), or plays a fallback (models)
        for warning in unwritable_folders(config) + model_warnings(config):
            logger.warning("%s: %s", exhibit, warning)
        # the whole path: the lock file keeps it for a second daemon's message, which may share the cache folder
        # and the panel's port, where `art2mus status` finds a daemon started with --panel-port
        port = config.control_panel.port if panel_port is None else panel_port
        lock = InstanceLock(
            config.cache.dir, str(exhibit.resolve()), port if config.control_panel.enabled else None
        )
        try:  # one daemon per exhibit: a second one would drive the same speakers and cache
            lock.acquire()
        except AlreadyRunning as exc:
            raise click.ClickException(str(exc)) from None
        with lock:
            run_gallery(signals, config, as_json=as_json, duration=duration, control_panel_port=panel_port)
