"""Three ways to get an aligner, compared by ``art2mus evaluate`` on the same held-out pairs. Prints JSON
(and, with ``--markdown``, the README's table).

It runs the commands a museum runs, in subprocesses, only with smaller numbers:

1. ``art2mus dataset build`` pairs a training collection (artworks + music library) and, separately, a
   held-out collection, in ImageBind's space;
2. ``art2mus train PAIRS`` (paired), ``art2mus train --music-only MUSIC --images ARTWORKS`` (music alone,
   modality-gap shift fitted on the artworks) and the same without ``--images`` (no shift, to measure what
   the shift does);
3. a v1-format state dict (``projection1``/``projection2``, random weights: the published weights cannot be
   downloaded here) imported with ``art2mus models import-v1`` (the ``art2mus-v1`` profile);
4. ``art2mus evaluate HELD_OUT --aligner A`` for each (each generates through its aligner's profile).

With ``--model-dir`` pointing at a full model directory (``art2mus models pull``) and the collections of a
museum (``--train-images``, ``--train-music``, ``--test-images``, ``--test-music``), the same script measures
the real thing on a GPU; by default it builds the debug networks and synthetic collections, which checks the
procedure and the plumbing, not music quality (random networks).

    .venv/bin/python benchmarks/bench_aligner_comparison.py [--epochs 4] [--markdown] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def art2mus(*args: object) -> str:
    """Run ``art2mus ARGS`` in a subprocess; its stdout (raises with stderr on failure)."""
    command = [sys.executable, "-m", "art2mus.installation.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def synthetic_collection(root: Path, count: int, seed: int) -> tuple[Path, Path]:
    """``count`` artworks (the demo exhibit's, then seeded colour fields) and ``count`` 3 s tracks."""
    import cv2
    import soundfile

    rng = np.random.default_rng(seed)
    images, music = root / "artworks", root / "music"
    images.mkdir(parents=True)
    music.mkdir(parents=True)
    demo = sorted((REPO / "exhibits/demo/artworks").glob("*.png"))
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    for k in range(count):
        if seed == 0 and k < len(demo):
            (images / demo[k].name).write_bytes(demo[k].read_bytes())
        else:
            a, b, c = rng.uniform(-1, 1, 3)
            base = 127 + 100 * np.sin(a * xx / 30 + b * yy / 40 + c)
            rgb = np.stack([base, base[::-1], np.roll(base, k * 7, axis=1)], -1).clip(0, 255).astype(np.uint8)
            cv2.imwrite(str(images / f"field-{seed}-{k:02d}.png"), rgb)
        t = np.arange(3 * 22050) / 22050
        f0 = 80 * 2 ** (rng.integers(0, 24) / 12)
        pulse = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(0.5, 4) * t))
        wave = sum(0.15 * np.sin(2 * np.pi * f0 * m * t) for m in (1, 1.25 + rng.integers(0, 2) * 0.05, 1.5))
        soundfile.write(music / f"track-{seed}-{k:02d}.wav", (wave * pulse).astype(np.float32), 22050)
    return images, music


