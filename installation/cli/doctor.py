"""``art2mus doctor [EXHIBIT]``: check the machine for an installation, one line per check.

The checks are :mod:`art2mus.installation.health`'s; exit code 1 when any check fails. Without EXHIBIT
it checks the installed exhibit (:func:`~art2mus.installation.cli.shared.chosen_exhibit`), and a panel port
the running daemon holds is asked who it is (:mod:`.status`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click


@click.command("doctor")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per check.")
def command(exhibit: Path | None, as_json: bool) -> None:
    """Check this machine for EXHIBIT: the exhibit file, the sound card, the camera, the GPU and model
    weights its generators need, the cache folder, the unseen artworks' folder (when `unseen.enabled`) and
    the control panel's port (taken by the running daemon: its pid and uptime, asked at its /api/health).
    EXHIBIT defaults to $ART2MUS_EXHIBIT, else the installed /etc/art2mus/exhibit.yaml (the one the systemd
    unit runs) when it exists, else the demo; the first line (with --json, the first object, check 'which exhibit') says which.
    An invalid EXHIBIT shows its first problems, and the checks whose sections parsed still run (the
    others say SKIP). Exits 1 when a check fails.
    """
    from art2mus.installation.cli.shared import chosen_exhibit
    from art2mus.installation.health import FAIL, check_exhibit

    path, why = chosen_exhibit(exhibit)
    if as_json:
        # shaped as a check, so a script reading check/status/detail reads it too
        click.echo(
            json.dumps(
                {"check": "which exhibit", "status": "ok", "detail": f"{path} ({why})", "exhibit": str(path)}
            )
        )
    else:
        click.echo(f"checking {path} ({why})")
    checks = [_daemon_on_port(check, path) for check in check_exhibit(path)] + _unused_cache_entries(path)
    for check in checks:
        if as_json:
            line = {"check": check.name, "status": check.status, "detail": check.detail}
            click.echo(json.dumps(line | ({"problems": list(check.problems)} if check.problems else {})))
        else:
            click.echo(f"{check.status.upper():5s} {check.name:15s} {check.detail}")
            for problem in check.problems:  # under the detail, as art2mus validate prints them
                click.echo(f"{'':22s}{problem}")
    if any(check.status == FAIL for check in checks):
        raise SystemExit(1)


def _daemon_on_port(check: Any, path: Path) -> Any:
    """``check``, or for a panel port that is taken, OK when the program holding it is this exhibit's
    art2mus daemon (asked at its ``/api/health``: "daemon running (pid 812, up 2 h 05 min)"); it said
    "taken ...: is the daemon running already?" whether the daemon or another program held it. A taken
    port whose daemon refuses the token or runs another exhibit file stays a warning that says so; a free
    port says where this exhibit's daemon has its panel when it runs with ``--panel-port``."""
    from art2mus.installation.cli.status import (
        AnotherToken,
        DaemonUnreachable,
        PanelAddress,
        ask_health,
        daemon_elsewhere,
        duration,
        elsewhere_sentence,
        panel_config,
        same_exhibit,
    )
    from art2mus.installation.health import OK, WARN

    if check.name != "control panel" or check.status not in (OK, WARN) or check.detail == "disabled":
        return check
    config, _ = panel_config(path)
    if config is None:
        return check
    if check.status == OK:  # free: the daemon may still run, its panel elsewhere
        elsewhere = daemon_elsewhere(config, path, config.control_panel.port)
        if elsewhere is None:
            return check
        return dataclasses.replace(check, detail=f"{check.detail}, but {elsewhere_sentence(*elsewhere)}")
    try:
        address = PanelAddress.of(config)
        daemon = ask_health(address)["daemon"]
    except AnotherToken as exc:
        return dataclasses.replace(check, detail=f"{check.detail} ({exc})")
    except DaemonUnreachable as exc:
        return dataclasses.replace(check, detail=f"{check.detail} (not an art2mus daemon: {exc})")
    up = duration(float(daemon.get("uptime_s") or 0))
    where = address.url.removeprefix("http://")
    if not same_exhibit(daemon.get("exhibit"), path):
        detail = f"{check.detail} (the art2mus daemon on {where} runs {daemon['exhibit']}, not this one)"
        return dataclasses.replace(check, detail=detail)
    return dataclasses.replace(
        check, status=OK, detail=f"daemon running (pid {daemon.get('pid')}, up {up}) on {where}"
    )


def _unused_cache_entries(path: Path) -> list[Any]:
    """A line on the cache entries no soundscape of the exhibit plays (a changed seed or photo, an
    earlier model: only eviction above ``cache.max_size_gb`` removes them), with the command that does;
    a warning once they take half of ``max_size_gb``. None when there are none, or the exhibit or its
    unseen artworks' store cannot be read (their own checks say why)."""
    from art2mus.installation.cache import SoundscapeCache, entry_uses
    from art2mus.installation.config import ExhibitError, load_exhibit
    from art2mus.installation.health import OK, WARN, Check
    from art2mus.installation.soundscapes import SoundscapeSource

    try:
        config = load_exhibit(path, audio_may_fail=True, photos_may_fail=True)
        cache = SoundscapeCache.from_config(config.cache)
        entries = entry_uses(cache, SoundscapeSource(config).keys_in_use())
    except (ExhibitError, ValueError, OSError):
        return []
    unused = sum(entry.size_bytes for entry in entries if not entry.used_by)
    count = sum(1 for entry in entries if not entry.used_by)
    if not count:
        return []
    status = WARN if unused > config.cache.max_size_gb * 1e9 / 2 else OK
    detail = (
        f"{count} of {len(entries)} entries ({unused / 1e6:.1f} MB) in {cache.directory} are played by no "
        f"soundscape of this exhibit: `art2mus cache prune {path}` removes them (name every exhibit sharing "
        "the folder)"
    )
    return [Check("cache entries", status, detail)]
