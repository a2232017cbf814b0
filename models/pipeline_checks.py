"""Input checks of the Art2Mus pipeline: every generation setting and input, with the allowed range.

:class:`PipelineChecks` is mixed into :class:`~art2mus.models.pipeline.Art2MusPipeline`;
:meth:`PipelineChecks.check_settings` is also what a generator checks at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from art2mus.models.conditioning import DEFAULT_LOA_TOKENS, DEFAULT_NEGATIVE_PROMPT, DEFAULT_SUPPORT_PROMPT

if TYPE_CHECKING:
    import torch

    from art2mus.models.conditioning import Art2MusConditioning

#: schedulers selectable by name; both are built from the model's own scheduler config.
SCHEDULERS = ("ddim", "dpmsolver++")
#: upper bounds checked by :meth:`Art2MusPipeline.check_inputs`.
MAX_STEPS = 1000
MAX_WAVEFORMS = 16
MAX_GUIDANCE = 50.0
MAX_LOA_TOKENS = 64


class PipelineChecks:
    """``check_inputs`` and ``check_settings`` of a pipeline (it provides ``aligner``, ``_extractor``,
    ``min_duration_s`` and ``max_duration_s``); each raises ``ValueError`` naming the bad value and the range."""

    def check_inputs(
        self,
        images: Sequence[np.ndarray] | None,
        embeddings: torch.Tensor | None,
        conditioning: Art2MusConditioning | None,
        **settings: Any,
    ) -> None:
        """Validate a call (``settings``: :meth:`check_settings`'s arguments, by name); raises ``ValueError``
        naming the bad value and the allowed range."""
        given = [
            name
            for name, v in (("images", images), ("embeddings", embeddings), ("conditioning", conditioning))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(f"pass exactly one of images, embeddings or conditioning; got {given or 'none'}")
        if images is not None:
            if len(images) == 0:
                raise ValueError("images must hold at least one RGB image, got an empty list")
            for i, image in enumerate(images):
                arr = np.asarray(image)
                if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or min(arr.shape[:2]) < 1:
                    raise ValueError(
                        f"images[{i}] must be an RGB uint8 array of shape (height, width, 3), got dtype "
                        f"{arr.dtype} and shape {arr.shape}"
                    )
            if self._extractor is None:
                raise ValueError(
                    "images need an encoder and an aligner; this pipeline was built without them"
                )
        if embeddings is not None:
            if self.aligner is None:
                raise ValueError("embeddings need an aligner; this pipeline was built without one")
            if embeddings.ndim != 2 or embeddings.shape[1] != self.aligner.embedding_dim:
                raise ValueError(
                    f"embeddings must have shape (batch, {self.aligner.embedding_dim}), got {tuple(embeddings.shape)}"
                )
        self.check_settings(**settings)
        guidance_scale = settings["guidance_scale"]
        if conditioning is not None and guidance_scale > 1.0 and conditioning.negative_loa_embeds is None:
            raise ValueError(
                f"guidance_scale {guidance_scale} > 1 needs negative embeddings in the conditioning; "
                "build it with guidance or pass guidance_scale <= 1"
            )

    def check_settings(
        self,
        duration_s: float,
        num_inference_steps: int,
        guidance_scale: float,
        num_waveforms: int,
        scheduler: str,
        eta: float = 0.0,
        n_loa_tokens: int = DEFAULT_LOA_TOKENS,
        prompt: str | None = None,
        support_prompt: str = DEFAULT_SUPPORT_PROMPT,
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
    ) -> None:
        """Validate generation settings alone (what a generator can check at start-up); ``ValueError`` if bad."""
        if not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s)) or not (
            self.min_duration_s <= duration_s <= self.max_duration_s
        ):
            raise ValueError(
                f"duration_s must be between {self.min_duration_s:g} and {self.max_duration_s:g} seconds, got {duration_s!r}"
            )
        if not isinstance(num_inference_steps, int) or not 1 <= num_inference_steps <= MAX_STEPS:
            raise ValueError(
                f"num_inference_steps must be an integer from 1 to {MAX_STEPS}, got {num_inference_steps!r}"
            )
        if not (isinstance(guidance_scale, (int, float)) and math.isfinite(guidance_scale)) or not (
            0.0 <= guidance_scale <= MAX_GUIDANCE
        ):
            raise ValueError(
                f"guidance_scale must be between 0 and {MAX_GUIDANCE:g} (<= 1 turns guidance off), got {guidance_scale!r}"
            )
        if not isinstance(num_waveforms, int) or not 1 <= num_waveforms <= MAX_WAVEFORMS:
            raise ValueError(
                f"num_waveforms must be an integer from 1 to {MAX_WAVEFORMS}, got {num_waveforms!r}"
            )
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
        if not (isinstance(eta, (int, float)) and 0.0 <= eta <= 1.0):
            raise ValueError(f"eta must be between 0 and 1 (DDIM only), got {eta!r}")
        if not isinstance(n_loa_tokens, int) or not 1 <= n_loa_tokens <= MAX_LOA_TOKENS:
            raise ValueError(
                f"n_loa_tokens must be an integer from 1 to {MAX_LOA_TOKENS}, got {n_loa_tokens!r}"
            )
        for name, text in (
            ("prompt", prompt),
            ("support_prompt", support_prompt),
            ("negative_prompt", negative_prompt),
        ):
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{name} must be a string or None, got {type(text).__name__}")
