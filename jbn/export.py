"""`python -m jbn.export RUN_DIR... --marl-eval OUT.json`: run directories as marl-eval's JSON (Mava's format).

The command line only; jbn/results/export.py holds its flags and its work."""
from .results.export import main
from .cmdline.flags import run_command

if __name__ == "__main__":
    run_command(main)
