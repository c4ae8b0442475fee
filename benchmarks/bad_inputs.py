"""Every bad input of ``docs/reliability.md``, run for real: prints the table of that page.

Each case is a ``kedro run --env=test ...`` in a scratch copy of the project (with the data
of one finished test run where the case needs earlier artifacts), two at a time. A row gives
the exit code, whether any node ran before the run stopped, and the message the user read.
The faults of the disk (a full or read-only ``data/``) mount a small tmpfs over ``data/``: as
root only; elsewhere their rows say they were not run.
A case whose run is warned and goes on (a setting that makes part of the result meaningless,
a run estimated to take hours) is stopped once its warning is logged: its row says
``stopped`` and gives the warning.

    python benchmarks/bad_inputs.py > /tmp/table.md     # about 6 minutes on 2 cores
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
BLOCK_START = "wemem-pipeline: the run stopped"

# (what was tried, kedro run arguments); {dir} is the folder of the bad files below.
PARAMETERS = [
    "prunning.sparsity=0.5",
    "seedd=1",
    "pruning.sparsty=0.5",
    "pruning.sparsity=1.5",
    "pruning.sparsity=-0.1",
    "pruning.rounds=0",
    "pruning.scope=nope",
    "pruning.epochs_per_round=0",
    "seed=-1",
    "seed=abc",
    "device=tpu",
    "device=cuda",
    "threads=0",
    "threads=many",
    "dataset.name=nosuch",
    "dataset.name=file",
    "dataset.name=file,dataset.path=missing.csv,dataset.label_column=label",
    "dataset.name=mnist",  # its files are not on this machine: the loader says where it looked
    "split.num_shadows=0",
    "split.num_shadows=2",
    "split.member_fraction=1.5",
    "split.dev_fraction=0",
    "split.pool_size=-5",
    "model.name=transformer",
    "model.hidden=0",
    # A user's own model: the classes are tests/custom_models.py (on the runs' PYTHONPATH).
    "model.name=custom",
    "model.class_path=custom_models:TinyConvNet",
    "model.name=custom,model.class_path=custom_models.TinyConvNet",
    "model.name=custom,model.class_path=no_such_module:Net",
    "model.name=custom,model.class_path=custom_models:NotAModule",
    "model.name=custom,model.class_path=custom_models:TinyConvNet,model.kwargs.chanels=3",
    "model.name=custom,model.class_path=custom_models:Refuses",
    "model.name=custom,model.class_path=custom_models:WrongShape",
    "model.name=custom,model.class_path=custom_models:NormNet",  # mem-scores batch copies
    "training.lr=-1",
    "training.batch_size=0",
    "training.optimizer=rmsprop",
    "training.max_epochs=0",
    "training.patience=-1",
    "memorability.method=nope",
    "memorability.num_models=1",
    "memorability.subset_fraction=1.0",
    "memorability.method=import",
    "attacks.names=nosuch",
    "attacks.lira.global_variance_below=-1",
    "attacks.samia.epochs=0",
    "attacks.samia.min_delta=2",
    "attacks.rmia.gamma=0",
    "attack_stored.shadows=nope",
    "scenario3.settings.window.stride=0",
    "scenario3.settings.window.width=0",
    "scenario3.settings.window.order=sideways",
    "scenario3.settings.risky.threshold=2",
    "scenario3.settings.risky.scale=nope",
    "scenario1.defense=nosuch",
    "scenario2.settings.weight_decay_mem=-1",
    "compare.defenses.ppb.lambda=-1",
    "compare.defenses.dpsgd.noise_multiplier=0",
    "compare.defenses.nosuch.x=1",
    "compare.tuned=3",
    "autotune.defense=nope",
    "autotune.n_trials=0",
    "autotune.num_models=1",
    "autotune.max_accuracy_loss=1",
    "autotune.search_space.width=0.5",
    "evaluation.seeds=0",
    "evaluation.seeds=-1",
    "evaluation.seeds=[]",
    "evaluation.seeds=[1.5]",
    "evaluation.bootstrap=50",
    "evaluation.null_permutations=1",
    "split.nonmember_source=test",
    # Paths from parameters: a relative path is read from the project root and may not leave it.
    "autotune.storage=../../x.journal",
    "dataset.raw_dir=../raw",
    "memorability.method=import,memorability.victim_scores_path=../v.csv,"
    "memorability.shadow_scores_path=../s.csv",
    # Valid settings whose result cannot mean anything on the run's data and model.
    "pruning.sparsity=0.999999",
    "pruning.sparsity=0.999999,pruning.scope=layer",
    "scenario1.settings.width=1.0,scenario1.settings.stride=0.01",
    "model.name=custom,model.class_path=custom_models:NonFiniteLogits",
]
# Mistakes in Kedro's own options (what was tried, kedro run arguments).
DASK = "--runner=wemem_pipeline.runs.runners.DaskRunner"
KEDRO_OPTIONS = [
    ["--env=nosuch"],
    ["--tags=nosuch"],
    ["--load-versions=garbage"],
    ["--pipeline=attacks", "--load-versions=splitz:2026-01-01T00.00.00.000Z"],
    ["--pipeline=attacks", "--load-versions=dense_models:2026-01-01T00.00.00.000Z"],
    ["--runner=nosuch"],
    ["--runner-params=nosuch=1"],
    [DASK, "--runner-params=address=not-an-address"],
    ["--nodes=nosuch"],
    ["--from-nodes=nosuch"],
    ["--pipeline=data_split", "--nodes=load_dataset", "--from-nodes=split_samples"],
]
DATA_FILES = {
    "empty.csv": "an empty CSV",
    "header_only.csv": "a CSV with a header and no rows",
    "infinite.csv": "a CSV with an `inf` feature",
    "missing.csv": "a CSV with an empty (NaN) feature",
    "one_class.csv": "a CSV whose labels are all one class",
    "text.csv": "a CSV with a text feature column",
    "no_label.csv": "a CSV without the label column",
    "corrupt.parquet": "a corrupt parquet file",
    "corrupt.npz": "a corrupt .npz",
    "no_x.npz": "an .npz without an `x` array",
    "table.txt": "an unsupported file type",
    "continuous.csv": "a CSV whose label column is a measurement (non-integer numbers)",
    "identifier.csv": "a CSV whose label column is a row number (1,797 classes of one row)",
}
MODEL_FILES = {
    "nowhere.pt": "a model file that does not exist",
    "bare.pt": "a .pt holding a bare tensor",
    "list.pt": "a .pt holding a list",
    "corrupt.pt": "a corrupt .pt",
    "malicious.pt": "a .pt whose pickle runs a command",
}


@dataclass
class Case:
    what: str
    kind: str
    arguments: list[str]
    needs_run: bool = False  # starts from a finished test run's data
    before: list[str] | None = None  # a run made first, as the user did
    # What the project is like while the case runs (a file in conf/local, a full data/).
    setting: Callable[[Path], AbstractContextManager[None]] | None = None
    warned: str | None = None  # the run goes on with this warning: stop it once logged
    # For a run that goes on: whether its result is wrong (it read what it must not).
    wrong: Callable[[Path], bool] | None = None


class CannotMake(Exception):
    """The setting of a case cannot be made on this machine (mounting needs root)."""


@contextmanager
def invalid_local_yaml(project: Path) -> Iterator[None]:
    (project / "conf/local/parameters.yml").write_text(
        "seed: 1\npruning:\n  sparsity: 0.5\n   rounds: 3\n"  # line 4 indented too far
    )
    yield


def tmpfs_over_data(options: str) -> Callable[[Path], AbstractContextManager[None]]:
    """data/ as a small tmpfs mounted with ``options`` (64 KB: a run record fits, the
    dataset does not), for the faults of the disk."""

    @contextmanager
    def mounted(project: Path) -> Iterator[None]:
        data = str(project / "data")
        command = ["mount", "-t", "tmpfs", "-o", f"{options},size=64k", "tmpfs", data]
        if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode:
            raise CannotMake("mounting a tmpfs over data/ needs root")
        try:
            yield
        finally:
            subprocess.run(["umount", data], check=True)

    return mounted


PWNED = "/tmp/wemem-pwned"  # what a crafted pickle creates if it ever runs
PLANTED = "2999-01-01T00.00.00.000Z"  # a version newer than any run's


def newest(project: Path, relative: str) -> Path:
    folder = project / "data" / relative
    return max(folder.iterdir(), key=lambda version: version.name) / folder.name


def damaged(relative: str) -> Callable[[Path], AbstractContextManager[None]]:
    """40 bytes flipped in the middle of the newest version of ``data/<relative>``."""

    @contextmanager
    def flipped(project: Path) -> Iterator[None]:
        file = newest(project, relative)
        data = bytearray(file.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 40] = bytes(b ^ 0xFF for b in data[middle : middle + 40])
        file.write_bytes(bytes(data))
        yield

    return flipped


@contextmanager
def torn_record(project: Path) -> Iterator[None]:
    """The finished run's record cut short, as a full disk or a hand edit leaves it."""
    record = next((project / "data/09_runs").glob("*.json"))
    record.write_text(record.read_text()[:200])
    yield


