"""A curator who moves audio.loudness_lufs re-levels the cached soundscapes instead of rendering them again:
the target was part of every cache key, so -23 -> -20 LUFS for a noisy room made every soundscape a miss
(seconds each for the procedural sonifier, minutes each for Art2Mus on a gallery GPU, the room playing
fallbacks meanwhile). The key now leaves the target out, and the room levels each clip from its measured
loudness to the target; entries stored under the keys of before are still found, so an upgrade renders
nothing again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from art2mus.installation import cache as cache_module
from art2mus.installation import soundscapes as soundscapes_module
from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.models.generator import Soundscape
from art2mus.models.procedural.generator import ProceduralGenerator
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_reload_keeps_recognition import started_gallery


@pytest.fixture
def renderings(monkeypatch) -> list[float]:
    """The loudness target of every procedural rendering made (the generator called)."""
    made: list[float] = []
    generate = ProceduralGenerator.generate

    def counted(self, image, request):
        made.append(request.loudness_lufs)
        return generate(self, image, request)

    monkeypatch.setattr(ProceduralGenerator, "generate", counted)
    return made


def _voice_level_db(gallery: Gallery, clock, artwork_id: str = "amber-fields") -> float:
    """The level (dB) ``artwork_id``'s voice plays at once chosen and faded in."""
    gallery.play_artwork(artwork_id)
    for _ in range(100):  # 5 s: past the crossfade
        clock.advance(0.05)
        gallery.engine.pump()
    (voice,) = [v for v in gallery.engine.mixer.voices if v.key == artwork_id and not v.finished]
    return 20 * np.log10(voice.level)


def test_a_loudness_change_re_levels_the_cached_soundscapes_without_rendering_them(
    tmp_path, repo_root, renderings
):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    spec["audio"]["loudness_lufs"] = -23
    path = tmp_path / "exhibit.yaml"
    gallery, clock = started_gallery(path, spec)
    try:
        assert renderings == [-23, -23, -23]  # two artworks and the idle ambience
        before = _voice_level_db(gallery, clock)
        # a reload (SIGHUP) keeps every generated clip and re-levels it
        spec["audio"]["loudness_lufs"] = -20
        path.write_text(json.dumps(spec))
        assert gallery.reload(), gallery.last_reload
        assert len(renderings) == 3
        assert {"amber-fields", "city-at-six", IDLE_KEY} <= gallery.library.kept
        for _ in range(100):
            clock.advance(0.05)
            gallery.engine.pump()
        (voice,) = [v for v in gallery.engine.mixer.voices if v.key == "amber-fields" and not v.finished]
        assert 20 * np.log10(voice.level) - before == pytest.approx(3.0, abs=0.01)
    finally:
        gallery.close()
        gallery.engine.close()
    # a restart at the new target reads every soundscape from the cache and plays it 3 dB louder
    restarted, clock = started_gallery(path, spec)
    try:
        assert len(renderings) == 3
        assert restarted.library.from_cache == {"amber-fields", "city-at-six", IDLE_KEY}
        clip = restarted.library.clips["amber-fields"]
        assert clip.loudness_lufs == pytest.approx(-23, abs=0.5)  # stored at the target it was rendered at
        assert _voice_level_db(restarted, clock) - before == pytest.approx(3.0, abs=0.01)
    finally:
        restarted.close()
        restarted.engine.close()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3  # no second set of entries


def _pixels_digest_before(image: np.ndarray) -> str:
    digest = hashlib.sha256(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def _key_of_before(backend, settings, request, image, version=None):
    """The cache key as the code before computed it (up to 269456b), the loudness target in the request."""
    recipe = {
        "version": cache_module.CACHE_VERSION,
        "backend": backend,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in sorted(settings.items())},
        "request": {
            "duration_s": request.duration_s,
            "seed": request.seed,
            "loop": request.loop,
            "loudness_lufs": request.loudness_lufs,
            "options": request.options,
        },
        "image": image if isinstance(image, str) else _pixels_digest_before(image),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:32]


def test_entries_stored_under_the_keys_of_before_are_found_without_rendering(
    tmp_path, repo_root, renderings, monkeypatch
):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    spec["audio"]["loudness_lufs"] = -23
    path = tmp_path / "exhibit.yaml"
    # a cache filled by the code before: the loudness target in every key, no renaming
    with monkeypatch.context() as before:
        before.setattr(soundscapes_module, "cache_key", _key_of_before)
        before.setattr(SoundscapeCache, "resolve", lambda self, key, legacy_key: key, raising=False)
        gallery, _ = started_gallery(path, spec)
        gallery.close()
        gallery.engine.close()
    assert len(renderings) == 3
    cache_dir = tmp_path / "cache"
    old_keys = {p.stem for p in cache_dir.glob("*.json")}
    assert len(old_keys) == 3
    upgraded, _ = started_gallery(path, spec)
    upgraded.close()
    upgraded.engine.close()
    assert len(renderings) == 3  # found: nothing rendered again
    assert upgraded.library.from_cache == {"amber-fields", "city-at-six", IDLE_KEY}
    sidecars = [json.loads(p.read_text()) for p in cache_dir.glob("*.json")]
    assert {s["adopted_from"] for s in sidecars} == old_keys  # renamed, not copied
    assert {s["key"] for s in sidecars}.isdisjoint(old_keys)
    # and they follow a loudness change from now on
    spec["audio"]["loudness_lufs"] = -20
    moved, _ = started_gallery(path, spec)
    moved.close()
    moved.engine.close()
    assert len(renderings) == 3 and moved.library.from_cache == {"amber-fields", "city-at-six", IDLE_KEY}


