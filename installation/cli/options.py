"""Command-line options made from a config model's fields, so a flag keeps its YAML name, bounds and help;
and the options several commands share (:func:`live_options`, :func:`json_option`, :func:`device_option`,
:func:`folder_option`, :func:`file_option`, :func:`model_dir_option`), declared here once.

``--steps`` on ``art2mus render`` is :class:`~art2mus.models.art2mus_generator.Art2MusGeneratorConfig`'s
``steps``: the same name (dashes for underscores), the same bounds and the same description, declared
once in the model. An option not given is None, so only what the user typed overrides the exhibit.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import annotated_types
import click
from pydantic import BaseModel


def _click_type(annotation: Any, metadata: Sequence[Any]) -> Any:
    """The click parameter type of a pydantic field: choices, bounded ranges, paths or plain values."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _click_type(args[0], [*metadata, *annotation.__metadata__])
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice([str(a) for a in args])
    if args and typing.get_origin(annotation) is not None:  # X | None
        return _click_type(args[0], metadata)
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if annotation is int:
        return click.IntRange(low, high)
    if annotation is float:
        return click.FloatRange(low, high)
    if annotation is Path:
        return click.Path(file_okay=False, path_type=Path)
    return click.STRING


def config_options(model: type[BaseModel], names: Sequence[str], note: str) -> Callable[[Any], Any]:
    """Click options ``--<name>`` for the fields ``names`` of ``model``, help prefixed with ``note``."""

    def decorate(function: Any) -> Any:
        for name in reversed(names):
            field = model.model_fields[name]
            function = click.option(
                "--" + name.replace("_", "-"),
                name,
                type=_click_type(field.annotation, field.metadata),
                default=None,
                help=f"{note}: {field.description}",
            )(function)
        return function

    return decorate


def given(**options: Any) -> dict[str, Any]:
    """The options that were given (not None), paths as strings: setting overrides for a generator."""
    return {
        key: str(value) if isinstance(value, Path) else value
        for key, value in options.items()
        if value is not None
    }


def live_options(panel_default: str) -> Callable[[Any], Any]:
    """``--json`` (what plays, as JSON lines) and ``--panel-port`` for a command that runs a gallery live;
    ``panel_default`` names the port used otherwise."""

    def decorate(function: Any) -> Any:
        function = click.option(
            "--panel-port",
            type=click.IntRange(0, 65535),
            default=None,
            help=f"Serve the control panel on this port instead of {panel_default} (0: any free port).",
        )(function)
        return click.option("--json", "as_json", is_flag=True, help="Print what plays as JSON lines.")(
            function
        )

    return decorate


def json_option(help: str) -> Callable[[Any], Any]:
    """``--json`` (``as_json``): print machine-readable output instead of lines for people."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def device_option(help: str = "auto, cpu, cuda or cuda:N.") -> Callable[[Any], Any]:
    """``--device``: where the networks run (``auto``: a GPU where torch sees one, else the CPU)."""
    return click.option("--device", default="auto", show_default=True, help=help)


def folder_option(*names: str, help: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A folder option (``names``: the flag, and the parameter name where it differs)."""
    return click.option(*names, type=click.Path(file_okay=False, path_type=Path), help=help, **kwargs)


def model_dir_option(help: str) -> Callable[[Any], Any]:
    """``--model-dir``, picked by the one rule of every user of the model directory
    (:func:`~art2mus.models.model_dir.choose_model_dir`): the folder given, else ``$ART2MUS_MODEL_DIR``, else
    ``~/.local/share/art2mus/models``. The command gets a ``ModelDir`` whose messages say where an unset one
    came from."""

    def pick(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Any:
        from art2mus.models.model_dir import ModelDir, choose_model_dir

        choice = choose_model_dir(value, explicit_origin="")
        return ModelDir(choice.path, origin=choice.origin)

    default = "Default: $ART2MUS_MODEL_DIR, else ~/.local/share/art2mus/models."
    return folder_option("--model-dir", "model_dir", callback=pick, default=None, help=f"{help} {default}")


def file_option(*names: str, help: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A file option (``names``: the flag, and the parameter name where it differs)."""
    return click.option(*names, type=click.Path(dir_okay=False, path_type=Path), help=help, **kwargs)
