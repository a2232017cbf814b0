"""From image features to a musical plan: key, mode, tempo, harmony, melody, texture, space.

The mapping is documented as a table in the package docstring (:mod:`art2mus.models.procedural`).
Every continuous musical parameter is a smooth function of the image features, so similar images give
similar music; the few discrete choices (key, mode, metre, chord extensions) move in small steps
(neighbouring keys on the circle of fifths, neighbouring modes differ in one note).

The seed decides only what an image leaves open -- the order of the chords after the tonic, which
beats carry the melody's notes (how many is the image's), small melodic deviations, where sparkles fall,
the random phases of pads and noise -- so every seed keeps the image's key, mode, tempo, register,
timbre and density. Each of these choices draws from its own random stream
(``numpy.random.default_rng([seed, stream])``), so changing one layer never reshuffles another.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from art2mus.models.procedural.analysis import ImageFeatures

logger = logging.getLogger(__name__)

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

#: church modes ordered from darkest to brightest; neighbours differ in exactly one scale step.
MODES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("phrygian", (0, 1, 3, 5, 7, 8, 10)),
    ("aeolian", (0, 2, 3, 5, 7, 8, 10)),
    ("dorian", (0, 2, 3, 5, 7, 9, 10)),
    ("mixolydian", (0, 2, 4, 5, 7, 9, 10)),
    ("ionian", (0, 2, 4, 5, 7, 9, 11)),
    ("lydian", (0, 2, 4, 6, 7, 9, 11)),
)

#: L*a*b* hue angle (degrees) of saturated red, which Scriabin's colour circle gives to C.
RED_HUE_DEG = 40.0

#: scale degrees (0-based) that fill a progression when the palette offers too few chords: the
#: plagal and relative-minor/major moves that ambient music leans on come first.
DEGREE_PREFERENCE = (3, 5, 4, 6, 1, 2)

#: random streams, one per independent choice.
STREAM_HARMONY, STREAM_MELODY, STREAM_SPARKLES, STREAM_PADS, STREAM_NOISE, STREAM_REVERB = 1, 2, 3, 4, 5, 6


def seed_rng(seed: int, stream: int) -> np.random.Generator:
    """The random generator of one ``stream`` for ``seed`` (any int; negative seeds are fine)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, stream])


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz), in Hz."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


@dataclass(frozen=True)
class NoteEvent:
    """One struck note of the melody or the sparkle layer.

    Attributes:
        start_s: onset, seconds from the start of the loop.
        midi: MIDI note number.
        velocity: loudness of the strike, in [0, 1].
        pan: stereo position, -1 (left) .. +1 (right).
        length_s: how long the note rings, seconds (its tail wraps round the loop).
    """

    start_s: float
    midi: int
    velocity: float
    pan: float
    length_s: float


@dataclass(frozen=True)
class ChordSegment:
    """One chord of the harmonic bed.

    Attributes:
        start_s: where the chord begins, seconds (crossfades are centred on this point).
        duration_s: how long it lasts, seconds.
        degree: scale degree of its root, 0-based (0 = the tonic).
        midi: the voiced chord tones, MIDI note numbers, low to high.
    """

    start_s: float
    duration_s: float
    degree: int
    midi: tuple[int, ...]


