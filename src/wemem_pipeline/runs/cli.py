"""``kedro run`` for this project: Kedro's own command, with errors a user can fix printed as
one short block (what, where, what to do) and exit code 1: the project's own refusals, the
faults of the disk (runs/faults.py) and the mistakes in Kedro's options and conf/
(runs/run_options.py). ``--verbose`` shows the traceback, and every dataset load and save
that conf/logging.yml leaves out of the log; any other error (a bug) keeps Kedro's full
report. ``kedro clean``: housekeeping of the versioned artifacts in data/
(runs/housekeeping.py)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import LOGGING, pipelines

from .. import hide_library_warnings
from ..core.errors import UserError, causes
from .faults import storage_fault
from .housekeeping import apply_cleanup, describe, plan_cleanup
from .run_options import check_env, check_options, check_runner, deferring_refusals, explain
from .runners import check_worker_counts


@click.group(name="wemem-pipeline")
def cli() -> None:
    """Commands of the wemem-pipeline project."""


def _run(verbose: bool, **options: Any) -> Any:
    if verbose:
        log_catalog_loads_and_saves()
    try:
        check_options(options)
        check_env(options)
        _check_pipeline_names(options["pipeline"], options["pipelines"])
        check_runner(options["runner"], options["runner_params"])
        check_worker_counts(options["runner_params"])  # Kedro's own runners' too
        # Again: importing a plugin (MLflow, with the mlflow extra) resets warning filters.
        hide_library_warnings()
        return kedro_run.callback(**options)
    except Exception as error:
        user_error = _what_to_fix(error, options)
        if user_error is None or verbose:
            raise
        click.echo(error_block(user_error), err=True)
        sys.exit(1)


CATALOG_LOGGER = "kedro.io.data_catalog"


def log_catalog_loads_and_saves() -> None:
    """Log the data catalog's "Loading data from" / "Saving data to" lines (conf/logging.yml
    keeps them out): in this process and in the worker processes Kedro starts with its
    logging settings."""
    settings = copy.deepcopy(LOGGING.data)
    settings.setdefault("loggers", {})[CATALOG_LOGGER] = {"level": "INFO"}
    LOGGING.configure(settings)


def _what_to_fix(error: Exception, options: dict[str, Any]) -> UserError | None:
    """The problem behind ``error`` that the user can fix: the latest :class:`UserError` or
    fault of the disk among its causes, else a mistake in the options or in conf/ that Kedro
    raised it for; ``None`` for anything else (a bug)."""
    project = _project()
    for cause in causes(error):
        if isinstance(cause, UserError):
            return cause
        if isinstance(cause, OSError) and storage_fault(cause, project) is not None:
            break
    return storage_fault(error, project) or explain(error, options)


def _project() -> Path:
    metadata = click.get_current_context().obj
    return Path(metadata.project_path) if metadata else Path.cwd()


_KINDS = {
    "ParameterError": "parameter",
    "DataError": "data",
    "ArtifactError": "artifact",
    "CommandLineError": "command-line",
    "ConfigurationError": "configuration",
    "StorageError": "disk",
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
        *deferring_refusals(kedro_run.params),
        click.Option(
            ["--verbose", "-v"],
            is_flag=True,
            help="Log every dataset load and save, and show tracebacks of every error.",
        ),
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
