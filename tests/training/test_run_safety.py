"""`art2mus train` and `art2mus evaluate` as an ML engineer's sweep found them, each finding fixed:

* a device this machine lacks, or a damaged model file, is one sentence (not a 40-line traceback);
* Ctrl-C or SIGTERM during the epochs says which checkpoint is kept and exits 130 or 143 (a bare
  "Aborted!" and 1 before), and the checkpoint is never half written;
* a second run into the same --out refuses (both went on, and corrupted the run);
* a second --overwrite keeps best.previous (it deleted it) beside the newer one, with their losses;
* fp16 on the CPU and --tokens against an --init aligner are refused (both were silently ignored);
* refusals name the options with their dashes, and suggest what works;
* evaluating pairs the aligner was trained on is warned about;
* the ETA leaves out a process's first-step costs.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.training.interrupts import Terminated, signals_held, sigterm_interrupts
from art2mus.training.train_job import run_train_job
from art2mus.training.trainer import CHECKPOINT_FILE, HISTORY_FILE, TrainingInterrupted


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _train(manifest: Path, models: Path, out: Path, *more: object) -> tuple[int, str]:
    return _run("train", manifest, "--model-dir", models, "--out", out, "--segment-seconds", "1",
                "--batch-size", "2", "--val-fraction", "0.25", "--device", "cpu", *more)  # fmt: skip


def test_a_missing_gpu_or_a_device_typo_is_one_line_before_any_work(
    debug_models, manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    for device in ("cuda", "cuda:3"):
        code, output = _train(manifest, debug_models, out, "--device", device)
        assert code == 1 and output.strip() == (
            f"Error: --device {device}: no CUDA device here (torch {torch.__version__}); use --device cpu or auto"
        ), output
    code, output = _train(manifest, debug_models, out, "--device", "gpu")
    assert code == 2 and "Invalid value for '--device': 'gpu': expected auto, cpu, cuda or cuda:N" in output
    assert not out.exists()  # nothing was loaded, nothing written
    code, output = _run("evaluate", manifest, "--model-dir", debug_models, "--aligner", "debug-imagebind-1tok",
                        "--device", "cuda")  # fmt: skip
    assert code == 1 and output.strip().startswith("Error: --device cuda: no CUDA device here"), output


def test_a_damaged_model_file_is_named_by_train_and_evaluate(debug_models, manifest, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(debug_models, models, symlinks=True)
    weights = models / "audioldm2-music/unet/diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    for command in (
        ("train", manifest, "--model-dir", models, "--out", tmp_path / "run", "--device", "cpu"),
        ("evaluate", manifest, "--model-dir", models, "--aligner", "debug-imagebind-1tok", "--device", "cpu"),
    ):
        code, output = _run(*command)
        assert code == 1, output
        assert output.startswith(f"Error: {weights} cannot be loaded, it is damaged or incomplete ("), output
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1


def test_a_second_train_into_the_same_out_refuses(debug_models, manifest, tmp_path):
    from art2mus.training.run_lock import RunFolderLock

    out = tmp_path / "run"
    with RunFolderLock(out):  # a first run holds it (flock: another open of the file is refused)
        code, output = _train(manifest, debug_models, out, "--epochs", "1")
    assert code == 1, output
    assert f"Error: {out} is in use by another train (pid {os.getpid()}, holding {out / '.lock'})" in output
    assert not (out / "dataset").exists()  # refused before any work
    code, output = _train(manifest, debug_models, out, "--epochs", "1")  # the first one has finished
    assert code == 0, output


def test_options_that_would_be_ignored_are_refused(debug_models, manifest, tmp_path):
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out, "--mixed-precision", "fp16")
    assert code == 2 and "--mixed-precision fp16 needs a GPU" in output and "bf16" in output, output
    code, output = _train(manifest, debug_models, out, "--init", "debug-imagebind-4tok", "--tokens", "1")
    assert code == 2, output
    assert "--tokens 1 with --init debug-imagebind-4tok, an aligner of 4 token(s)" in output
    assert not out.exists()


def _interrupt_at_step(step: int, interrupt: type[BaseException] = KeyboardInterrupt):
    def progress(done: int, total: int, loss: float) -> None:
        if done == step:
            raise interrupt

    return progress


def test_an_interrupt_in_an_epoch_keeps_the_last_checkpoint_and_says_so(
    debug_models, manifest, tmp_path, train_job
):
    out = tmp_path / "run"

    def _job(*args, **changes):
        return train_job(*args, **{"epochs": 3, "batch_size": 2, **changes})

    # 12 segments, 3 held out: 5 steps an epoch, step 7 is in epoch 2
    with pytest.raises(TrainingInterrupted) as stopped:
        run_train_job(_job(manifest, debug_models, out), progress=_interrupt_at_step(7))
    assert (stopped.value.epoch, stopped.value.saved, stopped.value.signum) == (2, 1, signal.SIGINT)
    assert str(stopped.value) == (
        f"interrupted in epoch 2/3: the last checkpoint (epoch 1) is kept in {out}, with best/ and last/; "
        "continue with the same command and --resume"
    )
    assert torch.load(out / CHECKPOINT_FILE, weights_only=True)["epoch"] == 1
    with pytest.raises(TrainingInterrupted) as stopped:  # SIGTERM, in the resumed run's first epoch
        run_train_job(
            _job(manifest, debug_models, out, resume=True), progress=_interrupt_at_step(6, Terminated)
        )
    assert str(stopped.value).startswith("stopped by SIGTERM in epoch 2/3: the last checkpoint (epoch 1)")
    assert str(stopped.value).endswith("; continue with the same command")
    outcome = run_train_job(_job(manifest, debug_models, out, resume=True))
    assert [r.epoch for r in outcome.result.history] == [1, 2, 3]
    assert [json.loads(line)["epoch"] for line in (out / HISTORY_FILE).read_text().splitlines()] == [1, 2, 3]

    with pytest.raises(TrainingInterrupted) as stopped:  # before the first checkpoint: nothing to resume
        run_train_job(_job(manifest, debug_models, tmp_path / "new"), progress=_interrupt_at_step(1))
    assert str(stopped.value) == (
        "interrupted in epoch 1/3, before this run's first checkpoint: no epoch is kept; run the same command again"
    )


def test_ctrl_c_in_train_s_epochs_exits_130_with_the_sentence(debug_models, manifest, tmp_path, monkeypatch):
    from art2mus.training import trainer

    steps = []

    def step_then_ctrl_c(*args, **kwargs):
        steps.append(1)
        if len(steps) == 7:  # 5 steps an epoch
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = trainer.aligner_training_step
    monkeypatch.setattr(trainer, "aligner_training_step", step_then_ctrl_c)
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out, "--epochs", "3")
    assert code == 130, output
    assert "Aborted!" not in output
    assert output.splitlines()[-1] == (
        f"interrupted in epoch 2/3: the last checkpoint (epoch 1) is kept in {out}, with best/ and last/; "
        "continue with the same command and --resume"
    )


@pytest.mark.slow
def test_sigterm_during_train_s_epochs_exits_143_and_resume_continues(debug_models, manifest, tmp_path):
    """What a scheduler or systemd sends: the process ended with no word before (Python's default)."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "art2mus.installation.cli", "train", str(manifest), "--model-dir",
               str(debug_models), "--out", str(out), "--segment-seconds", "1", "--batch-size", "2",
               "--epochs", "50", "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in process.stdout:  # epoch lines, off a terminal
        if line.startswith("epoch 2/50"):
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 143, rest
    assert "Traceback" not in rest
    told = rest.strip().splitlines()[-1]
    assert (
        told.startswith("stopped by SIGTERM in epoch ")
        and "continue with the same command and --resume" in told
    )
    saved = torch.load(out / CHECKPOINT_FILE, weights_only=True)["epoch"]  # whole: the write was held
    assert f"the last checkpoint (epoch {saved})" in told and saved >= 2


def test_signals_wait_for_a_held_block(tmp_path):
    with sigterm_interrupts():
        with pytest.raises(Terminated):
            with signals_held():
                signal.raise_signal(signal.SIGTERM)
                (tmp_path / "written").write_text("whole")  # reached: the signal waited
        assert (tmp_path / "written").read_text() == "whole"


def test_overwrite_keeps_every_earlier_best_and_prints_the_losses(debug_models, manifest, tmp_path):
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out, "--epochs", "1", "--seed", "1")
    assert code == 0, output
    first = (out / "best/model.safetensors").read_bytes()
    code, output = _train(manifest, debug_models, out, "--epochs", "1", "--seed", "1")
    assert (
        code == 1
        and (
            "continue it with --resume, train into another folder, or start afresh with --overwrite (its best/ is "
            "kept as best.previous/)"
        )
        in output
    ), output
    code, output = _train(manifest, debug_models, out, "--epochs", "1", "--seed", "2", "--overwrite",
                          "--mixed-precision", "bf16")  # fmt: skip
    assert code == 0, output
    second = (out / "best/model.safetensors").read_bytes()
    code, output = _train(manifest, debug_models, out, "--epochs", "1", "--seed", "3", "--overwrite")
    assert code == 0, output
    assert (out / "best.previous/model.safetensors").read_bytes() == first  # deleted before
    assert (out / "best.previous.2/model.safetensors").read_bytes() == second
    kept = json.loads((out / "best.previous.2/config.json").read_text())["metadata"]
    assert kept["mixed_precision"] == "bf16" and kept["pairs_file"] == str(manifest.absolute())
    now = json.loads((out / "best/config.json").read_text())["metadata"]
    assert now["mixed_precision"] == "no"
    assert f"best aligner: {out / 'best'} (validation loss {now['val_loss']:.6g})" in output
    assert (
        f"the earlier run's best aligner is kept in {out / 'best.previous.2'} (validation loss "
        f"{kept['val_loss']:.6g}, "
    ) in output
    epoch = next(line for line in output.splitlines() if line.startswith("epoch 1/1"))
    assert f"val {now['val_loss']:.6g}" in epoch  # six digits: a change in the sixth shows

    code, output = _train(manifest, debug_models, out, "--epochs", "1", "--seed", "4", "--resume")
    assert code == 1 and "--seed: 3 in the checkpoint, 4 now" in output, output
    assert "start afresh with --overwrite or train into another folder" in output
    assert "without resume" not in output


