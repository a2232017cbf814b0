"""A cache entry whose audio file was deleted (its sidecar left) is logged as missing, not as corrupt."""

from __future__ import annotations

import logging

from test_cache import _tone

from art2mus.installation.cache import SoundscapeCache


def test_a_deleted_audio_file_is_said_to_be_missing_not_corrupt(tmp_path, caplog):
    """It read "cache entry k.flac is corrupt: it cannot be read ([Errno 2] No such file ...)": the file
    was simply gone (deleted by hand), and nothing in the cache was damaged."""
    cache = SoundscapeCache(tmp_path)
    cache.put("k", _tone())
    (tmp_path / "k.flac").unlink()
    with caplog.at_level(logging.WARNING):
        assert cache.get("k") is None
    assert f"cache entry {tmp_path / 'k.flac'} is missing (its sidecar k.json is there)" in caplog.text
    assert "corrupt" not in caplog.text and "Errno" not in caplog.text
    assert cache.misses == 1 and cache.corrupt == 0
    assert not (tmp_path / "k.json").exists()  # the orphan sidecar is removed with it
