"""Reading an exhibit: YAML source -> schema -> paths -> cross-checks -> file checks, problems with positions.

Every problem is reported as ``file:line:col field.path: what was expected, got what``, and all
problems of a file are collected before giving up, so a curator fixes them in one pass. A failed load
raises :class:`ExhibitError` and changes nothing, which lets the daemon keep running on its last
good config. No input makes loading raise anything else, hang or take unbounded memory: the limits
live in :mod:`~art2mus.installation.config.source`.

The parts: :mod:`.source` (bounded reads, YAML with positions, includes), :mod:`.problems` (error
wording), :mod:`.checks` (cross-checks on the model), :mod:`.files` (referenced media and secrets).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from art2mus.installation.config.checks import cross_check, cross_check_written
from art2mus.installation.config.exhibit import ExhibitConfig
from art2mus.installation.config.files import (
    MODEL_FIELDS,
    check_file,
    check_files,
    check_raw_files,
    installed_aligner,
    is_model_finding,
    iter_paths,
    model_findings,
)
from art2mus.installation.config.problems import (
    ExhibitError,
    Loc,
    Problem,
    data_loc,
    describe_error,
    format_loc,
    sort_problems,
)
from art2mus.installation.config.source import Node, SourceMap, SourceReader
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig

log = logging.getLogger(__name__)

#: ``artworks[i].images[j]``: a reference photo, whose problems need not stop the daemon
_PHOTO_FIELD = re.compile(r"^artworks\[\d+\]\.images\[\d+\]$")
#: the start of the one message that means a bug in this package rather than in the exhibit.
INTERNAL_ERROR = "could not be checked"

__all__ = ["ExhibitError", "Problem", "check_file", "load_exhibit", "validate_exhibit"]


def load_exhibit(
    path: str | os.PathLike[str],
    *,
    check_files: bool = True,
    audio_may_fail: bool = False,
    photos_may_fail: bool = False,
    models_may_fail: bool = False,
) -> ExhibitConfig:
    """Read, merge, validate and check the exhibit at ``path``.

    Args:
        path: the top-level YAML file.
        check_files: also check that referenced images, audio, videos, folders and token files exist
            and can be used (``art2mus validate`` and the daemon do; tools that only need the
            settings may not).
        audio_may_fail: an artwork's unreadable or corrupt fixed ``audio:`` file (``artworks[i].audio``)
            is not a problem: the daemon leaves that artwork out (``SoundscapeLibrary.problems``, shown
            on the control panel and by ``doctor``) and plays the rest.
        photos_may_fail: a missing or unreadable reference photo (``artworks[i].images[j]``) is not a
            problem: the daemon leaves that artwork out of recognition instead of refusing to start
            (:mod:`art2mus.installation.vision.photo_check` reports it).
        models_may_fail: an art2mus generator's missing model directory or aligner, or an aligner that
            cannot load, is not a problem: that generator's fallback plays instead
            (:func:`~art2mus.installation.config.files.model_warnings` says so).

    Returns:
        The config with every relative path made absolute.

    Raises:
        ExhibitError: with every problem found.
    """
    config, problems = validate_exhibit(
        path,
        check_files=check_files,
        audio_may_fail=audio_may_fail,
        photos_may_fail=photos_may_fail,
        models_may_fail=models_may_fail,
    )
    if problems or config is None:
        raise ExhibitError(problems)
    return config


def validate_exhibit(
    path: str | os.PathLike[str],
    *,
    check_files: bool = True,
    audio_may_fail: bool = False,
    photos_may_fail: bool = False,
    check_photos: bool = False,
    models_may_fail: bool = False,
) -> tuple[ExhibitConfig | None, list[Problem]]:
    """Like :func:`load_exhibit` but returns ``(config or None, problems in file order)``, never raising.

    ``check_photos`` also checks the reference photos for recognition (keypoints, duplicates across
    artworks, size: :mod:`art2mus.installation.vision.photo_check`, which needs OpenCV) and reports each
    error at its ``artworks[i].images[j]`` line (``art2mus validate``)."""
    try:
        top = Path(os.path.normpath(Path(path).expanduser().absolute()))
    except (OSError, ValueError, RuntimeError) as err:
        return None, [Problem(Path(str(path)), 1, 1, "", f"cannot use this path: {err}")]
    try:
        config, problems = _validate(
            top, check_files, audio_may_fail, photos_may_fail, check_photos, models_may_fail
        )
    except Exception as err:  # noqa: BLE001 - a bug here must not stop a reload; report it at the file
        log.exception("validating %s failed", top)
        return None, [
            Problem(top, 1, 1, "", f"{INTERNAL_ERROR} ({type(err).__name__}: {err}); please report this")
        ]
    return config, sort_problems(problems)


def _validate(
    top: Path,
    check: bool,
    audio_may_fail: bool = False,
    photos_may_fail: bool = False,
    check_photos: bool = False,
    models_may_fail: bool = False,
) -> tuple[ExhibitConfig | None, list[Problem]]:
    reader = SourceReader()
    root = reader.read(top)
    if reader.problems or root is None:
        return None, reader.problems or [Problem(top, 1, 1, "", "could not be read")]
    if not isinstance(root.value, dict):
        return None, [
            Problem(top, root.line, root.col, "", "the exhibit must be a mapping of sections (key: value)")
        ]

    _one_image_as_list(root)
    source = SourceMap(root)
    data = root.to_data()
    try:
        config = ExhibitConfig.model_validate(data)
    except pydantic.ValidationError as err:
        errors = err.errors()
        problems = [_problem_for(source, error) for error in errors]
        # The cross-checks in the same pass, on what can be told from the rest of the file: a bad duration
        # hid an unknown generator until it was mended.
        bad = {data_loc(ExhibitConfig, error["loc"])[0] for error in errors}
        problems += [_place(source, loc, message) for loc, message in cross_check_written(data, bad)]
        if check:
            # Report missing or unreadable files in the same pass, for the fields that were valid, and the
            # models of the art2mus generators that can be read: an aligner given by an installed name was
            # checked (found, fitting its encoder) only once the rest of the file was mended.
            bad = {p.field for p in problems}
            generators = _written_art2mus_generators(data, bad)
            _resolve_paths(_generator_paths(generators), source, top.parent)
            checked = {
                format_loc(("generators", name, field)) for name in generators for field in MODEL_FIELDS
            }
            problems += [
                p
                for p in check_raw_files(root)
                if p.field not in bad | checked and not (photos_may_fail and _PHOTO_FIELD.match(p.field))
            ]
            if not models_may_fail:
                problems += [
                    _place(source, loc, message)
                    for loc, message in model_findings(generators)
                    if format_loc(loc) not in bad
                ]
        return None, problems

    resolve_config_paths(config, source, top.parent)
    config._source_file = top
    config._files = tuple(reader.files)

    findings = cross_check(config)
    if check:
        findings += [
            (loc, message)
            for loc, message in check_files(config)
            if not (audio_may_fail and loc[:1] == ("artworks",) and loc[2:3] == ("audio",))
            and not (photos_may_fail and loc[:1] == ("artworks",) and loc[2:3] == ("images",))
            and not (models_may_fail and is_model_finding(config, loc))
        ]
    if check_photos:
        findings += _photo_findings(config, {loc for loc, _ in findings})
    problems = [_place(source, loc, message) for loc, message in findings]
    return (None if problems else config), problems


def _one_image_as_list(root: Node) -> None:
    """``images: photos/a.png`` as the list of one that the schema makes of it, at the path's own position,
    so that a problem with the photo is placed at ``artworks[i].images[0]`` in the file it was written in
    (and a relative path is resolved from there)."""
    artworks = root.value.get("artworks")
    for artwork in artworks.value if artworks is not None and isinstance(artworks.value, list) else []:
        images = artwork.value.get("images") if isinstance(artwork.value, dict) else None
        if images is not None and isinstance(images.value, str):
            one = Node(images.value, images.file, images.line, images.col)
            artwork.value["images"] = Node(
                [one], images.file, images.line, images.col, images.key_line, images.key_col, images.size + 1
            )


def _photo_findings(config: ExhibitConfig, reported: set[Loc]) -> list[tuple[Loc, str]]:
    """The reference photo checks' errors at ``artworks[i].images[j]``, but for photos already reported."""
    from art2mus.installation.vision.photo_check import ERROR, check_exhibit_photos

    where = {
        (art.id, Path(image)): ("artworks", i, "images", j)
        for i, art in enumerate(config.artworks)
        for j, image in enumerate(art.images)
    }
    findings = []
    for finding in check_exhibit_photos(config).findings:
        loc = where.get((finding.artwork_id, finding.path))
        if finding.severity == ERROR and loc is not None and loc not in reported:
            findings.append((loc, finding.message))
    return findings


