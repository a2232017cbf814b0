"""Our pipeline against diffusers' own AudioLDM2Pipeline on the same debug components and embeddings.

Given the same LoA / T5 embeddings (and negatives) and the same seed, both must produce the same waveform
bit for bit: our denoising loop, VAE decode and vocoder are AudioLDM2's. Our hand-written GPT-2 roll-out
is checked against diffusers' ``generate_language_model`` run on a ``GPT2LMHeadModel`` with the same weights
(the model class that works with it on transformers 5).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def diffusers_pipeline(debug_model_dir):
    from diffusers import AudioLDM2Pipeline

    pipe = AudioLDM2Pipeline.from_pretrained(debug_model_dir / "audioldm2-music", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _diffusers_audio(pipe, conditioning, guidance_scale, **kwargs):
    negatives = {}
    if guidance_scale > 1:
        negatives = {
            "negative_prompt_embeds": conditioning.negative_t5_embeds,
            "negative_attention_mask": conditioning.negative_t5_mask,
            "negative_generated_prompt_embeds": conditioning.negative_loa_embeds,
        }
    return pipe(
        prompt_embeds=conditioning.t5_embeds,
        attention_mask=conditioning.t5_mask,
        generated_prompt_embeds=conditioning.loa_embeds,
        guidance_scale=guidance_scale,
        **negatives,
        **kwargs,
    ).audios


@pytest.mark.parametrize(
    "guidance_scale, num_waveforms, scheduler",
    [(3.5, 1, "ddim"), (1.0, 1, "ddim"), (2.5, 2, "ddim"), (3.5, 1, "dpmsolver++")],
)
def test_identical_waveform_from_the_same_embeddings(
    debug_pipeline, diffusers_pipeline, artworks, guidance_scale, num_waveforms, scheduler
):
    conditioning = debug_pipeline.encode_conditioning(
        images=artworks[:2], guidance=guidance_scale > 1, prompt=None
    )
    ours = debug_pipeline(
        conditioning=conditioning,
        duration_s=1.0,
        num_inference_steps=3,
        guidance_scale=guidance_scale,
        num_waveforms=num_waveforms,
        scheduler=scheduler,
        seed=11,
        rerank=False,
    ).audios
    if scheduler != "ddim":
        from diffusers import DPMSolverMultistepScheduler

        original = diffusers_pipeline.scheduler
        diffusers_pipeline.scheduler = DPMSolverMultistepScheduler.from_config(
            original.config, algorithm_type="dpmsolver++", solver_order=2
        )
    try:
        theirs = _diffusers_audio(
            diffusers_pipeline,
            conditioning,
            guidance_scale,
            audio_length_in_s=1.0,
            num_inference_steps=3,
            num_waveforms_per_prompt=num_waveforms,
            generator=torch.Generator("cpu").manual_seed(11),
        )
    finally:
        if scheduler != "ddim":
            diffusers_pipeline.scheduler = original
    assert ours.shape == (2, num_waveforms, 16000)
    assert theirs.shape == (2 * num_waveforms, 16000)
    assert np.max(np.abs(theirs)) > 0
    assert np.array_equal(ours.reshape(2 * num_waveforms, -1), theirs)


def test_loa_rollout_matches_diffusers_generate_language_model(debug_pipeline, diffusers_pipeline):
    """Our 8-step roll-out (no KV cache) equals diffusers' (KV cache) on a GPT2LMHeadModel twin."""
    from transformers import GPT2LMHeadModel

    lm = debug_pipeline.language_model
    twin = GPT2LMHeadModel(lm.config).eval()
    twin.transformer.load_state_dict(lm.state_dict())
    original = diffusers_pipeline.language_model
    diffusers_pipeline.language_model = twin
    try:
        inputs = torch.randn(2, 6, lm.config.hidden_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            theirs = diffusers_pipeline.generate_language_model(
                inputs, max_new_tokens=8, attention_mask=torch.ones(2, 6, dtype=torch.long)
            )
            ours = debug_pipeline.generate_loa(inputs, 8)
    finally:
        diffusers_pipeline.language_model = original
    assert ours.shape == theirs.shape == (2, 8, lm.config.hidden_size)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
