"""Where an artwork's sound comes from: the soundscape cache, its generator, a bridge, the generator process.

:class:`SoundscapeSource` answers that one question for everyone who asks it: the daemon at start
(:meth:`SoundscapeSource.library`), a reload (the same call on the new exhibit), the nightly retry of
bridges (:meth:`SoundscapeSource.retry`), ``art2mus prerender`` (:meth:`SoundscapeSource.prerender`) and
``art2mus render`` (:meth:`SoundscapeSource.render`). The chain, per soundscape:

1. a fixed ``audio:`` file plays as it is;
2. the soundscape cache (:mod:`art2mus.installation.cache`) holds an identical rendering: it plays;
3. a slow generator (everything but the procedural sonifier) with a generator process at hand: the
   job goes there, and its ``fallback`` renders a bridge that plays meanwhile;
4. otherwise the generator renders here; if it fails, its ``fallback`` (default: the procedural
   sonifier) does, so the gallery is never silent.

What each generator renders is stored under its own key: a fallback's rendering never stands in for
the primary's on the next start.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Container, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from art2mus.installation.audio.clip import AudioClip, load_clip_file, played_as, prepare_clip, streamed_clip
from art2mus.installation.audio.engine import AudioEngine
from art2mus.installation.cache import (
    SoundscapeCache,
    cache_key,
    image_digest,
    legacy_cache_key,
    pixels_digest,
)
from art2mus.installation.clip_shelf import ClipShelf, as_shelf
from art2mus.installation.config import ExhibitConfig
from art2mus.installation.generation_worker import GenerationJob, GenerationWorker

logger = logging.getLogger(__name__)

#: the key of the idle ambience among the artwork ids
IDLE_KEY = "idle"
#: the generator that stands in when an artwork's generator cannot make its soundscape and names no fallback
FALLBACK_GENERATOR = "procedural"


@dataclass
class SoundscapeLibrary:
    """Every soundscape the gallery can play, in the engine's mix format.

    Attributes:
        clips: artwork id -> clip, a :class:`~art2mus.installation.clip_shelf.ClipShelf` that holds the
            clips most recently chosen within ``audio.memory_mb`` and reads the others again when chosen
            (a plain dict given here becomes a shelf that holds every clip).
        gains_db: artwork id -> the curator's ``soundscape.gain_db`` (applied when played).
        idle: the idle ambience, or None for silence.
        idle_gain_db: the idle level relative to artworks, dB.
        made_by: artwork id (and ``idle``) -> the generator that really made it (after any fallback).
        from_cache: the artwork ids (and ``idle``) read from the soundscape cache rather than rendered.
        pending: artwork id (or ``idle``) -> generator-process job whose rendering will replace the bridge.
        problems: artwork id (or ``idle``) -> why it was left out (its audio cannot be read, holds NaN,
            no generator could make it...): the gallery plays the rest, the control panel and ``doctor``
            show these.
        stand_ins: artwork id -> why its soundscape is not made from its photo (none can be read: a plain
            grey picture, the same for every such artwork, stands in until one can); it plays.
        kept: the artwork ids (and ``idle``) whose clip a reload took over from the library before, its
            recipe unchanged: nothing was read or rendered for them.
        idle_recipe: what the idle ambience is made from (see :func:`clip_recipe`), or None.
    """

    clips: ClipShelf = field(default_factory=ClipShelf)
    gains_db: dict[str, float] = field(default_factory=dict)
    idle: AudioClip | None = None
    idle_gain_db: float = 0.0
    made_by: dict[str, str] = field(default_factory=dict)
    from_cache: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    stand_ins: dict[str, str] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)
    idle_recipe: Hashable | None = None

    def __post_init__(self) -> None:
        self.clips = as_shelf(self.clips)


class Made(NamedTuple):
    """What :meth:`SoundscapeSource.make` made: the soundscape, the generator that really made it (after
    any fallback), whether it came from the cache, and its cache key (None without a cache)."""

    soundscape: Any
    generator: str
    cached: bool
    key: str | None


def read_rgb(path: Path) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` from an image file; ValueError naming the file if it cannot be read."""
    import cv2

    if not Path(path).is_file():
        raise ValueError(f"image {path} does not exist")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"cannot read image {path}: not an image format OpenCV can decode (PNG, JPEG, ...)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def artwork_rgb(paths: list[Path]) -> tuple[Path, np.ndarray]:
    """The first of an artwork's reference photos that can be read, RGB; when none can (the photo checks
    have left it out of recognition), a plain grey picture, so that it still has a soundscape to be
    played from the control panel."""
    for path in paths:
        try:
            return Path(path), read_rgb(Path(path))
        except ValueError as exc:
            logger.error("%s; making its soundscape from another photo or a plain picture", exc)
    return Path(paths[0]), np.full((64, 64, 3), 128, np.uint8)


#: an image, or a loader of it (called when the pixels are needed: a cache hit keyed by the file needs none)
Image = np.ndarray | Callable[[], np.ndarray]


class _Pixels:
    """Calls an image's loader once, when first asked; an array is returned as it is."""

    def __init__(self, image: Image):
        self._image = image

    def __call__(self) -> np.ndarray:
        if callable(self._image):
            self._image = self._image()
        return self._image


def artwork_image(paths: list[Path]) -> tuple[Path, Image, str | None]:
    """An artwork's photo for its soundscape: ``(path, pixels or their loader, the file's digest)``. The
    first photo's file keys the cache, so a cached soundscape decodes no photo (about 6 ms each, at every
    start); when that file cannot even be read, the photo :func:`artwork_rgb` finds is decoded now."""
    first = Path(paths[0])
    try:
        return first, lambda: artwork_rgb(paths)[1], image_digest(first)
    except OSError:
        path, image = artwork_rgb(paths)
        try:
            return path, image, image_digest(path)
        except OSError:
            return path, image, None


#: the side of each artwork's tile in the collection image, pixels
COLLECTION_TILE = 256
#: part of the collection image's cache reference: bump when :func:`collection_image` lays it out anew
COLLECTION_LAYOUT = 1


def idle_image_ref(exhibit: ExhibitConfig) -> str:
    """What keys the idle ambience's image in the cache without making it: the file's digest
    (``idle.source: image``), or for ``collection`` a digest of every artwork's first photo's digest, in
    order, with the layout (tile size, :data:`COLLECTION_LAYOUT`). Making the collection image decodes
    every photo and, for 1,000 artworks, lays out an 8192 px square (200 MB): a start with the idle
    ambience cached does neither."""
    if exhibit.idle.source != "collection":
        return image_digest(Path(exhibit.idle.path))
    digest = hashlib.sha256(f"collection/{COLLECTION_LAYOUT}/{COLLECTION_TILE}".encode())
    for artwork in exhibit.artworks:
        path = Path(artwork.images[0])
        try:
            digest.update(image_digest(path).encode())
        except OSError:  # its tile is plain grey (artwork_rgb): keyed as missing until the photo is back
            digest.update(f"missing:{path}".encode())
    return digest.hexdigest()


def collection_image(paths: list[Path], tile: int = COLLECTION_TILE) -> np.ndarray:
    """All the artworks side by side in a grid (RGB uint8): the image the idle ambience is made from."""
    import cv2

    tiles = [cv2.resize(artwork_rgb([p])[1], (tile, tile), interpolation=cv2.INTER_AREA) for p in paths]
    if not tiles:
        raise ValueError("the collection has no images to make an idle ambience from")
    cols = int(np.ceil(np.sqrt(len(tiles))))
    rows = int(np.ceil(len(tiles) / cols))
    grid = np.zeros((rows * tile, cols * tile, 3), np.uint8)
    for k, image in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = image
    return grid


