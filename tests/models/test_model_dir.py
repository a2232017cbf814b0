"""The model directory: presence, sizes, licences, aligner lookup and ``pull`` with injected downloaders."""

from __future__ import annotations

from pathlib import Path

import pytest

from art2mus.models.model_dir import (
    MODEL_DIR_ENV,
    ModelDir,
    ModelDirChoice,
    choose_model_dir,
    default_model_dir,
    format_size,
    select_repo_files,
)


class FakeHub:
    """Records calls and writes the requested files (a few bytes each) like ``snapshot_download``."""

    def __init__(self, files: dict[str, list[str]]):
        self.files = files
        self.calls: list[tuple[str, str, list[str]]] = []
        self.forced: list[bool] = []

    def list_repo_files(self, repo_id: str) -> list[str]:
        return list(self.files[repo_id])

    def snapshot_download(
        self, repo_id: str, local_dir: str, allow_patterns: list[str], force_download: bool = False
    ) -> str:
        self.calls.append((repo_id, local_dir, list(allow_patterns)))
        self.forced.append(force_download)
        for name in allow_patterns:
            path = Path(local_dir) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(whole_file(name))
        return local_dir


def whole_file(name: str) -> bytes:
    """A few bytes that pass ``damaged_model_file`` for a file called ``name`` (an empty JSON object, a
    safetensors file of no tensors, a torch checkpoint in the old pickle format)."""
    if name.endswith(".json"):
        return b"{}"
    if name.endswith(".safetensors"):
        return (2).to_bytes(8, "little") + b"{}"
    if name.endswith((".bin", ".pth", ".pt")):
        return b"\x80\x02" + b"x" * 98
    return b"x" * 100


AUDIOLDM2_FILES = [
    ".gitattributes",
    "README.md",
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.bin",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.bin",
    "vocoder/config.json",
    "vocoder/model.safetensors",
    "language_model/config.json",
    "language_model/model.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
    "text_encoder_2/tf_model.h5",
    "projection_model/config.json",
    "projection_model/diffusion_pytorch_model.safetensors",
    "tokenizer_2/spiece.model",
]


def test_select_repo_files_prefers_safetensors_and_skips_other_frameworks():
    chosen = select_repo_files(AUDIOLDM2_FILES)
    assert "unet/diffusion_pytorch_model.safetensors" in chosen
    assert "unet/diffusion_pytorch_model.bin" not in chosen  # safetensors twin exists
    assert "vae/diffusion_pytorch_model.bin" in chosen  # the only weights of that folder
    assert not any(f.endswith((".h5", ".md", ".gitattributes")) or ".fp16." in f for f in chosen)
    assert "tokenizer_2/spiece.model" in chosen


def test_empty_directory_lists_every_model_as_missing_with_its_licence(tmp_path):
    rows = ModelDir(tmp_path).status()
    assert [r.key for r in rows] == ["audioldm2-music", "audioldm2", "imagebind", "clip-vit-large-patch14"]
    assert not any(r.present for r in rows)
    licences = {r.key: r.licence for r in rows}
    assert "non-commercial" in licences["audioldm2-music"] and "non-commercial" in licences["imagebind"]
    assert licences["clip-vit-large-patch14"] == "MIT"


def test_debug_directory_is_present_with_sizes_and_aligners(debug_model_dir):
    mdir = ModelDir(debug_model_dir)
    rows = {r.key: r for r in mdir.status()}
    assert all(rows[k].present for k in ("audioldm2-music", "imagebind", "clip-vit-large-patch14"))
    unet = debug_model_dir / "audioldm2-music" / "unet" / "diffusion_pytorch_model.safetensors"
    assert rows["audioldm2-music"].size_bytes > unet.stat().st_size > 0
    assert rows["aligners/debug-imagebind-4tok"].kind == "aligner"
    assert "imagebind_debug (40-d) -> 4 x 24-d tokens" in rows["aligners/debug-imagebind-4tok"].description
    assert mdir.require("audioldm2-music") == debug_model_dir / "audioldm2-music"


def test_require_says_how_to_get_a_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"art2mus models pull --model-dir .* --only imagebind"):
        ModelDir(tmp_path).require("imagebind")


def test_resolve_aligner_by_name_or_path(debug_model_dir, tmp_path):
    mdir = ModelDir(debug_model_dir)
    by_name = mdir.resolve_aligner("debug-clip-1tok")
    assert by_name == debug_model_dir / "aligners" / "debug-clip-1tok"
    assert mdir.resolve_aligner(by_name / "model.safetensors") == by_name
    with pytest.raises(FileNotFoundError, match="installed aligners: debug-clip-1tok, debug-clip-4tok"):
        mdir.resolve_aligner("nope")


