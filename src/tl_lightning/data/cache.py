"""Where derived data (scan verdicts, spilled decoded images) is cached: the dataset may be read-only."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """TL_CACHE_DIR, else $XDG_CACHE_HOME/tl_lightning, else ~/.cache/tl_lightning."""
    if os.environ.get("TL_CACHE_DIR"):
        return Path(os.environ["TL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tl_lightning"
