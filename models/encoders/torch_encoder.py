"""An :class:`ImageEncoder` backed by a torch "tower": normalised pixels ``(B, 3, H, W)`` -> ``(B, dim)``.

ImageBind and CLIP differ only in their tower and their preprocessing, so both derive from
:class:`TorchImageEncoder`; the ONNX exporter exports exactly the same tower.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from art2mus.models.encoders.base import EncoderSpec, ImageEncoder
from art2mus.models.encoders.preprocess import ImagePreprocessor

logger = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """``None`` -> float32; accepts a torch dtype or one of ``float32/float16/bfloat16`` (``fp16``...)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"dtype: expected float32, float16 or bfloat16, got {dtype}")
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return _DTYPES[dtype.lower()]
    raise ValueError(f"dtype: expected one of {sorted(_DTYPES)} or a torch dtype, got {dtype!r}")


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Put ``module`` in eval mode with ``requires_grad=False`` everywhere; returns it."""
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


class TorchImageEncoder(ImageEncoder):
    """Images -> L2-normalised ``(batch, dim)`` float32 embeddings through a frozen torch tower.

    Args:
        tower: module mapping normalised pixels ``(B, 3, crop_h, crop_w)`` (``dtype`` on ``device``)
            to embeddings ``(B, dim)`` (not necessarily normalised). Frozen here.
        preprocessor: turns RGB uint8 images into the tower's pixels.
        spec: the embedding space (name, dim).
        device: where the tower runs.
        dtype: the tower's floating-point type; the returned embeddings are always float32.
        max_batch: images per forward pass (larger inputs are split), to bound memory.
    """

    def __init__(
        self,
        tower: torch.nn.Module,
        preprocessor: ImagePreprocessor,
        spec: EncoderSpec,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str | None = None,
        max_batch: int = 16,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: expected at least 1 image per pass, got {max_batch}")
        self.device = torch.device(device)
        self.dtype = resolve_dtype(dtype)
        self.tower = freeze(tower.to(device=self.device, dtype=self.dtype))
        self.preprocessor = preprocessor
        self.spec = spec
        self.max_batch = max_batch

    def pixel_values(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The tower's input for ``images``: ``(batch, 3, crop_h, crop_w)`` on the encoder's device/dtype."""
        return torch.from_numpy(self.preprocessor(images)).to(device=self.device, dtype=self.dtype)

    @torch.no_grad()
    def encode_pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Tower output for preprocessed pixels, L2-normalised in float32: ``(batch, dim)``."""
        chunks = [self.tower(chunk) for chunk in pixel_values.split(self.max_batch)]
        embeddings = torch.cat(chunks).float()
        if embeddings.ndim != 2 or embeddings.shape[1] != self.spec.dim:
            raise RuntimeError(
                f"{self.spec.name}: tower returned shape {tuple(embeddings.shape)}, expected (batch, {self.spec.dim})"
            )
        return torch.nn.functional.normalize(embeddings, dim=-1)

    def encode_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Embed RGB uint8 ``(H, W, 3)`` images; returns float32 ``(len(images), dim)``, unit L2 rows, on ``device``."""
        return self.encode_pixels(self.pixel_values(images))

    def describe(self) -> dict[str, Any]:
        """What this encoder is, for logs and the ONNX sidecar file."""
        return {
            "name": self.spec.name,
            "dim": self.spec.dim,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "parameters": sum(p.numel() for p in self.tower.parameters()),
        }
