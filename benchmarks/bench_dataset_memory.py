"""Resident memory of reading a training set batch by batch, 1k vs 10k synthetic pairs; prints JSON.

Each size is a :class:`~art2mus.training.dataset.PairDataset` of random tensors at the debug networks'
shapes (a 1024-dim embedding per pair, one ``(8, 25, 16)`` latent per pair), saved (embeddings and latents
in shards), then read back in a fresh process for two epochs of shuffled batches of 8, as the trainer
reads it; the process's peak resident memory (VmHWM) is reported beside the latents' size on disk.

    .venv/bin/python benchmarks/bench_dataset_memory.py [--pairs 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

READER = """
import sys, torch
from art2mus.training.dataset import PairDataset
data = PairDataset.load(sys.argv[1])
order = torch.Generator().manual_seed(1)
for epoch in range(2):
    for batch in torch.randperm(len(data), generator=order).split(8):
        data.embeddings[data.segment_pair[batch]], data.latents[batch]
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmHWM"].split()[0]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    from art2mus.training.dataset import PairDataset

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pairs in args.pairs:
            folder = Path(tmp) / str(pairs)
            PairDataset(
                [f"pair-{k}" for k in range(pairs)],
                torch.randn(pairs, 1024),
                torch.randn(pairs, 8, 25, 16),
                torch.arange(pairs),
                {},
            ).save(folder)
            on_disk = sum(p.stat().st_size for p in folder.glob("latents-*.safetensors"))
            peak = subprocess.run(
                [sys.executable, "-c", READER, str(folder)], capture_output=True, text=True, check=True
            )
            rows.append(
                {
                    "pairs": pairs,
                    "latents_mb": round(on_disk / 1e6, 1),
                    "peak_rss_mb": round(int(peak.stdout) / 1024, 1),
                }
            )
    ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    print(json.dumps({"rows": rows, "peak_ratio": round(ratio, 3), "flat_within_10pct": ratio < 1.10}))


if __name__ == "__main__":
    main()
