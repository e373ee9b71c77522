"""The name conf/hydra/default.yaml's sweep callback `_target_` (and users' configs) use."""

from tl_lightning.run.sweep import SweepSummary

__all__ = ["SweepSummary"]
