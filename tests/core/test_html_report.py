"""Tests for the report documents and their HTML pages (core/reports/document.py, html.py):
escaping, embedded plots, and a scenario report's settings section, on hand-made reports."""

from __future__ import annotations

import base64
import io
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from wemem_pipeline.core.reports.document import Document
from wemem_pipeline.core.reports.html import html_page, inline
from wemem_pipeline.core.reports.scenario import scenario_document, scenario_markdown

HOSTILE = '<script>alert("x")</script>&'


def _png() -> bytes:
    figure, axes = plt.subplots(figsize=(1, 1))
    axes.plot([0, 1], [0, 1])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _embedded(page: str) -> list[bytes]:
    return [
        base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    ]


def test_every_text_is_escaped_and_only_the_inline_marks_become_tags() -> None:
    document = Document(f"Report on {HOSTILE}").heading(f"Model {HOSTILE}")
    document.paragraph(f"**lowered** for `{HOSTILE}`").bullets([HOSTILE])
    document.table(pd.DataFrame({HOSTILE: [f"**{HOSTILE}**"]})).code(HOSTILE)
    page = html_page(document, {})
    assert "<script>" not in page and 'alert("x")' not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") == 8  # title twice
    assert "<strong>lowered</strong>" in page
    assert inline("`a<b`") == "<code>a&lt;b</code>"


def test_plots_are_embedded_as_the_png_files_given() -> None:
    png = _png()
    document = Document("plots").figure("roc_curves.png", "ROC").paragraph("after")
    page = html_page(document, {"roc_curves.png": png, "unused.png": b"not shown"})
    assert _embedded(page) == [png]
    assert not re.search(r'(src|href)="(?!data:)', page)  # no file or network reference
    with pytest.raises(ValueError, match="roc_curves.png"):
        html_page(document, {})
    with pytest.raises(ValueError, match="PNG"):
        html_page(document, {"roc_curves.png": b"GIF89a"})


def _attacks(auc: float) -> dict:
    return {
        "lira": {
            "balanced_accuracy": 0.5,
            "auc": auc,
            "tpr_at_1pct_fpr": 0.02,
            "tpr_at_0_1pct_fpr": 0.0,
            "auc_ci": [auc - 0.05, auc + 0.05],
            "tpr_at_1pct_fpr_ci": [0.0, 0.04],
        }
    }


def _scenario_report(source: dict | None) -> dict:
    reuse = {
        "members": 10,
        "members_seen_per_round": 10,
        "members_never_seen": 0,
        "mean_uses_total": 3.0,
        "max_uses_total": 3,
    }
    models = [
        {"name": "dense", "test_accuracy": 0.9, "sparsity": 0.0, "attacks": _attacks(0.61)},
        {"name": "base", "test_accuracy": 0.8, "sparsity": 0.5, "attacks": _attacks(0.7123)},
        {"name": "swmr", "test_accuracy": 0.7, "sparsity": 0.5, "attacks": _attacks(0.5432)},
    ]
    for model in models[1:]:
        model |= {"reuse": reuse, "time_relative_to_base": 1.0}
    return {
        "dataset": HOSTILE,
        "scenario": "scenario3",
        "defense": "swmr",
        "parameters": {"pruning": {"sparsity": 0.5, "rounds": 3, "epochs_per_round": 2}},
        "evaluation": {"members": 200, "non_members": 200, "bootstrap": 100},
        "verdicts": {"auc": "lowered", "tpr_at_1pct_fpr": "no clear difference"},
        "defense_settings": {
            "settings": {"window": {"width": 0.25, "order": "low_to_high"}, "risky": {}},
            "autotune": source,
        },
        "defense_summary": {},
        "models": models,
        "warnings": [f"a warning about {HOSTILE}"],
    }


def test_a_scenario_page_has_the_numbers_settings_and_their_source() -> None:
    source = {"study": "swmr-digits-<1>", "run": "2026-12-01T10.00.00.000Z", "file": "x.json"}
    report = _scenario_report(source)
    plots = {file: _png() for file in scenario_document(report).figure_files()}
    page = html_page(scenario_document(report), plots)
    assert len(_embedded(page)) == 2  # privacy-utility and ROC; no record-risk section here
    for text in ("0.712", "0.543", "[0.49, 0.59]", "<strong>lowered</strong>", "Warnings"):
        assert text in page
    settings = re.search(r"<h2>Settings used \(SWMR\)</h2>(.*?)</table>", page, re.S).group(1)
    assert "<td>window.width</td><td>0.25</td>" in settings
    assert "<td>window.order</td><td>low_to_high</td>" in settings
    assert "<td>risky</td><td>{}</td>" in settings
    assert "<code>swmr-digits-&lt;1&gt;</code> (run 2026-12-01T10.00.00.000Z" in settings
    assert "sparsity 0.5 in 3 rounds of up to 2" in settings
    markdown = scenario_markdown(report)  # the same document: settings and source there too
    assert "| window.width" in markdown and "`scenario3.settings: auto`" in markdown


def test_settings_from_the_parameters_are_said_to_be() -> None:
    markdown = scenario_markdown(_scenario_report(None))
    assert "from `scenario3.settings` in the run's parameters" in markdown
    assert "autotune" not in markdown
