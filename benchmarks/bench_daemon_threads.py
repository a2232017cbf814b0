"""Where the running daemon's CPU goes: CPU seconds of each of its threads while the camera faces one still
artwork or an empty wall.

The same camera videos and exhibit as ``bench_daemon_cpu.py`` (10 fps, 640x360, played in real time, null
audio output, soundscapes cached), but the gallery runs in this process, built and run as ``art2mus run``
does, so each thread's CPU time (user + system, ``/proc/self/task``) can be named: the main loop
(vision, director), ``audio-render`` (the mixer), ``audio-device``, the camera's supervisor and reader, the
control panel's server, APScheduler, and ``native`` threads that Python did not start (OpenCV's pool,
FFmpeg's decoders); the CPU of threads that ended within the measurement (FFmpeg's decoders of the
looping video, opened anew each time it starts again) is the process's CPU time less the others'.
Measured over ``--seconds`` after a few seconds of warm-up.

    .venv/bin/python benchmarks/bench_daemon_threads.py [artwork|wall] [--seconds 40] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_daemon_cpu as daemon_cpu  # noqa: E402  (the same videos and exhibit)

WARM_UP_S = 5.0


def _task_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every thread of this process, by native thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _thread_name(native_id: int, names: dict[int, str]) -> str:
    name = names.get(native_id)
    if name is not None:
        return name.split(":", 1)[0]  # the camera's threads carry the video's path
    try:
        return "native:" + Path(f"/proc/self/task/{native_id}/comm").read_text().strip()
    except OSError:
        return "native"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="artwork", choices=("artwork", "wall"))
    parser.add_argument("--seconds", type=float, default=40.0, help="measured time")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    from art2mus.installation.cli.shared import build_gallery, load_or_exit  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="art2mus-daemon-threads-") as tmp:
        work = Path(tmp)
        video = daemon_cpu._still_video(work / f"{args.scenario}.mp4", args.scenario == "artwork")
        exhibit_path = daemon_cpu._exhibit(work, args.scenario, video)
        exhibit = load_or_exit(exhibit_path)
        cpu0 = time.process_time()
        gallery = build_gallery(exhibit, quiet=True, control_panel_port=0)
        build_cpu = time.process_time() - cpu0
        stop = threading.Event()
        result: dict = {}

        def measure() -> None:
            time.sleep(WARM_UP_S)
            names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
            before, cpu_before = _task_cpu(), time.process_time()
            time.sleep(args.seconds)
            after, cpu = _task_cpu(), time.process_time() - cpu_before
            names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id is not None})
            threads: dict[str, float] = {}
            for tid, seconds in after.items():
                name = _thread_name(tid, names)
                threads[name] = threads.get(name, 0.0) + seconds - before.get(tid, 0.0)
            # threads that ended meanwhile are gone from /proc: FFmpeg's decoders of the looping video,
            # opened anew each time it starts again
            threads["threads that ended"] = cpu - sum(threads.values())
            result.update(
                cpu_s=round(cpu, 2),
                share_of_one_core=round(cpu / args.seconds, 4),
                threads_share_of_one_core={
                    name: round(s / args.seconds, 4) for name, s in sorted(threads.items(), key=lambda kv: -kv[1])
                },
            )
            stop.set()

        threading.Thread(target=measure, name="benchmark", daemon=True).start()
        gallery.run(stop)
        shutil.rmtree(work / f"cache-{args.scenario}", ignore_errors=True)
    report = {
        "benchmark": "daemon_threads",
        "scenario": args.scenario,
        "seconds": args.seconds,
        "camera": "640x360 at 10 fps, video played in real time",
        "build_cpu_s (soundscapes rendered: cold cache)": round(build_cpu, 2),
        **result,
        "vision": gallery.vision.stats.as_dict() if gallery.vision is not None else None,
        "load_average": os.getloadavg()[0],
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
