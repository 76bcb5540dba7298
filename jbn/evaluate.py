"""`python -m jbn.evaluate RUN_DIR`: evaluate a trained run's checkpoint.

The command line only; jbn/evaluation/cli.py holds its flags and its work."""
from .evaluation.cli import main
from .cmdline.flags import run_command

if __name__ == "__main__":
    run_command(main)
