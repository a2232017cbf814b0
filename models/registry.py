"""Generator backends by name: what ``type:`` in the exhibit and ``--generator`` on the CLI choose.

The factory is a dict lookup, so a test can hand in its own table. Each backend records its licence,
because the weights the mission names (AudioLDM2, ImageBind) are licensed for non-commercial use and
the control panel shows it.

Settings understood by the backends (keyword arguments of their constructors):

* ``procedural``: ``sample_rate`` (Hz, default 48000), ``ceiling_dbtp`` (true-peak ceiling, dBTP, <= 0,
  default -1).
* ``art2mus``: ``model_dir`` (local directory, see ``art2mus models list``), ``aligner`` (checkpoint
  folder), ``encoder`` (``imagebind``, ``clip`` or ``onnx``), ``encoder_path``, ``device``
  (``auto``, ``cpu``, ``cuda``, ``cuda:N``), ``dtype`` (``float32``, ``float16``, ``bfloat16``),
  ``steps``, ``guidance_scale``, ``scheduler`` (``ddim`` or ``dpmsolver++``), ``num_waveforms``,
  ``support_prompt``, ``negative_prompt``, ``loop_seam_s`` (crossfade at the loop point, seconds),
  ``segment_s`` (longer soundscapes are stitched from segments of at most this length, default 10.24 s,
  AudioLDM2's training length; 0: one pass) and ``join_s`` (crossfade at each join, default 1 s),
  ``ceiling_dbtp`` (true-peak ceiling), ``max_duration_s``, ``profile`` (conditioning profile,
  ``art2mus-music`` or ``art2mus-v1``; default: the aligner's), and an injectable ``pipeline``. On the CPU
  ``dtype`` falls back to float32; an unset ``aligner`` picks ``aligners/default`` in the model
  directory, or the only aligner trained for the chosen encoder.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from art2mus.models.art2mus_generator import Art2MusGeneratorConfig
from art2mus.models.generator import Generator
from art2mus.models.procedural.generator import ProceduralGeneratorConfig

#: the exhibit's ``generators`` values: one of the backends' configs, chosen by ``type``
GeneratorConfig = Annotated[ProceduralGeneratorConfig | Art2MusGeneratorConfig, Field(discriminator="type")]


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
        module_name, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


GENERATOR_BACKENDS: dict[str, GeneratorBackend] = {
    backend.name: backend
    for backend in (
        GeneratorBackend(
            name="procedural",
            target="art2mus.models.procedural:ProceduralGenerator",
            licence="MIT (no weights)",
            extras=(),
            description="Deterministic sonifier of the image's colour, texture and composition; no GPU, no weights.",
        ),
        GeneratorBackend(
            name="art2mus",
            target="art2mus.models.art2mus_generator:Art2MusGenerator",
            licence=(
                "code MIT; AudioLDM2-music weights CC BY-NC-SA 4.0 (non-commercial); "
                "ImageBind weights CC BY-NC-SA 4.0 (non-commercial); CLIP weights MIT"
            ),
            extras=("model",),
            description="Image encoder -> trained aligner -> GPT-2 language of audio -> AudioLDM2 latent diffusion.",
        ),
    )
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
    table = GENERATOR_BACKENDS if backends is None else backends
    if name not in table:
        return {}
    try:
        generator_class = table[name].load_class()
    except (ImportError, AttributeError):  # built only in the generator process: nothing to add here
        return {}
    identity = getattr(generator_class, "cache_identity", None)
    return dict(identity(dict(settings or {}))) if callable(identity) else {}
