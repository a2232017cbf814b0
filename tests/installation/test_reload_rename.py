"""Renaming an artwork in a running gallery (``- id: city-at-six`` -> ``- id: city``, reload) while the
panel has pinned it: its soundscape is read from the same cache entry, and the same clip plays on under
the new id with the pin following it (it was dropped silently, and the room went to idle)."""

from __future__ import annotations

import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def test_a_pinned_artwork_renamed_plays_on_under_its_new_id(tmp_path, repo_root):
    path = tmp_path / "exhibit.yaml"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    gallery = Gallery(load_exhibit(path)).build()
    try:
        gallery.play_artwork("city-at-six")
        clip = gallery.library.clips["city-at-six"]
        events = len(gallery.director.events)
        spec["artworks"][1]["id"] = "city"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        assert gallery.reload() is True
        assert "city" in gallery.library.from_cache  # not rendered again: the same cache entry
        status = gallery.status()
        assert status["playing"] == "city" and status["override"] == "city"
        assert gallery.library.clips["city"] is clip  # the same voice, not a crossfade to a new copy
        assert [(e.what, e.reason) for e in list(gallery.director.events)[events:]] == [("city", "reload")]
    finally:
        gallery.close()
