"""Whether an aligner can load where it will run, told from config files and a weights header (what
``validate`` reads, without torch): its config against its weights, its encoder and its GPT-2; the default
aligner of a model directory; ``pull``'s v1 aligners and ``models list``'s words for them; and
``models import-v1``, which refuses a checkpoint that could not play in the model directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.aligner import ImageAligner
from art2mus.models.encoders.base import EncoderSpec
from art2mus.models.model_dir import (
    ModelDir,
    aligner_problem,
    encoder_spec_on_disk,
    read_aligner_config,
    safetensors_shapes,
)


def _own_model_dir(debug_model_dir: Path, root: Path, aligners: tuple[str, ...] = ()) -> ModelDir:
    """The session's debug networks, with an aligners folder of this test's own (copies of ``aligners``)."""
    models = root / "models"
    (models / "aligners").mkdir(parents=True)
    for part in debug_model_dir.iterdir():
        if part.name != "aligners":
            (models / part.name).symlink_to(part.resolve(), target_is_directory=part.is_dir())
    for name in aligners:
        shutil.copytree(debug_model_dir / "aligners" / name, models / "aligners" / name)
    return ModelDir(models)


def _edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    document = json.loads(path.read_text())
    document["config"].update(changes)
    path.write_text(json.dumps(document))


def test_an_edited_config_and_a_truncated_file_are_told_from_the_weights_header(debug_model_dir, tmp_path):
    mdir = _own_model_dir(debug_model_dir, tmp_path, ("debug-imagebind-4tok",))
    folder = mdir.aligners_dir / "debug-imagebind-4tok"
    assert safetensors_shapes(folder / "model.safetensors") == {
        name: tuple(tensor.shape) for name, tensor in ImageAligner.load(folder).state_dict().items()
    }
    assert mdir.aligner_problem(folder, "imagebind") is None
    _edit_config(folder, n_tokens=1)  # the sweep's edit: render said "size mismatch for proj_out.weight"
    problem = aligner_problem(folder, "imagebind")
    assert "describes 1 x 24-d tokens" in problem and "holds proj_out.weight (96, 32)" in problem
    assert "(they make 4 tokens of 24-d)" in problem
    with pytest.raises(ValueError, match="do not match its config"):
        ImageAligner.load(folder)  # what the cheap check foretells

    _edit_config(folder, n_tokens=4)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "is truncated or damaged" in aligner_problem(folder, "imagebind")
    weights.write_bytes(b"\x00" * 4)
    assert "is not a safetensors file" in aligner_problem(folder, "imagebind")


def test_the_encoder_and_gpt2_of_the_model_directory_must_fit(debug_model_dir, tmp_path):
    """The sweep's (b) and (c): 768-d tokens against the debug GPT-2 (24-d), a 1024-d aligner beside the
    debug ImageBind (40-d); both passed validate and failed at render."""
    mdir = _own_model_dir(debug_model_dir, tmp_path)
    wide_tokens = ImageAligner("imagebind_debug", 40, lm_dim=768, n_tokens=1, hidden_dim=8).save(
        mdir.aligners_dir / "wide", conditioning_profile="art2mus-v1"
    )
    problem = mdir.aligner_problem(wide_tokens, "imagebind")
    assert "produces 768-d tokens, but the language model (GPT-2) of audioldm2 in" in problem
    assert "takes 24-d tokens" in problem
    huge = ImageAligner("imagebind_huge", 1024, lm_dim=24, n_tokens=1, hidden_dim=8).save(
        mdir.aligners_dir / "huge"
    )
    problem = mdir.aligner_problem(huge, "imagebind")
    assert "trained for encoder 'imagebind_huge' (1024-d embeddings)" in problem
    assert f"the imagebind encoder in {mdir.root} is 'imagebind_debug' (40-d)" in problem
    # the loaders agree with what was read from the files
    from art2mus.models.encoders import load_image_encoder

    for kind, folder in (("imagebind", "imagebind"), ("clip", "clip-vit-large-patch14")):
        assert mdir.encoder_spec(kind) == load_image_encoder(kind, debug_model_dir / folder).spec
    assert mdir.language_model_dim("audioldm2-music") == 24


def test_an_imagebind_folder_without_config_is_imagebind_huge(tmp_path):
    (tmp_path / "imagebind_huge.pth").write_bytes(b"x")
    assert encoder_spec_on_disk("imagebind", tmp_path) == EncoderSpec("imagebind_huge", 1024)
    assert encoder_spec_on_disk("imagebind", tmp_path / "nothing") is None
    clip = {"model_type": "clip", "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24,
            "patch_size": 14, "image_size": 224, "projection_dim": 768}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(clip))
    assert encoder_spec_on_disk("clip", tmp_path) == EncoderSpec("clip-vit-large-patch14", 768)


def test_the_default_aligner_is_the_one_linked_as_default_and_several_are_listed(debug_model_dir, tmp_path):
    mdir = _own_model_dir(debug_model_dir, tmp_path, ("debug-imagebind-1tok", "debug-imagebind-4tok"))
    spec = EncoderSpec("imagebind_debug", 40)
    with pytest.raises(FileNotFoundError) as caught:
        mdir.default_aligner(spec, "--aligner")
    said = str(caught.value)
    assert "several aligners fit encoder 'imagebind_debug' (dim 40)" in said
    assert "debug-imagebind-1tok, debug-imagebind-4tok; choose one with --aligner" in said
    assert f"ln -sfn debug-imagebind-1tok {mdir.aligners_dir / 'default'}" in said
    (mdir.aligners_dir / "default").symlink_to("debug-imagebind-4tok", target_is_directory=True)
    assert mdir.default_aligner(spec).name == "default"
    row = next(r for r in mdir.status() if r.key == "aligners/default")
    assert row.description.startswith("the default aligner (a link to debug-imagebind-4tok): aligner for")
    assert row.size_bytes == 0  # its files are counted at the target


def test_the_generator_says_how_to_choose_in_an_exhibit_and_on_the_command_line(debug_model_dir):
    """`render IMAGE --generator art2mus` reaches the same choice as an exhibit; it said only `aligner:`."""
    from art2mus.models.art2mus_generator import default_aligner

    with pytest.raises(FileNotFoundError) as caught:
        default_aligner(ModelDir(debug_model_dir), EncoderSpec("imagebind_debug", 40))
    assert "choose one with `aligner:` in an exhibit or --aligner on the command line" in str(caught.value)


def _v1(path: Path, embedding_dim: int, outputs: int, hidden: int = 48) -> Path:
    """A v1 ``ImageProjectionLayer`` state dict: ``projection1`` (embedding_dim -> hidden), ``projection2``
    (hidden -> outputs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "projection1.weight": torch.zeros(hidden, embedding_dim),
            "projection1.bias": torch.zeros(hidden),
            "projection2.weight": torch.zeros(outputs, hidden),
            "projection2.bias": torch.zeros(outputs),
        },
        path,
    )
    return path


