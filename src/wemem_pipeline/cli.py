"""``kedro run`` for this project: Kedro's own command, with errors a user can fix printed as
one short block (what, where, what to do) and exit code 1. ``--verbose`` shows the traceback;
any other error (a bug) keeps Kedro's full report."""

from __future__ import annotations

import sys
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines

from .core.errors import UserError, user_error_in
from .runners import check_worker_counts


@click.group(name="wemem-pipeline")
def cli() -> None:
    """Commands of the wemem-pipeline project."""


def _run(verbose: bool, **options: Any) -> Any:
    try:
        _check_pipeline_names(options["pipeline"], options["pipelines"])
        check_worker_counts(options["runner_params"])  # Kedro's own runners' too
        return kedro_run.callback(**options)
    except Exception as error:
        user_error = user_error_in(error)
        if user_error is None or verbose:
            raise
        click.echo(error_block(user_error), err=True)
        sys.exit(1)


_KINDS = {"ParameterError": "parameter", "DataError": "data", "ArtifactError": "artifact"}


def error_block(error: UserError) -> str:
    """``error`` as the few lines the user reads."""
    kind = _KINDS.get(type(error).__name__, "input")
    lines = [f"wemem-pipeline: the run stopped ({kind} problem)", f"  {error}"]
    if error.hint:
        lines.append(f"  What to do: {error.hint}")
    lines.append("  (kedro run --verbose ... shows the full traceback)")
    return "\n".join(lines)


def _check_pipeline_names(pipeline: str | None, pipeline_list: Any) -> None:
    names = [pipeline] if pipeline else list(pipeline_list or [])
    known = sorted(pipelines.keys())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(
            f"no pipeline named {', '.join(map(repr, unknown))}",
            hint=f"use one of: {', '.join(known)}",
        )


run = click.Command(
    "run",
    params=[
        *kedro_run.params,
        click.Option(["--verbose", "-v"], is_flag=True, help="Show tracebacks of every error."),
    ],
    callback=_run,
    help=kedro_run.help,
)
cli.add_command(run)
