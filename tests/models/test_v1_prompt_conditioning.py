"""The ``art2mus-v1`` profile with a curator prompt reproduces v1's ``encode_prompt`` (debug parts, random weights).

The reference below is ``encode_prompt`` of v1 (``src/art2mus/art2mus_4_pipeline.py`` of
github.com/justivanr/art2mus_) for ``prompt`` and ``image_embeds`` together, written out on the same
components: GPT-2 reads ``projection_model(CLAP(prompt), T5(prompt))`` then the image tokens; the T5 stream
is ``cat([T5(prompt), image_embeds])``; the negative's T5, for GPT-2 and the stream, is tokenised to that
stream's length. The roll-out feeds the whole sequence each step (see ``test_v1_profile.py``).
"""

from __future__ import annotations

import pytest
import torch

PROMPT = "calm piano at dusk"
NEG_PROMPT = "Low quality."


def generate_language_model(language_model, inputs_embeds, max_new_tokens, attention_mask):
    for _ in range(max_new_tokens):
        output = language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, return_dict=True)
        inputs_embeds = torch.cat([inputs_embeds, output.last_hidden_state[:, -1:, :]], dim=1)
        attention_mask = torch.cat(
            [attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1
        )
    return inputs_embeds[:, -max_new_tokens:, :]


def v1_text_encoders(pipe, text, t5_padding, t5_max_length):
    """v1's loop over (CLAP, T5) in ``encode_prompt``: ``(projection output, T5 embeds, T5 mask)``."""
    embeds, masks = [], []
    for tokenizer, text_encoder in zip(
        [pipe.tokenizer, pipe.tokenizer_2], [pipe.text_encoder, pipe.text_encoder_2], strict=True
    ):
        clap = tokenizer is pipe.tokenizer
        inputs = tokenizer(
            [text],
            padding="max_length" if clap else t5_padding,
            max_length=tokenizer.model_max_length if clap else t5_max_length,
            truncation=True,
            return_tensors="pt",
        )
        attention_mask = inputs.attention_mask
        if clap:
            prompt_embeds = text_encoder.get_text_features(inputs.input_ids, attention_mask=attention_mask)
            prompt_embeds = getattr(prompt_embeds, "pooler_output", prompt_embeds)[:, None, :]
            attention_mask = attention_mask.new_ones((1, 1))
        else:
            prompt_embeds = text_encoder(inputs.input_ids, attention_mask=attention_mask)[0]
        embeds.append(prompt_embeds)
        masks.append(attention_mask)
    projection_output = pipe.projection_model(
        hidden_states=embeds[0], hidden_states_1=embeds[1], attention_mask=masks[0], attention_mask_1=masks[1]
    )
    return projection_output, prompt_embeds, attention_mask


@torch.no_grad()
def v1_encode_prompt(pipe, img_project_model, image_embeds, prompt, negative_prompt):
    """v1 ``encode_prompt`` (image + prompt, guidance on): ``(input_embeds, attention_mask, generated)``,
    negatives first in each."""
    max_new_tokens = pipe.language_model.config.max_new_tokens
    projection_output, prompt_embeds, prompt_attention_mask = v1_text_encoders(
        pipe, prompt, True, pipe.tokenizer_2.model_max_length
    )
    image_embeds = image_embeds[:, None, :]
    proj_image_embeds = img_project_model(image_embeds[:, 0])
    projected_embeds = torch.cat([projection_output.hidden_states, proj_image_embeds], dim=1)
    projected_mask = torch.cat(
        [projection_output.attention_mask, torch.ones((1, proj_image_embeds.shape[1]), dtype=torch.long)],
        dim=1,
    )
    generated = generate_language_model(pipe.language_model, projected_embeds, max_new_tokens, projected_mask)
    input_embeds = torch.cat([prompt_embeds, image_embeds], dim=1)
    attention_mask = torch.cat([prompt_attention_mask, torch.ones((1, 1), dtype=torch.long)], dim=1)

    # negatives: T5 tokenised to input_embeds.shape[1] (v1: ``max_length = input_embeds.shape[1]``)
    projection_output, negative_prompt_embeds, negative_attention_mask = v1_text_encoders(
        pipe, negative_prompt, "max_length", input_embeds.shape[1]
    )
    negative_generated = generate_language_model(
        pipe.language_model, projection_output.hidden_states, max_new_tokens, projection_output.attention_mask
    )
    return (
        torch.cat([negative_prompt_embeds, input_embeds]),
        torch.cat([negative_attention_mask, attention_mask]),
        torch.cat([negative_generated, generated]),
    )


@pytest.fixture(scope="module")
def v1_prompt_pipeline(debug_model_dir):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline

    pipe = Art2MusPipeline.from_model_dir(debug_model_dir, encoder=None, aligner=None, profile="art2mus-v1")
    torch.manual_seed(3)
    # v1's image embedding joins the T5 stream, so it is as wide as T5 (ImageBind 1024 = FLAN-T5 1024)
    width = int(pipe.text_encoder_2.config.d_model)
    pipe.set_aligner(ImageAligner("imagebind", width, lm_dim=pipe.lm_dim, n_tokens=4, input_l2_norm=False))
    return pipe


@torch.no_grad()
def test_v1_profile_prompt_conditioning_matches_v1_encode_prompt(v1_prompt_pipeline):
    pipe = v1_prompt_pipeline
    torch.manual_seed(7)
    emb = torch.nn.functional.normalize(torch.randn(1, pipe.text_encoder_2.config.d_model), dim=-1)
    ours = pipe.encode_conditioning(embeddings=emb, prompt=PROMPT, negative_prompt=NEG_PROMPT)
    input_embeds, attention_mask, generated = v1_encode_prompt(pipe, pipe.aligner, emb, PROMPT, NEG_PROMPT)

    assert ours.t5_embeds.shape == input_embeds[1:].shape
    assert ours.negative_t5_embeds.shape == input_embeds[:1].shape
    assert (ours.loa_embeds - generated[1:]).abs().max() < 1e-5
    assert (ours.negative_loa_embeds - generated[:1]).abs().max() < 1e-5
    assert (ours.t5_embeds - input_embeds[1:]).abs().max() < 1e-5
    assert (ours.negative_t5_embeds - input_embeds[:1]).abs().max() < 1e-5
    assert torch.equal(ours.t5_mask, attention_mask[1:])
    assert torch.equal(ours.negative_t5_mask, attention_mask[:1])


def test_v1_profile_prompt_needs_t5_wide_embeddings(v1_prompt_pipeline):
    pipe = v1_prompt_pipeline
    tokens = torch.zeros(1, 4, pipe.lm_dim)
    with pytest.raises(ValueError, match="pass images or embeddings, not image_tokens"):
        pipe.encode_conditioning(image_tokens=tokens, prompt=PROMPT)
