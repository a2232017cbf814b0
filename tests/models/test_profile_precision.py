"""Half-precision pipelines keep what the ``art2mus-v1`` profile keeps in float32, as v1 did.

v1 builds its image projection layer in ``__init__`` and never casts it (its tokens are cast to float16
where they enter GPT-2), and runs ImageBind in float32 (``art2mus_4_pipeline.py``). Half precision needs
CUDA through ``from_model_dir``, so these tests build the pipeline from components cast to bfloat16 on the
CPU through the constructor.
"""

from __future__ import annotations

import pytest
import torch


def bf16_pipeline(debug_model_dir, profile):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.models.pipeline_loading import cast_module

    loaded = Art2MusPipeline.from_model_dir(debug_model_dir, encoder=None, aligner=None, profile="art2mus-v1")
    components = loaded.frozen_modules()  # no encoder: the seven AudioLDM2 modules, by name
    for module in components.values():
        cast_module(module, torch.bfloat16)
    aligner = ImageAligner("imagebind", 40, lm_dim=loaded.lm_dim, n_tokens=4)
    return Art2MusPipeline(
        **components,
        scheduler=loaded.scheduler,
        tokenizer=loaded.tokenizer,
        tokenizer_2=loaded.tokenizer_2,
        aligner=aligner,
        profile=profile,
    )


@pytest.mark.parametrize(
    ("profile", "aligner_dtype"), [("art2mus-v1", torch.float32), ("art2mus-music", torch.bfloat16)]
)
def test_aligner_dtype_follows_the_profile_in_half_precision(debug_model_dir, profile, aligner_dtype):
    from art2mus.models.aligner import ImageAligner

    pipe = bf16_pipeline(debug_model_dir, profile)
    assert pipe.dtype == torch.bfloat16
    assert {p.dtype for p in pipe.aligner.parameters()} == {aligner_dtype}
    pipe.set_aligner(ImageAligner("imagebind", 40, lm_dim=pipe.lm_dim, n_tokens=4))
    assert {p.dtype for p in pipe.aligner.parameters()} == {aligner_dtype}
    with torch.no_grad():
        conditioning = pipe.encode_conditioning(embeddings=torch.randn(2, 40), guidance=True)
    # the aligner's tokens enter GPT-2 in the pipeline's dtype
    assert conditioning.loa_embeds.dtype == torch.bfloat16
    assert conditioning.negative_loa_embeds.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("profile", "asked", "loaded"),
    [
        ("art2mus-v1", torch.float16, torch.float32),
        ("art2mus-v1", torch.bfloat16, torch.float32),
        ("art2mus-music", torch.float16, torch.float16),
        (None, torch.bfloat16, torch.bfloat16),
    ],
)
def test_generator_loads_the_encoder_in_the_profiles_precision(profile, asked, loaded):
    from art2mus.models.art2mus_generator import encoder_load_dtype

    assert encoder_load_dtype(profile, asked) == loaded