def artwork_request(exhibit: ExhibitConfig, artwork: Any) -> Any:
    """The generation request of an artwork's ``soundscape`` settings at the exhibit's loudness."""
    from art2mus.models.generator import GenerationRequest

    sound = artwork.soundscape
    return GenerationRequest(
        duration_s=sound.duration,
        seed=sound.seed,
        loop=sound.loop,
        loudness_lufs=exhibit.audio.loudness_lufs,
        options={"prompt": sound.prompt} if sound.prompt else {},
    )


def idle_request(exhibit: ExhibitConfig) -> Any:
    """The generation request of the idle ambience (always a loop)."""
    from art2mus.models.generator import GenerationRequest

    idle = exhibit.idle
    return GenerationRequest(
        duration_s=idle.duration, seed=idle.seed, loop=True, loudness_lufs=exhibit.audio.loudness_lufs
    )


def idle_image(exhibit: ExhibitConfig) -> np.ndarray:
    """The image the idle ambience is made from: all the artworks together, or ``idle.path``. ValueError
    when the idle ambience is not made from an image (``idle.source``: silence, or a fixed audio file)."""
    if exhibit.idle.source == "silence":
        raise ValueError("the idle ambience is silence (idle.source: silence): nothing to render")
    if exhibit.idle.source == "file":
        raise ValueError(f"the idle ambience plays its fixed audio file {exhibit.idle.path}: nothing to render")
    if exhibit.idle.source == "collection":
        return collection_image([Path(a.images[0]) for a in exhibit.artworks])
    return read_rgb(Path(exhibit.idle.path))


@dataclass(frozen=True)
class PrerenderResult:
    """What ``prerender`` did for one soundscape: ``status`` is ``cached`` (already there), ``rendered``,
    ``file`` (a curator's audio file: nothing to render), ``failed`` (with ``error``), ``skipped`` (not
    tried: the cache stopped storing, see :class:`CacheCannotStore`), ``elsewhere`` (another process
    sharing the cache rendered it meanwhile) or, from :meth:`SoundscapeSource.prerender_one` only,
    ``busy`` (another process renders it now). ``store_error``: the disk's refusal
    when the rendering was made but could not be stored (``[Errno 28] No space left on device: ...``)."""

    what: str
    generator: str
    status: str
    seconds: float = 0.0
    error: str | None = None
    store_error: str | None = None


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _read_file_again(path: Path, stamp: tuple[int, int] | None, lufs: float, settings: dict[str, Any]) -> AudioClip:
    """A curator's audio file read again for the library: at the loudness measured at the start when the
    file has not changed since (same size and time), else measured again."""
    same = stamp is not None and _file_stamp(path) == stamp
    return load_clip_file(path, loudness_lufs=lufs if same else None, **settings)


def file_recipe(path: Path, stamp: tuple[int, int] | None, settings: Mapping[str, Any]) -> Hashable:
    """What a clip read from a curator's audio file is made from: the file (path, and its size and time
    ``stamp`` from :func:`_file_stamp`) and the mix format it is prepared in."""
    return ("file", str(path), stamp, tuple(sorted(settings.items())))


def cache_recipe(key: str, played_as: str) -> Hashable:
    """What a clip read from the soundscape cache is made from: the entry's key (the generator, its
    settings and weights, the request, the image) and the mix format it is prepared in."""
    return ("cache", key, played_as)


def clip_recipe(reload: Any) -> Hashable | None:
    """What the clip that ``reload`` reads again is made from (None: unknown, it is never taken over by a
    reload): :func:`file_recipe` or :func:`cache_recipe`, kept on the reload as its ``recipe``."""
    return getattr(reload, "recipe", None)


