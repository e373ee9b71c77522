"""Atomic file writes for the run layer: the package's one implementation lives in tl_lightning.files."""

from __future__ import annotations

from tl_lightning.files import OutputFolderError, atomic_open, atomic_write

__all__ = ["OutputFolderError", "atomic_open", "atomic_write"]
