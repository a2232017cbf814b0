"""What the control panel derives from the running gallery: why it needs attention, what an artwork's
reference photo and soundscape are, and the Prometheus metrics. Everything here reads the gallery
(duck-typed: ``status()``, ``telemetry``, ``exhibit``, ``library``, ``vision``); nothing changes it."""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

#: seconds without a camera frame before the panel asks for attention
FRAME_AGE_ATTENTION_S = 5.0
#: what ``art2mus_audio_peak_dbfs`` reads for digital silence, dBFS: a number an alert can compare (NaN
#: compares false with everything, so ``peak < -60`` never fired on a silent room), below any real signal
#: (16-bit audio's floor is -96 dBFS) and finite, so averages and graphs stay usable (-Inf would not)
SILENCE_DBFS = -120.0


@dataclasses.dataclass(frozen=True)
class DaemonProcess:
    """Which process serves the panel: ``pid``, ``started_at`` (Unix time, seconds) and the art2mus
    ``version``; ``/api/health``, ``/api/status`` and ``/metrics`` report it, so a restart loop shows
    (``art2mus_start_time_seconds`` moves) and ``art2mus status`` / ``doctor`` can tell it is art2mus."""

    pid: int
    started_at: float
    version: str

    @classmethod
    def current(cls) -> DaemonProcess:
        """This process: its start time as the kernel has it (the panel starts minutes after the process
        on a first start), else now."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("art2mus")
        except PackageNotFoundError:  # run from a source tree without an install
            installed = "unknown"
        return cls(os.getpid(), process_start_time() or time.time(), installed)

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "pid": self.pid,
            "started_at": round(self.started_at, 3),
            "uptime_s": round(max(0.0, now - self.started_at), 1),
            "version": self.version,
        }


def process_start_time(proc: Path = Path("/proc")) -> float | None:
    """This process's start, Unix time in seconds, from ``/proc`` (as prometheus_client's
    ``process_start_time_seconds``: the start in clock ticks since boot plus the boot time); None where
    there is no ``/proc``."""
    try:
        fields = (proc / "self" / "stat").read_text().rpartition(")")[2].split()
        ticks = int(fields[19])  # field 22, starttime; the fields after the command name start at 3
        boot = next(
            float(line.split()[1])
            for line in (proc / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def attention(status: dict[str, Any]) -> list[str]:
    """The reasons the room needs a technician, in plain words (empty: all is well).

    A room closed by its opening hours is not one: it is silent as it should be (``status["schedule"]``
    says so, and ``art2mus_schedule_open`` in the metrics), and an alert on ``art2mus_attention`` fired
    every night."""
    causes = []
    camera = status.get("camera") or {}
    age = camera.get("last_frame_age_s")
    picture = camera_picture_fault(status)
    if picture is not None:  # a frozen picture's camera is reopened: the frames' age says nothing more
        causes.append(picture)
    elif camera and (camera.get("state") != "streaming" or age is None or age > FRAME_AGE_ATTENTION_S):
        since = f"for {age:.0f} s" if age is not None else "yet"
        causes.append(f"no camera frames {since} (camera {camera.get('state', 'unknown')})")
    audio = status.get("audio") or {}
    if not audio.get("healthy", False):
        error = audio.get("last_error")
        causes.append(
            "audio output down" + (f": {error}" if error else f" ({audio.get('state', 'not started')})")
        )
    generation = status.get("generation")
    if generation is not None and not generation.get("alive", True):
        causes.append("generator process down")
    if (generation or {}).get("stalled"):  # frozen between jobs: alive to is_alive(), deaf to its jobs
        causes.append((generation or {})["stalled"])
    # a generator that cannot load (a damaged model): the whole room plays its fallback, each artwork fine
    # (the status lists the stalled sentence among them too: said once)
    causes.extend(p for p in (generation or {}).get("problems") or [] if p not in causes)
    cache = status.get("cache") or {}
    if cache.get("write_error"):  # only in the log before: a full or read-only disk went unnoticed
        where = f" {cache['dir']}" if cache.get("dir") else ""
        causes.append(
            f"cache{where} not writable: {cache['write_error']}; soundscapes are rendered again at each start"
        )
    reload = status.get("reload")
    if reload is not None and not reload.get("ok", True):
        causes.append("reload refused: " + "; ".join(reload.get("problems") or []))
    broken = artworks_with_problems(status)
    if broken:  # one line for them all: a large collection's list is beside each artwork on the panel
        names = "; ".join(f"{what}: {', '.join(kinds)}" for what, kinds in broken.items())
        many = f"{len(broken)} artworks have" if len(broken) > 1 else "1 artwork has"
        causes.append(f"{many} problems ({shorten_list(names)})")
    return causes


def camera_picture_fault(status: dict[str, Any]) -> str | None:
    """What is wrong with the camera's picture (the grabber's ``picture``), or None: frozen (a stuck driver's
    identical frames: the camera is being reopened), or black while the room is open (a covered lens, the
    lights off; at night, closed, that is normal)."""
    camera = status.get("camera") or {}
    seconds = camera.get("picture_s") or 0.0
    if camera.get("picture") == "frozen":
        return f"camera picture frozen: identical frames for {seconds:.0f} s (a stuck driver?); reopening it"
    if camera.get("picture") == "black" and (status.get("schedule") or {}).get("open", True):
        return f"camera picture black for {seconds:.0f} s (covered, lights off?)"
    return None


#: the beginnings of ``status["problems"]`` lines that ask for a technician, and how the attention line
#: names them (a stand-in soundscape still plays and is recognised: it is listed beside the artwork only)
SERIOUS_PROBLEMS = {"no soundscape": "no soundscape", "not recognised by the camera": "not recognised"}


def artworks_with_problems(status: dict[str, Any]) -> dict[str, list[str]]:
    """Artwork id (or ``idle``) -> what is wrong with it, for those that cannot play or cannot be
    recognised (``status["problems"]``, as :meth:`Gallery.artwork_problems` words them)."""
    found: dict[str, list[str]] = {}
    for what, problems in (status.get("problems") or {}).items():
        kinds = [
            name for start, name in SERIOUS_PROBLEMS.items() if any(p.startswith(start) for p in problems)
        ]
        if kinds:
            found[what] = kinds
    return found


def shorten_list(text: str, limit: int = 300) -> str:
    """``text`` cut at ``limit`` characters (a thousand left-out artworks make one line, not a page)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def audible(status: dict[str, Any]) -> bool:
    """True when something really reaches the speakers (the output plays and the master is not silent).

    A room that has just closed is still heard while its closing fade lasts: the output still has a
    peak (``audio.peak_dbfs``; None once it is silent)."""
    audio = status.get("audio") or {}
    schedule = status.get("schedule") or {}
    sounding = schedule.get("open", True) or audio.get("peak_dbfs") is not None
    return bool(audio.get("healthy")) and (audio.get("master_volume") or 0) > 0 and sounding