def v1_aligner(model_dir: Path, work: Path) -> tuple[str, str]:
    """A v1-format aligner with random weights, imported: ``(aligner name, how)``."""
    import torch

    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.pipeline_loading import load_audioldm2_components

    mdir = ModelDir(model_dir)
    spec = load_image_encoder("imagebind", mdir.encoder_path("imagebind")).spec
    lm_dim = int(
        load_audioldm2_components(mdir.require("audioldm2-music"))["language_model"].config.hidden_size
    )
    generator = torch.Generator().manual_seed(1)
    hidden = 2 * lm_dim  # v1: first_mult 2
    state = {
        "projection1.weight": torch.randn(hidden, spec.dim, generator=generator) / spec.dim**0.5,
        "projection1.bias": torch.zeros(hidden),
        "projection2.weight": torch.randn(4 * lm_dim, hidden, generator=generator) / hidden**0.5,
        "projection2.bias": torch.zeros(4 * lm_dim),
    }
    checkpoint = work / "art2mus_4_img_proj_layer.pt"
    torch.save(state, checkpoint)
    art2mus("models", "import-v1", checkpoint, "--name", "v1-random", "--model-dir", model_dir,
            "--encoder", spec.name, "--lm-dim", lm_dim, "--force")  # fmt: skip
    return "v1-random", "art2mus models import-v1, art2mus-v1 profile"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="default: debug networks in a temp folder"
    )
    parser.add_argument("--train-images", type=Path)
    parser.add_argument("--train-music", type=Path)
    parser.add_argument("--test-images", type=Path)
    parser.add_argument("--test-music", type=Path)
    parser.add_argument("--train-count", type=int, default=16, help="synthetic training artworks/tracks")
    parser.add_argument("--test-count", type=int, default=8, help="synthetic held-out artworks/tracks")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--segment-seconds", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds generated per held-out artwork")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = args.model_dir
        if model_dir is None:
            from art2mus.models.debug import build_debug_model_dir

            model_dir = build_debug_model_dir(work / "models")
        if args.train_images is None:
            train_images, train_music = synthetic_collection(work / "train", args.train_count, seed=0)
            test_images, test_music = synthetic_collection(work / "test", args.test_count, seed=1)
        else:
            train_images, train_music = args.train_images, args.train_music
            test_images, test_music = args.test_images, args.test_music
        device = ("--device", args.device)
        art2mus("dataset", "build", "--images", train_images, "--music", train_music, "-o", work / "train.csv",
                "--model-dir", model_dir, *device)  # fmt: skip
        art2mus("dataset", "build", "--images", test_images, "--music", test_music, "-o", work / "held_out.csv",
                "--model-dir", model_dir, *device)  # fmt: skip
        common = ("--model-dir", model_dir, "--epochs", args.epochs, "--segment-seconds", args.segment_seconds,
                  "--seed", 0, "--json", *device)  # fmt: skip
        runs = {
            "paired (art2mus train PAIRS)": ("train", work / "train.csv", "--out", work / "paired", *common),
            "music-only, gap shift (--music-only MUSIC --images ARTWORKS)": (
                "train",
                "--music-only",
                train_music,
                "--images",
                train_images,
                "--out",
                work / "music",
                *common,
            ),  # fmt: skip
            "music-only, no gap shift (--music-only MUSIC)": (
                "train",
                "--music-only",
                train_music,
                "--out",
                work / "music-noshift",
                *common,
            ),  # fmt: skip
        }
        aligners, notes = {}, {}
        for name, command in runs.items():
            summary = json.loads(art2mus(*command).splitlines()[-1])["summary"]
            print(f"trained {name}: {json.dumps(summary)}", file=sys.stderr)
            aligners[name] = summary["best"]
            if "modality_gap" in summary:
                notes[name] = summary["modality_gap"]
        v1, how = v1_aligner(model_dir, work)
        aligners[f"v1-format, random weights ({how})"] = v1
        rows = []
        for name, aligner in aligners.items():
            result = json.loads(
                art2mus("evaluate", work / "held_out.csv", "--model-dir", model_dir, "--aligner", aligner,
                        "--duration", args.duration, "--steps", args.steps, "--json", *device).splitlines()[-1]
            )  # fmt: skip
            print(
                f"{name}: {json.dumps({k: result[k] for k in ('imagebind_score', 'fad')})}", file=sys.stderr
            )
            rows.append(
                {
                    "aligner": name,
                    "imagebind_score": result["imagebind_score"],
                    "reference_imagebind_score": result["reference_imagebind_score"],
                    "fad": result["fad"],
                    "pairs": result["pairs"],
                    "modality_gap": notes.get(name),
                }
            )
    report = {
        "model_dir": "debug networks" if args.model_dir is None else str(args.model_dir),
        "epochs": args.epochs,
        "duration_s": args.duration,
        "steps": args.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    if args.markdown:
        print("\n| aligner | ImageBindScore | real music | FAD |\n|---|---|---|---|")
        for row in rows:
            print(
                f"| {row['aligner']} | {row['imagebind_score']:+.4f} | {row['reference_imagebind_score']:+.4f} "
                f"| {row['fad']:.4f} |"
            )


if __name__ == "__main__":
    main()
