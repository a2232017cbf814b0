"""Training conditions through as many LoA tokens as playing does: the profile's ``n_loa_tokens``."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from art2mus.training.aligner_step import aligner_optimizer, aligner_training_step


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


@pytest.mark.parametrize("n_loa_tokens", [3, 8])
def test_the_training_step_generates_the_profiles_loa_tokens(models, n_loa_tokens):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.models.profiles import get_profile

    profile = dataclasses.replace(get_profile("art2mus-music"), n_loa_tokens=n_loa_tokens)
    pipe = Art2MusPipeline.from_model_dir(models, encoder="imagebind", profile=profile)
    torch.manual_seed(0)
    pipe.set_aligner(
        ImageAligner(pipe.encoder.spec.name, pipe.encoder.spec.dim, lm_dim=pipe.lm_dim, n_tokens=2)
    )
    seen = []
    encode = pipe.encode_conditioning

    def recording(*args, **kwargs):
        conditioning = encode(*args, **kwargs)
        seen.append(int(conditioning.loa_embeds.shape[1]))
        return conditioning

    pipe.encode_conditioning = recording
    g = torch.Generator().manual_seed(3)
    emb = torch.nn.functional.normalize(torch.randn(2, pipe.encoder.spec.dim, generator=g), dim=-1)
    latents = torch.randn(2, 8, 4, 16, generator=g)
    aligner_training_step(
        pipe, aligner_optimizer(pipe), emb, latents, generator=torch.Generator().manual_seed(1)
    )
    assert seen == [n_loa_tokens]
    with torch.no_grad():  # what playing the same aligner generates
        assert encode(embeddings=emb[:1]).loa_embeds.shape[1] == n_loa_tokens
