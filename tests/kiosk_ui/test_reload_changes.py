"""What a reload adds to the panel's "Recent changes": a change of what is heard, and nothing else."""

from __future__ import annotations

import yaml
from test_control_panel_api import write_small_exhibit

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def test_a_reload_that_changes_nothing_heard_adds_no_change(tmp_path, repo_root):
    """Each Reload added "The City at Six O'Clock (reload)" though the same soundscape played on."""
    path = write_small_exhibit(
        tmp_path, repo_root, control_panel={"enabled": False}, cache={"dir": str(tmp_path / "c")}
    )
    gallery = Gallery(load_exhibit(path), clock=ManualClock()).build()
    gallery.engine.open()
    try:
        gallery.director.start(0.0)
        events = gallery.director.events
        assert [e.reason for e in events] == ["start"]
        assert gallery.reload()  # the idle ambience plays on
        assert [e.reason for e in events] == ["start"]
        gallery.play_artwork("city-at-six")
        assert gallery.reload()
        assert [(e.what, e.reason) for e in events] == [("idle", "start"), ("city-at-six", "manual")]
        # a new soundscape for it (another length): that is a change, and it is listed
        spec = yaml.safe_load(path.read_text())
        spec["artworks"][1]["soundscape"]["duration"] = 4
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        assert [(e.what, e.reason) for e in events][-1] == ("city-at-six", "reload")
        # a new gain only: heard too
        spec["artworks"][1]["soundscape"]["gain_db"] = -3
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        assert gallery.library.gains_db.get("city-at-six") == -3
        assert len([e for e in events if e.reason == "reload"]) == 2
    finally:
        gallery.engine.close()
        gallery.close()
