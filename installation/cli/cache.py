"""``art2mus cache list|prune EXHIBIT``: what the soundscape cache holds, and removing what no one plays.

Only the least recently used entries above ``cache.max_size_gb`` (20 GB by default) are ever removed by
the daemon, so renderings no soundscape uses any more (a changed seed or photo, an earlier model) stay on
disk. ``list`` says which soundscape uses each entry; ``prune`` removes those none uses.

A cache folder may be shared by several exhibits (``cache.dir`` naming one folder), and an entry does not
say which exhibit it is for. So ``prune`` keeps every entry any exhibit it is given uses, and an entry none
of them uses but read or written in the last ``--unused-days`` days (7 by default: the daemons of the
exhibits not named read theirs at each start, and ``art2mus prerender`` at each run); ``--unused-days 0``
when the folder is these exhibits' alone.

A running daemon may play what its exhibit file no longer says (a seed changed without a reload), so both
also count the keys each running daemon on the folder records (``CACHE/in-use/<pid>.json``, see
:mod:`~art2mus.installation.cache_in_use`) as used: ``prune`` keeps them and says how many.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from art2mus.installation.cli.shared import echo_problem, echo_warning, load_or_exit

#: the default of ``prune --unused-days``
UNUSED_DAYS = 7.0


@click.group("cache")
def command() -> None:
    """The soundscape cache: list its entries and what uses each, prune the ones no soundscape uses."""


def _survey(
    exhibits: tuple[Path, ...], unknown: list[str] | None = None
) -> dict[Path, tuple[Any, dict[str, list[str]]]]:
    """Cache folder -> (its cache, key -> what of the named exhibits uses it), over every exhibit.

    A photo keying a soundscape that cannot be read (renamed, say) makes that soundscape's keys unknown,
    and the idle ambience's made from the collection: a running daemon refuses that reload and plays on
    what their old keys hold. Without ``unknown`` that is an error (exit 1, each problem named); with it,
    the problems (``EXHIBIT: field: photo ...``) are added to it and the keys that can be known are used."""
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.soundscapes import KeysUnknown, SoundscapeSource

    folders: dict[Path, tuple[Any, dict[str, list[str]]]] = {}
    for path in exhibits:
        config = load_or_exit(path, writes=("cache",))
        cache = SoundscapeCache.from_config(config.cache)
        source, present = SoundscapeSource(config), {key for key, _, _ in cache.entries()}
        try:
            try:
                uses = source.keys_in_use(present, strict=True)
            except KeysUnknown as exc:
                if unknown is None:
                    for problem in exc.problems:
                        echo_problem(f"{path}: {problem}")
                    raise click.ClickException(
                        f"{path}: which cache entries it plays is unknown, so nothing is removed (a running "
                        "daemon refuses that exhibit and plays on what they hold): put the photo back or fix "
                        "the field, then prune again"
                    ) from None
                unknown.extend(f"{path}: {problem}" for problem in exc.problems)
                uses = source.keys_in_use(present)
        except ValueError as exc:  # the unseen artworks' store: which entries they use is unknown
            raise click.ClickException(f"{path}: {exc}") from exc
        folder = cache.directory.resolve()
        found = folders.setdefault(folder, (cache, {}))[1]
        label = f" ({path})" if len(exhibits) > 1 else ""
        for key, whats in uses.items():
            found.setdefault(key, []).extend(f"{what}{label}" for what in whats)
    return folders


def _held(folder: Path) -> dict[str, list[str]]:
    """Key -> what of a running daemon on ``folder`` plays it; exit 1 when a daemon's record cannot be read."""
    from art2mus.installation.cache_in_use import held_keys

    try:
        return held_keys(folder)
    except ValueError as exc:
        raise click.ClickException(
            f"{folder}: {exc}; nothing is removed while what it plays is unknown"
        ) from exc


def _merged(uses: dict[str, list[str]], held: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: [*uses.get(key, []), *held.get(key, [])] for key in {*uses, *held}}


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


