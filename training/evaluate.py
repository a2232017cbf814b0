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
was trained with, and an ImageBind scorer beside a CLIP aligner. Scores on pairs the aligner was trained on
flatter it: :func:`trained_pairs_among` counts them, from the pairs file (or music folder) its
``config.json`` records, by path or, for copies, by content.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
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
    # scipy's "Matrix is singular" is not for the user: a rank-deficient product is regularised below, and
    # callers say when the figure is unreliable (fad_min_pairs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if (
        caught or not np.isfinite(covmean).all()
    ):  # singular product (fewer clips than dimensions): as pytorch-fid does
        offset = np.eye(cov_a.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
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
    #: pairs the FAD needs to be reliable: the audio embedding size + 1 (fewer clips give rank-deficient
    #: covariances, regularised with ``eps``: the figure then only compares runs on the same pairs)
    fad_min_pairs: int | None = None

    @property
    def fad_reliable(self) -> bool | None:
        """Whether the FAD was computed from enough pairs for full-rank covariances (None: no FAD)."""
        if self.fad is None or self.fad_min_pairs is None:
            return None
        return self.pairs >= self.fad_min_pairs

    def fad_note(self) -> str | None:
        """The caveat to print beside an unreliable FAD, else None."""
        if self.fad_reliable is not False:
            return None
        return (
            f"note: the FAD of {self.pairs} pairs is unreliable: the audio embeddings have "
            f"{self.fad_min_pairs - 1} dimensions, so the covariances of fewer than {self.fad_min_pairs} clips "
            "are rank-deficient (regularised); compare it only with runs on the same pairs, or evaluate "
            f"{self.fad_min_pairs} pairs or more"
        )


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
        fad_min_pairs=int(gen_a.shape[1]) + 1,
    )


@dataclass(frozen=True)
class TrainingOverlap:
    """How many of ``total`` evaluated pairs the aligner was trained on: ``pairs``, their image and music
    both; ``images``, their image with other music (the aligner learnt that image's tokens all the same).
    ``source``: the pairs file or music folder its ``config.json`` records; ``problem``: why that could
    not be read (then the counts are None)."""

    pairs: int | None
    total: int
    source: str
    images: int | None = 0
    problem: str | None = None

    def warning(self) -> str | None:
        """The line for the user; None when no evaluated pair or image was trained on."""
        if self.problem is not None:
            return f"note: not checked against the aligner's training data: {self.problem}"
        data = f"the data the aligner was trained on ({self.source})"
        if self.pairs:
            found = f"{self._of_total(self.pairs, 'is', 'are')} in {data}"
            if self.images:
                more = "pair has its image" if self.images == 1 else "pairs have their images"
                found += f", and {self.images} more {more} in it (with other music)"
        elif self.images:
            found = f"{self._of_total(self.images, 'has its image', 'have their images')} in {data}, with other music"
        else:
            return None
        return f"warning: {found}: the scores flatter it; evaluate on pairs it has not seen"

    def _of_total(self, count: int, one: str, many: str) -> str:
        """``count`` of the evaluated pairs with the verb that agrees (``one`` or ``many``)."""
        if count == self.total:
            subject = "the evaluated pair" if count == 1 else f"all {count} evaluated pairs"
        else:
            subject = f"{count} of {self.total} evaluated pairs"
        return f"{subject} {one if count == 1 else many}"


def _real(path: Path) -> str:
    return os.path.realpath(path)


