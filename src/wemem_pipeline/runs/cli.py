"""``kedro run`` for this project: Kedro's own command, with errors a user can fix printed as
one short block (what, where, what to do) and exit code 1. ``--verbose`` shows the traceback;
any other error (a bug) keeps Kedro's full report. ``kedro clean``: housekeeping of the
versioned artifacts in data/ (runs/housekeeping.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines

from .. import hide_library_warnings
from ..core.errors import UserError, user_error_in
from .housekeeping import apply_cleanup, describe, plan_cleanup
from .runners import check_worker_counts


@click.group(name="wemem-pipeline")
def cli() -> None:
    """Commands of the wemem-pipeline project."""


def _run(verbose: bool, **options: Any) -> Any:
    try:
        _check_pipeline_names(options["pipeline"], options["pipelines"])
        check_worker_counts(options["runner_params"])  # Kedro's own runners' too
        # Again: importing a plugin (MLflow, with the mlflow extra) resets warning filters.
        hide_library_warnings()
        return kedro_run.callback(**options)
    except Exception as error:
        user_error = user_error_in(error)
        if user_error is None or verbose:
            raise
        click.echo(error_block(user_error), err=True)
        sys.exit(1)


_KINDS = {
    "ParameterError": "parameter",
    "DataError": "data",
    "ArtifactError": "artifact",
    "ClusterError": "cluster",
}


def error_block(error: UserError, command: str = "run") -> str:
    """``error`` as the few lines the user reads; ``command``: the ``kedro`` command it stopped."""
    kind = _KINDS.get(type(error).__name__, "input")
    stopped = "the run stopped" if command == "run" else f"kedro {command} stopped"
    lines = [f"wemem-pipeline: {stopped} ({kind} problem)", f"  {error}"]
    if error.hint:
        lines.append(f"  What to do: {error.hint}")
    lines.append(f"  (kedro {command} --verbose ... shows the full traceback)")
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


@cli.command(name="clean")
@click.option(
    "--keep",
    type=int,
    default=3,
    show_default=True,
    help="Versions to keep per dataset, the newest (at least 1).",
)
@click.option("--delete", is_flag=True, help="Delete; without it, only print what would go.")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks of every error.")
@click.pass_obj
def clean(metadata: Any, keep: int, delete: bool, verbose: bool) -> None:
    """Delete old versions of the artifacts in data/.

    A dry run unless --delete: prints what would be deleted. Keeps per dataset the newest
    --keep versions, the newest version made by a completed run (the next run loads it) and
    the versions of runs still running; a run record goes with the last of its versions."""
    project = Path(metadata.project_path) if metadata else Path.cwd()
    try:
        plan = plan_cleanup(project, keep)
    except UserError as error:
        if verbose:
            raise
        click.echo(error_block(error, command="clean"), err=True)
        sys.exit(1)
    if delete:
        apply_cleanup(project, plan)
    click.echo(describe(plan, deleted=delete))
