"""The library's soundscapes within ``audio.memory_mb``: the clips chosen last stay decoded, the others are
let go and read again when chosen (from the cache, re-rendered when the entry went bad, or from their file)."""

from __future__ import annotations

import json
import logging
import shutil
import threading

import numpy as np
import pytest
import yaml

from art2mus.installation.audio.clip import prepare_clip
from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.clip_shelf import ClipShelf
from art2mus.installation.config import load_exhibit
from art2mus.installation.director import UNREADABLE_RETRY_S
from art2mus.installation.gallery import Gallery
from tests.installation.small_exhibit import small_exhibit_spec

SR = 48000
IDS = ["amber-fields", "city-at-six", "composition-with-signals", "evening-regatta", "hills-of-orvale"]


def _clip(key: str, seconds: float = 1.0, seed: int = 0):
    noise = np.random.default_rng(seed).normal(0, 0.1, (int(seconds * SR), 2)).astype(np.float32)
    return prepare_clip(noise, SR, key=key, mix_rate=SR, channels=2, loudness_lufs=-23.0)


class _Reloads:
    """Reloads that make the same audio again and count how often they were called."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, key: str, seed: int):
        def again():
            self.calls[key] = self.calls.get(key, 0) + 1
            return _clip(key, seed=seed)

        return again


def test_the_shelf_holds_the_clips_chosen_last_within_its_budget_and_reads_the_others_again():
    one = _clip("x").samples.nbytes  # 384 kB for 1 s of stereo float32
    reloads = _Reloads()
    shelf = ClipShelf(budget_bytes=int(2.5 * one))
    originals = {}
    for k in range(5):
        originals[f"a{k}"] = _clip(f"a{k}", seed=k)
        shelf.put(f"a{k}", originals[f"a{k}"], reloads(f"a{k}", k))
    assert [w for w in shelf if shelf.is_held(w)] == ["a3", "a4"]
    assert shelf.held_bytes() <= 2.5 * one and reloads.calls == {}
    # what lists the collection never reads a clip again
    assert "a0" in shelf and shelf.duration_s("a0") == pytest.approx(1.0) and len(shelf) == 5
    assert reloads.calls == {}
    again = shelf["a0"]
    assert np.array_equal(again.samples, originals["a0"].samples) and reloads.calls == {"a0": 1}
    assert shelf["a0"] is again and reloads.calls == {"a0": 1}  # held now: the same object, not read twice
    assert [w for w in shelf if shelf.is_held(w)] == ["a4", "a0"]  # a3 was chosen least recently
    assert shelf.stats() == {
        "clips": 5,
        "held": 2,
        "held_mb": round(2 * one / 1e6, 1),
        "budget_mb": round(2.5 * one / 1e6, 1),
        "reloads": 1,
        "released": 4,
    }


def test_the_last_two_chosen_and_clips_without_a_reload_are_never_let_go():
    reloads = _Reloads()
    shelf = ClipShelf(budget_bytes=0)  # nothing fits
    shelf.put("sounding", _clip("sounding"), reloads("sounding", 1))
    shelf.put("fading", _clip("fading"), reloads("fading", 2))
    assert shelf.is_held("sounding") and shelf.is_held("fading")  # the crossfade's two voices stay
    shelf["generated"] = _clip("generated")  # handed over in memory: nothing to read it from again
    assert not shelf.is_held("sounding") and shelf.is_held("fading")
    shelf.put("next", _clip("next"), reloads("next", 3))
    assert not shelf.is_held("fading") and shelf.is_held("next")
    for _ in range(3):
        shelf.put("more", _clip("more"), reloads("more", 4))
        shelf.put("next", _clip("next"), reloads("next", 3))
    assert shelf.is_held("generated") and [w for w in shelf if shelf.is_held(w)] == [
        "generated",
        "more",
        "next",
    ]
    assert reloads.calls == {}


def test_a_reload_that_fails_leaves_the_entry_to_be_tried_again():
    shelf = ClipShelf(budget_bytes=0)
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("cannot read audio file gone.wav")
        return _clip("a")

    shelf.put("a", _clip("a"), flaky)
    shelf.put("b", _clip("b"), lambda: _clip("b"))
    shelf.put("c", _clip("c"), lambda: _clip("c"))
    assert not shelf.is_held("a")
    with pytest.raises(ValueError, match="gone.wav"):
        shelf["a"]
    assert "a" in shelf and not shelf.is_held("a")
    assert shelf["a"].key == "a" and len(attempts) == 2


def test_threads_choosing_at_once_each_get_the_clip_they_asked_for():
    reloads = _Reloads()
    one = _clip("x").samples.nbytes
    shelf = ClipShelf(budget_bytes=3 * one)
    for k in range(8):
        shelf.put(f"a{k}", _clip(f"a{k}", seed=k), reloads(f"a{k}", k))
    wrong: list[str] = []

    def choose(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(60):
            what = f"a{rng.integers(8)}"
            if shelf[what].key != what:
                wrong.append(what)

    threads = [threading.Thread(target=choose, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert shelf.held_bytes() <= 3 * one
    assert shelf.reloads == sum(reloads.calls.values()) > 0


# ---------------------------------------------------------------------- in a gallery


def _exhibit(tmp_path, repo_root, memory_mb: float, audio_file=None):
    audio = {artwork: None for artwork in IDS}
    if audio_file is not None:
        audio["city-at-six"] = audio_file
    spec = small_exhibit_spec(tmp_path, repo_root, audio)
    spec["audio"]["memory_mb"] = memory_mb
    path = tmp_path / f"exhibit-{memory_mb}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _gallery(path, clock=None):
    gallery = Gallery(load_exhibit(path), clock=clock)
    gallery.init_audio()
    gallery.init_soundscapes()
    return gallery


def _playing(gallery) -> str | None:
    """What the mixer plays once the director's commands have reached it."""
    gallery.engine.pump()
    return gallery.engine.status()["playing"]


