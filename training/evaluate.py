"""Evaluating an aligner: does the music it conditions fit the artworks, and does it sound like real music?

* **ImageBindScore**: the mean cosine similarity, in ImageBind's joint space, between each artwork and
  the music generated from it (higher: the music "belongs" to the image). The same score of the real
  paired music is reported beside it as the reference point.
* **FAD**: the Fréchet distance between Gaussians fitted to the embeddings of the generated and of the
  real music (lower: closer to the real music's distribution). Embeddings are ImageBind's audio
  embeddings; with fewer clips than dimensions the covariances are singular, so when the matrix square
  root fails ``eps`` is added to their diagonals (as pytorch-fid does), and the figure only compares runs
  made with the same clips.

:func:`evaluate_from_model_dir` is ``art2mus evaluate``: it loads the aligner with the encoder and profile it
was trained with, and an ImageBind scorer beside a CLIP aligner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` ``(n, d)`` and ``b`` ``(m, d)``:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2)``."""
    from scipy import linalg

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two sets of at least 2 embeddings of one size, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # singular product (fewer clips than dimensions): as pytorch-fid does
        offset = np.eye(cov_a.shape[0]) * eps
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def imagebind_score(image_embeddings: np.ndarray, audio_embeddings: np.ndarray) -> float:
    """Mean cosine similarity of paired rows (the rows are L2-normalised here)."""
    x = np.asarray(image_embeddings, dtype=np.float64)
    y = np.asarray(audio_embeddings, dtype=np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    y /= np.linalg.norm(y, axis=1, keepdims=True) + 1e-12
    return float(np.mean(np.sum(x * y, axis=1)))


@dataclass(frozen=True)
class EvaluationResult:
    pairs: int
    imagebind_score: float
    reference_imagebind_score: float
    fad: float | None
    seconds_per_clip: float
    per_pair: list[dict[str, Any]]


def evaluate_aligner(
    pipeline: Any,
    pairs: list[Any],
    *,
    duration_s: float = 10.0,
    steps: int = 50,
    guidance_scale: float = 3.5,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
    scorer: Any = None,
) -> EvaluationResult:
    """Generate music for each pair's artwork with ``pipeline`` and score it (see the module docstring).

    ``scorer`` is the ImageBind encoder (loaded with its audio modality) that embeds both sides; default
    ``pipeline.encoder``. A CLIP aligner is scored by ImageBind like any other, so aligners of different
    encoders compare on one scale (the paper's ImageBind-vs-CLIP comparison).
    """
    import time

    import cv2

    from art2mus.training import features

    encoder = scorer if scorer is not None else pipeline.encoder
    if encoder is None or not hasattr(encoder, "encode_audio"):
        raise ValueError(
            "evaluation scores with the ImageBind encoder (it embeds images and audio in one space); "
            "pass scorer= when the aligner uses another encoder"
        )
    images, generated, real, rows = [], [], [], []
    started = time.perf_counter()
    for k, pair in enumerate(pairs):
        bgr = cv2.imread(str(pair.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{pair.image}: not an image OpenCV can read")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        out = pipeline(
            [rgb],
            duration_s=duration_s,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            seed=seed + k,
        )
        wave = np.asarray(out.audios[0, 0], dtype=np.float32)
        reference = features.load_audio_16k(str(pair.audio))[: int(duration_s * features.SAMPLE_RATE)]
        img = encoder.encode_images([rgb]).float().cpu().numpy()[0]
        gen = encoder.encode_audio([wave], pipeline.sample_rate).float().cpu().numpy()[0]
        ref = encoder.encode_audio([reference], features.SAMPLE_RATE).float().cpu().numpy()[0]
        images.append(img)
        generated.append(gen)
        real.append(ref)
        rows.append(
            {
                "id": pair.id,
                "imagebind_score": imagebind_score(img[None], gen[None]),
                "reference_imagebind_score": imagebind_score(img[None], ref[None]),
            }
        )
        if progress is not None:
            progress(k + 1, len(pairs), pair.id)
    images_a, gen_a, real_a = np.stack(images), np.stack(generated), np.stack(real)
    fad = frechet_distance(gen_a, real_a) if len(pairs) >= 2 else None
    return EvaluationResult(
        pairs=len(pairs),
        imagebind_score=imagebind_score(images_a, gen_a),
        reference_imagebind_score=imagebind_score(images_a, real_a),
        fad=fad,
        seconds_per_clip=(time.perf_counter() - started) / max(1, len(pairs)),
        per_pair=rows,
    )


@dataclass
class EvaluationRun:
    """An evaluation from a model directory: the scores, and what was scored (for the report)."""

    result: EvaluationResult
    aligner: str
    encoder: str
    profile: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **vars(self.result),
            "aligner": self.aligner,
            "encoder": self.encoder,
            "profile": self.profile,
        }


def encoder_kind(encoder_name: str) -> str:
    """The encoder kind (``imagebind``, ``clip``) of an aligner's ``encoder_name`` (e.g. ``imagebind_huge``)."""
    for kind in ("imagebind", "clip"):
        if kind in encoder_name.lower():
            return kind
    raise ValueError(
        f"aligner encoder {encoder_name!r} is neither ImageBind nor CLIP; cannot load its encoder"
    )


def evaluate_from_model_dir(
    pairs_file: Any,
    model_dir: Any,
    aligner: str,
    *,
    duration_s: float = 10.0,
    steps: int = 50,
    seed: int = 0,
    limit: int | None = None,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
) -> EvaluationRun:
    """``art2mus evaluate``: the pairs of ``pairs_file`` (the first ``limit``) scored through ``aligner``
    (a folder or a name under ``model_dir/aligners``), loaded with the encoder and the conditioning profile
    it was trained with; scored in ImageBind's space whatever encoder conditions it.

    Raises ``ValueError`` (a :class:`~art2mus.training.dataset.PairsError` for the pairs file),
    ``FileNotFoundError`` or ``KeyError`` (an aligner config without its encoder's name).
    """
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import read_pairs
    from art2mus.training.train_job import resolve_device

    pair_list = read_pairs(pairs_file)
    if limit is not None:
        pair_list = pair_list[:limit]
    target = resolve_device(device)
    mdir = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    kind = encoder_kind(ImageAligner.read_config(mdir.resolve_aligner(aligner))["config"]["encoder_name"])
    pipeline = Art2MusPipeline.from_model_dir(mdir, encoder=kind, aligner=aligner, device=target)
    scorer = (
        pipeline.encoder
        if kind == "imagebind"
        else load_image_encoder("imagebind", mdir.encoder_path("imagebind"), device=target)
    )
    result = evaluate_aligner(
        pipeline, pair_list, duration_s=duration_s, steps=steps, seed=seed, progress=progress, scorer=scorer
    )
    return EvaluationRun(result, str(aligner), kind, pipeline.profile.name)
