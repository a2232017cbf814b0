"""Building blocks shared by every section of the exhibit config and by the backends that declare theirs.

A backend module (an audio output, a camera, a generator) declares its own ``*Config`` from these, so
it lives outside the ``config`` package and importing it never imports the whole exhibit config.

Every section is a :class:`StrictModel`: unknown keys are rejected, every field has a default (or is
marked required in its description), bounds and a description, so ``art2mus validate --schema`` gives
editors completion and the field reference in ``exhibits/README.md`` is generated from the models.

Path fields carry a :class:`FileKind` so the loader knows how to resolve them (relative to the YAML
file they were written in) and how to check them (a readable image, audio file, video, directory...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


@dataclass(frozen=True)
class FileKind:
    """What a path field must point at.

    Attributes:
        kind: ``image``, ``audio``, ``video``, ``dir`` (an existing directory), ``file`` (an existing
            file) or ``output`` (a file or directory the daemon creates; only its parent is checked).
    """

    kind: str


ImagePath = Annotated[Path, FileKind("image")]
AudioPath = Annotated[Path, FileKind("audio")]
VideoPath = Annotated[Path, FileKind("video")]
DirPath = Annotated[Path, FileKind("dir")]
ExistingFilePath = Annotated[Path, FileKind("file")]
OutputPath = Annotated[Path, FileKind("output")]


def unit(name: str) -> dict[str, Any]:
    """``json_schema_extra`` that records a field's unit for error messages and the docs."""
    return {"unit": name}


def seconds(default: float, description: str, **bounds: Any) -> Any:
    """A duration field in seconds."""
    return Field(default, description=description, json_schema_extra=unit("seconds"), **bounds)
