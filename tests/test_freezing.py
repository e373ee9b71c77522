"""Freezing is one unit: which parameters train, frozen parts stay bit-identical, optimizer sees only trainable."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torchvision.models.inception import InceptionOutputs

from conftest import TEST_SIZE
from tl_lightning.model.archs import ARCHS, layer_groups
from tl_lightning.model.freezing import resolve_unfreeze
from tl_lightning.model.module import TransferLearningModule

CLASSES = ["ants", "bees"]


def make_module(arch: str, unfreeze, image_size: int | None = None, **kw) -> TransferLearningModule:
    return TransferLearningModule(arch, CLASSES, unfreeze=unfreeze, image_size=image_size or TEST_SIZE[arch], **kw)


def trainable_roots(module: TransferLearningModule) -> set[str]:
    """Trainable parameter names cut to their layer group (features.8.weight -> features.8)."""
    roots = set()
    for name, p in module.model.named_parameters():
        if p.requires_grad:
            parts = name.split(".")
            roots.add(".".join(parts[:2]) if parts[0] == "features" else parts[0])
    return roots


@pytest.mark.parametrize(
    ("arch", "unfreeze", "expected"),
    [
        ("alexnet", 0, {"classifier"}),
        ("alexnet", None, {"classifier", "features.8", "features.10"}),
        ("vgg16", 0, {"classifier"}),
        ("vgg16", None, {"classifier", "features.24", "features.26", "features.28"}),
        ("inception_v3", 0, {"fc"}),
        ("inception_v3", None, {"fc", "Mixed_7a", "Mixed_7b", "Mixed_7c"}),
        (
            "inception_v3",
            11,
            {"fc", "AuxLogits"}
            | {f"Mixed_{b}" for b in ("6b", "6c", "6d", "6e", "7a", "7b", "7c")}
            | {"Mixed_6a", "Mixed_5d", "Mixed_5c", "Mixed_5b"},
        ),
    ],
)
def test_trainable_groups_per_arch_and_strategy(arch, unfreeze, expected):
    size = 299 if (arch, unfreeze) == ("inception_v3", 11) else None
    assert trainable_roots(make_module(arch, unfreeze, size)) == expected


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_finetune_trains_everything_and_head_is_sized_from_model(arch):
    module = make_module(arch, "all", 299 if arch == "inception_v3" else None)
    assert all(p.requires_grad for p in module.model.parameters())
    head = module.model.get_submodule(ARCHS[arch].head)
    assert isinstance(head, torch.nn.Linear) and head.out_features == len(CLASSES)
    # in_features come from the torchvision model: 256*6*6, 512*7*7, 2048.
    assert head.in_features == {"alexnet": 9216, "vgg16": 25088, "inception_v3": 2048}[arch]


def test_unfreeze_out_of_range_names_the_setting():
    with pytest.raises(ValueError, match=r"strategy.unfreeze=6 .* 0\.\.5"):
        make_module("alexnet", 6)
    spec = ARCHS["alexnet"]
    assert resolve_unfreeze("all", spec, 5) == 5 and resolve_unfreeze(None, spec, 5) == spec.default_unfreeze


def test_layer_groups_are_parameterised_blocks_in_forward_order():
    module = make_module("inception_v3", 0)
    names = [n for n, _ in layer_groups(module.model, ARCHS["inception_v3"])]
    assert names[0] == "Conv2d_1a_3x3" and names[-1] == "Mixed_7c" and len(names) == 16
    assert "fc" not in names and "maxpool1" not in names


def _snapshot(module: TransferLearningModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


@pytest.mark.parametrize(("arch", "unfreeze"), [("inception_v3", 3), ("inception_v3", 0), ("vgg16", 3)])
def test_frozen_weights_and_batchnorm_buffers_are_bit_identical_after_training(tiny_data, arch, unfreeze):
    from tl_lightning.data import ImageFolderDataModule

    L.seed_everything(0)
    module = make_module(arch, unfreeze, optimizer={"_target_": "torch.optim.Adam", "lr": 1e-2})
    before = _snapshot(module)
    frozen = {n for n, p in module.model.named_parameters() if not p.requires_grad}
    dm = ImageFolderDataModule(tiny_data, image_size=TEST_SIZE[arch], batch_size=4, num_workers=0)
    # Two epochs with validation between them: Lightning restores train mode after validation.
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
    )
    trainer.fit(module, datamodule=dm)
    after = module.model.state_dict()

    prefixes = {n.rsplit(".", 1)[0] for n in frozen}
    frozen_keys = [k for k in before if k.rsplit(".", 1)[0] in prefixes]
    assert any("running_mean" in k for k in frozen_keys) or arch == "vgg16"
    changed = [k for k in frozen_keys if not torch.equal(before[k], after[k])]
    assert changed == [], f"frozen tensors changed: {changed[:5]}"
    trainable = [n for n, p in module.model.named_parameters() if p.requires_grad]
    assert any(not torch.equal(before[n], after[n]) for n in trainable)


def test_optimizer_holds_only_trainable_parameters():
    module = make_module("vgg16", 3)
    optimizer = module.configure_optimizers()["optimizer"]
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert in_optimizer == trainable and len(trainable) < len(list(module.parameters()))


def test_frozen_modules_stay_in_eval_mode_after_train_call():
    module = make_module("inception_v3", 3)
    module.train()
    assert not module.model.Mixed_6e.training and not module.model.Conv2d_1a_3x3.bn.training
    assert module.model.Mixed_7c.training and module.model.fc.training


def test_inception_aux_loss_in_training_absent_in_validation():
    torch.manual_seed(0)
    module = make_module("inception_v3", "all", 299)
    assert module.plan.aux_trains
    x, y = torch.randn(2, 3, 299, 299), torch.tensor([0, 1])
    module.train()
    out = module.model(x)
    assert isinstance(out, InceptionOutputs)
    loss, logits = module.loss_and_logits(out, y)
    main = torch.nn.functional.cross_entropy(out.logits, y)
    aux = torch.nn.functional.cross_entropy(out.aux_logits, y)
    assert loss.item() == pytest.approx((main + 0.4 * aux).item())
    module.eval()
    with torch.no_grad():
        out = module.model(x)
    assert isinstance(out, torch.Tensor)  # eval: main logits only, so val loss has no aux term
    loss, _ = module.loss_and_logits(out, y)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(out, y).item())


def test_frozen_aux_branch_is_removed_so_small_inputs_train():
    module = make_module("inception_v3", 0)
    assert module.model.AuxLogits is None and not module.plan.aux_trains


def test_image_size_minimums_are_enforced():
    with pytest.raises(ValueError, match=r"arch.image_size=298 .*aux.* 299"):
        make_module("inception_v3", "all", 298)
    with pytest.raises(ValueError, match=r"arch.image_size=62 .* 63"):
        make_module("alexnet", 0, 62)
    make_module("alexnet", 0, 63)
