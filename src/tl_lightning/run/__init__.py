"""The run layer: the entry point, config validation, resuming, the feature cache, per-run artifacts,
the sweep callback and GPU slots. Uses data, model and report; nothing imports it but the entry points."""
