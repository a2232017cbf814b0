"""README's upgrade says what an upgrade renders and how to keep the room from playing bridges: it said
nothing of the cache, while an upgrade then made every soundscape again (hours of GPU with the Art2Mus
model, the room on bridges meanwhile) and left the earlier renderings on disk (18 files / 45 MB -> 37 /
90 MB). The steps it gives run: prerender before the start, cache prune after, with options that exist."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from art2mus.installation.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _upgrade() -> str:
    start = README.index("**Upgrade.**")
    return README[start : README.index("**Uninstall.**", start)]


def test_the_upgrade_prerenders_before_the_start_and_prunes_after():
    upgrade = _upgrade()
    steps = upgrade[upgrade.index("```sh") : upgrade.index("```", upgrade.index("```sh") + 5)]
    assert steps.index("art2mus prerender /etc/art2mus/exhibit.yaml") < steps.index("systemctl start art2mus")
    after = upgrade[upgrade.index(steps) + len(steps) :]
    assert "art2mus cache prune /etc/art2mus/exhibit.yaml" in " ".join(after.split())  # once it plays
    assert "renders nothing again" in upgrade and "render_version" in upgrade


def test_the_cache_options_the_readme_gives_exist():
    for line in README.splitlines():
        if "art2mus cache prune" in line or "cache prune EXHIBIT" in line:
            for option in ("--unused-days", "--dry-run"):
                if option in line:
                    help_text = CliRunner().invoke(main, ["cache", "prune", "--help"]).output
                    assert option in help_text
