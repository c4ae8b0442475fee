"""Mistakes made on Kedro's command line and in conf/, and inputs the checks before the first
node can read (mem-score files, paths, the autotune journal): each a ``kedro run`` refused in
the project's one block, exit code 1, no traceback, nothing written to data/.

The runs stop before the first node, so they share one start-up (``run_kedro_each``): about
40 s in all on 2 cores."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from kedro_project import made_once, project_copy, run_kedro_each

from wemem_pipeline.core.autotune import MADE_BY
from wemem_pipeline.runs.run_options import CommandLineError, check_load_versions, check_runner
from wemem_pipeline.runs.runners import DaskRunner

REFUSED = "wemem-pipeline: the run stopped ("
DASK = "--runner=wemem_pipeline.runs.runners.DaskRunner"
INVALID_YAML = "seed: 1\npruning:\n  sparsity: 0.5\n   rounds: 3\n"  # line 4 is indented too far


def import_scores(path: Path | str) -> str:
    return (
        f"memorability.method=import,memorability.victim_scores_path={path},"
        f"memorability.shadow_scores_path={path}"
    )


def write_inputs(folder: Path) -> dict[str, Path]:
    """The bad files the runs below are given."""
    names = ("other_scale.csv", "one_row.csv", "torn.journal")
    files = {Path(name).stem: folder / name for name in names}
    files["one_row"].write_text("index,score\n0,0.5\n")
    rows = "\n".join(f"{i},{(i % 131) - 50}" for i in range(1797))  # every digits row, -50..80
    files["other_scale"].write_text(f"index,score\n{rows}\n")
    backend = optuna.storages.journal.JournalFileBackend(str(files["torn"]))
    study = optuna.create_study(storage=optuna.storages.JournalStorage(backend), study_name="a")
    study.set_user_attr("made_by", MADE_BY)
    with files["torn"].open("ab") as journal:
        journal.write(b'{"op_code":5,"worker_id":"w","study_id":0,"datetime_st')
    return files


CASES = {
    "env": ["--env=nosuch"],
    "tags": ["--tags=nosuch"],
    "load_versions_form": ["--load-versions=garbage"],
    "load_versions_form_verbose": ["--load-versions=garbage", "--verbose"],
    "load_versions_dataset": [
        "--pipeline=attacks",
        "--load-versions=splitz:2026-01-01T00.00.00.000Z",
    ],
    "load_versions_not_loaded": [
        "--pipeline=attacks",
        "--load-versions=dense_models:2026-01-01T00.00.00.000Z",
    ],
    "runner": ["--runner=nosuch"],
    "runner_params": ["--runner-params=nosuch=1"],
    "dask_address": [DASK, "--runner-params=address=not-an-address"],
    "nodes": ["--pipeline=scenario3", "--nodes=load_datset"],
    "from_nodes": ["--from-nodes=nosuch"],
    "disjoint_filters": [
        "--pipeline=data_split",
        "--nodes=load_dataset",
        "--from-nodes=split_samples",
    ],
    "yaml": ["--env=local", "--pipeline=data_split"],
    "storage_outside": ["--pipeline=autotune", "--params", "autotune.storage=../outside/x.journal"],
    "raw_dir_outside": ["--pipeline=data_split", "--params", "dataset.raw_dir=../../raw"],
    "passwd_scores": ["--pipeline=scenario3", "--params", import_scores("/etc/passwd")],
    "other_scale_scores": ["--pipeline=scenario3", "--params", import_scores("{other_scale}")],
    "uncovered_scores": ["--pipeline=scenario3", "--params", import_scores("{one_row}")],
    "torn_journal": ["--pipeline=autotune", "--params", "autotune.storage={torn}"],
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each case of :data:`CASES` run in a project of its own: ``(project, result)``."""
    return made_once(tmp_path_factory, "kedro_mistakes", refused_runs)


def refused_runs(folder: Path) -> dict:
    (folder / "inputs").mkdir()
    files = write_inputs(folder / "inputs")
    projects = {}
    for name in CASES:
        (folder / name).mkdir()
        projects[name] = project_copy(folder / name)
    (projects["yaml"] / "conf/local/parameters.yml").write_text(INVALID_YAML)
    runs = [(projects[name], [arg.format(**files) for arg in args]) for name, args in CASES.items()]
    results = run_kedro_each(runs)
    return {name: (projects[name], result) for name, result in zip(CASES, results, strict=True)}


def block(refused: dict, name: str, kind: str) -> str:
    """The refusal of case ``name``, a ``kind`` problem, as one line of text."""
    project, result = refused[name]
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"{REFUSED}{kind} problem)" in result.stderr, output[-3000:]
    assert "Traceback" not in output and "NoneType" not in output
    assert not [path for path in (project / "data").rglob("*") if path.is_file()]
    return " ".join(result.stderr[result.stderr.index(REFUSED) :].split())


