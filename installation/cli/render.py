"""``art2mus render``: turn an image, one artwork of an exhibit, or a whole exhibit into WAV files.

    art2mus render IMAGE -o out.wav [--generator procedural|art2mus] [--duration S] [--seed N] [--loudness LUFS]
    art2mus render EXHIBIT.yaml --artwork ID -o out.wav
    art2mus render EXHIBIT.yaml --all --out-dir DIR [--spectrogram]

With an exhibit the soundscape comes from :meth:`SoundscapeSource.render
<art2mus.installation.soundscapes.SoundscapeSource.render>`, the same mapping of an artwork's settings to
a request that the daemon uses; options given on the command line win. The ``--model-dir`` ...
``--scheduler`` flags are the Art2Mus generator config's own fields. The command is one call to
:func:`art2mus.installation.rendering.render`. Generators are looked up in
:data:`art2mus.models.registry.GENERATOR_BACKENDS`, or in a table a caller puts in the click context
object under ``"generator_backends"`` (tests do).
"""

from __future__ import annotations

from pathlib import Path

import click

from art2mus.installation.cli.options import config_options, given
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig

#: the keys of :data:`art2mus.installation.audio.export.SUBTYPES` (imported late: it loads scipy)
WAV_FORMATS = ("float", "pcm24")
ART2MUS_OPTIONS = (
    "model_dir",
    "encoder",
    "device",
    "dtype",
    "steps",
    "guidance_scale",
    "scheduler",
)
#: what a bad image, artwork, generator or failed generation raises: reported as one sentence
FAILURES = (ValueError, KeyError, TypeError, ImportError, OSError, RuntimeError)


@click.command("render")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="WAV file to write.")
@click.option(
    "--artwork",
    "artwork_id",
    metavar="ID",
    help="With an EXHIBIT: the artwork to render ('idle' for the idle ambience).",
)
@click.option(
    "--all", "render_all", is_flag=True, help="With an EXHIBIT: render every artwork into --out-dir."
)
@click.option(
    "--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for --all (DIR/<id>.wav)."
)
@click.option(
    "--spectrogram", is_flag=True, help="With --all: also write DIR/<id>.png, a spectrogram of each."
)
@click.option(
    "--generator",
    "generator_name",
    metavar="NAME",
    help="Backend (procedural, art2mus) -- or, with an EXHIBIT, a name from its generators section. "
    "Default: procedural for an IMAGE, each artwork's own for an EXHIBIT.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Length in seconds (default: 30 for an IMAGE, each artwork's own for an EXHIBIT).",
)
@click.option(
    "--seed",
    type=int,
    help="Seed (default: 0, or each artwork's own); the same image, seed and settings give the same audio.",
)
@click.option(
    "--loudness",
    type=click.FloatRange(-70, 0),
    help="Integrated loudness target, LUFS (default: -23, or the exhibit's audio.loudness_lufs).",
)
@click.option(
    "--loop/--no-loop", default=None, help="Seamless loop (default) or a one-shot with fades (IMAGE only)."
)
@click.option(
    "--format",
    "subtype",
    type=click.Choice(WAV_FORMATS),
    default="pcm24",
    show_default=True,
    help="WAV sample format: 24-bit PCM or 32-bit float.",
)
@config_options(Art2MusGeneratorConfig, ART2MUS_OPTIONS, note="art2mus")
@click.option(
    "--aligner",
    type=click.Path(file_okay=False, path_type=Path),
    # not the exhibit field's description: on the command line a relative path is the current folder's
    help="art2mus: Aligner folder (config.json + model.safetensors), a path from the current folder or the "
    "name of a folder under MODEL_DIR/aligners. Default: the exhibit's, else the model directory's aligner "
    "for the encoder (aligners/default, else the only one).",
)
@click.pass_context
def command(
    ctx,
    source,
    output,
    artwork_id,
    render_all,
    out_dir,
    spectrogram,
    generator_name,
    duration,
    seed,
    loudness,
    loop,
    subtype,
    **art2mus,
) -> None:
    """Render SOURCE -- an image, or an exhibit YAML file with --artwork ID or --all -- to WAV.

    Prints one line per file: duration, sample rate, channels, integrated loudness (LUFS) and true
    peak (dBTP), measured on the written audio. Exits non-zero with a sentence saying what went wrong
    when an image cannot be read, an artwork or generator is unknown, or generation fails.
    """
    from art2mus.installation.cli.shared import writable_or_exit
    from art2mus.installation.config import ExhibitError
    from art2mus.installation.rendering import RenderUsageError, render

    if output is not None:  # found before a generation that may take minutes, not after it
        writable_or_exit(output, "-o/--output")
    try:
        render(
            source,
            output=output,
            artwork_id=artwork_id,
            render_all=render_all,
            out_dir=out_dir,
            generator=generator_name,
            overrides=given(**art2mus),
            changes={"duration_s": duration, "seed": seed, "loudness_lufs": loudness},
            loop=loop,
            backends=ctx.obj.get("generator_backends") if isinstance(ctx.obj, dict) else None,
            subtype=subtype,
            spectrogram=spectrogram,
            echo=click.echo,
        )
    except RenderUsageError as error:
        raise click.UsageError(str(error)) from error
    except ExhibitError as error:
        raise click.ClickException(f"{source} is not a valid exhibit:\n{error}") from error
    except FAILURES as error:
        if art2mus.get("device") is not None and hasattr(error, "renamed"):  # a DeviceError: the option's
            error = error.renamed("--device")  # value, named as typed, not as the exhibit field it overrides
        raise click.ClickException(error.args[0] if isinstance(error, KeyError) else str(error)) from error
