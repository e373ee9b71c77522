"""Issue 30, items 8 and 11: a full disk ends a run in one line and leaves it resumable; twin class names are told
apart in figures; a resumed run holds one Projector embedding."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import torch

from tl_lightning.report.plots import confusion_figure
from tl_lightning.run.projector import write_embedding

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def test_nfc_and_nfd_twins_are_two_labels_in_the_confusion_matrix():
    rows = [{"true": NFC, "pred": NFC}, {"true": NFD, "pred": NFC}, {"true": "ants", "pred": "ants"}]
    ax = confusion_figure(rows, "twins").axes[0]
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        texts = [t.get_text() for t in labels]
        assert len(set(texts)) == 3, texts  # drawn alike before: "café", "café"
        assert texts == [f"{NFC} [NFC]", f"{NFD} [NFD]", "ants"]


def _embed(logdir: Path, step: int) -> Path:
    return write_embedding(
        logdir, "val", step, torch.rand(4, 3), [["a", "b"]] * 4, ["class", "pred"], torch.rand(4, 3, 8, 8)
    )


def test_a_resumed_run_holds_one_projector_embedding(tmp_path):
    old = _embed(tmp_path, 3)  # the attempt that was killed after explaining itself at epoch 3
    new = _embed(tmp_path, 5)  # the resumed run, explained at epoch 5
    assert not old.exists() and not old.parent.exists()
    assert sorted(p.name for p in new.iterdir()) == ["metadata.tsv", "sprite.png", "tensors.tsv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00005", "projector_config.pbtxt"]


def test_only_the_projectors_own_files_are_removed(tmp_path):
    old = _embed(tmp_path, 3)
    (old / "notes.txt").write_text("mine\n")  # not written by the package: stays, and so does its folder
    _embed(tmp_path, 5)
    assert sorted(p.name for p in old.iterdir()) == ["notes.txt"]
    assert _embed(tmp_path, 5).is_dir()  # the same epoch again: rewritten in place
