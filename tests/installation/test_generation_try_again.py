"""A reload or the nightly retry tries the generator process again at once after a cool-down that crashes
caused (it waited up to 4 h), on probation: dying again gives up again at once, for twice as long."""

from __future__ import annotations

import datetime
import functools
import logging
import time
from pathlib import Path

import pytest
import yaml
from small_exhibit import small_exhibit_spec
from test_generation_worker import GIVE_UP, TONE, FakeClock, _job, _wait_for

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.generation_worker import GenerationWorker
from art2mus.models.registry import GENERATOR_BACKENDS, GeneratorBackend

CRASHING = {
    **GENERATOR_BACKENDS,
    "art2mus": GeneratorBackend("art2mus", "worker_backends:CrashingModelStandIn", "test", (), "the model"),
}


def _cooldown_s(worker: GenerationWorker, wall) -> float:
    """Seconds from now to the end of ``worker``'s cool-down, from its status."""
    return datetime.datetime.fromisoformat(worker.status().given_up_until).timestamp() - wall()


def test_trying_again_now_keeps_the_doubling_and_a_failed_start_cool_down(tmp_path, caplog):
    clock = FakeClock()

    def wall() -> float:
        return 1_700_000_000.0 + clock.now

    results: list = []  # a budget of one restart in the default window (600 s)
    worker = GenerationWorker(
        tmp_path / "cache",
        backends=TONE,
        on_result=results.append,
        max_restarts=1,
        clock=clock,
        wall_clock=wall,
    )
    caplog.set_level(logging.INFO, logger="art2mus.installation.generation_worker")
    try:
        assert not worker.try_again_now("a reload")  # not given up: nothing to do
        worker.submit(_job("a", 10, {"fail": "crash"}, "ka"))  # two deaths use up a budget of one restart
        assert _wait_for(lambda: worker.status().given_up_until is not None), worker.status()
        assert round(_cooldown_s(worker, wall)) == 600
        # a reload, 1 s into the cool-down: the process starts at once and renders the reload's job
        clock.now += 1.0
        assert worker.try_again_now("a reload")
        worker.submit(_job("b", 20, {}, "kb"))
        assert worker.wait_idle(GIVE_UP) and results[-1].what == "b" and results[-1].ok, results[-1]
        assert worker.status().given_up_until is None
        assert any("as a reload asked" in r.getMessage() for r in caplog.records)
        # on probation: one death (the budget would allow a restart) gives up again at once, twice as long
        worker.submit(_job("c", 30, {"fail": "crash"}, "kc"))
        assert _wait_for(lambda: worker.status().given_up_until is not None), worker.status()
        assert worker.status().restarts == 1 and round(_cooldown_s(worker, wall)) == 1200
        assert any("after it was started early" in r.getMessage() for r in caplog.records)
        # a cool-down after a process that could not be started is kept: a try now would fail the same way
        real_spawn = worker._spawn

        def no_process() -> None:
            raise OSError("out of memory")

        worker._spawn = no_process
        clock.now += 1200.0
        assert _wait_for(
            lambda: any("starting the generator process failed" in r.getMessage() for r in caplog.records)
        )
        assert not worker.try_again_now("the nightly retry")
        worker._spawn = real_spawn
        assert round(_cooldown_s(worker, wall)) == 2400
    finally:
        worker.stop()


@pytest.fixture
def room(tmp_path, repo_root, monkeypatch) -> tuple[Gallery, FakeClock, Path]:
    """One artwork on the (stand-in) model, whose process dies on every job while the returned marker
    exists; the gallery's supervisor on a fake clock with a budget of one restart, given up after the
    start's job killed the process twice."""
    import art2mus.installation.gallery as gallery_module

    models = tmp_path / "models"
    models.mkdir()
    marker = models / "crash"
    marker.touch()
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["artworks"][0]["soundscape"]["generator"] = "art2mus"
    spec["generators"] = {
        "procedural": {"type": "procedural"},
        "art2mus": {"type": "art2mus", "model_dir": str(models), "device": "cpu", "fallback": "procedural"},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    clock = FakeClock()
    supervised = functools.partial(GenerationWorker, max_restarts=1, clock=clock)
    monkeypatch.setattr(gallery_module, "GenerationWorker", supervised)  # gallery.py builds it itself
    gallery = Gallery(load_exhibit(path), generator_backends=CRASHING)
    gallery.init_audio()
    library = gallery.init_soundscapes()
    assert _wait_for(lambda: gallery.worker.status().given_up_until is not None), gallery.worker.status()
    assert library.made_by["amber-fields"] == "procedural"
    marker.unlink()  # the bad night is over; the cool-down has 600 s to go
    yield gallery, clock, marker
    gallery.close()


def test_a_reload_tries_the_model_again_at_once_after_crashes(room, caplog):
    """It waited out the cool-down (up to 4 h): the reload's job failed at once and its bridge stayed."""
    gallery, clock, _marker = room
    caplog.set_level(logging.INFO)
    assert gallery.reload()
    assert gallery.worker.wait_idle(GIVE_UP), gallery.worker.status()
    status = gallery.worker.status()
    assert status.given_up_until is None and status.done == 1, status
    assert status.recent[-1]["what"] == "amber-fields" and status.recent[-1]["ok"], status.recent
    assert any("as a reload asked" in r.getMessage() for r in caplog.records)


def test_the_nightly_retry_tries_the_model_again_at_once_and_a_new_crash_doubles(room, caplog):
    gallery, clock, marker = room
    marker.touch()  # still broken at night: the early try dies and gives up again at once, twice as long
    assert gallery.retry_bridges() == ["amber-fields"]
    assert _wait_for(lambda: any("after it was started early" in r.getMessage() for r in caplog.records))
    status = gallery.worker.status()
    assert status.restarts == 1 and status.given_up_until is not None, status  # not restarted: given up
    until = datetime.datetime.fromisoformat(status.given_up_until).timestamp()
    assert abs(until - time.time() - 1200.0) < 60.0  # the first cool-down was 600 s
    marker.unlink()
    assert gallery.retry_bridges() == ["amber-fields"]  # the next night: it renders
    assert gallery.worker.wait_idle(GIVE_UP), gallery.worker.status()
    assert gallery.worker.status().recent[-1]["ok"], gallery.worker.status().recent
