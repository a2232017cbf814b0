"""Health checks of a machine for an installation: sound card, camera, GPU, model weights, cache, port.

Each :class:`Check` ends ``ok``, ``warn`` (the room will run, but not as configured: e.g. a missing GPU
model whose fallback will play), ``fail`` (it will not run as intended: no sound card for a PortAudio
output, a camera that gives no frame, an unwritable cache) or ``skip`` (not checked: the exhibit section
it reads has problems). :func:`check_exhibit` runs them all for one exhibit file, an invalid one included
(each check whose sections parsed still runs); ``art2mus doctor`` prints them. Calls that can hang on a
broken device (OpenCV, PortAudio) run with a time limit.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
#: an invalid exhibit's problems shown by ``doctor`` (``art2mus validate`` lists them all)
SHOWN_PROBLEMS = 5
#: encoder -> the model-directory entries it loads (the ONNX export carries its own weights)
ENCODER_MODELS = {"imagebind": ("imagebind",), "clip": ("clip-vit-large-patch14",), "onnx": ()}


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``status`` is ``ok``, ``warn``, ``fail`` or ``skip``; ``detail`` one sentence;
    ``problems`` what it found wrong, one line each (an invalid exhibit's ``file:line:col field: msg``)."""

    name: str
    status: str
    detail: str
    problems: tuple[str, ...] = ()


