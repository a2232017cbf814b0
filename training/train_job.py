"""One training run as ``art2mus train`` asks for it: a :class:`TrainJob` (the command's options, typed)
in, a trained aligner in ``out_dir`` and a :class:`TrainJobOutcome` out.

:func:`run_train_job` does what the command used to do in its body: check the options against each other,
start accelerate (one process, or one of ``accelerate launch``'s), load the pipeline under the chosen
conditioning profile, build (or reuse) the dataset of embeddings and music latents, fit the modality-gap
shift of a music-only aligner, make a new aligner or start from ``init_aligner``, and train. Every problem
a user can fix is a :class:`TrainJobError` with a plain sentence; options that contradict each other are
an :class:`OptionConflict`. Lines for the user go through the ``report`` and ``status`` callbacks, on
the main process only, so the command decides where (and whether) they are printed. The run holds
``OUT/.lock`` (:mod:`art2mus.training.run_lock`) from before it loads anything until it ends, so a second
run into the same folder refuses at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from art2mus.models.profiles import DEFAULT_PROFILE

Line = Callable[[str], None]

#: GPT-2 input tokens per image of a new aligner when ``--tokens`` is not given (an ``--init`` aligner
#: keeps its own)
DEFAULT_TOKENS = 4

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir


def _silent(_line: str) -> None:
    pass


class TrainJobError(ValueError):
    """A training run that cannot start or finish as asked; the message says why, naming the file."""


class OptionConflict(TrainJobError):
    """Options that do not go together (e.g. both PAIRS and a music folder)."""


@dataclass(frozen=True, kw_only=True)
class TrainJob:
    """The settings of one run; ``art2mus train --help`` describes each (its options have these names)."""

    pairs: Path | None
    music_dir: Path | None
    gap_images: Path | None
    model_dir: Path | ModelDir  # art2mus train gives the ModelDir its --model-dir rule picked
    out_dir: Path
    encoder: str
    tokens: int | None  # None: DEFAULT_TOKENS for a new aligner, the --init aligner's own otherwise
    init_aligner: str | None
    profile: str | None
    epochs: int
    batch_size: int
    accumulation: int
    lr: float
    snr_gamma: float | None
    loss_guidance: float
    audio_norm: str
    embedding_noise: float | None
    segment_seconds: float
    max_segments: int
    val_fraction: float
    patience: int
    seed: int
    device: str
    mixed_precision: str | None
    resume: bool
    overwrite: bool


@dataclass
class TrainJobOutcome:
    """What a finished run produced (on the main process).

    Attributes:
        result: the trainer's :class:`~art2mus.training.trainer.TrainingResult` (history, best and last folders).
        modality_gap: the fitted gap's summary (music-only runs with ``gap_images``), else None.
    """

    result: Any
    modality_gap: dict[str, Any] | None

    def summary(self) -> dict[str, Any]:
        """The run in one JSON-ready dict (what ``--json`` prints last)."""
        result = self.result
        summary = {
            "best": str(result.best_dir),
            "last": str(result.last_dir),
            # without validation best/ was chosen by the training loss: not given as a validation loss
            "best_val_loss": result.best_val_loss if result.validated else None,
            "epochs": len(result.history),
            "stopped_early": result.stopped_early,
            "previous_best": None if result.previous_best is None else str(result.previous_best),
            "previous_best_val_loss": result.previous_best_val_loss,
            "previous_best_comparable": result.previous_comparable,
        }
        if not result.validated:
            summary["best_train_loss"] = result.best_val_loss
        if self.modality_gap is not None:
            summary["modality_gap"] = self.modality_gap
        return summary


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` where torch sees a GPU, else ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` as given.

    Raises :class:`TrainJobError` for another name, or a CUDA device torch cannot use here (torch itself
    fails only at the first tensor moved, after minutes of loading, in a 40-line traceback)."""
    from art2mus.models.pipeline_loading import DeviceError, torch_device

    try:
        target = torch_device(device, "--device")
    except DeviceError as exc:
        raise TrainJobError(str(exc)) from None
    return device if device != "auto" else str(target)


