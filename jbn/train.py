"""BN-MAPPO as one compiled program (docs/architecture.md §4).

    python -m jbn.train --env smax_6h_vs_8z                 # BN-MAPPO, learned context-aware DAG
    python -m jbn.train --env cg_2 --dag full --num-seeds 8 # 8 seeds in one jit (vmap)
    python -m jbn.train --env cg_2 --num-seeds 4 --sweep lr=3e-4,1e-3 --sweep ent_coef=0,0.01   # 16 runs, one jit

`make_train(cfg)` does the Python setup and returns a `Trainer` of pure functions of ONE run:
    init(key[, hyper]) -> RunnerState                (hyper: the run's `Hyper`, default the config's values)
    update_chunk(state) -> (state, metrics [K])      K = cfg.updates_per_chunk PPO updates, one lax.scan
    rollout(state) -> (state, traj);  learn(state, traj) -> (state, metrics)   one update = learn(*rollout(state))
`jax.jit(over_seeds(update_chunk, R))` (a vmap) runs every run at once: the seeds times the sweep points
(jbn.sweep), spread over every device by jbn.placement. The host loop (`run`) logs, checkpoints and shows progress
between chunks; nothing inside a chunk talks to the host.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import fcntl
import json
import os
import shlex
import signal
import sys
import threading
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs_jax

from . import checkpoint as ckpt
from . import dag as dag_lib
from . import placement as place
from . import ppo, schedules, sweep
from .config import Config, UserError, check_chunking, resolve
from .distributed import flag_value
from .policy import BNPolicy
from .rollout import act_and_step
from .types import Batch, Hyper, RunnerState, Transition


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
    return BNPolicy(
        num_agents=env.num_agents,
        obs_dim=env.obs_dim,
        state_dim=env.state_dim,
        num_actions=env.num_actions,
        mode=cfg.dag,
        arch=cfg.arch,
        hidden=cfg.hidden,
        learn_order=cfg.learn_order,
        deepset_edges=cfg.deepset_edges,
        mask_invisible_parents=cfg.mask_invisible_parents,
        parent_obs=cfg.parent_obs,
        sinkhorn_iters=cfg.sinkhorn_iters,
    )


def make_env(cfg: Config) -> envs_jax.ArrayEnv:
    return envs_jax.ArrayEnv(envs_jax.make(cfg.env))


def make_optimizer(cfg: Config, networks) -> optax.GradientTransformation:
    """`ppo.make_optimizer` with its learning rate and clipping norm as state leaves (`optax.inject_hyperparams`),
    so that they can differ between the runs of one program; `set_hyper` writes a run's values into them."""
    inject = optax.inject_hyperparams(ppo.make_optimizer, static_args=("networks", "grad_clip"))
    return inject(lr=cfg.lr, max_grad_norm=cfg.max_grad_norm, networks=networks, grad_clip=cfg.grad_clip)


def set_hyper(opt_state, hyper: Hyper):
    """The optimiser state with the run's lr and clipping norm: `RunnerState.hyper` is the one source of them."""
    return opt_state._replace(hyperparams={**opt_state.hyperparams, "lr": hyper.lr,
                                           "max_grad_norm": hyper.max_grad_norm})


