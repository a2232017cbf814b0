"""A big tensor as safetensors shard files, read a few rows at a time: the training set at ArtSound scale.

ArtSound's 105,884 pairs make tens of GB of VAE latents; held in memory they outgrow a training machine.
:func:`write_shards` stores a tensor's rows across ``NAME-00000.safetensors``, ``NAME-00001...`` (each
a standard safetensors file of one tensor, readable by any safetensors tool) and :class:`ShardedTensor`
answers ``tensor[indices]`` by reading just those rows from the files (positioned reads: no mapping of
the whole file, so the process's resident memory holds one batch, whatever the dataset's size; the OS
page cache keeps recently read rows warm).
"""

from __future__ import annotations

import bisect
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: safetensors dtype codes this reader understands
_DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F64": torch.float64,
    "I64": torch.int64,
}


def write_shards(tensor: Any, directory: str | Path, name: str, rows_per_shard: int = 1024) -> list[Path]:
    """Write ``tensor``'s rows (a tensor, or anything sliceable along its first axis with ``.shape``,
    such as a :class:`ShardedTensor`) into ``directory/name-NNNNN.safetensors``; the paths in order."""
    from art2mus.common.whole_files import save_tensors

    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    out = Path(directory)
    if (
        isinstance(tensor, ShardedTensor)
        and tensor.name == name
        and {p.parent for p in tensor.paths} == {out}
    ):
        return list(tensor.paths)  # saved where it was read from: already there
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{name}-*.safetensors"):
        stale.unlink()
    paths = []
    total = int(tensor.shape[0])
    for number, start in enumerate(range(0, max(total, 1), rows_per_shard)):
        path = out / f"{name}-{number:05d}.safetensors"
        save_tensors({name: tensor[start : start + rows_per_shard].contiguous()}, path)
        paths.append(path)
    return paths


#: the largest safetensors header read (bytes): a shard's holds one tensor, a piece's a few and its lists
MAX_HEADER_BYTES = 100_000_000


@dataclass(frozen=True)
class SafetensorsHeader:
    """What a safetensors file's header says.

    Attributes:
        tensors: name -> ``{"dtype", "shape", "data_offsets"}`` (offsets from ``data_start``).
        metadata: the text stored with the tensors (``__metadata__``; empty when there is none).
        data_start: byte offset of the data, after the header.
        complete: whether the file holds every byte the header names (False: cut off).
    """

    tensors: dict[str, Any]
    metadata: dict[str, str]
    data_start: int
    complete: bool


def read_header(path: str | Path) -> SafetensorsHeader:
    """The header of the safetensors file ``path``, without reading its data.

    Raises:
        ValueError: ``path`` cannot be read, or does not start with a safetensors header (the reason given).
    """
    try:
        with open(path, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > MAX_HEADER_BYTES:
                raise ValueError(f"a header of {size} bytes (at most {MAX_HEADER_BYTES})")
            header = json.loads(handle.read(size))
            length = os.fstat(handle.fileno()).st_size
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        end = max((int(entry["data_offsets"][1]) for entry in header.values()), default=0)
    except (OSError, struct.error, KeyError, TypeError, IndexError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return SafetensorsHeader(header, metadata, 8 + size, length >= 8 + size + end)


def shard_paths(directory: str | Path, name: str) -> list[Path]:
    """The shard files of ``name`` in ``directory``, in order (empty when there are none)."""
    return sorted(Path(directory).glob(f"{name}-[0-9][0-9][0-9][0-9][0-9].safetensors"))


class ShardedTensor:
    """Read-only rows of a tensor written by :func:`write_shards`, read from disk on each indexing.

    Supports ``shape``, ``dtype``, ``len()`` and indexing by an int, a slice, a list or a 1-D integer
    tensor (returning a new tensor of those rows).

    Raises:
        ValueError: a shard is not a safetensors file of one tensor named ``name``, or the shards disagree
            on row shape or dtype (the message names the file).
    """

    def __init__(self, paths: Sequence[str | Path], name: str):
        if not paths:
            raise ValueError(f"no shard files for {name!r}")
        self.paths = [Path(p) for p in paths]
        self.name = name
        self._files: list[int | None] = [None] * len(self.paths)
        self._starts: list[int] = []  # first global row of each shard
        self._offsets: list[int] = []  # byte offset of each shard's data
        rows, row_shape, dtype = 0, None, None
        for path in self.paths:
            shape, code, offset = self._header(path)
            if code not in _DTYPES:
                raise ValueError(f"{path}: dtype {code} is not one of {sorted(_DTYPES)}")
            if row_shape is None:
                row_shape, dtype = tuple(shape[1:]), code
            elif tuple(shape[1:]) != row_shape or code != dtype:
                raise ValueError(
                    f"{path}: rows of shape {tuple(shape[1:])} {code}, the first shard's are {row_shape} {dtype}"
                )
            self._starts.append(rows)
            self._offsets.append(offset)
            rows += int(shape[0])
        self.dtype = _DTYPES[dtype]
        self.row_shape = row_shape
        self.shape = torch.Size((rows, *row_shape))
        self._row_bytes = int(torch.Size(row_shape).numel()) * torch.empty(0, dtype=self.dtype).element_size()

    def _header(self, path: Path) -> tuple[list[int], str, int]:
        try:
            header = read_header(path)
            entry = header.tensors[self.name]
            begin, end = entry["data_offsets"]
            return list(entry["shape"]), entry["dtype"], header.data_start + int(begin)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a safetensors shard holding {self.name!r} ({exc})") from None

    def __len__(self) -> int:
        return int(self.shape[0])

    def _fd(self, shard: int) -> int:
        fd = self._files[shard]
        if fd is None:
            fd = self._files[shard] = os.open(self.paths[shard], os.O_RDONLY)
        return fd

    def _row(self, row: int) -> bytes:
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} out of range for {len(self)} rows")
        row %= len(self)
        shard = bisect.bisect_right(self._starts, row) - 1
        local = row - self._starts[shard]
        data = os.pread(self._fd(shard), self._row_bytes, self._offsets[shard] + local * self._row_bytes)
        if len(data) != self._row_bytes:
            raise ValueError(f"{self.paths[shard]}: truncated at row {local}")
        return data

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, int):
            rows, single = [index], True
        elif isinstance(index, slice):
            rows, single = list(range(*index.indices(len(self)))), False
        else:
            rows, single = torch.as_tensor(index).reshape(-1).tolist(), False
        buffer = bytearray(b"".join(self._row(int(r)) for r in rows))
        out = (
            torch.frombuffer(buffer, dtype=self.dtype).reshape(len(rows), *self.row_shape)
            if rows
            else torch.empty((0, *self.row_shape), dtype=self.dtype)
        )
        return out[0] if single else out

    def numpy(self) -> Any:
        """Every row, read into memory, as a numpy array (for the small ones: embeddings)."""
        return self[:].numpy()

    def close(self) -> None:
        for k, fd in enumerate(self._files):
            if fd is not None:
                os.close(fd)
                self._files[k] = None

    def __del__(self) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:  # file descriptors do not cross processes
        return {**self.__dict__, "_files": [None] * len(self.paths)}
