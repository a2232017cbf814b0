"""The installation at run time: camera -> vision -> director -> audio engine, built from one exhibit.

:class:`Gallery` is the composition root: it builds every long-lived object from the validated exhibit
in named steps (:meth:`Gallery.init_audio`, :meth:`Gallery.init_soundscapes`, :meth:`Gallery.init_vision`,
:meth:`Gallery.init_camera`) and passes them down through constructors. It runs two ways:

* :meth:`Gallery.run` in real time: the camera grabber and the audio engine run their own threads;
  the calling thread takes the newest frame, decides and commands the engine, until a stop event is set
  (SIGINT/SIGTERM in the CLI) or a duration has passed.
* :meth:`Gallery.simulate` faster than real time: no threads, a :class:`ManualClock` moved to each video
  frame's own time, the engine pumped after each frame. Same decisions, same mix, in seconds.

:class:`Director` decides what sounds: the chosen artwork's soundscape, or the idle ambience once no
artwork has been chosen for ``idle.after_seconds``. The gallery starts on the idle ambience, so it is
never silent while it runs, and a soundscape that cannot be made by its generator is made by the
procedural sonifier instead.

Soundscapes are made up front by :func:`render_soundscapes`, read from the soundscape cache
(:mod:`art2mus.installation.cache`) when an identical rendering is there, so a restart costs seconds even
with a GPU model. Live generation in a worker process, the schedule and the control panel attach to this
same root in later steps.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from art2mus.installation.audio.clip import AudioClip, load_clip_file
from art2mus.installation.audio.clock import Clock, ManualClock, SystemClock
from art2mus.installation.audio.engine import AudioEngine
from art2mus.installation.audio.outputs import AudioOutput, create_output
from art2mus.installation.cache import SoundscapeCache, cache_key, image_digest
from art2mus.installation.config import ExhibitConfig
from art2mus.installation.generation_worker import GenerationJob, GenerationResult, GenerationWorker
from art2mus.installation.schedule import OpeningHours, ScheduleKeeper, ScheduleState
from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision, VisionPipeline
from art2mus.installation.vision.sources import CameraSource, EndOfStream, camera_source_from_config

logger = logging.getLogger(__name__)

IDLE_KEY = "idle"
#: what a director event names when the room falls silent outside opening hours
CLOSED_KEY = "silence"
#: the generator that stands in when an artwork's generator cannot make its soundscape and names no fallback
FALLBACK_GENERATOR = "procedural"


# ---------------------------------------------------------------------------------------- soundscapes


@dataclass
class SoundscapeLibrary:
    """Every soundscape the gallery can play, in the engine's mix format.

    Attributes:
        clips: artwork id -> clip.
        gains_db: artwork id -> the curator's ``soundscape.gain_db`` (applied when played).
        idle: the idle ambience, or None for silence.
        idle_gain_db: the idle level relative to artworks, dB.
        made_by: artwork id (and ``idle``) -> the generator that really made it (after any fallback).
        from_cache: the artwork ids (and ``idle``) read from the soundscape cache rather than rendered.
        pending: artwork id (or ``idle``) -> generator-process job whose rendering will replace the bridge.
    """

    clips: dict[str, AudioClip] = field(default_factory=dict)
    gains_db: dict[str, float] = field(default_factory=dict)
    idle: AudioClip | None = None
    idle_gain_db: float = 0.0
    made_by: dict[str, str] = field(default_factory=dict)
    from_cache: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def collection_image(paths: list[Path], tile: int = 256) -> np.ndarray:
    """All the artworks side by side in a grid (RGB uint8): the image the idle ambience is made from."""
    import cv2

    tiles = [cv2.resize(_read_rgb(p), (tile, tile), interpolation=cv2.INTER_AREA) for p in paths]
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
    """The image the idle ambience is made from: all the artworks together, or ``idle.path``."""
    if exhibit.idle.source == "collection":
        return collection_image([Path(a.images[0]) for a in exhibit.artworks])
    return _read_rgb(Path(exhibit.idle.path))


class _Generators:
    """Builds each named generator of the exhibit once; falls back to the procedural sonifier."""

    def __init__(
        self,
        exhibit: ExhibitConfig,
        backends: Mapping[str, Any] | None,
        cache: SoundscapeCache | None,
        worker: GenerationWorker | None = None,
    ):
        self.exhibit = exhibit
        self.backends = backends
        self.cache = cache
        self.worker = worker if cache is not None else None  # the hand-over goes through the cache
        self.submitted: list[tuple[str, int]] = []
        self._built: dict[str, Any] = {}

    def recipe(self, name: str) -> tuple[str, dict[str, Any]]:
        """``(backend type, constructor settings)`` of the exhibit's generator ``name``."""
        config = self.exhibit.generators.get(name)
        return (config.type, config.settings()) if config is not None else (name, {})

    def key(self, name: str, request: Any, image_ref: str | np.ndarray) -> str:
        """The cache key of rendering ``image_ref`` (a file digest, or the pixels) with ``name``."""
        backend, settings = self.recipe(name)
        return cache_key(backend, settings, request, image_ref)

    def get(self, name: str) -> Any:
        """The generator ``name``, built on first use."""
        from art2mus.models.registry import create_generator

        if name not in self._built:
            backend, settings = self.recipe(name)
            self._built[name] = create_generator(backend, settings, backends=self.backends)
        return self._built[name]

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
        return self.worker.submit(job)

    def make(
        self,
        name: str,
        image: np.ndarray,
        request: Any,
        what: str,
        image_ref: str | np.ndarray | None = None,
        image_path: Path | None = None,
    ) -> tuple[Any, str, bool]:
        """``(soundscape, generator that made it, from the cache)``.

        Each generator of the fallback chain is looked up in the cache first (``image_ref``: the image
        file's digest, or None to key by the pixels), and what a generator renders is stored under its
        own key: a fallback's rendering never stands in for the primary's on the next start. A live
        generator (see :meth:`is_live`) that misses the cache is handed to the generator process and its
        fallback renders the bridge now; the job is recorded in :attr:`submitted`.
        """
        tried: list[str] = []
        while True:
            key = None
            if self.cache is not None:
                key = self.key(name, request, image if image_ref is None else image_ref)
                hit = self.cache.get(key)
                if hit is not None:
                    return hit, name, True
            if key is not None and self.is_live(name) and name not in tried:
                self.submitted.append((what, self.submit(name, request, what, key, image_path, image)))
                logger.info("%s: %r renders in the generator process; a bridge plays meanwhile", what, name)
                tried.append(name)
                fallback = self.fallback(name)
                if fallback is None:
                    raise RuntimeError(f"{what}: generator {name!r} has no fallback to bridge with")
                name = fallback
                continue
            try:
                result = self.get(name).generate(image, request)
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
            if key is not None:
                self.cache.put(key, result, {"what": what, "generator": name})
            return result, name, False

    def close(self) -> None:
        for generator in self._built.values():
            generator.close()


