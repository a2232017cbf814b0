"""A file's SHA-256 is read once per process while the file is unchanged, and again once it is written."""

from __future__ import annotations

import hashlib
import os

import pytest

from art2mus.common import digests


def test_a_files_digest_is_read_once_while_it_is_unchanged_and_again_when_it_is_written(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"A" * 3_000_000)  # three 1 MiB blocks
    want = hashlib.sha256(b"A" * 3_000_000).hexdigest()
    before = digests._digest.cache_info()
    assert digests.file_sha256(photo) == want
    assert digests.file_sha256(str(photo)) == want
    after = digests._digest.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)  # hashed once, then remembered
    # rewritten in place with the same size: new times, new bytes, a new digest (a curator's new photo)
    stamp = os.stat(photo)
    photo.write_bytes(b"B" * 3_000_000)
    os.utime(photo, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    assert digests.file_sha256(photo) == hashlib.sha256(b"B" * 3_000_000).hexdigest()
    photo.unlink()
    with pytest.raises(FileNotFoundError):
        digests.file_sha256(photo)


def test_the_cache_and_the_recognition_index_share_the_digest(tmp_path):
    from art2mus.installation.cache import image_digest
    from art2mus.installation.vision.index import ReferencePhoto

    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG not really" * 1000)
    before = digests._digest.cache_info().misses
    assert image_digest(photo) == ReferencePhoto("a", path=photo).content_hash()
    assert image_digest(photo) == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert digests._digest.cache_info().misses - before == 1
