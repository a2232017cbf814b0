"""The ``art2mus`` command line: one group, one module per command, loaded only when used.

Commands are imported lazily so that ``art2mus --help`` and ``art2mus validate`` stay fast and never
import torch. Each command module exposes a click command named ``command``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from art2mus.installation.logs import LOG_FORMATS, configure_logging

#: command name -> module that defines ``command``.
COMMANDS: dict[str, str] = {
    "validate": "art2mus.installation.cli.validate",
    "demo": "art2mus.installation.cli.demo",
    "run": "art2mus.installation.cli.run",
    "simulate": "art2mus.installation.cli.simulate",
    "prerender": "art2mus.installation.cli.prerender",
    "doctor": "art2mus.installation.cli.doctor",
    # training commands live in training/ (the daemon never imports them); loaded only when run
    "train": "art2mus.training.cli_train",
    "evaluate": "art2mus.training.cli_evaluate",
    "dataset": "art2mus.training.cli_dataset",
    "render": "art2mus.installation.cli.render",
    "recognize": "art2mus.installation.cli.recognize",
    "models": "art2mus.installation.cli.models",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        present = [name for name, mod in self._lazy.items() if importlib.util.find_spec(mod) is not None]
        return sorted(set(super().list_commands(ctx)) | set(present))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy and importlib.util.find_spec(self._lazy[cmd_name]) is not None:
            return importlib.import_module(self._lazy[cmd_name]).command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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