def render_soundscapes(
    exhibit: ExhibitConfig,
    engine: AudioEngine,
    *,
    generator_backends: Mapping[str, Any] | None = None,
    cache: SoundscapeCache | None = None,
    worker: GenerationWorker | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> SoundscapeLibrary:
    """Make (or read) every artwork's soundscape and the idle ambience, ready for ``engine``.

    A fixed ``audio:`` file is read; otherwise the artwork's generator renders from its first reference
    image with its ``soundscape`` settings, at the exhibit's loudness target, unless ``cache`` holds that
    rendering already. With a ``worker``, a slow generator's cache miss is rendered there while its
    fallback's rendering plays (``library.pending`` names those). ``progress(done, total, name)`` is
    called after each one.
    """

    generators = _Generators(exhibit, generator_backends, cache, worker)
    library = SoundscapeLibrary(idle_gain_db=exhibit.idle.gain_db)
    total = len(exhibit.artworks) + (exhibit.idle.source != "silence")
    done = 0
    try:
        for artwork in exhibit.artworks:
            sound = artwork.soundscape
            started = time.perf_counter()
            if artwork.audio is not None:
                clip = load_clip_file(
                    artwork.audio,
                    key=artwork.id,
                    mix_rate=engine.sample_rate,
                    channels=engine.channels,
                    loop=sound.loop,
                    loop_crossfade_s=engine.loop_crossfade_seconds,
                )
                made_by = "file"
            else:
                request = artwork_request(exhibit, artwork)
                image_path = Path(artwork.images[0])
                result, made_by, cached = generators.make(
                    sound.generator,
                    _read_rgb(image_path),
                    request,
                    artwork.id,
                    image_digest(image_path),
                    image_path,
                )
                if cached:
                    library.from_cache.add(artwork.id)
                clip = engine.prepare(
                    result.waveform,
                    result.sample_rate,
                    key=artwork.id,
                    loop=sound.loop,
                    metadata=result.metadata,
                )
            library.clips[artwork.id] = clip
            library.gains_db[artwork.id] = sound.gain_db
            library.made_by[artwork.id] = made_by
            done += 1
            logger.info(
                "soundscape %d/%d: %s (%s%s, %.1f s of audio, %.1f LUFS, %.2f s)",
                done,
                total,
                artwork.id,
                made_by,
                ", from the cache" if artwork.id in library.from_cache else "",
                clip.duration_s,
                clip.loudness_lufs,
                time.perf_counter() - started,
            )
            if progress is not None:
                progress(done, total, artwork.id)
        idle = exhibit.idle
        if idle.source == "file":
            library.idle = load_clip_file(
                idle.path,
                key=IDLE_KEY,
                mix_rate=engine.sample_rate,
                channels=engine.channels,
                loop_crossfade_s=engine.loop_crossfade_seconds,
            )
            library.made_by[IDLE_KEY] = "file"
        elif idle.source in ("collection", "image"):
            image = idle_image(exhibit)
            request = idle_request(exhibit)
            result, made_by, cached = generators.make(idle.generator, image, request, IDLE_KEY)
            if cached:
                library.from_cache.add(IDLE_KEY)
            library.idle = engine.prepare(
                result.waveform, result.sample_rate, key=IDLE_KEY, loop=True, metadata=result.metadata
            )
            library.made_by[IDLE_KEY] = made_by
        if library.idle is not None:
            done += 1
            logger.info(
                "soundscape %d/%d: idle ambience (%s, %s, %.1f s)",
                done,
                total,
                idle.source,
                library.made_by[IDLE_KEY],
                library.idle.duration_s,
            )
            if progress is not None:
                progress(done, total, IDLE_KEY)
    finally:
        generators.close()
    library.pending.update(generators.submitted)
    return library


@dataclass(frozen=True)
class PrerenderResult:
    """What ``prerender`` did for one soundscape: ``status`` is ``cached`` (already there), ``rendered``,
    ``file`` (a curator's audio file: nothing to render) or ``failed`` (with ``error``)."""

    what: str
    generator: str
    status: str
    seconds: float = 0.0
    error: str | None = None


def prerender(
    exhibit: ExhibitConfig,
    cache: SoundscapeCache,
    *,
    generator_backends: Mapping[str, Any] | None = None,
    only: set[str] | None = None,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[PrerenderResult]:
    """Render every artwork's soundscape (and the idle ambience) with its own generator into ``cache``,
    here and now (no bridge, no fallback), so the daemon starts with everything in place.

    ``only``: artwork ids (and/or ``idle``) to do; ``force``: render again even when cached.
    """

    generators = _Generators(exhibit, generator_backends, cache)
    jobs: list[tuple[str, str, Any, Callable[[], np.ndarray], str | None]] = []
    for artwork in exhibit.artworks:
        if artwork.audio is not None:
            jobs.append((artwork.id, "file", None, lambda: np.zeros(0), None))
            continue
        sound = artwork.soundscape
        request = artwork_request(exhibit, artwork)
        image_path = Path(artwork.images[0])
        jobs.append(
            (
                artwork.id,
                sound.generator,
                request,
                lambda p=image_path: _read_rgb(p),
                image_digest(image_path),
            )
        )
    idle = exhibit.idle
    if idle.source in ("collection", "image"):
        request = idle_request(exhibit)
        image = idle_image(exhibit)
        jobs.append((IDLE_KEY, idle.generator, request, lambda image=image: image, None))
    if only is not None:
        unknown = only - {what for what, *_ in jobs}
        if unknown:
            raise ValueError(
                f"nothing to render called {', '.join(sorted(unknown))}; "
                f"the exhibit has: {', '.join(what for what, *_ in jobs)}"
            )
        jobs = [job for job in jobs if job[0] in only]
    results = []
    try:
        for done, (what, name, request, load_image, digest) in enumerate(jobs, start=1):
            started = time.perf_counter()
            if name == "file":
                results.append(PrerenderResult(what, name, "file"))
            else:
                image = load_image()
                key = generators.key(name, request, digest if digest is not None else image)
                if not force and cache.get(key) is not None:
                    results.append(PrerenderResult(what, name, "cached"))
                else:
                    try:
                        sound = generators.get(name).generate(image, request)
                    except Exception as exc:  # noqa: BLE001 - report it and go on with the others
                        logger.warning("prerender: %s with %s failed", what, name, exc_info=True)
                        results.append(
                            PrerenderResult(
                                what,
                                name,
                                "failed",
                                time.perf_counter() - started,
                                f"{type(exc).__name__}: {exc}",
                            )
                        )
                    else:
                        stored = cache.put(key, sound, {"what": what, "generator": name})
                        results.append(
                            PrerenderResult(
                                what,
                                name,
                                "rendered" if stored else "failed",
                                time.perf_counter() - started,
                                None if stored else f"cannot write to {cache.directory}",
                            )
                        )
            if progress is not None:
                progress(done, len(jobs), what)
    finally:
        generators.close()
    return results


# ---------------------------------------------------------------------------------------- director


@dataclass(frozen=True)
class DirectorEvent:
    """One thing the director told the engine: at time ``t`` (seconds), play ``what`` (an artwork id or
    ``idle``; ``silence`` outside opening hours), because of ``reason``: ``start``, ``camera`` (an artwork
    was chosen), ``idle`` (none for ``idle.after_seconds``), ``manual`` (the control panel), ``open`` or
    ``closed`` (opening hours)."""

    t: float
    what: str
    reason: str = "camera"

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 2), "play": self.what, "reason": self.reason}


