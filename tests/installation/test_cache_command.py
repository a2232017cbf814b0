"""Renderings no soundscape uses any more are listed and removed: only eviction above cache.max_size_gb
(20 GB) removed entries, so an upgrade that made everything again took a cache from 18 files / 45 MB to
37 / 90 MB for good. `art2mus cache list` says what plays each entry, `art2mus cache prune` removes the
unused ones (never one an exhibit it is given plays, nor, unless told, one read in the last days: another
exhibit sharing the folder may play it), and `doctor` mentions them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from art2mus.installation import soundscapes as soundscapes_module
from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.installation.soundscapes import SoundscapeSource
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_cache_loudness_key import _key_of_before

DAY = 86400.0


def _prerender(path: Path, spec: dict) -> list[str]:
    path.write_text(json.dumps(spec))
    config = load_exhibit(path)
    source = SoundscapeSource(config, cache=SoundscapeCache.from_config(config.cache))
    return [result.status for result in source.prerender()]


def _age(cache_dir: Path, keys: set[str], days: float) -> None:
    for key in keys:
        then = time.time() - days * DAY
        os.utime(cache_dir / f"{key}.flac", (then, then))


def _keys(cache_dir: Path) -> set[str]:
    return {p.stem for p in cache_dir.glob("*.json")}


def test_list_and_prune_remove_only_the_renderings_no_soundscape_plays(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    path = tmp_path / "exhibit.yaml"
    cache_dir = tmp_path / "cache"
    assert _prerender(path, spec) == ["rendered"] * 3
    first = _keys(cache_dir)
    spec["artworks"][0]["soundscape"]["seed"] = 7  # the curator changes amber-fields' seed
    assert _prerender(path, spec) == ["rendered", "cached", "cached"]
    (stale,) = first - _in_use(path)
    _age(cache_dir, {stale}, 10)

    listed = CliRunner().invoke(main, ["cache", "list", str(path)])
    assert listed.exit_code == 0, listed.output
    assert f"{stale}" in listed.output and "UNUSED (made for amber-fields with procedural)" in listed.output
    assert "city-at-six" in listed.output and "idle" in listed.output
    assert "4 entries" in listed.output and "1 unused" in listed.output
    as_json = CliRunner().invoke(main, ["cache", "list", str(path), "--json"])
    records = [json.loads(line) for line in as_json.output.splitlines()]
    assert {r["key"]: r["used_by"] for r in records}[stale] == []

    dry = CliRunner().invoke(main, ["cache", "prune", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove {stale}" in dry.output and "would remove 1 unused entries" in dry.output
    assert stale in _keys(cache_dir)
    pruned = CliRunner().invoke(main, ["cache", "prune", str(path)])
    assert pruned.exit_code == 0, pruned.output
    assert "removed 1 unused entries" in pruned.output and "MB freed" in pruned.output
    assert _keys(cache_dir) <= _in_use(path) and len(_keys(cache_dir)) == 3
    assert _prerender(path, spec) == ["cached"] * 3  # nothing in use went


def _in_use(path: Path) -> set[str]:
    return set(SoundscapeSource(load_exhibit(path)).keys_in_use())


def test_prune_keeps_what_another_exhibit_sharing_the_folder_may_play(tmp_path, repo_root):
    cache_dir = tmp_path / "cache"
    one = tmp_path / "one.yaml"
    other = tmp_path / "other.yaml"
    other_spec = small_exhibit_spec(tmp_path, repo_root, {"still-life-with-flowers": None})
    assert _prerender(other, other_spec) == ["rendered"] * 2
    theirs = _keys(cache_dir)
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    assert _prerender(one, spec) == ["rendered"] * 2
    # read in the last days: kept, and said
    pruned = CliRunner().invoke(main, ["cache", "prune", str(one)])
    assert pruned.exit_code == 0, pruned.output
    assert "removed 0 unused entries" in pruned.output
    assert "kept 2 unused entries" in pruned.output and "another exhibit sharing this folder" in pruned.output
    # both named: an entry either plays is kept, whatever its age
    _age(cache_dir, _keys(cache_dir), 30)
    both = CliRunner().invoke(main, ["cache", "prune", str(one), str(other), "--unused-days", "0"])
    assert both.exit_code == 0, both.output
    assert "removed 0 unused entries" in both.output and len(_keys(cache_dir)) == 4
    listed = CliRunner().invoke(main, ["cache", "list", str(one), str(other)])
    assert "UNUSED" not in listed.output and f"({other})" in listed.output
    # the folder is this exhibit's alone, says the technician
    alone = CliRunner().invoke(main, ["cache", "prune", str(one), "--unused-days", "0"])
    assert "removed 2 unused entries" in alone.output
    assert _keys(cache_dir).isdisjoint(theirs) and len(_keys(cache_dir)) == 2


def test_an_entry_under_a_key_of_before_is_in_use_until_it_is_renamed(tmp_path, repo_root, monkeypatch):
    """An upgrade's first start renames entries stored under the keys of before: a prune before that
    start must not take them for unused."""
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    path = tmp_path / "exhibit.yaml"
    with monkeypatch.context() as before:
        before.setattr(soundscapes_module, "cache_key", _key_of_before)
        before.setattr(SoundscapeCache, "resolve", lambda self, key, legacy_key: key, raising=False)
        assert _prerender(path, spec) == ["rendered"] * 2
    old = _keys(tmp_path / "cache")
    _age(tmp_path / "cache", old, 30)
    pruned = CliRunner().invoke(main, ["cache", "prune", str(path), "--unused-days", "0"])
    assert "removed 0 unused entries" in pruned.output and _keys(tmp_path / "cache") == old
    assert _prerender(path, spec) == ["cached"] * 2


def test_doctor_names_the_unused_entries_and_the_command_that_removes_them(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    path = tmp_path / "exhibit.yaml"
    _prerender(path, spec)
    spec["idle"]["seed"] = 5
    _prerender(path, spec)
    result = CliRunner().invoke(main, ["doctor", str(path), "--json"])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    (check,) = [line for line in lines if line["check"] == "cache entries"]
    assert check["status"] == "ok" and "1 of 3 entries" in check["detail"]
    assert f"art2mus cache prune {path}" in check["detail"]
