"""Density-regulariser annealing: η (density threshold) and α (weight), paper §7.4.4,
docs/architecture.md §4.3.

The regulariser is ``α · |ρ(G) − η|`` (``jbn.training.ppo.density_penalty``). Both schedules are pure
functions of the training progress ``f = update / num_updates`` in [0, 1]; ``f`` may be a Python
float or a jax array of any shape (they work under ``jit`` and ``vmap``). The config is static.

Phases (fractions of training, ``0 <= a <= b <= c <= 1``):

* ``f < a``:        η = 1, α = α₀ (dependencies are free; the DAG densifies).
* ``a <= f < b``:   η falls from 1 to 0 in ``l_eta`` equal steps, α = α₀.
* ``b <= f < c``:   η = 0, α rises from α₀ to α₁ in ``l_alpha`` equal steps.
* ``f >= c``:       η = 0, α = α₁ (the DAG is pushed to empty: decentralized execution).

Staircase convention: a step is taken when a sub-interval is COMPLETED. With ``h = (b − a) / l_eta``,
``k = floor((f − a) / h)`` clipped to ``[0, l_eta]`` and ``η = 1 − k / l_eta``; the value changes at the
left-closed boundaries ``a + h, a + 2h, ..., b`` (so η = 1 on [a, a + h) and η = 0 exactly from f = b).
Likewise α = α₀ + (α₁ − α₀) · k / l_alpha with ``h = (c − b) / l_alpha``, reaching α₁ exactly at f = c.
Boundaries are evaluated with a tolerance of 1e-5 step, so ``f = update / num_updates`` that lands on a
boundary in exact arithmetic counts as having reached it despite float32 rounding.

``enabled=False`` turns the regulariser off: α = 0 for all f. η is then irrelevant (the penalty is
zero); it is reported as 1, its pre-annealing value.

The fractions a, b, c and the weights α₀, α₁ may also be passed as jax arrays (`eta(f, cfg, a=..., b=...)`,
the trainer passes its `Hyper` leaves), so that a sweep over them runs in one compiled program; the step
counts and `enabled` stay static.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

# Fraction of one staircase step by which a boundary may be missed through float rounding.
_BOUNDARY_TOL = 1e-5


@dataclasses.dataclass(frozen=True)
class AnnealConfig:
    """Annealing schedule for the density regulariser (paper §7.4.4).

    a, b, c: fractions of training, ``0 <= a <= b <= c <= 1``. η anneals on [a, b], α on [b, c].
    l_eta, l_alpha: number of equal steps (>= 1) of the η and α staircases.
    alpha0, alpha1: α before b and after c (>= 0).
    enabled: False -> α = 0 always (no density regulariser).
    """

    a: float = 0.4
    b: float = 0.7
    c: float = 0.8
    l_eta: int = 40
    l_alpha: int = 10
    alpha0: float = 0.1
    alpha1: float = 1.0
    enabled: bool = True

    def __post_init__(self):
        for name in ("a", "b", "c"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"AnnealConfig.{name}={v!r} must lie in [0, 1]")
        if not self.a <= self.b <= self.c:
            raise ValueError(
                f"AnnealConfig needs a <= b <= c, got a={self.a!r}, b={self.b!r}, c={self.c!r}"
            )
        for name in ("l_eta", "l_alpha"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"AnnealConfig.{name}={v!r} must be an integer >= 1")
        for name in ("alpha0", "alpha1"):
            v = getattr(self, name)
            if not v >= 0.0:  # also rejects NaN
                raise ValueError(f"AnnealConfig.{name}={v!r} must be >= 0")


# The authors' SMAC settings (paper §7.4.4).
PRESETS: dict[str, AnnealConfig] = {
    "6h_vs_8z": AnnealConfig(alpha0=0.1, alpha1=1.0),
    "MMM2": AnnealConfig(alpha0=0.05, alpha1=0.5),
    "none": AnnealConfig(enabled=False),
}


def _completed_steps(f: jnp.ndarray, start, end, num_steps: int) -> jnp.ndarray:
    """Number of completed sub-intervals of [start, end] split into num_steps, as float32 in [0, num_steps].
    start, end: Python floats or float32 arrays (swept values)."""
    f = jnp.asarray(f, jnp.float32)
    taken_at_start = jnp.where(f >= start, jnp.float32(num_steps), jnp.float32(0.0))
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        if end <= start:  # empty interval: the whole staircase is taken at `start`
            return taken_at_start
        x = (f - start) * (num_steps / (end - start))
        return jnp.clip(jnp.floor(x + _BOUNDARY_TOL), 0.0, float(num_steps))
    width = end - start
    x = (f - start) * (num_steps / jnp.where(width > 0, width, 1.0))
    staircase = jnp.clip(jnp.floor(x + _BOUNDARY_TOL), 0.0, float(num_steps))
    return jnp.where(width > 0, staircase, taken_at_start)


def _values(cfg: AnnealConfig, overrides: dict) -> dict:
    unknown = set(overrides) - {"a", "b", "c", "alpha0", "alpha1"}
    if unknown:
        raise TypeError(f"unknown schedule value(s) {sorted(unknown)}; give a, b, c, alpha0 or alpha1")
    return {k: overrides.get(k, getattr(cfg, k)) for k in ("a", "b", "c", "alpha0", "alpha1")}


def eta(f, cfg: AnnealConfig, **values) -> jnp.ndarray:
    """Density threshold η(f). f: progress in [0, 1], any shape. Returns float32, same shape.

    1 for f < a + (b − a)/l_eta, 1 − k/l_eta after k completed steps, 0 for f >= b (see module doc).
    Disabled config: 1 everywhere (irrelevant, α = 0). values: a, b (floats or arrays) in place of cfg's.
    """
    f = jnp.asarray(f, jnp.float32)
    if not cfg.enabled:
        return jnp.ones_like(f)
    v = _values(cfg, values)
    k = _completed_steps(f, v["a"], v["b"], cfg.l_eta)
    # Clipped: under jit XLA may turn k / l into k * (1 / l), leaving -6e-8 instead of 0 at the end.
    return jnp.clip(1.0 - k / cfg.l_eta, 0.0, 1.0)


def alpha(f, cfg: AnnealConfig, **values) -> jnp.ndarray:
    """Regulariser weight α(f). f: progress in [0, 1], any shape. Returns float32, same shape.

    α₀ for f < b + (c − b)/l_alpha, α₀ + (α₁ − α₀)·k/l_alpha after k completed steps, α₁ for f >= c.
    Disabled config: 0 everywhere. values: b, c, alpha0, alpha1 (floats or arrays) in place of cfg's.
    """
    f = jnp.asarray(f, jnp.float32)
    if not cfg.enabled:
        return jnp.zeros_like(f)
    v = _values(cfg, values)
    k = _completed_steps(f, v["b"], v["c"], cfg.l_alpha)
    return v["alpha0"] + (v["alpha1"] - v["alpha0"]) * (k / cfg.l_alpha)
