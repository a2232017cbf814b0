"""CPU time a start spends making the demo's soundscapes from a warm cache, with and without each entry's
loudness stored in its sidecar.

The demo exhibit (8 artworks and the idle ambience, procedural) with a cache folder of its own: rendered
once, then its sidecars stripped of ``played_loudness`` (as a cache written before it was kept there).
Three starts of ``Gallery.init_soundscapes`` follow, each in a fresh gallery: the first measures every
clip's loudness and writes it back, the next two read it. CPU time of this process (``process_time``).

    .venv/bin/python benchmarks/bench_start_soundscapes.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_daemon_cpu as daemon_cpu  # noqa: E402  (the demo exhibit with a cache folder of its own)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    from art2mus.installation.config import load_exhibit  # noqa: PLC0415
    from art2mus.installation.gallery import Gallery  # noqa: PLC0415

    def start(exhibit) -> tuple[float, set[str]]:
        gallery = Gallery(exhibit)
        gallery.init_audio()
        cpu0 = time.process_time()
        library = gallery.init_soundscapes()
        return time.process_time() - cpu0, library.from_cache

    with tempfile.TemporaryDirectory(prefix="art2mus-start-") as tmp:
        work = Path(tmp)
        exhibit = load_exhibit(daemon_cpu._exhibit(work, "start", daemon_cpu.DEMO / "camera" / "walk.mp4"))
        render_cpu, _ = start(exhibit)
        for sidecar in (work / "cache-start").glob("*.json"):
            meta = json.loads(sidecar.read_text())
            meta.pop("played_loudness", None)
            sidecar.write_text(json.dumps(meta))
        starts = [start(exhibit) for _ in range(3)]
    report = {
        "benchmark": "start_soundscapes",
        "soundscapes": len(exhibit.artworks) + 1,
        "rendered_cpu_s": round(render_cpu, 2),
        "from_cache_cpu_s": {
            "loudness_measured_and_stored": round(starts[0][0], 2),
            "loudness_read": [round(s[0], 2) for s in starts[1:]],
        },
        "all_from_cache": all(len(s[1]) == len(exhibit.artworks) + 1 for s in starts),
        "load_average": os.getloadavg()[0],
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
