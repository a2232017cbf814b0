"""What the control panel's live view costs recognition: ms per frame with and without the snapshot stream.

The demo exhibit's recognizer runs on every one of the demo walk's frames (640x360; the recognition
interval set to 0, so each frame is a full recognition as in ``bench_recognition.py``) on ONE CPU (the process is
pinned, OpenCV single-threaded), so the panel's JPEG encoding competes for the same core: the worst case.
"with the stream" means what a running gallery does when the panel is open: every frame handed to
:class:`~art2mus.installation.telemetry.Telemetry`, and the daemon's own uvicorn server (a thread of this
process, on the same core) answering ``/api/live.jpg`` to ``--viewers`` clients, each asking every
``--interval`` seconds (default: one page, once a second, as the panel's page does; the server re-encodes
at most ``DEFAULT_SNAPSHOT_FPS`` = 2 times a second whoever asks). The viewers are another process, as a
browser is. Rounds alternate off/on so that a busy machine hits both alike.

    .venv/bin/python benchmarks/bench_panel_snapshot.py [--frames 120] [--rounds 6] [--viewers 1] [--interval 1]

Prints JSON; the headline is ``median_change_percent`` (target: |change| < 5 %).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


class _Room:
    """The part of a gallery the live view reads."""

    def __init__(self, telemetry):
        self.telemetry = telemetry

    def status(self) -> dict:
        return {}

    def artworks(self) -> list:
        return []


def _viewer(port: int, stop: Any, interval_s: float, served: Any) -> None:
    """A browser's polling, in its own process."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        connection.request("GET", "/api/live.jpg", headers={"Host": "localhost"})
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            with served.get_lock():
                served.value += 1
        stop.wait(interval_s)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per pass")
    parser.add_argument("--rounds", type=int, default=6, help="off/on pairs")
    parser.add_argument("--viewers", type=int, default=1, help="clients polling /api/live.jpg")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between one client's requests")
    args = parser.parse_args()

    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    cv2.setNumThreads(1)

    from art2mus.installation.config import load_exhibit
    from art2mus.installation.telemetry import DEFAULT_SNAPSHOT_FPS, Telemetry
    from art2mus.installation.vision.pipeline import VisionPipeline
    from art2mus.installation.vision.sources import Frame
    from art2mus.kiosk_ui.app import create_app
    from art2mus.kiosk_ui.server import ControlPanelServer

    exhibit = load_exhibit(REPO / "exhibits/demo/exhibit.yaml")
    capture = cv2.VideoCapture(str(REPO / "exhibits/demo/camera/walk.mp4"))
    images = []
    while len(images) < args.frames:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()

    telemetry = Telemetry(exhibit.collection.timezone)
    server = ControlPanelServer(create_app(_Room(telemetry)), "127.0.0.1", 0)
    server.start()
    time.sleep(0.5)
    results: dict[str, list[float]] = {"off": [], "on": []}
    context = multiprocessing.get_context("spawn")
    served = context.Value("i", 0)
    try:
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                vision = VisionPipeline.from_config(exhibit)
                vision.interval_s = 0.0  # recognise every frame: the figure is ms per recognition
                stop = context.Event()
                viewers = []
                if mode == "on":
                    viewers = [
                        context.Process(
                            target=_viewer, args=(server.port, stop, args.interval, served), daemon=True
                        )
                        for _ in range(args.viewers)
                    ]
                    for viewer in viewers:
                        viewer.start()
                for i, image in enumerate(images):
                    # frames 0.1 s apart in video time, as the walk's 10 fps camera delivers them
                    frame = Frame(image=image, timestamp=i * 0.1, index=i)
                    t0 = time.perf_counter()
                    decision = vision.process(frame)
                    results[mode].append((time.perf_counter() - t0) * 1000.0)
                    if mode == "on":
                        presence = vision.presence.state().present if vision.presence else None
                        telemetry.observe_frame(frame, decision, vision.last_result, presence)
                    time.sleep(0.005)  # let the server thread run between frames, as the camera's pace does
                stop.set()
                for viewer in viewers:
                    viewer.join(10)
    finally:
        server.stop()
    off, on = np.median(results["off"]), np.median(results["on"])
    report = {
        "frames_per_pass": len(images),
        "rounds": args.rounds,
        "viewers": args.viewers,
        "viewer_interval_s": args.interval,
        "snapshot_fps_cap": DEFAULT_SNAPSHOT_FPS,
        "cpu": cpu,
        "median_ms_without_stream": round(float(off), 3),
        "median_ms_with_stream": round(float(on), 3),
        "median_change_percent": round(float((on - off) / off * 100.0), 2),
        "p90_ms_without_stream": round(float(np.percentile(results["off"], 90)), 3),
        "p90_ms_with_stream": round(float(np.percentile(results["on"], 90)), 3),
        "snapshots_served": served.value,
        "snapshots_encoded": telemetry.encodings,
    }
    report["meets_target"] = abs(report["median_change_percent"]) < 5.0
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
