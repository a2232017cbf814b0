"""``art2mus dataset build``: the pairs manifest ``art2mus train`` reads, written with its HTML report.

Two ways to make one: :func:`build_imagebind_manifest` pairs each artwork of a museum's image folder with
the best-matching tracks of its music library in ImageBind's joint space (within the curator's rules,
:mod:`.pairing` assigns), and :func:`build_v1_manifest` rebuilds Art2Mus v1's ArtSound-style pairs from its
pair list. Both return the line the command prints; problems a user can fix are :class:`ManifestError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from art2mus.training.collection import CollectionError, progress_printer, scan_images, scan_music
from art2mus.training.dataset import PairsError
from art2mus.training.pairing import CuratorRules, read_v1_pairs, write_manifest, write_report

Line = Callable[[str], None]
#: a manifest row: pair id, image, audio, ImageBind score (None: not scored)
Row = tuple[str, Path, Path, float | None]

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir


class ManifestError(ValueError):
    """The folders, rules or pair list give no manifest; the message names the file."""


def _write_both(
    out_path: Path, report: Path, rows: list[Row], skipped: list[Any], unpaired: list[Path], **title: str
) -> None:
    """The manifest, then its report, each whole or not at all; a full disk is one sentence naming the file
    (and the manifest, when only the report failed)."""
    from art2mus.training.disk_space import cannot_write, is_disk_full

    try:
        write_manifest(out_path, rows)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise ManifestError(
            cannot_write(out_path, exc, "nothing is written; free space and run it again")
        ) from None
    try:
        write_report(report, rows, skipped, unpaired, **title)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        kept = f"the manifest {out_path} is written whole (`art2mus train` can read it); the report is not"
        raise ManifestError(cannot_write(report, exc, kept)) from None


def _warn_fewer_than_asked(rows: list[Row], per_image: int, tracks: int, echo: Line) -> None:
    """Say when artworks got fewer than ``per_image`` tracks: more than the library's readable tracks, or
    too few left by the rules and the per-track cap (the manifest was written, quietly smaller)."""
    if per_image <= 1 or not rows:
        return
    counts: dict[Path, int] = {}
    for _, image, _, _ in rows:
        counts[image] = counts.get(image, 0) + 1
    short = sum(1 for n in counts.values() if n < per_image)
    if not short:
        return
    why = (
        f"the music has {tracks} readable track{'s' if tracks != 1 else ''}"
        if tracks < per_image
        else "the rules and --max-per-track leave fewer"
    )
    echo(
        f"warning: --per-image {per_image}: {short} of {len(counts)} artworks got fewer than {per_image} tracks "
        f"({why}; at least {min(counts.values())} each)"
    )


def _warn_copies(rows: list[Row], echo: Line) -> None:
    """Name the paired images (and tracks) that are byte-identical copies under other names: one artwork
    paired as two is a pair whose copy can be held out for validation while its twin trains."""
    from art2mus.training.collection import identical_files

    for kind, column in (("picture", 1), ("track", 2)):
        for first, *copies in identical_files(list(dict.fromkeys(row[column] for row in rows))):
            for copy in copies:
                echo(
                    f"warning: {copy} is a byte-identical copy of {first}: one {kind} under two names is "
                    "paired twice (a copy can be held out for validation while its twin trains); leave one out"
                )


def build_v1_manifest(
    v1_pairs: Path, images: Path, music: Path, out_path: Path, report: Path, echo: Line
) -> str:
    """Art2Mus v1's pair list (``image_audio_subset_df.json``) against ``images`` (ArtGraph) and ``music``
    (FMA): the manifest and report written, the entries not found handed to ``echo`` (20 at most)."""
    try:
        pairs, problems = read_v1_pairs(v1_pairs, images, music)
    except PairsError as exc:
        raise ManifestError(str(exc)) from None
    for line in problems[:20]:
        echo(line)
    if len(problems) > 20:
        echo(f"... and {len(problems) - 20} more")
    if not pairs:
        raise ManifestError(f"{v1_pairs}: none of its pairs was found under {images} and {music}")
    rows: list[Row] = [(p.id, p.image, p.audio, None) for p in pairs]
    _write_both(out_path, report, rows, [], [], title=f"Art2Mus v1 pairs from {v1_pairs.name}")
    return f"{len(rows)} pairs ({len(problems)} entries not found) -> {out_path}; report {report}"


def build_imagebind_manifest(
    images: Path,
    music: Path,
    out_path: Path,
    report: Path,
    *,
    model_dir: Path | ModelDir | None,
    device: str,
    per_image: int,
    max_per_track: int | None,
    rules: Path | None,
    echo: Line,
) -> str:
    """Pair each artwork under ``images`` with its best ``per_image`` tracks under ``music`` (at most
    ``max_per_track`` artworks per track, within the curator ``rules``); write the manifest and report.
    Skipped files and progress lines go to ``echo``."""
    try:
        curator = CuratorRules.load(rules) if rules is not None else None
        image_scan = scan_images(images)
        music_scan = scan_music(music)
    except (CollectionError, PairsError) as exc:
        raise ManifestError(str(exc)) from None
    skipped = image_scan.skipped + music_scan.skipped
    for path, reason in skipped:
        echo(f"skipped {path}: {reason}")
    rows, unpaired, undecodable = pair_by_imagebind(
        image_scan.files, music_scan.files, model_dir, device, per_image, max_per_track, curator, echo
    )
    for path, reason in undecodable:  # found while embedding: listed like the scan's
        echo(f"skipped {path}: {reason}")
    skipped += undecodable
    tracks = len(music_scan.files) - len(undecodable)
    _warn_fewer_than_asked(rows, per_image, tracks, echo)
    _warn_copies(rows, echo)
    _write_both(out_path, report, rows, skipped, unpaired)
    from art2mus.training.dataset import DEFAULT_SEGMENT_S, short_music

    short = short_music(audio for _, _, audio, _ in rows)
    for path, seconds in short.items():  # train refuses them at its default; said now, not at training
        echo(
            f"warning: {path} is {seconds:.1f} s, shorter than half of `art2mus train`'s "
            f"{DEFAULT_SEGMENT_S:g} s segment: train with --segment-seconds {2 * seconds:.1f} or less, or "
            "leave it out"
        )
    tracks_used = len({audio for _, _, audio, _ in rows})
    return (
        f"{len(rows)} pairs of {len(image_scan.files)} artworks with {tracks_used} of "
        f"{tracks} tracks ({len(skipped)} {'file' if len(skipped) == 1 else 'files'} skipped, "
        f"{len(unpaired)} {'artwork' if len(unpaired) == 1 else 'artworks'} unpaired) -> {out_path}; "
        f"report {report}"
    )


def pair_by_imagebind(
    images: list[Path],
    tracks: list[Path],
    model_dir: Path | ModelDir | None,
    device: str,
    per_image: int,
    max_per_track: int | None,
    curator: Any,
    echo: Line,
) -> tuple[list[Row], list[Path], list[tuple[Path, str]]]:
    """Embed, score and assign (see :mod:`art2mus.training.pairing`): manifest rows, unpaired images, and
    the files that could not be decoded, with the reason (left out, the others paired)."""
    import numpy as np
    import torch

    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir, default_model_dir
    from art2mus.training.collection import embed_all, read_rgb, track_embedding
    from art2mus.training.pairing import assign_pairs
    from art2mus.training.train_job import resolve_device

    try:
        mdir = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir or default_model_dir())
        path = mdir.encoder_path("imagebind")
        encoder = load_image_encoder("imagebind", path, device=resolve_device(device))
    except (FileNotFoundError, ValueError) as exc:
        raise ManifestError(str(exc)) from None
    with torch.no_grad():
        embedded_images = embed_all(
            images,
            lambda p: encoder.encode_images([read_rgb(p)]).float().cpu().numpy()[0],
            "image",
            progress_printer("embedding artworks", echo),
        )
        embedded_tracks = embed_all(
            tracks, lambda p: track_embedding(encoder, p), "track", progress_printer("embedding music", echo)
        )
    undecodable = embedded_images.skipped + embedded_tracks.skipped
    images, tracks = embedded_images.files, embedded_tracks.files
    if not images or not tracks:
        empty = "artworks" if not images else "music"
        raise ManifestError(
            f"no {empty} left to pair: every file could not be decoded ({undecodable[0][0]}: {undecodable[0][1]})"
        )
    scores = embedded_images.rows @ embedded_tracks.rows.T
    allowed = None
    if curator is not None:
        allowed = np.array([[curator.allowed(i, t) for t in tracks] for i in images], dtype=bool)
    chosen = assign_pairs(scores, per_image=per_image, max_per_track=max_per_track, allowed=allowed)
    served = {a.image for a in chosen}
    rows: list[Row] = []
    used: set[str] = set()
    for a in chosen:
        stem = images[a.image].stem
        pair_id = stem if per_image == 1 else f"{stem}-{tracks[a.track].stem}"
        while pair_id in used:  # two images of one name in different sub-folders
            pair_id += "-2"
        used.add(pair_id)
        rows.append((pair_id, images[a.image], tracks[a.track], a.score))
    return rows, [p for k, p in enumerate(images) if k not in served], undecodable
