"""The exhibit's ``unseen:`` section: artworks the room has never seen (not in ``artworks``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from art2mus.installation.config.base import OutputPath, StrictModel, seconds, unit


class UnseenConfig(StrictModel):
    """Framed pictures not in `artworks`, held still before the camera, get a soundscape of their own.

    It is made from a rectified crop of the picture (never the whole frame), and the picture is remembered."""

    enabled: bool = Field(
        False, description="Give pictures that are not in `artworks` a soundscape of their own."
    )
    dwell_seconds: float = seconds(
        3.0,
        "How long an unknown framed picture must stay still in view before it gets a soundscape.",
        gt=0,
        le=120,
    )
    min_size_fraction: float = Field(
        0.08,
        gt=0,
        lt=1,
        description="Smallest picture, as a fraction of the frame's area.",
        json_schema_extra=unit("fraction"),
    )
    generator: str = Field(
        "procedural", min_length=1, description="Generator of their soundscapes (a key of `generators`)."
    )
    duration: float = seconds(30.0, "Length of an unseen artwork's soundscape.", gt=0, le=600)
    remember: int = Field(
        50,
        ge=1,
        le=10000,
        description="How many unseen artworks are remembered (the least recently seen are forgotten).",
    )
    dir: OutputPath = Field(
        Path(".art2mus/unseen"),
        description="Where their crops (the rectified picture only, never whole frames) are kept (relative to this YAML file).",
    )
