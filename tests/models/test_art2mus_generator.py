"""The ``art2mus`` generator backend on the debug model directory, built through the registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from art2mus.models.art2mus_generator import Art2MusGenerator, crossfade_loop, default_aligner
from art2mus.models.generator import GenerationRequest
from art2mus.models.loudness import integrated_loudness, true_peak_dbtp
from art2mus.models.model_dir import ModelDir
from art2mus.models.registry import create_generator

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def generator(debug_model_dir):
    return create_generator(
        "art2mus",
        {"model_dir": debug_model_dir, "aligner": "debug-imagebind-4tok", "device": "cpu", "steps": 2},
    )


def test_registry_builds_the_generator_on_the_cpu_in_float32(generator):
    assert isinstance(generator, Art2MusGenerator)
    assert str(generator.pipeline.device) == "cpu"
    assert str(generator.pipeline.dtype) == "torch.float32"  # float16 is for GPUs only


@pytest.mark.parametrize("duration_s, loop", [(1.0, False), (1.3, True), (0.25, True)])
def test_soundscape_length_rate_and_loudness(generator, artworks, duration_s, loop):
    request = GenerationRequest(duration_s=duration_s, seed=3, loop=loop, loudness_lufs=-20.0)
    sound = generator.generate(artworks[0], request)
    assert sound.sample_rate == 16000
    assert sound.waveform.dtype == np.float32 and sound.waveform.shape == (round(duration_s * 16000),)
    assert abs(integrated_loudness(sound.waveform, 16000) - (-20.0)) < 0.5
    assert true_peak_dbtp(sound.waveform, 16000) <= -1.0 + 1e-3
    assert sound.metadata["loop"] is loop and sound.metadata["encoder"] == "imagebind_debug"
    json.dumps(sound.metadata)  # the cache stores it as JSON


def test_same_request_same_audio_other_image_other_audio(generator, artworks):
    request = GenerationRequest(duration_s=0.5, seed=4, loop=False)
    a = generator.generate(artworks[0], request).waveform
    b = generator.generate(artworks[0], request).waveform
    c = generator.generate(artworks[1], request).waveform
    assert np.array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-3


def test_options_override_the_defaults_and_unknown_ones_are_refused(generator, artworks):
    request = GenerationRequest(
        duration_s=0.5, seed=4, options={"steps": 3, "prompt": "calm", "scheduler": "dpmsolver++"}
    )
    sound = generator.generate(artworks[0], request)
    assert (sound.metadata["steps"], sound.metadata["prompt"], sound.metadata["scheduler"]) == (
        3,
        "calm",
        "dpmsolver++",
    )
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['stpes'\]"):
        generator.generate(artworks[0], GenerationRequest(duration_s=0.5, options={"stpes": 3}))
    with pytest.raises(ValueError, match="num_inference_steps must be an integer from 1 to 1000, got 0"):
        generator.generate(artworks[0], GenerationRequest(duration_s=0.5, options={"steps": 0}))


def test_bad_settings_fail_at_start_up(debug_model_dir):
    with pytest.raises(ValueError, match="encoder must be one of"):
        Art2MusGenerator(model_dir=debug_model_dir, encoder="dino")
    with pytest.raises(ValueError, match="scheduler must be one of"):
        Art2MusGenerator(
            model_dir=debug_model_dir, aligner="debug-imagebind-1tok", device="cpu", scheduler="pndm"
        )


def test_loop_seam_flows_from_the_last_sample_into_the_first():
    rate, seam = 1000, 100
    t = np.arange(1100) / rate
    signal = np.sin(2 * np.pi * 7.3 * t).astype(np.float32)  # 7.3 Hz: not periodic over 1 s
    looped = crossfade_loop(signal, seam)
    assert looped.shape == (1000,)
    step = np.max(np.abs(np.diff(signal)))
    # the wrap-around step is as small as the signal's own steps; without the seam it would jump
    assert abs(float(looped[0]) - float(looped[-1])) <= step * 1.01
    assert abs(float(signal[999]) - float(signal[0])) > 10 * step
    np.testing.assert_allclose(looped[seam:], signal[seam:1000])


def test_default_aligner_picks_the_only_match_or_explains(debug_model_dir, tmp_path):
    from art2mus.models.encoders.base import EncoderSpec

    mdir = ModelDir(debug_model_dir)
    with pytest.raises(FileNotFoundError, match="several aligners fit encoder 'imagebind_debug'"):
        default_aligner(mdir, EncoderSpec("imagebind_debug", 40))
    with pytest.raises(FileNotFoundError, match="no aligner for encoder 'other'"):
        default_aligner(mdir, EncoderSpec("other", 40))
    single = ModelDir(tmp_path)
    (tmp_path / "aligners").mkdir()
    (tmp_path / "aligners" / "only").symlink_to(debug_model_dir / "aligners" / "debug-clip-1tok")
    assert default_aligner(single, EncoderSpec("clip-vit-h32-l2-patch32", 48)).name == "only"


def test_exhibit_generator_settings_build_the_backend(debug_model_dir, artworks):
    """The exhibit's `generators:` entry (type: art2mus) gives constructor keywords this backend accepts."""
    from art2mus.installation.config import Art2MusGeneratorConfig

    config = Art2MusGeneratorConfig(
        model_dir=debug_model_dir,
        aligner=debug_model_dir / "aligners" / "debug-imagebind-1tok",
        device="cpu",
        steps=2,
    )
    generator = create_generator("art2mus", config.settings())
    sound = generator.generate(artworks[2], GenerationRequest(duration_s=0.5, seed=1, loop=False))
    assert sound.waveform.shape == (8000,)
    assert sound.metadata["aligner"].endswith("debug-imagebind-1tok")
    assert config.support_prompt is None  # unset in the exhibit: the aligner's profile supplies it
    assert sound.metadata["profile"] == "art2mus-music"
    assert sound.metadata["support_prompt"] == "high quality music" and sound.metadata["steps"] == 2


