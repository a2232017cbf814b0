"""The generators section: named soundscape generator backends chosen by ``type:``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from art2mus.installation.config.base import DirPath, StrictModel, unit


class ProceduralGeneratorConfig(StrictModel):
    """The deterministic sonifier: no weights, no GPU."""

    type: Literal["procedural"] = Field("procedural", description="The procedural sonifier.")
    sample_rate: int = Field(48000, ge=8000, le=192000, description="Output sample rate.", json_schema_extra=unit("Hz"))

    def settings(self) -> dict[str, Any]:
        """Constructor keywords for the backend (see ``art2mus.models.registry``)."""
        return self.model_dump(exclude={"type"})


class Art2MusGeneratorConfig(StrictModel):
    """The Art2Mus model: image encoder -> aligner -> GPT-2 language of audio -> AudioLDM2."""

    type: Literal["art2mus"] = Field("art2mus", description="The Art2Mus model.")
    model_dir: DirPath = Field(
        Path("models"), description="Local model directory (see `art2mus models list`); nothing is downloaded at run time."
    )
    aligner: DirPath | None = Field(
        None, description="Aligner checkpoint folder (config.json + model.safetensors); default: the model directory's."
    )
    encoder: Literal["imagebind", "clip", "onnx"] = Field("imagebind", description="Image encoder the aligner was trained for.")
    encoder_path: Path | None = Field(None, description="Encoder weights (default: its folder in the model directory).")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field("float16", description="Precision on the GPU (the CPU uses float32).")
    profile: Literal["art2mus-music", "art2mus-v1"] | None = Field(
        None,
        description="Conditioning profile (how tokens and prompts condition AudioLDM2); default: the one the aligner's config.json names.",
    )
    steps: int | None = Field(None, ge=1, le=1000, description="Denoising steps (default: the profile's, 100 or v1's 200).")
    guidance_scale: float | None = Field(
        None, ge=0, le=30, description="Classifier-free guidance scale (1 or less: off; default: the profile's, 3.5)."
    )
    scheduler: Literal["ddim", "dpmsolver++"] | None = Field(None, description="Diffusion scheduler (default: the profile's, ddim).")
    num_waveforms: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Candidates generated; the best by ImageBind image-audio similarity is kept (default: the profile's, 1 or v1's 3).",
    )
    support_prompt: str | None = Field(
        None, description="Fixed text for AudioLDM2's FLAN-T5 stream (default: the profile's, 'high quality music')."
    )
    negative_prompt: str | None = Field(
        None, description="What guidance steers away from (default: the profile's, 'low quality, noise')."
    )
    segment_s: float = Field(
        10.24,
        ge=0,
        le=60,
        description="Longer soundscapes are stitched from segments of at most this length (AudioLDM2's training "
        "clip length); 0: one pass.",
        json_schema_extra=unit("s"),
    )
    join_s: float = Field(
        1.0, ge=0, le=10, description="Crossfade at each join of a stitched soundscape.", json_schema_extra=unit("s")
    )
    fallback: str = Field(
        "procedural", description="Generator (a key of `generators`) that plays while this one works or if it fails."
    )

    def settings(self) -> dict[str, Any]:
        """Constructor keywords for the backend (see ``art2mus.models.registry``)."""
        return self.model_dump(exclude={"type", "fallback"})


GeneratorConfig = Annotated[ProceduralGeneratorConfig | Art2MusGeneratorConfig, Field(discriminator="type")]
