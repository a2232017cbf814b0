"""Where the mix goes: a base class and the outputs that need no sound card (``wav``, ``null``).

Two kinds of output:

* device-paced (``pyaudio``): the device pulls frames from the engine's ring buffer at its own rate;
* clock-paced (``wav``, ``null``): the engine pushes each block with :meth:`AudioOutput.write` when
  its clock says the block is due, so a WAV file fills at the speed of the (possibly simulated) clock.

Each output module declares its ``*Config`` beside its class (``wav`` and ``null`` here, ``pyaudio`` in
:mod:`~art2mus.installation.audio.portaudio`); :mod:`~art2mus.installation.audio.backends` lists them once,
for the exhibit's ``audio.output`` union and for :func:`~art2mus.installation.audio.backends.create_output`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from art2mus.common.schema import OutputPath, StrictModel
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


class NullOutputConfig(StrictModel):
    """Discard the mix (the mixer still runs; useful for benchmarks)."""

    type: Literal["null"] = Field("null", description="Discard the audio.")


class WavOutputConfig(StrictModel):
    """Write the mix to a WAV file (tests, simulation, a machine without a sound card)."""

    type: Literal["wav"] = Field("wav", description="Write the mix to a WAV file.")
    path: OutputPath = Field(
        Path("art2mus-output.wav"), description="The WAV file to write (relative to this YAML file)."
    )
    realtime: bool = Field(True, description="Pace writing by the clock (false: as fast as the mixer runs).")
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = Field(
        "PCM_16", description="Sample format: 16- or 24-bit integer, or 32-bit float (exactly the mix)."
    )


class NullOutput(AudioOutput):
    """Discards the mix (the mixer keeps running: useful for benchmarks and headless tests)."""

    type = "null"
    config_class = NullOutputConfig

    def __init__(self, realtime: bool = True):
        self.realtime = realtime
        self.frames_written = 0

    @classmethod
    def from_config(cls, config: NullOutputConfig) -> NullOutput:
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
    config_class = WavOutputConfig

    def __init__(self, path: str | Path, realtime: bool = True, subtype: str = "PCM_16"):
        self.path = Path(path)
        self.realtime = realtime
        self.subtype = subtype
        self._file = None
        self._opened_before = False
        self.frames_written = 0

    @classmethod
    def from_config(cls, config: WavOutputConfig) -> WavOutput:
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
                    str(self.path),
                    "w",
                    samplerate=sample_rate,
                    channels=channels,
                    subtype=self.subtype,
                    format="WAV",
                )
        except OutputError:
            raise
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot open WAV output {self.path}: {_reason(exc, None)}") from None
        # (a reopening after a write error: the engine's own line says the output is back)
        log = logger.debug if self._opened_before else logger.info
        self._opened_before = True
        log("writing the mix to %s (%d Hz, %d ch, %s)", self.path, sample_rate, channels, self.subtype)

    def write(self, block: np.ndarray) -> None:
        if self._file is None:
            raise OutputError(f"WAV output {self.path} is not open")
        try:
            self._file.write(block)
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot write to {self.path}: {_reason(exc, self._file)}") from None
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


def _reason(exc: Exception, sound_file: Any) -> str:
    """Why a soundfile call failed, with the operating system's reason where there was one.

    soundfile words a failed ``write(2)`` as libsndfile's bare "System error."; libsndfile keeps the
    ``strerror`` of the errno it met ("No space left on device") for ``sf_strerror``, per open file, or
    for the last failed open (``sound_file`` None)."""
    code = getattr(exc, "code", None)
    if code != 2:  # SFE_SYSTEM; anything else (an OSError, a format error) already says what it is
        return str(exc)
    try:
        from soundfile import _ffi, _snd  # soundfile's own libsndfile handle: no second copy is loaded

        handle = sound_file._file if sound_file is not None else _ffi.NULL
        text = _ffi.string(_snd.sf_strerror(handle)).decode("utf-8", "replace")
    except (ImportError, AttributeError, TypeError):  # another soundfile than the one this was written for
        return str(exc)
    prefix = "System error : "
    if not text.startswith(prefix):
        return str(exc)
    reason = text[len(prefix) :].rstrip(".")
    return f"{getattr(exc, 'prefix', '')}{reason}"


OutputFactory = Callable[[Any], AudioOutput]
