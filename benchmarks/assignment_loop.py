"""A faithful re-implementation of the assignment's `train_model` loop, the benchmark's baseline.

PIL ImageFolder pipeline re-decoded every epoch, batch 4, 2 workers, the whole network run every epoch
(also when frozen), model left in train mode (so frozen BatchNorm statistics drift, as in the original),
best weights deep-copied. Prints one JSON line. Needs only torch and torchvision.

    python benchmarks/assignment_loop.py --arch alexnet --strategy extractor --epochs 5 \
        --data ../shared/data/hymenoptera_data --weights ../shared/weights/alexnet-imagenet-features.pth
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn as nn
from torchvision import datasets, models, transforms

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
SIZES = {"alexnet": 244, "vgg16": 244, "inception_v3": 299}
# The last k conv layers / blocks that `mixed` trains (same groups as the package's defaults).
MIXED = {
    "alexnet": ["features.8", "features.10"],
    "vgg16": ["features.24", "features.26", "features.28"],
    "inception_v3": ["Mixed_7a", "Mixed_7b", "Mixed_7c"],
}


def build(arch: str, strategy: str, weights: str | None) -> nn.Module:
    model = models.get_model(
        arch, weights=None, **({"aux_logits": True, "init_weights": True} if arch == "inception_v3" else {})
    )
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=False)
    for name, p in model.named_parameters():
        p.requires_grad = strategy == "finetune" or any(
            name.startswith(g + ".") for g in MIXED[arch] if strategy == "mixed"
        )
    if arch == "inception_v3":
        model.AuxLogits.fc = nn.Linear(model.AuxLogits.fc.in_features, 2)
        model.fc = nn.Linear(model.fc.in_features, 2)
    else:
        first = next(m for m in model.classifier if isinstance(m, nn.Linear))
        model.classifier = nn.Linear(first.in_features, 2)  # AlexNet 9216 -> 2, the assignment's head
    return model


def loaders(data: str, size: int) -> dict[str, torch.utils.data.DataLoader]:
    tf = {
        "train": transforms.Compose(
            [
                transforms.RandomResizedCrop(size),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ]
        ),
        "val": transforms.Compose(
            [
                transforms.Resize(round(size * 256 / 224)),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ]
        ),
    }
    sets = {x: datasets.ImageFolder(f"{data}/{x}", tf[x]) for x in ("train", "val")}
    return {x: torch.utils.data.DataLoader(sets[x], batch_size=4, shuffle=True, num_workers=2) for x in sets}


def train_model(model, dataloaders, criterion, optimizer, scheduler, num_epochs, device, is_inception):
    best_wts, best_acc, history = copy.deepcopy(model.state_dict()), 0.0, []
    for _ in range(num_epochs):
        for phase in ("train", "val"):
            model.train() if phase == "train" else model.eval()
            running_loss, running_corrects = 0.0, 0
            for inputs, labels in dataloaders[phase]:
                inputs, labels = inputs.to(device), labels.to(device)
                optimizer.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    if is_inception and phase == "train":
                        outputs, aux_outputs = model(inputs)
                        loss = criterion(outputs, labels) + 0.4 * criterion(aux_outputs, labels)
                    else:
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                    _, preds = torch.max(outputs, 1)
                    if phase == "train":
                        loss.backward()
                        optimizer.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data).item()
            if phase == "train":
                scheduler.step()
            epoch_acc = running_corrects / len(dataloaders[phase].dataset)
            if phase == "val":
                history.append(epoch_acc)
                if epoch_acc > best_acc:
                    best_acc, best_wts = epoch_acc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_wts)
    return model, history


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(SIZES))
    ap.add_argument("--strategy", required=True, choices=["extractor", "finetune", "mixed"])
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)

    start = time.perf_counter()
    dataloaders = loaders(args.data, SIZES[args.arch])
    model = build(args.arch, args.strategy, args.weights).to(args.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    _, history = train_model(
        model,
        dataloaders,
        nn.CrossEntropyLoss(),
        optimizer,
        scheduler,
        args.epochs,
        args.device,
        args.arch == "inception_v3",
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    images = args.epochs * sum(len(d.dataset) for d in dataloaders.values())
    print(
        json.dumps(
            {
                "arch": args.arch,
                "strategy": args.strategy,
                "epochs": args.epochs,
                "wall_s": round(wall, 2),
                "images_per_s": round(images / wall, 1),
                "val_acc_best": max(history),
                "val_acc_last": history[-1],
            }
        )
    )


if __name__ == "__main__":
    main()
