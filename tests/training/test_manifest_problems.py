"""A manifest's bad entries, all named in one run, and pairs listed twice (the ML engineer's sweep)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from art2mus.training.dataset import PairsError, read_pairs


def _rows(manifest: Path) -> list[tuple[str, str, str]]:
    """The fixture manifest's rows, paths absolute."""
    rows = [line.split(",") for line in manifest.read_text().splitlines()[1:]]
    return [(i, image, str(manifest.parent / audio)) for i, image, audio in rows]


def _write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("id,image,audio\n" + "".join(f"{i},{image},{audio}\n" for i, image, audio in rows))
    return path


def test_missing_duplicate_and_undecodable_entries_are_named_in_one_run(manifest, tmp_path):
    """The sweep's report: a missing file (line 3) and a duplicate id (line 6) were named, the truncated
    WAV of line 4 only on the next run, though the README says every bad file is named before extraction."""
    rows = _rows(manifest)
    whole = Path(rows[1][2]).read_bytes()
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(whole[: len(whole) // 2])  # its header announces twice what it holds
    bad = _write(
        tmp_path / "pairs.csv",
        [
            rows[0],
            ("gone", str(tmp_path / "no-such.png"), rows[1][2]),  # line 3
            ("cut", rows[1][1], str(truncated)),  # line 4
            rows[2],
            (rows[0][0], rows[3][1], rows[3][2]),  # line 6: the id of line 2 again
        ],
    )
    with pytest.raises(PairsError) as caught:
        read_pairs(bad)
    # one line each, the truncation's own figures cut off
    assert sorted(line.split(": its header")[0] for line in str(caught.value).splitlines()) == [
        f"{bad}:3: image file {tmp_path / 'no-such.png'} not found",
        f"{bad}:4: audio file {truncated} is truncated",
        f"{bad}:6: id {rows[0][0]!r} is used twice (first at {bad}:2)",
    ]


def test_a_pair_listed_twice_is_warned_naming_both_lines(debug_models, manifest, tmp_path, train_job):
    """The sweep's report: ids x1 and x2 with the same image and track trained without a word, and a copy
    could be held out for validation while its twin trained."""
    from art2mus.training.dataset import repeated_pairs
    from art2mus.training.train_job import run_train_job

    rows = _rows(manifest)
    twice = _write(tmp_path / "pairs.csv", [*rows, (rows[0][0] + "-copy", rows[0][1], rows[0][2])])
    reports: list[str] = []
    run_train_job(train_job(twice, debug_models, tmp_path / "run"), report=reports.append)
    assert (
        f"warning: {twice}:6: the same image and music as {twice}:2 (a pair listed twice can be held out for "
        "validation while its copy trains): leave one out"
    ) in reports, reports
    # the same files by another path are the same pair
    relative = (rows[0][0] + "-again", rows[0][1], os.path.relpath(rows[0][2], tmp_path))  # from pairs.csv
    assert [
        w.split(" (")[0] for w in repeated_pairs(read_pairs(_write(tmp_path / "rel.csv", [*rows, relative])))
    ] == [f"{tmp_path / 'rel.csv'}:6: the same image and music as {tmp_path / 'rel.csv'}:2"]
    # one artwork with two tracks (--per-image 2) is not a copy
    assert not repeated_pairs(
        read_pairs(_write(tmp_path / "two.csv", [*rows, (rows[0][0] + "-b", rows[0][1], rows[1][2])]))
    )


def test_a_picture_copied_under_another_name_with_the_same_track_is_a_pair_listed_twice(manifest, tmp_path):
    """`dataset build` warned that zz-copy.png is a byte-identical copy of amber-fields.png and wrote a
    manifest pairing both with the same track; `train` on it said nothing (pairs were compared by path)."""
    from art2mus.training.dataset import repeated_pairs

    rows = _rows(manifest)
    copy = tmp_path / "zz-copy.png"
    shutil.copyfile(rows[0][1], copy)
    pairs = _write(tmp_path / "pairs.csv", [*rows, ("zz-copy", str(copy), rows[0][2])])
    assert [w.split(" (")[0] for w in repeated_pairs(read_pairs(pairs))] == [
        f"{pairs}:6: the same image and music as {pairs}:2"
    ]
    # the copy with another track is another pair (one artwork, two pieces of music)
    other = _write(tmp_path / "other.csv", [*rows, ("zz-copy", str(copy), rows[1][2])])
    assert repeated_pairs(read_pairs(other)) == []


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory):
    import torch

    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def test_dataset_build_names_a_picture_that_is_a_copy_of_another(debug_models, manifest, repo_root, tmp_path):
    """The sweep's report: art8.png, a byte copy of art0.png, was paired with another track silently."""
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    images = tmp_path / "artworks"
    shutil.copytree(repo_root / "exhibits/demo/artworks", images)
    shutil.copy(images / "amber-fields.png", images / "zz-copy.png")
    args = ["dataset", "build", "--images", str(images), "--music", str(manifest.parent / "music"), "-o",
            str(tmp_path / "pairs.csv"), "--model-dir", str(debug_models), "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {images / 'zz-copy.png'} is a byte-identical copy of {images / 'amber-fields.png'}: one "
        "picture under two names is paired twice"
    ) in result.stderr, result.stderr
    assert result.stderr.count("byte-identical") == 1
