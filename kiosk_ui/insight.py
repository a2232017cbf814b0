"""What the control panel derives from the running gallery: why it needs attention, what an artwork's
reference photo and soundscape are, and the Prometheus metrics. Everything here reads the gallery
(duck-typed: ``status()``, ``telemetry``, ``exhibit``, ``library``, ``vision``); nothing changes it."""

from __future__ import annotations

import collections
import io
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

#: seconds without a camera frame before the panel asks for attention
FRAME_AGE_ATTENTION_S = 5.0


def attention(status: dict[str, Any]) -> list[str]:
    """The reasons the room needs a technician, in plain words (empty: all is well).

    A room closed by its opening hours is not one: it is silent as it should be (``status["schedule"]``
    says so, and ``art2mus_schedule_open`` in the metrics), and an alert on ``art2mus_attention`` fired
    every night."""
    causes = []
    camera = status.get("camera") or {}
    age = camera.get("last_frame_age_s")
    if camera and (camera.get("state") != "streaming" or age is None or age > FRAME_AGE_ATTENTION_S):
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


class GalleryCollector:
    """Prometheus metrics read from the gallery at each scrape (prometheus_client's custom collector)."""

    def __init__(self, gallery: Any):
        self.gallery = gallery

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status = self.gallery.status()
        telemetry = getattr(self.gallery, "telemetry", None)
        counters = telemetry.counters if telemetry is not None else {}

        def gauge(name: str, doc: str, value: float | None) -> Any:
            return GaugeMetricFamily(
                f"art2mus_{name}", doc, value=float("nan") if value is None else float(value)
            )

        def counter(name: str, doc: str, value: float) -> Any:
            return CounterMetricFamily(f"art2mus_{name}", doc, value=float(value))

        camera = status.get("camera") or {}
        yield gauge(
            "camera_frame_age_seconds",
            "Seconds since the newest camera frame.",
            camera.get("last_frame_age_s"),
        )
        yield gauge("camera_fps", "Camera frames per second.", camera.get("fps", 0.0))
        yield gauge("camera_up", "1 while the camera streams.", camera.get("state") == "streaming")
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
        yield gauge("audio_peak_dbfs", "Recent output peak, dBFS.", audio.get("peak_dbfs"))
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
            "audio_master_volume", "The engine's master volume now (linear).", audio.get("master_volume")
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
        yield gauge(
            "generation_process_up", "1 while the generator process runs.", bool(generation.get("alive"))
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
