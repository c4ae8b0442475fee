"""The numbers docs/evaluation.md reports, read from a finished multi-seed scenario run.

For each seed: every model's test accuracy, strongest AUC and TPR@1%FPR with their 95%
intervals, the chance reference and the shift check; the single-seed verdicts (by the
intervals, and by the point estimates alone, as the reports said before issue 13) and how
often they disagree across seeds; then the aggregate's mean ± sd and verdicts over seeds.

    kedro run --pipeline=scenario3 --params evaluation.seeds=3   # in a project, then:
    python benchmarks/evaluation_summary.py --project . --scenario scenario3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from wemem_pipeline.core.reports.seeds import mean_sd
from wemem_pipeline.core.reports.tables import STRONGEST_COLUMNS, fmt, model_row


def newest(folder: Path) -> Path:
    return sorted(path for path in folder.iterdir() if path.is_dir())[-1] / folder.name


def interval(row: dict, column: str) -> str:
    return f"{fmt(row[column])} [{fmt(row[f'{column}_ci_low'])}, {fmt(row[f'{column}_ci_high'])}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--scenario", default="scenario3")
    args = parser.parse_args()
    folder = args.project / "data" / "08_reporting" / args.scenario
    aggregate = json.loads(newest(folder / "seeds" / "report.json").read_text())
    rows, verdicts = [], []
    for seed in aggregate["seeds"]:
        report = json.loads(newest(folder / f"seed_{seed}" / "report.json").read_text())
        models = {m["name"]: model_row(m) for m in report["models"]}
        for name, row in models.items():
            rows.append(
                {
                    "seed": seed,
                    "model": name,
                    "test acc": fmt(row["test_accuracy"]),
                    "strongest AUC": (
                        f"{interval(row, 'strongest_auc')} {row['strongest_auc_attack']}"
                    ),
                    "strongest TPR@1%FPR": (
                        f"{interval(row, 'strongest_tpr_at_1pct_fpr')} "
                        f"{row['strongest_tpr_attack']}"
                    ),
                    "chance AUC q95": fmt(row["chance_auc_q95"]),
                    "chance TPR q95": fmt(row["chance_tpr_at_1pct_fpr_q95"]),
                    "shift AUC": fmt(row["shift_auc"]),
                }
            )
        base, defended = models["base"], models[report["defense"]]
        for metric in ("auc", "tpr_at_1pct_fpr"):
            column = STRONGEST_COLUMNS[metric][0]
            naive = "lowered" if defended[column] < base[column] else "not lowered"
            verdicts.append(
                {
                    "seed": seed,
                    "metric": metric,
                    "by intervals": report["verdicts"][metric],
                    "by point estimates": naive,
                }
            )
    print(pd.DataFrame(rows).to_markdown(index=False))
    table = pd.DataFrame(verdicts)
    print()
    print(table.to_markdown(index=False))
    for metric, group in table.groupby("metric"):
        for rule in ("by intervals", "by point estimates"):
            print(f"{metric} {rule}: {group[rule].value_counts().to_dict()}")
    print()
    for metric, verdict in aggregate["verdicts"].items():
        print(
            f"over seeds, {metric}: {verdict['verdict']} (difference {fmt(verdict['difference'])} "
            f"± {fmt(verdict['half_width'])})"
        )
    for row in aggregate["models"]:
        print(
            row["model"],
            "acc",
            mean_sd(row, "test_accuracy"),
            "AUC",
            mean_sd(row, "strongest_auc"),
            "TPR",
            mean_sd(row, "strongest_tpr_at_1pct_fpr"),
            "chance AUC",
            mean_sd(row, "chance_auc_q95"),
            "shift",
            mean_sd(row, "shift_auc"),
        )


if __name__ == "__main__":
    main()
