"""A run folder holds one experiment.

A fresh run (no resume=true) started into a folder that already holds a run's results (metrics.json, a
checkpoint) is refused before any work: killed after an epoch, it would leave the old metrics.json beside its
own config and checkpoints, and the report, resume and predict would each take a different run for the
folder's. The .hydra/ record that Hydra rewrote on the way in is put back (folder_guard), so the folder is as
it was.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from tl_lightning.errors import UserError
from tl_lightning.run import folder_guard
from tl_lightning.run.lock import is_launcher


class OtherRunsFolder(UserError):
    """The run folder holds another run's results; nothing of it was changed."""


def refuse_other_results(cfg: DictConfig, out: Path, resuming: bool) -> None:
    """OtherRunsFolder when this fresh run's folder holds a run's results."""
    if resuming or not is_launcher():  # a DDP rank joins its launcher's (checked) folder
        return
    found = results_in(out)
    if not found:
        return
    folder_guard.restore_record(out)
    raise OtherRunsFolder(
        f"{out} holds another run's results ({', '.join(found)}), and a run folder holds one experiment: "
        f"give this run another folder (hydra.run.dir=..., or leave it out for a new dated one), or add "
        f"resume=true to continue or skip the run that is there."
    )


def results_in(out: Path) -> list[str]:
    """The results a run leaves in its folder, by name: metrics.json and checkpoint files."""
    found = ["metrics.json"] if (out / "metrics.json").exists() else []
    checkpoints = out / "checkpoints"
    if checkpoints.is_dir() and not checkpoints.is_symlink():
        found += [f"checkpoints/{p.name}" for p in sorted(checkpoints.glob("*.ckpt"))][:3]
    return found
