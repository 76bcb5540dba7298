"""Which ingredient of deep MARL keeps a correlated policy from the matrix games' optimum? The tabular BN policy
(jbn.tabular) from a near-uniform start (θ ~ 0.01 N(0, 1), as a freshly initialised network), DAG none or full, with
(1) exact gradient ascent, (2) exact gradients through Adam, (3) sampled score-function gradients (a batch of joint
actions, normalised advantages, Adam) — the steps between `python -m jbn.tabular` and BN-MAPPO (docs/benchmarks.md).

    python docs/repro/study/matrix_ingredients.py      # ~2 minutes on the 2-core CPU
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jbn.tabular.matrix_exact import matrix_value
from jbn.tabular.matrix_tables import climbing_game, penalty_game
from jbn.tabular.policy import init_theta, joint_policy, local_policies, named_layout

SEEDS = 50


def exact(game, layout, opt, iters):
    def run(theta):
        def body(carry, _):
            th, state = carry
            grad = jax.grad(lambda t: -matrix_value(t, game, layout))(th)
            updates, state = opt.update(grad, state, th)
            return (optax.apply_updates(th, updates), state), None
        (theta, _), _ = jax.lax.scan(body, (theta, opt.init(theta)), None, length=iters)
        return matrix_value(theta, game, layout)
    return run


def sampled(game, layout, opt, iters, batch):
    reward = jnp.asarray(game.reward)

    def log_joint(theta):
        return jnp.log(joint_policy(local_policies(theta), layout)[0])

    def run(theta, key):
        def body(carry, k):
            th, state = carry
            a = jax.random.categorical(k, jax.lax.stop_gradient(log_joint(th)), shape=(batch,))
            r = reward[a]
            adv = (r - r.mean()) / (r.std() + 1e-8)
            grad = jax.grad(lambda t: -jnp.mean(log_joint(t)[a] * adv))(th)
            updates, state = opt.update(grad, state, th)
            return (optax.apply_updates(th, updates), state), None
        (theta, _), _ = jax.lax.scan(body, (theta, opt.init(theta)), jax.random.split(key, iters))
        return joint_policy(local_policies(theta), layout)[0] @ reward
    return run


def main():
    jax.config.update("jax_enable_x64", True)
    print("| game | DAG | update | iterations | inits at the optimum | final E[r] |")
    print("|---|---|---|---|---|---|")
    for game in (climbing_game(), penalty_game(-100.0)):
        best = game.payoff.max()
        for dag in ("none", "full"):
            layout = named_layout(dag, 2, game.payoff.shape)
            theta = tuple(jnp.asarray(t) for t in init_theta(0, SEEDS, layout, 1, 0.01))
            cases = [("exact, SGD 0.01", 100_000, jax.vmap(exact(game, layout, optax.sgd(0.01), 100_000))),
                     ("exact, Adam 1e-3", 20_000, jax.vmap(exact(game, layout, optax.adam(1e-3), 20_000))),
                     ("sampled (256 per step), Adam 2.5e-3", 3_000,
                      lambda th: jax.vmap(sampled(game, layout, optax.adam(2.5e-3), 3_000, 256))(
                          th, jax.random.split(jax.random.PRNGKey(1), SEEDS)))]
            for name, iters, fn in cases:
                v = np.asarray(jax.jit(fn)(theta))
                print(f"| {game.name} | {dag} | {name} | {iters:,} | {int((v >= 0.99 * best).sum())}/{SEEDS} | "
                      f"{v.mean():.2f} |", flush=True)


if __name__ == "__main__":
    main()
