"""Art2MusPipeline on the debug build (CPU): length, determinism, image conditioning, CFG cache, checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from art2mus.models.aligner import AlignerMismatchError, ImageAligner

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAST = {"num_inference_steps": 2, "duration_s": 0.5}


def _differs(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the signal's peak."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-12))


@pytest.mark.parametrize("duration_s", [0.04, 0.5, 1.0, 1.37])
def test_output_length_matches_requested_duration(debug_pipeline, artworks, duration_s):
    out = debug_pipeline(artworks[0], duration_s=duration_s, num_inference_steps=2)
    assert out.sample_rate == 16000
    assert out.audios.shape == (1, 1, round(duration_s * 16000))
    assert out.audios.dtype == np.float32
    assert np.all(np.isfinite(out.audios)) and np.max(np.abs(out.audios)) > 0


def test_same_image_and_seed_give_identical_audio(debug_pipeline, artworks):
    a = debug_pipeline(artworks[0], seed=7, **FAST).audios
    b = debug_pipeline(artworks[0].copy(), seed=7, **FAST).audios
    assert np.array_equal(a, b)


def test_different_seeds_give_different_audio(debug_pipeline, artworks):
    a = debug_pipeline(artworks[0], seed=1, **FAST).audios
    b = debug_pipeline(artworks[0], seed=2, **FAST).audios
    assert _differs(a, b) > 1e-2


def test_different_images_give_different_audio(debug_pipeline, artworks):
    outs = [debug_pipeline(image, seed=3, **FAST).audios for image in artworks]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            # float32 round-off is ~1e-7 of the peak; the image moves the output far beyond it
            assert _differs(outs[i], outs[j]) > 1e-4, (i, j)


def test_the_image_conditions_the_output_through_the_aligner(fresh_pipeline, artworks):
    """Zeroing the aligner's output (its last layer) changes the audio; the same seed otherwise."""
    before = fresh_pipeline(artworks[0], seed=5, **FAST)
    with torch.no_grad():
        fresh_pipeline.aligner.proj_out.weight.zero_()
        fresh_pipeline.aligner.proj_out.bias.zero_()
    tokens = fresh_pipeline.aligner(before.conditioning.image_embeddings)
    assert torch.count_nonzero(tokens) == 0
    after = fresh_pipeline(artworks[0], seed=5, **FAST)
    assert not torch.equal(before.conditioning.loa_embeds, after.conditioning.loa_embeds)
    assert _differs(before.audios, after.audios) > 1e-4
    # with the aligner zeroed the image no longer matters at all
    other = fresh_pipeline(artworks[1], seed=5, **FAST)
    assert np.array_equal(after.audios, other.audios)


def test_batch_of_images_matches_one_by_one(debug_pipeline, artworks):
    both = debug_pipeline(artworks[:2], seed=4, **FAST)
    one = debug_pipeline(artworks[0], seed=4, **FAST)
    assert both.audios.shape == (2, 1, 8000)
    # the first image of the batch gets the first slice of the same noise tensor
    np.testing.assert_allclose(both.audios[0], one.audios[0], atol=1e-5 * np.abs(one.audios).max())


def test_every_parameter_outside_the_aligner_is_frozen(debug_pipeline):
    frozen = debug_pipeline.frozen_modules()
    assert {
        "unet",
        "vae",
        "vocoder",
        "language_model",
        "projection_model",
        "text_encoder_2",
        "encoder",
    } <= set(frozen)
    for name, module in frozen.items():
        params = list(module.parameters())
        assert params, name
        assert not any(p.requires_grad for p in params), name
        assert not module.training, name
    assert all(p.requires_grad for p in debug_pipeline.aligner.parameters())


def test_negative_embeddings_are_computed_once_and_cached(fresh_pipeline, artworks):
    calls = {"n": 0}
    original = fresh_pipeline.language_model.forward

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    fresh_pipeline.language_model.forward = counting
    fresh_pipeline(artworks[0], guidance_scale=3.0, negative_prompt="low quality", **FAST)
    first = calls["n"]
    assert first == 16  # 8 LoA steps for the image, 8 for the negative prompt
    fresh_pipeline(artworks[1], guidance_scale=3.0, negative_prompt="low quality", **FAST)
    assert calls["n"] - first == 8  # only the image's roll-out: the negative came from the cache
    fresh_pipeline(artworks[1], guidance_scale=3.0, negative_prompt="noise", **FAST)
    assert calls["n"] - first == 8 + 16  # a new negative prompt is rolled out once


def test_guidance_and_negative_prompt_change_the_output(debug_pipeline, artworks):
    plain = debug_pipeline(artworks[0], guidance_scale=1.0, seed=2, **FAST).audios
    guided = debug_pipeline(artworks[0], guidance_scale=4.0, seed=2, **FAST).audios
    other_negative = debug_pipeline(
        artworks[0], guidance_scale=4.0, negative_prompt="piano", seed=2, **FAST
    ).audios
    assert _differs(plain, guided) > 1e-4
    assert _differs(guided, other_negative) > 1e-4


