"""``art2mus unseen list|promote|forget|ignore|clear EXHIBIT [ID]``: the artworks the room has seen that the
exhibit does not list."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from art2mus.installation.cli.shared import load_or_exit

_EXHIBIT = click.argument("exhibit", type=click.Path(dir_okay=False, exists=True, path_type=Path))
_RUNNING = (
    "a running installation plays on what it holds of it until a reload (systemctl reload art2mus, or the "
    "control panel's Reload)"
)


@click.group("unseen")
def command() -> None:
    """The unseen artworks an exhibit remembers (its `unseen:` section): framed pictures that are not in
    `artworks`, given a soundscape of their own. Only their rectified crops are stored, never frames."""


def _store(config: Any) -> Any:
    """The exhibit's unseen store; a damaged index is a ClickException saying how to recover."""
    from art2mus.installation.unseen_store import UnseenStore, crops_in, unseen_dir

    directory = unseen_dir(config)
    try:
        return UnseenStore(directory, config.unseen.remember)
    except ValueError as exc:
        crops = len(crops_in(directory)) if directory.is_dir() else 0
        raise click.ClickException(
            f"{exc}\nto recover: the installation moves it aside at its next start (art2mus run, systemctl "
            f"restart art2mus, or art2mus simulate --keep-unseen) and describes the {crops} crops in "
            f"{directory} again, each keeping its soundscape; or `art2mus unseen clear --yes` forgets them all"
        ) from None


