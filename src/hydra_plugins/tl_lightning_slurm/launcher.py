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
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf

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

    ConfigStore.instance().store(
        group="hydra/launcher", name="tl_slurm", node=TlSlurmQueueConf, provider="tl_lightning"
    )


class TlSlurmLauncher(SlurmLauncher or object):
    def __call__(self, sweep_overrides: list[str], *args: Any) -> JobReturn:
        # In the job. submitit's signal handler is installed by now: pass on a warning that came before it.
        for signum in _early_signals:
            signal.raise_signal(signum)
        _early_signals.clear()
        return super().__call__(slurm.requeued_overrides(sweep_overrides), *args)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        # Upstream's launch() ends in submitit's wait (sacct only; it raises for a job SLURM ended) with no hook
        # before it: its submission part is repeated here, with the run's sizes and sbatch's refusal in one line.
        import submitit  # lazily, as the base class does: plugin discovery stays fast

        assert self.config is not None and self.hydra_context is not None
        sweep = self.config.hydra.sweep
        sweep_dir = Path(str(sweep.dir))
        try:
            params = slurm.job_resources(self.params, self.config)  # a setting refused first: it is wrong anywhere
            slurm.check_slurm_commands()
            executor = submitit.AutoExecutor(
                cluster="slurm", folder=params["submitit_folder"], slurm_max_num_timeout=params["max_num_timeout"]
            )
            base = set(OmegaConf.structured(BaseQueueConf).keys())
            skip = {"submitit_folder", "max_num_timeout"}
            executor.update_parameters(
                **{k if k in base else f"slurm_{k}": v for k, v in params.items() if k not in skip}
            )
            log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in sweep:  # as upstream's launch: e.g. a sweep folder the group shares
                os.chmod(sweep_dir, int(str(sweep.mode), 8))
            args, configs = [], []
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
                configs.append(self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides)))
                configs[-1].hydra.job.num = idx  # the run folder's name starts with it
            try:  # submitit also prints sbatch's complaint; it goes into the one error line instead
                with contextlib.redirect_stderr(io.StringIO()):
                    jobs = executor.map_array(self, *zip(*args, strict=True))
            except submitit.core.utils.FailedJobError as err:
                raise slurm.submission_refused(str(err), params) from None
        except UserError:  # refused before any job was queued: the sweep folder holds only this start's bookkeeping
            folder_guard.remove_created_sweep(sweep_dir)
            raise
        log.info("Submitted SLURM job array %s", jobs[0].job_id.split("_")[0])
        first = {job.job_id: job.task(0) for job in jobs}  # a DDP job's task 0 writes the run's result
        ends = slurm_wait.wait_for_jobs(
            [job.job_id for job in jobs],
            lambda job_id: first[job_id].paths.result_pickle.exists(),
            [Path(str(c.hydra.sweep.subdir)).name for c in configs],
        )
        return [self._job_return(first[end.job_id], end, cfg, params) for end, cfg in zip(ends, configs, strict=True)]

    def _job_return(self, job: Any, end: slurm_wait.JobEnd, cfg: Any, params: dict[str, Any]) -> JobReturn:
        if not end.has_result:
            return _failed_return(cfg, slurm_wait.describe_end(end, params, str(job.paths.stderr)))
        try:
            ret = job.result()
            ret.return_value  # noqa: B018 (a run that failed in Hydra, not in the task, raises here; Hydra says so)
        except Exception as err:  # or submitit's own failure in the job, e.g. "timed-out too many times"
            return _failed_return(cfg, _last_line(f"{type(err).__name__}: {err}"))
        return ret


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
        hydra_dir.mkdir(parents=True)
        OmegaConf.save(task_cfg, hydra_dir / "config.yaml")
        OmegaConf.save({"hydra": cfg.hydra}, hydra_dir / "hydra.yaml")
        OmegaConf.save(list(cfg.hydra.overrides.task), hydra_dir / "overrides.yaml")
    (run_dir / FAILURE_FILE).write_text(reason + "\n")
    log.error("Run %s failed: %s", run_dir.name, reason)
    ret = JobReturn(overrides=list(cfg.hydra.overrides.task), cfg=task_cfg, hydra_cfg=cfg, working_dir=str(run_dir))
    ret.task_name = str(cfg.hydra.job.name)
    ret.status, ret.return_value = JobStatus.COMPLETED, math.nan  # the sweep goes on to its summary and report
    return ret
