"""The installation at run time: camera -> vision -> director -> audio engine, built from one exhibit.

:class:`Gallery` is the composition root and only that: it builds every long-lived object from the
validated exhibit in the order of the data flow (:meth:`Gallery.init_audio`,
:meth:`Gallery.init_soundscapes`, :meth:`Gallery.init_vision`, :meth:`Gallery.init_camera`,
:meth:`Gallery.init_control_panel`, :meth:`Gallery.init_schedule`), passes them down through
constructors, starts them (``start_*``) and stops them in reverse order (:meth:`Gallery.stop`). It runs
two ways, sharing all of that:

* :meth:`Gallery.run` in real time: the camera grabber and the audio engine run their own threads;
  the calling thread takes the newest frame, decides and commands the engine, until a stop event is set
  (SIGINT/SIGTERM in the CLI) or a duration has passed.
* :meth:`Gallery.simulate` faster than real time: no threads, a :class:`ManualClock` moved to each video
  frame's own time, the engine pumped after each frame. Same decisions, same mix, in seconds.

What sounds is decided by the :class:`~art2mus.installation.director.Director`; where each soundscape
comes from (cache, generator, bridge, generator process) by the
:class:`~art2mus.installation.soundscapes.SoundscapeSource`. The control panel and the schedule talk to
the gallery through its control methods (:meth:`Gallery.play_artwork`, :meth:`Gallery.reload`,
:meth:`Gallery.status`, ...), which live in :mod:`art2mus.installation.control`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from art2mus.installation.audio.backends import create_output
from art2mus.installation.audio.clock import Clock, ManualClock, SystemClock
from art2mus.installation.audio.engine import AudioEngine
from art2mus.installation.audio.outputs import AudioOutput
from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.cache_in_use import CacheInUse
from art2mus.installation.config import ExhibitConfig
from art2mus.installation.control import GalleryControl
from art2mus.installation.director import CLOSED_KEY, Director, DirectorEvent
from art2mus.installation.generation_worker import GenerationResult, GenerationWorker
from art2mus.installation.schedule import OpeningHours, ScheduleKeeper, ScheduleState
from art2mus.installation.soundscapes import IDLE_KEY, SoundscapeLibrary, SoundscapeSource
from art2mus.installation.telemetry import Telemetry
from art2mus.installation.vision.pipeline import VisionDecision, VisionPipeline
from art2mus.installation.vision.sources import (
    CameraSource,
    EndOfStream,
    camera_named,
    camera_source_from_config,
)
from art2mus.installation.vision.unseen import UNSEEN_PREFIX

__all__ = ["CLOSED_KEY", "IDLE_KEY", "Director", "DirectorEvent", "Gallery", "SoundscapeLibrary"]

logger = logging.getLogger(__name__)

#: seconds before an unseen artwork whose soundscape could not be made is tried again (at a sighting)
UNSEEN_RETRY_S = 30.0


class FrameGapLog:
    """When the main loop says that the camera gives no frames: once ``after_s`` seconds have passed without
    one, then after each of ``then_s`` in turn, the last one repeating (10 s, 1 min, 10 min, then hourly).
    Counted from the last frame, not the last line: a camera slower than the loop's 0.25 s wait (a 2 fps
    network camera) times out between its frames and is well. The grabber warns of its own reconnects, so
    an outage over a closure wrote this line every 10 s (360 an hour) and said nothing new."""

    def __init__(
        self, start: float, after_s: float = 10.0, then_s: tuple[float, ...] = (60.0, 600.0, 3600.0)
    ):
        self.gaps_s = (after_s, *then_s)
        self.last_frame = self.last_line = start
        self.said = 0  # lines since the last frame

    def frame(self, now: float) -> None:
        self.last_frame = now
        self.said = 0

    def due(self, now: float) -> bool:
        gap = self.gaps_s[min(self.said, len(self.gaps_s) - 1)]
        if now - self.last_frame >= self.gaps_s[0] and now - self.last_line >= gap:
            self.last_line = now
            self.said += 1
            return True
        return False


class Gallery(GalleryControl):
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
        read_when_chosen: the cached soundscapes are read when first chosen, not at the start
            (:class:`SoundscapeSource`'s; :meth:`simulate` of a walk that hears a few of them).
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
        read_when_chosen: bool = False,
    ):
        self.exhibit = exhibit
        self._read_when_chosen = read_when_chosen
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
        self._panel_port_given = False  # the panel's port came from the command line (--panel-port)
        self.worker: GenerationWorker | None = None
        self._results_lock = threading.Lock()
        self._early_results: list[GenerationResult] = []
        self._rebuilding = False
        self._camera_changed = False
        self._reload = threading.Event()
        #: the outcome of the last reload: {"ok", "at" (ISO time), "problems" [...], "restart_needed" [...]}
        self.last_reload: dict[str, Any] | None = None
        #: when the reload under way (or asked for, not yet begun) was asked for (ISO time); None: none is
        self.reload_requested_at: str | None = None
        self.schedule: ScheduleKeeper | None = None
        #: the room's level (``audio.master_volume``, or what the panel set); a period's volume multiplies it
        self.room_volume = exhibit.audio.master_volume
        #: the opening-hours period's volume factor (1.0 without periods)
        self.period_volume = 1.0
        #: the unseen artworks (``unseen:<id>``) whose soundscape a generator rendered (not the cache)
        self.unseen_generated: list[str] = []
        #: in real time: the unseen artworks whose soundscape is being made on a thread beside the loop,
        #: with the exhibit it is made for (see :meth:`_make_unseen_beside`)
        self._unseen_making: dict[str, tuple[ExhibitConfig, Future]] = {}
        #: the generator process's results for those, held until their bridge is in the library
        self._unseen_results: dict[str, list[GenerationResult]] = {}
        #: unseen artwork -> when making its soundscape failed (tried again after UNSEEN_RETRY_S)
        self._unseen_failed: dict[str, float] = {}
        #: live view, counters and event times for the control panel and /metrics
        self.telemetry = Telemetry(exhibit.collection.timezone)

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
        self.library = self.soundscape_source(self.exhibit).library(self.engine, progress)
        with self._results_lock:
            self.director = Director(
                self.engine,
                self.library,
                idle_after_s=self.exhibit.idle.after_seconds,
                on_event=self._director_event,
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

    def init_control_panel(self, port: int | None = None, *, probe: bool = False) -> Any:
        """The web control panel over this gallery (served by :meth:`run`); None when the exhibit disables it.

        ``port`` overrides ``control_panel.port`` (0: any free port). ``probe``: try its address now; one in
        use is handled as at :meth:`start_control_panel` (the start fails, or goes on without a panel)."""
        config = self.exhibit.control_panel
        if not config.enabled:
            self.control_panel = None
            return None
        from art2mus.kiosk_ui.server import control_panel_for

        self.control_panel = control_panel_for(self, port)
        self._panel_port_given = port is not None
        if probe:
            try:
                self.control_panel.probe()
            except OSError as exc:
                self._panel_unavailable(exc)
        return self.control_panel

    def init_schedule(self, exhibit: ExhibitConfig | None = None) -> ScheduleKeeper:
        """Opening hours (volume per period, silence when closed) and the nightly retry of bridges, of
        ``exhibit`` (default: this gallery's)."""
        exhibit = exhibit or self.exhibit
        self.schedule = ScheduleKeeper(
            OpeningHours.from_exhibit(exhibit),
            self.apply_schedule,
            prerender=self.retry_bridges,
            prerender_at=exhibit.schedule.prerender_at,
            now=self._wall_clock,
        )
        return self.schedule

    def apply_schedule(self, state: ScheduleState) -> None:
        """Follow the opening hours: open at the room's level times the period's volume, or fade to silence."""
        assert self.director is not None and self.engine is not None
        ramp = self.exhibit.schedule.ramp_seconds
        now = self.clock.monotonic()
        self.period_volume = state.volume  # 0 while closed: the status showed the last period's meanwhile
        if state.open:
            # opening a silent room: what plays fades in from silence over the ramp, so the level is set
            # now; ramped, it ran from the last period's (0.8 down to 0.4 while the room faded in)
            director = self.director
            silent = director.closed and director.playing is None and not self.engine.sounding_keys()
            self.engine.set_master_volume(self.room_volume * state.volume, 0.0 if silent else ramp)
        self.director.set_open(state.open, now, ramp)

    def soundscape_source(self, exhibit: ExhibitConfig) -> SoundscapeSource:
        """Where ``exhibit``'s soundscapes come from: this gallery's generators, cache and generator process."""
        return SoundscapeSource(
            exhibit,
            backends=self._generator_backends,
            cache=self.cache,
            worker=self.worker,
            read_when_chosen=self._read_when_chosen,
        )

    def retry_bridges(self) -> list[str]:
        """Send the soundscapes still playing a bridge (their live generation failed) to the generator
        process again; the nightly job. Returns the artwork ids sent."""
        if self.library is None:
            return []
        return self.soundscape_source(self.exhibit).retry(self.library)

    def build(
        self,
        *,
        realtime: bool | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        control_panel_port: int | None = None,
        stage: Callable[[str], None] | None = None,
    ) -> Gallery:
        """All the steps, in order. ``stage(text)`` is told each step as it begins (``art2mus run`` shows it
        as systemd's status line: a first start of a large collection takes minutes before it plays)."""
        tell = stage or (lambda _text: None)
        # before anything is made: a first start renders for minutes, and `cache prune` (naming another
        # exhibit) meanwhile removed what this start had just rendered or was about to read. Quiet: what
        # cannot be recorded yet (a damaged unseen list, moved aside by init_vision) is tried again in run()
        self.hold_cache_record(quiet=True)
        tell("starting the audio")
        self.init_audio()
        tell("checking the control panel's address")  # a port in use fails the start now, not minutes later
        self.init_control_panel(control_panel_port, probe=True)
        tell("making the soundscapes")
        self.init_soundscapes(progress)
        tell("recognition: checking the reference photos, loading or building the index")
        self.init_vision()
        tell("opening the camera")
        self.init_camera(realtime=realtime)
        tell("starting the opening hours")
        self.init_schedule()
        return self

    # ------------------------------------------------------------------ running
    def _director_event(self, event: DirectorEvent) -> None:
        self.telemetry.director_event(event.what, event.reason, self._wall_clock())
        if self._on_event is not None:
            self._on_event(event)

    def _follow(
        self,
        frame: Any,
        now: float,
        on_generating: Callable[[str], None] | None = None,
        *,
        unseen_beside: bool = False,
    ) -> None:
        """One camera frame through recognition and the director. ``on_generating(what)`` is called when an
        unseen artwork's soundscape has just been handed to the generator process, before the director
        hears of the artwork (see :meth:`simulate`). ``unseen_beside``: an unseen artwork's soundscape is
        made beside the caller, not here (see :meth:`_unseen_soundscape`)."""
        assert self.vision is not None and self.director is not None
        previous = self.vision.last_result
        decision = self.vision.process(frame)
        if self.vision.last_result is not previous:
            self.telemetry.recognised()
        presence = self.vision.presence
        self.telemetry.observe_frame(
            frame,
            decision,
            self.vision.last_result,
            presence.state().present if presence is not None else None,
        )
        if not decision.same_state(self.decision) and self._on_decision is not None:
            self._on_decision(decision)
        self.decision = decision
        if decision.artwork_id is not None and decision.artwork_id.startswith(UNSEEN_PREFIX):
            if self._unseen_soundscape(decision.artwork_id, unseen_beside) and on_generating is not None:
                on_generating(decision.artwork_id)
        self.director.update(decision, now)

    def _unseen_soundscape(self, what: str, beside: bool = False) -> bool:
        """Give the unseen artwork ``what`` its soundscape (once; the cache on a later sighting). True when
        this handed it to the generator process (its bridge is in the library meanwhile).

        ``beside`` (the real-time loop's): it is made on a thread beside the loop
        (:meth:`_make_unseen_beside`; False): made here, a procedural one held the loop 1-4 s, no frame
        recognised and nothing decided meanwhile. Otherwise here, as :meth:`simulate` needs it: every
        decision at the same simulated time whatever the machine's speed."""
        from art2mus.installation.unseen_sound import ensure_unseen_clip

        assert self.vision is not None and self.vision.unseen is not None and self.director is not None
        if what in self.director.library.clips or what in self._unseen_making:
            return False
        crop = self.vision.unseen.store.crop(what[len(UNSEEN_PREFIX) :])  # a file, or held in memory
        if beside:
            self._make_unseen_beside(what, crop)
            return False
        source = self.soundscape_source(self.exhibit)
        try:
            if ensure_unseen_clip(source, self.director.library, self.engine, crop, what):
                self.unseen_generated.append(what)
                return what in self.director.library.pending
            return False
        finally:
            source.close()

    def _make_unseen_beside(self, what: str, crop: Any) -> None:
        """Make the unseen artwork ``what``'s soundscape from ``crop`` on a thread of its own (the cache,
        a bridge while the generator process renders it, or a procedural rendering, prepared for the
        engine); the loop adds it to the library once it is made (:meth:`add_unseen_made`). The director
        keeps what plays meanwhile (an artwork the library lacks is no artwork to it: the idle timer runs)
        and crossfades to it at the first frame that still chooses it after; a sighting meanwhile starts
        nothing more."""
        from art2mus.installation.unseen_sound import make_unseen_clip

        failed_at = self._unseen_failed.get(what)
        if failed_at is not None and self.clock.monotonic() - failed_at < UNSEEN_RETRY_S:
            return
        exhibit, engine = self.exhibit, self.engine
        made: Future = Future()

        def make() -> None:
            source = self.soundscape_source(exhibit)
            try:
                made.set_result(make_unseen_clip(source, engine, crop, what))
            except Exception as exc:  # noqa: BLE001 - handed to the loop, which logs it
                made.set_exception(exc)
            finally:
                source.close()

        with self._results_lock:  # a rendering the generator process finishes meanwhile waits for it
            self._unseen_making[what] = (exhibit, made)
        threading.Thread(target=make, name=f"unseen sound {what}", daemon=True).start()

    def add_unseen_made(self) -> list[str]:
        """On the loop's thread: add the unseen soundscapes made beside it to the library (those made for
        an exhibit a reload has replaced since are let go: the next sighting makes them afresh). Returns
        the unseen artworks added."""
        from art2mus.installation.unseen_sound import add_unseen_clip

        assert self.director is not None
        added: list[str] = []
        for what, (exhibit, made) in list(self._unseen_making.items()):
            if not made.done():
                continue
            with self._results_lock:  # the bridge first, then what the generator process finished for it
                del self._unseen_making[what]
                results = self._unseen_results.pop(what, [])
                library = self.director.library
                try:
                    unseen = made.result()
                except Exception:  # noqa: BLE001 - e.g. a generator and its fallback failed: the room plays on
                    logger.exception(
                        "%s: its soundscape cannot be made; tried again in %g s", what, UNSEEN_RETRY_S
                    )
                    self._unseen_failed[what] = self.clock.monotonic()
                    unseen = None
                if unseen is not None and exhibit is self.exhibit and what not in library.clips:
                    self._unseen_failed.pop(what, None)
                    if add_unseen_clip(library, unseen):
                        self.unseen_generated.append(what)
                    added.append(what)
            for result in results:
                self._on_generated(result)
        return added

    # ------------------------------------------------------------------ starting and stopping (real time)
    def start_audio(self) -> None:
        """The director's first choice (idle ambience, or silence outside opening hours), then the engine."""
        assert self.engine is not None and self.director is not None
        schedule = self.schedule
        opening = schedule.hours.state_at(self._wall_clock()) if schedule is not None else None
        self.director.start(self.clock.monotonic(), open_=opening is None or opening.open)
        self.engine.start()

    def start_schedule(self) -> None:
        if self.schedule is not None:
            self.schedule.start()

    def start_camera(self) -> None:
        """A frame grabber thread on the camera (a new one after a reload changed the camera)."""
        from art2mus.installation.vision.grabber import FrameGrabber

        assert self.camera is not None
        if self.grabber is not None:
            self.grabber.stop()
        self.grabber = FrameGrabber.from_config(
            self.camera, self.exhibit.camera.reconnect_max_seconds, clock=self.clock.monotonic
        )
        self.grabber.start()

    def start_control_panel(self) -> None:
        """Serve the control panel. A port in use fails the start when ``control_panel.required`` (the
        caller stops what was started); otherwise it is logged and skipped, so the room still plays."""
        panel = self.control_panel
        if panel is None:
            return
        try:
            panel.start()
        except OSError as exc:
            self._panel_unavailable(exc)

    def _panel_unavailable(self, exc: OSError) -> None:
        """The panel's address cannot be bound: a :class:`ControlPanelError` when ``control_panel.required``,
        else logged, and the room plays without a panel."""
        panel = self.control_panel
        assert panel is not None
        if self.exhibit.control_panel.required:
            from art2mus.kiosk_ui.server import ControlPanelError

            where = (  # the port the command line gave, or the exhibit's
                "give another --panel-port" if self._panel_port_given else "choose another control_panel.port"
            )
            raise ControlPanelError(
                f"control panel: cannot listen on {panel.host}:{panel.requested_port} ({exc}); "
                f"free the port, {where}, or set control_panel.required: false"
            ) from exc
        logger.error(  # not required: a port in use must not keep the room silent
            "control panel: cannot listen on %s:%s (%s); running without it",
            panel.host,
            panel.requested_port,
            exc,
        )
        self.control_panel = None

    def start(self) -> None:
        """Everything started, in the order of the data flow's needs: audio first, the panel last."""
        self.start_audio()
        self.start_schedule()
        self.start_camera()
        self.start_control_panel()

    def stop(self) -> None:
        """Everything stopped, in reverse start order: the panel, a reload being prepared, the schedule,
        the camera, the generator process, then the audio."""
        if self.control_panel is not None:
            self.control_panel.stop()
        self.abandon_reload()
        if self.schedule is not None:
            self.schedule.stop()
        if self.grabber is not None:
            self.grabber.stop()
        self.close()
        if self.engine is not None:
            self.engine.stop()

    def run(
        self,
        stop: threading.Event,
        duration_s: float | None = None,
        on_ready: Callable[[Gallery], None] | None = None,
    ) -> None:
        """Run in real time until ``stop`` is set or ``duration_s`` seconds have passed; ``on_ready(self)``
        is called once the audio, the camera and the control panel have started."""
        from art2mus.installation.watchdog import RoomStatusLine, Watchdog

        assert self.engine is not None and self.director is not None and self.camera is not None
        # systemd's (no-op elsewhere); its status line follows the room (open, closed, a lost camera, a refused reload)
        watchdog = Watchdog.from_environment(
            clock=self.clock.monotonic, describe=RoomStatusLine(self, self._wall_clock)
        )
        started = self.clock.monotonic()
        try:
            self.start()
            self.hold_cache_record()  # held since build(), or from here
            if on_ready is not None:
                on_ready(self)
            watchdog.ready()
            self._follow_camera_until(stop, started, duration_s, watchdog)
        finally:
            watchdog.stopping()
            self.stop()

    def _follow_camera_until(
        self, stop: threading.Event, started: float, duration_s: float | None, watchdog: Any
    ) -> None:
        """The main loop: reloads between two frames, each new frame through vision to the director."""
        assert self.director is not None and self.engine is not None
        last_index: int | None = None
        frame_gap = FrameGapLog(started)
        unseen_beside = not isinstance(self.clock, ManualClock)  # a simulated clock: in-line, as a reload
        failures, last_failure_log = 0, -math.inf
        while not stop.is_set():
            now = self.clock.monotonic()
            if duration_s is not None and now - started >= duration_s:
                break
            if watchdog.due():  # fed only while the mix clock runs and camera frames arrive
                watchdog.beat(*self._vital_signs())
            if self._background_reload is None:  # while one is prepared, systemd's line says "reloading"
                watchdog.show()  # the status line, once a second at most, sent when the room changed
            if self.reload_between_frames(watchdog):  # prepared beside the room, swapped in here
                last_index = None  # a new camera: a new grabber for it
            self.add_unseen_made()  # made beside the room, added here
            grabber = self.grabber
            frame = grabber.wait_for_frame(last_index, timeout=0.25)
            now = self.clock.monotonic()
            if frame is None:
                if frame_gap.due(now):
                    health = grabber.health()
                    logger.warning(
                        "%s: %s, no new frame (%s)", camera_named(health.source), health.state, health.last_error
                    )
                # no frames: vision cannot choose anything; let the idle timer run on
                if self.decision is not None:
                    self.director.update(VisionDecision(now, "none"), now)
                continue
            last_index = frame.index
            frame_gap.frame(now)
            try:
                self._follow(frame, now, unseen_beside=unseen_beside)
            except Exception:  # noqa: BLE001 - the top of the main loop: one bad frame must not stop the room
                failures += 1
                if now - last_failure_log >= 60.0:
                    logger.exception("processing a frame failed (%d times so far); carrying on", failures)
                    last_failure_log = now

    def _vital_signs(self) -> tuple[float, int, bool]:
        """What the systemd watchdog is fed on: (the mix clock in seconds, camera frames so far, whether
        the camera is down and being reopened)."""
        assert self.engine is not None
        health = self.grabber.health()
        return self.engine.position_s, health.frames, health.state != "streaming"

    def simulate(
        self,
        duration_s: float,
        *,
        on_tick: Callable[[float], None] | None = None,
        tick_s: float = 60.0,
        on_generating: Callable[[str, float], None] | None = None,
    ) -> None:
        """Run ``duration_s`` seconds of the camera's video through the gallery as fast as the machine allows.

        Needs a :class:`ManualClock` and a video source played as fast as possible (frames stamped with
        their time in the video); the engine is pumped after each frame, so a clock-paced output (WAV)
        receives exactly ``duration_s`` seconds of mix. ``on_tick(seconds simulated)`` is called every
        ``tick_s`` of simulated time (progress, soak measurements). ``on_generating(what, seconds
        simulated)`` is called when the walk has just handed an unseen artwork's soundscape to the
        generator process (a slow generator's), before the director plays it; the simulated clock stands
        still until it returns, so a caller that waits there for the rendering has the walk hear it.
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
                generating = None
                if on_generating is not None:
                    generating = lambda what, t=now - start: on_generating(what, t)  # noqa: E731
                self._follow(frame, now, generating)
                self.engine.pump()
                if on_tick is not None and now - start >= next_tick:
                    on_tick(now - start)
                    next_tick += tick_s
            if clock.monotonic() - start < duration_s:  # the video ended early: play out the rest
                clock.advance(start + duration_s - clock.monotonic())
            self.engine.mix_rest()  # the last part of a block too: the mix lasts exactly duration_s
        finally:
            stream.close()
            self.engine.close()

    def _on_generated(self, result: GenerationResult) -> None:
        """The generator process finished a job (supervisor thread). Before the library is complete the
        result waits (the bridge it replaces may not be in place yet)."""
        with self._results_lock:
            if result.what in self._unseen_making:  # its bridge is still being made beside the loop
                self._unseen_results.setdefault(result.what, []).append(result)
                return
            if self.director is None or self._rebuilding:
                self._early_results.append(result)
                return
        self._apply_generated(result)

    def _apply_generated(self, result: GenerationResult) -> None:
        """Swap the generated rendering in, or keep the bridge (also when the rendering is unusable)."""
        assert self.director is not None and self.engine is not None
        source = self.soundscape_source(self.exhibit)
        try:
            clip = source.generated_clip(result, self.engine)
        except Exception:  # noqa: BLE001 - e.g. NaN in a rendering: the bridge plays on
            logger.exception(
                "%s: the generator process's rendering cannot be played; the bridge stays", result.what
            )
            clip = None
        if clip is None:
            self.director.generation_failed(result.what)
        else:
            self.director.replace_clip(
                result.what, clip, result.generator, source.generated_reload(result, self.engine)
            )

    def hold_cache_record(self, *, quiet: bool = False) -> None:
        """Record this room's cache keys for ``cache prune`` (:class:`CacheInUse`), once; released by
        :meth:`close`. ``quiet``: a failure is a debug line (an early try, made again)."""
        if self.cache_in_use is None:
            self.cache_in_use = CacheInUse.hold(self.cache, self.exhibit, quiet=quiet)

    def close(self) -> None:
        """Stop the generator process (the audio, camera and panel stop with :meth:`run`) and give up the
        record of what this room plays."""
        if self.worker is not None:
            self.worker.stop()
        if self.cache_in_use is not None:
            self.cache_in_use.release()
            self.cache_in_use = None
