"""Where and how processes start: SLURM, submitit requeue, DDP, ranks, joblib CPU shares and GPU slots."""
