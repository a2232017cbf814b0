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
from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision, VisionPipeline
from art2mus.installation.vision.sources import CameraSource, EndOfStream, camera_source_from_config

logger = logging.getLogger(__name__)

IDLE_KEY = "idle"
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
    """

    clips: dict[str, AudioClip] = field(default_factory=dict)
    gains_db: dict[str, float] = field(default_factory=dict)
    idle: AudioClip | None = None
    idle_gain_db: float = 0.0
    made_by: dict[str, str] = field(default_factory=dict)
    from_cache: set[str] = field(default_factory=set)


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


class _Generators:
    """Builds each named generator of the exhibit once; falls back to the procedural sonifier."""

    def __init__(
        self, exhibit: ExhibitConfig, backends: Mapping[str, Any] | None, cache: SoundscapeCache | None
    ):
        self.exhibit = exhibit
        self.backends = backends
        self.cache = cache
        self._built: dict[str, Any] = {}

    def _recipe(self, name: str) -> tuple[str, dict[str, Any]]:
        config = self.exhibit.generators.get(name)
        return (config.type, config.settings()) if config is not None else (name, {})

    def _get(self, name: str) -> Any:
        from art2mus.models.registry import create_generator

        if name not in self._built:
            backend, settings = self._recipe(name)
            self._built[name] = create_generator(backend, settings, backends=self.backends)
        return self._built[name]

    def fallback(self, name: str) -> str | None:
        """The generator that stands in for ``name``: its configured ``fallback``, else the procedural one."""
        config = self.exhibit.generators.get(name)
        chosen = getattr(config, "fallback", None) or FALLBACK_GENERATOR
        return None if chosen == name else chosen

    def make(
        self, name: str, image: np.ndarray, request: Any, what: str, image_ref: str | np.ndarray | None = None
    ) -> tuple[Any, str, bool]:
        """``(soundscape, generator that made it, from the cache)``.

        Each generator of the fallback chain is looked up in the cache first (``image_ref``: the image
        file's digest, or None to key by the pixels), and what a generator renders is stored under its
        own key: a fallback's rendering never stands in for the primary's on the next start.
        """
        tried: list[str] = []
        while True:
            key = None
            if self.cache is not None:
                backend, settings = self._recipe(name)
                key = cache_key(backend, settings, request, image if image_ref is None else image_ref)
                hit = self.cache.get(key)
                if hit is not None:
                    return hit, name, True
            try:
                result = self._get(name).generate(image, request)
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
    progress: Callable[[int, int, str], None] | None = None,
) -> SoundscapeLibrary:
    """Make (or read) every artwork's soundscape and the idle ambience, ready for ``engine``.

    A fixed ``audio:`` file is read; otherwise the artwork's generator renders from its first reference
    image with its ``soundscape`` settings, at the exhibit's loudness target, unless ``cache`` holds that
    rendering already. ``progress(done, total, name)`` is called after each one.
    """
    from art2mus.models.generator import GenerationRequest

    generators = _Generators(exhibit, generator_backends, cache)
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
                request = GenerationRequest(
                    duration_s=sound.duration,
                    seed=sound.seed,
                    loop=sound.loop,
                    loudness_lufs=exhibit.audio.loudness_lufs,
                    options={"prompt": sound.prompt} if sound.prompt else {},
                )
                image_path = Path(artwork.images[0])
                result, made_by, cached = generators.make(
                    sound.generator, _read_rgb(image_path), request, artwork.id, image_digest(image_path)
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
            image = (
                collection_image([Path(a.images[0]) for a in exhibit.artworks])
                if idle.source == "collection"
                else _read_rgb(Path(idle.path))
            )
            request = GenerationRequest(
                duration_s=idle.duration, seed=idle.seed, loop=True, loudness_lufs=exhibit.audio.loudness_lufs
            )
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
    return library


# ---------------------------------------------------------------------------------------- director


@dataclass(frozen=True)
class DirectorEvent:
    """One thing the director told the engine: at time ``t`` (seconds), play ``what`` (an artwork id or ``idle``)."""

    t: float
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 2), "play": self.what}


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
        self.events: list[DirectorEvent] = []
        self._artwork_last_seen: float | None = None

    def start(self, now: float) -> None:
        """Begin on the idle ambience (a gallery that was just switched on is not silent)."""
        self.engine.set_idle(self.library.idle, self.library.idle_gain_db)
        self._play(IDLE_KEY, now)

    def update(self, decision: VisionDecision, now: float) -> None:
        """Follow one vision decision made at time ``now`` (seconds)."""
        artwork = decision.artwork_id if decision.kind == ARTWORK else None
        if artwork is not None and artwork in self.library.clips:
            self._artwork_last_seen = now
            if self.playing != artwork:
                self._play(artwork, now)
            return
        if self.playing not in (IDLE_KEY, None):
            last = self._artwork_last_seen if self._artwork_last_seen is not None else now
            if now - last >= self.idle_after_s:
                self._play(IDLE_KEY, now)

    def _play(self, what: str, now: float) -> None:
        if what == IDLE_KEY:
            self.engine.play_idle()
        else:
            self.engine.play(self.library.clips[what], gain_db=self.library.gains_db.get(what, 0.0))
        self.playing = what
        event = DirectorEvent(now, what)
        self.events.append(event)
        logger.info("now playing: %s (at %.2f s)", what, now)
        if self.on_event is not None:
            self.on_event(event)


# ---------------------------------------------------------------------------------------- the root


class Gallery:
    """Everything one exhibit needs at run time, built in named steps (see the module docstring).

    Args:
        exhibit: the validated exhibit.
        clock: the time source (a :class:`ManualClock` for :meth:`simulate`).
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
        self.library = render_soundscapes(
            self.exhibit,
            self.engine,
            generator_backends=self._generator_backends,
            cache=self.cache,
            progress=progress,
        )
        self.director = Director(
            self.engine, self.library, idle_after_s=self.exhibit.idle.after_seconds, on_event=self._on_event
        )
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

    def build(
        self, *, realtime: bool | None = None, progress: Callable[[int, int, str], None] | None = None
    ) -> Gallery:
        """All the steps, in order."""
        self.init_audio()
        self.init_soundscapes(progress)
        self.init_vision()
        self.init_camera(realtime=realtime)
        return self

    # ------------------------------------------------------------------ running
    def _follow(self, frame: Any, now: float) -> None:
        assert self.vision is not None and self.director is not None
        decision = self.vision.process(frame)
        if not decision.same_state(self.decision) and self._on_decision is not None:
            self._on_decision(decision)
        self.decision = decision
        self.director.update(decision, now)

    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        """Run in real time until ``stop`` is set or ``duration_s`` seconds have passed."""
        from art2mus.installation.vision.grabber import FrameGrabber

        assert self.engine is not None and self.director is not None and self.camera is not None
        grabber = FrameGrabber.from_config(
            self.camera, self.exhibit.camera.reconnect_max_seconds, clock=self.clock.monotonic
        )
        started = self.clock.monotonic()
        self.director.start(started)
        self.engine.start()
        grabber.start()
        last_index: int | None = None
        last_health_log = started
        failures, last_failure_log = 0, -math.inf
        try:
            while not stop.is_set():
                now = self.clock.monotonic()
                if duration_s is not None and now - started >= duration_s:
                    break
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
            # reverse start order: the camera first, then the audio
            grabber.stop()
            self.engine.stop()

    def simulate(self, duration_s: float) -> None:
        """Run ``duration_s`` seconds of the camera's video through the gallery as fast as the machine allows.

        Needs a :class:`ManualClock` and a video source played as fast as possible (frames stamped with
        their time in the video); the engine is pumped after each frame, so a clock-paced output (WAV)
        receives exactly ``duration_s`` seconds of mix.
        """
        assert self.engine is not None and self.director is not None and self.camera is not None
        if not isinstance(self.clock, ManualClock):
            raise TypeError("simulate needs a ManualClock")
        clock = self.clock
        stream = self.camera.open()
        start = clock.monotonic()
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
            if clock.monotonic() - start < duration_s:  # the video ended early: play out the rest
                clock.advance(start + duration_s - clock.monotonic())
                self.engine.pump()
        finally:
            stream.close()
            self.engine.close()

    def status(self) -> dict[str, Any]:
        """What plays and why (JSON-friendly)."""
        return {
            "exhibit": self.exhibit.collection.name,
            "playing": self.director.playing if self.director else None,
            "vision": self.decision.to_json() if self.decision else None,
            "audio": self.engine.status() if self.engine else None,
        }
