"""Reading an exhibit: YAML with line numbers, ``include:`` merging, path resolution and checks.

Every problem is reported as ``file:line:col field.path: what was expected, got what``, and all
problems of a file are collected before giving up, so a curator fixes them in one pass. A failed load
raises :class:`ExhibitError` and changes nothing, which lets the daemon keep running on its last
good config.

Merging rules for ``include:`` (a path or a list of paths, relative to the including file): the
included files are merged in order, then the including file on top of them; mappings merge key by
key, lists are appended (so each room file can add its own artworks), and a plain value in the
including file replaces the included one. Relative paths are resolved against the folder of the
file they were written in.
"""

from __future__ import annotations

import logging
import os
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pydantic
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from art2mus.installation.config.base import FileKind
from art2mus.installation.config.exhibit import ExhibitConfig
from art2mus.installation.config.generators import Art2MusGeneratorConfig

log = logging.getLogger(__name__)

Loc = tuple[Any, ...]

#: largest exhibit file read (a curator's YAML is kilobytes; this guards against pointing at a video).
MAX_YAML_BYTES = 8 * 1024 * 1024


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
        where = _display_path(self.file)
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


class ExhibitError(Exception):
    """An exhibit could not be loaded; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = sorted(problems, key=lambda p: (str(p.file), p.line or 0, p.col or 0, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


def load_exhibit(path: str | os.PathLike[str], *, check_files: bool = True) -> ExhibitConfig:
    """Read, merge, validate and check the exhibit at ``path``.

    Args:
        path: the top-level YAML file.
        check_files: also check that referenced images, audio, videos and folders exist and can be
            read (``art2mus validate`` and the daemon do; tools that only need the settings may not).

    Returns:
        The config with every relative path made absolute.

    Raises:
        ExhibitError: with every problem found.
    """
    config, problems = validate_exhibit(path, check_files=check_files)
    if problems or config is None:
        raise ExhibitError(problems)
    return config


def validate_exhibit(
    path: str | os.PathLike[str], *, check_files: bool = True
) -> tuple[ExhibitConfig | None, list[Problem]]:
    """Like :func:`load_exhibit` but returns ``(config or None, problems in file order)``, never raising."""
    config, problems = _validate(path, check_files)
    return config, ExhibitError(problems).problems


def _validate(path: str | os.PathLike[str], check_files: bool) -> tuple[ExhibitConfig | None, list[Problem]]:
    top = Path(os.path.normpath(Path(path).expanduser().absolute()))
    reader = _Reader()
    root = reader.read(top, stack=())
    if reader.problems or root is None:
        return None, reader.problems
    if not isinstance(root.value, dict):
        return None, [Problem(top, root.line, root.col, "", "the exhibit must be a mapping of sections (key: value)")]

    source = SourceMap(root)
    try:
        config = ExhibitConfig.model_validate(root.to_data())
    except pydantic.ValidationError as err:
        problems = [source.problem_for(error) for error in err.errors()]
        if check_files:
            # Report missing or unreadable files in the same pass, for the fields that were valid.
            bad = {p.field for p in problems}
            problems += [p for p in _check_raw_files(root) if p.field not in bad]
        return None, problems

    _resolve_paths(config, source, top.parent)
    config._source_file = top
    config._files = tuple(reader.files)

    problems = _cross_check(config, source)
    if check_files:
        problems += _check_files(config, source)
    return (None if problems else config), problems


# --------------------------------------------------------------------------------------------------
# YAML with positions


@dataclass
class Node:
    """A YAML value with where it was written. ``value`` is a dict of Nodes, a list of Nodes or a scalar."""

    value: Any
    file: Path
    line: int
    col: int
    key_line: int | None = None
    key_col: int | None = None

    def to_data(self) -> Any:
        if isinstance(self.value, dict):
            return {k: v.to_data() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.to_data() for v in self.value]
        return self.value


@dataclass
class _Reader:
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def read(self, path: Path, stack: tuple[Path, ...], include_node: Node | None = None) -> Node | None:
        """Parse ``path`` and everything it includes into one merged Node tree."""
        if path in stack:
            cycle = " -> ".join(_display_path(p) for p in (*stack, path))
            self._problem_at(include_node, path, "include", f"include cycle: {cycle}")
            return None
        try:
            size = path.stat().st_size
            if size > MAX_YAML_BYTES:
                raise ValueError(f"is {size} bytes; an exhibit file is at most {MAX_YAML_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._problem_at(include_node, path, "include", f"file not found: {_display_path(path)}")
            return None
        except (OSError, UnicodeDecodeError, ValueError) as err:
            self._problem_at(include_node, path, "include", f"cannot read {_display_path(path)}: {err}")
            return None
        self.files.append(path)
        try:
            data = YAML(typ="rt").load(text)
        except MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            message = " ".join(str(part) for part in (err.context, err.problem) if part)
            self.problems.append(
                Problem(path, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "", f"YAML syntax: {message}")
            )
            return None
        if data is None:
            data = CommentedMap()
        node = _to_node(data, path, (1, 1))
        if not isinstance(node.value, dict):
            return node
        includes = node.value.get("include")
        if includes is None:
            return node
        merged: Node | None = None
        for entry in self._include_entries(includes, path):
            target = Path(os.path.normpath((path.parent / entry.value).expanduser().absolute()))
            child = self.read(target, (*stack, path), include_node=entry)
            if child is None:
                continue
            if not isinstance(child.value, dict):
                self.problems.append(
                    Problem(child.file, child.line, child.col, "", "an included file must be a mapping of sections")
                )
                continue
            child.value.pop("include", None)
            merged = child if merged is None else _merge(merged, child)
        return node if merged is None else _merge(merged, node)

    def _include_entries(self, includes: Node, path: Path) -> Iterator[Node]:
        entries = includes.value if isinstance(includes.value, list) else [includes]
        for entry in entries:
            if isinstance(entry.value, str) and entry.value.strip():
                yield entry
            else:
                self.problems.append(
                    Problem(path, entry.line, entry.col, "include", f"must be a file path (text), got {entry.to_data()!r}")
                )

    def _problem_at(self, node: Node | None, path: Path, field_name: str, message: str) -> None:
        if node is None:
            self.problems.append(Problem(path, None, None, "", message))
        else:
            self.problems.append(Problem(node.file, node.line, node.col, field_name, message))


def _to_node(data: Any, file: Path, pos: tuple[int, int], key_pos: tuple[int, int] | None = None) -> Node:
    node = Node(None, file, pos[0], pos[1], *(key_pos or (None, None)))
    if isinstance(data, CommentedMap):
        node.value = {
            str(k): _to_node(v, file, _one_based(data.lc.value(k)), _one_based(data.lc.key(k))) for k, v in data.items()
        }
    elif isinstance(data, CommentedSeq):
        node.value = [_to_node(v, file, _one_based(data.lc.item(i))) for i, v in enumerate(data)]
    elif isinstance(data, bool):
        node.value = bool(data)
    elif isinstance(data, int):
        node.value = int(data)
    elif isinstance(data, float):
        node.value = float(data)
    elif isinstance(data, str):
        node.value = str(data)
    else:
        node.value = data  # dates, None
    return node


def _one_based(pos: Any) -> tuple[int, int]:
    line, col = pos
    return line + 1, col + 1


def _merge(base: Node, top: Node) -> Node:
    """``top`` merged over ``base`` (see the module docstring for the rules)."""
    if isinstance(base.value, dict) and isinstance(top.value, dict):
        merged = dict(base.value)
        for key, value in top.value.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return Node(merged, top.file, top.line, top.col, top.key_line, top.key_col)
    if isinstance(base.value, list) and isinstance(top.value, list):
        return Node(base.value + top.value, top.file, top.line, top.col, top.key_line, top.key_col)
    return top


class SourceMap:
    """Where each value of the merged document was written, by field path."""

    def __init__(self, root: Node):
        self.root = root
        self.nodes: dict[Loc, Node] = {}
        self._index(root, ())

    def _index(self, node: Node, loc: Loc) -> None:
        self.nodes[loc] = node
        if isinstance(node.value, dict):
            for key, child in node.value.items():
                self._index(child, (*loc, key))
        elif isinstance(node.value, list):
            for i, child in enumerate(node.value):
                self._index(child, (*loc, i))

    def nearest(self, loc: Loc) -> Node:
        """The node at ``loc``, or at its longest prefix that was written in the YAML."""
        for end in range(len(loc), -1, -1):
            node = self.nodes.get(tuple(loc[:end]))
            if node is not None:
                return node
        return self.root

    def file_for(self, loc: Loc) -> Path:
        return self.nearest(loc).file

    def position(self, loc: Loc, at_key: bool = False) -> tuple[Path, int, int]:
        node = self.nearest(loc)
        if at_key and node.key_line is not None and tuple(loc) in self.nodes:
            return node.file, node.key_line, node.key_col or 1
        return node.file, node.line, node.col

    def problem_for(self, error: Any) -> Problem:
        """Translate one pydantic error into a :class:`Problem` at the right line."""
        data_loc, info = _data_loc(ExhibitConfig, error["loc"])
        kind = error["type"]
        if kind == "missing":
            file, line, col = self.position(data_loc[:-1], at_key=True)
        else:
            file, line, col = self.position(data_loc, at_key=kind == "extra_forbidden")
        return Problem(file, line, col, format_loc(data_loc), describe_error(error, info, data_loc))


# --------------------------------------------------------------------------------------------------
# pydantic errors -> sentences


def _members(annotation: Any) -> tuple[Any, ...]:
    return tuple(a for a in get_args(annotation) if a is not type(None))


def _strip(annotation: Any) -> Any:
    """Remove Annotated and Optional wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType) and len(_members(annotation)) == 1:
            annotation = _members(annotation)[0]
        else:
            return annotation


