"""End-to-end tests of ``kedro run --pipeline=autotune`` (a 2-trial study in conf/test) and of
the settings it makes: ``scenario3.settings=auto``, ``compare.tuned=true``, and refusals.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
from kedro_project import latest, made_once, project_copy, run_kedro, run_kedro_each


@pytest.fixture(scope="module")
def tuned_project(finished_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished default run's data, then an autotune study of SWMR."""

    def make(folder: Path) -> Path:
        project = project_copy(folder)
        shutil.copytree(finished_run / "data", project / "data", dirs_exist_ok=True)
        return tune(project, "swmr")

    return made_once(tmp_path_factory, "autotune", make)


@pytest.fixture(scope="module")
def refused(tuned_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The runs the refusal tests below look at, by name: ``(project, result)``. They stop
    at the checks before the first node, so they share one start-up (``run_kedro_each``)."""
    return made_once(tmp_path_factory, "autotune_refused", lambda f: refused_runs(tuned_project, f))


def refused_runs(tuned_project: Path, folder: Path) -> dict:
    fresh = {}
    for name in ("no_study", "corrupt", "foreign"):
        (folder / name).mkdir()
        fresh[name] = project_copy(folder / name)
    corrupt, foreign = folder / "corrupt.journal", folder / "foreign.journal"
    corrupt.write_text("{not a journal\n")
    backend = optuna.storages.journal.JournalFileBackend(str(foreign))
    optuna.create_study(storage=optuna.storages.JournalStorage(backend), study_name="other")
    auto = "scenario3.settings=auto"
    runs = {
        "another_setup": (
            tuned_project,
            ("--pipeline=scenario3", "--params", f"{auto},pruning.sparsity=0.5"),
        ),
        "several_seeds": (
            tuned_project,
            ("--pipeline=scenario3", "--params", f"{auto},evaluation.seeds=2"),
        ),
        "no_study": (fresh["no_study"], ("--params", "compare.tuned=true")),
        "corrupt": (
            fresh["corrupt"],
            ("--pipeline=autotune", "--params", f"autotune.storage={corrupt}"),
        ),
        "foreign": (
            fresh["foreign"],
            ("--pipeline=autotune", "--params", f"autotune.storage={foreign}"),
        ),
    }
    results = run_kedro_each(list(runs.values()))
    return {
        name: (run[0], result) for (name, run), result in zip(runs.items(), results, strict=True)
    }


def tune(project: Path, defense: str) -> Path:
    """``project`` after ``kedro run --pipeline=autotune`` of ``defense``."""
    result = run_kedro(project, "--pipeline=autotune", "--params", f"autotune.defense={defense}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def with_data_of(tuned_project: Path, folder: Path) -> Path:
    """A fresh project in ``folder`` holding a copy of ``tuned_project``'s data."""
    project = project_copy(folder)
    shutil.copytree(tuned_project / "data", project / "data", dirs_exist_ok=True)
    return project


def newest_tuned(project: Path, defense: str) -> dict:
    folder = project / "data/08_reporting/autotune/tuned_settings.json"
    for version in sorted(folder.iterdir(), reverse=True):
        tuned = json.loads((version / folder.name).read_text())
        if tuned["defense"] == defense:
            return tuned
    raise AssertionError(f"no tuned settings for {defense}")


def test_autotune_writes_its_report_and_study(tuned_project: Path) -> None:
    trials = pd.read_csv(latest(tuned_project, "08_reporting/autotune/trials.csv"))
    assert len(trials) == 2 and trials["chosen"].sum() == 1
    assert {"accuracy", "leakage", "attack", "state", "feasible", "on_front"} <= set(trials)
    summary = latest(tuned_project, "08_reporting/autotune/autotune.md").read_text()
    assert "# Autotune: SWMR on `digits`" in summary and "## Chosen setting" in summary
    assert "## Checked at the victim's size" in summary and "2 models trained on" in summary
    assert latest(tuned_project, "08_reporting/autotune/autotune.png").stat().st_size > 10_000
    tuned = newest_tuned(tuned_project, "swmr")
    assert set(tuned["settings"]) == {"window", "risky"}
    assert tuned["estimate"]["metric"] == "auc" and tuned["trials"]["finished"] == 2
    assert tuned["estimate"]["loss_measured_on"] == "victim_size"
    # The versioned snapshot is a journal file optuna (and optuna-dashboard) opens.
    snapshot = latest(tuned_project, "07_model_output/autotune/study.journal")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(snapshot))
    )
    (study,) = storage.get_all_studies()
    assert study.study_name.startswith("swmr-digits")
    assert len(optuna.load_study(study_name=study.study_name, storage=storage).trials) == 2


# The library's resuming is checked by tests/core/test_autotune.py (a killed study resumes).
@pytest.mark.slow
def test_a_second_run_resumes_the_study(tuned_project: Path, tmp_path: Path) -> None:
    project = with_data_of(tuned_project, tmp_path)
    result = run_kedro(project, "--pipeline=autotune", "--params", "autotune.n_trials=3")
    assert result.returncode == 0, result.stdout[-3000:]
    log = result.stdout
    assert "Resuming study swmr-digits" in log and "2 trials already done" in log
    assert "trial 2 " in log and "trial 1 " not in log  # only the missing trial ran
    assert len(pd.read_csv(latest(project, "08_reporting/autotune/trials.csv"))) == 3


