"""Killed runs come back exact: settings, resume, atomic checkpoints, finite losses, one experiment per folder."""
