"""Accuracy of two frozen-pass choices, cell by cell, with the report's paired test on the same val images.

Pairs run folders of two sweep roots by (arch, strategy, seed) from their metrics.json; per cell, the
last-epoch correctness of every image (val_predictions_last.csv) goes into report/paired.py's paired_test
(the exact sign-flip test over images; McNemar where it reduces to it). Only seeds present and finished
on both sides are compared; the table says which.

    PYTHONPATH=src python benchmarks/compare_frozen_pass.py /work/study/val /work/study/fast
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tl_lightning.report.paired import paired_test
from tl_lightning.report.read import read_predictions


def finished(root: Path) -> dict[tuple[str, str, int], Path]:
    runs = {}
    for metrics in sorted(root.rglob("metrics.json")):
        m = json.loads(metrics.read_text())
        if (metrics.parent / "val_predictions_last.csv").is_file():
            runs[(m["arch"], m["strategy"], int(m["seed"]))] = metrics.parent
    return runs


def correct(run: Path) -> tuple[list[str], list[bool]]:
    rows = read_predictions(run / "val_predictions_last.csv") or []
    return [Path(r["path"]).name for r in rows], [r["true"] == r["pred"] for r in rows]


def frozen_pass(run: Path) -> str:
    settings = json.loads((run / "metrics.json").read_text()).get("settings", {})
    return str(settings.get("frozen_pass", "fp32 (before frozen_pass was recorded)"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path, help="sweep root of the reference runs (e.g. trainer=cpu, fp32)")
    ap.add_argument("b", type=Path, help="sweep root of the fast-path runs")
    args = ap.parse_args()
    a, b = finished(args.a), finished(args.b)
    print("| cell | frozen pass A / B | seeds | val acc last A | val acc last B | images differing | test | p |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for arch, strategy in sorted({(k[0], k[1]) for k in a} & {(k[0], k[1]) for k in b}):
        seeds = sorted(s for (x, y, s) in a if (x, y) == (arch, strategy) and (x, y, s) in b)
        if not seeds:
            continue
        ca, cb, differing = [], [], []
        for seed in seeds:
            (names_a, right_a), (names_b, right_b) = correct(a[arch, strategy, seed]), correct(b[arch, strategy, seed])
            assert names_a == names_b, f"{arch}/{strategy} seed {seed}: val images in another order"
            ca.append(right_a)
            cb.append(right_b)
            differing.append(sum(x != y for x, y in zip(right_a, right_b, strict=True)))
        test, p = paired_test(ca, cb)
        acc = [", ".join(f"{sum(c) / len(c):.4f}" for c in side) for side in (ca, cb)]
        passes = f"{frozen_pass(a[arch, strategy, seeds[0]])} / {frozen_pass(b[arch, strategy, seeds[0]])}"
        row = [f"{arch}/{strategy}", passes, ", ".join(map(str, seeds)), *acc, ", ".join(map(str, differing))]
        print("| " + " | ".join([*row, test, f"{p:.3g}"]) + " |")


if __name__ == "__main__":
    main()
