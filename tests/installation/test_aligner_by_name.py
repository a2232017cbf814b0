"""An exhibit may name an installed aligner: ``aligner: debug-imagebind-4tok`` was read as a folder beside the
exhibit, so validate said 'folder not found: ex/debug-imagebind-4tok' and render "aligner '.../ex/debug-...'
not found ... (installed aligners: ..., debug-imagebind-4tok)", refusing a name its own list showed, while
``render --aligner`` and ``models list`` use names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from small_exhibit import small_exhibit_spec
from test_cli_render import _InlineBackend

from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit, validate_exhibit
from art2mus.models.generator import Generator, Soundscape
from art2mus.models.model_dir import ModelDir
from art2mus.models.registry import GENERATOR_BACKENDS

NAME = "debug-imagebind-4tok"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def _exhibit(root: Path, repo_root: Path, model_dir: Path, aligner: str) -> Path:
    spec = small_exhibit_spec(root, repo_root, {"amber-fields": None})
    spec["artworks"][0]["soundscape"]["generator"] = "art2mus"
    art2mus = {"type": "art2mus", "model_dir": str(model_dir), "device": "cpu", "aligner": aligner}
    spec["generators"] = {"procedural": {"type": "procedural"}, "art2mus": art2mus}
    folder = root / "ex"
    folder.mkdir(exist_ok=True)
    path = folder / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_validate_accepts_the_name_of_an_installed_aligner(models, tmp_path, repo_root):
    exhibit = _exhibit(tmp_path, repo_root, models, NAME)
    config, problems = validate_exhibit(exhibit)
    assert problems == []
    # the installed folder, not a path made up beside the exhibit, whatever the current folder
    assert config.generators["art2mus"].aligner == models / "aligners" / NAME


def test_a_folder_beside_the_exhibit_wins_over_an_installed_name(models, tmp_path, repo_root):
    exhibit = _exhibit(tmp_path, repo_root, models, NAME)
    beside = exhibit.parent / NAME
    beside.mkdir()
    config = load_exhibit(exhibit, check_files=False)
    assert config.generators["art2mus"].aligner == beside


def test_an_unknown_name_lists_the_installed_aligners(models, tmp_path, repo_root):
    exhibit = _exhibit(tmp_path, repo_root, models, "debug-imagebind-9tok")
    _, problems = validate_exhibit(exhibit)
    messages = [(p.field, p.message) for p in problems]
    assert len(messages) == 1, messages
    field, message = messages[0]
    assert field == "generators.art2mus.aligner"
    assert message.startswith("folder not found: ")
    assert message.endswith(
        f" (not the name of an installed aligner either: no folder debug-imagebind-9tok under "
        f"{models / 'aligners'} (set by model_dir); installed aligners: {', '.join(sorted(a.name for a in ModelDir(models).list_aligner_dirs()))})"
    )
    assert NAME in message


class _Recording(Generator):
    """Stands in for the Art2Mus model: records the settings render passes it."""

    name = "art2mus"
    created: list[dict] = []

    def __init__(self, **settings):
        _Recording.created.append(settings)

    def generate(self, image, request):
        return Soundscape(waveform=np.zeros(int(request.duration_s * 16000), np.float32), sample_rate=16000)


def test_render_loads_the_named_aligner_from_the_model_directory(models, tmp_path, repo_root):
    """What render hands the generator is what it loads with ``ModelDir.resolve_aligner``: the folder
    under aligners/, not '<exhibit folder>/NAME' (which it refused as not found)."""
    exhibit = _exhibit(tmp_path, repo_root, models, NAME)
    backends = dict(GENERATOR_BACKENDS)
    backends["art2mus"] = _InlineBackend(
        name="art2mus",
        target="-",
        licence="test",
        extras=(),
        description="recording stand-in",
        cls=_Recording,
    )
    _Recording.created.clear()
    args = [
        "render",
        str(exhibit),
        "--artwork",
        "amber-fields",
        "-o",
        str(tmp_path / "a.wav"),
        "--duration",
        "1",
    ]
    result = CliRunner().invoke(main, args, obj={"generator_backends": backends})
    assert result.exit_code == 0, result.output
    (settings,) = _Recording.created
    assert ModelDir(models).resolve_aligner(settings["aligner"]) == models / "aligners" / NAME


def test_an_exhibit_the_schema_rejects_does_not_report_an_installed_aligner_name(models, tmp_path, repo_root):
    """With a mistake elsewhere the files are checked as written (a relative model_dir from the exhibit's
    folder): the name was 'folder not found' there too."""
    exhibit = _exhibit(tmp_path, repo_root, models, NAME)
    spec = yaml.safe_load(exhibit.read_text())
    spec["generators"]["art2mus"]["model_dir"] = "../../" + str(models.relative_to(tmp_path.parent))
    spec["idle"]["duration"] = -5
    exhibit.write_text(yaml.safe_dump(spec, sort_keys=False))
    _, problems = validate_exhibit(exhibit)
    assert [p.field for p in problems] == ["idle.duration"], problems


def _with_mistakes(exhibit: Path, generator: dict, duration: float | None = None) -> None:
    spec = yaml.safe_load(exhibit.read_text())
    spec["generators"]["art2mus"].update(generator)
    if duration is not None:
        spec["artworks"][0]["soundscape"]["duration"] = duration
    exhibit.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_an_unknown_name_lists_the_installed_aligners_beside_another_problem(models, tmp_path, repo_root):
    """One pass: `aligner: v1dbgg` with `steps: 0` gave a bare 'folder not found: v1dbgg' (no installed
    aligners) until the steps were mended."""
    exhibit = _exhibit(tmp_path, repo_root, models, "debug-imagebind-9tok")
    _with_mistakes(exhibit, {"steps": 0})
    _, problems = validate_exhibit(exhibit)
    messages = {p.field: p.message for p in problems}
    assert set(messages) == {"generators.art2mus.aligner", "generators.art2mus.steps"}, problems
    assert "(not the name of an installed aligner either: no folder debug-imagebind-9tok under " in (
        messages["generators.art2mus.aligner"]
    )
    assert NAME in messages["generators.art2mus.aligner"]


def test_an_aligner_that_does_not_fit_is_reported_beside_another_problem(models, tmp_path, repo_root):
    """One pass: an installed aligner trained for another encoder plus `duration: -2` reported the duration
    alone."""
    exhibit = _exhibit(tmp_path, repo_root, models, NAME)
    _with_mistakes(exhibit, {"encoder": "clip"})
    _, alone = validate_exhibit(exhibit)
    expected = [(p.field, p.message) for p in alone]
    assert [field for field, _ in expected] == ["generators.art2mus.aligner"], alone
    _with_mistakes(exhibit, {}, duration=-2)
    _, problems = validate_exhibit(exhibit)
    assert [(p.field, p.message) for p in problems if p.field.startswith("generators")] == expected, problems
    assert "artworks[0].soundscape.duration" in [p.field for p in problems]


def test_the_models_of_a_rejected_exhibit_may_fail_under_run(models, tmp_path, repo_root):
    """``models_may_fail`` (run) leaves a generator's model problems out of a rejected file too."""
    exhibit = _exhibit(tmp_path, repo_root, models, "debug-imagebind-9tok")
    _with_mistakes(exhibit, {"steps": 0})
    _, problems = validate_exhibit(exhibit, models_may_fail=True)
    assert [p.field for p in problems] == ["generators.art2mus.steps"], problems
