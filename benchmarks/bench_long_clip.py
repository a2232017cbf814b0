"""Long soundscapes: one long AudioLDM2 pass against stitched training-length segments, by FAD and ImageBindScore.

AudioLDM2 was trained on 10.24 s clips; exhibits ask for 30-45 s loops. For each artwork this makes

* ``long``: one pass of ``--duration`` seconds;
* ``stitched``: segments of at most ``--segment`` seconds (different seeds, one shared conditioning) joined
  by ``--join`` s equal-power crossfades (``art2mus.models.long_clip``, the generator's ``segment_s``);
* ``reference``: ``--references`` independent single passes of ``--segment`` seconds: what the model makes
  at the length it was trained on.

Both long versions are cut into ``--segment``-second windows and embedded with the ImageBind audio tower
(``training/evaluate.py``'s metrics): FAD of each against the reference windows (lower: closer to what the
model makes at its training length) and ImageBindScore of each window with its artwork. Joins are checked
for clicks: the largest sample-to-sample step inside a join against the 99th percentile of 10 ms blocks'
largest steps elsewhere in the same clip (1.0: a join is as smooth as the music around it).

    python benchmarks/bench_long_clip.py                                  # debug parts, built in /tmp
    python benchmarks/bench_long_clip.py --model-dir models --encoder imagebind --steps 100   # real weights

Prints one JSON object. On debug parts (random weights) the figures test the method, not the music.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from art2mus.models.long_clip import TRAINING_CLIP_S, render_stitched
from art2mus.models.pipeline import Art2MusPipeline
from art2mus.training.evaluate import frechet_distance, imagebind_score

REPO = Path(__file__).resolve().parents[1]
ARTWORKS = REPO / "exhibits" / "demo" / "artworks"


def _images(count: int) -> list[tuple[str, np.ndarray]]:
    import cv2

    paths = sorted(ARTWORKS.glob("*.png"))[:count]
    out = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: not an image OpenCV can read")
        out.append((path.stem, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return out


def _windows(waveform: np.ndarray, window: int) -> list[np.ndarray]:
    return [waveform[i : i + window] for i in range(0, waveform.shape[0] - window + 1, window)]


def join_smoothness(waveform: np.ndarray, joins: list[int], join: int, sample_rate: int) -> float | None:
    """Largest sample step inside any join / 99th percentile of 10 ms blocks' largest steps elsewhere."""
    if not joins:
        return None
    steps = np.abs(np.diff(waveform.astype(np.float64)))
    inside = np.zeros(steps.shape[0], dtype=bool)
    for start in joins:
        inside[max(0, start - 1) : start + join] = True
    block = sample_rate // 100
    outside = [
        steps[i : i + block].max()
        for i in range(0, steps.shape[0] - block, block)
        if not inside[i : i + block].any()
    ]
    return float(steps[inside].max() / (np.percentile(outside, 99) + 1e-12))


def run(args: argparse.Namespace, pipe: Art2MusPipeline) -> dict:
    encoder = pipe.encoder
    rate = pipe.sample_rate
    window = int(round(args.segment * rate))
    total = int(round(args.duration * rate))
    settings = dict(num_inference_steps=args.steps, guidance_scale=args.guidance_scale)
    rows, image_emb = [], []
    emb: dict[str, list[np.ndarray]] = {"long": [], "stitched": [], "reference": []}
    seconds = {"long": 0.0, "stitched": 0.0}
    smooth = []
    for k, (name, image) in enumerate(_images(args.images)):
        seed = 1000 * k
        image_emb.append(encoder.encode_images([image]).float().cpu().numpy()[0])
        start = time.perf_counter()
        out = pipe([image], duration_s=total / rate, seed=seed, **settings)
        seconds["long"] += time.perf_counter() - start
        long_wave = out.audios[0, 0]
        conditioning = out.conditioning

        def render(index: int, duration: float, conditioning=conditioning, seed=seed) -> np.ndarray:
            return pipe(
                conditioning=conditioning, duration_s=duration, seed=seed + 1 + index, **settings
            ).audios[0, 0]

        start = time.perf_counter()
        stitched, joins = render_stitched(render, total, rate, args.segment, args.join)
        seconds["stitched"] += time.perf_counter() - start
        smooth.append(join_smoothness(stitched, joins, int(round(args.join * rate)), rate))
        references = [
            pipe(conditioning=conditioning, duration_s=args.segment, seed=seed + 500 + r, **settings).audios[
                0, 0
            ]
            for r in range(args.references)
        ]
        row = {"artwork": name, "joins": len(joins), "join_smoothness": smooth[-1]}
        for kind, clips in (
            ("long", _windows(long_wave, window)),
            ("stitched", _windows(stitched, window)),
            ("reference", references),
        ):
            e = encoder.encode_audio(clips, rate).float().cpu().numpy()
            emb[kind].extend(e)
            row[f"imagebind_score_{kind}"] = round(
                imagebind_score(np.repeat(image_emb[-1][None], len(e), 0), e), 5
            )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    images = np.stack(image_emb)
    n_windows = len(emb["long"]) // len(images)
    result = {"per_artwork": rows}
    for kind in ("long", "stitched", "reference"):
        e = np.stack(emb[kind])
        per_image = np.repeat(images, len(e) // len(images), axis=0)
        result[f"imagebind_score_{kind}"] = round(imagebind_score(per_image, e), 5)
    reference = np.stack(emb["reference"])
    result["fad_long_vs_reference"] = round(frechet_distance(np.stack(emb["long"]), reference), 5)
    result["fad_stitched_vs_reference"] = round(frechet_distance(np.stack(emb["stitched"]), reference), 5)
    result["windows_per_clip"] = n_windows
    result["seconds_per_clip"] = {kind: round(s / len(images), 2) for kind, s in seconds.items()}
    valid = [s for s in smooth if s is not None]
    result["join_smoothness_max"] = round(max(valid), 3) if valid else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="model directory (default: a debug build in /tmp)")
    parser.add_argument("--encoder", default="imagebind", help="image encoder (must embed audio: imagebind)")
    parser.add_argument(
        "--aligner", default=None, help="aligner name (default: debug-imagebind-4tok on debug)"
    )
    parser.add_argument("--images", type=int, default=4, help="demo artworks to use")
    parser.add_argument("--duration", type=float, default=30.0, help="soundscape length, seconds")
    parser.add_argument("--segment", type=float, default=TRAINING_CLIP_S, help="stitched segment, seconds")
    parser.add_argument("--join", type=float, default=1.0, help="crossfade at each join, seconds")
    parser.add_argument("--references", type=int, default=3, help="reference single passes per artwork")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--guidance-scale", type=float, default=3.5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, aligner = args.model_dir, args.aligner
        if model_dir is None:
            from art2mus.models.debug import build_debug_model_dir

            model_dir = build_debug_model_dir(Path(tmp) / "models", encoders=("imagebind",))
            aligner = aligner or "debug-imagebind-4tok"
        pipe = Art2MusPipeline.from_model_dir(
            model_dir, encoder=args.encoder, aligner=aligner, max_duration_s=max(60.0, args.duration)
        )
        report = {
            "benchmark": "long_clip",
            "model_dir": "debug (random weights)" if args.model_dir is None else str(args.model_dir),
            "duration_s": args.duration,
            "segment_s": args.segment,
            "join_s": args.join,
            "steps": args.steps,
            "guidance_scale": args.guidance_scale,
            "images": args.images,
            "references_per_artwork": args.references,
        }
        report.update(run(args, pipe))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
