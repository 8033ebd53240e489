"""The top-level `--help`: the commands in the order a team uses them, each summary on flowing lines."""

from __future__ import annotations

from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command)
from jobs.app import WORKFLOW_ORDER, app


def test_commands_are_listed_in_workflow_order_with_flowing_summaries():
    res = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    first_words = [line.split()[1] for line in res.output.splitlines() if len(line.split()) > 1]
    commands = [word for word in first_words if word in WORKFLOW_ORDER]
    assert commands == WORKFLOW_ORDER
    # The docstring's own line break (after "random") is not kept in the summary.
    assert "a TF-IDF baseline, random routing and the oracle" in res.output


def test_subcommand_summaries_flow_too():
    res = CliRunner().invoke(app, ["label", "--help"], terminal_width=200)
    assert res.exit_code == 0
    assert "or call the judge directly with" in res.output


def test_every_command_that_reads_logs_lists_the_batch_formats():
    for command in (["validate"], ["route"], ["savings"], ["label", "sample"]):
        res = CliRunner().invoke(app, [*command, "--help"], terminal_width=400)
        assert res.exit_code == 0, command
        flowing = " ".join(res.output.replace("│", " ").split())
        assert "openai_batch (OpenAI or Azure OpenAI Batch input)" in flowing, command
        assert "anthropic_batch (Anthropic Message Batches requests)" in flowing, command


def test_a_commands_own_help_flows_too():
    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "(bundled MiniLM by default), fits the base scorers and the stacked default score" in res.output
