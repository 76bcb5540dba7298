"""Evaluation rows and summaries: JSON-ready dicts from the kernel's output (or from episodes played on the game).

Row schema: jbn/evaluation/__init__.py. `EVAL_SEED_OFFSET`: the evaluation key of a run is PRNGKey(seed + 10000),
in periodic, final and `python -m jbn.evaluate` evaluations alike, so each repeats the others.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import jax
import numpy as np

from envs_jax.families import StepSnapshot

from .kernel import POLICIES, Combo, DagStats, EvalOut

EVAL_SEED_OFFSET = 10_000


def eval_seed(seed: int) -> int:
    """The evaluation seed of a run whose first training seed is `seed`."""
    return seed + EVAL_SEED_OFFSET


def json_float(x) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def json_list(a) -> list:
    return [json_float(v) for v in np.asarray(a).reshape(-1)]


def ratio(num, den):
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def base_row(*, update: int, env_steps: int, run: dict, combo: Combo, returns, lengths, won, has_win: bool) -> dict:
    """The fields of every row: one seed's `combo` over its episodes (returns, lengths, won: [M] arrays)."""
    row = {"update": int(update), "env_steps": int(env_steps), **run, "policy": combo.policy, "greedy": combo.greedy,
           "return": json_float(np.mean(returns)), "length": json_float(np.mean(lengths)),
           "episodes": int(np.shape(returns)[-1])}
    if has_win:
        row["win_rate"] = json_float(np.mean(won))
    row["returns"] = json_list(returns)  # per episode, in episode order (marl-eval's lists: jbn.export)
    if has_win:
        row["wins"] = [int(w) for w in np.asarray(won).reshape(-1)]
    return row


def analysis_fields(st: DagStats) -> dict:
    """The DAG analyses of one joint row from the kernel's sums."""
    steps = float(st.steps)
    out = {
        "kl_by_agent": json_list(ratio(st.kl.num, st.kl.den)),
        "parents_by_agent": json_list(ratio(st.in_degree, np.full_like(st.in_degree, steps))),
        "dag_density": json_float(ratio(st.density, steps)),
    }
    if st.visible_parents is not None:  # each where the env's family declares it (kernel.declared_analyses)
        out["visible_parent_fraction"] = json_float(ratio(np.sum(st.visible_parents.num),
                                                          np.sum(st.visible_parents.den)))
    if st.health is not None:
        out["parent_health_ratio_by_agent"] = json_list(ratio(st.health.num, st.health.den))
    if st.distance is not None:
        out["parent_distance_ratio_by_agent"] = json_list(ratio(st.distance.num, st.distance.den))
    return out


def rows_of(out: EvalOut, combos: Sequence[Combo], stat_combos: Sequence[int], *, has_win: bool, max_steps: int,
            update: int, env_steps: int, first_seed: int, tags: Optional[Sequence[dict]] = None,
            snapshot: Optional[StepSnapshot] = None) -> list[dict]:
    """JSON-ready rows from a host copy of the kernel's output for a batch of runs ([R, ...] leaves); tags[s]: the
    keys that identify run s (default {"seed": first_seed + s}); stat_combos: the combinations with analyses;
    snapshot: the family's `step_snapshot`, which turns `out.first` into its row field."""
    if not np.all(out.finished):
        raise RuntimeError(f"evaluation: some episodes did not end within {max_steps} steps")
    stat_index = {c: k for k, c in enumerate(stat_combos)}
    rows = []
    for s in range(out.returns.shape[0]):
        for c, combo in enumerate(combos):
            run = dict(tags[s]) if tags is not None else {"seed": first_seed + s}
            row = base_row(update=update, env_steps=env_steps, run=run, combo=combo, returns=out.returns[s, c],
                           lengths=out.lengths[s, c], won=out.won[s, c], has_win=has_win)
            if c in stat_index:
                k = stat_index[c]
                row.update(analysis_fields(jax.tree.map(lambda x: x[s, k], out.stats)))
                if out.first is not None:
                    f = jax.tree.map(lambda x: np.asarray(x[s, k]), out.first)
                    row[snapshot.field] = snapshot.describe(f.g, f.obs, f.actions, f.order)
            rows.append(row)
    return rows


def summarize(rows: Sequence[dict], has_win: bool, greedy: bool = False) -> dict:
    """summary.json's eval dict from evaluator rows (of one update): {policy: {return_mean, return_per_seed,
    [win_rate_mean, win_rate_per_seed,] length_mean, episodes_per_seed}} over the rows with that sampling."""
    out = {}
    for name in POLICIES:
        rs = sorted((r for r in rows if r["policy"] == name and r["greedy"] == greedy), key=lambda r: r["seed"])
        if not rs:
            continue
        ret = [r["return"] for r in rs]
        res = {"return_mean": float(np.mean(ret)), "return_per_seed": ret}
        if has_win:
            win = [r["win_rate"] for r in rs]
            res.update(win_rate_mean=float(np.mean(win)), win_rate_per_seed=win)
        res.update(length_mean=float(np.mean([r["length"] for r in rs])), episodes_per_seed=rs[0]["episodes"])
        out[name] = res
    return out
