"""Training throughput of the package's module against the GPU's measured bf16 matrix peak.

(1) peak: a large bf16 matrix product; (2) model-bound: training steps of TransferLearningModule
(finetune, bf16 autocast, channels_last) on device-resident batches, FLOPs counted by torch's
FlopCounterMode; (3) end to end: Lightning fit on the real images (decode-once) for a few epochs, images/s over the
epochs after the first, with the train augmentation in CPU loader workers and on the device
(data.augment_on_device); (4) with --step-batch, the cost of one small training step (the assignment's
batch 4): eager with a host read of the loss every step (what FiniteLossGuard does), eager without it, and
with --compile torch.compile(mode="reduce-overhead") (CUDA graphs) of the model. Prints JSON lines.

    python benchmarks/gpu_throughput.py --data /path/to/hymenoptera_data --batch 64 128
    python benchmarks/gpu_throughput.py --batch 64 --augment device --step-batch 4 --step-arch alexnet vgg16
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch
from torch.utils.flop_counter import FlopCounterMode

from tl_lightning.data import ImageFolderDataModule
from tl_lightning.model import TransferLearningModule


def timed(fn, device: str, reps: int) -> float:
    """Median seconds of fn() after warm-up."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def matmul_peak(device: str, n: int = 8192) -> float:
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    return 2 * n**3 / timed(lambda: a @ b, device, 10)


def model_bound(arch: str, size: int, batch: int, device: str, reps: int) -> dict:
    module = TransferLearningModule(arch, ["ants", "bees"], weights="none", unfreeze="all", image_size=size).to(device)
    module.model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss, _ = module.loss_and_logits(module.model(x), y)
        loss.backward()
        opt.step()

    module.train()
    with FlopCounterMode(display=False) as counter:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss, _ = module.loss_and_logits(module.model(x), y)
        loss.backward()
    seconds = timed(step, device, reps)
    return {"flops_per_step": counter.get_total_flops(), "step_s": seconds, "images_per_s": batch / seconds}


def step_cost(arch: str, size: int, batch: int, device: str, steps: int, compile_model: bool) -> dict:
    """Milliseconds per train step, timed over `steps` consecutive steps, so the host may run ahead."""
    module = TransferLearningModule(arch, ["ants", "bees"], weights="none", unfreeze="all", image_size=size).to(device)
    model = torch.compile(module.model, mode="reduce-overhead") if compile_model else module.model
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 2, (batch,), device=device)
    module.train()

    def run(read_loss: bool) -> float:
        def steps_fn() -> None:
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device, dtype=torch.bfloat16):
                    loss, _ = module.loss_and_logits(model(x), y)
                if read_loss and not torch.isfinite(loss).all():  # a host sync, as FiniteLossGuard does
                    raise FloatingPointError("non-finite loss")
                loss.backward()
                opt.step()

        return timed(steps_fn, device, 3) / steps * 1e3

    mode = "compiled" if compile_model else "eager"
    return {"arch": arch, "batch": batch, f"{mode}_ms_per_step_loss_read": run(True), f"{mode}_ms_per_step": run(False)}


class EpochTimer(L.Callback):
    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        torch.cuda.synchronize() if torch.cuda.is_available() else None
        self.starts.append(time.perf_counter())


def end_to_end(arch: str, data: str, size: int, batch: int, workers: int, epochs: int, on_device: bool) -> dict:
    dm = ImageFolderDataModule(
        data, image_size=size, batch_size=batch, num_workers=workers, augment_on_device=on_device
    )
    module = TransferLearningModule(arch, ["ants", "bees"], weights="none", unfreeze="all", image_size=size)
    timer = EpochTimer()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="auto",
        precision="bf16-mixed" if torch.cuda.is_available() else "32-true",
        benchmark=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=dm)
    torch.cuda.synchronize() if torch.cuda.is_available() else None
    seconds = time.perf_counter() - timer.starts[1]
    return {"images_per_s": (epochs - 1) * len(dm.train_set) / seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="vgg16")
    ap.add_argument("--size", type=int, default=244)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--data", default=None)
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--augment", choices=["loader", "device", "both"], default="both", help="end-to-end input paths")
    ap.add_argument("--step-batch", type=int, default=0, help="also time small train steps at this batch")
    ap.add_argument("--step-arch", nargs="+", default=["alexnet", "vgg16"])
    ap.add_argument("--step-count", type=int, default=50)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(mode='reduce-overhead') steps")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True

    peak = matmul_peak(device) if device == "cuda" else float("nan")
    print(
        json.dumps(
            {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "bf16_matmul_tflops": peak / 1e12}
        )
    )
    for batch in args.batch:
        r = model_bound(args.arch, args.size, batch, device, args.reps)
        r |= {"arch": args.arch, "batch": batch, "tflops": r["flops_per_step"] / r["step_s"] / 1e12}
        r["fraction_of_peak"] = r["tflops"] * 1e12 / peak
        if args.data and batch == args.batch[0]:  # the input pipeline at the first batch size
            paths = [(False, "loader_augment"), (True, "device_augment")]
            for on_device, key in [p for p in paths if args.augment in ("both", p[1].split("_")[0])]:
                e2e = end_to_end(args.arch, args.data, args.size, batch, args.workers, args.epochs, on_device)
                r[f"end_to_end_images_per_s_{key}"] = e2e["images_per_s"]
                # Same FLOPs per image as the model-bound steps, so the fraction scales with images/s.
                share = e2e["images_per_s"] / r["images_per_s"]
                r[f"end_to_end_fraction_of_peak_{key}"] = r["fraction_of_peak"] * share
        print(json.dumps(r), flush=True)
    for arch in args.step_arch if args.step_batch else []:
        for compiled in (False, True) if args.compile else (False,):
            r = step_cost(arch, args.size, args.step_batch, device, args.step_count, compiled)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
