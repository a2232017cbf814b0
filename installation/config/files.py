"""Checks of the files an exhibit names: they exist, are regular files, and open as what they stand for.

Media and secrets that would stop the daemon at start are read here, within bounds, so that
``art2mus validate`` (and ``ExecStartPre``) refuses them instead: an audio file holding NaN, infinite
or absurd samples, an image OpenCV cannot decode, a token file that is empty or not UTF-8.
"""

from __future__ import annotations

import functools
import os
import pwd
import stat
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from art2mus.installation.audio.clip import MAX_SAMPLE_MAGNITUDE
from art2mus.installation.config.base import FileKind
from art2mus.installation.config.exhibit import ExhibitConfig
from art2mus.installation.config.problems import (
    Loc,
    Problem,
    display_path,
    format_loc,
    members,
    strip_annotation,
)
from art2mus.installation.config.source import Node
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig

Finding = tuple[Loc, str]

#: largest token file read (a token is a line of text).
MAX_SECRET_BYTES = 64 * 1024
#: frames read at a time when scanning an audio file.
AUDIO_BLOCK_FRAMES = 1 << 16


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


def iter_paths(model: BaseModel, loc: Loc = ()) -> Iterator[tuple[Loc, Any, Any, Path, FileKind | None]]:
    """Yield ``(loc, container, key, path, kind)`` for every Path value in the config."""
    for name, kind in _field_kinds(type(model)):
        yield from _iter_value_paths(getattr(model, name), (*loc, name), model, name, kind)


@functools.cache
def _field_kinds(model: type[BaseModel]) -> tuple[tuple[str, FileKind | None], ...]:
    """Each field of ``model`` with its FileKind (looked up once per class, not per artwork)."""
    return tuple((name, _file_kind(info)) for name, info in model.model_fields.items())


def _iter_value_paths(value: Any, loc: Loc, container: Any, key: Any, kind: FileKind | None):
    if isinstance(value, Path):
        yield loc, container, key, value, kind
    elif isinstance(value, BaseModel):
        yield from iter_paths(value, loc)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _iter_value_paths(item, (*loc, i), value, i, kind)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _iter_value_paths(item, (*loc, k), value, k, kind)


def check_files(config: ExhibitConfig) -> list[Finding]:
    """``(loc, message)`` for every referenced file that is missing or unusable as what it stands for."""
    problems: list[Finding] = []
    for loc, _container, _key, path, kind in iter_paths(config):
        if kind is None and loc == ("idle", "path"):
            kind = FileKind("image" if config.idle.source == "image" else "audio")
        if kind is None:
            continue
        message = check_file(path, kind.kind)
        if message:
            problems.append((loc, message + _installed_aligners_hint(config.generators, loc, path)))
    problems += _unset_model_dirs(config.generators)
    problems += _aligners(config.generators)
    return problems


#: the fields of an art2mus generator that name its models: a problem with one stops that generator alone
#: (its fallback plays), so ``run`` starts with it and ``validate --as-run`` warns
MODEL_FIELDS = ("model_dir", "aligner")


def is_model_finding(config: ExhibitConfig, loc: Loc) -> bool:
    """Whether ``loc`` is a field of :data:`MODEL_FIELDS` of one of ``config``'s art2mus generators."""
    return (
        len(loc) == 3
        and loc[0] == "generators"
        and loc[2] in MODEL_FIELDS
        and isinstance(config.generators.get(str(loc[1])), Art2MusGeneratorConfig)
    )


def model_warnings(config: ExhibitConfig) -> list[str]:
    """``generators.<name>.<field>: why (...its fallback plays)`` for each art2mus generator whose model
    directory or aligner cannot be used (a missing folder, a damaged or unfitting aligner): the daemon starts
    and that generator's fallback plays, as when its model fails at generation time; a damaged aligner
    stopped the whole room (ExecStartPre failed for ever) while a damaged UNet played the fallback."""
    return [
        f"{format_loc(loc)}: {message} (run starts: generator {loc[1]!r} plays its fallback "
        f"{config.generators[loc[1]].fallback!r} instead)"
        for loc, message in model_findings(config.generators)
    ]


