"""Training an aligner on artwork-music pairs with the debug build: pairs, features, dataset, the loop,
checkpoints and resume, evaluation, and the two commands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.training import features
from art2mus.training.dataset import PairDataset, PairsError, build_dataset, read_pairs
from art2mus.training.evaluate import frechet_distance, imagebind_score
from art2mus.training.trainer import TrainingConfig, train_aligner

ARTWORKS = ("amber-fields", "city-at-six", "hills-of-orvale", "night-over-the-village")


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models")


@pytest.fixture(scope="module")
def pipeline(debug_models):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline

    pipe = Art2MusPipeline.from_model_dir(debug_models, encoder="imagebind")
    pipe.set_aligner(
        ImageAligner(
            pipe.encoder.spec.name,
            pipe.encoder.spec.dim,
            lm_dim=int(pipe.language_model.config.hidden_size),
            n_tokens=4,
        )
    )
    return pipe


def test_pairs_from_a_manifest_and_their_errors(manifest, tmp_path):
    pairs = read_pairs(manifest)
    assert [p.id for p in pairs] == list(ARTWORKS) and all(p.audio.is_file() for p in pairs)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,image,audio\na,missing.png,missing.wav\na,missing2.png,x.wav\n")
    with pytest.raises(PairsError) as error:
        read_pairs(bad)
    text = str(error.value)
    assert f"{bad}:2: image file" in text and f"{bad}:3: id 'a' is used twice" in text
    header = tmp_path / "header.csv"
    header.write_text("picture,music\n")
    with pytest.raises(PairsError, match="needs the columns image and audio"):
        read_pairs(header)
    lines = tmp_path / "pairs.jsonl"
    lines.write_text('{"image": "a.png", "audio": "a.wav"}\nnot json\n')
    with pytest.raises(PairsError, match=rf"{lines}:2: expected a JSON object"):
        read_pairs(lines)


def test_an_exhibit_without_fixed_audio_has_no_pairs(demo_exhibit_path):
    with pytest.raises(PairsError, match="no artwork has a fixed `audio:` file"):
        read_pairs(demo_exhibit_path)


def test_log_mel_puts_a_tone_in_its_band():
    t = np.arange(16000) / 16000
    mel = features.log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert mel.shape == (100, 64)  # 100 frames per second, 64 bands
    band = int(mel.mean(0).argmax())
    centres = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 66)[1:-1]  # mel-scale band centres
    hz = 700 * (10 ** (centres / 2595) - 1)
    assert abs(hz[band] - 1000) < 150
    assert float(features.log_mel(np.zeros(1600, np.float32)).max()) == pytest.approx(np.log(1e-5))
    assert len(features.segments(np.zeros(16000 * 25, np.float32), 10.0)) == 3  # 10 + 10 + 5 (padded)
    assert len(features.segments(np.zeros(16000 * 23, np.float32), 10.0)) == 2  # a 3 s tail is dropped


def test_dataset_is_built_once_and_saved(pipeline, manifest, tmp_path):
    pairs = read_pairs(manifest)
    done = []
    dataset = build_dataset(pairs, pipeline, segment_s=1.0, progress=lambda d, t, n: done.append(n))
    assert done == list(ARTWORKS)
    assert dataset.embeddings.shape == (4, pipeline.encoder.spec.dim)
    # 2.5 s pieces in one-second segments: 1 + 1 + the half-second tail, padded
    assert dataset.latents.shape == (12, 8, 25, 16)
    assert dataset.segment_pair.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    back = PairDataset.load(dataset.save(tmp_path / "data"))
    # read back from its shards
    assert torch.equal(back.latents[:], dataset.latents) and back.pair_ids == dataset.pair_ids
    assert torch.equal(back.embeddings[:], dataset.embeddings)
    assert back.info["fingerprint"] == dataset.info["fingerprint"]
    train, val = dataset.split(0.25, seed=0)
    assert len(val) == 3 and not {dataset.segment_pair[i].item() for i in train} & {
        dataset.segment_pair[i].item() for i in val
    }  # split by pair: no artwork on both sides


def test_music_too_short_to_train_on_is_named_all_at_once_before_any_work(pipeline, manifest):
    """The build stopped at the first pair whose music gives no segment, after embedding every pair before
    it: a library with a few short jingles cost a run per jingle."""
    pairs = read_pairs(manifest)  # four pieces of 2.5 s
    done = []
    with pytest.raises(PairsError) as error:
        build_dataset(pairs, pipeline, segment_s=6.0, progress=lambda d, t, n: done.append(n))
    text = str(error.value)
    assert text.startswith("4 music files of the pairs are shorter than half a 6 s segment (3 s)")
    assert all(f"{pair.audio} (2.5 s)" in text for pair in pairs) and "--segment-seconds" in text
    assert done == []  # nothing embedded or encoded first


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_training_moves_only_the_aligner_saves_it_and_resumes_exactly(pipeline, manifest, tmp_path):
    from art2mus.models.aligner import ImageAligner

    dataset = build_dataset(read_pairs(manifest), pipeline, segment_s=1.0)
    config = TrainingConfig(epochs=3, batch_size=3, lr=3e-3, val_fraction=0.25, warmup_steps=1, seed=1)
    start = _state(pipeline.aligner)
    frozen = {name: _state(m) for name, m in pipeline.frozen_modules().items()}

    def fresh():
        pipeline.aligner.load_state_dict(start)

    result = train_aligner(pipeline, dataset, tmp_path / "straight", config)
    straight = _state(pipeline.aligner)
    assert len(result.history) == 3 and all(
        np.isfinite(r.train_loss) and r.val_loss is not None for r in result.history
    )
    assert result.best_val_loss == min(r.val_loss for r in result.history)
    assert any(not torch.equal(straight[k], start[k]) for k in start)
    for name, module in pipeline.frozen_modules().items():
        assert all(torch.equal(v, frozen[name][k]) for k, v in module.state_dict().items()), name
    lines = (tmp_path / "straight" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    best = ImageAligner.load(result.best_dir)
    assert best.n_tokens == 4 and best.encoder_spec == pipeline.encoder.spec
    meta = json.loads((result.best_dir / "config.json").read_text())["metadata"]
    assert meta["pairs"] == 4 and meta["segments"] == 12 and meta["val_loss"] == result.best_val_loss

    # interrupted in the second epoch, then resumed: the same weights as the run that was not interrupted
    fresh()

    def stop_in_epoch_two(step, total, loss):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_aligner(pipeline, dataset, tmp_path / "resumed", config, progress=stop_in_epoch_two)
    fresh()  # a new process would start from scratch weights too: the checkpoint must carry everything
    resumed = train_aligner(pipeline, dataset, tmp_path / "resumed", config, resume=True)
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    after = _state(pipeline.aligner)
    assert all(torch.equal(after[k], straight[k]) for k in straight)  # bit for bit
    with pytest.raises(
        ValueError, match=r"other settings \(batch_size: 3 in the checkpoint, 8 now; lr: 0.003"
    ):
        train_aligner(pipeline, dataset, tmp_path / "resumed", TrainingConfig(epochs=4), resume=True)
    with pytest.raises(ValueError, match="already has 3 epochs, more than epochs 2"):
        train_aligner(pipeline, dataset, tmp_path / "resumed", replace(config, epochs=2), resume=True)


def test_frechet_distance_and_imagebind_score():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (4000, 3))
    b = rng.normal([2.0, 0.0, 0.0], 1.0, (4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)  # |mu_a - mu_b|^2, equal covariances
    c = rng.normal(0.0, 2.0, (4000, 3))  # same mean, std 2: 3 * (1 + 4 - 2 * 2) = 3
    assert frechet_distance(a, c) == pytest.approx(3.0, rel=0.05)
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert imagebind_score(x, x) == pytest.approx(1.0) and imagebind_score(x, -x) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        frechet_distance(a[:1], b)


def test_train_and_evaluate_commands(debug_models, manifest, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    train = [
        "train",
        str(manifest),
        "--model-dir",
        str(debug_models),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--segment-seconds",
        "1",
        "--val-fraction",
        "0.25",
        "--device",
        "cpu",
    ]
    result = runner.invoke(main, [*train, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["epoch"] for line in lines[:-1]] == [1, 2]
    summary = lines[-1]["summary"]
    assert Path(summary["best"]) == out / "best" and (out / "best" / "model.safetensors").is_file()
    assert (out / "dataset" / "dataset.json").is_file()
    again = runner.invoke(main, [*train, "--resume", "--json"])
    assert again.exit_code == 0, again.output  # nothing left to do: the dataset and checkpoint are reused

    evaluation = runner.invoke(
        main,
        [
            "evaluate",
            str(manifest),
            "--model-dir",
            str(debug_models),
            "--aligner",
            str(out / "best"),
            "--duration",
            "1",
            "--steps",
            "2",
            "--limit",
            "3",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert evaluation.exit_code == 0, evaluation.output
    report = json.loads(evaluation.stdout.splitlines()[-1])
    assert report["pairs"] == 3 and len(report["per_pair"]) == 3
    assert -1 <= report["imagebind_score"] <= 1 and -1 <= report["reference_imagebind_score"] <= 1
    assert report["fad"] is not None and np.isfinite(report["fad"]) and report["fad"] >= 0
    bad = runner.invoke(
        main, ["train", str(tmp_path / "none.csv"), "--model-dir", str(debug_models), "--out", str(out)]
    )
    assert bad.exit_code == 1 and "no such file" in bad.output
