"""Image encoders: image(s) -> L2-normalised embedding of shape ``(batch, dim)``.

``load_image_encoder(kind, path)`` picks the backend by name; the backends are imported only when
loaded, so importing this package does not import torch, transformers or onnxruntime.

=============  ===========================================================  =======================
kind           path                                                         class
=============  ===========================================================  =======================
``imagebind``  directory with ``imagebind_huge.pth`` (or ``config.json``)   ``ImageBindEncoder``
``clip``       transformers directory (CLIPVisionModelWithProjection)        ``CLIPEncoder``
``onnx``       directory made by ``export_onnx_encoder``                     ``OnnxImageEncoder``
=============  ===========================================================  =======================
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from art2mus.models.encoders.base import EncoderLoadError, EncoderSpec, ImageEncoder

# kind -> "module:class"; each class has ``from_pretrained(path, device=..., dtype=...)``.
ENCODER_BACKENDS: dict[str, str] = {
    "imagebind": "art2mus.models.encoders.imagebind:ImageBindEncoder",
    "clip": "art2mus.models.encoders.clip:CLIPEncoder",
    "onnx": "art2mus.models.encoders.onnx:OnnxImageEncoder",
}

__all__ = ["ENCODER_BACKENDS", "EncoderLoadError", "EncoderSpec", "ImageEncoder", "load_image_encoder"]


def load_image_encoder(
    kind: str,
    path: str | Path,
    device: Any = "cpu",
    dtype: Any = None,
    backends: dict[str, str] | None = None,
    **options: Any,
) -> ImageEncoder:
    """Load a frozen image encoder of ``kind`` from the local ``path``; nothing is downloaded.

    Args:
        kind: ``"imagebind"``, ``"clip"`` or ``"onnx"`` (a key of ``backends``).
        path: the model directory (or file) for that kind, see the module docstring.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (and ``"auto"`` for ONNX: CUDA when present).
        dtype: ``None`` (float32), ``"float16"`` or ``"bfloat16"`` for torch encoders; ONNX is float32.
        backends: kind -> ``"module:Class"`` table; defaults to :data:`ENCODER_BACKENDS`.
        options: passed on to the class's ``from_pretrained`` (e.g. ``max_batch``).

    Raises ``ValueError`` for an unknown kind, ``FileNotFoundError`` for a missing path and
    :class:`EncoderLoadError` for files that are not the expected model.
    """
    table = ENCODER_BACKENDS if backends is None else backends
    if kind not in table:
        raise ValueError(f"kind: unknown image encoder {kind!r}; expected one of {sorted(table)}")
    module_name, _, class_name = table[kind].partition(":")
    encoder_class = getattr(importlib.import_module(module_name), class_name)
    return encoder_class.from_pretrained(path, device=device, dtype=dtype, **options)
