"""A hostile sweep folder cannot make the report write through links, hang, fill memory or show files outside the
run's data; names from it render as text in report.md and as text cells in the CSVs."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from report_fixtures import write_run
from tl_lightning.report.__main__ import main as report_main
from tl_lightning.report.groups import load_sweep
from tl_lightning.report.read import read_predictions
from tl_lightning.run.outputs import artifacts
from tl_lightning.spreadsheet import TRIGGERS, guard, unguard

SRC = Path(__file__).resolve().parents[1] / "src"


def report_cli(sweep: Path, timeout: float = 120, memory: int | None = None) -> subprocess.CompletedProcess:
    """`python -m tl_lightning.report SWEEP` in a child with a timeout (and an address-space cap, in bytes)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def cap() -> None:
        if memory:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    cmd = [sys.executable, "-m", "tl_lightning.report", str(sweep)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=cap)


@pytest.mark.parametrize("name", ["summary.csv", "summary.md", "report.md"])
def test_a_linked_output_file_is_refused_and_its_target_kept(tmp_path, capsys, name):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("four years of work\n")
    (sweep / name).symlink_to(thesis)
    assert report_main([str(sweep)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot write {sweep / name}: it is a symbolic link (to {thesis})")
    assert len(err.strip().splitlines()) == 1
    assert thesis.read_text() == "four years of work\n" and (sweep / name).is_symlink()
    assert {p.name for p in sweep.iterdir()} == {"0_run", name}  # refused before anything was written


def test_a_linked_figures_folder_is_refused_and_its_pictures_kept(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    Image.new("RGB", (4, 4), "red").save(pictures / "holiday.png")
    (sweep / "report_figures").symlink_to(pictures)
    assert report_main([str(sweep)]) == 2
    err = capsys.readouterr().err
    assert f"error: Cannot write {sweep / 'report_figures'}: it is a symbolic link (to {pictures})" in err
    assert [p.name for p in pictures.iterdir()] == ["holiday.png"]


def fifo(path: Path) -> None:
    os.mkfifo(path)  # reading it waits forever for a writer


def dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")  # endless bytes: MemoryError if read whole


def sparse(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(4 << 30)  # 4 GB that cost no disk


HOSTILE_FILES = {  # (file, how, the reason report.md gives for run 1_bad, or None: the report only must finish)
    "fifo-multirun": ("multirun.yaml", fifo, None),
    "zero-multirun": ("multirun.yaml", dev_zero, None),
    "fifo-predictions": ("1_bad/val_predictions_last.csv", fifo, "val_predictions_last.csv is a FIFO, not a regular"),
    "zero-metrics": ("1_bad/metrics.json", dev_zero, "metrics.json is a device, not a regular file"),
    "huge-predictions": ("1_bad/val_predictions.csv", sparse, "val_predictions.csv is 4,294,967,296 bytes, more than"),
    "fifo-failure": ("1_bad/failure.txt", fifo, "failed: failure.txt unreadable: failure.txt is a FIFO, not a"),
    "huge-config": ("1_bad/.hydra/config.yaml", sparse, None),
    "huge-overrides": ("1_bad/.hydra/overrides.yaml", sparse, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", HOSTILE_FILES)
def test_fifos_devices_and_huge_files_in_a_sweep_are_refused_not_read(tmp_path, case):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_good", "alexnet", "extractor", (135, 138))
    write_run(sweep / "1_bad", "vgg16", "extractor", (140, 141), legacy=True)
    name, how, reason = HOSTILE_FILES[case]
    (sweep / name).parent.mkdir(exist_ok=True)
    (sweep / name).unlink(missing_ok=True)
    how(sweep / name)
    result = report_cli(sweep, timeout=60, memory=3 << 30)  # main: hangs (FIFO) or ends in MemoryError
    assert result.returncode == 0, result.stderr[-2000:]
    report = (sweep / "report.md").read_text()
    if reason:
        line = next(line for line in report.splitlines() if line.startswith("- `1_bad`: "))
        assert reason in line


def multirun_yaml(sweep: Path, task: list[str]) -> None:
    (sweep / "multirun.yaml").write_text(json.dumps({"hydra": {"overrides": {"task": task}}}))


def test_a_huge_sweep_range_is_not_expanded(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    multirun_yaml(sweep, ["arch=alexnet,vgg16", "seed=range(0,100000)"])
    started = time.monotonic()
    runs = load_sweep(sweep).runs
    assert time.monotonic() - started < 10
    assert [r.name for r in runs] == ["0_run"]
    assert (
        "multirun.yaml asks for more than 10,000 jobs; jobs that never started are not listed"
        in capsys.readouterr().err
    )
    multirun_yaml(sweep, ["arch=alexnet,vgg16", "seed=range(0,3)"])  # a real grid is still listed
    assert len(load_sweep(sweep).runs) == 6


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "true", "pred", "prob"])
        writer.writerows(rows)


def test_the_misclassified_grid_draws_only_images_under_the_runs_data_root(tmp_path):
    data = tmp_path / "data"
    (data / "val" / "ants").mkdir(parents=True)
    Image.new("RGB", (32, 32), (0, 255, 0)).save(data / "val" / "ants" / "ant.png")
    secret = tmp_path / "private" / "secret.png"
    secret.parent.mkdir()
    Image.new("RGB", (32, 32), (255, 0, 255)).save(secret)
    (data / "val" / "ants" / "link.png").symlink_to(secret)  # inside by name, outside once resolved
    (data / "train" / "ants").mkdir(parents=True)
    Image.new("RGB", (32, 32), (0, 0, 255)).save(data / "train" / "ants" / "train.png")  # not a val image
    sweep = tmp_path / "sweep"
    run = write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "data_root": str(data)}))
    rows = [[str(data / "val/ants/ant.png"), "ants", "bees", "0.9"], [str(secret), "ants", "bees", "0.9"]]
    rows += [
        [str(data / "val/ants/link.png"), "ants", "bees", "0.9"],
        [f"{data}/../private/secret.png", "ants", "bees", "0.8"],
        [str(data / "train/ants/train.png"), "ants", "bees", "0.6"],
    ]
    write_rows(run / "val_predictions_last.csv", rows)
    assert report_main([str(sweep)]) == 0
    grid = np.asarray(Image.open(sweep / "report_figures" / "0_alexnet_extractor_seed0_misclassified.png"))
    colours = {tuple(c) for c in grid.reshape(-1, 3)}
    assert (0, 255, 0) in colours  # the val image is shown
    assert (255, 0, 255) not in colours  # the file outside the data root is not, by any path
    assert (0, 0, 255) not in colours  # nor a train image


HOSTILE = "<img src=x onerror=alert(1)>"


def table_widths(markdown: str) -> list[set[int]]:
    """Cells per row (split at unescaped `|`) of each table; a name holding `|` would add a cell to its row."""
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            current.append(len(re.split(r"(?<!\\)\|", line)))
        elif current:
            tables.append(set(current))
            current = []
    return tables


def rendered(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)


def test_names_from_the_sweep_render_as_text(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, lr in enumerate(("1e-4", f"{HOSTILE}|x")):
        run = write_run(sweep / f"{seed}_run`{HOSTILE}", "alexnet", "extractor", (135, 138), seed=seed, lr=lr)
        rows = [[f"/nowhere/{i}.png", f"a|{HOSTILE}", "=b" if i % 3 else f"a|{HOSTILE}", "0.7"] for i in range(9)]
        write_rows(run / "val_predictions_last.csv", rows)
        write_rows(run / "val_predictions.csv", rows)
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["train_class_counts"] = {f"a|{HOSTILE}": 5, "=b": 4}
        (run / "metrics.json").write_text(json.dumps(metrics))
    failed = sweep / "2_arch=alexnet,strategy=mixed"
    (failed / ".hydra").mkdir(parents=True)
    (failed / "failure.txt").write_text(f"RuntimeError: <script>alert(1)</script> [x](http://evil) {HOSTILE}\n")
    assert report_main([str(sweep)]) == 0
    for name in ("report.md", "summary.md"):
        text = (sweep / name).read_text()
        html = rendered(text)
        assert "<script" not in html and "onerror" not in re.sub(r"&lt;.*?&gt;", "", html)
        assert re.findall(r"<img [^>]*>", html) == [m for m in re.findall(r"<img [^>]*>", html) if 'src="report_f' in m]
        assert 'href="http://evil"' not in html
        assert all(len(widths) == 1 for widths in table_widths(text)), name
    assert "&lt;img src=x onerror=alert(1)&gt;" in (sweep / "report.md").read_text()  # shown, as text


def test_formula_cells_are_quoted_in_every_csv_and_read_back_as_written(tmp_path):
    names = ["=1+2", "+cmd", "-x", "@SUM(A1)", "'=q", "\tz", "plain", "'quoted"]
    samples = [(f'=HYPERLINK("http://e")/{i}.png', i) for i in range(len(names))]
    probs = np.eye(len(names), dtype="float32")[::-1].copy()
    path = tmp_path / "val_predictions.csv"
    artifacts.write_predictions_csv(path, samples, __import__("torch").from_numpy(probs), names)
    with open(path, newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not [c for c in cells if c.startswith(TRIGGERS)]  # a spreadsheet runs none of them
    rows = read_predictions(path)
    assert [r["true"] for r in rows] == names and [r["path"] for r in rows] == [s[0] for s in samples]
    assert [guard(v) for v in ("-0.5", "1e-3", "+3", None, 7)] == ["-0.5", "1e-3", "+3", None, 7]  # numbers stay
    assert all(unguard(guard(v)) == v for v in [*names, "'", "''", "", "-", "x'"])


def test_summary_csv_quotes_formula_cells(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep / "=cmd", "alexnet", "extractor", (135, 138), weights="=HYPERLINK(1)")
    write_run(sweep / "1_run", "alexnet", "extractor", (135, 138), weights="@x", seed=1)
    assert report_main([str(sweep)]) == 0
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["run"] for r in rows} == {"'=cmd", "1_run"}
    assert {r["weights"] for r in rows} == {"'=HYPERLINK(1)", "'@x"}


def test_a_predictions_file_naming_thousands_of_classes_is_a_bad_run(tmp_path):
    sweep = tmp_path / "sweep"
    run = write_run(sweep / "0_run", "alexnet", "extractor", (135, 138))
    write_rows(run / "val_predictions_last.csv", [[f"/x/{i}.png", f"c{i}", f"d{i}", "0.5"] for i in range(20_000)])
    started = time.monotonic()
    (bad,) = load_sweep(sweep).problems  # main: a 40,000 x 40,000 confusion table later
    assert bad.problem == "val_predictions_last.csv names 40,000 classes, more than the 1,000 a report tabulates"
    assert time.monotonic() - started < 10
