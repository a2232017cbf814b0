"""``art2mus train PAIRS --model-dir DIR --out DIR``: train an aligner on a collection's artwork-music pairs.

Lives in ``training/`` (not in the installation's CLI package) so the daemon never imports training code;
the ``art2mus`` group loads it by name only when this command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("train")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Model directory with AudioLDM2-music and the image encoder (art2mus models list).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the dataset tensors, checkpoints and the trained aligner (best/, last/).",
)
@click.option("--encoder", type=click.Choice(["imagebind", "clip"]), default="imagebind", show_default=True)
@click.option(
    "--tokens",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="GPT-2 input tokens per image for a new aligner (the published variants: 1 and 4).",
)
@click.option(
    "--init",
    "init_aligner",
    default=None,
    help="Start from this aligner (a folder, or a name under MODEL_DIR/aligners) instead of a new one.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--lr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-4, show_default=True
)
@click.option(
    "--segment-seconds",
    type=click.FloatRange(0.1, 10.24),
    default=10.0,
    show_default=True,
    help="Music is cut into segments of this length (AudioLDM2 generates 10.24 s).",
)
@click.option(
    "--max-segments",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Segments per pair at most, spread over its music.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of the pairs held out to choose the best epoch.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Stop after this many epochs without a better validation loss (0: never).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the per-epoch history and the result as JSON lines."
)
def command(
    pairs: Path,
    model_dir: Path,
    out_dir: Path,
    encoder: str,
    tokens: int,
    init_aligner: str | None,
    epochs: int,
    batch_size: int,
    lr: float,
    segment_seconds: float,
    max_segments: int,
    val_fraction: float,
    patience: int,
    seed: int,
    device: str,
    resume: bool,
    as_json: bool,
) -> None:
    """Train an aligner on PAIRS: a CSV (image,audio) or JSON-lines manifest, or an exhibit whose artworks
    have fixed `audio:` files. The audio prior (GPT-2, AudioLDM2's UNet, VAE, T5) and the image encoder stay
    frozen; only the aligner learns, with AudioLDM2's denoising loss on the paired music.

    The image embeddings and music latents are computed once into OUT/dataset (rebuilt when a file
    changes); OUT/best is the aligner with the lowest validation loss, ready for an exhibit's
    `generators.art2mus.aligner`.
    """
    import torch
    from tqdm import tqdm

    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import PairDataset, PairsError, build_dataset, fingerprint, read_pairs
    from art2mus.training.trainer import TrainingConfig, train_aligner

    try:
        pair_list = read_pairs(pairs)
    except PairsError as exc:
        raise click.ClickException(str(exc)) from None
    target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        pipeline = Art2MusPipeline.from_model_dir(
            model_dir, encoder=encoder, aligner=init_aligner, device=target
        )
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if pipeline.aligner is None:
        pipeline.set_aligner(
            ImageAligner(
                pipeline.encoder.spec.name,
                pipeline.encoder.spec.dim,
                lm_dim=int(pipeline.language_model.config.hidden_size),
                n_tokens=tokens,
            )
        )
    quiet = as_json or not sys.stderr.isatty()
    data_dir = out_dir / "dataset"
    wanted = fingerprint(pair_list, pipeline.encoder.spec.name, segment_seconds, max_segments)
    dataset = None
    if (data_dir / "dataset.json").is_file():
        cached = PairDataset.load(data_dir)
        if cached.info.get("fingerprint") == wanted:
            dataset = cached
    if dataset is None:
        with tqdm(
            total=len(pair_list), desc="embedding pairs", unit="pair", disable=quiet, file=sys.stderr
        ) as bar:
            try:
                dataset = build_dataset(
                    pair_list,
                    pipeline,
                    segment_s=segment_seconds,
                    max_segments_per_pair=max_segments,
                    progress=lambda d, t, name: (bar.set_postfix_str(name), bar.update(1)),
                )
            except (PairsError, ValueError) as exc:
                raise click.ClickException(str(exc)) from None
        dataset.save(data_dir)
    if not as_json:
        click.echo(
            f"{len(dataset.pair_ids)} pairs, {len(dataset)} segments of {segment_seconds:g} s -> {data_dir}",
            err=True,
        )
    config = TrainingConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, val_fraction=val_fraction, patience=patience, seed=seed
    )
    with tqdm(total=None, desc="training", unit="step", disable=quiet, file=sys.stderr) as bar:

        def progress(step: int, total: int, loss: float) -> None:
            bar.total = total
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)

        try:
            result = train_aligner(
                pipeline,
                dataset,
                out_dir,
                config,
                resume=resume,
                progress=progress,
                metadata={"pairs_file": str(pairs), "model_dir": str(model_dir)},
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    summary = {
        "best": str(result.best_dir),
        "last": str(result.last_dir),
        "best_val_loss": result.best_val_loss,
        "epochs": len(result.history),
        "stopped_early": result.stopped_early,
    }
    if as_json:
        for record in result.history:
            click.echo(json.dumps(vars(record)))
        click.echo(json.dumps({"summary": summary}))
    else:
        for record in result.history:
            val = f"{record.val_loss:.5f}" if record.val_loss is not None else "-"
            click.echo(
                f"epoch {record.epoch:3d}  train {record.train_loss:.5f}  val {val}  ({record.seconds:.1f} s)"
            )
        click.echo(f"best aligner: {result.best_dir} (validation loss {result.best_val_loss})")
