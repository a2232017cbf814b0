"""Generator backends for the generator-process tests: importable by the spawned worker (it gets our sys.path).

``ToneGenerator`` stands in for a slow model: a tone whose pitch follows the image, after ``delay_s``; it
can crash its process (``os._exit``) or hang, always or only on the first attempt (a marker file
remembers attempts across processes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from art2mus.models.generator import GenerationRequest, Generator, Soundscape


class ToneGenerator(Generator):
    name = "tone"

    def __init__(
        self,
        delay_s: float = 0.0,
        fail: str = "never",
        marker_dir: str | None = None,
        sample_rate: int = 16000,
        linger_s: float = 0.0,
    ):
        self.delay_s = delay_s
        if linger_s > 0:  # a library's worker thread that its process waits for as it exits (torch's, ORT's)
            import threading

            threading.Thread(target=time.sleep, args=(linger_s,), daemon=False).start()
        self.fail = fail  # never | crash | crash-once | hang | raise | build (the constructor raises)
        self.marker_dir = Path(marker_dir) if marker_dir else None
        self.sample_rate = sample_rate
        if fail == "build":  # a model that cannot load (an aligner for another encoder): each try is counted
            builds = len(list(self.marker_dir.glob("build-*"))) if self.marker_dir else 0
            if self.marker_dir:
                (self.marker_dir / f"build-{builds}").touch()
            raise ValueError("the aligner produces 768-d tokens, but the language model is 24-d")

    def _first_attempt(self, image: np.ndarray) -> bool:
        marker = self.marker_dir / f"attempt-{int(image.mean() * 1000)}"
        first = not marker.exists()
        marker.touch()
        return first

    def generate(self, image: np.ndarray, request: GenerationRequest) -> Soundscape:
        if self.fail == "crash" or (self.fail == "crash-once" and self._first_attempt(image)):
            os._exit(3)
        if self.fail == "hang":
            time.sleep(3600)
        if self.fail == "raise":
            raise RuntimeError("the model is out of memory")
        time.sleep(self.delay_s)
        hz = 200.0 + float(image.mean())
        t = np.arange(int(request.duration_s * self.sample_rate)) / self.sample_rate
        wave = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        return Soundscape(wave, self.sample_rate, {"generator": "tone", "hz": hz, "pid": os.getpid()})


class SlowModelStandIn(ToneGenerator):
    """Built from an exhibit's ``type: art2mus`` settings (ignored) in place of the model: a tone after
    ``delay_s``, so a test has the generator process render for a while without the networks."""

    name = "art2mus"

    def __init__(self, delay_s: float = 0.5, **_art2mus_settings):
        super().__init__(delay_s=delay_s)


class CrashingModelStandIn(ToneGenerator):
    """The model as :class:`SlowModelStandIn`, but its process dies (a CUDA out-of-memory kill) on every job
    while its ``model_dir`` holds a file ``crash``."""

    name = "art2mus"

    def __init__(self, model_dir: str = "", **_art2mus_settings):
        super().__init__()
        self.crash_marker = Path(model_dir) / "crash"

    def generate(self, image: np.ndarray, request: GenerationRequest) -> Soundscape:
        if self.crash_marker.exists():
            os._exit(9)
        return super().generate(image, request)