def make_train(cfg: Config, env=None, *, mesh=None) -> Trainer:
    """The pure functions of one run's training; cfg must be resolved. env: the env to train on (default
    `make_env(cfg)`); a host-side env (jbn/host_train.py) passes its own object with ArrayEnv's spec fields
    (num_agents, obs_dim, state_dim, num_actions, has_win, max_steps) and uses only init_learner and learn.
    mesh: the `jbn.placement` mesh the runs are spread over (None on one device); with a data axis > 1 the env
    and batch axes are pinned to it."""
    env = make_env(cfg) if env is None else env
    policy = make_policy(cfg, env)
    anneal = cfg.anneal_config
    E, T = cfg.num_envs, cfg.num_steps
    networks = list(jax.eval_shape(policy.init, jax.random.PRNGKey(0)))
    optimizer = make_optimizer(cfg, networks)
    base = sweep.base_values(cfg)
    default_hyper = sweep.hyper_of(base)
    # Values not swept stay Python constants of the program, as before they were leaves: XLA folds constants, so
    # e.g. α₀ + (α₁ − α₀)·k/l_α rounds differently (1 ulp) when the α's are runtime values, and a run without a
    # sweep must compute exactly what it did. The optimiser's lr and clipping norm are always its state leaves
    # (bit for bit the same; tests/test_sweep.py).
    constants = {name: v for name, v in base.items() if name not in sweep.swept_names(cfg)
                 and name not in ("lr", "max_grad_norm")}

    def read_hyper(hyper: Hyper) -> Hyper:
        """The values the update uses: the run's leaf for a swept name, the config's constant otherwise."""
        return hyper._replace(**constants)
    v_reset = jax.vmap(env.reset)

    def on_data(tree, axis: int):
        """Pin dimension `axis` (envs, or a minibatch's samples) of every leaf to the mesh's data axis. Under the
        runs vmap (spmd_axis_name) the runs dimension is added to the spec by jax itself."""
        if mesh is None or mesh.shape[place.DATA] == 1:
            return tree
        spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*([None] * axis), place.DATA))
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
        )

    def init(key, hyper: Hyper | None = None) -> RunnerState:
        return _init(key, hyper, with_env=True)

    def init_learner(key, hyper: Hyper | None = None) -> RunnerState:
        """The learner alone (env_state and timestep are empty): for envs stepped on the host."""
        return _init(key, hyper, with_env=False)

    def rollout(state: RunnerState):
        def step(carry, _):
            env_state, ts, key = carry
            key, step_key = jax.random.split(key)
            env_state, next_ts, act = act_and_step(policy, env, state.params, env_state, ts, step_key)
            env_state, next_ts = on_data((env_state, next_ts), 0)
            tr = Transition(
                obs=ts.obs, world_state=ts.world_state, avail=ts.avail, visible=ts.visible, noise=act.noise,
                actions=act.actions, logp=act.logp, value_n=policy.value(state.params, ts.world_state),
                reward=next_ts.reward, terminated=next_ts.terminated, done=next_ts.done,
                final_world_state=next_ts.final_world_state, episode_return=next_ts.episode_return,
                won=next_ts.won, density=dag_lib.density(act.g),
            )
            return (env_state, next_ts, key), tr

        key, rkey = jax.random.split(state.key)
        (env_state, ts, _), traj = jax.lax.scan(step, (state.env_state, state.timestep, rkey), None, T)
        return state.replace(env_state=env_state, timestep=ts, key=key), on_data(traj, 1)

    def learn(state: RunnerState, traj: Transition):
        """One PPO update from a rollout traj ([T, E] leaves): GAE, epochs of minibatches, metrics. Every
        swept hyper-parameter comes from state.hyper (array leaves: a sweep is a batch axis, not a recompile)."""
        h = read_hyper(state.hyper)
        frac = state.update.astype(jnp.float32) / cfg.num_updates
        if policy.learns_dag:
            eta = schedules.eta(frac, anneal, a=h.anneal_a, b=h.anneal_b)
            alpha = schedules.alpha(frac, anneal, b=h.anneal_b, c=h.anneal_c, alpha0=h.alpha0, alpha1=h.alpha1)
        else:
            eta, alpha = jnp.float32(1.0), jnp.float32(0.0)
        coefs = ppo.LossCoefs(clip_eps=h.clip_eps, vf_coef=h.vf_coef, ent_coef=h.ent_coef, huber_delta=h.huber_delta)

        vn = state.value_norm
        values = ppo.value_norm_denormalize(vn, traj.value_n)  # [T, E]
        next_values = ppo.value_norm_denormalize(vn, policy.value(state.params, traj.final_world_state))
        adv, targets = ppo.gae(traj.reward, values, next_values, traj.terminated, traj.done, h.gamma, h.gae_lambda)
        vn = ppo.value_norm_update(vn, targets)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        batch = Batch(
            obs=traj.obs, world_state=traj.world_state, avail=traj.avail, visible=traj.visible, noise=traj.noise,
            actions=traj.actions, logp=traj.logp, value_n=traj.value_n, advantages=adv,
            targets_n=ppo.value_norm_normalize(vn, targets),
        )
        batch = jax.tree.map(lambda x: x.reshape((T * E,) + x.shape[2:]), batch)

        def epoch(carry, _):
            params, opt_state, key = carry
            key, pkey = jax.random.split(key)
            perm = jax.random.permutation(pkey, T * E)
            mbs = on_data(jax.tree.map(
                lambda x: x[perm].reshape((cfg.num_minibatches, cfg.minibatch_size) + x.shape[1:]), batch
            ), 1)

            def minibatch(carry, mb):
                params, opt_state = carry
                grads, info = jax.grad(ppo.bn_mappo_loss, argnums=1, has_aux=True)(
                    policy, params, mb, eta, alpha, coefs, cfg.ratio
                )
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), info

            (params, opt_state), infos = jax.lax.scan(minibatch, (params, opt_state), mbs)
            return (params, opt_state, key), infos

        key, ekey = jax.random.split(state.key)
        (params, opt_state, _), infos = jax.lax.scan(
            epoch, (state.params, set_hyper(state.opt_state, h), ekey), None, cfg.num_epochs
        )
        n_done = traj.done.sum()
        metrics = Metrics(
            update=state.update + 1,
            env_steps=(state.update + 1) * (T * E),
            episode_return=jnp.where(n_done > 0, (traj.episode_return * traj.done).sum() / n_done, jnp.nan),
            win_rate=jnp.where(n_done > 0, (traj.won & traj.done).sum() / n_done, jnp.nan),
            episodes=n_done,
            reward_per_step=traj.reward.mean(),
            dag_density=traj.density.mean(),
            eta=eta,
            alpha=alpha,
            loss=jax.tree.map(jnp.mean, infos),
        )
        state = state.replace(params=params, opt_state=opt_state, value_norm=vn, key=key, update=state.update + 1)
        return state, metrics

    def update(state: RunnerState, _):
        state, traj = rollout(state)
        return learn(state, traj)

    def update_chunk(state: RunnerState):
        return jax.lax.scan(update, state, None, cfg.updates_per_chunk)

    return Trainer(init=init, update_chunk=update_chunk, policy=policy, env=env, init_learner=init_learner,
                   rollout=rollout, learn=learn)


