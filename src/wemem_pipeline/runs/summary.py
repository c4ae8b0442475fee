"""What a run found, printed when it ends: the headline of every report it wrote and where the
report is (see :mod:`.core.reports.headline`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.reports.headline import (
    Headline,
    attacks_headline,
    audit_headline,
    autotune_headline,
    comparison_headline,
    comparison_seeds_headline,
    leaderboard_headline,
    report_headline,
    seeds_headline,
    stored_headline,
)
from .housekeeping import bytes_written_by, human_size
from .records import RUNS_DIR, RunRecord
from .seed_branches import split_branch

# Each report document the summary reads: its headline, the markdown report beside it (the
# attack table itself, which has none) and the report's HTML page (None: no page).
_REPORTS: dict[str, tuple[Callable[[Any], Headline], str, str | None]] = {
    "report": (report_headline, "report_summary", "report_html"),
    "seeds_report": (seeds_headline, "seeds_summary", "seeds_html"),
    "compare_table": (comparison_headline, "compare_summary", "compare_html"),
    "compare_seeds_table": (
        comparison_seeds_headline,
        "compare_seeds_summary",
        "compare_seeds_html",
    ),
    "tuned_settings": (autotune_headline, "autotune_summary", "autotune_html"),
    "audit_report": (audit_headline, "audit_summary", "audit_html"),
    "leaderboard_fronts": (leaderboard_headline, "leaderboard_summary", "leaderboard_html"),
    "stored_attack_metrics": (stored_headline, "stored_report_summary", "stored_html"),
    "attack_metrics": (attacks_headline, "attack_metrics", None),
}


@dataclass
class WrittenReport:
    """A report a run wrote: its headline, its markdown and HTML artifacts (dataset names),
    their files of this run, and its folder under ``latest/`` once published."""

    headline: Headline
    markdown_artifact: str
    markdown: Path
    html: Path | None
    latest: Path | None = None


_AGGREGATES = {"seeds_report", "compare_seeds_table"}
# Documents summarized only when the run wrote no report from them (under the same prefix).
_SUPERSEDED_BY = {"attack_metrics": "report"}


def written_reports(outputs: Iterable[str]) -> list[tuple[str, str, str | None]]:
    """``(document, markdown, html)`` dataset names of the reports among a pipeline's
    ``outputs``.

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
        names = (
            (f"{prefix}.{artifact}" if prefix else artifact) if artifact else None
            for artifact in _REPORTS[entry][1:]
        )
        found.append((name, *names))
    return found


def _entries(outputs: set[str], prefix: str) -> set[str]:
    """The dataset names of ``outputs`` under ``prefix`` (a namespace; ``""``: none)."""
    return {name.rpartition(".")[2] for name in outputs if name.rpartition(".")[0] == prefix}


def _position(name: str, order: list[str]) -> int:
    entry = name.rsplit(".", 1)[-1]
    return order.index(entry) if entry in order else len(order)


def run_headlines(
    outputs: Iterable[str], catalog: Any, record: RunRecord, project: Path
) -> list[WrittenReport]:
    """Every report the finished run of ``record`` wrote, with its headline (the catalog
    reads them at its version)."""
    reports = []
    for document, markdown, html in written_reports(outputs):
        make_headline = _REPORTS[document.rsplit(".", 1)[-1]][0]
        headline = make_headline(catalog.load(document))
        page = project / record.saved[html]["file"] if html in record.saved else None
        reports.append(
            WrittenReport(headline, markdown, project / record.saved[markdown]["file"], page)
        )
    return reports


def summary_text(reports: list[WrittenReport], project: Path, run_id: str) -> str:
    """The lines printed at the end of a run: each report's headline and the file to open
    (its page under ``latest/`` and this run's version), what the run added to ``data/``,
    and where to look further."""
    written = human_size(bytes_written_by(project, run_id))
    footer = (
        f"This run wrote {written} to data/ (`kedro clean` removes old versions); its record: "
        f"{RUNS_DIR / run_id}.json"
    )
    if not reports:
        return footer
    if any(part.startswith("scenario") for r in reports for part in r.markdown.parts):
        footer += (
            "\nExplore it: jupyter lab notebooks/explore_a_run.ipynb "
            '(needs the notebook extra: pip install -e ".[notebook]")'
        )
    blocks = []
    for report in reports:
        headline = report.headline
        table = headline.table.to_markdown(index=False, tablefmt="simple")
        warnings = "".join(f"Warning: {warning}\n" for warning in headline.warnings)
        blocks.append(
            f"== {headline.heading} ==\n{table}\n{headline.verdict}\n{warnings}"
            f"{_where(report, project)}"
        )
    return "\n\n".join([*blocks, footer])


def _where(report: WrittenReport, project: Path) -> str:
    """``Report: <the page to open>``, and this run's version of it."""
    own = _relative(report.html or report.markdown, project)
    if report.latest is None:
        return f"{'Report' if own.suffix in ('.md', '.html') else 'Table'}: {own}"
    opened = report.latest / (report.html or report.markdown).name
    return f"Report: {opened}\n  (this run's version: {own})"


def _relative(path: Path, project: Path) -> Path:
    try:
        return path.resolve().relative_to(project.resolve())
    except ValueError:
        return path
