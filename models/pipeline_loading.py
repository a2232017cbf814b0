"""Loading the Art2Mus pipeline from a local model directory, offline: AudioLDM2's parts, the image encoder
and the aligner, put together as :class:`~art2mus.models.pipeline.Art2MusPipeline` (whose
:meth:`~art2mus.models.pipeline.Art2MusPipeline.from_model_dir` calls :func:`load_pipeline`).

Kept apart from the pipeline's generation code, which follows diffusers' ``AudioLDM2Pipeline``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from art2mus.models.aligner import ImageAligner
from art2mus.models.encoders.base import ImageEncoder
from art2mus.models.profiles import ConditioningProfile, get_profile

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.pipeline import Art2MusPipeline


def cast_module(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Cast ``module`` to ``dtype`` but keep the parts its class marks float32-only in float32.

    transformers keeps T5's ``wo`` projections in float32 under float16 (``_keep_in_fp32_modules``): FLAN-T5
    overflows to inf/NaN otherwise. A plain ``.to(torch.float16)`` would undo that.
    """
    # nn.Module.to, not diffusers' override: that one warns about float32-only modules, handled below
    nn.Module.to(module, dtype=dtype)
    keep: set[str] = set()
    if dtype == torch.float16:
        keep |= set(getattr(module, "_keep_in_fp32_modules", None) or ())
    if dtype in (torch.float16, torch.bfloat16):
        keep |= set(getattr(module, "_keep_in_fp32_modules_strict", None) or ())
    if keep:
        for name, sub in module.named_modules():
            if keep & set(name.split(".")):
                sub.to(dtype=torch.float32)
    return module


def load_pipeline(
    cls: type[Art2MusPipeline],
    model_dir: str | Path | ModelDir,
    *,
    aligner: str | Path | ImageAligner | None = None,
    encoder: str | ImageEncoder | None = None,
    encoder_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    max_duration_s: float = 120.0,
    profile: str | ConditioningProfile | None = None,
) -> Art2MusPipeline:
    """Load AudioLDM2, the image encoder and the aligner from a local model directory.

    Args:
        model_dir: the folder ``art2mus models pull`` fills (see :mod:`art2mus.models.model_dir`).
        aligner: a folder with ``config.json`` + ``model.safetensors``, or the name of one under
            ``MODEL_DIR/aligners/``, or a loaded :class:`ImageAligner`.
        encoder: ``imagebind``, ``clip`` or ``onnx`` (loaded through ``art2mus.models.encoders``), or a
            loaded :class:`ImageEncoder`; ``None`` loads no encoder (embeddings in, e.g. for training).
        encoder_path: where the encoder's weights are; default its folder in the model directory.
        dtype: ``None`` is float32; half precision needs a CUDA ``device``.
        profile: the conditioning profile; ``None`` takes the one the aligner's ``config.json`` names
            (``art2mus-music`` when it names none). The profile chooses the AudioLDM2 checkpoint.

    Raises:
        FileNotFoundError: a part is missing (the message says which and how to get it).
        AlignerMismatchError: the aligner was trained for another encoder or GPT-2 width.
    """
    from art2mus.models.model_dir import ModelDir

    mdir = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    target = torch.device(device)
    if dtype in (torch.float16, torch.bfloat16) and target.type != "cuda":
        raise ValueError(f"dtype {dtype} needs a CUDA device; got device {target} (use float32 on the CPU)")
    aligner_dir: Path | None = None
    if aligner is not None and not isinstance(aligner, ImageAligner):
        aligner_dir = mdir.resolve_aligner(aligner)
    if profile is None and aligner_dir is not None:
        profile = ImageAligner.read_config(aligner_dir).get("conditioning_profile")
    chosen = get_profile(profile)
    components = load_audioldm2_components(
        mdir.require(chosen.base_model), dtype=dtype, clap=chosen.negative_lm_clap
    )

    image_encoder: ImageEncoder | None
    if encoder is None or isinstance(encoder, ImageEncoder):
        image_encoder = encoder
    else:
        from art2mus.models.encoders import load_image_encoder

        path = Path(encoder_path) if encoder_path is not None else mdir.encoder_path(encoder)
        image_encoder = load_image_encoder(encoder, path, device=str(target), dtype=dtype)

    image_aligner: ImageAligner | None
    if aligner is None or isinstance(aligner, ImageAligner):
        image_aligner = aligner
    else:
        image_aligner = ImageAligner.load(
            aligner_dir,
            encoder_spec=image_encoder.spec if image_encoder is not None else None,
            lm_dim=int(components["language_model"].config.hidden_size),
        )
    pipe = cls(
        **components,
        encoder=image_encoder,
        aligner=image_aligner,
        max_duration_s=max_duration_s,
        profile=chosen,
    )
    # the components were loaded in ``dtype`` (T5's ``wo`` kept in float32 by transformers) and the
    # aligner was cast to the UNet's dtype by the constructor: only the device changes here
    pipe.to(target)
    return pipe


def load_audioldm2_components(
    path: str | Path, dtype: torch.dtype | None = None, clap: bool = False
) -> dict[str, Any]:
    """Load the parts Art2Mus uses from an ``AudioLDM2Pipeline.save_pretrained`` folder, offline.

    CLAP (``text_encoder``) and its tokenizer are loaded only with ``clap=True`` (the ``art2mus-v1``
    profile's negative conditioning); otherwise the image replaces them.
    Returns keyword arguments for :class:`Art2MusPipeline` (minus encoder and aligner).
    """
    from diffusers import AutoencoderKL, DDIMScheduler
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import (
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
    )
    from transformers import AutoTokenizer, GPT2Model, SpeechT5HifiGan, T5EncoderModel

    root = Path(path)
    for sub in (
        "unet",
        "vae",
        "vocoder",
        "language_model",
        "projection_model",
        "text_encoder_2",
        "tokenizer_2",
        "scheduler",
    ):
        if not (root / sub).is_dir():
            raise FileNotFoundError(
                f"{root / sub} is missing: {root} is not a complete AudioLDM2 folder (run `art2mus models pull`)"
            )
    diffusers_kw: dict[str, Any] = {"local_files_only": True}
    transformers_kw: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        diffusers_kw["torch_dtype"] = dtype
        transformers_kw["dtype"] = dtype
    components = {
        "unet": AudioLDM2UNet2DConditionModel.from_pretrained(root / "unet", **diffusers_kw),
        "vae": AutoencoderKL.from_pretrained(root / "vae", **diffusers_kw),
        "projection_model": AudioLDM2ProjectionModel.from_pretrained(
            root / "projection_model", **diffusers_kw
        ),
        "vocoder": SpeechT5HifiGan.from_pretrained(root / "vocoder", **transformers_kw),
        "language_model": GPT2Model.from_pretrained(root / "language_model", **transformers_kw),
        "text_encoder_2": T5EncoderModel.from_pretrained(root / "text_encoder_2", **transformers_kw),
        "tokenizer_2": AutoTokenizer.from_pretrained(root / "tokenizer_2", local_files_only=True),
        "scheduler": DDIMScheduler.from_pretrained(root / "scheduler", local_files_only=True),
    }
    if clap:
        from transformers import ClapModel

        for sub in ("text_encoder", "tokenizer"):
            if not (root / sub).is_dir():
                raise FileNotFoundError(
                    f"{root / sub} is missing: this profile needs AudioLDM2's CLAP text encoder"
                )
        components["text_encoder"] = ClapModel.from_pretrained(root / "text_encoder", **transformers_kw)
        components["tokenizer"] = AutoTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
    for value in components.values():
        if isinstance(value, nn.Module):
            value.eval()
    return components
