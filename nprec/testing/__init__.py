"""Gradient-check tools and hypothesis strategies, public so users can test their own layers.

    from nprec.testing import check_grads
    check_grads(my_forward, my_backward, x, W, rng=np.random.default_rng(0))

See README "Check your own layer's gradient". The strategies need `hypothesis` (the `test`
extra); the checks need only NumPy.
"""

from nprec.testing.gradcheck import (
    GradientCheckError,
    check_directional,
    check_grads,
    numerical_grad,
)

__all__ = ["GradientCheckError", "check_directional", "check_grads", "numerical_grad"]
