"""Live generation in a separate process: the slow generators (Art2Mus on a GPU) never stall the room.

The daemon sends :class:`GenerationJob` s to one worker *process* (``spawn``, so CUDA and torch start
clean, and a crash, a CUDA error or an out-of-memory kill takes only the worker down). The worker builds
each generator once, renders, stores the soundscape in the soundscape cache (the hand-over: only a short
:class:`GenerationResult` travels back) and says so. When the cache cannot be written (a read-only or full
disk) the soundscape itself travels back in the result, so a finished rendering is never thrown away. Meanwhile the gallery plays the procedural bridge
of the same image (see :mod:`art2mus.installation.gallery`).

Events come back through a one-way pipe that the worker writes synchronously: once the worker has
said "started" or "done", the message is in the pipe even if the process dies a moment later. A
supervisor thread in the daemon collects results and watches the process:

* a worker that dies is restarted, at most ``max_restarts`` times within ``restart_window_s``; the dead
  worker's last messages are read first (a job it finished just before dying keeps its result), and the
  death is blamed on the job it last reported as started (none if it died between jobs); that job is tried
  once more, then reported failed (a job that kills its worker twice is not
  tried a third time), and the jobs behind it are sent again;
* past that budget the supervisor gives up for a cool-down (``restart_window_s``, doubled after each give-up
  that follows another without the process staying up ``restart_window_s`` in between, at most
  ``max_cooldown_s``): jobs fail at once meanwhile (the bridges play on), then it starts a process again
  by itself, so the next job (a reload's, the nightly retry's) reaches the model. Giving up for good
  turned the model off for months after one bad night (a CUDA out-of-memory loop), with nothing but a
  daemon restart to bring it back. A reload and the nightly retry need not wait out a cool-down of hours
  that crashes caused: :meth:`GenerationWorker.try_again_now` starts a process at once, on probation (it
  dying within ``restart_window_s`` gives up again at once, for twice as long);
* a job that runs longer than ``job_timeout_s`` gets its worker killed and counts as such a death;
* so does a worker that takes no job for ``start_timeout_s`` while one waits for it (frozen between jobs:
  a driver hang after its last job, ``kill -STOP``): the job's timeout counts only from its "started",
  and ``is_alive()`` holds for a stopped process, so a reload's job waited forever behind the bridges. A
  model's first load comes after "started" and counts toward the job's timeout, never this one; the wait
  counts from the job's submission, the worker's start or its last finished job, whichever is later, and
  the status shows it (``oldest_queued_s``, ``stalled``) before the kill (SIGKILL: SIGTERM does not
  reach a stopped process);
* :meth:`GenerationWorker.stop` asks the worker to finish its job and exit; a job still running after a
  short grace is cut short (terminate, then kill).

The worker never outlives the daemon. The supervisor thread starts every worker process and is the last
to stop, and on Linux the worker asks the kernel to kill it when that thread ends (``PR_SET_PDEATHSIG``,
which follows the *thread* that started a process, not the process): a daemon killed abruptly (``kill -9``,
the OOM killer) takes its worker with it at once, mid-job too, and with it the GPU memory it held. Elsewhere,
and as a fallback, the waiting worker checks every second that its parent is still the daemon.
"""

from __future__ import annotations

import atexit
import collections
import datetime
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from art2mus.installation import logs
from art2mus.models.generator import GenerationRequest, Soundscape

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationJob:
    """One soundscape to render in the worker.

    Attributes:
        what: artwork id (or ``idle``) it is for.
        generator: the exhibit's generator name (for logs and the result).
        backend, settings: the generator backend and its constructor keywords.
        request: duration, seed, loop, loudness, options.
        cache_key: where the worker stores the result in the cache.
        image_path: the image file, or None when ``image`` is given (e.g. the collection's mosaic).
        image: RGB uint8 ``(H, W, 3)`` or None.
        batch: the jobs submitted while others were pending share one, and so do those of one
            :meth:`GenerationWorker.new_batch` (a start's, a reload's, the nightly retry's; set by
            :meth:`GenerationWorker.submit`): a generator that could not be built fails the rest of its batch
            at once, and is built again for a later batch (the nightly retry, after the model was copied in).
    """

    what: str
    generator: str
    backend: str
    settings: dict[str, Any]
    request: GenerationRequest
    cache_key: str
    image_path: str | None = None
    image: np.ndarray | None = None
    job_id: int = 0
    batch: int = 0


