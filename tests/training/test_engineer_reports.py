"""What an ML engineer training an aligner met: bad manifest rows, a full disk, bad files, run folders."""

from __future__ import annotations

import pytest

from art2mus.training.dataset import PairsError, read_pairs


def test_a_row_with_missing_extra_or_bad_fields_is_named_with_its_line(manifest, tmp_path):
    base = manifest.parent
    rows = (manifest.read_text().splitlines())[1:]
    image, audio = rows[0].split(",")[1:3]
    bad = base / "bad-rows.csv"
    bad.write_text(
        "id,image,audio,score\n"
        f"a,{image},{audio},0.5\n"
        f"b,{image}\n"
        f"c,{image},,0.1\n"
        f"d,{image},{audio},abc\n"
        f"e,{image},{audio},0.2,extra\n"
    )
    with pytest.raises(PairsError) as caught:
        read_pairs(bad)
    message = str(caught.value)
    assert f"{bad}:3: row has 2 fields, expected 4" in message
    assert f"{bad}:4: the audio field is empty" in message
    assert f"{bad}:5: score 'abc' is not a number" in message
    assert f"{bad}:6: row has 5 fields, the header names 4" in message
    assert ":2:" not in message


def test_a_json_line_with_an_empty_audio_is_named(manifest):
    bad = manifest.parent / "bad.jsonl"
    bad.write_text('{"image": "x.png", "audio": ""}\n')
    with pytest.raises(PairsError, match=r"bad.jsonl:1: the audio field is empty"):
        read_pairs(bad)


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory):
    import torch

    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def _train(manifest, models, out, *more):
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    args = ["train", manifest, "--model-dir", models, "--out", out, "--segment-seconds", "1", "--batch-size",
            "2", "--val-fraction", "0.25", "--device", "cpu", "--epochs", "1", *more]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_full_disk_at_the_first_checkpoint_is_one_sentence_and_leaves_no_half_run(
    debug_models, manifest, tmp_path, monkeypatch
):
    import errno

    from art2mus.training import trainer

    def full(checkpoint, path):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(trainer, "_save_checkpoint", full)
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out)
    assert code == 1, output
    assert f"Error: cannot write {out / 'checkpoint.pt'}: file too large / no space left on device" in output
    assert "no epoch is kept" in output and "Traceback" not in output
    assert not any((out / name).exists() for name in ("best", "last", "history.jsonl", "checkpoint.pt"))
    monkeypatch.undo()
    code, output = _train(manifest, debug_models, out)  # the same command again just runs
    assert code == 0, output


def test_resume_without_a_checkpoint_is_refused_and_not_suggested(debug_models, manifest, tmp_path):
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    (out / "history.jsonl").write_text("{}\n")
    code, output = _train(manifest, debug_models, out)
    assert code == 1 and "holds an earlier run" in output and "--resume" not in output, output
    code, output = _train(manifest, debug_models, out, "--resume")
    assert code == 1, output
    assert f"no checkpoint.pt in {out}: nothing to resume" in output and "--overwrite starts again" in output


def test_the_report_is_written_whole_or_not_at_all(tmp_path):
    import errno
    import resource

    from art2mus.training.manifest import ManifestError, _write_both
    from art2mus.training.pairing import write_report

    report = tmp_path / "pairs.html"
    many = [(tmp_path / f"missing-{k}.png", "x" * 100) for k in range(50)]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))  # Python ignores SIGXFSZ: writes get EFBIG
    try:
        with pytest.raises(OSError) as caught:
            write_report(report, [], many, [])
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(ManifestError) as refused:  # as `dataset build` ends
            _write_both(tmp_path / "pairs.csv", report, [], many, [])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert caught.value.errno == errno.EFBIG
    assert str(refused.value).startswith(f"cannot write {report}: file too large / no space left on device;")
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.csv"]


def test_a_full_disk_while_extracting_says_what_is_kept(debug_models, manifest, tmp_path, monkeypatch):
    import errno

    from art2mus.training import extraction

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(extraction, "_write_piece", full)
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out)
    assert code == 1 and "Traceback" not in output, output
    assert "no space left on device; the pairs extracted so far are kept in" in output


def test_every_undecodable_file_of_the_pairs_is_named_in_one_run(debug_models, manifest, tmp_path, capfd):
    import struct

    base = manifest.parent
    rows = manifest.read_text().splitlines()
    (base / "junk.mp3").write_text("not music\n")
    (base / "empty.flac").write_bytes(b"")
    (base / "notes.png").write_text("not a picture\n")
    good = (base / "music" / "amber-fields.wav").read_bytes()
    # a WAV cut short: its header still announces the whole data chunk
    header = good[:44]
    assert header[36:40] == b"data" and struct.unpack("<I", header[40:44])[0] > 2000
    (base / "cut.wav").write_bytes(good[:1000])
    image = rows[1].split(",")[1]
    bad = base / "bad-files.csv"
    bad.write_text(
        "\n".join(
            [
                rows[0],
                rows[1],
                f"j,{image},junk.mp3",
                f"e,{image},empty.flac",
                f"c,{image},cut.wav",
                f"n,notes.png,{rows[2].split(',')[2]}",
            ]
        )
        + "\n"
    )
    code, output = _train(bad, debug_models, tmp_path / "run")
    assert code == 1, output
    assert f"{bad}:3: audio file {base / 'junk.mp3'} exists but is not decodable audio" in output
    assert "File does not exist" not in output
    assert f"{bad}:4: audio file {base / 'empty.flac'} is empty (0 bytes)" in output
    assert f"{bad}:5: audio file {base / 'cut.wav'} is truncated: its header announces 2.50 s" in output
    assert f"{bad}:6: image file {base / 'notes.png'}: not an image" in output
    assert "Illegal Audio-MPEG-Header" not in capfd.readouterr().err


