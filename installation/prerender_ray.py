"""``art2mus prerender EXHIBIT --ray [ADDRESS]``: pre-render a whole museum on a Ray cluster.

The soundscapes still missing from the exhibit's cache are shared out among Ray actors, each of which
builds its generators once (a :class:`~art2mus.installation.soundscapes.SoundscapeSource` of its own)
and writes what it renders straight into the cache folder, under the very key a plain ``prerender``
uses (:meth:`SoundscapeSource.prerender_one` does the work in both). So:

* the cache ends up exactly as after a plain ``prerender`` (same keys, same audio checksums);
* a killed job is resumed by running it again: what reached the cache is checked and skipped, only the
  rest is rendered (each cache entry is written atomically, so there is no half-written one);
* every actor must see the same cache folder. Before any work, the driver writes a token file there
  and each actor reads it back; an actor that cannot (a worker node that does not mount the folder) stops
  the job with :class:`UnsharedCacheError` naming its node. A node that mounts it elsewhere sets
  ``ART2MUS_RAY_CACHE_DIR`` to its mount point.
* a soundscape another process renders now (a daemon starting on the same cache) is claimed
  (:mod:`~art2mus.installation.render_claims`): the actor that finds it so hands it back at once and it
  is sent again last, to wait for that claim and read the entry (``elsewhere``) or render it.

Joining a running cluster (``address``): a Ray with token authentication (on wherever
``~/.ray/auth_token`` existed when ``ray start`` ran, since Ray 2.59) takes this driver's token only
with ``RAY_AUTH_MODE=token`` set here, with the head node's token in ``~/.ray/auth_token``,
``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` (Ray's own settings). A refused or missing token, or a
closed port, raises :class:`ClusterConnectionError` saying which of these to set.

Actors ask for one GPU each (``num_gpus=1``) when the job has a model generator and the cluster has
GPUs, else one CPU each (Ray then sets ``OMP_NUM_THREADS=1`` in them, so torch and BLAS run one thread
per actor and two actors do not fight over the same cores). A worker that dies mid-job (out of memory,
a node lost) is restarted by Ray and its soundscape is rendered again (``max_restarts``,
``max_task_retries``).

What a job costs beside the rendering, measured on this project's 2-core machine
(``benchmarks/bench_prerender_ray.py``): starting a local Ray (several seconds: the GCS, the raylet
and its agents), then each actor importing the project and building its generators (seconds; torch
and the model for Art2Mus), then 1-2 ms per soundscape for the call. Nothing heavy travels back:
an actor writes the audio into the cache itself and returns a few bytes. So Ray pays off when the
rendering outweighs the start-up: a museum, not the demo's nine soundscapes. Each actor holds
:data:`IN_FLIGHT` soundscapes while many are left, so it starts the next one without waiting for the
driver; the last ones go only to idle actors.

Ray is an optional extra (``pip install art2mus[cluster]``), imported only here; the daemon never
imports this module.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.config import ExhibitConfig
from art2mus.installation.soundscapes import (
    FALLBACK_GENERATOR,
    CacheCannotStore,
    PrerenderResult,
    SoundscapeSource,
    cache_stop_reason,
    limit_cpu_threads,
)

logger = logging.getLogger(__name__)

#: environment variable a worker node sets when it mounts the shared cache folder at another path
CACHE_DIR_ENV = "ART2MUS_RAY_CACHE_DIR"
#: how many times a dead actor is restarted, and each of its soundscapes retried, before the job fails
MAX_RESTARTS = 3
#: soundscapes handed to each actor at once: the next one is queued there while it renders the current
IN_FLIGHT = 2
#: a local Ray started for one job: no dashboard, no worker logs copied to the driver, and a small
#: object store (only image loaders and results of a few bytes travel through it)
LOCAL_RAY_OPTIONS: dict[str, Any] = {
    "address": "local",  # a Ray of its own even when RAY_ADDRESS or a `ray start` on this machine says otherwise
    "include_dashboard": False,
    "log_to_driver": False,
    "object_store_memory": 100 * 2**20,
}


class UnsharedCacheError(RuntimeError):
    """Some Ray workers do not see the driver's cache folder: what they render would be lost."""


class ClusterConnectionError(RuntimeError):
    """The Ray cluster at the address given cannot be joined; the message says what to do."""


