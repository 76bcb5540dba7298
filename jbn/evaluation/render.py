"""One evaluation episode as a GIF (`python -m jbn.evaluate RUN_DIR --render out.gif`): SMAX, MPE, LBF and RWARE.

The episode is env 0 of the evaluation pass (`evaluation.kernel.make_episodes` with `record=True`), so it is exactly
the first episode of the joint row of seed 0 for the same key and number of episodes. One frame per decision step t
(the state the joint action was taken in), at most env.max_steps frames. With a DAG, the sampled G's edges j -> i
are drawn as arrows between the agents (parent -> child), agents labelled 1..N in the order of the agent axis.

What is drawn comes from one small *scene* function per family (`SCENES`, keyed by `scene_key(env)`), which reads
positions and kinds of things from the family's raw env state (`EnvState.env_state`, with a leading time axis) and
returns a `Scene`; one drawing loop (`render_episode`) draws every family's scenes:
  smax   allies blue, enemies red, a marker shape per unit type, marker size and a bar under each unit for its health
         fraction, dead units hidden; the view zooms on where the units are during the episode
  mpe    agents blue, landmarks in the env's own colours, sizes the env's radii (`state.p_pos`, agents first)
  lbf    the grid, agents blue and food green, each with its level written on it; eaten food hidden
  rware  the grid, goal cells grey, shelves (requested ones teal), agents blue (dark while carrying a shelf) with a
         triangle pointing the way they face
Grid worlds use (column, row) coordinates with rows going down, as the envs' own viewers draw them.
Every other family is refused by `check_renderable`, before anything is compiled.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Optional

import jax
import numpy as np

import envs_jax
from envs_jax.families.smax import smax_game

from ..policy.joint import BNPolicy
from ..training.config import UserError, is_sc2
from .kernel import make_episodes


_MARKERS = ("o", "s", "^", "D", "v", "P", "*")


# ------------------------------------------------------------------------------------------------ scenes
class Things(NamedTuple):
    """One kind of thing in a scene over the T steps of an episode (numpy). Colours and markers are one value or an
    array [T, K] of them."""

    xy: np.ndarray  # float [T, K, 2] positions (x, y) in the scene's coordinates
    shown: np.ndarray  # bool [T, K]
    size: np.ndarray  # float [T, K] marker diameter in scene units
    color: object = "tab:blue"  # a matplotlib colour, or str [T, K]
    marker: object = "o"  # a matplotlib marker, or str [T, K]
    label: Optional[np.ndarray] = None  # [T, K] text written on each (LBF levels)
    bar: Optional[np.ndarray] = None  # float [T, K] a fraction drawn as a bar under each (SMAX health)
    zorder: int = 3


class Scene(NamedTuple):
    """What one family's env state shows over T steps: the agents (the DAG's nodes, in the agent axis' order) and
    the other things, the view (x0, x1, y0, y1) and whether y grows downwards (grid rows)."""

    agents: Things
    others: tuple[Things, ...]
    extent: tuple[float, float, float, float]
    y_down: bool = False
    grid: bool = False  # draw the cell lines (integer coordinates are cell centres)
    name: str = ""


def _raw(state, field: str):
    """The family's raw env state inside `state` (an ArrayEnv EnvState, or a wrapper of it): the first object down
    the env_state / state chain that has `field`."""
    while not hasattr(state, field):
        state = state.env_state if hasattr(state, "env_state") else state.state
    return state


def _fit(xy: np.ndarray, shown: np.ndarray, margin: float, min_half: float, centre=None):
    """A square view around the shown positions (at least min_half each side of the centre)."""
    seen = xy[shown] if shown.any() else xy.reshape(-1, 2)
    lo, hi = seen.min(0) - margin, seen.max(0) + margin
    c = (lo + hi) / 2.0 if centre is None else np.asarray(centre, np.float32)
    half = max(float(np.max(np.maximum(hi - c, c - lo))), min_half)
    return (float(c[0] - half), float(c[0] + half), float(c[1] - half), float(c[1] + half))


def _colour(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in rgb)


def smax_scene(env: envs_jax.ArrayEnv, state) -> Scene:
    """SMAX units (allies first, then enemies) of a state with a leading time axis [T]."""
    game = smax_game(env)
    s = _raw(state, "unit_health")
    types = np.asarray(s.unit_types)
    health = (np.asarray(s.unit_health) / np.asarray(game.unit_type_health)[types]).astype(np.float32)
    xy = np.asarray(s.unit_positions, np.float32)
    alive = np.asarray(s.unit_alive, bool)
    markers = np.asarray(_MARKERS)[types % len(_MARKERS)]
    size = 0.5 + 0.7 * health
    n = game.num_allies
    team = lambda sl, color: Things(xy[:, sl], alive[:, sl], size[:, sl], color, markers[:, sl],  # noqa: E731
                                    bar=health[:, sl])
    # zoom on where the units are during the episode (the map is 32 x 32, the fight a small part of it)
    return Scene(team(slice(0, n), "tab:blue"), (team(slice(n, None), "tab:red"),), _fit(xy, alive, 2.0, 4.0),
                 name=getattr(env.env, "map_name", ""))


def mpe_scene(env: envs_jax.ArrayEnv, state) -> Scene:
    """MPE: `p_pos` [T, agents + landmarks, 2], agents first; the env's radii and the landmarks' colours."""
    mpe = env.env
    s = _raw(state, "p_pos")
    xy = np.asarray(s.p_pos, np.float32)
    n = mpe.num_agents
    size = np.broadcast_to(2.0 * np.asarray(mpe.rad, np.float32), xy.shape[:2])
    shown = np.ones(xy.shape[:2], bool)
    colours = np.broadcast_to(np.asarray([_colour(c) for c in mpe.colour]), xy.shape[:2])
    agents = Things(xy[:, :n], shown[:, :n], size[:, :n])
    landmarks = Things(xy[:, n:], shown[:, n:], size[:, n:], colours[:, n:], zorder=2)
    return Scene(agents, (landmarks,), _fit(xy, shown, 0.3, 1.0, centre=(0.0, 0.0)), name=type(mpe).__name__)


def _grid_extent(rows: int, cols: int):
    return (-0.5, cols - 0.5, -0.5, rows - 0.5)


def lbf_scene(env: envs_jax.ArrayEnv, state) -> Scene:
    """LBF: agents and food at their (row, col) cells, each with its level; eaten food hidden."""
    lbf = env.env
    s = _raw(state, "food_items")
    a, f = s.agents, s.food_items
    axy = np.asarray(a.position, np.float32)[..., ::-1]  # (row, col) -> (x, y) = (col, row)
    fxy = np.asarray(f.position, np.float32)[..., ::-1]
    agents = Things(axy, np.ones(axy.shape[:2], bool), np.full(axy.shape[:2], 0.75, np.float32),
                    label=np.asarray(a.level))
    food = Things(fxy, ~np.asarray(f.eaten, bool), np.full(fxy.shape[:2], 0.6, np.float32), "tab:green", "s",
                  label=np.asarray(f.level), zorder=2)
    g = int(lbf.grid_size)
    return Scene(agents, (food,), _grid_extent(g, g), y_down=True, grid=True, name=f"LBF {g}x{g}")


_RWARE_DIRECTIONS = np.asarray(["^", ">", "v", "<"])  # Jumanji's Direction: UP, RIGHT, DOWN, LEFT


def rware_scene(env: envs_jax.ArrayEnv, state) -> Scene:
    """RWARE: agents (facing up/right/down/left; dark while carrying), shelves (requested ones teal) and the goal
    cells. Jumanji's Position(x, y) is (row, col); its goals are (col, row)."""
    rw = env.env
    s = _raw(state, "shelves")
    a, sh = s.agents, s.shelves
    axy = np.stack([np.asarray(a.position.y), np.asarray(a.position.x)], -1).astype(np.float32)
    sxy = np.stack([np.asarray(sh.position.y), np.asarray(sh.position.x)], -1).astype(np.float32)
    t, n = axy.shape[:2]
    carrying = np.asarray(a.is_carrying).astype(bool)
    agents = Things(axy, np.ones((t, n), bool), np.full((t, n), 0.7, np.float32),
                    np.where(carrying, "navy", "tab:blue"), _RWARE_DIRECTIONS[np.asarray(a.direction) % 4])
    requested = np.asarray(sh.is_requested).astype(bool)
    shelves = Things(sxy, np.ones(sxy.shape[:2], bool), np.full(sxy.shape[:2], 0.85, np.float32),
                     np.where(requested, "teal", "darkslateblue"), "s", zorder=2)
    goals_xy = np.broadcast_to(np.asarray(rw.goals, np.float32)[None], (t,) + np.asarray(rw.goals).shape)
    goals = Things(goals_xy, np.ones(goals_xy.shape[:2], bool), np.full(goals_xy.shape[:2], 1.0, np.float32),
                   "0.6", "s", zorder=1)
    rows, cols = (int(v) for v in rw.grid_size)
    return Scene(agents, (goals, shelves), _grid_extent(rows, cols), y_down=True, grid=True,
                 name=f"RWARE {rows}x{cols}")


