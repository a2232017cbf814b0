"""Stop the daemon the way systemd does, many times: ``art2mus run`` on the demo exhibit (its walk video as
the camera, a null audio output), SIGTERM at a random moment after it says READY=1 on a notify socket.
Prints JSON: the exit codes counted, and the tail of stderr of every run that did not exit 0 (an abort,
"terminate called without an active exception", shows as -6).

    .venv/bin/python benchmarks/bench_sigterm.py [--runs 14] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _exhibit(folder: Path) -> Path:
    demo = ROOT / "exhibits/demo"
    spec = yaml.safe_load((demo / "exhibit.yaml").read_text())
    for artwork in spec["artworks"]:
        artwork["images"] = [str(demo / p) for p in artwork["images"]]
    spec["camera"]["path"] = str(demo / spec["camera"]["path"])
    spec["recognition"]["index_dir"] = str(folder / "index")
    spec["cache"] = {"dir": str(folder / "cache")}
    spec["audio"]["output"] = {"type": "null"}
    spec["control_panel"] = {"enabled": False}
    path = folder / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    codes: list[int] = []
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exhibit = _exhibit(folder)
        for run in range(args.runs):
            address = str(folder / f"notify{run}")
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(address)
            notify.settimeout(600)
            daemon = subprocess.Popen(
                [sys.executable, "-m", "art2mus.installation.cli", "run", str(exhibit)],
                env={**os.environ, "NOTIFY_SOCKET": address},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            while not notify.recv(4096).startswith(b"READY=1"):
                pass
            time.sleep(rng.uniform(0.0, 3.0))
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=120)
            notify.close()
            codes.append(daemon.returncode)
            if daemon.returncode != 0:
                failures.append({"run": run, "exit": daemon.returncode, "stderr": err[-600:]})
    print(
        json.dumps(
            {
                "runs": args.runs,
                "exit_codes": {str(c): codes.count(c) for c in sorted(set(codes))},
                "failures": failures,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
