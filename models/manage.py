"""Managing the local model directory: what it holds, pulling it, importing v1 aligners, exporting ONNX.

The library side of ``art2mus models`` (the commands are a few lines over these). Importing this module
does not import torch; the import and export steps load it when they run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from art2mus.models.encoders.base import EncoderSpec
from art2mus.models.model_dir import (
    FULL_SIZE_ENCODERS,
    RUN_ALIGNER_FOLDERS,
    V1_ALIGNERS,
    V1_LICENCE,
    HubUnreachableError,
    ModelDir,
    default_model_dir,
    format_size,
)

Report = Callable[[str], Any]


class DownloadError(OSError):
    """A download that started and failed (a network error mid-file, a full disk); the message says which."""


def open_model_dir(path: Path | None, factory: Callable[[Path], ModelDir] = ModelDir) -> ModelDir:
    """The model directory at ``path`` (default: :func:`~art2mus.models.model_dir.default_model_dir`),
    made by ``factory`` (tests hand in one with a fake downloader)."""
    return factory(path if path is not None else default_model_dir())


def check_aligner_name(name: str) -> str:
    """``name`` if it is a plain folder name (an aligner's under ``aligners/``); ``ValueError`` otherwise."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"{name!r} must be a plain folder name")
    return name


def os_error_message(exc: OSError, mdir: ModelDir) -> str:
    """One sentence for an ``OSError`` of ``import-v1`` or ``export-onnx`` (they printed a traceback): a
    folder of the model directory this user may not write (read-only, another owner) is named, with what
    to do; any other error names its file."""
    reason = (exc.strerror or str(exc)).lower()
    if exc.filename is None:
        return f"{mdir.root}: {reason}"
    path = Path(exc.filename)
    if isinstance(exc, PermissionError) and (path == mdir.root or mdir.root in path.parents):
        while not path.exists() and path != path.parent:  # the folder it would have been made in
            path = path.parent
        return f"{path}: cannot write here ({reason}); run as the folder's owner or give another --model-dir"
    return f"{path}: {reason}"


def status_document(mdir: ModelDir) -> dict[str, Any]:
    """``models list --json``: the directory and one object per model and aligner."""
    return {"model_dir": str(mdir.root), "models": [row.as_dict() for row in mdir.status()]}


def status_lines(mdir: ModelDir) -> list[str]:
    """``models list``: each model and aligner (present, missing or damaged, size, licence, what is missing
    or damaged) and, when a model is missing or damaged, the command that fetches it."""
    rows = mdir.status()
    lines = [f"model directory: {mdir.root}"]
    name_w = max(len(r.key) for r in rows)
    for row in rows:
        state = "MISSING" if not row.present else "DAMAGED" if row.damaged else "present"
        size = format_size(row.size_bytes) if row.size_bytes else "-"
        lines.append(f"  {row.key:<{name_w}}  {state:<7}  {size:>10}  {row.licence}")
        lines.append(f"  {'':<{name_w}}  {row.description}")
        if row.missing and row.size_bytes:
            lines.append(f"  {'':<{name_w}}  incomplete, missing: {', '.join(row.missing)}")
        for damaged in row.damaged:
            lines.append(f"  {'':<{name_w}}  damaged or incomplete: {damaged}")
    missing = [r.key for r in rows if r.kind == "model" and not r.present]
    if missing:
        lines.append(
            f"missing: {', '.join(missing)}; on a connected machine run: art2mus models pull --model-dir {mdir.root}"
        )
    damaged = [r.key for r in rows if r.kind == "model" and r.present and r.damaged]
    if damaged:
        lines.append(
            f"damaged: {', '.join(damaged)}; copy them again, or on a connected machine run: art2mus models pull "
            f"--model-dir {mdir.root} --force --only {' --only '.join(damaged)}"
        )
    return lines


def pull_models(mdir: ModelDir, only: Iterable[str], force: bool, report: Report) -> list[str]:
    """Download ``only`` (default: every model and both v1 aligners) with a progress bar on stderr;
    ``report`` gets each licence and what happens. Returns the keys downloaded.

    Raises :class:`~art2mus.models.model_dir.HubUnreachableError` when the hub cannot be reached,
    :class:`DownloadError` when a download fails on the way, ``ValueError`` for an unknown key."""
    from tqdm import tqdm

    keys = list(only) or [*mdir.entries, *V1_ALIGNERS]
    for key in keys:
        report(f"{key}: licence {V1_LICENCE if key in V1_ALIGNERS else mdir.entries[key].licence}")
    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int | None) -> None:
        bar = bars.get("url")
        if bar is None:
            bar = bars["url"] = tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr
            )
        bar.update(done - bar.n)

    try:
        return mdir.pull(keys, force=force, progress=progress, report=report)
    except HubUnreachableError:
        raise
    except OSError as exc:
        raise DownloadError(f"download failed: {exc}") from exc
    finally:
        for bar in bars.values():
            bar.close()


