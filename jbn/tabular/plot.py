"""Figure 3: POA and Nash-gap curves from the records of `cli.summarise`, and its matrix-game version from
`cli.summarise_matrix` (matplotlib, imported on use).

`python -m jbn.tabular.replot RESULTS.json OUT.png` redraws a figure from a saved results file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DAG_LABELS = {"none": "Uncorrelated", "line": "Line-correlated", "full": "Fully-correlated"}
DAG_COLORS = {"none": "tab:blue", "line": "tab:orange", "full": "tab:green"}


def plot_fig3(records: Sequence[dict], path: str) -> None:
    """POA (top) and Nash-gap (bottom), one column per N, one curve per DAG with a shaded standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["n_agents"] for r in records})
    fig, axes = plt.subplots(2, len(ns), figsize=(4.2 * len(ns), 6.4), squeeze=False, sharex="col")
    colors = DAG_COLORS
    dashed = {(2, "full")}  # N = 2: line and full coincide, so full is drawn dashed over line
    for col, n in enumerate(ns):
        for r in (r for r in records if r["n_agents"] == n):
            x = np.asarray(r["iters"])
            for row, key in ((0, "poa"), (1, "nash_gap")):
                m, se = np.asarray(r[f"{key}_mean"]), np.asarray(r[f"{key}_stderr"])
                ax = axes[row, col]
                ls = "--" if (n, r["dag"]) in dashed else "-"
                ax.plot(x, m, ls, color=colors.get(r["dag"]), label=DAG_LABELS.get(r["dag"], r["dag"]))
                ax.fill_between(x, m - se, m + se, color=colors.get(r["dag"]), alpha=0.25, linewidth=0)
        axes[0, col].set_title(f"cg_{n}")
        axes[1, col].set_xlabel("iteration")
    axes[0, 0].set_ylabel("POA")
    axes[1, 0].set_ylabel("Nash-gap")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)



def plot_matrix(records: Sequence[dict], path: str) -> None:
    """One column per matrix game: POA (expected return / max payoff), Nash-gap and the fraction of seeds at the
    optimum over iterations, one curve per DAG (mean with a shaded standard error). Log-spaced records get a
    symlog x axis. With N = 2, line and full are the same DAG: full is drawn dashed over line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = list(dict.fromkeys(r["game"] for r in records))
    fig, axes = plt.subplots(3, len(games), figsize=(4.6 * len(games), 8.4), squeeze=False, sharex="col")
    for col, name in enumerate(games):
        for r in (r for r in records if r["game"] == name):
            x = np.asarray(r["iters"])
            ls = "--" if (r["n_agents"], r["dag"]) == (2, "full") else "-"
            label = f"{DAG_LABELS.get(r['dag'], r['dag'])}: {r['n_optimal']}/{r['seeds']} at opt"
            for row, key in ((0, "poa"), (1, "nash_gap")):
                m, se = np.asarray(r[f"{key}_mean"]), np.asarray(r[f"{key}_stderr"])
                axes[row, col].plot(x, m, ls, color=DAG_COLORS.get(r["dag"]), label=label)
                axes[row, col].fill_between(x, m - se, m + se, color=DAG_COLORS.get(r["dag"]), alpha=0.25,
                                            linewidth=0)
            axes[2, col].plot(x, r["optimal_fraction"], ls, color=DAG_COLORS.get(r["dag"]), label=label)
            steps = np.diff(x[1:])
            if len(steps) > 1 and steps.max() > 2 * steps.min() and x[-1] > 100 * max(x[1], 1):
                axes[0, col].set_xscale("symlog", linthresh=1)
        v_opt = next(r["v_opt"] for r in records if r["game"] == name)
        axes[0, col].set_title(f"{name} (max payoff {v_opt:g})")
        axes[0, col].legend(loc="lower right", fontsize=8)
        axes[2, col].set_xlabel("iteration")
        axes[2, col].set_ylim(-0.03, 1.03)
    axes[0, 0].set_ylabel("POA = E[r] / max r")
    axes[1, 0].set_ylabel("Nash-gap")
    axes[2, 0].set_ylabel("fraction of seeds at the optimum")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
