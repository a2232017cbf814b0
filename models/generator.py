"""The one interface every soundscape generator shares: image -> waveform + sample rate + metadata.

The procedural sonifier, the Art2Mus model and any future backend implement :class:`Generator`, so the
daemon, pre-rendering and the ``art2mus render`` command never care which one made a soundscape.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GenerationRequest:
    """What to make from an image.

    Attributes:
        duration_s: length of the soundscape in seconds (> 0).
        seed: seed of every random choice; the same image, seed and settings give the same audio.
        loop: make the end flow seamlessly into the start, so the soundscape can repeat gaplessly.
        loudness_lufs: integrated loudness (ITU-R BS.1770) the output is normalised to, in LUFS.
        options: backend-specific settings (e.g. ``num_inference_steps`` for ``art2mus``).
    """

    duration_s: float = 30.0
    seed: int = 0
    loop: bool = True
    loudness_lufs: float = -23.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be > 0 seconds, got {self.duration_s}")


@dataclass
class Soundscape:
    """A generated piece of audio.

    Attributes:
        waveform: float32 samples in [-1, 1], shape ``(frames,)`` for mono or ``(frames, channels)``.
        sample_rate: samples per second, Hz.
        metadata: what made it (generator name, seed, mapping decisions, model versions...);
            JSON-serialisable so the cache can store it beside the audio.
    """

    waveform: np.ndarray
    sample_rate: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return 1 if self.waveform.ndim == 1 else int(self.waveform.shape[1])

    @property
    def duration_s(self) -> float:
        return self.waveform.shape[0] / float(self.sample_rate)


class Generator(abc.ABC):
    """Turns an image into a soundscape.

    Images are RGB ``uint8`` arrays of shape ``(height, width, 3)`` (convert OpenCV's BGR first).
    Implementations must be deterministic for a given image, request and model.
    """

    #: the name used by ``type:`` in the exhibit and ``--generator`` on the CLI.
    name: str = ""
    #: the backend's pydantic ``*Config`` (``type`` literal = :attr:`name`); its fields are the settings
    config_class: Any = None
    #: the licence of the code and of any weights it loads (the control panel shows it)
    licence: str = ""
    #: pip extras it needs beyond the core (e.g. ``model``)
    extras: tuple[str, ...] = ()
    #: one line for ``--help`` and the control panel
    description: str = ""
    #: part of the soundscape cache's key for this generator's renderings: bump it when the same image,
    #: request and settings give different audio, and only this generator's soundscapes are made again
    #: (2: the version every generator's entries were keyed with while one number served them all)
    render_version: int = 2

    @classmethod
    def from_config(cls, config: Any) -> Generator:
        """The generator ``config`` (a :attr:`config_class`) describes."""
        return cls(**config.settings())

    @abc.abstractmethod
    def generate(self, image: np.ndarray, request: GenerationRequest) -> Soundscape:
        """Make a soundscape from ``image`` (RGB uint8, ``(H, W, 3)``)."""

    @classmethod
    def cache_identity(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """What besides ``settings`` decides the audio (e.g. the content hash of loaded weights).

        Cheap and without loading a model: the soundscape cache adds it to its key, so changed weights at
        an unchanged path re-render. Default: nothing.
        """
        return {}

    @classmethod
    def cache_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """What of ``settings`` the soundscape cache keys: those that decide the audio, not where a file
        lives (what a file holds is :meth:`cache_identity`'s). Default: all of them."""
        return dict(settings)

    @classmethod
    def earlier_cache_settings(cls, settings: dict[str, Any], base_dir: Path) -> list[dict[str, Any]]:
        """The ``settings`` as earlier versions keyed them besides as they are (an old default filled in,
        ``base_dir``: the exhibit's folder), so that their entries are found after an upgrade. Default: none."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook, most generators hold nothing
        """Release devices and memory held by the generator (GPU memory, worker processes)."""
