"""Training on the real StarCraft II (`python -m jbn.train --env sc2_<map>`): a host-side rollout loop.

The game cannot run under jit, so one PPO update is split where `train.make_train` splits it:

    rollout (Python): T times { one jitted call: the joint policy acts on the E games' observations and the
                                critic values them;  SC2VecEnv.step on the host (E games side by side) }
                      -> the T steps stacked into a [T, E] `Transition` (numpy)
    learn (jitted):   `Trainer.learn`, the very function the JAX envs' compiled update calls

so everything after the rollout (GAE, value normalisation, the BN-MAPPO loss, the η/α schedule, metrics) is
shared with the JAX trainer; the random keys are split as `Trainer.rollout` splits them (a JAX env stepped by
this loop gives its rollout exactly, tests/test_host_train.py). The run directory, metrics.jsonl, progress,
checkpoints, `--resume` and Ctrl-C behave as in `jbn.train` (its helpers are reused): every update is its own
"chunk", so Ctrl-C finishes the update in flight, checkpoints and exits. One seed per run (config.py refuses
more); its checkpoints carry a seed axis of 1, so `jbn.evaluate RUN_DIR` reads them like any run's.

A game that dies (process exit, lost connection, timeout) is restarted by the env (envs_jax/sc2/env.py,
on_crash="restart"): the episode in flight is cut, as a time limit cuts one (done and truncated, bootstrapped
from the last state seen, counted as an episode ended without a win), the rollout goes on with the new game's
first observation, and a line says so. If a game cannot be relaunched (`SC2GameCrashed`), the state after the
last completed update is checkpointed before the error propagates: `--resume` continues from there. The games
of a resumed run get new seeds.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax import TimeStep

from . import checkpoint as ckpt
from . import dag as dag_lib
from .config import Config, UserError
from .dag import DagNoise
from .rollout import act
from .train import (
    _atomic_write,
    _Interrupt,
    _reset_logs,
    _restore_newest,
    _resume_point,
    make_train,
)
from .types import RunnerState, Transition


# ------------------------------------------------------------------------------------------------ the games
def make_game(name: str, layout: str, num_games: Optional[int], seed: Optional[int] = None,
              policy_map: Optional[str] = None, **kwargs):
    """`envs_jax.sc2.make` for a validated name: an SC2VecEnv of `num_games` games (None: one SC2Env, used as a
    spec only). Starts no game. policy_map: the SMAX scenario whose `smax` layout to use (default: the map)."""
    from envs_jax import sc2

    return sc2.make(name, layout=layout, num_envs=num_games, seed=seed, policy_map=policy_map, **kwargs)


def check_game(env) -> None:
    """UserError (before anything compiles or launches) unless pysc2, the game and the map are installed; the
    message is the bridge's own, saying what to install where."""
    from envs_jax.sc2._proto import load_pysc2
    from envs_jax.sc2.env import SC2InstallError

    first = env.envs[0]
    try:
        load_pysc2()
        first.launcher.check(first.spec)
    except (ImportError, SC2InstallError) as e:
        raise UserError(f"{first.name}: {e}") from None


def host_timestep(ts: TimeStep) -> TimeStep:
    """The env's TimeStep with the dtypes the compiled functions were built for (numpy)."""
    f32, b = np.float32, np.bool_
    return TimeStep(
        obs=np.asarray(ts.obs, f32), world_state=np.asarray(ts.world_state, f32), avail=np.asarray(ts.avail, b),
        visible=np.asarray(ts.visible, b), reward=np.asarray(ts.reward, f32), done=np.asarray(ts.done, b),
        terminated=np.asarray(ts.terminated, b), truncated=np.asarray(ts.truncated, b),
        final_world_state=np.asarray(ts.final_world_state, f32), episode_return=np.asarray(ts.episode_return, f32),
        episode_length=np.asarray(ts.episode_length, np.int32), won=np.asarray(ts.won, b),
    )