class _SameFiles:
    """Which of a set of files equal a given one: the same path, or a copy (the same bytes; only files of
    its size are read, once each)."""

    def __init__(self, paths: Any):
        self.by_size: dict[int, set[str]] = {}
        for path in paths:
            real = _real(path)
            self.by_size.setdefault(os.stat(real).st_size, set()).add(real)
        self.digests: dict[str, str] = {}

    def _digest(self, real: str) -> str:
        if real not in self.digests:
            digest = hashlib.sha256()
            with open(real, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self.digests[real] = digest.hexdigest()
        return self.digests[real]

    def of(self, path: Path) -> set[str]:
        real = _real(path)
        alike = self.by_size.get(os.stat(real).st_size, set())
        if real in alike or not alike:
            return alike & {real}
        return {other for other in alike if self._digest(other) == self._digest(real)}


def trained_pairs_among(pairs: list[Any], metadata: Mapping[str, Any]) -> TrainingOverlap | None:
    """Which of ``pairs`` the aligner whose ``config.json`` ``metadata`` this is was trained on.

    A paired aligner records its ``pairs_file``: a pair counts when its image and its music are the files
    of one training pair, by path or (a copy elsewhere) by content, and its image alone when only that
    was trained on. A music-only aligner records its ``music_dir``: a pair counts when its music lies in
    that folder. None when the metadata names neither (an imported aligner)."""
    total = len(pairs)
    if metadata.get("pairs_file"):
        from art2mus.training.dataset import read_pairs

        source = str(metadata["pairs_file"])
        try:
            trained = read_pairs(source)
        except ValueError as exc:  # PairsError: moved, or a file of it gone
            return TrainingOverlap(None, total, source, None, str(exc).splitlines()[0])
        images, music = _SameFiles(p.image for p in trained), _SameFiles(p.audio for p in trained)
        known = {(_real(p.image), _real(p.audio)) for p in trained}
        both = image_only = 0
        for pair in pairs:
            seen = images.of(pair.image)
            heard = music.of(pair.audio) if seen else set()
            if any((image, audio) in known for image in seen for audio in heard):
                both += 1
            elif seen:
                image_only += 1
        return TrainingOverlap(both, total, source, image_only)
    if metadata.get("music_dir"):
        folder = Path(_real(Path(metadata["music_dir"])))
        count = sum(Path(_real(pair.audio)).is_relative_to(folder) for pair in pairs)
        return TrainingOverlap(count, total, f"music folder {metadata['music_dir']}")
    return None


@dataclass
class EvaluationRun:
    """An evaluation from a model directory: the scores, and what was scored (for the report)."""

    result: EvaluationResult
    aligner: str
    encoder: str
    profile: str
    overlap: TrainingOverlap | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **vars(self.result),
            "fad_reliable": self.result.fad_reliable,  # false: fewer pairs than fad_min_pairs
            "aligner": self.aligner,
            "encoder": self.encoder,
            "profile": self.profile,
            # evaluated pairs the aligner was trained on (None: not known)
            "trained_pairs": None if self.overlap is None else self.overlap.pairs,
            "trained_images": None if self.overlap is None else self.overlap.images,  # with other music
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
    report: Callable[[str], None] | None = None,
) -> EvaluationRun:
    """``art2mus evaluate``: the pairs of ``pairs_file`` (the first ``limit``) scored through ``aligner``
    (a folder or a name under ``model_dir/aligners``), loaded with the encoder and the conditioning profile
    it was trained with; scored in ImageBind's space whatever encoder conditions it. ``report(line)`` gets
    a warning, before any generation, when some of the pairs are in the aligner's training data.

    Raises ``ValueError`` (a :class:`~art2mus.training.dataset.PairsError` for the pairs file),
    ``FileNotFoundError`` or ``KeyError`` (an aligner config without its encoder's name).
    """
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.pipeline import Art2MusPipeline
    from art2mus.training.dataset import read_pairs, refuse_undecodable
    from art2mus.training.train_job import resolve_device
    from art2mus.training.trainer import refuse_training_run

    pair_list = read_pairs(pairs_file)
    if limit is not None:
        pair_list = pair_list[:limit]
    refuse_undecodable(pair_list)  # every bad file at once, before the models load
    refuse_training_run(aligner, "--aligner")
    target = resolve_device(device)
    mdir = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    config = ImageAligner.read_config(mdir.resolve_aligner(aligner))
    kind = encoder_kind(config["config"]["encoder_name"])
    overlap = trained_pairs_among(pair_list, config.get("metadata") or {})
    if overlap is not None and overlap.warning() and report is not None:
        report(overlap.warning())
    pipeline = Art2MusPipeline.from_model_dir(mdir, encoder=kind, aligner=aligner, device=target)
    scorer = (
        pipeline.encoder
        if kind == "imagebind"
        else load_image_encoder("imagebind", mdir.encoder_path("imagebind"), device=target)
    )
    result = evaluate_aligner(
        pipeline, pair_list, duration_s=duration_s, steps=steps, seed=seed, progress=progress, scorer=scorer
    )
    if result.fad_note() and report is not None:
        report(result.fad_note())
    return EvaluationRun(result, str(aligner), kind, pipeline.profile.name, overlap)
