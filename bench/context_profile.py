"""Where the time of `--dag context` goes, piece by piece, at the batch sizes of a PPO update.

    python bench/context_profile.py --env aloha_10 cg_5 --batch 8192

For each env, with the preset's networks and one minibatch of B samples (the default 8192 = E 64 x T 128 with
one minibatch, as bench/train_throughput.py runs it), the best of `--repeats` timings of each compiled piece:

  update (one gradient of the teacher-forced log-probs, what each epoch of a PPO update differentiates):
    full                    the actor alone (fixed DAG)
    context, order fixed    + edge net and straight-through Gumbel-Softmax edges (Π = I)
    context, learned order  + permutation net, Gumbel-Sinkhorn (gradient) and the exact assignment
    ..., L=K                the same with K Sinkhorn iterations (--sinkhorn-iters 20 K ...)
    Sinkhorn gradient       the Gumbel-Sinkhorn iterations alone, forward + backward, [B, N, N] (jbn.policy.dag's custom
                            VJP, and autodiff through the plain loop as it was before)
    exact assignment        the max-weight assignment alone, [B, N, N]
  rollout (T = 128 batched steps of E = 64 envs sampling joint actions; no env step):
    sampling, full / context    the joint-action sampling of one rollout

Pieces are timed in turn within each repeat (interleaved), so a busy machine slows all of them alike.
"""
from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp

from jbn.policy import dag as dag_lib
from jbn.training import trainer as tr
from jbn.training.config import Config, resolve
from jbn.training.rollout import act


def _compiled(fn, *args):
    f = jax.jit(fn).lower(*args).compile()
    return lambda: f(*args)


def _autodiff_sinkhorn(logits, gumbel, tau, n_iters):
    """The Gumbel-Sinkhorn of jbn.policy.dag as it was before its custom VJP: a fori_loop of logsumexps, differentiated by
    autodiff (the reference the custom VJP is tested against)."""
    def round_(_, la):
        la = la - jax.nn.logsumexp(la, axis=-1, keepdims=True)
        return la - jax.nn.logsumexp(la, axis=-2, keepdims=True)

    return jnp.exp(jax.lax.fori_loop(0, n_iters, round_, (logits + gumbel) / tau))


def pieces(env_name: str, batch: int, num_envs: int = 64, num_steps: int = 128, sinkhorn_iters=(20,)) -> dict:
    """name -> a compiled zero-argument callable."""
    out = {}
    variants = [("full", "full", {}), ("context, order fixed", "context", dict(learn_order=False)),
                ("context, learned order", "context", dict(sinkhorn_iters=sinkhorn_iters[0]))]
    variants += [(f"context, learned order, L={k}", "context", dict(sinkhorn_iters=k)) for k in sinkhorn_iters[1:]]
    for label, mode, over in variants:
        cfg = resolve(Config(env=env_name, dag=mode, num_envs=num_envs, num_steps=num_steps, eval_episodes=0,
                             checkpoint=False, **over))
        trainer = tr.make_train(cfg)
        policy = trainer.policy
        state = trainer.init(jax.random.PRNGKey(0))
        ts = state.timestep
        rep = lambda x: jnp.repeat(x, -(-batch // x.shape[0]), axis=0)[:batch]  # noqa: E731
        obs, avail, visible = rep(ts.obs), rep(ts.avail), rep(ts.visible)
        noise = policy.sample_noise(jax.random.PRNGKey(1), (batch,))
        actions = jnp.zeros(obs.shape[:2], jnp.int32)
        log_prob = jax.vmap(policy.log_prob, in_axes=(None, 0, 0, 0, 0, 0))

        def loss(params, noise):
            logp, ent, g = log_prob(params, obs, avail, visible, noise, actions)
            return logp.sum() + ent.sum() + g.sum()

        out[f"update: {label}"] = _compiled(jax.grad(loss), state.params, noise)
        if label == "context, order fixed" or "L=" in label:
            continue

        def sampling(params, key):
            def step(carry, k):
                return carry + act(policy, params, ts, k).logp.sum(), None

            return jax.lax.scan(step, 0.0, jax.random.split(key, num_steps))[0]

        out[f"rollout sampling: {label}"] = _compiled(sampling, state.params, jax.random.PRNGKey(2))
        if label == "context, learned order":
            n = policy.num_agents
            scores = jax.random.normal(jax.random.PRNGKey(3), (batch, n, n))
            gumbel = jax.random.gumbel(jax.random.PRNGKey(4), (batch, n, n))
            weights = jax.random.normal(jax.random.PRNGKey(5), (batch, n, n))
            sk = jax.grad(lambda s: (dag_lib.gumbel_sinkhorn(s, gumbel, policy.tau, policy.sinkhorn_iters) * weights).sum())
            out["update piece: Sinkhorn gradient"] = _compiled(sk, scores)
            plain = jax.grad(lambda s: (_autodiff_sinkhorn(s, gumbel, policy.tau, policy.sinkhorn_iters) * weights).sum())
            out["update piece: Sinkhorn gradient by plain autodiff (before the custom VJP)"] = _compiled(plain, scores)
            out["update piece: exact assignment"] = _compiled(dag_lib.linear_assignment, scores)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["aloha_10", "cg_5"])
    p.add_argument("--batch", type=int, default=8192, help="minibatch size B of the update pieces")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sinkhorn-iters", type=int, nargs="+", default=[20],
                   help="Sinkhorn iterations L of the learned-order update; the first is the main one, the others "
                        "add an update piece each")
    args = p.parse_args()
    print(f"# {platform.machine()} {jax.devices()[0].device_kind}, jax {jax.__version__}, B={args.batch}, "
          f"best of {args.repeats} interleaved repeats")
    print("| env | piece | ms |")
    print("|---|---|---|")
    for env_name in args.env:
        progs = pieces(env_name, args.batch, sinkhorn_iters=args.sinkhorn_iters)
        for fn in progs.values():
            jax.block_until_ready(fn())
        best = {k: float("inf") for k in progs}
        for _ in range(args.repeats):
            for k, fn in progs.items():
                t0 = time.perf_counter()
                jax.block_until_ready(fn())
                best[k] = min(best[k], time.perf_counter() - t0)
        for k, t in best.items():
            print(f"| {env_name} | {k} | {1e3 * t:.1f} |", flush=True)


if __name__ == "__main__":
    main()
