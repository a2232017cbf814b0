"""The reload's times in the status are in the collection's timezone, as the panel's timeline is: they were
UTC ('2026-12-06T08:27:36+00:00') beside a timeline in Europe/Rome."""

from __future__ import annotations

import datetime as dt

import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def test_the_reload_time_is_in_the_collections_timezone(tmp_path, repo_root):
    path = tmp_path / "exhibit.yaml"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["collection"] = {"name": "Rome room", "timezone": "Europe/Rome"}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    utc = dt.datetime(2026, 12, 6, 8, 27, 36, tzinfo=dt.timezone.utc)
    gallery = Gallery(load_exhibit(path), wall_clock=lambda: utc).build()
    try:
        gallery.request_reload()
        assert gallery.status()["reload_requested_at"] == "2026-12-06T09:27:36+01:00"
        assert gallery.reload() is True
        status = gallery.status()
        assert status["reload"]["ok"] and status["reload"]["at"] == "2026-12-06T09:27:36+01:00"
    finally:
        gallery.close()
