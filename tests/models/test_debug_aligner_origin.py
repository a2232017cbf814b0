"""``models list`` says where a debug build's aligners came from.

Before: the random-weight aligners of a debug build were listed as ``origin: trained locally``, the words
for an aligner ``art2mus train`` made, though nothing trained them.
"""

from __future__ import annotations

from click.testing import CliRunner

from art2mus.installation.cli import main


def test_debug_aligners_are_listed_as_a_debug_build(debug_model_dir):
    result = CliRunner().invoke(main, ["models", "list", "--model-dir", str(debug_model_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    described = [lines[i + 1] for i, line in enumerate(lines) if line.strip().startswith("aligners/debug-")]
    assert len(described) == 4
    assert all("origin: debug build, random weights," in line for line in described), described
    assert "trained locally" not in result.output
