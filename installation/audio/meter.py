"""Short-term loudness of what the engine sends to the output (EBU Tech 3341: BS.1770, 3 s window).

The render thread only copies each mixed block into a preallocated ring (:meth:`ShortTermLoudnessMeter.write`,
a memcpy of a few kB); the loudness is computed when someone asks for it (:meth:`~ShortTermLoudnessMeter.loudness`,
the control panel about once a second), on the asker's thread.

K-weighting without a filter loop: the window's K-weighted mean square is taken from its spectrum
(Parseval), ``sum_k |X_k|^2 |H(f_k)|^2`` with ``H`` the two K-weighting biquads' response. numpy's FFT
does in a few milliseconds what a per-sample IIR loop in Python could not, and scipy (whose import costs
the daemon's start about 0.4 s) stays off the playing path. The spectrum treats the window as periodic,
so the filters' first milliseconds see the window's end instead of the audio before it; against a
filter that has run all along this moves a 3 s reading by about 0.01 LU at most (tests hold it to
pyloudnorm's filters run over the whole stream within 0.02 LU).

The filters are the ones :func:`art2mus.models.loudness.integrated_loudness` (pyloudnorm's default
``K-weighting``) normalises every soundscape with, so a steady soundscape played at the exhibit's
``loudness_lufs`` reads that value; they are within 0.05 dB of BS.1770's own coefficients across the band.

Thread safety without a lock: frames are written before the count of written frames moves, and a reader
checks after copying the window that the writer has not come round to it meanwhile (and copies again if
it has), so the render thread never waits for a reader.
"""

from __future__ import annotations

import math

import numpy as np

#: EBU Tech 3341 short-term loudness window, seconds
SHORT_TERM_S = 3.0
#: BS.1770's offset that makes a 1 kHz sine read its own level: -0.691 LU
_OFFSET_LU = -0.691
#: readings below this are reported as this (digital silence would be -inf), LUFS
FLOOR_LUFS = -120.0
#: BS.1770 channel weights (L, R, C, Ls, Rs)
_CHANNEL_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.41, 1.41])
#: copies of the window tried before a reader gives up on a writer that keeps overtaking it
_READ_TRIES = 3


