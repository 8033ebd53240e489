"""The ``batch-router`` Typer application object; command modules register on it."""

import warnings

import typer

app = typer.Typer(
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