def _same_audio(a: AudioClip, b: AudioClip) -> bool:
    """The same soundscape, give or take the cache's 24-bit rounding (about 1e-7)."""
    return (
        a.samples.shape == b.samples.shape
        and a.loop == b.loop
        and bool(np.allclose(a.samples, b.samples, rtol=0.0, atol=1e-5))
    )


class Director:
    """Turns vision decisions into engine commands: the chosen artwork, else the idle ambience.

    Args:
        engine: the audio engine to command.
        library: what can be played.
        idle_after_s: seconds without a chosen artwork before the idle ambience takes over.
        on_event: called with every :class:`DirectorEvent` (for the CLI's output and the control panel).
    """

    def __init__(
        self,
        engine: AudioEngine,
        library: SoundscapeLibrary,
        *,
        idle_after_s: float,
        on_event: Callable[[DirectorEvent], None] | None = None,
    ):
        self.engine = engine
        self.library = library
        self.idle_after_s = float(idle_after_s)
        self.on_event = on_event
        self.playing: str | None = None
        #: the latest events (bounded: a daemon runs for months)
        self.events: collections.deque[DirectorEvent] = collections.deque(maxlen=500)
        self._artwork_last_seen: float | None = None
        self._override: str | None = None
        self._closed = False
        # the main loop (update) and the control panel's threads (override) both decide
        self._lock = threading.Lock()

    @property
    def override(self) -> str | None:
        """What the control panel has fixed (an artwork id or ``idle``), or None while following the camera."""
        return self._override

    @property
    def closed(self) -> bool:
        """Outside opening hours: silent, and the camera is not followed."""
        return self._closed

    def start(self, now: float, *, open_: bool = True) -> None:
        """Begin on the idle ambience (a gallery switched on during opening hours is not silent), or
        silent when it starts outside them."""
        self.engine.set_idle(self.library.idle, self.library.idle_gain_db)
        with self._lock:
            if open_:
                self._play(IDLE_KEY, now, "start")
            else:
                self._closed = True
                self._record(DirectorEvent(now, CLOSED_KEY, "closed"))

    def set_open(self, open_: bool, now: float, ramp_s: float) -> None:
        """Opening hours begin (the idle ambience fades in) or end (everything fades out over ``ramp_s``)."""
        with self._lock:
            if open_ == (not self._closed):
                return
            self._closed = not open_
            if open_:
                self._artwork_last_seen = now
                self._play(IDLE_KEY, now, "open")
            elif self._override is None:
                self.engine.fade_to_silence(ramp_s)
                self.playing = None
                self._record(DirectorEvent(now, CLOSED_KEY, "closed"))

    def set_override(self, what: str | None, now: float) -> None:
        """Play ``what`` (an artwork id or ``idle``) whatever the camera sees, until called with None, which
        goes back to following the camera (the idle wait starts again from ``now``).

        Raises:
            KeyError: ``what`` is neither ``idle`` nor an artwork with a soundscape.
        """
        if what is not None and what != IDLE_KEY and what not in self.library.clips:
            raise KeyError(what)
        with self._lock:
            self._override = what
            if what is None:
                self._artwork_last_seen = now
                logger.info("following the camera again")
                if self._closed and self.playing is not None:  # a test outside opening hours has ended
                    self.engine.fade_to_silence()
                    self.playing = None
                    self._record(DirectorEvent(now, CLOSED_KEY, "closed"))
            elif self.playing != what:
                self._play(what, now, "manual")

    def update(self, decision: VisionDecision, now: float) -> None:
        """Follow one vision decision made at time ``now`` (seconds)."""
        with self._lock:
            if self._override is not None or self._closed:
                return
            artwork = decision.artwork_id if decision.kind == ARTWORK else None
            if artwork is not None and artwork in self.library.clips:
                self._artwork_last_seen = now
                if self.playing != artwork:
                    self._play(artwork, now, "camera")
                return
            if self.playing not in (IDLE_KEY, None):
                last = self._artwork_last_seen if self._artwork_last_seen is not None else now
                if now - last >= self.idle_after_s:
                    self._play(IDLE_KEY, now, "idle")

    def replace_library(self, library: SoundscapeLibrary, idle_after_s: float, now: float) -> None:
        """A reloaded exhibit's soundscapes: what sounds goes on if it is unchanged, crossfades to its new
        rendering if it changed, and gives way to the idle ambience if its artwork is gone."""
        with self._lock:
            old = self.library
            self.idle_after_s = float(idle_after_s)
            playing = self.playing
            if playing not in (None, IDLE_KEY) and playing in library.clips and playing in old.clips:
                if _same_audio(old.clips[playing], library.clips[playing]):
                    library.clips[playing] = old.clips[playing]  # keep its voice: no crossfade to itself
            if old.idle is not None and library.idle is not None and _same_audio(old.idle, library.idle):
                library.idle = old.idle
            self.library = library
            self.engine.set_idle(library.idle, library.idle_gain_db)
            if self._override not in (None, IDLE_KEY) and self._override not in library.clips:
                self._override = None
            if playing == IDLE_KEY or (playing is not None and playing not in library.clips):
                self._play(IDLE_KEY, now, "reload")
            elif playing is not None:
                self._play(playing, now, "reload")

    def generation_failed(self, what: str) -> None:
        """The live rendering of ``what`` failed: its bridge stays, and the nightly retry may try again."""
        with self._lock:
            self.library.pending.pop(what, None)

    def replace_clip(self, what: str, clip: AudioClip, made_by: str) -> None:
        """A better rendering of ``what`` (an artwork id or ``idle``) has arrived: use it from now on, and if
        it is sounding, crossfade to it (same soundscape, new rendering)."""
        with self._lock:
            library = self.library
            library.made_by[what] = made_by
            library.pending.pop(what, None)
            if what == IDLE_KEY:
                library.idle = clip
                self.engine.set_idle(clip, library.idle_gain_db)
                if self.playing == IDLE_KEY:
                    self.engine.play_idle()
            else:
                library.clips[what] = clip
                if self.playing == what:
                    self.engine.play(clip, gain_db=library.gains_db.get(what, 0.0))
        logger.info("%s: the %s rendering replaces its bridge", what, made_by)

    def _play(self, what: str, now: float, reason: str) -> None:
        if what == IDLE_KEY:
            self.engine.play_idle()
        else:
            self.engine.play(self.library.clips[what], gain_db=self.library.gains_db.get(what, 0.0))
        self.playing = what
        self._record(DirectorEvent(now, what, reason))

    def _record(self, event: DirectorEvent) -> None:
        self.events.append(event)
        logger.info("now playing: %s (%s, at %.2f s)", event.what, event.reason, event.t)
        if self.on_event is not None:
            self.on_event(event)


