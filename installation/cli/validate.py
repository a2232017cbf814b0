"""``art2mus validate``: check an exhibit file and say exactly what is wrong, or summarise it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import click
import pydantic

from art2mus.installation.cli.shared import echo_problem, echo_warning
from art2mus.installation.config import validate_exhibit
from art2mus.installation.config.exhibit import ArtworkConfig, ExhibitConfig
from art2mus.installation.config.files import model_warnings, unwritable_folders
from art2mus.installation.config.problems import Loc, Problem, format_loc
from art2mus.installation.config.source import SourceMap, SourceReader
from art2mus.installation.config.summary import json_schema_text, summary_rows
from art2mus.installation.config.vision import RecognitionConfig


def exhibit_warnings(exhibit: str, config: ExhibitConfig | None) -> list[Problem]:
    """The warnings of the exhibit file ``exhibit``, each at its field's ``file:line:col``: the reference
    photo checks' (weak, small or large photos, look-alike pairs) at the ``artworks[i].images[j]`` entry,
    and the output folders this user may not write. ``config``: the exhibit as loaded, or None when it has
    problems; then the photos of the artworks whose entries are valid are checked, with the
    ``recognition`` settings if they are valid (the defaults if not), so a curator sees the warnings in
    the same pass as the errors."""
    top = Path(os.path.normpath(Path(exhibit).expanduser().absolute()))
    reader = SourceReader()  # the loader's bounded read again, for the positions: milliseconds
    root = reader.read(top)
    if reader.problems or root is None or not isinstance(root.value, dict):
        return []  # reported as problems; nothing to place a warning at
    source = SourceMap(root)
    checked, indexes = (config, None) if config is not None else _valid_artworks(top, root.to_data(), source)
    if checked is None:
        return []
    warnings = photo_warnings(checked, source, indexes)
    if config is not None:  # the folders' checks need every section valid
        warnings += [_placed(source, text) for text in unwritable_folders(config)]
        # an art2mus generator's models: under --as-run its fallback plays, so they are warnings (valid
        # otherwise only when there are none)
        warnings += [_placed(source, text) for text in model_warnings(config)]
    return warnings


def photo_warnings(
    config: ExhibitConfig, source: SourceMap, indexes: list[int] | None = None
) -> list[Problem]:
    """The reference photo checks' warnings, each at its photo's ``artworks[i].images[j]`` entry;
    ``indexes``: each artwork's place in the file, when ``config`` holds only some of them."""
    from art2mus.installation.vision.photo_check import WARNING, check_exhibit_photos

    where = {
        (art.id, Path(image)): ("artworks", indexes[i] if indexes is not None else i, "images", j)
        for i, art in enumerate(config.artworks)
        for j, image in enumerate(art.images)
    }
    warnings = []
    for finding in check_exhibit_photos(config).findings:
        if finding.severity != WARNING:
            continue
        loc = where.get((finding.artwork_id, finding.path), ("artworks",))
        warnings.append(_at(source, loc, finding.message))
    return warnings


def _valid_artworks(top: Path, data: dict, source: SourceMap) -> tuple[ExhibitConfig | None, list[int]]:
    """An exhibit of the artworks of ``data`` (the merged YAML) whose entries are valid on their own,
    the first of each id, their photos' paths made absolute as the loader makes them (relative to the
    file each was written in), with ``recognition`` (its defaults when that section is not valid), and
    each artwork's place in the file; None when no artwork is valid."""
    entries = data.get("artworks")
    if not isinstance(entries, list):
        return None, []
    artworks, indexes, ids = [], [], set()
    for i, entry in enumerate(entries):
        try:
            artwork = ArtworkConfig.model_validate(entry)
        except pydantic.ValidationError:
            continue  # its problems are reported; its photos are checked once the entry is valid
        if artwork.id in ids:
            continue  # a duplicate id: reported, and the photo checks pair photos by artwork id
        ids.add(artwork.id)
        images = [
            _absolute(source, ("artworks", i, "images", j), top, p) for j, p in enumerate(artwork.images)
        ]
        artworks.append(artwork.model_copy(update={"images": images}))
        indexes.append(i)
    if not artworks:
        return None, []
    try:
        recognition = RecognitionConfig.model_validate(data.get("recognition", {}))
    except pydantic.ValidationError:
        recognition = RecognitionConfig()
    index_dir = _absolute(source, ("recognition", "index_dir"), top, Path(recognition.index_dir))
    try:
        config = ExhibitConfig(
            artworks=artworks, recognition=recognition.model_copy(update={"index_dir": index_dir})
        )
    except pydantic.ValidationError:  # more artworks than an exhibit may hold: reported as a problem
        return None, []
    config._source_file = top
    return config, indexes


def _absolute(source: SourceMap, loc: Loc, top: Path, path: Path) -> Path:
    """``path`` as the loader resolves it: relative to the file it was written in (``top``'s folder when it
    was not written)."""
    try:
        path = path.expanduser()
    except RuntimeError:  # ~user that does not exist: the file checks report it
        return path
    if path.is_absolute():
        return path
    base = source.file_for(loc).parent if tuple(loc) in source.nodes else top.parent
    return Path(os.path.normpath((base / path).absolute()))


