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


def test_the_playing_path_does_not_import_scipy():
    """`demo`, `run` and `simulate` start without scipy: the limiter's filters are numpy (importing
    scipy.signal and scipy.ndimage for them was about 0.8 of the 2.9 CPU s a one-second `simulate` took).
    scipy loads only where a soundscape is rendered or a file's loudness first measured."""
    probe = (
        "import sys\nimport art2mus.installation.gallery, art2mus.installation.audio.engine\n"
        "import art2mus.installation.cli.simulate, art2mus.installation.vision.pipeline\n"
        "from art2mus.installation.audio import TruePeakLimiter\n"
        "import numpy as np\nTruePeakLimiter(48000, 2).process(np.ones((512, 2), np.float32))\n"
        "print('LOADED:' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED:"


def test_a_command_imports_no_other_commands_module():
    """The group imports a command's module when that command runs: importing every one at start (the
    model module art2mus.models.art2mus_generator with `evaluate`'s), `simulate --help` took 0.35 CPU s,
    now 0.12 s."""
    probe = (
        "import sys\nfrom art2mus.installation.cli import main\n"
        "try:\n    main(['simulate', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED:' + ','.join(sorted(m for m in sys.modules if m.startswith('art2mus.installation.cli.')"
        " or m == 'art2mus.models.art2mus_generator')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    loaded = out.strip().splitlines()[-1].removeprefix("LOADED:").split(",")
    assert "art2mus.installation.cli.simulate" in loaded
    assert "art2mus.models.art2mus_generator" not in loaded
    others = {f"art2mus.installation.cli.{name}" for name in COMMANDS} - {"art2mus.installation.cli.simulate"}
    assert others.isdisjoint(loaded), sorted(others.intersection(loaded))
