"""``art2mus doctor [EXHIBIT]``: check the machine for an installation, one line per check.

The checks are :mod:`art2mus.installation.health`'s; exit code 1 when any check fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("doctor")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per check.")
def command(exhibit: Path | None, as_json: bool) -> None:
    """Check this machine for EXHIBIT (default: the demo exhibit): the exhibit file, the sound card, the
    camera, the GPU and model weights its generators need, the cache folder, the unseen artworks' folder
    (when `unseen.enabled`) and the control panel's port.
    An invalid EXHIBIT shows its first problems, and the checks whose sections parsed still run (the
    others say SKIP). Exits 1 when a check fails.
    """
    from art2mus.installation.cli.demo import demo_exhibit_path
    from art2mus.installation.health import FAIL, check_exhibit

    checks = check_exhibit(exhibit or demo_exhibit_path())
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
