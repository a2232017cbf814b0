"""Image encoders: image(s) -> L2-normalised embedding of shape ``(batch, dim)``.

The encoders follow the plugin pattern of every ``type:`` family (:mod:`art2mus.common.plugins`): each
backend declares a ``*Config`` (importable without torch) and a class built ``from_config``;
:data:`ENCODERS` lists them once and gives the config union (:data:`ImageEncoderConfig`) and the lookup
(:func:`create_encoder`). The ONNX backend imports torch and onnxruntime inside its functions, so its
config sits in :mod:`.onnx` beside its class; ImageBind's and CLIP's modules define torch layers at
import time, so each has a torch-free sibling for its config (:mod:`.imagebind_config`,
:mod:`.clip_config`), which keeps the heavy module whole instead of hiding ``nn.Module`` subclasses in
functions. Every entry is a :class:`~art2mus.common.plugins.LazyBackend` (config plus ``"module:Class"``),
so a backend class is imported only when one is built. Importing this package imports no torch, transformers or
onnxruntime. A new backend is one module (plus a ``*_config`` sibling if it imports torch at the top) and
one line in :data:`ENCODERS`.
``load_image_encoder(kind, path)`` is the short form used by the loaders.

=============  ===========================================================  =======================
type           path                                                         class
=============  ===========================================================  =======================
``imagebind``  directory with ``imagebind_huge.pth`` (or ``config.json``)   ``ImageBindEncoder``
``clip``       transformers directory (CLIPVisionModelWithProjection)        ``CLIPEncoder``
``onnx``       directory made by ``export_onnx_encoder``                     ``OnnxImageEncoder``
=============  ===========================================================  =======================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from art2mus.common.plugins import LazyBackend, Registry, import_target
from art2mus.models.encoders.base import EncoderConfig, EncoderLoadError, EncoderSpec, ImageEncoder
from art2mus.models.encoders.clip_config import CLIPEncoderConfig
from art2mus.models.encoders.imagebind_config import ImageBindEncoderConfig
from art2mus.models.encoders.onnx import OnnxEncoderConfig

#: the image encoders, listed once
ENCODERS = Registry(
    "image encoder",
    [
        LazyBackend("art2mus.models.encoders.imagebind:ImageBindEncoder", ImageBindEncoderConfig),
        LazyBackend("art2mus.models.encoders.clip:CLIPEncoder", CLIPEncoderConfig),
        LazyBackend("art2mus.models.encoders.onnx:OnnxImageEncoder", OnnxEncoderConfig),
    ],
)
#: one of the encoders' configs, chosen by ``type``
ImageEncoderConfig = ENCODERS.config_union()
#: type -> ``"module:Class"`` (derived from :data:`ENCODERS`); each class has ``from_pretrained(path, device=..., dtype=...)``.
ENCODER_BACKENDS: dict[str, str] = {name: entry.target for name, entry in ENCODERS.types.items()}

__all__ = [
    "ENCODERS",
    "ENCODER_BACKENDS",
    "EncoderConfig",
    "EncoderLoadError",
    "EncoderSpec",
    "ImageEncoder",
    "ImageEncoderConfig",
    "create_encoder",
    "load_image_encoder",
]


def create_encoder(config: EncoderConfig, types: Mapping[str, Any] | None = None) -> ImageEncoder:
    """The encoder ``config`` describes (chosen by its ``type``), loaded from its local path.

    ``types``: a replacement ``type`` -> backend table (default: :data:`ENCODERS`'s).
    """
    return ENCODERS.create(config, types)


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
        dtype: ``None`` (float32), ``"float16"`` or ``"bfloat16"`` (or a torch dtype) for torch encoders; ONNX is float32.
        backends: kind -> ``"module:Class"`` table; defaults to :data:`ENCODER_BACKENDS`.
        options: passed on to the class's ``from_pretrained`` (e.g. ``max_batch``).

    Raises ``ValueError`` for an unknown kind, ``FileNotFoundError`` for a missing path and
    :class:`EncoderLoadError` for files that are not the expected model.
    """
    table = ENCODER_BACKENDS if backends is None else backends
    if kind not in table:
        raise ValueError(f"kind: unknown image encoder {kind!r}; expected one of {sorted(table)}")
    return import_target(table[kind]).from_pretrained(path, device=device, dtype=dtype, **options)
