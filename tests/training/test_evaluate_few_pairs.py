"""The FAD of fewer held-out pairs than the embedding has dimensions (the ML engineer's sweep: `evaluate
--limit 2 --json` printed `fad: 0.399` with no caveat, and scipy's 'Matrix is singular' on stderr)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from art2mus.training.evaluate import frechet_distance


@pytest.mark.parametrize("seed", [9, 12, 16])  # pairs whose covariance product scipy calls singular
def test_a_rank_deficient_fad_lets_no_scipy_warning_through(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, 40)), rng.standard_normal((2, 40))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(frechet_distance(a, b))


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    import torch

    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def test_evaluate_says_a_fad_of_few_pairs_is_unreliable(debug_models, manifest):
    from click.testing import CliRunner

    from art2mus.installation.cli import main
    from art2mus.models.model_dir import ModelDir

    dim = ModelDir(debug_models).encoder_spec("imagebind").dim
    args = ["evaluate", str(manifest), "--model-dir", str(debug_models), "--aligner", "debug-imagebind-1tok",
            "--duration", "1", "--steps", "1", "--device", "cpu", "--limit", "2"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["fad"] is not None
    assert (scores["fad_reliable"], scores["fad_min_pairs"]) == (False, dim + 1)
    note = (
        f"note: the FAD of 2 pairs is unreliable: the audio embeddings have {dim} dimensions, so the covariances "
        f"of fewer than {dim + 1} clips are rank-deficient"
    )
    assert note in result.stderr and "LinAlgWarning" not in result.stderr
    text = runner.invoke(main, args)
    assert text.exit_code == 0 and note in text.stderr, text.output