def model_findings(generators: Mapping[str, object]) -> list[Finding]:
    """``(loc, message)`` for each art2mus generator's model directory or aligner that cannot be used: a
    missing folder (an aligner's with the installed aligners' names), an unset model directory that is
    missing, an aligner that does not fit its encoder or language model. ``generators``: the exhibit's, or
    those of a rejected document that can be read without their own problems (paths resolved)."""
    findings: list[Finding] = []
    for name, generator in generators.items():
        if isinstance(generator, Art2MusGeneratorConfig):
            for field in MODEL_FIELDS:
                path = getattr(generator, field)
                loc = ("generators", name, field)
                message = check_file(path, "dir") if path is not None else None
                if message:
                    findings.append((loc, message + _installed_aligners_hint(generators, loc, path)))
    reported = {loc for loc, _ in findings}
    findings += [f for f in _unset_model_dirs(generators) + _aligners(generators) if f[0] not in reported]
    return findings


def _installed_aligners_hint(generators: Mapping[str, object], loc: Loc, path: Path) -> str:
    """For an art2mus generator's aligner folder that is missing: `` (not the name of an installed aligner
    either: ... installed aligners: a, b)``, as an exhibit may name one of those instead of its path; for a
    ``.pt`` file, the ``import-v1`` command that converts it."""
    from art2mus.models.model_dir import ModelDir

    if len(loc) != 3 or loc[0] != "generators" or loc[2] != "aligner":
        return ""
    if path.is_file() and path.suffix.lower() in (".pt", ".pth"):
        return f" (an Art2Mus v1 checkpoint is converted first: art2mus models import-v1 {path} --name NAME)"
    if path.exists():
        return ""
    generator = generators.get(str(loc[1]))
    if not isinstance(generator, Art2MusGeneratorConfig):
        return ""
    choice = generator.model_dir_choice()
    model_dir = ModelDir(choice.path, origin=choice.origin)
    known = ", ".join(folder.name for folder in model_dir.list_aligner_dirs()) or "none"
    return (
        f" (not the name of an installed aligner either: no folder {path.name} under "
        f"{model_dir.describe(model_dir.aligners_dir)}; installed aligners: {known})"
    )


def _aligners(generators: Mapping[str, object]) -> list[Finding]:
    """An art2mus generator's aligner that cannot load with its encoder and language model, from config
    files and a weights header (no weights read, no torch; a missing ``aligner`` folder is reported as a
    missing file already). Without ``aligner``, the one the generator would choose in the model directory
    is checked, and a choice it cannot make (several fit, none is ``default``) is reported. Beside an ONNX
    graph that carries an aligner (whose tokens play), an unset ``aligner`` is the graph's, and one of other
    weights is reported naming both."""
    from art2mus.models.model_dir import ModelDir

    problems: list[Finding] = []
    for name, generator in generators.items():
        if not isinstance(generator, Art2MusGeneratorConfig):
            continue
        choice = generator.model_dir_choice()
        model_dir = ModelDir(choice.path, origin=choice.origin)
        loc = ("generators", name, "aligner")
        folder = generator.aligner
        try:
            graph = model_dir.graph_aligner(generator.encoder, generator.encoder_path)
        except FileNotFoundError as exc:
            problems.append((loc, str(exc)))
            continue
        if folder is None and graph is not None:
            folder = graph[1]  # the ONNX graph's aligner plays
        elif folder is not None and folder.is_dir():
            mismatch = model_dir.graph_aligner_mismatch(generator.encoder, generator.encoder_path, folder)
            if mismatch:
                problems.append((loc, mismatch))
                continue
        if folder is None:
            spec = model_dir.encoder_spec(generator.encoder, generator.encoder_path)
            if spec is None:
                continue  # no encoder to choose for: doctor says the models are missing
            try:
                folder = model_dir.default_aligner(spec, "`aligner:` (an installed aligner's name or a folder's path)")
            except FileNotFoundError as exc:
                problems.append((loc, f"aligner is unset and {exc}"))
                continue
        if folder.is_dir():
            problem = model_dir.aligner_problem(folder, generator.encoder, generator.encoder_path, generator.profile)
            if problem:
                default = "the ONNX graph's aligner" if graph is not None else "the default aligner"
                shown = "" if generator.aligner is not None else f"{default} {folder}: "
                problems.append((loc, shown + problem))
    return problems


