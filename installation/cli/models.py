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

from art2mus.models.model_dir import MODEL_DIR_ENV, MODEL_ENTRIES, ModelDir, default_model_dir, format_size

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
    type=click.Choice(sorted(MODEL_ENTRIES)),
    help="Pull only this model (repeatable). Default: every model.",
)
@click.option("--force", is_flag=True, help="Download again even if the model is present.")
@click.pass_context
def pull(ctx: click.Context, model_dir: Path | None, only: tuple[str, ...], force: bool) -> None:
    """Download the models into the model directory (needs internet; resumable)."""
    from tqdm import tqdm

    mdir = _open(ctx, model_dir)
    keys = list(only) or list(mdir.entries)
    for key in keys:
        click.echo(f"{key}: licence {mdir.entries[key].licence}")
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
    except OSError as exc:
        raise click.ClickException(f"download failed: {exc}") from exc
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(f"done: {len(fetched)} model(s) downloaded into {mdir.root}")
