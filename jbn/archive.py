"""`python -m jbn.archive RUN... --out DIR`: slim gzipped copies of run logs for the repository.

The command line only; jbn/results/archive.py holds its flags and its work."""
from .results.archive import main
from .cmdline.flags import run_command

if __name__ == "__main__":
    run_command(main)
