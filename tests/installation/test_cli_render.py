"""``art2mus render``: images and exhibits to WAV (and spectrograms), option plumbing, clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.generator import GenerationRequest, Generator, Soundscape
from art2mus.models.loudness import integrated_loudness, true_peak_dbtp
from art2mus.models.procedural import ProceduralGenerator
from art2mus.models.registry import GENERATOR_BACKENDS, GeneratorBackend


@dataclasses.dataclass(frozen=True)
class _InlineBackend(GeneratorBackend):
    """A backend whose class is given directly (no import path), for a replaced backends table."""

    cls: type | None = None

    def load_class(self) -> type[Generator]:
        return self.cls


class RecordingGenerator(Generator):
    """Stands in for the Art2Mus model: records its settings and requests, returns a quiet tone."""

    name = "art2mus"
    created: list[dict] = []
    requests: list[GenerationRequest] = []

    def __init__(self, **settings):
        RecordingGenerator.created.append(settings)

    def generate(self, image, request):
        RecordingGenerator.requests.append(request)
        t = np.arange(int(request.duration_s * 16000)) / 16000
        return Soundscape(waveform=(0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sample_rate=16000)


@pytest.fixture
def backends():
    RecordingGenerator.created.clear()
    RecordingGenerator.requests.clear()
    table = dict(GENERATOR_BACKENDS)
    table["art2mus"] = _InlineBackend(
        name="art2mus", target="-", licence="test", extras=(), description="recording stand-in", cls=RecordingGenerator
    )
    return table


def _run(args, backends=None):
    obj = {"generator_backends": backends} if backends is not None else None
    return CliRunner().invoke(main, ["render", *[str(a) for a in args]], obj=obj)


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    out = {}
    warm = np.zeros((120, 160, 3), np.uint8)
    warm[:] = (40, 120, 230)  # BGR: orange
    cool = np.zeros((120, 160, 3), np.uint8)
    cool[:] = (200, 90, 30)  # BGR: blue
    cv2.line(cool, (0, 0), (159, 119), (255, 255, 255), 3)
    for name, image in (("warm", warm), ("cool", cool)):
        out[name] = tmp_path / f"{name}.png"
        cv2.imwrite(str(out[name]), image)
    return out


@pytest.fixture
def exhibit(tmp_path, images) -> Path:
    path = tmp_path / "room.yaml"
    path.write_text(
        """
version: 1
collection: {name: Test room}
artworks:
  - id: warm-one
    title: A Warm One
    images: [warm.png]
    soundscape: {seed: 5, duration: 2}
  - id: cool-one
    images: [cool.png]
    soundscape: {generator: low-rate, seed: 1, duration: 1.5}
audio: {loudness_lufs: -20}
generators:
  procedural: {type: procedural, sample_rate: 48000}
  low-rate: {type: procedural, sample_rate: 24000}
  model: {type: art2mus, model_dir: models, steps: 20, device: cpu}
