"""One aligner training step: the diffusion loss through the frozen audio prior.

Only the aligner learns. For a batch of (image embedding, target music) pairs:

1. aligner: embeddings ``(B, dim)`` -> tokens ``(B, n_tokens, d_gpt2)``;
2. frozen GPT-2 rolls out the LoA ``(B, 8, d_gpt2)`` from the tokens as the pipeline's conditioning
   profile lays them out (``[sos, tokens, eos]``, or bare for ``art2mus-v1``), with gradients;
3. the target's VAE latents ``(B, 8, frames/4, 16)`` are noised at random timesteps;
4. the frozen UNet predicts the noise from the LoA (first stream) and T5 of the profile's support prompt
   (second stream);
5. MSE against the noise (or the velocity for v-prediction models), backward into the aligner only.

:mod:`art2mus.training.trainer` runs these steps over a dataset of pairs (:mod:`.dataset`).

Data-parallel (``accelerate launch``, an :class:`accelerate.Accelerator` passed in): every process is given
the whole step's batch, the same seeded generator, and runs its share of each micro-batch. Each process
draws the noise and timesteps of the *whole* micro-batch (so the generators stay in step and every
segment gets the noise one process would give it) and keeps its rows; each share's loss is weighted by
its size, so the averaged gradient is the one-process gradient of the whole batch: N processes with batch
B give the weights of one process with batch N x B (within float rounding).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from art2mus.models.pipeline import Art2MusPipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignerStepResult:
    """What one step did: the loss before the update and the timesteps drawn."""

    loss: float
    timesteps: tuple[int, ...]
    grad_norm: float


class BatchPart(NamedTuple):
    """Rows ``start:stop`` of a micro-batch of ``size`` rows: the share one process computes."""

    start: int
    stop: int
    size: int


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

    ``frames`` must be a multiple of the VAE scale factor (4). The latents are contiguous: the VAE's
    encoder can leave them channels-last (it does on CPU: a one-channel mel is both layouts at once), and
    a UNet takes other kernels (other last bits) for that layout than for the contiguous rows a saved
    dataset is read back as.
    """
    if mel.ndim != 3 or mel.shape[1] % pipeline.vae_scale_factor:
        raise ValueError(
            f"mel must have shape (batch, frames, mel_bins) with frames a multiple of {pipeline.vae_scale_factor}, "
            f"got {tuple(mel.shape)}"
        )
    posterior = pipeline.vae.encode(mel[:, None].to(pipeline.device, pipeline.dtype)).latent_dist
    latents = posterior.sample(generator) * pipeline.vae.config.scaling_factor
    return latents.contiguous()


