"""The image-encoder interface shared by ImageBind, CLIP and their ONNX exports, and the settings every
encoder's ``*Config`` starts from (:class:`EncoderConfig`). Imports no torch."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from art2mus.common.schema import StrictModel

if TYPE_CHECKING:
    import torch


class EncoderConfig(StrictModel):
    """What every image encoder loads with; a backend's ``*Config`` adds its own settings and its ``type``."""

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


class EncoderLoadError(ValueError):
    """A model file or directory exists but is not what the loader expected (garbled, wrong model).

    The message names the path and what was expected. A path that does not exist raises
    ``FileNotFoundError`` instead.
    """


@dataclass(frozen=True)
class EncoderSpec:
    """What an embedding space is: aligners record it and refuse to load against another.

    Attributes:
        name: the encoder family and size, e.g. ``"imagebind_huge"`` or ``"clip-vit-large-patch14"``.
        dim: embedding size (e.g. 1024 for ImageBind huge, 768 for CLIP ViT-L/14).
    """

    name: str
    dim: int


class ImageEncoder(abc.ABC):
    """Images -> L2-normalised embeddings of shape ``(batch, dim)``.

    Images are RGB ``uint8`` arrays of shape ``(height, width, 3)``; the encoder does its own resizing,
    cropping and normalisation. Encoders are frozen (eval mode, no gradients).
    """

    spec: EncoderSpec
    #: the backend's ``*Config`` (an :class:`EncoderConfig` with a ``type`` literal)
    config_class: ClassVar[type[EncoderConfig]]

    @classmethod
    def from_pretrained(
        cls, path: Any, device: Any = "cpu", dtype: Any = None, **options: Any
    ) -> ImageEncoder:
        """Load from a local path; each backend implements it."""
        raise NotImplementedError(f"{cls.__name__} does not load from a path")

    @classmethod
    def from_config(cls, config: EncoderConfig) -> ImageEncoder:
        """The encoder ``config`` describes: :meth:`from_pretrained` with its path, device, dtype and options."""
        return cls.from_pretrained(config.path, device=config.device, dtype=config.dtype, **config.options())

    @abc.abstractmethod
    def encode_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Embed ``images``; returns a float32 tensor ``(len(images), dim)`` with unit L2 norm per row."""

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Like :meth:`encode_images` but returns a NumPy ``(batch, dim)`` float32 array on the CPU."""
        return self.encode_images(images).detach().float().cpu().numpy()
