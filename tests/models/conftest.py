"""Shared fixtures for the model tests: one debug model directory per session, loaded through the real code.

The directory is written once by ``build_debug_model_dir`` (tiny AudioLDM2, debug ImageBind and CLIP,
random aligners) and every test that needs a model loads from it, so the loading code under test is the
one the gallery machine runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest


def painting(height: int, width: int, seed: int) -> np.ndarray:
    """A deterministic picture-like RGB uint8 image: smooth colour fields and a few discs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        a, b, c = rng.uniform(-1, 1, size=3)
        image[..., channel] = 127 + 100 * np.sin(a * xx / 30 + b * yy / 40 + c * 3)
    for _ in range(3):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(8, min(height, width) / 3)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.uniform(0, 255, size=3)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def artworks() -> list[np.ndarray]:
    """Three different artworks (different sizes and aspect ratios)."""
    return [painting(120, 160, 1), painting(200, 150, 2), painting(96, 96, 3)]


@pytest.fixture(scope="session")
def debug_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete tiny model directory (built once per session)."""
    from art2mus.models.debug import build_debug_model_dir

    return build_debug_model_dir(tmp_path_factory.mktemp("art2mus-models") / "models")


def load_debug_pipeline(model_dir: Path, aligner: str = "debug-imagebind-4tok", encoder: str = "imagebind"):
    from art2mus.models.pipeline import Art2MusPipeline

    return Art2MusPipeline.from_model_dir(model_dir, encoder=encoder, aligner=aligner)


@pytest.fixture(scope="session")
def debug_pipeline(debug_model_dir: Path):
    """The debug pipeline (debug ImageBind + 4-token aligner), shared: tests must not change its weights."""
    return load_debug_pipeline(debug_model_dir)


@pytest.fixture
def fresh_pipeline(debug_model_dir: Path):
    """A pipeline of its own, for tests that change weights."""
    return load_debug_pipeline(debug_model_dir)


@pytest.fixture(scope="session")
def tiny_encoder_class():
    """A minimal :class:`ImageEncoder` (colour statistics through a fixed random projection)."""
    import torch

    from art2mus.models.encoders.base import EncoderSpec, ImageEncoder

    class TinyImageEncoder(ImageEncoder):
        def __init__(self, name: str = "tiny", dim: int = 12, seed: int = 0) -> None:
            self.spec = EncoderSpec(name, dim)
            self.weight = torch.randn(48, dim, generator=torch.Generator().manual_seed(seed))

        def encode_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
            pooled = []
            for image in images:
                x = torch.from_numpy(np.ascontiguousarray(image)).float().permute(2, 0, 1)[None] / 255.0
                pooled.append(torch.nn.functional.adaptive_avg_pool2d(x, (4, 4)).reshape(-1))
            return torch.nn.functional.normalize(torch.stack(pooled) @ self.weight, dim=-1)

    return TinyImageEncoder


@pytest.fixture
def single_torch_thread():
    """Run a test with one torch thread, then restore the setting.

    The debug networks are so small that OpenMP threads only add synchronisation; on a busy 2-core machine
    two threads made one 2-step generation ~30x slower (2 s instead of 0.07 s).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
