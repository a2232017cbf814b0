"""The curator's exhibit configuration: strict schema, YAML loading with line numbers, includes.

Use :func:`load_exhibit` to read a file; it raises :class:`ExhibitError` listing every problem with
its file, line and column, and nothing else, whatever the file holds (:func:`validate_exhibit`
returns the problems instead).

Where things live: one model per YAML section (``exhibit``, ``audio``, ``vision``, ``generators``
on ``base``); ``loader`` runs the steps: ``source`` (bounded reads, YAML with positions, anchors,
merge keys, includes) -> the schema -> ``checks`` (cross-checks on the model) -> ``files``
(referenced media and secrets), with ``problems`` wording each error.
"""

from art2mus.installation.config.audio import (
    AudioConfig,
    NullOutputConfig,
    PyAudioOutputConfig,
    WavOutputConfig,
)
from art2mus.installation.config.exhibit import (
    ArtworkConfig,
    CacheConfig,
    CollectionConfig,
    ControlPanelConfig,
    ExhibitConfig,
    IdleConfig,
    OpeningPeriodConfig,
    ScheduleConfig,
    SoundscapeConfig,
)
from art2mus.installation.config.loader import ExhibitError, Problem, load_exhibit, validate_exhibit
from art2mus.installation.config.vision import (
    DeviceCameraConfig,
    PathCameraConfig,
    PresenceConfig,
    RecognitionConfig,
    StreamCameraConfig,
    VideoCameraConfig,
)
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig
from art2mus.models.procedural.generator import ProceduralGeneratorConfig

__all__ = [
    "Art2MusGeneratorConfig",
    "ArtworkConfig",
    "AudioConfig",
    "CacheConfig",
    "CollectionConfig",
    "ControlPanelConfig",
    "DeviceCameraConfig",
    "ExhibitConfig",
    "ExhibitError",
    "IdleConfig",
    "NullOutputConfig",
    "OpeningPeriodConfig",
    "PathCameraConfig",
    "PresenceConfig",
    "Problem",
    "ProceduralGeneratorConfig",
    "PyAudioOutputConfig",
    "RecognitionConfig",
    "ScheduleConfig",
    "SoundscapeConfig",
    "StreamCameraConfig",
    "VideoCameraConfig",
    "WavOutputConfig",
    "load_exhibit",
    "validate_exhibit",
]
