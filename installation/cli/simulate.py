"""``art2mus simulate EXHIBIT -o mix.wav``: the installation over its camera video, faster than real time."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from art2mus.installation.cli.options import file_option
from art2mus.installation.cli.shared import build_gallery, event_printer, load_or_exit, writable_or_exit

#: seconds simulated when the video file does not say how long it is and no --duration is given
FALLBACK_SECONDS = 60.0
#: how long every job may have its answer without the library hearing of it before the walk starts anyway
IDLE_GRACE_S = 10.0


@click.command("simulate")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path))
@file_option(
    "-o",
    "--output",
    default=None,
    help="WAV file that receives the mix (exactly --duration seconds of it).  [default: none: what plays, "
    "and when, is printed and the mix is not written]",
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
@click.option(
    "--keep-unseen",
    is_flag=True,
    help="Remember the unseen artworks the walk finds in the exhibit's unseen.dir, as `run` does.  "
    "[default: the walk knows those remembered there and writes none: a preview neither adds artworks "
    "nor pushes a real one out of the `remember` limit]",
)
@click.pass_context
def command(
    ctx: click.Context,
    exhibit: Path,
    output: Path | None,
    duration: float | None,
    video: Path | None,
    as_json: bool,
    keep_unseen: bool,
) -> None:
    """Run EXHIBIT over a camera video as fast as the machine allows, with a simulated clock, and write
    the mix to a WAV file (-o): the same recognition, debounce, crossfades and loudness as `art2mus run`,
    for checking an exhibit's settings (dwell, hold, idle) before opening day.

    Soundscapes a slow generator (Art2Mus) still has to make are rendered first, in the generator
    process, so that the walk hears them (`run` plays their fallback's rendering meanwhile). An unseen
    artwork's (`unseen:`) is made when the walk first sees it: the simulated clock stands still there
    until it is rendered (and cached), so the walk hears the model's music where `run` plays a bridge
    for as long as the rendering takes.

    Opening hours are not simulated: the walk plays as the room does while open, at the room's volume
    (`run` is silent outside `schedule.periods` and applies each period's volume).

    The unseen artworks the room remembers are known to the walk, and those it finds are not written to
    `unseen.dir` (a copy is used) unless --keep-unseen.
    """
    from art2mus.installation.vision.sources import video_seconds

    config = load_or_exit(exhibit)
    # nothing serves a control panel here: building one would only import the web stack (~0.3 CPU s)
    config = config.model_copy(
        update={"control_panel": config.control_panel.model_copy(update={"enabled": False})}
    )
    if video is None and config.camera.type != "video":
        raise click.ClickException(
            f"{exhibit}: camera.type is {config.camera.type!r}; simulate needs a video (give --video FILE)"
        )
    if output is not None:
        writable_or_exit(output, "-o/--output")
    if config.schedule.periods or config.schedule.closed_dates:
        click.echo(
            "opening hours are not simulated: the walk plays as the room does while open, at the room's "
            "volume (run is silent outside schedule.periods and applies each period's volume)",
            err=True,
        )
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
    with contextlib.ExitStack() as stack:
        if config.unseen.enabled and not keep_unseen:
            config = _with_a_copy_of_the_unseen_store(config, stack)
        _simulate(ctx, config, path, output, duration, as_json)


def _with_a_copy_of_the_unseen_store(config: Any, stack: contextlib.ExitStack) -> Any:
    """``config`` with ``unseen.dir`` a temporary copy of the exhibit's (removed when ``stack`` closes):
    the walk knows the remembered artworks, and what it finds stays out of the live store."""
    from art2mus.installation.unseen_store import unseen_dir

    copy = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="art2mus-unseen-")))
    live = unseen_dir(config)
    # runs before the copy is removed (the stack unwinds last in, first out), also after Ctrl-C
    stack.callback(_remove_what_the_walk_cached, copy, live, _cached_keys(config))
    try:
        if live.is_dir():
            shutil.copytree(live, copy, dirs_exist_ok=True)
    except (OSError, shutil.Error) as exc:  # a full /tmp: the walk goes on with what was copied
        click.echo(f"the walk may not know every unseen artwork remembered in {live}: {exc}", err=True)
    return config.model_copy(update={"unseen": config.unseen.model_copy(update={"dir": str(copy)})})


def _cached_keys(config: Any) -> set[str]:
    """The keys of the entries in the exhibit's cache now."""
    from art2mus.installation.cache import SoundscapeCache

    return {key for key, _, _ in SoundscapeCache.from_config(config.cache).entries()}


def _remove_what_the_walk_cached(copy: Path, live: Path, before: set[str]) -> None:
    """Remove the cache entries the walk made for unseen artworks the live store in ``live`` does not
    hold: a preview's store (``copy``) is thrown away, and with it the only record of them, so nothing
    (``unseen forget|clear``, the ``remember`` limit) would ever remove them (2.9 MB of FLAC each). An
    entry that was in the cache before the walk (``before``, also under the key it had before the
    loudness target left the keys: renamed by the walk) or that the live store records stays."""
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.unseen_store import UnseenStore

    try:
        previewed = UnseenStore(copy).artworks
    except ValueError:  # the walk's own index, damaged: nothing to go by
        return
    try:
        kept = UnseenStore(live).artworks if live.is_dir() else {}
    except ValueError:  # the live index is damaged: what was in the cache before the walk stays
        kept = {}
    for artwork_id, artwork in previewed.items():
        recorded = kept[artwork_id].cached if artwork_id in kept else []
        for entry in artwork.cached:
            if entry in recorded or entry.get("key") in before:
                continue
            try:
                cache = SoundscapeCache(Path(entry["dir"]), audio_format=entry["format"])
                if cache.adopted_from(entry["key"]) not in before:
                    cache.remove(entry["key"])
            except (KeyError, TypeError, ValueError) as exc:
                click.echo(f"{artwork_id}: cannot remove its cache entry {entry}: {exc}", err=True)


def _simulate(
    ctx: click.Context, config: Any, path: Path, output: Path | None, duration: float, as_json: bool
) -> None:
    """The walk over ``path`` (see :func:`command`)."""
    from art2mus.installation.audio.clock import ManualClock
    from art2mus.installation.audio.outputs import NullOutput, WavOutput
    from art2mus.installation.vision.sources import VideoFileSource

    source = VideoFileSource(path, loop=True, realtime=False)
    # without -o the mixer still runs (what plays is decided with the mix's fades) and its blocks are dropped
    wav = NullOutput() if output is None else WavOutput(output, realtime=True, subtype="PCM_16")
    gallery = build_gallery(
        config,
        quiet=as_json,
        clock=ManualClock(),
        output=wav,
        camera=source,
        on_event=event_printer(config, as_json),
        read_when_chosen=True,  # a walk hears a few of the soundscapes: only those are decoded
        # the registry's, or a table a caller puts in the click context object (tests do, as for render)
        generator_backends=ctx.obj.get("generator_backends") if isinstance(ctx.obj, dict) else None,
    )
    try:
        _walk(gallery, wav, output, duration, as_json)
    finally:
        # the generator process stops and the cache's in-use record goes (a process's exit did that, but
        # a caller in the same process, such as a test or a notebook, kept both, its queue thread running)
        gallery.close()


def _walk(gallery: Any, wav: Any, output: Path | None, duration: float, as_json: bool) -> None:
    """The simulation of :func:`_simulate`'s built ``gallery`` and what it prints."""
    waiting = sorted(gallery.director.library.pending)
    if waiting and gallery.worker is not None:
        _wait_for_the_generator_process(
            gallery,
            f"waiting for the generator process to render {len(waiting)} soundscapes ({', '.join(waiting)}): "
            "the walk starts once they are made (Ctrl-C stops)",
        )

    def render_unseen(what: str, seconds: float) -> None:
        minutes, rest = divmod(seconds, 60.0)
        _wait_for_the_generator_process(
            gallery,
            f"{int(minutes):02d}:{rest:05.2f}  {what}: the walk stands still while the generator process "
            "renders its soundscape, so the walk hears it (run plays a bridge until it is made; Ctrl-C stops)",
        )

    gallery.simulate(duration, on_generating=render_unseen)
    summary = {
        "output": None if output is None else str(output),
        "seconds": round(wav.frames_written / gallery.engine.sample_rate, 3),
        "events": [e.to_json() for e in gallery.director.events],
    }
    if as_json:
        click.echo(json.dumps({"summary": summary}))
    elif output is None:
        click.echo(
            f"simulated {summary['seconds']:.1f} s ({len(summary['events'])} changes); the mix was not "
            "written (-o FILE writes it)"
        )
    else:
        click.echo(f"wrote {summary['seconds']:.1f} s of mix to {output} ({len(summary['events'])} changes)")


def _wait_for_the_generator_process(gallery: Any, announce: str, report_every_s: float = 30.0) -> None:
    """Say ``announce``, then wait until the soundscapes the generator process renders (a slow generator's,
    e.g. Art2Mus, not yet in the cache) are in the library. ``run`` plays a stand-in (the generator's
    fallback) meanwhile; a simulation runs faster than the process renders, so without waiting the walk
    heard the stand-ins, the curator's preview was not of the exhibit's music, and an unseen artwork's
    job, still running when the walk ended, was stopped and never cached."""
    library = gallery.director.library
    waiting = sorted(library.pending)
    click.echo(announce, err=True)
    started = last_report = time.monotonic()
    idle_since = None
    while library.pending:
        if gallery.worker.wait_idle(0.2):  # every job answered: its result is being put in place
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > IDLE_GRACE_S:
                break
        else:
            idle_since = None
        if time.monotonic() - last_report >= report_every_s:
            last_report = time.monotonic()
            click.echo(
                f"still rendering {len(library.pending)} soundscapes ({time.monotonic() - started:.0f} s)",
                err=True,
            )
    stand_ins = sorted(library.pending)
    failed = sorted(
        w for w in waiting if w not in stand_ins and library.made_by.get(w) != _generator_of(gallery, w)
    )
    for what in [*stand_ins, *failed]:
        click.echo(
            f"{what}: not rendered by its generator; the walk hears its stand-in (see the log)", err=True
        )


def _generator_of(gallery: Any, what: str) -> str | None:
    """The generator the exhibit names for ``what`` (an artwork id, ``idle`` or ``unseen:<id>``)."""
    from art2mus.installation.vision.unseen import UNSEEN_PREFIX  # cv2: not for `art2mus --help`

    exhibit = gallery.exhibit
    if what == "idle":
        return exhibit.idle.generator
    if what.startswith(UNSEEN_PREFIX):
        return exhibit.unseen.generator
    artwork = next((a for a in exhibit.artworks if a.id == what), None)
    return artwork.soundscape.generator if artwork is not None else None
