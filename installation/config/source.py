"""The YAML source of an exhibit: bounded reads, values with positions, anchors, merge keys, includes.

Everything here ends in a :class:`Node` tree or in :class:`Problem` s with a position; no input
raises, hangs or takes unbounded memory (SOFTWARE STYLE 14: outside input is bounded):

- only regular files are read (a FIFO, ``/dev/zero`` or a socket is refused before reading), at most
  :data:`MAX_FILE_BYTES` each and :data:`MAX_FILES` files through ``include:``;
- text must be UTF-8 without control characters; each offending line is reported;
- nesting deeper than :data:`MAX_DEPTH` and documents that expand (through aliases and merge keys)
  to more than :data:`MAX_NODES` values are refused, so an alias bomb costs nothing;
- scalars follow the YAML 1.2 core schema, whatever ``%YAML`` directive the file has: ``9:00`` stays
  the text "9:00" (YAML 1.1 would read 540) and ``2026-12-25`` stays text until the schema reads it
  as a date, so a bad date is a positioned problem rather than a crash in the YAML library;
- ``<<: *defaults`` (merge keys) work: keys written in the mapping win over merged ones.

Merging rules for ``include:`` (a path or a list of paths, relative to the including file): the
included files are merged in order, then the including file on top of them; mappings merge key by
key, lists are appended (so each room file can add its own artworks), and a plain value in the
including file replaces the included one.

Events come from libyaml through PyYAML (20 times faster than a pure-Python parser) when it is
installed, else from PyYAML's own parser; the values are built here, never by a YAML constructor.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from art2mus.installation.config.problems import Loc, Problem, display_path

#: largest exhibit file read (a 1,000-artwork exhibit is about 70 KB; 1 MB reads in about a second).
MAX_FILE_BYTES = 1024 * 1024
#: most YAML files in one exhibit (the top file and everything it includes).
MAX_FILES = 64
#: deepest nesting of mappings and lists (the exhibit schema itself is 5 deep).
MAX_DEPTH = 64
#: most values in one document once aliases and merge keys are expanded.
MAX_NODES = 200_000
#: most lines reported as not UTF-8 or holding control characters, per file.
MAX_TEXT_PROBLEMS = 20

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# YAML allows tab, LF, CR, NEL and printable characters; surrogates here are bytes that were not
# UTF-8 (decoded with surrogateescape).
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")

_STR = "tag:yaml.org,2002:str"
_CORE_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")}
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^([-+]?)\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_MAY_RESOLVE = frozenset("0123456789+-.~nNtTfF") | {""}


@dataclass(slots=True)
class Node:
    """A YAML value with where it was written. ``value`` is a dict of Nodes, a list of Nodes or a scalar.

    ``size`` counts the values below and including this one, aliases expanded.
    """

    value: Any
    file: Path
    line: int
    col: int
    key_line: int | None = None
    key_col: int | None = None
    size: int = 1

    def to_data(self) -> Any:
        if isinstance(self.value, dict):
            return {k: v.to_data() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.to_data() for v in self.value]
        return self.value

    def keyed(self, line: int, col: int) -> Node:
        """This value as written under a key at ``line:col`` (a copy when it is shared by an alias)."""
        return Node(self.value, self.file, self.line, self.col, line, col, self.size)


class _Abort(Exception):
    """A limit was reached: the problem is already recorded, stop reading this document."""


# --------------------------------------------------------------------------------------------------
# Bytes and text


def read_bytes(path: Path) -> tuple[bytes | None, str | None]:
    """``(bytes, None)`` for a regular file of at most :data:`MAX_FILE_BYTES`, else ``(None, why)``.

    The file is opened without blocking and checked on the open descriptor, so a FIFO cannot hang the
    read and a device such as ``/dev/zero`` is never read from.
    """
    shown = display_path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, f"file not found: {shown}"
    except IsADirectoryError:
        return None, f"expected a YAML file, found a folder: {shown}"
    except (OSError, ValueError) as err:
        return None, f"cannot read {shown}: {_os_reason(err)}"
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return None, f"expected a YAML file, found a folder: {shown}"
        if not stat.S_ISREG(info.st_mode):
            return None, f"{shown} is not a regular file (a device, pipe or socket); only plain files are read"
        chunks: list[bytes] = []
        left = MAX_FILE_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as err:
        return None, f"cannot read {shown}: {_os_reason(err)}"
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        return None, f"{shown} is larger than {MAX_FILE_BYTES // 1024} KB; an exhibit file is a few kilobytes"
    return data, None


def _os_reason(err: Exception) -> str:
    if isinstance(err, ValueError):
        return "the path contains a NUL byte"
    return err.strerror or str(err) if isinstance(err, OSError) else str(err)


#: the start of files a YAML file is mistaken for (the exhibit's photos, video, audio), and what they are
_NOT_TEXT = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WAV audio, WebP image or AVI video)"),
    (b"fLaC", "FLAC audio"),
    (b"OggS", "Ogg audio"),
    (b"ID3", "MP3 audio"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)


def decode_text(data: bytes, path: Path) -> tuple[str | None, list[Problem]]:
    """The UTF-8 text of ``data``, or a problem for each line that is not UTF-8 or holds control characters."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None, [Problem(path, 1, 1, "", "the file is saved as UTF-16: save it as UTF-8")]
    kind = next((name for magic, name in _NOT_TEXT if data.startswith(magic)), None)
    if kind is None and data[:8192].count(0) > 8:  # a stray NUL in a text is reported by its line below
        kind = "binary data"
    if kind is not None:
        return None, [Problem(path, 1, 1, "", f"this is {kind}, not a YAML text file: give the exhibit's .yaml file")]
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    problems: list[Problem] = []
    last_line = 0
    for match in _NOT_PRINTABLE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if line == last_line:
            continue
        last_line = line
        if len(problems) == MAX_TEXT_PROBLEMS:
            problems.append(Problem(path, line, 1, "", "more lines like the above (reporting stops here)"))
            break
        col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        char = match.group()
        if "\udc80" <= char <= "\udcff":
            message = f"not UTF-8 text (byte 0x{ord(char) - 0xDC00:02x}): save the file as UTF-8"
        else:
            message = f"control character U+{ord(char):04X} is not allowed in YAML: delete it"
        problems.append(Problem(path, line, col, "", message))
    return (None, problems) if problems else (text, [])


