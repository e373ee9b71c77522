"""What a run leaves: metrics.json, plots, predictions, provenance, the explanation and Projector files."""
