"""Image-encoder speed on the CPU: torch vs ONNX (onnxruntime), in milliseconds per image. Prints JSON.

Debug ImageBind and debug CLIP always; ``--huge`` adds a full-size ImageBind huge vision tower with
random weights (speed does not depend on the weight values; ~630 M parameters, ~2.5 GB for the
vision modality, a few GB more while exporting). Every run also reports the lowest torch-vs-ONNX
cosine similarity on the benchmark images.

    .venv/bin/python benchmarks/bench_encoders.py [--images 8] [--repeats 5] [--huge] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _images(count: int, seed: int = 0) -> list[np.ndarray]:
    """Picture-sized RGB uint8 images (640x480, as a camera frame), deterministic."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    images = []
    for _ in range(count):
        a, b, c = rng.uniform(-1, 1, size=3)
        base = 127 + 100 * np.sin(a * xx / 40 + b * yy / 50 + c)
        images.append(np.clip(np.stack([base, base[::-1], base[:, ::-1]], axis=-1), 0, 255).astype(np.uint8))
    return images


def _time_ms_per_image(function, images: list[np.ndarray], repeats: int) -> dict[str, float]:
    function(images[:1])  # warm-up: lazy initialisation, allocator, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(images)
        times.append(time.perf_counter() - start)
    per_image = [1000 * t / len(images) for t in times]
    return {
        "median_ms_per_image": round(statistics.median(per_image), 3),
        "min_ms_per_image": round(min(per_image), 3),
    }


def _bench(name: str, torch_encoder, work_dir: Path, images: list[np.ndarray], repeats: int) -> dict:
    from art2mus.models.encoders.onnx import OnnxImageEncoder, export_onnx_encoder

    # torch is timed before any onnxruntime session exists, so neither runtime's worker threads
    # compete with the other's on this small CPU.
    reference = torch_encoder.encode_images(images)
    torch_times = _time_ms_per_image(torch_encoder.encode_images, images, repeats)
    preprocess_times = _time_ms_per_image(torch_encoder.preprocessor, images, repeats)
    start = time.perf_counter()
    export_dir = export_onnx_encoder(torch_encoder, work_dir / f"onnx-{name}")
    export_s = time.perf_counter() - start
    onnx_encoder = OnnxImageEncoder.from_pretrained(export_dir, device="cpu")
    onnx_times = _time_ms_per_image(onnx_encoder.encode_images, images, repeats)
    cosine = (reference * onnx_encoder.encode_images(images)).sum(-1)
    return {
        "encoder": name,
        "spec": {"name": torch_encoder.spec.name, "dim": torch_encoder.spec.dim},
        "parameters": sum(p.numel() for p in torch_encoder.tower.parameters()),
        "images": len(images),
        "batch": torch_encoder.max_batch,
        "preprocess_only": preprocess_times,
        "torch": torch_times,
        "onnx": {**onnx_times, "provider": onnx_encoder.provider},
        "onnx_export_s": round(export_s, 2),
        "min_cosine_torch_vs_onnx": round(float(cosine.min()), 9),
    }


def _huge_imagebind(max_batch: int):
    """ImageBind huge's vision path with random weights (the other modalities are dropped)."""
    import torch

    from art2mus.models.encoders.base import EncoderSpec
    from art2mus.models.encoders.imagebind import (
        IMAGEBIND_HUGE_KWARGS,
        MODALITIES,
        ImageBindEncoder,
        import_imagebind_model,
    )

    torch.manual_seed(0)
    model = import_imagebind_model().ImageBindModel(**IMAGEBIND_HUGE_KWARGS)
    for modality in MODALITIES:
        if modality != "vision":
            for container in (
                model.modality_preprocessors,
                model.modality_trunks,
                model.modality_heads,
                model.modality_postprocessors,
            ):
                del container[modality]
    return ImageBindEncoder(
        model,
        EncoderSpec("imagebind_huge_random", IMAGEBIND_HUGE_KWARGS["out_embed_dim"]),
        max_batch=max_batch,
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8, help="images per timed call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per encoder")
    parser.add_argument(
        "--huge", action="store_true", help="also time a random-weight ImageBind huge vision tower"
    )
    parser.add_argument("--huge-images", type=int, default=4, help="images per timed call for --huge")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)

    import onnxruntime
    import torch

    from art2mus.models.debug.encoders import build_debug_clip, build_debug_imagebind
    from art2mus.models.encoders import load_image_encoder

    images = _images(args.images)
    load_before = os.getloadavg()[0]  # other processes on a 2-core machine skew timings: record them
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        work = Path(tmp)
        build_debug_imagebind(work / "imagebind")
        build_debug_clip(work / "clip")
        results.append(
            _bench(
                "imagebind_debug",
                load_image_encoder("imagebind", work / "imagebind"),
                work,
                images,
                args.repeats,
            )
        )
        results.append(
            _bench("clip_debug", load_image_encoder("clip", work / "clip"), work, images, args.repeats)
        )
        if args.huge:
            huge = _huge_imagebind(max_batch=args.huge_images)
            results.append(
                _bench(
                    "imagebind_huge_random",
                    huge,
                    work,
                    _images(args.huge_images, seed=1),
                    max(1, min(args.repeats, 2)),
                )
            )
    report = {
        "benchmark": "bench_encoders",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0],
            "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "image_size": [480, 640],
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
