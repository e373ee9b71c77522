"""What users of lightning-hydra-template expect: experiment=study, debug=fast|overfit, an early-stopping
callback that is off by default."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping

from tl_lightning.conf import CONF_DIR
from tl_lightning.run.config.schema import register_schema
from tl_lightning.run.train import train


def compose_with_hydra(overrides: list[str]):
    GlobalHydra.instance().clear()
    register_schema()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_experiment_study_is_the_assignments_three_by_three_sweep():
    cfg = compose_with_hydra(["experiment=study"])
    assert dict(cfg.hydra.sweeper.params) == {
        "arch": "alexnet,vgg16,inception_v3",
        "strategy": "extractor,finetune,mixed",
    }
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-4
    assert (cfg.scheduler.step_size, cfg.scheduler.gamma) == (7, 0.1)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size) == (25, 4)
    assert "experiment" in cfg.hydra.job.config.override_dirname.exclude_keys  # run folders stay arch=...,strategy=...


def test_early_stopping_is_off_by_default_and_one_override_away():
    assert "early_stopping" not in compose_with_hydra([]).callbacks
    cfg = compose_with_hydra(["callbacks=[default,early_stopping]", "callbacks.early_stopping.patience=2"])
    stopper = instantiate(cfg.callbacks.early_stopping)
    assert isinstance(stopper, EarlyStopping) and stopper.patience == 2 and stopper.monitor == "val/loss"
    assert {"model_checkpoint", "lr_monitor"} <= set(cfg.callbacks)


def test_debug_fast_runs_one_batch_and_writes_every_artifact(make_cfg):
    # eval_batch_size=2: the one val batch covers 2 of the 8 val images, as on real data.
    cfg = make_cfg("alexnet", "finetune", "debug=fast", "data.eval_batch_size=2")
    assert (cfg.trainer.limit_val_batches, cfg.data.eval_batch_size) == (1, 2)
    metrics = train(cfg)
    assert metrics["epochs"] == 1 and metrics["val_acc_best"] is not None
    out = Path(cfg.paths.output_dir)
    assert all((out / name).is_file() for name in ("metrics.json", "predictions.png", "loss_curves.png"))
    # The last val epoch saw part of the val set: no per-image file pretends to cover all of it.
    assert metrics["val_predictions_last"] is None and not (out / "val_predictions_last.csv").exists()


def test_debug_overfit_trains_and_validates_on_a_few_batches():
    cfg = compose_with_hydra(["debug=overfit"])
    assert cfg.trainer.overfit_batches == 4 and cfg.trainer.max_epochs == 30
