"""``art2mus dataset build``: pair a museum's artworks with music from its library (the manifest
``art2mus train`` reads), or rebuild Art2Mus v1's ArtSound-style pairs from its pair list.

A few lines over :mod:`art2mus.training.manifest`, imported inside the command so the rest of the CLI
never imports training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from art2mus.installation.cli.options import device_option, file_option, folder_option, model_dir_option

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir


@click.group("dataset")
def command() -> None:
    """Build training pairs for `art2mus train`."""


@command.command("build")
@folder_option("--images", required=True, help="Folder of artwork images (searched recursively; unreadable files are skipped and listed).")  # fmt: skip
@folder_option("--music", required=True, help="Folder of music (wav, flac, ogg, mp3...; searched recursively; unreadable or damaged files are skipped and listed).")  # fmt: skip
@file_option("-o", "--out", "out_path", required=True, help="The manifest to write (CSV: id,image,audio,score), read by `art2mus train`.")  # fmt: skip
@model_dir_option("Model directory holding ImageBind.")
@click.option(
    "--per-image", type=click.IntRange(1, 16), default=1, show_default=True, help="Tracks per artwork."
)
@click.option("--max-per-track", type=click.IntRange(min=1), default=None, help="Artworks per track at most (default: the fewest that serve every artwork).")  # fmt: skip
@file_option(
    "--rules", default=None, help="Curator rules YAML: tags, eras and never-pair globs (see the README)."
)
@file_option("--from-v1", "v1_pairs", default=None, help="Read Art2Mus v1's pair list (image_audio_subset_df.json) against --images (ArtGraph) and --music (FMA) instead of pairing by ImageBind.")  # fmt: skip
@file_option("--report", default=None, help="HTML report (thumbnail, track, score); default: the manifest's name with .html.")  # fmt: skip
@device_option()
def build(
    images: Path,
    music: Path,
    out_path: Path,
    model_dir: ModelDir,
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
    from art2mus.training.manifest import ManifestError, build_imagebind_manifest, build_v1_manifest

    report = report or out_path.with_suffix(".html")
    echo = lambda line: click.echo(line, err=True)  # noqa: E731 - one line, named for the calls below
    try:
        if v1_pairs is not None:
            line = build_v1_manifest(v1_pairs, images, music, out_path, report, echo)
        else:
            line = build_imagebind_manifest(
                images, music, out_path, report, model_dir=model_dir, device=device, per_image=per_image,
                max_per_track=max_per_track, rules=rules, echo=echo,
            )  # fmt: skip
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(line)
