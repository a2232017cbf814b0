"""Ctrl-C before the first pair is extracted (the ML engineer's sweep: `0 of 10 pairs are kept in
runs/d/dataset/pieces/feb8...`, a folder that did not exist)."""

from __future__ import annotations

from pathlib import Path

import pytest

from art2mus.training.extraction import ExtractionInterrupted
from art2mus.training.train_job import run_train_job


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    import torch

    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def test_an_interrupt_before_the_first_piece_says_nothing_is_kept(
    debug_models, manifest, tmp_path, train_job, monkeypatch
):
    from art2mus.training import dataset

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "build_dataset", interrupted)  # Ctrl-C while the first pair is embedded
    run = tmp_path / "run"
    with pytest.raises(ExtractionInterrupted) as stopped:
        run_train_job(train_job(manifest, debug_models, run))
    assert not (run / "dataset" / "pieces").exists()
    assert str(stopped.value) == (
        "interrupted while extracting the dataset, before the first of its 4 pairs was extracted: nothing is "
        "kept; run the same command again to start the extraction"
    )
    assert stopped.value.kept == 0