def test_an_exhibit_renders_an_imported_v1_aligner_through_its_profile_or_the_one_it_names(
    debug_model_dir, artworks, tmp_path
):
    """`import-v1` + an exhibit pointing at the aligner: the art2mus-v1 profile and its defaults; `profile:` overrides."""
    import torch

    from art2mus.installation.config import Art2MusGeneratorConfig
    from art2mus.models.aligner import import_v1_aligner
    from art2mus.models.debug.audioldm2 import DEBUG_GPT2_DIM
    from art2mus.models.encoders import load_image_encoder

    spec = load_image_encoder("imagebind", debug_model_dir / "imagebind").spec
    torch.manual_seed(5)
    state = {
        "projection1.weight": torch.randn(2 * DEBUG_GPT2_DIM, spec.dim) * 0.1,
        "projection1.bias": torch.zeros(2 * DEBUG_GPT2_DIM),
        "projection2.weight": torch.randn(4 * DEBUG_GPT2_DIM, 2 * DEBUG_GPT2_DIM) * 0.1,
        "projection2.bias": torch.zeros(4 * DEBUG_GPT2_DIM),
    }
    torch.save(state, tmp_path / "v1.pt")
    folder = import_v1_aligner(
        tmp_path / "v1.pt", tmp_path / "aligners" / "v1", encoder_name=spec.name, lm_dim=DEBUG_GPT2_DIM
    )
    config = Art2MusGeneratorConfig(model_dir=debug_model_dir, aligner=folder, device="cpu", steps=2)
    generator = create_generator("art2mus", config.settings())
    assert generator.profile_name == "art2mus-v1"
    assert generator.defaults["num_waveforms"] == 3 and generator.defaults["support_prompt"].startswith(
        "Music"
    )
    sound = generator.generate(artworks[0], GenerationRequest(duration_s=0.5, seed=1, loop=False))
    assert sound.metadata["profile"] == "art2mus-v1" and sound.metadata["score"] is not None  # ranked
    assert sound.metadata["negative_prompt"] == "Low quality." and sound.metadata["steps"] == 2

    override = Art2MusGeneratorConfig(
        model_dir=debug_model_dir, aligner=folder, device="cpu", steps=2, profile="art2mus-music"
    )
    other = create_generator("art2mus", override.settings())
    assert other.profile_name == "art2mus-music" and other.defaults["num_waveforms"] == 1


