"""A photo that cannot be read stops ``cache prune``: with artworks/city-at-six.png renamed, ``prune
--dry-run --unused-days 0`` said it would remove city-at-six's rendering and the idle ambience's (keyed
then without that photo), exit 0, while a running daemon refuses that reload and plays both on. Prune now
exits 1 naming the exhibit, the field and the photo, and removes nothing; ``list`` warns and marks its
UNUSED entries as uncertain."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from art2mus.installation.cli import main
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_cache_command import _age, _keys, _prerender


def test_prune_refuses_while_a_photo_keying_a_soundscape_is_missing(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    (tmp_path / "artworks").mkdir()
    for artwork in spec["artworks"]:
        photo = tmp_path / "artworks" / f"{artwork['id']}.png"
        shutil.copy(artwork["images"][0], photo)
        artwork["images"] = [str(photo)]
    path = tmp_path / "exhibit.yaml"
    cache_dir = tmp_path / "cache"
    assert _prerender(path, spec) == ["rendered"] * 3
    held = _keys(cache_dir)
    _age(cache_dir, held, 30)
    photo = tmp_path / "artworks/city-at-six.png"
    photo.rename(tmp_path / "artworks/city-at-6.png")  # the curator renames it

    for args in (["--dry-run"], []):
        pruned = CliRunner().invoke(main, ["cache", "prune", str(path), "--unused-days", "0", *args])
        assert pruned.exit_code == 1, pruned.output
        assert f"{path}: artworks[1].images[0]: photo {photo} cannot be read" in pruned.output
        assert "city-at-six" in pruned.output and "idle ambience" in pruned.output
        assert "would remove" not in pruned.output and "nothing is removed" in pruned.output
    assert _keys(cache_dir) == held

    listed = CliRunner().invoke(main, ["cache", "list", str(path)])
    assert listed.exit_code == 0, listed.output
    assert f"artworks[1].images[0]: photo {photo} cannot be read" in listed.output
    assert "UNUSED? (made for city-at-six with procedural)" in listed.output
    assert "`cache prune` refuses" in listed.output
    as_json = CliRunner().invoke(main, ["cache", "list", str(path), "--json"])
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert records and not any(record["uses_known"] for record in records)

    photo.with_name("city-at-6.png").rename(photo)  # back: nothing is unused
    again = CliRunner().invoke(main, ["cache", "prune", str(path), "--unused-days", "0"])
    assert again.exit_code == 0 and "removed 0 unused entries" in again.output, again.output
