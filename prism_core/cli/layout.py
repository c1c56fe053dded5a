"""Text that fits the terminal: tables whose columns keep their place, paragraphs and result
lines wrapped at word boundaries, and the ``--help`` formatter that wraps prose but keeps
listings (examples, exit codes) as written. Pure functions over strings; the width comes
from :func:`output_width`."""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from argparse import HelpFormatter
from collections.abc import Sequence
from typing import TextIO

GAP = "  "
MIN_FLEX = 8  # a wrapping column never gets narrower than this
COMFORT = 20  # wrapping columns shrink to this before a name column gives way


def output_width(stream: TextIO | None = None) -> int | None:
    """Columns to fit: ``COLUMNS`` when set, the terminal's width on a terminal, else None
    (a pipe or a file gets whole lines; machines read ``-o json``)."""
    stream = stream or sys.stdout
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    size = shutil.get_terminal_size((80, 24)).columns
    return size if size > 0 else 80


def wrap(text: str, width: int | None, indent: str = "", hang: str | None = None) -> str:
    """``text`` wrapped at word boundaries to ``width`` (None: unchanged), each paragraph
    starting with ``indent`` and continuing with ``hang`` (default: the same indent)."""
    if width is None:
        return "\n".join(indent + line if line else line for line in text.split("\n"))
    hang = indent if hang is None else hang
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            out.append("")
            continue
        out.extend(
            textwrap.wrap(
                line,
                width=max(width, len(indent) + 1),
                initial_indent=indent,
                subsequent_indent=hang,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def _cell_lines(cell: str, width: int) -> list[str]:
    """``cell`` wrapped at spaces; a word wider than ``width`` is then split after its
    hyphens if it has any (a name in a sentence), else left whole."""
    lines: list[str] = []
    for part in cell.split("\n"):
        words = textwrap.wrap(part, width=width, break_long_words=False, break_on_hyphens=False)
        for line in words or [""]:
            if len(line) > width:
                lines.extend(textwrap.wrap(line, width=width, break_long_words=False))
            else:
                lines.append(line)
    return lines


def _fit(
    natural: list[int],
    headings: Sequence[str],
    flex: set[int],
    width: int,
    last: set[int] | None = None,
) -> list[int]:
    """Shrink the widest flexible columns until the row fits ``width`` (or they reach the
    minimum: then the table is as narrow as it can be without breaking words). Columns in
    ``last`` give way only once the others are down to a third of ``width`` (at least
    :data:`COMFORT` columns)."""
    widths = list(natural)
    total = sum(widths) + len(GAP) * (len(widths) - 1)
    last = last or set()
    for group, comfort in ((flex - last, max(COMFORT, width // 3)), (flex, 0)):
        while total > width:
            candidates = [
                i for i in group if widths[i] > max(MIN_FLEX, comfort, len(headings[i]))
            ]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= 1
            total -= 1
    return widths


def table(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    wrap_columns: Sequence[int] = (),
    spill_columns: Sequence[int] = (),
) -> str:
    """An aligned table. Columns in ``wrap_columns`` (by index; default: the last unless
    ``spill_columns`` are given) wrap at spaces so the table fits ``width``; a
    cell of a column in ``spill_columns`` (names, ids: never split) that is wider than its
    column is put whole on a line of its own, above the row, starting at that column. The
    other columns keep their full width. A word longer than its column is never cut: the
    line then runs past ``width``."""
    cells = [[str(c) for c in row] for row in rows]
    count = len(headings)
    natural = [
        max([len(headings[i])] + [len(line) for r in cells for line in r[i].split("\n")])
        for i in range(count)
    ]
    spill = set(spill_columns)
    flex = set(wrap_columns or ([] if spill else [count - 1])) | spill
    widths = natural if width is None else _fit(natural, headings, flex, width, spill)
    for i in spill:  # a spill column as wide as the cells it keeps; the rest to the others
        kept = [len(r[i]) for r in cells if len(r[i]) <= widths[i]]
        spare = widths[i] - max([len(headings[i]), *kept])
        widths[i] -= spare
        for j in sorted(flex - spill):
            grow = min(spare, natural[j] - widths[j])
            widths[j] += max(grow, 0)
            spare -= max(grow, 0)
    starts = [sum(widths[:i]) + len(GAP) * i for i in range(count)]
    out = [GAP.join(h.ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip()]
    for row in cells:
        row = list(row)
        for i in sorted(spill):
            if len(row[i]) > widths[i]:
                out.append(" " * starts[i] + row[i].replace("\n", " "))
                row[i] = ""
        wrapped = [
            _cell_lines(cell, widths[i]) if i in flex else cell.split("\n")
            for i, cell in enumerate(row)
        ]
        for n in range(max(len(w) for w in wrapped)):
            parts = [(w[n] if n < len(w) else "").ljust(widths[i]) for i, w in enumerate(wrapped)]
            out.append(GAP.join(parts).rstrip())
    return "\n".join(out)


def table_lines(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    shrink_columns: Sequence[int] = (),
) -> list[str]:
    """One line per row (for pickers, where a row cannot wrap): the columns in
    ``shrink_columns`` (default: the first) are cut with an ellipsis to fit ``width``."""
    cells = [[str(c).replace("\n", " ") for c in row] for row in rows]
    count = len(headings)
    natural = [max([len(headings[i])] + [len(r[i]) for r in cells]) for i in range(count)]
    flex = set(shrink_columns or [0])
    widths = natural if width is None else _fit(natural, headings, flex, width)

    def cut(text: str, size: int) -> str:
        return text if len(text) <= size else text[: max(size - 1, 0)] + "\u2026"

    return [
        GAP.join(cut(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(headings), *cells]
    ]


#: The start of a line that its wrapped continuation lines go under: leading spaces, an
#: icon (an emoji, or a plain marker such as ``ok`` or ``-``) and a ``Label:`` if any.
_LEAD = re.compile(r"^( *)((?:[^\x00-\x7f]\ufe0f?|ok|FAILED|[-*>!]) +)?([A-Z][A-Za-z ]{0,14}: +)?")


#: A line that is a command to copy and paste (indented, nothing else on it): never wrapped.
COMMAND_LINE = re.compile(r"^ *(?:prism|ssh|aws|scp|ssh-keygen|git|pip) [^\n]*$")


def fit_lines(text: str, width: int | None) -> str:
    """``text`` whose lines wider than ``width`` are wrapped at word boundaries, each
    continuing under its own text (after its indent, icon and ``Label:``); lines that fit
    are unchanged, a word longer than the line is never split, and a line that is only a
    command (:data:`COMMAND_LINE`) is kept whole for copy and paste (``None``: unchanged)."""
    if width is None:
        return text
    out = []
    for line in text.split("\n"):
        if COMMAND_LINE.match(line):
            out.append(line)
            continue
        lead = _LEAD.match(line)
        icon = lead.group(2) or "" if lead else ""
        wide = 1 if icon[:1] and not icon[:1].isascii() else 0  # an emoji takes two columns
        if len(line) + wide <= width:
            out.append(line)
            continue
        under = lead.end() if lead else 0
        longest = max((len(word) for word in line[under:].split()), default=0)
        if lead and lead.group(3) and under + wide + longest >= width - 1 - wide:
            under = lead.start(3)  # a long path or id: under the label, not its value
        out.append(wrap(line, width - 1 - wide, hang=" " * (under + wide)))
    return "\n".join(out)


class ListingHelpFormatter(HelpFormatter):
    """argparse's formatter, except that listings are kept as written: indented lines
    (examples, tables, exit codes) and the heading line just above them (``examples:``).
    Unindented prose around them is wrapped to the terminal's width."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            self._fill_paragraph(paragraph, width, indent) for paragraph in text.split("\n\n")
        )

    def _fill_paragraph(self, paragraph: str, width: int, indent: str) -> str:
        lines = paragraph.split("\n")
        blocks: list[str] = []
        prose: list[str] = []
        for index, line in enumerate(lines + [" "]):  # a last listing line flushes the prose
            following = lines[index + 1] if index + 1 < len(lines) else ""
            heading = line.rstrip().endswith(":") and following.startswith(" ")
            if not (line.startswith(" ") or heading):
                prose.append(line)
                continue
            if prose:
                blocks.append(super()._fill_text(" ".join(prose), width, indent))
                prose = []
            if index < len(lines):
                blocks.append(indent + line)
        return "\n".join(blocks)
