"""Compare defense settings over several seeds: the measurements behind the defaults.

For every seed, Kedro's runner runs the project's ``data_split``, ``memorability``,
``training`` and ``compare`` pipelines (up to the comparison table) in memory (nothing is
written to ``data/``) with ``compare.defenses`` set to the grid below: Base and each
setting prune the same dense models, and every run is attacked with the project's attacks
(adaptive: the shadows use the same defense). Prints mean and standard deviation over
seeds of test accuracy, strongest attack AUC / TPR at 1% FPR / balanced accuracy, and
fine-tuning time relative to Base; writes every run to a CSV.

    python benchmarks/defense_sweep.py --seeds 0 1 2                 # digits (conf/base)
    python benchmarks/defense_sweep.py --env fmnist --seeds 0 1 2 --out fmnist_sweep.csv
    python benchmarks/defense_sweep.py --grid my_grid.yml            # compare.defenses form
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import yaml
from kedro.framework.project import configure_project, pipelines
from kedro.runner import SequentialRunner

from wemem_pipeline.runs.parameters import load_parameters, memory_catalog

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ("data_split", "memorability", "training", "compare")

# In the form of ``compare.defenses``: a list holds one run's settings each; the first of
# each defense is the shipped default.
GRID = {
    "rsw": [
        {"width": 0.25, "stride": 0.025},
        {"width": 0.5, "stride": 0.025},
        {"width": 0.25, "stride": 0.025, "order": "random"},
    ],
    "rmr": [
        {"threshold": 0.85, "weight_decay_mem": 0.1},
        {"threshold": 0.85, "weight_decay_mem": 0.01},
        {"threshold": 0.85, "weight_decay_mem": 0.1, "optimizer": "shared"},
    ],
    "swmr": [
        {
            "window": {"width": 0.25, "stride": 0.025},
            "risky": {"threshold": 0.85, "weight_decay_mem": 0.1},
        },
        {
            "window": {"width": 0.5, "stride": 0.025},
            "risky": {"threshold": 0.85, "weight_decay_mem": 0.01},
        },
    ],
}


def run_seed(params: dict, seed: int, grid: dict) -> pd.DataFrame:
    """One in-memory Kedro run of the comparison with ``seed``; its comparison table."""
    params = {**params, "seed": seed, "compare": {**params["compare"], "defenses": grid}}
    pipeline = sum(pipelines[name] for name in PIPELINES).to_outputs("compare_table")
    outputs = SequentialRunner().run(pipeline, memory_catalog(params))
    comparison = outputs["compare_table"].load()
    print(comparison.to_string(index=False), flush=True)
    return comparison.assign(seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", type=Path, help="YAML in the form of compare.defenses")
    parser.add_argument("--out", type=Path, default=Path("defense_sweep.csv"))
    args = parser.parse_args()
    logging.disable(logging.INFO)

    configure_project("wemem_pipeline")
    params = load_parameters(ROOT / "conf", args.env)
    grid = yaml.safe_load(args.grid.read_text()) if args.grid else GRID
    results = pd.concat([run_seed(params, seed, grid) for seed in args.seeds], ignore_index=True)
    results.to_csv(args.out, index=False)
    columns = ["test_accuracy", "auc", "tpr_at_1pct_fpr", "balanced_accuracy"]
    summary = results.groupby("run", sort=False)[[*columns, "time_relative_to_base"]].agg(
        ["mean", "std"]
    )
    pd.set_option("display.width", 200)
    print(f"\n{params['dataset']['name']}, seeds {args.seeds} (mean, std):")
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
