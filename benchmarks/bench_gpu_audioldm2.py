"""GPU benchmark: full-size AudioLDM2-music (random weights) under Art2MusPipeline, seconds per 10 s clip.

Builds every part from the real cvssp/audioldm2-music configs (``FULL_SIZE_CONFIGS`` in
``art2mus.models.debug.audioldm2``; speed does not depend on weight values) plus a 4-token aligner for
ImageBind-huge embeddings (1024-d), then times one 10 s clip from an image embedding (aligner -> GPT-2 LoA
-> UNet with T5 support prompt -> VAE -> HiFi-GAN) at 25/50/100 DDIM steps with classifier-free guidance,
in float16, and reports peak GPU memory. The image encoder is not included (see the encoder benchmarks).

``ms_per_step`` is the denoising loop alone: the pipeline's per-step progress callback timestamps every
step (after a device synchronise), and the time from the end of step 1 to the end of the last step is
divided by ``steps - 1``. The rest of the clip (aligner, GPT-2, T5, VAE, vocoder, and the first step with
its one-off costs) is ``other_seconds``.

Prints one JSON object. Without a CUDA device it prints ``{"skipped": "no CUDA", ...}`` and exits 0.

    python benchmarks/bench_gpu_audioldm2.py                    # on a GPU machine
    python benchmarks/bench_gpu_audioldm2.py --dry-run          # anywhere: build on the meta device, count
    python benchmarks/bench_gpu_audioldm2.py --allow-cpu --steps 2 3 --duration 1 --dtype float32   # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from art2mus.models.aligner import ImageAligner
from art2mus.models.debug.audioldm2 import FULL_SIZE_CONFIGS, full_size_audioldm2_components
from art2mus.models.pipeline import Art2MusPipeline

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def count_parameters() -> dict[str, int]:
    """Parameters per component of the full-size build (on the meta device: no memory, no time)."""
    components = full_size_audioldm2_components("meta", include_clap=True)
    counts = {
        name: int(sum(p.numel() for p in module.parameters()))
        for name, module in components.items()
        if isinstance(module, torch.nn.Module)
    }
    counts["total"] = sum(counts.values())
    counts["total_used_by_art2mus"] = counts["total"] - counts["text_encoder"]
    return counts


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_generation(pipe: Art2MusPipeline, device: torch.device, **kwargs) -> tuple[float, float, object]:
    """Run ``pipe(**kwargs)``; returns (seconds for the whole clip, ms per denoising step, the output).

    The per-step figure times the denoising loop alone, from the progress callback's timestamps (the
    device is synchronised before each): (end of last step - end of step 1) / (steps - 1). It needs at
    least 2 steps.
    """
    steps = int(kwargs["num_inference_steps"])
    if steps < 2:
        raise ValueError(f"timing a denoising step needs at least 2 steps, got {steps}")
    stamps: list[float] = []

    def on_step(step: int, total: int) -> None:
        _sync(device)
        stamps.append(time.perf_counter())

    _sync(device)
    start = time.perf_counter()
    out = pipe(progress=on_step, **kwargs)
    _sync(device)
    seconds = time.perf_counter() - start
    if len(stamps) != steps:
        raise RuntimeError(f"expected {steps} progress calls from the pipeline, got {len(stamps)}")
    return seconds, 1000.0 * (stamps[-1] - stamps[0]) / (steps - 1), out


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    t0 = time.perf_counter()
    components = full_size_audioldm2_components(device, dtype)
    aligner = ImageAligner("imagebind_huge", 1024, lm_dim=768, n_tokens=args.aligner_tokens)
    pipe = Art2MusPipeline(**components, aligner=aligner, max_duration_s=max(30.0, args.duration))
    pipe.to(device, dtype)
    _sync(device)
    build_s = time.perf_counter() - t0
    embedding = torch.nn.functional.normalize(
        torch.randn(1, 1024, generator=torch.Generator().manual_seed(0)), dim=-1
    )

    def generate(steps: int, duration: float) -> tuple[float, float, bool]:
        seconds, ms_per_step, out = timed_generation(
            pipe,
            device,
            embeddings=embedding,
            duration_s=duration,
            num_inference_steps=steps,
            guidance_scale=args.guidance_scale,
            scheduler=args.scheduler,
            seed=0,
        )
        return seconds, ms_per_step, bool(torch.isfinite(torch.from_numpy(out.audios)).all())

    generate(2, min(args.duration, 1.0))  # warm-up: kernels, cuDNN autotuning, allocator
    results = []
    for steps in args.steps:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times, step_times = [], []
        finite = True
        for _ in range(args.repeats):
            seconds, ms_per_step, ok = generate(steps, args.duration)
            times.append(seconds)
            step_times.append(ms_per_step)
            finite = finite and ok
        best = min(times)
        best_step = min(step_times)
        row = {
            "steps": steps,
            "seconds_per_clip": round(best, 3),
            "seconds_all_repeats": [round(t, 3) for t in times],
            "ms_per_step": round(best_step, 2),
            "other_seconds": round(best - best_step * steps / 1000, 3),
            "realtime_factor": round(args.duration / best, 2),
            "output_finite": finite,
        }
        if device.type == "cuda":
            row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    info = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "dtype": args.dtype,
        "clip_seconds": args.duration,
        "guidance_scale": args.guidance_scale,
        "scheduler": args.scheduler,
        "aligner_tokens": args.aligner_tokens,
        "build_seconds": round(build_s, 2),
        "results": results,
    }
    if device.type == "cuda":
        info["weights_memory_gib"] = round(
            sum(p.numel() * p.element_size() for m in pipe.frozen_modules().values() for p in m.parameters())
            / 2**30,
            3,
        )
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="only build on the meta device and count parameters"
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument("--duration", type=float, default=10.0, help="clip length, seconds")
    parser.add_argument("--guidance-scale", type=float, default=3.5)
    parser.add_argument("--scheduler", choices=["ddim", "dpmsolver++"], default="ddim")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float16")
    parser.add_argument("--aligner-tokens", type=int, default=4)
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per step count (the fastest is reported)"
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (smoke test)"
    )
    args = parser.parse_args(argv)

    report: dict = {"benchmark": "gpu_audioldm2", "model": "cvssp/audioldm2-music configs, random weights"}
    report["parameters"] = count_parameters()
    report["configs"] = {k: v for k, v in FULL_SIZE_CONFIGS.items() if k in ("unet", "vae", "vocoder")}
    if args.dry_run:
        report["dry_run"] = True
    elif not torch.cuda.is_available() and not args.allow_cpu:
        report["skipped"] = "no CUDA"
    else:
        if not torch.cuda.is_available():
            args.device = "cpu"
            if args.dtype != "float32":
                print("no CUDA: running the CPU smoke test in float32", file=sys.stderr)
                args.dtype = "float32"
        report.update(run(args))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