def v1_encoder(mdir: ModelDir, encoder: str) -> tuple[str, EncoderSpec]:
    """The encoder kind and embedding space ``import-v1 --encoder`` names: ``imagebind`` or ``clip`` (the
    model directory's encoder of that kind, else the full-size one ``pull`` fetches), or the name of one of
    those spaces (``imagebind_huge``, ``clip-vit-large-patch14``, an installed build's: ``imagebind_debug``...).

    Raises ``ValueError`` naming the accepted values."""
    choices: dict[str, tuple[str, EncoderSpec]] = {}
    for kind, full_size in FULL_SIZE_ENCODERS.items():
        here = mdir.encoder_spec(kind)
        choices[kind] = (kind, here or full_size)
        for spec in (full_size, here):
            if spec is not None:
                choices.setdefault(spec.name, (kind, spec))
    if encoder not in choices:
        raise ValueError(
            f"--encoder {encoder!r} is not an encoder of {mdir.describe()}: expected one of {', '.join(choices)}"
        )
    return choices[encoder]


#: keys of a training checkpoint that may hold the v1 state dict (``*state_dict`` too), unwrapped by
#: :func:`import_v1`: v1's training script saved the bare state dict, later scripts wrap it with the epoch
V1_WRAPPER_KEYS = ("state_dict", "model")
#: :class:`~art2mus.models.aligner.ImageAligner`'s most tokens, for the widths an ``--lm-dim`` hint may name
MAX_ALIGNER_TOKENS = 64


def v1_wrapped_entry(checkpoint: Path) -> tuple[str, dict[str, Any]] | None:
    """The entry of a training checkpoint (``{'model_state_dict': ..., 'epoch': 3}``) that holds a v1 state
    dict, and that state dict; None for anything else (a bare state dict, a file torch cannot read, two
    such entries), which :func:`~art2mus.models.aligner.read_v1_checkpoint` then reports.

    Read with ``weights_only=True`` (no code runs), and only below the importer's size limit."""
    import torch

    from art2mus.models.aligner import MAX_V1_CHECKPOINT_BYTES, V1_KEYS

    try:
        if checkpoint.stat().st_size > MAX_V1_CHECKPOINT_BYTES:
            return None
        document = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception:  # torch raises RuntimeError, EOFError, UnpicklingError...; the importer words them
        return None
    if not isinstance(document, dict) or set(document) == set(V1_KEYS):
        return None
    entries = [
        (key, value)
        for key, value in document.items()
        if isinstance(key, str)
        and (key.endswith("state_dict") or key in V1_WRAPPER_KEYS)
        and isinstance(value, dict)
        and set(value) == set(V1_KEYS)
    ]
    return entries[0] if len(entries) == 1 else None


