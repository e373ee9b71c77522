"""What a run leaves: metrics.json, plots and predictions (artifacts), its provenance, its explanation and the
Projector's files. May import: inputs."""
