"""One run: config -> datamodule, module, trainer -> fit -> test -> artifacts (the command line is run/cli.py)."""

from __future__ import annotations

import copy
import logging
import sys
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from tl_lightning import progress
from tl_lightning.data import ImageFolderDataModule
from tl_lightning.data.layout import printable
from tl_lightning.data.transforms import denormalize
from tl_lightning.figures import distinct_labels
from tl_lightning.model import TransferLearningModule
from tl_lightning.run.config.checks import apply_missing_weights, check_config, resolve_image_size
from tl_lightning.run.config.show_config import config_lines, default_config
from tl_lightning.run.folder import hint
from tl_lightning.run.folder.lock import run_folder_lock
from tl_lightning.run.inputs import prepare
from tl_lightning.run.inputs.choose import choose_inputs, trainer_conf
from tl_lightning.run.launch import gpu_slots, job_share
from tl_lightning.run.launch.cluster import trainer_overrides
from tl_lightning.run.launch.ddp import check_ddp_launch
from tl_lightning.run.observe import mlflow_logger, tensorboard
from tl_lightning.run.observe.console import final_pass, quiet_mode, silence_known_noise
from tl_lightning.run.observe.epochs import EpochLines, progress_bar, run_summary_line
from tl_lightning.run.outputs import artifacts, explain, provenance
from tl_lightning.run.recovery import resume
from tl_lightning.run.recovery.finite_loss import FiniteLossGuard
from tl_lightning.run.recovery.one_experiment import refuse_nested, refuse_other_results
from tl_lightning.run.recovery.settings import RunSettings, run_settings

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Run one arch x strategy experiment; return its metrics.json content."""
    silence_known_noise()
    out = Path(cfg.paths.output_dir)
    with quiet_mode(bool(cfg.get("quiet", False))), run_folder_lock(out), gpu_slots.pinned(cfg):
        job_share.share_machine(cfg)  # a sweep's concurrent jobs split the CPUs
        metrics = _train(cfg)
    log.info(run_summary_line(metrics, out))
    return metrics


def _train(cfg: DictConfig) -> dict:
    resolve_image_size(cfg)
    apply_missing_weights(cfg)  # before the checks: a folder without this arch's file means random init
    check_config(cfg)
    check_ddp_launch(cfg)
    resume.check_resume_target(cfg, Path(cfg.paths.output_dir))  # resume=true without the run's folder
    refuse_nested(cfg, Path(cfg.paths.output_dir))  # outputs under data.root would become images
    refuse_other_results(cfg, Path(cfg.paths.output_dir))  # a run folder holds one experiment
    explain.explain_settings(cfg)  # a bad `explain` setting fails now, not after training
    if str(cfg.arch.weights).lower() == "imagenet":  # the cache, one download, or one message naming the fixes
        prepare.ensure_imagenet(cfg.arch.name)
    out = Path(cfg.paths.output_dir)
    if cfg.get("print_config", True) and not progress.is_quiet() and rank_zero_only.rank == 0:  # once under DDP
        print("\n".join(config_lines(cfg, out, default_config())), flush=True)  # what this run is, before any work
    out.mkdir(parents=True, exist_ok=True)
    if (finished := resume.finished_metrics(cfg, out)) is not None:
        return finished
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")  # TF32 where there are tensor cores; no effect on CPU
    # Determinism needs deterministic kernels, not NaN-filled new buffers (a debugging aid costing ~10 % on CPU).
    torch.utils.deterministic.fill_uninitialized_memory = False

    start = time.perf_counter()  # wall_s: data preparation, model build, caching and fit
    datamodule: ImageFolderDataModule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    ckpt_path = resume.checkpoint_to_resume(cfg, out, datamodule.classes)
    module: TransferLearningModule = instantiate(cfg.model, class_names=datamodule.classes)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    callbacks += [
        FiniteLossGuard(),
        resume.RNGState(),
        EpochLines(),
        RunSettings(run_settings(cfg, datamodule.classes)),
    ]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    quiet = {"enable_progress_bar": False, "enable_model_summary": False} if progress.is_quiet() else {}
    if not quiet and cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(progress_bar())  # counts epochs from 1
    extra = {**quiet, **trainer_overrides(cfg)}  # under SLURM: submitit's requeue, not Lightning's
    trainer: L.Trainer = instantiate(trainer_conf(cfg), callbacks=callbacks, logger=loggers or False, **extra)

    with hint.resume_hint(out):
        with hint.sigterm_raises():  # Lightning handles SIGTERM only inside fit; the frozen pass comes first
            fit_data, input_cache, regime, frozen_pass, store = choose_inputs(cfg, module, datamodule, trainer)
        trainer.fit(module, datamodule=fit_data, ckpt_path=ckpt_path, weights_only=True)
    wall_s = time.perf_counter() - start
    history = copy.deepcopy(module.history)  # testing the best checkpoint reloads an older history

    sigterm = trainer.received_sigterm  # the test pass below resets Lightning's flag

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    log.info(final_pass_line(best, history))
    with final_pass(trainer):
        trainer.test(module, datamodule=fit_data, ckpt_path=best or None, verbose=False, weights_only=True)
    sigterm = sigterm or trainer.received_sigterm
    trainable, total = module.param_counts
    metrics = artifacts.summarize(
        history,
        arch=cfg.arch.name,
        strategy=cfg.strategy.name,
        unfreeze=module.plan.unfreeze,
        image_size=cfg.arch.image_size,
        seed=cfg.seed,
        input_cache=input_cache,
        feature_store=store,  # activations read from the shared store vs computed here, and their time
        batch_size=cfg.data.batch_size,  # the sweep report answers the shuffle/batch question from these
        train_class_counts={c: datamodule.train_set.targets.count(i) for i, c in enumerate(datamodule.classes)},
        trainable_params=trainable,
        total_params=total,
        wall_s=round(wall_s, 2),
        best_checkpoint=best,
        test_acc_best_checkpoint=float(trainer.callback_metrics.get("test/acc", float("nan"))),
        val_predictions_last="val_predictions_last.csv",
        tags=run_tags(cfg),
        **provenance.describe(cfg, module, datamodule, regime, input_cache, frozen_pass),
    )
    if trainer.is_global_zero:  # under DDP every rank holds the same gathered results; one writes them
        write_artifacts(out, cfg, metrics, module, datamodule, trainer, fit_data)
    if sigterm:
        # Lightning only sets a flag for a SIGTERM that comes after the last epoch or during the last test
        # batch. The run is complete and saved, but whoever sent it (scancel, a sweep's user) meant stop.
        print(f"Stopped by SIGTERM after {out} had finished; its results are saved.", file=sys.stderr)
        raise SystemExit(143)
    return metrics


def run_tags(cfg: DictConfig) -> list[str]:
    """`tags=[a,b]` as a list of strings (`tags=a` counts as one tag)."""
    tags = cfg.get("tags") or []
    return [str(tags)] if isinstance(tags, str) else [str(t) for t in tags]


def final_pass_line(best: str, history: dict[str, list[float]]) -> str:
    """What the pass after the last epoch is, in words (it writes val_predictions.csv and predictions.png)."""
    val_acc = history.get("val_acc") or []
    if best and val_acc:
        epoch = max(range(len(val_acc)), key=val_acc.__getitem__)
        which = f"the best checkpoint (epoch {epoch + 1}, val acc {val_acc[epoch]:.3f})"
    else:
        which = "the last weights"
    return f"Final pass: scoring every val image with {which} for val_predictions.csv and predictions.png"


def write_artifacts(
    out: Path,
    cfg: DictConfig,
    metrics: dict,
    module: TransferLearningModule,
    datamodule: ImageFolderDataModule,
    trainer: L.Trainer,
    fit_data: L.LightningDataModule | None = None,
) -> None:
    title = f"{cfg.arch.name} / {cfg.strategy.name}"
    curves = out / "loss_curves.png"
    draw_curves = lambda: artifacts.save_pixels(artifacts.pixels(artifacts.plot_curves(metrics, title)), curves)  # noqa: E731
    artifacts.drawn(metrics, curves.name, draw_curves)

    val_set, probs = datamodule.val_set, module.test_probs
    split = (datamodule.relative_path, datamodule.split.columns()) if datamodule.split is not None else None
    artifacts.write_predictions_csv(out / "val_predictions.csv", val_set.samples, probs, datamodule.classes, split)
    # The model every comparison uses (val_acc_last): its last val epoch, rows in val order like the above.
    last = module.val_probs_last
    if last is not None and len(last) == len(val_set):
        artifacts.write_predictions_csv(
            out / "val_predictions_last.csv", val_set.samples, last, datamodule.classes, split
        )
    else:  # trainer.limit_val_batches (e.g. debug=fast): a partial file would pass for the whole val set
        metrics["val_predictions_last"] = None
        seen = 0 if last is None else len(last)
        log.warning(
            "val_predictions_last.csv not written: the last val epoch scored %d of %d images", seen, len(val_set)
        )
    preds = [int(p) for p in probs.argmax(dim=1)]
    shown = artifacts.grid_sample(preds, val_set.targets, cfg.artifacts.grid_size)
    images = denormalize(torch.stack([val_set[i][0] for i in shown]))
    n_wrong = sum(p != t for p, t in zip(preds, val_set.targets, strict=True))
    grid = artifacts.prediction_grid(
        images,
        preds=[preds[i] for i in shown],
        targets=[val_set.targets[i] for i in shown],
        probs=[float(probs[i].max()) for i in shown],
        class_names=distinct_labels(datamodule.classes, [printable(c) for c in datamodule.classes]),
        title=artifacts.grid_title(tensorboard.short_name(cfg, metrics), metrics["best_epoch"], n_wrong, len(preds)),
    )
    # Before the TensorBoard summary closes the writer: the explanation adds the Projector embedding.
    explain.explain_run(out, cfg, metrics, module, datamodule, fit_data or datamodule, trainer)
    image = artifacts.drawn(metrics, "predictions.png", lambda: artifacts.pixels(grid))  # once, for both
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            tensorboard.write_run_summary(logger, cfg, metrics, image)
    if image is not None:
        artifacts.save_pixels(image, out / "predictions.png")
    # Last: a run counts as finished (resume skips it) once metrics.json exists.
    artifacts.write_json(out / "metrics.json", metrics)
    mlflow_logger.record_runs(trainer, cfg, metrics, out)
