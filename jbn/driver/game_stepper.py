"""Training on the real StarCraft II (`python -m jbn.train --env sc2_<map>`): the game stepper of the driver loop.

The game cannot run under jit, so one PPO update is split where `trainer.make_train` splits it:

    rollout (Python): T times { one jitted call: the joint policy acts on the E games' observations and the
                                critic values them;  SC2VecEnv.step on the host (E games side by side) }
                      -> the T steps stacked into a [T, E] `Transition` (numpy, `Transition.of`)
    learn (jitted):   `Trainer.learn`, the very function the JAX envs' compiled update calls

so everything after the rollout (GAE, value normalisation, the BN-MAPPO loss, the η/α schedule, metrics) is
shared with the JAX trainer; the random keys are split by `rollout.step_keys`, as `Trainer.rollout` splits them (a
JAX env stepped by this loop gives its rollout exactly, tests/test_host_train.py). The run directory, metrics,
progress, checkpoints, `--resume` and Ctrl-C are the driver's (jbn/driver/loop.py), as for every run: each step of the
loop is one update, so Ctrl-C finishes the update in flight, checkpoints and exits. One seed per run (config.py
refuses more); its checkpoints carry a runs axis of 1, so `jbn.evaluate RUN_DIR` reads them like any run's.

A game that dies (process exit, lost connection, timeout) is restarted by the env (envs_jax/sc2/env.py,
on_crash="restart"): the episode in flight is cut, as a time limit cuts one (done and truncated, bootstrapped
from the last state seen, counted as an episode ended without a win), the rollout goes on with the new game's
first observation, and a line says so. If a game cannot be relaunched (`SC2GameCrashed`), the driver checkpoints
the state after the last completed update before the error propagates (`saves_on_failure`): `--resume` continues
from there. The games of a resumed run get new seeds.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax import TimeStep

from ..evaluation import combos_for, eval_seed
from ..evaluation.on_real_game import play_on_game
from ..host.real_game import View, check_game, game_restarts, host_timestep, make_game, step_game, step_inputs
from ..host.rundir import restore_newest
from ..policy import dag as dag_lib
from ..training import sweep
from ..training.config import Config, compiler_options
from ..training.rollout import act, step_keys
from ..training.trainer import make_train
from ..training.types import Decision, RunnerState, Transition


# ------------------------------------------------------------------------------------------------ the rollout
def make_act_step(policy):
    """act_step(params, obs, avail, visible, world_state, memory, key) -> (key, env_key, Decision, memory): one
    rollout step's device work in one call, its keys from `rollout.step_keys` (as the compiled rollout's); memory: a
    recurrent policy's GRU states before and after the step (None for feed-forward policies)."""

    def act_step(params, obs, avail, visible, world_state, memory, key):
        key, act_key, env_key = step_keys(key)
        a = act(policy, params, View(obs, avail, visible, world_state), act_key, memory)
        value_n = policy.value(params, world_state, a.memory)
        return key, env_key, Decision(a.noise, a.actions, a.logp, value_n, dag_lib.density(a.g), memory), a.memory

    return act_step


def rollout_on_host(act_step, env, state: RunnerState, env_state, ts, num_steps: int):
    """T = num_steps steps of the E envs of `env` (host side: `env.step(key, state, actions [E, N])` -> (state,
    TimeStep [E])). Returns (state with its key (and a recurrent policy's GRU states) advanced, env_state, the
    TimeStep to act on next, the [T, E] Transition as numpy arrays), what `Trainer.rollout` returns for a JAX env."""
    key, rkey = jax.random.split(state.key)
    memory, steps = state.memory, []
    for _ in range(num_steps):
        rkey, env_key, d, memory = act_step(state.params, *step_inputs(ts), memory, rkey)
        d = jax.device_get(d)
        env_state, next_ts, memory = step_game(env, env_state, d.actions, memory, env_key)
        steps.append(Transition.of(ts, d, next_ts))
        ts = next_ts
    traj = jax.tree.map(lambda *xs: np.stack(xs), *steps)
    return state.replace(key=key, memory=memory), env_state, ts, traj


def compile_host_update(trainer, state: RunnerState, num_envs: int, num_steps: int, options: dict | None = None):
    """(act_step, learn) compiled ahead of time for E = num_envs envs and T = num_steps steps, before any game
    starts (so nothing waits on a launched game while XLA compiles); options: XLA's (config.compiler_options)."""
    env = trainer.env
    sds = jax.ShapeDtypeStruct
    E, N = num_envs, env.num_agents
    obs = sds((E, N, env.obs_dim), jnp.float32)
    avail = sds((E, N, env.num_actions), jnp.bool_)
    visible = sds((E, N, N), jnp.bool_)
    ws = sds((E, env.state_dim), jnp.float32)
    key = sds(state.key.shape, state.key.dtype)
    act_fn = make_act_step(trainer.policy)
    memory = jax.eval_shape(lambda: trainer.policy.initial_memory((E,)))
    act_c = jax.jit(act_fn).lower(state.params, obs, avail, visible, ws, memory, key).compile(options)
    _, _, d, _ = jax.eval_shape(act_fn, state.params, obs, avail, visible, ws, memory, key)
    f32, b = sds((E,), jnp.float32), sds((E,), jnp.bool_)
    ts = host_timestep_spec(obs, ws, avail, visible, f32, b)
    step = Transition.of(ts, d, ts)
    traj = jax.tree.map(lambda x: sds((num_steps,) + x.shape, x.dtype), step)
    learn_c = jax.jit(trainer.learn, donate_argnums=0).lower(state, traj).compile(options)
    return act_c, learn_c


