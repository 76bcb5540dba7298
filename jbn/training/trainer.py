"""BN-MAPPO as one compiled program: the pure functions of a run (docs/architecture.md §4). Nothing here touches
the host: no files, no printing, no clocks; the driver (jbn/driver/loop.py) does that between compiled calls.

`make_train(cfg)` does the Python setup and returns a `Trainer` of pure functions of ONE run:
    init(key[, hyper]) -> RunnerState                (hyper: the run's `Hyper`, default the config's values)
    update_chunk(state) -> (state, metrics [K])      K = cfg.updates_per_chunk PPO updates, one lax.scan
    rollout(state) -> (state, traj);  learn(state, traj) -> (state, metrics)   one update = learn(*rollout(state))
`jax.jit(over_runs(update_chunk, R))` (a vmap) runs every run at once: the seeds times the sweep points
(jbn.training.sweep), spread over every device by jbn.host.placement.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs_jax

from ..policy import dag as dag_lib
from ..policy.joint import BNPolicy, Memory
from . import ppo, schedules, sweep
from .config import Config, PpoConfig, parse_env_kwargs, parse_env_rules
from .rollout import act_and_step, step_keys
from .types import Batch, Decision, Hyper, RunnerState, Transition, ValueNorm


# The axes of the device mesh (jbn/host/placement.py builds it): the runs, and the envs of one run when
# --data-parallel > 1; the update pins its env and minibatch axes to DATA.
RUNS, DATA = "runs", "data"


class Metrics(NamedTuple):
    """Per-update diagnostics (float32 scalars; stacked to [K] per chunk, [seeds, K] when vmapped)."""

    update: jax.Array
    env_steps: jax.Array
    episode_return: jax.Array  # mean return of the episodes that ended in this rollout (NaN if none)
    win_rate: jax.Array  # share of those episodes won (NaN if none)
    episodes: jax.Array
    reward_per_step: jax.Array  # mean team reward per env step in this rollout
    dag_density: jax.Array  # mean ρ(G) of the DAGs sampled in this rollout
    eta: jax.Array
    alpha: jax.Array
    loss: ppo.LossInfo  # averaged over epochs and minibatches


class Trainer(NamedTuple):
    """What `make_train` returns: pure functions of one run plus the static policy and env."""

    init: Callable[..., RunnerState]  # init(key, hyper=None)
    update_chunk: Callable[[RunnerState], tuple[RunnerState, Metrics]]
    policy: BNPolicy
    env: envs_jax.ArrayEnv
    init_learner: Callable[..., RunnerState]  # init_learner(key, hyper=None): no env (env_state, timestep empty)
    rollout: Callable[[RunnerState], tuple[RunnerState, Transition]]  # T steps of E envs, [T, E] leaves
    learn: Callable[[RunnerState, Transition], tuple[RunnerState, Metrics]]  # one PPO update from a rollout


def make_policy(cfg: Config, env: envs_jax.ArrayEnv) -> BNPolicy:
    """The run's joint policy: what its DAG section and its networks section say, on the env's sizes."""
    graph, nets = cfg.graph, cfg.networks
    cnn = nets.torso == "cnn"
    return BNPolicy(
        num_agents=env.num_agents,
        obs_dim=env.obs_dim,
        state_dim=env.state_dim,
        torso="cnn" if cnn else "mlp",
        obs_shape=tuple(env.obs_shape) if cnn else (),
        state_shape=tuple(env.state_shape) if cnn else (),
        num_actions=env.num_actions,
        mode=graph.dag,
        arch=nets.arch,
        hidden=nets.hidden,
        learn_order=graph.learn_order,
        deepset_edges=graph.deepset_edges,
        edge_prior=graph.edge_prior,
        mask_invisible_parents=graph.mask_invisible_parents,
        parent_obs=graph.parent_obs,
        sinkhorn_iters=graph.sinkhorn_iters,
        gru_width=nets.gru_hidden if nets.recurrent == "gru" else 0,
        dag_reads_memory=graph.dag_input == "memory",
    )


def make_env(cfg: Config) -> envs_jax.ArrayEnv:
    """The run's env (with its --env-kwargs); grid observations reach the networks flattened (their first dense
    layer is the torso, as JaxMARL's feed-forward IPPO on Overcooked) unless the torso is a CNN."""
    return envs_jax.ArrayEnv(envs_jax.make(cfg.env, **parse_env_kwargs(cfg.env_kwargs)), flatten=cfg.torso != "cnn",
                             **parse_env_rules(cfg.env_rules))


