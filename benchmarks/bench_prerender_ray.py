"""Pre-render throughput: ``prerender --ray`` with N workers against one plain process; prints JSON.

For each generator (the procedural sonifier, and the debug Art2Mus model: tiny random-weight networks),
the demo exhibit's soundscapes are rendered three ways into fresh cache folders:

* ``plain``: :meth:`SoundscapeSource.prerender` in this process;
* ``ray``: :func:`prerender_on_ray` with ``--workers`` actors on a local Ray already started (a
  cluster is up before a job is sent to it; actor start and generator builds are included);
* ``two_processes``: the exhibit split in halves rendered by two plain ``art2mus prerender`` processes
  at once: the best that N=2 workers can do on this (shared) machine at this moment.

``speedup`` is plain / ray; ``efficiency_vs_processes`` is ray's speedup over the two processes'
speedup: the share of the parallelism the machine gave that Ray kept (the CPU-normalised figure on a
machine shared with other work). The load average is printed with each.

    .venv/bin/python benchmarks/bench_prerender_ray.py [--workers 2] [--duration 10] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "exhibits/demo"


def exhibit_file(folder: Path, name: str, duration: float, generator: dict | None) -> Path:
    spec = yaml.safe_load((DEMO / "exhibit.yaml").read_text())
    for artwork in spec["artworks"]:
        artwork["images"] = [str(DEMO / image) for image in artwork["images"]]
        artwork["soundscape"]["duration"] = duration
        if generator is not None:
            artwork["soundscape"]["generator"] = "model"
    spec["idle"]["duration"] = duration
    if generator is not None:
        spec["generators"] = {"procedural": {"type": "procedural"}, "model": generator}
        spec["idle"]["generator"] = "model"
    spec["camera"]["path"] = str(DEMO / spec["camera"]["path"])
    spec["cache"] = {"dir": str(folder / f"cache-{name}")}
    spec["audio"]["output"] = {"type": "null"}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def measure(folder: Path, label: str, generator: dict | None, args: argparse.Namespace) -> dict:
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.prerender_ray import prerender_on_ray
    from art2mus.installation.soundscapes import SoundscapeSource

    def run(name: str, render) -> tuple[float, int]:
        config = load_exhibit(exhibit_file(folder, f"{label}-{name}", args.duration, generator))
        cache = SoundscapeCache.from_config(config.cache)
        started = time.perf_counter()
        results = render(config, cache)
        assert all(r.status == "rendered" for r in results), [r for r in results if r.status != "rendered"]
        return time.perf_counter() - started, len(results)

    load_before = os.getloadavg()[0]
    plain, count = run("plain", lambda c, cache: SoundscapeSource(c, cache=cache).prerender())
    ray_s, _ = run("ray", lambda c, cache: prerender_on_ray(c, cache, workers=args.workers))
    # two plain processes at once, each with half the artworks
    exhibit = exhibit_file(folder, f"{label}-procs", args.duration, generator)
    ids = [a["id"] for a in yaml.safe_load(exhibit.read_text())["artworks"]] + ["idle"]
    halves = [ids[: len(ids) // 2], ids[len(ids) // 2 :]]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(exhibit), "--json"]
            + [x for what in half for x in ("--artwork", what)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for half in halves
    ]
    assert all(p.wait() == 0 for p in procs)
    two = time.perf_counter() - started
    # the processes' time includes their start-up (imports, a model build): so does Ray's
    return {
        "generator": label,
        "soundscapes": count,
        "plain_s": round(plain, 2),
        "ray_s": round(ray_s, 2),
        "two_processes_s": round(two, 2),
        "plain_per_min": round(60 * count / plain, 2),
        "ray_per_min": round(60 * count / ray_s, 2),
        "speedup": round(plain / ray_s, 3),
        "two_processes_speedup": round(plain / two, 3),
        "efficiency_vs_processes": round((plain / ray_s) / (plain / two), 3),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of audio per soundscape")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps of the debug model")
    parser.add_argument("--only", choices=("procedural", "art2mus"), default=None)
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "procedural"):
            rows.append(measure(folder, "procedural", None, args))
            print(json.dumps(rows[-1]), file=sys.stderr)
        if args.only in (None, "art2mus"):
            from art2mus.models.debug import build_debug_model_dir

            models = build_debug_model_dir(folder / "models", encoders=("imagebind",))
            aligner = str(models / "aligners/debug-imagebind-1tok")
            model = {
                "type": "art2mus",
                "model_dir": str(models),
                "aligner": aligner,
                "device": "cpu",
                "steps": args.steps,
            }
            rows.append(measure(folder, "art2mus-debug", model, args))
    ray.shutdown()
    print(
        json.dumps(
            {"workers": args.workers, "cpus": os.cpu_count(), "duration_s": args.duration, "rows": rows}
        )
    )


if __name__ == "__main__":
    main()
