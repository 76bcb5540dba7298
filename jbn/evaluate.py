"""Evaluation of trained joint policies (docs/architecture.md §4), with the paper's analyses, in one compiled pass.

    ev = make_evaluator(cfg, policy, env, num_episodes)       # Python setup; compiles on the first call
    rows = ev(params, key, update=U, env_steps=X, first_seed=cfg.seed)   # list[dict], JSON-ready

    python -m jbn.evaluate RUN_DIR [--checkpoint U] [--episodes N] [--greedy] [--seed S] [--out FILE]
                                   [--render out.gif] [--env sc2_<map> [--sc2-games G]]

`--env sc2_<map>` plays a policy trained on smax_<map> on the real StarCraft II (jbn/host_eval.py: host-side
episodes, the same rows without the DAG analyses); a run trained on sc2_<map> is evaluated on the game anyway.

For each seed, every combination of
  policy   joint (the DAG mode as trained) | decentralized (the same parameters with mode none: every agent acts
           on its own observation alone, as the annealed policy is meant to run; only when the mode is not none)
  sampling sampled | greedy (each agent takes the argmax of its conditional, in topological order, and the DAG is
           the most likely one: zero Gumbel noise, `BNPolicy.greedy`)
runs `num_episodes` parallel episodes (the first episode of each env, up to env.max_steps steps) and gives one row.
All combinations step together as one batch of C x M envs through one `lax.scan` (one env step traced, one
compile for all of them) and share their random numbers: the same initial states, env-step keys and action keys,
so two rows differ only through their policies (common random numbers; with mode none the joint and decentralized
rows are identical).

Row schema (one per seed x policy x sampling; floats, NaN -> null):
  update, env_steps, seed, policy ("joint" | "decentralized"), greedy (bool), return (mean episode return),
  length (mean episode length in env steps), episodes (M), win_rate (mean; only for envs with wins, SMAX)
and on every joint row (sampled and greedy; all zeros / null for mode none), averaged over every step of the
evaluation episodes before each env's first episode end (jbn/analysis.py):
  kl_by_agent [N]                     Fig. 10: KL(π_i(.|o_i, a^{P_i}) ‖ π_i(.|o_i, ∅)), over the steps where agent i is
                                      active (more than one available action: a dead SMAX unit has no choice)
  parents_by_agent [N]                mean in-degree Σ_j G[j, i] of the sampled G (before invisible-parent masking)
  dag_density                         mean ρ(G)
  SMAX: visible_parent_fraction       Fig. 7: Σ visible chosen parents / Σ chosen parents, pooled over agents
        parent_health_ratio_by_agent  Fig. 8 (`analysis.parent_health_ratio`, mean over the steps where defined)
        parent_distance_ratio_by_agent  Fig. 9 (`analysis.parent_distance_ratio`, likewise)
  Aloha: aloha_snapshot               Fig. 5: `analysis.aloha_snapshot` of the first step of episode 0
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs_jax
from envs_jax.aloha import Aloha
from envs_jax.smax import SMAXEnv

from . import analysis
from . import dag as dag_lib
from .config import Config, UserError
from .placement import host_values
from .policy import BNPolicy
from .ppo import active_agents
from .rollout import act
from .train import over_seeds

POLICIES = ("joint", "decentralized")


class Combo(NamedTuple):
    """One evaluated combination: a row per seed."""

    policy: str  # "joint" | "decentralized"
    greedy: bool


class DagStats(NamedTuple):
    """Sums of one joint combination's analyses over the counted (env, step) pairs (the steps of each env's first
    episode); leaves float32, [N] unless noted. The rows divide them (`_analysis_fields`)."""

    steps: jax.Array  # [] counted (env, step) pairs
    kl: analysis.Tally  # num Σ KL_i over the steps where i is active, den that count
    in_degree: jax.Array  # Σ in-degree of i in the sampled G
    density: jax.Array  # [] Σ ρ(G)
    visible_parents: Optional[analysis.Tally]  # SMAX only: Fig. 7 tallies
    health: Optional[analysis.Tally]  # SMAX only: Fig. 8
    distance: Optional[analysis.Tally]  # SMAX only: Fig. 9


class FirstStep(NamedTuple):
    """Env 0's first step (Aloha snapshot, Fig. 5)."""

    obs: jax.Array  # [N, D]
    actions: jax.Array  # int32 [N]
    g: jax.Array  # [N, N]
    order: jax.Array  # int32 [N]


