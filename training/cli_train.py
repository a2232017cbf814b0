"""``art2mus train PAIRS --model-dir DIR --out DIR``: train an aligner on a collection's artwork-music pairs;
``art2mus train --music-only MUSIC_DIR --images DIR ...``: train one from a music library alone.

Lives in ``training/`` (not in the installation's CLI package) so the daemon never imports training code;
the ``art2mus`` group loads it by name only when this command runs.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from art2mus.models.profiles import DEFAULT_PROFILE, PROFILES


@click.command("train")
@click.argument("pairs", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--music-only",
    "music_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Train without pairs, from this music folder: the aligner learns from ImageBind's AUDIO embeddings "
    "of each segment and is used with IMAGE embeddings (needs --encoder imagebind).",
)
@click.option(
    "--images",
    "gap_images",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --music-only: the museum's artwork images, to fit the image-to-audio modality-gap shift saved "
    "with the aligner (without it no shift is applied).",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Model directory with the profile's AudioLDM2 checkpoint and the image encoder (art2mus models list).",
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
@click.option(
    "--profile",
    type=click.Choice(list(PROFILES)),
    default=None,
    help="Conditioning profile to train under; it chooses the AudioLDM2 checkpoint and is recorded in the "
    "aligner's config.json. Default: the --init aligner's, else art2mus-music. Art2Mus v1's recipe: "
    "--profile art2mus-v1 --audio-norm v1 --loss-guidance 3.5.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Passes over the data; with --resume, a larger number extends a finished run.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--accumulation",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Gradient accumulation: each optimiser step sees batch-size x accumulation segments.",
)
@click.option(
    "--lr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-4, show_default=True
)
@click.option(
    "--snr-gamma",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Min-SNR loss weighting with this gamma (5 is usual; v1's --use_snr_gamma). Default: plain MSE.",
)
@click.option(
    "--loss-guidance",
    type=click.FloatRange(1.0),
    default=1.0,
    show_default=True,
    help="Take the loss on the classifier-free guided prediction at this scale (Art2Mus v1 trains at 3.5); "
    "1: on the conditional prediction.",
)
@click.option(
    "--audio-norm",
    type=click.Choice(["none", "v1"]),
    default="none",
    show_default=True,
    help="v1: remove the mean and scale each segment to a 0.5 peak before its mel spectrogram, as Art2Mus "
    "v1 does.",
)
@click.option(
    "--embedding-noise",
    type=click.FloatRange(0),
    default=None,
    help="Std of Gaussian noise added to training embeddings (CapDec). Default: 0.126 with --music-only, "
    "0 otherwise.",
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
    help="Segments per pair (or per track) at most, spread over its music.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of the pairs (tracks with --music-only) held out to choose the best epoch.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Stop after this many epochs without a better validation loss (0: never).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the new aligner's weights, the data's latents, shuffling, noise and timesteps: two runs "
    "with one seed on the CPU give identical weights.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto, cpu, cuda or cuda:N. Under accelerate launch: auto (each process its GPU, or the CPU where "
    "there is none) or cpu.",
)
@click.option(
    "--mixed-precision",
    type=click.Choice(["no", "fp16", "bf16"]),
    default=None,
    help="Autocast the networks in training (fp16 with loss scaling, or bf16). Default: what accelerate "
    "launch was given (--mixed_precision or its config), else no.",
)
@click.option("--resume", is_flag=True, help="Continue (or extend, with a larger --epochs) the run in --out.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Start afresh in an --out that holds an earlier run (its best/ is kept as best.previous/).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the per-epoch history and the result as JSON lines."
)
def command(
    pairs: Path | None,
    music_dir: Path | None,
    gap_images: Path | None,
    model_dir: Path,
    out_dir: Path,
    encoder: str,
    tokens: int,
    init_aligner: str | None,
    profile: str | None,
    epochs: int,
    batch_size: int,
    accumulation: int,
    lr: float,
    snr_gamma: float | None,
    loss_guidance: float,
    audio_norm: str,
    embedding_noise: float | None,
    segment_seconds: float,
    max_segments: int,
    val_fraction: float,
    patience: int,
    seed: int,
    device: str,
    mixed_precision: str | None,
    resume: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Train an aligner on PAIRS: a CSV (image,audio) or JSON-lines manifest (`art2mus dataset build` writes
    one), or an exhibit whose artworks have fixed `audio:` files; or, with --music-only, on a music folder
    alone. The audio prior (GPT-2, AudioLDM2's UNet, VAE, T5) and the image encoder stay frozen; only the
    aligner learns, with AudioLDM2's denoising loss on the music.

    The embeddings and music latents are computed once into OUT/dataset (rebuilt when a file changes);
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
    """
    import torch

    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.trainer import RunFolderError, TrainingConfig, train_aligner

    if (pairs is None) == (music_dir is None):
        raise click.UsageError("give either PAIRS or --music-only MUSIC_DIR")
    if music_dir is None and gap_images is not None:
        raise click.UsageError(
            "--images fits the modality gap of a --music-only aligner; PAIRS has its images"
        )
    if music_dir is not None and encoder != "imagebind":
        raise click.UsageError("--music-only needs --encoder imagebind (audio and images in one space)")
    from art2mus.training.distributed import launched, make_accelerator

    if launched() and device not in ("auto", "cpu"):
        raise click.UsageError("under accelerate launch, --device is auto (a GPU per process) or cpu")
    requested = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        accelerator = make_accelerator(requested, mixed_precision)
    except ValueError as exc:  # e.g. fp16 without a GPU
        raise click.ClickException(f"--mixed-precision {mixed_precision}: {exc}") from None
    target = accelerator.device if launched() else requested
    main = accelerator.is_main_process
    try:
        pipeline = Art2MusPipeline.from_model_dir(
            model_dir, encoder=encoder, aligner=init_aligner, device=target, profile=profile
        )
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    show_lines = main and not as_json and not sys.stdout.isatty()
    report = (lambda line: click.echo(line, err=True)) if main and not as_json else (lambda line: None)
    if pipeline.profile.name != DEFAULT_PROFILE:
        report(f"conditioning profile {pipeline.profile.name} (AudioLDM2 {pipeline.profile.base_model})")
    dataset = _dataset(
        pipeline,
        pairs,
        music_dir,
        out_dir / "dataset",
        segment_seconds,
        max_segments,
        audio_norm,
        seed,
        report,
        accelerator,
    )
    gap = None
    if pipeline.aligner is None:
        if dataset.modality == "audio" and gap_images is not None:
            gap = _fit_gap(pipeline, dataset, gap_images, report)
        pipeline.set_aligner(new_aligner(pipeline, tokens, seed, None if gap is None else gap.shift))
    elif dataset.modality == "audio" and gap_images is not None:
        report("--init: the aligner keeps its own modality-gap shift; --images is not used")
    if dataset.modality == "audio" and pipeline.aligner.input_shift is None:
        report(
            "warning: no modality-gap shift (give --images); image embeddings will meet an aligner fitted on audio"
        )
    noise = embedding_noise
    if noise is None:
        from art2mus.training.modality_gap import CAPDEC_NOISE_STD

        noise = CAPDEC_NOISE_STD if dataset.modality == "audio" else 0.0
    try:
        config = TrainingConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            val_fraction=val_fraction,
            patience=patience,
            seed=seed,
            accumulation=accumulation,
            snr_gamma=snr_gamma,
            guidance_scale=loss_guidance,
            embedding_noise=noise,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    def on_epoch(record, total: int, eta_s: float) -> None:
        if show_lines:
            val = f"{record.val_loss:.5f}" if record.val_loss is not None else "-"
            click.echo(
                f"epoch {record.epoch}/{total}  train {record.train_loss:.5f}  val {val}  "
                f"({record.seconds:.1f} s, ETA {_duration(eta_s)})"
            )

    metadata = {"model_dir": str(model_dir), "seed": seed}
    metadata.update({"pairs_file": str(pairs)} if pairs is not None else {"music_dir": str(music_dir)})
    if gap is not None:
        metadata["modality_gap"] = gap.summary()
    with _step_bar(as_json or not main) as progress:
        try:
            result = train_aligner(
                pipeline,
                dataset,
                out_dir,
                config,
                resume=resume,
                overwrite=overwrite,
                progress=progress,
                on_epoch=on_epoch,
                metadata=metadata,
                accelerator=accelerator,
            )
        except (RunFolderError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if not main:
        return
    summary = {
        "best": str(result.best_dir),
        "last": str(result.last_dir),
        "best_val_loss": result.best_val_loss,
        "epochs": len(result.history),
        "stopped_early": result.stopped_early,
        "previous_best": None if result.previous_best is None else str(result.previous_best),
    }
    if gap is not None:
        summary["modality_gap"] = gap.summary()
    if as_json:
        for record in result.history:
            click.echo(json.dumps(vars(record)))
        click.echo(json.dumps({"summary": summary}))
        return
    if not show_lines:
        for record in result.history:
            val = f"{record.val_loss:.5f}" if record.val_loss is not None else "-"
            click.echo(
                f"epoch {record.epoch:3d}  train {record.train_loss:.5f}  val {val}  ({record.seconds:.1f} s)"
            )
    click.echo(f"best aligner: {result.best_dir} (validation loss {result.best_val_loss})")
    if result.previous_best is not None:
        click.echo(f"the earlier run's best aligner is kept in {result.previous_best}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


@contextlib.contextmanager
def _step_bar(as_json: bool):
    """A tqdm bar of optimiser steps on a terminal; nothing otherwise (epoch lines are printed instead)."""
    from tqdm import tqdm

    with tqdm(
        total=None, desc="training", unit="step", disable=as_json or not sys.stderr.isatty(), file=sys.stderr
    ) as bar:

        def progress(step: int, total: int, loss: float) -> None:
            bar.total = total
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)

        yield progress


def new_aligner(pipeline, tokens: int, seed: int, input_shift: list[float] | None = None):
    """A fresh aligner for ``pipeline``'s encoder and GPT-2, its initial weights drawn from ``seed`` (not from
    the process's random state, so two runs with one seed start, and end, identical)."""
    import torch

    from art2mus.models.aligner import ImageAligner

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ImageAligner(
            pipeline.encoder.spec.name,
            pipeline.encoder.spec.dim,
            lm_dim=int(pipeline.language_model.config.hidden_size),
            n_tokens=tokens,
            input_shift=input_shift,
        )


def _dataset(
    pipeline, pairs, music_dir, data_dir, segment_s, max_segments, audio_norm, seed, report, accelerator
):
    """The cached dataset in ``data_dir`` when it was built from the same files and settings, else a new one
    (built by every process, each its slice, when there are several)."""
    from art2mus.training.cli_dataset import progress_printer
    from art2mus.training.collection import CollectionError, scan_music
    from art2mus.training.dataset import (
        NoSegmentsError,
        Pair,
        PairDataset,
        PairsError,
        build_dataset,
        build_music_dataset,
        common_folder,
        fingerprint,
        read_pairs,
    )

    # the latents come from the profile's AudioLDM2 VAE: another checkpoint's are another dataset
    # (the default's keeps the fingerprint datasets were built with before profiles)
    base = pipeline.profile.base_model
    encoder_key = pipeline.encoder.spec.name + ("" if base == "audioldm2-music" else f"|{base}")
    try:
        if music_dir is not None:
            scan = scan_music(music_dir)
            for path, reason in scan.skipped:
                report(f"skipped {path}: {reason}")
            tracks = scan.files
            wanted = fingerprint(
                [Pair(str(t), t, t) for t in tracks],
                f"audio:{encoder_key}",
                segment_s,
                max_segments,
                audio_norm,
                seed,
            )
        else:
            pair_list = read_pairs(pairs)
            wanted = fingerprint(pair_list, encoder_key, segment_s, max_segments, audio_norm, seed)
    except (PairsError, CollectionError) as exc:
        raise click.ClickException(str(exc)) from None
    if (data_dir / "dataset.json").is_file():
        cached = PairDataset.load(data_dir)
        if cached.info.get("fingerprint") == wanted:
            return cached
    progress = progress_printer(
        "embedding music" if music_dir else "embedding pairs", accelerator.is_main_process
    )

    def build(items, first_index):
        """The dataset of ``items``, the whole list's from ``first_index`` on (None: no segment in them)."""
        if music_dir is None:
            return build_dataset(
                list(items),
                pipeline,
                segment_s=segment_s,
                max_segments_per_pair=max_segments,
                progress=progress,
                seed=seed,
                audio_norm=audio_norm,
                first_index=first_index,
            )
        try:
            return build_music_dataset(
                list(items),
                pipeline,
                segment_s=segment_s,
                max_segments_per_track=max_segments,
                progress=progress,
                seed=seed,
                audio_norm=audio_norm,
                first_index=first_index,
                root=common_folder(tracks),
            )
        except NoSegmentsError:
            if len(items) == len(tracks):
                raise
            return None  # this process's slice is all short tracks; another's may not be

    items = tracks if music_dir is not None else pair_list
    try:
        if accelerator.num_processes > 1:
            from art2mus.training.distributed import build_in_parts

            dataset = build_in_parts(items, build, data_dir, accelerator, wanted)
        else:
            from art2mus.training.distributed import clear_parts

            dataset = build(items, 0)
            clear_parts(data_dir)
            dataset.save(data_dir)
    except (PairsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    report(f"{len(dataset.pair_ids)} examples, {len(dataset)} segments of {segment_s:g} s -> {data_dir}")
    return dataset


def _fit_gap(pipeline, dataset, images_dir, report):
    """The modality-gap shift from the museum's images and the library's audio embeddings (printed)."""
    import torch

    from art2mus.training.collection import CollectionError, read_rgb, scan_images
    from art2mus.training.modality_gap import fit_shift

    try:
        scan = scan_images(images_dir)
    except CollectionError as exc:
        raise click.ClickException(str(exc)) from None
    for path, reason in scan.skipped:
        report(f"skipped {path}: {reason}")
    with torch.no_grad():
        images = torch.cat([pipeline.encoder.encode_images([read_rgb(p)]).float().cpu() for p in scan.files])
    gap = fit_shift(images.numpy(), dataset.embeddings.numpy())
    report(
        f"modality gap ({gap.images} images, {gap.audio} audio segments): centroid distance "
        f"{gap.centroid_distance_before:.4f} -> {gap.centroid_distance_after:.4f}, mean image-audio cosine "
        f"{gap.mean_cosine_before:+.4f} -> {gap.mean_cosine_after:+.4f}"
    )
    return gap