def host_timestep_spec(obs, world_state, avail, visible, f32, b):
    """A TimeStep of ShapeDtypeStructs with the fields `Transition.of` reads (the dtypes of `host_timestep`)."""
    i32 = jax.ShapeDtypeStruct(f32.shape, jnp.int32)
    return TimeStep(obs=obs, world_state=world_state, avail=avail, visible=visible, reward=f32, done=b,
                    terminated=b, truncated=b, final_world_state=world_state, episode_return=f32,
                    episode_length=i32, won=b)


# ------------------------------------------------------------------------------------------------ the stepper
def with_run_axis(tree):
    return jax.tree.map(lambda x: x[None], tree)


def without_run_axis(tree):
    return jax.tree.map(lambda x: x[0], tree)


class GameStepper:
    """The driver's stepper for cfg.env = sc2_<map> (module docstring): one update per step, one run."""

    saves_on_failure = True  # a failed rollout leaves the learner state of the last update intact
    updates_per_call = 1

    def __init__(self, cfg: Config, start_update: int):
        """Everything that can be wrong (pysc2, the game, the map) is checked here, before compiling or launching."""
        self.cfg = cfg
        self.env = make_game(cfg.env, cfg.sc2_layout, cfg.num_envs, seed=cfg.seed + 1000 * start_update)
        check_game(self.env)
        self.trainer = make_train(cfg, env=self.env)
        self.runs, self.only = sweep.runs(cfg), [0]
        self.has_win, self.learns_dag = self.env.has_win, self.trainer.policy.learns_dag
        self.can_evaluate = cfg.eval_episodes > 0
        self.state = self.env_state = self.ts = None
        self._restarts = None
        self._eval_env = None
        self._quiet = warnings.catch_warnings()

    def header(self) -> str:
        cfg = self.cfg
        gru = f" recurrent=gru({cfg.gru_hidden})" if cfg.recurrent == "gru" else ""
        gru += " dag_input=memory" if cfg.dag_input == "memory" else ""
        return (f"{cfg.env} (real StarCraft II, layout {cfg.sc2_layout}, {cfg.num_envs} games, episode limit "
                f"{self.env.max_steps}) dag={cfg.dag}{gru} T={cfg.num_steps} lr={cfg.lr:g}\n"
                f"{cfg.num_updates} updates ({cfg.num_updates * cfg.batch_size:,} env steps), a host-side rollout each")

    def compile(self, remaining: int) -> None:
        del remaining  # the act step and learn are compiled either way (a finished run's evaluation uses neither)
        self.state = jax.jit(self.trainer.init_learner)(jax.random.PRNGKey(self.cfg.seed))
        self._act, self._learn = compile_host_update(self.trainer, self.state, self.cfg.num_envs, self.cfg.num_steps,
                                                     compiler_options(self.cfg))

    def restore(self, good, warn):
        restored = restore_newest(good, with_run_axis(self.state), warn)
        if restored is None:
            return None
        self.state = without_run_axis(restored[1])
        return restored[0]

    # ---- context: the games, and their restarts reported as log lines rather than warnings
    def __enter__(self):
        self.env.__enter__()
        self._quiet.__enter__()
        warnings.filterwarnings("ignore", message=".*launching a new game", category=RuntimeWarning)
        return self

    def __exit__(self, *exc):
        if self._eval_env is not None:
            self._eval_env.close()
        self._quiet.__exit__(*exc)
        return self.env.__exit__(*exc)

    def step(self, call):
        """One update (a rollout on the games, then learn); `call(fn, *args)` runs the work (jbn.host.interrupt). The
        state changes only when the whole update succeeded."""
        if self.ts is None:  # the games start with the first update (and a recurrent policy's memory with them)
            self.env_state, ts = call(self.env.reset, jax.random.PRNGKey(self.cfg.seed))
            self.ts, self._restarts = host_timestep(ts), game_restarts(self.env)
            self.state = self.state.replace(memory=self.trainer.policy.initial_memory((self.cfg.num_envs,)))

        def update(state, env_state, ts):
            state, env_state, ts, traj = rollout_on_host(self._act, self.env, state, env_state, ts, self.cfg.num_steps)
            state, metrics = self._learn(state, traj)
            return state, env_state, ts, jax.device_get(metrics)

        self.state, self.env_state, self.ts, metrics = call(update, self.state, self.env_state, self.ts)
        return with_run_axis(with_run_axis(metrics))  # [runs = 1, K = 1]

    def notes(self) -> list[str]:
        now, out = game_restarts(self.env), []
        for i in np.flatnonzero(now > self._restarts):
            out.append(f"game {i} restarted ({now[i]} so far): {self.env.envs[i].last_error}; its episode in flight "
                       "was cut (truncated, bootstrapped from its last state)")
        self._restarts = now
        return out

    def checkpoint_state(self):
        return with_run_axis(self.state)

    def evaluate(self, update: int, episodes: int | None = None) -> list[dict]:
        """On its own games (launched at the first evaluation, min(num_envs, eval_episodes) of them), with the key
        of `jbn.evaluate RUN_DIR`."""
        cfg = self.cfg
        seed = eval_seed(cfg.seed)
        if self._eval_env is None:
            self._eval_env = make_game(cfg.env, cfg.sc2_layout, min(cfg.num_envs, cfg.eval_episodes), seed=seed)
        return play_on_game(self.trainer.policy, self._eval_env, with_run_axis(self.state.params),
                            episodes or cfg.eval_episodes,
                            jax.random.PRNGKey(seed), combos=combos_for(self.trainer.policy), first_seed=cfg.seed,
                            update=update, env_steps=update * cfg.batch_size)

    def summary(self) -> dict:
        return {"game_restarts": int(game_restarts(self.env).sum())}