def over_seeds(fn, num_seeds: int, spmd_axis_name: str | None = None):
    """Map `fn` of one run over a leading runs axis of size `num_seeds` (seeds, or seeds x sweep points):
    `jax.vmap` for several runs; for one run the axis is squeezed and re-added instead, because a size-1 vmap axis
    made the SMAX env step about 30% slower under XLA on CPU (degenerate batch dims in its gathers;
    bench/RESULTS.md). spmd_axis_name: the mesh axis the runs are sharded over (jbn.placement), so that sharding
    constraints inside `fn` keep the runs dimension split."""
    if num_seeds > 1:
        return jax.vmap(fn, spmd_axis_name=spmd_axis_name)

    def one(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: x[None], out)

    return one


def init_seeds(init, keys, hypers=None) -> RunnerState:
    """The initial states of a batch of runs, [R, ...] leaves: `init` compiled once and called per run (with its
    Hyper when given), then stacked. Not `vmap(init)`: the orthogonal initialisers make that a batched QR, and two
    batched LAPACK kernels running at once can deadlock XLA's CPU thread pool (jaxlib 0.10.2 on a 2-core CPU;
    bench/RESULTS.md)."""
    one = jax.jit(init)
    states = [one(k) if hypers is None else one(k, h) for k, h in zip(keys, hypers or [None] * len(keys))]
    return jax.tree.map(lambda *x: jnp.stack(x), *states)


def seed_keys(cfg: Config):
    """One key per run: seed k of a batch (of every sweep point) is exactly the run `--seed (seed + k)` alone."""
    return sweep.run_keys(cfg)


def stacked_hypers(cfg: Config) -> Hyper:
    """Every run's Hyper, stacked to [R] leaves (the batch order of `seed_keys`)."""
    return jax.tree.map(lambda *x: np.stack(x), *sweep.run_hypers(cfg))


# ------------------------------------------------------------------------------------------ host side
def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _new_run_dir(cfg: Config) -> str:
    """The run directory, created (or, with --resume, found) and checked; nothing else is written."""
    if cfg.resume:
        if not os.path.isdir(cfg.run_dir):
            what = "is not a directory" if os.path.exists(cfg.run_dir) else "does not exist"
            raise UserError(f"--resume: run dir {cfg.run_dir!r} {what}; nothing to resume")
        return cfg.run_dir
    if cfg.run_dir is None:  # unique and created atomically: two runs started in the same second differ
        base = os.path.join("runs", f"{cfg.env}_{cfg.dag}_{time.strftime('%Y%m%d-%H%M%S')}")
        os.makedirs("runs", exist_ok=True)
        k = 1
        while True:
            path = base if k == 1 else f"{base}-{k}"
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                k += 1
    path = cfg.run_dir
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"--run-dir {path!r} is a file, not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --run-dir {path!r}: {e.strerror or e}") from None
    if ckpt.list_updates(path):
        raise UserError(f"{path!r} already holds checkpoints; pass --resume to continue it or choose another --run-dir")
    return path