def installed_aligner(generator: Art2MusGeneratorConfig, written: Path, base: Path) -> Path | None:
    """The folder of the installed aligner that ``aligner: NAME`` names, or None: a curator copies the name
    that ``art2mus models list`` (and a not-found message) shows, and ``render --aligner`` takes, and it was
    read as a path beside the exhibit ('folder not found: ex/debug-clip-4tok'). A name is a value with no
    ``/`` that is no path relative to ``base`` (the exhibit's folder: a folder there wins) and is a folder
    under the generator's model directory's ``aligners/``; it becomes that folder's path, so the checks,
    the daemon and ``render`` load what ``resolve_aligner`` would load for the name, whatever the current
    directory."""
    from art2mus.models.model_dir import ModelDir

    if len(written.parts) != 1 or written.name in ("", ".", "..") or (base / written).exists():
        return None
    folder = ModelDir(generator.model_dir_choice().path).aligners_dir / written.name
    return folder if folder.is_dir() else None


def _unset_model_dirs(generators: Mapping[str, object]) -> list[Finding]:
    """An art2mus generator that leaves ``model_dir`` out loads from ``$ART2MUS_MODEL_DIR`` or the default
    folder: that folder is checked, and a problem says which it is and why it was chosen."""
    problems: list[Finding] = []
    for name, generator in generators.items():
        if isinstance(generator, Art2MusGeneratorConfig) and generator.model_dir is None:
            choice = generator.model_dir_choice()
            message = check_file(choice.path, "dir")
            if message:
                loc = ("generators", name, "model_dir")
                problems.append((loc, f"{message} (model_dir is unset: {choice.origin})"))
    return problems


def check_raw_files(root: Node) -> list[Problem]:
    """File checks on the YAML as written, for when the schema rejected the document."""
    problems: list[Problem] = []

    def walk(annotation: Any, node: Node, loc: Loc, kind: FileKind | None) -> None:
        annotation = strip_annotation(annotation)
        if isinstance(node.value, str) and kind is not None:
            try:
                path = Path(node.value).expanduser()
            except RuntimeError:  # ~user that does not exist
                path = Path(node.value)
            path = path if path.is_absolute() else (node.file.parent / path).absolute()
            message = check_file(path, kind.kind)
            if message:
                problems.append(Problem(node.file, node.line, node.col, format_loc(loc), message))
            return
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType) and isinstance(node.value, dict) and "type" in node.value:
            tag = node.value["type"].value
            for member in map(strip_annotation, members(annotation)):
                if isinstance(member, type) and issubclass(member, BaseModel):
                    type_field = member.model_fields.get("type")
                    if type_field is not None and type_field.default == tag:
                        annotation = member
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(node.value, dict):
            for key, child in node.value.items():
                info = annotation.model_fields.get(key)
                if info is not None and not (key == "aligner" and _names_installed_aligner(annotation, node, child)):
                    walk(info.annotation, child, (*loc, key), _file_kind(info))
        elif get_origin(annotation) in (list, dict) and isinstance(node.value, list | dict):
            item_type = get_args(annotation)[-1]
            children = node.value.items() if isinstance(node.value, dict) else enumerate(node.value)
            for key, child in children:
                walk(item_type, child, (*loc, key), kind)

    walk(ExhibitConfig, root, (), None)
    return problems


