"""The musical mapping: image features drive key, mode, tempo, density and timbre; the seed only varies details."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from art2mus.models.procedural.analysis import analyse_image
from art2mus.models.procedural.mapping import MODES, NOTE_NAMES, _tonic_from_hue, plan_music


def test_hue_walks_round_the_circle_of_fifths():
    # Scriabin: red C, orange G, yellow D, green A ... each 30 degrees one fifth up.
    names = [NOTE_NAMES[_tonic_from_hue(40.0 + 30.0 * k)] for k in range(12)]
    assert names == ["C", "G", "D", "A", "E", "B", "F#", "C#", "Ab", "Eb", "Bb", "F"]
    # Neighbouring hues give the same key or a neighbouring one (a fifth apart).
    for hue in np.linspace(0, 359, 97):
        interval = (_tonic_from_hue(hue + 3.0) - _tonic_from_hue(hue)) % 12
        assert interval in (0, 7)


def test_brighter_and_warmer_images_get_brighter_modes(test_images):
    base = analyse_image(test_images["grey"])
    order = [name for name, _ in MODES]
    dark_cold = dataclasses.replace(base, brightness=0.15, warmth=-0.8)
    light_warm = dataclasses.replace(base, brightness=0.8, warmth=0.8)
    assert order.index(plan_music(dark_cold, 8.0).mode) < order.index(plan_music(light_warm, 8.0).mode)
    assert plan_music(dark_cold, 8.0).mode in ("phrygian", "aeolian")
    assert plan_music(light_warm, 8.0).mode in ("ionian", "lydian")


def test_busy_images_are_faster_and_denser(test_images):
    calm = plan_music(analyse_image(test_images["dusk"]), 30.0)
    busy = plan_music(analyse_image(test_images["grid"]), 30.0)
    assert busy.tempo_bpm > calm.tempo_bpm + 15
    assert len(busy.melody) > 2 * len(calm.melody)
    assert len(busy.sparkles) > 2 * len(calm.sparkles)
    assert busy.reverb_t60_s < calm.reverb_t60_s


def test_saturation_enriches_harmony_and_timbre(test_images):
    grey = plan_music(analyse_image(test_images["grey"]), 20.0)
    vivid = plan_music(analyse_image(test_images["dusk"]), 20.0)
    assert len(vivid.chords[0].midi) > len(grey.chords[0].midi)
    assert vivid.drone_rolloff < grey.drone_rolloff
    assert vivid.melody_fm_index > grey.melody_fm_index


def test_the_loop_holds_whole_bars_and_notes_stay_in_key(test_images):
    for name, image in test_images.items():
        plan = plan_music(analyse_image(image), 17.3, seed=3)
        assert plan.bars * plan.beats_per_bar * plan.beat_s == pytest.approx(17.3)
        scale = {(plan.tonic_pc + step) % 12 for step in plan.scale}
        for note in plan.melody + plan.sparkles:
            assert note.midi % 12 in scale, name
            assert 0.0 <= note.start_s < 17.3
        for chord in plan.chords:
            assert {m % 12 for m in chord.midi} <= scale


def test_the_loop_point_is_a_calm_spot(test_images):
    plan = plan_music(analyse_image(test_images["grid"]), 24.0, seed=1)
    beat = plan.beat_s
    # No melody note starts within a beat of the loop point.
    assert all(beat - 1e-9 <= n.start_s < 24.0 - beat + 1e-9 for n in plan.melody)
    assert all(0.5 * beat <= n.start_s <= 24.0 - 0.4 * beat for n in plan.sparkles)
    # When the harmony moves, the loop point is in the middle of a chord, not on a change.
    assert len(plan.chords) > 1
    first = next(c for c in plan.chords if c.start_s + c.duration_s > 24.0)
    assert (first.start_s + first.duration_s) - 24.0 == pytest.approx(24.0 - first.start_s)


def test_seed_keeps_the_character_and_varies_the_details(test_images):
    features = analyse_image(test_images["sea"])
    a, b = plan_music(features, 20.0, seed=1), plan_music(features, 20.0, seed=2)
    for field in ("tonic_pc", "mode", "tempo_bpm", "drone_midi", "drone_rolloff", "melody_warmth", "reverb_t60_s"):
        assert getattr(a, field) == getattr(b, field), field
    assert len(a.melody) == len(b.melody) and len(a.sparkles) == len(b.sparkles)
    assert sorted({c.degree for c in a.chords}) == sorted({c.degree for c in b.chords})
    assert [n.start_s for n in a.melody] != [n.start_s for n in b.melody]
    assert plan_music(features, 20.0, seed=1) == a


def test_similar_images_give_nearly_the_same_plan(test_images):
    image = test_images["sea"]
    rng = np.random.default_rng(1)
    noisy = np.clip(image.astype(int) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)
    a, b = plan_music(analyse_image(image), 20.0, seed=4), plan_music(analyse_image(noisy), 20.0, seed=4)
    assert (a.tonic_pc, a.mode, a.beats_per_bar, len(a.chords)) == (b.tonic_pc, b.mode, b.beats_per_bar, len(b.chords))
    assert a.tempo_bpm == pytest.approx(b.tempo_bpm, rel=0.1)
    shared = {n.start_s for n in a.melody} & {n.start_s for n in b.melody}
    assert len(shared) >= 0.7 * len(a.melody)


def test_short_loops_and_metadata(test_images):
    plan = plan_music(analyse_image(test_images["night"]), 1.5, seed=0)
    assert plan.bars == 1 and len(plan.chords) == 1 and plan.melody
    meta = plan.to_metadata()
    assert json.loads(json.dumps(meta)) == meta
    assert meta["key"] == plan.key_name
    with pytest.raises(ValueError, match="duration_s"):
        plan_music(analyse_image(test_images["night"]), 0.0)
