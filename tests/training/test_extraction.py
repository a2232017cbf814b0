"""An interrupted feature extraction keeps its complete pieces: run again, it embeds only the items no piece
holds and ends with the dataset an uninterrupted extraction makes, byte for byte. Before, a Ctrl-C (or a
power cut, an OOM kill) during `art2mus train`'s extraction lost all of it, hours with real encoders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from art2mus.training.dataset import (
    PairDataset,
    build_dataset,
    build_music_dataset,
    common_folder,
    read_pairs,
)
from art2mus.training.extraction import (
    ExtractionInterrupted,
    complete_pieces,
    extract_in_pieces,
    kept_items,
)
from art2mus.training.train_job import TrainJobError, run_train_job

FINGERPRINT = "0123456789abcdef01234567"


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


@pytest.fixture(scope="module")
def pipeline(debug_models):
    from art2mus.models.pipeline import Art2MusPipeline

    return Art2MusPipeline.from_model_dir(debug_models, encoder="imagebind")


class _Counted:
    """Wraps ``pipeline.encoder``'s ``method`` to count its calls (the work an extraction did)."""

    def __init__(self, pipeline, method: str):
        self.encoder, self.method, self.calls = pipeline.encoder, method, 0
        self.original = getattr(self.encoder, method)

    def __enter__(self):
        def counted(*args, **kwargs):
            self.calls += 1
            return self.original(*args, **kwargs)

        setattr(self.encoder, self.method, counted)
        return self

    def __exit__(self, *exc):
        delattr(self.encoder, self.method)  # the class's method again


def _interrupt_after(count: int):
    def progress(done: int, total: int, name: str) -> None:
        if done == count:
            raise KeyboardInterrupt

    return progress


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_interrupted_extraction_continues_and_equals_an_uninterrupted_one(pipeline, manifest, tmp_path):
    pairs = read_pairs(manifest)  # four pairs, 2.5 s of music each

    def build(part, first_index):
        return build_dataset(list(part), pipeline, segment_s=1.0, seed=3, first_index=first_index)

    # the build before pieces: every pair at once, saved under the whole set's fingerprint
    whole = build(pairs, 0)
    whole.info["fingerprint"] = FINGERPRINT
    whole.save(tmp_path / "whole")

    folder = tmp_path / "pieces"
    with _Counted(pipeline, "encode_images") as first, pytest.raises(KeyboardInterrupt):
        # a piece would be written after 3 pairs: the interrupt after the second writes the two it has
        extract_in_pieces(
            pairs, build, folder, FINGERPRINT, piece_items=3, progress=_interrupt_after(2), clock=lambda: 0.0
        )
    assert first.calls == 2
    assert [(p.start, p.end) for p in complete_pieces(folder, FINGERPRINT)] == [(0, 2)]
    assert kept_items(folder, FINGERPRINT) == 2 and kept_items(folder, "another") == 0

    done = []
    with _Counted(pipeline, "encode_images") as second:
        dataset = extract_in_pieces(
            pairs, build, folder, FINGERPRINT, piece_items=1, label=lambda pair: pair.id,
            progress=lambda d, t, n: done.append((d, n)),
        )  # fmt: skip
    assert second.calls == 2 and done == [(3, pairs[2].id), (4, pairs[3].id)]  # only the two not kept
    assert torch.equal(dataset.latents[:], whole.latents) and torch.equal(
        dataset.embeddings[:], whole.embeddings
    )
    assert torch.equal(dataset.segment_pair, whole.segment_pair) and dataset.pair_ids == whole.pair_ids
    dataset.save(tmp_path / "continued")
    assert _files(tmp_path / "continued") == _files(tmp_path / "whole")  # shards, table, dataset.json

    # a piece cut short (written, then the power went) is made again, never read
    last = complete_pieces(folder, FINGERPRINT)[-1].path
    last.write_bytes(last.read_bytes()[:-100])
    with _Counted(pipeline, "encode_images") as third:
        again = extract_in_pieces(pairs, build, folder, FINGERPRINT)
    assert third.calls == 1 and torch.equal(again.latents[:], whole.latents)

    # pieces record their data's fingerprint: another's are never taken, even in this folder
    with _Counted(pipeline, "encode_images") as other:
        extract_in_pieces(pairs, build, folder, "f" * 24)
    assert other.calls == 4


def test_a_music_only_extraction_keeps_its_skipped_tracks_across_an_interrupt(pipeline, manifest, tmp_path):
    music = sorted((manifest.parent / "music").glob("*.wav"))
    short = tmp_path / "jingle.wav"
    soundfile.write(short, np.zeros(2000, np.float32), 16000)  # 0.125 s: no 1 s segment
    tracks = [music[0], short, *music[1:3]]
    root = common_folder(tracks)

    def build(part, first_index):
        return build_music_dataset(list(part), pipeline, segment_s=1.0, first_index=first_index, root=root)

    whole = build(tracks, 0)
    whole.info["fingerprint"] = FINGERPRINT
    folder = tmp_path / "pieces"
    with pytest.raises(KeyboardInterrupt):
        extract_in_pieces(tracks, build, folder, FINGERPRINT, piece_items=1, progress=_interrupt_after(2))
    with _Counted(pipeline, "encode_audio") as rest:
        dataset = extract_in_pieces(tracks, build, folder, FINGERPRINT)
    assert rest.calls == 2
    assert dataset.info == whole.info and [s[0] for s in dataset.info["skipped"]] == [str(short)]
    assert dataset.pair_ids == whole.pair_ids and torch.equal(dataset.segment_pair, whole.segment_pair)
    assert torch.equal(dataset.latents[:], whole.latents) and torch.equal(
        dataset.embeddings[:], whole.embeddings
    )


