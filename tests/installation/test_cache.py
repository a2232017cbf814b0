"""The soundscape cache: what was rendered is read back, corrupt entries are re-rendered, size is bounded."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from art2mus.installation.audio.clip import played_as, prepare_clip
from art2mus.installation.cache import SoundscapeCache, cache_key
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.models.generator import GenerationRequest, Soundscape


def _tone(seconds: float = 1.0, rate: int = 48000, channels: int = 2) -> Soundscape:
    t = np.arange(int(seconds * rate)) / rate
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return Soundscape(
        np.stack([x, -x], axis=1) if channels == 2 else x, rate, {"generator": "test", "seed": 3}
    )


@pytest.mark.parametrize(("fmt", "tolerance"), [("flac", 2.0**-22), ("wav", 0.0)])
def test_round_trip(tmp_path, fmt, tolerance):
    cache = SoundscapeCache(tmp_path, audio_format=fmt)
    sound = _tone()
    assert cache.get("k") is None and cache.misses == 1
    assert cache.put("k", sound, {"what": "a"})
    back = cache.get("k")
    assert back is not None and cache.hits == 1
    assert back.sample_rate == 48000 and back.waveform.shape == sound.waveform.shape
    assert np.max(np.abs(back.waveform - sound.waveform)) <= tolerance  # 24-bit FLAC, exact float WAV
    assert back.metadata == {"generator": "test", "seed": 3}
    mono = _tone(channels=1)
    cache.put("m", mono)
    assert cache.get("m").waveform.ndim == 1


def test_key_follows_everything_that_decides_the_audio():
    image = np.zeros((8, 8, 3), np.uint8)
    request = GenerationRequest(duration_s=30, seed=1)
    base = cache_key("procedural", {"sample_rate": 48000}, request, image)
    assert base == cache_key(
        "procedural", {"sample_rate": 48000}, GenerationRequest(duration_s=30, seed=1), image.copy()
    )
    others = {
        cache_key("procedural", {"sample_rate": 48000}, GenerationRequest(duration_s=30, seed=2), image),
        cache_key("procedural", {"sample_rate": 48000}, GenerationRequest(duration_s=31, seed=1), image),
        cache_key("procedural", {"sample_rate": 44100}, request, image),
        cache_key("art2mus", {"sample_rate": 48000}, request, image),
        cache_key("procedural", {"sample_rate": 48000}, request, image + 1),
        cache_key("procedural", {"sample_rate": 48000}, request, "a-different-image-digest"),
    }
    assert base not in others and len(others) == 6
    # the loudness target decides the level alone, which the room sets as it plays each clip
    louder = GenerationRequest(duration_s=30, seed=1, loudness_lufs=-14.0)
    assert cache_key("procedural", {"sample_rate": 48000}, louder, image) == base


@pytest.mark.parametrize("environment", [None, "/srv/elsewhere"], ids=["env-unset", "env-set"])
def test_an_exhibit_that_sets_model_dir_keeps_its_cache_keys(tmp_path, monkeypatch, environment):
    """The model directory's default moved from `models` to $ART2MUS_MODEL_DIR: an art2mus generator that
    sets `model_dir` finds its renderings of before (the key recorded before the change), whatever the
    environment says; one that leaves it out keys on no machine's folder. The key recorded then had the
    loudness target and the folder's path in it: its entry is found under the key of now
    (test_cache_loudness_key.py, test_cache_model_dir_key.py)."""
    from art2mus.installation.config.exhibit import ExhibitConfig
    from art2mus.installation.soundscapes import SoundscapeSource

    if environment is None:
        monkeypatch.delenv("ART2MUS_MODEL_DIR", raising=False)
    else:
        monkeypatch.setenv("ART2MUS_MODEL_DIR", environment)
    exhibit = ExhibitConfig.model_validate(
        {
            "artworks": [{"id": "a", "images": ["/nonexistent/a.png"]}],
            "generators": {
                "procedural": {"type": "procedural"},
                "model": {"type": "art2mus", "model_dir": "/nonexistent/art2mus-models", "steps": 20},
                "unset": {"type": "art2mus", "steps": 20},
            },
        }
    )
    cache = SoundscapeCache(tmp_path)
    cache.put("3265c458c012fd084dfab02891703c83", _tone())
    source = SoundscapeSource(exhibit, cache=cache)
    request = GenerationRequest(duration_s=8, seed=3)
    assert source.key("model", request, "0" * 64) == "16c8f28a734be3b66055f403a969b6ac"
    assert cache.adopted_from("16c8f28a734be3b66055f403a969b6ac") == "3265c458c012fd084dfab02891703c83"
    assert SoundscapeSource(exhibit).key("model", request, "0" * 64) == "16c8f28a734be3b66055f403a969b6ac"
    assert source.recipe("unset")[1]["model_dir"] is None


@pytest.mark.parametrize(
    "damage",
    # a deleted audio file is missing, not corrupt: test_cache_missing_entry.py
    ["flip", "truncate", "bad-sidecar", "[]", "null", '"text"', '{"sha256": 5}', "bad-field"],
)
def test_a_corrupt_entry_is_a_miss_and_is_removed(tmp_path, damage, caplog):
    cache = SoundscapeCache(tmp_path)
    cache.put("k", _tone())
    audio, meta = tmp_path / "k.flac", tmp_path / "k.json"
    if damage == "flip":
        data = bytearray(audio.read_bytes())
        data[len(data) // 2] ^= 0xFF
        audio.write_bytes(bytes(data))
    elif damage == "truncate":
        audio.write_bytes(audio.read_bytes()[:1000])
    elif damage == "bad-sidecar":
        meta.write_text("{not json")
    elif damage == "bad-field":  # valid JSON object, a field of the wrong type
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "frames": "many", "metadata": [1]}))
    else:  # valid JSON of the wrong shape
        meta.write_text(damage)
    with caplog.at_level(logging.WARNING):
        assert cache.get("k") is None
    assert cache.corrupt == 1 and "corrupt" in caplog.text
    assert not audio.exists() and not meta.exists()


@pytest.mark.parametrize(
    ("sidecar", "said"),
    [
        (b"", "its sidecar k.json is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"\xff\xfe garbage", "its sidecar k.json is not valid JSON ("),
        (b"[]", "its sidecar k.json is not a JSON object of the expected shape"),
        (b'{"metadata": {}}', "its sidecar k.json lacks the field 'sha256'"),
    ],
)
def test_a_bad_sidecar_is_named_not_taken_for_unreadable_audio(tmp_path, sidecar, said, caplog):
    """A garbage sidecar read "cache entry k.flac is corrupt: it cannot be read (Expecting value: ...)": the
    technician looked at the audio file."""
    cache = SoundscapeCache(tmp_path)
    cache.put("k", _tone())
    (tmp_path / "k.json").write_bytes(sidecar)
    with caplog.at_level(logging.WARNING):
        assert cache.get("k") is None
    assert f"cache entry {tmp_path / 'k.flac'} is corrupt: {said}" in caplog.text, caplog.text
    assert "it cannot be read" not in caplog.text


def test_least_recently_used_entries_go_first(tmp_path):
    cache = SoundscapeCache(tmp_path, audio_format="wav")
    for i, key in enumerate("abc"):
        cache.put(key, _tone(1.0))
        os.utime(tmp_path / f"{key}.wav", (1000 + i, 1000 + i))
    one = max(size for _, size, _ in cache.entries())
    cache.get("a")  # used now: the most recent
    cache.max_size_bytes = 2 * one
    assert cache.evict() == 1
    assert sorted(k for k, _, _ in cache.entries()) == ["a", "c"]  # b was the least recently used


@pytest.mark.parametrize(
    ("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)], ids=["022", "027", "077"]
)
def test_an_entry_gets_the_writers_umask_like_any_file(tmp_path, umask, mask, mode):
    umask(mask)
    cache = SoundscapeCache(tmp_path)
    assert cache.put("k", _tone(0.1))
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {"k.flac": mode, "k.json": mode}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users")
def test_a_cache_prerendered_by_root_is_read_by_the_daemons_user(umask):
    """``art2mus prerender`` run as root (umask 022, as a shell gives it) into the cache of a daemon that runs
    as its own user: the daemon reads every entry instead of finding it unreadable and rendering it again."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    umask(0o022)
    folder = Path(tempfile.mkdtemp(prefix="art2mus-cache-"))  # pytest's tmp_path is closed to other users
    try:
        folder.chmod(0o755)
        SoundscapeCache(folder).put("k", _tone(0.2))
        pid = os.fork()
        if pid == 0:  # the daemon's user: nobody, with no write access to the folder
            code = 3
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                code = 0 if SoundscapeCache(folder).get("k") is not None else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the daemon's user could not read the entry"
        assert (folder / "k.flac").exists()
    finally:
        shutil.rmtree(folder)