def test_a_training_run_given_as_the_aligner_points_at_its_best(debug_models, manifest, tmp_path):
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    run = tmp_path / "runs" / "a"
    (run / "best").mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"")
    expected = f"{run} is a training run, not an aligner; use {run / 'best'} (or {run / 'last'})"
    code, output = _train(manifest, debug_models, tmp_path / "b", "--init", run)
    assert code == 1 and expected in output, output
    result = CliRunner().invoke(
        main, ["evaluate", str(manifest), "--model-dir", str(debug_models), "--aligner", str(run)]
    )
    assert result.exit_code == 1 and expected in result.output, result.output


def test_overwrite_compares_validation_losses_only_on_the_same_held_out_pairs(
    debug_models, manifest, tmp_path
):
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out)
    assert code == 0, output
    code, output = _train(manifest, debug_models, out, "--overwrite", "--seed", "1")
    assert code == 0, output
    assert "on different validation pairs: not comparable with this run's)" in output
    assert "lower than this run's" not in output
    code, output = _train(manifest, debug_models, out, "--overwrite", "--seed", "1")
    assert code == 0, output
    assert "lower than this run's)" in output and "not comparable" not in output


def test_a_skipped_file_is_printed_once(debug_models, manifest, repo_root, tmp_path):
    """Once, and counted in the singular: dataset build's summary said '(1 files skipped, ...)'."""
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    library = tmp_path / "library"
    library.mkdir()
    for track in (manifest.parent / "music").iterdir():
        (library / track.name).write_bytes(track.read_bytes())
    (library / "empty.flac").write_bytes(b"")
    images = repo_root / "exhibits/demo/artworks"
    runner = CliRunner()
    result = runner.invoke(main, ["dataset", "build", "--images", str(images), "--music", str(library), "-o",
                                  str(tmp_path / "pairs.csv"), "--model-dir", str(debug_models), "--device",
                                  "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("empty.flac") == 1, result.stderr
    assert " (1 file skipped, " in result.output, result.output
    result = runner.invoke(main, ["train", "--music-only", str(library), "--out", str(tmp_path / "m"),
                                  "--model-dir", str(debug_models), "--epochs", "1", "--segment-seconds", "1",
                                  "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("empty.flac") == 1, result.stderr


def test_per_image_beyond_the_library_is_warned(debug_models, manifest, repo_root, tmp_path):
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    library = tmp_path / "library"
    library.mkdir()
    track = next((manifest.parent / "music").iterdir())
    (library / track.name).write_bytes(track.read_bytes())
    result = CliRunner().invoke(main, ["dataset", "build", "--images", str(repo_root / "exhibits/demo/artworks"),
                                       "--music", str(library), "-o", str(tmp_path / "pairs.csv"), "--model-dir",
                                       str(debug_models), "--device", "cpu", "--per-image", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: --per-image 3: " in result.stderr, result.stderr
    assert "fewer than 3 tracks (the music has 1 readable track; at least 1 each)" in result.stderr


def test_evaluate_says_the_real_music_is_cut_to_duration(debug_models, manifest, tmp_path):
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    runner = CliRunner()
    assert "real music is cut to the same length" in " ".join(
        runner.invoke(main, ["evaluate", "--help"]).output.split()
    )
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out)
    assert code == 0, output
    result = runner.invoke(main, ["evaluate", str(manifest), "--model-dir", str(debug_models), "--aligner",
                                  str(out / "best"), "--duration", "1", "--steps", "1", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "real music: the first 1 s of each track (--duration)" in result.stdout


def test_progress_for_a_log_is_a_line_every_tenth_or_ten_seconds_and_the_last():
    from art2mus.training.collection import progress_printer

    lines: list[str] = []
    now = [0.0]
    progress = progress_printer("embedding pairs", lines.append, clock=lambda: now[0])
    for k in range(1, 13):  # 12 quick pairs: a line every second one (each was a line)
        now[0] += 0.5
        progress(k, 12, f"painting-{k:02d}")
    assert [line.split()[2] for line in lines] == ["1/12", "2/12", "4/12", "6/12", "8/12", "10/12", "12/12"]
    lines.clear()
    progress = progress_printer("embedding pairs", lines.append, clock=lambda: now[0])
    for k in range(1, 1001):  # 1000 pairs: every 100th, and every 10 s between
        now[0] += 4.0
        progress(k, 1000, "x")
    shown = [int(line.split()[2].split("/")[0]) for line in lines]
    assert shown[:4] == [1, 4, 7, 10] and 100 in shown and shown[-1] == 1000
    assert len(shown) < 400


def test_a_full_disk_elsewhere_in_train_is_still_one_sentence(debug_models, manifest, tmp_path, monkeypatch):
    import errno

    from art2mus.training import train_job

    def full(*args, **kwargs):
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(tmp_path / "run" / ".lock"))

    monkeypatch.setattr(train_job, "run_train_job", full)
    code, output = _train(manifest, debug_models, tmp_path / "run")
    assert code == 1 and "Traceback" not in output, output
    assert (
        f"Error: cannot write {tmp_path / 'run' / '.lock'}: disk quota exceeded; free space, then run"
        in output
    )


def test_overwrite_says_once_where_the_earlier_best_aligner_is_kept(debug_models, manifest, tmp_path):
    """A log warning 'overwriting the run in ...: its best aligner is kept in .../best.previous' came before
    train's own 'the earlier run's best aligner is kept in .../best.previous (validation loss ...)'."""
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out)
    assert code == 0, output
    code, output = _train(manifest, debug_models, out, "--overwrite")
    assert code == 0, output
    assert output.count("best.previous") == 1, output
    assert f"the earlier run's best aligner is kept in {out / 'best.previous'}" in output

