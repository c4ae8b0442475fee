"""Compare defense settings over several seeds: the measurements behind the defaults.

For every seed: split, mem-scores and dense models once; then Base and each defense setting
of the grid prune the same dense models, and every stage is attacked
with the project's attacks (adaptive: shadows use the same defense). Prints mean and standard
deviation over seeds of test accuracy, strongest attack AUC / TPR at 1% FPR / balanced
accuracy, and fine-tuning time relative to Base; writes every run to a CSV.

    python benchmarks/defense_sweep.py --seeds 0 1 2                 # digits (conf/base)
    python benchmarks/defense_sweep.py --env fmnist --seeds 0 1 2 --out fmnist_sweep.csv
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import yaml

from wemem_pipeline.core import compare, memorability
from wemem_pipeline.core.config import (
    memorability_config,
    model_spec,
    pruning_config,
    train_config,
)
from wemem_pipeline.core.runs import derive_seed, train_dense_models
from wemem_pipeline.core.splits import pool_samples
from wemem_pipeline.core.training import resolve_device
from wemem_pipeline.parameters import load_parameters
from wemem_pipeline.pipelines.data_split import nodes as data_split

ROOT = Path(__file__).resolve().parents[1]

# (label, defense, settings); the first of each defense is the shipped default.
GRID = [
    ("rsw w.25 s.025", "rsw", {"width": 0.25, "stride": 0.025}),
    ("rsw w.5 s.025", "rsw", {"width": 0.5, "stride": 0.025}),
    ("rsw w.25 s.025 random", "rsw", {"width": 0.25, "stride": 0.025, "order": "random"}),
    ("rmr t.85 wd.1", "rmr", {"threshold": 0.85, "weight_decay_mem": 0.1}),
    ("rmr t.85 wd.01", "rmr", {"threshold": 0.85, "weight_decay_mem": 0.01}),
    (
        "rmr t.85 wd.1 shared",
        "rmr",
        {"threshold": 0.85, "weight_decay_mem": 0.1, "optimizer": "shared"},
    ),
    (
        "swmr w.25 t.85 wd.1",
        "swmr",
        {
            "window": {"width": 0.25, "stride": 0.025},
            "risky": {"threshold": 0.85, "weight_decay_mem": 0.1},
        },
    ),
    (
        "swmr w.5 t.85 wd.01",
        "swmr",
        {
            "window": {"width": 0.5, "stride": 0.025},
            "risky": {"threshold": 0.85, "weight_decay_mem": 0.01},
        },
    ),
]


def run_seed(params: dict, seed: int, grid: list) -> pd.DataFrame:
    device = resolve_device(params.get("device", "auto"))
    dataset = data_split.load(params["dataset"])
    table = data_split.split(dataset, params["split"], seed)
    spec, training = model_spec(params["model"]), train_config(params["training"])
    pruning = pruning_config(params["pruning"])
    mem_config = memorability_config(params["memorability"])
    scores = {
        pool: memorability.feldman_scores(
            dataset,
            pool_samples(table, pool),
            spec,
            training,
            mem_config,
            seed=derive_seed(seed, "memorability", pool),
            device=device,
        )
        for pool in ("victim", "shadow")
    }
    dense_states, dense_history, dense_outputs = train_dense_models(
        dataset, table, spec, training, seed=seed, device=device
    )
    comparison, _, _ = compare.compare_defenses(
        dataset,
        table,
        spec,
        dense_states,
        pruning,
        training,
        scores,
        [tuple(run) for run in grid],
        params["attacks"],
        (dense_history, dense_outputs),
        seed=seed,
        device=device,
    )
    print(comparison.to_string(index=False), flush=True)
    return comparison.assign(seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", type=Path, help="YAML list of [label, defense, settings]")
    parser.add_argument("--out", type=Path, default=Path("defense_sweep.csv"))
    args = parser.parse_args()
    logging.disable(logging.INFO)

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
