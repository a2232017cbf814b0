"""``art2mus evaluate PAIRS --model-dir DIR --aligner A``: ImageBindScore and FAD of a trained aligner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("evaluate")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Model directory with ImageBind and the AudioLDM2 checkpoint of the aligner's conditioning profile.",
)
@click.option(
    "--aligner",
    required=True,
    help="The aligner: a folder (e.g. OUT/best of art2mus train) or a name under MODEL_DIR/aligners.",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.5, 30),
    default=10.0,
    show_default=True,
    help="Seconds of music generated per artwork.",
)
@click.option("--steps", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=2), default=None, help="Evaluate only the first N pairs.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (and each pair) as JSON.")
def command(
    pairs: Path,
    model_dir: Path,
    aligner: str,
    duration: float,
    steps: int,
    seed: int,
    limit: int | None,
    device: str,
    as_json: bool,
) -> None:
    """Generate music for each artwork of PAIRS (a manifest or an exhibit with fixed audio files) through the
    aligner, and report how well it fits the artworks (ImageBindScore: cosine of image and music in
    ImageBind's space, beside the same score of the real paired music) and how close it is to the real
    music (FAD on ImageBind audio embeddings). Use pairs the aligner was not trained on.

    The music is generated as the aligner's conditioning profile plays it (its AudioLDM2 checkpoint and
    prompts), one candidate per artwork and no re-ranking, so every aligner is scored on one draw.
    """
    import torch
    from tqdm import tqdm

    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import PairsError, read_pairs
    from art2mus.training.evaluate import evaluate_aligner

    try:
        pair_list = read_pairs(pairs)
    except PairsError as exc:
        raise click.ClickException(str(exc)) from None
    if limit is not None:
        pair_list = pair_list[:limit]
    target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        mdir = ModelDir(model_dir)
        kind = encoder_kind(ImageAligner.read_config(mdir.resolve_aligner(aligner))["config"]["encoder_name"])
        pipeline = Art2MusPipeline.from_model_dir(mdir, encoder=kind, aligner=aligner, device=target)
        # every aligner is scored in ImageBind's space, whatever encoder conditions it
        scorer = (
            pipeline.encoder
            if kind == "imagebind"
            else load_image_encoder("imagebind", mdir.encoder_path("imagebind"), device=target)
        )
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    quiet = as_json or not sys.stderr.isatty()
    with tqdm(total=len(pair_list), desc="generating", unit="artwork", disable=quiet, file=sys.stderr) as bar:
        result = evaluate_aligner(
            pipeline,
            pair_list,
            duration_s=duration,
            steps=steps,
            seed=seed,
            progress=lambda d, t, name: (bar.set_postfix_str(name), bar.update(1)),
            scorer=scorer,
        )
    if as_json:
        click.echo(
            json.dumps(
                {**vars(result), "aligner": str(aligner), "encoder": kind, "profile": pipeline.profile.name}
            )
        )
        return
    for row in result.per_pair:
        click.echo(
            f"{row['id']:28s} ImageBindScore {row['imagebind_score']:+.4f} "
            f"(real music {row['reference_imagebind_score']:+.4f})"
        )
    fad = f"{result.fad:.4f}" if result.fad is not None else "- (needs 2 pairs)"
    click.echo(
        f"{result.pairs} pairs ({pipeline.profile.name} conditioning): ImageBindScore {result.imagebind_score:+.4f} (real music "
        f"{result.reference_imagebind_score:+.4f}), FAD {fad}, {result.seconds_per_clip:.1f} s per artwork"
    )


def encoder_kind(encoder_name: str) -> str:
    """The encoder kind (``imagebind``, ``clip``) of an aligner's ``encoder_name`` (e.g. ``imagebind_huge``)."""
    for kind in ("imagebind", "clip"):
        if kind in encoder_name.lower():
            return kind
    raise ValueError(
        f"aligner encoder {encoder_name!r} is neither ImageBind nor CLIP; cannot load its encoder"
    )
