"""The Art2Mus pipeline: image -> aligner tokens -> GPT-2 "language of audio" -> AudioLDM2 latent diffusion.

Data flow for a batch of ``B`` images, ``W`` waveforms per image (shapes for the real model; the debug
build has the same structure with smaller widths):

1. encoder: images -> L2-normalised embeddings ``(B, dim)`` (ImageBind 1024, CLIP 768).
2. aligner: embeddings -> tokens ``(B, n_tokens, 768)`` in GPT-2's input space.
3. GPT-2 input: ``[sos, tokens, eos]`` (the projection model's learnt delimiters of AudioLDM2's CLAP slot,
   which the image tokens replace), followed by ``[sos_1, proj_1(T5(prompt)), eos_1]`` when a text prompt
   is mixed in.
4. GPT-2 rolls out the profile's ``n_loa_tokens`` (8) "language of audio" (LoA) hidden states ``(B, 8, 768)``:
   first UNet stream.
5. FLAN-T5 encodes the support prompt (or the text prompt) ``(B, L, 1024)``: second UNet stream.
6. Classifier-free guidance: negative LoA (GPT-2 over ``[sos, eos, sos_1, proj_1(T5(negative)), eos_1]``) and
   negative T5 embeddings are computed once per negative prompt and cached.
7. Denoising loop over latents ``(B*W, 8, frames/4, 16)``, then VAE -> mel ``(B*W, frames, 64)`` ->
   HiFi-GAN -> 16 kHz waveform ``(B*W, samples)``.
8. With ``W > 1`` and an encoder that can embed audio (ImageBind), waveforms are re-ranked by image-audio
   cosine similarity.

The loop is written out step by step like diffusers' ``AudioLDM2Pipeline.__call__`` (and gives the same
waveform from the same embeddings and seed); the GPT-2 roll-out is our own, because diffusers'
``generate_language_model`` breaks with ``GPT2Model`` on transformers 5 (diffusers issue 12630). Ours feeds
the whole sequence each step with ``use_cache=False``: 8 short passes, and no dependence on the
``past_key_values`` API that transformers is renaming.

Beside it: :mod:`.conditioning` (the conditioning streams and the ``art2mus-v1`` profile's encodings),
:mod:`.pipeline_checks` (input and setting checks) and :mod:`.pipeline_loading` (loading from a model
directory).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from art2mus.models.aligner import AlignerMismatchError, ImageAligner, VisualConditioningExtractor
from art2mus.models.conditioning import (
    DEFAULT_LOA_TOKENS,
    DEFAULT_NEGATIVE_PROMPT,
    DEFAULT_SUPPORT_PROMPT,
    Art2MusConditioning,
    clap_t5_negative_loa,
    clap_t5_projection,
    pad_tokens,
    t5_to_length,
)
from art2mus.models.encoders.base import ImageEncoder
from art2mus.models.pipeline_checks import (
    MAX_GUIDANCE,
    MAX_LOA_TOKENS,
    MAX_STEPS,
    MAX_WAVEFORMS,
    SCHEDULERS,
    PipelineChecks,
)
from art2mus.models.pipeline_loading import cast_module
from art2mus.models.profiles import ConditioningProfile, get_profile

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir

logger = logging.getLogger(__name__)

# what ``from art2mus.models.pipeline import ...`` has always offered (now defined beside their users)
__all__ = [
    "DEFAULT_LOA_TOKENS",
    "DEFAULT_NEGATIVE_PROMPT",
    "DEFAULT_SUPPORT_PROMPT",
    "MAX_GUIDANCE",
    "MAX_LOA_TOKENS",
    "MAX_STEPS",
    "MAX_WAVEFORMS",
    "SCHEDULERS",
    "Art2MusConditioning",
    "Art2MusOutput",
    "Art2MusPipeline",
    "cast_module",
]

ProgressCallback = Callable[[int, int], None]


@dataclass
class Art2MusOutput:
    """Generated audio.

    Attributes:
        audios: float32 waveforms ``(B, W, samples)`` at :attr:`sample_rate`; with re-ranking, index 0 of each
            row is the waveform closest to its image.
        sample_rate: Hz (16000 for AudioLDM2).
        scores: image-audio cosine similarities ``(B, W)`` in the order of ``audios``, or ``None``.
        conditioning: the embeddings used (for caching, analysis and comparison with diffusers).
    """

    audios: np.ndarray
    sample_rate: int
    scores: np.ndarray | None
    conditioning: Art2MusConditioning


class Art2MusPipeline(PipelineChecks):
    """Image-conditioned AudioLDM2: one ``__call__`` from RGB images to 16 kHz waveforms.

    Components arrive through the constructor (:meth:`from_model_dir` loads them from a local model
    directory). Every module except the aligner is frozen (``requires_grad=False``) and in eval mode.

    Args:
        unet: ``AudioLDM2UNet2DConditionModel`` with cross-attention layout ``[None, d_gpt2, d_t5]``.
        vae: ``AutoencoderKL`` over log-mel spectrograms.
        vocoder: ``SpeechT5HifiGan`` (mel ``(B, frames, 64)`` -> waveform).
        scheduler: the model's scheduler; :data:`SCHEDULERS` are built from its config.
        language_model: ``GPT2Model`` (width ``d_gpt2``).
        projection_model: ``AudioLDM2ProjectionModel`` (its T5 projection and learnt SOS/EOS tokens).
        text_encoder_2: FLAN-T5 ``T5EncoderModel``; ``tokenizer_2`` its tokenizer.
        encoder: image encoder, or ``None`` when only embeddings / conditioning are passed in.
        aligner: :class:`ImageAligner` for ``encoder``'s embedding space and GPT-2's width (or ``None``).
        max_duration_s: longest clip :meth:`check_inputs` accepts, seconds.
        profile: the :class:`~art2mus.models.profiles.ConditioningProfile` (or its name) that turns tokens
            and prompts into the two conditioning streams; default ``art2mus-music``.
        text_encoder, tokenizer: AudioLDM2's CLAP model and its RoBERTa tokenizer, needed only by profiles
            whose negative GPT-2 input includes CLAP (``art2mus-v1``).
        ranker: the encoder that re-ranks candidates by image-audio similarity (it must embed images and
            audio in one space: ImageBind); default ``encoder`` when it can embed audio. With a CLIP encoder
            pass ImageBind here, or re-ranking is off (logged once).
    """

    def __init__(
        self,
        *,
        unet: nn.Module,
        vae: nn.Module,
        vocoder: nn.Module,
        scheduler: Any,
        language_model: nn.Module,
        projection_model: nn.Module,
        text_encoder_2: nn.Module,
        tokenizer_2: Any,
        encoder: ImageEncoder | None = None,
        aligner: ImageAligner | None = None,
        max_duration_s: float = 120.0,
        profile: ConditioningProfile | str | None = None,
        text_encoder: nn.Module | None = None,
        tokenizer: Any = None,
        ranker: ImageEncoder | None = None,
    ) -> None:
        self.profile = get_profile(profile)
        if ranker is None and hasattr(encoder, "encode_audio"):
            ranker = encoder
        self.ranker = ranker
        self._warned_no_ranker = False
        self._warned_prompt_rerank = False
        self._warned_prompt_width = False
        if self.profile.negative_lm_clap and (text_encoder is None or tokenizer is None):
            raise ValueError(
                f"conditioning profile {self.profile.name!r} needs AudioLDM2's CLAP text encoder and its "
                "tokenizer (text_encoder, tokenizer)"
            )
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.unet = unet
        self.vae = vae
        self.vocoder = vocoder
        self.scheduler = scheduler
        self.language_model = language_model
        self.projection_model = projection_model
        self.text_encoder_2 = text_encoder_2
        self.tokenizer_2 = tokenizer_2
        self.encoder = encoder
        self.aligner = aligner
        self.max_duration_s = float(max_duration_s)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self._schedulers: dict[str, Any] = {}
        # negative prompt -> (loa (1, n, d), t5 (1, L, d), mask (1, L)); support prompt -> (t5, mask)
        self._negative_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._text_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._extractor: VisualConditioningExtractor | None = None
        #: images take their tokens from the encoder's ONNX graph (which carries ``aligner``'s weights: the
        #: generator checks their sha256) instead of ``aligner``; :meth:`set_aligner` turns it off
        self.graph_tokens = False
        self._check_components()
        if aligner is not None:
            aligner.to(device=self.device, dtype=self.aligner_dtype)
        if encoder is not None and aligner is not None:
            self._extractor = VisualConditioningExtractor(encoder, aligner)
        for module in self.frozen_modules().values():
            module.requires_grad_(False)
            module.eval()

    # --- properties ---------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def aligner_dtype(self) -> torch.dtype:
        """The aligner's dtype: float32 when the profile keeps it there (v1 never cast its projection layer),
        else the pipeline's; its tokens are cast to GPT-2's dtype where they enter GPT-2."""
        return torch.float32 if self.profile.aligner_float32 else self.dtype

    @property
    def sample_rate(self) -> int:
        """Output sampling rate, Hz."""
        return int(self.vocoder.config.sampling_rate)

    @property
    def hop_length(self) -> int:
        """Waveform samples per mel frame (160 for AudioLDM2: 100 frames per second)."""
        return int(np.prod(self.vocoder.config.upsample_rates))

    @property
    def lm_dim(self) -> int:
        """GPT-2's width (the aligner's token width)."""
        return int(self.language_model.config.hidden_size)

    @property
    def min_duration_s(self) -> float:
        """Shortest clip: one latent frame, seconds."""
        return self.vae_scale_factor * self.hop_length / self.sample_rate

    @property
    def extractor(self) -> VisualConditioningExtractor | None:
        """Encoder + aligner, when both are loaded."""
        return self._extractor

    def set_aligner(self, aligner: ImageAligner) -> None:
        """Condition through ``aligner`` from now on (a fresh one to train, or another checkpoint).

        Raises:
            ValueError: the aligner expects another encoder's embeddings or another GPT-2 width.
        """
        if self.encoder is not None and aligner.encoder_spec != self.encoder.spec:
            raise ValueError(
                f"the aligner is for {aligner.encoder_spec}, the pipeline's encoder is {self.encoder.spec}"
            )
        lm_dim = int(self.language_model.config.hidden_size)
        if aligner.lm_dim != lm_dim:
            raise ValueError(f"the aligner produces {aligner.lm_dim}-d tokens, GPT-2 here takes {lm_dim}-d")
        aligner.to(device=self.device, dtype=self.aligner_dtype)
        self.aligner = aligner
        self.graph_tokens = False  # the graph carries the aligner it was exported with, not this one
        self._extractor = (
            VisualConditioningExtractor(self.encoder, aligner) if self.encoder is not None else None
        )

    def frozen_modules(self) -> dict[str, nn.Module]:
        """Every torch module of the pipeline except the aligner (all frozen), by component name."""
        modules = {
            "unet": self.unet,
            "vae": self.vae,
            "vocoder": self.vocoder,
            "language_model": self.language_model,
            "projection_model": self.projection_model,
            "text_encoder_2": self.text_encoder_2,
        }
        if self.text_encoder is not None:
            modules["text_encoder"] = self.text_encoder
        # torch encoders keep their network in ``tower`` (art2mus.models.encoders.torch_encoder); ONNX has none
        encoder_module = (
            self.encoder if isinstance(self.encoder, nn.Module) else getattr(self.encoder, "tower", None)
        )
        if isinstance(encoder_module, nn.Module):
            modules["encoder"] = encoder_module
        return modules

    def _check_components(self) -> None:
        """Catch a wrong combination of parts before it fails deep inside a forward pass."""
        cross = [
            d
            for block in self.unet.config.cross_attention_dim
            for d in (block if isinstance(block, (list, tuple)) else [block])
        ]
        t5_dim = int(self.text_encoder_2.config.d_model)
        if self.lm_dim not in cross or t5_dim not in cross:
            raise ValueError(
                f"UNet cross_attention_dim {self.unet.config.cross_attention_dim} must contain the GPT-2 width "
                f"{self.lm_dim} and the T5 width {t5_dim} (AudioLDM2 layout [None, d_gpt2, d_t5] per block)"
            )
        if self.vocoder.config.model_in_dim % self.vae_scale_factor:
            raise ValueError(
                f"vocoder model_in_dim {self.vocoder.config.model_in_dim} must be divisible by the VAE scale "
                f"factor {self.vae_scale_factor}"
            )
        if self.aligner is not None and self.aligner.lm_dim != self.lm_dim:
            raise AlignerMismatchError(
                f"aligner produces {self.aligner.lm_dim}-d tokens but the language model is {self.lm_dim}-d"
            )

    def to(
        self, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> Art2MusPipeline:
        """Move every module (aligner included) to ``device`` / ``dtype``; half precision needs CUDA.

        Raises:
            ValueError: ``float16``/``bfloat16`` on a non-CUDA device.
            DeviceError: a device name that is none, or a CUDA device torch cannot use here.
        """
        from art2mus.models.pipeline_loading import torch_device

        target = torch_device(device) if device is not None else self.device
        if dtype in (torch.float16, torch.bfloat16) and target.type != "cuda":
            raise ValueError(
                f"dtype {dtype} needs a CUDA device; got device {target} (use float32 on the CPU)"
            )
        modules = list(self.frozen_modules().items())
        if self.aligner is not None:
            modules.append(("aligner", self.aligner))
        for name, module in modules:
            if name == "encoder":
                continue  # the encoder owns its device and dtype (it may not be torch at all)
            module.to(device=target)
            # only cast when asked: diffusers warns on every .to(dtype) of a model it loaded
            if dtype is not None:
                cast_module(
                    module, torch.float32 if name == "aligner" and self.profile.aligner_float32 else dtype
                )
        self.clear_cache()
        return self

    def clear_cache(self) -> None:
        """Forget cached negative and support-prompt embeddings (after changing weights)."""
        self._negative_cache.clear()
        self._text_cache.clear()

    def make_scheduler(self, name: str) -> Any:
        """The scheduler called ``name`` (``ddim`` or ``dpmsolver++``), built once from the model's config."""
        if name not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {name!r}")
        if name not in self._schedulers:
            from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

            config = self.scheduler.config
            if name == "ddim":
                self._schedulers[name] = DDIMScheduler.from_config(config)
            else:
                self._schedulers[name] = DPMSolverMultistepScheduler.from_config(
                    config, algorithm_type="dpmsolver++", solver_order=2
                )
        return self._schedulers[name]

    # --- conditioning ---------------------------------------------------------------------------------
    def encode_text(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """FLAN-T5 hidden states ``(len(texts), L, d_t5)`` and attention mask ``(len(texts), L)`` (int64)."""
        inputs = self.tokenizer_2(
            list(texts),
            padding=True,
            max_length=self.tokenizer_2.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        ids = inputs.input_ids.to(self.device)
        mask = inputs.attention_mask.to(self.device)
        hidden = self.text_encoder_2(ids, attention_mask=mask)[0]
        return hidden.to(self.dtype), mask.long()

    def text_conditioning(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """T5 embeddings ``(1, L, d_t5)`` and mask ``(1, L)`` of ``text``, computed once per text (no gradients)."""
        key = (text, str(self.device), self.dtype)
        if key not in self._text_cache:
            with torch.no_grad():
                self._text_cache[key] = self.encode_text([text])
        return self._text_cache[key]

    def build_lm_inputs(
        self,
        image_tokens: torch.Tensor | None,
        prompt: str | None,
        batch_size: int,
        delimiters: bool = True,
    ) -> torch.Tensor:
        """GPT-2 input sequence ``(batch, S, d_gpt2)``.

        ``[sos, image_tokens, eos]``: the image tokens take the place of AudioLDM2's projected CLAP embedding,
        between the projection model's learnt delimiters (``image_tokens=None`` leaves the slot empty, as
        for the negative prompt). With a ``prompt``, ``[sos_1, proj_1(T5(prompt)), eos_1]`` follows, exactly
        as AudioLDM2 feeds its T5 stream to GPT-2. ``delimiters=False`` leaves out ``sos``/``eos`` around the
        image tokens (the ``art2mus-v1`` profile feeds them bare).
        """
        proj = self.projection_model
        dtype = self.language_model.get_input_embeddings().weight.dtype
        sos = proj.sos_embed.to(dtype).expand(batch_size, 1, -1)
        eos = proj.eos_embed.to(dtype).expand(batch_size, 1, -1)
        parts = [sos] if delimiters else []
        if image_tokens is not None:
            if (
                image_tokens.ndim != 3
                or image_tokens.shape[0] != batch_size
                or image_tokens.shape[2] != self.lm_dim
            ):
                raise ValueError(
                    f"image tokens must have shape ({batch_size}, n_tokens, {self.lm_dim}), got {tuple(image_tokens.shape)}"
                )
            parts.append(image_tokens.to(device=sos.device, dtype=dtype))
        if delimiters:
            parts.append(eos)
        if prompt is not None:
            t5, _ = self.text_conditioning(prompt)
            text = (
                proj.projection_1(t5.to(proj.projection_1.weight.dtype)).to(dtype).expand(batch_size, -1, -1)
            )
            parts += [
                proj.sos_embed_1.to(dtype).expand(batch_size, 1, -1),
                text,
                proj.eos_embed_1.to(dtype).expand(batch_size, 1, -1),
            ]
        return torch.cat(parts, dim=1)

    def clap_prompt_lm_inputs(
        self, image_tokens: torch.Tensor, prompt: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """v1's GPT-2 input for an image and a prompt: ``(B, 5 + T + n, d_gpt2)`` and its mask ``(B, 5 + T + n)``.

        The projection model's ``[sos, CLAP(prompt), eos, sos_1, proj_1(T5(prompt)), eos_1]`` followed by the
        bare image tokens ``(B, n, d_gpt2)``, all attended (``art2mus_4_pipeline.py`` ``encode_prompt``).
        """
        batch = int(image_tokens.shape[0])
        with torch.no_grad():
            projected, projected_mask = clap_t5_projection(self, prompt, None)
        dtype = self.language_model.get_input_embeddings().weight.dtype
        tokens = image_tokens.to(device=projected.device, dtype=dtype)
        inputs = torch.cat([projected.to(dtype).expand(batch, -1, -1), tokens], dim=1)
        mask = torch.cat(
            [
                projected_mask.long().expand(batch, -1),
                torch.ones(tokens.shape[:2], dtype=torch.long, device=projected_mask.device),
            ],
            dim=1,
        )
        return inputs, mask

    def append_image_embedding(
        self, t5: torch.Tensor, mask: torch.Tensor, embeddings: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """v1's T5 stream with a prompt: ``T5(prompt)`` ``(B, L, d_t5)`` then the raw image embedding ``(B, d_t5)``
        as one more attended token: ``(B, L + 1, d_t5)`` and mask ``(B, L + 1)``.

        v1 could only do this because ImageBind and FLAN-T5 are both 1024-d. With an encoder of another width
        (the debug build's 40-d ImageBind against its 32-d T5) the stream stays ``T5(prompt)`` ``(B, L, d_t5)``,
        as before this profile appended anything, and one warning says it is not v1's exact conditioning.

        Raises:
            ValueError: no embeddings (only aligner tokens were given), or embeddings not ``(B, dim)``.
        """
        width = int(t5.shape[2])
        if embeddings is None:
            raise ValueError(
                f"conditioning profile {self.profile.name!r} puts the image embedding on the T5 stream when a "
                "prompt is given; pass images or embeddings, not image_tokens"
            )
        if embeddings.ndim != 2:
            raise ValueError(
                f"conditioning profile {self.profile.name!r} appends the image embedding to the T5 stream when a "
                f"prompt is given, so it must be (batch, dim); got shape {tuple(embeddings.shape)}"
            )
        if embeddings.shape[1] != width:
            if not self._warned_prompt_width:
                self._warned_prompt_width = True
                logger.warning(
                    "conditioning profile %r appends the image embedding to the T5 stream when a prompt is given, "
                    "which needs an image encoder as wide as T5 (ImageBind 1024 with FLAN-T5 1024); this encoder "
                    "gives %d-d embeddings and T5 is %d-d, so the T5 stream is T5(prompt) alone: not v1's exact "
                    "conditioning",
                    self.profile.name,
                    int(embeddings.shape[1]),
                    width,
                )
            return t5, mask
        image = embeddings.to(device=t5.device, dtype=t5.dtype)[:, None, :]
        return (
            torch.cat([t5, image], dim=1),
            torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1),
        )

    def generate_loa(
        self,
        inputs_embeds: torch.Tensor,
        n_tokens: int = DEFAULT_LOA_TOKENS,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Roll GPT-2 out for ``n_tokens`` steps from ``inputs_embeds`` ``(B, S, d)``; returns ``(B, n_tokens, d)``.

        Each step feeds the whole sequence and appends the last position's final hidden state (AudioLDM2's
        "language of audio"). Differentiable: gradients reach the aligner through the frozen GPT-2.
        ``attention_mask`` ``(B, S)`` is passed to GPT-2 and grows by a one each step (what AudioLDM2's
        ``_update_model_kwargs_for_generation`` does, and what the ``art2mus-v1`` profile reproduces).
        """
        sequence = inputs_embeds
        mask = attention_mask
        for _ in range(n_tokens):
            kwargs = {} if mask is None else {"attention_mask": mask}
            hidden = self.language_model(
                inputs_embeds=sequence, use_cache=False, return_dict=True, **kwargs
            ).last_hidden_state
            sequence = torch.cat([sequence, hidden[:, -1:, :]], dim=1)
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        return sequence[:, -n_tokens:, :]

    def profile_prompts(self, support_prompt: str | None, negative_prompt: str | None) -> tuple[str, str]:
        """``(support_prompt, negative_prompt)`` with the profile's in place of ``None``."""
        return (
            self.profile.support_prompt if support_prompt is None else support_prompt,
            self.profile.negative_prompt if negative_prompt is None else negative_prompt,
        )

    def negative_conditioning(
        self, negative_prompt: str, n_loa_tokens: int | None = None, lm_t5_tokens: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Negative LoA ``(1, n, d_gpt2)``, T5 embeddings ``(1, L, d_t5)`` and mask ``(1, L)``; cached.

        The T5 part is the negative at its own length; the ``art2mus-v1`` profile re-encodes it at the
        positive's length in :meth:`encode_conditioning`. ``lm_t5_tokens``: for a profile whose negative GPT-2
        input includes CLAP, the T5 tokens of the negative that GPT-2 reads (default: the profile's
        ``negative_lm_t5_tokens``; v1 with a prompt: its T5 stream's length). ``n_loa_tokens``: default the
        profile's.
        """
        profile = self.profile
        n_loa_tokens = profile.n_loa_tokens if n_loa_tokens is None else n_loa_tokens
        key = (profile.name, negative_prompt, n_loa_tokens, lm_t5_tokens, str(self.device), self.dtype)
        if key not in self._negative_cache:
            with torch.no_grad():
                if profile.negative_lm_clap:
                    loa = clap_t5_negative_loa(self, negative_prompt, n_loa_tokens, lm_t5_tokens)
                else:
                    loa = self.generate_loa(self.build_lm_inputs(None, negative_prompt, 1), n_loa_tokens)
                t5, mask = self.text_conditioning(negative_prompt)
            self._negative_cache[key] = (loa.to(self.dtype), t5, mask)
            logger.debug("cached negative conditioning for %r", negative_prompt)
        return self._negative_cache[key]

    def encode_conditioning(
        self,
        images: Sequence[np.ndarray] | None = None,
        embeddings: torch.Tensor | None = None,
        prompt: str | None = None,
        support_prompt: str | None = None,
        negative_prompt: str | None = None,
        guidance: bool = True,
        n_loa_tokens: int | None = None,
        image_tokens: torch.Tensor | None = None,
    ) -> Art2MusConditioning:
        """Images (or embeddings ``(B, dim)``, or aligner tokens ``(B, n, d_gpt2)``) -> :class:`Art2MusConditioning`.

        The second stream carries T5(``prompt``) when a prompt is given, T5(``support_prompt``) otherwise.
        ``support_prompt`` and ``negative_prompt`` default to the profile's (an aligner is trained, evaluated
        and played with the prompts of its profile), and so does ``n_loa_tokens``. Gradients flow when called outside ``no_grad``
        (training); generation wraps it in ``no_grad``.
        """
        support_prompt, negative_prompt = self.profile_prompts(support_prompt, negative_prompt)
        n_loa_tokens = self.profile.n_loa_tokens if n_loa_tokens is None else n_loa_tokens
        if images is not None:
            if self._extractor is None:
                raise ValueError(
                    "images need an encoder and an aligner; this pipeline was built without them"
                )
            if self.graph_tokens:  # one pass of the ONNX graph gives the embeddings and the tokens
                embeddings, tokens = self.encoder.embed_and_align(images)
                image_tokens = torch.from_numpy(tokens).to(self.device, self.aligner_dtype)
            else:
                embeddings = self._extractor.embed(images)
        if embeddings is not None and image_tokens is None:
            if self.aligner is None:
                raise ValueError("embeddings need an aligner; this pipeline was built without one")
            image_tokens = self.aligner(embeddings.to(self.device))
        if image_tokens is None:
            raise ValueError("encode_conditioning needs images, embeddings or image_tokens")
        batch = int(image_tokens.shape[0])
        profile = self.profile
        clap_prompt = prompt is not None and profile.prompt_with_clap
        if clap_prompt:
            lm_inputs, lm_mask = self.clap_prompt_lm_inputs(image_tokens, prompt)
        else:
            lm_inputs = self.build_lm_inputs(image_tokens, prompt, batch, delimiters=profile.lm_delimiters)
            lm_mask = (
                torch.ones(lm_inputs.shape[:2], dtype=torch.long, device=lm_inputs.device)
                if profile.lm_attention_mask
                else None
            )
        loa = self.generate_loa(lm_inputs, n_loa_tokens, attention_mask=lm_mask).to(self.dtype)
        t5, mask = self.text_conditioning(prompt if prompt is not None else support_prompt)
        t5, mask = t5.expand(batch, -1, -1), mask.expand(batch, -1)
        if clap_prompt:
            t5, mask = self.append_image_embedding(t5, mask, embeddings)
        conditioning = Art2MusConditioning(
            loa_embeds=loa, t5_embeds=t5, t5_mask=mask, image_embeddings=embeddings
        )
        if guidance:
            neg_loa, neg_t5, neg_mask = self.negative_conditioning(
                negative_prompt, n_loa_tokens, int(t5.shape[1]) if clap_prompt else None
            )
            if profile.negative_t5_to_positive_length:
                with torch.no_grad():
                    neg_t5, neg_mask = t5_to_length(self, negative_prompt, int(t5.shape[1]))
            length = max(t5.shape[1], neg_t5.shape[1])
            conditioning.t5_embeds, conditioning.t5_mask = pad_tokens(t5, mask, length)
            neg_t5, neg_mask = pad_tokens(neg_t5, neg_mask, length)
            conditioning.negative_loa_embeds = neg_loa.expand(batch, -1, -1)
            conditioning.negative_t5_embeds = neg_t5.expand(batch, -1, -1)
            conditioning.negative_t5_mask = neg_mask.expand(batch, -1)
        return conditioning

    # --- generation ---------------------------------------------------------------------------------
    def latent_shape(self, batch: int, duration_s: float) -> tuple[tuple[int, int, int, int], int]:
        """Latent shape ``(batch, C, frames / vae_scale, mel_bins / vae_scale)`` and the waveform length in samples."""
        samples = int(round(duration_s * self.sample_rate))
        frames = math.ceil(samples / self.hop_length)
        frames = math.ceil(frames / self.vae_scale_factor) * self.vae_scale_factor
        shape = (
            batch,
            int(self.unet.config.in_channels),
            frames // self.vae_scale_factor,
            int(self.vocoder.config.model_in_dim) // self.vae_scale_factor,
        )
        return shape, samples

    @torch.no_grad()
    def __call__(
        self,
        images: Sequence[np.ndarray] | np.ndarray | None = None,
        *,
        embeddings: torch.Tensor | None = None,
        conditioning: Art2MusConditioning | None = None,
        prompt: str | None = None,
        support_prompt: str | None = None,
        negative_prompt: str | None = None,
        duration_s: float = 10.0,
        num_inference_steps: int = 50,
        guidance_scale: float = 3.5,
        num_waveforms: int = 1,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        scheduler: str = "ddim",
        eta: float = 0.0,
        n_loa_tokens: int | None = None,
        rerank: bool = True,
        progress: ProgressCallback | None = None,
    ) -> Art2MusOutput:
        """Generate ``num_waveforms`` waveforms per image.

        Args:
            images: RGB uint8 arrays ``(H, W, 3)`` (one array or a list); or pass ``embeddings``
                ``(B, dim)`` from the encoder, or a prepared ``conditioning``.
            prompt: optional text mixed with the image tokens in GPT-2's input (and put on the T5 stream).
            support_prompt: T5 stream text when no ``prompt`` is given (default: the profile's).
            negative_prompt: what guidance steers away from (embeddings cached per prompt; default: the
                profile's).
            duration_s: length of each waveform, seconds; the output has exactly ``round(duration_s * 16000)``
                samples.
            num_inference_steps: denoising steps; guidance_scale: classifier-free guidance (<= 1: off).
            seed: seeds a CPU generator for the initial latents, so a seed gives the same starting noise on
                any device (and the same audio on the same device); ignored when ``generator`` or
                ``latents`` is given.
            scheduler: ``ddim`` or ``dpmsolver++``; eta: DDIM noise (0 = deterministic).
            n_loa_tokens: LoA tokens GPT-2 generates (default: the profile's; AudioLDM2 uses 8).
            rerank: order waveforms by image-audio similarity when ``num_waveforms > 1`` and the encoder can
                embed audio.
            progress: called as ``progress(step, total)`` after each denoising step.
        """
        # 1. check inputs
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        support_prompt, negative_prompt = self.profile_prompts(support_prompt, negative_prompt)
        n_loa_tokens = self.profile.n_loa_tokens if n_loa_tokens is None else n_loa_tokens
        self.check_inputs(
            images,
            embeddings,
            conditioning,
            duration_s=duration_s,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            num_waveforms=num_waveforms,
            scheduler=scheduler,
            eta=eta,
            n_loa_tokens=n_loa_tokens,
            prompt=prompt,
            support_prompt=support_prompt,
            negative_prompt=negative_prompt,
        )
        do_cfg = guidance_scale > 1.0

        # 2. conditioning: images -> embeddings -> aligner tokens -> GPT-2 LoA; T5 stream; cached negatives
        if conditioning is None:
            conditioning = self.encode_conditioning(
                images=images,
                embeddings=embeddings,
                prompt=prompt,
                support_prompt=support_prompt,
                negative_prompt=negative_prompt,
                guidance=do_cfg,
                n_loa_tokens=n_loa_tokens,
            )
        batch = conditioning.batch_size

        # 3. denoise, decode, vocode
        if generator is None and latents is None:
            generator = torch.Generator("cpu").manual_seed(int(seed or 0))
        waveforms = self.denoise(
            conditioning,
            duration_s=duration_s,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            num_waveforms=num_waveforms,
            generator=generator,
            latents=latents,
            scheduler=scheduler,
            eta=eta,
            progress=progress,
        )

        # 4. re-rank by image-audio similarity (ImageBind)
        audios = waveforms.reshape(batch, num_waveforms, -1)
        scores = None
        if rerank and num_waveforms > 1:
            rank_embeddings = None
            if self.ranker is not None and self.ranker is self.encoder:
                rank_embeddings = conditioning.image_embeddings
            elif self.ranker is not None and images is not None:
                rank_embeddings = self.ranker.encode_images(images)  # the ranker's own space
            if rank_embeddings is not None:
                if prompt is not None and self.profile.prompt_with_clap and not self._warned_prompt_rerank:
                    self._warned_prompt_rerank = True
                    logger.warning(
                        "with a prompt, v1 re-ranks its %d candidates by CLAP text-audio similarity to the prompt; "
                        "profile %r ranks them by ImageBind image-audio similarity instead",
                        num_waveforms,
                        self.profile.name,
                    )
                audios, scores = self.rerank(audios, rank_embeddings)
            elif not self._warned_no_ranker:
                self._warned_no_ranker = True
                logger.warning(
                    "re-ranking of %d candidates is off: it needs ImageBind (images and audio in one space)%s; "
                    "the first candidate is kept",
                    num_waveforms,
                    "" if self.ranker is not None else " and none is loaded (install the imagebind model)",
                )
        return Art2MusOutput(
            audios=audios.numpy().astype(np.float32, copy=False),
            sample_rate=self.sample_rate,
            scores=None if scores is None else scores.numpy(),
            conditioning=conditioning,
        )

    def denoise(
        self,
        conditioning: Art2MusConditioning,
        duration_s: float,
        num_inference_steps: int,
        guidance_scale: float,
        num_waveforms: int = 1,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        scheduler: str = "ddim",
        eta: float = 0.0,
        progress: ProgressCallback | None = None,
    ) -> torch.Tensor:
        """Latent diffusion from a conditioning; returns float32 CPU waveforms ``(B * num_waveforms, samples)``.

        Waveform ``b * num_waveforms + w`` belongs to request ``b``.
        """
        from diffusers.utils.torch_utils import randn_tensor

        device, dtype = self.device, self.dtype
        do_cfg = guidance_scale > 1.0

        # 3a. repeat each request num_waveforms times; CFG batches [negatives, positives]
        def repeat(x: torch.Tensor) -> torch.Tensor:
            return x.to(device).repeat_interleave(num_waveforms, dim=0)

        loa = repeat(conditioning.loa_embeds).to(dtype)
        t5 = repeat(conditioning.t5_embeds).to(dtype)
        mask = repeat(conditioning.t5_mask)
        if do_cfg:
            if conditioning.negative_loa_embeds is None:
                raise ValueError("guidance_scale > 1 needs negative embeddings in the conditioning")
            loa = torch.cat([repeat(conditioning.negative_loa_embeds).to(dtype), loa])
            t5 = torch.cat([repeat(conditioning.negative_t5_embeds).to(dtype), t5])
            mask = torch.cat([repeat(conditioning.negative_t5_mask), mask])

        # 3b. timesteps
        sched = self.make_scheduler(scheduler)
        sched.set_timesteps(num_inference_steps, device=device)
        timesteps = sched.timesteps

        # 3c. initial latents
        shape, samples = self.latent_shape(conditioning.batch_size * num_waveforms, duration_s)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(
                f"latents must have shape {shape} for {duration_s} s, got {tuple(latents.shape)}"
            )
        latents = latents.to(device=device, dtype=dtype) * sched.init_noise_sigma

        step_kwargs: dict[str, Any] = {}
        step_params = set(inspect.signature(sched.step).parameters)
        if "eta" in step_params:
            step_kwargs["eta"] = eta
        if "generator" in step_params:
            step_kwargs["generator"] = generator

        # 3d. denoising loop
        for i, t in enumerate(timesteps):
            model_input = torch.cat([latents] * 2) if do_cfg else latents
            model_input = sched.scale_model_input(model_input, t)
            noise_pred = self.unet(
                model_input,
                t,
                encoder_hidden_states=loa,
                encoder_hidden_states_1=t5,
                encoder_attention_mask_1=mask,
                return_dict=False,
            )[0]
            if do_cfg:
                noise_uncond, noise_cond = noise_pred.chunk(2)
                noise_pred = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
            latents = sched.step(noise_pred, t, latents, **step_kwargs).prev_sample
            if progress is not None:
                progress(i + 1, len(timesteps))

        # 3e. VAE -> mel (B, 1, frames, 64) -> vocoder -> waveform, cropped to the requested length
        # multiply by the reciprocal (not divide) as diffusers does, so both give bit-identical waveforms
        mel = self.vae.decode(1 / self.vae.config.scaling_factor * latents).sample
        waveform = self.vocoder(mel.squeeze(1)).cpu().float()
        return waveform[:, :samples]

    def rerank(
        self, audios: torch.Tensor, image_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Order ``audios`` ``(B, W, samples)`` per row by cosine similarity to ``image_embeddings`` ``(B, dim)``.

        Returns the reordered audios and the sorted scores ``(B, W)``.
        """
        batch, count, _ = audios.shape
        flat = [a.numpy() for a in audios.reshape(batch * count, -1)]
        audio_emb = self.ranker.encode_audio(flat, self.sample_rate).float().cpu().reshape(batch, count, -1)
        image = nn.functional.normalize(image_embeddings.float().cpu(), dim=-1)
        scores = torch.einsum("bwd,bd->bw", nn.functional.normalize(audio_emb, dim=-1), image)
        order = torch.argsort(scores, dim=1, descending=True)
        audios = torch.stack([audios[b, order[b]] for b in range(batch)])
        return audios, torch.gather(scores, 1, order)

    # --- loading (in art2mus.models.pipeline_loading) ---------------------------------------------
    @classmethod
    def from_model_dir(cls, model_dir: str | Path | ModelDir, **options: Any) -> Art2MusPipeline:
        """Load AudioLDM2, the image encoder and the aligner from a local model directory: ``options``
        (``aligner``, ``encoder``, ``encoder_path``, ``device``, ``dtype``, ``max_duration_s``,
        ``profile``) as :func:`art2mus.models.pipeline_loading.load_pipeline` documents them."""
        from art2mus.models.pipeline_loading import load_pipeline

        return load_pipeline(cls, model_dir, **options)