@contextmanager
def planted_metrics(project: Path) -> Iterator[None]:
    """A newer version of ``scenario3.attack_metrics`` that no run of the project wrote (as
    another checkout sharing data/ would leave it), every AUC 0.999."""
    metrics = newest(project, "07_model_output/scenario3/attack_metrics.csv")
    folder = metrics.parent.parent / PLANTED
    folder.mkdir()
    pd.read_csv(metrics).assign(auc=0.999).to_csv(folder / metrics.name, index=False)
    yield


def reports_planted_numbers(project: Path) -> bool:
    """Whether the run's scenario3 report took the planted metrics' AUCs."""
    reports = project / "data/08_reporting/scenario3/report.json"
    made = max((v for v in reports.iterdir() if v.name != PLANTED), key=lambda v: v.name)
    return "0.999" in (made / "report.json").read_text()


def crafted_pickle(relative: str) -> Callable[[Path], AbstractContextManager[None]]:
    """A pickle that would run a command, as a new version of ``data/<relative>``."""

    @contextmanager
    def planted(project: Path) -> Iterator[None]:
        file = project / "data" / relative / PLANTED / Path(relative).name
        file.parent.mkdir(parents=True)
        torch.save({"victim": _RunsACommand()}, file)
        yield

    return planted


class _RunsACommand:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def write_bad_files(folder: Path) -> None:
    rows = "\n".join(f"{i % 7},{(3 * i) % 11},{i % 2}" for i in range(60))
    files = {
        "empty.csv": "",
        "header_only.csv": "a,b,label\n",
        "infinite.csv": f"a,b,label\ninf,1,0\n{rows}\n",
        "missing.csv": f"a,b,label\n,1,0\n{rows}\n",
        "one_class.csv": "a,b,label\n" + "\n".join(f"{i},{i},1" for i in range(60)),
        "text.csv": "a,b,label\n" + "\n".join(f"{i},x{i},{i % 2}" for i in range(60)),
        "no_label.csv": f"a,b,target\n{rows}\n",
        "corrupt.parquet": "PAR1 not really",
        "corrupt.npz": "PK\x03\x04 truncated",
        "table.txt": rows,
        "continuous.csv": "a,b,label\n"
        + "\n".join(f"{i % 7},{i % 5},{i / 7:.3f}" for i in range(90)),
        "identifier.csv": "a,b,label\n" + "\n".join(f"{i % 7},{i % 5},{i}" for i in range(1797)),
        # Three classes of 40 rows and one of 3: warned, the run goes on.
        "rare_class.csv": "a,b,label\n"
        + "\n".join(f"{i % 7},{i % 5},{i % 3 if i < 120 else 3}" for i in range(123)),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    np.savez(folder / "no_x.npz", data=np.zeros((4, 2)), y=[0, 1, 0, 1])
    torch.save(torch.zeros(3), folder / "bare.pt")
    torch.save([1, 2], folder / "list.pt")
    (folder / "corrupt.pt").write_bytes(b"garbage" * 10)
    torch.save({"victim": _RunsACommand()}, folder / "malicious.pt")
    (folder / "corrupt.journal").write_text("{not a journal\n")
    foreign = optuna.storages.journal.JournalFileBackend(str(folder / "foreign.journal"))
    optuna.create_study(storage=optuna.storages.JournalStorage(foreign), study_name="theirs")
    torn = optuna.storages.journal.JournalFileBackend(str(folder / "torn.journal"))
    study = optuna.create_study(storage=optuna.storages.JournalStorage(torn), study_name="ours")
    study.set_user_attr("made_by", "wemem-pipeline")
    with (folder / "torn.journal").open("ab") as journal:  # a write cut short by a kill
        journal.write(b'{"op_code":5,"worker_id":"w","study_id":0,"datetime_st')
    rows = "\n".join(f"{i},{(i % 131) - 50}" for i in range(1797))  # every digits row
    (folder / "other_scale.csv").write_text(f"index,score\n{rows}\n")


def cases(folder: Path) -> list[Case]:
    file_params = "dataset.name=file,dataset.path={},dataset.label_column=label"
    ok = folder / "ok.csv"
    ok.write_text("a,b,label\n" + "\n".join(f"{i % 7},{i % 5},{i % 2}" for i in range(90)))
    scores = folder / "scores.csv"
    scores.write_text("index,score\n0,0.5\n")
    imported = (
        "memorability.method=import,memorability.victim_scores_path={0},"
        "memorability.shadow_scores_path={0}"
    )
    attack_stored = ["--pipeline=attack_stored", "--params"]
    return [
        *(Case(f"`--params {p}`", "parameter", ["--params", p]) for p in PARAMETERS),
        *(
            Case(what, "data file", ["--params", file_params.format(folder / name)])
            for name, what in DATA_FILES.items()
        ),
        *(
            Case(what, "model file", [*attack_stored, f"attack_stored.file={folder / name}"], True)
            for name, what in MODEL_FILES.items()
        ),
        *(
            Case(what, "data file", ["--params", imported.format(path)])
            for path, what in (
                (scores, "mem-scores that do not match the data"),
                ("/etc/passwd", "`/etc/passwd` as a mem-score file"),
                (folder / "other_scale.csv", "mem-scores in [-50, 80]"),
            )
        ),
        *(
            Case(
                what, "study file", ["--pipeline=autotune", "--params", f"autotune.storage={path}"]
            )
            for path, what in (
                (folder / "corrupt.journal", "an autotune study file that is not a journal"),
                (folder / "foreign.journal", "an autotune study file of another project"),
                (folder / "torn.journal", "an autotune journal whose last line a kill cut"),
            )
        ),
        Case(
            "`--pipeline=scenario3 --params scenario3.settings=auto` before any autotune run",
            "artifacts",
            ["--pipeline=scenario3", "--params", "scenario3.settings=auto"],
        ),
        Case("`--pipeline=nosuch`", "pipeline", ["--pipeline=nosuch"]),
        *(Case(f"`{' '.join(options)}`", "command line", options) for options in KEDRO_OPTIONS),
        Case(
            "invalid YAML in `conf/local/parameters.yml`",
            "configuration",
            ["--env=local", "--pipeline=data_split"],
            setting=invalid_local_yaml,
        ),
        Case(
            "disk full (a 64 KB tmpfs over `data/`)",
            "fault",
            ["--pipeline=data_split"],
            setting=tmpfs_over_data("rw"),
        ),
        Case(
            "read-only `data/` (a read-only tmpfs)",
            "fault",
            ["--pipeline=data_split"],
            setting=tmpfs_over_data("ro"),
        ),
        *(
            Case(f"`{' '.join(runner)}`", "runner", ["--pipeline=scenario3", *runner])
            for runner in (
                ["--runner=ParallelRunner", "--runner-params=max_workers=0"],
                ["--runner=wemem_pipeline.runs.runners.DaskRunner", "--runner-params=workers=0"],
                [
                    "--runner=wemem_pipeline.runs.runners.DaskRunner",
                    "--runner-params=address=tcp://127.0.0.1:9",  # nothing listens there
                ],
                [
                    "--runner=wemem_pipeline.runs.runners.DaskRunner",
                    "--runner-params=address=tcp://127.0.0.1:9,workers=2",
                ],
            )
        ),
        Case(
            "`--pipeline=attacks --params evaluation.seeds=2` (reads one earlier run)",
            "parameter",
            ["--pipeline=attacks", "--params", "evaluation.seeds=2"],
        ),
        Case("`--pipeline=attacks` on a new project", "artifacts", ["--pipeline=attacks"]),
        Case(
            "`--pipeline=attacks --params seed=1` (the models are seed 0's)",
            "artifacts",
            ["--pipeline=attacks", "--params", "seed=1"],
            True,
        ),
        Case(
            "`--pipeline=pruning --params training.lr=0.01` (dense models trained with 0.001)",
            "artifacts",
            ["--pipeline=pruning", "--params", "training.lr=0.01"],
            True,
        ),
        Case(
            "`--load-versions=splits:nosuch`",
            "artifacts",
            ["--pipeline=attacks", "--load-versions=splits:nosuch"],
            True,
        ),
        Case(
            "`--pipeline=attacks` after `--pipeline=data_split` on other data",
            "artifacts",
            ["--pipeline=attacks"],
            True,
            ["--pipeline=data_split", "--params", file_params.format(ok)],
        ),
        Case(
            "`--pipeline=attacks` after `--pipeline=data_split --params seed=1`",
            "artifacts",
            ["--pipeline=attacks"],
            True,
            ["--pipeline=data_split", "--params", "seed=1"],
        ),
        *ARTIFACT_CASES,
        *(Case(what, kind, arguments, warned=warning) for what, kind, arguments, warning in WARNED),
        Case(
            "a CSV with one class of 3 rows beside three of 40",
            "data file",
            ["--params", file_params.format(folder / "rare_class.csv")],
            warned="fewer than 10 samples each",
        ),
    ]


# Earlier runs' artifacts damaged, torn, planted or crafted (on the finished run's data).
ARTIFACT_CASES = [
    Case(
        "40 flipped bytes in the finished run's `iterative_outputs`, then `--pipeline=attacks`",
        "artifacts",
        ["--pipeline=attacks"],
        needs_run=True,
        setting=damaged("07_model_output/iterative_outputs.npz"),
    ),
    Case(
        "the finished run's record cut short, then `--pipeline=attacks`",
        "artifacts",
        ["--pipeline=attacks"],
        needs_run=True,
        setting=torn_record,
    ),
    Case(
        "a newer `scenario3.attack_metrics` no run wrote (AUC 0.999), then the scenario's "
        "attack and report nodes",
        "artifacts",
        ["--pipeline=scenario3", "--from-nodes=scenario3.attack_scenario"],
        needs_run=True,
        setting=planted_metrics,
        wrong=reports_planted_numbers,
    ),
    *(
        Case(
            f"a pickle that runs a command as a new version of `{artifact}`, named with "
            "`--load-versions`",
            "artifacts",
            ["--pipeline=attacks", f"--load-versions={artifact}:{PLANTED}"],
            needs_run=True,
            setting=crafted_pickle(relative),
        )
        for artifact, relative in (
            ("dense_outputs", "07_model_output/dense_outputs.npz"),
            ("dataset", "02_intermediate/dataset.json"),
        )
    ),
]

# Runs that are warned and go on: (what, kind, arguments, the warning that stops them).
WARNED = [
    (
        "`--pipeline=scenario3` with the window shipped before issue 25 (width 0.25, stride "
        "0.025: SWMR's risky members never enter a window on digits)",
        "defense",
        [
            "--pipeline=scenario3",
            "--params",
            "scenario3.settings.window.width=0.25,scenario3.settings.window.stride=0.025",
        ],
        "SWMR on the victim:",
    ),
    (
        "`--params scenario3.settings.window.width=1.0,...stride=0.01` (SWMR's window holds "
        "every member)",
        "defense",
        [
            "--pipeline=scenario3",
            "--params",
            "scenario3.settings.window.width=1.0,scenario3.settings.window.stride=0.01",
        ],
        "SWMR trains as RMR",
    ),
    (
        "`--params scenario2.settings.threshold=1.0` (above every normalized mem-score)",
        "defense",
        ["--pipeline=scenario2", "--params", "scenario2.settings.threshold=1.0"],
        "RMR on the victim:",
    ),
    (
        "`--params pruning.sparsity=0.999` (2 of 2,368 weights left: not refused, at chance)",
        "parameter",
        ["--pipelines=data_split,training,pruning", "--params", "pruning.sparsity=0.999"],
        "is at chance",
    ),
    (
        "`--params pruning.rounds=1000`",
        "run size",
        ["--params", "pruning.rounds=1000"],
        "This run may take",
    ),
    (
        "`--params split.num_shadows=1000`",
        "run size",
        ["--params", "split.num_shadows=1000"],
        "This run may take",
    ),
]


def _kedro_command(project: Path, *arguments: str) -> tuple[list[str], dict[str, str]]:
    importable = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": importable,  # the custom-model cases' classes
        "COLUMNS": "1000",  # each log message on one line
    }
    return [sys.executable, "-m", "kedro", "run", "--env=test", *arguments], env


