"""`art2mus train` under `accelerate launch` with 2 CPU processes (gloo): the dataset step shared between
them gives one process's features, and data-parallel training gives one process's weights at the
equivalent batch (2 processes x batch 2 == 1 process x batch 4)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from art2mus.installation.cli import main
from art2mus.training.dataset import PairDataset

pytestmark = pytest.mark.slow  # two launched processes: ~30 s alone, minutes on a loaded machine

ARTWORKS = ("amber-fields", "city-at-six", "hills-of-orvale", "night-over-the-village")
#: 4 pairs of 2.5 s in 1 s segments: 12 segments, one pair (3) held out; 9 to train on in steps of 4, so the
#: last step of each epoch has one segment and the second process an empty share
TRAIN = ["--epochs", "2", "--segment-seconds", "1", "--val-fraction", "0.25", "--device", "cpu", "--json"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, manifest):
    from art2mus.models.debug import build_debug_model_dir

    root = tmp_path_factory.mktemp("accelerate")
    return root, build_debug_model_dir(root / "models", encoders=("imagebind",)), manifest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def runs(setup):
    """One process at batch 4 (in this process) and two launched processes at batch 2."""
    root, models, manifest = setup
    common = [str(manifest), "--model-dir", str(models), *TRAIN]
    single = CliRunner().invoke(main, ["train", *common, "--out", str(root / "one"), "--batch-size", "4"])
    assert single.exit_code == 0, single.output
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HOME": str(root / "hf")}  # no user accelerate config
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()),
        "-m", "art2mus.installation.cli", "train", *common, "--out", str(root / "two"), "--batch-size", "2",
    ]  # fmt: skip
    # a busy 2-core machine: starting two processes (torch, diffusers) can take minutes; nothing waits on time
    two = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-6000:]
    return root / "one", root / "two", single.stdout, two.stdout


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_dataset_step_shared_by_two_processes_gives_one_process_features(runs):
    one, two, _, _ = runs
    index = json.loads((two / "dataset" / "dataset.json").read_text())
    # each process wrote its own shard files; the index names both parts'
    assert {Path(p).parts[:2] for p in index["shards"]["latents"]} == {("parts", "00000"), ("parts", "00001")}
    alone, shared = PairDataset.load(one / "dataset"), PairDataset.load(two / "dataset")
    assert shared.pair_ids == alone.pair_ids == list(ARTWORKS)
    assert shared.info["fingerprint"] == alone.info["fingerprint"]
    assert [p["id"] for p in shared.info["pairs"]] == list(ARTWORKS)
    assert torch.equal(shared.segment_pair, alone.segment_pair) and len(shared) == 12
    assert torch.allclose(shared.embeddings[:], alone.embeddings[:], atol=1e-6)
    assert torch.allclose(shared.latents[:], alone.latents[:], atol=1e-5)


def test_two_processes_at_batch_2_train_the_weights_of_one_at_batch_4(runs, setup):
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.train_job import new_aligner

    one, two, single_out, two_out = runs
    pipeline = Art2MusPipeline.from_model_dir(setup[1], encoder="imagebind", device="cpu")
    initial = new_aligner(pipeline, 4, 0).state_dict()  # what both runs started from (--tokens 4, --seed 0)
    reference = load_file(str(one / "last" / "model.safetensors"))
    trained = load_file(str(two / "last" / "model.safetensors"))
    assert reference.keys() == trained.keys()
    for name, value in reference.items():
        assert torch.allclose(trained[name], value, atol=1e-5), (name, (trained[name] - value).abs().max())
    assert any(not torch.allclose(reference[k], initial[k], atol=1e-4) for k in reference)  # it did train
    # the losses are the whole batch's, and only the main process wrote and printed
    history = [json.loads(line) for line in (two / "history.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (one / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2] and [h["steps"] for h in history] == [3, 3]
    for got, want in zip(history, expected, strict=True):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-4)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-4)
    assert sum("summary" in line for line in _json_lines(two_out)) == 1
    assert len(_json_lines(two_out)) == len(_json_lines(single_out)) == 3


def test_mixed_precision_is_passed_through_to_training(runs, setup):
    root, models, manifest = setup
    one = runs[0]
    out = root / "bf16"
    result = CliRunner().invoke(
        main,
        ["train", str(manifest), "--model-dir", str(models), *TRAIN, "--out", str(out), "--batch-size", "4",
         "--mixed-precision", "bf16"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fp32 = load_file(str(one / "last" / "model.safetensors"))
    bf16 = load_file(str(out / "last" / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in bf16.values())
    # autocast really ran: bfloat16 matmuls move the weights off the float32 run's, but not far
    assert any(not torch.allclose(bf16[k], fp32[k], atol=1e-6) for k in fp32)
    assert all(torch.allclose(bf16[k], fp32[k], atol=5e-2) for k in fp32)


def test_a_music_only_dataset_built_in_slices_and_indexed_equals_the_whole_build(setup, tmp_path):
    """What each launched process does for --music-only (its slice, named from the whole list's folder,
    seeded by its index), merged by the index the main process writes, without launching."""
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import build_music_dataset, common_folder
    from art2mus.training.distributed import process_slice, write_index

    _, models, manifest = setup
    pipeline = Art2MusPipeline.from_model_dir(models, encoder="imagebind", device="cpu")
    tracks = sorted((manifest.parent / "music").glob("*.wav"))[:3]
    options = {"segment_s": 1.0, "max_segments_per_track": 2, "seed": 7}
    whole = build_music_dataset(tracks, pipeline, **options)
    parts = []
    for index in range(2):
        share = process_slice(len(tracks), 2, index)  # 2 tracks, then 1
        part = build_music_dataset(
            tracks[share.start : share.stop],
            pipeline,
            first_index=share.start,
            root=common_folder(tracks),
            **options,
        )
        parts.append(part.save(tmp_path / "parts" / f"{index:05d}"))
    write_index(tmp_path, parts, whole.info["fingerprint"])
    merged = PairDataset.load(tmp_path)
    assert merged.pair_ids == whole.pair_ids and merged.info == whole.info
    assert torch.equal(merged.segment_pair, whole.segment_pair)
    assert torch.allclose(merged.embeddings[:], whole.embeddings, atol=1e-6)
    assert torch.allclose(merged.latents[:], whole.latents, atol=1e-6)
    assert merged.split(0.34, seed=0) == whole.split(0.34, seed=0)  # validation still split by track
