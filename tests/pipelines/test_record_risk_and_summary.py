"""What a run ends with (its summary and where its reports are) and the per-record risk it
writes, on the session's default test-env run and its two-seed scenario3 run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro_project import RUN_OUTPUT, latest, project_copy

from wemem_pipeline.core.record_risk import RISK_ATTACKS
from wemem_pipeline.core.reports.titles import title


def _summary_blocks(project: Path) -> dict[str, str]:
    """The end-of-run summary's blocks by heading."""
    text = (project / RUN_OUTPUT).read_text()
    return dict(re.findall(r"^== (.+?) ==\n(.*?)(?=^== |\Z)", text, flags=re.M | re.S))


def test_the_run_ends_with_what_each_report_found_and_where_it_is(finished_run: Path) -> None:
    blocks = _summary_blocks(finished_run)
    assert list(blocks) == [
        "Membership leakage of pruning on digits",
        "scenario1: RSW on digits",
        "scenario2: RMR on digits",
        "scenario3: SWMR on digits",
        "Defense comparison",
    ]
    block = blocks["scenario3: SWMR on digits"]
    report = json.loads(latest(finished_run, "08_reporting/scenario3/report.json").read_text())
    for model in report["models"]:
        auc = max(attack["auc"] for attack in model["attacks"].values())
        row = next(line for line in block.splitlines() if line.startswith(title(model["name"])))
        assert f"{model['test_accuracy']:.3f}" in row and f"{auc:.3f}" in row
    verdicts = report["verdicts"]
    assert f"AUC {verdicts['auc']}" not in block  # the verdict follows the numbers
    assert f", {verdicts['auc']};" in block and f", {verdicts['tpr_at_1pct_fpr']};" in block
    path = re.search(r"^Report: (\S+)$", block, flags=re.M).group(1)
    assert path == "data/08_reporting/latest/scenario3/report.html"
    own = re.search(r"^  \(this run's version: (\S+)\)$", block, flags=re.M).group(1)
    assert (finished_run / own) == latest(finished_run, "08_reporting/scenario3/report.html")


def test_a_multi_seed_run_summarizes_its_aggregate(seed_run: Path) -> None:
    blocks = _summary_blocks(seed_run)
    (heading,) = blocks
    assert heading.startswith("scenario3: SWMR on digits, seeds [0, 2]")
    assert "paired over 2 seeds" in blocks[heading]
    assert "Report: data/08_reporting/latest/scenario3-seeds/report.html" in blocks[heading]
    assert "scenario3/seeds/report.html/" in blocks[heading]


def test_record_risk_agrees_with_the_attack_metrics(finished_run: Path) -> None:
    """A member is caught at 1% FPR by LiRA exactly when its LiRA exposure is <= 1%, so the
    share of such members is LiRA's TPR@1%FPR in the attack metrics, model by model."""
    risk = pd.read_parquet(latest(finished_run, "07_model_output/scenario3/record_risk.parquet"))
    metrics = pd.read_csv(latest(finished_run, "07_model_output/scenario3/attack_metrics.csv"))
    report = json.loads(latest(finished_run, "08_reporting/scenario3/report.json").read_text())
    last_round = max(row["round"] for row in report["rounds"])
    stages = {"dense": "dense", "base": "base", "swmr": f"swmr_round_{last_round}"}
    assert list(risk["model"].unique()) == list(stages)
    for model, stage in stages.items():
        rows = risk[risk["model"] == model]
        assert len(rows) == report["evaluation"]["members"] == rows["sample_index"].nunique()
        assert rows["risk_rank"].tolist() == list(range(1, len(rows) + 1))
        assert rows["exposure_fpr"].is_monotonic_increasing
        for attack in RISK_ATTACKS:
            recorded = metrics[(metrics["stage"] == stage) & (metrics["attack"] == attack)]
            caught = (rows[f"{attack}_fpr"] <= 0.01).mean()
            assert caught == pytest.approx(recorded["tpr_at_1pct_fpr"].item())
    swmr = risk[risk["model"] == "swmr"]
    assert swmr["rounds_trained"].max() <= last_round + 1
    assert (swmr["uses_total"] == swmr.filter(like="uses_round_").sum(axis=1)).all()
    assert (
        "## Which records leak"
        in latest(finished_run, "08_reporting/scenario3/report.md").read_text()
    )
    for plot in ("record_risk.png", "exposed_records.png"):
        assert latest(finished_run, f"08_reporting/scenario3/{plot}").stat().st_size > 10_000


def test_library_warnings_a_user_cannot_act_on_are_not_shown(tmp_path: Path) -> None:
    """Kedro's `--pipeline` deprecation and OmegaConf's resolver warning stay hidden; the run
    is refused here at its parameter check, after both would have been printed."""
    project = project_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    command = [sys.executable, "-m", "kedro", "run", "--env=test"]  # Python's own filters
    result = subprocess.run(
        [*command, "--pipeline=data_split", "--params", "seed=-1"],
        cwd=project,
        env={**env, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"},
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "seed" in output, output[-2000:]
    assert "deprecated" not in output and "register_new_resolver" not in output, output[-3000:]
