"""Killed runs come back exact: the settings that define a result, resume from last.ckpt, atomic checkpoints, a
stop at the first non-finite loss, and one experiment per folder. May import: folder, launch."""
