"""Holm families: which comparisons are corrected together, named by the question and what it is asked of.

A family holds the comparisons that answer one question about one arch (strategy pairs) or one strategy (arch
pairs), so a cell that does not answer a comparison's question never changes its Holm-adjusted p. Used alike by
the val-split tests (noise.py) and the cross-validation tests (crossval.py).
"""

from __future__ import annotations

import re

from tl_lightning.report.escape import code

# Each family's name: the question and the arch or strategy it is asked of (text the report prints).
FAMILIES = {
    "Q2": "Q2 for {arch} (`extractor` vs `finetune`)",
    "Q3": "Q3 for {arch} (`mixed` vs `extractor` and vs `finetune`)",
    "Q4": "Q4 under `{strategy}` (pairs of archs)",
    "strategy": "other strategy pairs for {arch}",
    "setting": "the swept setting {setting} for {arch}/{strategy}",
}
FAMILY_RULE = (
    "Holm families: Q2 per arch (its one `extractor`–`finetune` pair, so nothing to correct), Q3 per arch (`mixed` "
    "vs `extractor` and vs `finetune`), Q4 per strategy (every pair of archs under it), other strategy pairs per "
    "arch, a swept setting per arch and strategy; each also per combination of the other swept settings. A cell "
    "outside a family never changes its verdicts. The chance of a false *better* is at most α within each family, "
    "not across families: Q2's verdicts for several archs are each uncorrected for the others."
)


def question(axis: str, strategies: set[str]) -> str:
    """Q2, Q3, Q4, `strategy` (another strategy pair) or the swept setting a pair of cells varies."""
    if axis == "arch":
        return "Q4"
    if axis != "strategy":
        return axis
    if strategies == {"extractor", "finetune"}:
        return "Q2"
    return "Q3" if "mixed" in strategies and strategies & {"extractor", "finetune"} else "strategy"


def family_name(axis: str, arch: str, strategies: set[str], view: str = "") -> str:
    """The family of a pair of one arch (axis strategy), one strategy (axis arch) or one arch and strategy."""
    asked = question(axis, strategies)
    strategy = next(iter(strategies)) if len(strategies) == 1 else ""
    template = FAMILIES.get(asked, FAMILIES["setting"])
    name = template.format(arch=arch, strategy=strategy, setting=code(axis))
    return name + (f", with {view}" if view else "")


def short_name(family: str) -> str:
    """A family's name without the question's description: `Q4 under `extractor``, `Q2 for alexnet`."""
    return re.sub(r" \([^)]*\)", "", family, count=1) if family[:1] == "Q" else family
