"""End-to-end ``model.name: custom``: a user's class in the project's ``src/`` is trained,
pruned and attacked; one that cannot be used stops the run before any node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro_project import ROOT, latest, made_once, project_copy, run_kedro, run_kedro_each

Runs = dict[str, tuple[Path, subprocess.CompletedProcess]]

GOOD_RUN = "--pipelines=data_split,training,pruning,attacks"
# As a user sets it in a parameters file; two attacks keep the run short (attacks read the
# models' outputs only, whatever the class).
GOOD_PARAMETERS = """
model:
  name: custom
  class_path: custom_models:TinyConvNet
  kwargs: {channels: 3}
attacks:
  names: [conf, lira]
"""
CUSTOM = "model.name=custom,model.class_path="
# --params of each bad setting: what its message must say.
BAD_MODELS = {
    "model.name=custom": "model.name='custom' needs model.class_path",
    "model.class_path=custom_models:TinyConvNet": (
        "model.class_path is set but model.name is 'mlp'"
    ),
    f"{CUSTOM}no_such_module:Net": (
        "model.class_path='no_such_module:Net': cannot import 'no_such_module'"
    ),
    f"{CUSTOM}custom_models:NotAModule": "is not a torch.nn.Module subclass",
    f"{CUSTOM}custom_models:WrongShape": "must return logits of shape (2, 10) (batch, num_classes)",
    f"{CUSTOM}custom_models:Refuses": "Refuses(num_classes=10) raised ValueError",
    f"{CUSTOM}custom_models:NonFiniteLogits": "logits (20 of 20 values) for a batch of 2",
    # The default pipeline makes Feldman mem-scores: a batched ensemble of the model.
    f"{CUSTOM}custom_models:NormNet": "'custom_models:NormNet' has batch normalization",
}


def with_custom_models(project: Path) -> Path:
    """``project`` with ``tests/custom_models.py`` in its ``src/``, as a user places a module."""
    shutil.copy(ROOT / "tests" / "custom_models.py", project / "src")
    return project


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The run of the custom model (``GOOD_RUN``) and one per bad setting, each in a project
    copy of its own; they share one start-up (``run_kedro_each``)."""
    return made_once(tmp_path_factory, "custom_model", custom_model_runs)


def custom_model_runs(folder: Path) -> Runs:
    projects = {}
    for i, key in enumerate((GOOD_RUN, *BAD_MODELS)):
        (folder / str(i)).mkdir()
        projects[key] = with_custom_models(project_copy(folder / str(i)))
    (projects[GOOD_RUN] / "conf" / "test" / "parameters_custom.yml").write_text(GOOD_PARAMETERS)
    arguments = {GOOD_RUN: (GOOD_RUN,)} | {params: ("--params", params) for params in BAD_MODELS}
    results = run_kedro_each([(projects[key], arguments[key]) for key in projects])
    return {key: (projects[key], result) for key, result in zip(projects, results, strict=True)}


def test_the_custom_class_is_trained_pruned_and_attacked(runs: Runs) -> None:
    project, result = runs[GOOD_RUN]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    dense = torch.load(latest(project, "06_models/dense_models.pt"), weights_only=True)
    iterative = torch.load(latest(project, "06_models/iterative_models.pt"), weights_only=True)
    assert set(dense) == set(iterative) and "victim" in dense
    # TinyConvNet's layers with channels=3 on digits' 1x8x8 images.
    assert dense["victim"]["conv.weight"].shape == (3, 1, 3, 3)
    assert dense["victim"]["head.weight"].shape == (10, 3 * 8 * 8)
    for state in iterative.values():  # the target sparsity over both layers' weights
        masks = [state["conv.weight_mask"], state["head.weight_mask"]]
        zeros = sum(int((mask == 0).sum()) for mask in masks)
        assert zeros / sum(mask.numel() for mask in masks) == pytest.approx(0.6, abs=0.005)
    metrics = pd.read_csv(latest(project, "07_model_output/attack_metrics.csv"))
    assert {"dense", "one_shot", "round_2"} <= set(metrics["stage"])  # round_2: the last
    assert set(metrics["attack"]) == {"conf", "lira"}


@pytest.mark.parametrize("params", list(BAD_MODELS))
def test_an_unusable_model_stops_the_run_before_any_node(runs: Runs, params: str) -> None:
    project, result = runs[params]
    assert result.returncode == 1
    assert BAD_MODELS[params] in result.stderr
    assert "(parameter problem)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Running node" not in result.stdout + result.stderr
    # Nothing written, not even a run record.
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]


def test_a_run_on_stored_data_checks_the_model_too(runs: Runs, tmp_path: Path) -> None:
    # ``training`` loads the dataset the custom run stored: the check loads it for its shapes.
    project, made = runs[GOOD_RUN]
    assert made.returncode == 0
    again = tmp_path / "again"
    shutil.copytree(project, again)
    (again / "conf" / "test" / "parameters_custom.yml").unlink()
    result = run_kedro(
        again, "--pipeline=training", "--params", f"{CUSTOM}custom_models:WrongShape"
    )
    assert result.returncode == 1
    assert BAD_MODELS[f"{CUSTOM}custom_models:WrongShape"] in result.stderr
    assert "Running node" not in result.stdout + result.stderr
