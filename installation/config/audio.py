"""The audio section of the exhibit config: the output device (an ``audio.output`` backend, see
:mod:`art2mus.installation.audio.backends`) and the mix."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from art2mus.installation.audio.backends import AudioOutputConfig
from art2mus.installation.audio.outputs import NullOutputConfig, WavOutputConfig
from art2mus.installation.audio.portaudio import PyAudioOutputConfig
from art2mus.installation.config.base import StrictModel, seconds, unit

# each output declares its config beside its class; the union is built from the one list of outputs
__all__ = ["AudioConfig", "AudioOutputConfig", "NullOutputConfig", "PyAudioOutputConfig", "WavOutputConfig"]


class AudioConfig(StrictModel):
    """The mix bus and where it goes."""

    output: AudioOutputConfig = Field(default_factory=PyAudioOutputConfig, description="Where the mix is played.")
    sample_rate: int = Field(48000, ge=8000, le=192000, description="Mix sample rate.", json_schema_extra=unit("Hz"))
    channels: int = Field(2, ge=1, le=2, description="1 for mono, 2 for stereo.")
    master_volume: float = Field(
        0.8,
        ge=0,
        le=1,
        description="The room's level as a linear gain, 0 (silent) to 1 (full level: 0.5 is -6 dB); "
        "a schedule period's volume multiplies it.",
    )
    crossfade_seconds: float = seconds(
        4.0,
        "Length of the crossfade between two soundscapes. It is also how long the camera must go on choosing an "
        "artwork before the room returns to one heard in the last 30 s, or switches again while a crossfade is "
        "still running, so a visitor flickering between two artworks does not swing the room back and forth; a "
        "visitor walking on to another artwork, or arriving while the idle ambience plays, is followed at once.",
        ge=0,
        le=60,
    )
    loudness_lufs: float = Field(
        -23.0,
        ge=-60,
        le=-5,
        description="Every soundscape is normalised to this integrated loudness (ITU-R BS.1770), which the room "
        "plays at master_volume 1 (and a period volume of 1): at master_volume 0.8 it measures 1.9 dB lower "
        "(-24.9 LUFS for -23). An artwork's soundscape.gain_db raises or lowers its soundscape from it, and the "
        "idle ambience plays at it plus idle.gain_db (-9 dB by default). Changing it re-levels the cached "
        "soundscapes without rendering them again, at a reload or a restart (the target is not in the cache key).",
        json_schema_extra=unit("LUFS"),
    )
    limiter_ceiling_dbtp: float = Field(
        -1.0, ge=-20, le=0, description="The bus limiter keeps peaks below this level.", json_schema_extra=unit("dBTP")
    )
    buffer_seconds: float = seconds(0.5, "Audio mixed ahead of the device (protects against stalls).", ge=0.05, le=5)
    loop_crossfade_seconds: float = seconds(
        0.25,
        "A looping soundscape whose end does not flow into its start gets this much of its end blended "
        "into its start, so the loop point cannot click (0: never).",
        ge=0,
        le=5,
    )
    memory_mb: float = Field(
        1024,
        ge=0,
        description="Decoded soundscapes held in memory (float32 at the mix rate: 14.6 MB per 40 s of stereo "
        "at 48 kHz); those chosen least recently are let go and read again from the soundscape cache or "
        "their audio file when chosen (about 60 ms of CPU for 40 s from the cache); a start reads only those "
        "that fit. 0 holds every one.",
        json_schema_extra=unit("MB"),
    )
    reconnect_min_seconds: float = seconds(
        0.5, "First wait before reopening a lost output; it doubles after each failed try.", ge=0.05, le=60
    )
    reconnect_max_seconds: float = seconds(
        30.0, "Longest wait between two tries to reopen a lost output.", ge=0.1, le=3600
    )

    @field_validator("output", mode="before")
    @classmethod
    def _unquoted_null_type(cls, value: object) -> object:
        """``type: null`` written without quotes is YAML's empty value, not the text "null": the output that
        discards the mix is meant (exhibits/README.md lists it so)."""
        if isinstance(value, dict) and "type" in value and value["type"] is None:
            return {**value, "type": "null"}
        return value

    @model_validator(mode="after")
    def _backoff_in_order(self) -> AudioConfig:
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            raise ValueError(
                f"reconnect_max_seconds ({self.reconnect_max_seconds:g}) must not be below "
                f"reconnect_min_seconds ({self.reconnect_min_seconds:g})"
            )
        return self
