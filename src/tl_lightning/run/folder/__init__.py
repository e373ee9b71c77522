"""The run folder: one process per folder (lock), a refused run removes only what it created (guard), how a run
fails (failures, event_files) and the command that continues it (hint). May import: launch."""