def shaping_weight(cfg: Config, env, update) -> jax.Array | None:
    """The weight of the env's shaped reward in the rollout of update `update` (per-seed env steps done so far over
    --reward-shaping-horizon, from 1 down to 0, JaxMARL's linear anneal); None where the env has no shaped reward."""
    family = getattr(env, "family", None)
    if family is None or not family.has_shaped_reward:
        return None
    if cfg.reward_shaping_horizon == 0:
        return jnp.float32(0.0)
    done = update.astype(jnp.float32) * cfg.batch_size
    return jnp.clip(1.0 - done / cfg.reward_shaping_horizon, 0.0, 1.0)


def make_optimizer(settings: PpoConfig, networks) -> optax.GradientTransformation:
    """`ppo.make_optimizer` with its learning rate and clipping norm as state leaves (`optax.inject_hyperparams`),
    so that they can differ between the runs of one program; `set_hyper` writes a run's values into them.
    settings: the config's PPO section (`cfg.ppo`)."""
    inject = optax.inject_hyperparams(ppo.make_optimizer, static_args=("networks", "grad_clip"))
    return inject(lr=settings.lr, max_grad_norm=settings.max_grad_norm, networks=networks,
                  grad_clip=settings.grad_clip)


def set_hyper(opt_state, hyper: Hyper):
    """The optimiser state with the run's lr and clipping norm: `RunnerState.hyper` is the one source of them."""
    return opt_state._replace(hyperparams={**opt_state.hyperparams, "lr": hyper.lr,
                                           "max_grad_norm": hyper.max_grad_norm})