# ---------------------------------------------------------------------------------------- the root


class Gallery:
    """Everything one exhibit needs at run time, built in named steps (see the module docstring).

    Args:
        exhibit: the validated exhibit.
        clock: the time source (a :class:`ManualClock` for :meth:`simulate`).
        wall_clock: the date and time for opening hours (aware datetimes; default: now, UTC).
        output: the audio output (default: the one the exhibit's ``audio.output`` describes).
        camera: the camera source (default: the one the exhibit's ``camera`` describes).
        generator_backends: the generator table (default: :data:`art2mus.models.registry.GENERATOR_BACKENDS`).
        cache: the soundscape cache (default: the one the exhibit's ``cache`` section describes).
        use_cache: False renders every soundscape afresh and stores nothing.
        on_event: called with every :class:`DirectorEvent`.
        on_decision: called with every vision decision that differs from the previous one.
    """

    def __init__(
        self,
        exhibit: ExhibitConfig,
        *,
        clock: Clock | None = None,
        wall_clock: Callable[[], dt.datetime] | None = None,
        output: AudioOutput | None = None,
        camera: CameraSource | None = None,
        generator_backends: Mapping[str, Any] | None = None,
        cache: SoundscapeCache | None = None,
        use_cache: bool = True,
        on_event: Callable[[DirectorEvent], None] | None = None,
        on_decision: Callable[[VisionDecision], None] | None = None,
    ):
        self.exhibit = exhibit
        self.cache = (
            cache if cache is not None or not use_cache else SoundscapeCache.from_config(exhibit.cache)
        )
        self.clock: Clock = clock or SystemClock()
        self._wall_clock = wall_clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._output = output
        self._camera = camera
        self._generator_backends = generator_backends
        self._on_event = on_event
        self._on_decision = on_decision
        self.engine: AudioEngine | None = None
        self.library: SoundscapeLibrary | None = None
        self.vision: VisionPipeline | None = None
        self.camera: CameraSource | None = None
        self.director: Director | None = None
        self.decision: VisionDecision | None = None
        self.grabber: Any = None
        self.control_panel: Any = None
        self.worker: GenerationWorker | None = None
        self._results_lock = threading.Lock()
        self._early_results: list[GenerationResult] = []
        self._rebuilding = False
        self._camera_changed = False
        self._reload = threading.Event()
        #: the outcome of the last reload: {"ok", "at" (ISO time), "problems" [...], "restart_needed" [...]}
        self.last_reload: dict[str, Any] | None = None
        self.schedule: ScheduleKeeper | None = None

    # ------------------------------------------------------------------ the named build steps
    def init_audio(self) -> AudioEngine:
        output = self._output
        self.engine = AudioEngine.from_config(
            self.exhibit.audio,
            clock=self.clock,
            output_factory=(lambda _config: output) if output is not None else create_output,
        )
        return self.engine

    def init_soundscapes(self, progress: Callable[[int, int, str], None] | None = None) -> SoundscapeLibrary:
        assert self.engine is not None, "init_audio first"
        if self.cache is not None:
            self.worker = GenerationWorker(
                self.cache.directory,
                self.cache.audio_format,
                backends=self._generator_backends,
                on_result=self._on_generated,
            )
        self.library = render_soundscapes(
            self.exhibit,
            self.engine,
            generator_backends=self._generator_backends,
            cache=self.cache,
            worker=self.worker,
            progress=progress,
        )
        with self._results_lock:
            self.director = Director(
                self.engine,
                self.library,
                idle_after_s=self.exhibit.idle.after_seconds,
                on_event=self._on_event,
            )
            early, self._early_results = self._early_results, []
        for result in early:  # jobs that finished while the library was still being made
            self._apply_generated(result)
        return self.library

    def init_vision(self) -> VisionPipeline:
        self.vision = VisionPipeline.from_config(self.exhibit, clock=self.clock.monotonic)
        return self.vision

    def init_camera(self, *, realtime: bool | None = None) -> CameraSource:
        if self._camera is not None:
            self.camera = self._camera
        else:
            config = self.exhibit.camera
            if realtime is not None and config.type == "video":
                config = config.model_copy(update={"realtime": realtime})
            self.camera = camera_source_from_config(config, clock=self.clock.monotonic)
        return self.camera

    def init_control_panel(self, port: int | None = None) -> Any:
        """The web control panel over this gallery (served by :meth:`run`); None when the exhibit disables it.

        ``port`` overrides ``control_panel.port`` (0: any free port)."""
        config = self.exhibit.control_panel
        if not config.enabled:
            self.control_panel = None
            return None
        from art2mus.kiosk_ui.app import create_app
        from art2mus.kiosk_ui.server import ControlPanelServer

        token = None
        if config.token is not None:
            token = config.token.get_secret_value()
        elif config.token_file is not None:
            token = Path(config.token_file).read_text().strip()
        app = create_app(self, token=token, title=self.exhibit.collection.name)
        self.control_panel = ControlPanelServer(app, config.host, config.port if port is None else port)
        return self.control_panel

    def init_schedule(self) -> ScheduleKeeper:
        """Opening hours (volume per period, silence when closed) and the nightly retry of bridges."""
        self.schedule = ScheduleKeeper(
            OpeningHours.from_exhibit(self.exhibit),
            self.apply_schedule,
            prerender=self.retry_bridges,
            prerender_at=self.exhibit.schedule.prerender_at,
            now=self._wall_clock,
        )
        return self.schedule

    def apply_schedule(self, state: ScheduleState) -> None:
        """Follow the opening hours: open at the period's volume, or fade to silence."""
        assert self.director is not None and self.engine is not None
        ramp = self.exhibit.schedule.ramp_seconds
        now = self.clock.monotonic()
        if state.open:
            self.engine.set_master_volume(state.volume, ramp)
        self.director.set_open(state.open, now, ramp)

    def retry_bridges(self) -> list[str]:
        """Send the soundscapes still playing a bridge (their live generation failed) to the generator
        process again; the nightly job. Returns the artwork ids sent."""
        if self.library is None or self.worker is None or self.cache is None:
            return []

        generators = _Generators(self.exhibit, self._generator_backends, self.cache, self.worker)
        sent = []
        for artwork in self.exhibit.artworks:
            sound = artwork.soundscape
            made_by = self.library.made_by.get(artwork.id)
            if artwork.audio is not None or made_by == sound.generator or artwork.id in self.library.pending:
                continue
            if not generators.is_live(sound.generator):
                continue
            request = artwork_request(self.exhibit, artwork)
            image_path = Path(artwork.images[0])
            key = generators.key(sound.generator, request, image_digest(image_path))
            job_id = generators.submit(sound.generator, request, artwork.id, key, image_path, None)
            self.library.pending[artwork.id] = job_id
            sent.append(artwork.id)
        if sent:
            logger.info("nightly: generating %d soundscapes again: %s", len(sent), ", ".join(sent))
        return sent

    def build(
        self,
        *,
        realtime: bool | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        control_panel_port: int | None = None,
    ) -> Gallery:
        """All the steps, in order."""
        self.init_audio()
        self.init_soundscapes(progress)
        self.init_vision()
        self.init_camera(realtime=realtime)
        self.init_control_panel(control_panel_port)
        self.init_schedule()
        return self

    # ------------------------------------------------------------------ running
    def _follow(self, frame: Any, now: float) -> None:
        assert self.vision is not None and self.director is not None
        decision = self.vision.process(frame)
        if not decision.same_state(self.decision) and self._on_decision is not None:
            self._on_decision(decision)
        self.decision = decision
        self.director.update(decision, now)

    def run(
        self,
        stop: threading.Event,
        duration_s: float | None = None,
        on_ready: Callable[[Gallery], None] | None = None,
    ) -> None:
        """Run in real time until ``stop`` is set or ``duration_s`` seconds have passed; ``on_ready(self)``
        is called once the audio, the camera and the control panel have started."""
        from art2mus.installation.vision.grabber import FrameGrabber
        from art2mus.installation.watchdog import Watchdog

        assert self.engine is not None and self.director is not None and self.camera is not None
        watchdog = Watchdog.from_environment(clock=self.clock.monotonic)  # systemd's; no-op elsewhere
        grabber = self.grabber = FrameGrabber.from_config(
            self.camera, self.exhibit.camera.reconnect_max_seconds, clock=self.clock.monotonic
        )
        started = self.clock.monotonic()
        schedule = self.schedule
        opening = schedule.hours.state_at(self._wall_clock()) if schedule is not None else None
        self.director.start(started, open_=opening is None or opening.open)
        self.engine.start()
        if schedule is not None:
            schedule.start()
        grabber.start()
        panel = self.control_panel
        if panel is not None:
            try:
                panel.start()
            except OSError as exc:  # a port in use must not keep the room silent
                logger.error(
                    "control panel: cannot listen on %s:%s (%s); running without it",
                    panel.host,
                    panel.requested_port,
                    exc,
                )
                panel = None
                self.control_panel = None
        if on_ready is not None:
            on_ready(self)
        watchdog.ready()
        last_index: int | None = None
        last_health_log = started
        failures, last_failure_log = 0, -math.inf
        try:
            while not stop.is_set():
                now = self.clock.monotonic()
                if duration_s is not None and now - started >= duration_s:
                    break
                if watchdog.due():  # fed only while the mix clock runs and camera frames arrive
                    health = grabber.health()
                    watchdog.beat(self.engine.position_s, health.frames, health.state != "streaming")
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                    if self._camera_changed:  # a new camera: a new grabber for it
                        self._camera_changed = False
                        grabber.stop()
                        grabber = self.grabber = FrameGrabber.from_config(
                            self.camera, self.exhibit.camera.reconnect_max_seconds, clock=self.clock.monotonic
                        )
                        grabber.start()
                        last_index = None
                    schedule = self.schedule
                frame = grabber.wait_for_frame(last_index, timeout=0.25)
                now = self.clock.monotonic()
                if frame is None:
                    if now - last_health_log >= 10.0:
                        health = grabber.health()
                        logger.warning(
                            "camera %s: %s, no new frame (%s)", health.source, health.state, health.last_error
                        )
                        last_health_log = now
                    # no frames: vision cannot choose anything; let the idle timer run on
                    if self.decision is not None:
                        self.director.update(VisionDecision(now, "none"), now)
                    continue
                last_index = frame.index
                try:
                    self._follow(frame, now)
                except Exception:  # noqa: BLE001 - the top of the main loop: one bad frame must not stop the room
                    failures += 1
                    if now - last_failure_log >= 60.0:
                        logger.exception("processing a frame failed (%d times so far); carrying on", failures)
                        last_failure_log = now
        finally:
            watchdog.stopping()
            # reverse start order: the panel, the schedule, the camera, the generator process, then the audio
            if panel is not None:
                panel.stop()
            if schedule is not None:
                schedule.stop()
            grabber.stop()
            self.close()
            self.engine.stop()

    def simulate(
        self, duration_s: float, *, on_tick: Callable[[float], None] | None = None, tick_s: float = 60.0
    ) -> None:
        """Run ``duration_s`` seconds of the camera's video through the gallery as fast as the machine allows.

        Needs a :class:`ManualClock` and a video source played as fast as possible (frames stamped with
        their time in the video); the engine is pumped after each frame, so a clock-paced output (WAV)
        receives exactly ``duration_s`` seconds of mix. ``on_tick(seconds simulated)`` is called every
        ``tick_s`` of simulated time (progress, soak measurements).
        """
        assert self.engine is not None and self.director is not None and self.camera is not None
        if not isinstance(self.clock, ManualClock):
            raise TypeError("simulate needs a ManualClock")
        clock = self.clock
        stream = self.camera.open()
        start = clock.monotonic()
        next_tick = tick_s
        self.director.start(start)
        self.engine.open()
        try:
            while clock.monotonic() - start < duration_s:
                try:
                    frame = stream.read()
                except EndOfStream:
                    break
                now = start + min(frame.timestamp, duration_s)
                if now > clock.monotonic():
                    clock.advance(now - clock.monotonic())
                self._follow(frame, now)
                self.engine.pump()
                if on_tick is not None and now - start >= next_tick:
                    on_tick(now - start)
                    next_tick += tick_s
            if clock.monotonic() - start < duration_s:  # the video ended early: play out the rest
                clock.advance(start + duration_s - clock.monotonic())
                self.engine.pump()
        finally:
            stream.close()
            self.engine.close()

    def _on_generated(self, result: GenerationResult) -> None:
        """The generator process finished a job (supervisor thread). Before the library is complete the
        result waits (the bridge it replaces may not be in place yet)."""
        with self._results_lock:
            if self.director is None or self._rebuilding:
                self._early_results.append(result)
                return
        self._apply_generated(result)

    def _apply_generated(self, result: GenerationResult) -> None:
        """Swap the generated rendering in, or keep the bridge."""
        assert self.director is not None and self.engine is not None
        if not result.ok:
            logger.warning("%s keeps its bridge: %s", result.what, result.error)
            self.director.generation_failed(result.what)
            return
        if self.cache is None:
            return
        sound = result.load(self.cache)  # from the cache, or in memory when the cache refused it
        if sound is None:
            self.director.generation_failed(result.what)
            logger.warning(
                "%s: the generator process's rendering is not in the cache; the bridge stays", result.what
            )
            return
        artwork = next((a for a in self.exhibit.artworks if a.id == result.what), None)
        loop = artwork.soundscape.loop if artwork is not None else True
        clip = self.engine.prepare(
            sound.waveform, sound.sample_rate, key=result.what, loop=loop, metadata=sound.metadata
        )
        self.director.replace_clip(result.what, clip, result.generator)

    def request_reload(self) -> None:
        """Ask the running gallery to re-read its exhibit file (SIGHUP, ``systemctl reload``, the control
        panel); the main loop does it between two frames."""
        self._reload.set()

    def reload(self) -> bool:
        """Re-read the exhibit file and apply it, keeping what plays where it can; True when applied.

        A file with problems changes nothing: each problem is logged (file:line:col field: expected) and
        the running configuration stays. Soundscapes come from the cache where unchanged, the recognition
        index is rebuilt only if reference photos changed, and opening hours, idle timing, loudness and
        crossfades take effect at once. The audio output and format and the control panel's address are
        only read at start: a change there is reported as needing a restart.
        """
        from art2mus.installation.config import validate_exhibit

        assert self.engine is not None and self.director is not None
        path = self.exhibit.source_file
        at = self._wall_clock().isoformat(timespec="seconds")
        config, problems = validate_exhibit(path) if path is not None else (None, [])
        if config is None or problems:
            for problem in problems:
                logger.error("reload: %s", problem)
            logger.error(
                "reload of %s refused (%d problems); still running the previous configuration",
                path,
                len(problems),
            )
            self.last_reload = {
                "ok": False,
                "at": at,
                "problems": [str(p) for p in problems],
                "restart_needed": [],
            }
            return False
        old = self.exhibit
        restart_needed = [
            name
            for name, before, after in (
                ("audio.output", old.audio.output, config.audio.output),
                ("audio.sample_rate", old.audio.sample_rate, config.audio.sample_rate),
                ("audio.channels", old.audio.channels, config.audio.channels),
                ("audio.buffer_seconds", old.audio.buffer_seconds, config.audio.buffer_seconds),
                ("control_panel", old.control_panel, config.control_panel),
                ("cache", old.cache, config.cache),
            )
            if before != after
        ]
        with self._results_lock:
            self._rebuilding = True
        try:
            library = render_soundscapes(
                config,
                self.engine,
                generator_backends=self._generator_backends,
                cache=self.cache,
                worker=self.worker,
            )
            vision = VisionPipeline.from_config(config, clock=self.clock.monotonic)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the running configuration must stay
            logger.exception(
                "reload of %s failed while preparing it; still running the previous configuration", path
            )
            with self._results_lock:
                self._rebuilding = False
                early, self._early_results = self._early_results, []
            for result in early:
                self._apply_generated(result)
            self.last_reload = {
                "ok": False,
                "at": at,
                "problems": [f"{type(exc).__name__}: {exc}"],
                "restart_needed": [],
            }
            return False
        now = self.clock.monotonic()
        self.exhibit = config
        self.vision, self.decision = vision, None
        self.engine.loudness_lufs = config.audio.loudness_lufs
        self.engine.crossfade_seconds = config.audio.crossfade_seconds
        with self._results_lock:
            self.director.replace_library(library, config.idle.after_seconds, now)
            self.library = library
            self._rebuilding = False
            early, self._early_results = self._early_results, []
        for result in early:
            self._apply_generated(result)
        if old.camera != config.camera:
            self._camera = None
            self.init_camera()
            self._camera_changed = True
        if self.schedule is not None and (
            old.schedule != config.schedule or old.collection.timezone != config.collection.timezone
        ):
            running = self.schedule.state is not None
            self.schedule.stop()
            self.init_schedule()
            if running:
                self.schedule.start()
        for name in restart_needed:
            logger.warning("reload: %s changed; that takes effect at the next restart", name)
        logger.info("reloaded %s (%d artworks)", path, len(config.artworks))
        self.last_reload = {"ok": True, "at": at, "problems": [], "restart_needed": restart_needed}
        return True

    def close(self) -> None:
        """Stop the generator process (the audio, camera and panel stop with :meth:`run`)."""
        if self.worker is not None:
            self.worker.stop()

    # ------------------------------------------------------------------ control (what the control panel calls)
    def play_artwork(self, artwork_id: str) -> None:
        """Play ``artwork_id`` whatever the camera sees, until :meth:`follow_camera` (KeyError if unknown)."""
        assert self.director is not None
        self.director.set_override(artwork_id, self.clock.monotonic())

    def play_idle(self) -> None:
        """Play the idle ambience whatever the camera sees, until :meth:`follow_camera`."""
        assert self.director is not None
        self.director.set_override(IDLE_KEY, self.clock.monotonic())

    def follow_camera(self) -> None:
        """Let the camera decide again."""
        assert self.director is not None
        self.director.set_override(None, self.clock.monotonic())

    def set_master_volume(self, volume: float, ramp_s: float = 2.0) -> None:
        """Ramp the master volume (linear 0..1) over ``ramp_s`` seconds (ValueError outside 0..1)."""
        assert self.engine is not None
        self.engine.set_master_volume(volume, ramp_s)

    def report_sensor(self, sensor_id: str, present: bool = True) -> None:
        """An external presence sensor (e.g. a PIR posting to the control panel) saw someone, or no one."""
        if self.vision is not None and self.vision.presence is not None:
            self.vision.presence.report_sensor_event(sensor_id, present)

    def artworks(self) -> list[dict[str, Any]]:
        """The collection as the control panel lists it."""
        library = self.library
        return [
            {
                "id": a.id,
                "title": a.display_title,
                "artist": a.artist,
                "year": a.year,
                "made_by": library.made_by.get(a.id) if library else None,
                "duration_s": round(library.clips[a.id].duration_s, 1)
                if library and a.id in library.clips
                else None,
            }
            for a in self.exhibit.artworks
        ]

    def status(self) -> dict[str, Any]:
        """What plays and why, and the health of camera and audio (JSON-friendly)."""
        director = self.director
        presence = None
        if self.vision is not None and self.vision.presence is not None:
            state = self.vision.presence.state()
            presence = {"present": state.present, "motion": state.motion, "sensors": list(state.sensors)}
        grabber = self.grabber
        return {
            "exhibit": self.exhibit.collection.name,
            "playing": director.playing if director else None,
            "override": director.override if director else None,
            "vision": self.decision.to_json() if self.decision else None,
            "presence": presence,
            "camera": dataclasses.asdict(grabber.health()) if grabber is not None else None,
            "audio": self.engine.status() if self.engine else None,
            "reload": self.last_reload,
            "schedule": self.schedule.state.to_json() if self.schedule and self.schedule.state else None,
            "generation": dataclasses.asdict(self.worker.status())
            if self.worker and self.worker.started
            else None,
            "events": [e.to_json() for e in list(director.events)[-20:]] if director else [],
        }
