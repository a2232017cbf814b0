"""One image through the FULL-SIZE Art2Mus chain on a CPU, with random weights: shapes, finiteness, peak memory.

Every network is built from its real configuration (no download, no weights):

* ImageBind huge (``imagebind_huge()`` upstream: vision 1280-d x 32 blocks, audio 768-d x 12 blocks,
  1024-d joint space), :data:`IMAGEBIND_HUGE_KWARGS`; only the vision and audio modalities are
  materialised, as :func:`art2mus.models.encoders.imagebind.load_imagebind_model` keeps them;
* AudioLDM2-music's UNet, VAE, HiFi-GAN vocoder, GPT-2, FLAN-T5-large encoder, projection model and CLAP,
  from :data:`art2mus.models.debug.audioldm2.FULL_SIZE_CONFIGS` (checked against the published
  ``cvssp/audioldm2-music`` config files);
* a 4-token aligner for ImageBind huge (1024-d -> GPT-2's 768-d).

Tokenizers are the in-code debug ones (the real vocabularies cannot be downloaded here; token ids only
index random embedding rows), the networks are full size. Stages run one after another and each frees
what it built, so peak memory is the largest stage, not the sum:

1. ImageBind: the image -> a unit 1024-d embedding; the vision tower is then dropped (audio kept).
2. CLAP: the negative prompt -> its 512-d text embedding (the ``art2mus-v1`` profile's negative branch).
3. AudioLDM2 under :class:`Art2MusPipeline`: aligner -> GPT-2 language of audio -> T5 stream -> UNet
   (one denoising step, classifier-free guidance) -> VAE -> vocoder.
4. ImageBind audio: the waveform's embedding and its ImageBindScore against the image.

``python -m art2mus.models.debug.full_size`` prints one JSON object, with the process's own peak resident
memory (``VmHWM`` of ``/proc/self/status``: torch allocates outside Python's heap, so ``tracemalloc`` and
``getrusage`` miss or over-count it); the slow test runs it in a subprocess so the peak is this chain's.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: ``imagebind_huge()``'s arguments to upstream ``ImageBindModel`` (the rest are the constructor's defaults:
#: audio 768-d x 12 blocks x 12 heads over 128 mel bins x 204 frames, kernel (2, 14, 14)).
IMAGEBIND_HUGE_KWARGS: dict[str, Any] = {
    "vision_embed_dim": 1280,
    "vision_num_blocks": 32,
    "vision_num_heads": 16,
    "text_embed_dim": 1024,
    "text_num_blocks": 24,
    "text_num_heads": 16,
    "out_embed_dim": 1024,
    "audio_drop_path": 0.1,
    "imu_drop_path": 0.7,
}
IMAGEBIND_HUGE_DIM = 1024
#: ImageBind modalities the chain uses (the encoder loader keeps the same two).
KEPT_MODALITIES = ("vision", "audio")


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (``VmHWM``), MiB."""
    return _status_field("VmHWM")


def rss_mib() -> float:
    """This process's resident set size now (``VmRSS``), MiB."""
    return _status_field("VmRSS")


