"""Session-scoped debug encoders (built once, loaded through the real loaders) and test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _painting(height: int, width: int, seed: int) -> np.ndarray:
    """A deterministic picture-like RGB uint8 image: smooth colour gradients plus a few discs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        a, b, c = rng.uniform(-1, 1, size=3)
        image[..., channel] = 127 + 100 * np.sin(a * xx / 40 + b * yy / 50 + c * 3)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(10, min(height, width) / 3)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.uniform(0, 255, size=3)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def sample_images() -> list[np.ndarray]:
    """Five different images of different sizes (portrait, landscape, square, smaller than 224, odd)."""
    shapes = [(300, 200), (224, 224), (480, 640), (97, 150), (225, 331)]
    return [_painting(h, w, seed) for seed, (h, w) in enumerate(shapes)]


@pytest.fixture(scope="session")
def debug_imagebind_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from art2mus.models.debug.encoders import build_debug_imagebind

    return build_debug_imagebind(tmp_path_factory.mktemp("models") / "imagebind")


@pytest.fixture(scope="session")
def debug_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from art2mus.models.debug.encoders import build_debug_clip

    return build_debug_clip(tmp_path_factory.mktemp("models") / "clip-vit-large-patch14")


@pytest.fixture(scope="session")
def imagebind_encoder(debug_imagebind_dir: Path):
    from art2mus.models.encoders import load_image_encoder

    return load_image_encoder("imagebind", debug_imagebind_dir)


@pytest.fixture(scope="session")
def clip_encoder(debug_clip_dir: Path):
    from art2mus.models.encoders import load_image_encoder

    return load_image_encoder("clip", debug_clip_dir)


@pytest.fixture(scope="session")
def torch_encoders(imagebind_encoder, clip_encoder) -> dict:
    return {"imagebind": imagebind_encoder, "clip": clip_encoder}


@pytest.fixture(scope="session")
def onnx_export_dirs(torch_encoders: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each debug encoder exported once to ONNX (torch's dynamo exporter)."""
    from art2mus.models.encoders.onnx import export_onnx_encoder

    root = tmp_path_factory.mktemp("onnx")
    return {kind: export_onnx_encoder(encoder, root / kind) for kind, encoder in torch_encoders.items()}
