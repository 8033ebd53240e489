"""Options shared by several commands, so their help text and parsing are the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError

from jobs.app import EXIT_BAD_INPUT
from jobs.config import JobConfig, load_config
from jobs.errors import exit_bad_input, options_error
from schemas.logs import LogColumns

ConfigOpt = typer.Option(None, "--config", help="YAML or TOML config file; CLI flags override it.")
MasterOpt = typer.Option(None, "--master", help="Spark master URL (default local[*]: no cluster needed).")
ColumnOpt = typer.Option(
    None,
    "--column",
    help="Rename a log column, LOGICAL=PHYSICAL (repeatable), e.g. --column prompt=question; a field "
    "nested in a JSON object or Parquet struct by its dotted path, e.g. --column messages=inputs.messages. "
    f"Logical names: {', '.join(LogColumns.model_fields)} (required: request_id, and prompt, messages or "
    "a request body).",
)
ApiKeyEnvOpt = typer.Option(
    None, "--api-key-env", help="Environment variable holding the API key (default OPENAI_API_KEY)."
)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """One line on stderr, no traceback, the documented exit code (2: bad input, as jobs.errors)."""
    if code == EXIT_BAD_INPUT:
        exit_bad_input(message)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def messages_policy_error(policy: str) -> str | None:
    """The one-line error for an unknown --messages-policy; None for a known one."""
    from router_core.text import MESSAGES_POLICIES

    if policy in MESSAGES_POLICIES:
        return None
    return f"--messages-policy must be one of {', '.join(MESSAGES_POLICIES)}, got '{policy}'"


def date_error(date: str | None) -> str | None:
    """The one-line error for a --date that is not a calendar day written YYYY-MM-DD; None when it is."""
    import datetime as _dt
    import re

    if date is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            _dt.date.fromisoformat(date)
            return None
    except ValueError:
        pass
    return f"--date must be YYYY-MM-DD, got '{date}'"


def name_list(names: list[str], limit: int = 12) -> str:
    """Names for a progress line: the first ``limit``, then how many more."""
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def parse_pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        if "=" not in v:
            fail(f"{what} must look like NAME=VALUE, got '{v}'")
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


def build_config(
    config: str | None, overrides: dict[str, Any], columns: list[str] | None = None
) -> JobConfig:
    ov = dict(overrides)
    for logical, physical in parse_pairs(columns, "--column").items():
        if logical not in LogColumns.model_fields:
            fail(f"--column {logical}={physical}: unknown column '{logical}'; logical names: "
                 f"{', '.join(LogColumns.model_fields)}")  # fmt: skip
        ov[f"logs.columns.{logical}"] = physical
    try:
        return load_config(config, ov)
    except FileNotFoundError as exc:
        fail(str(exc))
    except ValidationError as exc:  # which key, in one line, without pydantic's URL
        fail(f"invalid configuration: {options_error(exc)}")
    except Exception as exc:  # YAML / TOML syntax errors
        fail(f"cannot read config {config}: {' '.join(str(exc).split())}")
    raise AssertionError("unreachable")


def single_command_main(command: Callable[..., Any], argv: list[str], prog: str) -> int:
    """Run one CLI command as a script's main (``spark-submit jobs/route_logs.py ...``): the command's
    options with no subcommand, usage errors printed as the CLI prints them (exit 2, no traceback)."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command()(command)
    try:
        single(args=argv, prog_name=prog)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
