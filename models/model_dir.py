"""The local model directory: what Art2Mus needs, what is present, sizes and licences, and ``pull``.

Nothing is downloaded at run time: every model loads from this directory. On a connected machine
``art2mus models pull`` fills it (Hugging Face repositories through ``huggingface_hub``, the ImageBind
checkpoint from its URL), then the folder can be copied to an air-gapped gallery machine::

    MODEL_DIR/
      audioldm2-music/          diffusers layout of cvssp/audioldm2-music (unet, vae, vocoder, text_encoder_2,
                                language_model, projection_model, tokenizers, scheduler, model_index.json)
      imagebind/                imagebind_huge.pth (upstream state dict)
      clip-vit-large-patch14/   transformers layout of openai/clip-vit-large-patch14
      aligners/<name>/          config.json + model.safetensors (see art2mus.models.aligner)

This module imports no torch: the CLI lists models without loading any.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

#: environment variable that overrides the default model directory.
MODEL_DIR_ENV = "ART2MUS_MODEL_DIR"
NON_COMMERCIAL = "CC BY-NC-SA 4.0 (non-commercial use only)"


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


MODEL_ENTRIES: dict[str, ModelEntry] = {
    entry.key: entry
    for entry in (
        ModelEntry(
            key="audioldm2-music",
            description="AudioLDM2-music (UNet, VAE, HiFi-GAN, GPT-2, FLAN-T5, CLAP), ~1.1 B parameters",
            licence=NON_COMMERCIAL,
            source=ModelSource(repo_id="cvssp/audioldm2-music"),
            marker_files=(
                ("model_index.json",),
                ("unet/config.json",),
                ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin"),
                ("language_model/config.json",),
                ("text_encoder_2/config.json",),
                ("vocoder/config.json",),
                ("vae/config.json",),
            ),
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


def default_model_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$ART2MUS_MODEL_DIR``, else ``$XDG_DATA_HOME/art2mus/models`` (``~/.local/share/art2mus/models``)."""
    env = os.environ if environ is None else environ
    if env.get(MODEL_DIR_ENV):
        return Path(env[MODEL_DIR_ENV]).expanduser()
    base = (
        Path(env["XDG_DATA_HOME"]).expanduser()
        if env.get("XDG_DATA_HOME")
        else Path.home() / ".local" / "share"
    )
    return base / "art2mus" / "models"


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
        }


class HubClient(Protocol):
    """The two ``huggingface_hub`` calls ``pull`` makes (a test hands in a fake)."""

    def list_repo_files(self, repo_id: str) -> list[str]: ...

    def snapshot_download(self, repo_id: str, local_dir: str, allow_patterns: list[str]) -> str: ...


