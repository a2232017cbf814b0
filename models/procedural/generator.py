"""The procedural generator: analysis -> plan -> synthesis -> loudness, behind the shared interface."""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from art2mus.common.schema import StrictModel, unit
from art2mus.models.generator import GenerationRequest, Generator, Soundscape

logger = logging.getLogger(__name__)

#: in each rendering's metadata: bumped whenever the same image, seed and settings would give different
#: audio, with :attr:`ProceduralGenerator.render_version` (which keys the cache)
VERSION = "1"


class ProceduralGeneratorConfig(StrictModel):
    """The deterministic sonifier: no weights, no GPU."""

    type: Literal["procedural"] = Field("procedural", description="The procedural sonifier.")
    sample_rate: int = Field(
        48000, ge=8000, le=192000, description="Output sample rate.", json_schema_extra=unit("Hz")
    )

    def settings(self) -> dict[str, Any]:
        """Constructor keywords for the backend (see ``art2mus.models.registry``)."""
        return self.model_dump(exclude={"type"})


class ProceduralGenerator(Generator):
    """Deterministic image sonifier: needs no weights and no GPU.

    The same image, request and settings give bit-identical audio (on the same platform and library
    versions). ``request.options`` is not used by this backend.

    Args:
        sample_rate: output sample rate, Hz (8000 .. 192000).
        ceiling_dbtp: true-peak ceiling of the output, dBTP (<= 0).
    """

    name = "procedural"
    config_class = ProceduralGeneratorConfig
    #: keys its cache entries (2 since e45650f, when one shared number was bumped for the Art2Mus model):
    #: bump it when the audio changes, and only the procedural soundscapes are made again
    render_version = 2
    licence = "MIT (no weights)"
    description = "Deterministic sonifier of the image's colour, texture and composition; no GPU, no weights."

    def __init__(self, sample_rate: int = 48000, ceiling_dbtp: float = -1.0):
        if (
            not isinstance(sample_rate, int)
            or isinstance(sample_rate, bool)
            or not 8000 <= sample_rate <= 192000
        ):
            raise ValueError(
                f"procedural generator: sample_rate must be an integer 8000..192000 Hz, got {sample_rate!r}"
            )
        if not (
            isinstance(ceiling_dbtp, (int, float)) and math.isfinite(ceiling_dbtp) and ceiling_dbtp <= 0.0
        ):
            raise ValueError(
                f"procedural generator: ceiling_dbtp must be a number <= 0 dBTP, got {ceiling_dbtp!r}"
            )
        self.sample_rate = sample_rate
        self.ceiling_dbtp = float(ceiling_dbtp)

    def generate(self, image: np.ndarray, request: GenerationRequest) -> Soundscape:
        """Sonify ``image`` (RGB uint8 ``(H, W, 3)``).

        Returns:
            A :class:`Soundscape` with float32 stereo ``(frames, 2)`` at :attr:`sample_rate`, exactly
            ``round(request.duration_s * sample_rate)`` frames, normalised to ``request.loudness_lufs``
            with true peaks at or below :attr:`ceiling_dbtp`; ``metadata`` holds the image features,
            the musical decisions and the measured loudness.
        """
        if not math.isfinite(request.loudness_lufs) or not -70.0 <= request.loudness_lufs <= 0.0:
            raise ValueError(f"loudness_lufs must be between -70 and 0 LUFS, got {request.loudness_lufs}")
        if request.options:
            logger.debug("procedural generator ignores options %s", sorted(request.options))
        # the pipeline's modules (scipy's signal and image code: ~0.5 s to import) are loaded at the first
        # rendering, not by every reader of ProceduralGeneratorConfig (the exhibit config, the CLI)
        from art2mus.models.procedural.analysis import analyse_image
        from art2mus.models.procedural.mapping import plan_music
        from art2mus.models.procedural.mastering import normalise_loudness
        from art2mus.models.procedural.synthesis import render_plan

        features = analyse_image(image)
        plan = plan_music(features, request.duration_s, request.seed)
        mix, layers = render_plan(plan, self.sample_rate, loop=request.loop)
        audio, report = normalise_loudness(
            mix, self.sample_rate, request.loudness_lufs, self.ceiling_dbtp, circular=request.loop
        )
        waveform = np.ascontiguousarray(audio.T)
        metadata = {
            "generator": self.name,
            "version": VERSION,
            "seed": int(request.seed),
            "duration_s": waveform.shape[0] / self.sample_rate,
            "sample_rate": self.sample_rate,
            "loop": bool(request.loop),
            "loudness_lufs": round(report.loudness_lufs, 2),
            "true_peak_dbtp": round(report.true_peak_dbtp, 2),
            "limited_frames": report.limited_frames,
            "layers_rms_db": layers,
            "music": plan.to_metadata(),
            "image": features.to_dict(),
        }
        logger.info(
            "procedural soundscape: %s, %.0f bpm, %.1f s, %.1f LUFS, %.1f dBTP",
            plan.key_name,
            plan.tempo_bpm,
            metadata["duration_s"],
            report.loudness_lufs,
            report.true_peak_dbtp,
        )
        return Soundscape(waveform=waveform, sample_rate=self.sample_rate, metadata=metadata)
