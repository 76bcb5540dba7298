"""`python -m jbn.evaluate RUN_DIR`: evaluate a trained run's checkpoint.

The command line only; jbn/evaluation/cli.py holds its flags and its work."""
from .evaluation.cli import main

if __name__ == "__main__":
    main()
