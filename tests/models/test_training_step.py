"""One aligner training step on the debug build changes the aligner and nothing else."""

from __future__ import annotations

import math

import pytest
import torch

from art2mus.training.aligner_step import aligner_optimizer, aligner_training_step, mel_to_latents

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def test_one_step_changes_only_the_aligner(fresh_pipeline, artworks):
    pipe = fresh_pipeline
    frozen_before = {name: _snapshot(module) for name, module in pipe.frozen_modules().items()}
    aligner_before = _snapshot(pipe.aligner)

    generator = torch.Generator().manual_seed(0)
    mel = torch.randn(2, 48, 64, generator=generator)  # 0.48 s of "target music"
    latents = mel_to_latents(pipe, mel, generator)
    assert latents.shape == (2, 8, 12, 16)
    embeddings = pipe.encoder.encode_images(artworks[:2])
    optimizer = aligner_optimizer(pipe, lr=1e-3)
    result = aligner_training_step(pipe, optimizer, embeddings, latents, generator=generator)

    assert math.isfinite(result.loss) and result.loss > 0
    assert result.grad_norm > 0
    assert len(result.timesteps) == 2
    changed = [
        name
        for name, value in _snapshot(pipe.aligner).items()
        if not torch.equal(value, aligner_before[name])
    ]
    assert sorted(changed) == ["proj_in.bias", "proj_in.weight", "proj_out.bias", "proj_out.weight"]
    for name, module in pipe.frozen_modules().items():
        after = _snapshot(module)
        for key, value in frozen_before[name].items():
            assert torch.equal(after[key], value), f"{name}.{key} changed"
        assert all(p.grad is None for p in module.parameters()), name
    assert all(not p.requires_grad for m in pipe.frozen_modules().values() for p in m.parameters())


def test_steps_reduce_the_loss_on_a_fixed_batch(fresh_pipeline, artworks):
    pipe = fresh_pipeline
    mel = torch.randn(1, 16, 64, generator=torch.Generator().manual_seed(1))
    latents = mel_to_latents(pipe, mel, torch.Generator().manual_seed(1))
    embeddings = pipe.encoder.encode_images(artworks[:1])
    optimizer = aligner_optimizer(pipe, lr=3e-3)
    # the same noise and timestep every step, so the loss can only move through the aligner
    losses = [
        aligner_training_step(
            pipe, optimizer, embeddings, latents, generator=torch.Generator().manual_seed(5)
        ).loss
        for _ in range(6)
    ]
    assert losses[-1] < losses[0]


def test_optimizer_with_frozen_parameters_is_refused(fresh_pipeline, artworks):
    pipe = fresh_pipeline
    optimizer = torch.optim.SGD(
        list(pipe.aligner.parameters()) + list(pipe.unet.conv_in.parameters()), lr=0.1
    )
    latents = torch.zeros(1, 8, 4, 16)
    with pytest.raises(ValueError, match="not the aligner's"):
        aligner_training_step(pipe, optimizer, pipe.encoder.encode_images(artworks[:1]), latents)


def test_mel_frames_must_fit_the_vae(fresh_pipeline):
    with pytest.raises(ValueError, match="multiple of 4"):
        mel_to_latents(fresh_pipeline, torch.zeros(1, 10, 64))