def _status_field(name: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {name} line")


def _materialise(module: Any) -> None:
    """Give every parameter left on the meta device real CPU memory, initialised as PyTorch's layers do.

    Layers with ``reset_parameters`` (Linear, Conv, LayerNorm) get their own init; the few free tensors
    (class tokens, position embeddings, logit scales) get N(0, 0.02), as upstream's ``trunc_normal_``.
    """
    import torch

    for sub in module.modules():
        on_meta = False
        for name, param in list(sub._parameters.items()):
            if param is not None and param.is_meta:
                sub._parameters[name] = torch.nn.Parameter(
                    torch.empty(param.shape, dtype=param.dtype), requires_grad=False
                )
                on_meta = True
        if not on_meta:
            continue
        if hasattr(sub, "reset_parameters") and not isinstance(sub, torch.nn.MultiheadAttention):
            sub.reset_parameters()
        else:
            with torch.no_grad():
                for param in sub._parameters.values():
                    if param is not None:
                        param.normal_(0.0, 0.02)
    for sub in module.modules():
        if isinstance(sub, torch.nn.MultiheadAttention):
            sub._reset_parameters()


def build_imagebind_huge(modalities=KEPT_MODALITIES, seed: int = 0) -> Any:
    """Upstream ``ImageBindModel`` with ImageBind huge's dimensions and random weights, only ``modalities``.

    Built on the meta device, the unused modalities dropped, then the rest materialised: the full 1.2 B
    model never exists in memory at once.
    """
    import torch
    from accelerate import init_empty_weights

    from art2mus.models.encoders.imagebind import MODALITIES, import_imagebind_model

    module = import_imagebind_model()
    with init_empty_weights(include_buffers=False):
        model = module.ImageBindModel(**IMAGEBIND_HUGE_KWARGS)
    for modality in MODALITIES:
        if modality not in modalities:
            for container in (
                model.modality_preprocessors,
                model.modality_trunks,
                model.modality_heads,
                model.modality_postprocessors,
            ):
                del container[modality]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _materialise(model)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _parameters(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _finite(x: Any) -> bool:
    import torch

    return bool(torch.isfinite(torch.as_tensor(x)).all())


def sample_image(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A deterministic RGB uint8 picture (gradients and noise) of the size a camera frame has."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], axis=-1)
    image = image + rng.integers(-20, 21, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def run_chain(
    image: np.ndarray | None = None,
    *,
    duration_s: float = 2.0,
    steps: int = 1,
    guidance_scale: float = 3.5,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run one image through the full-size chain (see the module docstring); returns the report."""
    import torch

    from art2mus.models.aligner import ImageAligner
    from art2mus.models.debug.audioldm2 import (
        FULL_SIZE_CONFIGS,
        _roberta_vocab,
        full_size_audioldm2_components,
    )
    from art2mus.models.encoders.base import EncoderSpec
    from art2mus.models.encoders.imagebind import ImageBindEncoder
    from art2mus.models.pipeline import Art2MusPipeline

    image = sample_image() if image is None else image
    report: dict[str, Any] = {"duration_s": duration_s, "steps": steps, "guidance_scale": guidance_scale}
    stages: dict[str, dict[str, Any]] = {}
    say = progress or (lambda message: logger.info("%s", message))

    def stage_done(name: str, start: float, **facts: Any) -> None:
        gc.collect()
        stages[name] = {
            "seconds": round(time.perf_counter() - start, 2),
            "rss_after_mib": round(rss_mib(), 1),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            **facts,
        }
        say(f"{name}: {json.dumps(stages[name])}")

    with torch.no_grad():
        # 1. ImageBind huge: image -> embedding; then drop the vision tower, keep audio for the score
        start = time.perf_counter()
        model = build_imagebind_huge()
        encoder = ImageBindEncoder(model, EncoderSpec("imagebind_huge", IMAGEBIND_HUGE_DIM))
        vision_parameters = _parameters(model.modality_trunks["vision"])
        embedding = encoder.encode_images([image])
        for container in (
            model.modality_preprocessors,
            model.modality_trunks,
            model.modality_heads,
            model.modality_postprocessors,
        ):
            del container["vision"]
        stage_done(
            "imagebind_vision",
            start,
            parameters=vision_parameters + _parameters(model),
            embedding_shape=list(embedding.shape),
            embedding_norm=round(float(embedding.norm()), 5),
            finite=_finite(embedding),
        )

        # 2. CLAP (laion/clap-htsat-unfused dimensions): the negative prompt's text embedding
        start = time.perf_counter()
        from transformers import ClapAudioConfig, ClapConfig, ClapModel, ClapTextConfig, RobertaTokenizer

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            clap = ClapModel(
                ClapConfig(
                    text_config=ClapTextConfig().to_dict(),
                    audio_config=ClapAudioConfig().to_dict(),
                    **FULL_SIZE_CONFIGS["text_encoder"],
                )
            ).eval()
        vocab, merges = _roberta_vocab()
        tokens = RobertaTokenizer(vocab=vocab, merges=merges)(["Low quality."], return_tensors="pt")
        text_features = clap.get_text_features(**tokens)
        text_features = getattr(text_features, "pooler_output", text_features)
        clap_parameters = _parameters(clap)
        del clap
        stage_done(
            "clap_text",
            start,
            parameters=clap_parameters,
            embedding_shape=list(text_features.shape),
            finite=_finite(text_features),
        )

        # 3. AudioLDM2-music under our pipeline, one denoising step
        start = time.perf_counter()
        components = full_size_audioldm2_components("cpu")
        parameters = {
            name: _parameters(module)
            for name, module in components.items()
            if isinstance(module, torch.nn.Module)
        }
        aligner = ImageAligner("imagebind_huge", IMAGEBIND_HUGE_DIM, lm_dim=768, n_tokens=4).eval()
        parameters["aligner"] = _parameters(aligner)
        pipe = Art2MusPipeline(**components, aligner=aligner)
        del components
        stage_done("audioldm2_build", start, parameters=parameters)

        start = time.perf_counter()
        steps_done: list[int] = []
        output = pipe(
            embeddings=embedding,
            duration_s=duration_s,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            seed=0,
            progress=lambda step, total: steps_done.append(step),
        )
        conditioning = output.conditioning
        latent_shape, samples = pipe.latent_shape(1, duration_s)
        audio = output.audios
        stage_done(
            "audioldm2_generate",
            start,
            denoising_steps=len(steps_done),
            loa_shape=list(conditioning.loa_embeds.shape),
            t5_shape=list(conditioning.t5_embeds.shape),
            negative_loa_shape=None
            if conditioning.negative_loa_embeds is None
            else list(conditioning.negative_loa_embeds.shape),
            latent_shape=list(latent_shape),
            audio_shape=list(audio.shape),
            expected_samples=samples,
            audio_peak=float(np.abs(audio).max()),
            finite=bool(np.isfinite(audio).all()) and _finite(conditioning.loa_embeds),
        )
        del pipe, output, conditioning
        gc.collect()

        # 4. ImageBind audio: the soundscape's embedding and its ImageBindScore against the image
        start = time.perf_counter()
        waveform = audio[0, 0]
        peak = float(np.abs(waveform).max())
        audio_embedding = encoder.encode_audio(waveform / peak if peak > 0 else waveform, 16000)
        score = float((audio_embedding @ embedding.T).squeeze())
        stage_done(
            "imagebind_audio",
            start,
            embedding_shape=list(audio_embedding.shape),
            imagebind_score=round(score, 5),
            finite=_finite(audio_embedding),
        )
    report["stages"] = stages
    report["peak_rss_mib"] = round(peak_rss_mib(), 1)
    report["finite"] = all(stage.get("finite", True) for stage in stages.values())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="clip length, seconds")
    parser.add_argument("--steps", type=int, default=1, help="denoising steps")
    parser.add_argument("--guidance-scale", type=float, default=3.5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    report = run_chain(duration_s=args.duration, steps=args.steps, guidance_scale=args.guidance_scale)
    report["threads"] = torch.get_num_threads()
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
