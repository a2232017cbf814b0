"""Pre-render throughput: ``prerender --ray`` with N workers against one plain process; prints JSON.

For each generator (the procedural sonifier, and the debug Art2Mus model: tiny random-weight networks),
a collection made of the demo's eight artworks, each in ``--variants`` variants (another id and seed:
another cache entry), plus the idle ambience, is rendered into fresh cache folders four ways:

* ``plain``: :meth:`SoundscapeSource.prerender` in this process (what ``art2mus prerender`` does);
* ``plain_1_thread`` (model only): the same with torch held to one intra-op thread, as in each Ray
  actor (Ray sets ``OMP_NUM_THREADS=1`` in a one-CPU actor): on a busy machine torch's threads waiting
  for each other cost the plain process far more than the work, so this is the fair baseline;
* ``ray_cold``: :func:`prerender_on_ray` with no Ray running, so the job starts a local Ray and stops
  it (what ``art2mus prerender --ray`` on one machine costs, everything included);
* ``ray``: the same on a local Ray started just before (``ray_start_s``): a cluster is up before a job
  is sent to it; actor start-up and generator builds are still included;
* ``two_processes``: the collection split in halves rendered by two plain ``art2mus prerender``
  processes at once, one thread each: the parallelism this (shared) machine gives two workers now.

Each has its wall time, its soundscapes per minute over the whole job and over the second half of the
job (``steady_per_min``: start-up left out), and the CPU seconds that this process and every process
it started (Ray's GCS, raylet, agents and actors) used, sampled every 0.2 s, per soundscape. ``speedup``
is plain / ray on the wall clock; ``steady_speedup`` the same on the second halves; ``cpu_ratio`` is
ray's CPU seconds per soundscape over plain's and ``steady_cpu_ratio`` the same on the second halves
(what Ray's processes add, whatever else the machine runs); ``*_vs_1_thread`` compare with
``plain_1_thread``. The machine's load average is printed before and after each row; ``--repeat`` runs it again.

    .venv/bin/python benchmarks/bench_prerender_ray.py [--workers 2] [--variants 12] [--duration 10]
        [--model-variants 3] [--model-duration 2] [--steps 4] [--only procedural|art2mus] [--repeat 1]
    .venv/bin/python benchmarks/bench_prerender_ray.py --overheads   # Ray's own costs, no rendering
    .venv/bin/python benchmarks/bench_prerender_ray.py --whole-job [--only ...]  # as a user runs them

``--whole-job`` times each way as the command a user runs, in a fresh process (``art2mus prerender``,
``--threads 1`` for the model, and ``--ray ADDRESS --workers N`` on a Ray already running), with the
phases of the Ray job: ``connect_s`` (joining Ray), ``scan_s`` (hashing images, the idle collection
image, cache look-ups; in a thread while the actors start), ``scan_wait_s`` / ``actors_ready_s`` (from
starting the actors until the scan is done / until every actor is up), ``first_result_s`` and
``render_s`` (the rendering, from the first call), ``actor_build_s`` and ``actor_cpu_s`` (each actor's
generator build, and its CPU seconds), ``driver_cpu_s`` and ``total_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "exhibits/demo"


def exhibit_file(folder: Path, name: str, variants: int, duration: float, generator: dict | None) -> Path:
    """The demo exhibit with each artwork in ``variants`` variants (own id and seed) of ``duration`` s."""
    spec = yaml.safe_load((DEMO / "exhibit.yaml").read_text())
    artworks = []
    for variant in range(variants):
        for artwork in spec["artworks"]:
            copy = yaml.safe_load(yaml.safe_dump(artwork))
            copy["id"] = f"{artwork['id']}-v{variant}"
            copy["images"] = [str(DEMO / image) for image in artwork["images"]]
            copy["soundscape"]["seed"] = artwork["soundscape"]["seed"] + 1000 * variant
            copy["soundscape"]["duration"] = duration
            if generator is not None:
                copy["soundscape"]["generator"] = "model"
            artworks.append(copy)
    spec["artworks"] = artworks
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


class CpuMeter:
    """CPU seconds (user + system) of this process and all its descendants, those that exit included
    (each is sampled every ``interval`` s, so at most that much of an exiting one is missed)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.sample(first=True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self, first: bool = False) -> None:
        me = psutil.Process()
        for process in [me, *me.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            if first:
                self.start[process.pid] = used
            self.last[process.pid] = used

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def used(self) -> float:
        """CPU seconds so far."""
        self.sample()
        return sum(used - self.start.get(pid, 0.0) for pid, used in self.last.items())

    def seconds(self) -> float:
        """CPU seconds in all, and stop sampling."""
        self.stop.set()
        self.thread.join()
        return self.used()


def timed(render: Callable[[Callable[[int, int, str], None]], list]) -> dict:
    """Run ``render(progress)``; its wall time, CPU time, and the time each soundscape came back."""
    finished: list[float] = []
    cpu_at_half: list[float] = []
    load = os.getloadavg()[0]
    meter = CpuMeter()
    started = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        finished.append(time.perf_counter() - started)
        if done == total // 2:
            cpu_at_half.append(meter.used())

    results = render(progress)
    wall = time.perf_counter() - started
    cpu = meter.seconds()
    failed = [r for r in results if r.status != "rendered"]
    assert not failed, failed
    count = len(results)
    half = count // 2
    steady = (count - half) / (finished[-1] - finished[half - 1])
    return {
        "wall_s": round(wall, 2),
        "per_min": round(60 * count / wall, 1),
        "steady_per_min": round(60 * steady, 1),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_soundscape": round(cpu / count, 3),
        "steady_cpu_s_per_soundscape": round((cpu - cpu_at_half[0]) / (count - half), 3),
        "first_back_s": round(finished[0], 2),
        "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
    }


def measure(folder: Path, label: str, generator: dict | None, variants: int, duration: float, args) -> dict:
    import ray

    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.prerender_ray import LOCAL_RAY_OPTIONS, prerender_on_ray
    from art2mus.installation.soundscapes import SoundscapeSource

    run = len(list(folder.glob(f"{label}-plain*.yaml")))

    def config(name: str):
        exhibit = exhibit_file(folder, f"{label}-{name}{run}", variants, duration, generator)
        loaded = load_exhibit(exhibit)
        return exhibit, loaded, SoundscapeCache.from_config(loaded.cache)

    _, exhibit, cache = config("plain")
    plain = timed(lambda progress: SoundscapeSource(exhibit, cache=cache).prerender(progress=progress))
    single = None
    if generator is not None:  # torch's intra-op threads: as many as cores here, one in each Ray actor
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            _, exhibit, cache = config("plain1")
            single = timed(
                lambda progress: SoundscapeSource(exhibit, cache=cache).prerender(progress=progress)
            )
        finally:
            torch.set_num_threads(threads)
    _, exhibit, cache = config("ray-cold")
    cold = timed(lambda progress: prerender_on_ray(exhibit, cache, workers=args.workers, progress=progress))
    _, exhibit, cache = config("ray")
    clock = time.perf_counter()
    ray.init(**LOCAL_RAY_OPTIONS)
    ray_start = time.perf_counter() - clock
    try:
        warm = timed(
            lambda progress: prerender_on_ray(exhibit, cache, workers=args.workers, progress=progress)
        )
    finally:
        ray.shutdown()
    # two plain processes at once, each with half the collection; their start-up (imports, a model
    # build) is in their time as the actors' is in Ray's
    path, exhibit, _ = config("procs")
    ids = [a.id for a in exhibit.artworks] + ["idle"]
    halves = [ids[: len(ids) // 2], ids[len(ids) // 2 :]]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(path), "--json"]
            + [x for what in half for x in ("--artwork", what)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "OMP_NUM_THREADS": "1"},  # one thread each, as Ray gives its actors
        )
        for half in halves
    ]
    assert all(p.wait() == 0 for p in procs)
    two = time.perf_counter() - started
    count = len(ids)
    versus_single = {}
    if single is not None:
        versus_single = {
            "speedup_vs_1_thread": round(single["wall_s"] / warm["wall_s"], 3),
            "steady_speedup_vs_1_thread": round(warm["steady_per_min"] / single["steady_per_min"], 3),
            "steady_cpu_ratio_vs_1_thread": round(
                warm["steady_cpu_s_per_soundscape"] / single["steady_cpu_s_per_soundscape"], 3
            ),
        }
    return {
        "generator": label,
        "soundscapes": count,
        "plain": plain,
        "plain_1_thread": single,
        "ray_cold": cold,
        "ray_start_s": round(ray_start, 2),
        "ray": warm,
        "two_processes": {
            "wall_s": round(two, 2),
            "per_min": round(60 * count / two, 1),
            "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
        },
        "speedup_cold": round(plain["wall_s"] / cold["wall_s"], 3),
        "speedup": round(plain["wall_s"] / warm["wall_s"], 3),
        "steady_speedup": round(warm["steady_per_min"] / plain["steady_per_min"], 3),
        "two_processes_speedup": round(plain["wall_s"] / two, 3),
        "cpu_ratio": round(warm["cpu_s_per_soundscape"] / plain["cpu_s_per_soundscape"], 3),
        "steady_cpu_ratio": round(
            warm["steady_cpu_s_per_soundscape"] / plain["steady_cpu_s_per_soundscape"], 3
        ),
        **versus_single,
    }


def cli_run(command: list[str], env: dict[str, str], meter_all: bool) -> dict:
    """One ``art2mus`` command in a fresh process, as a user runs it: its wall time and CPU seconds (of
    the command and its children; with ``meter_all``, of every process this benchmark started, the
    running Ray's included), and its JSON summary line."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter = CpuMeter() if meter_all else None
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])["summary"]
    assert summary["failed"] == 0 and summary["cached"] == 0, summary
    own_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(meter.seconds() if meter else own_cpu, 2),
        "command_cpu_s": round(own_cpu, 2),
        "phases": summary.get("phases"),
        "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
    }


def whole_job(folder: Path, label: str, generator: dict | None, variants: int, duration: float, args) -> dict:
    """``art2mus prerender`` against ``art2mus prerender --ray ADDRESS --workers N`` on a Ray that is
    already running (started here, as a cluster is before a job is sent to it), each in a fresh
    process: imports, model builds, the cache scan and Ray's actors are all in the times."""
    import ray

    from art2mus.installation.prerender_ray import LOCAL_RAY_OPTIONS

    run = len(list(folder.glob(f"{label}-cli-plain*.yaml")))
    cli = [sys.executable, "-m", "art2mus.installation.cli", "prerender"]
    env = {**os.environ}
    rows: dict = {"generator": label}
    exhibit = exhibit_file(folder, f"{label}-cli-plain{run}", variants, duration, generator)
    rows["plain"] = cli_run([*cli, str(exhibit), "--json"], env, meter_all=False)
    if generator is not None:
        exhibit = exhibit_file(folder, f"{label}-cli-plain1{run}", variants, duration, generator)
        rows["plain_1_thread"] = cli_run([*cli, str(exhibit), "--json", "--threads", "1"], env, False)
    clock = time.perf_counter()
    context = ray.init(**LOCAL_RAY_OPTIONS)  # sets RAY_AUTH_MODE=token here (Ray >= 2.59), inherited below
    rows["ray_start_s"] = round(time.perf_counter() - clock, 2)
    try:
        address = context.address_info["gcs_address"]
        exhibit = exhibit_file(folder, f"{label}-cli-ray{run}", variants, duration, generator)
        command = [*cli, str(exhibit), "--json", "--ray", address, "--workers", str(args.workers)]
        rows["ray"] = cli_run(command, {**os.environ}, meter_all=True)
    finally:
        ray.shutdown()
    count = variants * 8 + 1
    rows["soundscapes"] = count
    rows["speedup"] = round(rows["plain"]["wall_s"] / rows["ray"]["wall_s"], 3)
    if generator is not None:
        rows["speedup_vs_1_thread"] = round(rows["plain_1_thread"]["wall_s"] / rows["ray"]["wall_s"], 3)
    return rows


class Probe:
    """A bare actor for :func:`overheads`: what Ray costs before any rendering."""

    def ping(self, payload=None) -> int:
        return os.getpid()

    def import_project(self) -> float:
        started = time.perf_counter()
        import art2mus.installation.soundscapes  # noqa: F401
        import art2mus.models.procedural.generator  # noqa: F401

        return time.perf_counter() - started


def overheads(workers: int) -> dict:
    """Ray's start, an actor's start and project import, a call's round trip (bare, and with a 30 s
    stereo 16 kHz float32 array as an actor would ship audio back if it did not write the cache), and
    the CPU Ray's processes use while idle."""
    import numpy as np
    import ray

    from art2mus.installation.prerender_ray import LOCAL_RAY_OPTIONS

    meter = CpuMeter()
    clock = time.perf_counter()
    ray.init(**LOCAL_RAY_OPTIONS)
    start = time.perf_counter() - clock
    start_cpu = meter.seconds()
    try:
        clock = time.perf_counter()
        actors = [ray.remote(num_cpus=1)(Probe).remote() for _ in range(workers)]
        ray.get([actor.ping.remote() for actor in actors])
        ready = time.perf_counter() - clock
        imports = ray.get([actor.import_project.remote() for actor in actors])
        clock = time.perf_counter()
        for _ in range(200):
            ray.get(actors[0].ping.remote())
        bare = (time.perf_counter() - clock) / 200
        audio = np.zeros((16000 * 30, 2), np.float32)
        clock = time.perf_counter()
        for _ in range(20):
            ray.get(actors[0].ping.remote(audio))
        shipped = (time.perf_counter() - clock) / 20
        meter = CpuMeter()
        time.sleep(5)
        idle = meter.seconds() / 5
    finally:
        ray.shutdown()
    return {
        "ray_start_s": round(start, 2),
        "ray_start_cpu_s": round(start_cpu, 2),
        "actors_ready_s": round(ready, 2),
        "actor_import_project_s": [round(x, 2) for x in imports],
        "round_trip_ms": round(bare * 1e3, 2),
        "round_trip_with_3.8MB_ms": round(shipped * 1e3, 2),
        "ray_idle_cpu_share": round(idle, 3),
        "load_average": round(os.getloadavg()[0], 1),
    }


def summary(rows: list[dict]) -> dict:
    """Median of each speed-up and ratio over the repeats of one generator."""
    keys = [key for key, value in rows[0].items() if "speedup" in key or "ratio" in key]
    return {key: statistics.median(row[key] for row in rows) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", type=int, default=12, help="variants of each artwork (procedural)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per soundscape (procedural)")
    parser.add_argument("--model-variants", type=int, default=3, help="variants of each artwork (model)")
    parser.add_argument("--model-duration", type=float, default=2.0, help="seconds per soundscape (model)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps of the debug model")
    parser.add_argument("--only", choices=("procedural", "art2mus"), default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--overheads", action="store_true", help="only Ray's own costs, no rendering")
    parser.add_argument(
        "--whole-job",
        action="store_true",
        help="each way as a fresh `art2mus prerender` process (on a running Ray for --ray), with the "
        "Ray job's phases",
    )
    args = parser.parse_args()
    if args.overheads:
        print(json.dumps(overheads(args.workers)))
        return
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plans = []
        if args.only in (None, "procedural"):
            plans.append(("procedural", None, args.variants, args.duration))
        if args.only in (None, "art2mus"):
            from art2mus.models.debug import build_debug_model_dir

            models = build_debug_model_dir(folder / "models", encoders=("imagebind",))
            model = {
                "type": "art2mus",
                "model_dir": str(models),
                "aligner": str(models / "aligners/debug-imagebind-1tok"),
                "device": "cpu",
                "steps": args.steps,
            }
            plans.append(("art2mus-debug", model, args.model_variants, args.model_duration))
        for _ in range(args.repeat):
            for label, generator, variants, duration in plans:
                row = (whole_job if args.whole_job else measure)(
                    folder, label, generator, variants, duration, args
                )
                rows.setdefault(label, []).append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "workers": args.workers,
                "cpus": os.cpu_count(),
                "steps": args.steps,
                "median": {label: summary(runs) for label, runs in rows.items() if not args.whole_job},
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
