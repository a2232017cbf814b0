"""Files written whole or not at all, with the mode any file of this process gets (0666 less the umask).

What one user writes another often reads: ``art2mus prerender`` or ``train`` run by a curator or as root,
and the daemon, which runs as its own user (systemd ``User=art2mus``), reads the soundscape cache, the
aligners and the training data. ``tempfile.mkstemp`` and safetensors' ``save_file`` (0.8 writes a
temporary file of its own, renamed into place) create 0600 files whatever the umask, which that other
user cannot open. Here a file is written under a new name no other writer uses, opened with 0666 so the
umask decides as for any file, then renamed over the target: a reader sees the old file or the new one,
never half of it. Importing this module imports neither torch nor safetensors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_whole(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file beside it, renamed into place).

    Several writers may store the same path at once (a daemon and ``art2mus prerender``): each writes its
    own temporary file. The data is flushed to disk before the rename and the rename after it, so a power
    cut leaves the old file or the new one, never an empty one (a file system that cannot sync a folder is
    let be). Raises OSError (the temporary file is removed)."""
    target = Path(path)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free temporary name beside {target}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(target.parent)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` survive a power cut (best effort: some file systems refuse it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_tensors(
    tensors: Mapping[str, Any], path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """``safetensors.torch.save_file`` through :func:`write_whole`: the same bytes, with the umask's mode.

    Args:
        tensors: name -> contiguous CPU tensor (as ``save_file`` takes them).
        metadata: text stored in the header (``save_file``'s ``metadata``).
    """
    from safetensors.torch import save

    write_whole(path, save(dict(tensors), metadata=None if metadata is None else dict(metadata)))
