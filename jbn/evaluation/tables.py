"""The evaluation tables `python -m jbn.evaluate` prints (rich)."""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from rich.table import Table

from ..training.sweep import label
from .kernel import POLICIES
from .rows import json_float


def print_tables(rows: Sequence[dict], has_win: bool, console) -> None:
    """One table of returns (per seed and the mean over seeds) and, where present, one of the analyses."""
    def fmt(v, digits=3):  # digits None: 3 significant digits (KL values can be tiny)
        if v is None:
            return "-"
        return f"{v:.3g}" if digits is None else f"{v:.{digits}f}"

    point_of = lambda r: label(r.get("sweep") or {})  # noqa: E731  ('' without a sweep)
    points = list(dict.fromkeys(point_of(r) for r in rows))  # in run order
    swept = points != [""]
    main = Table(title="evaluation")
    for col in (("sweep point",) if swept else ()) + ("seed", "policy", "sampling", "return") + \
            (("win rate",) if has_win else ()) + ("length",):
        main.add_column(col, justify="left" if col in ("sweep point", "policy", "sampling") else "right")
    keys = sorted({(r["policy"], r["greedy"]) for r in rows}, key=lambda k: (POLICIES.index(k[0]), k[1]))
    for point in points:
        at = [r for r in rows if point_of(r) == point]
        lead = (point,) if swept else ()
        for seed in sorted({r["seed"] for r in at}):
            for r in at:
                if r["seed"] == seed:
                    main.add_row(*lead, str(seed), r["policy"], "greedy" if r["greedy"] else "sampled",
                                 fmt(r["return"]), *((fmt(r["win_rate"], 2),) if has_win else ()), fmt(r["length"], 1))
        for policy, greedy in keys:
            rs = [r for r in at if r["policy"] == policy and r["greedy"] == greedy]
            mean = lambda k: json_float(np.mean([r[k] for r in rs if r[k] is not None] or [np.nan]))  # noqa: E731
            main.add_row(*lead, "mean", policy, "greedy" if greedy else "sampled", fmt(mean("return")),
                         *((fmt(mean("win_rate"), 2),) if has_win else ()), fmt(mean("length"), 1), style="bold")
    console.print(main)

    stat_rows = [r for r in rows if "kl_by_agent" in r]
    if not stat_rows:
        return
    per_agent = [k for k in ("kl_by_agent", "parents_by_agent", "parent_health_ratio_by_agent",
                             "parent_distance_ratio_by_agent") if k in stat_rows[0]]
    table = Table(title="DAG analyses (joint policy; per agent: mean over seeds)")
    table.add_column("sampling")
    table.add_column("quantity")
    n = len(stat_rows[0]["kl_by_agent"])
    for i in range(n):
        table.add_column(f"agent {i + 1}", justify="right")
    table.add_column("all", justify="right")
    for greedy in sorted({r["greedy"] for r in stat_rows}):
        rs = [r for r in stat_rows if r["greedy"] == greedy]
        name = "greedy" if greedy else "sampled"
        for k in per_agent:
            vals = np.array([[np.nan if v is None else v for v in r[k]] for r in rs], np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-null column: nanmean of nothing
                by_agent = np.nanmean(vals, axis=0)
            table.add_row(name, k.removesuffix("_by_agent"), *(fmt(json_float(v), None) for v in by_agent), "")
        for k in ("dag_density", "visible_parent_fraction"):
            if k in rs[0]:
                vals = [r[k] for r in rs if r[k] is not None]
                table.add_row(name, k, *([""] * n), fmt(json_float(np.mean(vals)) if vals else None))
    console.print(table)