def _lock(run_dir: str, process: int = 0) -> int:
    """An exclusive lock on run_dir for this process (released when it exits); process I > 0 of a multi-host run
    holds .lock.p<I>, so the processes of one run do not exclude each other."""
    try:
        fd = os.open(os.path.join(run_dir, ".lock" if process == 0 else f".lock.p{process}"), os.O_RDWR | os.O_CREAT,
                     0o644)
    except OSError as e:
        raise UserError(f"cannot write in run dir {run_dir!r}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(f"run dir {run_dir!r} is in use by another training process") from None
    return fd


def _read_metrics(path: str, keep_updates: int, warn) -> list[str]:
    """The logged rows of updates <= keep_updates; a torn or unreadable line (a kill mid-write) is dropped."""
    if not os.path.exists(path):
        return []
    kept = []
    with open(path) as f:
        lines = f.readlines()
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            update = int(row["update"])
        except (ValueError, KeyError, TypeError):
            warn(f"{path}: dropped unreadable line {n + 1} of {len(lines)} (a write cut short)")
            continue
        if update <= keep_updates:
            kept.append(line if line.endswith("\n") else line + "\n")
    return kept


def _largest_divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, max(1, min(n, k)) + 1) if n % d == 0)


class _Interrupt:
    """Ctrl-C / SIGTERM during training: the first finishes the chunk in flight, then the loop checkpoints and
    exits; a second one exits at once. (Chunks run in a worker thread so the main thread, where Python runs
    signal handlers, stays responsive while XLA computes.)"""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, say):
        self.say, self.signum, self._old = say, None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._pool.shutdown(wait=False)
        return False

    def _handle(self, signum, frame):
        if self.signum is not None:
            sys.stderr.write("\ninterrupted again: exiting now\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signum = signum
        self.say(f"{signal.Signals(signum).name}: finishing the chunk in flight, then checkpoint and exit "
                 "(again to exit at once)")

    def call(self, fn, *args):
        future = self._pool.submit(fn, *args)
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                continue


def resume_command(run_dir: str) -> str:
    return f"python -m jbn.train --run-dir {shlex.quote(run_dir)} --resume"


def run(cfg: Config, console=None) -> dict:
    """Train `cfg` (resolved or not): check everything, compile once, restore, run the chunks (log, evaluate,
    checkpoint), evaluate. Bad input raises UserError before anything is compiled or written. Ctrl-C/SIGTERM:
    checkpoint the last completed chunk and raise SystemExit(128 + signal). Returns a summary."""
    from rich.console import Console

    explicit_chunk = cfg.updates_per_chunk is not None
    cfg = resolve(cfg)
    if place.init_distributed(cfg):  # before anything touches a device
        if cfg.run_dir is None:
            raise UserError("multi-host training needs --run-dir, the same directory on a filesystem every process "
                            "shares (checkpoints and logs of all processes go there)")
        if jax.process_index() > 0:  # process 0 speaks for the run; the others only fail loudly
            console = Console(stderr=True, quiet=True)
    console = console or Console(stderr=True)
    warn = lambda msg: console.print(f"[yellow]warning:[/] {msg}", soft_wrap=True)  # noqa: E731
    placement = place.make(cfg, cfg.num_runs)  # the runs must divide over the devices: checked before any write
    run_dir = _new_run_dir(cfg)
    console.print(f"run dir: {run_dir}", soft_wrap=True, highlight=False)
    lock_fd = _lock(run_dir, jax.process_index())
    try:
        cfg = dataclasses.replace(cfg, run_dir=run_dir)
        if cfg.env.startswith("sc2_"):  # the real StarCraft II: a host-side rollout loop, the same learn
            from .host_train import train_on_game

            return train_on_game(cfg, explicit_chunk, console, warn)
        return _train(cfg, explicit_chunk, console, warn, placement)
    finally:
        os.close(lock_fd)
        saved = ckpt.list_updates(run_dir) if cfg.checkpoint else []
        if saved and saved[0] < cfg.num_updates:
            console.print(f"resume: {resume_command(run_dir)}", soft_wrap=True, highlight=False)
        elif saved:
            longer = cfg.dag != "context" or cfg.anneal == "none"  # else total_steps fixes the annealing schedule
            hint = f" (train longer: {resume_command(run_dir)} --total-steps N)" if longer else ""
            console.print(f"done: {run_dir}{hint}", soft_wrap=True, highlight=False)


def _resume_point(cfg: Config, warn) -> tuple[int, list[tuple[int, str]]]:
    """(update to start from, the good checkpoints newest first) of the run in cfg.run_dir; checks the resumed
    config and the checkpoints' files only, so it runs before anything is compiled."""
    run_dir = cfg.run_dir
    start_update, good = 0, []
    if cfg.resume:
        ckpt.check_resume_config(run_dir, dataclasses.asdict(cfg))
        good = ckpt.find_good(run_dir, warn)
        if ckpt.list_updates(run_dir) and not good:
            raise UserError(f"no loadable checkpoint in {ckpt.root(run_dir)}: every one is damaged (see warnings)")
        start_update = good[0][0] if good else 0
        if not good:
            warn(f"{run_dir!r} has no checkpoint yet; starting from update 0")
    if start_update > cfg.num_updates:
        raise UserError(
            f"the run in {run_dir!r} has already done {start_update} updates, more than total_steps = "
            f"{cfg.total_steps} allows ({cfg.num_updates} updates)"
        )
    return start_update, good


def _restore_newest(good: list[tuple[int, str]], state, warn):
    """(update, state) of the newest checkpoint in `good` that restores into the structure of `state`, falling back
    to older ones with a warning; None when `good` is empty. UserError when none restores."""
    for u, path in good:
        try:
            return u, ckpt.restore(path, state)
        except Exception as e:  # noqa: BLE001 - any failure to load falls back to the previous checkpoint
            warn(f"could not restore {path} ({type(e).__name__}: {e}); falling back to the previous one")
    if good:
        raise UserError(f"no checkpoint in {os.path.dirname(good[0][1])} could be restored (see warnings)")
    return None


def _reset_logs(cfg: Config, start_update: int, warn, process: int = 0) -> None:
    """This process's metrics and eval logs keep the rows up to the restored update (none on a fresh run)."""
    from .logging import log_file

    for stem in ("metrics", "eval"):
        path = log_file(cfg.run_dir, stem, process)
        _atomic_write(path, "".join(_read_metrics(path, start_update, warn)) if cfg.resume else "")


def _train(cfg: Config, explicit_chunk: bool, console, warn, placement=None) -> dict:
    """`run` in a created and locked run directory; placement: where the runs go (None: one device)."""
    from . import evaluate as evaluation
    from .logging import RunLogger

    run_dir = cfg.run_dir
    process = jax.process_index()
    # ---- setup: everything that can be wrong is checked before compiling
    start_update, good = _resume_point(cfg, warn)
    remaining = cfg.num_updates - start_update
    if remaining and remaining % cfg.updates_per_chunk:
        if explicit_chunk:
            check_chunking(remaining, cfg.updates_per_chunk)
        cfg = dataclasses.replace(cfg, updates_per_chunk=_largest_divisor_at_most(remaining, cfg.updates_per_chunk))
    runs = sweep.runs(cfg)
    trainer = make_train(cfg, mesh=placement.mesh if placement else None)
    hypers = sweep.run_hypers(cfg)
    need, have, _ = place.check_memory(trainer, cfg, hypers[0], len(runs), placement)
    if process == 0:
        _atomic_write(os.path.join(run_dir, "config.json"), json.dumps(dataclasses.asdict(cfg), indent=2))
    _print_header(cfg, console, placement, need, have)

    # ---- compile, restore
    env, policy = trainer.env, trainer.policy
    state = init_seeds(trainer.init, seed_keys(cfg), hypers)
    jit_args = {}
    if placement is not None:
        shardings = placement.state_shardings(state)
        state = placement.put(state, shardings)
        jit_args = dict(in_shardings=(shardings,), out_shardings=(shardings, placement.runs_sharding()))
    spmd_axis = place.RUNS if placement is not None else None
    chunk_fn = jax.jit(over_seeds(trainer.update_chunk, len(runs), spmd_axis), donate_argnums=0, **jit_args)
    t0 = time.perf_counter()
    compiled = chunk_fn.lower(state).compile() if remaining else None
    compile_s = time.perf_counter() - t0
    console.print(f"compiled in {compile_s:.1f}s", highlight=False)
    restored = _restore_newest(good, state, warn)
    if restored is not None:
        u, state = restored
        if u != start_update:
            start_update, remaining = u, cfg.num_updates - u
            check_chunking(remaining, cfg.updates_per_chunk)
        console.print(f"resumed at update {start_update} of {cfg.num_updates}", highlight=False)
    _reset_logs(cfg, start_update, warn, process)

    evaluator = evaluation.make_evaluator(cfg, policy, env, cfg.eval_episodes) if cfg.eval_episodes > 0 else None

    eval_key = jax.random.PRNGKey(cfg.seed + 10_000)  # every evaluation, so `jbn.evaluate RUN_DIR` repeats it
    last_eval = {"update": None, "rows": []}

    def run_eval(done: int):
        rows = evaluator(state.params, eval_key, update=done, env_steps=done * cfg.batch_size,
                         seeds=[r.seed for r in runs], tags=[r.tags for r in runs])
        last_eval.update(update=done, rows=rows)
        return rows

    # ---- the chunk loop
    num_chunks = remaining // cfg.updates_per_chunk
    last_save = time.monotonic()
    owner = placement.owner() if placement is not None else [0] * len(runs)
    mine = [r for r, p in enumerate(owner) if p == process]
    with RunLogger(run_dir, cfg, has_win=env.has_win, learns_dag=policy.learns_dag, start_update=start_update,
                   console=console, runs=runs, only=mine, process=process) as log, _Interrupt(log.print) as interrupt:
        for c in range(num_chunks):
            t = time.perf_counter()
            new_state, metrics = interrupt.call(compiled, state)
            metrics = place.host_values(metrics)
            dt = time.perf_counter() - t
            total = np.asarray(metrics.loss.total)
            if not np.all(np.isfinite(total)):
                bad = np.argwhere(~np.isfinite(total))[0]
                raise FloatingPointError(
                    f"non-finite loss at update {int(metrics.update[bad[0], bad[1]])} of {_run_name(runs[bad[0]])}; "
                    f"the last good checkpoint in {ckpt.root(run_dir)} is kept"
                )
            state = new_state
            log.chunk(metrics, dt)
            done = start_update + (c + 1) * cfg.updates_per_chunk
            before = done - cfg.updates_per_chunk
            if evaluator is not None and cfg.eval_every and done // cfg.eval_every > before // cfg.eval_every:
                log.evaluation(run_eval(done))
            # every process takes the same decision (a checkpoint is collective): the time of process 0
            stop = _agree(interrupt.signum is not None)
            due = _agree(time.monotonic() - last_save >= cfg.checkpoint_every_s)
            if cfg.checkpoint and (stop or c == num_chunks - 1 or due):
                ckpt.save(run_dir, done, state, cfg.keep_checkpoints)
                last_save = time.monotonic()
            if stop:
                log.print(f"stopped at update {done} of {cfg.num_updates}"
                          + (" (checkpoint written)" if cfg.checkpoint else " (no checkpoint: --checkpoint false)"))
                raise SystemExit(128 + (interrupt.signum or signal.SIGTERM))
        if evaluator is not None and last_eval["update"] != cfg.num_updates:  # the final evaluation, same program
            rows = run_eval(cfg.num_updates)
            if remaining:  # (a finished run resumed already logged it)
                log.evaluation(rows)
        last = log.last
    summary = {"run_dir": run_dir, "compile_s": compile_s, **last}
    if evaluator is not None and cfg.num_points == 1:
        summary["eval"] = evaluation.summarize(last_eval["rows"], env.has_win)
        for mode, res in summary["eval"].items():
            win = f" win {res['win_rate_mean']:.2f}" if env.has_win else ""
            console.print(f"final eval {mode}: return {res['return_mean']:.3f}{win} (mean over seeds)", highlight=False)
    if cfg.num_points > 1:  # one entry per point instead of a mean over unlike runs
        summary["sweep"] = _sweep_summary(cfg, last_eval["rows"] if evaluator is not None else [], env.has_win,
                                          log.last_metrics, console)
    if process == 0:
        _atomic_write(os.path.join(run_dir, "summary.json"), json.dumps(summary, indent=2))
    return summary


def _agree(flag: bool) -> bool:
    """Process 0's `flag` on every process (a checkpoint must be written by all of them or none)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.bool_(flag)))


def _run_name(run: sweep.RunTag) -> str:
    return f"seed {run.seed}" + (f" at {sweep.label(dict(run.point))}" if run.point else "")


def _print_header(cfg: Config, console, placement, need: int, have: int) -> None:
    schedule = f" anneal={cfg.anneal}" if cfg.dag == "context" else ""
    if cfg.dag == "context" and cfg.anneal != "none" and not {"alpha0", "alpha1"} & set(sweep.swept_names(cfg)):
        a = cfg.anneal_config
        schedule += f" (α {a.alpha0:g}->{a.alpha1:g})"
    lr = "" if any(s.startswith("lr=") for s in cfg.sweep) else f"lr={cfg.lr:g} "
    text = (f"{cfg.env} dag={cfg.dag}{schedule} seeds={cfg.num_seeds} envs={cfg.num_envs} T={cfg.num_steps} "
            f"{lr}clip={cfg.grad_clip}\n"
            f"{cfg.num_updates} updates ({cfg.num_updates * cfg.batch_size:,} env steps per seed) in chunks of "
            f"{cfg.updates_per_chunk}" + (f"; eval every {cfg.eval_every} updates" if cfg.eval_episodes and cfg.eval_every else ""))
    if cfg.num_points > 1:
        text += (f"\nsweep: {cfg.num_points} points ({' x '.join(s.partition('=')[0] for s in cfg.sweep)}) x "
                 f"{cfg.num_seeds} seeds = {cfg.num_runs} runs in one program")
    if placement is not None:
        text += f"\n{placement.describe()}"
    if placement is not None or cfg.num_runs > 1:
        text += f"; memory estimate {need / 2**20:,.0f} MiB per device of {have / 2**30:,.1f} GiB"
    console.print(text, soft_wrap=True, highlight=False)


def _sweep_summary(cfg: Config, eval_rows: list[dict], has_win: bool, metrics, console) -> list[dict]:
    """summary.json's per-point results: the point, the last update's training means over its seeds and, with
    evaluation, the final evaluation summarised over its seeds (`evaluate.summarize`); printed one line each."""
    from . import evaluate as evaluation
    from .logging import chunk_summary

    out = []
    for p, point in enumerate(sweep.points(cfg)):
        sel = slice(p * cfg.num_seeds, (p + 1) * cfg.num_seeds)
        entry = {"point": point, "label": sweep.label(point)}
        if metrics is not None:
            entry.update(chunk_summary(jax.tree.map(lambda x: np.asarray(x)[sel], metrics), has_win))
        rows = [r for r in eval_rows if r.get("sweep") == point]
        if rows:
            entry["eval"] = evaluation.summarize(rows, has_win)
        out.append(entry)
        joint = entry.get("eval", {}).get("joint")
        ret = entry.get("episode_return")
        text = f"{entry['label']}: train return " + ("-" if ret is None else f"{ret:.3g}")
        if joint:
            text += f", final eval joint return {joint['return_mean']:.3f}"
            if has_win:
                text += f" win {joint['win_rate_mean']:.2f}"
        console.print(text, highlight=False)
    return out


def resume_defaults(argv: list[str]) -> Config:
    """With --resume, the saved config of --run-dir is the default of every field not given on the command line,
    so `python -m jbn.train --run-dir R --resume` is the whole resume command."""
    run_dir = flag_value(argv, "--run-dir")
    if "--resume" not in argv or run_dir is None:
        return Config()
    saved = ckpt.saved_config(run_dir, "--resume: ")
    # The chunk size follows the updates that remain unless given again; where this process runs (multi-host
    # addresses, its index) comes from this command line, never from the run's first start.
    saved = {k: v for k, v in saved.items() if k not in ("coordinator", "num_processes", "process_id")}
    if "sweep" in saved:
        saved["sweep"] = tuple(saved["sweep"])
    if any(a == "--sweep" or a.startswith("--sweep=") for a in argv):
        saved.pop("sweep", None)  # given again: it replaces the saved one (--sweep appends to its default)
    return Config(**{**saved, "updates_per_chunk": None, "resume": True})


def main(argv=None) -> None:
    import tyro

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        default = resume_defaults(argv)
        cfg = tyro.cli(Config, args=argv, default=default, description=__doc__.split("\n\n")[0])
        run(cfg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
