"""The ``art2mus-v1`` profile reproduces the authors' v1 inference exactly (debug-size parts, random weights).

The reference below is v1's ``AudioLDM2Pipeline.__call__`` (``src/art2mus/art2mus_4_pipeline.py`` of
github.com/justivanr/art2mus_) written out line by line for an image-only call, on the same components.
One deviation, forced by the library versions: v1's ``generate_language_model`` calls
``GPT2Model._update_model_kwargs_for_generation``, which transformers 5 no longer has (diffusers issue
12630), so the roll-out feeds the whole sequence each step and grows the attention mask by one, as that
helper did. Everything else (tokenisation, the bare aligner tokens, CLAP + truncated T5 negative through
the projection model, the T5 stream cut to the positive's length, latents, guidance, DDIM, VAE, vocoder)
is v1's code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from art2mus.installation.cli import main

BASIC_DATASET_TEXT = "Music representing the content of this artwork"
NEG_PROMPT = "Low quality."
STEPS = 3  # v1 uses 200; the step count is a parameter of both, 3 keeps the test fast
WAVEFORMS = 3
DURATION_S = 0.32  # int(0.32 / 0.01) = 32 mel frames in v1's arithmetic, round(0.32 * 16000) / 160 in ours


class V1ImageProjectionLayer(nn.Module):
    """v1's ``ImageProjectionLayer`` (art2mus_4_pipeline.py) at debug widths."""

    def __init__(self, image_emb_dim: int, gpt_model_dim: int, second_mult: int) -> None:
        super().__init__()
        self.gpt_model_dim = gpt_model_dim
        self.second_mult = second_mult
        self.projection1 = nn.Linear(image_emb_dim, 2 * gpt_model_dim)
        self.act1 = nn.Tanh()
        self.projection2 = nn.Linear(2 * gpt_model_dim, second_mult * gpt_model_dim)

    def forward(self, hidden_states):
        hidden_states = self.projection1(hidden_states)
        hidden_states = self.act1(hidden_states)
        hidden_states = self.projection2(hidden_states)
        return hidden_states.reshape((-1, self.second_mult, self.gpt_model_dim))