def _with_timeout(fn: Callable[[], Any], seconds: float) -> tuple[bool, Any]:
    """``(finished, result or exception)``: OpenCV and PortAudio calls can hang on broken devices."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - reported as the check's result
            box["value"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive()), box.get("value")


def check_audio(config: Any) -> Check:
    output = config.audio.output
    if output.type != "pyaudio":
        return Check("audio", OK, f"output type {output.type!r} needs no sound card")
    from art2mus.installation.audio.portaudio import (
        find_output_device,
        list_output_devices,
        quiet_native_audio_logs,
    )

    def probe() -> tuple[list[tuple[int, str]], str]:
        import pyaudio

        quiet_native_audio_logs()
        pa = pyaudio.PyAudio()
        try:
            return list_output_devices(pa), find_output_device(pa, output.device)[1]
        finally:
            pa.terminate()

    finished, value = _with_timeout(probe, 10.0)
    if not finished:
        return Check("audio", FAIL, "PortAudio did not answer within 10 s (a stuck sound card?)")
    if isinstance(value, Exception):
        return Check("audio", FAIL, f"{value} (art2mus demo would write a WAV file instead)")
    devices, name = value
    return Check("audio", OK, f"output device {output.device!r} is {name!r} ({len(devices)} output devices)")


def check_camera(config: Any) -> Check:
    from art2mus.installation.vision.grabber import BLACK_BELOW, picture_signature
    from art2mus.installation.vision.sources import camera_source_from_config

    camera = config.camera
    if camera.type == "video":
        camera = camera.model_copy(update={"realtime": False})
    source = camera_source_from_config(camera)

    def grab() -> tuple[int, int, float]:
        stream = source.open()
        try:
            frame = stream.read()
            return frame.image.shape[1], frame.image.shape[0], picture_signature(frame.image)[1]
        finally:
            stream.close()

    finished, value = _with_timeout(grab, 15.0)
    if not finished:
        return Check("camera", FAIL, f"{source.name}: no frame within 15 s")
    if isinstance(value, Exception):
        said = str(value)  # a CameraError names the camera already
        return Check("camera", FAIL, said if said.startswith(f"{source.name}:") else f"{source.name}: {said}")
    width, height, brightness = value
    if brightness < BLACK_BELOW:  # the running daemon says so only while open: here, nobody knows the hour
        return Check(
            "camera",
            WARN,
            f"{source.name}: a {width}x{height} frame, black (mean {brightness:.0f}/255): the lens covered, "
            "or the room dark?",
        )
    return Check("camera", OK, f"{source.name}: a {width}x{height} frame")


def check_gpu(config: Any) -> Check:
    wanted = [
        name for name, g in config.generators.items() if g.type == "art2mus" and g.device.startswith("cuda")
    ]
    try:
        import torch
    except ImportError:
        status = WARN if wanted else OK
        return Check(
            "gpu",
            status,
            "torch is not installed (./bootstrap --model)"
            + (f"; generators {', '.join(wanted)} will fall back" if wanted else ""),
        )
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Check(
            "gpu", OK, f"{props.name}, {props.total_memory / 2**30:.1f} GiB, torch {torch.__version__}"
        )
    # device: auto runs on the CPU here: minutes per soundscape, with nothing said (v1: 200 steps x 3)
    used = {a.soundscape.generator for a in config.artworks if a.audio is None} | {config.unseen.generator}
    on_cpu = [
        name
        for name, g in config.generators.items()
        if g.type == "art2mus" and g.device == "auto" and name in used
    ]
    notes = [f"generators {', '.join(wanted)} need one and will fall back"] if wanted else []
    if on_cpu:
        notes.append(
            f"generator{'s' if len(on_cpu) > 1 else ''} {', '.join(on_cpu)} (device: auto) will generate on "
            "the CPU (slow: minutes per soundscape); set device: cpu to confirm, or install a GPU"
        )
    return Check(
        "gpu", WARN if notes else OK, f"no CUDA device (torch {torch.__version__})" + "".join(f"; {n}" for n in notes)
    )


def check_models(config: Any) -> list[Check]:
    from art2mus.models.model_dir import ModelDir

    checks = []
    for name, generator in config.generators.items():
        if generator.type != "art2mus":
            continue
        choice = generator.model_dir_choice()
        model_dir = ModelDir(choice.path, origin=choice.origin)
        from art2mus.models.art2mus_generator import base_model_key

        needed = [base_model_key(generator.settings()), *ENCODER_MODELS.get(generator.encoder, ())]
        missing = [key for key in needed if not model_dir.is_present(key)]
        if missing:
            checks.append(
                Check(
                    f"models:{name}",
                    WARN,
                    f"{model_dir.describe()} lacks {', '.join(missing)}; "
                    f"its fallback {generator.fallback!r} will play (art2mus models pull)",
                )
            )
        elif damaged := [report for key in needed if (report := model_dir.damage_report(key)) is not None]:
            # headers and sizes only: a truncated copy passed here and failed at its first rendering
            checks.append(
                Check(
                    f"models:{name}",
                    WARN,
                    f"{'; '.join(damaged)}; its fallback {generator.fallback!r} will play",
                )
            )
        else:
            checks.append(Check(f"models:{name}", OK, f"{model_dir.describe()} holds what {name!r} needs"))
        folder = generator.aligner if generator.aligner is not None else _default_aligner(model_dir, generator)
        if folder is not None and folder.is_dir():
            check = _aligner_check(name, folder)
            if generator.aligner is None:  # said, since the exhibit names no folder
                which = "the ONNX graph's aligner" if _carried_by_graph(model_dir, generator) else "the default aligner"
                check = Check(check.name, check.status, f"{which} (aligner: unset): {check.detail}")
            checks.append(check)
    return checks


def _default_aligner(model_dir: Any, generator: Any) -> Path | None:
    """The aligner a generator without ``aligner:`` plays (the model directory's default for its encoder),
    or None when it has none to choose (``validate`` names why; the models check says what is missing).
    Beside an ONNX export that carries an aligner, that aligner plays (its graph's tokens): it is checked."""
    try:
        graph = model_dir.graph_aligner(generator.encoder, generator.encoder_path)
    except FileNotFoundError:  # validate names the graph's aligner that is nowhere
        return None
    if graph is not None:
        return graph[1].resolve()
    spec = model_dir.encoder_spec(generator.encoder, generator.encoder_path)
    if spec is None:
        return None
    try:
        return model_dir.default_aligner(spec).resolve()  # the folder aligners/default links to, by name
    except FileNotFoundError:
        return None


def _carried_by_graph(model_dir: Any, generator: Any) -> bool:
    """Whether the aligner that plays comes from the generator's ONNX export (see :func:`_default_aligner`)."""
    try:
        return model_dir.graph_aligner(generator.encoder, generator.encoder_path) is not None
    except FileNotFoundError:
        return False


def _aligner_check(name: str, folder: Path) -> Check:
    """The aligner's weights against the sha256 its config.json records (a damaged copy passed every check
    and failed only when a soundscape was rendered); ``validate`` checks the rest of the folder. One that
    records no sha256 cannot be verified: a warning (doctor said its weights matched)."""
    try:
        from art2mus.models.aligner import ImageAligner, verify_weights

        document = ImageAligner.read_config(folder)
        digest = verify_weights(folder, document)
    except (OSError, ValueError) as exc:
        return Check(f"aligner:{name}", FAIL, f"{exc}")
    if document.get("weights_sha256") is None:
        return Check(
            f"aligner:{name}",
            WARN,
            f"{folder}: no sha256 recorded in its config.json: weights not verified (they hash to "
            f"{digest[:12]}...; saving the aligner again records one)",
        )
    return Check(f"aligner:{name}", OK, f"{folder}: weights match their recorded sha256 ({digest[:12]}...)")


def _not_writable(directory: Path) -> OSError | None:
    """Why a file cannot be written in ``directory`` (created if missing), or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".doctor-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return exc
    return None


def check_cache(config: Any) -> Check:
    directory = Path(config.cache.dir)
    problem = _not_writable(directory)
    if problem is not None:
        return Check("cache", FAIL, f"{directory} is not writable: {problem}")
    free = shutil.disk_usage(directory).free
    status = OK if free > 1e9 else WARN
    return Check("cache", status, f"{directory} writable, {free / 1e9:.1f} GB free")


def check_unseen(config: Any) -> list[Check]:
    """``unseen.dir`` when unseen artworks are on: a crop it refuses is held in memory, so the picture
    plays, but is forgotten at the next start (a new id, a new soundscape). Nothing when they are off."""
    from art2mus.installation.unseen_store import unseen_dir

    if not config.unseen.enabled:
        return []
    directory = unseen_dir(config)
    # a plain file there: mkdir's '[Errno 17] File exists' did not say what to change
    if directory.exists() and not directory.is_dir():
        detail = f"{directory} is a file, not a folder (unseen artworks are forgotten at every start)"
        return [Check("unseen", WARN, detail)]
    problem = _not_writable(directory)
    if problem is not None:
        detail = f"{directory} is not writable: {problem} (unseen artworks are forgotten at every start)"
        return [Check("unseen", WARN, detail)]
    free = shutil.disk_usage(directory).free
    status = OK if free > 50e6 else WARN  # a crop is 20-120 KB: `remember` of them fit in a few MB
    return [Check("unseen", status, f"{directory} writable, {free / 1e9:.1f} GB free")]


def check_panel(config: Any) -> Check:
    panel = config.control_panel
    if not panel.enabled:
        return Check("control panel", OK, "disabled")
    family = socket.AF_INET6 if ":" in panel.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((panel.host, panel.port))
        except OSError as exc:
            return Check(
                "control panel",
                WARN,
                f"{panel.host}:{panel.port} is taken ({exc.strerror}): is the daemon running already?",
            )
    return Check("control panel", OK, f"{panel.host}:{panel.port} is free")


def check_artworks(config: Any) -> Check:
    """Artworks the daemon would leave out: a fixed audio file it cannot play (unreadable, NaN or corrupt
    samples). The room plays the others, so this is a warning."""
    from art2mus.installation.config.files import check_file

    left_out = []
    for artwork in config.artworks:
        if artwork.audio is not None:
            problem = check_file(Path(artwork.audio), "audio")
            if problem is not None:
                left_out.append(f"{artwork.id} ({problem})")
    if left_out:
        return Check("artworks", WARN, f"{len(left_out)} left out, the rest play: {'; '.join(left_out)}")
    return Check("artworks", OK, f"every one of the {len(config.artworks)} artworks can play")


def check_photos(config: Any) -> list[Check]:
    """One check per reference photo problem (``photo:<artwork id>``: fail when the artwork cannot be
    recognised, warn when it will be recognised poorly), or one ``photos`` check saying all are fine."""
    from art2mus.installation.vision.photo_check import ERROR, check_exhibit_photos

    report = check_exhibit_photos(config)
    checks = [
        Check(f"photo:{f.artwork_id}", FAIL if f.severity == ERROR else WARN, f.message) for f in report.findings
    ]
    if not checks:
        low = min((p.keypoints or 0 for p in report.photos), default=0)
        checks.append(Check("photos", OK, f"{len(report.photos)} reference photos, {low}+ keypoints each"))
    return checks


#: each check, the exhibit sections it reads, and how it is run: skipped when one of them has problems
_EXHIBIT_CHECKS: tuple[tuple[str, tuple[str, ...], Callable[[Any], Check | list[Check]]], ...] = (
    ("artworks", ("artworks",), check_artworks),
    ("photos", ("artworks", "recognition"), check_photos),
    ("audio", ("audio",), check_audio),
    ("camera", ("camera",), check_camera),
    ("gpu", ("generators",), check_gpu),
    ("models", ("generators",), check_models),
    ("cache", ("cache",), check_cache),
    ("unseen", ("unseen",), check_unseen),
    ("control panel", ("control_panel",), check_panel),
)


def _exhibit_check(path: Path, config: Any, problems: list[Any]) -> Check:
    """The ``exhibit`` check: its artworks, or its first :data:`SHOWN_PROBLEMS` problems and their count."""
    if config is not None and not problems:
        return Check("exhibit", OK, f"{path}: {len(config.artworks)} artworks")
    count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    if len(problems) > SHOWN_PROBLEMS:
        detail = f"{path}: {count}, the first {SHOWN_PROBLEMS} below (art2mus validate {path} lists them all)"
    else:
        detail = f"{path}: {count} (art2mus validate {path})"
    return Check("exhibit", FAIL, detail, tuple(str(p) for p in problems[:SHOWN_PROBLEMS]))


def _section(field: str) -> str:
    """The top-level section of a problem's field path (``artworks[2].images[0]`` -> ``artworks``)."""
    return field.split(".", 1)[0].split("[", 1)[0]


def parsed_sections(path: Path, problems: list[Any]) -> tuple[Any, set[str]]:
    """An invalid exhibit read with every section that has a problem left at its default, paths made
    absolute as the loader does, and the names of those sections; ``(None, set())`` when the file could
    not be read as YAML at all (a syntax error, an include that is missing)."""
    import pydantic

    from art2mus.installation.config import ExhibitConfig
    from art2mus.installation.config.loader import resolve_config_paths
    from art2mus.installation.config.source import Node, SourceMap, SourceReader

    top = Path(os.path.normpath(Path(path).expanduser().absolute()))
    reader = SourceReader()
    root = reader.read(top)
    if reader.problems or root is None or not isinstance(root.value, dict):
        return None, set()
    bad = {_section(p.field) for p in problems}
    if "" in bad:  # a problem of the whole file
        return None, set()
    for _ in range(len(root.value) + 1):  # each round leaves out at least one more section
        kept = Node({k: v for k, v in root.value.items() if k not in bad}, root.file, root.line, root.col)
        try:
            config = ExhibitConfig.model_validate(kept.to_data())
        except pydantic.ValidationError as err:
            more = {str(e["loc"][0]) for e in err.errors() if e["loc"]} - bad
            if not more:
                return None, set()
            bad |= more
            continue
        resolve_config_paths(config, SourceMap(kept), top.parent)
        config._source_file = top
        return config, bad
    return None, set()


def check_exhibit(path: Path) -> list[Check]:
    """Every check for the exhibit at ``path``. An invalid exhibit fails the ``exhibit`` check with its
    first problems, and each other check still runs when the sections it reads parsed (else it is
    skipped, saying which section).

    A missing or unreadable reference photo does not make the exhibit invalid here (the daemon plays
    the rest): it is one of the photo checks."""
    from art2mus.installation.config import validate_exhibit

    checks = [Check("python", OK, f"{platform.python_version()} on {platform.machine()}")]
    # a bad artwork (fixed audio, reference photo) is left out, not fatal
    config, problems = validate_exhibit(path, audio_may_fail=True, photos_may_fail=True)
    checks.append(_exhibit_check(path, config, problems))
    bad: set[str] = set()
    if config is None or problems:
        config, bad = parsed_sections(path, problems)
    for name, sections, run in _EXHIBIT_CHECKS:
        if config is None:
            checks.append(Check(name, SKIP, "not checked: the exhibit could not be read (above)"))
        elif bad.intersection(sections):
            which = [s for s in sections if s in bad]
            said = f"{' and '.join(which)} section{' has' if len(which) == 1 else 's have'} problems"
            checks.append(Check(name, SKIP, f"not checked: the exhibit's {said} (above)"))
        else:
            found = run(config)
            checks.extend(found if isinstance(found, list) else [found])
    return checks
