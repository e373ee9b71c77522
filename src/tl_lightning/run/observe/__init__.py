"""What a run shows while it runs: console lines, quiet mode, TensorBoard, MLflow, sweep progress."""