@dataclass(frozen=True)
class MusicalPlan:
    """Everything the synthesiser needs, decided from the image features and the seed.

    Times are seconds, pitches MIDI numbers, levels dB relative to the drone's RMS, pans -1..+1.
    """

    duration_s: float
    seed: int
    tonic_pc: int
    mode: str
    scale: tuple[int, ...]
    tempo_bpm: float
    beats_per_bar: int
    bars: int
    beat_s: float
    # pad / drone
    drone_midi: tuple[int, ...]
    drone_rolloff: float
    drone_bandwidth_cents: float
    drone_width: float
    swell_depth: float
    swell_cycles: int
    # harmonic bed
    chords: tuple[ChordSegment, ...]
    bed_rolloff: float
    bed_bandwidth_cents: float
    bed_width: float
    bed_crossfade_s: float
    # melodic voice
    melody: tuple[NoteEvent, ...]
    melody_warmth: float
    melody_fm_index: float
    melody_decay_s: float
    # texture
    sparkles: tuple[NoteEvent, ...]
    noise_centre_hz: float
    noise_width_octaves: float
    gust_cycles: tuple[int, int]
    # space
    reverb_t60_s: float
    reverb_damping: float
    reverb_predelay_s: float
    reverb_wet_db: float
    levels_db: dict[str, float] = field(default_factory=dict)

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.tonic_pc]} {self.mode}"

    def to_metadata(self) -> dict:
        """A JSON-serialisable summary of the musical decisions (for the cache and the control panel)."""
        return {
            "key": self.key_name,
            "tonic_pc": self.tonic_pc,
            "mode": self.mode,
            "tempo_bpm": round(self.tempo_bpm, 2),
            "metre": f"{self.beats_per_bar}/4",
            "bars": self.bars,
            "progression": [
                {"start_s": round(c.start_s, 3), "degree": c.degree + 1, "midi": list(c.midi)} for c in self.chords
            ],
            "drone_midi": list(self.drone_midi),
            "melody_notes": len(self.melody),
            "melody_range_midi": [min(n.midi for n in self.melody), max(n.midi for n in self.melody)]
            if self.melody
            else [],
            "melody_warmth": round(self.melody_warmth, 3),
            "sparkles": len(self.sparkles),
            "noise_centre_hz": round(self.noise_centre_hz, 1),
            "reverb_t60_s": round(self.reverb_t60_s, 2),
            "levels_db": {k: round(v, 2) for k, v in self.levels_db.items()},
        }


def _tonic_from_hue(hue_deg: float) -> int:
    """Scriabin's colour circle: red = C, then each 30 degrees of hue is one step round the fifths."""
    position = int(math.floor(((hue_deg - RED_HUE_DEG + 15.0) % 360.0) / 30.0)) % 12
    return (7 * position) % 12


def _mode_index(light: float, warmth: float) -> int:
    """Darkest (phrygian) to brightest (lydian) mode from rescaled lightness (0..1) and warmth (-1..1)."""
    mood = 0.6 * light + 0.4 * (warmth + 1.0) / 2.0
    return int(min(len(MODES) - 1, max(0, round(mood * (len(MODES) - 1)))))