def keypoints_per_artwork(gallery: Any) -> dict[str, int]:
    """Keypoints of each artwork's reference photos in the recognition index (its recognition quality)."""
    vision = getattr(gallery, "vision", None)
    index = getattr(getattr(vision, "recognizer", None), "index", None)
    if index is None:
        return {}
    per_ref = np.bincount(index.ref_of_keypoint, minlength=len(index.artwork_ids))
    counts: dict[str, int] = collections.Counter()
    for artwork, n in zip(index.artwork_ids, per_ref, strict=True):
        counts[artwork] += int(n)
    return dict(counts)


class ArtworkMedia:
    """Thumbnails of the reference photos and the soundscapes as FLAC, encoded once and kept (bounded).

    Only ids of the running exhibit are looked up, in dicts: no path is ever built from a request."""

    def __init__(self, gallery: Any, max_items: int = 16):
        self.gallery = gallery
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()

    def _cached(self, key: tuple, make: Any) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = make()
        with self._lock:
            self._items[key] = data
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return data

    def thumbnail(self, artwork_id: str, width: int = 240) -> bytes:
        """A JPEG of the artwork's first reference photo (KeyError for an unknown id)."""
        import cv2

        artwork = {a.id: a for a in self.gallery.exhibit.artworks}[artwork_id]
        path = Path(artwork.images[0])
        try:  # the file as it is now: a photo deleted or replaced showed its old thumbnail
            stat = path.stat()
        except OSError as exc:
            raise FileNotFoundError(f"cannot read the reference photo {path}: {exc.strerror}") from None

        def make() -> bytes:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f"cannot read the reference photo {path}")
            scale = min(1.0, width / image.shape[1])
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()

        return self._cached(("thumb", artwork_id, str(path), stat.st_mtime_ns, stat.st_size), make)

    def soundscape(self, what: str) -> bytes:
        """The soundscape the room plays for ``what`` (an artwork id or ``idle``) as FLAC (KeyError if none)."""
        import soundfile as sf

        library = self.gallery.library
        clip = library.idle if what == "idle" else library.clips[what]
        if clip is None:
            raise KeyError(what)

        def make() -> bytes:
            buffer = io.BytesIO()
            samples = np.clip(clip.samples, -1.0, 1.0)
            sf.write(buffer, samples, clip.sample_rate, format="FLAC", subtype="PCM_16")
            return buffer.getvalue()

        # the clip object itself, weakly: a clip let go (ClipShelf) and read again, or replaced by a generated
        # rendering, is a new object, and a dead reference equals no live one even where CPython gives
        # the new clip the freed one's id (which a key of id(clip) would take for the old audio)
        return self._cached(("sound", what, weakref.ref(clip)), make)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (start, end inclusive) of a single ``Range: bytes=...`` header; None without one; ValueError
    when it cannot be satisfied or is malformed."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec or "-" not in spec:
        raise ValueError(header)
    first, _, last = spec.strip().partition("-")
    if not first and not last:
        raise ValueError(header)
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        raise ValueError(header)
    if first == "":  # the last N bytes
        n = int(last)
        if n == 0:
            raise ValueError(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError(header)
    return start, end


def effective_volume(status: dict[str, Any]) -> float:
    """The level the room gets now, linear 0..1: the engine's master volume (the room's level times the
    opening-hours period's, ramping) times its ducking, and 0 when nothing reaches the speakers
    (:func:`audible`: a closed room once its fade has ended, an output that is down)."""
    if not audible(status):
        return 0.0
    audio = status.get("audio") or {}
    duck = 10.0 ** (-float(audio.get("duck_db") or 0.0) / 20.0)
    return float(audio.get("master_volume") or 0.0) * duck


class GalleryCollector:
    """Prometheus metrics read from the gallery at each scrape (prometheus_client's custom collector);
    ``process`` (default: this one) gives the start time and build information."""

    def __init__(self, gallery: Any, process: DaemonProcess | None = None):
        self.gallery = gallery
        self.process = process if process is not None else DaemonProcess.current()

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        status = self.gallery.status()
        telemetry = getattr(self.gallery, "telemetry", None)
        counters = telemetry.counters if telemetry is not None else {}

        def gauge(name: str, doc: str, value: float | None) -> Any:
            return GaugeMetricFamily(
                f"art2mus_{name}", doc, value=float("nan") if value is None else float(value)
            )

        def counter(name: str, doc: str, value: float) -> Any:
            return CounterMetricFamily(f"art2mus_{name}", doc, value=float(value))

        # the conventions of prometheus_client's own process_start_time_seconds and of *_build_info
        yield gauge(
            "start_time_seconds",
            "Start time of the daemon's process since the Unix epoch, seconds (a restart loop moves it: "
            "changes(art2mus_start_time_seconds[1h])).",
            self.process.started_at,
        )
        yield InfoMetricFamily(
            "art2mus_build",
            "The art2mus version running (always 1).",
            value={"version": self.process.version},
        )
        camera = status.get("camera") or {}
        yield gauge(
            "camera_frame_age_seconds",
            "Seconds since the newest camera frame.",
            camera.get("last_frame_age_s"),
        )
        yield gauge("camera_fps", "Camera frames per second.", camera.get("fps", 0.0))
        yield gauge("camera_up", "1 while the camera streams.", camera.get("state") == "streaming")
        yield gauge(
            "camera_picture_ok",
            "0 while the camera's picture is frozen (identical frames: the camera is reopened) or black while "
            "the room is open (covered, lights off), else 1.",
            None if not camera else camera_picture_fault(status) is None,
        )
        yield counter("camera_reconnects", "Camera streams reopened.", camera.get("reconnects", 0))
        yield counter("frames_processed", "Frames the vision pipeline processed.", counters.get("frames", 0))
        yield counter("recognitions", "Recognitions run on frames.", counters.get("recognitions", 0))
        yield counter("decisions", "Changes of the debounced vision decision.", counters.get("decisions", 0))
        events = CounterMetricFamily(
            "art2mus_director_events", "What the director played, by reason.", labels=["reason"]
        )
        for key, value in sorted(counters.items()):
            if key.startswith("event:"):
                events.add_metric([key[6:]], float(value))
        yield events
        audio = status.get("audio") or {}
        yield gauge("audio_output_up", "1 while the audio output plays.", bool(audio.get("healthy")))
        yield counter("audio_underruns", "Audio buffer underruns.", audio.get("underruns", 0))
        # silence the device played on its own (PortAudio's paOutputUnderflow: the callback came too late)
        yield counter(
            "audio_device_underflows",
            "Output underflows the sound card reported (PortAudio): audible dropouts below the engine's buffer.",
            (audio.get("output") or {}).get("device_underflows", 0),
        )
        yield counter("audio_output_losses", "Times the audio output was lost.", audio.get("losses", 0))
        peak = audio.get("peak_dbfs")
        yield gauge(
            "audio_peak_dbfs",
            f"Recent output peak, dBFS ({SILENCE_DBFS:g} for digital silence, the lowest it reads).",
            SILENCE_DBFS if peak is None or not math.isfinite(peak) else max(SILENCE_DBFS, peak),
        )
        yield gauge(
            "audio_loudness_lufs",
            "Short-term loudness (EBU, last 3 s) of what the speakers get, LUFS (NaN until 3 s have played).",
            audio.get("loudness_lufs"),
        )
        yield gauge(
            "audio_loudness_target_lufs",
            "The exhibit's loudness target (audio.loudness_lufs), LUFS.",
            audio.get("loudness_target_lufs"),
        )
        yield gauge(
            "audio_master_volume",
            "The engine's master volume now (linear): the room's level times the period's; it stays while "
            "the room is closed (see art2mus_audio_effective_volume).",
            audio.get("master_volume"),
        )
        yield gauge(
            "audio_effective_volume",
            "The level the room gets now (linear 0..1): master volume times ducking, 0 while nothing reaches "
            "the speakers (closed by the opening hours once faded out, output down).",
            effective_volume(status),
        )
        yield gauge("audible", "1 when sound reaches the speakers.", audible(status))
        schedule = status.get("schedule") or {}
        yield gauge(
            "schedule_open",
            "1 while the opening hours have the room open (0: closed, silent on purpose).",
            schedule.get("open", True),
        )
        shelf = status.get("soundscapes") or {}
        held_mb, budget_mb = shelf.get("held_mb"), shelf.get("budget_mb")
        yield gauge(
            "soundscapes_held_bytes",
            "Decoded soundscapes held in memory (the rest are read again when chosen).",
            None if held_mb is None else held_mb * 1e6,
        )
        yield gauge(
            "soundscapes_budget_bytes",
            "audio.memory_mb in bytes (NaN: every soundscape held).",
            None if budget_mb is None else budget_mb * 1e6,
        )
        cache = getattr(self.gallery, "cache", None)
        yield counter(
            "cache_write_failures",
            "Renderings the soundscape cache could not store (full or read-only disk).",
            cache.write_failures if cache is not None else 0,
        )
        yield counter(
            "cache_corrupt",
            "Soundscape cache entries found corrupt (removed, rendered again); the status's cache.corrupt.",
            cache.corrupt if cache is not None else 0,
        )
        generation = status.get("generation") or {}
        if status.get("generation") is not None:  # no process to be down in a procedural-only exhibit
            yield gauge(
                "generation_process_up",
                "1 while the generator process runs; absent where the exhibit starts none (procedural "
                "generators only), so an alert on == 0 never fires there.",
                bool(generation.get("alive")),
            )
        yield gauge("generation_queued", "Generation jobs waiting.", generation.get("queued", 0))
        # a frozen process (kill -STOP, a driver hang after its last job) read as up, its jobs queued forever
        yield gauge(
            "generation_oldest_queued_seconds",
            "Seconds the next generation job has waited for the generator process to take it (since its "
            "submission, the process's start or its last finished job; 0 while a job runs or none waits). "
            "The process is killed and restarted past its start timeout (120 s).",
            generation.get("oldest_queued_s", 0.0),
        )
        yield counter("generation_done", "Generation jobs finished.", generation.get("done", 0))
        yield counter("generation_failed", "Generation jobs failed.", generation.get("failed", 0))
        reloads = CounterMetricFamily("art2mus_reloads", "Exhibit reloads, by result.", labels=["result"])
        reloads.add_metric(["ok"], float(counters.get("reload_ok", 0)))
        reloads.add_metric(["refused"], float(counters.get("reload_refused", 0)))
        yield reloads
        yield gauge("attention", "Number of reasons the room needs a technician.", len(attention(status)))
        yield gauge(
            "artworks_with_problems",
            "Artworks (and the idle ambience) that cannot play or cannot be recognised.",
            len(artworks_with_problems(status)),
        )
