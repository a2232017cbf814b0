"""Live generation in a separate, supervised process: results through the cache, crashes and hangs survived,
and the gallery swapping a generated soundscape in for its procedural bridge."""

from __future__ import annotations

import datetime
import json
import logging
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.generation_worker import GenerationJob, GenerationWorker, _next_job
from art2mus.models.generator import GenerationRequest
from art2mus.models.registry import GeneratorBackend

TONE = {"tone": GeneratorBackend("tone", "worker_backends:ToneGenerator", "test", (), "a test tone")}


def _job(what: str, level: int, settings: dict, key: str) -> GenerationJob:
    image = np.full((8, 8, 3), level, np.uint8)
    return GenerationJob(
        what=what,
        generator="tone",
        backend="tone",
        settings=settings,
        request=GenerationRequest(duration_s=0.5, seed=1),
        cache_key=key,
        image=image,
    )


def _run(tmp_path: Path, jobs: list[GenerationJob], **kwargs) -> tuple[GenerationWorker, list]:
    results = []
    worker = GenerationWorker(tmp_path / "cache", backends=TONE, on_result=results.append, **kwargs)
    try:
        for job in jobs:
            worker.submit(job)
        assert worker.wait_idle(60), worker.status()
    finally:
        worker.stop()
    return worker, results


def test_jobs_render_in_another_process_and_arrive_through_the_cache(tmp_path):
    worker, results = _run(tmp_path, [_job("a", 10, {}, "ka"), _job("b", 90, {}, "kb")])
    assert [(r.what, r.ok) for r in results] == [("a", True), ("b", True)]
    cache = SoundscapeCache(tmp_path / "cache")
    a, b = cache.get("ka"), cache.get("kb")
    assert (
        a.metadata["pid"] != os.getpid() and a.metadata["pid"] == b.metadata["pid"]
    )  # one worker, built once
    assert a.metadata["hz"] == pytest.approx(210.0) and b.metadata["hz"] == pytest.approx(290.0)
    status = worker.status()
    assert status.done == 2 and status.failed == 0 and status.restarts == 0 and not status.alive


def test_a_worker_that_crashes_is_restarted_and_the_job_tried_again(tmp_path):
    (tmp_path / "marks").mkdir()
    settings = {"fail": "crash-once", "marker_dir": str(tmp_path / "marks")}
    worker, results = _run(tmp_path, [_job("a", 10, settings, "ka"), _job("b", 90, settings, "kb")])
    assert [(r.what, r.ok) for r in results] == [("a", True), ("b", True)]
    assert worker.status().restarts == 2  # each job killed one worker on its first attempt


def test_a_death_right_after_a_finished_job_is_blamed_on_the_job_that_started(tmp_path):
    """The worker finishes "a" and dies on "b" before the supervisor looks (a long poll makes that
    certain): "a" keeps its result, "b" alone is blamed, tried again, and fails after its second death."""
    worker, results = _run(
        tmp_path, [_job("a", 10, {}, "ka"), _job("b", 90, {"fail": "crash"}, "kb")], poll_s=1.5
    )
    by_what = {r.what: r for r in results}
    assert by_what["a"].ok and by_what["a"].soundscape is None  # through the cache
    assert not by_what["b"].ok and "twice" in by_what["b"].error
    assert worker.status().restarts == 2 and worker.status().done == 1 and worker.status().failed == 1
    assert SoundscapeCache(tmp_path / "cache").get("ka") is not None


