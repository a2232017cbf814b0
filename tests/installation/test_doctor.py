"""``art2mus doctor``: one line per check of the machine, exit 1 when something will not work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]


def _doctor(*args: str, home: Path) -> tuple[int, dict[str, dict]]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "xdg"), "HOME": str(home)}
    proc = subprocess.run(
        [*ART2MUS, "doctor", "--json", *args], env=env, capture_output=True, text=True, timeout=120
    )
    checks = {}
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        checks[item["check"]] = item
    return proc.returncode, checks


def _asoundrc(home: Path, text: str) -> None:
    (home / "xdg" / "alsa").mkdir(parents=True, exist_ok=True)
    (home / "xdg" / "alsa" / "asoundrc").write_text(text)


def test_the_demo_on_a_machine_with_and_without_a_sound_card(tmp_path):
    with_card, without = tmp_path / "card", tmp_path / "none"
    _asoundrc(with_card, 'pcm.!default { type plug slave.pcm "null" }\nctl.!default { type null }\n')
    _asoundrc(without, "pcm.!default { type hw card 9 }\nctl.!default { type null }\n")
    rc, checks = _doctor(home=with_card)
    assert rc == 0, checks
    assert checks["audio"]["status"] == "ok" and "'default'" in checks["audio"]["detail"]
    assert checks["camera"]["status"] == "ok" and "640x360" in checks["camera"]["detail"]
    assert checks["exhibit"]["status"] == "ok" and "8 artworks" in checks["exhibit"]["detail"]
    assert checks["gpu"]["status"] == "ok"  # the demo's procedural generator needs none
    rc, checks = _doctor(home=without)
    assert rc == 1 and checks["audio"]["status"] == "fail" and "WAV file" in checks["audio"]["detail"]


def test_missing_models_and_gpu_are_warnings_and_a_broken_camera_or_cache_a_failure(tmp_path, repo_root):
    demo = repo_root / "exhibits/demo"
    (tmp_path / "models").mkdir()
    (tmp_path / "not-a-folder").write_text("")
    spec = {
        "artworks": [
            {
                "id": "amber-fields",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"generator": "art2mus"},
            }
        ],
        "camera": {"type": "stream", "url": "rtsp://127.0.0.1:9/none"},
        "audio": {"output": {"type": "null"}},
        "generators": {
            "procedural": {"type": "procedural"},
            "art2mus": {"type": "art2mus", "model_dir": str(tmp_path / "models"), "device": "cuda"},
        },
        "cache": {"dir": str(tmp_path / "not-a-folder" / "cache")},
        "control_panel": {"enabled": False},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    rc, checks = _doctor(str(path), home=tmp_path)
    assert rc == 1
    assert (
        checks["models:art2mus"]["status"] == "warn"
        and "audioldm2-music" in checks["models:art2mus"]["detail"]
    )
    assert (
        "imagebind" in checks["models:art2mus"]["detail"]
        and "'procedural' will play" in checks["models:art2mus"]["detail"]
    )
    assert checks["gpu"]["status"] == "warn" and "fall back" in checks["gpu"]["detail"]
    assert checks["camera"]["status"] == "fail" and "rtsp://127.0.0.1:9" in checks["camera"]["detail"]
    assert checks["camera"]["detail"].count("rtsp://") == 1, checks["camera"]["detail"]  # was named twice
    # a cache folder that cannot be made (a file is in its way) is a problem of the exhibit's cache section
    (problem,) = checks["exhibit"]["problems"]
    assert f"cache.dir: cannot create {tmp_path}/not-a-folder/cache: {tmp_path}/not-a-folder is a file" in problem
    assert checks["cache"]["status"] == "skip" and "cache section has problems" in checks["cache"]["detail"]
    assert checks["audio"]["status"] == "ok"


def test_a_bad_exhibit_fails_and_points_to_validate(tmp_path, repo_root):
    bad = tmp_path / "bad.yaml"
    photo = repo_root / "exhibits/demo/artworks/amber-fields.png"
    # one problem: a file without artworks would be a second one (validate lists every problem in one pass)
    bad.write_text(f"audio:\n  master_volume: 7\nartworks:\n  - id: a\n    images: [{photo}]\n")
    rc, checks = _doctor(str(bad), home=tmp_path)
    assert (
        rc == 1
        and checks["exhibit"]["status"] == "fail"
        and "art2mus validate" in checks["exhibit"]["detail"]
    )
    # the problem itself, in the singular, and the checks of the sections that parsed still run
    assert ": 1 problem (" in checks["exhibit"]["detail"], checks["exhibit"]
    assert checks["exhibit"]["problems"] == [f"{bad}:2:18 audio.master_volume: must be <= 1, got 7"]
    assert checks["audio"]["status"] == "skip" and "audio section" in checks["audio"]["detail"]
    assert checks["cache"]["status"] == "ok" and checks["control panel"]["status"] in ("ok", "warn")


def test_an_exhibit_with_many_problems_shows_the_first_and_checks_the_rest(tmp_path, repo_root):
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": f"art-{i}",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"seed": "not a number"},
            }
            for i in range(6)
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": str(tmp_path / "cache")},
        "control_panel": {"port": 99999},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    rc, checks = _doctor(str(path), home=tmp_path)
    exhibit = checks["exhibit"]
    assert rc == 1 and exhibit["status"] == "fail"
    assert "7 problems, the first 5 below (art2mus validate" in exhibit["detail"], exhibit
    assert len(exhibit["problems"]) == 5
    assert all(p.startswith(f"{path}:") and "artworks[" in p for p in exhibit["problems"]), exhibit
    # the sections that parsed are checked; those with problems are skipped, saying which
    assert checks["camera"]["status"] == "ok" and "640x360" in checks["camera"]["detail"]
    assert checks["cache"]["status"] == "ok" and str(tmp_path / "cache") in checks["cache"]["detail"]
    assert checks["audio"]["status"] == "ok" and checks["gpu"]["status"] == "ok"
    for name in ("artworks", "photos"):
        assert checks[name]["status"] == "skip" and "artworks section" in checks[name]["detail"]
    assert checks["control panel"]["status"] == "skip"
    assert "control_panel section" in checks["control panel"]["detail"]
    # the text output lists the problems under the detail
    text = subprocess.run(
        [*ART2MUS, "doctor", str(path)],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert f"\n{' ' * 22}{exhibit['problems'][0]}\n" in text, text
    assert "SKIP  control panel" in text


def test_an_aligner_for_the_other_encoder_fails_validate_and_damaged_weights_fail_doctor(tmp_path, repo_root):
    import shutil

    from art2mus.installation.config import validate_exhibit
    from art2mus.models.debug import build_debug_model_dir

    models = build_debug_model_dir(tmp_path / "models")
    damaged = tmp_path / "damaged-aligner"
    shutil.copytree(models / "aligners/debug-imagebind-4tok", damaged)
    weights = bytearray((damaged / "model.safetensors").read_bytes())
    weights[-10] ^= 1  # one flipped bit in the last tensor: the file still loads
    (damaged / "model.safetensors").write_bytes(bytes(weights))

    def exhibit(aligner: Path | None) -> Path:
        spec = {
            "artworks": [
                {
                    "id": "amber-fields",
                    "images": [str(repo_root / "exhibits/demo/artworks/amber-fields.png")],
                    "soundscape": {"generator": "art2mus"},
                }
            ],
            "camera": {"type": "video", "path": str(repo_root / "exhibits/demo/camera/walk.mp4")},
            "audio": {"output": {"type": "null"}},
            "generators": {
                "procedural": {"type": "procedural"},
                "art2mus": {"type": "art2mus", "model_dir": str(models)}
                | ({} if aligner is None else {"aligner": str(aligner)})
                | {"device": "cpu"},
            },
            "cache": {"dir": str(tmp_path / "cache")},
            "control_panel": {"enabled": False},
        }
        path = tmp_path / f"{'unset' if aligner is None else aligner.name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    _, problems = validate_exhibit(exhibit(models / "aligners/debug-clip-4tok"))
    assert [(p.field, p.line) for p in problems] == [("generators.art2mus.aligner", 19)]
    assert "trained for the clip image encoder (clip-vit-" in problems[0].message
    assert "set encoder: clip, or choose an aligner trained for imagebind" in problems[0].message
    damaged_exhibit = exhibit(damaged)
    assert validate_exhibit(damaged_exhibit)[1] == []  # validate reads no weights
    rc, checks = _doctor(str(damaged_exhibit), home=tmp_path)
    assert rc == 1 and checks["aligner:art2mus"]["status"] == "fail"
    assert "are corrupted or were replaced: sha256" in checks["aligner:art2mus"]["detail"]
    rc, checks = _doctor(str(exhibit(models / "aligners/debug-imagebind-4tok")), home=tmp_path)
    assert checks["aligner:art2mus"]["status"] == "ok", checks["aligner:art2mus"]
    # prerender says why in one line per soundscape, without a traceback (a ValueError names the problem)
    rendered = subprocess.run(
        [*ART2MUS, "prerender", str(damaged_exhibit)], capture_output=True, text=True, timeout=300
    )
    assert "1 failed" in rendered.stdout and "are corrupted or were replaced" in rendered.stdout
    assert "Traceback" not in rendered.stderr, rendered.stderr
    # without `aligner:` the model directory's default is what plays, so its weights are what doctor checks
    (models / "aligners/default").symlink_to("debug-imagebind-4tok")
    (models / "aligners/debug-imagebind-4tok/model.safetensors").write_bytes(bytes(weights))
    rc, checks = _doctor(str(exhibit(None)), home=tmp_path)
    assert rc == 1 and checks["aligner:art2mus"]["status"] == "fail", checks
    detail = checks["aligner:art2mus"]["detail"]
    assert detail.startswith("the default aligner (aligner: unset): aligner weights ")
    assert "aligners/debug-imagebind-4tok/model.safetensors are corrupted or were replaced: sha256" in detail


def test_device_auto_without_a_gpu_warns_that_art2mus_will_run_on_the_cpu(tmp_path, repo_root, monkeypatch):
    """doctor said "OK gpu no CUDA device" of an exhibit whose art2mus generator (device: auto, the default)
    would then take minutes per soundscape on the CPU, with nothing saying so."""
    import torch

    from art2mus.installation.config import load_exhibit
    from art2mus.installation.health import WARN, check_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    artwork = {"id": "amber-fields", "images": [str(repo_root / "exhibits/demo/artworks/amber-fields.png")]}

    def gpu_check(device: str | None, generator: str = "art2mus"):
        art2mus = {"type": "art2mus"} | ({"device": device} if device else {})
        spec = {
            "artworks": [artwork | {"soundscape": {"generator": generator}}],
            "generators": {"procedural": {"type": "procedural"}, "art2mus": art2mus},
        }
        path = tmp_path / "exhibit.yaml"
        path.write_text(yaml.safe_dump(spec))
        return check_gpu(load_exhibit(path, check_files=False))

    auto = gpu_check(None)
    assert auto.status == WARN
    assert auto.detail.endswith(
        "; generator art2mus (device: auto) will generate on the CPU (slow: minutes per soundscape); set "
        "device: cpu to confirm, or install a GPU"
    )
    assert gpu_check("cpu").status == "ok"  # chosen: nothing to say
    assert gpu_check(None, generator="procedural").status == "ok"  # art2mus plays nothing here
