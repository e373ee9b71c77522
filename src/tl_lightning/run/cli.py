"""`python -m tl_lightning` / `tl-lightning`: the command line.

Light on purpose: `--help`, a typo or a bad override is answered before Lightning and torch load (seconds on a
small machine); the run itself (run/train.py) is imported once Hydra has composed a config to run.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from tl_lightning.conf import CONF_DIR
from tl_lightning.run.config.overrides import check_command_line
from tl_lightning.run.config.schema import register_schema
from tl_lightning.run.folder import failures, hint
from tl_lightning.run.launch import sweep_jobs


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    from tl_lightning.run.train import train  # the one late import (tests/test_architecture.py): start-up time

    # Returned for Hydra sweepers (e.g. Optuna) that optimise the run's objective; NaN for a failed sweep job.
    return failures.run_task(cfg, train)


def main() -> None:
    """`python -m tl_lightning` / `tl-lightning`: bad input ends as one message and exit status 2."""
    register_schema()
    sweep_jobs.register_resolver()  # ${tl_sweep_jobs:} of hydra/launcher=joblib_gpus, before Hydra composes
    failures.main_with_clean_errors(_checked_main)


def _checked_main() -> None:
    check_command_line(sys.argv[1:])  # typos refused before Hydra composes or makes a folder
    hint.remember_command_line(sys.argv[1:])  # the resume hint repeats it
    hydra_main()