def make_train(cfg: Config, env=None, *, mesh=None) -> Trainer:
    """The pure functions of one run's training; cfg must be resolved. env: the env to train on (default
    `make_env(cfg)`); a host-side env (the real game's stepper, jbn/driver/game_stepper.py) passes its own object with ArrayEnv's spec fields
    (num_agents, obs_dim, state_dim, num_actions, has_win, max_steps) and uses only init_learner and learn.
    mesh: the `jbn.host.placement` mesh the runs are spread over (None on one device); with a data axis > 1 the env
    and batch axes are pinned to it."""
    env = make_env(cfg) if env is None else env
    policy = make_policy(cfg, env)
    anneal = cfg.graph.anneal_config
    settings = cfg.ppo  # the update's sizes and constants (its sweepable values come from each run's Hyper)
    E, T = settings.num_envs, settings.num_steps
    networks = list(jax.eval_shape(policy.init, jax.random.PRNGKey(0)))
    optimizer = make_optimizer(settings, networks)
    base = sweep.base_values(cfg)
    default_hyper = sweep.hyper_of(base)
    # Values not swept stay Python constants of the program: XLA folds constants, so e.g. α₀ + (α₁ − α₀)·k/l_α
    # rounds differently (1 ulp) when the α's are runtime values, and a run without a sweep computes exactly what
    # a run of a program without sweeps would (tests/test_golden.py). The optimiser's lr and clipping norm are
    # always its state leaves (bit for bit the same either way; tests/test_sweep.py).
    constants = {name: v for name, v in base.items() if name not in sweep.swept_names(cfg)
                 and name not in ("lr", "max_grad_norm")}

    def read_hyper(hyper: Hyper) -> Hyper:
        """The values the update uses: the run's leaf for a swept name, the config's constant otherwise."""
        return hyper._replace(**constants)
    v_reset = jax.vmap(env.reset)

    def on_data(tree, axis: int):
        """Pin dimension `axis` (envs, or a minibatch's samples) of every leaf to the mesh's data axis. Under the
        runs vmap (spmd_axis_name) the runs dimension is added to the spec by jax itself."""
        if mesh is None or mesh.shape[DATA] == 1:
            return tree
        spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*([None] * axis), DATA))
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, spec), tree)

    def _init(key, hyper, with_env: bool) -> RunnerState:
        hyper = default_hyper if hyper is None else hyper
        hyper = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hyper)
        key, pkey, ekey = jax.random.split(key, 3)
        params = policy.init(pkey)
        env_state, timestep = v_reset(jax.random.split(ekey, E)) if with_env else ((), ())
        return RunnerState(
            params=params,
            opt_state=set_hyper(optimizer.init(params), hyper),
            value_norm=ppo.value_norm_init(),
            env_state=env_state,
            timestep=timestep,
            key=key,
            update=jnp.int32(0),
            hyper=hyper,
            memory=policy.initial_memory((E,)),  # a host stepper's too (jbn.driver.game_stepper): one state structure
        )

    def init(key, hyper: Hyper | None = None) -> RunnerState:
        return _init(key, hyper, with_env=True)

    def init_learner(key, hyper: Hyper | None = None) -> RunnerState:
        """The learner alone (env_state and timestep are empty): for envs stepped on the host."""
        return _init(key, hyper, with_env=False)

    def rollout(state: RunnerState):
        def step(carry, _):
            env_state, ts, memory, key = carry  # memory: a recurrent policy's GRU states (None otherwise)
            key, act_key, env_key = step_keys(key)
            env_state, next_ts, act = act_and_step(policy, env, state.params, env_state, ts, act_key, env_key, memory,
                                                   shaping=shaping)
            env_state, next_ts = on_data((env_state, next_ts), 0)
            decision = Decision(noise=act.noise, actions=act.actions, logp=act.logp,
                                value_n=policy.value(state.params, ts.world_state, act.memory),
                                density=dag_lib.density(act.g), memory=memory)
            return (env_state, next_ts, policy.reset_memory(act.memory, next_ts.done), key), Transition.of(ts, decision, next_ts)

        shaping = shaping_weight(cfg, env, state.update)
        key, rkey = jax.random.split(state.key)
        (env_state, ts, memory, _), traj = jax.lax.scan(
            step, (state.env_state, state.timestep, state.memory, rkey), None, T)
        return state.replace(env_state=env_state, timestep=ts, memory=memory, key=key), on_data(traj, 1)

    def learn(state: RunnerState, traj: Transition):
        """One PPO update from a rollout traj ([T, E] leaves): GAE, epochs of minibatches, metrics. Every
        swept hyper-parameter comes from state.hyper (array leaves: a sweep is a batch axis, not a recompile)."""
        chex.assert_tree_shape_prefix(traj, (T, E))  # trace time only: a host stepper's rollout has the program's shape
        h = read_hyper(state.hyper)
        if settings.lr_anneal:  # lr x (1 - u / U) in update u = 0..U-1, as PureJaxRL's ANNEAL_LR
            h = h._replace(lr=h.lr * (1.0 - state.update.astype(jnp.float32) / settings.num_updates))
        eta, alpha = penalty_schedule(policy, anneal, state.update.astype(jnp.float32) / settings.num_updates, h)
        adv, targets_n, vn = advantages(policy, state.params, state.value_norm, traj, h)
        batch = Batch.of(traj, adv, targets_n)
        num_mb, mb_size = settings.num_minibatches, settings.minibatch_size
        if policy.recurrent:  # the replay needs the states of the first step only: [1, E, ...]
            batch = batch._replace(memory=jax.tree.map(lambda x: x[:1], batch.memory))
        else:
            batch = jax.tree.map(lambda x: x.reshape((T * E,) + x.shape[2:]), batch)

        def split(batch, key):
            """num_mb minibatches: of (step, env) samples; a recurrent policy's of envs, each with its whole sequence."""
            if policy.recurrent:
                perm = jax.random.permutation(key, E)
                return on_data(jax.tree.map(
                    lambda x: jnp.swapaxes(x[:, perm].reshape(x.shape[:1] + (num_mb, E // num_mb) + x.shape[2:]), 0, 1), batch), 2)
            perm = jax.random.permutation(key, T * E)
            return on_data(jax.tree.map(lambda x: x[perm].reshape((num_mb, mb_size) + x.shape[1:]), batch), 1)

        def epoch(carry, _):
            params, opt_state, key = carry
            key, pkey = jax.random.split(key)
            mbs = split(batch, pkey)

            def minibatch(carry, mb):
                params, opt_state = carry
                grads, info = jax.grad(ppo.bn_mappo_loss, argnums=1, has_aux=True)(
                    policy, params, mb, eta, alpha, h, settings.ratio
                )
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), info

            (params, opt_state), infos = jax.lax.scan(minibatch, (params, opt_state), mbs)
            return (params, opt_state, key), infos

        key, ekey = jax.random.split(state.key)
        (params, opt_state, _), infos = jax.lax.scan(
            epoch, (state.params, set_hyper(state.opt_state, h), ekey), None, settings.num_epochs
        )
        metrics = update_metrics(state.update + 1, T * E, traj, eta, alpha, infos)
        state = state.replace(params=params, opt_state=opt_state, value_norm=vn, key=key, update=state.update + 1)
        return state, metrics

    def update(state: RunnerState, _):
        state, traj = rollout(state)
        return learn(state, traj)

    def update_chunk(state: RunnerState):
        return jax.lax.scan(update, state, None, cfg.updates_per_chunk)

    return Trainer(init=init, update_chunk=update_chunk, policy=policy, env=env, init_learner=init_learner,
                   rollout=rollout, learn=learn)


def penalty_schedule(policy: BNPolicy, anneal: schedules.AnnealConfig, frac, h: Hyper):
    """(η, α) of the density penalty at training progress frac = update / num_updates (η = 1, α = 0: no penalty,
    for a DAG that is not learned)."""
    if policy.learns_dag:
        eta = schedules.eta(frac, anneal, a=h.anneal_a, b=h.anneal_b)
        alpha = schedules.alpha(frac, anneal, b=h.anneal_b, c=h.anneal_c, alpha0=h.alpha0, alpha1=h.alpha1)
        return eta, alpha
    return jnp.float32(1.0), jnp.float32(0.0)


def advantages(policy: BNPolicy, params, vn: ValueNorm, traj: Transition, h: Hyper):
    """GAE of a rollout traj ([T, E] leaves), bootstrapped from the value of the state each step reached, and the
    value targets. Returns (normalised advantages [T, E], value-normalised targets [T, E], the ValueNorm updated with
    the targets)."""
    values = ppo.value_norm_denormalize(vn, traj.value_n)  # [T, E]
    if policy.recurrent:  # the critic's state after each step, then one more GRU step on the state reached
        states = policy.replay_critic(params, traj.memory.critic[0], traj.world_state, traj.done)
        reached = Memory(actor=None, critic=policy.step_critic_memory(params, states, traj.final_world_state))
        next_values = ppo.value_norm_denormalize(vn, policy.value(params, None, reached))
    else:
        next_values = ppo.value_norm_denormalize(vn, policy.value(params, traj.final_world_state))
    adv, targets = ppo.gae(traj.reward, values, next_values, traj.terminated, traj.done, h.gamma, h.gae_lambda)
    vn = ppo.value_norm_update(vn, targets)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return adv, ppo.value_norm_normalize(vn, targets), vn


def update_metrics(update, steps_per_update: int, traj: Transition, eta, alpha, infos: ppo.LossInfo) -> Metrics:
    """The Metrics of update number `update` (counted from 1) from its rollout and its losses ([epochs, minibatches]
    leaves, averaged)."""
    n_done = traj.done.sum()
    return Metrics(
        update=update,
        env_steps=update * steps_per_update,
        episode_return=jnp.where(n_done > 0, (traj.episode_return * traj.done).sum() / n_done, jnp.nan),
        win_rate=jnp.where(n_done > 0, (traj.won & traj.done).sum() / n_done, jnp.nan),
        episodes=n_done,
        reward_per_step=traj.reward.mean(),
        dag_density=traj.density.mean(),
        eta=eta,
        alpha=alpha,
        loss=jax.tree.map(jnp.mean, infos),
    )


def over_runs(fn, num_seeds: int, spmd_axis_name: str | None = None):
    """Map `fn` of one run over a leading runs axis of size `num_seeds` (seeds, or seeds x sweep points):
    `jax.vmap` for several runs; for one run the axis is squeezed and re-added instead (a size-1 vmap axis slows
    XLA's CPU code for the SMAX env step; bench/RESULTS.md, "Training throughput"). spmd_axis_name: the mesh axis the runs are sharded over (jbn.host.placement), so that sharding
    constraints inside `fn` keep the runs dimension split."""
    if num_seeds > 1:
        return jax.vmap(fn, spmd_axis_name=spmd_axis_name)

    def one(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: x[None], out)

    return one


def init_runs(init, keys, hypers=None) -> RunnerState:
    """The initial states of a batch of runs, [R, ...] leaves: `init` compiled once and called per run (with its
    Hyper when given), then stacked. Not `vmap(init)`: the orthogonal initialisers would make that a batched QR,
    and batched LAPACK kernels can deadlock XLA's CPU thread pool (bench/RESULTS.md, "Why the linear solve is not
    `jnp.linalg.solve`")."""
    one = jax.jit(init)
    states = [one(k) if hypers is None else one(k, h) for k, h in zip(keys, hypers or [None] * len(keys))]
    return jax.tree.map(lambda *x: jnp.stack(x), *states)


def run_keys(cfg: Config):
    """One key per run: seed k of a batch (of every sweep point) is exactly the run `--seed (seed + k)` alone."""
    return sweep.run_keys(cfg)


def stacked_hypers(cfg: Config) -> Hyper:
    """Every run's Hyper, stacked to [R] leaves (the batch order of `run_keys`)."""
    return jax.tree.map(lambda *x: np.stack(x), *sweep.run_hypers(cfg))
