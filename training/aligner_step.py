"""One aligner training step: the diffusion loss through the frozen audio prior.

Only the aligner learns. For a batch of (image embedding, target music) pairs:

1. aligner: embeddings ``(B, dim)`` -> tokens ``(B, n_tokens, d_gpt2)``;
2. frozen GPT-2 rolls out the LoA ``(B, 8, d_gpt2)`` from ``[sos, tokens, eos]`` (with gradients);
3. the target's VAE latents ``(B, 8, frames/4, 16)`` are noised at random timesteps;
4. the frozen UNet predicts the noise from the LoA (first stream) and T5(support prompt) (second stream);
5. MSE against the noise (or the velocity for v-prediction models), backward into the aligner only.

:mod:`art2mus.training.trainer` runs these steps over a dataset of pairs (:mod:`.dataset`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from art2mus.models.pipeline import DEFAULT_LOA_TOKENS, DEFAULT_SUPPORT_PROMPT, Art2MusPipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignerStepResult:
    """What one step did: the loss before the update and the timesteps drawn."""

    loss: float
    timesteps: tuple[int, ...]
    grad_norm: float


def aligner_optimizer(
    pipeline: Art2MusPipeline, lr: float = 1e-4, weight_decay: float = 1e-2
) -> torch.optim.Optimizer:
    """AdamW over the aligner's parameters only."""
    if pipeline.aligner is None:
        raise ValueError("the pipeline has no aligner to train")
    return torch.optim.AdamW(pipeline.aligner.parameters(), lr=lr, weight_decay=weight_decay)


@torch.no_grad()
def mel_to_latents(
    pipeline: Art2MusPipeline, mel: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Log-mel spectrograms ``(B, frames, 64)`` -> scaled VAE latents ``(B, 8, frames/4, 16)``.

    ``frames`` must be a multiple of the VAE scale factor (4).
    """
    if mel.ndim != 3 or mel.shape[1] % pipeline.vae_scale_factor:
        raise ValueError(
            f"mel must have shape (batch, frames, mel_bins) with frames a multiple of {pipeline.vae_scale_factor}, "
            f"got {tuple(mel.shape)}"
        )
    posterior = pipeline.vae.encode(mel[:, None].to(pipeline.device, pipeline.dtype)).latent_dist
    return posterior.sample(generator) * pipeline.vae.config.scaling_factor


def aligner_training_step(
    pipeline: Art2MusPipeline,
    optimizer: torch.optim.Optimizer,
    embeddings: torch.Tensor,
    latents: torch.Tensor,
    *,
    support_prompt: str = DEFAULT_SUPPORT_PROMPT,
    n_loa_tokens: int = DEFAULT_LOA_TOKENS,
    generator: torch.Generator | None = None,
    max_grad_norm: float | None = 1.0,
) -> AlignerStepResult:
    """One optimiser step of the aligner on ``embeddings`` ``(B, dim)`` paired with target ``latents``.

    Args:
        optimizer: must hold aligner parameters only (see :func:`aligner_optimizer`); anything else raises,
            because the audio prior stays frozen.
        latents: scaled VAE latents of the target music ``(B, C, frames/4, mel_bins/4)``
            (:func:`mel_to_latents`).
        generator: seeds the noise and timesteps (CPU generator).
        max_grad_norm: clip the aligner's gradient norm (``None``: no clipping).
    """
    aligner = pipeline.aligner
    if aligner is None:
        raise ValueError("the pipeline has no aligner to train")
    trainable = {id(p) for p in aligner.parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in trainable:
                raise ValueError(
                    f"optimizer holds a parameter of shape {tuple(p.shape)} that is not the aligner's"
                )
    aligner.train()
    loss, timesteps = diffusion_loss(
        pipeline,
        embeddings,
        latents,
        support_prompt=support_prompt,
        n_loa_tokens=n_loa_tokens,
        generator=generator,
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for p in aligner.parameters() if p.grad is not None]
    if max_grad_norm is not None:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
    else:
        grad_norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
    optimizer.step()
    aligner.eval()
    logger.debug("aligner step: loss %.5f, grad norm %.4f", loss.item(), grad_norm)
    return AlignerStepResult(
        loss=float(loss.item()), timesteps=tuple(int(t) for t in timesteps.tolist()), grad_norm=grad_norm
    )


def diffusion_loss(
    pipeline: Art2MusPipeline,
    embeddings: torch.Tensor,
    latents: torch.Tensor,
    *,
    support_prompt: str = DEFAULT_SUPPORT_PROMPT,
    n_loa_tokens: int = DEFAULT_LOA_TOKENS,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The denoising loss of the frozen prior conditioned through the aligner: ``(loss, timesteps)``.

    Gradients flow into the aligner only (everything else is frozen). For validation, call it under
    ``torch.no_grad()`` with a generator seeded the same way each time, so losses are comparable.
    """
    from diffusers import DDPMScheduler

    aligner = pipeline.aligner
    if aligner is None:
        raise ValueError("the pipeline has no aligner to train")
    if embeddings.ndim != 2 or latents.ndim != 4 or embeddings.shape[0] != latents.shape[0]:
        raise ValueError(
            f"embeddings (batch, dim) and latents (batch, C, H, W) must share the batch size; got "
            f"{tuple(embeddings.shape)} and {tuple(latents.shape)}"
        )
    device, dtype = pipeline.device, pipeline.dtype
    batch = int(embeddings.shape[0])
    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    tokens = aligner(embeddings.to(device))
    loa = pipeline.generate_loa(pipeline.build_lm_inputs(tokens, None, batch), n_loa_tokens).to(dtype)
    t5, mask = pipeline.text_conditioning(support_prompt)

    latents = latents.to(device=device, dtype=dtype)
    noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(
        device=device, dtype=dtype
    )
    timesteps = torch.randint(
        0, noise_scheduler.config.num_train_timesteps, (batch,), generator=generator
    ).to(device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    prediction = pipeline.unet(
        noisy,
        timesteps,
        encoder_hidden_states=loa,
        encoder_hidden_states_1=t5.expand(batch, -1, -1),
        encoder_attention_mask_1=mask.expand(batch, -1),
        return_dict=False,
    )[0]
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    return nn.functional.mse_loss(prediction.float(), target.float()), timesteps
