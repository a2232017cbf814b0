"""``art2mus models``: what is in the local model directory (``list``), fetching it (``pull``), importing a
v1 aligner (``import-v1``), exporting an encoder to ONNX (``export-onnx``) and writing a tiny random-weight
one to try the whole path without weights (``debug``).

``pull`` needs a connected machine; copy the directory to the gallery machine afterwards. Neither
command imports torch. Each command is a call into :mod:`art2mus.models.manage`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from art2mus.installation.cli.options import folder_option, json_option
from art2mus.models import manage
from art2mus.models.encoders import ENCODER_BACKENDS
from art2mus.models.model_dir import (
    MODEL_DIR_ENV,
    MODEL_ENTRIES,
    V1_ALIGNERS,
    V1_LICENCE,
    ModelDir,
    format_size,
)


def _open(ctx: click.Context, _param: click.Parameter, model_dir: Path | None) -> ModelDir:
    """The model directory; tests hand in a factory (with a fake downloader) through ``ctx.obj``."""
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    return manage.open_model_dir(model_dir, obj.get("model_dir_factory", ModelDir))


def _plain_name(_ctx: click.Context, _param: click.Parameter, name: str) -> str:
    try:
        return manage.check_aligner_name(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_model_dir_option = folder_option(
    "--model-dir",
    "mdir",
    callback=_open,
    help=f"Model directory (default: ${MODEL_DIR_ENV}, else ~/.local/share/art2mus/models).",
)


@click.group("models")
def command() -> None:
    """Model weights: list what the local model directory holds, or pull it on a connected machine.

    AudioLDM2-music and ImageBind weights are licensed for non-commercial use only (CC BY-NC-SA 4.0).
    """


@command.command("list")
@_model_dir_option
@json_option("Print one JSON object instead of a table.")
def list_models(mdir: ModelDir, as_json: bool) -> None:
    """Show each model and aligner: present, missing or damaged (weights whose header does not cover the
    file, read without loading them), size on disk, licence and folder."""
    if as_json:
        click.echo(json.dumps(manage.status_document(mdir), indent=2))
        return
    for line in manage.status_lines(mdir):
        click.echo(line)


@command.command("pull")
@_model_dir_option
@click.option("--only", multiple=True, type=click.Choice(sorted([*MODEL_ENTRIES, *V1_ALIGNERS])), help="Pull only this model or v1 aligner (repeatable). Default: every model and both v1 aligners.")  # fmt: skip
@click.option("--force", is_flag=True, help="Download every file again even if the model is present and whole (a damaged one is downloaded again without it).")
def pull(mdir: ModelDir, only: tuple[str, ...], force: bool) -> None:
    """Download the models into the model directory (needs internet; resumable).

    Also downloads the authors' two published Art2Mus v1 aligners (github.com/justivanr/art2mus_, which
    states no licence) and imports them as aligners/art2mus-v1 and aligners/art2mus-v1-4tok.
    """
    try:
        fetched = manage.pull_models(mdir, only, force, click.echo)
    except (OSError, ValueError) as exc:  # HubUnreachableError, DownloadError: worded for the user
        raise click.ClickException(str(exc)) from exc
    click.echo(f"done: {len(fetched)} model(s) downloaded into {mdir.root}")


@command.command("import-v1")
@_model_dir_option
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, callback=_plain_name, help="Folder name under MODEL_DIR/aligners/ (what `train --init`, `evaluate --aligner` and an exhibit's `generators.<name>.aligner` take).")  # fmt: skip
@click.option("--encoder", "encoder_name", default="imagebind", show_default=True, help="Embedding space the checkpoint was trained on: imagebind or clip (the model directory's encoder of that kind; v1: ImageBind huge), or an encoder's name as `models list` shows it (imagebind_huge, clip-vit-large-patch14, a debug build's).")  # fmt: skip
@click.option(
    "--lm-dim",
    type=click.IntRange(min=1),
    default=None,
    help="GPT-2 width of the tokens (default: read from the checkpoint, half of projection1's outputs as in "
    "v1's layout; v1: 768).",
)
@click.option("--force", is_flag=True, help="Replace an existing aligner of that name, and import a checkpoint that does not fit this model directory's encoder or GPT-2.")  # fmt: skip
def import_v1(
    mdir: ModelDir, checkpoint: Path, name: str, encoder_name: str, lm_dim: int | None, force: bool
) -> None:
    """Convert an Art2Mus v1 image-projection state dict (.pt) into an aligner with the art2mus-v1 profile.

    A checkpoint whose embedding size or token width does not fit the model directory's encoder and GPT-2
    is refused (it could not play); --force imports it anyway.
    """
    try:
        out = manage.import_v1(mdir, checkpoint, name, encoder_name, lm_dim, force)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a read-only model directory, a full disk
        raise click.ClickException(manage.os_error_message(exc, mdir)) from exc
    click.echo(f"imported {checkpoint} into {out} (profile art2mus-v1; {V1_LICENCE})")
    # an exhibit takes the installed name when its generator's model_dir is this one (0ed2840); its paths
    # resolve against its YAML file, not here, so the folder and the model directory are printed absolute
    click.echo(
        f"to play it, set an exhibit's generators.<name>.aligner to {name} (`aligner: {name}`, with that "
        f"generator's model_dir {mdir.root.absolute()}; or the folder {out.absolute()}); "
        f"`evaluate --aligner` and `train --init` take the same name"
    )


@command.command("export-onnx")
@_model_dir_option
@click.option("--encoder", type=click.Choice([name for name in ENCODER_BACKENDS if name != "onnx"]), default="imagebind", show_default=True, help="Which image encoder of the model directory to export.")  # fmt: skip
@click.option("--encoder-path", type=click.Path(exists=True, path_type=Path), help="Encoder weights folder (default: its folder in the model directory).")  # fmt: skip
@click.option("--aligner", help="Also export this aligner (a name under aligners/ or a folder), so one ONNX graph gives the tokens the generator plays.")  # fmt: skip
@folder_option("--out", "out_dir", help="Output folder (default: MODEL_DIR/onnx/<encoder>[-<aligner>]; a training run's best/ or last/ is named with its run: <encoder>-<run>-best).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an export of another aligner (or of none) in the output folder.")  # fmt: skip
def export_onnx(
    mdir: ModelDir,
    encoder: str,
    encoder_path: Path | None,
    aligner: str | None,
    out_dir: Path | None,
    force: bool,
) -> None:
    """Export an image encoder (and optionally its aligner) to ONNX for onnxruntime on Jetson-class machines.

    The export is checked in onnxruntime against torch (cosine similarity >= 0.999) before it is kept.
    Use it with `encoder: onnx` and `encoder_path: <the output folder>` in the exhibit's art2mus generator.
    With an aligner, encoder.json records its folder, weights sha256 and profile: the generator plays the
    graph's tokens, and with `aligner:` unset that aligner (its folder, or an installed aligner of the same
    weights, is still read for its config); an `aligner:` of other weights is an error.
    """
    try:
        out_dir = manage.export_onnx(mdir, encoder, encoder_path, aligner, out_dir, click.echo, force)
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as exc:  # ValueError: EncoderLoadError too
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a read-only model directory, a full disk
        raise click.ClickException(manage.os_error_message(exc, mdir)) from exc
    click.echo(f"done: {out_dir} (use `encoder: onnx` with `encoder_path: {out_dir}`)")


@command.command("debug")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every random weight (the same seed writes the same weights).")  # fmt: skip
def debug(directory: Path, seed: int) -> None:
    """Tiny random-weight builds of every network from local configs, for trying the whole path and for
    tests; makes no sound worth hearing.

    Writes a model directory at DIRECTORY (AudioLDM2, ImageBind, CLIP and aligners for them, a few MiB, no
    download) that every command takes as its model directory. A folder holding anything but an earlier
    debug build is refused: the build would overwrite the models there. Over an earlier debug build the debug
    parts are written again and everything else there (imported or trained aligners, other files) is kept
    and named.
    """
    try:
        build = manage.build_debug_models(directory, seed)
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a folder this user may not write, a full disk
        raise click.ClickException(
            f"{exc.filename or directory}: {(exc.strerror or str(exc)).lower()}"
        ) from exc
    mdir = build.mdir
    where = mdir.root.absolute()
    click.echo(
        f"wrote a debug model directory to {where} (random weights, seed {seed}; no sound worth hearing):"
    )
    rows = [row for row in mdir.status() if row.key in build.written]
    name_w = max(len(row.key) for row in rows)
    for row in rows:
        click.echo(f"  {row.key:<{name_w}}  {format_size(row.size_bytes) if row.size_bytes else '-':>10}")
    if build.kept:
        click.echo(f"kept what was there besides the earlier debug build, untouched: {', '.join(build.kept)}")
    click.echo(
        f"to use it, set {MODEL_DIR_ENV}={where} or give --model-dir {where} "
        f"(art2mus models list --model-dir {where} shows it)"
    )
