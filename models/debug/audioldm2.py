"""A tiny random-weight AudioLDM2 built from configs in code: no hub, no download, saved in diffusers layout.

Every part of ``cvssp/audioldm2-music`` is here in miniature, so tests exercise the same loading code as
the real weights (``AudioLDM2Pipeline.from_pretrained`` and our :meth:`Art2MusPipeline.from_model_dir`):

* UNet: :class:`AudioLDM2UNet2DConditionModel` with the REAL cross-attention layout, ``[None, d_gpt2, d_t5]``
  per block (self-attention, then the GPT-2 "language of audio" stream, then the FLAN-T5 stream), so both
  conditioning streams change the output. (diffusers' own test recipe uses ``(8, 16)``, which makes the UNet
  ignore the T5 stream.)
* VAE with three blocks (scale factor 4, as the real one) over a 64-bin mel spectrogram: latents are
  ``(batch, 8, frames / 4, 16)`` like the real model.
* HiFi-GAN vocoder with the real hop of 160 samples (``upsample_rates=[5, 4, 2, 2, 2]``) at 16 kHz;
  diffusers' test vocoder has a hop of 4, which makes one second of audio take 40x more UNet work.
* GPT-2, FLAN-T5 encoder, CLAP and the projection model with small widths; tokenizers built from
  in-code vocabularies (a letter-level Unigram for T5, a byte-level BPE for CLAP's RoBERTa).

The widths are deliberately all different (GPT-2 24, T5 32, CLAP 16) so a wiring mistake fails loudly.
"""

from __future__ import annotations

import logging
import math
import string
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: width of the debug GPT-2 (the real one is 768): the aligner's output width for the debug build.
DEBUG_GPT2_DIM = 24
#: width of the debug FLAN-T5 encoder (the real one is 1024).
DEBUG_T5_DIM = 32
#: CLAP projection width of the debug build (the real one is 512).
DEBUG_CLAP_DIM = 16
#: sampling rate of every AudioLDM2 build, Hz.
SAMPLE_RATE = 16000
#: mel bins of the vocoder input (as the real model).
MEL_BINS = 64
#: the scheduler of cvssp/audioldm2-music (scheduler/scheduler_config.json).
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0015,
    "beta_end": 0.0195,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}


def _t5_vocab() -> list[tuple[str, float]]:
    """A letter-level SentencePiece-style vocabulary: every text gets distinct token ids."""
    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    for ch in string.ascii_lowercase + string.digits + ".,;:!?'-()":
        pieces.append((ch, -3.0))
        pieces.append(("\u2581" + ch, -2.5))
    for word in ("music", "piano", "calm", "ambient", "low", "quality", "noise", "sound", "art"):
        pieces.append(("\u2581" + word, -1.0))
    return pieces


