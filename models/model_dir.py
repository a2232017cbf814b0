"""The local model directory: what Art2Mus needs, what is present, sizes and licences, and ``pull``.

Nothing is downloaded at run time: every model loads from this directory. On a connected machine
``art2mus models pull`` fills it (Hugging Face repositories through ``huggingface_hub``, the ImageBind
checkpoint from its URL), then the folder can be copied to an air-gapped gallery machine::

    MODEL_DIR/
      audioldm2-music/          diffusers layout of cvssp/audioldm2-music (unet, vae, vocoder, text_encoder_2,
                                language_model, projection_model, tokenizers, scheduler, model_index.json)
      audioldm2/                the same for cvssp/audioldm2 (the base of the Art2Mus v1 aligners)
      imagebind/                imagebind_huge.pth (upstream state dict)
      clip-vit-large-patch14/   transformers layout of openai/clip-vit-large-patch14
      aligners/<name>/          config.json + model.safetensors (see art2mus.models.aligner)
      aligners/default          the aligner an art2mus generator without ``aligner:`` plays when several fit
                                its encoder (``pull`` links it to art2mus-v1-4tok)
      downloads/v1/             the authors' v1 .pt files as downloaded, and SHA256SUMS recorded on first download

This module imports no torch: the CLI lists models without loading any.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from art2mus.models.encoders.base import EncoderSpec

logger = logging.getLogger(__name__)

#: environment variable that overrides the default model directory.
MODEL_DIR_ENV = "ART2MUS_MODEL_DIR"
NON_COMMERCIAL = "CC BY-NC-SA 4.0 (non-commercial use only)"
#: what ``list`` says of the authors' v1 aligners: their repository states no licence, so none is claimed.
V1_LICENCE = "no licence stated by the authors (github.com/justivanr/art2mus_); ask them before public use"
#: the commit of github.com/justivanr/art2mus_ the v1 aligners are pulled from (pinned: checksums stay valid).
V1_COMMIT = "21ab344a4299ae22ace203f54dbbc7e236d0b666"
V1_RAW = f"https://raw.githubusercontent.com/justivanr/art2mus_/{V1_COMMIT}/art2mus_weights/"

#: marks a config.json as an aligner's (so a wrong folder gives a clear error, not a KeyError).
ALIGNER_FORMAT_NAME = "art2mus-aligner"
#: the aligner folder format this code writes; reading refuses folders written by a newer format.
ALIGNER_FORMAT_VERSION = 1
ALIGNER_CONFIG_FILE = "config.json"
ALIGNER_WEIGHTS_FILE = "model.safetensors"
#: the folder under ``aligners/`` an art2mus generator without ``aligner:`` plays when several fit its encoder.
DEFAULT_ALIGNER = "default"
#: the v1 aligner ``pull`` makes the default (a ``default`` link), when no other ImageBind aligner is there.
DEFAULT_V1_ALIGNER = "art2mus-v1-4tok"
#: largest aligner config.json read (one with an input_shift of 1024 values is ~25 KB).
MAX_ALIGNER_CONFIG_BYTES = 4 * 1024 * 1024
#: largest model config.json read (encoder and GPT-2 configs are a few KB).
MAX_MODEL_CONFIG_BYTES = 1024 * 1024
#: largest safetensors header read (an aligner's, of 4 to 6 tensors, is under 1 KB).
MAX_SAFETENSORS_HEADER_BYTES = 1024 * 1024
#: largest header of a model's safetensors file read (the safetensors library's own limit; a UNet's of
#: ~1,700 tensors is ~300 KB).
MAX_MODEL_HEADER_BYTES = 100 * 1024 * 1024
#: the embedding spaces of the full-size encoders ``pull`` fetches (an ``imagebind/`` folder without a
#: config.json holds ImageBind huge).
FULL_SIZE_ENCODERS = {
    "imagebind": EncoderSpec("imagebind_huge", 1024),
    "clip": EncoderSpec("clip-vit-large-patch14", 768),
}
#: CLIP (hidden_size, num_hidden_layers) -> the size word of OpenAI's model names.
_CLIP_SIZE_NAMES = {(768, 12): "base", (1024, 24): "large", (1280, 32): "huge"}


@dataclass(frozen=True)
class V1Aligner:
    """One of the authors' published v1 aligners (imported into ``aligners/<key>`` by ``pull``)."""

    key: str
    url: str
    n_tokens: int
    description: str


