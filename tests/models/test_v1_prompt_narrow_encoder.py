"""The ``art2mus-v1`` profile with a prompt and an image encoder narrower or wider than T5 (the debug build).

v1 appends the raw image embedding to the T5 stream, which only fits because ImageBind and FLAN-T5 are both
1024-d. The debug build's ImageBind is 40-d and its T5 32-d: a prompted artwork there must still render (it did
before that append existed), with the T5 stream ``T5(prompt)`` alone and one warning.
"""

from __future__ import annotations

import logging

import pytest
import torch

PROMPT = "calm strings at dusk"


@pytest.fixture(scope="module")
def narrow_v1_pipeline(debug_model_dir):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline

    pipe = Art2MusPipeline.from_model_dir(
        debug_model_dir, encoder="imagebind", aligner=None, profile="art2mus-v1"
    )
    spec = pipe.encoder.spec
    assert spec.dim != int(pipe.text_encoder_2.config.d_model)  # the case under test
    torch.manual_seed(5)
    pipe.set_aligner(ImageAligner(spec.name, spec.dim, lm_dim=pipe.lm_dim, n_tokens=4, input_l2_norm=False))
    return pipe


def test_v1_prompt_with_an_encoder_not_as_wide_as_t5_renders_and_warns(narrow_v1_pipeline, artworks, caplog):
    pipe = narrow_v1_pipeline
    pipe._warned_prompt_width = False
    with caplog.at_level(logging.WARNING, logger="art2mus.models.pipeline"):
        out = pipe(artworks[0], prompt=PROMPT, duration_s=0.32, num_inference_steps=2, rerank=False)
        pipe(artworks[1], prompt=PROMPT, duration_s=0.32, num_inference_steps=2, rerank=False)
    assert out.audios[0].shape[-1] == round(0.32 * 16000)
    warnings = [r.getMessage() for r in caplog.records if "as wide as T5" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "ImageBind 1024 with FLAN-T5 1024" in warnings[0]
    assert "not v1's exact conditioning" in warnings[0]


@torch.no_grad()
def test_v1_prompt_with_a_narrow_encoder_keeps_t5_of_the_prompt_alone(narrow_v1_pipeline, artworks):
    pipe = narrow_v1_pipeline
    t5, mask = pipe.text_conditioning(PROMPT)
    cond = pipe.encode_conditioning(images=[artworks[0]], prompt=PROMPT)
    length = int(mask.shape[1])
    assert torch.equal(cond.t5_embeds[:, :length], t5.to(cond.t5_embeds.dtype))
    assert torch.equal(cond.t5_mask[:, :length], mask)
    assert int(cond.t5_mask.sum()) == int(mask.sum())  # no image token appended
