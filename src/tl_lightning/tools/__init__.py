"""The tools: predict, export and prefetch. They use the data and model layers, never the run's internals."""
