"""Feature extraction that survives an interrupt: the dataset's embeddings and latents written as they are
made, in durable pieces, so a Ctrl-C, a power cut or an OOM kill costs the last piece, not the whole set.

With real encoders (ImageBind huge, AudioLDM2's VAE) a museum's collection takes hours to extract.
:func:`extract_in_pieces` builds the items one at a time and, every :data:`PIECE_SECONDS` (or
:data:`PIECE_ITEMS` items), writes what it has as one piece: ``FOLDER/SSSSSSSS-EEEEEEEE.safetensors``
(items ``S`` to ``E - 1`` of the whole list) holding ``embeddings``, ``latents`` and ``segment_pair``
(pair indices within the piece), with the items' ids and the dataset info in the header's metadata.
A piece is written under a temporary name and renamed into place (:func:`~art2mus.common.whole_files.
save_tensors`), and one whose file is shorter than its header says (a power cut before the data reached
the disk) is made again, so a half-written piece is never read.

The folder is named by the whole set's fingerprint (:func:`pieces_folder`): a changed file, another
segment length or seed is other data, and its pieces are never used for it. Run again, the extraction
takes every piece already there and builds only the items no piece holds; each item's features do not
depend on the items built before it (its VAE noise is seeded by its own index), so the result equals an
uninterrupted extraction. Processes of ``accelerate launch`` each extract their slice into the same
folder (pieces are named by their items' indices in the whole list), so they continue the same way.
"""

from __future__ import annotations

import bisect
import json
import logging
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from art2mus.training.dataset import NoSegmentsError, PairDataset
from art2mus.training.distributed import PER_ITEM_INFO
from art2mus.training.interrupts import stopped_by
from art2mus.training.shards import ShardedTensor, read_header

logger = logging.getLogger(__name__)

PIECES_DIR = "pieces"
#: a piece is written once its items took this long (seconds): the work a kill (OOM, power cut) costs at
#: most, with the item in hand; an interrupt (Ctrl-C) writes the items it has first
PIECE_SECONDS = 30.0
#: items per piece at most (held in memory until written: up to ~200 MB of 10 s latents, 6 per pair)
PIECE_ITEMS = 256
#: the ``format`` a piece's metadata names; a piece of another format is made again
PIECE_FORMAT = "art2mus-extraction-piece/1"

#: builds the dataset of ``items[first_index:...]`` given as ``(part, first_index)``; raises
#: :class:`~art2mus.training.dataset.NoSegmentsError` when the part gives no segment
Build = Callable[[Sequence[Any], int], PairDataset]


class ExtractionInterrupted(KeyboardInterrupt):
    """An extraction stopped by an interrupt; its complete pieces are kept.

    Attributes:
        kept: items held by complete pieces (of every process).
        total: items of the whole set.
        folder: the pieces' folder.
        signum: the signal that stopped it (SIGINT for Ctrl-C, SIGTERM: :mod:`art2mus.training.interrupts`).
    """

    def __init__(self, kept: int, total: int, folder: Path, what: str = "pairs", signum: int = signal.SIGINT):
        self.kept, self.total, self.folder, self.signum = kept, total, folder, signum
        if kept:
            message = (
                f"{stopped_by(signum)} while extracting the dataset: {kept} of {total} {what} are kept in "
                f"{folder}; run the same command again to continue from there"
            )
        else:  # before the first piece: its folder may not even exist, so none is named
            message = (
                f"{stopped_by(signum)} while extracting the dataset, before the first of its {total} {what} "
                "was extracted: nothing is kept; run the same command again to start the extraction"
            )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def pieces_folder(data_dir: str | Path, fingerprint: str) -> Path:
    """Where the pieces of the dataset with ``fingerprint`` are written, under ``data_dir``."""
    return Path(data_dir) / PIECES_DIR / fingerprint


def clear_pieces(data_dir: str | Path, keep: Path | None = None) -> None:
    """Remove the pieces under ``data_dir`` (a finished dataset's, or other data's), all but ``keep``'s."""
    root = Path(data_dir) / PIECES_DIR
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
    if keep is None:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Piece:
    """One complete piece file: items ``start`` to ``end - 1`` of the whole list.

    Attributes:
        segments: rows of its ``latents`` (0: its items gave no segment; it holds no tensors).
        pair_ids: the ids of its examples, in order.
        info: its dataset info (settings, and the per-item lists of :data:`PER_ITEM_INFO`).
    """

    path: Path
    start: int
    end: int
    segments: int
    pair_ids: list[str]
    info: dict[str, Any]

    def segment_pair(self) -> torch.Tensor:
        """int64 ``(segments,)``: each segment's example, counted within the piece (read from the file)."""
        from safetensors import safe_open

        with safe_open(str(self.path), "pt") as handle:
            return handle.get_tensor("segment_pair")


def _piece_name(start: int, end: int) -> str:
    return f"{start:08d}-{end:08d}.safetensors"


def read_piece(path: Path, fingerprint: str) -> Piece | None:
    """The piece in ``path``; None when it is not one of ``fingerprint``'s data, or not whole (cut off,
    damaged: it is made again)."""
    try:
        start, end = (int(n) for n in path.name.removesuffix(".safetensors").split("-"))
        if not 0 <= start < end:
            raise ValueError(f"items {start} to {end}")
        header = read_header(path)
        meta = header.metadata
        if meta.get("format") != PIECE_FORMAT or meta.get("fingerprint") != fingerprint:
            return None  # other data's
        if not header.complete:
            raise ValueError("shorter than its header says")
        segments = int(header.tensors["latents"]["shape"][0]) if "latents" in header.tensors else 0
        return Piece(path, start, end, segments, json.loads(meta["pair_ids"]), json.loads(meta["info"]))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        logger.warning("not using %s: %s", path, exc)
        return None