def test_an_unreadable_entry_is_reported_as_a_permission_problem(tmp_path, caplog, monkeypatch):
    cache = SoundscapeCache(tmp_path)
    cache.put("k", _tone(0.1))
    real = Path.read_bytes

    def refused(self):
        if self.suffix == ".flac":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refused)
    with caplog.at_level(logging.WARNING):
        assert cache.get("k") is None
    assert "may not read it" in caplog.text and "as the daemon's user" in caplog.text


def test_a_write_that_never_finished_leaves_nothing_behind_for_long(tmp_path):
    cache = SoundscapeCache(tmp_path)
    stale, fresh = tmp_path / ".k.flac.0a1b2c.tmp", tmp_path / ".j.flac.3d4e5f.tmp"  # a power cut's leftovers
    for leftover in (stale, fresh):
        leftover.write_bytes(b"half a soundscape")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert cache.put("k", _tone(0.1))
    assert not stale.exists() and fresh.exists()  # one still being written by another process stays
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "k.flac", "k.json"]


def test_a_cache_on_a_read_only_disk_only_costs_renders(tmp_path, caplog):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    cache = SoundscapeCache(blocked / "cache")
    with caplog.at_level(logging.WARNING):
        assert cache.put("k", _tone()) is False
    assert "cannot store" in caplog.text and cache.get("k") is None


