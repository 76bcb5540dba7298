"""`Evaluator`: a run's policy evaluated in one compiled pass per number of runs (jbn/evaluation/kernel.py), as rows.

    ev = make_evaluator(cfg, policy, env, num_episodes)       # Python setup; compiles on the first call
    rows = ev(params, key, update=U, env_steps=X, first_seed=cfg.seed)   # list[dict], JSON-ready
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import envs_jax

from ..host.placement import host_values
from ..policy.joint import BNPolicy
from ..training.config import Config, compiler_options
from ..training.trainer import over_runs
from .kernel import Combo, EvalOut, combos_for, make_episodes, policy_for
from .rows import rows_of, summarize


@dataclass
class Evaluator:
    """Built by `make_evaluator`. Call it with run-batched parameters ([R, ...] leaves):

        rows = ev(params, key, update=U, env_steps=X, first_seed=cfg.seed)
        rows = ev(params, key, update=U, env_steps=X, seeds=[...], tags=[...])   # a sweep: each run's seed, tags

    Run k of the batch is evaluated with key fold_in(key, its seed) (first_seed + k by default), so a run's rows
    depend neither on the batch it was trained in nor on its sweep point's neighbours; tags[k] (`RunTag.tags`)
    start its rows instead of {"seed": ...}. One compiled program per number of runs (`traces` counts the
    traces). Parameters sharded over devices (jbn.host.placement) are evaluated where they lie."""

    policy: BNPolicy
    env: envs_jax.ArrayEnv
    num_episodes: int
    combos: tuple[Combo, ...]
    analyses: bool
    first_seed: int = 0
    traces: int = 0
    compiler_options: Optional[dict] = None  # XLA options of the compiled pass (config.compiler_options)
    _compiled: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def stat_combos(self) -> list[int]:
        return [c for c, combo in enumerate(self.combos) if self.analyses and combo.policy == "joint"]

    def _fn(self, num_seeds: int):
        if num_seeds not in self._compiled:
            stat = set(self.stat_combos)
            episodes = make_episodes([policy_for(self.policy, c) for c in self.combos], self.env, self.num_episodes,
                                     analyses=[c in stat for c in range(len(self.combos))])

            def traced(params, key):
                self.traces += 1  # runs once per trace
                return episodes(params, key)

            self._compiled[num_seeds] = jax.jit(over_runs(traced, num_seeds), compiler_options=self.compiler_options)
        return self._compiled[num_seeds]

    def run(self, params, key, first_seed: Optional[int] = None, seeds: Optional[Sequence[int]] = None) -> EvalOut:
        """The compiled pass: EvalOut with a leading runs axis, on the device(s)."""
        first_seed = self.first_seed if first_seed is None else first_seed
        num_runs = jax.tree.leaves(params)[0].shape[0]
        seeds = first_seed + np.arange(num_runs) if seeds is None else np.asarray(seeds)
        # numpy keys: the same value on every process, which a multi-host program takes as replicated
        keys = np.asarray(jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(seeds)))
        return self._fn(num_runs)(params, keys)

    def __call__(self, params, key, *, update: int, env_steps: int, first_seed: Optional[int] = None,
                 seeds: Optional[Sequence[int]] = None, tags: Optional[Sequence[dict]] = None) -> list[dict]:
        first_seed = self.first_seed if first_seed is None else first_seed
        out = host_values(self.run(params, key, first_seed, seeds))
        return self.rows(out, update=update, env_steps=env_steps, first_seed=first_seed, tags=tags)

    def rows(self, out: EvalOut, *, update: int, env_steps: int, first_seed: int,
             tags: Optional[Sequence[dict]] = None) -> list[dict]:
        """JSON-ready rows (jbn/evaluation/__init__.py) from a host copy of `run`'s output; tags[s]: the keys that
        identify run s (default {"seed": first_seed + s})."""
        return rows_of(out, self.combos, self.stat_combos, has_win=self.env.has_win, max_steps=self.env.max_steps,
                       update=update, env_steps=env_steps, first_seed=first_seed, tags=tags,
                       snapshot=self.env.family.step_snapshot)


def make_evaluator(cfg: Config, policy: BNPolicy, env: envs_jax.ArrayEnv, num_episodes: int, *,
                   greedy: Sequence[bool] = (False, True), decentralized: Optional[bool] = None,
                   analyses: bool = True) -> Evaluator:
    """The evaluator of a run (Python setup only; it compiles on its first call).

    greedy: the samplings to evaluate (False: sampled, True: greedy). decentralized: evaluate the decentralised
    execution too (default: when cfg's mode is not none). analyses: compute the DAG analyses on the joint rows.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes!r}")
    if not greedy:
        raise ValueError("greedy: give at least one sampling (False: sampled, True: greedy)")
    return Evaluator(policy=policy, env=env, num_episodes=int(num_episodes),
                     combos=combos_for(policy, greedy, decentralized), analyses=analyses, first_seed=cfg.seed,
                     compiler_options=compiler_options(cfg))


def evaluate(cfg, policy, env, params, num_episodes: int, key) -> dict:
    """params: seed-batched [K, ...]. Returns {mode: {return_mean, return_per_seed, [win_rate_mean,
    win_rate_per_seed,] length_mean, episodes_per_seed}} for the joint policy as trained ("joint") and, for
    correlated modes, decentralised execution ("decentralized"), actions sampled. Win rates only for envs with
    wins. A run's evaluator rows give the same with `summarize`, without compiling again."""
    ev = make_evaluator(cfg, policy, env, num_episodes, greedy=(False,), analyses=False)
    return summarize(ev(params, key, update=0, env_steps=0, first_seed=cfg.seed), env.has_win)