V1_ALIGNERS: dict[str, V1Aligner] = {
    a.key: a
    for a in (
        V1Aligner(
            "art2mus-v1", V1_RAW + "art2mus_img_proj_layer.pt", 1, "Art2Mus v1 aligner (1 token, ImageBind)"
        ),
        V1Aligner(
            "art2mus-v1-4tok",
            V1_RAW + "art2mus_4_img_proj_layer.pt",
            4,
            "Art2Mus-4 v1 aligner (4 tokens, ImageBind)",
        ),
    )
}


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from.

    Attributes:
        repo_id: a Hugging Face model repository (downloaded with ``snapshot_download``), or
        url: a single file (``filename`` in the model's folder).
        allow_patterns: repository files to fetch (``None``: all weights in the preferred format).
    """

    repo_id: str | None = None
    url: str | None = None
    filename: str | None = None
    allow_patterns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelEntry:
    """One model of the directory.

    Attributes:
        key: its name on the command line (``--only``) and its folder under the model directory.
        description: one line for ``art2mus models list``.
        licence: licence of the weights.
        source: where ``pull`` gets it.
        marker_files: files whose presence means the model is installed: every tuple needs one match
            (names relative to the model's folder; glob patterns allowed).
    """

    key: str
    description: str
    licence: str
    source: ModelSource
    marker_files: tuple[tuple[str, ...], ...]


def _audioldm2_markers(clap: bool) -> tuple[tuple[str, ...], ...]:
    """The files an AudioLDM2 folder needs: each component's config and weights (any ``.safetensors`` or
    ``.bin``: transformers and diffusers name and shard them differently), and the T5 tokenizer's
    vocabulary; with ``clap`` (the ``art2mus-v1`` profile's negative conditioning) CLAP's text encoder and
    its tokenizer's vocabulary too. Without its vocabulary file transformers builds a tokenizer of the
    special tokens alone, and the music is conditioned on empty prompts without a word."""
    parts = ["unet", "vae", "vocoder", "language_model", "projection_model", "text_encoder_2"]
    parts += ["text_encoder"] if clap else []
    markers = [("model_index.json",)]
    for part in parts:
        markers += [(f"{part}/config.json",), (f"{part}/*.safetensors", f"{part}/*.bin")]
    markers.append(("tokenizer_2/tokenizer.json", "tokenizer_2/spiece.model"))
    if clap:
        markers.append(("tokenizer/tokenizer.json", "tokenizer/vocab.json"))
    return tuple(markers)


MODEL_ENTRIES: dict[str, ModelEntry] = {
    entry.key: entry
    for entry in (
        ModelEntry(
            key="audioldm2-music",
            description="AudioLDM2-music (UNet, VAE, HiFi-GAN, GPT-2, FLAN-T5, CLAP), ~1.1 B parameters",
            licence=NON_COMMERCIAL,
            source=ModelSource(repo_id="cvssp/audioldm2-music"),
            marker_files=_audioldm2_markers(clap=False),
        ),
        ModelEntry(
            key="audioldm2",
            description="AudioLDM2 (cvssp/audioldm2), the base the Art2Mus v1 aligners were trained on",
            licence=NON_COMMERCIAL,
            source=ModelSource(repo_id="cvssp/audioldm2"),
            marker_files=_audioldm2_markers(clap=True),
        ),
        ModelEntry(
            key="imagebind",
            description="ImageBind huge image/audio encoder (1024-d), 1.2 B parameters",
            licence=NON_COMMERCIAL,
            source=ModelSource(
                url="https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth",
                filename="imagebind_huge.pth",
            ),
            # any checkpoint: the debug build stores a small one beside a JSON of its dimensions
            marker_files=(("*.pth",),),
        ),
        ModelEntry(
            key="clip-vit-large-patch14",
            description="CLIP ViT-L/14 image encoder (768-d)",
            licence="MIT",
            # the whole CLIPModel checkpoint: CLIPVisionModelWithProjection loads its vision half
            source=ModelSource(repo_id="openai/clip-vit-large-patch14"),
            marker_files=(("config.json",), ("model.safetensors", "pytorch_model.bin")),
        ),
    )
}

#: image-encoder kind -> model entry holding its weights (``onnx`` files live wherever they were exported).
ENCODER_ENTRIES = {"imagebind": "imagebind", "clip": "clip-vit-large-patch14"}


@dataclass(frozen=True)
class ModelDirChoice:
    """The model directory a command or generator uses, and where that choice came from.

    Attributes:
        path: the folder (it need not exist).
        origin: where it came from, for messages: ``set by model_dir``, ``from $ART2MUS_MODEL_DIR`` or
            ``the default, as $ART2MUS_MODEL_DIR is not set``.
    """

    path: Path
    origin: str


def choose_model_dir(
    explicit: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    explicit_origin: str = "set by model_dir",
) -> ModelDirChoice:
    """The one rule of every user of the model directory: ``explicit`` (an exhibit's ``model_dir``, a
    ``--model-dir``), else ``$ART2MUS_MODEL_DIR``, else ``$XDG_DATA_HOME/art2mus/models``
    (``~/.local/share/art2mus/models``); ``environ`` defaults to the process's environment."""
    if explicit is not None and str(explicit) != "":
        return ModelDirChoice(Path(explicit).expanduser(), explicit_origin)
    env = os.environ if environ is None else environ
    if env.get(MODEL_DIR_ENV):
        return ModelDirChoice(Path(env[MODEL_DIR_ENV]).expanduser(), f"from ${MODEL_DIR_ENV}")
    if env.get("XDG_DATA_HOME"):
        base = Path(env["XDG_DATA_HOME"]).expanduser()
    else:
        base = (Path(env["HOME"]) if env.get("HOME") else Path.home()) / ".local" / "share"
    return ModelDirChoice(base / "art2mus" / "models", f"the default, as ${MODEL_DIR_ENV} is not set")


def default_model_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$ART2MUS_MODEL_DIR``, else ``$XDG_DATA_HOME/art2mus/models`` (``~/.local/share/art2mus/models``)."""
    return choose_model_dir(None, environ).path


def _read_json(path: Path, limit: int, what: str) -> Any:
    """The JSON document at ``path``, at most ``limit`` bytes. Raises FileNotFoundError, OSError and
    ValueError (too large, not UTF-8, not JSON), each naming the file."""
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{what} {path} is {size} bytes, larger than any such file (limit {limit})")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError
        raise ValueError(f"{what} {path} is not valid JSON: {exc}") from exc


def read_aligner_config(directory: str | Path) -> dict[str, Any]:
    """Read and check an aligner folder's ``config.json`` (no weights read, no torch).

    Aligners imported with the encoder name ``imagebind`` (what ``pull`` and ``import-v1`` recorded for
    ImageBind huge, 1024-d, whose loaded encoder is named ``imagebind_huge``) read as ``imagebind_huge``:
    under the old name they matched no encoder and could not load.

    Raises:
        FileNotFoundError: the folder or its ``config.json`` is missing.
        ValueError: the file is not an aligner config, or was written by a newer format version.
    """
    folder = Path(directory)
    if folder.is_file():
        folder = folder.parent
    path = folder / ALIGNER_CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"aligner config {path} not found (an aligner folder holds {ALIGNER_CONFIG_FILE} and "
            f"{ALIGNER_WEIGHTS_FILE}){run_aligner_hint(folder)}"
        )
    document = _read_json(path, MAX_ALIGNER_CONFIG_BYTES, "aligner config")
    if not isinstance(document, dict) or document.get("format") != ALIGNER_FORMAT_NAME:
        raise ValueError(
            f'{path} is not an art2mus aligner config (expected "format": "{ALIGNER_FORMAT_NAME}")'
        )
    version = document.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= ALIGNER_FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {version!r} is not supported; this art2mus reads versions "
            f"1 to {ALIGNER_FORMAT_VERSION} (upgrade art2mus to load newer aligners)"
        )
    config = document.get("config")
    if not isinstance(config, dict):
        raise ValueError(f'{path}: field "config" must be an object of ImageAligner arguments')
    if config.get("encoder_name") == "imagebind" and config.get("embedding_dim") == 1024:
        config["encoder_name"] = FULL_SIZE_ENCODERS["imagebind"].name
        if isinstance(document.get("encoder"), dict):
            document["encoder"]["name"] = config["encoder_name"]
    return document


#: the subfolders where ``art2mus train`` writes a run's aligners (the best by validation loss, the last)
RUN_ALIGNER_FOLDERS = ("best", "last")


def run_aligner_hint(folder: Path) -> str:
    """``: it is a training run; its aligner is RUN/best`` for a training run's folder given as an aligner
    (``runs/a`` said only that it held no config.json), else empty."""
    held = [folder / name for name in RUN_ALIGNER_FOLDERS if (folder / name / ALIGNER_CONFIG_FILE).is_file()]
    if not held:
        return ""
    return f"; it looks like a training run: its aligner is {' or '.join(map(str, held))}"


def _names(folders: Sequence[Path]) -> str:
    return ", ".join(folder.name for folder in folders)


def aligner_identity(folder: str | Path) -> dict[str, str]:
    """What makes an aligner's music: ``{"weights_sha256", "conditioning_profile"}`` (no weights loaded,
    no torch: the daemon keys its cache with it, and generation runs in the generator process).

    The recorded hash is used when present (``save`` writes it), otherwise the file is hashed.
    """
    from art2mus.common.digests import file_sha256
    from art2mus.models.profiles import get_profile

    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    document = read_aligner_config(folder)
    recorded = document.get("weights_sha256")
    weights = folder / ALIGNER_WEIGHTS_FILE
    digest = recorded if isinstance(recorded, str) else (file_sha256(weights) if weights.is_file() else "")
    return {
        "weights_sha256": digest,
        "conditioning_profile": get_profile(document.get("conditioning_profile")).name,
    }


def _safetensors_layout(path: Path, limit: int) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of the ``.safetensors`` file ``path``, from its header alone (no torch, no data
    read): the header is JSON after its length in 8 little-endian bytes, and its offsets give the file's
    size. Raises OSError (unreadable), or ValueError saying what is wrong, without the path
    (``is 1000 bytes, but its header describes 27040: ...``)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < length <= min(limit, size - 8):
            raise ValueError(f"is not a safetensors file: it has no readable header ({size} bytes)")
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError
        raise ValueError(f"has a safetensors header that is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ValueError("has a safetensors header that is not a JSON object")
    shapes, data_end = {}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            shapes[name] = tuple(int(d) for d in info["shape"])
            _, end = (int(offset) for offset in info["data_offsets"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(
                f"has a safetensors header whose tensor {name!r} has no shape or offsets"
            ) from exc
        data_end = max(data_end, end)
    if 8 + length + data_end != size:
        raise ValueError(
            f"is {size} bytes, but its header describes {8 + length + data_end}: the file is truncated or damaged"
        )
    return shapes


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes an aligner's ``.safetensors`` file records, from its header alone (no torch).

    Raises:
        OSError: the file cannot be read.
        ValueError: not a safetensors file, or its size is not the one its header describes (a truncated
            or damaged copy).
    """
    try:
        return _safetensors_layout(path, MAX_SAFETENSORS_HEADER_BYTES)
    except ValueError as exc:
        raise ValueError(f"{path} {exc}; copy it again (or save the aligner again)") from exc


def _torch_checkpoint_problem(path: Path) -> str | None:
    """What is wrong with the torch checkpoint ``path`` (``.pth``, ``.bin``, ``.pt``) as far as its zip
    directory tells, without reading the weights: torch writes that directory last, so a truncated copy
    has none. None when it looks whole, or is in torch's old pickle format (nothing cheap to check)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic[:2] == b"\x80\x02":  # torch's format before 1.6: one pickle stream
        return None
    if magic != b"PK\x03\x04":
        return f"it is not a torch checkpoint: it starts as neither a zip archive nor a pickle ({size} bytes)"
    try:
        with zipfile.ZipFile(path) as archive:
            ends = [info.header_offset + info.compress_size for info in archive.infolist()]
            directory = archive.start_dir
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        return f"it is {size} bytes and lacks the zip directory torch writes at its end ({exc})"
    if not ends or max(ends) > directory:
        return f"its zip directory describes data past its {size} bytes"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def checkpoint_failure(path: Path, exc: BaseException) -> str:
    """Why ``torch.load`` could not read ``path``, in one clause: torch's own messages run to a dozen lines
    ("Please file an issue...", "This is an internal miniz error..."). A checkpoint cut short is named from
    its zip directory; a pickle the weights-only loader refuses, as such."""
    try:
        problem = _torch_checkpoint_problem(path)
    except OSError as error:
        problem = f"it cannot be read: {error.strerror or error}"
    if problem is not None:
        return problem
    text = _first_line(exc)
    if text.startswith("Weights only load failed"):
        return "it holds objects other than tensors, which the safe (weights-only) loader refuses"
    return text.split(". ")[0].rstrip(".")


def damaged_model_file(folder: Path) -> tuple[Path, str] | None:
    """The first file of a model component ``folder`` that cannot be loaded, with why in one line; None
    when each reads. Cheap enough for ``doctor`` on 5 GB of weights, and no torch: JSON files (configs,
    tokenizer vocabularies of a few MB) are parsed, a safetensors file's header must cover the file, a torch
    checkpoint must end in its zip directory; no weights are read or hashed."""
    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:
            return path, _first_line(exc)
    for path in sorted(folder.glob("*.safetensors")):
        try:
            _safetensors_layout(path, MAX_MODEL_HEADER_BYTES)
        except OSError as exc:
            return path, f"it cannot be read: {exc.strerror or exc}"
        except ValueError as exc:
            return path, f"it {exc}"
    for path in sorted(p for pattern in ("*.pth", "*.pt", "*.bin") for p in folder.glob(pattern)):
        try:
            problem = _torch_checkpoint_problem(path)
        except OSError as exc:
            problem = f"it cannot be read: {exc.strerror or exc}"
        if problem is not None:
            return path, problem
    return None


def _positive_int(config: dict[str, Any], key: str, default: int | None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'"config"."{key}" must be a positive integer, got {value!r}')
    return value


def aligner_weight_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of an ``ImageAligner`` with the constructor arguments ``config`` (its config.json's
    ``"config"``): ``proj_in`` (hidden, embedding_dim), ``proj_out`` (n_tokens * lm_dim, hidden) and, with
    ``output_norm: layernorm``, ``norm`` (lm_dim).

    Raises:
        ValueError: a dimension that is not a positive integer.
    """
    embedding_dim = _positive_int(config, "embedding_dim", None)
    lm_dim = _positive_int(config, "lm_dim", 768)
    n_tokens = _positive_int(config, "n_tokens", 1)
    hidden = 2 * lm_dim if config.get("hidden_dim") is None else _positive_int(config, "hidden_dim", None)
    shapes = {
        "proj_in.weight": (hidden, embedding_dim),
        "proj_in.bias": (hidden,),
        "proj_out.weight": (n_tokens * lm_dim, hidden),
        "proj_out.bias": (n_tokens * lm_dim,),
    }
    if config.get("output_norm") == "layernorm":
        shapes.update({"norm.weight": (lm_dim,), "norm.bias": (lm_dim,)})
    return shapes


def _weights_mismatch(
    folder: Path,
    config: dict[str, Any],
    expected: dict[str, tuple[int, ...]],
    found: dict[str, tuple[int, ...]],
) -> str:
    """What differs between the weights ``config`` describes and those ``model.safetensors`` holds."""
    weights, described = folder / ALIGNER_WEIGHTS_FILE, folder / ALIGNER_CONFIG_FILE
    if set(expected) != set(found):
        return (
            f"{weights} does not hold the tensors {described} describes: missing "
            f"{sorted(set(expected) - set(found)) or 'none'}, unexpected {sorted(set(found) - set(expected)) or 'none'}"
        )
    name = next(n for n in expected if expected[n] != found[n])
    lm_dim = int(config.get("lm_dim", 768))
    hint = ""
    if name.startswith("proj_out") and found[name][0] % lm_dim == 0:
        hint = f" (they make {found[name][0] // lm_dim} tokens of {lm_dim}-d)"
    elif name == "proj_in.weight" and len(found[name]) == 2:
        hint = f" (they take {found[name][1]}-d embeddings)"
    return (
        f"{described} describes {config.get('n_tokens', 1)} x {lm_dim}-d tokens from {config.get('embedding_dim')}-d "
        f"embeddings ({name} {expected[name]}), but {weights} holds {name} {found[name]}{hint}: the config was "
        "edited or belongs to other weights, and the aligner cannot load"
    )


def aligner_problem(
    folder: Path,
    encoder: str,
    encoder_spec: EncoderSpec | None = None,
    lm_dim: int | None = None,
    encoder_where: str = "",
    lm_where: str = "",
) -> str | None:
    """What keeps the aligner folder ``folder`` from loading with the image encoder ``encoder``
    (``imagebind``, ``clip`` or ``onnx``); None when nothing does. Cheap (for ``validate``): its config.json
    and the header of its weights are read, never the weights, and no torch is imported.

    Checked: the config, the tensors the weights file holds and its size against the config's
    dimensions, the encoder family, and, when given, the embedding space ``encoder_spec`` of the encoder
    it will run with (found ``encoder_where``) and the width ``lm_dim`` of the language model (GPT-2,
    found ``lm_where``). Each of these passed ``validate`` and ``doctor`` and failed only when a soundscape
    was rendered, so the room played its fallback.
    """
    try:
        document = read_aligner_config(folder)
    except FileNotFoundError:
        return (
            f"{folder} holds no {ALIGNER_CONFIG_FILE} (an aligner folder holds {ALIGNER_CONFIG_FILE} and "
            f"{ALIGNER_WEIGHTS_FILE}){run_aligner_hint(folder)}"
        )
    except (OSError, ValueError) as exc:
        return str(exc)
    weights = folder / ALIGNER_WEIGHTS_FILE
    if not weights.is_file():
        return f"{folder} lacks {ALIGNER_WEIGHTS_FILE}"
    config = document["config"]
    trained_for = str(config.get("encoder_name") or "")
    family = next((f for f in ("imagebind", "clip") if trained_for.startswith(f)), None)
    if encoder in ("imagebind", "clip") and family is not None and family != encoder:
        return (
            f"this aligner was trained for the {family} image encoder ({trained_for}), but encoder is "
            f"{encoder!r}: set encoder: {family}, or choose an aligner trained for {encoder}"
        )
    try:
        expected = aligner_weight_shapes(config)
        found = safetensors_shapes(weights)
    except ValueError as exc:
        return f"{folder / ALIGNER_CONFIG_FILE}: {exc}" if str(exc).startswith('"config"') else str(exc)
    except OSError as exc:
        return f"{weights} cannot be read: {exc.strerror or exc}"
    if expected != found:
        return _weights_mismatch(folder, config, expected, found)
    embedding_dim, tokens_dim = config["embedding_dim"], config.get("lm_dim", 768)
    if encoder_spec is not None and (trained_for, embedding_dim) != (encoder_spec.name, encoder_spec.dim):
        return (
            f"this aligner was trained for encoder {trained_for!r} ({embedding_dim}-d embeddings), but the "
            f"{encoder} encoder{encoder_where} is {encoder_spec.name!r} ({encoder_spec.dim}-d): choose an aligner "
            f"trained for {encoder_spec.name!r}, or install the encoder this one was trained for"
        )
    if lm_dim is not None and tokens_dim != lm_dim:
        return (
            f"this aligner produces {tokens_dim}-d tokens, but the language model (GPT-2){lm_where} takes "
            f"{lm_dim}-d tokens: it was made for another AudioLDM2 build"
        )
    return None


def _clip_spec(config: dict[str, Any]) -> EncoderSpec | None:
    """The embedding space of a CLIP config.json (a ``CLIPConfig``'s vision half, or a ``CLIPVisionConfig``),
    named as the CLIP encoder names it (``clip-vit-large-patch14``, ``clip-vit-h32-l2-patch32`` for a debug
    build); None when the file leaves a dimension to transformers' defaults."""
    vision = config.get("vision_config") if isinstance(config.get("vision_config"), dict) else config
    keys = ("hidden_size", "num_hidden_layers", "patch_size", "image_size", "projection_dim")
    values = [vision.get(key) for key in keys]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    hidden, layers, patch, image, dim = values
    size = _CLIP_SIZE_NAMES.get((hidden, layers), f"h{hidden}-l{layers}")
    return EncoderSpec(f"clip-vit-{size}-patch{patch}" + ("" if image == 224 else f"-{image}"), dim)


def encoder_spec_on_disk(kind: str, path: Path) -> EncoderSpec | None:
    """The embedding space (name, dim) the encoder ``kind`` at ``path`` will have once loaded, from its
    config files alone (no weights, no torch); None when its files are missing or do not say.

    ``imagebind``: a folder's ``config.json`` (a debug or other build), else ``imagebind_huge.pth`` (ImageBind
    huge, 1024-d); ``clip``: its ``config.json``; ``onnx``: the export's ``encoder.json``.

    Raises:
        OSError, ValueError: a config file that cannot be read as JSON (the message names it).
    """
    if not path.exists():
        return None
    directory = path if path.is_dir() else path.parent
    if kind == "imagebind":
        config_path = directory / "config.json"
        if not config_path.is_file():
            checkpoint = path if path.is_file() else directory / "imagebind_huge.pth"
            return FULL_SIZE_ENCODERS["imagebind"] if checkpoint.is_file() else None
        document = _read_json(config_path, MAX_MODEL_CONFIG_BYTES, "ImageBind config")
        model = document.get("model") if isinstance(document, dict) else None
        dim = model.get("out_embed_dim") if isinstance(model, dict) else None
        if not isinstance(document.get("name"), str) or not isinstance(dim, int) or isinstance(dim, bool):
            return None
        return EncoderSpec(document["name"], dim)
    if kind == "clip":
        config_path = directory / "config.json"
        if not config_path.is_file():
            return None
        document = _read_json(config_path, MAX_MODEL_CONFIG_BYTES, "CLIP config")
        return _clip_spec(document) if isinstance(document, dict) else None
    if kind == "onnx":
        from art2mus.models.encoders.onnx import METADATA_FILE

        if not (directory / METADATA_FILE).is_file():
            return None
        spec = _read_json(directory / METADATA_FILE, MAX_MODEL_CONFIG_BYTES, "ONNX encoder description")
        spec = spec.get("spec") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("dim"), int):
            return None
        return EncoderSpec(str(spec.get("name")), spec["dim"])
    return None


