"""Benchmark of the procedural sonifier: speed on one CPU core, loudness, true peak and loop seams.

Renders 60 s of stereo 48 kHz audio for each demo artwork (or the images given) on a single core and
prints one JSON object: the real-time factor (audio seconds / compute seconds, CPU time of the process
and wall time), the integrated loudness and true peak measured with ``art2mus.models.loudness`` on the
output, and the loop-seam figures of ``art2mus.models.procedural.measures.seam_report``.

    .venv/bin/python benchmarks/bench_sonifier.py [--duration 60] [--seeds 0 1] [IMAGE ...]

Thread pools are limited to one thread and the process is pinned to one core before numpy loads.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)


def _pin_to_one_core() -> int | None:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return core
    return None


def _demo_images() -> list[tuple[str, np.ndarray]]:
    from art2mus.exhibits.demo_collection import DEMO_ARTWORKS, demo_artwork_path

    out = []
    for art in DEMO_ARTWORKS:
        path = Path(demo_artwork_path(art.id))
        out.append((art.id, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="images to render (default: the demo artworks)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of audio per render")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to render each image with")
    parser.add_argument("--loudness", type=float, default=-23.0, help="target LUFS")
    args = parser.parse_args(argv)

    core = _pin_to_one_core()
    from art2mus.models.generator import GenerationRequest
    from art2mus.models.loudness import integrated_loudness, true_peak_dbtp
    from art2mus.models.procedural import ProceduralGenerator
    from art2mus.models.procedural.measures import seam_report

    if args.images:
        images = [(Path(p).stem, cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)) for p in args.images]
    else:
        images = _demo_images()
    generator = ProceduralGenerator(sample_rate=48000)
    # Warm-up: first-call costs (imports, FFT plans) are not what a long-running daemon pays.
    first_cpu = time.process_time()
    generator.generate(images[0][1], GenerationRequest(duration_s=args.duration, seed=12345))
    first_cpu = time.process_time() - first_cpu

    renders = []
    for name, image in images:
        for seed in args.seeds:
            request = GenerationRequest(duration_s=args.duration, seed=seed, loudness_lufs=args.loudness)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            soundscape = generator.generate(image, request)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            audio = soundscape.waveform
            seam = seam_report(audio, soundscape.sample_rate)
            renders.append(
                {
                    "image": name,
                    "seed": seed,
                    "key": soundscape.metadata["music"]["key"],
                    "tempo_bpm": soundscape.metadata["music"]["tempo_bpm"],
                    "cpu_s": round(cpu, 4),
                    "wall_s": round(wall, 4),
                    "realtime_factor_cpu": round(soundscape.duration_s / cpu, 1),
                    "loudness_lufs": round(integrated_loudness(audio, soundscape.sample_rate), 3),
                    "true_peak_dbtp": round(true_peak_dbtp(audio, soundscape.sample_rate), 3),
                    "reported_true_peak_dbtp": soundscape.metadata["true_peak_dbtp"],
                    "dc_offset": float(np.abs(audio.mean(axis=0)).max()),
                    "finite": bool(np.isfinite(audio).all()),
                    "seam": seam.to_dict(),
                }
            )
    cpus = [r["cpu_s"] for r in renders]
    result = {
        "benchmark": "procedural sonifier",
        "audio_seconds": args.duration,
        "sample_rate": 48000,
        "channels": 2,
        "pinned_core": core,
        "machine": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "first_call_cpu_s": round(first_cpu, 4),
        "cpu_s_median": round(statistics.median(cpus), 4),
        "cpu_s_max": round(max(cpus), 4),
        "realtime_factor_median": round(args.duration / statistics.median(cpus), 1),
        "realtime_factor_worst": round(args.duration / max(cpus), 1),
        "loudness_error_max_lu": round(max(abs(r["loudness_lufs"] - args.loudness) for r in renders), 4),
        "true_peak_max_dbtp": max(r["true_peak_dbtp"] for r in renders),
        "seam_level_worse_than_interior_max": sum(
            r["seam"]["level_jump_seam_db"] > r["seam"]["level_jump_max_db"] for r in renders
        ),
        "seam_spectral_worse_than_interior_max": sum(
            r["seam"]["spectral_jump_seam_db"] > r["seam"]["spectral_jump_max_db"] for r in renders
        ),
        "seam_level_rank_mean": round(statistics.mean(r["seam"]["level_rank"] for r in renders), 3),
        "seam_spectral_rank_mean": round(statistics.mean(r["seam"]["spectral_rank"] for r in renders), 3),
        "renders": renders,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
