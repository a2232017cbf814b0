"""Error wording: a :class:`Problem` per thing wrong, and pydantic's errors turned into sentences.

A problem reads ``file:line:col field.path: what was expected, got what``; a curator should be able
to fix the file from that line alone.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from art2mus.installation.config.base import did_you_mean
from art2mus.installation.config.exhibit import ExhibitConfig

Loc = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an exhibit.

    Attributes:
        file: the YAML file (or the referenced file when there is no YAML position).
        line, col: 1-based position in ``file``; None when unknown.
        field: the field path, e.g. ``artworks[2].soundscape.duration`` (empty for syntax errors).
        message: what was expected and what was found.
    """

    file: Path
    line: int | None
    col: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = display_path(self.file)
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


class ExhibitError(Exception):
    """An exhibit could not be loaded; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = sort_problems(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def sort_problems(problems: Sequence[Problem]) -> list[Problem]:
    """File order: by file, line, column, then field."""
    return sorted(problems, key=lambda p: (str(p.file), p.line or 0, p.col or 0, p.field))


def display_path(path: Path) -> str:
    """Relative to the current folder when below it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def members(annotation: Any) -> tuple[Any, ...]:
    return tuple(a for a in get_args(annotation) if a is not type(None))


def strip_annotation(annotation: Any) -> Any:
    """Remove Annotated and Optional wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType) and len(members(annotation)) == 1:
            annotation = members(annotation)[0]
        else:
            return annotation


def data_loc(model: type[BaseModel], loc: Sequence[Any]) -> tuple[Loc, FieldInfo | None]:
    """Drop union tags (``camera.video.path`` -> ``camera.path``) and find the field's info."""
    annotation: Any = model
    info: FieldInfo | None = None
    out: list[Any] = []
    for part in loc:
        annotation = strip_annotation(annotation)
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            tagged = _tagged_member(annotation, part)
            if tagged is not None:
                annotation = tagged
                continue
            annotation = Any
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part) if isinstance(part, str) else None
            annotation = info.annotation if info is not None else Any
        elif origin in (list, tuple, Sequence):
            annotation = get_args(annotation)[0] if get_args(annotation) else Any
            info = None
        elif origin is dict:
            annotation = get_args(annotation)[1]
            info = None
        else:
            annotation = Any
        out.append(part)
    return tuple(out), info


def _tagged_member(union: Any, tag: Any) -> type[BaseModel] | None:
    """The member of a union of sections chosen by ``type:`` whose type is ``tag`` (pydantic puts the tag
    in an error's location: ``camera.video.path``), or None."""
    tagged = [
        m
        for m in map(strip_annotation, members(union))
        if isinstance(m, type) and issubclass(m, BaseModel) and "type" in m.model_fields
        and m.model_fields["type"].default == tag
    ]
    return tagged[0] if tagged else None


def format_loc(loc: Sequence[Any]) -> str:
    """``('artworks', 2, 'soundscape', 'duration')`` -> ``artworks[2].soundscape.duration``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _unit(info: FieldInfo | None) -> str:
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    name = extra.get("unit")
    return f" {name}" if name else ""


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def describe_error(error: dict[str, Any], info: FieldInfo | None, loc: Loc = ()) -> str:
    """A sentence saying what was expected and what was found, for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    unit = _unit(info)
    comparisons = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in comparisons:
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {comparisons[kind]} {bound}{unit}, got {_shown(got)}"
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return f"must be a whole number, got {_shown(got)}"
    if kind == "finite_number":
        return f"must be a finite number, got {_shown(got)}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{unit and ' of' + unit}, got {_shown(got)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {_shown(got)}"
    if kind in ("string_type",):
        return f"must be text, got {_shown(got)}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_field_message(tuple(error.get("loc", loc)))
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {_shown(got)}"
    if kind == "union_tag_invalid":
        return f"type must be one of {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return "needs a `type:` line saying which kind it is"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}{_pattern_hint(info)}, got {_shown(got)}"
    if kind in ("too_short", "too_long"):
        word = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length", ctx.get("max_length"))
        what = "item" if isinstance(got, list | dict) or got is None else "character"
        return f"needs {word} {limit} {what}{'s' if limit != 1 else ''}, got {ctx.get('actual_length')}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (key: value lines), got {_shown(got)}"
    if kind == "list_type":
        return f"must be a list, got {_shown(got)}"
    if kind in ("time_parsing", "time_type"):
        return f"must be a time of day like 9:00 or \"18:30\", got {_shown(got)}"
    if kind in ("date_parsing", "date_type", "date_from_datetime_parsing"):
        return f"must be a date like 2026-12-25, got {_shown(got)}"
    if kind in ("path_type",):
        return f"must be a file path, got {_shown(got)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg']}, got {_shown(got)}"


def _pattern_hint(info: FieldInfo | None) -> str:
    return f" ({info.description.rstrip('.')})" if info is not None and info.description else ""


def _unknown_field_message(loc: Loc) -> str:
    """``loc``: pydantic's, union tags included (they say which section a ``type:`` chose)."""
    name = loc[-1] if loc else "?"
    owner = _model_at(loc[:-1])
    allowed = sorted(owner.model_fields) if owner is not None else []
    message = f"unknown field {name!r}{did_you_mean(name, allowed)}"
    if allowed:
        message += f"; expected one of: {', '.join(allowed)}"
    return message


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class describing the value at a location of pydantic's (union members chosen by its tags)."""
    annotation: Any = ExhibitConfig
    for part in loc:
        annotation = strip_annotation(annotation)
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = _tagged_member(annotation, part)
            if annotation is None:
                return None
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            annotation = info.annotation if info else None
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return None
    annotation = strip_annotation(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