def test_pull_downloads_missing_models_with_the_chosen_files(tmp_path):
    clip_files = [
        "config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "pytorch_model.bin",
        "model.safetensors",
        "tf_model.h5",
        "flax_model.msgpack",
    ]
    hub = FakeHub(
        {
            "cvssp/audioldm2-music": AUDIOLDM2_FILES,
            "cvssp/audioldm2": [
                *AUDIOLDM2_FILES,
                "text_encoder/config.json",
                "text_encoder/model.safetensors",
                "tokenizer/vocab.json",
                "tokenizer/merges.txt",
            ],
            "openai/clip-vit-large-patch14": clip_files,
        }
    )
    fetched_urls: list[tuple[str, Path]] = []
    progress: list[tuple[int, int | None]] = []

    def fetch(url: str, destination: Path, on_progress) -> None:
        fetched_urls.append((url, destination))
        destination.parent.mkdir(parents=True, exist_ok=True)
        if url.endswith(".pt"):  # a v1 state dict of the published shapes (1024 -> 1536 -> n x 768)
            import torch

            n = 4 if "_4_" in url else 1
            torch.save(
                {
                    "projection1.weight": torch.zeros(1536, 1024),
                    "projection1.bias": torch.zeros(1536),
                    "projection2.weight": torch.zeros(n * 768, 1536),
                    "projection2.bias": torch.zeros(n * 768),
                },
                destination,
            )
            return
        destination.write_bytes(b"\x80\x02" + b"w" * 998)
        on_progress(1000, 1000)

    mdir = ModelDir(tmp_path, hub=hub, fetch=fetch)
    fetched = mdir.pull(progress=lambda done, total: progress.append((done, total)))
    assert fetched == [
        "audioldm2-music",
        "audioldm2",
        "imagebind",
        "clip-vit-large-patch14",
        "art2mus-v1",
        "art2mus-v1-4tok",
    ]
    v1_rows = {r.key: r for r in mdir.status() if r.key.startswith("aligners/art2mus-v1")}
    assert set(v1_rows) == {"aligners/art2mus-v1", "aligners/art2mus-v1-4tok"}
    assert all("no licence stated" in r.licence for r in v1_rows.values())
    assert all(
        "profile art2mus-v1" in r.description and "origin: Art2Mus v1" in r.description
        for r in v1_rows.values()
    )
    sums = (tmp_path / "downloads" / "v1" / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 2
    fetched_urls[:] = [u for u in fetched_urls if not u[0].endswith(".pt")]
    repo, local_dir, patterns = hub.calls[0]
    assert repo == "cvssp/audioldm2-music" and local_dir == str(tmp_path / "audioldm2-music")
    assert patterns == select_repo_files(AUDIOLDM2_FILES)
    assert hub.calls[2][2] == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "tokenizer.json",
    ]
    assert fetched_urls == [
        (
            "https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth",
            tmp_path / "imagebind" / "imagebind_huge.pth",
        )
    ]
    assert progress == [(1000, 1000)]
    assert all(r.present for r in mdir.status())
    # a second pull finds everything present and downloads nothing
    assert mdir.pull() == []
    assert len(hub.calls) == 3 and len(fetched_urls) == 1


def test_pull_refuses_unknown_keys_before_downloading(tmp_path):
    hub = FakeHub({})
    with pytest.raises(KeyError, match="unknown model 'gpt5'"):
        ModelDir(tmp_path, hub=hub).pull(["audioldm2-music", "gpt5"])
    assert hub.calls == []


def test_incomplete_download_is_an_error(tmp_path):
    hub = FakeHub({"cvssp/audioldm2-music": ["model_index.json"]})
    with pytest.raises(RuntimeError, match="still missing"):
        ModelDir(tmp_path, hub=hub).pull(["audioldm2-music"])


def test_a_damaged_model_is_downloaded_again_without_force(tmp_path):
    """A copy cut short (a truncated UNet) had every marker file: ``pull`` said 'already present' and kept it,
    while ``models list`` said DAMAGED. It is fetched again, with huggingface_hub told not to trust its own
    records of the files (they go by size and time, not by the bytes there)."""
    hub = FakeHub({"cvssp/audioldm2-music": AUDIOLDM2_FILES})
    mdir = ModelDir(tmp_path, hub=hub)
    assert mdir.pull(["audioldm2-music"]) == ["audioldm2-music"] and hub.forced == [False]
    assert mdir.pull(["audioldm2-music"]) == []  # whole: nothing to do
    unet = tmp_path / "audioldm2-music" / "unet" / "diffusion_pytorch_model.safetensors"
    unet.write_bytes(unet.read_bytes()[:6])
    said: list[str] = []
    assert mdir.pull(["audioldm2-music"], report=said.append) == ["audioldm2-music"]
    assert hub.forced == [False, True]
    assert any(
        "audioldm2-music: unet/diffusion_pytorch_model.safetensors is damaged: it is not a safetensors file"
        in line
        for line in said
    ), said
    assert mdir.damaged_files("audioldm2-music") == []


