"""Turns a :class:`~art2mus.models.procedural.mapping.MusicalPlan` into a stereo mix, round the loop.

Layers: a drone pad (tonic, fifth and octave, PADsynth over the whole loop, breathing slowly), a
harmonic bed (one PADsynth chord per segment, equal-power crossfades centred on the chord changes), a
sparse melodic voice (FM mallet/bell notes), and a texture (band-passed "air" noise in slow gusts plus
glassy sparkles). Melody, sparkles and part of the bed feed a convolution reverb.

Everything lives on a circular timeline the length of the loop: pads and noise are periodic by
construction, struck notes that ring past the end continue at the start, LFOs make whole cycles per
loop and the reverb is a circular convolution. The last sample therefore runs into the first exactly as
any sample runs into the next -- the seam is not crossfaded after the fact, it never exists. For a
one-shot (``loop=False``) the timeline is longer than the piece by the reverb tail and the end fades out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import scipy.fft

from art2mus.models.procedural.instruments import (
    add_circular,
    equal_power_pan,
    harmonic_partials,
    mallet_note,
    modulate_spectrum,
    noise_band_spectrum,
    padsynth,
    padsynth_spectrum,
    sparkle_note,
    spectrum_rms,
)
from art2mus.models.procedural.mapping import (
    STREAM_NOISE,
    STREAM_PADS,
    STREAM_REVERB,
    MusicalPlan,
    NoteEvent,
    seed_rng,
)
from art2mus.models.procedural.reverb import impulse_response, response_spectrum

logger = logging.getLogger(__name__)

#: tuning of the harmonic bed relative to the drone, semitones (+5 cents).
BED_DETUNE = 0.05
#: fade-in and fade-out of a one-shot (``loop=False``) piece, seconds (at most a quarter of the piece).
ONE_SHOT_FADE_S = (0.05, 3.0)


def _db(value: float) -> float:
    return 10.0 ** (value / 20.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float32), dtype=np.float64))) + 1e-12


def _set_width(stereo: np.ndarray, width: float) -> np.ndarray:
    """Mid/side width: 0 = mono, 1 = unchanged."""
    mid = 0.5 * (stereo[0] + stereo[1])
    side = 0.5 * (stereo[0] - stereo[1]) * np.float32(width)
    return np.stack([mid + side, mid - side])


def _width_spectrum(spectrum: np.ndarray, width: float) -> np.ndarray:
    """Mid/side width applied to a stereo spectrum (linear, so it commutes with the FFT)."""
    mid = 0.5 * (spectrum[0] + spectrum[1])
    side = 0.5 * (spectrum[0] - spectrum[1]) * np.float32(width)
    return np.stack([mid + side, mid - side])


def _drone_spectrum(plan: MusicalPlan, frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Tonic, fifth and octave as one PADsynth spectrum, swelling slowly (whole cycles per loop)."""
    notes = [(plan.drone_midi[0], 1.0), (plan.drone_midi[1], 0.5), (plan.drone_midi[2], 0.35)]
    partials = harmonic_partials(notes, plan.drone_rolloff, plan.drone_bandwidth_cents, 32, sample_rate)
    spectrum = _width_spectrum(padsynth_spectrum(frames, sample_rate, partials, rng, symmetric=True), plan.drone_width)
    depth = plan.swell_depth
    # The loop point sits in the trough of the swell, where the level is momentarily still.
    phase = -math.pi / 2
    # (1 + depth * sin(theta)) / (1 + depth): peaks at 1, dips to (1 - depth) / (1 + depth).
    return modulate_spectrum(spectrum, 1.0 / (1.0 + depth), [(plan.swell_cycles, depth / (1.0 + depth), phase - math.pi / 2)])