def test_a_rendering_the_cache_refuses_travels_in_memory(tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")  # every write fails, even as root
    worker, results = _run(tmp_path, [_job("a", 10, {}, "ka")])
    (result,) = results
    assert result.ok and result.soundscape is not None
    sound = result.load(SoundscapeCache(tmp_path / "elsewhere"))  # nothing on disk: it comes from memory
    assert sound.metadata["hz"] == pytest.approx(210.0) and sound.waveform.shape == (8000,)
    assert worker.status().done == 1


def test_a_job_that_kills_its_worker_twice_fails_and_the_next_job_still_runs(tmp_path):
    crash, fine = {"fail": "crash"}, {}
    worker, results = _run(tmp_path, [_job("bad", 10, crash, "k1"), _job("good", 90, fine, "k2")])
    by_what = {r.what: r for r in results}
    assert not by_what["bad"].ok and "died" in by_what["bad"].error and "twice" in by_what["bad"].error
    assert by_what["good"].ok
    assert worker.status().failed == 1 and "bad" in worker.status().last_error


def test_a_hanging_job_is_killed_after_the_timeout(tmp_path):
    worker, results = _run(
        tmp_path, [_job("slow", 10, {"fail": "hang"}, "k1"), _job("ok", 90, {}, "k2")], job_timeout_s=1.0
    )
    by_what = {r.what: r for r in results}
    assert not by_what["slow"].ok and "took over 1 s" in by_what["slow"].error
    assert by_what["ok"].ok and worker.status().restarts == 2


def test_an_exception_is_a_failed_job_not_a_dead_worker(tmp_path):
    worker, results = _run(tmp_path, [_job("x", 10, {"fail": "raise"}, "k1"), _job("y", 90, {}, "k2")])
    assert not results[0].ok and "out of memory" in results[0].error and results[1].ok
    assert worker.status().restarts == 0


def test_a_generator_that_cannot_be_built_is_not_built_again_for_every_job(tmp_path, capfd):
    """An Art2Mus model that cannot load (a mismatched aligner) was loaded again for each artwork, minutes
    each on a real machine, with a 20-line traceback each time for an error whose message says it all."""
    settings = {"fail": "build", "marker_dir": str(tmp_path)}
    jobs = [_job(name, level, settings, f"k{level}") for name, level in (("a", 10), ("b", 20), ("c", 30))]
    worker, results = _run(tmp_path, jobs)
    assert [r.ok for r in results] == [False] * 3
    assert all("768-d tokens, but the language model is 24-d" in r.error for r in results)
    assert len(list(tmp_path.glob("build-*"))) == 1  # built once; the next jobs fail at once
    assert worker.status().restarts == 0
    logged = capfd.readouterr().err  # the worker process's log: one line for the batch, no traceback
    assert logged.count("the aligner produces") == 1, logged
    assert "generator 'tone' cannot load: ValueError: the aligner produces" in logged, logged
    assert all(r.cannot_load for r in results)
    assert "Traceback" not in logged, logged


def test_past_the_restart_budget_jobs_fail_at_once(tmp_path):
    worker, results = _run(
        tmp_path, [_job(f"j{i}", i, {"fail": "crash"}, f"k{i}") for i in range(3)], max_restarts=2
    )
    assert not any(r.ok for r in results) and len(results) == 3
    assert worker.status().restarts == 2
    assert "restart budget" in results[-1].error


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_past_the_restart_budget_the_supervisor_cools_down_then_tries_again(tmp_path, caplog):
    """One bad night (a CUDA out-of-memory loop) used up the budget and the model stayed off for good: no
    reload or nightly retry brought it back, only a daemon restart. Now it stays down for a cool-down (the
    restart window, doubled each give-up in a row, at most max_cooldown_s, short again once a process stays
    up), says until when, and starts a process again by itself."""
    clock = FakeClock()
    epoch = 1_700_000_000.0

    def wall() -> float:
        return epoch + clock.now

    results: list = []
    worker = GenerationWorker(
        tmp_path / "cache",
        backends=TONE,
        on_result=results.append,
        max_restarts=1,
        restart_window_s=600.0,
        max_cooldown_s=1500.0,
        clock=clock,
        wall_clock=wall,
    )
    caplog.set_level(logging.INFO, logger="art2mus.installation.generation_worker")

    def crash_until_it_gives_up(what: str) -> float:
        """Seconds until the next try, from the status (two deaths use up a budget of one restart)."""
        worker.submit(_job(what, 10, {"fail": "crash"}, f"k{what}"))
        assert _wait_for(lambda: worker.status().given_up_until is not None), worker.status()
        assert not results[-1].ok and results[-1].what == what
        return datetime.datetime.fromisoformat(worker.status().given_up_until).timestamp() - wall()

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    def cool_down_passes(seconds: float) -> None:
        clock.now += seconds
        assert _wait_for(lambda: worker.status().alive), worker.status()
        assert worker.status().given_up_until is None

    try:
        assert crash_until_it_gives_up("a") == pytest.approx(600.0, abs=1)
        status = worker.status()
        assert not status.alive and status.restarts == 1
        (gave_up,) = [m for m in warnings() if "giving up" in m]
        assert status.given_up_until in gave_up and "600 s" in gave_up
        # meanwhile a job (a reload's, the nightly retry's) fails at once and says until when
        clock.now += 599.0
        worker.submit(_job("b", 20, {}, "kb"))
        assert not results[-1].ok and results[-1].what == "b"
        assert f"down until {status.given_up_until}" in results[-1].error
        assert worker.status().given_up_until == status.given_up_until
        cool_down_passes(1.0)
        assert len([m for m in warnings() if "trying the generator process again" in m]) == 1
        worker.submit(_job("c", 30, {}, "kc"))
        assert worker.wait_idle(GIVE_UP) and results[-1].what == "c" and results[-1].ok
        # it fails again at once: twice as long, then the longest
        assert crash_until_it_gives_up("d") == pytest.approx(1200.0, abs=1)
        cool_down_passes(1200.0)
        assert crash_until_it_gives_up("e") == pytest.approx(1500.0, abs=1)
        cool_down_passes(1500.0)
        # a process that stays up a restart window makes the next cool-down short again
        clock.now += 600.0
        assert _wait_for(lambda: any("stayed up" in r.getMessage() for r in caplog.records))
        assert crash_until_it_gives_up("f") == pytest.approx(600.0, abs=1)
        assert len([m for m in warnings() if "giving up" in m]) == 4
        assert len([m for m in warnings() if "trying the generator process again" in m]) == 3
    finally:
        worker.stop()


GIVE_UP = 120.0  # seconds: only a hang takes this long, however busy the machine


def _wait_for(condition, timeout: float = GIVE_UP) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _proc_stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` from the state on (state, ppid, ...); None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def _alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie has ended (nobody may reap it here)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


# a daemon that has its generator process busy with a job that never ends
BUSY_DAEMON = """
import sys, time
sys.path.insert(0, sys.argv[2])
import numpy as np
from art2mus.installation.generation_worker import GenerationJob, GenerationWorker
from art2mus.models.generator import GenerationRequest
from art2mus.models.registry import GeneratorBackend
tone = {"tone": GeneratorBackend("tone", "worker_backends:ToneGenerator", "test", (), "a test tone")}
worker = GenerationWorker(sys.argv[1], backends=tone)
image = np.zeros((8, 8, 3), np.uint8)
request = GenerationRequest(duration_s=0.5, seed=1)
worker.submit(GenerationJob("slow", "tone", "tone", {"fail": "hang"}, request, "k", image=image))
while worker.status().current != "slow":
    time.sleep(0.05)
print(worker.status().pid, flush=True)
time.sleep(3600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux's /proc")
def test_the_generator_process_dies_with_a_daemon_killed_abruptly(tmp_path):
    """kill -9 (or the OOM killer) gives the daemon no chance to stop its worker: the worker went on with
    its job as an orphan (on a GPU machine holding the GPU's memory), and the resource tracker with it."""
    daemon = subprocess.Popen(
        [sys.executable, "-c", BUSY_DAEMON, str(tmp_path / "cache"), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(daemon.stdout.readline()), daemon=True)
    reader.start()
    children: list[int] = []
    try:
        reader.join(GIVE_UP)
        assert lines and lines[0].strip().isdigit(), lines
        worker_pid = int(lines[0])
        children = _children(daemon.pid)  # the worker and multiprocessing's resource tracker
        assert worker_pid in children and _alive(worker_pid)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(GIVE_UP)
        assert _wait_for(lambda: not any(_alive(pid) for pid in children)), [
            (pid, _proc_stat(pid)) for pid in children if _alive(pid)
        ]
    finally:
        if daemon.poll() is None:
            daemon.kill()
        for pid in children:  # what the daemon left behind, were it to stay
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# a daemon that leaves without stopping its worker; a handler registered before multiprocessing's own exit
# handler runs after it, and waits until the supervisor has ended or has restarted the worker
LEAVING_DAEMON = """
import atexit, logging, sys, threading, time
started = []

def settle():
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(started) < 2:
        if not any(t.name == "generation-supervisor" and t.is_alive() for t in threading.enumerate()):
            return
        time.sleep(0.01)

atexit.register(settle)
sys.path.insert(0, sys.argv[2])
import numpy as np
from art2mus.installation.generation_worker import GenerationJob, GenerationWorker
from art2mus.models.generator import GenerationRequest
from art2mus.models.registry import GeneratorBackend

class Starts(logging.Handler):
    def emit(self, record):
        print(record.getMessage(), file=sys.stderr, flush=True)
        if record.getMessage().startswith("generator process started"):
            started.append(record)

logging.getLogger("art2mus.installation.generation_worker").addHandler(Starts())
logging.getLogger("art2mus.installation.generation_worker").setLevel(logging.INFO)
tone = {"tone": GeneratorBackend("tone", "worker_backends:ToneGenerator", "test", (), "a test tone")}
worker = GenerationWorker(sys.argv[1], backends=tone, poll_s=0.01)
image = np.zeros((8, 8, 3), np.uint8)
worker.submit(GenerationJob("a", "tone", "tone", {}, GenerationRequest(duration_s=0.5, seed=1), "k", image=image))
assert worker.wait_idle(120)
print(worker.status().pid, flush=True)
"""


def test_a_daemon_that_exits_without_stopping_its_worker_does_not_restart_it_on_the_way_out(tmp_path):
    """multiprocessing's exit handler terminates the worker; the supervisor took that for a crash and started
    another worker while the interpreter shut down (which then failed, a traceback on stderr)."""
    leaving = subprocess.run(
        [sys.executable, "-c", LEAVING_DAEMON, str(tmp_path / "cache"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=GIVE_UP,
    )
    assert leaving.returncode == 0, leaving.stderr[-3000:]
    assert leaving.stderr.count("generator process started") == 1, leaving.stderr[-3000:]
    assert "died" not in leaving.stderr and "Traceback" not in leaving.stderr, leaving.stderr[-3000:]
    assert not _alive(int(leaving.stdout.split()[0]))


def test_a_worker_started_from_a_passing_thread_outlives_that_thread(tmp_path):
    """The kernel's parent-death signal follows the thread that started a process: a worker started on a
    thread that ends (a control-panel request, a scheduler job) must live on with the daemon."""
    results: list = []
    worker = GenerationWorker(tmp_path / "cache", backends=TONE, on_result=results.append)
    starter = threading.Thread(target=worker.submit, args=(_job("a", 10, {}, "ka"),))
    starter.start()
    starter.join()
    try:
        assert worker.wait_idle(GIVE_UP), worker.status()
        pid = worker.status().pid
        worker.submit(_job("b", 90, {}, "kb"))
        assert worker.wait_idle(GIVE_UP), worker.status()
        assert worker.status().pid == pid and worker.status().restarts == 0
    finally:
        worker.stop()
    assert [(r.what, r.ok) for r in results] == [("a", True), ("b", True)]


def test_stopping_cuts_a_busy_job_short_after_the_grace(tmp_path):
    worker = GenerationWorker(tmp_path / "cache", backends=TONE)
    worker.submit(_job("slow", 10, {"fail": "hang"}, "k1"))
    try:
        assert _wait_for(lambda: worker.status().current == "slow"), worker.status()
        pid = worker.status().pid
    finally:
        worker.stop(grace_s=0.2)
    assert not worker.status().alive and not _alive(pid)


def test_a_waiting_worker_whose_daemon_is_gone_takes_no_more_jobs(caplog):
    """Where the kernel does not signal a parent's death, the waiting worker finds out itself."""
    jobs: queue.Queue = queue.Queue()
    jobs.put("a job")
    assert _next_job(jobs, os.getppid(), check_s=0.01) == "a job"  # its daemon is there
    assert _next_job(jobs, os.getppid() + 1, check_s=0.01) is None  # another daemon's pid: an orphan
    assert "the daemon (pid" in caplog.text and "is gone; the generator process exits" in caplog.text


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models")


def test_the_art2mus_model_replaces_the_procedural_bridge(tmp_path, repo_root, debug_models):
    """The gallery starts on the procedural bridge at once; the Art2Mus rendering (debug weights, in the
    generator process) takes over when it is ready, also while it sounds, and the next start reads it."""
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": "amber-fields",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"generator": "art2mus", "duration": 2, "seed": 4},
            }
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"source": "silence"},
        "audio": {"output": {"type": "null"}},
        "generators": {
            "procedural": {"type": "procedural"},
            "art2mus": {
                "type": "art2mus",
                "model_dir": str(debug_models),
                "aligner": str(debug_models / "aligners/debug-imagebind-4tok"),
                "device": "cpu",
                "dtype": "float32",
                "steps": 2,
                "fallback": "procedural",
            },
        },
        "cache": {"dir": str(tmp_path / "cache")},
        "control_panel": {"enabled": False},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    library = gallery.init_soundscapes()
    try:
        assert library.made_by == {"amber-fields": "procedural"} and "amber-fields" in library.pending
        bridge = library.clips["amber-fields"]
        gallery.engine.open()
        gallery.director.start(0.0)
        gallery.play_artwork("amber-fields")
        gallery.engine.pump()
        assert gallery.engine.mixer.voices[-1].clip is bridge
        assert gallery.worker.wait_idle(180), gallery.worker.status()
        assert library.made_by == {"amber-fields": "art2mus"} and not library.pending
        model_clip = library.clips["amber-fields"]
        assert (
            model_clip is not bridge and model_clip.source_rate == 16000 and model_clip.sample_rate == 48000
        )
        assert abs(model_clip.duration_s - 2.0) < 0.01
        assert model_clip.metadata["aligner"].endswith("debug-imagebind-4tok")
        gallery.engine.pump()
        assert gallery.engine.mixer.voices[-1].clip is model_clip  # crossfading to it while it sounds
        status = gallery.status()["generation"]
        assert status["done"] == 1 and status["failed"] == 0
    finally:
        gallery.close()
        gallery.engine.close()
    again = Gallery(load_exhibit(path))
    again.init_audio()
    second = again.init_soundscapes()
    assert second.made_by == {"amber-fields": "art2mus"} and second.from_cache == {"amber-fields"}
    assert not second.pending and not again.worker.started  # nothing to generate: no process at all


def test_simulate_waits_for_the_generator_process_so_the_walk_hears_the_model(tmp_path, repo_root, debug_models):
    """A simulation runs faster than the generator process renders: it waits for the Art2Mus rendering
    instead of playing the whole walk on its procedural stand-in, and says so."""
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": "amber-fields",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"generator": "art2mus", "duration": 2, "seed": 4},
            }
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"source": "silence"},
        "generators": {
            "procedural": {"type": "procedural"},
            "art2mus": {
                "type": "art2mus",
                "model_dir": str(debug_models),
                "aligner": str(debug_models / "aligners/debug-imagebind-4tok"),
                "device": "cpu",
                "dtype": "float32",
                "steps": 2,
                "fallback": "procedural",
            },
        },
        "cache": {"dir": str(tmp_path / "cache")},
        "recognition": {"index_dir": str(tmp_path / "index")},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    before = set(multiprocessing.active_children())  # other tests' galleries may hold theirs
    result = CliRunner().invoke(main, ["simulate", str(path), "-o", str(tmp_path / "mix.wav"), "--duration", "9"])
    assert result.exit_code == 0, result.output
    assert "waiting for the generator process to render 1 soundscapes (amber-fields)" in result.output
    assert "now playing: amber-fields" in result.output and "stand-in" not in result.output
    # the command stopped its generator process and gave up its cache record (run in-process, it kept
    # both, and the job queue's thread ran on into the next tests)
    assert not [p for p in multiprocessing.active_children() if p.name == "art2mus-generator" and p not in before]
    assert not list((tmp_path / "cache" / "in-use").glob("*.json"))
    again = Gallery(load_exhibit(path))  # the rendering the walk heard is the model's, in the cache
    again.init_audio()
    assert again.init_soundscapes().made_by == {"amber-fields": "art2mus"}


def test_the_nightly_retry_generates_what_failed_once_the_model_is_there(tmp_path, repo_root, debug_models):
    """Opening day without the AudioLDM2 weights: the bridge plays; once a technician copies the model in,
    the nightly job (retry_bridges) generates the soundscape and it replaces the bridge."""
    import shutil

    models = tmp_path / "models"
    (models / "aligners").mkdir(parents=True)
    shutil.copytree(debug_models / "aligners/debug-imagebind-4tok", models / "aligners/default")
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": "city-at-six",
                "images": [str(demo / "artworks/city-at-six.png")],
                "soundscape": {"generator": "art2mus", "duration": 1},
            }
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"source": "silence"},
        "audio": {"output": {"type": "null"}},
        "generators": {
            "procedural": {"type": "procedural"},
            "art2mus": {"type": "art2mus", "model_dir": str(models), "device": "cpu", "steps": 2},
        },
        "cache": {"dir": str(tmp_path / "cache")},
        "control_panel": {"enabled": False},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    library = gallery.init_soundscapes()
    try:
        assert gallery.worker.wait_idle(120)
        status = gallery.worker.status()
        assert status.failed == 1 and "not installed" in status.last_error
        assert library.made_by == {"city-at-six": "procedural"} and not library.pending  # the bridge stays
        for part in debug_models.iterdir():
            if part.name != "aligners":
                (shutil.copytree if part.is_dir() else shutil.copy2)(part, models / part.name)
        assert gallery.retry_bridges() == ["city-at-six"]
        assert gallery.retry_bridges() == []  # already on its way: not sent twice
        assert gallery.worker.wait_idle(120)
        assert (
            library.made_by == {"city-at-six": "art2mus"}
            and library.clips["city-at-six"].source_rate == 16000
        )
        assert gallery.retry_bridges() == []  # nothing left to retry
    finally:
        gallery.close()


# a daemon run with --log-format json outside systemd, whose generator process renders one job and logs it
JSON_LOGGING_DAEMON = """
import sys
sys.path.insert(0, sys.argv[2])
import numpy as np
from art2mus.installation.generation_worker import GenerationJob, GenerationWorker
from art2mus.installation.logs import configure_logging
from art2mus.models.generator import GenerationRequest
from art2mus.models.registry import GeneratorBackend
configure_logging(verbosity=1, log_format="json")
tone = {"tone": GeneratorBackend("tone", "worker_backends:ToneGenerator", "test", (), "a test tone")}
worker = GenerationWorker(sys.argv[1], backends=tone)
image = np.zeros((8, 8, 3), np.uint8)
worker.submit(GenerationJob("a", "tone", "tone", {}, GenerationRequest(duration_s=0.5, seed=1), "k", image=image))
assert worker.wait_idle(120)
worker.stop()
"""


def test_the_generator_process_logs_in_the_daemons_format(tmp_path):
    """``--log-format json`` outside systemd (a log shipper reading stderr): the generator process fell back
    to ``auto``, i.e. text there, and wrote plain lines into the JSON stream."""
    environ = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    daemon = subprocess.run(
        [sys.executable, "-c", JSON_LOGGING_DAEMON, str(tmp_path / "cache"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=GIVE_UP,
        env=environ,
    )
    assert daemon.returncode == 0, daemon.stderr[-3000:]
    lines = [line for line in daemon.stderr.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}\n{daemon.stderr[-3000:]}")
    child = [r for r in records if r["logger"] == "art2mus.installation.generation_worker.process"]
    assert any(r["msg"].startswith("generated a with tone in") for r in child), records
    assert any(r["msg"].startswith("generator process started") for r in records), records  # the parent's


def test_stop_returns_once_the_job_queues_feeder_thread_has_ended(tmp_path, monkeypatch):
    """CI, --log-format json: a daemon exiting right after stop() printed multiprocessing's 'leaked semaphore'
    warnings (plain lines in the JSON log) when the job queue's feeder, a daemon thread, was stopped by the
    interpreter's exit halfway through unlinking the queue's semaphores. A feeder slow to end (made certain
    here) is waited for."""
    import multiprocessing.queues

    feed = multiprocessing.queues.Queue._feed

    feeders: list[threading.Thread] = []

    def slow_feed(*args):
        feeders.append(threading.current_thread())  # this worker's (not one another test left running)
        feed(*args)
        time.sleep(0.5)  # the feeder's end, after the sentinel, lagging behind stop()

    monkeypatch.setattr(multiprocessing.queues.Queue, "_feed", staticmethod(slow_feed))
    _run(tmp_path, [_job("a", 10, {}, "ka")])
    assert len(feeders) == 1 and not feeders[0].is_alive()


def test_an_idle_worker_exits_at_once_when_stopped_whatever_its_libraries_leave_running(tmp_path, caplog):
    """After a model had loaded, each daemon stop logged 'generator process N is still busy after 3.0 s;
    stopping it' for an idle worker, and took 3 s: the interpreter's teardown (torch's and onnxruntime's
    threads) outlasted the grace. A library thread the process would wait for at exit stands in for it."""
    with caplog.at_level(logging.WARNING, logger="art2mus.installation.generation_worker"):
        worker, results = _run(tmp_path, [_job("a", 10, {"linger_s": 60.0}, "ka")])
    assert [(r.what, r.ok) for r in results] == [("a", True)]
    assert not [r.getMessage() for r in caplog.records if "still busy" in r.getMessage()]
    assert not worker.status().alive
