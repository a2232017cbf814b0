"""Training the aligner on a dataset of pairs, with the audio prior frozen.

Each epoch shuffles the training segments (seeded), takes batches through
:func:`~art2mus.training.aligner_step.aligner_training_step`, then measures the validation loss on the
held-out *pairs* with fixed noise (the same seed every epoch, so epochs compare). The output folder holds:

* ``best/``: the aligner with the lowest validation loss (``config.json`` + ``model.safetensors``,
  loadable by the daemon: point ``generators.<name>.aligner`` at it, or copy it to
  ``MODEL_DIR/aligners/<name>``);
* ``last/``: the aligner after the last epoch;
* ``checkpoint.pt``: aligner, optimiser, epoch, RNG and history, so ``resume=True`` continues exactly;
* ``history.jsonl``: one JSON line per epoch (train loss, val loss, seconds, learning rate).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from art2mus.training.aligner_step import aligner_optimizer, aligner_training_step, diffusion_loss
from art2mus.training.dataset import PairDataset

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

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.lr < 1):
            raise ValueError(f"lr must be between 0 and 1, got {self.lr}")
        if not (0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


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
    best_dir: Path | None
    last_dir: Path
    best_val_loss: float | None
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def validation_loss(
    pipeline: Any, dataset: PairDataset, indices: list[int], batch_size: int, seed: int
) -> float:
    """Mean denoising loss over ``indices`` with the same noise and timesteps every call."""
    generator = torch.Generator().manual_seed(seed + 1_000_003)
    total, count = 0.0, 0
    pipeline.aligner.eval()
    for start in range(0, len(indices), batch_size):
        batch = indices[start : start + batch_size]
        seg = torch.tensor(batch)
        loss, _ = diffusion_loss(
            pipeline, dataset.embeddings[dataset.segment_pair[seg]], dataset.latents[seg], generator=generator
        )
        total += float(loss) * len(batch)
        count += len(batch)
    return total / max(1, count)


def train_aligner(
    pipeline: Any,
    dataset: PairDataset,
    out_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    metadata: dict[str, Any] | None = None,
) -> TrainingResult:
    """Train ``pipeline.aligner`` on ``dataset``; see the module docstring for what is written.

    ``progress(step, total_steps, loss)`` is called after every step.
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
    train_idx, val_idx = dataset.split(config.val_fraction, config.seed)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = aligner_optimizer(pipeline, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, total_steps, config.warmup_steps)
    )
    history: list[EpochRecord] = []
    best: float | None = None
    start_epoch, since_best = 0, 0
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint_path = out / CHECKPOINT_FILE
    if resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, weights_only=False)
        if state["config"] != asdict(config) or state["dataset"] != dataset.info["fingerprint"]:
            raise ValueError(
                f"{checkpoint_path} was made with other settings or data; train into a new folder "
                "or without resume"
            )
        aligner.load_state_dict(state["aligner"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        history = [EpochRecord(**h) for h in state["history"]]
        best, start_epoch, since_best = state["best"], state["epoch"], state["since_best"]
        logger.info("resuming %s at epoch %d", out, start_epoch + 1)
    meta = {
        **(metadata or {}),
        "dataset": dataset.info["fingerprint"],
        "pairs": len(dataset.pair_ids),
        "segments": len(dataset),
        "training": asdict(config),
    }
    stopped_early = False
    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        order = torch.randperm(len(train_idx), generator=generator).tolist()
        losses = []
        for b in range(steps_per_epoch):
            batch = torch.tensor(
                [train_idx[i] for i in order[b * config.batch_size : (b + 1) * config.batch_size]]
            )
            result = aligner_training_step(
                pipeline,
                optimizer,
                dataset.embeddings[dataset.segment_pair[batch]],
                dataset.latents[batch],
                generator=generator,
                max_grad_norm=config.max_grad_norm,
            )
            scheduler.step()
            losses.append(result.loss)
            step += 1
            if progress is not None:
                progress(step, total_steps, result.loss)
        val = validation_loss(pipeline, dataset, val_idx, config.batch_size, config.seed) if val_idx else None
        record = EpochRecord(
            epoch + 1,
            sum(losses) / len(losses),
            val,
            round(time.perf_counter() - started, 3),
            scheduler.get_last_lr()[0],
            len(losses),
        )
        history.append(record)
        with (out / HISTORY_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record)) + "\n")
        logger.info(
            "epoch %d/%d: train loss %.5f, val loss %s",
            record.epoch,
            config.epochs,
            record.train_loss,
            f"{val:.5f}" if val is not None else "-",
        )
        score = val if val is not None else record.train_loss
        if best is None or score < best:
            best, since_best = score, 0
            aligner.save(
                out / "best",
                {**meta, "epoch": record.epoch, "val_loss": val, "train_loss": record.train_loss},
            )
        else:
            since_best += 1
        aligner.save(
            out / "last", {**meta, "epoch": record.epoch, "val_loss": val, "train_loss": record.train_loss}
        )
        torch.save(
            {
                "config": asdict(config),
                "dataset": dataset.info["fingerprint"],
                "aligner": aligner.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "history": [asdict(h) for h in history],
                "best": best,
                "epoch": epoch + 1,
                "since_best": since_best,
            },
            checkpoint_path,
        )
        if config.patience and since_best >= config.patience:
            logger.info("no better validation loss for %d epochs: stopping", config.patience)
            stopped_early = True
            break
    return TrainingResult(
        out / "best" if best is not None else None, out / "last", best, history, stopped_early
    )
