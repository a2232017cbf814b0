"""``art2mus walk EXHIBIT -o walk.mp4``: a synthetic camera walk past the exhibit's artworks, with its
timeline, for ``art2mus simulate`` before the room's camera is installed (:mod:`art2mus.installation.walkthrough`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from art2mus.installation.cli.options import file_option
from art2mus.installation.cli.shared import load_or_exit, writable_or_exit


@click.command("walk")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@file_option(
    "-o",
    "--output",
    default=Path("walk.mp4"),
    show_default=True,
    help="The video to write (mp4); the timeline goes beside it as <name>.json.",
)
def command(exhibit: Path, output: Path) -> None:
    """Render a camera walking past EXHIBIT's artworks, hung on a gallery wall from their reference
    photos: stops before each (some from the side), light drift, motion blur, passers-by, noise and
    stretches of empty wall, as a hand-held camera sees them. Preview the room with
    `art2mus simulate EXHIBIT --video walk.mp4 -o mix.wav`; the timeline JSON says which artwork is in view
    when. Artworks whose photos cannot be recognised are left off the wall.
    """
    from art2mus.installation.vision.photo_check import check_exhibit_photos
    from art2mus.installation.walkthrough import exhibit_walk

    config = load_or_exit(exhibit)
    writable_or_exit(output, "-o/--output")  # before a minute of rendering
    excluded = check_exhibit_photos(config).excluded
    for artwork_id, reason in excluded.items():
        click.echo(f"left off the wall: {artwork_id}: {reason}", err=True)
    click.echo(f"rendering the walk past {len(config.artworks) - len(excluded)} artworks ...", err=True)
    try:
        video = exhibit_walk(config, output, set(excluded))
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    order = json.loads(video.timeline_path.read_text())["segments"]
    visits = [s["artwork_id"] for s in order if s["kind"] == "artwork"]
    click.echo(
        f"wrote {video.path} ({video.duration_s:.0f} s, {video.width}x{video.height}, {video.fps:g} fps)"
    )
    click.echo(f"wrote {video.timeline_path}: visits {' -> '.join(visits)}")
    click.echo(f"next: art2mus simulate {exhibit} --video {video.path} -o mix.wav")
