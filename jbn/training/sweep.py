"""Sweeps: hyper-parameters as array leaves, seeds × sweep points as one runs axis (README "Sweeps and many devices").

    python -m jbn.train --env smax_6h_vs_8z --num-seeds 4 --sweep lr=3e-4,5e-4,1e-3 --sweep alpha0=0.05,0.1

Each `--sweep NAME=v1,v2,...` is one axis and the sweep points are the grid product of the axes (in the order given,
the last axis varying fastest). A point's values are float32 leaves of its runs' `Hyper` (jbn.training.types), read by the
loss, the optimiser (`optax.inject_hyperparams`) and the η/α schedule at run time, so every point runs in the same
compiled program: the 24 runs of the example above are one vmap, one compile.

The runs are point-major: run r = p · num_seeds + k is point p with seed `seed + k`. Every point trains the same
seeds, and a point of a batch is the run `--NAME value --seed S --num-seeds K` alone (same keys, same values;
tests/test_sweep.py). Without --sweep there is one point, {}, and the runs are exactly the seeds of before.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..policy.dag_modes import is_learned
from .errors import UserError
from .labels import point_label
from .types import SWEEPABLE, Hyper  # SWEEPABLE: name -> (meaning, valid range, check), declared with Hyper

# Hyper fields that come from the annealing schedule (jbn.training.schedules.AnnealConfig) rather than a Config field.
_SCHEDULE = {"alpha0": "alpha0", "alpha1": "alpha1", "anneal_a": "a", "anneal_b": "b", "anneal_c": "c"}

Axes = tuple[tuple[str, tuple[float, ...]], ...]


def _names() -> str:
    return ", ".join(SWEEPABLE)


def parse(specs: Sequence[str]) -> Axes:
    """The sweep axes of `--sweep NAME=v1,v2,...` strings; UserError naming the bad part and the valid names."""
    axes, seen = [], set()
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise UserError(f"--sweep {spec!r}: expected NAME=v1,v2,... (sweepable names: {_names()})")
        name, _, text = spec.partition("=")
        name = name.strip().replace("-", "_")
        if name not in SWEEPABLE:
            raise UserError(f"--sweep {spec!r}: {name!r} cannot be swept; sweepable names: {_names()}")
        if name in seen:
            raise UserError(f"--sweep {spec!r}: {name} is swept twice; give all its values in one --sweep")
        seen.add(name)
        values = []
        for item in text.split(","):
            try:
                v = float(item.strip())
            except ValueError:
                raise UserError(f"--sweep {spec!r}: {item.strip()!r} is not a number") from None
            meaning, valid, ok = SWEEPABLE[name]
            if not math.isfinite(v) or not ok(v):
                raise UserError(f"--sweep {spec!r}: {name} ({meaning}) must be a finite number {valid}, got {v!r}")
            values.append(v)
        if len(set(values)) != len(values):
            raise UserError(f"--sweep {spec!r}: a value is repeated (each point would train twice)")
        axes.append((name, tuple(values)))
    return tuple(axes)


def swept_names(cfg) -> tuple[str, ...]:
    """The names a config sweeps (the update reads these from the run's leaves, the others as constants)."""
    return tuple(name for name, _ in parse(cfg.sweep))


def canonical(axes: Axes) -> tuple[str, ...]:
    """The sweep as stored in config.json: `lr=0.0003,0.0005` whatever the spelling on the command line, so that a
    resume compares values, not spellings."""
    return tuple(f"{name}={','.join(repr(v) for v in values)}" for name, values in axes)


def num_points(cfg) -> int:
    """How many sweep points a config has (1 without --sweep), without listing them."""
    return math.prod(len(values) for _, values in parse(cfg.sweep))


def points(cfg) -> list[dict[str, float]]:
    """The sweep points of a config, in run order: [{}] without --sweep."""
    axes = parse(cfg.sweep)
    names = [name for name, _ in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(values for _, values in axes))]


