"""``art2mus prerender EXHIBIT``: render every soundscape into the cache before opening day."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from art2mus.installation.cli.shared import load_or_exit


class _Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during the prerender (a ``KeyboardInterrupt``, so every ``finally`` runs: Ray
    is shut down, the progress bar closed)."""

    def __init__(self, signum: int):
        super().__init__()
        self.signum = signum


@contextlib.contextmanager
def _signals_stop() -> Iterator[list[int]]:
    """Within the block SIGINT and SIGTERM raise :class:`_Stopped`; the list yielded holds the signal once
    one came. One that comes while soundfile is on the stack (writing a cache entry: libsndfile calls back
    into Python through cffi, which cannot pass an exception on) is only noted, and the progress callback
    raises it once that soundscape is done: raised there, it printed "Exception ignored from cffi callback
    ... vio_tell" with a traceback. Outside the main thread nothing changes."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def stop(signum: int, frame: Any) -> None:
        caught.append(signum)
        if not _in_soundfile(frame):
            raise _Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _in_soundfile(frame: Any) -> bool:
    """Whether ``frame`` or a caller of it runs soundfile's code (its cffi callbacks included)."""
    while frame is not None:
        if Path(frame.f_code.co_filename).name == "soundfile.py":
            return True
        frame = frame.f_back
    return False


@click.command("prerender")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--artwork",
    "artworks",
    multiple=True,
    metavar="ID",
    help="Only this artwork (repeatable; 'idle' for the idle ambience).",
)
@click.option("--force", is_flag=True, help="Render again even what the cache already holds.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON line per soundscape ({what, generator, status, seconds, error}), then always one "
    '{"summary": {...}} line, after a signal too: cache; the counts rendered, elsewhere, cached, file, '
    "failed, skipped; failures (up to 10 {what, error}, [] when none); stopped (why it stopped early, or "
    "null); interrupted (true after Ctrl-C or SIGTERM); phases (--ray's timings, null without it).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Share the soundscapes out among Ray workers (pip install 'art2mus[cluster]'): on this machine, "
    "or on the running cluster at ADDRESS (every node must mount the same cache folder; a cluster with "
    "token authentication needs RAY_AUTH_MODE=token and its token here, see the README).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="With --ray: how many workers (default: one per GPU for a model, one per CPU for procedural).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads of the math libraries (torch, BLAS): here (default: torch's, one per core; 1 or 2 "
    "on a machine busy with other work), or of each Ray worker with --ray (default 1; a CPU worker "
    "reserves as many of Ray's CPUs).",
)
def command(
    exhibit: Path,
    artworks: tuple[str, ...],
    force: bool,
    as_json: bool,
    ray_address: str | None,
    workers: int | None,
    threads: int | None,
) -> None:
    """Render each artwork's soundscape (and the idle ambience) of EXHIBIT with its own generator into the
    exhibit's soundscape cache, so `art2mus run` starts with every soundscape in place and no bridge.

    What the cache already holds is skipped (unless --force), so an interrupted run resumes where it
    stopped; the Art2Mus model renders here, in this process (or on Ray workers with --ray), with one
    progress bar. A full cache disk stops it at the first soundscape it cannot store.

    One prerender at a time per cache folder (CACHE/prerender.lock): a second one refuses, naming the
    first. Ctrl-C or SIGTERM stops it with a line saying how many soundscapes are in the cache.

    \b
    Exit status:
      0    every soundscape is in the cache
      1    some soundscapes failed (the others are kept), or the exhibit or an --artwork is wrong
      2    a usage error (an unknown option)
      74   the cache cannot store (a full or read-only disk, a quota): stopped, what was stored is kept
      75   another prerender holds the cache folder's lock: nothing done; try again once it is over
      130  stopped by Ctrl-C; 143 stopped by SIGTERM (as for a process the signal ended)
    """
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.prerender_lock import CacheInUse, PrerenderLock

    config = load_or_exit(exhibit, writes=("cache",))  # only the cache: not the index, unseen crops or WAV
    cache = SoundscapeCache.from_config(config.cache)
    counted: dict[str, Any] = {"done": 0, "total": None, "results": []}
    phases: dict[str, Any] = {}
    lock = PrerenderLock(cache.directory, str(exhibit.resolve()))
    try:
        lock.acquire()
    except CacheInUse as exc:  # not a failure of this run: a scheduler may try again later
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_CACHE_IN_USE) from None
    except OSError as exc:  # the cache folder cannot be made: nothing could be stored either
        click.echo(f"Error: {cache.directory}: cannot hold the prerender's lock file ({exc})", err=True)
        raise SystemExit(EXIT_CACHE_CANNOT_STORE) from None
    with lock, _signals_stop() as caught:
        try:
            results, stop = _prerender(
                config,
                cache,
                artworks,
                force,
                as_json,
                ray_address,
                workers,
                threads,
                counted,
                caught,
                phases,
            )
        except KeyboardInterrupt as exc:  # not a bare exit: what is kept, and how to go on
            # Ray's ray.wait turns the handler's _Stopped into a plain KeyboardInterrupt: the signal is kept
            signum = getattr(exc, "signum", None) or (caught[0] if caught else signal.SIGINT)
            stopped = (
                "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
            )
            if counted["total"] is None:
                kept = "before the first soundscape was done"
            else:
                kept = f"{counted['done']} of {counted['total']} soundscapes done, kept in {cache.directory}"
            click.echo(f"{stopped}: {kept}; run the same command again to render the rest", err=True)
            if as_json:  # what was done, for a script that reads stdout as from a finished run
                summary = _summary(counted["results"], phases if ray_address is not None else None, cache)
                summary.update(stopped=stopped, interrupted=True)
                click.echo(json.dumps({"summary": summary}))
            raise click.exceptions.Exit(128 + signum) from None
    _report(results, phases if ray_address is not None else None, cache, as_json, stop)


