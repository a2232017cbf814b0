"""A curator reading audio.loudness_lufs learns that changing it costs no rendering: the cache key left
the target out (ce55095), yet the field said nothing of it, and a curator on a model-rendered exhibit
would avoid a change believed to cost minutes per artwork."""

from __future__ import annotations

from art2mus.installation.config.audio import AudioConfig


def test_the_loudness_field_and_its_reference_say_a_change_re_levels_without_rendering(repo_root):
    description = AudioConfig.model_fields["loudness_lufs"].description
    assert "re-levels the cached soundscapes without rendering them again" in description
    assert description in (repo_root / "exhibits/README.md").read_text()
    assert description in (repo_root / "exhibits/exhibit.schema.json").read_text()