@pytest.mark.parametrize(
    ("name", "phrases"),
    [
        ("env", ["--env=nosuch: there is no configuration environment 'nosuch'", "fmnist, local"]),
        ("tags", ["has no tag 'nosuch'", "have no tags; choose what runs with --pipeline"]),
        ("load_versions_form", ["--load-versions=garbage:", "give dataset:version pairs"]),
        (
            "load_versions_dataset",
            ["--load-versions names 'splitz'", "loads: dataset,", "did you mean 'splits'?"],
        ),
        (
            "load_versions_not_loaded",
            ["names 'dense_models', which this run does not load", "did you mean 'dense_outputs'?"],
        ),
        ("runner", ["--runner=nosuch: there is no runner", "wemem_pipeline.runs.runners.Dask"]),
        ("runner_params", ["SequentialRunner takes no parameter 'nosuch'", "is_async"]),
        ("dask_address", ["address='not-an-address' is not a Dask scheduler", "tcp://<host>"]),
        ("nodes", ["has no node 'load_datset'", "did you mean 'load_dataset'?"]),
        ("from_nodes", ["--from-nodes=nosuch:", "kedro registry describe __default__"]),
        ("disjoint_filters", ["--nodes, --from-nodes together select no node of data_split"]),
    ],
)
def test_kedro_option_mistakes_are_one_block(refused: dict, name: str, phrases: list) -> None:
    message = block(refused, name, "command-line")
    for phrase in phrases:
        assert phrase in message


def test_a_malformed_option_still_shows_its_message_with_verbose(refused: dict) -> None:
    _, result = refused["load_versions_form_verbose"]
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "NoneType" not in result.stderr
    assert "CommandLineError: --load-versions=garbage: Expected the form" in result.stderr


def test_invalid_yaml_names_the_file_and_the_line_it_is_on(refused: dict) -> None:
    message = block(refused, "yaml", "configuration")
    assert "conf/local/parameters.yml is not valid YAML: line 4, column 10" in message
    assert "4 | rounds: 3" in message and "correct line 4" in message


def test_a_relative_path_out_of_the_project_is_refused_and_creates_nothing(refused) -> None:
    message = block(refused, "storage_outside", "parameter")
    project, _ = refused["storage_outside"]
    assert "autotune.storage='../outside/x.journal' leads outside the project" in message
    absolute = project.parent / "outside/x.journal"
    assert f"if you mean a place outside the project: --params autotune.storage={absolute}" in (
        message
    )
    assert not (project.parent / "outside").exists()
    assert "dataset.raw_dir='../../raw' leads outside" in block(
        refused, "raw_dir_outside", "parameter"
    )


def test_a_file_that_is_no_score_table_is_refused_before_the_first_node(refused) -> None:
    message = block(refused, "passwd_scores", "data")
    assert "memorability.victim_scores_path: mem-score file /etc/passwd cannot be read" in message
    assert "Running node" not in refused["passwd_scores"][1].stderr


def test_scores_on_another_scale_are_refused(refused: dict) -> None:
    message = block(refused, "other_scale_scores", "data")
    assert "scores outside [-1, 1] (they range from -50 to 80)" in message


def test_scores_that_leave_pool_samples_out_are_refused_before_the_first_node(refused) -> None:
    """The pools are drawn before the first node, as the split node will draw them."""
    message = block(refused, "uncovered_scores", "data")
    assert "mem-score file" in message and "it must cover the whole pool" in message
    assert "has no score for 628 of the 629 pool samples" in message  # digits, seed 0


def test_a_torn_journal_is_refused_with_a_hint_that_keeps_the_studies(refused: dict) -> None:
    message = block(refused, "torn_journal", "data")
    assert "its last line (line 3) is cut off" in message
    assert "drop only that line, which keeps every study: truncate -s" in message
    assert "remove" not in message and "delete" not in message


# ----------------------------------------------------------------------------- unit tests


@pytest.mark.parametrize(
    ("runner", "params", "named"),
    [
        ("nosuch", {}, "no runner of that name"),
        ("no_such_module.Runner", {}, "no runner of that name"),
        ("kedro.pipeline.Pipeline", {}, "is not a Kedro runner"),
        ("ParallelRunner", {"max_worker": 2}, "did you mean 'max_workers'?"),
        ("wemem_pipeline.runs.runners.DaskRunner", {"adress": "x"}, "did you mean 'address'?"),
    ],
)
def test_runner_mistakes_are_named(runner: str, params: dict, named: str) -> None:
    with pytest.raises(CommandLineError) as refused:
        check_runner(runner, params)
    assert named in str(refused.value) + str(refused.value.hint)


@pytest.mark.parametrize(
    ("runner", "params"),
    [
        (None, {}),
        ("ThreadRunner", {"max_workers": 2}),
        ("wemem_pipeline.runs.runners.DaskRunner", {"address": "tcp://h:1"}),
        ("wemem_pipeline.runs.runners.ParallelRunner", {"max_workers": 2, "is_async": True}),
    ],
)
def test_runners_and_their_parameters_pass(runner, params) -> None:
    check_runner(runner, params)


def test_load_versions_of_datasets_a_run_makes_are_refused() -> None:
    check_load_versions({"splits": "v"}, ["dataset", "splits"])
    with pytest.raises(CommandLineError, match="names 'splits', which this run does not load"):
        check_load_versions({"splits": "v"}, [])


@pytest.mark.parametrize("address", ["not-an-address", "tcp://host:port", "inproc://x", 8786])
def test_a_malformed_dask_address_is_refused_before_connecting(address) -> None:
    with pytest.raises(CommandLineError, match="is not a Dask scheduler address") as refused:
        DaskRunner(address=address)
    assert "tcp://<host>:<port>" in refused.value.hint
