"""The art2mus namespace: both a regular wheel and the editable install import it, and nothing
installs a bare ``models`` or ``installation`` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (found,) = out.glob("art2mus-*.whl")
    return found


def test_wheel_maps_folders_into_the_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_levels = {name.split("/")[0] for name in names if not name.startswith("art2mus-")}
    assert top_levels == {"art2mus"}
    for module in ("installation/config/loader.py", "models/generator.py", "training/__init__.py",
                   "kiosk_ui/__init__.py", "installation/cli/__init__.py"):
        assert f"art2mus/{module}" in names
    assert "art2mus/exhibits/demo/exhibit.yaml" in names
    assert not any(name.startswith("art2mus/tests/") for name in names)


def test_regular_wheel_install_imports_from_its_own_files(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert not (target / "models").exists() and not (target / "installation").exists()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import art2mus.installation.config as c, art2mus.models.generator as g;"
        "print(c.__file__); print(g.__file__)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=True)
    for line in result.stdout.split():
        assert line.startswith(str(target)), line


def test_editable_install_imports_from_the_checkout() -> None:
    code = "import art2mus.installation.config as c, art2mus.models as m; print(c.__file__); print(m.__file__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    config_file, models_file = result.stdout.split()
    assert Path(config_file) == REPO / "installation" / "config" / "__init__.py"
    assert Path(models_file) == REPO / "models" / "__init__.py"


def test_light_core_does_not_import_torch() -> None:
    """`art2mus --help` and `validate` must work without the model stack, and fast."""
    code = (
        "import sys, art2mus.installation.cli, art2mus.installation.config, art2mus.models.registry;"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_command_line_imports_no_training_code() -> None:
    """`art2mus run` starts the daemon from the CLI package: the training commands import training code
    inside their functions, so loading the CLI loads none of it (STYLE rule 7)."""
    code = (
        "import sys, art2mus.installation.cli;"
        "print(sorted(m for m in sys.modules if m.startswith('art2mus.training')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
