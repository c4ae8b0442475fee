"""Paths from parameters stay inside the project (``runs/project_paths.py``): resolved against
the project root before the first node, refused when a relative path leads out of it, logged
when an absolute one points outside it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from kedro.io import DataCatalog
from kedro_project import made_once, project_copy, run_kedro_each

from wemem_pipeline.core.errors import ParameterError
from wemem_pipeline.runs.project_paths import (
    PATH_PARAMETERS,
    point_stored_models,
    project_relative,
    resolve_paths,
    use_project_paths,
)

PROJECT = Path("/work/project")


def with_path(name: str, value) -> dict:
    section, key = name.split(".")
    return {"seed": 0, section: {key: value, "other": "kept"}}


@pytest.mark.parametrize("name", PATH_PARAMETERS)
def test_a_relative_path_is_read_from_the_project_root(name: str) -> None:
    section, key = name.split(".")
    resolved = resolve_paths(with_path(name, "data/./x/../input.csv"), PROJECT)
    assert resolved[section] == {key: "/work/project/data/input.csv", "other": "kept"}


@pytest.mark.parametrize("name", PATH_PARAMETERS)
def test_a_relative_path_out_of_the_project_is_refused(name: str) -> None:
    with pytest.raises(ParameterError) as refused:
        resolve_paths(with_path(name, "data/../../x.journal"), PROJECT)
    assert f"{name}='data/../../x.journal' leads outside the project (to /work/x.journal)" in (
        str(refused.value)
    )
    assert f"--params {name}=/work/x.journal" in refused.value.hint


def test_absolute_paths_outside_are_taken_and_logged_once(caplog) -> None:
    parameters = {
        "dataset": {"path": "/srv/data/mine.csv", "raw_dir": "/work/project/data/01_raw"},
        "autotune": {"storage": "~/studies.journal"},
    }
    with caplog.at_level(logging.INFO, logger="wemem_pipeline.runs.project_paths"):
        resolved = resolve_paths(parameters, PROJECT)
    assert resolved["dataset"]["path"] == "/srv/data/mine.csv"
    assert resolved["autotune"]["storage"] == str(Path.home() / "studies.journal")
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        f"Paths outside the project: dataset.path=/srv/data/mine.csv, autotune.storage="
        f"{Path.home() / 'studies.journal'}"
    ]


@pytest.mark.parametrize("value", [None, "", 3, "s3://bucket/model.pt"])
def test_values_that_are_no_local_paths_are_left_to_the_parameter_checks(value) -> None:
    assert resolve_paths(with_path("attack_stored.file", value), PROJECT) == with_path(
        "attack_stored.file", value
    )


def test_a_data_folder_that_links_elsewhere_stays_inside(tmp_path: Path) -> None:
    """Paths are normalized as written: data/ may be a link to a larger disk."""
    project, disk = tmp_path / "project", tmp_path / "disk"
    project.mkdir()
    disk.mkdir()
    (project / "data").symlink_to(disk)
    resolved = resolve_paths(with_path("autotune.storage", "data/studies.journal"), project)
    assert resolved["autotune"]["storage"] == str(project / "data/studies.journal")


def test_records_keep_the_project_relative_spelling() -> None:
    settings = {
        "dataset": {"name": "file", "path": "/work/project/inputs/mine.csv"},
        "memorability": {"victim_scores_path": "/srv/v.csv", "method": "import"},
        "seed": 0,
    }
    assert project_relative(settings, PROJECT) == {
        "dataset": {"name": "file", "path": "inputs/mine.csv"},
        "memorability": {"victim_scores_path": "/srv/v.csv", "method": "import"},
        "seed": 0,
    }


def test_the_stored_model_file_is_opened_from_the_project_root(tmp_path, monkeypatch) -> None:
    """``attack_stored.file`` reaches the catalog as given on the command line; a node in
    another working directory (a subfolder, a Dask worker) still opens the project's file."""
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    torch.save({"weight": torch.ones(2)}, project / "models/victim.pt")
    entry = {
        "type": "wemem_pipeline.catalog_datasets.torch_state_dicts.StoredModelsDataset",
        "filepath": str(project / "data/06_models/iterative_models.pt"),
        "file": "models/victim.pt",
        "versioned": True,
    }
    catalog = DataCatalog.from_config({"stored_models": entry})
    catalog["parameters"] = {"attack_stored": {"file": "models/victim.pt"}}
    point_stored_models(catalog, use_project_paths(catalog, project))
    monkeypatch.chdir(tmp_path)
    stored = catalog.load("stored_models")
    assert torch.equal(stored["victim"]["weight"], torch.ones(2))


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def data_split_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``--pipeline=data_split`` on a CSV: named relative to the project root and started in
    a subfolder (conf/), and named by an absolute path outside the project."""
    return made_once(tmp_path_factory, "project_paths", data_split_in_and_out)


def data_split_in_and_out(folder: Path) -> dict:
    rows = "a,b,label\n" + "\n".join(f"{i % 7},{(3 * i) % 11},{i % 2}" for i in range(120))
    for name in ("inside", "outside"):
        (folder / name).mkdir()
    inside = project_copy(folder / "inside")
    (inside / "inputs").mkdir()
    (inside / "inputs/mine.csv").write_text(rows)
    outside = project_copy(folder / "outside")
    csv = outside.parent / "mine.csv"
    csv.write_text(rows)
    file = "dataset.name=file,dataset.label_column=label,dataset.path={}"
    runs = {
        "inside": (
            inside / "conf",
            ["--pipeline=data_split", "--params", file.format("inputs/mine.csv")],
        ),
        "outside": (outside, ["--pipeline=data_split", "--params", file.format(csv)]),
    }
    results = run_kedro_each(list(runs.values()))
    projects = {"inside": inside, "outside": outside}
    return {name: (projects[name], result) for name, result in zip(runs, results, strict=True)}


def record(project: Path) -> dict:
    (path,) = (project / "data/09_runs").glob("*.json")
    return json.loads(path.read_text())


def test_a_run_from_a_subfolder_reads_relative_paths_from_the_project_root(data_split_runs):
    project, result = data_split_runs["inside"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert record(project)["settings"]["dataset"]["path"] == "inputs/mine.csv"
    assert "outside the project" not in result.stdout + result.stderr


def test_an_absolute_path_outside_the_project_is_logged_once(data_split_runs):
    project, result = data_split_runs["outside"]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    csv = project.parent / "mine.csv"
    assert output.count("Paths outside the project") == 1
    assert f"Paths outside the project: dataset.path={csv}" in output
    assert record(project)["settings"]["dataset"]["path"] == str(csv)
