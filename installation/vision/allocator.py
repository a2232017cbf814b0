"""The process's memory allocator, set for a frame loop that allocates the same large buffers every frame.

Each recognition pass allocates SIFT's scale pyramid and frees it when the pass ends: about 15 MB of
float images for a 320 px first pass (OpenCV doubles the image first), about 60 MB for a 640 px refine
pass. glibc's malloc serves a block above its mmap threshold with a fresh ``mmap`` and unmaps it on
``free``, and hands the free top of a heap back to the kernel once it exceeds the trim threshold (128 KiB
each at first; glibc raises the mmap threshold to the largest block freed so far and the trim threshold to
twice that, about 10 MB, still less than a pass frees at once). So every pass touched its buffers as new
pages: on the demo walk 110,000 page
faults, 0.26-0.28 CPU s of kernel time in 4.8-5.1 s; a thread running a first and a refine pass per
frame spent 17 of 67 ms per frame in the kernel.

:func:`retain_frame_buffers` raises these thresholds once for the process, and the top pad that decides
whether a thread's arena keeps an emptied heap (recognition from a thread other than the main one: such an
arena lives in 64 MiB heaps, and glibc unmaps a heap whole once a pass has emptied it). Freed buffers then
stay mapped and the next frame reuses them: resident memory stays at the same peak (it is the same
buffers; +5 MB measured with a first and a refine pass per frame in a thread), and the page faults and
their kernel time are gone. A setting made by the operator (glibc's ``MALLOC_*_`` variables or
``GLIBC_TUNABLES``) is left as it is.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
from collections.abc import Mapping

logger = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
#: blocks below this come from the heap, not a fresh mmap (glibc's largest on 64-bit: 32 MiB); a refine
#: pass's largest buffer is a 1280x960 float image, 4.9 MB
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: free memory at a heap's top kept mapped up to this much (a refine pass frees about 60 MB at once)
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
#: a thread arena's emptied heap is unmapped unless the heap before it has this much room (a heap's size,
#: 64 MiB, keeps every one); the main heap grows by it too (address space only, no page is touched)
TOP_PAD_BYTES = 64 * 1024 * 1024
#: environment variables through which an operator sets glibc's malloc (then it is left alone)
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def retain_frame_buffers(environ: Mapping[str, str] = os.environ) -> bool:
    """Keep freed frame buffers mapped for the rest of the process (see the module's docstring).

    Returns True when the thresholds were set; False on a C library other than glibc or when ``environ``
    (the process's environment) already sets glibc's malloc."""
    if platform.libc_ver()[0] != "glibc":
        logger.debug("allocator: not glibc (%s), left as it is", platform.libc_ver()[0] or "unknown")
        return False
    chosen = [name for name in OPERATOR_SETTINGS if name in environ]
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        chosen.append("GLIBC_TUNABLES")
    if chosen:
        logger.info("allocator: malloc set by the environment (%s), left as it is", ", ".join(chosen))
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            (M_TOP_PAD, TOP_PAD_BYTES),
        )
    )
    if not ok:
        logger.warning("allocator: glibc refused the frame-buffer thresholds; page faults stay per frame")
    return ok
