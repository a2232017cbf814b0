"""Full-size proof on a CPU: every network at its real size (random weights), one image through the chain.

Runs ``python -m art2mus.models.debug.full_size`` in a subprocess so that its peak resident memory
(``VmHWM``) is the chain's own, not the test session's. About two minutes and 4.5 GB on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: the chain must fit a 24 GB machine shared with other work: its largest stage (AudioLDM2-music's
#: 924 M float32 parameters, 3.4 GiB) plus activations and the interpreter must stay under this.
PEAK_RSS_LIMIT_MIB = 6 * 1024


@pytest.fixture(scope="module")
def report() -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "art2mus.models.debug.full_size", "--duration", "2", "--steps", "1"],
        capture_output=True,
        text=True,
        timeout=1800,  # a hang guard only; the chain takes ~2 min on 2 idle cores
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def _near(value: int, published: float, tolerance: float = 0.02) -> bool:
    return abs(value - published) <= tolerance * published


@pytest.mark.slow
def test_every_network_has_its_published_size(report):
    audioldm2 = report["stages"]["audioldm2_build"]["parameters"]
    # published sizes: AudioLDM2 paper (UNet 350 M), FLAN-T5-large's encoder, GPT-2 base,
    # CLAP HTSAT + RoBERTa (laion/clap-htsat-unfused), ImageBind huge's vision ViT-H (632 M) + audio ViT-B
    assert _near(audioldm2["unet"], 350e6)
    assert _near(audioldm2["text_encoder_2"], 341e6)
    assert _near(audioldm2["language_model"], 124e6)
    assert audioldm2["vae"] > 50e6 and audioldm2["vocoder"] > 50e6
    assert _near(report["stages"]["clap_text"]["parameters"], 153e6, 0.05)
    assert report["stages"]["imagebind_vision"]["parameters"] > 700e6


@pytest.mark.slow
def test_shapes_through_the_chain(report):
    stages = report["stages"]
    assert stages["imagebind_vision"]["embedding_shape"] == [1, 1024]
    assert stages["imagebind_vision"]["embedding_norm"] == pytest.approx(1.0, abs=1e-4)
    assert stages["clap_text"]["embedding_shape"] == [1, 512]
    generate = stages["audioldm2_generate"]
    assert generate["denoising_steps"] == 1
    assert generate["loa_shape"] == generate["negative_loa_shape"] == [1, 8, 768]
    assert generate["t5_shape"][0] == 1 and generate["t5_shape"][2] == 1024
    assert generate["latent_shape"] == [1, 8, 50, 16]  # 2 s = 200 mel frames / 4, 64 mel bins / 4
    assert generate["audio_shape"] == [1, 1, generate["expected_samples"]] == [1, 1, 32000]
    assert stages["imagebind_audio"]["embedding_shape"] == [1, 1024]


@pytest.mark.slow
def test_every_output_is_finite(report):
    assert report["finite"]
    for name, stage in report["stages"].items():
        assert stage.get("finite", True), name
    assert -1.0 <= report["stages"]["imagebind_audio"]["imagebind_score"] <= 1.0


@pytest.mark.slow
def test_peak_memory_fits_the_machine(report):
    weights_mib = 4 * sum(report["stages"]["audioldm2_build"]["parameters"].values()) / 2**20
    assert weights_mib < report["peak_rss_mib"] < PEAK_RSS_LIMIT_MIB


def test_imagebind_dimensions_are_upstream_imagebind_huge():
    """Our ImageBind huge arguments build exactly the tensors of upstream's ``imagebind_huge()`` (on the meta device)."""
    from accelerate import init_empty_weights

    from art2mus.models.debug.full_size import IMAGEBIND_HUGE_KWARGS
    from art2mus.models.encoders.imagebind import import_imagebind_model

    module = import_imagebind_model()
    with init_empty_weights():
        upstream = module.imagebind_huge(pretrained=False)
        ours = module.ImageBindModel(**IMAGEBIND_HUGE_KWARGS)
    shapes = {name: tuple(t.shape) for name, t in upstream.state_dict().items()}
    assert shapes == {name: tuple(t.shape) for name, t in ours.state_dict().items()}
    assert shapes["modality_heads.vision.2.weight"] == (1024, 1280)  # ViT-H width into the 1024-d joint space
