"""A look-ahead true-peak limiter for the mix bus, vectorised so it costs almost nothing when idle.

Gain computer (all per frame, channels linked):

1. ``peak[n]``: the larger of the sample and an 8x-oversampled estimate around it, so inter-sample
   peaks count too (BS.1770's 4x with its short filter under-reads broadband transients: noise bursts
   limited to -1 dBTP by such an estimate measured -0.4 dBTP at 8x; see :data:`OVERSAMPLE`);
2. ``req[n] = min(1, ceiling / peak[n])``, the gain frame ``n`` needs;
3. ``h[n] = min(req[n - hold .. n + lookahead])``: look ahead (the attack starts before the peak) and
   hold (no gain wobble between close peaks);
4. ``g[n] = min(mean(h[n - lookahead .. n]), mean(h[n - release .. n]))``: the short mean gives a
   smooth attack that still reaches ``req[n]`` in time (every term of the mean covers frame ``n``),
   the long one a smooth release.

So ``g[n] <= req[n]`` for every frame: the output never exceeds the ceiling, with no per-sample
Python loop (running minimum and cumulative sums are C loops). The signal is delayed by
:attr:`TruePeakLimiter.latency_frames` (about 2 ms). While nothing comes near the ceiling, blocks
skip the gain computer entirely and are only delayed.

Only numpy: the interpolation filter, its polyphase upsampling and the running minimum are written out
here (:func:`interpolation_filter`, :func:`upsample`, :func:`running_min`) because importing
``scipy.signal`` and ``scipy.ndimage`` for them cost about 0.8 CPU s at every start of every command
that plays (``demo``, ``run``, ``simulate``); the tests compare them with scipy's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: oversampling factor of the true-peak estimate. BS.1770-4 annex 2 uses 4 at 48 kHz, which reads
#: content near Nyquist up to 0.7 dB low; with 4x and a 49-tap filter, short noise bursts limited to
#: -1 dBTP measured -0.39 dBTP with 8x and 16x references. 8x with the filter below reads them as
#: scipy's ``resample_poly`` does (within 0.05 dB of 16x); it costs about twice the 4x estimate, and
#: only in blocks that come within 6 dB of the ceiling.
OVERSAMPLE = 8
#: input frames of context the filter needs on each side of a frame (its half-length in input frames).
_CONTEXT = 10
#: taps of the interpolation filter: odd, so its delay is a whole number of input frames; the length
#: (and the Kaiser beta 5, cutoff at the input's Nyquist) of ``scipy.signal.resample_poly``'s filter.
_TAPS = 2 * _CONTEXT * OVERSAMPLE + 1
#: below this fraction of the ceiling (-6 dB) the inter-sample peaks of program material cannot
#: reach the ceiling, so an idle limiter lets such blocks through without oversampling them.
_FAST_PATH_FRACTION = 0.5


class TruePeakLimiter:
    """Keeps the mix under a true-peak ceiling.

    Args:
        sample_rate: Hz.
        channels: channels of the blocks given to :meth:`process` (linked: one gain for all).
        ceiling_dbtp: the highest true peak let through, dBTP.
        lookahead_s: attack time and look-ahead, seconds (the added latency).
        hold_s: how long the gain stays down after a peak, seconds.
        release_s: how long it takes to come back up, seconds.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        ceiling_dbtp: float = -1.0,
        lookahead_s: float = 0.002,
        hold_s: float = 0.02,
        release_s: float = 0.15,
    ):
        if ceiling_dbtp > 0:
            raise ValueError(f"ceiling_dbtp must be <= 0 dBTP, got {ceiling_dbtp}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self._L = max(1, int(round(lookahead_s * sample_rate)))
        # h looks _CONTEXT frames further ahead than the attack is long: an inter-sample peak near frame
        # n is made of the frames within _CONTEXT of it, so they must all be down by req[n] already
        self._A = self._L + _CONTEXT
        self._H = max(0, int(round(hold_s * sample_rate)))
        self._R = max(self._L, int(round(release_s * sample_rate)))
        # Interpolation filter with unity gain at each of the OVERSAMPLE phases.
        self._fir = interpolation_filter(_TAPS, 1.0 / OVERSAMPLE, kaiser_beta=5.0) * OVERSAMPLE
        self._phases = polyphase(self._fir, OVERSAMPLE)
        self._ctx = np.zeros((2 * _CONTEXT, self.channels), np.float32)
        self._delay = np.zeros((self._A, self.channels), np.float32)
        self._req_hist = np.ones(self._H + self._A)
        self._h_hist = np.ones(self._R + 1)
        # Frames since a frame last needed less than unity gain; the gain computer's memory spans
        # hold + release + attack + lookahead frames, after which every history value is 1 again.
        self._memory = self._H + self._R + self._L + self._A
        self._quiet = self._memory
        self.last_gain_reduction_db = 0.0

    @property
    def latency_frames(self) -> int:
        """Frames between a sample going in and coming out."""
        return self._A + _CONTEXT

    def reset(self) -> None:
        """Forget the signal so far (silence in the delay line, no gain reduction)."""
        self._ctx[:] = 0
        self._delay[:] = 0
        self._req_hist[:] = 1
        self._h_hist[:] = 1
        self._quiet = self._memory
        self.last_gain_reduction_db = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit one block; ``block``: float32 ``(frames, channels)``. Returns a new array of the same shape."""
        frames = block.shape[0]
        if frames == 0:
            return block.copy()
        xin = np.concatenate([self._ctx, block], axis=0)
        self._ctx = xin[-2 * _CONTEXT :].copy()
        # The frames decided now: they have _CONTEXT frames of signal on both sides.
        x_det = xin[_CONTEXT : _CONTEXT + frames]
        delayed = np.concatenate([self._delay, x_det], axis=0)
        self._delay = delayed[frames:].copy()
        out = delayed[:frames]
        idle = self._quiet >= self._memory
        if idle and max(float(xin.max()), -float(xin.min())) <= _FAST_PATH_FRACTION * self.ceiling:
            self._quiet += frames
            self.last_gain_reduction_db = 0.0
            return out
        if idle:
            self._req_hist[:] = 1
            self._h_hist[:] = 1
        req = np.minimum(1.0, self.ceiling / np.maximum(self._frame_peaks(xin, frames), 1e-12))
        below = np.flatnonzero(req < 1.0)
        self._quiet = frames - 1 - int(below[-1]) if below.size else self._quiet + frames
        # Running minimum over [n - hold, n + lookahead] for the frames leaving now.
        L, H, R, A = self._L, self._H, self._R, self._A
        G = np.concatenate([self._req_hist, req])
        width = H + A + 1
        h_new = running_min(G, width)
        self._req_hist = G[-(H + A) :]
        # _h_hist holds the R + 1 values of h before this block. Window sums move by one frame at a
        # time: the release sum gains h[n] and loses h[n - R - 1].
        HH = np.concatenate([self._h_hist, h_new])
        release = (float(self._h_hist[1:].sum()) + np.cumsum(h_new - HH[:frames])) / (R + 1)
        c = np.cumsum(HH[R - L :])  # c[i] = sum of HH[R - L .. R - L + i]
        attack = np.empty(frames)
        attack[0] = c[L + 1] - HH[R - L]
        attack[1:] = c[L + 2 :] - c[1 : frames]
        attack /= L + 1
        self._h_hist = HH[-(R + 1) :]
        gain = np.minimum(attack, release)
        self.last_gain_reduction_db = -20.0 * math.log10(max(float(gain.min()), 1e-6))
        limited = out * gain.astype(np.float32)[:, None]
        # The gain computer already keeps samples under the ceiling; this only removes rounding.
        np.clip(limited, -self.ceiling, self.ceiling, out=limited)
        return limited

    def _frame_peaks(self, xin: np.ndarray, frames: int) -> np.ndarray:
        """Peak of each frame in ``xin[_CONTEXT : _CONTEXT + frames]``: samples and 8x interpolation, all channels."""
        up = upsample(self._phases, xin)
        delay = (_TAPS - 1) // 2  # in oversampled samples: the filter's output lags by this much
        # Oversampled points from half a frame before to just before half a frame after each frame.
        start = OVERSAMPLE * _CONTEXT + delay - OVERSAMPLE // 2
        around = _row_max(np.abs(up[start : start + OVERSAMPLE * frames]))
        inter = _row_max(around.reshape(frames, OVERSAMPLE))
        samples = _row_max(np.abs(xin[_CONTEXT : _CONTEXT + frames]))
        return np.maximum(inter, samples)


def _row_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=1)`` for a few columns: column-wise ``np.maximum`` is ~30x faster than a reduction
    over a short last axis."""
    out = a[:, 0].copy()
    for i in range(1, a.shape[1]):
        np.maximum(out, a[:, i], out=out)
    return out


def interpolation_filter(taps: int, cutoff: float, kaiser_beta: float) -> np.ndarray:
    """A linear-phase low-pass FIR by the window method, unity gain at 0 Hz: what
    ``scipy.signal.firwin(taps, cutoff, window=("kaiser", kaiser_beta))`` returns.

    ``cutoff`` is a fraction of the Nyquist frequency."""
    m = np.arange(taps) - 0.5 * (taps - 1)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(taps, kaiser_beta)
    return h / h.sum()


def polyphase(fir: np.ndarray, up: int) -> np.ndarray:
    """The filter split into its ``up`` phases, ``(taps_per_phase, up)``, each reversed for a
    correlation and zero-padded to the longest phase."""
    per = -(-fir.size // up)
    padded = np.zeros(per * up)
    padded[: fir.size] = fir
    return np.ascontiguousarray(padded.reshape(per, up)[::-1]).astype(np.float32)


def upsample(phases: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x`` (frames, channels) upsampled by the phases' count and filtered: what
    ``scipy.signal.upfirdn(fir, x, up=up, axis=0)`` returns, ``((frames - 1) * up + taps', channels)``
    with ``taps'`` the filter's length padded to whole phases.

    Output sample ``up * i + p`` is ``sum_q fir[p + up * q] * x[i - q]``: one product of each frame's
    window of the past ``taps_per_phase`` inputs with the ``(taps_per_phase, up)`` phase matrix."""
    per, up = phases.shape
    frames, channels = x.shape
    padded = np.zeros((frames + 2 * (per - 1), channels), np.float32)
    padded[per - 1 : per - 1 + frames] = x
    out = np.empty((frames + per - 1, up, channels), np.float32)
    for c in range(channels):
        windows = sliding_window_view(padded[:, c], per)  # (frames + per - 1, per), no copy
        out[:, :, c] = windows @ phases
    return out.reshape(-1, channels)


def running_min(values: np.ndarray, width: int) -> np.ndarray:
    """``min(values[k : k + width])`` for every whole window, ``len(values) - width + 1`` of them,
    in O(n) (van Herk / Gil-Werman: the minimum to the end of a block of ``width`` and the minimum
    from the start of the next block meet in every window)."""
    n = values.size
    count = n - width + 1
    if count <= 0:
        return values[:0].copy()
    blocks = -(-n // width)
    padded = np.full(blocks * width, np.inf)
    padded[:n] = values
    rows = padded.reshape(blocks, width)
    from_start = np.minimum.accumulate(rows, axis=1).ravel()
    to_end = np.minimum.accumulate(rows[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(to_end[:count], from_start[width - 1 : width - 1 + count])
