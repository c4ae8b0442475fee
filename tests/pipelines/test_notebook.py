"""``notebooks/explore_a_run.ipynb`` runs headless on a finished test-env run, and says which
command to run first in a project without one."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from kedro_project import ROOT, project_copy
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOK = ROOT / "notebooks" / "explore_a_run.ipynb"


def _execute(project: Path) -> nbformat.NotebookNode:
    """The notebook executed in ``project/notebooks`` (Kedro finds the project from there)."""
    (project / "notebooks").mkdir(exist_ok=True)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    path = {"metadata": {"path": str(project / "notebooks")}}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=path).execute()
    return notebook


def test_the_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "%load_ext kedro.ipython" in code[1].source
    assert code[0].metadata.get("tags") == ["parameters"]  # papermill can set the scenario


def test_the_notebook_shows_a_finished_run(finished_run: Path, tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    shutil.rmtree(project / "data")
    shutil.copytree(finished_run / "data", project / "data")
    notebook = _execute(project)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    run_id = sorted((project / "data" / "09_runs").glob("*.json"))[-1].stem
    assert f"Run {run_id} (kedro run --pipelines=__default__ --env=test)" in printed
    assert "scenario3: swmr on digits" in printed
    assert "most_exposed_shared" in printed
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 6  # mem-scores, rounds, ROC, accuracy-leakage, record risk, grid
    assert not [o for o in outputs if o.output_type == "error"]


# A kernel's start-up for one cell; the fast set executes the whole notebook on a finished run
# (above), and the project's loader refuses a missing run in test_run_records.py.
@pytest.mark.slow
def test_the_notebook_before_any_run_says_what_to_run(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    with pytest.raises(CellExecutionError) as raised:
        _execute(project)
    assert raised.value.ename == "ArtifactError"
    assert raised.value.evalue.startswith("no completed run in ")
    assert raised.value.evalue.endswith(f"run `kedro run --pipeline=scenario3` in {project} first")
