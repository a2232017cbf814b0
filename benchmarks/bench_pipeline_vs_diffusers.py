"""Our Art2MusPipeline against diffusers' AudioLDM2Pipeline: same components, same embeddings, same seed.

Both pipelines load the same debug AudioLDM2 folder; the LoA / T5 embeddings (and the cached negatives)
are computed once by our pipeline from an image and handed to both, so the two runs do the same work:
denoising loop with classifier-free guidance, VAE decode, vocoder. Reports whether the waveforms are
identical and the ratio of our total time to theirs over interleaved runs (target <= 1.05). The verdict
uses the fastest run of each (as ``timeit`` advises: slower runs measure other load on the machine, not
the code); the median ratio is reported beside it.

    python benchmarks/bench_pipeline_vs_diffusers.py                      # builds a debug model dir in /tmp
    python benchmarks/bench_pipeline_vs_diffusers.py --duration 5 --steps 20 --repeats 9 --threads 1

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:160, 0:200].astype(np.float32)
    image = np.stack(
        [127 + 100 * np.sin(rng.uniform(-1, 1) * xx / 30 + rng.uniform(-1, 1) * yy / 40) for _ in range(3)],
        -1,
    )
    return np.clip(image, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="a model directory (default: build a debug one)"
    )
    parser.add_argument("--aligner", default="debug-imagebind-4tok")
    parser.add_argument("--encoder", default="imagebind")
    parser.add_argument("--duration", type=float, default=2.0, help="clip length, seconds")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--guidance-scale", type=float, default=3.5)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per pipeline (interleaved)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from diffusers import AudioLDM2Pipeline

    from art2mus.models.pipeline import Art2MusPipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = None
    model_dir = args.model_dir
    if model_dir is None:
        from art2mus.models.debug import build_debug_model_dir

        tmp = tempfile.TemporaryDirectory(prefix="art2mus-bench-")
        model_dir = build_debug_model_dir(Path(tmp.name) / "models", encoders=(args.encoder,))

    ours = Art2MusPipeline.from_model_dir(
        model_dir, encoder=args.encoder, aligner=args.aligner, device=args.device
    )
    theirs = AudioLDM2Pipeline.from_pretrained(model_dir / "audioldm2-music", local_files_only=True).to(
        args.device
    )
    theirs.set_progress_bar_config(disable=True)
    with torch.no_grad():
        cond = ours.encode_conditioning(images=[_image()], guidance=args.guidance_scale > 1)

    def run_ours() -> np.ndarray:
        return ours(
            conditioning=cond,
            duration_s=args.duration,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            seed=0,
        ).audios.reshape(1, -1)

    negatives = {}
    if args.guidance_scale > 1:
        negatives = {
            "negative_prompt_embeds": cond.negative_t5_embeds,
            "negative_attention_mask": cond.negative_t5_mask,
            "negative_generated_prompt_embeds": cond.negative_loa_embeds,
        }

    def run_theirs() -> np.ndarray:
        return theirs(
            prompt_embeds=cond.t5_embeds,
            attention_mask=cond.t5_mask,
            generated_prompt_embeds=cond.loa_embeds,
            audio_length_in_s=args.duration,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(0),
            **negatives,
        ).audios

    def timed(fn):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start, cpu_start = time.perf_counter(), time.process_time()
        out = fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start, time.process_time() - cpu_start, out

    a, b = run_ours(), run_theirs()  # warm-up, and the identity check
    identical = bool(np.array_equal(a, b))
    times: dict[str, list[float]] = {"ours": [], "diffusers": []}
    cpu_times: dict[str, list[float]] = {"ours": [], "diffusers": []}
    for r in range(args.repeats):
        order = [("ours", run_ours), ("diffusers", run_theirs)]
        for name, fn in order if r % 2 == 0 else order[::-1]:  # alternate who goes first
            seconds, cpu_seconds, _ = timed(fn)
            times[name].append(seconds)
            cpu_times[name].append(cpu_seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu_times.items()}
    report = {
        "benchmark": "pipeline_vs_diffusers",
        "model_dir": str(model_dir),
        "device": args.device,
        "threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "clip_seconds": args.duration,
        "steps": args.steps,
        "guidance_scale": args.guidance_scale,
        "samples": int(a.shape[-1]),
        "identical_waveform": identical,
        "max_abs_difference": float(np.max(np.abs(a - b))),
        "seconds_median": {k: round(v, 4) for k, v in med.items()},
        "seconds_min": {k: round(v, 4) for k, v in best.items()},
        "seconds_all": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "ratio_median": round(med["ours"] / med["diffusers"], 4),
        "ratio_min": round(best["ours"] / best["diffusers"], 4),
        # CPU time of this process: on a shared CPU it does not count time spent waiting for other processes
        "cpu_seconds_median": {k: round(v, 4) for k, v in cpu_med.items()},
        "cpu_ratio_median": round(cpu_med["ours"] / cpu_med["diffusers"], 4),
    }
    report["within_1_05"] = report["ratio_min"] <= 1.05
    print(json.dumps(report, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