def _exhibit(tmp_path: Path, repo_root: Path) -> Path:
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {"id": a, "images": [str(demo / f"artworks/{a}.png")], "soundscape": {"duration": 3, "seed": 5}}
            for a in ("amber-fields", "city-at-six")
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"duration": 3},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": "cache"},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_restart_reads_the_cache_and_re_renders_a_corrupt_entry(tmp_path, repo_root, caplog):
    path = _exhibit(tmp_path, repo_root)

    def build():
        gallery = Gallery(load_exhibit(path))
        gallery.init_audio()
        return gallery, gallery.init_soundscapes()

    first_gallery, first = build()
    assert first.from_cache == set()
    entries = sorted((tmp_path / "cache").glob("*.json"))
    assert len(entries) == 3  # two artworks and the idle ambience
    caplog.clear()  # the first start's lines too, when an earlier test left art2mus's level at info
    with caplog.at_level(logging.INFO, logger="art2mus"):
        _, second = build()
    assert second.from_cache == {"amber-fields", "city-at-six", IDLE_KEY}
    # the start's lines say so, the idle ambience's too (it never did)
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("soundscape ")]
    assert len(started) == 3 and all(", from the cache" in line for line in started), started
    for key, clip in first.clips.items():
        assert np.max(np.abs(second.clips[key].samples - clip.samples)) < 1e-5  # 24-bit FLAC
    # a damaged file is detected and that one soundscape is rendered again (and stored again)
    victim = next(e for e in entries if json.loads(e.read_text())["recipe"]["what"] == "city-at-six")
    audio = victim.with_suffix(".flac")
    audio.write_bytes(audio.read_bytes()[:-5000])
    _, third = build()
    assert third.from_cache == {"amber-fields", IDLE_KEY}
    assert np.max(np.abs(third.clips["city-at-six"].samples - first.clips["city-at-six"].samples)) < 1e-5
    assert victim.exists() and audio.stat().st_size > 5000
    # a changed seed is a new rendering
    spec = yaml.safe_load(path.read_text())
    spec["artworks"][0]["soundscape"]["seed"] = 6
    path.write_text(yaml.safe_dump(spec))
    _, fourth = build()
    assert "amber-fields" not in fourth.from_cache and "city-at-six" in fourth.from_cache
    # and without the cache nothing is read or written
    gallery = Gallery(load_exhibit(path), use_cache=False)
    gallery.init_audio()
    assert gallery.init_soundscapes().from_cache == set() and gallery.cache is None


