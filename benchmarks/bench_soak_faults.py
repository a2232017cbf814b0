"""Accelerated fault soak: 24 simulated hours of the demo under faults; does the room ever go silent?

Run through ``bench_soak.py --faults``. The demo exhibit (a copy in a temporary folder, opening hours
08:00-20:00, its cache copied) runs on a simulated clock with a null audio output; the simulated day
starts at opening time (08:30 for the first hour), so a short run is measured open: it started at
00:00, and ``--hours 8`` ran closed throughout and still reported 0 gaps. To fit 24 hours in
minutes, each simulated hour is ``--seconds-per-hour`` seconds of mix (default 60) holding every
event of that hour; the recognition is replaced by scripted camera decisions (a visitor moving between
artworks), so what is measured is the daemon around it: director, mixer, engine, reloads, the generator
hand-over, the cache and the control panel. Every hour brings camera drops and panel traffic, and in turn
one of: an audio-device loss (writes fail and reopening fails for 5 s), a generator-process crash (a job
reported failed), a generator hang (a job whose result never comes, then the nightly retry; and a real
generator process frozen with SIGSTOP between jobs while a job waits for it, which must be killed and
restarted, its job rendered, within its start timeout), cache files
overwritten with garbage followed by a reload, a reload of a broken exhibit file, and a reload that adds
an artwork whose audio holds NaN. Measured:

* gaps: runs of mix with every sample below -80 dBFS longer than the crossfade while open (target 0),
  and the seconds of mix measured open (``open_seconds_measured``: none, and the gaps mean nothing;
  ``bench_soak.py`` then exits 1);
* the frozen generator processes: seconds until the job waiting for each was rendered by a new process,
  and whether the status's attention said so meanwhile (target: all recovered);
* resident memory growth from the end of the warm-up (``warmup_hours``, default 6: the first cycle,
  where every fault and the first reloads happen once) to the end (target < 5 %), and from hour 1;
  every hour's resident size and the live soundscape libraries, vision pipelines and clips (a reload
  that kept old ones alive shows there); with ``trace`` the traced Python memory per hour and
  tracemalloc's top growers between the warm-up and the end;
* unhandled exceptions: any that escape a gallery call, and any thread's uncaught one (target 0).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml

SILENT_PEAK = 1e-4  # -80 dBFS
FAULTS = ("audio device loss", "generator crash", "generator hang", "corrupt cache", "bad reload", "NaN artwork")
#: the exhibit's opening hours (the simulated day starts at the first, half past)
OPENS, CLOSES = 8, 20
#: seconds a job may wait for the frozen generator process before it is restarted (the daemon: 120)
FROZEN_START_TIMEOUT_S = 10.0


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def live_objects() -> dict[str, float]:
    """How many soundscape libraries, vision pipelines and clips are alive, and the MB their samples hold:
    a reload that kept the old ones alive would show here."""
    from art2mus.installation.audio.clip import AudioClip
    from art2mus.installation.soundscapes import SoundscapeLibrary
    from art2mus.installation.vision.pipeline import VisionPipeline

    gc.collect()
    counts = {"libraries": 0, "vision_pipelines": 0, "clips": 0}
    clip_bytes = 0
    for obj in gc.get_objects():
        if isinstance(obj, SoundscapeLibrary):
            counts["libraries"] += 1
        elif isinstance(obj, VisionPipeline):
            counts["vision_pipelines"] += 1
        elif isinstance(obj, AudioClip):
            counts["clips"] += 1
            clip_bytes += obj.samples.nbytes
    return {**counts, "clip_mb": round(clip_bytes / 2**20, 1)}


def _room(demo: Path, folder: Path) -> Path:
    """The demo exhibit in ``folder``: its media linked, its cache copied, opening hours 08:00-20:00."""
    for part in ("artworks", "camera"):
        (folder / part).symlink_to(demo / part)
    if (demo / ".art2mus/cache").is_dir():
        shutil.copytree(demo / ".art2mus/cache", folder / "cache")
    spec = yaml.safe_load((demo / "exhibit.yaml").read_text())
    spec["audio"]["output"] = {"type": "null"}
    spec["cache"]["dir"] = str(folder / "cache")
    spec["recognition"]["index_dir"] = str(folder / "index")
    spec["control_panel"] = {"enabled": False}
    spec["schedule"]["periods"] = [{"days": "mon-sun", "open": f"{OPENS:02d}:00", "close": f"{CLOSES:02d}:00", "volume": 1.0}]
    path = folder / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def frozen_worker(folder: Path, timeout_s: float = FROZEN_START_TIMEOUT_S) -> dict[str, Any]:
    """A real generator process frozen (SIGSTOP) between jobs while a job waits for it: its status says so
    and the supervisor kills and restarts it, the job rendered by the new process (it waited forever: the
    job's timeout counts only from its start and a stopped process is alive)."""
    from art2mus.installation.generation_worker import GenerationJob, GenerationWorker
    from art2mus.kiosk_ui.insight import attention
    from art2mus.models.generator import GenerationRequest

    def job(n: int) -> GenerationJob:
        image = np.full((8, 8, 3), 40 * n, np.uint8)
        request = GenerationRequest(duration_s=1.0, seed=n)
        return GenerationJob(f"probe-{n}", "procedural", "procedural", {}, request, f"probe-{n}", image=image)

    results: list[Any] = []
    worker = GenerationWorker(folder / "probe-cache", start_timeout_s=timeout_s, on_result=results.append)
    frozen = None
    try:
        worker.submit(job(1))
        if not worker.wait_idle(120.0):
            return {"recovered": False, "why": "its first job never finished"}
        frozen = worker.status().pid
        os.kill(frozen, signal.SIGSTOP)
        started = time.monotonic()
        worker.submit(job(2))
        said = False
        while worker.status().pid == frozen and time.monotonic() - started < timeout_s + 60.0:
            status = worker.status()
            said = said or (status.stalled is not None and status.stalled in attention({"generation": dataclasses.asdict(status)}))
            time.sleep(0.1)
        done = worker.wait_idle(120.0)
        status = worker.status()
        return {
            "recovered": bool(done and results and results[-1].what == "probe-2" and results[-1].ok and status.pid != frozen),
            "seconds": round(time.monotonic() - started, 1),
            "restarts": status.restarts,
            "attention_said_so": said,
        }
    finally:
        if frozen is not None:
            try:
                os.kill(frozen, signal.SIGCONT)
            except ProcessLookupError:
                pass
        worker.stop()


def run(seconds_per_hour: float = 60.0, hours: int = 24, trace: bool = False, warmup_hours: int = 6) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from art2mus.installation.audio.clock import ManualClock
    from art2mus.installation.audio.outputs import NullOutput, OutputError
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.gallery import Gallery
    from art2mus.installation.generation_worker import GenerationResult
    from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision
    from art2mus.kiosk_ui.app import create_app

    class UnpluggableOutput(NullOutput):
        """A null output that can be unplugged: writes and opening fail until ``back_at``."""

        def __init__(self, clock: Any):
            super().__init__(realtime=True)
            self.clock, self.back_at = clock, -1.0

        def open(self, sample_rate, channels, ring) -> None:
            if self.clock.monotonic() < self.back_at:
                raise OutputError("the sound card is gone")
            super().open(sample_rate, channels, ring)

        def write(self, block) -> None:
            if self.clock.monotonic() < self.back_at:
                raise OutputError("the sound card is gone")
            super().write(block)

    uncaught: list[str] = []
    threading.excepthook = lambda args: uncaught.append(f"thread: {args.exc_type.__name__}: {args.exc_value}")
    demo = Path(__file__).resolve().parents[1] / "exhibits/demo"
    folder = Path(tempfile.mkdtemp(prefix="art2mus-soak-"))
    try:
        path = _room(demo, folder)
        good = path.read_text()
        clock = ManualClock()
        rome = ZoneInfo("Europe/Rome")
        day = dt.datetime(2026, 12, 1, OPENS, 30, tzinfo=rome)  # opening time: a short run is measured open
        wall = [day]
        output = UnpluggableOutput(clock)
        gallery = Gallery(load_exhibit(path, audio_may_fail=True), clock=clock, output=output, wall_clock=lambda: wall[0])
        gallery.build()
        engine, director = gallery.engine, gallery.director
        crossfade = gallery.exhibit.audio.crossfade_seconds
        artworks = [a.id for a in gallery.exhibit.artworks]
        client = TestClient(create_app(gallery), base_url="http://localhost")
        state = {"open": True, "silent_since": None, "gaps": [], "blocks": 0, "open_s": 0.0}
        rate = engine.sample_rate

        def monitor(first: int, block: np.ndarray) -> None:
            state["blocks"] += 1
            t = first / rate
            silent = float(np.max(np.abs(block))) < SILENT_PEAK if block.size else True
            if silent and state["open"]:
                if state["silent_since"] is None:
                    state["silent_since"] = t
            else:
                if state["silent_since"] is not None and t - state["silent_since"] > crossfade:
                    state["gaps"].append([round(state["silent_since"], 2), round(t - state["silent_since"], 2)])
                state["silent_since"] = None

        engine.monitor = monitor
        escaped: list[str] = []

        def guarded(what: str, call, *args) -> Any:
            try:
                return call(*args)
            except Exception as exc:  # noqa: BLE001 - counted: the soak's third figure
                escaped.append(f"{what}: {type(exc).__name__}: {exc}")
                return None

        nan = folder / "nan.wav"
        samples = np.full(48000, 0.1, dtype=np.float32)
        samples[1000:2000] = np.nan
        import soundfile

        soundfile.write(nan, samples, 48000, subtype="FLOAT")

        def reload(expect: bool) -> None:
            applied = gallery.reload()  # never raises: a raise is counted by guarded()
            counts["reloads applied" if applied else "reloads refused"] += 1
            if applied != expect:
                escaped.append(f"reload: expected {'applied' if expect else 'refused'}: {gallery.last_reload}")

        def inject(fault: str, hour: int) -> None:
            now = clock.monotonic()
            what = artworks[hour % len(artworks)]
            if fault == "audio device loss":
                output.back_at = now + 5.0
            elif fault == "generator crash":  # the generator process died on a job: the bridge stays
                gallery._on_generated(GenerationResult(hour, what, "art2mus", "k", ok=False, error="worker died"))
            elif fault == "generator hang":  # a job whose result never comes; the nightly retry runs anyway
                gallery.library.pending[what] = 10_000 + hour
                gallery.retry_bridges()
                gallery.library.pending.pop(what, None)
                frozen.append(frozen_worker(folder))
            elif fault == "corrupt cache":
                for file in sorted((folder / "cache").rglob("*.flac"))[hour % 3 :: 3]:
                    file.write_bytes(os.urandom(4096))
                reload(True)
            elif fault == "bad reload":
                path.write_text(good + "\naudio: {crossfade_seconds: loud}\n  - [\n")
                reload(False)
            elif fault == "NaN artwork":
                spec = yaml.safe_load(good)
                spec["artworks"].append({"id": f"broken-{hour}", "images": spec["artworks"][0]["images"], "audio": str(nan)})
                path.write_text(yaml.safe_dump(spec, sort_keys=False))
                reload(True)

        engine.open()
        director.start(clock.monotonic())
        step = 0.1
        counts = dict.fromkeys(FAULTS, 0)
        counts.update({"camera drops": 0, "panel requests": 0, "reloads refused": 0, "reloads applied": 0})
        rss: list[float] = []
        frozen: list[dict[str, Any]] = []
        traced: list[float] = []
        live: list[dict[str, float]] = []
        snapshots: dict[str, Any] = {}
        if trace:
            tracemalloc.start(8)
        started = time.perf_counter()
        for hour in range(hours):
            wall[0] = day + dt.timedelta(hours=hour)
            opening = gallery.schedule.hours.state_at(wall[0])
            guarded("schedule", gallery.apply_schedule, opening)
            if state["open"] and not opening.open:
                state["silent_since"] = None
            state["open"] = opening.open
            fault = FAULTS[hour % len(FAULTS)]
            t0 = clock.monotonic()
            n = int(seconds_per_hour / step)
            for k in range(n):
                now = clock.monotonic()
                into = k / n
                # a visitor: 4 artworks per hour, a camera drop (no frames: nothing seen) in the middle
                if 0.45 <= into < 0.6:
                    decision = VisionDecision(now, "none")
                    if k == int(0.45 * n):
                        counts["camera drops"] += 1
                else:
                    artwork = artworks[(hour * 4 + int(into * 4)) % len(artworks)]
                    decision = VisionDecision(now, ARTWORK, artwork, 40)
                guarded("director", director.update, decision, now)
                if k % 50 == 0:  # the panel polls every 5 s
                    for url in ("/api/status", "/api/artworks"):
                        guarded("panel", client.get, url)
                        counts["panel requests"] += 1
                if k == n // 3:
                    counts[fault] += 1
                    guarded(fault, inject, fault, hour)
                clock.advance(step)
                guarded("engine", engine.pump)
                if state["open"]:
                    state["open_s"] += step
            assert clock.monotonic() - t0 >= seconds_per_hour - 1e-6
            path.write_text(good)  # every hour ends on the good file
            rss.append(rss_mb())
            live.append(live_objects())
            if trace:
                traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
                if hour + 1 == warmup_hours:
                    snapshots["warm"] = tracemalloc.take_snapshot()
            print(
                f"hour {hour + 1:2d}/{hours} ({wall[0]:%H:%M}): {fault:18s} open={opening.open!s:5} rss {rss[-1]:.1f} MB "
                f"gaps {len(state['gaps'])} escaped {len(escaped)} live {live[-1]}"
                + (f" traced {traced[-1]:.1f} MB" if trace else ""),
                file=sys.stderr,
                flush=True,
            )

        wall_s = time.perf_counter() - started
        if state["open"] and state["silent_since"] is not None:  # a silence that lasted to the end counts
            t = clock.monotonic()
            if t - state["silent_since"] > crossfade:
                state["gaps"].append([round(state["silent_since"], 2), round(t - state["silent_since"], 2)])
        warm = min(warmup_hours, hours) - 1
        growth = (rss[-1] - rss[warm]) / rss[warm] * 100.0
        growers = []
        if trace:
            end = tracemalloc.take_snapshot()
            tracemalloc.stop()
            if "warm" in snapshots:
                for diff in end.compare_to(snapshots["warm"], "traceback")[:10]:
                    growers.append(
                        {
                            "growth_kb": round(diff.size_diff / 1024, 1),
                            "count_growth": diff.count_diff,
                            "where": [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in diff.traceback[-4:]],
                        }
                    )
        return {
            "benchmark": "soak --faults",
            "simulated_hours": hours,
            "mix_seconds_per_hour": seconds_per_hour,
            "wall_s": round(wall_s, 1),
            "faults": counts,
            "gaps_longer_than_crossfade_while_open": len(state["gaps"]),
            "open_seconds_measured": round(state["open_s"], 1),
            "simulated_start": day.isoformat(),
            "gaps": state["gaps"][:20],
            "crossfade_s": crossfade,
            "warmup_hours": warmup_hours,
            "rss_mb_after_hour_1": round(rss[0], 1),
            "rss_mb_after_warmup": round(rss[warm], 1),
            "rss_mb_last": round(rss[-1], 1),
            "rss_growth_percent": round(growth, 2),
            "rss_growth_percent_from_hour_1": round((rss[-1] - rss[0]) / rss[0] * 100.0, 2),
            "rss_mb_per_hour": [round(r, 1) for r in rss],
            "live_objects_per_hour": live,
            "traced_mb_per_hour": [round(t, 1) for t in traced] if trace else None,
            "tracemalloc_top_growers_after_warmup": growers if trace else None,
            "unhandled_exceptions": len(escaped) + len(uncaught),
            "frozen_generator_processes": frozen,
            "frozen_generator_processes_not_recovered": sum(not f["recovered"] for f in frozen),
            "exceptions": (escaped + uncaught)[:20],
            "engine": {k: engine.status()[k] for k in ("losses", "underruns", "state")},
            "last_reload": gallery.last_reload,
            "left_out": gallery.library.problems,
            "targets": {
                "gaps": 0,
                "open_seconds_measured": "> 0",
                "rss_growth_percent": "< 5",
                "unhandled_exceptions": 0,
                "frozen_generator_processes_not_recovered": 0,
            },
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