#: Ray's own environment variables for token authentication (Ray >= 2.52; on by default for a local
#: ``ray.init()`` since 2.59, which writes ``~/.ray/auth_token``; ``ray start`` then turns it on for
#: any cluster it starts where that file exists)
AUTH_MODE_ENV = "RAY_AUTH_MODE"
AUTH_TOKEN_ENV = "RAY_AUTH_TOKEN"
AUTH_TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"


def _token_source(environ: dict[str, str]) -> str | None:
    """Where Ray will read this machine's token from (its own order of precedence), or None."""
    if environ.get(AUTH_TOKEN_ENV):
        return f"the {AUTH_TOKEN_ENV} environment variable"
    if environ.get(AUTH_TOKEN_PATH_ENV):
        return f"the file {environ[AUTH_TOKEN_PATH_ENV]} ({AUTH_TOKEN_PATH_ENV})"
    default = Path.home() / ".ray" / "auth_token"
    return f"the file {default}" if default.is_file() else None


def _is_auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the cluster refusing this machine's token, or its lack."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """Raise :class:`ClusterConnectionError` at once when nothing listens at ``address`` (``HOST:PORT``;
    ``ray://`` and ``auto`` are left to Ray): Ray itself retries a closed port for many minutes."""
    if "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except ValueError:
        raise ClusterConnectionError(f"--ray {address}: the port {port!r} is not a number") from None
    except OSError as exc:
        raise ClusterConnectionError(connection_advice(address, exc)) from None


def connection_advice(address: str, exc: BaseException, environ: dict[str, str] | None = None) -> str:
    """What to do when ``ray.init(address)`` failed with ``exc``: one paragraph for the technician."""
    environ = dict(os.environ if environ is None else environ)
    get_token = (
        "put the head node's token (`ray get-auth-token` prints it there) in ~/.ray/auth_token here, "
        f"or set {AUTH_TOKEN_ENV} to it, or {AUTH_TOKEN_PATH_ENV} to a file holding it"
    )
    if _is_auth_failure(exc):
        if environ.get(AUTH_MODE_ENV, "").lower() != "token":
            return (
                f"the Ray cluster at {address} uses token authentication and this machine sends no token "
                f"({AUTH_MODE_ENV} is not 'token' here, and Ray sends none to an address given explicitly "
                f"unless told to): export {AUTH_MODE_ENV}=token and {get_token}"
            )
        source = _token_source(environ)
        if source is None:
            return f"{AUTH_MODE_ENV}=token but this machine has no Ray token: {get_token}"
        return (
            f"the Ray cluster at {address} refused the token read from {source}: it is not that "
            f"cluster's token; {get_token}"
        )
    last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
    return (
        f"no Ray cluster could be joined at {address} ({last[0]}): is `ray start --head` running there? "
        "ADDRESS is the head node's HOST:PORT (its --port, 6379 by default) from a machine of the "
        "cluster, or ray://HOST:10001 (Ray Client) from outside it"
    )


