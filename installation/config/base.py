"""Building blocks of every config section: they live in :mod:`art2mus.installation.schema` so that a
backend module can declare its ``*Config`` without importing this package (see ``plugins``)."""

from art2mus.installation.schema import (
    AudioPath,
    DirPath,
    ExistingFilePath,
    FileKind,
    ImagePath,
    OutputPath,
    StrictModel,
    VideoPath,
    seconds,
    unit,
)

__all__ = [
    "AudioPath",
    "DirPath",
    "ExistingFilePath",
    "FileKind",
    "ImagePath",
    "OutputPath",
    "StrictModel",
    "VideoPath",
    "seconds",
    "unit",
]
