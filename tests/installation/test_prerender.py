"""``art2mus prerender``: every soundscape into the cache ahead of opening, which the daemon then reads."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prerender_process import stopped_after_the_first

from art2mus.installation.audio import clip as clip_module
from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery


def _exhibit(tmp_path: Path, repo_root: Path, *, broken_model: bool = False) -> Path:
    demo = repo_root / "exhibits/demo"
    artworks = [
        {"id": a, "images": [str(demo / f"artworks/{a}.png")], "soundscape": {"duration": 3}}
        for a in ("amber-fields", "city-at-six")
    ]
    spec = {
        "artworks": artworks,
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"duration": 3},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": "cache"},
    }
    if broken_model:
        (tmp_path / "no-models").mkdir()
        spec["generators"] = {
            "procedural": {"type": "procedural"},
            "art2mus": {"type": "art2mus", "model_dir": str(tmp_path / "no-models")},
        }
        artworks[1]["soundscape"]["generator"] = "art2mus"
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _counting(function, calls: list):
    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def test_prerender_fills_the_cache_the_daemon_reads(tmp_path, repo_root, monkeypatch):
    exhibit = _exhibit(tmp_path, repo_root)
    runner = CliRunner()
    first = runner.invoke(main, ["prerender", str(exhibit), "--json"])
    assert first.exit_code == 0, first.output
    lines = _lines(first.output)
    assert [(d["what"], d["status"]) for d in lines[:-1]] == [
        ("amber-fields", "rendered"),
        ("city-at-six", "rendered"),
        (IDLE_KEY, "rendered"),
    ]
    assert lines[-1]["summary"]["rendered"] == 3 and lines[-1]["summary"]["cache"] == str(tmp_path / "cache")
    again = _lines(runner.invoke(main, ["prerender", str(exhibit), "--json"]).output)
    assert [d["status"] for d in again[:-1]] == ["cached"] * 3
    # the daemon starts from the cache: nothing to render, and nothing to measure (each soundscape's loudness
    # as the daemon plays it was stored beside it by the prerender)
    sidecars = sorted((tmp_path / "cache").glob("*.json"))
    assert len(sidecars) == 3
    measured = []
    monkeypatch.setattr(clip_module, "integrated_loudness", _counting(clip_module.integrated_loudness, measured))
    gallery = Gallery(load_exhibit(exhibit))
    engine = gallery.init_audio()
    library = gallery.init_soundscapes()
    assert library.from_cache == {"amber-fields", "city-at-six", IDLE_KEY}
    assert measured == [], "the daemon measured a pre-rendered soundscape's loudness again"
    for sidecar in sidecars:
        stored = json.loads(sidecar.read_text())["played_loudness"]
        assert set(stored) == {engine.played_as(loop=True)}
        # what the start would have measured on the cached audio (24-bit FLAC of the float rendering)
        cached = gallery.cache.get(sidecar.stem)
        again = engine.prepare(cached.waveform, cached.sample_rate, key=sidecar.stem, loop=True).loudness_lufs
        assert stored[engine.played_as(loop=True)]["lufs"] == pytest.approx(again, abs=0.001)
    assert len(measured) == 3
    forced = _lines(
        runner.invoke(
            main, ["prerender", str(exhibit), "--json", "--force", "--artwork", "city-at-six"]
        ).output
    )
    assert [(d["what"], d["status"]) for d in forced[:-1]] == [("city-at-six", "rendered")]
    unknown = runner.invoke(main, ["prerender", str(exhibit), "--artwork", "mona-lisa"])
    assert unknown.exit_code == 1 and "nothing to render called mona-lisa" in unknown.output


def test_a_failing_generator_is_reported_and_the_rest_is_kept(tmp_path, repo_root):
    exhibit = _exhibit(tmp_path, repo_root, broken_model=True)
    result = CliRunner().invoke(main, ["prerender", str(exhibit)])
    assert result.exit_code == 1
    rows = {
        line.split()[0]: line
        for line in result.output.splitlines()
        if line.strip() and not line.startswith("[")
    }
    assert "rendered" in rows["amber-fields"] and "rendered" in rows[IDLE_KEY]
    assert "failed" in rows["city-at-six"] and "not installed" in rows["city-at-six"]  # no fallback here
    assert "2 rendered, 0 already cached, 1 failed" in result.output


def test_threads_holds_torch_to_that_many_threads_even_when_imported_later():
    # what `prerender --threads 1` does before a generator imports torch: the stack it has loaded by then
    # (config, procedural sonifier: scipy, OpenCV) must not have fixed the thread count already
    code = (
        "import art2mus.installation.cli, art2mus.installation.soundscapes as s, art2mus.models.procedural;"
        "s.limit_cpu_threads(1); import torch; a = torch.get_num_threads();"
        "s.limit_cpu_threads(2); print(a, torch.get_num_threads())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.split() == ["1", "2"]


def test_a_plan_for_some_artworks_reads_only_their_images(tmp_path, repo_root, monkeypatch):
    from art2mus.installation import soundscapes

    exhibit = load_exhibit(_exhibit(tmp_path, repo_root))
    source = soundscapes.SoundscapeSource(exhibit)
    assert source.prerender_plan() == [
        ("amber-fields", "procedural"),
        ("city-at-six", "procedural"),
        (IDLE_KEY, "procedural"),
    ]
    hashed = []
    monkeypatch.setattr(soundscapes, "image_digest", lambda path: hashed.append(Path(path).name) or "d")
    monkeypatch.setattr(soundscapes, "idle_image", lambda exhibit: hashed.append(IDLE_KEY))
    assert [job[0] for job in source.prerender_jobs({"city-at-six"})] == ["city-at-six"]
    assert hashed == ["city-at-six.png"]  # not the other artwork's image, not the idle collection
    with pytest.raises(ValueError, match="nothing to render called nowhere"):
        source.prerender_plan({"nowhere"})


def _slow_exhibit(tmp_path: Path, repo_root: Path) -> Path:
    """The demo's eight artworks and its idle ambience at 60 s each: seconds of rendering after the first."""
    demo = repo_root / "exhibits/demo"
    spec = yaml.safe_load((demo / "exhibit.yaml").read_text())
    for artwork in spec["artworks"]:
        artwork["images"] = [str(demo / image) for image in artwork["images"]]
        artwork["soundscape"]["duration"] = 60
    spec["idle"]["duration"] = 60
    spec["camera"]["path"] = str(demo / spec["camera"]["path"])
    spec["cache"] = {"dir": str(tmp_path / "cache")}
    spec["audio"]["output"] = {"type": "null"}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGTERM, 143, "stopped by SIGTERM"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_stops_prerender_with_a_line_saying_what_is_kept(tmp_path, repo_root, signum, status, said):
    """systemctl stop, kill or Ctrl-C: a line saying how much is in the cache and how to go on, and the
    shell's status for that signal (before: no word at all, or a traceback for Ctrl-C)."""
    exhibit = _slow_exhibit(tmp_path, repo_root)
    code, output = stopped_after_the_first(exhibit, signum, "--threads", "1")
    assert code == status, output
    told = re.search(rf"{said}: (\d) of 9 soundscapes done, kept in (\S+); run the same command again", output)
    assert told, output
    assert "Traceback" not in output
    kept = CliRunner().invoke(main, ["prerender", str(exhibit), "--json", "--artwork", "amber-fields"])
    assert _lines(kept.stdout)[0]["status"] == "cached"  # the next run resumes from it


def test_a_second_prerender_on_the_same_cache_refuses_and_names_the_first(tmp_path, repo_root):
    """Two prerenders of one cache both rendered everything (hours twice over on a GPU): the second one now
    refuses before any work, naming the first one's process and exhibit."""
    from art2mus.installation.prerender_lock import PrerenderLock

    exhibit = _exhibit(tmp_path, repo_root)
    cache = tmp_path / "cache"
    with PrerenderLock(cache, str(tmp_path / "first.yaml")):  # a prerender in this process (another fd)
        second = CliRunner().invoke(main, ["prerender", str(exhibit)])
        assert second.exit_code == 75, second.output  # EX_TEMPFAIL: try again later
        assert (
            f"another prerender of {tmp_path / 'first.yaml'} (pid {os.getpid()}) is rendering into {cache}"
            in second.stderr
        )
        assert not list(cache.glob("*.json"))  # nothing rendered
    after = CliRunner().invoke(main, ["prerender", str(exhibit)])  # the lock dies with its holder
    assert after.exit_code == 0, after.output
