"""Where and how processes start: SLURM jobs and their wait, submitit's requeue, DDP, ranks, joblib's jobs sharing
CPUs and GPU slots. Imports no other room."""
