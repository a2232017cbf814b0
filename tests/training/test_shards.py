"""The training set's latents in safetensors shards, read a batch at a time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from art2mus.training.dataset import PairDataset
from art2mus.training.shards import ShardedTensor, shard_paths, write_shards


def test_rows_read_back_from_shards_equal_the_tensor(tmp_path):
    tensor = torch.randn(23, 2, 3, generator=torch.Generator().manual_seed(0))
    paths = write_shards(tensor, tmp_path, "latents", rows_per_shard=5)
    assert [p.name for p in paths] == [f"latents-0000{k}.safetensors" for k in range(5)]
    assert torch.equal(load_file(str(paths[1]))["latents"], tensor[5:10])  # a standard safetensors file
    sharded = ShardedTensor(shard_paths(tmp_path, "latents"), "latents")
    assert sharded.shape == tensor.shape and len(sharded) == 23
    index = torch.tensor([22, 0, 4, 5, 13, 4])  # across shards, repeated, unordered
    assert torch.equal(sharded[index], tensor[index])
    assert torch.equal(sharded[3:17:2], tensor[3:17:2]) and torch.equal(sharded[-1], tensor[-1])
    with pytest.raises(IndexError, match="row 23 out of range"):
        sharded[torch.tensor([23])]


def test_a_shard_that_is_not_one_names_its_file(tmp_path):
    write_shards(torch.zeros(4, 2), tmp_path, "latents", rows_per_shard=2)
    (tmp_path / "latents-00001.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(ValueError, match="latents-00001.safetensors: not a safetensors shard"):
        ShardedTensor(shard_paths(tmp_path, "latents"), "latents")


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)], ids=["022", "077"])
def test_a_saved_dataset_gets_the_writers_umask_like_any_file(tmp_path, umask, mask, mode):
    """safetensors' save_file makes 0600 files whatever the umask: a dataset a curator built as root was
    unreadable to the user who trains. Its shards and segment table get 0666 less the umask."""
    dataset = PairDataset(["a", "b"], torch.randn(2, 5), torch.randn(3, 2, 4), torch.tensor([0, 1, 1]), {})
    umask(mask)
    dataset.save(tmp_path)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert len(modes) == 4 and set(modes.values()) == {mode}, modes  # table, 2 shards, dataset.json


def test_a_dataset_saved_and_saved_again_where_it_was_read_keeps_its_latents(tmp_path):
    latents = torch.randn(7, 8, 4, 16)
    dataset = PairDataset(["a", "b"], torch.randn(2, 5), latents, torch.tensor([0, 0, 0, 1, 1, 1, 1]), {})
    dataset.save(tmp_path)
    back = PairDataset.load(tmp_path)
    assert isinstance(back.latents, ShardedTensor)
    back.save(tmp_path)  # resaving over its own shards
    assert torch.equal(PairDataset.load(tmp_path).latents[:], latents)


_RSS = """
import json, sys, torch
from art2mus.training.dataset import PairDataset
dataset = PairDataset.load(sys.argv[1])
g = torch.Generator().manual_seed(0)
for _ in range(2):  # two epochs of batches of 8, as the trainer reads them
    for batch in torch.randperm(len(dataset), generator=g).split(8):
        x = dataset.latents[batch]
# VmHWM, not ru_maxrss: that one keeps the parent's peak across fork and exec
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_kb": int(hwm.split()[1])}))
"""


@pytest.mark.slow
def test_resident_memory_does_not_grow_with_the_dataset(tmp_path):
    peaks = {}
    for segments in (500, 5000):  # 16 MB and 160 MB of latents
        folder = tmp_path / str(segments)
        PairDataset(
            [f"p{k}" for k in range(segments)],
            torch.randn(segments, 8),
            torch.randn(segments, 8, 32, 16),
            torch.arange(segments),
            {},
        ).save(folder)
        out = subprocess.run(
            [sys.executable, "-c", _RSS, str(folder)], capture_output=True, text=True, check=True
        )
        peaks[segments] = json.loads(out.stdout)["peak_kb"]
    # 144 MB more latents; the peak may differ by the noise of a Python process, not by the data
    assert peaks[5000] < peaks[500] * 1.10, peaks
