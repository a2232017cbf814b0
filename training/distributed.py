"""Training on several processes with Hugging Face accelerate: the accelerator, and the dataset step
(feature extraction) shared among processes.

``accelerate launch --multi_gpu --num_processes N -m art2mus.installation.cli train ...`` starts N
processes (one per GPU; on a machine without GPUs, N CPU processes talking over gloo). Each builds its
:class:`accelerate.Accelerator` with :func:`make_accelerator`. On one process (plain ``art2mus train``)
the same code runs as one process.

:func:`build_in_parts` runs a dataset builder (:func:`~art2mus.training.dataset.build_dataset`,
:func:`~art2mus.training.dataset.build_music_dataset`) on each process's slice of the pairs, into
``DIR/parts/NNNNN/`` (its own shard files); after every process is done the main process writes the
index (``DIR/dataset.json`` naming the parts' shards in order, and the segment-to-pair table), so
:meth:`~art2mus.training.dataset.PairDataset.load` reads the whole set lazily without copying it.
The features equal a one-process build: each pair's VAE noise is seeded from the pair's own index.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

PARTS_DIR = "parts"
#: info entries that list something per pair (or per track): concatenated, in process order, on merging
PER_ITEM_INFO = ("pairs", "tracks", "pair_groups", "skipped")


def make_accelerator(device: str | torch.device, mixed_precision: str | None = None):
    """The :class:`accelerate.Accelerator` of this process for training on ``device``.

    Under ``accelerate launch`` it joins the launched processes (``device`` cpu: gloo, one CPU process
    each). Alone, it is one process on ``device``; accelerate keeps its state per Python process, so a
    process that trains twice (tests, notebooks) gets a fresh state each time rather than an error.
    ``mixed_precision``: ``no``, ``fp16`` or ``bf16``; ``None``: what ``accelerate launch`` (or its
    config) set, else ``no``. Device placement is left to the caller (the pipeline is already there).
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    if not launched():
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    return Accelerator(
        cpu=torch.device(device).type == "cpu", mixed_precision=mixed_precision, device_placement=False
    )


def launched() -> bool:
    """Whether this process is one of several started by ``accelerate launch`` (or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_slice(count: int, processes: int, index: int) -> range:
    """The items (of ``count``) process ``index`` of ``processes`` handles: a contiguous block, the
    first ``count % processes`` blocks one longer."""
    base, extra = divmod(count, processes)
    start = index * base + min(index, extra)
    return range(start, start + base + (index < extra))


def build_in_parts(
    items: Sequence[Any],
    build: Callable[[Sequence[Any], int], Any],
    directory: str | Path,
    accelerator: Any,
    fingerprint: str,
) -> Any:
    """Build a :class:`~art2mus.training.dataset.PairDataset` over ``items`` with every process doing its
    :func:`process_slice`: ``build(slice_items, first_index)`` returns the slice's dataset (``None`` when
    the slice gives no segment), saved in ``directory/parts/NNNNN``; the main process then writes the
    index (:func:`write_index`) under the whole set's ``fingerprint``.
    Every process returns the merged dataset, loaded lazily."""
    from art2mus.training.dataset import PairDataset
    from art2mus.training.shards import shard_paths

    out = Path(directory)
    parts = out / PARTS_DIR
    share = process_slice(len(items), accelerator.num_processes, accelerator.process_index)
    accelerator.wait_for_everyone()  # every process has looked for a cached dataset before any is removed
    if accelerator.is_main_process:
        (out / "dataset.json").unlink(missing_ok=True)  # stale until the new index is written
        clear_parts(out)
        for stale in shard_paths(out, "embeddings") + shard_paths(out, "latents"):  # a one-process build's
            stale.unlink()
    accelerator.wait_for_everyone()
    mine = parts / f"{accelerator.process_index:05d}"
    error = None
    try:
        dataset = build([items[k] for k in share], share.start) if len(share) else None
        if dataset is not None:
            dataset.save(mine)
    except ValueError as exc:  # PairsError and bad audio: reported once every process stopped
        error = exc
    failed = _gather_flags(accelerator, error is not None)
    if error is not None:
        raise error
    if any(failed):
        raise ValueError(
            f"building the dataset failed in process(es) {[k for k, f in enumerate(failed) if f]}"
        )
    if accelerator.is_main_process:
        logger.info("dataset built by %d processes: writing the index in %s", accelerator.num_processes, out)
        write_index(out, sorted(p for p in parts.iterdir() if (p / "dataset.json").is_file()), fingerprint)
    accelerator.wait_for_everyone()
    return PairDataset.load(out)


def clear_parts(directory: str | Path) -> None:
    """Remove the parts an earlier several-process build left in ``directory`` (before another build)."""
    shutil.rmtree(Path(directory) / PARTS_DIR, ignore_errors=True)


def _gather_flags(accelerator: Any, flag: bool) -> list[bool]:
    mark = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return [bool(v) for v in accelerator.gather(mark).tolist()]


def write_index(directory: Path, parts: list[Path], fingerprint: str) -> Path:
    """``directory/dataset.json`` and its segment-to-pair table over the datasets saved in ``parts`` (in
    order); their shard files stay where they are, named (relative to ``directory``) in the index. The
    info is the parts' (the same settings), per-item lists concatenated, with the whole set's
    ``fingerprint``."""
    from art2mus.common.whole_files import save_tensors
    from art2mus.training.dataset import DATASET_FILE, TENSORS_FILE, PairDataset, PairsError

    if not parts:
        raise PairsError(f"{directory}: no process built any segment")
    pair_ids: list[str] = []
    owners, shards = [], {"embeddings": [], "latents": []}
    info: dict[str, Any] = {}
    merged: dict[str, list[Any]] = {}
    for folder in parts:
        part = PairDataset.load(folder)
        info = info or part.info
        merged = merged or {key: [] for key in PER_ITEM_INFO if key in part.info}
        owners.append(part.segment_pair + len(pair_ids))
        pair_ids += part.pair_ids
        for key in merged:
            merged[key] += part.info.get(key, [])
        for name in shards:
            shards[name] += [str(p.relative_to(directory)) for p in part.shard_files(name)]
    save_tensors({"segment_pair": torch.cat(owners).contiguous()}, directory / TENSORS_FILE)
    index = {**info, **merged, "fingerprint": fingerprint, "shards": shards, "pair_ids": pair_ids}
    (directory / DATASET_FILE).write_text(json.dumps(index, indent=1) + "\n")
    return directory / DATASET_FILE
