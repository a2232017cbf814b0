"""``art2mus prerender EXHIBIT``: render every soundscape into the cache before opening day."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
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
    one came, so the progress callback raises it again where a C library's callback swallowed it
    (soundfile writing a cache entry). Outside the main thread nothing changes."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def stop(signum: int, _frame: object) -> None:
        caught.append(signum)
        raise _Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


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
@click.option("--json", "as_json", is_flag=True, help="One JSON line per soundscape, then a summary line.")
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
    progress bar. Exits 1 if any soundscape failed (the others are kept).

    One prerender at a time per cache folder (CACHE/prerender.lock): a second one refuses, naming the
    first. Ctrl-C or SIGTERM stops it with a line saying how many soundscapes are in the cache; the exit
    status is 130 (Ctrl-C) or 143 (SIGTERM), as for a process the signal ended.
    """
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.prerender_lock import CacheInUse, PrerenderLock

    config = load_or_exit(exhibit, writes=("cache",))  # only the cache: not the index, unseen crops or WAV
    cache = SoundscapeCache.from_config(config.cache)
    counted = {"done": 0, "total": None}
    lock = PrerenderLock(cache.directory, str(exhibit.resolve()))
    try:
        lock.acquire()
    except CacheInUse as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the cache folder cannot be made: nothing could be stored either
        raise click.ClickException(
            f"{cache.directory}: cannot hold the prerender's lock file ({exc})"
        ) from None
    with lock, _signals_stop() as caught:
        try:
            results, phases, stop = _prerender(
                config, cache, artworks, force, as_json, ray_address, workers, threads, counted, caught
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
            raise click.exceptions.Exit(128 + signum) from None
    _report(results, phases, cache, as_json, stop)


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
) -> tuple[list[Any], dict[str, Any], str | None]:
    """The rendering of :func:`command`: results, Ray's phases and why it stopped early (the cache stopped
    storing: see :class:`~art2mus.installation.soundscapes.CacheCannotStore`) or None; ``counted``
    follows the progress."""
    from art2mus.installation.soundscapes import CacheCannotStore, SoundscapeSource, limit_cpu_threads

    show_bar = not as_json and sys.stderr.isatty()
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=None, desc="pre-rendering", unit="soundscape", file=sys.stderr)

    def progress(done: int, total: int, name: str) -> None:
        counted.update(done=done, total=total)
        if bar is not None:
            bar.total = total
            bar.set_postfix_str(name)
            bar.update(1)
        elif not as_json:
            click.echo(f"[{done}/{total}] {name}", err=True)
        if caught:  # a signal whose interrupt a C library's callback swallowed: it stops the run here
            raise _Stopped(caught[0])

    phases: dict = {}
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
                phases=phases,
            )
        else:
            if threads is not None:
                limit_cpu_threads(threads)
            results = SoundscapeSource(config, cache=cache).prerender(
                only=set(artworks) or None, force=force, progress=progress
            )
    except CacheCannotStore as exc:  # the disk is full: what was stored is kept, the rest not tried
        results, stop = exc.results, str(exc)
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    return results, phases, stop


#: exit status of a prerender the cache stopped: it cannot store what is rendered (EX_IOERR)
EXIT_CACHE_CANNOT_STORE = 74


def _report(
    results: list[Any], phases: dict[str, Any], cache: Any, as_json: bool, stop: str | None = None
) -> None:
    """One line per soundscape and the summary; exit 1 if any failed, :data:`EXIT_CACHE_CANNOT_STORE` if
    the cache stopped storing (``stop`` says why)."""
    for r in results:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "what": r.what,
                        "generator": r.generator,
                        "status": r.status,
                        "seconds": round(r.seconds, 2),
                        "error": r.error,
                    }
                )
            )
        else:
            detail = f" ({r.seconds:.1f} s)" if r.status == "rendered" else f": {r.error}" if r.error else ""
            if r.status == "skipped":  # the reason is said once, below the summary
                detail = ""
            status = "rendered by another process" if r.status == "elsewhere" else r.status
            click.echo(f"{r.what:28s} {r.generator:12s} {status}{detail}")
    counts = {
        status: sum(r.status == status for r in results)
        for status in ("rendered", "elsewhere", "cached", "file", "failed", "skipped")
    }
    summary = {"cache": str(cache.directory), **counts, **({"phases": phases} if phases else {})}
    if stop is not None:
        summary["stopped"] = stop
    skipped = f", {counts['skipped']} not tried" if counts["skipped"] else ""
    elsewhere = f", {counts['elsewhere']} rendered by another process" if counts["elsewhere"] else ""
    click.echo(
        json.dumps({"summary": summary})
        if as_json
        else f"{counts['rendered']} rendered{elsewhere}, {counts['cached']} already cached, {counts['failed']} failed"
        f"{skipped} -> {cache.directory}"
    )
    if stop is not None:
        if not as_json:
            click.echo(f"stopped: {stop}")
        raise SystemExit(EXIT_CACHE_CANNOT_STORE)
    if counts["failed"]:
        raise SystemExit(1)