def _tone() -> Soundscape:
    t = np.arange(48000) / 48000
    x = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return Soundscape(np.stack([x, x], axis=1), 48000, {"generator": "test"})


def test_resolve_renames_an_entry_of_before_finishes_a_cut_rename_and_reads_one_it_cannot_rename(
    tmp_path, monkeypatch
):
    cache = SoundscapeCache(tmp_path)
    assert cache.resolve("new", "old") == "new"  # neither there: the key
    cache.put("old", _tone(), {"what": "a"})
    cache.store_played_loudness("old", "fmt", -23.5)
    assert cache.resolve("new", "old") == "new"
    assert not (tmp_path / "old.flac").exists() and not (tmp_path / "old.json").exists()
    assert cache.get("new") is not None and cache.played_loudness("new", "fmt") == -23.5
    assert cache.adopted_from("new") == "old" and cache.adopted_from("old") is None
    # a power cut between the audio's rename and the sidecar's: finished at the next look-up
    cache.put("old2", _tone())
    os.replace(tmp_path / "old2.flac", tmp_path / "new2.flac")
    assert cache.resolve("new2", "old2") == "new2" and cache.get("new2") is not None
    assert not (tmp_path / "old2.json").exists()
    # a cache the process may not rename in (a read-only mount): the entry is read where it is
    cache.put("old3", _tone())

    def refused(*_args):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(cache_module.os, "replace", refused)
    assert cache.resolve("new3", "old3") == "old3" and cache.get("old3") is not None


def test_a_preview_keeps_the_unseen_soundscapes_the_live_store_recorded_under_the_keys_of_before(
    tmp_path, repo_root, monkeypatch
):
    """A `simulate` preview removes the cache entries its walk made for unseen artworks, keeping those
    in the cache before it: an entry the walk renamed from its key of before is one of those."""
    from click.testing import CliRunner

    from art2mus.exhibits.demo_collection.unseen_walk import unseen_walk_script
    from art2mus.exhibits.demo_collection.walk import write_walk_video
    from art2mus.installation.cli import main
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.unseen_store import UnseenStore, unseen_dir
    from tests.installation.test_unseen import _exhibit

    video = write_walk_video(tmp_path / "unseen-walk.mp4", unseen_walk_script()).path
    path = _exhibit(tmp_path, repo_root, video)
    with monkeypatch.context() as before:  # the daemon of before met the unseen artworks
        before.setattr(soundscapes_module, "cache_key", _key_of_before)
        before.setattr(SoundscapeCache, "resolve", lambda self, key, legacy_key: key, raising=False)
        result = CliRunner().invoke(main, ["simulate", str(path), "--json", "--keep-unseen"])
        assert result.exit_code == 0, result.output
    config = load_exhibit(path)
    cache = SoundscapeCache.from_config(config.cache)
    recorded = {e["key"] for a in UnseenStore(unseen_dir(config)).artworks.values() for e in a.cached}
    cached = {key for key, _, _ in cache.entries()}
    assert recorded and recorded <= cached
    result = CliRunner().invoke(main, ["simulate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    now = {key for key, _, _ in cache.entries()}
    assert len(now) == len(cached)  # each entry renamed, none removed, none rendered anew
    assert recorded <= now | {cache.adopted_from(key) for key in now}


def test_prerender_finds_the_entries_of_before_and_keeps_them_through_a_loudness_change(
    tmp_path, repo_root, renderings, monkeypatch
):
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.soundscapes import SoundscapeSource

    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    path = tmp_path / "exhibit.yaml"

    def prerender(loudness: float) -> list[str]:
        spec["audio"]["loudness_lufs"] = loudness
        path.write_text(json.dumps(spec))
        config = load_exhibit(path)
        source = SoundscapeSource(config, cache=SoundscapeCache.from_config(config.cache))
        return [result.status for result in source.prerender()]

    with monkeypatch.context() as before:
        before.setattr(soundscapes_module, "cache_key", _key_of_before)
        before.setattr(SoundscapeCache, "resolve", lambda self, key, legacy_key: key, raising=False)
        assert prerender(-23) == ["rendered"] * 3
    assert prerender(-23) == ["cached"] * 3  # the upgrade's first prerender renames them
    assert prerender(-18) == ["cached"] * 3
    assert renderings == [-23, -23, -23]