def test_text_prompt_is_mixed_into_the_language_model_input(debug_pipeline, artworks):
    without = debug_pipeline(artworks[0], seed=2, **FAST)
    with_prompt = debug_pipeline(artworks[0], prompt="calm piano", seed=2, **FAST)
    assert _differs(without.audios, with_prompt.audios) > 1e-4
    n_tokens = debug_pipeline.aligner.n_tokens
    t5, _ = debug_pipeline.text_conditioning("calm piano")
    lm_inputs = debug_pipeline.build_lm_inputs(torch.zeros(1, n_tokens, 24), "calm piano", 1)
    assert lm_inputs.shape == (1, n_tokens + 2 + t5.shape[1] + 2, 24)  # [sos img eos] [sos_1 text eos_1]


def test_support_prompt_reaches_the_second_stream(debug_pipeline, artworks):
    a = debug_pipeline(artworks[0], support_prompt="music", guidance_scale=1.0, seed=2, **FAST)
    b = debug_pipeline(artworks[0], support_prompt="ambient sound", guidance_scale=1.0, seed=2, **FAST)
    # the LoA (first stream) is the same: only the T5 stream differs, and it changes the audio
    assert torch.equal(a.conditioning.loa_embeds, b.conditioning.loa_embeds)
    assert _differs(a.audios, b.audios) > 1e-4


def test_dpm_solver_runs_and_differs_from_ddim(debug_pipeline, artworks):
    ddim = debug_pipeline(artworks[0], scheduler="ddim", seed=1, **FAST).audios
    dpm = debug_pipeline(artworks[0], scheduler="dpmsolver++", seed=1, **FAST).audios
    assert dpm.shape == ddim.shape and np.all(np.isfinite(dpm))
    assert _differs(ddim, dpm) > 1e-4
    assert np.array_equal(dpm, debug_pipeline(artworks[0], scheduler="dpmsolver++", seed=1, **FAST).audios)


