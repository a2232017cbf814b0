"""Building blocks of every config section: they live in :mod:`art2mus.common.schema` so that a
backend module can declare its ``*Config`` without importing this package (see ``plugins``)."""

from art2mus.common.schema import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    AudioPath,
    DirPath,
    ExistingFilePath,
    FileKind,
    ImagePath,
    OutputPath,
    SecretFilePath,
    StrictModel,
    UsablePath,
    VideoPath,
    seconds,
    unit,
)

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "AudioPath",
    "DirPath",
    "ExistingFilePath",
    "FileKind",
    "ImagePath",
    "OutputPath",
    "SecretFilePath",
    "StrictModel",
    "UsablePath",
    "VideoPath",
    "seconds",
    "unit",
]
