"""What a run found, printed when it ends: the headline of every report it wrote and where the
report is (see :mod:`.core.reports.headline`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..core.reports.headline import (
    Headline,
    attacks_headline,
    autotune_headline,
    comparison_headline,
    comparison_seeds_headline,
    report_headline,
    seeds_headline,
    stored_headline,
)
from .housekeeping import bytes_written_by, human_size
from .records import RUNS_DIR, RunRecord
from .seed_branches import split_branch

# Each report document the summary reads: its headline, and the file to open (the markdown
# report beside it; the attack table itself, which has none).
_REPORTS: dict[str, tuple[Callable[[Any], Headline], str]] = {
    "report": (report_headline, "report_summary"),
    "seeds_report": (seeds_headline, "seeds_summary"),
    "compare_table": (comparison_headline, "compare_summary"),
    "compare_seeds_table": (comparison_seeds_headline, "compare_seeds_summary"),
    "tuned_settings": (autotune_headline, "autotune_summary"),
    "stored_attack_metrics": (stored_headline, "stored_report_summary"),
    "attack_metrics": (attacks_headline, "attack_metrics"),
}
_AGGREGATES = {"seeds_report", "compare_seeds_table"}
# Documents summarized only when the run wrote no report from them (under the same prefix).
_SUPERSEDED_BY = {"attack_metrics": "report"}


def written_reports(outputs: Iterable[str]) -> list[tuple[str, str]]:
    """``(document, markdown)`` dataset names of the reports among a pipeline's ``outputs``.

    A multi-seed run's per-seed reports are left out: its aggregates over the seeds are the
    result (the per-seed reports sit beside them in ``seed_<s>/`` folders).
    """
    outputs = set(outputs)
    branched = any(name.rsplit(".", 1)[-1] in _AGGREGATES for name in outputs)
    found = []
    order = list(_REPORTS)
    for name in sorted(outputs, key=lambda name: (_position(name, order), name)):
        prefix, _, entry = name.rpartition(".")
        if entry not in _REPORTS or (branched and split_branch(name)[0]):
            continue
        if entry in _SUPERSEDED_BY and _SUPERSEDED_BY[entry] in _entries(outputs, prefix):
            continue
        markdown = _REPORTS[entry][1]
        found.append((name, f"{prefix}.{markdown}" if prefix else markdown))
    return found


def _entries(outputs: set[str], prefix: str) -> set[str]:
    """The dataset names of ``outputs`` under ``prefix`` (a namespace; ``""``: none)."""
    return {name.rpartition(".")[2] for name in outputs if name.rpartition(".")[0] == prefix}


def _position(name: str, order: list[str]) -> int:
    entry = name.rsplit(".", 1)[-1]
    return order.index(entry) if entry in order else len(order)


def run_headlines(
    outputs: Iterable[str], catalog: Any, record: RunRecord, project: Path
) -> list[tuple[Headline, Path]]:
    """The headline of every report the finished run of ``record`` wrote (the catalog reads
    them at its version), with its markdown file."""
    headlines = []
    for document, markdown in written_reports(outputs):
        make_headline = _REPORTS[document.rsplit(".", 1)[-1]][0]
        headline = make_headline(catalog.load(document))
        headlines.append((headline, project / record.saved[markdown]["file"]))
    return headlines


def summary_text(headlines: list[tuple[Headline, Path]], project: Path, run_id: str) -> str:
    """The lines printed at the end of a run: each report's headline and file, what the run
    added to ``data/``, and where to look further."""
    written = human_size(bytes_written_by(project, run_id))
    footer = (
        f"This run wrote {written} to data/ (`kedro clean` removes old versions); its record: "
        f"{RUNS_DIR / run_id}.json"
    )
    if not headlines:
        return footer
    if any(part.startswith("scenario") for _, path in headlines for part in path.parts):
        footer += (
            "\nExplore it: jupyter lab notebooks/explore_a_run.ipynb "
            '(needs the notebook extra: pip install -e ".[notebook]")'
        )
    blocks = []
    for headline, report in headlines:
        table = headline.table.to_markdown(index=False, tablefmt="simple")
        warnings = "".join(f"Warning: {warning}\n" for warning in headline.warnings)
        blocks.append(
            f"== {headline.heading} ==\n{table}\n{headline.verdict}\n{warnings}"
            f"{'Report' if report.suffix == '.md' else 'Table'}: {_relative(report, project)}"
        )
    return "\n\n".join([*blocks, footer])


def _relative(path: Path, project: Path) -> Path:
    try:
        return path.resolve().relative_to(project.resolve())
    except ValueError:
        return path