def check_options(job: TrainJob) -> None:
    """Raise :class:`OptionConflict` for options that contradict each other."""
    if (job.pairs is None) == (job.music_dir is None):
        raise OptionConflict("give either PAIRS or --music-only MUSIC_DIR")
    if job.music_dir is None and job.gap_images is not None:
        raise OptionConflict("--images fits the modality gap of a --music-only aligner; PAIRS has its images")
    if job.music_dir is not None and job.encoder != "imagebind":
        raise OptionConflict("--music-only needs --encoder imagebind (audio and images in one space)")
    from art2mus.training.distributed import launched

    if launched() and job.device not in ("auto", "cpu"):
        raise OptionConflict("under accelerate launch, --device is auto (a GPU per process) or cpu")


def check_init_tokens(job: TrainJob) -> None:
    """Refuse ``--tokens`` given with an ``--init`` aligner of another token count (it keeps its own: the
    run would silently train the other number)."""
    if job.init_aligner is None or job.tokens is None:
        return
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.model_dir import ModelDir

    mdir = job.model_dir if isinstance(job.model_dir, ModelDir) else ModelDir(job.model_dir)
    try:
        folder = mdir.resolve_aligner(job.init_aligner)
        tokens = ImageAligner.read_config(folder)["config"]["n_tokens"]
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise TrainJobError(str(exc)) from None
    if tokens != job.tokens:
        raise OptionConflict(
            f"--tokens {job.tokens} with --init {job.init_aligner}, an aligner of {tokens} token(s): it keeps "
            f"its {tokens}; leave --tokens out, or train a new aligner of {job.tokens} without --init"
        )


def check_precision(job: TrainJob, accelerator: Any) -> str:
    """The mixed precision the run trains in (``no``, ``fp16``, ``bf16``), refused where it would not apply.

    accelerate turns fp16 on the CPU into plain float32 without a word (a run bit for bit the float32
    one); bf16 autocast does run on the CPU, so it is kept."""
    precision = str(getattr(accelerator, "mixed_precision", None) or "no")
    if precision == "fp16" and accelerator.device.type != "cuda":
        given = (
            "--mixed-precision fp16"
            if job.mixed_precision is not None
            else "mixed precision fp16 (from accelerate launch's --mixed_precision or its config)"
        )
        raise OptionConflict(
            f"{given} needs a GPU: on the {accelerator.device.type.upper()} accelerate runs it as plain float32; "
            "use --mixed-precision no, or bf16 (which the CPU runs)"
        )
    return precision