def _fake_v1_fetch(url: str, destination: Path, _progress) -> None:
    """A v1 state dict of the published shapes (1024 -> 1536 -> n x 768), as ``pull`` downloads it."""
    _v1(destination, 1024, (4 if "_4_" in url else 1) * 768, hidden=1536)


def test_pulled_v1_aligners_fit_imagebind_huge_and_the_4_token_one_is_the_default(tmp_path):
    """``pull`` recorded the encoder as 'imagebind', which is not the name the ImageBind encoder gives
    ImageBind huge ('imagebind_huge'): the aligners matched no encoder and refused to load. And with two
    of them and no default, an exhibit without `aligner:` never resolved."""
    mdir = ModelDir(tmp_path, fetch=_fake_v1_fetch)
    said: list[str] = []
    assert mdir.pull(["art2mus-v1", "art2mus-v1-4tok"], report=said.append) == [
        "art2mus-v1",
        "art2mus-v1-4tok",
    ]
    huge = EncoderSpec("imagebind_huge", 1024)
    for name in ("art2mus-v1", "art2mus-v1-4tok"):
        ImageAligner.load(mdir.aligners_dir / name, encoder_spec=huge, lm_dim=768)
    assert (mdir.aligners_dir / "default").readlink() == Path("art2mus-v1-4tok")
    assert mdir.default_aligner(huge) == mdir.aligners_dir / "default"
    assert any(line.startswith("aligners/default -> art2mus-v1-4tok") for line in said)

    # an aligner imported under the old name reads as ImageBind huge's
    old = mdir.aligners_dir / "art2mus-v1"
    document = json.loads((old / "config.json").read_text())
    document["config"]["encoder_name"] = document["encoder"]["name"] = "imagebind"
    (old / "config.json").write_text(json.dumps(document))
    assert read_aligner_config(old)["config"]["encoder_name"] == "imagebind_huge"
    ImageAligner.load(old, encoder_spec=huge, lm_dim=768)


