"""Reading CSV files as people save them from spreadsheets: comma- or semicolon-separated,
quotes checked strictly, blank lines skipped. Shared by every CSV import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


def strict_reader(text: str):
    """A csv.reader of `text`: semicolon-separated when its first line has semicolons and no
    comma (a spreadsheet saved in a comma-decimal locale), else comma-separated. Strict: a
    stray or unclosed quote raises csv.Error rather than being read as one huge value."""
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def data_rows(reader) -> Iterator[tuple[int, list[str]]]:
    """(the line the row starts on, its cells) for each row of `reader` that is not blank,
    from where it stands (after the header). csv.Error reaches the caller."""
    while True:
        line = reader.line_num + 1
        cells = next(reader, None)
        if cells is None:
            return
        if any(c.strip() for c in cells):
            yield line, cells
