"""What sounds across a reload of the exhibit: an artwork renamed plays its clip on (and the control
panel's choice follows it), a choice whose artwork is gone ends with a log line, and an unseen artwork's
soundscape carries on at an unrelated reload."""

from __future__ import annotations

import logging
import types

import numpy as np
from test_director_hysteresis import _Engine  # records the director's commands

from art2mus.installation.clip_shelf import ClipShelf
from art2mus.installation.director import Director
from art2mus.installation.soundscapes import IDLE_KEY, SoundscapeLibrary, cache_recipe
from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision

UNSEEN = "unseen:u55952a2a2eac3a6b"


def _clip(seed: int):
    """A clip with 1 s of its own noise (what the director compares: samples and loop)."""
    samples = np.random.default_rng(seed).standard_normal((48000, 2)).astype(np.float32)
    return types.SimpleNamespace(samples=samples, loop=True)


def _library(entries: dict[str, int]) -> SoundscapeLibrary:
    """Artwork id -> the cache entry its clip is read from (the same entry: the same audio)."""
    shelf = ClipShelf()
    for what, entry in entries.items():

        def reload(entry=entry):
            return _clip(entry)

        reload.recipe = cache_recipe(f"entry-{entry}", "48000/2/loop")
        shelf.put(what, _clip(entry), reload)
    return SoundscapeLibrary(clips=shelf, idle=_clip(99))


def _seen(director: Director, what: str, t: float) -> None:
    director.update(VisionDecision(t, ARTWORK, what, 30), t)


def test_an_artwork_renamed_while_it_sounds_plays_its_clip_on(caplog):
    engine = _Engine()
    director = Director(engine, _library({"hills-of-orvale-1884": 1, "city-at-six": 2}), idle_after_s=5.0)
    director.start(0.0)
    _seen(director, "hills-of-orvale-1884", 1.0)
    clip = director.library.clips["hills-of-orvale-1884"]
    commands = len(engine.commands)
    caplog.set_level(logging.INFO, logger="art2mus.installation.director")
    library = _library({"hills-of-orvale": 1, "city-at-six": 2})  # read from the same cache entry
    director.replace_library(library, 5.0, 20.0)
    # before: idle (reload), then the new copy from 0 1.5 s later: 8 s of three voices, a ~4 dB dip
    assert director.playing == "hills-of-orvale" and engine.commands[commands:] == []
    assert library.clips["hills-of-orvale"] is clip  # the same voice plays on
    assert (director.events[-1].what, director.events[-1].reason) == ("hills-of-orvale", "reload")
    assert "hills-of-orvale-1884 is now called hills-of-orvale" in caplog.text
    for t in np.arange(20.1, 30.0, 0.1):  # the visitor is still there
        _seen(director, "hills-of-orvale", float(t))
    assert engine.commands[commands:] == [] and director.playing == "hills-of-orvale"


def test_the_panels_choice_follows_its_artwork_renamed_and_says_when_it_ends(caplog):
    engine = _Engine()
    director = Director(engine, _library({"city-at-six-1954": 2, "amber-fields": 3}), idle_after_s=5.0)
    director.start(0.0)
    director.set_override("city-at-six-1954", 1.0)  # POST /api/play {"artwork": "city-at-six-1954"}
    commands = len(engine.commands)
    caplog.set_level(logging.INFO, logger="art2mus.installation.director")
    director.replace_library(_library({"city-at-six": 2, "amber-fields": 3}), 5.0, 20.0)
    # before: the pin was dropped silently (override None) and the room went to idle
    assert director.override == "city-at-six" and director.playing == "city-at-six"
    assert engine.commands[commands:] == []
    assert "the control panel's choice follows city-at-six-1954, now called city-at-six" in caplog.text

    # the pinned artwork removed from the exhibit: the choice ends, and the log says so and why
    caplog.clear()
    director.replace_library(_library({"amber-fields": 3}), 5.0, 30.0)
    assert director.override is None and director.playing == IDLE_KEY
    assert engine.commands[-1] == ("play_idle", None)
    ended = [r for r in caplog.records if "choice (city-at-six) ends" in r.getMessage()]
    assert ended and "no longer has an artwork of that id" in ended[0].getMessage()
    assert ended[0].levelno == logging.WARNING


def test_two_new_ids_with_the_same_soundscape_are_no_rename():
    engine = _Engine()
    director = Director(engine, _library({"a-1": 1, "b": 2}), idle_after_s=5.0)
    director.start(0.0)
    _seen(director, "a-1", 1.0)
    director.replace_library(_library({"a": 1, "a-copy": 1, "b": 2}), 5.0, 20.0)
    assert director.playing == IDLE_KEY and engine.commands[-1] == ("play_idle", None)


def test_an_unseen_artworks_soundscape_carries_on_at_an_unrelated_reload():
    engine = _Engine()
    director = Director(engine, _library({"amber-fields": 3}), idle_after_s=5.0)
    director.start(0.0)
    director.library.clips.put(UNSEEN, _clip(7), lambda: _clip(7))  # as ensure_unseen_clip does
    director.library.made_by[UNSEEN] = "procedural"
    director.library.pending[UNSEEN] = 12  # its generator-process rendering will replace the bridge
    _seen(director, UNSEEN, 1.0)
    clip = director.library.clips[UNSEEN]
    commands = len(engine.commands)
    library = _library({"amber-fields": 3, "city-at-six": 2})  # a photo added
    director.replace_library(library, 5.0, 20.0)
    # before: 'now playing: idle (reload)', then back from the cache at the next frame, from 0
    assert director.playing == UNSEEN and engine.commands[commands:] == []
    assert library.clips[UNSEEN] is clip and library.pending[UNSEEN] == 12
    assert library.made_by[UNSEEN] == "procedural"
    for t in np.arange(20.1, 25.0, 0.1):
        _seen(director, UNSEEN, float(t))
    assert engine.commands[commands:] == [] and director.playing == UNSEEN


def test_a_renamed_artworks_clip_is_kept_by_its_recipe_without_comparing_samples(monkeypatch):
    """The swap runs on the main loop: a renamed artwork's clip, read from the same cache entry, is the same
    audio by its recipe; comparing the 45 s clips sample by sample took the loop 200 ms (sweep, 61c8e3d)."""
    import art2mus.installation.director as director_module

    compared: list[tuple[object, object]] = []
    same_audio = director_module._same_audio

    def counting(a, b):
        if a is not b:
            compared.append((a, b))
        return same_audio(a, b)

    monkeypatch.setattr(director_module, "_same_audio", counting)
    engine = _Engine()
    director = Director(engine, _library({"hills-of-orvale-1884": 1, "city-at-six": 2}), idle_after_s=5.0)
    director.start(0.0)
    _seen(director, "hills-of-orvale-1884", 1.0)
    clip = director.library.clips["hills-of-orvale-1884"]
    library = _library({"hills-of-orvale": 1, "city-at-six": 2})
    compared.clear()
    director.replace_library(library, 5.0, 20.0)
    assert director.playing == "hills-of-orvale" and library.clips["hills-of-orvale"] is clip
    assert [pair for pair in compared if any(x is clip for x in pair)] == []
