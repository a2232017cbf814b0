"""What conditions AudioLDM2's UNet in the Art2Mus pipeline, and the ``art2mus-v1`` profile's own encodings.

:class:`Art2MusConditioning` holds the two cross-attention streams (GPT-2's "language of audio" and
FLAN-T5) and their negatives; :func:`pad_tokens` brings a stream and its negative to one length. The
``art2mus-v1`` conditioning profile (v1's ``encode_prompt``) builds its negative LoA from CLAP and T5
through AudioLDM2's projection model (:func:`clap_t5_negative_loa`) and re-encodes the negative prompt at
the positive's length (:func:`t5_to_length`); :class:`~art2mus.models.pipeline.Art2MusPipeline` calls them
when its profile asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from art2mus.models.pipeline import Art2MusPipeline

#: LoA tokens GPT-2 generates (AudioLDM2's ``sequence_gen_length``).
DEFAULT_LOA_TOKENS = 8
#: what the second cross-attention stream (FLAN-T5) hears when no text prompt is given.
DEFAULT_SUPPORT_PROMPT = "high quality music"
#: what classifier-free guidance steers away from.
DEFAULT_NEGATIVE_PROMPT = "low quality, noise"


@dataclass
class Art2MusConditioning:
    """What the UNet is conditioned on, for ``B`` requests (before waveform repetition and CFG batching).

    Attributes:
        loa_embeds: GPT-2 "language of audio" hidden states ``(B, n_loa, d_gpt2)`` (first stream).
        t5_embeds: FLAN-T5 hidden states ``(B, L, d_t5)`` (second stream); ``t5_mask`` ``(B, L)`` int64.
        negative_loa_embeds, negative_t5_embeds, negative_t5_mask: the same for the negative prompt,
            with ``L`` padded to match; ``None`` when guidance is off.
        image_embeddings: the encoder's ``(B, dim)`` embeddings, kept for re-ranking (or ``None``).
    """

    loa_embeds: torch.Tensor
    t5_embeds: torch.Tensor
    t5_mask: torch.Tensor
    negative_loa_embeds: torch.Tensor | None = None
    negative_t5_embeds: torch.Tensor | None = None
    negative_t5_mask: torch.Tensor | None = None
    image_embeddings: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.loa_embeds.shape[0])


def pad_tokens(x: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(B, L, D)`` embeddings with zeros and their ``(B, L)`` mask with 0 up to ``length`` tokens.

    Padded keys are masked out of cross-attention, so zero embeddings give the same result as encoding
    padding tokens.
    """
    extra = length - x.shape[1]
    if extra <= 0:
        return x, mask
    return (
        torch.cat([x, x.new_zeros(x.shape[0], extra, x.shape[2])], dim=1),
        torch.cat([mask, mask.new_zeros(mask.shape[0], extra)], dim=1),
    )


def clap_t5_projection(
    pipe: Art2MusPipeline, text: str, t5_tokens: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """AudioLDM2's projection of CLAP(``text``) and T5(``text``): ``(1, 5 + T, d_gpt2)`` and its mask ``(1, 5 + T)``.

    As v1's ``encode_prompt``: CLAP's tokenizer pads to its maximum length; T5's pads/truncates to
    ``t5_tokens`` tokens (``None``: the text's own length); the projection model adds its learnt
    delimiters, ``[sos, CLAP, eos, sos_1, proj_1(T5), eos_1]``.
    """
    clap_inputs = pipe.tokenizer(
        [text],
        padding="max_length",
        max_length=pipe.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    features = pipe.text_encoder.get_text_features(
        clap_inputs.input_ids.to(pipe.device), attention_mask=clap_inputs.attention_mask.to(pipe.device)
    )
    # transformers 5 returns a model output whose pooler_output is the normalised text feature
    clap = getattr(features, "pooler_output", features)[:, None, :]
    clap_mask = clap_inputs.attention_mask.new_ones((1, 1)).to(pipe.device)
    t5_inputs = pipe.tokenizer_2(
        [text],
        padding="max_length" if t5_tokens is not None else True,
        max_length=t5_tokens if t5_tokens is not None else pipe.tokenizer_2.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    t5_mask = t5_inputs.attention_mask.to(pipe.device)
    t5 = pipe.text_encoder_2(t5_inputs.input_ids.to(pipe.device), attention_mask=t5_mask)[0]
    projected = pipe.projection_model(
        hidden_states=clap, hidden_states_1=t5, attention_mask=clap_mask, attention_mask_1=t5_mask
    )
    return projected.hidden_states, projected.attention_mask


def clap_t5_negative_loa(
    pipe: Art2MusPipeline, negative_prompt: str, n_loa_tokens: int, t5_tokens: int | None = None
) -> torch.Tensor:
    """v1's negative LoA ``(1, n, d_gpt2)``: GPT-2 over AudioLDM2's projection of CLAP(negative) and T5(negative).

    T5(negative) is padded/truncated to ``t5_tokens`` (default: the profile's
    :attr:`~art2mus.models.profiles.ConditioningProfile.negative_lm_t5_tokens`); v1 cuts it to the length
    of its T5 stream, which is 1 for an image alone and ``L + 1`` with a prompt of ``L`` T5 tokens.
    """
    if t5_tokens is None:
        t5_tokens = pipe.profile.negative_lm_t5_tokens
    hidden, mask = clap_t5_projection(pipe, negative_prompt, t5_tokens)
    return pipe.generate_loa(hidden, n_loa_tokens, attention_mask=mask)


def t5_to_length(pipe: Art2MusPipeline, text: str, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """T5 ``(1, length, d_t5)`` and mask of ``text`` tokenised to exactly ``length`` tokens (padded or cut)."""
    inputs = pipe.tokenizer_2(
        [text], padding="max_length", max_length=length, truncation=True, return_tensors="pt"
    )
    mask = inputs.attention_mask.to(pipe.device)
    hidden = pipe.text_encoder_2(inputs.input_ids.to(pipe.device), attention_mask=mask)[0]
    return hidden.to(pipe.dtype), mask.long()
