"""The ``art2mus`` command line: one group, one module per command, each a few lines over a library call.

Every command module imports only click and light config code at the top and imports its library
(the gallery, the model stack, the training code) inside the command, so ``art2mus --help`` and
``art2mus validate`` stay fast and never import torch; and the group imports a command's module only
when that command is asked for (:data:`COMMANDS`), so a run loads no other command's module. Options several commands share are declared once in
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
import importlib
import io
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import click

from art2mus.installation.logs import LOG_FORMATS, configure_logging, under_journal, with_journal_priority


class _LazyCommands(Mapping[str, click.Command]):
    """Command name -> click command, each the ``command`` of the module of that name in this package,
    imported when it is first looked up: a run imports the module of the command it runs and no other
    (``art2mus --help`` imports them all, for their short help). Importing all at start, ``art2mus
    simulate --help`` took 0.35 CPU s, now 0.12 s."""

    def __init__(self, names: Iterable[str]):
        self._names = tuple(names)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._names:
            raise KeyError(name)
        return importlib.import_module(f"{__name__}.{name}").command

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


#: command name -> click command (its module imported when first looked up)
COMMANDS: Mapping[str, click.Command] = _LazyCommands(
    [
        "init",
        "validate",
        "walk",
        "record",
        "demo",
        "run",
        "simulate",
        "prerender",
        "cache",
        "doctor",
        "status",
        "train",
        "evaluate",
        "dataset",
        "render",
        "recognize",
        "models",
        "unseen",
    ]
)


class _JournalPriorityGroup(click.Group):
    """The main group: a command's refusal (click's ``Error: ...``, e.g. another daemon already running)
    reaches the journal at error priority under systemd, as logged errors do; journald filed it at info,
    so ``journalctl -u art2mus -p warning`` hid why a start failed. Its commands are :data:`COMMANDS`,
    loaded as click's documentation on lazily loading subcommands has it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or COMMANDS.get(cmd_name)

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
