"""``art2mus recognize``: which of an exhibit's artworks do these images, videos or cameras show?

The loops are :mod:`art2mus.installation.vision.watch`'s; this module parses and prints.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from art2mus.installation.cli.shared import load_or_exit


def _text(decision) -> str:
    return f"t={decision.t:.2f} s {decision.label}" + (
        f" (score {decision.score:g})" if decision.artwork_id else ""
    )


def _watch_camera_until_signalled(target, pipeline, show, duration: float | None) -> str | None:
    """:func:`watch_camera` with SIGTERM ending it (Ctrl-C stays a KeyboardInterrupt)."""
    from art2mus.installation.vision.watch import watch_camera

    stop = threading.Event()
    old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return watch_camera(target, pipeline, show, stop, duration)
    finally:
        signal.signal(signal.SIGTERM, old)


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
    from art2mus.installation.vision.debounce import ArtworkDebouncer
    from art2mus.installation.vision.pipeline import VisionPipeline, recognition_index_for_exhibit
    from art2mus.installation.vision.presence import PresenceMonitor
    from art2mus.installation.vision.recognizer import ArtworkRecognizer
    from art2mus.installation.vision.watch import (
        camera_target,
        recognize_image,
        source_kind,
        watch_video,
    )

    config = load_or_exit(exhibit)
    try:
        recognizer = ArtworkRecognizer.from_config(config.recognition, recognition_index_for_exhibit(config))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    failed = 0

    def emit(source: str, payload: dict, text: str) -> None:
        click.echo(json.dumps({"source": source, **payload}) if as_json else f"{source}: {text}")

    for source in sources:
        kind, path = source_kind(source), Path(source)
        if kind != "camera" and not path.is_file():
            click.echo(
                f"{source}: no such file (expected an image, a video, a device index or a stream URL)",
                err=True,
            )
            failed += 1
            continue
        if kind == "image":
            result = recognize_image(recognizer, path, config.recognition.accept_inliers)
            if result is None:
                click.echo(f"{source}: cannot read this image", err=True)
                failed += 1
                continue
            out = result.to_json()
            known = f"{out['artwork']} (score {out['score']:g}, outline {out['outline']})"
            emit(source, out, known if result.artwork_id else f"unknown (best score {out['score']:g})")
            continue
        pipeline = VisionPipeline(
            recognizer,
            ArtworkDebouncer.from_config(config.presence, config.recognition),
            PresenceMonitor.from_config(config.presence),
            interval_s=config.recognition.interval_seconds if interval is None else interval,
        )
        show = lambda d, s=source: emit(s, d.to_json(), _text(d))  # noqa: E731
        try:
            if kind == "camera":
                error = _watch_camera_until_signalled(camera_target(source), pipeline, show, duration)
            else:
                error = watch_video(path, pipeline, show, realtime=realtime)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise SystemExit(130) from None
        if error is not None:
            click.echo(error, err=True)
            failed += 1
    if failed:
        raise SystemExit(1)
