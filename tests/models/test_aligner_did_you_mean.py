"""A mistyped aligner name is answered with the installed name it is close to, wherever a name is taken."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from art2mus.installation.cli import main


def test_resolve_aligner_suggests_the_close_installed_name(debug_model_dir):
    from art2mus.models.model_dir import ModelDir

    mdir = ModelDir(debug_model_dir)
    with pytest.raises(FileNotFoundError) as raised:
        mdir.resolve_aligner("debug-imagebind-4tk")
    said = str(raised.value)
    assert "installed aligners: " in said and said.endswith("(did you mean 'debug-imagebind-4tok'?)")
    with pytest.raises(FileNotFoundError) as raised:  # an exhibit's value resolved to a path beside it
        mdir.resolve_aligner(debug_model_dir.parent / "ex" / "debug-clip-4tk")
    assert str(raised.value).endswith("(did you mean 'debug-clip-4tok'?)")
    with pytest.raises(FileNotFoundError) as raised:  # nothing close: no suggestion
        mdir.resolve_aligner("zzzzzz")
    assert "did you mean" not in str(raised.value)


def test_evaluate_and_train_say_did_you_mean(debug_model_dir, tmp_path, repo_root):
    artwork = next(iter(sorted((repo_root / "exhibits/demo/artworks").glob("*.png"))))
    soundfile.write(tmp_path / "a.wav", np.zeros(22050, dtype=np.float32), 22050)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"id,image,audio\na,{artwork},a.wav\nb,{artwork},a.wav\n")
    runner = CliRunner()
    for args in (
        ["evaluate", str(pairs), "--model-dir", str(debug_model_dir), "--aligner", "debug-imagebind-4tk"],
        ["train", str(pairs), "--model-dir", str(debug_model_dir), "--init", "debug-imagebind-4tk",
         "--out", str(tmp_path / "run")],
    ):  # fmt: skip
        result = runner.invoke(main, args)
        assert result.exit_code != 0
        assert "(did you mean 'debug-imagebind-4tok'?)" in result.output, result.output