def game_restarts(env) -> np.ndarray:
    """int [E]: how often each game of an SC2VecEnv has been relaunched after a crash (zeros for other envs)."""
    return np.array([getattr(e, "restarts", 0) for e in getattr(env, "envs", [])] or [0] * env.num_envs)


# ------------------------------------------------------------------------------------------------ the rollout
class View(NamedTuple):
    """What `rollout.act` reads of a batched TimeStep."""

    obs: jax.Array  # [E, N, D]
    avail: jax.Array  # [E, N, A]
    visible: jax.Array  # [E, N, N]


class Decision(NamedTuple):
    """The jitted part of one rollout step, for E envs."""

    noise: Optional[DagNoise]
    actions: jax.Array  # int32 [E, N]
    logp: jax.Array  # [E, N]
    value_n: jax.Array  # [E] critic output of the world state acted on
    density: jax.Array  # [E] ρ(G) of the sampled DAG


def make_act_step(policy):
    """act_step(params, obs, avail, visible, world_state, key) -> (key, env_key, Decision): one rollout step's
    device work in one call. The keys are split as `Trainer.rollout` splits them (key -> key, step key; step key
    -> act key, env key), so a host loop over a JAX env reproduces the compiled rollout."""

    def act_step(params, obs, avail, visible, world_state, key):
        key, step_key = jax.random.split(key)
        act_key, env_key = jax.random.split(step_key)
        a = act(policy, params, View(obs, avail, visible), act_key)
        value_n = policy.value(params, world_state)
        return key, env_key, Decision(a.noise, a.actions, a.logp, value_n, dag_lib.density(a.g))

    return act_step


def step_inputs(ts: TimeStep) -> tuple:
    return ts.obs, ts.avail, ts.visible, ts.world_state


def rollout_on_host(act_step, env, state: RunnerState, env_state, ts: TimeStep, num_steps: int):
    """T = num_steps steps of the E envs of `env` (host side: `env.step(key, state, actions [E, N])` -> (state,
    TimeStep [E])). Returns (state with its key advanced, env_state, the TimeStep to act on next, the [T, E]
    Transition as numpy arrays), what `Trainer.rollout` returns for a JAX env."""
    key, rkey = jax.random.split(state.key)
    steps = []
    for _ in range(num_steps):
        rkey, env_key, d = act_step(state.params, *step_inputs(ts), rkey)
        d = jax.device_get(d)
        env_state, next_ts = env.step(env_key, env_state, d.actions)
        next_ts = host_timestep(next_ts)
        steps.append(Transition(
            obs=ts.obs, world_state=ts.world_state, avail=ts.avail, visible=ts.visible, noise=d.noise,
            actions=d.actions, logp=d.logp, value_n=d.value_n, reward=next_ts.reward, terminated=next_ts.terminated,
            done=next_ts.done, final_world_state=next_ts.final_world_state, episode_return=next_ts.episode_return,
            won=next_ts.won, density=d.density,
        ))
        ts = next_ts
    traj = jax.tree.map(lambda *xs: np.stack(xs), *steps)
    return state.replace(key=key), env_state, ts, traj


def compile_host_update(trainer, state: RunnerState, num_envs: int, num_steps: int):
    """(act_step, learn) compiled ahead of time for E = num_envs envs and T = num_steps steps, before any game
    starts (so nothing waits on a launched game while XLA compiles)."""
    env = trainer.env
    sds = jax.ShapeDtypeStruct
    E, N = num_envs, env.num_agents
    obs = sds((E, N, env.obs_dim), jnp.float32)
    avail = sds((E, N, env.num_actions), jnp.bool_)
    visible = sds((E, N, N), jnp.bool_)
    ws = sds((E, env.state_dim), jnp.float32)
    key = sds(state.key.shape, state.key.dtype)
    act_fn = make_act_step(trainer.policy)
    act_c = jax.jit(act_fn).lower(state.params, obs, avail, visible, ws, key).compile()
    _, _, d = jax.eval_shape(act_fn, state.params, obs, avail, visible, ws, key)
    f32, b = sds((E,), jnp.float32), sds((E,), jnp.bool_)
    step = Transition(obs=obs, world_state=ws, avail=avail, visible=visible, noise=d.noise, actions=d.actions,
                      logp=d.logp, value_n=d.value_n, reward=f32, terminated=b, done=b, final_world_state=ws,
                      episode_return=f32, won=b, density=d.density)
    traj = jax.tree.map(lambda x: sds((num_steps,) + x.shape, x.dtype), step)
    learn_c = jax.jit(trainer.learn, donate_argnums=0).lower(state, traj).compile()
    return act_c, learn_c


