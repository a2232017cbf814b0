"""Aligner training steps per second on the CPU, one process vs ``accelerate launch`` with 2 processes, and
whether both end with the same weights; prints JSON.

A synthetic training set (random embeddings and latents at the debug networks' shapes: ``--segments``
1 s segments, one per pair) is trained with the debug networks for ``--epochs`` epochs at one global
batch (``--batch`` segments per optimiser step): one process at batch ``--batch`` (with 1 and with 2 torch
threads: the cores two processes get), then 2 processes launched by ``accelerate launch --multi_gpu
--num_processes 2`` (gloo, 1 thread each) at batch ``--batch / 2``. Steps per second are timed inside
training on the main process (first to last optimiser step: process start-up and model loading are
left out); the weights are compared with the 1-thread single process's, the speed with the faster
single-process run (on a loaded machine 2 threads can be far slower than 1: OpenMP threads spin waiting
for a core).

    .venv/bin/python benchmarks/bench_train_accelerate.py [--segments 64 --batch 8 --epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def worker(models: Path, data: Path, out: Path, batch: int, epochs: int) -> None:
    """One training run (one of the launched processes, or the only one); the main process writes
    ``out/timing.json``."""
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import PairDataset
    from art2mus.training.distributed import make_accelerator
    from art2mus.training.train_job import new_aligner
    from art2mus.training.trainer import TrainingConfig, train_aligner

    accelerator = make_accelerator("cpu")
    pipeline = Art2MusPipeline.from_model_dir(models, encoder="imagebind", device="cpu")
    pipeline.set_aligner(new_aligner(pipeline, 4, 0))
    stamps: list[float] = []
    config = TrainingConfig(
        epochs=epochs, batch_size=batch, lr=1e-3, warmup_steps=1, val_fraction=0.0, seed=0
    )
    train_aligner(
        pipeline,
        PairDataset.load(data),
        out,
        config,
        overwrite=True,
        progress=lambda step, total, loss: stamps.append(time.perf_counter()),
        accelerator=accelerator,
    )
    if accelerator.is_main_process:
        seconds = stamps[-1] - stamps[0]
        (out / "timing.json").write_text(
            json.dumps({"steps": len(stamps), "seconds": seconds, "steps_per_s": (len(stamps) - 1) / seconds})
        )


def _run(command: list[str], threads: int, home: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HOME": str(home)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="segments per optimiser step (even)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", nargs=5, metavar=("MODELS", "DATA", "OUT", "BATCH", "EPOCHS"))
    args = parser.parse_args()
    if args.worker:
        models, data, out, batch, epochs = args.worker
        worker(Path(models), Path(data), Path(out), int(batch), int(epochs))
        return
    from safetensors.torch import load_file

    from art2mus.models.debug import build_debug_model_dir
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import PairDataset

    me = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = build_debug_model_dir(root / "models", encoders=("imagebind",))
        spec = Art2MusPipeline.from_model_dir(models, encoder="imagebind", device="cpu").encoder.spec
        g = torch.Generator().manual_seed(0)
        n = args.segments
        PairDataset(
            [f"pair-{k}" for k in range(n)],
            torch.nn.functional.normalize(torch.randn(n, spec.dim, generator=g), dim=-1),
            torch.randn(n, 8, 25, 16, generator=g),
            torch.arange(n),
            {"encoder": {"name": spec.name, "dim": spec.dim}, "fingerprint": "synthetic"},
        ).save(root / "data")
        runs = {
            "1 process, 1 thread": (1, 1, args.batch),
            "1 process, 2 threads": (1, 2, args.batch),
            "2 processes (accelerate launch), 1 thread each": (2, 1, args.batch // 2),
        }
        rows = []
        for name, (processes, threads, batch) in runs.items():
            out = root / name.replace(" ", "_").replace(",", "")
            tail = ["--worker", str(models), str(root / "data"), str(out), str(batch), str(args.epochs)]
            if processes == 1:
                _run([sys.executable, me, *tail], threads, root / "hf")
            else:
                launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
                launch += [
                    "--num_processes",
                    str(processes),
                    "--num_machines",
                    "1",
                    "--mixed_precision",
                    "no",
                ]
                _run([*launch, "--dynamo_backend", "no", me, *tail], threads, root / "hf")
            timing = json.loads((out / "timing.json").read_text())
            rows.append(
                {"run": name, "batch_per_process": batch, **{k: round(v, 3) for k, v in timing.items()}}
            )
            rows[-1]["weights"] = load_file(str(out / "last" / "model.safetensors"))
        reference = rows[0].pop("weights")
        for row in rows:
            weights = row.pop("weights", reference)
            row["max_abs_weight_diff_vs_1_process"] = float(
                max((weights[k] - reference[k]).abs().max() for k in reference)
            )
    two, one = rows[2], max(rows[:2], key=lambda row: row["steps_per_s"])
    print(
        json.dumps(
            {
                "segments": args.segments,
                "global_batch": args.batch,
                "epochs": args.epochs,
                "cpu_cores": os.cpu_count(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "rows": rows,
                "speedup_2_processes_vs_faster_1_process": round(two["steps_per_s"] / one["steps_per_s"], 3),
                "weights_match_atol_1e-5": two["max_abs_weight_diff_vs_1_process"] <= 1e-5,
            }
        )
    )


if __name__ == "__main__":
    main()