class Record(NamedTuple):
    """Env 0 of the first combination at every step (for rendering): the state the action was taken in."""

    env_state: envs_jax.EnvState  # leaves [T, ...]
    g: jax.Array  # [T, N, N] the sampled DAG
    actions: jax.Array  # int32 [T, N]
    reward: jax.Array  # [T] the team reward of the step


class EvalOut(NamedTuple):
    """What one compiled evaluation returns for one seed ([S, ...] with a seed axis). C combinations, M episodes,
    Cj = the joint combinations (analyses), in the order of `Evaluator.combos`."""

    returns: jax.Array  # float32 [C, M] return of each env's first episode
    won: jax.Array  # bool [C, M]
    lengths: jax.Array  # int32 [C, M]
    finished: jax.Array  # bool [C, M] the first episode ended within the scan
    stats: Optional[DagStats]  # leaves [Cj, ...]; None without analyses
    first: Optional[FirstStep]  # leaves [Cj, ...]; Aloha only
    record: Optional[Record]  # only when asked for (rendering)


def is_smax(env: envs_jax.ArrayEnv) -> bool:
    return isinstance(env.env, SMAXEnv)


def is_aloha(env: envs_jax.ArrayEnv) -> bool:
    return isinstance(env.env, Aloha)


def make_episodes(policies: Sequence[BNPolicy], env: envs_jax.ArrayEnv, num_episodes: int, *,
                  analyses: Sequence[bool], record: bool = False) -> Callable:
    """episodes(params, key) -> EvalOut for ONE seed: the first episode of `num_episodes` envs under each policy.

    policies: one per combination (greedy ones with `greedy=True`); analyses[c]: compute the DAG analyses of
    combination c (the joint ones). The C x M envs step as one batch [C*M] (combination-major); every combination
    uses the same reset keys, env-step keys and action keys. record: also return env 0 of combination 0 at every
    step (`Record`).
    """
    C, M, T = len(policies), num_episodes, env.max_steps
    smax, aloha = is_smax(env), is_aloha(env)
    stat_ids = [c for c in range(C) if analyses[c]]

    def part(tree, c):  # combination c's envs of a [C*M, ...] batch
        return jax.tree.map(lambda x: x[c * M:(c + 1) * M], tree)

    def step_stats(pol, params, ts, env_state, a, live):
        """DagStats of one batched step [M], counting only `live` envs (still in their first episode)."""
        w = live.astype(jnp.float32)  # [M]
        kl = jax.vmap(analysis.multimodality_kl, in_axes=(None, None, 0, 0, 0, 0, 0))(
            pol, params, ts.obs, ts.avail, ts.visible, a.noise, a.actions)  # [M, N]
        active = active_agents(ts.avail).astype(jnp.float32) * w[:, None]  # [M, N]
        stats = DagStats(
            steps=jnp.sum(w),
            kl=analysis.Tally(jnp.sum(kl * active, 0), jnp.sum(active, 0)),
            in_degree=jnp.sum(jnp.sum(a.g, axis=-2) * w[:, None], 0),
            density=jnp.sum(dag_lib.density(a.g) * w),
            visible_parents=None, health=None, distance=None,
        )
        if smax:
            allies = jax.vmap(lambda s: analysis.smax_allies(env, s))(env_state)
            tallies = (
                jax.vmap(analysis.visible_parent_fraction)(a.g, ts.visible, allies.alive),
                jax.vmap(analysis.parent_health_ratio)(a.g, allies.health, allies.alive),
                jax.vmap(analysis.parent_distance_ratio)(a.g, allies.positions, allies.alive),
            )
            vis, health, dist = (analysis.Tally(jnp.sum(t.num * w[:, None], 0), jnp.sum(t.den * w[:, None], 0))
                                 for t in tallies)
            stats = stats._replace(visible_parents=vis, health=health, distance=dist)
        return stats

    def episodes(params, key) -> EvalOut:
        reset_key, key = jax.random.split(key)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, M))
        env_state, ts = jax.tree.map(lambda x: jnp.tile(x, (C,) + (1,) * (x.ndim - 1)), (env_state, ts))

        def step(carry, t):
            env_state, ts, key, finished, ret, won, length, stats, first = carry
            key, act_key, step_key = jax.random.split(key, 3)
            acts = [act(pol, params, part(ts, c), act_key) for c, pol in enumerate(policies)]
            actions = jnp.concatenate([a.actions for a in acts])  # [C*M, N]
            new_state, next_ts = jax.vmap(env.step)(
                jnp.tile(jax.random.split(step_key, M), (C, 1)), env_state, actions)
            live = ~finished
            new_stats = [step_stats(policies[c], params, part(ts, c), part(env_state, c), acts[c], part(live, c))
                         for c in stat_ids]
            stats = jax.tree.map(lambda s, *n: s + jnp.stack(n), stats, *new_stats) if stat_ids else None
            if aloha and stat_ids:  # env 0's first step, with the topological order the policy used
                now = []
                for c in stat_ids:
                    ts0, a = part(ts, c), acts[c]
                    noise0 = None if a.noise is None else jax.tree.map(lambda x: x[0], a.noise)
                    order = policies[c].dag(params, ts0.obs[0], ts0.visible[0], noise0)[2]
                    now.append(FirstStep(ts0.obs[0], a.actions[0], a.g[0], order))
                first = jax.tree.map(lambda f, *n: jnp.where(t == 0, jnp.stack(n), f), first, *now)
            first_end = next_ts.done & ~finished
            ret = jnp.where(first_end, next_ts.episode_return, ret)
            won = jnp.where(first_end, next_ts.won, won)
            length = jnp.where(first_end, next_ts.episode_length, length)
            rec = None
            if record:
                rec = Record(env_state=jax.tree.map(lambda x: x[0], env_state), g=acts[0].g[0],
                             actions=acts[0].actions[0], reward=next_ts.reward[0])
            carry = (new_state, next_ts, key, finished | next_ts.done, ret, won, length, stats, first)
            return carry, rec

        n = env.num_agents
        f = jnp.zeros((C * M,), bool)
        stats0 = None
        if stat_ids:
            zc, zcn = jnp.zeros((len(stat_ids),)), jnp.zeros((len(stat_ids), n))
            tally0 = analysis.Tally(zcn, zcn) if smax else None
            stats0 = DagStats(zc, analysis.Tally(zcn, zcn), zcn, zc, tally0, tally0, tally0)
        first0 = None
        if aloha and stat_ids:
            k = len(stat_ids)
            first0 = FirstStep(jnp.zeros((k,) + ts.obs.shape[1:]), jnp.zeros((k, n), jnp.int32),
                               jnp.zeros((k, n, n)), jnp.zeros((k, n), jnp.int32))
        init = (env_state, ts, key, f, jnp.zeros((C * M,)), f, jnp.zeros((C * M,), jnp.int32), stats0, first0)
        (_, _, _, finished, ret, won, length, stats, first), rec = jax.lax.scan(step, init, jnp.arange(T))
        to_cm = lambda x: x.reshape(C, M)  # noqa: E731
        return EvalOut(returns=to_cm(ret), won=to_cm(won), lengths=to_cm(length), finished=to_cm(finished),
                       stats=stats, first=first, record=rec)

    return episodes


