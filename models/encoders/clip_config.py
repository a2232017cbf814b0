"""CLIP's ``*Config``: the ``type: clip`` encoder's settings, beside :mod:`.clip`.

A sibling module rather than a class in :mod:`.clip` because that module subclasses torch's
``nn.Module`` at import time, and this config must import without torch (the exhibit config reads it).
"""

from __future__ import annotations

from typing import Literal

from art2mus.models.encoders.base import EncoderConfig


class CLIPEncoderConfig(EncoderConfig):
    """CLIP's image tower: a transformers directory (CLIPVisionModelWithProjection)."""

    type: Literal["clip"] = "clip"