def base_values(cfg) -> dict[str, float]:
    """Every Hyper value of a resolved config without a sweep: its fields and its annealing schedule's."""
    anneal = cfg.anneal_config
    return {name: float(getattr(anneal, _SCHEDULE[name]) if name in _SCHEDULE else getattr(cfg, name))
            for name in SWEEPABLE}


def check(cfg) -> tuple[str, ...]:
    """Validate the sweep of a resolved config (UserError, before anything is compiled); its canonical form."""
    axes = parse(cfg.sweep)
    scheduled = [name for name, _ in axes if name in _SCHEDULE]
    if scheduled and (not is_learned(cfg.dag) or not cfg.anneal_config.enabled):
        raise UserError(
            f"--sweep {scheduled[0]}: the density penalty is off in this run (dag={cfg.dag}, anneal={cfg.anneal}), "
            f"so {scheduled[0]} changes nothing; sweep {', '.join(_SCHEDULE)} only with --dag context and "
            f"--anneal 6h_vs_8z or MMM2"
        )
    base = base_values(cfg)
    schedule_axes = tuple((name, values) for name, values in axes if name in _SCHEDULE)  # the only ones to order
    for point in points(dataclasses.replace(cfg, sweep=canonical(schedule_axes))):
        v = {**base, **point}
        if not v["anneal_a"] <= v["anneal_b"] <= v["anneal_c"]:
            raise UserError(
                f"sweep point {label(point)}: the schedule needs anneal_a <= anneal_b <= anneal_c, got "
                f"{v['anneal_a']:g}, {v['anneal_b']:g}, {v['anneal_c']:g}"
            )
    return canonical(axes)


# ----------------------------------------------------------------------------------------------- runs
@dataclasses.dataclass(frozen=True)
class RunTag:
    """What identifies run `index` of the batch: its seed and its sweep point (() without a sweep)."""

    index: int
    seed: int
    point: tuple[tuple[str, float], ...] = ()

    @property
    def tags(self) -> dict:
        """The keys every metrics/eval row of this run carries: seed and, in a sweep, {"sweep": {name: value}}."""
        return {"seed": self.seed, **({"sweep": dict(self.point)} if self.point else {})}

    @property
    def name(self) -> str:
        """A path-safe name: seed_3, or lr=5e-4_alpha0=0.1/seed_3 in a sweep (TensorBoard directories)."""
        seed = f"seed_{self.seed}"
        return seed if not self.point else f"{label(dict(self.point), sep='_')}/{seed}"


def runs(cfg) -> list[RunTag]:
    """The runs of a resolved config in batch order (point-major, then seed)."""
    return [RunTag(index=p * cfg.num_seeds + k, seed=cfg.seed + k, point=tuple(point.items()))
            for p, point in enumerate(points(cfg)) for k in range(cfg.num_seeds)]


def run_keys(cfg) -> jax.Array:
    """One PRNG key per run: run (p, k) uses PRNGKey(seed + k), the key of the run `--seed seed+k` alone."""
    return jnp.stack([jax.random.PRNGKey(r.seed) for r in runs(cfg)])


def hyper_of(values: dict[str, float]) -> Hyper:
    """A Hyper of float32 scalars (numpy: host values, placed wherever the state goes)."""
    return Hyper(**{name: np.float32(values[name]) for name in SWEEPABLE})


def run_hypers(cfg) -> list[Hyper]:
    """Each run's Hyper, in batch order: the config's values with its sweep point's on top."""
    base = base_values(cfg)
    return [hyper_of({**base, **dict(r.point)}) for r in runs(cfg)]


# ----------------------------------------------------------------------------------------------- labels
def label(point: dict[str, float], sep: str = " ") -> str:
    """'lr=5e-4 alpha0=0.1' (empty for the point of a run without a sweep); the legend of `jbn.plot`."""
    return point_label(point, sep)
