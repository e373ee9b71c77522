"""The one way the package makes a matplotlib figure: every text in it is plain text.

Class names are folder names a user chose, and matplotlib parses any text holding two `$` as mathtext: a class
`$\\frac$` raised a ParseSyntaxException while the finished run drew its predictions grid, losing metrics.json.
So mathtext and LaTeX are off for the whole process (no figure of this package needs either), set here, where
every module that draws gets `Figure` from (tests/test_architecture.py holds them to it).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

import matplotlib
from matplotlib.figure import Figure

matplotlib.rcParams["text.parse_math"] = False
matplotlib.rcParams["text.usetex"] = False

__all__ = ["Figure", "distinct_labels", "reason"]


def reason(err: BaseException) -> str:
    """The first non-empty line of an error's message, else its type: a skipped figure says why (mathtext's
    messages start with a newline, which left "skipped:" with nothing after it)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def distinct_labels(names: Sequence[str], drawn: Sequence[str] | None = None) -> list[str]:
    """The texts to draw for `names` (`drawn`, default the names themselves), marked where two would look the
    same: class folders `café` in NFC (é as one code point) and in NFD (e + a combining accent) are two classes
    that every font draws alike. Each such label gets its Unicode form, or its code points beyond printable ASCII
    where the form does not tell it from its twin."""
    shown = list(names if drawn is None else drawn)
    keys = [unicodedata.normalize("NFC", text) for text in shown]
    alike = Counter(keys)
    labels = [
        f"{text} [{_form(name)}]" if alike[key] > 1 else text
        for name, text, key in zip(names, shown, keys, strict=True)
    ]
    twins = Counter(labels)
    return [
        f"{text} [{_code_points(name)}]" if twins[label] > 1 else label
        for name, text, label in zip(names, shown, labels, strict=True)
    ]


def _form(name: str) -> str:
    nfc, nfd = unicodedata.is_normalized("NFC", name), unicodedata.is_normalized("NFD", name)
    return "NFC" if nfc and not nfd else "NFD" if nfd and not nfc else _code_points(name)


def _code_points(name: str) -> str:
    points = [f"U+{ord(ch):04X}" for ch in name if not (" " <= ch <= "~")]
    return " ".join(points) or "ASCII"