def test_a_pull_never_changes_which_aligner_plays(tmp_path, debug_model_dir):
    """With an ImageBind aligner of the museum's own there, no default is linked (it would replace it)."""
    mdir = ModelDir(tmp_path, fetch=_fake_v1_fetch)
    ImageAligner("imagebind_huge", 1024, lm_dim=768, n_tokens=1, hidden_dim=8).save(
        mdir.aligners_dir / "ours"
    )
    said: list[str] = []
    mdir.pull(["art2mus-v1", "art2mus-v1-4tok"], report=said.append)
    assert not (mdir.aligners_dir / "default").exists()
    assert any("not made: ours also fit ImageBind" in line for line in said)


def test_models_list_names_the_file_format_and_what_a_debug_build_is(debug_model_dir):
    rows = {r.key: r for r in ModelDir(debug_model_dir).status()}
    aligner = rows["aligners/debug-imagebind-4tok"].description
    assert "aligner file format 1" in aligner and "format v1" not in aligner
    imagebind = rows["imagebind"].description
    assert imagebind.startswith("debug build, random weights: imagebind image encoder imagebind_debug (40-d")
    assert "1.2 B" not in imagebind and "not imagebind_huge" in imagebind
    assert rows["clip-vit-large-patch14"].description.startswith(
        "debug build, random weights: clip image encoder clip-vit-h32-l2-patch32 (48-d"
    )
    assert "tiny AudioLDM2" in rows["audioldm2-music"].description
    assert "CANNOT PLAY" not in aligner


def test_models_list_says_which_aligner_cannot_play_with_the_directorys_models(debug_model_dir, tmp_path):
    """The sweep's 1024-d v1 aligner beside the debug ImageBind was listed `present` with no word."""
    mdir = _own_model_dir(debug_model_dir, tmp_path, ("debug-imagebind-4tok",))
    ImageAligner("imagebind_huge", 1024, lm_dim=768, n_tokens=1, hidden_dim=8).save(
        mdir.aligners_dir / "v1real"
    )
    rows = {r.key: r for r in mdir.status()}
    assert rows["aligners/v1real"].present  # its files are there
    said = rows["aligners/v1real"].description
    assert (
        "CANNOT PLAY HERE: this aligner was trained for encoder 'imagebind_huge' (1024-d embeddings)" in said
    )
    assert "CANNOT PLAY" not in rows["aligners/debug-imagebind-4tok"].description


