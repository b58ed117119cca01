"""Samplers: turn a data container and a `np.random.Generator` into training batches.

- `negatives`: `negatives_for_users` (uniform, optionally distinct) and `PopularitySampler`
  (support^alpha).
- `pointwise`: NCF instances, each entry plus n_neg sampled negatives (`pointwise_batches`).
- `pairwise`: BPR triples (`bpr_batches`).
- `session_parallel`: GRU4Rec's session-parallel steps (`SessionParallelBatches`) and its
  negative store (`SampleCache`).
- `prefixes`: NARM's (prefix, next item) samples as padded batches (`prefix_batches`).
- `users`: shuffled user rows for the autoencoders (`user_batches`).

Everything random is drawn from the generator passed in, so an epoch is reproducible from it;
the heavy lifting is in `nprec.kernels`.
"""

from nprec.samplers.negatives import PopularitySampler, negatives_for_users
from nprec.samplers.pairwise import BprBatch, bpr_batches
from nprec.samplers.pointwise import PointwiseBatch, pointwise_batches
from nprec.samplers.prefixes import PrefixBatch, prefix_batches, prefix_samples
from nprec.samplers.session_parallel import SampleCache, SessionParallelBatches, SessionStep
from nprec.samplers.users import UserBatch, user_batches

__all__ = [
    "BprBatch",
    "PointwiseBatch",
    "PopularitySampler",
    "PrefixBatch",
    "SampleCache",
    "SessionParallelBatches",
    "SessionStep",
    "UserBatch",
    "bpr_batches",
    "negatives_for_users",
    "pointwise_batches",
    "prefix_batches",
    "prefix_samples",
    "user_batches",
]
