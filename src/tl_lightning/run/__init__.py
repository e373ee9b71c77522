"""The run layer. At the top: the command line (cli.py), one run (train.py) and a sweep's start and end
(sweep.py). Rooms, each importing only those before it in this list:

- launch/    where and how processes start (SLURM, DDP, ranks, joblib's shares)
- folder/    the run folder: its lock, what a refused run removes, how it fails, the command that continues it
- recovery/  resume, checkpoints, settings, one experiment per folder
- inputs/    the dataset and weights, images or the frozen part's cached activations
- config/    the command line and every setting checked before any work
- outputs/   metrics.json, plots, predictions, provenance, the explanation
- observe/   console, TensorBoard, MLflow, sweep progress

tests/test_architecture.py keeps these rules. The layer uses data, model, features and report; only the entry
points import it."""
