"""The image encoders' ``*Config`` models: what ``type:`` an encoder has and the settings it loads with.

They live apart from the backends because the backends import torch (or onnxruntime) when imported,
and the configs (and the :data:`~art2mus.models.encoders.ENCODERS` registry built on them) must not: the
exhibit config and the generator's ``encoder:`` choices are read on machines without torch. Each
backend class names its config in ``config_class`` and is built ``from_config``
(:meth:`~art2mus.models.encoders.base.ImageEncoder.from_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from art2mus.common.schema import StrictModel


class EncoderConfig(StrictModel):
    """What every image encoder loads with; a backend's config adds its own settings."""

    type: str
    path: Path = Field(
        description="The model directory (or file) for this encoder type; nothing is downloaded."
    )
    device: str = Field(
        "cpu", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="cpu, cuda, cuda:N (auto: ONNX only)."
    )
    dtype: Literal["float32", "float16", "bfloat16"] | None = Field(
        None, description="Precision of a torch encoder (default float32); ONNX runs in float32."
    )
    max_batch: int = Field(
        16, ge=1, le=4096, description="Images per forward pass (larger inputs are split)."
    )

    def options(self) -> dict[str, Any]:
        """The backend's own settings: ``from_pretrained`` keywords beyond path, device and dtype."""
        return self.model_dump(exclude={"type", "path", "device", "dtype"})


class ImageBindEncoderConfig(EncoderConfig):
    """ImageBind: a directory with ``imagebind_huge.pth`` (or ``config.json`` + its checkpoint), or a ``.pth``."""

    type: Literal["imagebind"] = "imagebind"
    modalities: tuple[Literal["vision", "text", "audio", "depth", "thermal", "imu"], ...] = Field(
        ("vision", "audio"), min_length=1, description="Modalities kept after loading ('vision' is needed)."
    )


class CLIPEncoderConfig(EncoderConfig):
    """CLIP's image tower: a transformers directory (CLIPVisionModelWithProjection)."""

    type: Literal["clip"] = "clip"


class OnnxEncoderConfig(EncoderConfig):
    """An ONNX export: a directory made by ``export_onnx_encoder``."""

    type: Literal["onnx"] = "onnx"
    threads: int = Field(0, ge=0, le=1024, description="onnxruntime intra-op threads (0: one per core).")
    allow_spinning: bool = Field(
        False, description="Let onnxruntime's idle workers busy-wait after each run."
    )
