"""The ``art2mus`` command line: one group, one module per command, each a few lines over a library call.

Every command module imports only click and light config code at the top and imports its library
(the gallery, the model stack) inside the command, so ``art2mus --help`` and ``art2mus validate`` stay
fast and never import torch. The training commands live beside the training code
(:mod:`art2mus.training.cli_train`, :mod:`art2mus.training.cli_evaluate`) and are imported here like any
other module; the daemon itself (:mod:`art2mus.installation.gallery` and what it builds) never imports
training code.
"""

from __future__ import annotations

import click

from art2mus.installation.cli import (
    demo,
    doctor,
    init,
    models,
    prerender,
    recognize,
    record,
    render,
    run,
    simulate,
    unseen,
    validate,
    walk,
)
from art2mus.installation.logs import LOG_FORMATS, configure_logging
from art2mus.training import cli_dataset, cli_evaluate, cli_train

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
    "doctor": doctor.command,
    "train": cli_train.command,
    "evaluate": cli_evaluate.command,
    "dataset": cli_dataset.command,
    "render": render.command,
    "recognize": recognize.command,
    "models": models.command,
    "unseen": unseen.command,
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
