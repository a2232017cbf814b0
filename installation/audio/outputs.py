"""Where the mix goes: a base class and the outputs that need no sound card (``wav``, ``null``).

Two kinds of output:

* device-paced (``pyaudio``): the device pulls frames from the engine's ring buffer at its own rate;
* clock-paced (``wav``, ``null``): the engine pushes each block with :meth:`AudioOutput.write` when
  its clock says the block is due, so a WAV file fills at the speed of the (possibly simulated) clock.

Each output module declares its ``*Config`` beside its class (``wav`` and ``null`` here, ``pyaudio`` in
:mod:`~art2mus.installation.audio.portaudio`); :mod:`~art2mus.installation.audio.backends` lists them once,
for the exhibit's ``audio.output`` union and for :func:`~art2mus.installation.audio.backends.create_output`.

A WAV output left running grows by 691 MB an hour (16-bit stereo at 48 kHz). A RIFF/WAV file cannot
pass 4 GiB (its sizes are 32-bit; libsndfile capped them after 6.2 hours and the tail could no longer be
read), so the file is opened as RF64 with libsndfile's auto-downgrade: one that ends under 4 GiB is
closed as an ordinary WAV file, a longer one as RF64 (64-bit sizes; soundfile, ffmpeg and sox read it).
``max_mb``/``keep`` bound the disk it takes: the file rolls over to a new one at that size, the full ones
renamed ``<name>.1.wav``, ``<name>.2.wav``, ... and only ``keep`` of them kept.
"""

from __future__ import annotations

import abc
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from art2mus.common.schema import OutputPath, StrictModel
from art2mus.installation.audio.ringbuffer import FrameRingBuffer

logger = logging.getLogger(__name__)