# ------------------------------------------------------------------------------------------------ the run
def _with_seed_axis(tree):
    return jax.tree.map(lambda x: x[None], tree)


def _without_seed_axis(tree):
    return jax.tree.map(lambda x: x[0], tree)


def train_on_game(cfg: Config, explicit_chunk: bool, console, warn) -> dict:
    """`train.run` for cfg.env = sc2_<map>, in a created and locked run directory (module docstring)."""
    from .logging import RunLogger

    del explicit_chunk  # one update per rollout: nothing to chunk
    run_dir = cfg.run_dir
    # ---- setup: everything that can be wrong is checked before compiling or launching a game
    start_update, good = _resume_point(cfg, warn)
    env = make_game(cfg.env, cfg.sc2_layout, cfg.num_envs, seed=cfg.seed + 1000 * start_update)
    check_game(env)
    _atomic_write(os.path.join(run_dir, "config.json"), json.dumps(dataclasses.asdict(cfg), indent=2))
    console.print(
        f"{cfg.env} (real StarCraft II, layout {cfg.sc2_layout}, {cfg.num_envs} games, episode limit "
        f"{env.max_steps}) dag={cfg.dag} T={cfg.num_steps} lr={cfg.lr:g}\n"
        f"{cfg.num_updates} updates ({cfg.num_updates * cfg.batch_size:,} env steps), a host-side rollout each",
        soft_wrap=True, highlight=False,
    )

    # ---- compile, restore
    trainer = make_train(cfg, env=env)
    state = jax.jit(trainer.init_learner)(jax.random.PRNGKey(cfg.seed))
    t0 = time.perf_counter()
    act_step, learn = compile_host_update(trainer, state, cfg.num_envs, cfg.num_steps)
    compile_s = time.perf_counter() - t0
    console.print(f"compiled in {compile_s:.1f}s", highlight=False)
    restored = _restore_newest(good, _with_seed_axis(state), warn)
    if restored is not None:
        start_update, state = restored[0], _without_seed_axis(restored[1])
        console.print(f"resumed at update {start_update} of {cfg.num_updates}", highlight=False)
    _reset_logs(cfg, start_update, warn)
    evaluator = _GameEvaluator(cfg, trainer.policy) if cfg.eval_episodes > 0 else None

    # ---- the update loop
    def update(state, env_state, ts):
        state, env_state, ts, traj = rollout_on_host(act_step, env, state, env_state, ts, cfg.num_steps)
        state, metrics = learn(state, traj)
        return state, env_state, ts, jax.device_get(metrics)

    completed = saved = start_update  # updates done; the newest checkpoint
    last_save = time.monotonic()
    with env, _quiet_restarts(), RunLogger(run_dir, cfg, has_win=env.has_win, learns_dag=trainer.policy.learns_dag,
                                          start_update=start_update, console=console) as log, \
            _Interrupt(log.print) as interrupt:
        try:
            env_state, ts = interrupt.call(env.reset, jax.random.PRNGKey(cfg.seed))
            ts = host_timestep(ts)
            restarts = game_restarts(env)
            for done in range(start_update + 1, cfg.num_updates + 1):
                t = time.perf_counter()
                new_state, env_state, ts, metrics = interrupt.call(update, state, env_state, ts)
                dt = time.perf_counter() - t
                if not np.isfinite(metrics.loss.total):
                    raise FloatingPointError(f"non-finite loss at update {done}; the last good checkpoint in "
                                             f"{ckpt.root(run_dir)} is kept")
                state, completed = new_state, done
                log.chunk(_with_seed_axis(_with_seed_axis(metrics)), dt)
                restarts = _report_restarts(env, restarts, log)
                if evaluator is not None and (done == cfg.num_updates or (cfg.eval_every and done % cfg.eval_every == 0)):
                    log.evaluation(evaluator(state.params, done))
                stop = interrupt.signum is not None
                if cfg.checkpoint and (stop or done == cfg.num_updates or time.monotonic() - last_save >= cfg.checkpoint_every_s):
                    ckpt.save(run_dir, done, _with_seed_axis(state), cfg.keep_checkpoints)
                    saved, last_save = done, time.monotonic()
                if stop:
                    log.print(f"stopped at update {done} of {cfg.num_updates}"
                              + (" (checkpoint written)" if cfg.checkpoint else " (no checkpoint: --checkpoint false)"))
                    raise SystemExit(128 + interrupt.signum)
        except FloatingPointError:
            raise  # the learner state is bad (and its buffers donated): the last good checkpoint stays
        except Exception as e:  # a game that cannot be relaunched, an install removed mid-run, ...: the rollout
            # in flight is lost, not the updates before it (learn has not run, so `state` is intact)
            if cfg.checkpoint and completed > saved:
                ckpt.save(run_dir, completed, _with_seed_axis(state), cfg.keep_checkpoints)
                log.print(f"{type(e).__name__} during the rollout of update {completed + 1}: the state after "
                          f"update {completed} is checkpointed")
            raise
        finally:
            if evaluator is not None:
                evaluator.close()
    summary = {"run_dir": run_dir, "compile_s": compile_s, **log.last, "game_restarts": int(game_restarts(env).sum())}
    if evaluator is not None and evaluator.rows:
        from .evaluate import summarize

        summary["eval"] = summarize(evaluator.rows, env.has_win)
    _atomic_write(os.path.join(run_dir, "summary.json"), json.dumps(summary, indent=2))
    return summary


