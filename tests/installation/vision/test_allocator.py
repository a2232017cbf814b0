"""The allocator keeps a frame loop's buffers: SIFT passes stop faulting their scale pyramid in again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from art2mus.installation.vision import allocator

# A recognizer's passes, a 320 px first pass and a 640 px refine pass per frame, in a thread (whose arena's
# heaps glibc unmaps whole: the harder case; the main thread's heap is only trimmed): page faults per frame
# once the heap has reached its peak (the first frames), with or without retain_frame_buffers.
SCRIPT = """
import resource, sys, threading
import cv2, numpy as np
from art2mus.installation.vision.allocator import retain_frame_buffers
applied = retain_frame_buffers() if sys.argv[1] == "retain" else None
cv2.setNumThreads(1)
rng = np.random.default_rng(0)
image = cv2.GaussianBlur((rng.random((480, 640)) * 255).astype(np.uint8), (0, 0), 2)
small = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
first, refine = cv2.SIFT_create(100), cv2.SIFT_create(1000)
faults = []
def frame():
    first.detectAndCompute(small, None)
    refine.detectAndCompute(image, None)
def loop():
    for _ in range(3):
        frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        frame()
    faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
thread = threading.Thread(target=loop)
thread.start()
thread.join()
print(applied, faults[0])
"""


def _faults_per_pass(mode: str) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    return out[0], float(out[1])


@pytest.mark.skipif(allocator.platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_retained_buffers_are_not_faulted_in_again():
    applied, retained = _faults_per_pass("retain")
    _, default = _faults_per_pass("default")
    assert applied == "True"
    # glibc's defaults hand the refine pass's pyramid (a 1280x960 octave first: about 60 MB) back to the
    # kernel when the first pass of the next frame trims the heap
    assert default > 2000, f"glibc's defaults no longer unmap a frame's buffers ({default:.0f} faults per frame)"
    assert retained < 50, f"{retained:.0f} page faults per frame with the buffers retained"


@pytest.mark.parametrize(
    "environ",
    [{"MALLOC_TRIM_THRESHOLD_": "131072"}, {"MALLOC_MMAP_THRESHOLD_": "0"}, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}],
)
def test_an_operators_malloc_setting_is_kept(environ, monkeypatch):
    def refuse(*_args):
        raise AssertionError("mallopt called although the environment sets malloc")

    monkeypatch.setattr(allocator.ctypes, "CDLL", refuse)
    assert allocator.retain_frame_buffers(environ) is False


def test_other_tunables_do_not_count_as_a_malloc_setting():
    assert allocator.retain_frame_buffers({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}) is (
        allocator.platform.libc_ver()[0] == "glibc"
    )