def combos_for(policy: BNPolicy, greedy: Sequence[bool] = (False, True), decentralized: Optional[bool] = None
               ) -> tuple[Combo, ...]:
    """The combinations evaluated: joint always; decentralized when the mode is not none (or as forced)."""
    if decentralized is None:
        decentralized = policy.mode != "none"
    names = ("joint", "decentralized") if decentralized else ("joint",)
    return tuple(Combo(p, bool(g)) for p in names for g in greedy)


def policy_for(policy: BNPolicy, combo: Combo) -> BNPolicy:
    mode = policy.mode if combo.policy == "joint" else "none"
    return dataclasses.replace(policy, mode=mode, greedy=combo.greedy)


def _json_float(x) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def _json_list(a) -> list:
    return [_json_float(v) for v in np.asarray(a).reshape(-1)]


def _ratio(num, den):
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass
class Evaluator:
    """Built by `make_evaluator`. Call it with run-batched parameters ([R, ...] leaves):

        rows = ev(params, key, update=U, env_steps=X, first_seed=cfg.seed)
        rows = ev(params, key, update=U, env_steps=X, seeds=[...], tags=[...])   # a sweep: each run's seed, tags

    Run k of the batch is evaluated with key fold_in(key, its seed) (first_seed + k by default), so a run's rows
    depend neither on the batch it was trained in nor on its sweep point's neighbours; tags[k] (`RunTag.tags`)
    start its rows instead of {"seed": ...}. One compiled program per number of runs (`traces` counts the
    traces). Parameters sharded over devices (jbn.placement) are evaluated where they lie."""

    policy: BNPolicy
    env: envs_jax.ArrayEnv
    num_episodes: int
    combos: tuple[Combo, ...]
    analyses: bool
    first_seed: int = 0
    traces: int = 0
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

            self._compiled[num_seeds] = jax.jit(over_seeds(traced, num_seeds))
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
        """JSON-ready rows (see the module docstring) from a host copy of `run`'s output; tags[s]: the keys that
        identify run s (default {"seed": first_seed + s})."""
        if not np.all(out.finished):
            raise RuntimeError(f"evaluation: some episodes did not end within {self.env.max_steps} steps")
        stat_index = {c: k for k, c in enumerate(self.stat_combos)}
        rows = []
        for s in range(out.returns.shape[0]):
            for c, combo in enumerate(self.combos):
                run = dict(tags[s]) if tags is not None else {"seed": first_seed + s}
                row = {"update": int(update), "env_steps": int(env_steps), **run,
                       "policy": combo.policy, "greedy": combo.greedy,
                       "return": _json_float(out.returns[s, c].mean()),
                       "length": _json_float(out.lengths[s, c].mean()),
                       "episodes": int(out.returns.shape[-1])}
                if self.env.has_win:
                    row["win_rate"] = _json_float(out.won[s, c].mean())
                if c in stat_index:
                    k = stat_index[c]
                    row.update(self._analysis_fields(jax.tree.map(lambda x: x[s, k], out.stats)))
                    if out.first is not None:
                        f = jax.tree.map(lambda x: np.asarray(x[s, k]), out.first)
                        row["aloha_snapshot"] = analysis.aloha_snapshot(f.g, f.obs, f.actions, f.order)
                rows.append(row)
        return rows

    @staticmethod
    def _analysis_fields(st: DagStats) -> dict:
        steps = float(st.steps)
        out = {
            "kl_by_agent": _json_list(_ratio(st.kl.num, st.kl.den)),
            "parents_by_agent": _json_list(_ratio(st.in_degree, np.full_like(st.in_degree, steps))),
            "dag_density": _json_float(_ratio(st.density, steps)),
        }
        if st.visible_parents is not None:
            out["visible_parent_fraction"] = _json_float(_ratio(np.sum(st.visible_parents.num),
                                                                np.sum(st.visible_parents.den)))
            out["parent_health_ratio_by_agent"] = _json_list(_ratio(st.health.num, st.health.den))
            out["parent_distance_ratio_by_agent"] = _json_list(_ratio(st.distance.num, st.distance.den))
        return out


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
                     combos=combos_for(policy, greedy, decentralized), analyses=analyses, first_seed=cfg.seed)


