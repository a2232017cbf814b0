"""ImageBind's ``*Config``: the ``type: imagebind`` encoder's settings, beside :mod:`.imagebind`.

A sibling module rather than a class in :mod:`.imagebind` because that module defines torch layers
(``nn.Module`` subclasses) at import time, and this config must import without torch: the exhibit's
``generators.<name>.encoder`` union is read on machines that have none.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from art2mus.models.encoders.base import EncoderConfig


class ImageBindEncoderConfig(EncoderConfig):
    """ImageBind: a directory with ``imagebind_huge.pth`` (or ``config.json`` + its checkpoint), or a ``.pth``."""

    type: Literal["imagebind"] = "imagebind"
    modalities: tuple[Literal["vision", "text", "audio", "depth", "thermal", "imu"], ...] = Field(
        ("vision", "audio"), min_length=1, description="Modalities kept after loading ('vision' is needed)."
    )
