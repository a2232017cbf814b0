"""A reload's swap, on the main loop, does not compare whole soundscapes it need not: the director asked
whether what sounds (and the idle ambience) is the same audio by comparing the clips sample by sample, 70 ms
each for the demo's 40 s stereo clips, also when the reload had kept the very same clip (a change of
recognition settings: a 100-134 ms swap), and over the whole clip when a new rendering differed in its first
second already (an added artwork re-renders the idle ambience)."""

from __future__ import annotations

import numpy as np
import yaml

from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_reload_keeps_recognition import started_gallery


def test_a_reload_compares_no_kept_clip_and_a_new_rendering_by_its_first_second(
    tmp_path, repo_root, monkeypatch
):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    path = tmp_path / "exhibit.yaml"
    gallery, clock = started_gallery(path, spec)
    compared: list[int] = []
    allclose = np.allclose

    def counted(a, b, *args, **kwargs):
        compared.append(int(np.asarray(a).shape[0]))
        return allclose(a, b, *args, **kwargs)

    try:
        gallery.init_vision()
        clock.advance(1.0)
        gallery.director.update(VisionDecision(1.0, ARTWORK, "amber-fields"), 1.0)
        assert gallery.director.playing == "amber-fields"
        monkeypatch.setattr(np, "allclose", counted)

        spec["recognition"]["accept_inliers"] = 14  # recognition only: every clip kept as it is
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        assert compared == []  # before: [96000, 96000], both whole clips

        gallery.director.update(VisionDecision(2.0, "none"), 2.0)
        clock.advance(60.0)
        gallery.director.update(VisionDecision(62.0, "none"), 62.0)  # the idle ambience sounds
        hills = repo_root / "exhibits/demo/artworks/hills-of-orvale.png"  # the idle ambience is made from
        spec["artworks"].append({"id": "hills-of-orvale", "images": [str(hills)]})  # all the artworks: again
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        assert compared and max(compared) <= 48_000  # before: the whole new idle ambience against the old
    finally:
        gallery.close()
        gallery.engine.close()