def summarize(rows: Sequence[dict], has_win: bool, greedy: bool = False) -> dict:
    """summary.json's eval dict from evaluator rows (of one update): {policy: {return_mean, return_per_seed,
    [win_rate_mean, win_rate_per_seed,] length_mean, episodes_per_seed}} over the rows with that sampling."""
    out = {}
    for name in POLICIES:
        rs = sorted((r for r in rows if r["policy"] == name and r["greedy"] == greedy), key=lambda r: r["seed"])
        if not rs:
            continue
        ret = [r["return"] for r in rs]
        res = {"return_mean": float(np.mean(ret)), "return_per_seed": ret}
        if has_win:
            win = [r["win_rate"] for r in rs]
            res.update(win_rate_mean=float(np.mean(win)), win_rate_per_seed=win)
        res.update(length_mean=float(np.mean([r["length"] for r in rs])), episodes_per_seed=rs[0]["episodes"])
        out[name] = res
    return out


def evaluate(cfg, policy, env, params, num_episodes: int, key) -> dict:
    """params: seed-batched [K, ...]. Returns {mode: {return_mean, return_per_seed, [win_rate_mean,
    win_rate_per_seed,] length_mean, episodes_per_seed}} for the joint policy as trained ("joint") and, for
    correlated modes, decentralised execution ("decentralized"), actions sampled. Win rates only for envs with
    wins. A run's evaluator rows give the same with `summarize`, without compiling again."""
    ev = make_evaluator(cfg, policy, env, num_episodes, greedy=(False,), analyses=False)
    return summarize(ev(params, key, update=0, env_steps=0, first_seed=cfg.seed), env.has_win)


