"""Training the aligner on a dataset of pairs, with the audio prior frozen.

Each epoch shuffles the training segments (seeded), takes batches through
:func:`~art2mus.training.aligner_step.aligner_training_step`, then measures the validation loss on the
held-out *pairs* with fixed noise (the same seed every epoch, so epochs compare). The output folder holds:

* ``best/``: the aligner with the lowest validation loss (the lowest training loss when no pair is held
  out: :attr:`TrainingResult.validated` says which) (``config.json`` + ``model.safetensors``,
  loadable by the daemon: point ``generators.<name>.aligner`` at it, or copy it to
  ``MODEL_DIR/aligners/<name>``); its ``config.json`` names the pipeline's conditioning profile, the one
  it was trained under;
* ``last/``: the aligner after the last epoch;
* ``checkpoint.pt``: aligner, optimiser, epoch, RNG and history, so ``resume=True`` continues exactly;
* ``history.jsonl``: one JSON line per epoch (train loss, val loss, seconds, learning rate).

They are written after every epoch, with Ctrl-C and SIGTERM held until they are complete
(:func:`~art2mus.training.interrupts.signals_held`); an interrupt in an epoch raises
:class:`TrainingInterrupted`, which says which epoch the checkpoint holds.

A fresh run into a folder that holds an earlier one refuses unless ``overwrite=True``; then the earlier
``best/`` is kept as ``best.previous/``, or, when that holds the best aligner of a run before it, as the
first free ``best.previous.N/`` (N = 2, 3, ...): an aligner set aside is never deleted or replaced (their
validation losses are not comparable when the runs differ in data, split or seed, so neither is chosen
for the user), and :attr:`TrainingResult.previous_best` says where it went. ``resume=True`` continues an
interrupted run exactly, or extends a finished one to a larger ``epochs`` (the cosine schedule is
stretched to the new total from where it stands).

Training runs through an :class:`accelerate.Accelerator`: on one process it is plain PyTorch (the same
weights as without accelerate); under ``accelerate launch`` it is data-parallel. Every process shuffles
with the same seeded generator, so the order is one deterministic sampler for all; each optimiser step
takes ``batch_size x accumulation x processes`` segments and each process computes its share of every
micro-batch (:func:`~art2mus.training.aligner_step.aligner_training_step`), reading only its rows from
the dataset's shards. N processes with ``batch_size`` B therefore give the weights one process gives with
``batch_size`` N x B. Only the main process writes the output folder and reports progress.
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from art2mus.training.aligner_step import (
    BatchPart,
    aligner_optimizer,
    aligner_training_step,
    diffusion_loss,
)
from art2mus.training.dataset import PairDataset
from art2mus.training.interrupts import signal_of, signals_held, stopped_by

logger = logging.getLogger(__name__)

CHECKPOINT_FILE, HISTORY_FILE = "checkpoint.pt", "history.jsonl"


@dataclass(frozen=True)
class TrainingConfig:
    """How to train (saved with every checkpoint).

    Attributes:
        epochs: passes over the training segments.
        batch_size: segments per step.
        lr: AdamW learning rate (cosine decay to 10 % over the run, after ``warmup_steps``).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        max_grad_norm: gradient clipping of the aligner.
        val_fraction: share of the pairs held out for validation.
        patience: stop after this many epochs without a better validation loss (0: never).
        seed: shuffling, noise and timesteps.
        accumulation: gradient accumulation: each optimiser step sees ``batch_size * accumulation``
            segments, run through the networks ``batch_size`` at a time.
        snr_gamma: min-SNR loss weighting with this gamma (v1 offers 5.0); ``None``: plain MSE.
        guidance_scale: above 1, the loss is on the classifier-free guided prediction, as Art2Mus v1
            trains (its default 3.5); 1: on the conditional prediction (this project's default).
        embedding_noise: standard deviation of Gaussian noise added to each training embedding before
            re-normalising it (CapDec's noise injection, used by music-only training so the aligner
            tolerates the residual image-audio gap); 0: none.
    """

    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 10
    max_grad_norm: float = 1.0
    val_fraction: float = 0.1
    patience: int = 0
    seed: int = 0
    accumulation: int = 1
    snr_gamma: float | None = None
    guidance_scale: float = 1.0
    embedding_noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accumulation"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.lr < 1):
            raise ValueError(f"lr must be between 0 and 1, got {self.lr}")
        if not (0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.snr_gamma is not None and self.snr_gamma <= 0:
            raise ValueError(f"snr_gamma must be > 0, got {self.snr_gamma}")
        if self.guidance_scale < 1:
            raise ValueError(f"guidance_scale must be >= 1, got {self.guidance_scale}")
        if self.embedding_noise < 0:
            raise ValueError(f"embedding_noise must be >= 0, got {self.embedding_noise}")

    def loss_options(self, dataset: PairDataset) -> dict[str, Any]:
        """The :func:`diffusion_loss` keywords these settings (and the dataset's modality) ask for."""
        return {
            "guidance_scale": self.guidance_scale,
            "snr_gamma": self.snr_gamma,
            "shift": dataset.modality == "image",
        }


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float | None
    seconds: float
    lr: float
    steps: int


@dataclass
class TrainingResult:
    """What :func:`train_aligner` made. ``best_val_loss`` is the loss ``best/`` was chosen by: the
    validation loss when ``validated``, else (no pair held out) the training loss."""

    best_dir: Path | None
    last_dir: Path
    best_val_loss: float | None
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False
    previous_best: Path | None = None
    validated: bool = True
    previous_best_val_loss: float | None = None  # the validation loss ``previous_best`` recorded, if any
    # whether ``previous_best`` held out the same pairs as this run (same data, seed and val fraction):
    # only then do the two validation losses compare
    previous_comparable: bool = False


class RunFolderError(ValueError):
    """The output folder holds an earlier run that this one would overwrite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM (a ``KeyboardInterrupt`` still); the message says what is kept.

    Attributes:
        epoch: the epoch it stopped in (1-based), of ``epochs``.
        saved: the epoch the checkpoint in ``out`` holds (0: none of this run).
        signum: the signal (SIGINT for Ctrl-C).
    """

    def __init__(self, epoch: int, epochs: int, saved: int, out: Path, signum: int, again: str):
        self.epoch, self.epochs, self.saved, self.out, self.signum = epoch, epochs, saved, out, signum
        where = f"{stopped_by(signum)} in epoch {epoch}/{epochs}"
        if saved:
            message = (
                f"{where}: the last checkpoint (epoch {saved}) is kept in {out}, with best/ and last/; "
                f"continue with {again}"
            )
        else:
            message = (
                f"{where}, before this run's first checkpoint: no epoch is kept; run the same command again"
            )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def start_afresh(names: dict[str, str] | None = None) -> str:
    """What a refused resume suggests instead: a fresh run, which needs ``overwrite`` in a used folder
    (``names``: the caller's name for it, e.g. ``--overwrite``)."""
    return f"start afresh with {(names or {}).get('overwrite', 'overwrite')} or train into another folder"


def read_checkpoint(path: Path, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The training checkpoint at ``path`` (tensors, numbers and lists only: a foreign file cannot run code
    on load). Raises ``ValueError`` naming the file when it cannot be read or is not one."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError... for bad files
        raise ValueError(
            f"{path} cannot be read as a training checkpoint (truncated or not one): {exc}; "
            f"{start_afresh(names)}"
        ) from exc
    if not isinstance(state, dict) or not {"config", "aligner", "epoch"} <= set(state):
        raise ValueError(f"{path} is not an art2mus training checkpoint")
    return state


def check_resumable(
    path: Path,
    state: dict[str, Any],
    config: TrainingConfig,
    processes: int = 1,
    settings: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """Raise ``ValueError`` when the checkpoint ``state`` (read from ``path``) cannot go on under ``config``
    on ``processes`` processes: a setting other than the checkpoint's (its length aside: ``resume`` may
    extend a finished run), each named with both values (``names`` maps a :class:`TrainingConfig` field
    to the name the user knows, e.g. ``seed`` -> ``--seed``), or more epochs in it than ``config.epochs``.
    ``settings``: the caller's other settings, compared with those the checkpoint saved with them."""
    names = names or {}
    saved, now = state["config"], asdict(config)
    differences = [
        (names.get(key, key), saved.get(key), now.get(key))
        for key in dict.fromkeys([*now, *saved])
        if key != "epochs" and saved.get(key) != now.get(key)
    ]
    saved_settings = state.get("settings") or {}
    differences += [
        (key, saved_settings[key], value)
        for key, value in (settings or {}).items()
        if key in saved_settings and saved_settings[key] != value
    ]
    if differences:
        listed = "; ".join(
            f"{name}: {_shown(a)} in the checkpoint, {_shown(b)} now" for name, a, b in differences
        )
        raise ValueError(
            f"{path} was made with other settings ({listed}); resume with the checkpoint's, or "
            f"{start_afresh(names)}"
        )
    if state["epoch"] > config.epochs:
        raise ValueError(
            f"{path} already has {state['epoch']} epochs, more than {names.get('epochs', 'epochs')} "
            f"{config.epochs}: resume with {state['epoch']} or more (a larger number extends the run); its "
            "aligners are in best/ and last/"
        )
    if state.get("processes", 1) != processes:
        raise ValueError(
            f"{path} was made with {state.get('processes', 1)} process(es), this run has "
            f"{processes}: resume with as many (each step's batch is batch size x processes)"
        )


def _shown(value: Any) -> str:
    return "not set" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def set_aside_folder(out: Path) -> Path:
    """Where the earlier run's ``best/`` goes: ``best.previous``, else the first free ``best.previous.N``."""
    kept, number = out / "best.previous", 1
    while kept.exists() or kept.is_symlink():
        number += 1
        kept = out / f"best.previous.{number}"
    return kept


def _set_aside_earlier_run(out: Path, overwrite: bool, names: dict[str, str] | None = None) -> Path | None:
    """Refuse an earlier run in ``out`` unless ``overwrite``; then clear it, keeping its ``best/`` in
    :func:`set_aside_folder` (``names``: the caller's names for the ``resume``/``overwrite`` choices)."""
    names = names or {}
    earlier = [name for name in (CHECKPOINT_FILE, HISTORY_FILE, "best", "last") if (out / name).exists()]
    if not earlier:
        return None
    if not overwrite:
        # without a checkpoint there is nothing to continue: resuming would refuse
        go_on = f"continue it with {names.get('resume', 'resume')}, " if CHECKPOINT_FILE in earlier else ""
        raise RunFolderError(
            f"{out} holds an earlier run ({', '.join(earlier)}); {go_on}"
            f"train into another folder, or start afresh with {names.get('overwrite', 'overwrite')} (its best/ "
            f"is kept as {set_aside_folder(out).name}/)"
        )
    import shutil

    kept = None
    if (out / "best").is_dir():
        kept = set_aside_folder(out)
        (out / "best").rename(kept)
        # debug: the result's previous_best says it (train prints it with both runs' validation losses)
        logger.debug("overwriting the run in %s: its best aligner is kept in %s", out, kept)
    for name in (CHECKPOINT_FILE, HISTORY_FILE):
        (out / name).unlink(missing_ok=True)
    if (out / "last").is_dir():
        shutil.rmtree(out / "last")
    return kept


def refuse_training_run(aligner: str | Path, option: str) -> None:
    """Raise ``ValueError`` when ``aligner`` (given to ``option``, e.g. ``--aligner``) is a training run's
    folder rather than one of its aligners: it read ``aligner config runs/a/config.json not found``."""
    folder = Path(aligner)
    if not folder.is_dir() or (folder / "config.json").is_file():
        return
    if any((folder / name).exists() for name in (CHECKPOINT_FILE, HISTORY_FILE, "best", "last")):
        raise ValueError(
            f"{option} {aligner}: {folder} is a training run, not an aligner; use {folder / 'best'} "
            f"(or {folder / 'last'})"
        )


def refuse_resume_without_checkpoint(out: Path, names: dict[str, str] | None = None) -> None:
    """Raise :class:`RunFolderError` when ``out`` holds an earlier run's files but no checkpoint (a run
    whose first checkpoint could not be written): resuming it would start at epoch 1 over its history."""
    names = names or {}
    if (out / CHECKPOINT_FILE).is_file():
        return
    leftovers = [name for name in (HISTORY_FILE, "best", "last") if (out / name).exists()]
    if leftovers:
        raise RunFolderError(
            f"no {CHECKPOINT_FILE} in {out}: nothing to resume (it holds {', '.join(leftovers)} of an earlier "
            f"run); {names.get('overwrite', 'overwrite')} starts again (its best/ is kept as "
            f"{set_aside_folder(out).name}/)"
        )


class _EpochNotWritten(Exception):
    """An epoch's file the disk had no room for (:func:`~art2mus.training.disk_space.is_disk_full`)."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(str(path))
        self.path, self.error = path, error


def _continue_with(resume: bool, overwrite: bool, names: dict[str, str]) -> str:
    """How an interrupted run goes on from its checkpoint: the same command, resuming."""
    resuming = names.get("resume", "resume")
    if resume:
        return "the same command"
    if overwrite:  # resuming, not setting this run aside too
        return f"the same command, {resuming} in place of {names.get('overwrite', 'overwrite')}"
    return f"the same command and {resuming}"


def any_process(accelerator: Any, flag: bool) -> bool:
    """Whether ``flag`` is true on any process (every process gets the answer; each must ask)."""
    if accelerator.num_processes == 1:
        return flag
    mark = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(mark, "sum").item() > 0)


def _write_epoch(
    out: Path,
    aligner: Any,
    metadata: dict[str, Any],
    profile: str | None,
    record: EpochRecord,
    improved: bool,
    checkpoint: dict[str, Any],
) -> None:
    """One epoch's files: its history line, ``best/`` when it improved, ``last/`` and the checkpoint.

    Raises:
        _EpochNotWritten: a file the disk had no room for (any other OSError raises as it is).
    """
    from art2mus.training.disk_space import is_disk_full

    writing = out / HISTORY_FILE
    try:
        with writing.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record)) + "\n")
        if improved:
            writing = out / "best"
            aligner.save(writing, metadata, conditioning_profile=profile)
        writing = out / "last"
        aligner.save(writing, metadata, conditioning_profile=profile)
        writing = out / CHECKPOINT_FILE
        _save_checkpoint(checkpoint, writing)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise _EpochNotWritten(writing, exc) from None


def _match_history(path: Path, history: list[EpochRecord]) -> None:
    """Rewrite ``path`` with the checkpoint's ``history`` when it differs: a run killed between an epoch's
    history line and its checkpoint would otherwise list that epoch twice once resumed."""
    from art2mus.common.whole_files import write_whole

    lines = "".join(json.dumps(asdict(record)) + "\n" for record in history).encode("utf-8")
    try:
        if path.read_bytes() == lines:
            return
    except FileNotFoundError:
        pass
    write_whole(path, lines)


def _save_checkpoint(checkpoint: dict[str, Any], path: Path) -> None:
    """``torch.save`` whole or not at all: a crash or a power cut mid-write leaves the previous epoch's."""
    from art2mus.common.whole_files import write_whole

    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_whole(path, buffer.getvalue())


class _EpochClock:
    """Seconds per epoch for the ETA, from the epochs this process ran (a resumed run's earlier epochs ran
    elsewhere, or on other caches).

    A process's first epoch carries one-time costs (lazy initialisation, cold caches, the dataset's
    shards read from disk): at 18 times a later epoch, a 400-epoch run's first ETA was 12 minutes for a
    run of one. Its first optimiser step, where those costs fall, counts as the mean of its other steps;
    an epoch of one step has no other, and gives no estimate (None). From the second epoch on, the first
    is left out altogether."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.later: list[float] = []
        self.steps: list[float] = []  # the first epoch's optimiser steps, seconds

    def add(self, seconds: float) -> None:
        if self.first is None:
            if len(self.steps) >= 2:
                others = sum(self.steps[1:]) / (len(self.steps) - 1)
                seconds -= max(0.0, self.steps[0] - others)
            self.first = seconds
        else:
            self.later.append(seconds)

    def left(self, epochs: int) -> float | None:
        """Seconds for ``epochs`` more epochs (None: not known yet)."""
        if self.later:
            return sum(self.later) / len(self.later) * epochs
        return None if self.first is None or len(self.steps) < 2 else self.first * epochs


def _not_written(failure: _EpochNotWritten, out: Path, saved: int, again: str) -> str:
    """What a full disk stopped and what is kept: the last checkpoint, or, before the first one, nothing
    (this run's files are removed, so the same command starts again rather than meeting a run to refuse)."""
    from art2mus.training.disk_space import cannot_write

    if saved:
        kept = (
            f"the checkpoint of epoch {saved} is kept in {out}, with best/ and last/; free space and "
            f"continue with {again}"
        )
    else:
        import shutil

        (out / HISTORY_FILE).unlink(missing_ok=True)
        for name in ("best", "last"):
            shutil.rmtree(out / name, ignore_errors=True)
        kept = f"no epoch is kept (this run's files in {out} are removed); free space and run the same command again"
    return cannot_write(failure.path, failure.error, kept)


def _same_validation(folder: Path, dataset: PairDataset, config: TrainingConfig) -> bool:
    """Whether the aligner in ``folder`` was validated on the pairs this run holds out: the same dataset,
    split with the same seed and fraction (:meth:`PairDataset.split`)."""
    try:
        metadata = json.loads((folder / "config.json").read_text())["metadata"]
        training = metadata["training"]
        return (
            metadata["dataset"] == dataset.info["fingerprint"]
            and training["seed"] == config.seed
            and training["val_fraction"] == config.val_fraction
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def val_loss_of(folder: Path) -> float | None:
    """The validation loss an aligner folder's ``config.json`` records (None: no validation, or no file)."""
    try:
        value = json.loads((folder / "config.json").read_text())["metadata"].get("val_loss")
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def validation_loss(
    pipeline: Any,
    dataset: PairDataset,
    indices: list[int],
    batch_size: int,
    seed: int,
    accelerator: Any = None,
    **loss_options: Any,
) -> float:
    """Mean denoising loss over ``indices`` with the same noise and timesteps every call.

    With an ``accelerator`` of N processes, batches of N x ``batch_size`` are shared among them as in
    training (the same loss as one process with that batch size)."""
    processes, index = (
        (1, 0) if accelerator is None else (accelerator.num_processes, accelerator.process_index)
    )
    generator = torch.Generator().manual_seed(seed + 1_000_003)
    total, count = 0.0, 0
    pipeline.aligner.eval()
    step = batch_size * processes
    for start in range(0, len(indices), step):
        batch = torch.tensor(indices[start : start + step])
        share = torch.arange(len(batch)).tensor_split(processes)[index]
        # an empty share still draws the batch's noise (one row, not counted): generators stay in step
        rows = share if len(share) else torch.arange(1)
        lo = int(rows[0])
        loss, _ = diffusion_loss(
            pipeline,
            read_rows(dataset.embeddings, dataset.segment_pair[batch[rows]]),
            read_rows(dataset.latents, batch[rows]),
            generator=generator,
            part=BatchPart(lo, lo + len(rows), len(batch)),
            **loss_options,
        )
        total += float(loss) * len(share)
        count += len(batch)
    if processes > 1:
        total = float(
            accelerator.reduce(torch.tensor(total, dtype=torch.float64, device=accelerator.device), "sum")
        )
    return total / max(1, count)


def read_rows(source: Any, rows: torch.Tensor) -> torch.Tensor:
    """Rows ``rows`` of a dataset tensor (in memory or in shards) as a new contiguous tensor.

    The networks' float results depend on how their input lies in memory: a UNet convolution takes
    another kernel for channels-last latents (as a just-built dataset holds them, straight from the VAE)
    than for contiguous ones (as its shards are read back), and the last bits of the loss differ. Every
    batch is read into one layout, in a buffer of its own, so a run on the dataset it has just built and
    a resumed run on the same dataset read from OUT/dataset reach the same weights."""
    return source[rows].clone(memory_format=torch.contiguous_format)


class _Rows:
    """Rows ``indices`` of a (sharded) tensor, read only when indexed: a process reads just its share."""

    def __init__(self, source: Any, indices: torch.Tensor):
        self.source, self.indices = source, indices
        self.shape = torch.Size((len(indices), *source.shape[1:]))

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        return read_rows(self.source, self.indices[rows])


def train_aligner(
    pipeline: Any,
    dataset: PairDataset,
    out_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    on_epoch: Callable[[EpochRecord, int, float | None], None] | None = None,
    metadata: dict[str, Any] | None = None,
    accelerator: Any = None,
    settings: dict[str, Any] | None = None,
    setting_names: dict[str, str] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainingResult:
    """Train ``pipeline.aligner`` on ``dataset``; see the module docstring for what is written.

    ``progress(step, total_steps, loss)`` is called after every optimiser step, ``on_epoch(record,
    epochs, eta_seconds)`` after every epoch (on the main process only; ``eta_seconds`` None where the
    process's first epoch, of one step, cannot tell its one-time costs from its pace). ``accelerator``: the
    :class:`accelerate.Accelerator` to train through (the pipeline on its device); default: one process
    on the pipeline's device (:func:`~art2mus.training.distributed.make_accelerator`). ``settings``: the
    caller's settings that a resumed run must share (e.g. the segment length), saved in the checkpoint
    and compared by :func:`check_resumable`, which names a difference by ``setting_names`` (which may also
    name the ``resume`` and ``overwrite`` choices, for messages). ``clock``: seconds, for the epochs'
    durations and the ETA.

    Raises:
        RunFolderError: ``out_dir`` holds an earlier run, and neither ``resume`` nor ``overwrite``.
        ValueError: the checkpoint to resume was made with other settings or data, or has more epochs.
        TrainingInterrupted: Ctrl-C or SIGTERM (see :mod:`~art2mus.training.interrupts`) during the epochs.
    """
    config = config or TrainingConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    aligner = pipeline.aligner
    if aligner is None:
        raise ValueError("the pipeline has no aligner to train")
    if aligner.encoder_spec.name != dataset.info["encoder"]["name"]:
        raise ValueError(
            f"the dataset was built with encoder {dataset.info['encoder']['name']!r}, the aligner is "
            f"for {aligner.encoder_spec.name!r}"
        )
    if accelerator is None:
        from art2mus.training.distributed import make_accelerator

        accelerator = make_accelerator(pipeline.device)
    main = accelerator.is_main_process
    checkpoint_path = out / CHECKPOINT_FILE
    previous = None
    if not resume:  # the main process clears the folder; the others must not read it meanwhile
        failure = None
        if main:
            try:
                with signals_held():  # renames and deletions: none half done
                    previous = _set_aside_earlier_run(out, overwrite, setting_names)
            except RunFolderError as exc:
                failure = exc
        if any_process(accelerator, failure is not None):
            raise failure or RunFolderError(f"{out} holds an earlier run (reported by the main process)")
    train_idx, val_idx = dataset.split(config.val_fraction, config.seed)
    step_size = config.batch_size * config.accumulation * accelerator.num_processes
    steps_per_epoch = math.ceil(len(train_idx) / step_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = aligner_optimizer(pipeline, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, total_steps, config.warmup_steps)
    )
    raw_optimizer = optimizer
    history: list[EpochRecord] = []
    best: float | None = None
    start_epoch, since_best = 0, 0
    generator = torch.Generator().manual_seed(config.seed)
    loss_options = config.loss_options(dataset)
    if resume:
        refuse_resume_without_checkpoint(out, setting_names)
    if resume and checkpoint_path.is_file():
        state = read_checkpoint(checkpoint_path, setting_names)
        check_resumable(checkpoint_path, state, config, accelerator.num_processes, settings, setting_names)
        if state["dataset"] != dataset.info["fingerprint"]:
            raise ValueError(
                f"{checkpoint_path} was made with other data (a file changed, or the segmenting); "
                f"{start_afresh(setting_names)}"
            )
        try:
            aligner.load_state_dict(state["aligner"])
        except RuntimeError as exc:  # another shape: another encoder, token count or --init aligner
            raise ValueError(
                f"{checkpoint_path} holds an aligner of another shape than this run's (another encoder, "
                f"token count or starting aligner): {str(exc).splitlines()[0]}"
            ) from None
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        history = [EpochRecord(**h) for h in state["history"]]
        best, start_epoch, since_best = state["best"], state["epoch"], state["since_best"]
        logger.info("resuming %s at epoch %d of %d", out, start_epoch + 1, config.epochs)
        if main:
            _match_history(out / HISTORY_FILE, history)
    # the scheduler stays outside prepare(): accelerate would step it once per process, and the
    # schedule here is counted in optimiser steps of the whole (all processes') batch
    model, optimizer = accelerator.prepare(aligner, optimizer)
    meta = {
        **(metadata or {}),
        "dataset": dataset.info["fingerprint"],
        "pairs": len(dataset.pair_ids),
        "segments": len(dataset),
        "training": asdict(config),
    }
    # the aligner learnt under the pipeline's conditioning: it must be played under the same
    profile = getattr(getattr(pipeline, "profile", None), "name", None)
    stopped_early = False
    step = start_epoch * steps_per_epoch
    again = _continue_with(resume, overwrite, setting_names or {})
    saved, current = start_epoch, start_epoch  # the epoch the checkpoint in ``out`` holds, the one running
    eta, lap = _EpochClock(), clock()
    try:
        for epoch in range(start_epoch, config.epochs):
            current, started = epoch + 1, clock()
            step_ended = started
            order = torch.randperm(len(train_idx), generator=generator).tolist()
            losses = []
            for b in range(steps_per_epoch):
                batch = torch.tensor([train_idx[i] for i in order[b * step_size : (b + 1) * step_size]])
                embeddings = read_rows(dataset.embeddings, dataset.segment_pair[batch])
                if config.embedding_noise > 0:
                    noise = torch.randn(embeddings.shape, generator=generator) * config.embedding_noise
                    embeddings = torch.nn.functional.normalize(embeddings + noise, dim=-1)
                result = aligner_training_step(
                    pipeline,
                    optimizer,
                    embeddings,
                    _Rows(dataset.latents, batch),
                    generator=generator,
                    max_grad_norm=config.max_grad_norm,
                    accumulation=config.accumulation,
                    accelerator=accelerator,
                    model=model,
                    **loss_options,
                )
                scheduler.step()
                losses.append(result.loss)
                step += 1
                if progress is not None and main:
                    progress(step, total_steps, result.loss)
                if eta.first is None:  # each step from the end of the one before: the epoch's time, all of it
                    step_ended, before = clock(), step_ended
                    eta.steps.append(step_ended - before)
            val = (
                validation_loss(
                    pipeline, dataset, val_idx, config.batch_size, config.seed, accelerator, **loss_options
                )
                if val_idx
                else None
            )
            record = EpochRecord(
                epoch + 1,
                sum(losses) / len(losses),
                val,
                round(clock() - started, 3),
                scheduler.get_last_lr()[0],
                len(losses),
            )
            history.append(record)
            score = val if val is not None else record.train_loss
            improved = best is None or score < best
            if improved:
                best, since_best = score, 0
            else:
                since_best += 1
            if main:  # every process holds the same weights and history; one writes them
                with signals_held():  # an interrupt waits for the epoch's files: none is left half written
                    _write_epoch(
                        out,
                        accelerator.unwrap_model(model),
                        {**meta, "epoch": record.epoch, "val_loss": val, "train_loss": record.train_loss},
                        profile,
                        record,
                        improved,
                        {
                            "config": asdict(config),
                            "settings": settings or {},
                            "dataset": dataset.info["fingerprint"],
                            "processes": accelerator.num_processes,
                            "aligner": aligner.state_dict(),
                            "optimizer": raw_optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "generator": generator.get_state(),
                            "history": [asdict(h) for h in history],
                            "best": best,
                            "epoch": epoch + 1,
                            "since_best": since_best,
                        },
                    )
                    saved = epoch + 1
                logger.info(
                    "epoch %d/%d: train loss %.6g, val loss %s",
                    record.epoch,
                    config.epochs,
                    record.train_loss,
                    f"{val:.6g}" if val is not None else "-",
                )
            else:
                saved = epoch + 1  # written by the main process (an interrupt reaches every process)
            now = clock()
            eta.add(now - lap)
            lap = now
            if on_epoch is not None and main:
                on_epoch(record, config.epochs, eta.left(config.epochs - record.epoch))
            if config.patience and since_best >= config.patience:
                logger.info("no better validation loss for %d epochs: stopping", config.patience)
                stopped_early = True
                break
        accelerator.wait_for_everyone()  # the folder is complete before any process returns
    except _EpochNotWritten as exc:
        raise RunFolderError(_not_written(exc, out, saved, again)) from None
    except KeyboardInterrupt as exc:
        raise TrainingInterrupted(current, config.epochs, saved, out, signal_of(exc), again) from None
    accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # the aligner's own forward again
    validated = bool(val_idx)
    # the caller compares it with ``best`` (and says so): only runs that held out the same pairs compare
    earlier = None if previous is None else val_loss_of(previous)
    comparable = previous is not None and _same_validation(previous, dataset, config)
    return TrainingResult(
        out / "best" if best is not None else None,
        out / "last",
        best,
        history,
        stopped_early,
        previous,
        validated,
        earlier,
        comparable,
    )
