"""Generator backends by name: what ``type:`` in the exhibit and ``--generator`` on the CLI choose.

Each generator module declares its pydantic ``*Config`` (its settings, defaults and bounds, written once,
importable without torch) and a :class:`Generator` subclass naming it in ``config_class``, built
``from_config``, with its licence (the weights the mission names, AudioLDM2 and ImageBind, are licensed
for non-commercial use, and the control panel shows it). :data:`GENERATORS` lists them once (see
:mod:`art2mus.common.plugins`) and gives the ``generators`` union. The generator process builds a backend
from a :class:`GeneratorBackend` row (``"module:Class"``, imported only when used), so the lookup
:data:`GENERATOR_BACKENDS` is derived from the registry and a test can hand in its own table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from art2mus.common.plugins import Registry, import_target
from art2mus.models.art2mus_generator import Art2MusGenerator
from art2mus.models.generator import Generator
from art2mus.models.procedural.generator import ProceduralGenerator


@dataclass(frozen=True)
class GeneratorBackend:
    """One generator implementation.

    Attributes:
        name: the ``type:`` / ``--generator`` value.
        target: ``"module:Class"`` of a :class:`Generator` subclass, imported only when used so that
            the light core never imports torch.
        licence: the licence of the code and of any weights it loads.
        extras: pip extras it needs beyond the core (e.g. ``model``).
        description: one line for ``--help`` and the control panel.
    """

    name: str
    target: str
    licence: str
    extras: tuple[str, ...]
    description: str

    def load_class(self) -> type[Generator]:
        return import_target(self.target)


#: the generators, listed once
GENERATORS = Registry("generator", [ProceduralGenerator, Art2MusGenerator])
#: the exhibit's ``generators`` values: one of the backends' configs, chosen by ``type``
GeneratorConfig = GENERATORS.config_union()

GENERATOR_BACKENDS: dict[str, GeneratorBackend] = {
    name: GeneratorBackend(
        name=name,
        target=f"{backend.__module__}:{backend.__qualname__}",
        licence=backend.licence,
        extras=backend.extras,
        description=backend.description,
    )
    for name, backend in GENERATORS.types.items()
}


def create_generator(
    name: str,
    settings: Mapping[str, Any] | None = None,
    backends: Mapping[str, GeneratorBackend] | None = None,
) -> Generator:
    """Build the generator called ``name`` with ``settings`` as constructor keywords.

    Raises:
        ValueError: ``name`` is not a known backend (the message lists the known ones).
    """
    table = GENERATOR_BACKENDS if backends is None else backends
    if name not in table:
        raise ValueError(f"unknown generator {name!r}; expected one of: {', '.join(sorted(table))}")
    return table[name].load_class()(**dict(settings or {}))


def cache_identity(
    name: str,
    settings: Mapping[str, Any] | None = None,
    backends: Mapping[str, GeneratorBackend] | None = None,
) -> dict[str, Any]:
    """The backend's :meth:`Generator.cache_identity` for ``settings`` (``{}`` for unknown or foreign backends)."""
    generator_class = _generator_class(name, backends)
    identity = getattr(generator_class, "cache_identity", None)
    return dict(identity(dict(settings or {}))) if callable(identity) else {}


def render_version(name: str, backends: Mapping[str, GeneratorBackend] | None = None) -> int:
    """The backend's :attr:`Generator.render_version` (the base class's for unknown or foreign backends)."""
    version = getattr(_generator_class(name, backends), "render_version", Generator.render_version)
    return version if isinstance(version, int) else Generator.render_version


def cache_settings(
    name: str,
    settings: Mapping[str, Any],
    base_dir: Path,
    backends: Mapping[str, GeneratorBackend] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(the settings the cache keys, the forms earlier versions keyed them in)``: the backend's
    :meth:`Generator.cache_settings` and :meth:`Generator.earlier_cache_settings` (``settings`` as they are
    and no earlier form for unknown or foreign backends)."""
    generator_class = _generator_class(name, backends)
    if generator_class is None or not hasattr(generator_class, "cache_settings"):
        return dict(settings), []
    return generator_class.cache_settings(dict(settings)), generator_class.earlier_cache_settings(
        dict(settings), base_dir
    )


def _generator_class(name: str, backends: Mapping[str, GeneratorBackend] | None) -> type[Generator] | None:
    table = GENERATOR_BACKENDS if backends is None else backends
    if name not in table:
        return None
    try:
        return table[name].load_class()
    except (ImportError, AttributeError):  # built only in the generator process: nothing to add here
        return None
