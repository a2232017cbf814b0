"""A reload lets go of what it replaced: nothing of the old library (its shelf, its clips) stays referenced.

A soak of the demo saw the daemon's resident size step up at reloads that changed a seed (449 -> 519 MB
over five); the live soundscapes stayed one library's (9 clips, 146 MB of arrays after 40 reloads of a
real daemon), so what grew was glibc's heap, not our references; this test keeps it so."""

from __future__ import annotations

import gc
import weakref

import yaml

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from tests.installation.small_exhibit import procedural_exhibit

IDS = ["amber-fields", "city-at-six"]


def test_nothing_of_a_replaced_library_stays_referenced_after_reloads(tmp_path, repo_root):
    path = procedural_exhibit(tmp_path, repo_root, IDS, duration=2)
    spec = yaml.safe_load(path.read_text())
    clock = ManualClock()
    gallery = Gallery(load_exhibit(path), clock=clock)
    gallery.init_audio()
    gallery.init_soundscapes()
    gallery.director.set_override(IDS[0], now=0.0)  # the changed soundscape sounds, and crossfades out
    gallery.engine.pump()
    library = gallery.library
    libraries, shelves = [weakref.ref(library)], [weakref.ref(library.clips)]
    clips = [weakref.ref(library.clips[IDS[0]])]
    for seed in (12, 11, 12, 11):  # each reload changes one soundscape
        spec["artworks"][0]["soundscape"]["seed"] = seed
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        clock.advance(gallery.engine.crossfade_seconds + 1)  # the old clip has faded out: its voice ends
        gallery.engine.pump()
        library = gallery.library
        libraries.append(weakref.ref(library))
        shelves.append(weakref.ref(library.clips))
        clips.append(weakref.ref(library.clips[IDS[0]]))
    del library
    gc.collect()
    assert [ref() is not None for ref in libraries] == [False] * 4 + [True]
    assert [ref() is not None for ref in shelves] == [False] * 4 + [True]
    assert [ref() is not None for ref in clips] == [False] * 4 + [True]
