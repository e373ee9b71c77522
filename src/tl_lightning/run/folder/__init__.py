"""The run folder: its lock, what a refused run removes, how a run fails, the command that continues it."""
