"""``kedro viz build --include-previews`` of a finished run: the catalog's layers group the
flowchart in pipeline order, and the static site holds previews of the run's report tables,
plots and JSON reports; built without the network."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kedro_project import latest, made_once, project_copy

from wemem_pipeline.runs.seed_branches import seed_catalog

LAYERS = ["raw", "split", "features", "models", "attack_outputs", "reporting"]

# Loaded by every Python process of the build (``sitecustomize`` through PYTHONPATH, so the
# build's worker process too): an internet connection is refused and written down.
_OFFLINE = """\
import os, socket

_connect = socket.socket.connect


def _refuse(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(os.environ["VIZ_TEST_CONNECTIONS"], "a") as log:
            log.write(f"{address}\\n")
        raise OSError("no network in the kedro viz build test")
    return _connect(self, address, *args)


socket.socket.connect = _refuse
"""


@pytest.fixture(scope="module")
def site(finished_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``kedro viz build --include-previews`` in a copy of the finished run: its project,
    the built ``api/`` folder, the nodes of ``api/main`` by name and the connections tried."""
    return made_once(tmp_path_factory, "viz", lambda scratch: build_site(finished_run, scratch))


def build_site(finished_run: Path, scratch: Path) -> dict[str, Any]:
    project = project_copy(scratch)
    shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
    (scratch / "offline").mkdir()
    (scratch / "offline" / "sitecustomize.py").write_text(_OFFLINE)
    connections = scratch / "connections.log"
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(
            [str(scratch / "offline"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "VIZ_TEST_CONNECTIONS": str(connections),
    }
    command = [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"]
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    seconds = time.perf_counter() - start
    api = project / "build" / "api"
    # kedro viz build reports its own failures and still exits 0: look for the files.
    assert result.returncode == 0 and (api / "main").is_file(), result.stdout + result.stderr
    main = json.loads((api / "main").read_text())
    return {
        "project": project,
        "api": api,
        "main": main,
        "nodes": {node["name"]: node for node in main["nodes"]},
        "connections": connections.read_text() if connections.exists() else "",
        "seconds": seconds,
    }


def metadata(site: dict[str, Any], name: str) -> dict[str, Any]:
    """The built ``api/nodes/<id>`` file of dataset ``name``: what a click on it shows."""
    return json.loads((site["api"] / "nodes" / site["nodes"][name]["id"]).read_text())


def test_the_build_needs_no_network(site: dict[str, Any]) -> None:
    assert site["connections"] == ""
    assert (site["api"].parent / "index.html").is_file()
    print(f"kedro viz build --include-previews: {site['seconds']:.1f} s")


def test_layers_group_the_flowchart_in_pipeline_order(site: dict[str, Any]) -> None:
    assert site["main"]["layers"] == LAYERS
    # The whole experiments (a part-pipeline's free inputs come in any order). A scenario's
    # collapsed box links its inputs' layers to its outputs': [] if that makes a cycle.
    for pipeline in ("__default__", "scenario1", "scenario2", "scenario3"):
        built = json.loads((site["api"] / "pipelines" / pipeline).read_text())
        assert built["layers"] == LAYERS, pipeline
    layers = {name: node.get("layer") for name, node in site["nodes"].items()}
    assert {
        "dataset": "raw",
        "splits": "split",
        "victim_mem_scores": "features",
        "dense_models": "models",
        "scenario1.defended_models": "models",
        "iterative_outputs": "models",
        "attack_metrics": "attack_outputs",
        "scenario1.report_table": "reporting",
        "compare_plot": "reporting",
        "run_config": None,  # in memory, not in the catalog
    }.items() <= layers.items()
    catalog_datasets = [
        name
        for name, node in site["nodes"].items()
        if node["type"] == "data" and "MemoryDataset" not in (node.get("dataset_type") or "")
    ]
    assert catalog_datasets and all(layers[name] in LAYERS for name in catalog_datasets)


def test_a_report_table_shows_all_its_rows(site: dict[str, Any]) -> None:
    shown = metadata(site, "report_table")
    assert shown["preview_type"] == "TablePreview"
    table = pd.read_csv(latest(site["project"], "08_reporting/report.csv"))
    assert shown["preview"]["columns"] == list(table.columns)
    assert len(shown["preview"]["data"]) == len(table) > 5  # preview_args nrows, not 5


def test_plots_and_json_reports_are_shown(site: dict[str, Any]) -> None:
    for plot, file in (
        ("roc_plot", "08_reporting/roc_curves.png"),
        ("scenario1.privacy_utility_plot", "08_reporting/scenario1/privacy_utility.png"),
    ):
        shown = metadata(site, plot)
        assert shown["preview_type"] == "ImagePreview"
        assert base64.b64decode(shown["preview"]) == latest(site["project"], file).read_bytes()
    report = metadata(site, "report")
    assert report["preview_type"] == "JSONPreview"
    expected = json.loads(latest(site["project"], "08_reporting/report.json").read_text())
    assert json.loads(report["preview"]) == expected


def test_the_project_model_dataset_is_drawn_without_a_preview(site: dict[str, Any]) -> None:
    node = site["nodes"]["dense_models"]
    # kedro-viz shows a type from a package's datasets module without the package's name
    assert node["dataset_type"].endswith(
        "catalog_datasets.torch_state_dicts.TorchStateDictsDataset"
    )
    shown = metadata(site, "dense_models")
    assert shown["preview"] is None
    assert shown["filepath"].endswith("data/06_models/dense_models.pt")


def test_seed_branches_keep_the_layers() -> None:
    entry = {
        "type": "pandas.CSVDataset",
        "filepath": "data/08_reporting/report.csv",
        "metadata": {"kedro-viz": {"layer": "reporting", "preview_args": {"nrows": 100}}},
    }
    branched = seed_catalog({"report_table": entry})["seed_{branch_seed}.report_table"]
    assert branched["metadata"] == entry["metadata"]
    assert branched["filepath"] == "data/08_reporting/seed_{branch_seed}/report.csv"
