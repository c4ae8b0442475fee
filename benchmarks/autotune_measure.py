"""Tuned against default: every defense tuned with the same budget, then attacked for real.

For each seed, in a scratch copy of the project (or ``--project``), this runs what a user
runs: the dense models (``data_split``, ``memorability``, ``training``), one
``kedro run --pipeline=autotune`` per defense, ``kedro run --pipeline=compare --params
compare.tuned=true`` (every defense at its tuned setting, full adaptive suite on the real
victim) and the default ``compare`` (the shipped settings, SWMR-default among them). It
prints, per run and as mean ± sd over seeds: test accuracy, the strongest attack's AUC and
TPR at 1% FPR, whether the run is on each Pareto front, and each study's wall time relative
to one Base pruning of the victim.

    python benchmarks/autotune_measure.py --env base --seeds 0 1 2
    python benchmarks/autotune_measure.py --env fmnist --seeds 0 1 2 --defenses swmr --direct

``--direct`` compares only Base, each defense at its default setting (the scenarios' and
``compare.defenses``' first grid point) and at its tuned one, in this process through the
library (the compare pipeline runs every defense of ``compare.defenses``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from busy_machine import scratch_project
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from wemem_pipeline.core.compare import compare_defenses, comparison_runs, pareto_front
from wemem_pipeline.core.parameter_checks import validate_parameters

DEFENSES = ("rsw", "rmr", "swmr", "ppb", "advreg", "dpsgd", "relaxloss", "hamp")


def kedro(project: Path, env: str, pipeline: str, params: str) -> float:
    """Seconds ``kedro run`` took; raises with its last output if it failed."""
    command = [sys.executable, "-m", "kedro", "run", f"--env={env}", f"--pipeline={pipeline}"]
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    result = subprocess.run(
        [*command, "--params", params], cwd=project, env=environment, capture_output=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} --params {params}:\n{result.stdout[-3000:]}")
    return time.perf_counter() - start


def newest(project: Path, relative: str) -> Path:
    folder = project / relative
    return sorted(folder.iterdir())[-1] / folder.name


def measure_seed(
    project: Path, env: str, seed: int, defenses: list[str], extra: str, direct: bool
) -> list:
    params = f"seed={seed}" + (f",{extra}" if extra else "")
    for pipeline in ("data_split", "memorability", "training"):
        kedro(project, env, pipeline, params)
    studies = {}
    for defense in defenses:
        seconds = kedro(project, env, "autotune", f"{params},autotune.defense={defense}")
        tuned = json.loads(
            newest(project, "data/08_reporting/autotune/tuned_settings.json").read_text()
        )
        studies[defense] = {"study_seconds": seconds, "tuned": tuned}
        print(f"seed {seed} {defense}: {seconds:.0f}s, {json.dumps(tuned['settings'])}", flush=True)
    if direct:
        tables = compare_directly(project, env, params, studies)
    else:
        tables = compare_with_pipelines(project, env, params, defenses, seed)
    base_seconds = float(tables[0].set_index("defense").loc["base", "fine_tuning_seconds"])
    for defense, study in studies.items():
        rows = (tables[0]["defense"] == defense) & (tables[0]["settings_from"] == "tuned")
        tables[0].loc[rows, "study_seconds"] = study["study_seconds"]
        tables[0].loc[rows, "study_time_relative_to_base"] = study["study_seconds"] / base_seconds
    return tables


def compare_with_pipelines(project, env, params, defenses, seed) -> list[pd.DataFrame]:
    tables = []
    for label, compare_params in (("tuned", f"{params},compare.tuned=true"), ("default", params)):
        if label == "tuned" and set(defenses) != set(DEFENSES):
            names = ",".join(f"compare.defenses.{d}=auto" for d in defenses)
            compare_params = f"{params},{names}"
        kedro(project, env, "compare", compare_params)
        table = pd.read_csv(newest(project, "data/08_reporting/compare/compare.csv"))
        table["settings_from"], table["seed"] = label, seed
        tables.append(table)
    return tables


def compare_directly(project, env, params, studies) -> list[pd.DataFrame]:
    """Base, then each defense at its default and its tuned setting, in one comparison."""
    bootstrap_project(project)
    runtime = dict(item.split("=", 1) for item in params.split(","))
    runtime = {key: json.loads(value) for key, value in runtime.items()}
    with KedroSession.create(project_path=project, env=env, runtime_params=runtime) as session:
        context = session.load_context()
        catalog, parameters = context.catalog, context.params
        run = validate_parameters(parameters)
        runs = []
        for defense, study in studies.items():
            default = comparison_runs({defense: parameters["compare"]["defenses"][defense]})[0]
            runs += [(f"{default[0]} default", defense, default[2])]
            runs += [(f"{default[0]} tuned", defense, study["tuned"]["settings"])]
        load = catalog.load
        table, _, _ = compare_defenses(
            load("dataset"),
            load("splits"),
            run,
            load("dense_models"),
            (load("dense_history"), load("dense_outputs")),
            {"victim": load("victim_mem_scores"), "shadow": load("shadow_mem_scores")},
            runs,
            parameters["attacks"],
        )
    table["settings_from"] = ["tuned" if r.endswith("tuned") else "default" for r in table["run"]]
    table["seed"] = run.seed
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--defenses", nargs="+", default=list(DEFENSES), choices=DEFENSES)
    parser.add_argument("--params", default="", help="more --params for every run")
    parser.add_argument("--project", type=Path, help="a project folder to reuse")
    parser.add_argument("--out", type=Path, help="write every row as CSV here")
    parser.add_argument("--direct", action="store_true", help="default vs tuned only")
    parser.add_argument("--summarize", type=Path, help="only summarize an --out CSV")
    args = parser.parse_args()
    if args.summarize:
        summarize(pd.read_csv(args.summarize))
        return
    project = args.project or scratch_project(Path(tempfile.mkdtemp(prefix="autotune-")))
    print(f"project: {project}", flush=True)
    rows = []
    for seed in args.seeds:
        rows += measure_seed(project, args.env, seed, args.defenses, args.params, args.direct)
        table = pd.concat(rows, ignore_index=True)
        if args.out:
            table.to_csv(args.out, index=False)
    summarize(pd.concat(rows, ignore_index=True))


def summarize(table: pd.DataFrame) -> None:
    """Mean ± sd over seeds, and on how many seeds each run is on the Pareto fronts of all
    the runs of its seed (tuned and default together)."""
    table = table.copy()
    table["label"] = [
        run if run in ("Dense", "Base") or run.endswith(("default", "tuned")) else f"{run} {how}"
        for run, how in zip(table["run"], table["settings_from"], strict=True)
    ]
    table = table.drop_duplicates(["seed", "label"])  # Dense and Base are in both comparisons
    for metric in ("auc", "tpr_at_1pct_fpr"):
        table[f"front_{metric}"] = False
        for _, rows in table.groupby("seed"):
            table.loc[rows.index, f"front_{metric}"] = pareto_front(
                rows["test_accuracy"].to_numpy(), rows[metric].to_numpy()
            )
    pd.set_option("display.width", 200)
    runs = table.groupby("label", sort=False)
    metrics = ["test_accuracy", "auc", "tpr_at_1pct_fpr", "study_time_relative_to_base"]
    summary = runs[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary["study_seconds_mean"] = runs["study_seconds"].mean()
    fronts = runs[["front_auc", "front_tpr_at_1pct_fpr"]].sum()
    seeds = sorted(int(seed) for seed in table["seed"].unique())
    print(f"seeds: {seeds}; front_*: seeds on which the run is on the privacy-utility front")
    print("of all the runs of its seed (accuracy up, attack metric down)")
    print(summary.join(fronts).round(4).to_string())


if __name__ == "__main__":
    main()
