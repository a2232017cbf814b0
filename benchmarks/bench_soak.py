"""Soak: the demo installation over hours of gallery time, faster than real time; does memory stay flat?

Runs the demo exhibit (recognition every 0.2 s, director, mixer, 9 soundscapes) over its looping camera
walk with a simulated clock and a null audio output, asks for the control panel's status every simulated
second as a polling page would, and samples the process's resident memory every simulated minute. Prints
one JSON object: memory at the start and end, the growth per simulated hour after a 5-minute warm-up
(least squares), what was played, and the speed.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 30] [--exhibit exhibits/demo/exhibit.yaml]

With ``--faults``: the accelerated fault soak of ``bench_soak_faults.py`` instead (24 simulated hours of
the demo under camera drops, audio-device loss, generator crash and hang (a real generator process
frozen too), corrupt cache files, bad reloads and panel traffic; gaps in the sound while open, memory
growth, unhandled exceptions). The simulated day starts at opening time; a run that measured no open
second (nothing to find a gap in) exits 1:

    .venv/bin/python benchmarks/bench_soak.py --faults [--hours 24] [--seconds-per-hour 60] [--warmup-hours 6] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated gallery minutes")
    parser.add_argument(
        "--exhibit", type=Path, default=Path(__file__).resolve().parents[1] / "exhibits/demo/exhibit.yaml"
    )
    parser.add_argument("--faults", action="store_true", help="the accelerated fault soak")
    parser.add_argument("--hours", type=int, default=24, help="simulated hours (--faults)")
    parser.add_argument("--seconds-per-hour", type=float, default=60.0, help="mix per simulated hour (--faults)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace Python allocations; report the top growers (--faults)"
    )
    parser.add_argument(
        "--warmup-hours",
        type=int,
        default=6,
        help="memory growth is measured from the end of this hour (--faults; 6: every fault met once)",
    )
    args = parser.parse_args()
    if args.faults:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_soak_faults import run

        result = run(args.seconds_per_hour, args.hours, args.tracemalloc, args.warmup_hours)
        print(json.dumps(result))
        if not result["open_seconds_measured"]:  # "0 gaps" of a room that was closed throughout
            print("no second of the soak was measured with the room open: its gap count means nothing", file=sys.stderr)
            sys.exit(1)
        return

    import cv2

    from art2mus.installation.audio.clock import ManualClock
    from art2mus.installation.audio.outputs import NullOutput
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.gallery import Gallery
    from art2mus.installation.vision.sources import VideoFileSource

    cv2.setNumThreads(1)
    exhibit = load_exhibit(args.exhibit)
    gallery = Gallery(
        exhibit,
        clock=ManualClock(),
        output=NullOutput(realtime=True),
        camera=VideoFileSource(exhibit.camera.path, loop=True, realtime=False),
    )
    gallery.build()
    samples: list[tuple[float, float]] = []
    status_calls = [0]

    def tick(simulated_s: float) -> None:
        gallery.status()
        status_calls[0] += 1
        if int(simulated_s) % 60 == 0:
            samples.append((simulated_s / 60.0, rss_mb()))
            print(f"{simulated_s / 60:6.1f} min  rss {samples[-1][1]:.1f} MB", file=sys.stderr, flush=True)

    started_wall, started_cpu = time.perf_counter(), time.process_time()
    gallery.simulate(args.minutes * 60.0, on_tick=tick, tick_s=1.0)
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    warm = [(m, r) for m, r in samples if m >= 5.0]
    slope = (
        float(np.polyfit([m for m, _ in warm], [r for _, r in warm], 1)[0]) * 60.0 if len(warm) >= 3 else None
    )
    events = list(gallery.director.events)
    print(
        json.dumps(
            {
                "benchmark": "soak",
                "simulated_minutes": args.minutes,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "x_realtime": round(args.minutes * 60.0 / wall, 2),
                "rss_mb_first": round(samples[0][1], 1) if samples else None,
                "rss_mb_last": round(samples[-1][1], 1) if samples else None,
                "rss_mb_max": round(max(r for _, r in samples), 1) if samples else None,
                "rss_growth_mb_per_hour_after_warmup": round(slope, 2) if slope is not None else None,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "status_calls": status_calls[0],
                "changes_of_what_plays": len(events),
                "engine": {k: gallery.engine.status()[k] for k in ("underruns", "losses", "position_s")},
                "samples": [[round(m, 1), round(r, 1)] for m, r in samples],
            }
        )
    )


if __name__ == "__main__":
    main()
