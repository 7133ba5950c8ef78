"""textbook: correct gradient code written the way lecture notes and assignments write it.

Every implementation here is right, but naive in the ways people really write it: one-pass
loops over rows and windows, textbook closed forms (batchnorm's (N·dout − Σdout − x̂·Σ(dout·x̂))
·γ·istd/N, the sigmoid's (1 − σ)·σ), softmax without the max shift where the domain allows it,
float64 temporaries cast back, and batchnorm, layernorm and softmax cross-entropy at their
degenerate sizes (a batch of one, one feature, one class) where the true gradient is zero and
the closed forms cancel to rounding noise. `oracle selftest` counts any verdict of it that does
not pass as a false alarm, as it does for gatecore.
"""

from __future__ import annotations

import oracle

from . import elementwise, layers, losses

__all__ = ["plugin"]

plugin = oracle.Plugin("textbook")
for _family in (elementwise, losses, layers):
    _family.register(plugin)