@command.command("list")
@click.argument("exhibits", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
def list_command(exhibits: tuple[Path, ...], as_json: bool) -> None:
    """List the cache entries of EXHIBIT (several: those sharing its cache folder): key, size, when last
    used, and the artwork, idle ambience, bridge or unseen artwork that plays it; an entry none plays is
    marked UNUSED (`art2mus cache prune` removes those)."""
    from art2mus.installation.cache import entry_uses

    unknown: list[str] = []
    surveyed = _survey(exhibits, unknown)
    for problem in unknown:
        echo_warning(f"{problem}: entries marked UNUSED may be what a running daemon plays")
    for folder, (cache, uses) in surveyed.items():
        entries = entry_uses(cache, _merged(uses, _held(folder)))
        unused = [e for e in entries if not e.used_by]
        for entry in entries:
            if as_json:
                record = {
                    "key": entry.key,
                    "bytes": entry.size_bytes,
                    "last_used": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(entry.last_used)),
                    "made_for": entry.made_for,
                    "used_by": list(entry.used_by),
                    "uses_known": not unknown,  # False: a photo cannot be read (stderr says which)
                    "cache": str(folder),
                }
                click.echo(json.dumps(record))
                continue
            used = (
                ", ".join(entry.used_by)
                or f"UNUSED{'?' if unknown else ''} (made for {entry.made_for or 'unknown'})"
            )
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used))
            click.echo(f"{entry.key}  {_mb(entry.size_bytes):>9s}  {when}  {used}")
        if not as_json:
            click.echo(
                f"{folder}: {len(entries)} entries, {_mb(sum(e.size_bytes for e in entries))}; "
                f"{len(unused)} unused, {_mb(sum(e.size_bytes for e in unused))}"
                + (
                    f"; uses unknown ({len(unknown)} unreadable photos): `cache prune` refuses"
                    if unknown
                    else ""
                )
            )


@command.command("prune")
@click.argument("exhibits", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option(
    "--unused-days",
    type=click.FloatRange(min=0),
    default=UNUSED_DAYS,
    show_default=True,
    help="Keep an entry no named exhibit uses when it was read or written within these days (an exhibit "
    "not named that shares the cache folder may play it); 0 when the folder is these exhibits' alone.",
)
def prune_command(exhibits: tuple[Path, ...], dry_run: bool, unused_days: float) -> None:
    """Remove the cache entries no soundscape of EXHIBIT plays (its artworks, their bridges, the idle
    ambience, the unseen artworks it remembers), and print how much was freed. Name every exhibit that
    shares the cache folder: an entry any of them uses is kept. An entry in use is never removed, so a
    running daemon loses nothing it plays (also what it plays from an earlier version of the file: each
    daemon records its keys in the cache folder). Exit 1, removing nothing, when a photo that keys a
    soundscape cannot be read."""
    from art2mus.installation.cache import entry_uses, prune_unused

    for folder, (cache, uses) in _survey(exhibits).items():
        held = _held(folder)
        unused = {entry.key: entry for entry in entry_uses(cache, uses) if not entry.used_by}
        pruned = prune_unused(cache, _merged(uses, held), unused_days=unused_days, dry_run=dry_run)
        gone = {entry.key for entry in [*pruned.removed, *pruned.recent]}
        for_daemon = [entry for key, entry in unused.items() if key not in gone]
        verb = "would remove" if dry_run else "removed"
        for entry in pruned.removed:
            click.echo(
                f"{verb} {entry.key} ({_mb(entry.size_bytes)}, made for {entry.made_for or 'unknown'})"
            )
        freed = "would be freed" if dry_run else "freed"
        click.echo(
            f"{folder}: {verb} {len(pruned.removed)} unused entries, {_mb(pruned.removed_bytes)} {freed}"
        )
        if pruned.recent:
            click.echo(
                f"kept {len(pruned.recent)} unused entries ({_mb(pruned.recent_bytes)}) used in the last "
                f"{unused_days:g} days: another exhibit sharing this folder may play them (name it too, "
                "or --unused-days 0 when the folder is only these exhibits')"
            )
        if for_daemon:
            pids = sorted(
                {what.rsplit("pid ", 1)[-1].rstrip(")") for whats in held.values() for what in whats}
            )
            click.echo(
                f"kept {len(for_daemon)} entries ({_mb(sum(e.size_bytes for e in for_daemon))}) the exhibits "
                f"no longer name that a running daemon plays (pid {', '.join(pids)}): reload it, then prune again"
            )