def import_v1(
    mdir: ModelDir, checkpoint: Path, name: str, encoder: str, lm_dim: int | None, force: bool
) -> Path:
    """Convert a v1 image-projection state dict into ``aligners/<name>`` (profile ``art2mus-v1``), for the
    encoder ``encoder`` (see :func:`v1_encoder`) and GPT-2 width ``lm_dim`` (None: read from the checkpoint,
    half of ``projection1``'s outputs as in v1's layout). A training checkpoint that wraps the state dict in
    one ``*state_dict``, ``state_dict`` or ``model`` entry (beside ``epoch``, an optimizer's state...) is
    unwrapped (:func:`v1_wrapped_entry`); it was refused as ``got keys ['epoch', 'model_state_dict']``.

    A checkpoint that would not play in this model directory is refused (a 1024-d one beside a debug
    ImageBind, 768-d tokens beside a 24-d GPT-2): it was imported without a word, listed as present, and
    failed only when a soundscape was rendered. One sentence names every mismatch, and suggests
    ``--lm-dim`` only where the width read from the checkpoint may be wrong (its embeddings fit here and
    this GPT-2's width splits its outputs into whole tokens). ``force`` imports it anyway, and replaces an
    existing aligner of that name; a checkpoint for the full-size encoder's embeddings is then recorded under
    the full-size encoder's name (it was recorded under the debug one's, and ``models list`` contradicted
    itself).

    Raises ``FileExistsError`` when that aligner exists and ``force`` is off, ``FileNotFoundError`` and
    ``ValueError`` (:class:`~art2mus.models.aligner.AlignerMismatchError` included) for a missing,
    unreadable or unfitting checkpoint.
    """
    import tempfile

    import torch

    from art2mus.models.aligner import AlignerMismatchError, file_sha256

    kind, spec = v1_encoder(mdir, encoder)
    target = mdir.aligners_dir / name
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists; choose another --name or pass --force")
    wrapped = v1_wrapped_entry(checkpoint) if checkpoint.is_file() else None
    if wrapped is None:
        return _import_v1_state(mdir, checkpoint, target, kind, spec, encoder, lm_dim, force, {})
    entry, state = wrapped
    # the importer reads a file: the unwrapped state dict goes to one of the same name, and errors about it
    # name the checkpoint's entry; the aligner records the checkpoint's own name and digest
    with tempfile.TemporaryDirectory(prefix="art2mus-v1-") as scratch:
        unwrapped = Path(scratch) / checkpoint.name
        torch.save(state, unwrapped)
        metadata = {
            "origin": f"Art2Mus v1 checkpoint {checkpoint.name} (its {entry!r} entry)",
            "source_sha256": file_sha256(checkpoint),
        }
        try:
            return _import_v1_state(mdir, unwrapped, target, kind, spec, encoder, lm_dim, force, metadata)
        except ValueError as exc:  # AlignerMismatchError too
            message = str(exc).replace(str(unwrapped), f"{checkpoint} ({entry!r} entry)")
            kind_of_error = AlignerMismatchError if isinstance(exc, AlignerMismatchError) else ValueError
            raise kind_of_error(message) from exc


def _import_v1_state(
    mdir: ModelDir,
    checkpoint: Path,
    target: Path,
    kind: str,
    spec: EncoderSpec,
    encoder: str,
    lm_dim: int | None,
    force: bool,
    metadata: dict[str, Any],
) -> Path:
    """:func:`import_v1` for a file that holds the bare v1 state dict; ``metadata`` goes into the aligner."""
    from art2mus.models.aligner import (
        AlignerMismatchError,
        import_v1_aligner,
        read_v1_checkpoint,
        v1_token_width,
    )

    state = read_v1_checkpoint(checkpoint)  # before any complaint about its dimensions
    tokens = lm_dim if lm_dim is not None else v1_token_width(state)
    embeddings = int(state["projection1.weight"].shape[1])
    if not force:
        problems = _v1_mismatches(mdir, state, kind, spec, encoder, lm_dim, tokens)
        if problems:
            raise AlignerMismatchError(f"{checkpoint} could not play in {mdir.describe()}: {problems}")
    if force and embeddings != spec.dim and FULL_SIZE_ENCODERS[kind].dim == embeddings:
        spec = FULL_SIZE_ENCODERS[kind]  # made for the full-size encoder, not this directory's debug build
    try:
        return import_v1_aligner(
            checkpoint,
            target,
            encoder_name=spec.name,
            lm_dim=tokens,
            embedding_dim=None if force else spec.dim,
            metadata={"licence": V1_LICENCE, **metadata},
            lm_dim_name="--lm-dim",
        )
    except AlignerMismatchError as exc:
        raise AlignerMismatchError(f"{exc} (--force imports it anyway)") from exc