def complete_pieces(folder: Path, fingerprint: str) -> list[Piece]:
    """Every whole piece of ``fingerprint`` in ``folder``, by start (longest first at one start)."""
    names = sorted(folder.glob("[0-9]*-[0-9]*.safetensors")) if folder.is_dir() else []
    pieces = [p for p in (read_piece(path, fingerprint) for path in names) if p is not None]
    return sorted(pieces, key=lambda p: (p.start, -p.end))


def kept_items(folder: Path, fingerprint: str) -> int:
    """How many items the whole pieces in ``folder`` hold (each counted once)."""
    covered: set[int] = set()
    for piece in complete_pieces(folder, fingerprint):
        covered.update(range(piece.start, piece.end))
    return len(covered)


def merge_info(infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The info of datasets built from consecutive items: the first's, its per-item lists concatenated."""
    merged = dict(infos[0])
    for key in PER_ITEM_INFO:
        if key in merged:
            merged[key] = [entry for info in infos for entry in info.get(key, [])]
    return merged


def _write_piece(
    folder: Path, start: int, built: list[PairDataset | dict[str, Any]], fingerprint: str
) -> Piece:
    """Write ``built`` (each item's dataset, or the info of an item that gave no segment) as the piece of
    items ``start`` to ``start + len(built) - 1``."""
    from art2mus.common.whole_files import save_tensors

    datasets = [b for b in built if isinstance(b, PairDataset)]
    pair_ids: list[str] = []
    owners = []
    for dataset in datasets:
        owners.append(dataset.segment_pair + len(pair_ids))
        pair_ids += dataset.pair_ids
    info = merge_info([b.info if isinstance(b, PairDataset) else b for b in built])
    tensors = {}
    if datasets:
        tensors = {
            "embeddings": torch.cat([d.embeddings for d in datasets]).contiguous(),
            "latents": torch.cat([d.latents for d in datasets]).contiguous(),
            "segment_pair": torch.cat(owners).contiguous(),
        }
    meta = {
        "format": PIECE_FORMAT,
        "fingerprint": fingerprint,
        "pair_ids": json.dumps(pair_ids),
        "info": json.dumps(info),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _piece_name(start, start + len(built))
    save_tensors(tensors, path, meta)
    segments = int(tensors["latents"].shape[0]) if tensors else 0
    return Piece(path, start, start + len(built), segments, pair_ids, info)


def extract_in_pieces(
    items: Sequence[Any],
    build: Build,
    folder: Path,
    fingerprint: str,
    *,
    first_index: int = 0,
    label: Callable[[Any], str] = str,
    progress: Callable[[int, int, str], None] | None = None,
    piece_seconds: float = PIECE_SECONDS,
    piece_items: int = PIECE_ITEMS,
    clock: Callable[[], float] = time.monotonic,
) -> PairDataset:
    """The dataset of ``items`` (items ``first_index`` on of the whole set with ``fingerprint``), each
    item built by ``build([item], index)``, taking the pieces already in ``folder`` and writing a piece
    of the others every ``piece_seconds`` (or ``piece_items`` items).

    ``progress(done, len(items), label(item))`` after each item built (``done`` counts the items pieces
    already held). Returns the dataset read lazily from the pieces (``info["fingerprint"]``:
    ``fingerprint``); :meth:`PairDataset.save` copies it into shards.

    Raises:
        NoSegmentsError: no item gave a segment (its ``info`` lists them).
        ValueError: ``piece_items`` below 1; whatever ``build`` raises for an item.
    """
    if piece_items < 1:
        raise ValueError(f"piece_items must be >= 1, got {piece_items}")
    end = first_index + len(items)
    # at each start the longest piece inside this slice (pieces of another slicing may cross its ends)
    found: dict[int, Piece] = {}
    for piece in complete_pieces(folder, fingerprint):
        if first_index <= piece.start and piece.end <= end:
            found.setdefault(piece.start, piece)
    starts = sorted(found)
    pieces: list[Piece] = []
    position = first_index
    while position < end:
        if position in found:
            pieces.append(found[position])
            position = found[position].end
            continue
        # build up to the next piece there is (or the slice's end), a piece at a time
        following = bisect.bisect_right(starts, position)
        stop = starts[following] if following < len(starts) else end
        began, built = clock(), []
        try:
            while (
                position < stop
                and len(built) < piece_items
                and (not built or clock() - began < piece_seconds)
            ):
                item = items[position - first_index]
                try:
                    built.append(build([item], position))
                except NoSegmentsError as exc:  # kept: its track is listed among the skipped
                    built.append(exc.info)
                position += 1
                if progress is not None:
                    progress(position - first_index, len(items), label(item))
        finally:  # an interrupt or a bad file keeps the items built before it
            if built:
                pieces.append(_write_piece(folder, position - len(built), built, fingerprint))
    return _assemble(pieces, fingerprint)


def _assemble(pieces: list[Piece], fingerprint: str) -> PairDataset:
    """The dataset of consecutive ``pieces``, its tensors read from their files."""
    info = {**merge_info([p.info for p in pieces]), "fingerprint": fingerprint}
    with_rows = [p for p in pieces if p.segments]
    if not with_rows:
        raise NoSegmentsError.for_tracks(float(info.get("segment_s", 0.0)), info)
    pair_ids: list[str] = []
    owners = []
    for piece in pieces:
        if piece.segments:
            owners.append(piece.segment_pair() + len(pair_ids))
        pair_ids += piece.pair_ids
    paths = [p.path for p in with_rows]
    return PairDataset(
        pair_ids,
        ShardedTensor(paths, "embeddings"),
        ShardedTensor(paths, "latents"),
        torch.cat(owners),
        info,
    )