class _quiet_restarts(warnings.catch_warnings):
    """The env warns about each game restart; the loop reports them as log lines instead (`_report_restarts`)."""

    def __enter__(self):
        out = super().__enter__()
        warnings.filterwarnings("ignore", message=".*launching a new game", category=RuntimeWarning)
        return out


def _report_restarts(env, before: np.ndarray, log) -> np.ndarray:
    now = game_restarts(env)
    for i in np.flatnonzero(now > before):
        log.print(f"game {i} restarted ({now[i]} so far): {env.envs[i].last_error}; its episode in flight was cut "
                  "(truncated, bootstrapped from its last state)")
    return now


class _GameEvaluator:
    """Periodic and final evaluation of a run on the game (jbn/host_eval.py): its own games, launched at the first
    evaluation, min(num_envs, eval_episodes) of them; the key of `jbn.evaluate RUN_DIR` (seed + 10000)."""

    def __init__(self, cfg: Config, policy):
        from .evaluate import combos_for

        self.cfg, self.policy, self.combos = cfg, policy, combos_for(policy)
        self.env, self.rows = None, []

    def __call__(self, params, update: int) -> list[dict]:
        from .host_eval import play_on_game

        cfg = self.cfg
        if self.env is None:
            self.env = make_game(cfg.env, cfg.sc2_layout, min(cfg.num_envs, cfg.eval_episodes), seed=cfg.seed + 10_000)
        self.rows = play_on_game(self.policy, self.env, _with_seed_axis(params), cfg.eval_episodes,
                                 jax.random.PRNGKey(cfg.seed + 10_000), combos=self.combos, first_seed=cfg.seed,
                                 update=update, env_steps=update * cfg.batch_size)
        return self.rows

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
