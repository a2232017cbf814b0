"""The daemon's generator process and a prerender on one cache render each soundscape once: a job whose
cache entry a prerender is rendering waits for it and takes that rendering."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from test_generation_worker import _job, _run

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.render_claims import RenderClaims
from art2mus.models.generator import Soundscape


def test_a_job_a_prerender_is_rendering_waits_and_takes_its_rendering(tmp_path: Path):
    """With the Art2Mus model the daemon's generator process and a prerender both rendered each soundscape
    (minutes each on a GPU). A job for an entry another process has claimed now waits for that claim and
    reports the entry that process stored: the entry is the prerender's, not rendered again."""
    cache = SoundscapeCache(tmp_path / "cache")
    claim = RenderClaims(cache.directory).claim("ka")  # the prerender, rendering "ka" now
    assert claim is not None
    marker = Soundscape(np.full(800, 0.25, np.float32), 16000, {"by": "prerender"})

    def prerender_finishes() -> None:
        cache.put("ka", marker, {"what": "a", "generator": "tone"})
        claim.release()

    threading.Timer(1.5, prerender_finishes).start()
    _worker, results = _run(tmp_path, [_job("a", 10, {}, "ka"), _job("b", 90, {}, "kb")])
    assert [(r.what, r.ok) for r in results] == [("a", True), ("b", True)]
    stored = cache.get("ka")
    assert stored.metadata == {"by": "prerender"} and np.allclose(stored.waveform, 0.25, atol=1e-6)
    assert cache.get("kb") is not None