class _LoudnessSpy:
    """Counts the loudness measurements that preparing clips makes (and makes them)."""

    def __init__(self, monkeypatch):
        from art2mus.installation.audio import clip as clip_module

        self.calls = 0
        measure = clip_module.integrated_loudness

        def counted(*args, **kwargs):
            self.calls += 1
            return measure(*args, **kwargs)

        monkeypatch.setattr(clip_module, "integrated_loudness", counted)


def test_a_restart_reads_each_soundscapes_loudness_from_its_sidecar(tmp_path, repo_root, monkeypatch):
    path = _exhibit(tmp_path, repo_root)
    spy = _LoudnessSpy(monkeypatch)

    def build():
        gallery = Gallery(load_exhibit(path))
        engine = gallery.init_audio()
        return engine, gallery.init_soundscapes()

    engine, first = build()
    assert spy.calls == 3  # rendered: each measured once, and stored
    played = engine.played_as(loop=True)
    sidecars = [json.loads(p.read_text()) for p in sorted((tmp_path / "cache").glob("*.json"))]
    assert all(set(s["played_loudness"]) == {played} for s in sidecars)
    _, second = build()
    assert spy.calls == 3 and second.from_cache == {"amber-fields", "city-at-six", IDLE_KEY}  # none measured
    for key, clip in first.clips.items():
        # stored from the float rendering, read for its 24-bit FLAC copy: the same loudness to far below 0.01 LU
        assert second.clips[key].loudness_lufs == pytest.approx(clip.loudness_lufs, abs=1e-4)
    # an entry from before the loudness was stored: measured once, written back, then read
    for sidecar in (tmp_path / "cache").glob("*.json"):
        meta = json.loads(sidecar.read_text())
        del meta["played_loudness"]
        sidecar.write_text(json.dumps(meta))
    _, third = build()
    assert spy.calls == 6
    _, fourth = build()
    assert spy.calls == 6
    for key, clip in third.clips.items():
        assert fourth.clips[key].loudness_lufs == clip.loudness_lufs  # measured on the same audio: exact


