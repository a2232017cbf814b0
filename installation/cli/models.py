"""``art2mus models``: what is in the local model directory (``list``) and fetching it (``pull``).

``pull`` needs a connected machine; copy the directory to the gallery machine afterwards. Neither
command imports torch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from art2mus.models.model_dir import (
    MODEL_DIR_ENV,
    MODEL_ENTRIES,
    V1_ALIGNERS,
    V1_LICENCE,
    HubUnreachableError,
    ModelDir,
    default_model_dir,
    format_size,
)

ModelDirFactory = Callable[[Path], ModelDir]

_model_dir_option = click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Model directory (default: ${MODEL_DIR_ENV}, else ~/.local/share/art2mus/models).",
)


def _open(ctx: click.Context, model_dir: Path | None) -> ModelDir:
    """The model directory; tests hand in a factory (with a fake downloader) through ``ctx.obj``."""
    root = model_dir if model_dir is not None else default_model_dir()
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    factory: ModelDirFactory = obj.get("model_dir_factory", ModelDir)
    return factory(root)


@click.group("models")
def command() -> None:
    """Model weights: list what the local model directory holds, or pull it on a connected machine.

    AudioLDM2-music and ImageBind weights are licensed for non-commercial use only (CC BY-NC-SA 4.0).
    """


@command.command("list")
@_model_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def list_models(ctx: click.Context, model_dir: Path | None, as_json: bool) -> None:
    """Show each model and aligner: present or missing, size on disk, licence and folder."""
    mdir = _open(ctx, model_dir)
    rows = mdir.status()
    if as_json:
        click.echo(json.dumps({"model_dir": str(mdir.root), "models": [r.as_dict() for r in rows]}, indent=2))
        return
    click.echo(f"model directory: {mdir.root}")
    name_w = max(len(r.key) for r in rows)
    for row in rows:
        state = "present" if row.present else "MISSING"
        size = format_size(row.size_bytes) if row.size_bytes else "-"
        click.echo(f"  {row.key:<{name_w}}  {state:<7}  {size:>10}  {row.licence}")
        click.echo(f"  {'':<{name_w}}  {row.description}")
        if row.missing and row.size_bytes:
            click.echo(f"  {'':<{name_w}}  incomplete, missing: {', '.join(row.missing)}")
    missing = [r.key for r in rows if r.kind == "model" and not r.present]
    if missing:
        click.echo(
            f"missing: {', '.join(missing)}; on a connected machine run: art2mus models pull --model-dir {mdir.root}"
        )


@command.command("pull")
@_model_dir_option
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(sorted([*MODEL_ENTRIES, *V1_ALIGNERS])),
    help="Pull only this model or v1 aligner (repeatable). Default: every model and both v1 aligners.",
)
@click.option("--force", is_flag=True, help="Download again even if the model is present.")
@click.pass_context
def pull(ctx: click.Context, model_dir: Path | None, only: tuple[str, ...], force: bool) -> None:
    """Download the models into the model directory (needs internet; resumable).

    Also downloads the authors' two published Art2Mus v1 aligners (github.com/justivanr/art2mus_, which
    states no licence) and imports them as aligners/art2mus-v1 and aligners/art2mus-v1-4tok.
    """
    from tqdm import tqdm

    mdir = _open(ctx, model_dir)
    keys = list(only) or [*mdir.entries, *V1_ALIGNERS]
    for key in keys:
        click.echo(f"{key}: licence {V1_LICENCE if key in V1_ALIGNERS else mdir.entries[key].licence}")
    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int | None) -> None:
        bar = bars.get("url")
        if bar is None:
            bar = bars["url"] = tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr
            )
        bar.update(done - bar.n)

    try:
        fetched = mdir.pull(keys, force=force, progress=progress, report=click.echo)
    except HubUnreachableError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"download failed: {exc}") from exc
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(f"done: {len(fetched)} model(s) downloaded into {mdir.root}")


@command.command("import-v1")
@_model_dir_option
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--name",
    required=True,
    help="Folder name under MODEL_DIR/aligners/ (what `train --init` and `evaluate --aligner` take; an "
    "exhibit's `generators.<name>.aligner` is the folder's path).",
)
@click.option(
    "--encoder",
    "encoder_name",
    default="imagebind",
    show_default=True,
    help="Embedding space the checkpoint was trained on (v1: ImageBind huge).",
)
@click.option(
    "--lm-dim", type=int, default=768, show_default=True, help="GPT-2 width of the tokens (v1: 768)."
)
@click.option("--force", is_flag=True, help="Replace an existing aligner of that name.")
@click.pass_context
def import_v1(
    ctx: click.Context,
    model_dir: Path | None,
    checkpoint: Path,
    name: str,
    encoder_name: str,
    lm_dim: int,
    force: bool,
) -> None:
    """Convert an Art2Mus v1 image-projection state dict (.pt) into an aligner with the art2mus-v1 profile."""
    from art2mus.models.aligner import import_v1_aligner

    mdir = _open(ctx, model_dir)
    if "/" in name or name in ("", ".", ".."):
        raise click.BadParameter(f"{name!r} must be a plain folder name", param_hint="--name")
    target = mdir.aligners_dir / name
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists; choose another --name or pass --force")
    try:
        out = import_v1_aligner(
            checkpoint,
            target,
            encoder_name=encoder_name,
            lm_dim=lm_dim,
            metadata={"licence": V1_LICENCE},
        )
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"imported {checkpoint} into {out} (profile art2mus-v1; {V1_LICENCE})")
    click.echo(f"to play it, set an exhibit's generators.<name>.aligner to {out}")


@command.command("export-onnx")
@_model_dir_option
@click.option(
    "--encoder",
    type=click.Choice(["imagebind", "clip"]),
    default="imagebind",
    show_default=True,
    help="Which image encoder of the model directory to export.",
)
@click.option(
    "--encoder-path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Encoder weights folder (default: its folder in the model directory).",
)
@click.option(
    "--aligner",
    default=None,
    help="Also export this aligner (a name under aligners/ or a folder), so one ONNX graph gives tokens.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: MODEL_DIR/onnx/<encoder>[-<aligner>]).",
)
@click.pass_context
def export_onnx(
    ctx: click.Context,
    model_dir: Path | None,
    encoder: str,
    encoder_path: Path | None,
    aligner: str | None,
    out_dir: Path | None,
) -> None:
    """Export an image encoder (and optionally its aligner) to ONNX for onnxruntime on Jetson-class machines.

    The export is checked in onnxruntime against torch (cosine similarity >= 0.999) before it is kept.
    Use it with `encoder: onnx` and `encoder_path: <the output folder>` in the exhibit's art2mus generator.
    """
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import EncoderLoadError, load_image_encoder
    from art2mus.models.encoders.onnx import export_onnx_encoder

    mdir = _open(ctx, model_dir)
    try:
        weights = encoder_path if encoder_path is not None else mdir.encoder_path(encoder)
        torch_encoder = load_image_encoder(encoder, weights, device="cpu")
        aligner_module = None
        aligner_dir = None
        if aligner is not None:
            aligner_dir = mdir.resolve_aligner(aligner)
            aligner_module = ImageAligner.load(aligner_dir, encoder_spec=torch_encoder.spec)
    except (FileNotFoundError, ValueError, EncoderLoadError) as exc:
        raise click.ClickException(str(exc)) from exc
    if out_dir is None:
        name = torch_encoder.spec.name + (f"-{aligner_dir.name}" if aligner_dir is not None else "")
        out_dir = mdir.root / "onnx" / name
    click.echo(
        f"exporting {torch_encoder.spec.name} (dim {torch_encoder.spec.dim})"
        + (f" with aligner {aligner_dir.name}" if aligner_dir is not None else "")
        + f" to {out_dir} ..."
    )
    try:
        export_onnx_encoder(torch_encoder, out_dir, aligner=aligner_module)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"done: {out_dir} (use `encoder: onnx` with `encoder_path: {out_dir}`)")