def _local(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _crop_size(path: Path) -> tuple[int, int] | None:
    import cv2

    image = cv2.imread(str(path))
    return None if image is None else (image.shape[1], image.shape[0])


@command.command("list")
@_EXHIBIT
@click.option("--json", "as_json", is_flag=True, help="One JSON object per artwork.")
@click.option("--descriptor", is_flag=True, help="With --json: each artwork's descriptor too (32 values).")
def list_command(exhibit: Path, as_json: bool, descriptor: bool) -> None:
    """List the remembered unseen artworks, most recently seen first: when first and last seen (local
    time), how often, the crop's size (small ones make a small reference photo if promoted) and whether
    it is ignored."""
    from art2mus.installation.unseen_store import unseen_dir
    from art2mus.installation.vision.photo_check import SMALL_LONG_SIDE

    config = load_or_exit(exhibit)
    listing = _store(config).listing()
    for entry in listing:
        size = _crop_size(Path(entry["crop"]))
        small = size is not None and max(size) < SMALL_LONG_SIDE
        if as_json:
            shown = {k: v for k, v in entry.items() if descriptor or k != "descriptor"}
            click.echo(json.dumps(shown | {"crop_size": size, "small": small}))
            continue
        times = "time" if entry["sightings"] == 1 else "times"
        said = [
            entry["id"],
            f"seen {entry['sightings']} {times}",
            f"first {_local(entry['first_seen'])}",
            f"last {_local(entry['last_seen'])}",
            f"{size[0]}x{size[1]} px" + (" (small: promote will warn)" if small else "")
            if size is not None
            else "crop missing",
        ]
        if entry["ignored"]:
            said.append("IGNORED")
        click.echo("  ".join([*said, entry["crop"]]))
    if not listing and not as_json:  # said, so an empty answer is not mistaken for a wrong folder
        off = "" if config.unseen.enabled else " (unseen.enabled is false: the room does not look for any)"
        click.echo(f"no unseen artwork remembered in {unseen_dir(config)}{off}", err=True)


def _known_id(store: Any, artwork_id: str) -> str:
    from art2mus.installation.vision.unseen import UNSEEN_PREFIX

    artwork_id = artwork_id.removeprefix(UNSEEN_PREFIX)
    if artwork_id not in store.artworks:
        known = ", ".join(store.artworks) or "none"
        raise click.ClickException(
            f"no unseen artwork {artwork_id!r} in {store.directory}; remembered: {known}"
        )
    return artwork_id


def _without_its_soundscape(exhibit: Path, artwork_id: str) -> tuple[Any, str]:
    """The exhibit's store and the remembered ``artwork_id`` (``unseen:`` before it or not), its cached
    soundscape removed; a ClickException for an id not remembered."""
    config = load_or_exit(exhibit)
    store = _store(config)
    artwork_id = _known_id(store, artwork_id)
    _remove_soundscape(config, store, artwork_id)
    return store, artwork_id


def _remove_soundscape(config: Any, store: Any, artwork_id: str) -> None:
    """Remove the cache entries ``artwork_id``'s soundscape has under the exhibit's current settings (the
    unseen generator and its fallbacks, from its crop), besides those the store recorded (removed with
    it): entries made before they were recorded."""
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.soundscapes import SoundscapeSource
    from art2mus.installation.unseen_sound import unseen_request

    crop = store.crop(artwork_id)
    if crop is None:
        return
    cache = SoundscapeCache.from_config(config.cache)
    request = unseen_request(config, artwork_id)
    name, tried = config.unseen.generator, set()
    try:
        with SoundscapeSource(config, cache=cache) as source:
            digest = crop.digest()
            while name is not None and name not in tried:
                tried.add(name)
                cache.remove(source.key(name, request, digest))
                name = source.fallback(name)
    except (OSError, ValueError, KeyError) as exc:
        click.echo(
            f"note: its cached soundscape could not be looked up ({exc}); the cache's size limit removes it",
            err=True,
        )


@command.command("forget")
@_EXHIBIT
@click.argument("artwork_id")
def forget_command(exhibit: Path, artwork_id: str) -> None:
    """Forget the unseen artwork ARTWORK_ID: its entry, its crop and its cached soundscape. Seen again, it
    is a new unseen artwork with a soundscape of its own (`ignore` keeps it from ever having one)."""
    store, artwork_id = _without_its_soundscape(exhibit, artwork_id)
    store.forget(artwork_id)
    click.echo(f"forgot {artwork_id} (its crop and cached soundscape removed)")
    click.echo(_RUNNING, err=True)


@command.command("ignore")
@_EXHIBIT
@click.argument("artwork_id")
def ignore_command(exhibit: Path, artwork_id: str) -> None:
    """Never give the unseen artwork ARTWORK_ID a soundscape again (a framed text poster, a fire-exit sign):
    it stays remembered, marked ignored, and the room treats it as nothing in view. Its cached
    soundscape is removed; a running installation ignores it from its next sighting."""
    store, artwork_id = _without_its_soundscape(exhibit, artwork_id)
    store.ignore(artwork_id)
    click.echo(f"ignoring {artwork_id} from now on (`unseen forget` undoes it)")


@command.command("clear")
@_EXHIBIT
@click.option("--yes", is_flag=True, help="Do it: without it, only what would go is said.")
def clear_command(exhibit: Path, yes: bool) -> None:
    """Forget every remembered unseen artwork (ignored ones too), with their crops and cached soundscapes.
    Also what to do with a damaged unseen.json: it is moved aside as unseen.json.corrupt-<time>."""
    from art2mus.installation.unseen_store import UnseenStore, crops_in, unseen_dir

    config = load_or_exit(exhibit)
    directory = unseen_dir(config)
    on_disk = set(crops_in(directory)) if directory.is_dir() else set()  # left by a lost index too
    try:
        remembered = set(UnseenStore(directory, config.unseen.remember).artworks)
    except ValueError:
        remembered = set()
    if not yes:
        raise click.ClickException(
            f"this forgets {len(on_disk | remembered)} unseen artworks in {directory}, their crops and "
            "cached soundscapes; give --yes to do it"
        )
    store = UnseenStore(directory, config.unseen.remember, set_aside_damaged=True)
    store.artworks.update({k: v for k, v in crops_in(directory).items() if k not in store.artworks})
    ids = list(store.artworks)
    for artwork_id in ids:
        _remove_soundscape(config, store, artwork_id)
        store.forget(artwork_id)
    click.echo(f"forgot {len(ids)} unseen artworks in {directory}")
    if ids:
        click.echo(_RUNNING, err=True)


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
        "panel's Reload); until then it plays the soundscape it played for it",
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
