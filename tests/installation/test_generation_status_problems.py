"""The status's generation problems include a generator process that has stalled: a frozen process (alive
to is_alive(), deaf to its jobs) put its sentence in generation.stalled only, so a reader of
generation.problems (the list of what is wrong with live generation) saw none while the bridges played."""

from __future__ import annotations

import yaml

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.generation_worker import WorkerStatus
from art2mus.kiosk_ui.insight import attention
from tests.installation.small_exhibit import small_exhibit_spec

WAITING = "the generator process has taken no job for 40 s (1 waiting); it is restarted at 120 s"


class _FrozenWorker:
    started = True

    def __init__(self, stalled: str | None):
        self.stalled = stalled

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            alive=True, pid=4242, restarts=0, queued=1, current=None, done=3, failed=0, last_error=None,
            oldest_queued_s=40.0 if self.stalled else 0.0, stalled=self.stalled,
        )  # fmt: skip


def test_a_stalled_generator_process_is_among_the_generation_problems_and_said_once(tmp_path, repo_root):
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})))
    gallery = Gallery(load_exhibit(path), use_cache=False)
    gallery.worker = _FrozenWorker(WAITING)
    generation = gallery.generation_status()
    assert generation["problems"] == [WAITING] and generation["stalled"] == WAITING
    assert attention({"generation": generation, "audio": {"healthy": True}}) == [WAITING]  # not twice
    gallery.worker = _FrozenWorker(None)
    assert gallery.generation_status()["problems"] == []