def _prerender(
    config: Any,
    cache: Any,
    artworks: tuple[str, ...],
    force: bool,
    as_json: bool,
    ray_address: str | None,
    workers: int | None,
    threads: int | None,
    counted: dict[str, Any],
    caught: list[int],
    phases: dict[str, Any],
) -> tuple[list[Any], str | None]:
    """The rendering of :func:`command`: results and why it stopped early (the cache stopped storing: see
    :class:`~art2mus.installation.soundscapes.CacheCannotStore`) or None; ``counted`` follows the progress
    (its ``results`` as they come), ``phases`` gets Ray's timings."""
    from art2mus.installation.soundscapes import CacheCannotStore, SoundscapeSource, limit_cpu_threads

    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=None, desc="pre-rendering", unit="soundscape", file=sys.stderr)
    log = _ProgressLog(as_json, bar)

    def progress(done: int, total: int, name: str) -> None:
        counted.update(done=done, total=total)
        log.progress(done, total, name)
        if caught:  # a signal whose interrupt a C library's callback swallowed: it stops the run here
            raise _Stopped(caught[0])

    def on_result(r: Any) -> None:
        counted["results"].append(r)
        log.result(r)

    stop = None
    try:
        if ray_address is not None:
            from art2mus.installation.prerender_ray import prerender_on_ray

            results = prerender_on_ray(
                config,
                cache,
                address=ray_address or None,
                workers=workers,
                threads=threads or 1,
                only=set(artworks) or None,
                force=force,
                progress=progress,
                on_result=on_result,
                phases=phases,
            )
        else:
            if threads is not None:
                limit_cpu_threads(threads)
            results = SoundscapeSource(config, cache=cache).prerender(
                only=set(artworks) or None, force=force, progress=progress, on_result=on_result
            )
    except CacheCannotStore as exc:  # the disk is full: what was stored is kept, the rest not tried
        results, stop = exc.results, str(exc)
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    return results, stop


class _ProgressLog:
    """What a prerender says as it goes: each soundscape's result line on stdout as soon as it is done
    (flushed: an overnight log keeps it through Ctrl-C, SIGTERM or kill -9; a JSON line with ``--json``),
    and the progress on stderr: tqdm's bar on a terminal, else a line with the time, done/total, what was
    rendered and what was cached, the rendering rate and an ETA (``bar``: the tqdm bar, or None)."""

    def __init__(self, as_json: bool, bar: Any, clock: Any = time.monotonic, now: Any = datetime.now):
        self.as_json, self.bar, self.clock, self.now = as_json, bar, clock, now
        self.started = clock()
        self.counts: dict[str, int] = {}
        self.last: Any = None

    def result(self, r: Any) -> None:
        """Print ``r``'s line (a :class:`~art2mus.installation.soundscapes.PrerenderResult`)."""
        self.counts[r.status] = self.counts.get(r.status, 0) + 1
        self.last = r
        line = _result_line(r, self.as_json)
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
            sys.stdout.flush()
        else:
            click.echo(line)
            sys.stdout.flush()

    def progress(self, done: int, total: int, name: str) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.set_postfix_str(name)
            self.bar.update(1)
            return
        r = self.last if self.last is not None and self.last.what == name else None
        what = name if r is None else f"{name} {_STATUS_WORDS.get(r.status, r.status)}"
        if r is not None and r.status in ("rendered", "failed"):
            what += f" ({r.seconds:.1f} s)"
        counts = ", ".join(
            f"{self.counts[status]} {_STATUS_WORDS.get(status, status)}"
            for status in _ORDER
            if self.counts.get(status)
        )
        # what took time: rendered, failed (rendered and not stored) or waited for; cached ones are instant
        worked = sum(n for status, n in self.counts.items() if status not in ("cached", "file", "skipped"))
        elapsed = self.clock() - self.started
        if worked and elapsed > 0:
            left_s = (total - done) * elapsed / max(worked, 1)
            pace = f"{worked * 60 / elapsed:.1f}/min, ETA {(self.now() + timedelta(seconds=left_s)):%H:%M:%S}"
            pace += f" (in {_duration(left_s)})"
        else:
            pace = "no rendering yet"
        stamp = f"{self.now():%Y-%m-%d %H:%M:%S}"
        click.echo(f"[{done}/{total}] {what} | {stamp} | {counts} | {pace}", err=True)