def test_a_gallery_beyond_its_memory_reads_a_soundscape_again_when_chosen_and_plays_the_same_audio(
    tmp_path, repo_root
):
    _gallery(_exhibit(tmp_path, repo_root, 0))  # renders all five into the cache
    everything = _gallery(_exhibit(tmp_path, repo_root, 0))  # reads them, holds all
    one = everything.library.clips["amber-fields"].samples.nbytes  # 2 s: 768 kB
    clock = ManualClock()
    gallery = _gallery(_exhibit(tmp_path, repo_root, 2.5 * one / 1e6), clock)
    clips = gallery.library.clips
    assert gallery.library.from_cache >= set(IDS)
    # the first two fill the budget; the other three were only noted from their sidecars, not read
    assert [w for w in clips if clips.is_held(w)] == IDS[:2] and clips.held_bytes() <= 2.5 * one
    assert gallery.cache.hits == 3  # amber-fields, city-at-six and the idle ambience
    assert clips.duration_s("composition-with-signals") == pytest.approx(2.0) and clips.reloads == 0
    director = gallery.director
    director.set_override("composition-with-signals", now=1.0)
    assert _playing(gallery) == "composition-with-signals" and clips.reloads == 1
    # read from the same cache entry as the gallery that held everything: the very same samples
    held_by_all = everything.library.clips["composition-with-signals"]
    assert np.array_equal(clips["composition-with-signals"].samples, held_by_all.samples)
    assert clips["composition-with-signals"].loudness_lufs == held_by_all.loudness_lufs
    crossfade = gallery.engine.crossfade_seconds
    for what in IDS:
        clock.advance(crossfade + 0.5)  # the voice before has faded out: nothing protects its clip
        _playing(gallery)
        director.set_override(what, now=clock.monotonic())
        assert _playing(gallery) == what
        assert clips.held_bytes() <= 2.5 * one
    # going round five with room for two, each was let go before its turn
    assert clips.reloads == 6
    shown = gallery.status()["soundscapes"]  # the control panel's /api/status
    assert shown["clips"] == 5 and shown["held"] == 2 and shown["reloads"] == 6 and shown["budget_mb"] > 0


