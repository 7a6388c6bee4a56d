"""Command-line arguments declared once, as pydantic models, and the argparse parser built from them.

A command is a frozen model whose ``type`` tag names it (``type: Literal["pull"] = "pull"``, as in
jupyter-ai's ``parsers.py``); its docstring is the help line. Each other field is one argument: its
annotation gives the argparse type (``bool`` is a switch, a ``Literal`` the choices), ``Field``'s
``description`` the help, ``ge``/``gt`` the lower bound, and ``positional()``/``option()`` the
metavar and a short flag. ``--max-tokens`` is the field ``max_tokens``.

argparse parses (so usage and messages stay argparse's), raising instead of exiting the kernel;
the model then holds the typed values.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import types
from collections.abc import Sequence
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as _PydanticError
from pydantic.fields import FieldInfo


class Command(BaseModel):
    """The typed arguments of one command (subclasses add ``type: Literal[NAME] = NAME``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def positional(default: Any = ..., *, metavar: str, help: str | None = None) -> Any:
    """A positional argument; required when ``default`` is omitted."""
    return Field(default, description=help, json_schema_extra={"positional": True, "metavar": metavar})


def option(default: Any = ..., *, metavar: str | None = None, help: str | None = None, short: str | None = None,
           ge: float | None = None, gt: float | None = None) -> Any:
    """``--name``; required when ``default`` is omitted; ``short`` is an extra flag such as ``-y``."""
    extra = {k: v for k, v in (("metavar", metavar), ("short", short)) if v is not None}
    return Field(default, description=help, json_schema_extra=extra or None, ge=ge, gt=gt)


class _UsageError(Exception):
    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _HelpShown(Exception):
    """``--help`` printed the help text; nothing more to do."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises instead of exiting the kernel."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(message, self.one_line_usage())

    def one_line_usage(self) -> str:
        return " ".join(self.format_usage().split())

    def exit(self, status: int = 0, message: str | None = None):  # type: ignore[override]
        if message:
            print(message, file=sys.stderr, end="")
        raise _HelpShown()


def _bounded(kind: type, bound: Any) -> Any:
    """An argparse ``type`` for ``kind`` (int or float) with pydantic's ``Ge``/``Gt`` bound, in plain words."""
    what = "a whole number" if kind is int else "a number"

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if hasattr(bound, "ge") and not value >= bound.ge:
            raise argparse.ArgumentTypeError(f"expected a number of at least {bound.ge}, got {value}")
        if hasattr(bound, "gt") and not value > bound.gt:
            raise argparse.ArgumentTypeError(f"expected a number above {bound.gt}, got {value}")
        return value

    return convert


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return annotation


def _add_argument(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    kind = _unwrap(field.annotation)
    kwargs: dict[str, Any] = {"help": field.description}
    if extra.get("metavar"):
        kwargs["metavar"] = extra["metavar"]
    if kind is bool:
        kwargs["action"] = "store_true"
    elif get_origin(kind) is Literal:
        kwargs["choices"] = get_args(kind)
    elif kind in (int, float):
        bound = next((m for m in field.metadata if hasattr(m, "ge") or hasattr(m, "gt")), None)
        # unbounded: argparse's own "invalid int value: 'x'", as the magic has always said
        kwargs["type"] = kind if bound is None else _bounded(kind, bound)
    if extra.get("positional"):
        if not field.is_required():
            kwargs.update(nargs="?", default=field.default)
        parser.add_argument(name, **kwargs)
        return
    if field.is_required():
        kwargs["required"] = True
    elif kind is not bool:
        kwargs["default"] = field.default
    flags = ["--" + name.replace("_", "-")] + ([str(extra["short"])] if extra.get("short") else [])
    parser.add_argument(*flags, dest=name, **kwargs)


def add_arguments(parser: argparse.ArgumentParser, command: type[Command]) -> None:
    """One argparse argument per field of ``command`` (but its ``type`` tag), in declaration order."""
    parser.set_defaults(args_type=command)
    for name, field in command.model_fields.items():
        if name != "type":
            _add_argument(parser, name, field)


def command_name(command: type[Command]) -> str:
    return str(command.model_fields["type"].default)


def subcommand_parser(prog: str, description: str, commands: Sequence[type[Command]],
                      default: type[Command]) -> _Parser:
    """``prog COMMAND ...``: one subparser per command; ``default`` when no command is given."""
    parser = _Parser(prog=prog, description=description)
    parser.set_defaults(command=command_name(default), args_type=default)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        help = (command.__doc__ or "").strip()
        add_arguments(sub.add_parser(command_name(command), help=help, description=help), command)
    return parser


def parse_line(parser: _Parser, line: str) -> Any:
    """``line`` split as a shell would, parsed into its command's model.

    Raises ``_UsageError`` (bad arguments) or ``_HelpShown`` (``--help`` was printed).
    """
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise _UsageError(str(exc), parser.one_line_usage()) from None
    ns = vars(parser.parse_args(words))
    command: type[Command] = ns.pop("args_type")
    try:
        return command(**{k: v for k, v in ns.items() if k in command.model_fields and k != "type"})
    except _PydanticError as exc:  # argparse checks the same bounds first; this is a safety net
        raise _UsageError(exc.errors()[0]["msg"], parser.one_line_usage()) from None
