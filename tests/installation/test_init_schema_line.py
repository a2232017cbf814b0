"""The editor line ``init`` writes names the installed schema wherever the exhibit file goes: it named it
relative to the file (``../../../work/main/exhibits/exhibit.schema.json``), which no longer pointed at it
once the file was copied to ``/etc/art2mus/exhibit.yaml`` as the service install does."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from art2mus.installation.scaffold import init_exhibit


def schema_as_yaml_language_server_reads_it(exhibit: Path) -> Path:
    """The schema file of ``exhibit``'s modeline, resolved as yaml-language-server does (its
    ``getSchemaFromModeline`` takes ``\\S+`` after ``$schema=``; a value starting with ``file:`` or ``http``
    is a URI, another a path, relative to the YAML file's folder unless absolute)."""
    first = exhibit.read_text().splitlines()[0]
    assert re.match(r"^#\s+yaml-language-server\s*:", first), first
    value = re.search(r"\$schema(?:=|:\s*)(\S+)", first).group(1)
    if value.startswith("file:"):
        return Path(unquote(urlparse(value).path))
    return (exhibit.parent / value).resolve()


def test_the_schema_line_still_finds_the_schema_after_the_file_is_copied(
    tmp_path: Path, repo_root: Path
) -> None:
    photos = tmp_path / "my room" / "photos"
    photos.mkdir(parents=True)
    shutil.copy(repo_root / "exhibits/demo/artworks/amber-fields.png", photos)
    written = tmp_path / "my room" / "exhibit.yaml"
    init_exhibit(photos, written, check_photo=lambda path: None, same_picture=lambda photos: {})
    schema = repo_root / "exhibits" / "exhibit.schema.json"
    assert schema_as_yaml_language_server_reads_it(written) == schema
    copied = tmp_path / "etc" / "art2mus" / "exhibit.yaml"
    copied.parent.mkdir(parents=True)
    shutil.copy(written, copied)
    assert schema_as_yaml_language_server_reads_it(copied) == schema
