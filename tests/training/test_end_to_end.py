"""The museum's path on debug networks, through the real commands: ``art2mus dataset build`` ->
``art2mus train`` (paired, seeded, repeated) and ``art2mus train --music-only`` -> ``art2mus evaluate``
(ImageBind, and a CLIP aligner scored by ImageBind)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main

ARTWORKS = ("amber-fields", "city-at-six", "hills-of-orvale", "night-over-the-village")


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models")


@pytest.fixture(scope="module")
def collection(tmp_path_factory, repo_root) -> tuple[Path, Path]:
    """A museum's folders: four artworks and a corrupt file; four 2.5 s tracks and an unreadable one."""
    root = tmp_path_factory.mktemp("museum")
    images, music = root / "artworks", root / "library"
    images.mkdir()
    music.mkdir()
    for k, artwork in enumerate(ARTWORKS):
        (images / f"{artwork}.png").write_bytes(
            (repo_root / f"exhibits/demo/artworks/{artwork}.png").read_bytes()
        )
        t = np.arange(int(2.5 * 22050)) / 22050
        f0 = 110.0 * 2 ** (k * 4 / 12)
        wave = sum(0.2 * np.sin(2 * np.pi * f0 * m * t) for m in (1, 1.5, 2))
        soundfile.write(music / f"track-{k}.wav", wave.astype(np.float32), 22050)
    (images / "scan-0042.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (music / "broken.flac").write_bytes(b"fLaC but nothing else")
    return images, music


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_dataset_build_train_and_evaluate(debug_models, collection, tmp_path):
    images, music = collection
    pairs = tmp_path / "pairs.csv"
    code, out, err = _run(
        "dataset", "build", "--images", images, "--music", music, "-o", pairs, "--model-dir", debug_models,
        "--device", "cpu",
    )  # fmt: skip
    assert code == 0, out + err
    rows = list(csv.DictReader(pairs.open()))
    assert sorted(r["id"] for r in rows) == sorted(ARTWORKS)
    assert len({r["audio"] for r in rows}) == 4  # the diversity cap: one artwork per track
    assert all(-1 <= float(r["score"]) <= 1 and (tmp_path / r["audio"]).is_file() for r in rows)
    report = pairs.with_suffix(".html").read_text()
    assert report.count("<img src='data:image/png;base64,") == 4 and "scan-0042.jpg" in report
    assert f"skipped {images / 'scan-0042.jpg'}" in err and f"skipped {music / 'broken.flac'}" in err
    assert "embedding artworks: 4/4" in err and "embedding music: 4/4" in err
    # 2.5 s tracks: `train` refuses them at its default 10 s segment, said here rather than at training
    short = "is 2.5 s, shorter than half of `art2mus train`'s 10 s segment: train with --segment-seconds 5.0"
    assert err.count(short) == 4 and f"warning: {music / 'track-0.wav'} {short}" in err

    common = ("--model-dir", debug_models, "--epochs", "2", "--batch-size", "2", "--segment-seconds", "1",
              "--val-fraction", "0.25", "--device", "cpu", "--seed", "7")  # fmt: skip
    code, out, err = _run("train", pairs, "--out", tmp_path / "a", *common)
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"] and all("ETA" in line for line in lines)
    torch.manual_seed(12345)  # another process state: the seed alone must decide the weights
    torch.rand(100)
    code, out, err = _run("train", pairs, "--out", tmp_path / "b", *common)
    assert code == 0, out + err
    for part in ("best", "last"):
        first = (tmp_path / "a" / part / "model.safetensors").read_bytes()
        assert first == (tmp_path / "b" / part / "model.safetensors").read_bytes(), part
    code, out, err = _run("train", pairs, "--out", tmp_path / "c", *common[:-1], "8")
    assert (tmp_path / "c/last/model.safetensors").read_bytes() != first  # the seed matters

    # an earlier run is never overwritten silently, and its best aligner survives an overwrite
    code, out, err = _run("train", pairs, "--out", tmp_path / "a", *common)
    assert code == 1 and "holds an earlier run" in out + err
    earlier = (tmp_path / "a/best/model.safetensors").read_bytes()
    code, out, err = _run("train", pairs, "--out", tmp_path / "a", *common, "--overwrite", "--lr", "0.003")
    assert code == 0, out + err
    assert (tmp_path / "a/best.previous/model.safetensors").read_bytes() == earlier
    history = (tmp_path / "a/history.jsonl").read_text().splitlines()
    assert len(history) == 2  # the earlier run's history was not mixed in

    # a finished run extended by two epochs
    code, out, err = _run("train", pairs, "--out", tmp_path / "b", *common[:2], *common[4:], "--epochs", "4",
                          "--resume", "--json")  # fmt: skip
    assert code == 0, out + err
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["epoch"] for r in records[:-1]] == [1, 2, 3, 4]

    # music alone, the gap fitted on the museum's artworks
    code, out, err = _run("train", "--music-only", music, "--images", images, "--out", tmp_path / "m", *common,
                          "--json")  # fmt: skip
    assert code == 0, out + err
    summary = json.loads(out.splitlines()[-1])["summary"]
    gap = summary["modality_gap"]
    assert gap["images"] == 4 and gap["audio"] == 12  # 4 tracks x 3 one-second segments
    assert gap["centroid_distance_after"] < gap["centroid_distance_before"]
    config = json.loads((tmp_path / "m/best/config.json").read_text())
    assert len(config["config"]["input_shift"]) == config["config"]["embedding_dim"]
    data = json.loads((tmp_path / "m/dataset/dataset.json").read_text())
    assert data["modality"] == "audio" and len(set(data["pair_groups"])) == 4

    evaluate = ("evaluate", pairs, "--model-dir", debug_models, "--duration", "1", "--steps", "2", "--device",
                "cpu", "--json")  # fmt: skip
    results = {}
    for name, aligner in (
        ("paired", tmp_path / "b/best"),
        ("music-only", tmp_path / "m/best"),
        ("clip", "debug-clip-4tok"),
    ):
        code, out, err = _run(*evaluate, "--aligner", aligner)
        assert code == 0, out + err
        results[name] = json.loads(out.splitlines()[-1])
    assert results["clip"]["encoder"] == "clip" and results["paired"]["encoder"] == "imagebind"
    for result in results.values():
        assert result["pairs"] == 4 and -1 <= result["imagebind_score"] <= 1 and np.isfinite(result["fad"])
    # the reference (real music) score depends only on the pairs, not on the aligner: one scorer for all
    assert len({round(r["reference_imagebind_score"], 6) for r in results.values()}) == 1
    assert len({round(r["imagebind_score"], 6) for r in results.values()}) == 3