class HuggingFaceHubClient:
    """:class:`HubClient` on ``huggingface_hub`` (imported on first use; shows tqdm progress bars)."""

    def list_repo_files(self, repo_id: str) -> list[str]:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(repo_id))

    def snapshot_download(self, repo_id: str, local_dir: str, allow_patterns: list[str]) -> str:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id=repo_id, local_dir=local_dir, allow_patterns=allow_patterns)


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
    """

    def __init__(
        self,
        root: str | Path,
        hub: HubClient | None = None,
        fetch: UrlFetcher | None = None,
        entries: Mapping[str, ModelEntry] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.hub = hub if hub is not None else HuggingFaceHubClient()
        self.fetch = fetch if fetch is not None else fetch_url
        self.entries = dict(MODEL_ENTRIES if entries is None else entries)

    def __repr__(self) -> str:
        return f"ModelDir({str(self.root)!r})"

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

    def require(self, key: str) -> Path:
        """The folder of model ``key``; ``FileNotFoundError`` saying how to get it when it is incomplete."""
        missing = self.missing_files(key)
        if missing:
            raise FileNotFoundError(
                f"model {key!r} is not installed in {self.root} (missing {', '.join(missing)}); on a connected "
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
        """An aligner folder: an existing path, or the name of a folder under ``aligners/``."""
        candidate = Path(name_or_path).expanduser()
        if candidate.exists():
            return candidate.parent if candidate.is_file() else candidate
        named = self.aligners_dir / str(name_or_path)
        if named.is_dir():
            return named
        known = ", ".join(a.name for a in self.list_aligner_dirs()) or "none"
        raise FileNotFoundError(
            f"aligner {str(name_or_path)!r} not found: not a path and not a folder under {self.aligners_dir} "
            f"(installed aligners: {known})"
        )

    def list_aligner_dirs(self) -> list[Path]:
        if not self.aligners_dir.is_dir():
            return []
        return sorted(p for p in self.aligners_dir.iterdir() if (p / "config.json").is_file())

    # --- listing --------------------------------------------------------------------------------------
    def status(self) -> list[ModelStatus]:
        """One :class:`ModelStatus` per model of the table, then one per installed aligner."""
        rows = []
        for key, entry in self.entries.items():
            folder = self.path(key)
            missing = self.missing_files(key)
            rows.append(
                ModelStatus(
                    key=key,
                    kind="model",
                    path=folder,
                    present=not missing,
                    size_bytes=folder_size(folder),
                    licence=entry.licence,
                    description=entry.description,
                    missing=missing,
                )
            )
        for folder in self.list_aligner_dirs():
            rows.append(self._aligner_status(folder))
        return rows

    def _aligner_status(self, folder: Path) -> ModelStatus:
        try:
            document = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            config = document.get("config", {})
            encoder = document.get("encoder", {})
            description = (
                f"aligner for {encoder.get('name')} ({encoder.get('dim')}-d) -> {config.get('n_tokens')} x "
                f"{config.get('lm_dim')}-d tokens, format v{document.get('format_version')}"
            )
            licence = str(document.get("metadata", {}).get("licence", "see the aligner's training data"))
        except (OSError, ValueError, AttributeError) as exc:
            description, licence = f"unreadable config.json: {exc}", "unknown"
        missing = [] if (folder / "model.safetensors").is_file() else ["model.safetensors"]
        return ModelStatus(
            key=f"aligners/{folder.name}",
            kind="aligner",
            path=folder,
            present=not missing,
            size_bytes=folder_size(folder),
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
        """Download the models ``keys`` (default all) that are not installed yet; returns the keys fetched.

        Hugging Face repositories go through ``hub.snapshot_download`` (resumable, with progress bars); a
        URL model is written via a ``.part`` file, calling ``progress(done_bytes, total_bytes)``.

        Raises:
            KeyError: an unknown key (the message lists the known ones).
        """
        say = report or logger.info
        wanted = list(self.entries) if not keys else list(keys)
        for key in wanted:
            self.path(key)  # validates the key before anything is downloaded
        fetched = []
        for key in wanted:
            entry = self.entries[key]
            folder = self.path(key)
            if self.is_present(key) and not force:
                say(f"{key}: already present in {folder}")
                continue
            folder.mkdir(parents=True, exist_ok=True)
            say(f"{key}: downloading ({entry.licence}) into {folder}")
            if entry.source.repo_id is not None:
                if entry.source.allow_patterns is not None:
                    patterns = list(entry.source.allow_patterns)
                else:
                    patterns = select_repo_files(self.hub.list_repo_files(entry.source.repo_id))
                # huggingface_hub keeps resume metadata in folder/.cache: a re-run only fetches what changed
                self.hub.snapshot_download(entry.source.repo_id, str(folder), patterns)
            elif entry.source.url is not None:
                self.fetch(
                    entry.source.url,
                    folder / (entry.source.filename or entry.source.url.rsplit("/", 1)[-1]),
                    progress,
                )
            missing = self.missing_files(key)
            if missing:
                raise RuntimeError(
                    f"{key}: download finished but {', '.join(missing)} is still missing in {folder}"
                )
            say(f"{key}: {format_size(folder_size(folder))} in {folder}")
            fetched.append(key)
        return fetched
