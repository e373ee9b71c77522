"""Text drawn by matplotlib is plain text, and a figure that fails to draw is a named skip (issue 30 item 6):
class names with mathtext (`$\\frac$`, `b$^^$`) cost a finished run its metrics.json and the report its report.md."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

import tl_lightning
from conftest import TEST_SIZE, compose_cfg
from tl_lightning.report.__main__ import main as report_main
from tl_lightning.run.outputs import artifacts
from tl_lightning.run.train import train

MATH_NAMES = {"ants": "$\\frac$", "bees": "b$^^$"}


def overrides(data: Path) -> list[str]:
    base = ["arch=alexnet", "strategy=extractor", "arch.weights=none", f"arch.image_size={TEST_SIZE['alexnet']}"]
    return [*base, f"data.root={data}", "data.num_workers=0", "trainer=cpu", "trainer.max_epochs=1"]


@pytest.fixture
def math_data(tiny_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for split in ("train", "val"):
        for cls, name in MATH_NAMES.items():
            shutil.copytree(tiny_data / split / cls, root / split / name)
    return root


def test_class_names_with_mathtext_keep_the_run_and_the_report(math_data, tmp_path):
    out = tmp_path / "run"
    train(compose_cfg([*overrides(math_data), "trainer.enable_progress_bar=false"], out))
    GlobalHydra.instance().clear()
    metrics = json.loads((out / "metrics.json").read_text())
    assert "figures_skipped" not in metrics, metrics.get("figures_skipped")
    assert metrics["feature_space"]["skipped"] == []
    for picture in ("loss_curves.png", "predictions.png", "features.png", "saliency.png"):
        assert (out / picture).stat().st_size > 0
    assert report_main([str(out)]) == 0
    assert (out / "report.md").is_file()


def test_a_figure_that_fails_to_draw_is_a_named_skip_not_the_loss_of_the_run(tiny_data, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("\n$x\n^\nParseSyntaxException: Expected end of text")

    monkeypatch.setattr(artifacts, "plot_curves", broken)
    out = tmp_path / "run"
    train(compose_cfg([*overrides(tiny_data), "explain=false", "trainer.enable_progress_bar=false"], out))
    GlobalHydra.instance().clear()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["figures_skipped"] == ["loss_curves.png skipped: $x"]
    assert (out / "predictions.png").is_file() and not (out / "loss_curves.png").exists()


def test_every_module_that_draws_gets_its_figure_from_the_plain_text_module():
    package = Path(tl_lightning.__file__).parent
    for path in package.rglob("*.py"):
        if path == package / "figures.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matplotlib"):
                assert node.module != "matplotlib.figure", f"{path}: import Figure from tl_lightning.figures"
            if isinstance(node, ast.Import):
                assert not any(a.name in ("matplotlib.pyplot", "matplotlib.figure") for a in node.names), path