class SoundscapeSource:
    """Where the soundscapes of one exhibit come from (see the module docstring).

    Builds each named generator of the exhibit once, on first use; :meth:`close` (or leaving a ``with``
    block) closes them. The whole-collection calls (:meth:`library`, :meth:`prerender`) close them when
    they are done, so a model's memory is not held between two of them.

    Args:
        exhibit: the validated exhibit.
        backends: the generator table (default: :data:`art2mus.models.registry.GENERATOR_BACKENDS`).
        cache: the soundscape cache, or None to render every time and store nothing.
        worker: the generator process; None renders everything here. Its hand-over goes through the
            cache, so it is ignored without one.
        read_when_chosen: :meth:`library` only notes an artwork whose rendering the cache holds (from its
            sidecar) and reads it when it is first chosen, even within ``audio.memory_mb``. For
            ``simulate``: a walk hears a few of the collection's soundscapes, and a start that decodes
            every one costs the curator its whole decoding (demo: 9 read, 4 heard; 1,000 artworks: the
            budget's worth, about 70 of 40 s). The daemon keeps reading what fits at its start, so that
            a damaged entry is found and rendered again before opening, not when a visitor chooses it.
    """

    def __init__(
        self,
        exhibit: ExhibitConfig,
        *,
        backends: Mapping[str, Any] | None = None,
        cache: SoundscapeCache | None = None,
        worker: GenerationWorker | None = None,
        read_when_chosen: bool = False,
    ):
        self.exhibit = exhibit
        self.backends = backends
        self.read_when_chosen = read_when_chosen
        self.cache = cache
        self.worker = worker if cache is not None else None  # the hand-over goes through the cache
        #: (what, job id) of every job handed to the generator process by :meth:`make`
        self.submitted: list[tuple[str, int]] = []
        self._built: dict[tuple[str, str], Any] = {}
        self._batch: int | None = None  # the generator process's batch of this library or retry

    def __enter__(self) -> SoundscapeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one generator
    def recipe(self, name: str) -> tuple[str, dict[str, Any]]:
        """``(backend type, constructor settings)`` of the exhibit's generator ``name`` (a name that is
        not in the exhibit's ``generators`` section is a backend with its default settings)."""
        config = self.exhibit.generators.get(name)
        return (config.type, config.settings()) if config is not None else (name, {})

    def key(self, name: str, request: Any, image_ref: str | np.ndarray) -> str:
        """The cache key of rendering ``image_ref`` (a file digest, or the pixels) with ``name``: not
        the loudness target's nor the model folder's (see :mod:`~art2mus.installation.cache`). An entry
        the cache holds under a key of before (:meth:`key_candidates`) is renamed to it first
        (:meth:`SoundscapeCache.resolve`)."""
        image_ref = image_ref if isinstance(image_ref, str) else pixels_digest(image_ref)  # hashed once
        key, earlier = self.key_candidates(name, request, image_ref)
        return key if self.cache is None else self.cache.resolve(key, earlier)

    def key_candidates(self, name: str, request: Any, image_ref: str | np.ndarray) -> tuple[str, list[str]]:
        """``(the cache key of rendering image_ref with name, the keys earlier versions stored the same
        rendering under)``, newest first, without looking in the cache: with the loudness target in the
        key (up to ce55095), and with the generator's settings as they were keyed (its folders' paths, an
        old default: :meth:`~art2mus.models.generator.Generator.earlier_cache_settings`)."""
        from art2mus.models.registry import cache_identity, cache_settings, render_version

        backend, settings = self.recipe(name)
        # the weights' content hash, not their path: a retrained aligner at the same path re-renders
        identity = cache_identity(backend, settings, self.backends)
        version = render_version(backend, self.backends)  # the generator's own: a new model re-renders its own
        keyed, earlier_forms = cache_settings(backend, settings, self.exhibit.base_dir, self.backends)
        key = cache_key(backend, {**keyed, **identity}, request, image_ref, version)
        earlier: list[str] = []
        for form in [settings, *earlier_forms]:
            for key_of in (cache_key, legacy_cache_key):
                old = key_of(backend, {**form, **identity}, request, image_ref, version)
                if old != key and old not in earlier:
                    earlier.append(old)
        return key, earlier

    def keys_in_use(self, present: Container[str] | None = None, *, strict: bool = False) -> dict[str, list[str]]:
        """Cache key -> what of the exhibit plays it (``amber-fields``, ``idle``, ``amber-fields (bridge:
        procedural)``, ``unseen:u55952a2a2eac3a6b``): every artwork's soundscape and the idle ambience with
        each generator of its fallback chain (a bridge plays while its generator renders), under its key and,
        while ``present`` (the keys the cache holds an entry under) lacks that key, under the first key of
        before it holds (:meth:`key_candidates`): the entry the next look-up takes over. An earlier key's
        copy beside the current key's entry is played by no one (the demo's cache after an upgrade: each of
        its 9 soundscapes stored twice, 93.9 MB). Without ``present`` every key of before counts. Also the
        entries the unseen artworks' store records. Renames nothing and decodes no image; an artwork whose
        photo cannot be read is left out (its key cannot be known), and the idle ambience made from the
        collection is keyed without it: with ``strict``, :class:`KeysUnknown` is raised instead.

        Raises:
            KeysUnknown: ``strict``, and a photo that keys a soundscape cannot be read (a renamed
                ``city-at-six.png``: the keys of city-at-six and of the idle ambience are not those a
                running daemon, which refuses that reload, plays).
            ValueError: the unseen artworks' store cannot be read (then which entries they use is unknown).
        """
        from art2mus.installation.unseen_store import UnseenStore, unseen_dir

        plan = [(what, name) for what, name in self.prerender_plan() if name != "file"]
        if strict and (unreadable := self._unreadable_key_photos({what for what, _ in plan})):
            raise KeysUnknown(unreadable)
        uses: dict[str, list[str]] = {}
        for what, name in plan:
            try:
                image_ref = idle_image_ref(self.exhibit) if what == IDLE_KEY else image_digest(
                    Path(self.artwork(what).images[0])
                )
            except OSError:
                continue
            request = self.request(what)
            chain: list[str] = []
            while name is not None and name not in chain:
                chain.append(name)
                key, earlier = self.key_candidates(name, request, image_ref)
                if present is not None:
                    earlier = [] if key in present else [old for old in earlier if old in present][:1]
                label = what if len(chain) == 1 else f"{what} (bridge: {name})"
                for one in [key, *earlier]:
                    uses.setdefault(one, []).append(label)
                name = self.fallback(name)
        # remembered even while unseen.enabled is off: their soundscapes are kept for when it is on again
        for artwork_id, artwork in UnseenStore(unseen_dir(self.exhibit)).artworks.items():
            for entry in artwork.cached:
                uses.setdefault(str(entry.get("key")), []).append(f"unseen:{artwork_id}")
        return uses

    def _unreadable_key_photos(self, rendered: set[str]) -> list[str]:
        """A line (field: photo, why, what it keys) for each photo keying a soundscape of ``rendered`` (the
        artwork ids and ``idle`` rendered, not played from a file) that cannot be read."""
        collection = IDLE_KEY in rendered and self.exhibit.idle.source == "collection"
        found = []
        for k, artwork in enumerate(self.exhibit.artworks):
            keyed = [artwork.id] if artwork.id in rendered else []
            keyed += ["the idle ambience (made from the collection)"] if collection else []
            if keyed:
                found += _unreadable(f"artworks[{k}].images[0]", Path(artwork.images[0]), keyed)
        if IDLE_KEY in rendered and self.exhibit.idle.source == "image":
            found += _unreadable("idle.path", Path(self.exhibit.idle.path), ["the idle ambience"])
        return found

    def get(self, name: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The generator ``name`` (with ``overrides`` on its settings), built on first use.

        Raises:
            ValueError: ``name`` is neither a generator of the exhibit nor a known backend.
        """
        from art2mus.models.registry import create_generator

        backend, settings = self.recipe(name)
        settings = {**settings, **(overrides or {})}
        built = (name, repr(sorted(settings.items())))
        if built not in self._built:
            self._built[built] = create_generator(backend, settings, backends=self.backends)
        return self._built[built]

    def fallback(self, name: str) -> str | None:
        """The generator that stands in for ``name``: its configured ``fallback``, else the procedural one."""
        config = self.exhibit.generators.get(name)
        chosen = getattr(config, "fallback", None) or FALLBACK_GENERATOR
        return None if chosen == name else chosen

    def is_live(self, name: str) -> bool:
        """Whether ``name`` renders in the generator process (everything but the procedural sonifier)."""
        return self.worker is not None and self.recipe(name)[0] != FALLBACK_GENERATOR

    def submit(
        self, name: str, request: Any, what: str, key: str, image_path: Path | None, image: np.ndarray | None
    ) -> int:
        """Send ``what`` to the generator process to render with ``name`` into the cache under ``key``."""
        assert self.worker is not None, "no generator process"
        backend, settings = self.recipe(name)
        job = GenerationJob(
            what=what,
            generator=name,
            backend=backend,
            settings=settings,
            request=request,
            cache_key=key,
            image_path=str(image_path) if image_path is not None else None,
            image=None if image_path is not None else image,
        )
        return self.worker.submit(job, self._batch)

    def make(
        self,
        name: str,
        image: Image,
        request: Any,
        what: str,
        image_ref: str | np.ndarray | None = None,
        image_path: Path | None = None,
        reuse: Callable[[str], bool] | None = None,
    ) -> Made:
        """The soundscape, the generator that made it, whether from the cache and its cache key
        (:class:`Made`): the chain of the module docstring.

        Each generator of the fallback chain is looked up in the cache first (``image_ref``: the image
        file's digest, or None to key by the pixels), and what a generator renders is stored under its
        own key. A live generator (see :meth:`is_live`) that misses the cache is handed to the generator
        process and its fallback renders the bridge now; the job is recorded in :attr:`submitted`.

        ``image`` may be a loader (called at most once): with ``image_ref`` given, a cache hit decodes
        no image. ``reuse(key)``: whether the caller already holds the rendering of cache entry ``key``
        (a reload's unchanged bridge); then that step of the chain returns ``Made(None, name, True, key)``
        instead of reading the entry.
        """
        image = _Pixels(image)
        tried: list[str] = []
        while True:
            key = None
            if self.cache is not None:
                key = self.key(name, request, image() if image_ref is None else image_ref)
                if reuse is not None and reuse(key):
                    return Made(None, name, True, key)
                hit = self.cache.get(key)
                if hit is not None:
                    return Made(hit, name, True, key)
            if key is not None and self.is_live(name) and name not in tried:
                pixels = None if image_path is not None else image()
                self.submitted.append((what, self.submit(name, request, what, key, image_path, pixels)))
                logger.info("%s: %r renders in the generator process; a bridge plays meanwhile", what, name)
                tried.append(name)
                fallback = self.fallback(name)
                if fallback is None:
                    raise RuntimeError(f"{what}: generator {name!r} has no fallback to bridge with")
                name = fallback
                continue
            claim = None if key is None else self._claim(key, what)
            if claim is None and key is not None:  # another process stored it while this one waited
                hit = self.cache.get(key)
                if hit is not None:
                    return Made(hit, name, True, key)
                claim = self._claim(key, what)
            try:
                try:
                    result = self.get(name).generate(image(), request)
                except Exception as exc:  # noqa: BLE001 - any generator failure must leave the gallery with music
                    tried.append(name)
                    fallback = self.fallback(name)
                    if fallback is None or fallback in tried:
                        raise
                    logger.warning(
                        "%s: generator %r failed (%s); using %r instead",
                        what,
                        name,
                        exc,
                        fallback,
                        exc_info=logger.isEnabledFor(logging.DEBUG),
                    )
                    name = fallback
                    continue
                if key is not None and not self.cache.put(key, result, {"what": what, "generator": name}):
                    key = None  # not stored: no sidecar to keep its loudness in
                return Made(result, name, False, key)
            finally:
                if claim is not None:
                    claim.release()

    def _claim(self, key: str, what: str) -> Any:
        """The claim on cache entry ``key`` (:mod:`~art2mus.installation.render_claims`) before rendering it
        here, or None after waiting for another process that held it (a prerender): read the entry then.
        The start needs this soundscape before it opens, so waiting for the other costs nothing."""
        from art2mus.installation.render_claims import RenderClaims

        assert self.cache is not None
        claims = RenderClaims(self.cache.directory)
        claim = claims.claim(key)
        if claim is not None:
            return claim
        logger.info("%s: another process (a prerender) renders it now; waiting for it", what)
        claims.claim(key, wait=True).release()
        return None

    def prepare(self, engine: AudioEngine, sound: Any, what: str, *, loop: bool, key: str | None) -> AudioClip:
        """``sound`` (a soundscape) ready for ``engine``. Its loudness as played is read from the sidecar of
        its cache entry ``key`` when stored there; otherwise measured (about 0.2 s of CPU per minute of
        audio) and stored, so the next start reads it."""
        played = engine.played_as(loop)
        stored = None
        if key is not None and self.cache is not None:
            stored = self.cache.played_loudness(key, played)
        clip = engine.prepare(
            sound.waveform, sound.sample_rate, key=what, loop=loop, loudness_lufs=stored, metadata=sound.metadata
        )
        if stored is None and key is not None and self.cache is not None:
            self.cache.store_played_loudness(key, played, clip.loudness_lufs)
        return clip

    def close(self) -> None:
        """Close every generator built so far."""
        built, self._built = self._built, {}
        for generator in built.values():
            generator.close()

    # ------------------------------------------------------------------ one artwork
    def artwork(self, artwork_id: str) -> Any:
        """The exhibit's artwork ``artwork_id`` (KeyError naming the known ones)."""
        for artwork in self.exhibit.artworks:
            if artwork.id == artwork_id:
                return artwork
        known = ", ".join(a.id for a in self.exhibit.artworks) or "none"
        raise KeyError(f"no artwork {artwork_id!r}; its artworks are: {known}")

    def request(self, what: str, **changes: Any) -> Any:
        """The generation request of an artwork id (its ``soundscape`` settings) or ``idle``, at the
        exhibit's loudness; ``changes`` replace request fields (``duration_s``, ``seed``, ...)."""
        import dataclasses

        if what == IDLE_KEY:
            request = idle_request(self.exhibit)
        else:
            request = artwork_request(self.exhibit, self.artwork(what))
        return dataclasses.replace(request, **{k: v for k, v in changes.items() if v is not None})

    def render(
        self,
        artwork_id: str,
        *,
        generator: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        **changes: Any,
    ) -> Any:
        """Render one artwork's soundscape (or ``idle``: the idle ambience) here and now with its own
        generator (or ``generator``, a name of the exhibit's ``generators`` or a backend), ``overrides`` on
        that generator's settings and ``changes`` on the request; no cache, no fallback (``art2mus
        render``). ValueError for an idle ambience that is silence or a fixed file (nothing to render)."""
        if artwork_id == IDLE_KEY:
            image = idle_image(self.exhibit)  # checked first: a silent idle has no generator to load
        else:
            image = read_rgb(Path(self.artwork(artwork_id).images[0]))
        name = generator or self.generator_of(artwork_id)
        return self.get(name, overrides).generate(image, self.request(artwork_id, **changes))

    def generator_of(self, what: str) -> str:
        """The generator an artwork's soundscape (or ``idle``: the idle ambience's) is made with."""
        return self.exhibit.idle.generator if what == IDLE_KEY else self.artwork(what).soundscape.generator

    def generated_clip(self, result: Any, engine: AudioEngine) -> AudioClip | None:
        """The generator process's rendering of ``result`` (a ``GenerationResult``), read from the cache
        and prepared for ``engine``; None (logged) when the job failed or its rendering is not there, so
        the bridge stays."""
        if not result.ok:
            # a generator that cannot load: the generator process said why, once for the whole batch
            log = logger.debug if result.cannot_load else logger.warning
            log("%s keeps its bridge: %s", result.what, result.error)
            return None
        sound = result.load(self.cache)  # from the cache, or in memory when the cache refused it
        if sound is None:
            logger.warning(
                "%s: the generator process's rendering is not in the cache; the bridge stays", result.what
            )
            return None
        loop = self.loops(result.what)
        # a rendering carried in memory (the cache refused it) has no sidecar to keep its loudness in
        key = result.cache_key if result.soundscape is None else None
        return self.prepare(engine, sound, result.what, loop=loop, key=key)

    def loops(self, what: str) -> bool:
        """Whether ``what``'s soundscape loops (an artwork's ``soundscape.loop``; unseen artworks and the
        idle ambience always do)."""
        artwork = next((a for a in self.exhibit.artworks if a.id == what), None)
        return artwork.soundscape.loop if artwork is not None else True

    def generated_reload(self, result: Any, engine: AudioEngine) -> Callable[[], AudioClip] | None:
        """How the generator process's rendering of ``result`` is read again from the cache once the
        library has let it go (None: it came in memory, the cache refused it; hold it)."""
        if result.soundscape is not None or not result.cache_key:
            return None
        made = Made(None, result.generator, False, result.cache_key)
        listed = any(a.id == result.what for a in self.exhibit.artworks)
        again = functools.partial(self._make_again, result.what) if listed else None
        return self.reload(engine, result.what, made, loop=self.loops(result.what), make_again=again)

    # ------------------------------------------------------------------ the whole collection
    def library(
        self,
        engine: AudioEngine,
        progress: Callable[[int, int, str], None] | None = None,
        *,
        previous: SoundscapeLibrary | None = None,
    ) -> SoundscapeLibrary:
        """Make (or read) every artwork's soundscape and the idle ambience, ready for ``engine``.

        A fixed ``audio:`` file is read; otherwise the artwork's generator renders from its first
        reference image with its ``soundscape`` settings, at the exhibit's loudness target, unless the
        cache holds that rendering already. With a generator process, a slow generator's cache miss is
        rendered there while its fallback's rendering plays (``library.pending`` names those).
        ``progress(done, total, name)`` is called after each one.

        One soundscape that cannot be made (an unreadable or corrupt audio file, every generator of its
        chain failing) is left out and recorded in ``library.problems``; the others are made. A bad idle
        ambience leaves silence between artworks.

        ``previous``: the library a reload replaces. A clip there made the same way as now (the same cache
        entry or audio file, the same mix format: see :func:`clip_recipe`) is taken over as it is, nothing
        read (``library.kept`` names those); before anything is read, ``previous`` lets go of the clips it
        does not hand over, but for what the mix plays (they are read again if chosen before the swap).
        """
        exhibit = self.exhibit
        kept = self._kept(previous, engine)
        if previous is not None:
            freed = previous.clips.let_go(set(kept) | self._bridges_kept(previous, engine))
            logger.debug("reload: %d soundscapes unchanged, %.1f MB of the others let go", len(kept), freed / 1e6)
        memory = exhibit.audio.memory_mb
        library = SoundscapeLibrary(
            clips=ClipShelf(budget_bytes=int(memory * 1e6) if memory > 0 else None, in_use=engine.sounding_keys),
            idle_gain_db=exhibit.idle.gain_db,
        )
        total = len(exhibit.artworks) + (exhibit.idle.source != "silence")
        done = 0
        submitted_before = len(self.submitted)
        # one batch for the whole collection: a model that cannot load is tried, and its cause logged, once
        self._batch = self.worker.new_batch() if self.worker is not None else None
        try:
            for artwork in exhibit.artworks:
                started = time.perf_counter()
                done += 1
                if artwork.id in kept:
                    make = functools.partial(self._library_kept, previous=previous)
                else:
                    make = functools.partial(self._library_artwork, previous=previous)
                if not self._left_out_on_failure(library, artwork.id, make, library, engine, artwork):
                    if progress is not None:
                        progress(done, total, artwork.id)
                    continue
                clips = library.clips
                logger.info(
                    "soundscape %d/%d: %s (%s%s, %.1f s of audio, %s, %.2f s)",
                    done,
                    total,
                    artwork.id,
                    library.made_by[artwork.id],
                    _origin(library, artwork.id),
                    clips.duration_s(artwork.id),
                    # the exhibit's target: a reload's, which the engine takes only once the library is swapped in
                    _played_level(
                        exhibit.audio.loudness_lufs + library.gains_db.get(artwork.id, 0.0), clips, artwork.id
                    ),
                    time.perf_counter() - started,
                )
                if progress is not None:
                    progress(done, total, artwork.id)
            if IDLE_KEY in kept:
                library.idle, library.idle_recipe = previous.idle, previous.idle_recipe
                library.made_by[IDLE_KEY] = previous.made_by.get(IDLE_KEY, exhibit.idle.generator)
                library.from_cache.update({IDLE_KEY} & previous.from_cache)
                library.kept.add(IDLE_KEY)
            else:
                self._left_out_on_failure(library, IDLE_KEY, self._library_idle, library, engine)
            if library.idle is not None:
                done += 1
                logger.info(
                    "soundscape %d/%d: idle ambience (%s, %s%s, %.1f s)",
                    done,
                    total,
                    exhibit.idle.source,
                    library.made_by[IDLE_KEY],
                    _origin(library, IDLE_KEY),
                    library.idle.duration_s,
                )
                if progress is not None:
                    progress(done, total, IDLE_KEY)
        finally:
            self.close()
        library.pending.update(self.submitted[submitted_before:])
        return library

    @staticmethod
    def _left_out_on_failure(
        library: SoundscapeLibrary, what: str, make: Callable[..., None], *args: Any
    ) -> bool:
        """``make(*args)``; True when it worked. A failure is logged and recorded in ``library.problems``
        (one bad soundscape must not silence the room)."""
        try:
            make(*args)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the other soundscapes still play
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            library.problems[what] = reason
            logger.error(
                "%s is left out: %s",
                "the idle ambience" if what == IDLE_KEY else f"artwork {what}",
                reason,
                exc_info=not isinstance(exc, ValueError),
            )
            return False
        return True

    @staticmethod
    def _file_settings(engine: AudioEngine, artwork: Any) -> dict[str, Any]:
        """How an artwork's ``audio:`` file is prepared for ``engine``."""
        return dict(
            key=artwork.id,
            mix_rate=engine.sample_rate,
            channels=engine.channels,
            loop=artwork.soundscape.loop,
            loop_crossfade_s=engine.loop_crossfade_seconds,
        )

    def recipe_of(self, engine: AudioEngine, artwork: Any) -> Hashable | None:
        """What ``artwork``'s clip for ``engine`` is made from when it is its own generator's rendering or
        its file (see :func:`clip_recipe`), found without reading any audio or decoding any photo; None
        when its photo cannot be read."""
        if artwork.audio is not None:
            return file_recipe(artwork.audio, _file_stamp(artwork.audio), self._file_settings(engine, artwork))
        sound = artwork.soundscape
        if self.cache is None:
            return None
        try:
            key = self.key(sound.generator, self.request(artwork.id), image_digest(Path(artwork.images[0])))
        except OSError:
            return None
        return cache_recipe(key, engine.played_as(sound.loop))

    def _idle_recipe(self, engine: AudioEngine) -> Hashable | None:
        """What the idle ambience is made from when it is its own generator's rendering or its file."""
        idle = self.exhibit.idle
        if idle.source == "file":
            return file_recipe(idle.path, _file_stamp(idle.path), self._idle_file_settings(engine))
        if idle.source == "silence" or self.cache is None:
            return None
        try:
            key = self.key(idle.generator, self.request(IDLE_KEY), idle_image_ref(self.exhibit))
        except OSError:
            return None
        return cache_recipe(key, engine.played_as(True))

    @staticmethod
    def _idle_file_settings(engine: AudioEngine) -> dict[str, Any]:
        return dict(
            key=IDLE_KEY,
            mix_rate=engine.sample_rate,
            channels=engine.channels,
            loop_crossfade_s=engine.loop_crossfade_seconds,
        )

    @staticmethod
    def _reuse(
        previous: SoundscapeLibrary | None, engine: AudioEngine, artwork: Any
    ) -> Callable[[str], bool] | None:
        """Whether ``previous`` holds ``artwork``'s rendering of a cache entry (for :meth:`make`'s ``reuse``)."""
        if previous is None or artwork.id not in previous.clips:
            return None
        held = previous.clips.recipe_of(artwork.id)
        played = engine.played_as(artwork.soundscape.loop)
        return lambda key: held is not None and held == cache_recipe(key, played)

    def _bridges_kept(self, previous: SoundscapeLibrary | None, engine: AudioEngine) -> set[str]:
        """The artwork ids whose clip in ``previous`` is a rendering by a fallback of their generator's
        chain (a bridge): :meth:`make` may keep it (when the renderings before it in the chain are still
        missing), so it is not let go before."""
        if previous is None or self.cache is None:
            return set()
        bridges = set()
        for artwork in self.exhibit.artworks:
            held = previous.clips.recipe_of(artwork.id) if artwork.id in previous.clips else None
            if held is None or artwork.audio is not None:
                continue
            try:
                digest = image_digest(Path(artwork.images[0]))
            except OSError:
                continue
            request, played = self.request(artwork.id), engine.played_as(artwork.soundscape.loop)
            name: str | None = artwork.soundscape.generator
            tried: list[str] = []
            while name is not None and name not in tried:
                tried.append(name)
                if tried[1:] and held == cache_recipe(self.key(name, request, digest), played):
                    bridges.add(artwork.id)
                    break
                name = self.fallback(name)
        return bridges

    def _kept(self, previous: SoundscapeLibrary | None, engine: AudioEngine) -> dict[str, Hashable]:
        """The artwork ids (and ``idle``) whose clip in ``previous`` is made the same way as now, with
        that recipe: a reload takes those over instead of reading them again."""
        if previous is None:
            return {}
        kept: dict[str, Hashable] = {}
        for artwork in self.exhibit.artworks:
            if artwork.id in previous.clips and artwork.id not in previous.problems:
                recipe = previous.clips.recipe_of(artwork.id)
                if recipe is not None and recipe == self.recipe_of(engine, artwork):
                    kept[artwork.id] = recipe
        if previous.idle is not None and previous.idle_recipe is not None:
            if previous.idle_recipe == self._idle_recipe(engine):
                kept[IDLE_KEY] = previous.idle_recipe
        return kept

    def _library_kept(
        self,
        library: SoundscapeLibrary,
        engine: AudioEngine,
        artwork: Any,
        previous: SoundscapeLibrary,
        made: Made | None = None,
    ) -> None:
        """Take ``artwork``'s unchanged clip over from ``previous``, with a reload of this exhibit; ``made``:
        the chain's step whose rendering it is (default: its own generator's)."""
        sound = artwork.soundscape
        reload = previous.clips.reload_of(artwork.id)
        if artwork.audio is None:  # a file's reload holds nothing of the exhibit; the cache's makes again
            if made is None:
                _kind, key, _played = previous.clips.recipe_of(artwork.id)
                made = Made(None, sound.generator, True, key)
            again = functools.partial(self._make_again, artwork.id)
            reload = self.reload(engine, artwork.id, made, loop=sound.loop, make_again=again)
            library.from_cache.add(artwork.id)
            self._stands_in(library, artwork)
        library.clips.take(artwork.id, previous.clips, reload)
        library.kept.add(artwork.id)
        library.gains_db[artwork.id] = sound.gain_db
        made_by = made.generator if made is not None else previous.made_by.get(artwork.id, sound.generator)
        library.made_by[artwork.id] = made_by

    def _library_artwork(
        self,
        library: SoundscapeLibrary,
        engine: AudioEngine,
        artwork: Any,
        previous: SoundscapeLibrary | None = None,
    ) -> None:
        sound = artwork.soundscape
        if artwork.audio is not None:
            settings = self._file_settings(engine, artwork)
            stamp = _file_stamp(artwork.audio)
            clip = load_clip_file(artwork.audio, **settings)
            reload = functools.partial(_read_file_again, artwork.audio, stamp, clip.loudness_lufs, settings)
            reload.recipe = file_recipe(artwork.audio, stamp, settings)
            made_by = "file"
        elif self._stands_in(library, artwork) or self._library_unread(library, engine, artwork):
            return
        else:
            image_path, image, digest = artwork_image(artwork.images)
            reuse = self._reuse(previous, engine, artwork)
            made = self.make(
                sound.generator, image, self.request(artwork.id), artwork.id, digest, image_path, reuse
            )
            if made.soundscape is None:  # a bridge the reload keeps (its primary job was sent again)
                self._library_kept(library, engine, artwork, previous, made)
                return
            made_by = made.generator
            if made.cached:
                library.from_cache.add(artwork.id)
            clip = self.prepare(engine, made.soundscape, artwork.id, loop=sound.loop, key=made.key)
            again = functools.partial(self._make_again, artwork.id)
            reload = self.reload(engine, artwork.id, made, loop=sound.loop, make_again=again)
        library.clips.put(artwork.id, clip, reload)
        library.gains_db[artwork.id] = sound.gain_db
        library.made_by[artwork.id] = made_by

    @staticmethod
    def _stands_in(library: SoundscapeLibrary, artwork: Any) -> bool:
        """Notes in ``library.stand_ins`` an artwork none of whose photos is an image file (missing, or a
        file of another kind under a photo's name): :func:`artwork_rgb`'s grey picture stands in for it,
        also when its soundscape comes from the cache, where no photo is decoded. Only the files'
        first bytes are read (a truncated image passes here). Always False: the artwork plays."""
        import cv2

        if not any(Path(p).is_file() and cv2.haveImageReader(str(p)) for p in artwork.images):
            library.stand_ins[artwork.id] = (
                "no photo of it can be read: its soundscape is made from a plain grey picture (the same "
                "for every such artwork) until one can"
            )
        return False

    def _library_unread(self, library: SoundscapeLibrary, engine: AudioEngine, artwork: Any) -> bool:
        """Once the library's clips fill ``audio.memory_mb`` (the next would not fit), an artwork whose own
        generator's rendering is in the cache with its loudness is only noted from its sidecar, not read
        (checksum, FLAC decode: about 0.1 s per 40 s), and read when first chosen, where
        :meth:`SoundscapeCache.get` checks it and a corrupt entry is rendered again. A restart of a
        1,000-artwork collection so takes 5.5 instead of 110 CPU s. With ``read_when_chosen`` every such
        artwork is only noted. True when it was noted so."""
        if self.cache is None or (library.clips.budget_bytes is None and not self.read_when_chosen):
            return False
        sound = artwork.soundscape
        image_path = Path(artwork.images[0])
        try:
            key = self.key(sound.generator, self.request(artwork.id), image_digest(image_path))
        except OSError:
            return False  # its photo cannot be read: the whole chain decides (artwork_rgb)
        found = self.cache.peek(key, engine.played_as(sound.loop))
        if found is None:
            return False
        frames, rate, _lufs = found
        nbytes = int(round(frames * engine.sample_rate / rate)) * engine.channels * 4  # float32, mix format
        if not self.read_when_chosen and library.clips.fits(nbytes):
            return False  # read (and checked) now, and held
        made = Made(None, sound.generator, True, key)
        again = functools.partial(self._make_again, artwork.id)
        library.clips.put_unread(
            artwork.id,
            frames / rate,
            nbytes,
            self.reload(engine, artwork.id, made, loop=sound.loop, make_again=again),
        )
        library.from_cache.add(artwork.id)
        library.gains_db[artwork.id] = sound.gain_db
        library.made_by[artwork.id] = sound.generator
        return True

    def reload(
        self,
        engine: AudioEngine,
        what: str,
        made: Made,
        *,
        loop: bool,
        make_again: Callable[[], Made] | None = None,
    ) -> Callable[[], AudioClip] | None:
        """How the clip of ``made`` (``what``'s soundscape, stored in the cache) is read again once the
        library has let it go (see :class:`~art2mus.installation.clip_shelf.ClipShelf`): from its cache
        entry. An entry found corrupt or gone by then is made again by ``make_again`` (for an artwork: the
        whole chain of the module docstring, the cache, the generator process with a bridge, the
        generator here, its fallback); without one, the read fails (ValueError) and the director keeps
        what sounds. None when ``made`` is not in the cache: that clip is held."""
        if made.key is None or self.cache is None:
            return None
        cache, key, generator = self.cache, made.key, made.generator

        def read_again() -> AudioClip:
            streamed = self._streamed(engine, key, what, loop) if self.read_when_chosen else None
            if streamed is not None:
                return streamed
            sound = cache.get(key)
            if sound is None:
                if make_again is None:
                    raise ValueError(f"{what}: its soundscape is no longer in the cache")
                logger.warning("%s: its soundscape is no longer in the cache; making it again", what)
                again = make_again()
                sound, entry = again.soundscape, again.key
            else:
                entry = key
            logger.debug("%s: %s rendering read again from the cache", what, generator)
            clip = self.prepare(engine, sound, what, loop=loop, key=entry)
            read_again.recipe = cache_recipe(entry, played) if entry is not None else None
            return clip

        played = engine.played_as(loop)
        read_again.recipe = cache_recipe(key, played)
        return read_again

    def _streamed(self, engine: AudioEngine, key: str, what: str, loop: bool) -> AudioClip | None:
        """Cache entry ``key`` as a clip decoded only as far as it is played (a walk hears a few seconds of
        most soundscapes), when it is in the mix format and its loudness as played is stored; else None
        (then :meth:`reload` reads it whole)."""
        assert self.cache is not None
        loudness = self.cache.played_loudness(key, engine.played_as(loop))
        opened = self.cache.open_entry(key) if loudness is not None else None
        if opened is None:
            return None
        sound_file, metadata = opened
        clip = streamed_clip(
            sound_file,
            key=what,
            mix_rate=engine.sample_rate,
            channels=engine.channels,
            loop=loop,
            loudness_lufs=loudness,
            loop_crossfade_s=engine.loop_crossfade_seconds,
            metadata=metadata,
        )
        if clip is None:
            sound_file.close()
        else:
            logger.debug("%s: its rendering is read from the cache as it plays", what)
        return clip

    def _make_again(self, what: str) -> Made:
        """``what`` (an artwork id) made through the whole chain again, its generators closed after."""
        artwork = self.artwork(what)
        image_path, image, digest = artwork_image(artwork.images)
        try:
            return self.make(artwork.soundscape.generator, image, self.request(what), what, digest, image_path)
        finally:
            self.close()

    def _library_idle(self, library: SoundscapeLibrary, engine: AudioEngine) -> None:
        idle = self.exhibit.idle
        if idle.source == "file":
            settings = self._idle_file_settings(engine)
            stamp = _file_stamp(idle.path)
            library.idle = load_clip_file(idle.path, **settings)
            library.idle_recipe = file_recipe(idle.path, stamp, settings)
            library.made_by[IDLE_KEY] = "file"
        elif idle.source in ("collection", "image"):
            request = self.request(IDLE_KEY)
            exhibit = self.exhibit
            streamed: list[AudioClip] = []  # a walk hears a few seconds of the idle ambience too

            def stream(key: str) -> bool:
                clip = self._streamed(engine, key, IDLE_KEY, True) if self.read_when_chosen else None
                streamed[:] = [] if clip is None else [clip]
                return clip is not None

            made = self.make(
                idle.generator,
                lambda: idle_image(exhibit),
                request,
                IDLE_KEY,
                idle_image_ref(exhibit),
                reuse=stream,
            )
            if made.cached:
                library.from_cache.add(IDLE_KEY)
            if made.soundscape is None:  # read as it plays
                library.idle = streamed[0]
            else:
                library.idle = self.prepare(engine, made.soundscape, IDLE_KEY, loop=True, key=made.key)
            if made.key is not None and made.generator == idle.generator:
                library.idle_recipe = cache_recipe(made.key, engine.played_as(True))
            library.made_by[IDLE_KEY] = made.generator

    def retry(self, library: SoundscapeLibrary) -> list[str]:
        """Send the soundscapes of ``library`` still playing a bridge (their live generation failed) to the
        generator process again; the nightly job. Records the jobs in ``library.pending`` and returns the
        artwork ids sent."""
        if self.worker is None:
            return []
        sent = []
        self._batch = self.worker.new_batch()
        for artwork in self.exhibit.artworks:
            sound = artwork.soundscape
            made_by = library.made_by.get(artwork.id)
            if artwork.audio is not None or made_by == sound.generator or artwork.id in library.pending:
                continue
            if not self.is_live(sound.generator):
                continue
            request = self.request(artwork.id)
            image_path = Path(artwork.images[0])
            key = self.key(sound.generator, request, image_digest(image_path))
            if not sent:  # a cool-down that crashes caused ends now: the night is when the model gets its try
                self.worker.try_again_now("the nightly retry")
            library.pending[artwork.id] = self.submit(
                sound.generator, request, artwork.id, key, image_path, None
            )
            sent.append(artwork.id)
        if sent:
            logger.info("nightly: generating %d soundscapes again: %s", len(sent), ", ".join(sent))
        return sent

    def prerender_plan(self, only: set[str] | None = None) -> list[tuple[str, str]]:
        """``(what, generator or "file")`` of each soundscape :meth:`prerender` does, in order, or only
        those named in ``only``; cheap: no image is read.

        Raises:
            ValueError: ``only`` names something the exhibit does not have.
        """
        exhibit = self.exhibit
        plan = [
            (artwork.id, "file" if artwork.audio is not None else artwork.soundscape.generator)
            for artwork in exhibit.artworks
        ]
        if exhibit.idle.source in ("collection", "image"):
            plan.append((IDLE_KEY, exhibit.idle.generator))
        if only is None:
            return plan
        unknown = only - {what for what, _ in plan}
        if unknown:
            raise ValueError(
                f"nothing to render called {', '.join(sorted(unknown))}; "
                f"the exhibit has: {', '.join(what for what, _ in plan)}"
            )
        return [(what, name) for what, name in plan if what in only]

    def prerender_jobs(
        self, only: set[str] | None = None
    ) -> list[tuple[str, str, Callable[[], np.ndarray], str | None]]:
        """What :meth:`prerender` does, in order: ``(what, generator or "file", image loader, image file
        digest or None to key by the pixels)`` for each soundscape of :meth:`prerender_plan` (the image
        files of those are hashed here; no image is decoded).

        Raises:
            ValueError: ``only`` names something the exhibit does not have.
        """
        exhibit = self.exhibit
        plan = dict(self.prerender_plan(only))
        jobs: list[tuple[str, str, Callable[[], np.ndarray], str | None]] = []
        for artwork in exhibit.artworks:
            if artwork.id not in plan:
                continue
            if artwork.audio is not None:
                jobs.append((artwork.id, "file", lambda: np.zeros(0), None))
                continue
            image_path = Path(artwork.images[0])
            load = lambda p=image_path: read_rgb(p)  # noqa: E731 - read when its turn comes
            jobs.append((artwork.id, artwork.soundscape.generator, load, image_digest(image_path)))
        if IDLE_KEY in plan:
            load = lambda: idle_image(exhibit)  # noqa: E731 - made when its turn comes, if not cached
            jobs.append((IDLE_KEY, exhibit.idle.generator, load, idle_image_ref(exhibit)))
        return jobs

    def prerender(
        self,
        *,
        only: set[str] | None = None,
        force: bool = False,
        progress: Callable[[int, int, str], None] | None = None,
        on_result: Callable[[PrerenderResult], None] | None = None,
    ) -> list[PrerenderResult]:
        """Render every artwork's soundscape (and the idle ambience) with its own generator into the cache,
        here and now (no bridge, no fallback), so the daemon starts with everything in place.

        ``only``: artwork ids (and/or ``idle``) to do; ``force``: render again even when cached;
        ``on_result``: called with each result as soon as it is done (before ``progress``), so a log has it
        even if the run is killed.

        Raises:
            ValueError: ``only`` names something the exhibit does not have.
        """
        if self.cache is None:
            raise ValueError("prerender needs a soundscape cache")
        jobs = self.prerender_jobs(only)
        results: dict[int, PrerenderResult] = {}
        arrived: list[PrerenderResult] = []  # in the order they were done, for cache_stop_reason
        # another process renders it now (a daemon starting, a prerender of another exhibit on this cache):
        # done after the others, by waiting for its claim; by then the entry is usually there
        later: list[int] = []
        try:
            for index in range(len(jobs)):
                if self._prerender_job(jobs, index, force, False, results, arrived, (on_result, progress)):
                    later.append(index)
            for index in later:
                self._prerender_job(jobs, index, force, True, results, arrived, (on_result, progress))
        finally:
            self.close()
        return [results[i] for i in range(len(jobs))]

    def _prerender_job(
        self,
        jobs: list[tuple[str, str, Callable[[], np.ndarray], str | None]],
        index: int,
        force: bool,
        wait: bool,
        results: dict[int, PrerenderResult],
        arrived: list[PrerenderResult],
        told: tuple[Callable[[PrerenderResult], None] | None, Callable[[int, int, str], None] | None],
    ) -> bool:
        """One step of :meth:`prerender`: True when another process holds ``jobs[index]`` (and not
        ``wait``), to come back to; else its result recorded and reported. Raises :class:`CacheCannotStore`
        when the cache stopped storing."""
        assert self.cache is not None
        what, name, load_image, digest = jobs[index]
        if name == "file":
            result = PrerenderResult(what, name, "file")
        else:
            result = self.prerender_one(what, name, load_image, digest, force, wait=wait)
            if result.status == "busy":
                return True
        results[index] = result
        arrived.append(result)
        on_result, progress = told
        if on_result is not None:
            on_result(result)
        if progress is not None:
            progress(len(arrived), len(jobs), what)
        stop = cache_stop_reason(arrived, self.cache.directory, self.exhibit.cache.max_size_gb)
        if stop is not None:  # every rendering after this one would be thrown away too
            raise CacheCannotStore(
                stop,
                [
                    results.get(i) or PrerenderResult(w, n, "skipped", error="not tried: " + stop)
                    for i, (w, n, *_) in enumerate(jobs)
                ],
            )
        return False

    def prerender_one(
        self, what: str, name: str, image: Image, digest: str | None, force: bool, *, wait: bool = False
    ) -> PrerenderResult:
        """Render ``what`` with ``name`` into the cache unless it holds it already (or ``force``);
        ``image``: the pixels or their loader (not called when cached and ``digest`` is given);
        ``digest``: the image file's digest, or None to key by the pixels. A failure is reported, not raised.

        Another process rendering the same entry now (its claim, :mod:`~art2mus.installation.render_claims`)
        gives ``busy`` at once; with ``wait`` this waits for it and gives ``elsewhere`` when it stored the
        entry, or renders it when it let go without (it failed or died)."""
        from art2mus.installation.render_claims import RenderClaims

        assert self.cache is not None
        started = time.perf_counter()
        request = self.request(what)
        image = _Pixels(image)
        key = self.key(name, request, digest if digest is not None else image())
        if not force and self.cache.get(key) is not None:  # with wait, it was missing at the first look
            return PrerenderResult(what, name, "elsewhere" if wait else "cached")
        claim = RenderClaims(self.cache.directory).claim(key, wait=wait)
        if claim is None:
            return PrerenderResult(what, name, "busy")
        with claim:
            if (wait or not force) and self.cache.get(key) is not None:  # stored while this one looked
                return PrerenderResult(what, name, "elsewhere", time.perf_counter() - started)
            return self._prerender_claimed(what, name, image, request, key, started)

    def _prerender_claimed(
        self, what: str, name: str, image: _Pixels, request: Any, key: str, started: float
    ) -> PrerenderResult:
        """The rendering of :meth:`prerender_one`, its claim held."""
        assert self.cache is not None
        try:
            sound = self.get(name).generate(image(), request)
        except Exception as exc:  # noqa: BLE001 - report it and go on with the others
            logger.warning(  # a ValueError says what is wrong in its message: no traceback unless debugging
                "prerender: %s with %s failed: %s",
                what,
                name,
                exc,
                exc_info=not isinstance(exc, ValueError) or logger.isEnabledFor(logging.DEBUG),
            )
            return PrerenderResult(
                what, name, "failed", time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
            )
        stored = self.cache.put(key, sound, {"what": what, "generator": name})
        if stored:
            self._store_played_loudness(what, key, sound, request.loop)
            return PrerenderResult(what, name, "rendered", time.perf_counter() - started)
        refusal = self.cache.write_error or "refused"
        return PrerenderResult(
            what,
            name,
            "failed",
            time.perf_counter() - started,
            f"cannot write to {self.cache.directory}: {refusal}",
            store_error=refusal,
        )


    def _store_played_loudness(self, what: str, key: str, sound: Any, loop: bool) -> None:
        """Measure ``sound`` as the daemon's audio engine will prepare it (the exhibit's mix format) and keep
        that loudness in its cache sidecar: the daemon's next start reads it instead of measuring every
        pre-rendered soundscape (about 0.2 CPU s per minute of audio, minutes for a large collection)."""
        assert self.cache is not None
        audio = self.exhibit.audio
        clip = prepare_clip(
            sound.waveform,
            sound.sample_rate,
            key=what,
            mix_rate=audio.sample_rate,
            channels=audio.channels,
            loop=loop,
            loop_crossfade_s=audio.loop_crossfade_seconds,
        )
        played = played_as(audio.sample_rate, audio.channels, loop, audio.loop_crossfade_seconds)
        self.cache.store_played_loudness(key, played, clip.loudness_lufs)


def _unreadable(field: str, photo: Path, keyed: list[str]) -> list[str]:
    """``[field: the photo cannot be read ...]`` when ``photo`` cannot be read, else ``[]``."""
    try:
        image_digest(photo)
    except OSError as exc:
        why = exc.strerror or str(exc)
        return [f"{field}: photo {photo} cannot be read ({why}): the cache keys of {', '.join(keyed)} are unknown"]
    return []


class KeysUnknown(ValueError):
    """Which cache entries an exhibit plays cannot be known: ``problems``, one line each (a field, its photo,
    why it cannot be read and whose keys it makes unknown)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class CacheCannotStore(RuntimeError):
    """A prerender stopped because the cache refuses to store what is rendered (a full disk, a read-only
    one, a quota, or :data:`STORE_FAILURES_IN_A_ROW` refusals): the message says why and what to do;
    ``results``: one per soundscape of the job, those not tried ``skipped``."""

    def __init__(self, message: str, results: list[PrerenderResult]):
        super().__init__(message)
        self.results = results


#: errno of a refusal that will not go away by itself: rendering on would throw every rendering away
LASTING_STORE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: refusals of any other kind in a row after which a prerender stops all the same
STORE_FAILURES_IN_A_ROW = 3


def cache_stop_reason(results: list[PrerenderResult], directory: Path, max_size_gb: float) -> str | None:
    """Why a prerender should stop after ``results`` (in the order they came), or None to go on: the last
    rendering could not be stored for a lasting reason (:data:`LASTING_STORE_ERRORS`, read from the
    ``[Errno N]`` that :meth:`SoundscapeCache.put` keeps of the ``OSError``), or the last
    :data:`STORE_FAILURES_IN_A_ROW` renderings could not be stored."""
    if not results or results[-1].store_error is None:
        return None
    refusal = results[-1].store_error
    number = re.match(r"\[Errno (\d+)\]", refusal)
    code = int(number.group(1)) if number else None
    kept = sum(r.status == "rendered" for r in results)
    again = f"then run the same command again (the {kept} soundscapes stored now are kept and skipped)"
    if code == errno.EROFS:
        return (
            f"the cache folder {directory} is on a read-only filesystem ({refusal}): mount it writable or "
            f"point cache.dir at a writable folder, {again}"
        )
    if code in LASTING_STORE_ERRORS:
        return (
            f"the cache folder {directory} cannot store more ({refusal}): free space on its disk, or lower "
            f"cache.max_size_gb ({max_size_gb:g} GB now) below what the disk can hold, {again}"
        )
    tail = results[-STORE_FAILURES_IN_A_ROW:]
    if len(tail) == STORE_FAILURES_IN_A_ROW and all(r.store_error is not None for r in tail):
        return (
            f"{STORE_FAILURES_IN_A_ROW} soundscapes in a row could not be stored in {directory} (last: "
            f"{refusal}): make the folder writable for this user, {again}"
        )
    return None


def _origin(library: SoundscapeLibrary, what: str) -> str:
    """Where the start (or reload) log says ``what``'s clip came from, when not rendered now."""
    if what in library.kept:
        return ", unchanged: kept"
    return ", from the cache" if what in library.from_cache else ""


def _played_level(played_lufs: float, clips: Any, what: str) -> str:
    """The start log's loudness of ``what``: the level the room plays it at (the exhibit's target plus its
    ``gain_db``, before the room's volume), and the clip's own when it differs. A mono model rendering
    measures about 3 LU above the target once copied to two channels; the engine levels it down, and the
    clip's own figure alone read as Art2Mus playing 3 LU louder than the procedural soundscapes."""
    if not clips.is_held(what):
        return f"plays at {played_lufs:.1f} LUFS, read when first chosen"
    own = clips[what].loudness_lufs
    if abs(own - played_lufs) < 0.05:
        return f"plays at {played_lufs:.1f} LUFS"
    return f"plays at {played_lufs:.1f} LUFS, levelled from {own:.1f} LUFS"


#: the thread-count variables of the math libraries a generator may load (torch's OpenMP, MKL, OpenBLAS)
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_cpu_threads(threads: int) -> None:
    """Hold this process's math libraries to ``threads`` CPU threads: torch now if it is imported, and
    every library imported later through its environment variable. torch's default (one thread per core)
    suits a machine with nothing else to do; on a shared or busy one its threads wait on each other and
    burn far more CPU than the rendering (measured in the README's figures), and two Ray actors on one
    machine must not each take every core."""
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def render_image(
    image_path: Path,
    generator: str = FALLBACK_GENERATOR,
    settings: Mapping[str, Any] | None = None,
    request: Any = None,
    *,
    backends: Mapping[str, Any] | None = None,
) -> Any:
    """Render one image file with the backend ``generator`` (constructor ``settings``) and ``request``
    (default: :class:`~art2mus.models.generator.GenerationRequest`'s defaults); no exhibit, no cache.

    Raises:
        ValueError: the image cannot be read, or ``generator`` is not a known backend.
    """
    from art2mus.models.generator import GenerationRequest
    from art2mus.models.registry import create_generator

    image = read_rgb(image_path)
    made = create_generator(generator, settings, backends=backends)
    try:
        return made.generate(image, request if request is not None else GenerationRequest())
    finally:
        made.close()
