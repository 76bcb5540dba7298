"""Does a correlated policy need its edge at every step, and from the start? The matrix games' BN policy with one
stochastic edge 0 -> 1, present at each step with probability p(t), in the tabular form of jbn's networks: agent 1's
logits are b[a1] + e * W[a0, a1] with e ~ Bernoulli(p(t)) (the network sees its parent's one-hot action times the edge
mask), agent 0's are θ0[a0]. Sampled score-function gradients (256 joint actions per step, e drawn per sample,
normalised advantages) through Adam at jbn's matrix-game rate 2.5e-3, from a near-uniform start (0.01 N(0, 1)): the
last rung of docs/repro/study/matrix_ingredients.py, where `full` (p = 1) reaches the optimum from 50 of 50 starts. p(t) is either constant or follows the DAG density that BN-MAPPO's
annealed learned DAG showed on Climbing at lr 2.5e-3 (docs/benchmarks.md), started at edge probability 0.5 (the
paper's) or 0.95 (`--edge-prior 0.95`), and annealed to 0 at the end. Scored by the exact expected payoff of the
final policy, jointly (e ~ p at the end) and decentralised (e = 0: agent 1 plays softmax(b)), and by whether the
final policy's most likely joint action is an optimum.

    python docs/repro/study/matrix_edge_timing.py      # ~5 minutes on the shared 2-core CPU; --iters 10000: ~15
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jbn.tabular.matrix_tables import climbing_game, penalty_game

SEEDS = 50
LR = 2.5e-3
# the annealed learned DAG's density over training (fraction of the budget -> mean density over 10 seeds), read off
# BN-MAPPO's Climbing runs at lr 2.5e-3 (matrax_Climbing-stateless@lr2.5e-3__context{,_prior0.95})
LEARNED_05 = ((0.0, 0.5), (0.05, 0.60), (0.2, 0.82), (0.4, 0.92), (0.58, 0.74), (0.74, 0.30), (1.0, 0.0))
LEARNED_095 = ((0.0, 0.95), (0.09, 0.98), (0.4, 0.99), (0.58, 0.78), (0.74, 0.32), (1.0, 0.0))


def schedule(points):
    f, p = (jnp.asarray(x) for x in zip(*points))
    return lambda frac: jnp.interp(frac, f, p)


def constant(p):
    return lambda frac: jnp.full_like(frac, p)


def init(seed, n0, n1):
    rng = np.random.default_rng(seed)
    return dict(t0=0.01 * rng.standard_normal((SEEDS, n0)), b=0.01 * rng.standard_normal((SEEDS, n1)),
                w=0.01 * rng.standard_normal((SEEDS, n0, n1)))


def value(th, R, p):
    """E[r] with the edge present with probability p: sum_a0 π0(a0) [p π1(.|a0) + (1 - p) π1(.)] · R[a0]."""
    pi0 = jax.nn.softmax(th["t0"])
    with_parent = jax.nn.softmax(th["b"][None, :] + th["w"], axis=-1)
    without = jax.nn.softmax(th["b"])
    return pi0 @ jnp.sum((p * with_parent + (1 - p) * without[None, :]) * R, axis=-1)


def sampled_run(R, sched, iters, batch=256):
    opt = optax.adam(LR)
    n0, n1 = R.shape

    def log_pi(th, a0, a1, e):
        lp0 = jax.nn.log_softmax(th["t0"])[a0]
        logits1 = th["b"][None, :] + e[:, None] * th["w"][a0]
        return lp0 + jnp.take_along_axis(jax.nn.log_softmax(logits1, axis=-1), a1[:, None], axis=1)[:, 0]

    def run(th, key):
        def body(carry, xs):
            th, state = carry
            i, k = xs
            k0, k1, ke = jax.random.split(k, 3)
            e = jax.random.bernoulli(ke, sched(i / iters), (batch,)).astype(jnp.float64)
            a0 = jax.random.categorical(k0, th["t0"], shape=(batch,))
            a1 = jax.random.categorical(k1, th["b"][None, :] + e[:, None] * th["w"][a0])
            r = R[a0, a1]
            adv = (r - r.mean()) / (r.std() + 1e-8)
            grad = jax.grad(lambda t: -jnp.mean(log_pi(t, a0, a1, e) * adv))(th)
            updates, state = opt.update(grad, state, th)
            return (optax.apply_updates(th, updates), state), None
        xs = (jnp.arange(iters, dtype=jnp.float64), jax.random.split(key, iters))
        (th, _), _ = jax.lax.scan(body, (th, opt.init(th)), xs)
        return th
    return run


CASES = (
    ("edge never (MAPPO)", constant(0.0)),
    ("edge at p = 0.5, constant", constant(0.5)),
    ("edge at p = 0.65, constant (the fixed-order learned edge's rate)", constant(0.65)),
    ("edge at p = 0.9, constant", constant(0.9)),
    ("edge at p = 0.95, constant", constant(0.95)),
    ("edge at p = 0.99, constant", constant(0.99)),
    ("edge always (full)", constant(1.0)),
    ("learned DAG's density, edge prior 0.5, annealed", schedule(LEARNED_05)),
    ("learned DAG's density, edge prior 0.95, annealed", schedule(LEARNED_095)),
    ("0.5, rising to 0.99 by 20% of training, annealed as prior 0.95's",
     schedule(((0.0, 0.5), (0.2, 0.99), (0.4, 0.99), (0.58, 0.78), (0.74, 0.32), (1.0, 0.0)))),
    ("0.99 for the first 20% only, then 0", schedule(((0.0, 0.99), (0.2, 0.99), (0.2001, 0.0), (1.0, 0.0)))),
)


def joint_table(th, p):
    pi0 = jax.nn.softmax(th["t0"])
    pi1 = p * jax.nn.softmax(th["b"][None, :] + th["w"], axis=-1) + (1 - p) * jax.nn.softmax(th["b"])[None, :]
    return pi0[:, None] * pi1


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3000)
    iters = ap.parse_args().iters
    jax.config.update("jax_enable_x64", True)
    print(f"{SEEDS} initialisations, {iters:,} Adam steps at lr {LR}, sampled gradients (256 joint actions a step); "
          "'optimal mode': the final policy's most likely joint action is an optimum")
    print("| game | p(t): the edge's probability over training | optimal mode, joint | decentralised | "
          "E[r], joint | decentralised |")
    print("|---|---|---|---|---|---|")
    for game in (climbing_game(), penalty_game(-100.0)):
        R = jnp.asarray(game.payoff)
        best = float(game.payoff.max())
        th0 = {k: jnp.asarray(v) for k, v in init(0, *game.payoff.shape).items()}
        for name, sched in CASES:
            p_end = float(sched(jnp.asarray(1.0)))
            th = jax.jit(jax.vmap(sampled_run(R, sched, iters)))(th0, jax.random.split(jax.random.PRNGKey(1), SEEDS))
            cells = []
            for p in (p_end, 0.0):
                tables = np.asarray(jax.vmap(lambda t: joint_table(t, p))(th))
                modes = tables.reshape(SEEDS, -1).argmax(1)
                cells.append((int((np.asarray(R).reshape(-1)[modes] >= best).sum()),
                              float(np.asarray(jax.vmap(lambda t: value(t, R, p))(th)).mean())))
            (oj, vj), (od, vd) = cells
            print(f"| {game.name} | {name} | {oj}/{SEEDS} | {od}/{SEEDS} | {vj:.2f} | {vd:.2f} |", flush=True)


if __name__ == "__main__":
    main()
