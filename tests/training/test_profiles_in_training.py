"""An aligner is trained, saved and evaluated under one conditioning profile, through the real commands:
``art2mus train --init V1_ALIGNER`` and ``--profile art2mus-v1`` record ``art2mus-v1`` (the default records
``art2mus-music``), the loss uses the profile's prompts, and bad input (a truncated checkpoint to resume, a
music folder with nothing readable, pairs whose files are gone) is a sentence naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main

ARTWORKS = ("amber-fields", "city-at-six")


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, repo_root) -> Path:
    """Two demo artworks, each with 1.2 s of its own tone, in a CSV manifest."""
    folder = tmp_path_factory.mktemp("pairs")
    lines = ["id,image,audio"]
    for k, artwork in enumerate(ARTWORKS):
        t = np.arange(int(1.2 * 16000)) / 16000
        soundfile.write(
            folder / f"{artwork}.wav", (0.3 * np.sin(2 * np.pi * 220 * (k + 1) * t)).astype(np.float32), 16000
        )
        lines.append(f"{artwork},{repo_root / f'exhibits/demo/artworks/{artwork}.png'},{artwork}.wav")
    path = folder / "pairs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def v1_aligner(debug_models, tmp_path_factory) -> Path:
    """A v1-format state dict of random weights imported by ``art2mus models import-v1``."""
    from art2mus.models.debug.audioldm2 import DEBUG_GPT2_DIM
    from art2mus.models.encoders import load_image_encoder

    spec = load_image_encoder("imagebind", debug_models / "imagebind").spec
    generator = torch.Generator().manual_seed(11)
    hidden = 2 * DEBUG_GPT2_DIM
    checkpoint = tmp_path_factory.mktemp("v1") / "art2mus_img_proj_layer.pt"
    torch.save(
        {
            "projection1.weight": torch.randn(hidden, spec.dim, generator=generator) * 0.1,
            "projection1.bias": torch.zeros(hidden),
            "projection2.weight": torch.randn(DEBUG_GPT2_DIM, hidden, generator=generator) * 0.1,
            "projection2.bias": torch.zeros(DEBUG_GPT2_DIM),
        },
        checkpoint,
    )
    code, out, err = _run("models", "import-v1", checkpoint, "--name", "v1-train", "--model-dir", debug_models,
                          "--encoder", spec.name, "--lm-dim", DEBUG_GPT2_DIM)  # fmt: skip
    assert code == 0, out + err
    return debug_models / "aligners" / "v1-train"


def _run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _common(debug_models: Path) -> tuple[object, ...]:
    return ("--model-dir", debug_models, "--epochs", "1", "--batch-size", "2", "--segment-seconds", "1",
            "--val-fraction", "0", "--device", "cpu", "--json")  # fmt: skip


def _profile(folder: Path) -> str:
    return json.loads((folder / "config.json").read_text())["conditioning_profile"]


def test_a_trained_aligner_records_the_profile_it_was_trained_under(
    debug_models, pairs, v1_aligner, tmp_path
):
    common = _common(debug_models)
    code, out, err = _run("train", pairs, "--out", tmp_path / "default", *common)
    assert code == 0, out + err
    assert _profile(tmp_path / "default/best") == _profile(tmp_path / "default/last") == "art2mus-music"

    # fine-tuning the published aligner: it keeps v1's conditioning (a fresh profile would change its music)
    code, out, err = _run("train", pairs, "--out", tmp_path / "init", "--init", v1_aligner, *common)
    assert code == 0, out + err
    for part in ("best", "last"):
        assert _profile(tmp_path / "init" / part) == "art2mus-v1", part
    tuned = json.loads((tmp_path / "init/best/config.json").read_text())["config"]
    assert tuned["input_l2_norm"] is False and tuned["n_tokens"] == 1  # the v1 aligner, not a new one

    # a new aligner for v1's conditioning (v1's recipe), and --profile overriding an --init aligner's
    code, out, err = _run("train", pairs, "--out", tmp_path / "v1", "--profile", "art2mus-v1", "--audio-norm",
                          "v1", "--loss-guidance", "3.5", *common)  # fmt: skip
    assert code == 0, out + err
    assert _profile(tmp_path / "v1/best") == "art2mus-v1"
    code, out, err = _run("train", pairs, "--out", tmp_path / "back", "--init", v1_aligner, "--profile",
                          "art2mus-music", *common)  # fmt: skip
    assert code == 0, out + err
    assert _profile(tmp_path / "back/best") == "art2mus-music"
    # the latents come from the profile's AudioLDM2: datasets of two profiles are not one dataset
    fingerprints = {
        json.loads((tmp_path / run / "dataset/dataset.json").read_text())["fingerprint"]
        for run in ("default", "v1")
    }
    assert len(fingerprints) == 2

    # evaluate plays each aligner through its own profile: the imported one and the one trained for v1
    for aligner in (v1_aligner, tmp_path / "v1/best"):
        code, out, err = _run("evaluate", pairs, "--model-dir", debug_models, "--aligner", aligner, "--duration",
                              "0.5", "--steps", "1", "--device", "cpu", "--json")  # fmt: skip
        assert code == 0, out + err
        result = json.loads(out.splitlines()[-1])
        assert result["profile"] == "art2mus-v1" and result["pairs"] == 2 and np.isfinite(result["fad"])

    code, out, err = _run("train", pairs, "--out", tmp_path / "x", "--profile", "art2mus-v2", *common)
    assert code == 2 and "art2mus-v2" in err and "art2mus-v1" in err


def test_the_loss_takes_the_prompts_of_the_profile(debug_models, v1_aligner):
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.models.profiles import PROFILES
    from art2mus.training.aligner_step import diffusion_loss

    pipe = Art2MusPipeline.from_model_dir(debug_models, encoder="imagebind", aligner=v1_aligner)
    assert pipe.profile.name == "art2mus-v1"
    g = torch.Generator().manual_seed(2)
    emb = torch.nn.functional.normalize(torch.randn(2, pipe.encoder.spec.dim, generator=g), dim=-1)
    latents = torch.randn(2, 8, 4, 16, generator=g)

    def loss(**prompts) -> float:
        with torch.no_grad():
            value, _ = diffusion_loss(
                pipe, emb, latents, generator=torch.Generator().manual_seed(0), guidance_scale=3.5, **prompts
            )
        return float(value)

    v1, music = PROFILES["art2mus-v1"], PROFILES["art2mus-music"]
    default = loss()
    assert default == loss(support_prompt=v1.support_prompt, negative_prompt=v1.negative_prompt)
    assert default != loss(support_prompt=music.support_prompt, negative_prompt=music.negative_prompt)


def test_bad_training_input_is_a_sentence_naming_the_file(debug_models, pairs, tmp_path):
    common = _common(debug_models)
    code, out, err = _run("train", pairs, "--out", tmp_path / "run", *common)
    assert code == 0, out + err
    checkpoint = tmp_path / "run/checkpoint.pt"
    whole = checkpoint.read_bytes()
    checkpoint.write_bytes(whole[: len(whole) // 2])
    code, out, err = _run("train", pairs, "--out", tmp_path / "run", *common[:2], "--epochs", "2",
                          *common[4:], "--resume")  # fmt: skip
    assert code == 1 and f"{checkpoint} cannot be read as a training checkpoint" in err, err
    assert "Traceback" not in err
    torch.save({"weights": torch.zeros(2)}, checkpoint)  # a foreign .pt
    code, out, err = _run("train", pairs, "--out", tmp_path / "run", *common[:2], "--epochs", "2",
                          *common[4:], "--resume")  # fmt: skip
    assert code == 1 and f"{checkpoint} is not an art2mus training checkpoint" in err, err
    assert (tmp_path / "run/best/model.safetensors").is_file()  # the finished run's aligner is untouched

    silent = tmp_path / "silent"
    silent.mkdir()
    (silent / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnothing")
    (silent / "b.ogg").write_bytes(b"OggS")
    code, out, err = _run("train", "--music-only", silent, "--out", tmp_path / "m", *common)
    assert code == 1 and f"{silent}: no readable music" in err, err

    gone = tmp_path / "gone.csv"
    gone.write_text(
        f"id,image,audio\nok,{pairs.parent / 'nothing.png'},{pairs.parent / 'amber-fields.wav'}\n"
    )
    for command in (("train", gone, "--out", tmp_path / "g", *common),
                    ("evaluate", gone, "--model-dir", debug_models, "--aligner", "debug-imagebind-1tok")):  # fmt: skip
        code, out, err = _run(*command)
        assert code == 1 and f"{gone}:2: image file" in err, (command[0], err)


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """The run's files, less OUT/.lock (every run takes it, and writes its pid there)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