def test_force_downloads_again_past_huggingface_hubs_records(tmp_path):
    hub = FakeHub({"cvssp/audioldm2-music": AUDIOLDM2_FILES})
    mdir = ModelDir(tmp_path, hub=hub)
    mdir.pull(["audioldm2-music"])
    assert mdir.pull(["audioldm2-music"], force=True) == ["audioldm2-music"]
    assert hub.forced == [False, True]


def test_a_download_that_stays_damaged_is_an_error_naming_the_file(tmp_path):
    class TruncatingHub(FakeHub):
        def snapshot_download(self, repo_id, local_dir, allow_patterns, force_download=False):
            super().snapshot_download(repo_id, local_dir, allow_patterns, force_download)
            (Path(local_dir) / "vae" / "config.json").write_text("{")
            return local_dir

    hub = TruncatingHub({"cvssp/audioldm2-music": AUDIOLDM2_FILES})
    with pytest.raises(
        RuntimeError, match=r"audioldm2-music: download finished but .*vae/config.json is still damaged"
    ):
        ModelDir(tmp_path, hub=hub).pull(["audioldm2-music"])


def test_default_model_dir_follows_the_environment(tmp_path):
    assert default_model_dir({MODEL_DIR_ENV: str(tmp_path)}) == tmp_path
    assert default_model_dir({"XDG_DATA_HOME": "/data"}) == Path("/data/art2mus/models")


def test_one_rule_picks_the_model_dir_and_says_why(tmp_path):
    """An explicit folder > $ART2MUS_MODEL_DIR > the default; the choice names where it came from."""
    env = {MODEL_DIR_ENV: str(tmp_path / "env"), "XDG_DATA_HOME": "/data"}
    assert choose_model_dir(tmp_path / "set", env) == ModelDirChoice(tmp_path / "set", "set by model_dir")
    assert choose_model_dir(None, env) == ModelDirChoice(tmp_path / "env", "from $ART2MUS_MODEL_DIR")
    assert choose_model_dir(None, {"XDG_DATA_HOME": "/data"}) == ModelDirChoice(
        Path("/data/art2mus/models"), "the default, as $ART2MUS_MODEL_DIR is not set"
    )
    assert choose_model_dir(None, {"HOME": "/x"}).path == Path("/x/.local/share/art2mus/models")
    assert default_model_dir(env) == choose_model_dir(None, env).path  # what `models list` uses


def test_a_missing_model_names_the_folder_and_where_it_came_from(tmp_path):
    mdir = ModelDir.chosen(None, {MODEL_DIR_ENV: str(tmp_path)})
    with pytest.raises(FileNotFoundError) as caught:
        mdir.require("imagebind")
    assert f"not installed in {tmp_path} (from $ART2MUS_MODEL_DIR): missing *.pth" in str(caught.value)
    with pytest.raises(FileNotFoundError, match=r"under .*aligners \(from \$ART2MUS_MODEL_DIR\)"):
        mdir.resolve_aligner("nope")


def test_format_size():
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(5 * 1024**3) == "5.0 GiB"


def test_train_evaluate_and_dataset_build_follow_the_rule_without_model_dir(tmp_path, monkeypatch):
    """``--model-dir`` may be left out of the training commands as of every other: $ART2MUS_MODEL_DIR is
    read, and the message names where the folder came from (they required the option)."""
    import numpy as np
    import soundfile as sf
    from click.testing import CliRunner
    from PIL import Image

    from art2mus.installation.cli import main

    (tmp_path / "images").mkdir()
    (tmp_path / "music").mkdir()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(tmp_path / "images" / "a.png")
    sf.write(tmp_path / "music" / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image,audio\n{tmp_path / 'images' / 'a.png'},{tmp_path / 'music' / 'a.wav'}\n")
    empty = tmp_path / "models"
    empty.mkdir()
    monkeypatch.setenv(MODEL_DIR_ENV, str(empty))
    commands = {
        "train": ["train", str(pairs), "--out", str(tmp_path / "out")],
        "evaluate": ["evaluate", str(pairs), "--aligner", "mine"],
        "dataset build": ["dataset", "build", "--images", str(tmp_path / "images"), "--music",
                          str(tmp_path / "music"), "-o", str(tmp_path / "built.csv")],
    }  # fmt: skip
    for name, args in commands.items():
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, (name, result.output)
        said = result.output
        assert str(empty) in said and f"(from ${MODEL_DIR_ENV})" in said, (name, said)
        given = CliRunner().invoke(main, [*args, "--model-dir", str(tmp_path / "given")])
        assert given.exit_code == 1, (name, given.output)
        assert str(tmp_path / "given") in given.output and "(from $" not in given.output, (name, given.output)