def _v1_mismatches(
    mdir: ModelDir,
    state: dict[str, Any],
    kind: str,
    spec: EncoderSpec,
    encoder: str,
    lm_dim: int | None,
    tokens: int | None,
) -> str:
    """Every way a v1 state dict does not fit the model directory's GPT-2 and encoder, as the end of one
    sentence (what to do in brackets); empty when it fits."""
    from art2mus.models.profiles import get_profile

    base = get_profile("art2mus-v1").base_model
    installed = mdir.language_model_dim(base)
    here = mdir.encoder_spec(kind)
    embeddings = int(state["projection1.weight"].shape[1])
    outputs = int(state["projection2.weight"].shape[0])
    clauses = []
    if installed is not None and tokens is not None and installed != tokens:
        said = f"--lm-dim {lm_dim}" if lm_dim is not None else "read from projection1"
        clauses.append(f"makes {tokens}-d tokens ({said}) where the GPT-2 of {base} takes {installed}-d")
    fits = here or spec
    if embeddings != fits.dim:
        clauses.append(
            f"takes {embeddings}-d embeddings (projection1's inputs) where the {kind} encoder {fits.name!r} "
            f"gives {fits.dim}-d"
        )
    if here is not None and here != spec:
        clauses.append(
            f"is for {spec.name!r} (--encoder {encoder}) where the {kind} encoder is {here.name!r}"
        )
    if not clauses:
        return ""
    # a width read from v1's layout (hidden = 2 x width) is a guess only where nothing else disagrees
    width_only = len(clauses) == 1 and clauses[0].startswith("makes ")
    if width_only and outputs % installed == 0 and outputs // installed <= MAX_ALIGNER_TOKENS:
        hint = f"set --lm-dim {installed} if the checkpoint was made for it; --force imports it anyway"
    else:
        hint = "--force imports it anyway"
    return f"it {', and it '.join(clauses)} ({hint})"


@dataclass(frozen=True)
class DebugBuild:
    """What :func:`build_debug_models` did: the model directory, the parts it wrote (model-directory keys
    such as ``imagebind`` and ``aligners/debug-imagebind-4tok``) and what it found there and kept
    (``notes.txt``, ``aligners/v1dbg/``: imported or trained aligners, anything else, untouched)."""

    mdir: ModelDir
    written: tuple[str, ...]
    kept: tuple[str, ...]


def build_debug_models(path: Path, seed: int = 0) -> DebugBuild:
    """Write a debug model directory at ``path`` (:func:`~art2mus.models.debug.build_debug_model_dir`: tiny
    random-weight builds of every network from local configs, no hub), for trying camera -> embedding ->
    music -> speaker on a machine without weights. Its sound is not worth hearing.

    A folder that holds anything but an earlier debug build is refused (``FileExistsError``): the build
    writes ``audioldm2-music/``, ``imagebind/``... and would overwrite real weights there. Over an earlier
    build the debug parts are written again and everything else there is kept, and named in
    :attr:`DebugBuild.kept`. ``ValueError`` for a path that is a file.
    """
    from art2mus.models.debug import DEBUG_BUILD_RECORD, build_debug_model_dir

    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder")
    if path.is_dir() and not (path / DEBUG_BUILD_RECORD).is_file() and any(path.iterdir()):
        raise FileExistsError(
            f"{path} holds files and is not a debug build: a debug build would overwrite any model there; "
            "give a new or empty folder"
        )
    from transformers.utils import logging as transformers_logging

    # transformers draws a progress bar for each tiny part it saves and loads: a screenful of noise here
    bars_were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        build_debug_model_dir(path, seed=seed)
    finally:
        if bars_were_on:
            transformers_logging.enable_progress_bar()
    parts = json.loads((path / DEBUG_BUILD_RECORD).read_text(encoding="utf-8"))["parts"]
    # the record maps each part to its folder; a part of its own name that is a link (audioldm2) is written too
    written = set(parts.values()) | {key for key in parts if (path / key).is_symlink()}
    ours = written | {DEBUG_BUILD_RECORD, "aligners"}

    def shown(entry: Path, key: str) -> str:
        return f"{key}/" if entry.is_dir() else key

    kept = [shown(entry, entry.name) for entry in sorted(path.iterdir()) if entry.name not in ours]
    if (path / "aligners").is_dir():
        kept += [
            shown(entry, f"aligners/{entry.name}")
            for entry in sorted((path / "aligners").iterdir())
            if f"aligners/{entry.name}" not in written
        ]
    return DebugBuild(ModelDir(path), tuple(sorted(written)), tuple(kept))


