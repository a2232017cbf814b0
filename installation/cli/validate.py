"""``art2mus validate``: check an exhibit file and say exactly what is wrong, or summarise it."""

from __future__ import annotations

import json
import sys

import click

from art2mus.installation.config import validate_exhibit
from art2mus.installation.config.files import unwritable_folders
from art2mus.installation.config.summary import json_schema_text, summary_rows


def photo_warnings(config) -> list[str]:
    """The reference photo checks' warnings (weak, small or large photos, look-alike pairs)."""
    from art2mus.installation.vision.photo_check import WARNING, check_exhibit_photos

    return [f.message for f in check_exhibit_photos(config).findings if f.severity == WARNING]


@click.command("validate")
@click.argument("exhibit", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--schema", is_flag=True, help="Print the exhibit file's JSON Schema (for editor completion) and exit."
)
@click.option(
    "--no-files",
    is_flag=True,
    help="Skip checking that referenced images, audio, videos and token files exist and open "
    "(audio is read through for NaN or corrupt samples, token files for blank or non-UTF-8 text) "
    "and that each reference photo can be recognised (keypoints, duplicates across artworks, size).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def command(exhibit: str | None, schema: bool, no_files: bool, as_json: bool) -> None:
    """Check EXHIBIT (a YAML file) and print every problem with its file, line and column.

    Exits 0 and prints a short summary when the exhibit is valid, 1 when it has problems. Whatever
    the file holds (bad YAML, a device or pipe included, an alias bomb), the check ends in one of
    the two within bounded time and memory, so it can guard the daemon's start (ExecStartPre).
    """
    if schema:
        click.echo(json_schema_text(), nl=False)
        return
    if exhibit is None:
        raise click.UsageError("give an EXHIBIT file to check, or --schema")
    config, problems = validate_exhibit(exhibit, check_files=not no_files, check_photos=not no_files)
    warnings = (
        photo_warnings(config) + unwritable_folders(config) if config is not None and not no_files else []
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "exhibit": exhibit,
                    "valid": not problems,
                    "problems": [
                        {
                            "file": str(p.file),
                            "line": p.line,
                            "col": p.col,
                            "field": p.field,
                            "message": p.message,
                        }
                        for p in problems
                    ],
                    "warnings": warnings,
                    "summary": dict(summary_rows(config)) if config is not None else None,
                }
            )
        )
        sys.exit(1 if problems else 0)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{exhibit}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", err=True)
        sys.exit(1)
    assert config is not None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{exhibit}: valid")
    width = max(len(label) for label, _ in summary_rows(config))
    for label, text in summary_rows(config):
        click.echo(f"  {label:<{width}}  {text}")