def _triad_is_consonant(scale: tuple[int, ...], degree: int) -> bool:
    root = scale[degree % 7]
    fifth = scale[(degree + 4) % 7] + 12 * ((degree + 4) // 7)
    return (fifth - root) == 7


def _chord_pitch_classes(scale: tuple[int, ...], tonic_pc: int, degree: int, tones: int) -> list[int]:
    return [(tonic_pc + scale[(degree + 2 * k) % 7]) % 12 for k in range(tones)]


def _voice(pitch_classes: list[int], low: int) -> tuple[int, ...]:
    """Close-position voicing inside ``[low, low + 12)``: changes of chord move each voice by a step."""
    return tuple(sorted(low + (pc - low) % 12 for pc in pitch_classes))


class _ScaleSteps:
    """Maps scale steps (integers, 7 per octave) to MIDI numbers and back, for one key and mode."""

    def __init__(self, tonic_pc: int, scale: tuple[int, ...]):
        self.scale = scale
        self.base = 48 + tonic_pc  # step 0: the tonic in the octave above C3

    def midi(self, step: int) -> int:
        return self.base + self.scale[step % 7] + 12 * (step // 7)

    def nearest_step(self, midi: float) -> int:
        guess = int(round((midi - self.base) * 7.0 / 12.0))
        candidates = range(guess - 2, guess + 3)
        return min(candidates, key=lambda s: (abs(self.midi(s) - midi), s))


def _timeline(duration_s: float, tempo_bpm: float, beats_per_bar: int) -> tuple[int, int, float]:
    """Whole bars that fill the loop exactly: ``(bars, beats_per_bar, beat_s)``.

    The tempo bends slightly so the loop holds a whole number of bars, which puts the seam on a bar
    line. Loops shorter than a bar become one short bar of whole beats.
    """
    beat_nominal = 60.0 / tempo_bpm
    bar_nominal = beat_nominal * beats_per_bar
    if duration_s >= 0.75 * bar_nominal:
        bars = max(1, int(round(duration_s / bar_nominal)))
        return bars, beats_per_bar, duration_s / (bars * beats_per_bar)
    beats = max(1, int(round(duration_s / beat_nominal)))
    return 1, beats, duration_s / beats


def _progression(f: ImageFeatures, tonic_pc: int, scale: tuple[int, ...], rng: np.random.Generator) -> list[int]:
    """The chords the bed visits, as 0-based scale degrees, tonic first.

    The palette picks them: each secondary colour (from the most common down) is placed on the circle
    of fifths by its hue relative to the main colour (30 degrees of hue = one fifth, as for the key) --
    or, when either is nearly grey, by its lightness (lighter = sharper) -- and becomes the nearest
    consonant chord of the mode on that side. Colour variety sets how many chords there are. The seed
    only shuffles the order of the chords after the tonic.
    """
    distinct = 1 + int(round(3.0 * f.colour_variety))
    palette = np.array(f.palette_lab)
    main_l, main_a, main_b = palette[0]
    main_hue = math.degrees(math.atan2(main_b, main_a))
    main_chroma = math.hypot(main_a, main_b)
    in_scale = {(tonic_pc + step) % 12: degree for degree, step in enumerate(scale)}
    chosen: list[int] = []
    for (lightness, a, b), weight in zip(palette[1:], f.palette_weights[1:], strict=False):
        if len(chosen) >= distinct - 1:
            break
        if weight < 0.04:
            continue
        if min(main_chroma, math.hypot(a, b)) >= 12.0:
            offset = ((math.degrees(math.atan2(b, a)) - main_hue + 180.0) % 360.0 - 180.0) / 30.0
        else:
            offset = (lightness - main_l) / 20.0
        target = int(round(offset))
        for steps in sorted(range(-6, 7), key=lambda k: (abs(k - target), abs(k))):
            degree = in_scale.get((tonic_pc + 7 * steps) % 12)
            if degree and degree not in chosen and _triad_is_consonant(scale, degree):
                chosen.append(degree)
                break
    for degree in DEGREE_PREFERENCE:
        if len(chosen) >= distinct - 1:
            break
        if degree not in chosen and _triad_is_consonant(scale, degree):
            chosen.append(degree)
    return [0] + [chosen[int(i)] for i in rng.permutation(len(chosen))]


def plan_music(features: ImageFeatures, duration_s: float, seed: int = 0) -> MusicalPlan:
    """Decide the piece for an image.

    Args:
        features: what :func:`~art2mus.models.procedural.analysis.analyse_image` measured.
        duration_s: length of the loop, seconds (> 0).
        seed: varies the order of the chords, where melody notes and sparkles fall, small melodic
            deviations; key, mode, tempo, register, timbre and density stay the image's.

    Returns:
        The :class:`MusicalPlan`.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0 seconds, got {duration_s}")
    f = features
    # Features rescaled to the range paintings and photographs actually span, so that the musical
    # parameters use their whole range across a collection.
    light = _clip01((f.brightness - 0.2) / 0.6)
    colour = _clip01((f.saturation - 0.15) / 0.6)
    drama = _clip01((f.contrast - 0.2) / 0.6)
    edges = _clip01(f.edge_density / 0.5)
    grain = _clip01((f.texture - 0.1) / 0.6)
    busy = 0.65 * edges + 0.35 * grain

    # Key and mode: hue picks the tonic on the circle of fifths, lightness and warmth the mode.
    tonic_pc = _tonic_from_hue(f.hue_deg)
    mode, scale = MODES[_mode_index(light, f.warmth)]
    steps = _ScaleSteps(tonic_pc, scale)

    # Time: busier images are faster; irregular, asymmetric images sway in three.
    beats_per_bar = 3 if (f.rhythm_regularity < 0.3 and f.symmetry < 0.5) else 4
    bars, beats_per_bar, beat_s = _timeline(duration_s, 48.0 + 48.0 * busy, beats_per_bar)
    bar_s = beat_s * beats_per_bar
    total_beats = bars * beats_per_bar

    # Register: brighter images sit higher; weight low in the frame pulls everything down.
    drone_target = 38.0 + 12.0 * light - 3.0 * f.centre_y
    drone_root = min((tonic_pc + 12 * o for o in range(1, 5)), key=lambda m: abs(m - drone_target))
    drone_midi = (drone_root, drone_root + 7, drone_root + 12)

    # Harmony: colour variety sets how many chords the progression visits, saturation how rich they are.
    rng_harmony = seed_rng(seed, STREAM_HARMONY)
    progression = _progression(f, tonic_pc, scale, rng_harmony)
    tones = 3 + int(colour > 0.35) + int(colour > 0.7)
    bed_low = int(round(50.0 + 10.0 * light - 3.0 * f.centre_y))
    bars_per_chord = int(min(4, max(1, round(8.0 / bar_s))))
    segments = max(1, int(round(bars / bars_per_chord)))
    bounds_s = np.round(np.linspace(0, bars, segments + 1)) * bar_s
    # The loop point sits in the middle of the first (tonic) chord, never on a chord change: the grid
    # of changes is moved back by half the first chord, which then straddles the seam.
    shift_s = 0.5 * bounds_s[1] if segments > 1 else 0.0
    chords = []
    for i in range(segments):
        degree = progression[i % len(progression)]
        pcs = _chord_pitch_classes(scale, tonic_pc, degree, tones)
        voiced = _voice(pcs, bed_low)
        bass = bed_low - 12 + (pcs[0] - bed_low) % 12
        chords.append(
            ChordSegment(
                start_s=float((bounds_s[i] - shift_s) % duration_s),
                duration_s=float(bounds_s[i + 1] - bounds_s[i]),
                degree=degree,
                midi=(bass,) + voiced,
            )
        )

    def chord_at(t: float) -> ChordSegment:
        position = (t + shift_s) % duration_s
        index = int(np.searchsorted(bounds_s, position, side="right")) - 1
        return chords[min(max(index, 0), segments - 1)]

    # Melody: the loop scans the image from left to right; column lightness draws the contour,
    # column edge energy places the notes, edge density sets how many.
    rng_melody = seed_rng(seed, STREAM_MELODY)
    slots_per_beat = 2
    n_slots = total_beats * slots_per_beat
    slot_s = beat_s / slots_per_beat
    slot_times = np.arange(n_slots) * slot_s
    scan = slot_times / duration_s
    bands = np.linspace(0.0, 1.0, len(f.column_activity), endpoint=False) + 0.5 / len(f.column_activity)
    activity = np.interp(scan, bands, f.column_activity)
    lightness = np.array(f.column_lightness)
    profile = np.interp(scan, bands, lightness)
    contour = 0.5 + (profile - lightness.mean()) / (2.0 * max(float(np.ptp(lightness)), 0.25))
    position_in_bar = np.arange(n_slots) % (beats_per_bar * slots_per_beat)
    metric = np.where(position_in_bar == 0, 1.0, np.where(position_in_bar % slots_per_beat == 0, 0.6, 0.3))
    metric = metric ** (0.5 + 1.5 * f.rhythm_regularity)
    phrase = np.array([1.0, 0.8, 1.0, 0.3])[(np.arange(n_slots) // (beats_per_bar * slots_per_beat)) % 4]
    if bars < 4:
        phrase = np.ones(n_slots)
    weight = metric * (0.35 + 0.65 * activity) * phrase
    # A breath at the loop point: no melody note starts in the beat before it or the beat after it.
    if total_beats > 2:
        weight[:slots_per_beat] = 0.0
        weight[-slots_per_beat:] = 0.0
    notes_per_bar = 0.5 + 3.5 * busy
    # How many notes is the image's decision; which slots get them is the seed's, drawn in proportion
    # to the slot weights (Efraimidis-Spirakis keys: a slightly different image keeps most picks).
    n_notes = int(min(np.count_nonzero(weight), max(1, round(notes_per_bar * bars))))
    keys = np.log(rng_melody.random(n_slots)) / np.maximum(weight, 1e-12)
    onsets = np.sort(np.argsort(-keys, kind="stable")[:n_notes])
    jitter = rng_melody.normal(0.0, 0.5, n_slots)
    accent = rng_melody.normal(0.0, 1.0, n_slots)
    centre_step = steps.nearest_step(64.0 + 14.0 * light - 4.0 * f.centre_y)
    span = 3.0 + 5.0 * drama
    melody_decay = 0.6 + 2.4 * (1.0 - busy)
    melody = []
    previous = centre_step
    for k in onsets:
        step = int(round(centre_step + (contour[k] - 0.5) * 2.0 * span + jitter[k]))
        step = previous + int(np.clip(step - previous, -5, 5))
        if position_in_bar[k] % slots_per_beat == 0:
            chord_pcs = {m % 12 for m in chord_at(slot_times[k]).midi}
            near = [s for s in range(step - 2, step + 3) if steps.midi(s) % 12 in chord_pcs]
            if near:
                step = min(near, key=lambda s: (abs(s - step), s))
        previous = step
        velocity = 0.55 + 0.25 * metric[k] + (0.06 + 0.2 * drama) * accent[k]
        pan = 0.7 * f.centre_x + 0.5 * f.spread * (scan[k] - 0.5)
        melody.append(
            NoteEvent(
                start_s=float(slot_times[k]),
                midi=steps.midi(step),
                velocity=float(np.clip(velocity, 0.15, 1.0)),
                pan=float(np.clip(pan, -0.9, 0.9)),
                length_s=float(min(melody_decay * 4.0, 8.0)),
            )
        )

    # Sparkles: fine texture becomes a scatter of high, short, glassy notes from the pentatonic core
    # of the mode; regular images snap them to a sixteenth-note grid.
    rng_sparkles = seed_rng(seed, STREAM_SPARKLES)
    rate = 0.2 + 5.0 * grain
    count = int(round(rate * duration_s))
    # Sparkles fall anywhere but close to the loop point (from half a beat before it to three
    # quarters after), which keeps the seam as calm as the quietest moments inside.
    before, after = 0.5 * min(beat_s, 0.4 * duration_s), 0.75 * min(beat_s, 0.4 * duration_s)
    times = np.sort(after + rng_sparkles.random(count) * (duration_s - before - after))
    if f.rhythm_regularity > 0.5:
        grid = beat_s / 4.0
        times = np.clip(np.round(times / grid) * grid, after, duration_s - before)
    pentatonic = (0, 1, 2, 4, 5)
    low_step = centre_step + 7
    sparkle_steps = [s for s in range(low_step, low_step + 8) if s % 7 in pentatonic]
    choice = rng_sparkles.integers(0, len(sparkle_steps), count)
    velocities = rng_sparkles.uniform(0.3, 1.0, count)
    width = 0.3 + 0.6 * f.spread
    pans = rng_sparkles.uniform(-width, width, count)
    sparkle_len = 0.25 - 0.15 * grain
    sparkles = tuple(
        NoteEvent(float(t), steps.midi(sparkle_steps[int(c)]), float(v), float(p), float(sparkle_len))
        for t, c, v, p in zip(times, choice, velocities, pans, strict=False)
    )

    levels = {
        "drone": 0.0,
        "bed": -2.0 + 2.0 * f.colour_variety,
        "melody": 3.0 + 6.0 * drama,
        "sparkles": -8.0 + 6.0 * grain,
        "noise": -24.0 + 12.0 * grain,
    }
    plan = MusicalPlan(
        duration_s=float(duration_s),
        seed=int(seed),
        tonic_pc=tonic_pc,
        mode=mode,
        scale=scale,
        tempo_bpm=60.0 / beat_s,
        beats_per_bar=beats_per_bar,
        bars=bars,
        beat_s=beat_s,
        drone_midi=drone_midi,
        drone_rolloff=2.2 - 1.2 * colour,
        drone_bandwidth_cents=5.0 + 30.0 * grain,
        drone_width=0.4 + 0.6 * (1.0 - f.symmetry),
        swell_depth=0.15 + 0.45 * drama,
        swell_cycles=max(1, int(round(duration_s / 16.0))),
        chords=tuple(chords),
        bed_rolloff=1.9 - 1.1 * colour,
        bed_bandwidth_cents=15.0 + 35.0 * grain,
        bed_width=0.3 + 0.6 * f.spread,
        bed_crossfade_s=min(1.5 * beat_s, 0.25 * min(c.duration_s for c in chords)),
        melody=tuple(melody),
        melody_warmth=(f.warmth + 1.0) / 2.0,
        melody_fm_index=0.5 + 3.0 * colour,
        melody_decay_s=melody_decay,
        sparkles=sparkles,
        noise_centre_hz=250.0 * 2.0 ** (4.0 * light),
        noise_width_octaves=0.8 + 2.0 * grain,
        gust_cycles=(max(1, int(round(duration_s / 9.0))), max(1, int(round(duration_s / 3.7)))),
        reverb_t60_s=1.5 + 3.5 * (1.0 - busy),
        reverb_damping=0.2 + 0.6 * (f.warmth + 1.0) / 2.0,
        reverb_predelay_s=0.01 + 0.03 * f.spread,
        reverb_wet_db=-8.0 + 4.0 * (1.0 - busy),
        levels_db=levels,
    )
    logger.debug("plan: %s", plan.to_metadata())
    return plan
