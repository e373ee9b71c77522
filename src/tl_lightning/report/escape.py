"""Names from run folders (class folders, settings, folder names) as inert Markdown: the report's one escaper.

A class folder named `<img src=x onerror=...>` or a setting holding `|` must show as text in report.md, not become
HTML or split a table. `md` is for table cells and running text; `code` for names shown as code spans.
"""

from __future__ import annotations

import re

from tl_lightning.report.read import one_line

# Markdown punctuation that can start emphasis, code, tables, escapes or a link anywhere in a line: `_` only at a
# word's edge (inside a word it is never emphasis), `]` only where a link or image would follow (`](`, `][`).
_MARKDOWN = re.compile(r"([\\`*|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\](?=[(\[:]))")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md(text: object, limit: int = 200) -> str:
    """One printable line of `text` that renders as exactly that text in Markdown (HTML tags, entities, `|`,
    emphasis and links are all escaped); cut to `limit` characters before escaping."""
    line = one_line(str(text), limit, keep_bars=True)
    line = "".join(_HTML.get(ch, ch) for ch in line)
    return _MARKDOWN.sub(r"\\\1", line)


def code(text: object, limit: int = 200) -> str:
    """`text` as an inline code span (no Markdown or HTML inside one), for running text, not table cells (GFM splits
    cells at `|` even inside code spans); the fence is longer than any backtick run in the text (CommonMark)."""
    line = one_line(str(text), limit, keep_bars=True)
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"
