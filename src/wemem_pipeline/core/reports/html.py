"""A report :class:`.document.Document` as one self-contained HTML page: its plots embedded
as PNG data URIs, no external file, script or font, so the page opens anywhere, offline.

Every text is escaped (dataset, model and attack names come from the user's files and
parameters); only the reports' two inline marks, ``**bold**`` and ```code```, become tags.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .document import Block, Bullets, Code, Document, Figure, Heading, Paragraph, Table

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em;
       line-height: 1.45; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; } tr:nth-child(even) td { background: #fafafa; }
code, pre { background: #f4f4f4; font-family: ui-monospace, monospace; }
pre { padding: 0.6em; overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #555; }
.table-scroll { overflow-x: auto; }
"""


def inline(text: str) -> str:
    """``text`` escaped, its ``**bold**`` and ```code``` marks as ``<strong>`` and ``<code>``."""
    escaped = html.escape(text, quote=True)
    return _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<strong>\1</strong>", escaped))


def png_data_uri(png: bytes | Any) -> str:
    """``png`` as a ``data:image/png;base64,...`` URI; refuses bytes that are not a PNG.

    ``png`` may also be the matplotlib figure itself (a run held in memory, as
    ``benchmarks/stage_times.py`` runs one, hands the page node the figure, not its file).
    """
    if hasattr(png, "savefig"):
        buffer = io.BytesIO()
        png.savefig(buffer, format="png")
        png = buffer.getvalue()
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("a report figure must be a PNG file (it does not start like one)")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def html_page(document: Document, figures: Mapping[str, bytes]) -> str:
    """The page of ``document``, each of its figures taken from ``figures`` ({file: PNG})."""
    missing = [file for file in document.figure_files() if file not in figures]
    if missing:
        raise ValueError(f"the report shows {', '.join(missing)} but was not given the plot")
    body = "\n".join(_block(block, figures) for block in document.blocks)
    title = inline(document.title)
    plain_title = html.escape(document.title.replace("`", ""))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{plain_title}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    )


def _block(block: Block, figures: Mapping[str, bytes]) -> str:
    if isinstance(block, Heading):
        level = min(block.level, 6)
        return f"<h{level}>{inline(block.text)}</h{level}>"
    if isinstance(block, Paragraph):
        return f"<p>{inline(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{inline(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Table):
        return _table(block.frame)
    if isinstance(block, Code):
        return f"<pre><code>{html.escape(block.text)}</code></pre>"
    if isinstance(block, Figure):
        source = png_data_uri(figures[block.file])
        caption = inline(block.caption)
        return (
            f'<figure><img src="{source}" alt="{html.escape(block.file)}">'
            f"<figcaption>{caption} (<code>{html.escape(block.file)}</code>)</figcaption></figure>"
        )
    raise TypeError(f"not a report block: {block!r}")


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{inline(str(column))}</th>" for column in frame.columns)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{inline(str(cell))}</td>" for cell in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return (
        f'<div class="table-scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table></div>"
    )
