"""`hydra/launcher=slurm`: submitit's SLURM launcher, made to finish every sweep it starts.

Differences from hydra_submitit_launcher's SlurmLauncher (same settings, same job arrays):
- null resources follow the run (tl_lightning.run.launch.slurm.job_resources): trainer=cpu asks for no GPU;
- a submission sbatch refuses is one `error:` line naming the setting (exit 2), not a traceback;
- the wait ends for every job (tl_lightning.run.launch.slurm_wait): a job SLURM cancelled, timed out, killed for memory
  or lost with its node, or one pending for a reason that never clears, becomes a failed run with SLURM's
  reason in its failure.txt, so the sweep still writes its summary and report and exits 1;
- a job SLURM starts again (requeue after the time limit, pre-emption) resumes from its last.ckpt.
"""

import contextlib
import io
import logging
import math
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, _save_config, filter_overrides
from omegaconf import OmegaConf, open_dict

from tl_lightning.errors import UserError
from tl_lightning.run.folder import guard as folder_guard
from tl_lightning.run.folder.failures import FAILURE_FILE
from tl_lightning.run.launch import slurm, slurm_wait

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # without the launchers extra; hydra/launcher=slurm then names the missing plugin
    BaseQueueConf = SlurmQueueConf = SlurmLauncher = None

log = logging.getLogger(__name__)

# An unhandled USR2 kills the process. submitit installs its handler only after unpickling the job (torch and
# Lightning imports included); a warning that arrives before that is held here and replayed once it exists.
_early_signals: list[int] = []
_in_job = os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and hasattr(signal, "SIGUSR2")
if _in_job and signal.getsignal(signal.SIGUSR2) in (signal.SIG_DFL, None):
    signal.signal(signal.SIGUSR2, lambda signum, frame: _early_signals.append(signum))

if SlurmQueueConf is not None:

    @dataclass
    class TlSlurmQueueConf(SlurmQueueConf):
        """submitit_slurm's settings; null resources follow the run (tl_lightning.run.launch.slurm.job_resources)."""

        _target_: str = "hydra_plugins.tl_lightning_slurm.launcher.TlSlurmLauncher"
        nodes: Optional[int] = None  # noqa: UP045 (OmegaConf reads Optional, not `int | None`, on Python 3.10)
        tasks_per_node: Optional[int] = None  # noqa: UP045
        signal_delay_s: Optional[int] = None  # noqa: UP045
        max_num_timeout: int = 3

    ConfigStore.instance().store(
        group="hydra/launcher", name="tl_slurm", node=TlSlurmQueueConf, provider="tl_lightning"
    )


class TlSlurmLauncher(SlurmLauncher or object):
    def __call__(
        self,
        sweep_overrides: list[str],
        job_dir_key: str,
        job_num: int,
        job_id: str,
        singleton_state: dict[type, Singleton],
    ) -> JobReturn:
        # In the job. submitit's signal handler is installed by now: pass on a warning that came before it.
        for signum in _early_signals:
            signal.raise_signal(signum)
        _early_signals.clear()
        overrides = slurm.requeued_overrides(sweep_overrides)
        return super().__call__(overrides, job_dir_key, job_num, job_id, singleton_state)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        try:
            jobs, configs, params = self._submit(job_overrides, initial_job_idx, sweep_dir)
        except UserError:  # refused before any job was queued: the sweep folder holds only this start's bookkeeping
            folder_guard.remove_created_sweep(sweep_dir)
            raise
        log.info("Submitted SLURM job array %s", jobs[0].job_id.split("_")[0])
        first = {job.job_id: (job._sub_jobs[0] if job._sub_jobs else job) for job in jobs}
        ends = slurm_wait.wait_for_jobs(
            [job.job_id for job in jobs],
            lambda job_id: first[job_id].paths.result_pickle.exists(),
            [Path(str(c.hydra.sweep.subdir)).name for c in configs],
        )
        return [self._job_return(first[end.job_id], end, cfg, params) for end, cfg in zip(ends, configs, strict=True)]

    def _submit(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, sweep_dir: Path
    ) -> tuple[list[Any], list[Any], dict[str, Any]]:
        """(the submitted jobs, their configs, the resources asked for); SlurmSettingError when nothing was queued."""
        import submitit  # lazily, as the base class does: plugin discovery stays fast

        params = slurm.job_resources(self.params, self.config)  # a setting refused first: it is wrong anywhere
        slurm.check_slurm_commands()
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR, folder=params["submitit_folder"], slurm_max_num_timeout=params["max_num_timeout"]
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        skip = {"submitit_folder", "max_num_timeout"}
        executor.update_parameters(
            **{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items() if k not in skip}
        )
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        jobs_args, configs = [], []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            jobs_args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
            configs.append(self._job_config(list(overrides), idx))
        try:  # submitit also prints sbatch's complaint; it goes into the one error line instead
            with contextlib.redirect_stderr(io.StringIO()):
                jobs = executor.map_array(self, *zip(*jobs_args, strict=True))
        except submitit.core.utils.FailedJobError as err:
            raise slurm.submission_refused(str(err), params) from None
        return jobs, configs, params

    def _job_config(self, overrides: list[str], idx: int) -> Any:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = idx
        return cfg

    def _job_return(self, job: Any, end: slurm_wait.JobEnd, cfg: Any, params: dict[str, Any]) -> JobReturn:
        if end.has_result:
            try:
                ret = job.result()
            except Exception as err:  # submitit's own failure inside the job, e.g. "timed-out too many times"
                reason = _last_line(str(err))
            else:
                if ret.status == JobStatus.COMPLETED:
                    return ret
                reason = f"{type(ret._return_value).__name__}: {ret._return_value}"
        else:
            reason = slurm_wait.describe_end(end, params, str(job.paths.stderr))
        return _failed_return(cfg, reason)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-")]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["unknown error"])[-1]


def _failed_return(cfg: Any, reason: str) -> JobReturn:
    """A failed run like any other: failure.txt (and .hydra/ for a job that never started) in its folder, NaN."""
    run_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
    hydra_dir = run_dir / str(cfg.hydra.output_subdir or ".hydra")
    task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if not hydra_dir.is_dir():
        _save_config(task_cfg, "config.yaml", hydra_dir)
        _save_config(OmegaConf.create({"hydra": cfg.hydra}), "hydra.yaml", hydra_dir)
        _save_config(OmegaConf.create(list(cfg.hydra.overrides.task)), "overrides.yaml", hydra_dir)
    (run_dir / FAILURE_FILE).write_text(reason + "\n")
    log.error("Run %s failed: %s", run_dir.name, reason)
    ret = JobReturn(overrides=list(cfg.hydra.overrides.task), cfg=task_cfg, hydra_cfg=cfg, working_dir=str(run_dir))
    ret.task_name = str(cfg.hydra.job.name)
    ret.status, ret.return_value = JobStatus.COMPLETED, math.nan  # the sweep goes on to its summary and report
    return ret
