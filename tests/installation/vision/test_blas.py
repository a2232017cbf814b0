"""The vision loop's BLAS products run on the calling thread: no idle BLAS worker busy-waits beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from art2mus.installation.vision import blas

# A recognizer built as the daemon builds it, then the exact shortlist search's product (100 frame
# descriptors by 8 artworks' 10,000 keypoints) and a quiet 0.2 s: the CPU the process spends while its
# only thread sleeps is what idle BLAS workers burn.
SCRIPT = """
import json, sys, time
import numpy as np
if sys.argv[1] == "recognizer":
    from art2mus.installation.vision.index import FeatureSettings, RecognitionIndex, ReferencePhoto
    from art2mus.installation.vision.recognizer import ArtworkRecognizer
    from art2mus.installation.config.vision import RecognitionConfig
    rng = np.random.default_rng(0)
    image = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    config = RecognitionConfig()
    ArtworkRecognizer.from_config(
        config, RecognitionIndex.build([ReferencePhoto("a", image=image)], FeatureSettings.from_config(config))
    )
from art2mus.installation.vision.blas import blas_threads
rng = np.random.default_rng(1)
refs, frame = rng.random((10000, 128), dtype=np.float32), rng.random((100, 128), dtype=np.float32)
idle = []
for _ in range(3):
    frame @ refs.T
    cpu = time.process_time()
    time.sleep(0.2)
    idle.append(time.process_time() - cpu)
print(json.dumps({"threads": blas_threads(), "idle_cpu_s": idle}))
"""


def _run(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in blas.OPERATOR_SETTINGS}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_a_recognizer_built_as_the_daemon_builds_it_leaves_no_blas_worker_spinning():
    report = _run("recognizer")
    assert report["threads"], "numpy's BLAS library was not found"
    assert set(report["threads"].values()) == {1}, report["threads"]
    # the first sleep may still see a worker started before the limit settle; none spins after a later product
    assert max(report["idle_cpu_s"][1:]) < 0.02, report["idle_cpu_s"]


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) < 2,
    reason="OpenBLAS starts a worker per core this process may run on: none with one",
)
def test_without_the_limit_numpys_blas_runs_several_threads():
    # what the limit changes: left alone, numpy's BLAS shares such a product out among a thread per core
    report = _run("plain")
    assert max(report["threads"].values()) >= 2, report["threads"]


@pytest.mark.parametrize("name", blas.OPERATOR_SETTINGS)
def test_an_operators_thread_setting_is_kept(name, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("threadpool_limits called although the environment sets the threads")

    monkeypatch.setattr(blas, "threadpool_limits", refuse)
    assert blas.single_threaded_blas({name: "2"}) is False
