"""Why a run came out as it did: the features its head reads, before and after training, how well they separate
the classes (features.png, metrics.json `feature_space`), and where the trained net looks (saliency.png).

Computed from the model and the data only, so the run (run/outputs/explain.py) and the on-demand tool
(tools/explain.py) call the same code and get the same numbers."""
