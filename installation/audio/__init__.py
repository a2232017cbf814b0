"""The audio engine: voices and crossfades, loudness-matched clips, a bus limiter and outputs that
survive a lost device. See :mod:`art2mus.installation.audio.engine` for how the pieces fit."""

from art2mus.installation.audio.clip import AudioClip, load_clip_file, prepare_clip
from art2mus.installation.audio.clock import Clock, ManualClock, SystemClock
from art2mus.installation.audio.engine import AudioEngine, Backoff
from art2mus.installation.audio.limiter import TruePeakLimiter
from art2mus.installation.audio.mixer import Mixer, Voice
from art2mus.installation.audio.outputs import (
    OUTPUT_TYPES,
    AudioOutput,
    NullOutput,
    OutputError,
    WavOutput,
    create_output,
)
from art2mus.installation.audio.ringbuffer import FrameRingBuffer

__all__ = [
    "OUTPUT_TYPES",
    "AudioClip",
    "AudioEngine",
    "AudioOutput",
    "Backoff",
    "Clock",
    "FrameRingBuffer",
    "ManualClock",
    "Mixer",
    "NullOutput",
    "OutputError",
    "SystemClock",
    "TruePeakLimiter",
    "Voice",
    "WavOutput",
    "create_output",
    "load_clip_file",
    "prepare_clip",
]
