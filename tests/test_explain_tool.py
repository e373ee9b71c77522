"""Issue 19: `python -m tl_lightning.explain RUN_DIR` rebuilds a run's explanation with the run's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from tl_lightning.run.train import train
from tl_lightning.tools.explain import main


def test_explain_on_a_run_folder_reproduces_the_numbers_the_run_wrote(make_cfg, capsys):
    cfg = make_cfg("alexnet", "mixed", "trainer.max_epochs=2", "explain.projection=pca")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    (out / ".hydra").mkdir()
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")  # what Hydra writes into every real run folder
    written = json.loads((out / "metrics.json").read_text())
    assert written["feature_space"]["skipped"] == [] and written["feature_space"]["after"]["probe_acc"] is not None
    # As a run made before explanations existed: no numbers, no pictures.
    old = {k: v for k, v in written.items() if k != "feature_space"}
    (out / "metrics.json").write_text(json.dumps(old, indent=2))
    for name in ("features.png", "saliency.png"):
        (out / name).unlink()
    assert main([str(out)]) == 0, capsys.readouterr().err
    rebuilt = json.loads((out / "metrics.json").read_text())
    assert rebuilt["feature_space"] == written["feature_space"]
    assert {k: v for k, v in rebuilt.items() if k != "feature_space"} == old
    assert (out / "features.png").stat().st_size > 10_000 and (out / "saliency.png").stat().st_size > 10_000


def test_explain_names_a_folder_without_the_last_checkpoint(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "last.ckpt is missing" in capsys.readouterr().err


def test_a_run_folder_named_by_a_sweep_is_taken_as_the_folder(tmp_path, capsys):
    # Sweep job folders carry their overrides in the name: the `=` in it must not make it a key=value word.
    run = tmp_path / "0_arch=alexnet,seed=0,strategy=extractor"
    run.mkdir()
    assert main([str(run)]) == 2
    err = capsys.readouterr().err
    assert "checkpoints/last.ckpt is missing" in err and "not in 'ExplainArgs'" not in err
