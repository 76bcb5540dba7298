"""BN-MAPPO as one compiled program (DESIGN.md §4).

    python -m jbn.train --env smax_6h_vs_8z                 # BN-MAPPO, learned context-aware DAG
    python -m jbn.train --env cg_2 --dag full --num-seeds 8 # 8 seeds in one jit (vmap)

`make_train(cfg)` does the Python setup and returns pure functions of ONE seed:
    init(key) -> RunnerState
    update_chunk(state) -> (state, metrics [K])      K = cfg.updates_per_chunk PPO updates, one lax.scan
`jax.jit(over_seeds(update_chunk, K))` (a vmap) runs every seed at once. The host loop (`run`) logs, checkpoints and
shows progress between chunks; nothing inside a chunk talks to the host.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs_jax

from . import dag as dag_lib
from . import ppo, schedules
from .config import Config, resolve
from .policy import BNPolicy
from .types import Batch, RunnerState, Transition


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
    )


def make_env(cfg: Config) -> envs_jax.ArrayEnv:
    return envs_jax.ArrayEnv(envs_jax.make(cfg.env))


def make_train(cfg: Config):
    """Returns (init, update_chunk, policy, env) for one seed; cfg must be resolved."""
    env = make_env(cfg)
    policy = make_policy(cfg, env)
    anneal = cfg.anneal_config
    E, T, N = cfg.num_envs, cfg.num_steps, env.num_agents
    optimizer = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr, eps=1e-5))
    v_sample = jax.vmap(policy.sample, in_axes=(None, 0, 0, 0, 0, 0))
    v_log_prob = jax.vmap(policy.log_prob, in_axes=(None, 0, 0, 0, 0, 0))
    v_reset, v_step = jax.vmap(env.reset), jax.vmap(env.step)

    def init(key) -> RunnerState:
        key, pkey, ekey = jax.random.split(key, 3)
        params = policy.init(pkey)
        env_state, timestep = v_reset(jax.random.split(ekey, E))
        return RunnerState(
            params=params,
            opt_state=optimizer.init(params),
            value_norm=ppo.value_norm_init(),
            env_state=env_state,
            timestep=timestep,
            key=key,
            update=jnp.int32(0),
        )

    def rollout(state: RunnerState):
        def step(carry, _):
            env_state, ts, key = carry
            key, noise_key, act_key, env_key = jax.random.split(key, 4)
            noise = policy.sample_noise(noise_key, (E,))
            actions, logp, g = v_sample(state.params, ts.obs, ts.avail, ts.visible, noise, jax.random.split(act_key, E))
            value_n = policy.value(state.params, ts.world_state)  # [E]
            env_state, next_ts = v_step(jax.random.split(env_key, E), env_state, actions)
            tr = Transition(
                obs=ts.obs, world_state=ts.world_state, avail=ts.avail, visible=ts.visible, noise=noise,
                actions=actions, logp=logp, value_n=value_n, reward=next_ts.reward,
                terminated=next_ts.terminated, done=next_ts.done, final_world_state=next_ts.final_world_state,
                episode_return=next_ts.episode_return, won=next_ts.won, density=dag_lib.density(g),
            )
            return (env_state, next_ts, key), tr

        key, rkey = jax.random.split(state.key)
        (env_state, ts, _), traj = jax.lax.scan(step, (state.env_state, state.timestep, rkey), None, T)
        return state.replace(env_state=env_state, timestep=ts, key=key), traj

    def loss_fn(params, mb: Batch, eta, alpha):
        logp, entropy, g = v_log_prob(params, mb.obs, mb.avail, mb.visible, mb.noise, mb.actions)
        pg_loss, clip_frac, approx_kl = ppo.clipped_surrogate(logp, mb.logp, mb.advantages, cfg.clip_eps, cfg.ratio)
        v = policy.value(params, mb.world_state)
        v_loss = ppo.value_loss(v, mb.value_n, mb.targets_n, cfg.clip_eps, cfg.huber_delta)
        ent = entropy.mean()
        rho = dag_lib.density(g)
        d_pen = ppo.density_penalty(rho, eta, alpha) if policy.learns_dag else jnp.float32(0.0)
        total = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * ent + d_pen
        info = ppo.LossInfo(
            total=total, policy=pg_loss, value=v_loss, entropy=ent, density_penalty=d_pen,
            dag_density=rho.mean(), clip_frac=clip_frac, approx_kl=approx_kl,
        )
        return total, info

    def update(state: RunnerState, _):
        frac = state.update.astype(jnp.float32) / cfg.num_updates
        eta = schedules.eta(frac, anneal) if policy.learns_dag else jnp.float32(1.0)
        alpha = schedules.alpha(frac, anneal) if policy.learns_dag else jnp.float32(0.0)

        state, traj = rollout(state)
        vn = state.value_norm
        values = ppo.value_norm_denormalize(vn, traj.value_n)  # [T, E]
        next_values = ppo.value_norm_denormalize(vn, policy.value(state.params, traj.final_world_state))
        adv, targets = ppo.gae(traj.reward, values, next_values, traj.terminated, traj.done, cfg.gamma, cfg.gae_lambda)
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
            mbs = jax.tree.map(
                lambda x: x[perm].reshape((cfg.num_minibatches, cfg.minibatch_size) + x.shape[1:]), batch
            )

            def minibatch(carry, mb):
                params, opt_state = carry
                grads, info = jax.grad(loss_fn, has_aux=True)(params, mb, eta, alpha)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), info

            (params, opt_state), infos = jax.lax.scan(minibatch, (params, opt_state), mbs)
            return (params, opt_state, key), infos

        key, ekey = jax.random.split(state.key)
        (params, opt_state, _), infos = jax.lax.scan(
            epoch, (state.params, state.opt_state, ekey), None, cfg.num_epochs
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

    def update_chunk(state: RunnerState):
        return jax.lax.scan(update, state, None, cfg.updates_per_chunk)

    return init, update_chunk, policy, env


def over_seeds(fn, num_seeds: int):
    """Map `fn` of one seed over a leading seed axis of size `num_seeds`: `jax.vmap` for several seeds;
    for one seed the axis is squeezed and re-added instead, because a size-1 vmap axis made the SMAX env
    step about 30% slower under XLA on CPU (degenerate batch dims in its gathers; bench/RESULTS.md)."""
    if num_seeds > 1:
        return jax.vmap(fn)

    def one(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: x[None], out)

    return one


def seed_keys(cfg: Config):
    """One key per seed: seed k of a batch is exactly the run `--seed (seed + k) --num-seeds 1`."""
    return jnp.stack([jax.random.PRNGKey(cfg.seed + k) for k in range(cfg.num_seeds)])


# ------------------------------------------------------------------------------------------ host side
def _row(metrics: Metrics, seed_index: int, i: int) -> dict:
    def g(x):
        v = float(np.asarray(x)[seed_index, i])
        return None if math.isnan(v) else v

    row = {
        "update": int(np.asarray(metrics.update)[seed_index, i]),
        "env_steps": int(np.asarray(metrics.env_steps)[seed_index, i]),
        "episode_return": g(metrics.episode_return),
        "win_rate": g(metrics.win_rate),
        "episodes": int(np.asarray(metrics.episodes)[seed_index, i]),
        "reward_per_step": g(metrics.reward_per_step),
        "dag_density": g(metrics.dag_density),
        "eta": g(metrics.eta),
        "alpha": g(metrics.alpha),
    }
    row.update({f"loss_{k}": g(v) for k, v in metrics.loss._asdict().items()})
    return row


def run(cfg: Config, console=None) -> dict:
    """Train `cfg` (resolved or not): compile once, run the chunks, log, checkpoint. Returns a summary."""
    from rich.console import Console

    from . import checkpoint as ckpt
    from .evaluate import evaluate

    console = console or Console(stderr=True)
    cfg = resolve(cfg)
    if cfg.num_updates % cfg.updates_per_chunk:
        raise ValueError(
            f"updates_per_chunk = {cfg.updates_per_chunk} does not divide the {cfg.num_updates} updates "
            f"(total_steps // (num_envs * num_steps)); choose a divisor so every chunk runs the same compiled program"
        )
    run_dir = cfg.run_dir or os.path.join("runs", f"{cfg.env}_{cfg.dag}_{time.strftime('%Y%m%d-%H%M%S')}")
    cfg = dataclasses.replace(cfg, run_dir=run_dir)
    config_dict = dataclasses.asdict(cfg)
    os.makedirs(run_dir, exist_ok=True)
    if cfg.resume:
        ckpt.check_config(run_dir, config_dict)
    else:
        existing = os.path.join(run_dir, "checkpoints")
        if os.path.isdir(existing) and os.listdir(existing):
            raise ValueError(f"{run_dir!r} already holds checkpoints; pass --resume to continue it or choose another --run-dir")
    _atomic_write(os.path.join(run_dir, "config.json"), json.dumps(config_dict, indent=2))

    init, update_chunk, policy, env = make_train(cfg)
    keys = seed_keys(cfg)
    state = jax.jit(over_seeds(init, cfg.num_seeds))(keys)
    chunk_fn = jax.jit(over_seeds(update_chunk, cfg.num_seeds), donate_argnums=0)
    t0 = time.perf_counter()
    compiled = chunk_fn.lower(state).compile()
    compile_s = time.perf_counter() - t0
    console.print(
        f"[bold]{cfg.env}[/] dag={cfg.dag} seeds={cfg.num_seeds} envs={cfg.num_envs} T={cfg.num_steps} "
        f"updates={cfg.num_updates} ({cfg.num_chunks} chunks of {cfg.updates_per_chunk}) compile {compile_s:.1f}s"
    )

    mngr = ckpt.manager(run_dir) if (cfg.checkpoint or cfg.resume) else None
    start_chunk = 0
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    if cfg.resume:
        step, state = ckpt.restore(mngr, state)
        start_chunk = 0 if step is None else step
        _truncate_metrics(metrics_path, start_chunk * cfg.updates_per_chunk)
        console.print(f"resumed from chunk {start_chunk} ({start_chunk * cfg.updates_per_chunk} updates)")
    elif os.path.exists(metrics_path):
        os.remove(metrics_path)

    steps_per_chunk = cfg.updates_per_chunk * cfg.batch_size * cfg.num_seeds
    last = {}
    with open(metrics_path, "a") as log:
        for c in range(start_chunk, cfg.num_chunks):
            t = time.perf_counter()
            new_state, metrics = compiled(state)
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t
            sps = steps_per_chunk / dt
            if not np.all(np.isfinite(np.asarray(metrics.loss.total))):
                bad = np.argwhere(~np.isfinite(np.asarray(metrics.loss.total)))[0]
                raise FloatingPointError(
                    f"non-finite loss at update {int(metrics.update[bad[0], bad[1]])} of seed {cfg.seed + bad[0]}; "
                    f"the last good checkpoint (chunk {c}) in {run_dir} is kept"
                )
            state = new_state
            for s in range(cfg.num_seeds):
                for i in range(cfg.updates_per_chunk):
                    row = {"seed": cfg.seed + s, **_row(metrics, s, i), "sps": sps}
                    if not env.has_win:
                        del row["win_rate"]
                    log.write(json.dumps(row) + "\n")
            log.flush()
            if mngr is not None:
                ckpt.save(mngr, c + 1, state)
            last = _summary(metrics)
            line = f"[{c + 1}/{cfg.num_chunks}] steps {last['env_steps']:,} sps {sps:,.0f} return {last['episode_return']:.3f}"
            if env.has_win:
                line += f" win {last['win_rate']:.2f}"
            line += f" density {last['dag_density']:.2f}"
            if policy.learns_dag:
                line += f" eta {last['eta']:.2f} alpha {last['alpha']:.2f}"
            console.print(line + f" entropy {last['entropy']:.3f}", soft_wrap=True)
    summary = {"run_dir": run_dir, "compile_s": compile_s, **last}
    if cfg.eval_episodes > 0:
        summary["eval"] = evaluate(cfg, policy, env, state.params, cfg.eval_episodes, jax.random.PRNGKey(cfg.seed + 10_000))
        for mode, res in summary["eval"].items():
            win = f" win {res['win_rate_mean']:.2f}" if env.has_win else ""
            console.print(f"eval {mode}: return {res['return_mean']:.3f}{win} (mean over seeds)")
    _atomic_write(os.path.join(run_dir, "summary.json"), json.dumps(summary, indent=2))
    return summary


def _summary(metrics: Metrics) -> dict:
    """Means over seeds of the last update of a chunk (NaN-aware)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            "env_steps": int(np.asarray(metrics.env_steps)[0, -1]),
            "episode_return": float(np.nanmean(np.asarray(metrics.episode_return)[:, -1])),
            "win_rate": float(np.nanmean(np.asarray(metrics.win_rate)[:, -1])),
            "reward_per_step": float(np.mean(np.asarray(metrics.reward_per_step)[:, -1])),
            "dag_density": float(np.mean(np.asarray(metrics.dag_density)[:, -1])),
            "eta": float(np.asarray(metrics.eta)[0, -1]),
            "alpha": float(np.asarray(metrics.alpha)[0, -1]),
            "entropy": float(np.mean(np.asarray(metrics.loss.entropy)[:, -1])),
        }


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _truncate_metrics(path: str, keep_updates: int) -> None:
    """Drop logged rows past the restored checkpoint so a resumed run logs every update once."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        rows = [line for line in f if line.strip() and json.loads(line)["update"] <= keep_updates]
    _atomic_write(path, "".join(rows))


def main(argv=None) -> None:
    import tyro

    cfg = tyro.cli(Config, args=argv, description=__doc__.split("\n\n")[0])
    try:
        cfg = resolve(cfg)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
    run(cfg)


if __name__ == "__main__":
    main()