SCENES: dict[str, Callable[[envs_jax.ArrayEnv, object], Scene]] = {
    "smax": smax_scene,
    "mpe": mpe_scene,
    "lbf": lbf_scene,
    "rware": rware_scene,
}
DRAWABLE = "SMAX (smax_*), MPE (mpe_*), LBF (lbf_*) and RWARE (rware_*)"
_NO_SCENE = {  # why a family is not drawn
    "matrax": "a matrix game has no positions to draw",
    "jaxmarl": "its agents have no positions to draw",
    "aloha": "no scene for Aloha's islands here",
    "overcooked": "no scene for Overcooked's kitchen (counters, pots, onions, plates) here",
    "connector": "no scene for Connector's paths here",
    "cleaner": "no scene for Cleaner's dirty tiles here",
}


def scene_key(env: envs_jax.ArrayEnv) -> str:
    """The key of the env's scene in SCENES: its family's name ('smax', 'mpe', 'lbf', ...)."""
    return env.family.family


def check_renderable(env_name: str, out_path: str,
                     make_env: Optional[Callable[[], envs_jax.ArrayEnv]] = None) -> str:
    """The scene key of the env `env_name` (built by `make_env`, default with no kwargs; nothing is compiled);
    UserError unless `out_path` is a .gif and the env has a scene (one error naming the env, the reason and what can
    be drawn)."""
    if not out_path.lower().endswith(".gif"):
        raise UserError(f"--render writes a GIF; give a path ending in .gif, got {out_path!r}")
    if is_sc2(env_name):
        why = "the real StarCraft II plays outside JAX and its episodes are not recorded"
    else:
        env = make_env() if make_env is not None else envs_jax.ArrayEnv(envs_jax.make(env_name))
        key = scene_key(env)
        if key in SCENES:
            return key
        why = _NO_SCENE.get(key, f"no scene for the {key!r} family here")
    raise UserError(f"--render cannot draw {env_name}: {why}; it draws {DRAWABLE} episodes")


