"""CPU share of the running daemon while the camera faces one artwork, an empty wall, or the demo walk.

Each scenario is a 10 fps, 640x360 camera video played in real time: ``artwork`` (a demo painting on a
plaster wall, still, with sensor noise), ``wall`` (the wall alone) and ``walk`` (the demo's own walk,
for comparison: the camera moves most of the time). Two figures per scenario, both CPU time (user +
system, from ``/proc``), so the other load of a shared machine does not count:

- ``daemon``: ``art2mus run`` of a copy of the demo exhibit with that camera and a ``null`` audio output
  (the mixer still runs), soundscapes cached. Measured over ``--seconds`` from its first "now playing"
  line, process and children together.
- ``vision``: the vision loop alone (the video decoded in real time, presence, gating, tracking and
  recognition), in its own process, over the same time.

The goal is 5 % of one core for ``artwork`` and ``wall``. The scenarios run side by side (each measures
its own process), so the whole benchmark takes about ``--seconds`` plus start-up.

    .venv/bin/python benchmarks/bench_daemon_cpu.py [--seconds 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "exhibits" / "demo"
FPS = 10.0
TARGET_SHARE = 0.05
SCENARIOS = ("artwork", "wall", "walk")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the parent pid
                pids.append(int(entry.name))
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _still_video(path: Path, with_painting: bool, seconds: float = 20.0) -> Path:
    """A still camera view (the video loops): a wall, or a demo painting on it, with sensor noise."""
    rng = np.random.default_rng(0)
    mottle = cv2.resize(rng.normal(0, 6, (9, 16)), (640, 360), interpolation=cv2.INTER_CUBIC)
    wall = np.clip(196 + mottle, 0, 255).astype(np.uint8)
    scene = cv2.merge([wall - 8, wall - 2, wall])
    if with_painting:
        painting = cv2.imread(str(DEMO / "artworks" / "hills-of-orvale.png"))
        w = round(painting.shape[1] * 260 / painting.shape[0])
        scene[50:310, 320 - w // 2 : 320 - w // 2 + w] = cv2.resize(
            painting, (w, 260), interpolation=cv2.INTER_AREA
        )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 360))
    for _ in range(round(seconds * FPS)):
        writer.write(np.clip(scene + rng.normal(0, 2.0, scene.shape), 0, 255).astype(np.uint8))
    writer.release()
    return path


def _exhibit(work: Path, name: str, video: Path) -> Path:
    """The demo exhibit with ``video`` as its camera, a null audio output, the demo's index and a cache
    folder of its own (one daemon per cache folder: :mod:`art2mus.installation.instance_lock`)."""
    from ruamel.yaml import YAML  # noqa: PLC0415

    yaml = YAML()
    data = yaml.load((DEMO / "exhibit.yaml").read_text())
    for art in data["artworks"]:
        art["images"] = [str(DEMO / p) for p in art["images"]]
    data["camera"]["path"] = str(video)
    data["audio"]["output"] = {"type": "null"}
    data["cache"]["dir"] = str(work / f"cache-{name}")
    data["recognition"]["index_dir"] = str(DEMO / ".art2mus")
    path = work / f"{name}.yaml"
    with open(path, "w") as fh:
        yaml.dump(data, fh)
    return path


def _vision_child(exhibit_path: str, seconds: float) -> None:
    """``--vision-child``: the vision loop alone in real time; prints its CPU seconds as JSON."""
    from art2mus.installation.config.loader import load_exhibit  # noqa: PLC0415
    from art2mus.installation.vision.pipeline import VisionPipeline  # noqa: PLC0415
    from art2mus.installation.vision.sources import VideoFileSource  # noqa: PLC0415

    cv2.setNumThreads(1)
    exhibit = load_exhibit(exhibit_path)
    pipeline = VisionPipeline.from_config(exhibit)  # the index is loaded here, before the measurement
    source = VideoFileSource(exhibit.camera.path, loop=True, realtime=True)
    with source.open() as stream:
        cpu0, wall0 = time.process_time(), time.monotonic()
        frames = 0
        while time.monotonic() - wall0 < seconds:
            pipeline.process(stream.read())
            frames += 1
        cpu = time.process_time() - cpu0
    print(json.dumps({"cpu_s": cpu, "frames": frames, "recognitions": pipeline.stats.as_dict()}))


def _measure_daemon(exhibit: Path, seconds: float, out: dict) -> None:
    art2mus = Path(sys.executable).with_name("art2mus")
    proc = subprocess.Popen(
        [str(art2mus), "run", str(exhibit), "--json", "--panel-port", "0", "--duration", str(seconds + 600)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first "now playing": soundscapes ready, camera running
        if not first:
            out["error"] = f"art2mus run exited with {proc.wait()} before playing"
            return
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        cpu0 = _cpu_seconds(proc.pid)
        time.sleep(seconds)  # the daemon works on its own; this thread only waits
        cpu = _cpu_seconds(proc.pid) - cpu0
        out.update(cpu_s=round(cpu, 2), share_of_one_core=round(cpu / seconds, 4))
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _measure_vision(exhibit: Path, seconds: float, out: dict) -> None:
    done = subprocess.run(
        [sys.executable, __file__, "--vision-child", str(exhibit), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    out.update(
        cpu_s=round(figures["cpu_s"], 2),
        share_of_one_core=round(figures["cpu_s"] / seconds, 4),
        frames=figures["frames"],
        recognitions=figures["recognitions"],
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--vision-child":
        _vision_child(sys.argv[2], float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per scenario")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    results: dict[str, dict] = {s: {"daemon": {}, "vision": {}} for s in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="art2mus-daemon-cpu-") as tmp:
        work = Path(tmp)
        videos = {
            "artwork": _still_video(work / "artwork.mp4", True),
            "wall": _still_video(work / "wall.mp4", False),
            "walk": DEMO / "camera" / "walk.mp4",
        }
        exhibits = {name: _exhibit(work, name, video) for name, video in videos.items()}
        # render the soundscapes once, so that every daemon starts on a warm cache (a copy of it each)
        _measure_daemon(exhibits["wall"], 1.0, {})
        for name in exhibits:
            if name != "wall":
                shutil.copytree(
                    work / "cache-wall", work / f"cache-{name}", ignore=shutil.ignore_patterns("daemon.lock")
                )
        threads = []
        for name, path in exhibits.items():
            for kind, measure in (("daemon", _measure_daemon), ("vision", _measure_vision)):
                thread = threading.Thread(target=measure, args=(path, args.seconds, results[name][kind]))
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join()
    report = {
        "benchmark": "daemon_cpu",
        "seconds": args.seconds,
        "camera": "640x360 at 10 fps, video played in real time",
        "target_share_of_one_core": TARGET_SHARE,
        "scenarios": results,
        "meets_target": {
            name: {
                kind: bool(results[name][kind].get("share_of_one_core", 1.0) <= TARGET_SHARE)
                for kind in ("daemon", "vision")
            }
            for name in ("artwork", "wall")
        },
        "cpu_count": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
