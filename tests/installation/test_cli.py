"""The ``art2mus`` command group: every command has --help, and --help stays light."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from art2mus.installation.cli import COMMANDS, main


def test_every_command_and_subcommand_has_help():
    runner = CliRunner()
    listed = runner.invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in listed.output, name
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, (name, result.output)
    for sub in ("list", "pull", "export-onnx"):
        result = runner.invoke(main, ["models", sub, "--help"])
        assert result.exit_code == 0, (sub, result.output)


def test_help_does_not_import_the_model_stack():
    """`art2mus --help` stays fast on a gallery PC: no torch, diffusers or transformers behind it, and no
    scipy.signal or pyloudnorm either (the procedural generator's and the loudness meter's code load
    when they first work: with them `--help` took 1.4 s, without 0.45 s)."""
    heavy = ("torch", "diffusers", "transformers", "scipy.signal", "scipy.ndimage", "pyloudnorm", "fastapi")
    probe = (
        "import sys\nfrom art2mus.installation.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED:' + ','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED:"
