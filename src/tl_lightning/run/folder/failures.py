"""How a run fails: bad input as one clean message with exit status 2, nothing it did not create removed
(run/folder/guard.py), and in a sweep a `failure.txt` in the job's folder while the other jobs go on.

Bad input is a `UserError` (also when Hydra's instantiate wraps one), a config that does not compose, or
a value of the wrong type (OmegaConf's validation). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, InstantiationException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from tl_lightning.errors import BAD_INPUT_EXIT, UserError
from tl_lightning.files import atomic_write
from tl_lightning.run.folder import event_files, hint
from tl_lightning.run.folder.guard import OtherRunsFolder, remove_created, undo_run_start
from tl_lightning.run.folder.lock import RunFolderBusyError, run_folder_lock

log = logging.getLogger(__name__)
FAILURE_FILE = "failure.txt"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# Run folder (absolute) -> why its job failed, or None when it finished: the jobs this process ran in a sweep.
_JOBS: dict[str, str | None] = {}


def _chain(err: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def disk_full(err: BaseException) -> OSError | None:
    """The full-disk (or quota) OSError behind `err`, if that is what it is."""
    return next((e for e in _chain(err) if isinstance(e, OSError) and e.errno in _DISK_FULL), None)


def user_message(err: BaseException) -> str | None:
    """The message for an error caused by the user's input (or their full disk); None for a bug."""
    for link in _chain(err):
        if isinstance(link, UserError):
            return str(link).strip()
    if (full := disk_full(err)) is not None:  # written by a library (Hydra, TensorBoard), not through files.py
        return f"Cannot write {full.filename or 'to the disk'}: the disk is full ({full.strerror or full})"
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, TypeError):
        # An unknown keyword for a _target_ (a typo in an open node such as trainer or optimizer).
        return f"{str(err).splitlines()[0].rstrip(':')}: {err.__cause__} (check the spelling of that setting)"
    if isinstance(err, InstantiationException) and isinstance(err.__cause__, ValueError):
        return str(err.__cause__)  # a value from the config that its target refuses, e.g. an image size"
    if isinstance(err, (ConfigCompositionException, OverrideParseException)):
        cause = err.__cause__
        if isinstance(cause, OmegaConfBaseException):
            return f"{err}: {_omegaconf_message(cause)}"
        return str(err).strip()
    if isinstance(err, OmegaConfBaseException):
        return _omegaconf_message(err)
    return None


def _omegaconf_message(err: OmegaConfBaseException) -> str:
    # OmegaConf appends full_key/object_type lines to its message; the key is named once, in front.
    key = getattr(err, "full_key", None)
    text = (getattr(err, "msg", None) or str(err)).strip().splitlines()[0]
    return f"{key}: {text}" if key else text


def one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def main_with_clean_errors(hydra_main: Callable[[], object]) -> None:
    """Run the Hydra app; bad input (from composition, the task, or a sweep's start) ends as one message."""
    user_wants_traces = os.environ.get("HYDRA_FULL_ERROR") == "1"
    # Hydra then re-raises instead of printing its own report, so bad input and bugs can be told apart.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_main()
    except Exception as err:
        message = user_message(err)
        if message is None or user_wants_traces:
            raise
        if disk_full(err) is not None:  # before the run could start (Hydra's .hydra/, the log): undo that start
            undo_run_start()
            message += "; free space and run the same command again"
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(BAD_INPUT_EXIT) from None


def run_task(cfg: DictConfig, task: Callable[[DictConfig], dict]) -> float | None:
    """One run or one sweep job. A single run refused for bad input prints one message and exits 2 (a
    SystemExit passes Hydra's job wrapper untouched); a bug keeps its traceback. A sweep job writes
    failure.txt and returns NaN, so the launcher runs the next job and the sweep still reports.

    The run folder's lock is held around the task and its failure handling, so whatever this does to the
    folder (remove what a refused run created, write or remove failure.txt) happens in a folder no other
    process uses. A folder another process holds is not touched at all, not even to record the refusal."""
    out = Path(cfg.paths.output_dir)
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        with run_folder_lock(out):
            value, failure = _run_held(cfg, task, out, multirun)
    except RunFolderBusyError as err:
        if not multirun:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(BAD_INPUT_EXIT) from None
        _JOBS[os.path.abspath(out)] = one_line(str(err))
        log.error("Run refused: %s", err)
        return float("nan")
    except Exception as err:  # a single run's failure; remove_created already ran under the lock
        if (message := user_message(err)) is None:
            raise
        if disk_full(err) is not None and not isinstance(err, UserError):
            message += f"; free space, then continue the run with: {hint.resume_command(out)}"
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(BAD_INPUT_EXIT) from None
    if multirun:
        _JOBS[os.path.abspath(out)] = failure
    return value


def _run_held(
    cfg: DictConfig, task: Callable[[DictConfig], dict], out: Path, multirun: bool
) -> tuple[float, str | None]:
    """(the objective, why the sweep job failed or None), with the folder's lock held."""
    try:
        value = task(cfg)["val_acc_best"]
    except Exception as err:
        if disk_full(err) is not None:  # TensorBoard's last record may be cut short: keep the whole ones
            event_files.cut_partial_records(out)
        if not multirun:
            remove_created(out)
            raise
        if isinstance(err, OtherRunsFolder):  # no failure.txt: the folder is another run's, left as it was
            log.error("Run refused: %s", err)
            return float("nan"), one_line(str(err))
        return float("nan"), _record_failure(out, err)
    (out / FAILURE_FILE).unlink(missing_ok=True)  # an earlier attempt's (resume=true): this one finished
    return value, None


def job_outcomes(sweep_dir: Path) -> dict[str, str | None] | None:
    """{run folder name: failure reason, or None when it finished} for the jobs of `sweep_dir` that this
    process ran (Hydra's basic launcher runs them in the sweep's process); None when it ran none of them."""
    parent = os.path.abspath(sweep_dir)
    found = {Path(path).name: reason for path, reason in _JOBS.items() if os.path.dirname(path) == parent}
    return found or None


def _record_failure(out: Path, err: Exception) -> str:
    message = user_message(err)
    reason = one_line(message) if message is not None else one_line(f"{type(err).__name__}: {err}")
    atomic_write(out / FAILURE_FILE, lambda f: f.write(reason + "\n"), binary=False)
    log.error("Run failed: %s", reason)
    if message is None:  # a bug: its traceback goes into the job's log file, not over the sweep's console
        _to_log_files("".join(traceback.format_exception(err)))
    return reason


def _to_log_files(text: str) -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.stream.write(text)
            handler.flush()


def read_failure(run_dir: Path) -> str | None:
    path = run_dir / FAILURE_FILE
    return path.read_text().strip() if path.is_file() else None
