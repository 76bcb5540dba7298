"""`python -m jbn`: the list of jbn's commands; `python -m jbn COMMAND ARGS...` runs one (= `python -m jbn.COMMAND`).

Imports nothing heavy: the list prints in a moment, and a command starts exactly as its own module does."""
from __future__ import annotations

import difflib
import runpy
import sys

# command -> (its arguments, what it does); every module of jbn/ that a user runs (tests/test_cli.py checks both ways)
COMMANDS = {
    "train": ("--env NAME [--dag none|line|full|context]", "train MAPPO or BN-MAPPO on an env; checkpoints, resume"),
    "evaluate": ("RUN_DIR", "evaluate a run's checkpoint: joint and decentralised policy, the learned DAGs"),
    "plot": ("RUN_DIR... --out DIR", "learning curves, DAG density and the paper's figures (PNG + CSV)"),
    "compare": ("BASE RUN...", "paired per-seed comparison of runs trained on the same seeds"),
    "export": ("RUN_DIR... --marl-eval OUT.json", "run directories in marl-eval's JSON format (Mava's)"),
    "aggregate": ("INPUT... --out DIR", "IQM, mean, probability of improvement, performance profiles (rliable)"),
    "archive": ("RUN_DIR... --out DIR", "small copies of run logs to keep in a repository (no checkpoints)"),
    "tabular": ("[--game ...]", "exact tabular policy gradient: the paper's Fig. 3 and the matrix games"),
}


def usage() -> str:
    width = max(len(f"{c} {a}") for c, (a, _) in COMMANDS.items())
    rows = [f"  {f'{c} {a}':<{width}}  {what}" for c, (a, what) in COMMANDS.items()]
    return ("usage: python -m jbn COMMAND [ARGS...]   (the same as python -m jbn.COMMAND [ARGS...])\n\ncommands:\n"
            + "\n".join(rows) + "\n\n`python -m jbn.COMMAND --help` lists a command's flags; README.md has examples.")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    command = argv[0]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, list(COMMANDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        print(f"error: unknown command {command!r}{hint} Valid commands: {', '.join(COMMANDS)} "
              f"(python -m jbn lists them)", file=sys.stderr)
        raise SystemExit(2)
    sys.argv = [f"python -m jbn.{command}", *argv[1:]]
    runpy.run_module(f"jbn.{command}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
