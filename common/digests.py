"""SHA-256 of a file's bytes, read once per process while the file is unchanged.

At a start the daemon needs the digest of every reference photo three times (the recognition index's
fingerprint, each soundscape's cache key, the idle ambience's collection key), and again at each config
reload: with 1,000 photos of a few MB each that was gigabytes read and hashed per start. A digest is kept
under the file's identity, size and times (``os.stat``), as the photo checks' stored findings are; a file
written again gets new times and is read again.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

#: files whose digests one process keeps (a few hundred bytes each)
MEMO_SIZE = 16384


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of ``path``'s bytes; OSError when it cannot be read."""
    info = os.stat(path)
    return _digest(
        os.fspath(path), (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    )


@functools.lru_cache(maxsize=MEMO_SIZE)
def _digest(path: str, _signature: tuple[int, ...]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
