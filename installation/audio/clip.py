"""Soundscapes made ready for the mixer: resampled, channel-matched, loop-smoothed and measured.

Every clip is converted once, when it is loaded, to the mix format (float32, ``(frames, channels)``
at the mix sample rate), so the real-time path never resamples. Generators and curators bring
different rates (AudioLDM2 writes 16 kHz, the procedural sonifier 48 kHz, curators 44.1 kHz files);
soxr's high-quality resampler converts them.

Its integrated loudness (ITU-R BS.1770) is measured *as it will play* (after resampling and channel
conversion: a mono file on two speakers is 3 LU louder than the same file measured as mono), so the
engine can play every clip at the exhibit's target loudness.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from art2mus.models.loudness import SILENCE_LUFS, integrated_loudness

#: a sample in an audio file beyond this magnitude (+24 dBFS) is corrupt data, not sound
MAX_SAMPLE_MAGNITUDE = 16.0

logger = logging.getLogger(__name__)

#: most channels a source may have before we refuse to guess a downmix.
MAX_SOURCE_CHANNELS = 8
#: part of :func:`played_as`: bump it when a change to :func:`prepare_clip` (resampling, channel matching,
#: loop smoothing) or to the loudness measurement alters the loudness a clip is measured at, so loudness
#: values stored beside cached audio are measured again.
PREPARED_VERSION = 2


@dataclass(frozen=True, eq=False)
class AudioClip:
    """A soundscape in the mix format.

    Attributes:
        key: name of the soundscape (e.g. the artwork id), for status and logs. Playing the same
            clip *object* again while it still sounds continues its voice instead of restarting it,
            so keep the clip (not just its key) to resume an artwork.
        samples: float32, shape ``(frames, channels)``, C-contiguous, read-only.
        sample_rate: Hz, the mix rate.
        loop: repeat gaplessly (True) or play once (False).
        loudness_lufs: integrated loudness of ``samples`` in LUFS (BS.1770), as played.
        source_rate: the sample rate the audio came in at, Hz.
        loop_smoothed: True when the end was blended into the start because the join was not smooth.
        metadata: free information carried along (generator, seed, file path...).
    """

    key: str
    samples: np.ndarray
    sample_rate: int
    loop: bool
    loudness_lufs: float
    source_rate: int
    loop_smoothed: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.sample_rate)

    @property
    def nbytes(self) -> int:
        """Bytes of samples the clip holds in memory (decoded or not)."""
        return int(self.samples.nbytes)

    def samples_upto(self, stop: int) -> np.ndarray:
        """The samples, of which at least the frames before ``stop`` are there to read: all of them here;
        a :class:`StreamedClip` decodes no further than the mix reads."""
        return self.samples

    def gain_to(self, target_lufs: float) -> float:
        """Linear gain that plays this clip at ``target_lufs``; 1.0 for silence."""
        if self.loudness_lufs <= SILENCE_LUFS:
            return 1.0
        return float(10.0 ** ((target_lufs - self.loudness_lufs) / 20.0))


#: sound file subtypes whose samples, read as float32, are finite and within +-1 (integer PCM)
_INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"})
#: frames decoded at least per read of a :class:`StreamedClip` (a block's read costs the same either way)
_STREAM_CHUNK_FRAMES = 48000


class StreamedClip(AudioClip):
    """An :class:`AudioClip` decoded from an open sound file as far as the mix has read it, and no further:
    a simulated walk plays most clips for a few seconds of their 30-60 (decoding a 40 s FLAC whole
    costs about 0.06 CPU s). ``samples`` (for anything but the mixer's :meth:`samples_upto`) decodes
    the rest first, so every reader sees the clip whole. The samples are those of the file read whole
    (the same decoder, read in order): made by :func:`streamed_clip`, which makes one only of a file
    already in the mix format whose loop join needs no smoothing."""

    def __init__(
        self,
        sound_file: Any,
        *,
        key: str,
        loop: bool,
        loudness_lufs: float,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        fields = {
            "key": key,
            "sample_rate": int(sound_file.samplerate),
            "loop": loop,
            "loudness_lufs": float(loudness_lufs),
            "source_rate": int(sound_file.samplerate),
            "loop_smoothed": False,
            "metadata": dict(metadata or {}),
            # np.empty: the pages of what is never decoded are never touched
            "_buffer": np.empty((int(sound_file.frames), int(sound_file.channels)), np.float32),
            "_file": sound_file,
            "_decoded": 0,
            "_lock": threading.Lock(),
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @property
    def samples(self) -> np.ndarray:  # type: ignore[override]
        whole = self.samples_upto(self._buffer.shape[0]).view()
        whole.setflags(write=False)
        return whole

    @property
    def frames(self) -> int:
        return int(self._buffer.shape[0])

    @property
    def channels(self) -> int:
        return int(self._buffer.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self._buffer.nbytes)

    def samples_upto(self, stop: int) -> np.ndarray:
        if stop > self._decoded:
            with self._lock:
                self._decode(min(self.frames, max(stop, self._decoded + _STREAM_CHUNK_FRAMES)))
        return self._buffer

    def _decode(self, stop: int) -> None:
        """Decode on from where the file is up to frame ``stop``; the file is closed once all is read. A
        read that fails or ends early leaves silence (the bytes were checked against their checksum)."""
        start = self._decoded
        if stop <= start:
            return
        got = 0
        try:
            got = self._file.read(out=self._buffer[start:stop])
            got = got.shape[0]
        except (RuntimeError, OSError, ValueError) as exc:
            logger.error("clip %s: decoding failed at frame %d (%s); the rest is silence", self.key, start, exc)
        if start + got < stop:
            self._buffer[start + got : stop] = 0.0
        object.__setattr__(self, "_decoded", stop)
        if stop >= self.frames:
            self._file.close()

    def ends(self, side: int) -> np.ndarray:
        """The first and the last ``side`` frames, one after the other (what :func:`loop_join_is_smooth`
        reads of a clip), without decoding what lies between."""
        head = self.samples_upto(side)[:side]
        frames = self.frames
        with self._lock:
            self._file.seek(frames - side)
            tail = self._file.read(side, dtype="float32", always_2d=True)
            self._file.seek(self._decoded)
        return np.concatenate([head, tail])


def streamed_clip(
    sound_file: Any,
    *,
    key: str,
    mix_rate: int,
    channels: int,
    loop: bool,
    loudness_lufs: float,
    loop_crossfade_s: float,
    metadata: dict[str, Any] | None = None,
) -> StreamedClip | None:
    """``sound_file`` (an open ``soundfile.SoundFile``) as a :class:`StreamedClip`, or None where
    :func:`prepare_clip` would change its samples (another rate or channel count, float samples to
    check, a loop join to smooth) or it is too short to bother: then read it whole and prepare it."""
    if (
        sound_file.samplerate != mix_rate
        or sound_file.channels != channels
        or sound_file.subtype not in _INTEGER_SUBTYPES
        or sound_file.frames < 2 * _STREAM_CHUNK_FRAMES
    ):
        return None
    clip = StreamedClip(sound_file, key=key, loop=loop, loudness_lufs=loudness_lufs, metadata=metadata)
    if loop and loop_crossfade_s > 0:
        side = min(max(4, int(round(JOIN_CONTEXT_S * mix_rate))), clip.frames // 2)
        if not loop_join_is_smooth(clip.ends(side), mix_rate):
            return None
    return clip


def played_as(mix_rate: int, channels: int, loop: bool, loop_crossfade_s: float) -> str:
    """A name for the form :func:`prepare_clip` gives a clip with these arguments: its measured loudness
    depends on the audio and on nothing else than this (e.g. ``v2 48000 Hz 2 ch loop 0.25 s``). The
    soundscape cache keeps each entry's loudness under it, so a start need not measure it again."""
    shape = f"loop {float(loop_crossfade_s):g} s" if loop else "once"
    return f"v{PREPARED_VERSION} {int(mix_rate)} Hz {int(channels)} ch {shape}"


def prepare_clip(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    key: str,
    mix_rate: int = 48000,
    channels: int = 2,
    loop: bool = True,
    loudness_lufs: float | None = None,
    loop_crossfade_s: float = 0.25,
    metadata: dict[str, Any] | None = None,
) -> AudioClip:
    """Convert ``waveform`` to the mix format and measure it.

    Args:
        waveform: samples, ``(frames,)`` or ``(frames, source_channels)``; float in [-1, 1] or int16/int32 PCM.
        sample_rate: rate of ``waveform`` in Hz.
        key: identity of the soundscape (artwork id, ``idle``...).
        mix_rate: the mix sample rate in Hz.
        channels: mix channels, 1 or 2 (mono sources are copied to both sides; stereo is averaged for mono).
        loop: the clip repeats; if its end does not flow into its start, the last ``loop_crossfade_s``
            seconds are blended into the beginning so the loop point cannot click.
        loudness_lufs: a loudness already measured on this exact mix format (e.g. stored by the cache);
            measured here when None.
        loop_crossfade_s: length of that blend in seconds (0 disables it).
        metadata: carried along unchanged.

    Raises:
        ValueError: naming ``key`` and what is wrong with the waveform or the rates.
    """
    if channels not in (1, 2):
        raise ValueError(f"clip {key!r}: mix channels must be 1 or 2, got {channels}")
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ValueError(f"clip {key!r}: sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    if not (isinstance(mix_rate, (int, np.integer)) and mix_rate > 0):
        raise ValueError(f"clip {key!r}: mix_rate must be a positive integer in Hz, got {mix_rate!r}")
    x = _as_float_frames(np.asarray(waveform), key)
    # Resample the fewer channels: downmix before resampling, copy mono to stereo after.
    if x.shape[1] > channels:
        x = _match_channels(x, channels, key)
    if sample_rate != mix_rate:
        x = _resample(x, int(sample_rate), int(mix_rate), circular=loop)
    x = _match_channels(x, channels, key)
    x = np.ascontiguousarray(x, dtype=np.float32)
    smoothed = False
    if loop and loop_crossfade_s > 0:
        x, smoothed = make_loop_seamless(x, mix_rate, loop_crossfade_s)
        if smoothed:
            logger.debug("clip %s: loop join was not smooth; blended %.2f s of its end into its start", key, loop_crossfade_s)
    if loudness_lufs is None:
        loudness_lufs = integrated_loudness(x, mix_rate)
    x.setflags(write=False)
    return AudioClip(
        key=key,
        samples=x,
        sample_rate=int(mix_rate),
        loop=loop,
        loudness_lufs=float(loudness_lufs),
        source_rate=int(sample_rate),
        loop_smoothed=smoothed,
        metadata=dict(metadata or {}),
    )


def load_clip_file(path: str | Path, *, key: str | None = None, **kwargs: Any) -> AudioClip:
    """Read an audio file (WAV, FLAC, OGG... whatever libsndfile reads) and :func:`prepare_clip` it.

    ``key`` defaults to the file's stem; ``kwargs`` go to :func:`prepare_clip`.

    Raises:
        ValueError: naming the file when it cannot be read or holds no audio.
    """
    import soundfile

    path = Path(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        raise ValueError(f"cannot read audio file {path}: {exc}") from None
    if not np.isfinite(data).all():
        raise ValueError(f"audio file {path} holds NaN or infinite samples: corrupt data, not sound")
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak > MAX_SAMPLE_MAGNITUDE:
        raise ValueError(
            f"audio file {path} holds samples up to {peak:.3g}: corrupt data, not sound (a sound file's "
            f"samples lie within +-1)"
        )
    metadata = {"path": str(path), **kwargs.pop("metadata", {})}
    return prepare_clip(data, int(rate), key=key or path.stem, metadata=metadata, **kwargs)


#: seconds of the clip on each side of the loop point whose steps :func:`loop_join_is_smooth` compares
#: the join with: the music the ear hears around the wrap, not a loud hit seconds away
JOIN_CONTEXT_S = 0.05
#: the join may be this many times the 99th percentile of the steps around it: exact loops of
#: stationary material stay within it (their join is one more step of the same music: 1 in 100 of them
#: passes the 99th percentile itself, none of 400 passed twice it), a cut 8x the pad's steps does not
JOIN_STEP_FACTOR = 2.0


def loop_join_is_smooth(samples: np.ndarray, sample_rate: int = 48000) -> bool:
    """Whether jumping from the last frame to the first is no bigger a step than the music around it.

    Both the step (first difference) and the change of slope (second difference) across the join
    must stay within :data:`JOIN_STEP_FACTOR` times the 99th percentile of those in the
    :data:`JOIN_CONTEXT_S` seconds before the end and after the start, channel by channel. Only the
    neighbourhood counts: a pad cut anywhere clicks at the wrap however loud the drum hits elsewhere
    in the clip are. A hard cut in tonal material fails by a wide margin (the change of slope is of the
    order of the amplitude times the step); a clip rendered to loop passes. ``samples``:
    ``(frames, channels)``; ``sample_rate`` in Hz.
    """
    frames = samples.shape[0]
    if frames < 8:
        return False
    side = min(max(4, int(round(JOIN_CONTEXT_S * sample_rate))), frames // 2)
    ends = samples[[0, 1, -2, -1]].astype(np.float64)
    join_d1 = np.abs(ends[0] - ends[3])
    # Slope changes at the two points the wrap touches: x[-2], x[-1], x[0] and x[-1], x[0], x[1].
    join_d2 = np.maximum(np.abs(ends[0] - 2 * ends[3] + ends[2]), np.abs(ends[1] - 2 * ends[0] + ends[3]))
    tail, head = samples[frames - side :].astype(np.float64), samples[:side].astype(np.float64)
    d1 = np.abs(np.concatenate([np.diff(tail, axis=0), np.diff(head, axis=0)]))
    d2 = np.abs(np.concatenate([np.diff(tail, n=2, axis=0), np.diff(head, n=2, axis=0)]))
    tol = 1e-6  # float32 rounding of a clip that loops exactly (silence around the join)
    bar_d1 = JOIN_STEP_FACTOR * np.percentile(d1, 99, axis=0) + tol
    bar_d2 = JOIN_STEP_FACTOR * np.percentile(d2, 99, axis=0) + tol
    return bool(np.all(join_d1 <= bar_d1) and np.all(join_d2 <= bar_d2))


def make_loop_seamless(samples: np.ndarray, sample_rate: int, crossfade_s: float) -> tuple[np.ndarray, bool]:
    """Blend the end of ``samples`` into its start so that it loops without a click.

    A clip whose join is already smooth (see :func:`loop_join_is_smooth`) comes back unchanged. Otherwise
    the last ``n`` frames are crossfaded into the first ``n`` and then dropped, so frame ``-1`` of the
    result is followed (on looping) by what used to follow it. The crossfade weights are normalised
    by the measured head/tail correlation, so the blend keeps its power whether the two ends are
    related (a drone) or not (two different bars).

    Returns:
        ``(samples, smoothed)``: float32 ``(frames', channels)`` and whether it was changed.
    """
    if loop_join_is_smooth(samples, sample_rate):
        return samples, False
    frames = samples.shape[0]
    n = min(int(round(crossfade_s * sample_rate)), frames // 3)
    if n < 2:
        return samples, False
    x = samples.astype(np.float64)
    head, tail = x[:n], x[frames - n :]
    denom = math.sqrt(float(np.sum(head * head)) * float(np.sum(tail * tail)))
    rho = float(np.clip(np.sum(head * tail) / denom, 0.0, 1.0)) if denom > 0 else 0.0
    t = ((np.arange(n) + 0.5) / n)[:, None]
    w_in, w_out = t, 1.0 - t
    norm = np.sqrt(w_in**2 + w_out**2 + 2.0 * rho * w_in * w_out)
    blended = (head * w_in + tail * w_out) / norm
    out = np.concatenate([blended, x[n : frames - n]], axis=0).astype(np.float32)
    return np.ascontiguousarray(out), True


def _resample(x: np.ndarray, rate: int, new_rate: int, *, circular: bool) -> np.ndarray:
    """soxr's HQ resampler; ``circular`` treats ``x`` as one period of a loop.

    A resampler sees a clip's ends as edges (silence beyond them), which turns a seamless loop into
    one that clicks at its join. For a loop, 0.1 s of its other end is put before and after it and
    the matching stretch of the output cut away, so the join is resampled as the music it is.
    """
    import soxr

    x = np.ascontiguousarray(x)
    frames = x.shape[0]
    if not circular or frames < 2:
        return soxr.resample(x, rate, new_rate, quality="HQ")
    pad = min(frames, max(1, rate // 10))
    wrapped = np.concatenate([x[frames - pad:], x, x[:pad]], axis=0)
    y = soxr.resample(np.ascontiguousarray(wrapped), rate, new_rate, quality="HQ")
    start = int(round(pad * new_rate / rate))
    return y[start: start + int(round(frames * new_rate / rate))]


def _as_float_frames(x: np.ndarray, key: str) -> np.ndarray:
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        scale = float(max(abs(info.min), info.max))
        x = x.astype(np.float32) / scale
    elif x.dtype.kind != "f":
        raise ValueError(f"clip {key!r}: samples must be float or integer PCM, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"clip {key!r}: expected samples of shape (frames,) or (frames, channels), got {x.shape}")
    if x.shape[1] > MAX_SOURCE_CHANNELS:
        raise ValueError(
            f"clip {key!r}: {x.shape[1]} channels; expected (frames, channels) with at most "
            f"{MAX_SOURCE_CHANNELS} channels (is it transposed?)"
        )
    if x.shape[0] == 0:
        raise ValueError(f"clip {key!r}: no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"clip {key!r}: samples contain NaN or infinity")
    return x.astype(np.float32, copy=False)


def _match_channels(x: np.ndarray, channels: int, key: str) -> np.ndarray:
    have = x.shape[1]
    if have == channels:
        return x
    if channels == 1:
        return x.mean(axis=1, keepdims=True)
    if have == 1:
        return np.repeat(x, 2, axis=1)
    # More than two source channels: keep the front pair (SMPTE/WAV order puts L, R first).
    logger.warning("clip %s: %d channels; playing the first two (front left/right)", key, have)
    return x[:, :2]
