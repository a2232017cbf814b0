"""A resumed run reaches the very weights of the run that was not interrupted, bit for bit.

A user's ``art2mus train --resume`` ended up to 4e-8 away from the uninterrupted run: the fresh run trained
on the dataset it had just built, whose latents lay channels-last in memory (as the VAE left them), and the
resumed run on the same dataset read back from its shards, contiguous; the UNet's convolutions round the
two layouts differently. The trainer now reads every batch into one layout, and the latents are built
contiguous.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from art2mus.training.dataset import PairDataset, build_dataset, read_pairs
from art2mus.training.trainer import TrainingConfig, train_aligner


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.debug import build_debug_model_dir
    from art2mus.models.pipeline import Art2MusPipeline

    models = build_debug_model_dir(tmp_path_factory.mktemp("models") / "models")
    pipe = Art2MusPipeline.from_model_dir(models, encoder="imagebind")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        aligner = ImageAligner(
            pipe.encoder.spec.name,
            pipe.encoder.spec.dim,
            lm_dim=int(pipe.language_model.config.hidden_size),
            n_tokens=4,
        )
    pipe.set_aligner(aligner)
    return pipe


class _Interrupted(Exception):
    pass


def _stop_after_first_epoch(record, epochs, eta):
    if record.epoch == 1:
        raise _Interrupted


def test_a_resumed_run_on_the_saved_dataset_ends_bitwise_equal_to_the_uninterrupted_run(
    pipeline, manifest, tmp_path
):
    built = build_dataset(read_pairs(manifest), pipeline, segment_s=1.0)
    saved = PairDataset.load(built.save(tmp_path / "dataset"))
    # the layout the VAE left the latents in before: the trainer must not depend on it either
    channels_last = replace(built, latents=built.latents.contiguous(memory_format=torch.channels_last))
    # 12 segments, 3 of them held out: 5 optimiser steps an epoch
    config = TrainingConfig(epochs=3, batch_size=2, lr=3e-3, val_fraction=0.25, warmup_steps=2, seed=3)
    start = {k: v.clone() for k, v in pipeline.aligner.state_dict().items()}

    straight = train_aligner(pipeline, channels_last, tmp_path / "straight", config)
    assert [r.steps for r in straight.history] == [5, 5, 5]
    expected = {k: v.clone() for k, v in pipeline.aligner.state_dict().items()}
    assert any(not torch.equal(expected[k], start[k]) for k in start)

    pipeline.aligner.load_state_dict(start)
    with pytest.raises(_Interrupted):
        train_aligner(pipeline, channels_last, tmp_path / "resumed", config, on_epoch=_stop_after_first_epoch)
    pipeline.aligner.load_state_dict(start)  # a new process starts from other weights: the checkpoint's win
    resumed = train_aligner(pipeline, saved, tmp_path / "resumed", config, resume=True)

    after = pipeline.aligner.state_dict()
    assert all(torch.equal(after[k], expected[k]) for k in expected), {
        k: float((after[k] - expected[k]).abs().max())
        for k in expected
        if not torch.equal(after[k], expected[k])
    }
    assert [(r.train_loss, r.val_loss) for r in resumed.history] == [
        (r.train_loss, r.val_loss) for r in straight.history
    ]
    for folder in ("last", "best"):
        weights = Path(folder) / "model.safetensors"
        assert (tmp_path / "resumed" / weights).read_bytes() == (tmp_path / "straight" / weights).read_bytes()
    assert built.latents.is_contiguous()  # built in the layout its shards are read back in
