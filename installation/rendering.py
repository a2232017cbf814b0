"""Rendering to WAV files outside the daemon (``art2mus render``): an image, one artwork of an exhibit, or
every artwork into a folder. An exhibit's artworks go through :meth:`SoundscapeSource.render
<art2mus.installation.soundscapes.SoundscapeSource.render>` (the daemon's own exhibit -> request mapping);
an image through :func:`~art2mus.installation.soundscapes.render_image`. :func:`render` is the whole
command: it checks which options go together, then renders and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

EXHIBIT_SUFFIXES = (".yaml", ".yml")


class RenderUsageError(ValueError):
    """Options that do not go together (the command reports it as a usage error)."""


class GeneratorOptionsError(RenderUsageError):
    """Art2Mus generator settings were given for a generator that does not take them."""


def check_usage(
    is_exhibit: bool,
    source: Path,
    output: Path | None,
    artwork_id: str | None,
    render_all: bool,
    out_dir: Path | None,
    spectrogram: bool,
    loop: bool | None,
) -> None:
    """Refuse options that do not go with an IMAGE or an EXHIBIT source; :class:`RenderUsageError`."""
    if is_exhibit:
        if render_all == (artwork_id is not None):
            raise RenderUsageError(
                "with an EXHIBIT give either --artwork ID (with -o) or --all (with --out-dir)"
            )
        if render_all and out_dir is None:
            raise RenderUsageError("--all needs --out-dir DIR")
        if artwork_id is not None and output is None:
            raise RenderUsageError("--artwork needs -o FILE.wav")
        if loop is not None:
            raise RenderUsageError("--loop/--no-loop apply to an IMAGE; an exhibit sets `loop` per artwork")
    else:
        if artwork_id is not None or render_all:
            raise RenderUsageError(
                f"--artwork and --all need an exhibit file ({'/'.join(EXHIBIT_SUFFIXES)}), not {source}"
            )
        if output is None:
            raise RenderUsageError("give -o FILE.wav")
    if spectrogram and not render_all:
        raise RenderUsageError("--spectrogram goes with --all")


def render(
    source: Path,
    *,
    output: Path | None,
    artwork_id: str | None,
    render_all: bool,
    out_dir: Path | None,
    generator: str | None,
    overrides: Mapping[str, Any],
    changes: Mapping[str, Any],
    loop: bool | None,
    backends: Mapping[str, Any] | None,
    subtype: str,
    spectrogram: bool,
    echo: Callable[[str], Any],
) -> None:
    """Render ``source`` (an image, or an exhibit YAML file with ``artwork_id`` or ``render_all``) to WAV.

    ``generator``: the backend for an image (default ``procedural``) or a name of the exhibit's generators
    section; ``overrides``: Art2Mus generator settings; ``changes``: request fields given (``duration_s``,
    ``seed``, ``loudness_lufs``; ``None`` keeps the default). ``echo`` gets one line per written file.
    Raises :class:`RenderUsageError` for options that do not go together,
    :class:`~art2mus.installation.config.ExhibitError` for an invalid exhibit, and ``OSError``,
    ``ValueError``, ``KeyError`` ... for what cannot be read or generated.
    """
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    is_exhibit = source.suffix.lower() in EXHIBIT_SUFFIXES
    check_usage(is_exhibit, source, output, artwork_id, render_all, out_dir, spectrogram, loop)
    if is_exhibit:
        target = output if artwork_id is not None else out_dir
        render_exhibit(
            source,
            artwork_id,
            target,
            generator,
            overrides,
            changes,
            backends,
            subtype=subtype,
            spectrogram=spectrogram,
            echo=echo,
        )
        return
    from art2mus.installation.audio.export import export
    from art2mus.installation.soundscapes import render_image
    from art2mus.models.generator import GenerationRequest

    backend = generator or "procedural"
    check_art2mus_only(overrides, {backend})
    request = GenerationRequest(**{k: v for k, v in {**changes, "loop": loop}.items() if v is not None})
    echo(export(render_image(source, backend, overrides, request, backends=backends), output, subtype))


def check_art2mus_only(overrides: Mapping[str, Any], generators: set[str]) -> None:
    """Refuse Art2Mus ``overrides`` when a generator in ``generators`` is another backend."""
    others = sorted(generators - {"art2mus"})
    if overrides and others:
        flags = ", ".join("--" + key.replace("_", "-") for key in overrides)
        raise GeneratorOptionsError(f"{flags} apply to the art2mus generator, not {others[0]!r}")


def _room_gain(exhibit: Any, what: str) -> str:
    """What the room adds to a rendering's level: an artwork's ``soundscape.gain_db``, the idle ambience's
    ``idle.gain_db`` (the file holds the soundscape at the exhibit's loudness, without it); "" for none."""
    from art2mus.installation.soundscapes import IDLE_KEY

    if what == IDLE_KEY:
        gain, field = exhibit.idle.gain_db, "idle.gain_db"
    else:
        gain, field = (
            next(a.soundscape.gain_db for a in exhibit.artworks if a.id == what),
            "soundscape.gain_db",
        )
    return f"; the room plays it at {gain:+g} dB ({field})" if gain else ""


def render_exhibit(
    path: Path,
    artwork_id: str | None,
    target: Path,
    generator: str | None,
    overrides: Mapping[str, Any],
    changes: Mapping[str, Any],
    backends: Mapping[str, Any] | None,
    *,
    subtype: str,
    spectrogram: bool,
    echo: Callable[[str], Any],
) -> None:
    """Render ``artwork_id`` to the file ``target``, or (``artwork_id`` None) every artwork into the folder
    ``target`` (``<id>.wav``, and ``<id>.png`` spectrograms with ``spectrogram``); ``echo`` gets one line
    per file. Raises :class:`~art2mus.installation.config.ExhibitError` for an invalid exhibit."""
    from art2mus.installation.audio.export import export
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.soundscapes import SoundscapeSource

    exhibit = load_exhibit(path, check_files=False)
    with SoundscapeSource(exhibit, backends=backends) as soundscapes:
        chosen = [artwork_id] if artwork_id is not None else [a.id for a in exhibit.artworks]
        check_art2mus_only(
            overrides, {soundscapes.recipe(generator or soundscapes.generator_of(w))[0] for w in chosen}
        )
        if artwork_id is not None:
            soundscape = soundscapes.render(artwork_id, generator=generator, overrides=overrides, **changes)
            echo(export(soundscape, target, subtype) + _room_gain(exhibit, artwork_id))
            return
        from tqdm import tqdm

        for artwork in tqdm(exhibit.artworks, desc="rendering", unit="artwork", disable=None):
            if artwork.audio is not None:
                tqdm.write(f"{artwork.id}: plays its fixed audio file {artwork.audio}; not rendered")
                continue
            soundscape = soundscapes.render(artwork.id, generator=generator, overrides=overrides, **changes)
            title = f"{artwork.display_title} ({artwork.id})" if spectrogram else None
            tqdm.write(
                export(soundscape, target / f"{artwork.id}.wav", subtype, title)
                + _room_gain(exhibit, artwork.id)
            )
