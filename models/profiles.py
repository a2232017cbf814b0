"""Conditioning profiles: how an aligner's tokens and the prompts become the UNet's two conditioning streams.

An aligner is only meaningful with the conditioning it was trained under, so each aligner's
``config.json`` names a profile (``"conditioning_profile"``), and an exhibit may override it (the
``art2mus`` generator's ``profile`` setting). A profile is data read by the one
:class:`~art2mus.models.pipeline.Art2MusPipeline`, not a second pipeline.

* ``art2mus-music`` (this project's own): base ``cvssp/audioldm2-music``; GPT-2 reads
  ``[sos, tokens, eos]`` (the aligner's tokens between the projection model's learnt CLAP-slot
  delimiters); the negative GPT-2 input is ``[sos, eos, sos_1, proj_1(T5(negative)), eos_1]``; the T5
  stream's positive and negative are each encoded at their own length and zero-padded (masked) to the
  longer one.
* ``art2mus-v1`` (the authors' published code, ``justivanr/art2mus_``, ``src/art2mus/art2mus_4_pipeline.py``
  ``__call__``): base ``cvssp/audioldm2``; GPT-2's positive input is the bare aligner tokens (no
  delimiters, attention mask of ones); the negative GPT-2 input is AudioLDM2's projection model over
  CLAP(negative) and T5(negative) cut to 1 token (v1 pads/truncates the negative's T5 to the length of
  the image-embedding sequence, which is 1), i.e. 6 tokens; the T5 stream is T5(support prompt) against
  T5(negative) tokenised to exactly the positive's length (``padding="max_length"``, truncated); 200 DDIM
  steps, guidance 3.5, 3 candidates re-ranked by ImageBind. With a text prompt, v1's layout
  (:attr:`ConditioningProfile.prompt_with_clap`): GPT-2 reads the projection of CLAP(prompt) and
  T5(prompt), then the bare tokens; the T5 stream is T5(prompt) and the raw image embedding; the negative's
  T5 is cut to that stream's length. (v1 then re-ranks by CLAP text-audio similarity to the prompt; ours
  keeps ImageBind image-audio similarity, see README.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: the profile of aligners whose config.json names none (everything trained before profiles existed).
DEFAULT_PROFILE = "art2mus-music"


@dataclass(frozen=True)
class ConditioningProfile:
    """How one family of aligners is conditioned, and its generation defaults.

    Attributes:
        name: what ``config.json`` and the exhibit call it.
        base_model: model-directory key of the AudioLDM2 checkpoint the aligner was trained against.
        lm_delimiters: wrap the aligner's tokens in the projection model's ``sos``/``eos`` (``False``: bare).
        negative_lm_clap: the negative GPT-2 input includes CLAP(negative) through the projection model
            (needs AudioLDM2's CLAP text encoder and its tokenizer).
        negative_lm_t5_tokens: T5(negative) fed to GPT-2 is padded/truncated to this many tokens
            (``None``: its own length).
        negative_t5_to_positive_length: the T5 stream's negative is tokenised to exactly the positive's
            length (``False``: own length, then zero-padded with a masked tail).
        lm_attention_mask: pass an all-ones attention mask to GPT-2 during the roll-out (as v1 does).
        prompt_with_clap: how a text prompt (an artwork's ``soundscape.prompt``) is mixed in. ``True`` (v1's
            ``encode_prompt``): GPT-2 reads the projection model's ``[sos, CLAP(prompt), eos, sos_1,
            proj_1(T5(prompt)), eos_1]`` followed by the image tokens; the T5 stream is ``T5(prompt)``
            followed by the encoder's raw embedding as one more token (it must be as wide as T5: ImageBind's
            1024 = FLAN-T5-large's 1024); the negative's T5, for GPT-2 and for the stream alike, is
            tokenised to that stream's length ``L + 1``. ``False``: GPT-2 reads the image tokens, then
            ``[sos_1, proj_1(T5(prompt)), eos_1]``; the T5 stream is ``T5(prompt)``.
        aligner_float32: keep the aligner in float32 when the pipeline runs in half precision, its tokens
            cast to GPT-2's dtype (v1 built its projection layer in ``__init__`` and never cast it).
        encoder_float32: load the image encoder (and so the ranker when it is the encoder) in float32 when
            the pipeline runs in half precision (v1 ran ImageBind in float32).
        n_loa_tokens: LoA tokens GPT-2 generates, the pipeline's default (v1 reads
            ``language_model.config.max_new_tokens``, 8 in ``cvssp/audioldm2``, as AudioLDM2 does).
        steps, guidance_scale, scheduler, num_waveforms, support_prompt, negative_prompt:
            generation defaults (an exhibit may override each).
    """

    name: str
    base_model: str
    lm_delimiters: bool
    negative_lm_clap: bool
    negative_lm_t5_tokens: int | None
    negative_t5_to_positive_length: bool
    lm_attention_mask: bool
    prompt_with_clap: bool
    aligner_float32: bool
    encoder_float32: bool
    steps: int
    guidance_scale: float
    scheduler: str
    num_waveforms: int
    n_loa_tokens: int
    support_prompt: str
    negative_prompt: str

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, ConditioningProfile] = {
    p.name: p
    for p in (
        ConditioningProfile(
            name="art2mus-music",
            base_model="audioldm2-music",
            lm_delimiters=True,
            negative_lm_clap=False,
            negative_lm_t5_tokens=None,
            negative_t5_to_positive_length=False,
            lm_attention_mask=False,
            prompt_with_clap=False,
            aligner_float32=False,
            encoder_float32=False,
            steps=100,
            guidance_scale=3.5,
            scheduler="ddim",
            num_waveforms=1,
            n_loa_tokens=8,
            support_prompt="high quality music",
            negative_prompt="low quality, noise",
        ),
        ConditioningProfile(
            name="art2mus-v1",
            base_model="audioldm2",
            lm_delimiters=False,
            negative_lm_clap=True,
            negative_lm_t5_tokens=1,
            negative_t5_to_positive_length=True,
            lm_attention_mask=True,
            prompt_with_clap=True,
            aligner_float32=True,
            encoder_float32=True,
            steps=200,
            guidance_scale=3.5,
            scheduler="ddim",
            num_waveforms=3,
            n_loa_tokens=8,
            support_prompt="Music representing the content of this artwork",
            negative_prompt="Low quality.",
        ),
    )
}


def get_profile(name: str | ConditioningProfile | None) -> ConditioningProfile:
    """The profile called ``name`` (``None``: :data:`DEFAULT_PROFILE`).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if isinstance(name, ConditioningProfile):
        return name
    key = DEFAULT_PROFILE if name is None else str(name)
    if key not in PROFILES:
        raise ValueError(f"unknown conditioning profile {key!r}; expected one of: {', '.join(PROFILES)}")
    return PROFILES[key]
