"""The one way the package makes a matplotlib figure: every text in it is plain text.

Class names are folder names a user chose, and matplotlib parses any text holding two `$` as mathtext: a class
`$\\frac$` raised a ParseSyntaxException while the finished run drew its predictions grid, losing metrics.json.
So mathtext and LaTeX are off for the whole process (no figure of this package needs either), set here, where
every module that draws gets `Figure` from (tests/test_architecture.py holds them to it).
"""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

matplotlib.rcParams["text.parse_math"] = False
matplotlib.rcParams["text.usetex"] = False

__all__ = ["Figure", "reason"]


def reason(err: BaseException) -> str:
    """The first non-empty line of an error's message, else its type: a skipped figure says why (mathtext's
    messages start with a newline, which left "skipped:" with nothing after it)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
