"""``models debug`` over an earlier debug build: it writes the debug parts again, keeps what else is there
(an imported aligner, a curator's notes) and says so, listing only what it wrote, as its --help says."""

from __future__ import annotations

from click.testing import CliRunner

from art2mus.installation.cli import main


def test_debug_over_an_earlier_build_keeps_and_names_other_files(tmp_path):
    where = tmp_path / "models"
    assert CliRunner().invoke(main, ["models", "debug", str(where)]).exit_code == 0
    (where / "notes.txt").write_text("which seed\n")
    (where / "stuff").mkdir()
    imported = where / "aligners/v1dbg"
    imported.mkdir()
    (imported / "config.json").write_text("{}")

    result = CliRunner().invoke(main, ["models", "debug", str(where), "--seed", "1"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.splitlines() if line.startswith("  ")]
    assert "aligners/debug-imagebind-4tok" in listed and "audioldm2" in listed
    assert "aligners/v1dbg" not in listed  # not written by the build
    assert (
        "kept what was there besides the earlier debug build, untouched: notes.txt, stuff/, aligners/v1dbg/"
        in (result.output)
    )
    assert (where / "notes.txt").read_text() == "which seed\n" and (
        imported / "config.json"
    ).read_text() == "{}"

    help_text = CliRunner().invoke(main, ["models", "debug", "--help"]).output
    assert "is kept" in " ".join(help_text.split())


def test_a_fresh_debug_build_names_nothing_kept(tmp_path):
    result = CliRunner().invoke(main, ["models", "debug", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert "kept" not in result.output
