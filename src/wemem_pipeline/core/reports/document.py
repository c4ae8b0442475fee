"""A report as a sequence of blocks (headings, paragraphs, bullets, tables, code, figures), so
that ``report.md`` and ``report.html`` are two renderings of one document.

Texts and table cells may carry the two inline marks the reports use, ``**bold**`` and
```code```; :mod:`.html` turns them into tags after escaping the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from .tables import markdown_table


@dataclass(frozen=True)
class Heading:
    text: str
    level: int


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame  # display cells, formatted already


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


@dataclass(frozen=True)
class Figure:
    """A plot of the report, by its file name (``roc_curves.png``). The markdown names the
    plot files in its text; the HTML page embeds the image."""

    file: str
    caption: str


Block = Heading | Paragraph | Bullets | Table | Code | Figure


@dataclass
class Document:
    """A report's title and blocks; the builder methods return the document for chaining."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> Document:
        self.blocks.append(Heading(text, level))
        return self

    def paragraph(self, text: str) -> Document:
        """A paragraph; an empty text adds nothing (a sentence that has nothing to say)."""
        if text:
            self.blocks.append(Paragraph(text))
        return self

    def bullets(self, items: Iterable[str]) -> Document:
        items = tuple(item for item in items if item)
        if items:
            self.blocks.append(Bullets(items))
        return self

    def table(self, frame: pd.DataFrame) -> Document:
        self.blocks.append(Table(frame))
        return self

    def code(self, text: str, language: str = "") -> Document:
        self.blocks.append(Code(text, language))
        return self

    def warnings(self, warnings: Sequence[str]) -> Document:
        """A ``Warnings`` section, each warning in bold; nothing when there are none."""
        if warnings:
            self.heading("Warnings").bullets(f"**{warning}**" for warning in warnings)
        return self

    def figure(self, file: str, caption: str) -> Document:
        self.blocks.append(Figure(file, caption))
        return self

    def extend(self, blocks: Sequence[Block]) -> Document:
        self.blocks.extend(blocks)
        return self

    def figure_files(self) -> list[str]:
        """The plot files the document shows, in order."""
        return [block.file for block in self.blocks if isinstance(block, Figure)]

    def markdown(self) -> str:
        """The document as markdown: the title as ``#`` heading, blocks separated by blank
        lines; figures are left to the text that names their files."""
        parts = [f"# {self.title}"]
        parts += [text for block in self.blocks if (text := _markdown_block(block))]
        return "\n\n".join(parts) + "\n"


def _markdown_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return markdown_table(block.frame)
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text}\n```"
    return ""
