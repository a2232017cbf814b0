"""What the control panel and the signals ask of a running gallery: play an artwork or the idle ambience,
follow the camera again, the master volume, a presence sensor, re-read the exhibit, and the status and
collection the panel shows.

:class:`GalleryControl` is a part of :class:`~art2mus.installation.gallery.Gallery` (which inherits it), kept
apart so that the gallery module holds the wiring only; it reads the services the gallery built
(``director``, ``engine``, ``vision``, ``grabber``, ``schedule``, ``worker``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.background_reload import BackgroundReload, ReloadAbandoned
from art2mus.installation.cache_in_use import CacheInUse
from art2mus.installation.config import ExhibitConfig
from art2mus.installation.schedule import OpeningHours
from art2mus.installation.soundscapes import IDLE_KEY
from art2mus.installation.vision.pipeline import VisionPipeline, recognition_inputs
from art2mus.installation.vision.sources import camera_source_from_config
from art2mus.installation.vision.unseen import UNSEEN_PREFIX

logger = logging.getLogger(__name__)

#: a reference photo's field (``artworks[2].images[0]``), and how a problem with one that is there but
#: cannot be decoded begins (``installation.config.files``)
_PHOTO_FIELD = re.compile(r"^artworks\[\d+\]\.images\[\d+\]$")
_UNREADABLE_PHOTO = "not a readable image"

#: the settings that are only read at start: a reload that changes one reports that a restart is needed
START_ONLY = (
    "audio.output",
    "audio.sample_rate",
    "audio.channels",
    "audio.buffer_seconds",
    "control_panel",
    "cache",
)

#: the longest in-line reload (a simulated clock's) the systemd watchdog is fed through while the room plays
#: (seconds): one still running after an hour is taken to be stuck, and systemd restarts the daemon
RELOAD_FED_FOR_S = 3600.0

#: how long a stop waits for a reload being prepared to notice it (seconds): a render under way is not
#: waited for (systemd's TimeoutStopSec=20 kills a stop that takes longer)
ABANDON_RELOAD_WITHIN_S = 2.0


@dataclasses.dataclass
class PreparedReload:
    """What :meth:`GalleryControl.reload` made beside the running room, ready to be swapped in."""

    at: str  # when it was begun (ISO time, the collection's zone)
    old: ExhibitConfig  # the exhibit it replaces
    config: ExhibitConfig
    library: Any  # SoundscapeLibrary
    vision: VisionPipeline | None  # the running one when recognition is unchanged
    camera: Any  # a new CameraSource, or None when the camera is unchanged
    hours_changed: bool
    restart_needed: list[str]


def release_freed_memory() -> None:
    """Hand the heap pages freed by a reload back to the system.

    A reload builds the new vision pipeline (and the library's changed soundscapes) beside the running
    ones before dropping those. glibc keeps most of what is then freed inside its heap
    (large arrays freed once raise its mmap threshold, so the next ones come from the heap), and the
    resident size stepped up by about one library at each of the first reloads (341 -> 534 MB in the
    fault soak) although nothing stayed referenced. ``malloc_trim(0)`` returns the free pages; elsewhere
    than glibc this does nothing.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class GalleryControl:
    """The control methods of :class:`~art2mus.installation.gallery.Gallery` (see the module docstring)."""

    #: the reload being prepared beside the running room (None: none is)
    _background_reload: BackgroundReload | None = None
    #: while one is: its progress lines (photo checks, index build) sent as systemd's status line
    _reload_progress: contextlib.ExitStack | None = None
    #: the record of the cache keys the running room plays, for ``cache prune`` (None: not running)
    cache_in_use: CacheInUse | None = None

    def request_reload(self) -> None:
        """Ask the running gallery to re-read its exhibit file (SIGHUP, ``systemctl reload``, the control
        panel); the main loop begins it between two frames and prepares it beside the running room
        (:meth:`reload_between_frames`). Until it is done the status says since when one is under way (its
        ``reload`` is still the previous outcome); one asked for meanwhile is begun once it is done."""
        if self.reload_requested_at is None:
            self.reload_requested_at = self._local_time()
        self._reload.set()

    def reload(self) -> bool:
        """Re-read the exhibit file and apply it, keeping what plays where it can; True when applied.

        Never raises: a reload that fails for any reason is logged and reported in :attr:`last_reload`,
        and the room plays on. A file with problems changes nothing: each problem is logged
        (file:line:col field: expected) and the running configuration stays. An unchanged soundscape
        keeps its clip (nothing is read: see :meth:`SoundscapeSource.library`'s ``previous``), a changed
        one comes from the cache or is rendered, the running recognition is kept while its settings and
        reference photos are unchanged (else rebuilt, going on with the artwork the camera has chosen:
        :meth:`VisionPipeline.take_over`), and opening hours, idle timing, loudness and crossfades take
        effect at once. The audio output and format and the control panel's address are only read at
        start: a change there is reported as needing a restart.

        All of that is prepared on the calling thread; the swap is made there too, except on the thread
        of a :class:`BackgroundReload`, which hands it to the main loop (the room recognises and decides
        with the running configuration meanwhile).
        """
        at = self._local_time()
        try:
            prepared = self._prepare_reload(at)
            if prepared is None:
                return False
            background = self._background_reload
            if background is not None and background.is_preparing_thread():
                applied = background.hand_over(self._apply_reload, prepared)
            else:
                applied = self._apply_reload(prepared)
            del prepared  # what the reload replaced is free now: hand it back (not on the loop's time)
            release_freed_memory()
            return applied
        except ReloadAbandoned:
            logger.info("reload of %s abandoned: the gallery is stopping", self.exhibit.source_file)
            return False
        except Exception as exc:  # noqa: BLE001 - a reload must never stop the room
            logger.exception("reload of %s failed; the room plays on", self.exhibit.source_file)
            self.last_reload = _reload_outcome(at, [f"{type(exc).__name__}: {exc}"])
            return False
        finally:
            if not self._reload.is_set():  # another one asked for meanwhile runs next: it is still under way
                self.reload_requested_at = None

    def reload_between_frames(self, watchdog: Any) -> bool:
        """The main loop's part in reloads, between two frames: begin the one asked for, swap in the one
        prepared, end the one done (READY=1 to systemd, the telemetry). True when the camera changed (the
        loop reads the new grabber from its first frame).

        With the real clock a reload is prepared on a :class:`BackgroundReload`'s thread (seconds, minutes
        when a model renders) while this loop recognises and decides on; the swap pauses the loop for
        milliseconds. With a simulated clock it runs in-line, as :meth:`simulate` and the tests that move
        the clock need it to: every decision at the same simulated time whatever the machine's speed."""
        background = self._background_reload
        if background is not None:
            background.swap_if_ready()
            if background.running:
                return False
            self._background_reload = None
            self._end_reload_progress()
            watchdog.ready()
            self.telemetry.reloaded(background.outcome is True)
            return self._follow_new_camera()
        if not self._reload.is_set():
            return False
        self._reload.clear()
        if isinstance(self.clock, ManualClock):
            # fed meanwhile from a helper thread, on the same signs of life as the loop
            with (
                watchdog.reloading(self._vital_signs, max_s=RELOAD_FED_FOR_S),
                watchdog.notifier.progress_as_status(),
            ):
                outcome = self.reload()
            self.telemetry.reloaded(outcome)
            return self._follow_new_camera()
        watchdog.notifier.reloading()  # READY=1 once it is done, with the room's status line
        self._reload_progress = contextlib.ExitStack()
        self._reload_progress.enter_context(watchdog.notifier.progress_as_status())
        self._background_reload = BackgroundReload(self.reload)  # set before its thread asks for it
        self._background_reload.start()
        return False

    def abandon_reload(self, wait_s: float = ABANDON_RELOAD_WITHIN_S) -> None:
        """The gallery stops: a reload being prepared is dropped (the stop waits ``wait_s`` at most)."""
        background, self._background_reload = self._background_reload, None
        if background is not None:
            background.abandon(wait_s)
        self._end_reload_progress()

    def _end_reload_progress(self) -> None:
        """The reload's progress lines no longer go to systemd's status line."""
        progress, self._reload_progress = self._reload_progress, None
        if progress is not None:
            progress.close()

    def _follow_new_camera(self) -> bool:
        """After a reload: a new camera gets a new grabber. True when it did."""
        if not self._camera_changed:
            return False
        self._camera_changed = False
        self.start_camera()
        return True

    def _check_reload(self) -> None:
        """Between a reload's steps: :class:`ReloadAbandoned` once the gallery is stopping."""
        background = self._background_reload
        if background is not None and background.is_preparing_thread():
            background.check()

    def _local_time(self) -> str:
        """Now in the collection's timezone (``2026-12-06T09:27:36+01:00``), as the panel's timeline gives
        its times: the reload's time was UTC ('08:27:36+00:00') beside a timeline in Europe/Rome."""
        zone = ZoneInfo(self.exhibit.collection.timezone)
        return self._wall_clock().astimezone(zone).isoformat(timespec="seconds")

    def _prepare_reload(self, at: str) -> PreparedReload | None:
        """Everything a reload needs made beside the running room (the file validated, the soundscapes,
        the recognition, the camera, the opening hours); nothing running is changed. None when refused or
        failed (:attr:`last_reload` says why). Reads, never replaces, what the loop uses: ``exhibit``,
        ``library`` (a thread-safe shelf, whose unchanged clips are taken over) and ``vision``."""
        assert self.engine is not None and self.director is not None
        path = self.exhibit.source_file
        config, problems = _validate_reload(path) if path is not None else (None, [])
        self._check_reload()
        if config is None or problems:
            for problem in problems:
                logger.error("reload: %s", problem)
            logger.error(
                "reload of %s refused (%d problem%s); still running the previous configuration",
                path,
                len(problems),
                "" if len(problems) == 1 else "s",
            )
            self.last_reload = _reload_outcome(at, [str(p) for p in problems])
            return None
        old = self.exhibit
        if self.worker is not None:  # a technician is here: the model gets its chance now, not in hours
            self.worker.try_again_now("a reload")
        with self._results_lock:
            self._rebuilding = True
        try:
            # what is unchanged is taken over, not read again; the rest is let go before it is read
            library = self.soundscape_source(config).library(
                self.engine, lambda *_: self._check_reload(), previous=self.library
            )
            # the running pipeline (what the camera has chosen, the tracker, presence) is kept when the
            # recognition is read the same way: a new one chose nothing until the artwork had dwelt again
            vision = self.vision
            if vision is None or recognition_inputs(old) != recognition_inputs(config):
                vision = VisionPipeline.from_config(config, clock=self.clock.monotonic)
            self._check_reload()
            camera = None  # a new camera and new opening hours are made before anything changes
            if old.camera != config.camera:
                camera = camera_source_from_config(config.camera, clock=self.clock.monotonic)
            hours_changed = self.schedule is not None and (
                old.schedule != config.schedule or old.collection.timezone != config.collection.timezone
            )
            if hours_changed:
                OpeningHours.from_exhibit(config)
        except Exception as exc:  # whatever fails, the running configuration must stay
            with self._results_lock:
                self._rebuilding = False
                early, self._early_results = self._early_results, []
            for result in early:
                self._apply_generated(result)
            release_freed_memory()
            if isinstance(exc, ReloadAbandoned):
                raise
            logger.exception(
                "reload of %s failed while preparing it; still running the previous configuration", path
            )
            self.last_reload = _reload_outcome(at, [f"{type(exc).__name__}: {exc}"])
            return None
        restart_needed = [name for name in START_ONLY if _setting(old, name) != _setting(config, name)]
        return PreparedReload(at, old, config, library, vision, camera, hours_changed, restart_needed)

    def _apply_reload(self, prepared: PreparedReload) -> bool:
        """Swap a prepared reload in (on the main loop's thread while the room runs: a few milliseconds).
        False, nothing changed, when the running exhibit is no longer the one it was prepared from."""
        assert self.engine is not None and self.director is not None
        old, config, library, vision = prepared.old, prepared.config, prepared.library, prepared.vision
        if old is not self.exhibit:  # cannot happen: one reload at a time; never swap in a stale one
            raise RuntimeError("the exhibit changed while the reload was prepared")
        now = self.clock.monotonic()
        previous = self.library
        if previous is not None:  # what the room chose during the preparation and read again comes along
            _take_clips_read_meanwhile(library, previous)
        self.exhibit = config  # before the library swap: the event it sends names what plays by the new titles
        if self.vision is not None and vision is not self.vision:  # what it has chosen carries on
            vision.take_over(self.vision, same_presence=old.presence == config.presence)
        elif vision is not None and vision.unseen is not None and vision.unseen.store is not None:
            # kept: the curator's forget, ignore and promote take effect at a reload all the same
            vision.unseen.store.reloaded(config.unseen.remember)
        self.vision = vision
        self.engine.loudness_lufs = config.audio.loudness_lufs
        self.engine.crossfade_seconds = config.audio.crossfade_seconds
        if config.audio.master_volume != old.audio.master_volume:  # the file's room level is new: it wins
            self.set_master_volume(config.audio.master_volume, config.schedule.ramp_seconds)
        with self._results_lock:
            self.director.replace_library(library, config.idle.after_seconds, now)
            self.library = library
            self._rebuilding = False
            early, self._early_results = self._early_results, []
        for result in early:
            self._apply_generated(result)
        if config.audio.loudness_lufs != old.audio.loudness_lufs:
            self._play_at_new_loudness()
        if prepared.camera is not None:
            self._camera = None
            self.camera = prepared.camera
            self._camera_changed = True
        if prepared.hours_changed:
            running = self.schedule.state is not None
            self.schedule.stop()
            self.init_schedule(config)
            if running:
                self.schedule.start()
        if self.cache_in_use is not None:  # written on its own thread: the room's loop does not wait
            self.cache_in_use.update(config)
        for name in prepared.restart_needed:
            logger.warning("reload: %s changed; that takes effect at the next restart", name)
        logger.info("reloaded %s (%d artworks)", config.source_file, len(config.artworks))
        # last: a reader waiting on it finds it all
        self.last_reload = _reload_outcome(prepared.at, [], prepared.restart_needed)
        return True

    def _play_at_new_loudness(self) -> None:
        """What sounds, played again after a reload changed ``audio.loudness_lufs``: a clip the reload
        kept (a curator's audio file, an unchanged idle ambience) is one the director leaves alone, and it
        went on at the old target while the rest of the room moved (-23 -> -17 LUFS: 6 dB under it). The
        engine plays the same clip on in the same voice and ramps its level over the crossfade; one that
        has just begun to crossfade in at the new target goes on as it was."""
        assert self.director is not None and self.engine is not None
        playing, library = self.director.playing, self.director.library
        if playing == IDLE_KEY:
            self.engine.play_idle()
        elif playing is not None and playing in library.clips and library.clips.is_held(playing):
            self.engine.play(library.clips[playing], gain_db=library.gains_db.get(playing, 0.0))

    def play_artwork(self, artwork_id: str) -> None:
        """Play ``artwork_id`` whatever the camera sees, until :meth:`follow_camera` (KeyError if unknown,
        :class:`~art2mus.installation.director.NoSoundscapeError` if it has no soundscape)."""
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
        """Ramp the room's level (linear 0..1) over ``ramp_s`` seconds (ValueError outside 0..1); the
        engine plays it times the opening-hours period's volume."""
        assert self.engine is not None
        self.engine.set_master_volume(volume * self.period_volume, ramp_s)
        self.room_volume = volume

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
                "duration_s": round(library.clips.duration_s(a.id), 1)
                if library and a.id in library.clips
                else None,
                "problems": self.artwork_problems().get(a.id, []),
                # False: left out of the library, nothing to play or listen to (problems say why)
                "playable": library is not None and a.id in library.clips,
            }
            for a in self.exhibit.artworks
        ]

    def artwork_problems(self) -> dict[str, list[str]]:
        """Artwork id (or ``idle``) -> why it is left out or degraded: its soundscape could not be made
        (:attr:`SoundscapeLibrary.problems`), or its reference photos cannot be recognised
        (:attr:`VisionPipeline.excluded`); the room plays the rest."""
        library = self.library
        problems: dict[str, list[str]] = {}
        for what, reason in (library.problems if library is not None else {}).items():
            problems.setdefault(what, []).append(f"no soundscape: {reason}")
        for what, reason in (library.stand_ins if library is not None else {}).items():
            problems.setdefault(what, []).append(f"a stand-in soundscape: {reason}")
        for what, reason in (self.vision.excluded if self.vision is not None else {}).items():
            problems.setdefault(what, []).append(f"not recognised by the camera: {reason}")
        return problems

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
            "camera": _camera_status(grabber.health()) if grabber is not None else None,
            "audio": self.engine.status() if self.engine else None,
            # clips, those decoded now and their MB within audio.memory_mb, reads again and releases
            "soundscapes": self.library.clips.stats() if self.library else None,
            # hits, misses, corrupt entries, and renderings it could not store (a full or read-only disk)
            "cache": self.cache.status() if getattr(self, "cache", None) is not None else None,
            "volume": {"room": self.room_volume, "period": self.period_volume},
            "reload": self.last_reload,
            "reload_requested_at": self.reload_requested_at,  # a reload under way since then (None: none)
            "schedule": self.schedule.state.to_json() if self.schedule and self.schedule.state else None,
            "generation": self.generation_status(),
            "events": [e.to_json() for e in list(director.events)[-20:]] if director else [],
            "problems": self.artwork_problems(),
            # how the panel names the unseen artworks above (the collection's titles are GET /api/artworks')
            "titles": self.unseen_titles(
                [director.playing, director.override, *(e.what for e in list(director.events)[-20:])]
                if director
                else []
            ),
        }

    def unseen_titles(self, whats: list[str | None]) -> dict[str, str]:
        """``unseen:<id>`` -> a name to show for each unseen artwork among ``whats``: 'unseen artwork
        u4585… (seen 3 times)', where the panel said 'Now playing unseen:u45853f3f3e4a4a30' (its titles
        are the collection's only). The count is the room's memory of it (``unseen.json``)."""
        unseen = getattr(self.vision, "unseen", None)
        remembered = unseen.store.artworks if unseen is not None else {}
        titles: dict[str, str] = {}
        for what in whats:
            if not what or not what.startswith(UNSEEN_PREFIX) or what in titles:
                continue
            artwork_id = what[len(UNSEEN_PREFIX) :]
            known = remembered.get(artwork_id)
            seen = "" if known is None else f" (seen {known.sightings} time{'' if known.sightings == 1 else 's'})"
            titles[what] = f"unseen artwork {artwork_id[:5]}…{seen}"
        return titles

    def generation_status(self) -> dict[str, Any] | None:
        """The generator process's :class:`WorkerStatus` (None before it started), with ``problems``: one
        sentence for each generator that cannot load and whose fallback plays instead (the health stays
        good: a restart cannot mend a model file, but the panel's attention says it), and the ``stalled``
        sentence while the process has taken no job for a while (frozen: it is restarted soon)."""
        if not (self.worker and self.worker.started):
            return None
        generation = dataclasses.asdict(self.worker.status())
        generation["problems"] = [
            self._cannot_load_problem(name, error)
            for name, error in generation["cannot_load"].items()
            if name in self.exhibit.generators  # a reload may have dropped it
        ]
        if generation.get("stalled"):  # alive to is_alive(), deaf to its jobs: the bridges play meanwhile
            generation["problems"].append(generation["stalled"])
        return generation

    def _cannot_load_problem(self, name: str, error: str) -> str:
        """What the status says of generator ``name`` that cannot load (``error``): why, and how many
        soundscapes its fallback plays for."""
        library = self.library
        made_by = library.made_by if library is not None else {}
        bridged = [
            a.id for a in self.exhibit.artworks if a.soundscape.generator == name and made_by.get(a.id, name) != name
        ]
        idle = self.exhibit.idle.generator == name and made_by.get(IDLE_KEY, name) != name
        fallback = self.soundscape_source(self.exhibit).fallback(name)
        played = f"{len(bridged)} artwork{'' if len(bridged) == 1 else 's'}"
        played += " and the idle ambience" if idle else ""
        return f"generator {name!r} cannot load: {error}; its fallback {fallback!r} plays for {played}"


