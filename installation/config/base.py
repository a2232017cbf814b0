"""Building blocks of every config section: they live in :mod:`art2mus.common.schema` so that a
backend module can declare its ``*Config`` without importing this package (see ``plugins``)."""

import difflib
from collections.abc import Iterable

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
    "did_you_mean",
    "seconds",
    "unit",
]


def did_you_mean(written: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'title'?)`` when one of ``choices`` is close to what was written (a field name, a
    generator's key, an artwork's id), else ``""``: the one wording of a suggestion in a problem."""
    close = difflib.get_close_matches(str(written), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
