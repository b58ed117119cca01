"""nprec: deep-learning recommenders written from scratch in NumPy.

Every forward and backward pass is written by hand, hot loops are Numba kernels with
plain-NumPy twins, and every gradient is checked by property-based tests.

Shape letters, used in every docstring and trailing shape comment of the code base:

    B  batch (rows of a mini-batch)          T  time steps of a sequence
    D  embedding size                        H  hidden size of a recurrent or dense layer
    L  latent size (VAE)                     U  number of users
    V  number of items                       S  number of sampled negatives
    K  ranking cutoff                        N  flattened lookups (ids of a batch)
    M  columns of a sampled score matrix (B targets + S negatives)
"""

from nprec.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    NprecError,
    TrainingError,
    UnknownIdError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "NprecError",
    "TrainingError",
    "UnknownIdError",
    "__version__",
]