def _at(source: SourceMap, loc: Loc, message: str) -> Problem:
    file, line, col = source.position(loc)
    return Problem(file, line, col, format_loc(loc), message)


def _placed(source: SourceMap, text: str) -> Problem:
    """A warning written ``field.path: message`` (:func:`unwritable_folders`), at that field."""
    field, _, message = text.partition(": ")
    if not message or not re.fullmatch(r"[\w.\[\]-]+", field):
        return Problem(source.root.file, None, None, "", text)
    loc = tuple(int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", field))
    file, line, col = source.position(loc)
    return Problem(file, line, col, field, message)


#: the fields whose failure `run` survives: an artwork's reference photos and its fixed audio file
_LEFT_OUT_BY_RUN = re.compile(r"^artworks\[\d+\]\.(images\[\d+\]|audio)$")
#: an art2mus generator's model directory and aligner: `run` starts and plays the generator's fallback
_MODEL_FIELD = re.compile(r"^generators\.[^.]+\.(model_dir|aligner)$")


def _left_out(problem: Problem) -> Problem:
    """``problem`` with what `run` does about it."""
    what = (
        "run starts without it: the artwork is left out of recognition and still plays from the control panel"
        if ".images[" in problem.field
        else "run starts without it: the artwork's soundscape is left out, the others play"
    )
    return Problem(problem.file, problem.line, problem.col, problem.field, f"{problem.message} ({what})")


def _as_json(problem: Problem) -> dict:
    return {
        "file": str(problem.file),
        "line": problem.line,
        "col": problem.col,
        "field": problem.field,
        "message": problem.message,
    }


@click.command("validate")
@click.argument("exhibit", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--schema", is_flag=True, help="Print the exhibit file's JSON Schema (for editor completion) and exit."
)
@click.option(
    "--no-files",
    is_flag=True,
    help="Skip checking that referenced images, audio, videos and token files exist and open "
    "(audio is read through for NaN or corrupt samples, token files for blank or non-UTF-8 text) "
    "and that each reference photo can be recognised (keypoints, duplicates across artworks, size).",
)
@click.option(
    "--as-run",
    is_flag=True,
    help="Check as `art2mus run` starts (the systemd unit's ExecStartPre): an artwork whose reference photos "
    "or fixed audio file fail is left out by the daemon and still plays the rest of the room, and an art2mus "
    "generator whose model directory or aligner cannot be used plays its fallback, so these are warnings "
    "here; only what the daemon refuses fails the check.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def command(exhibit: str | None, schema: bool, no_files: bool, as_run: bool, as_json: bool) -> None:
    """Check EXHIBIT (a YAML file) and print every problem with its file, line and column.

    Warnings (weak, small or look-alike reference photos, folders this user may not write) are printed
    with their file, line and column too, beside the problems: a photo's as soon as its artwork's entry
    is valid. Exits 0 and prints a short summary when the exhibit is valid, 1 when it has problems.
    Whatever the file holds (bad YAML, a device or pipe included, an alias bomb), the check ends in one
    of the two within bounded time and memory, so it can guard the daemon's start (ExecStartPre).
    """
    if schema:
        click.echo(json_schema_text(), nl=False)
        return
    if exhibit is None:
        raise click.UsageError("give an EXHIBIT file to check, or --schema")
    config, problems = validate_exhibit(exhibit, check_files=not no_files, check_photos=not no_files)
    left_out: list[Problem] = []
    if as_run and problems:  # what the daemon leaves out and plays on without
        left_out = [p for p in problems if _LEFT_OUT_BY_RUN.match(p.field)]
        if left_out or any(_MODEL_FIELD.match(p.field) for p in problems):
            config, problems = validate_exhibit(
                exhibit,
                check_files=not no_files,
                audio_may_fail=True,
                photos_may_fail=True,
                models_may_fail=True,
            )
            left_out = [_left_out(p) for p in left_out]  # the models' warnings: exhibit_warnings
    warnings = [] if no_files else left_out + exhibit_warnings(exhibit, config)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "exhibit": exhibit,
                    "valid": not problems,
                    "problems": [_as_json(p) for p in problems],
                    "warnings": [_as_json(w) for w in warnings],
                    "summary": dict(summary_rows(config)) if config is not None else None,
                }
            )
        )
        sys.exit(1 if problems else 0)
    for problem in problems:
        echo_problem(str(problem))
    for warning in warnings:
        echo_warning(f"warning: {warning}")
    if problems:
        echo_problem(f"{exhibit}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        sys.exit(1)
    assert config is not None
    click.echo(f"{exhibit}: valid")
    width = max(len(label) for label, _ in summary_rows(config))
    for label, text in summary_rows(config):
        click.echo(f"  {label:<{width}}  {text}")
