"""Where the mix goes: a base class and the outputs that need no sound card (``wav``, ``null``).

Two kinds of output:

* device-paced (``pyaudio``): the device pulls frames from the engine's ring buffer at its own rate;
* clock-paced (``wav``, ``null``): the engine pushes each block with :meth:`AudioOutput.write` when
  its clock says the block is due, so a WAV file fills at the speed of the (possibly simulated) clock.

Outputs are chosen by ``type:`` in the exhibit's ``audio.output`` section through
:data:`OUTPUT_TYPES`, a plain dict a test can replace.
"""

from __future__ import annotations

import abc
import importlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from art2mus.installation.audio.ringbuffer import FrameRingBuffer

logger = logging.getLogger(__name__)


class OutputError(RuntimeError):
    """The output cannot be opened, or it failed while playing (the engine retries with backoff)."""


class AudioOutput(abc.ABC):
    """A sink for the mix.

    Lifecycle, driven by the engine's device thread: :meth:`open` (may raise :class:`OutputError`),
    then either the device pulls from the ring (device-paced) or the engine calls :meth:`write`
    (clock-paced); :meth:`is_alive` reports failures; :meth:`close` may be followed by another
    :meth:`open` when the engine reconnects.
    """

    #: the ``type:`` this output is chosen by.
    type: str = ""
    #: True when the device pulls audio from the ring at its own pace.
    device_paced: bool = False
    #: clock-paced outputs: wait for the clock (False: write as fast as the mixer runs).
    realtime: bool = True
    #: why :meth:`is_alive` last said False, for logs and the status page.
    failure: str | None = None

    @abc.abstractmethod
    def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
        """Start the output at ``sample_rate`` Hz with ``channels`` channels; raise :class:`OutputError`."""

    def write(self, block: np.ndarray) -> None:
        """Consume one block (float32 ``(frames, channels)``); clock-paced outputs only."""
        raise NotImplementedError(f"{type(self).__name__} is device-paced: the device pulls from the ring")

    def is_alive(self) -> bool:
        """False once the output has failed (the engine then closes it and reconnects)."""
        return True

    @abc.abstractmethod
    def close(self) -> None:
        """Stop and release the output (never raises; a stuck device is logged)."""

    def describe(self) -> dict[str, Any]:
        """A few JSON-friendly facts for the status page."""
        return {"type": self.type}


class NullOutput(AudioOutput):
    """Discards the mix (the mixer keeps running: useful for benchmarks and headless tests)."""

    type = "null"

    def __init__(self, realtime: bool = True):
        self.realtime = realtime
        self.frames_written = 0

    @classmethod
    def from_config(cls, config: Any) -> NullOutput:
        return cls()

    def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
        self.frames_written = 0

    def write(self, block: np.ndarray) -> None:
        self.frames_written += block.shape[0]

    def close(self) -> None:
        pass


class WavOutput(AudioOutput):
    """Writes the mix to a WAV file, one block at a time, as the engine's clock advances.

    Args:
        path: the file; created (or truncated) on the first open, appended to when the engine
            reopens it after a write error.
        realtime: pace writing by the engine's clock (False: as fast as the mixer runs).
        subtype: libsndfile subtype, e.g. ``PCM_16``, ``PCM_24``, ``FLOAT`` (exact).
    """

    type = "wav"

    def __init__(self, path: str | Path, realtime: bool = True, subtype: str = "PCM_16"):
        self.path = Path(path)
        self.realtime = realtime
        self.subtype = subtype
        self._file = None
        self._opened_before = False
        self.frames_written = 0

    @classmethod
    def from_config(cls, config: Any) -> WavOutput:
        return cls(config.path, realtime=config.realtime, subtype=config.subtype)

    def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
        import soundfile

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._opened_before and self.path.exists():
                existing = soundfile.SoundFile(str(self.path), "r+")
                if existing.samplerate != sample_rate or existing.channels != channels:
                    have = f"{existing.samplerate} Hz x {existing.channels} ch"
                    existing.close()
                    raise OutputError(
                        f"cannot append the mix ({sample_rate} Hz x {channels} ch) to {self.path}, which holds {have}"
                    )
                existing.seek(0, soundfile.SEEK_END)
                self._file = existing
            else:
                self._file = soundfile.SoundFile(
                    str(self.path), "w", samplerate=sample_rate, channels=channels, subtype=self.subtype, format="WAV"
                )
        except OutputError:
            raise
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot open WAV output {self.path}: {exc}") from None
        self._opened_before = True
        logger.info("writing the mix to %s (%d Hz, %d ch, %s)", self.path, sample_rate, channels, self.subtype)

    def write(self, block: np.ndarray) -> None:
        if self._file is None:
            raise OutputError(f"WAV output {self.path} is not open")
        try:
            self._file.write(block)
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot write to {self.path}: {exc}") from None
        self.frames_written += block.shape[0]

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except (RuntimeError, OSError):
                logger.warning("closing %s failed", self.path, exc_info=True)
            self._file = None

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "path": str(self.path), "frames_written": self.frames_written}


#: ``type:`` -> output class, or ``"module:Class"`` imported on first use (PyAudio loads PortAudio).
OUTPUT_TYPES: dict[str, type[AudioOutput] | str] = {
    "pyaudio": "art2mus.installation.audio.portaudio:PyAudioOutput",
    "wav": WavOutput,
    "null": NullOutput,
}


def output_class(type_name: str, types: Mapping[str, type[AudioOutput] | str] | None = None) -> type[AudioOutput]:
    """The output class registered for ``type_name``; ``ValueError`` listing the known types otherwise."""
    registry = OUTPUT_TYPES if types is None else types
    try:
        entry = registry[type_name]
    except KeyError:
        raise ValueError(f"unknown audio output type {type_name!r}; expected one of {', '.join(sorted(registry))}") from None
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), attr)
    return entry


def create_output(config: Any, types: Mapping[str, type[AudioOutput] | str] | None = None) -> AudioOutput:
    """Build the output described by an ``audio.output`` config section (chosen by its ``type``)."""
    return output_class(config.type, types).from_config(config)


OutputFactory = Callable[[Any], AudioOutput]
