"""Everything a person reads after a run: ``report.json`` documents, markdown, HTML pages and
plots.

- :mod:`.tables`: attack metrics as ``{attack: {metric: value}}``, table cells, and
  DataFrames rendered as markdown (:func:`.tables.markdown_table`);
- :mod:`.document`: a report as blocks (headings, paragraphs, tables, figures), rendered as
  ``report.md``; :mod:`.html` renders the same document as one self-contained ``report.html``
  with the plots embedded;
- :mod:`.figures`: every plot, in one style (ROC curves, rounds, privacy-utility with its
  Pareto front, mem-scores);
- one module per report, which only assembles: :mod:`.run` (the default pipeline),
  :mod:`.scenario` (scenario1/2/3), :mod:`.compare` (the defense comparison),
  :mod:`.autotune`, :mod:`.seeds` (aggregates over seeds) and :mod:`.stored` (a stored
  model attacked).

:data:`.titles.TITLES` is the one map from model, stage and defense names to their titles.
"""