def generate_language_model(language_model, inputs_embeds, max_new_tokens=8, attention_mask=None):
    """v1's roll-out; the KV cache replaced by feeding the whole sequence (see the module docstring)."""
    for _ in range(max_new_tokens):
        output = language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, return_dict=True)
        next_hidden_states = output.last_hidden_state
        inputs_embeds = torch.cat([inputs_embeds, next_hidden_states[:, -1:, :]], dim=1)
        attention_mask = torch.cat(
            [attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1
        )
    return inputs_embeds[:, -max_new_tokens:, :]


@torch.no_grad()
def v1_reference(c, img_project_model, image_embeds, num_waveforms, steps, seed):
    """v1 ``__call__`` with ``image_embeds`` only, guidance 3.5, before ImageBind scoring: ``(W, samples)``."""
    from diffusers import DDIMScheduler
    from diffusers.utils.torch_utils import randn_tensor

    device, guidance_scale = torch.device("cpu"), 3.5
    scheduler = DDIMScheduler.from_config(c["scheduler"].config)
    generator = torch.Generator("cpu").manual_seed(seed)
    vae_scale_factor = 2 ** (len(c["vae"].config.block_out_channels) - 1)
    vocoder_upsample_factor = np.prod(c["vocoder"].config.upsample_rates) / c["vocoder"].config.sampling_rate
    height = int(DURATION_S / vocoder_upsample_factor)
    original_waveform_length = int(DURATION_S * c["vocoder"].config.sampling_rate)
    if height % vae_scale_factor != 0:
        height = int(np.ceil(height / vae_scale_factor)) * vae_scale_factor
    batch_size = image_embeds.shape[0]
    music_prompt = BASIC_DATASET_TEXT

    # encode_prompt, image only
    image_embeds = image_embeds[:, None, :]
    proj_image_embeds = img_project_model(image_embeds).to(torch.float32)
    proj_img_att_mask = torch.ones((batch_size, img_project_model.second_mult)).to(torch.int64)
    generated_prompt_embeds = generate_language_model(
        c["language_model"], proj_image_embeds, attention_mask=proj_img_att_mask
    )
    input_embeds = image_embeds
    bs_embed, seq_len, hidden_size = generated_prompt_embeds.shape
    generated_prompt_embeds = generated_prompt_embeds.repeat(1, num_waveforms, 1)
    generated_prompt_embeds = generated_prompt_embeds.view(bs_embed * num_waveforms, seq_len, hidden_size)
    uncond_tokens = [NEG_PROMPT]
    negative_prompt_embeds_list, negative_attention_mask_list = [], []
    max_length = input_embeds.shape[1]
    for tokenizer, text_encoder in (
        (c["tokenizer"], c["text_encoder"]),
        (c["tokenizer_2"], c["text_encoder_2"]),
    ):
        is_clap = text_encoder.config.model_type == "clap"
        uncond_input = tokenizer(
            uncond_tokens,
            padding="max_length",
            max_length=tokenizer.model_max_length if is_clap else max_length,
            truncation=True,
            return_tensors="pt",
        )
        uncond_input_ids = uncond_input.input_ids.to(device)
        negative_attention_mask = uncond_input.attention_mask.to(device)
        if is_clap:
            negative_prompt_embeds = text_encoder.get_text_features(
                uncond_input_ids, attention_mask=negative_attention_mask
            ).pooler_output  # transformers 5: the normalised features v1 got as a tensor
            negative_prompt_embeds = negative_prompt_embeds[:, None, :]
            negative_attention_mask = negative_attention_mask.new_ones((batch_size, 1))
        else:
            negative_prompt_embeds = text_encoder(uncond_input_ids, attention_mask=negative_attention_mask)[0]
        negative_prompt_embeds_list.append(negative_prompt_embeds)
        negative_attention_mask_list.append(negative_attention_mask)
    projection_output = c["projection_model"](
        hidden_states=negative_prompt_embeds_list[0],
        hidden_states_1=negative_prompt_embeds_list[1],
        attention_mask=negative_attention_mask_list[0],
        attention_mask_1=negative_attention_mask_list[1],
    )
    negative_generated_prompt_embeds = generate_language_model(
        c["language_model"], projection_output.hidden_states, attention_mask=projection_output.attention_mask
    )
    seq_len = negative_generated_prompt_embeds.shape[1]
    negative_generated_prompt_embeds = negative_generated_prompt_embeds.repeat(1, num_waveforms, 1)
    negative_generated_prompt_embeds = negative_generated_prompt_embeds.view(
        batch_size * num_waveforms, seq_len, -1
    )
    generated_prompt_embeds = torch.cat([negative_generated_prompt_embeds, generated_prompt_embeds])

    # __call__ steps 6-7
    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps
    shape = (
        batch_size * num_waveforms,
        c["unet"].config.in_channels,
        height // vae_scale_factor,
        c["vocoder"].config.model_in_dim // vae_scale_factor,
    )
    latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
    latents = latents * scheduler.init_noise_sigma

    # __encode_music_prompt_t5__
    t5_tokenizer, t5_encoder = c["tokenizer_2"], c["text_encoder_2"]
    text_inputs = t5_tokenizer(
        music_prompt,
        padding=True,
        max_length=t5_tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    p_embeds = t5_encoder(text_inputs.input_ids, attention_mask=text_inputs.attention_mask)[0]
    att_mask = text_inputs.attention_mask
    bs_embed, seq_len, hidden_size = p_embeds.shape
    p_embeds = p_embeds.repeat(1, num_waveforms, 1).view(bs_embed * num_waveforms, seq_len, hidden_size)
    p_attention_mask = att_mask.repeat(1, num_waveforms).view(bs_embed * num_waveforms, seq_len)
    uncond_input = t5_tokenizer(
        [NEG_PROMPT], padding="max_length", max_length=p_embeds.shape[1], truncation=True, return_tensors="pt"
    )
    negative_attention_mask = uncond_input.attention_mask
    negative_prompt_embeds = t5_encoder(uncond_input.input_ids, attention_mask=negative_attention_mask)[0]
    seq_len = negative_prompt_embeds.shape[1]
    negative_prompt_embeds = negative_prompt_embeds.repeat(1, num_waveforms, 1).view(
        num_waveforms, seq_len, -1
    )
    negative_attention_mask = negative_attention_mask.repeat(1, num_waveforms).view(num_waveforms, seq_len)
    input_embeds = torch.cat([negative_prompt_embeds, p_embeds])
    attention_mask = torch.cat([negative_attention_mask, p_attention_mask])

    # 9. denoising loop (DDIM, eta 0)
    for t in timesteps:
        latent_model_input = torch.cat([latents] * 2)
        latent_model_input = scheduler.scale_model_input(latent_model_input, t)
        noise_pred = c["unet"](
            latent_model_input,
            t,
            encoder_hidden_states=generated_prompt_embeds,
            encoder_hidden_states_1=input_embeds,
            encoder_attention_mask_1=attention_mask,
            return_dict=False,
        )[0]
        noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
        noise_pred = noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond)
        latents = scheduler.step(noise_pred, t, latents, eta=0.0, generator=generator).prev_sample

    # 10. post-processing
    latents = 1 / c["vae"].config.scaling_factor * latents
    mel_spectrogram = c["vae"].decode(latents).sample
    audio = c["vocoder"](mel_spectrogram.squeeze(1)).cpu().float()
    return audio[:, :original_waveform_length]


@pytest.mark.parametrize("n_tokens", [1, 4])
def test_imported_v1_aligner_renders_v1s_exact_waveform(debug_model_dir, tmp_path, artworks, n_tokens):
    from art2mus.models.debug.audioldm2 import DEBUG_GPT2_DIM
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.models.pipeline_loading import load_audioldm2_components
    from art2mus.models.profiles import PROFILES

    encoder = load_image_encoder("imagebind", debug_model_dir / "imagebind")
    torch.manual_seed(100 + n_tokens)
    v1_layer = V1ImageProjectionLayer(encoder.spec.dim, DEBUG_GPT2_DIM, n_tokens).eval()
    checkpoint = tmp_path / f"art2mus_{n_tokens}_img_proj_layer.pt"
    torch.save(v1_layer.state_dict(), checkpoint)  # what v1's training script writes
    name = f"v1-test-{n_tokens}tok"
    result = CliRunner().invoke(
        main,
        [
            "models", "import-v1", str(checkpoint), "--name", name, "--model-dir", str(debug_model_dir),
            "--encoder", encoder.spec.name, "--lm-dim", str(DEBUG_GPT2_DIM), "--force",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "profile art2mus-v1" in result.output

    pipe = Art2MusPipeline.from_model_dir(debug_model_dir, aligner=name, encoder=encoder)
    assert pipe.profile.name == "art2mus-v1"  # chosen by the imported config.json
    image_embeds = encoder.encode_images([artworks[0]])
    v1 = PROFILES["art2mus-v1"]
    ours = pipe(
        embeddings=image_embeds,
        support_prompt=v1.support_prompt,
        negative_prompt=v1.negative_prompt,
        duration_s=DURATION_S,
        num_inference_steps=STEPS,
        guidance_scale=v1.guidance_scale,
        num_waveforms=WAVEFORMS,
        n_loa_tokens=v1.n_loa_tokens,
        seed=0,
        rerank=False,
    ).audios[0]

    components = load_audioldm2_components(debug_model_dir / "audioldm2", clap=True)
    reference = v1_reference(components, v1_layer, image_embeds, WAVEFORMS, STEPS, seed=0).numpy()
    assert ours.shape == reference.shape == (WAVEFORMS, int(DURATION_S * 16000))
    assert np.abs(reference).max() > 0
    assert float(np.abs(ours - reference).max()) == 0.0

    # today's profile on the same weights differs (delimiters, negatives, prompts): the profile matters
    pipe_music = Art2MusPipeline.from_model_dir(
        debug_model_dir, aligner=name, encoder=encoder, profile="art2mus-music"
    )
    other = pipe_music(
        embeddings=image_embeds,
        support_prompt=v1.support_prompt,
        negative_prompt=v1.negative_prompt,
        duration_s=DURATION_S,
        num_inference_steps=STEPS,
        num_waveforms=WAVEFORMS,
        seed=0,
        rerank=False,
    ).audios[0]
    assert float(np.abs(other - reference).max()) > 0.0
