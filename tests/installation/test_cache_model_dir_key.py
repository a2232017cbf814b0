"""An upgrade or a moved model folder makes no Art2Mus soundscape again: the cache key held the art2mus
generator's model_dir, so an exhibit that never set it re-rendered every soundscape after e77d595 (its
default went from `models` beside the exhibit, keyed as that absolute path, to None), byte-identical,
and moving the weights folder did the same though the aligner's weights hash is in the key. The key now
holds what decides the audio (the weights' identity, the generation settings), not where the folder is;
entries stored under the keys of before are found."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.config.exhibit import ExhibitConfig
from art2mus.installation.soundscapes import SoundscapeSource
from art2mus.models.generator import GenerationRequest
from art2mus.models.registry import cache_identity
from tests.installation.test_cache_loudness_key import _key_of_before

IMAGE = "0" * 64
REQUEST = GenerationRequest(duration_s=8, seed=3, loudness_lufs=-23)


def _model_dir(root: Path) -> Path:
    """A model folder holding one aligner (its config, with its weights' hash recorded)."""
    folder = root / "aligners" / "v1-4tok"
    folder.mkdir(parents=True)
    config = {
        "format": "art2mus-aligner",
        "format_version": 1,
        "config": {"encoder_name": "imagebind_huge", "embedding_dim": 1024},
        "weights_sha256": "ab" * 32,
    }
    (folder / "config.json").write_text(json.dumps(config))
    return root


def _exhibit(folder: Path, generator: dict) -> ExhibitConfig:
    exhibit = ExhibitConfig.model_validate(
        {
            "artworks": [{"id": "a", "images": [str(folder / "a.png")]}],
            "generators": {"procedural": {"type": "procedural"}, "model": {"type": "art2mus", **generator}},
        }
    )
    exhibit._source_file = folder / "exhibit.yaml"
    return exhibit


def _key_before(settings: dict, request: GenerationRequest, image: str) -> str:
    """The key as the code up to e77d595 gave it: the settings as given (model_dir's absolute path), the
    aligner identity beside them, the loudness target in the request, one version for all."""
    return _key_of_before("art2mus", {**settings, **cache_identity("art2mus", settings)}, request, image)


def _store(cache: SoundscapeCache, key: str) -> None:
    (cache.directory / f"{key}.flac").write_bytes(b"audio")
    sidecar = {"key": key, "sha256": hashlib.sha256(b"audio").hexdigest(), "recipe": {"what": "a"}}
    (cache.directory / f"{key}.json").write_text(json.dumps(sidecar))


def test_the_key_follows_the_weights_not_the_folder_they_are_in(tmp_path, monkeypatch):
    here = _model_dir(tmp_path / "here")
    key = SoundscapeSource(_exhibit(tmp_path, {"model_dir": str(here)})).key("model", REQUEST, IMAGE)
    moved = tmp_path / "moved" / "weights"
    shutil.copytree(here, moved)
    assert SoundscapeSource(_exhibit(tmp_path, {"model_dir": str(moved)})).key("model", REQUEST, IMAGE) == key
    monkeypatch.setenv("ART2MUS_MODEL_DIR", str(moved))  # unset in the exhibit: the environment's folder
    assert SoundscapeSource(_exhibit(tmp_path, {})).key("model", REQUEST, IMAGE) == key
    aligner = {"model_dir": str(moved), "aligner": str(moved / "aligners" / "v1-4tok")}
    by_path = SoundscapeSource(_exhibit(tmp_path, aligner)).key("model", REQUEST, IMAGE)
    assert (
        SoundscapeSource(_exhibit(tmp_path, {"aligner": "v1-4tok"})).key("model", REQUEST, IMAGE) == by_path
    )
    # what decides the audio still does: other weights, other settings
    config = moved / "aligners" / "v1-4tok" / "config.json"
    config.write_text(config.read_text().replace("ab" * 32, "cd" * 32))
    assert SoundscapeSource(_exhibit(tmp_path, {})).key("model", REQUEST, IMAGE) != key
    assert SoundscapeSource(_exhibit(tmp_path, {"model_dir": str(here), "steps": 20})).key(
        "model", REQUEST, IMAGE
    ) != SoundscapeSource(_exhibit(tmp_path, {"model_dir": str(here)})).key("model", REQUEST, IMAGE)


@pytest.mark.parametrize("where", ["beside", "environment"])
def test_an_exhibit_without_model_dir_finds_the_renderings_of_before_5_december(tmp_path, monkeypatch, where):
    """Before e77d595 an unset model_dir was `models` beside the exhibit, keyed as its absolute path; the
    weights stay there (ART2MUS_MODEL_DIR names them) or were moved to the environment's folder."""
    exhibit_dir = tmp_path / "gallery"
    beside = _model_dir(exhibit_dir / "models")
    exhibit = _exhibit(exhibit_dir, {"steps": 20})
    old_settings = {**exhibit.generators["model"].settings(), "model_dir": Path(os.path.normpath(beside))}
    old_key = _key_before(old_settings, REQUEST, IMAGE)
    cache = SoundscapeCache(tmp_path / "cache")
    cache.directory.mkdir()
    _store(cache, old_key)
    if where == "environment":
        shutil.copytree(beside, tmp_path / "srv-models")
        shutil.rmtree(beside)
    monkeypatch.setenv("ART2MUS_MODEL_DIR", str(beside if where == "beside" else tmp_path / "srv-models"))
    key = SoundscapeSource(exhibit, cache=cache).key("model", REQUEST, IMAGE)
    assert key != old_key and cache.adopted_from(key) == old_key  # renamed: nothing made again
    assert sorted(p.name for p in cache.directory.iterdir()) == [f"{key}.flac", f"{key}.json"]


def test_an_exhibit_that_sets_model_dir_finds_its_renderings_of_both_keys_of_before(tmp_path):
    """Keyed with the folder's path: before ce55095 with the loudness target, since then without."""
    here = _model_dir(tmp_path / "models-here")
    exhibit = _exhibit(tmp_path, {"model_dir": str(here), "steps": 20})
    settings = exhibit.generators["model"].settings()
    cache = SoundscapeCache(tmp_path / "cache")
    cache.directory.mkdir()
    _store(cache, _key_before(settings, REQUEST, IMAGE))
    other = GenerationRequest(duration_s=8, seed=4, loudness_lufs=-23)
    from art2mus.installation.cache import cache_key

    since = cache_key("art2mus", {**settings, **cache_identity("art2mus", settings)}, other, IMAGE)
    _store(cache, since)
    source = SoundscapeSource(exhibit, cache=cache)
    first, second = source.key("model", REQUEST, IMAGE), source.key("model", other, IMAGE)
    assert cache.adopted_from(first) == _key_before(settings, REQUEST, IMAGE)
    assert cache.adopted_from(second) == since
    assert len(cache.entries()) == 2