# ------------------------------------------------------------------------------------------------ episodes
def record_episode(policy: BNPolicy, env: envs_jax.ArrayEnv, params, key, num_episodes: int = 1,
                   greedy: bool = False):
    """(Record of env 0 at every step, its episode length) for ONE seed's params (no seed axis)."""
    pol = dataclasses.replace(policy, greedy=greedy)
    episodes = make_episodes([pol], env, num_episodes, analyses=[False], record=True)
    out = jax.device_get(jax.jit(episodes)(params, key))
    if not out.finished[0, 0]:
        raise RuntimeError(f"render: the episode did not end within {env.max_steps} steps")
    return out.record, int(out.lengths[0, 0])


def _at(v, t: int, idx):
    """One value, or the items idx of step t of a [T, K] array."""
    return v if isinstance(v, str) or v is None else np.asarray(v)[t, idx]


def render_episode(policy: BNPolicy, env: envs_jax.ArrayEnv, params, key, path: str, num_episodes: int = 1,
                   greedy: bool = False, fps: int = 8, name: str = "") -> int:
    """Write env 0's first episode as a GIF at `path`; returns the number of frames (= its length)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.animation import PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    draw_scene = SCENES[scene_key(env)]
    rec, length = record_episode(policy, env, params, key, num_episodes, greedy)
    scene = draw_scene(env, rec.env_state)
    g = np.asarray(rec.g)
    returns = np.cumsum(np.asarray(rec.reward))
    x0, x1, y0, y1 = scene.extent
    down = 1.0 if scene.y_down else -1.0  # "under" a thing, in scene units

    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    box = ax.get_position()  # points per scene unit, for marker sizes (the view keeps an equal aspect)
    per_unit = min(box.width * fig.get_figwidth() / (x1 - x0), box.height * fig.get_figheight() / (y1 - y0)) * 72

    def draw(things: Things, t: int) -> None:
        idx = np.flatnonzero(things.shown[t])
        if not len(idx):
            return
        xy, diam = things.xy[t, idx], things.size[t, idx] * per_unit
        colors, markers = _at(things.color, t, idx), _at(things.marker, t, idx)
        for m in (np.unique(markers) if not isinstance(markers, str) else [markers]):
            sel = np.ones(len(idx), bool) if isinstance(markers, str) else markers == m
            ax.scatter(xy[sel, 0], xy[sel, 1], s=np.maximum(diam[sel], 3.0) ** 2, marker=m,
                       c=colors if isinstance(colors, str) else list(colors[sel]), edgecolors="k", linewidths=0.5,
                       zorder=things.zorder)
        if things.label is not None:
            for k, u in enumerate(idx):
                ax.text(xy[k, 0], xy[k, 1], str(things.label[t, u]), ha="center", va="center", color="w",
                        fontsize=max(5.0, min(9.0, 0.45 * diam[k])), zorder=things.zorder + 0.5)
        if things.bar is not None:
            colour = things.color if isinstance(things.color, str) else "k"
            for k, u in enumerate(idx):  # e.g. health, under the thing
                x, y = xy[k]
                yb = y + down * (things.size[t, u] / 2 + 0.3)
                ax.plot([x - 0.6, x + 0.6], [yb, yb], color="0.8", lw=2, zorder=2)
                ax.plot([x - 0.6, x - 0.6 + 1.2 * things.bar[t, u]], [yb, yb], color=colour, lw=2, zorder=2)

    agents = scene.agents
    n = agents.xy.shape[1]
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi=80):
        for t in range(length):
            ax.clear()
            ax.set_xlim(x0, x1)
            ax.set_ylim((y1, y0) if scene.y_down else (y0, y1))
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if scene.grid:
                for x in np.arange(np.ceil(x0), x1):
                    ax.axvline(x + 0.5, color="0.9", lw=0.5, zorder=0)
                for y in np.arange(np.ceil(y0), y1):
                    ax.axhline(y + 0.5, color="0.9", lw=0.5, zorder=0)
            pos, shown = agents.xy[t], agents.shown[t]
            if policy.has_parents:
                for j in range(n):
                    for i in range(n):
                        if g[t, j, i] > 0.5 and shown[j] and shown[i]:
                            ax.annotate("", xy=pos[i], xytext=pos[j], arrowprops=dict(
                                arrowstyle="->", color="0.35", lw=1.0,
                                shrinkA=agents.size[t, j] * per_unit / 2 + 1,
                                shrinkB=agents.size[t, i] * per_unit / 2 + 1))
            for things in scene.others + (agents,):
                draw(things, t)
            for u in np.flatnonzero(shown):  # the agent's number, at its marker's upper right
                off = 0.35 * agents.size[t, u] * per_unit + 2
                ax.annotate(str(u + 1), pos[u], xytext=(off, off), textcoords="offset points", fontsize=7, zorder=5)
            ax.set_title(f"{name or scene.name} dag={policy.mode}  t={t}  return={returns[t]:.2f}", fontsize=9)
            writer.grab_frame()
    return length
