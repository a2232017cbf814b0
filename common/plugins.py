"""One plugin pattern for every ``type:`` family (audio outputs, cameras, generators, encoders).

A backend is one module: it declares its pydantic ``*Config`` (a :class:`~art2mus.common.schema.StrictModel`
with a ``type`` literal, importable without torch) and a class that names it in ``config_class`` and is
built by ``from_config(config)``. A :class:`Registry` lists a family's backend classes once and builds from
that list both the config union the exhibit validates against (:meth:`Registry.config_union`) and the lookup
that builds a backend from its config (:meth:`Registry.create`). The lookup table is a plain dict a test can
replace. A family whose backends import torch at module level (the image encoders) lists
:class:`LazyBackend` entries instead: the light config plus ``"module:Class"``, imported when built.
(Model: Frigate's ``detectors/detector_types.py``.)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import Field


def import_target(target: str) -> Any:
    """The object a ``"module:attribute"`` string names, importing the module."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class LazyBackend:
    """A registry entry for a backend whose module imports heavy libraries (torch, onnxruntime).

    The entry carries the backend's light ``config_class`` (so the registry's union and ``type:`` names
    need no import) and the backend class as ``"module:Class"``, imported only when one is built.
    """

    target: str
    config_class: type

    def load_class(self) -> type:
        return import_target(self.target)

    def from_config(self, config: Any, **context: Any) -> Any:
        return self.load_class().from_config(config, **context)


def backend_type(backend: Any) -> str:
    """The ``type:`` value of a backend class: its config's ``type`` literal default."""
    return backend.config_class.model_fields["type"].default


class Registry:
    """The backends of one ``type:`` family.

    Args:
        family: what the family is called in messages (``audio output``).
        backends: the backend classes, each with ``config_class`` and ``from_config``.
    """

    def __init__(self, family: str, backends: Iterable[type]):
        self.family = family
        #: ``type:`` -> backend class
        self.types: dict[str, type] = {backend_type(b): b for b in backends}

    def config_union(self) -> Any:
        """The discriminated union of the backends' configs (what the exhibit's section validates against)."""
        configs = tuple(b.config_class for b in self.types.values())
        return Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007 - built at run time

    def lookup(self, type_name: str, types: Mapping[str, type] | None = None) -> type:
        """The backend class for ``type_name``; ValueError listing the known types otherwise."""
        table = self.types if types is None else types
        try:
            return table[type_name]
        except KeyError:
            raise ValueError(
                f"unknown {self.family} type {type_name!r}; expected one of {', '.join(sorted(table))}"
            ) from None

    def create(self, config: Any, types: Mapping[str, type] | None = None, **context: Any) -> Any:
        """The backend that ``config`` describes (chosen by its ``type``), built ``from_config(config,
        **context)`` (``context``: what the caller injects, e.g. a camera's clock)."""
        return self.lookup(config.type, types).from_config(config, **context)
