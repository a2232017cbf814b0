"""Rendering an exhibit to WAV files outside the daemon (``art2mus render EXHIBIT``): one artwork, or every
artwork into a folder, each through :meth:`SoundscapeSource.render
<art2mus.installation.soundscapes.SoundscapeSource.render>` (the daemon's own exhibit -> request mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class GeneratorOptionsError(ValueError):
    """Art2Mus generator settings were given for a generator that does not take them."""


def check_art2mus_only(overrides: Mapping[str, Any], generators: set[str]) -> None:
    """Refuse Art2Mus ``overrides`` when a generator in ``generators`` is another backend."""
    others = sorted(generators - {"art2mus"})
    if overrides and others:
        flags = ", ".join("--" + key.replace("_", "-") for key in overrides)
        raise GeneratorOptionsError(f"{flags} apply to the art2mus generator, not {others[0]!r}")


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
        artworks = [soundscapes.artwork(artwork_id)] if artwork_id is not None else exhibit.artworks
        check_art2mus_only(
            overrides, {soundscapes.recipe(generator or a.soundscape.generator)[0] for a in artworks}
        )
        if artwork_id is not None:
            soundscape = soundscapes.render(artwork_id, generator=generator, overrides=overrides, **changes)
            echo(export(soundscape, target, subtype))
            return
        from tqdm import tqdm

        for artwork in tqdm(artworks, desc="rendering", unit="artwork", disable=None):
            if artwork.audio is not None:
                tqdm.write(f"{artwork.id}: plays its fixed audio file {artwork.audio}; not rendered")
                continue
            soundscape = soundscapes.render(artwork.id, generator=generator, overrides=overrides, **changes)
            title = f"{artwork.display_title} ({artwork.id})" if spectrogram else None
            tqdm.write(export(soundscape, target / f"{artwork.id}.wav", subtype, title))