def test_a_cache_entry_damaged_while_the_gallery_runs_is_rendered_again_when_chosen(
    tmp_path, repo_root, caplog
):
    everything = _gallery(_exhibit(tmp_path, repo_root, 0))
    one = everything.library.clips["amber-fields"].samples.nbytes
    gallery = _gallery(_exhibit(tmp_path, repo_root, 2.5 * one / 1e6))
    # not read at this start (only noted from its sidecar): damaged afterwards or before, it is found
    # when chosen
    assert not gallery.library.clips.is_held("evening-regatta")
    sidecar = next(
        p
        for p in (tmp_path / "cache").glob("*.json")
        if json.loads(p.read_text())["recipe"]["what"] == "evening-regatta"
    )
    audio = sidecar.with_suffix(".flac")
    size = audio.stat().st_size
    audio.write_bytes(audio.read_bytes()[: size // 2])
    with caplog.at_level(logging.WARNING):
        gallery.director.set_override("evening-regatta", now=1.0)
    assert _playing(gallery) == "evening-regatta"
    assert (
        "is corrupt" in caplog.text
        and "evening-regatta: its soundscape is no longer in the cache" in caplog.text
    )
    again = gallery.library.clips["evening-regatta"].samples
    assert np.max(np.abs(again - everything.library.clips["evening-regatta"].samples)) < 1e-5  # 24-bit FLAC
    assert audio.stat().st_size == size  # stored again


def test_an_audio_file_gone_while_the_gallery_runs_keeps_what_sounds_and_is_tried_again_later(
    tmp_path, repo_root, caplog
):
    wav = tmp_path / "city.wav"
    import soundfile

    soundfile.write(wav, np.random.default_rng(1).normal(0, 0.1, (2 * SR, 2)).astype(np.float32), SR)
    _gallery(_exhibit(tmp_path, repo_root, 0, audio_file=wav))  # fills the cache
    gallery = _gallery(_exhibit(tmp_path, repo_root, 1.0, audio_file=wav))  # about one clip
    clips, director = gallery.library.clips, gallery.director
    director.set_override("composition-with-signals", now=0.5)
    director.set_override("amber-fields", now=1.0)
    assert _playing(gallery) == "amber-fields"
    assert not clips.is_held("city-at-six")  # let go: the file is read again when chosen
    shutil.move(wav, tmp_path / "away.wav")
    with caplog.at_level(logging.ERROR):
        director.set_override("city-at-six", now=2.0)
    assert _playing(gallery) == "amber-fields" and director.playing == "amber-fields"
    assert "city-at-six cannot be read again" in caplog.text and "city.wav" in caplog.text
    caplog.clear()
    shutil.move(tmp_path / "away.wav", wav)
    director.set_override("city-at-six", now=2.0 + UNREADABLE_RETRY_S / 2)  # not tried again so soon
    assert director.playing == "amber-fields" and caplog.text == ""
    director.set_override("city-at-six", now=3.0 + UNREADABLE_RETRY_S)
    assert _playing(gallery) == "city-at-six"


def test_a_curators_file_changed_since_the_start_is_measured_again_when_read_again(tmp_path, repo_root):
    import soundfile

    wav = tmp_path / "city.wav"
    quiet = np.random.default_rng(2).normal(0, 0.05, (2 * SR, 2)).astype(np.float32)
    soundfile.write(wav, quiet, SR, subtype="FLOAT")
    gallery = _gallery(_exhibit(tmp_path, repo_root, 1.0, audio_file=wav))
    clips = gallery.library.clips
    at_start = clips["city-at-six"].loudness_lufs
    unchanged = clips.reload_of("city-at-six")()
    assert unchanged.loudness_lufs == at_start and np.array_equal(
        unchanged.samples, clips["city-at-six"].samples
    )
    soundfile.write(wav, 4 * quiet, SR, subtype="FLOAT")  # the curator replaced it: 12 dB louder
    louder = clips.reload_of("city-at-six")()
    assert louder.loudness_lufs == pytest.approx(at_start + 20 * np.log10(4), abs=0.01)


def test_a_generated_rendering_is_read_again_from_the_cache_and_an_unseen_ones_loss_is_an_error(
    tmp_path, repo_root
):
    from art2mus.installation.generation_worker import GenerationResult

    gallery = _gallery(_exhibit(tmp_path, repo_root, 0))
    source = gallery.soundscape_source(gallery.exhibit)
    sidecar = next(
        p
        for p in (tmp_path / "cache").glob("*.json")
        if json.loads(p.read_text())["recipe"]["what"] == "amber-fields"
    )
    key = sidecar.stem
    held = gallery.library.clips["amber-fields"]
    result = GenerationResult(1, "amber-fields", "procedural", key, ok=True)
    again = source.generated_reload(result, gallery.engine)()
    assert np.max(np.abs(again.samples - held.samples)) < 1e-5 and again.key == "amber-fields"
    # carried in memory (the cache refused it): nothing to read it from again, so it is held
    carried = GenerationResult(2, "amber-fields", "procedural", key, ok=True, soundscape=object())
    assert source.generated_reload(carried, gallery.engine) is None
    # an unseen artwork's rendering whose entry is gone: no recipe here to make it again, the read fails
    unseen = source.generated_reload(
        GenerationResult(3, "unseen:abc", "procedural", key, ok=True), gallery.engine
    )
    sidecar.unlink()
    with pytest.raises(ValueError, match="unseen:abc: its soundscape is no longer in the cache"):
        unseen()
    # a listed artwork's is made again through its chain (and stored again)
    remade = source.generated_reload(result, gallery.engine)()
    assert np.max(np.abs(remade.samples - held.samples)) < 1e-5 and sidecar.exists()


def test_a_clip_a_voice_still_plays_is_never_let_go_so_walking_back_continues_it(tmp_path, repo_root):
    """Three quick changes inside one crossfade with room for one clip: every voice still fading keeps its clip
    (the same object: the engine resumes it where it is, instead of starting it again beside its own fading
    voice), and the clips are let go once their voices have ended."""
    _gallery(_exhibit(tmp_path, repo_root, 0))  # renders all five into the cache
    one = 2 * SR * 2 * 4  # 2 s of stereo float32
    clock = ManualClock()
    gallery = _gallery(_exhibit(tmp_path, repo_root, 1.2 * one / 1e6), clock)
    clips, director, engine = gallery.library.clips, gallery.director, gallery.engine
    for what in IDS[:4]:  # 0.3 s apart: each change starts while the ones before still fade
        director.set_override(what, now=clock.monotonic())
        assert _playing(gallery) == what
        clock.advance(0.3)
    _playing(gallery)
    sounding = engine.sounding_keys()
    assert set(IDS[:4]) <= sounding  # a crossfade lasts longer than the three changes
    first = clips["amber-fields"]  # the oldest voice, beyond the two most recent: still held
    assert all(clips.is_held(w) for w in IDS[:4]) and clips.reloads == 3  # the three not read at the start
    director.set_override("amber-fields", now=clock.monotonic())  # the visitor walks back
    _playing(gallery)
    amber = next(v for v in engine.status()["voices"] if v["key"] == "amber-fields")
    assert clips["amber-fields"] is first and clips.reloads == 3
    assert amber["position_s"] > 0.5  # continued where it was, not started again
    assert [v["key"] for v in engine.status()["voices"]].count("amber-fields") == 1
    clock.advance(engine.crossfade_seconds + 1.0)  # the others fade out and end
    _playing(gallery)
    assert engine.sounding_keys() == {"amber-fields"}
    director.set_override("hills-of-orvale", now=clock.monotonic())
    _playing(gallery)  # the next choice lets go of what no voice plays any more
    held = [w for w in clips if clips.is_held(w)]
    assert set(held) == {"amber-fields", "hills-of-orvale"} and clips.held_bytes() <= 2 * one
