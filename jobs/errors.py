"""Bad input from a user: one error type, turned into one ``error:`` line and exit 2 in one place.

A command raises ``BadInputError`` (or calls ``fail``) anywhere below it; ``exit_on_bad_input`` wraps the
command so the message is printed without a traceback. ``options_error`` turns a pydantic
``ValidationError`` of a command's options into such a message, naming the flag (or config key) at fault.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from jobs.app import EXIT_BAD_INPUT

F = TypeVar("F", bound=Callable[..., Any])


class BadInputError(ValueError):
    """Bad input (a file, a flag, a config value): the message is for the user, on one line."""


def fail(message: str) -> NoReturn:
    raise BadInputError(message)


def exit_bad_input(message: str) -> NoReturn:
    """Print ``error: <message>`` on one line of stderr (no traceback) and exit with code 2."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def exit_on_bad_input(command: F) -> F:
    """The command, with ``BadInputError`` printed as ``error: <message>`` and exit code 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BadInputError as exc:
            exit_bad_input(str(exc))

    return run  # type: ignore[return-value]


def options_error(exc: ValidationError, names: Mapping[str, str] | None = None) -> BadInputError:
    """One line per problem: ``<name>: <what is wrong> (got <value>)``. ``names``: field -> how the user
    wrote it (``--valid-frac``); a failed check of several fields (``model_validator``) is its message."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"])
        msg = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
        if not field:
            parts.append(msg)
            continue
        where = (names or {}).get(str(err["loc"][0]), field)
        got = (
            "" if err["type"] in ("value_error", "extra_forbidden", "missing") else f" (got {err['input']!r})"
        )
        parts.append(f"{where}: {msg}{got}")
    return BadInputError("; ".join(parts))


def flag_names(fields: Mapping[str, Any]) -> dict[str, str]:
    """field -> its CLI flag (``valid_frac`` -> ``--valid-frac``)."""
    return {f: "--" + f.replace("_", "-") for f in fields}