def _names_installed_aligner(annotation: Any, generator: Node, aligner: Node) -> bool:
    """Whether ``aligner`` is an art2mus generator's ``aligner: NAME`` of an installed aligner, in YAML that
    the schema rejected elsewhere (:func:`installed_aligner`, with the ``model_dir`` as written)."""
    if annotation is not Art2MusGeneratorConfig or not isinstance(aligner.value, str):
        return False
    written = generator.value.get("model_dir")
    model_dir = None
    if written is not None and isinstance(written.value, str):
        try:
            model_dir = Path(written.value).expanduser()
        except RuntimeError:  # ~user that does not exist
            model_dir = Path(written.value)
        model_dir = model_dir if model_dir.is_absolute() else written.file.parent / model_dir
    settings = Art2MusGeneratorConfig.model_construct(model_dir=model_dir)
    return installed_aligner(settings, Path(aligner.value), aligner.file.parent) is not None


def _state_folder() -> str:
    """Under systemd, the folder a unit with ``StateDirectory=`` may write (the rest is read-only to it)."""
    return os.environ.get("STATE_DIRECTORY", "").split(":")[0]


def _where_to_write() -> str:
    state = _state_folder()
    return f" (this service may write only under {state}: put the folder there)" if state else ""


def unwritable_folders(config: ExhibitConfig) -> list[str]:
    """Warnings for the exhibit's output folders (cache, index, unseen crops) that exist but that this user
    may not write: the gallery still plays (what is there is read), but what it makes is not kept, so
    every start makes it again (a cache folder that ``art2mus prerender`` created as root, say). Each names
    the folder (absolute), its owner and this user, and the fix: ``chown`` for a folder where the service
    may write (under ``$STATE_DIRECTORY``, or anywhere outside systemd), else where to put it. A folder on
    a filesystem mounted read-only is said to be so, with a remount as the fix: no owner or mode helps."""
    warnings = []
    for loc, _container, _key, path, kind in iter_paths(config):
        output = kind is not None and kind.kind == "output"
        if output and path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            folder = path.absolute()
            lock = ", and a second daemon is not refused (its lock file lives there)" if loc == ("cache", "dir") else ""
            if _on_read_only_filesystem(folder):  # no chown or chmod helps there, even root's
                warnings.append(
                    f"{format_loc(loc)}: {folder} is on a read-only filesystem (mounted read-only): what the "
                    f"gallery makes there is not kept and is made again at every start{lock} ({_REMOUNT})"
                )
                continue
            warnings.append(
                f"{format_loc(loc)}: this user ({_user()}) may not write {folder} (owned by "
                f"{_owner_name(folder.stat().st_uid)}): what the gallery makes there is not kept and is made "
                f"again at every start{lock}{_how_to_fix(folder)}"
            )
    return warnings


_REMOUNT = "remount it read-write or put the folder on a writable disk"


