"""``art2mus record EXHIBIT -o clip.mp4 --duration S``: a clip of the exhibit's camera for a later
``art2mus simulate --video clip.mp4`` (:mod:`art2mus.installation.vision.recording`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from art2mus.installation.cli.options import file_option
from art2mus.installation.cli.shared import load_or_exit, writable_or_exit


@click.command("record")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@file_option("-o", "--output", default=Path("clip.mp4"), show_default=True, help="The video to write (mp4).")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True, max=86400),
    default=60.0,
    show_default=True,
    help="Seconds to record (Ctrl-C stops early and keeps what was recorded).",
)
def command(exhibit: Path, output: Path, duration: float) -> None:
    """Record EXHIBIT's camera (its `camera:` section: a device, a path, a stream or a video file) to a
    video, at the camera's fps (a video file's own, a live camera's `fps`), each camera frame once, so
    that `art2mus simulate EXHIBIT --video clip.mp4` can replay a real visit with other settings. A frame
    repeats only where a live camera falls a whole frame behind its fps (the clip keeps the room's pace).
    Stop the daemon first when it holds a local camera.
    """
    from art2mus.installation.vision.recording import record_camera
    from art2mus.installation.vision.sources import camera_source_from_config

    config = load_or_exit(exhibit)
    writable_or_exit(output, "-o/--output")
    source = camera_source_from_config(config.camera)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _s, _f: stop.set())
    click.echo(f"recording {duration:g} s of {source.name} to {output} ...", err=True)
    try:
        clip = record_camera(
            source,
            output,
            duration,
            fps=config.camera.fps,
            reconnect_max_s=config.camera.reconnect_max_seconds,
            stop=stop,
        )
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    click.echo(
        f"wrote {clip.path}: {clip.duration_s:.1f} s, {clip.width}x{clip.height}, {clip.fps:g} fps "
        f"({clip.distinct_frames} distinct camera frames)"
    )