def test_an_unset_model_dir_loads_from_art2mus_model_dir_in_render_and_exhibits(
    debug_model_dir, repo_root, tmp_path, monkeypatch
):
    """`render IMAGE --generator art2mus`, and an exhibit's art2mus generator that leaves out `model_dir`,
    load from $ART2MUS_MODEL_DIR (what the systemd unit sets), not from a folder `models` in the current one;
    a folder without the models is named in the error with where it came from."""
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    monkeypatch.chdir(tmp_path)
    image = repo_root / "exhibits/demo/artworks/amber-fields.png"
    env = {"ART2MUS_MODEL_DIR": str(debug_model_dir)}
    options = ["--aligner", "debug-imagebind-1tok", "--steps", "2", "--device", "cpu", "--duration", "0.5"]
    render = ["render", str(image), "-o", str(tmp_path / "image.wav"), "--generator", "art2mus", *options]
    result = CliRunner().invoke(main, render, env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "image.wav").is_file()

    exhibit = tmp_path / "room.yaml"
    aligner = debug_model_dir / "aligners" / "debug-imagebind-1tok"
    exhibit.write_text(
        f"""
artworks:
  - id: one
    images: [{image}]
    soundscape: {{generator: model, duration: 0.5}}
generators:
  procedural: {{type: procedural}}
  model: {{type: art2mus, aligner: {aligner}, steps: 2, device: cpu}}
cache: {{dir: {tmp_path / "cache"}}}
recognition: {{index_dir: {tmp_path / "index"}}}
"""
    )
    result = CliRunner().invoke(main, ["render", str(exhibit), "--artwork", "one", "-o", "one.wav"], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["validate", str(exhibit)], env=env)
    assert result.exit_code == 0, result.output

    empty = tmp_path / "no-weights"
    empty.mkdir()
    result = CliRunner().invoke(main, render, env={"ART2MUS_MODEL_DIR": str(empty)})
    assert result.exit_code != 0
    assert f"not installed in {empty} (from $ART2MUS_MODEL_DIR)" in result.output
    result = CliRunner().invoke(
        main, ["validate", str(exhibit)], env={"ART2MUS_MODEL_DIR": str(empty / "gone")}
    )
    assert result.exit_code != 0
    assert "generators.model.model_dir: folder not found" in result.output
    assert (
        "no-weights/gone (model_dir is unset: from $ART2MUS_MODEL_DIR)" in result.output
    )  # relative to here


def test_render_shows_the_denoising_on_a_terminal_and_not_in_a_log(
    debug_model_dir, tmp_path, repo_root, monkeypatch
):
    """`art2mus render --generator art2mus` printed nothing for minutes on a CPU; a bar on a terminal now
    counts the denoising steps of every segment. Piped (the journal), nothing is drawn."""
    import fcntl
    import io
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios
    import threading

    argv = [
        sys.executable, "-m", "art2mus.installation.cli", "render",
        str(repo_root / "exhibits/demo/artworks/amber-fields.png"), "-o", str(tmp_path / "x.wav"),
        "--generator", "art2mus", "--model-dir", str(debug_model_dir), "--aligner", "debug-imagebind-4tok",
        "--device", "cpu", "--steps", "3", "--duration", "12",
    ]  # fmt: skip
    from art2mus.models.art2mus_generator import denoising_bar

    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", io.StringIO())
        assert denoising_bar(6) is None  # a log (the journal, a pipe, a file): no redrawn bar
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    shown = bytearray()

    def read() -> None:  # while the child writes: a full terminal buffer would stop it
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end is closed: all read
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        child = subprocess.run(argv, stderr=terminal, stdout=subprocess.DEVNULL, env=env, timeout=300)
    finally:
        os.close(terminal)
        reader.join(timeout=30)
        os.close(main)
    assert child.returncode == 0
    # 12 s with a loop seam: two segments of AudioLDM2's 10.24 s, 3 steps each
    # (tqdm draws at most every 0.1 s: which counts show depends on the machine's speed, the total does not)
    assert b"art2mus: denoising" in shown and b"/6 [" in shown, bytes(shown[-2000:])