def test_scenario_with_auto_settings_uses_the_tuned_ones(tuned_project: Path, tmp_path) -> None:
    project = with_data_of(tuned_project, tmp_path)
    result = run_kedro(project, "--pipeline=scenario3", "--params", "scenario3.settings=auto")
    assert result.returncode == 0, result.stdout[-3000:]
    newest = newest_tuned(tuned_project, "swmr")
    tuned = newest["settings"]
    report = json.loads(latest(project, "08_reporting/scenario3/report.json").read_text())
    assert report["parameters"]["scenario3"]["settings"] == tuned
    # The report says where the settings came from: the study, its run and its file.
    source = report["defense_settings"]["autotune"]
    assert report["defense_settings"]["settings"] == tuned and source["study"] == newest["study"]
    assert (project / source["file"]).read_text() == (
        tuned_project / f"data/08_reporting/autotune/tuned_settings.json/{source['run']}"
        "/tuned_settings.json"
    ).read_text()
    page = (project / "data/08_reporting/latest/scenario3/report.html").read_text()
    assert f"autotune study <code>{newest['study']}</code> (run {source['run']}" in page
    # What the study predicted the setting would cost, beside what the victim lost.
    predicted = newest["estimate"]["accuracy_loss"]
    accuracy = {model["name"]: model["test_accuracy"] for model in report["models"]}
    lost = accuracy["base"] - accuracy["swmr"]
    markdown = latest(project, "08_reporting/scenario3/report.md").read_text()
    assert f"autotune predicted {predicted:.3f} ± " in markdown
    assert "on models of the victim's size" in markdown
    assert f"the victim lost {lost:.3f} with SWMR" in markdown
    (record,) = [
        json.loads(path.read_text())
        for path in (project / "data/09_runs").glob("*.json")
        if "scenario3" in json.loads(path.read_text())["pipelines"]
    ]
    assert record["settings"]["scenario3"]["settings"] == tuned


# A second study and the whole comparison; the fast set takes tuned settings in scenario3.
@pytest.mark.slow
def test_compare_takes_tuned_settings_where_asked(tuned_project: Path, tmp_path: Path) -> None:
    # compare.tuned=true asks it of every defense; this asks it of two.
    project = with_data_of(tuned_project, tmp_path)
    tune(project, "ppb")
    auto = "compare.defenses.swmr=auto,compare.defenses.ppb=auto"
    result = run_kedro(project, "--pipeline=compare", "--params", auto)
    assert result.returncode == 0, result.stdout[-3000:]
    comparison = pd.read_csv(latest(project, "08_reporting/compare/compare.csv"))
    settings = comparison.set_index("defense")["settings"]
    assert json.loads(settings["ppb"]) == newest_tuned(project, "ppb")["settings"]
    assert json.loads(settings["swmr"]) == newest_tuned(project, "swmr")["settings"]
    assert json.loads(settings["hamp"]) == {"alpha": 0.001, "gamma": 0.5}  # conf/test's grid
    markdown = latest(project, "08_reporting/compare/compare.md").read_text()
    settings_used = markdown.split("## Settings used")[1].splitlines()
    ppb = next(line for line in settings_used if line.startswith("| PPB"))
    assert f"autotune study `{newest_tuned(project, 'ppb')['study']}`" in ppb
    hamp = next(line for line in settings_used if line.startswith("| HAMP"))
    assert hamp.rstrip(" |").endswith("parameters")


# The audit's part of the resolution is checked fast by tests/core/test_audit.py.
@pytest.mark.slow
def test_the_audit_takes_tuned_settings_where_asked(tuned_project: Path, tmp_path: Path) -> None:
    project = with_data_of(tuned_project, tmp_path)
    result = run_kedro(project, "--pipeline=audit", "--params", "audit.defenses.swmr=auto")
    assert result.returncode == 0, result.stdout[-3000:]
    newest = newest_tuned(tuned_project, "swmr")
    report = json.loads(latest(project, "08_reporting/audit/audit.json").read_text())
    assert report["settings"]["defenses"]["swmr"] == newest["settings"]
    swmr = next(entry for entry in report["defense_settings"] if entry["defense"] == "swmr")
    assert swmr["autotune"]["study"] == newest["study"]
    summary = latest(project, "08_reporting/audit/audit.md").read_text()
    assert f"autotune study `{newest['study']}`" in summary


def test_auto_settings_of_another_setup_are_refused(refused: dict) -> None:
    _, result = refused["another_setup"]
    assert result.returncode == 1
    assert "(artifact problem)" in result.stderr and "Traceback" not in result.stderr
    assert "pruning.sparsity=0.6 (this run: 0.5)" in result.stderr
    assert "kedro run --pipeline=autotune --params autotune.defense=swmr" in result.stderr


def test_several_seeds_need_a_study_per_seed(refused: dict) -> None:
    """The study was made with seed 0: a 2-seed run finds seed 0's and asks for seed 1's."""
    _, result = refused["several_seeds"]
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "seed 1:" in message and "seed 0:" not in message
    assert "kedro run --pipeline=autotune --params autotune.defense=swmr,seed=1" in message


def test_auto_settings_without_a_study_name_the_command(refused: dict) -> None:
    project, result = refused["no_study"]  # the default run, compare included
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    for defense in ("rsw", "rmr", "swmr", "ppb", "advreg", "dpsgd", "relaxloss", "hamp"):
        assert f"kedro run --pipeline=autotune --params autotune.defense={defense}" in message
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_a_bad_study_file_is_refused_before_training(refused: dict, kind: str) -> None:
    project, result = refused[kind]
    assert result.returncode == 1
    assert "(data problem)" in result.stderr and "autotune.storage" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]