def _place(source: SourceMap, loc: Loc, message: str) -> Problem:
    file, line, col = source.position(loc)
    return Problem(file, line, col, format_loc(loc), message)


def _problem_for(source: SourceMap, error: dict) -> Problem:
    """One pydantic error as a :class:`Problem` at the right line."""
    loc, info = data_loc(ExhibitConfig, error["loc"])
    kind = error["type"]
    if kind == "missing":
        file, line, col = source.position(loc[:-1], at_key=True)
    else:
        file, line, col = source.position(loc, at_key=kind == "extra_forbidden")
    return Problem(file, line, col, format_loc(loc), describe_error(error, info, loc))


def _written_art2mus_generators(data: dict[str, Any], bad: set[str]) -> dict[str, Art2MusGeneratorConfig]:
    """The art2mus generators of a document the schema rejected, each read from its values as written but
    for those with a problem of their own (left at their defaults); a generator that still cannot be read
    is left out. Paths are as written (:func:`_resolve_paths` resolves them)."""
    tag = Art2MusGeneratorConfig.model_fields["type"].default
    written = data.get("generators")
    if not isinstance(written, dict) or "generators" in bad:
        return {}
    generators = {}
    for name, settings in written.items():
        if not isinstance(name, str) or not isinstance(settings, dict) or settings.get("type") != tag:
            continue
        kept = {
            key: value for key, value in settings.items() if format_loc(("generators", name, key)) not in bad
        }
        try:
            generators[name] = Art2MusGeneratorConfig.model_validate(kept)
        except pydantic.ValidationError:
            continue
    return generators


