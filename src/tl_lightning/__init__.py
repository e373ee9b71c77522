"""Transfer learning with torchvision CNNs, Lightning and Hydra: the ants-vs-bees study."""

__version__ = "0.1.0"