def test_train_interrupted_while_extracting_says_what_is_kept_and_continues(
    debug_models, manifest, tmp_path, train_job
):
    def interrupt_at_pair_2(line: str) -> None:
        if line.startswith("embedding pairs: 2/4"):
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(ExtractionInterrupted) as stopped:
        run_train_job(train_job(manifest, debug_models, run), status=interrupt_at_pair_2)
    assert (stopped.value.kept, stopped.value.total) == (2, 4)
    assert str(stopped.value).startswith(
        "interrupted while extracting the dataset: 2 of 4 pairs are kept in "
    )
    assert "run the same command again to continue" in str(stopped.value)

    reports, lines = [], []
    outcome = run_train_job(
        train_job(manifest, debug_models, run, resume=True), report=reports.append, status=lines.append
    )
    assert any(line.startswith("continuing the interrupted extraction: 2 of 4 pairs") for line in reports)
    assert [line.split()[2] for line in lines] == ["3/4", "4/4"]  # only the pairs not kept were embedded
    assert outcome.result.history and not (run / "dataset" / "pieces").exists()  # cleared once saved

    uninterrupted = tmp_path / "uninterrupted"
    run_train_job(train_job(manifest, debug_models, uninterrupted))
    assert _files(run / "dataset") == _files(uninterrupted / "dataset")
    assert (
        PairDataset.load(run / "dataset").info["fingerprint"]
        == PairDataset.load(uninterrupted / "dataset").info["fingerprint"]
    )

    # other segment settings are other data: the pieces of the first settings are not used, and go
    with pytest.raises(ExtractionInterrupted) as stopped:
        run_train_job(train_job(manifest, debug_models, tmp_path / "b"), status=interrupt_at_pair_2)
    lines.clear()
    reports.clear()
    with pytest.raises(ExtractionInterrupted) as stopped:
        run_train_job(
            train_job(manifest, debug_models, tmp_path / "b", max_segments=1), report=reports.append,
            status=lambda line: (lines.append(line), interrupt_at_pair_2(line)),
        )  # fmt: skip
    assert (
        not any("continuing" in line for line in reports)
        and lines[0].startswith("embedding pairs: 1/4")
        and stopped.value.kept == 2
    )
    assert len(list((tmp_path / "b" / "dataset" / "pieces").iterdir())) == 1


def test_a_bad_file_keeps_the_pairs_before_it(debug_models, manifest, tmp_path, train_job):
    """A track damaged within stops the extraction with its row named; the pairs before it are kept.
    (A file that does not decode at all is named before any extraction, with every other one.)"""
    import numpy as np
    import soundfile

    noise = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32)
    soundfile.write(tmp_path / "good.flac", 0.1 * noise, 22050)
    whole = bytearray((tmp_path / "good.flac").read_bytes())
    whole[len(whole) // 2 : len(whole) // 2 + 2000] = bytes(2000)  # its header and end read, its middle not
    (tmp_path / "broken.flac").write_bytes(bytes(whole))
    rows = [line.split(",") for line in manifest.read_text().splitlines()[1:]]
    rows[2][2] = str(tmp_path / "broken.flac")  # the third pair's music
    bad = tmp_path / "pairs.csv"
    bad.write_text(
        "id,image,audio\n" + "".join(f"{i},{image},{manifest.parent / audio}\n" for i, image, audio in rows)
    )
    with pytest.raises(TrainJobError, match="pairs.csv:4: cannot read audio file .*broken.flac"):
        run_train_job(train_job(bad, debug_models, tmp_path / "run"))
    folder = next((tmp_path / "run" / "dataset" / "pieces").iterdir())
    assert [(p.start, p.end) for p in complete_pieces(folder, folder.name)] == [(0, 2)]


@pytest.mark.slow
def test_ctrl_c_during_train_s_extraction_keeps_the_pieces_and_says_so(debug_models, manifest, tmp_path):
    """The user's report: SIGINT while `art2mus train` extracts printed a bare `Aborted!` and kept nothing."""
    rows = manifest.read_text().splitlines()
    many = tmp_path / "many.csv"
    header, body = rows[0], rows[1:]
    music = manifest.parent
    lines = [header] + [
        f"{k}-{line.split(',')[0]},{line.split(',')[1]},{music / line.split(',')[2]}"
        for k in range(4)
        for line in body
    ]
    many.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "art2mus.installation.cli", "train", str(many), "--model-dir",
               str(debug_models), "--out", str(tmp_path / "run"), "--segment-seconds", "1", "--epochs", "1",
               "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
        # a terminal's Ctrl-C, also where pytest runs as a background job (its SIGINT ignored, inherited)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("embedding pairs: 2/16"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, "".join(seen) + rest
    assert "Aborted!" not in rest and "are kept in" in rest and "run the same command again" in rest
    kept = int(rest.split("interrupted while extracting the dataset: ")[1].split()[0])
    assert 2 <= kept < 16
    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"continuing the interrupted extraction: {kept} of 16 pairs" in again.stderr
    assert f"embedding pairs: {kept + 1}/16" in again.stderr and "embedding pairs: 1/16" not in again.stderr