def _on_read_only_filesystem(path: Path) -> bool:
    """Whether ``path`` lies on a filesystem mounted read-only (``ST_RDONLY``): there a folder's owner and
    mode do not matter, and the chown/chmod advice sent a technician after file permissions. False when
    the filesystem cannot be asked."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _how_to_fix(folder: Path) -> str:
    """`` (chown -R art2mus: FOLDER)`` where this user could be given the folder, else where to put it:
    "put the folder there" pointed nowhere for a cache already under the state folder."""
    state = _state_folder()
    if state and not folder.is_relative_to(Path(state).absolute()):
        return _where_to_write()
    user = _user()
    if folder.stat().st_uid == os.geteuid():
        return f" (let its owner write it: chmod -R u+rwX {folder})"
    return f" (give it to this user: chown -R {user}: {folder}, or run prerender as {user})"


def output_problem(path: Path, access: Callable[[Path, int], bool] | None = None) -> str | None:
    """None if this user can make what an output field names (a folder, or a file such as the WAV output),
    else why not. A folder that exists is not this check's business: what is in it is read, and
    :func:`unwritable_folders` warns when this user may not write it. For the rest, the nearest folder that
    exists on the way (the file's own folder, or one above a folder still to be made) must be writable:
    testing the parent of ``/var/lib/art2mus`` refused the state folder the unit owns. Paths are shown
    absolute: under the unit's ``WorkingDirectory=`` a relative one read "cannot create .".
    ``access``: :func:`os.access` (the default), or a test's stand-in for another user's rights."""
    access = os.access if access is None else access
    path = path.absolute()
    if path.is_dir():
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {path}: {parent} is a file, not a folder"
    if access(parent, os.W_OK | os.X_OK):
        return None
    if _on_read_only_filesystem(parent):
        return f"cannot create {path}: {parent} is on a read-only filesystem (mounted read-only): {_REMOUNT}"
    return f"cannot create {path}: {parent} is not writable by {_user()}{_where_to_write()}"


def _user() -> str:
    """This process's user name (its uid when the name is unknown)."""
    return _owner_name(os.geteuid())


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_file(path: Path, kind: str) -> str | None:
    """None if ``path`` is usable as ``kind``, else a sentence saying what is wrong. Never raises."""
    try:
        return _check_file(path, kind)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return f"cannot check {display_path(path)}: {reason}"


def _check_file(path: Path, kind: str) -> str | None:
    if kind == "output":
        return output_problem(path)
    shown = display_path(path)
    if kind == "dir":
        if not path.exists():
            return f"folder not found: {shown}"
        return None if path.is_dir() else f"expected a folder, found a file: {shown}"
    if not path.exists():
        return f"file not found: {shown}"
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return f"expected a file, found a folder: {shown}"
    if not stat.S_ISREG(mode):
        return f"{shown} is not a regular file (a device, pipe or socket)"
    if not os.access(path, os.R_OK):
        return f"file is not readable: {shown}"
    if kind in ("image", "audio", "video"):
        info = path.stat()
        return _probe_media(path, kind, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))
    if kind == "secret":
        return _check_secret(path, shown)
    return None


@functools.lru_cache(maxsize=4096)
def _probe_media(path: Path, kind: str, _signature: tuple[int, ...]) -> str | None:
    """Decode ``path`` as ``kind``; cached by the file's identity, size and time so a reload re-reads only
    what changed."""
    shown = display_path(path)
    if kind == "image":
        import cv2

        if cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4) is None:
            return f"not a readable image: {shown} (expected PNG, JPEG, TIFF, WebP or BMP)"
    elif kind == "audio":
        return _check_audio(path, shown)
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


def _check_audio(path: Path, shown: str) -> str | None:
    """Every sample must be a finite number within +-16 (a sound file's samples lie within +-1)."""
    import numpy as np
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as sound:
            if sound.frames == 0:
                return f"audio file is empty: {shown}"
            frame = 0
            for block in sound.blocks(blocksize=AUDIO_BLOCK_FRAMES, dtype="float32", always_2d=True):
                finite = np.isfinite(block)
                if not finite.all():
                    at = frame + int(np.argmin(finite.all(axis=1)))
                    return (
                        f"audio file {shown} holds NaN or infinite samples (first at {at / sound.samplerate:.3f} s): "
                        "the file is corrupt; export it again"
                    )
                peak = float(np.abs(block).max(initial=0.0))
                if peak > MAX_SAMPLE_MAGNITUDE:
                    return (
                        f"audio file {shown} holds samples up to {peak:.3g} (corrupt float data: sound lies "
                        "within -1..1); export it again"
                    )
                frame += block.shape[0]
    except (RuntimeError, soundfile.LibsndfileError, TypeError) as err:
        return f"not a readable audio file: {shown} ({err}; expected WAV, FLAC or OGG)"
    if frame == 0:
        return f"audio file is empty: {shown}"
    return None


def _check_secret(path: Path, shown: str) -> str | None:
    """A token file: UTF-8 text, at most 64 KB, not blank."""
    with path.open("rb") as file:
        data = file.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        return f"token file {shown} is larger than {MAX_SECRET_BYTES // 1024} KB; a token is one line of text"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"token file {shown} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line})"
    if not text.strip():
        return f"token file {shown} is empty: an empty token would leave the control panel open to anyone"
    return None
