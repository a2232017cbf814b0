"""``render --aligner`` says what a command line's path is relative to.

Its help was the exhibit field's ("a relative path is relative to this YAML file"), but on the command
line a relative path is the current folder's, and a bare name is a folder under ``MODEL_DIR/aligners``:
``--aligner ../models/aligners/x`` written as the YAML file would have it was not found.
"""

from __future__ import annotations

from click.testing import CliRunner

from art2mus.installation.cli import main


def test_the_aligner_option_says_relative_to_the_current_folder_or_a_name_under_aligners():
    text = " ".join(CliRunner().invoke(main, ["render", "--help"], terminal_width=200).output.split())
    start = text.index("--aligner DIRECTORY")
    aligner = text[start : text.index(" --", start + 5)]
    assert "relative to this YAML file" not in aligner
    assert "a path from the current folder or the name of a folder under MODEL_DIR/aligners" in aligner