def test_dataset_build_errors(debug_models, collection, tmp_path):
    images, music = collection
    empty = tmp_path / "no-music"
    empty.mkdir()
    (empty / "x.mp3").write_bytes(b"ID3 nothing")
    code, out, err = _run("dataset", "build", "--images", images, "--music", empty, "-o", tmp_path / "p.csv",
                          "--model-dir", debug_models)  # fmt: skip
    assert code == 1 and f"{empty}: no readable music" in err
    missing = tmp_path / "pairs.csv"
    missing.write_text("id,image,audio\nx,gone.png,gone.wav\n")
    code, out, err = _run("train", missing, "--out", tmp_path / "o", "--model-dir", debug_models)
    assert code == 1 and f"{missing}:2: image file" in err
    code, out, err = _run("train", "--out", tmp_path / "o", "--model-dir", debug_models)
    assert code == 2 and "either PAIRS or --music-only" in err


def test_a_damaged_track_is_skipped_and_listed_and_the_rest_goes_on(debug_models, collection, tmp_path):
    from art2mus.training.collection import scan_music

    images, music = collection
    library = tmp_path / "library"
    library.mkdir()
    for k in range(4):
        (library / f"track-{k}.wav").write_bytes((music / f"track-{k}.wav").read_bytes())
    noise = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32)
    soundfile.write(library / "good.flac", 0.1 * noise, 22050)
    whole = (library / "good.flac").read_bytes()
    (library / "truncated.flac").write_bytes(whole[:5000])  # `head -c 5000 good.flac`: its header reads
    damaged = bytearray(whole)
    damaged[len(whole) // 2 : len(whole) // 2 + 2000] = bytes(2000)  # its end reads, its middle does not
    (library / "damaged.flac").write_bytes(bytes(damaged))
    scan = scan_music(library)
    assert [path.name for path, _ in scan.skipped] == ["truncated.flac"]
    assert "truncated or corrupt" in scan.skipped[0][1] and library / "damaged.flac" in scan.files

    pairs = tmp_path / "pairs.csv"
    code, out, err = _run("dataset", "build", "--images", images, "--music", library, "-o", pairs,
                          "--model-dir", debug_models, "--device", "cpu")  # fmt: skip
    assert code == 0, out + err
    assert f"skipped {library / 'truncated.flac'}: cannot be decoded to its end" in err
    assert f"skipped {library / 'damaged.flac'}: cannot read audio file {library / 'damaged.flac'}" in err
    assert "of 5 tracks (3 files skipped" in out  # good.flac and the four tracks; scan-0042 skipped too
    rows = list(csv.DictReader(pairs.open()))
    assert len(rows) == 4 and not any("truncated" in r["audio"] or "damaged" in r["audio"] for r in rows)
    report = pairs.with_suffix(".html").read_text()
    assert "truncated.flac" in report and "damaged.flac" in report

    common = ("--model-dir", debug_models, "--epochs", "1", "--batch-size", "2", "--segment-seconds", "1",
              "--device", "cpu")  # fmt: skip
    code, out, err = _run("train", "--music-only", library, "--images", images, "--out", tmp_path / "m", *common)
    assert code == 0, out + err
    assert f"skipped {library / 'truncated.flac'}: cannot be decoded to its end" in err
    assert f"skipped {library / 'damaged.flac'}: cannot read audio file" in err
    data = json.loads((tmp_path / "m/dataset/dataset.json").read_text())
    assert len(set(data["pair_groups"])) == 5 and "damaged.flac" not in " ".join(data["pair_groups"])

    # in pairs, a track that cannot be decoded is named with the manifest's line to fix
    manifest = tmp_path / "damaged.csv"
    manifest.write_text(
        f"id,image,audio\na,{images / 'amber-fields.png'},{library / 'track-0.wav'}\n"
        f"b,{images / 'city-at-six.png'},{library / 'truncated.flac'}\n"
    )
    code, out, err = _run("train", manifest, "--out", tmp_path / "p", *common)
    # named before any extraction, with every other bad file of the manifest
    assert code == 1, err
    assert f"{manifest}:3: audio file {library / 'truncated.flac'} cannot be decoded" in err, err
