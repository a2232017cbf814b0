"""A reload whose reference photo is missing (a typo in its path: city-at-sx.png) is refused, as
``art2mus validate`` says, and the room plays on with the running configuration; a photo that is there but
unreadable still applies (``test_reload.py``), and a start goes on with both (a room switched on is never
silent)."""

from __future__ import annotations

import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import load_exhibit, validate_exhibit
from art2mus.installation.gallery import Gallery


def test_a_reload_with_a_missing_photo_is_refused_naming_its_line(tmp_path, repo_root, caplog):
    path = tmp_path / "exhibit.yaml"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    gallery = Gallery(load_exhibit(path)).build()
    try:
        library, idle = gallery.library, gallery.library.idle
        typo = str(repo_root / "exhibits/demo/artworks/city-at-sx.png")
        spec["artworks"][1]["images"] = [typo]
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "city-at-sx.png" in text)
        caplog.clear()
        assert gallery.reload() is False
        reload = gallery.status()["reload"]
        assert not reload["ok"] and len(reload["problems"]) == 1, reload
        problem = reload["problems"][0]
        # validate's words for the same file: the file, the line, the field and the photo it names
        assert f"{path}:{line}:" in problem and "artworks[1].images[0]" in problem
        assert "file not found" in problem and "city-at-sx.png" in problem
        assert [str(p) for p in validate_exhibit(path)[1]] == reload["problems"]
        # nothing was made again from a plain picture: the running library and its idle ambience stay
        assert gallery.library is library and gallery.library.idle is idle
        assert "refused" in caplog.text and "plain picture" not in caplog.text
    finally:
        gallery.close()
