"""Figure 3: POA and Nash-gap curves from the records of `cli.summarise` (matplotlib, imported on use).

`python -m jbn.tabular.replot RESULTS.json OUT.png` redraws a figure from a saved results file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DAG_LABELS = {"none": "Uncorrelated", "line": "Line-correlated", "full": "Fully-correlated"}


def plot_fig3(records: Sequence[dict], path: str) -> None:
    """POA (top) and Nash-gap (bottom), one column per N, one curve per DAG with a shaded standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["n_agents"] for r in records})
    fig, axes = plt.subplots(2, len(ns), figsize=(4.2 * len(ns), 6.4), squeeze=False, sharex="col")
    colors = {"none": "tab:blue", "line": "tab:orange", "full": "tab:green"}
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