def kedro(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    command, env = _kedro_command(project, *arguments)
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)


def kedro_until(project: Path, warning: str, *arguments: str) -> tuple[str, str]:
    """Run until a log line holds ``warning``, then stop the run: its output and that line
    (empty when the run ended without it)."""
    command, env = _kedro_command(project, *arguments)
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if warning in line:
            process.kill()
            process.wait()
            return "".join(lines), line
    process.wait()
    return "".join(lines), ""


def new_project(root: Path, data: Path | None) -> Path:
    project = Path(tempfile.mkdtemp(dir=root))
    (project / "src").mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    shutil.copytree(data, project / "data") if data else (project / "data").mkdir()
    return project


def try_case(root: Path, finished: Path, case: Case) -> list[str]:
    """Class, exit code, whether a node ran, and the message block of ``case``."""
    project = new_project(root, finished / "data" if case.needs_run else None)
    if case.before:
        assert kedro(project, *case.before).returncode == 0, case.before
    if case.warned:
        output, line = kedro_until(project, case.warned, *case.arguments)
        found = re.search(r"WARNING\s+(.*?)\s+\S+\.py:\d+\s*$", line)
        message = found.group(1) if found else "(no warning) " + output.strip()[-300:]
        node_ran = "yes" if "Running node" in output else "no"
        exit_code = "stopped" if line else "ended"
        return [case_class(exit_code, node_ran, bool(found)), exit_code, node_ran, message]
    try:
        with case.setting(project) if case.setting else _as_it_is():
            result = kedro(project, *case.arguments)
    except CannotMake as reason:
        return ["not run", "-", "-", f"({reason})"]
    output = result.stdout + result.stderr
    block = result.stderr[result.stderr.find(BLOCK_START) :] if BLOCK_START in result.stderr else ""
    message = " ".join(line.strip() for line in block.splitlines()[1:-1])
    if not message:
        message = "(no message block) " + output.strip().splitlines()[-1][:300]
    node_ran = "yes" if "Running node" in output else "no"
    wrong = result.returncode == 0 and case.wrong is not None and case.wrong(project)
    kind = "wrong result" if wrong else case_class(str(result.returncode), node_ran, bool(block))
    return [kind, str(result.returncode), node_ran, message]


