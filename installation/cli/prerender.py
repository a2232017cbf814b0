"""``art2mus prerender EXHIBIT``: render every soundscape into the cache before opening day."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from art2mus.installation.cli.shared import load_or_exit


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
    """
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.soundscapes import SoundscapeSource, limit_cpu_threads

    config = load_or_exit(exhibit)
    cache = SoundscapeCache.from_config(config.cache)
    show_bar = not as_json and sys.stderr.isatty()
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=None, desc="pre-rendering", unit="soundscape", file=sys.stderr)

    def progress(done: int, total: int, name: str) -> None:
        if bar is not None:
            bar.total = total
            bar.set_postfix_str(name)
            bar.update(1)
        elif not as_json:
            click.echo(f"[{done}/{total}] {name}", err=True)

    phases: dict = {}
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
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
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
            click.echo(f"{r.what:28s} {r.generator:12s} {r.status}{detail}")
    counts = {
        status: sum(r.status == status for r in results)
        for status in ("rendered", "cached", "file", "failed")
    }
    summary = {"cache": str(cache.directory), **counts, **({"phases": phases} if phases else {})}
    click.echo(
        json.dumps({"summary": summary})
        if as_json
        else f"{counts['rendered']} rendered, {counts['cached']} already cached, {counts['failed']} failed "
        f"-> {cache.directory}"
    )
    if counts["failed"]:
        raise SystemExit(1)
