"""A generator process frozen between jobs (``kill -STOP``, a driver hang after its last job) is noticed:
the job waiting for it shows in the status, and past ``start_timeout_s`` the process is killed and
restarted like a crash; the job's own timeout counts only from its "started", so it waited forever."""

from __future__ import annotations

import contextlib
import os
import signal

from test_generation_worker import GIVE_UP, TONE, FakeClock, _job, _wait_for

from art2mus.installation.generation_worker import GenerationWorker


def test_a_worker_frozen_between_jobs_is_killed_and_restarted(tmp_path):
    clock = FakeClock()  # the waits move only when the test says: a busy machine trips nothing
    results: list = []
    worker = GenerationWorker(
        tmp_path / "cache", backends=TONE, on_result=results.append, start_timeout_s=60.0, clock=clock
    )
    frozen = None
    try:
        worker.submit(_job("a", 10, {}, "ka"))
        assert worker.wait_idle(GIVE_UP) and results[-1].ok, worker.status()
        frozen = worker.status().pid
        os.kill(frozen, signal.SIGSTOP)  # idle in jobs.get(): alive to is_alive(), deaf to everything else
        worker.submit(_job("b", 20, {}, "kb"))
        clock.now += 40.0
        status = worker.status()
        assert status.alive and status.queued == 1 and status.current is None
        assert status.oldest_queued_s == 40.0
        assert "has taken no job for 40 s (1 waiting)" in status.stalled
        assert status.pid == frozen and status.restarts == 0  # not yet: 60 s
        clock.now += 21.0
        assert worker.wait_idle(GIVE_UP), worker.status()
        assert results[-1].what == "b" and results[-1].ok, results[-1]
        status = worker.status()
        assert status.pid != frozen and status.restarts == 1 and status.alive
        assert status.oldest_queued_s == 0.0 and status.stalled is None
        assert "took no job for 60 s" in status.last_error
        assert not os.path.exists(f"/proc/{frozen}")  # gone and reaped: SIGKILL reaches a stopped process
    finally:
        if frozen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(frozen, signal.SIGCONT)
        worker.stop()


def test_a_slow_first_load_is_the_jobs_time_not_a_frozen_worker(tmp_path):
    """The model's load comes after "started": minutes of it never trip the wait for a job to be taken."""
    clock = FakeClock()
    results: list = []
    worker = GenerationWorker(
        tmp_path / "cache", backends=TONE, on_result=results.append, start_timeout_s=60.0, clock=clock
    )
    try:
        worker.submit(_job("slow", 10, {"delay_s": 3.0}, "k1"))
        worker.submit(_job("next", 20, {}, "k2"))
        assert _wait_for(lambda: worker.status().current == "slow"), worker.status()
        clock.now += 500.0  # the first job renders (or loads its model) for minutes; the second waits
        status = worker.status()
        assert status.oldest_queued_s == 0.0 and status.stalled is None
        assert worker.wait_idle(GIVE_UP) and [r.ok for r in results] == [True, True], results
        assert worker.status().restarts == 0
    finally:
        worker.stop()
