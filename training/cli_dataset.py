"""``art2mus dataset build``: pair a museum's artworks with music from its library (the manifest
``art2mus train`` reads), or rebuild Art2Mus v1's ArtSound-style pairs from its pair list.

Lives in ``training/`` so the daemon never imports it; the ``art2mus`` group loads it by name.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

logger = logging.getLogger(__name__)


def progress_printer(what: str, enabled: bool):
    """A ``progress(done, total, name)`` callback printing a line every 5 % (for logs and pipes)."""
    shown = {"last": -1}

    def progress(done: int, total: int, name: str) -> None:
        tick = done * 20 // max(1, total)
        if enabled and (tick != shown["last"] or done == total):
            shown["last"] = tick
            click.echo(f"{what}: {done}/{total} {name}", err=True)

    return progress


@click.group("dataset")
def command() -> None:
    """Build training pairs for `art2mus train`."""


@command.command("build")
@click.option(
    "--images",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of artwork images (searched recursively; unreadable files are skipped and listed).",
)
@click.option(
    "--music",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of music (wav, flac, ogg, mp3...; searched recursively).",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The manifest to write (CSV: id,image,audio,score), read by `art2mus train`.",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Model directory holding ImageBind (default: $ART2MUS_MODEL_DIR or the user's data folder).",
)
@click.option(
    "--per-image", type=click.IntRange(1, 16), default=1, show_default=True, help="Tracks per artwork."
)
@click.option(
    "--max-per-track",
    type=click.IntRange(min=1),
    default=None,
    help="Artworks per track at most (default: the fewest that serve every artwork).",
)
@click.option(
    "--rules",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Curator rules YAML: tags, eras and never-pair globs (see the README).",
)
@click.option(
    "--from-v1",
    "v1_pairs",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read Art2Mus v1's pair list (image_audio_subset_df.json) against --images (ArtGraph) and "
    "--music (FMA) instead of pairing by ImageBind.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML report (thumbnail, track, score); default: the manifest's name with .html.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def build(
    images: Path,
    music: Path,
    out_path: Path,
    model_dir: Path | None,
    per_image: int,
    max_per_track: int | None,
    rules: Path | None,
    v1_pairs: Path | None,
    report: Path | None,
    device: str,
) -> None:
    """Pair each artwork under --images with the best-matching music under --music in ImageBind's joint
    space (cosine of the image's and the track's embeddings), at most --max-per-track artworks per track,
    within the curator --rules; write the manifest and an HTML report."""
    from art2mus.training.collection import CollectionError, scan_images, scan_music
    from art2mus.training.dataset import PairsError
    from art2mus.training.pairing import CuratorRules, read_v1_pairs, write_manifest, write_report

    report = report or out_path.with_suffix(".html")
    if v1_pairs is not None:
        try:
            pairs, problems = read_v1_pairs(v1_pairs, images, music)
        except PairsError as exc:
            raise click.ClickException(str(exc)) from None
        for line in problems[:20]:
            click.echo(line, err=True)
        if len(problems) > 20:
            click.echo(f"... and {len(problems) - 20} more", err=True)
        if not pairs:
            raise click.ClickException(f"{v1_pairs}: none of its pairs was found under {images} and {music}")
        rows = [(p.id, p.image, p.audio, None) for p in pairs]
        write_manifest(out_path, rows)
        write_report(report, rows, [], [], title=f"Art2Mus v1 pairs from {v1_pairs.name}")
        click.echo(f"{len(rows)} pairs ({len(problems)} entries not found) -> {out_path}; report {report}")
        return

    try:
        curator = CuratorRules.load(rules) if rules is not None else None
        image_scan = scan_images(images)
        music_scan = scan_music(music)
    except (CollectionError, PairsError) as exc:
        raise click.ClickException(str(exc)) from None
    for path, reason in image_scan.skipped + music_scan.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    rows, unpaired = pair_by_imagebind(
        image_scan.files, music_scan.files, model_dir, device, per_image, max_per_track, curator
    )
    write_manifest(out_path, rows)
    write_report(report, rows, image_scan.skipped + music_scan.skipped, unpaired)
    tracks_used = len({audio for _, _, audio, _ in rows})
    click.echo(
        f"{len(rows)} pairs of {len(image_scan.files)} artworks with {tracks_used} of "
        f"{len(music_scan.files)} tracks ({len(image_scan.skipped) + len(music_scan.skipped)} files skipped, "
        f"{len(unpaired)} artworks unpaired) -> {out_path}; report {report}"
    )


def pair_by_imagebind(
    images: list[Path],
    tracks: list[Path],
    model_dir: Path | None,
    device: str,
    per_image: int,
    max_per_track: int | None,
    curator,
) -> tuple[list[tuple[str, Path, Path, float]], list[Path]]:
    """Embed, score and assign (see :mod:`art2mus.training.pairing`): manifest rows and unpaired images."""
    import numpy as np
    import torch

    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir, default_model_dir
    from art2mus.training.collection import embed_all, read_rgb, track_embedding
    from art2mus.training.pairing import assign_pairs

    target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        path = ModelDir(model_dir or default_model_dir()).encoder_path("imagebind")
        encoder = load_image_encoder("imagebind", path, device=target)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    with torch.no_grad():
        image_rows = embed_all(
            images,
            lambda p: encoder.encode_images([read_rgb(p)]).float().cpu().numpy()[0],
            "image",
            progress_printer("embedding artworks", True),
        )
        track_rows = embed_all(
            tracks, lambda p: track_embedding(encoder, p), "track", progress_printer("embedding music", True)
        )
    scores = image_rows @ track_rows.T
    allowed = None
    if curator is not None:
        allowed = np.array([[curator.allowed(i, t) for t in tracks] for i in images], dtype=bool)
    chosen = assign_pairs(scores, per_image=per_image, max_per_track=max_per_track, allowed=allowed)
    served = {a.image for a in chosen}
    rows, used = [], set()
    for a in chosen:
        stem = images[a.image].stem
        pair_id = stem if per_image == 1 else f"{stem}-{tracks[a.track].stem}"
        while pair_id in used:  # two images of one name in different sub-folders
            pair_id += "-2"
        used.add(pair_id)
        rows.append((pair_id, images[a.image], tracks[a.track], a.score))
    return rows, [p for k, p in enumerate(images) if k not in served]
