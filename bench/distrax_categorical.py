"""Is distrax's Categorical a drop-in for the policy's hand-written masked categorical (jbn/policy/joint.py)?

    python bench/distrax_categorical.py [--batch 65536] [--actions 14] [--rounds 5]

Same masked logits (MASKED_LOGIT at unavailable actions) both ways: sampled actions, log-probs of the sampled
actions, entropies, the gradient of a surrogate-like Σ adv·log π(a) with respect to the logits (what the PPO loss
differentiates), and the time of each (compiled first, then timed with block_until_ready, interleaved rounds).
Prints the largest differences and the time ratio; docs/architecture.md §3.6 records the outcome.
"""
from __future__ import annotations

import argparse
import time

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from jbn.policy.joint import entropy_of_logits, mask_logits


def ours(logits, avail, key):
    masked = mask_logits(logits, avail)
    a = jax.random.categorical(key, masked).astype(jnp.int32)
    logp = jnp.take_along_axis(jax.nn.log_softmax(masked), a[:, None], -1)[:, 0]
    return a, logp, entropy_of_logits(masked, avail)


def theirs(logits, avail, key):
    dist = distrax.Categorical(logits=mask_logits(logits, avail))
    a = dist.sample(seed=key).astype(jnp.int32)
    return a, dist.log_prob(a), dist.entropy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--actions", type=int, default=14)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    logits = 3.0 * jax.random.normal(k1, (args.batch, args.actions))
    avail = jax.random.bernoulli(k2, 0.6, (args.batch, args.actions)).at[:, 0].set(True)
    fns = {name: jax.jit(f).lower(logits, avail, k3).compile() for name, f in (("ours", ours), ("distrax", theirs))}
    (a0, l0, e0), (a1, l1, e1) = (jax.block_until_ready(fns[n](logits, avail, k3)) for n in ("ours", "distrax"))
    print(f"samples equal: {bool(jnp.all(a0 == a1))}; sampled an unavailable action: ours "
          f"{bool(jnp.any(~avail[jnp.arange(args.batch), a0]))}, distrax {bool(jnp.any(~avail[jnp.arange(args.batch), a1]))}")
    print(f"log-prob: max |diff| {float(jnp.max(jnp.abs(l0 - l1))):.3g}, bit-identical {bool(jnp.all(l0 == l1))}")
    print(f"entropy:  max |diff| {float(jnp.max(jnp.abs(e0 - e1))):.3g}, bit-identical {bool(jnp.all(e0 == e1))}")
    adv = jax.random.normal(k3, (args.batch,))

    def surrogate(lp_fn):
        return jax.jit(jax.grad(lambda lg: jnp.sum(adv * lp_fn(mask_logits(lg, avail), a0))))

    g0 = surrogate(lambda m, a: jnp.take_along_axis(jax.nn.log_softmax(m), a[:, None], -1)[:, 0])(logits)
    g1 = surrogate(lambda m, a: distrax.Categorical(logits=m).log_prob(a))(logits)
    print(f"d(Σ adv·log π)/d logits: max |diff| {float(jnp.max(jnp.abs(g0 - g1))):.3g}, "
          f"bit-identical {bool(jnp.all(g0 == g1))}")
    times = {n: [] for n in fns}
    for _ in range(args.rounds):
        for n, f in fns.items():
            t = time.perf_counter()
            jax.block_until_ready(f(logits, avail, k3))
            times[n].append(time.perf_counter() - t)
    med = {n: float(np.median(v)) for n, v in times.items()}
    print(f"time (median of {args.rounds}): ours {med['ours'] * 1e3:.2f} ms, distrax {med['distrax'] * 1e3:.2f} ms, "
          f"distrax/ours {med['distrax'] / med['ours']:.2f}")


if __name__ == "__main__":
    main()
