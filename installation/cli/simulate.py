"""``art2mus simulate EXHIBIT -o mix.wav``: the installation over its camera video, faster than real time."""

from __future__ import annotations

import json
from pathlib import Path

import click

from art2mus.installation.cli.options import file_option
from art2mus.installation.cli.shared import build_gallery, event_printer, load_or_exit, writable_or_exit

#: seconds simulated when the video file does not say how long it is and no --duration is given
FALLBACK_SECONDS = 60.0


@click.command("simulate")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@file_option(
    "-o", "--output", required=True, help="WAV file that receives the mix (exactly --duration seconds of it)."
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds of gallery time to simulate (the video loops).  [default: the video once through; "
    f"{FALLBACK_SECONDS:g} s when the file does not say how long it is]",
)
@click.option(
    "--video",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Camera video to use instead of the exhibit's camera (which must then be a video file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what plays, and a summary, as JSON lines.")
def command(exhibit: Path, output: Path, duration: float | None, video: Path | None, as_json: bool) -> None:
    """Run EXHIBIT over a camera video as fast as the machine allows, with a simulated clock, and write
    the mix to a WAV file: the same recognition, debounce, crossfades and loudness as `art2mus run`,
    for checking an exhibit's settings (dwell, hold, idle) before opening day.
    """
    from art2mus.installation.audio.clock import ManualClock
    from art2mus.installation.audio.outputs import WavOutput
    from art2mus.installation.vision.sources import VideoFileSource, video_seconds

    config = load_or_exit(exhibit)
    # nothing serves a control panel here: building one would only import the web stack (~0.3 CPU s)
    config = config.model_copy(
        update={"control_panel": config.control_panel.model_copy(update={"enabled": False})}
    )
    if video is None and config.camera.type != "video":
        raise click.ClickException(
            f"{exhibit}: camera.type is {config.camera.type!r}; simulate needs a video (give --video FILE)"
        )
    writable_or_exit(output, "-o/--output")
    path = video or config.camera.path
    if video is not None:  # the exhibit's own camera video was checked with the exhibit
        from art2mus.installation.config.files import check_file

        problem = check_file(video, "video")
        if problem:
            raise click.ClickException(f"--video: {problem}")
    if duration is None:  # a walk or a recorded visit is simulated whole, as the curator made it
        duration = video_seconds(path)
        if duration is None:
            duration = FALLBACK_SECONDS
            click.echo(
                f"{path} does not say how long it is: simulating {duration:g} s (give --duration)", err=True
            )
    source = VideoFileSource(path, loop=True, realtime=False)
    wav = WavOutput(output, realtime=True, subtype="PCM_16")
    gallery = build_gallery(
        config,
        quiet=as_json,
        clock=ManualClock(),
        output=wav,
        camera=source,
        on_event=event_printer(config, as_json),
        read_when_chosen=True,  # a walk hears a few of the soundscapes: only those are decoded
    )
    gallery.simulate(duration)
    summary = {
        "output": str(output),
        "seconds": round(wav.frames_written / gallery.engine.sample_rate, 3),
        "events": [e.to_json() for e in gallery.director.events],
    }
    if as_json:
        click.echo(json.dumps({"summary": summary}))
    else:
        click.echo(f"wrote {summary['seconds']:.1f} s of mix to {output} ({len(summary['events'])} changes)")