@pytest.mark.parametrize(
    "record",
    [
        "not-a-record",
        {"lufs": "loud"},
        {"lufs": None},
        {"lufs": True},
        {"lufs": float("nan")},
        {"lufs": 300.0},
        {"lufs": -23.0},  # no checksum: measured on which audio?
        {"lufs": -23.0, "sha256": "0" * 64},  # measured on other audio than the entry holds
    ],
)
def test_a_stored_loudness_that_cannot_be_trusted_is_measured_again(tmp_path, record, caplog):
    cache = SoundscapeCache(tmp_path)
    cache.put("k", _tone())
    fmt = played_as(48000, 2, True, 0.25)
    measured = prepare_clip(cache.get("k").waveform, 48000, key="k").loudness_lufs
    assert cache.played_loudness("k", fmt) is None  # nothing stored yet
    assert cache.store_played_loudness("k", fmt, measured)
    assert cache.played_loudness("k", fmt) == measured
    assert cache.played_loudness("k", played_as(44100, 2, True, 0.25)) is None  # another mix format
    meta = json.loads((tmp_path / "k.json").read_text())
    meta["played_loudness"][fmt] = record
    (tmp_path / "k.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        assert cache.played_loudness("k", fmt) is None
    assert "measuring it again" in caplog.text
    assert cache.get("k") is not None  # the entry itself is fine: only its loudness is measured again
    assert cache.store_played_loudness("k", fmt, measured) and cache.played_loudness("k", fmt) == measured


def test_a_rendering_stored_again_drops_the_old_loudness(tmp_path):
    cache = SoundscapeCache(tmp_path)
    fmt = played_as(48000, 2, True, 0.25)
    cache.put("k", _tone())
    assert cache.store_played_loudness("k", fmt, -20.0)
    cache.put("k", _tone(2.0))
    assert cache.played_loudness("k", fmt) is None
    assert not cache.store_played_loudness("gone", fmt, -20.0)  # no entry: nothing written
    assert not (tmp_path / "gone.json").exists()


def test_peek_answers_from_the_sidecar_only_when_the_entry_can_be_played_without_measuring(tmp_path):
    cache = SoundscapeCache(tmp_path)
    fmt = played_as(48000, 2, True, 0.25)
    assert cache.peek("k", fmt) is None  # no entry
    cache.put("k", _tone(1.5, rate=44100))
    assert cache.peek("k", fmt) is None  # no loudness stored yet: it must be read and measured
    assert cache.store_played_loudness("k", fmt, -21.5)
    audio = tmp_path / "k.flac"
    os.utime(audio, (1_000_000, 1_000_000))
    assert cache.peek("k", fmt) == (int(1.5 * 44100), 44100, -21.5)
    assert audio.stat().st_mtime > 1_000_000  # a use, for the least-recently-used order
    assert cache.peek("k", played_as(48000, 2, False, 0.25)) is None  # measured for another form
    audio.write_bytes(b"")
    assert cache.peek("k", fmt) is None
    audio.unlink()
    assert cache.peek("k", fmt) is None


def test_a_start_from_the_cache_decodes_no_photo_and_a_changed_photo_renders_again(
    tmp_path, repo_root, monkeypatch
):
    """The cache is keyed by the photos' files, so a start that finds everything cached decodes no photo and
    makes no collection image (1,000 artworks: 1,000 decodes and an 8192 px square, at every start); a photo
    changed on disk is a new key for its artwork and for the idle ambience made from the collection."""
    import shutil

    import cv2

    from art2mus.installation import soundscapes

    demo = repo_root / "exhibits/demo"
    for a in ("amber-fields", "city-at-six"):
        shutil.copy(demo / f"artworks/{a}.png", tmp_path / f"{a}.png")
    spec = yaml.safe_load(_exhibit(tmp_path, repo_root).read_text())
    for artwork in spec["artworks"]:
        artwork["images"] = [str(tmp_path / f"{artwork['id']}.png")]
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    decoded: list[str] = []
    read_rgb = soundscapes.read_rgb
    monkeypatch.setattr(soundscapes, "read_rgb", lambda p: decoded.append(Path(p).stem) or read_rgb(p))

    def build():
        decoded.clear()
        gallery = Gallery(load_exhibit(path))
        gallery.init_audio()
        return gallery.init_soundscapes()

    first = build()
    assert first.from_cache == set()
    # rendered: each artwork from its photo, the idle ambience from both
    assert sorted(decoded) == ["amber-fields", "amber-fields", "city-at-six", "city-at-six"]
    second = build()
    assert second.from_cache == {"amber-fields", "city-at-six", IDLE_KEY} and decoded == []
    # the same picture saved again (other PNG compression: other bytes) is a new photo to the cache
    image = cv2.imread(str(tmp_path / "city-at-six.png"))
    cv2.imwrite(str(tmp_path / "city-at-six.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    third = build()
    assert third.from_cache == {"amber-fields"}
    assert sorted(decoded) == ["amber-fields", "city-at-six", "city-at-six"]
    assert build().from_cache == {"amber-fields", "city-at-six", IDLE_KEY} and decoded == []