# --------------------------------------------------------------------------------------------------
# Text -> Node tree


def resolve_scalar(value: str) -> Any:
    """A plain (unquoted, untagged) scalar under the YAML 1.2 core schema."""
    if value[:1] not in _MAY_RESOLVE:  # most text: no pattern can match
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        try:
            return int(value, 0) if value[:2] in ("0o", "0x") else int(value)
        except ValueError:  # more digits than Python converts: leave it to the schema as text
            return value
    if _FLOAT.match(value):
        return float(value)
    inf = _INF.match(value)
    if inf:
        return -math.inf if inf.group(1) == "-" else math.inf
    if _NAN.match(value):
        return math.nan
    return value


@dataclass
class _Open:
    """A mapping or list being built."""

    node: Node
    anchor: str | None
    key: Node | None = None
    bad_key: bool = False
    merge_key: bool = False
    merges: list[Node] = field(default_factory=list)


class _TreeBuilder:
    """Builds one document's Node tree from parser events, enforcing depth and size limits."""

    def __init__(self, path: Path, problems: list[Problem]):
        self.path = path
        self.problems = problems
        self.anchors: dict[str, Node] = {}
        self.stack: list[_Open] = []
        self.total = 0
        self.root: Node | None = None
        self.documents = 0

    def fail(self, mark: Any, message: str) -> None:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        self.problems.append(Problem(self.path, line, col, "", message))

    def abort(self, mark: Any, message: str) -> _Abort:
        self.fail(mark, message)
        return _Abort()

    def feed(self, event: yaml.Event) -> None:
        mark = event.start_mark
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.abort(mark, "a second YAML document (`---`): an exhibit file holds one document")
        elif isinstance(event, yaml.ScalarEvent):
            self.add(self.scalar(event), event)
        elif isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is None:
                raise self.abort(mark, f"alias *{event.anchor} has no anchor &{event.anchor} before it")
            self.add(target, event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self.check_tag(event)
            if len(self.stack) >= MAX_DEPTH:
                raise self.abort(mark, f"nested more than {MAX_DEPTH} levels deep; an exhibit needs a handful")
            value: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
            self.stack.append(_Open(Node(value, self.path, mark.line + 1, mark.column + 1), event.anchor))
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            opened = self.stack.pop()
            if opened.merges:
                self.apply_merges(opened, mark)
            if opened.anchor is not None:
                self.anchors[opened.anchor] = opened.node
            self.add(opened.node, event)

    def check_tag(self, event: Any) -> None:
        tag = event.tag
        if tag not in (None, "!") and tag not in _CORE_TAGS:
            self.fail(event.start_mark, f"unsupported YAML tag {tag}: write plain values")

    def scalar(self, event: yaml.ScalarEvent) -> Node:
        mark = event.start_mark
        node = Node(event.value, self.path, mark.line + 1, mark.column + 1)
        tag = event.tag
        if tag in (None, "!"):
            if not event.style and tag is None:  # plain: libyaml says "", PyYAML None
                node.value = resolve_scalar(event.value)
        elif tag == _STR:
            pass
        elif tag in _CORE_TAGS:
            resolved = resolve_scalar(event.value)
            kind = tag.rsplit(":", 1)[1]
            expected = {"int": int, "float": (float, int), "bool": bool, "null": type(None)}.get(kind)
            if expected is None or not isinstance(resolved, expected) or (kind == "int" and isinstance(resolved, bool)):
                self.fail(mark, f"{event.value!r} is not a valid !!{kind}")
            else:
                node.value = float(resolved) if kind == "float" else resolved
        else:
            self.check_tag(event)
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        return node

    def count(self, size: int, mark: Any) -> None:
        self.total += size
        if self.total > MAX_NODES:
            raise self.abort(
                mark, f"the document expands to more than {MAX_NODES} values (aliases repeat what they point at)"
            )

    def add(self, node: Node, event: Any) -> None:
        self.count(node.size if isinstance(event, yaml.AliasEvent) else 1, event.start_mark)
        if not self.stack:
            self.root = node
            return
        top = self.stack[-1]
        parent = top.node
        parent.size += node.size
        if isinstance(parent.value, list):
            parent.value.append(node)
            return
        if top.key is None and not top.bad_key:
            if isinstance(node.value, dict | list):
                self.fail(event.start_mark, "a key must be plain text, not a mapping or list")
                top.bad_key = True
            else:
                top.key = Node(self.key_text(node, event), node.file, node.line, node.col)
                top.merge_key = (
                    isinstance(event, yaml.ScalarEvent) and event.value == "<<" and not event.style
                )
            return
        key, bad, merge = top.key, top.bad_key, top.merge_key
        top.key, top.bad_key, top.merge_key = None, False, False
        if bad or key is None:
            return
        name = key.value
        if merge:
            top.merges.append(node)
        elif name in parent.value:
            first = parent.value[name]
            self.fail_at(key, f"duplicate key {name!r} (first written at line {first.key_line})")
        else:
            parent.value[name] = node.keyed(key.line, key.col)

    def fail_at(self, node: Node, message: str) -> None:
        self.problems.append(Problem(node.file, node.line, node.col, "", message))

    @staticmethod
    def key_text(node: Node, event: Any) -> str:
        if isinstance(event, yaml.ScalarEvent):
            return event.value
        value = node.value
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    def apply_merges(self, opened: _Open, mark: Any) -> None:
        """``<<: *a`` or ``<<: [*a, *b]``: keys not written in the mapping come from the merged ones, first wins."""
        target = opened.node.value
        for merge in opened.merges:
            sources = merge.value if isinstance(merge.value, list) else [merge]
            for source in sources:
                if not isinstance(source.value, dict):
                    self.fail_at(merge, "`<<` (merge key) needs a mapping or a list of mappings, e.g. `<<: *defaults`")
                    continue
                for name, value in source.value.items():
                    if name not in target:
                        target[name] = value
                        opened.node.size += value.size
                        self.count(value.size, mark)


def parse_document(text: str, path: Path) -> tuple[Node | None, list[Problem]]:
    """One YAML document as a Node tree (an empty file is an empty mapping), or the problems found."""
    problems: list[Problem] = []
    builder = _TreeBuilder(path, problems)
    try:
        for event in yaml.parse(text, Loader=_Parser):
            builder.feed(event)
    except _Abort:
        return None, problems
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = " ".join(str(part) for part in (err.context, err.problem) if part)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        lines = text.split("\n")
        if mark is not None and mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
            message += " (a tab: YAML indents with spaces only)"
        problems.append(Problem(path, line, col, "", f"YAML syntax: {message}"))
        return None, problems
    except yaml.YAMLError as err:  # a reader error: the text checks above make this rare
        position = getattr(err, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        problems.append(Problem(path, line, 1, "", f"YAML: {err}"))
        return None, problems
    if problems:
        return None, problems
    root = builder.root or Node({}, path, 1, 1)
    if root.value is None:
        root = Node({}, path, root.line, root.col)
    return root, problems


# --------------------------------------------------------------------------------------------------
# Includes

#: top-level keys with this prefix (``x-defaults: &d {...}``) hold anchors for later ``<<: *d``; not settings
EXTENSION_PREFIX = "x-"


@dataclass
class SourceReader:
    """Reads an exhibit file and what it includes into one merged Node tree."""

    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def read(self, path: Path, stack: tuple[Path, ...] = (), include_node: Node | None = None) -> Node | None:
        if path in stack:
            cycle = " -> ".join(display_path(p) for p in (*stack, path))
            self._problem_at(include_node, path, f"include cycle: {cycle}")
            return None
        if len(self.files) >= MAX_FILES:
            self._problem_at(include_node, path, f"more than {MAX_FILES} files included; is this an include loop?")
            return None
        data, why = read_bytes(path)
        if data is None:
            self._problem_at(include_node, path, why or "cannot read")
            return None
        self.files.append(path)
        text, problems = decode_text(data, path)
        if text is None:
            self.problems += problems
            return None
        node, problems = parse_document(text, path)
        self.problems += problems
        if node is None or not isinstance(node.value, dict):
            return node
        for key in [k for k in node.value if isinstance(k, str) and k.startswith(EXTENSION_PREFIX)]:
            del node.value[key]  # a place for anchors, as in Docker Compose files: never read
        includes = node.value.get("include")
        if includes is None:
            return node
        merged: Node | None = None
        for entry in self._include_entries(includes, path):
            try:
                target = Path(os.path.normpath((path.parent / entry.value).expanduser().absolute()))
            except (OSError, ValueError, RuntimeError) as err:
                self._problem_at(entry, path, f"cannot use this path: {_os_reason(err)}")
                continue
            child = self.read(target, (*stack, path), include_node=entry)
            if child is None:
                continue
            if not isinstance(child.value, dict):
                self.problems.append(
                    Problem(child.file, child.line, child.col, "", "an included file must be a mapping of sections")
                )
                continue
            child.value.pop("include", None)
            merged = child if merged is None else merge_nodes(merged, child)
        return node if merged is None else merge_nodes(merged, node)

    def _include_entries(self, includes: Node, path: Path) -> Iterator[Node]:
        entries = includes.value if isinstance(includes.value, list) else [includes]
        for entry in entries:
            if isinstance(entry.value, str) and entry.value.strip() and "\x00" not in entry.value:
                yield entry
            else:
                self.problems.append(
                    Problem(entry.file, entry.line, entry.col, "include", "must be a file path (text)")
                )

    def _problem_at(self, node: Node | None, path: Path, message: str) -> None:
        if node is None:
            self.problems.append(Problem(path, 1, 1, "", message))
        else:
            self.problems.append(Problem(node.file, node.line, node.col, "include", message))


def merge_nodes(base: Node, top: Node) -> Node:
    """``top`` merged over ``base`` (see the module docstring for the rules)."""
    if isinstance(base.value, dict) and isinstance(top.value, dict):
        merged = dict(base.value)
        for key, value in top.value.items():
            merged[key] = merge_nodes(merged[key], value) if key in merged else value
        return Node(merged, top.file, top.line, top.col, top.key_line, top.key_col, base.size + top.size)
    if isinstance(base.value, list) and isinstance(top.value, list):
        return Node(base.value + top.value, top.file, top.line, top.col, top.key_line, top.key_col, base.size + top.size)
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
