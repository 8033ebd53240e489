"""The ``batch-router`` Typer application object; command modules register on it."""

import inspect
import warnings

import click
import typer
from typer.core import TyperGroup

# `--help` lists the commands in the order of the workflow, not in the order their modules register.
WORKFLOW_ORDER = ["validate", "train", "evaluate", "route", "savings", "label", "batch"]  # as in the README


class CommandGroup(TyperGroup):
    """Lists its commands in WORKFLOW_ORDER, each with its docstring's first paragraph on flowing lines,
    and each command's own help on flowing lines (Typer would keep the docstring's own line breaks)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        rank = {name: i for i, name in enumerate(WORKFLOW_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None and cmd.short_help is None and cmd.help:
            paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(cmd.help).split("\n\n")]
            cmd.short_help = paragraphs[0]
            cmd.help = "\n\n".join(paragraphs)  # `COMMAND --help` flows too
        return cmd


app = typer.Typer(
    cls=CommandGroup,
    name="batch-router",
    help=(
        "Offline LLM routing at batch scale: validate prompt logs, train routers, route logs with Spark "
        "(labels, cost projections, Batch-API dispatch files) and estimate savings."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2


def _plain_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    # Our warnings are messages to the user about their data, not to a developer about a source line.
    return f"warning: {message}\n"


@app.callback()
def _root() -> None:
    """Offline LLM routing at batch scale. Run `batch-router COMMAND --help` for each command's options."""
    warnings.formatwarning = _plain_warning
