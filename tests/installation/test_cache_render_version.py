"""A new Art2Mus model makes only the Art2Mus soundscapes again: one CACHE_VERSION keyed every generator's
renderings, so its bump for the Art2Mus model (e45650f, 1 -> 2) made every procedural soundscape again
too, byte-identical. Each generator now declares its own render version, and today's keys are unchanged."""

from __future__ import annotations

import json

from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.config import load_exhibit
from art2mus.installation.config.exhibit import ExhibitConfig
from art2mus.installation.soundscapes import SoundscapeSource
from art2mus.models.art2mus_generator import Art2MusGenerator
from art2mus.models.generator import GenerationRequest
from art2mus.models.procedural.generator import ProceduralGenerator
from tests.installation.small_exhibit import small_exhibit_spec

IMAGE = "0" * 64


def _bumped(generator_class: type) -> int:
    """The next render version of ``generator_class`` (2 before generators declared one)."""
    return getattr(generator_class, "render_version", 2) + 1


def _source(cache: SoundscapeCache | None = None) -> SoundscapeSource:
    exhibit = ExhibitConfig.model_validate(
        {
            "artworks": [{"id": "a", "images": ["/nonexistent/a.png"]}],
            "generators": {
                "procedural": {"type": "procedural"},
                "model": {"type": "art2mus", "model_dir": "/nonexistent/art2mus-models", "steps": 20},
            },
        }
    )
    return SoundscapeSource(exhibit, cache=cache)


def test_a_generator_s_render_version_keys_its_renderings_and_no_one_else_s(monkeypatch):
    request = GenerationRequest(duration_s=8, seed=3)
    procedural = _source().key("procedural", request, IMAGE)
    model = _source().key("model", request, IMAGE)
    assert procedural == "512f2fb47c81386c3cab38ab2aa835ae"  # the key before the split: entries stay found
    monkeypatch.setattr(Art2MusGenerator, "render_version", _bumped(Art2MusGenerator), raising=False)
    assert _source().key("model", request, IMAGE) != model
    assert _source().key("procedural", request, IMAGE) == procedural
    monkeypatch.setattr(ProceduralGenerator, "render_version", 3, raising=False)
    assert _source().key("procedural", request, IMAGE) != procedural


def test_a_bumped_model_renders_its_own_again_and_not_the_entries_of_its_old_version(tmp_path, monkeypatch):
    cache = SoundscapeCache(tmp_path)
    request = GenerationRequest(duration_s=8, seed=3, loudness_lufs=-23)
    model = _source(cache).key("model", request, IMAGE)
    (tmp_path / f"{model}.json").write_text(json.dumps({"sha256": "x"}))
    (tmp_path / f"{model}.flac").write_bytes(b"x")
    monkeypatch.setattr(Art2MusGenerator, "render_version", _bumped(Art2MusGenerator), raising=False)
    bumped = _source(cache).key("model", request, IMAGE)
    assert bumped != model and cache.adopted_from(bumped) is None  # not taken over: made again
    assert (tmp_path / f"{model}.json").is_file()


def test_prerender_after_a_model_bump_finds_every_procedural_soundscape(tmp_path, repo_root, monkeypatch):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    path = tmp_path / "exhibit.yaml"
    path.write_text(json.dumps(spec))

    def prerender() -> list[str]:
        config = load_exhibit(path)
        source = SoundscapeSource(config, cache=SoundscapeCache.from_config(config.cache))
        return [result.status for result in source.prerender()]

    assert prerender() == ["rendered"] * 3
    monkeypatch.setattr(Art2MusGenerator, "render_version", _bumped(Art2MusGenerator), raising=False)
    assert prerender() == ["cached"] * 3