# ------------------------------------------------------------------------------------------------------------ CLI
@dataclass(frozen=True)
class EvalArgs:
    run_dir: tyro.conf.Positional[str]
    """run directory written by `python -m jbn.train` (config.json, checkpoints/)"""
    checkpoint: Optional[int] = None
    """update count of the checkpoint to evaluate (default: the newest good one)"""
    episodes: Optional[int] = None
    """episodes per seed and combination (default: the run's eval_episodes, else its preset's)"""
    greedy: bool = False
    """only the greedy rows (default: sampled and greedy)"""
    seed: Optional[int] = None
    """evaluation PRNG seed (default: the run's seed + 10000, the key of the final evaluation in summary.json)"""
    out: Optional[str] = None
    """JSON output file (default: RUN_DIR/eval_<U>.json)"""
    render: Optional[str] = None
    """SMAX only: write one evaluation episode of seed 0 (joint policy, sampled) as a GIF to this path"""
    env: Optional[str] = None
    """evaluate on this env instead of the run's: sc2_<map> (the real StarCraft II) for a run trained on smax_<map>"""
    sc2_games: int = 1
    """real StarCraft II only: games played side by side (each a game process)"""


def load_config(run_dir: str, warn=None) -> Config:
    """The resolved Config of a run directory; UserError naming the problem otherwise."""
    from . import checkpoint as ckpt
    from .config import resolve

    saved = ckpt.saved_config(run_dir)
    path = os.path.join(run_dir, "config.json")
    known = {f.name for f in dataclasses.fields(Config)}
    missing = sorted(known - set(saved))
    if missing and warn is not None:
        warn(f"{path} lacks {', '.join(missing)} (an older layout?); using their defaults")
    try:
        return resolve(Config(**{**saved, "run_dir": run_dir}))
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def pick_checkpoint(run_dir: str, update: Optional[int], warn) -> tuple[int, str]:
    """(update, path) of the checkpoint to evaluate: `update` (verified) or the newest good one."""
    from . import checkpoint as ckpt

    available = ckpt.list_updates(run_dir)
    if not available:
        raise UserError(f"no checkpoints in {ckpt.root(run_dir)}")
    if update is None:
        good = ckpt.find_good(run_dir, warn)
        if not good:
            raise UserError(f"no loadable checkpoint in {ckpt.root(run_dir)}: every one is damaged")
        return good[0]
    if update not in available:
        raise UserError(f"--checkpoint {update}: no such checkpoint in {ckpt.root(run_dir)}; available: "
                        f"{', '.join(map(str, available))}")
    path = os.path.join(ckpt.root(run_dir), str(update))
    problem = ckpt.verify(path)
    if problem is not None:
        raise UserError(f"checkpoint {path} is damaged ({problem})")
    return update, path


