"""Resident memory of a large collection's soundscapes, with every clip held decoded and within
``audio.memory_mb``; CPU time of a start and of reading one soundscape again when it is chosen.

An exhibit of ``--artworks`` artworks (the demo's eight paintings in turn, each with its own seed) with
procedural soundscapes of ``--seconds`` s and a cache folder of its own: rendered once into the cache,
then each setting of ``--memory-mb`` starts in a fresh process (``Gallery.init_soundscapes`` from the
warm cache) that reports its resident memory before and after, and the CPU time of choosing 20
soundscapes the library let go (read again from the cache: checksum, FLAC decode, mix format).

    .venv/bin/python benchmarks/bench_soundscape_memory.py [--artworks 100] [--seconds 40] \
        [--memory-mb 0 --memory-mb 1024] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DEMO = Path(__file__).resolve().parent.parent / "exhibits" / "demo"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _exhibit(work: Path, artworks: int, seconds: float, memory_mb: float) -> Path:
    paintings = sorted((DEMO / "artworks").glob("*.png"))
    spec = {
        "artworks": [
            {
                "id": f"artwork-{k:04d}",
                "images": [str(paintings[k % len(paintings)])],
                "soundscape": {"generator": "procedural", "seed": k, "duration": seconds},
            }
            for k in range(artworks)
        ],
        "camera": {"type": "video", "path": str(DEMO / "camera" / "walk.mp4")},
        "recognition": {"index_dir": str(work / "index")},
        "idle": {"source": "silence"},
        "audio": {"output": {"type": "null"}, "memory_mb": memory_mb},
        "cache": {"dir": str(work / "cache")},
        "control_panel": {"enabled": False},
    }
    path = work / f"exhibit-{memory_mb:g}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _child(path: str) -> None:
    """``--child``: one start from the warm cache; prints its figures as JSON."""
    from art2mus.installation.config import load_exhibit  # noqa: PLC0415
    from art2mus.installation.gallery import Gallery  # noqa: PLC0415

    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    before = _rss_mb()
    cpu0 = time.process_time()
    library = gallery.init_soundscapes()
    start_cpu = time.process_time() - cpu0
    after = _rss_mb()
    clips = library.clips
    let_go = [what for what in clips if not clips.is_held(what)][:20]
    reads = []
    for what in let_go:
        cpu0 = time.process_time()
        gallery.director.set_override(what, now=float(len(reads)))
        reads.append(time.process_time() - cpu0)
    reads.sort()
    print(
        json.dumps(
            {
                "from_cache": len(library.from_cache),
                "start_cpu_s": round(start_cpu, 2),
                "resident_mb_added": round(after - before, 1),
                "peak_resident_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "shelf": clips.stats(),
                "read_again_cpu_ms": {
                    "median": round(1000 * reads[len(reads) // 2], 1) if reads else None,
                    "max": round(1000 * reads[-1], 1) if reads else None,
                    "n": len(reads),
                },
                "resident_mb_after_choices": round(_rss_mb() - before, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artworks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument(
        "--memory-mb", type=float, action="append", help="settings to compare (default 0 and 1024)"
    )
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--work", help="keep the exhibit and its cache here (a second run renders nothing)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    settings = args.memory_mb or [0.0, 1024.0]
    report: dict = {
        "benchmark": "soundscape_memory",
        "artworks": args.artworks,
        "seconds": args.seconds,
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="art2mus-shelf-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        from art2mus.installation.config import load_exhibit  # noqa: PLC0415
        from art2mus.installation.gallery import Gallery  # noqa: PLC0415

        gallery = Gallery(load_exhibit(_exhibit(work, args.artworks, args.seconds, settings[-1])))
        gallery.init_audio()
        cpu0 = time.process_time()
        gallery.init_soundscapes()
        report["render_cpu_s"] = round(time.process_time() - cpu0, 1)
        del gallery
        for memory in settings:
            path = _exhibit(work, args.artworks, args.seconds, memory)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True
            )
            report["runs"][f"memory_mb={memory:g}"] = json.loads(out.stdout.strip().splitlines()[-1])
    report["load_average"] = os.getloadavg()[0]
    report["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
