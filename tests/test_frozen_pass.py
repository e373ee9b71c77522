"""The frozen pass on CPU: bf16 + channels-last only with native bf16, exact fp32 under trainer=cpu, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from report_fixtures import write_run
from tl_lightning.data import ImageFolderDataModule
from tl_lightning.errors import UserError
from tl_lightning.model import TransferLearningModule, frozen_pass
from tl_lightning.model.frozen_pass import choose, cpu_flags
from tl_lightning.report.summary import write_summary
from tl_lightning.run.config.checks import check_config
from tl_lightning.run.inputs.feature_cache import build_cached_datamodule, find_cut
from tl_lightning.run.train import train

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(not frozen_pass.native_bf16(), reason="this CPU has no native bf16")
VOLATILE = ("wall_s", "best_checkpoint", "overrides", "feature_store")  # cost, not result


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert {"avx512_bf16", "avx512f"} <= cpu_flags(info)
    assert cpu_flags(tmp_path / "absent") == set()


def test_auto_is_fp32_channels_last_on_cpu_and_bf16_needs_native_bf16(monkeypatch):
    monkeypatch.setattr(frozen_pass, "native_bf16", lambda: True)
    fast = choose("auto", CPU, "32-true", lambda: None)
    assert (fast.name, fast.bf16, fast.channels_last) == ("fp32+channels_last", False, True)
    bf16 = choose("bf16+channels_last", CPU, "32-true", lambda: None)
    assert (bf16.bf16, bf16.channels_last) == (True, True)
    # Another precision asked of the trainer is kept, as is every GPU's.
    assert choose("auto", CPU, "bf16-mixed", lambda: None).name == "trainer precision (bf16-mixed)"
    assert choose("auto", torch.device("cuda"), "32-true", lambda: None).name == "fp32"
    monkeypatch.setattr(frozen_pass, "native_bf16", lambda: False)
    assert choose("auto", CPU, "32-true", lambda: None).name == "fp32+channels_last"
    with pytest.raises(UserError, match="trainer.frozen_pass=bf16: this CPU has no native bf16"):
        choose("bf16", CPU, "32-true", lambda: None)
    with pytest.raises(UserError, match="trainer.frozen_pass='fp16' is not one of"):
        choose("fp16", CPU, "32-true", lambda: None)


@needs_bf16
def test_fast_cache_is_rounded_like_bf16_and_leaves_the_model_fp32_nchw(tiny_data: Path):
    module = TransferLearningModule("alexnet", ["ants", "bees"], weights="none", unfreeze=2, image_size=64)
    images = ImageFolderDataModule(str(tiny_data), image_size=64, batch_size=4, num_workers=0)
    images.setup("fit")
    cut = find_cut(module.model, module.spec, module.plan)
    before = {k: v.clone() for k, v in module.model.state_dict().items()}

    def cache(name: str) -> torch.Tensor:
        fp = choose(name, CPU, "32-true", lambda: None)
        return build_cached_datamodule(module.model, cut, images, None, 5, CPU, fp).train.views

    exact, fast, again = cache("fp32"), cache("bf16+channels_last"), cache("bf16+channels_last")
    assert fast.dtype == torch.float32 and fast.is_contiguous()
    assert not torch.equal(fast, exact)  # bf16 really ran
    assert torch.allclose(fast, exact, rtol=0.05, atol=0.05 * float(exact.abs().max()))
    assert torch.equal(fast, again)  # and is deterministic
    for k, v in module.model.state_dict().items():  # the trained part sees the same fp32 NCHW weights
        assert v.is_contiguous() and torch.equal(v, before[k]), k


def test_an_unknown_frozen_pass_is_refused_before_any_work(make_cfg):
    with pytest.raises(UserError, match="trainer.frozen_pass='fp16' is not one of auto, fp32"):
        check_config(make_cfg("alexnet", "finetune", "trainer.frozen_pass=fp16"))


def test_trainer_cpu_records_exact_fp32(make_cfg):
    metrics = train(make_cfg("alexnet", "extractor"))
    assert metrics["settings"]["frozen_pass"] == "fp32"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "setting"),
    [
        ("extractor", "auto"),
        ("mixed", "auto"),
        pytest.param("extractor", "bf16+channels_last", marks=needs_bf16),
        pytest.param("mixed", "bf16+channels_last", marks=needs_bf16),
    ],
)
def test_fast_path_reruns_are_bit_identical_and_recorded(make_cfg, strategy, setting):
    extra = (f"trainer.frozen_pass={setting}", "trainer.max_epochs=2", "data.batch_size=3")
    runs = [train(make_cfg("alexnet", strategy, *extra)) for _ in range(2)]
    assert runs[0]["settings"]["frozen_pass"] == setting.replace("auto", "fp32+channels_last")
    stable = [{k: v for k, v in json.loads(json.dumps(m)).items() if k not in VOLATILE} for m in runs]
    assert stable[0] == stable[1]


def test_report_shows_the_frozen_pass_and_infers_it_for_older_runs(tmp_path: Path):
    sweep = tmp_path / "sweep"
    old = write_run(sweep / "0_arch=alexnet,strategy=extractor,seed=0", "alexnet", "extractor", (130, 131))
    new = write_run(sweep / "1_arch=alexnet,strategy=extractor,seed=1", "alexnet", "extractor", (131, 132), seed=1)
    data = json.loads((new / "metrics.json").read_text())
    data["settings"]["frozen_pass"] = "bf16+channels_last"
    (new / "metrics.json").write_text(json.dumps(data))
    assert old.is_dir()
    rows = write_summary(sweep)
    assert {r["run"]: r["frozen_pass"] for r in rows} == {old.name: "fp32", new.name: "bf16+channels_last"}