def load_params(cfg: Config, path: str):
    """(trainer, seed-batched params) restored from the checkpoint at `path`."""
    from . import checkpoint as ckpt
    from . import train
    from .config import is_sc2

    if is_sc2(cfg.env):  # trained on the game (jbn/host_train.py): a spec env without a game; no env in the state
        from .host_train import make_game

        trainer = train.make_train(cfg, env=make_game(cfg.env, cfg.sc2_layout, None))
        init = trainer.init_learner
    else:
        trainer = train.make_train(cfg)
        init = trainer.init
    # Only the structure (shapes, dtypes) of the runner state, traced but neither compiled nor run (no batched
    # QR either, see train.init_seeds): orbax restores into it.
    state = jax.eval_shape(train.over_seeds(init, cfg.num_runs), train.seed_keys(cfg), train.stacked_hypers(cfg))
    try:
        state = ckpt.restore(path, state)
    except Exception as e:  # noqa: BLE001 - any failure to load is the user's checkpoint not fitting the config
        raise UserError(f"cannot restore {path} with the structure of its config.json ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return trainer, state.params


def print_tables(rows: Sequence[dict], has_win: bool, console) -> None:
    """One table of returns (per seed and the mean over seeds) and, where present, one of the analyses."""
    from rich.table import Table

    def fmt(v, digits=3):  # digits None: 3 significant digits (KL values can be tiny)
        if v is None:
            return "-"
        return f"{v:.3g}" if digits is None else f"{v:.{digits}f}"

    from .sweep import label

    point_of = lambda r: label(r.get("sweep") or {})  # noqa: E731  ('' without a sweep)
    points = list(dict.fromkeys(point_of(r) for r in rows))  # in run order
    swept = points != [""]
    main = Table(title="evaluation")
    for col in (("sweep point",) if swept else ()) + ("seed", "policy", "sampling", "return") + \
            (("win rate",) if has_win else ()) + ("length",):
        main.add_column(col, justify="left" if col in ("sweep point", "policy", "sampling") else "right")
    keys = sorted({(r["policy"], r["greedy"]) for r in rows}, key=lambda k: (POLICIES.index(k[0]), k[1]))
    for point in points:
        at = [r for r in rows if point_of(r) == point]
        lead = (point,) if swept else ()
        for seed in sorted({r["seed"] for r in at}):
            for r in at:
                if r["seed"] == seed:
                    main.add_row(*lead, str(seed), r["policy"], "greedy" if r["greedy"] else "sampled",
                                 fmt(r["return"]), *((fmt(r["win_rate"], 2),) if has_win else ()), fmt(r["length"], 1))
        for policy, greedy in keys:
            rs = [r for r in at if r["policy"] == policy and r["greedy"] == greedy]
            mean = lambda k: _json_float(np.mean([r[k] for r in rs if r[k] is not None] or [np.nan]))  # noqa: E731
            main.add_row(*lead, "mean", policy, "greedy" if greedy else "sampled", fmt(mean("return")),
                         *((fmt(mean("win_rate"), 2),) if has_win else ()), fmt(mean("length"), 1), style="bold")
    console.print(main)

    stat_rows = [r for r in rows if "kl_by_agent" in r]
    if not stat_rows:
        return
    per_agent = [k for k in ("kl_by_agent", "parents_by_agent", "parent_health_ratio_by_agent",
                             "parent_distance_ratio_by_agent") if k in stat_rows[0]]
    table = Table(title="DAG analyses (joint policy; per agent: mean over seeds)")
    table.add_column("sampling")
    table.add_column("quantity")
    n = len(stat_rows[0]["kl_by_agent"])
    for i in range(n):
        table.add_column(f"agent {i + 1}", justify="right")
    table.add_column("all", justify="right")
    for greedy in sorted({r["greedy"] for r in stat_rows}):
        rs = [r for r in stat_rows if r["greedy"] == greedy]
        name = "greedy" if greedy else "sampled"
        for k in per_agent:
            vals = np.array([[np.nan if v is None else v for v in r[k]] for r in rs], np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-null column: nanmean of nothing
                by_agent = np.nanmean(vals, axis=0)
            table.add_row(name, k.removesuffix("_by_agent"), *(fmt(_json_float(v), None) for v in by_agent), "")
        for k in ("dag_density", "visible_parent_fraction"):
            if k in rs[0]:
                vals = [r[k] for r in rs if r[k] is not None]
                table.add_row(name, k, *([""] * n), fmt(_json_float(np.mean(vals)) if vals else None))
    console.print(table)


def run_cli(args: EvalArgs, console=None) -> dict:
    """`python -m jbn.evaluate`: returns {"update", "rows", "out"[, "render"]}. Bad input raises UserError."""
    from rich.console import Console

    console = console or Console()
    err = Console(stderr=True)
    warn = lambda msg: err.print(f"[yellow]warning:[/] {msg}", soft_wrap=True, highlight=False)  # noqa: E731
    from .config import is_sc2
    from .host_eval import target_env

    cfg = load_config(args.run_dir, warn)
    env_name = target_env(cfg, args.env)
    if args.episodes is not None and args.episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {args.episodes!r}")
    if args.sc2_games < 1:
        raise UserError(f"--sc2-games must be >= 1, got {args.sc2_games!r}")
    if args.render is not None:
        from .render import check_renderable

        check_renderable(env_name, args.render)
    update, path = pick_checkpoint(args.run_dir, args.checkpoint, warn)
    episodes = args.episodes
    if episodes is None:
        from .config import preset_values

        episodes = cfg.eval_episodes or preset_values(cfg.env, cfg.preset)["eval_episodes"]
    out_path = args.out or os.path.join(args.run_dir, f"eval_{update}.json")
    seed = cfg.seed + 10_000 if args.seed is None else args.seed
    game = None
    if is_sc2(env_name):  # before compiling: pysc2, the game and the map are installed
        from .host_eval import game_for_run

        game = game_for_run(cfg, env_name, args.sc2_games, seed)
    trainer, params = load_params(cfg, path)
    key = jax.random.PRNGKey(seed)
    greedy = (True,) if args.greedy else (False, True)
    where = f" on {env_name}" if env_name != cfg.env else ""
    console.print(f"{cfg.env} dag={cfg.dag}: checkpoint {update} ({path}){where}, {episodes} episodes per seed and "
                  f"row, evaluation seed {seed}", soft_wrap=True, highlight=False)
    if game is None:
        from .sweep import runs as runs_of

        runs = runs_of(cfg)
        ev = make_evaluator(cfg, trainer.policy, trainer.env, episodes, greedy=greedy)
        rows = ev(params, key, update=update, env_steps=update * cfg.batch_size, seeds=[r.seed for r in runs],
                  tags=[r.tags for r in runs])
        has_win = trainer.env.has_win
    else:
        from .host_eval import play_on_game

        with game:
            rows = play_on_game(trainer.policy, game, params, episodes, key,
                                combos=combos_for(trainer.policy, greedy), first_seed=cfg.seed, update=update,
                                env_steps=update * cfg.batch_size)
        has_win = game.has_win
    print_tables(rows, has_win, console)
    result = {"run_dir": args.run_dir, "env": env_name, "checkpoint": update, "episodes": episodes,
              "eval_seed": seed, "rows": rows}
    try:
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)
    except OSError as e:
        raise UserError(f"cannot write --out {out_path!r}: {e.strerror or e}") from None
    console.print(f"wrote {out_path}", soft_wrap=True, highlight=False)
    done = {"update": update, "rows": rows, "out": out_path}
    if args.render is not None:
        from .render import render_episode

        seed0 = jax.tree.map(lambda x: x[0], params)
        frames = render_episode(trainer.policy, trainer.env, seed0, jax.random.fold_in(key, cfg.seed), args.render,
                                num_episodes=episodes, greedy=args.greedy)
        console.print(f"wrote {args.render} ({frames} frames)", soft_wrap=True, highlight=False)
        done["render"] = args.render
        done["frames"] = frames
    return done


def main(argv=None) -> None:
    args = tyro.cli(EvalArgs, args=argv, prog="python -m jbn.evaluate", description=__doc__.split("\n\n")[0])
    try:
        run_cli(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
