"""Running statistics: batchnorm's state, checked as its own check (`running_stats`).

A train-mode call must leave running_mean = m·running_mean + (1 - m)·batch mean and
running_var = m·running_var + (1 - m)·batch variance (biased, as the assignments say) in the
parameter dict it was given; a test-mode call must normalise with those running statistics,
not with the batch's. Only implementations whose forward takes such a dict (discovered
assignment layers: `Forward.state` names it) have state to check.
"""

from __future__ import annotations

import numpy as np

from ..result import Finding
from ..streams import generator
from .calling import call
from .evaluation import Evaluation
from .evidence import compare


def _forward_with_state(ev: Evaluation):
    code = ev.impl.code
    forward = code[0] if isinstance(code, tuple) and code else None
    if forward is None or not hasattr(forward, "call_with") or getattr(forward, "state", None) is None:
        return None
    return forward


def running_stats(ev: Evaluation) -> Finding | None:
    forward = _forward_with_state(ev)
    if forward is None:
        return None
    state, dtype = forward.state, ev.dtype
    x, gamma, beta = (ev.case.inputs[n].astype(np.float64) for n in ("x", "gamma", "beta"))
    eps, momentum = ev.case.hyper["eps"], ev.case.hyper["momentum"]
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    channels = x.shape[1]
    rng = generator(ev.case.seed, 23)
    mean0 = rng.uniform(-1.0, 1.0, channels).round(3).astype(dtype)
    var0 = rng.uniform(0.5, 2.0, channels).round(3).astype(dtype)
    rtol = ev.rtol("forward")

    given = {"mode": "train", "running_mean": mean0.copy(), "running_var": var0.copy()}
    _, dicts = call(forward.call_with, ev.case.args(), {state: given}, timeout=ev.timeout)
    after = dicts[state]
    for key, batch, start in (("running_mean", x.mean(axis=axes), mean0), ("running_var", x.var(axis=axes), var0)):
        value = after.get(key)
        if value is None or np.shape(value) != (channels,):
            return Finding("running_stats", f"after a train-mode call, {state}[{key!r}] is "
                           f"{'missing' if value is None else f'of shape {np.shape(value)}'}; it must hold the updated "
                           f"running statistic of shape ({channels},)", facts={"key": key})
        expected = momentum * start.astype(np.float64) + (1 - momentum) * batch
        finding = compare("running_stats", None, value, expected, rtol,
                          f"after a train-mode call, {state}[{key!r}] must be momentum·old + (1 - momentum)·batch "
                          f"{'mean' if key == 'running_mean' else 'variance (biased)'} with momentum = {momentum:g}",
                          facts={"key": key})
        if finding:
            return finding

    given = {"mode": "test", "running_mean": mean0.copy(), "running_var": var0.copy()}
    (out, _), _ = call(forward.call_with, ev.case.args(), {state: given}, timeout=ev.timeout)
    shape = (1, channels) + (1,) * (x.ndim - 2)
    m, v = mean0.astype(np.float64).reshape(shape), var0.astype(np.float64).reshape(shape)
    expected = gamma.reshape(shape) * (x - m) / np.sqrt(v + eps) + beta.reshape(shape)
    return compare("running_stats", None, out, expected, rtol,
                   "in test mode the output must be normalised with the running mean and variance, not the batch's")