def test_evaluating_pairs_the_aligner_was_trained_on_is_warned_about(debug_models, manifest, tmp_path):
    out = tmp_path / "run"
    code, output = _train(manifest, debug_models, out, "--epochs", "1")
    assert code == 0, output
    rows = list(csv.DictReader(manifest.open()))
    one = tmp_path / "one.csv"  # a pair of the training data, its paths written otherwise
    one.write_text(f"id,image,audio\nx,{rows[0]['image']},{manifest.parent / rows[0]['audio']}\n")
    code, output = _run("evaluate", one, "--model-dir", debug_models, "--aligner", out / "best", "--duration",
                        "0.5", "--steps", "1", "--device", "cpu")  # fmt: skip
    assert code == 0, output
    assert (
        f"warning: the evaluated pair is in the data the aligner was trained on ({manifest.absolute()}): "
        "the scores flatter it; evaluate on pairs it has not seen"
    ) in output
    assert "\n1 pair (art2mus-music conditioning)" in output


def test_trained_pairs_are_found_by_path_or_by_content(manifest, tmp_path):
    from art2mus.training.dataset import read_pairs
    from art2mus.training.evaluate import trained_pairs_among

    trained = read_pairs(manifest)
    copies = tmp_path / "copies"
    copies.mkdir()
    image, audio = copies / "a.png", copies / "a.wav"
    shutil.copy(trained[1].image, image)
    shutil.copy(trained[1].audio, audio)
    other = copies / "b.wav"
    shutil.copy(trained[2].audio, other)
    pairs = [
        trained[0],
        type(trained[0])("copy", image, audio),
        type(trained[0])("new", image, other),  # a trained image with other music
    ]
    overlap = trained_pairs_among(pairs, {"pairs_file": str(manifest)})
    assert (overlap.pairs, overlap.images, overlap.total) == (2, 1, 3)
    assert overlap.warning().startswith(
        f"warning: 2 of 3 evaluated pairs are in the data the aligner was trained on ({manifest}), and 1 more "
        "pair has its image in it (with other music)"
    )
    assert trained_pairs_among(pairs, {}) is None  # an imported aligner names no training data
    gone = trained_pairs_among(pairs, {"pairs_file": str(tmp_path / "moved.csv")})
    assert gone.pairs is None and gone.warning().startswith(
        "note: not checked against the aligner's training"
    )
    music = trained_pairs_among(pairs, {"music_dir": str(copies)})
    assert (music.pairs, music.total) == (2, 3)