def _data_loc(model: type[BaseModel], loc: Sequence[Any]) -> tuple[Loc, FieldInfo | None]:
    """Drop union tags (``camera.video.path`` -> ``camera.path``) and find the field's info."""
    annotation: Any = model
    info: FieldInfo | None = None
    out: list[Any] = []
    for part in loc:
        annotation = _strip(annotation)
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            tagged = [
                m
                for m in map(_strip, _members(annotation))
                if isinstance(m, type) and issubclass(m, BaseModel) and "type" in m.model_fields
                and m.model_fields["type"].default == part
            ]
            if tagged:
                annotation = tagged[0]
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
    return repr(value)


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
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {_shown(got)}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{unit and ' of' + unit}, got {_shown(got)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {_shown(got)}"
    if kind in ("string_type",):
        return f"must be text, got {_shown(got)}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_field_message(loc)
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
        return f"must be a time of day like \"10:00\" (quoted), got {_shown(got)}"
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
    import difflib

    name = loc[-1] if loc else "?"
    parent, _ = _data_loc(ExhibitConfig, loc[:-1])
    owner = _model_at(parent)
    allowed = sorted(owner.model_fields) if owner is not None else []
    message = f"unknown field {name!r}"
    close = difflib.get_close_matches(str(name), allowed, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    if allowed:
        message += f"; expected one of: {', '.join(allowed)}"
    return message


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class describing the value at a data path (union members resolved by the YAML)."""
    annotation: Any = ExhibitConfig
    for part in loc:
        annotation = _strip(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            annotation = info.annotation if info else None
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return None
    annotation = _strip(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


# --------------------------------------------------------------------------------------------------
# Walking a validated config: paths, cross-checks, file checks


def _file_kind(info: FieldInfo | None, annotation: Any = None) -> FileKind | None:
    if info is not None:
        for meta in info.metadata:
            if isinstance(meta, FileKind):
                return meta
        annotation = info.annotation
    if annotation is None:
        return None
    if get_origin(annotation) is typing.Annotated:
        for meta in get_args(annotation)[1:]:
            if isinstance(meta, FileKind):
                return meta
    for arg in get_args(annotation):
        kind = _file_kind(None, arg)
        if kind is not None:
            return kind
    return None


def _iter_paths(model: BaseModel, loc: Loc = ()) -> Iterator[tuple[Loc, Any, Any, Path, FileKind | None]]:
    """Yield ``(loc, container, key, path, kind)`` for every Path value in the config."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        kind = _file_kind(info)
        yield from _iter_value_paths(value, (*loc, name), model, name, kind)


def _iter_value_paths(value: Any, loc: Loc, container: Any, key: Any, kind: FileKind | None):
    if isinstance(value, Path):
        yield loc, container, key, value, kind
    elif isinstance(value, BaseModel):
        yield from _iter_paths(value, loc)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _iter_value_paths(item, (*loc, i), value, i, kind)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _iter_value_paths(item, (*loc, k), value, k, kind)


def _resolve_paths(config: ExhibitConfig, source: SourceMap, default_dir: Path) -> None:
    for loc, container, key, path, _kind in list(_iter_paths(config)):
        path = path.expanduser()
        if not path.is_absolute():
            base = source.file_for(loc).parent if tuple(loc) in source.nodes else default_dir
            path = Path(os.path.normpath((base / path).absolute()))
        if isinstance(container, BaseModel):
            container.__dict__[key] = path  # already validated; skip re-validation on assignment
        else:
            container[key] = path


def _cross_check(config: ExhibitConfig, source: SourceMap) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: Loc, message: str) -> None:
        file, line, col = source.position(loc)
        problems.append(Problem(file, line, col, format_loc(loc), message))

    first_seen: dict[str, int] = {}
    for i, artwork in enumerate(config.artworks):
        if artwork.id in first_seen:
            file, line, _ = source.position(("artworks", first_seen[artwork.id], "id"))
            add(("artworks", i, "id"), f"duplicate artwork id {artwork.id!r} (first used at {_display_path(file)}:{line})")
        else:
            first_seen[artwork.id] = i

    names = sorted(config.generators)
    known = ", ".join(names) or "none"
    for i, artwork in enumerate(config.artworks):
        if artwork.audio is None and artwork.soundscape.generator not in config.generators:
            add(
                ("artworks", i, "soundscape", "generator"),
                f"unknown generator {artwork.soundscape.generator!r}; expected a key of `generators`: {known}",
            )
    if config.idle.source in ("collection", "image") and config.idle.generator not in config.generators:
        add(("idle", "generator"), f"unknown generator {config.idle.generator!r}; expected a key of `generators`: {known}")
    for name, generator in config.generators.items():
        if isinstance(generator, Art2MusGeneratorConfig):
            if generator.fallback == name or generator.fallback not in config.generators:
                others = ", ".join(n for n in names if n != name) or "none"
                add(
                    ("generators", name, "fallback"),
                    f"must name another generator (one of: {others}), got {generator.fallback!r}",
                )

    periods = config.schedule.periods
    for i, a in enumerate(periods):
        for j in range(i):
            b = periods[j]
            shared = [d for d in a.days if d in b.days]
            if shared and a.open < b.close and b.open < a.close:
                add(
                    ("schedule", "periods", i),
                    f"overlaps schedule.periods[{j}] on {', '.join(shared)}: which volume applies would be ambiguous",
                )
    return problems


def _check_files(config: ExhibitConfig, source: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    for loc, _container, _key, path, kind in _iter_paths(config):
        if kind is None and loc == ("idle", "path"):
            kind = FileKind("image" if config.idle.source == "image" else "audio")
        if kind is None:
            continue
        message = check_file(path, kind.kind)
        if message:
            file, line, col = source.position(loc)
            problems.append(Problem(file, line, col, format_loc(loc), message))
    return problems


def _check_raw_files(root: Node) -> list[Problem]:
    """File checks on the YAML as written, for when the schema rejected the document."""
    problems: list[Problem] = []

    def walk(annotation: Any, node: Node, loc: Loc, kind: FileKind | None) -> None:
        annotation = _strip(annotation)
        if isinstance(node.value, str) and kind is not None:
            path = Path(node.value).expanduser()
            path = path if path.is_absolute() else (node.file.parent / path).absolute()
            message = check_file(path, kind.kind)
            if message:
                problems.append(Problem(node.file, node.line, node.col, format_loc(loc), message))
            return
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType) and isinstance(node.value, dict) and "type" in node.value:
            tag = node.value["type"].value
            for member in map(_strip, _members(annotation)):
                if isinstance(member, type) and issubclass(member, BaseModel):
                    type_field = member.model_fields.get("type")
                    if type_field is not None and type_field.default == tag:
                        annotation = member
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(node.value, dict):
            for key, child in node.value.items():
                info = annotation.model_fields.get(key)
                if info is not None:
                    walk(info.annotation, child, (*loc, key), _file_kind(info))
        elif get_origin(annotation) in (list, dict) and isinstance(node.value, list | dict):
            item_type = get_args(annotation)[-1]
            children = node.value.items() if isinstance(node.value, dict) else enumerate(node.value)
            for key, child in children:
                walk(item_type, child, (*loc, key), kind)

    walk(ExhibitConfig, root, (), None)
    return problems


def check_file(path: Path, kind: str) -> str | None:
    """None if ``path`` is usable as ``kind``, else a sentence saying what is wrong."""
    shown = _display_path(path)
    if kind == "output":
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        return None if os.access(parent, os.W_OK) else f"cannot create {shown}: {_display_path(parent)} is not writable"
    if kind == "dir":
        if not path.exists():
            return f"folder not found: {shown}"
        return None if path.is_dir() else f"expected a folder, found a file: {shown}"
    if not path.exists():
        return f"file not found: {shown}"
    if not path.is_file():
        return f"expected a file, found a folder: {shown}"
    if not os.access(path, os.R_OK):
        return f"file is not readable: {shown}"
    if kind == "image":
        import cv2

        if cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4) is None:
            return f"not a readable image: {shown} (expected PNG, JPEG, TIFF, WebP or BMP)"
    elif kind == "audio":
        import soundfile

        try:
            info = soundfile.info(str(path))
        except (RuntimeError, soundfile.LibsndfileError) as err:
            return f"not a readable audio file: {shown} ({err}; expected WAV, FLAC or OGG)"
        if info.frames == 0:
            return f"audio file is empty: {shown}"
    elif kind == "video":
        import cv2

        capture = cv2.VideoCapture(str(path))
        try:
            ok = capture.isOpened() and capture.read()[0]
        finally:
            capture.release()
        if not ok:
            return f"not a readable video: {shown} (expected a file OpenCV can decode, e.g. MP4 or AVI)"
    return None


def _display_path(path: Path) -> str:
    """Relative to the current folder when below it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
