"""The GPU benchmark's per-step timing, and the full-size model on a CUDA device (``-m gpu``).

The timing test runs everywhere on the debug pipeline; the ``gpu`` tests are skipped without CUDA.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu_audioldm2.py"


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("bench_gpu_audioldm2", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Stopwatch:
    """Sums the wall time spent inside a module's forward, via forward hooks."""

    def __init__(self, module) -> None:
        self.durations: list[float] = []
        self._start = 0.0
        self._handles = [
            module.register_forward_pre_hook(self._enter),
            module.register_forward_hook(self._leave),
        ]

    def _enter(self, *args) -> None:
        self._start = time.perf_counter()

    def _leave(self, *args) -> None:
        self.durations.append(time.perf_counter() - self._start)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def test_ms_per_step_times_the_denoising_loop_alone(debug_pipeline, single_torch_thread):
    import torch

    bench = _benchmark_module()
    steps = 3
    unet, decoders = (
        _Stopwatch(debug_pipeline.unet),
        [
            _Stopwatch(debug_pipeline.vae.decoder),
            _Stopwatch(debug_pipeline.vocoder),
        ],
    )
    try:
        seconds, ms_per_step, out = bench.timed_generation(
            debug_pipeline,
            torch.device("cpu"),
            embeddings=torch.nn.functional.normalize(
                torch.ones(1, debug_pipeline.aligner.encoder_spec.dim), dim=-1
            ),
            duration_s=2.0,
            num_inference_steps=steps,
            guidance_scale=3.5,
            seed=0,
        )
    finally:
        for watch in (unet, *decoders):
            watch.remove()
    assert len(unet.durations) == steps and all(len(watch.durations) == 1 for watch in decoders)
    decode_seconds = sum(watch.durations[0] for watch in decoders)
    # steps 2..N lie between the first and the last timestamp, each containing its UNet call...
    assert sum(unet.durations[1:]) * 1000 <= ms_per_step * (steps - 1)
    # ...and the loop excludes the first UNet call (before the first timestamp) and the VAE decoder and
    # the vocoder (after the last), which the clip's time includes: the three lie apart inside it. (Not
    # ms_per_step * steps: on a busy machine a stalled later step makes the mean exceed the first one.)
    loop_seconds = ms_per_step * (steps - 1) / 1000
    assert loop_seconds + unet.durations[0] + decode_seconds <= seconds
    assert np.isfinite(out.audios).all()


def test_timing_refuses_a_single_step(debug_pipeline):
    import torch

    with pytest.raises(ValueError, match="at least 2 steps"):
        _benchmark_module().timed_generation(
            debug_pipeline, torch.device("cpu"), embeddings=torch.ones(1, 40), num_inference_steps=1
        )


@pytest.mark.gpu
def test_full_size_clip_in_float16_on_cuda():
    import torch

    from art2mus.models.aligner import ImageAligner
    from art2mus.models.debug.audioldm2 import full_size_audioldm2_components
    from art2mus.models.pipeline import Art2MusPipeline

    device = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats(device)
    components = full_size_audioldm2_components(device, torch.float16)
    aligner = ImageAligner("imagebind_huge", 1024, lm_dim=768, n_tokens=4)
    pipe = Art2MusPipeline(**components, aligner=aligner)
    pipe.to(device, torch.float16)
    embedding = torch.nn.functional.normalize(
        torch.randn(1, 1024, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    seconds, ms_per_step, out = _benchmark_module().timed_generation(
        pipe, device, embeddings=embedding, duration_s=10.0, num_inference_steps=5, guidance_scale=3.5, seed=0
    )
    assert out.audios.shape == (1, 1, 160000)
    assert np.isfinite(out.audios).all()
    assert 0 < ms_per_step * 5 / 1000 < seconds
    # 924 M parameters in float16 are 1.7 GiB; a 10 s clip with guidance must stay far below a 16 GB card
    assert torch.cuda.max_memory_allocated(device) < 8 * 2**30


@pytest.mark.gpu
def test_benchmark_reports_ms_per_step_on_cuda():
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--steps", "2", "4", "--repeats", "1", "--duration", "2"],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert "skipped" not in report
    for row in report["results"]:
        assert row["output_finite"]
        assert 0 < row["ms_per_step"] * row["steps"] / 1000 < row["seconds_per_clip"]
        assert row["other_seconds"] > 0
        assert row["peak_memory_gib"] > 0
