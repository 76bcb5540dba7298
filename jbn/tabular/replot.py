"""Redraw Figure 3 (or its matrix-game version) from a saved results file, without recomputing it:

    python -m jbn.tabular.replot docs/repro/fig3_sum.json docs/repro/fig3_sum.png
"""
from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m jbn.tabular.replot RESULTS.json OUT.png`: the figure of a `python -m jbn.tabular --out` file."""
    import json
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m jbn.tabular.replot RESULTS.json OUT.png", file=sys.stderr)
        raise SystemExit(2)
    try:
        with open(args[0]) as f:
            records = json.load(f)
        if not isinstance(records, list) or not all(isinstance(r, dict) and "poa_mean" in r for r in records):
            raise ValueError("not a list of `python -m jbn.tabular --out` records")
    except (OSError, ValueError) as e:
        print(f"error: {args[0]}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    from .plot import plot_fig3, plot_matrix

    (plot_matrix if all("game" in r for r in records) else plot_fig3)(records, args[1])


if __name__ == "__main__":
    from jbn.cmdline.flags import run_command

    run_command(main)