def test_the_eta_leaves_out_the_first_step_s_one_time_costs(debug_models, manifest, tmp_path):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import build_dataset, read_pairs
    from art2mus.training.trainer import TrainingConfig, train_aligner

    pipeline = Art2MusPipeline.from_model_dir(debug_models, encoder="imagebind")
    pipeline.set_aligner(ImageAligner(pipeline.encoder.spec.name, pipeline.encoder.spec.dim, lm_dim=int(
        pipeline.language_model.config.hidden_size), n_tokens=1))  # fmt: skip
    dataset = build_dataset(read_pairs(manifest), pipeline, segment_s=1.0)
    now = [0.0]

    def progress(step: int, total: int, loss: float) -> None:  # the fake clock: 100 s warming up, then 1 s
        now[0] += 100.0 if step == 1 else 1.0

    etas = []
    config = TrainingConfig(epochs=3, batch_size=2, val_fraction=0.25)
    result = train_aligner(pipeline, dataset, tmp_path / "run", config, progress=progress,
                           on_epoch=lambda record, epochs, eta: etas.append(eta), clock=lambda: now[0])  # fmt: skip
    steps = result.history[0].steps
    assert steps >= 2 and result.history[0].seconds == pytest.approx(100 + steps - 1)
    # not 2 x 102 s: the first step counts as its epoch's others
    assert etas == pytest.approx([2.0 * steps, 1.0 * steps, 0.0])

    etas.clear()  # one step an epoch: nothing tells the warm-up from the pace, so no figure at first
    one_step = TrainingConfig(epochs=2, batch_size=64, val_fraction=0.25)
    train_aligner(pipeline, dataset, tmp_path / "one", one_step, progress=progress,
                  on_epoch=lambda record, epochs, eta: etas.append(eta), clock=lambda: now[0])  # fmt: skip
    assert etas == [None, 0.0]
