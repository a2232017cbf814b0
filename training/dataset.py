"""Artwork-music pairs for aligner training (ArtSound-style) and the tensors computed from them once.

Pairs come from either

* a **manifest**: CSV with a header ``image,audio`` (optionally ``id``), or JSON lines
  ``{"image": ..., "audio": ..., "id": ...}``; paths relative to the manifest's folder; or
* an **exhibit** YAML whose artworks have a fixed ``audio:`` file (a curator's own pairs): the artwork's
  first reference photo with its music.

:func:`build_dataset` turns them into what training needs, computed once with the frozen networks:
the image encoder's embedding of each artwork ``(N, dim)`` and the VAE latents of each music segment
``(M, 8, frames/4, 16)``, each segment pointing at its pair. :class:`PairDataset` saves them as
safetensors files plus ``dataset.json`` (what was used to build it), embeddings and latents in shards that
training reads a batch at a time (:mod:`art2mus.training.shards`: resident memory does not grow with
the dataset), so epochs, resumed runs and a second aligner variant start in a second.

:func:`build_music_dataset` makes the same tensors from a music library alone (``art2mus train
--music-only``): each segment's ImageBind *audio* embedding paired with that segment's latents.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from art2mus.training import features
from art2mus.training.shards import ShardedTensor, shard_paths, write_shards

logger = logging.getLogger(__name__)

DATASET_FILE, TENSORS_FILE = "dataset.json", "tensors.safetensors"
#: music segments per latents shard file (about 32 MB each for 10 s segments)
LATENT_ROWS_PER_SHARD = 1024


class PairsError(ValueError):
    """A manifest or exhibit does not describe usable pairs; the message names the file and line."""


class NoSegmentsError(PairsError):
    """No track of a music-only dataset is long enough for one segment.

    Attributes:
        info: what the dataset's ``info`` would have said (its tracks, each skipped one with the reason),
            so a build in pieces keeps the tracks that gave nothing (:mod:`art2mus.training.extraction`).
    """

    def __init__(self, message: str, info: dict[str, Any] | None = None):
        super().__init__(message)
        self.info = info or {}

    @classmethod
    def for_tracks(cls, segment_s: float, info: dict[str, Any]) -> NoSegmentsError:
        """The error of a music-only build whose ``info`` lists only skipped tracks."""
        skipped = info.get("skipped", [])
        return cls(
            f"no track gives a {segment_s:g} s segment"
            + (f" ({len(skipped)} skipped, e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ""),
            info,
        )


def pair_generator(seed: int, index: int) -> torch.Generator:
    """The generator of pair ``index``'s VAE posterior samples: its own, so a pair's latents do not depend
    on which pairs were encoded before it (processes building slices give one process's features)."""
    state = np.random.SeedSequence([seed % 2**63, index]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


@dataclass(frozen=True)
class Pair:
    """One artwork with its music; ``origin``: where it was read (``pairs.csv:6``), for messages."""

    id: str
    image: Path
    audio: Path
    origin: str = field(default="", compare=False)

    def where(self) -> str:
        """The pair's place for a message: its ``origin``, else its id."""
        return self.origin or f"pair {self.id!r}"


def _check(pairs: list[Pair], where: Callable[[int], str], problems: list[str] | None = None) -> list[Pair]:
    """``pairs``, or :class:`PairsError` naming every problem at once: the rows' own (``problems``), files
    not found, ids used twice, and, once anything is wrong, every file that does not decode (so
    one run lists every bad entry, not one kind a run)."""
    problems = list(problems or [])
    seen: dict[str, int] = {}
    present: list[Pair] = []
    for k, pair in enumerate(pairs):
        missing = False
        for kind, path in (("image", pair.image), ("audio", pair.audio)):
            if not path.is_file():
                problems.append(f"{where(k)}: {kind} file {path} not found")
                missing = True
        if pair.id in seen:
            problems.append(f"{where(k)}: id {pair.id!r} is used twice (first at {where(seen[pair.id])})")
        seen.setdefault(pair.id, k)
        if not missing:
            present.append(pair)
    if problems:
        problems += undecodable_problems(present)
        raise PairsError("\n".join(problems))
    if not pairs:
        raise PairsError(f"{where(-1)}: no pairs")
    return pairs


def repeated_pairs(pairs: list[Pair]) -> list[str]:
    """A warning for each pair whose image and music (the same bytes, by whatever path or file name) an
    earlier pair already has, naming both places: a copy can be held out for validation while its twin
    trains, so the best epoch would be chosen on a pair seen in training. ``dataset build`` pairs a picture
    copied under another name with the same track, and warned; ``train`` on its manifest did not. Only
    files whose sizes could make such a pair are hashed."""
    import hashlib
    from collections import Counter

    sizes = {pair: (pair.image.stat().st_size, pair.audio.stat().st_size) for pair in pairs}
    alike = Counter(sizes.values())
    digests: dict[Path, str] = {}

    def content(path: Path) -> str:
        resolved = path.resolve()
        if resolved not in digests:
            with resolved.open("rb") as handle:
                digests[resolved] = hashlib.file_digest(handle, "sha256").hexdigest()
        return digests[resolved]

    first: dict[tuple[str, str], Pair] = {}
    warnings = []
    for pair in pairs:
        if alike[sizes[pair]] > 1:
            key = (content(pair.image), content(pair.audio))
        else:  # no other pair of these sizes: nothing to compare with
            key = (str(pair.image.resolve()), str(pair.audio.resolve()))
        earlier = first.setdefault(key, pair)
        if earlier is not pair:
            warnings.append(
                f"{pair.where()}: the same image and music as {earlier.where()} (a pair listed twice can be "
                "held out for validation while its copy trains): leave one out"
            )
    return warnings


def _row_problem(row: Any, fields: int | None = None) -> str | None:
    """What is wrong with one manifest row (a CSV row read against a header of ``fields`` columns, or a
    JSON object), or None: every problem is reported with its line, none read as a path."""
    if not isinstance(row, dict):
        return "expected a JSON object with image and audio"
    if fields is not None:
        if None in row:  # DictReader keeps the fields beyond the header under the key None
            return f"row has {fields + len(row[None])} fields, the header names {fields}"
        given = sum(value is not None for value in row.values())
        if given < fields:
            return f"row has {given} field{'s' if given != 1 else ''}, expected {fields} ({', '.join(row)})"
    for column in ("image", "audio"):
        value = row.get(column)
        if value is None or not str(value).strip():
            return f"the {column} field is empty" if column in row else f"no {column} field"
    score = row.get("score")
    if score is not None and str(score).strip():
        try:
            float(score)
        except (TypeError, ValueError):
            return f"score {score!r} is not a number"
    return None


def read_pairs(path: str | Path) -> list[Pair]:
    """The pairs a manifest (``.csv``, ``.jsonl``) or an exhibit (``.yaml``/``.yml``) describes.

    Raises:
        PairsError: listing every problem with its file and line (missing files, missing columns,
            duplicate ids, an exhibit without fixed audio files).
    """
    path = Path(path)
    if not path.is_file():
        raise PairsError(f"{path}: no such file (expected a .csv or .jsonl manifest, or an exhibit .yaml)")
    base = path.parent
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        from art2mus.installation.config import ExhibitError, load_exhibit

        try:
            exhibit = load_exhibit(path)
        except ExhibitError as exc:
            raise PairsError(str(exc)) from None
        pairs = [
            Pair(a.id, Path(a.images[0]), Path(a.audio)) for a in exhibit.artworks if a.audio is not None
        ]
        if not pairs:
            raise PairsError(f"{path}: no artwork has a fixed `audio:` file to pair its image with")
        pairs = [replace(pair, origin=f"{path} artworks[{pair.id}]") for pair in pairs]
        return _check(pairs, lambda k: f"{path} artworks[{pairs[k].id if k >= 0 else ''}]")
    pairs: list[Pair] = []
    lines: list[int] = []
    problems: list[str] = []
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"image", "audio"} - set(reader.fieldnames or [])
            if missing:
                raise PairsError(
                    f"{path}:1: the header needs the columns image and audio (missing: "
                    f"{', '.join(sorted(missing))})"
                )
            fields = len(reader.fieldnames or [])
            for row in reader:
                line = reader.line_num
                problem = _row_problem(row, fields)
                if problem:
                    problems.append(f"{path}:{line}: {problem}")
                    continue
                pairs.append(
                    Pair(row.get("id") or Path(row["image"]).stem, base / row["image"], base / row["audio"])
                )
                lines.append(line)
    elif suffix in (".jsonl", ".json"):
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                item = json.loads(text)
                problem = _row_problem(item)
                if problem:
                    problems.append(f"{path}:{line}: {problem}")
                    continue
                pairs.append(
                    Pair(
                        str(item.get("id") or Path(item["image"]).stem),
                        base / item["image"],
                        base / item["audio"],
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise PairsError(
                    f"{path}:{line}: expected a JSON object with image and audio ({exc})"
                ) from None
            lines.append(line)
    else:
        raise PairsError(
            f"{path}: unknown manifest type {suffix!r} (expected .csv, .jsonl or an exhibit .yaml)"
        )
    pairs = [replace(pair, origin=f"{path}:{line}") for pair, line in zip(pairs, lines, strict=True)]
    return _check(pairs, lambda k: f"{path}:{lines[k]}" if k >= 0 else str(path), problems)


@dataclass
class PairDataset:
    """Precomputed training tensors.

    Attributes:
        pair_ids: the pairs, in order.
        embeddings: float32 ``(len(pair_ids), dim)``, the encoder's embedding of each artwork.
        latents: float32 ``(segments, 8, frames/4, 16)``, scaled VAE latents of each music segment.
        segment_pair: int64 ``(segments,)``, the pair (index into ``pair_ids``) of each segment.
        info: what it was built from (encoder, segment length, files and their sizes, fingerprint).
    """

    pair_ids: list[str]
    embeddings: torch.Tensor
    latents: torch.Tensor
    segment_pair: torch.Tensor
    info: dict[str, Any]

    def __len__(self) -> int:
        return int(self.latents.shape[0])

    @property
    def modality(self) -> str:
        """What ``embeddings`` embed: ``image`` (artworks of pairs) or ``audio`` (music-only training)."""
        return str(self.info.get("modality", "image"))

    def save(self, directory: str | Path) -> Path:
        from art2mus.common.whole_files import save_tensors, write_whole

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        save_tensors({"segment_pair": self.segment_pair.contiguous()}, out / TENSORS_FILE)
        # the bulk, in shards read a batch at a time (art2mus.training.shards)
        write_shards(self.embeddings, out, "embeddings", rows_per_shard=LATENT_ROWS_PER_SHARD * 32)
        write_shards(self.latents, out, "latents", rows_per_shard=LATENT_ROWS_PER_SHARD)
        # last and whole: a build cut off while saving leaves no index naming half-written shards
        text = json.dumps({**self.info, "pair_ids": self.pair_ids}, indent=1) + "\n"
        write_whole(out / DATASET_FILE, text.encode())
        return out

    @classmethod
    def load(cls, directory: str | Path) -> PairDataset:
        from safetensors.torch import load_file

        folder = Path(directory)
        info = json.loads((folder / DATASET_FILE).read_text())
        tensors = load_file(str(folder / TENSORS_FILE))
        pair_ids = info.pop("pair_ids")
        # a dataset built by several processes names its parts' shards (art2mus.training.distributed)
        listed = info.pop("shards", None)

        def tensor(name: str) -> Any:
            paths = [folder / p for p in listed[name]] if listed else shard_paths(folder, name)
            # tensors in shards are read lazily; an older dataset holds them in TENSORS_FILE
            return ShardedTensor(paths, name) if paths else tensors[name]

        return cls(pair_ids, tensor("embeddings"), tensor("latents"), tensors["segment_pair"], info)

    def shard_files(self, name: str) -> list[Path]:
        """The shard files ``name`` (``embeddings`` or ``latents``) is read from (empty: in memory)."""
        source = getattr(self, name)
        return list(source.paths) if isinstance(source, ShardedTensor) else []

    def split(self, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
        """Segment indices ``(train, val)``, split by *pair* so no artwork is in both (at least one pair
        each when there are two or more; no validation with one pair)."""
        # music-only datasets have one "pair" per segment, grouped by track: split by track
        groups = self.info.get("pair_groups") or self.pair_ids
        names = sorted(set(groups))
        n = len(names)
        order = np.random.default_rng(seed).permutation(n)
        n_val = 0 if n < 2 or val_fraction <= 0 else min(n - 1, max(1, int(round(val_fraction * n))))
        val_groups = {names[i] for i in order[:n_val].tolist()}
        val_pairs = {k for k, g in enumerate(groups) if g in val_groups}
        seg = self.segment_pair.tolist()
        return (
            [i for i, p in enumerate(seg) if p not in val_pairs],
            [i for i, p in enumerate(seg) if p in val_pairs],
        )


def fingerprint(
    pairs: list[Pair],
    encoder_name: str,
    segment_s: float,
    max_segments: int | None,
    audio_norm: str = "none",
    seed: int = 0,
) -> str:
    """Changes whenever a file, the encoder, the segmenting or the audio normalisation changes (so a stale
    dataset is rebuilt)."""
    digest = hashlib.sha256(json.dumps([encoder_name, segment_s, max_segments]).encode())
    if (audio_norm, seed) != ("none", 0):  # datasets built before these options keep their fingerprint
        digest.update(json.dumps([audio_norm, seed]).encode())
    for pair in pairs:
        for path in (pair.image, pair.audio):
            stat = path.stat()
            digest.update(f"{pair.id}|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


@torch.no_grad()
def build_dataset(
    pairs: list[Pair],
    pipeline: Any,
    *,
    segment_s: float = 10.0,
    max_segments_per_pair: int | None = 6,
    progress: Callable[[int, int, str], None] | None = None,
    seed: int = 0,
    audio_norm: str = "none",
    first_index: int = 0,
) -> PairDataset:
    """Embed every artwork with ``pipeline.encoder`` and encode every music segment with ``pipeline.vae``.

    ``segment_s`` must be at most the length AudioLDM2 generates (10.24 s for the released model); each
    pair gives up to ``max_segments_per_pair`` segments, spread over its music. ``audio_norm`` (one of
    :data:`features.AUDIO_NORMS`) is applied to each segment before its mel spectrogram (``v1``: as
    Art2Mus v1 trained). ``seed`` seeds the VAE posterior samples, each pair's from its index
    (:func:`pair_generator`); ``first_index``: the index of ``pairs[0]`` in the whole set, when a process
    builds a slice of it.
    """
    import cv2

    from art2mus.training.aligner_step import mel_to_latents

    if pipeline.encoder is None:
        raise ValueError("building a dataset needs a pipeline loaded with an image encoder")
    frames = _segment_frames(pipeline, segment_s)
    features.normalize_audio(np.zeros(1, np.float32), audio_norm)  # a bad mode fails before any work
    refuse_short_music(pairs, segment_s)
    embeddings, latents, owner = [], [], []
    for k, pair in enumerate(pairs):
        bgr = cv2.imread(str(pair.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise PairsError(f"{pair.where()}: {pair.image}: not an image OpenCV can read")
        embeddings.append(
            pipeline.encoder.encode_images([cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)]).float().cpu()[0]
        )
        try:
            wave = features.load_audio_16k(str(pair.audio))
        except ValueError as exc:  # damaged within (the header was read): the row to fix
            raise PairsError(f"{pair.where()}: {exc}") from None
        pieces = features.segments(wave, segment_s, max_segments=max_segments_per_pair)
        if not pieces:
            raise PairsError(f"{pair.where()}: {pair.audio}: shorter than half a {segment_s} s segment")
        mel = torch.stack([features.log_mel(features.normalize_audio(p, audio_norm), frames) for p in pieces])
        latents.append(mel_to_latents(pipeline, mel, pair_generator(seed, first_index + k)).float().cpu())
        owner += [k] * len(pieces)
        if progress is not None:
            progress(k + 1, len(pairs), pair.id)
    encoder = pipeline.encoder.spec
    info = {
        "encoder": {"name": encoder.name, "dim": encoder.dim},
        "segment_s": segment_s,
        "max_segments_per_pair": max_segments_per_pair,
        "audio_norm": audio_norm,
        "modality": "image",
        "pairs": [{"id": p.id, "image": str(p.image), "audio": str(p.audio)} for p in pairs],
        "fingerprint": fingerprint(pairs, encoder.name, segment_s, max_segments_per_pair, audio_norm, seed),
    }
    return PairDataset(
        [p.id for p in pairs],
        torch.stack(embeddings),
        torch.cat(latents),
        torch.tensor(owner, dtype=torch.int64),
        info,
    )


#: ``art2mus train``'s music segment length unless ``--segment-seconds`` says otherwise (seconds)
DEFAULT_SEGMENT_S = 10.0


def short_music(paths: Iterable[Path], segment_s: float = DEFAULT_SEGMENT_S) -> dict[Path, float]:
    """Each of ``paths`` too short to give one ``segment_s`` segment (less than half of one, as
    :func:`features.segments` cuts), with its length in seconds, read from the file's header. A file whose
    header libsndfile cannot read is not listed (decoding it names the problem)."""
    import soundfile

    needed = 0.5 * round(segment_s * features.SAMPLE_RATE)
    short: dict[Path, float] = {}
    for path in dict.fromkeys(paths):
        try:
            info = soundfile.info(str(path))
        except (RuntimeError, OSError):
            continue
        if info.samplerate > 0 and info.frames * features.SAMPLE_RATE / info.samplerate + 1 < needed:
            short[path] = info.frames / info.samplerate
    return short


def _wav_header_frames(path: Path) -> int | None:
    """The frames a RIFF/WAVE file's ``data`` chunk announces (None: not such a file, or no such chunk)."""
    import struct

    with path.open("rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return None
        block_align = 0
        while len(chunk := handle.read(8)) == 8:
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                block_align = struct.unpack("<H", handle.read(16)[12:14])[0]
                handle.seek(size - 16 + size % 2, os.SEEK_CUR)
            elif name == b"data":
                return size // block_align if block_align else None
            else:
                handle.seek(size + size % 2, os.SEEK_CUR)
    return None


@contextlib.contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """Keep libsndfile's mp3 decoder's ``Note: Illegal Audio-MPEG-Header ...`` lines (written by C code to
    file descriptor 2) off the terminal while files are checked: each bad file is reported in a sentence."""
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to borrow (an embedding host): leave it be
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().decode(errors="replace").splitlines()
                if not line.startswith("Note: ")
            ]
            for line in kept:  # anything else the decoders said still shows
                print(line, file=sys.stderr)


def audio_problem(path: Path) -> str | None:
    """Why ``path`` (an existing file) is not audio (a phrase to follow its name) this build can use, or None: not decodable (a text file
    named .mp3), empty, truncated (frames read against the frames its header announces), damaged at its end."""
    import soundfile

    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as exc:
        # libsndfile says "File does not exist or is not a regular file" of an mp3 it cannot decode
        reason = str(exc).split(": ", 1)[-1].rstrip(".")
        if "does not exist" in reason:
            reason = "no audio stream libsndfile recognises"
        return f"exists but is not decodable audio ({reason})"
    announced = _wav_header_frames(path) if info.format == "WAV" else None
    if announced is not None and announced > info.frames and info.samplerate > 0:
        rate = info.samplerate
        return (
            f"is truncated: its header announces {announced / rate:.2f} s, the file holds "
            f"{info.frames / rate:.2f} s ({info.frames} of {announced} frames)"
        )
    if info.frames <= 0:
        return "holds no samples"
    from art2mus.training.collection import read_tail

    try:
        read_tail(path, info.frames)
    except (RuntimeError, OSError) as exc:
        return f"cannot be decoded to its end, truncated or corrupt ({exc})"
    return None


def refuse_undecodable(pairs: list[Pair]) -> None:
    """Every pair's image and music that cannot be decoded, named at once with its file and line and
    before any work: the build stopped at the first, so five bad files took five runs to find.

    Raises:
        PairsError: one line per bad file.
    """
    problems = undecodable_problems(pairs)
    if problems:
        raise PairsError("\n".join(problems))


def undecodable_problems(pairs: list[Pair]) -> list[str]:
    """A line for each image and track of ``pairs`` (existing files) that does not decode, with its pair's
    place (each track checked once)."""
    from art2mus.training.collection import read_rgb

    problems: list[str] = []
    audio_checked: dict[Path, str | None] = {}
    with native_stderr_quiet():
        for pair in pairs:
            try:
                read_rgb(pair.image)
            except (ValueError, OSError) as exc:
                problems.append(f"{pair.where()}: image file {pair.image}: {exc}")
            if pair.audio not in audio_checked:
                audio_checked[pair.audio] = audio_problem(pair.audio)
            if audio_checked[pair.audio]:
                problems.append(f"{pair.where()}: audio file {pair.audio} {audio_checked[pair.audio]}")
    return problems


def refuse_short_music(pairs: list[Pair], segment_s: float) -> None:
    """Every pair's music too short to give one segment, named at once and before any work: the build
    stopped at the first such pair, after embedding and encoding all those before it.

    Raises:
        PairsError: naming the first ten such files with their lengths.
    """
    short = short_music((pair.audio for pair in pairs), segment_s)
    if short:
        listed = ", ".join(f"{path} ({seconds:.1f} s)" for path, seconds in list(short.items())[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        raise PairsError(
            f"{len(short)} music file{'s' if len(short) != 1 else ''} of the pairs "
            f"{'are' if len(short) != 1 else 'is'} shorter than half a {segment_s:g} s segment "
            f"({segment_s / 2:g} s), too short to train on: {listed}{more}; leave "
            f"{'them' if len(short) != 1 else 'it'} out of the manifest, or train with a shorter --segment-seconds"
        )


def _segment_frames(pipeline: Any, segment_s: float) -> int:
    """Mel frames of one ``segment_s`` segment, a multiple of the VAE's scale factor."""
    frames = int(round(segment_s * features.SAMPLE_RATE)) // features.HOP // pipeline.vae_scale_factor
    frames *= pipeline.vae_scale_factor
    if frames < pipeline.vae_scale_factor:
        raise ValueError(f"segment_s {segment_s} is too short (at least {4 * features.HOP / 16000:.2f} s)")
    return frames


def common_folder(tracks: list[Path]) -> Path:
    """The folder a music-only dataset names its tracks relative to."""
    return Path(os.path.commonpath([str(t.parent) for t in tracks])) if tracks else Path()


def track_name(track: Path, root: Path) -> str:
    """A music-only dataset's name of ``track``: relative to ``root`` (:func:`common_folder`) when in it."""
    return str(track.relative_to(root)) if track.is_relative_to(root) else str(track)


@torch.no_grad()
def build_music_dataset(
    tracks: list[Path],
    pipeline: Any,
    *,
    segment_s: float = 10.0,
    max_segments_per_track: int | None = 6,
    progress: Callable[[int, int, str], None] | None = None,
    seed: int = 0,
    audio_norm: str = "none",
    first_index: int = 0,
    root: Path | None = None,
) -> PairDataset:
    """A music-only dataset: each segment of each track is its own example, embedded by ImageBind's
    *audio* encoder and encoded by the VAE (the target is the same segment). Validation is split by track.

    ``pipeline.encoder`` must embed audio (ImageBind). See :mod:`art2mus.training.modality_gap` for how
    images reach these embeddings at inference. ``first_index`` and ``root`` (the folder examples are
    named relative to; default: the tracks' common folder): for a process building a slice of the
    whole list, the index of ``tracks[0]`` in it and the whole list's common folder.

    Raises:
        NoSegmentsError: no track is long enough for one segment.
    """
    from art2mus.training.aligner_step import mel_to_latents

    encoder = pipeline.encoder
    if encoder is None or not hasattr(encoder, "encode_audio"):
        raise ValueError("music-only training needs the ImageBind encoder (it embeds audio and images)")
    frames = _segment_frames(pipeline, segment_s)
    features.normalize_audio(np.zeros(1, np.float32), audio_norm)
    if root is None:
        root = common_folder(tracks)
    ids, groups, embeddings, latents = [], [], [], []
    skipped: list[list[str]] = []
    for k, track in enumerate(tracks):
        try:
            wave = features.load_audio_16k(str(track))
            pieces = features.segments(wave, segment_s, max_segments=max_segments_per_track)
            if not pieces:
                raise ValueError(f"shorter than half a {segment_s:g} s segment")
        except ValueError as exc:  # damaged within (the scan reads its header and end) or too short
            logger.debug("skipping %s: %s", track, exc)  # listed in info["skipped"], which train prints
            skipped.append([str(track), str(exc)])
            continue
        name = track_name(track, root)
        embeddings.append(encoder.encode_audio(pieces, features.SAMPLE_RATE).float().cpu())
        mel = torch.stack([features.log_mel(features.normalize_audio(p, audio_norm), frames) for p in pieces])
        latents.append(mel_to_latents(pipeline, mel, pair_generator(seed, first_index + k)).float().cpu())
        ids += [f"{name}#{i}" for i in range(len(pieces))]
        groups += [name] * len(pieces)
        if progress is not None:
            progress(k + 1, len(tracks), name)
    pseudo = [Pair(str(t), t, t) for t in tracks]
    info = {
        "encoder": {"name": encoder.spec.name, "dim": encoder.spec.dim},
        "modality": "audio",
        "segment_s": segment_s,
        "max_segments_per_pair": max_segments_per_track,
        "audio_norm": audio_norm,
        "tracks": [str(t) for t in tracks],
        "pair_groups": groups,
        "skipped": skipped,
        "fingerprint": fingerprint(
            pseudo, f"audio:{encoder.spec.name}", segment_s, max_segments_per_track, audio_norm, seed
        ),
    }
    if not ids:
        raise NoSegmentsError.for_tracks(segment_s, info)
    return PairDataset(
        ids, torch.cat(embeddings), torch.cat(latents), torch.arange(len(ids), dtype=torch.int64), info
    )
