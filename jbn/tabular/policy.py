"""The tabular softmax BN policy (Eq. 1): the DAG's index tables, the logits θ and the joint π(a|s).

Agent i's local policy is a table θ_i[s, c, a_i], where c = a^{P_i} is its parents' joint action,
encoded as c = Σ_k a_{p_k} 2^k over the parents p_0 < p_1 < ... of i. Joint actions are indexed as
Σ_i a_i 2^i (bit i is agent i). `BNLayout` is host-side and static; the policy functions are pure and
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
    """Static index tables of a BN policy over N binary agents.

    dag: int [N, N], dag[j, i] = 1 iff j is a parent of i.
    parents: parents of each agent, ascending.
    num_configs: 2^|P_i| per agent.
    parent_config: int32 [N, A], c_i(a) = Σ_k a_{p_k} 2^k.
    own_bit: int32 [N, A], a_i of joint action a.
    """

    dag: np.ndarray
    parents: tuple[tuple[int, ...], ...]
    num_configs: tuple[int, ...]
    parent_config: np.ndarray
    own_bit: np.ndarray

    @property
    def num_agents(self) -> int:
        return len(self.parents)

    def local_index(self, i: int) -> np.ndarray:
        """int32 [A]: joint action -> flat (c_i, a_i) index 2 c_i + a_i."""
        return 2 * self.parent_config[i] + self.own_bit[i]


def bn_layout(dag: np.ndarray) -> BNLayout:
    """Index tables for the DAG `dag` (G[j, i] = 1 iff j is a parent of i); it must be acyclic."""
    g = (np.asarray(dag) != 0).astype(np.int64)
    n = g.shape[0]
    if g.shape != (n, n) or np.any(np.diag(g)):
        raise ValueError(f"dag must be a square [N, N] matrix with a zero diagonal; got shape {g.shape}")
    if np.any(np.linalg.matrix_power(g, n)):  # some walk of length N exists <=> a cycle exists
        raise ValueError("dag has a cycle; a BN policy needs a DAG")
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # [A, N]
    parents = tuple(tuple(int(j) for j in np.flatnonzero(g[:, i])) for i in range(n))
    parent_config = np.stack(
        [sum((bits[:, p] << k) for k, p in enumerate(ps)) if ps else np.zeros(2**n, np.int64) for ps in parents]
    ).astype(np.int32)
    return BNLayout(
        dag=g,
        parents=parents,
        num_configs=tuple(2 ** len(ps) for ps in parents),
        parent_config=parent_config,
        own_bit=bits.T.astype(np.int32).copy(),
    )


def named_layout(dag_name: str, n_agents: int) -> BNLayout:
    """Layout of a fixed DAG: none (empty), line (i-1 -> i) or full (j -> i for all j < i)."""
    if dag_name not in DAG_CHOICES:
        raise ValueError(f"unknown dag {dag_name!r}; valid choices: {', '.join(DAG_CHOICES)}")
    return bn_layout(np.asarray(fixed_dag(dag_name, n_agents)))


Theta = tuple  # tuple over agents of [S, C_i, 2] logits
Local = tuple  # tuple over agents of [S, C_i, 2] probabilities π_i(a_i | s, c)


def init_theta(seed: int, num_seeds: int, layout: BNLayout, num_states: int, scale: float = 1.0) -> Theta:
    """θ_i[b, s, c, a_i] ~ scale · N(0, 1) for seeds b = 0..num_seeds-1: float64 numpy, [B, S, C_i, 2] per agent.

    Seed b draws from its own stream `default_rng([seed, b])`, so its init does not depend on how many
    seeds run (the first 5 of 50 are the 5 of a 5-seed run). Host-side numpy: jax.random costs ~1 s of
    compile per shape on this CPU, longer than the draw. The paper does not state its initialisation.
    """
    rngs = [np.random.default_rng([seed, b]) for b in range(num_seeds)]
    return tuple(
        scale * np.stack([rng.standard_normal((num_states, c, 2)) for rng in rngs]) for c in layout.num_configs
    )


def local_policies(theta: Theta) -> Local:
    """Softmax over a_i (Eq. 1)."""
    return tuple(jax.nn.softmax(t, axis=-1) for t in theta)


def gather_local(local_i: jax.Array, layout: BNLayout, i: int) -> jax.Array:
    """[S, C_i, 2] -> [S, A]: π_i(a_i | s, c_i(a)) for every joint action a.

    A matmul with a one-hot selector rather than a gather: its gradient is a matmul too, where a gather's
    is a scatter-add (several times slower on the XLA CPU backend).
    """
    c = layout.num_configs[i]
    select = jax.nn.one_hot(layout.local_index(i), 2 * c, dtype=local_i.dtype).T  # [2 C_i, A]
    return local_i.reshape(local_i.shape[0], 2 * c) @ select


def sum_by_local(x: jax.Array, layout: BNLayout, i: int) -> jax.Array:
    """The adjoint of `gather_local`: sum x [S, A] over the joint actions sharing agent i's (c_i, a_i): [S, C_i, 2]."""
    c = layout.num_configs[i]
    onehot = jax.nn.one_hot(layout.local_index(i), 2 * c, dtype=x.dtype)  # [A, 2 C_i]
    return (x @ onehot).reshape(x.shape[0], c, 2)


def joint_policy(local: Local, layout: BNLayout, skip: int | None = None) -> jax.Array:
    """π(a|s) = Π_i π_i(a_i | s, a^{P_i}): [S, A]. `skip=i` leaves agent i's factor out (π_-i)."""
    out = None
    for i, loc in enumerate(local):
        if i == skip:
            continue
        f = gather_local(loc, layout, i)
        out = f if out is None else out * f
    if out is None:  # N = 1 and skip = 0
        out = jnp.ones((local[0].shape[0], layout.parent_config.shape[1]), local[0].dtype)
    return out
