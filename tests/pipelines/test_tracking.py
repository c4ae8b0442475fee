"""Experiment tracking (``runs/tracking.py``): with kedro-mlflow installed (the ``mlflow``
extra, which CI installs) a run logs its parameters, its reports' headline numbers and its
report files to MLflow. Skipped without the extra."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kedro_project import project_copy, run_kedro

from wemem_pipeline.core.reports.tables import strongest
from wemem_pipeline.runs.tracking import REPORTING_DIR, flatten

# A minute or more, and only with the mlflow extra, which the README's test install leaves out.
pytestmark = pytest.mark.slow
pytest.importorskip("kedro_mlflow")
from mlflow import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def tracked(
    finished_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, MlflowClient]:
    """``kedro run --pipeline=reporting`` on a copy of the session's finished run, tracked to
    a store of its own (the suite turns tracking off elsewhere: ``WEMEM_TRACKING``)."""
    root = tmp_path_factory.mktemp("tracking")
    project = project_copy(root)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    store = root / "mlruns"
    (project / "conf" / "test" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: sqlite:///{store}/mlflow.db\n"
        "tracking:\n  experiment:\n    create_experiment_kwargs:\n"
        f"      artifact_location: {store}/artifacts\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEMEM_TRACKING", "on")
        result = run_kedro(project, "--pipeline=reporting")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Experiment tracking failed" not in result.stdout + result.stderr
    return project, MlflowClient(f"sqlite:///{store}/mlflow.db")


def test_the_run_is_tracked_with_its_parameters_numbers_and_reports(tracked, tmp_path):
    project, client = tracked
    [run] = client.search_runs([client.get_experiment_by_name("wemem_pipeline").experiment_id])
    assert run.info.status == "FINISHED"
    version = run.data.tags["run_id"]  # the Kedro run's id, its artifacts' version
    reporting = project / REPORTING_DIR
    report = json.loads((reporting / "report.json" / version / "report.json").read_text())

    # Every parameter the run used, a leaf each.
    expected = {name: str(value) for name, value in flatten(report["parameters"]).items()}
    assert expected.items() <= run.data.params.items()

    # Per model: the numbers the report and the console summary give.
    metrics = {}
    for model in report["models"]:
        prefix, attacks = f"report.{model['name']}", model["attacks"]
        metrics[f"{prefix}.test_accuracy"] = model["test_accuracy"]
        metrics[f"{prefix}.auc"] = strongest(attacks, "auc")[1]
        metrics[f"{prefix}.tpr_at_1pct_fpr"] = strongest(attacks, "tpr_at_1pct_fpr")[1]
    assert run.data.metrics == pytest.approx(metrics, rel=1e-12)

    # The files the run wrote under data/08_reporting, as artifacts.
    written = {path.name for path in reporting.glob(f"*/{version}/*")}
    assert {"report.md", "report.json", "report.csv", "roc_curves.png"} <= written
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert artifacts == written
    logged = Path(client.download_artifacts(run.info.run_id, "report.md", str(tmp_path)))
    assert logged.read_bytes() == (reporting / "report.md" / version / "report.md").read_bytes()
