"""CSV cells that a spreadsheet will not run as formulas, and the package's way of reading them back.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and Google
Sheets (`=HYPERLINK(...)` in a class folder's name would become a live link in summary.csv). As OWASP's CSV
injection advice and spreadsheet-safe writers do, such a text cell is written with a leading single quote, which
spreadsheets show as text; plain numbers (`-0.5`) are left alone, since they are not formulas. A text cell that
already starts with a quote gets one more, so `unguard` restores every value exactly: the package's readers call
it on each cell and see the names as they were.
"""

from __future__ import annotations

import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def guard(value: object) -> object:
    """`value` as a spreadsheet-safe cell: numbers and None unchanged, risky text prefixed with a single quote."""
    if not isinstance(value, str) or not value or _NUMBER.match(value):
        return value
    return QUOTE + value if value.startswith((*TRIGGERS, QUOTE)) else value


def unguard(text: str) -> str:
    """The value `guard` was given, from the cell it wrote."""
    if text.startswith(QUOTE) and text[1:].startswith((*TRIGGERS, QUOTE)):
        return text[1:]
    return text


def guard_row(row: list | tuple) -> list:
    return [guard(value) for value in row]
