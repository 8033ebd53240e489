"""The ``batch-router`` Typer application object; command modules register on it."""

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


@app.callback()
def _root() -> None:
    """Offline LLM routing at batch scale. Run `batch-router COMMAND --help` for each command's options."""
