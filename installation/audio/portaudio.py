"""The sound card through PortAudio (PyAudio): a callback stream that only copies from the ring.

* The device is chosen by **name** (indices change when cards come and go): an exact,
  case-insensitive match wins, otherwise the first output device whose name contains the text.
* PortAudio lists devices only when it is initialised, so every :meth:`PyAudioOutput.open` starts a
  fresh PortAudio instance (``terminate()`` then ``PyAudio()``): that is how a re-plugged USB card
  is found again.
* The callback copies frames out of the engine's ring buffer and returns; no mixing, no locks.
* Failure shows as an inactive stream (PortAudio stops the callback thread after a host error) or
  as a callback that stops being called (a stuck device); :meth:`PyAudioOutput.is_alive` reports
  both and the engine reconnects.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from art2mus.common.schema import StrictModel, seconds
from art2mus.installation.audio.outputs import AudioOutput, OutputError
from art2mus.installation.audio.ringbuffer import FrameRingBuffer

logger = logging.getLogger(__name__)

# ctypes callbacks must stay referenced for as long as the C libraries may call them.
_NATIVE_LOG_HANDLERS: list[Any] = []


def quiet_native_audio_logs() -> bool:
    """Stop ALSA and JACK from printing to stderr (they do so on every PortAudio initialisation).

    Without this a daemon retrying a missing card every few seconds fills the journal with
    ``ALSA lib ... Unknown PCM`` and ``jack server is not running``; our own log says what matters.
    Process-wide and idempotent. Returns False if neither library could be reached.
    """
    if _NATIVE_LOG_HANDLERS:
        return True
    done = False
    alsa_handler_type = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )
    jack_handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
    try:
        asound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
        handler = alsa_handler_type(lambda *args: None)
        asound.snd_lib_error_set_handler(handler)
        _NATIVE_LOG_HANDLERS.append(handler)
        done = True
    except (OSError, AttributeError):
        logger.debug("libasound not found; ALSA messages stay on stderr")
    try:
        jack = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        handler = jack_handler_type(lambda message: None)
        jack.jack_set_error_function(handler)
        jack.jack_set_info_function(handler)
        _NATIVE_LOG_HANDLERS.append(handler)
        done = True
    except (OSError, AttributeError):
        logger.debug("libjack not found; nothing to quieten")
    return done


def list_output_devices(pa: Any) -> list[tuple[int, str]]:
    """``(index, name)`` of every device with output channels, as PortAudio lists them now."""
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if int(info.get("maxOutputChannels", 0)) > 0:
            devices.append((index, str(info.get("name", ""))))
    return devices


def find_output_device(pa: Any, wanted: str) -> tuple[int, str]:
    """The output device called ``wanted``: exact case-insensitive name, else the first containing it.

    Raises:
        OutputError: naming the device asked for and listing the ones there are.
    """
    devices = list_output_devices(pa)
    key = wanted.casefold()
    for index, name in devices:
        if name.casefold() == key:
            return index, name
    matches = [(index, name) for index, name in devices if key in name.casefold()]
    if matches:
        if len(matches) > 1:
            logger.info("output device %r matches %s; using the first", wanted, [n for _, n in matches])
        return matches[0]
    available = ", ".join(repr(name) for _, name in devices) or "none"
    raise OutputError(f"no output device named {wanted!r}; PortAudio lists: {available}")


def probe_output_device(wanted: str, pyaudio_module: Any = None) -> str | None:
    """The name of the output device ``wanted`` names, or None when PortAudio cannot find it (or fails).

    For choosing a fallback before the engine starts (``art2mus demo`` writes a WAV file on a machine
    with no sound card); the engine itself never gives up on a configured device.
    """
    if pyaudio_module is None:
        try:
            import pyaudio as pyaudio_module
        except ImportError:
            return None
    quiet_native_audio_logs()
    try:
        pa = pyaudio_module.PyAudio()
    except OSError:
        return None
    try:
        return find_output_device(pa, wanted)[1]
    except OutputError:
        return None
    finally:
        pa.terminate()


class PyAudioOutputConfig(StrictModel):
    """The sound card, through PortAudio."""

    type: Literal["pyaudio"] = Field("pyaudio", description="Play through PortAudio (PyAudio).")
    device: str = Field(
        "default",
        min_length=1,
        description="Output device chosen by name (a case-insensitive part of the name is enough), not by index.",
    )
    latency_seconds: float = seconds(
        0.1, "Audio buffered on the device side (PortAudio is called back every half of it).", gt=0, le=2
    )
    stall_seconds: float = seconds(
        2.0,
        "A device that has not asked for audio for this long counts as lost and is reopened.",
        gt=0,
        le=60,
    )


class PyAudioOutput(AudioOutput):
    """Plays the ring buffer on a PortAudio device.

    Args:
        device: device name (or a case-insensitive part of it), e.g. ``default`` or ``USB Audio``.
        latency_s: how much audio the device side buffers, seconds. PyAudio does not pass PortAudio's
            suggested latency, so this sets the callback size (half of it): the host buffer is about
            two callbacks.
        stall_s: a stream whose callback has not run for this long counts as lost, seconds.
        pyaudio_module: the ``pyaudio`` module, or a stand-in with the same API (tests).
        quiet_native_logs: silence ALSA/JACK's own stderr chatter (see :func:`quiet_native_audio_logs`).
        monotonic: time source for the stall check, seconds.
    """

    type = "pyaudio"
    config_class = PyAudioOutputConfig
    device_paced = True

    def __init__(
        self,
        device: str = "default",
        latency_s: float = 0.1,
        stall_s: float = 2.0,
        pyaudio_module: Any = None,
        quiet_native_logs: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if not device:
            raise ValueError("device name must not be empty")
        if latency_s <= 0 or stall_s <= 0:
            raise ValueError(f"latency_s and stall_s must be > 0, got {latency_s}, {stall_s}")
        self.device = device
        self.latency_s = float(latency_s)
        self.stall_s = float(stall_s)
        self._module = pyaudio_module
        self._quiet = quiet_native_logs
        self._monotonic = monotonic
        self._pa = None
        self._stream = None
        self._ring: FrameRingBuffer | None = None
        self._continue = 0
        self._underflow_flag = 0
        self.device_name: str | None = None
        self.frames_per_buffer = 0
        self.callbacks = 0
        self.device_underflows = 0
        self.failure: str | None = None
        self._heartbeat = 0.0

    @classmethod
    def from_config(cls, config: PyAudioOutputConfig) -> PyAudioOutput:
        return cls(
            device=config.device,
            latency_s=config.latency_seconds,
            stall_s=config.stall_seconds,
        )

    def _pyaudio(self) -> Any:
        if self._module is None:
            import pyaudio

            self._module = pyaudio
        return self._module

    def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
        pyaudio = self._pyaudio()
        if self._quiet:
            quiet_native_audio_logs()
        self.close()
        try:
            self._pa = pyaudio.PyAudio()
        except OSError as exc:
            raise OutputError(f"PortAudio failed to initialise: {exc}") from None
        try:
            index, name = find_output_device(self._pa, self.device)
            self._ring = ring
            self._continue = pyaudio.paContinue
            self._underflow_flag = pyaudio.paOutputUnderflow
            self.frames_per_buffer = max(64, int(round(self.latency_s * sample_rate / 2)))
            self.failure = None
            self._heartbeat = self._monotonic()
            try:
                self._stream = self._pa.open(
                    format=pyaudio.paFloat32,
                    channels=channels,
                    rate=sample_rate,
                    output=True,
                    output_device_index=index,
                    frames_per_buffer=self.frames_per_buffer,
                    stream_callback=self._callback,
                    start=True,
                )
            except (OSError, ValueError) as exc:
                raise OutputError(
                    f"cannot open output device {name!r} at {sample_rate} Hz x {channels} ch: {exc}"
                ) from None
        except OutputError:
            self.close()
            raise
        self.device_name = name
        logger.info(
            "playing on %r (PortAudio index %d, %d frames per callback)", name, index, self.frames_per_buffer
        )

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[bytes, int]:
        # Runs on PortAudio's thread: copy and return, nothing else.
        self._heartbeat = self._monotonic()
        self.callbacks += 1
        if status & self._underflow_flag:
            self.device_underflows += 1
        return self._ring.read_bytes(frame_count), self._continue

    def is_alive(self) -> bool:
        stream = self._stream
        if stream is None:
            return False
        try:
            active = stream.is_active()
        except (OSError, ValueError) as exc:
            self.failure = f"stream error: {exc}"
            return False
        if not active:
            self.failure = f"the stream on {self.device_name!r} stopped (device error or unplugged)"
            return False
        silent_for = self._monotonic() - self._heartbeat
        if silent_for > self.stall_s:
            self.failure = f"no callback from {self.device_name!r} for {silent_for:.1f} s (device stuck)"
            return False
        return True

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except (OSError, ValueError) as exc:
                logger.warning("closing the PortAudio stream failed: %s", exc)
        pa, self._pa = self._pa, None
        if pa is not None:
            try:
                pa.terminate()
            except OSError as exc:
                logger.warning("terminating PortAudio failed: %s", exc)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "device": self.device,
            "device_name": self.device_name,
            "frames_per_buffer": self.frames_per_buffer,
            "callbacks": self.callbacks,
            "device_underflows": self.device_underflows,
            "failure": self.failure,
        }
