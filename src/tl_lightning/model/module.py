"""The LightningModule: a torchvision backbone with a new head, frozen per strategy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from tl_lightning.data.sampling import gather_in_order
from tl_lightning.model.archs import build_backbone, get_spec, replace_linear, with_head
from tl_lightning.model.freezing import apply_freeze, set_eval
from tl_lightning.model.weights import load_pretrained

SPLITS = ("train", "val", "test")
HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
# Only while Inception's aux head trains: train_loss stays the main loss, comparable with val_loss.
AUX_KEYS = ("train_aux_loss", "train_total_loss")
DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-4}


class Losses(NamedTuple):
    total: torch.Tensor  # what is optimised: main + aux_loss_weight x aux
    main: torch.Tensor
    aux: torch.Tensor | None
    logits: torch.Tensor


class TransferLearningModule(L.LightningModule):
    def __init__(
        self,
        arch: str,
        class_names: list[str],
        weights: str | None = "none",
        unfreeze: int | str | None = "all",
        image_size: int = 224,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        aux_loss_weight: float = 0.4,
        channels_last: bool | None = None,
        head: str = "classifier",
    ) -> None:
        super().__init__()
        # Plain containers only, so checkpoints load with weights_only=True.
        optimizer, scheduler = (
            OmegaConf.to_container(c, resolve=True) if isinstance(c, DictConfig) else c for c in (optimizer, scheduler)
        )
        class_names = list(class_names)
        self.save_hyperparameters()
        spec = get_spec(arch)
        _check_image_size("arch.image_size", image_size, spec.min_image_size, arch)

        model = build_backbone(arch)
        self.spec = spec = with_head(model, spec, head)
        load_pretrained(model, arch, spec, weights)
        for path in (spec.head, spec.aux_head):
            if path:
                replace_linear(model, path, len(class_names))
        self.plan = apply_freeze(model, spec, unfreeze)
        if self.plan.aux_trains:
            _check_image_size(
                "arch.image_size", image_size, spec.aux_min_image_size, f"{arch} with its aux head training"
            )
        self.model = model

        # One loss mean and one accuracy per split (keys avoid ModuleDict's own `train` attribute).
        aux_keys = AUX_KEYS if self.plan.aux_trains else ()
        self.metrics = nn.ModuleDict(
            {f"{s}_loss": MeanMetric() for s in SPLITS}
            | {f"{s}_acc": MulticlassAccuracy(len(class_names), average="micro") for s in SPLITS}
            | {k: MeanMetric() for k in aux_keys}
        )
        self.history: dict[str, list[float]] = {k: [] for k in (*HISTORY_KEYS, *aux_keys)}
        self.test_probs: torch.Tensor | None = None  # val probabilities of the tested (best) checkpoint
        self.val_probs_last: torch.Tensor | None = None  # val probabilities of the latest val epoch
        self.steps_per_epoch: int | None = None  # train batches counted in the first epoch
        self.use_cached_inputs(None)
        self._test_batches: list[torch.Tensor] = []
        self._val_batches: list[torch.Tensor] = []
        self._epoch_steps = 0

    # -- model -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out[0] if isinstance(out, tuple) else out  # InceptionOutputs(logits, aux_logits)

    def net(self, x: torch.Tensor) -> Any:
        """The network, or its part after the cut when batches hold cached activations."""
        # Not in on_after_batch_transfer: the datamodule owns that hook (it augments on the device there).
        if getattr(self, "_channels_last", False) and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._tail(x) if self._tail is not None else self.model(x)

    def use_cached_inputs(self, tail: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        """Batches from now on are cached activations that `tail` maps to logits (None: images)."""
        # Kept out of nn.Module's registry: `tail` reuses layers of self.model, which own the weights.
        self.__dict__["_tail"] = tail

    def train(self, mode: bool = True) -> TransferLearningModule:
        # Lightning's loops restore each module's own mode after validation, but any other train() call
        # (a callback, user code, on_validation_model_train's default body) would switch the whole tree;
        # frozen modules stay in eval whatever the caller, so frozen BatchNorm statistics and dropout never change.
        super().train(mode)
        set_eval(self.model, self.plan.frozen)
        return self

    def on_fit_start(self) -> None:
        # NHWC lets cuDNN use its fastest bf16 convolutions; on CPU it was measured slower, so auto = CUDA only.
        use = self.hparams.channels_last
        self._channels_last = self.device.type == "cuda" if use is None else bool(use)
        if self._channels_last:
            self.model.to(memory_format=torch.channels_last)

    def losses(self, out: Any, y: torch.Tensor) -> Losses:
        """Cross-entropy on the main logits, plus aux_loss_weight x aux loss when aux logits come."""
        if isinstance(out, tuple):
            logits, aux_logits = out
            main, aux = F.cross_entropy(logits, y), F.cross_entropy(aux_logits, y)
            return Losses(main + self.hparams.aux_loss_weight * aux, main, aux, logits)
        main = F.cross_entropy(out, y)
        return Losses(main, main, None, out)

    def loss_and_logits(self, out: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The optimised loss and the main logits."""
        losses = self.losses(out, y)
        return losses.total, losses.logits

    # -- steps -------------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        losses = self.losses(self.net(x), y)
        # Logged: the main loss (val/loss has no aux term); the aux and optimised totals beside it.
        self._update("train", losses.main, losses.logits, y)
        if losses.aux is not None:
            self.metrics["train_aux_loss"].update(losses.aux.detach(), weight=len(y))
            self.metrics["train_total_loss"].update(losses.total.detach(), weight=len(y))
        self._epoch_steps += 1
        return losses.total

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        loss, logits = self.loss_and_logits(self.net(x), y)
        self._update("val", loss, logits, y)
        self._val_batches.append(logits.detach().float().softmax(dim=1).cpu())

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        loss, logits = self.loss_and_logits(self.net(x), y)
        self._update("test", loss, logits, y)
        self._test_batches.append(logits.float().softmax(dim=1).cpu())

    def _update(self, split: str, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.metrics[f"{split}_loss"].update(loss.detach(), weight=len(y))
        self.metrics[f"{split}_acc"].update(logits.detach(), y)

    # -- epoch ends ----------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._epoch_steps = 0
        # The rate this epoch trains with: an epoch-interval scheduler steps before on_train_epoch_end runs.
        self.history["lr"].append(self.trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")
        if self.steps_per_epoch is None:  # measured, not computed: the batches the loader gave in epoch 1
            self.steps_per_epoch = self._epoch_steps

    def on_validation_epoch_start(self) -> None:
        self._val_batches = []

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._reset("val")
            return
        self._log_epoch("val")
        local = torch.cat(self._val_batches) if self._val_batches else torch.empty(0, len(self.hparams.class_names))
        self.val_probs_last = gather_in_order(local)  # every rank calls it: a collective under DDP

    def on_test_epoch_start(self) -> None:
        self._test_batches = []

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", record=False)
        local = torch.cat(self._test_batches) if self._test_batches else torch.empty(0, len(self.hparams.class_names))
        # Under DDP each rank tested an unpadded shard of val; every rank gets all of it, in val order.
        self.test_probs = gather_in_order(local)

    def _log_epoch(self, split: str, record: bool = True) -> None:
        loss, acc = self.metrics[f"{split}_loss"].compute(), self.metrics[f"{split}_acc"].compute()
        self._reset(split)
        extra = {k: self.metrics[k].compute() for k in AUX_KEYS if split == "train" and k in self.metrics}
        for k in extra:
            self.metrics[k].reset()
        logged = {f"{split}/loss": loss, f"{split}/acc": acc} | {k.replace("_", "/", 1): v for k, v in extra.items()}
        self.log_dict(logged, prog_bar=split != "train")
        if record:
            self.history[f"{split}_loss"].append(loss.item())
            self.history[f"{split}_acc"].append(acc.item())
            for k, v in extra.items():
                self.history[k].append(v.item())

    def _reset(self, split: str) -> None:
        self.metrics[f"{split}_loss"].reset()
        self.metrics[f"{split}_acc"].reset()

    # -- optimisation and state ----------------------------------------------------------------
    def configure_optimizers(self) -> dict:
        params = [p for p in self.parameters() if p.requires_grad]  # frozen ones never reach Adam
        optimizer = instantiate(self.hparams.optimizer or DEFAULT_OPTIMIZER, params=params)
        if not self.hparams.scheduler:
            return {"optimizer": optimizer}
        scheduler = instantiate(self.hparams.scheduler, optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["history"] = self.history
        checkpoint["steps_per_epoch"] = self.steps_per_epoch

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = {k: list(v) for k, v in checkpoint.get("history", self.history).items()}
        self.steps_per_epoch = checkpoint.get("steps_per_epoch", self.steps_per_epoch)

    @property
    def param_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the network."""
        params = list(self.model.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _check_image_size(setting: str, size: int, minimum: int | None, what: str) -> None:
    if minimum is not None and size < minimum:
        raise ValueError(f"{setting}={size} is too small for {what}: the minimum is {minimum} px.")