def test_a_resume_with_other_settings_is_refused_before_any_work_naming_each(debug_models, pairs, tmp_path):
    own = tmp_path / "pairs.csv"  # copies: the data is changed below
    lines = pairs.read_text().splitlines()
    for artwork in ARTWORKS:
        (tmp_path / f"{artwork}.wav").write_bytes((pairs.parent / f"{artwork}.wav").read_bytes())
    own.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    common = ("--model-dir", debug_models, "--batch-size", "2", "--segment-seconds", "1", "--val-fraction", "0",
              "--device", "cpu")  # fmt: skip
    code, out, err = _run("train", own, "--out", run, *common, "--epochs", "2", "--seed", "5")
    assert code == 0, out + err
    # no pair was held out: the figure is the training loss, and said to be
    assert (
        f"best aligner: {run / 'best'} (training loss " in out
        and "no validation ran, --val-fraction 0" in out
    )
    assert "validation loss" not in out
    before = _files(run)

    def refused(*args: object) -> str:
        code, out, err = _run("train", own, "--out", run, "--resume", *args)
        assert code == 1, out + err
        assert "embedding pairs" not in err  # refused before the dataset was extracted again
        assert _files(run) == before  # nothing in OUT touched
        return err

    err = refused(*common[:2], "--batch-size", "1", *common[4:], "--epochs", "2")  # forgot --seed 5
    assert f"{run / 'checkpoint.pt'} was made with other settings" in err
    assert "--seed: 5 in the checkpoint, 0 now" in err and "--batch-size: 2 in the checkpoint, 1 now" in err
    err = refused(*common[:4], "--segment-seconds", "0.5", *common[6:], "--epochs", "2", "--seed", "5")
    assert "--segment-seconds: 1 in the checkpoint, 0.5 now" in err
    err = refused(*common, "--epochs", "1", "--seed", "5")
    assert f"{run / 'checkpoint.pt'} already has 2 epochs, more than --epochs 1" in err
    code, out, err = _run("train", own, "--out", run, "--resume", *common, "--epochs", "2", "--seed", "5")
    assert code == 0 and "already has its 2 epochs: nothing to train" in err, out + err
    code, out, err = _run(
        "train", own, "--out", run, "--resume", *common, "--epochs", "2", "--seed", "5", "--json"
    )
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert summary["best_val_loss"] is None and summary["best_train_loss"] > 0
    soundfile.write(tmp_path / "city-at-six.wav", np.zeros(16000, np.float32), 16000)  # the data changed
    err = refused(*common, "--epochs", "2", "--seed", "5")
    assert f"{run / 'checkpoint.pt'} was made with other data" in err
