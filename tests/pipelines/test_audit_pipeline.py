"""``kedro run --pipeline=audit --env=test``: a tiny audit end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro_project import latest, made_once, project_copy, run_kedro


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    def make(folder: Path):
        project = project_copy(folder)
        return project, run_kedro(project, "--pipeline=audit")

    return made_once(tmp_path_factory, "audit", make)


# Four models, four model kinds: a run of about 25 s. The fast set checks the audit's parts
# (tests/core/test_audit.py, test_online_attacks.py) and refuses its bad settings
# (test_pipelines.py); CI runs this one.
@pytest.mark.slow
def test_the_audit_reports_both_evaluations_for_every_model_kind(audited) -> None:
    project, result = audited
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "== Audit on digits ==" in output
    assert "Report: data/08_reporting/latest/audit/report.html" in output
    report = json.loads(latest(project, "08_reporting/audit/audit.json").read_text())
    kinds = {"dense", "base", "rsw", "swmr", "hamp"}
    assert set(report["evaluations"]) == {"population", "canaries", "memorable"}
    for by_stage in report["evaluations"].values():
        assert set(by_stage) == kinds
    assert any(sentence.startswith("SWMR against Base") for sentence in report["verdicts"])
    metrics = pd.read_csv(latest(project, "07_model_output/audit/audit_metrics.csv"))
    assert {"lira_online", "rmia_online", "lira", "correctness", "label_noise"} <= set(
        metrics["attack"]
    )
    population = metrics[metrics["evaluation"] == "population"]
    assert (population["targets"] == 4).all()  # every model the target once
    exposure = pd.read_csv(latest(project, "07_model_output/audit/record_exposure.csv"))
    assert exposure.groupby("stage")["canary"].sum().max() <= 10  # conf/test: 10 canaries
    page = latest(project, "08_reporting/audit/report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1
    summary = latest(project, "08_reporting/audit/audit.md").read_text()
    settings_used = summary.split("## Settings used")[1].splitlines()
    swmr = next(line for line in settings_used if line.startswith("| SWMR"))
    assert "window.width=0.55" in swmr and swmr.rstrip(" |").endswith("parameters")


# Every run of conf/test's compare grid (eight defenses) through a four-model audit: about
# 30 s after the default run. CI runs it; the fast set checks the verdict sentences
# (tests/core/test_audit.py).
@pytest.mark.slow
def test_compare_audits_base_and_every_run_of_its_grid(finished_run: Path, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    result = run_kedro(project, "--pipeline=compare", "--params", "compare.audit=true")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    comparison = pd.read_csv(latest(project, "08_reporting/compare/compare.csv"))
    stages = pd.read_csv(latest(project, "07_model_output/compare/audit_stages.csv"))
    runs = set(comparison["run"]) - {"Dense", "Base"}
    assert set(stages["stage"]) == {"dense", "base", *runs}
    defenses = {"rsw", "rmr", "swmr", "ppb", "advreg", "dpsgd", "relaxloss", "hamp"}
    assert set(stages["defense"]) == {"dense", "base", *defenses}
    summary = latest(project, "08_reporting/compare/compare.md").read_text()
    assert "## Worst case: every run through the audit" in summary
    assert "SWMR against the baseline runs:" in summary
    assert "### Evaluation: canaries (mislabeled records)" in summary
