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

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: longest path accepted, and longest name of one folder or file in it (bytes, as Linux counts them).
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are re-validated on assignment,
    and NaN or infinite numbers are refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)


@dataclass(frozen=True)
class FileKind:
    """What a path field must point at.

    Attributes:
        kind: ``image``, ``audio``, ``video``, ``dir`` (an existing directory), ``file`` (an existing
            file), ``secret`` (a file holding a token: UTF-8, not blank) or ``output`` (a file or
            directory the daemon creates; only its parent is checked).
    """

    kind: str


def _usable_path(path: Path) -> Path:
    """Refuse what no file system takes: NUL and control characters, over-long paths and names."""
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("a path cannot hold NUL or other control characters")
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_PATH_BYTES:
        raise ValueError(f"path is {size} bytes long; at most {MAX_PATH_BYTES}")
    longest = max((len(part.encode("utf-8", "surrogateescape")) for part in path.parts), default=0)
    if longest > MAX_NAME_BYTES:
        raise ValueError(f"a folder or file name in this path is {longest} bytes long; at most {MAX_NAME_BYTES}")
    return path


#: a path a file system can take (what it points at is checked by the loader, per FileKind).
UsablePath = Annotated[Path, AfterValidator(_usable_path)]
ImagePath = Annotated[UsablePath, FileKind("image")]
AudioPath = Annotated[UsablePath, FileKind("audio")]
VideoPath = Annotated[UsablePath, FileKind("video")]
DirPath = Annotated[UsablePath, FileKind("dir")]
ExistingFilePath = Annotated[UsablePath, FileKind("file")]
SecretFilePath = Annotated[UsablePath, FileKind("secret")]
OutputPath = Annotated[UsablePath, FileKind("output")]


def unit(name: str) -> dict[str, Any]:
    """``json_schema_extra`` that records a field's unit for error messages and the docs."""
    return {"unit": name}


def seconds(default: float, description: str, **bounds: Any) -> Any:
    """A duration field in seconds."""
    return Field(default, description=description, json_schema_extra=unit("seconds"), **bounds)
