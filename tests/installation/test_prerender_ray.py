"""``art2mus prerender --ray``: the same cache as a plain prerender, resumable, a dead worker retried, an
unshared cache folder refused before any work. Ray runs locally with 2 CPUs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.models.registry import GENERATOR_BACKENDS, GeneratorBackend

ray = pytest.importorskip("ray")
from art2mus.installation.prerender_ray import CACHE_DIR_ENV, UnsharedCacheError, prerender_on_ray  # noqa: E402

HERE = Path(__file__).resolve().parent
DEMO_SOUNDSCAPES = 9  # eight artworks and the idle ambience


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray (2 CPUs) for the module; its workers can import ``ray_backends``."""
    marker = tmp_path_factory.mktemp("die-once") / "died"
    env = {
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "ART2MUS_TEST_DIE_ONCE": str(marker),
        "ART2MUS_TEST_BUILDS": str(marker.parent / "builds"),
    }
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield marker
    ray.shutdown()


def _demo(tmp_path: Path, repo_root: Path, cache: str, duration: float | None = 4) -> Path:
    """The demo exhibit with absolute image paths, its own cache folder and (for speed) short soundscapes."""
    demo = repo_root / "exhibits/demo"
    spec = yaml.safe_load((demo / "exhibit.yaml").read_text())
    for artwork in spec["artworks"]:
        artwork["images"] = [str(demo / image) for image in artwork["images"]]
        if duration is not None:
            artwork["soundscape"]["duration"] = duration
    if duration is not None:
        spec["idle"]["duration"] = duration
    spec["camera"]["path"] = str(demo / spec["camera"]["path"])
    spec["cache"] = {"dir": cache}
    spec["audio"]["output"] = {"type": "null"}
    path = tmp_path / f"{cache}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _entries(directory: Path) -> dict[str, str]:
    """Cache key -> SHA-256 of its audio, from the sidecars."""
    return {p.stem: json.loads(p.read_text())["sha256"] for p in directory.glob("*.json")}


def _statuses(output: str) -> list[str]:
    return [json.loads(line)["status"] for line in output.splitlines() if line.startswith('{"what"')]


def test_ray_fills_the_cache_exactly_as_a_plain_prerender(local_ray, tmp_path, repo_root):
    runner = CliRunner()
    plain = runner.invoke(main, ["prerender", str(_demo(tmp_path, repo_root, "plain")), "--json"])
    assert plain.exit_code == 0, plain.output
    distributed = runner.invoke(
        main, ["prerender", str(_demo(tmp_path, repo_root, "ray")), "--ray", "--workers", "2", "--json"]
    )
    assert distributed.exit_code == 0, distributed.output
    assert _statuses(distributed.output) == ["rendered"] * DEMO_SOUNDSCAPES
    expected = _entries(tmp_path / "plain")
    assert len(expected) == DEMO_SOUNDSCAPES
    assert _entries(tmp_path / "ray") == expected  # same keys, same audio bytes
    again = runner.invoke(main, ["prerender", str(_demo(tmp_path, repo_root, "ray")), "--ray", "--json"])
    assert _statuses(again.output) == ["cached"] * DEMO_SOUNDSCAPES


@pytest.mark.slow
def test_a_killed_run_resumes_with_only_what_is_missing(local_ray, tmp_path, repo_root):
    exhibit = _demo(tmp_path, repo_root, "cache", duration=10)  # long enough to kill it half-way
    cache = tmp_path / "cache"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "art2mus.installation.cli",
            "prerender",
            str(exhibit),
            "--ray",
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the local Ray it starts dies with it
    )
    # its progress lines ("[done/total] what") on stderr tell when a few soundscapes are in the cache
    reached = threading.Event()

    def watch() -> None:  # reads stderr to the end, so the child never blocks on a full pipe
        for line in process.stderr:
            done = re.match(r"\[(\d+)/\d+\]", line)
            if done and int(done.group(1)) >= 2:
                reached.set()

    threading.Thread(target=watch, daemon=True).start()
    assert reached.wait(timeout=300), "the Ray pre-render never got going"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = _entries(cache)
    assert 2 <= len(kept) < DEMO_SOUNDSCAPES, "killed before or after the middle: nothing to resume"
    resumed = CliRunner().invoke(main, ["prerender", str(exhibit), "--ray", "--workers", "2", "--json"])
    assert resumed.exit_code == 0, resumed.output
    statuses = _statuses(resumed.output)
    # the killed job's workers may still finish the soundscapes they held (Ray's worker processes
    # outlive a driver killed with SIGKILL for a moment): those count as cached too, never twice
    assert len(kept) <= statuses.count("cached") < DEMO_SOUNDSCAPES
    assert statuses.count("cached") + statuses.count("rendered") == DEMO_SOUNDSCAPES
    assert len(_entries(cache)) == DEMO_SOUNDSCAPES and kept.items() <= _entries(cache).items()


def test_a_worker_that_dies_is_restarted_and_the_job_completes(local_ray, tmp_path, repo_root):
    exhibit = load_exhibit(_demo(tmp_path, repo_root, "cache"))
    backends = {
        **GENERATOR_BACKENDS,
        "procedural": GeneratorBackend(
            "procedural", "ray_backends:DyingOnceGenerator", "test", (), "dies once"
        ),
    }
    results = prerender_on_ray(exhibit, SoundscapeCache(tmp_path / "cache"), workers=2, backends=backends)
    assert local_ray.is_file(), "no worker died: the test proved nothing"
    assert int(local_ray.read_text()) != os.getpid()  # it was a Ray worker process that died
    assert [r.status for r in results] == ["rendered"] * DEMO_SOUNDSCAPES
    assert len(_entries(tmp_path / "cache")) == DEMO_SOUNDSCAPES


def test_each_worker_builds_its_generator_once_with_one_thread(local_ray, tmp_path, repo_root):
    exhibit = load_exhibit(_demo(tmp_path, repo_root, "cache"))
    backends = {
        **GENERATOR_BACKENDS,
        "procedural": GeneratorBackend("procedural", "ray_backends:CountedGenerator", "test", (), "counted"),
    }
    results = prerender_on_ray(exhibit, SoundscapeCache(tmp_path / "cache"), workers=2, backends=backends)
    assert [r.status for r in results] == ["rendered"] * DEMO_SOUNDSCAPES
    builds = (local_ray.parent / "builds").read_text().split()
    pids, threads = builds[0::2], builds[1::2]
    # two actors, one build each, for the nine soundscapes: not one build per soundscape
    assert len(pids) == len(set(pids)) == 2 and str(os.getpid()) not in pids
    assert threads == ["1", "1"]  # one CPU each: torch/BLAS in two actors do not share out 2 cores twice


def test_a_cache_folder_the_workers_do_not_see_stops_the_job_before_any_work(local_ray, tmp_path, repo_root):
    exhibit = load_exhibit(_demo(tmp_path, repo_root, "cache"))
    elsewhere = tmp_path / "node-local-disk"  # what a worker node without the shared mount would write to
    with pytest.raises(UnsharedCacheError, match="not shared with every Ray worker") as error:
        prerender_on_ray(
            exhibit,
            SoundscapeCache(tmp_path / "cache"),
            workers=2,
            runtime_env={"env_vars": {CACHE_DIR_ENV: str(elsewhere)}},
        )
    assert str(elsewhere) in str(error.value)
    assert not _entries(tmp_path / "cache") and not _entries(elsewhere)


def test_the_daemon_never_imports_ray():
    code = (
        "import sys, art2mus.installation.gallery, art2mus.installation.cli.run, art2mus.installation.cli; "
        "print('ray' in sys.modules)"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"