def folder_size(path: Path) -> int:
    """Bytes of all regular files under ``path`` (0 if missing)."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(
        p.stat().st_size
        for p in path.rglob("*")
        if p.is_file() and not p.is_symlink() and ".cache" not in p.relative_to(path).parts
    )


def format_size(n_bytes: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@dataclass
class ModelStatus:
    """What ``art2mus models list`` shows for one model or aligner."""

    key: str
    kind: str  # "model" or "aligner"
    path: Path
    present: bool
    size_bytes: int
    licence: str
    description: str
    missing: list[str] = field(default_factory=list)
    #: files that are there but cannot be loaded, each ``path (why)``
    damaged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "path": str(self.path),
            "present": self.present,
            "size_bytes": self.size_bytes,
            "licence": self.licence,
            "description": self.description,
            "missing": list(self.missing),
            "damaged": list(self.damaged),
        }


class HubClient(Protocol):
    """The two ``huggingface_hub`` calls ``pull`` makes (a test hands in a fake)."""

    def list_repo_files(self, repo_id: str) -> list[str]: ...

    def snapshot_download(
        self, repo_id: str, local_dir: str, allow_patterns: list[str], force_download: bool = False
    ) -> str: ...


class HubUnreachableError(OSError):
    """The model hub (or a weights URL) cannot be reached from this machine."""


def offline_message(where: str, model_dir: Path) -> str:
    """The one sentence ``pull`` says when ``where`` cannot be reached."""
    return (
        f"this machine cannot reach {where}: run `art2mus models pull --model-dir DIR` on a connected machine "
        f"and copy DIR to {model_dir} here (or point ${MODEL_DIR_ENV} at the copy)"
    )


class HuggingFaceHubClient:
    """:class:`HubClient` on ``huggingface_hub`` (imported on first use; shows tqdm progress bars)."""

    def endpoint(self) -> str:
        return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"

    def check_reachable(self, timeout_s: float = 15.0) -> None:
        """One quick request to the hub, so an offline machine gets one sentence instead of minutes of retries.

        Raises:
            HubUnreachableError: no connection (refused, no route, DNS failure, timeout).
        """
        import urllib.error

        url = self.endpoint().rstrip("/") + "/api/models?limit=1"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s):  # noqa: S310 (the configured hub)
                pass
        except urllib.error.HTTPError:
            return  # the hub answered: reachable
        except (urllib.error.URLError, OSError) as exc:
            raise HubUnreachableError(f"{self.endpoint()} ({getattr(exc, 'reason', exc)})") from exc

    def list_repo_files(self, repo_id: str) -> list[str]:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(repo_id))

    def snapshot_download(
        self, repo_id: str, local_dir: str, allow_patterns: list[str], force_download: bool = False
    ) -> str:
        """``force_download``: fetch each file again even where huggingface_hub's records in
        ``local_dir/.cache`` say it is complete (they go by size and time, not by the bytes now there)."""
        from huggingface_hub import snapshot_download

        return snapshot_download(
            repo_id=repo_id, local_dir=local_dir, allow_patterns=allow_patterns, force_download=force_download
        )


ProgressFn = Callable[[int, int | None], None]
UrlFetcher = Callable[[str, Path, ProgressFn | None], None]


def fetch_url(url: str, destination: Path, progress: ProgressFn | None = None, chunk: int = 1 << 20) -> None:
    """Download ``url`` to ``destination`` via a ``.part`` file, calling ``progress(done_bytes, total_bytes)``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    with urllib.request.urlopen(url) as response, open(partial, "wb") as out:  # noqa: S310 (fixed https URLs)
        total = response.headers.get("Content-Length")
        total_bytes = int(total) if total else None
        done = 0
        while block := response.read(chunk):
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total_bytes)
    partial.replace(destination)


