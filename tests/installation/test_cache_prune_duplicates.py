"""A rendering stored twice, under its key and under a key of before, has its old copy pruned: the demo's
cache held each of its 9 soundscapes twice byte-identical (18 entries, 93.9 MB) and ``cache prune
--unused-days 0`` removed none, as every key of before counted as in use. A key of before counts only while
the current key has no entry (the next look-up takes it over then)."""

from __future__ import annotations

from click.testing import CliRunner

from art2mus.installation import soundscapes as soundscapes_module
from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.cli import main
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_cache_command import _age, _keys, _prerender
from tests.installation.test_cache_loudness_key import _key_of_before


def test_the_copy_under_a_key_of_before_goes_once_the_current_key_has_its_own(
    tmp_path, repo_root, monkeypatch
):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    path = tmp_path / "exhibit.yaml"
    cache_dir = tmp_path / "cache"
    with monkeypatch.context() as before:
        before.setattr(soundscapes_module, "cache_key", _key_of_before)
        before.setattr(SoundscapeCache, "resolve", lambda self, key, legacy_key: key, raising=False)
        assert _prerender(path, spec) == ["rendered"] * 2
    old = _keys(cache_dir)
    with monkeypatch.context() as copied:  # rendered again beside them, as a cache restored from a backup
        copied.setattr(SoundscapeCache, "resolve", lambda self, key, legacy_key: key, raising=False)
        assert _prerender(path, spec) == ["rendered"] * 2
    current = _keys(cache_dir) - old
    assert len(current) == 2
    _age(cache_dir, _keys(cache_dir), 30)

    listed = CliRunner().invoke(main, ["cache", "list", str(path)])
    assert "4 entries" in listed.output and "2 unused" in listed.output, listed.output
    dry = CliRunner().invoke(main, ["cache", "prune", str(path), "--dry-run", "--unused-days", "0"])
    assert dry.exit_code == 0, dry.output
    assert "would remove 2 unused entries" in dry.output
    assert all(f"would remove {key}" in dry.output for key in old)
    pruned = CliRunner().invoke(main, ["cache", "prune", str(path), "--unused-days", "0"])
    assert "removed 2 unused entries" in pruned.output and _keys(cache_dir) == current
    assert _prerender(path, spec) == ["cached"] * 2
