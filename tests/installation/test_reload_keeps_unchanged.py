"""A reload takes over the soundscapes it would make the same way, reading none of them again, and lets go
of the others before it reads their new renderings: a reload of the demo read all nine again (about 4 s
of a core on the daemon's machine) and held two collections' audio at once."""

from __future__ import annotations

import numpy as np
import yaml

from art2mus.installation.audio.clip import prepare_clip
from art2mus.installation.clip_shelf import ClipShelf
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.soundscapes import IDLE_KEY
from tests.installation.small_exhibit import small_exhibit_spec

IDS = ["amber-fields", "city-at-six", "composition-with-signals", "evening-regatta", "hills-of-orvale"]


def _clip(key: str):
    noise = np.random.default_rng(0).normal(0, 0.1, (48000, 2)).astype(np.float32)
    return prepare_clip(noise, 48000, key=key, mix_rate=48000, channels=2, loudness_lufs=-23.0)


def test_the_shelf_hands_a_clip_over_as_it_is_and_lets_go_of_all_but_what_is_kept_or_sounding():
    def again():
        return _clip("x")

    again.recipe = ("cache", "k", "48000/2")
    old = ClipShelf(in_use=lambda: {"sounding"}, keep_recent=0)
    for what in ("kept", "changed", "sounding", "unread"):
        old.put(what, _clip(what), again)
    old.put_unread("unread", 1.0, 384000, again)
    old.put("no-reload", _clip("no-reload"))
    assert old.recipe_of("kept") == ("cache", "k", "48000/2") and old.recipe_of("no-reload") is None
    kept = old["kept"]
    assert old.let_go(keep={"kept"}) == kept.samples.nbytes  # only "changed" was let go
    assert {w for w in old if old.is_held(w)} == {"kept", "sounding", "no-reload"}
    new = ClipShelf()
    new.take("kept", old, again)
    new.take("unread", old, again)
    assert new["kept"] is kept and old.reloads == 0 and new.reloads == 0
    assert not new.is_held("unread") and new.duration_s("unread") == 1.0  # still read when first chosen


def test_a_reload_reads_only_the_soundscapes_that_changed_and_first_lets_go_of_the_old_ones(
    tmp_path, repo_root
):
    spec = small_exhibit_spec(tmp_path, repo_root, {what: None for what in IDS})
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    gallery.init_soundscapes()
    first = gallery.library
    clips, idle = {what: first.clips[what] for what in IDS}, first.idle
    # every soundscape the reload makes goes through the engine's prepare: note it, and whether the old
    # library still held that artwork's clip then
    made: list[tuple[str, bool]] = []
    prepare = gallery.engine.prepare

    def noting_prepare(*args, **kwargs):
        old = gallery.library.clips
        made.append((kwargs["key"], kwargs["key"] in old and old.is_held(kwargs["key"])))
        return prepare(*args, **kwargs)

    gallery.engine.prepare = noting_prepare
    hits = gallery.cache.hits

    assert gallery.reload(), gallery.last_reload  # nothing changed
    library = gallery.library
    assert made == [] and gallery.cache.hits == hits  # nothing read from the cache, nothing rendered
    assert all(library.clips[what] is clips[what] for what in IDS) and library.idle is idle
    assert library.kept == {*IDS, IDLE_KEY} and library.from_cache >= set(IDS)
    assert library.made_by == first.made_by and library.problems == {}

    # IDS[1] sounds and changes, IDS[3] changes too: only those two are made, and IDS[3]'s old clip is let
    # go before its new one is made; the one sounding is held until its new one crossfades in
    gallery.director.set_override(IDS[1], now=1.0)
    gallery.engine.pump()
    for changed in (IDS[1], IDS[3]):
        spec["artworks"][IDS.index(changed)]["soundscape"]["seed"] = 99
    path.write_text(yaml.safe_dump(spec))
    assert gallery.reload(), gallery.last_reload
    assert sorted(made) == [(IDS[1], True), (IDS[3], False)]
    library = gallery.library
    assert library.kept == {IDS[0], IDS[2], IDS[4], IDLE_KEY}
    assert library.clips[IDS[1]] is not clips[IDS[1]] and library.clips[IDS[0]] is clips[IDS[0]]
    gallery.engine.pump()
    assert gallery.engine.status()["playing"] == IDS[1]


def test_a_reload_keeps_the_bridge_of_a_model_that_still_cannot_render_and_sends_its_job_again(
    tmp_path, repo_root
):
    """While the model cannot render (here: it cannot load), its artworks play their fallback's bridge; a
    reload read every bridge again although the same one plays after it."""
    from art2mus.models.registry import GENERATOR_BACKENDS, GeneratorBackend

    cannot_load = {  # the exhibit's art2mus settings are not this stand-in's: it cannot be built
        **GENERATOR_BACKENDS,
        "art2mus": GeneratorBackend("art2mus", "worker_backends:ToneGenerator", "test", (), "the model"),
    }
    spec = small_exhibit_spec(tmp_path, repo_root, {what: None for what in IDS[:2]})
    spec["artworks"][0]["soundscape"]["generator"] = "art2mus"
    models = tmp_path / "models"
    models.mkdir()
    spec["generators"] = {
        "procedural": {"type": "procedural"},
        "art2mus": {"type": "art2mus", "model_dir": str(models), "device": "cpu", "fallback": "procedural"},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    gallery = Gallery(load_exhibit(path), generator_backends=cannot_load)
    gallery.init_audio()
    try:
        first = gallery.init_soundscapes()
        assert gallery.worker.wait_idle(60), gallery.worker.status()
        assert first.made_by[IDS[0]] == "procedural" and IDS[0] not in first.pending
        bridge = first.clips[IDS[0]]

        def jobs_of(what: str) -> int:
            return sum(job["what"] == what for job in gallery.worker.status().recent)

        assert jobs_of(IDS[0]) == 1
        made: list[str] = []
        prepare = gallery.engine.prepare
        gallery.engine.prepare = lambda *args, **kwargs: (
            made.append(kwargs["key"]),
            prepare(*args, **kwargs),
        )[1]
        assert gallery.reload(), gallery.last_reload
        library = gallery.library
        assert made == [] and library.clips[IDS[0]] is bridge and library.made_by[IDS[0]] == "procedural"
        assert gallery.worker.wait_idle(60), gallery.worker.status()
        assert jobs_of(IDS[0]) == 2  # the model got its try again
        assert library.kept == {*IDS[:2], IDLE_KEY}
    finally:
        gallery.close()
