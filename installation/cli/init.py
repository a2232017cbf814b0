"""``art2mus init PHOTOS_DIR [-o exhibit.yaml]``: an exhibit file from a folder of photos, and how well
each photo will be recognised. The work is :mod:`art2mus.installation.scaffold`'s."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from art2mus.installation.cli.options import file_option

if TYPE_CHECKING:
    from art2mus.installation.scaffold import InitResult, SkippedFile


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
    views of one work). Ids come from the names; titles from the photos' EXIF, IPTC or XMP titles when
    there are any; artist and year only from the IPTC fields for the artwork shown (never the
    photographer's name or the day the photo was taken). Every other section is written with its
    defaults as comments.

    Run it again after adding photos: only the new ones are added (a new photo in an artwork's
    sub-folder to that artwork), also counting the artworks of the files the exhibit includes, and every
    edit and comment in the file stays (an artwork deleted from the file comes back while its photo is
    in the folder: remove both). A photo already in the file is never added again. A photo that cannot
    be used (unreadable, too few keypoints, showing the same picture as another artwork's photo: the same
    file, or a re-encoded, resized or cropped copy) and whatever else the folder holds is skipped and
    listed with why. Then each photo's recognition quality (keypoints) is printed, with what to fix, and
    the file is checked as `art2mus validate` checks it: "valid" is printed only when validate would
    accept it. Exits 1, writing nothing, when the exhibit file cannot be read or no photo can be used;
    exits 1 when validate would report problems (an artwork in it that cannot be recognised among them).
    """
    from art2mus.installation.cli.shared import writable_or_exit
    from art2mus.installation.config import validate_exhibit
    from art2mus.installation.config.problems import display_path
    from art2mus.installation.scaffold import InitError, init_exhibit
    from art2mus.installation.vision.photo_check import ERROR, check_exhibit_photos

    writable_or_exit(output, "-o/--output")
    try:
        result = init_exhibit(photos_dir, output)
    except InitError as exc:
        echo_skipped(exc.skipped)
        for line in exc.problems:
            click.echo(line, err=True)
        raise SystemExit(1) from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    echo_skipped(result.skipped)
    click.echo(summary_line(result))
    config, problems = validate_exhibit(output, photos_may_fail=True)
    if config is None:
        for problem in problems:
            click.echo(str(problem), err=True)
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
        if finding.severity != ERROR:  # the errors are validate's problems, below
            click.echo(f"{finding.severity}: {finding.message}", err=True)
    # the verdict is `art2mus validate`'s on the written file (and so the unit's ExecStartPre's): the photo
    # check above is remembered, so this costs no second pass over the photos
    _, problems = validate_exhibit(output, check_photos=True)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(
            f"{display_path(result.path)}: {plural(len(problems), 'problem')}, as `art2mus validate` reports "
            "them: fix them there (a photo's problem: replace the photo, or remove it from its `images`)",
            err=True,
        )
        raise SystemExit(1)
    click.echo(
        f"{display_path(result.path)}: valid; next: art2mus walk {display_path(result.path)} -o walk.mp4"
    )


def plural(count: int, noun: str) -> str:
    """``1 artwork``, ``2 artworks``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary_line(result: InitResult) -> str:
    """What :func:`~art2mus.installation.scaffold.init_exhibit` did, in one line: ``updated exhibit.yaml:
    1 artwork added, 6 kept, 1 photo added to still-life-views, 2 skipped``."""
    from art2mus.installation.config.problems import display_path

    verb = "wrote" if result.created else "updated" if result.changed else "unchanged:"
    parts = [f"{plural(len(result.added), 'artwork')} added", f"{len(result.kept)} kept"]
    if result.extended:
        photos = plural(sum(map(len, result.extended.values())), "photo")
        ids = list(result.extended)
        named = (
            ids[0]
            if len(ids) == 1
            else f"{len(ids)} artworks ({', '.join(ids[:3])}{', ...' * (len(ids) > 3)})"
        )
        parts.append(f"{photos} added to {named}")
    if result.skipped:
        parts.append(f"{len(result.skipped)} skipped")
    return f"{verb} {display_path(result.path)}: {', '.join(parts)}"


#: skipped files listed one by one up to this many; beyond, those skipped for one reason are counted
SKIPPED_LISTED = 10


def echo_skipped(skipped: Sequence[SkippedFile]) -> None:
    """One line per file the photos folder held that init did not add, with why (on stderr); for a long
    list, one line per reason with the count and the first few files."""
    from art2mus.installation.config.problems import display_path

    if len(skipped) <= SKIPPED_LISTED:
        for item in skipped:
            click.echo(f"skipped {display_path(item.path)}: {item.reason}", err=True)
        return
    by_reason: dict[str, list[Path]] = {}
    for item in skipped:
        by_reason.setdefault(item.reason, []).append(item.path)
    for reason, paths in by_reason.items():
        if len(paths) == 1:
            click.echo(f"skipped {display_path(paths[0])}: {reason}", err=True)
            continue
        examples = ", ".join(display_path(p) for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
        click.echo(f"skipped {len(paths)} files ({examples}): {reason}", err=True)
