"""``art2mus train PAIRS --out DIR``: train an aligner on a collection's artwork-music pairs;
``art2mus train --music-only MUSIC_DIR --images DIR ...``: train one from a music library alone.

The options are :class:`~art2mus.training.train_job.TrainJob`'s fields; the run is
:func:`~art2mus.training.train_job.run_train_job`, imported inside the command so the rest of the CLI (and
the daemon it starts) never imports training code.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from art2mus.installation.cli.options import device_option, folder_option, json_option, model_dir_option
from art2mus.models.art2mus_generator import DEVICE_CHOICES, DEVICE_PATTERN
from art2mus.models.profiles import PROFILES

_int, _float = click.IntRange, click.FloatRange


@click.command("train")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path), required=False)
@folder_option("--music-only", "music_dir", help="Train without pairs, from this music folder: the aligner learns from ImageBind's AUDIO embeddings of each segment and is used with IMAGE embeddings (needs --encoder imagebind).")  # fmt: skip
@folder_option("--images", "gap_images", help="With --music-only: the museum's artwork images, to fit the image-to-audio modality-gap shift saved with the aligner (without it no shift is applied).")  # fmt: skip
@model_dir_option("Model directory with the profile's AudioLDM2 checkpoint and the image encoder (art2mus models list).")  # fmt: skip
@folder_option("--out", "out_dir", required=True, help="Folder for the dataset tensors, checkpoints and the trained aligner (best/, last/).")  # fmt: skip
@click.option("--encoder", type=click.Choice(["imagebind", "clip"]), default="imagebind", show_default=True)
@click.option("--tokens", type=_int(1, 64), default=None, help="GPT-2 input tokens per image for a new aligner (the published variants: 1 and 4). Default: 4; an --init aligner keeps its own (another number is refused).")  # fmt: skip
@click.option("--init", "init_aligner", default=None, help="Start from this aligner (a folder, or a name under MODEL_DIR/aligners) instead of a new one; the new aligner's config.json records it (folder, sha256, origin) and carries its licence forward (fine-tuned from a v1 aligner: 'derived from ...').")  # fmt: skip
@click.option("--profile", type=click.Choice(list(PROFILES)), default=None, help="Conditioning profile to train under; it chooses the AudioLDM2 checkpoint and is recorded in the aligner's config.json. Default: the --init aligner's, else art2mus-music. Art2Mus v1's recipe: --profile art2mus-v1 --audio-norm v1 --loss-guidance 3.5.")  # fmt: skip
@click.option("--epochs", type=_int(min=1), default=20, show_default=True, help="Passes over the data; with --resume, a larger number extends a finished run.")  # fmt: skip
@click.option("--batch-size", type=_int(min=1), default=8, show_default=True)
@click.option("--accumulation", type=_int(min=1), default=1, show_default=True, help="Gradient accumulation: each optimiser step sees batch-size x accumulation segments.")  # fmt: skip
@click.option("--lr", type=_float(0, 1, min_open=True, max_open=True), default=1e-4, show_default=True)
@click.option("--snr-gamma", type=_float(0, min_open=True), default=None, help="Min-SNR loss weighting with this gamma (5 is usual; v1's --use_snr_gamma). Default: plain MSE.")  # fmt: skip
@click.option("--loss-guidance", type=_float(1.0), default=1.0, show_default=True, help="Take the loss on the classifier-free guided prediction at this scale (Art2Mus v1 trains at 3.5); 1: on the conditional prediction.")  # fmt: skip
@click.option("--audio-norm", type=click.Choice(["none", "v1"]), default="none", show_default=True, help="v1: remove the mean and scale each segment to a 0.5 peak before its mel spectrogram, as Art2Mus v1 does.")  # fmt: skip
@click.option("--embedding-noise", type=_float(0), default=None, help="Std of Gaussian noise added to training embeddings (CapDec). Default: 0.126 with --music-only, 0 otherwise.")  # fmt: skip
@click.option("--segment-seconds", type=_float(0.1, 10.24), default=10.0, show_default=True, help="Music is cut into segments of this length (AudioLDM2 generates 10.24 s).")  # fmt: skip
@click.option("--max-segments", type=_int(min=1), default=6, show_default=True, help="Segments per pair (or per track) at most, spread over its music.")  # fmt: skip
@click.option("--val-fraction", type=_float(0, 1, max_open=True), default=0.1, show_default=True, help="Share of the pairs (tracks with --music-only) held out to choose the best epoch.")  # fmt: skip
@click.option("--patience", type=_int(min=0), default=0, show_default=True, help="Stop after this many epochs without a better validation loss (0: never).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the new aligner's weights, the data's latents, shuffling, noise and timesteps: two runs with one seed on the CPU give identical weights.")  # fmt: skip
@device_option("auto, cpu, cuda or cuda:N. Under accelerate launch: auto (each process its GPU, or the CPU where there is none) or cpu.")  # fmt: skip
@click.option("--mixed-precision", type=click.Choice(["no", "fp16", "bf16"]), default=None, help="Autocast the networks in training (fp16 with loss scaling: GPU only; or bf16, which the CPU runs too). Recorded in the aligner's config.json. Default: what accelerate launch was given (--mixed_precision or its config), else no.")  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue (or extend, with a larger --epochs) the run in --out, from the checkpoint of its last complete epoch.")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Start afresh in an --out that holds an earlier run (its best/ is kept as best.previous/, or best.previous.2/, ... when that is taken).")  # fmt: skip
@json_option("Print the per-epoch history and the result as JSON lines.")
def command(as_json: bool, **options: Any) -> None:
    """Train an aligner on PAIRS: a CSV (image,audio) or JSON-lines manifest (`art2mus dataset build` writes
    one), or an exhibit whose artworks have fixed `audio:` files; or, with --music-only, on a music folder
    alone. The audio prior (GPT-2, AudioLDM2's UNet, VAE, T5) and the image encoder stay frozen; only the
    aligner learns, with AudioLDM2's denoising loss on the music.

    The embeddings and music latents are computed once into OUT/dataset (rebuilt when a file changes),
    kept in pieces as they are made: interrupted, the same command run again continues from the last piece;
    OUT/best is the aligner with the lowest validation loss, ready for an exhibit's
    `generators.art2mus.aligner`, with the conditioning profile it was trained under recorded. Art2Mus v1's
    training recipe: --profile art2mus-v1 --audio-norm v1 --loss-guidance 3.5.

    Data-parallel on several GPUs (or CPU processes) with Hugging Face accelerate: each process extracts
    its slice of the dataset's features, then trains on its share of every batch; a step sees batch-size x
    accumulation x N segments, and N processes at --batch-size B give the weights one process gives at
    --batch-size N x B. Only the first process writes OUT and prints. Without GPUs add --device cpu (N CPU
    processes over gloo; `accelerate launch --cpu` starts only one process):

    \b
      accelerate launch --multi_gpu --num_processes N -m art2mus.installation.cli train PAIRS ...

    One run at a time per OUT (OUT/.lock). Ctrl-C or SIGTERM stops it with a line saying what is kept:
    the dataset's pieces while extracting, else the checkpoint of the last complete epoch, which --resume
    continues; the exit status is 130 (Ctrl-C) or 143 (SIGTERM), as for a process the signal ended.
    """
    from art2mus.training.interrupts import exit_status, signal_of, sigterm_interrupts, stopped_by
    from art2mus.training.train_job import OptionConflict, TrainJob, TrainJobError, run_train_job

    if not re.fullmatch(DEVICE_PATTERN, options["device"]):
        raise click.BadParameter(f"{options['device']!r}: expected {DEVICE_CHOICES}", param_hint="'--device'")
    show_lines = not as_json and not sys.stdout.isatty()

    def on_epoch(record: Any, total: int, eta_s: float | None) -> None:
        if show_lines:  # no ETA where the trainer has none yet (a first epoch of one step)
            eta = "" if eta_s is None else f", ETA {_duration(eta_s)}"
            click.echo(f"epoch {record.epoch}/{total}  {_losses(record)}  ({record.seconds:.1f} s{eta})")

    with _step_bar(as_json) as progress, sigterm_interrupts():
        try:
            outcome = run_train_job(
                TrainJob(**options),
                report=(lambda line: None) if as_json else (lambda line: click.echo(line, err=True)),
                status=lambda line: click.echo(line, err=True),
                on_epoch=on_epoch,
                progress=progress,
            )
        except KeyboardInterrupt as exc:  # not a bare "Aborted!": what is kept, and how to go on
            signum = signal_of(exc)
            # the extraction and the epochs say what they keep; an interrupt before them has kept nothing
            told = (
                str(exc)
                or f"{stopped_by(signum)} before training began: no epoch ran; run the same command again"
            )
            click.echo(told, err=True)
            raise click.exceptions.Exit(exit_status(signum)) from None
        except OptionConflict as exc:
            raise click.UsageError(str(exc)) from None
        except TrainJobError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # a full disk the run's own writers did not name: still one sentence
            from art2mus.training.disk_space import cannot_write, is_disk_full

            if not is_disk_full(exc):
                raise
            kept = "free space, then run the same command again (with --resume if OUT has a checkpoint.pt)"
            raise click.ClickException(cannot_write(exc.filename or options["out_dir"], exc, kept)) from None
    if outcome is None:  # not the main process of accelerate launch: it writes and prints nothing
        return
    result = outcome.result
    if as_json:
        for record in result.history:
            click.echo(json.dumps(vars(record)))
        click.echo(json.dumps({"summary": outcome.summary()}))
        return
    if not show_lines:
        for record in result.history:
            click.echo(f"epoch {record.epoch:3d}  {_losses(record)}  ({record.seconds:.1f} s)")
    if result.validated:
        click.echo(f"best aligner: {result.best_dir} (validation loss {result.best_val_loss:.6g})")
    else:  # best/ was chosen by the training loss: say so, it is no validation figure
        why = "--val-fraction 0" if options["val_fraction"] == 0 else "too few pairs to hold one out"
        click.echo(
            f"best aligner: {result.best_dir} (training loss {result.best_val_loss:.6g}: no validation ran, "
            f"{why}; best/ is the epoch with the lowest training loss)"
        )
    if result.previous_best is not None:
        click.echo(f"the earlier run's best aligner is kept in {result.previous_best}{_earlier_loss(result)}")


def _earlier_loss(result: Any) -> str:
    """The set-aside aligner's validation loss beside this run's, when both have one (comparable only
    when both runs held out the same pairs)."""
    earlier = result.previous_best_val_loss
    if earlier is None or not result.validated:
        return ""
    if not result.previous_comparable:  # another seed or data: other held-out pairs, another measure
        return (
            f" (validation loss {earlier:.6g}, on different validation pairs: not comparable with this run's)"
        )
    better = "lower than" if earlier < result.best_val_loss else "not lower than"
    return f" (validation loss {earlier:.6g}, {better} this run's)"


def _losses(record: Any) -> str:
    """An epoch's losses to six significant digits: an improvement in the sixth shows (best/ moved)."""
    val = f"{record.val_loss:.6g}" if record.val_loss is not None else "-"
    return f"train {record.train_loss:.6g}  val {val}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


@contextlib.contextmanager
def _step_bar(as_json: bool):
    """A tqdm bar of optimiser steps on a terminal; nothing otherwise (epoch lines are printed instead).
    The bar opens at the first step, so only the main process (the one the run reports to) shows one."""
    from tqdm import tqdm

    bars: list[Any] = []

    def progress(step: int, total: int, loss: float) -> None:
        if not bars:
            disable = as_json or not sys.stderr.isatty()
            bars.append(tqdm(total=total, desc="training", unit="step", disable=disable, file=sys.stderr))
        bars[0].total = total
        bars[0].set_postfix(loss=f"{loss:.4f}")
        bars[0].update(1)

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()
