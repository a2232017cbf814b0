"""Cross-checks on a validated exhibit: rules between sections that no single field can state.

Each check reads the model (like Frigate's ``post_validation``) and yields ``(field path, message)``;
the loader places each at its line. A config built in code can be checked the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic import BaseModel

from art2mus.installation.config.base import did_you_mean
from art2mus.installation.config.exhibit import (
    WEEKDAYS,
    ArtworkConfig,
    ExhibitConfig,
    IdleConfig,
    OpeningPeriodConfig,
    SoundscapeConfig,
)
from art2mus.installation.config.problems import Loc
from art2mus.installation.config.unseen import UnseenConfig
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig

Finding = tuple[Loc, str]

#: idle sources whose ambience a generator makes
_GENERATED_IDLE = ("collection", "image")


@dataclass
class _Facts:
    """What the cross-checks read, taken from a valid model or from the document as written."""

    artwork_count: int | None = None  # None: `artworks` is not a list
    ids: list[tuple[int, str]] = field(default_factory=list)  # (index in artworks, id)
    generators: list[str] | None = None  # the keys of `generators`; None: the section cannot be read
    references: list[tuple[Loc, str]] = field(default_factory=list)  # (where, a generator's key) but fallbacks
    fallbacks: list[tuple[str, str]] = field(default_factory=list)  # (an art2mus generator's key, its fallback)
    periods: list[tuple[int, OpeningPeriodConfig]] = field(default_factory=list)  # (index, a valid period)


def cross_check(config: ExhibitConfig) -> list[Finding]:
    """Every cross-section problem of ``config``, as ``(loc, message)``."""
    return _check(_model_facts(config))


def cross_check_written(data: dict[str, Any], bad: Collection[Loc]) -> list[Finding]:
    """The same checks on a document the schema rejected (``data`` as written, defaults not filled in), so
    that a curator gets an unknown generator or a duplicate id in the same pass as a bad duration.

    A value with a problem of its own (its loc in ``bad``, pydantic's without union tags) takes no part,
    nor does a default where the mapping holds an unknown (perhaps misspelt) key, nor a period that is
    not valid on its own."""
    return _check(_written_facts(data, frozenset(map(tuple, bad))))


def _check(facts: _Facts) -> list[Finding]:
    return [
        *_has_artworks(facts),
        *_unique_ids(facts),
        *_known_generators(facts),
        *_periods_do_not_overlap(facts),
    ]


def _model_facts(config: ExhibitConfig) -> _Facts:
    facts = _Facts(
        artwork_count=len(config.artworks),
        ids=[(i, artwork.id) for i, artwork in enumerate(config.artworks)],
        generators=list(config.generators),
        periods=list(enumerate(config.schedule.periods)),
    )
    for i, artwork in enumerate(config.artworks):
        if artwork.audio is None:
            facts.references.append((("artworks", i, "soundscape", "generator"), artwork.soundscape.generator))
    # a generator written under a feature that is off is still checked (it would fail the day it is turned on);
    # the default one is not, as an exhibit without a `procedural` generator need not mention the feature
    if config.idle.source in _GENERATED_IDLE or "generator" in config.idle.model_fields_set:
        facts.references.append((("idle", "generator"), config.idle.generator))
    if config.unseen.enabled or "generator" in config.unseen.model_fields_set:
        facts.references.append((("unseen", "generator"), config.unseen.generator))
    for name, generator in config.generators.items():
        if isinstance(generator, Art2MusGeneratorConfig):
            facts.fallbacks.append((name, generator.fallback))
    return facts


def _written_facts(data: dict[str, Any], bad: frozenset[Loc]) -> _Facts:
    def text(mapping: object, loc: Loc, model: type[BaseModel]) -> str | None:
        """The text at ``loc`` as written, the model's default where the key is absent; None when it
        cannot be told (not text, a problem of its own, or a default beside an unknown key)."""
        if not isinstance(mapping, dict) or loc in bad:
            return None
        if loc[-1] in mapping:
            value = mapping[loc[-1]]
            return value if isinstance(value, str) else None
        unknown_beside = any(
            len(b) == len(loc) and b[:-1] == loc[:-1] and b[-1] not in model.model_fields for b in bad
        )
        default = model.model_fields[loc[-1]].get_default(call_default_factory=True)
        return None if unknown_beside or not isinstance(default, str) else default

    facts = _Facts()
    artworks = data.get("artworks", [])
    if isinstance(artworks, list):
        facts.artwork_count = len(artworks)
        for i, artwork in enumerate(artworks):
            artwork_id = text(artwork, ("artworks", i, "id"), ArtworkConfig)
            if artwork_id is not None:
                facts.ids.append((i, artwork_id))
            if isinstance(artwork, dict) and artwork.get("audio") is None:
                loc = ("artworks", i, "soundscape")
                generator = text(artwork.get("soundscape", {}), (*loc, "generator"), SoundscapeConfig)
                if generator is not None and loc not in bad:
                    facts.references.append(((*loc, "generator"), generator))
    idle, unseen = data.get("idle", {}), data.get("unseen", {})
    for section, loc, on, model in (
        (idle, ("idle", "generator"), text(idle, ("idle", "source"), IdleConfig) in _GENERATED_IDLE, IdleConfig),
        (unseen, ("unseen", "generator"), isinstance(unseen, dict) and unseen.get("enabled") is True, UnseenConfig),
    ):
        generator = text(section, loc, model)
        if generator is not None and (on or "generator" in section):
            facts.references.append((loc, generator))
    generators = data.get("generators", ExhibitConfig.model_fields["generators"].get_default(call_default_factory=True))
    if isinstance(generators, dict) and ("generators",) not in bad:
        facts.generators = [name for name in generators if isinstance(name, str)]
        for name, generator in generators.items():
            if isinstance(generator, dict) and generator.get("type") == "art2mus":
                fallback = text(generator, ("generators", name, "fallback"), Art2MusGeneratorConfig)
                if fallback is not None:
                    facts.fallbacks.append((name, fallback))
    schedule = data.get("schedule", {})
    periods = schedule.get("periods", []) if isinstance(schedule, dict) else []
    for j, period in enumerate(periods if isinstance(periods, list) else []):
        try:
            facts.periods.append((j, OpeningPeriodConfig.model_validate(period)))
        except pydantic.ValidationError:
            continue  # reported by the schema; which days and hours it meant cannot be told
    return facts


def _has_artworks(facts: _Facts) -> Iterator[Finding]:
    if facts.artwork_count == 0:
        yield ("artworks",), "the exhibit has no artworks: list at least one under `artworks:` (id and images)"


def _unique_ids(facts: _Facts) -> Iterator[Finding]:
    first_seen: dict[str, int] = {}
    for i, artwork_id in facts.ids:
        if artwork_id in first_seen:
            yield ("artworks", i, "id"), f"duplicate artwork id {artwork_id!r} (first used by artworks[{first_seen[artwork_id]}])"
        else:
            first_seen[artwork_id] = i


def _known_generators(facts: _Facts) -> Iterator[Finding]:
    if facts.generators is None:
        return
    names = sorted(facts.generators)
    known = ", ".join(names) or "none"
    for loc, name in facts.references:
        if name not in names:
            yield loc, f"unknown generator {name!r}{did_you_mean(name, names)}; expected a key of `generators`: {known}"
    for owner, fallback in facts.fallbacks:
        if fallback == owner or fallback not in names:
            others = [n for n in names if n != owner]
            yield (
                ("generators", owner, "fallback"),
                f"must name another generator (one of: {', '.join(others) or 'none'}), got {fallback!r}"
                f"{did_you_mean(fallback, others)}",
            )


def _periods_do_not_overlap(facts: _Facts) -> Iterator[Finding]:
    """Two periods open at the same moment of the week. A period over midnight (a close at or before its
    open) runs into the next day, and Sunday's into Monday's: ``fri 20:00-02:00`` overlaps ``sat
    00:00-03:00`` and ``fri 21:00-22:00``; periods that only meet (``fri 20:00-24:00``, ``sat 00:00-02:00``)
    do not overlap."""
    for n, (i, a) in enumerate(facts.periods):
        for j, b in facts.periods[:n]:
            # a.days may name a day twice (`[thu-sat, thu]`): each once, Monday first
            days = [
                day
                for day in WEEKDAYS
                if day in a.days and any(_meet(span, other) for span in _week_spans(a, [day]) for other in _week_spans(b))
            ]
            if days:
                yield (
                    ("schedule", "periods", i),
                    f"overlaps schedule.periods[{j}] on {', '.join(days)}: which volume applies would be ambiguous",
                )


_WEEK_S = 7 * 86400


def _week_spans(period, days=None) -> list[tuple[int, int]]:
    """The period's ``[open, close)`` on each of ``days`` (default its own), in seconds from Monday 00:00."""

    def seconds(t) -> int:
        return t.hour * 3600 + t.minute * 60 + t.second

    start, end = seconds(period.open), seconds(period.close)
    length = end - start if end > start else end - start + 86400  # over midnight (or 00:00-24:00)
    return [(WEEKDAYS.index(day) * 86400 + start, WEEKDAYS.index(day) * 86400 + start + length) for day in days or period.days]


def _meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two spans of the week share a moment, Sunday night running into Monday."""
    return any(a[0] < b[1] + shift and b[0] + shift < a[1] for shift in (-_WEEK_S, 0, _WEEK_S))
