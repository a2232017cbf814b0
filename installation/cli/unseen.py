"""``art2mus unseen list|promote EXHIBIT [ID]``: the artworks the room has seen that the exhibit does not list."""

from __future__ import annotations

import json
from pathlib import Path

import click

from art2mus.installation.cli.shared import load_or_exit

_EXHIBIT = click.argument("exhibit", type=click.Path(dir_okay=False, exists=True, path_type=Path))


@click.group("unseen")
def command() -> None:
    """The unseen artworks an exhibit remembers (its `unseen:` section): framed pictures that are not in
    `artworks`, given a soundscape of their own. Only their rectified crops are stored, never frames."""


@command.command("list")
@_EXHIBIT
@click.option("--json", "as_json", is_flag=True, help="One JSON object per artwork.")
def list_command(exhibit: Path, as_json: bool) -> None:
    """List the remembered unseen artworks, most recently seen first."""
    from art2mus.installation.unseen_store import UnseenStore, unseen_dir

    config = load_or_exit(exhibit)
    try:
        store = UnseenStore(unseen_dir(config), config.unseen.remember)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    listing = store.listing()
    for entry in listing:
        if as_json:
            click.echo(json.dumps(entry))
        else:
            click.echo(f"{entry['id']}  seen {entry['sightings']} times  {entry['crop']}")
    if not listing and not as_json:  # said, so an empty answer is not mistaken for a wrong folder
        off = "" if config.unseen.enabled else " (unseen.enabled is false: the room does not look for any)"
        click.echo(f"no unseen artwork remembered in {unseen_dir(config)}{off}", err=True)


@command.command("promote")
@_EXHIBIT
@click.argument("artwork_id")
@click.option("--id", "new_id", default=None, help="The new artwork's id (default: unseen-<ID>).")
@click.option("--title", default=None, help="Its title.")
def promote_command(exhibit: Path, artwork_id: str, new_id: str | None, title: str | None) -> None:
    """Make the unseen artwork ARTWORK_ID (as `unseen list` prints it, or unseen:<ID> as `simulate` and
    the control panel name it) a regular artwork of EXHIBIT: its crop becomes the reference photo
    artworks/<id>.jpg and an entry is added to the YAML (comments kept), with the soundscape the room
    played for it."""
    from art2mus.installation.unseen_store import promote

    config = load_or_exit(exhibit)
    try:
        photo = promote(config, artwork_id, new_id, title)
    except (KeyError, ValueError) as exc:  # a KeyError's str() is its message quoted
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    click.echo(f"{exhibit}: added {photo.stem} with reference photo {photo}")
    small = _small_photo_note(photo)
    if small:
        click.echo(small, err=True)
    click.echo(
        "a running installation recognises it after a reload (systemctl reload art2mus, or the control "
        "panel's Reload)",
        err=True,
    )


def _small_photo_note(photo: Path) -> str | None:
    """What to do about a promoted photo that the photo checks will call small (the camera saw the
    picture from afar, or a low-resolution camera), or None."""
    import cv2

    from art2mus.installation.vision.photo_check import SMALL_LONG_SIDE

    image = cv2.imread(str(photo))
    if image is None or max(image.shape[:2]) >= SMALL_LONG_SIDE:
        return None
    height, width = image.shape[:2]
    return (
        f"note: the reference photo is the camera's view of the picture, {width}x{height} px, so validate, "
        "doctor and run warn that it is small: photograph the artwork (at least 640 px on its long side) "
        "and add that photo to its `images` after this one (the first photo is what its soundscape is "
        "made from, so it stays the music visitors heard)"
    )