def aligner_training_step(
    pipeline: Art2MusPipeline,
    optimizer: torch.optim.Optimizer,
    embeddings: torch.Tensor,
    latents: torch.Tensor,
    *,
    support_prompt: str | None = None,
    n_loa_tokens: int | None = None,
    generator: torch.Generator | None = None,
    max_grad_norm: float | None = 1.0,
    accumulation: int = 1,
    accelerator: Any = None,
    model: nn.Module | None = None,
    **loss_options: Any,
) -> AlignerStepResult:
    """One optimiser step of the aligner on ``embeddings`` ``(B, dim)`` paired with target ``latents``.

    Args:
        optimizer: must hold aligner parameters only (see :func:`aligner_optimizer`); anything else raises,
            because the audio prior stays frozen.
        latents: scaled VAE latents of the target music ``(B, C, frames/4, mel_bins/4)``
            (:func:`mel_to_latents`).
        n_loa_tokens: LoA tokens GPT-2 generates (default: the pipeline's profile's, the one the aligner is
            trained for and will be played with).
        generator: seeds the noise and timesteps (CPU generator).
        max_grad_norm: clip the aligner's gradient norm (``None``: no clipping).
        accumulation: gradient accumulation: the batch goes through the networks in this many
            micro-batches (memory of one micro-batch), their gradients summed, then one optimiser step.
        accelerator: an :class:`accelerate.Accelerator`: this process computes its share of each
            micro-batch (see the module docstring), gradients are averaged across processes (synchronised
            once, on the last micro-batch), mixed precision as it was configured; ``embeddings`` and
            ``latents`` are the whole step's batch on every process (``latents`` may be any object whose
            indexing by a 1-D tensor of rows reads just those rows). ``None``: one process, plain torch.
        model: the aligner as ``accelerator.prepare`` wrapped it (default: ``pipeline.aligner``).
        loss_options: passed to :func:`diffusion_loss` (``guidance_scale``, ``snr_gamma``, ``shift``...).
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
    optimizer.zero_grad(set_to_none=True)
    processes, index = (
        (1, 0) if accelerator is None else (accelerator.num_processes, accelerator.process_index)
    )
    batch = int(embeddings.shape[0])
    chunks = torch.arange(batch).tensor_split(max(1, min(int(accumulation), batch)))
    total, drawn = 0.0, []
    for number, chunk in enumerate(chunks):
        share = chunk.tensor_split(processes)[index]
        lo = int(share[0] - chunk[0]) if len(share) else 0
        # a process with no rows in this micro-batch (its tail) still runs one, weighted 0: the gradient
        # all-reduce needs every process, and the generator draws stay in step
        rows = share if len(share) else chunk[:1]
        part = BatchPart(lo, lo + len(rows), len(chunk))
        last = number == len(chunks) - 1
        with _sync_unless(accelerator, model, last), _autocast(accelerator):
            loss, timesteps = diffusion_loss(
                pipeline,
                embeddings[rows],
                latents[rows],
                support_prompt=support_prompt,
                n_loa_tokens=n_loa_tokens,
                generator=generator,
                part=part,
                model=model,
                **loss_options,
            )
        # the mean over processes (the all-reduce) of these is the whole batch's mean loss
        weight = len(share) / batch * processes
        if accelerator is None:
            (loss * weight).backward()
        else:
            accelerator.backward(loss * weight)
        total += float(loss.detach()) * len(share) / batch
        drawn += timesteps.tolist()[: len(share)]
    if processes > 1:
        total = float(
            accelerator.reduce(torch.tensor(total, dtype=torch.float64, device=accelerator.device), "sum")
        )
    params = [p for p in aligner.parameters() if p.grad is not None]
    if max_grad_norm is not None:
        clip = torch.nn.utils.clip_grad_norm_ if accelerator is None else accelerator.clip_grad_norm_
        grad_norm = float(clip(params, max_grad_norm))
    else:
        if accelerator is not None:
            accelerator.unscale_gradients()  # fp16: the norm of the true gradients
        grad_norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
    optimizer.step()
    aligner.eval()
    logger.debug("aligner step: loss %.5f, grad norm %.4f", total, grad_norm)
    return AlignerStepResult(loss=total, timesteps=tuple(int(t) for t in drawn), grad_norm=grad_norm)


def _sync_unless(accelerator: Any, model: nn.Module | None, last: bool):
    """Gradients are all-reduced once per optimiser step: on the last micro-batch only."""
    if accelerator is None or last or accelerator.num_processes == 1 or model is None:
        return contextlib.nullcontext()
    return accelerator.no_sync(model)


def _autocast(accelerator: Any):
    return contextlib.nullcontext() if accelerator is None else accelerator.autocast()


def diffusion_loss(
    pipeline: Art2MusPipeline,
    embeddings: torch.Tensor,
    latents: torch.Tensor,
    *,
    support_prompt: str | None = None,
    n_loa_tokens: int | None = None,
    generator: torch.Generator | None = None,
    guidance_scale: float = 1.0,
    negative_prompt: str | None = None,
    snr_gamma: float | None = None,
    shift: bool = True,
    part: BatchPart | None = None,
    model: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The denoising loss of the frozen prior conditioned through the aligner: ``(loss, timesteps)``.

    Gradients flow into the aligner only (everything else is frozen). For validation, call it under
    ``torch.no_grad()`` with a generator seeded the same way each time, so losses are comparable.

    Args:
        n_loa_tokens: LoA tokens GPT-2 generates (default: the pipeline's profile's, as when it plays).
        guidance_scale: above 1, the loss is taken on the classifier-free *guided* prediction
            ``uncond + g * (cond - uncond)`` (the negative branch from ``negative_prompt``), as Art2Mus v1's
            training does (its ``__train__`` with ``guidance_scale=3.5``); 1 (default): on the conditional
            prediction alone, as diffusion models are usually trained.
        snr_gamma: min-SNR loss weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
            Weighting Strategy"): each sample's loss times ``min(SNR(t), gamma) / SNR(t)`` (``/ (SNR + 1)``
            for v-prediction); v1 offers it with gamma 5. ``None``: plain MSE.
        shift: apply the aligner's modality-gap shift (``False`` when ``embeddings`` are of the modality
            the aligner is trained on, e.g. ImageBind audio embeddings for a music-only aligner).
        part: ``embeddings`` and ``latents`` are rows ``part.start:part.stop`` of a batch of ``part.size``:
            the noise and timesteps are drawn for the whole batch (as one process would) and these rows'
            kept. ``None``: they are the whole batch.
        model: the module that turns embeddings into tokens (the aligner wrapped for data-parallel
            training); default ``pipeline.aligner``.
    """
    from diffusers import DDPMScheduler
    from diffusers.training_utils import compute_snr

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
    part = part or BatchPart(0, batch, batch)
    if part.stop - part.start != batch or not 0 <= part.start < part.stop <= part.size:
        raise ValueError(f"part {tuple(part)} does not hold the {batch} rows given")
    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    tokens = (model or aligner)(embeddings.to(device), shift=shift)
    guided = guidance_scale > 1.0
    conditioning = pipeline.encode_conditioning(
        image_tokens=tokens,
        support_prompt=support_prompt,
        negative_prompt=negative_prompt,
        guidance=guided,
        n_loa_tokens=n_loa_tokens,
    )

    latents = latents.to(device=device, dtype=dtype)
    rows = slice(part.start, part.stop)
    noise = torch.randn((part.size, *latents.shape[1:]), generator=generator, dtype=torch.float32)[rows]
    noise = noise.to(device=device, dtype=dtype)
    timesteps = torch.randint(
        0, noise_scheduler.config.num_train_timesteps, (part.size,), generator=generator
    )[rows].to(device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    loa, t5, mask = conditioning.loa_embeds, conditioning.t5_embeds, conditioning.t5_mask
    if guided:  # [negatives, positives], as the sampler batches them
        loa = torch.cat([conditioning.negative_loa_embeds, loa])
        t5 = torch.cat([conditioning.negative_t5_embeds, t5])
        mask = torch.cat([conditioning.negative_t5_mask, mask])
    prediction = pipeline.unet(
        torch.cat([noisy] * 2) if guided else noisy,
        torch.cat([timesteps] * 2) if guided else timesteps,
        encoder_hidden_states=loa,
        encoder_hidden_states_1=t5,
        encoder_attention_mask_1=mask,
        return_dict=False,
    )[0]
    if guided:
        uncond, cond = prediction.chunk(2)
        prediction = uncond + guidance_scale * (cond - uncond)
    v_prediction = noise_scheduler.config.prediction_type == "v_prediction"
    target = noise_scheduler.get_velocity(latents, noise, timesteps) if v_prediction else noise
    if snr_gamma is None:
        return nn.functional.mse_loss(prediction.float(), target.float()), timesteps
    snr = compute_snr(noise_scheduler, timesteps).float()
    weights = torch.clamp(snr, max=float(snr_gamma)) / (snr + 1 if v_prediction else snr)
    per_sample = nn.functional.mse_loss(prediction.float(), target.float(), reduction="none")
    return (per_sample.mean(dim=(1, 2, 3)) * weights).mean(), timesteps