def _roberta_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary over letters and digits, with one merge per ``Ġ`` + letter."""
    vocab: dict[str, int] = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "\u0120": 5}
    for ch in string.ascii_letters + string.digits + ".,!?'-":
        vocab[ch] = len(vocab)
    merges: list[tuple[str, str]] = []
    for ch in string.ascii_lowercase:
        vocab["\u0120" + ch] = len(vocab)
        merges.append(("\u0120", ch))
    return vocab, merges


def _audible_vocoder_init(vocoder: Any) -> None:
    """Re-draw the vocoder's conv weights with unit gain (std ``1/sqrt(fan_in)``).

    transformers' HiFi-GAN init (std 0.01 per layer) makes a random vocoder output ~1e-9; with unit gain the
    debug output is audible noise (std ~0.2), so loudness and playback code downstream sees real signal.
    """
    import torch
    from torch import nn

    with torch.no_grad():
        for module in vocoder.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.normal_(
                    module.weight, std=1.0 / math.sqrt(module.in_channels * module.kernel_size[0])
                )
            elif isinstance(module, nn.ConvTranspose1d):
                fan_in = module.in_channels * module.kernel_size[0] / module.stride[0]
                nn.init.normal_(module.weight, std=1.0 / math.sqrt(fan_in))


def debug_audioldm2_components(seed: int = 0) -> dict[str, Any]:
    """Build every component of a tiny AudioLDM2 (keyword arguments of ``AudioLDM2Pipeline``), in eval mode.

    The global torch RNG is left untouched: weights come from ``seed`` in a forked RNG state.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import (
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2Model,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cross_attention = [None, DEBUG_GPT2_DIM, DEBUG_T5_DIM]
        unet = AudioLDM2UNet2DConditionModel(
            sample_size=32,
            in_channels=8,
            out_channels=8,
            # the real model's block pattern: no attention at full resolution, attention below it
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(16, 32),
            layers_per_block=1,
            norm_num_groups=8,
            attention_head_dim=2,
            cross_attention_dim=[list(cross_attention), list(cross_attention)],
            flip_sin_to_cos=True,
            freq_shift=0,
        )
        vae = AutoencoderKL(
            in_channels=1,
            out_channels=1,
            down_block_types=("DownEncoderBlock2D",) * 3,
            up_block_types=("UpDecoderBlock2D",) * 3,
            block_out_channels=(8, 16, 16),
            layers_per_block=1,
            latent_channels=8,
            norm_num_groups=8,
            sample_size=128,
            scaling_factor=0.4110932946205139,  # the real AudioLDM2 VAE's learnt scale
        )
        vocoder = SpeechT5HifiGan(
            SpeechT5HifiGanConfig(
                model_in_dim=MEL_BINS,
                sampling_rate=SAMPLE_RATE,
                upsample_initial_channel=32,
                upsample_rates=[5, 4, 2, 2, 2],
                upsample_kernel_sizes=[16, 16, 8, 4, 4],
                resblock_kernel_sizes=[3],
                resblock_dilation_sizes=[[1, 3]],
                normalize_before=False,
            )
        )
        _audible_vocoder_init(vocoder)
        t5_vocab = _t5_vocab()
        text_encoder_2 = T5EncoderModel(
            T5Config(
                vocab_size=len(t5_vocab),
                d_model=DEBUG_T5_DIM,
                d_kv=8,
                d_ff=48,
                num_layers=2,
                num_heads=4,
                feed_forward_proj="gated-gelu",
                dropout_rate=0.0,
                pad_token_id=0,
                eos_token_id=1,
            )
        )
        tokenizer_2 = T5Tokenizer(vocab=t5_vocab, extra_ids=0, model_max_length=128)
        language_model = GPT2Model(
            GPT2Config(
                n_embd=DEBUG_GPT2_DIM,
                n_layer=2,
                n_head=4,
                n_positions=256,
                vocab_size=64,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
                bos_token_id=0,
                eos_token_id=0,
                max_new_tokens=8,
            )
        )
        projection_model = AudioLDM2ProjectionModel(
            text_encoder_dim=DEBUG_CLAP_DIM,
            text_encoder_1_dim=DEBUG_T5_DIM,
            langauge_model_dim=DEBUG_GPT2_DIM,
        )
        rob_vocab, rob_merges = _roberta_vocab()
        tokenizer = RobertaTokenizer(vocab=rob_vocab, merges=rob_merges, model_max_length=64)
        text_encoder = ClapModel(
            ClapConfig(
                text_config=ClapTextConfig(
                    vocab_size=len(rob_vocab),
                    hidden_size=16,
                    num_hidden_layers=1,
                    num_attention_heads=2,
                    intermediate_size=32,
                    max_position_embeddings=80,
                    projection_dim=DEBUG_CLAP_DIM,
                ).to_dict(),
                audio_config=ClapAudioConfig(
                    spec_size=64,
                    window_size=4,
                    num_mel_bins=64,
                    depths=[1, 1],
                    num_attention_heads=[2, 2],
                    num_hidden_layers=2,
                    patch_embeds_hidden_size=16,
                    hidden_size=32,
                    projection_dim=DEBUG_CLAP_DIM,
                ).to_dict(),
                projection_dim=DEBUG_CLAP_DIM,
            )
        )
        feature_extractor = ClapFeatureExtractor()
    scheduler = DDIMScheduler(**SCHEDULER_CONFIG)
    components: dict[str, Any] = {
        "vae": vae,
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "projection_model": projection_model,
        "language_model": language_model,
        "tokenizer": tokenizer,
        "tokenizer_2": tokenizer_2,
        "feature_extractor": feature_extractor,
        "unet": unet,
        "scheduler": scheduler,
        "vocoder": vocoder,
    }
    for value in components.values():
        if isinstance(value, torch.nn.Module):
            value.eval()  # built from configs they start in training mode (dropout on)
    return components


def build_debug_audioldm2(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny AudioLDM2 to ``path`` with ``AudioLDM2Pipeline.save_pretrained`` (diffusers layout, ~1 MB).

    Returns the directory; ``AudioLDM2Pipeline.from_pretrained(path)`` reloads it offline.
    """
    from diffusers import AudioLDM2Pipeline

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    pipe = AudioLDM2Pipeline(**debug_audioldm2_components(seed))
    pipe.save_pretrained(out)
    logger.info("wrote a debug AudioLDM2 to %s", out)
    return out


#: The real cvssp/audioldm2-music component configs (its unet/vae/vocoder/... config.json files), for
#: full-size random-weight builds: speed and memory do not depend on the weight values. UNet ~347 M
#: parameters, total ~1.08 B with CLAP (which Art2Mus does not run).
FULL_SIZE_CONFIGS: dict[str, dict[str, Any]] = {
    "unet": {
        "sample_size": 256,
        "in_channels": 8,
        "out_channels": 8,
        "down_block_types": [
            "DownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
        ],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "block_out_channels": [128, 256, 384, 640],
        "layers_per_block": 2,
        "cross_attention_dim": [[None, 768, 1024]] * 4,
        "attention_head_dim": 8,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "transformer_layers_per_block": 1,
        "use_linear_projection": False,
    },
    "vae": {
        "in_channels": 1,
        "out_channels": 1,
        "down_block_types": ["DownEncoderBlock2D"] * 3,
        "up_block_types": ["UpDecoderBlock2D"] * 3,
        "block_out_channels": [128, 256, 512],
        "layers_per_block": 2,
        "latent_channels": 8,
        "norm_num_groups": 32,
        "act_fn": "silu",
        "sample_size": 1024,
        "scaling_factor": 0.4110932946205139,
    },
    "vocoder": {
        "model_in_dim": MEL_BINS,
        "sampling_rate": SAMPLE_RATE,
        "upsample_initial_channel": 1024,
        "upsample_rates": [5, 4, 2, 2, 2],
        "upsample_kernel_sizes": [16, 16, 8, 4, 4],
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "leaky_relu_slope": 0.1,
        "normalize_before": False,
    },
    # GPT-2 base: the "language of audio" model
    "language_model": {
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "n_positions": 1024,
        "vocab_size": 50257,
        "max_new_tokens": 8,
    },
    # FLAN-T5 large, encoder only
    "text_encoder_2": {
        "vocab_size": 32128,
        "d_model": 1024,
        "d_kv": 64,
        "d_ff": 2816,
        "num_layers": 24,
        "num_heads": 16,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": False,
        "layer_norm_epsilon": 1e-6,
    },
    "projection_model": {"text_encoder_dim": 512, "text_encoder_1_dim": 1024, "langauge_model_dim": 768},
    # laion/clap-htsat-unfused (ClapModel defaults): only counted, Art2Mus does not run it
    "text_encoder": {"projection_dim": 512},
}


def full_size_audioldm2_components(
    device: Any = "cpu", dtype: Any = None, include_clap: bool = False, seed: int = 0
) -> dict[str, Any]:
    """Full-size AudioLDM2-music parts from :data:`FULL_SIZE_CONFIGS` with random weights, built on ``device``.

    ``device="meta"`` builds without memory (for counting parameters). Returns the keyword arguments of
    :class:`art2mus.models.pipeline.Art2MusPipeline` (minus encoder and aligner), plus ``text_encoder``
    (CLAP) when ``include_clap``. The T5 tokenizer is the in-code debug one (the real vocabulary cannot be
    downloaded here; token ids only index random embeddings).
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import (
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2Model,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    cfg = FULL_SIZE_CONFIGS
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        components: dict[str, Any] = {
            "unet": AudioLDM2UNet2DConditionModel(**cfg["unet"]),
            "vae": AutoencoderKL(**cfg["vae"]),
            "vocoder": SpeechT5HifiGan(SpeechT5HifiGanConfig(**cfg["vocoder"])),
            "language_model": GPT2Model(GPT2Config(**cfg["language_model"])),
            "text_encoder_2": T5EncoderModel(T5Config(**cfg["text_encoder_2"])),
            "projection_model": AudioLDM2ProjectionModel(**cfg["projection_model"]),
        }
        if include_clap:
            components["text_encoder"] = ClapModel(
                ClapConfig(
                    text_config=ClapTextConfig().to_dict(),
                    audio_config=ClapAudioConfig().to_dict(),
                    **cfg["text_encoder"],
                )
            )
    from art2mus.models.pipeline import cast_module

    for module in components.values():
        module.eval()
        if dtype is not None and dtype != torch.float32:
            cast_module(module, dtype)
    components["tokenizer_2"] = T5Tokenizer(vocab=_t5_vocab(), extra_ids=0, model_max_length=128)
    components["scheduler"] = DDIMScheduler(**SCHEDULER_CONFIG)
    return components