def _camera_status(health: Any) -> dict[str, Any]:
    """The camera's :class:`GrabberHealth` as the status says it: no frame rate once it is not streaming
    (the grabber's rate covers the last few seconds, so a lost camera showed its old 10 fps)."""
    camera = dataclasses.asdict(health)
    if camera["state"] != "streaming":
        camera["fps"] = 0.0
    return camera


def _validate_reload(path: Any) -> tuple[ExhibitConfig | None, list[Any]]:
    """The reloaded exhibit at ``path`` and its problems, as :meth:`GalleryControl.reload` judges them.

    A reference photo that is missing (a typo: ``harbour-light.png``) is a problem, as ``art2mus validate``
    says: the reload took it, and the soundscape and idle ambience were made again from a plain grey
    picture. A photo that is there but cannot be read is not: that artwork is left out of recognition
    (:mod:`art2mus.installation.vision.photo_check`) and the rest applies. A start keeps going with both
    (a room switched on is never silent); a reload has a running room to keep instead."""
    from art2mus.installation.config import validate_exhibit

    config, problems = validate_exhibit(path, audio_may_fail=True)
    unreadable = [
        p for p in problems if _PHOTO_FIELD.match(p.field) and p.message.startswith(_UNREADABLE_PHOTO)
    ]
    if not unreadable:
        return config, problems
    if len(unreadable) < len(problems):
        return None, [p for p in problems if p not in unreadable]
    return validate_exhibit(path, audio_may_fail=True, photos_may_fail=True)


def _take_clips_read_meanwhile(library: Any, previous: Any) -> None:
    """Hand ``library`` (a reload's) the decoded clips of its unchanged soundscapes that ``previous`` read
    again while the reload was prepared (chosen meanwhile, after the preparation had taken them over
    unread): taken as they are, not read a second time at the swap."""
    for what in library.kept:
        if what in previous.clips and what in library.clips:
            if previous.clips.is_held(what) and not library.clips.is_held(what):
                library.clips.take(what, previous.clips, library.clips.reload_of(what))


def _setting(exhibit: ExhibitConfig, dotted: str) -> Any:
    """``exhibit``'s setting at ``dotted`` (``audio.output``)."""
    value: Any = exhibit
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _reload_outcome(at: str, problems: list[str], restart_needed: list[str] | None = None) -> dict[str, Any]:
    """What :attr:`Gallery.last_reload` holds: applied (no problems) or refused, and what needs a restart."""
    return {"ok": not problems, "at": at, "problems": problems, "restart_needed": restart_needed or []}
