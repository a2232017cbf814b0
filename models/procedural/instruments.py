"""The sonifier's instruments: spectral pads (PADsynth), FM mallets and bells, glass sparkles, noise.

Sustained sounds are made in the frequency domain over the whole loop (one inverse FFT per channel):
a spectrum is exactly periodic in its own length, so a pad made this way loops with no seam at all.
Struck notes are short arrays placed on a circular timeline (:func:`add_circular`), so a note that
rings past the end of the loop continues at its start. Arrays are float32 (``(channels, frames)``
for stereo buffers); phases are accumulated in float64 so long notes stay in tune.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import scipy.fft

#: partials are left out above this fraction of the Nyquist frequency (no aliasing, no fizz).
PARTIAL_CEILING = 0.45
#: partials below this frequency (Hz) get at most :data:`STEADY_BANDWIDTH_HZ` of bandwidth.
STEADY_BELOW_HZ = 160.0
STEADY_BANDWIDTH_HZ = 0.1


def _random_phase_spectrum(
    magnitude: np.ndarray, rng: np.random.Generator, channels: int, symmetric: bool, shared_bins: int = 0
) -> np.ndarray:
    """``(channels, len(magnitude))`` complex64 spectrum with the given magnitudes and random phases.

    With ``symmetric`` the phases are 0 or pi (a real spectrum): the signal is then time-symmetric
    about its first sample, ``x[-n] == x[n]``, so what comes just before the loop point mirrors what
    comes just after it. Random-phase textures are statistically time-reversible, so this changes
    nothing one could hear, except that the seam can no longer fall in a random fade.

    The first ``shared_bins`` bins get the same phase in every channel: bass stays in phase between
    the speakers (independent phases would put a steady bass partial in anti-phase half the time).
    """
    spectrum = np.zeros((channels, magnitude.size), dtype=np.complex64)
    occupied = np.flatnonzero(magnitude > 0)
    values = magnitude[occupied].astype(np.float32)
    shared = int(np.searchsorted(occupied, shared_bins))
    first = None
    for ch in range(channels):
        draw = rng.random(occupied.size, dtype=np.float32)
        if first is None:
            first = draw
        else:
            draw[:shared] = first[:shared]
        if symmetric:
            spectrum[ch, occupied] = values * np.where(draw < 0.5, np.float32(-1.0), np.float32(1.0))
        else:
            phase = draw * np.float32(2.0 * math.pi)
            spectrum[ch, occupied] = values * np.cos(phase) + 1j * (values * np.sin(phase))
    return spectrum


def padsynth_spectrum(
    frames: int,
    sample_rate: int,
    partials: Iterable[tuple[float, float, float]],
    rng: np.random.Generator,
    channels: int = 2,
    symmetric: bool = False,
) -> np.ndarray:
    """The one-sided spectrum of a PADsynth buffer: every partial spread into a Gaussian band, random phases.

    (After Nasca Octavian Paul's PADsynth algorithm.) Its inverse FFT (:func:`padsynth`) is periodic in
    ``frames``, sounds like an ensemble (slow beating inside each band) and every channel gets its own
    phases, which makes it wide and decorrelated.

    Args:
        frames: length of the buffer, samples.
        sample_rate: Hz.
        partials: ``(frequency Hz, amplitude, bandwidth Hz)`` triples; the amplitude is that of the
            equivalent sine wave.
        rng: source of the random phases.
        channels: number of decorrelated channels.
        symmetric: phases 0 or pi only, making the buffer time-symmetric about its first sample (and
            about its middle); see :func:`_random_phase_spectrum`.

    Returns:
        complex64 array ``(channels, frames // 2 + 1)``, scaled for ``scipy.fft.irfft(..., n=frames)``.
    """
    bins = frames // 2 + 1
    df = sample_rate / frames
    magnitude = np.zeros(bins)
    for freq, amp, bandwidth in partials:
        if freq <= 0 or freq >= PARTIAL_CEILING * sample_rate or amp <= 0:
            continue
        if bandwidth <= df:
            # Narrower than a bin: the whole partial goes into the nearest bin.
            magnitude[max(1, int(round(freq / df)))] += amp
            continue
        lo = max(1, int(math.floor((freq - 3.0 * bandwidth) / df)))
        hi = min(bins, int(math.ceil((freq + 3.0 * bandwidth) / df)) + 1)
        profile = np.exp(-(((np.arange(lo, hi) * df - freq) / bandwidth) ** 2))
        # Unit energy per partial, so the bandwidth changes the colour but not the level.
        magnitude[lo:hi] += amp * profile / math.sqrt(float(np.sum(profile**2)))
    # A sine of amplitude A shows up as A * frames / 2 in its rfft bin.
    magnitude *= frames / 2.0
    spectrum = np.zeros((channels, bins), dtype=np.complex64)
    used = np.flatnonzero(magnitude)
    if used.size:
        lo, hi = int(used[0]), int(used[-1]) + 1
        spectrum[:, lo:hi] = _random_phase_spectrum(
            magnitude[lo:hi], rng, channels, symmetric, int(STEADY_BELOW_HZ / df) - lo
        )
    return spectrum


def padsynth(
    frames: int,
    sample_rate: int,
    partials: Iterable[tuple[float, float, float]],
    rng: np.random.Generator,
    channels: int = 2,
    symmetric: bool = False,
) -> np.ndarray:
    """A PADsynth buffer (see :func:`padsynth_spectrum`): float32 ``(channels, frames)``, periodic in ``frames``."""
    spectrum = padsynth_spectrum(frames, sample_rate, partials, rng, channels, symmetric)
    return scipy.fft.irfft(spectrum, n=frames, axis=-1).astype(np.float32, copy=False)


def harmonic_partials(
    midi_notes: Iterable[tuple[float, float]],
    rolloff: float,
    bandwidth_cents: float,
    max_harmonics: int,
    sample_rate: int,
) -> list[tuple[float, float, float]]:
    """Partials of harmonic tones for :func:`padsynth`.

    Args:
        midi_notes: ``(midi, amplitude)`` pairs.
        rolloff: harmonic ``h`` gets amplitude ``h ** -rolloff`` (1: bright, 2: dark).
        bandwidth_cents: width of the fundamental's band; harmonic ``h`` is ``sqrt(h)`` times wider, in
            cents, as in PADsynth, so the upper partials shimmer (bass partials, below
            :data:`STEADY_BELOW_HZ`, are kept to :data:`STEADY_BANDWIDTH_HZ`).
        max_harmonics: at most this many harmonics per note.
        sample_rate: Hz (partials above :data:`PARTIAL_CEILING` of it are dropped).
    """
    out = []
    for midi, amp in midi_notes:
        f0 = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
        for h in range(1, max_harmonics + 1):
            freq = f0 * h
            if freq >= PARTIAL_CEILING * sample_rate:
                break
            cents = bandwidth_cents * math.sqrt(h)
            bandwidth = freq * (2.0 ** (cents / 1200.0) - 1.0)
            if freq < STEADY_BELOW_HZ:
                # Bass partials stay nearly pure: a wide band there beats slowly and deeply, which
                # sounds like a wobbling room mode rather than an ensemble.
                bandwidth = min(bandwidth, STEADY_BANDWIDTH_HZ)
            out.append((freq, amp * h**-rolloff, bandwidth))
    return out


def _phase(freq: float, frames: int, sample_rate: int) -> np.ndarray:
    """``2 pi f t`` for ``frames`` samples, float32 in [0, 2 pi): wrapped in float64 first, so long notes stay in tune."""
    cycles = (np.arange(frames) * (freq / sample_rate)) % 1.0
    return cycles.astype(np.float32) * np.float32(2.0 * math.pi)


def mallet_note(
    midi: float,
    sample_rate: int,
    decay_s: float,
    warmth: float,
    fm_index: float,
    length_s: float,
) -> np.ndarray:
    """A struck FM tone, blended between a warm mallet and a glassy bell; peak about 1.

    Args:
        midi: pitch, MIDI number.
        sample_rate: Hz.
        decay_s: time constant of the amplitude decay, seconds.
        warmth: 1 = warm mallet (carrier:modulator 1:1, harmonic), 0 = bell (1:3.5, inharmonic).
        fm_index: peak modulation index (brightness of the attack).
        length_s: how much of the ring to render, seconds.

    Returns:
        float32 array ``(frames,)``.
    """
    frames = max(16, int(length_s * sample_rate))
    t = np.arange(frames, dtype=np.float32) * np.float32(1.0 / sample_rate)
    freq = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
    attack = 1.0 - np.exp(-t / np.float32(0.003))
    env = attack * np.exp(-t / np.float32(decay_s))
    # The last third of the ring fades smoothly to zero, so a cut-off ring never clicks.
    tail = frames // 3
    env[frames - tail :] *= np.cos(np.linspace(0.0, math.pi / 2.0, tail, dtype=np.float32)) ** 2
    bright = np.exp(-t / np.float32(0.35 * decay_s))
    carrier = _phase(freq, frames, sample_rate)
    # Keep the modulation's sidebands under the ceiling for high notes.
    index = np.float32(fm_index * min(1.0, 4000.0 / (freq * 4.5)))
    warm = np.sin(carrier + np.float32(0.6) * index * bright * np.sin(carrier))
    bell = np.sin(carrier + index * bright * np.sin(_phase(freq * 3.5, frames, sample_rate)))
    return env * (np.float32(warmth) * warm + np.float32(1.0 - warmth) * bell)


def sparkle_note(midi: float, sample_rate: int, length_s: float) -> np.ndarray:
    """A short glassy ping (a sine with a faint inharmonic partial); peak about 1, float32 ``(frames,)``."""
    frames = max(16, int(length_s * sample_rate))
    t = np.arange(frames, dtype=np.float32) * np.float32(1.0 / sample_rate)
    freq = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
    env = (1.0 - np.exp(-t / np.float32(0.002))) * np.exp(-t / np.float32(0.3 * length_s))
    env *= np.cos(np.linspace(0.0, math.pi / 2.0, frames, dtype=np.float32))
    tone = np.sin(_phase(freq, frames, sample_rate))
    if freq * 2.76 < PARTIAL_CEILING * sample_rate:
        tone += np.float32(0.25) * np.sin(_phase(freq * 2.76, frames, sample_rate))
    return env * tone


def noise_band_spectrum(
    frames: int,
    sample_rate: int,
    centre_hz: float,
    width_octaves: float,
    rng: np.random.Generator,
    channels: int = 2,
    symmetric: bool = False,
) -> np.ndarray:
    """One-sided spectrum of band-pass noise (a log-Gaussian band round ``centre_hz``) with RMS 1.

    Its inverse FFT is periodic in ``frames``; the channels are independent; ``symmetric`` as in
    :func:`padsynth_spectrum`.

    Returns:
        complex64 array ``(channels, frames // 2 + 1)``.
    """
    bins = frames // 2 + 1
    df = sample_rate / frames
    sigma = width_octaves / 2.0
    lo = max(1, int(centre_hz * 2.0 ** (-3.0 * sigma) / df))
    hi = min(bins, int(centre_hz * 2.0 ** (3.0 * sigma) / df) + 1, int(PARTIAL_CEILING * sample_rate / df))
    spectrum = np.zeros((channels, bins), dtype=np.complex64)
    if hi <= lo:
        return spectrum
    freqs = np.arange(lo, hi) * df
    gain = np.exp(-0.5 * (np.log2(freqs / centre_hz) / sigma) ** 2)
    # Unit RMS: Parseval for a real signal from its one-sided spectrum.
    gain *= math.sqrt(frames**2 / (2.0 * float(np.sum(gain**2))))
    spectrum[:, lo:hi] = _random_phase_spectrum(gain, rng, channels, symmetric, int(STEADY_BELOW_HZ / df) - lo)
    return spectrum


def spectrum_rms(spectrum: np.ndarray, frames: int) -> float:
    """RMS over all channels of the signal whose one-sided spectra are ``spectrum`` (Parseval)."""
    power = np.abs(spectrum.astype(np.complex64, copy=False)) ** 2
    total = 2.0 * float(power.sum(dtype=np.float64)) - float(power[:, 0].sum(dtype=np.float64))
    if frames % 2 == 0:
        total -= float(power[:, -1].sum(dtype=np.float64))
    return math.sqrt(total / (frames**2 * spectrum.shape[0]))


def modulate_spectrum(spectrum: np.ndarray, constant: float, terms: Iterable[tuple[int, float, float]]) -> np.ndarray:
    """Multiply a periodic signal by an envelope, working on its one-sided spectrum.

    The envelope is ``constant + sum(a * cos(2 pi m n / frames + phi))`` over ``terms = (m, a, phi)`` with
    whole numbers of cycles ``m``; in the spectrum that is the original plus copies shifted by ``+-m``
    bins. This is exact as long as the signal has no energy within ``max m`` bins of 0 Hz or of the
    Nyquist frequency, which holds for the pads and noise bands (their lowest partial is tens of Hz,
    ``m`` is a handful of cycles per loop); bins closer than that are cleared first.

    Returns:
        a new complex64 array of the same shape.
    """
    terms = [(abs(int(m)), float(a), float(phi) if m >= 0 else -float(phi)) for m, a, phi in terms]
    out = spectrum * np.float32(constant)
    guard = max([m for m, _, _ in terms] + [0])
    if guard:
        spectrum = spectrum.copy()
        spectrum[:, :guard] = 0
        spectrum[:, -guard:] = 0
    for m, a, phi in terms:
        if m == 0:
            out += spectrum * np.float32(a * math.cos(phi))
            continue
        up = np.complex64(0.5 * a * complex(math.cos(phi), math.sin(phi)))
        out[:, m:] += spectrum[:, :-m] * up
        out[:, :-m] += spectrum[:, m:] * np.conj(up)
    return out


def add_circular(buffer: np.ndarray, start: int, sound: np.ndarray, gains: tuple[float, ...] | None = None) -> None:
    """Add ``sound`` into ``buffer`` (``(channels, n)``) from frame ``start`` on, wrapping round the end.

    ``sound`` is mono ``(frames,)`` with one linear gain per channel in ``gains`` (the pan), or already
    ``(channels, frames)`` with ``gains`` left out. A sound longer than the buffer wraps as often as it needs.
    """
    n = buffer.shape[1]
    channels = sound if sound.ndim == 2 else [sound * np.float32(g) for g in gains]
    frames = sound.shape[-1]
    position = start % n
    offset = 0
    while offset < frames:
        take = min(n - position, frames - offset)
        for ch, chunk in enumerate(channels):
            buffer[ch, position : position + take] += chunk[offset : offset + take]
        offset += take
        position = 0


def equal_power_pan(pan: float) -> tuple[float, float]:
    """Left and right gains for a position -1 (left) .. +1 (right); L^2 + R^2 = 1."""
    angle = (min(1.0, max(-1.0, pan)) + 1.0) * math.pi / 4.0
    return math.cos(angle), math.sin(angle)
