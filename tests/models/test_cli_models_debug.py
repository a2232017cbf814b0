"""``art2mus models debug DIR`` writes the debug model directory from the command line.

Before: only the Python call ``build_debug_model_dir`` built it, though the docs and tests rely on debug
models to try the whole path on a machine without weights.
"""

from __future__ import annotations

from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.model_dir import ModelDir


def test_debug_writes_a_model_directory_every_command_takes(tmp_path):
    where = tmp_path / "models"
    result = CliRunner().invoke(main, ["models", "debug", str(where)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0]
        == f"wrote a debug model directory to {where} (random weights, seed 0; no sound worth hearing):"
    )
    rows = ModelDir(where).status()
    assert all(row.present and not row.damaged for row in rows)
    assert [line.split()[0] for line in lines[1:-1]] == [row.key for row in rows]
    assert "aligners/debug-imagebind-4tok" in lines[-2]
    assert lines[-1] == (
        f"to use it, set ART2MUS_MODEL_DIR={where} or give --model-dir {where} "
        f"(art2mus models list --model-dir {where} shows it)"
    )
    listed = CliRunner().invoke(main, ["models", "list"], env={"ART2MUS_MODEL_DIR": str(where)})
    assert listed.exit_code == 0 and "MISSING" not in listed.output, listed.output
    again = CliRunner().invoke(main, ["models", "debug", str(where), "--seed", "1"])  # over a debug build
    assert again.exit_code == 0, again.output


def test_debug_refuses_a_folder_that_holds_other_files(tmp_path):
    real = tmp_path / "models"
    (real / "audioldm2-music").mkdir(parents=True)
    (real / "audioldm2-music" / "model_index.json").write_text("{}")
    result = CliRunner().invoke(main, ["models", "debug", str(real)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {real} holds files and is not a debug build: a debug build would overwrite any model there; "
        "give a new or empty folder\n"
    )
    assert [p.name for p in real.rglob("*")] == ["audioldm2-music", "model_index.json"]