def _generator_paths(generators: dict[str, Art2MusGeneratorConfig]) -> list[tuple[Loc, Any, Any, Path, Any]]:
    return [
        entry
        for name, generator in generators.items()
        for entry in iter_paths(generator, ("generators", name))
    ]


def resolve_config_paths(config: ExhibitConfig, source: SourceMap, default_dir: Path) -> None:
    """Make every path of ``config`` absolute as a load does (see :func:`_resolve_paths`): for callers that
    validated part of a file themselves (``doctor`` checks the sections that parse)."""
    _resolve_paths(iter_paths(config), source, default_dir)


def _resolve_paths(
    paths: Iterable[tuple[Loc, Any, Any, Path, Any]], source: SourceMap, default_dir: Path
) -> None:
    """Relative paths are relative to the YAML file they were written in (defaults: the top file's folder),
    but for an art2mus generator's ``aligner: NAME`` that names an installed aligner (:func:`installed_aligner`).
    """
    names = []
    for loc, container, key, path, _kind in list(paths):
        try:
            path = path.expanduser()
        except RuntimeError:  # ~user that does not exist: leave it for the file checks to report
            pass
        if not path.is_absolute():
            base = source.file_for(loc).parent if tuple(loc) in source.nodes else default_dir
            if key == "aligner" and isinstance(container, Art2MusGeneratorConfig):
                names.append((container, path, base))  # once its model_dir is resolved
            path = Path(os.path.normpath((base / path).absolute()))
        _set(container, key, path)
    for generator, written, base in names:
        folder = installed_aligner(generator, written, base)
        if folder is not None:
            _set(generator, "aligner", folder)


def _set(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, BaseModel):
        container.__dict__[key] = value  # already validated; skip re-validation on assignment
    else:
        container[key] = value
