"""The audio engine: voices and crossfades, loudness-matched clips, a bus limiter and outputs that
survive a lost device. See :mod:`art2mus.installation.audio.engine` for how the pieces fit; the outputs
are a ``type:`` family (:mod:`~art2mus.installation.audio.backends`).

The names below are imported on first use, so that importing one output module (as the exhibit config
does for its ``audio.output`` union) does not load the loudness meter's scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

#: exported name -> the module that defines it
_EXPORTS = {
    "AudioClip": "clip",
    "load_clip_file": "clip",
    "prepare_clip": "clip",
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "AudioEngine": "engine",
    "Backoff": "engine",
    "TruePeakLimiter": "limiter",
    "Mixer": "mixer",
    "Voice": "mixer",
    "OUTPUT_TYPES": "backends",
    "create_output": "backends",
    "AudioOutput": "outputs",
    "NullOutput": "outputs",
    "OutputError": "outputs",
    "WavOutput": "outputs",
    "FrameRingBuffer": "ringbuffer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
