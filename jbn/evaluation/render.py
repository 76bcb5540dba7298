"""One SMAX evaluation episode as a GIF (`python -m jbn.evaluate RUN_DIR --render out.gif`).

The episode is env 0 of the evaluation pass (`evaluation.kernel.make_episodes` with `record=True`), so it is exactly
the first episode of the joint row of seed 0 for the same key and number of episodes. One frame per decision
step t (the state the joint action was taken in), at most env.max_steps frames: allies blue, enemies red,
a marker shape per unit type, marker area and a bar under each unit for its health fraction, dead units hidden; with a DAG, the sampled
G's edges j -> i as arrows between the living allies (parent -> child).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import numpy as np

import envs_jax

from ..policy.joint import BNPolicy
from ..training.config import UserError
from .analysis import smax_game
from .kernel import make_episodes


_MARKERS = ("o", "s", "^", "D", "v", "P", "*")


def check_renderable(env_name: str, out_path: str) -> None:
    """UserError unless `env_name` is a SMAX map and `out_path` a .gif."""
    if not env_name.startswith("smax_"):
        raise UserError(f"--render draws SMAX maps only; this run's env is {env_name!r}")
    if not out_path.lower().endswith(".gif"):
        raise UserError(f"--render writes a GIF; give a path ending in .gif, got {out_path!r}")


class Units(NamedTuple):
    """Every unit of a SMAX state, numpy, over T steps."""

    positions: np.ndarray  # [T, U, 2]
    health: np.ndarray  # [T, U] hp / max hp of the unit's type
    alive: np.ndarray  # bool [T, U]
    types: np.ndarray  # int [T, U]


def smax_units(env, state) -> Units:
    """All units (allies first, then enemies) of a SMAX env state with any leading axes."""
    game = smax_game(env)
    while not hasattr(state, "unit_health"):
        state = state.env_state if hasattr(state, "env_state") else state.state
    types = np.asarray(state.unit_types)
    health = np.asarray(state.unit_health) / np.asarray(game.unit_type_health)[types]
    return Units(np.asarray(state.unit_positions, np.float32), health.astype(np.float32),
                 np.asarray(state.unit_alive, bool), types)


def record_episode(policy: BNPolicy, env: envs_jax.ArrayEnv, params, key, num_episodes: int = 1,
                   greedy: bool = False):
    """(Record of env 0 at every step, its episode length) for ONE seed's params (no seed axis)."""
    pol = dataclasses.replace(policy, greedy=greedy)
    episodes = make_episodes([pol], env, num_episodes, analyses=[False], record=True)
    out = jax.device_get(jax.jit(episodes)(params, key))
    if not out.finished[0, 0]:
        raise RuntimeError(f"render: the episode did not end within {env.max_steps} steps")
    return out.record, int(out.lengths[0, 0])


def render_episode(policy: BNPolicy, env: envs_jax.ArrayEnv, params, key, path: str, num_episodes: int = 1,
                   greedy: bool = False, fps: int = 8) -> int:
    """Write env 0's first episode as a GIF at `path`; returns the number of frames (= its length)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.animation import PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rec, length = record_episode(policy, env, params, key, num_episodes, greedy)
    game = smax_game(env)
    units = smax_units(env, rec.env_state)
    n_allies = game.num_allies
    # zoom on where the units are during the episode (the map is 32 x 32, the fight a small part of it)
    seen = units.positions[:length][units.alive[:length]]
    lo, hi = seen.min(0) - 2.0, seen.max(0) + 2.0
    half = max(float((hi - lo).max()) / 2.0, 4.0)
    centre = (lo + hi) / 2.0
    g = np.asarray(rec.g)
    returns = np.cumsum(np.asarray(rec.reward))

    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi=80):
        for t in range(length):
            ax.clear()
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] - half, centre[1] + half)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            pos, hp, alive = units.positions[t], units.health[t], units.alive[t]
            if policy.has_parents:
                for j in range(n_allies):
                    for i in range(n_allies):
                        if g[t, j, i] > 0.5 and alive[j] and alive[i]:
                            ax.annotate("", xy=pos[i], xytext=pos[j],
                                        arrowprops=dict(arrowstyle="->", color="0.35", lw=1.0, shrinkA=6, shrinkB=6))
            for team, color in ((slice(0, n_allies), "tab:blue"), (slice(n_allies, None), "tab:red")):
                idx = np.arange(len(alive))[team]
                idx = idx[alive[idx]]
                for u in idx:  # marker shape by unit type, area by health
                    ax.scatter(pos[u, 0], pos[u, 1], s=20 + 100 * hp[u], c=color, edgecolors="k", linewidths=0.5,
                               marker=_MARKERS[int(units.types[t, u]) % len(_MARKERS)], zorder=3)
                for u in idx:  # health bar under the unit
                    x, y = pos[u]
                    ax.plot([x - 0.6, x + 0.6], [y - 1.0, y - 1.0], color="0.8", lw=2, zorder=2)
                    ax.plot([x - 0.6, x - 0.6 + 1.2 * hp[u]], [y - 1.0, y - 1.0], color=color, lw=2, zorder=2)
            for u in np.flatnonzero(alive[:n_allies]):
                ax.annotate(str(u + 1), pos[u], xytext=(4, 4), textcoords="offset points", fontsize=7)
            ax.set_title(f"{getattr(env.env, 'map_name', '')} dag={policy.mode}  t={t}  return={returns[t]:.2f}",
                         fontsize=9)
            writer.grab_frame()
    return length
