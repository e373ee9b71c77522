"""Where the Hydra configs live: inside an installed wheel, or at the root of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).parent / "conf"
CONF_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "conf"