def test_progress_callback_sees_every_step(debug_pipeline, artworks):
    seen = []
    debug_pipeline(
        artworks[0], num_inference_steps=3, duration_s=0.2, progress=lambda i, n: seen.append((i, n))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_several_waveforms_are_reranked_by_image_audio_similarity(debug_pipeline, artworks):
    ranked = debug_pipeline(artworks[0], num_waveforms=3, seed=9, **FAST)
    plain = debug_pipeline(artworks[0], num_waveforms=3, seed=9, rerank=False, **FAST)
    assert ranked.audios.shape == (1, 3, 8000) and ranked.scores.shape == (1, 3)
    assert np.all(np.diff(ranked.scores[0]) <= 0)
    # the same three waveforms, reordered; the scores are ImageBind's image-audio cosines
    order = [
        int(np.argmin([np.abs(plain.audios[0, j] - w).max() for j in range(3)])) for w in ranked.audios[0]
    ]
    assert sorted(order) == [0, 1, 2]
    for k, j in enumerate(order):
        assert np.array_equal(ranked.audios[0, k], plain.audios[0, j])
    encoder = debug_pipeline.encoder
    audio = encoder.encode_audio([plain.audios[0, j] for j in range(3)], 16000).float()
    image = encoder.encode_images([artworks[0]]).float()
    expected = (audio @ image[0]).numpy()
    np.testing.assert_allclose(ranked.scores[0], expected[order], atol=1e-5)


def test_embeddings_in_give_the_same_audio_as_images_in(debug_pipeline, artworks):
    embeddings = debug_pipeline.encoder.encode_images([artworks[1]])
    a = debug_pipeline(artworks[1], seed=2, **FAST).audios
    b = debug_pipeline(embeddings=embeddings, seed=2, **FAST).audios
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"duration_s": 0.01}, r"duration_s must be between 0.04 and 120 seconds, got 0.01"),
        ({"duration_s": 500.0}, r"duration_s must be between .* got 500"),
        ({"num_inference_steps": 0}, r"num_inference_steps must be an integer from 1 to 1000, got 0"),
        ({"guidance_scale": -1.0}, r"guidance_scale must be between 0 and 50 .* got -1.0"),
        ({"num_waveforms": 17}, r"num_waveforms must be an integer from 1 to 16, got 17"),
        ({"scheduler": "euler"}, r"scheduler must be one of \('ddim', 'dpmsolver\+\+'\), got 'euler'"),
        ({"eta": 2.0}, r"eta must be between 0 and 1"),
        ({"n_loa_tokens": 0}, r"n_loa_tokens must be an integer from 1 to 64, got 0"),
        ({"prompt": 3}, r"prompt must be a string or None, got int"),
    ],
)
def test_check_inputs_names_the_bad_value_and_the_range(debug_pipeline, artworks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        debug_pipeline(artworks[0], **({"num_inference_steps": 2, "duration_s": 0.5} | kwargs))


def test_bad_images_are_named(debug_pipeline, artworks):
    with pytest.raises(
        ValueError, match=r"images\[1\] must be an RGB uint8 array .* float64 and shape \(8, 8, 3\)"
    ):
        debug_pipeline([artworks[0], np.zeros((8, 8, 3))], **FAST)
    with pytest.raises(ValueError, match=r"images\[0\] .* shape \(8, 8\)"):
        debug_pipeline([np.zeros((8, 8), np.uint8)], **FAST)
    with pytest.raises(ValueError, match="exactly one of images, embeddings or conditioning"):
        debug_pipeline(**FAST)


def test_half_precision_on_cpu_is_refused(debug_pipeline):
    with pytest.raises(ValueError, match="float16 needs a CUDA device"):
        debug_pipeline.to("cpu", torch.float16)


def test_loading_an_aligner_for_another_encoder_is_refused(debug_model_dir):
    from art2mus.models.pipeline import Art2MusPipeline

    with pytest.raises(AlignerMismatchError, match="imagebind_debug"):
        Art2MusPipeline.from_model_dir(debug_model_dir, encoder="clip", aligner="debug-imagebind-1tok")


def test_aligner_for_another_language_model_width_is_refused(debug_model_dir, tiny_encoder_class):
    from art2mus.models.pipeline import Art2MusPipeline

    wide = ImageAligner("tiny", 12, lm_dim=768, n_tokens=1)
    with pytest.raises(AlignerMismatchError, match="768-d tokens but the language model is 24-d"):
        Art2MusPipeline.from_model_dir(debug_model_dir, encoder=tiny_encoder_class(), aligner=wide)


def test_one_token_clip_variant_generates(debug_model_dir, artworks):
    from art2mus.models.pipeline import Art2MusPipeline

    pipe = Art2MusPipeline.from_model_dir(debug_model_dir, encoder="clip", aligner="debug-clip-1tok")
    out = pipe(artworks[2], **FAST)
    assert pipe.aligner.n_tokens == 1 and out.audios.shape == (1, 1, 8000)
    assert np.max(np.abs(out.audios)) > 0


def test_missing_audioldm2_folder_says_how_to_get_it(tmp_path):
    from art2mus.models.pipeline import Art2MusPipeline

    with pytest.raises(FileNotFoundError, match="art2mus models pull"):
        Art2MusPipeline.from_model_dir(tmp_path)


def test_half_precision_cast_keeps_t5_feed_forward_output_in_float32():
    """FLAN-T5 overflows in float16 unless its ``wo`` layers stay float32 (as transformers loads it)."""
    from art2mus.models.debug.audioldm2 import debug_audioldm2_components
    from art2mus.models.pipeline import cast_module

    t5 = cast_module(debug_audioldm2_components()["text_encoder_2"], torch.float16)
    dtypes = {name: p.dtype for name, p in t5.named_parameters()}
    assert {d for n, d in dtypes.items() if ".wo." in n} == {torch.float32}
    assert {d for n, d in dtypes.items() if ".wo." not in n} == {torch.float16}


def test_half_precision_dtype_plumbing(fresh_pipeline, artworks):
    """bfloat16 parts (as on a GPU) through every stage, checked on the CPU by casting directly."""
    from art2mus.models.pipeline import cast_module

    pipe = fresh_pipeline
    for name, module in pipe.frozen_modules().items():
        if name != "encoder":
            cast_module(module, torch.bfloat16)
    pipe.aligner.to(torch.bfloat16)
    out = pipe(artworks[0], num_waveforms=2, prompt="calm piano", guidance_scale=3.0, **FAST)
    assert out.conditioning.loa_embeds.dtype == torch.bfloat16
    assert out.audios.dtype == np.float32 and out.audios.shape == (1, 2, 8000)
    assert np.all(np.isfinite(out.audios)) and np.max(np.abs(out.audios)) > 0


def test_a_clip_pipeline_ranks_with_imagebind_or_says_ranking_is_off(debug_model_dir, artworks, caplog):
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.pipeline import Art2MusPipeline

    clip = Art2MusPipeline.from_model_dir(debug_model_dir, aligner="debug-clip-1tok", encoder="clip")
    assert clip.ranker is None  # CLIP cannot embed audio
    with caplog.at_level("WARNING", logger="art2mus.models.pipeline"):
        off = clip(artworks[0], num_waveforms=3, seed=9, **FAST)
    assert off.scores is None and "re-ranking of 3 candidates is off" in caplog.text

    imagebind = load_image_encoder("imagebind", debug_model_dir / "imagebind")
    clip.ranker = imagebind
    ranked = clip(artworks[0], num_waveforms=3, seed=9, **FAST)
    assert np.all(np.diff(ranked.scores[0]) <= 0)
    audio = imagebind.encode_audio(list(ranked.audios[0]), 16000).float()
    image = imagebind.encode_images([artworks[0]]).float()
    np.testing.assert_allclose(ranked.scores[0], (audio @ image[0]).numpy(), atol=1e-5)
    assert sorted(map(tuple, ranked.audios[0].tolist())) == sorted(map(tuple, off.audios[0].tolist()))
