"""The daemon never imports torch, also with an art2mus generator: generation runs in the generator process
(ARCHITECTURE.md). Keying the cache read the aligner's identity through the torch module ``aligner``, and
a reload that added an art2mus generator loaded libtorch into the daemon (RSS 460 -> 658 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_generator_cannot_load import _gallery as art2mus_gallery

#: starts a gallery on the procedural generator, reloads it onto art2mus (its jobs done by the generator
#: process), reloads it once more unchanged, and says whether torch was imported at each step
DAEMON = textwrap.dedent(
    """
    import json, sys, time
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.gallery import Gallery

    path, with_art2mus = sys.argv[1], sys.argv[2]
    seen = {}
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    gallery.init_soundscapes()
    seen["start"] = "torch" in sys.modules
    try:
        with open(path, "w") as f:
            f.write(open(with_art2mus).read())
        seen["reload"] = gallery.reload()
        assert gallery.worker.wait_idle(120), gallery.worker.status()
        deadline = time.monotonic() + 10  # the supervisor thread hands the result over just after
        while gallery.library.made_by.get("amber-fields") != "art2mus" and time.monotonic() < deadline:
            time.sleep(0.05)
        seen["made_by"] = gallery.library.made_by.get("amber-fields")
        seen["after reload"] = "torch" in sys.modules
        seen["reload again"] = gallery.reload()
        gallery.status()
        seen["after second reload"] = "torch" in sys.modules
    finally:
        gallery.close()
    print(json.dumps(seen))
    """
)


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory):
    from art2mus.models.debug import build_debug_model_dir

    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("clip",))


def test_starting_and_reloading_onto_an_art2mus_generator_does_not_import_torch_in_the_daemon(
    tmp_path, repo_root, debug_models
):
    # the same artwork on art2mus (fallback: procedural), as the damaged-model tests write it
    art2mus_gallery(tmp_path, repo_root, debug_models, ("amber-fields",))
    with_art2mus = tmp_path / "with-art2mus.yaml"
    (tmp_path / "exhibit.yaml").rename(with_art2mus)
    path = tmp_path / "start.yaml"  # the gallery starts on the procedural generator
    path.write_text(yaml.safe_dump(small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})))
    run = subprocess.run(
        [sys.executable, "-c", DAEMON, str(path), str(with_art2mus)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo_root,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["reload"] and seen["reload again"]
    assert seen["made_by"] == "art2mus"  # the generator process rendered it, with torch there
    assert not seen["start"] and not seen["after reload"] and not seen["after second reload"]