def export_onnx(
    mdir: ModelDir,
    encoder: str,
    encoder_path: Path | None,
    aligner: str | None,
    out_dir: Path | None,
    report: Report,
    force: bool = False,
) -> Path:
    """Export the model directory's ``encoder`` (and ``aligner``, when named) to ONNX, checked in onnxruntime
    against torch; returns the output folder (default ``MODEL_DIR/onnx/<encoder>[-<aligner>]``, where a
    training run's ``best``/``last`` folder is named with its run: ``imagebind_debug-a-best``).

    ``encoder.json`` records the aligner's folder, weights sha256 and conditioning profile. An output folder
    that holds an export of another aligner (or of none, or one with an aligner where none is asked) is
    refused unless ``force``: every ``train`` run's aligner is a folder named ``best``, and the second export
    replaced the first without a word.

    Raises ``FileExistsError`` for that, ``FileNotFoundError``, ``ValueError`` (an
    :class:`~art2mus.models.encoders.EncoderLoadError` included) for weights that cannot be loaded, and
    ``RuntimeError`` when the export does not match.
    """
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.encoders.onnx import export_onnx_encoder
    from art2mus.models.model_dir import aligner_identity

    weights = encoder_path if encoder_path is not None else mdir.encoder_path(encoder)
    torch_encoder = load_image_encoder(encoder, weights, device="cpu")
    aligner_module = aligner_dir = record = None
    if aligner is not None:
        aligner_dir = mdir.resolve_aligner(aligner).absolute()
        aligner_module = ImageAligner.load(aligner_dir, encoder_spec=torch_encoder.spec)
        record = {"source": str(aligner_dir), **aligner_identity(aligner_dir)}
    label = None if aligner_dir is None else aligner_label(aligner_dir)
    if out_dir is None:
        out_dir = mdir.root / "onnx" / (torch_encoder.spec.name + (f"-{label}" if label else ""))
    if not force:
        clash = export_clash(out_dir, record)
        if clash:
            raise FileExistsError(f"{out_dir} {clash}; give another --out, or --force to replace it")
    report(
        f"exporting {torch_encoder.spec.name} (dim {torch_encoder.spec.dim})"
        + (f" with aligner {aligner_dir} (sha256 {record['weights_sha256'][:12]})" if record else "")
        + f" to {out_dir} ..."
    )
    export_onnx_encoder(torch_encoder, out_dir, aligner=aligner_module, aligner_record=record)
    return out_dir


def aligner_label(folder: Path) -> str:
    """The aligner's part of an export's default name: its folder's name, with the run's folder before a
    training run's ``best`` or ``last`` (``a-best``)."""
    if folder.name in RUN_ALIGNER_FOLDERS and folder.parent.name:
        return f"{folder.parent.name}-{folder.name}"
    return folder.name


def export_clash(out_dir: Path, record: dict[str, Any] | None) -> str:
    """Why exporting with the aligner ``record`` (None: no aligner) into ``out_dir`` would replace another
    export, as the end of a sentence starting with the folder; empty when it would not (no export there, or
    one of the same aligner weights)."""
    from art2mus.models.encoders.onnx import METADATA_FILE, graph_aligner

    if not (out_dir / METADATA_FILE).is_file():
        return ""
    there = graph_aligner(out_dir)
    if record is None:
        return (
            ""
            if there is None
            else f"holds an export with aligner {_described(there)}, and this one has none"
        )
    if there is None:
        return "holds an export made before exports recorded their aligner (which one it carries is unknown)"
    if there["weights_sha256"] == record["weights_sha256"]:
        return ""
    return f"holds an export of another aligner: {_described(there)} (this one: {_described(record)})"


def _described(record: dict[str, Any]) -> str:
    return f"{record.get('source')} (sha256 {str(record.get('weights_sha256'))[:12]})"
