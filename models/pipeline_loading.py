"""Loading the Art2Mus pipeline from a local model directory, offline: AudioLDM2's parts, the image encoder
and the aligner, put together as :class:`~art2mus.models.pipeline.Art2MusPipeline` (whose
:meth:`~art2mus.models.pipeline.Art2MusPipeline.from_model_dir` calls :func:`load_pipeline`).

Kept apart from the pipeline's generation code, which follows diffusers' ``AudioLDM2Pipeline``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from art2mus.models.aligner import ImageAligner
from art2mus.models.art2mus_generator import DEVICE_CHOICES, DEVICE_PATTERN
from art2mus.models.encoders.base import ImageEncoder
from art2mus.models.profiles import ConditioningProfile, get_profile

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.pipeline import Art2MusPipeline


class DeviceError(ValueError):
    """A device that is not one of :data:`DEVICE_CHOICES`, or a CUDA device this machine's torch cannot use.

    ``name`` is how the user wrote the setting (``--device``, or an exhibit's ``device:``); the message
    says what is wrong and, for a device that is not here, what to use instead (``remedy``; default
    ``use NAME cpu or auto``)."""

    def __init__(
        self, name: str, device: str, problem: str, remedy: str | None = None, *, known: bool = True
    ):
        self.name, self.device, self.problem, self.known = name, device, problem, known
        if known:  # a valid name for a device that is not here: say what to use instead
            problem += f"; {remedy if remedy is not None else f'use {name} cpu or auto'}"
        super().__init__(f"{name} {device}: {problem}")

    def renamed(self, name: str, remedy: str | None = None) -> DeviceError:
        """The same problem told under another name for the setting (a command's ``--device``)."""
        return DeviceError(name, self.device, self.problem, remedy, known=self.known)


def torch_device(device: str | torch.device, name: str = "device", remedy: str | None = None) -> torch.device:
    """The torch device ``device`` names (``auto``: CUDA where torch sees a GPU, else the CPU), checked here.

    torch accepts ``cuda`` on a machine without CUDA and fails at the first tensor moved, deep in a model's
    ``.to()`` ("Torch not compiled with CUDA enabled"); and it names every backend it knows for a typo.
    Raises :class:`DeviceError` naming the setting as ``name`` instead.
    """
    shown = str(device)
    if not isinstance(device, torch.device) and not re.fullmatch(DEVICE_PATTERN, shown):
        raise DeviceError(name, shown, f"expected {DEVICE_CHOICES}", known=False)
    if shown == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    target = torch.device(device)
    if target.type != "cuda":
        return target
    if not torch.cuda.is_available():
        raise DeviceError(name, shown, f"no CUDA device here (torch {torch.__version__})", remedy)
    count = torch.cuda.device_count()
    if target.index is not None and target.index >= count:
        seen = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise DeviceError(name, shown, f"torch sees {count} CUDA device(s) here ({seen})", remedy)
    return target


class DamagedModelFile(ValueError):
    """A file of the model directory that is there but cannot be loaded (truncated by an interrupted copy,
    overwritten): the message names it and says to copy the model folder again.

    Attributes:
        path: the damaged file (or the component's folder when no single file could be blamed).
        reason: what the loader said, in one line.
    """

    def __init__(self, path: Path, reason: str, remedy: str = "copy the model folder again"):
        self.path, self.reason = path, reason
        super().__init__(f"{path} cannot be loaded, it is damaged or incomplete ({reason}); {remedy}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def damaged_file(folder: Path) -> tuple[Path, str] | None:
    """The first file of a component ``folder`` that cannot be read (a JSON config, safetensors weights
    whose header does not cover the file, a torch checkpoint without its zip directory), with the reason;
    None when each reads (:func:`~art2mus.models.model_dir.damaged_model_file`, which ``doctor`` runs too)."""
    from art2mus.models.model_dir import damaged_model_file

    return damaged_model_file(folder)


def check_tokenizer(folder: Path, tokenizer: Any, vocab_size: int | None) -> None:
    """Refuse a tokenizer that lacks its vocabulary: without ``tokenizer.json`` (or ``spiece.model``,
    ``vocab.json``) transformers builds one of the special tokens alone, which turns every prompt into
    ``</s> <unk>``, and the music is conditioned on nothing without a word. ``vocab_size``: its text
    encoder's (a checkpoint pads it a little: T5's 32,128 rows hold 32,100 tokens).

    Raises:
        DamagedModelFile: naming ``folder``.
    """
    size, special = len(tokenizer), len(set(tokenizer.all_special_ids))
    if size <= special + 1:
        problem = f"the tokenizer holds {size} tokens, only the special ones"
    elif vocab_size is not None and not vocab_size // 2 < size <= vocab_size:
        problem = f"the tokenizer holds {size} tokens, but its text encoder has {vocab_size}"
    else:
        return
    raise DamagedModelFile(
        folder,
        f"{problem}: tokenizer.json (or spiece.model, vocab.json) is missing or belongs to another model",
    )


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
        DamagedModelFile: a part is there but cannot be loaded (the message names the file).
        DeviceError: ``device`` is no device name, or a CUDA device torch cannot use here.
        AlignerMismatchError: the aligner was trained for another encoder or GPT-2 width.
    """
    from art2mus.models.model_dir import ModelDir

    mdir = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    target = torch_device(device)  # before minutes of loading, not at the first tensor moved
    if dtype in (torch.float16, torch.bfloat16) and target.type != "cuda":
        raise ValueError(f"dtype {dtype} needs a CUDA device; got device {target} (use float32 on the CPU)")
    aligner_dir: Path | None = None
    if aligner is not None and not isinstance(aligner, ImageAligner):
        aligner_dir = mdir.resolve_aligner(aligner)
    if profile is None and aligner_dir is not None:
        profile = ImageAligner.read_config(aligner_dir).get("conditioning_profile")
    chosen = get_profile(profile)
    folder = mdir.require(chosen.base_model)
    try:
        components = load_audioldm2_components(folder, dtype=dtype, clap=chosen.negative_lm_clap)
    except DamagedModelFile as exc:
        raise DamagedModelFile(
            exc.path,
            exc.reason,
            f"copy {folder} again, or on a connected machine run `art2mus models pull --model-dir "
            f"{mdir.root} --only {chosen.base_model} --force` and copy the folder over",
        ) from exc

    image_encoder: ImageEncoder | None
    if encoder is None or isinstance(encoder, ImageEncoder):
        image_encoder = encoder
    else:
        from art2mus.models.encoders import load_image_encoder

        path = Path(encoder_path) if encoder_path is not None else mdir.encoder_path(encoder)
        encoder_dtype = torch.float32 if chosen.encoder_float32 else dtype  # v1 ran ImageBind in float32
        image_encoder = load_image_encoder(encoder, path, device=str(target), dtype=encoder_dtype)

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
    Returns keyword arguments for :class:`Art2MusPipeline` (minus encoder and aligner); raises
    :class:`DamagedModelFile` naming a file that is there but cannot be loaded.
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
    loaders: dict[str, tuple[Any, dict[str, Any]]] = {
        "unet": (AudioLDM2UNet2DConditionModel, diffusers_kw),
        "vae": (AutoencoderKL, diffusers_kw),
        "projection_model": (AudioLDM2ProjectionModel, diffusers_kw),
        "vocoder": (SpeechT5HifiGan, transformers_kw),
        "language_model": (GPT2Model, transformers_kw),
        "text_encoder_2": (T5EncoderModel, transformers_kw),
        "tokenizer_2": (AutoTokenizer, {"local_files_only": True}),
        "scheduler": (DDIMScheduler, {"local_files_only": True}),
    }
    components = {sub: _load_part(root / sub, cls, kw) for sub, (cls, kw) in loaders.items()}
    check_tokenizer(
        root / "tokenizer_2", components["tokenizer_2"], components["text_encoder_2"].config.vocab_size
    )
    if clap:
        from transformers import ClapModel

        for sub in ("text_encoder", "tokenizer"):
            if not (root / sub).is_dir():
                raise FileNotFoundError(
                    f"{root / sub} is missing: this profile needs AudioLDM2's CLAP text encoder"
                )
        components["text_encoder"] = _load_part(root / "text_encoder", ClapModel, transformers_kw)
        components["tokenizer"] = _load_part(root / "tokenizer", AutoTokenizer, {"local_files_only": True})
        text_config = components["text_encoder"].config.text_config
        check_tokenizer(root / "tokenizer", components["tokenizer"], text_config.vocab_size)
    for value in components.values():
        if isinstance(value, nn.Module):
            value.eval()
    return components


def _load_part(folder: Path, cls: Any, options: dict[str, Any]) -> Any:
    """``cls.from_pretrained(folder)``, a damaged file in ``folder`` raised as :class:`DamagedModelFile`.

    diffusers and transformers report a truncated weights file as an ``OSError`` naming neither the
    cause nor the cure, safetensors as its own ``SafetensorError``, a garbled JSON file as a
    ``ValueError``; the folder's files are checked again to name the one at fault."""
    from safetensors import SafetensorError

    try:
        return cls.from_pretrained(folder, **options)
    except (OSError, ValueError, SafetensorError) as exc:
        found = damaged_file(folder)
        if found is None and isinstance(exc, FileNotFoundError):
            raise
        path, reason = found if found is not None else (folder, _first_line(exc))
        raise DamagedModelFile(path, reason) from exc