@dataclass(frozen=True)
class GenerationResult:
    """What became of a job: ``ok`` with the soundscape in the cache under ``cache_key``, or ``error``.

    ``soundscape`` holds the rendering itself when the worker could not store it in the cache (then it
    travels in memory); use :meth:`load` to get it either way. ``cannot_load``: the job failed because its
    generator could not be built (a damaged or missing model, an aligner that cannot load); the generator
    process logged why once for its batch, so the daemon does not repeat it for each artwork.
    """

    job_id: int
    what: str
    generator: str
    cache_key: str
    ok: bool
    seconds: float = 0.0
    error: str | None = None
    soundscape: Soundscape | None = None
    cannot_load: bool = False

    def load(self, cache: Any) -> Soundscape | None:
        """The rendering: the one carried in memory, else ``cache.get(cache_key)`` (None if gone)."""
        if not self.ok:
            return None
        if self.soundscape is not None:
            return self.soundscape
        return cache.get(self.cache_key) if cache is not None else None


#: Linux's prctl option: the signal this process gets when the thread that started it ends
_PR_SET_PDEATHSIG = 1
#: longest wait, when a job queue is closed, for its feeder thread to end (see GenerationWorker._close_channels)
_FEEDER_JOIN_S = 2.0
#: seconds between two looks, while the worker waits for a job, at whether the daemon is still its parent
_PARENT_CHECK_S = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """In the worker: be killed when the thread that started it (the supervisor's) ends; Linux only."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            failed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0
        except (OSError, AttributeError):
            failed = True
        if failed:  # the parent check between jobs still ends an orphan, only later
            logging.getLogger(__name__ + ".process").debug("PR_SET_PDEATHSIG is not available")
    if os.getppid() != parent_pid:  # the daemon died before the kernel knew to tell
        os._exit(0)
    # Ctrl-C at a terminal reaches the whole process group: the daemon decides when its worker stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _claim_or_wait(cache: Any, key: str, what: str, log: Any) -> Any:
    """The claim on cache entry ``key`` (:mod:`~art2mus.installation.render_claims`), or None when a prerender
    held it and stored the entry meanwhile (waited for: that rendering is this job's, within its timeout)."""
    from art2mus.installation.render_claims import RenderClaims

    claims = RenderClaims(cache.directory)
    claim = claims.claim(key)
    if claim is not None:
        return claim
    log.info("%s: another process (a prerender) renders it now; waiting for it", what)
    claims.claim(key, wait=True).release()
    return None if cache.get(key) is not None else claims.claim(key, wait=True)


def _next_job(jobs: Any, parent_pid: int, check_s: float = _PARENT_CHECK_S) -> Any:
    """The next job (None: the daemon said stop, or it is gone, this process an orphan)."""
    while True:
        try:
            return jobs.get(timeout=check_s)
        except queue.Empty:
            if os.getppid() != parent_pid:
                logging.getLogger(__name__ + ".process").warning(
                    "the daemon (pid %d) is gone; the generator process exits", parent_pid
                )
                return None


def _worker_main(
    jobs: Any,
    events: Any,
    cache_dir: str,
    cache_format: str,
    backends: Any,
    log_level: int,
    log_format: str,
    parent_pid: int,
) -> None:
    """The worker process: render jobs until it receives None (or the daemon ``parent_pid`` is gone).

    ``events`` is the writing end of a pipe (``Connection``): ``send`` returns once the message is in
    the pipe, so it survives this process dying right after.
    """
    _die_with_parent(parent_pid)
    import cv2

    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.logs import configure_logging
    from art2mus.models.registry import create_generator

    verbosity = 2 if log_level <= logging.DEBUG else 1 if log_level <= logging.INFO else 0
    configure_logging(verbosity=verbosity, log_format=log_format)
    log = logging.getLogger(__name__ + ".process")
    cache = SoundscapeCache(cache_dir, audio_format=cache_format, max_size_bytes=10**15)
    built: dict[tuple[str, str], Any] = {}
    # generators that could not be built, with the batch that tried: its other jobs fail at once with the
    # same error (an AudioLDM2 load takes minutes, and failed again for each artwork); a later batch builds
    # again
    refused: dict[tuple[str, str], tuple[int, Exception]] = {}
    while True:
        job = _next_job(jobs, parent_pid)
        if job is None:
            break
        events.send(("started", job.job_id))
        started = time.perf_counter()
        key = (job.backend, repr(sorted(job.settings.items())))
        if key not in built:
            batch, failure = refused.get(key, (None, None))
            if failure is None or batch != job.batch:
                try:
                    built[key] = create_generator(job.backend, job.settings, backends=backends)
                except Exception as exc:  # noqa: BLE001 - any failure to build: the fallbacks play
                    failure = exc
                    refused[key] = (job.batch, exc)
                    # once for the batch (a start's 100 artworks logged it 100 times, and the daemon twice
                    # more each); the traceback only for what nobody foresaw
                    foreseen = isinstance(exc, (ValueError, OSError, KeyError))
                    log.warning(
                        "generator %r cannot load: %s: %s; the soundscapes sent to it keep their fallback",
                        job.generator,
                        type(exc).__name__,
                        exc,
                        exc_info=not foreseen,
                    )
                    log.debug("building %s failed here", job.generator, exc_info=foreseen)
            if key not in built:
                log.debug("%s: %s cannot load; it keeps its fallback", job.what, job.generator)
                events.send(("done", _refused(job, failure, time.perf_counter() - started)))
                continue
        claim = _claim_or_wait(cache, job.cache_key, job.what, log)
        if claim is None:  # a prerender rendered it meanwhile: it arrives through the cache
            seconds = time.perf_counter() - started
            events.send(
                ("done", GenerationResult(job.job_id, job.what, job.generator, job.cache_key, True, seconds))
            )
            continue
        try:
            image = job.image
            if image is None:
                bgr = cv2.imread(str(job.image_path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise ValueError(f"cannot read image {job.image_path}")
                image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            sound = built[key].generate(image, job.request)
            stored = cache.put(job.cache_key, sound, {"what": job.what, "generator": job.generator})
            claim.release()
            seconds = time.perf_counter() - started
            log.info("generated %s with %s in %.1f s", job.what, job.generator, seconds)
            if not stored:
                log.warning("the cache %s refused %s: sending the rendering in memory", cache_dir, job.what)
            result = GenerationResult(
                job.job_id,
                job.what,
                job.generator,
                job.cache_key,
                True,
                seconds,
                None,
                None if stored else sound,
            )
            events.send(("done", result))
        except Exception as exc:  # noqa: BLE001 - the top of the worker loop: report and take the next job
            claim.release()
            error = f"{type(exc).__name__}: {exc}"
            # a setting or a file the message names says it all (the daemon logs it again): the traceback
            # is for what nobody foresaw, and at debug level for the rest
            foreseen = isinstance(exc, (ValueError, OSError, KeyError))
            log.warning(
                "generating %s with %s failed: %s", job.what, job.generator, error, exc_info=not foreseen
            )
            log.debug("generating %s failed here", job.what, exc_info=foreseen)
            events.send(
                (
                    "done",
                    GenerationResult(
                        job.job_id,
                        job.what,
                        job.generator,
                        job.cache_key,
                        False,
                        time.perf_counter() - started,
                        error,
                    ),
                )
            )
    for generator in built.values():
        generator.close()
    events.close()
    # Done: every result is in the pipe and every rendering in the cache. The interpreter's own teardown
    # after a model has loaded (torch's and onnxruntime's threads and objects) took over 3 s, past the
    # daemon's stop grace, so each stop warned 'still busy' and terminated an idle worker; skip it.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def _refused(job: GenerationJob, failure: Exception, seconds: float) -> GenerationResult:
    """The failed result of ``job`` whose generator could not be built (``failure`` says why)."""
    error = f"{type(failure).__name__}: {failure}"
    return GenerationResult(
        job.job_id, job.what, job.generator, job.cache_key, False, seconds, error, cannot_load=True
    )


@dataclass
class _Pending:
    job: GenerationJob
    attempts: int = 0  # times a worker died on it
    started_at: float | None = None
    queued_at: float = 0.0  # clock time of its submission


@dataclass
class WorkerStatus:
    """What the control panel shows about live generation."""

    alive: bool
    pid: int | None
    restarts: int
    queued: int
    current: str | None
    done: int
    failed: int
    last_error: str | None
    recent: list[dict[str, Any]] = field(default_factory=list)
    #: past the restart budget: when the supervisor starts a process again (ISO 8601, local time with its
    #: UTC offset); None while it has not given up
    given_up_until: str | None = None
    #: generator name -> why it cannot load (a damaged or missing model, an aligner that cannot load), from
    #: its last batch: its soundscapes keep their fallback until a job of it succeeds
    cannot_load: dict[str, str] = field(default_factory=dict)
    #: seconds the next job has waited for the process to take it: since its submission, the process's start
    #: or its last finished job, whichever is later; 0 while a job runs or none waits
    oldest_queued_s: float = 0.0
    #: a sentence while that wait is long (the process may be frozen: it is killed at ``start_timeout_s``)
    stalled: str | None = None


class GenerationWorker:
    """A supervised generator process (see the module docstring).

    Args:
        cache_dir, cache_format: the soundscape cache the worker stores results in.
        backends: the generator table (default: the registry's); must be picklable (targets are strings).
        on_result: called on the supervisor thread with every :class:`GenerationResult`.
        job_timeout_s: longest a single job may run before its worker is killed.
        start_timeout_s: longest a job may wait for an idle worker to take it before the worker is killed
            (frozen between jobs); its start's imports count, a model's load does not (that is the job's).
        max_restarts, restart_window_s: restart budget (restarts within seconds); past it the worker stays
            down for a cool-down and jobs fail at once.
        max_cooldown_s: the longest cool-down (seconds); the first lasts ``restart_window_s``, each give-up
            that follows another without the process staying up ``restart_window_s`` doubles it.
        poll_s: how often the supervisor looks at the process.
        clock: monotonic seconds (job timeouts, the restart budget, the cool-down); a test passes a fake.
        wall_clock: seconds since the epoch, for the time the status and the log give for the next try.
    """

    def __init__(
        self,
        cache_dir: Path | str,
        cache_format: str = "flac",
        *,
        backends: Mapping[str, Any] | None = None,
        on_result: Callable[[GenerationResult], None] | None = None,
        job_timeout_s: float = 900.0,
        start_timeout_s: float = 120.0,
        max_restarts: int = 5,
        restart_window_s: float = 600.0,
        max_cooldown_s: float = 4 * 3600.0,
        poll_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.cache_dir = str(cache_dir)
        self.cache_format = cache_format
        self.backends = dict(backends) if backends is not None else None
        self.on_result = on_result
        self.job_timeout_s = float(job_timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self.max_restarts = int(max_restarts)
        self.restart_window_s = float(restart_window_s)
        self.max_cooldown_s = max(float(max_cooldown_s), self.restart_window_s)
        self.poll_s = float(poll_s)
        self._clock = clock
        self._wall_clock = wall_clock
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._jobs: Any = None
        self._events: Any = None  # the reading end of the current worker's event pipe
        self._running: int | None = None  # the job the current worker last reported as started
        self._pending: collections.OrderedDict[int, _Pending] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spawn_error: BaseException | None = None
        self._grace_s = 3.0
        self._next_id = 1
        self._batch = 0
        self._restarts: collections.deque[float] = collections.deque()
        self._restart_count = 0
        self._done = 0
        self._failed = 0
        self._last_error: str | None = None
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=20)
        self._cannot_load: dict[str, str] = {}  # generator -> why it could not be built
        self._given_up = False
        self._retry_at = 0.0  # clock time at which a given-up supervisor starts a process again
        self._give_ups = 0  # give-ups in a row, no process staying up restart_window_s in between
        self._up_since = 0.0  # clock time the current process started
        self._ready_since = 0.0  # clock time the current process started or last finished a job
        self._cooldown_cause = ""  # why it is given up: "crashes", or "a failed start" (no process to start)
        self._asked_early: str | None = None  # who asked to try again before the cool-down's end
        self._on_probation = False  # a process started early: its death within a window gives up at once

    # ------------------------------------------------------------------ control
    def start(self) -> GenerationWorker:
        """Start the supervisor thread, which starts the worker process; returns once it has."""
        if self._thread is not None:
            return self
        spawned = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, args=(spawned,), name="generation-supervisor", daemon=True
        )
        self._thread.start()
        spawned.wait()
        if self._spawn_error is not None:
            error, self._spawn_error, self._thread = self._spawn_error, None, None
            raise error
        # A daemon that exits without stop() (an error on the way out) stops its worker first: atexit runs
        # this before multiprocessing's own exit handler terminates the process, which the supervisor
        # would take for a crash and restart.
        atexit.register(self.stop)
        return self

    def new_batch(self) -> int:
        """A batch for the jobs of one start, reload or nightly retry (pass it to :meth:`submit`): a
        generator that cannot be built is tried once for them all, however fast each job fails (a job that
        failed before the next was submitted began a new batch, so a model was built, and its failure
        logged, again and again)."""
        with self._lock:
            self._batch += 1
            return self._batch

    def submit(self, job: GenerationJob, batch: int | None = None) -> int:
        """Queue ``job`` (in ``batch``, from :meth:`new_batch`; None: the pending jobs' batch, a new one when
        none is pending); returns its id. Never blocks (the process starts with the first job)."""
        if self._thread is None:
            self.start()
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
            if batch is None:
                if not self._pending:  # nothing on its way: a new batch
                    self._batch += 1
                batch = self._batch
            job = GenerationJob(**{**job.__dict__, "job_id": job_id, "batch": batch})
            self._pending[job_id] = _Pending(job, queued_at=self._clock())
            if self._given_up and self._clock() >= self._retry_at:
                pass  # the cool-down is over: the supervisor starts a process at its next look and sends it
            elif self._given_up:
                self._finish(
                    GenerationResult(
                        job_id,
                        job.what,
                        job.generator,
                        job.cache_key,
                        False,
                        error=f"the generator process is down until {self._retry_time()} "
                        "(restart budget used up)",
                    )
                )
            else:
                self._jobs.put(job)
        return job_id

    def try_again_now(self, why: str) -> bool:
        """End a cool-down that crashes caused now (``why``: "a reload", "the nightly retry"): the supervisor
        starts a process at its next look and the jobs submitted from now on go to it; True if it will.

        The doubling holds: a process started early that dies within ``restart_window_s`` gives up again at
        once, for twice as long, so a job that kills the process cannot start a crash loop at each reload.
        Only a technician's reload and the nightly retry call this, never an artwork's submit (see
        :meth:`submit`). A cool-down after a process that could not be started at all (out of memory, of
        file descriptors) is kept: trying at once would fail the same way.
        """
        with self._lock:
            if not self._given_up or self._cooldown_cause != "crashes" or self._stop.is_set():
                return False
            now = self._clock()
            if now < self._retry_at:
                self._asked_early = why
                self._retry_at = now
            return True

    @property
    def started(self) -> bool:
        return self._thread is not None

    def stop(self, grace_s: float = 3.0) -> None:
        """Ask the worker to finish its current job and exit; a job still running after ``grace_s`` seconds
        is cut short (the process is terminated, then killed). Returns once the process has ended."""
        thread = self._thread
        if thread is None:
            return
        atexit.unregister(self.stop)
        self._grace_s = float(grace_s)
        self._stop.set()
        thread.join(self._grace_s + 10.0)  # the supervisor stops the process (see _shutdown)
        process = self._process
        if thread.is_alive() and process is not None and process.is_alive():
            # the supervisor is stuck (in a result's handler?): the process must not outlive the daemon
            logger.error("the generation supervisor did not stop; killing generator process %s", process.pid)
            process.kill()
            process.join(2.0)

    def _shutdown(self) -> None:
        """The end of the supervisor thread: the worker asked to exit after its job, terminated after the
        grace, killed if that fails; what it sent meanwhile is handled."""
        process = self._process
        if process is not None and process.is_alive():
            try:
                self._jobs.put(None)
            except (OSError, ValueError):
                pass
            process.join(self._grace_s)
            if process.is_alive():
                logger.warning(
                    "generator process %s is still busy after %.1f s; stopping it", process.pid, self._grace_s
                )
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                logger.warning("generator process %s did not stop; killing it", process.pid)
                process.kill()
                process.join(2.0)
        self._drain()  # results the worker sent while finishing
        with self._lock:
            feeder = self._close_channels()
        if feeder is not None:
            # The queue's feeder (a daemon thread) holds the queue's semaphores: it ends here, before the
            # daemon exits, so they are unlinked and unregistered before the interpreter stops its threads.
            # Stopped halfway (unlinked, not unregistered), it made multiprocessing's resource tracker print
            # "leaked semaphore" warnings into the daemon's JSON log. A feeder blocked on a full pipe (a
            # worker that died with jobs queued) is not waited for beyond the bound.
            feeder.join(_FEEDER_JOIN_S)

    def _close_channels(self) -> threading.Thread | None:
        """Close the current job queue and event pipe; never waits on a queue the worker will not read.
        Returns the queue's feeder thread, still running, for :meth:`_shutdown` to let end."""
        feeder = None
        if self._jobs is not None:
            self._jobs.cancel_join_thread()  # else exit would wait to flush jobs into a dead process
            self._jobs.close()
            feeder = getattr(self._jobs, "_thread", None)
        if self._events is not None:
            self._events.close()
        self._jobs = self._events = None
        return feeder if feeder is not None and feeder.is_alive() else None

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every submitted job has a result (tests, ``simulate``); True if they all did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.05)
        return False

    def status(self) -> WorkerStatus:
        with self._lock:
            current = next((p.job.what for p in self._pending.values() if p.started_at is not None), None)
            process = self._process
            waited = self._waited_s(self._clock())
            return WorkerStatus(
                alive=bool(process is not None and process.is_alive()),
                pid=process.pid if process is not None else None,
                restarts=self._restart_count,
                queued=len(self._pending),
                current=current,
                done=self._done,
                failed=self._failed,
                last_error=self._last_error,
                recent=list(self._recent),
                given_up_until=self._retry_time() if self._given_up else None,
                cannot_load=dict(self._cannot_load),
                oldest_queued_s=round(waited, 1),
                stalled=self._stalled(waited),
            )

    def _waited_s(self, now: float) -> float:
        """Seconds the next job has waited for the current process to take it (lock held; see
        :attr:`WorkerStatus.oldest_queued_s`)."""
        if self._process is None or self._given_up or self._running in self._pending:
            return 0.0
        waiting = [p.queued_at for p in self._pending.values() if p.started_at is None]
        return max(0.0, now - max(min(waiting), self._ready_since)) if waiting else 0.0

    def _stalled(self, waited: float) -> str | None:
        """The status's sentence for a job that has waited ``waited`` seconds (None: not long yet)."""
        if waited < min(30.0, self.start_timeout_s / 2):
            return None
        return (
            f"the generator process has taken no job for {waited:.0f} s ({len(self._pending)} waiting); "
            f"it is restarted at {self.start_timeout_s:.0f} s"
        )

    def _retry_time(self) -> str:
        """When a given-up supervisor tries again, as wall-clock time (ISO 8601 with the UTC offset)."""
        at = self._wall_clock() + max(0.0, self._retry_at - self._clock())
        return datetime.datetime.fromtimestamp(round(at)).astimezone().isoformat()

    # ------------------------------------------------------------------ supervision
    def _spawn(self) -> None:
        self._jobs = self._ctx.Queue()
        self._events, events_writer = self._ctx.Pipe(duplex=False)
        self._running = None
        args = (
            self._jobs,
            events_writer,
            self.cache_dir,
            self.cache_format,
            self.backends,
            logs.shown_level(),  # what this log shows (its root logger passes more: the panel's log card)
            logs.shown_format(),  # one stream, one format: JSON lines stay JSON lines
            os.getpid(),
        )
        self._process = self._ctx.Process(
            target=_worker_main, args=args, name="art2mus-generator", daemon=True
        )
        self._process.start()
        self._up_since = self._ready_since = self._clock()
        # only the worker holds the writing end now: its death reads as the end of the pipe
        events_writer.close()
        logger.info("generator process started (pid %d)", self._process.pid)

    def _supervise(self, spawned: threading.Event) -> None:
        """The supervisor thread: it starts every worker process (the one thread whose end the worker dies
        with, see the module docstring), watches it, and stops it."""
        try:
            self._spawn()
        except BaseException as exc:  # noqa: BLE001 - handed to start(), on the caller's thread
            self._spawn_error = exc
            spawned.set()
            return
        spawned.set()
        try:
            while not self._stop.wait(self.poll_s):
                try:
                    self._drain()
                    self._watch()
                except Exception:  # noqa: BLE001 - the top of a background loop: log and keep supervising
                    logger.exception("generation supervisor failed; carrying on")
        finally:
            self._shutdown()

    def _drain(self) -> None:
        """Handle every message the current worker has sent (all of them, once it is dead)."""
        events = self._events
        while events is not None:
            try:
                if not events.poll():
                    return
                kind, payload = events.recv()
            except (EOFError, OSError):  # the worker is gone (maybe mid-message): nothing more will come
                return
            with self._lock:
                if kind == "started":
                    self._running = payload
                    pending = self._pending.get(payload)
                    if pending is not None:
                        pending.started_at = self._clock()
                    continue
                result = payload
                if self._running == result.job_id:
                    self._running = None
                    self._ready_since = self._clock()
                if result.job_id in self._pending:
                    self._finish(result)

    def _finish(self, result: GenerationResult) -> None:
        """Record ``result`` (lock held) and hand it on."""
        self._pending.pop(result.job_id, None)
        if result.ok:
            self._done += 1
            self._cannot_load.pop(result.generator, None)
        else:
            self._failed += 1
            self._last_error = f"{result.what}: {result.error}"
            if result.cannot_load:  # the generator process said why, once for the batch
                self._cannot_load[result.generator] = result.error or "unknown"
                logger.debug("%s: %s cannot load: %s", result.what, result.generator, result.error)
            else:
                logger.warning(
                    "live generation of %s with %s failed: %s", result.what, result.generator, result.error
                )
        self._recent.append(
            {
                "what": result.what,
                "generator": result.generator,
                "ok": result.ok,
                "seconds": round(result.seconds, 1),
                "error": result.error,
            }
        )
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop supervision
                logger.exception("handling the result for %s failed", result.what)

    def _watch(self) -> None:
        with self._lock:
            if self._given_up:
                self._try_again()
                return
            process = self._process
            running = self._pending.get(self._running) if self._running is not None else None
            now = self._clock()
            timed_out = (
                running is not None
                and running.started_at is not None
                and now - running.started_at > self.job_timeout_s
            )
            if process is None:
                return
            alive = process.is_alive()
            stalled = alive and not timed_out and self._waited_s(now) > self.start_timeout_s
            if alive and not timed_out and not stalled:
                if self._give_ups and now - self._up_since >= self.restart_window_s:
                    self._give_ups = 0  # it stays up: the next cool-down starts short again
                    self._on_probation = False
                    logger.info(
                        "generator process has stayed up %.0f s; the next cool-down is %.0f s again",
                        now - self._up_since,
                        self._cooldown_s(1),
                    )
                return
            if self._stop.is_set():  # stopping: _shutdown takes it from here, nothing is restarted
                return
        if timed_out:
            logger.error(
                "generating %s took over %.0f s; killing the generator process",
                running.job.what,
                self.job_timeout_s,
            )
            process.kill()
            process.join(2.0)
            reason = f"took over {self.job_timeout_s:.0f} s"
        elif stalled:
            logger.error(
                "generator process %s has taken no job for %.0f s (%d waiting): frozen? killing it",
                process.pid,
                self.start_timeout_s,
                len(self._pending),
            )
            process.kill()  # SIGKILL: a stopped process never sees SIGTERM
            process.join(2.0)
            reason = f"the generator process took no job for {self.start_timeout_s:.0f} s"
            with self._lock:
                self._last_error = f"{reason}; killed and restarted"
        else:
            process.join(2.0)
            reason = f"the generator process died (exit code {process.exitcode})"
        # what the dead worker said before dying comes first: a job it finished is not blamed
        self._drain()
        with self._lock:
            running = self._pending.get(self._running) if self._running is not None else None
            logger.error(
                "%s%s", reason, f" while generating {running.job.what}" if running else " between jobs"
            )
            if running is not None:
                running.started_at = None
                running.attempts += 1
                if running.attempts >= 2:
                    self._finish(
                        GenerationResult(
                            running.job.job_id,
                            running.job.what,
                            running.job.generator,
                            running.job.cache_key,
                            False,
                            error=f"{reason}, twice",
                        )
                    )
            self._close_channels()
            now = self._clock()
            while self._restarts and now - self._restarts[0] > self.restart_window_s:
                self._restarts.popleft()
            if len(self._restarts) >= self.max_restarts or (
                self._on_probation and now - self._up_since < self.restart_window_s
            ):
                self._give_up(now)
                return
            self._restarts.append(now)
            self._restart_count += 1
            self._spawn()
            for pending in self._pending.values():
                self._jobs.put(pending.job)

    def _cooldown_s(self, give_ups: int) -> float:
        """Seconds the supervisor stays given up after ``give_ups`` give-ups in a row."""
        return min(self.restart_window_s * 2.0 ** min(give_ups - 1, 32), self.max_cooldown_s)

    def _give_up(self, now: float) -> None:
        """Past the restart budget (lock held): no process for a cool-down; the jobs waiting fail."""
        self._given_up = True
        self._process = None
        self._give_ups += 1
        self._cooldown_cause = "crashes"
        cooldown = self._cooldown_s(self._give_ups)
        self._retry_at = now + cooldown
        if self._on_probation:
            died = f"died {now - self._up_since:.0f} s after it was started early"
        else:
            died = f"restarted {len(self._restarts)} times in {self.restart_window_s:.0f} s"
        self._on_probation = False
        logger.warning(
            "generator process %s; giving up until %s (%.0f s), the procedural bridges play meanwhile",
            died,
            self._retry_time(),
            cooldown,
        )
        self._fail_pending("restart budget used up")

    def _fail_pending(self, error: str) -> None:
        """Fail every job still waiting (lock held), with ``error``."""
        for pending in list(self._pending.values()):
            self._finish(
                GenerationResult(
                    pending.job.job_id,
                    pending.job.what,
                    pending.job.generator,
                    pending.job.cache_key,
                    False,
                    error=error,
                )
            )

    def _try_again(self) -> None:
        """Given up (lock held): once the cool-down has passed, start a process with a fresh budget."""
        now = self._clock()
        if now < self._retry_at or self._stop.is_set():
            return
        early, self._asked_early = self._asked_early, None
        if early is not None:
            logger.warning(
                "trying the generator process again now, as %s asked, before its cool-down ends", early
            )
        else:
            logger.warning(
                "trying the generator process again after a %.0f s cool-down",
                self._cooldown_s(self._give_ups),
            )
        try:
            self._spawn()
        except Exception:  # noqa: BLE001 - no process (out of memory, of fds): a longer cool-down
            self._close_channels()
            self._give_ups += 1
            self._cooldown_cause = "a failed start"
            self._retry_at = now + self._cooldown_s(self._give_ups)
            logger.exception("starting the generator process failed; trying again at %s", self._retry_time())
            self._fail_pending(
                "the generator process cannot be started"
            )  # submitted since the cool-down ended
            return
        self._given_up = False
        self._on_probation = early is not None
        self._restarts.clear()
        for pending in self._pending.values():  # submitted since the cool-down ended (a reload's jobs)
            self._jobs.put(pending.job)
