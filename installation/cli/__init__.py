"""The ``art2mus`` command line: one group, one module per command, each a few lines over a library call.

Every command module imports only click and light config code at the top and imports its library
(the gallery, the model stack, the training code) inside the command, so ``art2mus --help`` and
``art2mus validate`` stay fast and never import torch. Options several commands share are declared once in
:mod:`.options`; what the exhibit commands share (loading, building the gallery) is in :mod:`.shared`.

Why this one package holds every command, ``train``, ``evaluate`` and ``dataset`` included, and why it
sits in ``installation/``: ``art2mus`` is the installation's front door (the systemd units, the console
script and ``accelerate launch -m art2mus.installation.cli`` name it), and a command module is only click
options over one library call, so it belongs with its siblings rather than with the library it calls.
Training stays out of the daemon's process all the same (STYLE rule 7): :mod:`.train`, :mod:`.evaluate`
and :mod:`.dataset` import :mod:`art2mus.training` with a normal ``import`` inside the command function,
so importing this package (as ``art2mus run`` does) loads no training module; a test holds that.
"""

from __future__ import annotations

import functools
import io
import logging
from typing import IO, Any

import click

from art2mus.installation.cli import (
    cache,
    dataset,
    demo,
    doctor,
    evaluate,
    init,
    models,
    prerender,
    recognize,
    record,
    render,
    run,
    simulate,
    status,
    train,
    unseen,
    validate,
    walk,
)
from art2mus.installation.logs import LOG_FORMATS, configure_logging, under_journal, with_journal_priority

#: command name -> click command
COMMANDS: dict[str, click.Command] = {
    "init": init.command,
    "validate": validate.command,
    "walk": walk.command,
    "record": record.command,
    "demo": demo.command,
    "run": run.command,
    "simulate": simulate.command,
    "prerender": prerender.command,
    "cache": cache.command,
    "doctor": doctor.command,
    "status": status.command,
    "train": train.command,
    "evaluate": evaluate.command,
    "dataset": dataset.command,
    "render": render.command,
    "recognize": recognize.command,
    "models": models.command,
    "unseen": unseen.command,
}


class _JournalPriorityGroup(click.Group):
    """The main group: a command's refusal (click's ``Error: ...``, e.g. another daemon already running)
    reaches the journal at error priority under systemd, as logged errors do; journald filed it at info,
    so ``journalctl -u art2mus -p warning`` hid why a start failed."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if under_journal():
                exc.show = functools.partial(_show_with_priority, exc)  # type: ignore[method-assign]
            raise


def _show_with_priority(exc: click.ClickException, file: IO[Any] | None = None) -> None:
    """Click's own error text for ``exc``, each line prefixed with the journal's error priority."""
    text = io.StringIO()
    type(exc).show(exc, file=text)
    click.echo(
        with_journal_priority(text.getvalue().rstrip("\n"), logging.ERROR), file=file, err=file is None
    )


@click.group(cls=_JournalPriorityGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v: info, -vv: debug).")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="auto",
    show_default=True,
    help="'auto' writes JSON lines with journald priorities under systemd and plain text otherwise.",
)
@click.version_option(package_name="art2mus")
def main(verbose: int, log_format: str) -> None:
    """art2mus: artwork-to-music for museums.

    Recognise the artwork a visitor stands before and play its soundscape, made by the procedural
    sonifier or by the Art2Mus model (image -> aligner -> GPT-2 language of audio -> AudioLDM2).
    """
    configure_logging(verbosity=verbose, log_format=log_format)


for _name, _command in COMMANDS.items():
    main.add_command(_command, _name)
