"""The profile's ``n_loa_tokens`` is how many LoA tokens GPT-2 generates when a call names none."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch


def test_profile_n_loa_tokens_sets_the_generated_loa_length(debug_model_dir):
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.models.profiles import get_profile

    profile = dataclasses.replace(get_profile("art2mus-music"), n_loa_tokens=3)
    pipe = Art2MusPipeline.from_model_dir(
        debug_model_dir, encoder=None, aligner="debug-imagebind-4tok", profile=profile
    )
    embeddings = torch.nn.functional.normalize(torch.randn(1, 40), dim=-1)
    with torch.no_grad():
        conditioning = pipe.encode_conditioning(embeddings=embeddings)
        assert conditioning.loa_embeds.shape[1] == 3
        assert conditioning.negative_loa_embeds.shape[1] == 3
        # a call's own value still wins
        assert pipe.encode_conditioning(embeddings=embeddings, n_loa_tokens=5).loa_embeds.shape[1] == 5
    out = pipe(embeddings=embeddings, duration_s=0.32, num_inference_steps=2)
    assert out.conditioning.loa_embeds.shape[1] == 3
    assert np.isfinite(out.audios).all()