def case_class(exit_code: str, node_ran: str, explained: bool) -> str:
    """clear & early (one block, before any node), clear but late (one block, after some
    node ran), unclear (no block), warned (goes on, with a warning), accepted (goes on
    without a word); "wrong result" is decided by the case's own check."""
    if exit_code in ("stopped", "ended"):
        return "warned" if explained else "accepted"
    if exit_code == "0":
        return "accepted"
    if not explained:
        return "unclear"
    return "clear & early" if node_ran == "no" else "clear but late"


@contextmanager
def _as_it_is() -> Iterator[None]:
    yield


def main() -> None:
    Path(PWNED).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        folder = root / "bad"
        folder.mkdir()
        write_bad_files(folder)
        finished = new_project(root, None)
        assert kedro(finished).returncode == 0, "the test run itself must pass"
        tried = cases(folder)
        with ThreadPoolExecutor(max_workers=2) as pool:
            rows = list(pool.map(lambda case: try_case(root, finished, case), tried))
    print("| # | input | kind | class | exit | a node ran | message |")
    print("|---|---|---|---|---|---|---|")
    for number, (case, row) in enumerate(zip(tried, rows, strict=True), 1):
        cells = [number, case.what, case.kind, *row[:3]]
        message = row[3].replace(str(folder) + "/", "").replace("|", "\\|")
        print("| " + " | ".join(map(str, [*cells, message])) + " |")
    print()
    for kind, count in Counter(row[0] for row in rows).most_common():
        print(f"- {kind}: {count}")
    print(f"\nA malicious pickle ran its command: {Path(PWNED).exists()}")


if __name__ == "__main__":
    main()
