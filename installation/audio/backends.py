"""The audio outputs, listed once: the exhibit's ``audio.output`` union and the lookup that builds one.

A new output is one module declaring its ``*Config`` and a class with ``config_class`` and
``from_config`` (see :mod:`art2mus.common.plugins`), plus one line in :data:`OUTPUTS`. Nothing here
opens a device: PyAudio is imported when a ``pyaudio`` output opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from art2mus.common.plugins import Registry
from art2mus.installation.audio.outputs import AudioOutput, NullOutput, WavOutput
from art2mus.installation.audio.portaudio import PyAudioOutput

OUTPUTS = Registry("audio output", [PyAudioOutput, WavOutput, NullOutput])
#: ``type:`` -> output class: the table :func:`create_output` looks in (a test may pass another)
OUTPUT_TYPES: dict[str, type[AudioOutput]] = OUTPUTS.types
#: the ``audio.output`` section: one of the outputs' configs, chosen by ``type``
AudioOutputConfig = OUTPUTS.config_union()


def output_class(type_name: str, types: Mapping[str, type[AudioOutput]] | None = None) -> type[AudioOutput]:
    """The output class registered for ``type_name``; ``ValueError`` listing the known types otherwise."""
    return OUTPUTS.lookup(type_name, types)


def create_output(config: Any, types: Mapping[str, type[AudioOutput]] | None = None) -> AudioOutput:
    """Build the output described by an ``audio.output`` config section (chosen by its ``type``)."""
    return OUTPUTS.create(config, types)
