"""The status names an unseen artwork for the panel: it showed 'Now playing unseen:u45853f3f3e4a4a30', as
the panel's titles are the collection's only; now the status's titles give 'unseen artwork u4585… (seen
3 times)' for each unseen artwork it mentions."""

from __future__ import annotations

from types import SimpleNamespace

import yaml

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from tests.installation.small_exhibit import small_exhibit_spec

WHAT = "unseen:u45853f3f3e4a4a30"


def test_the_status_titles_an_unseen_artwork_by_its_short_id_and_sightings(tmp_path, repo_root):
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})))
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    gallery.init_soundscapes()
    library = gallery.library
    library.clips.put(WHAT, library.clips["amber-fields"])  # as its bridge is put in when it is first seen
    gallery.director.start(0.0)
    gallery.play_artwork(WHAT)
    remembered = {"u45853f3f3e4a4a30": SimpleNamespace(sightings=3)}
    store = SimpleNamespace(artworks=remembered)
    gallery.vision = SimpleNamespace(unseen=SimpleNamespace(store=store), presence=None, excluded={})
    status = gallery.status()
    assert status["playing"] == WHAT
    assert status["titles"] == {WHAT: "unseen artwork u4585… (seen 3 times)"}
    remembered.clear()  # forgotten meanwhile (the store keeps unseen.remember of them): still named
    assert gallery.status()["titles"] == {WHAT: "unseen artwork u4585…"}
    gallery.vision = None  # unseen off: listed artworks only, nothing to name
    gallery.play_artwork("amber-fields")
    assert gallery.unseen_titles(["amber-fields", "idle", None]) == {}
