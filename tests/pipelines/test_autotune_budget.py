"""The accuracy budget on the real victim (issue 27): with the shipped settings on `digits`,
the SWMR setting autotune chooses costs the victim no more accuracy than the budget plus the
margin its report states (the standard errors of the study's estimate and of the victim's
own measure), for seeds 0, 1 and 2.

Measured 2026-12-07: the victim lost 0.000, 0.014 and 0.026 against budgets plus margins of
0.031 to 0.032; the study had predicted 0.000, 0.001 and 0.010 (docs/autotune.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro_project import latest, project_copy, run_kedro

from wemem_pipeline.core.reports.scenario import budget_margin


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_chosen_setting_keeps_the_budget_on_the_victim(seed: int, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    for pipeline, params in (
        ("autotune", f"seed={seed}"),
        ("scenario3", f"seed={seed},scenario3.settings=auto"),
    ):
        result = run_kedro(project, f"--pipeline={pipeline}", "--params", params, env="local")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(latest(project, "08_reporting/scenario3/report.json").read_text())
    estimate = report["defense_settings"]["autotune"]["estimate"]
    accuracy = {model["name"]: model["test_accuracy"] for model in report["models"]}
    lost = accuracy["base"] - accuracy["swmr"]
    samples = report["chance_accuracy"]["test_samples"]
    allowed = estimate["max_accuracy_loss"] + budget_margin(estimate, accuracy["base"], samples)
    print(  # the figures docs/autotune.md quotes (pytest -s)
        f"seed {seed}: predicted {estimate['accuracy_loss']:.3f} ± {estimate['accuracy_noise']:.3f}"
        f" ({estimate.get('loss_measured_on')}), victim lost {lost:.3f}, at most {allowed:.3f}"
    )
    assert lost <= allowed, f"seed {seed}: the victim lost {lost:.3f}, at most {allowed:.3f}"
    markdown = latest(project, "08_reporting/scenario3/report.md").read_text()
    assert f"the victim lost {lost:.3f} with SWMR" in markdown and "within the budget" in markdown
