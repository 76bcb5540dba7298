"""The Aloha family: `aloha_10` (CASEC's Aloha, envs_jax/aloha.py) as a `Family`.

JaxMarlFamily's rules (shared reward, the backlogs as world state, every end at the time limit a truncation); what the
family adds is its step snapshot: the evaluation writes, on each joint row, env 0's first step as `aloha_snapshot`
(`aloha_snapshot` below), the picture of the paper's Fig. 5 (which islands condition on which, their backlogs and
whether they transmit). The islands sit in a fixed 2 x 5 array: no team geometry (the analyses of Fig. 8, 9 do not
apply).
"""
from __future__ import annotations

import numpy as np

from ..aloha import Aloha
from .base import StepSnapshot
from .jaxmarl import JaxMarlFamily


def aloha_snapshot(g, obs, actions, order=None) -> dict:
    """JSON-friendly record of one Aloha step (paper Fig. 5). Host-side (numpy), not jittable.

    Args:
      g: [N, N] 0/1 DAG of the step (G[j, i]: j parent of i).
      obs: [N, 1] Aloha observations (obs[i, 0] = island i's backlog) or [N] backlogs.
      actions: int [N] (1 = transmit, 0 = wait).
      order: optional int [N], the topological order (order[p] = agent at position p).

    Returns:
      {"agents": [{"agent": i, "parents": [j, ...], "backlog": b, "action": a}, ...]} plus "order" if given.
    """
    g = np.asarray(g)
    backlog = np.asarray(obs).reshape(g.shape[0], -1)[:, 0]
    actions = np.asarray(actions)
    agents = [
        {
            "agent": i,
            "parents": [int(j) for j in np.flatnonzero(g[:, i] > 0.5)],
            "backlog": int(round(float(backlog[i]))),
            "action": int(actions[i]),
        }
        for i in range(g.shape[0])
    ]
    out = {"agents": agents}
    if order is not None:
        out["order"] = [int(k) for k in np.asarray(order)]
    return out


class AlohaFamily(JaxMarlFamily):
    """Aloha under JaxMarlFamily's rules, with its Fig. 5 snapshot (`rules`: team_reward, world_state, max_steps)."""

    step_snapshot = StepSnapshot("aloha_snapshot", aloha_snapshot)

    def __init__(self, env: Aloha, **rules):
        super().__init__(env, family="aloha", **rules)