def _biquad(
    kind: str, gain_db: float, q: float, fc: float, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """One RBJ-cookbook stage as pyloudnorm builds its ``K-weighting``: ``(b, a)``, ``a[0] == 1``."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * fc / sample_rate
    alpha = math.sin(w0) / (2.0 * q)
    cos = math.cos(w0)
    if kind == "high_shelf":
        root = 2.0 * math.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) + (amp - 1) * cos + root),
            -2 * amp * ((amp - 1) + (amp + 1) * cos),
            amp * ((amp + 1) + (amp - 1) * cos - root),
        ]
        a = [
            (amp + 1) - (amp - 1) * cos + root,
            2 * ((amp - 1) - (amp + 1) * cos),
            (amp + 1) - (amp - 1) * cos - root,
        ]
    else:  # high_pass
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    b_arr, a_arr = np.array(b), np.array(a)
    return b_arr / a_arr[0], a_arr / a_arr[0]


def k_weighting_power(frequencies_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """``|H(f)|^2`` of BS.1770's K-weighting (a +4 dB shelf above ~1.5 kHz, then a 38 Hz high-pass) at
    ``frequencies_hz`` (any shape) for a ``sample_rate`` Hz signal."""
    z1 = np.exp(-2j * np.pi * np.asarray(frequencies_hz, dtype=np.float64) / sample_rate)  # z^-1
    power = np.ones(z1.shape)
    for stage in (("high_shelf", 4.0, 1.0 / math.sqrt(2.0), 1500.0), ("high_pass", 0.0, 0.5, 38.0)):
        b, a = _biquad(*stage, sample_rate)
        h = (b[0] + z1 * (b[1] + z1 * b[2])) / (a[0] + z1 * (a[1] + z1 * a[2]))
        power *= np.abs(h) ** 2
    return power


class ShortTermLoudnessMeter:
    """The last ``window_s`` of a ``(frames, channels)`` stream, and its BS.1770 loudness on demand.

    One thread writes (:meth:`write`), any thread reads (:meth:`loudness`). Frames are counted from the
    first one written; a reader names the frame its window ends at, so it can measure what a device
    plays now while the writer is ahead of it.

    Args:
        sample_rate: Hz.
        channels: 1 to 5 (BS.1770 weights: 1.0 for L, R, C; 1.41 for the surrounds).
        window_s: the window, seconds (3 s is EBU short-term loudness).
        history_frames: frames kept beyond the window, so a window may end that far before the newest
            frame (a device's buffer).
        write_frames: the most frames :meth:`write` stores at once (a larger block is stored in pieces);
            a reader keeps that far clear of the writer.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        *,
        window_s: float = SHORT_TERM_S,
        history_frames: int = 0,
        write_frames: int = 4096,
    ):
        if not 1 <= channels <= 5:
            raise ValueError(f"the loudness meter takes 1 to 5 channels, got {channels}")
        if not 0.1 <= window_s <= 60.0:
            raise ValueError(f"the loudness window must last 0.1 to 60 s, got {window_s}")
        if history_frames < 0 or write_frames < 1:
            raise ValueError(
                f"history_frames must be >= 0 and write_frames >= 1, got {history_frames}, {write_frames}"
            )
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.window = int(round(window_s * self.sample_rate))
        self.write_frames = int(write_frames)
        # room for the window, the history, a write in progress and a few more while a reader copies
        self.capacity = self.window + int(history_frames) + 4 * self.write_frames
        self._ring = np.zeros((self.capacity, self.channels), np.float32)
        self._written = 0  # frames written so far; moved only after their samples are in the ring
        self._weights: np.ndarray | None = None  # per rfft bin: K-weighting power, Parseval's factors

    @property
    def written(self) -> int:
        """Frames written so far (the frame after the newest one)."""
        return self._written

    def write(self, block: np.ndarray) -> None:
        """Keep ``block`` (``(frames, channels)``, float32): a copy, no allocation. The writer's thread only."""
        frames = block.shape[0]
        if frames > self.capacity:
            self._written += frames - self.capacity
            block = block[frames - self.capacity :]
            frames = self.capacity
        done = 0
        while done < frames:
            n = min(self.write_frames, frames - done)
            at = self._written % self.capacity
            first = min(n, self.capacity - at)
            self._ring[at : at + first] = block[done : done + first]
            if first < n:
                self._ring[: n - first] = block[done + first : done + n]
            self._written += n  # after the samples: a reader that sees the count sees them
            done += n

    def _copy(self, start: int) -> np.ndarray:
        """Frames ``[start, start + window)`` as a new ``(window, channels)`` array (may be torn: see loudness)."""
        at = start % self.capacity
        first = min(self.window, self.capacity - at)
        if first == self.window:
            return self._ring[at : at + self.window].copy()
        return np.concatenate([self._ring[at:], self._ring[: self.window - first]])

    def _oldest_intact(self) -> int:
        """The oldest frame no write in progress can be overwriting now."""
        return self._written + self.write_frames - self.capacity

    def loudness(self, end: int | None = None) -> float | None:
        """Loudness in LUFS (ungated, K-weighted, BS.1770 channel weights) of the ``window_s`` of frames that
        ends before frame ``end`` (default: the newest). None when those frames are not all in the ring
        (not all written yet, or some already overwritten). Digital silence reads :data:`FLOOR_LUFS`.

        Costs one real FFT of the window per channel (about 4 ms for 3 s of 48 kHz stereo on a desktop
        core); call it from the thread that asks, not from the writer's."""
        for _ in range(_READ_TRIES):
            newest = self._written
            stop = newest if end is None else int(end)
            start = stop - self.window
            if start < 0 or stop > newest or start < self._oldest_intact():
                return None
            window = self._copy(start)
            if start >= self._oldest_intact():  # the writer did not reach the window while it was copied
                return self.loudness_of(window)
        return None

    def loudness_of(self, window: np.ndarray) -> float:
        """Loudness in LUFS of exactly one window of frames ``(window, channels)`` (see :meth:`loudness`)."""
        if window.shape != (self.window, self.channels):
            raise ValueError(f"expected a ({self.window}, {self.channels}) window, got {window.shape}")
        if self._weights is None:
            n = self.window
            bins = np.arange(n // 2 + 1)
            # Parseval for a real signal: mean(y^2) = (|Y_0|^2 + 2 sum |Y_k|^2 (+ |Y_n/2|^2)) / n^2
            parseval = np.full(bins.size, 2.0 / n**2)
            parseval[0] = 1.0 / n**2
            if n % 2 == 0:
                parseval[-1] = 1.0 / n**2
            self._weights = parseval * k_weighting_power(bins * self.sample_rate / n, self.sample_rate)
        spectrum = np.fft.rfft(window.astype(np.float64, copy=False), axis=0)  # (bins, channels)
        power = spectrum.real**2 + spectrum.imag**2
        mean_square = self._weights @ power  # (channels,)
        energy = float(mean_square @ _CHANNEL_WEIGHTS[: self.channels])
        if not energy > 0.0:
            return FLOOR_LUFS
        return max(FLOOR_LUFS, _OFFSET_LU + 10.0 * math.log10(energy))
