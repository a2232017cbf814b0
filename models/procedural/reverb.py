"""A stereo convolution reverb that runs round the loop.

The impulse response is decaying noise (two bands: the highs die sooner, which is what makes a room
sound warm or bright) with a few early reflections and a pre-delay. The convolution is circular -- one
FFT the length of the loop -- so the tail of whatever sounds at the end of the loop rings on at its
start, exactly as it would when the loop repeats. For a loop shorter than the tail the response is
folded onto the loop length, which is the steady state of a loop played over and over.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy.signal import butter, sosfilt


def impulse_response(
    sample_rate: int,
    t60_s: float,
    damping: float,
    predelay_s: float,
    rng: np.random.Generator,
    channels: int = 2,
) -> np.ndarray:
    """A decorrelated stereo room response.

    Args:
        sample_rate: Hz.
        t60_s: time for the low band to decay by 60 dB, seconds.
        damping: 0 = highs decay as slowly as lows, 1 = highs decay four times faster.
        predelay_s: silence before the first reflection, seconds.
        rng: source of the noise.
        channels: one independent response per channel.

    Returns:
        float32 array ``(channels, frames)``, normalised to unit energy per channel.
    """
    frames = int((predelay_s + t60_s) * sample_rate)
    start = int(predelay_s * sample_rate)
    t = np.arange(frames - start) / sample_rate
    low_env = np.exp(-6.91 * t / t60_s)  # ln(1000) = 6.91: -60 dB at t60
    high_env = np.exp(-6.91 * t / (t60_s / (1.0 + 3.0 * damping)))
    fade_in = 1.0 - np.exp(-t / 0.015)  # the diffuse field builds up over the first ~30 ms
    split = butter(2, min(2500.0, 0.4 * sample_rate), btype="low", fs=sample_rate, output="sos")
    out = np.zeros((channels, frames))
    for ch in range(channels):
        noise = rng.standard_normal(frames - start)
        low = sosfilt(split, noise)
        high = noise - low
        tail = (low * low_env + high * high_env) * fade_in
        # Six early reflections (the walls), different on each side, carrying about a fifth of the
        # energy: they give the room its size before the diffuse tail takes over.
        reflection = math.sqrt(float(np.sum(tail**2)) * 0.2 / 6.0)
        for delay, gain, sign in zip(rng.uniform(0.004, 0.06, 6), rng.uniform(0.5, 1.0, 6), rng.choice([-1.0, 1.0], 6), strict=False):
            k = int(delay * sample_rate)
            if k < tail.size:
                tail[k] += sign * gain * reflection
        out[ch, start:] = tail / math.sqrt(float(np.sum(tail**2)))
    return out.astype(np.float32)


def response_spectrum(response: np.ndarray, frames: int) -> np.ndarray:
    """One-sided spectrum of ``response`` ``(channels, m)`` for circular convolution over ``frames`` samples.

    A response longer than the loop is folded onto the loop length first: the steady state of a loop
    that is shorter than its own reverb tail.

    Returns:
        complex64 array ``(channels, frames // 2 + 1)``.
    """
    m = response.shape[1]
    if m > frames:
        pad = (-m) % frames
        response = np.pad(response, ((0, 0), (0, pad))).reshape(response.shape[0], -1, frames).sum(axis=1)
    return scipy.fft.rfft(response, n=frames, axis=-1)


def circular_convolve(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Convolve each channel of ``signal`` ``(channels, n)`` with ``response`` ``(channels, m)`` round the loop.

    Returns:
        float32 array ``(channels, n)``; the part of each tail that runs past ``n`` is added at the start.
    """
    n = signal.shape[1]
    spectrum = scipy.fft.rfft(signal, n=n, axis=-1) * response_spectrum(response, n)
    return scipy.fft.irfft(spectrum, n=n, axis=-1).astype(np.float32, copy=False)
