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


@pytest.fixture
def umask():
    """Sets the process's umask for one test (as a shell or systemd's ``UMask=`` would), then restores it."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_exhibit_path() -> Path:
    return DEMO_EXHIBIT


@pytest.fixture
def daemon_under_systemd(tmp_path):
    """Start ``art2mus run`` on a one-artwork exhibit (amber fields, silent idle, null audio, no panel)
    with ``camera`` as its camera, the way systemd does: with NOTIFY_SOCKET (plus ``env``) pointing at a
    datagram socket this fixture reads. Returns ``start(camera, **env) -> (process, socket, exhibit)``;
    the socket has a 180 s timeout (the start renders first); processes left running are killed."""
    import socket
    import subprocess
    import sys

    import yaml

    started: list[tuple[subprocess.Popen, socket.socket]] = []

    def start(camera: dict, **env: str):
        demo = REPO / "exhibits/demo"
        spec = {
            "artworks": [
                {
                    "id": "amber-fields",
                    "images": [str(demo / "artworks/amber-fields.png")],
                    "soundscape": {"duration": 2},
                }
            ],
            "camera": camera,
            "idle": {"source": "silence"},
            "audio": {"output": {"type": "null"}},
            "cache": {"dir": str(tmp_path / "cache")},
            "recognition": {"index_dir": str(tmp_path / "index")},
            "control_panel": {"enabled": False},
        }
        exhibit = tmp_path / "exhibit.yaml"
        exhibit.write_text(yaml.safe_dump(spec))
        address = str(tmp_path / f"notify{len(started)}")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(address)
        notify.settimeout(180)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "art2mus.installation.cli", "run", str(exhibit)],
            env={**os.environ, "NOTIFY_SOCKET": address, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((daemon, notify))
        return daemon, notify, exhibit

    yield start
    for daemon, notify in started:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        notify.close()
