"""``art2mus evaluate PAIRS --aligner A``: ImageBindScore and FAD of a trained aligner.

A few lines over :func:`~art2mus.training.evaluate.evaluate_from_model_dir`, imported inside the command so
the rest of the CLI never imports training code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from art2mus.installation.cli.options import device_option, json_option, model_dir_option
from art2mus.models.art2mus_generator import DEVICE_CHOICES, DEVICE_PATTERN

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir


@click.command("evaluate")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path))
@model_dir_option("Model directory with ImageBind and the AudioLDM2 checkpoint of the aligner's conditioning profile.")  # fmt: skip
@click.option("--aligner", required=True, help="The aligner: a folder (e.g. OUT/best of art2mus train) or a name under MODEL_DIR/aligners.")  # fmt: skip
@click.option("--duration", type=click.FloatRange(0.5, 30), default=10.0, show_default=True, help="Seconds of music generated per artwork. The real music is cut to the same length (its first --duration seconds) for its reference score and the FAD, so the 'real music' figures change with --duration too.")  # fmt: skip
@click.option("--steps", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=2), default=None, help="Evaluate only the first N pairs.")
@device_option()
@json_option("Print the result (and each pair) as JSON.")
def command(
    pairs: Path,
    model_dir: ModelDir,
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
    music (FAD on ImageBind audio embeddings). Use pairs the aligner was not trained on: a warning says how
    many were, from the pairs file its config.json records.

    The music is generated as the aligner's conditioning profile plays it (its AudioLDM2 checkpoint and
    prompts), one candidate per artwork and no re-ranking, so every aligner is scored on one draw.

    With no more pairs than the audio embedding has dimensions (1024 for ImageBind huge), FAD's covariances
    are rank-deficient: a note on stderr says the figure is unreliable, and --json has fad_reliable false and
    fad_min_pairs, the smallest number of pairs that makes it reliable.
    """
    from tqdm import tqdm

    from art2mus.training.evaluate import evaluate_from_model_dir

    if not re.fullmatch(DEVICE_PATTERN, device):
        raise click.BadParameter(f"{device!r}: expected {DEVICE_CHOICES}", param_hint="'--device'")
    quiet = as_json or not sys.stderr.isatty()
    with tqdm(desc="generating", unit="artwork", disable=quiet, file=sys.stderr) as bar:

        def progress(done: int, total: int, name: str) -> None:
            bar.total = total
            bar.set_postfix_str(name)
            bar.update(1)

        try:
            run = evaluate_from_model_dir(
                pairs, model_dir, aligner, duration_s=duration, steps=steps, seed=seed, limit=limit,
                device=device, progress=progress, report=lambda line: click.echo(line, err=True),
            )  # fmt: skip
        except (FileNotFoundError, ValueError, KeyError) as exc:  # ValueError: PairsError too
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(run.as_dict()))
        return
    result = run.result
    for row in result.per_pair:
        click.echo(
            f"{row['id']:28s} ImageBindScore {row['imagebind_score']:+.4f} "
            f"(real music {row['reference_imagebind_score']:+.4f})"
        )
    fad = f"{result.fad:.4f}" if result.fad is not None else "- (needs 2 pairs)"
    pairs_scored = f"{result.pairs} pair" if result.pairs == 1 else f"{result.pairs} pairs"
    click.echo(
        f"{pairs_scored} ({run.profile} conditioning): ImageBindScore {result.imagebind_score:+.4f} (real "
        f"music {result.reference_imagebind_score:+.4f}), FAD {fad}, {result.seconds_per_clip:.1f} s per artwork"
    )
    # the reference is not a fixed figure: another --duration scores other real audio
    click.echo(
        f"real music: the first {duration:g} s of each track (--duration), as long as the generated clips"
    )
