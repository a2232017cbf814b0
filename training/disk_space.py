"""A full disk while training or building a dataset: one sentence naming the file and what is kept.

``ulimit -f``, a full file system and a spent quota all end a write with an ``OSError`` (EFBIG, ENOSPC,
EDQUOT) that raised through ``art2mus train`` and ``dataset build`` as a traceback. The writers here
catch those three and say which file could not be written and what the run keeps.
"""

from __future__ import annotations

import errno
from pathlib import Path

#: the errors of a write that more room would let through, with the words a message gives them
FULL_DISK = {
    errno.EFBIG: "file too large",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
}


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write refused for want of room (file size limit, full disk, quota)."""
    return isinstance(exc, OSError) and exc.errno in FULL_DISK


def cannot_write(path: str | Path, exc: OSError, kept: str) -> str:
    """``cannot write PATH: file too large / no space left on device; KEPT``: for a full-disk ``exc``
    (:func:`is_disk_full`); ``kept`` says what is kept and how to go on."""
    reason = FULL_DISK.get(exc.errno or 0, exc.strerror or str(exc))
    if exc.errno in (errno.EFBIG, errno.ENOSPC):  # ulimit -f and a full disk look alike to the user
        reason = "file too large / no space left on device"
    return f"cannot write {path}: {reason}; {kept}"