#: the largest RIFF/WAV file (its size fields are 32-bit); a longer one must be RF64
RIFF_MAX_BYTES = 0xFFFFFFFF
#: libsndfile's ``SFC_RF64_AUTO_DOWNGRADE`` command (sndfile.h): an RF64 file shorter than 4 GiB is written
#: as a RIFF/WAV one when closed
_SFC_RF64_AUTO_DOWNGRADE = 0x1210
#: bytes per sample of each WAV subtype
_SAMPLE_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}


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
    """Write the mix to a WAV file (tests, simulation, a machine without a sound card; set max_mb for a long run).

    A file that ends under 4 GiB is a plain WAV file (WAVE_FORMAT_EXTENSIBLE), a longer one RF64, which
    soundfile, ffmpeg and sox read. A daemon left to run on this output writes 691 MB an hour (16-bit
    stereo at 48 kHz): max_mb keeps only the last hours."""

    type: Literal["wav"] = Field("wav", description="Write the mix to a WAV file.")
    path: OutputPath = Field(
        Path("art2mus-output.wav"), description="The WAV file to write (relative to this YAML file)."
    )
    realtime: bool = Field(True, description="Pace writing by the clock (false: as fast as the mixer runs).")
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = Field(
        "PCM_16", description="Sample format: 16- or 24-bit integer, or 32-bit float (exactly the mix)."
    )
    max_mb: float | None = Field(
        None,
        ge=0.01,
        le=10**7,
        description="Start a new file once the current one reaches this size (MB; 16-bit stereo at 48 kHz "
        "writes 691 MB an hour); the full one is renamed with .1 before its suffix (mix.1.wav), an older "
        "one with .2, ... Unset: one file that grows without bound (RF64 past 4 GiB).",
    )
    keep: int = Field(
        1,
        ge=0,
        le=1000,
        description="With max_mb: how many full files to keep beside the current one (0: the current one "
        "starts over).",
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
        path: the file; created on the first open, appended to when the engine reopens it after a write
            error. With ``max_mb``, one left there by an earlier run is continued when it is a WAV file of
            this format (a restart pushes no recording out), else set aside as ``<stem>.1<suffix>`` (with
            ``keep``); without ``max_mb`` it is written over. Written as RF64 that is closed as plain WAV when it ends
            under 4 GiB (module docstring).
        realtime: pace writing by the engine's clock (False: as fast as the mixer runs).
        subtype: libsndfile subtype, e.g. ``PCM_16``, ``PCM_24``, ``FLOAT`` (exact).
        max_mb: roll over to a new file at this size (MB, 10^6 bytes; None: never), keeping ``keep``
            full files as ``<stem>.1<suffix>`` (the newest), ``<stem>.2<suffix>``, ...
    """

    type = "wav"
    config_class = WavOutputConfig

    def __init__(
        self,
        path: str | Path,
        realtime: bool = True,
        subtype: str = "PCM_16",
        max_mb: float | None = None,
        keep: int = 1,
        continue_previous: bool = True,
    ):
        self.path = Path(path)
        self.realtime = realtime
        self.subtype = subtype
        self.max_bytes = None if max_mb is None else int(max_mb * 1e6)
        self.keep = keep
        # with max_mb, a daemon's restart continues the last run's file; a demo starts its own (the last kept)
        self.continue_previous = continue_previous
        self._file = None
        self._opened_before = False
        self._frame_bytes = 0
        self._file_bytes = 0  # sample bytes in the current file
        self._file_limit: int | None = None  # roll over before the current file would pass this many bytes
        self.frames_written = 0
        self.rollovers = 0

    @classmethod
    def from_config(cls, config: WavOutputConfig) -> WavOutput:
        return cls(
            config.path,
            realtime=config.realtime,
            subtype=config.subtype,
            max_mb=config.max_mb,
            keep=config.keep,
        )

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
                self._file_bytes = (
                    existing.frames * existing.channels * _SAMPLE_BYTES.get(existing.subtype, 4)
                )
                # appended to in place, a file closed as RIFF/WAV stays one: it must not pass 4 GiB
                self._file_limit = self._limit(riff=existing.format != "RF64")
            elif (
                self.continue_previous
                and (previous := self._continue_previous_run(sample_rate, channels)) is not None
            ):
                self._file = previous
                self._file_bytes = previous.frames * channels * _SAMPLE_BYTES.get(self.subtype, 4)
                self._file_limit = self._limit(riff=previous.format != "RF64")
                logger.info(
                    "%s: continuing the previous run's recording (%.1f MB)", self.path, self._file_bytes / 1e6
                )
            else:
                kept = self._keep_previous_run()
                self._file = open_growing_wav(self.path, sample_rate, channels, self.subtype)
                self._file_bytes, self._file_limit = 0, self._limit(riff=False)
                if kept is not None:
                    logger.info("%s: the previous run's recording is kept as %s", self.path, kept.name)
        except OutputError:
            raise
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot open WAV output {self.path}: {_reason(exc, None)}") from None
        self._frame_bytes = channels * _SAMPLE_BYTES.get(self.subtype, 4)
        # (a reopening after a write error: the engine's own line says the output is back)
        log = logger.debug if self._opened_before else logger.info
        self._opened_before = True
        log("writing the mix to %s (%d Hz, %d ch, %s)", self.path, sample_rate, channels, self.subtype)

    def write(self, block: np.ndarray) -> None:
        if self._file is None:
            raise OutputError(f"WAV output {self.path} is not open")
        size = block.shape[0] * self._frame_bytes
        if self._file_limit is not None and self._file_bytes and self._file_bytes + size > self._file_limit:
            self._roll_over()
        try:
            _write_block(self._file, block)
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot write to {self.path}: {_reason(exc, self._file)}") from None
        self._file_bytes += size
        self.frames_written += block.shape[0]

    def _limit(self, *, riff: bool) -> int | None:
        """The sample bytes the current file may hold: ``max_mb``, and under 4 GiB for a RIFF/WAV file
        (with room for its header)."""
        limits = [b for b in (self.max_bytes, RIFF_MAX_BYTES - (1 << 16) if riff else None) if b is not None]
        return min(limits) if limits else None

    def _roll_over(self) -> None:
        """Close the full file, shift the kept ones (``.1`` -> ``.2`` ..., the oldest removed) and start
        the file at :attr:`path` again (an :class:`OutputError` the engine retries, as a write error)."""
        assert self._file is not None
        full, self._file, limit = self._file, None, self._file_limit or 0
        rate, channels = full.samplerate, full.channels
        try:
            full.close()
            self._shift_kept()
            self._file = open_growing_wav(self.path, rate, channels, self.subtype)
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"cannot start a new WAV file at {self.path}: {_reason(exc, None)}") from None
        self._file_bytes, self._file_limit = 0, self._limit(riff=False)
        self.rollovers += 1
        logger.info(
            "%s reached %.0f MB: a new file begun%s",
            self.path,
            limit / 1e6,
            f" (the full one is {self._kept(1).name})" if self.keep else "",
        )

    def _shift_kept(self) -> None:
        """The file at :attr:`path` becomes ``.1`` (``.1`` -> ``.2`` ..., the oldest removed); with ``keep``
        0 it stays, to be written over."""
        for k in range(self.keep, 0, -1):
            older = self._kept(k)
            if k == self.keep:
                older.unlink(missing_ok=True)
            elif older.exists():
                older.replace(self._kept(k + 1))
        if self.keep:
            self.path.replace(self._kept(1))

    def _continue_previous_run(self, sample_rate: int, channels: int) -> Any:
        """At a start with ``max_mb``: the file left at :attr:`path` by the previous run, open for appending
        (a ``soundfile.SoundFile`` at its end), when it is a WAV file of this format (rate, channels,
        subtype); None otherwise (no file, an empty one, another format: :meth:`_keep_previous_run`).

        A restart continues the recording, and the size rotation alone decides when it is set aside:
        setting it aside at each start, a crash loop (systemd's Restart=always) pushed every kept
        recording out within ``keep`` restarts (three 3 s restarts left 6 s of 143 s). A file whose
        process died before closing it (a crash, a power cut) still has the sizes of its header from the
        last close; they are first set from the file's length (:func:`repair_wav_sizes`), so the audio
        after them is read and appended to, not written over."""
        import soundfile

        if self.max_bytes is None or not self._previous_run_left():
            return None
        frame_bytes = channels * _SAMPLE_BYTES.get(self.subtype, 4)
        try:
            data_start = repair_wav_sizes(self.path, frame_bytes)
            previous = soundfile.SoundFile(str(self.path), "r+")
        except (RuntimeError, OSError, ValueError):  # not a WAV file libsndfile can open: set aside
            logger.debug("%s cannot be appended to", self.path, exc_info=True)
            return None
        size = self.path.stat().st_size
        same = (
            previous.format in ("WAV", "WAVEX", "RF64")
            and (previous.samplerate, previous.channels, previous.subtype)
            == (sample_rate, channels, self.subtype)
            # every whole frame on disk is in the header's sizes: appending writes after the last one
            and data_start is not None
            and data_start + previous.frames * frame_bytes + frame_bytes > size
        )
        if not same:
            previous.close()
            return None
        previous.seek(0, soundfile.SEEK_END)
        return previous

    def _keep_previous_run(self) -> Path | None:
        """At a start with ``max_mb`` and ``keep``: a non-empty file left at :attr:`path` by the previous
        run that cannot be continued (another format, not a WAV file) is set aside as a rollover would
        (a daemon's restart truncated room.wav from 26.5 MB and kept no room.1.wav). Returns the name it
        now has; None when nothing was kept. Without ``max_mb`` the file is one recording written over at
        each start (``simulate -o``, ``demo --wav``)."""
        if self.max_bytes is None or not self.keep or not self._previous_run_left():
            return None
        self._shift_kept()
        return self._kept(1)

    def _previous_run_left(self) -> bool:
        """A non-empty file is at :attr:`path` (an empty one holds nothing to continue or keep)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def _kept(self, k: int) -> Path:
        """The ``k``-th newest full file beside :attr:`path` (``mix.wav`` -> ``mix.1.wav``)."""
        return self.path.with_name(f"{self.path.stem}.{k}{self.path.suffix}")

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except (RuntimeError, OSError):
                logger.warning("closing %s failed", self.path, exc_info=True)
            self._file = None

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "path": str(self.path),
            "frames_written": self.frames_written,
            "rollovers": self.rollovers,
        }


def _write_block(sound_file: Any, block: np.ndarray) -> None:
    """Write ``block`` (frames, channels) at the position of ``sound_file`` (a ``soundfile.SoundFile``
    open for writing) with one call of libsndfile, which converts the samples as ``sound_file.write``
    has it do (a float32 block: ``sf_writef_float``); raises soundfile's ``LibsndfileError`` as that does.

    soundfile's ``write`` spends about 18 us a call in Python around that call (its checks, a cast through
    the array interface, its ``frames`` kept up, which is left as at the open here: nothing reads it).
    The mix is written a 1024-frame block at a time, 3,750 calls for 80 s: 0.15 CPU s through soundfile,
    about 0.08 s this way, each block still reaching the file as it is written. (Converting the samples
    to int16 in numpy first saved nothing: libsndfile's conversion is not where the time went.)"""
    libsndfile = _libsndfile()
    if libsndfile is None or block.dtype != np.float32 or block.ndim != 2 or not block.flags.c_contiguous:
        sound_file.write(block)
        return
    error_class, ffi, snd = libsndfile
    if block.shape[1] != sound_file.channels:
        raise ValueError(f"a block of {block.shape[1]} channels for a file of {sound_file.channels}")
    snd.sf_writef_float(sound_file._file, ffi.from_buffer("float[]", block), block.shape[0])
    error = snd.sf_error(sound_file._file)
    if error:
        raise error_class(error)


@functools.cache
def _libsndfile() -> tuple[type[Exception], Any, Any] | None:
    """soundfile's error class, cffi handle and libsndfile library (None: another soundfile, whose own
    ``write`` is then used)."""
    try:
        from soundfile import LibsndfileError, _ffi, _snd
    except ImportError:
        return None
    return LibsndfileError, _ffi, _snd


def open_growing_wav(file: str | Path | int, sample_rate: int, channels: int, subtype: str) -> Any:
    """A ``soundfile.SoundFile`` open for writing a file of unknown length: RF64 with libsndfile's
    auto-downgrade, so it is closed as an ordinary RIFF/WAV file (WAVE_FORMAT_EXTENSIBLE) when it ends
    under 4 GiB and as RF64 past that. ``file``: a path, or a descriptor (left open)."""
    import soundfile

    sound_file = soundfile.SoundFile(
        file if isinstance(file, int) else str(file),
        "w",
        samplerate=sample_rate,
        channels=channels,
        subtype=subtype,
        format="RF64",
        closefd=False,
    )
    try:
        from soundfile import _ffi, _snd  # soundfile's own libsndfile handle

        _snd.sf_command(sound_file._file, _SFC_RF64_AUTO_DOWNGRADE, _ffi.NULL, 1)
    except (ImportError, AttributeError):  # another soundfile: an RF64 file throughout, still readable
        logger.debug("cannot ask libsndfile to downgrade a short RF64 file to WAV", exc_info=True)
    return sound_file


def repair_wav_sizes(path: Path, frame_bytes: int) -> int | None:
    """Set the sizes in the header of the RIFF/WAV file at ``path`` from its length, when its process died
    before closing it (libsndfile writes them at the close: a killed restart that had appended 5 s to a
    1 s file read as 1 s, and a further append wrote over the rest). Returns where its sample data
    starts (bytes); None when it is not a RIFF/WAV file with a ``data`` chunk among its first 64 KiB.
    An RF64 file (past 4 GiB) is left as it is. Bytes past the last whole frame are left out."""
    size = path.stat().st_size
    with open(path, "r+b") as file:
        head = file.read(1 << 16)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64"):
            return None
        at = 12
        while at + 8 <= len(head):
            chunk, length = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
            if chunk == b"data":
                start = at + 8
                whole = (size - start) // frame_bytes * frame_bytes
                riff_size = int.from_bytes(head[4:8], "little")
                # (a file closed with chunks after its samples has a RIFF size that covers them)
                stale = riff_size + 8 < size and length < whole
                if head[:4] == b"RIFF" and stale and start + whole <= RIFF_MAX_BYTES:
                    file.seek(4)
                    file.write((start + whole - 8).to_bytes(4, "little"))
                    file.seek(at + 4)
                    file.write(whole.to_bytes(4, "little"))
                    logger.info("%s was not closed: its header now holds its %d bytes of audio", path, whole)
                return start
            at += 8 + length + (length & 1)
    return None


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
