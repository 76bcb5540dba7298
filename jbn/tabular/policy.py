"""The tabular softmax BN policy (Eq. 1): the DAG's index tables, the logits θ and the joint π(a|s).

Agent i has A_i actions (2 in the Coordination Game, any number in a matrix game). Its local policy is a
table θ_i[s, c, a_i], where c = a^{P_i} is its parents' joint action in mixed radix over the parents
p_0 < p_1 < ... of i: c = Σ_k a_{p_k} Π_{k'<k} A_{p_k'} (Σ_k a_{p_k} 2^k for binary agents). Joint
actions are indexed the same way with agent 0 fastest: a = Σ_i a_i Π_{j<i} A_j (Σ_i a_i 2^i, bit i is
agent i, for binary agents). `BNLayout` is host-side and static; the policy functions are pure and
jittable (dtype follows the x64 setting at trace time).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jbn.policy.dag import fixed_dag

DAG_CHOICES = ("none", "line", "full")


class BNLayout(NamedTuple):
    """Static index tables of a BN policy over N agents with A_i actions each (A = Π_i A_i joint actions).

    dag: int [N, N], dag[j, i] = 1 iff j is a parent of i.
    parents: parents of each agent, ascending.
    num_actions: A_i per agent.
    num_configs: C_i = Π_{p ∈ P_i} A_p per agent (2^|P_i| for binary agents).
    parent_config: int32 [N, A], c_i(a) = Σ_k a_{p_k} Π_{k'<k} A_{p_k'}.
    own_action: int32 [N, A], a_i of joint action a.
    """

    dag: np.ndarray
    parents: tuple[tuple[int, ...], ...]
    num_actions: tuple[int, ...]
    num_configs: tuple[int, ...]
    parent_config: np.ndarray
    own_action: np.ndarray

    @property
    def num_agents(self) -> int:
        return len(self.parents)

    @property
    def num_joint_actions(self) -> int:
        return self.parent_config.shape[1]

    def local_index(self, i: int) -> np.ndarray:
        """int32 [A]: joint action -> flat (c_i, a_i) index A_i c_i + a_i."""
        return self.num_actions[i] * self.parent_config[i] + self.own_action[i]


def joint_actions(num_actions: tuple[int, ...]) -> np.ndarray:
    """int [A, N]: agent i's action in each joint action a = Σ_i a_i Π_{j<i} A_j (agent 0 fastest)."""
    radix = np.cumprod((1,) + tuple(num_actions[:-1]))  # Π_{j<i} A_j
    a = np.arange(int(np.prod(num_actions)))[:, None]
    return (a // radix) % np.asarray(num_actions)


def bn_layout(dag: np.ndarray, num_actions: tuple[int, ...] | None = None) -> BNLayout:
    """Index tables for the DAG `dag` (G[j, i] = 1 iff j is a parent of i; it must be acyclic) over agents
    with `num_actions` actions each (default: 2 each, the Coordination Game)."""
    g = (np.asarray(dag) != 0).astype(np.int64)
    n = g.shape[0]
    if g.shape != (n, n) or np.any(np.diag(g)):
        raise ValueError(f"dag must be a square [N, N] matrix with a zero diagonal; got shape {g.shape}")
    if np.any(np.linalg.matrix_power(g, n)):  # some walk of length N exists <=> a cycle exists
        raise ValueError("dag has a cycle; a BN policy needs a DAG")
    num_actions = (2,) * n if num_actions is None else tuple(int(k) for k in num_actions)
    if len(num_actions) != n or min(num_actions) < 1:
        raise ValueError(f"num_actions={num_actions} must give N = {n} positive action counts")
    acts = joint_actions(num_actions)  # [A, N]
    parents = tuple(tuple(int(j) for j in np.flatnonzero(g[:, i])) for i in range(n))

    def config(ps):  # c = Σ_k a_{p_k} Π_{k'<k} A_{p_k'}
        c, radix = np.zeros(acts.shape[0], np.int64), 1
        for p in ps:
            c, radix = c + radix * acts[:, p], radix * num_actions[p]
        return c

    return BNLayout(
        dag=g,
        parents=parents,
        num_actions=num_actions,
        num_configs=tuple(int(np.prod([num_actions[p] for p in ps], dtype=np.int64)) for ps in parents),
        parent_config=np.stack([config(ps) for ps in parents]).astype(np.int32),
        own_action=acts.T.astype(np.int32).copy(),
    )


def named_layout(dag_name: str, n_agents: int, num_actions: tuple[int, ...] | None = None) -> BNLayout:
    """Layout of a fixed DAG: none (empty), line (i-1 -> i) or full (j -> i for all j < i)."""
    if dag_name not in DAG_CHOICES:
        raise ValueError(f"unknown dag {dag_name!r}; valid choices: {', '.join(DAG_CHOICES)}")
    return bn_layout(np.asarray(fixed_dag(dag_name, n_agents)), num_actions)


Theta = tuple  # tuple over agents of [S, C_i, A_i] logits
Local = tuple  # tuple over agents of [S, C_i, A_i] probabilities π_i(a_i | s, c)


def init_theta(
    seed: int, num_seeds: int, layout: BNLayout, num_states: int, scale: float = 1.0, tied: bool = False
) -> Theta:
    """θ_i[b, s, c, a_i] ~ scale · N(0, 1) for seeds b = 0..num_seeds-1: float64 numpy, [B, S, C_i, A_i] per agent.

    Seed b draws from its own stream `default_rng([seed, b])`, so its init does not depend on how many
    seeds run (the first 5 of 50 are the 5 of a 5-seed run). Host-side numpy: jax.random costs ~1 s of
    compile per shape on this CPU, longer than the draw. The paper does not state its initialisation.

    tied=True draws one row θ_i[b, s, ·] per agent and repeats it over the parent configurations c: every DAG
    then starts seed b from the same joint policy, the product policy that `none` starts from (the same draws),
    so DAGs can be compared seed by seed.
    """
    rngs = [np.random.default_rng([seed, b]) for b in range(num_seeds)]
    return tuple(
        scale * np.stack([np.repeat(rng.standard_normal((num_states, 1, k)), c, axis=1) if tied
                          else rng.standard_normal((num_states, c, k)) for rng in rngs])
        for c, k in zip(layout.num_configs, layout.num_actions)
    )


def local_policies(theta: Theta) -> Local:
    """Softmax over a_i (Eq. 1)."""
    return tuple(jax.nn.softmax(t, axis=-1) for t in theta)


def gather_local(local_i: jax.Array, layout: BNLayout, i: int) -> jax.Array:
    """[S, C_i, A_i] -> [S, A]: π_i(a_i | s, c_i(a)) for every joint action a.

    A matmul with a one-hot selector rather than a gather: its gradient is a matmul too, where a gather's
    is a scatter-add (several times slower on the XLA CPU backend).
    """
    size = layout.num_configs[i] * layout.num_actions[i]
    select = jax.nn.one_hot(layout.local_index(i), size, dtype=local_i.dtype).T  # [C_i A_i, A]
    return local_i.reshape(local_i.shape[0], size) @ select


def sum_by_local(x: jax.Array, layout: BNLayout, i: int) -> jax.Array:
    """The adjoint of `gather_local`: sum x [S, A] over the joint actions sharing agent i's (c_i, a_i): [S, C_i, A_i]."""
    c, k = layout.num_configs[i], layout.num_actions[i]
    onehot = jax.nn.one_hot(layout.local_index(i), c * k, dtype=x.dtype)  # [A, C_i A_i]
    return (x @ onehot).reshape(x.shape[0], c, k)


def joint_policy(local: Local, layout: BNLayout, skip: int | None = None) -> jax.Array:
    """π(a|s) = Π_i π_i(a_i | s, a^{P_i}): [S, A]. `skip=i` leaves agent i's factor out (π_-i)."""
    out = None
    for i, loc in enumerate(local):
        if i == skip:
            continue
        f = gather_local(loc, layout, i)
        out = f if out is None else out * f
    if out is None:  # N = 1 and skip = 0
        out = jnp.ones((local[0].shape[0], layout.num_joint_actions), local[0].dtype)
    return out
