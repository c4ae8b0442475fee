"""Experiment tracking with MLflow, where kedro-mlflow is installed (the ``mlflow`` extra).

kedro-mlflow's hooks start an MLflow run before the pipeline (configured by
``conf/base/mlflow.yml``), log the parameters its nodes take and end the run. This module adds
what the project knows at the end: the whole parameter tree the run used, the headline numbers
of every report the run wrote as metrics (``<report>.<model>.<metric>``, the numbers the
console summary prints) and the run's report files as artifacts.

Nothing here imports MLflow before it finds a run in progress, which only kedro-mlflow starts:
without the extra nothing changes and nothing is paid.
``WEMEM_TRACKING=off`` turns kedro-mlflow's hooks off (``settings.py``), the test-suite's way
of not creating a tracking store in every project copy.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SWITCH = "WEMEM_TRACKING"
_OFF = {"off", "0", "false", "no"}

REPORTING_DIR = Path("data") / "08_reporting"
_DEFAULT_REPORT = "report"  # the default pipeline's report lies at the top of REPORTING_DIR


def switched_off() -> bool:
    """Whether ``WEMEM_TRACKING`` turns tracking off for this process."""
    return os.environ.get(SWITCH, "").strip().lower() in _OFF


def active_run_id() -> str | None:
    """The MLflow run in progress in this thread (kedro-mlflow starts it before the pipeline
    and ends it after, before the project's own ``after_pipeline_run``), or None."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    run = mlflow.active_run()
    return None if run is None else run.info.run_id


def end_refused_run(error: Exception) -> None:
    """End kedro-mlflow's run as FAILED, with the error as its ``error`` tag, for a run that
    the project's checks refused before its first node: Kedro calls no error hook then, and
    the run would end as FINISHED when the process exits."""
    run_id = active_run_id()
    if run_id is None:
        return
    import mlflow
    from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

    mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:MAX_TAG_VAL_LENGTH])
    mlflow.end_run("FAILED")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``; lists and other values stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def key(*parts: str) -> str:
    """An MLflow param or metric name of ``parts`` joined by dots; any character but letters,
    digits and ``_-./`` becomes ``_`` (``compare.PPB_lambda_4.auc``)."""
    return ".".join(re.sub(r"[^\w\-./]", "_", str(part)).strip("/") or "_" for part in parts)


def log_parameters(run_id: str, parameters: Mapping[str, Any]) -> None:
    """Every leaf of the run's parameter tree (``model.name``, ``training.max_epochs``...),
    as kedro-mlflow logs the ones its nodes take; those it logged already are left as they
    are. A value past MLflow's length limit becomes a tag, as ``long_params_strategy: tag``."""
    from mlflow.entities import Param, RunTag
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

    client = _client()
    logged = client.get_run(run_id).data.params
    params, tags = [], []
    for name, value in flatten(parameters).items():
        name, text = key(name), str(value)
        if name in logged:
            continue
        if len(text) <= MAX_PARAM_VAL_LENGTH:
            params.append(Param(name, text))
        else:
            tags.append(RunTag(name, text[:MAX_TAG_VAL_LENGTH]))
    client.log_batch(run_id, params=params, tags=tags)


def log_results(
    run_id: str,
    project: Path,
    version: str,
    headlines: Iterable[tuple[Mapping[str, Mapping[str, float]], Path]],
) -> None:
    """The headline numbers as metrics and the run's report files as artifacts.

    ``headlines``: each report's ``{model: {metric: value}}`` and its markdown file, of
    version ``version`` (the Kedro run's id). A report's name is its folder under
    ``data/08_reporting`` (``scenario3``, ``compare/seeds``... with dots), so
    ``scenario3.swmr.auc`` is the strongest AUC against SWMR in ``scenario3/report.md``;
    the default pipeline's report is ``report``. Artifacts keep their folders.
    """
    from mlflow.entities import Metric

    reporting = (project / REPORTING_DIR).resolve()
    now = int(time.time() * 1000)
    metrics = [
        Metric(key(report_name(project / markdown, reporting), model, metric), float(value), now, 0)
        for numbers, markdown in headlines
        for model, values in numbers.items()
        for metric, value in values.items()
        if value is not None
    ]
    client = _client()
    client.log_batch(run_id, metrics=metrics)
    for path, folder in report_files(reporting, version):
        client.log_artifact(run_id, str(path), folder)


def report_name(markdown: Path, reporting: Path) -> str:
    """``scenario3`` for ``data/08_reporting/scenario3/report.md/<version>/report.md``."""
    # A versioned file lies at <dataset path>/<version>/<file name>.
    folder = markdown.resolve().parent.parent.parent
    if not folder.is_relative_to(reporting):  # a catalog entry moved elsewhere
        return folder.name
    return ".".join(folder.relative_to(reporting).parts) or _DEFAULT_REPORT


def report_files(reporting: Path, version: str) -> list[tuple[Path, str | None]]:
    """Every file of version ``version`` under ``reporting``, with its artifact folder: the
    folder of its dataset path (``scenario3`` for ``scenario3/report.md/<version>/report.md``),
    None at the top."""
    files = []
    for path in sorted(reporting.glob(f"**/{version}/*")):
        if path.is_file():
            folder = path.parent.parent.parent.relative_to(reporting).as_posix()
            files.append((path, None if folder == "." else folder))
    return files


def _client() -> Any:
    """A client of the store kedro-mlflow set up (``server.mlflow_tracking_uri``)."""
    import mlflow

    return mlflow.MlflowClient(tracking_uri=mlflow.get_tracking_uri())
