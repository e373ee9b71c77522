"""What a run shows while it runs: console lines and quiet mode, TensorBoard, MLflow, sweep progress.
May import: outputs."""
