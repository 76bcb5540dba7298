"""Evaluation on the real StarCraft II (`python -m jbn.evaluate RUN_DIR --env sc2_<map>`), host side.

A policy trained in SMAX (`--env smax_<map>`) plays the real map through the bridge's `smax` layout, which
builds SMAX's observations and action ids from the game's units, so the policy runs unchanged (the gaps
that remain: envs_jax/sc2/__init__.py). A policy trained on the game plays it with its own layout.

The rows have `Evaluator.rows`' schema (jbn/evaluation/rows.py builds both) (update, env_steps, seed, policy, greedy, return, length,
episodes, win_rate) for the same combinations (joint as trained and decentralised, sampled and greedy), so
`tables.print_tables` and `rows.summarize` read them; the in-pass DAG analyses are not computed here
(several need SMAX's state). The episodes are played in Python: each step is one jitted call of the
combination's policy on the E games' observations, then `SC2VecEnv.step`. Game i plays episodes i, i + E,
i + 2E, ... of each row (a quota fixed in advance, so short episodes are not favoured), and every row starts
from freshly spawned armies. An episode cut by a game crash is not counted; the game plays another.
"""
from __future__ import annotations

from typing import Optional, Sequence

import jax
import numpy as np

from envs_jax.choices import check_choice
from envs_jax.registry import sc2_names, train_names
from envs_jax.sc2.maps import SMAC_MAPS, roster_str

from ..host.real_game import View, check_game, game_restarts, host_timestep, make_game, step_game, step_inputs
from ..training.config import Config, UserError, is_sc2, smax_twin
from ..training.rollout import act
from .kernel import policy_for
from .rows import base_row


def playable_envs(cfg: Config) -> list[str]:
    """The envs a run's policy can be evaluated on: its own, and for smax_<map> the real game's sc2_<map>."""
    twin = "sc2_" + cfg.env[len("smax_"):]
    return [cfg.env] + ([twin] if cfg.env.startswith("smax_") and twin in sc2_names() else [])


def _roster(env: str) -> Optional[str]:
    spec = SMAC_MAPS.get(smax_twin(env)[len("smax_"):]) if env.startswith(("smax_", "sc2_")) else None
    return None if spec is None else f"{roster_str(spec.allies)} vs {roster_str(spec.enemies)}"


def target_env(cfg: Config, env: Optional[str]) -> str:
    """The env to evaluate the run `cfg` on (`--env`, default its own). UserError for a bad name (with the near
    match) or an env the policy cannot play, naming both envs and, for SMAC maps, both rosters."""
    if env is None or env == cfg.env:
        return cfg.env
    try:
        check_choice("env", env, train_names())
    except ValueError as e:
        raise UserError(str(e)) from None
    valid = playable_envs(cfg)
    if env in valid:
        return env
    msg = f"--env {env}: the policy in {cfg.run_dir} was trained on {cfg.env} and plays only {' or '.join(valid)}"
    have, want = _roster(cfg.env), _roster(env)
    if have and want:
        msg += f" ({cfg.env}: {have}; {env}: {want})"
    raise UserError(msg)


def game_for_run(cfg: Config, target: str, num_games: int, seed: int):
    """The games a run's policy plays on `target` = sc2_<map>: its own layout for a run trained on the game, SMAX's
    layout of its map for a SMAX run."""
    layout = cfg.sc2_layout if is_sc2(cfg.env) else "smax"
    env = make_game(target, layout, num_games, seed=seed)
    check_game(env)
    return env


def make_act(policy):
    """act(params, obs [E, N, D], avail, visible, world_state, memory, key) -> (int32 [E, N], memory), jitted (one call
    per step); memory: a recurrent policy's GRU states before and after the step (None for feed-forward ones)."""

    def one(params, obs, avail, visible, world_state, memory, key):
        a = act(policy, params, View(obs, avail, visible, world_state), key, memory)
        return a.actions, a.memory

    return jax.jit(one)


def play_episodes(policy, act_fn, env, params, num_episodes: int, key) -> dict[str, np.ndarray]:
    """Returns, lengths and wins ([num_episodes] each) of the episodes `policy` plays on the games of `env` (an
    SC2VecEnv; see the module docstring for which episodes count); act_fn: its `make_act`."""
    E = env.num_envs
    quota = np.array([len(range(i, num_episodes, E)) for i in range(E)])
    state, ts = env.reset()
    ts = host_timestep(ts)
    got = np.zeros(E, int)
    out = {"return": [], "length": [], "won": []}
    memory = policy.initial_memory((E,))
    while (got < quota).any():
        key, step_key = jax.random.split(key)
        actions, memory = act_fn(params, *step_inputs(ts), memory, step_key)
        restarts = game_restarts(env)
        state, ts, memory = step_game(env, state, actions, memory)
        counted = ts.done & (got < quota) & (game_restarts(env) == restarts)
        out["return"].append(ts.episode_return[counted])
        out["length"].append(ts.episode_length[counted])
        out["won"].append(ts.won[counted])
        got += counted
    return {k: np.concatenate(v) for k, v in out.items()}


def play_on_game(policy, env, params, num_episodes: int, key, *, combos: Sequence, first_seed: int, update: int,
                 env_steps: int) -> list[dict]:
    """Evaluator rows of seed-batched params ([S, ...] leaves) on the games of `env`: for each seed (key
    fold_in(key, first_seed + k), as the JAX evaluator) and combination, `num_episodes` episodes."""
    acts = {combo: make_act(policy_for(policy, combo)) for combo in combos}
    num_seeds = jax.tree.leaves(params)[0].shape[0]
    rows = []
    for s in range(num_seeds):
        seed_params = jax.tree.map(lambda x: x[s], params)
        seed_key = jax.random.fold_in(key, first_seed + s)
        for combo in combos:
            ep = play_episodes(policy, acts[combo], env, seed_params, num_episodes, seed_key)
            rows.append(base_row(update=update, env_steps=env_steps, run={"seed": first_seed + s}, combo=combo,
                                 returns=ep["return"], lengths=ep["length"], won=ep["won"], has_win=env.has_win))
    return rows
