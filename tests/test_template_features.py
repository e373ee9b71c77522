"""What users of lightning-hydra-template expect (issue 23 item 9): tags recorded with the run, a file-based
MLflow logger, an evaluate command for a checkpoint on a labelled folder, debug=limit and debug=profiler."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from tl_lightning.errors import UserError
from tl_lightning.report.summary import write_summary
from tl_lightning.run.observe import mlflow_logger
from tl_lightning.run.train import train
from tl_lightning.tools import evaluate


def test_mlflow_logger_records_the_run_in_a_local_file_by_epoch_with_tags(make_cfg, tmp_path):
    client_module = pytest.importorskip("mlflow.tracking")
    cfg = make_cfg("alexnet", "extractor", "logger=[tensorboard,mlflow]", "trainer.max_epochs=2", "tags=[smoke]")
    metrics = train(cfg)
    store = Path(cfg.paths.log_dir) / "mlflow.db"
    assert store.is_file()  # no server: one SQLite file beside the runs
    client = client_module.MlflowClient(f"sqlite:///{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("tl_lightning").experiment_id])
    assert run.info.run_name == "alexnet/extractor s0" and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/acc")] == [1, 2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "lr-Adam")] == [1, 2]
    assert run.data.params["strategy"] == "extractor" and float(run.data.params["lr"]) == 1e-4
    assert "arch" in run.data.params and "model/optimizer/_target_" not in run.data.params  # the short settings
    assert run.data.tags["tags"] == "smoke" and run.data.tags["tag.smoke"] == "true"
    assert run.data.metrics["hparams/val_acc_last"] == pytest.approx(metrics["val_acc_last"])
    assert {"metrics.json", "loss_curves.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


def test_a_missing_mlflow_package_is_one_clear_error(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(
        UserError, match=r"^logger=mlflow needs the mlflow package.*pip install 'tl_lightning\[mlflow\]'"
    ):
        mlflow_logger.RunMLFlowLogger(store_dir=str(tmp_path))


def test_tags_reach_metrics_json_and_the_sweep_summary(make_cfg):
    cfg = make_cfg("alexnet", "extractor", "tags=[baseline,offline]")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "metrics.json").read_text())["tags"] == ["baseline", "offline"]
    rows = write_summary(out.parent)
    assert [r["tags"] for r in rows] == ["baseline,offline"]
    with open(out.parent / "summary.csv") as f:
        assert next(csv.DictReader(f))["tags"] == "baseline,offline"


def test_evaluate_reports_the_accuracy_and_confusion_matrix_of_a_checkpoint(make_cfg, tiny_data, tmp_path, capsys):
    cfg = make_cfg("alexnet", "extractor")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    with open(out / "val_predictions.csv") as f:  # the run's own final pass: the best checkpoint on val
        rows = list(csv.DictReader(f))
    right = sum(r["true"] == r["pred"] for r in rows)
    counts = {
        (t, p): sum(r["true"] == t and r["pred"] == p for r in rows) for t in ("ants", "bees") for p in ("ants", "bees")
    }
    table = tmp_path / "eval.csv"
    capsys.readouterr()  # the training run's console
    code = evaluate.main([f"ckpt={out / 'checkpoints' / 'best.ckpt'}", f"data={tiny_data / 'val'}", f"out={table}"])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith(
        f"accuracy {right / len(rows):.4f} ({right} of {len(rows)} images in {tiny_data / 'val'})"
    )
    lines = printed.splitlines()
    ants, bees = (lines[lines.index("confusion matrix:") + i].split() for i in (2, 3))
    assert ants == ["ants", str(counts["ants", "ants"]), str(counts["ants", "bees"])]
    assert bees == ["bees", str(counts["bees", "ants"]), str(counts["bees", "bees"])]
    with open(table) as f:
        assert len(list(csv.DictReader(f))) == len(rows)

    assert evaluate.main([f"ckpt={out / 'checkpoints' / 'best.ckpt'}", f"data={tiny_data}"]) == 2
    assert "pass the split folder, e.g. data=.../val" in capsys.readouterr().err


def test_debug_limit_trains_on_a_fraction_and_debug_profiler_writes_into_the_run_folder(make_cfg):
    # Batch size 1: the tiny set's 12 train images are 12 batches, a quarter of them 3; 8 val images in 4.
    cfg = make_cfg("alexnet", "extractor", "debug=[limit,profiler]", "data.batch_size=1", "data.eval_batch_size=2")
    assert cfg.trainer.limit_train_batches == 0.25 and cfg.trainer.limit_val_batches == 0.25
    metrics = train(cfg)
    assert metrics["settings"]["steps_per_epoch"] == 3
    profile = Path(cfg.paths.output_dir) / "fit-profile.txt"
    assert profile.is_file() and "run_training_epoch" in profile.read_text()
