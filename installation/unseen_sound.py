"""The soundscape of an unseen artwork (``unseen:<id>``): made from its stored crop exactly as a listed
artwork's from its reference photo, through :class:`~art2mus.installation.soundscapes.SoundscapeSource`
(the cache first; a live generator in the generator process with its bridge playing meanwhile; the
procedural sonifier here), and added to the library so the director crossfades to it like any other. The
daemon makes it on a thread beside its loop (:func:`make_unseen_clip`) and adds it on the loop
(:func:`add_unseen_clip`); ``simulate`` does both in-line (:func:`ensure_unseen_clip`)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from art2mus.installation.soundscapes import Made, SoundscapeLibrary, SoundscapeSource
from art2mus.installation.vision.unseen import UNSEEN_PREFIX

logger = logging.getLogger(__name__)


def unseen_request(exhibit: Any, artwork_id: str) -> Any:
    """The generation request of an unseen artwork: ``unseen.duration``, a loop, a seed from its id
    (``artwork_id`` without ``unseen:``). ``art2mus unseen promote`` writes these into the promoted
    artwork's ``soundscape``, so it keeps the music the room played for it."""
    from art2mus.models.generator import GenerationRequest

    return GenerationRequest(
        duration_s=exhibit.unseen.duration,
        seed=zlib.crc32(artwork_id.encode()) & 0x7FFFFFFF,
        loop=True,
        loudness_lufs=exhibit.audio.loudness_lufs,
    )


@dataclass
class UnseenClip:
    """An unseen artwork's soundscape made and prepared for the engine, not yet in a library (see
    :func:`make_unseen_clip`): what :func:`add_unseen_clip` puts there."""

    what: str
    clip: Any  # AudioClip
    reload: Callable[[], Any]  # reads it again once the library has let it go
    made: Made
    jobs: list[int]  # the generator process's jobs whose rendering replaces this bridge


def make_unseen_clip(source: SoundscapeSource, engine: Any, crop: Any, what: str) -> UnseenClip | None:
    """``what``'s (``unseen:<id>``) soundscape from the cache, or rendered (here, or a bridge here while
    the generator process renders it), prepared for ``engine``: seconds of CPU for a procedural one. Reads
    no library, so the daemon runs it beside its loop. None when it has no image (``crop`` None, or a
    file gone: logged).

    ``crop``: an :class:`~art2mus.installation.unseen_store.UnseenCrop` (a file, or a crop held in
    memory because the unseen folder refused it), or the crop file's path."""
    from art2mus.installation.unseen_store import UnseenCrop

    assert what.startswith(UNSEEN_PREFIX), what
    if isinstance(crop, Path):
        crop = UnseenCrop(path=crop)
    try:
        digest = crop.digest() if crop is not None else None
    except OSError as exc:  # removed since it was named (art2mus unseen forget): nothing to make it from
        logger.warning("%s: its image cannot be read (%s); it plays nothing", what, exc)
        return None
    if digest is None:
        logger.warning("%s: no image is left to make its soundscape from; it plays nothing", what)
        return None
    exhibit = source.exhibit
    request = unseen_request(exhibit, what[len(UNSEEN_PREFIX) :])

    def make() -> Any:
        # decoded only to render, not for a cache hit
        return source.make(exhibit.unseen.generator, crop.rgb, request, what, digest, crop.path)

    made = make()
    clip = source.prepare(engine, made.soundscape, what, loop=True, key=made.key)
    jobs = [job for job_what, job in source.submitted if job_what == what]
    if crop.on_cached is not None and source.cache is not None:  # removed with the artwork when forgotten
        for key in [made.key, *(getattr(job, "cache_key", None) for w, job in source.submitted if w == what)]:
            if key is not None:
                crop.on_cached(source.cache, key)
    logger.info("%s: soundscape %s", what, "from the cache" if made.cached else f"made by {made.generator}")
    return UnseenClip(what, clip, source.reload(engine, what, made, loop=True, make_again=make), made, jobs)


def add_unseen_clip(library: SoundscapeLibrary, unseen: UnseenClip) -> bool:
    """Put ``unseen`` in ``library`` (on the thread that owns it: the daemon's loop); True when a
    generator rendered it (not the cache)."""
    what, made = unseen.what, unseen.made
    library.clips.put(what, unseen.clip, unseen.reload)
    library.gains_db[what] = 0.0
    library.made_by[what] = made.generator
    if made.cached:
        library.from_cache.add(what)
    for job in unseen.jobs:
        library.pending[what] = job
    return not made.cached


def ensure_unseen_clip(
    source: SoundscapeSource, library: SoundscapeLibrary, engine: Any, crop: Any, what: str
) -> bool:
    """Put ``what`` (``unseen:<id>``) in ``library`` unless it is there, made on the calling thread
    (:func:`make_unseen_clip`, then :func:`add_unseen_clip`); True when a generator rendered it (here,
    or a bridge here while the generator process renders it), False when it was already in the library
    or in the cache, or when it has no image."""
    if what in library.clips:
        return False
    unseen = make_unseen_clip(source, engine, crop, what)
    return unseen is not None and add_unseen_clip(library, unseen)