#: how a line says each status, and the order the counts are given in
_STATUS_WORDS = {
    "elsewhere": "rendered by another process",
    "cached": "already cached",
    "skipped": "not tried",
}


_ORDER = ("rendered", "elsewhere", "cached", "file", "failed", "skipped")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _result_line(r: Any, as_json: bool) -> str:
    """One soundscape's line: JSON with ``as_json``."""
    if as_json:
        return json.dumps(
            {
                "what": r.what,
                "generator": r.generator,
                "status": r.status,
                "seconds": round(r.seconds, 2),
                "error": r.error,
            }
        )
    detail = f" ({r.seconds:.1f} s)" if r.status == "rendered" else f": {r.error}" if r.error else ""
    if r.status == "skipped":  # the reason is said once, below the summary
        detail = ""
    status = _STATUS_WORDS["elsewhere"] if r.status == "elsewhere" else r.status
    return f"{r.what:28s} {r.generator:12s} {status}{detail}"


#: failed soundscapes the summary names, with their reasons (the count says how many more)
FAILURES_LISTED = 10
#: exit status of a prerender the cache stopped: it cannot store what is rendered (EX_IOERR)
EXIT_CACHE_CANNOT_STORE = 74
#: exit status of a prerender refused because another holds the cache folder's lock (EX_TEMPFAIL)
EXIT_CACHE_IN_USE = 75


def _summary(results: list[Any], phases: dict[str, Any] | None, cache: Any) -> dict[str, Any]:
    """The ``--json`` summary of ``results``, with the same keys whatever happened (``--help`` lists them):
    ``phases`` is Ray's (None without ``--ray``), ``stopped`` and ``interrupted`` are set by the caller."""
    counts = {status: sum(r.status == status for r in results) for status in _ORDER}
    failed = [r for r in results if r.status == "failed"]
    return {
        "cache": str(cache.directory),
        **counts,
        # which, and why: the overnight log's last lines, not one line among a hundred
        "failures": [{"what": r.what, "error": r.error} for r in failed[:FAILURES_LISTED]],
        "stopped": None,
        "interrupted": False,
        "phases": phases,
    }


def _report(
    results: list[Any], phases: dict[str, Any] | None, cache: Any, as_json: bool, stop: str | None = None
) -> None:
    """The summary (each soundscape's line was printed as it was done); exit 1 if any failed,
    :data:`EXIT_CACHE_CANNOT_STORE` if the cache stopped storing (``stop`` says why)."""
    summary = _summary(results, phases, cache)
    summary["stopped"] = stop
    counts = {status: summary[status] for status in _ORDER}
    failed = [r for r in results if r.status == "failed"]
    if not as_json:
        for r in failed[:FAILURES_LISTED]:
            click.echo(f"failed: {r.what} ({r.generator}): {r.error}")
    skipped = f", {counts['skipped']} not tried" if counts["skipped"] else ""
    elsewhere = f", {counts['elsewhere']} rendered by another process" if counts["elsewhere"] else ""
    which = ", ".join(r.what for r in failed[:FAILURES_LISTED])
    if len(failed) > FAILURES_LISTED:
        which += f" and {len(failed) - FAILURES_LISTED} more"
    click.echo(
        json.dumps({"summary": summary})
        if as_json
        else f"{counts['rendered']} rendered{elsewhere}, {counts['cached']} already cached, {counts['failed']} failed"
        f"{f' ({which})' if failed else ''}{skipped} -> {cache.directory}"
    )
    if stop is not None:
        if not as_json:
            click.echo(f"stopped: {stop}")
        raise SystemExit(EXIT_CACHE_CANNOT_STORE)
    if counts["failed"]:
        raise SystemExit(1)