_OTHER_FRAMEWORKS = (".h5", ".msgpack", ".onnx", ".ot", ".tflite", ".mlmodel", ".pb")


def select_repo_files(files: Iterable[str]) -> list[str]:
    """The files of a diffusers/transformers repository worth downloading.

    Keeps configs, tokenizer files and PyTorch weights; in each folder, ``.safetensors`` weights win over
    ``.bin`` duplicates, and TensorFlow/Flax/ONNX exports and fp16 variants are skipped.
    """
    files = [f for f in files if not f.startswith(".") and "/." not in f]
    folders_with_safetensors = {
        f.rsplit("/", 1)[0] if "/" in f else "" for f in files if f.endswith(".safetensors")
    }
    chosen = []
    for f in files:
        folder = f.rsplit("/", 1)[0] if "/" in f else ""
        name = f.rsplit("/", 1)[-1]
        if name.endswith(_OTHER_FRAMEWORKS) or ".fp16." in name or name.endswith((".md", ".gitattributes")):
            continue
        if name.endswith((".bin", ".ckpt", ".pt", ".pth")) and folder in folders_with_safetensors:
            continue
        chosen.append(f)
    return sorted(chosen)


class ModelDir:
    """The model directory at ``root``: paths, presence, sizes, licences, aligners and ``pull``.

    Args:
        root: the directory (need not exist yet).
        hub: Hugging Face client for ``pull`` (default: :class:`HuggingFaceHubClient`).
        fetch: URL downloader for ``pull`` (default: :func:`fetch_url`).
        entries: the model table (default :data:`MODEL_ENTRIES`).
        origin: where ``root`` came from (:attr:`ModelDirChoice.origin`), named in messages.
    """

    def __init__(
        self,
        root: str | Path,
        hub: HubClient | None = None,
        fetch: UrlFetcher | None = None,
        entries: Mapping[str, ModelEntry] | None = None,
        origin: str | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.origin = origin
        self.hub = hub if hub is not None else HuggingFaceHubClient()
        self.fetch = fetch if fetch is not None else fetch_url
        self.entries = dict(MODEL_ENTRIES if entries is None else entries)

    @classmethod
    def chosen(cls, explicit: str | Path | None, environ: Mapping[str, str] | None = None) -> ModelDir:
        """The model directory :func:`choose_model_dir` picks for ``explicit`` (``None``: unset)."""
        choice = choose_model_dir(explicit, environ)
        return cls(choice.path, origin=choice.origin)

    def __repr__(self) -> str:
        return f"ModelDir({str(self.root)!r})"

    def describe(self, path: Path | None = None) -> str:
        """``path`` (default: the root), followed by where the model directory came from when known."""
        shown = self.root if path is None else path
        return f"{shown} ({self.origin})" if self.origin else str(shown)

    # --- paths ----------------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        if key not in self.entries:
            raise KeyError(f"unknown model {key!r}; expected one of: {', '.join(self.entries)}")
        return self.root / key

    @property
    def aligners_dir(self) -> Path:
        return self.root / "aligners"

    def missing_files(self, key: str) -> list[str]:
        """Marker files of model ``key`` that are absent (empty when it is installed)."""
        folder = self.path(key)

        def found(pattern: str) -> bool:
            if any(ch in pattern for ch in "*?["):
                return any(p.is_file() for p in folder.glob(pattern))
            return (folder / pattern).is_file()

        return [
            " or ".join(alts) for alts in self.entries[key].marker_files if not any(found(a) for a in alts)
        ]

    def is_present(self, key: str) -> bool:
        return not self.missing_files(key)

    def damaged_files(self, key: str) -> list[tuple[Path, str]]:
        """The first file of each component folder of model ``key`` (its folder, and each folder in it) that
        cannot be loaded, with why (:func:`damaged_model_file`: headers and sizes, no weights read); empty
        when each reads. A truncated UNet or a halved ImageBind checkpoint had every marker file and passed
        ``doctor`` and ``models list``; only a rendering found it."""
        folder = self.path(key)
        if not folder.is_dir():
            return []
        parts = [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))]
        return [found for part in parts if (found := damaged_model_file(part)) is not None]

    def damage_report(self, key: str) -> str | None:
        """One sentence naming the damaged files of model ``key`` and how to get them again; None when
        there are none."""
        damaged = self.damaged_files(key)
        if not damaged:
            return None
        files = "; ".join(f"{path} ({reason})" for path, reason in damaged)
        return (
            f"{files}: damaged or incomplete; copy {self.path(key)} again, or on a connected machine run "
            f"`art2mus models pull --model-dir {self.root} --only {key} --force` and copy the folder over"
        )

    def require(self, key: str) -> Path:
        """The folder of model ``key``; ``FileNotFoundError`` saying how to get it when it is incomplete."""
        missing = self.missing_files(key)
        if missing:
            raise FileNotFoundError(
                f"model {key!r} is not installed in {self.describe()}: missing {', '.join(missing)}; on a connected "
                f"machine run `art2mus models pull --model-dir {self.root} --only {key}` and copy the folder over"
            )
        return self.path(key)

    def encoder_path(self, kind: str) -> Path:
        """Default weights folder of image-encoder ``kind`` (``imagebind`` or ``clip``)."""
        if kind not in ENCODER_ENTRIES:
            raise ValueError(
                f"encoder {kind!r} has no default folder in the model directory; expected one of "
                f"{', '.join(ENCODER_ENTRIES)}, or pass encoder_path (ONNX files live where they were exported)"
            )
        return self.require(ENCODER_ENTRIES[kind])

    def resolve_aligner(self, name_or_path: str | Path) -> Path:
        """An aligner folder: an existing path, or the name of a folder under ``aligners/``.

        Raises:
            FileNotFoundError: neither exists.
            ValueError: the path is a torch ``.pt``/``.pth`` file (a v1 checkpoint is imported first).
        """
        candidate = Path(name_or_path).expanduser()
        if candidate.is_file() and candidate.suffix.lower() in (".pt", ".pth"):
            raise ValueError(
                f"{candidate} is a torch checkpoint, not an aligner folder (config.json + model.safetensors); "
                f"convert an Art2Mus v1 checkpoint with: art2mus models import-v1 {candidate} --name NAME"
            )
        if candidate.exists():
            return candidate.parent if candidate.is_file() else candidate
        named = self.aligners_dir / str(name_or_path)
        if named.is_dir():
            return named
        installed = [a.name for a in self.list_aligner_dirs()]
        # the wording of installation.config.base.did_you_mean, which models may not import
        close = difflib.get_close_matches(Path(str(name_or_path)).name, installed, n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise FileNotFoundError(
            f"aligner {str(name_or_path)!r} not found: not a path and not a folder under "
            f"{self.describe(self.aligners_dir)} "
            f"(installed aligners: {', '.join(installed) or 'none'}){suggestion}"
        )

    def graph_aligner(self, encoder: str, encoder_path: Path | None) -> tuple[dict[str, Any], Path] | None:
        """The aligner an ``encoder: onnx`` export at ``encoder_path`` carries (its ``encoder.json`` record) and
        the folder of the same weights: the recorded one while its weights' sha256 is the recorded one, else
        an installed aligner of that sha256 (the graph was copied to another machine). None for another
        encoder, or an export that carries no aligner or recorded none. The generator plays the graph's
        tokens and reads that folder's config (profile, widths); the cache keys it as that folder.

        Raises:
            FileNotFoundError: no folder of those weights is found (the message names the graph's aligner).
        """
        from art2mus.models.encoders.onnx import graph_aligner

        if encoder != "onnx" or encoder_path is None:
            return None
        record = graph_aligner(encoder_path)
        if record is None:
            return None
        digest = record["weights_sha256"]
        candidates = [Path(record["source"])] if isinstance(record.get("source"), str) else []
        candidates += self.list_aligner_dirs()
        for folder in candidates:
            try:
                if (folder / ALIGNER_CONFIG_FILE).is_file() and aligner_identity(folder)[
                    "weights_sha256"
                ] == digest:
                    return record, folder
            except (OSError, ValueError):
                continue
        raise FileNotFoundError(
            f"the ONNX graph at {encoder_path} carries aligner {record.get('source')} (weights sha256 "
            f"{digest[:12]}), and neither that folder nor an aligner under {self.describe(self.aligners_dir)} "
            "holds those weights (its config.json is needed too): copy that aligner there"
        )

    def graph_aligner_mismatch(self, encoder: str, encoder_path: Path | None, folder: Path) -> str | None:
        """Why ``aligner: folder`` cannot play beside the ONNX graph at ``encoder_path``, whose tokens play: it
        carries an aligner of other weights (both named); None when it carries that one or none."""
        from art2mus.models.encoders.onnx import graph_aligner

        record = graph_aligner(encoder_path) if encoder == "onnx" and encoder_path is not None else None
        if record is None:
            return None
        try:
            digest = aligner_identity(folder)["weights_sha256"]
        except (OSError, ValueError):
            return None  # aligner_problem reports the folder
        if digest == record["weights_sha256"]:
            return None
        return (
            f"aligner {folder} (weights sha256 {digest[:12]}) is not the aligner the ONNX graph at "
            f"{encoder_path} carries and plays ({record.get('source')}, sha256 {record['weights_sha256'][:12]}): "
            "leave aligner unset to play the graph's, or export this one (art2mus models export-onnx "
            f"--aligner {folder})"
        )

    def list_aligner_dirs(self) -> list[Path]:
        if not self.aligners_dir.is_dir():
            return []
        return sorted(p for p in self.aligners_dir.iterdir() if (p / ALIGNER_CONFIG_FILE).is_file())

    def aligners_for(self, spec: EncoderSpec) -> list[Path]:
        """The installed aligners trained for the embedding space ``spec`` (unreadable ones are logged and
        left out)."""
        matches = []
        for folder in self.list_aligner_dirs():
            try:
                config = read_aligner_config(folder)["config"]
            except (OSError, ValueError) as exc:
                logger.warning("skipping aligner %s: %s", folder, exc)
                continue
            if config.get("encoder_name") == spec.name and config.get("embedding_dim") == spec.dim:
                matches.append(folder)
        return matches

    def default_aligner(self, spec: EncoderSpec, choose_with: str = "`aligner:`") -> Path:
        """The aligner an art2mus generator without one plays for the encoder ``spec``: ``aligners/default``
        if it was trained for ``spec``, else the only installed aligner that was.

        Raises:
            FileNotFoundError: none was trained for ``spec``, or several were and none is ``default``; the
                message lists them and says how to choose: with ``choose_with`` (an exhibit's `aligner:`,
                a command's `--aligner`), or by linking one as ``default``.
        """
        matches = self.aligners_for(spec)
        named = [m for m in matches if m.name == DEFAULT_ALIGNER]
        if named:
            return named[0]
        # a damaged aligner (truncated weights...) is no candidate: validate refuses it when named
        damaged = [m for m in matches if len(matches) > 1 and aligner_problem(m, spec.name, spec)]
        whole = [m for m in matches if m not in damaged]
        if len(whole) == 1:
            if damaged:
                logger.warning(
                    "aligner %s chosen for %s; left out, damaged: %s", whole[0], spec.name, _names(damaged)
                )
            return whole[0]
        where = self.describe(self.aligners_dir)
        left_out = (
            f" (left out, damaged: {_names(damaged)}; `art2mus models list` says why)" if damaged else ""
        )
        matches = whole or matches
        if not matches:
            installed = ", ".join(p.name for p in self.list_aligner_dirs())
            others = f" (installed, for other encoders: {installed})" if installed else ""
            raise FileNotFoundError(
                f"no aligner for encoder {spec.name!r} (dim {spec.dim}) in {where}{others}; train one or "
                f"set {choose_with}"
            )
        names = _names(matches)
        raise FileNotFoundError(
            f"several aligners fit encoder {spec.name!r} (dim {spec.dim}) in {where}: {names}{left_out}; choose one with "
            f"{choose_with}, or make one the default: ln -sfn {matches[0].name} {self.aligners_dir / DEFAULT_ALIGNER}"
        )

    # --- what the files say, without loading them ---------------------------------------------------
    def encoder_spec(self, kind: str, encoder_path: Path | None = None) -> EncoderSpec | None:
        """The embedding space of encoder ``kind`` (at ``encoder_path``, default its folder here) as its
        config files record it (:func:`encoder_spec_on_disk`); None when they are missing or unreadable
        (loading the encoder reports that)."""
        if encoder_path is None and kind not in ENCODER_ENTRIES:
            return None
        path = Path(encoder_path) if encoder_path is not None else self.path(ENCODER_ENTRIES[kind])
        try:
            return encoder_spec_on_disk(kind, path)
        except (OSError, ValueError):
            return None

    def language_model_dim(self, key: str) -> int | None:
        """The width of the GPT-2 (``language_model/config.json``) of the AudioLDM2 model ``key``; None when
        it is not installed or its config does not say."""
        try:
            config = _read_json(
                self.path(key) / "language_model" / "config.json", MAX_MODEL_CONFIG_BYTES, "config"
            )
        except (OSError, ValueError):
            return None
        dim = config.get("n_embd", config.get("hidden_size")) if isinstance(config, dict) else None
        return dim if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 else None

    def aligner_problem(
        self, folder: Path, encoder: str, encoder_path: Path | None = None, profile: str | None = None
    ) -> str | None:
        """:func:`aligner_problem` for the aligner ``folder`` run with this directory's encoder ``encoder``
        (or the one at ``encoder_path``) and the GPT-2 of the AudioLDM2 its conditioning profile (or
        ``profile``) loads; None when it fits. Reads config files and a weights header only."""
        from art2mus.models.profiles import get_profile

        spec = self.encoder_spec(encoder, encoder_path)
        encoder_where = f" at {encoder_path}" if encoder_path is not None else f" in {self.describe()}"
        lm_dim, lm_where = None, ""
        try:
            base = get_profile(profile or read_aligner_config(folder).get("conditioning_profile")).base_model
        except (OSError, ValueError):
            base = None  # aligner_problem reports the config
        if base is not None:
            lm_dim, lm_where = self.language_model_dim(base), f" of {base} in {self.describe()}"
        return aligner_problem(folder, encoder, spec, lm_dim, encoder_where, lm_where)

    # --- listing --------------------------------------------------------------------------------------
    def status(self) -> list[ModelStatus]:
        """One :class:`ModelStatus` per model of the table, then one per installed aligner."""
        rows = []
        for key, entry in self.entries.items():
            folder = self.path(key)
            missing = self.missing_files(key)
            damaged = self.damaged_files(key)
            rows.append(
                ModelStatus(
                    key=key,
                    kind="model",
                    path=folder,
                    present=not missing,
                    size_bytes=folder_size(folder),
                    licence=entry.licence,
                    description=self._description(key) if not missing else entry.description,
                    missing=missing,
                    damaged=[f"{path} ({reason})" for path, reason in damaged],
                )
            )
        for folder in self.list_aligner_dirs():
            rows.append(self._aligner_status(folder))
        return rows

    def _description(self, key: str) -> str:
        """The table's description of model ``key``, unless its files say it is another build (the debug
        build, an encoder of other dimensions): then what is there."""
        try:
            debug_parts = _read_json(
                self.root / "debug_build.json", MAX_MODEL_CONFIG_BYTES, "debug build record"
            )
            parts = debug_parts.get("parts", {})  # kind or key -> folder
            debug = key in parts or key in parts.values()
        except (OSError, ValueError, AttributeError):
            debug = False
        kind = next((k for k, entry in ENCODER_ENTRIES.items() if entry == key), None)
        spec = self.encoder_spec(kind) if kind is not None else None
        if spec is not None and spec != FULL_SIZE_ENCODERS[kind]:
            what = f"{kind} image encoder {spec.name} ({spec.dim}-d, as its config.json records), not {FULL_SIZE_ENCODERS[kind].name}"
        elif debug and kind is None:
            lm_dim = self.language_model_dim(key)
            what = "tiny AudioLDM2 of the real layout" + (f" (GPT-2 {lm_dim}-d)" if lm_dim else "")
        else:
            return self.entries[key].description
        return f"debug build, random weights: {what}" if debug else what

    def _aligner_status(self, folder: Path) -> ModelStatus:
        linked = os.readlink(folder) if folder.is_symlink() else None
        try:
            document = read_aligner_config(folder)
            config = document["config"]
            encoder = document.get("encoder", {})
            metadata = document.get("metadata", {})
            description = (
                f"aligner for {encoder.get('name')} ({encoder.get('dim')}-d) -> {config.get('n_tokens')} x "
                f"{config.get('lm_dim')}-d tokens, profile {document.get('conditioning_profile', 'art2mus-music')}, "
                f"origin: {metadata.get('origin', 'trained locally')}, "
                f"aligner file format {document.get('format_version')}"
            )
            licence = str(metadata.get("licence", "see the aligner's training data"))
            trained_for = str(config.get("encoder_name") or "")
            kind = next((k for k in FULL_SIZE_ENCODERS if trained_for.startswith(k)), None)
            problem = self.aligner_problem(folder, kind) if kind is not None else None
            if problem:  # its files are present, but it would not play with this directory's models
                description += f"; CANNOT PLAY HERE: {problem}"
        except (OSError, ValueError, AttributeError) as exc:
            description, licence = f"unreadable config.json: {exc}", "unknown"
        if folder.name == DEFAULT_ALIGNER:
            description = f"the default aligner{f' (a link to {linked})' if linked else ''}: {description}"
        missing = [] if (folder / ALIGNER_WEIGHTS_FILE).is_file() else [ALIGNER_WEIGHTS_FILE]
        return ModelStatus(
            key=f"aligners/{folder.name}",
            kind="aligner",
            path=folder,
            present=not missing,
            size_bytes=0 if linked else folder_size(folder),  # a link's files are counted at its target
            licence=licence,
            description=description,
            missing=missing,
        )

    # --- pulling --------------------------------------------------------------------------------------
    def pull(
        self,
        keys: Sequence[str] | None = None,
        force: bool = False,
        progress: ProgressFn | None = None,
        report: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Download the models ``keys`` (default all) that are not installed yet, or whose files are damaged
        (:meth:`damaged_files`: a truncated copy); returns the keys fetched.

        Hugging Face repositories go through ``hub.snapshot_download`` (resumable, with progress bars); a
        URL model is written via a ``.part`` file, calling ``progress(done_bytes, total_bytes)``.

        Raises:
            KeyError: an unknown key (the message lists the known ones).
        """
        say = report or logger.info
        wanted = list(self.entries) + list(V1_ALIGNERS) if not keys else list(keys)
        for key in wanted:
            if key not in V1_ALIGNERS:
                self.path(key)  # validates the key before anything is downloaded
        v1_wanted = [k for k in wanted if k in V1_ALIGNERS]
        wanted = [k for k in wanted if k not in V1_ALIGNERS]
        fetched = []
        # what each present model has damaged (read once: headers and sizes): fetched again like a missing one
        damaged = {k: self.damaged_files(k) for k in wanted if self.is_present(k)}
        needs_hub = any(
            self.entries[k].source.repo_id is not None and (force or damaged.get(k, True)) for k in wanted
        )
        check = getattr(self.hub, "check_reachable", None)
        if needs_hub and check is not None:
            try:
                check()
            except HubUnreachableError as exc:
                raise HubUnreachableError(offline_message(f"the model hub {exc}", self.root)) from exc
        for key in wanted:
            entry = self.entries[key]
            folder = self.path(key)
            broken = damaged.get(key)
            if broken == [] and not force:
                say(f"{key}: already present in {folder}")
                continue
            folder.mkdir(parents=True, exist_ok=True)
            if broken:
                files = "; ".join(f"{path.relative_to(folder)} is damaged: {why}" for path, why in broken)
                say(f"{key}: {files}; downloading it again into {folder}")
            else:
                say(f"{key}: downloading ({entry.licence}) into {folder}")
            if entry.source.repo_id is not None:
                if entry.source.allow_patterns is not None:
                    patterns = list(entry.source.allow_patterns)
                else:
                    patterns = select_repo_files(self.hub.list_repo_files(entry.source.repo_id))
                # huggingface_hub keeps resume metadata in folder/.cache: a re-run only fetches what changed
                self.hub.snapshot_download(
                    entry.source.repo_id, str(folder), patterns, force_download=force or bool(broken)
                )
            elif entry.source.url is not None:
                import urllib.error

                try:
                    self.fetch(
                        entry.source.url,
                        folder / (entry.source.filename or entry.source.url.rsplit("/", 1)[-1]),
                        progress,
                    )
                except urllib.error.URLError as exc:
                    host = entry.source.url.split("/")[2]
                    raise HubUnreachableError(offline_message(f"{host} ({exc.reason})", self.root)) from exc
            missing = self.missing_files(key)
            if missing:
                raise RuntimeError(
                    f"{key}: download finished but {', '.join(missing)} is still missing in {folder}"
                )
            still = self.damaged_files(key)
            if still:
                path, why = still[0]
                raise RuntimeError(f"{key}: download finished but {path} is still damaged: {why}")
            say(f"{key}: {format_size(folder_size(folder))} in {folder}")
            fetched.append(key)
        for key in v1_wanted:
            if self.pull_v1_aligner(key, force=force, progress=progress, report=say):
                fetched.append(key)
        if v1_wanted:
            self.link_default_v1_aligner(say)
        return fetched

    def link_default_v1_aligner(self, report: Callable[[str], None] | None = None) -> bool:
        """Link ``aligners/default`` to :data:`DEFAULT_V1_ALIGNER`; ``True`` if it did.

        Both v1 aligners fit ImageBind, so without a default an art2mus generator that names no aligner
        could not choose and played its fallback. The 4-token one is chosen because 4 tokens is what
        ``art2mus train`` makes by default. Nothing is done when ``default`` exists (a choice already made)
        or when another ImageBind aligner is installed: a pull must not change which aligner plays.
        """
        say = report or logger.info
        link, target = self.aligners_dir / DEFAULT_ALIGNER, self.aligners_dir / DEFAULT_V1_ALIGNER
        if link.exists() or link.is_symlink() or not (target / ALIGNER_CONFIG_FILE).is_file():
            return False
        others = [
            p.name for p in self.aligners_for(FULL_SIZE_ENCODERS["imagebind"]) if p.name not in V1_ALIGNERS
        ]
        if others:
            say(
                f"{link} not made: {', '.join(others)} also fit ImageBind; an art2mus generator names its "
                f"aligner (`aligner:`), or link one as {link}"
            )
            return False
        link.symlink_to(DEFAULT_V1_ALIGNER, target_is_directory=True)
        say(
            f"aligners/default -> {DEFAULT_V1_ALIGNER}: the aligner an art2mus generator without `aligner:` plays "
            "with ImageBind (replace the link to choose another)"
        )
        return True

    def pull_v1_aligner(
        self,
        key: str,
        force: bool = False,
        progress: ProgressFn | None = None,
        report: Callable[[str], None] | None = None,
    ) -> bool:
        """Download the authors' v1 aligner ``key`` and import it into ``aligners/<key>``; ``True`` if done.

        The ``.pt`` is kept in ``downloads/v1/``; its sha256 is recorded in ``downloads/v1/SHA256SUMS`` on
        the first download, and a later download with other bytes is refused (the file changed upstream or
        in transit).

        Raises:
            ValueError: the download differs from the recorded sha256, or is not a v1 state dict.
        """
        import urllib.error

        from art2mus.models.aligner import file_sha256, import_v1_aligner

        say = report or logger.info
        spec = V1_ALIGNERS[key]
        target = self.aligners_dir / key
        if (target / "config.json").is_file() and not force:
            say(f"{key}: already present in {target}")
            return False
        downloads = self.root / "downloads" / "v1"
        pt = downloads / spec.url.rsplit("/", 1)[-1]
        say(f"{key}: downloading {spec.url} ({V1_LICENCE})")
        try:
            self.fetch(spec.url, pt, progress)
        except urllib.error.URLError as exc:
            raise HubUnreachableError(offline_message(f"github.com ({exc.reason})", self.root)) from exc
        sums_file = downloads / "SHA256SUMS"
        sums = {}
        if sums_file.is_file():
            for line in sums_file.read_text(encoding="utf-8").splitlines():
                digest, _, name = line.partition("  ")
                if name:
                    sums[name] = digest
        digest = file_sha256(pt)
        recorded = sums.get(pt.name)
        if recorded is None:
            sums[pt.name] = digest
            sums_file.write_text("".join(f"{d}  {n}\n" for n, d in sorted(sums.items())), encoding="utf-8")
            say(f"{key}: sha256 {digest} recorded in {sums_file}")
        elif recorded != digest:
            raise ValueError(
                f"{pt}: sha256 {digest} differs from {recorded} recorded in {sums_file} at the first download; "
                "the file changed upstream or was damaged (delete the line to accept the new file)"
            )
        import_v1_aligner(
            pt,
            target,
            encoder_name=FULL_SIZE_ENCODERS["imagebind"].name,
            embedding_dim=FULL_SIZE_ENCODERS["imagebind"].dim,
            metadata={
                "origin": f"Art2Mus v1 ({spec.url})",
                "licence": V1_LICENCE,
                "description": spec.description,
            },
        )
        say(f"{key}: imported into {target} (profile art2mus-v1)")
        return True
