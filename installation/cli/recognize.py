"""``art2mus recognize``: which of an exhibit's artworks do these images, videos or cameras show?"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import time
from pathlib import Path

import click

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".mjpeg", ".wmv"}


def _camera_target(source: str) -> int | str | None:
    """A camera for SOURCE (a device index, a /dev path or a stream URL), or None for a file."""
    if source.isdigit():
        return int(source)
    if source.startswith("camera:") and source[7:].isdigit():
        return int(source[7:])
    if "://" in source or source.startswith("/dev/"):
        return source
    return None


@click.command("recognize")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.option(
    "--realtime", is_flag=True, help="Play videos at their own speed (default: as fast as possible)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds of video between recognitions (default: the exhibit's recognition.interval_seconds).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop watching a camera after this many seconds (default: until Ctrl-C).",
)
def command(
    exhibit: Path,
    sources: tuple[str, ...],
    as_json: bool,
    realtime: bool,
    interval: float | None,
    duration: float | None,
) -> None:
    """Recognise EXHIBIT's artworks in each SOURCE.

    SOURCE is an image (one line: the artwork or "unknown", its score and outline), a video (one line per
    debounced decision change: the time in the video, the artwork or "unknown"/"none", its score) or a
    camera: a device index (0), a device path (/dev/video0) or a stream URL (rtsp://...). Several
    sources may be given; the recognition index is built (or loaded from the exhibit's .art2mus folder)
    once.
    """
    import cv2  # noqa: PLC0415 - keep `art2mus --help` light

    from art2mus.installation.config import ExhibitError, load_exhibit  # noqa: PLC0415
    from art2mus.installation.vision.debounce import ArtworkDebouncer  # noqa: PLC0415
    from art2mus.installation.vision.pipeline import VisionPipeline, recognition_index_for_exhibit  # noqa: PLC0415
    from art2mus.installation.vision.presence import PresenceMonitor  # noqa: PLC0415
    from art2mus.installation.vision.recognition import ArtworkRecognizer  # noqa: PLC0415

    try:
        config = load_exhibit(exhibit)
    except ExhibitError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None
    try:
        index = recognition_index_for_exhibit(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    recognizer = ArtworkRecognizer.from_config(config.recognition, index)
    accept = config.recognition.accept_inliers
    failed = 0

    def emit(source: str, payload: dict, text: str) -> None:
        click.echo(json.dumps({"source": source, **payload}) if as_json else f"{source}: {text}")

    for source in sources:
        camera = _camera_target(source)
        path = Path(source)
        kind = (
            "camera"
            if camera is not None
            else ("image" if path.suffix.lower() in IMAGE_SUFFIXES else "video")
        )
        if camera is None and not path.is_file():
            click.echo(
                f"{source}: no such file (expected an image, a video, a device index or a stream URL)",
                err=True,
            )
            failed += 1
            continue
        if kind == "image" or (
            path.suffix.lower() not in VIDEO_SUFFIXES and camera is None and cv2.haveImageReader(str(path))
        ):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                click.echo(f"{source}: cannot read this image", err=True)
                failed += 1
                continue
            result = recognizer.recognize(image)
            if result.artwork_id is not None and result.score < accept:  # a single look needs full confidence
                result = dataclasses.replace(result, artwork_id=None, outline=None)
            out = result.to_json()
            text = (
                f"{out['artwork']} (score {out['score']:g}, outline {out['outline']})"
                if result.artwork_id
                else f"unknown (best score {out['score']:g})"
            )
            emit(source, out, text)
            continue
        pipeline = VisionPipeline(
            recognizer,
            ArtworkDebouncer.from_config(config.presence, config.recognition),
            PresenceMonitor.from_config(config.presence),
            interval_s=config.recognition.interval_seconds if interval is None else interval,
        )
        try:
            if camera is None:
                ok = _watch_video(
                    path, pipeline, realtime, lambda d, s=source: emit(s, d.to_json(), _text(d))
                )
            else:
                ok = _watch_camera(
                    camera, pipeline, duration, lambda d, s=source: emit(s, d.to_json(), _text(d))
                )
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(130) from None
        failed += 0 if ok else 1
    if failed:
        raise SystemExit(1)


def _text(decision) -> str:
    return f"t={decision.t:.2f} s {decision.label}" + (
        f" (score {decision.score:g})" if decision.artwork_id else ""
    )


def _watch_video(path: Path, pipeline, realtime: bool, emit) -> bool:
    """Run the pipeline over a video once, emitting each decision change; False if it cannot be read."""
    from art2mus.installation.vision.sources import CameraError, VideoFileSource  # noqa: PLC0415

    source = VideoFileSource(path, loop=False, realtime=realtime)
    try:
        stream = source.open()
    except CameraError as exc:
        click.echo(str(exc), err=True)
        return False
    previous = None
    frames = 0
    try:
        for frame in stream:
            frames += 1
            # stamp with the time in the video, so the lines mean the same at any playback speed
            decision = pipeline.process(dataclasses.replace(frame, timestamp=frame.media_time))
            if not decision.same_state(previous):
                emit(decision)
                previous = decision
    except CameraError as exc:
        click.echo(f"{path}: {exc} after {frames} frames", err=True)
        return False
    finally:
        stream.close()
    if frames == 0:
        click.echo(f"{path}: no frames (not a video OpenCV can read?)", err=True)
        return False
    return True


def _watch_camera(target: int | str, pipeline, duration: float | None, emit) -> bool:
    """Watch a live camera through the grabber until ``duration`` seconds pass or SIGINT/SIGTERM."""
    from art2mus.installation.vision.grabber import FrameGrabber  # noqa: PLC0415
    from art2mus.installation.vision.sources import OpenCVCameraSource  # noqa: PLC0415

    start = time.monotonic()
    # frames stamped in seconds since the watch began: the "t" of each printed line
    grabber = FrameGrabber(OpenCVCameraSource(target, clock=lambda: time.monotonic() - start)).start()
    previous = None
    last_index = None
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    old = signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop["now"] and (duration is None or time.monotonic() - start < duration):
            frame = grabber.wait_for_frame(last_index, timeout=0.5)
            if frame is None:
                health = grabber.health()
                if health.state != "streaming":
                    logger.info("camera %s: %s (%s)", health.source, health.state, health.last_error)
                continue
            last_index = frame.index
            decision = pipeline.process(frame)
            if not decision.same_state(previous):
                emit(decision)
                previous = decision
    finally:
        signal.signal(signal.SIGTERM, old)
        grabber.stop()
    if grabber.health().frames == 0:
        click.echo(f"{target}: no frames from this camera ({grabber.health().last_error})", err=True)
        return False
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(command())