def import_ray() -> Any:
    """The ``ray`` module, or a RuntimeError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "prerender --ray needs Ray: pip install 'art2mus[cluster]' (or pip install 'ray[default]')"
        ) from None
    return ray


class PrerenderWorker:
    """One Ray actor: a soundscape source of its own over the shared cache folder (made a Ray actor class
    by :func:`prerender_on_ray`), its math libraries held to ``threads`` CPU threads."""

    def __init__(self, exhibit: ExhibitConfig, backends: Any = None, threads: int = 1):
        limit_cpu_threads(threads)  # before a generator imports torch: it reads OMP_NUM_THREADS then
        self.threads = threads
        cache_dir = os.environ.get(CACHE_DIR_ENV) or exhibit.cache.dir
        cache = SoundscapeCache(
            cache_dir,
            audio_format=exhibit.cache.format,
            max_size_bytes=int(exhibit.cache.max_size_gb * 10**9),
        )
        self.source = SoundscapeSource(exhibit, backends=backends, cache=cache)
        self.built: set[str] = set()
        self.build_s = 0.0

    def check_shared(self, token_name: str, token: str) -> tuple[str, str, bool]:
        """``(node, cache folder here, whether the driver's token is there with its content)``."""
        path = self.source.cache.directory / token_name
        try:
            seen = path.read_text() == token
        except OSError:
            seen = False
        return socket.gethostname(), str(self.source.cache.directory), seen

    def render(
        self,
        what: str,
        name: str,
        load_image: Callable[[], Any],
        digest: str | None,
        force: bool,
        wait: bool = False,
    ) -> PrerenderResult:
        if name not in self.built:  # built once per actor; timed apart for the job's phases
            clock = time.perf_counter()
            self.source.get(name)
            limit_cpu_threads(self.threads)  # in case the library ignored the variable at import
            self.build_s += time.perf_counter() - clock
            self.built.add(name)
        return self.source.prerender_one(what, name, load_image, digest, force, wait=wait)

    def close(self) -> dict[str, float]:
        """Close the generators; this actor's CPU seconds and generator build seconds."""
        self.source.close()
        return {"cpu_s": time.process_time(), "build_s": self.build_s}


def _needs_gpu(source: SoundscapeSource, names: set[str]) -> bool:
    return any(source.recipe(name)[0] != FALLBACK_GENERATOR for name in names)


def _scan(
    source: SoundscapeSource, cache: SoundscapeCache, only: set[str] | None, force: bool
) -> tuple[list[Any], dict[int, PrerenderResult], list[int], float]:
    """The job's soundscapes, those already done (cached or fixed files) and the indexes of the rest,
    and the seconds it took: image files hashed, the idle collection image made, each key looked up."""
    clock = time.perf_counter()
    jobs = source.prerender_jobs(only)
    results: dict[int, PrerenderResult] = {}
    pending: list[int] = []
    for index, (what, name, load_image, digest) in enumerate(jobs):
        if name == "file":
            results[index] = PrerenderResult(what, name, "file")
            continue
        request = source.request(what)
        key = source.key(name, request, digest if digest is not None else load_image())
        if not force and cache.get(key) is not None:  # checked against its checksum: a resumed job
            results[index] = PrerenderResult(what, name, "cached")
        else:
            pending.append(index)
    return jobs, results, pending, time.perf_counter() - clock


def prerender_on_ray(
    exhibit: ExhibitConfig,
    cache: SoundscapeCache,
    *,
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    only: set[str] | None = None,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    on_result: Callable[[PrerenderResult], None] | None = None,
    backends: Any = None,
    runtime_env: dict[str, Any] | None = None,
    max_restarts: int = MAX_RESTARTS,
    phases: dict[str, Any] | None = None,
) -> list[PrerenderResult]:
    """:meth:`SoundscapeSource.prerender` spread over Ray actors; results in the exhibit's order.

    The actors are started before the driver looks through the cache (hashing image files, making the
    idle collection image, checking each entry's checksum: seconds for a large collection), so their
    start-up (a Python process, the project's imports) runs meanwhile; actors beyond what is left to
    render are then let go. So a job connects to Ray even when the cache turns out to hold everything.

    Args:
        address: a running cluster (``ray://head:10001`` or ``head:6379``); None starts Ray on this machine.
        workers: how many actors (default: one per GPU for model generators, one per ``threads`` CPUs for
            the procedural one, never more than there are soundscapes to render).
        threads: CPU threads of each actor's math libraries (torch, BLAS); a CPU actor reserves as many
            of Ray's CPUs. A GPU actor reserves none and runs this many.
        only, force, progress, on_result: as for :meth:`SoundscapeSource.prerender`.
        backends: the generator table (default: the registry's), shipped to every actor.
        runtime_env: Ray's runtime environment for the actors (environment variables, ...).
        max_restarts: restarts of a dead actor, and retries of each soundscape it held.
        phases: filled with the seconds of each phase of the job (and CPU seconds), as
            ``benchmarks/bench_prerender_ray.py`` reports them.

    Raises:
        ValueError: ``only`` names something the exhibit does not have.
        UnsharedCacheError: an actor does not see the driver's cache folder (nothing was rendered).
        ClusterConnectionError: the cluster at ``address`` cannot be joined (not running there, or its
            token authentication refused this machine): the message says what to set.
        RuntimeError: Ray is not installed.
    """
    started = time.perf_counter()
    driver_cpu = time.process_time()
    phases = {} if phases is None else phases
    source = SoundscapeSource(exhibit, backends=backends, cache=cache)
    plan = source.prerender_plan(only)  # an unknown name in `only` is refused before Ray starts
    to_render = {name for _, name in plan if name != "file"}
    if not to_render:  # nothing but fixed audio files
        return [PrerenderResult(what, name, "file") for what, name in plan]
    # Ray >= 2.59 turns token authentication on for a local cluster when RAY_AUTH_MODE is unset and warns
    # so at every start; set to token (Ray's documented setting to enable it) it is the same cluster, its
    # token made in ~/.ray/auth_token if missing, without the warning. Ray reads it when imported (set
    # later, the GCS fails for want of a token), and it is unset again once Ray is shut down: joining a
    # cluster by address later in this process must not send a token unasked
    set_auth_mode = address is None and AUTH_MODE_ENV not in os.environ and "ray" not in sys.modules
    if set_auth_mode:
        os.environ[AUTH_MODE_ENV] = "token"
    try:
        ray = import_ray()
    except RuntimeError:
        if set_auth_mode:
            os.environ.pop(AUTH_MODE_ENV, None)
        raise
    scanner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prerender-scan")
    scan = scanner.submit(_scan, source, cache, only, force)
    started_ray = not ray.is_initialized()
    actors: list[Any] = []
    try:
        if started_ray:
            clock = time.perf_counter()
            handlers = _signal_handlers()
            if address:
                check_reachable(address)
                try:
                    ray.init(address=address, log_to_driver=False)
                except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
                    raise ClusterConnectionError(connection_advice(address, exc)) from None
            else:
                ray.init(**LOCAL_RAY_OPTIONS)
            _restore_signal_handlers(handlers)
            phases["connect_s"] = time.perf_counter() - clock
            logger.info(
                "Ray %s in %.1f s", f"at {address}" if address else "started here", phases["connect_s"]
            )
        resources = ray.cluster_resources()
        gpu = _needs_gpu(source, to_render) and resources.get("GPU", 0) >= 1
        slots = int(resources.get("GPU", 1) if gpu else resources.get("CPU", 1) // threads) or 1
        if workers is not None and workers > slots:  # the extra actors would wait for resources forever
            logger.warning(
                "%d workers asked, the cluster has room for %d (%s): using %d",
                workers,
                slots,
                "one GPU each" if gpu else f"{threads} CPU each",
                slots,
            )
        renderable = sum(name != "file" for _, name in plan)
        count = max(1, min(workers or slots, slots, renderable))
        actor_class = ray.remote(PrerenderWorker).options(
            num_gpus=1 if gpu else 0,
            num_cpus=0 if gpu else threads,
            max_restarts=max_restarts,
            max_task_retries=max_restarts,
            runtime_env=runtime_env,
        )
        clock = time.perf_counter()
        actors = [actor_class.remote(exhibit, backends, threads) for _ in range(count)]
        shared = _ask_shared(ray, actors, cache.directory)  # answered once each actor is up
        jobs, results, pending, phases["scan_s"] = scan.result()  # meanwhile, here
        phases["scan_wait_s"] = time.perf_counter() - clock
        shared.check()
        phases["actors_ready_s"] = time.perf_counter() - clock
        for actor in actors[len(pending) :]:  # more actors than soundscapes left: let the extra go
            ray.kill(actor, no_restart=True)
        actors = actors[: len(pending)]
        done = 0
        for index in sorted(results):
            done += 1
            if on_result is not None:
                on_result(results[index])
            if progress is not None:
                progress(done, len(jobs), jobs[index][0])
        logger.info(
            "prerender on Ray: %d soundscapes to render (%d already done) on %d %s actors",
            len(pending),
            len(jobs) - len(pending),
            len(actors),
            "GPU" if gpu else "CPU",
        )
        clock = time.perf_counter()
        running: dict[Any, tuple[int, int]] = {}  # result ref -> (job index, actor number)
        held = [0] * len(actors)  # soundscapes handed to each actor and not back yet
        queue = deque(pending)
        # another process on the cache (a daemon starting) renders these now: sent again last, to wait
        held_elsewhere: set[int] = set()
        arrived: list[PrerenderResult] = []  # in the order they came back, for cache_stop_reason
        stop = None
        while queue or running:
            for number, actor in enumerate(actors):
                # IN_FLIGHT each while there is plenty left; at the end only to an idle actor, so the
                # last soundscapes do not wait behind another one while some actor has nothing to do
                while queue and held[number] < (IN_FLIGHT if len(queue) > len(actors) else 1):
                    index = queue.popleft()
                    what, name, load_image, digest = jobs[index]
                    wait = index in held_elsewhere
                    running[actor.render.remote(what, name, load_image, digest, force, wait)] = (
                        index,
                        number,
                    )
                    held[number] += 1
            ready, _ = ray.wait(list(running), num_returns=1)
            index, number = running.pop(ready[0])
            result = ray.get(ready[0])
            held[number] -= 1
            if result.status == "busy":
                held_elsewhere.add(index)
                if stop is None:  # else not tried: skipped
                    queue.append(index)
                continue
            results[index] = result
            arrived.append(result)
            done += 1
            if on_result is not None:
                on_result(result)
            phases.setdefault("first_result_s", time.perf_counter() - clock)
            if progress is not None:
                progress(done, len(jobs), jobs[index][0])
            if stop is None:
                stop = cache_stop_reason(arrived, cache.directory, exhibit.cache.max_size_gb)
                if stop is not None:  # hand out nothing more; what the actors hold already comes back
                    queue.clear()
        phases["render_s"] = time.perf_counter() - clock
        reports = ray.get([actor.close.remote() for actor in actors])
        phases["actor_cpu_s"] = [round(r["cpu_s"], 2) for r in reports]
        phases["actor_build_s"] = [round(r["build_s"], 2) for r in reports]
        logger.info("%d soundscapes rendered in %.1f s", len(pending), phases["render_s"])
    finally:
        scanner.shutdown(wait=True)
        if started_ray:
            ray.shutdown()
        if set_auth_mode:
            os.environ.pop(AUTH_MODE_ENV, None)
    phases["total_s"] = time.perf_counter() - started
    phases["driver_cpu_s"] = time.process_time() - driver_cpu
    for key, value in phases.items():
        if isinstance(value, float):
            phases[key] = round(value, 2)
    logger.info("prerender on Ray, phases: %s", json.dumps(phases))
    if stop is not None:
        raise CacheCannotStore(
            stop,
            [
                results.get(i) or PrerenderResult(what, name, "skipped", error="not tried: " + stop)
                for i, (what, name, *_) in enumerate(jobs)
            ],
        )
    return [results[i] for i in range(len(jobs))]


def _signal_handlers() -> dict[int, Any]:
    """This process's SIGINT and SIGTERM handlers (empty off the main thread: Ray sets none there)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}


def _restore_signal_handlers(handlers: dict[int, Any]) -> None:
    """Put back the handlers ``ray.init`` replaced. Ray's SIGTERM handler exits with status 15 at once, and
    its core worker's C++ handler printed a stack dump on SIGTERM (three times); the caller's handler (the
    CLI's says what is kept and raises, so the ``finally`` below shuts Ray down) or the default comes back."""
    for signum, handler in handlers.items():  # set again even if unchanged in Python: the C++ one goes
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class _SharedCheck:
    """The actors' answers about the token file the driver wrote into the cache folder (see
    :func:`_ask_shared`); :meth:`check` waits for them, removes the file and raises if one did not see it."""

    def __init__(self, ray: Any, answers: list[Any], directory: Path, token_path: Path):
        self.ray, self.answers, self.directory, self.token_path = ray, answers, directory, token_path

    def check(self) -> None:
        """Raise :class:`UnsharedCacheError` unless every actor read the token."""
        try:
            answers = self.ray.get(self.answers)
        finally:
            self.token_path.unlink(missing_ok=True)
        blind = [f"{node} (cache folder there: {folder})" for node, folder, seen in answers if not seen]
        if blind:
            raise UnsharedCacheError(
                f"the cache folder {self.directory} is not shared with every Ray worker: "
                f"{', '.join(blind)} cannot read the token file {self.token_path.name} written there; "
                f"mount the same folder on every node (or set {CACHE_DIR_ENV} to its mount point there)"
            )


def _ask_shared(ray: Any, actors: list[Any], directory: Path) -> _SharedCheck:
    """Write a token file into ``directory`` and ask every actor to read it back; the answers come
    once the actors are up (each actor runs its calls in order, so this one before any render)."""
    directory.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    token_path = directory / f".ray-shared-{token[:12]}"
    token_path.write_text(token)
    answers = [actor.check_shared.remote(token_path.name, token) for actor in actors]
    return _SharedCheck(ray, answers, directory, token_path)
