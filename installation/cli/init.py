"""``art2mus init PHOTOS_DIR [-o exhibit.yaml]``: an exhibit file from a folder of photos, and how well
each photo will be recognised. The work is :mod:`art2mus.installation.scaffold`'s."""

from __future__ import annotations

from pathlib import Path

import click

from art2mus.installation.cli.options import file_option


@click.command("init")
@click.argument("photos_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@file_option(
    "-o",
    "--output",
    default=Path("exhibit.yaml"),
    show_default=True,
    help="The exhibit file to write, or to add new photos to.",
)
def command(photos_dir: Path, output: Path) -> None:
    """Write an exhibit from PHOTOS_DIR: one artwork per photo, or per sub-folder of photos (several
    views of one work). Ids come from the names; title, artist and year from the photos' EXIF, IPTC or
    XMP metadata when there is any. Every other section is written with its defaults as comments.

    Run it again after adding photos: only the new ones are added, and every edit and comment in the file
    stays. Then each photo's recognition quality (keypoints) is printed, with what to fix, and the file is
    validated. Exits 1 when a photo cannot be recognised or the file has problems.
    """
    from art2mus.installation.cli.shared import writable_or_exit
    from art2mus.installation.config import validate_exhibit
    from art2mus.installation.config.problems import display_path
    from art2mus.installation.scaffold import init_exhibit
    from art2mus.installation.vision.photo_check import check_exhibit_photos

    writable_or_exit(output, "-o/--output")
    try:
        result = init_exhibit(photos_dir, output)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    verb = "wrote" if result.created else "updated" if result.added else "unchanged:"
    click.echo(
        f"{verb} {display_path(result.path)}: {len(result.added)} artworks added, {len(result.kept)} kept"
    )
    config, problems = validate_exhibit(output, photos_may_fail=True)
    for problem in problems:
        click.echo(str(problem), err=True)
    if config is None:
        raise SystemExit(1)
    check = check_exhibit_photos(config)
    click.echo("recognition quality of each photo (keypoints: 400+ good, 150+ fair, 20+ weak):")
    for photo in check.photos:
        size = f"{photo.width}x{photo.height}" if photo.width else "-"
        keypoints = "-" if photo.keypoints is None else str(photo.keypoints)
        click.echo(
            f"  {photo.artwork_id:24s} {photo.quality:9s} {keypoints:>5s} keypoints  {size:>10s}  "
            f"{display_path(photo.path) if photo.path else ''}"
        )
    for finding in check.findings:
        click.echo(f"{finding.severity}: {finding.message}", err=True)
    if check.excluded or problems:
        raise SystemExit(1)
    click.echo(
        f"{display_path(result.path)}: valid; next: art2mus walk {display_path(result.path)} -o walk.mp4"
    )
