"""The process's BLAS threads, held to the calling thread for a frame loop.

numpy's OpenBLAS starts a worker thread per core and shares a large enough product out among them; after
each one its workers busy-wait for the next (OpenBLAS's thread timeout: about 0.1 s of a core) before they
sleep. The recognizer's one large product, the exact search of a shortlist (up to 1,000 x 128 frame
descriptors by 128 x 10,000 of eight artworks' keypoints, a few milliseconds), runs every few frames on a
walk, so a worker spun beside most of them: it took a core of its own in the daemon, and in a process
pinned to one core (``benchmarks/bench_recognition.py``) it took half of that core from SIFT. Measured on
2 cores: a 100 x 128 by 128 x 10,000 product, then a 0.1 s sleep, cost 100 ms of CPU in the sleep; the
recognition benchmark (100 artworks, one core) went from a median of 27.5 ms per frame to 15.1 ms and a p90
of 69.9 ms to 38.2 ms with the product on the calling thread, decisions unchanged. A product of this size
gains nothing from a second thread on a machine whose other core decodes the camera and mixes the audio.

:func:`single_threaded_blas` sets numpy's BLAS to one thread for the rest of the process, through
threadpoolctl (the libraries' own calls: numpy is already imported, so their environment variables are
read too late). A thread count set by the operator (``OPENBLAS_NUM_THREADS`` and its kin) is left as it is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from threadpoolctl import threadpool_info, threadpool_limits

logger = logging.getLogger(__name__)

#: environment variables through which an operator sets BLAS's threads (then they are left alone)
OPERATOR_SETTINGS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def single_threaded_blas(environ: Mapping[str, str] = os.environ) -> bool:
    """Run numpy's BLAS products on the calling thread for the rest of the process (see the module's
    docstring). Returns True when the limit was set; False when ``environ`` (the process's environment)
    already sets BLAS's threads."""
    chosen = [name for name in OPERATOR_SETTINGS if name in environ]
    if chosen:
        logger.info("blas: threads set by the environment (%s), left as they are", ", ".join(chosen))
        return False
    threadpool_limits(limits=1, user_api="blas")
    return True


def blas_threads() -> dict[str, int]:
    """Threads of each BLAS library loaded in the process, by file (what :func:`single_threaded_blas` set)."""
    return {info["filepath"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
