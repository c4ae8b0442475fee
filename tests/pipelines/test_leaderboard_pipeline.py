"""``kedro run --pipeline=leaderboard --env=test``: every defense of the compare runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro_project import latest, project_copy, run_kedro


def test_without_a_compare_run_the_leaderboard_says_what_to_run(tmp_path: Path) -> None:
    result = run_kedro(project_copy(tmp_path), "--pipeline=leaderboard")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "found no completed compare run made with --env=test" in output
    assert "kedro run --env=test --pipeline=compare" in output and "Traceback" not in output


# Compare of conf/test's grid with its audit, then the leaderboard (about 35 s after the
# default run); the fast set checks the ranking itself (tests/core/test_leaderboard.py).
@pytest.mark.slow
def test_the_leaderboard_ranks_the_compare_run_and_refuses_a_damaged_table(
    finished_run: Path, tmp_path: Path
) -> None:
    project = project_copy(tmp_path)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    result = run_kedro(project, "--pipeline=compare", "--params", "compare.audit=true")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    result = run_kedro(project, "--pipeline=leaderboard")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "== Leaderboard ==" in output
    assert "Report: data/08_reporting/latest/leaderboard/report.html" in output
    comparison = pd.read_csv(latest(project, "08_reporting/compare/compare.csv"))
    table = pd.read_csv(latest(project, "08_reporting/leaderboard/leaderboard.csv"))
    assert table["run"].tolist() == comparison["run"].tolist()
    assert (table["dataset"] == "digits").all() and (table["seeds"] == 1).all()
    assert table["worst_case"].notna().all()  # every run went through the audit
    assert table["front_population"].any() and table["front_worst_case"].any()
    fronts = pd.read_csv(latest(project, "08_reporting/leaderboard/fronts.csv"))
    assert set(fronts["defense"]) == set(comparison["defense"]) - {"dense"}
    summary = latest(project, "08_reporting/leaderboard/leaderboard.md").read_text()
    assert "## `digits` (1 seed, settings as configured)" in summary and "- SWMR: " in summary
    page = latest(project, "08_reporting/leaderboard/report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1

    compare_file = latest(project, "08_reporting/compare/compare.csv")
    compare_file.write_text(compare_file.read_text().replace("Base", "Bose"))
    result = run_kedro(project, "--pipeline=leaderboard")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "compare_table" in output and "changed or damaged after it was saved" in output
