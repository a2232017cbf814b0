"""Suite-wide test settings: GPU and real-weight tests are skipped unless the machine has them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_EXHIBIT = REPO / "exhibits" / "demo" / "exhibit.yaml"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_gpu = None
    model_dir = os.environ.get("ART2MUS_MODEL_DIR")
    for item in items:
        if "gpu" in item.keywords:
            has_gpu = _cuda_available() if has_gpu is None else has_gpu
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
        if "weights" in item.keywords and not (model_dir and Path(model_dir).is_dir()):
            item.add_marker(pytest.mark.skip(reason="needs real weights: set ART2MUS_MODEL_DIR to a model directory"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_exhibit_path() -> Path:
    return DEMO_EXHIBIT
