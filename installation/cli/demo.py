"""``art2mus demo``: run the embedded demo exhibit on any machine.

The demo collection's camera is a video of a slow walk past its eight artworks and its generator is the
procedural sonifier, so it needs no camera, no GPU and no weights. The mix goes to the sound card when
PortAudio finds one, and to a WAV file otherwise (or with ``--wav``). That fallback file keeps the last
half hour to hour only (it rolls over every :data:`FALLBACK_WAV_MAX_MB`, the previous one kept): a demo
left running over a weekend on a machine without a sound card wrote 691 MB an hour until the disk was full.
A file named with ``--wav`` is a recording asked for: it is kept whole (RF64 past 4 GiB).
"""

from __future__ import annotations

from pathlib import Path

import click

from art2mus.installation.cli.options import live_options
from art2mus.installation.cli.shared import load_or_exit, run_gallery
from art2mus.installation.daemon import DaemonSignals

DEFAULT_WAV = Path("art2mus-demo.wav")
#: the fallback WAV file rolls over at this size (MB: about 30 min of the demo's 16-bit stereo at 48 kHz),
#: keeping the previous file beside it as ``art2mus-demo.1.wav``
FALLBACK_WAV_MAX_MB = 350.0


def demo_exhibit_path() -> Path:
    """The demo exhibit shipped with the package (``exhibits/demo/exhibit.yaml`` in a checkout,
    ``art2mus/exhibits/demo/exhibit.yaml`` in a wheel); the daemon never imports the demo's painter."""
    return Path(__file__).resolve().parents[2] / "exhibits" / "demo" / "exhibit.yaml"


def _can_listen(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (as the panel's server binds: address reuse on,
    so a port whose last connections still linger counts as free)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return True  # a host that does not resolve: the panel's own start says so
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


@click.command("demo")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: until Ctrl-C).",
)
@click.option(
    "--wav",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Write the mix to this WAV file instead of the sound card, whole (default when there is no "
    f"sound card: ./{DEFAULT_WAV}, which keeps the last half hour to hour).",
)
@live_options("8080")
def command(duration: float | None, wav: Path | None, as_json: bool, panel_port: int | None) -> None:
    """Run the demo exhibit: its camera video -> recognition -> procedural soundscapes -> speakers (or a
    WAV file when the machine has no sound card), in real time, until Ctrl-C, with the control panel on
    http://127.0.0.1:8080/ (on a free port, printed, when another program holds 8080).

    The walk passes eight artworks with empty wall between them; each artwork's soundscape crossfades
    in a moment after it comes into view, and the idle ambience returns along the empty wall.
    """
    from art2mus.installation.audio.outputs import WavOutput
    from art2mus.installation.audio.portaudio import probe_output_device

    with DaemonSignals() as signals:  # stop and reload count from the first step, as for `art2mus run`
        path = demo_exhibit_path()
        config = load_or_exit(path)
        output = None
        if wav is None and config.audio.output.type == "pyaudio":
            device = probe_output_device(config.audio.output.device)
            if device is None:
                wav = DEFAULT_WAV
                click.echo(
                    f"no sound card found (PortAudio lists no output device {config.audio.output.device!r}); "
                    f"writing the mix to {wav.resolve()} (a new file every {FALLBACK_WAV_MAX_MB:.0f} MB, about "
                    f"30 min; the previous one kept as {wav.stem}.1{wav.suffix})",
                    err=True,
                )
                output = WavOutput(
                    wav, realtime=True, max_mb=FALLBACK_WAV_MAX_MB, keep=1, continue_previous=False
                )
            elif not as_json:
                click.echo(f"playing on {device!r}", err=True)
        if wav is not None and output is None:
            output = WavOutput(wav, realtime=True)
        panel = config.control_panel
        if panel_port is None and panel.enabled and not _can_listen(panel.host, panel.port):
            # the demo is the first command on a new machine: a port some other program holds must not stop it
            panel_port = 0
            click.echo(
                f"port {panel.port} is in use: the control panel takes a free port instead (its address follows; "
                "--panel-port N chooses one)",
                err=True,
            )
        if not as_json:
            click.echo(
                f"{config.collection.name}: {len(config.artworks)} artworks, camera {config.camera.path.name}; "
                "Ctrl-C to stop",
                err=True,
            )
        run_gallery(
            signals, config, as_json=as_json, duration=duration, output=output, control_panel_port=panel_port
        )
