"""A museum's own folders: the artwork images and the music library, read once with problems listed.

:func:`scan_images` reads every image under a folder (a corrupt or unreadable file is skipped and
listed, never fatal); :func:`scan_music` lists every audio file libsndfile can open (unreadable ones
listed) and raises :class:`CollectionError` when none is left. :func:`track_embedding` is a track's
ImageBind audio embedding: the mean of its segments' embeddings, re-normalised.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")
#: images larger than this (pixels) are refused: a decompression bomb must not take the machine's memory
MAX_IMAGE_PIXELS = 80_000_000


class CollectionError(ValueError):
    """A folder holds nothing usable; the message names it and what was expected."""


@dataclass
class Scan:
    """Files found under a folder: the usable ones and the skipped ones with the reason."""

    root: Path
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _files(root: Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    if not root.is_dir():
        raise CollectionError(f"{root}: not a folder (expected a folder of {what})")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def read_rgb(path: Path) -> np.ndarray:
    """An image file -> RGB uint8 ``(H, W, 3)``; ``ValueError`` naming the file when it cannot be decoded."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError("not an image OpenCV can decode (corrupt or unsupported)")
    if bgr.shape[0] * bgr.shape[1] > MAX_IMAGE_PIXELS:
        raise ValueError(f"{bgr.shape[1]}x{bgr.shape[0]} pixels is more than {MAX_IMAGE_PIXELS}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def scan_images(root: str | Path) -> Scan:
    """Every decodable image under ``root`` (recursively, sorted); undecodable ones in ``skipped``."""
    scan = Scan(Path(root))
    for path in _files(scan.root, IMAGE_SUFFIXES, "images"):
        try:
            read_rgb(path)
        except (ValueError, OSError) as exc:
            scan.skipped.append((path, str(exc)))
            logger.debug("skipping image %s: %s", path, exc)  # the caller lists scan.skipped
            continue
        scan.files.append(path)
    if not scan.files:
        raise CollectionError(
            f"{scan.root}: no readable image ({', '.join(IMAGE_SUFFIXES)})"
            + (
                f"; {len(scan.skipped)} skipped: {scan.skipped[0][0]}: {scan.skipped[0][1]}"
                if scan.skipped
                else ""
            )
        )
    return scan


def identical_files(paths: list[Path]) -> list[list[Path]]:
    """The groups (two or more, in ``paths``' order) of byte-identical files among ``paths``: the same work
    under two names. Only files of one size are read (sha256), so a library of distinct tracks costs a
    ``stat`` each."""
    by_size: dict[int, list[Path]] = {}
    for path in paths:
        by_size.setdefault(path.stat().st_size, []).append(path)
    groups: dict[str, list[Path]] = {}
    for same_size in by_size.values():
        if len(same_size) > 1:
            for path in same_size:
                digest = hashlib.sha256()
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                groups.setdefault(digest.hexdigest(), []).append(path)
    order = {path: k for k, path in enumerate(paths)}
    return sorted(
        (sorted(g, key=order.__getitem__) for g in groups.values() if len(g) > 1), key=lambda g: order[g[0]]
    )


#: samples read from the end of each track by :func:`scan_music` (a fraction of a second)
TAIL_FRAMES = 4096


def read_tail(path: Path, frames: int) -> None:
    """Seek to the last :data:`TAIL_FRAMES` of the ``frames`` the header announces and decode them: a
    truncated file (FLAC cut short: libsndfile's header reading succeeds, its decoding fails) raises
    ``RuntimeError`` in milliseconds, where decoding it all would take the whole track's time."""
    import soundfile

    with soundfile.SoundFile(str(path)) as handle:
        handle.seek(max(0, frames - TAIL_FRAMES))
        handle.read(TAIL_FRAMES, dtype="float32")


def scan_music(root: str | Path) -> Scan:
    """Every audio file under ``root`` libsndfile can open, with at least one sample and a readable end
    (a truncated file is skipped); raises :class:`CollectionError` when there is none. Damage within a
    track shows only when it is decoded: :func:`embed_all` and the music-only dataset skip such a track."""
    from art2mus.training.dataset import audio_problem, native_stderr_quiet

    scan = Scan(Path(root))
    with native_stderr_quiet():
        for path in _files(scan.root, AUDIO_SUFFIXES, "music"):
            problem = audio_problem(path)
            if problem:
                scan.skipped.append((path, problem))
            else:
                scan.files.append(path)
    for path, reason in scan.skipped:
        logger.debug("skipping music %s: %s", path, reason)  # the caller lists scan.skipped
    if not scan.files:
        found = f"{len(scan.skipped)} audio file(s) found, none readable" if scan.skipped else "no audio file"
        raise CollectionError(
            f"{scan.root}: no readable music ({found}; expected {', '.join(AUDIO_SUFFIXES)} files "
            "that libsndfile can decode)"
        )
    return scan


def track_embedding(encoder: Any, path: Path, segment_s: float = 10.0, max_segments: int = 3) -> np.ndarray:
    """A track's ImageBind audio embedding ``(dim,)``: its segments' embeddings averaged, unit norm."""
    from art2mus.training import features

    wave = features.load_audio_16k(str(path))
    pieces = features.segments(wave, segment_s, max_segments=max_segments) or [wave]
    rows = encoder.encode_audio(pieces, features.SAMPLE_RATE).float().cpu().numpy()
    mean = rows.mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)


@dataclass
class Embedded:
    """What :func:`embed_all` made: ``rows`` ``(len(files), dim)``, one per file of ``files`` (in order),
    and the items that could not be decoded in ``skipped``, with the reason."""

    rows: np.ndarray
    files: list[Path]
    skipped: list[tuple[Path, str]]


def embed_all(
    items: list[Path],
    embed: Callable[[Path], np.ndarray],
    what: str,
    progress: Callable[[int, int, str], None] | None = None,
) -> Embedded:
    """The embeddings of ``items``, reporting progress after each; an item ``embed`` cannot decode
    (``ValueError``: a track damaged within, which the scan's look at its end did not see) is left out and
    listed, so one bad file does not lose the others' work."""
    rows, files, skipped = [], [], []
    for k, path in enumerate(items):
        try:
            rows.append(embed(path))
        except ValueError as exc:
            logger.debug("skipping %s %s: %s", what, path, exc)  # the caller lists Embedded.skipped
            skipped.append((path, str(exc)))
        else:
            files.append(path)
        if progress is not None:
            progress(k + 1, len(items), f"{what} {path.name}")
    return Embedded(
        np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32), files, skipped
    )


#: seconds after which :func:`progress_printer` gives a line whatever the count
PROGRESS_INTERVAL_S = 10.0


def progress_printer(
    what: str,
    echo: Callable[[str], None],
    interval_s: float = PROGRESS_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[int, int, str], None]:
    """A ``progress(done, total, name)`` callback handing ``echo`` a line for logs and pipes: the first
    item, every tenth of the total, the last, and otherwise one every ``interval_s`` seconds (a slow item
    still shows the run is alive). Every 5 % was a line per item for up to 20 items."""
    shown = {"at": -math.inf}

    def progress(done: int, total: int, name: str) -> None:
        now = clock()
        step = max(1, math.ceil(total / 10))
        if done in (1, total) or done % step == 0 or now - shown["at"] >= interval_s:
            shown["at"] = now
            echo(f"{what}: {done}/{total} {name}")

    return progress
