"""Pairing a museum's artworks with music from its library in ImageBind's joint space.

:func:`assign_pairs` takes the image-by-track cosine matrix and gives each artwork its ``per_image``
best-scoring tracks, under a diversity rule: no track is given to more than ``max_per_track`` artworks,
so one bland track cannot take every painting. Candidates are taken greedily in descending score over the
whole matrix (the best-fitting pairs are fixed first), in rounds: every artwork gets its first track
before any gets a second. An artwork whose allowed tracks are all used up gets fewer (none: reported). Optional :class:`CuratorRules` (a small YAML, see ``exhibits/README.md``-style
example in the README) restrict the candidates: tags that must be shared, eras that must match, and
"never pair X with Y" globs.

:func:`write_manifest` writes the CSV ``art2mus train`` reads (``id,image,audio,score``, paths relative to
the CSV); :func:`write_report` an HTML page with each artwork's thumbnail, its track and score, and the
skipped files. :func:`read_v1_pairs` reads Art2Mus v1's pair list (``data/extra/image_audio_subset_df.json``:
``{"Image": {"0": file}, "Audio": {"0": path}}``, pandas' ``to_json``) against local ArtGraph and FMA
folders, so ArtSound-style pairs can be rebuilt.
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from art2mus.training.dataset import Pair, PairsError

#: bound on a curator rules file (it is a small hand-written YAML)
MAX_RULES_BYTES = 1_000_000


class Labels(pydantic.BaseModel):
    """Labels of the files whose name matches a glob."""

    model_config = pydantic.ConfigDict(extra="forbid")
    tags: list[str] = pydantic.Field(default_factory=list, description="Free labels; see CuratorRules.")
    era: str | None = pydantic.Field(default=None, description="A period name, e.g. 'baroque'.")


class NeverRule(pydantic.BaseModel):
    """Never pair an image matching ``image`` with a track matching ``music`` (globs on the file name)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    image: str = pydantic.Field(description="Glob on the artwork's file name, e.g. 'portrait-*'.")
    music: str = pydantic.Field(description="Glob on the track's file name, e.g. '*march*'.")


class CuratorRules(pydantic.BaseModel):
    """Curator rules for ``art2mus dataset build --rules``.

    ``images`` and ``music`` map globs (on file names) to :class:`Labels`. An artwork and a track that both
    have tags must share one; that both have an era must have the same one; a :class:`NeverRule` match is
    never paired. Files without labels are unrestricted.
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    images: dict[str, Labels] = pydantic.Field(default_factory=dict, description="glob -> labels")
    music: dict[str, Labels] = pydantic.Field(default_factory=dict, description="glob -> labels")
    never: list[NeverRule] = pydantic.Field(default_factory=list, description="forbidden combinations")

    @staticmethod
    def _labels(table: dict[str, Labels], name: str) -> tuple[set[str], str | None]:
        tags: set[str] = set()
        era = None
        for glob, labels in table.items():
            if fnmatch.fnmatch(name, glob):
                tags |= set(labels.tags)
                era = labels.era or era
        return tags, era

    def allowed(self, image: Path, track: Path) -> bool:
        """Whether the rules allow pairing ``image`` with ``track``."""
        image_tags, image_era = self._labels(self.images, image.name)
        track_tags, track_era = self._labels(self.music, track.name)
        if image_tags and track_tags and not image_tags & track_tags:
            return False
        if image_era and track_era and image_era != track_era:
            return False
        return not any(
            fnmatch.fnmatch(image.name, rule.image) and fnmatch.fnmatch(track.name, rule.music)
            for rule in self.never
        )

    @classmethod
    def load(cls, path: str | Path) -> CuratorRules:
        """Read a rules YAML; :class:`PairsError` names the file, the line and what was expected."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise PairsError(f"{path}: no such rules file")
        if path.stat().st_size > MAX_RULES_BYTES:
            raise PairsError(f"{path}: larger than {MAX_RULES_BYTES} bytes; a rules file is a small YAML")
        text = path.read_text(encoding="utf-8")
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise PairsError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
        try:
            return cls.model_validate(document)
        except pydantic.ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"])
                problems.append(f"{path}:{_line_of(text, error['loc'])}: {field}: {error['msg']}")
            raise PairsError("\n".join(problems)) from None


def _line_of(text: str, loc: tuple[Any, ...]) -> int:
    """The first line mentioning the deepest string key of ``loc`` (1 when none does)."""
    for key in reversed(loc):
        if isinstance(key, str):
            for number, line in enumerate(text.splitlines(), start=1):
                if key in line:
                    return number
    return 1


@dataclass(frozen=True)
class Assignment:
    """One chosen pair: indices into the image and track lists, and its cosine in ImageBind's space."""

    image: int
    track: int
    score: float


