"""``art2mus prerender EXHIBIT``: render every soundscape into the cache before opening day."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from art2mus.installation.cli.run import load_or_exit


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
def command(exhibit: Path, artworks: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Render each artwork's soundscape (and the idle ambience) of EXHIBIT with its own generator into the
    exhibit's soundscape cache, so `art2mus run` starts with every soundscape in place and no bridge.

    What the cache already holds is skipped (unless --force); the Art2Mus model renders here, in this
    process, with a progress bar. Exits 1 if any soundscape failed (the others are kept).
    """
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.soundscapes import SoundscapeSource

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

    try:
        results = SoundscapeSource(config, cache=cache).prerender(
            only=set(artworks) or None, force=force, progress=progress
        )
    except ValueError as exc:
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
    summary = {"cache": str(cache.directory), **counts}
    click.echo(
        json.dumps({"summary": summary})
        if as_json
        else f"{counts['rendered']} rendered, {counts['cached']} already cached, {counts['failed']} failed "
        f"-> {cache.directory}"
    )
    if counts["failed"]:
        raise SystemExit(1)
