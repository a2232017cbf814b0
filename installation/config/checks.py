"""Cross-checks on a validated exhibit: rules between sections that no single field can state.

Each check reads the model (like Frigate's ``post_validation``) and yields ``(field path, message)``;
the loader places each at its line. A config built in code can be checked the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from art2mus.installation.config.exhibit import ExhibitConfig
from art2mus.installation.config.problems import Loc
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig

Finding = tuple[Loc, str]


def cross_check(config: ExhibitConfig) -> list[Finding]:
    """Every cross-section problem of ``config``, as ``(loc, message)``."""
    return [
        *_has_artworks(config),
        *_unique_ids(config),
        *_known_generators(config),
        *_periods_do_not_overlap(config),
    ]


def _has_artworks(config: ExhibitConfig) -> Iterator[Finding]:
    if not config.artworks:
        yield ("artworks",), "the exhibit has no artworks: list at least one under `artworks:` (id and images)"


def _unique_ids(config: ExhibitConfig) -> Iterator[Finding]:
    first_seen: dict[str, int] = {}
    for i, artwork in enumerate(config.artworks):
        if artwork.id in first_seen:
            yield ("artworks", i, "id"), f"duplicate artwork id {artwork.id!r} (first used by artworks[{first_seen[artwork.id]}])"
        else:
            first_seen[artwork.id] = i


def _known_generators(config: ExhibitConfig) -> Iterator[Finding]:
    names = sorted(config.generators)
    known = ", ".join(names) or "none"
    for i, artwork in enumerate(config.artworks):
        if artwork.audio is None and artwork.soundscape.generator not in config.generators:
            yield (
                ("artworks", i, "soundscape", "generator"),
                f"unknown generator {artwork.soundscape.generator!r}; expected a key of `generators`: {known}",
            )
    if config.idle.source in ("collection", "image") and config.idle.generator not in config.generators:
        yield ("idle", "generator"), f"unknown generator {config.idle.generator!r}; expected a key of `generators`: {known}"
    if config.unseen.enabled and config.unseen.generator not in config.generators:
        yield ("unseen", "generator"), f"unknown generator {config.unseen.generator!r}; expected a key of `generators`: {known}"
    for name, generator in config.generators.items():
        if isinstance(generator, Art2MusGeneratorConfig):
            if generator.fallback == name or generator.fallback not in config.generators:
                others = ", ".join(n for n in names if n != name) or "none"
                yield (
                    ("generators", name, "fallback"),
                    f"must name another generator (one of: {others}), got {generator.fallback!r}",
                )


def _periods_do_not_overlap(config: ExhibitConfig) -> Iterator[Finding]:
    """Two periods open at the same moment of the week. A period over midnight (a close at or before its
    open) runs into the next day, and Sunday's into Monday's: ``fri 20:00-02:00`` overlaps ``sat
    00:00-03:00`` and ``fri 21:00-22:00``; periods that only meet (``fri 20:00-24:00``, ``sat 00:00-02:00``)
    do not overlap."""
    periods = config.schedule.periods
    for i, a in enumerate(periods):
        for j in range(i):
            b = periods[j]
            days = [day for day in a.days if any(_meet(span, other) for span in _week_spans(a, [day]) for other in _week_spans(b))]
            if days:
                yield (
                    ("schedule", "periods", i),
                    f"overlaps schedule.periods[{j}] on {', '.join(days)}: which volume applies would be ambiguous",
                )


_WEEK_S = 7 * 86400


def _week_spans(period, days=None) -> list[tuple[int, int]]:
    """The period's ``[open, close)`` on each of ``days`` (default its own), in seconds from Monday 00:00."""
    from art2mus.installation.config.exhibit import WEEKDAYS

    def seconds(t) -> int:
        return t.hour * 3600 + t.minute * 60 + t.second

    start, end = seconds(period.open), seconds(period.close)
    length = end - start if end > start else end - start + 86400  # over midnight (or 00:00-24:00)
    return [(WEEKDAYS.index(day) * 86400 + start, WEEKDAYS.index(day) * 86400 + start + length) for day in days or period.days]


def _meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two spans of the week share a moment, Sunday night running into Monday."""
    return any(a[0] < b[1] + shift and b[0] + shift < a[1] for shift in (-_WEEK_S, 0, _WEEK_S))