"""
    )
    return path


def test_render_an_image(tmp_path, images):
    out = tmp_path / "out" / "warm.wav"
    result = _run([images["warm"], "-o", out, "--duration", 2, "--seed", 3, "--format", "float"])
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(out, dtype="float32")
    assert rate == 48000 and audio.shape == (96000, 2)
    assert "2.00 s, 48000 Hz, 2 ch, -23.0 LUFS" in result.output and "dBTP" in result.output
    # The file holds exactly what the generator makes for that image, seed and duration.
    rgb = cv2.cvtColor(cv2.imread(str(images["warm"])), cv2.COLOR_BGR2RGB)
    expected = ProceduralGenerator().generate(rgb, GenerationRequest(duration_s=2, seed=3)).waveform
    assert np.array_equal(audio, expected)


def test_loudness_option_and_pcm24(tmp_path, images):
    out = tmp_path / "loud.wav"
    result = _run([images["cool"], "-o", out, "--duration", 2, "--loudness", -16])
    assert result.exit_code == 0, result.output
    info = soundfile.info(str(out))
    assert info.subtype == "PCM_24"
    audio, rate = soundfile.read(out)
    assert integrated_loudness(audio, rate) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_dbtp(audio, rate) <= -1.0


def test_render_one_artwork_of_an_exhibit(tmp_path, exhibit):
    out = tmp_path / "cool.wav"
    result = _run([exhibit, "--artwork", "cool-one", "-o", out])
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(out)
    # The artwork's soundscape settings and its generator's settings from the exhibit.
    assert rate == 24000 and audio.shape == (36000, 2)
    assert integrated_loudness(audio, rate) == pytest.approx(-20.0, abs=0.5)
    assert "the room plays it" not in result.output  # no gain_db: the file's level is the room's
    exhibit.write_text(exhibit.read_text().replace("seed: 1, duration: 1.5}", "seed: 1, duration: 1.5, gain_db: -4.5}"))
    quieter = _run([exhibit, "--artwork", "cool-one", "-o", out])
    assert quieter.exit_code == 0 and "LUFS" in quieter.output, quieter.output
    assert quieter.output.rstrip().endswith("; the room plays it at -4.5 dB (soundscape.gain_db)")


def test_render_all_with_spectrograms(tmp_path, exhibit):
    out_dir = tmp_path / "renders"
    result = _run([exhibit, "--all", "--out-dir", out_dir, "--spectrogram", "--duration", 1.5])
    assert result.exit_code == 0, result.output
    for artwork in ("warm-one", "cool-one"):
        assert soundfile.info(str(out_dir / f"{artwork}.wav")).duration == pytest.approx(1.5)
        picture = cv2.imread(str(out_dir / f"{artwork}.png"))
        assert picture is not None and picture.shape[0] > 200 and picture.shape[1] > 400
        assert picture.std() > 10  # an actual plot, not a blank image
    assert result.output.count("LUFS") == 2


def test_art2mus_options_reach_the_generator(tmp_path, images, backends):
    model_dir = tmp_path / "weights"
    result = _run(
        [images["warm"], "-o", tmp_path / "m.wav", "--generator", "art2mus", "--model-dir", model_dir,
         "--steps", 7, "--guidance-scale", 2.5, "--scheduler", "dpmsolver++", "--duration", 1],
        backends,
    )
    assert result.exit_code == 0, result.output
    # Only the options given are passed, under the generator's setting names.
    assert RecordingGenerator.created == [
        {"model_dir": str(model_dir), "steps": 7, "guidance_scale": 2.5, "scheduler": "dpmsolver++"}
    ]
    assert RecordingGenerator.requests[0].duration_s == 1.0
    assert soundfile.info(str(tmp_path / "m.wav")).samplerate == 16000


def test_exhibit_settings_and_command_line_options_merge(tmp_path, exhibit, backends):
    result = _run(
        [exhibit, "--artwork", "warm-one", "-o", tmp_path / "w.wav", "--generator", "model", "--steps", 3,
         "--dtype", "bfloat16", "--encoder", "clip", "--aligner", tmp_path / "al", "--device", "cuda:1"],
        backends,
    )
    assert result.exit_code == 0, result.output
    settings = RecordingGenerator.created[0]
    assert settings["steps"] == 3 and settings["device"] == "cuda:1"  # the command line wins
    assert settings["dtype"] == "bfloat16" and settings["encoder"] == "clip"
    assert settings["aligner"] == str(tmp_path / "al")
    assert Path(settings["model_dir"]) == tmp_path / "models"  # from the exhibit, made absolute
    request = RecordingGenerator.requests[0]
    assert (request.seed, request.duration_s, request.loudness_lufs) == (5, 2.0, -20.0)


def test_unreadable_image(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    result = _run([broken, "-o", tmp_path / "x.wav"])
    assert result.exit_code != 0
    assert "cannot read image" in result.output and "broken.png" in result.output


def test_unknown_artwork_names_the_known_ones(tmp_path, exhibit):
    result = _run([exhibit, "--artwork", "nope", "-o", tmp_path / "x.wav"])
    assert result.exit_code != 0
    assert "no artwork 'nope'" in result.output and "warm-one, cool-one" in result.output


def test_unknown_generator(tmp_path, images):
    result = _run([images["warm"], "-o", tmp_path / "x.wav", "--generator", "theremin"])
    assert result.exit_code != 0
    assert "unknown generator 'theremin'" in result.output and "procedural" in result.output
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--steps", "5"], "apply to the art2mus generator"),
        (["--artwork", "a"], "need an exhibit file"),
        (["--spectrogram"], "--spectrogram goes with --all"),
    ],
)
def test_usage_errors(tmp_path, images, extra, message):
    result = _run([images["warm"], "-o", tmp_path / "x.wav", *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_exhibit_needs_artwork_or_all(tmp_path, exhibit):
    result = _run([exhibit, "-o", tmp_path / "x.wav"])
    assert result.exit_code == 2 and "--artwork ID" in result.output
    result = _run([exhibit, "--all"])
    assert result.exit_code == 2 and "--out-dir" in result.output


def test_an_output_that_cannot_be_written_is_refused_before_rendering(tmp_path, images, monkeypatch):
    (tmp_path / "renders").write_text("a file where the curator meant a folder")
    rendered = []
    monkeypatch.setattr(ProceduralGenerator, "generate", lambda *args, **kwargs: rendered.append(args))
    result = _run([images["warm"], "-o", tmp_path / "renders" / "warm.wav", "--duration", 2])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a sentence, not a traceback
    folder = tmp_path / "renders"
    assert f"cannot write {folder / 'warm.wav'}: {folder} is a file, not a folder" in result.output
    assert rendered == []  # found before the work (with Art2Mus, minutes of it), not after


def test_render_the_idle_ambience_of_an_exhibit(tmp_path, exhibit):
    """``--artwork idle``, as ``prerender --artwork idle`` takes it: the ambience between artworks, made
    from every artwork's photo together, was the one soundscape a curator could not preview."""
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.soundscapes import idle_image, idle_request

    out = tmp_path / "idle.wav"
    result = _run([exhibit, "--artwork", "idle", "-o", out, "--duration", 1.5, "--format", "float"])
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(out, dtype="float32")
    config = load_exhibit(exhibit, check_files=False)
    request = dataclasses.replace(idle_request(config), duration_s=1.5)
    expected = ProceduralGenerator(sample_rate=48000).generate(idle_image(config), request).waveform
    assert rate == 48000 and np.array_equal(audio, expected)
    assert request.loop and request.loudness_lufs == -20
    # the file is at the exhibit's loudness; the room plays the ambience idle.gain_db below it
    assert "; the room plays it at -9 dB (idle.gain_db)" in result.output
    text = exhibit.read_text()
    for idle, message in (
        ("{source: silence}", "the idle ambience is silence (idle.source: silence): nothing to render"),
        ("{source: file, path: warm.png}", "the idle ambience plays its fixed audio file "),
    ):
        exhibit.write_text(text + f"idle: {idle}\n")
        refused = _run([exhibit, "--artwork", "idle", "-o", tmp_path / "silent.wav"])
        assert refused.exit_code == 1 and f"Error: {message}" in refused.output, refused.output
        assert not (tmp_path / "silent.wav").exists()
