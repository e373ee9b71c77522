"""Issue 29, item 4: copies among the judged images are counted, said, and each distinct image is tested once."""

from __future__ import annotations

import csv
import json

from report_fixtures import N_VAL, first_bees, section, val_rows, write_run
from test_crossval_report import IMAGES
from test_report_families import EVEN, write_cv_method
from tl_lightning.report.write import write_report


def _images(root, names: list[str], copies: set[str]) -> None:
    """One file per name, all different except `copies`, which hold the same bytes."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"one image" if name in copies else name.encode())


def test_val_copies_are_counted_said_and_tested_once(tmp_path):
    data = tmp_path / "data"
    names = [f"val/{c}/{c}_{i}.jpg" for c, i in val_rows()]
    _images(data, names, {"val/bees/bees_0.jpg", "val/bees/bees_1.jpg", "val/bees/bees_2.jpg"})
    sweep = tmp_path / "sweep"
    # vgg16 misses the first 8 bees, three of them one image: 8 discordant files, 6 distinct images.
    for i, (arch, wrong) in enumerate((("alexnet", set()), ("vgg16", first_bees(8)))):
        run = write_run(sweep / f"{i}_arch={arch}", arch, "extractor", (N_VAL - len(wrong),) * 2, wrong_last=wrong)
        metrics = json.loads((run / "metrics.json").read_text())
        (run / "metrics.json").write_text(json.dumps({**metrics, "data_root": str(data)}))
        for name in ("val_predictions.csv", "val_predictions_last.csv"):
            rows = list(csv.reader((run / name).read_text().splitlines()))
            for row in rows[1:]:
                row[0] = str(data / "val" / row[1] / row[0].rsplit("/", 1)[1])
            with open(run / name, "w", newline="") as f:
                csv.writer(f).writerows(rows)
    report = write_report(sweep).read_text()
    header = report.split("## Results")[0]
    assert "These 153 files are 151 distinct images: 2 copies of an image judged as well." in header
    assert "the paired tests count each distinct image once" in header
    # Exact McNemar over 6 distinct discordant images: 2 / 2**6, not 2 / 2**8 over the 8 files.
    assert "exact McNemar p = 0.0312" in section(report, "### 4. Which network won")


def test_pooled_cv_copies_are_counted_once_per_repeat(tmp_path):
    data = tmp_path / "data"
    _images(data, [image for image, _ in IMAGES], {"val/ants/ants_0.jpg", "val/ants/ants_3.jpg"})
    cv = tmp_path / "cv"
    cv.mkdir()
    write_cv_method(cv, "alexnet", "extractor", EVEN, data)
    text = section(write_report(cv).read_text(), "## Cross-validation")
    assert "pooled (39 labelled images)" in text
    assert "These 40 files are 39 distinct labelled images: 1 copy of an image judged as well." in text


def test_unreadable_images_are_said_not_checked(tmp_path):
    run = write_run(tmp_path / "0_arch=alexnet", "alexnet", "extractor", (140, 140))
    assert "Copies among these images were not checked" in write_report(run).read_text().split("## Results")[0]
