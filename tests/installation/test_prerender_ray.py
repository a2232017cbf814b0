"""``art2mus prerender --ray``: the same cache as a plain prerender, resumable, a dead worker retried, an
unshared cache folder refused before any work. Ray runs locally with 2 CPUs; the cluster tests start a
real head node (``ray start --head``) with token authentication, as Ray 2.59+ does wherever
``~/.ray/auth_token`` exists."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prerender_process import stopped_after_the_first

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.models.registry import GENERATOR_BACKENDS, GeneratorBackend

ray = pytest.importorskip("ray")
from art2mus.installation.prerender_ray import (  # noqa: E402
    CACHE_DIR_ENV,
    ClusterConnectionError,
    UnsharedCacheError,
    check_reachable,
    prerender_on_ray,
)

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without Ray's address and authentication settings (a ``ray.init`` in this
    process sets ``RAY_AUTH_MODE``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_AUTH"))}
    return {**env, **extra}


GIVE_UP = 300  # seconds: a head node starts in 5-10 s on the quiet 2-core machine, much longer when busy


@pytest.fixture(scope="module")
def ray_head():
    """A real Ray head node (``ray start --head --block``, 2 CPUs, token authentication) on free ports
    in a temporary folder; yields ``(address, token)``. Stopped by signalling its own process group,
    never by ``ray stop``, which would stop every Ray on the machine (other users' too)."""
    token = secrets.token_hex(32)
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="a2m-ray-", dir="/tmp")  # short: Ray's socket paths live under it
    command = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        "--block",
        "--port", str(port),
        "--num-cpus", "2",
        "--num-gpus", "0",
        "--temp-dir", temp,
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--ray-client-server-port", str(_free_port()),  # not the default 10001 another head may hold
        "--dashboard-agent-listen-port", str(_free_port()),
    ]  # fmt: skip
    head = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token),
        start_new_session=True,  # its own process group: the GCS, raylet and workers it starts
    )
    started = threading.Event()
    lines: list[str] = []

    def watch() -> None:  # reads its output to the end, so it never blocks on a full pipe
        for line in head.stdout:
            lines.append(line)
            if "Ray runtime started" in line:
                started.set()
        started.set()  # it exited: stop waiting

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert started.wait(GIVE_UP) and head.poll() is None, "ray start --head failed:\n" + "".join(lines)
        yield f"127.0.0.1:{port}", token
    finally:
        head.terminate()  # --block: stops its GCS, raylet and workers on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # whatever of its group is left
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


def _prerender(exhibit: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(exhibit), "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=GIVE_UP,
    )


SLICE = ("amber-fields", "city-at-six", "idle")  # two artworks and the idle ambience: under a minute


def test_ray_on_a_running_cluster_fills_the_cache_as_a_plain_prerender(ray_head, tmp_path, repo_root):
    address, token = ray_head
    only = [x for what in SLICE for x in ("--artwork", what)]
    plain = _prerender(_demo(tmp_path, repo_root, "plain"), *only, env=_clean_env())
    assert plain.returncode == 0, plain.stderr
    # what a technician does: the cluster's token, and RAY_AUTH_MODE=token (Ray sends no token to an
    # address given explicitly without it)
    env = _clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    cluster = _prerender(
        _demo(tmp_path, repo_root, "ray"), *only, "--ray", address, "--workers", "2", env=env
    )
    assert cluster.returncode == 0, cluster.stderr
    assert _statuses(cluster.stdout) == ["rendered"] * len(SLICE)
    expected = _entries(tmp_path / "plain")
    assert len(expected) == len(SLICE)
    assert _entries(tmp_path / "ray") == expected  # same keys, same audio bytes
    phases = json.loads(cluster.stdout.splitlines()[-1])["summary"]["phases"]
    assert 0 < phases["scan_s"] and phases["actors_ready_s"] < phases["total_s"]
    assert len(phases["actor_cpu_s"]) == 2 and min(phases["actor_cpu_s"]) > 0  # each actor reported its CPU


def test_a_missing_or_wrong_token_is_reported_with_what_to_set(ray_head, tmp_path, repo_root):
    address, token = ray_head
    exhibit = _demo(tmp_path, repo_root, "cache")
    # Ray retries a refused connection for ~20 s; an operator's budget of 2 s keeps the test short
    quick = {"RAY_gcs_server_port_wait_time_s": "2"}
    no_mode = _prerender(exhibit, "--artwork", "idle", "--ray", address, env=_clean_env(**quick))
    assert no_mode.returncode == 1
    assert "export RAY_AUTH_MODE=token" in no_mode.stderr and "Traceback" not in no_mode.stderr
    wrong = _clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token[::-1], **quick)
    refused = _prerender(exhibit, "--artwork", "idle", "--ray", address, env=wrong)
    assert refused.returncode == 1
    assert "refused the token read from the RAY_AUTH_TOKEN environment variable" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not _entries(tmp_path / "cache")


def test_an_address_where_nothing_listens_is_reported_at_once():
    port = _free_port()  # closed again: nothing listens there
    with pytest.raises(ClusterConnectionError, match=f"no Ray cluster could be joined at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", timeout=GIVE_UP)
    with pytest.raises(ClusterConnectionError, match="not a number"):
        check_reachable("head:63x9")


def test_the_daemon_never_imports_ray():
    code = (
        "import sys, art2mus.installation.gallery, art2mus.installation.cli.run, art2mus.installation.cli; "
        "print('ray' in sys.modules)"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"


def test_sigterm_stops_a_ray_prerender_with_a_line_and_ray_shut_down(tmp_path, repo_root):
    """``prerender --ray`` stopped by SIGTERM: the line saying what is kept and status 143, as without Ray
    (before: Ray's handler exited 15, its core worker printed a stack dump three times, and no word)."""
    exhibit = _demo(tmp_path, repo_root, str(tmp_path / "cache"), duration=60)
    code, output = stopped_after_the_first(exhibit, signal.SIGTERM, "--ray", "--workers", "1")
    assert code == 143, output
    assert re.search(
        r"stopped by SIGTERM: \d of 9 soundscapes done, kept in \S+; run the same command", output
    )
    assert "SIGTERM received" not in output and "Traceback" not in output