def _import(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["models", "import-v1", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_checkpoint_for_another_encoder_or_gpt2_is_refused_unless_forced(debug_model_dir, tmp_path):
    """The sweep's 1024-d checkpoint went into a directory whose ImageBind is 40-d and `models list` said
    `present`; 768-d tokens went in beside a 24-d GPT-2. Both failed only at render."""
    models = _own_model_dir(debug_model_dir, tmp_path).root
    huge = _v1(tmp_path / "huge.pt", 1024, 4 * 24)
    code, said = _import(huge, "--name", "v1", "--model-dir", models, "--lm-dim", 24)
    assert (
        code == 1
        and "it takes 1024-d embeddings (projection1's inputs) where the imagebind encoder 'imagebind_debug' "
        "gives 40-d"
        in said
    )
    assert "--force imports it anyway" in said and not (models / "aligners" / "v1").exists()
    # --lm-dim given: the token width is no longer read from projection1 (48 outputs: 24-d, as v1 lays it out)
    wide = _v1(tmp_path / "wide.pt", 40, 768)
    code, said = _import(wide, "--name", "v1", "--model-dir", models, "--lm-dim", 768)
    assert (
        code == 1 and "it makes 768-d tokens (--lm-dim 768) where the GPT-2 of audioldm2 takes 24-d" in said
    )
    assert "set --lm-dim 24" in said
    code, said = _import(huge, "--name", "v1", "--model-dir", models, "--lm-dim", 24, "--force")
    assert code == 0, said  # forced: it is the user's call
    code, said = _import(
        _v1(tmp_path / "fits.pt", 40, 4 * 24), "--name", "fits", "--model-dir", models, "--lm-dim", 24
    )
    assert code == 0, said
    aligner = ImageAligner.load(
        models / "aligners" / "fits", encoder_spec=EncoderSpec("imagebind_debug", 40), lm_dim=24
    )
    assert aligner.n_tokens == 4


def test_encoder_takes_a_kind_or_a_name_the_model_directory_knows(debug_model_dir, tmp_path):
    models = _own_model_dir(debug_model_dir, tmp_path).root
    code, said = _import(_v1(tmp_path / "a.pt", 40, 24), "--name", "a", "--model-dir", models, "--lm-dim", 24,
                         "--encoder", "nonsense-encoder")  # fmt: skip
    assert code == 1 and "--encoder 'nonsense-encoder' is not an encoder of" in said
    assert "imagebind, imagebind_huge, imagebind_debug, clip" in said
    code, said = _import(_v1(tmp_path / "c.pt", 48, 24), "--name", "c", "--model-dir", models, "--lm-dim", 24,
                         "--encoder", "clip")  # fmt: skip
    assert code == 0, said
    assert (
        ImageAligner.read_config(models / "aligners" / "c")["config"]["encoder_name"]
        == "clip-vit-h32-l2-patch32"
    )
    # on a machine without encoders, `imagebind` is ImageBind huge, as the encoder names it when loaded
    code, said = _import(_v1(tmp_path / "h.pt", 1024, 768), "--name", "h", "--model-dir", tmp_path / "empty")
    assert code == 0, said
    assert (
        ImageAligner.read_config(tmp_path / "empty/aligners/h")["config"]["encoder_name"] == "imagebind_huge"
    )


def test_the_messages_name_the_options_and_the_hint_is_an_absolute_path(tmp_path, monkeypatch):
    code, said = _import(_v1(tmp_path / "odd.pt", 1024, 100), "--name", "odd", "--model-dir", tmp_path / "m")
    # 48 outputs of projection1 would make 24-d tokens (v1's layout), and 100 is no whole number of them
    assert (
        code == 1
        and "not a whole number of tokens half as wide as projection1 (v1's layout): set --lm-dim" in said
    )
    code, said = _import(_v1(tmp_path / "odd.pt", 1024, 100), "--name", "odd", "--lm-dim", 0)
    assert code == 2 and "--lm-dim" in said  # was a ZeroDivisionError
    monkeypatch.chdir(tmp_path)
    code, said = _import(_v1(tmp_path / "v1.pt", 1024, 768), "--name", "v1dbg", "--model-dir", "m")
    assert code == 0, said
    # an exhibit's paths resolve against its own folder, not here
    # an exhibit takes the installed name (its model_dir being this one) or the folder
    assert "generators.<name>.aligner to v1dbg (`aligner: v1dbg`, " in said
    assert f"model_dir {tmp_path / 'm'};" in said
    assert f"or the folder {tmp_path / 'm/aligners/v1dbg'})" in said
