"""tl_lightning's Hydra launcher plugin: hydra/launcher=slurm (conf/hydra/launcher/slurm.yaml)."""