def run_train_job(
    job: TrainJob,
    *,
    report: Line = _silent,
    status: Line = _silent,
    on_epoch: Callable[[Any, int, float | None], None] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainJobOutcome | None:
    """Train the aligner ``job`` describes; None on a process of ``accelerate launch`` other than the main one.

    ``report(line)``: notes for the user (profile, skipped files, the dataset, the modality gap);
    ``status(line)``: progress lines while the dataset is built; ``on_epoch(record, epochs, eta_s)`` and
    ``progress(step, total_steps, loss)``: see :func:`~art2mus.training.trainer.train_aligner`. All are
    called on the main process only.
    """
    from art2mus.training.distributed import make_accelerator

    check_options(job)
    if job.init_aligner is not None:
        from art2mus.training.trainer import refuse_training_run

        try:
            refuse_training_run(job.init_aligner, "--init")
        except ValueError as exc:
            raise TrainJobError(str(exc)) from None
    check_init_tokens(job)
    config = training_config(job)
    device = resolve_device(job.device)
    try:
        accelerator = make_accelerator(device, job.mixed_precision)
    except ValueError as exc:  # a precision this accelerate refuses
        raise TrainJobError(f"--mixed-precision {job.mixed_precision}: {exc}") from None
    precision = check_precision(job, accelerator)
    with _run_folder_held(job.out_dir, accelerator):
        return _run(job, config, accelerator, precision, report, status, on_epoch, progress)


@contextlib.contextmanager
def _run_folder_held(out: Path, accelerator: Any) -> Iterator[None]:
    """Hold ``OUT/.lock`` for the block, or raise :class:`TrainJobError` naming the run that holds it.

    Only the main process of ``accelerate launch`` takes it (the processes of one run share OUT); a
    refusal reaches every process through one collective, so a refused launch stops everywhere."""
    from art2mus.training.run_lock import RunFolderInUse, RunFolderLock
    from art2mus.training.trainer import any_process

    lock = RunFolderLock(out) if accelerator.is_main_process else None
    failure = None
    if lock is not None:
        try:
            lock.acquire()
        except (RunFolderInUse, OSError) as exc:
            failure = exc if isinstance(exc, RunFolderInUse) else f"cannot lock {lock.path}: {exc}"
    if any_process(accelerator, failure is not None):
        raise TrainJobError(
            str(failure or f"{out} is in use by another train (reported by the main process)")
        )
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _run(
    job: TrainJob,
    config: Any,
    accelerator: Any,
    precision: str,
    report: Line,
    status: Line,
    on_epoch: Callable[[Any, int, float | None], None] | None,
    progress: Callable[[int, int, float], None] | None,
) -> TrainJobOutcome | None:
    """:func:`run_train_job` once the options are checked and OUT is this run's."""
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.distributed import launched
    from art2mus.training.trainer import RunFolderError, train_aligner

    main = accelerator.is_main_process
    if not main:
        report = status = _silent
    try:
        pipeline = Art2MusPipeline.from_model_dir(
            job.model_dir,
            encoder=job.encoder,
            aligner=job.init_aligner,
            device=accelerator.device if launched() else resolve_device(job.device),
            profile=job.profile,
        )
    except (FileNotFoundError, ValueError) as exc:  # DamagedModelFile and DeviceError too: one sentence
        raise TrainJobError(str(exc)) from None
    if pipeline.profile.name != DEFAULT_PROFILE:
        report(f"conditioning profile {pipeline.profile.name} (AudioLDM2 {pipeline.profile.base_model})")
    settings = resume_settings(job, pipeline.profile.name)
    # before any extraction: a resume that would be refused must not cost the dataset's hours, nor touch OUT
    checkpoint = resumed_checkpoint(job, config, settings, accelerator.num_processes, report)
    dataset = prepare_dataset(
        pipeline,
        job,
        accelerator,
        report=report,
        status=status,
        checkpoint_dataset=None if checkpoint is None else checkpoint.get("dataset"),
    )
    gap = None
    if pipeline.aligner is None:
        if dataset.modality == "audio" and job.gap_images is not None:
            gap = fit_gap(pipeline, dataset, job.gap_images, report)
        tokens = DEFAULT_TOKENS if job.tokens is None else job.tokens
        pipeline.set_aligner(new_aligner(pipeline, tokens, job.seed, None if gap is None else gap.shift))
    elif dataset.modality == "audio" and job.gap_images is not None:
        report("--init: the aligner keeps its own modality-gap shift; --images is not used")
    if dataset.modality == "audio" and pipeline.aligner.input_shift is None:
        report(
            "warning: no modality-gap shift (give --images); image embeddings will meet an aligner fitted on audio"
        )
    metadata = run_record(job, precision, accelerator.num_processes)
    if gap is not None:
        metadata["modality_gap"] = gap.summary()
    try:
        result = train_aligner(
            pipeline,
            dataset,
            job.out_dir,
            config,
            resume=job.resume,
            overwrite=job.overwrite,
            progress=progress,
            on_epoch=on_epoch,
            metadata=metadata,
            accelerator=accelerator,
            settings=settings,
            setting_names=CONFIG_OPTIONS,
        )
    except (RunFolderError, ValueError) as exc:
        raise TrainJobError(str(exc)) from None
    return TrainJobOutcome(result, None if gap is None else gap.summary()) if main else None


def run_record(job: TrainJob, precision: str, processes: int) -> dict[str, Any]:
    """What the trained aligner's ``config.json`` records of the run (its ``metadata``, to which the trainer
    adds the dataset and the training config): every setting that changes the result, paths absolute (so
    the record reproduces the run from anywhere, and ``art2mus evaluate`` finds the pairs trained on), and
    for an ``--init`` run the aligner it started from with its origin and licence, carried forward."""
    from art2mus.models.model_dir import ModelDir

    # (not getattr(..., "root"): a Path has one too, "/" or "")
    model_dir = job.model_dir.root if isinstance(job.model_dir, ModelDir) else job.model_dir
    metadata: dict[str, Any] = {
        "model_dir": str(Path(model_dir).absolute()),
        "seed": job.seed,
        "mixed_precision": precision,  # bf16 autocast moves the weights off a float32 run's
        "encoder": job.encoder,  # the aligner's config has the token count, config.json the profile
        "segment_seconds": job.segment_seconds,
        "max_segments": job.max_segments,
        "audio_norm": job.audio_norm,
        "processes": processes,  # the global batch is batch_size x accumulation x processes
    }
    metadata.update(
        {"pairs_file": str(job.pairs.absolute())}
        if job.pairs is not None
        else {"music_dir": str(job.music_dir.absolute())}
    )
    if job.gap_images is not None:
        metadata["gap_images"] = str(job.gap_images.absolute())
    if job.init_aligner is not None:
        metadata.update(init_record(job))
    return metadata


def init_record(job: TrainJob) -> dict[str, Any]:
    """``init`` (the ``--init`` aligner as given, its folder, weights' sha256, origin and licence), and this
    run's ``origin`` and ``licence`` derived from it: weights fine-tuned from another's are still bound by
    its terms, so ``art2mus models list`` must show them, not "trained locally"."""
    from art2mus.models.model_dir import ModelDir, read_aligner_config

    mdir = job.model_dir if isinstance(job.model_dir, ModelDir) else ModelDir(job.model_dir)
    folder = mdir.resolve_aligner(job.init_aligner).absolute()
    document = read_aligner_config(folder)
    source = document.get("metadata") or {}
    origin = str(source.get("origin", f"aligner {folder.name}, trained locally"))
    init: dict[str, Any] = {
        "aligner": str(job.init_aligner),
        "path": str(folder),
        "weights_sha256": document.get("weights_sha256"),
        "origin": origin,
        "licence": source.get("licence"),
    }
    if "source_sha256" in source:
        init["source_sha256"] = source["source_sha256"]
    record: dict[str, Any] = {"init": init}
    # one "fine-tuned from" and one "derived from" however many fine-tunings deep
    prefix = "fine-tuned locally from "
    record["origin"] = origin if origin.startswith(prefix) else prefix + origin
    if source.get("licence") is not None:
        licence = str(source["licence"])
        record["licence"] = (
            licence if licence.startswith("derived from ") else f"derived from {origin}: {licence}"
        )
    return record


#: the ``art2mus train`` option of each :class:`~art2mus.training.trainer.TrainingConfig` field (the others
#: have none), so a refused resume names what to change
CONFIG_OPTIONS = {
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "val_fraction": "--val-fraction",
    "patience": "--patience",
    "seed": "--seed",
    "accumulation": "--accumulation",
    "snr_gamma": "--snr-gamma",
    "guidance_scale": "--loss-guidance",
    "embedding_noise": "--embedding-noise",
    # and the choices a refused run is told about
    "resume": "--resume",
    "overwrite": "--overwrite",
}


def training_config(job: TrainJob) -> Any:
    """The :class:`~art2mus.training.trainer.TrainingConfig` of ``job`` (known before any work: a music-only
    run's default embedding noise is CapDec's, a paired run's none)."""
    from art2mus.training.trainer import TrainingConfig

    noise = job.embedding_noise
    if noise is None:
        from art2mus.training.modality_gap import CAPDEC_NOISE_STD

        noise = CAPDEC_NOISE_STD if job.music_dir is not None else 0.0
    try:
        return TrainingConfig(
            epochs=job.epochs,
            batch_size=job.batch_size,
            lr=job.lr,
            val_fraction=job.val_fraction,
            patience=job.patience,
            seed=job.seed,
            accumulation=job.accumulation,
            snr_gamma=job.snr_gamma,
            guidance_scale=job.loss_guidance,
            embedding_noise=noise,
        )
    except ValueError as exc:
        raise TrainJobError(str(exc)) from None


def resume_settings(job: TrainJob, profile: str) -> dict[str, Any]:
    """The options outside the training config a resumed run must share with its checkpoint (the dataset's
    segmenting and the aligner's shape), by option name; saved in the checkpoint."""
    settings = {
        "--encoder": job.encoder,
        "--profile": profile,
        "--init": job.init_aligner,
        "--segment-seconds": job.segment_seconds,
        "--max-segments": job.max_segments,
        "--audio-norm": job.audio_norm,
    }
    if job.init_aligner is None:  # an --init aligner has its own token count
        settings["--tokens"] = DEFAULT_TOKENS if job.tokens is None else job.tokens
    return settings


def resumed_checkpoint(
    job: TrainJob, config: Any, settings: dict[str, Any], processes: int, report: Line
) -> dict[str, Any] | None:
    """The checkpoint ``--resume`` continues, checked against ``job`` before any work (every setting that
    differs named with both values); None without ``--resume`` or without a checkpoint in OUT."""
    from art2mus.training.trainer import (
        CHECKPOINT_FILE,
        RunFolderError,
        check_resumable,
        read_checkpoint,
        refuse_resume_without_checkpoint,
    )

    path = job.out_dir / CHECKPOINT_FILE
    if not job.resume:
        return None
    if not path.is_file():
        try:
            refuse_resume_without_checkpoint(job.out_dir, CONFIG_OPTIONS)
        except RunFolderError as exc:
            raise TrainJobError(str(exc)) from None
        report(
            f"--resume: no {CHECKPOINT_FILE} in {job.out_dir} yet, so nothing to resume: starting at epoch 1"
        )
        return None
    try:
        state = read_checkpoint(path, CONFIG_OPTIONS)
        check_resumable(path, state, config, processes, settings, CONFIG_OPTIONS)
    except ValueError as exc:
        raise TrainJobError(str(exc)) from None
    if state["epoch"] == config.epochs:
        report(
            f"{path} already has its {config.epochs} epochs: nothing to train (a larger --epochs extends it)"
        )
    return state


def new_aligner(pipeline: Any, tokens: int, seed: int, input_shift: list[float] | None = None) -> Any:
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


def prepare_dataset(
    pipeline: Any,
    job: TrainJob,
    accelerator: Any,
    *,
    report: Line,
    status: Line,
    checkpoint_dataset: str | None = None,
) -> Any:
    """The cached dataset in ``OUT/dataset`` when it was built from the same files and settings, else a new
    one (built by every process, each its slice, when there are several), extracted in pieces under
    ``OUT/dataset/pieces/`` that the same command run again continues from
    (:mod:`art2mus.training.extraction`). ``checkpoint_dataset``: the fingerprint of the dataset a resumed
    checkpoint trained on; another one is refused before any work, the earlier dataset left as it is.

    Raises:
        TrainJobError: a file or setting that cannot make a dataset (the message names it).
        ExtractionInterrupted: an interrupt (Ctrl-C) while extracting; it says what is kept.
    """
    from art2mus.training.collection import CollectionError, progress_printer, scan_music
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
        refuse_short_music,
        refuse_undecodable,
        repeated_pairs,
        track_name,
    )
    from art2mus.training.extraction import (
        ExtractionInterrupted,
        clear_pieces,
        extract_in_pieces,
        kept_items,
        pieces_folder,
    )
    from art2mus.training.interrupts import signal_of

    data_dir = job.out_dir / "dataset"
    segment_s, max_segments, audio_norm, seed = (
        job.segment_seconds,
        job.max_segments,
        job.audio_norm,
        job.seed,
    )
    music_dir = job.music_dir
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
            items = tracks
            wanted = fingerprint(
                [Pair(str(t), t, t) for t in tracks],
                f"audio:{encoder_key}",
                segment_s,
                max_segments,
                audio_norm,
                seed,
            )
        else:
            items = read_pairs(job.pairs)
            for line in repeated_pairs(items):
                report(f"warning: {line}")
            wanted = fingerprint(items, encoder_key, segment_s, max_segments, audio_norm, seed)
    except (PairsError, CollectionError) as exc:
        raise TrainJobError(str(exc)) from None
    if checkpoint_dataset is not None and checkpoint_dataset != wanted:
        from art2mus.training.trainer import CHECKPOINT_FILE, start_afresh

        source = job.pairs if job.pairs is not None else job.music_dir
        raise TrainJobError(
            f"{job.out_dir / CHECKPOINT_FILE} was made with other data: a file of {source} changed, or was "
            f"added or removed, since it was trained; {start_afresh(CONFIG_OPTIONS)}"
        )
    if (data_dir / "dataset.json").is_file():
        cached = PairDataset.load(data_dir)
        if cached.info.get("fingerprint") == wanted:
            if accelerator.is_main_process:  # left by a run stopped between saving and clearing them
                clear_pieces(data_dir)
            _report_skipped(cached, report)
            return cached
    what = "tracks" if music_dir else "pairs"
    progress = progress_printer("embedding music" if music_dir else "embedding pairs", status)
    folder = pieces_folder(data_dir, wanted)
    if accelerator.is_main_process:
        clear_pieces(data_dir, keep=folder)  # pieces of other data (a file changed, other settings)
    kept = kept_items(folder, wanted)
    if kept:
        report(f"continuing the interrupted extraction: {kept} of {len(items)} {what} kept in {folder}")
    root = common_folder(tracks) if music_dir is not None else None
    label = (lambda pair: pair.id) if music_dir is None else (lambda track: track_name(track, root))

    def build(part, first_index):
        """The dataset of ``part``, the whole list's from ``first_index`` on."""
        common = dict(seed=seed, audio_norm=audio_norm, first_index=first_index)
        if music_dir is None:
            return build_dataset(
                list(part), pipeline, segment_s=segment_s, max_segments_per_pair=max_segments, **common
            )
        return build_music_dataset(
            list(part),
            pipeline,
            segment_s=segment_s,
            max_segments_per_track=max_segments,
            root=root,
            **common,
        )

    def build_slice(part, first_index):
        """``part``'s dataset, extracted in pieces that outlive an interrupt (None: no segment in it)."""
        try:
            return extract_in_pieces(
                part, build, folder, wanted, first_index=first_index, label=label, progress=progress
            )
        except NoSegmentsError:
            if len(part) == len(items):
                raise
            return None  # this process's slice is all short tracks; another's may not be

    try:
        if music_dir is None:  # all of them named at once, before hours of work
            refuse_undecodable(items)
            refuse_short_music(items, segment_s)
        if accelerator.num_processes > 1:
            from art2mus.training.distributed import build_in_parts

            dataset = build_in_parts(items, build_slice, data_dir, accelerator, wanted)
        else:
            from art2mus.training.distributed import clear_parts

            dataset = build_slice(items, 0)
            clear_parts(data_dir)
            (data_dir / "dataset.json").unlink(missing_ok=True)  # stale until the new one is written
            dataset = PairDataset.load(dataset.save(data_dir))
    except KeyboardInterrupt as exc:  # SIGTERM too (art2mus.training.interrupts)
        raise ExtractionInterrupted(
            kept_items(folder, wanted), len(items), folder, what, signal_of(exc)
        ) from None
    except (PairsError, ValueError) as exc:
        raise TrainJobError(str(exc)) from None
    except OSError as exc:
        from art2mus.training.disk_space import cannot_write, is_disk_full

        if not is_disk_full(exc):
            raise
        kept = f"the {what} extracted so far are kept in {folder}; free space and run the same command again"
        raise TrainJobError(cannot_write(exc.filename or data_dir, exc, kept)) from None
    if accelerator.is_main_process:  # every process has its dataset (build_in_parts waits for all)
        clear_pieces(data_dir)
    _report_skipped(dataset, report)
    report(f"{len(dataset.pair_ids)} examples, {len(dataset)} segments of {segment_s:g} s -> {data_dir}")
    return dataset


def _report_skipped(dataset: Any, report: Line) -> None:
    """The tracks a music-only dataset left out (damaged within, or too short), with the reason."""
    for path, reason in dataset.info.get("skipped", []):
        report(f"skipped {path}: {reason}")


def fit_gap(pipeline: Any, dataset: Any, images_dir: Path, report: Line) -> Any:
    """The modality-gap shift from the museum's images and the library's audio embeddings (reported)."""
    import torch

    from art2mus.training.collection import CollectionError, read_rgb, scan_images
    from art2mus.training.modality_gap import fit_shift

    try:
        scan = scan_images(images_dir)
    except CollectionError as exc:
        raise TrainJobError(str(exc)) from None
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
