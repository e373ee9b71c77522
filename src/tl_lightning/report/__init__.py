"""The report layer: reads finished run folders (metrics.json, val_predictions.csv, .hydra/) and writes
the sweep's summary and report. Imports neither torch nor the other layers, so it renders anywhere.

    python -m tl_lightning.report SWEEP_DIR
"""

from tl_lightning.report.write import write_report

__all__ = ["write_report"]