def assign_pairs(
    scores: np.ndarray,
    *,
    per_image: int = 1,
    max_per_track: int | None = None,
    allowed: np.ndarray | None = None,
) -> list[Assignment]:
    """Greedy top-k pairing under a per-track cap (see the module docstring).

    Args:
        scores: ``(images, tracks)`` cosine similarities.
        per_image: tracks per artwork (each a separate pair), at most the number of tracks.
        max_per_track: artworks per track at most; default ``ceil(images * per_image / tracks)``, the
            fewest that still lets every artwork be served.
        allowed: ``(images, tracks)`` booleans from the curator rules (``None``: all allowed).

    Returns:
        The pairs, ordered by image then by descending score.
    """
    n_images, n_tracks = scores.shape
    per_image = min(int(per_image), n_tracks)
    cap = max_per_track or math.ceil(n_images * per_image / max(1, n_tracks))
    order = np.argsort(-scores, axis=None, kind="stable")
    taken_by_image = np.zeros(n_images, dtype=int)
    taken_by_track = np.zeros(n_tracks, dtype=int)
    taken: set[tuple[int, int]] = set()
    chosen: list[Assignment] = []
    for round_ in range(1, per_image + 1):  # every artwork gets its k-th track before any gets its k+1-th
        for flat in order:
            i, t = divmod(int(flat), n_tracks)
            if taken_by_image[i] >= round_ or taken_by_track[t] >= cap or (i, t) in taken:
                continue
            if allowed is not None and not allowed[i, t]:
                continue
            chosen.append(Assignment(i, t, float(scores[i, t])))
            taken.add((i, t))
            taken_by_image[i] += 1
            taken_by_track[t] += 1
    return sorted(chosen, key=lambda a: (a.image, -a.score))


def _relative(path: Path, base: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), base.resolve())


def write_manifest(path: Path, rows: list[tuple[str, Path, Path, float | None]]) -> Path:
    """Write ``id,image,audio,score`` rows (paths relative to the manifest's folder), whole or not at all."""
    from art2mus.common.whole_files import write_whole

    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["id", "image", "audio", "score"])
    for pair_id, image, audio, score in rows:
        writer.writerow(
            [
                pair_id,
                _relative(image, path.parent),
                _relative(audio, path.parent),
                "" if score is None else f"{score:.6f}",
            ]
        )
    write_whole(path, text.getvalue().encode("utf-8"))
    return path


def _thumbnail(image: Path, size: int = 160) -> str:
    import cv2

    from art2mus.training.collection import read_rgb

    rgb = read_rgb(image)
    scale = size / max(rgb.shape[:2])
    small = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))))
    ok, png = cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode() if ok else ""


def write_report(
    path: Path,
    rows: list[tuple[str, Path, Path, float | None]],
    skipped: list[tuple[Path, str]],
    unpaired: list[Path],
    title: str = "art2mus dataset build",
) -> Path:
    """An HTML page: one row per pair (thumbnail, artwork, track, score), then what was left out."""
    cells = []
    for pair_id, image, audio, score in rows:
        cells.append(
            "<tr><td><img src='{src}' alt=''></td><td>{id}<br><small>{image}</small></td>"
            "<td>{audio}</td><td>{score}</td></tr>".format(
                src=_thumbnail(image),
                id=html.escape(pair_id),
                image=html.escape(str(image)),
                audio=html.escape(audio.name),
                score="-" if score is None else f"{score:+.4f}",
            )
        )
    left_out = [f"<li>{html.escape(str(p))}: {html.escape(reason)}</li>" for p, reason in skipped]
    left_out += [
        f"<li>{html.escape(str(p))}: no allowed track left (rules or diversity cap)</li>" for p in unpaired
    ]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}td{padding:4px 10px;vertical-align:middle}"
        "img{max-width:160px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{len(rows)} pairs; score: cosine in ImageBind's space.</p>"
        "<table><tr><th>artwork</th><th>id</th><th>track</th><th>score</th></tr>"
        + "".join(cells)
        + "</table>"
        + (f"<h2>Left out ({len(left_out)})</h2><ul>{''.join(left_out)}</ul>" if left_out else "")
        + "</body></html>\n"
    )
    from art2mus.common.whole_files import write_whole

    write_whole(path, page.encode("utf-8"))  # whole: a full disk left a truncated page beside the manifest
    return path


def _locate(root: Path, relative: str) -> Path | None:
    """``relative`` under ``root``, or its tail after the first folder(s) when the user's copy is
    mounted lower (v1 stores ``fma-dataset-100k-music-wav-files/fma_large/010/010425.mp3``)."""
    parts = Path(relative).parts
    for start in range(len(parts)):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    return None


def read_v1_pairs(path: str | Path, images: Path, music: Path) -> tuple[list[Pair], list[str]]:
    """Art2Mus v1's pair list against local folders: ``(pairs found, problems)``.

    Each problem names the file, the entry (``Image["12"]``) and the missing file; the caller decides
    whether a partial set is acceptable. Raises :class:`PairsError` when the file is not that format.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        image_col, audio_col = document["Image"], document["Audio"]
        keys = sorted(image_col, key=lambda k: int(k))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PairsError(
            f'{path}: not Art2Mus v1\'s pair list (expected {{"Image": {{"0": file, ...}}, "Audio": '
            f'{{"0": path, ...}}}}: {exc})'
        ) from None
    pairs, problems = [], []
    for key in keys:
        if key not in audio_col:
            problems.append(f'{path}: Image["{key}"] has no Audio["{key}"]')
            continue
        image = _locate(images, str(image_col[key]))
        audio = _locate(music, str(audio_col[key]))
        if image is None:
            problems.append(f'{path}: Image["{key}"]: {image_col[key]} not found under {images}')
        if audio is None:
            problems.append(f'{path}: Audio["{key}"]: {audio_col[key]} not found under {music}')
        if image is not None and audio is not None:
            pairs.append(Pair(f"v1-{key}", image, audio))
    return pairs, problems