def _noise_spectrum(plan: MusicalPlan, frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Band noise in gusts: (0.55 + 0.45 sin a) (0.75 + 0.25 sin b), expanded into cosines."""
    spectrum = noise_band_spectrum(
        frames, sample_rate, plan.noise_centre_hz, plan.noise_width_octaves, rng, symmetric=True
    )
    m1, m2 = plan.gust_cycles
    # Both gust cycles are in their troughs at the loop point: a lull, where nothing changes quickly.
    p1 = p2 = -math.pi / 2
    half_pi = math.pi / 2
    terms = [
        (m1, 0.45 * 0.75, p1 - half_pi),
        (m2, 0.55 * 0.25, p2 - half_pi),
        # sin a sin b = (cos(a - b) - cos(a + b)) / 2
        (m1 - m2, 0.5 * 0.45 * 0.25, p1 - p2),
        (m1 + m2, -0.5 * 0.45 * 0.25, p1 + p2),
    ]
    return modulate_spectrum(spectrum, 0.55 * 0.75, terms)


def _bed(plan: MusicalPlan, frames: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Chord pads with equal-power crossfades centred on each chord change.

    Each chord is a time-symmetric PADsynth buffer cut symmetrically round its centre, and the chord
    that straddles the loop point is centred on it, so the bed mirrors itself across the seam.
    """

    def chord_partials(midi: tuple[int, ...]) -> list[tuple[float, float, float]]:
        # The bass an octave under the chord is softer; upper voices are equal. The bed sits a few
        # cents above the drone: notes they share then beat slowly instead of adding or cancelling
        # in the same FFT bin depending on the random phases.
        notes = [(midi[0] + BED_DETUNE, 0.6)] + [(m + BED_DETUNE, 1.0) for m in midi[1:]]
        return harmonic_partials(notes, plan.bed_rolloff, plan.bed_bandwidth_cents, 16, sample_rate)

    if len(plan.chords) == 1:
        pad = padsynth(frames, sample_rate, chord_partials(plan.chords[0].midi), rng, symmetric=True)
        return _set_width(pad, plan.bed_width)
    out = np.zeros((2, frames), dtype=np.float32)
    fade = max(2, int(plan.bed_crossfade_s * sample_rate))
    cache: dict[tuple[tuple[int, ...], int], np.ndarray] = {}
    for chord in plan.chords:
        length = int(round(chord.duration_s * sample_rate))
        key = (chord.midi, length)
        if key not in cache:
            span = length + fade
            # Any FFT length at least as long will do (the buffer is windowed): take a fast one.
            size = scipy.fft.next_fast_len(span, real=True)
            pad = padsynth(size, sample_rate, chord_partials(chord.midi), rng, symmetric=True)
            # Cut round the buffer's centre of symmetry (its first sample), so the cut is symmetric too.
            pad = pad[:, (np.arange(span) - span // 2) % size]
            ramp = np.sin(np.linspace(0.0, math.pi / 2.0, fade, dtype=np.float32))
            window = np.ones(span, dtype=np.float32)
            window[:fade] = ramp
            window[-fade:] = ramp[::-1]
            cache[key] = _set_width(pad * window[None, :], plan.bed_width)
        centre = int(round((chord.start_s + 0.5 * chord.duration_s) * sample_rate))
        add_circular(out, centre - (length + fade) // 2, cache[key])
    return out


def _struck(
    notes: tuple[NoteEvent, ...], frames: int, sample_rate: int, make_note: Callable[[int], np.ndarray], level: float
) -> np.ndarray:
    """Place struck notes (melody or sparkles) on the circular timeline; one rendering per pitch.

    Returns:
        float32 ``(2, frames)``; each note is ``make_note(midi)`` (peak about 1) times ``level`` times
        its velocity, panned with equal power.
    """
    out = np.zeros((2, frames), dtype=np.float32)
    cache: dict[int, np.ndarray] = {}
    for note in notes:
        if note.midi not in cache:
            cache[note.midi] = make_note(note.midi)
        left, right = equal_power_pan(note.pan)
        gain = level * note.velocity
        add_circular(out, int(round(note.start_s * sample_rate)), cache[note.midi], (gain * left, gain * right))
    return out


def render_plan(plan: MusicalPlan, sample_rate: int = 48000, loop: bool = True) -> tuple[np.ndarray, dict]:
    """Synthesise the plan.

    The drone, the noise and the reverb are summed as spectra and brought back with a single inverse
    FFT per channel; bed, melody and sparkles are added in the time domain.

    Args:
        plan: the musical decisions.
        sample_rate: Hz.
        loop: make a seamless loop; otherwise a one-shot that fades in and out.

    Returns:
        ``(audio, layer_rms_db)``: float32 ``(2, round(duration_s * sample_rate))``, not yet normalised,
        and the RMS of each layer in dB relative to the drone, for the metadata.
    """
    frames = int(round(plan.duration_s * sample_rate))
    tail = 0 if loop else int((plan.reverb_t60_s + plan.reverb_predelay_s) * sample_rate)
    length = frames + tail
    rng_pads = seed_rng(plan.seed, STREAM_PADS)
    rng_noise = seed_rng(plan.seed, STREAM_NOISE)
    rng_reverb = seed_rng(plan.seed, STREAM_REVERB)
    levels = plan.levels_db

    # Levels are set relative to the drone, which is scaled to unit RMS.
    drone = _drone_spectrum(plan, length, sample_rate, rng_pads)
    drone *= np.float32(1.0 / spectrum_rms(drone, length))
    noise = _noise_spectrum(plan, length, sample_rate, rng_noise)
    noise *= np.float32(_db(levels["noise"]))

    bed = _bed(plan, length, sample_rate, rng_pads)
    bed *= np.float32(_db(levels["bed"]) / _rms(bed))

    # Struck notes are scaled by their peak against the drone's RMS, not by their own RMS: a sparse
    # melody must not be pushed up because it is sparse.
    ring_s = plan.melody[0].length_s if plan.melody else 1.0

    def melody_note(midi: int) -> np.ndarray:
        return mallet_note(midi, sample_rate, plan.melody_decay_s, plan.melody_warmth, plan.melody_fm_index, ring_s)

    melody = _struck(plan.melody, length, sample_rate, melody_note, _db(levels["melody"]))
    sparkle_len = plan.sparkles[0].length_s if plan.sparkles else 0.2
    sparkles = _struck(
        plan.sparkles, length, sample_rate, lambda m: sparkle_note(m, sample_rate, sparkle_len), _db(levels["sparkles"])
    )

    send = melody + sparkles + np.float32(0.35) * bed
    dry = bed
    dry += melody
    dry += sparkles
    # The room is made at half the sample rate: its spectrum then covers only the bins below a quarter
    # of the sample rate (12 kHz at 48 kHz, where a real room's tail has died anyway), which halves
    # the cost of its FFT.
    decimation = 2 if length % 2 == 0 and sample_rate % 2 == 0 else 1
    response = impulse_response(
        sample_rate // decimation, plan.reverb_t60_s, plan.reverb_damping, plan.reverb_predelay_s, rng_reverb
    )
    room = response_spectrum(response, length // decimation)
    bins = room.shape[1]
    wet = np.zeros_like(noise)
    wet[:, :bins] = (scipy.fft.rfft(send, axis=-1)[:, :bins] + np.float32(0.15) * noise[:, :bins]) * room
    # Set the wet level against the send's, so the room's size changes the colour, not the level.
    wet *= np.float32(_db(plan.reverb_wet_db) * _rms(send) / max(spectrum_rms(wet, length), 1e-12))
    layer_rms = {
        "drone": 0.0,
        "bed": round(levels["bed"], 2),
        "melody": _level_db(_rms(melody)),
        "sparkles": _level_db(_rms(sparkles)),
        "noise": _level_db(spectrum_rms(noise, length)),
        "reverb": _level_db(spectrum_rms(wet, length)),
    }
    wet += drone
    wet += noise
    mix = scipy.fft.irfft(wet, n=length, axis=-1).astype(np.float32, copy=False)
    mix += dry
    mix -= mix.mean(axis=1, keepdims=True)

    if not loop:
        mix = mix[:, :frames]
        fade_in = min(int(ONE_SHOT_FADE_S[0] * sample_rate), frames // 4)
        fade_out = min(int(ONE_SHOT_FADE_S[1] * sample_rate), frames // 4)
        if fade_in:
            mix[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
        if fade_out:
            mix[:, frames - fade_out :] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32) ** 2
    return np.ascontiguousarray(mix), layer_rms


def _level_db(rms: float) -> float:
    return round(20.0 * math.log10(max(rms, 1e-9)), 2)
