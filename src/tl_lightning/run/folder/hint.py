"""How an interrupted run says how to continue it: a command that works when pasted into a shell.

The hint repeats the command line as typed, with `resume=true` and the run's (or the sweep's) folder quoted
for Hydra's override grammar (run folder names hold `,` and `=`) and for the shell. It is printed for SIGTERM
(also during the frozen-layer pass, before Lightning handles SIGTERM) and for Ctrl-C, also with quiet=true.
"""

from __future__ import annotations

import re
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

# The command line as typed (set by the entry point), so the hint repeats it; None in-process (tests).
_ARGV: list[str] | None = None
_DIR_KEYS = ("hydra.run.dir=", "hydra.sweep.dir=", "resume=", "ckpt_path=")


def remember_command_line(argv: list[str]) -> None:
    global _ARGV
    _ARGV = list(argv)


def hydra_quoted(key: str, path: Path | str) -> str:
    """`key="path"` in Hydra's override grammar (commas, `=` and spaces stay in the value), shell-quoted."""
    # Hydra reads a backslash as an escape only before a quote or at the end of a quoted value.
    value = re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', str(path))
    value = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, value)
    return shlex.quote(f'{key}="{value}"')


def resume_command(out: Path) -> str:
    """A command that, pasted into a shell, continues this run (or this run's sweep) from its last checkpoint."""
    sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if _ARGV is None:  # in-process: this run's own overrides (a sweep job's: its own), continued in its folder
        args, sweep = (list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []), False
    else:
        args = _ARGV
    kept = [shlex.quote(a) for a in args if not a.lstrip("+~").startswith(_DIR_KEYS)]
    where = (
        hydra_quoted("hydra.sweep.dir", HydraConfig.get().sweep.dir) if sweep else hydra_quoted("hydra.run.dir", out)
    )
    return " ".join(["python -m tl_lightning", *kept, "resume=true", where])


@contextmanager
def resume_hint(out: Path) -> Iterator[None]:
    """On SIGTERM (cluster pre-emption, scancel) or Ctrl-C, say how to continue and exit with 128 + the signal.

    Printed to stderr also with quiet=true: it is the one thing the user needs after an interruption.
    """
    # Here, not at the top: the command line (run/cli.py) uses this module before Lightning is loaded.
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        yield
    except SIGTERMException:
        _hint("SIGTERM", out)
        raise SystemExit(128 + signal.SIGTERM) from None
    except KeyboardInterrupt:
        _hint("Ctrl-C", out)
        raise SystemExit(128 + signal.SIGINT) from None
    except SystemExit as stop:  # Lightning ends fit with sys.exit(1) after its own Ctrl-C shutdown
        if not isinstance(stop.__context__, KeyboardInterrupt):
            raise
        _hint("Ctrl-C", out)
        raise SystemExit(128 + signal.SIGINT) from None


def _hint(what: str, out: Path) -> None:
    print(f"Stopped by {what}. Continue from the last finished epoch with:\n  {resume_command(out)}", file=sys.stderr)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block (work before Lightning's own SIGTERM handling, e.g. the frozen-layer pass), SIGTERM
    raises SIGTERMException so that resume_hint speaks, instead of ending the process silently."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    def _raise(signum: int, frame: object) -> None:
        raise SIGTERMException

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
